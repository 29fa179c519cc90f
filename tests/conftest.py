"""Shared fixtures: a float64 default dtype for gradchecks, always restored; the BLAS thread count
restored after tests of commands (which keep OpenBLAS to one thread); a small text file to train on."""

import numpy as np
import pytest

import seqgrad
from seqgrad.training.threads import blas_threads, limit_blas_threads


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


@pytest.fixture
def restore_blas_threads():
    """The commands keep OpenBLAS to one thread; the rest of the suite gets its setting back."""
    before = blas_threads()
    yield
    if before is not None:
        limit_blas_threads(before)


@pytest.fixture
def text_file(tmp_path):
    """A small English text file (1,920 characters, 15 distinct) for character-model commands."""
    path = tmp_path / "text.txt"
    path.write_text("the cat sat on the mat. the dog sat on the log.\n" * 40, encoding="utf-8")
    return path
