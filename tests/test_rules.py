"""Every primitive of the rule table, three ways: the exact form (paper or
Matrix Cookbook), the value against finite differences at several random
points, and (in test_paper/test_parser) the text round trip."""
from __future__ import annotations

import pytest

import mcalc
from numeric import readback_error
from mcalc import ast as A
from mcalc.errors import NotSupported
from mcalc.parser import parse_expr
from numeric import fd_jacobian, max_rel_error, random_values

V = {"vectors": ("w", "x")}
# (expression, wrt, declarations, the exact answer or None, source)
RULES = [
    # scalar rules (§2)
    ("x + y", "x", {}, "1", "§2 sum rule"),
    ("x - y", "y", {}, "-1", "§2 difference rule"),
    ("-x", "x", {}, "-1", "negation"),
    ("x*y", "x", {}, "y", "§2 product rule"),
    ("x/y", "y", {}, "-x/y^2", "quotient rule"),
    ("x^3", "x", {}, "3*x^2", "§2 power rule"),
    ("x**0.5", "x", {}, None, "power rule, fractional"),
    ("2^x", "x", {}, None, "d/dx a^x = a^x ln a"),
    ("x^y", "y", {}, "x^y*ln(x)", "d/dy x^y"),
    ("exp(x)", "x", {}, "exp(x)", "exp"),
    ("ln(x)", "x", {}, "1/x", "ln"),
    ("log(x)", "x", {}, "1/x", "log is the natural log"),
    ("sin(x)", "x", {}, "cos(x)", "sin"),
    ("cos(x)", "x", {}, "-sin(x)", "cos"),
    ("tan(x)", "x", {}, "1/cos(x)^2", "tan"),
    ("tanh(x)", "x", {}, "1 - tanh(x)^2", "tanh"),
    ("sigmoid(x)", "x", {}, None, "σ' = σ(1 - σ)"),
    ("σ(x)", "x", {}, None, "σ spelled as a letter"),
    ("sqrt(x)", "x", {}, "1/(2*sqrt(x))", "sqrt"),
    ("atan(x)", "x", {}, "1/(1 + x^2)", "arctan"),
    ("asin(x/2)", "x", {}, "1/(2*sqrt(1 - x^2/4))", "arcsin, 1/√(1 - a²), inside its domain"),
    ("arcsin(x/2)", "x", {}, "1/(2*sqrt(1 - x^2/4))", "arcsin spelled out"),
    ("acos(x/2)", "x", {}, "-1/(2*sqrt(1 - x^2/4))", "arccos"),
    ("asinh(x)", "x", {}, "1/sqrt(x^2 + 1)", "arsinh"),
    ("acosh(x^2 + 1)", "x", {}, "2*x/sqrt((x^2 + 1)^2 - 1)", "arcosh, 1/√(a² - 1)"),
    ("atanh(x/2)", "x", {}, "2/(4 - x^2)", "artanh, 1/(1 - a²)"),
    ("sinh(x)", "x", {}, "cosh(x)", "sinh"),
    ("cosh(x)", "x", {}, "sinh(x)", "cosh"),
    ("softplus(x)", "x", {}, "sigmoid(x)", "softplus, ln(1 + exp(a)): σ(a)"),
    ("softplus(-x^2)", "x", {}, "-2*x*sigmoid(-x^2)", "softplus where its argument is negative"),
    ("sinh(x)*cosh(x)", "x", {"vectors": ("x",)}, "diag(sinh(x)^2 + cosh(x)^2)", "sinh and cosh element-wise"),
    ("atan(x)", "x", {"vectors": ("x",)}, "diag(1/(1 + x^2))", "arctan element-wise"),
    ("relu(x)", "x", {}, "(x > 0)", "§5 relu"),
    ("abs(x)", "x", {}, "sign(x)", "abs"),
    ("max(0, x)", "x", {}, "(x > 0)", "§5 max(0, z)"),
    ("max(x, y)", "y", {}, "(y > x)", "max by its second argument"),
    ("min(x, y)", "x", {}, "(x <= y)", "min"),
    ("(x > y)", "x", {}, "0", "comparisons are piecewise constant"),
    # element-wise on vectors (§4.2) and scalar expansion (§4.3)
    ("w + x", "w", V, "I", "§4.2"),
    ("w ⊗ x", "x", V, "diag(w)", "§4.2"),
    ("w * x", "w", V, "diag(x)", "§4.2: * between vectors is ⊗"),
    ("w ⊘ x", "w", V, "diag(1/x)", "§4.2"),
    ("w / x", "x", V, "diag(-w/x^2)", "§4.2"),
    ("x / z", "z", {"vectors": ("x",)}, "-x/z^2", "vector by scalar"),
    ("z / x", "z", {"vectors": ("x",)}, "1/x", "scalar by vector"),
    ("x + z", "z", {"vectors": ("x",)}, "ones", "§4.3"),
    ("x*z", "x", {"vectors": ("x",)}, "z*I", "§4.3"),
    ("x^2", "x", {"vectors": ("x",)}, "diag(2*x)", "element-wise power"),
    ("exp(x)", "x", {"vectors": ("x",)}, "diag(exp(x))", "element-wise function"),
    ("max(0, x)", "x", {"vectors": ("x",)}, "diag(x > 0)", "§5 broadcast max"),
    ("max(w, x)", "w", V, "diag(w >= x)", "element-wise max"),
    ("-x", "x", {"vectors": ("x",)}, "-I", "negation of a vector"),
    # reductions (§4.4) and products (§5, §8)
    ("sum(x)", "x", {"vectors": ("x",)}, "ones^T", "§4.4"),
    ("mean(x)", "x", {"vectors": ("x",)}, "ones^T/n", "mean = sum/n"),
    ("w · x", "x", V, "w^T", "§8 dot product"),
    ("dot(w, x)", "w", V, "x^T", "dot() spelling"),
    ("x^T", "x", {"vectors": ("x",)}, "I", "transpose keeps the order of elements"),
    ("A @ x", "x", {"vectors": ("x",), "matrices": ("A:m,n",)}, "A", "Cookbook (69)"),
    ("x^T @ A", "x", {"vectors": ("x",), "matrices": ("A:n,m",)}, "A^T", "Cookbook (70)"),
    ("x^T @ A @ x", "x", {"vectors": ("x",), "matrices": ("A:n,n",)}, "x^T @ A + x^T @ A^T", "Cookbook (81)"),
    ("w^T @ x", "w", V, "x^T", "row times column"),
    ("I @ x", "x", {"vectors": ("x",)}, "I", "identity"),
    ("ones · x", "x", {"vectors": ("x",)}, "ones^T", "𝟏 · x = sum(x)"),
    ("sum(diag(w) @ x)", "w", V, "x^T", "diag(w) x = w ⊗ x"),
    ("[x^2, x*y]", "x", {}, "[2*x, y]", "§4.5.3 a vector of functions"),
    ("[w · x, sum(w)]", "w", V, None, "rows stacked into a Jacobian"),
    # chains (§4.5)
    ("sum(exp(w ⊗ x))", "w", V, None, "vector chain rule"),
    ("tanh(A @ x + b)", "x", {"vectors": ("x", "b:m"), "matrices": ("A:m,n",)}, "diag(1 - tanh(A @ x + b)^2) @ A",
     "a layer"),
    ("sigmoid(w · x)", "w", V, None, "logistic unit"),
    ("sum(softplus(W @ x + b))", "W", {"vectors": ("x", "b:m"), "matrices": ("W:m,n",)}, "x @ sigmoid(W @ x + b)^T",
     "a softplus layer by its weights"),
    ("sum(softplus(W @ x + b))", "x", {"vectors": ("x", "b:m"), "matrices": ("W:m,n",)}, "sigmoid(W @ x + b)^T @ W",
     "a softplus layer by its input"),
    ("u = w ⊗ x; y = sum(u)", "w", V, "x^T", "definitions"),
    ("u = x^2; u + u", "x", {}, "4*x", "a definition used twice"),
    ("x * x", "x", {}, "2*x", "both arguments move"),
    ("sum(x)/N", "x", {"vectors": ("x:N",)}, "ones(N)^T/N", "a size used as a number"),
    # losses beyond the paper
    ("mean(-(y*ln(sigmoid(X@w)) + (1-y)*ln(1 - sigmoid(X@w))))", "w",
     {"vectors": ("y:N",), "matrices": ("X:N,n",)}, "(sigmoid(X @ w) - y)^T @ X/N", "logistic regression"),
    ("mean(-(y*ln(sigmoid(X@w + b)) + (1-y)*ln(1 - sigmoid(X@w + b))))", "b",
     {"vectors": ("y:N", "w"), "matrices": ("X:N,n",)}, "sum(sigmoid(X @ w + b) - y)/N",
     "logistic regression by its bias (a · b of two element-wise expressions is sum(a ⊗ b) where shorter)"),
    ("sum((X@w - y)^2)/N", "w", {"vectors": ("y:N",), "matrices": ("X:N,n",)}, "2*((X @ w - y)^T @ X)/N",
     "least squares"),
    ("(A@x - b)·(A@x - b)", "x", {"vectors": ("x", "b:m"), "matrices": ("A:m,n",)}, "2*((A @ x - b)^T @ A)",
     "Cookbook (84)"),
    ("ln(sigmoid(w·x))", "w", V, "(1 - sigmoid(w · x))*x^T", "log-likelihood of one example"),
    # (c ⊘ v) · v = Σ cᵢ: the softmax cross-entropy printed (y ⊘ softmax(z) · softmax(z))softmax(z)ᵀ - yᵀ
    ("-y · ln(softmax(z))", "z", {"vectors": ("y", "z")}, "sum(y)*softmax(z)^T - y^T", "softmax cross-entropy"),
    ("-y · ln(softmax(W @ x + b))", "W", {"vectors": ("y:m", "x", "b:m"), "matrices": ("W:m,n",)},
     "x @ (sum(y)*softmax(W @ x + b) - y)^T", "a softmax classifier by its weights"),
    ("sum(ln(softmax(z)))", "z", {"vectors": ("z",)}, "ones^T - n*softmax(z)^T", "(1 ⊘ v) · v is n, not 1"),
    # regressions found by the property-based suite
    ("x' @ A @ (2 * ones)", "x", {"vectors": ("x",), "matrices": ("A:n,n",)}, "2*(ones^T @ A^T)",
     "a scaled first factor was counted twice"),
]


def _derive(expr, wrt, decls):
    return mcalc.diff(expr, wrt=wrt, vectors=decls.get("vectors", ()), matrices=decls.get("matrices", ()))


@pytest.mark.parametrize("expr,wrt,decls,expected,source", RULES, ids=[r[0] + " d/d" + r[1] for r in RULES])
def test_rule_agrees_with_finite_differences(expr, wrt, decls, expected, source):
    d = _derive(expr, wrt, decls)
    for seed in range(3):
        values = random_values(d, seed)
        assert max_rel_error(d.evaluate(values), fd_jacobian(d, values)) < 1e-5, source


@pytest.mark.parametrize("expr,wrt,decls,expected,source",
                         [r for r in RULES if r[3] is not None], ids=[r[0] + " d/d" + r[1] for r in RULES if r[3]])
def test_rule_exact_form(expr, wrt, decls, expected, source):
    d = _derive(expr, wrt, decls)
    assert d.text == expected, source
    assert d.resolve(parse_expr(d.text)) == d.expr


@pytest.mark.parametrize("expr,wrt,decls", [
    ("kron(X, X)", "X", {"matrices": ("X:n,n",)}),                  # a Kronecker product by a factor
    ("diag(x)", "x", {"vectors": ("x",)}),                          # diag(v) by v
    ("[x', x']", "x", {"vectors": ("x",)}),                          # rows stacked into a matrix
])
def test_what_mcalc_cannot_derive_it_says(expr, wrt, decls):
    with pytest.raises(NotSupported):
        _derive(expr, wrt, decls)


@pytest.mark.parametrize("expr,wrt,decls", [
    ("max(0, w·x + b)", "w,b", V),
    ("w ⊗ x", "w,x", V),
    ("tanh(A @ x + b)", "x,b", {"vectors": ("x", "b:m"), "matrices": ("A:m,n",)}),
])
def test_several_variables_with_a_vector_stand_side_by_side(expr, wrt, decls):
    """∂y/∂(w, b) = [∂y/∂w | ∂y/∂b] (paper §6 joins w and b into one parameter)."""
    d = _derive(expr, wrt, decls)
    assert isinstance(d.expr, (A.HStack, A.Transpose))
    assert d.resolve(parse_expr(d.text)) == d.expr
    assert readback_error(d, d.latex) < 1e-12, d.latex
    for seed in range(2):
        values = random_values(d, seed)
        assert max_rel_error(d.evaluate(values), fd_jacobian(d, values)) < 1e-5
    assert d.verify().status == "verified"


def test_a_variable_the_function_does_not_use_has_derivative_zero():
    d = mcalc.diff("99", wrt="x")  # paper §2: d/dx 99 = 0
    assert d.text == "0" and d.evaluate({"x": 2.0}) == [[0.0]]
    d = mcalc.diff("sum(w)", wrt="x", vectors=["w", "x"])
    assert (d.shape.rows, d.shape.cols) == (1, "n")
    assert d.evaluate({"w": [1, 2], "x": [3, 4]}) == [[0.0, 0.0]]


def test_numbers_too_large_to_fold_stay_side_by_side():
    """1e300·1e300 is not folded into a 601-digit number by the algebra, nor looped on."""
    d = mcalc.diff("1e300*x^2*1e300", wrt="x")
    assert d.verify().status == "verified"
    assert d.resolve(parse_expr(d.text)) == d.expr


# -- sinh, cosh and softplus: the functions themselves, by their definitions ----------------
@pytest.mark.parametrize("fn,definition", [
    ("sinh", "(exp(x) - exp(-x))/2"), ("cosh", "(exp(x) + exp(-x))/2"), ("softplus", "ln(1 + exp(x))"),
])
def test_sinh_cosh_and_softplus_are_their_definitions(fn, definition):
    """Each function, and its derivative, against its definition in exp and ln (derived by
    their own rules), element-wise on a vector at random points."""
    d = mcalc.diff(f"sum({fn}(x) * w)", wrt="x", vectors=("x", "w"))
    by_definition = mcalc.diff(f"sum(({definition}) * w)", wrt="x", vectors=("x", "w"))
    for seed in range(3):
        values = random_values(d, seed)
        assert max_rel_error(d.function_at(values).tolist(), by_definition.function_at(values).tolist()) < 1e-12
        assert max_rel_error(d.evaluate(values), by_definition.evaluate(values)) < 1e-12


@pytest.mark.parametrize("as_array", [False, True])
def test_softplus_keeps_its_digits_at_large_arguments(as_array):
    """softplus(u) as max(u, 0) + ln(1 + e^-|u|): softplus(1000) is 1000, where ln(1 + exp(1000))
    overflows, and softplus(-40) is e^-40, where ln(1 + exp(-40)) is 0 in floats."""
    import math

    d = mcalc.diff("sum(softplus(x) * w)", wrt="w", vectors=("x", "w"))
    values = {"x": [1000.0, -1000.0, -40.0, 0.0], "w": [1.0, 1.0, 1.0, 1.0]}
    got = d.evaluate(values, as_array=as_array)
    got = got.tolist() if hasattr(got, "tolist") else got
    assert got[0][:2] == [1000.0, 0.0]
    assert got[0][2] == pytest.approx(math.exp(-40), rel=1e-12) and got[0][3] == pytest.approx(math.log(2), rel=1e-15)
    by_x = mcalc.diff("sum(softplus(x))", wrt="x", vectors=("x",))
    got = by_x.evaluate({"x": [1000.0, -1000.0, 0.0]}, as_array=as_array)  # σ, without overflow
    assert (got.tolist() if hasattr(got, "tolist") else got) == [[1.0, 0.0, 0.5]]
