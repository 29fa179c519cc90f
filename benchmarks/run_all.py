"""Run every benchmark in turn and print their tables (the figures in RESULTS.md come from this).

    python benchmarks/run_all.py            # about 15 minutes on 2 cores
Run it on a quiet machine: the ratios are measured in one run, but other processes competing
for the cores distort the small-op timings most.
"""

from __future__ import annotations

import platform
import subprocess
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
SCRIPTS = [["op_overhead.py"], ["training_step.py"], ["training_step.py", "--cell", "gru", "--dtypes", "float32"],
           ["memory_and_scaling.py"], ["compile_time.py"], ["demo_throughput.py"]]


def main() -> int:
    print(f"python {platform.python_version()}, numpy {np.__version__}, {platform.machine()}, "
          f"{platform.processor() or 'cpu'}")
    for script, *options in SCRIPTS:
        print(f"\n## {' '.join([script] + options)}\n", flush=True)
        subprocess.run([sys.executable, str(HERE / script), *options], check=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
