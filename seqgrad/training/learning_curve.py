"""The language model's learning curve as a PNG (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .lm_trainer import TrainHistory, bits


def smooth(values: np.ndarray, weight: float = 0.95) -> np.ndarray:
    """Exponential moving average with bias correction, so the first points are not pulled to 0.

    s_t = w s_{t-1} + (1-w) x_t,  shown as s_t / (1 - w^t).
    """
    values = np.asarray(values, dtype=float)
    out = np.empty_like(values)
    running = 0.0
    for index, value in enumerate(values):  # one pass over a few hundred points, once per plot
        running = weight * running + (1.0 - weight) * value
        out[index] = running / (1.0 - weight ** (index + 1))
    return out


def plot_learning_curve(history: TrainHistory, path: str | os.PathLike, unigram_bits: float,
                        title: str = "character-level language model") -> Path:
    """Training and held-out bits per character against updates, with the unigram baseline.

    Training losses are per-window means (faint) and their moving average (solid); held-out
    points are the whole held-out text scored by the model at that step.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = np.arange(1, history.steps + 1)
    training = np.array([bits(loss) for loss in history.losses])
    figure, ax = plt.subplots(figsize=(7.0, 4.2), layout="constrained")
    try:
        ax.plot(steps, training, color="tab:blue", alpha=0.25, linewidth=0.8, label="training (each update)")
        # A window of about a tenth of the run (at most 20 updates), so short runs do not lag.
        weight = min(0.95, max(0.0, 1.0 - 10.0 / max(history.steps, 1)))
        ax.plot(steps, smooth(training, weight), color="tab:blue", linewidth=2.0, label="training (moving average)")
        if history.eval_steps:
            held_out = [bits(loss) for loss in history.eval_losses]
            ax.plot(history.eval_steps, held_out, color="tab:orange", marker="o", linewidth=1.5,
                    label="held-out text")
            ax.annotate(f"{held_out[-1]:.2f} bits/char", (history.eval_steps[-1], held_out[-1]),
                        textcoords="offset points", xytext=(-10, 12), ha="right", color="tab:orange")
        ax.axhline(unigram_bits, color="gray", linestyle="--", linewidth=1.2,
                   label=f"unigram baseline ({unigram_bits:.2f} bits/char)")
        shown = np.concatenate([training, [bits(loss) for loss in history.eval_losses], [unigram_bits]])
        ax.set_ylim(max(0.0, shown.min() - 0.3), shown.max() + 0.2)
        ax.set_xlim(0, max(history.steps, 1))
        ax.set_xlabel("update (truncated-BPTT window)")
        ax.set_ylabel("bits per character")
        ax.set_title(title)
        ax.grid(True, alpha=0.3)
        ax.legend(frameon=False, loc="upper right")
        path = Path(path)
        figure.savefig(path, dpi=110)
    finally:
        plt.close(figure)
    return path
