"""Model exporters: each exportable seqgrad module as the torch module that computes the same.

An exporter turns a module into `TorchModule(base, arguments)`: the torch class to build and its
constructor arguments (`torch.nn.Linear`, `"3, 4, bias=True, dtype=torch.float64"`), and adds the
classes that class needs (a template layer, a generated cell, a model class) to `Definitions`.
Parameter names never change: a built-in layer's are PyTorch's already, and every generated
class registers its parameters under seqgrad's names.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources

from ..compiler import CompiledModule
from ..dtypes import get_default_dtype
from ..errors import ExportError
from ..models.char_lm import CharLM
from ..models.seq2seq import Seq2Seq
from ..nn import layers as nn_layers
from ..nn.attention import AdditiveAttention, DotProductAttention
from ..nn.cells import GRUCell, LSTMCell, RNNCell
from ..nn.layers import Dropout, Embedding, Linear, Sequential
from ..nn.module import Module
from ..nn.recurrent import GRU, LSTM, RNN, Recurrent
from .cell_source import export_cell
from .torch_ops import torch_dtype


@dataclass
class TorchModule:
    """How to build a module's torch twin: `base(arguments)`."""

    base: str
    arguments: str = ""

    @property
    def expression(self) -> str:
        return f"{self.base}({self.arguments})"

    def call(self, indent: int, prefix: str = "", callee: str | None = None) -> str:
        """`prefix + callee(arguments)` at `indent` spaces, one argument a line when it is too long to read."""
        callee = callee or self.base
        line = f"{' ' * indent}{prefix}{callee}({self.arguments})"
        if len(line) <= LINE_LENGTH:
            return line
        inner = " " * (indent + 4)
        lines = [f"{' ' * indent}{prefix}{callee}("]
        for argument in top_level_split(self.arguments):
            name, _, value = argument.partition("=[")
            if len(inner + argument) > LINE_LENGTH and value.endswith("]") and name.isidentifier():
                lines.append(f"{inner}{name}=[")  # a list argument (layer_weight_shapes): one item a line
                lines += [f"{inner}    {item}," for item in top_level_split(value[:-1])]
                lines.append(f"{inner}],")
            else:
                lines.append(f"{inner}{argument},")
        lines.append(f"{' ' * indent})")
        return "\n".join(lines)


LINE_LENGTH = 110


def top_level_split(text: str) -> list[str]:
    """`text` cut at the commas outside brackets and quotes: the arguments of a call."""
    parts, depth, quote, start = [], 0, None, 0
    for position, character in enumerate(text):
        if quote:
            quote = None if character == quote else quote
        elif character in "'\"":
            quote = character
        elif character in "([{":
            depth += 1
        elif character in ")]}":
            depth -= 1
        elif character == "," and depth == 0:
            parts.append(text[start:position].strip())
            start = position + 1
    parts.append(text[start:].strip())
    return [part for part in parts if part]


class Definitions:
    """The classes and functions a generated source defines, in the order they are first needed; one
    name one definition (a second, different definition under a taken name gets a numbered name)."""

    def __init__(self) -> None:
        self.sources: dict[str, str] = {}

    def define(self, name: str, source: str, rename: Callable[[str, str], str] | None = None) -> str:
        """Add `source` defining `name`; returns the name it is defined under."""
        if name not in self.sources:
            self.sources[name] = source
            return name
        if self.sources[name] == source:
            return name
        if rename is None:
            raise ExportError(f"seqgrad.export: two different definitions of {name!r}")
        number = 2
        while True:
            candidate = f"{name}{number}"
            renamed = rename(source, candidate)
            if self.sources.get(candidate, renamed) == renamed:
                self.sources[candidate] = renamed
                return candidate
            number += 1

    def template(self, *names: str) -> None:
        """Copy definitions from the torch template (seqgrad/export/torch_template.py), as written there."""
        for name in names:
            self.define(name, template_source(name))


def template_source(name: str) -> str:
    """The source of one top-level definition of torch_template.py, read as text (never imported)."""
    text = resources.files(__package__).joinpath("torch_template.py").read_text(encoding="utf-8")
    for node in ast.parse(text).body:
        if isinstance(node, (ast.ClassDef, ast.FunctionDef)) and node.name == name:
            return ast.get_source_segment(text, node)
    raise KeyError(f"torch_template.py defines no {name!r}")


Exporter = Callable[[Module, str, Definitions], TorchModule]
EXPORTERS: dict[type, Exporter] = {}


def exports(*types: type) -> Callable[[Exporter], Exporter]:
    """Register an exporter for modules of exactly these types."""
    def register(function: Exporter) -> Exporter:
        for kind in types:
            EXPORTERS[kind] = function
        return function
    return register


def export_module(module: Module, path: str, definitions: Definitions) -> TorchModule:
    """The torch twin of `module` (found at `path` in the exported model; "" for the model itself)."""
    if isinstance(module, CompiledModule):  # seqgrad.compile(model) computes what model computes
        module = module.module
    kind = type(module)
    exporter = EXPORTERS.get(kind)
    if exporter is None and isinstance(module, Recurrent) and kind.forward is Recurrent.forward \
            and kind._run_direction is Recurrent._run_direction:
        exporter = export_recurrent  # a Recurrent subclass that only chooses its cell
    if exporter is None:
        where = f" (at {path!r})" if path else ""
        names = sorted({kind.__name__ for kind in EXPORTERS} | {"Recurrent of any Cell"})
        raise ExportError(f"seqgrad.export: no torch export for {kind.__module__}.{kind.__qualname__}{where}; "
                          f"exportable: {', '.join(names)}")
    return exporter(module, path, definitions)


def dtype_of(module: Module) -> str:
    first = next(module.parameters(), None)
    return torch_dtype(first.dtype if first is not None else get_default_dtype())


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


# --- feed-forward layers -------------------------------------------------------------------
@exports(Linear)
def export_linear(layer: Linear, path: str, definitions: Definitions) -> TorchModule:
    return TorchModule("torch.nn.Linear", f"{layer.in_features}, {layer.out_features}, "
                                          f"bias={layer.bias is not None}, dtype={dtype_of(layer)}")


@exports(Embedding)
def export_embedding(layer: Embedding, path: str, definitions: Definitions) -> TorchModule:
    padding = f", padding_idx={layer.padding_idx}" if layer.padding_idx is not None else ""
    return TorchModule("torch.nn.Embedding",
                       f"{layer.num_embeddings}, {layer.embedding_dim}{padding}, dtype={dtype_of(layer)}")


def export_layer_norm(layer: Module, path: str, definitions: Definitions) -> TorchModule:
    bias = getattr(layer, "bias", None) is not None
    return TorchModule("torch.nn.LayerNorm", f"{tuple(layer.normalized_shape)!r}, eps={layer.eps!r}, "
                                             f"elementwise_affine={layer.elementwise_affine}, bias={bias}, "
                                             f"dtype={dtype_of(layer)}")


if hasattr(nn_layers, "LayerNorm"):  # added to seqgrad.nn beside this exporter; mapped wherever it exists
    exports(nn_layers.LayerNorm)(export_layer_norm)


@exports(Dropout)
def export_dropout(layer: Dropout, path: str, definitions: Definitions) -> TorchModule:
    return TorchModule("torch.nn.Dropout", repr(layer.p))


@exports(Sequential)
def export_sequential(layer: Sequential, path: str, definitions: Definitions) -> TorchModule:
    children = [export_module(child, _join(path, name), definitions).expression
                for name, child in layer._modules.items()]
    return TorchModule("torch.nn.Sequential", ", ".join(children))


# --- recurrent layers ----------------------------------------------------------------------
FUSED = {RNN: (RNNCell, "RNN"), LSTM: (LSTMCell, "LSTM"), GRU: (GRUCell, "GRU")}


def _fused_kind(layer: Recurrent) -> str | None:
    """"RNN"/"LSTM"/"GRU" when torch's fused layer computes exactly this one, else None (GRU with
    reset before, recurrent dropout, a custom cell: those take the generated cell)."""
    if type(layer) not in FUSED or layer.recurrent_dropout:
        return None
    cell_type, kind = FUSED[type(layer)]
    if any(type(cell) is not cell_type for cell in layer.cells):
        return None
    if kind == "GRU" and any(cell.reset != "after" for cell in layer.cells):
        return None
    return kind


def _layer_options(layer: Recurrent) -> str:
    options = [f"num_layers={layer.num_layers}", f"batch_first={layer.batch_first}", f"dropout={layer.dropout!r}",
               f"bidirectional={layer.bidirectional}"]
    return ", ".join(options)


@exports(RNN, LSTM, GRU, Recurrent)
def export_recurrent(layer: Recurrent, path: str, definitions: Definitions) -> TorchModule:
    kind = _fused_kind(layer)
    if kind is not None:
        definitions.template("run_packed", kind)
        first = layer.cell(0)
        extra = f", nonlinearity={first.nonlinearity!r}" if kind == "RNN" else ""
        return TorchModule(kind, f"{layer.input_size}, {layer.hidden_size}, {_layer_options(layer)}, "
                                 f"bias={bool(first.bias)}{extra}, dtype={dtype_of(layer)}")
    cell_class = export_cell(layer, path, definitions)
    definitions.template("Recurrent")
    shapes = []
    for index in range(layer.num_layers):
        cell = layer.cell(index)
        shapes.append("{" + ", ".join(f"{name!r}: {tuple(param.shape)!r}" for name, param in cell.named_parameters())
                      + "}")
    return TorchModule("Recurrent", f"cell={cell_class}(), input_size={layer.input_size}, "
                                    f"hidden_size={layer.hidden_size}, "
                                    f"{_layer_options(layer)}, recurrent_dropout={layer.recurrent_dropout!r}, "
                                    f"layer_weight_shapes=[{', '.join(shapes)}], dtype={dtype_of(layer)}")


# --- cells stepped by hand ---------------------------------------------------------------
CELL_TWINS = {LSTMCell: "torch.nn.LSTMCell", GRUCell: "torch.nn.GRUCell", RNNCell: "torch.nn.RNNCell"}


@exports(LSTMCell, GRUCell, RNNCell)
def export_builtin_cell(cell: Module, path: str, definitions: Definitions) -> TorchModule:
    """A built-in cell is called as torch's (`LSTMCell(x, (h, c)) -> (h, c)`) and has its parameter names."""
    if isinstance(cell, GRUCell) and cell.reset != "after":
        raise ExportError(f"seqgrad.export: a GRUCell with reset={cell.reset!r}{f' (at {path!r})' if path else ''} "
                          "has no torch twin (torch.nn.GRUCell resets after); export it inside a Recurrent layer")
    extra = f", nonlinearity={cell.nonlinearity!r}" if isinstance(cell, RNNCell) else ""
    return TorchModule(CELL_TWINS[type(cell)], f"{cell.input_size}, {cell.hidden_size}, bias={bool(cell.bias)}"
                                               f"{extra}, dtype={dtype_of(cell)}")


# --- attention -----------------------------------------------------------------------------
@exports(AdditiveAttention)
def export_additive_attention(attention: AdditiveAttention, path: str, definitions: Definitions) -> TorchModule:
    definitions.template("masked_softmax", "Attention", "AdditiveAttention")
    return TorchModule("AdditiveAttention", f"{attention.query_size}, {attention.key_size}, {attention.hidden_size}, "
                                            f"dtype={dtype_of(attention)}")


@exports(DotProductAttention)
def export_dot_product_attention(attention: DotProductAttention, path: str, definitions: Definitions) -> TorchModule:
    definitions.template("masked_softmax", "Attention", "DotProductAttention")
    return TorchModule("DotProductAttention", f"{attention.query_size}, {attention.key_size}, "
                                              f"kind={attention.kind!r}, scale={attention.scale}, "
                                              f"dtype={dtype_of(attention)}")


# --- the project's models ------------------------------------------------------------------
def model_class(name: str, doc: str, module: Module, path: str, definitions: Definitions, forward: str) -> TorchModule:
    """A generated torch class `name` whose children are `module`'s children's twins (same attribute
    names, so the same state-dict keys) and whose forward is `forward` (source, indented as a method)."""
    lines = [f"class {name}(torch.nn.Module):", f'    """{doc}"""', "", "    def __init__(self):",
             "        super().__init__()"]
    for child_name, child in module._modules.items():
        twin = export_module(child, _join(path, child_name), definitions)
        lines.append(twin.call(8, prefix=f"self.{child_name} = "))
    lines.append("")
    lines.append(forward.rstrip())
    return TorchModule(definitions.define(name, "\n".join(lines)))


CHAR_LM_FORWARD = '''\
    def forward(self, ids, state=None):
        """ids (T, B) int64 -> (logits (T, B, vocab_size), state)."""
        hidden, state = self.rnn(self.embedding(ids), state)
        return self.readout(self.dropout(hidden)), state'''


@exports(CharLM)
def export_char_lm(model: CharLM, path: str, definitions: Definitions) -> TorchModule:
    doc = (f"seqgrad.models.CharLM ({model.cell}, vocabulary of {model.vocab_size}):\n"
           "        e_t = E[x_t];   h_t = cell(e_t, h_{t-1});   logits_t = W_out dropout(h_t) + b_out\n    ")
    return model_class("CharLM", doc, model, path, definitions, CHAR_LM_FORWARD)


@exports(Seq2Seq)
def export_seq2seq(model: Seq2Seq, path: str, definitions: Definitions) -> TorchModule:
    """The template Seq2Seq (torch_template.py) built from the twins of the model's children."""
    children = {name: export_module(child, _join(path, name), definitions).expression
                for name, child in model._modules.items() if child is not None}
    definitions.template("Seq2Seq")
    arguments = [f"{name}={expression}" for name, expression in children.items()]
    arguments += [f"bos_id={model.bos_id}", f"eos_id={model.eos_id}", f"pad_id={model.pad_id}"]
    return TorchModule("Seq2Seq", ", ".join(arguments))


# --- the whole source ----------------------------------------------------------------------
GENERATED_MARK = "generated by seqgrad.export.to_torch"  # the first line of every generated source says so
HEADER = '''\
"""{what} as a torch module, {mark}: it needs only torch.

    model = Exported()
    model.load_state_dict(torch.load("weights.pt", weights_only=True))

`Exported` is called as the seqgrad module is called, with torch tensors, and returns the same;
its state-dict keys are the seqgrad module's parameter names. As every torch module, it starts in
training mode: call .eval() for inference.
"""
'''
# Imports the generated code may need: (statement, what it names), kept when the code uses it.
IMPORTS = (("import math", "math."), ("import torch", "torch."), ("import torch.nn.functional as F", "F."),
           ("from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence", "pack_padded_sequence("))


def torch_source(module: Module) -> str:
    """Python source defining `class Exported(torch.nn.Module)`, the torch twin of `module`."""
    if not isinstance(module, Module):
        raise ExportError(f"seqgrad.export: expected a seqgrad.nn.Module, got {type(module).__name__}")
    if isinstance(module, CompiledModule):
        module = module.module
    definitions = Definitions()
    top = export_module(module, "", definitions)
    what = f"{type(module).__module__}.{type(module).__qualname__}"
    init = top.call(8, callee="super().__init__")
    body = list(definitions.sources.values())
    body.append(f'class Exported({top.base}):\n    """The exported {type(module).__name__}; no arguments '
                f'(its configuration is written here)."""\n\n    def __init__(self):\n{init}\n')
    code = "\n\n\n".join(part.rstrip("\n") for part in body)
    imports = "\n".join(statement for statement, name in IMPORTS if name in code)
    imports = imports.replace("import math\n", "import math\n\n")  # the standard library, then torch
    return f"{HEADER.format(what=what, mark=GENERATED_MARK)}\n{imports}\n\n\n{code}\n"
