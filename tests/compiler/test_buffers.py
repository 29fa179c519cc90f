"""The buffer pool of compiled layers hands a large buffer out again only once nothing else holds
it, so reuse never changes a value in use (saved activations, views, results)."""

import numpy as np

import seqgrad as sg
from seqgrad import nn
from seqgrad.compiler.buffers import BufferPool


def test_a_buffer_in_use_is_never_handed_out_again():
    pool = BufferPool()
    first = pool.empty((512, 1024), np.float32)
    second = pool.empty((512, 1024), np.float32)
    assert first is not second  # `first` is still held here
    view = second[3]
    del second
    assert pool.empty((512, 1024), np.float32).base is not view.base  # a view keeps its buffer in use
    del first
    assert pool.empty((512, 1024), np.float32) is pool.kept[((512, 1024), "<f4")][0]
    assert pool.empty((4, 4), np.float32) is not pool.empty((4, 4), np.float32)  # small: plain np.empty


def test_two_graphs_alive_at_once_keep_their_own_buffers():
    sg.manual_seed(0)
    eager = nn.GRU(16, 256, dtype=np.float64)  # (T, B, 3H) buffers above the pooling size
    layer = sg.compile(eager)
    x = sg.Tensor(np.random.default_rng(0).standard_normal((40, 8, 16)))
    eager(x * 2.0)[0].sum().backward()
    expected = [p.grad.copy() for p in eager.parameters()]
    eager.zero_grad()
    first, _ = layer(x)
    second, _ = layer(x * 2.0)
    first.sum().backward()
    again, _ = layer(x)  # takes buffers while `second`'s saved values are still alive
    again.sum().backward()
    layer.zero_grad()
    second.sum().backward()  # its saved values were not overwritten by the calls in between
    for want, param in zip(expected, layer.parameters()):
        np.testing.assert_allclose(param.grad, want, rtol=1e-10, atol=1e-12)
