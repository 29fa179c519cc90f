"""Watch backward passes: `with on_backward(observer): loss.backward()`.

An observer is any object with any of these methods (each optional):
- `node_grad(node, grad)`: once per node, when its output gradient is complete (an ndarray of
  the node's shape), before its rule runs;
- `edge_grad(node, position, target, grad)`: each gradient the rule of `node` sends along input
  edge `position` to `target` (a Node, or a leaf Tensor), as an ndarray of the target's shape;
- `leaf_grad(leaf, grad, node)`: each gradient reaching leaf tensor `leaf` from `node` (None
  when backward starts at the leaf): the per-use terms that sum to `leaf.grad`;
- `finished()`: after the walk (also when it stopped with an error).
Drawings use it for gradient norms; nothing is computed for them when no observer is installed.
"""

from __future__ import annotations

from typing import Any

EVENTS = ("node_grad", "edge_grad", "leaf_grad", "finished")

_installed: list[Any] = []


class ObserverHandle:
    """What `on_backward` returns: `handle.remove()`, or use it as a context manager."""

    __slots__ = ("observer",)

    def __init__(self, observer: Any) -> None:
        self.observer = observer

    def remove(self) -> None:
        """Stop observing (removing twice is harmless)."""
        for position, installed in enumerate(_installed):
            if installed is self.observer:
                del _installed[position]
                return

    def __enter__(self) -> Any:
        return self.observer

    def __exit__(self, *exc_info) -> bool:
        self.remove()
        return False


def on_backward(observer: Any) -> ObserverHandle:
    """Install `observer` for every backward pass until the handle is removed (or its `with` block ends)."""
    if not any(callable(getattr(observer, event, None)) for event in EVENTS):
        raise TypeError(f"on_backward: expected an object with any of the methods {', '.join(EVENTS)}, "
                        f"got {type(observer).__name__} with none of them")
    _installed.append(observer)
    return ObserverHandle(observer)


class Observers:
    """The installed observers' methods, gathered once per backward pass; None when there are none."""

    __slots__ = ("node_grad", "edge_grad", "leaf_grad", "finished")

    def __init__(self, observers: list[Any]) -> None:
        for event in EVENTS:
            setattr(self, event, [method for method in (getattr(observer, event, None) for observer in observers)
                                  if callable(method)])

    @classmethod
    def current(cls) -> Observers | None:
        return cls(list(_installed)) if _installed else None
