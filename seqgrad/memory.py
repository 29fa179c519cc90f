"""How much memory the machine has left, and byte counts for people to read."""

from __future__ import annotations

import os


def available_memory() -> int:
    """Bytes this process could still get: MemAvailable from /proc/meminfo, else the physical memory."""
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 2**63  # unknown: never refuse on this ground


def format_bytes(count: float) -> str:
    """'1.5 GiB', '3.2e+06 TiB', '12 bytes'."""
    for unit, size in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if count >= size:
            return f"{count / size:,.3g} {unit}"
    return f"{count:.0f} bytes"
