"""Training throughput of the demo's model (characters per second): compiled LSTM against the
eager one, interleaved in one run, on the demo's sizes (embedding 32, LSTM 256, batch 64 ×
64 characters, Adam, clipping), without the held-out evaluations.

    python benchmarks/demo_throughput.py --steps 30 --rounds 2
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from seqgrad import random as seqgrad_random
from seqgrad.commands.demo import FULL
from seqgrad.data import CharTokenizer, stdlib_corpus
from seqgrad.models.char_lm import CharLM
from seqgrad.training.lm_trainer import TrainConfig, train_char_lm


def throughput(ids: np.ndarray, vocab: int, steps: int, eager: bool) -> float:
    seqgrad_random.manual_seed(0)
    model = CharLM(vocab, FULL.embedding, FULL.hidden, "lstm")
    config = TrainConfig(steps=steps, batch_size=FULL.batch, seq_len=FULL.seq_len, lr=FULL.lr, clip=FULL.clip)
    started = time.perf_counter()
    history = train_char_lm(model, ids, config, progress=False, eager=eager)
    return history.characters / (time.perf_counter() - started)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args(argv)
    text = stdlib_corpus(None, seed=0)
    tokenizer = CharTokenizer().fit(text)
    ids = tokenizer.encode(text)
    results: dict[str, list[float]] = {"eager": [], "compiled": []}
    for _ in range(args.rounds):
        for name in results:
            results[name].append(throughput(ids, len(tokenizer.vocab), args.steps, eager=name == "eager"))
    eager, compiled = max(results["eager"]), max(results["compiled"])
    print(f"demo training throughput, best of {args.rounds} rounds of {args.steps} updates: eager {eager:,.0f} "
          f"characters/s, compiled {compiled:,.0f} characters/s, ratio {compiled / eager:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
