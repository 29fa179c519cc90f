"""seqgrad.exercises' mechanics: a verdict is printed and returned, missing or crashing answers never raise."""

import numpy as np
import pytest

from seqgrad import exercises


def test_a_right_answer_passes_and_prints_a_tick(capsys):
    verdict = exercises.check("linear_decay", 0.9**30)
    assert verdict and verdict.passed and verdict.hint is None
    assert capsys.readouterr().out.startswith("✓ linear_decay: ")


def test_a_wrong_answer_says_what_is_wrong_and_hints(capsys):
    verdict = exercises.check("linear_decay", 27.0)
    assert not verdict
    printed = capsys.readouterr().out
    assert printed.startswith("✗ linear_decay: 27 treats the steps as adding up") and "\n  hint: " in printed


@pytest.mark.parametrize("answer", [None, ..., lambda *args: None])
def test_a_blank_answer_is_not_answered_yet(answer):
    verdict = exercises.check("elman_jacobian", answer, quiet=True)
    assert not verdict and verdict.message.startswith("not answered yet")


def test_not_implemented_is_not_answered_yet():
    def step(*args):
        raise NotImplementedError

    assert exercises.check("gru_reset_before", step, quiet=True).message.startswith("not answered yet")


def test_an_answer_that_crashes_is_reported_not_raised():
    verdict = exercises.check("elman_jacobian", lambda weight_hh, hidden: weight_hh @ np.ones(7), quiet=True)
    assert not verdict and verdict.message.startswith("your answer raised ValueError")


def test_a_wrong_shape_is_named():
    verdict = exercises.check("elman_jacobian", lambda weight_hh, hidden: weight_hh[:2], quiet=True)
    assert verdict.message == "J should have shape (4, 4), got (2, 4)"


def test_the_learners_arrays_are_copies():
    def jacobian(weight_hh, hidden):
        result = (1 - hidden**2)[:, None] * weight_hh
        weight_hh[:] = 0.0  # must not change what the checker compares with
        return result

    assert exercises.check("elman_jacobian", jacobian, quiet=True)


def test_an_unknown_name_lists_the_exercises():
    with pytest.raises(KeyError, match="no exercise named 'nope'; the exercises are: .*gru_reset_before"):
        exercises.check("nope", 1)


def test_show_and_hint_print(capsys):
    exercises.show("parameter_counts")
    exercises.hint("parameter_counts")
    printed = capsys.readouterr().out
    assert printed.startswith("Exercise parameter_counts (notebook 04)\nPredict")
    assert "hint for parameter_counts:" in printed


def test_every_notebook_has_at_least_two_exercises():
    for notebook in ("01", "02", "03", "04", "05", "06", "07", "08"):
        assert len(exercises.names(notebook)) >= 2, notebook
    assert sorted(exercises.names()) == sorted(exercises.EXERCISES)


def test_a_name_is_registered_once():
    with pytest.raises(ValueError, match="registered twice"):
        exercises.core.exercise("linear_decay", "03", "prompt", "hint")(lambda answer: "")
