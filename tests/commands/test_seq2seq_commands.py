"""`seqgrad seq2seq` writes every promised file; `seqgrad translate` reads its checkpoint and refuses,
in one line each, text the vocabulary cannot encode and checkpoints of another task or kind."""

import numpy as np
import pytest

import seqgrad as sg
from seqgrad.cli import main

TINY = ["--steps", "3", "--hidden", "8", "--embedding", "4", "--batch", "8", "--train-size", "64",
        "--test-size", "8", "--examples", "2", "--beam", "2", "--no-progress"]
FILES = ("model.npz", "attention.png", "learning_curve.png", "decoder_graph.svg", "gradient_flow.png")


pytestmark = pytest.mark.usefixtures("restore_blas_threads")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    output = tmp_path_factory.mktemp("seq2seq")
    assert main(["seq2seq", *TINY, "--output", str(output)]) == 0
    return output


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


def test_seq2seq_writes_every_file(trained):
    for name in FILES:
        assert (trained / name).stat().st_size > 0, name
    svg = (trained / "decoder_graph.svg").read_text()
    assert "Decoder step 0" in svg and "Decoder step 2" in svg


def test_translate_reads_the_checkpoint(trained, capsys):
    capsys.readouterr()
    assert main(["translate", "--checkpoint", str(trained / "model.npz"), "--task", "dates", "--align",
                 "3 March 2021", "03/03/21"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("3 March 2021\t") and lines[2].startswith("03/03/21\t")
    assert "<" in lines[1]   # the argmax alignment line


def test_translate_refuses_what_it_cannot_read(trained, tmp_path, capsys):
    checkpoint = str(trained / "model.npz")
    assert main(["translate", "--checkpoint", checkpoint, "3 March 2021 ☃"]) == 2
    assert "cannot encode '☃'" in one_error_line(capsys)
    assert main(["translate", "--checkpoint", checkpoint, "--task", "reversal", "abc"]) == 2
    assert "trained on task 'dates', not 'reversal'" in one_error_line(capsys)
    sg.save({"embedding.weight": np.zeros((3, 2))}, tmp_path / "lm.npz")
    assert main(["translate", "--checkpoint", str(tmp_path / "lm.npz"), "abc"]) == 2
    assert "not a sequence-to-sequence checkpoint" in one_error_line(capsys)


def test_seq2seq_usage_errors(tmp_path, capsys):
    assert main(["seq2seq", *TINY, "--teacher-forcing", "2", "--output", str(tmp_path)]) == 2
    assert "--teacher-forcing must be in [0, 1]" in one_error_line(capsys)
    assert main(["seq2seq", *TINY, "--attention", "dot", "--output", str(tmp_path)]) == 2
    assert "use --attention general" in one_error_line(capsys)
