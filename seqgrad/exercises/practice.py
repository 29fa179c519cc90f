"""Exercises of notebook 06 (training in practice): a recurrent dropout mask, and a truncation length."""

from __future__ import annotations

import numpy as np

from .core import Wrong, as_array, call, exercise

ECHO_DELAY, ECHO_LENGTH = 8, 60


@exercise("recurrent_dropout_mask", "06", """
    Write `masks(steps, batch, hidden_size, p, rng) -> (steps, batch, hidden_size)`, the masks that
    recurrent (variational) dropout multiplies into h_(t-1) at each step: inverted dropout (a unit is
    kept with probability 1 - p and then scaled by 1 / (1 - p), dropped units are 0), with ONE mask
    per sequence used at every step. Draw with `rng` (a numpy Generator).
    """, hint="draw one (batch, hidden_size) mask, e.g. (rng.random((batch, hidden_size)) >= p) / (1 - p), and "
            "repeat it over the steps (np.broadcast_to or np.repeat)")
def _recurrent_dropout_mask(masks) -> str:
    steps, batch, size, p = 6, 400, 50, 0.3
    got = as_array(call(masks, steps, batch, size, p, np.random.default_rng(0)), (steps, batch, size), "masks")
    if not np.all(got == got[0]):
        raise Wrong("the mask changes from step to step: recurrent dropout drops the same units of h at every "
                    "step of a sequence (a fresh mask per step is ordinary dropout, and it erases memory)")
    values = set(np.unique(np.round(got[0], 9)).tolist())
    scale = round(1.0 / (1.0 - p), 9)
    if values <= {0.0, 1.0}:
        raise Wrong("kept units are 1: inverted dropout scales them by 1 / (1 - p), so the expected value of "
                    "h is unchanged and evaluation needs no rescaling")
    if not values <= {0.0, scale}:
        raise Wrong(f"a mask holds 0 and 1/(1-p) = {scale:.4f} only, got values {sorted(values)[:5]}")
    dropped = float(np.mean(got[0] == 0.0))
    if abs(dropped - p) > 0.02:
        raise Wrong(f"{dropped:.1%} of the units are dropped; p = {p} should drop about {p:.0%}")
    if np.all(got[0] == got[0][0]):
        raise Wrong("every sequence of the batch has the same mask: draw one per sequence")
    return f"one mask per sequence, {dropped:.1%} dropped (p = {p}), kept units scaled by {scale:.4f}"


@exercise("truncation_length", "06", f"""
    The delayed echo: at every step, output the symbol seen exactly D = {ECHO_DELAY} steps earlier;
    sequences of {ECHO_LENGTH} steps. Choose a window k for truncated BPTT (an integer) that still
    learns the delay in a few hundred batches, as cheaply as possible (shorter windows are
    cheaper: their state carries no graph beyond k steps). The experiment
    benchmarks/experiments/truncated_bptt.py measured k = 5, 8, 9, 12, 16, 20 and full BPTT.
    """, hint="a window teaches a D-step dependency only at the steps whose input D steps back lies in the same "
            "window: k - D of every k steps; k = 9 gives 1 step in 9, which was not enough in 600 batches, "
            "k = 12 gives 4 in 12 and learned")
def _truncation_length(answer) -> str:
    if not isinstance(answer, (int, np.integer)) or isinstance(answer, bool):
        raise Wrong(f"k is a whole number of steps, got {answer!r}")
    k = int(answer)
    if k < 1:
        raise Wrong(f"a window holds at least one step, got {k}")
    if k >= ECHO_LENGTH:
        raise Wrong(f"k = {k} covers the whole sequence of {ECHO_LENGTH}: that is full BPTT, not the cheapest "
                    "window that learns", "look for the shortest window that still holds both ends often enough")
    if k <= ECHO_DELAY:
        raise Wrong(f"with k = {k} ≤ D = {ECHO_DELAY} no window ever holds both the symbol and the step that must "
                    "echo it: no gradient teaches the delay, and the network stays at chance (25%)")
    share = (k - ECHO_DELAY) / k
    if share < 1 / 3:
        raise Wrong(f"k = {k} gives the delay a gradient at only {k - ECHO_DELAY} of every {k} steps "
                    f"({share:.0%}); in the experiment k = 9 (11%) was still at chance after 600 batches")
    cheap = "" if k <= 2 * ECHO_DELAY else f"; it works, though k = {int(np.ceil(1.5 * ECHO_DELAY))} would be cheaper"
    return f"k = {k}: {k - ECHO_DELAY} of every {k} steps see the dependency whole ({share:.0%}){cheap}"
