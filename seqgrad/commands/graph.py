"""`seqgrad graph`: draw the unrolled graph of a small recurrent model, before or after backward."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from ._options import check_memory, positive_int, recurrent_memory, seed

CELLS = ("rnn", "lstm", "gru", "bilstm", "bidirectional")
EXTENSIONS = (".svg", ".png", ".pdf", ".dot", ".gv")


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "graph", help="draw the unrolled graph of a recurrent layer (graphviz)",
        description="Run a small recurrent layer over a random sequence, take a loss on its last output "
                    "through a linear readout, and draw everything that led to the loss: time steps as "
                    "clusters, parameters once, gradient heat with --backward.",
        epilog="example: seqgrad graph --cell lstm --steps 4 --level op --backward -o lstm.svg")
    parser.add_argument("--steps", type=positive_int, default=3, help="sequence length T (default 3); more than 64 "
                        "steps, or more than 2,000 nodes, are elided to the first and last 3 steps")
    parser.add_argument("--level", choices=("op", "cell", "layer"), default="op",
                        help="op: every recorded op; cell: one node per time step; layer: one node per "
                             "layer and direction (default op)")
    parser.add_argument("--backward", action="store_true",
                        help="run loss.backward() first, so the drawing shows the gradient norms")
    add_model_arguments(parser)
    parser.add_argument("--no-shapes", action="store_true", help="leave output shapes out of the labels")
    parser.add_argument("--title", help="title printed above the legend")
    parser.add_argument("-o", "--output", type=Path,
                        help="file to write; the extension picks the format (.svg, .png, .pdf, or .dot/.gv for "
                             "the DOT source). Without it the DOT source is printed.")
    return parser


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of the model `build_loss` makes, and --keep (shared with `seqgrad explore`)."""
    parser.add_argument("--cell", choices=CELLS, default="lstm",
                        help="the layer: tanh RNN, LSTM, GRU, or a bidirectional LSTM (bilstm, also spelled "
                             "bidirectional); default lstm")
    parser.add_argument("--bidirectional", action="store_true", help="make any --cell bidirectional")
    parser.add_argument("--keep", type=int, nargs=2, metavar=("FIRST", "LAST"),
                        help="draw only the first and last few steps and elide the middle into one node")
    parser.add_argument("--layers", type=positive_int, default=1, help="stacked layers (default 1)")
    parser.add_argument("--input-size", type=positive_int, default=2, help="input features per step (default 2)")
    parser.add_argument("--hidden-size", type=positive_int, default=3, help="hidden units (default 3)")
    parser.add_argument("--batch", type=positive_int, default=1, help="batch size (default 1)")
    parser.add_argument("--seed", type=seed, default=0, help="random seed for weights and data (default 0)")


def kept_steps(args: argparse.Namespace) -> tuple[int, int] | None:
    """--keep FIRST LAST as a tuple (None when not given); a negative count is a usage error."""
    from seqgrad.cli import UsageError

    if args.keep is None:
        return None
    if min(args.keep) < 0:
        raise UsageError(f"--keep FIRST LAST must not be negative, got {args.keep[0]} {args.keep[1]}")
    return tuple(args.keep)


def build_loss(cell: str, steps: int, layers: int = 1, input_size: int = 2, hidden_size: int = 3,
               batch: int = 1, bidirectional: bool = False, seed: int = 0):
    """The model the command draws: a recurrent layer, a linear readout of its last output in a
    'readout' scope, and the squared error against a fixed target."""
    import seqgrad as sg
    from seqgrad import nn

    sg.manual_seed(seed)
    bidirectional = bidirectional or cell in ("bilstm", "bidirectional")
    kind = {"rnn": nn.RNN, "gru": nn.GRU}.get(cell, nn.LSTM)
    layer = kind(input_size, hidden_size, num_layers=layers, bidirectional=bidirectional)
    readout = nn.Linear(hidden_size * layer.num_directions, 1)
    inputs = sg.randn(steps, batch, input_size)
    target = np.ones((batch, 1), dtype=sg.get_default_dtype())
    output, _ = layer(inputs)
    with sg.scope("readout"):
        prediction = readout(output[-1])
    return nn.functional.mse_loss(prediction, target)


def check_model_memory(args) -> None:
    """Refuse, as a usage error, a model of the model options that would not fit in the memory left."""
    from seqgrad.cli import UsageError

    directions = 2 if args.bidirectional or args.cell in ("bilstm", "bidirectional") else 1
    recorded = 20 * 1024 * args.steps * args.layers * directions   # about 20 recorded ops of 1 KB per step
    try:
        check_memory(recurrent_memory(steps=args.steps, batch=args.batch, hidden=args.hidden_size,
                                      inputs=args.input_size, layers=args.layers, directions=directions, outputs=1)
                     + recorded, f"--steps {args.steps} --layers {args.layers} --hidden-size {args.hidden_size} "
                                 f"--input-size {args.input_size} --batch {args.batch}")
    except ValueError as error:
        raise UsageError(str(error)) from None


def run(args) -> int:
    from seqgrad.cli import UsageError
    from seqgrad.viz import DrawingTooLarge, draw, record, render
    from seqgrad.viz.draw import LONG_SEQUENCE, MAX_NODES, count_nodes

    keep = kept_steps(args)
    if args.output is not None and args.output.suffix.lower() not in EXTENSIONS:
        raise UsageError(f"cannot tell the format of {str(args.output)!r}: use one of {', '.join(EXTENSIONS)}")
    check_model_memory(args)
    loss = build_loss(args.cell, args.steps, args.layers, args.input_size, args.hidden_size, args.batch,
                      args.bidirectional, args.seed)
    if args.backward:
        with record():
            loss.backward()
    level = args.level
    nodes = count_nodes(loss, level=level, steps=keep)
    too_long = level != "layer" and args.steps > LONG_SEQUENCE   # Graphviz takes minutes (see docs/VIZ.md)
    if keep is None and (nodes > MAX_NODES or too_long):
        level, keep = _elided(loss, level)
        why = (f"{nodes:,} nodes at --level {args.level} is more than {MAX_NODES:,}" if nodes > MAX_NODES
               else f"{args.steps} steps is more than Graphviz lays out in reasonable time ({LONG_SEQUENCE})")
        print(f"seqgrad graph: {why}; drawing the first and last 3 steps at --level {level} and eliding the middle "
              "(choose with --keep FIRST LAST)", file=sys.stderr)
    try:
        drawing = draw(loss, level=level, steps=keep, shapes=not args.no_shapes, title=args.title)
    except DrawingTooLarge as error:
        raise UsageError(f"{error} (here: --keep 3 3, --level cell or layer)") from None
    if args.output is None:
        sys.stdout.write(drawing.source)
        return 0
    try:
        render(drawing, args.output)
    except RuntimeError as error:  # no Graphviz, or Graphviz failed: one line with its message
        hint = " (here: --keep FIRST LAST or --level cell)" if "did not finish" in str(error) else ""
        raise UsageError(f"{error}{hint}") from None
    print(f"wrote {args.output}")
    return 0


def _elided(loss, level: str) -> tuple[str, tuple[int, int]]:
    """The first level, from `level` down to "layer", whose drawing with steps=(3, 3) fits the budget."""
    from seqgrad.viz.draw import MAX_NODES, count_nodes
    from seqgrad.viz.graph import LEVELS

    for candidate in LEVELS[LEVELS.index(level):]:
        if count_nodes(loss, level=candidate, steps=(3, 3)) <= MAX_NODES:
            return candidate, (3, 3)
    return "layer", (3, 3)
