"""Recurrent (variational) dropout on a character model that overfits: the train/validation gap.

A one-layer LSTM character model with 256 units (about 300,000 parameters) trained on 27,000
characters of the standard-library text sees each character dozens of times: without
regularisation its training loss keeps falling while its loss on the held-out 10% turns and
rises. Recurrent dropout (Gal & Ghahramani 2016: one mask per sequence on h_(t-1), the same at
every step) is the regulariser this shows: every run has the same data, seed, steps and
learning-rate schedule, and only `recurrent_dropout` changes. Both losses are measured in
evaluation mode (no dropout) on the whole training and held-out texts, so the gap compares like
with like.

    python benchmarks/experiments/recurrent_dropout.py
    python benchmarks/experiments/recurrent_dropout.py --rates 0 0.5 --steps 800

Writes recurrent_dropout.png and recurrent_dropout.json beside this file.
"""

from __future__ import annotations

import argparse
import math
import platform
import time
from pathlib import Path

from _results import pyplot, save  # the sibling module (scripts run from this folder)

from seqgrad.data.corpus import stdlib_corpus
from seqgrad.data.tokenizers import CharTokenizer
from seqgrad.models.char_lm import CharLM
from seqgrad.random import manual_seed
from seqgrad.training.lm_trainer import TrainConfig, evaluate_char_lm, train_char_lm
from seqgrad.training.threads import limit_blas_threads


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chars", type=int, default=30_000, help="characters of text (90%% train, 10%% held out)")
    parser.add_argument("--rates", type=float, nargs="+", default=[0.0, 0.25, 0.5])
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--eval-every", type=int, default=50)
    parser.add_argument("--lr", type=float, default=3e-3)
    args = parser.parse_args()
    limit_blas_threads(1)

    text = stdlib_corpus(args.chars, seed=0)
    tokenizer = CharTokenizer().fit(text)
    ids = tokenizer.encode(text)
    split = int(0.9 * len(ids))
    train_ids, valid_ids = ids[:split], ids[split:]
    config = TrainConfig(steps=args.steps, batch_size=32, seq_len=64, lr=args.lr, eval_every=args.eval_every)

    runs = {}
    for rate in args.rates:
        manual_seed(0)
        model = CharLM(len(tokenizer.vocab), embedding_dim=32, hidden_size=args.hidden, cell="lstm",
                       recurrent_dropout=rate)
        train_losses = []

        def on_eval(step: int, valid_loss: float, model=model, train_losses=train_losses) -> None:
            train_losses.append(evaluate_char_lm(model, train_ids, batch_size=32, seq_len=64))

        started = time.perf_counter()
        history = train_char_lm(model, train_ids, config, valid_ids, progress=False, on_eval=on_eval)
        seconds = time.perf_counter() - started
        valid = history.eval_losses
        best = min(range(len(valid)), key=valid.__getitem__)
        runs[str(rate)] = {
            "recurrent_dropout": rate, "parameters": model.num_parameters(), "seconds": round(seconds, 1),
            "eval_steps": history.eval_steps, "train_bits": [loss / math.log(2) for loss in train_losses],
            "valid_bits": [loss / math.log(2) for loss in valid],
            "final_gap_bits": (valid[-1] - train_losses[-1]) / math.log(2),
            "best_valid_bits": valid[best] / math.log(2), "best_valid_step": history.eval_steps[best],
        }
        run = runs[str(rate)]
        print(f"recurrent dropout {rate}: train {run['train_bits'][-1]:.3f} bits/char, held out "
              f"{run['valid_bits'][-1]:.3f}, gap {run['final_gap_bits']:.3f}; best held out "
              f"{run['best_valid_bits']:.3f} at step {run['best_valid_step']} ({seconds:.0f} s)", flush=True)

    summary = {"characters": len(text), "train_characters": int(split), "hidden": args.hidden,
               "steps": args.steps, "lr": args.lr, "batch": 32, "seq_len": 64,
               "parameters": next(iter(runs.values()))["parameters"],
               "machine": f"{platform.machine()}, {platform.python_version()}", "runs": runs}
    save("recurrent_dropout", summary, plot)


def plot(summary: dict, path: Path) -> None:
    plt = pyplot()
    figure, (loss_ax, gap_ax) = plt.subplots(1, 2, figsize=(11, 4), layout="constrained")
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for colour, run in zip(colours, summary["runs"].values()):
        label = f"recurrent dropout {run['recurrent_dropout']:g}"
        loss_ax.plot(run["eval_steps"], run["train_bits"], color=colour, linestyle="--")
        loss_ax.plot(run["eval_steps"], run["valid_bits"], color=colour, label=label)
        gap = [valid - train for train, valid in zip(run["train_bits"], run["valid_bits"])]
        gap_ax.plot(run["eval_steps"], gap, color=colour, marker="o", markersize=3, label=label)
    loss_ax.set(xlabel="update", ylabel="bits per character",
                title=f"LSTM {summary['hidden']}, {summary['train_characters']:,} training characters\n"
                      "solid: held out, dashed: training text (both without dropout)")
    loss_ax.legend(frameon=False)
    gap_ax.axhline(0.0, color="gray", linewidth=0.8)
    gap_ax.set(xlabel="update", ylabel="held out − training (bits per character)", title="The generalisation gap")
    gap_ax.legend(frameon=False)
    figure.savefig(path, dpi=110)
    plt.close(figure)


if __name__ == "__main__":
    main()
