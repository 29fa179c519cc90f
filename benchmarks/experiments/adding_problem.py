"""The adding problem at T = 100: an LSTM learns it, a tanh RNN stays at the baseline.

Hochreiter & Schmidhuber (1997), repeated by Le, Jaitly & Hinton (2015): each sequence has
T random values and two markers, one in each half; the target is the sum of the two marked
values. Always predicting 1 scores MSE 1/6 ≈ 0.167; "solved" means test MSE < 0.01. Every
network sees the same seeded batches; the test set is a separate stream of 1,000 sequences.

    python benchmarks/experiments/adding_problem.py            # LSTM and tanh RNN (and GRU)
    python benchmarks/experiments/adding_problem.py --cells lstm rnn --steps 3000

Writes adding_problem.png and adding_problem.json beside this file. Takes minutes: it is a
benchmark, not a test.
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

from _results import pyplot, save  # the sibling module (scripts run from this folder)

from seqgrad.training.task_trainer import build_task, train_task
from seqgrad.training.threads import limit_blas_threads

LABELS = {"lstm": "LSTM", "gru": "GRU", "rnn": "tanh RNN"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-T", type=int, default=100)
    parser.add_argument("--cells", nargs="+", default=["lstm", "rnn", "gru"], choices=sorted(LABELS))
    parser.add_argument("--steps", type=int, default=3000, help="most batches per network")
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--eval-every", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep-going", action="store_true", help="train the full budget even once solved")
    args = parser.parse_args()
    limit_blas_threads(1)  # small matrices: one BLAS thread is as fast, and robust on a busy machine

    task = build_task("adding", args.T)
    results = {}
    for cell in args.cells:
        started = time.perf_counter()
        result, _ = train_task(task, cell, args.steps, args.hidden, args.batch, args.lr, clip=1.0, seed=args.seed,
                               test_size=1000, eval_every=args.eval_every, stop_when_solved=not args.keep_going)
        seconds = time.perf_counter() - started
        results[cell] = {
            "label": LABELS[cell], "steps": result.steps, "seconds": round(seconds, 1),
            "final_test_mse": result.value, "solved_step": result.solved_step,
            "eval_steps": result.eval_steps, "eval_mse": result.eval_values,
        }
        solved = f"solved (MSE < 0.01) at step {result.solved_step}" if result.solved_step else "not solved"
        print(f"{LABELS[cell]:>9}: test MSE {result.value:.4f} after {result.steps} steps, {seconds:.0f} s; {solved}")

    summary = {"T": args.T, "hidden": args.hidden, "batch": args.batch, "lr": args.lr, "seed": args.seed,
               "baseline_mse": task.baseline, "machine": f"{platform.machine()}, {platform.python_version()}",
               "results": results}
    save("adding_problem", summary, plot)


def plot(summary: dict, path: Path) -> None:
    plt = pyplot()

    figure, ax = plt.subplots(figsize=(7.0, 4.2), layout="constrained")
    for result in summary["results"].values():
        ax.plot(result["eval_steps"], result["eval_mse"], marker="o", markersize=3,
                label=f"{result['label']} ({result['seconds']:.0f} s)")
    ax.axhline(summary["baseline_mse"], color="gray", linestyle="--", label="always predict 1 (MSE 0.167)")
    ax.axhline(0.01, color="gray", linestyle=":", label="solved: MSE 0.01")
    ax.set_yscale("log")
    ax.set_xlabel("training batch")
    ax.set_ylabel("test mean squared error")
    ax.set_title(f"Adding problem, T = {summary['T']}, hidden {summary['hidden']}, batch {summary['batch']}")
    ax.grid(True, alpha=0.3)
    ax.legend(frameon=False)
    figure.savefig(path, dpi=110)
    plt.close(figure)


if __name__ == "__main__":
    main()
