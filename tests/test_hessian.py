"""Second derivatives (mcalc hessian): the Jacobian of the gradient, by the same
four steps — against finite differences of the function, the closed forms as
exact text, symmetry, the independent route, claims and the command line."""
from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

import mcalc
from mcalc.errors import NotSupported
from mcalc.evaluate import Mat
from mcalc.parser import parse
from numeric import mcalc_cli, max_rel_error, random_values, readback_error

CASES = [c for c in tomllib.loads((Path(__file__).parent / "data" / "matrix.toml").read_text())["case"]
         if c.get("kind") == "hessian"]


def _vec(m: Mat) -> list[float]:
    return [m.data[i * m.cols + j] for j in range(m.cols) for i in range(m.rows)]


def fd_hessian(d, values, h=1e-4) -> list[list[float]]:
    """Central second differences of the function itself over its variables laid flat."""
    f = d.gradient
    flat = [(name, k) for name in d.wrt for k in range(len(values[name].data))]

    def at(steps):
        moved = dict(values)
        for (name, k), delta in steps:
            m = moved[name]
            rows, cols = m.rows, m.cols
            order = [i * cols + j for j in range(cols) for i in range(rows)]  # vec index -> row-major index
            data = list(m.data)
            data[order[k]] += delta
            moved[name] = Mat(rows, cols, tuple(data))
        return f.function_at(moved).data[0]

    out = []
    for a in flat:
        row = []
        for b in flat:
            row.append((at([(a, h), (b, h)]) - at([(a, h), (b, -h)]) - at([(a, -h), (b, h)])
                        + at([(a, -h), (b, -h)])) / (4 * h * h))
        out.append(row)
    return out


CLOSED = [
    # (function, wrt, declarations, the Hessian as printed)
    ("x'@A@x", "x", {"matrices": ["A:n,n"]}, "A + Aᵀ"),
    ("0.5*x'@A@x + b·x", "x", {"matrices": ["A:n,n"], "vectors": ["x", "b"]}, "0.5(A + Aᵀ)"),  # 0.5, as written
    ("x'@A@x/2 + b·x", "x", {"matrices": ["A:n,n"], "vectors": ["x", "b"]}, "(A + Aᵀ)/2"),  # (not the gradient's
    ("x^(5/2) + x^3/4", "x", {}, "15sqrt(x)/4 + 3x/2"),  # decimals, 0.5Ax and x^1.5: the function has none)
    ("sum(exp(x))", "x", {"vectors": ["x"]}, "diag(exp(x))"),
    ("sum(x^3)", "x", {"vectors": ["x"]}, "diag(6x)"),
    ("(w·x)^2", "w", {"vectors": ["w", "x"]}, "2xxᵀ"),
    ("sum((X@w - y)^2)", "w", {"vectors": ["w", "y:N"], "matrices": ["X:N,n"]}, "2XᵀX"),
    ("ln(sum(exp(x)))", "x", {"vectors": ["x"]}, "diag(softmax(x)) - softmax(x)softmax(x)ᵀ"),
    ("sum(ln(1 + exp(-y ⊗ (X@w))))", "w", {"vectors": ["w", "y:N"], "matrices": ["X:N,n"]},
     "Xᵀdiag(y² ⊗ exp(-y ⊗ (Xw)) ⊘ (1 + exp(-y ⊗ (Xw)))²)X"),
    ("norm(X@W - Y)^2", "W", {"matrices": ["X:N,n", "W:n,p", "Y:N,p"]}, "2kron(I(p), XᵀX)"),
    ("x^2*y^3", "x,y", {}, "[[2y³, 6xy²], [6y²x, 6x²y]]"),
]
IDS = [c[0] for c in CLOSED]


@pytest.mark.parametrize("expr,wrt,decls,printed", CLOSED, ids=IDS)
def test_closed_forms_print_as_written(expr, wrt, decls, printed):
    assert mcalc.hessian(expr, wrt=wrt, **decls).unicode == printed


@pytest.mark.parametrize("expr,wrt,decls,printed", CLOSED, ids=IDS)
@pytest.mark.parametrize("seed", [0, 1])
def test_value_agrees_with_second_differences(expr, wrt, decls, printed, seed):
    d = mcalc.hessian(expr, wrt=wrt, **decls)
    values = random_values(d.gradient, seed)
    assert max_rel_error(d.evaluate(values), fd_hessian(d, values)) < 1e-4


@pytest.mark.parametrize("expr,wrt,decls,printed", CLOSED, ids=IDS)
def test_verified_and_symmetric(expr, wrt, decls, printed):
    verdict = mcalc.hessian(expr, wrt=wrt, **decls).verify()
    assert verdict.ok and "symmetric" in str(verdict)


@pytest.mark.parametrize("expr,wrt,decls,printed", CLOSED, ids=IDS)
def test_printed_hessians_read_back(expr, wrt, decls, printed):
    d = mcalc.hessian(expr, wrt=wrt, **decls)
    for text in (d.text, d.unicode, d.latex):
        assert readback_error(d, text, 4) < 1e-9, text


SHARED = [  # definitions used more than once: their adjoints are named in the gradient, then again
    "h = (1 + x'^2)^b; w2 = (1 + h^2)^b; q = (1 + w2^2)^b / (2 + tanh(x')); norm(q) / det(S @ S' + I(n))",
    "g = ((S @ (x + x)) / exp(0.3*(exp(0.5*x)))); norm(g') * mean(S^3) * sum(c)",
    "h2 = y' @ S + x'; z = (h2 * y') @ x^2; h1 = logsumexp(x) + a^2; (c' @ ln(2 + tanh(c))) / sigmoid(z^3) + h1",
]


@pytest.mark.parametrize("expr", SHARED)
def test_the_hessians_adjoints_are_named_apart_from_the_gradients(expr):
    d = mcalc.hessian(expr, wrt="x", vectors=["x:n", "y:n", "c:m"], matrices=["S:n,n"], scalars=["a", "b"])
    values = random_values(d.gradient, 0)
    assert max_rel_error(d.evaluate(values), fd_hessian(d, values)) < 1e-3  # entries up to 1e9: differences lose digits
    assert d.verify().ok and readback_error(d, d.text, 0) < 1e-9


@pytest.mark.parametrize("expr", ["c' @ P @ tanh(x)", "sum(S @ exp(x))", "sum(P @ sigmoid(x))", "norm(P @ tanh(x))",
                                  "c' @ diag(tanh(c)) @ P @ tanh(x)"])
def test_a_gradient_with_a_diagonal_times_a_column_has_a_hessian(expr):
    """The gradient Pᵀdiag(1 - tanh(x)²)… meets diag(v) w, which the Hessian reads as v ⊗ w
    (these were refused as 'the derivative of diag(v) by v')."""
    d = mcalc.hessian(expr, wrt="x", matrices=["P:m,n", "S:n,n"], vectors=["x:n", "c:m"])
    values = random_values(d.gradient, 0)
    assert max_rel_error(d.evaluate(values), fd_hessian(d, values)) < 1e-4
    assert d.verify().ok and readback_error(d, d.text, 0) < 1e-9


def test_a_variable_the_hessian_lost_still_gives_its_size():
    d = mcalc.hessian("sum(S + logsumexp(c)*I(n))", "c", matrices=["S:n,n"], vectors=["c:m"])
    values = {"c": Mat(2, 1, (1.0, 2.0)), "S": Mat(3, 3, tuple(float(i) for i in range(9)))}
    assert abs(d.evaluate(values)[0][0] - 3 * 0.19661193324148185) < 1e-12  # n = 3 from S: sum(I) = 3


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_matrix_toml_hessians(case):
    matrices = [f"{k}:{v}" for k, v in case.get("matrices", {}).items()]
    d = mcalc.hessian(case["expr"], wrt=case["wrt"], vectors=case.get("vectors", ()), matrices=matrices)
    assert f"{d.shape.rows},{d.shape.cols}" == case["shape"]
    values = random_values(d.gradient, 0, sizes={"p": 2})
    mats, sizes = d._bind(values)
    from mcalc.evaluate import Evaluator

    want = Evaluator(dict(mats), sizes)(d.resolve(parse(case["expect"]))).tolist()
    assert max_rel_error(d.evaluate(values), want) < 1e-9
    assert max_rel_error(d.evaluate(values), fd_hessian(d, values)) < 1e-4


@pytest.mark.parametrize("wrong", ["A", "A'", "2*A"])
def test_a_corrupted_hessian_fails_verification(wrong):
    """A dropped symmetric half, A for A + Aᵀ."""
    d = mcalc.hessian("x'@A@x", wrt="x", matrices=["A:n,n"])
    assert d.verify(d.resolve(parse(wrong))).status == "failed"


def test_an_asymmetric_answer_fails_as_asymmetric():
    d = mcalc.hessian("x^2*y^3", wrt="x,y")
    verdict = d.verify(d.resolve(parse("[[2*y^3, 6*x*y^2], [0, 6*x^2*y]]")))
    assert verdict.status == "failed"


def test_the_trace_is_the_gradient_then_its_jacobian():
    d = mcalc.hessian("sum((X@w - y)^2)", wrt="w", vectors=["w", "y:N"], matrices=["X:N,n"])
    assert d.order == 2 and d.gradient.layout == "denominator"
    assert d.gradient.unicode == "2Xᵀ(Xw - y)" and str(d.gradient.shape) == "n×1"
    assert d.trace.intermediates and d.gradient.trace.intermediates
    text = d.to_dict()
    assert text["order"] == 2 and text["symmetric"] and text["gradient"]["result"]["unicode"] == "2Xᵀ(Xw - y)"
    from mcalc.render import plain

    shown = plain(d)
    assert shown.index("First, the gradient") < shown.index("Then its Jacobian, the Hessian")
    assert shown.rstrip().endswith("∂²f/∂w∂wᵀ = 2XᵀX    (n×n matrix, symmetric)")  # y is a variable: f


def test_a_hessian_needs_a_scalar_function():
    with pytest.raises(NotSupported, match="needs a scalar function.*mcalc diff of one component"):
        mcalc.hessian("W@x", wrt="x", matrices=["W:m,n"], vectors=["x"])


def test_diff_by_a_variable_twice_points_to_hessian():
    with pytest.raises(mcalc.McalcError, match="mcalc hessian"):
        mcalc.diff("x^3", wrt="x,x")


# -- claims and the command line ----------------------------------------------------------
def test_hessian_claims(tmp_path):
    path = tmp_path / "h.mcalc"
    path.write_text("d2/dx2 (x^3) = 6*x\n"
                    "∂²/∂x² (x' @ A @ x) = A + A'  where A: matrix[n, n]; x: vector\n"
                    "d2/dx2 (x' @ A @ x) = A  where A: matrix[n, n]; x: vector\n", encoding="utf-8")
    assert [r.status for r in mcalc.check(str(path))] == ["pass", "pass", "fail"]


def test_latex_hessian_claims(tmp_path):
    path = tmp_path / "paper.tex"
    path.write_text("% mcalc: given f = x'@A@x where A: matrix[n, n]; x: vector\n"
                    "\\[ \\frac{\\partial^2 f}{\\partial \\mathbf{x} \\partial \\mathbf{x}^T} = A + A^T \\]\n"
                    "% mcalc: given f = x^3\n"
                    "\\[ \\frac{\\partial^2 f}{\\partial x^2} = 6 x \\]\n", encoding="utf-8")
    assert [r.status for r in mcalc.check(str(path))] == ["pass", "pass"]


def test_the_command_line_gives_value_and_verdict():
    p = mcalc_cli("hessian", "x^2*y^3", "--wrt", "x,y", "--at", "x=1", "--at", "y=2", "--format", "json", "--verify")
    data = json.loads(p.stdout)
    assert p.returncode == 0 and data["value"] == [[16.0, 24.0], [24.0, 12.0]]
    assert data["verification"]["status"] == "verified"


def test_the_command_line_refuses_a_vector_function_in_one_line():
    p = mcalc_cli("hessian", "W@x", "--wrt", "x", "-M", "W:m,n", "-v", "x")
    assert p.returncode == 2 and "scalar function" in p.stderr and len(p.stderr.splitlines()) == 1


def test_latex_steps_show_both_derivations():
    p = mcalc_cli("hessian", "sum(x^3)", "--wrt", "x", "-v", "x", "--latex", "--steps")
    assert p.stdout.count("\\begin{align*}") == 2


def test_the_library_takes_names_as_diff_does():
    """mcalc.hessian('(w·x)^2', wrt='w', vectors='w,x') read the string letter by letter."""
    assert mcalc.hessian("(w·x)^2", wrt="w", vectors="w,x").text == mcalc.hessian(
        "(w·x)^2", wrt="w", vectors=["w", "x"]).text
    assert mcalc.hessian("x' @ A @ x", wrt="x", matrices="A:n,n").text == "A + A^T"


def test_every_adjoint_the_combination_uses_is_defined_in_the_trace(capsys):
    """ε₂ = εδ₂(…): the adjoint of the gradient's δ₂, used by another adjoint only, was never defined."""
    from mcalc.cli import run

    assert run(["hessian", "det(Am2 + W@W')", "--wrt", "W", "-M", "W:m,n,Am2:m,m", "--format", "text"]) == 0
    out = capsys.readouterr().out
    assert "εδ₂(" in out and "εδ₂ = " in out


def test_the_total_derivative_rule_defines_the_adjoints_step_4_starts_from(capsys):
    """∂f/∂x = δu y opened step 4, with δu defined nowhere (the total-derivative rule's step 3)."""
    from mcalc.cli import run

    assert run(["diff", "u = x*y; v = sin(u) + u^2; v*u", "--wrt", "x,y", "--format", "text"]) == 0
    out = capsys.readouterr().out
    assert "∂f/∂x = δu y" in out and "δu = " in out


@pytest.mark.parametrize("expr", [
    "h1 = tr(W); h2 = sin(h1) + cos(h1); h3 = h2*h2; h4 = h2*h3; h4",
    "h1 = tr(W); h3 = logsumexp(x); h4 = h3*exp(tanh(h1)); h5 = sqrt(1 + h4*h4); h6 = h5/(2 + sin(h5)); "
    "(abs(h6) + h5)*(abs(h6) - h5)",
])
def test_a_named_vec_of_an_identity_reads_back_with_its_size(expr):
    """δ₄ = vec(6(…)I) printed I without its size: read back, vec's length was an unknown
    size squared, which did not meet n·n where δ₄ - vec(3(…)I(n)) went on (a shape error;
    found by an independent random test of Hessians by a matrix)."""
    d = mcalc.hessian(expr, wrt="W", matrices=["W:n,n"], vectors=["x"])
    assert "vec(" in d.text and "*I)" not in d.text
    for printed in (d.text, d.unicode, d.latex):
        assert readback_error(d, printed, 1) < 1e-9, printed


@pytest.mark.parametrize("expr", ["exp(mean(A'@A))", "sum(A@inv(A+3*I))", "mean(inv(inv(A)))",
                                  "mean(inv(inv(A) + 3*I))"])
def test_a_named_part_of_a_hessian_by_a_matrix_reads_back(expr):
    """δ2 = exp(mean(AᵀA))(𝟏𝟏ᵀ)/n², used in kron(δ2, I): read back, nothing in δ2 settled
    its 𝟏's sizes, and kron(δ2, I) met a product of two unknown sizes (a shape error).  A
    size a named part leaves open is printed."""
    from numeric import readback_error

    h = mcalc.hessian(expr, wrt="A", matrices=["A:n,n"])
    assert h.shared
    for printed in (h.text, h.unicode, h.latex):
        assert readback_error(h, printed) < 1e-8, printed
