"""The char-LM trainer: it learns, it is deterministic, truncation windows count, evaluation is exact."""

import math

import numpy as np
import pytest

import seqgrad
from seqgrad.data import CharTokenizer
from seqgrad.models import CharLM
from seqgrad.nn.functional import cross_entropy
from seqgrad.training import TrainConfig, bits, evaluate_char_lm, train_char_lm
from seqgrad.training.learning_curve import plot_learning_curve, smooth
from seqgrad.training.lm_trainer import check_corpus_size
from seqgrad.training.text import read_text_file, split_held_out

TEXT = "the cat sat on the mat. the dog sat on the log. a cat and a dog sat on a mat.\n" * 30


def _setup(seed=0, hidden=24, cell="lstm"):
    tokenizer = CharTokenizer().fit(TEXT)
    seqgrad.manual_seed(seed)
    return tokenizer, CharLM(len(tokenizer.vocab), 8, hidden, cell)


def test_training_reduces_the_held_out_loss_well_below_the_unigram_baseline():
    tokenizer, model = _setup()
    train_text, valid_text = split_held_out(TEXT, 0.1)
    valid_ids = tokenizer.encode(valid_text)
    before = evaluate_char_lm(model, valid_ids, batch_size=4, seq_len=32)
    config = TrainConfig(steps=80, batch_size=8, seq_len=32, lr=1e-2, eval_every=40)
    history = train_char_lm(model, tokenizer.encode(train_text), config, valid_ids=valid_ids, progress=False)
    assert history.steps == 80 and len(history.lrs) == 80
    assert history.eval_steps == [40, 80]
    assert history.eval_losses[-1] < 0.5 * before
    from seqgrad.data import unigram_bits_per_char
    assert bits(history.eval_losses[-1]) < unigram_bits_per_char(valid_text) - 1.0
    # The cosine schedule ends at a tenth of the learning rate.
    assert history.lrs[0] == pytest.approx(1e-2)
    assert history.lrs[-1] == pytest.approx(1e-3, rel=0.05)


def test_same_seed_same_losses_other_seed_other_losses():
    ids = CharTokenizer().fit(TEXT).encode(TEXT)

    def losses(seed):
        _, model = _setup(seed=seed, hidden=12)
        config = TrainConfig(steps=6, batch_size=4, seq_len=16, seed=seed)
        return train_char_lm(model, ids, config, progress=False).losses

    assert losses(3) == losses(3)
    assert losses(3) != losses(4)


def test_truncation_window_sets_updates_per_batch_and_characters_seen():
    tokenizer, model = _setup(hidden=8)
    config = TrainConfig(steps=8, batch_size=4, seq_len=20, bptt=5)
    history = train_char_lm(model, tokenizer.encode(TEXT), config, progress=False)
    assert history.steps == 8
    assert history.characters == 8 * 5 * 4
    assert all(norm >= 0 for norm in history.grad_norms)


def test_training_runs_past_one_epoch_without_error():
    tokenizer, model = _setup(hidden=8)
    ids = tokenizer.encode(TEXT[:400])
    config = TrainConfig(steps=12, batch_size=4, seq_len=25)  # 3 windows per epoch
    assert train_char_lm(model, ids, config, progress=False).steps == 12


def test_evaluation_equals_the_direct_cross_entropy():
    tokenizer, model = _setup(hidden=10, cell="gru")
    ids = tokenizer.encode(TEXT[:101])
    # One stream, windows of 30 with the state carried: the same as one pass over all 100 steps.
    value = evaluate_char_lm(model, ids, batch_size=1, seq_len=30)
    model.eval()
    logits, _ = model(ids[:-1, None])
    direct = cross_entropy(logits.reshape(-1, logits.shape[-1]), ids[1:]).item()
    assert value == pytest.approx(direct, rel=1e-5)
    assert model.training is False  # it was in eval mode before, and stays so
    with pytest.raises(ValueError, match="at least 2 ids"):
        evaluate_char_lm(model, ids[:1])


def test_settings_are_checked_before_training():
    tokenizer, model = _setup(hidden=8)
    ids = tokenizer.encode(TEXT)
    before = [p.data.copy() for p in model.parameters()]
    for bad, message in ((dict(steps=0), "steps"), (dict(lr=-1.0), "lr"), (dict(clip=0.0), "clip"),
                         (dict(bptt=0), "bptt"), (dict(batch_size=1000, seq_len=100), "needs at least")):
        with pytest.raises(ValueError, match=message):
            train_char_lm(model, ids, TrainConfig(**bad), progress=False)
    assert all(np.array_equal(a, p.data) for a, p in zip(before, model.parameters()))
    with pytest.raises(ValueError, match="smaller --batch"):
        check_corpus_size(ids[:10], 4, 4)


def test_split_and_read_text(tmp_path):
    train, held_out = split_held_out("line one\nline two\nline three\nline four\n", 0.3)
    assert train + held_out == "line one\nline two\nline three\nline four\n"
    assert train.endswith("\n") and held_out.startswith("line")
    with pytest.raises(ValueError, match="too few"):
        split_held_out("abc", 0.5)
    good = tmp_path / "good.txt"
    good.write_text("héllo\n", encoding="utf-8")
    assert read_text_file(good) == "héllo\n"
    bad = tmp_path / "latin1.txt"
    bad.write_bytes("h\xe9llo".encode("latin-1"))
    with pytest.raises(ValueError, match="UTF-8.*0xe9 at offset 1"):
        read_text_file(bad)
    empty = tmp_path / "empty.txt"
    empty.write_text("  \n")
    with pytest.raises(ValueError, match="no text"):
        read_text_file(empty)
    with pytest.raises(FileNotFoundError):
        read_text_file(tmp_path / "missing.txt")


def test_learning_curve_png(tmp_path):
    tokenizer, model = _setup(hidden=8)
    history = train_char_lm(model, tokenizer.encode(TEXT), TrainConfig(steps=4, batch_size=4, seq_len=16,
                                                                       eval_every=2),
                            valid_ids=tokenizer.encode(TEXT[:200]), progress=False)
    path = plot_learning_curve(history, tmp_path / "curve.png", unigram_bits=4.0)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    smoothed = smooth(np.array([1.0, 1.0, 1.0]))
    np.testing.assert_allclose(smoothed, 1.0)  # bias-corrected: a constant stays constant
    assert math.isclose(smooth(np.array([2.0, 0.0]), 0.5)[1], (0.5 * 1.0 + 0.0) / 0.75)
