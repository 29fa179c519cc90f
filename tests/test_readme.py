"""The README's code runs as printed (the ten lines and the custom cell)."""

import re
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def test_readme_code_blocks_run(tmp_path, monkeypatch):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert len(blocks) >= 2
    monkeypatch.chdir(tmp_path)  # the example writes lstm.svg
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, str(README), "exec"), namespace)
    assert (tmp_path / "lstm.svg").stat().st_size > 1000
    layer = namespace["layer"]
    import seqgrad as sg
    output, _ = layer(sg.randn(5, 3, 16))
    assert output.shape == (5, 3, 128)
