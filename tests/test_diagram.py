"""The paper's dataflow diagram (§4.5.1, §4.5.2) as SVG and DOT: its nodes are
the variables and the intermediates, each edge carries its partial, the paths
the chain rule sums are drawn in colour; the output is deterministic."""
from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

import mcalc
from mcalc.diagram import HIGHLIGHT, dataflow, dot, svg

SVG = "{http://www.w3.org/2000/svg}"


def _texts(doc: str) -> list[str]:
    return [t.text for t in ET.fromstring(doc).iter(f"{SVG}text")]


def test_total_derivative_diagram_has_the_papers_nodes_and_edges():
    """§4.5.2, y = sin(x + x²): x feeds u₁ = x² and u₂ = x + u₁, u₂ feeds y = u₃."""
    d = mcalc.diff("sin(x + x^2)", wrt="x")
    doc = svg(d)
    texts = _texts(doc)
    for node in ("x", "u₁ = x²", "u₂ = x + u₁", "y = u₃ = sin(u₂)"):
        assert node in texts
    for edge in ("∂u₁/∂x = 2x", "∂u₂/∂x = 1", "∂u₂/∂u₁ = 1", "∂u₃/∂u₂ = cos(u₂)"):
        assert edge in texts
    lines = list(ET.fromstring(doc).iter(f"{SVG}polyline"))
    assert len(lines) == 4 and all(line.get("stroke") == HIGHLIGHT for line in lines)  # both paths to x


def test_edges_off_the_paths_are_plain():
    d = mcalc.diff("max(0, w·x + b)", wrt="w", vectors=["w", "x"])
    g = dataflow(d)
    hot = {(e.source, e.target) for e in g.edges if e.highlight}
    assert hot == {("w", "u1"), ("u1", "u2"), ("u2", "u3")}
    assert {(e.source, e.target) for e in g.edges} - hot == {("x", "u1"), ("b", "u2")}
    assert [e.label for e in g.edges if (e.source, e.target) == ("x", "u1")] == [""]  # x does not move


def test_vector_chain_rule_diagram():
    d = mcalc.diff("[ln(x^2), sin(3*x)]", wrt="x")
    texts = _texts(svg(d))
    assert "∂f/∂g = [[1/g₁, 0], [0, cos(g₂)]]" in texts and "g = [x², 3x]" in texts


def test_diagram_is_deterministic_and_well_formed():
    first = svg(mcalc.diff("ln(sin(x^3)^2)", wrt="x"))
    assert first == svg(mcalc.diff("ln(sin(x^3)^2)", wrt="x"))
    root = ET.fromstring(first)
    assert root.tag == f"{SVG}svg" and float(root.get("width")) > 0
    graph = dot(mcalc.diff("ln(sin(x^3)^2)", wrt="x"))
    assert graph.startswith("digraph dataflow {") and graph.count("->") == 4
    assert '"u3" -> "u4" [label="∂u₄/∂u₃ = 1/u₃"' in graph


def test_denominator_labels_are_transposed():
    d = mcalc.diff("w · x", wrt="w", vectors=["w", "x"], layout="denominator")
    assert "∂u₁/∂w = x" in _texts(svg(d))


def test_command_line_writes_the_diagram(tmp_path):
    out = tmp_path / "d.svg"
    run = subprocess.run([sys.executable, "-m", "mcalc", "diff", "sin(x + x^2)", "--wrt", "x", "--diagram",
                          str(out), "--format", "text"], capture_output=True, text=True)
    assert run.returncode == 0 and "4. Substitute" in run.stdout
    assert "u₂ = x + u₁" in _texts(out.read_text(encoding="utf-8"))
    run = subprocess.run([sys.executable, "-m", "mcalc", "diff", "x^2", "--format", "dot"],
                         capture_output=True, text=True)
    assert run.returncode == 0 and run.stdout.startswith("digraph")


@pytest.mark.parametrize("name, message", [("d.png", "must end in .svg, .dot or .gv"),
                                           ("missing/d.svg", "cannot write it")])
def test_a_bad_diagram_path_is_one_line(tmp_path, name, message):
    run = subprocess.run([sys.executable, "-m", "mcalc", "diff", "x^2", "--diagram", str(tmp_path / name)],
                         capture_output=True, text=True)
    assert run.returncode == 2 and message in run.stderr and "Traceback" not in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1
