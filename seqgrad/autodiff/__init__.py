"""The engine: the tape, backward, gradient checks, and the hooks readers of the graph use."""

from .graph import Walk, mark_state, sequence_key, step_scope, walk
from .observe import on_backward

__all__ = ["on_backward", "mark_state", "walk", "step_scope", "sequence_key", "Walk"]
