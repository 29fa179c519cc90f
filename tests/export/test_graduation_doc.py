"""docs/GRADUATION.md runs as printed: its Python blocks in order (a `# file: NAME` block is written to
NAME instead), its shell commands in order. The `torchrun` command is a real distributed run: two
processes on gloo (this machine, a free port: --standalone) train the exported char LM with
DistributedDataParallel on the two halves of the batch, and must end with the weights the
one-process run gets from the whole batch (float32, 1e-6)."""

import os
import re
import runpy
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from seqgrad.cli import main

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch

DOC = Path(__file__).resolve().parents[2] / "docs" / "GRADUATION.md"
CORPUS = "the cat sat on the mat. the dog sat on the log. a cat and a dog sat on a mat and a log.\n" * 30
TORCHRUN_TIMEOUT = 240  # seconds; the processes are killed after it


def blocks() -> list[tuple[str, str]]:
    return re.findall(r"```(python|sh)\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)


def run_command(line: str, folder: Path, monkeypatch) -> None:
    """`seqgrad ...` and `python SCRIPT ...` run in this process; `torchrun ...` as its own processes."""
    words = shlex.split(line)
    if words[0] == "seqgrad":
        assert main(words[1:]) == 0, line
    elif words[0] == "python":
        monkeypatch.setattr(sys, "argv", words[1:])
        runpy.run_path(str(folder / words[1]), run_name="__main__")
    elif words[0] == "torchrun":
        environment = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
        process = subprocess.Popen([sys.executable, "-m", "torch.distributed.run", *words[1:]], cwd=folder,
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=environment,
                                   start_new_session=True)
        try:
            output = process.communicate(timeout=TORCHRUN_TIMEOUT)[0].decode(errors="replace")
        finally:
            if process.poll() is None:  # the launcher and its workers share the session: end them all
                os.killpg(process.pid, 9)
                process.wait()
        assert process.returncode == 0, f"{line}\n{output[-4000:]}"
    else:
        raise AssertionError(f"the test does not know how to run {line!r}")


def test_graduation_doc_commands_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "corpus.txt").write_text(CORPUS, encoding="utf-8")
    found = blocks()
    for kind, text in found:
        if kind == "python" and text.startswith("# file: "):
            name, _, body = text.partition("\n")
            (tmp_path / name[len("# file: "):].strip()).write_text(body, encoding="utf-8")
    namespace: dict = {"__name__": "graduation"}
    commands = []
    for kind, text in found:
        if kind == "python" and not text.startswith("# file: "):
            exec(compile(text, str(DOC), "exec"), namespace)
        elif kind == "sh":
            for line in text.splitlines():
                if line.strip() and not line.startswith("#"):
                    commands.append(line)
                    run_command(line, tmp_path, monkeypatch)
    assert any(line.startswith("torchrun --standalone --nproc_per_node 2") for line in commands)
    assert {"seqgrad export", "python train_torch.py", "seqgrad sample"} <= {" ".join(c.split()[:2]) for c in commands}

    # the exported files, and the torch model back in seqgrad
    assert {"model.py", "weights.pt", "vocab.json"} <= {path.name for path in (tmp_path / "exported").iterdir()}
    assert (tmp_path / "lm_trained.npz").is_file()

    # two processes on two halves of the batch = one process on the whole batch
    one = torch.load(tmp_path / "one_process.pt", weights_only=True)
    two = torch.load(tmp_path / "two_processes.pt", weights_only=True)
    start = torch.load(tmp_path / "exported" / "weights.pt", weights_only=True)
    assert set(one) == set(two) == set(start)
    for name in one:
        assert one[name].dtype == torch.float32
        assert not torch.equal(one[name], start[name]), f"{name} did not train"
        difference = (one[name] - two[name]).abs().max().item()
        assert difference <= 1e-6 * max(one[name].abs().max().item(), 1.0), (name, difference)
