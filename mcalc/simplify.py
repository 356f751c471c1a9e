"""Simplification of the scalar and element-wise parts of an answer.

An element-wise expression over vectors of one length is, element by element,
a scalar expression, so it is simplified with each vector as one (commutative)
symbol.  Everything else (sum, ·, @, ᵀ, diag, max, comparisons) is an opaque
atom whose insides are simplified on their own.

The canonical form is a sum of terms, each a rational coefficient times a
product of powers: like terms collected, powers of one base combined
(x⁻² · x = x⁻¹), a number distributed over a sum, and a comparison, being 0 or
1, its own square.  mcalc prints the shortest of that form, its expansion, the
form with only its products over sums multiplied out (one level: powers of sums
kept), and each with the common factors of its terms pulled out.  Terms and factors
keep the order in which the derivation produced them (positive terms first,
then scalars, functions, sums), so an answer reads in the order of the
expression: cos(x + x²)(1 + 2x), 2x - 3.

Everything here is exact rational arithmetic over mcalc's own tree: no
dependency is imported, and the cost grows with the size of the blob.
"""
from __future__ import annotations

from fractions import Fraction
from math import gcd, lcm
from operator import is_

from . import ast as A

MAX_BLOB = 20_000  # nodes; larger element-wise blobs are left as derived
MAX_BITS = 64  # nor is a number power whose value would be longer (2^100 stays)
MAX_TERMS = 200  # an expansion to more terms than this is not a candidate
_FUNCTIONS = ("exp", "ln", "sin", "cos", "tan", "tanh", "sqrt", "sigmoid", "relu", "abs", "sign",
              "asin", "acos", "atan", "asinh", "acosh", "atanh", "sinh", "cosh", "softplus")
_ALGEBRAIC = (A.Num, A.Const, A.Var, A.Add, A.Sub, A.Mul, A.Div, A.Pow, A.Neg)
_LEAVES = (A.Num, A.Const, A.Var)
_SIMPLIFIABLE = ("exp", "ln", "sin", "cos", "tan", "tanh", "sqrt", "sinh", "cosh")
_AT_ZERO = {"sin": 0, "cos": 1, "tan": 0, "tanh": 0, "exp": 1, "asin": 0, "atan": 0, "asinh": 0, "atanh": 0,
            "sinh": 0, "cosh": 1}
_ODD = ("sin", "tan", "tanh", "sign", "asin", "atan", "asinh", "atanh", "sinh")
_EVEN = ("cos", "abs", "cosh")
_1 = Fraction(1)
_MINUS_1 = Fraction(-1)
_HALF = Fraction(1, 2)
_PI = A.Const("π")
# sin(mπ) and tan(mπ) where rational, by m modulo 2 and 1; cos(mπ) = sin((m + 1/2)π)
_SIN_AT_PI = {Fraction(k, 6): Fraction(v) for k, v in
              ((0, 0), (1, Fraction(1, 2)), (3, 1), (5, Fraction(1, 2)), (6, 0), (7, Fraction(-1, 2)), (9, -1),
               (11, Fraction(-1, 2)))}
_TAN_AT_PI = {Fraction(0): Fraction(0), Fraction(1, 4): Fraction(1), Fraction(3, 4): Fraction(-1)}


def at_pi(fn: str, m: Fraction) -> Fraction | None:
    """sin, cos or tan of mπ where that is a rational number (sin(π) = 0, cos(2π/3) = -1/2), else None."""
    if fn == "tan":
        return _TAN_AT_PI.get(m % 1)
    return _SIN_AT_PI.get((m + (_HALF if fn == "cos" else 0)) % 2)


_ALGEBRAIC_TYPES = frozenset(_ALGEBRAIC)  # node classes have no subclasses (but Juxtapose's): a type test is isinstance
_FUNCTION_NAMES = frozenset(_FUNCTIONS)


def _in_blob(node: A.Node) -> bool:
    t = type(node)
    return t in _ALGEBRAIC_TYPES or (t is A.Call and node.fn in _FUNCTION_NAMES)


def _worth(node: A.Node) -> bool | str:
    """Something to shorten (a quotient, a power, a function, a product over a
    sum, a name used twice) in a blob of at most MAX_BLOB nodes; _RELU when a
    max(0, z) stands in it."""
    seen: set[str] = set()
    stack = [(node, False)]
    count = 0
    worth = relu = False
    while stack:
        n, under_product = stack.pop()
        count += 1
        if count > MAX_BLOB:
            return False
        t = type(n)  # (node classes have no subclasses here: a type test is isinstance)
        if t is A.Call:
            if _relu_argument(n) is not None:
                relu = worth = True  # max(0, z) may meet its mask (z > 0)
            if n.fn not in _FUNCTION_NAMES:
                continue  # an opaque atom, simplified on its own
        elif t not in _ALGEBRAIC_TYPES:
            continue
        if worth:
            stack.extend([(c, False) for c in n.children])
            continue
        if t is A.Add or t is A.Sub:
            if under_product or _scaled(n.left) and _scaled(n.right):
                worth = True  # a sum to multiply out, or whose terms share a number: 0.5A + 0.5B = (A + B)/2
        elif t is A.Pow:  # x^3 alone is as short as it gets; (x^2)^3, x^-1, 2^3 are not
            worth = not (type(n.left) is A.Var and type(n.right) is A.Num and n.right.value.denominator == 1
                         and n.right.value > 1)
        elif t is A.Div:  # x/y alone is; a quotient among factors moves below the line
            worth = under_product or not (type(n.left) in _LEAVES and type(n.right) in _LEAVES)
        elif t is A.Call:
            if n.fn in _SIMPLIFIABLE:
                worth = type(n.args[0]) is not A.Var  # sin(x) is; sin(0), exp(ln(u)), sqrt(x^2) may not be
        elif t is A.Var:
            worth = n.name in seen
            seen.add(n.name)
        product = t is A.Mul or t is A.Neg
        stack.extend([(c, product) for c in n.children])
    return _RELU if relu else worth


_RELU = "relu"  # worth it, and a max(0, z) stands in the blob


def _scaled(node: A.Node) -> bool:
    """A number times something: 0.5A, -2x."""
    while isinstance(node, A.Neg):
        node = node.arg
    return isinstance(node, (A.Mul, A.Div)) and isinstance(node.left, A.Num)


# -- the canonical form ------------------------------------------------------------
class _Hashed:
    """Equal when the mappings are equal, whatever their order."""

    __slots__ = ("items", "_hash")

    def __init__(self, items: dict):
        self.items = items
        self._hash = None

    def __reduce__(self):  # the hash is not carried over: it takes in the class, which another process hashes anew
        return type(self), (self.items,)

    def __hash__(self) -> int:
        if self._hash is None:
            self._hash = hash((type(self), frozenset(self.items.items())))
        return self._hash

    def __eq__(self, other) -> bool:
        return type(other) is type(self) and hash(self) == hash(other) and self.items == other.items


class Sum(_Hashed):
    """Σ coefficient × product: ``items`` maps each Product to its nonzero Fraction."""

    __slots__ = ()


class Product(_Hashed):
    """Π base^exponent: ``items`` maps each base to its exponent, a nonzero
    Fraction or a Sum.  A base is a variable or opaque node, an Fn, a Sum (of
    several terms, or raised to a fraction) or a Fraction (raised to a power
    that does not evaluate exactly)."""

    __slots__ = ()


class Fn:
    __slots__ = ("name", "arg", "_hash")

    def __init__(self, name: str, arg: Sum):
        self.name, self.arg = name, arg
        self._hash = hash((name, arg))

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other) -> bool:
        return type(other) is Fn and other.name == self.name and other.arg == self.arg

    def __reduce__(self):
        return Fn, (self.name, self.arg)


_NONE = Product({})
ZERO = Sum({})
ONE = Sum({_NONE: _1})
_E = Sum({Product({A.Const("e"): _1}): _1})  # Euler's number


class _TooBig(Exception):
    pass


def number(c: Fraction) -> Sum:
    return Sum({_NONE: c if type(c) is Fraction else Fraction(c)}) if c else ZERO


def atom(base) -> Sum:
    return Sum({Product({base: _1}): _1})


def as_number(s: Sum) -> Fraction | None:
    items = s.items
    if not items:
        return Fraction(0)
    if len(items) == 1 and _NONE in items:
        return items[_NONE]
    return None


def add(a: Sum, b: Sum) -> Sum:
    if not a.items:
        return b
    if not b.items:
        return a
    terms = dict(a.items)
    for p, c in b.items.items():
        _accumulate(terms, p, c)
    return Sum(terms)


def _accumulate(mapping: dict, key, amount) -> None:
    """mapping[key] += amount, dropping the key when it comes to 0: the
    coefficient of a term in a sum, the exponent of a base in a product."""
    if key in mapping:
        amount = _add_exponents(mapping[key], amount)
        if not amount:
            del mapping[key]
            return
    mapping[key] = amount


def scale(s: Sum, c: Fraction) -> Sum:
    if not c:
        return ZERO
    if c == 1:
        return s
    return Sum({p: k * c for p, k in s.items.items()})


def mul(a: Sum, b: Sum) -> Sum:
    ca = as_number(a)
    if ca is not None:
        return scale(b, ca)
    cb = as_number(b)
    if cb is not None:
        return scale(a, cb)
    pa, ka = _as_term(a)
    pb, kb = _as_term(b)
    factors = dict(pa.items)
    for base, e in pb.items.items():
        _accumulate(factors, base, e)
    return _term(ka * kb, factors)


def _as_term(s: Sum) -> tuple[Product, Fraction]:
    if len(s.items) == 1:
        return next(iter(s.items.items()))
    return Product({s: _1}), _1


def _exponent_sum(e) -> Sum:
    return number(e) if type(e) is Fraction else e


def _exponent(s: Sum):
    """A Sum exponent as a Fraction when it is a number (0 when it vanishes)."""
    c = as_number(s)
    return s if c is None else c


def _add_exponents(e1, e2):
    if type(e1) is Fraction and type(e2) is Fraction:
        return e1 + e2
    return _exponent(add(_exponent_sum(e1), _exponent_sum(e2)))


def _term(coeff: Fraction, factors: dict) -> Sum:
    """coeff × Π factors in canonical form: numbers evaluated where exact, a
    comparison's powers 1, a sum raised to an integer power primitive (its
    numeric content moved into the coefficient: 1/(5a + 5) = 1/5 · 1/(a + 1)),
    and a number times a lone sum distributed."""
    if not coeff:
        return ZERO
    clean: dict = {}
    for base, e in factors.items():
        if type(e) is Fraction:
            if isinstance(base, A.Compare) and e > 0 and e.denominator == 1:
                e = _1  # a comparison is 0 or 1: c² = c
            elif type(base) is Fraction:
                value = _number_power(base, e)
                if value is not None:
                    coeff *= value
                    continue
            elif type(base) is Sum and e.denominator == 1 and len(base.items) > 1:
                content = _content(base)
                factor = _number_power(content, e) if content != 1 else None
                if factor is not None:
                    coeff *= factor
                    base = scale(base, 1 / content)
        _accumulate(clean, base, e)
    if not coeff:
        return ZERO
    for base, e in clean.items():  # sign(a)|a|ᵏ = aᵏ for odd k (|a|⁻¹ implies a ≠ 0)
        if type(base) is Fn and base.name == "sign" and e == 1:
            other = Fn("abs", base.arg)
            k = clean.get(other)
            if type(k) is Fraction and k.denominator == 1 and k.numerator % 2:
                rest = {b: x for b, x in clean.items() if b != base and b != other}
                return mul(_term(coeff, rest), power(base.arg, number(k)))
    if len(clean) == 1:  # c·(a + b) = ca + cb
        base, e = next(iter(clean.items()))
        if type(base) is Sum and e == 1:
            return scale(base, coeff)
    return Sum({Product(clean): coeff})


def _content(s: Sum) -> Fraction:
    """The rational that divides every coefficient of ``s`` to coprime
    integers; negative when every coefficient is."""
    coeffs = s.items.values()
    content = Fraction(gcd(*(c.numerator for c in coeffs)), lcm(*(c.denominator for c in coeffs)))
    return -content if all(c < 0 for c in coeffs) else content


def _number_power(c: Fraction, e: Fraction) -> Fraction | None:
    """c^e when it is a rational number of sensible size, else None."""
    if e.denominator == 1:
        k = e.numerator
        size = max(abs(c.numerator), c.denominator).bit_length() - 1  # 0 for 0, 1 and -1
        if size * abs(k) > MAX_BITS:
            return None
        if not c and k < 0:
            raise ZeroDivisionError("0 to a negative power")
        return c ** k
    if c <= 0:
        return None
    root = e.denominator
    p, q = _exact_root(c.numerator, root), _exact_root(c.denominator, root)
    if p is None or q is None:
        return None
    return _number_power(Fraction(p, q), Fraction(e.numerator))


def _exact_root(n: int, k: int) -> int | None:
    """The k-th root of n when it is a whole number (n of at most MAX_BITS bits)."""
    if n.bit_length() > MAX_BITS:
        return None
    r = round(n ** (1 / k))
    for guess in (r - 1, r, r + 1):
        if guess >= 0 and guess ** k == n:
            return guess
    return None


def power(a: Sum, e: Sum) -> Sum:
    k = as_number(e)
    if k == 0:
        return ONE
    if k == 1:
        return a
    exp = e if k is None else k
    c = as_number(a)
    if c is not None:
        if c == 1:
            return ONE
        if k is not None:
            value = _number_power(c, k)
            if value is not None:
                return number(value)
        return _term(_1, {c: exp})
    if len(a.items) == 1:
        p, coeff = next(iter(a.items.items()))
        if k is not None and k.denominator == 1:  # (c·Πbᵉ)ᵏ = cᵏ·Πbᵉᵏ
            factors = {b: _times(x, k) for b, x in p.items.items()}
            ck = _number_power(coeff, k)
            if ck is None:  # a coefficient too large to raise stays a power: (±c)ᵏ = (±1)ᵏ cᵏ
                ck = _MINUS_1 if coeff < 0 and k.numerator % 2 else _1
                _accumulate(factors, abs(coeff), k)
            return _term(ck, factors)
        elif coeff == 1 and len(p.items) == 1:
            base, x = next(iter(p.items.items()))
            if x == 1:
                return _term(_1, {base: exp})
        elif coeff > 0 and coeff != 1 and k is not None:  # (4x)^(1/2) = 2·x^(1/2); (x²y²)^(1/2) stays
            ck = _number_power(coeff, k)
            if ck is not None:
                return scale(power(Sum({p: _1}), e), ck)
    return _term(_1, {a: exp})


def _times(x, k: Fraction):
    return x * k if type(x) is Fraction else _exponent(scale(x, k))


_INVERSES = {"ln": "exp", "exp": "ln"}


def _inside(a: Sum, fn: str) -> Sum | None:
    """u where ``a`` is fn(u) alone (coefficient and power 1), else None."""
    if len(a.items) != 1:
        return None
    p, coeff = next(iter(a.items.items()))
    if coeff != 1 or len(p.items) != 1:
        return None
    base, x = next(iter(p.items.items()))
    return base.arg if type(base) is Fn and base.name == fn and x == 1 else None


def call(fn: str, a: Sum) -> Sum:
    if fn == "sqrt":
        return power(a, number(_HALF))
    c = as_number(a)
    if c == 0 and fn in _AT_ZERO:
        return number(Fraction(_AT_ZERO[fn]))
    if fn == "ln" and c == 1:
        return ZERO
    if fn == "ln" and a == _E:  # ln(e) = 1
        return ONE
    if fn in _INVERSES:  # ln(exp(u)) = u (u real), exp(ln(u)) = u
        inner = _inside(a, _INVERSES[fn])
        if inner is not None:
            return inner
    if (fn == "sin" or fn == "cos" or fn == "tan") and len(a.items) == 1:  # sin(π) = 0, tan(π/4) = 1
        p, m = next(iter(a.items.items()))
        if len(p.items) == 1 and p.items.get(_PI) == 1:
            value = at_pi(fn, m)
            if value is not None:
                return number(value)
    if (fn in _ODD or fn in _EVEN) and a.items and all(k < 0 for k in a.items.values()):
        inner = call(fn, scale(a, _MINUS_1))  # sin(-x) = -sin(x), cos(-x) = cos(x)
        return scale(inner, _MINUS_1) if fn in _ODD else inner
    return atom(Fn(fn, a))


# -- candidates ----------------------------------------------------------------------
def expand(s: Sum) -> Sum:
    """Every product over a sum multiplied out, inside functions too.  A sum
    is multiplied into the rest of its term one term at a time, so that powers
    of one base meet and cancel: σ(1 - σ)((1 - y)/(1 - σ) - y/σ) = σ - y."""
    return _Expansion().sum(s)


def _expandable(s: Sum) -> bool:
    """Whether a product over a sum stands anywhere in ``s``."""
    for p in s.items:
        for base, e in p.items.items():
            if type(base) is Sum:
                if type(e) is Fraction and e > 0 and e.denominator == 1 or _expandable(base):
                    return True
            elif type(base) is Fn and _expandable(base.arg):
                return True
    return False


class _Expansion:
    def __init__(self):
        self.budget = 20 * MAX_TERMS

    def sum(self, s: Sum) -> Sum:
        out = ZERO
        for p, c in s.items.items():
            out = add(out, self.term(p, c))
            if len(out.items) > MAX_TERMS:
                raise _TooBig()
        return out

    def term(self, p: Product, c: Fraction) -> Sum:
        self.budget -= 1
        if self.budget < 0:
            raise _TooBig()
        if any(type(base) is Fn for base in p.items):
            t = number(c)
            for base, e in p.items.items():
                f = call(base.name, self.sum(base.arg)) if type(base) is Fn else _base_sum(base)
                t = mul(t, power(f, _exponent_sum(e)))
            if len(t.items) != 1:
                return self.sum(t)
            p, c = next(iter(t.items.items()))
            if not any(type(base) is Sum for base in p.items):
                return t
        sums = [b for b, e in p.items.items()
                if type(b) is Sum and type(e) is Fraction and e.denominator == 1 and e > 0]
        if any(p.items[b] >= MAX_TERMS for b in sums):
            raise _TooBig()  # (a + b)^k has k + 1 terms
        if not sums:
            return Sum({p: c})
        # first the sum with quotients in its terms: they may cancel against the rest
        chosen = max(sums, key=lambda b: any(type(x) is Fraction and x < 0 for q in b.items for x in q.items.values()))
        rest = dict(p.items)
        rest[chosen] -= 1
        if not rest[chosen]:
            del rest[chosen]
        out = ZERO
        for q, k in chosen.items.items():
            out = add(out, self.sum(mul(_term(c, rest), Sum({q: k}))))
            if len(out.items) > MAX_TERMS:
                raise _TooBig()
        return out


def _distributed(s: Sum) -> Sum | None:
    """Each product over a sum (to the first power) multiplied out, one level deep, and
    like terms collected; powers of sums and the insides of functions kept: δ(u² - 1) +
    2δu² is 3δu² - δ, where expanding would multiply out u = (w·x + b) as well.  None
    where no term has such a product."""
    out, changed = ZERO, False
    for p, c in s.items.items():
        sums = [b for b, e in p.items.items() if type(b) is Sum and type(e) is Fraction and e == 1]
        if not sums:
            out = add(out, Sum({p: c}))
            continue
        changed = True
        t = _term(c, {b: e for b, e in p.items.items() if b not in sums})
        for b in sums:
            spread = ZERO
            for q1, c1 in t.items.items():
                for q2, c2 in b.items.items():
                    spread = add(spread, mul(Sum({q1: c1}), Sum({q2: c2})))
            if len(spread.items) > MAX_TERMS:
                raise _TooBig()
            t = spread
        out = add(out, t)
    return out if changed else None


def _base_sum(base) -> Sum:
    if type(base) is Sum:
        return base
    if type(base) is Fraction:
        return number(base)
    return atom(base)


def pull_common(s: Sum) -> tuple[Fraction, dict, Sum] | None:
    """content × common factors × the rest: 2ab + 2ac = 2a(b + c), or None."""
    if len(s.items) < 2:
        return None
    content = _content(s)
    common = None
    for p in s.items:
        f = p.items
        if common is None:
            common = {b: e for b, e in f.items() if type(e) is Fraction}
            continue
        common = {b: min(e, f[b]) for b, e in common.items()  # 1/x + 1/x² = (x + 1)/x²
                  if type(f.get(b)) is Fraction and (e > 0) == (f[b] > 0)}
    if content == 1 and not common:
        return None
    rest = ZERO
    for p, c in s.items.items():
        left = {}
        for b, e in p.items.items():
            if b in common:
                e = e - common[b]
                if not e:
                    continue
            left[b] = e
        rest = add(rest, _term(c / content, left))  # canonical: (x - 1) + (x + 1) is 2x
    return content, common, rest


# -- in and out of the tree -------------------------------------------------------------
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


_NEG_ONE = number(_MINUS_1)


class Simplifier:
    """Simplifies the element-wise blobs of one derivation's expressions,
    remembering each blob's simplest form and which atoms are scalars."""

    def __init__(self, alg):
        self.alg = alg
        self.indicators: dict[A.Node, A.Node] = {}
        self._scalar: dict = {}
        self._done: dict[A.Node, A.Node] = {}
        self._nodes: dict = {}  # base -> its tree
        # the decimals the function is written with, and those of them it adds to something (x + 1e-8)
        self._written: tuple[frozenset[Fraction], frozenset[Fraction]] | None = None

    def polish(self, node: A.Node) -> A.Node:
        """``node`` with every element-wise blob that could use it simplified."""
        if not _in_blob(node):
            if type(node) is A.Dot:
                return self._dot(node)
            return _rebuilt(node, self.polish)
        done = self._done.get(node)
        if done is None:
            done = self._done[node] = self._simplify(node)
        return done

    def _simplify(self, node: A.Node) -> A.Node:
        inner = self._polish_opaque(node)
        worth = _worth(inner)
        if not worth:
            return inner
        self.indicators = _indicators(inner) if worth is _RELU else {}
        try:
            canon = self._softmaxes(self.canonical(inner))
            result = self.shortest(canon)
        except (_TooBig, RecursionError, ZeroDivisionError):
            return inner
        if result == inner:
            return inner  # the same object: the caller sees that nothing changed
        want = self.alg.shape(node)
        if not want.is_scalar and (result == A.ZERO or self._is_scalar(canon)):
            # x - x = 0, w ⊘ w = 1: still a vector (or a matrix) of that shape
            if result == A.ZERO:
                return A.Zero(want.rows, want.cols)
            return self.alg.mul(result, self.alg._ones_like(node)) if self._is_scalar(canon) else inner
        return result

    def _dot(self, node: A.Dot) -> A.Node:
        """a · b of two element-wise expressions as sum(a ⊗ b), where that reads shorter (the
        simplifier's own measure, _cost): the cross-entropy's derivative by its bias,
        ((1 - y) ⊘ (1 - σ(z)) - y ⊘ σ(z)) · (σ(z) ⊗ (1 - σ(z))), is sum(σ(z) - y)."""
        out = _rebuilt(node, self.polish)
        if type(out) is not A.Dot or not (_in_blob(out.left) and _in_blob(out.right)):
            return out
        left, right = out.left, out.right
        if not (self.alg.shape(left).is_col and self.alg.shape(right).is_col):
            return out
        total = self.alg.sum(self.polish(A.Mul(left, right)))
        return total if _cost(total) < _cost(out) else out

    def _polish_opaque(self, node: A.Node) -> A.Node:
        if _in_blob(node):
            return _rebuilt(node, self._polish_opaque)
        return self.polish(node)

    def canonical(self, node: A.Node) -> Sum:
        t = type(node)
        if t is A.Num:
            return number(node.value)
        if t is A.Var or t is A.Const:
            return atom(node)
        if t is A.Add or t is A.Sub:
            return self._sum(node)
        if t is A.Mul:
            return self._product(node)
        if t is A.Div:
            return mul(self.canonical(node.left), power(self.canonical(node.right), _NEG_ONE))
        if t is A.Pow:
            return power(self.canonical(node.left), self.canonical(node.right))
        if t is A.Neg:
            return scale(self.canonical(node.arg), _MINUS_1)
        relu_of = _relu_argument(node)
        if relu_of is not None and relu_of in self.indicators:  # max(0, z) = z (z > 0), exactly
            return mul(self.canonical(relu_of), atom(self.indicators[relu_of]))
        if t is A.Call and node.fn in _FUNCTIONS:
            return call(node.fn, self.canonical(node.args[0]))
        return atom(node)

    def _softmaxes(self, s: Sum) -> Sum:
        """exp(z) ⊘ sum(exp(z)) = softmax(z) (and its transpose), in every term."""
        if not any(type(b) is A.Call and b.fn == "sum" and type(b.args[0]) is A.Call and b.args[0].fn == "exp"
                   for p in s.items for b in p.items):
            return s
        out = ZERO
        for p, c in s.items.items():
            factors = dict(p.items)
            for base, e in p.items.items():
                if not (type(base) is A.Call and base.fn == "sum" and e == -1 and type(base.args[0]) is A.Call
                        and base.args[0].fn == "exp"):
                    continue
                z = base.args[0].args[0]
                column, row = Fn("exp", self.canonical(z)), A.Transpose(base.args[0])
                top = column if factors.get(column) == 1 else row if factors.get(row) == 1 else None
                if top is not None and base in factors and self.alg.shape(z).is_col:
                    del factors[base], factors[top]
                    softmax = A.Call("softmax", (z,))
                    _accumulate(factors, softmax if top is column else A.Transpose(softmax), _1)
            out = add(out, _term(c, factors))
        return out

    def _product(self, node: A.Node) -> Sum:
        """a·b·c·…: the factors of a chain gathered into one mapping (a long
        product costs its length, not its length squared)."""
        parts = []
        stack = [node]
        while stack:
            n = stack.pop()
            if type(n) is A.Mul:
                stack.append(n.right)
                stack.append(n.left)
            else:
                parts.append(n)
        coeff, factors = _1, {}
        for part in parts:
            s = self.canonical(part)
            c = as_number(s)
            if c is not None:
                coeff *= c
                continue
            p, k = _as_term(s)
            coeff *= k
            for base, e in p.items.items():
                _accumulate(factors, base, e)
        return _term(coeff, factors) if factors else number(coeff)

    def _sum(self, node: A.Node) -> Sum:
        """a + b - c + …: the summands of a chain gathered into one mapping, so a
        long sum costs its length, not its length squared."""
        parts = []
        while type(node) is A.Add or type(node) is A.Sub:
            parts.append((node.right, type(node) is A.Sub))
            node = node.left
        parts.append((node, False))
        terms: dict = {}
        for part, minus in reversed(parts):
            for p, c in self.canonical(part).items.items():
                _accumulate(terms, p, -c if minus else c)
        return Sum(terms)

    def shortest(self, s: Sum) -> A.Node:
        """The shortest of the canonical form, its expansion, its products over sums
        multiplied out one level, and each with its common factors pulled out (the
        first of equals)."""
        candidates = [self.node(s)]
        forms = [s]
        if _expandable(s):
            try:
                expanded = expand(s)
                if expanded != s:
                    forms.append(expanded)
                    candidates.append(self.node(expanded))
            except (_TooBig, RecursionError):
                expanded = None
            try:
                distributed = _distributed(s)
            except _TooBig:
                distributed = None
            if distributed is not None and distributed != s and distributed != expanded:
                forms.append(distributed)
                candidates.append(self.node(distributed))
        for form in forms:
            pulled = pull_common(form)
            if pulled is not None:
                content, common, rest = pulled
                if len(rest.items) == 1:  # the terms met: 999(x+1)⁹⁹⁸(x-1)⁹⁹⁸ · 2x
                    candidates.append(self.node(mul(_term(content, dict(common)), rest)))
                elif rest not in common:
                    candidates.append(self._term(Product({**common, rest: _1}), content))
                    if content.denominator != 1 and common and self._decimals():  # σ(1.702x)(1 + 1.702x(1 -
                        whole = scale(rest, content)  # σ(1.702x))), decimals left in: not σ(…)(500 + 851x(…))/500
                        if whole not in common:
                            candidates.append(self._term(Product({**common, whole: _1}), _1))
        return min(candidates, key=_cost)

    # -- back to the tree --------------------------------------------------------------
    def node(self, s: Sum) -> A.Node:
        if not s.items:
            return A.ZERO
        terms = sorted(s.items.items(), key=_polynomial_order(s) or (lambda pc: pc[1] < 0))  # (x - y, not -y + x)
        out = None
        for p, c in terms:
            if out is None:
                out = self._term(p, c)
            elif c < 0:
                out = A.Sub(out, self._term(p, -c))
            else:
                out = A.Add(out, self._term(p, c))
        return out

    def _term(self, p: Product, c: Fraction) -> A.Node:
        """coefficient × numerator factors / denominator factors."""
        numer, denom = [], []
        items = p.items
        if any(type(b) is Sum and type(e) is Fraction for b, e in items.items()) and self._written_numbers()[1]:
            items, c = self._as_written(items, c)
        for base, e in items.items():
            if type(e) is Fraction and e < 0:
                denom.append((base, -e))
            else:
                numer.append((base, e))
        numer.sort(key=self._order)
        denom.sort(key=self._order)
        sign = c < 0
        c = -c if sign else c
        out = None
        if c.denominator != 1 and A.terminating(c) and (c.denominator > 1000 or self._decimals()):
            out, c = A.Num(c), Fraction(1)  # 1.00001x, not 100001x/100000; 1.702x, as written, not 851x/500
        elif c.numerator != 1 or not numer:
            out = A.Num(Fraction(c.numerator))
        for base, e in numer:
            f = self._power(base, e)
            out = f if out is None else A.Mul(out, f)
        if sign:  # -a*b/c: the sign goes on the first factor
            out = _negate_first(out)
        below = [A.Num(Fraction(c.denominator))] if c.denominator != 1 else []
        below += [self._power(base, e) for base, e in denom]
        if below:
            den = below[0]
            for f in below[1:]:
                den = A.Mul(den, f)
            out = A.Div(out, den)
        return out

    def _decimals(self) -> frozenset[Fraction]:
        """The decimals the function is written with.  Where it has any, the coefficients that are
        decimals print as decimals (0.5A + 0.5Aᵀ + 0.2I for 0.5xᵀAx + 0.1‖x‖², each number as
        the function writes its numbers); else as quotients (x²/2 for x³/6), as the paper does.
        (A Hessian's are its function's, not those its gradient's answer prints.)"""
        return self._written_numbers()[0]

    def _written_numbers(self) -> tuple[frozenset[Fraction], frozenset[Fraction]]:
        """The decimals the function is written with, and those it adds (_written_decimals)."""
        if self._written is None:
            typing = self.alg.typing
            self._written = _written_decimals(typing.numbers_of or typing.program)
        return self._written

    def _as_written(self, items: dict, c: Fraction) -> tuple[dict, Fraction]:
        """A sum raised to a whole power with the number the function adds to it as written:
        the canonical form keeps such a sum primitive (1/(x + 1e-8) is
        100000000/(100000000x + 1)), so it is scaled back to whole coefficients and a
        written decimal for its number (the scale moved into the coefficient):
        ln(x + 1e-8)′ is 1/(x + 1e-8), and (yᵀWz)² + 2 stays as it is."""
        added = self._written_numbers()[1]
        out = {}
        for base, e in items.items():
            if type(base) is Sum and type(e) is Fraction and e.denominator == 1 and len(base.items) > 1:
                scaled = _scaled_to_written(base, added)
                if scaled is not None and scaled[1] not in items and scaled[1] not in out:
                    k, base = scaled
                    c = c * k ** e
            out[base] = e
        return out, c

    def _order(self, factor) -> tuple[int, int]:
        """Scalars before vectors; then names, other atoms, functions, sums."""
        base = factor[0]
        scalar = 0 if self._atom_is_scalar(base) else 1
        if type(base) is Fraction:
            return (0, -1)  # 3¹⁰⁰ before x
        if type(base) is Fn:
            return (scalar, 2)
        if type(base) is Sum:
            return (scalar, 3)
        return (scalar, 0 if type(base) is A.Var else 1)

    def _atom_is_scalar(self, base) -> bool:
        scalar = self._scalar.get(base)
        if scalar is None:
            if type(base) is Fn:
                scalar = self._is_scalar(base.arg)
            elif type(base) is Sum:
                scalar = self._is_scalar(base)
            else:
                scalar = type(base) is Fraction or self.alg.shape(base).is_scalar
            self._scalar[base] = scalar
        return scalar

    def _is_scalar(self, s: Sum) -> bool:
        return all(self._atom_is_scalar(b) for p in s.items for b in p.items)

    def _power(self, base, e) -> A.Node:
        b = self._nodes.get(base)
        if b is None:  # each base is written once, however many candidates use it
            if type(base) is Fraction:
                b = _number_node(base)
            elif type(base) is Fn:
                b = A.Call(base.name, (self.node(base.arg),))
            elif type(base) is Sum:
                b = self.node(base)
            else:
                b = base
            self._nodes[base] = b
        if type(e) is not Fraction:
            return A.Pow(b, self.node(e))
        if e == 1:
            return b
        if e == _HALF:
            return A.Call("sqrt", (b,))
        return A.Pow(b, _number_node(e))


def _polynomial_order(s: Sum):
    """For a polynomial in one variable of three terms or more, its terms by falling powers
    (3x² - 4x + 5, as it is written; its collected terms come in the order they were met,
    5 + 3x² - 4x); else None."""
    if len(s.items) < 3:
        return None
    base = None
    for p in s.items:
        if not p.items:
            continue
        if len(p.items) != 1:
            return None
        (b, e), = p.items.items()
        if type(b) is not A.Var or type(e) is not Fraction or e.denominator != 1 or base not in (None, b):
            return None
        base = b
    return lambda pc: -(next(iter(pc[0].items.values())) if pc[0].items else 0)


def _rebuilt(node: A.Node, fn) -> A.Node:
    """``node`` over ``fn`` of its children: the same node when nothing changed."""
    children = node.children
    if not children:
        return node
    new = tuple([fn(c) for c in children])
    if all(map(is_, new, children)):
        return node
    return node.rebuild(new)


def _number_node(c: Fraction) -> A.Node:
    """A rational number as a quotient, so that the text parses back to the same tree."""
    out = A.Num(Fraction(abs(c.numerator)))
    if c.denominator != 1:
        out = A.Div(out, A.Num(Fraction(c.denominator)))
    return A.Neg(out) if c < 0 else out


def _negate_first(node: A.Node) -> A.Node:
    if isinstance(node, A.Mul):
        return A.Mul(_negate_first(node.left), node.right)
    return A.Num(-node.value) if isinstance(node, A.Num) else A.Neg(node)


def _scaled_to_written(s: Sum, added: frozenset[Fraction]) -> tuple[Fraction, Sum] | None:
    """(k, s/k) for a whole k where s/k has whole coefficients and for its number one the
    function adds as written (x + 1e-8 for 100000000x + 1, not 0.5x² + 1 for x² + 2, nor
    2x + 0.5 for 4x + 1 where 0.5 multiplies); else None (a sum whose number is not whole
    is as written already: x + 1e-8)."""
    constant = next((v for q, v in s.items.items() if not q.items), None)
    if constant is None or constant.denominator != 1:
        return None
    for w in sorted(added):  # (in order: the same answer every time)
        k = abs(constant) / w
        if k.denominator == 1 and k != 1 and all((v / k).denominator == 1 for q, v in s.items.items() if q.items):
            return k, Sum({q: v / k for q, v in s.items.items()})
    return None


def _written_decimals(program: A.Program | None) -> tuple[frozenset[Fraction], frozenset[Fraction]]:
    """The sizes of the numbers written as decimals in the program (0.05, -1.702, 2.5e-3, 10^(-8)),
    and of those of them it adds to something (x + 1e-8, 0.5 - x)."""
    if program is None:
        return frozenset(), frozenset()
    found, added, seen, stack = set(), set(), set(), [program.body, *[d for _, d in program.definitions]]
    while stack:  # (each shared part once: a Hessian's program is a gradient, with shared parts)
        n = stack.pop()
        value = _decimal(n)
        if value is not None:
            found.add(value)
        elif n.children and id(n) not in seen:
            seen.add(id(n))
            stack.extend(n.children)
            if type(n) is A.Add or type(n) is A.Sub:
                added.update(v for v in map(_decimal, n.children) if v is not None)
    return frozenset(found), frozenset(added)


def _decimal(n: A.Node) -> Fraction | None:
    """The size of a number written as a decimal (0.05, 10^(-8), a paper's 10^{-8}), else None."""
    if type(n) is A.Num:
        return abs(n.value) if n.value.denominator != 1 else None
    if type(n) is A.Pow and type(n.left) is A.Num and n.left.value == 10 and type(n.right) is A.Num and \
            n.right.value < 0 and n.right.value.denominator == 1 and n.right.value > -400:
        return Fraction(1, 10 ** -n.right.value.numerator)
    return None


def _cost(node: A.Node) -> tuple[int, int]:
    """Operations, then nodes and name lengths."""
    ops = size = 0
    stack = [node]
    while stack:
        n = stack.pop()
        children = n.children
        if children:
            ops += 1
            size += 1
            stack.extend(children)
        else:
            size += len(n.name) if type(n) is A.Var else 1
    return ops, size
