"""The language's spellings, Unicode and ASCII alike, and its error messages."""
from __future__ import annotations

from fractions import Fraction

import pytest

import mcalc
from mcalc import ast as A
from mcalc.errors import ParseError
from mcalc.parser import parse, parse_expr

w, x, y, X, b = (A.Var(n) for n in ("w", "x", "y", "X", "b"))


def n(v):
    return A.Num(Fraction(v))


SAME = [
    # (spelling, the same thing spelled another way)
    ("w ⊗ x", "w * x"), ("w ∘ x", "w * x"), ("w \\otimes x", "w * x"),
    ("w \\odot x", "w * x"), ("w \\circ x", "w * x"), ("2 \\times x", "2 * x"), ("2 × x", "2 * x"),
    ("w ⊘ x", "w / x"), ("w \\oslash x", "w / x"),
    ("w · x", "dot(w, x)"), ("w \\cdot x", "dot(w, x)"),
    ("x^2", "x**2"), ("x^T", "xᵀ"), ("x^T", "x'"), ("x^T", "x^{T}"), ("x^T", "x^\\top"),
    ("𝐰 · 𝐱", "w · x"), ("\\mathbf{w} · \\mathbf{x}", "w · x"),
    ("𝟏", "ones"), ("\\mathbf{1}", "ones"), ("\\vec{1}", "ones"),
    ("σ(x)", "sigmoid(x)"), ("log(x)", "ln(x)"),
    ("x >= 0", "x ≥ 0"), ("x <= 0", "x ≤ 0"),
    ("(x)", "x"), ("-2", "-(2)"),
]


@pytest.mark.parametrize("a,b_", SAME)
def test_spellings_mean_the_same(a, b_):
    assert parse_expr(a) == parse_expr(b_)


TREES = [
    ("3", n(3)), ("0.5", n(Fraction(1, 2))), (".5e1", n(5)),
    ("w1", A.Var("w1")), ("x_2", A.Var("x2")), ("x_t", A.Var("x_t")), ("lr_2", A.Var("lr2")), ("λ", A.Var("λ")), ("η", A.Var("η")),
    ("I", A.Identity()), ("ones", A.Ones()),
    ("x + y * b", A.Add(x, A.Mul(y, b))),
    ("x - y - b", A.Sub(A.Sub(x, y), b)),
    ("-x^2", A.Neg(A.Pow(x, n(2)))),
    ("x^-1", A.Pow(x, n(-1))),
    ("x^y^b", A.Pow(x, A.Pow(y, b))),
    ("w · x + b", A.Add(A.Dot(w, x), b)),
    ("X @ w + b", A.Add(A.MatMul(X, w), b)),
    ("x^T @ X", A.MatMul(A.Transpose(x), X)),
    ("(x + y)^T", A.Transpose(A.Add(x, y))),
    ("x > 0", A.Compare(">", x, n(0))),
    ("max(0, w · x + b)", A.Call("max", (n(0), A.Add(A.Dot(w, x), b)))),
    ("diag(x)", A.Diag(x)),
    ("[x, y]", A.VecLit((x, y))),
    ("[[1, 2], [3, 4]]", A.MatLit(((n(1), n(2)), (n(3), n(4))))),
    ("1/N", A.Div(n(1), A.Var("N"))),
    ("x^Tau", A.Pow(x, A.Var("Tau"))),
]


@pytest.mark.parametrize("text,tree", TREES)
def test_tree(text, tree):
    assert parse_expr(text) == tree


def test_definitions_then_the_function():
    p = parse("u = w ⊗ x; y = sum(u)")
    assert p.definitions == (("u", A.Mul(w, x)),) and p.output == "y"
    assert p.body == A.Call("sum", (A.Var("u"),))
    p = parse("# a comment\nu = w ⊗ x\n\nsum(u)  # the function\n")
    assert p.definitions == (("u", A.Mul(w, x)),) and p.output is None


def test_bold_marks_vectors_and_matrices():
    p = parse("𝐗 @ 𝐰 + \\mathbf{b}")
    assert p.bold == {"w", "b"} and p.bold_upper == {"X"}


ERRORS = [
    ("sum(w*", 7, "unexpected end of input, expected an expression"),
    ("w ⊗", 4, "expected an expression"),
    ("foo(x)", 1, "unknown function 'foo'"),
    ("(x + y", 7, "expected"),
    ("x + y)", 6, "unexpected ')'"),
    ("x + * y", 5, "unexpected '*'"),
    ("max(x)", 1, "max takes 2 arguments, got 1"),
    ("sin", 1, "'sin' is a function"),
    ("cosh * x", 1, "'cosh' is a function: write cosh(...)"),
    ("x + softplus", 5, "'softplus' is a function"),
    ("x $ y", 3, "unexpected character '$'"),
    ("[[1, 2], [3]]", 1, "matrix rows differ in length"),
    ("sin = x; sin", 1, "cannot define 'sin'"),
    ("x; y", 1, "only the last line may be a bare expression"),
    ("", None, "empty expression"),
    ("   ", None, "empty expression"),
    ("x\u200b+ y", 2, "invisible or control character U+200B"),
    ("(" * 1300 + "x" + ")" * 1300, 1001, "brackets nest deeper than 1000"),
]


@pytest.mark.parametrize("text,column,message", ERRORS)
def test_error_names_the_column_and_what_was_expected(text, column, message):
    import mcalc

    with pytest.raises(ParseError) as info:  # some, like foo(x), only once the names are known
        mcalc.diff(text, wrt="x")
    assert message in info.value.message
    assert info.value.column == column


@pytest.mark.parametrize("latex,plain", [
    (r"\mathrm{tr}(X)", "tr(X)"), (r"\mathrm{diag}(x) @ y", "diag(x) @ y"), (r"\mathrm{tr}\left(X\right)", "tr(X)"),
    (r"\left[ x + 1 \right]^2", "(x + 1)^2"), (r"x \le 2", "x <= 2"),
    (r"\sinh(x) + \cosh\left(2 x\right)", "sinh(x) + cosh(2 x)"), (r"\operatorname{softplus}(x)", "softplus(x)"),
    (r"\mathrm{softplus}(x) - \mathrm{sinh}(x) \mathrm{cosh}(x)", "softplus(x) - sinh(x) cosh(x)"),
    (r"\log\cosh(x)", "ln(cosh(x))"), (r"\mathrm{sinh2} x", "sinh2 x"),
])
def test_more_latex_spellings(latex, plain):
    """\\mathrm{tr}(X) was refused as "'tr' is a function: write tr(...)"; \\left[ … \\right]
    as a bracket was refused; \\left\\{ was read as \\le."""
    assert parse_expr(latex) == parse_expr(plain)


@pytest.mark.parametrize("text,words", [
    ("x: vectr; sum(x)", "expected matrix or scalar or vector"), ("‖x", "expected a closing '‖'"),
    ("[x | y", "expected ']' or '|'"), (r"\left\{x\right\}", "unexpected character '\\'"),
])
def test_errors_name_what_was_expected_in_words(text, words):
    with pytest.raises(ParseError) as e:
        parse(text)
    assert words in str(e.value) and "_" not in str(e.value).split("expected")[-1].replace("\\_", "")


@pytest.mark.parametrize("latex,plain", [
    (r"\mathbf{1}_n^T \mathbf{x}", "ones(n)^T @ x"), (r"\mathbf{W}_1 \mathbf{x}", "W1 @ x"),
    (r"2\mathbf{I}\mathbf{x}", "2 I @ x"), (r"\mathbf{I}_n \mathbf{x}", "I(n) @ x"),
    (r"\mathrm{ReLU}(\mathbf{w} \cdot \mathbf{x})", "relu(w · x)"), (r"\mathrm{sigmoid}(x)", "sigmoid(x)"),
    ("ReLU(x)", "relu(x)"),
])
def test_latex_subscripts_without_braces_and_named_functions(latex, plain):
    """\\mathbf{1}_n was 𝟏 times a vector named _n; \\mathrm{ReLU}(z) was a scalar ReLU
    times z, in silence; \\mathbf{I} was a variable I (found by an independent test)."""
    a, b = mcalc.diff(latex, wrt="x" if "x" in plain else "w"), mcalc.diff(plain, wrt="x" if "x" in plain else "w")
    assert a.function_expr() == b.function_expr()


def test_the_typeset_minus_sign_is_a_minus():
    """U+2212, as mcalc's own tables and typeset papers write it (2(Wx + b − y)xᵀ)."""
    assert parse_expr("x − y") == parse_expr("x - y")
    assert parse_expr("−x^2 − 3") == parse_expr("-x^2 - 3")


@pytest.mark.parametrize("text, hint", [("\\ln x", "\\ln(x)"), ("\\log x + 1", "\\log(x)"), ("\\exp x", "\\exp(x)"),
                                        ("\\sin^2 x", "\\sin(x)^2"), ("\\sin^2(x)", "\\sin(x)^2"),
                                        ("\\sinh x", "\\sinh(x)"), ("\\cosh^2 x", "\\cosh(x)^2"),
                                        # (they were "unexpected '^'")
                                        ("\\operatorname{tanh}^2(x)", "\\operatorname{tanh}(x)^2"),
                                        ("\\operatorname{softplus}^{2}(x)", "\\operatorname{softplus}(x)^"),
                                        ("\\sigma^2(x)", "\\sigma(x)^2")])
def test_a_latex_function_without_parentheses_says_how_to_write_it(text, hint):
    with pytest.raises(ParseError) as e:
        parse(text)
    assert hint in str(e.value) and e.value.column == 1


@pytest.mark.parametrize("text, words", [
    ("\\sin^{-1}(x)", "\\arcsin(x)"), ("\\Bigl( x \\Bigr)", "\\left( … \\right)"),
    ("\\sinh^{-1}(x)", "\\operatorname{arsinh}(x)"), ("\\tanh^{-1} x", "\\operatorname{artanh}(x)"),
    ("\\left| x \\right|", "\\operatorname{abs}(x)"), ("\\lvert x \\rvert", "\\operatorname{abs}(x)"),
    ("\\mathbf{0} + x", "\\mathbf{0}_{m \\times n}"), ("\\begin{split} x \\end{split}", "bmatrix and cases"),
    ("\\foo{x}", "\\foo: LaTeX that mcalc does not read"),
    # (both said only "see the README's table", which names neither)
    ("\\nabla_{\\mathbf{w}} L", "a gradient is written \\frac{\\partial L}{\\partial \\mathbf{w}}"),
    ("\\mathcal{L} + x", "name the function with a plain letter, L"),
])
def test_latex_mcalc_does_not_read_is_named_with_what_to_write(text, words):
    with pytest.raises(ParseError) as e:
        parse(text)
    assert words in str(e.value) and e.value.column == 1


@pytest.mark.parametrize("text, column", [("\\sum_i w_i x_i", 5), ("\\sum_{i=1}^n w_i x_i", 5),
                                          ("2 + \\sum _j x_j", 10), ("\\sum\\limits_i w_i", 5)])
def test_a_sum_with_an_index_says_how_to_write_it(text, column):
    """\\sum_i w_i x_i said "unexpected '_i'"; it says that mcalc reads no index notation and
    how to write a sum over a vector's entries, which reads as it says."""
    with pytest.raises(ParseError) as e:
        parse(text)
    assert "reads no index notation" in str(e.value) and e.value.column == column
    assert parse_expr("\\sum(\\mathbf{w} \\odot \\mathbf{x})") == parse_expr("sum(w ⊗ x)")


@pytest.mark.parametrize("typeset, plain", [
    ("X^{−1}", "X^{-1}"), ("X^{−T}", "X^{-T}"), ("1e−3*x", "1e-3*x"), ("2.5e−2*x^2", "2.5e-2*x^2"),
    ("\\|X\\|^2_F", "\\|X\\|_F^2"), ("\\|X\\|^{2}_{\\mathrm{F}}", "\\|X\\|_{\\mathrm{F}}^{2}"), ("‖x‖^2_2", "‖x‖₂^2"),
])
def test_typesetting_reads_as_what_it_means(typeset, plain):
    """X^{−1} with the typeset minus was read as an element-wise power; 1e−3 as 1·e − 3."""
    assert parse_expr(typeset) == parse_expr(plain)


@pytest.mark.parametrize("latex, plain", [
    ("x^{\\mathrm{T}} x", "x^T x"), ("x^\\mathrm{T} x", "x^T x"), ("x^{\\rm T} x", "x^T x"),
    ("x^{ \\mathrm{T} } x", "x^T x"), ("x^{\\text{T}} x", "x^T x"), ("x^{\\intercal} x", "x^T x"),
    ("X^{-\\mathrm{T}}", "X^{-T}"), ("X^{-\\intercal}", "X^{-T}"), ("X^{-\\top}", "X^{-T}"),
    ("w^{T}x + b", "w^T x + b"), ("x^{\\top}x", "x^T x"), ("X^{T}y", "X^T y"), ("x^{\\mathrm{T}}x", "x^T x"),
])
def test_every_typeset_transpose_is_a_transpose(latex, plain):
    """x^{\\mathrm{T}} was x to the power of a hidden scalar T (∂/∂x: Tx^(T - 1)); w^{T}x, a
    braced transpose with a name right after it, was refused (the guard for x^Tau)."""
    assert parse_expr(latex) == parse_expr(plain)


@pytest.mark.parametrize("text", ["x^(T)", "exp(z/T)", "T*x"])
def test_t_is_no_variable(text):
    """x^(T), T a scalar, printed as x^T: the transpose."""
    with pytest.raises(ParseError, match="transpose mark"):
        parse(text)


@pytest.mark.parametrize("expr, wrt, matrices, answer", [
    ("\\operatorname{tr}(\\mathbf{X}^{2})", "X", [], "2*X"),  # Cookbook (100), ∂tr(X²)/∂X = 2Xᵀ, in numerator layout
    ("\\operatorname{tr}(\\mathbf{X}^2)", "X", [], "2*X"),
    ("tr(X^{3})", "X", ["X:n,n"], "3*(X @ X)"),
    ("\\mathbf{x}^2", "x", [], "2*diag(x)"), ("x^{2}", "x", [], "2*x"),
    ("sum(X^2)", "X", ["X:n,n"], "2*X^T"),  # plain ^: element-wise, as always
    # a parenthesis holding bold names: of a square matrix refused (below), else element-wise
    ("sum((\\mathbf{Y} - \\mathbf{X}\\mathbf{W})^2)", "W", ["Y:N,k", "X:N,n", "W:n,k"], "-2*(Y - X @ W)^T @ X"),
    ("sum((\\mathbf{x} + 1)^2)", "x", [], "2*(x + 1)^T"), ("tr((A + X)^2)", "X", ["A:n,n", "X:n,n"], "2*(I(n) * (A + X))^T"),
    # X⁻² is (X⁻¹)², as X⁻¹ is the inverse (it was element-wise); of a vector, element-wise
    ("sum(X⁻²)", "X", ["X:n,n"], "-inv(X) @ (inv(X) @ ones(n) @ ones(n)^T + ones(n) @ ones(n)^T @ inv(X)) @ inv(X)"),
    ("sum(x⁻²)", "x", [], "-2*(x^-3)^T"),
])
def test_a_latex_power_of_a_matrix_is_the_matrix_power(expr, wrt, matrices, answer):
    """In LaTeX, X^2 and X^{2} of a square matrix mean X X (mcalc writes its own element-wise
    power X^{\\circ 2}); of a scalar or a vector, and the plain X^2, element-wise."""
    from numeric import fd_jacobian, max_rel_error, random_values

    from mcalc import verify

    d = mcalc.diff(expr, wrt=wrt, matrices=matrices)
    assert verify.compare(d, d.resolve(parse_expr(answer))).ok
    for seed in (0, 1):
        values = random_values(d, seed)
        assert max_rel_error(d.evaluate(values), fd_jacobian(d, values)) < 1e-6


def test_a_latex_power_of_a_matrix_that_is_not_square_says_what_to_write():
    from mcalc.errors import ShapeError

    with pytest.raises(ShapeError, match=r"circ 2"):
        mcalc.diff("sum(X^{2})", wrt="X", matrices=["X:m,n"])


@pytest.mark.parametrize("latex, plain", [
    ("\\begin{cases} x & x > 0 \\\\ 0 & \\text{otherwise} \\end{cases}", "x (x > 0) + 0 (x <= 0)"),
    ("\\begin{cases} x & \\text{if } x > 0 \\\\ -x & \\text{if } x \\le 0 \\end{cases}", "x (x > 0) + (-x) (x <= 0)"),
    ("\\begin{cases} x & x \\ge 0 \\\\ -x & \\text{else} \\end{cases}", "x (x >= 0) + (-x) (x < 0)"),
    ("\\begin{cases} x^2 & x > 1 \\\\ 1 & x < -1 \\\\ x & \\mathrm{otherwise} \\end{cases}",
     "x^2 (x > 1) + 1 (x < -1) + x (1 - ((x > 1) + (x < -1)))"),
])
def test_cases_read_as_papers_write_them(latex, plain):
    """\\text{otherwise} and \\text{if } were refused."""
    assert mcalc.diff(latex, wrt="x").program.body == mcalc.diff(plain, wrt="x").program.body


@pytest.mark.parametrize("text, words", [
    ("x + \\text{otherwise}", "only as the condition of a case"),
    ("\\begin{cases} x & \\text{otherwise} \\end{cases}", "condition of one case"),
    ("\\begin{cases} x & \\text{otherwise} \\\\ 1 & \\text{otherwise} \\end{cases}", "condition of one case"),
])
def test_otherwise_elsewhere_is_refused(text, words):
    with pytest.raises(ParseError, match=words):
        parse(text)


@pytest.mark.parametrize("text, column", [("x.5", 2), ("2*x.5", 4), ("(x+1).5", 6), ("a\nx.5", 2)])
def test_a_number_right_after_a_name_is_refused(text, column):
    """x.5 was x times 0.5, in silence."""
    with pytest.raises(ParseError, match="right after a name") as e:
        parse(text)
    assert e.value.column == column
    assert mcalc.diff("x 0.5", wrt="x").program.body == mcalc.diff("x*0.5", wrt="x").program.body


@pytest.mark.parametrize("text, column", [("1_000*x", 2), ("2_x", 2), ("x + 12_3", 7)])
def test_an_underscore_right_after_a_number_is_refused(text, column):
    """1_000 was 1 times a name _000; 2_x, 2 times _x."""
    with pytest.raises(ParseError, match="underscore right after a number") as e:
        parse(text)
    assert e.value.column == column
    assert parse_expr("x_1 + _a") is not None  # a name may begin with _ (a Python-minded _arguments)


@pytest.mark.parametrize("text, column", [("\\frac{a}{b}_1 x", 12), ("\\frac{a}{b} _1 x", 13),
                                          ("x + \\sqrt{y}_{2}", 13), ("\\frac{a}{\\frac{b}{c}}_1 x", 22),
                                          ("\\sqrt{a}{c}_1", 12), ("a{x}_{1}", 5)])
def test_a_subscript_after_a_fraction_or_a_root_is_refused(text, column):
    """\\frac{a}{b}_1 was a/b times a name _1, in silence (TeX sets the 1 below the fraction)."""
    with pytest.raises(ParseError, match="after a braced group") as e:
        parse(text)
    assert e.value.column == column


@pytest.mark.parametrize("latex, plain", [("\\frac{a_1}{b_{2}}", "a_1/b_2"), ("\\mathbf{x}_1 + {y}_1", "x_1 + y_1"),
                                          ("\\sqrt{x_{1}}", "sqrt(x_1)"), ("\\mathrm{lr}_{2} x", "lr_2 x"),
                                          ("x + 1 # \\sqrt{x}_1", "x + 1")])  # in a comment
def test_a_subscript_inside_a_fraction_or_after_a_bold_name_is_read(latex, plain):
    assert parse_expr(latex) == parse_expr(plain)


def test_a_name_with_an_underscore_on_the_line_after_a_root_is_read():
    """_a = 2 on the line after \\sqrt{x} was taken for the root's subscript."""
    program = parse("u = \\sqrt{x}\n_a = 2\nu + _a")
    assert program == parse("u = sqrt(x); _a = 2; u + _a")


@pytest.mark.parametrize("latex, plain", [
    ("\\log\\det(\\mathbf{X})", "ln(det(X))"), ("\\ln \\det\\left(X\\right)", "ln(det(X))"),
    ("\\sin \\cos(x)", "sin(cos(x))"),
])
def test_a_function_of_a_function_call_reads_as_papers_write_it(latex, plain):
    """\\log\\det(X) was refused: a function's argument goes in parentheses."""
    assert parse_expr(latex) == parse_expr(plain)


def test_a_subscript_after_a_bracket_is_refused():
    """norm(W)_F was norm(W) times a name _F."""
    with pytest.raises(ParseError, match="‖W‖_F") as e:
        parse("norm(W)_F")
    assert e.value.column == 8


@pytest.mark.parametrize("text", ["tr(\\mathbf{X}^{1/2})", "tr(X^{n})"])
def test_a_latex_power_of_a_matrix_that_is_not_whole_is_refused(text):
    """X^{1/2} of a matrix (its square root to a paper) was the element-wise root, in silence."""
    from mcalc.errors import ShapeError

    with pytest.raises(ShapeError, match="circ k"):
        mcalc.diff(text, wrt="X")


@pytest.mark.parametrize("text", ["\\mathbf{W}^{(2)} x", "x^{(n)}", "W^{[2]} x", "\\mathbf{a}^{[l]}"])
def test_a_superscript_in_parentheses_is_an_index_not_a_power(text):
    """W^{(2)} and W^{[2]}, a layer's weights in a paper, read as W squared."""
    with pytest.raises(ParseError, match="indexes"):
        parse(text)


@pytest.mark.parametrize("text", ["x1.5", "x_1.5", "x_{1}.5", "W_{1}.5", "x₁.5", "α1.5", "\\mathbf{x}.5", "x'.5",
                                  "x².5", "x^{2}.5"])
def test_every_number_right_after_a_name_is_refused(text):
    with pytest.raises(ParseError, match="right after a name"):
        parse(text)


@pytest.mark.parametrize("text, words", [("x_{1}_{2}", "second subscript"), ("e^x_1", "which"),
                                         ("y^x_1", "which")])
def test_ambiguous_subscripts_are_refused(text, words):
    """x_{1}_{2} was x1 × _ × 2; e^x_1 was exp(x1), where TeX sets e₁ˣ."""
    with pytest.raises(ParseError, match=words):
        parse(text)


def test_latex_cases_of_a_matrix_are_element_wise():
    """The cases of a square matrix were a matrix product, X @ (X > 0)."""
    from numeric import fd_jacobian, max_rel_error, random_values

    d = mcalc.diff("sum(\\begin{cases} \\mathbf{X} & \\mathbf{X} > 0 \\\\ 0 & \\text{otherwise} \\end{cases})",
                   wrt="X", matrices=["X:2,2"])
    assert d.text == "(X > 0)^T"
    values = random_values(d, 0)
    assert max_rel_error(d.evaluate(values), fd_jacobian(d, values)) < 1e-6


def test_a_negative_latex_power_of_a_matrix_is_the_inverses_power():
    from mcalc import verify

    d = mcalc.diff("tr(\\mathbf{X}^{-2})", wrt="X", matrices=["X:n,n"])
    assert verify.compare(d, d.resolve(parse_expr("-2*inv(X) @ inv(X) @ inv(X)"))).ok


@pytest.mark.parametrize("text", ["x^2_10", "x^3_12", "x^2_{1}0", "x^2_1.5"])
def test_characters_after_a_subscript_that_follows_a_power_are_refused(text):
    """x^2_10 was read as x₁²⁰ (the 0 glued onto the power once the subscript moved before it)."""
    with pytest.raises(ParseError, match="a number right after a subscript"):
        parse(text)


@pytest.mark.parametrize("text, plain", [
    ("x^{2}_{1}(x_1+1)", "x_1^2 (x_1 + 1)"), ("x^2_1(x_1+1)", "x_1^2 (x_1 + 1)"), ("x^2_1x_2", "x_1^2 x_2"),
    ("x^{2}_{1}2", "x_1^2 * 2"), ("x^2_1.", "x_1^2"),
])
def test_what_follows_a_subscript_after_a_power_is_read_as_tex_sets_it(text, plain):
    """Refused for a while: only a number glued to an unbraced subscript or power is ambiguous."""
    assert mcalc.diff(text, wrt="x_1").program.body == mcalc.diff(plain, wrt="x_1").program.body


@pytest.mark.parametrize("text, plain", [("{x}_{1}^2", "x_1^2"), ("{x}_1 + x", "x_1 + x"), ("2{x}_{1}", "2 x_1")])
def test_a_braced_name_with_its_subscript_after_the_braces(text, plain):
    """{x}_{1} was x times a name _ times 1."""
    assert mcalc.diff(text, wrt="x_1").program.body == mcalc.diff(plain, wrt="x_1").program.body
    assert parse_expr("\\mathbf{x}_{1}") == parse_expr("\\mathbf{x}_{1}")  # a command's braces stay


@pytest.mark.parametrize("text, column", [("x^2 \\text{ if } x > 0", 5), ("x^2 \\text{for} x > 0", 5),
                                          ("\\begin{cases} x & x > 0 \\\\ 0 & x \\leq 0 \\end{cases} + y \\mbox{when} y", 57)])
def test_a_condition_outside_cases_is_refused(text, column):
    """x^2 \\text{ if } x > 0 was x² times (x > 0), the words passed over in silence."""
    with pytest.raises(ParseError, match="outside") as e:
        parse(text)
    assert e.value.column == column


def test_a_condition_in_cases_and_an_answers_where_are_read():
    cases = parse_expr("\\begin{cases} x^2 & \\text{if } x > 0 \\\\ 0 & \\text{otherwise} \\end{cases}")
    assert cases == parse_expr("\\begin{cases} x^2 & x > 0 \\\\ 0 & \\text{otherwise} \\end{cases}")
    assert parse("u_3 x, \\quad \\text{where } u_3 = y^2") is not None


@pytest.mark.parametrize("latex, plain", [("lr_{2} x", "lr_2 x"), ("ab_{c}", "ab_c"), ("W_{12}x", "W_12 x"),
                                          ("\\mathrm{lr}_{2}", "lr_2")])
def test_a_longer_name_with_a_braced_subscript_is_that_name(latex, plain):
    """lr_{2} x was a name lr_ times 2x (only one letter before _{…} made a name)."""
    assert parse_expr(latex) == parse_expr(plain)


@pytest.mark.parametrize("text", ["log_{10}(x)", "ln_{2}(x)", "sum_{i}(x)", "max_{2}"])
def test_a_function_with_a_subscript_is_refused(text):
    with pytest.raises(ParseError, match="subscript on the function"):
        parse(text)


def test_a_digit_right_after_a_subscript_digit_is_refused():
    """x₁2 read as x₁₂ (element 12 of a 12-vector), where x_{1}2 is x₁ times 2."""
    with pytest.raises(ParseError, match="right after a subscript digit"):
        parse("x₁2")
    assert parse_expr("x₁₂") == parse_expr("x_{12}")


@pytest.mark.parametrize("expr, vectors, matrices", [("\\mathbf{x} \\times \\mathbf{w}", [], []),
                                                     ("x × w", ["x", "w"], []), ("A × B", [], ["A:n,n", "B:n,n"])])
def test_times_between_two_vectors_or_matrices_is_refused(expr, vectors, matrices):
    """\\mathbf{x} \\times \\mathbf{w} was the element-wise product, in silence (a cross product to many)."""
    from mcalc.errors import ShapeError

    with pytest.raises(ShapeError, match="cross product"):
        mcalc.diff(expr, wrt="x" if "x" in expr else "A", vectors=vectors, matrices=matrices)


@pytest.mark.parametrize("expr, plain", [("a × x", "a * x"), ("x \\times b", "x * b"), ("2 × x", "2 * x")])
def test_times_with_a_scalar_side_is_the_product(expr, plain):
    d, want = mcalc.diff(expr, wrt="x", vectors=["x"]), mcalc.diff(plain, wrt="x", vectors=["x"])
    assert d.expr == want.expr and d.text == want.text


@pytest.mark.parametrize("expr", ["tr((\\mathbf{A}+\\mathbf{X})^2)", "tr((\\mathbf{A}\\mathbf{X})^2)",
                                  "sum((\\mathbf{Y} - \\mathbf{X}\\mathbf{W})^2)", "tr((\\mathbf{A}+\\mathbf{X})²)",
                                  "tr((\\mathbf{A}+\\mathbf{X})^{2})", "sum((\\mathbf{Y} - \\mathbf{X}\\mathbf{W})^{2})"])
def test_a_plain_power_of_a_parenthesis_of_bold_square_matrices_is_refused(expr):
    """tr((A + X)²) means the matrix power to a paper, sum((Y - XW)²) each entry squared: of a
    square matrix mcalc does not choose (it squared each entry, in silence) — declared square,
    or made square by the trace once the sizes settle."""
    from mcalc.errors import ShapeError

    with pytest.raises(ShapeError, match="matrix power or each entry"):
        mcalc.diff(expr, wrt="X" if "A" in expr else "W", matrices=["A:n,n", "X:n,n", "Y:n,n", "W:n,n"])
    if expr.startswith("tr"):
        with pytest.raises(ShapeError, match="matrix power or each entry"):
            mcalc.diff(expr, wrt="X")


@pytest.mark.parametrize("text", [
    "\\begin{cases} x^2 & \\text{if } x > 0 \\\\ \\begin{cases} x & \\text{if } x < -1 \\\\ 0 & \\text{otherwise}"
    "\\end{cases} & \\text{if } x \\leq 0 \\end{cases}",  # cases within cases
    "x^2  # \\text{if} x > 0", "x^2 # W^{[2]} is a layer's index"])  # in a comment
def test_conditions_in_nested_cases_and_comments_are_read(text):
    assert parse(text) is not None


def test_cases_in_a_comment_do_not_let_a_condition_outside_them_through():
    with pytest.raises(ParseError, match="outside"):
        parse("# piecewise as \\begin{cases} in the paper\nx^2 \\text{ if } x > 0")


@pytest.mark.parametrize("latex, plain", [("\\mathrm{w}_1 + \\mathrm{w}_2", "w_1 + w_2"), ("\\mathrm{lr}_2 x", "lr_2 x")])
def test_a_roman_name_with_a_one_character_subscript_is_that_name(latex, plain):
    """\\mathrm{w}_1 was w times a name _1."""
    assert parse_expr(latex) == parse_expr(plain)


@pytest.mark.parametrize("text", ["\\frac{a}{b}\\,_1", "\\frac{a}{b}\\ _1", "\\sqrt{x}\\!_1", "\\mathrm{w}_12",
                                  "\\mathbf{x} _1", "\\mathbf{x}_1y"])
def test_a_subscript_after_spacing_or_too_long_is_refused(text):
    with pytest.raises(ParseError, match="subscript"):
        parse(text)


def test_an_outer_product_squared_in_latex_is_refused_where_square():
    """x yᵀ, both of the default length n (as mcalc reads and prints them), is square: refused like
    a declared one; with lengths of their own, each entry squared."""
    from mcalc.errors import ShapeError

    with pytest.raises(ShapeError, match="matrix power or each entry"):
        mcalc.diff("sum((\\mathbf{x}\\mathbf{y}^T)^2)", wrt="x")
    d = mcalc.diff("sum((\\mathbf{x}\\mathbf{y}^T)^2)", wrt="x", vectors=["x:n", "y:m"])
    from mcalc import verify

    assert verify.compare(d, d.resolve(parse_expr("2 * (y · y) * x^T"))).ok


@pytest.mark.parametrize("expr", ["tr((𝐗)²)", "tr((\\mathbf{X})²)"])
def test_a_parenthesised_bold_matrix_squared_is_judged_as_with_a_caret(expr):
    """(𝐗)² squared each entry where (𝐗)^2 is the matrix power: refused for a square matrix."""
    from mcalc.errors import ShapeError

    with pytest.raises(ShapeError, match="matrix power or each entry"):
        mcalc.diff(expr, wrt="X", matrices=["X:n,n"])


@pytest.mark.parametrize("bold", ["𝐗", "\\mathbf{X}"])
def test_a_bold_matrix_squared_is_the_matrix_power_written_either_way(bold):
    """𝐗^2 and \\mathbf{X}^2 were the matrix power and 𝐗² each entry's: the same bold
    matrix, squared, read two ways.  Of a vector, or of a plain X, the power is each entry's."""
    def by_x(text, **decls):
        return mcalc.diff(text, wrt="X", **decls).text

    powers = {by_x(f"sum({bold}{power})", matrices=["X:n,n"]) for power in ("²", "^2", "^{2}")}
    assert powers == {by_x("sum(X @ X)", matrices=["X:n,n"])}, powers
    assert by_x("sum(X²)", matrices=["X:n,n"]) == "2*X^T"  # plain: each entry, as mcalc prints it
    assert mcalc.diff("sum(𝐱²)", wrt="x").text == "2*x^T"


@pytest.mark.parametrize("latex, plain", [
    ("\\sum (\\mathbf{y} - \\mathbf{X}\\mathbf{w})^2", "sum((y - X@w)^2)"),
    ("\\sum \\left(\\mathbf{y} - \\mathbf{X}\\mathbf{w}\\right)^{2}", "sum((y - X@w)^2)"),
    ("(\\sum (\\mathbf{w}))^2", "sum(w)^2"), ("\\operatorname{sum}(\\mathbf{w})^2", "sum(w)^2")])
def test_a_power_after_sums_parenthesis_is_its_operands(latex, plain):
    """\\sum (y - Xw)^2 was (Σ(y - Xw))², where TeX sets the power on the parenthesis: the sum of squares."""
    d = mcalc.diff(latex, wrt="w", vectors=["y", "w"], matrices=["X:N,n"])
    assert d.program.body == mcalc.diff(plain, wrt="w", vectors=["y", "w"], matrices=["X:N,n"]).program.body


@pytest.mark.parametrize("text", ["\\mathbf{W}_{\\mathrm{Q}}\\mathbf{x}", "\\mathbf{W}\\mathbf{h}_{t-1}",
                                  "\\mathbf{W}_{ 1 }\\mathbf{x}"])
def test_a_subscript_a_bold_name_cannot_take_is_refused(text):
    """\\mathbf{W}_{\\mathrm{Q}} was W times a name _ times Q."""
    with pytest.raises(ParseError, match="subscript after a name in braces"):
        parse(text)


@pytest.mark.parametrize("text, column", [("x + \\text{else}", 5), ("x * \\mathrm{else}", 5),
                                          ("\\text{otherwise}", 1), ("\\mbox{else} x", 1)])
def test_otherwise_outside_cases_is_refused_however_spelled(text, column):
    """\\text{else} is \\text{otherwise}: outside a case it is an error at its column, not
    a variable named for it (a shortcut that looked for the word "otherwise" let it by)."""
    with pytest.raises(ParseError, match="stands only as the condition of a case") as e:
        parse(text)
    assert e.value.column == column


def test_a_short_input_whose_cases_share_their_conditions_meets_the_node_limit():
    """The else row of a case reuses the other conditions' parts, so nested cases double
    the tree at each level: 603 characters make 163,831 parts, refused as too many (a
    shortcut that skipped the count for short inputs derived it for seconds, and an input
    of a thousand characters for minutes)."""
    text = "x"
    for _ in range(14):
        text = "\\begin{cases}1&" + text + ">0\\\\0&\\text{else}\\end{cases}"
    assert len(text) < 1000
    with pytest.raises(ParseError, match="parts; the limit is 50000"):
        parse(text)


def test_counting_the_parts_stops_at_the_limit():
    """Each nesting level of cases doubles the parts (the else row shares the other
    conditions'): 24 levels in about a thousand characters are 167 million parts,
    refused once the count passes the limit, not after counting them all."""
    text = "x"
    for _ in range(24):
        text = "\\begin{cases}1&" + text + ">0\\\\0&\\text{else}\\end{cases}"
    with pytest.raises(ParseError, match="over 50000 parts; the limit is 50000"):
        parse(text)


def test_a_claims_answer_is_held_to_the_same_limits():
    """The answer a claim states is counted and checked as the function is: a stray
    \\text{else} in it is the same error, not a variable named for it."""
    with pytest.raises(ParseError, match="stands only as the condition of a case"):
        parse("d/dx (x) = 1 + \\text{else}", start="claim")


@pytest.mark.parametrize("text", ["e^{-x}^2", "x^{2}^{3}", "x^{2} ^3"])
def test_a_double_superscript_is_refused_as_tex_refuses_it(text):
    """e^{-x}^2 was read as e^{(-x)²}, silently, where an author means (e^{-x})² as often:
    TeX itself refuses it ("Double superscript")."""
    with pytest.raises(ParseError, match="second superscript on one base"):
        parse(text)


@pytest.mark.parametrize("text", ["(e^{-x})^{2}", "e^{(-x)^2}", "e^{x^{2}}", "x^{2} + y^{3}"])
def test_one_superscript_on_each_base_is_read(text):
    parse(text)


@pytest.mark.parametrize("text", ["1/2 x^2", "1/2x", "1/N sum((y - X@w)^2)", "x/y z", "lr/2 w·w", "1/x (x + 1)",
                                  "1/2 sin(x)", "w ⊘ 2 x", "1/2 \\mathbf{x}^\\top \\mathbf{A} \\mathbf{x}",
                                  "1/N \\sum (\\mathbf{y} - \\mathbf{X}\\mathbf{w})^2"])
def test_a_division_before_a_product_written_side_by_side_is_refused(text):
    """1/2 x² was read as 1/(2x²) without a word (juxtaposition binds tighter than /),
    where the paper's 1/N Σ(…) and ½x² mean the other reading; each is refused, with the
    two ways to say it, at the '/'."""
    with pytest.raises(ParseError, match=r"before a product written side by side is unclear") as e:
        parse(text)
    assert e.value.column == next(i for i, c in enumerate(text) if c in "/⊘") + 1


@pytest.mark.parametrize("text, meant", [
    ("(1/2) x^2", "x^2/2"), ("1/(2 x^2)", "1/(2*x^2)"), ("\\frac{1}{2} x^2", "x^2/2"), ("1/xy", "1/(x*y)"),
    ("x/{2y}", "x/(2*y)"), ("u/‖u‖ · v", "(u/norm(u)) · v"),
])
def test_a_division_said_either_way_reads_as_said(text, meant):
    d, want = mcalc.diff(text, wrt="x" if "x" in meant else "u", vectors=["u", "v"] if "u" in meant else []), \
        mcalc.diff(meant, wrt="x" if "x" in meant else "u", vectors=["u", "v"] if "u" in meant else [])
    assert d.text == want.text


@pytest.mark.parametrize("text, shown", [("\\text{ReLU}(x)", "\\text{ReLU}"), ("x^2 \\quad \\text{(gradient)}", "\\text{(gradient)}"),
                                         ("\\text{diag}(x)", "\\text{diag}")])
def test_text_mcalc_does_not_read_is_named(text, shown):
    """\\text{ReLU}(x) said only "unexpected character '\\'"."""
    with pytest.raises(ParseError) as e:
        parse(text)
    assert e.value.message.startswith(shown + ": LaTeX that mcalc does not read here; mcalc reads \\text{…} only")


@pytest.mark.parametrize("text, words", [
    ("sech(x)^2", "mcalc has no sech; write 1/cosh(x)"), ("log10(x)", "mcalc has no log10; write ln(x)/ln(10)"),
    ("Tr(X)", "mcalc has no Tr; write tr(X)"), ("coth(x)", "write cosh(x)/sinh(x)"),
    ("\\operatorname{sech}^2(x)", "mcalc has no sech; write 1/cosh(x)"),
    ("\\operatorname{sech}(x)", "mcalc has no sech; write 1/cosh(x)"),
])
def test_a_function_mcalc_lacks_is_named_with_how_to_write_it(text, words):
    """sech² is how papers write tanh′; log10 and Tr are everyday spellings: each was an unknown
    function with only "for a product write sech*(…)" (or "unexpected '^'" before the argument)."""
    with pytest.raises(ParseError) as e:
        mcalc.diff(text, wrt="x" if "X" not in text else "X")
    assert words in str(e.value) and e.value.column == 1


@pytest.mark.parametrize("text, scalars", [("cot(x + 1)", ["c", "o", "t"]), ("sec(x + 1)", ["s", "e", "c"]),
                                           ("lg(x)", ["l", "g"])])
def test_a_lacking_functions_name_of_declared_letters_is_their_product(text, scalars):
    """The hint for a function mcalc lacks is for an unknown function only: with each letter
    declared, cot(x + 1) is c·o·t·(x + 1), as any run of declared letters before a parenthesis."""
    d = mcalc.diff(text, wrt="x", scalars=scalars)
    assert d.text == "*".join(scalars)


@pytest.mark.parametrize("text, words", [("x/(2\\sigma^2)", "unexpected '^'"), ("\\sigma_x^2 x", "unexpected '_x'")])
def test_a_sigma_without_parentheses_is_not_told_to_take_them(text, words):
    """σ² may be a variance and σₓ a name: only \\sigma^2(x) is told to write \\sigma(x)^2."""
    with pytest.raises(ParseError) as e:
        parse(text)
    assert words in str(e.value) and "\\sigma(x)" not in str(e.value)
