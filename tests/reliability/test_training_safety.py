"""Lost work and silent damage in training: clipping and loading refuse values that would corrupt
the model, an unwritable destination fails before training, Ctrl-C saves the progress (a second
one aborts), a diverged run saves nothing and says so, and sampling survives extreme settings."""

import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

import seqgrad as sg
from seqgrad import nn
from seqgrad.cli import main
from seqgrad.commands import demo as demo_command
from seqgrad.commands import train as train_command
from seqgrad.data import CharTokenizer
from seqgrad.models.char_lm import CharLM, sample
from seqgrad.training.lm_checkpoint import load_char_lm, save_char_lm

TINY = ["--hidden", "8", "--embedding", "4", "--batch", "4", "--seq-len", "16", "--no-progress"]


pytestmark = pytest.mark.usefixtures("restore_blas_threads")


@pytest.fixture
def unwritable(tmp_path):
    """A folder this process cannot create files in (root ignores permissions: then a read-only /sys)."""
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    for candidate in (folder, Path("/sys")):
        try:
            tempfile.TemporaryFile(dir=candidate).close()
        except OSError:
            yield candidate
            break
    else:
        pytest.skip("no unwritable folder here (running as root without a read-only /sys)")
    folder.chmod(0o700)


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


# --- 4: clipping and loading -----------------------------------------------------------------
@pytest.mark.parametrize("max_norm", [float("nan"), -1.0, 0.0])
def test_clip_grad_norm_refuses_a_nan_or_non_positive_max_norm(max_norm):
    weight = nn.Parameter(np.ones(3))
    weight.grad = np.full(3, 10.0)
    with pytest.raises(ValueError, match="max_norm must be a positive number"):
        nn.utils.clip_grad_norm_([weight], max_norm)
    np.testing.assert_array_equal(weight.grad, np.full(3, 10.0))


def test_load_state_dict_refuses_a_float64_value_that_overflows_float32_and_loads_nothing():
    layer = nn.Linear(2, 2)
    before = layer.state_dict()
    state = {name: value.astype(np.float64) + 1 for name, value in before.items()}
    state["weight"][1, 0] = 1e300
    with pytest.raises(sg.StateDictError) as refused:
        layer.load_state_dict(state)
    assert "weight: value 1e+300 at index (1, 0) does not fit float32" in str(refused.value)
    for name, value in layer.state_dict().items():
        np.testing.assert_array_equal(value, before[name])   # not even the bias changed
    state["weight"][1, 0] = np.inf   # a value that is already inf is the user's to load
    layer.load_state_dict(state)
    assert np.isinf(layer.weight.data[1, 0])


def test_optimizer_load_state_dict_refuses_an_overflowing_moment_and_loads_nothing():
    layer = nn.Linear(2, 2)
    optimizer = sg.optim.Adam(layer.parameters())
    layer(np.ones((1, 2), np.float32)).sum().backward()
    optimizer.step()
    state = optimizer.state_dict()
    key = next(name for name in state if name.endswith("exp_avg_sq"))
    state[key] = state[key].astype(np.float64)
    state[key].flat[0] = 1e300
    before = {name: np.array(value, copy=True) for name, value in optimizer.state_dict().items()}
    with pytest.raises(sg.StateDictError) as refused:
        optimizer.load_state_dict(state)
    assert f"{key}: value 1e+300" in str(refused.value) and "missing" not in str(refused.value)
    for name, value in optimizer.state_dict().items():
        np.testing.assert_array_equal(value, before[name])


# --- 5: an unwritable destination fails before training ---------------------------------------
def test_train_and_demo_refuse_an_unwritable_destination_before_any_training(text_file, unwritable, capsys,
                                                                             monkeypatch):
    def never(*args, **kwargs):
        raise AssertionError("training started")

    monkeypatch.setattr(train_command, "train_char_lm", never)
    monkeypatch.setattr(demo_command, "train_char_lm", never)
    assert main(["train", str(text_file), "--checkpoint", str(unwritable / "x.npz"), "--steps", "3", *TINY]) == 2
    assert "cannot write in" in one_error_line(capsys)
    assert main(["demo", "--quick", "--out", str(unwritable / "demo"), "--no-progress"]) == 2
    assert "cannot write in" in one_error_line(capsys)


# --- 6: Ctrl-C --------------------------------------------------------------------------------
def start_training(text_file, checkpoint):
    """`seqgrad train` for far more updates than the test waits for; returns once it is training."""
    process = subprocess.Popen([sys.executable, "-m", "seqgrad", "train", str(text_file), "--checkpoint",
                                str(checkpoint), "--steps", "100000", "--hidden", "64", "--embedding", "8",
                                "--batch", "8", "--seq-len", "32", "--no-progress"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "OPENBLAS_NUM_THREADS": "1", "PYTHONPATH": os.getcwd()})
    for line in process.stdout:
        if line.startswith("model:"):
            return process
    raise AssertionError(process.stderr.read())


def test_ctrl_c_saves_the_progress_and_exits_130(text_file, tmp_path):
    checkpoint = tmp_path / "lm.npz"
    process = start_training(text_file, checkpoint)
    try:
        process.wait(timeout=1.0)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=30)
    assert process.returncode == 130, err
    saved = [line for line in err.splitlines() if "saved to" in line]
    assert len(saved) == 1 and "interrupted after" in saved[0] and "of 100000 updates" in saved[0]
    _, _, info = load_char_lm(checkpoint)
    assert info["interrupted"] and 0 < info["steps"] < 100000
    assert [path.name for path in tmp_path.iterdir() if path.name != "text.txt"] == ["lm.npz"]


def test_a_second_ctrl_c_aborts_at_once_and_leaves_no_broken_file(text_file, tmp_path):
    checkpoint = tmp_path / "lm.npz"
    process = start_training(text_file, checkpoint)
    process.send_signal(signal.SIGINT)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=30)
    assert process.returncode == 130, err
    if checkpoint.exists():   # the second signal may come after the save: then the file is whole
        load_char_lm(checkpoint)
    assert not [path for path in tmp_path.iterdir() if path.name.endswith(".tmp")]


# --- 7: divergence --------------------------------------------------------------------------------
@pytest.mark.parametrize("clip", ["0", "1"])
def test_a_diverged_run_exits_1_and_keeps_the_earlier_checkpoint(text_file, tmp_path, capsys, clip):
    checkpoint = tmp_path / "lm.npz"
    assert main(["train", str(text_file), "--checkpoint", str(checkpoint), "--steps", "3", *TINY]) == 0
    before = checkpoint.read_bytes()
    capsys.readouterr()
    assert main(["train", str(text_file), "--checkpoint", str(checkpoint), "--steps", "10", "--lr", "1e20",
                 "--clip", clip, *TINY]) == 1
    message = one_error_line(capsys)
    assert "training diverged" in message and "lower --lr" in message and "--clip" in message
    assert "nothing was saved" in message
    assert checkpoint.read_bytes() == before


def test_tasks_reports_a_diverged_run_instead_of_mse_nan(capsys):
    assert main(["tasks", "--task", "adding", "-T", "8", "--steps", "5", "--hidden", "8", "--lr", "1e20",
                 "--clip", "0", "--no-progress"]) == 1
    captured = capsys.readouterr()
    assert "nan" not in captured.out
    message = captured.err.strip().splitlines()
    assert len(message) == 1 and "training diverged" in message[0] and "lower --lr" in message[0]


def test_sample_takes_the_limit_at_extreme_temperatures_and_infinite_logits(tmp_path, capsys):
    sg.manual_seed(0)
    tokenizer = CharTokenizer().fit("abcdef")
    model = CharLM(len(tokenizer.vocab), 4, 8, "gru")
    model.readout.weight.data = model.readout.weight.data * 1e30   # finite weights, logits around 1e30
    greedy = sample(model, tokenizer, "ab", 20, temperature=0.0)
    assert sample(model, tokenizer, "ab", 20, temperature=1e-320) == greedy
    assert len(sample(model, tokenizer, "ab", 20, temperature=1e300)) == 20
    bias = model.readout.bias.data.copy()
    bias[tokenizer.vocab.token_to_id("e")] = np.inf
    model.readout.bias.data = bias
    assert sample(model, tokenizer, "ab", 10, temperature=0.8) == "e" * 10
    path = save_char_lm(tmp_path / "extreme.npz", model, tokenizer)
    assert main(["sample", "--checkpoint", str(path), "--length", "5", "--temperature", "1e-320"]) == 0
    assert capsys.readouterr().out.strip() == "eeeee"
