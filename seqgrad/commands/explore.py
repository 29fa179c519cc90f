"""`seqgrad explore`: the interactive page of a small recurrent model's unrolled graph."""

from __future__ import annotations

import argparse
from pathlib import Path

from ._options import one_line_errors, positive_int, writable_file

CELLS = ("rnn", "lstm", "gru", "bilstm", "bidirectional")


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "explore", help="write the unrolled graph as one interactive HTML page (no server, no network)",
        description="Run a small recurrent layer over a random sequence, take a loss on its last output through "
                    "a linear readout, and write one self-contained HTML page: the graph at op, cell and layer "
                    "level, a slider over the backward pass, ||dL/dh_t|| against t, and each time step's share "
                    "of every weight's gradient.",
        epilog="example: seqgrad explore --cell lstm --steps 20 -o page.html")
    one_line_errors(parser)
    parser.add_argument("--cell", choices=CELLS, default="lstm",
                        help="tanh RNN, LSTM, GRU, or a bidirectional LSTM (bilstm); default lstm")
    parser.add_argument("--bidirectional", action="store_true", help="make any --cell bidirectional")
    parser.add_argument("--steps", type=positive_int, default=20, help="sequence length T (default 20)")
    parser.add_argument("--level", choices=("op", "cell", "layer"), default="cell",
                        help="the level the page opens at (default cell; the page switches between all three)")
    parser.add_argument("--keep", type=int, nargs=2, metavar=("FIRST", "LAST"),
                        help="draw only the first and last few steps and elide the middle into one node")
    parser.add_argument("--layers", type=positive_int, default=1, help="stacked layers (default 1)")
    parser.add_argument("--input-size", type=positive_int, default=2, help="input features per step (default 2)")
    parser.add_argument("--hidden-size", type=positive_int, default=3, help="hidden units (default 3)")
    parser.add_argument("--batch", type=positive_int, default=1, help="batch size (default 1)")
    parser.add_argument("--seed", type=int, default=0, help="random seed for weights and data (default 0)")
    parser.add_argument("--title", help="the page's title")
    parser.add_argument("-o", "--output", type=Path, default=Path("explorer.html"),
                        help="the HTML file to write (default explorer.html)")
    return parser


def run(args) -> int:
    from seqgrad.cli import UsageError
    from seqgrad.viz import explore

    from .graph import build_loss

    if args.keep is not None and min(args.keep) < 0:
        raise UsageError(f"--keep FIRST LAST must not be negative, got {args.keep[0]} {args.keep[1]}")
    if args.output.suffix.lower() not in (".html", ".htm"):
        raise UsageError(f"the page is HTML: give -o a .html file, got {str(args.output)!r}")
    try:
        writable_file(args.output, "output")
    except ValueError as error:
        raise UsageError(str(error)) from None
    loss = build_loss(args.cell, args.steps, args.layers, args.input_size, args.hidden_size, args.batch,
                      args.bidirectional, args.seed)
    try:
        page = explore(loss, args.output, level=args.level, steps=tuple(args.keep) if args.keep else None,
                       title=args.title)
    except RuntimeError as error:  # no Graphviz at all: say how to get one
        raise UsageError(str(error)) from None
    print(f"wrote {page.path} ({len(page.html.encode('utf-8')) / 1e6:.2f} MB): open it in a browser")
    return 0
