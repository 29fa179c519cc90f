"""Checkpoints: round trip, no pickles, corrupt files named, atomic writes."""

import zipfile

import numpy as np
import pytest

import seqgrad as sg
from seqgrad import nn


def test_round_trip(tmp_path):
    model = nn.GRU(3, 4, num_layers=2)
    path = sg.save(model.state_dict(), tmp_path / "gru.npz")
    other = nn.GRU(3, 4, num_layers=2)
    other.load_state_dict(sg.load(path))
    for (name, a), (_, b) in zip(model.named_parameters(), other.named_parameters()):
        np.testing.assert_array_equal(a.data, b.data, err_msg=name)
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_object_arrays_are_refused_on_save_and_load(tmp_path):
    with pytest.raises(TypeError, match="numeric"):
        sg.save({"bad": np.array([{"a": 1}], dtype=object)}, tmp_path / "x.npz")
    path = tmp_path / "pickled.npz"
    np.savez(path, evil=np.array([object()], dtype=object))  # what a hostile file holds
    with pytest.raises(sg.CheckpointError, match="pickled.npz: refused"):
        sg.load(path)


def test_truncated_and_corrupt_files_name_the_file(tmp_path):
    good = sg.save({"w": np.arange(1000.0)}, tmp_path / "good.npz")
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(sg.CheckpointError, match="truncated.npz"):
        sg.load(truncated)
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"this is not a zip archive at all")
    with pytest.raises(sg.CheckpointError, match="garbage.npz"):
        sg.load(garbage)
    with pytest.raises(FileNotFoundError):
        sg.load(tmp_path / "missing.npz")


def test_interrupted_save_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    path = sg.save({"w": np.ones(3)}, tmp_path / "model.npz")

    def crash(member, array, **options):
        member.write(b"\x93NUMPY partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(np.lib.format, "write_array", crash)
    with pytest.raises(KeyboardInterrupt):
        sg.save({"w": np.zeros(3)}, path)
    monkeypatch.undo()
    np.testing.assert_array_equal(sg.load(path)["w"], np.ones(3))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.npz"]
    assert zipfile.is_zipfile(path)


def test_checkpoint_that_does_not_fit_the_model_changes_nothing(tmp_path):
    path = sg.save(nn.LSTM(3, 5).state_dict(), tmp_path / "wide.npz")
    model = nn.LSTM(3, 4)
    before = model.state_dict()
    with pytest.raises(sg.StateDictError, match=r"weight_hh_l0: expected shape \(16, 4\), got \(20, 5\)"):
        model.load_state_dict(sg.load(path))
    for name, value in model.state_dict().items():
        np.testing.assert_array_equal(value, before[name])


def test_any_key_name_round_trips(tmp_path):
    state = {"file": np.arange(3.0), "allow_pickle": np.ones(2), "layer.weight_hh_l0": np.eye(2)}
    loaded = sg.load(sg.save(state, tmp_path / "names.npz"))
    assert sorted(loaded) == sorted(state)
    for name, value in state.items():
        np.testing.assert_array_equal(loaded[name], value)
