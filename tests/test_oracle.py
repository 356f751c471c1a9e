"""The shared, independent finite-difference oracle over the paper's cases
(../shared/tools/paper_oracle.py), when this checkout sits beside it."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parent.parent.parent / "shared"
ORACLE = SHARED / "tools" / "paper_oracle.py"


@pytest.mark.skipif(not ORACLE.exists(), reason="the shared oracle is not beside this checkout")
def test_paper_oracle_agrees_on_every_case():
    pytest.importorskip("numpy")
    p = subprocess.run([sys.executable, str(ORACLE), str(SHARED / "cases" / "paper.toml"),
                        "--mcalc", f"{sys.executable} -m mcalc", "--seeds", "1"],
                       capture_output=True, text=True, timeout=600)
    last = p.stdout.strip().splitlines()[-1]
    assert p.returncode == 0, p.stdout[-2000:]
    assert last.startswith("46/46"), last


@pytest.mark.skipif(not ORACLE.exists(), reason="the shared oracle is not beside this checkout")
@pytest.mark.parametrize("kind", ["diff", "hessian"])
def test_matrix_oracle_agrees_on_every_case(kind):
    pytest.importorskip("numpy")
    p = subprocess.run([sys.executable, str(ORACLE), str(SHARED / "cases" / "matrix.toml"), "--kind", kind,
                        "--mcalc", f"{sys.executable} -m mcalc", "--seeds", "1"],
                       capture_output=True, text=True, timeout=600)
    last = p.stdout.strip().splitlines()[-1]
    assert p.returncode == 0, p.stdout[-2000:]
    agreed, total = last.split()[0].split("/")
    assert agreed == total and int(total) > 0, last
