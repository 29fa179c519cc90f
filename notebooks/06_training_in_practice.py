# %% [markdown]
# # 6 · Training in practice
#
# The pieces around a recurrent layer that decide whether training works:
#
# 1. **embeddings**: integer tokens in, learned vectors out;
# 2. **cross-entropy**: computed stably, with padded targets ignored;
# 3. **dropout** between layers and **recurrent (variational) dropout** on the state;
# 4. **truncated BPTT** for long streams, and what it cannot learn;
# 5. **scaling** inputs and targets for forecasting, with sliding windows.

# %%
import time

import matplotlib.pyplot as plt
import numpy as np

import seqgrad as sg
from seqgrad import bptt, data, exercises, nn
from seqgrad.nn import functional as F

sg.manual_seed(0)
np.set_printoptions(precision=4, suppress=True, linewidth=110)

# %% [markdown]
# ## Embeddings
#
# An `Embedding(V, d)` is a table $E \in \mathbb{R}^{V \times d}$; token $i$ becomes row
# $E_i$. That is the product of a one-hot vector with $E$, without building the one-hot:
#
# $$e = \text{onehot}(i)^\top E = E_i, \qquad
#   \frac{\partial L}{\partial E_j} = \sum_{t:\, i_t = j} \frac{\partial L}{\partial e_t}.$$
#
# The gradient is a scatter-add into the rows that were used (a token used twice receives
# the sum), and every other row gets exactly zero. The padding row (`padding_idx`) starts at
# zero and never receives a gradient.

# %%
tokenizer = data.CharTokenizer().fit("the cat sat on the mat")
print("vocabulary:", tokenizer.vocab.tokens)
ids = tokenizer.encode("the cat")
print("ids of 'the cat':", ids)

embedding = nn.Embedding(len(tokenizer), 4, padding_idx=tokenizer.vocab.pad_id)
vectors = embedding(ids)                                       # (7, 4)
one_hot = data.one_hot(ids, len(tokenizer), np.float32)        # (7, 12)
print("rows of E == one-hot @ E:", np.allclose(vectors.data, one_hot @ embedding.weight.data))

padded_ids = np.append(ids, tokenizer.vocab.pad_id)            # one padding position
(embedding(padded_ids) * sg.randn(8, 4)).sum().backward()
used = np.abs(embedding.weight.grad).sum(axis=1) > 0
print("rows with a gradient:", [tokenizer.vocab.tokens[i] for i in np.flatnonzero(used)])
print("padding row: value", embedding.weight.data[0], " gradient", embedding.weight.grad[0])

# %% [markdown]
# ## Cross-entropy, stably
#
# For logits $z \in \mathbb{R}^C$ and target class $y$:
# $\;\mathcal{L} = -\log \text{softmax}(z)_y = \log\sum_c e^{z_c} - z_y.$
# Computing the softmax first overflows for large logits; the log-sum-exp form subtracts
# the maximum inside, $\log\sum_c e^{z_c} = m + \log\sum_c e^{z_c - m}$, and stays exact.
# Its gradient is the familiar $\partial\mathcal{L}/\partial z = \text{softmax}(z) - \text{onehot}(y)$.
# Two reference points: a model that predicts uniformly scores $\ln C$, and targets equal
# to `ignore_index` ($-100$) neither add to the loss nor count in its mean.

# %%
logits = sg.Tensor([[1000.0, 0.0, -1000.0],
                    [2.0, 1.0, 0.5]], requires_grad=True)
targets = np.array([0, 2])
with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
    naive = -np.log(np.exp(logits.data) / np.exp(logits.data).sum(axis=1, keepdims=True))[[0, 1], targets]
print("softmax first, then log:", naive)
loss = F.cross_entropy(logits, targets, reduction="none")
print("seqgrad cross_entropy:  ", loss.data)

loss.sum().backward()
expected = np.exp(logits.data[1] - logits.data[1].max())
expected = expected / expected.sum() - np.eye(3)[2]
print("gradient of row 1:", logits.grad[1], " softmax - onehot:", expected)

print("\nuniform logits over 10 classes:", F.cross_entropy(sg.zeros(4, 10), np.arange(4)).item(),
      " ln 10 =", np.log(10))
scores, tags = sg.randn(5, 3), np.array([1, 0, -100, 2, -100])
print("with ignored targets:", F.cross_entropy(scores, tags).item(),
      " = mean over the 3 real ones:", F.cross_entropy(scores[np.array([0, 1, 3])], tags[[0, 1, 3]]).item())


# %% [markdown]
# ## Dropout and recurrent dropout
#
# **Dropout** (inverted) keeps each activation with probability $1-p$ and scales the kept
# ones by $1/(1-p)$, so the expected value is unchanged and evaluation needs no rescaling:
# $\tilde h = h \odot m / (1-p)$, $m_i \sim \text{Bernoulli}(1-p)$. In training mode
# `nn.Dropout(p)` does this; after `model.eval()` it is the identity. In `nn.LSTM(...,
# num_layers=2, dropout=p)` it acts between stacked layers, never on the recurrent path.
#
# **Recurrent (variational) dropout** (Gal & Ghahramani, 2016) drops units of $h_{t-1}$
# before $W_{hh}$ with **one mask per sequence**, reused at every step:
# $h_t = f(x_t,\; h_{t-1} \odot m)$. A fresh mask every step would inject new noise into the
# recurrent path at each step, which compounds over time; a fixed mask removes the same units
# for the whole sequence. `recurrent_dropout=p` in any seqgrad layer does this, for the
# built-in cells and for your own.
#
# To *see* the mask we use a probe cell whose next state is always ones: the state it
# receives is then exactly $1 \cdot m$.

# %%
class MaskProbe(nn.Cell):
    # A cell that records the state it receives and always returns ones.
    def __init__(self, hidden_size):
        super().__init__()
        self.hidden_size = hidden_size
        self.received = []

    def step(self, x, state):
        self.received.append(state[0].data.copy())
        ones = sg.ones(*state[0].shape)
        return ones, (ones,)


steps, batch, units, p = 30, 2, 16, 0.4
layer = nn.Recurrent(lambda size: MaskProbe(units), input_size=1, recurrent_dropout=p)
probe = layer.cells[0]
layer(sg.zeros(steps, batch, 1), sg.ones(1, batch, units))
recurrent_masks = np.stack(probe.received)                       # (T, B, H)
fresh_masks = F.dropout_mask((steps, batch, units), p, np.float32)  # what per-step dropout would use

print("kept values are 1/(1-p) =", 1 / (1 - p), "; mean of the masks ≈ 1:", recurrent_masks.mean().round(3))
print("same mask at every step:", all(np.array_equal(m, recurrent_masks[0]) for m in recurrent_masks),
      " different per sequence:", not np.array_equal(recurrent_masks[0, 0], recurrent_masks[0, 1]))

probe.received.clear()
layer.eval()
layer(sg.zeros(steps, batch, 1), sg.ones(1, batch, units))
print("in eval mode the state arrives untouched:", np.all(np.stack(probe.received) == 1))

fig, axes = plt.subplots(1, 2, figsize=(10, 3.2), sharey=True)
for ax, masks, title in ((axes[0], recurrent_masks, "recurrent dropout: one mask per sequence"),
                         (axes[1], fresh_masks, "a fresh mask at every step")):
    ax.imshow(masks[:, 0].T, cmap="Greys_r", aspect="auto", interpolation="nearest")
    ax.set(title=title, xlabel="time step")
axes[0].set_ylabel("hidden unit")
fig.tight_layout()
plt.show()

# %% [markdown]
# Black is a dropped unit. In practice: `nn.LSTM(d, h, num_layers=2, dropout=0.3,
# recurrent_dropout=0.25)`, plus `nn.Dropout` on embeddings or outputs; call
# `model.train()` before training and `model.eval()` before evaluating or sampling.
#
# ## Truncated BPTT
#
# A long stream (a corpus, a sensor log) is cut into windows of $k$ steps. The state that
# enters a window is the previous window's final state, **detached**; each window's loss is
# backpropagated and the parameters updated before the next window. Memory and time per
# update are $O(k)$ instead of $O(T)$. The price: the gradient never crosses a window
# boundary,
#
# $$\frac{\partial \mathcal{L}_t}{\partial h_s} \text{ is treated as } 0
#   \quad\text{when } s \text{ lies in an earlier window than } t,$$
#
# so a dependency longer than $k$ steps gets **no** training signal: the state still
# carries information forward, but nothing teaches the network to put it there.
#
# A task with a known span shows it. The input is a stream of random bits and the target
# at step $t$ is the bit from $\delta = 6$ steps earlier (an echo). Chance is
# $\ln 2 = 0.693$ nats. `bptt.run_truncated_bptt(forward, loss_fn, inputs, targets, window,
# optimizer, clip=...)` runs one pass over the stream and returns one result per window.

# %%
DELAY, STREAM, STREAMS = 6, 3000, 16
rng = np.random.default_rng(0)
bits = rng.integers(0, 2, (STREAM, STREAMS))
echo_inputs = data.one_hot(bits, 2, np.float32)                # (T, B, 2)
echo_targets = np.full((STREAM, STREAMS), data.IGNORE_INDEX)   # (T, B): no target for the first steps
echo_targets[DELAY:] = bits[:-DELAY]


class EchoModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(2, 16)
        self.head = nn.Linear(16, 2)

    def forward(self, inputs, state):          # what run_truncated_bptt calls on each window
        output, state = self.lstm(inputs, state)
        return self.head(output), state


def echo_loss(logits, targets):
    return F.cross_entropy(logits.reshape(-1, 2), targets.reshape(-1))


window_losses = {}
for window in (3, 6, 12):
    sg.manual_seed(0)
    model = EchoModel()
    optimizer = sg.optim.Adam(model.parameters(), lr=0.01)
    started = time.perf_counter()
    points = []                                # (position in the two passes, window loss)
    for epoch in range(2):
        results, _ = bptt.run_truncated_bptt(model, echo_loss, echo_inputs, echo_targets, window,
                                             optimizer, clip=1.0)
        points += [(epoch * STREAM + result.start, result.loss) for result in results]
    window_losses[window] = points
    print(f"k = {window:2d}: {len(points):4d} updates, last 50 windows' loss "
          f"{np.mean([loss for _, loss in points[-50:]]):.3f}  ({time.perf_counter() - started:.1f} s)")

fig, ax = plt.subplots(figsize=(8, 3.2))
for window, points in window_losses.items():
    position, loss = np.array(points).T
    smooth = max(1, 60 // window)
    ax.plot(position[smooth - 1:], np.convolve(loss, np.ones(smooth) / smooth, mode="valid"),
            label=f"k = {window}", linestyle="--" if window == 3 else "-")
ax.axhline(np.log(2), color="grey", linestyle=":", label="chance (ln 2)")
ax.set(xlabel="position in the stream (two passes)", ylabel="window loss (nats)",
       title=f"Echo at a delay of {DELAY} steps, truncated BPTT with window k")
ax.legend()
plt.show()

# %% [markdown]
# With $k = 3$ and $k = 6$ no window contains both an input and the target that depends on
# it, so the loss stays at chance. With $k = 12$ the last six steps of each window carry the
# signal, and the network then uses the carried state for the whole stream (including the
# first steps of each window, whose sources lie in the previous window). Choose $k$ above
# the span you need; when that is unaffordable, an LSTM's memory still helps only if
# something trained it to keep the information.
#
# ## Scaling inputs for forecasting
#
# Recurrent cells squash their pre-activations with $\tanh$ and $\sigma$, whose slopes vanish
# away from zero ($\tanh' = 1 - \tanh^2$). A raw series in its own units (here a daily
# temperature between 11 and 29 °C) pushes the gates into saturation, and the readout has to
# climb to 20 from an initialisation near 0. The standard recipe:
#
# 1. **split by time** first (train on the past, test on the future);
# 2. **fit** the scaler on the training part only (no peeking at test statistics):
#    `StandardScaler` gives $x' = (x - \mu)/\sigma$, `MinMaxScaler` maps $[\min, \max]$ to a range;
# 3. cut **sliding windows**: `data.sliding_windows(series, window, horizon)` gives inputs
#    $(W, N, 1)$ and the next `horizon` values $(H, N, 1)$;
# 4. train on the scaled values and **invert** the predictions, `scaler.inverse_transform`,
#    to report errors in the original units.

# %%
temperature = 20 + data.sine_series(1, 1000, frequency=0.04, phase=0.0, amplitude=8, noise=0.5, seed=0)[:, 0]
train_part, test_part = temperature[:700], temperature[700:]      # (T, 1) each: split by time
print("series", temperature.shape, f"from {temperature.min():.1f} to {temperature.max():.1f} °C")


class Forecaster(nn.Module):
    def __init__(self, hidden_size=16):
        super().__init__()
        self.gru = nn.GRU(1, hidden_size)
        self.head = nn.Linear(hidden_size, 1)

    def forward(self, window):                 # (W, N, 1) -> (N, 1): the next value
        _, last_hidden = self.gru(window)      # (1, N, H)
        return self.head(last_hidden[0])


def train_forecaster(train_series, steps=200, window=16, batch_size=64, seed=0):
    inputs, targets = data.sliding_windows(train_series, window)   # (W, N, 1), (1, N, 1)
    sg.manual_seed(seed)
    model = Forecaster()
    optimizer = sg.optim.Adam(model.parameters(), lr=0.01)
    rng = np.random.default_rng(seed)
    history = []
    for _ in range(steps):
        chosen = rng.choice(inputs.shape[1], batch_size, replace=False)
        loss = F.mse_loss(model(inputs[:, chosen]), targets[0, chosen])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        history.append(loss.item())
    return model, history


def forecast(model, series, window=16):
    inputs, targets = data.sliding_windows(series, window)
    with sg.no_grad():
        return model(inputs).data, targets[0]


raw_model, raw_history = train_forecaster(train_part)

scaler = data.StandardScaler().fit(train_part)                 # statistics of the past only
print(f"fitted: mean {scaler.mean_[0]:.2f} °C, std {scaler.scale_[0]:.2f} °C")
scaled_model, scaled_history = train_forecaster(scaler.transform(train_part))

raw_prediction, truth = forecast(raw_model, test_part)
scaled_prediction, _ = forecast(scaled_model, scaler.transform(test_part))
scaled_prediction = scaler.inverse_transform(scaled_prediction)     # back to °C
for name, prediction in (("raw °C", raw_prediction), ("standardised", scaled_prediction)):
    print(f"{name:13s} test RMSE {np.sqrt(np.mean((prediction - truth) ** 2)):.2f} °C   (noise std 0.5 °C)")

# %%
fig, (curves, series_ax) = plt.subplots(1, 2, figsize=(12, 3.4), gridspec_kw={"width_ratios": [1, 1.6]})
curves.plot(np.array(raw_history), label="raw °C")
curves.plot(np.array(scaled_history) * scaler.scale_[0] ** 2, label="standardised (loss × σ²)")
curves.set(yscale="log", xlabel="update", ylabel="training MSE (°C²)", title="Same model, same budget")
curves.legend()

shown = slice(0, 120)
series_ax.plot(truth[shown, 0], color="black", lw=1, label="truth")
series_ax.plot(raw_prediction[shown, 0], label="raw °C")
series_ax.plot(scaled_prediction[shown, 0], label="standardised")
series_ax.set(xlabel="test step", ylabel="°C", title="One-step-ahead forecasts on the test part")
series_ax.legend(ncol=3, loc="lower left")
fig.tight_layout()
plt.show()

# %% [markdown]
# The same recipe on the chaotic Mackey-Glass series (`data.mackey_glass`, delay
# $\tau = 17$), with `MinMaxScaler` to $[-1, 1]$ and a horizon of 5 steps: each window now
# predicts the next five values at once (the head outputs 5 numbers).

# %%
series = data.mackey_glass(1, 900, seed=0)[:, 0]                  # (T, 1)
train_part, test_part = series[:600], series[600:]
scaler = data.MinMaxScaler(feature_range=(-1, 1)).fit(train_part)
WINDOW, HORIZON = 24, 5

sg.manual_seed(0)
gru, head = nn.GRU(1, 24), nn.Linear(24, HORIZON)
optimizer = sg.optim.Adam(list(gru.parameters()) + list(head.parameters()), lr=0.01)
inputs, targets = data.sliding_windows(scaler.transform(train_part), WINDOW, HORIZON)   # (24, N, 1), (5, N, 1)
targets = targets[..., 0].T                                                            # (N, 5)
rng = np.random.default_rng(0)
for _ in range(250):
    chosen = rng.choice(inputs.shape[1], 64, replace=False)
    _, last_hidden = gru(inputs[:, chosen])
    loss = F.mse_loss(head(last_hidden[0]), targets[chosen])
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()

test_inputs, test_targets = data.sliding_windows(scaler.transform(test_part), WINDOW, HORIZON)
with sg.no_grad():
    _, last_hidden = gru(test_inputs)
    prediction = scaler.inverse_transform(head(last_hidden[0]).data.T[..., None])   # (5, N, 1), original units
truth = scaler.inverse_transform(test_targets)
error = np.sqrt(np.mean((prediction - truth) ** 2, axis=(1, 2)))
print("test RMSE by horizon:", error.round(4), f" (series std {series.std():.3f})")

fig, ax = plt.subplots(figsize=(10, 3.2))
starts = np.arange(0, 200, HORIZON)
ax.plot(np.arange(WINDOW, WINDOW + 200 + HORIZON), test_part[WINDOW:WINDOW + 200 + HORIZON, 0],
        color="black", lw=1, label="truth")
for n, start in enumerate(starts):
    ax.plot(WINDOW + start + np.arange(HORIZON), prediction[:, start, 0], color="tab:orange", lw=2,
            label="5-step forecast from each window" if n == 0 else None)
ax.set(xlabel="test step", ylabel="x(t)", ylim=(0.4, 1.5), title="Mackey-Glass: forecasts of the next 5 steps")
ax.legend(loc="upper center", ncol=2)
plt.show()


# %% [markdown]
# ## Exercises
#
# Each exercise prints what it asks; fill in the answer and run the cell: `exercises.check`
# says whether it is right, and if not, what is wrong and where to look (`exercises.hint(name)`
# for more). Answers are numbers or numpy functions; the checks compare them with the library.

# %%
exercises.show("recurrent_dropout_mask")


def masks(steps, batch, hidden_size, p, rng):
    """Your answer: (steps, batch, hidden_size) recurrent dropout masks."""
    ...


exercises.check("recurrent_dropout_mask", masks)

# %%
exercises.show("truncation_length")
window = None   # your answer: an integer number of steps
exercises.check("truncation_length", window)
