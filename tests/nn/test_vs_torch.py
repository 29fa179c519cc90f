"""Outputs, final states and every gradient against torch.nn.RNN/LSTM/GRU (float64),
with pack_padded_sequence for lengths. Skipped when torch is not installed."""

import itertools

import numpy as np
import pytest

import seqgrad as sg
from seqgrad import nn

torch = pytest.importorskip("torch")

KINDS = ("RNN", "LSTM", "GRU")
WORST = {}


def _relative(ours, theirs):
    theirs = theirs.detach().numpy()
    return float(np.abs(ours - theirs).max() / max(np.abs(theirs).max(), 1e-300))


@pytest.mark.torch
@pytest.mark.parametrize("kind,layers,bidirectional,batch_first,give_state,with_lengths", list(itertools.product(
    KINDS, (1, 2, 3), (False, True), (False, True), (False, True), (False, True))))
def test_matches_torch(kind, layers, bidirectional, batch_first, give_state, with_lengths):
    steps, batch, features, hidden = 6, 3, 4, 5
    options = dict(num_layers=layers, bidirectional=bidirectional, batch_first=batch_first)
    ours = getattr(nn, kind)(features, hidden, dtype=np.float64, **options)
    theirs = getattr(torch.nn, kind)(features, hidden, dtype=torch.float64, **options)
    theirs.load_state_dict(sg.interop.to_torch(ours))

    rng = np.random.default_rng(layers * 8 + bidirectional * 4 + batch_first * 2 + give_state)
    x_np = rng.standard_normal((batch, steps, features) if batch_first else (steps, batch, features))
    x, tx = sg.Tensor(x_np.copy(), requires_grad=True), torch.tensor(x_np, requires_grad=True)
    count = layers * (2 if bidirectional else 1)
    state, tstate, state_leaves = None, None, []
    if give_state:
        arrays = [rng.standard_normal((count, batch, hidden)) for _ in range(2 if kind == "LSTM" else 1)]
        state_leaves = [(sg.Tensor(a.copy(), requires_grad=True), torch.tensor(a, requires_grad=True)) for a in arrays]
        state = tuple(s for s, _ in state_leaves) if kind == "LSTM" else state_leaves[0][0]
        tstate = tuple(t for _, t in state_leaves) if kind == "LSTM" else state_leaves[0][1]
    lengths = [6, 2, 4] if with_lengths else None

    output, final = ours(x, state, lengths=lengths)
    packed = tx
    if lengths:
        packed = torch.nn.utils.rnn.pack_padded_sequence(tx, torch.tensor(lengths), batch_first=batch_first,
                                                         enforce_sorted=False)
    toutput, tfinal = theirs(packed, tstate)
    if lengths:
        toutput, _ = torch.nn.utils.rnn.pad_packed_sequence(toutput, batch_first=batch_first, total_length=steps)
    finals = final if isinstance(final, tuple) else (final,)
    tfinals = tfinal if isinstance(tfinal, tuple) else (tfinal,)

    weights = rng.standard_normal(output.shape)
    loss = (output * weights).sum() + sum(((k + 2.0) * s).sum() for k, s in enumerate(finals))
    tloss = (toutput * torch.from_numpy(weights)).sum() + sum(((k + 2.0) * s).sum() for k, s in enumerate(tfinals))
    loss.backward()
    tloss.backward()

    differences = [_relative(output.data, toutput)] + [_relative(a.data, b) for a, b in zip(finals, tfinals)]
    differences.append(_relative(x.grad, tx.grad))
    differences += [_relative(ours_leaf.grad, torch_leaf.grad) for ours_leaf, torch_leaf in state_leaves]
    torch_params = dict(theirs.named_parameters())
    for name, param in ours.named_parameters():
        differences.append(_relative(param.grad, torch_params[name].grad))
    worst = max(differences)
    WORST[kind] = max(WORST.get(kind, 0.0), worst)
    assert worst < 1e-10


@pytest.mark.torch
def test_gru_reset_before_is_not_pytorchs_placement():
    ours = nn.GRU(3, 4, reset="before", dtype=np.float64)
    theirs = torch.nn.GRU(3, 4, dtype=torch.float64)
    theirs.load_state_dict({k: torch.from_numpy(v) for k, v in ours.state_dict().items()})
    x = np.random.default_rng(0).standard_normal((4, 2, 3))
    assert not np.allclose(ours(sg.Tensor(x))[0].data, theirs(torch.from_numpy(x))[0].detach().numpy())


@pytest.mark.torch
def test_torch_state_dict_loads_and_exports():
    theirs = torch.nn.LSTM(3, 4, num_layers=2, bidirectional=True)
    ours = nn.LSTM(3, 4, num_layers=2, bidirectional=True)
    sg.interop.from_torch(theirs.state_dict(), ours)
    for name, value in theirs.state_dict().items():
        np.testing.assert_array_equal(ours.state_dict()[name], value.numpy())
    back = torch.nn.LSTM(3, 4, num_layers=2, bidirectional=True)
    back.load_state_dict(sg.interop.to_torch(ours))
    x = np.random.default_rng(0).standard_normal((5, 2, 3)).astype(np.float32)
    np.testing.assert_allclose(ours(sg.Tensor(x))[0].data, back(torch.from_numpy(x))[0].detach().numpy(),
                               rtol=1e-5, atol=1e-6)


def test_report_worst_differences(capsys):
    """Prints the worst relative difference per layer kind (for the closing note)."""
    if WORST:
        with capsys.disabled():
            print("\nworst relative difference vs torch:", {k: f"{v:.2e}" for k, v in sorted(WORST.items())})
