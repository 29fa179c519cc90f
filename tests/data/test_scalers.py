import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from seqgrad.data import MinMaxScaler, NotFittedError, StandardScaler

finite = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)


@given(arrays(np.float64, st.tuples(st.integers(1, 20), st.integers(1, 4)), elements=finite),
       st.sampled_from(["minmax", "standard"]))
def test_inverse_transform_undoes_transform(values, kind):
    scaler = MinMaxScaler((-1.0, 2.0)) if kind == "minmax" else StandardScaler()
    restored = scaler.inverse_transform(scaler.fit_transform(values))
    np.testing.assert_allclose(restored, values, rtol=1e-9, atol=1e-6)


def test_minmax_maps_each_feature_onto_the_range():
    values = np.array([[0.0, 10.0], [5.0, 20.0], [10.0, 30.0]])
    scaled = MinMaxScaler((-1, 1)).fit_transform(values)
    np.testing.assert_allclose(scaled, [[-1, -1], [0, 0], [1, 1]])


def test_standard_scaler_gives_zero_mean_unit_std_per_feature():
    values = np.random.default_rng(0).normal([3.0, -2.0], [0.5, 4.0], size=(500, 2))
    scaled = StandardScaler().fit_transform(values)
    np.testing.assert_allclose(scaled.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(scaled.std(axis=0), 1, atol=1e-12)


def test_statistics_span_all_leading_axes_of_time_major_data():
    values = np.random.default_rng(1).normal(size=(30, 4, 3))
    scaler = StandardScaler().fit(values)
    np.testing.assert_allclose(scaler.mean_, values.reshape(-1, 3).mean(axis=0))
    assert scaler.transform(values[0]).shape == (4, 3)


def test_constant_features_do_not_divide_by_zero():
    values = np.array([[1.0, 7.0], [2.0, 7.0], [3.0, 7.0]])
    for scaler in (MinMaxScaler((0.5, 1.0)), StandardScaler()):
        with np.errstate(all="raise"):
            scaled = scaler.fit_transform(values)
            restored = scaler.inverse_transform(scaled)
        assert np.isfinite(scaled).all()
        np.testing.assert_allclose(restored, values)
    assert (MinMaxScaler((0.5, 1.0)).fit_transform(values)[:, 1] == 0.5).all()
    assert (StandardScaler().fit_transform(values)[:, 1] == 0).all()


def test_one_dimensional_series_is_one_feature_and_broadcasts():
    series = np.linspace(-3, 5, 17).astype(np.float32)
    scaler = MinMaxScaler().fit(series)
    scaled = scaler.transform(series)
    assert scaled.dtype == np.float32 and scaled.min() == 0 and scaled.max() == 1
    np.testing.assert_allclose(scaler.inverse_transform(scaled[:, None])[:, 0], series, rtol=1e-6)


@pytest.mark.parametrize("scaler_class", [MinMaxScaler, StandardScaler])
def test_refuses_to_transform_before_fit(scaler_class):
    scaler = scaler_class()
    with pytest.raises(NotFittedError, match=f"{scaler_class.__name__}.transform.*not fitted"):
        scaler.transform(np.ones((2, 2)))
    with pytest.raises(NotFittedError, match="inverse_transform"):
        scaler.inverse_transform(np.ones((2, 2)))
    assert issubclass(NotFittedError, RuntimeError)


@pytest.mark.parametrize("scaler_class", [MinMaxScaler, StandardScaler])
def test_feature_count_mismatch_names_both(scaler_class):
    scaler = scaler_class().fit(np.ones((5, 3)))
    with pytest.raises(ValueError, match=r"fitted on 3 features.*\(5, 4\) with 4"):
        scaler.transform(np.ones((5, 4)))


def test_fit_rejects_empty_non_finite_and_bad_ranges():
    with pytest.raises(ValueError, match="at least one value"):
        StandardScaler().fit(np.ones((0, 2)))
    with pytest.raises(ValueError, match="finite"):
        MinMaxScaler().fit(np.array([1.0, np.nan]))
    with pytest.raises(ValueError, match="low < high"):
        MinMaxScaler((1, 1))
