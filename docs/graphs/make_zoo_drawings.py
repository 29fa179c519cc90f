"""Draws every cell of seqgrad.nn.zoo unrolled over 3 steps at cell level, after backward, into
docs/graphs/zoo_<name>.svg (run from anywhere: `python docs/graphs/make_zoo_drawings.py`)."""

import re
from pathlib import Path

import seqgrad as sg
from seqgrad import nn

HERE = Path(__file__).resolve().parent


def slug(cell_type) -> str:
    """LayerNormLSTMCell -> layer_norm_lstm, IndRNNCell -> indrnn."""
    name = cell_type.__name__.removesuffix("Cell").replace("IndRNN", "Indrnn").replace("CIFG", "Cifg")
    name = name.replace("LSTM", "Lstm").replace("GRU", "Gru")
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


for cell_type in nn.zoo.CELLS:
    sg.manual_seed(0)
    layer = nn.Recurrent(lambda size, c=cell_type: c(size, 3), input_size=2)
    readout = nn.Linear(3, 1)
    output, _ = layer(sg.randn(3, 1, 2))
    with sg.scope("readout"):
        loss = ((readout(output[-1]) - 1.0) ** 2).sum()
    loss.backward()
    drawing = sg.viz.draw(loss, level="cell", title=f"{cell_type.__name__}: 3 steps, after backward")
    path = sg.viz.render(drawing, HERE / f"zoo_{slug(cell_type)}.svg")
    print("wrote", path.name)
