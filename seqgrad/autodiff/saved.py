"""In-place edits of arrays that backward still needs: never a silently wrong gradient.

A rule reads the arrays its node saved in the forward (`mul` keeps both factors, `tanh` its
output). Writing into one of them before backward (`b.data[:] = 100`) would make backward
compute the gradient of a different function. seqgrad guards the two kinds of saved arrays:

- Arrays the user owns (a leaf's data, a constant array operand) may be edited legitimately
  (a parameter update `p.data -= lr * p.grad`), so, as in PyTorch, the edit is allowed and
  backward refuses a graph whose saved arrays changed. To know cheaply that nothing changed,
  such an array is read-only while a live graph saves it (a `Stamp`); reading `tensor.data`
  unlocks it, keeping a copy of what the graph saw, and backward compares against that copy.
  Writes through another reference (the numpy array a Tensor was made from) meet numpy's
  read-only error while a graph saves the array. Backward unlocks the array again once the
  last node that saved it has run.
- Arrays an op made (every non-leaf Tensor's data) are not the user's to edit while their
  graph lives: reading `.data` of a non-leaf Tensor whose node backward has not run yet gives
  the array read-only, so an edit is refused at the write (numpy's message: "assignment
  destination is read-only"). After backward they are ordinary arrays again.

The forward pays for this only on ops that save a leaf's or a constant's array: a dict look-up
per such array, and a flag when the array is first locked (once per array, not per use).
"""

from __future__ import annotations

import weakref

import numpy as np

from .tape import Node, describe_scope

_locked: dict[int, weakref.ref] = {}   # id(array) -> the stamp locking it, while some node holds that stamp


class Stamp:
    """One period during which a user array is locked because live nodes saved it. The nodes
    hold the stamp; when the last of them drops it (backward used it, or the graph was freed),
    the array is unlocked. If `tensor.data` unlocks it earlier, `seen` keeps the values the
    nodes saw."""

    __slots__ = ("array", "seen", "__weakref__")

    def __init__(self, array: np.ndarray) -> None:
        self.array = array
        self.seen: np.ndarray | None = None

    def __del__(self) -> None:
        try:
            ref = _locked.get(id(self.array))
            if ref is not None and ref() in (None, self):  # still this stamp's lock, not a later one
                del _locked[id(self.array)]
                _writable(self.array)
        except Exception:  # noqa: BLE001, S110  (interpreter shutdown: module globals already gone)
            pass


class Guard:
    """What a node keeps against in-place edits: the stamps of the user arrays it saved, and its
    output array if `.data` handed it out read-only."""

    __slots__ = ("stamps", "handed_out")

    def __init__(self, stamps: tuple) -> None:
        self.stamps = stamps
        self.handed_out: np.ndarray | None = None


def lock_user_arrays(saved: tuple, edges: tuple) -> Guard | None:
    """Lock the saved arrays that belong to leaves or constants; the guard the node keeps."""
    stamps = []
    for array, edge in zip(saved, edges):
        if array is None or type(edge) is Node or type(array) is not np.ndarray:
            continue
        ref = _locked.get(id(array))
        stamp = None if ref is None else ref()
        if stamp is None:
            if not array.flags.writeable:  # read-only already (a broadcast view, a user's choice)
                continue
            array.setflags(write=False)
            stamp = Stamp(array)
            _locked[id(array)] = weakref.ref(stamp)
        stamps.append(stamp)
    return Guard(tuple(stamps)) if stamps else None


def unlock(array: np.ndarray) -> None:
    """`tensor.data` is being handed out: make its array writable again, remembering the values
    the live graphs saw (backward compares against them)."""
    ref = _locked.pop(id(array), None)
    stamp = None if ref is None else ref()
    if stamp is not None:
        stamp.seen = array.copy()
    _writable(array)


def check(node: Node) -> None:
    """Before node's rule runs: raise if a user array it saved changed since the forward."""
    for stamp in node.guard.stamps:
        seen = stamp.seen
        if seen is None:
            continue  # locked since it was saved: unchanged
        array = stamp.array
        if array.shape != seen.shape or not np.array_equal(array, seen, equal_nan=array.dtype.kind in "fc"):
            raise RuntimeError(
                f"an array saved for the gradient of {node.op.name}{describe_scope(node.scope)} was modified in "
                f"place after the forward (a {_kind(node, stamp)} of shape {array.shape}); backward would give a "
                "wrong gradient. Edit it after backward (or before the forward), or assign a new array instead "
                "(p.data = p.data - lr * p.grad), then run the forward again")
        if id(array) not in _locked:  # unchanged: lock it again, so its other uses need no comparison
            array.setflags(write=False)
            _locked[id(array)] = weakref.ref(stamp)
            stamp.seen = None


def data_of_tensor(tensor) -> np.ndarray:
    """What `tensor.data` returns: a leaf's array unlocked for the user (see `unlock`), a non-leaf's
    array read-only until backward has passed its node."""
    array = tensor._data
    node = tensor.node
    if node is None:
        if _locked and id(array) in _locked:
            unlock(array)
    elif not node.freed and array.flags.writeable:
        array.setflags(write=False)
        if node.guard is None:
            node.guard = Guard(())
        node.guard.handed_out = array
    return array


def release(node: Node) -> None:
    """Backward has passed `node`: its output array, if `.data` handed it out, is the user's again,
    and dropping its stamps unlocks the user arrays no other node needs."""
    if node.guard.handed_out is not None:
        _writable(node.guard.handed_out)
    node.guard = None


def _writable(array: np.ndarray) -> None:
    try:
        array.setflags(write=True)
    except (ValueError, AttributeError):  # a view of a locked base stays read-only with it; numpy gone at exit
        pass


def _kind(node: Node, stamp: Stamp) -> str:
    for array, edge in zip(node.xs or (), node.edges):
        if array is stamp.array:
            if edge is None:
                return "constant array"
            return f"leaf tensor{' ' + repr(edge.name) if edge.name else ''}"
    return "user array"
