"""`seqgrad gradflow`: how far back in time the gradient reaches in a tanh RNN, an LSTM and a GRU."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from ._options import check_memory, positive_int, recurrent_memory, seed

EXTENSIONS = (".png", ".svg", ".pdf")
MODELS = ("tanh RNN", "LSTM", "GRU")


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "gradflow", help="plot gradient flow through time: tanh RNN vs LSTM vs GRU at initialisation",
        description="Run a tanh RNN, an LSTM and a GRU (PyTorch's initialisation, one seed) on the same random "
                    "sequences, with a loss on a linear readout of the last step, and plot: ||dL/dh_k|| and the "
                    "spectral norm ||dh_T/dh_k|| against the distance back in time, the gradient norm of every "
                    "parameter, and the LSTM's gate activations.",
        epilog="example: seqgrad gradflow --steps 100 -o gradflow.png")
    parser.add_argument("--steps", type=positive_int, default=60, help="sequence length T (default 60)")
    parser.add_argument("--input-size", type=positive_int, default=8, help="input features per step (default 8)")
    parser.add_argument("--hidden-size", type=positive_int, default=32, help="hidden units (default 32)")
    parser.add_argument("--batch", type=positive_int, default=8, help="sequences per batch (default 8)")
    parser.add_argument("--seed", type=seed, default=0, help="random seed for weights and data (default 0)")
    parser.add_argument("-o", "--output", type=Path, default=Path("gradflow.png"),
                        help="figure to write: .png, .svg or .pdf (default gradflow.png)")
    return parser


def measure(steps: int, input_size: int, hidden_size: int, batch: int, seed: int) -> dict:
    """For each model: ||dL/dh_k||, ||dh_T/dh_k||_2, the module (with gradients) and, for the
    LSTM, its gate activations. Same inputs, target and seed for all three."""
    import seqgrad as sg
    from seqgrad import nn
    from seqgrad.bptt import hidden_grad_norms, jacobian_norms
    from seqgrad.viz import gate_activations

    rng = np.random.default_rng(seed)
    dtype = np.float64
    inputs = sg.Tensor(rng.standard_normal((steps, batch, input_size)).astype(dtype))
    target = rng.standard_normal((batch, 1)).astype(dtype)
    makers = {"tanh RNN": nn.RNN, "LSTM": nn.LSTM, "GRU": nn.GRU}
    results = {}
    for label in MODELS:
        sg.manual_seed(seed)
        layer = makers[label](input_size, hidden_size, dtype=dtype)
        readout = nn.Linear(hidden_size, 1, dtype=dtype)
        output, _ = layer(inputs)
        loss = nn.functional.mse_loss(readout(output[-1]), target)
        gates = gate_activations(loss) if label == "LSTM" else None   # read before backward frees them
        jacobians = jacobian_norms(loss, norm="spectral")
        with sg.viz.record():
            loss.backward()
        results[label] = {"grads": hidden_grad_norms(loss), "jacobians": jacobians, "module": layer, "gates": gates}
    return results


def run(args) -> int:
    from seqgrad.cli import UsageError

    try:
        # three float64 models, and a hidden-by-hidden Jacobian for every step
        check_memory(3 * recurrent_memory(steps=args.steps, batch=args.batch, hidden=args.hidden_size,
                                          inputs=args.input_size, outputs=1, itemsize=8)
                     + 16.0 * args.steps * args.hidden_size ** 2,
                     f"--steps {args.steps} --hidden-size {args.hidden_size} --input-size {args.input_size} "
                     f"--batch {args.batch}")
    except ValueError as error:
        raise UsageError(str(error)) from None
    if args.output.suffix.lower() not in EXTENSIONS:
        raise UsageError(f"cannot tell the format of {str(args.output)!r}: use one of {', '.join(EXTENSIONS)}")
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise UsageError("gradflow plots with matplotlib: pip install matplotlib (or seqgrad[plot])") from None
    from seqgrad.viz import plot_gate_saturation, plot_gradient_flow, plot_parameter_grad_norms

    results = measure(args.steps, args.input_size, args.hidden_size, args.batch, args.seed)
    figure = Figure(figsize=(13, 9), layout="constrained")
    axes = figure.subplots(2, 2)
    setting = f"T={args.steps}, H={args.hidden_size}, batch {args.batch}, seed {args.seed}, at initialisation"
    plot_gradient_flow({label: result["grads"] for label, result in results.items()}, ax=axes[0, 0],
                       title=r"gradient reaching each step: $\|\partial L / \partial h_k\|$")
    plot_gradient_flow({label: result["jacobians"] for label, result in results.items()}, ax=axes[0, 1],
                       ylabel=r"$\|\partial h_T / \partial h_k\|_2$",
                       title=r"how much of $h_T$ depends on $h_k$: $\|\partial h_T / \partial h_k\|_2$")
    plot_parameter_grad_norms({label: result["module"] for label, result in results.items()}, ax=axes[1, 0],
                              title="gradient norm of every parameter")
    plot_gate_saturation(results["LSTM"]["gates"], ax=axes[1, 1], title="LSTM gate activations (all steps)")
    figure.suptitle(f"Gradient flow through time: tanh RNN vs LSTM vs GRU ({setting})")
    figure.savefig(args.output, dpi=110)
    for label, result in results.items():
        norms = next(iter(result["grads"].values()))
        print(f"{label:9s} ‖∂L/∂h_k‖: {norms[-1]:.2e} at the last step, {norms[0]:.2e} at the first "
              f"({args.steps - 1} steps back)")
    print(f"wrote {args.output}")
    return 0
