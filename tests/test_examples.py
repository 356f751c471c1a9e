"""The example files run, and their answers agree with finite differences."""
from __future__ import annotations

import shlex
from pathlib import Path

import pytest

import mcalc
from numeric import fd_jacobian, max_rel_error, random_values

EXAMPLES = sorted((Path(__file__).resolve().parent.parent / "examples").glob("*.mc"))


def _command(path: Path) -> tuple[str, str, str]:
    """The command, --wrt and --layout of the example's first line."""
    words = shlex.split(path.read_text(encoding="utf-8").splitlines()[0].lstrip("# "))
    layout = words[words.index("--layout") + 1] if "--layout" in words else "numerator"
    return words[1], words[words.index("--wrt") + 1], layout


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_runs_and_agrees_with_finite_differences(path):
    command, wrt, layout = _command(path)
    source = path.read_text(encoding="utf-8")
    if command == "hessian":
        from test_hessian import fd_hessian

        d = mcalc.hessian(source, wrt=wrt, layout=layout)
        for seed in range(2):
            values = random_values(d.gradient, seed)
            assert max_rel_error(d.evaluate(values), fd_hessian(d, values)) < 1e-4
        assert d.verify().ok
        return
    d = mcalc.diff(source, wrt=wrt)  # numerator layout: the finite differences' own
    for seed in range(2):
        values = random_values(d, seed)
        assert max_rel_error(d.evaluate(values), fd_jacobian(d, values)) < 1e-5
    assert mcalc.diff(source, wrt=wrt, layout=layout).verify().ok


def test_there_are_examples_for_the_paper():
    assert {"neuron.mc", "loss.mc", "scalar-chain.mc", "dot-product.mc"} <= {p.name for p in EXAMPLES}


def test_there_are_examples_beyond_it():
    assert {"two-layer.mc", "softmax-regression.mc", "least-squares.mc", "newton.mc"} <= {p.name for p in EXAMPLES}


def _readme_block(command: str) -> str:
    """The output the README shows after ``$ command``, up to the next $ line or the fence."""
    text = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    start = text.index(f"$ {command}\n") + len(command) + 3
    end = min(i for i in (text.find("\n$ ", start), text.find("```", start)) if i >= 0)
    return text[start:end].rstrip("\n")


@pytest.mark.parametrize("command", ['mcalc diff "sum(w*x)+b" --wrt w', "mcalc check examples/notes.md"])
def test_the_readmes_outputs_are_what_mcalc_prints(command, capsys, monkeypatch):
    from mcalc.cli import run

    monkeypatch.chdir(Path(__file__).resolve().parent.parent)
    args = shlex.split(command)[1:]
    run(args[:1] + ["--format", "text"] + args[1:] if args[0] == "diff" else args)
    assert capsys.readouterr().out.rstrip("\n") == _readme_block(command)
