"""Truncated backpropagation through time.

A long sequence is processed in windows of k steps. The state entering a window is
the previous window's final state, detached from the graph; each window's loss is
backpropagated and the parameters updated before the next window.

What it costs: memory and time per update are O(k) instead of O(T), and there are
T/k updates per pass instead of one. What it cannot learn: the gradient never
crosses a window boundary, so a dependency longer than k steps gets no gradient
signal at all (the forward state still carries information across windows, but
nothing trains the network to store it there). The first steps of each window see
only ~1 step of backward context; choose k above the dependency span you need.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from ..nn.utils import clip_grad_norm_
from ..tensor import Tensor


def detach_state(state):
    """The same state (a Tensor or a nested tuple/list of them) cut from the graph."""
    if state is None:
        return None
    if isinstance(state, Tensor):
        return state.detach()
    if isinstance(state, (tuple, list)):
        return type(state)(detach_state(part) for part in state)
    raise TypeError(f"detach_state: expected a Tensor or a tuple of Tensors, got {type(state).__name__}")


@dataclass
class WindowResult:
    """One window's outcome: its position, its loss and the gradient norm before clipping."""

    start: int
    stop: int
    loss: float
    grad_norm: float | None


def truncated_bptt(
    forward: Callable[[Tensor, object], tuple[Tensor, object]],
    loss_fn: Callable[[Tensor, Tensor], Tensor],
    inputs: Tensor,
    targets,
    window: int,
    optimizer,
    state=None,
    clip: float | None = None,
    time_axis: int = 0,
) -> Iterator[WindowResult]:
    """Walk `inputs` along `time_axis` in windows of `window` steps, one optimizer step each.

    `forward(inputs_window, state) -> (outputs, new_state)` runs the model (e.g. an LSTM
    plus a readout); `loss_fn(outputs, targets_window)` gives a scalar. Yields a
    `WindowResult` per window; the generator's return value is the final state (use
    `run_truncated_bptt` to get it directly). Arguments are checked before anything runs.
    """
    if window < 1:
        raise ValueError(f"window must be at least 1 step, got {window}")
    if not isinstance(inputs, Tensor):
        inputs = Tensor(inputs)
    steps = inputs.shape[time_axis]
    target_steps = targets.shape[time_axis]
    if target_steps != steps:
        raise ValueError(f"inputs have {steps} steps along axis {time_axis} but targets have {target_steps}")
    return _windows(forward, loss_fn, inputs, targets, window, optimizer, state, clip, time_axis)


def _windows(forward, loss_fn, inputs, targets, window, optimizer, state, clip, time_axis):
    steps = inputs.shape[time_axis]
    parameters = [p for group in optimizer.param_groups for p in group["params"]]
    lead = (slice(None),) * time_axis
    for start in range(0, steps, window):
        stop = min(start + window, steps)
        cut = lead + (slice(start, stop),)
        optimizer.zero_grad()
        outputs, state = forward(inputs[cut], detach_state(state))
        loss = loss_fn(outputs, targets[cut])
        loss.backward()
        norm = clip_grad_norm_(parameters, clip, error_if_nonfinite=True) if clip else None
        optimizer.step()
        yield WindowResult(start, stop, loss.item(), norm)
    return state


def run_truncated_bptt(*args, **kwargs) -> tuple[list[WindowResult], object]:
    """`truncated_bptt` run to the end: (results of every window, final state detached)."""
    results = []
    generator = truncated_bptt(*args, **kwargs)
    while True:
        try:
            results.append(next(generator))
        except StopIteration as finished:
            return results, detach_state(finished.value)
