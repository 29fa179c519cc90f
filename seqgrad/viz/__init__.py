"""See the unrolled graph: graphviz drawings with time steps as clusters and gradient heat,
rendering with or without a system Graphviz, backward replays, gradient-flow plots."""

from .alignment import plot_alignment, plot_encoder_gradient
from .draw import DrawingTooLarge, count_nodes, draw
from .explore import ExplorerPage, explore
from .gates import gate_activations
from .plots import plot_gate_saturation, plot_gradient_flow, plot_parameter_grad_norms
from .recording import record
from .render import GraphDrawing, GraphvizError, choose_backend, render, render_bytes
from .replay import replay

__all__ = [
    "draw", "count_nodes", "DrawingTooLarge", "explore", "ExplorerPage", "record", "render", "render_bytes",
    "choose_backend", "GraphDrawing", "GraphvizError", "replay", "gate_activations", "plot_gradient_flow",
    "plot_parameter_grad_norms", "plot_gate_saturation", "plot_alignment", "plot_encoder_gradient",
]
