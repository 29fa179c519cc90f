"""Hostile and broken files: a checkpoint's header is checked against its arrays before any model is
built, what a file may make the process allocate is capped (declared sizes, deflated members), deep
JSON is refused, only numeric .npy members load, keys that would not read back are refused at save,
and the temporary files of a killed save are cleaned up by the next one."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import tracemalloc
import zipfile

import numpy as np
import pytest

import seqgrad as sg
from seqgrad.data import CharTokenizer
from seqgrad.data.errors import DataFileError
from seqgrad.models.char_lm import CharLM
from seqgrad.training.lm_checkpoint import META_KEY, json_array, load_char_lm, save_char_lm

MIB = 2**20


@pytest.fixture
def checkpoint(tmp_path):
    """A small char-LM checkpoint (a few KB), as `seqgrad train` writes it."""
    sg.manual_seed(0)
    tokenizer = CharTokenizer().fit("hello world")
    model = CharLM(len(tokenizer.vocab), 4, 8, "lstm")
    return save_char_lm(tmp_path / "lm.npz", model, tokenizer)


def rewrite_header(path, **model_changes):
    arrays = sg.load(path)
    meta = json.loads(arrays[META_KEY].tobytes())
    meta["model"].update(model_changes)
    arrays[META_KEY] = json_array(meta)
    sg.save(arrays, path)


def one_line(error) -> str:
    message = str(error.value)
    assert "\n" not in message, message
    return message


@pytest.mark.parametrize("change", [{"hidden_size": 6000}, {"vocab_size": 10**12}, {"vocab_size": 1e12},
                                   {"embedding_dim": 10**15}, {"num_layers": 10**9}])
def test_a_header_that_disagrees_with_the_arrays_is_refused_before_any_model_is_built(checkpoint, change):
    rewrite_header(checkpoint, **change)
    assert checkpoint.stat().st_size < 16_000
    tracemalloc.start()   # numpy reports its allocations here
    try:
        with pytest.raises(sg.CheckpointError) as refused:
            load_char_lm(checkpoint)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    message = one_line(refused)
    assert str(checkpoint) in message and ("refused before building" in message or "must be a positive int" in message
                                           or "weight arrays" in message)
    assert peak < 5 * MIB, peak


def write_member(archive, name, header_shape, data, compress=zipfile.ZIP_STORED):
    """A .npy member whose header says `header_shape` float32 and whose data is `data` (bytes or chunks)."""
    header = {"descr": "<f4", "fortran_order": False, "shape": header_shape}
    info = zipfile.ZipInfo(name)
    info.compress_type = compress
    with archive.open(info, mode="w", force_zip64=True) as member:
        np.lib.format.write_array_header_1_0(member, header)
        for chunk in ([data] if isinstance(data, bytes) else data):
            member.write(chunk)


def test_a_zip_bomb_is_refused_from_the_directory_without_inflating_it(tmp_path):
    path = tmp_path / "bomb.npz"
    with zipfile.ZipFile(path, "w") as archive:   # 100 MiB of zeros: about 100 KB on disk
        write_member(archive, "w.npy", (25 * MIB,), (bytes(MIB) for _ in range(100)), zipfile.ZIP_DEFLATED)
    assert path.stat().st_size < 1 * MIB
    tracemalloc.start()
    try:
        with pytest.raises(sg.CheckpointError) as refused:
            sg.load(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert "zip bomb" in one_line(refused) and "'w.npy'" in str(refused.value)
    assert peak < 5 * MIB, peak


def test_declared_shapes_must_match_the_bytes_and_fit_the_cap(tmp_path):
    liar = tmp_path / "liar.npz"
    with zipfile.ZipFile(liar, "w") as archive:   # says 10**12 floats, holds 400 bytes
        write_member(archive, "w.npy", (10**12,), bytes(400))
    with pytest.raises(sg.CheckpointError) as refused:
        sg.load(liar)
    assert "declares shape (1000000000000,)" in one_line(refused)
    honest = sg.save({"w": np.zeros(10_000, np.float32)}, tmp_path / "honest.npz")
    with pytest.raises(sg.CheckpointError) as capped:
        sg.load(honest, max_bytes=1000)
    assert "more than 1,000 bytes" in one_line(capped) and "max_bytes" in str(capped.value)
    np.testing.assert_array_equal(sg.load(honest)["w"], np.zeros(10_000, np.float32))


@pytest.mark.parametrize("nesting", ["[" * 200_000 + "]" * 200_000, '{"a":' * 200_000 + "1" + "}" * 200_000])
def test_deeply_nested_header_json_is_one_line_not_a_recursion_error(checkpoint, tmp_path, nesting):
    arrays = sg.load(checkpoint)
    arrays[META_KEY] = np.frombuffer(nesting.encode(), dtype=np.uint8).copy()
    sg.save(arrays, checkpoint)
    with pytest.raises(sg.CheckpointError) as refused:
        load_char_lm(checkpoint)
    assert "nested more than 64 levels" in one_line(refused)
    tokenizer_file = tmp_path / "tokenizer.json"
    tokenizer_file.write_text(nesting, encoding="utf-8")
    with pytest.raises(DataFileError) as refused:
        CharTokenizer.load(tokenizer_file)
    assert "nested more than 64 levels" in one_line(refused) and str(tokenizer_file) in str(refused.value)


@pytest.mark.parametrize("value, kind", [(np.array([1 + 2j]), "complex128"), (np.array([b"abc"]), "|S3"),
                                         (np.array(["text"]), "<U4"), (np.array([1, None], dtype=object), "pickled")])
def test_only_numeric_npy_members_load(tmp_path, value, kind):
    path = tmp_path / "odd.npz"
    np.savez(path, good=np.ones(3), odd=value)
    with pytest.raises(sg.CheckpointError) as refused:
        sg.load(path)
    assert kind in one_line(refused) and str(path) in str(refused.value)


def test_a_member_that_is_not_npy_is_refused(tmp_path):
    path = tmp_path / "extra.npz"
    sg.save({"w": np.ones(2)}, path)
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr("notes.txt", b"raw bytes")
    with pytest.raises(sg.CheckpointError) as refused:
        sg.load(path)
    assert "'notes.txt' is not a .npy array" in one_line(refused)


@pytest.mark.parametrize("key, shown", [("a\x00b", r"'a\x00b'"), ("tab\there", r"'tab\there'"),
                                        ("k" * 70_000, "'kkkk")])
def test_keys_that_would_not_read_back_are_refused_at_save_with_the_key_shown(tmp_path, key, shown):
    path = tmp_path / "keys.npz"
    with pytest.raises(ValueError) as refused:
        sg.save({key: np.ones(2), "a": np.zeros(2)}, path)
    message = one_line(refused)
    assert shown in message and len(message) < 300
    assert not path.exists() and not list(tmp_path.iterdir())


def test_the_temporary_file_of_a_killed_save_is_removed_by_the_next_save(tmp_path):
    """kill -9 in the middle of a save, as the issue did, then save again to the same folder."""
    child = textwrap.dedent(f"""
        import sys, time
        import numpy as np
        import seqgrad as sg

        def stall(member, array, **options):
            member.write(b"\\x93NUMPY partial")
            print("writing", flush=True)
            time.sleep(60)

        np.lib.format.write_array = stall
        sg.save({{"w": np.ones(3)}}, {str(tmp_path / "model.npz")!r})
        """)
    process = subprocess.Popen([sys.executable, "-c", child], stdout=subprocess.PIPE, text=True,
                               env={**os.environ, "OPENBLAS_NUM_THREADS": "1"})
    try:
        assert process.stdout.readline().strip() == "writing"
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.kill()
        process.wait()
        process.stdout.close()
    stale = [path.name for path in tmp_path.iterdir()]
    assert len(stale) == 1 and stale[0].startswith(f".model.npz.seqgrad-{process.pid}.") and stale[0].endswith(".tmp")
    live = tmp_path / f".other.npz.seqgrad-{os.getpid()}.abcdefgh.tmp"   # a save in progress elsewhere: kept
    live.write_bytes(b"")
    sg.save({"w": np.zeros(3)}, tmp_path / "model.npz")
    assert sorted(path.name for path in tmp_path.iterdir()) == [live.name, "model.npz"]
    np.testing.assert_array_equal(sg.load(tmp_path / "model.npz")["w"], np.zeros(3))
