"""Optimizer base: parameter groups, zero_grad, and state that saves as arrays."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from ..errors import StateDictError
from ..nn.module import cast_overflow
from ..tensor import Tensor


class Optimizer:
    """Holds parameter groups (dicts with "params" and hyperparameters) and per-parameter state."""

    state_keys: tuple[str, ...] = ()      # what a parameter's state holds once it has any
    optional_state: tuple[str, ...] = ()  # what it may also hold, depending on options (momentum)
    scalar_state: tuple[str, ...] = ()    # which of those are numbers rather than arrays

    def __init__(self, params: Iterable, defaults: dict) -> None:
        params = list(params)
        if not params:
            raise ValueError(f"{type(self).__name__} got an empty parameter list")
        groups = params if isinstance(params[0], dict) else [{"params": params}]
        self.defaults = defaults
        self.param_groups = []
        seen: set[int] = set()
        for group in groups:
            filled = {**defaults, **group, "params": list(group["params"])}
            for value in filled["params"]:
                if not isinstance(value, Tensor) or not value.requires_grad:
                    raise TypeError(f"{type(self).__name__}: every parameter must be a Tensor that requires grad")
                if id(value) in seen:
                    raise ValueError(f"{type(self).__name__}: a parameter appears twice; it would be updated twice")
                seen.add(id(value))
            self._check_hyperparameters(filled)
            self.param_groups.append(filled)
        self.state: dict[int, dict] = {}  # id(param) -> state
        self.step_count = 0

    def _check_hyperparameters(self, group: dict) -> None:
        if group["lr"] < 0:
            raise ValueError(f"learning rate must be >= 0, got {group['lr']}")

    def zero_grad(self, set_to_none: bool = True) -> None:
        for param in self._params():
            if set_to_none:
                param.grad = None
            elif param.grad is not None:
                param.grad[...] = 0

    def _params(self):
        for group in self.param_groups:
            yield from group["params"]

    def step(self) -> None:
        """Update every parameter that has a gradient (nothing is recorded).

        Every gradient's shape is checked before any parameter changes. Updates give each
        parameter a new array rather than writing into the old one, so a graph that saved the
        old values (for a backward still to come, or a drawing) keeps them intact.
        """
        updates = []
        for g, group in enumerate(self.param_groups):
            for index, param in enumerate(group["params"]):
                if param.grad is None:
                    continue
                grad = param.grad.data if isinstance(param.grad, Tensor) else param.grad
                if grad.shape != param.shape:
                    raise ValueError(f"{type(self).__name__}.step: group {g} parameter {index} "
                                     f"({param.name or 'unnamed'}) has shape {param.shape} but its gradient "
                                     f"{grad.shape}; nothing was updated")
                updates.append((param, grad, group))
        self.step_count += 1
        for param, grad, group in updates:
            self._update(param, grad, self.state.setdefault(id(param), {}), group)

    def _update(self, param: Tensor, grad: np.ndarray, state: dict, group: dict) -> None:
        raise NotImplementedError

    @staticmethod
    def _replace(param: Tensor, values: np.ndarray) -> None:
        """The parameter's new values, as a new array of its own dtype (numpy scalars in the update,
        such as a float64 bias correction, would otherwise widen a float32 parameter)."""
        param.data = values.astype(param.dtype, copy=False)

    def state_dict(self) -> dict[str, np.ndarray]:
        """Flat name -> array: hyperparameters per group and state per parameter index."""
        flat: dict[str, np.ndarray] = {"step_count": np.asarray(self.step_count)}
        index = 0
        for g, group in enumerate(self.param_groups):
            for key, value in group.items():
                if key != "params":
                    flat[f"group{g}/{key}"] = np.asarray(value)
            for param in group["params"]:
                for key, value in self.state.get(id(param), {}).items():
                    flat[f"state{index}/{key}"] = np.array(value, copy=True)
                index += 1
        return flat

    def load_state_dict(self, flat: dict) -> None:
        """Restore from `state_dict()`; checks every key and shape before changing anything."""
        params = list(self._params())
        problems, state, groups = [], {}, [dict(group) for group in self.param_groups]
        for key, value in flat.items():
            if key == "step_count":
                continue
            head, _, name = key.partition("/")
            if head.startswith("group") and head[5:].isdigit() and int(head[5:]) < len(groups):
                if name not in groups[int(head[5:])]:
                    problems.append(f"unknown hyperparameter {key}")
                else:
                    groups[int(head[5:])][name] = np.asarray(value).item() if np.ndim(value) == 0 else \
                        tuple(np.asarray(value).tolist())
            elif head.startswith("state") and head[5:].isdigit() and int(head[5:]) < len(params):
                param = params[int(head[5:])]
                array = np.asarray(value)
                expected = () if name in self.scalar_state else param.shape
                if name not in self.state_keys + self.optional_state:
                    kept = ", ".join(self.state_keys + self.optional_state) or "none"
                    problems.append(f"unexpected state {key} (a {type(self).__name__} keeps {kept})")
                elif array.shape != expected:
                    problems.append(f"{key}: expected shape {expected}, got {array.shape}")
                elif name in self.scalar_state:
                    state.setdefault(id(param), {})[name] = array.item()
                else:
                    overflow = cast_overflow(array, param.dtype)
                    if overflow is not None:
                        problems.append(f"{key}: {overflow}")
                    state.setdefault(id(param), {})[name] = array if overflow else array.astype(param.dtype)
            else:
                problems.append(f"unexpected key {key}")
        for position, param in enumerate(params):
            missing = [k for k in self.state_keys if id(param) in state and k not in state[id(param)]]
            if missing:
                problems.append(f"state{position}: missing {', '.join(missing)}")
        for group in groups:
            try:
                self._check_hyperparameters(group)
            except ValueError as error:
                problems.append(str(error))
        if problems:
            raise StateDictError(f"{type(self).__name__}.load_state_dict: nothing was loaded:\n  "
                                 + "\n  ".join(problems))
        for live, loaded in zip(self.param_groups, groups):
            live.update({k: v for k, v in loaded.items() if k != "params"})
        self.state = state
        self.step_count = int(np.asarray(flat.get("step_count", self.step_count)))
