"""`seqgrad train`: a character-level language model on a text file or the embedded corpus."""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np

from .. import random as seqgrad_random
from ..cli import UsageError
from ..data import CharTokenizer, stdlib_corpus, unigram_bits_per_char
from ..models.char_lm import BIDIRECTIONAL_LM_MESSAGE, CharLM
from ..training.divergence import diverged_message
from ..training.interrupt import StopRequest
from ..training.lm_checkpoint import is_char_lm_checkpoint, save_char_lm
from ..training.lm_trainer import TrainConfig, bits, check_corpus_size, train_char_lm, training_divergence
from ..training.process import prepare_training_process
from ..training.text import read_text_file, split_held_out
from ._options import (
    check_memory,
    fraction,
    non_negative_float,
    one_line_errors,
    positive_float,
    positive_int,
    probability,
    recurrent_memory,
    seed,
    writable_file,
)

DESCRIPTION = """\
Train a character-level language model (embedding -> recurrent layers -> softmax over the
next character) with truncated backpropagation through time, gradient clipping and Adam.
The last --valid-fraction of the text is held out; the final loss on it is reported in bits
per character next to the unigram baseline (the entropy of the character frequencies).

--cell bilstm is refused: a bidirectional layer's backward direction has already read the
character it is asked to predict, so it cannot model language left to right. See
`seqgrad tasks --cell bilstm` for a task where a bidirectional encoder fits.

Ctrl-C stops after the current update and saves the model trained so far to --checkpoint
(exit status 130); a second Ctrl-C aborts at once. A run that diverges (a loss or weight that is
not finite, or a held-out loss ending far above where it started) saves nothing and exits 1.
"""


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser("train", help="train a character-level language model",
                                   description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    one_line_errors(parser)
    parser.add_argument("text", nargs="?", type=Path, help="UTF-8 text file (default: the embedded corpus of "
                        "Python standard-library docstrings)")
    parser.add_argument("--max-chars", type=positive_int, default=None, help="use at most this many characters")
    model = parser.add_argument_group("model")
    model.add_argument("--cell", choices=("rnn", "lstm", "gru", "bilstm"), default="lstm",
                       help="recurrent cell (default: lstm; rnn is the tanh Elman cell)")
    model.add_argument("--hidden", type=positive_int, default=256, help="hidden size (default: 256)")
    model.add_argument("--layers", type=positive_int, default=1, help="stacked layers (default: 1)")
    model.add_argument("--embedding", type=positive_int, default=32, help="character embedding size (default: 32)")
    model.add_argument("--dropout", type=probability, default=0.0,
                       help="dropout between layers and before the readout (default: 0)")
    model.add_argument("--recurrent-dropout", type=probability, default=0.0,
                       help="variational dropout on h_{t-1}, one mask per sequence (default: 0)")
    training = parser.add_argument_group("training")
    training.add_argument("--steps", type=positive_int, default=500, help="optimizer updates (default: 500)")
    training.add_argument("--batch", type=positive_int, default=64, help="parallel text streams (default: 64)")
    training.add_argument("--seq-len", type=positive_int, default=64,
                          help="characters each stream advances per batch (default: 64)")
    training.add_argument("--bptt", type=positive_int, default=None,
                          help="truncation window: backpropagate and update every this many steps; the state "
                               "crosses windows detached (default: --seq-len)")
    training.add_argument("--lr", type=positive_float, default=1e-2, help="Adam learning rate, cosine-annealed "
                          "to a tenth (default: 0.01)")
    training.add_argument("--clip", type=non_negative_float, default=1.0,
                          help="clip the gradient norm to this; 0 turns clipping off (default: 1.0)")
    training.add_argument("--valid-fraction", type=fraction, default=0.05,
                          help="share of the text held out for evaluation (default: 0.05)")
    training.add_argument("--seed", type=seed, default=0, help="seed of weights, dropout and data order (default: 0)")
    training.add_argument("--no-progress", action="store_true", help="no progress bar")
    training.add_argument("--eager", action="store_true",
                          help="run the recurrent layers op by op instead of as generated code (to compare)")
    parser.add_argument("--checkpoint", type=Path, default=Path("char_lm.npz"),
                        help="where to write the trained model (default: ./char_lm.npz); an existing file is "
                             "replaced only if it is a seqgrad char-LM checkpoint")
    return parser


def load_training_text(path: Path | None, max_chars: int | None, seed: int = 0) -> tuple[str, str]:
    """(text, where it came from): the file at `path`, or the embedded corpus shuffled by `seed`."""
    if path is None:
        return stdlib_corpus(max_chars, seed=seed), "the embedded corpus (Python standard-library docstrings)"
    try:
        text = read_text_file(path, max_chars)
    except ValueError as error:
        raise UsageError(str(error)) from None
    return text, str(path)


def check_checkpoint_target(path: Path) -> None:
    """Refuse, before training, a checkpoint path that cannot be written or holds something else."""
    try:
        writable_file(path, "--checkpoint")
    except ValueError as error:
        raise UsageError(str(error)) from None
    if path.exists() and not is_char_lm_checkpoint(path):
        raise UsageError(f"--checkpoint {path} exists and is not a seqgrad char-LM checkpoint; refusing to "
                         "overwrite it (choose another path)")


def run(args: argparse.Namespace) -> int:
    if args.cell == "bilstm":
        raise UsageError(BIDIRECTIONAL_LM_MESSAGE)
    threads = prepare_training_process()
    config = TrainConfig(steps=args.steps, batch_size=args.batch, seq_len=args.seq_len, bptt=args.bptt, lr=args.lr,
                         clip=args.clip or None, seed=args.seed, eval_every=max(args.steps // 5, 1))
    check_checkpoint_target(args.checkpoint)
    try:
        check_memory(recurrent_memory(steps=config.window, batch=args.batch, hidden=args.hidden, inputs=args.embedding,
                                      layers=args.layers, outputs=256) + 4.0 * 256 * args.embedding,
                     f"--hidden {args.hidden} --embedding {args.embedding} --layers {args.layers} --batch {args.batch} "
                     f"--seq-len {config.window}")
    except ValueError as error:
        raise UsageError(str(error)) from None
    text, source = load_training_text(args.text, args.max_chars, seed=args.seed)
    try:
        train_text, valid_text = split_held_out(text, args.valid_fraction)
    except ValueError as error:
        raise UsageError(f"{source}: {error}") from None
    tokenizer = CharTokenizer().fit(text)
    train_ids, valid_ids = tokenizer.encode(train_text), tokenizer.encode(valid_text)
    try:
        check_corpus_size(train_ids, config.batch_size, config.seq_len, where=f"the training part of {source}")
    except ValueError as error:
        raise UsageError(str(error)) from None

    seqgrad_random.manual_seed(args.seed)
    model = CharLM(len(tokenizer.vocab), args.embedding, args.hidden, args.cell, args.layers, args.dropout,
                   args.recurrent_dropout)
    baseline = unigram_bits_per_char(valid_text)
    print(f"text: {source}: {len(train_text):,} characters for training, {len(valid_text):,} held out; "
          f"{len(tokenizer.vocab)} tokens")
    # A diverging run overflows everywhere: it is detected and reported below, not warned about op by op.
    with StopRequest() as stop, np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        # Printed once Ctrl-C is handled: from this line on, an interrupt saves the progress.
        print(f"model: {args.cell.upper()} {args.layers}×{args.hidden}, embedding {args.embedding}, "
              f"{model.num_parameters():,} parameters; {config.steps} updates of {config.window} steps × "
              f"{config.batch_size} streams, clip {config.clip}, lr {config.lr}", flush=True)
        try:
            history = train_char_lm(model, train_ids, config, valid_ids=valid_ids, progress=not args.no_progress,
                                    stop=lambda: stop.requested, eager=args.eager,
                                    after_update=threads.update)
        except FloatingPointError as error:
            raise ValueError(diverged_message(str(error), config.lr, config.clip)) from None
        reason = training_divergence(model, history, baseline * math.log(2.0))
    if reason is not None:
        raise ValueError(diverged_message(reason, config.lr, config.clip)
                         + f"; nothing was saved to {args.checkpoint}")
    info = {"source": source, "steps": history.steps, "unigram_bits_per_char": baseline, "train": {**vars(config)},
            "seconds": round(history.seconds, 1)}
    if history.interrupted:
        info["interrupted"] = True
        save_char_lm(args.checkpoint, model, tokenizer, info)
        print(f"seqgrad train: interrupted after {history.steps} of {config.steps} updates; the model trained so far "
              f"is saved to {args.checkpoint}", file=sys.stderr)
        return 130
    final = bits(history.eval_losses[-1])
    info["held_out_bits_per_char"] = final
    save_char_lm(args.checkpoint, model, tokenizer, info)
    print(f"held-out: {final:.3f} bits per character vs {baseline:.3f} for the unigram baseline "
          f"({history.seconds:.0f} s, {history.characters:,} characters seen)")
    print(f"checkpoint: {args.checkpoint}  (try: seqgrad sample --checkpoint {args.checkpoint})")
    return 0
