"""`seqgrad seq2seq`: train an encoder-decoder with attention on a translation task (dates to ISO
8601 by default), report held-out exact match greedy and with beam search, and write its
pictures: attention heatmaps, the learning curve, the decoder's unrolled graph and the
gradient that reaches each encoder step, with and without attention."""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ..cli import UsageError
from ..data import dates_task, reversal_task, sorting_task
from ..models.seq2seq import ATTENTIONS, CELLS, alignment, save_checkpoint, translate
from ..training.process import prepare_training_process
from ..training.seq2seq_trainer import build_model, encoder_gradient_flow, exact_match, train_seq2seq
from ._options import one_line_errors, positive_float, positive_int, seed

TASKS = {"dates": dates_task, "reversal": reversal_task, "sorting": sorting_task}

DESCRIPTION = """\
Train a sequence-to-sequence model (bidirectional encoder, decoder with input feeding,
attention) and write to --output:
  attention.png      attention weights of a few test sentences (the soft alignment)
  learning_curve.png training loss and validation exact match
  decoder_graph.svg  the unrolled graph at cell level, a few decoder steps
  gradient_flow.png  ||dL/dh_k|| for every encoder step, with and without attention
  model.npz          the checkpoint (`seqgrad translate --checkpoint model.npz "3 March 2021"`)
"""


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser("seq2seq", help="train an encoder-decoder with attention (dates to ISO 8601)",
                                   description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    one_line_errors(parser)
    parser.add_argument("--task", choices=sorted(TASKS), default="dates", help="default: dates")
    parser.add_argument("--attention", choices=ATTENTIONS, default="additive", help="default: additive")
    parser.add_argument("--cell", choices=sorted(CELLS), default="lstm", help="default: lstm")
    parser.add_argument("--seconds", type=positive_float, default=300.0,
                        help="training time budget in seconds, validation excluded (default: 300)")
    parser.add_argument("--steps", type=positive_int, default=None, help="stop after this many batches too")
    parser.add_argument("--hidden", type=positive_int, default=64, help="hidden units (default: 64)")
    parser.add_argument("--embedding", type=positive_int, default=32, help="embedding size (default: 32)")
    parser.add_argument("--batch", type=positive_int, default=64, help="pairs per batch (default: 64)")
    parser.add_argument("--lr", type=positive_float, default=3e-3, help="Adam learning rate (default: 0.003)")
    parser.add_argument("--teacher-forcing", type=float, default=1.0,
                        help="probability of feeding the true previous token (default: 1.0)")
    parser.add_argument("--beam", type=positive_int, default=5, help="beam width (default: 5)")
    parser.add_argument("--train-size", type=positive_int, default=20000, help="training pairs (default: 20000)")
    parser.add_argument("--test-size", type=positive_int, default=1000,
                        help="validation and test pairs each (default: 1000)")
    parser.add_argument("--examples", type=positive_int, default=4, help="translations shown (default: 4)")
    parser.add_argument("--compare-plain", action="store_true",
                        help="also train the same model without attention for the same time, and compare")
    parser.add_argument("--output", type=Path, default=Path("seq2seq_output"), help="default: ./seq2seq_output")
    parser.add_argument("--seed", type=seed, default=0, help="default: 0")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def _model(task, attention: str, args):
    """A fresh model of the command's sizes and cell; attention "none" is the plain encoder-decoder."""
    return build_model(task, attention=None if attention == "none" else attention, hidden_size=args.hidden,
                       embedding_size=args.embedding, cell=args.cell, seed=args.seed)


def _train(task, attention: str, args, label: str):
    model = _model(task, attention, args)
    bar = tqdm(total=args.steps, desc=label, unit="step", disable=args.no_progress, dynamic_ncols=True, leave=False)
    shown = {"accuracy": None}

    def progress(step: int, loss: float, accuracy: float | None) -> None:
        if accuracy is not None:
            shown["accuracy"] = accuracy
        bar.update(1)
        postfix = {"loss": f"{loss:.3f}"}
        if shown["accuracy"] is not None:
            postfix["validation"] = f"{shown['accuracy']:.1%}"
        bar.set_postfix(postfix, refresh=False)

    try:
        history = train_seq2seq(model, task, seconds=args.seconds, steps=args.steps, batch_size=args.batch,
                                lr=args.lr, teacher_forcing=args.teacher_forcing, seed=args.seed,
                                eval_every=max(50, min(250, (args.steps or 10**9) // 5)), progress=progress)
    finally:
        bar.close()
    return model, history


def run(args: argparse.Namespace) -> int:
    if not 0.0 <= args.teacher_forcing <= 1.0:
        raise UsageError(f"--teacher-forcing must be in [0, 1], got {args.teacher_forcing}")
    if args.attention == "dot":
        raise UsageError(f"--attention dot needs the decoder's hidden size ({args.hidden}) to equal the size of "
                         f"the bidirectional encoder's outputs ({2 * args.hidden}); use --attention general")
    output = args.output
    if output.exists() and not output.is_dir():
        raise UsageError(f"--output {output} exists and is not a folder")
    output.mkdir(parents=True, exist_ok=True)
    prepare_training_process()  # small matrices: one BLAS thread throughout
    task = TASKS[args.task](sizes=(args.train_size, args.test_size, args.test_size), seed=args.seed)
    print(f"{task.name}: {task.description}; {len(task.train)} training pairs, {len(task.test)} test pairs")
    model, history = _train(task, args.attention, args, f"{args.attention} attention")
    print(f"trained {history.steps} batches of {args.batch} in {history.seconds[-1]:.0f} s "
          f"({model.num_parameters():,} parameters)")
    greedy = exact_match(model, task, "test")
    beam = exact_match(model, task, "test", beam_size=args.beam)
    print(f"test exact match: greedy {greedy:.1%}, beam {args.beam} {beam:.1%}")
    plain = None
    if args.compare_plain and args.attention != "none":
        plain, plain_history = _train(task, "none", args, "no attention")
        print(f"without attention, same size and time ({plain_history.steps} batches): test exact match greedy "
              f"{exact_match(plain, task, 'test'):.1%}, beam {args.beam} "
              f"{exact_match(plain, task, 'test', beam_size=args.beam):.1%}")

    examples = [source for source, _ in task.test[:args.examples]]
    outputs, decoding = translate(model, task, examples)
    for index, (source, translation) in enumerate(zip(examples, outputs)):
        print(f"  {source!r} -> {translation!r}")
        tokens, weights = alignment(decoding, task, index, len(source))
        if weights is not None:
            print("      argmax alignment: " + "  ".join(f"{token}<{source[position]!r}@{position}"
                                                         for token, position in zip(tokens, weights.argmax(axis=1))))

    written = [save_checkpoint(output / "model.npz", model, task, extra={"task_seed": args.seed})]
    written += _figures(model, plain, task, history, examples, outputs, decoding, args, output)
    print("wrote " + ", ".join(str(path) for path in written))
    return 0


def _figures(model, plain, task, history, examples, outputs, decoding, args, output: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..viz import draw, record, render
    from ..viz.alignment import plot_alignment, plot_encoder_gradient

    written = []
    if decoding.weights is not None:
        figure, axes = plt.subplots(1, len(examples), figsize=(4.2 * len(examples), 3.4), layout="constrained")
        for index, ax in enumerate(np.atleast_1d(axes)):
            tokens, weights = alignment(decoding, task, index, len(examples[index]))
            plot_alignment(weights, list(examples[index]), tokens, ax=ax,
                           title=f"{examples[index]} -> {outputs[index]}")
        written.append(_save(figure, output / "attention.png", plt))

    figure, (loss_ax, accuracy_ax) = plt.subplots(1, 2, figsize=(10, 3.6), layout="constrained")
    loss_ax.plot(np.arange(1, history.steps + 1), history.losses, linewidth=0.8)
    loss_ax.set_yscale("log")
    loss_ax.set_xlabel("batch")
    loss_ax.set_ylabel("training cross-entropy (nats / token)")
    if history.validation:
        steps, _, accuracy = zip(*history.validation)
        accuracy_ax.plot(steps, np.array(accuracy) * 100, marker="o")
    accuracy_ax.set_xlabel("batch")
    accuracy_ax.set_ylabel("validation exact match, greedy (%)")
    written.append(_save(figure, output / "learning_curve.png", plt))

    # The decoder unrolled at cell level for one short sentence: each decoder step one box,
    # its attention reading every encoder step.
    sources, lengths = task.encode_sources(examples[:1])
    short = task.encode_targets([task.test[0][1]])
    model.train()
    loss = model.loss(sources, lengths, short[:3])
    with record():  # gradient norms for the drawing's heat
        loss.backward()
    render(draw(loss, level="cell", title=f"Seq2Seq: 3 decoder steps of {examples[0]!r}"),
           output / "decoder_graph.svg")
    model.zero_grad()
    written.append(output / "decoder_graph.svg")

    # The longest test sources that at least 8 share (the longer, the clearer the short path).
    counts = Counter(len(source) for source, _ in task.test)
    length = max((size for size, count in counts.items() if count >= 8), default=len(examples[0]))
    same_length = [source for source, _ in task.test if len(source) == length][:32]
    flows = {}
    if model.attention is not None:
        flows["attention, trained"] = encoder_gradient_flow(model, task, same_length)
    if plain is not None:
        flows["no attention, trained"] = encoder_gradient_flow(plain, task, same_length)
    for attention in (args.attention, "none"):
        fresh = _model(task, attention, args)
        flows[f"{'no attention' if attention == 'none' else 'attention'}, untrained"] = \
            encoder_gradient_flow(fresh, task, same_length)
    figure, ax = plt.subplots(figsize=(7, 4), layout="constrained")
    plot_encoder_gradient(flows, ax=ax, title=f"gradient reaching each encoder step ({len(same_length)} test "
                                               f"sources of {length} characters)")
    written.append(_save(figure, output / "gradient_flow.png", plt))
    return written


def _save(figure, path: Path, plt) -> Path:
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path

