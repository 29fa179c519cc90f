# %% [markdown]
# # 2 · An Elman RNN from primitives, and BPTT by hand
#
# The Elman RNN carries one hidden state through time:
#
# $$a_t = W_{ih}\, x_t + W_{hh}\, h_{t-1} + b, \qquad h_t = \tanh(a_t), \qquad h_0 = 0.$$
#
# We write it with three primitives (`matmul`, `add`, `tanh`) on the worked example of
# docs/EQUATIONS.md, draw its unrolled graph, then derive backpropagation through time (BPTT) by
# hand in numpy and check that the engine, which knows nothing about time, computes the
# same gradients to float64 precision.

# %%
import numpy as np

import seqgrad as sg
import seqgrad.viz
from seqgrad import exercises, nn

sg.set_default_dtype(np.float64)
np.set_printoptions(precision=8, suppress=True)


# %% [markdown]
# ## The worked example
#
# $W_{ih} = \begin{pmatrix} 0.4 & -0.1 \\ 0.2 & 0.5 \end{pmatrix}$,
# $W_{hh} = \begin{pmatrix} 0.3 & 0.1 \\ -0.2 & 0.4 \end{pmatrix}$, $b = (0.1, -0.2)$,
# inputs $x_1 = (1, 0.5)$, $x_2 = (0.2, 0.8)$, $x_3 = (-0.4, 1)$. Each step runs inside
# `sg.scope("cell", step=t)`, which is all the graph drawer needs to group the unrolled graph
# by time. `retain_grad()` asks backward to keep $\partial L/\partial h_t$ on each hidden state.
# The weights are `nn.Parameter`s (Tensors that always require grad), named for the drawings.

# %%
def parameter(values, name):
    # nn.Parameter: a Tensor that always requires grad; drawings show it as a weight (3-d box).
    param = nn.Parameter(np.array(values))
    param.name = name
    return param


W_ih = parameter([[0.4, -0.1], [0.2, 0.5]], "W_ih")
W_hh = parameter([[0.3, 0.1], [-0.2, 0.4]], "W_hh")
b = parameter([0.1, -0.2], "b")
xs = [sg.Tensor(values, name=f"x_{t + 1}") for t, values in enumerate([[1.0, 0.5], [0.2, 0.8], [-0.4, 1.0]])]

h = sg.Tensor([0.0, 0.0], name="h_0")
hidden_states = []
with sg.scope("elman", layer=0):
    for t, x in enumerate(xs):
        with sg.scope("cell", step=t + 1):
            h = (W_ih @ x + W_hh @ h + b).tanh()
        h.retain_grad()
        hidden_states.append(h)

reference = [[0.42189901, 0.24491866], [0.24591629, 0.24828814], [-0.06131927, 0.26374766]]
for t, (h, expected) in enumerate(zip(hidden_states, reference), start=1):
    print(f"h_{t} = {h.data}   docs/EQUATIONS.md: {np.array(expected)}")

# %% [markdown]
# `nn.RNN` is the same three primitives (its cell adds a second bias $b_{hh}$, set to zero
# here, and takes batches as $x W_{ih}^\top$). Loaded with these weights it gives the same
# states:

# %%
rnn = nn.RNN(input_size=2, hidden_size=2)
rnn.load_state_dict({"weight_ih_l0": W_ih.data, "weight_hh_l0": W_hh.data,
                     "bias_ih_l0": b.data, "bias_hh_l0": np.zeros(2)})
output, h_n = rnn(sg.Tensor(np.stack([x.data for x in xs])))     # unbatched input (T, D)
print(output.data)
print("same as the hand-written loop:", np.allclose(output.data, np.stack([h.data for h in hidden_states])))

# %% [markdown]
# ## A loss, and the unrolled graph
#
# Each step is scored against a target, $\ell_t = \tfrac12 \lVert h_t - y_t \rVert^2$, and
# $L = \sum_t \ell_t$. `sg.viz.draw(loss, level="cell")` collapses each step into one node:
# the hidden-state path runs left to right (thick edges), and each parameter is drawn
# **once**, with an edge to every step that uses it. Before any backward the drawing says that
# no gradients exist yet.

# %%
targets = [sg.Tensor([0.5, 0.5], name=f"y_{t + 1}") for t in range(3)]
with sg.scope("loss"):
    step_losses = [0.5 * ((h - y) ** 2).sum() for h, y in zip(hidden_states, targets)]
    loss = sg.stack(step_losses).sum()
print("L =", loss.item())
sg.viz.draw(loss, level="cell")


# %% [markdown]
# ## BPTT by hand
#
# Let $g_t = \partial \ell_t / \partial h_t = h_t - y_t$ be the direct gradient at step $t$.
# The hidden state $h_t$ affects $L$ through $\ell_t$ and through $a_{t+1} = W_{hh} h_t + \dots$,
# so, writing $\delta_t = \partial L / \partial a_t$:
#
# $$\frac{\partial L}{\partial h_t} = g_t + W_{hh}^\top \delta_{t+1}, \qquad
#   \delta_t = \operatorname{diag}(1 - h_t^2)\,\frac{\partial L}{\partial h_t}, \qquad \delta_{T+1} = 0.$$
#
# Unrolling the recursion, $\delta_t = \sum_{s \ge t} \Big[\prod_{j=t}^{s-1}
# \operatorname{diag}(1 - h_j^2) W_{hh}^\top\Big] \operatorname{diag}(1 - h_s^2)\, g_s$: the
# gradient from step $s$ reaches step $t$ through $s - t$ factors
# $\operatorname{diag}(1 - h^2) W_{hh}^\top$. (Notebook 3 is about that product.)
# The weights are shared by every step, so their gradients are sums over steps:
#
# $$\frac{\partial L}{\partial W_{hh}} = \sum_t \delta_t\, h_{t-1}^\top, \qquad
#   \frac{\partial L}{\partial W_{ih}} = \sum_t \delta_t\, x_t^\top, \qquad
#   \frac{\partial L}{\partial b} = \sum_t \delta_t, \qquad
#   \frac{\partial L}{\partial h_0} = W_{hh}^\top \delta_1 .$$

# %%
def elman_bptt_by_hand(W_ih, W_hh, b, xs, ys, h0):
    # Forward, then the delta recursion backwards, in plain numpy. xs, ys: lists of (D,), (H,).
    hs = [h0]
    for x in xs:
        hs.append(np.tanh(W_ih @ x + W_hh @ hs[-1] + b))
    grads = {"W_ih": np.zeros_like(W_ih), "W_hh": np.zeros_like(W_hh), "b": np.zeros_like(b)}
    dL_dh = [None] * len(hs)
    from_next_step = np.zeros_like(h0)                 # W_hh^T delta_{t+1}; zero after the last step
    for t in range(len(xs), 0, -1):
        dL_dh[t] = (hs[t] - ys[t - 1]) + from_next_step
        delta = (1 - hs[t] ** 2) * dL_dh[t]
        grads["W_ih"] += np.outer(delta, xs[t - 1])
        grads["W_hh"] += np.outer(delta, hs[t - 1])
        grads["b"] += delta
        from_next_step = W_hh.T @ delta
    dL_dh[0] = from_next_step
    return hs, dL_dh, grads


hs, dL_dh, hand = elman_bptt_by_hand(W_ih.data, W_hh.data, b.data, [x.data for x in xs],
                                      [y.data for y in targets], np.zeros(2))
for t in range(1, 4):
    print(f"dL/dh_{t} by hand = {dL_dh[t]}")

# %% [markdown]
# ## BPTT by the engine
#
# The engine has no notion of time: `loss.backward()` walks the tape backwards, and each
# node applies its own vjp. `tanh` multiplies by $1 - h_t^2$, `matmul` sends
# $W_{hh}^\top \delta_t$ to $h_{t-1}$ and $\delta_t h_{t-1}^\top$ to $W_{hh}$, and since
# $W_{hh}$ is one leaf used by three nodes, its three contributions are summed. That *is*
# the recursion above.

# %%
with sg.viz.record():   # also keep each node's gradient norm, for the drawing below
    loss.backward()

for t, h in enumerate(hidden_states, start=1):
    print(f"dL/dh_{t}: engine {h.grad}   |engine - hand| = {np.abs(h.grad - dL_dh[t]).max():.1e}")
for name, param in (("W_ih", W_ih), ("W_hh", W_hh), ("b", b)):
    print(f"dL/d{name:4s} |engine - hand| = {np.abs(param.grad - hand[name]).max():.1e}")
print("\ndL/dW_hh =\n", W_hh.grad)

# %% [markdown]
# After backward (run inside `sg.viz.record()`, an observer that keeps gradient norms; a plain
# backward computes none), the same drawing at the op level shows every primitive with the norm
# of the gradient that passed through it, coloured on a log scale: the `tanh` of each step, the
# `matmul` nodes that carry the gradient back to $h_{t-1}$, and the three edges from each
# shared weight.

# %%
sg.viz.draw(loss)

# %% [markdown]
# ## Not just three steps
#
# The same comparison on random weights, $D = 3$ inputs, $H = 5$ units and $T = 40$ steps.
# The results agree to the last bit: the engine performs the same floating-point operations
# as the hand-written recursion, in the same order (the contributions to $\partial L/\partial W_{hh}$
# arrive from the last step to the first). Any other order would differ by rounding, about $10^{-16}$.

# %%
rng = np.random.default_rng(0)
D, H, T = 3, 5, 40
weights = {"W_ih": rng.normal(0, 0.5, (H, D)), "W_hh": rng.normal(0, 0.5, (H, H)), "b": rng.normal(0, 0.1, H)}
inputs, goals = rng.normal(size=(T, D)), rng.uniform(-0.5, 0.5, (T, H))

params = {name: sg.Tensor(value.copy(), requires_grad=True) for name, value in weights.items()}
h = sg.zeros(H)
loss = sg.zeros(())
for t in range(T):
    h = (params["W_ih"] @ inputs[t] + params["W_hh"] @ h + params["b"]).tanh()
    loss = loss + 0.5 * ((h - goals[t]) ** 2).sum()
loss.backward()

_, _, hand = elman_bptt_by_hand(weights["W_ih"], weights["W_hh"], weights["b"], list(inputs), list(goals),
                                np.zeros(H))
for name, param in params.items():
    relative = np.abs(param.grad - hand[name]).max() / np.abs(hand[name]).max()
    print(f"dL/d{name:4s}: largest relative difference {relative:.1e}")


# %% [markdown]
# ## Exercises
#
# Each exercise prints what it asks; fill in the answer and run the cell: `exercises.check`
# says whether it is right, and if not, what is wrong and where to look (`exercises.hint(name)`
# for more). Answers are numbers or numpy functions; the checks compare them with the library.

# %%
exercises.show("elman_jacobian")


def jacobian(weight_hh, hidden):
    """Your answer: the (H, H) Jacobian dh_t/dh_(t-1), given W_hh and h_t."""
    ...


exercises.check("elman_jacobian", jacobian)

# %%
exercises.show("elman_bptt")


def weight_grad(weight_ih, weight_hh, inputs, upstream):
    """Your answer: dL/dW_hh by the delta recursion, in numpy."""
    ...


exercises.check("elman_bptt", weight_grad)
