"""Modules: layers, cells, sequence layers and losses, all built from primitive ops."""

from . import functional, init, utils, zoo
from .attention import AdditiveAttention, Attention, AttentionMemory, DotProductAttention
from .cells import Cell, GatedCell, GRUCell, LSTMCell, RNNCell
from .layers import Dropout, Embedding, LayerNorm, Linear, Sequential
from .losses import CrossEntropyLoss, MSELoss, NLLLoss
from .module import Module, Parameter
from .recurrent import GRU, LSTM, RNN, Recurrent

__all__ = [
    "functional", "init", "utils", "zoo", "Module", "Parameter", "Linear", "Embedding", "LayerNorm", "Dropout",
    "Sequential",
    "CrossEntropyLoss", "MSELoss", "NLLLoss",
    "Cell", "GatedCell", "RNNCell", "LSTMCell", "GRUCell", "Recurrent", "RNN", "LSTM", "GRU",
    "Attention", "AttentionMemory", "AdditiveAttention", "DotProductAttention",
]
