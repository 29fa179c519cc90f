"""The gradient colour scale: log10 ||grad|| -> colour and line width, and its legend ticks.

Small gradients are pale and thin, large ones dark and thick, so a vanishing gradient
shows as the colour fading back in time. The scale spans the smallest to the largest
nonzero norm in one drawing; exact zeros and non-finite values get colours of their own.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

# Pale yellow (faint) to dark brown (strong): readable on white, ordered by lightness.
PALETTE = ((255, 247, 188), (254, 217, 118), (254, 178, 76), (253, 141, 60), (240, 59, 32), (128, 0, 38))
ZERO_COLOUR = "#d9d9d9"        # an exact zero gradient (a dead relu, a masked step)
NON_FINITE_COLOUR = "#7a0177"  # inf or nan: an exploding gradient
MIN_WIDTH, MAX_WIDTH = 0.8, 5.0


def format_norm(norm: float | None) -> str:
    """'3.2e-4', '0', 'inf', '–' (no gradient): short enough for a node label."""
    if norm is None:
        return "–"
    if not math.isfinite(norm):
        return "nan" if math.isnan(norm) else "inf"
    if norm == 0:
        return "0"
    mantissa, exponent = f"{norm:.1e}".split("e")
    exponent = int(exponent)
    if -2 <= exponent <= 2:
        return f"{norm:.3g}"
    return f"{mantissa}e{exponent}"


def _hex(rgb) -> str:
    return "#{:02x}{:02x}{:02x}".format(*(round(channel) for channel in rgb))


def palette_colour(position: float) -> tuple[float, float, float]:
    """The palette at `position` in [0, 1], linearly interpolated between its stops."""
    position = min(max(position, 0.0), 1.0) * (len(PALETTE) - 1)
    low = min(int(position), len(PALETTE) - 2)
    fraction = position - low
    return tuple(a + (b - a) * fraction for a, b in zip(PALETTE[low], PALETTE[low + 1]))


class GradientScale:
    """log10 of the gradient norms in one drawing, mapped to [0, 1].

    Positions: 0 for the smallest nonzero finite norm, 1 for the largest; a drawing whose
    norms are all equal sits in the middle of a one-decade scale.
    """

    def __init__(self, norms: Iterable[float | None]) -> None:
        logs = [math.log10(norm) for norm in norms if norm is not None and norm > 0 and math.isfinite(norm)]
        self.empty = not logs
        low, high = (min(logs), max(logs)) if logs else (0.0, 1.0)
        if high - low < 1e-9:
            low, high = low - 0.5, high + 0.5
        self.low, self.high = low, high

    def position(self, norm: float | None) -> float | None:
        """Where `norm` sits on the scale; None for no gradient, zero or non-finite."""
        if norm is None or norm <= 0 or not math.isfinite(norm):
            return None
        return min(max((math.log10(norm) - self.low) / (self.high - self.low), 0.0), 1.0)

    def fill(self, norm: float | None) -> str | None:
        """Node fill for a gradient norm (None: no gradient reached it)."""
        if norm is None:
            return None
        if not math.isfinite(norm):
            return NON_FINITE_COLOUR
        if norm == 0:
            return ZERO_COLOUR
        return _hex(palette_colour(self.position(norm)))

    def line(self, norm: float | None) -> tuple[str, float] | None:
        """Edge colour and width for a gradient norm; edges start a little darker than
        nodes so that the faintest one still shows on white."""
        if norm is None:
            return None
        if not math.isfinite(norm):
            return NON_FINITE_COLOUR, MAX_WIDTH
        if norm == 0:
            return ZERO_COLOUR, MIN_WIDTH
        position = self.position(norm)
        return _hex(palette_colour(0.15 + 0.85 * position)), MIN_WIDTH + (MAX_WIDTH - MIN_WIDTH) * position

    @staticmethod
    def text_colour(fill: str | None) -> str:
        """Black on light fills, white on dark ones."""
        if fill is None:
            return "#000000"
        red, green, blue = (int(fill[i:i + 2], 16) for i in (1, 3, 5))
        return "#ffffff" if 0.299 * red + 0.587 * green + 0.114 * blue < 140 else "#000000"

    def swatches(self, count: int = 9) -> list[str]:
        """`count` colours evenly spaced from faint to strong, for the legend."""
        return [_hex(palette_colour(i / (count - 1))) for i in range(count)]

    def ticks(self, most: int = 6) -> list[tuple[float, str]]:
        """(position, label) pairs for the legend: whole decades when the scale spans two or
        more of them, otherwise its two ends."""
        first, last = math.ceil(self.low - 1e-9), math.floor(self.high + 1e-9)
        decades = list(range(first, last + 1))
        if len(decades) < 2:
            return [(0.0, format_norm(10 ** self.low)), (1.0, format_norm(10 ** self.high))]
        stride = math.ceil(len(decades) / most)
        chosen = decades[::stride]
        return [((decade - self.low) / (self.high - self.low), f"1e{decade}") for decade in chosen]
