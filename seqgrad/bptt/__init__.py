"""Backpropagation through time: truncated BPTT and gradient flow through time."""

from .contributions import StepContributions, weight_grad_contributions
from .flow import hidden_grad_norms, jacobian_norms, state_nodes
from .truncated import WindowResult, detach_state, run_truncated_bptt, truncated_bptt

__all__ = ["truncated_bptt", "run_truncated_bptt", "detach_state", "WindowResult",
           "hidden_grad_norms", "weight_grad_contributions", "StepContributions", "jacobian_norms", "state_nodes"]
