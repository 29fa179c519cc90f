"""Dates to ISO 8601 with and without attention, each trained for the same wall-clock budget.

Two `seqgrad.models.Seq2Seq` of the same size (embedding 32, bidirectional LSTM encoder of 64
units a direction, LSTM decoder of 64, input feeding), one with additive (Bahdanau)
attention and one without (the decoder sees the encoder's final states as a fixed context
at every step), train on the same seeded batches of `seqgrad.data.dates_task(seed=0)`
(20,000 training pairs, 1,000 validation, 1,000 test, no date in two splits) for the same
number of seconds of training (validation passes not counted), taking turns of 20 s so that
both see the same load on a shared machine. Then: held-out exact match on the 1,000 test
dates, greedy and beam search (k = 5); the attention of a few test sentences as heatmaps;
‖∂L/∂h_k‖ for every encoder step from the decoder's loss (the short path), at
initialisation (same seed, so the shared weights are equal) and after training. The
attention model is saved as seq2seq_dates_checkpoint.npz (notebook 07 and the alignment
test load it).

    python benchmarks/experiments/seq2seq_dates.py [--seconds 300]
    python benchmarks/experiments/seq2seq_dates.py --replot    # figures again, no training

Writes seq2seq_dates.json, seq2seq_dates.png (learning curves, gradient flow) and
seq2seq_dates_attention.png (heatmaps) beside this file.
"""

from __future__ import annotations

import argparse
import json
import os
import platform

import numpy as np
from _results import HERE, pyplot, save  # the sibling module (scripts run from this folder)

from seqgrad.data import dates_task
from seqgrad.models.seq2seq import alignment, load_checkpoint, save_checkpoint, translate
from seqgrad.training.seq2seq_trainer import Seq2SeqTrainer, build_model, encoder_gradient_flow, exact_match
from seqgrad.training.threads import limit_blas_threads
from seqgrad.viz.alignment import plot_alignment, plot_encoder_gradient

LABELS = {"additive": "additive attention", "none": "no attention (fixed context)"}
HEATMAP_SOURCES = 4


def train_in_turns(task, args) -> tuple[dict, dict]:
    """Both models take turns of `args.turn` seconds until each has trained `args.seconds`, so
    they share whatever load the machine is under."""
    models, trainers, loads = {}, {}, {}
    for attention in LABELS:
        models[attention] = build_model(task, attention=None if attention == "none" else attention,
                                        hidden_size=args.hidden, embedding_size=args.embedding, seed=args.seed)
        trainers[attention] = Seq2SeqTrainer(models[attention], task, batch_size=args.batch, lr=args.lr,
                                             seed=args.seed, eval_every=args.eval_every, eval_limit=500)
        loads[attention] = []
    while any(trainer.seconds < args.seconds for trainer in trainers.values()):
        for attention, trainer in trainers.items():
            left = args.seconds - trainer.seconds
            if left > 0:
                loads[attention].append(os.getloadavg()[0])
                trainer.train(seconds=min(args.turn, left))
    results = {}
    for attention, model in models.items():
        history = trainers[attention].history
        greedy = exact_match(model, task, "test")
        beam = exact_match(model, task, "test", beam_size=args.beam)
        reached = next((seconds for _, seconds, accuracy in history.validation if accuracy >= 0.97), None)
        results[attention] = {
            "parameters": model.num_parameters(), "steps": history.steps, "training_seconds": history.seconds[-1],
            "steps_per_second": history.steps / history.seconds[-1],
            "load_average_min_mean_max": [min(loads[attention]), float(np.mean(loads[attention])),
                                          max(loads[attention])],
            "test_exact_match_greedy": greedy, f"test_exact_match_beam{args.beam}": beam,
            "first_validation_at_97_percent_seconds": reached,
            "validation": [list(entry) for entry in history.validation],
            "loss_every_10_steps": [float(np.mean(history.losses[i:i + 10])) for i in range(0, history.steps, 10)],
            "seconds_every_10_steps": history.seconds[::10],
        }
        print(f"{LABELS[attention]}: {history.steps} steps in {history.seconds[-1]:.0f} s of training "
              f"({results[attention]['steps_per_second']:.1f}/s, load {min(loads[attention]):.1f}-"
              f"{max(loads[attention]):.1f}); 97% validation after {reached} s; test exact match greedy "
              f"{greedy:.1%}, beam {args.beam} {beam:.1%}", flush=True)
    return results, models


def gradient_sources(task, length: int = 24, count: int = 16) -> list[str]:
    """Test sources of one length (so encoder steps line up across sentences)."""
    chosen = [source for source, _ in task.test if len(source) == length][:count]
    if not chosen:
        raise ValueError(f"no test source has {length} characters")
    return chosen


def heatmaps(task, model) -> list[dict]:
    """Attention weights of the first few test sentences, trimmed to their own lengths."""
    examples = [source for source, _ in task.test[:HEATMAP_SOURCES]]
    outputs, decoding = translate(model, task, examples)
    found = []
    for index, (source, output) in enumerate(zip(examples, outputs)):
        tokens, weights = alignment(decoding, task, index, len(source))
        found.append({"source": source, "output": output, "output_tokens": tokens, "weights": weights.tolist()})
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=300.0, help="training seconds per model (default 300)")
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--embedding", type=int, default=32)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--beam", type=int, default=5)
    parser.add_argument("--eval-every", type=int, default=100)
    parser.add_argument("--turn", type=float, default=20.0, help="seconds per turn of each model (default 20)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--replot", action="store_true", help="redraw the figures from the saved results")
    args = parser.parse_args()
    limit_blas_threads(1)  # small matrices: one BLAS thread is as fast, and robust on a busy machine

    task = dates_task(seed=args.seed)
    summary = {"settings": {**vars(args), "task": repr(task), "task_seed": args.seed, "weights_seed": args.seed,
                            "batch_seed": args.seed, "machine": f"{platform.machine()}, {os.cpu_count()} cores",
                            "python": platform.python_version()}, "models": {}}
    if args.replot:   # figures (and heatmaps) again from the saved results and checkpoint, no training
        summary = json.loads((HERE / "seq2seq_dates.json").read_text())
        model, _, _ = load_checkpoint(HERE / "seq2seq_dates_checkpoint.npz", task="dates")
        summary["heatmaps"] = heatmaps(task, model)
        save("seq2seq_dates", summary, plot)
        plot_heatmaps(summary, HERE / "seq2seq_dates_attention.png")
        return
    summary["models"], models = train_in_turns(task, args)

    sources = gradient_sources(task)
    summary["gradient_flow"] = {"sources": len(sources), "length": len(sources[0]), "initial": {}, "trained": {}}
    for attention, model in models.items():
        fresh = build_model(task, attention=None if attention == "none" else attention, hidden_size=args.hidden,
                            embedding_size=args.embedding, seed=args.seed)
        for when, measured in (("initial", fresh), ("trained", model)):
            flows = encoder_gradient_flow(measured, task, sources)
            summary["gradient_flow"][when][attention] = {key: value.tolist() for key, value in flows.items()}

    summary["heatmaps"] = heatmaps(task, models["additive"])
    save_checkpoint(HERE / "seq2seq_dates_checkpoint.npz", models["additive"], task,
                    extra={"task_seed": args.seed, "sizes": [len(task.train), len(task.validation), len(task.test)],
                           "test_exact_match_greedy": summary["models"]["additive"]["test_exact_match_greedy"]})
    save("seq2seq_dates", summary, plot)
    plot_heatmaps(summary, HERE / "seq2seq_dates_attention.png")
    print(f"wrote {HERE / 'seq2seq_dates_attention.png'} and {HERE / 'seq2seq_dates_checkpoint.npz'}")


def plot(summary: dict, path) -> None:
    plt = pyplot()
    figure, (curve, by_step, loss, flow) = plt.subplots(1, 4, figsize=(20, 4.2), layout="constrained")
    for attention, result in summary["models"].items():
        validation = np.array(result["validation"], dtype=float).reshape(-1, 3)
        curve.plot(validation[:, 1], validation[:, 2] * 100, marker="o", markersize=3, label=LABELS[attention])
        by_step.plot(validation[:, 0], validation[:, 2] * 100, marker="o", markersize=3, label=LABELS[attention])
        loss.plot(result["seconds_every_10_steps"], result["loss_every_10_steps"], label=LABELS[attention])
    for ax, unit in ((curve, "training seconds"), (by_step, "training batches (64 pairs)")):
        ax.axhline(97, color="grey", linestyle=":", linewidth=1)
        ax.set_xlabel(unit)
        ax.set_ylabel("validation exact match, greedy (%)")
        ax.legend(frameon=False)
    curve.set_title("dates to ISO 8601: same size, same time")
    by_step.set_title("the same runs, by batch")
    loss.set_yscale("log")
    loss.set_xlabel("training seconds")
    loss.set_ylabel("training cross-entropy (nats / token)")
    loss.legend(frameon=False)
    flows = {f"{LABELS[attention]}, at initialisation": values
             for attention, values in summary["gradient_flow"]["initial"].items()}
    plot_encoder_gradient(flows, ax=flow, title=f"the short path: {summary['gradient_flow']['sources']} test dates "
                                                f"of {summary['gradient_flow']['length']} characters")
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
