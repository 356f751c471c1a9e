"""The example files run, and their answers agree with finite differences."""
from __future__ import annotations

import shlex
from pathlib import Path

import pytest

import mcalc
from numeric import fd_jacobian, max_rel_error, random_values

EXAMPLES = sorted((Path(__file__).resolve().parent.parent / "examples").glob("*.mc"))


def _wrt(path: Path) -> str:
    words = shlex.split(path.read_text(encoding="utf-8").splitlines()[0].lstrip("# "))
    return words[words.index("--wrt") + 1]


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_runs_and_agrees_with_finite_differences(path):
    d = mcalc.diff(path.read_text(encoding="utf-8"), wrt=_wrt(path))
    for seed in range(2):
        values = random_values(d, seed)
        assert max_rel_error(d.evaluate(values), fd_jacobian(d, values)) < 1e-5


def test_there_are_examples_for_the_paper():
    assert {"neuron.mc", "loss.mc", "scalar-chain.mc", "dot-product.mc"} <= {p.name for p in EXAMPLES}
