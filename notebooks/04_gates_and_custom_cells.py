# %% [markdown]
# # 4 · LSTM and GRU gates, and a cell of your own
#
# Gates are sigmoids, numbers in $(0, 1)$ per unit and per step, that multiply a signal:
# they decide what is written, kept and shown. The LSTM (gate order $i, f, g, o$, as PyTorch):
#
# $$\begin{aligned}
# i_t &= \sigma(W_{ii} x_t + W_{hi} h_{t-1} + b_i), &
# f_t &= \sigma(W_{if} x_t + W_{hf} h_{t-1} + b_f), \\
# g_t &= \tanh(W_{ig} x_t + W_{hg} h_{t-1} + b_g), &
# o_t &= \sigma(W_{io} x_t + W_{ho} h_{t-1} + b_o), \\
# c_t &= f_t \odot c_{t-1} + i_t \odot g_t, &
# h_t &= o_t \odot \tanh(c_t).
# \end{aligned}$$
#
# The GRU (gate order $r, z, n$), as `nn.GRU` computes it by default, which is PyTorch's form:
#
# $$r_t = \sigma(W_{ir} x_t + W_{hr} h_{t-1} + b_r), \quad
#   z_t = \sigma(W_{iz} x_t + W_{hz} h_{t-1} + b_z), \quad
#   n_t = \tanh(W_{in} x_t + b_{in} + r_t \odot (W_{hn} h_{t-1} + b_{hn})), \quad
#   h_t = (1 - z_t) \odot n_t + z_t \odot h_{t-1}.$$
#
# Texts differ on two points (docs/EQUATIONS.md, "GRU"). **Which way $z$ points:** here, as in
# PyTorch and in Cho et al. (2014), $z_t$ is the share of the *old* state kept ($z = 1$ copies
# $h_{t-1}$); Chung et al. (2014) and most diagrams write $h_t = (1 - z'_t) h_{t-1} + z'_t n_t$,
# the same cell with $z' = 1 - z$. **Where the reset gate acts:** PyTorch applies $r_t$ *after*
# the product, to $W_{hn} h_{t-1} + b_{hn}$ ("reset after", one matrix product per step for all
# three blocks); Cho et al. apply it *before*, $n_t = \tanh(W_{in} x_t + b_{in} + W_{hn}(r_t \odot
# h_{t-1}) + b_{hn})$, which is `nn.GRU(..., reset="before")`. Same parameters, different
# functions; below we train both once.
#
# We train both on a task whose solution needs a gate, look at the gates, then write a new
# cell from primitives and get training, gradcheck and drawing for free.

# %%
import time

import matplotlib.pyplot as plt
import numpy as np

import seqgrad as sg
import seqgrad.viz
from seqgrad import exercises, nn
from seqgrad.nn import functional as F

np.set_printoptions(precision=4, suppress=True)


# %% [markdown]
# ## A task that needs a gate: the latch
#
# Each step brings a value $v_t \sim U(-1, 1)$ and a flag $s_t \in \{0, 1\}$ (set with
# probability 0.12, always at $t = 0$). The target is the value at the most recent flag:
# *store when flagged, hold otherwise*. An LSTM solves it by opening its input gate and
# closing its forget gate at a flag, and keeping $f \approx 1$, $i \approx 0$ in between.

# %%
def latch_task(n, steps, rng):
    values = rng.uniform(-1, 1, (steps, n))
    flags = (rng.random((steps, n)) < 0.12).astype(float)
    flags[0] = 1
    last_flag = np.maximum.accumulate(np.where(flags > 0, np.arange(steps)[:, None], 0), axis=0)
    targets = np.take_along_axis(values, last_flag, axis=0)
    return np.stack([values, flags], axis=-1).astype(np.float32), targets[..., None].astype(np.float32)


class Sequencer(nn.Module):
    # A recurrent layer and a linear readout at every step: (T, B, 2) -> (T, B, 1).
    def __init__(self, rnn, hidden_size):
        super().__init__()
        self.rnn = rnn
        self.head = nn.Linear(hidden_size, 1)

    def forward(self, inputs):
        output, _ = self.rnn(inputs)
        return self.head(output)


def train(model, updates=250, lr=0.02, seed=0):
    rng = np.random.default_rng(seed)
    optimizer = sg.optim.Adam(model.parameters(), lr=lr)
    history = []
    for _ in range(updates):
        inputs, targets = latch_task(32, 40, rng)
        loss = F.mse_loss(model(inputs), targets)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        history.append(loss.item())
    return history


HIDDEN = 8
histories, models = {}, {}
layers = {"LSTM": nn.LSTM, "GRU": nn.GRU,
          "GRU, reset before": lambda inputs, hidden: nn.GRU(inputs, hidden, reset="before")}
for name, make in layers.items():
    sg.manual_seed(0)
    models[name] = Sequencer(make(2, HIDDEN), HIDDEN)
    started = time.perf_counter()
    histories[name] = train(models[name])
    print(f"{name}: MSE {histories[name][0]:.3f} -> {np.mean(histories[name][-20:]):.4f} "
          f"in {time.perf_counter() - started:.1f} s")

# The two GRU conventions from the same initial weights: same shapes, different functions.
with sg.no_grad():
    probe, _ = latch_task(4, 40, np.random.default_rng(3))
    after, before = nn.GRU(2, HIDDEN), nn.GRU(2, HIDDEN, reset="before")
    before.load_state_dict(after.state_dict())
    difference = np.abs(after(probe)[0].data - before(probe)[0].data).max()
print(f"reset after vs reset before, same weights: outputs differ by up to {difference:.3f}")
models.pop("GRU, reset before")   # the gates below are read from PyTorch's form


# %% [markdown]
# ## Reading the gates
#
# The layers do not return their gates, and they need not: the equations above, evaluated in
# numpy on the trained weights (`weight_ih_l0` is $(4H, D)$ with the blocks $i, f, g, o$
# stacked), give them, and reproducing the layer's own output checks that we read the
# weights right.

# %%
def sigmoid(a):
    return 1 / (1 + np.exp(-a))


def lstm_gates(lstm, inputs):
    # i, f, g, o, c, h for every step of a 1-layer nn.LSTM, by the equations; inputs (T, B, D).
    H = lstm.hidden_size
    W_ih, W_hh = lstm.weight_ih_l0.data, lstm.weight_hh_l0.data
    bias = lstm.bias_ih_l0.data + lstm.bias_hh_l0.data
    h = c = np.zeros((inputs.shape[1], H))
    record = {name: [] for name in "ifgoch"}
    for x in inputs:
        pre = x @ W_ih.T + h @ W_hh.T + bias
        i, f, o = sigmoid(pre[:, :H]), sigmoid(pre[:, H:2 * H]), sigmoid(pre[:, 3 * H:])
        g = np.tanh(pre[:, 2 * H:3 * H])
        c = f * c + i * g
        h = o * np.tanh(c)
        for name, value in zip("ifgoch", (i, f, g, o, c, h)):
            record[name].append(value)
    return {name: np.stack(values) for name, values in record.items()}   # each (T, B, H)


def gru_gates(gru, inputs):
    # r, z, n, h for every step of a 1-layer nn.GRU (reset after, as PyTorch).
    H = gru.hidden_size
    W_ih, W_hh = gru.weight_ih_l0.data, gru.weight_hh_l0.data
    b_ih, b_hh = gru.bias_ih_l0.data, gru.bias_hh_l0.data
    h = np.zeros((inputs.shape[1], H))
    record = {name: [] for name in "rznh"}
    for x in inputs:
        from_x, from_h = x @ W_ih.T + b_ih, h @ W_hh.T + b_hh
        r = sigmoid(from_x[:, :H] + from_h[:, :H])
        z = sigmoid(from_x[:, H:2 * H] + from_h[:, H:2 * H])
        n = np.tanh(from_x[:, 2 * H:] + r * from_h[:, 2 * H:])
        h = (1 - z) * n + z * h
        for name, value in zip("rznh", (r, z, n, h)):
            record[name].append(value)
    return {name: np.stack(values) for name, values in record.items()}


inputs, targets = latch_task(1, 40, np.random.default_rng(7))
lstm_record = lstm_gates(models["LSTM"].rnn, inputs)
gru_record = gru_gates(models["GRU"].rnn, inputs)
with sg.no_grad():
    lstm_output, _ = models["LSTM"].rnn(inputs)
    gru_output, _ = models["GRU"].rnn(inputs)
    predictions = {name: model(inputs).data[:, 0, 0] for name, model in models.items()}
print("equations reproduce nn.LSTM:", np.allclose(lstm_record["h"], lstm_output.data, atol=1e-5),
      "  nn.GRU:", np.allclose(gru_record["h"], gru_output.data, atol=1e-5))

# %%
flag_steps = np.flatnonzero(inputs[:, 0, 1])
panels = [("LSTM input gate $i_t$", lstm_record["i"]), ("LSTM forget gate $f_t$", lstm_record["f"]),
          ("GRU update gate $z_t$ (1 = keep $h_{t-1}$)", gru_record["z"])]
fig, axes = plt.subplots(len(panels) + 1, 1, figsize=(10, 8.5), sharex=True, layout="constrained",
                         gridspec_kw={"height_ratios": [1.3] + [1] * len(panels)})
top = axes[0]
top.plot(inputs[:, 0, 0], ".", color="grey", label="value $v_t$")
top.step(range(40), targets[:, 0, 0], where="mid", color="black", lw=1.5, label="target")
for name, prediction in predictions.items():
    top.plot(prediction, lw=1.2, label=name)
top.set(title="The latch: hold the value seen at the last flag (dashed lines)", ylabel="value")
top.legend(ncol=4, loc="lower left", fontsize=8)
for ax, (title, values) in zip(axes[1:], panels):
    image = ax.imshow(values[:, 0].T, aspect="auto", cmap="viridis", vmin=0, vmax=1, interpolation="nearest")
    ax.set(title=title, ylabel="unit")
for ax in axes:
    for step in flag_steps:
        ax.axvline(step, color="white" if ax is not top else "grey", lw=1, ls="--")
axes[-1].set_xlabel("time step")
fig.colorbar(image, ax=axes, shrink=0.6, label="gate value")
plt.show()

batch_inputs, _ = latch_task(64, 40, np.random.default_rng(1))
lstm_batch, gru_batch = lstm_gates(models["LSTM"].rnn, batch_inputs), gru_gates(models["GRU"].rnn, batch_inputs)
flagged = batch_inputs[..., 1] > 0                                    # (T, B)
print(f"{'mean over 64 sequences':24s} {'at a flag':>10s} {'between flags':>14s}")
for name, values in (("LSTM input gate i", lstm_batch["i"]), ("LSTM forget gate f", lstm_batch["f"]),
                     ("GRU update gate z", gru_batch["z"])):
    print(f"{name:24s} {values[flagged].mean():10.2f} {values[~flagged].mean():14.2f}")

# %% [markdown]
# Reading the picture: at every flag (dashed) the LSTM's forget gate drops in all units,
# erasing $c_{t-1}$, while the input gate opens in some units to write the new value. Between
# flags this small LSTM does **not** hold $f_t \approx 1$ (0.47 on average): it keeps the value
# by rewriting it at every step through the recurrent path ($g_t$ depends on $h_{t-1}$), and in
# the plot that holds the value across a gap of 15 steps. The GRU's update gate leans the
# textbook way, but only on average and only partly: its mean is 0.71 between flags (where
# $z = 1$ would copy $h_{t-1}$) against 0.55 at flags (where $z = 0$ would let the candidate
# $n_t$ in), far from the clean 1 and 0 of the diagrams; the panel shows some units following
# the pattern and others sitting in between.
#
# A forget gate near 1 is what lets an LSTM carry memory, and gradient, over long gaps:
# $\partial c_t / \partial c_{t-1} = \operatorname{diag}(f_t)$ (notebook 3).
#
# How often gates sit near 0 or 1 (saturation, where they pass almost no gradient) is a quick
# summary of a trained gated network. `seqgrad.viz.gate_activations(output)` reads every gate
# activation of the built-in cells back from the tape (the sigmoid nodes keep their outputs
# for backward), so it needs a forward pass that was recorded and not yet backpropagated:

# %%
fig, axes = plt.subplots(1, 2, figsize=(12, 3.4), layout="constrained")
for ax, (name, model) in zip(axes, models.items()):
    output, _ = model.rnn(batch_inputs)                    # recorded: the gates are on the tape
    seqgrad.viz.plot_gate_saturation(seqgrad.viz.gate_activations(output), ax=ax,
                                     title=f"{name} gates on 64 latch sequences")
plt.show()


# %% [markdown]
# ## A cell of your own: the peephole LSTM
#
# Gers & Schmidhuber (2000) let the gates look at the cell state through *peephole*
# weights $p_i, p_f, p_o \in \mathbb{R}^H$ (element-wise):
#
# $$\begin{aligned}
# i_t &= \sigma(W_{ii} x_t + W_{hi} h_{t-1} + p_i \odot c_{t-1} + b_i), &
# f_t &= \sigma(W_{if} x_t + W_{hf} h_{t-1} + p_f \odot c_{t-1} + b_f), \\
# c_t &= f_t \odot c_{t-1} + i_t \odot \tanh(W_{ig} x_t + W_{hg} h_{t-1} + b_g), &
# o_t &= \sigma(W_{io} x_t + W_{ho} h_{t-1} + p_o \odot c_t + b_o), \\
# h_t &= o_t \odot \tanh(c_t).
# \end{aligned}$$
#
# The contract of `nn.Cell`: `state_names` (one Tensor of shape $(B, H)$ each), `hidden_size`,
# and `step(x, state) -> (output, new_state)` written with seqgrad ops. Nothing else: no
# backward, no unrolling.

# %%
class PeepholeLSTMCell(nn.Cell):
    state_names = ("hidden", "cell")

    def __init__(self, input_size, hidden_size, dtype=np.float32):
        super().__init__()
        self.hidden_size = hidden_size
        def parameter(*shape):   # U(-1/sqrt(H), 1/sqrt(H)), as the built-in cells (seeded by sg.manual_seed)
            return nn.init.recurrent_uniform_(nn.Parameter(np.empty(shape, dtype)), hidden_size)

        self.weight_ih = parameter(4 * hidden_size, input_size)    # blocks i, f, g, o
        self.weight_hh = parameter(4 * hidden_size, hidden_size)
        self.bias = parameter(4 * hidden_size)
        self.peephole = parameter(3, hidden_size)                  # p_i, p_f, p_o

    def step(self, x, state):
        hidden, cell = state
        pre = x @ self.weight_ih.T + hidden @ self.weight_hh.T + self.bias
        i, f, g, o = pre.split(self.hidden_size, axis=1)
        peep_i, peep_f, peep_o = self.peephole.split(1, axis=0)
        input_gate = (i + peep_i * cell).sigmoid()
        forget_gate = (f + peep_f * cell).sigmoid()
        cell = forget_gate * cell + input_gate * g.tanh()
        output_gate = (o + peep_o * cell).sigmoid()
        hidden = output_gate * cell.tanh()
        return hidden, (hidden, cell)


# %% [markdown]
# ### It trains
#
# `nn.Recurrent(make_cell, input_size, ...)` unrolls any cell; it also stacks it, runs it
# bidirectionally, masks it by `lengths` and applies recurrent dropout. Same task, same
# budget as above:

# %%
sg.manual_seed(0)
peephole_layer = nn.Recurrent(lambda size: PeepholeLSTMCell(size, HIDDEN), input_size=2)
print(peephole_layer)
started = time.perf_counter()
histories["peephole LSTM (ours)"] = train(Sequencer(peephole_layer, HIDDEN))
print(f"MSE {histories['peephole LSTM (ours)'][0]:.3f} -> {np.mean(histories['peephole LSTM (ours)'][-20:]):.4f} "
      f"in {time.perf_counter() - started:.1f} s")

fig, ax = plt.subplots(figsize=(7, 3))
for name, history in histories.items():
    ax.plot(np.convolve(history, np.ones(10) / 10, mode="valid"), label=name)
ax.set(yscale="log", xlabel="update", ylabel="MSE (moving average)", title="The latch task")
ax.legend()
plt.show()

# %% [markdown]
# ### It gradchecks
#
# In float64, as a function of the input and of every parameter, through a 2-layer
# bidirectional stack with two different lengths in the batch:

# %%
sg.manual_seed(0)
small = nn.Recurrent(lambda size: PeepholeLSTMCell(size, 2, dtype=np.float64), input_size=2,
                     num_layers=2, bidirectional=True)
x = sg.Tensor(np.random.default_rng(0).normal(size=(3, 2, 2)), requires_grad=True)
parameters = list(small.parameters())
print(len(parameters), "parameter tensors:", [name for name, _ in small.named_parameters()][:4], "...")
print("gradcheck:", sg.gradcheck(lambda x, *params: small(x, lengths=[3, 2]), [x, *parameters]))

# %% [markdown]
# ### It draws
#
# The step scopes and the `state_names` are enough for the drawer: each step is a cluster,
# and the cell-state path $c_{t-1} \to c_t$ (double edges) is drawn apart from the hidden
# path (thick edges). Four steps with each step collapsed, after backward:

# %%
sg.manual_seed(0)
tiny = nn.Recurrent(lambda size: PeepholeLSTMCell(size, 2), input_size=2)
output, (h_n, c_n) = tiny(sg.randn(4, 1, 2))
loss = (output ** 2).sum()
with sg.viz.record():   # keep gradient norms for the drawing
    loss.backward()
sg.viz.draw(loss, level="cell")

# %% [markdown]
# And every primitive of two steps: the `split` of the pre-activation into the four blocks
# (drawn as `getitem` slices), the three peephole products, and the cell state
# $c_t$ feeding the next step's input and forget gates and this step's output gate.

# %%
output, _ = tiny(sg.randn(2, 1, 2))
loss = (output ** 2).sum()
with sg.viz.record():
    loss.backward()
sg.viz.draw(loss)


# %% [markdown]
# ## Exercises
#
# Each exercise prints what it asks; fill in the answer and run the cell: `exercises.check`
# says whether it is right, and if not, what is wrong and where to look (`exercises.hint(name)`
# for more). Answers are numbers or numpy functions; the checks compare them with the library.

# %%
exercises.show("gru_reset_before")


def gru_step(x, hidden, weight_ih, weight_hh, bias_ih, bias_hh):
    """Your answer: one reset-before GRU step in numpy, (B, D), (B, H) -> (B, H)."""
    ...


exercises.check("gru_reset_before", gru_step)

# %%
exercises.show("parameter_counts")
counts = None   # your answer: {"lstm": ..., "gru": ...}
exercises.check("parameter_counts", counts)
