"""Time one training step of an LSTM (or GRU) regressor: seqgrad against the hand-written numpy
BPTT of numpy_baseline.py, with PyTorch's nn.LSTM and a PyTorch loop of the same primitive ops
beside them when torch is installed. All contenders run interleaved in one process, and the
report is ratios to the baseline measured in that run (never a lone absolute time).

The step: recurrent layer over T steps from zero states, a linear readout per step,
loss = 0.5 Σ (y - target)², backward, plain SGD on every parameter.

    python benchmarks/training_step.py                 # S1, S2, S3 in float32 and float64
    python benchmarks/training_step.py --sizes S2 --dtypes float32 --repeats 30
    python benchmarks/training_step.py --sizes S1 --dtypes float32 --cell gru --processes 9
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))  # run as a script from anywhere

import numpy_baseline as baseline  # noqa: E402

import seqgrad as sg  # noqa: E402
from seqgrad import nn  # noqa: E402

SIZES = {  # name: (B, T, D, H)
    "S1": (32, 50, 64, 128),
    "S2": (1, 200, 16, 32),
    "S3": (64, 100, 256, 512),
}
LEARNING_RATE = 1e-4


def problem(size: str, dtype, cell: str = "lstm", seed: int = 0):
    """Shared weights and data for every contender, so all of them compute the same step."""
    batch, steps, features, hidden = SIZES[size]
    rng = np.random.default_rng(seed)
    weights = baseline.init_recurrent_weights(cell, features, hidden, rng, dtype)
    readout_weight = rng.uniform(-0.1, 0.1, (features, hidden)).astype(dtype)
    readout_bias = np.zeros(features, dtype)
    x = rng.standard_normal((steps, batch, features)).astype(dtype)
    target = rng.standard_normal((steps, batch, features)).astype(dtype)
    return weights, readout_weight, readout_bias, x, target


class SeqgradStep:
    """The same step written as a seqgrad user would: nn.LSTM, nn.Linear, optim.SGD."""

    def __init__(self, cell, weights, readout_weight, readout_bias, dtype, compiled=False):
        layer_type = nn.LSTM if cell == "lstm" else nn.GRU
        features, hidden = weights["weight_ih"].shape[1], weights["weight_hh"].shape[1]
        self.layer = layer_type(features, hidden, dtype=dtype)
        self.layer.load_state_dict({f"{name}_l0": value for name, value in weights.items()})
        self.readout = nn.Linear(hidden, readout_weight.shape[0], dtype=dtype)
        self.readout.load_state_dict({"weight": readout_weight, "bias": readout_bias})
        params = list(self.layer.parameters()) + list(self.readout.parameters())
        self.optimizer = sg.optim.SGD(params, lr=LEARNING_RATE)
        self.run_layer = sg.compile(self.layer) if compiled else self.layer

    def __call__(self, x, target):
        self.optimizer.zero_grad()
        output, _ = self.run_layer(sg.Tensor(x))
        residual = self.readout(output) - target
        loss = (residual * residual).sum() * 0.5
        loss.backward()
        self.optimizer.step()
        return loss.item()


def recorded_for_drawing(step):
    """The same step with its backward recorded for a drawing (`sg.viz.record()`: a norm per
    node and per edge), what a step that is also drawn costs."""
    def run(x, target):
        with sg.viz.record():
            return step(x, target)
    return run


def torch_contenders(cell, weights, readout_weight, readout_bias, dtype):
    """PyTorch's nn.LSTM/GRU, and a Python loop of PyTorch primitive ops (the peer to beat)."""
    try:
        import torch
    except ImportError:
        return {}
    # The same number of threads as numpy's BLAS (OPENBLAS_NUM_THREADS, else all cores), so the
    # comparison is of the engines and not of thread counts.
    threads = os.environ.get("OPENBLAS_NUM_THREADS")
    if threads:
        torch.set_num_threads(int(threads))
    tdtype = torch.float32 if dtype == np.float32 else torch.float64
    features, hidden = weights["weight_ih"].shape[1], weights["weight_hh"].shape[1]
    layer = (torch.nn.LSTM if cell == "lstm" else torch.nn.GRU)(features, hidden, dtype=tdtype)
    layer.load_state_dict({f"{k}_l0": torch.from_numpy(v.copy()) for k, v in weights.items()})
    readout = torch.nn.Linear(hidden, readout_weight.shape[0], dtype=tdtype)
    readout.load_state_dict({"weight": torch.from_numpy(readout_weight.copy()),
                             "bias": torch.from_numpy(readout_bias.copy())})
    module_params = list(layer.parameters()) + list(readout.parameters())
    module_optimizer = torch.optim.SGD(module_params, lr=LEARNING_RATE)

    def module_step(x, target):
        module_optimizer.zero_grad()
        output, _ = layer(torch.from_numpy(x))
        residual = readout(output) - torch.from_numpy(target)
        loss = 0.5 * (residual * residual).sum()
        loss.backward()
        module_optimizer.step()
        return loss.item()

    loop_params = {k: torch.tensor(v.copy(), requires_grad=True) for k, v in weights.items()}
    loop_params["readout_weight"] = torch.tensor(readout_weight.copy(), requires_grad=True)
    loop_params["readout_bias"] = torch.tensor(readout_bias.copy(), requires_grad=True)
    loop_optimizer = torch.optim.SGD(list(loop_params.values()), lr=LEARNING_RATE)

    def loop_step(x, target):
        p = loop_params
        loop_optimizer.zero_grad()
        inputs = torch.from_numpy(x)
        steps, batch, _ = inputs.shape
        projected = (inputs.reshape(steps * batch, -1) @ p["weight_ih"].T + p["bias_ih"] + p["bias_hh"])
        projected = projected.reshape(steps, batch, -1)
        h = torch.zeros(batch, hidden, dtype=tdtype)
        c = torch.zeros(batch, hidden, dtype=tdtype)
        weight_hh_t = p["weight_hh"].T
        outputs = []
        for t in range(steps):
            gates = projected[t] + h @ weight_hh_t
            if cell == "lstm":
                i, f, g, o = gates.chunk(4, dim=1)
                c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
                h = torch.sigmoid(o) * torch.tanh(c)
            else:
                raise ValueError("the primitive-op loop is written for the LSTM")
            outputs.append(h)
        output = torch.stack(outputs)
        residual = output @ p["readout_weight"].T + p["readout_bias"] - torch.from_numpy(target)
        loss = 0.5 * (residual * residual).sum()
        loss.backward()
        loop_optimizer.step()
        return loss.item()

    contenders = {"torch nn.LSTM" if cell == "lstm" else "torch nn.GRU": module_step}
    if cell == "lstm":
        contenders["torch op loop"] = loop_step
    return contenders


def jax_contender(cell, weights, readout_weight, readout_bias, dtype):
    """The same step as a jitted JAX function: the recurrence as lax.scan, jax.grad, SGD (float32 only).
    JAX is a benchmark-only extra (pip install seqgrad[bench]); skipped when it is not installed."""
    if dtype != np.float32:
        return {}
    os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")
    try:
        import jax
        import jax.numpy as jnp
    except ImportError:
        return {}
    hidden = weights["weight_hh"].shape[1]

    def layer(params, x):
        batch = x.shape[1]
        projected = x @ params["weight_ih"].T + params["bias_ih"]
        weight_hh_t = params["weight_hh"].T
        if cell == "lstm":
            projected = projected + params["bias_hh"]

            def step(carry, x_t):
                h, c = carry
                i, f, g, o = jnp.split(x_t + h @ weight_hh_t, 4, axis=1)
                c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
                h = jax.nn.sigmoid(o) * jnp.tanh(c)
                return (h, c), h
            zeros = jnp.zeros((batch, hidden), x.dtype)
            _, outputs = jax.lax.scan(step, (zeros, zeros), projected)
            return outputs

        def gru_step(h, x_t):
            h_all = h @ weight_hh_t + params["bias_hh"]
            r, z = jnp.split(jax.nn.sigmoid(x_t[:, :2 * hidden] + h_all[:, :2 * hidden]), 2, axis=1)
            n = jnp.tanh(x_t[:, 2 * hidden:] + r * h_all[:, 2 * hidden:])
            h = n + z * (h - n)
            return h, h
        _, outputs = jax.lax.scan(gru_step, jnp.zeros((batch, hidden), x.dtype), projected)
        return outputs

    def loss_fn(params, x, target):
        residual = layer(params, x) @ params["readout_weight"].T + params["readout_bias"] - target
        return 0.5 * jnp.sum(residual * residual)

    @jax.jit
    def train_step(params, x, target):
        loss, grads = jax.value_and_grad(loss_fn)(params, x, target)
        return loss, jax.tree_util.tree_map(lambda p, g: p - LEARNING_RATE * g, params, grads)

    state = {"params": {k: jnp.asarray(v) for k, v in weights.items()}}
    state["params"].update(readout_weight=jnp.asarray(readout_weight), readout_bias=jnp.asarray(readout_bias))

    def run(x, target):
        loss, state["params"] = train_step(state["params"], x, target)
        return float(loss)  # waits for the result
    return {"jax (jit, lax.scan)": run}


def measure(size: str, dtype, repeats: int, cell: str = "lstm") -> dict[str, tuple[float, float]]:
    """(median, best) seconds per step of each contender, interleaved round by round. The median is
    the figure; the best-of ratio says more when other jobs preempt some rounds (a loaded machine)."""
    weights, readout_weight, readout_bias, x, target = problem(size, dtype, cell)
    contenders = {
        "numpy baseline": baseline.TrainingStep(cell, weights, readout_weight, readout_bias, LEARNING_RATE),
        "seqgrad compiled": SeqgradStep(cell, weights, readout_weight, readout_bias, dtype, compiled=True),
        "seqgrad": SeqgradStep(cell, weights, readout_weight, readout_bias, dtype),
        "seqgrad, recorded for drawing": recorded_for_drawing(
            SeqgradStep(cell, weights, readout_weight, readout_bias, dtype)),
    }
    contenders.update(torch_contenders(cell, weights, readout_weight, readout_bias, dtype))
    contenders.update(jax_contender(cell, weights, readout_weight, readout_bias, dtype))
    losses = {name: step(x, target) for name, step in contenders.items()}  # warm-up, and a sanity check
    reference = losses["numpy baseline"]
    for name, loss in losses.items():
        if not np.isclose(loss, reference, rtol=1e-3 if dtype == np.float32 else 1e-9):
            raise AssertionError(f"{name} computed loss {loss}, the baseline {reference}: not the same step")
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(repeats):
        for name, step in contenders.items():
            start = time.perf_counter()
            step(x, target)
            times[name].append(time.perf_counter() - start)
    return {name: (statistics.median(values), min(values)) for name, values in times.items()}


def run_in_processes(args) -> int:
    """Each size and dtype measured in `args.processes` fresh processes, one after another; the
    figure is the median over processes of each in-process ratio, with its range. Why: with the
    same code, one process's ratio differs from the next's by up to ±0.05 (where its arrays land
    in memory), more than the differences worth measuring."""
    print(f"| size (B, T, D, H) | dtype | contender | ratio to numpy baseline, median of {args.processes} processes "
          "| range |")
    print("|---|---|---|---:|---|")
    for size in args.sizes:
        for dtype_name in args.dtypes:
            ratios: dict[str, list[float]] = {}
            for _ in range(args.processes):
                done = subprocess.run([sys.executable, __file__, "--sizes", size, "--dtypes", dtype_name,
                                       "--cell", args.cell, "--repeats", str(args.repeats), "--json"],
                                      capture_output=True, text=True, check=True)
                for name, ratio in json.loads(done.stdout).items():
                    ratios.setdefault(name, []).append(ratio)
            for name, values in ratios.items():
                print(f"| {size} {SIZES[size]} | {dtype_name} | {name} | {statistics.median(values):.2f} "
                      f"| {min(values):.2f}-{max(values):.2f} |", flush=True)
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", nargs="+", default=list(SIZES), choices=list(SIZES))
    parser.add_argument("--dtypes", nargs="+", default=["float32", "float64"], choices=["float32", "float64"])
    parser.add_argument("--cell", default="lstm", choices=["lstm", "gru"])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--processes", type=int, default=1,
                        help="measure in this many fresh processes and report the median ratio and its range")
    parser.add_argument("--json", action="store_true", help=argparse.SUPPRESS)  # one process's ratios, for --processes
    args = parser.parse_args(argv)
    if args.processes > 1:
        return run_in_processes(args)
    if not args.json:
        print("| size (B, T, D, H) | dtype | contender | ratio to numpy baseline (medians) | ratio of best times "
              "| ms per step (median) |")
        print("|---|---|---|---:|---:|---:|")
    for size in args.sizes:
        for dtype_name in args.dtypes:
            repeats = max(3, args.repeats // 5) if size == "S3" else args.repeats
            result = measure(size, np.dtype(dtype_name).type, repeats, args.cell)
            base, base_best = result["numpy baseline"]
            if args.json:
                print(json.dumps({name: seconds / base for name, (seconds, _) in result.items()}))
                continue
            for name, (seconds, best) in result.items():
                print(f"| {size} {SIZES[size]} | {dtype_name} | {name} | {seconds / base:.2f} | {best / base_best:.2f} "
                      f"| {seconds * 1e3:.1f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
