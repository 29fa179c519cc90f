"""Dates to ISO 8601 with and without attention, each trained for the same wall-clock budget.

Two `seqgrad.models.Seq2Seq` of the same size (embedding 32, bidirectional LSTM encoder of 64
units a direction, LSTM decoder of 64, input feeding), one with additive (Bahdanau)
attention and one without (the decoder sees the encoder's final states as a fixed context
at every step), train on the same seeded batches of `seqgrad.data.dates_task(seed=0)`
(20,000 training pairs, 1,000 validation, 1,000 test, no date in two splits) for the same
number of seconds of training (validation passes not counted). Then: held-out exact match
on the 1,000 test dates, greedy and beam search (k = 5); the attention of a few test
sentences as heatmaps; ‖∂L/∂h_k‖ for every encoder step from the decoder's loss (the short
path). The attention model is saved as seq2seq_dates_checkpoint.npz (notebook 07 and the
alignment test load it).

    python benchmarks/experiments/seq2seq_dates.py [--seconds 300]

Writes seq2seq_dates.json, seq2seq_dates.png (learning curves, gradient flow) and
seq2seq_dates_attention.png (heatmaps) beside this file.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np
from _results import HERE, pyplot, save  # the sibling module (scripts run from this folder)

from seqgrad.data import dates_task
from seqgrad.models.seq2seq import alignment, save_checkpoint, translate
from seqgrad.training.seq2seq_trainer import build_model, encoder_gradient_flow, exact_match, train_seq2seq
from seqgrad.training.threads import limit_blas_threads
from seqgrad.viz.alignment import plot_alignment, plot_encoder_gradient

LABELS = {"additive": "additive attention", "none": "no attention (fixed context)"}
HEATMAP_SOURCES = 4


def run_one(task, attention: str, args) -> tuple[dict, object]:
    model = build_model(task, attention=None if attention == "none" else attention, hidden_size=args.hidden,
                        embedding_size=args.embedding, seed=args.seed)
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    history = train_seq2seq(model, task, seconds=args.seconds, batch_size=args.batch, lr=args.lr, seed=args.seed,
                            eval_every=args.eval_every, eval_limit=500)
    wall = time.perf_counter() - started
    load_after = os.getloadavg()[0]
    greedy = exact_match(model, task, "test")
    beam = exact_match(model, task, "test", beam_size=args.beam)
    reached = next((seconds for _, seconds, accuracy in history.validation if accuracy >= 0.97), None)
    result = {
        "parameters": model.num_parameters(), "steps": history.steps, "training_seconds": history.seconds[-1],
        "wall_seconds_with_validation": wall, "steps_per_second": history.steps / history.seconds[-1],
        "load_average_before_after": [load_before, load_after],
        "test_exact_match_greedy": greedy, f"test_exact_match_beam{args.beam}": beam,
        "first_validation_at_97_percent_seconds": reached,
        "validation": [list(entry) for entry in history.validation],
        "loss_every_10_steps": [float(np.mean(history.losses[i:i + 10])) for i in range(0, history.steps, 10)],
        "seconds_every_10_steps": history.seconds[::10],
    }
    print(f"{LABELS[attention]}: {history.steps} steps in {history.seconds[-1]:.0f} s of training "
          f"({result['steps_per_second']:.1f}/s, load {load_before:.1f}->{load_after:.1f}); test exact match "
          f"greedy {greedy:.1%}, beam {args.beam} {beam:.1%}", flush=True)
    return result, model


def gradient_sources(task, length: int = 14, count: int = 32) -> list[str]:
    """Test sources of one length (so encoder steps line up across sentences)."""
    chosen = [source for source, _ in task.test if len(source) == length][:count]
    if not chosen:
        raise ValueError(f"no test source has {length} characters")
    return chosen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=300.0, help="training seconds per model (default 300)")
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--embedding", type=int, default=32)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--beam", type=int, default=5)
    parser.add_argument("--eval-every", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    limit_blas_threads(1)  # small matrices: one BLAS thread is as fast, and robust on a busy machine

    task = dates_task(seed=args.seed)
    summary = {"settings": {**vars(args), "task": repr(task), "task_seed": args.seed, "weights_seed": args.seed,
                            "batch_seed": args.seed, "machine": f"{platform.machine()}, {os.cpu_count()} cores",
                            "python": platform.python_version()}, "models": {}}
    models = {}
    for attention in LABELS:
        summary["models"][attention], models[attention] = run_one(task, attention, args)

    sources = gradient_sources(task)
    summary["gradient_flow"] = {"sources": len(sources), "length": len(sources[0]), "models": {}}
    for attention, model in models.items():
        flows = encoder_gradient_flow(model, task, sources)
        summary["gradient_flow"]["models"][attention] = {key: value.tolist() for key, value in flows.items()}

    examples = [source for source, _ in task.test[:HEATMAP_SOURCES]]
    outputs, decoding = translate(models["additive"], task, examples)
    summary["heatmaps"] = []
    for index, (source, output) in enumerate(zip(examples, outputs)):
        tokens, weights = alignment(decoding, task, index, len(source))
        summary["heatmaps"].append({"source": source, "output": output, "output_tokens": tokens,
                                    "weights": weights.tolist()})
    save_checkpoint(HERE / "seq2seq_dates_checkpoint.npz", models["additive"], task,
                    extra={"task_seed": args.seed, "sizes": [len(task.train), len(task.validation), len(task.test)],
                           "test_exact_match_greedy": summary["models"]["additive"]["test_exact_match_greedy"]})
    save("seq2seq_dates", summary, plot)
    plot_heatmaps(summary, HERE / "seq2seq_dates_attention.png")
    print(f"wrote {HERE / 'seq2seq_dates_attention.png'} and {HERE / 'seq2seq_dates_checkpoint.npz'}")


def plot(summary: dict, path) -> None:
    plt = pyplot()
    figure, (curve, loss, flow) = plt.subplots(1, 3, figsize=(15, 4.2), layout="constrained")
    for attention, result in summary["models"].items():
        validation = np.array(result["validation"], dtype=float).reshape(-1, 3)
        curve.plot(validation[:, 1], validation[:, 2] * 100, marker="o", markersize=3, label=LABELS[attention])
        loss.plot(result["seconds_every_10_steps"], result["loss_every_10_steps"], label=LABELS[attention])
    curve.axhline(97, color="grey", linestyle=":", linewidth=1)
    curve.set_xlabel("training seconds")
    curve.set_ylabel("validation exact match, greedy (%)")
    curve.set_title("dates to ISO 8601: same size, same time")
    curve.legend(frameon=False)
    loss.set_yscale("log")
    loss.set_xlabel("training seconds")
    loss.set_ylabel("training cross-entropy (nats / token)")
    loss.legend(frameon=False)
    flows = {LABELS[attention]: values for attention, values in summary["gradient_flow"]["models"].items()}
    plot_encoder_gradient(flows, ax=flow, title=f"gradient reaching each encoder step "
                                                f"({summary['gradient_flow']['sources']} test dates)")
    figure.savefig(path, dpi=110)
    plt.close(figure)


def plot_heatmaps(summary: dict, path) -> None:
    plt = pyplot()
    examples = summary["heatmaps"]
    figure, axes = plt.subplots(1, len(examples), figsize=(4.2 * len(examples), 3.4), layout="constrained")
    for ax, example in zip(np.atleast_1d(axes), examples):
        plot_alignment(np.array(example["weights"]), list(example["source"]), example["output_tokens"], ax=ax,
                       title=f"{example['source']} -> {example['output']}")
    figure.savefig(path, dpi=110)
    plt.close(figure)


if __name__ == "__main__":
    main()
