"""BLAS threads while training: set and read back, and the free-core policy that moves between one
thread and the cores other processes leave free."""

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


def test_a_core_is_left_to_other_processes_once_they_use_more_than_a_quarter_of_it():
    from seqgrad.training.threads import free_core_count
    assert free_core_count(2, 0.0) == 2
    assert free_core_count(2, 0.2) == 2
    assert free_core_count(2, 0.3) == 1
    assert free_core_count(2, 1.9) == 1    # never below one thread
    assert free_core_count(4, 1.1) == 3
    assert free_core_count(4, 1.3) == 2
    assert free_core_count(1, 0.0) == 1


def test_busy_seconds_sum_only_the_usable_cpus(tmp_path):
    import os

    from seqgrad.training.threads import cpu_busy_seconds
    stat = tmp_path / "stat"
    stat.write_text("cpu  900 0 900 5000 0 0 0 0 0 0\n"
                    "cpu0 100 10 200 1000 50 3 7 0 0 0\n"
                    "cpu1 800 0 700 4000 0 0 0 0 0 0\n"
                    "intr 12345\n")
    ticks = os.sysconf("SC_CLK_TCK")
    assert cpu_busy_seconds([0], str(stat)) == pytest.approx((100 + 10 + 200 + 3 + 7) / ticks)  # idle, iowait not busy
    assert cpu_busy_seconds([0, 1], str(stat)) == pytest.approx((320 + 1500) / ticks)
    assert cpu_busy_seconds([0], str(tmp_path / "missing")) is None


def test_free_core_threads_follow_the_load_and_keep_a_count_the_environment_sets(monkeypatch, restore_blas_threads):
    from seqgrad.training import threads as module
    if blas_threads() is None:
        pytest.skip("numpy uses no BLAS that threadpoolctl controls here")
    for name in module.THREAD_ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)
    clock = {"wall": 0.0, "own": 0.0, "busy": 0.0}
    monkeypatch.setattr(module.time, "monotonic", lambda: clock["wall"])
    monkeypatch.setattr(module.time, "process_time", lambda: clock["own"])
    monkeypatch.setattr(module, "cpu_busy_seconds", lambda cpus, stat="/proc/stat": clock["busy"])
    monkeypatch.setattr(module, "usable_cores", lambda: [0, 1])
    monkeypatch.setattr(module, "cpu_quota", lambda: None)
    governor = module.FreeCoreThreads(every=2.0, first_look=0)
    assert governor.threads == 1 and blas_threads() == 1      # one thread until the first reading
    clock.update(wall=1.0, own=1.0, busy=1.0)
    assert governor.update() == 1                                # not yet time to read again
    clock.update(wall=2.0, own=2.0, busy=2.1)                    # others: 0.05 of a core over 2 s
    assert governor.update() == 2 and blas_threads() == 2
    clock.update(wall=4.0, own=5.8, busy=7.9)                    # we used 3.8 s (two threads), others 2.0 s: one core
    assert governor.update() == 1 and blas_threads() == 1
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "1")
    fixed = module.FreeCoreThreads(every=0.0, first_look=0)
    clock.update(wall=10.0, own=5.8, busy=7.9)
    assert fixed.fixed and fixed.update() == blas_threads()
    monkeypatch.delenv("OPENBLAS_NUM_THREADS")
    monkeypatch.setattr(module, "cpu_quota", lambda: 1.5)   # a container allowed 1.5 CPUs: one thread
    limited = module.FreeCoreThreads(every=2.0, first_look=0)
    clock.update(wall=20.0, own=5.8, busy=7.9)
    assert limited.cores == 1 and limited.update() == 1


def test_a_cgroup_quota_is_read_as_cpus(tmp_path):
    from seqgrad.training.threads import cpu_quota
    limits = tmp_path / "cpu.max"
    limits.write_text("150000 100000\n")
    assert cpu_quota(str(limits)) == 1.5
    limits.write_text("max 100000\n")
    assert cpu_quota(str(limits)) is None
    assert cpu_quota(str(tmp_path / "missing")) is None
