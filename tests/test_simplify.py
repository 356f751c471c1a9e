"""The element-wise simplifier (mcalc/simplify.py): the identities it applies,
its guards, and, on random expressions, that a simplified expression has the
value of the original."""
from __future__ import annotations

import math
import os
import random

import pytest

import mcalc.api
from mcalc.errors import EvaluationError
from numeric import readback_error
from mcalc.evaluate import Evaluator, Mat
from mcalc.jacobian import Algebra
from mcalc.parser import parse, parse_expr
from mcalc.shapes import Declarations, infer
from mcalc.simplify import Simplifier
from mcalc.text import TextPrinter

mcalc.api.__name__  # imported for its effect: it raises the recursion limit, as every use of mcalc does


def simplify(text: str, vectors=()) -> str:
    typing = infer(parse(text), Declarations({v: "n" for v in vectors}, {}, set()))
    return to_text(Simplifier(Algebra(typing)).polish(parse_expr(text)), typing)


def to_text(node, typing=None) -> str:
    return TextPrinter(typing).doprint(node)


@pytest.mark.parametrize("before,after", [
    ("x^2*x", "x^3"),                                      # powers of one base combine
    ("2*x*x + x^2", "3*x^2"),                              # like terms collect
    ("1/x^2 * 2*x", "2/x"),
    ("1/sin(x^3)^2 * 2*sin(x^3) * cos(x^3) * 3*x^2", "6*x^2*cos(x^3)/sin(x^3)"),  # §4.5.1
    ("9*(1 + 2*x)", "9 + 18*x"),                           # a number distributes over a sum
    ("cos(x + x^2)*(1 + 2*x)", "cos(x + x^2)*(1 + 2*x)"),  # a product over a sum stays, in order
    ("(x > 0)^2*y", "y*(x > 0)"),                          # a comparison is its own square
    ("max(0, z)*(z > 0) - y*(z > 0)", "(z > 0)*(z - y)"),  # max(0, z) next to its mask is z
    ("sigmoid(t)*(1 - sigmoid(t))*((1 - y)/(1 - sigmoid(t)) - y/sigmoid(t))", "sigmoid(t) - y"),
    ("x*(x + 1) - x^2", "x"),                              # the expansion is shorter
    ("2*a*b + 2*a*c", "2*a*(b + c)"),                      # common factors pulled out
    ("x/y + 1/y", "(x + 1)/y"),
    ("sqrt(4*x)", "2*sqrt(x)"),
    ("x^(1/2)*x^(1/2)", "x"),
    ("(x^2)^(1/2)", "sqrt(x^2)"),                          # not |x|: nothing is guessed
    ("(x^2)^3", "x^6"),
    ("8^(1/3) + 2^(1/2)*2^(1/2)", "4"),
    ("exp(0) + ln(1) + sin(0) + cos(0)", "2"),
    ("sin(-x) + cos(-x)", "cos(x) - sin(x)"),
    ("exp(ln(x + 1))^2", "(x + 1)^2"),
    ("x^y*x", "x^(y + 1)"),
    ("x - x + 3*w", "3*w"),
    ("w/w", "ones"),                                       # a vector blob stays a vector
    ("999*(x+1)^998*(x-1)^999 + 999*(x-1)^998*(x+1)^999",  # the rest of a common factor is simplified
     "1998*x*(x + 1)^998*(x - 1)^998"),
    ("sin(x)^1000*sin(x)", "sin(x)^1001"),                 # a large power of an atom is still a power of it
    ("(3*x)^100", "3^100*x^100"),                          # a number too large to evaluate stays a power
    ("(-3*x)^101", "-3^101*x^101"),
    ("1/x + 1/x^2", "(x + 1)/x^2"),                        # the whole denominator comes out
    # a product over a sum multiplied out one level, like terms collected, the power kept
    # (expanding would multiply out (w · x + b)² as well, which is longer)
    ("d*((w · x + b)^2 - 1) + 2*d*(w · x + b)^2", "3*d*(w · x + b)^2 - d"),
    ("a*((x + 1)^2 - 1) + a*(x + 1)^2", "2*a*(x + 1)^2 - a"),
    ("d*(1 + 2*u)", "d*(1 + 2*u)"),                        # not multiplied out where that is no shorter
])
def test_identity(before, after):
    assert simplify(before, vectors=("w",)) == after


def test_huge_powers_stay_as_written():
    assert simplify("2^1000*2^1000*x^2") == "2^2000*x^2"
    assert simplify("(x + 1)^900*(x + 1)") == "(x + 1)^901"


def test_blobs_past_the_limit_are_left_as_derived(monkeypatch):
    from mcalc import simplify as module

    text = " + ".join(f"x^{k}/{k}" for k in range(1, 12))  # 55 nodes
    assert simplify(text) != to_text(parse_expr(text))
    monkeypatch.setattr(module, "MAX_BLOB", 50)
    assert simplify(text) == to_text(parse_expr(text))


def test_expansion_has_a_budget():
    text = "(a + b + c + d)^6*x/x"
    assert simplify(text) == "(a + b + c + d)^6"


def test_division_by_zero_is_left_as_written():
    assert simplify("x/0 + x") == "x/0 + x"


# -- random expressions: the simplified value is the original's ------------------------
_UNARY = ["sin({})", "cos({})", "exp({})", "ln(({})^2 + 1)", "sqrt(({})^2 + 1)", "tanh({})", "-({})",
          "({})^2", "({})^3", "1/(({})^2 + 1)", "sigmoid({})", "abs({})", "relu({})", "({} > 0)"]
_BINARY = ["({}) + ({})", "({}) - ({})", "({}) * ({})", "({}) / (({})^2 + 1)", "({})^2 * ({})",
           "({}) * (({}) + 1)", "max(0, {}) * ({} > 0)"]


def _random_expr(rng: random.Random, depth: int) -> str:
    if depth == 0 or rng.random() < 0.2:
        return rng.choice(["a", "b", "c", "2", "3", "1/2", "a", "b"])
    if rng.random() < 0.4:
        return rng.choice(_UNARY).format(_random_expr(rng, depth - 1))
    left, right = _random_expr(rng, depth - 1), _random_expr(rng, depth - 1)
    pattern = rng.choice(_BINARY)
    return pattern.format(left, right) if pattern.count("{}") == 2 else pattern.format(left)


def _value(text: str, point: dict[str, float]) -> float:
    values = {k: Mat.scalar(v) for k, v in point.items()}
    return Evaluator(values, {})(parse_expr(text)).tolist()[0][0]


@pytest.mark.parametrize("seed", range(int(os.environ.get("MCALC_SIMPLIFY_SEEDS", "400"))))
def test_simplified_value_is_the_originals(seed):
    rng = random.Random(seed)
    text = _random_expr(rng, 4)
    simpler = simplify(text)
    for _ in range(3):
        point = {name: rng.uniform(-2, 2) for name in "abc"}
        try:
            want, got = _value(text, point), _value(simpler, point)
        except (EvaluationError, OverflowError, ZeroDivisionError):
            continue
        if not math.isfinite(want) or abs(want) > 1e8:
            continue
        assert abs(got - want) <= 1e-9 * (1 + abs(want)), (text, simpler, point)


def test_numbers_side_by_side_are_kept_apart_in_latex():
    """300 3^{99} would read as 3003^{99}."""
    import mcalc

    d = mcalc.diff("(3*x)^100", wrt="x")
    assert d.latex == "300 \\times {3}^{99} {x}^{99}"
    assert readback_error(d, d.latex) < 1e-12, d.latex


def test_a_root_of_a_product_of_powers_is_simplified():
    """(w²x²)^(1/2) recursed until Python's limit (caught: the answer was left as
    2(1/(2sqrt((wx)²)))wxx, the time spent on a thousand frames)."""
    from fractions import Fraction

    from mcalc import simplify as S

    a = S.mul(S.power(S.atom("w"), S.number(Fraction(2))), S.power(S.atom("x"), S.number(Fraction(2))))
    assert S.power(a, S.number(Fraction(1, 2))) == S.power(a, S.number(Fraction(1, 2)))  # no RecursionError
    assert mcalc.diff("sqrt((w*x)^2) + b", wrt="w").text == "w*x^2/sqrt(w^2*x^2)"


@pytest.mark.parametrize("expr,wrt,vectors,printed", [
    # a decimal the function is written with comes back as written (GELU's sigmoid form, a decay rate)
    ("x*sigmoid(1.702*x)", "x", (), "sigmoid(1.702*x)*(1 + 1.702*x*(1 - sigmoid(1.702*x)))"),
    ("exp(-0.05*x)", "x", (), "-0.05*exp(-0.05*x)"),
    ("sigmoid(0.3*x + 0.2)", "x", (), "0.3*sigmoid(0.3*x + 0.2)*(1 - sigmoid(0.3*x + 0.2))"),
    ("softplus(1.5*x)/1.5", "x", (), "sigmoid(1.5*x)"),
    ("0.37*x^2*y + 0.37*x*y^2", "x", (), "0.37*y*(2*x + y)"),
    # a number added to a sum as written (an epsilon), not the primitive 100000000/(100000000x + 1)
    ("ln(x + 1e-8)", "x", (), "1/(x + 1e-8)"),
    ("ln(x + 10^(-8))", "x", (), "1/(x + 1e-8)"),  # (10^{-8}, as a paper writes it)
    ("x/(x + 0.1)", "x", (), "0.1/(x + 0.1)^2"),
    ("(x + 1e-8)^(-2)", "x", (), "-2/(x + 1e-8)^3"),  # as written already: not scaled to 100000000x + 1
    ("ln(2.5 - x^2)", "x", (), "-2*x/(2.5 - x^2)"),
    ("ln(4*x + 1) + 0.5*y", "x", (), "4/(4*x + 1)"),  # (0.5 multiplies: not 2/(2x + 0.5))
    ("ln(sigmoid(x) + 1e-7)", "x", (), "sigmoid(x)*(1 - sigmoid(x))/(sigmoid(x) + 1e-7)"),
    ("sum(ln(p^2 + 1e-8))", "p", ("p",), "2*(p/(p^2 + 1e-8))^T"),
    ("1/(0.5*x^2 + 1)", "x", (), "-4*x/(x^2 + 2)^2"),  # (not -x/(0.5x² + 1)²: the decimal is no number added)
    # a decimal shorter than its quotient
    ("1.00001*x^2", "x", (), "2.00002*x"),
    # numbers written as quotients stay quotients, and so does a content that is a whole number
    ("x^3/6 + x^2/4", "x", (), "x*(x + 1)/2"),
    ("a*x^2/3 + a*x^3/5", "x", (), "a*x*(10 + 9*x)/15"),
    ("2*a*x^2 + 2*a*x^3", "x", (), "2*a*x*(2 + 3*x)"),
])
def test_decimals_print_as_the_function_writes_them(expr, wrt, vectors, printed):
    """851x/500 where the function says 1.702x read as another number than the one written.
    Every form reads back to the answer's value, and the answer is the finite difference's."""
    from numeric import fd_jacobian, max_rel_error, random_values

    d = mcalc.diff(expr, wrt=wrt, vectors=list(vectors))
    assert d.text == printed
    for form in (d.text, d.unicode, d.latex):
        assert readback_error(d, form) < 1e-12, form
    values = random_values(d, 3)
    assert max_rel_error(d.evaluate(values), fd_jacobian(d, values)) < 1e-6
