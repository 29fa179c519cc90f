# %% [markdown]
# # 1 · The engine: tensors, the tape, backward, gradcheck
#
# seqgrad is reverse-mode automatic differentiation on numpy. Every recurrent layer in the
# later notebooks is built from the few primitive ops shown here, and backpropagation
# through time is nothing more than the backward pass of this notebook run over a longer
# tape. We look at:
#
# 1. tensors and primitive ops (each op's forward and its vector-Jacobian product side by side);
# 2. the tape: nodes, sequence numbers, scopes;
# 3. backward, gradient accumulation, `retain_graph`, `no_grad` and `detach`;
# 4. `gradcheck`, including what a wrong gradient rule looks like;
# 5. double backward, and a 10,000-step chain.

# %%
import inspect
import time

import numpy as np

import seqgrad as sg
from seqgrad import exercises

# Finite differences (gradcheck) need float64; seqgrad's default for Python numbers is float32.
sg.set_default_dtype(np.float64)
sg.manual_seed(0)
np.set_printoptions(precision=5, suppress=True)

# %% [markdown]
# ## Tensors
#
# A `Tensor` holds a numpy array in `.data`. With `requires_grad=True` it is a *leaf* we
# differentiate with respect to: after `backward()` its `.grad` holds $\partial L/\partial(\text{tensor})$,
# an array of the same shape. Integer tensors hold indices and targets; they cannot require grad.

# %%
x = sg.Tensor([1.0, -2.0, 0.5], requires_grad=True, name="x")
W = sg.Tensor([[0.3, -0.1, 0.2],
               [0.5, 0.4, -0.6]], requires_grad=True, name="W")
print(x)
print("shape", W.shape, "dtype", W.dtype, "leaf:", W.is_leaf, "grad:", W.grad)
print(type(W.data))

# %% [markdown]
# ## A primitive is a forward and its vector-Jacobian product, side by side
#
# For $y = f(x)$, reverse mode never builds the Jacobian $J = \partial y/\partial x$. Each op
# only knows how to pull an output gradient $\bar y = \partial L/\partial y$ back to its inputs:
#
# $$\bar x = J^\top \bar y, \qquad \bar x_i = \sum_j \bar y_j \,\frac{\partial y_j}{\partial x_i}.$$
#
# For an element-wise op $J$ is diagonal, so the vjp is a product: for $\tanh$,
# $\bar x = \bar y \odot (1 - y^2)$, which needs only the saved output $y$. For
# $C = AB$: $\bar A = \bar C B^\top$, $\bar B = A^\top \bar C$. seqgrad has about thirty such
# primitives; everything else (softmax cross-entropy, LSTM gates, ...) is composed from them.

# %%
for name in ("tanh", "sigmoid", "exp", "log", "matmul", "sum"):
    print(f"{name:8s} {sg.ops.REGISTRY[name].doc}")
print()
print("the rule itself:", inspect.getsource(sg.ops.REGISTRY["tanh"].vjp).strip())


# %% [markdown]
# ## The tape: one node per op, numbered in creation order
#
# Applying an op to a tensor that requires grad records a `Node`: the op, one *edge* per
# input (the `Node` that produced it, the leaf `Tensor` itself, or nothing for a constant),
# what the vjp needs saved, and a **sequence number**. An op can only consume tensors that
# already exist, so creation order is a topological order: backward walks the sequence
# numbers downwards, with no recursive graph sort (and no recursion limit).
#
# We compute $L = \sum_i h_i^2$ with $h = \tanh(Wx)$ and list the tape that led to $L$.

# %%
def tape_of(root):
    # Every node that led to `root`, in creation order (an explicit stack, no recursion).
    found, stack = {}, [root.node]
    while stack:
        node = stack.pop()
        if node.seq not in found:
            found[node.seq] = node
            stack.extend(node.parents())
    return [found[seq] for seq in sorted(found)]


norms = {}   # node number -> ||dL/d out||, filled by the observer below during a backward pass


class GradientNorms:
    # A backward observer: the engine calls node_grad(node, grad) once per node, with the
    # complete gradient of its output, just before that node's rule runs.
    def node_grad(self, node, grad):
        norms[node.seq] = float(np.linalg.norm(grad))


def show_tape(root):
    first = tape_of(root)[0].seq
    for node in tape_of(root):
        inputs = []
        for edge in node.edges:
            if isinstance(edge, sg.Tensor):
                inputs.append(edge.name or ("leaf" if edge.requires_grad else "const"))
            elif edge is None:
                inputs.append("const")   # a plain number or array
            else:
                inputs.append(f"#{edge.seq - first}")
        where = node.scope.describe() if node.scope else ""
        norm = norms.get(node.seq)
        norm = "" if norm is None else f"||dL/d out|| = {norm:.4f}"
        print(f"#{node.seq - first:<3} {node.name:8s} {str(node.shape):8s} <- {', '.join(inputs):14s} "
              f"{where:22s} {norm}")


hidden = (W @ x).tanh()
loss = (hidden * hidden).sum()
print(loss)
print(loss.node, "  parents:", loss.node.parents())
print()
show_tape(loss)   # numbers shown relative to the first node of this graph

# %% [markdown]
# `x` and `W` appear as leaves (edges to the tensors themselves); `#1` (tanh) feeds `mul`
# twice, once per factor of $h \cdot h$. Nothing has a gradient yet.
#
# ## Scopes label what gets recorded
#
# `with sg.scope(name, **labels)` stamps every node recorded inside. The recurrent layers
# record each step inside `scope(<layer>, layer=k, direction=...)` and `scope(<Cell>, step=t)`:
# that is how graph drawings are grouped by time step, and how error messages say *where*.

# %%
h = sg.zeros(2)
with sg.scope("my_rnn", layer=0):
    for t in range(3):
        with sg.scope("cell", step=t):
            h = (W @ x + h).tanh()
show_tape(h.sum())

try:
    with sg.scope("my_rnn", layer=0), sg.scope("cell", step=57):
        W @ sg.ones(4)
except sg.ShapeError as error:
    print("\nShapeError:", error)

# %% [markdown]
# ## Backward
#
# `loss.backward()` seeds $\bar L = 1$ and walks the tape from the highest sequence number
# down, calling each node's vjp and adding the results into its inputs' gradients. By hand,
# with $a = Wx$ and $h = \tanh a$:
#
# $$\bar h = 2h, \qquad \bar a = \bar h \odot (1 - h^2), \qquad
#   \frac{\partial L}{\partial W} = \bar a\, x^\top, \qquad \frac{\partial L}{\partial x} = W^\top \bar a.$$

# %%
with sg.autodiff.on_backward(GradientNorms()):   # watch this backward pass
    loss.backward()

h_np = np.tanh(W.data @ x.data)
a_bar = 2 * h_np * (1 - h_np**2)
print("engine dL/dW\n", W.grad)
print("by hand      \n", np.outer(a_bar, x.data))
print("engine dL/dx", x.grad, "  by hand", W.data.T @ a_bar)
print()
show_tape(loss)   # the observer saw the norm of the gradient that passed through each node

# %% [markdown]
# ## Gradients accumulate
#
# Backward **adds** into `.grad`. Within one graph this is the chain rule's sum over paths:
# a weight used at every time step receives $\sum_t \partial L/\partial W^{(t)}$, which is
# exactly the BPTT formula. Across two backward passes it means the gradients of both
# losses are summed, so a training loop must reset them (`optimizer.zero_grad()`, or
# `param.grad = None`) before each step.

# %%
first = W.grad.copy()
loss = ((W @ x).tanh() ** 2).sum()   # a second, fresh graph of the same loss
loss.backward()
print("after two backward passes, W.grad / first =\n", W.grad / first)

W.grad = x.grad = None

# One graph that uses w three times: d/dw (w x1 + w x2 + w x3) = x1 + x2 + x3
w = sg.Tensor([2.0], requires_grad=True)
total = sum((w * step_input for step_input in (1.0, 3.0, -0.5)), start=sg.zeros(1))
total.sum().backward()
print("shared weight: dL/dw =", w.grad, "= 1 + 3 - 0.5")

# %% [markdown]
# ## `retain_graph`: saved values are freed as backward uses them
#
# The vjps need saved arrays (inputs, outputs). A long unrolled sequence saves a lot, so
# backward frees each node's saved values once it has used them. A second backward through
# the same graph therefore fails, naming the op; pass `retain_graph=True` to the first
# backward when you really need two (for example, two losses sharing one forward pass).

# %%
loss = ((W @ x).tanh() ** 2).sum()
loss.backward()
try:
    loss.backward()
except RuntimeError as error:
    print("RuntimeError:", error)

W.grad = x.grad = None
loss = ((W @ x).tanh() ** 2).sum()
loss.backward(retain_graph=True)
loss.backward()
print("\nwith retain_graph=True, twice: W.grad = 2 · first?", np.allclose(W.grad, 2 * first))
W.grad = x.grad = None

# %% [markdown]
# ## `no_grad` and `detach`
#
# Under `sg.no_grad()` nothing is recorded: results do not require grad and have no node.
# Use it for inference and for parameter updates. `t.detach()` returns the same values cut
# from the graph; gradients stop there. Truncated BPTT (notebook 6) detaches the hidden
# state between windows.

# %%
with sg.no_grad():
    inference = (W @ x).tanh()
print("under no_grad: requires_grad", inference.requires_grad, " node", inference.node)

cut = (W @ x).detach()
print("detached: requires_grad", cut.requires_grad, " node", cut.node, " cut from:", cut.detached_from)

# Only the path through `W @ x` reaches W; the detached copy acts as a constant.
y = ((W @ x) * cut).sum()
y.backward()
print("dy/dW =\n", W.grad, "\n= outer(Wx, x):\n", np.outer(W.data @ x.data, x.data))
W.grad = x.grad = None


# %% [markdown]
# ## gradcheck: the rules against finite differences
#
# The central difference $\dfrac{f(x + \epsilon e_i) - f(x - \epsilon e_i)}{2\epsilon}$ has
# error $O(\epsilon^2)$; in float64 with $\epsilon = 10^{-6}$ it agrees with an exact
# derivative to about $10^{-9}$. `sg.gradcheck(fn, inputs)` reduces `fn`'s outputs to a
# scalar with fixed random weights, perturbs every input element (small inputs), and also
# compares along random directions (any size). It returns `True` or raises
# `GradcheckError` with the first disagreement.

# %%
def layer(W, x):
    return (W @ x).tanh()

print(sg.gradcheck(layer, [W, x]))
print(sg.gradcheck(lambda a, b: (a * b).logsumexp(axis=0), [sg.randn(4, 3, requires_grad=True),
                                                          sg.randn(4, 3, requires_grad=True)]))

# %% [markdown]
# ### A wrong rule, caught
#
# Declaring a primitive takes a forward on arrays and a vjp `(ctx, g) -> one gradient per input`;
# `ctx.xs` holds the saved inputs (`saves="x"`). Below, `sine` has the right derivative and
# `broken_sine` a plausible-looking wrong one. (`sg.ops.primitive(...)` would also register
# the op by name; a cell that may run twice builds the `Primitive` directly.)

# %%
sine = sg.ops.Primitive("sine", np.sin, lambda ctx, g: (g * np.cos(ctx.xs[0]),), "x", "sin x; d/dx = cos x")
broken_sine = sg.ops.Primitive("broken_sine", np.sin, lambda ctx, g: (g * -np.sin(ctx.xs[0]),), "x",
                               "sin x with the derivative of cos x: wrong")

angles = sg.Tensor([0.3, 1.2, -2.0], requires_grad=True)
print("sine:", sg.gradcheck(lambda a: sine(a), [angles]))
try:
    sg.gradcheck(lambda a: broken_sine(a), [angles])
except sg.GradcheckError as error:
    print("broken_sine:", type(error).__name__, "-", error)

# %% [markdown]
# ## Debugging a NaN: `detect_anomaly`
#
# Inside `sg.detect_anomaly()` every op checks its output (and backward checks every
# gradient) and raises at the first non-finite value, naming the op and the scope.

# %%
probabilities = sg.Tensor([0.5, 0.0, 0.5], requires_grad=True)
try:
    # np.errstate only quiets numpy's own warning; detect_anomaly says more.
    with np.errstate(divide="ignore"), sg.detect_anomaly(), sg.scope("loss", step=4):
        (probabilities.log() * probabilities).sum()
except FloatingPointError as error:
    print("FloatingPointError:", error)

# %% [markdown]
# ## Double backward
#
# With `backward(create_graph=True)` the backward pass is itself recorded, so `.grad` is a
# Tensor with a graph and can be differentiated again (the same vjp rules run on Tensors
# instead of arrays). For $y = \tanh z$:
#
# $$y' = 1 - \tanh^2 z, \qquad y'' = -2\tanh z\,(1 - \tanh^2 z).$$

# %%
z = sg.Tensor([-1.0, 0.0, 0.5, 2.0], requires_grad=True)
z.tanh().sum().backward(create_graph=True)
first_derivative = z.grad
print("y' :", first_derivative, "  expected", 1 - np.tanh(z.data)**2)

z.grad = None
first_derivative.sum().backward()
print("y'':", z.grad, "  expected", -2 * np.tanh(z.data) * (1 - np.tanh(z.data)**2))

# %% [markdown]
# ## No recursion: a 10,000-step chain
#
# A recursive graph walk (micrograd's topological sort, for one) overflows Python's stack at
# about a thousand nested steps, a modest unrolled sequence. seqgrad's backward is a loop
# over sequence numbers, so a chain of 10,000 recurrent steps $s_t = \tanh(0.999\, s_{t-1})$
# is just a longer loop. Its gradient is the product of the local slopes,
#
# $$\frac{\partial s_T}{\partial s_0} = \prod_{t=1}^{T} 0.999\,(1 - s_t^2),$$
#
# the vanishing-gradient story of notebook 3 in one dimension.

# %%
start_value = sg.Tensor([0.5], requires_grad=True)
state = start_value
for _ in range(10_000):
    state = (0.999 * state).tanh()
print("nodes on the tape:", len(tape_of(state)))

started = time.perf_counter()
state.sum().backward()
print(f"backward through 10,000 steps: {time.perf_counter() - started:.2f} s")

values, slopes = 0.5, []
for _ in range(10_000):
    values = np.tanh(0.999 * values)
    slopes.append(0.999 * (1 - values**2))
print(f"d s_T / d s_0: engine {start_value.grad[0]:.6e}, product of slopes {np.prod(slopes):.6e}")


# %% [markdown]
# ## Exercises
#
# Each exercise prints what it asks; fill in the answer and run the cell: `exercises.check`
# says whether it is right, and if not, what is wrong and where to look (`exercises.hint(name)`
# for more). Answers are numbers or numpy functions; the checks compare them with the library.

# %%
exercises.show("softplus_vjp")


def vjp(x, grad):
    """Your answer: dL/dx for y = softplus(x), given x and grad = dL/dy."""
    ...


exercises.check("softplus_vjp", vjp)

# %%
exercises.show("break_a_vjp")


def broken_vjp(x, grad):
    """Your answer: a plausible but WRONG vjp for tanh."""
    ...


exercises.check("break_a_vjp", broken_vjp)
