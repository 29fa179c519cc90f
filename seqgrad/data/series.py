"""Time series for forecasting: noisy sines and the chaotic Mackey-Glass series."""

from __future__ import annotations

import numpy as np

from ..dtypes import get_default_dtype
from ._seeding import resolve_rng


def _check_count(name: str, value: int, minimum: int, where: str) -> None:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{where}: {name} must be an int >= {minimum}, got {value!r}")


def _per_series(value: float | tuple[float, float] | None, default_range: tuple[float, float], n: int,
                generator: np.random.Generator, name: str, where: str) -> np.ndarray:
    """A float repeated for each series, or a draw from U[low, high) per series (None: `default_range`)."""
    if value is None:
        value = default_range
    if isinstance(value, (tuple, list)):
        if len(value) != 2 or not value[0] <= value[1]:
            raise ValueError(f"{where}: {name} range must be (low, high) with low <= high, got {value!r}")
        return generator.uniform(value[0], value[1], size=n)
    return np.full(n, float(value))


def sine_series(n: int, length: int, *, frequency: float | tuple[float, float] = 0.04,
                phase: float | tuple[float, float] | None = None, amplitude: float = 1.0, noise: float = 0.0,
                seed: int | None = None, rng: np.random.Generator | None = None, batch_first: bool = False,
                dtype: np.dtype | type | None = None) -> np.ndarray:
    """`n` sampled sine waves, optionally with Gaussian noise.

    Shape (length, n, 1), or (n, length, 1) with `batch_first`.
    x[t, i] = amplitude · sin(2π f_i t + φ_i) + noise · ε,  ε ~ N(0, 1), t = 0 .. length-1.
    `frequency` is in cycles per step (0.04: a period of 25 steps); it and `phase` are either one
    float for every series or a (low, high) range drawn per series; `phase=None` draws U[0, 2π).
    """
    _check_count("n", n, 1, "sine_series")
    _check_count("length", length, 1, "sine_series")
    if noise < 0:
        raise ValueError(f"sine_series: noise is a standard deviation, expected >= 0, got {noise!r}")
    if frequency is None:
        raise ValueError("sine_series: frequency must be a float or a (low, high) range, got None")
    generator = resolve_rng(seed, rng, "sine_series")
    frequencies = _per_series(frequency, (0.0, 0.0), n, generator, "frequency", "sine_series")
    phases = _per_series(phase, (0.0, 2.0 * np.pi), n, generator, "phase", "sine_series")
    steps = np.arange(length)[:, None]
    values = amplitude * np.sin(2.0 * np.pi * frequencies * steps + phases)
    if noise > 0:
        values = values + noise * generator.standard_normal(values.shape)
    values = values[..., None].astype(dtype or get_default_dtype())
    return np.ascontiguousarray(values.swapaxes(0, 1)) if batch_first else values


def mackey_glass(n: int = 1, length: int = 1000, *, tau: float = 17.0, beta: float = 0.2, gamma: float = 0.1,
                 exponent: float = 10.0, dt: float = 0.1, sample_every: float = 1.0, washout: int = 300,
                 initial: float | tuple[float, float] | None = None, seed: int | None = None,
                 rng: np.random.Generator | None = None, batch_first: bool = False,
                 dtype: np.dtype | type | None = None) -> np.ndarray:
    """The Mackey-Glass series, chaotic for tau = 17, by 4th-order Runge-Kutta on the delay equation.

    dx/dt = beta · x(t - tau) / (1 + x(t - tau)^exponent) - gamma · x(t)
    Shape (length, n, 1), or (n, length, 1) with `batch_first`: one sample every `sample_every`
    time units after dropping the first `washout` samples (the transient). The history on
    [-tau, 0] is a constant per series: `initial` (a float: every series identical), a (low, high)
    range drawn per series, or None for U[0.5, 1.5). The delayed value at a half step is the mean
    of its two neighbours on the grid, so tau / dt and sample_every / dt must be whole numbers.
    """
    _check_count("n", n, 1, "mackey_glass")
    _check_count("length", length, 1, "mackey_glass")
    _check_count("washout", washout, 0, "mackey_glass")
    delay_steps = _whole_ratio(tau, dt, "tau", "mackey_glass")
    stride = _whole_ratio(sample_every, dt, "sample_every", "mackey_glass")
    if delay_steps < 1:
        raise ValueError(f"mackey_glass: tau must be at least dt ({dt}), got {tau!r}")
    generator = resolve_rng(seed, rng, "mackey_glass")
    start = _per_series(initial, (0.5, 1.5), n, generator, "initial", "mackey_glass")
    if not (start > 0).all():
        raise ValueError(f"mackey_glass: the initial history must be positive, got values down to {start.min()}")

    def slope(x: np.ndarray, delayed: np.ndarray) -> np.ndarray:
        return beta * delayed / (1.0 + delayed ** exponent) - gamma * x

    integration_steps = (washout + length - 1) * stride
    # path[k] is x at time (k - delay_steps) · dt; rows 0 .. delay_steps hold the constant history.
    path = np.empty((delay_steps + 1 + integration_steps, n))
    path[:delay_steps + 1] = start
    half = 0.5 * dt
    for k in range(delay_steps, delay_steps + integration_steps):
        x = path[k]
        delayed_now, delayed_next = path[k - delay_steps], path[k - delay_steps + 1]
        delayed_mid = 0.5 * (delayed_now + delayed_next)
        k1 = slope(x, delayed_now)
        k2 = slope(x + half * k1, delayed_mid)
        k3 = slope(x + half * k2, delayed_mid)
        k4 = slope(x + dt * k3, delayed_next)
        path[k + 1] = x + (dt / 6.0) * (k1 + 2.0 * k2 + 2.0 * k3 + k4)
    samples = path[delay_steps + washout * stride::stride][:length]
    values = samples[..., None].astype(dtype or get_default_dtype())
    return np.ascontiguousarray(values.swapaxes(0, 1)) if batch_first else values


def _whole_ratio(numerator: float, denominator: float, name: str, where: str) -> int:
    if denominator <= 0 or numerator <= 0:
        raise ValueError(f"{where}: {name} and dt must be positive, got {name}={numerator!r}, dt={denominator!r}")
    ratio = numerator / denominator
    rounded = int(round(ratio))
    if abs(ratio - rounded) > 1e-9 * max(1.0, ratio):
        raise ValueError(f"{where}: {name} / dt must be a whole number of steps, got {numerator} / {denominator} "
                         f"= {ratio}")
    return rounded
