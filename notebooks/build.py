"""Write the teaching notebooks from the cells below, then run them so their outputs are saved.

The notebooks are generated, not edited: each one is a list of markdown and code cells
written here as Python strings, so a review reads code rather than JSON.

    .venv/bin/python notebooks/build.py                # write and execute all six
    .venv/bin/python notebooks/build.py 02 04          # only the notebooks whose names start so
    .venv/bin/python notebooks/build.py --no-execute   # write the sources, outputs left empty

Execution uses this interpreter's own ipykernel (never a kernelspec installed elsewhere), in a
temporary folder, with one BLAS thread; tests/notebooks/test_notebooks.py runs the committed
notebooks the same way (`execute`) without rewriting them.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import nbformat
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient

HERE = Path(__file__).resolve().parent

# A notebook that has not finished after this many seconds has hung (each should take under a minute).
NOTEBOOK_TIMEOUT = 300


def md(text: str) -> nbformat.NotebookNode:
    """A markdown cell from an indented triple-quoted string."""
    return nbformat.v4.new_markdown_cell(textwrap.dedent(text).strip())


def code(text: str) -> nbformat.NotebookNode:
    """A code cell from an indented triple-quoted string."""
    return nbformat.v4.new_code_cell(textwrap.dedent(text).strip())


# ---------------------------------------------------------------------------------------------
# 1. The engine
# ---------------------------------------------------------------------------------------------
ENGINE = [
    md(r"""
    # 1 · The engine: tensors, the tape, backward, gradcheck

    seqgrad is reverse-mode automatic differentiation on numpy. Every recurrent layer in the
    later notebooks is built from the few primitive ops shown here, and backpropagation
    through time is nothing more than the backward pass of this notebook run over a longer
    tape. We look at:

    1. tensors and primitive ops (each op's forward and its vector-Jacobian product side by side);
    2. the tape: nodes, sequence numbers, scopes;
    3. backward, gradient accumulation, `retain_graph`, `no_grad` and `detach`;
    4. `gradcheck`, including what a wrong gradient rule looks like;
    5. double backward, and a 10,000-step chain.
    """),
    code(r"""
    import inspect
    import time

    import numpy as np

    import seqgrad as sg

    # Finite differences (gradcheck) need float64; seqgrad's default for Python numbers is float32.
    sg.set_default_dtype(np.float64)
    sg.manual_seed(0)
    np.set_printoptions(precision=5, suppress=True)
    """),
    md(r"""
    ## Tensors

    A `Tensor` holds a numpy array in `.data`. With `requires_grad=True` it is a *leaf* we
    differentiate with respect to: after `backward()` its `.grad` holds $\partial L/\partial(\text{tensor})$,
    an array of the same shape. Integer tensors hold indices and targets; they cannot require grad.
    """),
    code(r"""
    x = sg.Tensor([1.0, -2.0, 0.5], requires_grad=True, name="x")
    W = sg.Tensor([[0.3, -0.1, 0.2],
                   [0.5, 0.4, -0.6]], requires_grad=True, name="W")
    print(x)
    print("shape", W.shape, "dtype", W.dtype, "leaf:", W.is_leaf, "grad:", W.grad)
    print(type(W.data))
    """),
    md(r"""
    ## A primitive is a forward and its vector-Jacobian product, side by side

    For $y = f(x)$, reverse mode never builds the Jacobian $J = \partial y/\partial x$. Each op
    only knows how to pull an output gradient $\bar y = \partial L/\partial y$ back to its inputs:

    $$\bar x = J^\top \bar y, \qquad \bar x_i = \sum_j \bar y_j \,\frac{\partial y_j}{\partial x_i}.$$

    For an element-wise op $J$ is diagonal, so the vjp is a product: for $\tanh$,
    $\bar x = \bar y \odot (1 - y^2)$, which needs only the saved output $y$. For
    $C = AB$: $\bar A = \bar C B^\top$, $\bar B = A^\top \bar C$. seqgrad has about thirty such
    primitives; everything else (softmax cross-entropy, LSTM gates, ...) is composed from them.
    """),
    code(r"""
    for name in ("tanh", "sigmoid", "exp", "log", "matmul", "sum"):
        print(f"{name:8s} {sg.ops.REGISTRY[name].doc}")
    print()
    print("the rule itself:", inspect.getsource(sg.ops.REGISTRY["tanh"].vjp).strip())
    """),
    md(r"""
    ## The tape: one node per op, numbered in creation order

    Applying an op to a tensor that requires grad records a `Node`: the op, one *edge* per
    input (the `Node` that produced it, the leaf `Tensor` itself, or nothing for a constant),
    what the vjp needs saved, and a **sequence number**. An op can only consume tensors that
    already exist, so creation order is a topological order: backward walks the sequence
    numbers downwards, with no recursive graph sort (and no recursion limit).

    We compute $L = \sum_i h_i^2$ with $h = \tanh(Wx)$ and list the tape that led to $L$.
    """),
    code(r"""
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
    """),
    md(r"""
    `x` and `W` appear as leaves (edges to the tensors themselves); `#1` (tanh) feeds `mul`
    twice, once per factor of $h \cdot h$. Nothing has a gradient yet.

    ## Scopes label what gets recorded

    `with sg.scope(name, **labels)` stamps every node recorded inside. The recurrent layers
    record each step inside `scope(<layer>, layer=k, direction=...)` and `scope(<Cell>, step=t)`:
    that is how graph drawings are grouped by time step, and how error messages say *where*.
    """),
    code(r"""
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
    """),
    md(r"""
    ## Backward

    `loss.backward()` seeds $\bar L = 1$ and walks the tape from the highest sequence number
    down, calling each node's vjp and adding the results into its inputs' gradients. By hand,
    with $a = Wx$ and $h = \tanh a$:

    $$\bar h = 2h, \qquad \bar a = \bar h \odot (1 - h^2), \qquad
      \frac{\partial L}{\partial W} = \bar a\, x^\top, \qquad \frac{\partial L}{\partial x} = W^\top \bar a.$$
    """),
    code(r"""
    with sg.autodiff.on_backward(GradientNorms()):   # watch this backward pass
        loss.backward()

    h_np = np.tanh(W.data @ x.data)
    a_bar = 2 * h_np * (1 - h_np**2)
    print("engine dL/dW\n", W.grad)
    print("by hand      \n", np.outer(a_bar, x.data))
    print("engine dL/dx", x.grad, "  by hand", W.data.T @ a_bar)
    print()
    show_tape(loss)   # the observer saw the norm of the gradient that passed through each node
    """),
    md(r"""
    ## Gradients accumulate

    Backward **adds** into `.grad`. Within one graph this is the chain rule's sum over paths:
    a weight used at every time step receives $\sum_t \partial L/\partial W^{(t)}$, which is
    exactly the BPTT formula. Across two backward passes it means the gradients of both
    losses are summed, so a training loop must reset them (`optimizer.zero_grad()`, or
    `param.grad = None`) before each step.
    """),
    code(r"""
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
    """),
    md(r"""
    ## `retain_graph`: saved values are freed as backward uses them

    The vjps need saved arrays (inputs, outputs). A long unrolled sequence saves a lot, so
    backward frees each node's saved values once it has used them. A second backward through
    the same graph therefore fails, naming the op; pass `retain_graph=True` to the first
    backward when you really need two (for example, two losses sharing one forward pass).
    """),
    code(r"""
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
    """),
    md(r"""
    ## `no_grad` and `detach`

    Under `sg.no_grad()` nothing is recorded: results do not require grad and have no node.
    Use it for inference and for parameter updates. `t.detach()` returns the same values cut
    from the graph; gradients stop there. Truncated BPTT (notebook 6) detaches the hidden
    state between windows.
    """),
    code(r"""
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
    """),
    md(r"""
    ## gradcheck: the rules against finite differences

    The central difference $\dfrac{f(x + \epsilon e_i) - f(x - \epsilon e_i)}{2\epsilon}$ has
    error $O(\epsilon^2)$; in float64 with $\epsilon = 10^{-6}$ it agrees with an exact
    derivative to about $10^{-9}$. `sg.gradcheck(fn, inputs)` reduces `fn`'s outputs to a
    scalar with fixed random weights, perturbs every input element (small inputs), and also
    compares along random directions (any size). It returns `True` or raises
    `GradcheckError` with the first disagreement.
    """),
    code(r"""
    def layer(W, x):
        return (W @ x).tanh()

    print(sg.gradcheck(layer, [W, x]))
    print(sg.gradcheck(lambda a, b: (a * b).logsumexp(axis=0), [sg.randn(4, 3, requires_grad=True),
                                                              sg.randn(4, 3, requires_grad=True)]))
    """),
    md(r"""
    ### A wrong rule, caught

    Declaring a primitive takes a forward on arrays and a vjp `(ctx, g) -> one gradient per input`;
    `ctx.xs` holds the saved inputs (`saves="x"`). Below, `sine` has the right derivative and
    `broken_sine` a plausible-looking wrong one. (`sg.ops.primitive(...)` would also register
    the op by name; a cell that may run twice builds the `Primitive` directly.)
    """),
    code(r"""
    sine = sg.ops.Primitive("sine", np.sin, lambda ctx, g: (g * np.cos(ctx.xs[0]),), "x", "sin x; d/dx = cos x")
    broken_sine = sg.ops.Primitive("broken_sine", np.sin, lambda ctx, g: (g * -np.sin(ctx.xs[0]),), "x",
                                   "sin x with the derivative of cos x: wrong")

    angles = sg.Tensor([0.3, 1.2, -2.0], requires_grad=True)
    print("sine:", sg.gradcheck(lambda a: sine(a), [angles]))
    try:
        sg.gradcheck(lambda a: broken_sine(a), [angles])
    except sg.GradcheckError as error:
        print("broken_sine:", type(error).__name__, "-", error)
    """),
    md(r"""
    ## Debugging a NaN: `detect_anomaly`

    Inside `sg.detect_anomaly()` every op checks its output (and backward checks every
    gradient) and raises at the first non-finite value, naming the op and the scope.
    """),
    code(r"""
    probabilities = sg.Tensor([0.5, 0.0, 0.5], requires_grad=True)
    try:
        # np.errstate only quiets numpy's own warning; detect_anomaly says more.
        with np.errstate(divide="ignore"), sg.detect_anomaly(), sg.scope("loss", step=4):
            (probabilities.log() * probabilities).sum()
    except FloatingPointError as error:
        print("FloatingPointError:", error)
    """),
    md(r"""
    ## Double backward

    With `backward(create_graph=True)` the backward pass is itself recorded, so `.grad` is a
    Tensor with a graph and can be differentiated again (the same vjp rules run on Tensors
    instead of arrays). For $y = \tanh z$:

    $$y' = 1 - \tanh^2 z, \qquad y'' = -2\tanh z\,(1 - \tanh^2 z).$$
    """),
    code(r"""
    z = sg.Tensor([-1.0, 0.0, 0.5, 2.0], requires_grad=True)
    z.tanh().sum().backward(create_graph=True)
    first_derivative = z.grad
    print("y' :", first_derivative, "  expected", 1 - np.tanh(z.data)**2)

    z.grad = None
    first_derivative.sum().backward()
    print("y'':", z.grad, "  expected", -2 * np.tanh(z.data) * (1 - np.tanh(z.data)**2))
    """),
    md(r"""
    ## No recursion: a 10,000-step chain

    A recursive graph walk (micrograd's topological sort, for one) overflows Python's stack at
    about a thousand nested steps, a modest unrolled sequence. seqgrad's backward is a loop
    over sequence numbers, so a chain of 10,000 recurrent steps $s_t = \tanh(0.999\, s_{t-1})$
    is just a longer loop. Its gradient is the product of the local slopes,

    $$\frac{\partial s_T}{\partial s_0} = \prod_{t=1}^{T} 0.999\,(1 - s_t^2),$$

    the vanishing-gradient story of notebook 3 in one dimension.
    """),
    code(r"""
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
    """),
]

# ---------------------------------------------------------------------------------------------
# 2. An Elman RNN from primitives
# ---------------------------------------------------------------------------------------------
ELMAN = [
    md(r"""
    # 2 · An Elman RNN from primitives, and BPTT by hand

    The Elman RNN carries one hidden state through time:

    $$a_t = W_{ih}\, x_t + W_{hh}\, h_{t-1} + b, \qquad h_t = \tanh(a_t), \qquad h_0 = 0.$$

    We write it with three primitives (`matmul`, `add`, `tanh`) on the worked example of
    EQUATIONS.md, draw its unrolled graph, then derive backpropagation through time (BPTT) by
    hand in numpy and check that the engine, which knows nothing about time, computes the
    same gradients to float64 precision.
    """),
    code(r"""
    import numpy as np

    import seqgrad as sg
    import seqgrad.viz
    from seqgrad import nn

    sg.set_default_dtype(np.float64)
    np.set_printoptions(precision=8, suppress=True)
    """),
    md(r"""
    ## The worked example

    $W_{ih} = \begin{pmatrix} 0.4 & -0.1 \\ 0.2 & 0.5 \end{pmatrix}$,
    $W_{hh} = \begin{pmatrix} 0.3 & 0.1 \\ -0.2 & 0.4 \end{pmatrix}$, $b = (0.1, -0.2)$,
    inputs $x_1 = (1, 0.5)$, $x_2 = (0.2, 0.8)$, $x_3 = (-0.4, 1)$. Each step runs inside
    `sg.scope("cell", step=t)`, which is all the graph drawer needs to group the unrolled graph
    by time. `retain_grad()` asks backward to keep $\partial L/\partial h_t$ on each hidden state.
    The weights are `nn.Parameter`s (Tensors that always require grad), named for the drawings.
    """),
    code(r"""
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
        print(f"h_{t} = {h.data}   EQUATIONS.md: {np.array(expected)}")
    """),
    md(r"""
    `nn.RNN` is the same three primitives (its cell adds a second bias $b_{hh}$, set to zero
    here, and takes batches as $x W_{ih}^\top$). Loaded with these weights it gives the same
    states:
    """),
    code(r"""
    rnn = nn.RNN(input_size=2, hidden_size=2)
    rnn.load_state_dict({"weight_ih_l0": W_ih.data, "weight_hh_l0": W_hh.data,
                         "bias_ih_l0": b.data, "bias_hh_l0": np.zeros(2)})
    output, h_n = rnn(sg.Tensor(np.stack([x.data for x in xs])))     # unbatched input (T, D)
    print(output.data)
    print("same as the hand-written loop:", np.allclose(output.data, np.stack([h.data for h in hidden_states])))
    """),
    md(r"""
    ## A loss, and the unrolled graph

    Each step is scored against a target, $\ell_t = \tfrac12 \lVert h_t - y_t \rVert^2$, and
    $L = \sum_t \ell_t$. `sg.viz.draw(loss, level="cell")` collapses each step into one node:
    the hidden-state path runs left to right (thick edges), and each parameter is drawn
    **once**, with an edge to every step that uses it. Before any backward the drawing says that
    no gradients exist yet.
    """),
    code(r"""
    targets = [sg.Tensor([0.5, 0.5], name=f"y_{t + 1}") for t in range(3)]
    with sg.scope("loss"):
        step_losses = [0.5 * ((h - y) ** 2).sum() for h, y in zip(hidden_states, targets)]
        loss = sg.stack(step_losses).sum()
    print("L =", loss.item())
    sg.viz.draw(loss, level="cell")
    """),
    md(r"""
    ## BPTT by hand

    Let $g_t = \partial \ell_t / \partial h_t = h_t - y_t$ be the direct gradient at step $t$.
    The hidden state $h_t$ affects $L$ through $\ell_t$ and through $a_{t+1} = W_{hh} h_t + \dots$,
    so, writing $\delta_t = \partial L / \partial a_t$:

    $$\frac{\partial L}{\partial h_t} = g_t + W_{hh}^\top \delta_{t+1}, \qquad
      \delta_t = \operatorname{diag}(1 - h_t^2)\,\frac{\partial L}{\partial h_t}, \qquad \delta_{T+1} = 0.$$

    Unrolling the recursion, $\delta_t = \sum_{s \ge t} \Big[\prod_{j=t}^{s-1}
    \operatorname{diag}(1 - h_j^2) W_{hh}^\top\Big] \operatorname{diag}(1 - h_s^2)\, g_s$: the
    gradient from step $s$ reaches step $t$ through $s - t$ factors
    $\operatorname{diag}(1 - h^2) W_{hh}^\top$. (Notebook 3 is about that product.)
    The weights are shared by every step, so their gradients are sums over steps:

    $$\frac{\partial L}{\partial W_{hh}} = \sum_t \delta_t\, h_{t-1}^\top, \qquad
      \frac{\partial L}{\partial W_{ih}} = \sum_t \delta_t\, x_t^\top, \qquad
      \frac{\partial L}{\partial b} = \sum_t \delta_t, \qquad
      \frac{\partial L}{\partial h_0} = W_{hh}^\top \delta_1 .$$
    """),
    code(r"""
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
    """),
    md(r"""
    ## BPTT by the engine

    The engine has no notion of time: `loss.backward()` walks the tape backwards, and each
    node applies its own vjp. `tanh` multiplies by $1 - h_t^2$, `matmul` sends
    $W_{hh}^\top \delta_t$ to $h_{t-1}$ and $\delta_t h_{t-1}^\top$ to $W_{hh}$, and since
    $W_{hh}$ is one leaf used by three nodes, its three contributions are summed. That *is*
    the recursion above.
    """),
    code(r"""
    with sg.viz.record():   # also keep each node's gradient norm, for the drawing below
        loss.backward()

    for t, h in enumerate(hidden_states, start=1):
        print(f"dL/dh_{t}: engine {h.grad}   |engine - hand| = {np.abs(h.grad - dL_dh[t]).max():.1e}")
    for name, param in (("W_ih", W_ih), ("W_hh", W_hh), ("b", b)):
        print(f"dL/d{name:4s} |engine - hand| = {np.abs(param.grad - hand[name]).max():.1e}")
    print("\ndL/dW_hh =\n", W_hh.grad)
    """),
    md(r"""
    After backward, the same drawing at the op level shows every primitive with the norm of the
    gradient that passed through it, coloured on a log scale: the `tanh` of each step, the
    `matmul` nodes that carry the gradient back to $h_{t-1}$, and the three edges from each
    shared weight.
    """),
    code(r"""
    sg.viz.draw(loss)
    """),
    md(r"""
    ## Not just three steps

    The same comparison on random weights, $D = 3$ inputs, $H = 5$ units and $T = 40$ steps.
    The results agree to the last bit: the engine performs the same floating-point operations
    as the hand-written recursion, in the same order (the contributions to $\partial L/\partial W_{hh}$
    arrive from the last step to the first). Any other order would differ by rounding, about $10^{-16}$.
    """),
    code(r"""
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
    """),
]

# ---------------------------------------------------------------------------------------------
# 3. Vanishing and exploding gradients
# ---------------------------------------------------------------------------------------------
VANISHING = [
    md(r"""
    # 3 · Vanishing and exploding gradients

    In notebook 2 the gradient from step $t$ reached step $k$ through a product of Jacobians.
    For the Elman RNN $h_j = \tanh(W_{ih} x_j + W_{hh} h_{j-1} + b)$:

    $$\frac{\partial h_t}{\partial h_k} = \prod_{j=k+1}^{t} \frac{\partial h_j}{\partial h_{j-1}}
      = \prod_{j=k+1}^{t} \operatorname{diag}(1 - h_j^2)\, W_{hh},
    \qquad
    \Big\lVert \frac{\partial h_t}{\partial h_k} \Big\rVert \le \big(\gamma\, \sigma_{\max}(W_{hh})\big)^{t-k},$$

    where $\gamma \le 1$ bounds the slope $1 - h^2$ of $\tanh$. A product of $t - k$ matrices
    shrinks or grows geometrically: long-range gradients **vanish** (the network cannot learn
    long dependencies) or **explode** (one update throws the weights away). This notebook
    measures the product, relates its rate to the eigenvalues and singular values of $W_{hh}$,
    compares the tanh RNN with the LSTM and GRU, and shows what clipping does.
    """),
    code(r"""
    import matplotlib.pyplot as plt
    import numpy as np

    import seqgrad as sg
    import seqgrad.viz
    from seqgrad import bptt, data, nn
    from seqgrad.nn import functional as F

    sg.set_default_dtype(np.float64)
    np.set_printoptions(precision=4, suppress=True)
    """),
    md(r"""
    ## Eigenvalues and singular values of $W_{hh}$

    Without the $\tanh$, $h_t = W h_{t-1}$ and $\partial h_t / \partial h_k = W^{t-k}$. Two numbers
    describe how $\lVert W^n \rVert$ behaves:

    - the **spectral radius** $\rho(W) = \max_i |\lambda_i|$ sets the long-run rate,
      $\lVert W^n \rVert^{1/n} \to \rho(W)$;
    - the **largest singular value** $\sigma_{\max}(W) = \lVert W \rVert_2 \ge \rho(W)$ bounds every
      step, $\lVert W^n \rVert \le \sigma_{\max}^n$.

    PyTorch's (and seqgrad's) default initialisation draws $W_{hh}$ from $U(-1/\sqrt H, 1/\sqrt H)$,
    a variance of $1/(3H)$; by the circular law its eigenvalues fill a disc of radius
    $\sqrt{H \cdot 1/(3H)} = 1/\sqrt 3 \approx 0.58$.
    """),
    code(r"""
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
    """),
    md(r"""
    $\lVert W^n \rVert$ follows $\rho^n$ (after a short transient), not the pessimistic
    $\sigma_{\max}^n$. At the default initialisation gradients therefore vanish like $0.58^n$:
    about one decade every four steps, even before $\tanh$ shrinks them further.

    ## With the tanh: measuring $\lVert \partial h_T / \partial h_k \rVert$

    `bptt.jacobian_norms(loss)` measures the spectral norm of $\partial h_T / \partial h_k$ for every
    step $k$ of every recurrent layer in the graph (one backward pass per hidden unit through
    the retained graph). We set $W_{hh} = s\,Q$ with $Q$ a random orthogonal matrix, so every
    singular value equals $s$, and watch the product for several $s$.
    The $\tanh$ slope $1 - h^2 \le 1$ can only shrink it: for $s < 1$ it must vanish. For $s > 1$
    it grows, until the states saturate ($|h| \to 1$, slope $\to 0$) and hold it back.
    """),
    code(r"""
    H, T, B = 32, 60, 8
    rng = np.random.default_rng(0)
    Q, _ = np.linalg.qr(rng.normal(size=(H, H)))
    inputs = sg.Tensor(rng.normal(size=(T, B, 4)))

    flows = {}
    for scale in (0.5, 0.9, 1.2, 2.0, 4.0):
        sg.manual_seed(0)
        rnn = nn.RNN(4, H)
        rnn.weight_hh_l0.data = scale * Q
        output, _ = rnn(inputs)
        loss = (output[-1] ** 2).sum()
        flows[f"s = {scale}"] = bptt.jacobian_norms(loss)     # before backward: it needs the saved values
        saturated = np.mean(np.abs(output.data) > 0.95)
        print(f"s = {scale}: {saturated:5.1%} of states saturated; "
              f"||dh_T/dh_0|| = {flows[f's = {scale}'][('RNN', 0, 'forward')][0]:.2e}")

    ax = seqgrad.viz.plot_gradient_flow(flows, ylabel=r"$\|\partial h_T / \partial h_k\|_2$",
                                        title=r"tanh RNN, $W_{hh} = s\,Q$ ($Q$ orthogonal)")
    ax.figure.set_size_inches(8, 4.2)
    plt.show()
    """),
    md(r"""
    Below $s = 1$ the norm falls geometrically, faster than $s^n$ because of the $\tanh$ slope.
    Above it the product explodes, by eleven orders of magnitude over 60 steps at $s = 4$, even
    though more than half of the states are saturated. (Pascanu, Mikolov & Bengio 2013: $\rho > 1$ is
    necessary for explosion, $\sigma_{\max} < 1/\gamma$ sufficient for vanishing.)

    ## The gradient-flow plot: tanh RNN, LSTM, GRU

    What reaches step $k$ of a real network is $\partial L / \partial h_k$. `bptt.hidden_grad_norms(loss)`
    reads $\lVert \partial L / \partial h_k \rVert$ for every step from **one** ordinary backward pass
    (backward leaves the norm of the gradient on every node it visits). The loss depends on the
    last output only, so everything at distance $T - k$ had to travel back $T - k$ steps.

    The LSTM's cell state has an additive path, $\partial c_t / \partial c_{t-1} = \operatorname{diag}(f_t)$,
    but at initialisation $f_t = \sigma(\text{small}) \approx 0.5$: the highway is only as good as the
    forget gate. Setting the forget-gate bias to a positive value
    (`nn.init.forget_gate_bias_`; Gers et al. 2000, Jozefowicz et al. 2015) opens it.
    """),
    code(r"""
    T = 80
    inputs = sg.Tensor(np.random.default_rng(1).normal(size=(T, B, 4)))

    def gradient_flow(layer):
        output, _ = layer(inputs)
        loss = (output[-1] ** 2).sum()
        with sg.viz.record():   # keep ||dL/d(node)|| of every node: hidden_grad_norms reads them
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
    """),
    md(r"""
    At the default initialisation all three vanish at a similar geometric rate; the gated cells'
    advantage is not automatic. With the forget gate held open the LSTM carries gradient across
    all 80 steps with almost no loss. Training does the same thing when the task needs it: the
    forget gates of the units that store information move towards 1.

    ## Exploding gradients and clipping

    The other failure is a gradient so large that one update throws the weights far away. It
    happens at *cliffs*: regions where the loss changes abruptly with a weight because the
    recurrence changes regime. A one-unit network
    $h_t = \sigma(w\, h_{t-1} - 2.5)$, $h_0 = 0.5$, run for 50 steps, with loss $(h_{50} - 0.7)^2$
    (the example of Pascanu et al. 2013) has one at $w \approx 5$. We evaluate the loss and
    $\partial L / \partial w$ for 2,000 values of $w$ at once (the batch is the grid of $w$).
    """),
    code(r"""
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
    """),
    md(r"""
    Clipping by norm rescales all gradients together,

    $$g \leftarrow g \cdot \min\Big(1, \frac{c}{\lVert g \rVert + 10^{-6}}\Big), \qquad
      \lVert g \rVert = \sqrt{\textstyle\sum_p \lVert g_p \rVert^2},$$

    which keeps the direction and caps the length of the step at $\text{lr} \cdot c$.
    `nn.utils.clip_grad_norm_(parameters, max_norm)` does it in place between `backward()` and
    `optimizer.step()` and returns the norm *before* clipping (so it also serves to monitor).

    On a real network: a tanh RNN whose $W_{hh}$ starts in the exploding regime ($2Q$), trained
    to predict the next value of sine waves, with the same SGD settings, with and without clipping.
    """),
    code(r"""
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
    """),
    md(r"""
    Without clipping, the first large gradients (momentum adds them up) throw the weights into a
    region where the loss is eight orders of magnitude above its start, and 150 updates do not
    bring it back; with clipping the same learning rate trains. Clipping treats the symptom of
    explosion; the vanishing side needs architecture (gates with a forget path held open) or
    initialisation, as above.
    """),
]

# ---------------------------------------------------------------------------------------------
# 4. Gates and custom cells
# ---------------------------------------------------------------------------------------------
GATES = [
    md(r"""
    # 4 · LSTM and GRU gates, and a cell of your own

    Gates are sigmoids, numbers in $(0, 1)$ per unit and per step, that multiply a signal:
    they decide what is written, kept and shown. The LSTM (gate order $i, f, g, o$, as PyTorch):

    $$\begin{aligned}
    i_t &= \sigma(W_{ii} x_t + W_{hi} h_{t-1} + b_i), &
    f_t &= \sigma(W_{if} x_t + W_{hf} h_{t-1} + b_f), \\
    g_t &= \tanh(W_{ig} x_t + W_{hg} h_{t-1} + b_g), &
    o_t &= \sigma(W_{io} x_t + W_{ho} h_{t-1} + b_o), \\
    c_t &= f_t \odot c_{t-1} + i_t \odot g_t, &
    h_t &= o_t \odot \tanh(c_t).
    \end{aligned}$$

    The GRU (gate order $r, z, n$; PyTorch places the reset gate *after* the matrix product):

    $$r_t = \sigma(W_{ir} x_t + W_{hr} h_{t-1} + b_r), \quad
      z_t = \sigma(W_{iz} x_t + W_{hz} h_{t-1} + b_z), \quad
      n_t = \tanh(W_{in} x_t + b_{in} + r_t \odot (W_{hn} h_{t-1} + b_{hn})), \quad
      h_t = (1 - z_t) \odot n_t + z_t \odot h_{t-1}.$$

    We train both on a task whose solution needs a gate, look at the gates, then write a new
    cell from primitives and get training, gradcheck and drawing for free.
    """),
    code(r"""
    import time

    import matplotlib.pyplot as plt
    import numpy as np

    import seqgrad as sg
    import seqgrad.viz
    from seqgrad import nn
    from seqgrad.nn import functional as F

    np.set_printoptions(precision=4, suppress=True)
    """),
    md(r"""
    ## A task that needs a gate: the latch

    Each step brings a value $v_t \sim U(-1, 1)$ and a flag $s_t \in \{0, 1\}$ (set with
    probability 0.12, always at $t = 0$). The target is the value at the most recent flag:
    *store when flagged, hold otherwise*. An LSTM solves it by opening its input gate and
    closing its forget gate at a flag, and keeping $f \approx 1$, $i \approx 0$ in between.
    """),
    code(r"""
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
    for name, make in (("LSTM", nn.LSTM), ("GRU", nn.GRU)):
        sg.manual_seed(0)
        models[name] = Sequencer(make(2, HIDDEN), HIDDEN)
        started = time.perf_counter()
        histories[name] = train(models[name])
        print(f"{name}: MSE {histories[name][0]:.3f} -> {np.mean(histories[name][-20:]):.4f} "
              f"in {time.perf_counter() - started:.1f} s")
    """),
    md(r"""
    ## Reading the gates

    The layers do not return their gates, and they need not: the equations above, evaluated in
    numpy on the trained weights (`weight_ih_l0` is $(4H, D)$ with the blocks $i, f, g, o$
    stacked), give them, and reproducing the layer's own output checks that we read the
    weights right.
    """),
    code(r"""
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
    """),
    code(r"""
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
    """),
    md(r"""
    Reading the picture: at every flag (dashed) the LSTM's forget gate drops in all units,
    erasing $c_{t-1}$, while the input gate opens in some units to write the new value. Between
    flags this small LSTM does **not** hold $f_t \approx 1$: it keeps the value by rewriting it
    at every step through the recurrent path ($g_t$ depends on $h_{t-1}$), which is enough for
    holds of a few steps. The GRU uses its single gate the textbook way: $z_t$ close to 1 copies
    $h_{t-1}$ forward, and it dips at the flags to let the candidate $n_t$ in.

    A forget gate near 1 is what lets an LSTM carry memory, and gradient, over long gaps:
    $\partial c_t / \partial c_{t-1} = \operatorname{diag}(f_t)$ (notebook 3).

    How often gates sit near 0 or 1 (saturation, where they pass almost no gradient) is a quick
    summary of a trained gated network. `seqgrad.viz.gate_activations(output)` reads every gate
    activation of the built-in cells back from the tape (the sigmoid nodes keep their outputs
    for backward), so it needs a forward pass that was recorded and not yet backpropagated:
    """),
    code(r"""
    fig, axes = plt.subplots(1, 2, figsize=(12, 3.4), layout="constrained")
    for ax, (name, model) in zip(axes, models.items()):
        output, _ = model.rnn(batch_inputs)                    # recorded: the gates are on the tape
        seqgrad.viz.plot_gate_saturation(seqgrad.viz.gate_activations(output), ax=ax,
                                         title=f"{name} gates on 64 latch sequences")
    plt.show()
    """),
    md(r"""
    ## A cell of your own: the peephole LSTM

    Gers & Schmidhuber (2000) let the gates look at the cell state through *peephole*
    weights $p_i, p_f, p_o \in \mathbb{R}^H$ (element-wise):

    $$\begin{aligned}
    i_t &= \sigma(W_{ii} x_t + W_{hi} h_{t-1} + p_i \odot c_{t-1} + b_i), &
    f_t &= \sigma(W_{if} x_t + W_{hf} h_{t-1} + p_f \odot c_{t-1} + b_f), \\
    c_t &= f_t \odot c_{t-1} + i_t \odot \tanh(W_{ig} x_t + W_{hg} h_{t-1} + b_g), &
    o_t &= \sigma(W_{io} x_t + W_{ho} h_{t-1} + p_o \odot c_t + b_o), \\
    h_t &= o_t \odot \tanh(c_t).
    \end{aligned}$$

    The contract of `nn.Cell`: `state_names` (one Tensor of shape $(B, H)$ each), `hidden_size`,
    and `step(x, state) -> (output, new_state)` written with seqgrad ops. Nothing else: no
    backward, no unrolling.
    """),
    code(r"""
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
    """),
    md(r"""
    ### It trains

    `nn.Recurrent(make_cell, input_size, ...)` unrolls any cell; it also stacks it, runs it
    bidirectionally, masks it by `lengths` and applies recurrent dropout. Same task, same
    budget as above:
    """),
    code(r"""
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
    """),
    md(r"""
    ### It gradchecks

    In float64, as a function of the input and of every parameter, through a 2-layer
    bidirectional stack with two different lengths in the batch:
    """),
    code(r"""
    sg.manual_seed(0)
    small = nn.Recurrent(lambda size: PeepholeLSTMCell(size, 2, dtype=np.float64), input_size=2,
                         num_layers=2, bidirectional=True)
    x = sg.Tensor(np.random.default_rng(0).normal(size=(3, 2, 2)), requires_grad=True)
    parameters = list(small.parameters())
    print(len(parameters), "parameter tensors:", [name for name, _ in small.named_parameters()][:4], "...")
    print("gradcheck:", sg.gradcheck(lambda x, *params: small(x, lengths=[3, 2]), [x, *parameters]))
    """),
    md(r"""
    ### It draws

    The step scopes and the `state_names` are enough for the drawer: each step is a cluster,
    and the cell-state path $c_{t-1} \to c_t$ (double edges) is drawn apart from the hidden
    path (thick edges). Four steps with each step collapsed, after backward:
    """),
    code(r"""
    sg.manual_seed(0)
    tiny = nn.Recurrent(lambda size: PeepholeLSTMCell(size, 2), input_size=2)
    output, (h_n, c_n) = tiny(sg.randn(4, 1, 2))
    loss = (output ** 2).sum()
    with sg.viz.record():
        loss.backward()
    sg.viz.draw(loss, level="cell")
    """),
    md(r"""
    And every primitive of two steps: the `split` of the pre-activation into the four blocks
    (drawn as `getitem` slices), the three peephole products, and the cell state
    $c_t$ feeding the next step's input and forget gates and this step's output gate.
    """),
    code(r"""
    output, _ = tiny(sg.randn(2, 1, 2))
    loss = (output ** 2).sum()
    with sg.viz.record():
        loss.backward()
    sg.viz.draw(loss)
    """),
]

# ---------------------------------------------------------------------------------------------
# 5. Bidirectional tagging
# ---------------------------------------------------------------------------------------------
BIDIRECTIONAL = [
    md(r"""
    # 5 · Bidirectional tagging with variable lengths

    A *tagger* gives every token a label. When the label depends on what comes **later**, a
    left-to-right RNN has to guess: at step $t$ it has seen only $x_1..x_t$. A bidirectional
    layer runs a second RNN, with its own weights, from the end of the sequence backwards and
    concatenates the two states:

    $$\overrightarrow{h}_t = f(x_t, \overrightarrow{h}_{t-1}), \qquad
      \overleftarrow{h}_t = f'(x_t, \overleftarrow{h}_{t+1}), \qquad
      y_t = W_{hy}\,[\overrightarrow{h}_t ; \overleftarrow{h}_t] + b_y .$$

    Real batches hold sequences of different lengths, padded to the longest. Padding must not
    leak in: the backward direction of a sequence of length $L$ has to start at step $L$, not
    at the padded end $T$. seqgrad does this when the layer is called with `lengths=`.
    """),
    code(r"""
    import matplotlib.pyplot as plt
    import numpy as np

    import seqgrad as sg
    from seqgrad import data, nn
    from seqgrad.nn import functional as F

    sg.manual_seed(0)
    np.set_printoptions(precision=4, suppress=True, linewidth=110)
    """),
    md(r"""
    ## A task that needs both directions

    Tokens are the ids $0..7$ and a marker `M` (id 8); each sequence has 4 to 20 tokens and
    zero, one or two markers. The tag of token $t$ says whether a marker occurs strictly
    **before** it and strictly **after** it:

    $$\text{tag}_t = 2\cdot[\exists\, s < t: x_s = M] + [\exists\, s > t: x_s = M] \in \{0, 1, 2, 3\}.$$

    The *before* bit is a running OR, which a forward RNN computes easily; the *after* bit is
    the same OR run backwards.
    """),
    code(r"""
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
    """),
    md(r"""
    ## Padding and lengths

    `data.pad_sequences` stacks sequences time-major, $(T, B)$ with $T$ the longest length,
    and returns the lengths. `data.batches` does the same per minibatch and pads the tags with
    $-100$, the `ignore_index` of `cross_entropy`, so padded positions add nothing to the loss
    and are not counted in its mean:

    $$\mathcal{L} = \frac{1}{\#\{(t,b): t < L_b\}} \sum_{b} \sum_{t < L_b}
      \Big(\log\sum_c e^{z_{t,b,c}} - z_{t,b,\text{tag}_{t,b}}\Big).$$
    """),
    code(r"""
    padded, lengths = data.pad_sequences(train_sequences[:3], padding_value=PAD)
    print("padded is (T, B) =", padded.shape, "; shown one row per sequence:\n", padded.T, "\nlengths:", lengths)

    batch = next(data.batches(train_sequences[:3], train_tags[:3], batch_size=3, shuffle=False,
                              padding_value=PAD))
    print("\ntags, padded with", data.IGNORE_INDEX, "(one row per sequence):\n", batch.targets.T)
    """),
    md(r"""
    ### What `lengths=` changes

    With `lengths[b] = L_b`, sequence $b$ is only its first $L_b$ steps: its forward state
    stops changing after $L_b$, its backward direction *starts* at $L_b$, outputs past $L_b$
    are zero, and the final states are each sequence's own. That is PyTorch's packed-sequence
    result. We check it on one short sequence: inside a padded batch **with** lengths it gives
    exactly what it gives alone; **without** lengths its backward half has read the padding.
    """),
    code(r"""
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
    """),
    md(r"""
    ## The tagger

    Embedding → (bi)LSTM → Linear on every step. The logits are $(T, B, 4)$; `cross_entropy`
    takes $(N, C)$ scores, so time and batch are flattened together, and the $-100$ tags of
    the padding are skipped. We train a unidirectional and a bidirectional tagger with the
    same sizes, data and budget.
    """),
    code(r"""
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
    """),
    md(r"""
    The forward-only tagger is stuck: it cannot know whether a marker is coming. Splitting its
    accuracy by bit shows exactly where it fails.
    """),
    code(r"""
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
    """),
    md(r"""
    The forward-only tagger gets the *before* bit right everywhere and the *after* bit only as
    often as a guess from position allows; the bidirectional one reads the answer from its
    backward half. Because of `lengths=`, that backward half starts at each sequence's own last
    token, so the padding never shifts its state.
    """),
]

# ---------------------------------------------------------------------------------------------
# 6. Training in practice
# ---------------------------------------------------------------------------------------------
PRACTICE = [
    md(r"""
    # 6 · Training in practice

    The pieces around a recurrent layer that decide whether training works:

    1. **embeddings**: integer tokens in, learned vectors out;
    2. **cross-entropy**: computed stably, with padded targets ignored;
    3. **dropout** between layers and **recurrent (variational) dropout** on the state;
    4. **truncated BPTT** for long streams, and what it cannot learn;
    5. **scaling** inputs and targets for forecasting, with sliding windows.
    """),
    code(r"""
    import time

    import matplotlib.pyplot as plt
    import numpy as np

    import seqgrad as sg
    from seqgrad import bptt, data, nn
    from seqgrad.nn import functional as F

    sg.manual_seed(0)
    np.set_printoptions(precision=4, suppress=True, linewidth=110)
    """),
    md(r"""
    ## Embeddings

    An `Embedding(V, d)` is a table $E \in \mathbb{R}^{V \times d}$; token $i$ becomes row
    $E_i$. That is the product of a one-hot vector with $E$, without building the one-hot:

    $$e = \text{onehot}(i)^\top E = E_i, \qquad
      \frac{\partial L}{\partial E_j} = \sum_{t:\, i_t = j} \frac{\partial L}{\partial e_t}.$$

    The gradient is a scatter-add into the rows that were used (a token used twice receives
    the sum), and every other row gets exactly zero. The padding row (`padding_idx`) starts at
    zero and never receives a gradient.
    """),
    code(r"""
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
    """),
    md(r"""
    ## Cross-entropy, stably

    For logits $z \in \mathbb{R}^C$ and target class $y$:
    $\;\mathcal{L} = -\log \text{softmax}(z)_y = \log\sum_c e^{z_c} - z_y.$
    Computing the softmax first overflows for large logits; the log-sum-exp form subtracts
    the maximum inside, $\log\sum_c e^{z_c} = m + \log\sum_c e^{z_c - m}$, and stays exact.
    Its gradient is the familiar $\partial\mathcal{L}/\partial z = \text{softmax}(z) - \text{onehot}(y)$.
    Two reference points: a model that predicts uniformly scores $\ln C$, and targets equal
    to `ignore_index` ($-100$) neither add to the loss nor count in its mean.
    """),
    code(r"""
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
    """),
    md(r"""
    ## Dropout and recurrent dropout

    **Dropout** (inverted) keeps each activation with probability $1-p$ and scales the kept
    ones by $1/(1-p)$, so the expected value is unchanged and evaluation needs no rescaling:
    $\tilde h = h \odot m / (1-p)$, $m_i \sim \text{Bernoulli}(1-p)$. In training mode
    `nn.Dropout(p)` does this; after `model.eval()` it is the identity. In `nn.LSTM(...,
    num_layers=2, dropout=p)` it acts between stacked layers, never on the recurrent path.

    **Recurrent (variational) dropout** (Gal & Ghahramani, 2016) drops units of $h_{t-1}$
    before $W_{hh}$ with **one mask per sequence**, reused at every step:
    $h_t = f(x_t,\; h_{t-1} \odot m)$. A fresh mask every step would inject new noise into the
    recurrent path at each step, which compounds over time; a fixed mask removes the same units
    for the whole sequence. `recurrent_dropout=p` in any seqgrad layer does this, for the
    built-in cells and for your own.

    To *see* the mask we use a probe cell whose next state is always ones: the state it
    receives is then exactly $1 \cdot m$.
    """),
    code(r"""
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
    """),
    md(r"""
    Black is a dropped unit. In practice: `nn.LSTM(d, h, num_layers=2, dropout=0.3,
    recurrent_dropout=0.25)`, plus `nn.Dropout` on embeddings or outputs; call
    `model.train()` before training and `model.eval()` before evaluating or sampling.

    ## Truncated BPTT

    A long stream (a corpus, a sensor log) is cut into windows of $k$ steps. The state that
    enters a window is the previous window's final state, **detached**; each window's loss is
    backpropagated and the parameters updated before the next window. Memory and time per
    update are $O(k)$ instead of $O(T)$. The price: the gradient never crosses a window
    boundary,

    $$\frac{\partial \mathcal{L}_t}{\partial h_s} \text{ is treated as } 0
      \quad\text{when } s \text{ lies in an earlier window than } t,$$

    so a dependency longer than $k$ steps gets **no** training signal: the state still
    carries information forward, but nothing teaches the network to put it there.

    A task with a known span shows it. The input is a stream of random bits and the target
    at step $t$ is the bit from $\delta = 6$ steps earlier (an echo). Chance is
    $\ln 2 = 0.693$ nats. `bptt.run_truncated_bptt(forward, loss_fn, inputs, targets, window,
    optimizer, clip=...)` runs one pass over the stream and returns one result per window.
    """),
    code(r"""
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
    """),
    md(r"""
    With $k = 3$ and $k = 6$ no window contains both an input and the target that depends on
    it, so the loss stays at chance. With $k = 12$ the last six steps of each window carry the
    signal, and the network then uses the carried state for the whole stream (including the
    first steps of each window, whose sources lie in the previous window). Choose $k$ above
    the span you need; when that is unaffordable, an LSTM's memory still helps only if
    something trained it to keep the information.

    ## Scaling inputs for forecasting

    Recurrent cells squash their pre-activations with $\tanh$ and $\sigma$, whose slopes vanish
    away from zero ($\tanh' = 1 - \tanh^2$). A raw series in its own units (here a daily
    temperature between 11 and 29 °C) pushes the gates into saturation, and the readout has to
    climb to 20 from an initialisation near 0. The standard recipe:

    1. **split by time** first (train on the past, test on the future);
    2. **fit** the scaler on the training part only (no peeking at test statistics):
       `StandardScaler` gives $x' = (x - \mu)/\sigma$, `MinMaxScaler` maps $[\min, \max]$ to a range;
    3. cut **sliding windows**: `data.sliding_windows(series, window, horizon)` gives inputs
       $(W, N, 1)$ and the next `horizon` values $(H, N, 1)$;
    4. train on the scaled values and **invert** the predictions, `scaler.inverse_transform`,
       to report errors in the original units.
    """),
    code(r"""
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
    """),
    code(r"""
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
    """),
    md(r"""
    The same recipe on the chaotic Mackey-Glass series (`data.mackey_glass`, delay
    $\tau = 17$), with `MinMaxScaler` to $[-1, 1]$ and a horizon of 5 steps: each window now
    predicts the next five values at once (the head outputs 5 numbers).
    """),
    code(r"""
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
    """),
]

NOTEBOOKS: dict[str, list[nbformat.NotebookNode]] = {
    "01_engine.ipynb": ENGINE,
    "02_elman_rnn.ipynb": ELMAN,
    "03_vanishing_exploding.ipynb": VANISHING,
    "04_gates_and_custom_cells.ipynb": GATES,
    "05_bidirectional_tagging.ipynb": BIDIRECTIONAL,
    "06_training_in_practice.ipynb": PRACTICE,
}


# ---------------------------------------------------------------------------------------------
# Building and running
# ---------------------------------------------------------------------------------------------
def build(cells: list[nbformat.NotebookNode]) -> nbformat.NotebookNode:
    """A fresh notebook (no outputs) holding copies of `cells`, with the python3 kernelspec."""
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.from_dict(dict(cell)) for cell in cells]
    for index, cell in enumerate(notebook.cells):
        cell["id"] = f"cell-{index:02d}"  # stable ids: rebuilding does not churn the diff
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    notebook.metadata["language_info"] = {"name": "python"}
    return notebook


def kernel_environment(scratch: Path) -> dict[str, str]:
    """The kernel's environment: one BLAS thread, IPython and matplotlib state kept in `scratch`.

    One thread because seqgrad's matrices are small: on a busy two-core machine a threaded BLAS
    spends more time waiting than multiplying (measured 40x slower on an LSTM step).
    """
    env = dict(os.environ)
    env.pop("MPLBACKEND", None)  # a non-interactive backend from the caller would keep plots out of the outputs
    env.update({
        "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
        "IPYTHONDIR": str(scratch / "ipython"), "MPLCONFIGDIR": str(scratch / "matplotlib"),
        "PYDEVD_DISABLE_FILE_VALIDATION": "1",
    })
    return env


def execute(notebook: nbformat.NotebookNode, workdir: Path, scratch: Path | None = None,
            timeout: float = NOTEBOOK_TIMEOUT) -> float:
    """Run every cell of `notebook` in place (outputs filled in); raise on the first error.

    The kernel is this interpreter's ipykernel (`sys.executable -m ipykernel_launcher`):
    an empty kernel search path leaves only the native kernel, so no kernelspec installed for
    another Python can be picked up. It runs in `workdir`; its connection file and IPython and
    matplotlib state go to `scratch` (default: `workdir`). The whole notebook must finish within
    `timeout` seconds. Returns the wall time in seconds.
    """
    scratch = Path(scratch or workdir)
    specs = KernelSpecManager(kernel_dirs=[])
    manager = KernelManager(kernel_name="python3", kernel_spec_manager=specs,
                            connection_file=str(scratch / f"kernel-{os.getpid()}-{time.monotonic_ns()}.json"))
    started = time.monotonic()
    deadline = started + timeout
    client = NotebookClient(
        notebook, km=manager, record_timing=False, resources={"metadata": {"path": str(workdir)}},
        timeout_func=lambda cell: max(1, int(deadline - time.monotonic())),
    )
    try:
        client.execute(env=kernel_environment(scratch), cleanup_kc=True)  # cleanup_kc: shut the kernel down
    finally:
        if manager.has_kernel:  # an error during start-up or execution must not leave a kernel running
            manager.shutdown_kernel(now=True)
    return time.monotonic() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("prefixes", nargs="*", help="build only notebooks whose names start with these")
    parser.add_argument("--no-execute", action="store_true",
                        help="write the sources without running them (the tests expect saved outputs)")
    args = parser.parse_args(argv)
    chosen = [name for name in NOTEBOOKS if not args.prefixes or name.startswith(tuple(args.prefixes))]
    if not chosen:
        parser.error(f"no notebook starts with {' or '.join(args.prefixes)}; have {', '.join(NOTEBOOKS)}")
    for name in chosen:
        notebook = build(NOTEBOOKS[name])
        if not args.no_execute:
            with tempfile.TemporaryDirectory(prefix="seqgrad-notebook-") as workdir:
                seconds = execute(notebook, Path(workdir))
            print(f"{name}: ran in {seconds:.1f} s")
        nbformat.validate(notebook)
        nbformat.write(notebook, HERE / name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
