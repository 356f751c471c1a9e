"""Declarations, the inference of undeclared names, and shape errors."""
from __future__ import annotations

import pytest

import mcalc
from mcalc.errors import DeclarationError, ShapeError


def kinds(d):
    return {name: (s.rows, s.cols) for name, s in d.variables().items()}


INFERRED = [
    ("sum(w*x)+b", "w", {}, {"w": ("n", 1), "x": ("n", 1), "b": (1, 1)}),
    ("x + z", "x", {"vectors": ["x"]}, {"x": ("n", 1), "z": (1, 1)}),
    ("sum(x*z)", "z", {"vectors": ["x"]}, {"x": ("n", 1), "z": (1, 1)}),
    ("X@w", "w", {}, {"X": ("N", "n"), "w": ("n", 1)}),
    ("X@w", "w", {"vectors": ["w:k"]}, {"X": ("N", "k"), "w": ("k", 1)}),
    ("w · x", "w", {"vectors": ["x:m"]}, {"w": ("m", 1), "x": ("m", 1)}),
    ("mean((y - max(0, X@w + b))^2)", "w", {"vectors": ["y:N"]},
     {"X": ("N", "n"), "w": ("n", 1), "y": ("N", 1), "b": (1, 1)}),
    ("3*x^2*y", "x", {}, {"x": (1, 1), "y": (1, 1)}),
    ("u = w ⊗ x; sum(u)", "w", {}, {"w": ("n", 1), "x": ("n", 1)}),
    ("𝐰 · 𝐱 + b", "w", {}, {"w": ("n", 1), "x": ("n", 1), "b": (1, 1)}),
    ("x' @ A @ x", "x", {"matrices": ["A:n,n"]}, {"A": ("n", "n"), "x": ("n", 1)}),
    ("x' @ A @ x", "x", {}, {"A": ("n", "n"), "x": ("n", 1)}),  # xᵀ makes x a vector, A a matrix
    ("diag(v) @ x", "x", {}, {"v": ("n", 1), "x": ("n", 1)}),
    ("[x, y]", "x", {}, {"x": (1, 1), "y": (1, 1)}),
]


@pytest.mark.parametrize("expr,wrt,decls,expected", INFERRED)
def test_inference(expr, wrt, decls, expected):
    assert kinds(mcalc.diff(expr, wrt=wrt, **decls)) == expected


SHAPE_ERRORS = [
    ("w ⊗ X", {"vectors": ["w"], "matrices": ["X:N,n"]}, 3, ["n×1 (vector)", "N×n (matrix)"]),
    ("w · v", {"vectors": ["w:n", "v:m"]}, 3, ["n×1", "m×1"]),
    ("X @ w", {"vectors": ["w:m"], "matrices": ["X:N,n"]}, 3, ["N×n", "m×1"]),
    ("x @ 3", {"vectors": ["x"]}, 3, ["use * with a scalar"]),
    ("X * w", {"vectors": ["w"], "matrices": ["X:N,n"]}, 3, ["for a matrix product use @"]),
    ("[x, w]", {"vectors": ["w"]}, None, ["a vector literal holds scalars"]),
    ("3 @ A", {}, None, ["cannot tell the shape of A", "declare it"]),
    ("diag(X)", {"matrices": ["X:N,n"]}, 1, ["diag needs a vector"]),
]


@pytest.mark.parametrize("expr,decls,column,words", SHAPE_ERRORS)
def test_shape_errors_name_the_place_and_both_shapes(expr, decls, column, words):
    wrt = "x" if "x" in expr else "w"
    with pytest.raises(ShapeError) as info:
        mcalc.diff(expr, wrt=wrt, **decls)
    for word in words:
        assert word in info.value.message
    if column is not None:
        assert info.value.column == column


@pytest.mark.parametrize("kwargs,words", [
    ({"vectors": ["x"], "scalars": ["x"]}, "declared both a vector and a scalar"),
    ({"matrices": ["X:N"]}, "write NAME:rows,cols"),
    ({"vectors": ["x:0"]}, "out of range"),
    ({"vectors": ["3x"]}, "cannot name a vector"),
    ({"vectors": ["I"]}, "cannot name a vector"),
])
def test_declaration_errors(kwargs, words):
    with pytest.raises(DeclarationError) as info:
        mcalc.diff("x + 1", wrt="x", **kwargs)
    assert words in info.value.message


@pytest.mark.parametrize("wrt,words", [
    ("sin", "mcalc's function sin, not a variable"), ("I", "mcalc's identity, not a variable"),
    ("T", "transpose mark"), ("2x", "not a variable name"),
    ("u", "names a definition"), ("n", "v's length is n by default"), ("x,x", "twice"), ("", "needs a variable"),
])
def test_wrt_must_name_a_variable(wrt, words):
    with pytest.raises(DeclarationError) as info:
        mcalc.diff("u = x^2; sum(v) + u", wrt=wrt, vectors=["v"])
    assert words in info.value.message


def test_definition_cannot_also_be_declared():
    with pytest.raises(DeclarationError):
        mcalc.diff("u = x^2; u", wrt="x", vectors=["u"])


@pytest.mark.parametrize("expr,wrt,decls,answer", [
    ("2 · x", "x", {}, "2"),                                  # a number beside ·: a product, as papers write 2 \cdot x
    ("x^2 · 3", "x", {}, "6*x"),
    ("a · b", "a", {"scalars": ["a", "b"]}, "b"),              # declared scalars
    ("c · w", "w", {"vectors": ["w"], "scalars": ["c"]}, "c*I"),
    ("w · x", "w", {}, "x^T"),                                # undeclared names: the dot product of vectors
])
def test_dot_with_a_scalar_side_is_a_product(expr, wrt, decls, answer):
    assert mcalc.diff(expr, wrt=wrt, **decls).text == answer


@pytest.mark.parametrize("expr,wrt,decls,words", [
    ("n*mean(x)", "x", {"vectors": ["x"], "scalars": ["n"]}, ["'n' is a scalar variable", "x's length is n by default"]),
    ("n*mean(x)", "x", {"vectors": ["x:n"], "scalars": ["n"]}, ["'n' is a scalar variable", "x's length is n:"]),
    ("n*sum(x)", "n", {"vectors": ["x"]}, ["'n' is a scalar variable", "-v x:k"]),
    ("m*sum(W@x)", "x", {"matrices": ["W:m,n"], "scalars": ["m"]}, ["'m' is a scalar variable", "W's size is m"]),
    ("n = sum(x); n*mean(x)", "x", {"vectors": ["x"]}, ["'n' is a scalar defined in the function", "definition"]),
])
def test_a_variable_is_not_also_a_size(expr, wrt, decls, words):
    """n × mean(x) with n a scalar of the user's and x of the default length n
    answered 𝟏ᵀ (n cancelled against mean's 1/n): the clash is an error that says
    which size to rename."""
    with pytest.raises(DeclarationError) as e:
        mcalc.diff(expr, wrt=wrt, **decls)
    for w in words:
        assert w in str(e.value)


def test_a_variable_n_with_sizes_named_otherwise():
    assert mcalc.diff("n*mean(x)", wrt="x", vectors=["x:k"], scalars=["n"]).text == "n*ones(k)^T/k"
    assert mcalc.diff("n*sum(x)", wrt="n", vectors=["x:k"]).text == "sum(x)"
    assert mcalc.diff("n^2", wrt="n").text == "2*n"
    assert mcalc.diff("sum(x)/n", wrt="x", vectors=["x"]).text == "ones^T/n"  # n the size, as a number


@pytest.mark.parametrize("latex,wrt,answer", [
    (r"\mathbf{1}^{T}\mathbf{X}\mathbf{w}", "w", "ones^T @ X"),  # 𝟏 of X's rows, whatever they settle to
    (r"\operatorname{tr}(\mathbf{X})", "X", "I"),  # a bold capital's rows stay open: tr makes it square
    (r"\mathbf{y}^{T}\mathbf{X}\mathbf{w}", "w", "y^T @ X"),
])
def test_bold_capitals_take_their_rows_from_what_they_meet(latex, wrt, answer):
    assert mcalc.diff(latex, wrt=wrt).text == answer


def test_capitals_on_both_sides_of_a_matrix_product_are_matrices():
    """tr(X@X) was refused: X was made a vector (tr(XX) worked)."""
    assert mcalc.diff("tr(X@X)", wrt="X").variables()["X"] == mcalc.diff("tr(XX)", wrt="X").variables()["X"]
    assert mcalc.diff("sum(A@B)", wrt="A").variables()["B"].is_matrix


@pytest.mark.parametrize("expr, wrt, vectors, answer", [
    ("x", "x", ["x:m"], "I(m)"), ("w - x", "x", ["x:3", "w:3"], "-I(3)"), ("sum(x)", "x", ["x:m"], "ones(m)^T"),
    ("x", "x", ["x"], "I"), ("-sum(x)", "x", ["x"], "-ones^T"), ("x + w", "w", ["x:k", "w"], "I(k)"),
])
def test_an_answer_that_is_a_bare_identity_or_ones_carries_its_size_unless_it_is_n(expr, wrt, vectors, answer):
    """Read back alone, an unsized I or 𝟏 is n×n or of length n: any other size is written."""
    from mcalc.api import diff

    assert diff(expr, wrt=wrt, vectors=vectors).text == answer


@pytest.mark.parametrize("text, name", [("x = x^2", "x"), ("w = w - 0.1*w^2", "w"), ("h = tanh(W@h); sum(h)", "h"),
                                        ("u = x; v = v + u; v^2", "v")])
def test_a_definition_in_terms_of_itself_is_refused(text, name):
    """x = x² printed ∂x/∂x = 2x, w = w - 0.1w² ∂w/∂w = 1 - 0.2w (a variable and the value
    defined, one name), and h = tanh(Wh) said 'h' is not defined."""
    with pytest.raises(mcalc.McalcError, match=f"'{name}' is defined in terms of itself"):
        mcalc.diff(text, wrt="W" if "W" in text else "x" if "x" in text else "w", matrices=["W:n,n"] if "W" in text else [])


@pytest.mark.parametrize("text, declared", [
    ("sum((y - X w)^2)", ["-v", "y", "-M", "X:n,n"]), ("norm(X w - y)^2", ["-v", "y", "-M", "X:n,n"]),
    ("sum(sigmoid(X w))", ["-M", "X:N,n"]), ("mean(softmax(W w))", ["-M", "W:N,n"]),
])
def test_a_capital_in_a_sum_or_a_norm_of_undeclared_names_is_a_matrix(text, declared):
    """sum((y - Xw)²) with nothing declared took X for a vector beside w, and Xw was refused
    ('the left side is n×1 (vector), the right side is n×1 (vector)'); ‖Xw - y‖² likewise."""
    from mcalc.cli import run

    d = mcalc.diff(text, wrt="w")
    assert d.typing.variables["w"].is_col and d.typing.variables[next(n for n in "XW" if n in text)].is_matrix
    args = [a for a in declared]
    vectors = [args[i + 1] for i, a in enumerate(args) if a == "-v"] + ["w"]
    matrices = [args[i + 1] for i, a in enumerate(args) if a == "-M"]
    want = mcalc.diff(text, wrt="w", vectors=vectors, matrices=matrices)
    assert d.text == want.text
    assert run(["diff", text, "--wrt", "w"]) == 0


@pytest.mark.parametrize("text, wrt, answer", [
    ("sum((x - C)^2)", "x", "2*(x - C)^T"), ("norm(x - C)", "x", "(x - C)^T/norm(x - C)"),
    ("sum(C*x)", "x", "C^T"),
])
def test_a_capital_met_element_wise_in_a_sum_stays_a_vector(text, wrt, answer):
    """Only a capital written before another name is a matrix there: sum((x - C)²) was refused,
    C taken for an n×n matrix."""
    assert mcalc.diff(text, wrt=wrt).text == answer


@pytest.mark.parametrize("first, second", [("w^T A w", "norm(A x - y)^2"), ("v^T X v", "norm(X w - y)^2")])
def test_a_matrix_before_an_undeclared_name_makes_it_a_vector_in_either_order(first, second):
    """wᵀAw + ‖Ax - y‖² took x for a scalar once A was a matrix (‖xA - y‖, a Frobenius norm),
    and the other order for a vector.  (y, met element-wise by a vector, is a scalar with a note
    where nothing else makes it a vector: scalar expansion, §4.3.)"""
    one = mcalc.diff(f"{first} + {second}", wrt="w")
    other = mcalc.diff(f"{second} + {first}", wrt="w")
    matrix = first[4]
    for d in (one, other):
        assert d.typing.variables[matrix].is_matrix and d.typing.variables["w"].is_col
        assert "x" not in second or d.typing.variables["x"].is_col
        assert d.typing.variables["y"].is_col or any(n.startswith("y is taken as a scalar") for n in d.notes)
