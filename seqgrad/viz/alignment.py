"""matplotlib plots for sequence to sequence: attention weights as a soft alignment (a heatmap of
output steps against source steps) and the gradient that reaches each encoder step.

Each function draws on `ax` when given or on a new pyplot figure, and returns the axes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np


def _axes(ax, size=(5.0, 3.6)):
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=size, layout="constrained")[1]


def show_token(token: str) -> str:
    """A token as a tick label: a space shows as '␣'."""
    return "␣" if token == " " else token


def plot_alignment(weights: np.ndarray, source: Sequence[str], output: Sequence[str], *, ax=None,
                   title: str | None = None):
    """Heatmap of attention weights (L, S): row j is where output token j looked in the source.

    `source` (S tokens) labels the columns, `output` (L tokens, `</s>` included) the rows."""
    weights = np.asarray(weights, dtype=float)
    if weights.shape != (len(output), len(source)):
        raise ValueError(f"plot_alignment: weights of shape {weights.shape} do not match {len(output)} output "
                         f"and {len(source)} source tokens")
    ax = _axes(ax, (max(3.0, 0.22 * len(source) + 1.2), max(2.4, 0.22 * len(output) + 1.0)))
    ax.imshow(weights, cmap="Blues", vmin=0.0, vmax=1.0, aspect="auto", interpolation="nearest")
    ax.set_xticks(range(len(source)), [show_token(token) for token in source], fontsize=7)
    ax.set_yticks(range(len(output)), [show_token(token) for token in output], fontsize=7)
    ax.tick_params(length=0)
    ax.set_xlabel("source", fontsize=8)
    ax.set_ylabel("output", fontsize=8)
    if title:
        ax.set_title(title, fontsize=9)
    return ax


def plot_encoder_gradient(flows: Mapping[str, Mapping[str, np.ndarray]], *, ax=None, title: str | None = None):
    """‖∂L/∂h_k‖ against encoder step k, log scale: {model label: {direction: norms (S,)}}."""
    ax = _axes(ax, (6.0, 3.8))
    styles = {"forward": "-", "backward": "--"}
    for index, (label, per_direction) in enumerate(flows.items()):
        colour = f"C{index}"
        for direction, norms in per_direction.items():
            norms = np.asarray(norms, dtype=float)
            steps = np.arange(len(norms))
            keep = np.isfinite(norms) & (norms > 0)
            ax.plot(steps[keep], norms[keep], styles.get(direction, ":"), color=colour, marker="o", markersize=2.5,
                    label=f"{label}, {direction}")
    ax.set_yscale("log")
    ax.set_xlabel("encoder step k (source position)")
    ax.set_ylabel(r"$\|\partial L / \partial h_k\|$")
    if title:
        ax.set_title(title, fontsize=10)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(frameon=False, fontsize="small")
    return ax
