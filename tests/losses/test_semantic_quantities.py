"""experiments/semantic_quantities.py (the diagnostic behind experiments/README.md's DECC paragraph) runs as
documented, shrunk to one pair per dataset, and its quantities behave as their definitions say."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "experiments" / "semantic_quantities.py"


def test_documented_command_runs_on_real_pairs(data_dir, tmp_path) -> None:
    readme = (REPO / "experiments" / "README.md").read_text()
    documented = "python experiments/semantic_quantities.py --data-dir ../shared/data"
    assert documented in readme
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "NO_ALBUMENTATIONS_UPDATE": "1"}
    cmd = [sys.executable, str(SCRIPT), "--data-dir", str(data_dir), "--pairs", "1", "--datasets", "lytro", "msrs"]
    out = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    tables = re.findall(r"\n(\w+), 1 test pair\(s\), prior: (.+)\n", out.stdout)
    assert tables == [("lytro", "learned (msrs_tiny)"), ("lytro", "random"), ("msrs", "learned (msrs_tiny)"),
                      ("msrs", "random")]
    rows = re.findall(r"^\| (source a|source b|average|max|laplacian|gff) \| ([\d.]+) \| ([\d.]+) \| ([\d.]+) \| "
                      r"([\d.]+) \|$", out.stdout, flags=re.M)
    assert len(rows) == 4 * 6
    # the two sources are equally far from "the worse of the two sources" by symmetry
    for i in range(0, len(rows), 6):
        assert rows[i][4] == rows[i + 1][4]


def test_quantities_vanish_where_they_should() -> None:
    """F equal to both sources: zero disagreement; the entropy column is the DECC term itself."""
    sys.path.insert(0, str(SCRIPT.parent))
    try:
        import semantic_quantities as sq
    finally:
        sys.path.remove(str(SCRIPT.parent))
    from fusionlab.losses import SemanticEntropyLoss

    torch.manual_seed(0)
    term = SemanticEntropyLoss().eval()
    x = torch.rand(1, 1, 64, 64)
    with torch.no_grad():
        q = sq.quantities(term, x, x, x)
        assert abs(q["kl_agree"]) < 1e-6 and abs(q["cos_conf"]) < 1e-5 and abs(q["cos_worst"]) < 1e-5
        assert abs(q["entropy"] - float(term.compute(sq._low(x), {}))) < 1e-7
        other = sq.quantities(term, x, torch.rand(1, 1, 64, 64), x)
    assert other["cos_worst"] > 1e-3 and other["kl_agree"] > 0
