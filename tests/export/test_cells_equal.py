"""Exported recurrent layers equal seqgrad's: outputs, final states and every gradient (inputs, initial
state, weights) to 1e-10 relative in float64, for the built-in cells (fused torch layers; GRU with reset
before as a generated cell), the README's MinimalGatedUnit and two custom cells of the tests, stacked,
bidirectional, with lengths."""

import re
from pathlib import Path

import numpy as np
import pytest

import seqgrad as sg
from seqgrad import nn
from seqgrad.export import to_torch
from tests.cells import MinimalGatedUnit, PeepholeLSTM
from tests.export.torch_compare import relative

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch

README = Path(__file__).resolve().parents[2] / "README.md"
TOLERANCE = 1e-10
STEPS, BATCH, FEATURES, HIDDEN = 5, 3, 2, 4


def readme_cell():
    """The MinimalGatedUnit class exactly as the README prints it (float64 by the default dtype)."""
    block = next(b for b in re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
                 if "class MinimalGatedUnit" in b)
    namespace = {"sg": sg, "nn": nn, "np": np}
    exec(compile(block, str(README), "exec"), namespace)
    return namespace["MinimalGatedUnit"]


ZOO = {cell.__name__: cell for cell in getattr(getattr(nn, "zoo", None), "CELLS", ())}  # the cell zoo, where it exists


def make_layer(kind: str, **options):
    if kind in ("RNN", "LSTM", "GRU"):
        return getattr(nn, kind)(FEATURES, HIDDEN, dtype=np.float64, **options)
    if kind == "GRU reset before":
        return nn.GRU(FEATURES, HIDDEN, dtype=np.float64, reset="before", **options)
    cell = {"README MinimalGatedUnit": readme_cell(), "MinimalGatedUnit": MinimalGatedUnit,
            "PeepholeLSTM": PeepholeLSTM, **ZOO}[kind]
    return nn.Recurrent(lambda size: cell(size, HIDDEN), input_size=FEATURES, **options)


KINDS = ("RNN", "LSTM", "GRU", "GRU reset before", "README MinimalGatedUnit", "MinimalGatedUnit", "PeepholeLSTM")
SHAPES = {  # (num_layers, bidirectional, lengths, give_state, batch_first)
    "one layer": (1, False, None, False, False),
    "stacked, bidirectional, lengths": (2, True, [5, 2, 4], True, False),
    "stacked, lengths, batch first": (3, False, [1, 5, 3], True, True),
    "bidirectional, an empty sequence": (1, True, [0, 5, 3], True, False),
}


CASES = [(kind, shape) for kind in KINDS for shape in SHAPES] + [(kind, "stacked, bidirectional, lengths")
                                                                 for kind in ZOO]


@pytest.mark.parametrize("kind,shape", CASES)
def test_exported_layer_equals_seqgrad(kind, shape, float64):
    layers, bidirectional, lengths, give_state, batch_first = SHAPES[shape]
    sg.manual_seed(3)
    ours = make_layer(kind, num_layers=layers, bidirectional=bidirectional, batch_first=batch_first)
    source, state_dict = to_torch(ours)
    namespace: dict = {}
    exec(compile(source, "<exported>", "exec"), namespace)
    theirs = namespace["Exported"]()
    theirs.load_state_dict(state_dict)
    fused = kind in ("RNN", "LSTM", "GRU")
    assert isinstance(theirs, getattr(torch.nn, kind) if fused else torch.nn.Module)
    assert ("generated from its traced step" in source) is not fused

    rng = np.random.default_rng(0)
    x_np = rng.standard_normal((BATCH, STEPS, FEATURES) if batch_first else (STEPS, BATCH, FEATURES))
    x, tx = sg.Tensor(x_np.copy(), requires_grad=True), torch.tensor(x_np, requires_grad=True)
    count = layers * (2 if bidirectional else 1)
    components = len(ours.state_names)
    hx, thx = None, None
    if give_state:
        arrays = [rng.standard_normal((count, BATCH, HIDDEN)) for _ in range(components)]
        hx = [sg.Tensor(a.copy(), requires_grad=True) for a in arrays]
        thx = [torch.tensor(a, requires_grad=True) for a in arrays]
        hx, thx = (tuple(hx), tuple(thx)) if components > 1 else (hx[0], thx[0])
    output, final = ours(x, hx, lengths=lengths)
    toutput, tfinal = theirs(tx, thx, lengths=None if lengths is None else torch.tensor(lengths))
    finals = final if isinstance(final, tuple) else (final,)
    tfinals = tfinal if isinstance(tfinal, tuple) else (tfinal,)
    assert len(finals) == len(tfinals) == components

    weights = [rng.standard_normal(output.shape)] + [rng.standard_normal(f.shape) for f in finals]
    loss = sum(((value * w).sum() for value, w in zip((output, *finals), weights)), sg.Tensor(0.0))
    tloss = sum((value * torch.from_numpy(w)).sum() for value, w in zip((toutput, *tfinals), weights))
    loss.backward()
    tloss.backward()

    differences = {"output": relative(output.data, toutput)}
    for name, ours_final, their_final in zip(ours.state_names, finals, tfinals):
        differences[f"final {name}"] = relative(ours_final.data, their_final)
    differences["grad input"] = relative(x.grad, tx.grad)
    if give_state:
        for index, (h, th) in enumerate(zip(hx if components > 1 else (hx,), thx if components > 1 else (thx,))):
            differences[f"grad hx[{index}]"] = relative(h.grad, th.grad)
    their_params = dict(theirs.named_parameters())
    assert set(their_params) == {name for name, _ in ours.named_parameters()}
    for name, param in ours.named_parameters():
        differences[f"grad {name}"] = relative(param.grad, their_params[name].grad)
    assert max(differences.values()) < TOLERANCE, {k: v for k, v in differences.items() if v >= TOLERANCE}

