"""In a notebook a Derivation shows the equation ∂y/∂w = …, d.steps the whole
trace, and a trace, a verdict and check results read as text (skipped without
nbclient and ipykernel)."""
from __future__ import annotations


import pytest

import mcalc

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")


def _run(cells: list[str]) -> list[dict]:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
    nbclient.NotebookClient(nb, timeout=120, kernel_name="python3", startup_timeout=120).execute()
    return [cell.outputs for cell in nb.cells]


@pytest.fixture(scope="module")
def outputs(tmp_path_factory):
    claims = tmp_path_factory.mktemp("claims") / "claims.md"
    claims.write_text("<!-- mcalc: d/dx (x^3) = 3x^2 -->\n<!-- mcalc: d/dx (x^3) = 2x^2 -->\n", encoding="utf-8")
    return _run([
        f"import sys; sys.path.insert(0, {str(__import__('pathlib').Path(mcalc.__file__).parent.parent)!r})",
        "import mcalc\nd = mcalc.diff('sum(w*x)+b', wrt='w')\nd",
        "d.steps",
        "d.trace",
        "d.verify()",
        f"mcalc.check({str(claims)!r})",
    ])


def _data(outputs, cell: int) -> dict:
    (out,) = [o for o in outputs[cell] if o.get("output_type") == "execute_result"]
    return out["data"]


def test_a_derivation_shows_the_equation(outputs):
    data = _data(outputs, 1)
    assert data["text/latex"] == "$$\\frac{\\partial y}{\\partial \\mathbf{w}} = \\mathbf{x}^{T}$$"
    assert data["text/plain"] == "∂y/∂w = xᵀ"


def test_its_steps_show_the_whole_trace(outputs):
    data = _data(outputs, 2)
    assert data["text/latex"].startswith("\\begin{align*}") and "\\textbf{4. Substitute}" in data["text/latex"]
    assert "3. Combine (vector chain rule)" in data["text/plain"]


def test_trace_verdict_and_check_results_read_as_text(outputs):
    assert _data(outputs, 3)["text/plain"].startswith("1. intermediates: u1 = w*x; u2 = sum(u1)")
    verdict = _data(outputs, 4)
    assert verdict["text/plain"] == "verified (symbolic)" and verdict["text/markdown"] == "**verified** (symbolic)"
    results = _data(outputs, 5)
    assert ": pass: " in results["text/plain"] and ": fail: " in results["text/plain"]
    assert "<table>" in results["text/html"] and "1 pass, 1 fail" in results["text/html"]
