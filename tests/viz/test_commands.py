"""`seqgrad graph` and `seqgrad gradflow`: help, the drawings they promise, one-line errors."""

import pytest

from seqgrad.cli import main


def test_graph_writes_the_format_of_the_extension(tmp_path, capsys):
    assert main(["graph", "--cell", "lstm", "--steps", "2", "--level", "op", "-o", str(tmp_path / "lstm.svg")]) == 0
    assert "<svg" in (tmp_path / "lstm.svg").read_text(encoding="utf-8")
    assert "wrote" in capsys.readouterr().out


@pytest.mark.parametrize("cell, clusters", [("rnn", 2), ("gru", 2), ("bidirectional", 4), ("bilstm", 4)])
def test_graph_draws_every_cell_with_gradients_after_backward(tmp_path, cell, clusters):
    path = tmp_path / "graph.dot"
    assert main(["graph", "--cell", cell, "--steps", "2", "--backward", "-o", str(path)]) == 0
    source = path.read_text(encoding="utf-8")
    assert source.count(" step ") >= clusters and "log scale" in source and "∇" in source


def test_graph_prints_dot_without_output_and_elides_on_request(capsys):
    assert main(["graph", "--cell", "gru", "--steps", "12", "--level", "cell", "--keep", "2", "1"]) == 0
    source = capsys.readouterr().out
    assert source.startswith("digraph") and "9 steps elided" in source and "No gradients yet" in source


def test_graph_and_gradflow_have_help(capsys):
    for command in ("graph", "gradflow"):
        with pytest.raises(SystemExit) as done:
            main([command, "--help"])
        assert done.value.code == 0
        assert f"usage: seqgrad {command}" in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["graph", "-o", "graph.jpeg"], "cannot tell the format"),
    (["graph", "--steps", "0"], "argument --steps: expected a positive int, got 0"),
    (["graph", "--keep", "-1", "2"], "must not be negative"),
    (["gradflow", "-o", "flow.txt"], "cannot tell the format"),
    (["gradflow", "--hidden-size", "0"], "argument --hidden-size: expected a positive int, got 0"),
])
def test_user_errors_are_one_line_and_write_nothing(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    try:
        status = main(argv)
    except SystemExit as done:   # refused by argparse itself
        status = done.code
    assert status == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and message in error[0]
    assert not list(tmp_path.iterdir())


def test_gradflow_plots_rnn_lstm_and_gru(tmp_path, capsys):
    path = tmp_path / "flow.png"
    assert main(["gradflow", "--steps", "6", "--hidden-size", "4", "--batch", "2", "-o", str(path)]) == 0
    assert path.read_bytes().startswith(b"\x89PNG")
    printed = capsys.readouterr().out
    assert all(name in printed for name in ("tanh RNN", "LSTM", "GRU"))
