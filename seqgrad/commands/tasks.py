"""`seqgrad tasks`: train a recurrent network on a classic long-memory task and compare it with the
trivial baseline (adding problem, copy task, delayed echo, embedded Reber grammar)."""

from __future__ import annotations

import argparse

import numpy as np

from ..cli import UsageError
from ..training.divergence import diverged_message
from ..training.process import prepare_training_process
from ..training.task_trainer import (
    CELLS,
    TASK_BUILDERS,
    build_task,
    check_cell_for_task,
    task_divergence,
    train_task,
)
from ._options import (
    check_memory,
    non_negative_float,
    one_line_errors,
    positive_float,
    positive_int,
    recurrent_memory,
    seed,
)

DESCRIPTION = """\
Train on a generated task with a known memory span and report the test metric next to
what a trivial predictor scores:

  adding  sum the two marked values of T numbers      MSE,  baseline 0.167 (always say 1)
  copy    repeat 5 symbols after a delay of T blanks  accuracy, baseline 1/8 (guessing)
  echo    say the symbol seen T steps ago             accuracy, baseline 1/4 (guessing)
  reber   next symbol of embedded Reber strings       strings with every prediction legal,
                                                       baseline 50% (no long memory)

-T is the sequence length for adding and the delay for copy and echo. --cell bilstm is
accepted where the input holds no future target (adding, copy). --bptt k trains with
truncated BPTT (copy, echo): a span longer than k gets no gradient.
"""


# Enough batches for an LSTM with the default settings to pass the task's "solved" mark
# (measured: adding T=50 at 1,300; copy at ~6,000 reaches 98%; echo at 600; reber at 300).
DEFAULT_STEPS = {"adding": 1500, "copy": 4000, "echo": 600, "reber": 400}


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser("tasks", help="classic memory tasks (adding, copy, echo, reber) vs baselines",
                                   description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    one_line_errors(parser)
    parser.add_argument("--task", choices=sorted(TASK_BUILDERS), default="adding", help="default: adding")
    parser.add_argument("--cell", choices=CELLS, default="lstm", help="default: lstm (rnn: tanh Elman)")
    parser.add_argument("-T", dest="length", type=positive_int, default=None,
                        help="adding: sequence length (default 50); copy, echo: delay (default 10, 8)")
    parser.add_argument("--steps", type=positive_int, default=None,
                        help="training batches (default: " + ", ".join(f"{name} {steps}" for name, steps in
                                                                  DEFAULT_STEPS.items()) + ")")
    parser.add_argument("--hidden", type=positive_int, default=64, help="hidden size (default: 64)")
    parser.add_argument("--batch", type=positive_int, default=32, help="sequences per batch (default: 32)")
    parser.add_argument("--lr", type=positive_float, default=3e-3, help="Adam learning rate (default: 0.003)")
    parser.add_argument("--clip", type=non_negative_float, default=1.0,
                        help="gradient-norm clipping; 0 turns it off (default: 1.0)")
    parser.add_argument("--bptt", type=positive_int, default=None, help="truncation window (copy, echo only)")
    parser.add_argument("--eval-every", type=positive_int, default=100, help="test every N steps (default: 100)")
    parser.add_argument("--seed", type=seed, default=0, help="default: 0")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--eager", action="store_true",
                        help="run the recurrent layers op by op instead of as generated code (to compare)")
    return parser


def run(args: argparse.Namespace) -> int:
    try:
        task = build_task(args.task, args.length)
        check_cell_for_task(args.cell, task)
        if args.bptt is not None and not task.truncatable:
            raise ValueError(f"--bptt needs a target at every step, and {args.task} "
                             + ("has one target per sequence" if args.task == "adding" else "has variable lengths"))
        # The longest sequence is at most three times the span (echo); the test set has 512 sequences.
        check_memory(recurrent_memory(steps=3 * task.span + 16, batch=max(args.batch, 512), hidden=args.hidden,
                                      inputs=task.input_size, outputs=task.output_size,
                                      directions=2 if args.cell == "bilstm" else 1),
                     f"--task {args.task}" + (f" -T {args.length}" if args.length else "")
                     + f" --hidden {args.hidden} --batch {args.batch}")
    except ValueError as error:
        raise UsageError(str(error)) from None
    steps = args.steps or DEFAULT_STEPS[args.task]
    prepare_training_process()  # small matrices: one BLAS thread throughout
    print(f"{task.description}: {args.cell.upper()} with {args.hidden} hidden units, {steps} batches of "
          f"{args.batch}" + (f", truncated BPTT k={args.bptt}" if args.bptt else ", full BPTT"))
    # A diverging run overflows everywhere: it is detected and reported below, not warned about op by op.
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        try:
            result, model = train_task(task, args.cell, steps, args.hidden, args.batch, args.lr, args.clip or None,
                                       args.seed, args.bptt, eval_every=args.eval_every, progress=not args.no_progress,
                                       eager=args.eager)
        except FloatingPointError as error:
            raise ValueError(diverged_message(str(error), args.lr, args.clip or None)) from None
    reason = task_divergence(result, model)
    if reason is not None:
        raise ValueError(diverged_message(reason, args.lr, args.clip or None))
    verdict = "beats" if result.beats_baseline else "does NOT beat"
    print(f"test {result.metric}: {result.value:.4f} vs {result.baseline:.4f} for {result.baseline_label}: "
          f"{verdict} the baseline ({result.steps} steps, {result.seconds:.1f} s)")
    others = {name: value for name, value in result.scores.items() if name != result.metric}
    if others:
        print("also: " + ", ".join(f"{name} {value:.4f}" for name, value in others.items()))
    if result.solved_step is not None:
        relation = "<" if task.lower_is_better else ">="
        print(f"solved ({result.metric} {relation} {task.solved_at}) first at step {result.solved_step}")
    return 0
