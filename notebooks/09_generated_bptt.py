# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 9 · The generated BPTT code
#
# Notebook 2 derived backpropagation through time for the Elman RNN by hand and checked that the
# engine, walking the unrolled graph op by op, computes the same gradients. This notebook reads
# the code seqgrad *generates* for the same cell: `seqgrad.compiler` records one step of the cell
# as a list of primitive applications, applies each primitive's own gradient rule to that list
# (the rules the engine runs), and writes out two Python functions, a forward loop over time and a
# backward loop from the last step to the first. Nothing in it is written by hand for the Elman
# cell; the same machinery compiles LSTM, GRU and your own cells.
#
# The text printed below is exactly the text that runs: it is compiled with `compile()` and `exec`.

# %%
import numpy as np

import seqgrad as sg
from seqgrad import exercises, nn, ops

np.set_printoptions(precision=4, suppress=True)
D, H, T = 3, 5, 40

# %% [markdown]
# ## One step, traced
#
# `trace` runs the cell's `step` once on values it records. The listing has one primitive per
# line, shapes in the types, and the names from the cell's own code (`pre_activation`, `hidden`).
# The input projection $W_{ih} x_t + b_{ih} + b_{hh}$ of every step is one matmul before the loop
# (`project_inputs`), so the step itself is $h_t = \tanh(x_t + W_{hh} h_{t-1})$ where $x_t$ is
# already projected.

# %%
cell = nn.RNNCell(D, H, dtype=np.float64)
program = sg.compiler.trace(cell, batch_size=1, dtype=np.float64)
print(program)

# %% [markdown]
# ## The generated forward and BPTT
#
# `seqgrad.compiler.source(cell, ...)` prints both functions (`seqgrad codegen --cell rnn` does
# the same from the command line). Read the backward loop against notebook 2's recursion,
#
# $$\frac{\partial L}{\partial h_t} = g_t + W_{hh}^\top \delta_{t+1}, \qquad
#   \delta_t = \operatorname{diag}(1 - h_t^2)\,\frac{\partial L}{\partial h_t}, \qquad
#   \frac{\partial L}{\partial W_{hh}} = \sum_t \delta_t\, h_{t-1}^\top :$$
#
# - `d_hidden = d_output + d_hidden_next` is $\partial L/\partial h_t$: the direct gradient $g_t$
#   plus what came back from step $t+1$;
# - the `tanh` rule's lines ($1 - h^2$, then the product) make $\delta_t$, written straight into
#   the slot of step $t$ of a $(T, B, H)$ buffer;
# - `linear`'s rule sends $\delta_t W_{hh}$ to $h_{t-1}$ (the `matmul` into `d_hidden_prev`, carried
#   to the next iteration);
# - $\partial L/\partial W_{hh}$ is not summed step by step: after the loop it is one tall product
#   of all the $\delta_t$ against all the $h_{t-1}$, and $W_{ih}$'s gradient comes from the
#   projection's own backward, also one product over all steps.

# %%
print(sg.compiler.source(cell, batch_size=1, steps=T, dtype=np.float64))

# %% [markdown]
# ## Notebook 2's hand derivation
#
# The same function as in notebook 2: the forward, then the $\delta$ recursion backwards, in
# plain numpy on one sequence, with $\ell_t = \tfrac12 \lVert h_t - y_t \rVert^2$.

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


# %% [markdown]
# ## The compiled layer computes the same gradients
#
# `seqgrad.compile(layer)` runs the layer with the generated code above; on the tape the whole
# sequence is one node whose gradient rule is the generated backward. The layer's two biases
# add into one, so each gets the hand derivation's $\partial L/\partial b$.

# %%
rng = np.random.default_rng(0)
weights = {"W_ih": rng.normal(0, 0.5, (H, D)), "W_hh": rng.normal(0, 0.5, (H, H)), "b": rng.normal(0, 0.1, H)}
inputs, goals = rng.normal(size=(T, D)), rng.uniform(-0.5, 0.5, (T, H))

layer = nn.RNN(D, H, dtype=np.float64)
layer.load_state_dict({"weight_ih_l0": weights["W_ih"], "weight_hh_l0": weights["W_hh"],
                       "bias_ih_l0": weights["b"], "bias_hh_l0": np.zeros(H)})
compiled = sg.compile(layer)
output, _ = compiled(sg.Tensor(inputs[:, None, :]))          # (T, B=1, H)
loss = 0.5 * ((output - goals[:, None, :]) ** 2).sum()
loss.backward()

_, _, hand = elman_bptt_by_hand(weights["W_ih"], weights["W_hh"], weights["b"], list(inputs), list(goals),
                                np.zeros(H))
pairs = {"W_ih": layer.weight_ih_l0, "W_hh": layer.weight_hh_l0, "b": layer.bias_ih_l0}
for name, param in pairs.items():
    relative = np.abs(param.grad - hand[name]).max() / np.abs(hand[name]).max()
    print(f"dL/d{name:4s}: generated BPTT against the hand derivation, largest relative difference {relative:.1e}")
    assert relative < 1e-12
np.testing.assert_array_equal(layer.bias_hh_l0.grad, layer.bias_ih_l0.grad)

# %% [markdown]
# And against the eager layer, which unrolls the same cell into T steps of recorded ops and lets
# the engine walk them: the same numbers again.

# %%
compiled_grads = {name: param.grad.copy() for name, param in layer.named_parameters()}
layer.zero_grad()
eager_output, _ = layer(sg.Tensor(inputs[:, None, :]))
(0.5 * ((eager_output - goals[:, None, :]) ** 2).sum()).backward()
for name, param in layer.named_parameters():
    relative = np.abs(param.grad - compiled_grads[name]).max() / np.abs(param.grad).max()
    print(f"{name:13s} compiled vs eager: largest relative difference {relative:.1e}")

# %% [markdown]
# ## One node on the tape
#
# Drawn, the compiled layer is one node (double border) with the gradient norm that reached it;
# the eager layer is T steps of ops. Use the eager layer to look inside the unrolled graph, and
# the compiled one to train: `seqgrad demo` and `seqgrad train` compile their LSTM unless given
# `--eager`.

# %%
output, _ = compiled(sg.Tensor(inputs[:, None, :]))
loss = 0.5 * ((output - goals[:, None, :]) ** 2).sum()
loss.backward()
sg.viz.draw(loss, level="layer")


# %% [markdown]
# ## Exercises
#
# Each exercise prints what it asks; fill in the answer and run the cell: `exercises.check`
# says whether it is right, and if not, what is wrong and where to look (`exercises.hint(name)`
# for more). The checks compare your answer with the generated code itself.
#
# The first: the body of the backward loop printed above, for the tanh cell, in your own numpy.

# %%
exercises.show("generated_tanh_backward")


def step_backward(d_hidden, hidden, weight_hh):
    """Your answer: (d_pre_activation, d_hidden_prev) from dL/dh_t, the saved h_t and W_hh; rows are the batch."""
    ...


exercises.check("generated_tanh_backward", step_backward)

# %% [markdown]
# The second: what the forward keeps for the backward. Predict, then print
# `sg.compiler.source(nn.RNNCell(3, 5), batch_size=4, steps=7)` to see.

# %%
exercises.show("saved_buffer_shapes")

saved_shapes = ...  # your answer: {"hidden_states": (...), "flat": (...)}

exercises.check("saved_buffer_shapes", saved_shapes)

# %% [markdown]
# The third: a cell the compiler refuses. The trace runs `step` once on values that refuse to be
# read, so a Python `if` on them fails with a message naming the line; the eager layer still runs
# the cell, but the generated code would follow one branch for every input.

# %%
class BranchingLeakyCell(nn.RNNCell):
    """Meant as h_t = max(a_t, 0.1 a_t) (a leaky ReLU), written with a branch on the values."""

    def step(self, x, state, recurrent_mask=None):
        (hidden,) = state
        pre_activation = self._recurrent(hidden, x)       # a_t = x_t (projected) + h_{t-1} W_hhᵀ
        if (pre_activation.data > 0).all():
            hidden = pre_activation
        else:
            hidden = ops.maximum(pre_activation, 0.1 * pre_activation)
        return hidden, (hidden,)


try:
    sg.compiler.trace(BranchingLeakyCell(D, H, dtype=np.float64), batch_size=2, dtype=np.float64)
except sg.compiler.TraceError as error:
    print(error)

# %%
exercises.show("traceable_leaky_cell")


class LeakyCell(nn.RNNCell):
    """Your answer: h_t = max(a_t, 0.1 a_t) with seqgrad ops only, no branch on the values."""

    def step(self, x, state, recurrent_mask=None):
        (hidden,) = state
        pre_activation = self._recurrent(hidden, x)
        ...  # your answer: hidden = ..., then return hidden, (hidden,)


exercises.check("traceable_leaky_cell", LeakyCell)
