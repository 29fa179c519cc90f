"""`seqgrad demo` (and `make demo`): what seqgrad is for, in about a minute and a half on two cores.

Trains a character-level LSTM language model on the docstrings of Python's standard library
(no download) with truncated BPTT and gradient clipping, prints samples at two temperatures
and the held-out bits per character next to the unigram baseline, and writes into --out:
the learning curve, the unrolled graph of a few steps with the gradient's size on every
node, the gradient flow through time of a tanh RNN, an LSTM and a GRU, and the checkpoint.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from .. import random as seqgrad_random
from ..atomic import check_writable
from ..autodiff.tape import scope
from ..cli import UsageError
from ..data import CharTokenizer, stdlib_corpus, unigram_bits_per_char
from ..models.char_lm import CharLM, sample
from ..training.lm_checkpoint import save_char_lm
from ..training.lm_trainer import TrainConfig, bits, train_char_lm
from ..training.process import prepare_training_process
from ..training.text import split_held_out
from ._options import one_line_errors, positive_int, seed

CHECKPOINT = "char_lm.npz"
LEARNING_CURVE = "learning_curve.png"
UNROLLED_GRAPH = "unrolled_graph.svg"
GRADIENT_FLOW = "gradient_flow.png"
SAMPLES = "samples.txt"
EXPLORER = "explorer.html"
OUTPUTS = (LEARNING_CURVE, UNROLLED_GRAPH, GRADIENT_FLOW, EXPLORER, CHECKPOINT, SAMPLES)


@dataclass(frozen=True)
class DemoSettings:
    """Sizes of the demo run. The full run is tuned to finish in about 90 s on two cores."""

    max_chars: int | None = None
    embedding: int = 32
    hidden: int = 256
    batch: int = 64
    seq_len: int = 64
    steps: int = 300
    lr: float = 1e-2
    clip: float = 1.0
    evaluations: int = 5
    sample_length: int = 240
    graph_steps: int = 3
    explorer_steps: int = 20
    flow_steps: int = 60
    flow_hidden: int = 64


FULL = DemoSettings()
QUICK = DemoSettings(max_chars=40_000, embedding=16, hidden=32, batch=16, seq_len=32, steps=12, lr=1e-2,
                     evaluations=2, sample_length=60, graph_steps=2, explorer_steps=6, flow_steps=20, flow_hidden=16)
TEMPERATURES = (0.5, 1.0)
PROMPT = "Return the "


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "demo", help="train a char-level LSTM on embedded text and draw what BPTT does (~90 s)",
        description=__doc__.split("\n\n", 1)[1], formatter_class=argparse.RawDescriptionHelpFormatter)
    one_line_errors(parser)
    parser.add_argument("--out", type=Path, default=Path("seqgrad-demo"),
                        help="folder for the figures and the checkpoint (default: ./seqgrad-demo)")
    parser.add_argument("--steps", type=positive_int, default=None,
                        help=f"training updates (default: {FULL.steps}; {QUICK.steps} with --quick)")
    parser.add_argument("--quick", action="store_true",
                        help="a tiny model on a slice of the text: a few seconds, to check the pipeline")
    parser.add_argument("--seed", type=seed, default=0, help="default: 0 (same seed, same result)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--eager", action="store_true",
                        help="train with the LSTM run op by op instead of as generated code (to compare speed)")
    return parser


def check_output_folder(out: Path) -> None:
    """Refuse, before any work, an --out that is a file or sits under one; existing demo files are
    replaced, nothing else in the folder is touched."""
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} exists and is not a folder")
    for parent in out.parents:
        if parent.exists():
            if not parent.is_dir():
                raise UsageError(f"--out {out}: {parent} is a file, not a folder")
            break
    for name in OUTPUTS:
        if (out / name).is_dir():
            raise UsageError(f"--out {out}: {out / name} is a folder; the demo would write a file there")
    # The folder, or the nearest existing one it would be created in, must take a new file.
    existing = next(folder for folder in (out, *out.parents) if folder.exists())
    try:
        check_writable(existing / CHECKPOINT)
    except OSError as error:
        raise UsageError(f"--out {out}: cannot write in {existing} ({error.strerror})") from None


def run(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    threads = prepare_training_process()
    settings = QUICK if args.quick else FULL
    if args.steps is not None:
        settings = replace(settings, steps=args.steps)
    check_output_folder(args.out)
    progress = not args.no_progress

    text = stdlib_corpus(settings.max_chars, seed=args.seed)
    train_text, valid_text = split_held_out(text, 0.05)
    tokenizer = CharTokenizer().fit(text)
    train_ids, valid_ids = tokenizer.encode(train_text), tokenizer.encode(valid_text)
    baseline = unigram_bits_per_char(valid_text)
    seqgrad_random.manual_seed(args.seed)
    model = CharLM(len(tokenizer.vocab), settings.embedding, settings.hidden, "lstm")
    config = TrainConfig(steps=settings.steps, batch_size=settings.batch, seq_len=settings.seq_len, lr=settings.lr,
                         clip=settings.clip, seed=args.seed,
                         eval_every=max(settings.steps // settings.evaluations, 1))

    print("seqgrad demo: a character-level LSTM language model, trained by backpropagation through time")
    print(f"  text: docstrings of Python's standard library, {len(train_text):,} characters to learn from, "
          f"{len(valid_text):,} held out; {len(tokenizer.vocab)} distinct tokens")
    print(f"  model: embedding {settings.embedding} -> LSTM {settings.hidden} -> softmax, "
          f"{model.num_parameters():,} parameters")
    print(f"  training: {config.steps} Adam updates, each on {config.batch_size} streams × {config.seq_len} "
          f"characters (truncated BPTT: the state crosses windows, the gradient does not), "
          f"gradient norm clipped to {config.clip}")
    print(f"  a model that knows only how often each character occurs needs {baseline:.2f} bits per character")
    history = train_char_lm(model, train_ids, config, valid_ids=valid_ids, progress=progress, eager=args.eager,
                            after_update=threads.update)
    print(f"training throughput: {history.characters_per_second:,.0f} characters per second "
          f"({'eager' if args.eager else 'compiled'} LSTM; --eager to compare)")
    final = bits(history.eval_losses[-1])
    print(f"held-out text: {final:.2f} bits per character, against {baseline:.2f} for the unigram baseline: "
          + verdict(final, baseline))

    samples = []
    for temperature in TEMPERATURES:
        drawn = sample(model, tokenizer, PROMPT, settings.sample_length, temperature, seed=args.seed)
        samples.append((temperature, PROMPT + drawn))
        print(f"\nsample at temperature {temperature}:\n  " + "\n  ".join((PROMPT + drawn).splitlines()))

    drawing = unrolled_graph(model, tokenizer, valid_text, settings.graph_steps)
    flows = gradient_flows(model, tokenizer, valid_text, settings, args.seed)

    args.out.mkdir(parents=True, exist_ok=True)
    from ..training.learning_curve import plot_learning_curve
    from ..viz import render

    written = [
        plot_learning_curve(history, args.out / LEARNING_CURVE, baseline,
                            title=f"LSTM {settings.hidden} on standard-library docstrings"),
        render(drawing, args.out / UNROLLED_GRAPH),
        plot_flows(flows, args.out / GRADIENT_FLOW, settings.flow_steps),
        explorer_page(model, tokenizer, valid_text, settings.explorer_steps, args.out / EXPLORER),
        save_char_lm(args.out / CHECKPOINT, model, tokenizer,
                     {"source": "stdlib_corpus", "seed": args.seed, "steps": history.steps,
                      "held_out_bits_per_char": final, "unigram_bits_per_char": baseline,
                      "train": {**vars(config)}}),
        write_samples(args.out / SAMPLES, samples, final, baseline, history.steps),
    ]
    print(f"\nwritten to {args.out}/:")
    descriptions = {
        LEARNING_CURVE: "training and held-out bits per character against the unigram baseline",
        UNROLLED_GRAPH: f"the unrolled graph of {settings.graph_steps} LSTM steps, coloured by ||dL/d node||",
        GRADIENT_FLOW: "||dL/dh_k|| back in time: tanh RNN vs LSTM vs GRU, and this trained LSTM",
        EXPLORER: f"the trained LSTM over {settings.explorer_steps} characters as an interactive page: step "
                  "through backward, each step's share of W_hh's gradient",
        CHECKPOINT: f"the trained model (seqgrad sample --checkpoint {args.out / CHECKPOINT})",
        SAMPLES: "the samples above and the final numbers",
    }
    for path in written:
        print(f"  {path.name:<20} {descriptions[path.name]}")
    print(f"done in {time.perf_counter() - started:.0f} s")
    return 0


def verdict(final: float, baseline: float) -> str:
    """How the model compares with the unigram baseline, in words."""
    perplexities = f"perplexity {2 ** final:.1f} vs {2 ** baseline:.1f}"
    if final < baseline:
        return f"{1 - final / baseline:.0%} fewer bits ({perplexities}): it learned more than letter frequencies"
    return f"{final / baseline - 1:.0%} more bits ({perplexities}): too few updates to learn yet"


def _graph_text(tokenizer: CharTokenizer, text: str, length: int) -> np.ndarray:
    """The first `length` + 1 ids of a held-out line (inputs and their next characters)."""
    line = next((line for line in text.splitlines() if len(line) > length), text)
    return tokenizer.encode(line[: length + 1])


def unrolled_graph(model: CharLM, tokenizer: CharTokenizer, text: str, steps: int):
    """The trained model run over `steps` characters, its loss backpropagated, drawn op by op
    with every node coloured by the size of its gradient (seqgrad.viz)."""
    from ..nn.functional import cross_entropy
    from ..viz import draw, record

    ids = _graph_text(tokenizer, text, steps)
    model.eval()
    with scope("CharLM"):
        logits, _ = model(ids[:-1, None])
        loss = cross_entropy(logits.reshape(-1, logits.shape[-1]), ids[1:])
    with record():  # gradient norms for the drawing's heat
        loss.backward()
    read, predicted = (tokenizer.decode(part).replace("\n", "\\n") for part in (ids[:-1], ids[1:]))
    drawing = draw(loss, level="op", title=f"The trained LSTM unrolled over {steps} steps: it reads {read!r} "
                                           f"and is scored on predicting {predicted!r}")
    model.zero_grad()  # after drawing: the parameters' gradients are part of the picture
    return drawing


def explorer_page(model: CharLM, tokenizer: CharTokenizer, text: str, steps: int, path: Path) -> Path:
    """The trained model over `steps` held-out characters as the interactive page of seqgrad.viz.explore."""
    from ..nn.functional import cross_entropy
    from ..viz import explore

    ids = _graph_text(tokenizer, text, steps)
    model.eval()
    with scope("CharLM"):
        logits, _ = model(ids[:-1, None])
        loss = cross_entropy(logits.reshape(-1, logits.shape[-1]), ids[1:])
    read = tokenizer.decode(ids[:-1]).replace("\n", "\\n")
    return explore(loss, path, title=f"seqgrad explorer · the trained LSTM reading {read!r}").path


def gradient_flows(model: CharLM, tokenizer: CharTokenizer, text: str, settings: DemoSettings, seed: int) -> dict:
    """||dL/dh_k|| for every step k when the loss is the prediction at the last step only, for a
    fresh tanh RNN, LSTM and GRU and for the trained LSTM, on the same held-out text.

    One backward pass each; the norm at distance T-k is how much the last prediction can learn
    from step k. The fresh models use a smaller hidden size: the point is the shape of the decay.
    """
    from ..bptt.flow import hidden_grad_norms
    from ..nn.functional import cross_entropy
    from ..viz import record

    streams = 16
    ids = tokenizer.encode(text[: streams * (settings.flow_steps + 1)])
    ids = ids[: streams * (settings.flow_steps + 1)].reshape(streams, settings.flow_steps + 1).T
    fresh = {}
    seqgrad_random.manual_seed(seed + 1)
    for cell, label in (("rnn", "tanh RNN"), ("lstm", "LSTM"), ("gru", "GRU")):
        fresh[f"{label}, initial weights"] = CharLM(len(tokenizer.vocab), settings.embedding, settings.flow_hidden,
                                                    cell)
    flows = {}
    for label, network in {**fresh, f"LSTM {settings.hidden}, trained (this demo)": model}.items():
        network.eval()
        logits, _ = network(ids[:-1])
        loss = cross_entropy(logits[-1], ids[-1])
        with record():
            loss.backward()
        flows[label] = hidden_grad_norms(loss)
        network.zero_grad()
    return flows


def plot_flows(flows: dict, path: Path, steps: int) -> Path:
    """The gradient-flow figure (seqgrad.viz.plots.plot_gradient_flow), the trained model dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..viz.plots import plot_gradient_flow

    figure, ax = plt.subplots(figsize=(7.0, 4.4), layout="constrained")
    try:
        plot_gradient_flow(flows, ax=ax, title=f"How far back the last prediction's gradient reaches ({steps} steps)")
        lines = ax.get_lines()
        if lines:
            lines[-1].set_linestyle("--")
            lines[-1].set_color("black")
        ax.legend(frameon=False, fontsize="small")
        figure.savefig(path, dpi=110)
    finally:
        plt.close(figure)
    return path


def write_samples(path: Path, samples: list, final: float, baseline: float, steps: int) -> Path:
    lines = [f"held-out bits per character after {steps} updates: {final:.3f} (unigram baseline {baseline:.3f})", ""]
    for temperature, text in samples:
        lines += [f"temperature {temperature}:", text, ""]
    path.write_text("\n".join(lines), encoding="utf-8")
    return path
