#!/bin/sh
# Regenerates the drawings in docs/graphs with the command line (run from anywhere):
#   sh docs/graphs/make_drawings.sh            PNG copies for a quick look: PNG=/tmp/graphs sh ...
set -e
cd "$(dirname "$0")"
PYTHON=${PYTHON:-../../.venv/bin/python}
draw() {  # draw NAME ARGS...: NAME.svg here (and NAME.png in $PNG when set)
    name=$1; shift
    "$PYTHON" -m seqgrad graph "$@" -o "$name.svg"
    if [ -n "$PNG" ]; then mkdir -p "$PNG"; "$PYTHON" -m seqgrad graph "$@" -o "$PNG/$name.png"; fi
}
for cell in rnn lstm gru bilstm; do
    draw "${cell}_before" --cell "$cell" --steps 3
    draw "${cell}_after" --cell "$cell" --steps 3 --backward
done
draw bilstm_cell_after --cell bilstm --steps 3 --level cell --backward
draw rnn_1000_steps_cell_after --cell rnn --steps 1000 --level cell --keep 3 2 --backward
"$PYTHON" -m seqgrad gradflow -o gradflow.png
"$PYTHON" - <<'PYTHON'
import shutil, tempfile
import seqgrad as sg
from seqgrad import nn
from seqgrad.viz import replay
sg.manual_seed(0)
output, _ = nn.LSTM(2, 3)(sg.randn(4, 1, 2))
loss = (output[-1] ** 2).sum()
with sg.viz.record():
    loss.backward()
with tempfile.TemporaryDirectory() as folder:
    files = replay(loss, folder, level="cell", title="Backward replay: LSTM, 4 steps, loss on the last output")
    shutil.copy(files.gif, "replay_lstm_cell.gif")
print("wrote replay_lstm_cell.gif")

# Truncated BPTT: two windows of 4 steps drawn together; the second starts from the first one's
# final state, detached (the cut), and continues its step numbers.
from seqgrad.bptt import detach_state
sg.manual_seed(0)
rnn, head = nn.RNN(2, 3), nn.Linear(3, 1)
inputs = sg.randn(8, 1, 2)
losses, state = [], None
for start in (0, 4):
    output, state = rnn(inputs[start:start + 4], detach_state(state))
    with sg.scope("readout"):
        loss = (head(output[-1]) ** 2).sum()
    with sg.viz.record():
        loss.backward()
    losses.append(loss)
sg.viz.render(sg.viz.draw(losses, level="cell", title="Truncated BPTT: two windows of 4 steps; the second starts "
                                                   "from the first one's h_4, detached: no gradient crosses the cut"),
              "truncated_cut.svg")
print("wrote truncated_cut.svg")

# Sequence to sequence with attention at cell level: the encoder's outputs reach the attention
# through stack, concat and the key projection, drawn straight through, so every decoder step
# gets an edge from every encoder step (the fan-in of attention).
import numpy as np
from seqgrad.models import Seq2Seq
sg.manual_seed(0)
model = Seq2Seq(8, 6, bos_id=1, eos_id=2, embedding_size=4, hidden_size=5)
sources, lengths = np.array([[3], [4], [5], [6]]), np.array([4])
loss = model.loss(sources, lengths, np.array([[3], [4], [2]]))
with sg.viz.record():
    loss.backward()
sg.viz.render(sg.viz.draw(loss, level="cell", title="Seq2Seq with additive attention, cell level: each decoder step "
                                                     "reads every encoder step (4 source steps, 3 target steps)"),
              "seq2seq_attention_cell.svg")
print("wrote seq2seq_attention_cell.svg")
PYTHON
"$PYTHON" make_zoo_drawings.py
