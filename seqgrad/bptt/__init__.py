"""Backpropagation through time: truncated BPTT and gradient flow through time."""

from .truncated import WindowResult, detach_state, run_truncated_bptt, truncated_bptt

__all__ = ["truncated_bptt", "run_truncated_bptt", "detach_state", "WindowResult"]
