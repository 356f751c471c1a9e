"""The trace teaches what the paper teaches: for each worked example with a
`trace` in tests/data/paper.toml, mcalc's steps state the paper's
intermediates, partials (with the paper's reasoning between), rule and combined
form, compared by name, by value at a random point and by shape."""
from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import pytest

import mcalc
from mcalc import ast as A
from mcalc.evaluate import Evaluator
from mcalc.lesson import D, Product, Sum
from mcalc.render import latex_steps, plain
from trace_reader import Chain, Values

CASES = [c for c in tomllib.loads((Path(__file__).parent / "data" / "paper.toml").read_text())["case"]
         if "trace" in c]
SYMBOL = re.compile(r"([∂d])(\w+)/\1(\w+)")


def _derive(case, layout="numerator"):
    return mcalc.diff(case["expr"], wrt=case["wrt"], vectors=case.get("vectors", ()),
                      matrices=[f"{k}:{v}" for k, v in case.get("matrices", {}).items()], layout=layout)


def _statements(trace: str) -> list[list[str]]:
    out: list[str] = []
    for line in trace.strip().splitlines():
        for seg in re.split(r"\s{2,}", line.strip()):
            if seg.startswith("= "):  # du1/dx  = 3*x^2: aligned, one statement
                out[-1] += " " + seg
            else:
                out.append(seg)
    return [seg.split(" = ") for seg in out]


def _symbols(term) -> str:
    """A row's symbolic term as the paper's trace writes it: ∂u2/∂u1 * ∂u1/∂x."""
    if isinstance(term, D):
        mark = "d" if term.straight else "∂"
        return f"{mark}{term.of}/{mark}{','.join(term.by)}"
    if isinstance(term, Product):
        return " * ".join(_symbols(f) for f in term.factors)
    if isinstance(term, Sum):
        return " + ".join(_symbols(t) for t in term.terms)
    return "?"


class _Reader:
    def __init__(self, d):
        self.d = d
        self.values = Values(d, seed=4)

    def paper(self, text: str):
        return self.values._eval(text, {}, "unicode")

    def ours(self, node):
        return Evaluator(dict(self.values.values), dict(self.values.sizes))(node)

    def same(self, text: str, node) -> bool:
        a, b = self.paper(text), self.ours(node)
        return (a.rows, a.cols) == (b.rows, b.cols) and all(
            abs(x - y) <= 1e-9 * (1 + abs(x)) for x, y in zip(a.data, b.data))


def _holds_in_order(reader, paper_terms: list[str], row_terms) -> bool:
    """The paper's terms appear among the row's, in order, the last as the row's last."""
    nodes = [t for t in row_terms if isinstance(t, A.Node)]
    if not nodes or not reader.same(paper_terms[-1], nodes[-1]):
        return False
    at = 0
    for text in paper_terms[:-1]:
        while at < len(nodes) - 1 and not reader.same(text, nodes[at]):
            at += 1
        if at >= len(nodes) - 1:
            return False
        at += 1
    return True


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_the_trace_states_what_the_paper_states(case):
    d = _derive(case)
    reader = _Reader(d)
    steps = {s.kind: s for s in d.steps}
    combine = [s for s in d.steps if s.kind == "combine"]
    for statement in _statements(case["trace"]):
        head, *terms = statement
        m = SYMBOL.fullmatch(head)
        if m is None:  # an intermediate: u1 = x^3
            rows = [r for r in steps["intermediates"].rows if r.terms and r.terms[0] == A.Var(head)]
            assert rows, f"no intermediate {head} in {[r.terms[0] for r in steps['intermediates'].rows]}"
            assert _holds_in_order(reader, terms, rows[0].terms[1:]), (statement, rows[0])
            continue
        mark, of, by = m.groups()
        if len(terms) > 1 and SYMBOL.search(terms[0]):  # a combination: ∂y/∂x = ∂u2/∂u1 * ∂u1/∂x = …
            rows = [r for s in combine for r in s.rows if r.terms and _symbols(r.terms[0]) == head
                    and len(r.terms) > 1 and _symbols(r.terms[1]) == terms[0]]
            assert rows, f"{statement}: not among {[[_symbols(t) for t in r.terms[:2]] for s in combine for r in s.rows]}"
            assert reader.same(terms[-1], rows[0].terms[-1]), (statement, rows[0])
            continue
        rows = [r for r in steps["partials"].rows if r.terms and _symbols(r.terms[0]) == head]
        assert rows, f"no partial {head} in {[_symbols(r.terms[0]) for r in steps['partials'].rows if r.terms]}"
        assert _holds_in_order(reader, terms, rows[0].terms[1:]), (statement, rows[0])
    if "rule" in case:
        assert d.rule == case["rule"]


def test_vector_chain_rule_multiplies_a_2x2_by_a_2x1():
    """§4.5.3, through the command line's JSON."""
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "mcalc", "diff", "[ln(x^2), sin(3*x)]", "--wrt", "x",
                          "--format", "json"], capture_output=True, text=True, check=True).stdout
    data = json.loads(out)
    shapes = {(p["of"], p["by"]): p["shape"] for p in data["steps"]["partials"]}
    assert shapes == {("g", "x"): [2, 1], ("f", "g"): [2, 2]}
    (path,) = data["steps"]["combine"][0]["paths"]
    assert [(p["of"], p["by"], p["shape"]) for p in path] == [("f", "g", [2, 2]), ("g", "x", [2, 1])]
    assert data["result"]["text"] == "[2/x, 3*cos(3*x)]"


def test_elements_of_a_vector():
    """g[1] and g₁ (where g is a vector) are the paper's gᵢ; both read the same."""
    a = mcalc.diff("g = [x^2, 3*x]; [ln(g[1]), sin(g[2])]", wrt="x")
    b = mcalc.diff("g = [x^2, 3*x]; [ln(g₁), sin(g₂)]", wrt="x")
    assert a.text == b.text == "[2/x, 3*cos(3*x)]"
    assert "f = [ln(g₁), sin(g₂)]" in plain(mcalc.diff("[ln(x^2), sin(3*x)]", wrt="x"))
    d = mcalc.diff("x[1] * x[2]", wrt="x", vectors=["x:2"])
    assert d.evaluate({"x": [3, 5]}) == [[5.0, 3.0]]
    with pytest.raises(mcalc.McalcError, match="g\\[1\\] or g₁"):
        mcalc.diff("g = [x^2, 3*x]; [ln(g), sin(g)]", wrt="x")
    with pytest.raises(mcalc.McalcError, match="element 3 of a vector of 2"):
        mcalc.diff("g = [x^2, 3*x]; g[3]", wrt="x")


def test_total_derivative_reads_as_the_paper():
    """§4.5.2: ∂u₂/∂x is the total derivative 1 + 2x, and the text says the left ∂ is total."""
    text = plain(mcalc.diff("sin(x + x^2)", wrt="x"))
    combine = text.split("3. Combine (single-variable total-derivative chain rule)")[1].split("4. Substitute")[0]
    assert [line.strip() for line in combine.splitlines() if line.strip()][:3] == [
        "∂u₂/∂x = ∂u₂/∂x + ∂u₂/∂u₁ ∂u₁/∂x", "= 1 + 1 × 2x", "= 1 + 2x           1×1"]
    assert "on the left ∂ is the total derivative" in combine
    assert "∂y/∂x = ∂u₃/∂u₂ ∂u₂/∂x" in combine


def test_single_variable_uses_d_and_substitutes_step_by_step():
    """§4.5.1: dy/dx, and u₃ → u₂², u₂ → sin(u₁), u₁ → x³ one at a time, then the cancellation."""
    text = plain(mcalc.diff("ln(sin(x^3)^2)", wrt="x"))
    assert "dy/dx = du₄/du₃ du₃/du₂ du₂/du₁ du₁/dx" in text
    substitute = text.split("4. Substitute")[1].split("\n\n")[0]
    assert [line.strip().split("   ")[0] for line in substitute.strip().splitlines()[:5]] == [
        "dy/dx = 6u₂x²cos(u₁)/u₃", "= 6u₂x²cos(u₁)/u₂²", "= 6sin(u₁)x²cos(u₁)/sin(u₁)²",
        "= 6sin(x³)x²cos(x³)/sin(x³)²", "= 6x²cos(x³)/sin(x³)"]


def test_no_chain_rule_named_where_there_is_no_chain():
    d = mcalc.diff("w ⊗ x", wrt="w", vectors=["w", "x"])
    assert [s.rule for s in d.steps if s.kind == "combine"] == [None]
    assert "3. Combine\n" in plain(d) and "nothing to chain" in plain(d)


def test_times_and_dot_are_two_symbols():
    """× multiplies the partials of a path; · is only the dot product."""
    text = plain(mcalc.diff("max(0, w·x + b)", wrt="w", vectors=["w", "x"]))
    assert "= (u₂ > 0) × 1 × xᵀ" in text
    assert [line for line in text.splitlines() if "·" in line and "w · x" not in line] == []


def test_denominator_layout_reaches_every_step():
    d = mcalc.diff("sum(w*x)+b", wrt="w", vectors=["w", "x"], layout="denominator")
    text = plain(d)
    assert re.search(r"∂u₂/∂u₁ = 𝟏 +n×1", text)
    assert "∂y/∂w = ∂u₁/∂w ∂u₂/∂u₁ ∂u₃/∂u₂" in text  # the chain in the reverse order
    assert "\\frac{\\partial u_{2}}{\\partial \\mathbf{u}_{1}} &= \\mathbf{1} && n \\times 1" in latex_steps(d)


def test_several_variables_stack_as_a_step_of_their_own():
    d = mcalc.diff("max(0, w·x + b)", wrt=["w", "b"], vectors=["w", "x"])
    stack = [s for s in d.steps if s.kind == "stack"]
    assert len(stack) == 1 and stack[0].number == 5
    latex = latex_steps(d)
    assert "\\textbf{5. Stack the partials}" in latex
    # the last partial's chain ends at its own value (1×1), not at the stacked answer
    before = latex.split("\\textbf{5. Stack the partials}")[0]
    assert before.rstrip(" \\\n&").endswith("\\end{cases} && 1 \\times 1")


def test_latex_carries_what_the_text_carries():
    d = mcalc.diff("sum(w*x)+b", wrt="w", vectors=["w", "x"])
    latex = latex_steps(d)
    for heading in ("1. Introduce intermediate variables", "2. Compute the partials",
                    "3. Combine (vector chain rule)", "4. Substitute"):
        assert f"\\textbf{{{heading}}}" in latex
    assert "\\mathbf{u}_{1} &= \\mathbf{w} \\otimes \\mathbf{x} && n \\times 1 \\text{ vector}" in latex
    rows = latex.split(" \\\\\n")
    assert all(a != b for a, b in zip(rows, rows[1:]))  # each line once


def test_bold_names_for_vectors_and_matrices_greek_too():
    d = mcalc.diff("sum(θ ⊗ x) + tr(W)", wrt="x", vectors=["θ", "x"], matrices=["W:n,n"])
    latex = latex_steps(d)
    assert "\\boldsymbol{\\theta}" in latex and "\\mathbf{W}" in latex


def test_paper_chains_read_as_chains():
    """The reader behind the equality test sees the rows it should."""
    d = mcalc.diff("sin(x + x^2)", wrt="x")
    from trace_reader import latex_chains, text_chains

    for chains in (text_chains(plain(d)), latex_chains(latex_steps(d))):
        assert any(c.step.startswith("3. Combine (single-variable total-derivative") and len(c.terms) == 4
                   for c in chains)
        assert all(isinstance(c, Chain) for c in chains)


def test_json_steps_follow_the_layout_and_carry_the_rows():
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "mcalc", "diff", "sum(w*x)+b", "--wrt", "w", "-v", "w,x",
                          "--layout", "denominator", "--format", "json"], capture_output=True, text=True,
                         check=True).stdout
    data = json.loads(out)
    partials = {(p["of"], p["by"]): (p["text"], p["shape"]) for p in data["steps"]["partials"]}
    assert partials[("u2", "u1")] == ("ones", ["n", 1])  # 𝟏ᵀ transposed
    (combine,) = data["steps"]["combine"]
    assert [(p["of"], p["by"]) for p in combine["paths"][0]] == [("u1", "w"), ("u2", "u1"), ("u3", "u2")]
    assert combine["text"] == "x" and combine["shape"] == ["n", 1]
    rows = [r["unicode"] for step in data["trace"] for r in step["rows"] if "unicode" in r]
    assert "∂y/∂w = ∂u₁/∂w ∂u₂/∂u₁ ∂u₃/∂u₂ = diag(x) 𝟏 × 1 = x" in rows


def test_the_direct_partial_is_named_where_the_total_derivative_differs():
    """§4.5.2: the paper warns that ∂u₂/∂x = 1 holds u₁ fixed; step 2 says so."""
    text = plain(mcalc.diff("sin(x + x^2)", wrt="x"))
    partials = text.split("2. Compute the partials")[1].split("3. Combine")[0]
    assert "∂u₂/∂x = 1" in partials and "(the direct partial, the other arguments held fixed" in partials


def test_a_long_trace_grows_with_the_function_not_its_square():
    """x^x^…^x: every row of a step was padded to the step's longest (one row grows with
    the function), and each named adjoint was looked for by walking the whole answer."""
    from mcalc.render import plain

    sizes = {k: len(plain(mcalc.diff("x^" * k + "x", wrt="x"))) for k in (50, 100, 200)}
    assert sizes[100] / sizes[50] < 2.3 and sizes[200] / sizes[100] < 2.3, sizes


def test_the_notes_in_denominator_layout_say_what_its_rows_show():
    """In denominator layout the dot product's note said 𝟏ᵀdiag(x) beside the row diag(x)𝟏, the
    chain rule's 'the product of the Jacobians, in order' beside a reversed product, and a
    scalar by a matrix was 'first the row over vec' beside a column."""
    from mcalc.render import plain

    dot = plain(mcalc.diff("w·x", wrt="w", vectors=["w", "x"], layout="denominator"))
    assert "diag(x)𝟏" in dot and "𝟏ᵀdiag(x)" not in dot
    layer = plain(mcalc.diff("sum(tanh(W@x))", wrt="W", vectors=["x"], matrices=["W:n,n"], layout="denominator"))
    assert "in the reverse order" in layer and "the column over vec" in layer and "in order)" not in layer
    numerator = plain(mcalc.diff("sum(tanh(W@x))", wrt="W", vectors=["x"], matrices=["W:n,n"]))
    assert "the product of the Jacobians, in order" in numerator and "the row over vec" in numerator
