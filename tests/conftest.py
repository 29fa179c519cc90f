"""Shared fixtures: a float64 default dtype for gradchecks, always restored."""

import numpy as np
import pytest

import seqgrad


@pytest.fixture(autouse=True)
def _restore_default_dtype():
    """No test leaks a changed default dtype into the next one, even when it fails."""
    previous = seqgrad.get_default_dtype()
    yield
    seqgrad.set_default_dtype(previous)


@pytest.fixture
def float64():
    """Python numbers and lists become float64 inside the test (finite differences need it)."""
    seqgrad.set_default_dtype(np.float64)
    yield np.float64
