# %% [markdown]
# # 8 · A character-level RNN, by hand and by the engine
#
# A language model over characters reads a text one character at a time and, at every step,
# gives a probability to each possible next character. It is the smallest model in which
# backpropagation through time has to be derived whole: a softmax readout at every step, a
# loss at every step, and the gradient of each step's loss flowing back through all the steps
# before it. This notebook follows the spirit of Karpathy's `min-char-rnn`:
#
# 1. the model and its loss, with one-hot inputs;
# 2. the gradient derived by hand: $dy = p - \text{onehot}(y)$, $dW_{hy}$, and $dh_{\text{next}}$
#    carried back through time; written in numpy and matched to the engine's gradients to
#    float64 rounding;
# 3. training (briefly) on the English text that ships with Python, measured in bits per
#    character and perplexity;
# 4. sampling with a temperature;
# 5. a search over hidden units for one whose activation tracks something readable.
#
# The equations follow docs/EQUATIONS.md ("Elman RNN", "Losses and the softmax readout",
# "Backpropagation through time").

# %%
import math
import time

import matplotlib.pyplot as plt
import numpy as np

import seqgrad as sg
from seqgrad import exercises, nn
from seqgrad.data.corpus import stdlib_corpus, unigram_bits_per_char
from seqgrad.nn.functional import cross_entropy

np.set_printoptions(precision=4, suppress=True)

# %% [markdown]
# ## The text and the alphabet
#
# `stdlib_corpus` gives the docstrings of standard-library modules as plain English, one
# paragraph per line: no download, the same text on every machine with the same Python. We
# take 200,000 characters; the last 10% are held out to measure the model on text it never
# trained on. Every distinct character is one class.

# %%
text = stdlib_corpus(200_000, seed=0)
split = int(0.9 * len(text))
alphabet = sorted(set(text))
index_of = {character: index for index, character in enumerate(alphabet)}
ids = np.array([index_of[character] for character in text], dtype=np.int64)
train_ids, held_out_ids = ids[:split], ids[split:]
vocab_size = len(alphabet)
print(f"{len(text):,} characters, {vocab_size} distinct; {len(train_ids):,} to train on, "
      f"{len(held_out_ids):,} held out")
print(repr(text[:300]))

# %% [markdown]
# ## The model
#
# With $x_t$ the one-hot vector of character $t$ (size $V$) and a hidden state of $H$ units:
#
# $$a_t = W_{xh} x_t + W_{hh} h_{t-1} + b_h, \qquad h_t = \tanh(a_t),$$
# $$y_t = W_{hy} h_t + b_y, \qquad p_t = \mathrm{softmax}(y_t), \qquad
#   L = \sum_t \ell_t = -\sum_t \log p_t[c_{t+1}],$$
#
# where $c_{t+1}$ is the character that actually comes next. Multiplying $W_{xh}$ by a one-hot
# vector just picks column $c_t$: the one-hot input is an embedding lookup written as a
# product (notebook 06 shows the lookup itself). $W_{xh}$ is $(H, V)$, $W_{hh}$ $(H, H)$,
# $W_{hy}$ $(V, H)$.
#
# ## The gradient, derived
#
# **The readout.** $\ell_t = \log\sum_k e^{y_t[k]} - y_t[c]$ with $c = c_{t+1}$, so
# $\partial \ell_t / \partial y_t[k] = p_t[k] - [k = c]$:
#
# $$dy_t = p_t - \text{onehot}(c_{t+1}).$$
#
# The model's predicted distribution, minus 1 at the right answer: a confident right
# prediction gives almost nothing, a confident wrong one pushes down the wrong class and up
# the right one. Then, because $y_t = W_{hy} h_t + b_y$ at every step with the same weights,
#
# $$dW_{hy} = \sum_t dy_t\, h_t^\top, \qquad db_y = \sum_t dy_t.$$
#
# **Through time.** $h_t$ reaches the loss two ways: through its own readout, and through
# $h_{t+1}$. Call $dh_{\text{next}}$ the gradient arriving from step $t+1$ (zero after the last
# step). Then
#
# $$dh_t = W_{hy}^\top dy_t + dh_{\text{next}}, \qquad da_t = (1 - h_t^2) \odot dh_t,$$
# $$dW_{xh} \mathrel{+}= da_t\, x_t^\top, \quad dW_{hh} \mathrel{+}= da_t\, h_{t-1}^\top, \quad
#   db_h \mathrel{+}= da_t, \qquad dh_{\text{next}} \leftarrow W_{hh}^\top da_t.$$
#
# Walking $t$ from the last step to the first, $dh_{\text{next}}$ is the whole of BPTT: one
# vector carried backwards, multiplied by $W_{hh}^\top$ and the tanh's slope at every step.
# What is left in it after step 1 is $\partial L/\partial h_0$, the gradient with respect to
# the state the chunk started from.

# %%
def loss_and_gradients(inputs, targets, h_prev, W_xh, W_hh, W_hy, b_h, b_y):
    """Forward over one chunk of character ids, then BPTT by hand. Returns the loss, the
    gradients (dW_xh, dW_hh, dW_hy, db_h, db_y), dL/dh_0 and the last hidden state."""
    steps = len(inputs)
    hiddens, probabilities = {-1: h_prev}, {}
    loss = 0.0
    for t in range(steps):
        a = W_xh[:, inputs[t]] + W_hh @ hiddens[t - 1] + b_h   # W_xh @ onehot(x_t) picks a column
        hiddens[t] = np.tanh(a)
        y = W_hy @ hiddens[t] + b_y
        exp_y = np.exp(y - y.max())
        probabilities[t] = exp_y / exp_y.sum()
        loss -= math.log(probabilities[t][targets[t]])

    dW_xh, dW_hh, dW_hy = np.zeros_like(W_xh), np.zeros_like(W_hh), np.zeros_like(W_hy)
    db_h, db_y = np.zeros_like(b_h), np.zeros_like(b_y)
    dh_next = np.zeros_like(h_prev)
    for t in reversed(range(steps)):
        dy = probabilities[t].copy()
        dy[targets[t]] -= 1.0                                   # dy = p - onehot(target)
        dW_hy += np.outer(dy, hiddens[t])
        db_y += dy
        dh = W_hy.T @ dy + dh_next                              # from the readout and from step t+1
        da = (1.0 - hiddens[t] ** 2) * dh                       # through tanh
        dW_xh[:, inputs[t]] += da                               # da x_tᵀ with x_t one-hot
        dW_hh += np.outer(da, hiddens[t - 1])
        db_h += da
        dh_next = W_hh.T @ da                                   # carried to step t-1
    return loss, (dW_xh, dW_hh, dW_hy, db_h, db_y), dh_next, hiddens[steps - 1]


# %% [markdown]
# ## The same gradients from the engine
#
# Now the same network from seqgrad's layers, which know nothing of the derivation above:
# `nn.RNN` (its `weight_ih` is $W_{xh}$, `bias_ih` is $b_h$, and `bias_hh` is set to zero), a
# `nn.Linear` readout, and `cross_entropy(..., reduction="sum")`, fed one-hot vectors. Both get
# the same random weights in float64, the same 25 characters and the same starting state
# $h_0$, which is a leaf the engine also differentiates.

# %%
hidden_size, chunk = 32, 25
rng = np.random.default_rng(0)
weights = {
    "W_xh": rng.normal(0.0, 0.1, (hidden_size, vocab_size)),
    "W_hh": rng.normal(0.0, 0.1, (hidden_size, hidden_size)),
    "W_hy": rng.normal(0.0, 0.1, (vocab_size, hidden_size)), "b_h": rng.normal(0.0, 0.1, hidden_size),
    "b_y": rng.normal(0.0, 0.1, vocab_size),
}
inputs, targets = train_ids[:chunk], train_ids[1:chunk + 1]
h_0 = rng.normal(0.0, 0.5, hidden_size)

loss, hand, hand_dh0, _ = loss_and_gradients(inputs, targets, h_0, **weights)

rnn = nn.RNN(vocab_size, hidden_size, dtype=np.float64)
readout = nn.Linear(hidden_size, vocab_size, dtype=np.float64)
rnn.weight_ih_l0.data = weights["W_xh"].copy()
rnn.weight_hh_l0.data = weights["W_hh"].copy()
rnn.bias_ih_l0.data = weights["b_h"].copy()
rnn.bias_hh_l0.data = np.zeros(hidden_size)
readout.weight.data, readout.bias.data = weights["W_hy"].copy(), weights["b_y"].copy()

one_hot = np.eye(vocab_size)[inputs][:, None, :]                  # (T, B=1, V)
start = sg.Tensor(h_0[None, None, :], requires_grad=True)          # (layers, B, H)
outputs, _ = rnn(sg.Tensor(one_hot), start)
engine_loss = cross_entropy(readout(outputs).reshape(chunk, vocab_size), targets, reduction="sum")
engine_loss.backward()

engine = {"W_xh": rnn.weight_ih_l0.grad, "W_hh": rnn.weight_hh_l0.grad, "W_hy": readout.weight.grad,
          "b_h": rnn.bias_ih_l0.grad, "b_y": readout.bias.grad}
print(f"loss: by hand {loss:.15f}, engine {engine_loss.item():.15f}")
for (name, by_engine), by_hand in zip(engine.items(), hand):
    print(f"d{name:5s} largest difference {np.abs(by_engine - by_hand).max():.1e}   "
          f"(largest entry {np.abs(by_hand).max():.2f})")
print(f"dh_0    largest difference {np.abs(start.grad[0, 0] - hand_dh0).max():.1e}")
print("bias_hh gets the same gradient as bias_ih:", np.allclose(rnn.bias_hh_l0.grad, engine["b_h"], rtol=0, atol=1e-15))

# %% [markdown]
# Equal to the last few bits of a float64: the engine's backward pass over the unrolled
# graph *is* this derivation, found op by op (each op's vjp applied in reverse creation order).
#
# **Exercise (softmax_readout_grad).** Write the readout's gradient for a batch, the gradient of
# the *mean* cross-entropy (as `cross_entropy` computes by default) with respect to the logits.

# %%
exercises.show("softmax_readout_grad")


def dlogits(logits, targets):
    """Your answer: (N, C) gradient of the mean cross-entropy."""
    ...


exercises.check("softmax_readout_grad", dlogits)

# %% [markdown]
# ## Training, briefly
#
# For training we let the engine do the work, in float32, on batches of 32 windows of 64
# characters drawn from the training text, with Adam. The loss is the mean cross-entropy in
# nats; divided by $\ln 2$ it is **bits per character** (how many yes/no questions the model
# still needs per character), and $e^{\text{loss}}$ is the **perplexity** (the model is as
# uncertain as a uniform choice among that many characters). Two references: a uniform
# guess, $\log_2 V$ bits, and the unigram model that knows only each character's frequency.

# %%
sg.manual_seed(0)
sg.set_default_dtype(np.float32)
hidden_size, window, batch_size, steps = 128, 64, 32, 500
model_rnn = nn.RNN(vocab_size, hidden_size)
model_readout = nn.Linear(hidden_size, vocab_size)
parameters = list(model_rnn.parameters()) + list(model_readout.parameters())
optimizer = sg.optim.Adam(parameters, lr=5e-3)
eye = np.eye(vocab_size, dtype=np.float32)
data_rng = np.random.default_rng(1)


def logits_of(id_windows, state=None):
    """Logits (T, B, V) and the final state, for character ids (T + 1, B): inputs are all but the last."""
    outputs, state = model_rnn(sg.Tensor(eye[id_windows[:-1]]), state)
    return model_readout(outputs), state


def mean_nats(id_windows):
    logits, _ = logits_of(id_windows)
    return cross_entropy(logits.reshape(-1, vocab_size), id_windows[1:].reshape(-1))


def held_out_nats():
    columns = (len(held_out_ids) - 1) // window
    windows = held_out_ids[:columns * window + 1]
    id_windows = np.stack([windows[i * window:(i + 1) * window + 1] for i in range(columns)], axis=1)
    with sg.no_grad():
        return mean_nats(id_windows).item()


started = time.perf_counter()
history = []
for step in range(1, steps + 1):
    starts = data_rng.integers(0, len(train_ids) - window - 1, batch_size)
    id_windows = np.stack([train_ids[s:s + window + 1] for s in starts], axis=1)
    optimizer.zero_grad()
    loss = mean_nats(id_windows)
    loss.backward()
    nn.utils.clip_grad_norm_(parameters, 5.0)
    optimizer.step()
    history.append(loss.item())
    if step % 100 == 0:
        print(f"step {step:3d}: training loss {np.mean(history[-100:]) / math.log(2):.2f} bits/char")
held_out = held_out_nats()
print(f"trained in {time.perf_counter() - started:.0f} s")
print(f"held out: {held_out:.3f} nats = {held_out / math.log(2):.2f} bits/char, perplexity {math.exp(held_out):.1f}")
unigram_bits = unigram_bits_per_char(text[:split])
print(f"uniform over {vocab_size}: {math.log2(vocab_size):.2f} bits, perplexity {vocab_size}; "
      f"unigram: {unigram_bits:.2f} bits, perplexity {2 ** unigram_bits:.1f}")

# %% [markdown]
# After a few hundred batches the model is well below the unigram model: it has learned
# spelling, frequent words and spacing. (Longer training and an LSTM go much lower;
# `seqgrad train` does that. Here the point is the measurement.)
#
# **Exercise (bits_and_perplexity).** Write the conversion used above.

# %%
exercises.show("bits_and_perplexity")


def convert(mean_nats):
    """Your answer: (bits_per_character, perplexity)."""
    ...


exercises.check("bits_and_perplexity", convert)

# %% [markdown]
# ## Sampling with a temperature
#
# To generate, feed the model its own output: draw the next character from
# $\mathrm{softmax}(y_t / T)$, feed it back, repeat. The temperature $T$ trades fidelity for
# variety: $T < 1$ sharpens the distribution towards the likeliest characters (safe, repetitive),
# $T > 1$ flattens it (inventive, then garbled). The state is carried from one call to the next.

# %%
def sample(prompt, length, temperature, seed=0):
    generator = np.random.default_rng(seed)
    prompt_ids = np.array([index_of[character] for character in prompt] + [0])  # the 0 is never read
    with sg.no_grad():
        logits, state = logits_of(prompt_ids[:, None])
        drawn = []
        for _ in range(length):
            scaled = logits.data[-1, 0].astype(np.float64) / temperature
            probabilities = np.exp(scaled - scaled.max())
            probabilities /= probabilities.sum()
            drawn.append(int(generator.choice(vocab_size, p=probabilities)))
            logits, state = logits_of(np.array([drawn[-1], 0])[:, None], state)
    return prompt + "".join(alphabet[i] for i in drawn)


for temperature in (0.5, 1.0, 1.5):
    print(f"T = {temperature}: {sample('Return the ', 160, temperature)!r}\n")

# %% [markdown]
# **Exercise (temperature).** Write the distribution that `sample` draws from.

# %%
exercises.show("temperature")


def distribution(logits, temperature):
    """Your answer: probabilities (C,)."""
    ...


exercises.check("temperature", distribution)

# %% [markdown]
# ## Looking for a unit that means something
#
# Karpathy, Johnson and Fei-Fei (2015) found single LSTM cells that track quotes, line
# length or indentation. We look for such a unit in our small tanh RNN: run it over the held-out
# text, record every unit's activation at every character, and correlate each unit with a few
# readable properties of the text:
#
# - *position in line*: characters since the last newline (each paragraph is one line);
# - *inside parentheses*: 1 between `(` and the matching `)`;
# - *inside quotes*: 1 after an opening `'` or `"` until it closes (apostrophes inside words are
#   not quotes);
# - *position in word*: letters since the last non-letter.
#
# Each needs memory: none can be read off the current character alone. The search is simple:
# for each property, the unit with the largest |correlation| over twelve thousand characters.

# %%
def text_properties(passage):
    position_in_line, in_parentheses, in_quotes, position_in_word = [], [], [], []
    line, depth, quote, word, previous = 0, 0, None, 0, " "
    for character in passage:
        line = 0 if character == "\n" else line + 1
        depth = depth + 1 if character == "(" else max(depth - 1, 0) if character == ")" else depth
        if quote is None and character in "'\"" and not previous.isalnum():
            quote = character
        elif quote is not None and character == quote:
            quote = None
        word = word + 1 if character.isalpha() else 0
        position_in_line.append(line)
        in_parentheses.append(depth > 0)
        in_quotes.append(quote is not None)
        position_in_word.append(word)
        previous = character
    return {"position in line": position_in_line, "inside parentheses": in_parentheses,
            "inside quotes": in_quotes, "position in word": position_in_word}


passage_ids = held_out_ids[:12_000]
with sg.no_grad():
    activations, _ = model_rnn(sg.Tensor(eye[passage_ids][:, None, :]))
activations = activations.data[:, 0, :].astype(np.float64)            # (characters, units)
passage = "".join(alphabet[i] for i in passage_ids)

centred = (activations - activations.mean(0)) / (activations.std(0) + 1e-12)
best = {}
for name, values in text_properties(passage).items():
    values = np.asarray(values, dtype=np.float64)
    correlation = centred.T @ ((values - values.mean()) / values.std()) / len(values)
    unit = int(np.argmax(np.abs(correlation)))
    best[name] = (unit, correlation[unit])
    print(f"{name:20s} unit {unit:3d}  correlation {correlation[unit]:+.2f}   "
          f"(median |correlation| over units {np.median(np.abs(correlation)):.2f})")

# %% [markdown]
# The strongest relation is the one to show. Below, that unit's activation colours each
# character of a held-out passage (blue negative, red positive), and, for the passage's first
# hundred characters, it is plotted beside the property it tracks.

# %%
name, (unit, correlation) = max(best.items(), key=lambda item: abs(item[1][1]))
start_at = passage.index("\n", 2000) + 1
shown = passage[start_at:start_at + 480]
values = activations[start_at:start_at + 480, unit]
property_values = np.asarray(text_properties(passage)[name], dtype=float)[start_at:start_at + 480]

figure = plt.figure(figsize=(11, 6.2), layout="constrained")
text_axes, plot_axes = figure.subplots(2, 1, height_ratios=[2.2, 1])
colour = plt.get_cmap("coolwarm")
columns = 80
row, column = 0, 0
for character, value in zip(shown, values):
    if character == "\n":
        row, column = row + 1, 0
        continue
    text_axes.text(column, -row, character if character != " " else "·", family="monospace", fontsize=9,
                   ha="center", va="center", bbox={"facecolor": colour((value + 1) / 2), "edgecolor": "none",
                                                   "pad": 1.2})
    column += 1
    if column == columns:
        row, column = row + 1, 0
text_axes.set_xlim(-1, columns)
text_axes.set_ylim(-row - 1, 1)
text_axes.axis("off")
text_axes.set_title(f"unit {unit}: correlation {correlation:+.2f} with {name} (blue −1, red +1)")
first = 100                                   # the first line or so, character by character
plot_axes.plot(values[:first], color="tab:red", linewidth=1.2, marker=".", label=f"unit {unit} activation")
twin = plot_axes.twinx()
twin.plot(property_values[:first], color="gray", linewidth=1, label=name)
plot_axes.set_xticks(range(first), [c if c not in " \n" else "·" for c in shown[:first]], family="monospace",
                     fontsize=7)
plot_axes.set_xlim(-1, first)
plot_axes.set_xlabel("the passage's first characters")
plot_axes.set_ylabel("activation")
twin.set_ylabel(name)
plot_axes.legend(loc="upper left", frameon=False)
twin.legend(loc="upper right", frameon=False)
plt.show()

# %% [markdown]
# A small RNN trained for half a minute already has a unit that counts: its activation climbs
# through each word and drops at the space, a property of the text that is not in the current
# character alone. The correlation says the unit and the property move together over twelve
# thousand characters; it does not say the network *uses* the unit for that, which would take
# an intervention (clamp the unit, watch the predictions).
#
# The properties that need a longer memory (position in the line, inside parentheses, inside
# quotes) found no unit worth showing in this model: the best correlations are near zero. A
# tanh RNN trained this briefly keeps short context; the line-length and quote units of
# Karpathy et al. were LSTM cells in networks trained for hours. Try it: `seqgrad train
# --cell lstm` for longer, then the same search.
