"""Random well-typed expressions over scalars, vectors and matrices, derived by
each of their variables and checked against central finite differences.

CI runs a few hundred examples; MCALC_LONG=1 runs 10,000."""
from __future__ import annotations

import math
import os

import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, example, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import mcalc  # noqa: E402
import mcalc.api  # noqa: E402,F401 - its import raises the recursion limit, before hypothesis looks
from mcalc.errors import EvaluationError, NotSupported  # noqa: E402
from numeric import fd_jacobian, random_values  # noqa: E402

LONG = bool(os.environ.get("MCALC_LONG"))
SCALARS = ["a", "b", "c"]
VECTORS = ["x", "y", "z"]
MATRIX = "A"  # n×n
DECLS = {"vectors": VECTORS, "matrices": [f"{MATRIX}:n,n"], "scalars": SCALARS}


def _scalar(kids):
    s, v = kids.map(lambda t: t[0]), kids.map(lambda t: t[1])
    unary = ["sin({})", "cos({})", "tanh({})", "sigmoid({})", "σ({})", "exp(tanh({}))", "ln({}^2 + 1)",
             "sqrt({}^2 + 1)", "({})^2", "({})^3", "-({})", "relu({})", "abs({})", "max(0, {})",
             "({})/(({})^2 + 1)", "tan(tanh({}))", "log({}^2 + 2)", "({} > 0.1) * ({})", "({})'"]
    return st.one_of(
        st.tuples(st.sampled_from(unary), s).map(lambda t: t[0].format(t[1], t[1])),
        st.tuples(st.sampled_from(["({}) + ({})", "({}) - ({})", "({}) * ({})", "max({}, {})",
                                   "min({}, {})", "({})/(({})^2 + 2)", "({})^2 * ({})"]), s, s)
        .map(lambda t: t[0].format(t[1], t[2])),
        st.tuples(st.sampled_from(["sum({})", "mean({})", "sum(({})^2)", "sum(tanh({}))", "ones · ({})"]), v)
        .map(lambda t: t[0].format(t[1])),
        st.tuples(st.sampled_from(["({}) · ({})", "dot({}, {})", "({})^T @ ({})", "({})' @ A @ ({})"]), v, v)
        .map(lambda t: t[0].format(t[1], t[2])),
    )


def _vector(kids):
    s, v = kids.map(lambda t: t[0]), kids.map(lambda t: t[1])
    return st.one_of(
        st.tuples(st.sampled_from(["({}) + ({})", "({}) - ({})", "({}) * ({})", "({}) ⊗ ({})",
                                   "max({}, {})", "({}) ⊘ (({})^2 + 1)"]), v, v)
        .map(lambda t: t[0].format(t[1], t[2])),
        st.tuples(st.sampled_from(["({}) * ({})", "({}) + ({})", "({}) / (({})^2 + 1)", "({}) - ({})"]), v, s)
        .map(lambda t: t[0].format(t[1], t[2])),
        st.tuples(st.sampled_from(["tanh({})", "sin({})", "sigmoid({})", "max(0, {})", "-({})",
                                   "A @ ({})", "(({})^T @ A)^T", "({})^2", "exp(tanh({}))", "diag({}) @ x",
                                   "({}) * ones", "relu({})", "I @ ({})", "(({}) < 0) ⊗ x", "({})^T^T"]), v)
        .map(lambda t: t[0].format(t[1])),
        st.tuples(s).map(lambda t: f"({t[0]}) * ones"),
    )


def _exprs():
    leaves_s = st.one_of(st.sampled_from(SCALARS), st.sampled_from(["2", "0.5", "3"]))
    leaves_v = st.sampled_from(VECTORS)
    pair = st.recursive(st.tuples(leaves_s, leaves_v),
                        lambda kids: st.tuples(_scalar(kids), _vector(kids)), max_leaves=8)
    return st.one_of(pair.map(lambda t: t[0]), pair.map(lambda t: t[1]))


@settings(max_examples=10_000 if LONG else 300, deadline=None, derandomize=not LONG,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(expr=_exprs(), which=st.integers(0, 6), seed=st.integers(0, 10**6), define=st.booleans())
def test_random_expressions_agree_with_finite_differences(expr, which, seed, define):
    if define:
        expr = f"u = {expr}; v = u; v"
    names = sorted({n for n in SCALARS + VECTORS if n in expr.replace("exp", "").replace("max", "")
                    .replace("sigmoid", "").replace("abs", "")}) or ["a"]
    wrt = names[which % len(names)]
    try:
        d = mcalc.diff(expr, wrt=wrt, **DECLS)
    except NotSupported:
        return
    _agrees_with_fd(d, seed, expr)


def _agrees_with_fd(d, seed, expr) -> None:
    """d's value at a random point is the finite differences' (where both are defined and moderate)."""
    values = random_values(d, seed)
    try:
        got = d.evaluate(values)
        want = fd_jacobian(d, values, h=1e-6)
    except EvaluationError:
        return
    for grow, wrow in zip(got, want, strict=True):
        for g, w in zip(grow, wrow, strict=True):
            if not math.isfinite(w) or abs(w) > 1e6:
                return
            assert abs(g - w) <= 1e-4 * (1 + abs(w)), (expr, d.wrt, d.text, got, want)


@settings(max_examples=1_000 if LONG else 200, deadline=None, derandomize=not LONG,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(expr=_exprs(), which=st.integers(0, 6), seed=st.integers(0, 10**6))
def test_printed_answers_read_back(expr, which, seed):
    """What mcalc prints — text, Unicode and LaTeX — reads back to the same
    answer: the same tree for text, the same value at a random point for all three."""
    from mcalc.evaluate import Evaluator
    from mcalc.parser import parse

    names = [n for n in SCALARS + VECTORS if n in expr] or ["a"]
    try:
        d = mcalc.diff(expr, wrt=names[which % len(names)], **DECLS)
    except NotSupported:
        return
    assert d.resolve(parse(d.text)) == d.expanded(), d.text
    values = random_values(d, seed)
    try:
        want = d.evaluate(values)
    except EvaluationError:
        return
    mats, sizes = d._bind(values)
    for printed in (d.text, d.unicode, d.latex):
        got = Evaluator(dict(mats), sizes)(d.resolve(parse(printed))).tolist()
        for grow, wrow in zip(got, want, strict=True):
            for g, w in zip(grow, wrow, strict=True):
                assert abs(g - w) <= 1e-9 * (1 + abs(w)), (expr, printed, got, want)


# -- by matrices ---------------------------------------------------------------------
MDECLS = {"vectors": ["x", "u:m"], "matrices": ["P:m,n", "Q:m,n", "R:n,n"], "scalars": ["a"]}
MNAMES = ["P", "Q", "R", "x", "u", "a"]


def _matrix_exprs():
    """(matrix m×n, scalar) pairs built from P, Q (m×n), R (n×n), x (n), u (m), a."""
    def grow(kids):
        m, s = kids.map(lambda t: t[0]), kids.map(lambda t: t[1])
        return st.tuples(
            st.one_of(
                st.tuples(st.sampled_from(["({}) + ({})", "({}) - ({})", "({}) ⊗ ({})", "max({}, {})",
                                           "({}) ⊘ (({})^2 + 1)"]), m, m).map(lambda t: t[0].format(t[1], t[2])),
                st.tuples(st.sampled_from(["tanh({})", "sin({})", "exp(tanh({}))", "({})^2", "-({})",
                                           "({}) @ R", "({}) @ R'", "relu({})", "sigmoid({})"]), m)
                .map(lambda t: t[0].format(t[1])),
                st.tuples(st.sampled_from(["({}) * ({})", "({}) + ({})"]), m, s).map(lambda t: t[0].format(t[1], t[2])),
                st.tuples(m, s).map(lambda t: f"({t[1]}) * ({t[0]})"),
            ),
            st.one_of(
                st.tuples(st.sampled_from(["sum({})", "mean({})", "norm({})^2", "tr(({})' @ P)", "u' @ ({}) @ x",
                                           "sum(tanh(({}) @ x))", "logsumexp(({}) @ x)", "sum(({}) @ R @ x)"]), m)
                .map(lambda t: t[0].format(t[1])),
                st.tuples(st.sampled_from(["sin({})", "({})^2", "tanh({}) * a"]), s).map(lambda t: t[0].format(t[1])),
                st.tuples(s, s).map(lambda t: f"({t[0]}) * ({t[1]})"),
            ))

    leaves = st.tuples(st.sampled_from(["P", "Q", "P @ R"]), st.sampled_from(["a", "2", "0.5"]))
    return st.recursive(leaves, grow, max_leaves=6)


def _matrix_case(pair, kind: int) -> tuple[str, list[str]]:
    """A scalar, a vector (tanh(M @ x)) or a matrix built from the pair, and its variables."""
    matrix, scalar = pair
    expr = [scalar, f"tanh(({matrix}) @ x)", matrix][kind]
    names = [n for n in MNAMES if n in expr.replace("tanh", "").replace("max", "").replace("sum", "")
             .replace("mean", "").replace("norm", "").replace("exp", "").replace("sigmoid", "")
             .replace("relu", "").replace("logsumexp", "")] or ["a"]
    return expr, names


@settings(max_examples=2_000 if LONG else 150, deadline=None, derandomize=not LONG,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(pair=_matrix_exprs(), kind=st.integers(0, 2), which=st.integers(0, 5), seed=st.integers(0, 10**6))
@example(pair=("(P) + (a)", "u' @ ((P) + (a)) @ x"), kind=0, which=1, seed=0)  # uᵀ(P + a), not uᵀP + auᵀ
@example(pair=("P", "tanh(a) * a"), kind=0, which=0, seed=0)  # a tanh(a)², not atanh(a)²
def test_random_matrix_expressions_agree_with_finite_differences(pair, kind, which, seed):
    """Scalars, vectors (M @ x) and matrices built from matrices, derived by a matrix,
    a vector or a scalar: vec-Jacobians and gradients against finite differences."""
    expr, names = _matrix_case(pair, kind)
    wrt = names[which % len(names)]
    try:
        d = mcalc.diff(expr, wrt=wrt, **MDECLS)
    except NotSupported:
        return
    _agrees_with_fd(d, seed, expr)
    for printed in (d.text, d.unicode, d.latex):
        from numeric import readback_error

        assert readback_error(d, printed, seed) < 1e-8, (expr, printed)


@settings(max_examples=3_000 if LONG else 300, deadline=None, derandomize=not LONG,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(expr=_exprs(), which=st.integers(0, 6), seed=st.integers(0, 10**6),
       layout=st.sampled_from(["numerator", "denominator"]))
# found by the long run: (x × 2)(2a) was refused as two numbers side by side, and
# "I (x)" (the parenthesis that kept x (…) from reading as a call) read as I(x)
@example(expr="((x) * (2)) * ((2) * (a))", which=0, seed=0, layout="numerator")
@example(expr="(x) / (((x)^T @ (x))^2 + 1)", which=0, seed=0, layout="denominator")
@example(expr="((x)^T^T) / ((a)^2 + 1)", which=1, seed=0, layout="denominator")
@example(expr="((x)^T @ (((x)^T @ A)^T))^3", which=0, seed=0, layout="numerator")  # (u₁u₂ᵀ)³, not u₁(u₂ᵀ)³
def test_every_printed_equality_holds(expr, which, seed, layout):
    """Every = of the text and LaTeX traces of random expressions holds at a random
    point, each derivative symbol by finite differences (tests/trace_reader.py)."""
    names = [n for n in SCALARS + VECTORS if n in expr] or ["a"]
    _trace_holds(expr, names[which % len(names)], layout, seed, DECLS)


def _trace_holds(expr: str, wrt: str, layout: str, seed: int, declared: dict) -> None:
    from mcalc.render import latex_steps, plain
    from trace_reader import AtKink, check

    try:
        d = mcalc.diff(expr, wrt=wrt, layout=layout, **declared)
        d.evaluate(random_values(d, seed))
    except (NotSupported, EvaluationError):
        return
    try:
        check(d, plain(d), "unicode", seed=seed, tolerance=1e-4)
        check(d, latex_steps(d), "latex", seed=seed, tolerance=1e-4)
    except (EvaluationError, AtKink):  # outside the domain, beyond floating point, or at a kink
        return


@settings(max_examples=2_000 if LONG else 200, deadline=None, derandomize=not LONG,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(pair=_matrix_exprs(), kind=st.integers(0, 2), which=st.integers(0, 5), seed=st.integers(0, 10**6),
       layout=st.sampled_from(["numerator", "denominator"]))
@example(pair=("(P) * (sum(P))", "sum(P)"), kind=1, which=1, seed=0, layout="denominator")  # (Psum(P))ᵀ
@example(pair=("-((P) * (2))", "sum(P)"), kind=1, which=0, seed=0, layout="numerator")  # (-P × 2)x
def test_every_printed_equality_holds_by_matrices(pair, kind, which, seed, layout):
    """The same for expressions over matrices (vec-Jacobians, gradients laid out as matrices)."""
    expr, names = _matrix_case(pair, kind)
    _trace_holds(expr, names[which % len(names)], layout, seed, MDECLS)
