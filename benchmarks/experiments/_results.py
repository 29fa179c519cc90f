"""What every experiment does with its results: a JSON file and a figure beside the script."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent


def pyplot():
    """matplotlib.pyplot on the file-only Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save(name: str, summary: dict, plot: Callable[[dict, Path], None]) -> None:
    """Write NAME.json with `summary` and NAME.png drawn by `plot(summary, path)`."""
    data, figure = HERE / f"{name}.json", HERE / f"{name}.png"
    data.write_text(json.dumps(summary, indent=1) + "\n")
    plot(summary, figure)
    print(f"wrote {data} and {figure}")
