"""Feature scaling for forecasting: fit statistics on training data, transform, and invert predictions."""

from __future__ import annotations

from typing import Any

import numpy as np

from .errors import NotFittedError


def _is_constant(spread: np.ndarray, values: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
    """Per feature: is the spread (range or std) only rounding noise, or too small to divide by?

    Rounding leaves a spread of a few ulps on a constant feature, and a subnormal spread would
    overflow its reciprocal; both count as zero.
    """
    magnitude = np.abs(values).max(axis=axes).astype(np.float64)
    floor = np.maximum(64 * np.finfo(np.float64).eps * magnitude, np.finfo(np.float64).tiny * 16)
    return spread <= floor


class _Scaler:
    """Shared checks: features are the last axis (a 1-D input is one feature); statistics span the other axes."""

    def __init__(self):
        self.n_features_: int | None = None
        self._fitted_on_vector = False

    @property
    def is_fitted(self) -> bool:
        return self.n_features_ is not None

    def _prepare(self, x: Any, where: str, fitting: bool) -> np.ndarray:
        values = np.asarray(x)
        name = f"{type(self).__name__}.{where}"
        if values.ndim == 0:
            raise ValueError(f"{name}: expected an array of shape (..., features) or (N,), got a scalar")
        if not (np.issubdtype(values.dtype, np.floating) or np.issubdtype(values.dtype, np.integer)):
            raise TypeError(f"{name}: expected real numbers, got dtype {values.dtype}")
        if not fitting:
            if not self.is_fitted:
                raise NotFittedError(f"{name}: this {type(self).__name__} is not fitted yet; call fit(x) first")
            # A scaler fitted on a 1-D series has scalar statistics, which broadcast over any shape.
            if not self._fitted_on_vector and values.shape[-1] != self.n_features_:
                raise ValueError(f"{name}: fitted on {self.n_features_} features (last axis), got shape "
                                 f"{values.shape} with {values.shape[-1]} on the last axis")
        if fitting:
            if values.size == 0:
                raise ValueError(f"{name}: expected at least one value to fit, got shape {values.shape}")
            if not np.isfinite(values).all():
                raise ValueError(f"{name}: expected finite values, got NaN or inf")
        return values

    def _output_dtype(self, values: np.ndarray) -> np.dtype:
        return values.dtype if np.issubdtype(values.dtype, np.floating) else np.dtype(np.float64)

    def _reduce_axes(self, values: np.ndarray) -> tuple[int, ...]:
        return tuple(range(values.ndim - 1)) if values.ndim > 1 else (0,)

    def _record_shape(self, values: np.ndarray) -> None:
        self._fitted_on_vector = values.ndim == 1
        self.n_features_ = 1 if values.ndim == 1 else values.shape[-1]

    def fit_transform(self, x: Any) -> np.ndarray:
        return self.fit(x).transform(x)

    def fit(self, x: Any):
        raise NotImplementedError

    def transform(self, x: Any) -> np.ndarray:
        raise NotImplementedError


class MinMaxScaler(_Scaler):
    """Map each feature's fitted [min, max] linearly onto `feature_range`.

    Shapes: x (N,) or (..., features); statistics are per feature (last axis).
    x' = lo + (x - min) · (hi - lo) / (max - min); a constant feature (max = min) maps to lo.
    """

    def __init__(self, feature_range: tuple[float, float] = (0.0, 1.0)):
        super().__init__()
        low, high = feature_range
        if not (np.isfinite(low) and np.isfinite(high) and low < high):
            raise ValueError(f"MinMaxScaler: feature_range must be finite (low, high) with low < high, "
                             f"got {feature_range!r}")
        self.feature_range = (float(low), float(high))
        self.data_min_: np.ndarray | None = None
        self.data_max_: np.ndarray | None = None
        self.scale_: np.ndarray | None = None

    def fit(self, x: Any) -> MinMaxScaler:
        """Record each feature's minimum and maximum; returns self."""
        values = self._prepare(x, "fit", fitting=True)
        axes = self._reduce_axes(values)
        data_min = values.min(axis=axes).astype(np.float64)
        data_max = values.max(axis=axes).astype(np.float64)
        low, high = self.feature_range
        # A constant feature has no range to stretch: scale by 1 so it maps to `low`, not to NaN or inf.
        data_range = np.where(_is_constant(data_max - data_min, values, axes), 1.0, data_max - data_min)
        self.scale_ = (high - low) / data_range
        self.data_min_, self.data_max_ = data_min, data_max
        self._record_shape(values)
        return self

    def transform(self, x: Any) -> np.ndarray:
        values = self._prepare(x, "transform", fitting=False)
        scaled = (values - self.data_min_) * self.scale_ + self.feature_range[0]
        return scaled.astype(self._output_dtype(values), copy=False)

    def inverse_transform(self, x: Any) -> np.ndarray:
        """Back to the original units: x = min + (x' - lo) / scale."""
        values = self._prepare(x, "inverse_transform", fitting=False)
        restored = (values - self.feature_range[0]) / self.scale_ + self.data_min_
        return restored.astype(self._output_dtype(values), copy=False)

    def __repr__(self) -> str:
        return f"MinMaxScaler(feature_range={self.feature_range})"


class StandardScaler(_Scaler):
    """Centre each feature on its fitted mean and divide by its standard deviation.

    Shapes: x (N,) or (..., features); statistics are per feature (last axis).
    x' = (x - mean) / std (population std); a constant feature (std = 0) is divided by 1, giving 0.
    """

    def __init__(self):
        super().__init__()
        self.mean_: np.ndarray | None = None
        self.scale_: np.ndarray | None = None

    def fit(self, x: Any) -> StandardScaler:
        """Record each feature's mean and standard deviation; returns self."""
        values = self._prepare(x, "fit", fitting=True)
        axes = self._reduce_axes(values)
        mean = values.mean(axis=axes, dtype=np.float64)
        std = values.std(axis=axes, dtype=np.float64)
        self.mean_ = mean
        self.scale_ = np.where(_is_constant(std, values, axes), 1.0, std)
        self._record_shape(values)
        return self

    def transform(self, x: Any) -> np.ndarray:
        values = self._prepare(x, "transform", fitting=False)
        return ((values - self.mean_) / self.scale_).astype(self._output_dtype(values), copy=False)

    def inverse_transform(self, x: Any) -> np.ndarray:
        """Back to the original units: x = x' · std + mean."""
        values = self._prepare(x, "inverse_transform", fitting=False)
        return (values * self.scale_ + self.mean_).astype(self._output_dtype(values), copy=False)

    def __repr__(self) -> str:
        return "StandardScaler()"
