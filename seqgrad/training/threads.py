"""How many BLAS threads numpy uses while training: as many as there are cores no other process is
using, read at the start and again every 2 s; one when the other cores are busy.

Why both: at the demo's sizes (batch 64, LSTM 256) most of a compiled update is matrix products,
and a second BLAS thread on an idle core makes it 1.2-1.4x faster (benchmarks/RESULTS.md). But
BLAS threads that spin-wait for a core another process holds make every update many times slower
(measured: 5-10 s against 0.5-0.8 s per update of the eager demo with four other busy processes
on two cores). So the count follows the machine: other processes' CPU use is read from
/proc/stat (minus this process's own), and a core they use more than a quarter of is left to
them; a container's CPU quota caps the count. A BLAS thread count set in the environment
(OPENBLAS_NUM_THREADS, OMP_NUM_THREADS, MKL_NUM_THREADS) is the user's choice and is kept as it is.

threadpoolctl does the finding and setting, for OpenBLAS, MKL and BLIS alike.
"""

from __future__ import annotations

import math
import os
import time

import numpy  # noqa: F401  (the BLAS to control is the one numpy loads)
from threadpoolctl import threadpool_info, threadpool_limits

THREAD_ENVIRONMENT = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
CHECK_EVERY_SECONDS = 2.0
FIRST_LOOK_SECONDS = 0.2  # /proc/stat counts in 10 ms ticks: 0.2 s reads other processes' load to ±0.05 core
BUSY_CORE_FRACTION = 0.25  # a core other processes use more than this is theirs


def limit_blas_threads(count: int = 1) -> int | None:
    """Ask the BLAS libraries numpy loaded to use `count` threads. Returns the thread count the
    first of them had before, or None when numpy uses no BLAS threadpoolctl knows."""
    if count < 1:
        raise ValueError(f"limit_blas_threads: count must be at least 1, got {count}")
    previous = blas_threads()
    threadpool_limits(limits=count, user_api="blas")
    return previous


def blas_threads() -> int | None:
    """The thread count of the first BLAS library loaded, or None when there is none."""
    libraries = [info for info in threadpool_info() if info.get("user_api") == "blas"]
    return int(libraries[0]["num_threads"]) if libraries else None


def usable_cores() -> list[int]:
    """The CPUs this process may run on (its affinity), all of them where that cannot be read."""
    try:
        return sorted(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return list(range(os.cpu_count() or 1))


def cpu_quota(cpu_max: str = "/sys/fs/cgroup/cpu.max") -> float | None:
    """The CPUs' worth of time a cgroup (v2) quota allows this process ("150000 100000" is 1.5),
    or None when there is no quota or it cannot be read: a container may see more cores than it
    may use, and threads beyond its quota only wait to be scheduled."""
    try:
        with open(cpu_max, encoding="ascii") as limits:
            quota, period = limits.read().split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError, ZeroDivisionError):
        return None


def cpu_busy_seconds(cpus: list[int], stat: str = "/proc/stat") -> float | None:
    """Seconds the given CPUs have spent busy since boot (user, nice, system, irq, softirq), or None
    where /proc/stat cannot be read."""
    wanted = {f"cpu{index}" for index in cpus}
    ticks = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    busy = 0
    try:
        with open(stat, encoding="ascii") as lines:
            for line in lines:
                fields = line.split()
                if fields and fields[0] in wanted:
                    user, nice, system, _idle, _iowait, irq, softirq = (int(value) for value in fields[1:8])
                    busy += user + nice + system + irq + softirq
    except (OSError, ValueError):
        return None
    return busy / ticks


def free_core_count(cores: int, others_busy: float) -> int:
    """BLAS threads for `cores` CPUs of which other processes keep `others_busy` CPUs' worth busy:
    each core they use more than BUSY_CORE_FRACTION of is left to them; at least one."""
    taken = max(math.ceil(others_busy - BUSY_CORE_FRACTION), 0)
    return max(cores - taken, 1)


class FreeCoreThreads:
    """Sets the BLAS thread count to the cores other processes leave free: first from a short look
    (`first_look` seconds, this process idle), then `update()` after every training update reads
    the machine again once `every` seconds have passed (cheap otherwise)."""

    def __init__(self, every: float = CHECK_EVERY_SECONDS, first_look: float = FIRST_LOOK_SECONDS) -> None:
        self.every = every
        self.cpus = usable_cores()
        quota = cpu_quota()
        self.cores = len(self.cpus) if quota is None else max(min(len(self.cpus), math.floor(quota)), 1)
        self.fixed = any(os.environ.get(name) for name in THREAD_ENVIRONMENT)  # the user's count stands
        self.threads = blas_threads() if self.fixed else 1
        if self.fixed:
            return
        limit_blas_threads(1)
        self._mark()
        if first_look > 0:
            time.sleep(first_look)
            self._read()

    def _mark(self) -> None:
        self._wall, self._own, self._busy = time.monotonic(), time.process_time(), cpu_busy_seconds(self.cpus)

    def update(self) -> int | None:
        """The BLAS thread count, changed when the machine's load has changed."""
        if not self.fixed and time.monotonic() - self._wall >= self.every:
            self._read()
        return self.threads

    def _read(self) -> None:
        """Other processes' CPU use since the last mark (all CPU use minus this process's own)."""
        wall, own, busy = self._wall, self._own, self._busy
        self._mark()
        if busy is None or self._busy is None or self._wall <= wall:
            return   # no /proc/stat: stay as we are
        others_busy = max((self._busy - busy) - (self._own - own), 0.0) / (self._wall - wall)
        threads = free_core_count(self.cores, others_busy)
        if threads != self.threads:
            limit_blas_threads(threads)
            self.threads = threads
