"""Plain-numpy versions of the equations in docs/EQUATIONS.md, written independently
of seqgrad's cells, to check the layers against the math itself."""

import numpy as np


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def rnn_step(x, h, w_ih, w_hh, b_ih, b_hh, nonlinearity="tanh"):
    pre = x @ w_ih.T + b_ih + h @ w_hh.T + b_hh
    return np.tanh(pre) if nonlinearity == "tanh" else np.maximum(pre, 0)


def lstm_step(x, h, c, w_ih, w_hh, b_ih, b_hh):
    hidden = h.shape[-1]
    pre = x @ w_ih.T + b_ih + h @ w_hh.T + b_hh
    i, f, g, o = (pre[:, k * hidden:(k + 1) * hidden] for k in range(4))
    c_new = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
    return sigmoid(o) * np.tanh(c_new), c_new


def gru_step(x, h, w_ih, w_hh, b_ih, b_hh, reset="after"):
    hidden = h.shape[-1]
    rows = [slice(k * hidden, (k + 1) * hidden) for k in range(3)]
    r = sigmoid(x @ w_ih[rows[0]].T + b_ih[rows[0]] + h @ w_hh[rows[0]].T + b_hh[rows[0]])
    z = sigmoid(x @ w_ih[rows[1]].T + b_ih[rows[1]] + h @ w_hh[rows[1]].T + b_hh[rows[1]])
    if reset == "after":
        n = np.tanh(x @ w_ih[rows[2]].T + b_ih[rows[2]] + r * (h @ w_hh[rows[2]].T + b_hh[rows[2]]))
    else:
        n = np.tanh(x @ w_ih[rows[2]].T + b_ih[rows[2]] + (r * h) @ w_hh[rows[2]].T + b_hh[rows[2]])
    return (1 - z) * n + z * h
