"""Char-LM checkpoints: one .npz holding the weights, the model's configuration and the vocabulary.

Written with `seqgrad.save` (atomic, numeric arrays only, no pickle). The configuration and the
vocabulary are JSON text stored as a uint8 array under the key `charlm.json`; the weights are
stored under `model.<parameter name>` (PyTorch's names).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from ..data.errors import DataFileError
from ..data.jsonio import json_array, loads_bounded
from ..data.tokenizers import CharTokenizer
from ..data.vocab import Vocabulary
from ..errors import CheckpointError
from ..interop.checkpoint import load, save
from ..models.char_lm import LM_CELLS, CharLM
from ..nn.cells import GRUCell, LSTMCell, RNNCell

FORMAT = "seqgrad.CharLM"
VERSION = 1
META_KEY = "charlm.json"
WEIGHT_PREFIX = "model."
GATES = {"lstm": LSTMCell.gates, "gru": GRUCell.gates, "rnn": RNNCell.gates}


def checkpoint_arrays(model: CharLM, tokenizer: CharTokenizer, info: dict[str, Any] | None = None) -> dict:
    """{key: array} for `save`: weights, and the JSON of configuration, vocabulary and `info`."""
    if len(tokenizer.vocab) != model.vocab_size:
        raise ValueError(f"checkpoint: the vocabulary has {len(tokenizer.vocab)} tokens but the model predicts "
                         f"{model.vocab_size}")
    meta = {"format": FORMAT, "version": VERSION, "model": model.config(), "vocab": tokenizer.vocab.to_dict(),
            "info": info or {}}
    arrays = {WEIGHT_PREFIX + name: value for name, value in model.state_dict().items()}
    arrays[META_KEY] = json_array(meta)
    return arrays


def save_char_lm(path: str | os.PathLike, model: CharLM, tokenizer: CharTokenizer,
                 info: dict[str, Any] | None = None) -> Path:
    """Write the model, its vocabulary and `info` (JSON-ready: training settings, results) atomically."""
    return save(checkpoint_arrays(model, tokenizer, info), path)


def read_meta(arrays: dict[str, np.ndarray], source: str) -> dict[str, Any]:
    """The checked JSON header of a char-LM checkpoint's arrays; CheckpointError naming `source` if absent or bad."""
    if META_KEY not in arrays:
        keys = ", ".join(sorted(arrays)[:5]) or "nothing"
        raise CheckpointError(f"{source}: not a seqgrad char-LM checkpoint (no {META_KEY!r} entry; it holds {keys})")
    raw = arrays[META_KEY]
    if raw.dtype != np.uint8 or raw.ndim != 1:
        raise CheckpointError(f"{source}: entry {META_KEY!r} must be JSON bytes (uint8, 1-D), got dtype {raw.dtype} "
                              f"shape {raw.shape}")
    try:
        meta = loads_bounded(raw.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as error:
        raise CheckpointError(f"{source}: entry {META_KEY!r} is not valid JSON ({error})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        found = meta.get("format") if isinstance(meta, dict) else type(meta).__name__
        raise CheckpointError(f"{source}: expected format {FORMAT!r}, got {found!r}")
    if meta.get("version") != VERSION:
        raise CheckpointError(f"{source}: expected {FORMAT} version {VERSION}, got {meta.get('version')!r}")
    for key in ("model", "vocab"):
        if not isinstance(meta.get(key), dict):
            raise CheckpointError(f"{source}: the header lacks its {key!r} object")
    return meta


def check_declared_sizes(config: dict[str, Any], arrays: dict[str, np.ndarray], source: str) -> None:
    """Refuse, before any model is built, a configuration whose parameters would not be exactly the
    weights the file holds: building the model allocates what the header says, so a 6 KB file
    saying hidden_size 6000 would otherwise cost gigabytes before the shape check. The arrays
    themselves were bounded by `load` before this."""
    sizes = {}
    for key in ("vocab_size", "embedding_dim", "hidden_size", "num_layers"):
        value = config.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise CheckpointError(f"{source}: bad model configuration: {key} must be a positive int, got "
                                  f"{str(value)[:40]}")
        sizes[key] = value
    cell = config.get("cell")
    if cell not in LM_CELLS:
        raise CheckpointError(f"{source}: bad model configuration: cell must be one of {sorted(LM_CELLS)}, got "
                              f"{str(cell)[:40]!r}")
    weights = {key[len(WEIGHT_PREFIX):]: array for key, array in arrays.items() if key.startswith(WEIGHT_PREFIX)}
    if 4 * sizes["num_layers"] + 3 > len(weights):   # each layer has four arrays
        raise CheckpointError(f"{source}: the header says num_layers {sizes['num_layers']} but the file holds "
                              f"only {len(weights)} weight arrays")
    shapes = parameter_shapes(cell, **sizes)
    missing = [name for name in shapes if name not in weights]
    problems = [f"missing keys: {', '.join(missing[:10])}"] if missing else []
    unexpected = [name for name in weights if name not in shapes]
    if unexpected:
        problems.append(f"unexpected keys: {', '.join(unexpected[:10])}")
    problems += [f"{name}: expected shape {shape}, got {weights[name].shape}" for name, shape in shapes.items()
                 if name in weights and weights[name].shape != shape]
    if problems:
        shown = problems[:3] + ([f"{len(problems) - 3} more"] if len(problems) > 3 else [])
        raise CheckpointError(f"{source}: the weights do not fit a {cell} model of this configuration "
                              f"(vocab_size {sizes['vocab_size']}, embedding_dim {sizes['embedding_dim']}, hidden_size "
                              f"{sizes['hidden_size']}, num_layers {sizes['num_layers']}): {'; '.join(shown)}; "
                              "refused before building it")


def parameter_shapes(cell: str, vocab_size: int, embedding_dim: int, hidden_size: int,
                     num_layers: int) -> dict[str, tuple[int, ...]]:
    """{name: shape} of a CharLM's parameters (its state_dict), computed without building it."""
    width = GATES[cell] * hidden_size
    shapes: dict[str, tuple[int, ...]] = {"embedding.weight": (vocab_size, embedding_dim)}
    for layer in range(num_layers):
        inputs = embedding_dim if layer == 0 else hidden_size
        shapes.update({f"rnn.weight_ih_l{layer}": (width, inputs), f"rnn.weight_hh_l{layer}": (width, hidden_size),
                       f"rnn.bias_ih_l{layer}": (width,), f"rnn.bias_hh_l{layer}": (width,)})
    shapes.update({"readout.weight": (vocab_size, hidden_size), "readout.bias": (vocab_size,)})
    return shapes


def load_char_lm(path: str | os.PathLike) -> tuple[CharLM, CharTokenizer, dict[str, Any]]:
    """(model in eval mode, tokenizer, info) from a file written by `save_char_lm`.

    Every problem (not an npz, pickled content, foreign or newer format, a configuration the
    model refuses, weights of the wrong names or shapes) raises CheckpointError naming the file.
    """
    source = str(path)
    arrays = load(path)
    meta = read_meta(arrays, source)
    try:
        tokenizer = CharTokenizer(Vocabulary.from_dict(meta["vocab"], source=f"{source} (vocabulary)"))
    except (DataFileError, ValueError, TypeError) as error:
        raise CheckpointError(f"{source}: bad vocabulary: {error}") from None
    check_declared_sizes(meta["model"], arrays, source)
    try:
        model = CharLM(**meta["model"])
    except (TypeError, ValueError) as error:
        raise CheckpointError(f"{source}: bad model configuration {meta['model']!r}: {error}") from None
    if model.vocab_size != len(tokenizer.vocab):
        raise CheckpointError(f"{source}: the model predicts {model.vocab_size} tokens but the vocabulary has "
                              f"{len(tokenizer.vocab)}")
    weights = {key[len(WEIGHT_PREFIX):]: value for key, value in arrays.items() if key.startswith(WEIGHT_PREFIX)}
    try:
        model.load_state_dict(weights)
    except (KeyError, ValueError, TypeError) as error:
        detail = " ".join(str(error.args[0] if error.args else error).split())
        raise CheckpointError(f"{source}: the weights do not fit a {model.cell} model of this configuration: "
                              f"{detail}") from None
    model.eval()
    info = meta.get("info") if isinstance(meta.get("info"), dict) else {}
    return model, tokenizer, info


def is_char_lm_checkpoint(path: str | os.PathLike) -> bool:
    """Whether `path` holds a readable char-LM checkpoint (used before overwriting a file)."""
    try:
        read_meta(load(path), str(path))
    except (CheckpointError, OSError):
        return False
    return True
