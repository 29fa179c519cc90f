"""The adding problem at T = 100 over several seeds: tanh RNN, identity-initialised ReLU RNN, LSTM, GRU.

Hochreiter & Schmidhuber (1997), repeated by Le, Jaitly & Hinton (2015): each sequence has
T random values and two markers, one in each half; the target is the sum of the two marked
values. Always predicting 1 scores MSE 1/6 ≈ 0.167; "solved" means test MSE < 0.01. For
one seed every network sees the same seeded batches and initialisation stream; the test set
is a separate stream of 1,000 sequences. Each network is trained once per seed, so the
table gives the spread (how many seeds solve it, and the range of steps and final errors),
not one lucky run.

The IRNN (Le et al. 2015) is an Elman RNN with ReLU, W_hh = I, zero biases and small
Gaussian input weights (std 0.001): at initialisation h_t = relu(h_{t-1} + W_ih x_t) copies
its state forward, so the gradient neither vanishes nor explodes at first.

    python benchmarks/experiments/adding_problem.py                  # four networks, seeds 0 1 2
    python benchmarks/experiments/adding_problem.py --cells lstm rnn --seeds 0 --steps 3000

On a busy machine the runs can be split over processes and joined afterwards:

    python adding_problem.py --cells lstm --seeds 0 --save-as adding_lstm_0   # ... one per part
    python adding_problem.py --combine adding_lstm_0.json adding_gru.json ... # -> adding_problem.json

Writes adding_problem.png and adding_problem.json beside this file. Takes tens of minutes:
it is a benchmark, not a test.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import numpy as np
from _results import pyplot, save  # the sibling module (scripts run from this folder)

from seqgrad.nn import RNN
from seqgrad.nn.init import normal_, zeros_
from seqgrad.random import manual_seed
from seqgrad.training.task_trainer import SequenceModel, build_task, train_task
from seqgrad.training.threads import limit_blas_threads

LABELS = {"rnn": "tanh RNN", "irnn": "IRNN (ReLU, W_hh = I)", "lstm": "LSTM", "gru": "GRU"}
COLOURS = {"rnn": "tab:red", "irnn": "tab:purple", "lstm": "tab:blue", "gru": "tab:green"}


def identity_relu_model(input_size: int, hidden_size: int, output_size: int, seed: int) -> SequenceModel:
    """Le et al.'s IRNN: ReLU Elman RNN, W_hh = I, biases 0, W_ih ~ N(0, 0.001²); a linear readout from h_T."""
    manual_seed(seed)
    model = SequenceModel("rnn", input_size, hidden_size, output_size, per_step=False)
    model.rnn = RNN(input_size, hidden_size, nonlinearity="relu")
    normal_(model.rnn.weight_ih_l0, std=0.001)
    model.rnn.weight_hh_l0.data = np.eye(hidden_size, dtype=model.rnn.weight_hh_l0.dtype)
    zeros_(model.rnn.bias_ih_l0)
    zeros_(model.rnn.bias_hh_l0)
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-T", type=int, default=100)
    parser.add_argument("--cells", nargs="+", default=["rnn", "irnn", "lstm", "gru"], choices=sorted(LABELS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=4000, help="most batches per network and seed")
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--lr", type=float, default=3e-3, help="Adam's step for the tanh RNN, LSTM and GRU")
    parser.add_argument("--irnn-lr", type=float, default=1e-3,
                        help="Adam's step for the IRNN (an unbounded ReLU state wants a smaller one)")
    parser.add_argument("--eval-every", type=int, default=100)
    parser.add_argument("--keep-going", action="store_true", help="train the full budget even once solved")
    parser.add_argument("--save-as", default="adding_problem", help="name of the JSON and figure written")
    parser.add_argument("--combine", nargs="+", metavar="JSON",
                        help="train nothing: join the runs of these result files into adding_problem.json")
    args = parser.parse_args()
    if args.combine:
        combine([Path(name) for name in args.combine])
        return
    limit_blas_threads(1)  # small matrices: one BLAS thread is as fast, and robust on a busy machine

    task = build_task("adding", args.T)
    results = {}
    for cell in args.cells:
        runs = []
        for seed in args.seeds:
            model = identity_relu_model(task.input_size, args.hidden, task.output_size, seed) if cell == "irnn" \
                else None
            lr = args.irnn_lr if cell == "irnn" else args.lr
            started = time.perf_counter()
            result, _ = train_task(task, "rnn" if cell == "irnn" else cell, args.steps, args.hidden, args.batch, lr,
                                   clip=1.0, seed=seed, test_size=1000, eval_every=args.eval_every,
                                   stop_when_solved=not args.keep_going, progress=False, model=model)
            seconds = time.perf_counter() - started
            runs.append({"seed": seed, "lr": lr, "steps": result.steps, "seconds": round(seconds, 1),
                         "final_test_mse": result.value, "solved_step": result.solved_step,
                         "eval_steps": result.eval_steps, "eval_mse": result.eval_values})
            solved = f"solved at step {result.solved_step}" if result.solved_step else "not solved"
            print(f"{LABELS[cell]:>22} seed {seed}: test MSE {result.value:.4f} after {result.steps} steps, "
                  f"{seconds:.0f} s; {solved}", flush=True)
        results[cell] = {"label": LABELS[cell], "runs": runs, **spread(runs)}

    summary = {"T": args.T, "hidden": args.hidden, "batch": args.batch, "lr": args.lr, "irnn_lr": args.irnn_lr,
               "seeds": args.seeds, "max_steps": args.steps, "baseline_mse": task.baseline,
               "machine": f"{platform.machine()}, {platform.python_version()}", "results": results}
    print(table(summary))
    save(args.save_as, summary, plot)


def combine(paths: list[Path]) -> None:
    """One summary from result files of the same settings (each holding some cells and seeds)."""
    parts = [json.loads(path.read_text()) for path in paths]
    settings = ("T", "hidden", "batch", "lr", "irnn_lr", "max_steps")
    for path, part in zip(paths, parts):
        different = [key for key in settings if part[key] != parts[0][key]]
        if different:
            raise SystemExit(f"{path} was run with other settings ({', '.join(different)}) than {paths[0]}")
    runs: dict[str, list[dict]] = {}
    for part in parts:
        for cell, result in part["results"].items():
            runs.setdefault(cell, []).extend(result["runs"])
    order = [cell for cell in LABELS if cell in runs]
    results = {cell: {"label": LABELS[cell], "runs": sorted(runs[cell], key=lambda run: run["seed"]),
                      **spread(runs[cell])} for cell in order}
    summary = {**{key: parts[0][key] for key in (*settings, "baseline_mse", "machine")},
               "seeds": sorted({run["seed"] for cell_runs in runs.values() for run in cell_runs}),
               "results": results}
    print(table(summary))
    save("adding_problem", summary, plot)


def spread(runs: list[dict]) -> dict:
    """What the seeds agree on: how many solved, the range of solving steps, median and range of final MSE."""
    finals = [run["final_test_mse"] for run in runs]
    solved = [run["solved_step"] for run in runs if run["solved_step"]]
    return {"solved": len(solved), "of": len(runs),
            "solved_steps": [min(solved), max(solved)] if solved else None,
            "final_mse_median": statistics.median(finals), "final_mse_range": [min(finals), max(finals)],
            "seconds_per_100_steps": round(100 * sum(run["seconds"] for run in runs)
                                           / sum(run["steps"] for run in runs), 2)}


def table(summary: dict) -> str:
    """The markdown table of benchmarks/experiments/README.md (no times: runs split over processes on a busy
    machine see different loads; gru_vs_lstm.py measures speed)."""
    lines = ["| network | solved (MSE < 0.01) | solved at batch | final test MSE: median (range) |",
             "|---|---:|---:|---:|"]
    for result in summary["results"].values():
        steps = result["solved_steps"]
        when = "–" if steps is None else (f"{steps[0]:,}" if steps[0] == steps[1] else f"{steps[0]:,}–{steps[1]:,}")
        low, high = result["final_mse_range"]
        lines.append(f"| {result['label']} | {result['solved']} of {result['of']} | {when} | "
                     f"{result['final_mse_median']:.4f} ({low:.4f}–{high:.4f}) |")
    return "\n".join(lines)


def plot(summary: dict, path: Path) -> None:
    plt = pyplot()

    figure, ax = plt.subplots(figsize=(10, 4.5), layout="constrained")
    for cell, result in summary["results"].items():
        for index, run in enumerate(result["runs"]):
            ax.plot(run["eval_steps"], run["eval_mse"], color=COLOURS[cell], alpha=0.8, linewidth=1.2,
                    label=f"{result['label']}: {result['solved']} of {result['of']} seeds solve" if index == 0
                    else None)
    ax.axhline(summary["baseline_mse"], color="gray", linestyle="--", label="always predict 1 (MSE 0.167)")
    ax.axhline(0.01, color="gray", linestyle=":", label="solved: MSE 0.01")
    ax.set_yscale("log")
    ax.set_xlabel("training batch")
    ax.set_ylabel("test mean squared error")
    ax.set_title(f"Adding problem, T = {summary['T']}, hidden {summary['hidden']}, batch {summary['batch']}, "
                 f"seeds {', '.join(map(str, summary['seeds']))} (one line each)")
    ax.grid(True, alpha=0.3)
    ax.legend(frameon=False, fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    figure.savefig(path, dpi=110)
    plt.close(figure)


if __name__ == "__main__":
    main()
