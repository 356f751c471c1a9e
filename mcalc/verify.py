"""A second, independent route to every answer — the paper's advice, "reduce
vector expressions down to a set of scalar expressions".

Each vector and matrix is instantiated at a small concrete size (n = 3, N = 4,
…) as SymPy symbols; the function becomes a list of scalar SymPy expressions,
every component is differentiated by SymPy's rules (:func:`derivative`: the terms
SymPy's ``diff`` forms), and the result is compared with the
candidate answer instantiated the same way: symbolically where SymPy can
decide, else numerically at seeded random points kept away from the kinks of
max, abs and comparisons.  Nothing here uses mcalc's rule table.
"""
from __future__ import annotations

import math
import random
import sys
from dataclasses import dataclass, field

from . import ast as A
from .errors import McalcError
from .evaluate import _sech2, format_point, format_rows
from .shapes import dim_value
from . import limits
from .limits import SYMBOLIC_SHARE, Limit, Timeout, checkpoint, remaining, time_limit

# Every size a different number, so that an answer with one size for another (ones(p)ᵀ
# for ones(n)ᵀ) does not agree by chance.
SIZES = {"n": 3, "N": 4, "m": 2, "k": 5, "p": 6, "q": 7, "r": 8}
# A second instance, every size changed, and their products and sums too (m·n 6 → 8,
# m + n 5 → 6): an answer that writes a size as a number (ones(n)ᵀ/3 for the mean's
# ones(n)ᵀ/n, I(6) for I(m·n)) agrees at one set of sizes only.  No relation between
# sizes that holds in the first holds here (N = n + 1 there, 4 and 3: /n for /(N - 1)
# passed at both; k = m + n, p = m·n, q = N + n, r = 2N).
OTHER_SIZES = {"n": 2, "N": 5, "m": 4, "k": 7, "p": 9, "q": 8, "r": 11}
POINTS = 3
NEAR_ZERO = (0.02, 0.003)  # scales of two more points, each coordinate times the scale
LINES = 4  # lines across the kinks at most (one may cross none: w·x + b along a line is a parabola)
FAR = (3.0, 3.0)  # and of two farther out (|x| 1.5 to 4.5): asin(sin(x)) turns back at π/2
DOMAIN_SCALES = (0.03, 4.0, 16.0, 0.0005)  # where the function has no value at the first points
MAX_POINTS = 24  # piecewise answers: sample until every kink was seen on both sides
MAX_SYMBOLIC_OPS = 80
NODES_PER_OP = 10  # more than SymPy writes an operation with (five at most: a test holds it)
MAX_ENTRIES = 400
KINK_MARGIN = 1e-3  # central differences keep this far from a kink; exact values only EXACT_MARGIN
EXACT_MARGIN = 1e-9  # (x > 0.001) for max(x, 0)'s derivative differs only on (0, 0.001]
DIFFERENCES_STEP = 1e-5  # central differences: truncation ~1e-10, rounding ~1e-11
DIFFERENCES_TOLERANCE = 1e-5


@dataclass
class Verdict:
    status: str  # "verified", "inconclusive" or "failed"
    method: str | None = None  # "symbolic" or "numeric"
    max_error: float | None = None
    points: int = 0
    reason: str | None = None
    at: dict | None = None  # the point of a failure
    expected: list | None = None  # the Jacobian there, by the independent route
    got: list | None = None  # the candidate there
    sizes: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == "verified"

    def __str__(self) -> str:
        also = f", {self.reason}" if self.reason else ""
        if self.status == "verified" and self.method == "symbolic":
            return f"verified (symbolic{also})"
        if self.status == "verified":
            return f"verified (numeric, max relative error {self.max_error:.1e}, points {self.points}{also})"
        if self.status == "inconclusive":
            return f"inconclusive ({self.reason})"
        if self.at is None:
            return f"FAILED ({self.reason})"
        if self.got is None:  # the answer has no value there
            return f"FAILED at {format_point(self.at, 3)}: expected {format_rows(self.expected)}, {self.reason}"
        return (f"FAILED at {format_point(self.at, 3)}: expected {format_rows(self.expected)}, "
                f"got {format_rows(self.got)}")

    def _repr_pretty_(self, p, cycle) -> None:  # IPython and Jupyter: the verdict as a line
        p.text(str(self))

    def _repr_markdown_(self) -> str:
        word, rest = str(self).split(" ", 1) if " " in str(self) else (str(self), "")
        return f"**{word}** {rest}".rstrip()

    def to_dict(self) -> dict:
        out = {"status": self.status, "method": self.method, "summary": str(self)}
        if self.max_error is not None:
            out["max_relative_error"] = self.max_error
            out["points"] = self.points
        if self.reason:
            out["reason"] = self.reason
        if self.at is not None:
            out.update(at=self.at, expected=self.expected, got=self.got)
        out["sizes"] = self.sizes
        return out


class _M:
    """A small matrix of SymPy expressions (row-major); lighter than sympy.Matrix,
    which checks and converts every entry it is given."""

    __slots__ = ("rows", "cols", "data")

    def __init__(self, rows: int, cols: int, data: list):
        self.rows, self.cols, self.data = rows, cols, data

    @classmethod
    def of(cls, x) -> _M:
        return cls(1, 1, [x])

    @property
    def shape(self) -> tuple[int, int]:
        return (self.rows, self.cols)

    def __getitem__(self, ij):
        i, j = ij
        return self.data[i * self.cols + j]

    def __iter__(self):
        return iter(self.data)

    def __len__(self) -> int:
        return len(self.data)

    @property
    def T(self) -> _M:
        return _M(self.cols, self.rows, [self[i, j] for j in range(self.cols) for i in range(self.rows)])

    def vec(self) -> list:
        """The entries column by column."""
        return [self[i, j] for j in range(self.cols) for i in range(self.rows)]

    def map(self, f) -> _M:
        return _M(self.rows, self.cols, [f(x) for x in self.data])

    def __neg__(self) -> _M:
        return self.map(lambda x: -x)


class _Instance:
    """The function's variables as SymPy symbols at concrete sizes."""

    def __init__(self, sp, variables: dict, dim_of, sizes: dict[str, int]):
        self.sp = sp
        self.sizes = sizes
        self.used: set[str] = set()  # the sizes this instance actually took
        self.dim_of = dim_of
        self.kinks: list = []
        self._kinks: set = set()
        self._stands: dict = {}
        self._made: dict = {}
        # made as they stand here too, as the instance makes them: SymPy would compare a max's arguments
        self._unevaluated = (sp.Max, sp.Min, sp.Piecewise, sp.core.relational.Relational)
        self.symbols: dict[str, object] = {}
        for name, shape in variables.items():
            r, c = self.size(shape.rows), self.size(shape.cols)
            if r == 1 and c == 1:
                m = _M.of(sp.Symbol(name, real=True))
            else:
                dense = r > 1 and c > 1
                m = _M(r, c, [sp.Symbol(f"{name}[{i},{j}]" if dense else f"{name}[{i + j}]", real=True)
                              for i in range(r) for j in range(c)])
            self.symbols[name] = m

    def kink(self, k) -> None:
        """Where a piece ends: the argument's sign changes there (z and -z are one kink:
        max(0, z) and its mask (z > 0))."""
        if k not in self._kinks and -k not in self._kinks:
            self._kinks.add(k)
            self.kinks.append(k)

    def settled(self, e):
        """e as SymPy makes it where it holds a function or a mean made as it stands (see
        _AS_IT_STANDS), which SymPy's rewriting may settle: ln(exp(x)) - x is 0 and
        sin(-x) is -sin(x), so a kink that is none is known, and z and -z are one; else e."""
        if not self._as_it_stands(e):
            return e
        memo = self._made  # id(node) -> (node, as SymPy makes it): each subtree made once an instance (doit
        stack = [(e, False)]  # would make a network's shared layers again along every path)
        while stack:
            n, children_done = stack.pop()
            hit = memo.get(id(n))
            if hit is not None and hit[0] is n:
                continue
            if not self._as_it_stands(n):
                memo[id(n)] = (n, n)
            elif children_done:
                args = [memo[id(c)][1] for c in n.args]
                memo[id(n)] = (n, n.func(*args, evaluate=False) if isinstance(n, self._unevaluated) else n.func(*args))
            else:
                stack.append((n, True))
                stack.extend((c, False) for c in n.args)
        return memo[id(e)][1]

    def _as_it_stands(self, e) -> bool:
        """Whether e holds a function or a mean made as it stands, each subtree asked once
        an instance (a network's kinks share every layer below them)."""
        memo = self._stands  # id(node) -> (node, answer): the node kept, so that its id stays its own
        stack = [(e, False)]
        while stack:
            n, children_done = stack.pop()
            hit = memo.get(id(n))
            if hit is not None and hit[0] is n:
                continue
            if children_done:
                memo[id(n)] = (n, any(memo[id(c)][1] for c in n.args))
            elif type(n).__name__ in _SYMPY_AS_IT_STANDS or n.is_Mul and len(n.args) == 2 and \
                    n.args[0].is_Rational and n.args[1].is_Add:  # (a Mul SymPy would have spread)
                memo[id(n)] = (n, True)
            else:
                stack.append((n, True))
                stack.extend((c, False) for c in n.args)
        return memo[id(e)][1]

    def size(self, dim) -> int:
        if isinstance(dim, int):
            return dim
        if "+" in dim or "*" in dim:
            return dim_value(dim, self.size)
        self.used.add(dim)
        if dim not in self.sizes:
            self.sizes[dim] = 3 + len(self.sizes)
        return self.sizes[dim]

    # -- the expression as SymPy matrices (1×1 for scalars) -------------------
    def __call__(self, node: A.Node):
        return getattr(self, "_" + type(node).__name__)(node)

    def _map2(self, node, f):
        return self._pairwise(node.left, node.right, f)

    def _pairwise(self, left, right, f):
        a, b = self(left), self(right)
        if a.shape == (1, 1) and b.shape != (1, 1):
            a = _M(b.rows, b.cols, a.data * len(b))
        if b.shape == (1, 1) and a.shape != (1, 1):
            b = _M(a.rows, a.cols, b.data * len(a))
        if a.shape != b.shape:
            raise McalcError(f"shapes {a.shape} and {b.shape} do not match")
        return _M(a.rows, a.cols, [f(x, y) for x, y in zip(a.data, b.data)])

    def _map(self, m, f):
        return m.map(f)

    def _Num(self, node):
        return _M.of(self.sp.Rational(node.value.numerator, node.value.denominator))

    def _Const(self, node):
        return _M.of(self.sp.E if node.name == "e" else self.sp.pi)

    def _Var(self, node):
        if node.name in self.symbols:
            return self.symbols[node.name]
        return _M.of(self.sp.Integer(self.size(node.name)))

    def _Ones(self, node):
        n = self.size(self.dim_of(node))
        return _M(n, 1, [self.sp.Integer(1)] * n)

    def _Identity(self, node):
        n = self.size(self.dim_of(node))
        return _M(n, n, [self.sp.Integer(int(i == j)) for i in range(n) for j in range(n)])

    def _Zero(self, node):
        r, c = self.size(node.rows), self.size(node.cols)
        return _M(r, c, [self.sp.Integer(0)] * (r * c))

    def _Add(self, node):
        return self._map2(node, lambda a, b: a + b)

    def _Sub(self, node):
        return self._map2(node, lambda a, b: a - b)

    def _Mul(self, node):
        return self._map2(node, lambda a, b: a * b)

    def _Div(self, node):
        return self._map2(node, lambda a, b: a / b)

    def _Pow(self, node):
        def power(a, b):
            if a.is_Number and b.is_Number and abs(b) > 1000:
                raise _Inconclusive("a numeric power too large to expand")
            if a.is_Add and b.is_Integer and b > 1 and not a.is_number:  # (y - max(0, Xw + b))²: as it stands,
                return self.sp.Pow(a, b, evaluate=False)  # without SymPy asking each term whether it is infinite
            return a ** b

        return self._map2(node, power)

    def _Neg(self, node):
        return -self(node.arg)

    def _Compare(self, node):
        sp = self.sp
        rel = {">": sp.StrictGreaterThan, "<": sp.StrictLessThan, ">=": sp.GreaterThan, "<=": sp.LessThan}[node.op]

        def f(a, b):  # unevaluated: SymPy would try to decide each comparison first
            d = self.settled(a - b)
            if _constant(d):  # (1 <= 0), (ln(exp(x)) > x): no kink, decided now
                return sp.Integer(int(bool(rel(d, 0))))
            self.kink(d)
            return sp.Piecewise((1, rel(a, b, evaluate=False)), (0, True), evaluate=False)

        return self._map2(node, f)

    def _Call(self, node):
        sp = self.sp
        if node.fn in ("max", "min"):
            pick = sp.Max if node.fn == "max" else sp.Min

            def f(a, b):  # unevaluated: SymPy would compare the arguments first
                d = self.settled(a - b)
                if _constant(d):  # max(2, 3), max(ln(exp(x)), x): no kink, decided now
                    return pick(self.settled(a), self.settled(b))
                self.kink(d)
                return pick(a, b, evaluate=False)

            return self._pairwise(node.args[0], node.args[1], f)
        m = self(node.args[0])
        if node.fn in _MATRIX_CALLS:
            return self._matrix_call(node.fn, m)
        if node.fn == "sum":
            return _M.of(sp.Add(*m))
        if node.fn == "mean":  # 1/n times the sum, as it stands: SymPy would spread 1/n over the terms and
            # make each square again, asking of (y - max(0, Xw + b))² whether each term is infinite, at length
            total, share = sp.Add(*m), sp.Rational(1, len(m))
            return _M.of(sp.Mul(share, total, evaluate=False) if total.is_Add else share * total)
        if node.fn in ("relu", "abs", "sign"):
            settled = [self.settled(x) for x in m]
            for x in settled:
                if not _constant(x):
                    self.kink(x)
            m = _M(m.rows, m.cols, [x if _constant(x) else y for x, y in zip(settled, m)])
        from .real_functions import tanh as real_tanh  # it imports SymPy: loaded with verification's first call

        f = {"exp": sp.exp, "ln": sp.log, "sin": sp.sin, "cos": sp.cos, "tan": sp.tan, "tanh": real_tanh,
             "sqrt": sp.sqrt, "abs": sp.Abs, "sign": sp.sign, "relu": lambda a: sp.Max(0, a, evaluate=False),
             "sigmoid": lambda a: 1 / (1 + sp.exp(-a)), "asin": sp.asin, "acos": sp.acos, "atan": sp.atan,
             "asinh": sp.asinh, "acosh": sp.acosh, "atanh": sp.atanh, "sinh": sp.sinh, "cosh": sp.cosh,
             "softplus": lambda a: sp.log(1 + sp.exp(a))}[node.fn]
        if node.fn in _AS_IT_STANDS:
            return self._map(m, lambda a: f(a) if a.is_number else f(a, evaluate=False))
        return self._map(m, f)

    def _Transpose(self, node):
        return self(node.arg).T

    def _Diag(self, node):
        v = list(self(node.arg))
        zero = self.sp.Integer(0)
        return _M(len(v), len(v), [v[i] if i == j else zero for i in range(len(v)) for j in range(len(v))])

    def _Dot(self, node):
        a, b = self(node.left), self(node.right)
        return _M.of(self.sp.Add(*(x * y for x, y in zip(a, b))))

    def _MatMul(self, node):
        a, b = self(node.left), self(node.right)
        if a.cols != b.rows:
            raise McalcError(f"shapes {a.shape} and {b.shape} do not multiply")
        add = self.sp.Add
        return _M(a.rows, b.cols, [add(*(a[i, k] * b[k, j] for k in range(a.cols)))
                                   for i in range(a.rows) for j in range(b.cols)])

    def _Index(self, node):
        v = self(node.arg)
        if node.index > v.rows:
            raise _Inconclusive(f"element {node.index} of a vector of {v.rows} at these sizes")
        return _M(1, 1, [v[node.index - 1, 0]])

    def _VecLit(self, node):
        items = [self(x) for x in node.items]
        if all(x.shape == (1, 1) for x in items):
            return _M(len(items), 1, [x[0, 0] for x in items])
        width = max(x.cols for x in items)
        rows = [list(x) if x.shape != (1, 1) else [x[0, 0]] * width for x in items]
        return _M(len(rows), width, [x for r in rows for x in r])

    def _HStack(self, node):
        blocks = [self(x) for x in node.items]
        rows = blocks[0].rows
        return _M(rows, sum(b.cols for b in blocks),
                  [b[i, j] for i in range(rows) for b in blocks for j in range(b.cols)])

    def _MatLit(self, node):
        return _M(len(node.rows), len(node.rows[0]), [self(x)[0, 0] for row in node.rows for x in row])

    def _Juxtapose(self, node):  # pragma: no cover - resolved by shape inference
        raise McalcError("unresolved juxtaposition")

    def _Vec(self, node):
        m = self(node.arg)
        return _M(len(m), 1, m.vec())

    def _Kron(self, node):
        a, b = self(node.left), self(node.right)
        rows, cols = a.rows * b.rows, a.cols * b.cols
        return _M(rows, cols, [a[i // b.rows, j // b.cols] * b[i % b.rows, j % b.cols]
                               for i in range(rows) for j in range(cols)])

    def _Commutation(self, node):
        m, n = self.size(node.rows), self.size(node.cols)
        ones = {(j + i * n, i + j * m) for i in range(m) for j in range(n)}  # K vec(A) = vec(Aᵀ)
        return _M(m * n, m * n, [self.sp.Integer(int((r, c) in ones)) for r in range(m * n) for c in range(m * n)])

    def _matrix_call(self, fn: str, m: _M) -> _M:
        sp = self.sp
        if fn == "tr":
            return _M.of(sp.Add(*(m[i, i] for i in range(m.rows))))
        if fn in ("det", "inv"):
            if m.rows > 4:
                raise _Inconclusive(f"{fn} of a {m.rows}×{m.rows} matrix is too large to expand")
            matrix = sp.Matrix(m.rows, m.cols, m.data)
            if fn == "det":
                return _M.of(matrix.det(method="berkowitz"))
            det = matrix.det(method="berkowitz")
            adj = matrix.adjugate(method="berkowitz")
            return _M(m.rows, m.cols, [adj[i, j] / det for i in range(m.rows) for j in range(m.cols)])
        if fn in ("norm", "norm2"):
            return _M.of(sp.sqrt(sp.Add(*(x ** 2 for x in m))))
        exps = [sp.exp(x) for x in m]
        total = sp.Add(*exps)
        if fn == "softmax":
            return _M(m.rows, m.cols, [e / total for e in exps])
        if fn == "logsumexp":
            return _M.of(sp.log(total))
        return _M(m.rows, m.cols, [x - sp.log(total) for x in m])  # log_softmax


# functions of a variable made as they stand: SymPy's own first step asks whether the argument is 0, can
# lose a minus sign or holds a multiple of π, each a query of its terms' assumptions (8 ms for tanh(Ax + b)
# at n = 3), and would only rewrite the function to one of the same value; the answer's functions are
# made alike, and SymPy's algebra makes them again where it compares the two
_AS_IT_STANDS = frozenset({"exp", "ln", "sin", "cos", "tan", "tanh", "asin", "acos", "atan", "asinh", "acosh",
                           "atanh", "sinh", "cosh"})
_SYMPY_AS_IT_STANDS = frozenset("log" if f == "ln" else f for f in _AS_IT_STANDS)  # their SymPy classes' names
_MATRIX_CALLS = ("tr", "det", "inv", "norm", "norm2", "softmax", "logsumexp", "log_softmax")


def _constant(e) -> bool:
    """A real number with no symbol in it (a comparison of constants is decided, not sampled)."""
    return not _holds(e, None) and e.is_extended_real is True


def reference_jacobian(sp, inst: _Instance, function: A.Node, wrt: list[str], layout: str):
    """The Jacobian of the instantiated function by SymPy, component by component:
    every matrix laid flat column by column (vec), and a scalar by one matrix laid
    out as that matrix (the gradient; its transpose in numerator layout)."""
    value = inst(function)
    f = value.vec()
    symbols = [inst.symbols.get(name, _M.of(sp.Symbol(name, real=True))) for name in wrt]
    columns = [s for m in symbols for s in m.vec()]
    if len(f) * len(columns) > MAX_ENTRIES:
        raise _Inconclusive(f"the instantiated Jacobian has {len(f) * len(columns)} entries")
    if len(f) == 1 and len(symbols) == 1 and symbols[0].rows > 1 and symbols[0].cols > 1:
        fdiffs: dict = {}
        grad = symbols[0].map(lambda s: derivative(sp, f[0], s, fdiffs))
        return grad if layout == "denominator" else grad.T
    fdiffs = {}  # each function's own derivative, made once for all the columns
    jac = _M(len(f), len(columns), [derivative(sp, fi, c, fdiffs) for fi in f for c in columns])
    return jac.T if layout == "denominator" else jac


def reference_hessian(sp, inst: _Instance, function: A.Node, wrt: list[str]):
    """SymPy's second partials of the instantiated scalar function over the
    variables laid flat (vec, column by column)."""
    (f,) = inst(function).vec()
    symbols = [s for name in wrt for s in inst.symbols.get(name, _M.of(sp.Symbol(name, real=True))).vec()]
    if len(symbols) ** 2 > MAX_ENTRIES:
        raise _Inconclusive(f"the instantiated Hessian has {len(symbols) ** 2} entries")
    fdiffs: dict = {}
    first = [derivative(sp, f, s, fdiffs) for s in symbols]
    return _M(len(symbols), len(symbols), [derivative(sp, g, t, fdiffs) for g in first for t in symbols])


def derivative(sp, e, s, fdiffs: dict | None = None):
    """∂e/∂s for a SymPy expression: the sum, product and power rules over its tree,
    each function's own derivative (SymPy's ``fdiff``, or _own_derivative's as it
    stands), anything else by ``sp.diff``.  What ``sp.diff`` forms (equal as SymPy's
    expansion shows, the terms perhaps grouped otherwise), without asking SymPy at every
    node whether the result so far is zero (which queries its assumptions over the
    whole subtree, half the time of a claim through max and tanh), and each shared
    subtree differentiated once; ``fdiffs`` the functions' own derivatives made so
    far (shared by the entries of a Jacobian: they do not depend on the variable)."""
    return _derivative(sp, e, s, {}, _functions(sp), {} if fdiffs is None else fdiffs)


def _derivative(sp, e, s, memo: dict, functions: tuple, fdiffs: dict):
    hit = memo.get(e)
    if hit is not None:
        return hit
    zero = sp.S.Zero
    if e == s:
        out = sp.S.One
    elif not e.args:  # another symbol, a number, a constant
        out = zero
    elif e.is_Add:
        out = _sum(sp, [_derivative(sp, a, s, memo, functions, fdiffs) for a in e.args])
    elif e.is_Mul:
        args, terms = e.args, []
        for i, a in enumerate(args):
            da = _derivative(sp, a, s, memo, functions, fdiffs)
            if da is sp.S.One and len(args) == 2:  # Mul(x, 1) is x
                terms.append(args[1 - i])
            elif da is not zero:
                terms.append(sp.Mul(*args[:i], da, *args[i + 1:]))
        out = _sum(sp, terms)
    elif e.is_Pow:
        base, exponent = e.args
        dbase = _derivative(sp, base, s, memo, functions, fdiffs)
        dexponent = _derivative(sp, exponent, s, memo, functions, fdiffs)
        if dexponent is zero and exponent.is_Rational:  # n·baseⁿ⁻¹: SymPy's e·n/base once it has combined
            out = zero if dbase is zero else exponent * base ** (exponent - 1) * dbase  # the powers, without
            # dividing by the base (which asks whether each of its terms is infinite: max(0, ·) at length)
        elif dexponent is zero:  # SymPy's form, without its 0·log(base)
            out = zero if dbase is zero else e * (dbase * exponent / base)
        else:
            out = e * (dexponent * sp.log(base) + dbase * exponent / base)
    elif isinstance(e, functions):
        terms = []
        for i, a in enumerate(e.args):
            da = _derivative(sp, a, s, memo, functions, fdiffs)
            if da is not zero:
                own = fdiffs.get((e, i))
                if own is None:
                    own = fdiffs[e, i] = _own_derivative(sp, e, i)
                terms.append(own if da is sp.S.One else own * da)
        out = _sum(sp, terms)
    else:  # Abs, sign, Piecewise, Heaviside, …: SymPy's own rule
        out = sp.diff(e, s)
    memo[e] = out
    return out


def _sum(sp, terms: list):
    """sp.Add(*terms), as SymPy makes it without its machinery where that is plain: the 0s
    dropped, and one term left is that term (most of a Jacobian's entries' parts are 0)."""
    terms = [t for t in terms if t is not sp.S.Zero]
    if len(terms) < 2:
        return terms[0] if terms else sp.S.Zero
    return sp.Add(*terms)


def _own_derivative(sp, e, i: int):
    """e's derivative by its argument i.  max(a, b) by a is H(a - b), as SymPy's
    ``fdiff`` has it, but left as it stands: SymPy would ask whether a - b is
    positive, negative or 0, at length for Xw + b (a kink's sign is found at points).
    Likewise sin's cos, cos's -sin, sinh's cosh, cosh's sinh; exp and tanh in themselves."""
    kind = type(e)
    if kind in (sp.Max, sp.Min) and len(e.args) == 2:
        this, other = e.args[i], e.args[1 - i]
        return sp.Heaviside(this - other if kind is sp.Max else other - this, evaluate=False)
    own = _OWN_DERIVATIVES.get(kind.__name__)  # as the function stands (see _AS_IT_STANDS), so does its
    if own is None or e.args[0].is_number:  # derivative; SymPy's own where the argument is a number
        return e.fdiff(i + 1)
    return own(sp, e, e.args[0])


_OWN_DERIVATIVES = {  # f(u) ↦ f'(u), made as it stands
    "sin": lambda sp, e, u: sp.cos(u, evaluate=False), "cos": lambda sp, e, u: -sp.sin(u, evaluate=False),
    "sinh": lambda sp, e, u: sp.cosh(u, evaluate=False), "cosh": lambda sp, e, u: sp.sinh(u, evaluate=False),
    "exp": lambda sp, e, u: e, "tanh": lambda sp, e, u: sp.S.One - e ** 2,
}


def _functions(sp) -> tuple:
    """The functions whose derivative is the chain rule over their ``fdiff``."""
    return (sp.exp, sp.log, sp.sin, sp.cos, sp.tan, sp.tanh, sp.asin, sp.acos, sp.atan, sp.asinh, sp.acosh,
            sp.atanh, sp.sinh, sp.cosh, sp.Max, sp.Min)


class _Differences:
    """The Jacobian of the instantiated function by central differences, laid out
    as :func:`reference_jacobian` lays SymPy's out: a cheap second route, for
    answers already verified at other sizes."""

    def __init__(self, sp, inst: _Instance, function: A.Node, wrt: list[str], layout: str):
        self.sp = sp
        self.f = inst(function).vec()
        self.values = _Values(sp, self.f)
        symbols = [inst.symbols.get(name, _M.of(sp.Symbol(name, real=True))) for name in wrt]
        self.columns = [s for m in symbols for s in m.vec()]
        if len(self.f) * len(self.columns) > MAX_ENTRIES:
            raise _Inconclusive(f"the instantiated Jacobian has {len(self.f) * len(self.columns)} entries")
        self.layout = layout
        self.matrix = symbols[0].shape if len(self.f) == 1 and len(symbols) == 1 \
            and symbols[0].rows > 1 and symbols[0].cols > 1 else None
        if self.matrix is not None:  # a scalar by a matrix: its gradient, transposed in numerator layout
            r, c = self.matrix
            self.rows, self.cols = (r, c) if layout == "denominator" else (c, r)
        else:
            self.rows, self.cols = len(self.f), len(self.columns)
            if layout == "denominator":
                self.rows, self.cols = self.cols, self.rows
        self.shape = (self.rows, self.cols)

    def at(self, point: dict) -> list[list[float]]:
        columns = []
        for c in self.columns:
            if c not in point:  # a variable the function lacks
                columns.append([0.0] * len(self.f))
                continue
            x = point[c]
            h = DIFFERENCES_STEP * (1 + abs(x))
            ahead = self.values.all({**point, c: x + h})
            behind = self.values.all({**point, c: x - h})
            columns.append([(a - b) / (2 * h) for a, b in zip(ahead, behind)])
        if self.matrix is not None:
            r, c = self.matrix
            grad = [[columns[j * r + i][0] for j in range(c)] for i in range(r)]
            return grad if self.layout == "denominator" else [list(col) for col in zip(*grad)]
        jac = [[col[i] for col in columns] for i in range(len(self.f))]
        return [list(col) for col in zip(*jac)] if self.layout == "denominator" else jac


class _Inconclusive(Exception):
    pass


DEFAULT_TOLERANCE = 1e-9
# Where no tolerance is asked for, floats only screen: an error over SCREEN_TOLERANCE (a claim
# of 3.000000001x² for 3x², 3e-10 off) is taken to SymPy's 30 digits, where a difference over
# EXACT_TOLERANCE fails — beyond a double's precision, so no rounding of the claim's numbers.
SCREEN_TOLERANCE = 1e-12
EXACT_TOLERANCE = 1e-15


def compare(d, candidate: A.Node, dim_of=None, tolerance: float | None = None, seed: int = 0,
            seconds: float | None = None) -> Verdict:
    """Is ``candidate`` the Jacobian of d's function by d's variables (numbers within
    ``tolerance``, DEFAULT_TOLERANCE where none is asked for)?  Within
    ``seconds`` of processor time (limits.CLAIM_SECONDS where none is given; inside
    a claim's budget, within what is left of it): past that, the verdict is
    inconclusive (time)."""
    warm_up()
    limit = Limit(seconds if seconds is not None else limits.CLAIM_SECONDS)
    try:
        with time_limit(limit):
            return _compare(d, candidate, dim_of, tolerance, seed)
    except Timeout as e:
        if e.limit is not limit:
            raise  # the caller's budget: the caller reports it
        return Verdict("inconclusive", reason=f"time: {e}")


_WARM = []  # not empty once this process has verified something outside any budget


def warm_up() -> None:
    """Verify one small function, once a process, outside any budget: the first
    verification loads SymPy and the parts of it a comparison uses, a tenth of a
    second of processor time that the first claim's budget paid, so that a claim near its
    budget passed or ran out of time as it came first in a process or not."""
    if _WARM:
        return
    _WARM.append(True)
    from .api import diff

    try:
        d = diff("sum(tanh(W@x) * max(0, x)) + exp(sin(sum(x))) + ln(sum(x*x)) + sqrt(sum(x*x)) + sigmoid(sum(x))",
                 wrt="x", vectors=["x"], matrices=["W:n,n"])
        _compare(d, d.expr, None, None, 0)
    except Exception:  # noqa: BLE001 - a warm-up: what it meets, the claims will meet and say  # pragma: no cover
        pass


def _default_dim(node: A.Node):
    """A 𝟏's or an I's size: its own, else the default n."""
    return node.dim if node.dim is not None else "n"


def _compare(d, candidate, dim_of, tolerance, seed) -> Verdict:
    try:
        import sympy as sp
    except ImportError:  # pragma: no cover
        return Verdict("inconclusive", reason="SymPy is not installed")
    function = d.gradient or d  # a Hessian is checked against the function itself, not its gradient
    sizes = dict(SIZES)
    for shape in function.variables().values():
        for dim in (shape.rows, shape.cols):
            if isinstance(dim, str):
                sizes.setdefault(dim, 3 + len(sizes))
    other = {k: OTHER_SIZES.get(k, v + 1) for k, v in sizes.items()}
    for dim, index in _indexed(function, candidate).items():  # x[3]: x has at least 3 elements, both times
        sizes[dim] = max(sizes[dim], index)
        other[dim] = max(other[dim], index) + (max(other[dim], index) == sizes[dim])
    dim_of = dim_of or _default_dim
    verdict = _compare_at(sp, d, function, candidate, dim_of, sizes, tolerance, seed)
    if verdict.status != "verified" or not verdict.sizes:
        return verdict
    # the sizes were symbols: the same answer at other sizes, numerically
    second = _compare_at(sp, d, function, candidate, dim_of, other, tolerance, seed + 1, numeric=True)
    if second.status == "failed":  # differences round a small entry away beside a huge one: SymPy's route decides
        second = _compare_at(sp, d, function, candidate, dim_of, other, tolerance, seed + 1)
    if second.status == "failed":
        def listed(at: dict) -> str:
            return ", ".join(f"{k}={at[k]}" for k in verdict.sizes)

        second.reason = (f"{second.reason}; " if second.reason else "") + \
            f"it holds at {listed(verdict.sizes)} but not at {listed(other)}"
        return second
    return verdict


def _indexed(function, candidate: A.Node) -> dict[str, int]:
    """The largest element taken of each vector size: x[3] needs n ≥ 3."""
    variables = function.variables()
    need: dict[str, int] = {}
    for tree in (function.function_expr(), candidate):
        for n in A.walk(tree):
            if type(n) is A.Index and type(n.arg) is A.Var and n.arg.name in variables:
                dim = variables[n.arg.name].rows
                if isinstance(dim, str) and dim.isidentifier():
                    need[dim] = max(need.get(dim, 0), n.index)
    return need


def _compare_at(sp, d, function, candidate, dim_of, sizes, tolerance, seed, numeric: bool = False) -> Verdict:
    asked, tolerance = tolerance is not None, DEFAULT_TOLERANCE if tolerance is None else tolerance
    inst = _Instance(sp, function.variables(), dim_of, sizes)
    try:
        if d.gradient is None and numeric:  # at the other sizes, differences are enough
            reference = _Differences(sp, inst, d.function_expr(), d.wrt, d.layout)
            tolerance = max(tolerance, DIFFERENCES_TOLERANCE)
        elif d.gradient is None:
            reference = reference_jacobian(sp, inst, d.function_expr(), d.wrt, d.layout)
        else:
            reference = reference_hessian(sp, inst, function.function_expr(), d.wrt)
    except _Inconclusive as e:
        return Verdict("inconclusive", reason=str(e), sizes=dict(inst.sizes))
    except (McalcError, ValueError, TypeError, ArithmeticError) as e:  # SymPy could not take the route
        return Verdict("inconclusive", reason=f"the function cannot be instantiated: {e}", sizes=dict(inst.sizes))
    try:
        got = inst(candidate)
    except _Inconclusive as e:
        return Verdict("inconclusive", reason=str(e), sizes=dict(inst.sizes))
    except McalcError as e:  # the answer's own shapes do not fit: it is wrong
        return Verdict("failed", reason=f"the answer cannot be instantiated: {e}", sizes=dict(inst.sizes))
    except (ValueError, TypeError, ArithmeticError) as e:  # SymPy's trouble, not the answer's
        return Verdict("inconclusive", reason=f"the answer cannot be instantiated: {e}", sizes=dict(inst.sizes))
    if _may_hide_kinks(function.function_expr()) or _may_hide_kinks(candidate):
        _hidden_kinks(sp, inst, [*(reference.f if isinstance(reference, _Differences) else reference), *got])
    if got.shape != reference.shape:
        at = ", ".join(f"{k}={inst.sizes[k]}" for k in sorted(inst.used))
        return Verdict("failed", reason=f"the shapes differ: {got.rows}×{got.cols}, where the Jacobian is "
                       f"{reference.rows}×{reference.cols}" + (f" (at {at})" if at else ""),
                       sizes=dict(inst.sizes))
    if numeric:  # the pieces were searched at the first sizes
        return _numerically(sp, d, inst, reference, got, tolerance, seed, across=False,
                            function=function.function_expr())
    symbolic = Limit(max(remaining() or 0, 0) * SYMBOLIC_SHARE)
    proven: set[int] = set()  # piecewise: the entries without a kink SymPy shows equal
    try:
        with time_limit(symbolic):
            equal = _symbolically_equal(sp, reference, got, inst.kinks, proven)
    except Timeout as e:
        if e.limit is not symbolic:
            raise
        equal = False
    except (ValueError, TypeError, ArithmeticError):  # SymPy could not decide: numbers will
        equal = False
    exact = {} if asked else {"screen": SCREEN_TOLERANCE, "exact_tolerance": EXACT_TOLERANCE}
    exact["proven"] = frozenset(proven)
    if equal is True:
        verdict = Verdict("verified", "symbolic", sizes={k: inst.sizes[k] for k in sorted(inst.used)})
    elif isinstance(equal, _Different) and not asked:  # never 0, however small: floats may not see it
        return Verdict("failed", "symbolic", reason=equal.reason(sp), sizes=dict(inst.sizes))
    else:
        verdict = _numerically(sp, d, inst, reference, got, tolerance, seed, function=function.function_expr(),
                               **exact)
    if verdict.ok and _restricted(candidate):  # SymPy's algebra may drop a domain: exp(2ln(x)) is x² to it
        undefined = _undefined_where_defined(sp, inst, reference, candidate, function.function_expr(), seed)
        if undefined is not None:
            return undefined
    if verdict.ok and d.gradient is not None:  # a Hessian is symmetric: its transpose must agree too
        mirrored = _numerically(sp, d, inst, reference, got.T, tolerance, seed + 1,  # (below floating point:
                                function=function.function_expr(), underflow=False,  # taken as it stands)
                                **{**exact, "proven": frozenset()})
        if mirrored.status == "failed":
            mirrored.reason = "the answer is not symmetric"
            return mirrored
        verdict.reason = "symmetric"
    return verdict


_PARTIAL_FUNCTIONS = {"ln", "log", "sqrt", "asin", "acos", "acosh", "atanh"}


def _restricted(candidate: A.Node) -> bool:
    """Whether the answer holds a function defined on part of the line only (ln,
    sqrt, a power that is not a whole number, asin, …)."""
    return any(type(n) is A.Call and n.fn in _PARTIAL_FUNCTIONS or _root(n) for n in A.walk(candidate))


def _root(n: A.Node) -> bool:
    """A power whose exponent is not a whole number."""
    return type(n) is A.Pow and not (type(n.right) is A.Num and n.right.value.denominator == 1)


def _undefined_where_defined(sp, inst, reference, candidate: A.Node, function: A.Node, seed: int) -> Verdict | None:
    """A failure where the answer, evaluated as mcalc reads it, has no value at a
    point where the derivative has one (3exp(2ln(x)) for 3x², at x < 0): SymPy's
    algebra takes the two as equal.  Points of both signs, as the first sampled, and near 0."""
    rng = random.Random(seed)
    want_values = None if isinstance(reference, _Differences) else _Values(sp, list(reference))
    tried = [_point(rng, inst, attempt, 0) for attempt in range(POINTS)] + _near_zero(rng, inst)
    for attempt, point in enumerate(tried):
        try:
            want = reference.at(point) if want_values is None else want_values.rows(point, reference.cols)
        except (ValueError, TypeError, ZeroDivisionError, OverflowError):
            continue
        if not _defined(inst, function, point):
            continue  # nor the function: SymPy took exp(2ln(x)) as x², whose derivative exists at x < 0
        try:
            _as_mcalc_reads(inst, candidate, point)
        except McalcError as e:
            if "undefined" not in str(e):
                continue  # a size or a name the instance lacks: not this answer's domain
            return _no_value(inst, point, want, attempt + 1, e.message)
    return None


def _as_mcalc_reads(inst, expr: A.Node, point: dict):
    """``expr`` at an instance's point by mcalc's own evaluator (McalcError where it has no value)."""
    from .evaluate import Evaluator, Mat

    values = {name: Mat(m.rows, m.cols, tuple(float(point[s]) for s in m)) for name, m in inst.symbols.items()}
    return Evaluator(values, dict(inst.sizes))(expr)


PRECISE_ENTRIES = 400  # an answer's entries worked out in SymPy's digits at most (--at, where floats cancel)
PRECISE_NODES = 2000  # and the size of the answer, its named parts written out
PRECISE_BUDGET = 0.5  # seconds of processor time: past it, the floats stay


def precise_value(d, values: dict, sizes: dict[str, int]) -> list[list[float]] | None:
    """d's answer at ``values`` (name -> Mat) by SymPy's evaluation to 30 digits, as
    rows of floats: for ``--at`` where floating point cancelled (1.0 - 1 for σ(40) - 1).
    The point and the numbers written are the floats the evaluator used, as the exact
    numbers they are (x - 0.1 at x = 0.1 is 0, at a kink as in floats).  None — the floats
    stay — where the answer is too large, SymPy cannot make it within PRECISE_BUDGET, or
    an entry has no value there that SymPy can tell (a 0 it cannot prove: sin²y + cos²y - 1)."""
    from .derive import _size_over

    expr = d.expanded()
    if _size_over(expr, PRECISE_NODES):
        return None
    import sympy as sp  # (loaded outside the budget)

    limit = limits.Limit(PRECISE_BUDGET)
    try:
        with limits.time_limit(limit):
            return _precise_rows(sp, d, expr, values, sizes)
    except limits.Timeout as e:
        if e.limit is not limit:
            raise  # an outer budget ran out
        return None


def _precise_rows(sp, d, expr: A.Node, values: dict, sizes: dict[str, int]):
    try:
        function = d.gradient or d
        inst = _Instance(sp, function.variables(), _default_dim, dict(sizes))
        point = {}
        for name, m in inst.symbols.items():
            given = values.get(name)
            if given is None:
                continue
            if (given.rows, given.cols) != (m.rows, m.cols):
                return None
            point.update((s, sp.Rational(v)) for s, v in zip(m, given.data))
        got = inst(expr)
        if got.rows * got.cols > PRECISE_ENTRIES:
            return None
        flat = []
        for e in got:
            limits.checkpoint()  # (a thread other than the main one has no timer: its budget is asked here)
            # a number written that no float is (0.1) as the float the evaluator took for it, then the point
            e = e.xreplace({r: sp.Rational(float(r)) for r in e.atoms(sp.Rational) if r.q & (r.q - 1)})
            v = _exact_at(sp, e.xreplace(point))
            if v is None:
                return None
            flat.append(float(v))
    except (McalcError, ValueError, TypeError, ArithmeticError, RecursionError, _Inconclusive):
        return None
    return _in_rows(flat, got.cols)


def _near_zero(rng, inst, scales: tuple[float, float] = NEAR_ZERO) -> list[dict]:
    """Points near 0, where the sampled ones (|x| from 0.5 to 1.5) never go (or, with
    the FAR scales, beyond them): one per scale, attempts 0 and 1 giving each coordinate
    both signs."""
    return [{s: v * scale for s, v in _point(rng, inst, attempt, 0).items()} for attempt, scale in enumerate(scales)]


def _defined(inst, function: A.Node, point: dict) -> bool:
    """Whether the function, as mcalc reads it, has a value at the point: SymPy
    simplifies as it builds (exp(2ln(x)) is x², √x√x is x), so the derivative it
    finds has values where the function has none, which are no test of an answer."""
    try:
        _as_mcalc_reads(inst, function, point)
    except McalcError as e:
        return "undefined" not in str(e)  # a size or name the instance lacks, an overflow: not a question of domain
    except (ValueError, ArithmeticError):
        return False
    return True


_TOTAL_NODES = (A.Num, A.Const, A.Var, A.Ones, A.Identity, A.Zero, A.Commutation, A.Neg, A.Transpose, A.Diag,
                A.Vec, A.Add, A.Sub, A.Mul, A.Dot, A.MatMul, A.Kron, A.Index, A.Compare, A.VecLit, A.HStack,
                A.MatLit)
_TOTAL_CALLS = frozenset({"exp", "sin", "cos", "tanh", "sigmoid", "relu", "abs", "sign", "max", "min", "sum",
                          "mean", "sinh", "cosh", "atan", "asinh", "softplus", "tr"})


def _defined_everywhere(function: A.Node) -> bool:
    """Whether the function, as mcalc reads it, has a value at every point (or
    overflows, which _defined takes as a value): no division, no power but a whole
    one of 0 or more, no function defined on part of the line only (ln, √, asin, …)."""
    for n in A.walk(function):
        kind = type(n)
        if kind is A.Call:
            if n.fn not in _TOTAL_CALLS:
                return False
        elif kind is A.Pow:
            if not (type(n.right) is A.Num and n.right.value.denominator == 1 and n.right.value >= 0):
                return False
        elif kind not in _TOTAL_NODES:
            return False
    return True


def _no_value(inst, point: dict, want, points: int, why: str) -> Verdict:
    return Verdict("failed", "numeric", None, points, at=_point_values(inst, point), expected=want,
                   reason=f"the answer has no value there, where the derivative has one ({why})",
                   sizes=dict(inst.sizes))


def _may_hide_kinks(tree: A.Node) -> bool:
    """A root (sqrt, a norm, a power that is not a whole number): where SymPy may make |u| of √(u²)."""
    return any(type(n) is A.Call and n.fn in ("sqrt", "norm", "norm2") or _root(n) for n in A.walk(tree))


def _hidden_kinks(sp, inst, entries) -> None:
    """Kinks SymPy made of smooth-looking input: sqrt((x - 2)²) is |x - 2|, and its
    derivative sign(x - 2); sampled like those written out, on both sides."""
    for e in entries:
        for a in e.atoms(sp.Abs, sp.sign, sp.Heaviside):
            k = a.args[0]
            if not _constant(k):
                inst.kink(k)


class _Different:
    """An entry's difference that SymPy shows is never 0 (1e-10 exp(x) claimed as 0,
    2x + exp(-1000x²) for 2x): wrong everywhere, though floats may round it away."""

    def __init__(self, delta):
        self.delta = delta

    def reason(self, sp) -> str:
        delta = self.delta
        if delta.has(sp.zoo, sp.nan, sp.oo, -sp.oo):
            return f"the answer has no finite value ({delta})"
        text = str(sp.N(delta, 4) if not delta.free_symbols else delta)
        text = text if len(text) <= 80 else text[:77] + "…"
        return f"the answer differs from the derivative by {text}, which SymPy shows is never 0"


def _symbolically_equal(sp, reference, got, kinks, proven: set | None = None) -> bool | _Different:
    """True where every entry's difference simplifies to 0; a _Different where SymPy
    shows one never is 0, whatever the point; else False (the numbers decide).  A
    piecewise claim is decided at points away from the kinks instead; its entries
    without a kink that SymPy shows equal go into ``proven``, so that the points need
    not take them to SymPy's digits (the derivative of sum(softmax(z)) is 0 there,
    rounding in floats)."""
    if kinks:
        if proven is not None:
            for i, (a, b) in enumerate(zip(reference, got)):
                delta = a - b
                if delta != 0 and not delta.has(sp.Heaviside, sp.Piecewise, sp.Max, sp.Min, sp.Abs, sp.sign) and \
                        _simplified(sp, delta) == 0:
                    proven.add(i)
        return False
    for a, b in zip(reference, got):
        delta = a - b
        if delta == 0:
            continue
        simplified = _simplified(sp, delta)
        if simplified is None:
            return False
        if simplified != 0:
            return _Different(simplified) if simplified.is_zero is False else False
    return True


def _simplified(sp, delta):
    """delta simplified (0 where expanding shows it is), or None where it is too large to try."""
    if _nodes_over(sp, delta, NODES_PER_OP * MAX_SYMBOLIC_OPS) or sp.count_ops(delta) > MAX_SYMBOLIC_OPS:
        return None
    return sp.S.Zero if sp.expand(delta) == 0 else sp.simplify(delta)


def _nodes_over(sp, e, limit: int) -> bool:
    """More than ``limit`` nodes in e written out, counted no further than that: SymPy's
    count_ops walks the whole tree, which a network's shares exponentially.  SymPy
    writes an operation in a few nodes (x/y, one division, is Mul(x, Pow(y, -1)): five
    nodes), so over NODES_PER_OP·MAX_SYMBOLIC_OPS nodes is over MAX_SYMBOLIC_OPS
    operations: the bound decides as count_ops would."""
    for count, _ in enumerate(sp.preorder_traversal(e), 1):
        if count > limit:
            return True
    return False


def _numerically(sp, d, inst, reference, got, tolerance, seed, across: bool = True,
                 function: A.Node | None = None, screen: float | None = None,
                 exact_tolerance: float | None = None, proven: frozenset = frozenset(),
                 underflow: bool = True) -> Verdict:
    """Compare at random points; where the function or the answer is piecewise,
    keep going until every kink's argument has been seen on both sides (or
    MAX_POINTS), then also at two points in every piece a line through the space
    crosses: kinks at other places than the function's (max(0, x) claimed to be
    (x > -0.9)) differ only between them, and there a random point seldom falls."""
    rng = random.Random(seed)
    screen = tolerance if screen is None else min(screen, tolerance)  # floats within it agree
    exact_tolerance = tolerance if exact_tolerance is None else exact_tolerance  # SymPy's digits within it
    worst, points, tries = 0.0, 0, 0
    sides: list[set[bool]] = [set() for _ in inst.kinks]
    first: dict | None = None
    margin = KINK_MARGIN if isinstance(reference, _Differences) else EXACT_MARGIN
    partial = function is not None and not _defined_everywhere(function)  # without a value somewhere

    two_signed: set[int] = set()  # the kinks SymPy could not show keep one sign

    def one_sided() -> bool:
        """A kink seen on one side only, whose argument may change sign (asked of SymPy,
        which takes its time, once, and only for a kink the points have not crossed)."""
        for i, (kink, side) in enumerate(zip(inst.kinks, sides)):
            if len(side) < 2:
                if i in two_signed:
                    return True
                if not _one_signed(kink):
                    two_signed.add(i)
                    return True
                side.update((True, False))  # x² + 1: there is no other side
        return False

    kink_values = _Values(sp, inst.kinks)
    want_values = None if isinstance(reference, _Differences) else _Values(sp, list(reference))
    have_values = _Values(sp, list(got))
    differences: list = []  # central differences of the function, made when first needed

    def by_differences(point: dict, kinks: list) -> list | None:
        """The Jacobian by central differences where SymPy's derivative has no value but
        the function has one and is smooth (√max(0, x) for x < 0: SymPy's derivative is
        0/0 there, the function's is 0); None where they cannot tell either."""
        if d.gradient is not None or function is None or any(abs(k) < KINK_MARGIN for k in kinks):
            return None
        try:
            if not differences:
                differences.append(_Differences(sp, inst, function, d.wrt, d.layout))
            rows = differences[0].at(point)
        except (_Inconclusive, ValueError, TypeError, ZeroDivisionError, OverflowError):
            return None
        return rows if _finite(rows) else None

    skipped = {"kink": 0, "no value": 0}  # the points not used, and why
    patterns: set[tuple[bool, ...]] = set()  # the kinks' signs at the points compared
    representatives: dict[tuple[bool, ...], dict] = {}  # a point of each
    scale = None  # the scale of the points, where the first ones found no value of the function

    nonzero: set[int] = set()  # the entries floats have shown other than 0 (or SymPy's digits compared)
    compared: list[tuple] = []  # (kink pattern, point) of the first points compared, where an entry floats
    # show only as 0 may be taken again

    def compare_at(point: dict, probe: bool = False) -> Verdict | bool | None:
        """A failure, True where compared, None where the point is not usable (a probe
        farther out, also where floating point cannot hold the values: a nested power
        there is beyond it, and SymPy's digits would take long)."""
        nonlocal worst, points
        try:
            kinks = kink_values.all(point, probe)
        except (ValueError, TypeError, ZeroDivisionError, OverflowError):
            return None
        if any(abs(k) < margin for k in kinks):
            skipped["kink"] += 1
            return None
        if partial and not _defined(inst, function, point):
            skipped["no value"] += 1
            return None  # the function has no value here (SymPy's reference may)
        why = None
        try:
            want = reference.at(point) if want_values is None else want_values.rows(point, reference.cols, probe)
        except (ValueError, TypeError, ZeroDivisionError, OverflowError):
            if want_values is None or probe:
                return None  # outside the domain (ln of a negative number): another point
            want = None  # or beyond floating point on the way: SymPy's digits below
        try:
            have = have_values.rows(point, got.cols, probe)
        except (ValueError, ZeroDivisionError, OverflowError) as e:  # 3exp(2ln(x)) for 3x²: right for x > 0 only
            have, why = None, str(e)
        except TypeError:
            return None
        if probe and (want is None or have is None or not _finite(want) or not _finite(have)):
            return None
        errors = None if want is None or have is None else \
            _errors(want, have, differences=want_values is None)
        if proven and errors is not None:  # equal as SymPy showed: rounding in floats is no difference
            errors = [0.0 if i in proven else e for i, e in enumerate(errors)]
        limit = tolerance
        if errors is not None:
            nonzero.update(i for i, (w, h) in enumerate((w, h) for wr, hr in zip(want, have) for w, h in zip(wr, hr))
                           if abs(w) >= _NORMAL or abs(h) >= _NORMAL)  # a subnormal float holds a few bits only
        if (errors is None or not all(e <= screen for e in errors)) and want_values is not None:
            # SymPy's digits at the exact point decide: floats overflow, underflow and cancel
            exact_want = want_values.exact_rows(point, reference.cols, defer=True)
            if exact_want is None:  # SymPy's derivative has no value here: the function's differences decide
                want = by_differences(point, kinks)
                if want is None:
                    return None  # another point
                points += 1
                if have is None:
                    return _no_value(inst, point, want, points, why or "no finite value")
                error = max(_errors(want, have, differences=True))
                if not error <= max(tolerance, DIFFERENCES_TOLERANCE):
                    return Verdict("failed", "numeric", error, points, at=_point_values(inst, point),
                                   expected=want, got=have, sizes=dict(inst.sizes))
                worst = max(worst, error)
                return True
            exact_have = have_values.exact_rows(point, got.cols, defer=True)
            if exact_have is not None:
                exact_want, exact_have = _settled(exact_want, exact_have)
            else:
                exact_want = [[v.worked_out() if isinstance(v, _Digitless) else v for v in row] for row in exact_want]
            want = [[_shown(v) for v in row] for row in exact_want]
            if exact_have is None:
                have = None
            else:
                have = [[_shown(v) for v in row] for row in exact_have]
                errors = [0.0 if i in proven else float(e) for i, e in enumerate(_errors(exact_want, exact_have))]
                limit = exact_tolerance
                nonzero.update(range(len(errors)))
        if have is None:
            points += 1
            return _no_value(inst, point, want, points, why or "no finite value")
        points += 1
        for side, k in zip(sides, kinks):
            side.add(k > 0)
        pattern = tuple([k > 0 for k in kinks])
        patterns.add(pattern)
        if pattern not in representatives:
            representatives[pattern] = point
        if not probe and len(compared) < UNDERFLOW_POINTS:
            compared.append((pattern, point))
        for err in errors:
            if not err <= limit:  # not: a NaN is no agreement
                return Verdict("failed", "numeric", err, points, at=_point_values(inst, point),
                               expected=want, got=have, sizes=dict(inst.sizes))
            worst = max(worst, err)
        return True

    while points < POINTS or (points < MAX_POINTS and any(len(s) < 2 for s in sides) and one_sided()):
        checkpoint()
        tries += 1
        if tries > 200:
            if points >= POINTS:
                break
            reason = "no point away from the kinks was found" if skipped["kink"] >= skipped["no value"] else \
                "the function has no value at any point tried (coordinates from ±0.00025 to ±24)"
            return Verdict("inconclusive", reason=reason, sizes=dict(inst.sizes))
        point = _point(rng, inst, tries - 1, points)
        factor = scale
        if factor is None and tries > 20 and points < POINTS:  # (ln(x - 10), ln(0.01 - x²)): nearer 0, farther
            factor = DOMAIN_SCALES[tries % len(DOMAIN_SCALES)]
        if factor is not None:
            point = {s: v * factor for s, v in point.items()}
        outcome = compare_at(point)
        if isinstance(outcome, Verdict):
            return outcome
        if outcome and factor is not None:
            scale = factor  # where the function has values: the points to come are taken there too
        if outcome and first is None:
            first = point
    if across:  # a difference only near 0 (x exp(-1000x²)), or only farther out (asin(sin(x)) for x)
        for point, probe in [*((p, False) for p in _near_zero(rng, inst)), *((p, True) for p in _near_zero(rng, inst, FAR))]:
            checkpoint()
            outcome = compare_at(point, probe)
            if isinstance(outcome, Verdict):
                return outcome
    # one kink seen on both sides: its two sides are the pieces; else follow a line across them
    reason = None
    if across and first is not None and inst.kinks and (len(inst.kinks) > 1 or one_sided()):
        for line in range(LINES):  # another line, in another direction, where no kink or one was not crossed
            crossing = _across_the_kinks(sp, inst, first, rng, line, kink_values)
            for point in crossing:
                checkpoint()
                outcome = compare_at(point)
                if isinstance(outcome, Verdict):
                    return outcome
            if crossing and not one_sided():
                break
        else:  # not crossed on every line: where the kink has one variable, look along it closely
            for i, (kink, side) in enumerate(zip(inst.kinks, sides)):
                if len(side) == 2 or i not in two_signed:
                    continue
                if len(kink.free_symbols) != 1:
                    return Verdict("inconclusive", reason=f"the kink where {kink} = 0 was met on one side "
                                   f"only: the answer holds on that side", sizes=dict(inst.sizes))
                others = [k for k in inst.kinks if k is not kink and k.free_symbols == kink.free_symbols]
                for point in _along_one_variable(sp, kink, first, others):
                    checkpoint()
                    outcome = compare_at(point)
                    if isinstance(outcome, Verdict):
                        return outcome
                if len(side) < 2:  # max(tanh(x), -2): its argument keeps one sign
                    reason = f"{kink} kept one sign: taken as no kink"
    if across and first is not None and len(inst.kinks) > 1:  # the pieces several kinks bound together
        for point in [*_polynomial_pieces(sp, inst, first),
                      *_unseen_patterns(rng, inst, kink_values, patterns, margin)]:
            checkpoint()
            outcome = compare_at(point)
            if isinstance(outcome, Verdict):
                return outcome
        # a strip one variable's kinks bound (3 < x < 3.1), met with the other variables' other sides
        # (y > 0): each piece along a line moving one variable, with the others from each pattern seen
        def hybrids():  # lazily: the lines are made only while the budget lasts
            for line in range(1, min(len(inst.symbols), MAX_HYBRID_LINES) + 1):
                for point in _across_the_kinks(sp, inst, first, rng, line, kink_values, HYBRID_STEPS, _HYBRID_LINE):
                    moved = {s: v for s, v in point.items() if v != first[s]}
                    yield from ({**rep, **moved} for rep in list(representatives.values()))

        tried, budget, every = set(patterns), MAX_PATTERNS, 2 ** len(inst.kinks)
        for hybrid in hybrids() if len(tried) < every else ():  # every pattern compared: none is left to find
            try:
                kinks = kink_values.all(hybrid, True)
            except (ValueError, TypeError, ZeroDivisionError, OverflowError):
                continue
            pattern = tuple([k > 0 for k in kinks])
            if pattern in tried or any(abs(k) < margin for k in kinks):
                continue
            tried.add(pattern)
            checkpoint()
            outcome = compare_at(hybrid)
            if isinstance(outcome, Verdict):
                return outcome
            budget -= 1
            if budget <= 0 or len(tried) >= every:
                break
    if underflow and want_values is not None and compared:
        seen = {pattern for pattern, _ in compared}
        pieces = [(k, p) for k, p in representatives.items() if k not in seen][:UNDERFLOW_PATTERNS]
        below = _underflowed(inst, reference, got, want_values, have_values, compared + pieces, nonzero,
                             proven, exact_tolerance, points)
        if below is not None:
            return below
    return Verdict("verified", "numeric", worst, points, reason=reason,
                   sizes={k: inst.sizes[k] for k in sorted(inst.used)})


UNDERFLOW_POINTS = 3  # first points an entry floats show only as 0 is taken to SymPy's digits at
UNDERFLOW_PATTERNS = 16  # and points of as many kink patterns, at most
_NORMAL = sys.float_info.min  # below it, floats are subnormal: 1.4e⁻⁷⁴⁵ and e⁻⁷⁴⁵ are the same float
UNDERFLOW_ENTRIES = 24  # such entries taken, at most (beyond: spread over the Jacobian)


def _underflowed(inst, reference, got, want_values, have_values, points_compared: list, nonzero: set,
                 proven: frozenset, tolerance: float, points: int) -> Verdict | None:
    """A failure where an entry that floats showed as 0 (or subnormal) on both sides at
    every point, and that is not 0 as written, differs in SymPy's digits: it may have
    underflowed (2e⁻⁸⁰⁰x claimed for the derivative of e⁻⁸⁰⁰x², both 0.0 in floats).
    Each such entry is compared in digits once in each kink pattern seen
    (``points_compared``: (pattern, point), the first points, then one of each other
    pattern): a mask may be off at the first point, and a claim may differ in one piece
    only.  Where a side has no digit even at SymPy's greatest precision (1 - σ(x + 20000))
    in a piece no other point of it decided, nothing decides the entry there:
    inconclusive.  Up to UNDERFLOW_ENTRIES entries (a larger Jacobian's spread over it)."""
    suspects = [i for i, (a, b) in enumerate(zip(reference, got))
                if i not in nonzero and i not in proven and not (a == 0 and b == 0)]
    if not suspects:
        return None
    step = max(1, -(-len(suspects) // UNDERFLOW_ENTRIES))
    undecided = None
    for i in suspects[::step]:
        beyond: dict = {}  # the pieces where a side had no digit, and a point of each
        done: set = set()  # the pieces compared in digits
        for pattern, point in points_compared:
            if pattern in done:
                continue  # this piece is compared in digits already
            checkpoint()
            first_w, first_h = want_values.exact(i, point, defer=True), have_values.exact(i, point, defer=True)
            if first_w is None or first_h is None:
                continue  # no value here: another point
            dw, dh = isinstance(first_w, _Digitless), isinstance(first_h, _Digitless)
            if dw and not dh and not first_h or dh and not dw and not first_w:
                done.add(pattern)  # without a digit beside an exact 0: 0, as everywhere in check (_settled)
                continue
            w, h = (v.worked_out() if isinstance(v, _Digitless) else v for v in (first_w, first_h))
            if (not w and dw) or (not h and dh):  # a side without a digit, even at SymPy's greatest precision
                bound = first_w.bound if dw and not w else first_h.bound
                other = h if dw and not w else w
                if bound is not None and other and not (dw and dh) and abs(other) > 1e6 * bound:
                    return _underflow_failure(inst, want_values, have_values, reference, got, i, point,
                                              w if w else f"< {bound.n(3)}", h if h else f"< {bound.n(3)}", points)
                beyond.setdefault(pattern, point)  # too close to its bound to tell
                continue
            if not w and not h:  # (a SymPy Float 0 is not == 0, but it is false)
                done.add(pattern)  # 0 in this piece in SymPy's digits too (a mask off there): agreed
                continue
            error = float(_relative(w, h))
            if not error <= tolerance:
                return _underflow_failure(inst, want_values, have_values, reference, got, i, point, w, h, points,
                                          error)
            done.add(pattern)
        undecided = undecided or next((p for k, p in beyond.items() if k not in done), None)
    if undecided is not None:
        return Verdict("inconclusive", reason=f"an entry is 0 in floats at every point, and SymPy finds no digit of it "
                       f"even at its greatest precision (at {format_point(_point_values(inst, undecided), 3)}): "
                       f"too small for either to compare", sizes=dict(inst.sizes))
    return None


def _underflow_failure(inst, want_values, have_values, reference, got, i: int, point: dict, w, h, points: int,
                       error: float = 1.0) -> Verdict:
    """The failure of entry i at ``point``: the rows in floats, that entry as SymPy gave it."""
    want, have = want_values.rows(point, reference.cols), have_values.rows(point, got.cols)
    want[i // reference.cols][i % reference.cols] = w if isinstance(w, str) else _shown(w)
    have[i // got.cols][i % got.cols] = h if isinstance(h, str) else _shown(h)
    return Verdict("failed", "numeric", error, points, at=_point_values(inst, point), expected=want, got=have,
                   sizes=dict(inst.sizes))


def _shown(value) -> float | str:
    """An exact value as a float, or where it lies beyond floating point, above or below,
    as its text to 6 digits ("8.48812e+3143", "3.66787e-348": JSON has no infinity, and
    inf or 0 tells the reader nothing)."""
    f = float(value)
    return f if math.isfinite(f) and (f != 0 or not value) else str(value.n(6))


def _finite(rows) -> bool:
    return all(math.isfinite(v) for row in rows for v in row)


def _errors(want, have, differences: bool = False) -> list:
    """Each entry's relative error, row by row: |w - h| over |w| + |h| (0 where both
    are 0), relative for tiny values too (1e-12x claimed as 0 is wrong everywhere;
    over 1 + |w| it passed).  Each entry is measured by itself: a floor taken from the
    Jacobian's largest entry let an entry 10¹⁸ times smaller be anything ((x₂ > 0)
    claimed as 0 beside 1e20x₁, a Hessian's 7 for 0 beside exp(x₁ + 50)).  Floats
    only screen: where an entry differs in them, SymPy's 30 digits decide, and there
    a value that cancelled to no digit is 0 beside a 0 (_settled: the derivative of
    sum(softmax(z))).  Against central differences, whose rounding grows with the
    function's size: over 1 + |w|."""
    pairs = [(w, h) for wr, hr in zip(want, have) for w, h in zip(wr, hr)]
    if differences:
        return [abs(w - h) / (1 + abs(w)) for w, h in pairs]
    return [_relative(w, h) for w, h in pairs]


def _relative(w, h):
    """|w - h| over |w| + |h|, 0 where both are 0: no floor, for SymPy's digits hold
    values far below floating point's (2exp(-800)x beside 4exp(-800)x is 1/3 apart)."""
    size = abs(w) + abs(h)
    return abs(w - h) / size if size else 0.0  # not ``size != 0``: SymPy's Float(0) != 0


def _along_one_variable(sp, kink, base: dict, others=()) -> list[dict]:
    """Points on both sides of every place where a kink of one variable changes sign,
    and between them: its real roots where it is a polynomial ((x - 5)² - 0.01, whose
    sign changes lie closer together than a line's steps), else a fine scan from -100
    to 100 (0.005 apart) and the line's coarse steps beyond.  The pieces are split
    at the roots of ``others``, the other kinks of that variable, too: the claim may
    change between them (sign(x) + sign(x - 0.01) for the derivative of
    max(|x| + |x - 0.01|, 0.0105), wrong only on (-0.00025, 0))."""
    (s,) = kink.free_symbols
    return _pieces(sorted({r for k in (kink, *others) for r in _roots_along(sp, k, s, base)}), base, s)


def _pieces(roots: list[float], base: dict, s) -> list[dict]:
    """Two points in every piece between the roots along s, and one beyond each end."""
    points = []
    for a, b in zip(roots, roots[1:]):
        points += [{**base, s: a + (b - a) / 3}, {**base, s: a + 2 * (b - a) / 3}]
    for r in roots[:1]:
        points.append({**base, s: r - max(1.0, abs(r))})
    for r in roots[-1:]:
        points.append({**base, s: r + max(1.0, abs(r))})
    return points[:4 * MAX_POINTS]


def _polynomial_pieces(sp, inst, base: dict) -> list[dict]:
    """For each variable two or more kinks of its own share (|x| + |x - 0.01| - 0.0105,
    x, x - 0.01), the pieces between all their real roots, where each (|u| as ±u) is
    a polynomial: a line's grid steps over a kink that turns twice in one step."""
    by_symbol: dict = {}
    for kink in inst.kinks:
        if len(kink.free_symbols) == 1:
            by_symbol.setdefault(next(iter(kink.free_symbols)), []).append(kink)
    points = []
    for s, kinks in sorted(by_symbol.items(), key=lambda sk: str(sk[0])):
        if len(kinks) > 1:
            roots = {r for k in kinks for r in _roots_along(sp, k, s, base, scan=False)}
            points += _pieces(sorted(roots), base, s)
    return points


def _roots_along(sp, kink, s, base: dict, scan: bool = True) -> list[float]:
    """Where the kink changes sign along s (see _along_one_variable); without ``scan``,
    only where it is a polynomial (else none)."""
    roots: list[float] = []
    # |u| as u and as -u in turn (|x - 7.77| - 0.001 changes sign twice, 0.002 apart): a superset
    # (and max(a, b) as a and as b: relu(x - 3) + relu(3.01 - x) - 0.0105 is a polynomial in each piece)
    branches = [kink]
    for a in sorted(kink.atoms(sp.Abs, sp.Max, sp.Min), key=str)[:4]:
        options = [sign * a.args[0] for sign in (1, -1)] if isinstance(a, sp.Abs) else list(a.args)
        branches = [b.xreplace({a: o}) for b in branches for o in options]
    try:
        polys = [sp.Poly(b, s) for b in branches]
        unsolved = any(poly.degree() > 8 for poly in polys)
        roots = [] if unsolved else sorted({float(r) for poly in polys for r in poly.real_roots()})
    except (sp.PolynomialError, ValueError, TypeError, NotImplementedError):
        unsolved = True
    if unsolved and not scan:
        return []
    if unsolved:  # each branch scanned (|eˣ - 3| - 0.001: eˣ - 3 ∓ 0.001 each change sign once)
        values = _Values(sp, branches)
        grid = [k * 0.005 for k in range(-20000, 20001)] + [t for t in _LINE if abs(t) > 100]
        grid.sort()
        def sign(i: int, t: float):
            try:
                return values(i, {**base, s: t}) > 0
            except (ValueError, TypeError, ZeroDivisionError, OverflowError):
                return None

        for i in range(len(branches)):
            before, before_t, defined = None, None, False
            for t in grid:
                now = sign(i, t)
                if now is None:
                    if defined:
                        roots.append(t)  # where the kink's argument ends (sqrt(x) - 0.3 at x < 0)
                    before, defined = None, False
                    continue
                if before is None:
                    roots.append(t)  # where the argument begins to have a value
                elif now != before:  # a sign change: found by bisection (two 0.0007 apart are two)
                    lo, hi = before_t, t
                    for _ in range(40):
                        mid = (lo + hi) / 2
                        lo, hi = (mid, hi) if sign(i, mid) == before else (lo, mid)
                    roots.append((lo + hi) / 2)
                before, before_t, defined = now, t, True
        roots = sorted(set(roots))
    return roots


def _one_signed(kink) -> bool:
    """Whether SymPy can tell the kink's argument never changes sign (x² + 1, exp(x)):
    then there is no other side to see.  Not asked where the form shows it changes
    sign: a variable in one term only, times a number (b in Xw + b)."""
    if _takes_every_value(kink):
        return False
    return bool(kink.is_positive or kink.is_negative or kink.is_nonnegative or kink.is_nonpositive)


def _takes_every_value(kink) -> bool:
    """c·s + (a rest without s), c a number other than 0 and s a real symbol of either sign: as s
    runs over the line, so does the kink.  SymPy's answer there is None, after asking
    each term's sign in turn, at length."""
    terms = kink.args if kink.is_Add else (kink,)
    for term in terms:
        coefficient, rest = term.as_coeff_Mul()
        if rest.is_Symbol and rest.is_real and rest.is_positive is None and rest.is_negative is None and \
                coefficient.is_nonzero and sum(_holds(t, rest) for t in terms) == 1:
            return True
    return False


def _subtrees(e):
    """e's subtrees, each shared one once (SymPy's free_symbols and atoms walk every path
    of a network's shared layers)."""
    seen, stack = set(), [e]
    while stack:
        n = stack.pop()
        if id(n) not in seen:
            seen.add(id(n))
            yield n
            stack.extend(n.args)


def _holds(e, symbol) -> bool:
    """Whether the symbol (None: any symbol) occurs in e."""
    return any(n.is_Symbol if symbol is None else n == symbol for n in _subtrees(e))


# where a line crosses the kinks: t from the base point, both ways, 0.01 … 10¹⁶ (a kink at 1e12 too),
# four steps a decade up to 100, two beyond
_LINE = sorted({0.0, *(sign * 10 ** (k / 4) for k in range(-8, 9) for sign in (-1, 1)),
                *(sign * 10 ** (k / 2) for k in range(5, 33) for sign in (-1, 1))})


_HYBRID_LINE = _LINE[::2]
_BESIDE = (0.001, 0.01, 0.1, 0.3, 0.6)  # fractions of the way from a crossing to the grid's points beside it  # each kink's own crossings are found on a coarser grid as well


def _across_the_kinks(sp, inst, base: dict, rng, line: int = 0, kinks=None, steps: int = 40,
                      grid: list[float] = _LINE) -> list[dict]:
    """Points on a line through ``base`` in a random direction, two in each piece
    between the places where it crosses a kink (found on a grid, then by bisection).
    Line 0 moves every coordinate; each later one the coordinates of one variable
    only, in turn: along those a kink like w·x + b is linear, and crosses 0, where
    along a line moving all it may be a parabola that never does."""
    names = sorted(name for name, m in inst.symbols.items() if any(s in base for s in m))
    moving = set(base) if line == 0 or not names else set(inst.symbols[names[(line - 1) % len(names)]])
    direction = {s: rng.gauss(0, 1) if s in moving else 0.0 for s in base}
    coordinates = [(s, v, direction[s]) for s, v in base.items()]

    def at(t: float) -> dict:
        return {s: v + t * d for s, v, d in coordinates}

    kinks = kinks or _Values(sp, inst.kinks)  # made once a comparison: making it compiles every kink
    own: dict[int, list] = {}  # a kink's own coordinates: bisection asks its sign alone, at many points

    def signs(t: float, only: int | None = None):
        try:
            if only is not None:
                mine = own.get(only)
                if mine is None:
                    mine = own[only] = [(s, base[s], direction[s]) for s in kinks.symbols(only)]
                return kinks(only, {s: v + t * d for s, v, d in mine}) > 0
            return tuple(k > 0 for k in kinks.all(at(t)))
        except (ValueError, TypeError, ZeroDivisionError, OverflowError):
            return None

    def crossing(i: int, lo: float, hi: float, low_side: bool) -> float:
        for _ in range(steps):  # the bracket to a trillionth of the grid's step (40 steps)
            mid = (lo + hi) / 2
            side = signs(mid, i)
            if side is None:
                break
            if side == low_side:
                lo = mid
            else:
                hi = mid
        return (lo + hi) / 2

    crossings = []
    before_t, before = None, None
    # a kink around another's, |u| < r about u = 0, where the grid may step over the strip between
    nested = len(inst.kinks) > 1 and any(k.has(sp.Abs) for k in inst.kinks)
    for t in grid:
        now = signs(t)
        if now is None:
            before_t, before = None, None
            continue
        found = []
        for i in range(len(now) if before is not None else 0):
            if now[i] != before[i]:  # each kink on its own: two close together are two crossings
                found.append(crossing(i, before_t, t, before[i]))
        crossings += found
        if found and nested:  # a kink that dips across 0 and back beside another's crossing, between
            dipped: set[int] = set()  # two points of the grid (abs(x - 3) < 0.3 beside x = 3): looked for there
            for c in found:
                for end in (before_t, t):
                    for f in _BESIDE:
                        m = c + (end - c) * f
                        probe = signs(m)
                        for j, side in enumerate(probe or ()):
                            if side != now[j] and now[j] == before[j] and j not in dipped:
                                dipped.add(j)  # in at one side of m, out at the other
                                crossings += [crossing(j, before_t, m, before[j]), crossing(j, m, t, side)]
        before_t, before = t, now
    crossings.sort()
    if not crossings:
        return []
    ends = [crossings[0] - max(1.0, abs(crossings[0])), *crossings, crossings[-1] + max(1.0, abs(crossings[-1]))]
    # two points a piece (at a third and two thirds): the answer may agree at its middle (x = 0 in |x² - 1/4|)
    return [at(a + (b - a) * f) for a, b in zip(ends, ends[1:]) if b > a for f in (1 / 3, 2 / 3)][:4 * MAX_POINTS]


PATTERN_TRIES = 400  # points tried for the kinks' sign patterns not yet compared
MAX_HYBRID_LINES = 6  # variables whose one-variable lines are met with the other patterns
HYBRID_STEPS = 24  # bisection steps on those lines: a crossing to a ten-millionth of the grid's step
MAX_PATTERNS = 32  # of those, compared at most


def _unseen_patterns(rng, inst, kink_values, seen: set, margin: float) -> list[dict]:
    """One point for each pattern of the kinks' signs not compared yet, among
    PATTERN_TRIES random points at scales from 0.005 to 1500 (all coordinates at
    one scale, or each at its own): each kink crossed on its own is not every piece
    (relu(x)relu(y)relu(z) claimed as relu(y)relu(z) differs only where x < 0 < y, z;
    (x > y)(xy < 30) for max(x, y)'s derivative only where xy > 30)."""
    found: dict[tuple[bool, ...], dict] = {}
    every = 2 ** len(inst.kinks)
    symbols = [s for m in inst.symbols.values() for s in m]
    uniform, choice = rng.uniform, rng.choice  # (hundreds of points, each coordinate two or three draws)
    for attempt in range(PATTERN_TRIES):
        if len(seen) + len(found) >= every or len(found) >= MAX_PATTERNS:
            break
        common = 10 ** uniform(-2, 3)
        point = {}
        for s in symbols:
            scale = common if attempt % 2 == 0 else 10 ** uniform(-2, 3)
            point[s] = choice((-1, 1)) * uniform(0.5, 1.5) * scale
        try:
            kinks = kink_values.all(point, True)
        except (ValueError, TypeError, ZeroDivisionError, OverflowError):
            continue
        if any(abs(k) < margin for k in kinks):
            continue
        pattern = tuple([k > 0 for k in kinks])
        if pattern not in seen and pattern not in found:
            found[pattern] = point
    return list(found.values())


def _point(rng, inst, attempt: int, k: int) -> dict:
    """A point after k taken: vectors and scalars of magnitude 0.5…1.5, each entry
    positive at one of the first two attempts and negative at the other (sqrt(x²) is
    |x|, not x), matrices of N(0, 1); past the first points, while a kink has been
    seen on one side only, spread wider, up to 64 times (max(x, -5) turns at -5)."""
    scale = 2.0 ** min(6, max(0, k - POINTS + 2) // 2) if k >= POINTS else 1.0
    point, i = {}, 0
    for m in inst.symbols.values():
        dense = m.rows > 1 and m.cols > 1
        for s in m:
            if dense:
                point[s] = rng.gauss(0, 1) * scale
            else:
                sign = (1, -1)[(i + attempt) % 2] if attempt < 2 else rng.choice((-1, 1))
                point[s] = rng.uniform(0.5, 1.5) * scale * sign
            i += 1
    return point


class _Values:
    """SymPy expressions at points, in floating point: each tree made once into
    nested functions of the point (a comparison evaluates the same entries at many
    points: the sampled ones, the line across the kinks), SymPy's own evaluation the
    fallback for anything unusual.  A subtree the entries share (SymPy shares them:
    a network's layer in every unit of the next) is made once and evaluated once a
    point, so the cost follows the expressions as SymPy holds them, not written out."""

    def __init__(self, sp, exprs):
        self.sp, self.exprs = sp, list(exprs)
        shared: dict = {}
        again = _met_again(self.exprs)
        self.fns = [_compiled(sp, e, shared, again) for e in self.exprs]
        self._symbols: dict = {}

    def __call__(self, i: int, point: dict) -> float:
        return self._one(i, dict(point))  # a dict of its own: the values kept for it hold for it alone

    def symbols(self, i: int) -> list:
        """The symbols entry i reads (each shared subtree looked at once)."""
        found = self._symbols.get(i)
        if found is None:
            found = self._symbols[i] = list(dict.fromkeys(n for n in _subtrees(self.exprs[i]) if n.is_Symbol))
        return found

    def _one(self, i: int, point: dict, floats_only: bool = False) -> float:
        try:
            value = self.fns[i](point)
        except _Unusual:
            value = math.nan
        except OverflowError:  # exp(800): beyond floating point on the way
            value = math.inf
        except ValueError as e:  # inf - inf in a sum: the same; a domain error (ln of -1) is no value
            if "inf" not in str(e):
                raise
            value = math.nan
        if math.isfinite(value):
            return value
        if floats_only:
            raise OverflowError("beyond floating point, or unusual")
        # unusual, or beyond floating point on the way (10⁴⁰⁰ e⁻⁸⁰⁰ is inf · 0): SymPy's own
        # evaluation, which has the precision; without a finite value there, none here
        exact = self.exact(i, point)
        if exact is None:
            raise ValueError("no finite value")
        value = float(exact)
        if not math.isfinite(value):
            raise OverflowError("beyond floating point")  # a value, which SymPy's digits can compare
        return value

    def _exact(self, point: dict) -> dict:
        """The point's floats as the exact numbers they are: a float in SymPy has a float's
        15 digits, which 10²⁰⁰ eˣ (x + 1) - 10²⁰⁰ eˣ x loses all of."""
        return {s: self.sp.Rational(v) if isinstance(v, float) else v for s, v in point.items()}

    def exact(self, i: int, point: dict, defer: bool = False):
        """Entry i at the exact point by SymPy to 30 digits (a SymPy Float, which may lie
        beyond floating point: e²⁰⁰⁰ˣ at x = 1), where floats may have lost the difference or
        made one (1 + e⁻⁴⁰ times e⁴⁰, less e⁴⁰, is 1, not 0), or overflowed or underflowed on
        the way; None where it has no real value there."""
        return _exact_at(self.sp, self.exprs[i].xreplace(self._exact(point)), defer)

    def exact_rows(self, point: dict, cols: int, defer: bool = False):
        """Every entry exactly (see exact), as rows; None where one has no value."""
        flat = [self.exact(i, point, defer) for i in range(len(self.fns))]
        return None if any(v is None for v in flat) else _in_rows(flat, cols)

    def all(self, point: dict, floats_only: bool = False) -> list[float]:
        point = dict(point)
        try:  # at most points every value is a float: _one's handling is for the others
            values = [f(point) for f in self.fns]
            if all(map(math.isfinite, values)):
                return values
        except (_Unusual, ArithmeticError, ValueError, TypeError, LookupError):  # (not a Timeout)
            pass  # each entry again by _one, which knows what each means
        return [self._one(i, point, floats_only) for i in range(len(self.fns))]

    def rows(self, point: dict, cols: int, floats_only: bool = False) -> list[list[float]]:
        """The values of a matrix's entries, given row by row, as rows."""
        return _in_rows(self.all(point, floats_only), cols)


MAX_PRECISION = 2000  # bits SymPy may work with where its first 30 digits came out with none


def _exact_at(sp, at, defer: bool = False):
    """``at``, an expression of numbers only, by SymPy to 30 digits (see _Values.exact)."""
    try:
        value = sp.N(at, 30)
        if _digitless(sp, value):  # 1 - 1/(1 + e⁻⁵⁶⁶): 0.e-165, no digit of the 30 asked for
            if defer:  # what the other side's value is decides whether to work it out (_settled)
                return _Digitless(sp, at)
            value = sp.N(at, 30, maxn=MAX_PRECISION)
    except (TypeError, ValueError, ArithmeticError):
        return None
    if not value.is_number or value.has(sp.zoo, sp.nan, sp.oo, -sp.oo):
        return None
    re, im = value.as_real_imag()
    if not isinstance(re, sp.Number) or not isinstance(im, sp.Number) or _digitless(sp, re):
        return None
    if im != 0 and abs(im) > 1e-12 * min(1, abs(re)):  # min: beside a huge real part, 1.7i is no noise
        return None
    return sp.Float(re, 30)


class _Digitless:
    """An entry SymPy's 30 digits gave no digit of (cancellation): 0, or a value more
    precision finds (at length, and never for an exact 0: so only where needed)."""

    def __init__(self, sp, at):
        self.sp, self.at = sp, at

    bound = None  # where even the greatest precision finds no digit: the size SymPy's value still bounds

    def worked_out(self):
        sp = self.sp
        try:
            value = sp.N(self.at, 30, maxn=MAX_PRECISION)
            re = value.as_real_imag()[0]
        except (TypeError, ValueError, ArithmeticError):
            return sp.Float(0, 30)
        if not isinstance(re, sp.Number) or _digitless(sp, re):
            self.bound = abs(re) if isinstance(re, sp.Float) and re else None
            return sp.Float(0, 30)
        return sp.Float(re, 30)


def _settled(want: list, have: list) -> tuple[list, list]:
    """Each pair of entries with a digitless one settled: both digitless, or one beside
    an exact 0, are 0 (the derivative of sum(softmax(z)) claimed as 0); beside a value
    with digits, it is worked out (2.1e-195 claimed where SymPy's first try gave 0.e-163)."""
    out_w, out_h = [], []
    for wr, hr in zip(want, have):
        rw, rh = [], []
        for w, h in zip(wr, hr):
            dw, dh = isinstance(w, _Digitless), isinstance(h, _Digitless)
            if dw and dh:
                w = h = w.sp.Float(0, 30)
            elif dw:  # (an exact 0 is a SymPy Float 0, which is not == 0, but false)
                w = w.sp.Float(0, 30) if not h else w.worked_out()
            elif dh:
                h = h.sp.Float(0, 30) if not w else h.worked_out()
            rw.append(w)
            rh.append(h)
        out_w.append(rw)
        out_h.append(rh)
    return out_w, out_h


def _digitless(sp, value) -> bool:
    """A SymPy Float with next to no significant bits (0.e-165): SymPy's evaluation lost
    them all to cancellation; it is no value, 0 or otherwise."""
    return isinstance(value, sp.Float) and value._prec < 60 and value != 0


def _in_rows(flat: list, cols: int) -> list[list]:
    return [flat[i:i + cols] for i in range(0, len(flat), cols)]


class _Unusual(Exception):
    pass


def _compiled(sp, e, shared: dict, again: set):
    """The expression as a function of the point (a dict of its symbols' values), its
    tree walked once: a comparison evaluates one at many points (the sampled points,
    the line across the kinks).  Anything unusual raises _Unusual when evaluated.
    ``shared`` holds the functions made so far: a subtree met again is the same
    function, which computes its value once for each point (each point a dict
    that is not changed afterwards)."""
    hit = shared.get(e)
    if hit is None:
        hit = shared[e] = _made(sp, e, shared, again) if e.args and e in again else _node(sp, e, shared, again)
    return hit


def _met_again(exprs) -> set:
    """The subtrees met more than once in the expressions (shared, or an entry twice):
    only their values are kept for the point; a subtree met once is computed once anyway."""
    seen, again = set(), set()
    stack = list(exprs)
    while stack:
        e = stack.pop()
        if e in seen:
            again.add(e)
        else:
            seen.add(e)
            stack.extend(e.args)
    return again


def _made(sp, e, shared: dict, again: set):
    """A function of several values: its value kept for the last point asked."""
    f = _node(sp, e, shared, again)
    last: list = [None, 0.0]

    def once(point):
        if last[0] is point:
            return last[1]
        value = f(point)
        last[0], last[1] = point, value
        return value
    return once


def _node(sp, e, shared: dict, again: set):
    if e.is_Symbol:
        return lambda point: point[e]
    if e.is_Number:
        value = float(e)
        return lambda point: value
    if isinstance(e, sp.Piecewise):
        pieces = [(_compiled(sp, value, shared, again), _condition(sp, condition, shared, again))
                  for value, condition in e.args]

        def piecewise(point):
            for value, holds in pieces:
                if holds(point):
                    return value(point)
            raise ValueError("no piece applies")
        return piecewise
    if e.is_Add and len(e.args) == 2:
        found = _sech_squared(sp, e)
        if found is not None:  # c(1 - tanh(u)²), tanh's derivative: 0 in floats past |u| = 19 (1.7e-17 at 20)
            c, inner = found[0], _compiled(sp, found[1], shared, again)
            return lambda point: c * _sech2(inner(point))
    parts = [_compiled(sp, a, shared, again) for a in e.args]
    if e.is_Add:
        return lambda point: math.fsum([f(point) for f in parts])
    if e.is_Mul and len(parts) == 2:  # (1·a)·b is a·b, the same float
        first, second = parts
        return lambda point: first(point) * second(point)
    if e.is_Mul:
        def product(point):
            out = 1.0
            for f in parts:
                out *= f(point)
            return out
        return product
    if e.is_Pow:
        base_of, exponent_of = parts

        def power(point):
            base, exponent = base_of(point), exponent_of(point)
            if base == 0 and exponent < 0:
                raise ZeroDivisionError("0 to a negative power")
            value = base ** exponent
            if isinstance(value, complex):
                raise ValueError("not real")
            return value
        return power
    f = _FLOAT_FUNCTIONS.get(type(e).__name__)
    if f is not None:
        return lambda point: f(*(g(point) for g in parts))
    return _unusual(type(e).__name__)


def _sech_squared(sp, e):
    """(c, u) where e is c - c·tanh(u)² (SymPy spreads 2(1 - tanh(2x)²) so), else None."""
    c, other = e.args if e.args[0].is_Number else e.args[::-1]
    if not c.is_Number or c == 0 or not other.is_Mul or len(other.args) != 2 or other.args[0] != -c:
        return None
    square = other.args[1]
    if square.is_Pow and square.exp == 2 and type(square.base).__name__ == "tanh":
        return float(c), square.base.args[0]
    return None


def _unusual(name: str):
    """A function of the point that raises _Unusual: SymPy's evaluation is to take over."""
    def unusual(point):
        raise _Unusual(name)
    return unusual


def _condition(sp, c, shared: dict, again: set):
    if c is sp.true:
        return lambda point: True
    if c is sp.false:
        return lambda point: False
    compare = {"StrictGreaterThan": lambda a, b: a > b, "StrictLessThan": lambda a, b: a < b,
               "GreaterThan": lambda a, b: a >= b, "LessThan": lambda a, b: a <= b}.get(type(c).__name__)
    if compare is None:
        return _unusual(type(c).__name__)
    lhs, rhs = _compiled(sp, c.lhs, shared, again), _compiled(sp, c.rhs, shared, again)
    return lambda point: compare(lhs(point), rhs(point))


def _heaviside(x, h0=0.5):
    return 1.0 if x > 0 else 0.0 if x < 0 else h0


_FLOAT_FUNCTIONS = {
    "exp": math.exp, "log": math.log, "sin": math.sin, "cos": math.cos, "tan": math.tan,
    "tanh": math.tanh, "Abs": abs, "sign": lambda x: float((x > 0) - (x < 0)), "Max": max, "Min": min,
    "Heaviside": _heaviside, "sec": lambda x: 1 / math.cos(x), "csc": lambda x: 1 / math.sin(x),
    "cot": lambda x: 1 / math.tan(x), "sinh": math.sinh, "cosh": math.cosh, "asin": math.asin,
    "acos": math.acos, "atan": math.atan, "asinh": math.asinh, "acosh": math.acosh, "atanh": math.atanh,
}


def _point_values(inst, point) -> dict:
    out = {}
    for name, m in inst.symbols.items():
        values = [float(f"{float(point[s]):.12g}") for s in m]  # significant digits: 5e-8 is not 0
        if m.rows == 1 and m.cols == 1:
            out[name] = values[0]
        elif m.cols == 1 or m.rows == 1:
            out[name] = values
        else:
            out[name] = [values[i * m.cols:(i + 1) * m.cols] for i in range(m.rows)]
    return out
