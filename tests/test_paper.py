"""Every worked derivative of the paper (tests/data/paper.toml): the value
against finite differences and against the paper's own answer, the shape, the
chain rule named, and the exact text where the paper's answer is a closed form."""
from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

import mcalc
from mcalc.evaluate import Evaluator, bind_sizes
from mcalc.parser import parse_expr
from numeric import SIZES, fd_jacobian, max_rel_error, random_values, transpose

CASES = tomllib.loads((Path(__file__).parent / "data" / "paper.toml").read_text())["case"]
IDS = [c["id"] for c in CASES]
# The answers mcalc must print exactly as the paper writes them (up to spaces).
EXACT = {"I", "-I", "diag(x)", "diag(w)", "x^T", "w^T", "ones^T", "ones", "x", "z*ones^T", "sum(x)"}


def derive(case, layout="numerator"):
    matrices = [f"{k}:{v}" for k, v in case.get("matrices", {}).items()]
    return mcalc.diff(case["expr"], wrt=case["wrt"], vectors=case.get("vectors", ()),
                      matrices=matrices, layout=layout)


def _shape_text(shape) -> str:
    return f"{shape.rows}x{shape.cols}"


@pytest.mark.parametrize("case", CASES, ids=IDS)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_value_agrees_with_finite_differences(case, seed):
    d = derive(case)
    values = random_values(d, seed)
    assert max_rel_error(d.evaluate(values), fd_jacobian(d, values)) < 1e-5


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_value_agrees_with_the_papers_answer(case):
    d = derive(case)
    values = random_values(d, seed=7)
    sizes = bind_sizes(d.variables(), values)
    sizes.setdefault("n", SIZES["n"])
    paper = Evaluator(values, sizes)(parse_expr(case["expect"]))
    got = d.evaluate(values)
    want = paper.tolist()
    if len(want) != len(got):  # a paper vector written as a column, the Jacobian as a row
        want = transpose(want)
    assert max_rel_error(got, want) < 1e-9


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_shape_is_the_papers(case):
    assert _shape_text(derive(case).shape) == case["shape"]


@pytest.mark.parametrize("case", [c for c in CASES if "rule" in c], ids=[c["id"] for c in CASES if "rule" in c])
def test_rule_is_the_papers(case):
    assert derive(case).rule == case["rule"]


@pytest.mark.parametrize("case", [c for c in CASES if c["expect"] in EXACT],
                         ids=[c["id"] for c in CASES if c["expect"] in EXACT])
def test_text_is_the_papers_closed_form(case):
    assert derive(case).text.replace(" ", "") == case["expect"].replace(" ", "")


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_denominator_layout_is_the_transpose(case):
    num, den = derive(case), derive(case, "denominator")
    values = random_values(num, seed=3)
    assert (den.shape.rows, den.shape.cols) == (num.shape.cols, num.shape.rows)
    assert max_rel_error(den.evaluate(values), transpose(num.evaluate(values))) < 1e-12


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_text_parses_back_to_the_same_expression(case):
    d = derive(case)
    assert d.resolve(parse_expr(d.text)) == d.expr


def test_deep_nest_trace_is_the_papers():
    """§4.5.1: u₁ = x³, u₂ = sin(u₁), u₃ = u₂², u₄ = ln(u₃) and their derivatives."""
    d = mcalc.diff("ln(sin(x^3)^2)", wrt="x")
    steps = [(i.name, d.print(i.expr, "text")) for i in d.trace.intermediates]
    assert steps == [("u1", "x^3"), ("u2", "sin(u1)"), ("u3", "u2^2"), ("u4", "ln(u3)")]
    partials = [(p.of, p.by, d.print(p.expr, "text")) for p in d.trace.partials]
    assert partials == [("u1", "x", "3*x^2"), ("u2", "u1", "cos(u1)"), ("u3", "u2", "2*u2"),
                        ("u4", "u3", "1/u3")]
    assert d.unicode == "6x²cos(x³)/sin(x³)"


def test_total_derivative_sums_both_paths():
    """§4.5.2: y = x + x², two paths from x to y."""
    d = mcalc.diff("x + x^2", wrt="x")
    (combination,) = d.trace.combinations
    assert len(combination.paths) == 2
    assert d.text == "1 + 2*x"


@pytest.mark.parametrize("expr, answer", [
    ("x^3 + 2x + ln(x)", "3*x^2 + 2 + 1/x"),  # it printed 1/x + 2 + 3*x^2
    ("x^2 - 3*x", "2*x - 3"),  # -3 + 2*x
    ("a*x + b*x + c*x", "a + b + c"),  # c + b + a
    ("x + x^2", "1 + 2*x"),
    ("sin(x)*x + x", "x*cos(x) + sin(x) + 1"),  # the product rule's terms as the factors stand
    ("u1 = x*x; u2 = u1*u1 + u1; u2", "4*x^3 + 2*x"),  # definitions: in the order they are written
    ("u = 3x; y = x^2 + u", "2*x + 3"),
    ("1 - x + x^2", "2*x - 1"),  # a positive term first, as the simplifier writes a sum (-1 + 2x)
    ("(x + 1)^2 + (x - 1)^3", "3*x^2 - 4*x + 5"),  # a collected polynomial by falling powers (5 + 3x² - 4x)  # a definition where it is used (step 3 wrote 2x + 3, the answer 3 + 2x)
])
def test_a_scalars_terms_stand_in_the_order_of_its_uses(expr, answer):
    """A sum of the chain rule's paths (§4.5.2) is written in the order the variable's uses stand
    in the function, as a student writes (x³ + 2x + ln x)′ = 3x² + 2 + 1/x; mcalc gathered
    them from the last use back, and printed 1/x + 2 + 3x²."""
    d = mcalc.diff(expr, wrt="x")
    assert d.text == answer
    values = random_values(d, seed=5)
    assert max_rel_error(d.evaluate(values), fd_jacobian(d, values)) < 1e-5


@pytest.mark.parametrize("expr, answer", [
    ("x^3 + sinh(x)", "6*x + sinh(x)"),  # it printed sinh(x) + 6*x under a gradient 3x² + cosh(x)
    ("x^4 + x^3 + sin(x)", "12*x^2 + 6*x - sin(x)"),
    ("(x+1)*(x+2)*(x+3)*(x+4)", "12*x^2 + 60*x + 70"),
])
def test_a_hessians_terms_stand_in_the_order_of_the_gradients(expr, answer):
    """The second derivative's terms follow the gradient's, as written above it in the trace."""
    h = mcalc.hessian(expr, wrt="x")
    assert h.text == answer
    values = random_values(h, seed=6)
    assert max_rel_error(h.evaluate(values), fd_jacobian(h, values)) < 1e-5
