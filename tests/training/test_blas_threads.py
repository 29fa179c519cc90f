"""The training commands keep OpenBLAS to one thread; the setting can be read back and restored."""

import pytest

from seqgrad.training.threads import blas_threads, limit_blas_threads


def test_limit_blas_threads_sets_and_reports_the_count():
    before = blas_threads()
    if before is None:
        pytest.skip("numpy uses no BLAS that threadpoolctl controls here")
    assert before is not None and before >= 1
    try:
        assert limit_blas_threads(1) == before
        assert blas_threads() == 1
    finally:
        limit_blas_threads(before)
    assert blas_threads() == before
    with pytest.raises(ValueError, match="at least 1"):
        limit_blas_threads(0)
