"""`seqgrad sample`: text from a character-level language model checkpoint."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..cli import UsageError
from ..models.char_lm import sample
from ..training.lm_checkpoint import load_char_lm
from ._options import check_memory, non_negative_float, non_negative_int, one_line_errors, seed


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "sample", help="generate text from a trained char-LM checkpoint",
        description="Read a checkpoint written by `seqgrad train` or `seqgrad demo`, feed it the prompt, then "
                    "draw characters one at a time from softmax(logits / temperature).")
    one_line_errors(parser)
    parser.add_argument("--checkpoint", type=Path, required=True, help="a .npz written by train or demo")
    parser.add_argument("--length", type=non_negative_int, default=300, help="characters to draw (default: 300)")
    parser.add_argument("--temperature", type=non_negative_float, default=0.8,
                        help="below 1: safer, more repetitive; above 1: more varied; 0: always the most "
                             "likely character (default: 0.8)")
    parser.add_argument("--prompt", default="", help="text the model reads first (default: a line break)")
    parser.add_argument("--seed", type=seed, default=0, help="seed of the draw (default: 0)")
    return parser


def run(args: argparse.Namespace) -> int:
    try:
        # the drawn ids (8 bytes each) and the text (up to 4 bytes each), twice over while decoding
        check_memory(24.0 * args.length, f"--length {args.length}")
        model, tokenizer, _ = load_char_lm(args.checkpoint)
    except ValueError as error:   # CheckpointError included
        raise UsageError(str(error)) from None
    unknown = sorted({character for character in args.prompt if character not in tokenizer.vocab})
    if unknown:
        raise UsageError(f"--prompt has characters this checkpoint's vocabulary does not know: "
                         f"{''.join(unknown)!r}")
    text = sample(model, tokenizer, args.prompt, args.length, args.temperature, args.seed)
    print(args.prompt + text)
    return 0
