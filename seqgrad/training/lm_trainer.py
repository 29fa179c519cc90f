"""Training a character-level language model: truncated BPTT over parallel text streams, clipping,
Adam with a cosine schedule, a progress bar in bits per character, and held-out evaluation."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from tqdm import tqdm

from ..autodiff.tape import no_grad
from ..bptt import detach_state, truncated_bptt
from ..compiler import compile
from ..data.batching import char_lm_batches
from ..models.char_lm import CharLM
from ..nn.functional import cross_entropy
from ..optim import Adam, CosineAnnealingLR
from .divergence import divergence

LN2 = math.log(2.0)


def bits(nats: float) -> float:
    """Nats per character -> bits per character (divide by ln 2)."""
    return nats / LN2


@dataclass
class TrainConfig:
    """How to train: `steps` optimizer updates, each on a window of `bptt` characters of `batch_size`
    parallel streams. The streams advance `seq_len` characters per batch; `bptt` (default: seq_len)
    cuts each batch into truncation windows, one update each; the state crosses windows detached."""

    steps: int = 500
    batch_size: int = 64
    seq_len: int = 64
    bptt: int | None = None
    lr: float = 3e-3
    min_lr_fraction: float = 0.1
    clip: float | None = 1.0
    weight_decay: float = 0.0
    eval_every: int | None = None
    seed: int = 0

    def check(self) -> None:
        """Raise ValueError naming the first setting out of range, before anything trains."""
        for name in ("steps", "batch_size", "seq_len"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name.replace('_', '-')} must be a positive int, got {value!r}")
        if self.bptt is not None and (not isinstance(self.bptt, (int, np.integer)) or self.bptt < 1):
            raise ValueError(f"bptt must be a positive int (the truncation window), got {self.bptt!r}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ValueError(f"lr must be a positive number, got {self.lr!r}")
        if not 0.0 <= self.min_lr_fraction <= 1.0:
            raise ValueError(f"min_lr_fraction must be in [0, 1], got {self.min_lr_fraction!r}")
        if self.clip is not None and not (self.clip > 0 and math.isfinite(self.clip)):
            raise ValueError(f"clip must be a positive number (or None for no clipping), got {self.clip!r}")
        if self.eval_every is not None and self.eval_every < 1:
            raise ValueError(f"eval_every must be a positive int, got {self.eval_every!r}")

    @property
    def window(self) -> int:
        return self.bptt or self.seq_len


@dataclass
class TrainHistory:
    """What happened, per optimizer update: loss (nats per character), gradient norm before
    clipping, learning rate; and held-out losses at the steps they were measured."""

    losses: list[float] = field(default_factory=list)
    grad_norms: list[float] = field(default_factory=list)
    lrs: list[float] = field(default_factory=list)
    eval_steps: list[int] = field(default_factory=list)
    eval_losses: list[float] = field(default_factory=list)
    characters: int = 0
    seconds: float = 0.0  # wall time, for the report only: nothing computed depends on it
    eval_seconds: float = 0.0  # the part of `seconds` spent measuring held-out loss
    interrupted: bool = False  # stopped early by `stop` (Ctrl-C)

    @property
    def characters_per_second(self) -> float:
        """Training throughput: characters trained on per second of training (evaluation excluded)."""
        return self.characters / max(self.seconds - self.eval_seconds, 1e-9)

    @property
    def steps(self) -> int:
        return len(self.losses)


def lm_loss(logits, targets) -> object:
    """Mean cross-entropy of next-character logits (T, B, V) against target ids (T, B), in nats."""
    targets = np.asarray(targets.data if hasattr(targets, "data") else targets)
    return cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))


def check_corpus_size(train_ids: np.ndarray, batch_size: int, seq_len: int, where: str = "the training text") -> None:
    """Raise ValueError unless `train_ids` fills at least one full (seq_len, batch_size) window."""
    needed = batch_size * seq_len + 1
    if len(train_ids) < needed:
        raise ValueError(f"{where} has {len(train_ids)} characters, but batch {batch_size} × seq-len {seq_len} "
                         f"needs at least {needed}; use a smaller --batch or --seq-len, or a longer text")


def train_char_lm(model: CharLM, train_ids: np.ndarray, config: TrainConfig, valid_ids: np.ndarray | None = None,
                  progress: bool = True, on_eval: Callable[[int, float], None] | None = None,
                  eager: bool = False, stop: Callable[[], bool] | None = None,
                  after_update: Callable[[], object] | None = None) -> TrainHistory:
    """Train `model` in place on the id array `train_ids` (1-D ints) for `config.steps` updates.

    Each update: forward over one window (bptt, batch) from the state the previous window left
    (detached), mean cross-entropy, backward, clip the gradient norm to `config.clip`, Adam step,
    cosine-annealed learning rate (down to `min_lr_fraction`·lr at the last step). The streams
    restart, each epoch at a different seeded offset, with a fresh zero state. With `valid_ids`
    the held-out loss is measured every `eval_every` updates and at the end. The recurrent layers
    run compiled (seqgrad.compile: generated forward and BPTT) unless `eager`.

    Training stops early, after a whole update, when `stop()` turns true (history.interrupted;
    no final evaluation) or when the loss is not finite (see `training_divergence`).
    `after_update()` runs after every update (the commands re-read the free cores there).
    """
    config.check()
    train_ids = np.asarray(train_ids)
    check_corpus_size(train_ids, config.batch_size, config.seq_len)
    optimizer = Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    schedule = CosineAnnealingLR(optimizer, T_max=config.steps, eta_min=config.lr * config.min_lr_fraction)
    offsets = np.random.default_rng(config.seed)
    history = TrainHistory()
    smoothed = None
    bar = tqdm(total=config.steps, desc="training", unit="step", disable=not progress, dynamic_ncols=True,
               mininterval=0.5, leave=True)
    started = time.perf_counter()
    model.train()
    forward = (model if eager else compile(model)).__call__
    done = False
    try:
        epoch = 0
        while not done:
            offset = 0 if epoch == 0 else int(offsets.integers(0, config.seq_len))
            batches = char_lm_batches(train_ids, config.batch_size, config.seq_len, offset=offset, drop_last=True)
            state = None
            for inputs, targets in batches:
                windows = truncated_bptt(forward, lm_loss, inputs, targets, config.window, optimizer,
                                         state=state, clip=config.clip)
                while True:
                    try:
                        result = next(windows)
                    except StopIteration as finished:
                        state = detach_state(finished.value)
                        break
                    history.losses.append(result.loss)
                    history.grad_norms.append(float("nan") if result.grad_norm is None else result.grad_norm)
                    history.lrs.append(optimizer.param_groups[0]["lr"])
                    history.characters += (result.stop - result.start) * config.batch_size
                    schedule.step()
                    smoothed = result.loss if smoothed is None else 0.95 * smoothed + 0.05 * result.loss
                    bar.set_postfix({"loss": f"{smoothed:.3f}", "bpc": f"{bits(smoothed):.3f}"}, refresh=False)
                    bar.update(1)
                    if after_update is not None:
                        after_update()
                    step = history.steps
                    if stop is not None and stop():
                        history.interrupted = done = True
                    elif not math.isfinite(result.loss):
                        done = True   # diverged: nothing more to learn
                    elif valid_ids is not None and config.eval_every and step % config.eval_every == 0 \
                            and step < config.steps:
                        _record_eval(model, valid_ids, config, history, step, on_eval)
                    done = done or step >= config.steps
                    if done:
                        break
                if done:
                    break
            epoch += 1
    finally:
        bar.close()
    if valid_ids is not None and not history.interrupted:
        _record_eval(model, valid_ids, config, history, history.steps, on_eval)
    history.seconds = time.perf_counter() - started
    return history


def training_divergence(model: CharLM, history: TrainHistory, baseline_nats: float | None = None) -> str | None:
    """Why this run diverged (seqgrad.training.divergence), or None: a non-finite loss or parameter, or a
    final held-out loss more than twice the higher of the first training loss and `baseline_nats`."""
    final = history.eval_losses[-1] if history.eval_losses else None
    starts = [value for value in (history.losses[:1] + [baseline_nats]) if value is not None and math.isfinite(value)]
    return divergence(history.losses, model.named_parameters(), final, max(starts) if starts else None,
                      final_label="held-out loss (nats per character)")


def _record_eval(model, valid_ids, config, history, step, on_eval) -> None:
    started = time.perf_counter()
    loss = evaluate_char_lm(model, valid_ids, batch_size=config.batch_size, seq_len=max(config.seq_len, 64))
    history.eval_steps.append(step)
    history.eval_losses.append(loss)
    if on_eval is not None:
        on_eval(step, loss)
    model.train()
    history.eval_seconds += time.perf_counter() - started


def evaluate_char_lm(model: CharLM, ids: np.ndarray, batch_size: int = 64, seq_len: int = 128) -> float:
    """Mean cross-entropy (nats per character) of predicting each id of `ids` after the ones before it.

    The text is cut into up to `batch_size` contiguous streams read in windows of `seq_len`
    with the state carried across windows, in evaluation mode (no dropout) without recording.
    Every character after the first of each stream is scored once.
    """
    ids = np.asarray(ids)
    if ids.ndim != 1 or len(ids) < 2:
        raise ValueError(f"evaluate_char_lm: need a 1-D array of at least 2 ids, got shape {ids.shape}")
    streams = max(1, min(batch_size, (len(ids) - 1) // 2))
    was_training = model.training
    model.eval()
    total, count, state = 0.0, 0, None
    try:
        with no_grad():
            for inputs, targets in char_lm_batches(ids, streams, seq_len):
                logits, state = model(inputs, state)
                total += float(cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1),
                                             reduction="sum").item())
                count += targets.size
    finally:
        model.train(was_training)
    return total / count
