"""The derivative rule table: each primitive's local Jacobian, one small entry each.

``partial(alg, u, i)`` is ∂u/∂aᵢ for an intermediate ``u = op(a₁, a₂, …)``, in
numerator layout.  Element-wise entries give the derivative of one element
(paper §4.2); :meth:`Algebra.elementwise_partial` turns it into diag(…), d·I
or, under scalar expansion (§4.3), a column — once, for every entry.
"""
from __future__ import annotations

from . import ast as A
from .errors import NotSupported

ONE = A.ONE

# Every function of the language, with its number of arguments.
FUNCTIONS = {
    "sum": 1, "mean": 1, "max": 2, "min": 2, "exp": 1, "ln": 1, "sin": 1, "cos": 1,
    "tan": 1, "tanh": 1, "sigmoid": 1, "relu": 1, "abs": 1, "sign": 1, "sqrt": 1, "dot": 2, "diag": 1,
    "tr": 1, "det": 1, "inv": 1, "norm": 1, "softmax": 1, "log_softmax": 1, "logsumexp": 1,
    "kron": 2, "vec": 1,
}

# ----- Element-wise unary functions: d f(a)/da, element by element -----------------
UNARY = {
    "exp": lambda alg, a: alg.call("exp", a),                                   # exp(a)
    "ln": lambda alg, a: alg.div(ONE, a),                                       # 1/a
    "sin": lambda alg, a: alg.call("cos", a),                                   # cos(a)
    "cos": lambda alg, a: alg.neg(alg.call("sin", a)),                          # -sin(a)
    "tan": lambda alg, a: alg.div(ONE, alg.pow(alg.call("cos", a), A.num(2))),  # 1/cos(a)²
    "tanh": lambda alg, a: alg.sub(ONE, alg.pow(alg.call("tanh", a), A.num(2))),  # 1 - tanh(a)²
    "sigmoid": lambda alg, a: alg.mul(alg.call("sigmoid", a),                   # σ(a)(1 - σ(a))
                                      alg.sub(ONE, alg.call("sigmoid", a))),
    "sqrt": lambda alg, a: alg.div(ONE, alg.mul(A.num(2), alg.call("sqrt", a))),  # 1/(2√a)
    # Piecewise: the paper's convention, derivative 0 at the kink (§5).
    "relu": lambda alg, a: alg.compare(">", a, A.ZERO),                         # (a > 0)
    "abs": lambda alg, a: alg.sub(alg.compare(">", a, A.ZERO),                  # (a > 0) - (a < 0)
                                  alg.compare("<", a, A.ZERO)),
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
            lambda alg, a, b: alg.mul(alg.pow(a, b), alg.call("ln", a))),       # a^b ln(a)
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
def _transpose(alg, u, i):
    # ∂aᵀ/∂a = I: a vector's elements keep their order when laid flat
    return alg.identity(alg.shape(u.arg))


def _sum(alg, u, i):
    # ∂ sum(a)/∂a = 𝟏ᵀ (§4.4)
    s = alg.shape(u.args[0])
    return ONE if s.is_scalar else alg.transpose(A.Ones(dim=s.size))


def _mean(alg, u, i):
    # ∂ mean(a)/∂a = (1/n) 𝟏ᵀ
    s = alg.shape(u.args[0])
    if s.is_scalar:
        return ONE
    n = A.Var(s.size) if isinstance(s.size, str) else A.num(s.size)
    return alg.jscale(alg.div(ONE, n), alg.transpose(A.Ones(dim=s.size)))


def _dot(alg, u, i):
    # ∂(a · b)/∂a = bᵀ,  ∂(a · b)/∂b = aᵀ (§5, §8)
    return alg.row(u.right if i == 0 else u.left)


def _matmul(alg, u, i):
    left, right = alg.shape(u.left), alg.shape(u.right)
    if i == 1 and right.is_col:
        return u.left                      # ∂(A b)/∂b = A;  ∂(rᵀ c)/∂c = rᵀ
    if i == 0 and left.is_row:
        return alg.transpose(u.right)      # ∂(rᵀ B)/∂r = Bᵀ;  ∂(rᵀ c)/∂r = cᵀ
    raise NotSupported(f"the derivative of '@' by its {'left' if i == 0 else 'right'} side "
                       f"({(left if i == 0 else right).describe()})", u.pos)


def _veclit(alg, u, i):
    # ∂[f₁ … fₘ]/∂fᵢ = eᵢ, the i-th unit column (§4: stacking the gradients)
    return A.VecLit(tuple(ONE if j == i else A.ZERO for j in range(len(u.items))))


LINEAR = {A.Transpose: _transpose, A.Dot: _dot, A.MatMul: _matmul, A.VecLit: _veclit}
REDUCTIONS = {"sum": _sum, "mean": _mean}


def partial(alg, u: A.Node, i: int) -> A.Node:
    """∂u/∂(u's i-th argument) as a Jacobian in numerator layout."""
    out, arg = alg.shape(u), alg.shape(u.children[i])
    for shape, role in ((out, "a matrix-valued expression"), (arg, "an expression by a matrix")):
        if not shape.is_scalar and not shape.is_vector:
            raise NotSupported(f"the derivative of {role} ({shape.describe()}); mcalc derives "
                               f"scalars and vectors by scalars and vectors", u.pos)
    element = _element_derivative(alg, u, i)
    if element is not None:
        return alg.elementwise_partial(out, arg, element)
    if type(u) in LINEAR:
        return LINEAR[type(u)](alg, u, i)
    if isinstance(u, A.Call) and u.fn in REDUCTIONS:
        return REDUCTIONS[u.fn](alg, u, i)
    raise NotSupported(f"no derivative rule for {_describe(u)}", u.pos)


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


def _describe(u: A.Node) -> str:
    return u.fn if isinstance(u, A.Call) else type(u).__name__
