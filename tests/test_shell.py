"""The common command lines of diff and hessian are read without typer; what they
print, and how they end, is exactly what the typer application gives."""
from __future__ import annotations

import subprocess
import sys

import pytest

from mcalc import shell

SAME = [
    ["diff", "sum(w*x)+b", "--wrt", "w"],
    ["diff", "sum(w*x)+b", "--wrt=w", "--format", "json"],
    ["diff", "max(0, w·x + b)", "-w", "w", "--latex"],
    ["diff", "max(0, w·x + b)", "--wrt", "w", "--latex", "--steps"],
    ["diff", "--example"],
    ["diff", "x^3"],
    ["diff", "w · x", "--wrt", "w", "--layout", "denominator", "--format", "text"],
    ["diff", "a' @ X @ b", "--wrt", "X", "-v", "a:m", "-v", "b:n", "-M", "X:m,n", "--format=json",
     "--at", "X=[[1,2,3],[4,5,6]]", "--at", "a=[1,2]", "--at", "b=[1,0,1]"],
    ["diff", "x^2", "--wrt", "x", "--verify", "--format", "text"],
    ["diff", "--", "-x^2", "--wrt", "x"],
    ["hessian", "x' @ A @ x", "--wrt", "x", "-M", "A:n,n", "--format", "text"],
    ["diff", "sum(σ(Xw))", "--wrt", "w", "-v", "w", "--format", "text"],
    # errors: one line, the same line
    ["diff", "x +", "--wrt", "x"],
    ["diff", "x^2", "--wrt", "y", "--at", "z=1"],
    ["diff", "x^2", "--wrt", "x", "--steps"],
    ["diff", "det(X)", "--wrt", "X", "-M", "X:m,n", "--format", "json"],
    ["diff", "x^2", "--wrt", "x", "--layout", "sideways"],
    ["diff", "x^2", "--wrt", "x", "--wrt", "x"],
]


def _run(argv, capsys, fast: bool):
    original = shell.quick
    if not fast:
        shell.quick = lambda argv: None
    try:
        code = shell.run(argv)
    finally:
        shell.quick = original
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.parametrize("argv", SAME, ids=[" ".join(a) for a in SAME])
def test_the_quick_reading_is_the_typer_applications(argv, capsys):
    assert _run(argv, capsys, fast=True) == _run(argv, capsys, fast=False)


@pytest.mark.parametrize("argv", [["diff", "-h"], ["diff", "x", "--nope"], ["diff", "-x^2"], ["check", "x.mcalc"],
                                  ["diff", "x", "--wrt", "x", "--wrt", "y"], ["diff", "x", "--format", "xml"],
                                  ["diff", "-vw", "w"], ["hessian", "--example"], ["diff", "x", "y"]])
def test_anything_else_goes_to_typer(argv):
    assert shell.quick(argv) is None


def test_answering_a_derivative_does_not_import_typer():
    code = ("import sys\nfrom mcalc import shell\n"
            "sys.argv = ['mcalc', 'diff', 'sum(w*x)+b', '--wrt', 'w', '--latex']\n"
            "try:\n    shell.entry()\nexcept SystemExit:\n    pass\n"
            "sys.stderr.write(str('typer' in sys.modules))\n")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert p.stdout == "\\mathbf{x}^{T}\n" and p.stderr == "False"
