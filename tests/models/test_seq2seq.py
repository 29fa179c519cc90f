"""Seq2Seq: shapes and masks, gradients against finite differences, padding invariance, teacher
forcing, greedy and beam search (consistent with the model's own probabilities), checkpoints,
the drawing's decoder steps, bad input, and the alignment a trained model learned."""

from pathlib import Path

import numpy as np
import pytest

import seqgrad as sg
from seqgrad.data import dates_task
from seqgrad.errors import CheckpointError
from seqgrad.models import Seq2Seq, load_checkpoint, save_checkpoint, translate
from seqgrad.models.seq2seq import alignment

CHECKPOINT = Path(__file__).resolve().parents[2] / "benchmarks" / "experiments" / "seq2seq_dates_checkpoint.npz"
SOURCE_VOCAB, TARGET_VOCAB, BOS, EOS = 9, 7, 2, 3


def tiny(attention="additive", cell="lstm", dtype=np.float64, seed=0, **options):
    sg.manual_seed(seed)
    return Seq2Seq(SOURCE_VOCAB, TARGET_VOCAB, bos_id=BOS, eos_id=EOS, embedding_size=3, hidden_size=4,
                   cell=cell, attention=attention, dtype=dtype, **options)


def batch(seed=1):
    rng = np.random.default_rng(seed)
    lengths = np.array([5, 2, 4])
    sources = rng.integers(2, SOURCE_VOCAB, size=(5, 3))
    sources[np.arange(5)[:, None] >= lengths[None, :]] = 0
    targets = rng.integers(4, TARGET_VOCAB, size=(4, 3))
    targets[-1] = EOS
    return sources, lengths, targets


@pytest.mark.parametrize("attention", ["additive", "general", None])
def test_shapes_and_attention_masks(attention):
    model = tiny(attention)
    sources, lengths, targets = batch()
    logits, weights = model(sources, lengths, targets)
    assert logits.shape == (4, 3, TARGET_VOCAB)
    if attention is None:
        assert weights is None
        return
    assert weights.shape == (4, 3, 5)
    np.testing.assert_allclose(weights.data.sum(axis=2), 1.0, rtol=1e-12)
    padded = np.arange(5)[None, :] >= lengths[:, None]
    assert (weights.data[:, padded] == 0.0).all()


@pytest.mark.parametrize("attention,cell", [("additive", "lstm"), ("general", "gru"), (None, "rnn")])
def test_gradients_of_the_whole_model(float64, attention, cell):
    model = tiny(attention, cell)
    sources, lengths, targets = batch()
    params = list(model.parameters())
    assert sg.gradcheck(lambda *_: model.loss(sources, lengths, targets), params, max_elements=0, directions=4)


def test_padding_does_not_change_a_sentence():
    model = tiny()
    sources, lengths, targets = batch()
    together, _ = model(sources, lengths, targets)
    alone, _ = model(sources[:2, 1:2], lengths[1:2], targets[:, 1:2])
    np.testing.assert_allclose(together.data[:, 1], alone.data[:, 0], rtol=1e-12, atol=1e-14)


def test_padded_source_positions_get_no_gradient():
    model = tiny()
    sources, lengths, targets = batch()
    model.loss(sources, lengths, targets).backward()
    used = np.unique(sources[sources != 0])
    unused = np.setdiff1d(np.arange(SOURCE_VOCAB), used)
    assert (model.source_embedding.weight.grad[unused] == 0).all()   # padding id 0 included


def test_teacher_forcing_ratio():
    model = tiny()
    sources, lengths, targets = batch()
    forced, _ = model(sources, lengths, targets, teacher_forcing=1.0)
    free, _ = model(sources, lengths, targets, teacher_forcing=0.0)
    np.testing.assert_array_equal(forced.data[0], free.data[0])      # step 0 sees <s> either way
    assert not np.allclose(forced.data[1:], free.data[1:])
    with pytest.raises(ValueError, match=r"teacher_forcing must be in \[0, 1\]"):
        model(sources, lengths, targets, teacher_forcing=1.5)


def _sequence_log_prob(model, sources, lengths, tokens):
    """log P(tokens up to and including </s>) under teacher forcing, per sentence."""
    targets = tokens.T.copy()
    logits, _ = model(sources, lengths, targets)
    log_probs = logits.data - np.log(np.exp(logits.data).sum(axis=2, keepdims=True))
    picked = np.take_along_axis(log_probs, targets[:, :, None], axis=2)[:, :, 0]
    ended = np.cumsum(targets == EOS, axis=0) - (targets == EOS) > 0   # steps after the first </s>
    return np.where(ended, 0.0, picked).sum(axis=0)


@pytest.mark.parametrize("attention", ["additive", None])
def test_greedy_and_beam_search_agree_with_the_model(attention):
    model = tiny(attention, seed=4)
    model.eval()
    sources, lengths, _ = batch(5)
    greedy = model.greedy(sources, lengths, max_length=6)
    one = model.beam_search(sources, lengths, beam_size=1, max_length=6)
    np.testing.assert_array_equal(greedy.tokens[:, :one.tokens.shape[1]], one.tokens)
    beam = model.beam_search(sources, lengths, beam_size=4, max_length=6, length_penalty=0.0)
    ended = (beam.tokens == EOS).any(axis=1)
    scores = _sequence_log_prob(model, sources, lengths, beam.tokens)
    np.testing.assert_allclose(beam.scores[ended], scores[ended], rtol=1e-9)
    greedy_scores = _sequence_log_prob(model, sources, lengths, np.pad(greedy.tokens, ((0, 0), (0, 0))))
    greedy_ended = (greedy.tokens == EOS).any(axis=1)
    both = ended & greedy_ended
    assert (beam.scores[both] >= greedy_scores[both] - 1e-9).all()   # a wider beam finds no worse here
    for b in range(3):   # batching over sentences changes nothing
        alone = model.beam_search(sources[:lengths[b], b:b + 1], lengths[b:b + 1], beam_size=4, max_length=6,
                                  length_penalty=0.0)
        np.testing.assert_array_equal(alone.tokens[0], beam.tokens[b, :alone.tokens.shape[1]])


def test_decoder_steps_are_scopes_with_attention_inside():
    model = tiny()
    sources, lengths, targets = batch()
    loss = model.loss(sources, lengths, targets)
    from seqgrad.viz.graph import build

    graph = build(loss, level="cell")
    titles = [unit.title for unit in graph.units if unit.kind == "group"]
    assert [title for title in titles if title.startswith("Decoder step")] == [f"Decoder step {j}" for j in range(4)]
    attention_nodes = [node for node in graph.walk.nodes
                       if node.scope is not None and node.scope.name == "AdditiveAttention"
                       and node.scope.get("step") is not None]
    assert {node.scope.get("step") for node in attention_nodes} == {0, 1, 2, 3}
    # The attention memory (keys stacked, concatenated, projected) is drawn straight through:
    # each decoder step gets an edge from each of both directions' 5 encoder steps.
    assert any("memory" in unit.title for unit in graph.through.values())
    assert not any("memory" in unit.title for unit in graph.units)
    fan = {(link.tail.uid, link.head.title) for link in graph.links
           if link.through and link.tail.title.startswith("LSTMCell step")}
    encoder_steps = {tail for tail, _ in fan}
    assert len(encoder_steps) == 10 and len(fan) == 10 * 4
    assert {head for _, head in fan} == {f"Decoder step {j}" for j in range(4)}


def test_bad_input():
    model = tiny()
    sources, lengths, targets = batch()
    with pytest.raises(ValueError, match="between 1 and the 5 source steps, got 0 for source 1"):
        model(sources, np.array([5, 0, 4]), targets)
    with pytest.raises(ValueError, match="between 1 and the 5 source steps, got 6 for source 2"):
        model(sources, np.array([5, 2, 6]), targets)
    with pytest.raises(sg.ShapeError, match=r"expected targets \(T, 3\)"):
        model(sources, lengths, targets[:, :2])
    with pytest.raises(ValueError, match="attention must take queries of 4"):
        tiny(sg.nn.AdditiveAttention(5, 8, 3))
    with pytest.raises(ValueError, match="cell must be one of"):
        tiny(cell="transformer")
    with pytest.raises(ValueError, match="beam_size 8 exceeds"):
        model.beam_search(sources, lengths, beam_size=8)


def test_checkpoint_round_trip_and_refusals(tmp_path):
    task = dates_task((200, 20, 20), seed=0)
    sg.manual_seed(0)
    model = Seq2Seq(len(task.source.vocab), len(task.target), bos_id=task.bos_id, eos_id=task.eos_id,
                    embedding_size=4, hidden_size=6)
    path = save_checkpoint(tmp_path / "model.npz", model, task)
    loaded, loaded_task, _ = load_checkpoint(path, task="dates")
    texts = ["3 March 2021", "03/03/21"]
    assert translate(loaded, loaded_task, texts)[0] == translate(model, task, texts)[0]
    with pytest.raises(CheckpointError, match="trained on task 'dates', not 'reversal'"):
        load_checkpoint(path, task="reversal")
    sg.save({"embedding.weight": np.zeros((3, 2))}, tmp_path / "other.npz")
    with pytest.raises(CheckpointError, match="not a sequence-to-sequence checkpoint"):
        load_checkpoint(tmp_path / "other.npz")
    with pytest.raises(ValueError, match="cannot encode '#'"):
        translate(loaded, loaded_task, ["#3 March"])


@pytest.mark.skipif(not CHECKPOINT.exists(), reason="the benchmark's checkpoint has not been written")
def test_trained_attention_aligns_year_digits_with_the_year():
    model, task, extra = load_checkpoint(CHECKPOINT, task="dates")
    held_out = dates_task(tuple(extra["sizes"]), seed=extra["task_seed"]).test[:200]
    pairs = [(source, target) for source, target in held_out if target[:4] in source]   # year written in full
    _, decoding = translate(model, task, [source for source, _ in pairs])
    hits = 0
    for index, (source, target) in enumerate(pairs):
        _, weights = alignment(decoding, task, index, len(source))
        year = source.index(target[:4])
        # output digit j of the year looks at source digit j of the year (or a neighbour)
        hits += all(abs(int(weights[j].argmax()) - (year + j)) <= 1 for j in range(4))
    assert len(pairs) > 100
    assert hits / len(pairs) >= 0.8, hits / len(pairs)


@pytest.mark.parametrize("bidirectional", [True, False])
def test_any_recurrent_encoder(bidirectional):
    sg.manual_seed(2)
    encoder = sg.nn.GRU(3, 5, num_layers=2, bidirectional=bidirectional, dtype=np.float64)
    model = Seq2Seq(SOURCE_VOCAB, TARGET_VOCAB, bos_id=BOS, eos_id=EOS, embedding_size=3, hidden_size=4,
                    cell="gru", encoder=encoder, attention="general", dtype=np.float64)
    assert model.key_size == 5 * (2 if bidirectional else 1)
    sources, lengths, targets = batch()
    logits, weights = model(sources, lengths, targets)
    assert logits.shape == (4, 3, TARGET_VOCAB) and weights.shape == (4, 3, 5)
    with pytest.raises(ValueError, match="cannot be bridged"):
        Seq2Seq(SOURCE_VOCAB, TARGET_VOCAB, bos_id=BOS, eos_id=EOS, embedding_size=3, hidden_size=4, cell="lstm",
                encoder=sg.nn.GRU(3, 5, dtype=np.float64), dtype=np.float64)
    with pytest.raises(ValueError, match="embedding_size=3"):
        Seq2Seq(SOURCE_VOCAB, TARGET_VOCAB, bos_id=BOS, eos_id=EOS, embedding_size=3, encoder=sg.nn.GRU(4, 5))
