"""Each time step's term of ∂L/∂W_hh: vanishing gradients starve the far past's terms, not the weight.

A recurrent weight is one matrix used at every step, so its gradient is a sum of one term per
step, ∂L/∂W_hh = Σ_t δ_t h_(t-1)ᵀ (docs/EQUATIONS.md, "Backpropagation through time"). A
common reading of the vanishing gradient says the network is "unable to update its earliest
parameters". There are no earliest parameters: what vanishes is the *term* of the early steps,
the part of the one gradient that would teach the weight how the far past affects the loss.
The weight itself keeps a gradient as large as ever (the recent steps' terms) and keeps
changing during training.

On the adding problem (T = 100, loss on the last output only), this script reads the per-step
terms with `seqgrad.bptt.weight_grad_contributions` for a tanh RNN and an LSTM, at
initialisation and after training, and records how much W_hh changes during training while the
tanh RNN stays at the baseline error.

    python benchmarks/experiments/weight_grad_contributions.py

Writes weight_grad_contributions.png and .json beside this file.
"""

from __future__ import annotations

import argparse
import platform
from pathlib import Path

import numpy as np
from _results import pyplot, save  # the sibling module (scripts run from this folder)

from seqgrad.bptt import weight_grad_contributions
from seqgrad.random import manual_seed
from seqgrad.tensor import Tensor
from seqgrad.training.task_trainer import SequenceModel, build_task, train_task
from seqgrad.training.threads import limit_blas_threads

LABELS = {"rnn": "tanh RNN", "lstm": "LSTM"}


def step_terms(model: SequenceModel, task, rng: np.random.Generator, batch: int) -> tuple[np.ndarray, float, float]:
    """Norms of W_hh's per-step terms (steps in order), the norm of their sum, and that sum's gap to .grad."""
    inputs, targets, _ = task.batch(batch, rng)
    outputs, _ = model(Tensor(inputs))
    loss = task.loss(outputs, targets)
    weight = model.rnn.weight_hh_l0
    terms = weight_grad_contributions(loss, weight)
    steps = sorted(step for step in terms if step is not None)
    norms = np.array([np.linalg.norm(terms[step]) for step in steps])
    total = sum(terms.values())
    weight.grad = None
    loss.backward()
    return norms, float(np.linalg.norm(total)), float(np.abs(total - weight.grad).max())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-T", type=int, default=100)
    parser.add_argument("--steps", type=int, default=1500, help="training batches per network")
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--probe-batch", type=int, default=256)
    args = parser.parse_args()
    limit_blas_threads(1)

    task = build_task("adding", args.T)
    results = {}
    for cell in ("rnn", "lstm"):
        manual_seed(0)
        model = SequenceModel(cell, task.input_size, args.hidden, task.output_size, per_step=False)
        initial_weight = model.rnn.weight_hh_l0.data.copy()
        before, before_total, before_gap = step_terms(model, task, np.random.default_rng(7), args.probe_batch)
        result, model = train_task(task, cell, args.steps, args.hidden, args.batch, 3e-3, clip=1.0, seed=0,
                                   test_size=1000, progress=False, model=model)
        after, after_total, after_gap = step_terms(model, task, np.random.default_rng(7), args.probe_batch)
        change = np.linalg.norm(model.rnn.weight_hh_l0.data - initial_weight) / np.linalg.norm(initial_weight)
        results[cell] = {
            "label": LABELS[cell], "test_mse": result.value, "relative_change_of_W_hh": float(change),
            "before": summarise(before, before_total, before_gap), "after": summarise(after, after_total, after_gap),
        }
        for moment in ("before", "after"):
            row = results[cell][moment]
            print(f"{LABELS[cell]:>8} {moment:>6} training: ‖∂L/∂W_hh‖ {row['gradient_norm']:.3g}; "
                  f"term of step 2 / term of step {args.T} = {row['first_over_last']:.2e}; "
                  f"the last 10 steps hold {row['share_of_last_10']:.1%} of Σ‖term‖; "
                  f"terms sum to .grad within {row['sum_error']:.1e}", flush=True)
        print(f"{LABELS[cell]:>8}: W_hh moved by {change:.1%} of its norm in {args.steps} batches; "
              f"test MSE {result.value:.4f} (baseline {task.baseline:.3f})", flush=True)

    summary = {"T": args.T, "hidden": args.hidden, "steps": args.steps, "batch": args.batch,
               "probe_batch": args.probe_batch, "baseline_mse": task.baseline,
               "machine": f"{platform.machine()}, {platform.python_version()}", "results": results}
    save("weight_grad_contributions", summary, plot)


def summarise(norms: np.ndarray, total: float, sum_error: float) -> dict:
    """Per-step term norms (step 1 first) and how they are shared out. Step 1's term is zero
    (it multiplies h_0 = 0), so the far past is measured at step 2."""
    return {"term_norms": norms.tolist(), "gradient_norm": total, "sum_error": sum_error,
            "first_over_last": float(norms[1] / norms[-1]),
            "share_of_last_10": float(norms[-10:].sum() / norms.sum())}


def plot(summary: dict, path: Path) -> None:
    plt = pyplot()
    figure, (terms_ax, share_ax) = plt.subplots(1, 2, figsize=(11, 4), layout="constrained")
    colours = {"rnn": "tab:red", "lstm": "tab:blue"}
    steps = np.arange(2, summary["T"] + 1)      # step 1's term multiplies h_0 = 0
    for cell, result in summary["results"].items():
        for moment, style in (("before", ":"), ("after", "-")):
            norms = np.asarray(result[moment]["term_norms"])
            terms_ax.semilogy(steps, norms[1:], linestyle=style, color=colours[cell],
                              label=f"{result['label']}, {moment} training")
            share = np.cumsum(norms[::-1]) / norms.sum()
            share_ax.plot(np.arange(1, len(share) + 1), share, linestyle=style, color=colours[cell],
                          label=f"{result['label']}, {moment} (W_hh moved {result['relative_change_of_W_hh']:.0%})"
                          if moment == "after" else f"{result['label']}, {moment}")
    terms_ax.set(xlabel="step t of the sequence (the loss is at the last step)",
                 ylabel=r"$\|\delta_t\, h_{t-1}^\top\|$, step t's term of $\partial L/\partial W_{hh}$",
                 title=f"Adding problem, T = {summary['T']}: one term per step")
    terms_ax.legend(frameon=False, fontsize=8)
    share_ax.set(xlabel="the last k steps", ylabel="their share of Σ_t ‖term_t‖", ylim=(0, 1.02),
                 title="Where the weight's gradient comes from")
    share_ax.legend(frameon=False, fontsize=8)
    figure.savefig(path, dpi=110)
    plt.close(figure)


if __name__ == "__main__":
    main()
