"""`draw(loss)`: the unrolled graph behind a tensor as a graphviz drawing."""

from __future__ import annotations

import warnings
from collections.abc import Sequence

from ..tensor import Tensor
from .dot import to_dot
from .graph import build
from .render import GraphDrawing

LONG_SEQUENCE = 64  # drawn steps per sequence above which layout gets slow


def draw(root: Tensor | Sequence[Tensor], *, level: str = "op", steps: tuple[int, int] | None = None,
         grads: bool = True, shapes: bool = True, grad_labels: bool = True,
         title: str | None = None) -> GraphDrawing:
    """Everything that led to `root` (usually the loss) as a `graphviz.Digraph`, time left to right.

    - level: "op" (one node per recorded op), "cell" (each time step of each cell as one node,
      every other scope as one node), or "layer" (each sequence of each layer and direction as one node).
    - steps=(first, last): keep the first and last few steps of every sequence and draw the
      middle as one node; None draws every step. Ignored at level "layer".
    - grads: after a backward recorded with `seqgrad.viz.record()` (`with viz.record():
      loss.backward()`), colour and width by log ||dL/d(node)|| with a legend; otherwise the
      legend says there are no gradients yet. grad_labels prints the norms too.
    - shapes: print output shapes under op names.
    Clusters come from `seqgrad.scope` labels: a `step` label makes a time step, `layer` and
    `direction` labels nest them, so custom cells and hand-written loops draw the same way.
    Render with `seqgrad.viz.render(drawing, "graph.svg")`, or display it in Jupyter.
    """
    model = build(root, level=level, steps=steps)
    longest = max((len(items) for _, items in model.time_order), default=0)
    if level != "layer" and longest > LONG_SEQUENCE:
        warnings.warn(f"drawing all {longest} steps of a sequence: every step has an edge to the shared weights, so "
                      "Graphviz's layout time grows with the square of the length (minutes at a few hundred steps); "
                      "pass steps=(first, last) to draw the ends and elide the middle", stacklevel=2)
    return to_dot(model, grads=grads, shapes=shapes, grad_labels=grad_labels, title=title)
