"""Numeric evaluation of expressions and Jacobians at given values (``--at``).

Pure Python on small dense matrices: the sizes come from the values
(x=[1,2,3] makes n = 3).  Piecewise derivatives follow the paper: 0 at the kink.
"""
from __future__ import annotations

import json
import math
import sys
from decimal import Decimal
from fractions import Fraction
from typing import NamedTuple

from . import ast as A
from .errors import EvaluationError, MissingValue, Overflow, place
from .shapes import Shape


_SCALAR_SIGN = {"⊗": "×", "⊘": "/"}


def missing(name: str, given) -> str:
    """The message for a variable with no value: how to give one, on the command line
    and from Python, and the values that were given."""
    have = f"; values were given for {', '.join(sorted(given))}" if given else ""
    return f"no value for {name} (--at {name}=… on the command line, or {name!r} in the values){have}"


class Mat(NamedTuple):
    rows: int
    cols: int
    data: tuple[float, ...]  # row-major

    @classmethod
    def scalar(cls, x: float) -> Mat:
        return cls(1, 1, (float(x),))

    @classmethod
    def fill(cls, rows: int, cols: int, x: float) -> Mat:
        return cls(rows, cols, (float(x),) * (rows * cols))

    @property
    def is_scalar(self) -> bool:
        return self.rows == 1 and self.cols == 1

    def at(self, i: int, j: int) -> float:
        return self.data[i * self.cols + j]

    def tolist(self) -> list[list[float]]:
        return [list(self.data[i * self.cols:(i + 1) * self.cols]) for i in range(self.rows)]

    def plain(self):
        """A number, a list (a vector) or a list of rows, as the values are written."""
        if self.rows * self.cols == 1:
            return self.data[0]
        return list(self.data) if self.cols == 1 else self.tolist()

    @property
    def T(self) -> Mat:
        return Mat(self.cols, self.rows, tuple(self.at(i, j) for j in range(self.cols) for i in range(self.rows)))


def _number(x, digits: int) -> str:
    """A number to ``digits`` significant digits; one beyond floating point comes as its text."""
    return f"{x + 0.0:.{digits}g}" if isinstance(x, (int, float)) else str(x)  # + 0.0: -0 is 0


def format_rows(rows, digits: int = 6) -> str:
    """[[1, 2], [3, 4]]; a 1×1 as a plain number."""
    if rows is None:
        return "?"
    if len(rows) == 1 and len(rows[0]) == 1:
        return _number(rows[0][0], digits)
    return "[" + ", ".join("[" + ", ".join(_number(x, digits) for x in r) + "]" for r in rows) + "]"


def format_point(point: dict, digits: int = 6) -> str:
    """w=[1, 2], b=0.5 from numbers, lists and lists of rows."""
    def one(v):
        if isinstance(v, list) and v and isinstance(v[0], list):
            return format_rows(v, digits)
        if isinstance(v, list):
            return "[" + ", ".join(f"{x:.{digits}g}" for x in v) + "]"
        return f"{v:.{digits}g}"

    return ", ".join(f"{k}={one(v)}" for k, v in point.items())


def parse_value(text: str) -> Mat:
    """A number, [1, 2, 3] (a column vector) or [[1, 2], [3, 4]] (a matrix), read as JSON."""
    try:
        data = json.loads(text.replace("−", "-"), parse_float=Decimal)  # exact: 1e-400 is not 0; − a minus
    except (ValueError, RecursionError):
        raise EvaluationError(f"'{text[:40]}' is not a number, [list] or [[matrix]]") from None
    if isinstance(data, bool):
        raise EvaluationError(f"'{text[:40]}' is not a number")
    if isinstance(data, (int, float, Decimal)):
        return Mat.scalar(_finite(data))
    if isinstance(data, list) and data and all(isinstance(x, (int, float, Decimal)) and not isinstance(x, bool)
                                               for x in data):
        return Mat(len(data), 1, tuple(_finite(x) for x in data))
    if isinstance(data, list) and data and all(isinstance(r, list) and r for r in data):
        width = len(data[0])
        if any(len(r) != width for r in data):
            raise EvaluationError("matrix rows differ in length")
        flat = [x for r in data for x in r]
        if not all(isinstance(x, (int, float, Decimal)) and not isinstance(x, bool) for x in flat):
            raise EvaluationError("a matrix holds numbers")
        return Mat(len(data), width, tuple(_finite(x) for x in flat))
    raise EvaluationError(f"'{text[:40]}' is not a number, [list] or [[matrix]]")


def _finite(x) -> float:
    try:
        f = float(x)
    except OverflowError:
        raise EvaluationError(f"{str(x)[:20]} is too large") from None
    if not math.isfinite(f):  # Infinity and NaN (as JSON has them), or beyond floating point
        raise EvaluationError(f"{str(x).lower()[:20]} is too large" if isinstance(x, Decimal)
                              else f"{x} is not a finite number")
    if f == 0 and x != 0:
        raise EvaluationError(f"{str(x).lower()[:20]} is too small: as a float it is 0")
    return f


def bind_sizes(shapes: dict[str, Shape], values: dict[str, Mat]) -> dict[str, int]:
    """Dimension names from the values' sizes; a clash is an error."""
    sizes: dict[str, int] = {}
    for name, value in values.items():
        shape = shapes.get(name)
        if shape is None:
            continue
        if shape.is_scalar and not value.is_scalar:
            raise EvaluationError(f"{name} is a scalar, but its value is {value.rows}×{value.cols}")
        if shape.cols == 1 and shape.rows != 1 and value.cols != 1:
            raise EvaluationError(f"{name} is a vector, but its value is a {value.rows}×{value.cols} matrix")
        if not shape.is_vector and not shape.is_scalar and (value.rows == 1 or value.cols == 1) \
                and not (value.rows > 1 and value.cols > 1):
            raise EvaluationError(f"{name} is a {shape} matrix, but its value is {value.rows}×{value.cols}")
        for dim, got in ((shape.rows, value.rows), (shape.cols, value.cols)):
            if isinstance(dim, int):
                if dim != got:
                    what = ("entries" if shape.is_vector else "rows" if dim is shape.rows else "columns")
                    raise EvaluationError(f"{name} has {dim} {what}, as declared, but its value has {got}")
            elif sizes.setdefault(dim, got) != got:
                raise EvaluationError(f"the size {dim} is {sizes[dim]} from one value and {got} from {name}")
    return sizes


CANCELLED = 1e-9  # a sum or difference this small beside its sides has lost all but its last few digits


class Evaluator:
    def __init__(self, values: dict[str, Mat], sizes: dict[str, int]):
        self.values = values
        self.sizes = sizes
        self.computed: set[str] = set()  # names whose values were computed here (an answer's named parts)
        self.cancelled = False  # whether a sum or difference of values rounded on the way cancelled
        self._done: dict[int, tuple[A.Node, Mat]] = {}  # a subtree met again (definitions written out share
        # theirs: a chain of k definitions each used twice is a tree of 2ᵏ nodes, a graph of k) is computed once

    def size(self, dim) -> int:
        if isinstance(dim, int):
            return dim
        if "+" in dim or "*" in dim:  # n+1: blocks side by side; m*n: the length of vec(X)
            from .shapes import dim_value

            return dim_value(dim, self.size)
        if dim in self.sizes:
            return self.sizes[dim]
        raise MissingValue(f"the size {dim} is unknown: give a value for a variable of that size")

    def __call__(self, node: A.Node) -> Mat:
        """The value of node in finite real numbers; Overflow names the operation
        whose value leaves them (the values given are finite, so only an overflow
        can: 1e308 + 1e308, and then inf − inf or 0·inf)."""
        hit = self._done.get(id(node))
        if hit is not None and hit[0] is node:
            return hit[1]
        try:
            value = getattr(self, "_" + type(node).__name__)(node)
        except OverflowError:  # fsum's intermediate overflow
            value = None
        except ValueError as e:  # fsum of overflowed products: -inf + inf
            if "inf" not in str(e):
                raise
            value = None
        if value is None or not all(map(math.isfinite, value.data)):
            raise Overflow(f"the value of {_what(node)} overflows here (beyond ±{sys.float_info.max:.1e})")
        if node.children:
            self._done[id(node)] = (node, value)
        return value

    # -- leaves ---------------------------------------------------------------
    def _Num(self, node):
        return Mat.scalar(_finite(node.value))

    def _Var(self, node):
        if node.name in self.values:
            return self.values[node.name]
        if node.name in self.sizes:
            return Mat.scalar(self.sizes[node.name])
        raise MissingValue(missing(node.name, self.values))

    def _Ones(self, node):
        return Mat.fill(self.size(node.dim or "n"), 1, 1.0)

    def _Identity(self, node):
        n = self.size(node.dim or "n")
        return Mat(n, n, tuple(1.0 if i == j else 0.0 for i in range(n) for j in range(n)))

    def _Zero(self, node):
        return Mat.fill(self.size(node.rows), self.size(node.cols), 0.0)

    # -- element-wise -----------------------------------------------------------
    def _map2(self, a: Mat, b: Mat, f, what: str) -> Mat:
        if (a.is_scalar or b.is_scalar) and what in _SCALAR_SIGN:  # 2x: ×, / as written, not ⊗ ⊘
            what = _SCALAR_SIGN[what]
        if a.is_scalar and not b.is_scalar:
            a = Mat.fill(b.rows, b.cols, a.data[0])
        if b.is_scalar and not a.is_scalar:
            b = Mat.fill(a.rows, a.cols, b.data[0])
        if (a.rows, a.cols) != (b.rows, b.cols):
            raise EvaluationError(f"'{what}' on {a.rows}×{a.cols} and {b.rows}×{b.cols} values")
        try:
            return Mat(a.rows, a.cols, tuple(_checked(f(x, y)) for x, y in zip(a.data, b.data)))
        except OverflowError:
            raise Overflow(f"the value of '{what}' overflows here (beyond ±{sys.float_info.max:.1e})") from None
        except (ZeroDivisionError, ValueError) as e:
            raise EvaluationError(f"'{what}' is undefined here ({e})") from None

    def _binary(self, node, f, what):
        return self._map2(self(node.left), self(node.right), f, what)

    def _Add(self, node):
        return self._cancelling(node, lambda x, y: x + y, "+")

    def _Sub(self, node):
        stable = stable_difference(node)
        if stable is not None:  # σ′ and tanh′ in the forms mcalc writes them, without cancellation
            scale, f, u, ones = stable
            u = self(u)
            value = Mat(u.rows, u.cols, tuple(scale * _STABLE[f](x) for x in u.data))
            return value if ones is None else self._map2(self(ones), value, lambda x, y: y, "-")
        return self._cancelling(node, lambda x, y: x - y, "-")

    def _cancelling(self, node, f, what: str) -> Mat:
        """A sum or difference, noting whether it cancels where a side was rounded on the
        way: exp(z)/(1 + exp(z)) - y at z = 40, y = 1 is 1.0 - 1 in floats, 0, where it is
        -4.2e-18 (the value is then worked out again in more digits: Derivation.evaluate).
        Sides as given or written, or scalars computed from those without rounding (2x - 2
        at x = 1), cancel exactly."""
        a, b = self(node.left), self(node.right)
        value = self._map2(a, b, f, what)
        if not self.cancelled and not (self._as_given(node.left) and self._as_given(node.right)):
            n = len(value.data)
            xs = a.data * n if len(a.data) < n else a.data  # (a scalar beside a vector: expanded)
            ys = b.data * n if len(b.data) < n else b.data
            for x, y, r in zip(xs, ys, value.data):
                size = max(abs(x), abs(y))
                if size and abs(r) <= CANCELLED * size:
                    self.cancelled = not self._exactly_computed(node, a, b)
                    break
        return value

    def _exactly_computed(self, node: A.Node, a: Mat, b: Mat) -> bool:
        """Whether both sides are scalars whose floats are their exact values: their exact
        values with the scalars given written in (api._exact: 2x - 2 at x = 1, (x > 0) - 1
        at x = 2, cos(x) - 1 at x = 0), where those are the floats computed."""
        from .api import _exact
        from .derive import _size_over, substitute

        if not (a.is_scalar and b.is_scalar) or _size_over(node, 200):  # (a larger side is taken as rounded)
            return False

        given = {name: A.Num(Fraction(m.data[0])) for name, m in self.values.items()
                 if m.is_scalar and name not in self.computed}
        left, right = _exact(substitute(node.left, given)), _exact(substitute(node.right, given))
        return left is not None and right is not None and left == a.data[0] and right == b.data[0]

    def _as_given(self, node: A.Node) -> bool:
        """Whether node's value is exactly what was given or written, with no rounding on the way."""
        while type(node) is A.Neg or type(node) is A.Transpose:
            node = node.children[0]
        t = type(node)
        if t is A.Num:
            return _finite(node.value) == node.value  # 1/3 is rounded
        if t is A.Var:
            return node.name not in self.computed
        return t is A.Ones or t is A.Identity or t is A.Zero

    def _Mul(self, node):
        return self._binary(node, lambda x, y: x * y, "⊗")

    def _Div(self, node):
        return self._binary(node, lambda x, y: x / y, "⊘")

    def _Pow(self, node):
        return self._binary(node, _power, "^")

    def _Compare(self, node):
        op = {">": lambda x, y: float(x > y), "<": lambda x, y: float(x < y),
              ">=": lambda x, y: float(x >= y), "<=": lambda x, y: float(x <= y)}[node.op]
        return self._binary(node, op, node.op)

    def _Neg(self, node):
        a = self(node.arg)
        return Mat(a.rows, a.cols, tuple(-x for x in a.data))

    def _Call(self, node):
        stable = stable_log(node)
        if stable is not None:  # ln σ(u) without σ(u)'s underflow to 0 (u = -800: -800), and the like
            kind, u, sign = stable
            if kind == "softmax":
                return self(A.Call("log_softmax", (u,)))
            u = self(u)
            return Mat(u.rows, u.cols, tuple(_log_sigmoid(sign * x) for x in u.data))
        args = [self(a) for a in node.args]
        if node.fn in ("max", "min"):
            pick = max if node.fn == "max" else min
            return self._map2(args[0], args[1], lambda x, y: pick(x, y), node.fn)
        if node.fn in _MATRIX_FUNCTIONS:
            try:
                return _MATRIX_FUNCTIONS[node.fn](args[0])
            except (ValueError, ZeroDivisionError, OverflowError) as e:
                if isinstance(e, OverflowError) or "inf" in str(e):  # fsum: overflow, -inf + inf
                    raise Overflow(f"the value of {node.fn}(…) overflows here "
                                   f"(beyond ±{sys.float_info.max:.1e})") from None
                raise EvaluationError(f"{node.fn} is undefined here ({e})") from None
        f = _FUNCTIONS[node.fn]
        a = args[0]
        try:
            return Mat(a.rows, a.cols, tuple(_checked(f(x)) for x in a.data))
        except OverflowError:
            raise Overflow(f"the value of {node.fn}(…) overflows here (beyond ±{sys.float_info.max:.1e})") from None
        except (ValueError, ZeroDivisionError) as e:
            raise EvaluationError(f"{node.fn} is undefined here ({e})") from None

    # -- linear algebra ---------------------------------------------------------
    def _Transpose(self, node):
        return self(node.arg).T

    def _Const(self, node):
        return Mat.scalar(math.e if node.name == "e" else math.pi)

    def _Vec(self, node):
        return _vec(self(node.arg))

    def _Kron(self, node):
        a, b = self(node.left), self(node.right)
        rows, cols = a.rows * b.rows, a.cols * b.cols
        return Mat(rows, cols, tuple(a.at(i // b.rows, j // b.cols) * b.at(i % b.rows, j % b.cols)
                                     for i in range(rows) for j in range(cols)))

    def _Commutation(self, node):
        m, n = self.size(node.rows), self.size(node.cols)
        size = m * n
        ones = {(j + i * n, i + j * m) for i in range(m) for j in range(n)}  # K vec(A) = vec(Aᵀ)
        return Mat(size, size, tuple(1.0 if (r, c) in ones else 0.0 for r in range(size) for c in range(size)))

    def _Diag(self, node):
        v = self(node.arg)
        n = len(v.data)
        return Mat(n, n, tuple(v.data[i] if i == j else 0.0 for i in range(n) for j in range(n)))

    def _Dot(self, node):
        a, b = self(node.left), self(node.right)
        if len(a.data) != len(b.data):
            raise EvaluationError(f"'·' on vectors of lengths {len(a.data)} and {len(b.data)}")
        return Mat.scalar(math.fsum(x * y for x, y in zip(a.data, b.data)))

    def _MatMul(self, node):
        a, b = self(node.left), self(node.right)
        if a.cols != b.rows:
            raise EvaluationError(f"'@' on {a.rows}×{a.cols} and {b.rows}×{b.cols} values")
        return Mat(a.rows, b.cols, tuple(math.fsum(a.at(i, k) * b.at(k, j) for k in range(a.cols))
                                         for i in range(a.rows) for j in range(b.cols)))

    def _Index(self, node):
        v = self(node.arg)
        if node.index > len(v.data):
            raise MissingValue(f"element {node.index} of a vector of {len(v.data)}")
        return Mat.scalar(v.data[node.index - 1])

    def _VecLit(self, node):
        items = [self(x) for x in node.items]
        if all(x.is_scalar for x in items):
            return Mat(len(items), 1, tuple(x.data[0] for x in items))
        width = max(x.cols * x.rows for x in items)
        rows = []
        for x in items:  # rows of a stacked Jacobian; a scalar 0 stands for a zero row
            rows.extend(x.data if not x.is_scalar else (x.data[0],) * width)
        return Mat(len(items), width, tuple(rows))

    def _HStack(self, node):
        blocks = [self(x) for x in node.items]
        rows = blocks[0].rows
        if any(b.rows != rows for b in blocks):
            raise EvaluationError("blocks side by side have different numbers of rows")
        return Mat(rows, sum(b.cols for b in blocks),
                   tuple(x for i in range(rows) for b in blocks for x in b.data[i * b.cols:(i + 1) * b.cols]))

    def _MatLit(self, node):
        flat = [self(x) for row in node.rows for x in row]
        return Mat(len(node.rows), len(node.rows[0]), tuple(x.data[0] for x in flat))


def _vec(a: Mat) -> Mat:
    """The columns stacked (column-major)."""
    return Mat(a.rows * a.cols, 1, tuple(a.at(i, j) for j in range(a.cols) for i in range(a.rows)))


def _lu(a: Mat):
    """Gaussian elimination with partial pivoting: (rows of U | the inverse's right side, det)."""
    n = a.rows
    if a.cols != n:
        raise ValueError("not a square matrix")
    m = [list(a.data[i * n:(i + 1) * n]) + [1.0 if i == j else 0.0 for j in range(n)] for i in range(n)]
    det = 1.0
    for k in range(n):
        p = max(range(k, n), key=lambda i: abs(m[i][k]))
        if m[p][k] == 0:
            return None, 0.0
        if p != k:
            m[k], m[p] = m[p], m[k]
            det = -det
        det *= m[k][k]
        pivot = m[k][k]
        m[k] = [x / pivot for x in m[k]]
        for i in range(n):
            if i != k and m[i][k]:
                f = m[i][k]
                m[i] = [x - f * y for x, y in zip(m[i], m[k])]
    return [row[n:] for row in m], det


def _det(a: Mat) -> Mat:
    return Mat.scalar(_checked(_lu(a)[1]))


MAX_CONDITION = 1e12  # past it, an inverse has lost most of its digits: the matrix is taken as singular


def ill_conditioned(condition: float) -> str | None:
    """Why an inverse at a matrix of this (1-norm) condition number means nothing, or None."""
    if condition <= MAX_CONDITION:
        return None
    return f"the matrix is singular to working precision: condition number {condition:.1e}"


def _inv(a: Mat) -> Mat:
    inverse, det = _lu(a)
    if inverse is None or not math.isfinite(det):
        raise ZeroDivisionError("the matrix is singular")
    n = a.rows
    norm = max(math.fsum(abs(a.at(i, j)) for i in range(n)) for j in range(n))  # the 1-norms
    inverse_norm = max(math.fsum(abs(inverse[i][j]) for i in range(n)) for j in range(n))
    why = ill_conditioned(norm * inverse_norm)
    if why:
        raise ZeroDivisionError(why)
    return Mat(a.rows, a.cols, tuple(_checked(x) for row in inverse for x in row))


def _softmax(a: Mat) -> Mat:
    top = max(a.data)
    e = [math.exp(x - top) for x in a.data]
    total = math.fsum(e)
    return Mat(a.rows, a.cols, tuple(x / total for x in e))


def _logsumexp(a: Mat) -> float:
    top = max(a.data)
    return top + math.log(math.fsum(math.exp(x - top) for x in a.data))


_MATRIX_FUNCTIONS = {
    "sum": lambda a: Mat.scalar(math.fsum(a.data)),
    "mean": lambda a: Mat.scalar(math.fsum(a.data) / len(a.data)),
    "tr": lambda a: Mat.scalar(math.fsum(a.at(i, i) for i in range(min(a.rows, a.cols)))),
    "det": _det,
    "inv": _inv,
    "norm": lambda a: Mat.scalar(_checked(math.hypot(*a.data))),  # scaled: no x² underflows or overflows
    "softmax": _softmax,
    "logsumexp": lambda a: Mat.scalar(_logsumexp(a)),
    "log_softmax": lambda a: Mat(a.rows, a.cols, tuple(x - _logsumexp(a) for x in a.data)),
}


_SYMBOLS = {"Add": "'+'", "Sub": "'-'", "Mul": "'⊗'", "Div": "'⊘'", "Pow": "'^'", "Dot": "'·'",
            "MatMul": "'@'", "Neg": "'-'"}


def _what(node: A.Node) -> str:
    if isinstance(node, A.Call):
        return f"{node.fn}(…)"
    name = type(node).__name__
    return _SYMBOLS.get(name, name) + (f" ({place(node.pos)})" if getattr(node, "pos", None) else "")


def _checked(x: float) -> float:
    if isinstance(x, complex):
        raise ValueError("not a real number")
    if not math.isfinite(x):  # finite operands: the operation overflowed
        raise OverflowError()
    return x


def _power(x: float, y: float) -> float:
    return math.pow(x, y)


def _sigmoid(x: float) -> float:
    if x >= 0:
        return 1 / (1 + math.exp(-x))
    e = math.exp(x)
    return e / (1 + e)


def stable_difference(node: A.Sub):
    """A difference that cancels in floats where its argument is large, as (scale, f, u,
    ones): the value is scale · f(u) element-wise (and as wide as ``ones``, a 𝟏 it is
    taken from, where there is one).  The forms are those of σ′ and tanh′ as mcalc
    writes them: 1 - σ(u) = σ(-u); σ(u) - 1 = -σ(-u); σ(u)² - σ(u) = -σ(u)σ(-u);
    a - a tanh(u)² = a sech²(u); tanh(u)² - 1 = -sech²(u); a tanh(u)³ - a tanh(u) =
    -a tanh(u) sech²(u), and a tanh(u) - a tanh(u)³, a tanh(u)² - a tanh(u)⁴ and their
    negatives (σ′(40) is 4.2e-18, where 1 - σ(40) is 0 in floats)."""
    left, right = node.left, node.right

    def one(n):
        return type(n) is A.Ones or type(n) is A.Num and n.value == 1

    def call(n, fn):
        return n.args[0] if type(n) is A.Call and n.fn == fn and len(n.args) == 1 else None

    def power(n, fn, k):
        if type(n) is A.Pow and type(n.right) is A.Num and n.right.value == k:
            return call(n.left, fn)
        return None

    def scaled(n):  # (a, rest) for a·rest, (1, n) else
        if type(n) is A.Mul and type(n.left) is A.Num:
            return n.left.value, n.right
        return 1, n

    def ones(n):  # the 𝟏 that sets the width, if it is one
        return n if type(n) is A.Ones else None

    if one(left) and call(right, "sigmoid") is not None:
        return 1.0, "sigmoid(-u)", call(right, "sigmoid"), ones(left)
    if one(right) and call(left, "sigmoid") is not None:
        return -1.0, "sigmoid(-u)", call(left, "sigmoid"), ones(right)
    u = power(left, "sigmoid", 2)
    if u is not None and call(right, "sigmoid") == u:
        return -1.0, "sigmoid(u)sigmoid(-u)", u, None
    if one(left) and power(right, "tanh", 2) is not None:
        return 1.0, "sech2", power(right, "tanh", 2), ones(left)
    if one(right) and power(left, "tanh", 2) is not None:
        return -1.0, "sech2", power(left, "tanh", 2), ones(right)
    a, rest = scaled(right)
    if type(left) is A.Num and a == left.value and a != 1 and power(rest, "tanh", 2) is not None:
        return float(a), "sech2", power(rest, "tanh", 2), None
    (a, high), (b, low) = scaled(left), scaled(right)
    if a == b:
        for f, k, j in (("tanh(u)sech2", 3, 1), ("tanh(u)^2sech2", 4, 2)):  # a tanh³ - a tanh, a tanh⁴ - a tanh²
            u = power(high, "tanh", k)
            if u is not None and (call(low, "tanh") if j == 1 else power(low, "tanh", j)) == u:
                return -float(a), f, u, None
            u = power(low, "tanh", k)  # and the other way round: a tanh - a tanh³ (d/du tanh²), …
            if u is not None and (call(high, "tanh") if j == 1 else power(high, "tanh", j)) == u:
                return float(a), f, u, None
    return None


def _sech2(x: float) -> float:
    """1 - tanh(x)², as 4e⁻²ˣ/(1 + e⁻²ˣ)² for x ≥ 0 (even): no cancellation, no overflow."""
    e = math.exp(-2 * abs(x))
    return 4 * e / (1 + e) ** 2


def _softplus(x: float) -> float:
    """ln(1 + eˣ), without overflow (softplus(1000) is 1000) or loss of small values."""
    return max(x, 0.0) + math.log1p(math.exp(-abs(x)))


def stable_log(node: A.Node) -> tuple[str, A.Node, int] | None:
    """A logarithm whose argument rounds to 0 in floats where the logarithm does not:
    ("sigmoid", u, 1) for ln σ(u), ("sigmoid", u, -1) for ln(1 - σ(u)) = ln σ(-u) (the
    cross-entropy's two terms), ("softmax", z, 1) for ln(softmax(z)) = log_softmax(z);
    else None.  Each evaluator (and the emitted code) computes them without σ or softmax."""
    if type(node) is not A.Call or node.fn != "ln":
        return None
    arg = node.args[0]
    if type(arg) is A.Call and arg.fn in ("sigmoid", "softmax"):
        return arg.fn, arg.args[0], 1
    if type(arg) is A.Sub and type(arg.left) is A.Num and arg.left.value == 1 and type(arg.right) is A.Call and \
            arg.right.fn == "sigmoid":
        return "sigmoid", arg.right.args[0], -1
    return None


def _log_sigmoid(x: float) -> float:
    """ln σ(x) = -ln(1 + e⁻ˣ), without overflow or underflow."""
    return -(max(-x, 0.0) + math.log1p(math.exp(-abs(x))))


_STABLE = {"sigmoid(-u)": lambda x: _sigmoid(-x), "sigmoid(u)sigmoid(-u)": lambda x: _sigmoid(x) * _sigmoid(-x),
           "sech2": _sech2, "tanh(u)sech2": lambda x: math.tanh(x) * _sech2(x),
           "tanh(u)^2sech2": lambda x: math.tanh(x) ** 2 * _sech2(x)}


_FUNCTIONS = {
    "exp": math.exp, "ln": math.log, "sin": math.sin, "cos": math.cos, "tan": math.tan,
    "tanh": math.tanh, "sigmoid": _sigmoid, "relu": lambda x: max(0.0, x), "abs": abs,
    "sign": lambda x: float((x > 0) - (x < 0)),
    "sqrt": math.sqrt, "asin": math.asin, "acos": math.acos, "atan": math.atan, "asinh": math.asinh,
    "acosh": math.acosh, "atanh": math.atanh, "sinh": math.sinh, "cosh": math.cosh, "softplus": _softplus,
}
