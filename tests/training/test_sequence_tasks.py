"""The classic tasks: data, scoring against baselines, models, and a short seeded training run."""

import numpy as np
import pytest

from seqgrad.data import IGNORE_INDEX, reber_strings
from seqgrad.tensor import Tensor
from seqgrad.training.task_trainer import (
    SequenceModel,
    build_task,
    check_cell_for_task,
    delayed_echo,
    evaluate_task,
    train_task,
)


def test_delayed_echo_targets_are_the_inputs_delay_steps_back():
    inputs, targets = delayed_echo(5, 12, 3, 4, np.random.default_rng(0))
    assert inputs.shape == (12, 5, 4) and targets.shape == (12, 5)
    assert (targets[:3] == IGNORE_INDEX).all()
    np.testing.assert_array_equal(targets[3:], inputs.argmax(-1)[:-3])
    with pytest.raises(ValueError, match="delay must be in"):
        delayed_echo(1, 5, 5, 4, np.random.default_rng(0))


def test_adding_baseline_is_always_predicting_one():
    task = build_task("adding", 20)
    inputs, targets, _ = task.batch(4000, np.random.default_rng(1))
    ones = Tensor(np.ones_like(targets))
    assert task.score(ones, targets, None)["mse"] == pytest.approx(task.baseline, rel=0.05)


def test_reber_scoring_a_model_that_predicts_a_legal_symbol_everywhere():
    task = build_task("reber")
    inputs, targets, lengths = task.batch(64, np.random.default_rng(2))
    # Logits = the legal-symbol mask: the argmax is always a legal symbol.
    perfect = Tensor(targets.legal.astype(np.float32))
    scores = task.score(perfect, targets, lengths)
    assert scores == {"strings_all_legal": 1.0, "penultimate_legal": 1.0, "steps_legal": 1.0}
    # Swapping T and P at the penultimate step (forgetting the embedded symbol) fails every string there.
    forgetful = targets.legal.astype(np.float32).copy()
    columns = np.arange(len(lengths))
    forgetful[lengths - 2, columns] = forgetful[lengths - 2, columns][:, [0, 4, 2, 3, 1, 5, 6]]
    scores = task.score(Tensor(forgetful), targets, lengths)
    assert scores["penultimate_legal"] == 0.0 and scores["strings_all_legal"] == 0.0
    # The penultimate target really is the second symbol of each string.
    strings = reber_strings(64, rng=np.random.default_rng(2))
    assert all(s[-2] == s[1] for s in strings)


def test_task_and_cell_choices_are_checked():
    with pytest.raises(ValueError, match="-T does not apply to reber"):
        build_task("reber", 10)
    with pytest.raises(ValueError, match="task must be one of"):
        build_task("sorting")
    with pytest.raises(ValueError, match="bilstm does not fit echo"):
        check_cell_for_task("bilstm", build_task("echo"))
    check_cell_for_task("bilstm", build_task("adding"))
    with pytest.raises(ValueError, match="one target per sequence"):
        train_task(build_task("adding", 5), steps=1, bptt=2, progress=False)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru", "bilstm"])
def test_sequence_model_shapes(cell):
    final = SequenceModel(cell, 2, 6, 1, per_step=False)
    per_step = SequenceModel(cell, 2, 6, 3, per_step=True)
    inputs = Tensor(np.random.default_rng(0).random((7, 4, 2)).astype(np.float32))
    assert final(inputs)[0].shape == (4, 1)
    assert per_step(inputs)[0].shape == (7, 4, 3)


def test_bidirectional_final_readout_sees_both_directions():
    model = SequenceModel("bilstm", 2, 3, 1, per_step=False)
    assert model.readout.weight.shape == (1, 6)


def test_short_training_is_seeded_and_learns_the_echo():
    task = build_task("echo", 2)

    def run(seed):
        return train_task(task, "lstm", steps=60, hidden_size=16, batch_size=16, lr=2e-2, seed=seed, test_size=64,
                          eval_every=30, progress=False)

    (first, model), (again, _) = run(0), run(0)
    assert first.losses == again.losses
    assert first.eval_steps == [30, 60]
    assert first.value > first.baseline + 0.3, first.scores
    assert first.beats_baseline
    assert evaluate_task(model, task, task.batch(32, np.random.default_rng(9)))["accuracy"] > 0.5


def test_truncated_training_updates_once_per_window():
    task = build_task("copy", 3)
    result, model = train_task(task, "gru", steps=2, hidden_size=8, batch_size=4, bptt=5, test_size=8,
                               progress=False)
    assert result.steps == 2 and len(result.losses) == 2
    assert np.isfinite(result.value)
