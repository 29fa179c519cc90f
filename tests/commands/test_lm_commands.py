"""The demo, train, sample and tasks commands: help, one-line errors that overwrite nothing, a train ->
sample round trip, and a quick demo that writes every promised file."""

import numpy as np
import pytest

from seqgrad.cli import main
from seqgrad.commands.demo import OUTPUTS
from seqgrad.training.lm_checkpoint import load_char_lm

TINY_TRAIN = ["--steps", "3", "--hidden", "8", "--embedding", "4", "--batch", "4", "--seq-len", "16",
              "--no-progress"]


pytestmark = pytest.mark.usefixtures("restore_blas_threads")


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


@pytest.fixture
def trained(tmp_path, text_file):
    checkpoint = tmp_path / "lm.npz"
    assert main(["train", str(text_file), "--checkpoint", str(checkpoint), *TINY_TRAIN]) == 0
    return checkpoint


@pytest.mark.parametrize("command", ["demo", "train", "sample", "tasks"])
def test_help(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    assert f"usage: seqgrad {command}" in capsys.readouterr().out


def test_train_then_sample_round_trip(trained, text_file, capsys):
    capsys.readouterr()
    model, tokenizer, info = load_char_lm(trained)
    assert info["steps"] == 3 and info["unigram_bits_per_char"] > 0
    assert set(tokenizer.vocab.tokens[2:]) == set(text_file.read_text(encoding="utf-8"))
    assert main(["sample", "--checkpoint", str(trained), "--length", "30", "--prompt", "the ", "--seed", "1"]) == 0
    first = capsys.readouterr().out
    assert first.startswith("the ") and len(first.rstrip("\n")) >= 4
    assert main(["sample", "--checkpoint", str(trained), "--length", "30", "--prompt", "the ", "--seed", "1"]) == 0
    assert capsys.readouterr().out == first


def test_train_refuses_bad_arguments_in_one_line(text_file, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["train", str(text_file), "--steps", "0"])
    assert exit_info.value.code == 2
    assert "--steps: expected a positive int, got 0" in one_error_line(capsys)
    with pytest.raises(SystemExit):
        main(["train", "--dropout", "1.5"])
    assert "probability" in one_error_line(capsys)
    assert main(["train", str(text_file), "--cell", "bilstm", "--checkpoint", str(tmp_path / "x.npz")]) == 2
    assert "bidirectional" in one_error_line(capsys)
    assert main(["train", str(text_file), "--batch", "500", "--seq-len", "64",
                 "--checkpoint", str(tmp_path / "x.npz")]) == 2
    assert "smaller --batch" in one_error_line(capsys)
    assert main(["train", str(text_file), "--checkpoint", str(tmp_path / "no-folder" / "x.npz")]) == 2
    assert "does not exist" in one_error_line(capsys)
    assert not (tmp_path / "x.npz").exists()


def test_missing_or_binary_text_leaves_the_checkpoint_alone(trained, tmp_path, capsys):
    before = trained.read_bytes()
    capsys.readouterr()
    assert main(["train", str(tmp_path / "missing.txt"), "--checkpoint", str(trained), *TINY_TRAIN]) == 1
    assert "missing.txt" in one_error_line(capsys)
    binary = tmp_path / "data.bin"
    binary.write_bytes(b"\x00\xff\xfe\x80" * 10)
    assert main(["train", str(binary), "--checkpoint", str(trained), *TINY_TRAIN]) == 2
    assert "UTF-8" in one_error_line(capsys)
    assert trained.read_bytes() == before


def test_a_file_that_is_not_a_checkpoint_is_never_overwritten(text_file, tmp_path, capsys):
    precious = tmp_path / "notes.npz"
    precious.write_text("my notes")
    assert main(["train", str(text_file), "--checkpoint", str(precious), *TINY_TRAIN]) == 2
    assert "refusing to overwrite" in one_error_line(capsys)
    assert precious.read_text() == "my notes"


def test_sample_refuses_missing_corrupt_and_foreign_checkpoints(trained, tmp_path, capsys):
    capsys.readouterr()
    assert main(["sample", "--checkpoint", str(tmp_path / "missing.npz")]) == 1
    assert "missing.npz" in one_error_line(capsys)
    corrupt = tmp_path / "corrupt.npz"
    corrupt.write_bytes(trained.read_bytes()[:200])
    assert main(["sample", "--checkpoint", str(corrupt)]) == 2
    assert "corrupt.npz" in one_error_line(capsys)
    foreign = tmp_path / "weights.npz"
    np.savez(foreign, w=np.ones(3))
    assert main(["sample", "--checkpoint", str(foreign)]) == 2
    assert "not a seqgrad char-LM checkpoint" in one_error_line(capsys)
    assert main(["sample", "--checkpoint", str(trained), "--prompt", "Zebra"]) == 2
    assert "does not know" in one_error_line(capsys)
    with pytest.raises(SystemExit):
        main(["sample", "--checkpoint", str(trained), "--temperature", "-1"])
    assert "temperature" in one_error_line(capsys)


def test_quick_demo_writes_every_promised_file(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--quick", "--out", str(out), "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "unigram baseline" in printed and "sample at temperature 0.5" in printed and str(out) in printed
    assert sorted(path.name for path in out.iterdir()) == sorted(OUTPUTS)
    for name in ("learning_curve.png", "gradient_flow.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
    svg = (out / "unrolled_graph.svg").read_text()
    assert "<svg" in svg and "LSTMCell" in svg
    model, _, info = load_char_lm(out / "char_lm.npz")
    assert model.cell == "lstm" and info["held_out_bits_per_char"] > 0
    assert "bits per character" in (out / "samples.txt").read_text()


def test_demo_is_deterministic_and_refuses_a_file_as_folder(tmp_path, capsys):
    for name in ("a", "b"):
        assert main(["demo", "--quick", "--steps", "2", "--out", str(tmp_path / name), "--no-progress"]) == 0
    capsys.readouterr()
    assert (tmp_path / "a" / "samples.txt").read_text() == (tmp_path / "b" / "samples.txt").read_text()
    first, second = load_char_lm(tmp_path / "a" / "char_lm.npz")[0], load_char_lm(tmp_path / "b" / "char_lm.npz")[0]
    for (name, a), (_, b) in zip(first.named_parameters(), second.named_parameters()):
        np.testing.assert_array_equal(a.data, b.data, err_msg=name)
    occupied = tmp_path / "occupied"
    occupied.write_text("keep me")
    assert main(["demo", "--quick", "--out", str(occupied), "--no-progress"]) == 2
    assert "not a folder" in one_error_line(capsys)
    assert occupied.read_text() == "keep me"


def test_tasks_reports_metric_against_baseline(capsys):
    assert main(["tasks", "--task", "adding", "-T", "8", "--steps", "3", "--hidden", "8", "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "test mse" in printed and "always predicting 1" in printed
    assert main(["tasks", "--task", "reber", "-T", "9"]) == 2
    assert "-T does not apply" in one_error_line(capsys)
    assert main(["tasks", "--task", "echo", "--cell", "bilstm"]) == 2
    assert "bilstm does not fit" in one_error_line(capsys)
    with pytest.raises(SystemExit):
        main(["tasks", "--task", "sorting"])
    assert "invalid choice" in one_error_line(capsys)
