"""The backward replay: frames in backward's order, the gradient front moving back through time,
one layout for all frames, SVG files, a self-contained HTML page and an animated GIF."""

import re

import imageio.v3 as iio
import pytest

import seqgrad as sg
from seqgrad import nn
from seqgrad.viz import replay
from seqgrad.viz.graph import build
from seqgrad.viz.replay import replay_frames


def lstm_loss(steps=3):
    sg.manual_seed(0)
    output, _ = nn.LSTM(2, 3)(sg.randn(steps, 1, 2))
    return (output[-1] ** 2).sum()


def test_the_gradient_front_moves_back_through_time(tmp_path):
    loss = lstm_loss()
    with sg.viz.record():
        loss.backward()
    files = replay(loss, tmp_path / "frames", level="cell")
    steps = [int(match.group(1)) for caption in files.captions
             if (match := re.search(r"step (\d+)", caption))]
    assert steps == [2, 1, 0]
    assert files.captions[0].startswith("forward done")
    assert len(files.frames) == len(files.captions) and all(path.exists() for path in files.frames)
    page = files.html.read_text(encoding="utf-8")
    assert page.count("<svg") == len(files.frames) and 'type="range"' in page and "<script" in page
    assert "http" not in page.split("<svg")[0]            # self-contained: nothing fetched
    frames = iio.imread(files.gif, index=None)
    assert frames.shape[0] == len(files.frames)
    sizes = {re.search(r'viewBox="([^"]+)"', path.read_text(encoding="utf-8")).group(1) for path in files.frames}
    assert len(sizes) == 1                                 # one layout: only colours change


def test_frames_reveal_gradients_in_decreasing_creation_order():
    loss = lstm_loss()
    with sg.viz.record():
        loss.backward()
    model = build(loss, level="op")
    by_node = replay_frames(model, by="node")
    assert len(by_node) == len(model.walk.nodes) + 1
    thresholds = [frame.first_seq for frame in by_node[1:]]
    assert thresholds == sorted(thresholds, reverse=True)
    by_step = replay_frames(model, by="step")
    assert 1 < len(by_step) < len(by_node)
    assert by_step[-1].first_seq == model.walk.nodes[0].seq    # the last frame has everything


def test_replay_needs_a_backward_pass_and_checks_its_arguments(tmp_path):
    loss = lstm_loss()
    loss.backward(retain_graph=True)  # a plain backward records nothing for drawings
    with pytest.raises(RuntimeError, match="viz.record"):
        replay(loss, tmp_path / "never")
    assert not (tmp_path / "never").exists()
    with sg.viz.record():
        loss.backward()
    with pytest.raises(ValueError, match="by must be one of"):
        replay(loss, tmp_path / "x", by="time")
    with pytest.raises(ValueError, match="max_frames"):
        replay(loss, tmp_path / "x", by="node", max_frames=5)
