"""LayerNorm, the loss modules and Embedding's padding row against PyTorch (float64), and gradchecked."""

import numpy as np
import pytest

import seqgrad as sg
from seqgrad import nn
from seqgrad.nn import functional as F

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch
TF = torch.nn.functional
RTOL, ATOL = 1e-10, 1e-13
WORST = {}


def _compare(name, ours, theirs, our_inputs, their_inputs):
    np.testing.assert_allclose(ours.data, theirs.detach().numpy(), rtol=RTOL, atol=ATOL)
    weights = np.random.default_rng(0).standard_normal(ours.shape)
    (ours * weights).sum().backward()
    (theirs * torch.from_numpy(weights)).sum().backward()
    worst = 0.0
    for mine, reference in zip(our_inputs, their_inputs):
        np.testing.assert_allclose(mine.grad, reference.grad.numpy(), rtol=RTOL, atol=ATOL)
        scale = np.maximum(np.abs(reference.grad.numpy()), 1e-300)
        worst = max(worst, float((np.abs(mine.grad - reference.grad.numpy()) / scale).max()))
    WORST[name] = max(WORST.get(name, 0.0), worst)


def _pair(array):
    return sg.Tensor(array, requires_grad=True), torch.tensor(array, requires_grad=True)


@pytest.mark.parametrize("shape, normalized", [((4, 6), 6), ((2, 3, 5), (3, 5)), ((5,), (5,))])
def test_layer_norm_matches_torch(shape, normalized):
    rng = np.random.default_rng(len(shape))
    x, tx = _pair(rng.standard_normal(shape) * 3 + 1)
    layer = nn.LayerNorm(normalized, dtype=np.float64)
    reference = torch.nn.LayerNorm(normalized, dtype=torch.float64)
    values = {"weight": rng.standard_normal(layer.weight.shape), "bias": rng.standard_normal(layer.bias.shape)}
    layer.load_state_dict(values)
    reference.load_state_dict({k: torch.from_numpy(v) for k, v in values.items()})
    _compare("LayerNorm", layer(x), reference(tx), [x, layer.weight, layer.bias],
             [tx, reference.weight, reference.bias])
    plain = F.layer_norm(sg.Tensor(x.data), normalized, eps=1e-3)
    np.testing.assert_allclose(plain.data, TF.layer_norm(tx.detach(), layer.normalized_shape, eps=1e-3).numpy(),
                               rtol=RTOL, atol=ATOL)


def test_layer_norm_gradchecks_and_names_a_bad_shape():
    rng = np.random.default_rng(3)
    x = sg.Tensor(rng.standard_normal((3, 4)), requires_grad=True)
    weight, bias = sg.Tensor(rng.standard_normal(4), requires_grad=True), sg.Tensor(rng.standard_normal(4),
                                                                                    requires_grad=True)
    assert sg.gradcheck(lambda x, w, b: F.layer_norm(x, 4, w, b), [x, weight, bias])
    with pytest.raises(sg.ShapeError, match=r"layer_norm: expected input \(\.\.\., 5\), got \(3, 4\)"):
        nn.LayerNorm(5)(sg.zeros(3, 4))
    assert [name for name, _ in nn.LayerNorm(4).named_parameters()] == ["weight", "bias"]
    assert nn.LayerNorm(4, elementwise_affine=False).num_parameters() == 0


CROSS_ENTROPY = [
    ("indices", (6, 5), "indices", {}),
    ("ignore", (6, 5), "indices-ignored", dict(ignore_index=-100)),
    ("ignore-7", (6, 5), "indices-ignored-7", dict(ignore_index=7)),
    ("sum", (6, 5), "indices-ignored", dict(reduction="sum")),
    ("none", (6, 5), "indices-ignored", dict(reduction="none")),
    ("smoothing", (6, 5), "indices-ignored", dict(label_smoothing=0.2)),
    ("smoothing-none", (6, 5), "indices-ignored", dict(label_smoothing=0.1, reduction="none")),
    ("weight", (6, 5), "indices-ignored", dict(weight="classes")),
    ("weight-smoothing", (6, 5), "indices-ignored", dict(weight="classes", label_smoothing=0.3)),
    ("weight-smoothing-sum", (6, 5), "indices", dict(weight="classes", label_smoothing=0.3, reduction="sum")),
    ("spatial", (3, 5, 4), "indices-ignored", dict(label_smoothing=0.1)),
    ("spatial-none", (3, 5, 2, 2), "indices", dict(reduction="none")),
    ("unbatched", (5,), "indices", {}),
    ("probabilities", (6, 5), "probabilities", {}),
    ("probabilities-smoothing-weight", (6, 5), "probabilities", dict(label_smoothing=0.25, weight="classes")),
    ("probabilities-spatial-none", (3, 5, 4), "probabilities", dict(reduction="none")),
    ("large-logits", (6, 5), "indices-ignored", dict(scale=1e3, label_smoothing=0.1)),
]


def _targets(kind, shape, rng):
    positions = (shape[0],) + shape[2:] if len(shape) > 1 else ()
    if kind == "probabilities":
        raw = rng.random(shape)
        return raw / raw.sum(axis=1 if len(shape) > 1 else 0, keepdims=True)
    target = rng.integers(0, shape[1] if len(shape) > 1 else shape[0], positions)
    if kind.startswith("indices-ignored") and target.size > 2:
        target.reshape(-1)[[1, -1]] = 7 if kind.endswith("-7") else -100
    return target


@pytest.mark.parametrize("label, shape, kind, options", CROSS_ENTROPY, ids=[c[0] for c in CROSS_ENTROPY])
def test_cross_entropy_matches_torch(label, shape, kind, options):
    rng = np.random.default_rng(len(label))
    options = dict(options)
    scale = options.pop("scale", 2.0)
    logits, torch_logits = _pair(rng.standard_normal(shape) * scale)
    target = _targets(kind, shape, rng)
    if options.get("weight") == "classes":
        options["weight"] = rng.uniform(0.2, 2.0, shape[1] if len(shape) > 1 else shape[0])
    their_options = dict(options, weight=None if "weight" not in options else torch.from_numpy(options["weight"]))
    ours = nn.CrossEntropyLoss(**options)(logits, target)
    theirs = torch.nn.CrossEntropyLoss(**their_options)(torch_logits, torch.from_numpy(target))
    assert ours.shape == tuple(theirs.shape)
    _compare("CrossEntropyLoss", ours, theirs, [logits], [torch_logits])


@pytest.mark.parametrize("options", [{}, dict(reduction="sum"), dict(reduction="none"), dict(weight="classes"),
                                     dict(weight="classes", ignore_index=2)], ids=str)
def test_nll_loss_matches_torch(options):
    rng = np.random.default_rng(5)
    options = dict(options)
    log_probs, torch_log_probs = _pair(np.log(_targets("probabilities", (7, 4), rng)))
    target = rng.integers(0, 4, 7)
    target[3] = -100 if "ignore_index" not in options else options["ignore_index"]
    if options.get("weight") == "classes":
        options["weight"] = rng.uniform(0.2, 2.0, 4)
    their_options = dict(options, weight=None if "weight" not in options else torch.from_numpy(options["weight"]))
    ours = nn.NLLLoss(**options)(log_probs, target)
    theirs = torch.nn.NLLLoss(**their_options)(torch_log_probs, torch.from_numpy(target))
    _compare("NLLLoss", ours, theirs, [log_probs], [torch_log_probs])


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_mse_and_binary_cross_entropy_match_torch(reduction):
    rng = np.random.default_rng(6)
    prediction, torch_prediction = _pair(rng.standard_normal((3, 4)))
    goal = rng.standard_normal((3, 4))
    _compare("MSELoss", nn.MSELoss(reduction)(prediction, goal),
             torch.nn.MSELoss(reduction=reduction)(torch_prediction, torch.from_numpy(goal)),
             [prediction], [torch_prediction])
    logits, torch_logits = _pair(np.array([[-800.0, -20.0, 0.0, 3.0], [0.5, 25.0, 700.0, -1.0]]))
    probabilities = rng.random((2, 4))
    _compare("binary_cross_entropy_with_logits", F.binary_cross_entropy_with_logits(logits, probabilities, reduction),
             TF.binary_cross_entropy_with_logits(torch_logits, torch.from_numpy(probabilities), reduction=reduction),
             [logits], [torch_logits])


def test_loss_modules_gradcheck_with_smoothing_and_probabilities():
    rng = np.random.default_rng(7)
    logits = sg.Tensor(rng.standard_normal((4, 3, 2)), requires_grad=True)
    target = np.array([[0, 2], [1, -100], [2, 0], [1, 1]])
    loss = nn.CrossEntropyLoss(weight=np.array([0.5, 1.0, 2.0]), label_smoothing=0.2)
    assert sg.gradcheck(lambda z: loss(z, target), [logits])
    probabilities = sg.Tensor(_targets("probabilities", (4, 3, 2), rng), requires_grad=True)
    assert sg.gradcheck(lambda z, p: F.cross_entropy(z, p, label_smoothing=0.1), [logits, probabilities])
    with pytest.raises(ValueError, match="label_smoothing must be in"):
        nn.CrossEntropyLoss(label_smoothing=1.5)
    with pytest.raises(sg.ShapeError, match=r"weight must have one entry per class, shape \(3,\), got \(2,\)"):
        F.cross_entropy(logits, target, weight=np.ones(2))


def test_embedding_padding_row_is_returned_as_stored_with_no_gradient_like_torch():
    rng = np.random.default_rng(8)
    table = rng.standard_normal((6, 3))  # a torch state dict whose padding row is not zero
    ours = nn.Embedding(6, 3, padding_idx=2, dtype=np.float64)
    theirs = torch.nn.Embedding(6, 3, padding_idx=2, dtype=torch.float64)
    assert not ours.weight.data[2].any() and not theirs.weight.detach()[2].any()
    ours.load_state_dict(theirs.state_dict())  # round trip from torch...
    np.testing.assert_array_equal(ours.weight.data, theirs.weight.detach().numpy())
    theirs.load_state_dict({"weight": torch.from_numpy(table)})
    ours.load_state_dict(theirs.state_dict())
    ids = np.array([[1, 2, 5], [2, 2, 0]])
    mine, reference = ours(ids), theirs(torch.from_numpy(ids))
    np.testing.assert_array_equal(mine.data, reference.detach().numpy())
    np.testing.assert_array_equal(mine.data[0, 1], table[2])
    upstream = rng.standard_normal(mine.shape)
    (mine * upstream).sum().backward()
    (reference * torch.from_numpy(upstream)).sum().backward()
    np.testing.assert_allclose(ours.weight.grad, theirs.weight.grad.numpy(), rtol=1e-14)
    assert not ours.weight.grad[2].any()
    back = torch.nn.Embedding(6, 3, padding_idx=2, dtype=torch.float64)  # ...and back
    back.load_state_dict({k: torch.from_numpy(v) for k, v in ours.state_dict().items()})
    np.testing.assert_array_equal(back.weight.detach().numpy(), table)


def test_worst_relative_difference_is_float64_rounding(capsys):
    """The worst gradient difference per module measured above (printed in -s runs)."""
    with capsys.disabled():
        print("\nworst relative gradient difference vs torch:", {k: f"{v:.2e}" for k, v in sorted(WORST.items())})
    assert all(value < 1e-10 for value in WORST.values())
