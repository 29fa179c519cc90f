import numpy as np
import pytest

from seqgrad.data import mackey_glass, sine_series


def test_sine_series_matches_its_formula():
    series = sine_series(3, 40, frequency=0.05, phase=0.3, amplitude=2.0, dtype=np.float64)
    assert series.shape == (40, 3, 1)
    expected = 2.0 * np.sin(2 * np.pi * 0.05 * np.arange(40) + 0.3)
    for i in range(3):
        np.testing.assert_allclose(series[:, i, 0], expected, atol=1e-12)


def test_sine_series_random_phases_frequency_ranges_noise_and_seed():
    clean = sine_series(200, 50, frequency=(0.01, 0.1), seed=0, dtype=np.float64)
    assert np.array_equal(clean, sine_series(200, 50, frequency=(0.01, 0.1), seed=0, dtype=np.float64))
    assert np.abs(clean).max() <= 1.0 and not np.allclose(clean[:, 0], clean[:, 1])
    noisy = sine_series(200, 50, frequency=(0.01, 0.1), noise=0.1, seed=0, dtype=np.float64)
    assert 0.09 < (noisy - clean).std() < 0.11
    batch_first = sine_series(4, 7, seed=1, batch_first=True)
    np.testing.assert_array_equal(batch_first, sine_series(4, 7, seed=1).swapaxes(0, 1))
    with pytest.raises(ValueError, match="noise"):
        sine_series(1, 5, noise=-1.0)


def test_mackey_glass_is_bounded_deterministic_and_seeded():
    series = mackey_glass(3, 400, seed=0)
    assert series.shape == (400, 3, 1)
    assert 0.2 < series.min() and series.max() < 1.5
    np.testing.assert_array_equal(series, mackey_glass(3, 400, seed=0))
    assert not np.array_equal(series, mackey_glass(3, 400, seed=1))
    # tau = 17 is chaotic: it neither settles nor repeats with a short period.
    assert series[:, 0, 0].std() > 0.15
    same_start = mackey_glass(2, 100, initial=1.2)
    np.testing.assert_array_equal(same_start[:, 0], same_start[:, 1])


def test_mackey_glass_stays_at_its_equilibrium_and_settles_for_a_short_delay():
    # beta / (1 + x^10) = gamma has the fixed point x = 1 for beta = 0.2, gamma = 0.1.
    np.testing.assert_allclose(mackey_glass(1, 200, initial=1.0, washout=0, dtype=np.float64), 1.0, atol=1e-12)
    settled = mackey_glass(1, 10, tau=1.0, initial=1.3, washout=400, dtype=np.float64)
    np.testing.assert_allclose(settled, 1.0, atol=1e-6)


def test_mackey_glass_integration_converges_with_the_step():
    coarse = mackey_glass(1, 60, washout=0, initial=1.2, dt=0.1, dtype=np.float64)
    fine = mackey_glass(1, 60, washout=0, initial=1.2, dt=0.01, dtype=np.float64)
    np.testing.assert_allclose(coarse, fine, atol=1e-3)


def test_mackey_glass_rejects_steps_that_do_not_divide_the_delay():
    with pytest.raises(ValueError, match="tau / dt must be a whole number"):
        mackey_glass(1, 10, tau=17.05, dt=0.1)
    with pytest.raises(ValueError, match="positive"):
        mackey_glass(1, 10, initial=-1.0)
