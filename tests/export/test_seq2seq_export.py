"""seqgrad.models.Seq2Seq exported to torch: teacher-forced logits, attention weights and every
gradient equal seqgrad's in float64 for each attention kind (and none), with padded sources;
greedy decoding gives the same tokens; `seqgrad export` reads a seq2seq checkpoint."""

from pathlib import Path

import numpy as np
import pytest

import seqgrad as sg
from seqgrad import nn
from seqgrad.cli import main
from seqgrad.data import dates_task
from seqgrad.export import ExportError, load_exported, to_torch
from seqgrad.models import Seq2Seq, load_checkpoint, save_checkpoint
from tests.export.torch_compare import relative
from tests.models.seq2seq_batch import BOS, EOS, SOURCE_VOCAB, TARGET_VOCAB, batch

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch

CASES = {
    "additive lstm": dict(attention="additive", cell="lstm"),
    "general gru": dict(attention="general", cell="gru"),
    "dot rnn": dict(attention="dot", cell="rnn", bidirectional=False),
    "none lstm": dict(attention=None, cell="lstm"),
    "scaled general, 2 layers": dict(cell="lstm", num_layers=2, attention="scaled"),
    "general, generated encoder cell": dict(cell="gru", attention="general", encoder="gru before"),
}


def build(attention="additive", cell="lstm", bidirectional=True, num_layers=1, encoder=None) -> Seq2Seq:
    sg.manual_seed(3)
    options = {}
    if attention == "scaled":
        key_size = 2 * 5
        attention = nn.DotProductAttention(5, key_size, kind="general", scale=True)
    if encoder == "gru before":  # a GRU with reset before has no fused torch kernel: a generated cell runs it
        options["encoder"] = nn.GRU(4, 5, bidirectional=True, reset="before")
    return Seq2Seq(SOURCE_VOCAB, TARGET_VOCAB, bos_id=BOS, eos_id=EOS, embedding_size=4, hidden_size=5, cell=cell,
                   attention=attention, bidirectional=bidirectional, num_layers=num_layers, **options)


@pytest.mark.parametrize("case", list(CASES))
def test_teacher_forced_logits_and_gradients_equal_seqgrad(case, float64):
    ours = build(**CASES[case])
    source, state_dict = to_torch(ours)
    theirs = load_exported(source, state_dict)
    assert "torch.nn.LSTMCell" in source or "torch.nn.GRUCell" in source or "torch.nn.RNNCell" in source
    sources, lengths, targets = batch()
    logits, weights = ours(sources, lengths, targets)
    their_logits, their_weights = theirs(torch.from_numpy(sources), torch.from_numpy(lengths),
                                         torch.from_numpy(targets))
    assert relative(logits.data, their_logits) < 1e-12
    assert (weights is None) == (their_weights is None)
    # A loss that reaches every logit and every attention weight: cross-entropy (padding ignored)
    # plus a random weighting of the attention.
    loss = ours.loss(sources, lengths, targets)
    their_loss = torch.nn.functional.cross_entropy(their_logits.reshape(-1, TARGET_VOCAB),
                                                   torch.from_numpy(targets).reshape(-1), ignore_index=0)
    if weights is not None:
        assert relative(weights.data, their_weights) < 1e-12
        assert np.all(weights.data[:, 1, 3:] == 0) and torch.all(their_weights[:, 1, 3:] == 0)  # padded steps
        mix = np.random.default_rng(2).standard_normal(weights.shape)
        _, weights = ours(sources, lengths, targets)
        loss = loss + (weights * mix).sum()
        their_loss = their_loss + (their_weights * torch.from_numpy(mix)).sum()
    loss.backward()
    their_loss.backward()
    their_params = dict(theirs.named_parameters())
    assert set(their_params) == {name for name, _ in ours.named_parameters()}
    for name, param in ours.named_parameters():
        assert relative(param.grad, their_params[name].grad) < 1e-10, name


@pytest.mark.parametrize("attention", ["additive", None])
def test_greedy_decoding_equals_seqgrad(attention, float64):
    ours = build(attention=attention).eval()
    theirs = load_exported(*to_torch(ours)).eval()
    sources, lengths, _ = batch(seed=4)
    decoding = ours.greedy(sources, lengths, max_length=7)
    tokens, weights, scores = theirs.greedy(torch.from_numpy(sources), torch.from_numpy(lengths), max_length=7)
    np.testing.assert_array_equal(decoding.tokens, tokens.numpy())
    assert relative(decoding.scores, scores) < 1e-12
    if attention is None:
        assert weights is None and decoding.weights is None
    else:
        assert relative(decoding.weights, weights) < 1e-12


def test_teacher_forcing_ratio_runs_in_torch(float64):
    theirs = load_exported(*to_torch(build()))
    sources, lengths, targets = batch()
    logits, weights = theirs(torch.from_numpy(sources), torch.from_numpy(lengths), torch.from_numpy(targets),
                             teacher_forcing=0.0)
    assert logits.shape == (5, 4, TARGET_VOCAB) and weights.shape == (5, 4, 6)


def test_a_part_without_a_torch_twin_is_named():
    model = build(cell="gru")
    model.decoder = nn.GRUCell(model.decoder.input_size, 5, reset="before")
    with pytest.raises(ExportError, match="GRUCell with reset='before' .*'decoder'"):
        to_torch(model)

    class CosineAttention(nn.DotProductAttention):
        pass

    model = build(attention=CosineAttention(5, 10, kind="general"))
    with pytest.raises(ExportError, match="no torch export for .*CosineAttention \\(at 'attention'\\)"):
        to_torch(model)


def test_a_compiled_model_exports_as_the_model():
    model = build()
    assert to_torch(sg.compile(model))[0] == to_torch(model)[0]


def test_export_command_on_a_seq2seq_checkpoint(tmp_path, capsys):
    task = dates_task((40, 10, 10), seed=0)
    sg.manual_seed(0)
    model = Seq2Seq(len(task.source.vocab), len(task.target), bos_id=task.bos_id, eos_id=task.eos_id,
                    embedding_size=4, hidden_size=6, attention="general")
    path = save_checkpoint(tmp_path / "model.npz", model, task)
    assert main(["export", str(path), "--to", "torch", "-o", str(tmp_path / "out")]) == 0
    assert "source_vocab.json" in capsys.readouterr().out
    out = tmp_path / "out"
    theirs = load_exported((out / "model.py").read_text(), torch.load(out / "weights.pt", weights_only=True)).eval()
    texts = ["3 March 2021", "Wednesday, March 3, 2021"]
    sources, lengths = task.encode_sources(texts)
    tokens, _, _ = theirs.greedy(torch.from_numpy(sources), torch.from_numpy(lengths), max_length=12)
    np.testing.assert_array_equal(tokens.numpy(), model.eval().greedy(sources, lengths, max_length=12).tokens)
    source_vocab = sg.data.Vocabulary.load(out / "source_vocab.json")
    assert source_vocab.to_dict() == task.source.vocab.to_dict()
    assert (out / "target_vocab.json").is_file()


CHECKPOINT = Path(__file__).resolve().parents[2] / "benchmarks" / "experiments" / "seq2seq_dates_checkpoint.npz"


@pytest.mark.skipif(not CHECKPOINT.exists(), reason="the benchmark's checkpoint has not been written")
def test_the_trained_dates_model_translates_in_torch():
    model, task, _ = load_checkpoint(CHECKPOINT, task="dates")
    theirs = load_exported(*to_torch(model)).eval()
    texts = ["3 March 2021", "Wednesday, March 3, 2021", "03/03/21", "3rd of march, 2021"]
    sources, lengths = task.encode_sources(texts)
    tokens, _, _ = theirs.greedy(torch.from_numpy(sources), torch.from_numpy(lengths), max_length=16)
    np.testing.assert_array_equal(tokens.numpy(), model.greedy(sources, lengths, max_length=16).tokens)  # float32
    assert [task.decode_target(row) for row in tokens.numpy()] == ["2021-03-03"] * 4
