"""Backward replay for teaching: the backward pass as a sequence of frames, each showing
which nodes have received their gradient so far, so the gradient front is seen moving
back through time.

Backward processes nodes in decreasing creation number (a node after all its consumers),
so "processed by frame k" is "created at or after a threshold". Every frame is the same
drawing (same labels, same layout) with only colours changing; the colour scale is the
one of the finished pass, so frames compare.
"""

from __future__ import annotations

import html
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..tensor import Tensor
from .dot import Reveal, to_dot
from .graph import GraphModel, build, has_gradients
from .heat import format_norm
from .recording import node_grad_norm
from .render import render_bytes

BY = ("step", "node")


@dataclass
class ReplayFiles:
    """What `replay` wrote: one SVG per frame, and the HTML page and GIF when asked for."""

    frames: list[Path] = field(default_factory=list)
    captions: list[str] = field(default_factory=list)
    html: Path | None = None
    gif: Path | None = None


def replay_frames(model: GraphModel, by: str = "step") -> list[Reveal]:
    """The moments to show: before backward, then after each node (by="node") or after each
    run of nodes in one time step or one scope (by="step"), in the order backward takes them."""
    if by not in BY:
        raise ValueError(f"by must be one of {', '.join(repr(name) for name in BY)}, got {by!r}")
    nodes = list(reversed(model.walk.nodes))   # backward's order
    frame_of = model.tree.frame_of
    root = nodes[0]
    frames = [Reveal(math.inf, math.inf, f"forward done; backward starts at {root.name} with ∂L/∂L = 1")]
    stages: list[list] = []
    previous_key = None
    consumers = model.walk.consumers
    for node in nodes:
        frame = frame_of(node)
        key = node.seq if by == "node" else id(frame.outer_step or frame)
        if by == "step" and frame.outer_step is None:
            # An op before the loop that only one step reads (its slice of the input projection)
            # is backward's last move in that step: shown with it, not as a frame of its own.
            steps = {id(frame_of(user).outer_step) for user in consumers.get(node.seq, ())}
            users = consumers.get(node.seq, ())
            if len(steps) == 1 and users and frame_of(users[0]).outer_step is not None:
                key = next(iter(steps))
        if key != previous_key:
            stages.append([])
            previous_key = key
        stages[-1].append(node)
    for number, stage in enumerate(stages, start=1):
        first, last = stage[-1], stage[0]
        frames.append(Reveal(first.seq, last.seq + 1, f"{number}/{len(stages)} · " + _caption(model, stage)))
    return frames


def _caption(model: GraphModel, stage: list) -> str:
    frame = model.tree.frame_of(stage[0])
    step = frame.outer_step
    where = (step or frame).path_label() or "top level"
    if len(stage) == 1:
        node = stage[0]
        return f"backward through {node.name} ({where}): ‖∂L/∂out‖ = {format_norm(node_grad_norm(node))}"
    state = next((node for node in stage if node.role == "hidden"), None)
    text = f"backward through {where} ({len(stage)} ops)"
    if state is not None:
        text += f": ‖∂L/∂h‖ = {format_norm(node_grad_norm(state))}"
    return text


def replay(loss: Tensor | Sequence[Tensor], directory: str | os.PathLike, *, level: str = "op", by: str = "step",
           steps: tuple[int, int] | None = None, html_page: bool = True, gif: bool = True,
           seconds_per_frame: float = 0.8, max_frames: int = 200, shapes: bool = True,
           title: str | None = None) -> ReplayFiles:
    """Write the frames of the backward pass that ran on `loss` into `directory`:
    frame_000.svg, ..., index.html (a self-contained page with a slider) and backward.gif.

    Run the backward first inside `with seqgrad.viz.record(): loss.backward()` (retain_graph
    is not needed: only the recorded structure and the gradient norms are read). level and
    steps are those of `seqgrad.viz.draw`; by="step" makes one frame per time step (or scope)
    the gradient front passes, by="node" one per op.
    """
    model = build(loss, level=level, steps=steps)
    if not has_gradients(model):
        raise RuntimeError("replay shows a recorded backward pass: run it first, inside `with seqgrad.viz.record(): "
                           "loss.backward()`")
    frames = replay_frames(model, by)
    if len(frames) > max_frames:
        raise ValueError(f"the replay would have {len(frames)} frames (max_frames={max_frames}); use by='step', "
                         "steps=(first, last) to elide the middle, or raise max_frames")
    if seconds_per_frame <= 0:
        raise ValueError(f"seconds_per_frame must be positive, got {seconds_per_frame}")
    if gif:
        try:
            import imageio.v3 as iio
        except ImportError:
            raise ImportError("the replay GIF needs imageio (`pip install imageio`, or seqgrad[anim]); "
                              "pass gif=False for the SVG frames and HTML page only") from None
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    files = ReplayFiles()
    svgs = []
    for number, reveal in enumerate(frames):
        drawing = to_dot(model, shapes=shapes, title=title, reveal=reveal)
        svg = render_bytes(drawing, "svg").decode("utf-8")
        path = directory / f"frame_{number:03d}.svg"
        path.write_text(svg, encoding="utf-8")
        files.frames.append(path)
        files.captions.append(reveal.caption)
        svgs.append(svg)
    if html_page:
        files.html = directory / "index.html"
        files.html.write_text(_page(svgs, files.captions, title or "Backward replay", seconds_per_frame),
                              encoding="utf-8")
    if gif:
        images = []
        for reveal in frames:
            drawing = to_dot(model, shapes=shapes, title=title, reveal=reveal)
            drawing.graph_attr["size"] = "20,12"   # at most 1920 pixels wide: frames stay light
            images.append(iio.imread(render_bytes(drawing, "png"), extension=".png"))
        files.gif = directory / "backward.gif"
        iio.imwrite(files.gif, _same_size(images), extension=".gif", duration=int(seconds_per_frame * 1000), loop=0)
    return files


def _same_size(images: list[np.ndarray]) -> np.ndarray:
    """Pad every frame with white to the largest one (layouts match, but be safe), as RGB."""
    rgb = [image[..., :3] if image.ndim == 3 else np.repeat(image[..., None], 3, axis=2) for image in images]
    height = max(image.shape[0] for image in rgb)
    width = max(image.shape[1] for image in rgb)
    stacked = np.full((len(rgb), height, width, 3), 255, dtype=np.uint8)
    for number, image in enumerate(rgb):
        stacked[number, :image.shape[0], :image.shape[1]] = image
    return stacked


def _page(svgs: list[str], captions: list[str], title: str, seconds_per_frame: float) -> str:
    """A self-contained HTML page: every frame's SVG inline, a slider, play/pause, arrow keys."""
    frames = "\n".join(
        f'<figure class="frame" data-caption="{html.escape(caption, quote=True)}">{svg[svg.index("<svg"):]}</figure>'
        for svg, caption in zip(svgs, captions))
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>
body {{ font-family: Helvetica, Arial, sans-serif; margin: 1.2em; }}
.frame {{ display: none; margin: 0; overflow-x: auto; }}
.frame.shown {{ display: block; }}
.controls {{ display: flex; gap: 0.8em; align-items: center; }}
#slider {{ flex: 1; }}
#caption {{ font-weight: bold; min-height: 1.4em; }}
</style></head>
<body>
<h1>{html.escape(title)}</h1>
<div class="controls"><button id="play">play</button>
<input id="slider" type="range" min="0" max="{len(svgs) - 1}" value="0"><span id="count"></span></div>
<p id="caption"></p>
{frames}
<script>
const frames = document.querySelectorAll(".frame");
const slider = document.getElementById("slider"), play = document.getElementById("play");
let timer = null;
function show(i) {{
  frames.forEach((f, j) => f.classList.toggle("shown", j === i));
  slider.value = i;
  document.getElementById("count").textContent = (i + 1) + " / " + frames.length;
  document.getElementById("caption").textContent = frames[i].dataset.caption;
}}
slider.addEventListener("input", () => show(Number(slider.value)));
play.addEventListener("click", () => {{
  if (timer) {{ clearInterval(timer); timer = null; play.textContent = "play"; return; }}
  play.textContent = "pause";
  timer = setInterval(() => show((Number(slider.value) + 1) % frames.length), {int(seconds_per_frame * 1000)});
}});
document.addEventListener("keydown", (e) => {{
  if (e.key === "ArrowRight") show(Math.min(Number(slider.value) + 1, frames.length - 1));
  if (e.key === "ArrowLeft") show(Math.max(Number(slider.value) - 1, 0));
}});
show(0);
</script>
</body></html>
"""
