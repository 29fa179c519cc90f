"""Print the forward and BPTT code seqgrad generates for a built-in cell: exactly the text that
runs when a layer of that cell is compiled (seqgrad.compile)."""

from __future__ import annotations

import argparse

import numpy as np

from ._options import one_line_errors, positive_int

CELLS = ("rnn", "lstm", "gru", "gru-before")


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser("codegen", help="print the generated forward and BPTT code of a cell",
                                   description=__doc__)
    one_line_errors(parser)
    parser.add_argument("--cell", choices=CELLS, default="lstm", help="default: lstm")
    parser.add_argument("--input-size", type=positive_int, default=3, help="default: 3")
    parser.add_argument("--hidden", type=positive_int, default=4, help="default: 4")
    parser.add_argument("--batch", type=positive_int, default=2, help="default: 2")
    parser.add_argument("--steps", type=positive_int, default=5, help="default: 5")
    parser.add_argument("--reverse", action="store_true", help="the backward direction of a bidirectional layer")
    return parser


def make_cell(name: str, input_size: int, hidden: int):
    """The built-in cell called `name` (one of CELLS), in float32."""
    from .. import nn
    if name == "rnn":
        return nn.RNNCell(input_size, hidden, dtype=np.float32)
    if name == "lstm":
        return nn.LSTMCell(input_size, hidden, dtype=np.float32)
    return nn.GRUCell(input_size, hidden, reset="before" if name == "gru-before" else "after", dtype=np.float32)


def run(args: argparse.Namespace) -> int:
    from ..compiler import source
    cell = make_cell(args.cell, args.input_size, args.hidden)
    print(source(cell, args.batch, args.steps, np.float32, reverse=args.reverse), end="")
    return 0
