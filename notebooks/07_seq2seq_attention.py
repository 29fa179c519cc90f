# %% [markdown]
# # 07 · Sequence to sequence with attention
#
# A translation model reads one sequence and writes another of a different length. The
# classic recurrent answer is an **encoder-decoder**: an encoder RNN reads the source, a
# decoder RNN writes the target one token at a time, each output fed back as the next input.
#
# Our translation task ships with seqgrad: dates written the ways people write them, to
# ISO 8601. This notebook looks at
#
# 1. the **bottleneck** of squeezing the whole source into one fixed context vector;
# 2. **attention**: the decoder looks back at every encoder step, with weights that form a
#    soft alignment (heatmaps);
# 3. **teacher forcing** against free running, and the exposure bias between them;
# 4. **greedy** decoding against **beam search**;
# 5. the **gradient short path**: why attention is the remedy for long-range dependencies.
#
# A model trained for 5 minutes by `benchmarks/experiments/seq2seq_dates.py` is loaded from
# the repository (under 1 MB); everything else here runs in seconds.

# %%
import json
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

import seqgrad as sg
from seqgrad import exercises
from seqgrad.data import dates_task
from seqgrad.models import load_checkpoint, translate
from seqgrad.models.seq2seq import alignment
from seqgrad.training.seq2seq_trainer import build_model, encoder_gradient_flow, exact_match, train_seq2seq
from seqgrad.training.threads import limit_blas_threads
from seqgrad.viz.alignment import plot_alignment, plot_encoder_gradient

limit_blas_threads(1)
EXPERIMENTS = Path(sg.__file__).resolve().parents[1] / "benchmarks" / "experiments"
model, vocabularies, extra = load_checkpoint(EXPERIMENTS / "seq2seq_dates_checkpoint.npz", task="dates")
task = dates_task(tuple(extra["sizes"]), seed=extra["task_seed"])   # the pairs the model was trained and tested on
print(task)
for source, target in task.train[:6]:
    print(f"{source!r:32} -> {target}")

# %% [markdown]
# ## The model
#
#     encoder:  k_1..k_S = BiLSTM(E_src[x_1..x_S])                 keys: both directions side by side
#     bridge:   s_0 = tanh(W_b [h_S^fwd; h_1^bwd] + b_b)            the decoder's initial state
#     decoder:  h_j = LSTMCell([E_tgt[y_{j-1}]; c_{j-1}], h_{j-1})  input feeding: the previous context
#               c_j, a_j = attention(h_j, k_1..k_S)                 a_j: weights over source steps
#               p(y_j) = softmax(W_o tanh(W_r [h_j; c_j] + b_r) + b_o)
#
# Additive (Bahdanau) attention scores each source step with `vᵀ tanh(W_q h_j + W_k k_s + b)`
# and takes a softmax over the steps; padded steps are masked so they get exactly zero
# weight. Without attention, `c_j` is the same vector at every step: the bridge's input.

# %%
print(model)
sentences = ["3 March 2021", "03/03/21", "Wednesday, March 3, 2021", "3rd of march, 2021", "3. März 2021",
             "14 juillet 1989", "20680229"]
outputs, _ = translate(model, vocabularies, sentences)
for source, output in zip(sentences, outputs):
    print(f"{source!r:30} -> {output}")
print(f"exact match on the first 300 held-out test dates: greedy {exact_match(model, task, 'test', limit=300):.1%}")

# %% [markdown]
# ## 1. The bottleneck of a fixed context vector
#
# Without attention, everything the decoder will ever know about the source must pass
# through one vector of 128 numbers (the encoder's final states). The benchmark trained two
# models of the same size for the same five minutes of wall-clock time on this machine,
# one with and one without attention; here are its learning curves.

# %%
results = json.loads((EXPERIMENTS / "seq2seq_dates.json").read_text())
figure, ax = plt.subplots(figsize=(6.5, 3.6), layout="constrained")
for name, result in results["models"].items():
    curve = np.array(result["validation"], dtype=float).reshape(-1, 3)
    label = "additive attention" if name == "additive" else "no attention (fixed context)"
    ax.plot(curve[:, 1], curve[:, 2] * 100, marker="o", markersize=3, label=label)
    print(f"{label:30} {result['steps']:5d} steps, test exact match greedy "
          f"{result['test_exact_match_greedy']:.1%}, beam {result['test_exact_match_beam5']:.1%}")
ax.axhline(97, color="grey", linestyle=":")
ax.set_xlabel("training seconds")
ax.set_ylabel("validation exact match (%)")
ax.legend(frameon=False)
plt.show()

# %% [markdown]
# ## 2. Attention weights as a soft alignment
#
# Row j of a heatmap is the attention of output character j: how much of each source
# character went into its context. Nobody told the model where the year is: it learned to
# look at the year's digits while writing them, at the month name while writing the month
# number, at the day while writing the day.

# %%
examples = ["Wednesday, March 3, 2021", "3rd of march, 2021", "03/03/21", "20210303"]
outputs, decoding = translate(model, vocabularies, examples)
figure, axes = plt.subplots(1, len(examples), figsize=(15, 3.6), layout="constrained")
for index, ax in enumerate(axes):
    tokens, weights = alignment(decoding, vocabularies, index, len(examples[index]))
    plot_alignment(weights, list(examples[index]), tokens, ax=ax, title=f"{examples[index]} -> {outputs[index]}")
plt.show()

# %% [markdown]
# The argmax of each row is a hard alignment, the kind an old phrase-based system learned
# separately. Printed for one sentence:

# %%
tokens, weights = alignment(decoding, vocabularies, 0, len(examples[0]))
for token, row in zip(tokens, weights):
    position = int(row.argmax())
    print(f"{token:>4}  looks at {examples[0][position]!r} (position {position}, weight {row[position]:.2f})")

# %% [markdown]
# ## 3. Teacher forcing against free running: exposure bias
#
# In training the decoder is fed the **true** previous character (teacher forcing): one
# pass computes every step's loss, and a mistake at step j does not derail steps j+1....
# At test time it is fed **its own** previous guess (free running). It never saw its own
# mistakes while training, so one wrong character can lead it astray: that gap is
# exposure bias. A briefly trained small model shows it (the five-minute model makes too
# few mistakes to see it): the characters it gets right when fed the truth, against when
# fed its own output, and in particular on the characters that come after its own first
# mistake, where free running continues from a prefix it was never trained on.

# %%
small_task = dates_task((4000, 200, 200), seed=1)
sg.manual_seed(0)
weak = build_model(small_task, attention="additive", hidden_size=32, embedding_size=16, seed=0)
train_seq2seq(weak, small_task, steps=120, batch_size=64, lr=1e-2, eval_every=0)


def guesses(model, task, teacher_forced: bool):
    """(the model's characters (T, B), the true ones (T, B)) on the test split, fed the truth
    (teacher forcing) or its own previous guesses (free running)."""
    sources, lengths = task.encode_sources([source for source, _ in task.test])
    targets = task.encode_targets([target for _, target in task.test])
    model.eval()
    with sg.no_grad():
        if teacher_forced:
            logits, _ = model(sources, lengths, targets)
            guessed = logits.data.argmax(axis=2)
        else:
            guessed = model.greedy(sources, lengths, max_length=targets.shape[0]).tokens.T
            guessed = np.pad(guessed, ((0, targets.shape[0] - guessed.shape[0]), (0, 0)))
    return guessed, targets


forced, targets = guesses(weak, small_task, teacher_forced=True)
free, _ = guesses(weak, small_task, teacher_forced=False)
scored = targets != 0
wrong = (free != targets) & scored
first_mistake = np.where(wrong.any(axis=0), wrong.argmax(axis=0), targets.shape[0])
after = (np.arange(targets.shape[0])[:, None] > first_mistake[None, :]) & scored
print(f"characters right, fed the truth:     {(forced == targets)[scored].mean():.1%}")
print(f"characters right, fed its own guesses: {(free == targets)[scored].mean():.1%}")
print(f"after its own first mistake ({after.sum()} characters): fed the truth {(forced == targets)[after].mean():.1%}, "
      f"fed its own guesses {(free == targets)[after].mean():.1%}")

# %% [markdown]
# A remedy is to let training see the model's own guesses sometimes: `teacher_forcing=0.5`
# feeds the true character with probability 0.5 per sentence and step (scheduled sampling
# lowers it as training goes on). `seqgrad seq2seq --teacher-forcing 0.5` trains so.
#
# ## 4. Greedy decoding against beam search
#
# Greedy decoding keeps the single most likely character at each step. Beam search keeps
# the k most likely prefixes of each sentence (all sentences of a batch at once), ends a
# prefix at `</s>`, and picks the ended prefix with the best log-probability divided by its
# length. On the weak model, where the next character is often uncertain:

# %%
greedy = exact_match(weak, small_task, "test")
beam = exact_match(weak, small_task, "test", beam_size=5)
print(f"weak model, exact match: greedy {greedy:.1%}, beam 5 {beam:.1%}")
sources = [source for source, _ in small_task.test]
greedy_out, greedy_decoding = translate(weak, small_task, sources)
beam_out, beam_decoding = translate(weak, small_task, sources, beam_size=5)
shown = 0
for source, target, first, second in zip(sources, (t for _, t in small_task.test), greedy_out, beam_out):
    if first != second and shown < 4:
        shown += 1
        print(f"{source!r:30} truth {target}  greedy {first:12} beam {second}")

# %% [markdown]
# ## 5. The gradient short path
#
# Without attention, the loss at decoder step j reaches encoder step k only through the
# final state: back through every later encoder step, the gradient shrinking at each one
# (notebook 03). With attention, every decoder step's context is a weighted sum of *all*
# encoder states, so ∂L/∂h_k has a path of length one from each decoder step. Below,
# ‖∂L/∂h_k‖ for every encoder step k, from the decoder's loss on 32 test dates of the same
# length (14 characters), for the trained attention model and for both kinds at
# initialisation (same seed): the plain model's forward direction loses orders of magnitude
# towards the first characters; the attention model's does not.

# %%
same_length = [source for source, _ in task.test if len(source) == 14][:32]
flows = {"attention, trained": encoder_gradient_flow(model, task, same_length)}
for kind in ("additive", None):
    fresh = build_model(task, attention=kind, hidden_size=64, embedding_size=32, seed=0)
    flows[f"{'attention' if kind else 'no attention'}, untrained"] = encoder_gradient_flow(fresh, task, same_length)
figure, ax = plt.subplots(figsize=(7.5, 4), layout="constrained")
plot_encoder_gradient(flows, ax=ax, title="gradient reaching each encoder step from the decoder's loss")
plt.show()

# %% [markdown]
# The benchmark's figure (`benchmarks/experiments/seq2seq_dates.png`) shows the same for both
# models after training. Attention did not make the recurrent network better at carrying
# gradient through time; it shortened the path the gradient has to travel.


# %% [markdown]
# ## Exercises
#
# Each exercise prints what it asks; fill in the answer and run the cell: `exercises.check`
# says whether it is right, and if not, what is wrong and where to look (`exercises.hint(name)`
# for more). Answers are numbers or numpy functions; the checks compare them with the library.

# %%
exercises.show("additive_attention")


def attend(query, keys, lengths, weight_query, weight_key, bias, v):
    """Your answer: (weights (B, S), context (B, H)) of additive attention, in numpy."""
    ...


exercises.check("additive_attention", attend)

# %%
exercises.show("teacher_forcing_inputs")


def decoder_inputs(targets):
    """Your answer: the decoder's inputs (T, B) under teacher forcing."""
    ...


exercises.check("teacher_forcing_inputs", decoder_inputs)
