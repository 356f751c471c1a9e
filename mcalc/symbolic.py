"""The bridge to SymPy: simplification of the scalar and element-wise parts.

An element-wise expression over vectors of one length is, element by element,
a scalar expression, so SymPy may simplify it with each vector as one
(commutative) symbol.  Everything else (sum, ·, @, ᵀ, diag, comparisons, max)
is an opaque atom whose insides are simplified on their own.  Trees are built
directly as SymPy objects: user text never reaches ``sympify``.

SymPy is imported only when an expression has something worth simplifying.
"""
from __future__ import annotations

from fractions import Fraction

from . import ast as A

MAX_BLOB = 400  # nodes; larger element-wise blobs are left as derived
MAX_POWER = 1000  # numeric powers beyond this stay unexpanded
_ALGEBRAIC = (A.Num, A.Var, A.Add, A.Sub, A.Mul, A.Div, A.Pow, A.Neg)
_SYMPY_FUNCTIONS = ("exp", "ln", "sin", "cos", "tan", "tanh", "sqrt")
_OPAQUE_FUNCTIONS = ("sigmoid", "relu", "abs")


def _in_blob(node: A.Node) -> bool:
    return isinstance(node, _ALGEBRAIC) or (
        isinstance(node, A.Call) and node.fn in _SYMPY_FUNCTIONS + _OPAQUE_FUNCTIONS)


def polish(node: A.Node, alg) -> A.Node:
    """Simplify every element-wise blob of ``node`` that could use it."""
    if not _in_blob(node):
        if not node.children:
            return node
        return node.rebuild(tuple(polish(c, alg) for c in node.children))
    return _Blob(alg).simplify(node)


def _worth(node: A.Node) -> bool:
    """Something SymPy could shorten: a quotient, a power, a function, a
    product over a sum, or a name used twice."""
    seen: set[str] = set()
    stack = [(node, False)]
    count = 0
    while stack:
        n, under_product = stack.pop()
        count += 1
        if count > MAX_BLOB:
            return False
        if isinstance(n, (A.Div, A.Pow)) or (isinstance(n, A.Call) and n.fn in _SYMPY_FUNCTIONS):
            return True
        if isinstance(n, (A.Add, A.Sub)) and under_product:
            return True
        if isinstance(n, A.Var):
            if n.name in seen:
                return True
            seen.add(n.name)
        if not _in_blob(n):
            continue
        product = isinstance(n, (A.Mul, A.Neg))
        stack.extend((c, product) for c in n.children)
    return False


_SIMPLEST: dict = {}  # a SymPy expression, its symbols renamed in order -> its simplest form


def _simplest(expr, sp, indicators=frozenset()):
    """The shortest of expr, its expansion, its common factors pulled out (at the top)
    and its cancelled quotient.  ``indicators`` are symbols that stand for 0/1
    comparisons, so that c² = c.
    The choice is remembered for the expression's shape whatever its names, so
    the layers of a deep network are simplified once; renaming back rebuilds
    the expression, so the result never depends on what came before."""
    symbols = sorted(expr.free_symbols, key=sp.default_sort_key)
    rename = {s: sp.Symbol(f"_p{i}") for i, s in enumerate(symbols)}
    key = (expr.xreplace(rename), frozenset(rename[s] for s in indicators if s in rename))
    best = _SIMPLEST.get(key)
    if best is None:
        e, ones = key

        def idempotent(x):  # (z > 0)² = (z > 0)
            if not ones:
                return x
            return x.replace(lambda t: t.is_Pow and t.base in ones and t.exp.is_Integer and t.exp > 0,
                             lambda t: t.base)

        expanded = idempotent(sp.expand(e))
        candidates = [e, expanded, sp.gcd_terms(e), sp.cancel(e), sp.gcd_terms(expanded)]
        best = min((idempotent(c) for c in candidates), key=lambda c: (sp.count_ops(c), len(str(c))))
        if len(_SIMPLEST) < 4096:
            _SIMPLEST[key] = best
    return best.xreplace({v: k for k, v in rename.items()})


def _relu_argument(node: A.Node) -> A.Node | None:
    """z for max(0, z), max(z, 0) and relu(z)."""
    if isinstance(node, A.Call):
        if node.fn == "relu":
            return node.args[0]
        if node.fn == "max" and node.args[0] == A.ZERO:
            return node.args[1]
        if node.fn == "max" and node.args[1] == A.ZERO:
            return node.args[0]
    return None


def _indicators(blob: A.Node) -> dict[A.Node, A.Node]:
    """The comparisons (z > 0) standing in a blob, by their z."""
    found, stack = {}, [blob]
    while stack:
        n = stack.pop()
        if isinstance(n, A.Compare) and n.op == ">" and n.right == A.ZERO:
            found[n.left] = n
        elif _in_blob(n):
            stack.extend(n.children)
    return found


class _Blob:
    def __init__(self, alg):
        self.alg = alg
        self.indicators: dict[A.Node, A.Node] = {}
        self.atoms: dict[str, A.Node] = {}  # symbol name -> opaque node
        self.by_node: dict[A.Node, str] = {}

    def simplify(self, node: A.Node) -> A.Node:
        inner = self._polish_opaque(node)
        if not _worth(inner):
            return inner
        from .limits import SIMPLIFY_SECONDS, Timeout, time_limit

        try:
            import sympy

            self.indicators = _indicators(inner)
            with time_limit(SIMPLIFY_SECONDS):  # past it, the form as derived
                expr = self.to_sympy(inner, sympy)
                marks = frozenset(sympy.Symbol(self.by_node[c]) for c in self.indicators.values()
                                  if c in self.by_node)
                result = self.from_sympy(_simplest(expr, sympy, marks), sympy)
        except (_Unconvertible, RecursionError, ValueError, TypeError, ZeroDivisionError, Timeout):
            return inner
        want = self.alg.shape(node)
        got = self.alg.shape(result)
        if got != want:
            if got.is_scalar and want.cols == 1:
                return self.alg.mul(result, A.Ones(dim=want.rows))
            return inner
        return result

    def _polish_opaque(self, node: A.Node) -> A.Node:
        if _in_blob(node):
            if not node.children:
                return node
            return node.rebuild(tuple(self._polish_opaque(c) for c in node.children))
        return polish(node, self.alg)

    # -- to SymPy --------------------------------------------------------------
    def to_sympy(self, node: A.Node, sp):
        t = type(node)
        if t is A.Num:
            return sp.Rational(node.value.numerator, node.value.denominator)
        if t is A.Var:
            return sp.Symbol(node.name)
        if t is A.Add:
            return self.to_sympy(node.left, sp) + self.to_sympy(node.right, sp)
        if t is A.Sub:
            return self.to_sympy(node.left, sp) - self.to_sympy(node.right, sp)
        if t is A.Mul:
            return self.to_sympy(node.left, sp) * self.to_sympy(node.right, sp)
        if t is A.Div:
            return self.to_sympy(node.left, sp) / self.to_sympy(node.right, sp)
        if t is A.Pow:
            base, exp = self.to_sympy(node.left, sp), self.to_sympy(node.right, sp)
            if base.is_Number and exp.is_Number and abs(exp) > MAX_POWER:
                return sp.Symbol(self._atom(node))  # 2^(10^10) is not to be expanded
            return base ** exp
        if t is A.Neg:
            return -self.to_sympy(node.arg, sp)
        relu_of = _relu_argument(node)
        if relu_of is not None and relu_of in self.indicators:  # max(0, z) = z (z > 0), exactly
            return self.to_sympy(relu_of, sp) * sp.Symbol(self._atom(self.indicators[relu_of]))
        if t is A.Call and node.fn in _SYMPY_FUNCTIONS:
            fn = {"ln": sp.log}.get(node.fn) or getattr(sp, node.fn)
            return fn(self.to_sympy(node.args[0], sp))
        if t is A.Call and node.fn in _OPAQUE_FUNCTIONS:
            return sp.Function(f"_f_{node.fn}")(self.to_sympy(node.args[0], sp))
        return sp.Symbol(self._atom(node))

    def _atom(self, node: A.Node) -> str:
        if node not in self.by_node:
            name = f"_o{len(self.atoms)}"
            self.by_node[node] = name
            self.atoms[name] = node
        return self.by_node[node]

    # -- back from SymPy ---------------------------------------------------------
    def from_sympy(self, e, sp) -> A.Node:
        if e.is_Integer:
            return A.Num(Fraction(int(e.p)))
        if e.is_Rational:  # kept as a quotient, so the text parses back to the same tree
            num = A.Num(Fraction(abs(int(e.p))))
            out = A.Div(num, A.Num(Fraction(int(e.q))))
            return A.Neg(out) if e.p < 0 else out
        if e.is_Symbol:
            return self.atoms.get(e.name) or A.Var(e.name)
        if e is sp.E:
            return A.Call("exp", (A.ONE,))
        if e.is_Add:
            terms = e.as_ordered_terms()
            terms.sort(key=lambda t: t.could_extract_minus_sign())  # stable: x - y, not -y + x
            out = self.from_sympy(terms[0], sp)
            for t in terms[1:]:
                if t.could_extract_minus_sign():
                    out = A.Sub(out, self.from_sympy(-t, sp))
                else:
                    out = A.Add(out, self.from_sympy(t, sp))
            return out
        if e.is_Mul:
            return self._product(e, sp)
        if e.is_Pow:
            base, exp = e.as_base_exp()
            if exp == sp.Rational(1, 2):
                return A.Call("sqrt", (self.from_sympy(base, sp),))
            if exp.is_Number and exp < 0:
                return A.Div(A.ONE, self.from_sympy(base ** -exp, sp))
            return A.Pow(self.from_sympy(base, sp), self.from_sympy(exp, sp))
        if isinstance(e, sp.Function) or e.is_Function:
            name = type(e).__name__
            fn = {"log": "ln"}.get(name, name)
            if fn.startswith("_f_"):
                fn = fn[3:]
            if fn not in _SYMPY_FUNCTIONS + _OPAQUE_FUNCTIONS or len(e.args) != 1:
                raise _Unconvertible(name)
            return A.Call(fn, (self.from_sympy(e.args[0], sp),))
        raise _Unconvertible(type(e).__name__)

    def _product(self, e, sp) -> A.Node:
        """coefficient × numerator factors / denominator factors, scalars before
        vectors and matrices."""
        coeff, factors = e.as_coeff_mul()
        sign = coeff < 0
        coeff = -coeff if sign else coeff
        numer, denom = [], []
        for f in sp.Mul(*factors).as_ordered_factors() if factors else ():
            base, exp = f.as_base_exp()
            if exp.is_Number and exp < 0:
                denom.append(base ** -exp)
            else:
                numer.append(f)
        nodes = [self.from_sympy(f, sp) for f in numer]
        nodes.sort(key=lambda n: not self.alg.shape(n).is_scalar)  # stable: scalars first
        out = None
        if coeff.p != 1 or not nodes:
            out = A.Num(Fraction(int(coeff.p)))
        for n in nodes:
            out = n if out is None else A.Mul(out, n)
        if coeff.q != 1:
            denom.insert(0, sp.Integer(coeff.q))
        if sign:  # -a*b/c: the sign goes on the first factor
            first = out
            while isinstance(first, A.Mul):
                first = first.left
            out = _replace_first(out, A.Num(-first.value) if isinstance(first, A.Num) else A.Neg(first))
        if denom:
            out = A.Div(out, self.from_sympy(sp.Mul(*denom), sp))
        return out


def _replace_first(node: A.Node, new: A.Node) -> A.Node:
    if isinstance(node, A.Mul):
        return A.Mul(_replace_first(node.left, new), node.right)
    return new


class _Unconvertible(Exception):
    pass
