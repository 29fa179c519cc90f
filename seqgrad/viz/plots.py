"""matplotlib plots of gradient flow through time, parameter gradients and gate saturation.

Each function draws on `ax` when given (so several fit one figure) or on a new pyplot
figure, and returns the axes. matplotlib is imported only when a plot is drawn.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ..autodiff.norm import l2_norm
from ..nn.module import Module
from ..tensor import Tensor
from .graph import leaf_grad_norm

SATURATION = 0.05  # a sigmoid within 0.05 of 0 or 1 (a tanh within 0.05 of -1 or 1) passes almost no gradient


def _axes(ax):
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=(6.4, 4.2), layout="constrained")[1]


def _sequence_name(key) -> str:
    name, layer, direction = key
    words = [name]
    if layer is not None:
        words.append(f"layer {layer}")
    if direction is not None:
        words.append(str(direction))
    return " ".join(words)


def distance_back(norms: np.ndarray, direction) -> tuple[np.ndarray, np.ndarray]:
    """(distance back in time, norms) for one sequence: the forward direction ends at its last
    step, the backward direction at step 0; steps without a value are dropped."""
    steps = np.arange(len(norms))
    distance = steps if direction == "backward" else steps[-1] - steps
    keep = np.isfinite(norms)
    order = np.argsort(distance[keep])
    return distance[keep][order], norms[keep][order]


def plot_gradient_flow(flows: Mapping[str, Mapping[tuple, np.ndarray]], *, ax=None,
                       ylabel: str = r"$\|\partial L / \partial h_k\|$", title: str | None = None):
    """Norm against distance back in time, log scale, one line per model and sequence.

    `flows`: {model label: the dict returned by `seqgrad.bptt.hidden_grad_norms` (or
    `jacobian_norms`)}, e.g. {"tanh RNN": ..., "LSTM": ..., "GRU": ...}.
    """
    ax = _axes(ax)
    for label, per_sequence in flows.items():
        for key, norms in per_sequence.items():
            distance, values = distance_back(np.asarray(norms, dtype=float), key[2])
            positive = values > 0
            if not positive.any():
                continue
            name = label if len(per_sequence) == 1 else f"{label} ({_sequence_name(key)})"
            ax.plot(distance[positive], values[positive], marker="o", markersize=2.5, linewidth=1.5, label=name)
    ax.set_yscale("log")
    ax.set_xlabel("distance back in time, $T - k$ (steps)")
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(frameon=False, fontsize="small")
    return ax


def _named_grad_norms(parameters) -> list[tuple[str, float | None]]:
    if isinstance(parameters, Module):
        parameters = parameters.named_parameters()
    elif isinstance(parameters, Mapping):
        parameters = parameters.items()
    named = []
    for position, item in enumerate(parameters):
        if isinstance(item, Tensor):
            item = (item.name or f"parameter {position}", item)
        name, value = item
        norm = leaf_grad_norm(value) if isinstance(value, Tensor) else l2_norm(np.asarray(value))
        named.append((name, norm))
    return named


def plot_parameter_grad_norms(models, *, ax=None, title: str | None = None):
    """Horizontal bars of ||grad|| per parameter (log scale), after backward.

    `models`: a Module, its parameters ((name, Parameter) pairs, a name -> Parameter dict or
    Parameters), or {label: one of those} to compare several models side by side.
    """
    ax = _axes(ax)
    if isinstance(models, Mapping) and all(not isinstance(value, (Tensor, np.ndarray)) for value in models.values()):
        groups = {label: _named_grad_norms(value) for label, value in models.items()}
    else:
        groups = {"": _named_grad_norms(models)}
    names: list[str] = []
    for named in groups.values():
        names.extend(name for name, _ in named if name not in names)
    if not names:
        raise ValueError("plot_parameter_grad_norms: no parameters given")
    height = 0.8 / len(groups)
    positions = np.arange(len(names))
    for offset, (label, named) in enumerate(groups.items()):
        norms = dict(named)
        values = np.array([np.nan if norms.get(name) is None else norms[name] for name in names], dtype=float)
        missing = [name for name, norm in named if norm is None]
        if missing and len(missing) == len(named):
            raise RuntimeError(f"no gradients yet{' for ' + label if label else ''}: call loss.backward() first")
        ax.barh(positions + offset * height - 0.4 + height / 2, values, height=height, label=label or None)
    ax.set_yticks(positions, names, fontsize="small")
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlabel(r"$\|\partial L / \partial \theta\|$")
    if title:
        ax.set_title(title)
    ax.grid(True, axis="x", alpha=0.3)
    if len(groups) > 1:
        ax.legend(frameon=False, fontsize="small")
    return ax


def saturated_fraction(values: np.ndarray, name: str) -> float:
    """Share of activations within SATURATION of their limits ({0, 1} for a sigmoid, {-1, 1} for tanh)."""
    values = np.asarray(values)
    if values.size == 0:
        return float("nan")
    if name == "candidate" or name.startswith("tanh"):
        return float(np.mean(np.abs(values) > 1 - SATURATION))
    return float(np.mean((values < SATURATION) | (values > 1 - SATURATION)))


def plot_gate_saturation(activations: Mapping[str, np.ndarray], *, ax=None, bins: int = 40,
                         title: str | None = None):
    """Histograms of gate activations (from `seqgrad.viz.gate_activations`), one outline per gate,
    with the share of saturated units in the legend: a gate stuck near 0 or 1 passes no gradient."""
    ax = _axes(ax)
    if not activations:
        raise ValueError("plot_gate_saturation: no gate activations given (is there a gated cell in the graph?)")
    edges = np.linspace(-1.0, 1.0, 2 * bins + 1)
    for name, values in activations.items():
        values = np.asarray(values, dtype=float).reshape(-1)
        share = saturated_fraction(values, name)
        ax.hist(values, bins=edges, histtype="step", linewidth=1.6, density=True,
                label=f"{name}: {share:.0%} saturated")
    ax.set_xlabel("activation")
    ax.set_ylabel("density")
    if title:
        ax.set_title(title)
    ax.legend(frameon=False, fontsize="small")
    return ax

