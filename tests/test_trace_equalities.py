"""No false equation: every `=` of the printed trace, in text and in LaTeX,
relates two things of one shape and one value (read back and evaluated at a
random point, each derivative symbol by finite differences), for every paper
case, in both layouts, by one variable and by several."""
from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

import mcalc
from mcalc.render import latex_steps, plain
from trace_reader import check

CASES = tomllib.loads((Path(__file__).parent / "data" / "paper.toml").read_text())["case"]


def _several(case) -> list[str]:
    """Every variable of the function but a matrix (a scalar by a matrix stands alone)."""
    if isinstance(case["wrt"], list):
        return case["wrt"]
    d = mcalc.diff(case["expr"], wrt=case["wrt"], vectors=case.get("vectors", ()),
                   matrices=[f"{k}:{v}" for k, v in case.get("matrices", {}).items()])
    names = [n for n, s in d.variables().items() if not s.is_matrix]
    return names if len(names) > 1 else [case["wrt"], "q"]  # q: absent, its partial is zero


def _derive(case, wrt, layout):
    return mcalc.diff(case["expr"], wrt=wrt, vectors=case.get("vectors", ()),
                      matrices=[f"{k}:{v}" for k, v in case.get("matrices", {}).items()], layout=layout)


@pytest.mark.parametrize("several", [False, True], ids=["one", "several"])
@pytest.mark.parametrize("layout", ["numerator", "denominator"])
@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_every_printed_equality_holds(case, layout, several):
    wrt = _several(case) if several else case["wrt"]
    if not several and isinstance(wrt, list):
        wrt = wrt[0]
    d = _derive(case, wrt, layout)
    text = check(d, plain(d), "unicode", seed=1)
    latex = check(d, latex_steps(d), "latex", seed=2)
    assert text >= 2 and latex >= 2  # at least the partial and the answer were read


def test_the_reader_catches_the_false_equations_of_old():
    """The checker itself: the stacked answer appended to the last partial
    (a 1×1 equal to a 1×(n+1)) and a numerator-layout step under
    --layout denominator both fail."""
    d = mcalc.diff("max(0, w·x + b)", wrt=["w", "b"], vectors=["w", "x"])
    rows = latex_steps(d).split(" \\\\\n")
    at = next(i for i, r in enumerate(rows) if r.startswith(" &= \\begin{cases} 1"))
    rows.insert(at + 1, " &= " + d.latex)
    with pytest.raises(AssertionError, match="shapes 1×1 and 1×4"):
        check(d, " \\\\\n".join(rows), "latex")
    den = mcalc.diff("w · x", wrt="w", vectors=["w", "x"], layout="denominator")
    wrong = plain(den).replace("∂y/∂w = x   n×1", "∂y/∂w = xᵀ   1×n", 1)
    assert wrong != plain(den)
    with pytest.raises(AssertionError, match="shapes"):
        check(den, wrong, "unicode")


def test_a_wrong_value_is_caught():
    d = mcalc.diff("ln(sin(x^3)^2)", wrt="x")
    assert check(d, plain(d), "unicode") >= 8
    with pytest.raises(AssertionError, match="differ"):
        check(d, plain(d).replace("= 6x²cos(x³)/sin(x³)   1×1", "= 6x²cos(x³)/sin(x²)   1×1"), "unicode")
    with pytest.raises(AssertionError, match="differ"):
        check(d, plain(d).replace("du₂/du₁ = cos(u₁)", "du₂/du₁ = sin(u₁)"), "unicode")


MATRIX = tomllib.loads((Path(__file__).parent / "data" / "matrix.toml").read_text())["case"]


@pytest.mark.parametrize("layout", ["numerator", "denominator"])
@pytest.mark.parametrize("case", MATRIX, ids=[c["id"] for c in MATRIX])
def test_every_printed_equality_holds_by_matrices(case, layout):
    """The same for the matrix cases (vec-Jacobians, a scalar by a matrix laid
    out as a matrix) and the Hessians (the gradient's trace, then its Jacobian's)."""
    kind = mcalc.hessian if case.get("kind") == "hessian" else mcalc.diff
    d = kind(case["expr"], wrt=case["wrt"], vectors=case.get("vectors", ()),
             matrices=[f"{k}:{v}" for k, v in case.get("matrices", {}).items()], layout=layout)
    assert check(d, plain(d), "unicode", seed=3, tolerance=1e-4) >= 2
    assert check(d, latex_steps(d), "latex", seed=4, tolerance=1e-4) >= 2


@pytest.mark.parametrize("layout", ["numerator", "denominator"])
@pytest.mark.parametrize("expr, wrt, declared", [
    ("h1 = tanh(W1@x); h2 = tanh(W2@h1 + h1); sum(h2 * h2) + sum(h1)", "W1",
     {"matrices": ["W1:n,n", "W2:n,n"], "vectors": ["x"]}),
    ("a = sin(x); b = a*a + a; c = b*b + b; d = c*c + c; d*d + d", "x", {}),
    # the terms of one adjoint gathered, δ(1 + 2u) for δ + 2δu, at either parity of the chain
    ("u1 = x*x; u2 = u1*u1 + u1; u3 = u2*u2 + u2; u4 = u3*u3 + u3; u4", "x", {}),
    ("u0 = x; u1 = sin(u0) + u0; u2 = sin(u1) + u1; u3 = sin(u2) + u2; u4 = sin(u3) + u3; u4", "x", {}),
    ("u = a*x; v = sin(u) + u*u + u; w = v*v + v; w", "x", {"scalars": ["a"]}),
    ("w ⊗ w + x", "w", {"vectors": ["w", "x"]}),
    # a definition that is another name: LaTeX wrote y = tr(h₁) without h₁ = S (found by an independent test)
    ("h1 = S; tr(h1)", "S", {"matrices": ["S:n,n"]}),
    ("h1 = S; g = h1@S; tr(g)", "S", {"matrices": ["S:n,n"]}),
])
def test_every_printed_equality_holds_with_named_adjoints(expr, wrt, declared, layout):
    """Reverse accumulation's named adjoints δₖ, and a variable used twice by one operation."""
    d = mcalc.diff(expr, wrt=wrt, layout=layout, **declared)
    assert check(d, plain(d), "unicode", seed=5, tolerance=1e-4) >= 2
    assert check(d, latex_steps(d), "latex", seed=6, tolerance=1e-4) >= 2


@pytest.mark.parametrize("expr,wrt,decls", [
    ("x ⊗ (-2 w)", "w", {"vectors": ["x", "w"]}),  # diag(x) (-2I), not diag(x) -2I
    ("[a, b]ᵀ[a, b]", "a", {}),  # u₂ ([1, 0]), not u₂ [1, 0]
    ("x' @ 2^A @ x", "x", {"vectors": ["x"], "matrices": ["A:n,n"]}),  # xᵀ(2^A), not xᵀ × 2^A
    # found by an independent random test of the traces:
    ("sum(A@(B@(-C))')", "A", {"matrices": ["A:n,n", "B:n,n", "C:n,n"]}),  # A(B(-C))ᵀ, not AB(-C)ᵀ
    ("A@(x@x')'", "A", {"matrices": ["A:n,n"], "vectors": ["x"]}),  # A(xxᵀ)ᵀ, not Ax(xᵀ)ᵀ
    ("(2^A) @ (2^A)", "A", {"matrices": ["A:n,n"]}),  # (2^A)(2^A), not 2^(A(2^A))
    ("1.5*(-2*z)", "z", {"vectors": ["z"]}), ("x/3 + (-3)*x", "x", {"vectors": ["x"]}),  # I (-2I) is no I(size)
    ("η_t*(x + 1)", "x", {}),  # η_t(x + 1) is η_t times (x + 1)
    ("norm(a*(-(2*(2*w))))", "a", {"vectors": ["w"]}),  # a · (-2 × 2w)
    ("norm([sqrt(c^2 + 1), c/(x[1]^2 + 1)])*z", "c", {"vectors": ["x:3", "z"]}),  # δ([0, 1]), not δ[0, 1]
    ("u_k = -z; softmax(u_k)", "z", {"vectors": ["z"]}), ("sum(x_t^2) + sum(x_t)", "x_t", {"vectors": ["x_t"]}),
    ("a*norm(x*norm(y))", "a", {"vectors": ["x", "y"]}),  # ‖x(‖y‖)‖, not ‖x‖y‖‖
    ("relu(u' @ tanh(P) @ y)", "P", {"vectors": ["u:m", "y"], "matrices": ["P:m,n"]}),  # cases keep ⊗
    ("relu((sigmoid(y)*(x-y))' @ (y*y))", "x", {"vectors": ["x", "y"]}),
    # LaTeX's 2 \times 10^{-8} beside a matrix: I (2 \times 10^{-8}) I, not I 2 \times 10^{-8} I
    ("x*2e-8 + ln(x*x + 1e-8)", "x", {"vectors": ["x"]}), ("x*y*3e-12 - 2.5e-30*x^3", "x", {}),
])
def test_products_with_a_sign_a_bracket_or_a_number_in_front_read_as_products(expr, wrt, decls):
    from numeric import readback_error

    for layout in ("numerator", "denominator"):
        d = mcalc.diff(expr, wrt=wrt, layout=layout, **decls)
        assert check(d, plain(d), "unicode", seed=1, tolerance=1e-6) >= 2
        assert check(d, latex_steps(d), "latex", seed=2, tolerance=1e-6) >= 2
        for text in (d.text, d.unicode, d.latex):
            assert readback_error(d, text) < 1e-9, text
