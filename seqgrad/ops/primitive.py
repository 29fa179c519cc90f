"""How a primitive op is declared and applied.

A primitive is a forward function on numpy arrays and a vector-Jacobian product
(vjp) beside it. The vjp gets a context (`ctx.xs` saved inputs, `ctx.out` saved
output, `ctx.in_shapes`, `ctx.params`, `ctx.needs[i]`: does input i want a gradient) and the
output gradient `g`, and returns one gradient per input (or None). It uses only
operators and methods that numpy arrays and Tensors share (and `dual`), so the same rule runs
on arrays for ordinary backward and on Tensors for `create_graph=True`.

The engine, not the rules, sums broadcast gradients back to each input's shape
and checks every gradient's shape.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import numpy as np

from ..autodiff.saved import lock_user_arrays
from ..autodiff.tape import RECORDING, Node, describe_scope
from ..dtypes import get_default_dtype
from ..errors import ShapeError

REGISTRY: dict[str, Primitive] = {}
NO_PARAMS: dict[str, Any] = {}


class Primitive:
    """One op: `forward(*arrays, **params) -> array` and `vjp(ctx, g) -> grads`."""

    __slots__ = ("name", "forward", "vjp", "save_inputs", "save_output", "save_shapes", "doc",
                 "arity", "param_names", "lazy_grad")

    def __init__(self, name: str, forward: Callable, vjp: Callable, saves: str, doc: str, lazy_grad: bool = False):
        self.name = name
        self.forward = forward
        self.vjp = vjp
        saved = saves.split(",")
        # "x" saves every input; "x0", "x1", ... save only those (None stands in for the rest);
        # "x-crossed" (a product of two) saves each input only if the other one needs a gradient.
        chosen = tuple(int(token[1:]) for token in saved if token[:1] == "x" and token[1:].isdigit())
        self.save_inputs = True if "x" in saved else "crossed" if "x-crossed" in saved else (chosen or False)
        self.save_output = "out" in saved
        self.save_shapes = "shape" in saved
        self.doc = doc
        self.arity, self.param_names = _signature(forward)
        # True: the vjp takes the gradient as backward holds it (an array, or lazy gradients such
        # as the slices that getitems hand back), so no dense buffer of the output's size is made
        self.lazy_grad = lazy_grad

    def __call__(self, *inputs, **params):
        if params or len(inputs) > self.arity:
            inputs, params = self._bind(inputs, params)
        return apply(self, inputs, params)

    def _bind(self, inputs: tuple, params: dict) -> tuple[tuple, dict]:
        """Check the call and move extra positionals into their params: `sum(x, 1, True)`."""
        if self.arity and len(inputs) > self.arity and not self.param_names:
            raise TypeError(f"{self.name}() takes {self.arity} tensor(s), got {len(inputs)}")
        for torch_name, numpy_name in (("dim", "axis"), ("keepdim", "keepdims")):  # PyTorch's spellings
            if torch_name in params and numpy_name in self.param_names:
                if numpy_name in params:
                    raise TypeError(f"{self.name}(): pass {torch_name} (PyTorch) or {numpy_name} (numpy), not both")
                params[numpy_name] = params.pop(torch_name)
        if isinstance(params.get("axis"), list):
            params["axis"] = tuple(params["axis"])
        for key, value in params.items():
            if isinstance(value, Tensor):
                raise TypeError(f"{self.name}(): pass tensor inputs by position, not by keyword ({key})")
        if self.param_names and len(inputs) > self.arity:
            # `sum(x, 1, True)` as in numpy/PyTorch: extra positionals fill the params in order.
            extra = inputs[self.arity:]
            if len(extra) > len(self.param_names):
                raise TypeError(f"{self.name}() takes {self.arity} tensor(s) and at most {len(self.param_names)} "
                                f"more arguments ({', '.join(self.param_names)}), got {len(inputs)}")
            for key, value in zip(self.param_names, extra):
                if key in params:
                    raise TypeError(f"{self.name}() got {key!r} both by position and by keyword")
                params[key] = value
            inputs = inputs[:self.arity]
        return inputs, params

    def __repr__(self) -> str:
        return f"<primitive {self.name}>"


def primitive(name: str, forward: Callable, vjp: Callable, saves: str = "", doc: str = "",
              register: bool = True) -> Primitive:
    """Declare a primitive and (unless `register=False`) add it to REGISTRY, which the tests
    walk to gradcheck every op. `saves`: any of "x" (all inputs), "x0", "x1", ... (those inputs), "x-crossed", "out",
    "shape" joined by commas, or "" (nothing). Save only what the vjp reads: a saved array stays
    in memory until backward has passed the node."""
    if register and name in REGISTRY:
        raise ValueError(f"primitive {name!r} is declared twice (pass register=False for a private or "
                         "experimental op, e.g. one redefined in a notebook)")
    op = Primitive(name, forward, vjp, saves, doc or (forward.__doc__ or ""))
    if register:
        REGISTRY[name] = op
    return op


def _signature(forward: Callable) -> tuple[int, tuple[str, ...]]:
    """(number of array inputs, names of keyword params) of a forward; (0, ()) when unknown."""
    if isinstance(forward, np.ufunc):  # array inputs only
        return forward.nin, ()
    try:
        parameters = inspect.signature(forward).parameters.values()
    except (TypeError, ValueError):
        return 0, ()
    if any(p.kind is p.VAR_POSITIONAL for p in parameters):
        return 0, ()
    arity = sum(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in parameters)
    return arity, tuple(p.name for p in parameters if p.kind is p.KEYWORD_ONLY)


def apply(op: Primitive, inputs: tuple, params: dict) -> Tensor:
    """Run `op` forward and, if any input requires grad, record a Node on the tape.

    This runs once per op of every forward pass, so it is written for speed: one pass over
    the inputs, and the recording work only when something requires grad.
    """
    arrays, edges, needs = [], [], []
    user_arrays = False  # a leaf's or a constant's array among the inputs (autodiff/saved.py)
    for value in inputs:
        if isinstance(value, Tensor):
            arrays.append(value._data)
            node = value.node
            if node is None:
                user_arrays = True
                edges.append(value)
            else:
                edges.append(node)
            needs.append(value.requires_grad)
        else:
            if type(value) is not np.ndarray:
                value = value if type(value) in _PLAIN_OPERANDS else as_operand(value, op.name)
            else:
                user_arrays = True
            arrays.append(value)
            edges.append(None)
            needs.append(False)
    requires_grad = True in needs
    try:
        if RECORDING.anomaly:  # seqgrad raises below; numpy's own RuntimeWarning would only repeat it
            with np.errstate(all="ignore"):
                out = op.forward(*arrays, **params) if params else op.forward(*arrays)
        else:
            out = op.forward(*arrays, **params) if params else op.forward(*arrays)
    except ShapeError as error:
        raise ShapeError(f"{error}{describe_scope(RECORDING.scope)}") from None
    except ValueError as error:
        shapes = ", ".join(str(np.shape(a)) for a in arrays)
        raise ShapeError(f"{op.name}: shapes {shapes}: {error}{describe_scope(RECORDING.scope)}") from None
    if type(out) is not np.ndarray:
        out = np.asarray(out)
    if RECORDING.anomaly:
        check_finite(out, f"{op.name} produced a non-finite output")
    if not (requires_grad and RECORDING.grad_enabled):
        return Tensor.wrap(out)
    saved = _saved_inputs(op.save_inputs, arrays, needs)
    node = Node(
        op,
        tuple(edges),
        saved,
        out if op.save_output else None,
        tuple([array.shape if type(array) is np.ndarray else np.shape(array) for array in arrays])
        if op.save_shapes else None,
        params or NO_PARAMS,
        tuple(needs),
        out.shape, out.dtype,
    )
    if user_arrays and saved is not None:  # lock them, so an in-place edit cannot go unseen
        node.guard = lock_user_arrays(saved, node.edges)
    return Tensor.wrap(out, requires_grad=True, node=node)


def _saved_inputs(which, arrays: list, needs: list) -> tuple | None:
    if which is True:
        return tuple(arrays)
    if not which:
        return None
    if which == "crossed":  # d(ab)/da = b and d(ab)/db = a: keep a only if b's gradient is wanted
        return (arrays[0] if needs[1] else None, arrays[1] if needs[0] else None)
    return tuple([array if position in which else None for position, array in enumerate(arrays)])


_PLAIN_OPERANDS = frozenset({np.ndarray, float, int})


def as_operand(value, op_name: str) -> np.ndarray:
    """Turn a list or numpy scalar into an array an op can use, or say why not.

    Lists take the default dtype, as they do in `Tensor(...)`, so `[1.0, 2.0] + x` keeps x float32.
    """
    try:
        array = np.asarray(value, dtype=get_default_dtype() if isinstance(value, (list, tuple)) else None)
    except (TypeError, ValueError):
        array = np.asarray(value, dtype=object)
    if array.dtype == object or array.dtype.kind not in "biuf":
        raise TypeError(f"{op_name}: expected a number, array or Tensor, got {type(value).__name__}")
    return array


def check_finite(array: np.ndarray, message: str) -> None:
    """Anomaly mode: raise FloatingPointError naming the op and scope."""
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        raise FloatingPointError(f"{message}{describe_scope(RECORDING.scope)}")


from ..tensor import Tensor  # noqa: E402
from ..tensor import data_of as data  # noqa: E402, F401  (gradient rules read masks through `data`)
