"""Numeric evaluation with NumPy, for large values (``Derivation.evaluate(...,
as_array=True)``): the same tree as :mod:`mcalc.evaluate` walks, but structured
Jacobians stay structured until they must be written out — diag(v) is its
vector, I its size — so diag(v)·A is v[:, None] * A and a diagonal Jacobian of
size 10,000 costs 10,000 numbers until the end.
"""
from __future__ import annotations

import numpy as np

from . import ast as A
from .errors import EvaluationError, MissingValue
from .shapes import dim_value
from .evaluate import missing, stable_difference, stable_log


class Diagonal:
    """diag(v), not written out."""

    __slots__ = ("v",)

    def __init__(self, v):
        self.v = v

    def __reduce__(self):  # through the constructor, for every pickle protocol (0 and 1 refuse __slots__)
        return Diagonal, (self.v,)

    @property
    def shape(self):
        return (len(self.v), len(self.v))

    def dense(self):
        return np.diag(self.v)


def dense(x):
    return x.dense() if isinstance(x, Diagonal) else x


_FUNCTIONS = {"exp": np.exp, "ln": np.log, "sin": np.sin, "cos": np.cos, "tan": np.tan, "tanh": np.tanh,
              "sqrt": np.sqrt, "abs": np.abs, "sign": np.sign, "asin": np.arcsin, "acos": np.arccos,
              "atan": np.arctan, "asinh": np.arcsinh, "acosh": np.arccosh, "atanh": np.arctanh,
              "sinh": np.sinh, "cosh": np.cosh, "softplus": lambda x: np.logaddexp(0.0, x),  # ln(1 + eˣ), stable
              "sigmoid": lambda x: _sigmoid(x), "relu": lambda x: np.maximum(x, 0.0)}


# (ArrayEvaluator lets values underflow, as floats do: e⁻⁸⁰⁰ is 0, σ(-800) is 0 as near as floats hold it)
def _sigmoid(x):
    """σ(x) without overflow, and without rounding σ(-40) to 0."""
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


def _sech2(x):
    """1 - tanh(x)² without cancellation (see evaluate._sech2)."""
    e = np.exp(-2 * np.abs(x))
    return 4 * e / (1 + e) ** 2


_STABLE = {"sigmoid(-u)": lambda x: _sigmoid(-x), "sigmoid(u)sigmoid(-u)": lambda x: _sigmoid(x) * _sigmoid(-x),
           "sech2": _sech2, "tanh(u)sech2": lambda x: np.tanh(x) * _sech2(x),
           "tanh(u)^2sech2": lambda x: np.tanh(x) ** 2 * _sech2(x)}


class ArrayEvaluator:
    def __init__(self, values: dict, sizes: dict[str, int]):
        self.values = {k: np.asarray(v.data, dtype=float).reshape(v.rows, v.cols) for k, v in values.items()}
        self.sizes = sizes
        self._done: dict[int, tuple] = {}  # a shared subtree computed once (see Evaluator)

    def size(self, dim) -> int:
        try:
            return dim_value(dim, self.sizes.__getitem__)
        except KeyError as e:
            raise MissingValue(f"the size {e.args[0]} is unknown: give a value for a variable of that size") from None

    def __call__(self, node: A.Node):
        hit = self._done.get(id(node))
        if hit is not None and hit[0] is node:
            return hit[1]
        with np.errstate(all="raise", under="ignore"):  # a value below floating point is 0 (or subnormal), as in floats
            try:
                value = getattr(self, "_" + type(node).__name__)(node)
            except FloatingPointError as e:
                raise EvaluationError(f"the value leaves floating point or is undefined here ({e})") from None
        if node.children:
            self._done[id(node)] = (node, value)
        return value

    # -- leaves ---------------------------------------------------------------
    def _Num(self, node):
        return np.array([[float(node.value)]])

    def _Const(self, node):
        return np.array([[np.e if node.name == "e" else np.pi]])

    def _Var(self, node):
        if node.name in self.values:
            return self.values[node.name]
        if node.name in self.sizes:
            return np.array([[float(self.sizes[node.name])]])
        raise MissingValue(missing(node.name, self.values))

    def _Ones(self, node):
        return np.ones((self.size(node.dim or "n"), 1))

    def _Identity(self, node):
        return Diagonal(np.ones(self.size(node.dim or "n")))

    def _Zero(self, node):
        return np.zeros((self.size(node.rows), self.size(node.cols)))

    # -- element-wise ---------------------------------------------------------
    def _binary(self, node, f):
        a, b = self(node.left), self(node.right)
        if isinstance(a, Diagonal) and isinstance(b, Diagonal) and f in (np.add, np.subtract):
            return Diagonal(f(a.v, b.v))
        if isinstance(a, Diagonal) and b.size == 1 and f is np.multiply:
            return Diagonal(a.v * b[0, 0])
        if isinstance(b, Diagonal) and a.size == 1 and f is np.multiply:
            return Diagonal(b.v * a[0, 0])
        return f(dense(a), dense(b))

    def _Add(self, node):
        return self._binary(node, np.add)

    def _Sub(self, node):
        stable = stable_difference(node)
        if stable is not None:  # as evaluate.Evaluator._Sub
            scale, f, u, ones = stable
            value = scale * _STABLE[f](dense(self(u)))
            return value if ones is None else dense(self(ones)) * value
        return self._binary(node, np.subtract)

    def _Mul(self, node):
        return self._binary(node, np.multiply)

    def _Div(self, node):
        return self._binary(node, np.divide)

    def _Pow(self, node):
        return self._binary(node, np.power)

    def _Neg(self, node):
        a = self(node.arg)
        return Diagonal(-a.v) if isinstance(a, Diagonal) else -a

    def _Compare(self, node):
        op = {">": np.greater, "<": np.less, ">=": np.greater_equal, "<=": np.less_equal}[node.op]
        return op(dense(self(node.left)), dense(self(node.right))).astype(float)

    def _Call(self, node):
        stable = stable_log(node)
        if stable is not None:  # as evaluate.Evaluator._Call
            kind, u, sign = stable
            if kind == "softmax":
                return self(A.Call("log_softmax", (u,)))
            return -np.logaddexp(0.0, -sign * dense(self(u)))
        args = [dense(self(a)) for a in node.args]
        a = args[0]
        fn = node.fn
        if fn in ("max", "min"):
            return (np.maximum if fn == "max" else np.minimum)(a, args[1])
        if fn in _FUNCTIONS:
            return _FUNCTIONS[fn](a)
        if fn == "sum":
            return np.array([[a.sum()]])
        if fn == "mean":
            return np.array([[a.mean()]])
        if fn == "tr":
            return np.array([[np.trace(a)]])
        if fn == "det":
            return np.array([[np.linalg.det(a)]])
        if fn == "inv":
            from .evaluate import ill_conditioned

            why = ill_conditioned(np.linalg.cond(a, 1))
            if why:
                raise EvaluationError(f"inv is undefined here ({why})")
            return np.linalg.inv(a)
        if fn in ("norm", "norm2"):
            scale = np.abs(a).max() if a.size else 0.0  # scaled: no x² underflows or overflows
            return np.array([[scale * np.sqrt(((a / scale) ** 2).sum()) if scale else 0.0]])
        top = a.max()
        e = np.exp(a - top)
        if fn == "softmax":
            return e / e.sum()
        lse = top + np.log(e.sum())
        return np.array([[lse]]) if fn == "logsumexp" else a - lse  # log_softmax

    # -- linear algebra ---------------------------------------------------------
    def _Transpose(self, node):
        a = self(node.arg)
        return a if isinstance(a, Diagonal) else a.T

    def _Diag(self, node):
        return Diagonal(dense(self(node.arg)).reshape(-1))

    def _Dot(self, node):
        return np.array([[float(dense(self(node.left)).reshape(-1) @ dense(self(node.right)).reshape(-1))]])

    def _MatMul(self, node):
        a, b = self(node.left), self(node.right)
        if isinstance(a, Diagonal) and isinstance(b, Diagonal):
            return Diagonal(a.v * b.v)
        if isinstance(a, Diagonal):  # diag(v) B = v[:, None] * B
            return a.v[:, None] * b
        if isinstance(b, Diagonal):
            return a * b.v[None, :]
        return a @ b

    def _Vec(self, node):
        return dense(self(node.arg)).reshape(-1, 1, order="F")

    def _Kron(self, node):
        return np.kron(dense(self(node.left)), dense(self(node.right)))

    def _Commutation(self, node):
        m, n = self.size(node.rows), self.size(node.cols)
        k = np.zeros((m * n, m * n))
        i, j = np.meshgrid(np.arange(m), np.arange(n), indexing="ij")
        k[(j + i * n).ravel(), (i + j * m).ravel()] = 1.0
        return k

    def _Index(self, node):  # as evaluate.Evaluator._Index
        v = dense(self(node.arg)).reshape(-1)
        if node.index > v.size:
            raise MissingValue(f"element {node.index} of a vector of {v.size}")
        return np.array([[v[node.index - 1]]])

    def _VecLit(self, node):
        items = [dense(self(x)) for x in node.items]
        width = max(x.size for x in items)
        return np.vstack([x.reshape(1, -1) if x.size == width else np.full((1, width), x[0, 0]) for x in items])

    def _HStack(self, node):
        return np.hstack([dense(self(x)) for x in node.items])

    def _MatLit(self, node):
        return np.array([[dense(self(x))[0, 0] for x in row] for row in node.rows])
