"""Training throughput of the demo's model (characters per second): the compiled LSTM against the
eager one, each in two process settings: "plain" (one BLAS thread, the C allocator as it comes:
how the demo ran before the compiler) and "demo" (what the training commands set up now:
seqgrad/training/process.py, freed memory kept and BLAS threads on the cores no other process
uses, re-read every 2 s). The demo's sizes: embedding 32, LSTM 256, batch 64 × 64 characters,
Adam, clipping; without the held-out evaluations.

The allocator setting is for a whole process and cannot be undone, so every measurement runs in
a fresh child process; the four configurations take turns, round after round, in one run.

    python benchmarks/demo_throughput.py --steps 40 --rounds 5
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

import numpy as np

from seqgrad import random as seqgrad_random
from seqgrad.commands.demo import FULL
from seqgrad.data import CharTokenizer, stdlib_corpus
from seqgrad.models.char_lm import CharLM
from seqgrad.training.lm_trainer import TrainConfig, train_char_lm
from seqgrad.training.process import prepare_training_process
from seqgrad.training.threads import limit_blas_threads

CONFIGS = [("eager", "plain"), ("compiled", "plain"), ("eager", "demo"), ("compiled", "demo")]


def throughput(steps: int, mode: str, settings: str) -> float:
    """Characters per second of `steps` updates of the demo's model, in this process."""
    after_update = None
    if settings == "demo":
        after_update = prepare_training_process().update
    else:
        limit_blas_threads(1)
    text = stdlib_corpus(None, seed=0)
    tokenizer = CharTokenizer().fit(text)
    ids = tokenizer.encode(text)
    seqgrad_random.manual_seed(0)
    model = CharLM(len(tokenizer.vocab), FULL.embedding, FULL.hidden, "lstm")
    config = TrainConfig(steps=steps, batch_size=FULL.batch, seq_len=FULL.seq_len, lr=FULL.lr, clip=FULL.clip)
    started = time.perf_counter()
    history = train_char_lm(model, ids, config, progress=False, eager=mode == "eager", after_update=after_update)
    return history.characters / (time.perf_counter() - started)


def measure_in_child(steps: int, mode: str, settings: str) -> float:
    done = subprocess.run([sys.executable, __file__, "--child", mode, settings, "--steps", str(steps)],
                          capture_output=True, text=True, check=True)
    return float(done.stdout)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--child", nargs=2, metavar=("MODE", "SETTINGS"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(throughput(args.steps, *args.child))
        return 0
    results: dict[tuple, list[float]] = {config: [] for config in CONFIGS}
    for _ in range(args.rounds):
        for config in CONFIGS:
            results[config].append(measure_in_child(args.steps, *config))
    medians = {config: statistics.median(values) for config, values in results.items()}
    print(f"demo training throughput, characters/s, median of {args.rounds} interleaved rounds of {args.steps} "
          "updates (each a fresh process)")
    print("| mode | process settings | characters/s | / eager, plain |")
    print("|---|---|---:|---:|")
    for (mode, settings), value in medians.items():
        print(f"| {mode} | {settings} | {value:,.0f} | {value / medians[('eager', 'plain')]:.2f} |")
    for settings in ("plain", "demo"):
        per_round = np.array(results[("compiled", settings)]) / np.array(results[("eager", "plain")])
        print(f"compiled ({settings}) / eager (plain), per round: {', '.join(f'{r:.2f}' for r in per_round)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
