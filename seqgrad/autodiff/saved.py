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

The forward pays for this only on ops that save a leaf's or a constant's array (a dict look-up
and a flag per array); see benchmarks/RESULTS.md.
"""

from __future__ import annotations

import numpy as np

from .tape import Node, describe_scope

_locked: dict[int, Stamp] = {}   # id(array) -> the stamp of a user array locked while saved


class Stamp:
    """One locked period of a user array saved by live nodes: how many nodes still need it, and,
    once `tensor.data` unlocked it for the user, a copy of the values the graph saw."""

    __slots__ = ("array", "live", "seen")

    def __init__(self, array: np.ndarray) -> None:
        self.array = array
        self.live = 0
        self.seen: np.ndarray | None = None   # set when unlocked while nodes still need it


class UserArrays:
    """The stamps of one node's saved user arrays. Released when the node drops its saved arrays:
    by backward, or when the node itself is freed (a graph dropped without backward)."""

    __slots__ = ("stamps",)

    def __init__(self, stamps: list[Stamp]) -> None:
        self.stamps = stamps

    def __del__(self) -> None:
        try:
            for stamp in self.stamps:
                stamp.live -= 1
                if stamp.live == 0 and _locked.get(id(stamp.array)) is stamp:
                    del _locked[id(stamp.array)]
                    _writable(stamp.array)
        except Exception:  # noqa: BLE001, S110  (interpreter shutdown: module globals already gone)
            pass


def lock_user_arrays(saved: tuple, edges: tuple) -> UserArrays | None:
    """Lock the saved arrays that belong to leaves or constants; what the node keeps."""
    stamps = []
    for array, edge in zip(saved, edges):
        if array is None or type(edge) is Node or type(array) is not np.ndarray:
            continue
        stamp = _locked.get(id(array))
        if stamp is None:
            if not array.flags.writeable:  # read-only already (a broadcast view, a user's choice)
                continue
            array.setflags(write=False)
            stamp = _locked[id(array)] = Stamp(array)
        stamp.live += 1
        stamps.append(stamp)
    return UserArrays(stamps) if stamps else None


def unlock(array: np.ndarray) -> None:
    """`tensor.data` is being handed out: make its array writable again, remembering the values
    the live graphs saw (backward compares against them)."""
    stamp = _locked.pop(id(array), None)
    if stamp is None:
        return
    stamp.seen = array.copy()
    _writable(array)


def check(node: Node) -> None:
    """Before node's rule runs: raise if a user array it saved changed since the forward."""
    for stamp in node.stamps.stamps:
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


def data_of_tensor(tensor) -> np.ndarray:
    """What `tensor.data` returns: a leaf's array unlocked for the user (see `unlock`), a non-leaf's
    array read-only until backward has passed its node."""
    array = tensor._data
    node = tensor.node
    if node is None:
        if _locked and id(array) in _locked:
            unlock(array)
    elif not node.freed and node.handed_out is None and array.flags.writeable:
        array.setflags(write=False)
        node.handed_out = array
    return array


def hand_back(node: Node) -> None:
    """Backward has passed `node`: its output array, locked when read through `.data`, is the user's again."""
    _writable(node.handed_out)
    node.handed_out = None


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
