"""Peak memory of one LSTM training step at T=1000, B=32, H=128 (seqgrad vs the numpy baseline,
each in a fresh process), and time per time step for T = 100, 1,000, 10,000 (cost must be
linear in T).

Memory is the peak of numpy's allocations during the step above what was allocated before it
(numpy reports its buffers to tracemalloc), so the weights and data are not counted and
neither is Python's own bookkeeping.

    python benchmarks/memory_and_scaling.py
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

MEMORY_SIZE = dict(batch=32, steps=1000, features=32, hidden=128)
CONTENDERS = ("baseline", "seqgrad", "seqgrad compiled")


def one_step(contender: str, batch: int, steps: int, features: int, hidden: int, dtype=np.float32):
    """Build the contender and its data, then return a callable running one training step."""
    import numpy_baseline as baseline
    import training_step

    rng = np.random.default_rng(0)
    weights = baseline.init_recurrent_weights("lstm", features, hidden, rng, dtype)
    readout_weight = rng.uniform(-0.1, 0.1, (features, hidden)).astype(dtype)
    readout_bias = np.zeros(features, dtype)
    x = rng.standard_normal((steps, batch, features)).astype(dtype)
    target = rng.standard_normal((steps, batch, features)).astype(dtype)
    if contender == "baseline":
        step = baseline.TrainingStep("lstm", weights, readout_weight, readout_bias, training_step.LEARNING_RATE)
    else:
        step = training_step.SeqgradStep("lstm", weights, readout_weight, readout_bias, dtype,
                                         compiled=contender == "seqgrad compiled")
    return lambda: step(x, target)


def measure_memory(contender: str) -> int:
    """Run in a child process: bytes of peak numpy allocation during the second step."""
    step = one_step(contender, **MEMORY_SIZE)
    step()  # the first step allocates caches (the baseline's buffers); count the steady state
    tracemalloc.start()
    before, _ = tracemalloc.get_traced_memory()
    step()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak - before


def measure_first_step_memory(contender: str) -> int:
    """Peak numpy allocation of a first step, caches included (what a single call costs)."""
    tracemalloc.start()
    step = one_step(contender, **MEMORY_SIZE)
    before, _ = tracemalloc.get_traced_memory()
    step()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak - before


def _rss_bytes() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * resource.getpagesize()


def measure_rss(contender: str) -> int:
    """Bytes of resident memory the first step adds at its peak (pages actually touched).

    Linux only (/proc). ru_maxrss is the process's peak so far, so the step must be the
    largest thing the process ever did: build the problem, then measure one step."""
    step = one_step(contender, **MEMORY_SIZE)
    before = _rss_bytes()
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    step()
    peak_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return peak_after - max(before, min(peak_before, before))


def in_fresh_process(function: str, contender: str) -> int:
    code = (f"import sys; sys.path.insert(0, {str(HERE)!r}); import memory_and_scaling as m; "
            f"print(m.{function}({contender!r}))")
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return int(output.stdout.strip().splitlines()[-1])


def time_per_step(steps: int, repeats: int) -> dict[str, float]:
    result = {}
    for contender in CONTENDERS:
        step = one_step(contender, batch=4, steps=steps, features=16, hidden=32)
        step()
        best = float("inf")
        for _ in range(repeats):
            start = time.perf_counter()
            step()
            best = min(best, time.perf_counter() - start)
        result[contender] = best / steps
    return result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--skip-scaling", action="store_true")
    args = parser.parse_args(argv)
    report = {}
    if not args.skip_memory:
        print(f"Peak memory of one training step, {MEMORY_SIZE}, float32, each in a fresh process:")
        print("| contender | allocated, steady-state step MB | allocated, first step MB (caches included) "
              "| resident peak increase, first step MB |")
        print("|---|---:|---:|---:|")
        for contender in CONTENDERS:
            steady = in_fresh_process("measure_memory", contender)
            first = in_fresh_process("measure_first_step_memory", contender)
            rss = in_fresh_process("measure_rss", contender)
            report[contender] = {"steady": steady, "first": first, "rss": rss}
            print(f"| {contender} | {steady / 2**20:.1f} | {first / 2**20:.1f} | {rss / 2**20:.1f} |", flush=True)
        for contender in CONTENDERS[1:]:
            allocated = report[contender]["first"] / report["baseline"]["first"]
            resident = report[contender]["rss"] / report["baseline"]["rss"]
            print(f"ratio {contender} / baseline: allocated {allocated:.2f}, resident {resident:.2f}")
    if not args.skip_scaling:
        print("\nTime per time step (B=4, D=16, H=32, float32), best of repeats:")
        print("| T | baseline µs/step | seqgrad µs/step | ratio | seqgrad compiled µs/step | ratio |")
        print("|---:|---:|---:|---:|---:|---:|")
        for steps, repeats in ((100, 10), (1000, 4), (10000, 2)):
            times = time_per_step(steps, repeats)
            base = times["baseline"]
            print(f"| {steps:,} | {base * 1e6:.1f} | {times['seqgrad'] * 1e6:.1f} | {times['seqgrad'] / base:.2f} | "
                  f"{times['seqgrad compiled'] * 1e6:.1f} | {times['seqgrad compiled'] / base:.2f} |", flush=True)
    print(json.dumps(report) if report else "")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
