"""`seqgrad translate`: translate text with a checkpoint written by `seqgrad seq2seq`."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..cli import UsageError
from ..errors import CheckpointError
from ..models.seq2seq import alignment, load_checkpoint, translate
from ._options import one_line_errors, positive_int


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser("translate", help="translate text with a `seqgrad seq2seq` checkpoint",
                                   description="Translate each TEXT with a checkpoint written by `seqgrad seq2seq`, "
                                               "e.g. seqgrad translate --checkpoint model.npz \"3 March 2021\".")
    one_line_errors(parser)
    parser.add_argument("texts", nargs="+", metavar="TEXT", help="what to translate")
    parser.add_argument("--checkpoint", type=Path, required=True, help="a model.npz from `seqgrad seq2seq`")
    parser.add_argument("--task", default=None, help="refuse a checkpoint trained on another task (e.g. dates)")
    parser.add_argument("--beam", type=positive_int, default=1, help="beam width; 1 is greedy (default: 1)")
    parser.add_argument("--align", action="store_true", help="also print each output character's argmax source")
    return parser


def run(args: argparse.Namespace) -> int:
    try:
        model, task, _ = load_checkpoint(args.checkpoint, task=args.task)
    except CheckpointError as error:
        raise UsageError(str(error)) from None
    try:
        outputs, decoding = translate(model, task, args.texts, beam_size=args.beam)
    except ValueError as error:  # an UnencodableTextError, or an empty text
        raise UsageError(str(error)) from None
    for index, (text, output) in enumerate(zip(args.texts, outputs)):
        print(f"{text}\t{output}")
        tokens, weights = alignment(decoding, task, index, len(text))
        if args.align and weights is not None:
            print("\t" + "  ".join(f"{token}<{text[position]!r}@{position}"
                                    for token, position in zip(tokens, weights.argmax(axis=1))))
    return 0
