"""Modules: layers, cells, sequence layers and losses, all built from primitive ops."""

from . import functional, init, utils
from .attention import AdditiveAttention, Attention, AttentionMemory, DotProductAttention
from .cells import Cell, GatedCell, GRUCell, LSTMCell, RNNCell
from .layers import Dropout, Embedding, Linear, Sequential
from .module import Module, Parameter
from .recurrent import GRU, LSTM, RNN, Recurrent

__all__ = [
    "functional", "init", "utils", "Module", "Parameter", "Linear", "Embedding", "Dropout", "Sequential",
    "Cell", "GatedCell", "RNNCell", "LSTMCell", "GRUCell", "Recurrent", "RNN", "LSTM", "GRU",
    "Attention", "AttentionMemory", "AdditiveAttention", "DotProductAttention",
]
