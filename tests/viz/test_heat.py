"""The gradient colour scale: log10 norms to colours and widths, faint to strong, with legend ticks."""

import math

import pytest

from seqgrad.viz.heat import NON_FINITE_COLOUR, ZERO_COLOUR, GradientScale, format_norm


def lightness(colour: str) -> float:
    return sum(int(colour[i:i + 2], 16) for i in (1, 3, 5))


def test_larger_gradients_are_darker_and_wider_on_a_log_scale():
    scale = GradientScale([1e-6, 1e-3, 1.0, None, 0.0])
    assert (scale.low, scale.high) == (pytest.approx(-6), pytest.approx(0))
    assert scale.position(1e-3) == pytest.approx(0.5)
    fills = [scale.fill(norm) for norm in (1e-6, 1e-4, 1e-2, 1.0)]
    assert all(lightness(a) > lightness(b) for a, b in zip(fills, fills[1:]))
    widths = [scale.line(norm)[1] for norm in (1e-6, 1e-3, 1.0)]
    assert widths == sorted(widths) and widths[0] < widths[-1]
    assert scale.fill(1e-9) == scale.fill(1e-6) and scale.fill(10.0) == scale.fill(1.0)   # clipped to the ends


def test_no_gradient_zero_and_non_finite_are_told_apart():
    scale = GradientScale([0.5, 2.0])
    assert scale.fill(None) is None and scale.line(None) is None
    assert scale.fill(0.0) == ZERO_COLOUR
    assert scale.fill(math.inf) == NON_FINITE_COLOUR == scale.fill(math.nan)
    assert GradientScale([None, 0.0]).empty


def test_equal_norms_sit_mid_scale_and_text_stays_readable():
    scale = GradientScale([0.1, 0.1])
    assert scale.position(0.1) == pytest.approx(0.5)
    assert scale.text_colour(scale.fill(0.1)) == "#000000"
    assert GradientScale([1e-3, 1.0]).text_colour(GradientScale([1e-3, 1.0]).fill(1.0)) == "#ffffff"


def test_ticks_are_whole_decades_or_the_two_ends():
    assert [label for _, label in GradientScale([1e-6, 1.0]).ticks()] == ["1e-6", "1e-4", "1e-2", "1e0"]
    assert [label for _, label in GradientScale([1e-3, 1.0]).ticks()] == ["1e-3", "1e-2", "1e-1", "1e0"]
    positions = [position for position, _ in GradientScale([1e-6, 1.0]).ticks()]
    assert positions[0] == pytest.approx(0.0) and all(0 <= p <= 1 for p in positions)
    assert [label for _, label in GradientScale([0.2, 0.5]).ticks()] == ["0.2", "0.5"]


def test_norms_print_short():
    assert [format_norm(value) for value in (None, 0.0, math.inf, math.nan, 3.21e-5, 0.0456, 12.5, 4.2e7)] == \
        ["–", "0", "inf", "nan", "3.2e-5", "0.0456", "12.5", "4.2e7"]
