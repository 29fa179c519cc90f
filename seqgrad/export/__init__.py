"""Graduation: a seqgrad module as a torch module, source and weights.

`source, state_dict = seqgrad.export.to_torch(module)`: `source` defines `class Exported(torch.nn.Module)`
(no constructor arguments; called as `module` is called, with torch tensors; it needs only torch),
and `Exported().load_state_dict(state_dict)` gives it `module`'s weights under the same names.

- built-in RNN/LSTM/GRU (GRU with reset after) become torch.nn.RNN/LSTM/GRU (fused kernels);
- GRU with reset before, and every custom cell, become a torch cell generated from the cell's traced
  step (one line per primitive), unrolled by a torch copy of seqgrad's Recurrent;
- Linear, Embedding, Dropout, Sequential and seqgrad.models.CharLM map to their torch twins;
- seqgrad.models.Seq2Seq becomes a torch Seq2Seq (teacher-forced `model(sources, lengths, targets)`
  and `model.greedy(sources, lengths)`) whose decoder is torch.nn.LSTMCell/GRUCell/RNNCell and whose
  attention (additive, dot, general) is a torch module with the same parameter names.

`seqgrad.interop.to_torch(module)` is the weights alone (this function's second result);
`seqgrad.interop.from_torch(state_dict, model)` brings trained weights back.
"""

from __future__ import annotations

import linecache

from ..errors import ExportError
from ..interop.torch_weights import require_torch
from ..interop.torch_weights import to_torch as torch_weights
from ..nn.module import Module
from .modules import EXPORTERS, export_module, torch_source

__all__ = ["to_torch", "torch_source", "load_exported", "ExportError", "EXPORTERS", "export_module"]


def to_torch(module: Module) -> tuple[str, dict]:
    """(source of `class Exported(torch.nn.Module)`, its state dict of torch tensors), checked to load."""
    require_torch("seqgrad.export.to_torch")
    source = torch_source(module)
    state_dict = torch_weights(module)
    load_exported(source, state_dict)
    return source, state_dict


def load_exported(source: str, state_dict: dict | None = None):
    """Run `source` (a generated model.py) and return `Exported()`, with `state_dict` loaded when given.
    The generated code is seqgrad's own; a key or shape that does not fit raises ExportError."""
    filename = f"<seqgrad export {abs(hash(source)):x}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(keepends=True), filename)  # for tracebacks
    namespace: dict = {"__name__": "seqgrad_exported"}
    exec(compile(source, filename, "exec"), namespace)
    model = namespace["Exported"]()
    if state_dict is not None:
        try:
            model.load_state_dict(state_dict)
        except RuntimeError as error:
            raise ExportError(f"seqgrad.export: the generated module does not take the weights: {error}") from None
    return model
