# %% [markdown]
# # 5 · Bidirectional tagging with variable lengths
#
# A *tagger* gives every token a label. When the label depends on what comes **later**, a
# left-to-right RNN has to guess: at step $t$ it has seen only $x_1..x_t$. A bidirectional
# layer runs a second RNN, with its own weights, from the end of the sequence backwards and
# concatenates the two states:
#
# $$\overrightarrow{h}_t = f(x_t, \overrightarrow{h}_{t-1}), \qquad
#   \overleftarrow{h}_t = f'(x_t, \overleftarrow{h}_{t+1}), \qquad
#   y_t = W_{hy}\,[\overrightarrow{h}_t ; \overleftarrow{h}_t] + b_y .$$
#
# Real batches hold sequences of different lengths, padded to the longest. Padding must not
# leak in: the backward direction of a sequence of length $L$ has to start at step $L$, not
# at the padded end $T$. seqgrad does this when the layer is called with `lengths=`.

# %%
import matplotlib.pyplot as plt
import numpy as np

import seqgrad as sg
from seqgrad import data, exercises, nn
from seqgrad.nn import functional as F

sg.manual_seed(0)
np.set_printoptions(precision=4, suppress=True, linewidth=110)

# %% [markdown]
# ## A task that needs both directions
#
# Tokens are the ids $0..7$ and a marker `M` (id 8); each sequence has 4 to 20 tokens and
# zero, one or two markers. The tag of token $t$ says whether a marker occurs strictly
# **before** it and strictly **after** it:
#
# $$\text{tag}_t = 2\cdot[\exists\, s < t: x_s = M] + [\exists\, s > t: x_s = M] \in \{0, 1, 2, 3\}.$$
#
# The *before* bit is a running OR, which a forward RNN computes easily; the *after* bit is
# the same OR run backwards.

# %%
NUM_SYMBOLS, MARKER, PAD = 8, 8, 9          # ids 0..7, the marker, the padding id
TAG_NAMES = ["neither", "after", "before", "both"]


def marker_tagging(n, seed):
    rng = np.random.default_rng(seed)
    sequences, tags = [], []
    for _ in range(n):
        length = rng.integers(4, 21)
        tokens = rng.integers(0, NUM_SYMBOLS, length)
        tokens[rng.choice(length, size=rng.integers(0, 3), replace=False)] = MARKER
        is_marker = tokens == MARKER
        before = (np.cumsum(is_marker) - is_marker) > 0
        after = (np.cumsum(is_marker[::-1])[::-1] - is_marker) > 0
        sequences.append(tokens)
        tags.append(2 * before + after)
    return sequences, tags


train_sequences, train_tags = marker_tagging(800, seed=1)
test_sequences, test_tags = marker_tagging(300, seed=2)

def spell(tokens):
    return " ".join("M" if token == MARKER else str(token) for token in tokens)

example = next(i for i, tokens in enumerate(train_sequences) if (tokens == MARKER).sum() == 2)
print("tokens:", spell(train_sequences[example]))
print("tags:  ", " ".join(str(tag) for tag in train_tags[example]))
counts = np.bincount(np.concatenate(train_tags))
print("tag counts in training:", {name: int(count) for name, count in zip(TAG_NAMES, counts)})

# %% [markdown]
# ## Padding and lengths
#
# `data.pad_sequences` stacks sequences time-major, $(T, B)$ with $T$ the longest length,
# and returns the lengths. `data.batches` does the same per minibatch and pads the tags with
# $-100$, the `ignore_index` of `cross_entropy`, so padded positions add nothing to the loss
# and are not counted in its mean:
#
# $$\mathcal{L} = \frac{1}{\#\{(t,b): t < L_b\}} \sum_{b} \sum_{t < L_b}
#   \Big(\log\sum_c e^{z_{t,b,c}} - z_{t,b,\text{tag}_{t,b}}\Big).$$

# %%
padded, lengths = data.pad_sequences(train_sequences[:3], padding_value=PAD)
print("padded is (T, B) =", padded.shape, "; shown one row per sequence:\n", padded.T, "\nlengths:", lengths)

batch = next(data.batches(train_sequences[:3], train_tags[:3], batch_size=3, shuffle=False,
                          padding_value=PAD))
print("\ntags, padded with", data.IGNORE_INDEX, "(one row per sequence):\n", batch.targets.T)

# %% [markdown]
# ### What `lengths=` changes
#
# With `lengths[b] = L_b`, sequence $b$ is only its first $L_b$ steps: its forward state
# stops changing after $L_b$, its backward direction *starts* at $L_b$, outputs past $L_b$
# are zero, and the final states are each sequence's own. That is PyTorch's packed-sequence
# result. We check it on one short sequence: inside a padded batch **with** lengths it gives
# exactly what it gives alone; **without** lengths its backward half has read the padding.

# %%
sg.manual_seed(0)
embed = nn.Embedding(PAD + 1, 8, padding_idx=PAD)
lstm = nn.LSTM(8, 6, bidirectional=True)

long_one = next(tokens for tokens in train_sequences if len(tokens) == 20)
short_one = next(tokens for tokens in train_sequences if len(tokens) == 7)
padded, lengths = data.pad_sequences([long_one, short_one], padding_value=PAD)
L = len(short_one)
print("lengths", lengths, " shape of the padded batch", padded.shape)

alone, _ = lstm(embed(short_one[:, None]))                     # (L, 1, 12): no padding at all
with_lengths, (h_n, c_n) = lstm(embed(padded), lengths=lengths)
without_lengths, _ = lstm(embed(padded))

forward_half, backward_half = slice(0, 6), slice(6, 12)
print("with lengths    = alone:", np.allclose(with_lengths.data[:L, 1], alone.data[:, 0]),
      "  zero past L:", np.all(with_lengths.data[L:, 1] == 0))
print("without lengths = alone, forward half:",
      np.allclose(without_lengths.data[:L, 1, forward_half], alone.data[:, 0, forward_half]),
      "  backward half:",
      np.allclose(without_lengths.data[:L, 1, backward_half], alone.data[:, 0, backward_half]))
print("h_n is (layers·directions, B, H):", h_n.shape,
      "; the forward final state is the one at step L-1:", np.allclose(h_n.data[0, 1], alone.data[L - 1, 0, :6]))


# %% [markdown]
# ## The tagger
#
# Embedding → (bi)LSTM → Linear on every step. The logits are $(T, B, 4)$; `cross_entropy`
# takes $(N, C)$ scores, so time and batch are flattened together, and the $-100$ tags of
# the padding are skipped. We train a unidirectional and a bidirectional tagger with the
# same sizes, data and budget.

# %%
class Tagger(nn.Module):
    def __init__(self, bidirectional, embedding_dim=8, hidden_size=16):
        super().__init__()
        self.embed = nn.Embedding(PAD + 1, embedding_dim, padding_idx=PAD)
        self.rnn = nn.LSTM(embedding_dim, hidden_size, bidirectional=bidirectional)
        self.head = nn.Linear(hidden_size * (2 if bidirectional else 1), len(TAG_NAMES))

    def forward(self, ids, lengths):
        output, _ = self.rnn(self.embed(ids), lengths=lengths)   # (T, B, directions·H)
        return self.head(output)                                  # (T, B, 4)


def tag_loss(model, batch):
    logits = model(batch.inputs, batch.lengths)
    return F.cross_entropy(logits.reshape(-1, len(TAG_NAMES)), batch.targets.reshape(-1),
                           ignore_index=data.IGNORE_INDEX)


def predict(model, sequences):
    model.eval()
    with sg.no_grad():
        padded, lengths = data.pad_sequences(sequences, padding_value=PAD)
        tags = model(padded, lengths).data.argmax(axis=-1)
    model.train()
    return [tags[:length, b] for b, length in enumerate(lengths)]


def accuracy(model, sequences, tags):
    predicted = np.concatenate(predict(model, sequences))
    return float(np.mean(predicted == np.concatenate(tags)))


losses, models = {}, {}
for name, bidirectional in (("forward only", False), ("bidirectional", True)):
    sg.manual_seed(0)
    model = Tagger(bidirectional)
    optimizer = sg.optim.Adam(model.parameters(), lr=0.02)
    losses[name] = []
    for epoch in range(6):
        for batch in data.batches(train_sequences, train_tags, batch_size=32, seed=epoch, padding_value=PAD):
            loss = tag_loss(model, batch)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses[name].append(loss.item())
    models[name] = model
    print(f"{name:14s} final training loss {np.mean(losses[name][-10:]):.4f}   "
          f"test accuracy {accuracy(model, test_sequences, test_tags):.1%}")

# %% [markdown]
# The forward-only tagger is stuck: it cannot know whether a marker is coming. Splitting its
# accuracy by bit shows exactly where it fails.

# %%
truth = np.concatenate(test_tags)
print(f"{'':14s} {'before bit':>11s} {'after bit':>10s}")
for name, model in models.items():
    predicted = np.concatenate(predict(model, test_sequences))
    before_bit = np.mean((predicted >> 1) == (truth >> 1))
    after_bit = np.mean((predicted & 1) == (truth & 1))
    print(f"{name:14s} {before_bit:11.1%} {after_bit:10.1%}")

fig, (curves, example) = plt.subplots(1, 2, figsize=(12, 3.6), gridspec_kw={"width_ratios": [1, 1.3]})
for name, values in losses.items():
    smoothed = np.convolve(values, np.ones(5) / 5, mode="valid")
    curves.plot(smoothed, label=name)
curves.set(yscale="log", xlabel="update", ylabel="cross-entropy per token", title="Training loss")
curves.legend()

index = next(i for i, tokens in enumerate(test_sequences) if len(tokens) >= 14 and (tokens == MARKER).sum() == 2)
rows = [test_tags[index]] + [predict(model, [test_sequences[index]])[0] for model in models.values()]
colours = plt.matplotlib.colors.ListedColormap(["#dddddd", "#8fb3e0", "#f4b183", "#b39ddb"])
example.imshow(np.stack(rows), cmap=colours, vmin=-0.5, vmax=3.5, aspect="auto")
for t, token in enumerate(test_sequences[index]):
    for r in range(len(rows)):
        example.text(t, r, "M" if token == MARKER else str(token), ha="center", va="center", fontsize=9)
example.set(yticks=range(3), yticklabels=["true tags"] + list(models), xlabel="step",
            title="One test sequence: cells coloured by tag, labelled by token")
handles = [plt.Rectangle((0, 0), 1, 1, color=colours(k)) for k in range(4)]
example.legend(handles, TAG_NAMES, loc="upper center", bbox_to_anchor=(0.5, -0.25), ncol=4, frameon=False)
fig.tight_layout()
plt.show()

# %% [markdown]
# The forward-only tagger gets the *before* bit right everywhere and the *after* bit only as
# often as a guess from position allows; the bidirectional one reads the answer from its
# backward half. Because of `lengths=`, that backward half starts at each sequence's own last
# token, so the padding never shifts its state.


# %% [markdown]
# ## Exercises
#
# Each exercise prints what it asks; fill in the answer and run the cell: `exercises.check`
# says whether it is right, and if not, what is wrong and where to look (`exercises.hint(name)`
# for more). Answers are numbers or numpy functions; the checks compare them with the library.

# %%
exercises.show("final_states")


def final_states(outputs, lengths):
    """Your answer: (B, 2H), each direction's last state read from the padded outputs."""
    ...


exercises.check("final_states", final_states)

# %%
exercises.show("padded_targets")


def padded_targets(tags):
    """Your answer: a (T, B) int64 array of targets, padding ignored by the loss."""
    ...


exercises.check("padded_targets", padded_targets)
