"""The derivative rule table: each primitive's local Jacobian, one small entry each.

``partial(alg, u, i)`` is ∂u/∂aᵢ for an intermediate ``u = op(a₁, a₂, …)``, in
numerator layout.  Element-wise entries give the derivative of one element
(paper §4.2); :meth:`Algebra.elementwise_partial` turns it into diag(…), d·I
or, under scalar expansion (§4.3), a column — once, for every entry.
"""
from __future__ import annotations

from . import ast as A
from .errors import NotSupported
from .shapes import Shape

ONE = A.ONE

# Every function of the language, with its number of arguments.
FUNCTIONS = {
    "sum": 1, "mean": 1, "max": 2, "min": 2, "exp": 1, "ln": 1, "sin": 1, "cos": 1,
    "tan": 1, "tanh": 1, "sigmoid": 1, "relu": 1, "abs": 1, "sign": 1, "sqrt": 1, "dot": 2, "diag": 1,
    "tr": 1, "det": 1, "inv": 1, "norm": 1, "softmax": 1, "log_softmax": 1, "logsumexp": 1,
    "kron": 2, "vec": 1, "asin": 1, "acos": 1, "atan": 1, "asinh": 1, "acosh": 1, "atanh": 1,
    "sinh": 1, "cosh": 1, "softplus": 1,
}

# ----- Element-wise unary functions: d f(a)/da, element by element -----------------
UNARY = {
    "exp": lambda alg, a: alg.call("exp", a),                                   # exp(a)
    "ln": lambda alg, a: alg.div(ONE, a),                                       # 1/a
    "sin": lambda alg, a: alg.call("cos", a),                                   # cos(a)
    "cos": lambda alg, a: alg.neg(alg.call("sin", a)),                          # -sin(a)
    "tan": lambda alg, a: alg.div(ONE, alg.pow(alg.call("cos", a), A.num(2))),  # 1/cos(a)²
    "tanh": lambda alg, a: alg.sub(ONE, alg.pow(alg.call("tanh", a), A.num(2))),  # 1 - tanh(a)²
    "sinh": lambda alg, a: alg.call("cosh", a),                                 # cosh(a)
    "cosh": lambda alg, a: alg.call("sinh", a),                                 # sinh(a)
    "sigmoid": lambda alg, a: alg.mul(alg.call("sigmoid", a),                   # σ(a)(1 - σ(a))
                                      alg.sub(ONE, alg.call("sigmoid", a))),
    "softplus": lambda alg, a: alg.call("sigmoid", a),                          # σ(a), of ln(1 + exp(a))
    "sqrt": lambda alg, a: alg.div(ONE, alg.mul(A.num(2), alg.call("sqrt", a))),  # 1/(2√a)
    "asin": lambda alg, a: alg.div(ONE, alg.call("sqrt", alg.sub(ONE, alg.pow(a, A.num(2))))),  # 1/√(1 - a²)
    "acos": lambda alg, a: alg.neg(alg.div(ONE, alg.call("sqrt", alg.sub(ONE, alg.pow(a, A.num(2)))))),
    "atan": lambda alg, a: alg.div(ONE, alg.add(ONE, alg.pow(a, A.num(2)))),  # 1/(1 + a²)
    "asinh": lambda alg, a: alg.div(ONE, alg.call("sqrt", alg.add(alg.pow(a, A.num(2)), ONE))),  # 1/√(a² + 1)
    "acosh": lambda alg, a: alg.div(ONE, alg.call("sqrt", alg.sub(alg.pow(a, A.num(2)), ONE))),  # 1/√(a² - 1)
    "atanh": lambda alg, a: alg.div(ONE, alg.sub(ONE, alg.pow(a, A.num(2)))),  # 1/(1 - a²)
    # Piecewise: the paper's convention, derivative 0 at the kink (§5).
    "relu": lambda alg, a: alg.compare(">", a, A.ZERO),                         # (a > 0)
    "abs": lambda alg, a: alg.call("sign", a),                                  # sign(a), 0 at 0
    "sign": lambda alg, a: A.ZERO,                                              # piecewise constant
}
UNARY_NODES = {
    A.Neg: lambda alg, a: A.num(-1),                                            # d(-a)/da = -1
}

# ----- Element-wise binary operators: (∂/∂a, ∂/∂b) of one element ------------------
BINARY = {
    A.Add: (lambda alg, a, b: ONE,                                              # 1
            lambda alg, a, b: ONE),                                             # 1
    A.Sub: (lambda alg, a, b: ONE,                                              # 1
            lambda alg, a, b: A.num(-1)),                                       # -1
    A.Mul: (lambda alg, a, b: b,                                                # b
            lambda alg, a, b: a),                                               # a
    A.Div: (lambda alg, a, b: alg.div(ONE, b),                                  # 1/b
            lambda alg, a, b: alg.neg(alg.div(a, alg.pow(b, A.num(2))))),       # -a/b²
    A.Pow: (lambda alg, a, b: alg.mul(b, alg.pow(a, alg.sub(b, ONE))),          # b a^(b-1)
            lambda alg, a, b: A.ZERO if A.rational(a) == 0 else                  # 0^b: 0 where it has a value
            alg.mul(alg.pow(a, b), alg.call("ln", a))),                            # a^b ln(a)
    A.Compare: (lambda alg, a, b: A.ZERO,                                       # piecewise constant
                lambda alg, a, b: A.ZERO),
    # max(0, z): (z > 0), the paper's §5, 0 at the kink.  Against a variable a tie goes
    # to the left argument, so that max(x, x) still has derivative 1.
    "max": (lambda alg, a, b: alg.compare(">" if isinstance(b, A.Num) else ">=", a, b),  # (a ≥ b)
            lambda alg, a, b: alg.compare(">", b, a)),                                    # (b > a)
    "min": (lambda alg, a, b: alg.compare("<" if isinstance(b, A.Num) else "<=", a, b),  # (a ≤ b)
            lambda alg, a, b: alg.compare("<", b, a)),                                    # (b < a)
}


# ----- Linear and bilinear operations: the Jacobian is the operation itself -------
# A matrix is laid flat (vec, columns stacked): these are vec-Jacobians.
def _transpose(alg, u, i, name):
    s = alg.shape(u.arg)
    if s.is_matrix:
        return A.Commutation(s.rows, s.cols)  # ∂vec(Aᵀ)/∂vec(A)ᵀ = K(m, n)
    return alg.identity(s)                    # a vector's elements keep their order when laid flat


def _sum(alg, u, i, name):
    # ∂ sum(a)/∂a = 𝟏ᵀ (§4.4); for a matrix, over vec(A)
    s = alg.shape(u.args[0])
    return ONE if s.is_scalar else alg.transpose(A.Ones(dim=s.flat))


def _mean(alg, u, i, name):
    # ∂ mean(a)/∂a = 𝟏ᵀ/n
    s = alg.shape(u.args[0])
    if s.is_scalar:
        return ONE
    return alg.jscale(alg.div(ONE, alg.dim_node(s.flat)), alg.transpose(A.Ones(dim=s.flat)))


def _dot(alg, u, i, name):
    # ∂(a · b)/∂a = bᵀ,  ∂(a · b)/∂b = aᵀ (§5, §8)
    return alg.row(u.right if i == 0 else u.left)


def _matmul(alg, u, i, name):
    # ∂vec(LR)/∂vec(L)ᵀ = kron(Rᵀ, I),  ∂vec(LR)/∂vec(R)ᵀ = kron(I, L)
    # (for a column R: ∂(Lr)/∂r = L; for a row L: ∂(lᵀR)/∂l = Rᵀ)
    left, right = alg.shape(u.left), alg.shape(u.right)
    if i == 0:
        return alg.kron(alg.transpose(u.right), alg.identity(Shape(left.rows, 1)))
    return alg.kron(alg.identity(Shape(right.cols, 1)), u.left)


def _veclit(alg, u, i, name):
    # ∂[f₁ … fₘ]/∂fᵢ = eᵢ, the i-th unit column (§4: stacking the gradients)
    if not alg.shape(u.children[i]).is_scalar:
        raise NotSupported("the derivative of rows stacked into a matrix: mcalc has no closed form for it; "
                           "derive each row by itself", u.pos)
    m = len(u.items)
    unit = A.VecLit((A.ZERO,) * i + (ONE,) + (A.ZERO,) * (m - i - 1))
    alg.typing.remember(unit, Shape(len(u.items), 1))
    return unit


def _sized_by(alg, k) -> str:
    """How to give the size k a number: the declaration of a variable that has it (-M W:3,n)."""
    for name, shape in sorted(alg.typing.variables.items()):
        if name in alg.typing.definitions or not (shape.rows == k or shape.cols == k):
            continue
        if shape.is_col:
            return f" (-v {name}:3)"
        if not shape.is_scalar:
            rows, cols = (3 if d == k else d for d in (shape.rows, shape.cols))
            return f" (-M {name}:{rows},{cols})"
    return ""


def _index(alg, u, i, name):
    # ∂gᵢ/∂g = eᵢᵀ, the i-th unit row (§4.1: gᵢ is one element of g)
    k = alg.shape(u.arg).rows
    if not isinstance(k, int):
        raise NotSupported(f"the derivative of element {u.index} of a vector of symbolic length {k}; "
                           f"give {k} a number{_sized_by(alg, k)}", u.pos)
    return alg.transpose(A.VecLit(tuple(ONE if j == u.index - 1 else A.ZERO for j in range(k))))


def _vec(alg, u, i, name):
    # ∂vec(A)/∂vec(A)ᵀ = I
    return alg.identity(alg.shape(u.arg))


LINEAR = {A.Transpose: _transpose, A.Dot: _dot, A.MatMul: _matmul, A.VecLit: _veclit, A.Vec: _vec,
          A.Index: _index}
REDUCTIONS = {"sum": _sum, "mean": _mean}


# ----- Matrix functions (Matrix Cookbook), u the intermediate itself -----------------
def _tr(alg, u, i, name):
    # ∂tr(A)/∂A = I: as a row over vec(A), vec(I)ᵀ (Cookbook 99)
    s = alg.shape(u.args[0])
    return ONE if s.is_scalar else alg.transpose(alg.vec(A.Identity(s.rows)))


def _det(alg, u, i, name):
    # ∂det(A)/∂A = det(A) A⁻ᵀ: vec(u A⁻ᵀ)ᵀ (Cookbook 49)
    a = u.args[0]
    if alg.shape(a).is_scalar:
        return ONE
    return alg.transpose(alg.vec(alg.mul(A.Var(name), alg.transpose(A.Call("inv", (a,))))))


def _inv(alg, u, i, name):
    # ∂vec(A⁻¹)/∂vec(A)ᵀ = -kron(A⁻ᵀ, A⁻¹), with u = A⁻¹ (Cookbook 59)
    inv = A.Var(name)
    return alg.neg(alg.kron(alg.transpose(inv), inv))


def _norm(alg, u, i, name):
    # ∂‖a‖/∂a = aᵀ/‖a‖ (Cookbook 129; a matrix: vec(A)ᵀ/‖A‖_F, Cookbook 130)
    a = u.args[0]
    return alg.div(alg.transpose(alg.vec(a)), A.Var(name))


def _softmax(alg, u, i, name):
    # ∂ softmax(z)/∂z = diag(s) - s sᵀ, s = softmax(z)
    s = A.Var(name)
    return alg.jadd(A.Diag(s), alg.neg(alg.jmul(s, alg.transpose(s))))


def _log_softmax(alg, u, i, name):
    # ∂ log_softmax(z)/∂z = I - 𝟏 softmax(z)ᵀ
    z = u.args[0]
    n = alg.shape(z).rows
    return alg.jadd(A.Identity(n), alg.neg(alg.jmul(A.Ones(n), alg.transpose(A.Call("softmax", (z,))))))


def _logsumexp(alg, u, i, name):
    # ∂ logsumexp(z)/∂z = softmax(z)ᵀ
    return alg.transpose(A.Call("softmax", (u.args[0],)))


FUNCTION_RULES = {"tr": _tr, "det": _det, "inv": _inv, "norm": _norm, "softmax": _softmax,
                  "log_softmax": _log_softmax, "logsumexp": _logsumexp, **REDUCTIONS}


def partial(alg, u: A.Node, i: int, name: str | None = None) -> A.Node:
    """∂u/∂(u's i-th argument) as a Jacobian in numerator layout (vec-Jacobians
    for matrices); ``name`` is the intermediate's own name, which some entries use."""
    element = _element_derivative(alg, u, i)
    if element is not None:
        return alg.elementwise_partial(alg.shape(u), alg.shape(u.children[i]), element)
    if type(u) in LINEAR:
        return LINEAR[type(u)](alg, u, i, name)
    if isinstance(u, A.Call) and u.fn in FUNCTION_RULES:
        return FUNCTION_RULES[u.fn](alg, u, i, name)
    raise NotSupported(f"the derivative of {_describe(u)}: mcalc has no closed form for it"
                       f"{_INSTEAD.get(type(u), '')}", u.pos)


def _element_derivative(alg, u: A.Node, i: int):
    if isinstance(u, A.Call) and u.fn in UNARY:
        return UNARY[u.fn](alg, u.args[0])
    if type(u) in UNARY_NODES:
        return UNARY_NODES[type(u)](alg, u.arg)
    key = u.fn if isinstance(u, A.Call) else type(u)
    if key in BINARY:
        a, b = u.children
        return BINARY[key][i](alg, a, b)
    return None


_INSTEAD = {
    A.Diag: "; write diag(v) @ c as v ⊗ c, which mcalc derives",
    A.Kron: "; write the product it stands for instead (kron(Bᵀ, A) vec(X) is vec(A X B))",
    A.MatLit: "; derive the entries one at a time",
    A.HStack: "; derive each block by itself",
}


def _describe(u: A.Node) -> str:
    return u.fn if isinstance(u, A.Call) else {A.Diag: "diag(v) by v", A.Kron: "kron",
                                                A.MatLit: "a matrix of entries",
                                                A.HStack: "blocks set side by side ([A | B])"}.get(type(u), type(u).__name__)
