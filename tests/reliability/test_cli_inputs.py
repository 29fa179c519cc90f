"""The command line never answers with a traceback: seeds and sizes are checked by argparse (sizes
against an estimate of the memory they need), a bad option is one line with the --help hint, an
endless or binary text file is refused at once, and any remaining ValueError, MemoryError or OSError
is one line with exit status 1 (the traceback only with --debug)."""

import numpy as np
import pytest

from seqgrad import nn
from seqgrad.cli import main
from seqgrad.commands import train as train_command

pytestmark = pytest.mark.usefixtures("restore_blas_threads")


def refused(argv, capsys) -> str:
    """Run `seqgrad argv`, expect exit status 2 and one line on stderr (no usage block); return it."""
    try:
        status = main(argv)
    except SystemExit as done:
        status = done.code
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert status == 2, (status, captured.err)
    assert len(lines) == 1 and "usage:" not in lines[0] and "Traceback" not in captured.err, captured.err
    return lines[0]


@pytest.mark.parametrize("command", ["train", "sample", "graph", "gradflow", "tasks", "demo"])
def test_a_negative_seed_is_one_line_with_the_help_hint(command, capsys, tmp_path):
    extra = ["--checkpoint", str(tmp_path / "x.npz")] if command == "sample" else []
    line = refused([command, "--seed", "-1", *extra], capsys)
    assert "--seed" in line and "-1" in line and f"(see seqgrad {command} --help)" in line


SIZES = [
    (["train", "--hidden"], [10**9, 10**12, 10**15]),
    (["train", "--embedding"], [10**9, 10**12, 10**15]),
    (["train", "--batch"], [10**12, 10**15]),
    (["tasks", "--hidden"], [10**9, 10**15]),
    (["tasks", "--batch"], [10**12, 10**15]),
    (["tasks", "-T"], [10**12, 10**15]),
    (["tasks", "--task", "echo", "-T"], [10**12]),
    (["sample", "--checkpoint", "any.npz", "--length"], [10**12, 10**15]),
    (["graph", "--steps"], [10**12, 10**15]),
    (["graph", "--input-size"], [10**12, 10**15]),
    (["graph", "--batch"], [10**12]),
    (["gradflow", "--input-size"], [10**12, 10**15]),
    (["gradflow", "--hidden-size"], [10**9]),
    (["gradflow", "--batch"], [10**12]),
    (["explore", "-o", "page.html", "--steps"], [10**12]),
    (["explore", "-o", "page.html", "--hidden-size"], [10**9]),
]


@pytest.mark.parametrize("argv, value", [(argv, value) for argv, values in SIZES for value in values],
                         ids=[f"{' '.join(argv)} {value:.0e}" for argv, values in SIZES for value in values])
def test_sizes_beyond_the_machine_are_refused_with_the_memory_estimate(argv, value, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    line = refused([*argv, str(value)], capsys)
    assert str(value) in line and "would need about" in line and "this machine has available" in line
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("argv", [["train", "--hidden", "0"], ["tasks", "-T", "-5"], ["graph", "--batch", "0"],
                                  ["gradflow", "--steps", "1e9"], ["train", "--bogus"], ["tasks", "--task", "sort"]])
def test_bad_options_are_one_line_not_the_whole_usage(argv, capsys):
    line = refused(argv, capsys)
    assert "--help)" in line


def test_dev_zero_as_the_text_is_refused_at_once(capsys, tmp_path, monkeypatch):
    def never(*args, **kwargs):
        raise AssertionError("training started")

    monkeypatch.setattr(train_command, "train_char_lm", never)
    line = refused(["train", "/dev/zero", "--checkpoint", str(tmp_path / "x.npz")], capsys)
    assert "/dev/zero: expected text, got a NUL byte at offset 0" in line


@pytest.mark.parametrize("error", [ValueError("bad value"), MemoryError("Unable to allocate 8 EiB"),
                                   OSError(28, "No space left on device"),
                                   PermissionError(13, "Permission denied", "/some/file")])
def test_remaining_errors_are_one_line_with_status_1_and_the_traceback_with_debug(error, capsys, monkeypatch):
    def fail(args):
        raise error

    monkeypatch.setattr(train_command, "run", fail)
    assert main(["train"]) == 1
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("seqgrad train: error:") and "Traceback" not in captured.err
    assert (str(error.args[-1]) if isinstance(error, OSError) else "") in lines[0]
    assert main(["--debug", "train"]) == 1
    captured = capsys.readouterr()
    assert "Traceback (most recent call last)" in captured.err and captured.err.strip().splitlines()[-1] == lines[0]


def test_the_hint_for_int_input_names_a_dtype_that_works():
    layer = nn.LSTM(2, 3)
    inputs = np.ones((4, 1, 2), dtype=np.int64)
    with pytest.raises(TypeError) as refused_input:
        layer(inputs)
    message = str(refused_input.value)
    assert "astype(np.float32)" in message and ".to(" not in message
    output, _ = layer(inputs.astype(np.float32))   # what the hint says works
    assert output.shape == (4, 1, 3)
