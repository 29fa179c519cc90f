# %% [markdown]
# # 3 · Vanishing and exploding gradients
#
# In notebook 2 the gradient from step $t$ reached step $k$ through a product of Jacobians.
# For the Elman RNN $h_j = \tanh(W_{ih} x_j + W_{hh} h_{j-1} + b)$:
#
# $$\frac{\partial h_t}{\partial h_k} = \prod_{j=k+1}^{t} \frac{\partial h_j}{\partial h_{j-1}}
#   = \prod_{j=k+1}^{t} \operatorname{diag}(1 - h_j^2)\, W_{hh},
# \qquad
# \Big\lVert \frac{\partial h_t}{\partial h_k} \Big\rVert \le \big(\gamma\, \sigma_{\max}(W_{hh})\big)^{t-k},$$
#
# where $\gamma \le 1$ bounds the slope $1 - h^2$ of $\tanh$. A product of $t - k$ matrices
# shrinks or grows geometrically: long-range gradients **vanish** (the network cannot learn
# long dependencies) or **explode** (one update throws the weights away). This notebook
# measures the product, relates its rate to the eigenvalues and singular values of $W_{hh}$,
# compares the tanh RNN with the LSTM and GRU, and shows what clipping does.

# %%
import matplotlib.pyplot as plt
import numpy as np

import seqgrad as sg
import seqgrad.viz
from seqgrad import bptt, data, exercises, nn
from seqgrad.nn import functional as F

sg.set_default_dtype(np.float64)
np.set_printoptions(precision=4, suppress=True)

# %% [markdown]
# ## Eigenvalues and singular values of $W_{hh}$
#
# Without the $\tanh$, $h_t = W h_{t-1}$ and $\partial h_t / \partial h_k = W^{t-k}$. Two numbers
# describe how $\lVert W^n \rVert$ behaves:
#
# - the **spectral radius** $\rho(W) = \max_i |\lambda_i|$ sets the long-run rate,
#   $\lVert W^n \rVert^{1/n} \to \rho(W)$;
# - the **largest singular value** $\sigma_{\max}(W) = \lVert W \rVert_2 \ge \rho(W)$ bounds every
#   step, $\lVert W^n \rVert \le \sigma_{\max}^n$.
#
# PyTorch's (and seqgrad's) default initialisation draws $W_{hh}$ from $U(-1/\sqrt H, 1/\sqrt H)$,
# a variance of $1/(3H)$; by the circular law its eigenvalues fill a disc of radius
# $\sqrt{H \cdot 1/(3H)} = 1/\sqrt 3 \approx 0.58$.

# %%
sg.manual_seed(0)
W = nn.RNN(1, 128).weight_hh_l0.data
eigenvalues = np.linalg.eigvals(W)
singular_values = np.linalg.svd(W, compute_uv=False)
rho, sigma_max = np.abs(eigenvalues).max(), singular_values.max()
print(f"H = 128, default init: spectral radius {rho:.3f} (1/sqrt(3) = {1 / np.sqrt(3):.3f}), "
      f"largest singular value {sigma_max:.3f}")

powers = np.arange(0, 41)
norms = [np.linalg.norm(np.linalg.matrix_power(W, n), 2) for n in powers]

fig, (disc, decay) = plt.subplots(1, 2, figsize=(11, 4.2), gridspec_kw={"width_ratios": [1, 1.4]})
circle = np.linspace(0, 2 * np.pi, 200)
disc.plot(np.cos(circle), np.sin(circle), color="grey", lw=1, label="unit circle")
disc.plot(rho * np.cos(circle), rho * np.sin(circle), color="tab:red", lw=1, ls="--", label=r"$|\lambda| = \rho$")
disc.scatter(eigenvalues.real, eigenvalues.imag, s=8, label="eigenvalues")
disc.set(aspect="equal", xlabel="real", ylabel="imaginary", title=r"Eigenvalues of $W_{hh}$")
disc.legend(loc="upper right", fontsize=8)

decay.semilogy(powers, norms, "o-", ms=3, label=r"$\|W^n\|_2$")
decay.semilogy(powers, rho ** powers, "--", label=r"$\rho^n$")
decay.semilogy(powers, sigma_max ** powers, ":", label=r"$\sigma_{\max}^n$")
decay.set(xlabel="n (steps back in time)", title="Linear recurrence: the gradient after n steps")
decay.legend()
fig.tight_layout()
plt.show()

# %% [markdown]
# $\lVert W^n \rVert$ follows $\rho^n$ (after a short transient), not the pessimistic
# $\sigma_{\max}^n$. At the default initialisation gradients therefore vanish like $0.58^n$:
# about one decade every four steps, even before $\tanh$ shrinks them further.
#
# ## With the tanh: measuring $\lVert \partial h_T / \partial h_k \rVert$
#
# `bptt.jacobian_norms(loss)` measures the spectral norm of $\partial h_T / \partial h_k$ for every
# step $k$ of every recurrent layer in the graph (one backward pass per hidden unit through
# the retained graph). We set $W_{hh} = s\,Q$ with $Q$ a random orthogonal matrix, so every
# singular value equals $s$, and watch the product for several $s$.
# The $\tanh$ slope $1 - h^2 \le 1$ can only shrink it: for $s < 1$ it must vanish. For $s > 1$
# it *may* grow: each step multiplies by $s$ and by the slopes, so it grows only where $s$
# outweighs the slopes, and saturated states ($|h| \to 1$, slope $\to 0$) hold it back. Beside
# each norm we print its growth per step, $\lVert \partial h_T/\partial h_0 \rVert^{1/T}$, and
# the mean slope of the states.

# %%
H, T, B = 32, 60, 8
rng = np.random.default_rng(0)
Q, _ = np.linalg.qr(rng.normal(size=(H, H)))
inputs = sg.Tensor(rng.normal(size=(T, B, 4)))

flows = {}
for scale in (0.5, 0.9, 1.2, 1.5, 2.0, 4.0):
    sg.manual_seed(0)
    rnn = nn.RNN(4, H)
    rnn.weight_hh_l0.data = scale * Q
    output, _ = rnn(inputs)
    loss = (output[-1] ** 2).sum()
    flows[f"s = {scale}"] = bptt.jacobian_norms(loss)     # before backward: it needs the saved values
    saturated = np.mean(np.abs(output.data) > 0.95)
    slope = np.mean(1 - output.data ** 2)
    norm = flows[f"s = {scale}"][("RNN", 0, "forward")][0]
    print(f"s = {scale}: {saturated:5.1%} of states saturated, mean slope {slope:.2f}; "
          f"||dh_T/dh_0|| = {norm:.2e}, growth per step {norm ** (1 / T):.3f}")

ax = seqgrad.viz.plot_gradient_flow(flows, ylabel=r"$\|\partial h_T / \partial h_k\|_2$",
                                    title=r"tanh RNN, $W_{hh} = s\,Q$ ($Q$ orthogonal)")
ax.figure.set_size_inches(8, 4.2)
plt.show()

# %% [markdown]
# Below $s = 1$ the norm falls geometrically, faster than $s^n$ because of the $\tanh$ slope.
# Above 1 it does **not** always explode: at $s = 1.2$ the slopes (about 0.8 on average) cancel
# the stretch, and after 60 steps $\lVert \partial h_T/\partial h_0 \rVert$ is still about 1,
# neither vanishing nor exploding. From $s = 1.5$ the stretch wins and the norm grows
# geometrically, by eleven orders of magnitude over 60 steps at $s = 4$, even though more than
# half of the states are saturated there. So $\sigma_{\max} > 1$ is *necessary* for explosion,
# not sufficient; Pascanu, Mikolov & Bengio (2013) state it with the bound $\gamma$ on the
# nonlinearity's slope ($\gamma = 1$ for tanh): $\sigma_{\max} > 1/\gamma$ is necessary for
# explosion, and $\sigma_{\max} < 1/\gamma$ sufficient for vanishing. Where between the two a network
# sits depends on how far its states are from saturation, that is, on the inputs and the biases
# as well as on $W_{hh}$.
#
# ## The gradient-flow plot: tanh RNN, LSTM, GRU
#
# What reaches step $k$ of a real network is $\partial L / \partial h_k$. `bptt.hidden_grad_norms(loss)`
# reads $\lVert \partial L / \partial h_k \rVert$ for every step from **one** ordinary backward pass,
# run inside `seqgrad.viz.record()` (an observer that keeps the norm of the gradient at every
# node backward visits; a plain backward computes no norms). The loss depends on the
# last output only, so everything at distance $T - k$ had to travel back $T - k$ steps.
#
# The LSTM's cell state has an additive path, $\partial c_t / \partial c_{t-1} = \operatorname{diag}(f_t)$,
# but at initialisation $f_t = \sigma(\text{small}) \approx 0.5$: the highway is only as good as the
# forget gate. Setting the forget-gate bias to a positive value
# (`nn.init.forget_gate_bias_`; Gers et al. 2000, Jozefowicz et al. 2015) opens it.

# %%
T = 80
inputs = sg.Tensor(np.random.default_rng(1).normal(size=(T, B, 4)))

def gradient_flow(layer):
    output, _ = layer(inputs)
    loss = (output[-1] ** 2).sum()
    with seqgrad.viz.record():
        loss.backward()
    return bptt.hidden_grad_norms(loss)

cells = {}
for label, make in (("tanh RNN", nn.RNN), ("GRU", nn.GRU), ("LSTM", nn.LSTM)):
    sg.manual_seed(0)
    cells[label] = gradient_flow(make(4, H))
sg.manual_seed(0)
lstm = nn.LSTM(4, H)
nn.init.forget_gate_bias_(lstm.cell(0), 3.0)          # f = sigma(3) = 0.95 at the start
cells["LSTM, forget bias 3"] = gradient_flow(lstm)

for label, flow in cells.items():
    norms = next(iter(flow.values()))
    print(f"{label:20s} ||dL/dh_k|| at distance 0: {norms[-1]:.2e}, 40: {norms[-41]:.2e}, 79: {norms[0]:.2e}")

ax = seqgrad.viz.plot_gradient_flow(cells, title="At initialisation: gradient reaching step k from a loss at T")
ax.figure.set_size_inches(8, 4.2)
plt.show()


# %% [markdown]
# At the default initialisation all three vanish at a similar geometric rate; the gated cells'
# advantage is not automatic. With the forget gate held open the LSTM carries gradient across
# all 80 steps with almost no loss. Training does the same thing when the task needs it: the
# forget gates of the units that store information move towards 1.
#
# ## Exploding gradients and clipping
#
# The other failure is a gradient so large that one update throws the weights far away. It
# happens at *cliffs*: regions where the loss changes abruptly with a weight because the
# recurrence changes regime. A one-unit network
# $h_t = \sigma(w\, h_{t-1} - 2.5)$, $h_0 = 0.5$, run for 50 steps, with loss $(h_{50} - 0.7)^2$
# has one at $w \approx 5$. This is adapted from the one-unit example of Pascanu et al. (2013),
# which applies the sigmoid inside the recurrence, $x_t = w\,\sigma(x_{t-1}) + b$; ours applies it
# outside, so that $h$ stays in $(0, 1)$. Both have the same bifurcation: the loss jumps
# where a small change of $w$ switches the recurrence from one fixed point to another. We evaluate the loss and
# $\partial L / \partial w$ for 2,000 values of $w$ at once (the batch is the grid of $w$).

# %%
def one_unit_loss(w, steps=50):
    hidden = sg.ones_like(w) * 0.5
    for _ in range(steps):
        hidden = (w * hidden - 2.5).sigmoid()
    return (hidden - 0.7) ** 2

grid = sg.Tensor(np.linspace(3.0, 7.0, 2001), requires_grad=True)
losses = one_unit_loss(grid)
losses.sum().backward()                   # each loss depends on its own w: grid.grad[i] = dL_i/dw_i

start = sg.Tensor([4.99995], requires_grad=True)   # a point on the cliff face
one_unit_loss(start).sum().backward()
learning_rate, max_norm = 0.02, 1.0
raw_step = -learning_rate * start.grad[0]
clipped_grad = start.grad.copy()
nn.utils.clip_grad_norm_([start], max_norm)         # scales start.grad in place: g * min(1, c / ||g||)
clipped_step = -learning_rate * start.grad[0]
print(f"at w = {start.data[0]}: dL/dw = {clipped_grad[0]:.4g}")
print(f"plain SGD step {raw_step:+.3g} (to w = {start.data[0] + raw_step:.1f});  "
      f"clipped to norm {max_norm}: {clipped_step:+.3g}")

fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 5), sharex=True)
top.plot(grid.data, losses.data)
top.annotate("", xy=(start.data[0] + clipped_step, 0.02), xytext=(start.data[0], 0.02),
             arrowprops={"arrowstyle": "->", "color": "tab:green", "lw": 2})
top.annotate(f"plain step lands at w = {start.data[0] + raw_step:.0f}", xy=(6.95, 0.17), xytext=(5.3, 0.2),
             arrowprops={"arrowstyle": "->", "color": "tab:red", "lw": 2}, color="tab:red")
top.text(5.08, 0.04, "clipped step", color="tab:green")
top.set(ylabel="loss", title=r"$h_t = \sigma(w\,h_{t-1} - 2.5)$, 50 steps: a cliff in the loss")
bottom.semilogy(grid.data, np.abs(grid.grad))
bottom.set(xlabel="w", ylabel=r"$|\partial L / \partial w|$")
fig.tight_layout()
plt.show()

# %% [markdown]
# Clipping by norm rescales all gradients together,
#
# $$g \leftarrow g \cdot \min\Big(1, \frac{c}{\lVert g \rVert + 10^{-6}}\Big), \qquad
#   \lVert g \rVert = \sqrt{\textstyle\sum_p \lVert g_p \rVert^2},$$
#
# which keeps the direction. With **plain SGD** that caps the length of each step at
# $\text{lr} \cdot c$, as in the plot above. With momentum $\mu$ (the training below uses
# $\mu = 0.9$) the step is $\text{lr}$ times the velocity, a running sum of clipped gradients,
# so one step can reach $\text{lr} \cdot c / (1 - \mu) = 10\,\text{lr} \cdot c$ after a run of
# large gradients: clipping bounds what each gradient adds, not the step itself.
# `nn.utils.clip_grad_norm_(parameters, max_norm)` does it in place between `backward()` and
# `optimizer.step()` and returns the norm *before* clipping (so it also serves to monitor).
#
# On a real network: a tanh RNN whose $W_{hh}$ starts in the exploding regime ($2Q$), trained
# to predict the next value of sine waves, with the same SGD settings, with and without clipping.

# %%
sines = data.sine_series(64, 61, frequency=(0.02, 0.08), seed=0, dtype=np.float64)   # (61, 64, 1)
sine_inputs, sine_targets = sines[:-1], sines[1:]

runs = {}
for label, max_norm in (("no clipping", float("inf")), ("clip_grad_norm_ to 1", 1.0)):
    sg.manual_seed(0)
    rnn, head = nn.RNN(1, H), nn.Linear(H, 1)
    rnn.weight_hh_l0.data = 2.0 * Q
    parameters = list(rnn.parameters()) + list(head.parameters())
    optimizer = sg.optim.SGD(parameters, lr=0.1, momentum=0.9)
    history = []
    with np.errstate(all="ignore"):                     # the unclipped run overflows
        for step in range(150):
            output, _ = rnn(sine_inputs)
            loss = F.mse_loss(head(output), sine_targets)
            optimizer.zero_grad()
            loss.backward()
            norm = nn.utils.clip_grad_norm_(parameters, max_norm)   # max_norm = inf only measures
            if not np.isfinite(norm):   # (in float32 this run overflows; stop rather than step on inf)
                print(f"{label}: the gradient norm is {norm} at update {step}; training has diverged")
                break
            optimizer.step()
            history.append((loss.item(), norm))
    runs[label] = np.array(history)
    print(f"{label}: {len(history)} updates, last loss {history[-1][0]:.3g}, largest gradient norm "
          f"{max(n for _, n in history):.3g}")

fig, (loss_ax, norm_ax) = plt.subplots(1, 2, figsize=(11, 3.6))
for label, history in runs.items():
    loss_ax.semilogy(history[:, 0], label=label)
    norm_ax.semilogy(history[:, 1], label=label)
norm_ax.axhline(1.0, color="grey", ls=":", label="max_norm")
loss_ax.set(xlabel="update", ylabel="MSE", title="Training loss")
norm_ax.set(xlabel="update", ylabel=r"$\|g\|$ before clipping", title="Gradient norm")
loss_ax.legend()
norm_ax.legend()
fig.tight_layout()
plt.show()

# %% [markdown]
# Without clipping, the first large gradients (momentum adds them up) throw the weights into a
# region where the loss is eight orders of magnitude above its start, and 150 updates do not
# bring it back; with clipping the same learning rate trains. Clipping treats the symptom of
# explosion; the vanishing side needs architecture (gates with a forget path held open) or
# initialisation, as above.


# %% [markdown]
# ## Exercises
#
# Each exercise prints what it asks; fill in the answer and run the cell: `exercises.check`
# says whether it is right, and if not, what is wrong and where to look (`exercises.hint(name)`
# for more). Answers are numbers or numpy functions; the checks compare them with the library.

# %%
exercises.show("linear_decay")
prediction = None   # your answer: a number
exercises.check("linear_decay", prediction)

# %%
exercises.show("clip_grad_norm")


def clip(grads, max_norm):
    """Your answer: (list of clipped arrays, total norm before clipping)."""
    ...


exercises.check("clip_grad_norm", clip)
