"""The worked examples of docs/extending.md run as written (a backbone, a loss term, a dataset)."""

from __future__ import annotations

import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[1] / "docs" / "extending.md"


def test_extension_examples_run():
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)
    assert len(blocks) == 3
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, str(DOC), "exec"), namespace)  # noqa: S102 - our own documentation
    from fusionlab.data.sources import SOURCES

    SOURCES.pop("my_nir", None)  # leave the registry as other tests expect it
