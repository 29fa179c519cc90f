"""GRU against LSTM at equal width: parameter counts (exactly 3/4) and time per training batch.

A GRU layer has 3 gate blocks where an LSTM has 4, so G·H·(D + H + 2) parameters with G = 3
against 4: 25% fewer at every size. Whether it is also 25% faster depends on what else a step
does: the GRU's candidate needs the reset gate first (an extra product with r for
reset="after"; the recurrent product itself waits for r with reset="before"), while the LSTM
has one more elementwise path (the cell state). This script measures both at several widths:
one training batch = forward over T steps, mean-squared loss on the last output, backward.
LSTM, GRU and GRU(reset="before") batches are interleaved in one run, so machine load hits
all three alike; each ratio is the median of per-round ratios.

    python benchmarks/experiments/gru_vs_lstm.py
    python benchmarks/experiments/gru_vs_lstm.py --hidden 64 256 --rounds 30

Writes gru_vs_lstm.png and gru_vs_lstm.json beside this file.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from pathlib import Path

import numpy as np
from _results import pyplot, save  # the sibling module (scripts run from this folder)

from seqgrad.nn import GRU, LSTM
from seqgrad.random import manual_seed
from seqgrad.tensor import Tensor
from seqgrad.training.threads import limit_blas_threads

LAYERS = {"LSTM": LSTM, "GRU": GRU, "GRU, reset before": lambda d, h: GRU(d, h, reset="before")}


def batch_seconds(layer, inputs: Tensor, targets: np.ndarray) -> float:
    """Wall time of one forward + backward over the whole sequence."""
    started = time.perf_counter()
    outputs, _ = layer(inputs)
    loss = ((outputs[-1] - Tensor(targets)) ** 2).mean()
    loss.backward()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hidden", type=int, nargs="+", default=[32, 128, 512])
    parser.add_argument("--input", type=int, default=32)
    parser.add_argument("-T", type=int, default=50)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=20, help="timed batches per layer and width")
    args = parser.parse_args()
    limit_blas_threads(1)

    rng = np.random.default_rng(0)
    inputs = Tensor(rng.normal(size=(args.T, args.batch, args.input)).astype(np.float32))
    rows = []
    for hidden in args.hidden:
        manual_seed(0)
        layers = {name: make(args.input, hidden) for name, make in LAYERS.items()}
        targets = rng.normal(size=(args.batch, hidden)).astype(np.float32)
        counts = {name: sum(param.size for param in layer.parameters()) for name, layer in layers.items()}
        times = {name: [] for name in layers}
        for layer in layers.values():  # one untimed batch each: first-call costs out of the way
            batch_seconds(layer, inputs, targets)
        for _ in range(args.rounds):
            for name, layer in layers.items():
                layer.zero_grad()
                times[name].append(batch_seconds(layer, inputs, targets))
        ratio = {name: statistics.median(mine / lstm for mine, lstm in zip(times[name], times["LSTM"]))
                 for name in layers}
        row = {"hidden": hidden, "parameters": counts,
               "parameter_ratio": counts["GRU"] / counts["LSTM"],
               "median_ms": {name: 1000 * statistics.median(values) for name, values in times.items()},
               "time_ratio_to_lstm": ratio}
        rows.append(row)
        print(f"H = {hidden:4d}: parameters LSTM {counts['LSTM']:,}, GRU {counts['GRU']:,} "
              f"(ratio {row['parameter_ratio']:.3f}); time per batch GRU / LSTM {ratio['GRU']:.2f}, "
              f"GRU reset-before / LSTM {ratio['GRU, reset before']:.2f} "
              f"(LSTM {row['median_ms']['LSTM']:.1f} ms)", flush=True)

    summary = {"input": args.input, "T": args.T, "batch": args.batch, "rounds": args.rounds, "dtype": "float32",
               "machine": f"{platform.machine()}, {platform.python_version()}", "rows": rows}
    save("gru_vs_lstm", summary, plot)


def plot(summary: dict, path: Path) -> None:
    plt = pyplot()
    figure, (count_ax, time_ax) = plt.subplots(1, 2, figsize=(10, 3.8), layout="constrained")
    hidden = [row["hidden"] for row in summary["rows"]]
    positions = np.arange(len(hidden))
    for offset, name in zip((-0.2, 0.2), ("LSTM", "GRU")):
        count_ax.bar(positions + offset, [row["parameters"][name] for row in summary["rows"]], width=0.4,
                     label=name)
    count_ax.set(xticks=positions, xticklabels=[f"H = {h}" for h in hidden], yscale="log",
                 ylabel="parameters", title="Parameters: the GRU has exactly 3/4")
    count_ax.legend(frameon=False)
    for name, marker in (("GRU", "o"), ("GRU, reset before", "s")):
        time_ax.plot(positions, [row["time_ratio_to_lstm"][name] for row in summary["rows"]], marker=marker,
                     label=name)
    time_ax.axhline(0.75, color="gray", linestyle=":", label="3/4 (the parameter ratio)")
    time_ax.axhline(1.0, color="gray", linestyle="--", label="as slow as the LSTM")
    time_ax.set(xticks=positions, xticklabels=[f"H = {h}" for h in hidden], ylabel="time per batch / LSTM's",
                title=f"Forward + backward, T = {summary['T']}, batch {summary['batch']} (median ratio)")
    time_ax.legend(frameon=False, fontsize=8)
    figure.savefig(path, dpi=110)
    plt.close(figure)


if __name__ == "__main__":
    main()
