"""Training and measuring a `Seq2Seq` on a `TranslationTask`: a time- or step-bounded loop with
Adam and clipping, held-out exact match (greedy and beam), and the gradient that reaches
each encoder step from the decoder's loss."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ..bptt.flow import hidden_grad_norms
from ..compiler import compile
from ..data.translation import TranslationTask
from ..models.seq2seq import Seq2Seq, translate
from ..nn.utils import clip_grad_norm_
from ..optim import Adam
from ..random import manual_seed
from ..viz.recording import record


@dataclass
class Seq2SeqHistory:
    """What a training run saw: per-step losses and seconds since start, and the periodic
    validation exact match (step, seconds, accuracy)."""

    losses: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    validation: list[tuple[int, float, float]] = field(default_factory=list)

    @property
    def steps(self) -> int:
        return len(self.losses)


def build_model(task: TranslationTask, attention: str | None = "additive", hidden_size: int = 64,
                embedding_size: int = 32, cell: str = "lstm", seed: int = 0) -> Seq2Seq:
    """A Seq2Seq sized for `task`'s vocabularies, its weights drawn from `seed`."""
    manual_seed(seed)
    return Seq2Seq(len(task.source.vocab), len(task.target), bos_id=task.bos_id, eos_id=task.eos_id,
                   pad_id=task.pad_id, embedding_size=embedding_size, hidden_size=hidden_size, cell=cell,
                   attention=attention)


def exact_match(model: Seq2Seq, task: TranslationTask, split: str = "test", beam_size: int = 1,
                limit: int | None = None, batch_size: int = 250) -> float:
    """Fraction of `split`'s pairs translated exactly (greedy when beam_size is 1)."""
    pairs = task.split(split)[:limit]
    correct = 0
    for start in range(0, len(pairs), batch_size):
        chunk = pairs[start:start + batch_size]
        outputs, _ = translate(model, task, [source for source, _ in chunk], beam_size)
        correct += sum(output == target for output, (_, target) in zip(outputs, chunk))
    return correct / len(pairs)


class Seq2SeqTrainer:
    """Adam on shuffled, length-bucketed batches of `task`'s training pairs, resumable: each call
    of `train` continues where the last one stopped (same optimizer state, same batch stream),
    so two models can take turns on a busy machine and see the same load. The training loss runs
    compiled with `eager=False` (seqgrad.compile: the encoder's generated forward and BPTT; the
    decoder's hand-stepped cell and the attention stay eager, and they are most of a step, so it
    gains a few percent once each source length is compiled); decoding for validation runs eager."""

    def __init__(self, model: Seq2Seq, task: TranslationTask, *, batch_size: int = 64, lr: float = 3e-3,
                 clip: float | None = 5.0, teacher_forcing: float = 1.0, seed: int = 0, eval_every: int = 250,
                 eval_limit: int = 500, bucket: int = 20, progress: Callable | None = None,
                 eager: bool = True) -> None:
        if not 0.0 <= teacher_forcing <= 1.0:
            raise ValueError(f"teacher_forcing must be in [0, 1], got {teacher_forcing}")
        self.model, self.task = model, task
        self.runner = model if eager else compile(model)
        self.batch_size, self.clip, self.teacher_forcing = batch_size, clip, teacher_forcing
        self.eval_every, self.eval_limit, self.bucket, self.progress = eval_every, eval_limit, bucket, progress
        self.rng = np.random.default_rng(seed)
        self.optimizer = Adam(model.parameters(), lr=lr)
        self.history = Seq2SeqHistory()
        self._batches = iter(())

    @property
    def seconds(self) -> float:
        """Training seconds so far (validation passes not counted)."""
        return self.history.seconds[-1] if self.history.seconds else 0.0

    def _next_batch(self):
        batch = next(self._batches, None)
        if batch is None:  # a new epoch, freshly shuffled
            self._batches = self.task.batches("train", self.batch_size, bucket=self.bucket, rng=self.rng)
            batch = next(self._batches)
        return batch

    def train(self, seconds: float | None = None, steps: int | None = None) -> Seq2SeqHistory:
        """Train `seconds` more seconds or `steps` more batches, whichever comes first."""
        if seconds is None and steps is None:
            raise ValueError("train: give a time budget (seconds), a step count (steps), or both")
        model, history = self.model, self.history
        stop_seconds = None if seconds is None else self.seconds + seconds
        stop_step = None if steps is None else history.steps + steps
        spent = self.seconds
        model.train()
        while True:
            sources, lengths, targets = self._next_batch()
            started = time.perf_counter()
            loss = self.runner.loss(sources, lengths, targets, self.teacher_forcing, self.rng)
            self.optimizer.zero_grad()
            loss.backward()
            if self.clip:
                clip_grad_norm_(model.parameters(), self.clip)
            self.optimizer.step()
            spent += time.perf_counter() - started
            history.losses.append(loss.item())
            history.seconds.append(spent)
            accuracy = None
            if self.eval_every and history.steps % self.eval_every == 0:
                accuracy = exact_match(model, self.task, "validation", limit=self.eval_limit)
                history.validation.append((history.steps, spent, accuracy))
            if self.progress is not None:
                self.progress(history.steps, history.losses[-1], accuracy)
            if (stop_seconds is not None and spent >= stop_seconds) or \
                    (stop_step is not None and history.steps >= stop_step):
                return history


def train_seq2seq(model: Seq2Seq, task: TranslationTask, *, seconds: float | None = None,
                  steps: int | None = None, **options) -> Seq2SeqHistory:
    """Train until `seconds` of training (validation excluded) or `steps` batches, whichever comes
    first; `options` are `Seq2SeqTrainer`'s. Every `eval_every` steps the greedy exact match on the
    first `eval_limit` validation pairs is recorded; `progress(step, loss, accuracy)` is called
    after each step (a tqdm bar, say)."""
    return Seq2SeqTrainer(model, task, **options).train(seconds, steps)


def encoder_gradient_flow(model: Seq2Seq, task: TranslationTask, sources: list[str]) -> dict[str, np.ndarray]:
    """‖∂L/∂h_k‖ for every encoder step k (averaged over `sources` of one length), per direction,
    from the decoder's loss on their true targets: {"forward": (S,), "backward": (S,)}."""
    lengths = {len(source) for source in sources}
    if len(lengths) != 1:
        raise ValueError(f"encoder_gradient_flow: give sources of one length (steps line up), got lengths "
                         f"{sorted(lengths)}")
    pairs = dict(task.train + task.validation + task.test)
    missing = [source for source in sources if source not in pairs]
    if missing:
        raise ValueError(f"encoder_gradient_flow: sources must come from the task's pairs, {missing[0]!r} does not")
    source_ids, source_lengths = task.encode_sources(sources)
    targets = task.encode_targets([pairs[source] for source in sources])
    was_training = model.training
    model.train()
    model.zero_grad()
    loss = model.loss(source_ids, source_lengths, targets)
    with record():  # keep ||dL/d(node)||: hidden_grad_norms reads them
        loss.backward()
    model.train(was_training)
    flows = {}
    for (name, layer, direction), norms in hidden_grad_norms(loss).items():
        if name == model.encoder.name and layer in (None, model.encoder.num_layers - 1):
            flows[direction or "forward"] = norms
    model.zero_grad()
    return flows
