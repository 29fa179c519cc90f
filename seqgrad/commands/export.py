"""`seqgrad export`: a trained checkpoint as a PyTorch module (model.py) and its weights (weights.pt)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..atomic import write_atomically
from ..cli import UsageError
from ..errors import CheckpointError, ExportError
from ..export.modules import GENERATED_MARK
from ._options import one_line_errors

DESCRIPTION = """\
Write a seqgrad checkpoint (from `seqgrad train`, `seqgrad demo` or `seqgrad seq2seq`) as PyTorch code
and weights:
  DIR/model.py    defines `class Exported(torch.nn.Module)`, needing only torch
  DIR/weights.pt  its state dict (load with torch.load(..., weights_only=True))
  DIR/vocab.json  the vocabulary: token i of "tokens" has id i (a char LM's)
  DIR/source_vocab.json, DIR/target_vocab.json  the two vocabularies (a sequence-to-sequence model's)
The exported model computes what the seqgrad model computes (the built-in LSTM/GRU/RNN become
torch's fused layers), so it trains further on a GPU or on several processes with torchrun.
See docs/GRADUATION.md. Needs PyTorch (pip install torch); seqgrad itself does not.
"""


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser("export", help="write a checkpoint as PyTorch code and weights",
                                   description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    one_line_errors(parser)
    parser.add_argument("checkpoint", type=Path, help="a .npz written by seqgrad train, demo or seq2seq")
    parser.add_argument("--to", choices=("torch",), required=True, help="the framework to export to (torch)")
    parser.add_argument("-o", "--output", type=Path, required=True,
                        help="folder for model.py, weights.pt and the vocabularies (created if missing)")
    return parser


def run(args: argparse.Namespace) -> int:
    try:
        import torch
    except ImportError:
        raise UsageError("exporting to torch needs PyTorch, which seqgrad does not install: pip install torch") \
            from None
    from ..export import to_torch

    try:
        model, vocabularies = load_model(args.checkpoint)
    except CheckpointError as error:
        raise UsageError(f"{error} (seqgrad export reads seqgrad model checkpoints: `seqgrad train` and "
                         "`seqgrad seq2seq` write them)") from None
    try:
        source, state_dict = to_torch(model)
    except ExportError as error:
        raise UsageError(str(error)) from None
    output = args.output
    if output.exists() and not output.is_dir():
        raise UsageError(f"-o {output} is a file; give a folder")
    existing = output / "model.py"
    if existing.is_file() and GENERATED_MARK not in existing.read_text(encoding="utf-8", errors="replace")[:500]:
        raise UsageError(f"{existing} exists and was not written by seqgrad export; refusing to replace it "
                         "(choose another -o folder)")
    output.mkdir(parents=True, exist_ok=True)
    write_atomically(output / "model.py", lambda handle: handle.write(source), binary=False)
    write_atomically(output / "weights.pt", lambda handle: torch.save(state_dict, handle))
    for name, vocabulary in vocabularies.items():
        vocabulary.save(output / name)
    count = sum(value.numel() for value in state_dict.values())
    written = " and ".join(str(output / name) for name in vocabularies)
    print(f"wrote {output / 'model.py'}, {output / 'weights.pt'} ({count:,} parameters) and {written}")
    return 0


def load_model(path: Path) -> tuple:
    """(model, {file name: vocabulary}) from a char-LM or a sequence-to-sequence checkpoint, told apart by
    the seq2seq's config entry; CheckpointError for anything else."""
    from ..interop.checkpoint import load
    from ..models.seq2seq import CONFIG_KEY, load_checkpoint
    from ..training.lm_checkpoint import load_char_lm

    if CONFIG_KEY in load(path):
        model, task, _ = load_checkpoint(path)
        return model, {"source_vocab.json": task.source.vocab, "target_vocab.json": task.target}
    model, tokenizer, _ = load_char_lm(path)
    return model, {"vocab.json": tokenizer.vocab}
