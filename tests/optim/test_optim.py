"""Optimizers follow PyTorch's formulas: same start, same gradients, same trajectory."""

import numpy as np
import pytest

import seqgrad as sg
from seqgrad import optim
from seqgrad.nn.utils import clip_grad_norm_, clip_grad_value_


def _quadratic_grad(theta, step):
    """A gradient that changes with the parameter and the step (so momentum matters)."""
    return np.sin(theta * (step + 1)) + 0.3 * theta


def _trajectory(make, steps=25, seed=0):
    start = np.random.default_rng(seed).standard_normal((3, 4))
    param = sg.nn.Parameter(start.copy())
    optimizer = make([param])
    path = []
    for step in range(steps):
        param.grad = _quadratic_grad(param.data, step)
        optimizer.step()
        path.append(param.data.copy())
    return np.array(path), start


CASES = {
    "sgd": (lambda p: optim.SGD(p, lr=0.1), "SGD", dict(lr=0.1)),
    "sgd-momentum-wd": (lambda p: optim.SGD(p, lr=0.05, momentum=0.9, weight_decay=0.01), "SGD",
                        dict(lr=0.05, momentum=0.9, weight_decay=0.01)),
    "sgd-nesterov": (lambda p: optim.SGD(p, lr=0.05, momentum=0.8, nesterov=True), "SGD",
                     dict(lr=0.05, momentum=0.8, nesterov=True)),
    "adam": (lambda p: optim.Adam(p, lr=0.01), "Adam", dict(lr=0.01)),
    "adam-wd": (lambda p: optim.Adam(p, lr=0.01, betas=(0.8, 0.99), weight_decay=0.1), "Adam",
                dict(lr=0.01, betas=(0.8, 0.99), weight_decay=0.1)),
    "adamw": (lambda p: optim.AdamW(p, lr=0.01, weight_decay=0.1), "AdamW", dict(lr=0.01, weight_decay=0.1)),
    "adagrad": (lambda p: optim.Adagrad(p, lr=0.1), "Adagrad", dict(lr=0.1)),
    "adagrad-options": (lambda p: optim.Adagrad(p, lr=0.2, lr_decay=0.05, weight_decay=0.1,
                                                initial_accumulator_value=0.3, eps=1e-6), "Adagrad",
                        dict(lr=0.2, lr_decay=0.05, weight_decay=0.1, initial_accumulator_value=0.3, eps=1e-6)),
    "rmsprop": (lambda p: optim.RMSprop(p, lr=0.01), "RMSprop", dict(lr=0.01)),
    "rmsprop-momentum-wd": (lambda p: optim.RMSprop(p, lr=0.01, alpha=0.9, momentum=0.8, weight_decay=0.05),
                            "RMSprop", dict(lr=0.01, alpha=0.9, momentum=0.8, weight_decay=0.05)),
    "rmsprop-centered": (lambda p: optim.RMSprop(p, lr=0.005, centered=True, momentum=0.5, eps=1e-6), "RMSprop",
                         dict(lr=0.005, centered=True, momentum=0.5, eps=1e-6)),
}


@pytest.mark.parametrize("case", CASES)
def test_trajectory_matches_torch(case):
    torch = pytest.importorskip("torch")
    make, torch_name, options = CASES[case]
    ours, start = _trajectory(make)
    param = torch.nn.Parameter(torch.from_numpy(start.copy()))
    optimizer = getattr(torch.optim, torch_name)([param], **options)
    for step, expected in enumerate(ours):
        param.grad = torch.from_numpy(_quadratic_grad(param.detach().numpy(), step))
        optimizer.step()
        np.testing.assert_allclose(expected, param.detach().numpy(), rtol=1e-10, atol=1e-12)


def test_sgd_momentum_by_hand():
    path, start = _trajectory(lambda p: optim.SGD(p, lr=0.1, momentum=0.5), steps=2)
    g0 = _quadratic_grad(start, 0)
    theta1 = start - 0.1 * g0
    np.testing.assert_allclose(path[0], theta1)
    buffer = 0.5 * g0 + _quadratic_grad(theta1, 1)
    np.testing.assert_allclose(path[1], theta1 - 0.1 * buffer)


ROUND_TRIPS = {
    "adam": lambda p, lr=0.01: optim.Adam(p, lr=lr),
    "adagrad": lambda p, lr=0.01: optim.Adagrad(p, lr=lr, lr_decay=0.01, initial_accumulator_value=0.1),
    "rmsprop": lambda p, lr=0.01: optim.RMSprop(p, lr=lr, momentum=0.9),
    "rmsprop-centered": lambda p, lr=0.01: optim.RMSprop(p, lr=lr, centered=True),
}


@pytest.mark.parametrize("name", ROUND_TRIPS)
def test_state_dict_round_trip_continues_identically(name):
    make = ROUND_TRIPS[name]
    full, start = _trajectory(make, steps=10)
    param = sg.nn.Parameter(start.copy())
    first = make([param])
    for step in range(5):
        param.grad = _quadratic_grad(param.data, step)
        first.step()
    saved = first.state_dict()
    second = make([param], lr=0.5)
    second.load_state_dict(saved)
    assert second.param_groups[0]["lr"] == 0.01
    for step in range(5, 10):
        param.grad = _quadratic_grad(param.data, step)
        second.step()
    np.testing.assert_allclose(param.data, full[-1], rtol=1e-12)
    with pytest.raises(sg.StateDictError, match="unexpected key"):
        second.load_state_dict({"nonsense": np.zeros(1)})
    broken = {key: value for key, value in saved.items() if not key.endswith("/step")}
    with pytest.raises(sg.StateDictError, match="state0: missing step"):
        second.load_state_dict(broken)


def test_new_optimizers_refuse_negative_options():
    param = sg.nn.Parameter(np.ones(2))
    with pytest.raises(ValueError, match="Adagrad: lr_decay must be >= 0, got -1"):
        optim.Adagrad([param], lr_decay=-1)
    with pytest.raises(ValueError, match="RMSprop: alpha must be >= 0, got -0.5"):
        optim.RMSprop([param], alpha=-0.5)


def test_zero_grad_and_argument_checks():
    param = sg.nn.Parameter(np.ones(3))
    param.grad = np.ones(3)
    optimizer = optim.SGD([param], lr=0.1)
    optimizer.zero_grad(set_to_none=False)
    np.testing.assert_array_equal(param.grad, 0)
    optimizer.zero_grad()
    assert param.grad is None
    with pytest.raises(ValueError, match="learning rate"):
        optim.SGD([param], lr=-1)
    with pytest.raises(ValueError, match="Nesterov"):
        optim.SGD([param], lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="empty"):
        optim.Adam([])
    with pytest.raises(TypeError, match="requires grad"):
        optim.Adam([sg.Tensor(np.ones(2))])


def test_schedules_match_torch():
    torch = pytest.importorskip("torch")
    for ours_type, torch_type, options in [
        (optim.StepLR, torch.optim.lr_scheduler.StepLR, dict(step_size=3, gamma=0.5)),
        (optim.CosineAnnealingLR, torch.optim.lr_scheduler.CosineAnnealingLR, dict(T_max=10, eta_min=0.001)),
    ]:
        ours_opt = optim.SGD([sg.nn.Parameter(np.ones(1))], lr=0.1)
        torch_opt = torch.optim.SGD([torch.nn.Parameter(torch.ones(1))], lr=0.1)
        ours, theirs = ours_type(ours_opt, **options), torch_type(torch_opt, **options)
        for _ in range(10):
            torch_opt.step()
            ours.step()
            theirs.step()
            np.testing.assert_allclose(ours.get_last_lr(), theirs.get_last_lr(), rtol=1e-10)


def test_clip_grad_norm_scales_and_reports_total():
    a, b = sg.nn.Parameter(np.zeros(2)), sg.nn.Parameter(np.zeros(1))
    a.grad, b.grad = np.array([3.0, 0.0]), np.array([4.0])
    total = clip_grad_norm_([a, b], max_norm=1.0)
    assert total == pytest.approx(5.0)
    np.testing.assert_allclose(np.sqrt((a.grad ** 2).sum() + (b.grad ** 2).sum()), 1.0, rtol=1e-5)
    np.testing.assert_allclose(a.grad / b.grad, [0.75, 0.0])
    a.grad = np.array([0.1, 0.0])
    b.grad = np.array([0.0])
    clip_grad_norm_([a, b], max_norm=1.0)
    np.testing.assert_array_equal(a.grad, [0.1, 0.0])


def test_clip_grad_norm_never_applies_a_nonfinite_total():
    a = sg.nn.Parameter(np.zeros(2))
    a.grad = np.array([np.inf, 1.0])
    with pytest.raises(FloatingPointError, match="not finite"):
        clip_grad_norm_([a], 1.0, error_if_nonfinite=True)
    assert clip_grad_norm_([a], 1.0) == np.inf
    np.testing.assert_array_equal(a.grad, [np.inf, 1.0])


def test_clip_grad_value_and_against_torch():
    torch = pytest.importorskip("torch")
    grads = np.random.default_rng(0).standard_normal((2, 5)) * 4
    ours = [sg.nn.Parameter(np.zeros(5)) for _ in range(2)]
    theirs = [torch.nn.Parameter(torch.zeros(5, dtype=torch.float64)) for _ in range(2)]
    for o, t, g in zip(ours, theirs, grads):
        o.grad, t.grad = g.copy(), torch.from_numpy(g.copy())
    total = clip_grad_norm_(ours, 2.0)
    torch_total = torch.nn.utils.clip_grad_norm_(theirs, 2.0)
    assert total == pytest.approx(float(torch_total))
    for o, t in zip(ours, theirs):
        np.testing.assert_allclose(o.grad, t.grad.numpy(), rtol=1e-6)
    clip_grad_value_(ours, 0.1)
    assert max(np.abs(o.grad).max() for o in ours) <= 0.1


def test_grad_norm_measures_without_changing():
    from seqgrad.nn.utils import grad_norm
    a, b = sg.nn.Parameter(np.zeros(2)), sg.nn.Parameter(np.zeros(1))
    a.grad, b.grad = np.array([3.0, 0.0]), np.array([4.0])
    assert grad_norm(p for p in [a, b]) == pytest.approx(5.0)
    assert clip_grad_norm_((p for p in [a, b]), max_norm=1.0) == pytest.approx(5.0)
    np.testing.assert_allclose(np.hypot(a.grad[0], b.grad[0]), 1.0, rtol=1e-5)


def test_step_checks_every_gradient_before_updating_and_keeps_saved_arrays():
    a, b = sg.nn.Parameter(np.ones(2)), sg.nn.Parameter(np.ones(3))
    a.grad, b.grad = np.ones(2), np.ones(4)
    optimizer = optim.SGD([a, b], lr=0.1)
    with pytest.raises(ValueError, match=r"parameter 1 .* shape \(3,\) but its gradient \(4,\); nothing was updated"):
        optimizer.step()
    np.testing.assert_array_equal(a.data, 1.0)
    assert optimizer.step_count == 0
    with pytest.raises(ValueError, match="appears twice"):
        optim.SGD([a, a], lr=0.1)
    # A step between forward and backward must not change what the graph saved.
    w = sg.nn.Parameter(np.array([2.0]))
    y = w * w * 3.0
    w.grad = np.array([1.0])
    optim.SGD([w], lr=1.0).step()
    w.grad = None
    y.backward()
    np.testing.assert_allclose(w.grad, [12.0])


def test_load_state_dict_refuses_malformed_state():
    param = sg.nn.Parameter(np.ones(3))
    optimizer = optim.Adam([param], lr=0.1)
    param.grad = np.ones(3)
    optimizer.step()
    good = optimizer.state_dict()
    for key, value, message in [("state0/exp_avg", np.float64(1.0), r"expected shape \(3,\), got \(\)"),
                                ("group0/lr", np.asarray(-1.0), "learning rate"),
                                ("state0/velocity", np.ones(3), "unexpected state")]:
        broken = dict(good, **{key: value})
        with pytest.raises(sg.StateDictError, match=message):
            optimizer.load_state_dict(broken)
    partial = {k: v for k, v in good.items() if k != "state0/exp_avg_sq"}
    with pytest.raises(sg.StateDictError, match="missing exp_avg_sq"):
        optimizer.load_state_dict(partial)
    optimizer.load_state_dict(good)


def test_clipping_huge_float32_gradients_does_not_overflow():
    param = sg.nn.Parameter(np.zeros(4, dtype=np.float32))
    param.grad = np.full(4, 1e20, dtype=np.float32)
    total = clip_grad_norm_([param], max_norm=1.0, error_if_nonfinite=True)
    assert total == pytest.approx(2e20, rel=1e-6)
    np.testing.assert_allclose(np.linalg.norm(param.grad.astype(np.float64)), 1.0, rtol=1e-5)


@pytest.mark.parametrize("make", [lambda p: optim.SGD(p, lr=0.1, momentum=0.9), lambda p: optim.Adam(p, lr=0.1),
                                  lambda p: optim.AdamW(p, lr=0.1), lambda p: optim.Adagrad(p, lr=0.1),
                                  lambda p: optim.RMSprop(p, lr=0.1, centered=True, momentum=0.5)],
                         ids=["sgd", "adam", "adamw", "adagrad", "rmsprop"])
def test_updates_keep_float32_parameters_float32(make):
    param = sg.nn.Parameter(np.ones(3, dtype=np.float32))
    optimizer = make([param])
    for _ in range(2):
        param.grad = np.ones(3, dtype=np.float32)
        optimizer.step()
    assert param.dtype == np.float32


def test_schedule_state_round_trip_resumes_the_schedule():
    param = sg.nn.Parameter(np.ones(1))
    first = optim.CosineAnnealingLR(optim.SGD([param], lr=0.1), T_max=10)
    for _ in range(4):
        first.step()
    other_optimizer = optim.SGD([param], lr=0.1)
    resumed = optim.CosineAnnealingLR(other_optimizer, T_max=10)
    resumed.load_state_dict(first.state_dict())
    assert resumed.get_last_lr() == pytest.approx(first.get_last_lr())
    first.step()
    resumed.step()
    assert resumed.get_last_lr() == pytest.approx(first.get_last_lr())
    with pytest.raises(sg.StateDictError, match="2 base learning rates for 1"):
        resumed.load_state_dict({"last_step": np.asarray(1), "base_lrs": np.array([0.1, 0.2])})
