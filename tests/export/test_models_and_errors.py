"""The char LM and the feed-forward layers exported, weights back with interop.from_torch, the
`seqgrad export` command, and the errors: a module without a torch twin, an op without a torch
mapping, a checkpoint that is not a seqgrad model, no torch installed."""

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import seqgrad as sg
from seqgrad import nn
from seqgrad.cli import main
from seqgrad.export import ExportError, load_exported, to_torch, torch_source
from seqgrad.models import CharLM
from seqgrad.ops import primitive
from seqgrad.training.lm_checkpoint import load_char_lm
from tests.cells import PeepholeLSTM
from tests.export.torch_compare import relative

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch

TINY_TRAIN = ["--steps", "2", "--hidden", "8", "--embedding", "4", "--batch", "4", "--seq-len", "16",
              "--no-progress"]


@pytest.mark.parametrize("cell,recurrent_dropout", [("lstm", 0.0), ("gru", 0.0), ("rnn", 0.0), ("lstm", 0.3)])
def test_char_lm_exported_equals_seqgrad(cell, recurrent_dropout, float64):
    sg.manual_seed(1)
    ours = CharLM(vocab_size=11, embedding_dim=5, hidden_size=6, cell=cell, num_layers=2, dropout=0.2,
                  recurrent_dropout=recurrent_dropout).eval()
    source, state_dict = to_torch(ours)
    theirs = load_exported(source, state_dict).eval()
    # recurrent dropout has no fused torch kernel: the LSTM then runs as a generated cell
    assert ("class LSTMCell(torch.nn.Module)" in source) == bool(recurrent_dropout)
    ids = np.random.default_rng(0).integers(0, 11, size=(7, 3))
    logits, state = ours(ids)
    their_logits, their_state = theirs(torch.from_numpy(ids))
    assert relative(logits.data, their_logits) < 1e-12
    states = state if isinstance(state, tuple) else (state,)
    their_states = their_state if isinstance(their_state, tuple) else (their_state,)
    for ours_state, their_state in zip(states, their_states, strict=True):
        assert relative(ours_state.data, their_state) < 1e-12
    logits.sum().backward()
    their_logits.sum().backward()
    their_params = dict(theirs.named_parameters())
    for name, param in ours.named_parameters():
        assert relative(param.grad, their_params[name].grad) < 1e-10, name
    theirs.train()  # dropout (between layers, before the readout, recurrent) runs in training mode too
    assert theirs(torch.from_numpy(ids))[0].shape == (7, 3, 11)


def test_feed_forward_layers_exported(float64):
    sg.manual_seed(0)
    ours = nn.Sequential(nn.Embedding(9, 4, padding_idx=0), nn.Linear(4, 5), nn.Dropout(0.5), nn.Linear(5, 2))
    ours.eval()
    theirs = load_exported(*to_torch(ours)).eval()
    assert isinstance(theirs, torch.nn.Sequential)
    assert isinstance(theirs[0], torch.nn.Embedding) and theirs[0].padding_idx == 0
    ids = np.array([[0, 3, 8], [2, 0, 1]])
    assert relative(ours(ids).data, theirs(torch.from_numpy(ids))) < 1e-14


def test_weights_trained_in_torch_come_back_into_a_custom_cell(float64):
    sg.manual_seed(2)
    ours = nn.Recurrent(lambda size: PeepholeLSTM(size, 3), input_size=2, num_layers=2, bidirectional=True)
    theirs = load_exported(*to_torch(ours))
    x = np.random.default_rng(1).standard_normal((4, 2, 2))
    output, _ = theirs(torch.from_numpy(x), lengths=[4, 3])
    output.square().sum().backward()
    with torch.no_grad():
        for param in theirs.parameters():
            param -= 0.1 * param.grad
    trained = theirs.state_dict()
    assert not np.allclose(trained["gates.weight_l0"].numpy(), ours.state_dict()["gates.weight_l0"])
    assert sg.interop.from_torch(trained, ours) is ours
    for name, value in ours.state_dict().items():
        np.testing.assert_array_equal(value, trained[name].numpy())
    assert relative(ours(sg.Tensor(x), lengths=[4, 3])[0].data, theirs(torch.from_numpy(x), lengths=[4, 3])[0]) < 1e-12
    with pytest.raises(sg.StateDictError, match="missing keys: peephole_l0"):
        sg.interop.from_torch({k: v for k, v in trained.items() if k != "peephole_l0"}, ours)


softsign = primitive("softsign", lambda x: x / (1 + np.abs(x)), vjp=lambda ctx, g: (g / (1 + abs(ctx.xs[0])) ** 2,),
                     saves="x", register=False)


class SoftsignCell(nn.Cell):
    """An Elman cell squashed by an op of its own, which has no torch mapping."""

    def __init__(self, input_size, hidden_size):
        super().__init__()
        self.hidden_size = hidden_size
        self.recurrent = nn.Linear(input_size + hidden_size, hidden_size)

    def step(self, x, state):
        hidden = softsign(self.recurrent(sg.concat([x, state[0]], axis=1)))
        return hidden, (hidden,)


def test_an_op_without_torch_mapping_is_named():
    layer = nn.Recurrent(lambda size: SoftsignCell(size, 3), input_size=2)
    with pytest.raises(ExportError, match=r"op 'softsign' \(in SoftsignCell\.step, computing 'hidden'.*has no torch "
                                          r"mapping"):
        torch_source(layer)


class Pooling(nn.Module):
    def forward(self, x):
        return x.mean(axis=0)


def test_a_module_without_torch_twin_is_named():
    with pytest.raises(ExportError, match=r"no torch export for .*Pooling \(at '1'\); exportable: .*Linear"):
        torch_source(nn.Sequential(nn.Linear(2, 2), Pooling()))
    with pytest.raises(ExportError, match="expected a seqgrad.nn.Module, got Linear"):
        torch_source(torch.nn.Linear(2, 2))


@pytest.fixture
def checkpoint(tmp_path):
    text = tmp_path / "text.txt"
    text.write_text("the cat sat on the mat. the dog sat on the log.\n" * 20, encoding="utf-8")
    path = tmp_path / "lm.npz"
    assert main(["train", str(text), "--checkpoint", str(path), "--cell", "gru", *TINY_TRAIN]) == 0
    return path


def test_export_command_writes_a_torch_model_equal_to_the_checkpoint(checkpoint, tmp_path, capsys):
    assert main(["export", str(checkpoint), "--to", "torch", "-o", str(tmp_path / "out")]) == 0
    assert "model.py" in capsys.readouterr().out
    source = (tmp_path / "out" / "model.py").read_text()
    assert "import seqgrad" not in source and "class Exported(CharLM)" in source
    theirs = load_exported(source, torch.load(tmp_path / "out" / "weights.pt", weights_only=True)).eval()
    model, tokenizer, _ = load_char_lm(checkpoint)
    ids = tokenizer.encode("the cat")[:, None]
    np.testing.assert_allclose(model(ids)[0].data, theirs(torch.from_numpy(ids))[0].detach().numpy(),
                               rtol=1e-5, atol=1e-6)
    assert sg.data.Vocabulary.load(tmp_path / "out" / "vocab.json") == tokenizer.vocab
    assert main(["export", str(checkpoint), "--to", "torch", "-o", str(tmp_path / "out")]) == 0  # its own files
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "model.py").write_text("my own model\n")
    assert main(["export", str(checkpoint), "--to", "torch", "-o", str(tmp_path / "mine")]) == 2
    assert "was not written by seqgrad export" in one_error_line(capsys)
    assert (tmp_path / "mine" / "model.py").read_text() == "my own model\n"


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


def test_export_command_refuses_what_is_not_a_seqgrad_model(tmp_path, capsys):
    weights = tmp_path / "weights.npz"
    sg.save({"weight": np.zeros((2, 2))}, weights)
    assert main(["export", str(weights), "--to", "torch", "-o", str(tmp_path / "out")]) == 2
    line = one_error_line(capsys)
    assert str(weights) in line and "not a seqgrad char-LM checkpoint" in line
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    assert main(["export", str(text), "--to", "torch", "-o", str(tmp_path / "out")]) == 2
    assert "not a checkpoint" in one_error_line(capsys)
    assert not (tmp_path / "out").exists()
    with pytest.raises(SystemExit):
        main(["export", str(weights), "--to", "jax", "-o", str(tmp_path / "out")])
    assert "invalid choice: 'jax'" in one_error_line(capsys)


def test_without_torch_one_line_says_so(checkpoint, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` now raises ImportError
    assert main(["export", str(checkpoint), "--to", "torch", "-o", str(tmp_path / "out")]) == 2
    assert "needs PyTorch" in one_error_line(capsys)
    with pytest.raises(ImportError, match=r"^seqgrad.export.to_torch needs PyTorch, which seqgrad does not install"):
        to_torch(nn.Linear(2, 2))
    with pytest.raises(ImportError, match=r"^seqgrad.interop.to_torch needs PyTorch"):
        sg.interop.to_torch(nn.Linear(2, 2))
    assert "class Exported(torch.nn.Linear)" in torch_source(nn.Linear(2, 2))  # the source needs no torch


def test_generated_source_is_lint_clean(tmp_path):
    """What a person reads is tidy: the project's ruff rules pass on generated sources (when ruff is there)."""
    ruff = shutil.which("ruff") or str(Path(sys.executable).with_name("ruff"))
    if not Path(ruff).exists():
        pytest.skip("ruff is not installed")
    modules = {"custom_cell.py": nn.Recurrent(lambda size: PeepholeLSTM(size, 3), input_size=2, num_layers=2),
               "char_lm.py": CharLM(30, 8, 16, "lstm", num_layers=2, recurrent_dropout=0.1),
               "gru_before.py": nn.GRU(3, 4, reset="before", bidirectional=True),
               "layers.py": nn.Sequential(nn.Linear(3, 4), nn.Dropout(0.1))}
    for name, module in modules.items():
        (tmp_path / name).write_text(torch_source(module))
    result = subprocess.run([ruff, "check", "--isolated", "--line-length", "120", "--select", "E,F,W,I,B,UP",
                             "--ignore", "E731,B905", "."], cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


def test_compiled_and_unbatched(float64):
    """seqgrad.compile(model) exports as model does; an unbatched (T, D) input runs as in seqgrad."""
    sg.manual_seed(4)
    layer = nn.Recurrent(lambda size: PeepholeLSTM(size, 3), input_size=2, bidirectional=True)
    assert torch_source(sg.compile(layer)) == torch_source(layer)
    theirs = load_exported(*to_torch(layer))
    x = np.random.default_rng(2).standard_normal((4, 2))
    output, (hidden, cell_state) = layer(sg.Tensor(x))
    their_output, (their_hidden, their_cell) = theirs(torch.from_numpy(x))
    assert their_output.shape == (4, 6) and their_hidden.shape == (2, 3)
    for ours, their in ((output, their_output), (hidden, their_hidden), (cell_state, their_cell)):
        assert relative(ours.data, their) < 1e-12


class BatchReshape(nn.Cell):
    """A step whose ops name the batch size (a reshape by it): the generated cell reads it at run time."""

    def __init__(self, input_size, hidden_size):
        super().__init__()
        self.hidden_size = hidden_size
        self.mix = nn.Linear(input_size + hidden_size, hidden_size)

    def step(self, x, state):
        both = sg.concat([state[0], state[0].tanh()], axis=0)  # (2B, H)
        summed = both.reshape(2, x.shape[0], self.hidden_size).sum(axis=0)
        hidden = self.mix(sg.concat([x, summed], axis=1)).tanh()
        return hidden, (hidden,)


def test_a_step_that_names_the_batch_size_runs_at_any_batch_size(float64):
    sg.manual_seed(5)
    layer = nn.Recurrent(lambda size: BatchReshape(size, 3), input_size=2, num_layers=2)
    source, state_dict = to_torch(layer)
    assert "reshape(2, batch, 3)" in source and "# (2·B, 3)" in source
    theirs = load_exported(source, state_dict)
    x = np.random.default_rng(3).standard_normal((4, 7, 2))  # a batch of 7; the traces used 3 and 5
    assert relative(layer(sg.Tensor(x))[0].data, theirs(torch.from_numpy(x))[0]) < 1e-12


def test_recurrent_dropout_of_a_cell_that_does_not_mask_itself(float64):
    """The layer multiplies the incoming hidden state by one mask per sequence, as seqgrad's unroller does."""
    sg.manual_seed(6)
    layer = nn.Recurrent(lambda size: PeepholeLSTM(size, 3), input_size=2, recurrent_dropout=0.5).eval()
    source, state_dict = to_torch(layer)
    assert "masks_recurrent = False" in source and "recurrent_dropout=0.5" in source
    theirs = load_exported(source, state_dict).eval()
    x = np.random.default_rng(4).standard_normal((5, 8, 2))
    assert relative(layer(sg.Tensor(x))[0].data, theirs(torch.from_numpy(x))[0]) < 1e-12
    theirs.train()
    torch.manual_seed(0)
    dropped, _ = theirs(torch.from_numpy(x))
    assert not torch.allclose(dropped, theirs.eval()(torch.from_numpy(x))[0])


def test_layer_norm_exported_where_seqgrad_has_it(float64):
    if not hasattr(nn, "LayerNorm"):
        pytest.skip("seqgrad.nn.LayerNorm is not in this tree yet (the exporter registers itself when it is)")
    sg.manual_seed(7)
    ours = nn.Sequential(nn.Linear(3, 4), nn.LayerNorm(4))
    theirs = load_exported(*to_torch(ours))
    assert isinstance(theirs[1], torch.nn.LayerNorm)
    x = np.random.default_rng(5).standard_normal((2, 3))
    assert relative(ours(sg.Tensor(x)).data, theirs(torch.from_numpy(x))) < 1e-12
