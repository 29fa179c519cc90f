"""keep_freed_memory: arrays allocated again every update come from memory the process kept,
not from fresh pages (each a page fault), and bad thresholds are refused before anything changes."""

import platform
import subprocess
import sys

import pytest

from seqgrad.training.allocator import MAX_MMAP_THRESHOLD, keep_freed_memory

# Five 4 MiB arrays made and freed per "update", as a training step makes and frees its logits and
# gradients; prints the page faults of one update once the pattern is warm.
UPDATES = """
import resource, sys
import numpy as np
from seqgrad.training.allocator import keep_freed_memory
if sys.argv[1] == "kept":
    assert keep_freed_memory()
def update():
    arrays = [np.ones(4 << 20, np.uint8) for _ in range(5)]
    del arrays
update(); update()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(10):
    update()
print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 10)
"""


def page_faults_per_update(setting: str) -> float:
    done = subprocess.run([sys.executable, "-c", UPDATES, setting], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return float(done.stdout)


@pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_kept_memory_removes_the_page_faults_of_repeated_allocations():
    default, kept = page_faults_per_update("default"), page_faults_per_update("kept")
    assert default > 1000, f"the default allocator was expected to fault on fresh pages, got {default} faults"
    assert kept < 50, f"with freed memory kept, an update still faulted {kept} times"


@pytest.mark.parametrize("kwargs, message", [
    ({"mmap_threshold": 0}, "mmap_threshold must be in"),
    ({"mmap_threshold": MAX_MMAP_THRESHOLD + 1}, "glibc's limit"),
    ({"trim_threshold": -1}, "trim_threshold must be a positive"),
])
def test_bad_thresholds_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        keep_freed_memory(**kwargs)
