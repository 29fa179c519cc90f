"""`seqgrad explore`: the interactive page of a small recurrent model's unrolled graph."""

from __future__ import annotations

import argparse
from pathlib import Path

from ._options import one_line_errors, positive_int, writable_file
from .graph import add_model_arguments, build_loss, check_model_memory, kept_steps


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "explore", help="write the unrolled graph as one interactive HTML page (no server, no network)",
        description="Run a small recurrent layer over a random sequence, take a loss on its last output through "
                    "a linear readout, and write one self-contained HTML page: the graph at op, cell and layer "
                    "level, a slider over the backward pass, ||dL/dh_t|| against t, and each time step's share "
                    "of every weight's gradient.",
        epilog="example: seqgrad explore --cell lstm --steps 20 -o page.html")
    one_line_errors(parser)
    parser.add_argument("--steps", type=positive_int, default=20, help="sequence length T (default 20)")
    parser.add_argument("--level", choices=("op", "cell", "layer"), default="cell",
                        help="the level the page opens at (default cell; the page switches between all three)")
    add_model_arguments(parser)
    parser.add_argument("--title", help="the page's title")
    parser.add_argument("-o", "--output", type=Path, default=Path("explorer.html"),
                        help="the HTML file to write (default explorer.html)")
    return parser


def run(args) -> int:
    from seqgrad.cli import UsageError
    from seqgrad.viz import explore

    keep = kept_steps(args)
    if args.output.suffix.lower() not in (".html", ".htm"):
        raise UsageError(f"the page is HTML: give -o a .html file, got {str(args.output)!r}")
    try:
        writable_file(args.output, "output")
    except ValueError as error:
        raise UsageError(str(error)) from None
    check_model_memory(args)
    loss = build_loss(args.cell, args.steps, args.layers, args.input_size, args.hidden_size, args.batch,
                      args.bidirectional, args.seed)
    try:
        page = explore(loss, args.output, level=args.level, steps=keep, title=args.title)
    except RuntimeError as error:  # no Graphviz at all: say how to get one
        raise UsageError(str(error)) from None
    print(f"wrote {page.path} ({len(page.html.encode('utf-8')) / 1e6:.2f} MB): open it in a browser")
    return 0
