"""Full BPTT against truncated BPTT (k = 20, 16, 12, 9, 8, 5) on a task whose dependency span is known.

The delayed echo: at every step the network must output the symbol it saw exactly D = 8
steps earlier (4 symbols, so guessing scores 25%). With truncated BPTT of window k, the
gradient stops at window boundaries: a dependency of D steps gets a gradient only where
both ends fall in one window. That never happens for k <= D (k = 8, 5), and happens for the
last k - D steps of each window for k > D (k = 9: one step in nine; k = 20: twelve in
twenty). Full BPTT backpropagates through all 60 steps. The runs find how much more than
D the window must be in practice.

Every run sees the same seeded batches (one batch = one sequence pass; truncated runs make
one update per window, so they get more updates, not fewer). Test accuracy is measured on
held-out sequences.

    python benchmarks/experiments/truncated_bptt.py

Writes truncated_bptt.png and truncated_bptt.json beside this file.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from _results import pyplot, save  # the sibling module (scripts run from this folder)

from seqgrad.training.task_trainer import echo_task, train_task
from seqgrad.training.threads import limit_blas_threads


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--delay", type=int, default=8)
    parser.add_argument("--length", type=int, default=60)
    parser.add_argument("--windows", type=int, nargs="+", default=[0, 20, 16, 12, 9, 8, 5], help="0 = full BPTT")
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--hidden", type=int, default=32)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    limit_blas_threads(1)  # small matrices: one BLAS thread is as fast, and robust on a busy machine

    task = echo_task(delay=args.delay, seq_len=args.length)
    runs = {}
    for window in args.windows:
        label = "full BPTT" if window == 0 else f"truncated, k = {window}"
        started = time.perf_counter()
        result, _ = train_task(task, "lstm", args.steps, args.hidden, args.batch, args.lr, clip=1.0, seed=args.seed,
                               bptt=window or None, test_size=512, eval_every=max(args.steps // 20, 1))
        seconds = time.perf_counter() - started
        runs[label] = {"window": window or args.length, "accuracy": result.value,
                       "cross_entropy": result.scores["cross_entropy"], "seconds": round(seconds, 1),
                       "eval_steps": result.eval_steps, "eval_accuracy": result.eval_values}
        print(f"{label:>17}: test accuracy {result.value:.3f} (chance {task.baseline:.2f}), "
              f"cross-entropy {result.scores['cross_entropy']:.3f}, {seconds:.0f} s")
    summary = {"delay": args.delay, "length": args.length, "hidden": args.hidden, "batch": args.batch,
               "steps": args.steps, "lr": args.lr, "seed": args.seed, "chance": task.baseline, "runs": runs}
    save("truncated_bptt", summary, plot)


def plot(summary: dict, path: Path) -> None:
    plt = pyplot()

    figure, ax = plt.subplots(figsize=(8.6, 4.2), layout="constrained")
    for label, run in summary["runs"].items():
        ax.plot(run["eval_steps"], run["eval_accuracy"], marker="o", markersize=3,
                label=f"{label}: {run['accuracy']:.1%}")
    ax.axhline(summary["chance"], color="gray", linestyle="--", label=f"guessing ({summary['chance']:.0%})")
    ax.set_ylim(0, 1.02)
    ax.set_xlabel(f"training batch (sequences of {summary['length']} steps)")
    ax.set_ylabel("test accuracy")
    ax.set_title(f"Echo the symbol seen {summary['delay']} steps ago: LSTM {summary['hidden']}, "
                 "full vs truncated BPTT")
    ax.grid(True, alpha=0.3)
    ax.legend(frameon=False, loc="center left", bbox_to_anchor=(1.0, 0.5))
    figure.savefig(path, dpi=110)
    plt.close(figure)


if __name__ == "__main__":
    main()
