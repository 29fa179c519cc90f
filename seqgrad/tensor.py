"""`Tensor`: a numpy array, the gradient that backward leaves in it, and the Node
that made it. Operators and methods only forward to the primitive ops."""

from __future__ import annotations

import weakref

import numpy as np

from .dtypes import get_default_dtype


class Tensor:
    """A numpy array that records how it was computed.

    `Tensor(data, requires_grad=False, dtype=None)`: float arrays keep their dtype,
    Python numbers and lists take the default dtype (float32 unless changed with
    `seqgrad.set_default_dtype`), integer and boolean arrays are kept for indices
    and masks but cannot require grad.
    """

    __slots__ = ("_data", "grad", "requires_grad", "node", "name", "detached_from", "__weakref__")
    __array_ufunc__ = None  # `ndarray + Tensor` defers to Tensor.__radd__, keeping the graph

    def __init__(self, data, requires_grad: bool = False, dtype=None, name: str | None = None):
        self._data = _to_array(data, dtype)
        if requires_grad and self._data.dtype.kind != "f":
            raise TypeError(
                f"only floating tensors can require grad, got dtype {self._data.dtype} "
                "(integer tensors are for indices and targets)"
            )
        self.grad = None
        self.requires_grad = bool(requires_grad)
        self.node = None
        self.name = name
        self.detached_from = None

    @classmethod
    def wrap(cls, array: np.ndarray, node=None, requires_grad: bool = False) -> Tensor:
        """A Tensor around an existing ndarray, unchecked: how ops and the engine make their
        results (the constructor's checks cost more than many ops do)."""
        tensor = object.__new__(cls)
        tensor._data = array
        tensor.grad = tensor.name = tensor.detached_from = None
        tensor.node = node
        tensor.requires_grad = requires_grad
        return tensor

    # --- what it is -----------------------------------------------------------
    def _get_data(self) -> np.ndarray:
        return data_of_tensor(self)

    def _set_data(self, array) -> None:
        self._data = array

    data = property(_get_data, _set_data, doc=(
        "The numpy array. Assigning a new array is always fine (optimizers do). Editing it in place "
        "while a graph still needs it for backward: a leaf's edit makes that backward raise (as in "
        "PyTorch); a non-leaf's array is read-only until backward has passed its op."))
    shape = property(lambda self: self._data.shape, doc="the array's shape")
    dtype = property(lambda self: self._data.dtype, doc="the array's dtype")
    ndim = property(lambda self: self._data.ndim, doc="number of axes")
    size = property(lambda self: self._data.size, doc="number of elements")
    is_leaf = property(lambda self: self.node is None, doc="made by the user, not by an op")

    def __len__(self) -> int:
        return len(self._data)

    def __bool__(self) -> bool:
        """As numpy: only a one-element tensor has a truth value (`if (x > 5):` is ambiguous)."""
        if self._data.size != 1:
            raise ValueError(f"the truth value of a tensor of shape {self.shape} is ambiguous; use .any() or .all() "
                             "on .data")
        return bool(self._data)

    def __repr__(self) -> str:
        body = np.array2string(self._data, separator=", ", prefix="tensor(", threshold=20)
        extras = f", dtype={self.dtype}" if self.dtype != get_default_dtype() else ""
        if self.node is not None:
            extras += f", op={self.node.op.name}"
        elif self.requires_grad:
            extras += ", requires_grad=True"
        return f"tensor({body}{extras})"

    def item(self) -> float:
        if self._data.size != 1:
            raise ValueError(f"item() needs a tensor with one element, got shape {self.shape}")
        return self._data.item()

    def numpy(self) -> np.ndarray:
        return self.data

    def detach(self) -> Tensor:
        """The same values, cut from the graph: gradients stop here (truncated BPTT)."""
        out = Tensor.wrap(self._data)
        if self.node is not None:
            out.detached_from = DetachedFrom(self.node)
            mark_cut(self._data, out.detached_from)
        return out

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        if requires_grad and self._data.dtype.kind != "f":
            raise TypeError(f"only floating tensors can require grad, got dtype {self._data.dtype}")
        self.requires_grad = requires_grad
        return self

    def retain_grad(self) -> None:
        """Keep `.grad` on this non-leaf tensor after backward (leaves always keep it)."""
        if self.node is None:
            if not self.requires_grad:
                raise RuntimeError("retain_grad() on a tensor that does not require grad")
            return
        self.node.retained = weakref.ref(self)

    def backward(self, gradient=None, retain_graph: bool = False, create_graph: bool = False) -> None:
        """Accumulate d(self)/d(leaf) into every leaf's `.grad` that requires grad.

        `gradient` is required unless self has one element (then it is 1). Saved values
        are freed as they are used unless `retain_graph`; `create_graph` records the
        backward pass so the gradients can be differentiated again.
        """
        from .autodiff.backward import backward
        backward(self, gradient, retain_graph=retain_graph, create_graph=create_graph)

    # --- arithmetic -----------------------------------------------------------
    def __add__(self, other): return ops.add(self, other)
    def __radd__(self, other): return ops.add(other, self)
    def __sub__(self, other): return ops.sub(self, other)
    def __rsub__(self, other): return ops.sub(other, self)
    def __mul__(self, other): return ops.mul(self, other)
    def __rmul__(self, other): return ops.mul(other, self)
    def __truediv__(self, other): return ops.div(self, other)
    def __rtruediv__(self, other): return ops.div(other, self)
    def __neg__(self): return ops.neg(self)
    def __matmul__(self, other): return ops.matmul(self, other)
    def __rmatmul__(self, other): return ops.matmul(other, self)

    def __pow__(self, exponent):
        if isinstance(exponent, Tensor) or np.ndim(exponent) != 0:
            raise TypeError("pow: the exponent must be a number (use exp(b * log(a)) for tensor exponents)")
        return ops.pow(self, exponent=float(exponent))

    # Comparisons give boolean masks that carry no gradient.
    def __gt__(self, other): return Tensor(self._data > data_of(other))
    def __ge__(self, other): return Tensor(self._data >= data_of(other))
    def __lt__(self, other): return Tensor(self._data < data_of(other))
    def __le__(self, other): return Tensor(self._data <= data_of(other))
    __hash__ = object.__hash__

    def __getitem__(self, index):
        return _apply(ops.getitem, (self,), {"index": ops.normalize_index(index)})

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    # --- functions as methods ---------------------------------------------------
    # Reductions take numpy's (axis, keepdims) or PyTorch's (dim, keepdim).
    def exp(self): return ops.exp(self)
    def log(self): return ops.log(self)
    def tanh(self): return ops.tanh(self)
    def sigmoid(self): return ops.sigmoid(self)
    def relu(self): return ops.relu(self)
    def abs(self): return ops.abs(self)
    def sqrt(self): return ops.sqrt(self)
    def sin(self): return ops.sin(self)
    def cos(self): return ops.cos(self)
    def log1p(self): return ops.log1p(self)
    def expm1(self): return ops.expm1(self)
    def softplus(self, beta=1.0, threshold=20.0): return ops.softplus(self, beta, threshold)

    def clip(self, low=None, high=None): return ops.clip(self, low=low, high=high)
    def clamp(self, min=None, max=None): return ops.clip(self, low=min, high=max)

    def sum(self, axis=None, keepdims=False, *, dim=None, keepdim=False):
        axis, keep = ops.pick_axis("sum", dim, axis, keepdim, keepdims)
        return ops.sum(self, axis=axis, keepdims=keep)

    def mean(self, axis=None, keepdims=False, *, dim=None, keepdim=False):
        axis, keep = ops.pick_axis("mean", dim, axis, keepdim, keepdims)
        return ops.mean(self, axis=axis, keepdims=keep)

    def logsumexp(self, axis=None, keepdims=False, *, dim=None, keepdim=False):
        axis, keep = ops.pick_axis("logsumexp", dim, axis, keepdim, keepdims)
        return ops.logsumexp(self, axis=axis, keepdims=keep)

    def max(self, dim=None, keepdim=False, *, axis=None, keepdims=False):
        """All elements' max; with `dim` (PyTorch) a (values, indices) pair; with `axis` (numpy) the values."""
        return ops.composite.max(self, dim, keepdim, axis=axis, keepdims=keepdims)

    def min(self, dim=None, keepdim=False, *, axis=None, keepdims=False):
        """As `max`, for the smallest elements."""
        return ops.composite.min(self, dim, keepdim, axis=axis, keepdims=keepdims)

    def prod(self, dim=None, keepdim=False, *, axis=None, keepdims=False):
        return ops.prod(self, dim, keepdim, axis=axis, keepdims=keepdims)

    def var(self, dim=None, unbiased=None, keepdim=False, *, correction=None, axis=None, keepdims=False):
        return ops.var(self, dim, unbiased, keepdim, correction=correction, axis=axis, keepdims=keepdims)

    def std(self, dim=None, unbiased=None, keepdim=False, *, correction=None, axis=None, keepdims=False):
        return ops.std(self, dim, unbiased, keepdim, correction=correction, axis=axis, keepdims=keepdims)

    def cumsum(self, dim=None, *, axis=None):
        """Running sum along `dim`; without one, over the flattened tensor (numpy)."""
        axis, _ = ops.pick_axis("cumsum", dim, axis, False, False)
        if axis is None:
            return ops.cumsum(self.reshape(-1), axis=0)
        return ops.cumsum(self, axis=axis)

    def softmax(self, axis=-1, *, dim=None): return ops.softmax(self, axis=axis if dim is None else dim)
    def log_softmax(self, axis=-1, *, dim=None): return ops.log_softmax(self, axis=axis if dim is None else dim)

    def reshape(self, *shape):
        shape = shape[0] if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape
        return ops.reshape(self, shape=tuple(shape))

    view = reshape  # PyTorch's name; every seqgrad tensor is contiguous

    def transpose(self, *axes):
        """Axes permuted as numpy's transpose: `x.transpose(2, 0, 1)`, reversed with no axes or None."""
        axes = axes[0] if len(axes) == 1 and (isinstance(axes[0], (tuple, list)) or axes[0] is None) else axes
        return ops.transpose(self, axes=tuple(axes) if axes else None)

    def permute(self, *axes): return self.transpose(*axes)
    def unsqueeze(self, dim): return ops.unsqueeze(self, dim)
    def squeeze(self, dim=None): return ops.squeeze(self, dim)
    def flatten(self, start_dim=0, end_dim=-1): return ops.flatten(self, start_dim, end_dim)
    def dim(self) -> int: return self.data.ndim

    def swapaxes(self, first: int, second: int):
        axes = list(range(self.ndim))
        axes[first], axes[second] = axes[second], axes[first]
        return ops.transpose(self, axes=tuple(axes))

    @property
    def T(self): return ops.transpose(self, axes=None)

    def broadcast_to(self, shape): return ops.broadcast_to(self, shape=tuple(shape))
    def split(self, sizes, axis=0, *, dim=None): return ops.split(self, sizes, axis=axis, dim=dim)
    def chunk(self, chunks, axis=0, *, dim=None): return ops.chunk(self, chunks, axis=axis, dim=dim)


def data_of(value):
    """The ndarray behind a Tensor, or the value itself (for masks and indices: no gradient)."""
    if type(value) is Tensor:  # the common case, straight from the slot
        return value._data
    return value.data if isinstance(value, Tensor) else value  # a subclass may define what .data reads


def _to_array(data, dtype) -> np.ndarray:
    """Check and convert constructor input: floats keep their dtype, Python data takes the default."""
    if isinstance(data, Tensor):
        data = data.data
    if isinstance(data, np.ndarray):
        array = data
    elif isinstance(data, (np.generic, bool)):  # numpy scalars keep their dtype (np.float64 is a float)
        array = np.asarray(data)
    elif hasattr(data, "detach") and hasattr(data, "cpu"):  # a torch.Tensor, without importing torch
        array = np.asarray(data.detach().cpu().numpy())
    elif hasattr(data, "__array__"):  # jax arrays, pandas, ...
        array = np.asarray(data)
    elif isinstance(data, (int, float, list, tuple)):
        try:
            array = np.asarray(data, dtype=get_default_dtype() if dtype is None else dtype)
        except (TypeError, ValueError) as error:
            raise TypeError(f"Tensor data must be numbers or nested lists of numbers: {error}") from None
    else:
        raise TypeError(f"Tensor data must be a number, list, numpy array or array-like (torch.Tensor), got "
                        f"{type(data).__name__}")
    if array.dtype == object or array.dtype.kind not in "biuf":
        raise TypeError(f"Tensor data must be numeric, got dtype {array.dtype}")
    if dtype is not None and array.dtype != np.dtype(dtype):
        array = array.astype(dtype)
    return array


def tensor(data, requires_grad: bool = False, dtype=None) -> Tensor:
    """Same as `Tensor(...)`, spelled like PyTorch's `torch.tensor`."""
    return Tensor(data, requires_grad=requires_grad, dtype=dtype)


from . import ops  # noqa: E402  (ops build Tensors; Tensor's operators call ops)
from .autodiff.graph import DetachedFrom, mark_cut  # noqa: E402
from .autodiff.saved import data_of_tensor  # noqa: E402
from .ops.primitive import apply as _apply  # noqa: E402  (indexing skips the call-checking layer)
