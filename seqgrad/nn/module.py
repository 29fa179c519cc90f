"""`Module` and `Parameter`, as PyTorch users know them: attributes register
parameters and submodules; names are dotted paths; state dicts hold numpy arrays."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import numpy as np

from ..autodiff.tape import no_grad
from ..dtypes import get_default_dtype
from ..errors import StateDictError
from ..tensor import Tensor


class Parameter(Tensor):
    """A Tensor a Module trains: it always requires grad and is floating point."""

    __slots__ = ()

    def __init__(self, data, requires_grad: bool = True, name: str | None = None):
        array = data.data if isinstance(data, Tensor) else data
        if not isinstance(array, np.ndarray):
            array = np.asarray(array, dtype=get_default_dtype())
        if array.dtype.kind != "f":
            raise TypeError(f"Parameter data must be floating point, got dtype {array.dtype}")
        super().__init__(array, requires_grad=requires_grad, name=name)

    def __repr__(self) -> str:
        return f"Parameter(shape={self.shape}, dtype={self.dtype})"


class Module:
    """Base class: assign Parameters and Modules as attributes; call the module to run `forward`."""

    training: bool

    def __init__(self) -> None:
        object.__setattr__(self, "_parameters", {})
        object.__setattr__(self, "_modules", {})
        object.__setattr__(self, "training", True)

    def __setattr__(self, name: str, value) -> None:
        if "_parameters" not in self.__dict__:
            raise AttributeError(
                f"{type(self).__name__}.__init__ must call super().__init__() before assigning {name!r}")
        self._parameters.pop(name, None)
        self._modules.pop(name, None)
        if isinstance(value, Parameter):
            self._parameters[name] = value
            if value.name is None:
                value.name = name
        elif isinstance(value, Module):
            self._modules[name] = value
        object.__setattr__(self, name, value)

    def __delattr__(self, name: str) -> None:
        self._parameters.pop(name, None)
        self._modules.pop(name, None)
        object.__delattr__(self, name)

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} does not define forward()")

    # --- walking the tree (iteratively) ---------------------------------------------
    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, Module]]:
        """Every module in the tree, depth first, with its dotted name ('' for self)."""
        stack = [(prefix, self)]
        seen = set()
        while stack:
            name, module = stack.pop()
            if id(module) in seen:
                continue
            seen.add(id(module))
            yield name, module
            children = [(f"{name}.{child_name}" if name else child_name, child)
                        for child_name, child in module._modules.items()]
            stack.extend(reversed(children))

    def named_parameters(self) -> Iterator[tuple[str, Parameter]]:
        """(dotted name, Parameter) for every parameter once, in registration order."""
        seen = set()
        for module_name, module in self.named_modules():
            for name, param in module._parameters.items():
                if id(param) not in seen:
                    seen.add(id(param))
                    yield (f"{module_name}.{name}" if module_name else name), param

    def get_parameter(self, target: str) -> Parameter:
        """The parameter at dotted attribute path `target` ('forget.weight_l0'), as PyTorch's."""
        *path, leaf = target.split(".")
        module = self
        for depth, part in enumerate(path):
            child = module._modules.get(part)
            if child is None:
                where = ".".join(path[:depth]) or type(self).__name__
                raise AttributeError(f"get_parameter({target!r}): {where} has no submodule {part!r}")
            module = child
        if leaf not in module._parameters:
            raise AttributeError(f"get_parameter({target!r}): {type(module).__name__} has no parameter {leaf!r} "
                                 f"(it has: {', '.join(module._parameters) or 'none'})")
        return module._parameters[leaf]

    def parameters(self) -> Iterator[Parameter]:
        return (param for _, param in self.named_parameters())

    def children(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def modules(self) -> Iterator[Module]:
        return (module for _, module in self.named_modules())

    # --- modes and gradients --------------------------------------------------------
    def train(self, mode: bool = True) -> Module:
        for module in self.modules():
            object.__setattr__(module, "training", mode)
        return self

    def eval(self) -> Module:
        return self.train(False)

    def zero_grad(self) -> None:
        for param in self.parameters():
            param.grad = None

    def to(self, dtype) -> Module:
        """Cast every parameter to `dtype` (float32 or float64) in place."""
        dtype = np.dtype(dtype)
        if dtype.kind != "f":
            raise TypeError(f"to(): parameters must stay floating point, got {dtype}")
        for param in self.parameters():
            param.data = param.data.astype(dtype)
            param.grad = None
        return self

    def num_parameters(self) -> int:
        return int(sum(param.data.size for param in self.parameters()))

    # --- state ------------------------------------------------------------------------
    def state_dict(self) -> dict[str, np.ndarray]:
        """name -> copy of the parameter's array (PyTorch's names for the built-in layers)."""
        return {name: param.data.copy() for name, param in self.named_parameters()}

    def load_state_dict(self, state: Mapping[str, object], strict: bool = True) -> None:
        """Copy arrays into the parameters. Every problem (missing or unexpected keys, wrong
        shapes, non-numeric values) is reported in one error, and nothing changes unless
        everything fits."""
        own = dict(self.named_parameters())
        problems, updates = [], {}
        missing = [name for name in own if name not in state]
        unexpected = [name for name in state if name not in own]
        if strict and missing:
            problems.append(f"missing keys: {', '.join(missing)}")
        if strict and unexpected:
            problems.append(f"unexpected keys: {', '.join(map(str, unexpected))}")
        for name, param in own.items():
            if name not in state:
                continue
            value = state[name]
            array = as_numpy(value)
            if array is None or array.dtype.kind not in "biuf":
                problems.append(f"{name}: expected a numeric array, got {type(value).__name__}")
            elif array.shape != param.shape:
                problems.append(f"{name}: expected shape {param.shape}, got {array.shape}")
            else:
                overflow = cast_overflow(array, param.dtype)
                if overflow is not None:
                    problems.append(f"{name}: {overflow}")
                else:
                    updates[name] = array
        if problems:
            raise StateDictError(f"load_state_dict into {type(self).__name__} failed; nothing was loaded:\n  "
                           + "\n  ".join(problems))
        with no_grad():
            for name, array in updates.items():
                own[name].data = np.array(array, dtype=own[name].dtype, copy=True)

    # --- display ------------------------------------------------------------------------
    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        """The structure, one module a line, with parameter counts (built without recursion)."""
        lines = []
        for name, module in self.named_modules():
            depth = name.count(".") + 1 if name else 0
            label = f"({name.rsplit('.', 1)[-1]}): " if name else ""
            own = sum(p.data.size for p in module._parameters.values())
            count = f"  # {own:,} parameters" if own else ""
            lines.append(f"{'  ' * depth}{label}{type(module).__name__}({module.extra_repr()}){count}")
        if len(lines) > 1 or self._modules:
            lines.append(f"Total: {self.num_parameters():,} parameters")
        return "\n".join(lines)


def cast_overflow(array: np.ndarray, dtype: np.dtype) -> str | None:
    """Why casting `array` to the parameter dtype `dtype` would turn finite values into inf, or None."""
    if array.dtype.kind != "f" or np.dtype(dtype).itemsize >= array.dtype.itemsize or array.size == 0:
        return None
    largest = np.finfo(dtype).max
    finite = np.isfinite(array)
    too_big = finite & (np.abs(array) > largest)
    if not too_big.any():
        return None
    index = tuple(int(i) for i in np.argwhere(too_big)[0])
    return (f"value {array[index]:.4g} at index {index} does not fit {np.dtype(dtype)} (largest {largest:.4g}); "
            "it would become inf")


def as_numpy(value):
    """A value given for a parameter as an ndarray: Tensors, arrays, torch tensors (without
    importing torch) and nested lists; None when it cannot be one."""
    if isinstance(value, Tensor):
        return value.data
    if isinstance(value, np.ndarray):
        return value
    if hasattr(value, "detach") and hasattr(value, "cpu"):  # a torch.Tensor
        return value.detach().cpu().numpy()
    try:
        array = np.asarray(value)
    except Exception:
        return None
    return None if array.dtype == object else array
