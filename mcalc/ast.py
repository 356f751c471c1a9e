"""The expression tree: one small immutable class per node kind.

Nodes compare structurally; ``pos`` (the 1-based column of the node's
operator or first character in the source) never takes part in equality, so a
printed and re-parsed expression equals the original.  Each class names its
``_fields``; the base class gives them a constructor, equality, a cached hash
and a repr (cheaper to import and to hash than dataclasses, for deep trees).
"""
from __future__ import annotations

from fractions import Fraction
from operator import attrgetter
from typing import NamedTuple


class Node:
    __slots__ = ("pos", "_hash")
    _fields: tuple[str, ...] = ()
    _defaults: dict = {}

    def __init__(self, *args, pos: int | None = None, **kwargs):
        set_ = object.__setattr__
        for name, value in zip(self._fields, args):
            set_(self, name, value)
        for name in self._fields[len(args):]:
            set_(self, name, kwargs.pop(name) if name in kwargs else self._defaults[name])
        if kwargs:
            raise TypeError(f"{type(self).__name__} has no field {next(iter(kwargs))}")
        set_(self, "pos", pos)
        set_(self, "_hash", None)

    def _key(self) -> tuple:  # what equality and the hash look at (the hot kinds spell theirs out)
        return tuple([getattr(self, f) for f in self._fields])

    def __eq__(self, other) -> bool:
        if self is other:
            return True
        if type(other) is not type(self):
            return NotImplemented
        return self.__hash__() == other.__hash__() and self._key() == other._key()

    def __hash__(self) -> int:
        h = self._hash
        if h is None:
            h = hash((type(self).__name__, self._key()))
            _set_hash(self, h)
        return h

    def __setattr__(self, name, value):
        raise AttributeError(f"{type(self).__name__} is immutable")

    def __reduce__(self):  # pickled through the constructor (setting a slot is refused)
        return _node, (type(self), tuple([getattr(self, f) for f in self._fields]), self.pos)

    def __copy__(self):  # immutable: a copy is the node itself (A.ZERO stays A.ZERO)
        return self

    def __deepcopy__(self, memo):
        return self

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(repr(getattr(self, f)) for f in self._fields)})"

    children: tuple[Node, ...] = ()  # a leaf's; a node with children sets or computes its own

    def rebuild(self, children: tuple[Node, ...]) -> Node:
        """The same node over new children (for tree rewrites)."""
        return self


def _node(cls, fields: tuple, pos: int | None) -> Node:
    return cls(*fields, pos=pos)


class Num(Node):
    __slots__ = ("value",)
    _fields = ("value",)

    def __init__(self, value, pos: int | None = None):
        _num_value(self, value)
        _set_pos(self, pos)
        _set_hash(self, None)

    def _key(self) -> tuple:
        return (self.value,)


class _Named(Node):
    __slots__ = ("name",)
    _fields = ("name",)

    def __init__(self, name, pos: int | None = None):  # the hot constructors, spelled out
        _named_name(self, name)
        _set_pos(self, pos)
        _set_hash(self, None)

    def _key(self) -> tuple:
        return (self.name,)


class Var(_Named):
    """A variable: a user's scalar/vector/matrix, a dimension used as a
    number (``1/N``), or an intermediate variable ``u1`` of the derivation."""

    __slots__ = ()


class Const(_Named):
    """A named mathematical constant: e or π (a name the user did not declare)."""

    __slots__ = ()


class _Sized(Node):
    __slots__ = ("dim",)
    _fields = ("dim",)

    def __init__(self, dim=None, pos: int | None = None):
        _sized_dim(self, dim)
        _set_pos(self, pos)
        _set_hash(self, None)

    def _key(self) -> tuple:
        return (self.dim,)


class Ones(_Sized):
    """𝟏, the all-ones column vector of length ``dim`` (None until shape
    inference sizes it: then it takes its length from what it meets)."""

    __slots__ = ()


class Identity(_Sized):
    """I, the dim×dim identity matrix."""

    __slots__ = ()


class Zero(Node):
    """The zero matrix of a given shape: zeros(rows, cols)."""

    __slots__ = ("rows", "cols")
    _fields = ("rows", "cols")

    def __init__(self, rows=1, cols=1, pos: int | None = None):
        _zero_rows(self, rows)
        _zero_cols(self, cols)
        _set_pos(self, pos)
        _set_hash(self, None)

    def _key(self) -> tuple:
        return (self.rows, self.cols)


class Commutation(Node):
    """K(m, n), the mn×mn commutation matrix: K vec(A) = vec(Aᵀ) for an m×n A
    (Magnus & Neudecker)."""

    __slots__ = ("rows", "cols")
    _fields = ("rows", "cols")


class _Unary(Node):
    __slots__ = ("arg", "children")  # children kept: the walks read them far more often than nodes are made
    _fields = ("arg",)

    def __init__(self, arg, pos: int | None = None):  # the hot constructors, spelled out
        _unary_arg(self, arg)
        _unary_children(self, (arg,))
        _set_pos(self, pos)
        _set_hash(self, None)

    def _key(self) -> tuple:
        return self.children

    def rebuild(self, children):
        return type(self)(children[0], pos=self.pos)


class Neg(_Unary):
    __slots__ = ()


class Transpose(_Unary):
    __slots__ = ()


class Diag(_Unary):
    """diag(v): the square matrix with v on its diagonal."""

    __slots__ = ()


class Vec(_Unary):
    """vec(X): the columns of X stacked into one column (column-major)."""

    __slots__ = ()


class _Binary(Node):
    __slots__ = ("left", "right", "children")
    _fields = ("left", "right")

    def __init__(self, left, right, pos: int | None = None):
        _binary_left(self, left)
        _binary_right(self, right)
        _binary_children(self, (left, right))
        _set_pos(self, pos)
        _set_hash(self, None)

    def _key(self) -> tuple:
        return self.children

    def __hash__(self) -> int:  # Node's, with _key spelled out (the walks hash every node they meet)
        h = self._hash
        if h is None:
            h = hash((type(self).__name__, self.children))
            _set_hash(self, h)
        return h

    def rebuild(self, children):
        return type(self)(children[0], children[1], pos=self.pos)


class Add(_Binary):
    __slots__ = ()


class Sub(_Binary):
    __slots__ = ()


class Mul(_Binary):
    """Scalar times anything, or ⊗ (element-wise) between equal shapes."""

    __slots__ = ()


class Div(_Binary):
    """Element-wise division ⊘ (also vector by scalar)."""

    __slots__ = ()


class Pow(_Binary):
    """Element-wise power."""

    __slots__ = ()


class Dot(_Binary):
    """w · x = sum(w ⊗ x)."""

    __slots__ = ()


class MatMul(_Binary):
    """@: matrix-vector, row-vector-matrix, matrix-matrix products."""

    __slots__ = ()


class Kron(_Binary):
    """kron(A, B), the Kronecker product (the paper's ⊗ is element-wise)."""

    __slots__ = ()


class Juxtapose(_Binary):
    """Two factors side by side (2x, X w in LaTeX): a product, or a matrix
    product when both are non-scalars.  Shape inference replaces it."""

    __slots__ = ()


class Apply(Juxtapose):
    """f(x) where f is a name, not a function: the product f x, as the paper
    writes x(x + 1) (mcalc has no user-defined functions).  names.py reads it
    as a Juxtapose, with a note when f is not a name of the input."""

    __slots__ = ()


class Prefixed(Juxtapose):
    """bsum(x), W₂relu(z): a name written against a function call, read as their
    product; an operator written after it (bsum(x)², W₂relu(z)ᵀ) applies to the
    call.  names.py reads it as a Juxtapose."""

    __slots__ = ()


class Index(Node):
    """g[i], the paper's gᵢ: element i (from 1) of a column vector."""

    __slots__ = ("arg", "index", "children")
    _fields = ("arg", "index")

    def __init__(self, arg, index, pos: int | None = None):
        _index_arg(self, arg)
        _index_index(self, index)
        _index_children(self, (arg,))
        _set_pos(self, pos)
        _set_hash(self, None)

    def _key(self) -> tuple:
        return (self.arg, self.index)

    def rebuild(self, children):
        return Index(children[0], self.index, pos=self.pos)


NEGATED = {">": "<=", ">=": "<", "<": ">=", "<=": ">"}  # where (a > b) fails, (a <= b) holds
# the calls the parser makes of a postfix operator: X⁻¹, X^{2} (matrix power), (𝐀 + 𝐗)^2 (shapes decide)
POSTFIX_CALLS = ("inv", "mpow", "gpow")


class Compare(Node):
    """(a > b): 1 where true, else 0, element-wise."""

    __slots__ = ("op", "left", "right", "children")
    _fields = ("op", "left", "right")

    def __init__(self, op, left, right, pos: int | None = None):
        _compare_op(self, op)
        _compare_left(self, left)
        _compare_right(self, right)
        _compare_children(self, (left, right))
        _set_pos(self, pos)
        _set_hash(self, None)

    def _key(self) -> tuple:
        return (self.op, self.left, self.right)

    def rebuild(self, children):
        return Compare(self.op, children[0], children[1], pos=self.pos)


class Call(Node):
    """A function application: sum, mean, exp, max, σ, ..."""

    __slots__ = ("fn", "args")
    _fields = ("fn", "args")
    children = property(attrgetter("args"))

    def __init__(self, fn, args, pos: int | None = None):
        _call_fn(self, fn)
        _call_args(self, args)
        _set_pos(self, pos)
        _set_hash(self, None)

    def _key(self) -> tuple:
        return (self.fn, self.args)

    def rebuild(self, children):
        return Call(self.fn, tuple(children), pos=self.pos)


class _Items(Node):
    __slots__ = ("items",)
    _fields = ("items",)
    children = property(attrgetter("items"))

    def __init__(self, items, pos: int | None = None):
        _items_items(self, items)
        _set_pos(self, pos)
        _set_hash(self, None)

    def _key(self) -> tuple:
        return (self.items,)

    def rebuild(self, children):
        return type(self)(tuple(children), pos=self.pos)


class VecLit(_Items):
    """[f1, f2, ...]: scalars stacked into a column vector, or rows
    (1×k row vectors) stacked into a matrix."""

    __slots__ = ()


class HStack(_Items):
    """[A | B]: blocks side by side, as the partials by several variables stand
    in one Jacobian (∂y/∂(w, b) = [∂y/∂w | ∂y/∂b])."""

    __slots__ = ()


class MatLit(Node):
    """[[a, b], [c, d]]: a matrix written row by row."""

    __slots__ = ("rows",)
    _fields = ("rows",)

    @property
    def children(self):
        return tuple(x for row in self.rows for x in row)

    def rebuild(self, children):
        width = len(self.rows[0])
        it = iter(children)
        return MatLit(tuple(tuple(next(it) for _ in range(width)) for _ in self.rows), pos=self.pos)


# each slot's own setter, for the hot constructors: a node refuses attribute assignment
# (__setattr__), and object.__setattr__ would look the slot up by name at every call
_set_pos, _set_hash = Node.pos.__set__, Node._hash.__set__
_num_value = Num.value.__set__
_named_name = _Named.name.__set__
_sized_dim = _Sized.dim.__set__
_zero_rows, _zero_cols = Zero.rows.__set__, Zero.cols.__set__
_unary_arg, _unary_children = _Unary.arg.__set__, _Unary.children.__set__
_binary_left, _binary_right = _Binary.left.__set__, _Binary.right.__set__
_binary_children = _Binary.children.__set__
_index_arg, _index_index, _index_children = Index.arg.__set__, Index.index.__set__, Index.children.__set__
_compare_op, _compare_left, _compare_right = Compare.op.__set__, Compare.left.__set__, Compare.right.__set__
_compare_children = Compare.children.__set__
_call_fn, _call_args = Call.fn.__set__, Call.args.__set__
_items_items = _Items.items.__set__

class Program(NamedTuple):
    """Definitions ``name = expr`` (in order) and the function itself."""

    definitions: tuple[tuple[str, Node], ...]
    body: Node
    bold: frozenset[str] = frozenset()       # names written in bold: vectors
    bold_upper: frozenset[str] = frozenset()  # bold capitals: matrices
    output: str | None = None  # the function's name when the last line is a definition
    declarations: tuple[tuple[str, str, tuple[str, ...]], ...] = ()  # (name, kind, sizes)
    # postfix operations written inside a parenthesis, as (u₁u₂ᵀ) in (u₁u₂ᵀ)²: an operator
    # after it applies to all of it, not to the last name of the run (names.py)
    closed: tuple[Node, ...] = ()


class Claim(NamedTuple):
    """"The derivative of ``function`` by ``wrt`` is ``expect``" (mcalc check)."""

    wrt: tuple[str, ...]
    function: Program
    expect: Node
    layout: str | None = None
    tolerance: float | None = None
    order: int = 1  # 2: the claim is of the Hessian
    # names written bold in the answer only: they type the function only where it leaves them scalars
    answer_bold: frozenset[str] = frozenset()

def walk(node: Node):
    """Every node of the tree, parents before children (left to right)."""
    stack = [node]
    pop, extend = stack.pop, stack.extend
    while stack:
        n = pop()
        yield n
        children = n.children
        if children:
            extend(children[::-1])


def names(node: Node) -> set[str]:
    """The variables' names in the tree (a loop of its own: called for every derivation)."""
    out: set[str] = set()
    stack = [node]
    while stack:
        n = stack.pop()
        if type(n) is Var:
            out.add(n.name)
        else:
            stack.extend(n.children)
    return out


def terminating(value: Fraction) -> bool:
    """Whether the number is a finite decimal (its denominator has no prime but 2 and 5)."""
    d = value.denominator
    for p in (2, 5):
        while d % p == 0:
            d //= p
    return d == 1


def rational(node: Node) -> Fraction | None:
    """The exact value of a part made of numbers with + - * / and whole powers; None
    for anything else (a name, a function, a power that is not whole, a division by 0)."""
    t = type(node)
    if t is Num:
        return node.value
    if t is Neg:
        v = rational(node.arg)
        return None if v is None else -v
    if t in (Add, Sub, Mul, Div, Pow):
        a, b = rational(node.left), rational(node.right)
        if a is None or b is None:
            return None
        if t is Add:
            return a + b
        if t is Sub:
            return a - b
        if t is Mul:
            return a * b
        if t is Div:
            return None if b == 0 else a / b
        if b.denominator == 1 and abs(b) <= 64 and (a != 0 or b >= 0):
            return a ** int(b)
    return None


def num(value) -> Num:
    return Num(Fraction(value))


ZERO = Num(Fraction(0))
ONE = Num(Fraction(1))
