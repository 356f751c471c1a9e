"""The expression tree: one frozen dataclass per node kind.

Nodes are immutable and compare structurally; ``pos`` (the 1-based column of
the node's operator or first character in the source) never takes part in
equality, so a printed and re-parsed expression equals the original.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

_POS = field(default=None, compare=False, repr=False, kw_only=True)


@dataclass(frozen=True)
class Node:
    pos: int | None = _POS

    @property
    def children(self) -> tuple[Node, ...]:
        return ()

    def rebuild(self, children: tuple[Node, ...]) -> Node:
        """The same node over new children (for tree rewrites)."""
        return self


@dataclass(frozen=True)
class Num(Node):
    value: Fraction


@dataclass(frozen=True)
class Var(Node):
    """A variable: a user's scalar/vector/matrix, a dimension used as a
    number (``1/N``), or an intermediate variable ``u1`` of the derivation."""

    name: str


@dataclass(frozen=True)
class Ones(Node):
    """𝟏, the all-ones column vector of length ``dim``."""

    dim: int | str | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Identity(Node):
    """I, the dim×dim identity matrix."""

    dim: int | str | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Zero(Node):
    """The zero matrix of a given shape; printed as 0."""

    rows: int | str = field(default=1, compare=False)
    cols: int | str = field(default=1, compare=False)


@dataclass(frozen=True)
class _Unary(Node):
    arg: Node

    @property
    def children(self):
        return (self.arg,)

    def rebuild(self, children):
        return type(self)(children[0], pos=self.pos)


@dataclass(frozen=True)
class Neg(_Unary):
    pass


@dataclass(frozen=True)
class Transpose(_Unary):
    pass


@dataclass(frozen=True)
class Diag(_Unary):
    """diag(v): the square matrix with v on its diagonal."""


@dataclass(frozen=True)
class _Binary(Node):
    left: Node
    right: Node

    @property
    def children(self):
        return (self.left, self.right)

    def rebuild(self, children):
        return type(self)(children[0], children[1], pos=self.pos)


@dataclass(frozen=True)
class Add(_Binary):
    pass


@dataclass(frozen=True)
class Sub(_Binary):
    pass


@dataclass(frozen=True)
class Mul(_Binary):
    """Scalar times anything, or ⊗ (element-wise) between equal shapes."""


@dataclass(frozen=True)
class Div(_Binary):
    """Element-wise division ⊘ (also vector by scalar)."""


@dataclass(frozen=True)
class Pow(_Binary):
    """Element-wise power."""


@dataclass(frozen=True)
class Dot(_Binary):
    """w · x = sum(w ⊗ x)."""


@dataclass(frozen=True)
class MatMul(_Binary):
    """@: matrix-vector, row-vector-matrix, matrix-matrix products."""


@dataclass(frozen=True)
class Compare(Node):
    """(a > b): 1 where true, else 0, element-wise."""

    op: str
    left: Node
    right: Node

    @property
    def children(self):
        return (self.left, self.right)

    def rebuild(self, children):
        return Compare(self.op, children[0], children[1], pos=self.pos)


@dataclass(frozen=True)
class Call(Node):
    """A function application: sum, mean, exp, max, σ, ..."""

    fn: str
    args: tuple[Node, ...]

    @property
    def children(self):
        return self.args

    def rebuild(self, children):
        return Call(self.fn, tuple(children), pos=self.pos)


@dataclass(frozen=True)
class VecLit(Node):
    """[f1, f2, ...]: scalars stacked into a column vector, or rows
    (1×k row vectors) stacked into a matrix."""

    items: tuple[Node, ...]

    @property
    def children(self):
        return self.items

    def rebuild(self, children):
        return VecLit(tuple(children), pos=self.pos)


@dataclass(frozen=True)
class MatLit(Node):
    """[[a, b], [c, d]]: a matrix written row by row."""

    rows: tuple[tuple[Node, ...], ...]

    @property
    def children(self):
        return tuple(x for row in self.rows for x in row)

    def rebuild(self, children):
        width = len(self.rows[0])
        it = iter(children)
        return MatLit(tuple(tuple(next(it) for _ in range(width)) for _ in self.rows), pos=self.pos)


@dataclass(frozen=True)
class Program:
    """Definitions ``name = expr`` (in order) and the function itself."""

    definitions: tuple[tuple[str, Node], ...]
    body: Node
    bold: frozenset[str] = frozenset()       # names written in bold: vectors
    bold_upper: frozenset[str] = frozenset()  # bold capitals: matrices
    output: str | None = None  # the function's name when the last line is a definition
    declarations: tuple[tuple[str, str, tuple[str, ...]], ...] = ()  # (name, kind, sizes)


@dataclass(frozen=True)
class Juxtapose(_Binary):
    """Two factors side by side (2x, X w in LaTeX): a product, or a matrix
    product when both are non-scalars.  Shape inference replaces it."""


@dataclass(frozen=True)
class Claim:
    """"The derivative of ``function`` by ``wrt`` is ``expect``" (mcalc check)."""

    wrt: tuple[str, ...]
    function: Program
    expect: Node
    layout: str | None = None
    tolerance: float | None = None


def walk(node: Node):
    """Every node of the tree, parents before children."""
    stack = [node]
    while stack:
        n = stack.pop()
        yield n
        stack.extend(reversed(n.children))


def names(node: Node) -> set[str]:
    return {n.name for n in walk(node) if isinstance(n, Var)}


def num(value) -> Num:
    return Num(Fraction(value))


ZERO = Num(Fraction(0))
ONE = Num(Fraction(1))
