"""mcalc's small algebra of structured Jacobians: I, diag(v), 𝟏, 𝟏ᵀ, rows,
Kronecker products, commutation matrices, dense matrices, and the
element-wise expressions inside them.

Every constructor simplifies as it builds, with the identities the paper uses:

    𝟏ᵀ diag(x) = xᵀ          diag(a) diag(b) = diag(a ⊗ b)      I A = A
    diag(v) 𝟏 = v            𝟏ᵀ c = sum(c)                      aᵀ c = a · c
    diag(a) + diag(b) = diag(a + b)                            (Aᵀ)ᵀ = A

and, for derivatives that involve matrices, the vec identities that carry a
gradient through a step (Magnus & Neudecker; vec stacks columns):

    vec(G)ᵀ kron(B, A) = vec(AᵀGB)ᵀ      kron(A, B) kron(C, D) = kron(AC, BD)
    vec(G)ᵀ K = vec(Gᵀ)ᵀ                 vec(G)ᵀ diag(vec(V)) = vec(G ⊗ V)ᵀ
    M kron(bᵀ, C) = kron(bᵀ, MC)

A Jacobian is an AST node whose shape (numerator layout) is known: rows =
outputs, columns = variables, each laid flat (vec) when it is a matrix.  A
product is kept as a scalar coefficient times a chain of non-scalar factors,
reduced pair by pair.
"""
from __future__ import annotations

from fractions import Fraction
from operator import is_

from . import ast as A
from .shapes import Shape, Typing, dim_mul

_FOLD_LIMIT = 10**12  # constant folding stops before numbers grow huge


def _is_num(node, value=None) -> bool:
    return type(node) is A.Num and (value is None or node.value == value)


def _negative(node: A.Node) -> bool:
    """A term written with a leading minus: -a, -2x, a negative number."""
    t = type(node)
    return t is A.Neg or t is A.Num and node.value < 0 or t is A.Mul and type(node.left) is A.Num and \
        node.left.value < 0


def _small(value: Fraction) -> bool:
    """Fold only to modest numbers that print exactly as decimals (so the
    printed answer parses back to the same tree: 1/3 stays a quotient)."""
    d = value.denominator
    if d == 1:
        return -_FOLD_LIMIT < value.numerator < _FOLD_LIMIT
    return A.terminating(value) and abs(value.numerator) < _FOLD_LIMIT and d < _FOLD_LIMIT


_LONG = 8  # factors: a shorter product is joined as any other (copying it costs less than the bookkeeping)


class _Factors:
    """A product's factors: the first ``n`` of a list that the products built on it
    extend in place.  The chain rule's products grow at their right end, one step
    per intermediate, so they share one list instead of each copying it (k² in all
    for a k-layer network); one that grows another way from a shared prefix copies."""

    __slots__ = ("base", "n")

    def __init__(self, base: list[A.Node], n: int):
        self.base, self.n = base, n

    def __reduce__(self):  # (pickled by every protocol: 0 and 1 refuse __slots__ without it)
        return _Factors, (self.base[:self.n], self.n)

    def list(self) -> list[A.Node]:
        return self.base[:self.n]

    def extended(self, keep: int, tail: list[A.Node]) -> _Factors:
        """The first ``keep`` of these factors, then ``tail``."""
        base = self.base
        if keep == len(base):  # nothing stands after them yet: the list grows
            base.extend(tail)
            return _Factors(base, len(base))
        return _Factors(base[:keep] + tail, keep + len(tail))


class Algebra:
    """Smart constructors over one program's shapes."""

    def __init__(self, typing: Typing):
        self.typing = typing
        # node id -> (node, coefficient, factors, chain): products built here are not taken apart again
        self._factored: dict[int, tuple[A.Node, A.Node, _Factors, A.Node]] = {}
        self.identities: set[str] = set()  # the vec identities the products used, to name in the trace
        self.shape = typing.shape  # the shape of a node (called often: bound once, not through a method)

    # -- element-wise and scalar expressions ---------------------------------
    def zero_like(self, shape: Shape) -> A.Node:
        return A.ZERO if shape.is_scalar else A.Zero(rows=shape.rows, cols=shape.cols)

    def is_zero(self, node: A.Node) -> bool:
        t = type(node)
        return t is A.Zero or t is A.Num and not node.value

    def neg(self, a: A.Node) -> A.Node:
        if isinstance(a, A.Num):
            return A.Num(-a.value)
        if isinstance(a, A.Zero):
            return a
        if isinstance(a, A.Neg):
            return a.arg
        if isinstance(a, (A.Mul, A.Div)) and not isinstance(a.left, A.Ones):
            return type(a)(self.neg(a.left), a.right)  # the sign goes on the first factor: -a*b, -a/b
        if isinstance(a, A.VecLit):
            return self._veclit(a, tuple(self.neg(x) for x in a.items))
        return A.Neg(a)

    def _veclit(self, like: A.VecLit, items: tuple[A.Node, ...]) -> A.VecLit:
        """A column of entries shaped like ``like`` (its shape known, not checked again)."""
        node = A.VecLit(items)
        self.typing.remember(node, self.shape(like))
        return node

    def add(self, a: A.Node, b: A.Node) -> A.Node:
        if a is A.ZERO and self._covers(b, a):  # the common case first: a sparse column's zeros
            return b
        if b is A.ZERO and self._covers(a, b):
            return a
        if isinstance(a, A.Num) and isinstance(b, A.Num) and _small(a.value + b.value):
            return A.Num(a.value + b.value)
        if self.is_zero(a) and self._covers(b, a):
            return b
        if self.is_zero(b) and self._covers(a, b):
            return a
        if isinstance(a, A.VecLit) and isinstance(b, A.VecLit) and len(a.items) == len(b.items):
            return self._veclit(a, tuple(y if x is A.ZERO else x if y is A.ZERO else self.add(x, y)
                                         for x, y in zip(a.items, b.items)))  # entries are scalars
        if isinstance(b, A.Neg):
            return self.sub(a, b.arg)
        if isinstance(b, A.Mul) and isinstance(b.left, A.Neg) and self.shape(b.left).is_scalar:
            return self.sub(a, self.mul(b.left.arg, b.right))  # a + (-c)v = a - cv
        if isinstance(a, A.Neg) and not isinstance(b, A.Num):  # -a + b = b - a
            return self.sub(b, a.arg)
        if type(b) is not A.Num and not _negative(b):  # -1 + 2x = 2x - 1, -2x + 1 = 1 - 2x: a positive
            if type(a) is A.Num and a.value < 0:       # term first, as the simplifier writes a sum
                return self.sub(b, A.Num(-a.value))
            if type(a) is A.Mul and type(a.left) is A.Num and a.left.value < 0:
                return self.sub(b, self.mul(A.Num(-a.left.value), a.right))
        if isinstance(b, A.Num) and b.value < 0:
            return self.sub(a, A.Num(-b.value))
        if a == b:
            return self.mul(A.num(2), a)
        if isinstance(a, A.Transpose) and isinstance(b, A.Transpose):  # aᵀ + bᵀ = (a + b)ᵀ
            return self.transpose(self.add(a.arg, b.arg))
        if isinstance(a, A.Vec) and isinstance(b, A.Vec):  # vec(A) + vec(B) = vec(A + B)
            return self.vec(self.add(a.arg, b.arg))
        return A.Add(a, b)

    def sub(self, a: A.Node, b: A.Node) -> A.Node:
        if isinstance(a, A.Num) and isinstance(b, A.Num) and _small(a.value - b.value):
            return A.Num(a.value - b.value)
        if self.is_zero(b) and self._covers(a, b):
            return a
        if self.is_zero(a) and self._covers(b, a):
            return self.neg(b)
        if a == b:
            return self.zero_like(self.shape(a))
        if isinstance(a, A.VecLit) and isinstance(b, A.VecLit) and len(a.items) == len(b.items):
            return self._veclit(a, tuple(self.sub(x, y) for x, y in zip(a.items, b.items)))
        if isinstance(b, A.Neg):
            return self.add(a, b.arg)
        if isinstance(b, A.Mul) and isinstance(b.left, A.Neg) and self.shape(b.left).is_scalar:
            return self.add(a, self.mul(b.left.arg, b.right))  # a - (-c)v = a + cv
        if isinstance(a, A.Transpose) and isinstance(b, A.Transpose):  # aᵀ - bᵀ = (a - b)ᵀ
            return self.transpose(self.sub(a.arg, b.arg))
        if isinstance(a, A.Vec) and isinstance(b, A.Vec):
            return self.vec(self.sub(a.arg, b.arg))
        return A.Sub(a, b)

    def mul(self, a: A.Node, b: A.Node) -> A.Node:
        """Scalar times anything, or ⊗; numbers gather at the front."""
        if (a is A.ZERO or b is A.ZERO) and self.shape(a).is_scalar and self.shape(b).is_scalar:
            return A.ZERO
        ta, tb = type(a), type(b)  # (no node kind below has subclasses: type() is isinstance() here)
        a_num, b_num = ta is A.Num, tb is A.Num
        if a_num and b_num:
            value = a.value * b.value
            if _small(value):
                return A.Num(value)
            if a.value and b.value and abs(a.value) != 1 and abs(b.value) != 1:
                return A.Mul(a, b)  # numbers too large to fold stay side by side
        if (a_num and a.value == 0) or ta is A.Zero or (b_num and b.value == 0) or tb is A.Zero:
            return self.zero_like(self._broadcast(a, b))
        if (a_num and a.value == 1) or (ta is A.Ones and self._covers(b, a)):
            return b
        if (b_num and b.value == 1) or (tb is A.Ones and self._covers(a, b)):
            return a
        if a_num and a.value == -1:
            return self.neg(b)
        if b_num and b.value == -1:
            return self.neg(a)
        if ta is A.Neg:
            return self.neg(self.mul(a.arg, b))
        if tb is A.Neg:
            return self.neg(self.mul(a, b.arg))
        if b_num and not a_num:
            return self.mul(b, a)
        if tb is A.Mul:
            if type(b.left) is A.Num:
                if a_num:
                    if _small(a.value * b.left.value):
                        return self.mul(A.Num(a.value * b.left.value), b.right)
                    return A.Mul(a, b)
                return self.mul(b.left, self.mul(a, b.right))
            return self.mul(self.mul(a, b.left), b.right)  # a(bc) = (ab)c: read left to right, as the paper does
        if ta is A.Vec and tb is A.Vec:  # vec(A) ⊗ vec(B) = vec(A ⊗ B)
            return self.vec(self.mul(a.arg, b.arg))
        if tb is A.Vec and self.shape(a).is_scalar:  # c vec(A) = vec(c A)
            return self.vec(self.mul(a, b.arg))
        if ta is A.VecLit and self.shape(b).is_scalar:
            return self._veclit(a, tuple(self.mul(x, b) for x in a.items))
        if tb is A.VecLit and self.shape(a).is_scalar:
            return self._veclit(b, tuple(self.mul(a, x) for x in b.items))
        return A.Mul(a, b)

    def div(self, a: A.Node, b: A.Node) -> A.Node:
        if isinstance(a, A.Num) and isinstance(b, A.Num) and b.value != 0 and _small(a.value / b.value):
            return A.Num(a.value / b.value)
        if _is_num(b, 1):
            return a
        if self.is_zero(a):
            return self.zero_like(self._broadcast(a, b))
        return A.Div(a, b)

    def pow(self, a: A.Node, b: A.Node) -> A.Node:
        if _is_num(b, 1):
            return a
        if _is_num(b, 0):
            return self.mul(A.ONE, self._ones_like(a))
        if isinstance(a, A.Num) and isinstance(b, A.Num) and b.value.denominator == 1 \
                and abs(b.value) <= 64 and (a.value != 0 or b.value > 0):
            value = a.value ** int(b.value)
            if _small(value):
                return A.Num(value)
        return A.Pow(a, b)

    def call(self, fn: str, *args: A.Node) -> A.Node:
        return A.Call(fn, tuple(args))

    def compare(self, op: str, a: A.Node, b: A.Node) -> A.Node:
        return A.Compare(op, a, b)

    def diag(self, v: A.Node) -> A.Node:
        n = self.shape(v).size
        if self.is_zero(v):
            return A.Zero(n, n)
        if isinstance(v, A.Ones):  # diag(𝟏) = I
            return A.Identity(v.dim)
        return A.Diag(v)

    def sum(self, a: A.Node) -> A.Node:
        if isinstance(a, A.Ones) and a.dim is not None:  # sum(𝟏) = n
            return self.dim_node(a.dim)
        if isinstance(a, (A.Vec, A.Transpose)):  # sum(vec(A)) = sum(A)
            return self.sum(a.arg)
        if isinstance(a, A.Neg):  # sum(-a) = -sum(a)
            return self.neg(self.sum(a.arg))
        if isinstance(a, A.Mul) and isinstance(a.right, A.Ones) and self.shape(a.left).is_scalar:
            return self.mul(a.left, self.sum(a.right))
        if self.shape(a).is_scalar:
            return a
        return A.Call("sum", (a,))

    def dot(self, a: A.Node, b: A.Node) -> A.Node:
        if isinstance(a, A.Ones):
            return self.sum(b)
        if isinstance(b, A.Ones):
            return self.sum(a)
        if isinstance(a, A.Vec) and isinstance(b, A.Vec):  # vec(A) · vec(B) = sum(A ⊗ B)
            return self.sum(self.mul(a.arg, b.arg))
        if isinstance(a, A.Compare) or isinstance(b, A.Compare):  # a mask: sum(a ⊗ (z > 0)), as §6 writes it
            return self.sum(self.mul(a, b))
        for q, other in ((a, b), (b, a)):  # (c ⊘ v) · v = Σ cᵢ (where each vᵢ ≠ 0, as the quotient says): the
            if type(q) is A.Div and q.right == other:  # softmax cross-entropy's (y ⊘ softmax(z)) · softmax(z)
                if self.shape(q.left).is_scalar:  # (c ⊘ v) · v of a scalar c: c spread over v, nc
                    return self.mul(q.left, self.dim_node(self.shape(other).flat))
                return self.sum(q.left)
        return A.Dot(a, b)

    def row(self, v: A.Node) -> A.Node:
        """v laid out as a 1×k row (the flattened gradient of v · c by c)."""
        return v if self.shape(v).rows == 1 else self.transpose(v)

    def col(self, v: A.Node) -> A.Node:
        return v if self.shape(v).cols == 1 else self.transpose(v)

    def transpose(self, a: A.Node) -> A.Node:
        t = type(a)  # (node classes have no subclasses, but Juxtapose's)
        if t is A.Transpose:
            return a.arg
        if t is A.Num or t is A.Identity or t is A.Diag or (t is A.Zero and a.rows == a.cols):
            return a
        if t is A.Zero:
            return A.Zero(rows=a.cols, cols=a.rows)
        if t is A.Kron:  # kron(A, B)ᵀ = kron(Aᵀ, Bᵀ)
            return self.kron(self.transpose(a.left), self.transpose(a.right))
        if t is A.Commutation:  # K(m, n)ᵀ = K(n, m)
            return A.Commutation(a.cols, a.rows)
        if t is A.Neg:
            return self.neg(self.transpose(a.arg))
        if self.shape(a).is_scalar:
            return a
        if isinstance(a, A.Mul):
            lead, rest = _split_scalar(self, a)
            if lead is not None:  # (c v)ᵀ = c vᵀ
                return self.mul(lead, self.transpose(rest))
        if isinstance(a, A.MatMul):  # (AB…Z)ᵀ = Zᵀ…BᵀAᵀ, the chain reversed in one pass
            coef, factors = self._factors(a)
            coef, factors = self._reduce(coef, [self.transpose(f) for f in reversed(factors)])
            return self._compose(coef, factors, self.shape(a).T)
        if isinstance(a, A.Div) and self.shape(a.right).is_scalar:  # (v/c)ᵀ = vᵀ/c
            return self.div(self.transpose(a.left), a.right)
        if isinstance(a, (A.Add, A.Sub)) and not self.shape(a).is_scalar:
            # (D - ssᵀ)ᵀ = D - ssᵀ, (xᵀA + b)ᵀ = Aᵀx + bᵀ; but (s - y)ᵀ stays
            ta, tb = self.transpose(a.left), self.transpose(a.right)
            transposed = isinstance(ta, A.Transpose) + isinstance(tb, A.Transpose)
            if transposed == 0 or transposed == 1 and not self.shape(a).is_vector:
                return (self.add if isinstance(a, A.Add) else self.sub)(ta, tb)
        return A.Transpose(a)

    def vec(self, a: A.Node) -> A.Node:
        """vec(a): a column as it is, a row transposed, a matrix's columns stacked."""
        s = self.shape(a)
        if s.is_scalar or s.is_col:
            return a
        if s.is_row:
            return self.transpose(a)
        if isinstance(a, A.Zero):
            return A.Zero(s.flat, 1)
        if isinstance(a, A.Neg):
            return self.neg(self.vec(a.arg))
        return A.Vec(a)

    def unvec(self, c: A.Node, rows, cols) -> A.Node | None:
        """The rows×cols matrix G with vec(G) = c, or None when mcalc cannot write it."""
        s = self.shape(c)
        if s.is_scalar and rows == 1 and cols == 1:
            return c
        if cols == 1:
            return c
        if rows == 1:
            return self.transpose(c)
        if isinstance(c, A.Vec):
            inner = self.shape(c.arg)
            return c.arg if (inner.rows, inner.cols) == (rows, cols) else None
        if isinstance(c, A.MatMul) and isinstance(c.left, A.Commutation) \
                and (c.left.cols, c.left.rows) == (rows, cols):  # K(a, b) vec(H) = vec(Hᵀ), H a×b
            h = self.unvec(c.right, c.left.rows, c.left.cols)
            return None if h is None else self.transpose(h)
        if isinstance(c, A.MatMul) and isinstance(c.left, A.Kron):  # kron(B, A) vec(X) = vec(A X Bᵀ)
            b, a = c.left.left, c.left.right
            sa, sb = self.shape(a), self.shape(b)
            if (sa.rows, sb.rows) == (rows, cols):
                x = self.unvec(c.right, sa.cols, sb.cols)
                if x is not None:
                    return self.jmul(self.jmul(a, x), self.transpose(b))
        if isinstance(c, A.Kron):  # kron(b, a) = vec(a bᵀ) for columns a (rows long) and b (cols long)
            sb, sa = self.shape(c.left), self.shape(c.right)
            if sa.is_col and sb.is_col and sa.rows == rows and sb.rows == cols:
                return self.jmul(c.right, self.transpose(c.left))
        if isinstance(c, A.Ones):  # 𝟏 of length mn is vec(𝟏𝟏ᵀ)
            return self._chain([A.Ones(rows), A.Transpose(A.Ones(cols))])
        if isinstance(c, A.Zero):
            return A.Zero(rows, cols)
        if isinstance(c, A.Neg):
            g = self.unvec(c.arg, rows, cols)
            return None if g is None else self.neg(g)
        if isinstance(c, (A.Add, A.Sub)) or isinstance(c, A.Mul) and not self.shape(c.left).is_scalar:
            left, right = self.unvec(c.left, rows, cols), self.unvec(c.right, rows, cols)
            if left is None or right is None:
                return None
            return {A.Add: self.add, A.Sub: self.sub, A.Mul: self.mul}[type(c)](left, right)
        if isinstance(c, A.Mul):  # c vec(A) = vec(c A)
            g = self.unvec(c.right, rows, cols)
            return None if g is None else self.mul(c.left, g)
        if isinstance(c, A.Div) and self.shape(c.right).is_scalar:
            g = self.unvec(c.left, rows, cols)
            return None if g is None else self.div(g, c.right)
        return None

    def kron(self, a: A.Node, b: A.Node) -> A.Node:
        """The Kronecker product, kron(1, B) = B, kron(I, I) = I, scalars outside."""
        sa, sb = self.shape(a), self.shape(b)
        if sa.is_scalar:
            return self.mul(a, b)
        if sb.is_scalar:
            return self.mul(b, a)
        if isinstance(a, A.Identity) and isinstance(b, A.Identity):
            return A.Identity(dim_mul(a.dim, b.dim))
        if self.is_zero(a) or self.is_zero(b):
            return A.Zero(dim_mul(sa.rows, sb.rows), dim_mul(sa.cols, sb.cols))
        ca, a = self._outer_scalar(a)
        cb, b = self._outer_scalar(b)
        coef = self.mul(ca, cb)
        return self._kron(a, b) if _is_num(coef, 1) else self._scale(coef, self._kron(a, b))

    def _outer_scalar(self, a: A.Node) -> tuple[A.Node, A.Node]:
        """c A → (c, A) for the scalar standing outside a product (kron(cA, B) = c kron(A, B))."""
        if isinstance(a, A.Neg):
            c, rest = self._outer_scalar(a.arg)
            return self.neg(c), rest
        if isinstance(a, A.Mul) and self.shape(a.left).is_scalar and not self.shape(a.right).is_scalar:
            c, rest = self._outer_scalar(a.right)
            return self.mul(a.left, c), rest
        return A.ONE, a

    def _kron(self, a: A.Node, b: A.Node) -> A.Node:
        sa, sb = self.shape(a), self.shape(b)
        node = A.Kron(a, b)
        self.typing.remember(node, Shape(dim_mul(sa.rows, sb.rows), dim_mul(sa.cols, sb.cols)))
        return node

    def dim_node(self, d) -> A.Node:
        """A size as a number in an expression: n, 3, m n."""
        if isinstance(d, int):
            return A.num(d)
        node = None
        for term in d.split("+"):
            t = None
            for f in term.split("*"):
                x = A.num(int(f)) if f.isdigit() else A.Var(f)
                t = x if t is None else A.Mul(t, x)
            node = t if node is None else A.Add(node, t)
        return node

    def flat(self, v: A.Node) -> A.Node:
        """v laid flat as a column: vec(v)."""
        return self.vec(v)

    # -- Jacobians -----------------------------------------------------------
    def identity(self, shape: Shape) -> A.Node:
        return A.ONE if shape.is_scalar else A.Identity(dim=shape.flat)

    def jzero(self, rows, cols) -> A.Node:
        return A.ZERO if rows == 1 and cols == 1 else A.Zero(rows=rows, cols=cols)

    def jmul(self, a: A.Node, b: A.Node) -> A.Node:
        """The product of Jacobians a (p×q) and b (q×r), as the vector chain
        rule multiplies them (paper §4.5.3)."""
        if type(a) is A.Identity or a is A.ONE:  # I B = B, 1 b = b
            return b
        if type(b) is A.Identity or b is A.ONE:
            return a
        sa, sb = self.shape(a), self.shape(b)
        if self.is_zero(a) or self.is_zero(b):
            return self.jzero(sa.rows, sb.cols)
        if sa.rows == 1 and not sb.is_vector and isinstance(b, (A.Add, A.Sub)) \
                and self.shape(b.left) == sb and self.shape(b.right) == sb:
            # a gradient through a sum of Jacobians: gᵀ(A + B) = gᵀA + gᵀB; but not where
            # a scalar is expanded to the matrix: gᵀ(A + s) is gᵀA + s(gᵀ𝟏)𝟏ᵀ, not gᵀA + sgᵀ
            join = self.jadd if isinstance(b, A.Add) else self.jsub
            return join(self.jmul(a, b.left), self.jmul(a, b.right))
        if sa.rows == 1 and isinstance(b, A.Neg) and not sb.is_vector:
            return self.neg(self.jmul(a, b.arg))
        if sa.cols == 1 and sa.rows == 1 and sb.cols == 1:  # 1×1 by 1×1: both are their own coefficients
            coef = self.mul(a, b)
            return self.jzero(1, 1) if self.is_zero(coef) else coef
        hit = self._factored.get(id(a))
        if hit is not None and hit[0] is a and hit[2].n >= _LONG:  # a long product built here: grown at its end
            out = self._extend(hit, b, Shape(sa.rows, sb.cols))
            if out is not None:
                return out
        coef_a, fa = self._factors(a)
        coef_b, fb = self._factors(b)
        coef, factors, kept = self._join(self.mul(coef_a, coef_b), fa, fb)
        coef, factors, collapsed = self._scalars_out(coef, factors, kept)
        prefix = None if collapsed else self._prefix(a, fa, kept)
        return self._compose(coef, factors, Shape(sa.rows, sb.cols), prefix and (prefix, kept))

    def _extend(self, hit: tuple, b: A.Node, shape: Shape) -> A.Node | None:
        """jmul(a, b) for a product a built here, as _join, _scalars_out and _compose
        make it, over a's shared factors: only the pairs at the junction are touched,
        so the step costs b's length, not a's.  None where a row meets a vec-Jacobian
        (_join then rewrites the whole chain) or the product is short: the general way."""
        a, coef_a, fa, chain_a = hit
        coef_b, fb = self._factors(b)
        joined = self._junction(self.mul(coef_a, coef_b), fa.base, fa.n, fb, rows=False)
        if joined is None:
            return None
        coef, base, n, tail, kept = joined
        total = n + len(tail)
        if total < 2 or self.is_zero(coef) or self.shape(base[0] if n else tail[0]).rows == 1 and any(
                self.shape(f).cols == 1 for f in (tail if n else tail[1:])):
            return None  # short, zero, or a run that is a scalar: the general way
        if kept == 0:
            chain = tail[0]
            rest = tail[1:]
        else:
            chain = base[0] if kept == 1 else chain_a
            for _ in range(fa.n - kept if kept > 1 else 0):
                chain = chain.left
            rest = tail
        rows = self.shape(base[0] if n else tail[0]).rows
        for f in rest:
            chain = A.MatMul(chain, f)
            self.typing.remember(chain, Shape(rows, self.shape(f).cols))  # known: no need to re-check
        node = self._scale(coef, chain)
        factors = fa.extended(n, tail)
        self._factored[id(node)] = (node, coef, factors, chain)
        if node is not chain:
            self._factored[id(chain)] = (chain, A.ONE, factors, chain)
        return node

    def jadd(self, a: A.Node, b: A.Node) -> A.Node:
        """The sum of two Jacobians of one shape (the total derivative's sum)."""
        if self.is_zero(a):
            return b
        if self.is_zero(b):
            return a
        shape = self.shape(a)
        if shape.is_scalar or shape.is_vector:  # rows and columns add element by element
            return self.add(a, b)
        coef_a, fa = self._decompose(a)
        coef_b, fb = self._decompose(b)
        if fa == fb:
            return self._compose(self.add(coef_a, coef_b), fa, shape)
        da, db = self._diagonal(coef_a, fa, shape), self._diagonal(coef_b, fb, shape)
        if da is not None and db is not None:
            return A.Diag(self.add(da, db))
        common = self._common_ends(coef_a, fa, coef_b, fb)
        if common is not None:
            return common
        if isinstance(a, A.VecLit) and isinstance(b, A.VecLit):
            return self.add(a, b)
        if isinstance(b, A.Neg):
            return A.Sub(a, b.arg)
        return A.Add(a, b)

    def _common_ends(self, coef_a, fa, coef_b, fb) -> A.Node | None:
        """P M Q + P N Q = P (M + N) Q: the factors both products start or end
        with, taken out once, so the rest can meet (diag(a)X + diag(b)X = diag(a + b)X)."""
        if not fa or not fb:
            return None
        k = 0
        while k < min(len(fa), len(fb)) and fa[k] == fb[k]:
            k += 1
        j = 0
        while j < min(len(fa), len(fb)) - k and fa[-1 - j] == fb[-1 - j]:
            j += 1
        if not k and not j or k + j == len(fa) == len(fb):
            return None
        ra, rb = fa[k:len(fa) - j], fb[k:len(fb) - j]
        if ra:
            middle_shape = Shape(self.shape(ra[0]).rows, self.shape(ra[-1]).cols)
        else:
            middle_shape = Shape(self.shape(rb[0]).rows, self.shape(rb[-1]).cols)
        middle = self.jadd(self._compose(coef_a, ra, middle_shape), self._compose(coef_b, rb, middle_shape))
        out = middle
        for f in reversed(fa[:k]):
            out = self.jmul(f, out)
        for f in fa[len(fa) - j:]:
            out = self.jmul(out, f)
        return out

    def jsub(self, a: A.Node, b: A.Node) -> A.Node:
        return self.jadd(a, self.neg(b) if not isinstance(b, A.Neg) else b.arg) if not self.is_zero(b) else a

    def jscale(self, c: A.Node, a: A.Node) -> A.Node:
        coef, factors = self._decompose(a)
        return self._compose(self.mul(c, coef), factors, self.shape(a))

    def elementwise_partial(self, out: Shape, arg: Shape, d: A.Node) -> A.Node:
        """The Jacobian ∂u/∂a of an element-wise u whose elements have
        derivative d with respect to a's (paper §4.2, §4.3):

            a scalar, u scalar:  d
            a vector, u vector:  diag(d)         (d a scalar: d I)
            a scalar, u vector:  d as a column   (d a scalar: d 𝟏)  — scalar expansion
        """
        if self.is_zero(d):
            return self.jzero(out.flat, arg.flat)
        if out.is_scalar:
            return d
        if d is A.ONE and not arg.is_scalar:  # ∂(a + b)/∂a = I
            return A.Identity(dim=arg.flat)
        dshape = self.shape(d)
        if arg.is_scalar:
            if dshape.is_scalar:
                return self.mul(d, A.Ones(dim=out.flat))
            return self.flat(d)
        if dshape.is_scalar:
            return self.jscale(d, A.Identity(dim=arg.flat))
        return A.Diag(self.flat(d))

    def normalize(self, node: A.Node) -> A.Node:
        """Rebuild a tree bottom-up through the smart constructors (after
        substitution, identities may apply that did not before)."""
        children = node.children
        if not children:
            return node
        kids = tuple([self.normalize(c) for c in children])
        build = _BUILD.get(type(node))
        if build is None or (type(node) is A.Call and node.fn != "sum"):
            return node if all(map(is_, kids, children)) else node.rebuild(kids)
        return build(self, *kids)

    # -- internals -----------------------------------------------------------
    def _broadcast(self, a, b) -> Shape:
        sa, sb = self.shape(a), self.shape(b)
        return sb if sa.is_scalar else sa

    def _covers(self, keep: A.Node, other: A.Node) -> bool:
        """Dropping ``other`` from an element-wise op keeps the result's shape."""
        so = self.shape(other)
        return so.is_scalar or self.shape(keep) == so or not self.shape(keep).is_scalar and \
            isinstance(other, A.Ones)

    def _ones_like(self, a: A.Node) -> A.Node:
        """𝟏 shaped like a: 1, 𝟏, 𝟏ᵀ or 𝟏𝟏ᵀ."""
        s = self.shape(a)
        if s.is_scalar:
            return A.ONE
        if s.is_col:
            return A.Ones(dim=s.rows)
        row = A.Transpose(A.Ones(dim=s.cols))
        return row if s.is_row else self._chain([A.Ones(dim=s.rows), row])

    def _chain(self, factors: list[A.Node]) -> A.Node:
        """The left-nested matrix product of factors, its shapes remembered (and
        its factors, so it is not taken apart again)."""
        chain = factors[0]
        rows = self.shape(chain).rows
        for f in factors[1:]:
            chain = A.MatMul(chain, f)
            self.typing.remember(chain, Shape(rows, self.shape(f).cols))
        if len(factors) > 1:
            self._factored[id(chain)] = (chain, A.ONE, _Factors(list(factors), len(factors)), chain)
        return chain

    def _cached(self, node: A.Node) -> bool:
        hit = self._factored.get(id(node))
        return hit is not None and hit[0] is node

    def _row(self, factors: list[A.Node]) -> A.Node:
        """The 1×k product of factors written as the transpose of a column, gᵀ."""
        col = self._chain([self.transpose(f) for f in reversed(factors)])
        row = A.Transpose(col)
        self.typing.remember(row, self.shape(col).T)
        return row

    def _scalars_out(self, coef: A.Node, factors: list[A.Node], start: int = 0
                     ) -> tuple[A.Node, list[A.Node], bool]:
        """A run of factors whose product is 1×1 (a row chain ending in a column)
        is a scalar: it joins the coefficient, so no product ever has a 1×1 factor.
        The first ``start`` factors are known to hold no such run."""
        if not factors or self.shape(factors[0]).rows != 1:
            return coef, factors, False
        for j in range(max(start, 1), len(factors)):
            if self.shape(factors[j]).cols == 1:
                coef = self.mul(coef, self._inner(self._chain(factors[:j]), factors[j]))
                coef, rest, _ = self._scalars_out(coef, factors[j + 1:])
                return coef, rest, True
        return coef, factors, False

    def _decompose(self, node: A.Node) -> tuple[A.Node, list[A.Node]]:
        """node = coefficient (a scalar) × the product of non-scalar factors."""
        if isinstance(node, A.Identity):
            return A.ONE, []
        if self.shape(node).is_scalar:
            return node, []
        if isinstance(node, A.Neg):
            coef, factors = self._decompose(node.arg)
            return self.neg(coef), factors
        if isinstance(node, A.Mul) and not isinstance(node.right, A.Ones):
            lead, rest = _split_scalar(self, node)
            if lead is not None:
                coef, factors = self._decompose(rest)
                return self.mul(lead, coef), factors
        if isinstance(node, A.Div) and self.shape(node.right).is_scalar:  # a/c = (1/c) a
            coef, factors = self._factors(node.left)
            return self.div(coef, node.right), factors
        if isinstance(node, A.MatMul):  # a left-nested chain, walked down once (not once per level)
            rights = []
            while isinstance(node, A.MatMul) and not self._cached(node):
                rights.append(node.right)
                node = node.left
            coef, factors = self._factors(node)
            for right in reversed(rights):
                c, fs = self._factors(right)
                coef = self.mul(coef, c)
                factors += fs
            return coef, factors
        if isinstance(node, A.Diag) and isinstance(node.arg, A.Ones):
            return A.ONE, []
        return A.ONE, [node]

    def _factors(self, node: A.Node) -> tuple[A.Node, list[A.Node]]:
        hit = self._factored.get(id(node))
        if hit is not None and hit[0] is node:
            return hit[1], hit[2].list()
        return self._reduce(*self._decompose(node))

    def _join(self, coef: A.Node, fa: list[A.Node], fb: list[A.Node]) -> tuple[A.Node, list[A.Node], int]:
        """Reduce the product of two reduced chains: only pairs across the junction can
        reduce, so the cost does not grow with the chains' lengths.  Also returns how
        many of fa's factors stand unchanged at the front."""
        coef, base, n, tail, kept = self._junction(coef, fa, len(fa), fb)
        return coef, base[:n] + tail, kept

    def _junction(self, coef: A.Node, base: list[A.Node], n: int, fb: list[A.Node], rows: bool = True):
        """_join over the chain base[:n] (base is not changed): the coefficient, the chain's
        factors as base[:n] + tail, and how many of its first n stand unchanged.  Without
        ``rows``, None where a row meets a vec-Jacobian (the whole chain is rewritten)."""
        tail: list[A.Node] = []
        kept = n
        i = 0
        while i < len(fb):
            if not n and not tail:
                tail.append(fb[i])
                i += 1
                continue
            if n + len(tail) > 1 and isinstance(fb[i], (A.Kron, A.Commutation)) and \
                    self.shape(base[0] if n else tail[0]).rows == 1:
                if not rows:
                    return None
                # a gradient meets a vec-Jacobian: as one row, vec(G)ᵀ
                base, n, tail, kept = [self._row(base[:n] + tail)], 1, [], 0
            step = self._pair(tail[-1] if tail else base[n - 1], fb[i])
            if step is None:
                tail.extend(fb[i:])
                break
            c, replacement = step
            coef = self.mul(coef, c)
            if tail:
                tail.pop()
            else:
                n -= 1
            kept = min(kept, n + len(tail))
            i += 1
            fb = [*replacement, *fb[i:]]
            i = 0
        return coef, base, n, tail, kept

    def _prefix(self, node: A.Node, factors: list[A.Node], kept: int) -> A.Node | None:
        """The chain node of node's first ``kept`` factors, without node's coefficient:
        the first factor itself, or for a product built here, its cached chain with
        factors dropped from the right end (chains nest to the left)."""
        if kept == 0:
            return None
        if kept == 1:
            return factors[0]
        hit = self._factored.get(id(node))
        if hit is None or hit[0] is not node:
            return None
        chain = hit[3]
        for _ in range(len(factors) - kept):
            chain = chain.left
        return chain

    def _compose(self, coef: A.Node, factors: list[A.Node], shape: Shape,
                 prefix: tuple[A.Node, int] | None = None) -> A.Node:
        """coef × the left-nested product of factors; ``prefix`` may hold the chain
        node of the first k of them, which is then extended, not rebuilt."""
        if self.is_zero(coef):
            return self.jzero(shape.rows, shape.cols)
        if len(factors) == 1 and isinstance(factors[0], A.Diag) and not _is_num(coef, 1) \
                and not _is_num(coef, -1):
            return A.Diag(self.mul(coef, factors[0].arg))  # c diag(v) = diag(c v), but -diag(x) stays
        if not factors:
            if shape.is_scalar:
                return coef
            if shape.is_col:  # a scalar spread over a column
                return self.mul(coef, A.Ones(dim=shape.rows))
            return self._scale(coef, A.Identity(dim=shape.rows))
        chain, done = prefix if prefix is not None else (factors[0], 1)
        rows = self.shape(factors[0]).rows
        for f in factors[done:]:
            chain = A.MatMul(chain, f)
            self.typing.remember(chain, Shape(rows, self.shape(f).cols))  # known: no need to re-check
        node = self._scale(coef, chain)
        factors = _Factors(list(factors), len(factors))
        self._factored[id(node)] = (node, coef, factors, chain)
        if node is not chain:
            self._factored[id(chain)] = (chain, A.ONE, factors, chain)
        return node

    def _scale(self, coef: A.Node, matrix: A.Node) -> A.Node:
        if _is_num(coef, 1):
            return matrix
        if _is_num(coef, -1):
            return A.Neg(matrix)
        if isinstance(coef, A.Neg):
            return A.Neg(self._scale(coef.arg, matrix))
        if isinstance(matrix, A.VecLit):
            return self.mul(coef, matrix)
        return A.Mul(coef, matrix)

    def _diagonal(self, coef, factors, shape) -> A.Node | None:
        """The diagonal of coef × factors if that is a diagonal matrix."""
        if shape.rows != shape.cols:
            return None
        if not factors:
            return coef
        if len(factors) == 1 and isinstance(factors[0], A.Diag):
            return self.mul(coef, factors[0].arg)
        return None

    def _reduce(self, coef: A.Node, factors: list[A.Node]) -> tuple[A.Node, list[A.Node]]:
        factors = list(factors)
        i = 0
        while i < len(factors) - 1:
            step = self._pair(factors[i], factors[i + 1])
            if step is None:
                i += 1
                continue
            c, replacement = step
            coef = self.mul(coef, c)
            factors[i:i + 2] = replacement
            i = max(i - 1, 0)
        coef, factors, _ = self._scalars_out(coef, factors)
        return coef, factors

    def _pair(self, a: A.Node, b: A.Node):
        """Reduce the product a b of two adjacent factors, or None: a scalar and
        the factors that replace the pair (scalars in them moved to the scalar)."""
        step = self._pair_raw(a, b)
        if step is None:
            return None
        coef, out = step
        factors = []
        for f in out:
            c, fs = self._decompose(f)
            coef = self.mul(coef, c)
            factors.extend(fs)
        return coef, factors

    def _pair_raw(self, a: A.Node, b: A.Node):
        sa, sb = self.shape(a), self.shape(b)
        if isinstance(a, A.Diag) and isinstance(b, A.Diag):  # diag(a)diag(b) = diag(a ⊗ b)
            return A.ONE, [A.Diag(self.mul(a.arg, b.arg))]
        if sa.is_row and isinstance(b, A.Diag) and isinstance(a, A.Transpose):  # xᵀdiag(v) = (x ⊗ v)ᵀ
            if isinstance(b.arg, A.Vec):
                self.identities.add(VEC_DIAG)
            return A.ONE, [self.transpose(self.mul(a.arg, b.arg))]
        if isinstance(b, A.Kron) or isinstance(a, A.Kron) or isinstance(b, A.Commutation):
            step = self._vec_pair(a, b, sa, sb)
            if step is not None:
                return step
        if isinstance(a, A.Diag) and sb.is_col:  # diag(v) c = v ⊗ c
            return A.ONE, [self.mul(a.arg, b)]
        if sa.is_row and sb.is_col:  # a row times a column is a scalar
            return self._inner(a, b), []
        if isinstance(a, A.VecLit) and sb.is_row and all(self.shape(x).is_scalar for x in a.items):
            return A.ONE, [A.VecLit(tuple(self.mul(x, b) for x in a.items))]
        if isinstance(a, A.Transpose) and isinstance(a.arg, A.VecLit) and isinstance(b, A.VecLit) \
                and len(a.arg.items) == len(b.items) and sa.is_row:
            # [a, b, 1]ᵀ times rows stacked ([a zᵀ, b zᵀ, zᵀ]): the rows summed, a row (a column
            # would have been an inner product, above), a factor and not a scalar
            total = A.ZERO
            for x, y in zip(a.arg.items, b.items):
                total = self.add(total, self.mul(x, y))
            return A.ONE, [total]
        return self._written_product(a, b)

    def _written_product(self, a: A.Node, b: A.Node):
        """Two matrices written entry by entry multiply entry by entry (§4.5.3:
        [[1/g₁, 0], [0, cos(g₂)]] [2x, 3] = [2x/g₁, 3cos(g₂)])."""
        ea, eb = _entries(a), _entries(b)
        if ea is None or eb is None or len(ea[0]) != len(eb):
            return None
        rows = []
        for row in ea:
            out = []
            for j in range(len(eb[0])):
                total = A.ZERO
                for x, y in zip(row, (r[j] for r in eb)):
                    total = self.add(total, self.mul(x, y))
                out.append(total)
            rows.append(tuple(out))
        if len(rows) == 1 and len(rows[0]) == 1:
            return rows[0][0], []
        if len(rows[0]) == 1:
            return A.ONE, [A.VecLit(tuple(r[0] for r in rows))]
        if len(rows) == 1:
            return A.ONE, [A.Transpose(A.VecLit(rows[0]))]
        return A.ONE, [A.MatLit(tuple(rows))]

    def _vec_pair(self, a: A.Node, b: A.Node, sa: Shape, sb: Shape):
        """The vec identities (module docstring) on one pair of factors, or None."""
        if isinstance(b, A.Kron):
            B, Am = b.left, b.right  # kron(B, A)
            rb, ra = self.shape(B), self.shape(Am)
            if sa.is_row and isinstance(a, A.Transpose):  # vec(G)ᵀ kron(B, A) = vec(AᵀGB)ᵀ
                g = self.unvec(a.arg, ra.rows, rb.rows)
                if g is not None:
                    self.identities.add(VEC_KRON)
                    return A.ONE, [self.transpose(self.vec(self.jmul(self.jmul(self.transpose(Am), g), B)))]
            if isinstance(a, A.Kron):  # kron(P, Q) kron(B, A) = kron(PB, QA)
                sp, sq = self.shape(a.left), self.shape(a.right)
                if sp.cols == rb.rows and sq.cols == ra.rows:
                    self.identities.add(KRON_MIXED)
                    return A.ONE, [self.kron(self.jmul(a.left, B), self.jmul(a.right, Am))]
            if rb.rows == 1 and not isinstance(a, A.Kron):  # M kron(bᵀ, A) = kron(bᵀ, MA)
                self.identities.add(KRON_MIXED)
                return A.ONE, [self.kron(B, self.jmul(a, Am))]
        if isinstance(a, A.Kron):
            B, Am = a.left, a.right
            rb, ra = self.shape(B), self.shape(Am)
            if sb.is_col:  # kron(B, A) vec(X) = vec(A X Bᵀ)
                x = self.unvec(b, ra.cols, rb.cols)
                if x is not None:
                    self.identities.add(VEC_KRON)
                    return A.ONE, [self.vec(self.jmul(self.jmul(Am, x), self.transpose(B)))]
            if rb.cols == 1 and not isinstance(b, A.Kron):  # kron(b, A) M = kron(b, AM)
                self.identities.add(KRON_MIXED)
                return A.ONE, [self.kron(B, self.jmul(Am, b))]
        if isinstance(b, A.Commutation):
            if sa.is_row and isinstance(a, A.Transpose):  # vec(G)ᵀ K(m, n) = vec(Gᵀ)ᵀ, G n×m
                g = self.unvec(a.arg, b.cols, b.rows)
                if g is not None:
                    self.identities.add(VEC_COMMUTATION)
                    return A.ONE, [self.transpose(self.vec(self.transpose(g)))]
            if isinstance(a, A.Commutation) and (a.rows, a.cols) == (b.cols, b.rows):  # K(n, m) K(m, n) = I
                return A.ONE, []
        return None

    def _inner(self, row: A.Node, col: A.Node) -> A.Node:
        """row · col for a 1×k row and a k×1 column."""
        if isinstance(row, A.Transpose):
            return self.dot(row.arg, col)
        if isinstance(col, A.Ones):
            return self.sum(row)
        return A.MatMul(row, col)



VEC_KRON = "vec(AXB) = kron(Bᵀ, A) vec(X)"
KRON_MIXED = "kron(A, B) kron(C, D) = kron(AC, BD)"
VEC_COMMUTATION = "K vec(X) = vec(Xᵀ)"
VEC_DIAG = "vec(G)ᵀ diag(vec(V)) = vec(G ⊗ V)ᵀ"


def _entries(node: A.Node) -> list[tuple[A.Node, ...]] | None:
    """The rows of a matrix written entry by entry: [[a, b], [c, d]], a column
    [a, b] of scalars, a row [a, b]ᵀ; else None."""
    if isinstance(node, A.MatLit):
        return list(node.rows)
    if isinstance(node, A.VecLit) and not any(isinstance(x, (A.VecLit, A.Transpose)) for x in node.items):
        return [(x,) for x in node.items]
    if isinstance(node, A.Transpose) and isinstance(node.arg, A.VecLit):
        return [tuple(node.arg.items)]
    return None


def _split_scalar(alg: Algebra, node: A.Mul):
    """c ⊗ rest → (c, rest) when the leftmost factor c of a product is a scalar."""
    if alg.shape(node.left).is_scalar:
        return node.left, node.right
    if isinstance(node.left, A.Mul):
        lead, rest = _split_scalar(alg, node.left)
        if lead is not None:
            return lead, alg.mul(rest, node.right)
    return None, node


_BUILD = {
    A.Add: Algebra.add, A.Sub: Algebra.sub, A.Mul: Algebra.mul, A.Div: Algebra.div,
    A.Pow: Algebra.pow, A.Neg: Algebra.neg, A.Transpose: Algebra.transpose,
    A.MatMul: Algebra.jmul, A.Dot: Algebra.dot, A.Call: Algebra.sum, A.Diag: Algebra.diag,
    A.Kron: Algebra.kron, A.Vec: Algebra.vec,
}
