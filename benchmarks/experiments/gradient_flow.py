"""Gradient norm through time for a tanh RNN, an LSTM and a GRU, at initialisation and after training.

Each network reads adding-problem sequences of T steps and predicts from its last state;
the loss (MSE) is backpropagated once and ||dL/dh_k|| is read at every step k
(`seqgrad.bptt.flow.hidden_grad_norms`). Curves are divided by their value at the last
step, so they show how much of the gradient survives going back T - k steps whatever the
size of the error. Then each network trains on the task (same seeded batches for all)
and is measured again on the same test batch.

    python benchmarks/experiments/gradient_flow.py

Writes gradient_flow.png and gradient_flow.json beside this file.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from _results import pyplot, save  # the sibling module (scripts run from this folder)

from seqgrad import manual_seed
from seqgrad.bptt.flow import hidden_grad_norms
from seqgrad.nn.functional import mse_loss
from seqgrad.training.task_trainer import SequenceModel, build_task, train_task
from seqgrad.training.threads import limit_blas_threads
from seqgrad.viz import record

LABELS = {"rnn": "tanh RNN", "lstm": "LSTM", "gru": "GRU"}


def flow(model, inputs, targets) -> np.ndarray:
    """||dL/dh_k|| for k = 0 .. T-1 (one backward pass), the model's own gradients left untouched."""
    model.eval()
    prediction, _ = model(inputs)
    loss = mse_loss(prediction, targets)
    with record():  # keep ||dL/d(node)||: hidden_grad_norms reads them
        loss.backward()
    model.zero_grad()
    model.train()
    (norms,) = hidden_grad_norms(loss).values()
    return norms


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-T", type=int, default=50)
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    limit_blas_threads(1)  # small matrices: one BLAS thread is as fast, and robust on a busy machine

    task = build_task("adding", args.T)
    inputs, targets, _ = task.batch(256, np.random.default_rng([args.seed, 7]))
    results = {}
    for cell, label in LABELS.items():
        started = time.perf_counter()
        manual_seed(args.seed)
        model = SequenceModel(cell, task.input_size, args.hidden, task.output_size, task.per_step)
        at_init = flow(model, inputs, targets)
        result, model = train_task(task, cell, args.steps, args.hidden, lr=args.lr, seed=args.seed, test_size=1000,
                                   model=model)
        trained = flow(model, inputs, targets)
        results[label] = {"initial": at_init.tolist(), "trained": trained.tolist(), "test_mse": result.value,
                          "seconds": round(time.perf_counter() - started, 1)}
        print(f"{label:>9}: ||dL/dh_0|| / ||dL/dh_T||  initial {at_init[0] / at_init[-1]:.2e}, "
              f"trained {trained[0] / trained[-1]:.2e}; "
              f"test MSE after {args.steps} steps {result.value:.4f}")
    summary = {"T": args.T, "steps": args.steps, "hidden": args.hidden, "lr": args.lr, "seed": args.seed,
               "results": results}
    save("gradient_flow", summary, plot)


def plot(summary: dict, path: Path) -> None:
    plt = pyplot()

    figure, axes = plt.subplots(1, 2, figsize=(10.0, 4.2), layout="constrained", sharey=True)
    for ax, stage, title in ((axes[0], "initial", "at initialisation"),
                             (axes[1], "trained", f"after {summary['steps']} training batches")):
        for label, result in summary["results"].items():
            norms = np.asarray(result[stage])
            distance = np.arange(len(norms))[::-1]
            suffix = f" (test MSE {result['test_mse']:.2g})" if stage == "trained" else ""
            ax.plot(distance, norms / norms[-1], marker="o", markersize=2, label=label + suffix)
        ax.set_yscale("log")
        ax.set_xlabel(r"distance back in time, $T-1-k$ (steps)")
        ax.set_title(title)
        ax.grid(True, alpha=0.3)
        ax.legend(frameon=False, fontsize="small")
    axes[0].set_ylabel(r"$\|\partial L/\partial h_k\| \;/\; \|\partial L/\partial h_{T-1}\|$")
    figure.suptitle(f"Gradient flow through time, adding problem T = {summary['T']}, hidden {summary['hidden']}")
    figure.savefig(path, dpi=110)
    plt.close(figure)


if __name__ == "__main__":
    main()
