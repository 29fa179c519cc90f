"""seqgrad.compile(Seq2Seq): the encoder (an nn.Recurrent) runs generated forward and BPTT code, one
node per layer-direction; the decoder's hand-stepped cell, the bridge and the attention stay eager.
Loss and every gradient equal eager to 1e-12 in float64; decoding and the trainer work compiled."""

import numpy as np
import pytest

import seqgrad as sg
from seqgrad.compiler import CompiledModule
from seqgrad.compiler import layer as compiled_layer
from seqgrad.data import dates_task
from seqgrad.models import Seq2Seq
from seqgrad.training.seq2seq_trainer import Seq2SeqTrainer, build_model
from seqgrad.viz.graph import walk
from tests.models.seq2seq_batch import BOS, EOS, SOURCE_VOCAB, TARGET_VOCAB, batch


def node_names(tensor) -> list[str]:
    return [node.name for node in walk(tensor).nodes]


def gradients(model: Seq2Seq, runner, sources, lengths, targets) -> tuple[float, dict]:
    model.zero_grad()
    loss = runner.loss(sources, lengths, targets)
    loss.backward()
    return loss, {name: param.grad.copy() for name, param in model.named_parameters()}


@pytest.mark.parametrize("cell,attention,num_layers", [("lstm", "additive", 1), ("gru", "general", 2),
                                                       ("rnn", "dot", 1), ("lstm", None, 2)])
def test_compiled_loss_and_gradients_equal_eager(cell, attention, num_layers, float64):
    sg.manual_seed(0)
    model = Seq2Seq(SOURCE_VOCAB, TARGET_VOCAB, bos_id=BOS, eos_id=EOS, embedding_size=4, hidden_size=5, cell=cell,
                    attention=attention, num_layers=num_layers, bidirectional=attention != "dot")
    sources, lengths, targets = batch()
    eager_loss, eager_grads = gradients(model, model, sources, lengths, targets)
    compiled = sg.compile(model)
    loss, grads = gradients(model, compiled, sources, lengths, targets)
    # What is compiled: each encoder layer-direction is one node; the decoder cell is stepped eagerly.
    names = node_names(loss)
    compiled_nodes = [name for name in names if name.startswith("compiled ")]
    assert len(compiled_nodes) == num_layers * model.encoder.num_directions
    assert not any(name.startswith("compiled ") for name in node_names(eager_loss))
    assert abs(loss.item() - eager_loss.item()) <= 1e-12 * abs(eager_loss.item())
    for name, grad in eager_grads.items():
        assert np.abs(grads[name] - grad).max() <= 1e-12 * max(np.abs(grad).max(), 1e-300), name
    # calling the compiled model (not only its loss method) runs the compiled encoder too
    logits, _ = compiled(sources, lengths, targets)
    assert sum(name.startswith("compiled ") for name in node_names(logits)) == len(compiled_nodes)
    # and the layers are eager again afterwards
    assert "_run_direction" not in model.encoder.__dict__


def test_compiled_decoding_equals_eager(float64):
    sg.manual_seed(1)
    model = Seq2Seq(SOURCE_VOCAB, TARGET_VOCAB, bos_id=BOS, eos_id=EOS, embedding_size=4, hidden_size=5).eval()
    compiled = sg.compile(model)
    sources, lengths, _ = batch(seed=2)
    for decode in ("greedy", "beam_search"):
        options = {"max_length": 6} if decode == "greedy" else {"beam_size": 3, "max_length": 6}
        ours, theirs = getattr(model, decode)(sources, lengths, **options), \
            getattr(compiled, decode)(sources, lengths, **options)
        np.testing.assert_array_equal(ours.tokens, theirs.tokens)
        np.testing.assert_allclose(ours.scores, theirs.scores, rtol=1e-12)
        np.testing.assert_allclose(ours.weights, theirs.weights, rtol=1e-12, atol=1e-15)


def test_the_trainer_trains_compiled(float64, monkeypatch):
    task = dates_task((60, 10, 10), seed=0)
    calls = []
    run_direction = compiled_layer.run_direction
    monkeypatch.setattr(compiled_layer, "run_direction", lambda *args: calls.append(1) or run_direction(*args))
    trained = {}
    for how in ("eager", "option", "compiled model"):
        model = build_model(task, hidden_size=6, embedding_size=4, seed=3)
        given = sg.compile(model) if how == "compiled model" else model
        options = {"eager": False} if how == "option" else {}  # a compiled model trains compiled by default
        trainer = Seq2SeqTrainer(given, task, batch_size=8, eval_every=0, seed=5, **options)
        calls.clear()
        history = trainer.train(steps=3)
        assert (len(calls) > 0) == (how != "eager"), how
        assert isinstance(trainer.runner, CompiledModule) == (how != "eager")
        trained[how] = history.losses, {name: param.data.copy() for name, param in model.named_parameters()}
    eager_losses, eager_params = trained["eager"]
    for how in ("option", "compiled model"):
        losses, params = trained[how]
        np.testing.assert_allclose(losses, eager_losses, rtol=1e-12)
        for name, value in eager_params.items():
            np.testing.assert_allclose(params[name], value, rtol=1e-10, atol=1e-12, err_msg=name)
