"""Shapes: one shape rule per node kind, and the inference of undeclared names.

A name nobody declared is a scalar unless the expression cannot be typed that
way: ``sum(w*x)`` needs a vector inside the sum, so w and x become vectors of
length n; ``X@w`` makes X an N×n matrix.  Names that meet a declared vector in
an element-wise operation stay scalars (scalar expansion, paper §4.3).
"""
from __future__ import annotations

from functools import lru_cache
from operator import is_
from typing import NamedTuple

from . import ast as A
from .errors import DeclarationError, ShapeError

Dim = int | str


class Shape(NamedTuple):
    rows: Dim
    cols: Dim

    @property
    def kind(self) -> str:
        if self.rows == 1 and self.cols == 1:
            return "scalar"
        if self.cols == 1:
            return "vector"
        if self.rows == 1:
            return "row vector"
        return "matrix"

    # rows == 1 and cols == 1, asked thousands of times a derivation: the tuple (1, 1)'s own
    # comparison, which runs without a Python frame of its own
    is_scalar = property((1, 1).__eq__, doc="1×1")

    @property
    def is_col(self) -> bool:
        return self.cols == 1 and self.rows != 1

    @property
    def is_row(self) -> bool:
        return self.rows == 1 and self.cols != 1

    @property
    def is_vector(self) -> bool:
        """A column or row vector (the Jacobian flattens both alike)."""
        return self.is_col or self.is_row

    @property
    def size(self) -> Dim:
        """Length once flattened: n for n×1 and 1×n (matrices are not flattened)."""
        return self.cols if self.rows == 1 else self.rows

    @property
    def flat(self) -> Dim:
        """Length of vec(·): 1 for a scalar, n for a vector, m·n for an m×n matrix."""
        if self.rows == 1 or self.cols == 1:
            return self.cols if self.rows == 1 else self.rows
        return dim_mul(self.rows, self.cols)

    @property
    def is_matrix(self) -> bool:
        return self.rows != 1 and self.cols != 1

    @property
    def T(self) -> Shape:
        return Shape(self.cols, self.rows)

    def __str__(self) -> str:
        return f"{_dim_text(self.rows)}×{_dim_text(self.cols)}"

    def describe(self) -> str:
        return f"{self} ({self.kind})"

    def as_list(self) -> list:
        return [self.rows, self.cols]


SCALAR = Shape(1, 1)


def _dim_text(d: Dim) -> str:
    return f"({dim_text(d)})" if isinstance(d, str) and ("+" in d or "*" in d) else dim_text(d)


def dim_text(d: Dim, times: str = "·") -> str:
    """A size as people read it: m·n, n+1."""
    return str(d).replace("*", times)


# A size is a number, a name (n), or a sum of products of names and numbers
# written canonically as text: "n+1" (blocks side by side), "m*n" (the length of
# vec(X) for an m×n X).  Factors are sorted, so m*n and n*m are one size.
def _terms(d: Dim) -> list[tuple[int, tuple[str, ...]]]:
    if isinstance(d, int):
        return [(d, ())]
    out = []
    for term in d.split("+"):
        coef, names = 1, []
        for f in term.split("*"):
            if f.isdigit():
                coef *= int(f)
            else:
                names.append(f)
        out.append((coef, tuple(sorted(names))))
    return out


def _from_terms(terms) -> Dim:
    const = sum(c for c, names in terms if not names)
    parts = ["*".join(([str(c)] if c != 1 else []) + list(names)) for c, names in terms if names and c]
    if not parts:
        return const
    return "+".join(parts + ([str(const)] if const else []))


def dim_sum(dims) -> Dim:
    """n + 1 as a size: a number when all are numbers, else 'n+1'."""
    return _from_terms([t for d in dims for t in _terms(d)])


@lru_cache(maxsize=1024)  # (vec's length, asked for at every Jacobian of a matrix: a few sizes, met again and again)
def dim_mul(*dims) -> Dim:
    """m·n as a size (the length of vec of an m×n matrix)."""
    terms = [(1, ())]
    for d in dims:
        terms = [(c1 * c2, tuple(sorted(n1 + n2))) for c1, n1 in terms for c2, n2 in _terms(d)]
    return _from_terms(terms)


def dim_value(d: Dim, size_of) -> int:
    """The number a size stands for, given ``size_of(name)``."""
    total = 0
    for coef, names in _terms(d):
        for name in names:
            coef *= size_of(name)
        total += coef
    return total


def dim_names(d: Dim) -> set[str]:
    return {name for _, names in _terms(d) for name in names}


def open_dim(name: str) -> str:
    """A length still to be inferred, n if nothing fixes it."""
    return f"?={name}"


def vector(dim: Dim = "n") -> Shape:
    return Shape(dim, 1)


class Flex:
    """The type of an expression made only of undeclared names (and scalars):
    a scalar for now, but it could still be forced to a vector or matrix.  The
    names of a sum of such parts are gathered only when asked for (a + b + …
    over k names made a set at every +, k² in all)."""

    __slots__ = ("_names", "_parts")

    def __init__(self, names: frozenset[str] = frozenset(), parts: tuple[Flex, ...] = ()):
        self._names = None if parts else names
        self._parts = parts

    @property
    def names(self) -> frozenset[str]:
        if self._names is None:
            out: set[str] = set()
            stack, seen = list(self._parts), set()
            while stack:  # each part once (u₂ = u₁ + u₁: one part twice)
                f = stack.pop()
                if id(f) in seen:
                    continue
                seen.add(id(f))
                if f._names is not None:
                    out |= f._names
                else:
                    stack.extend(f._parts)
            self._names, self._parts = frozenset(out), ()
        return self._names

    def __reduce__(self):  # (pickled by every protocol: 0 and 1 refuse __slots__ without it)
        return Flex, (self.names,)

    def __repr__(self) -> str:
        return f"Flex({sorted(self.names)!r})"


class _Force(Exception):
    def __init__(self, shapes: dict[str, Shape], inverted: bool = False):
        self.shapes = shapes
        self.inverted = inverted  # forced to a square matrix by inv (x⁻¹), which of a scalar is 1/x


_OP_SYMBOL = {A.Add: "+", A.Sub: "-", A.Mul: "⊗", A.Div: "⊘", A.Pow: "^", A.Dot: "·",
              A.MatMul: "@", A.Compare: "comparison"}
_MATRIX_ROWS = ("N", "m", "k", "p", "q", "r")


class Declarations(NamedTuple):
    vectors: dict[str, Dim]
    matrices: dict[str, tuple[Dim, Dim]]
    scalars: set[str]

    @classmethod
    def empty(cls) -> Declarations:
        return cls({}, {}, set())

    def shapes(self) -> dict[str, Shape]:
        if not self.vectors and not self.matrices:
            return dict.fromkeys(self.scalars, SCALAR)
        out = {name: SCALAR for name in self.scalars}
        # A vector declared without a length takes it from what it meets (b in W@x + b
        # gets W's rows), else n.
        out.update({name: vector(d if d is not None else open_dim(name)) for name, d in self.vectors.items()})
        out.update({name: Shape(r, c) for name, (r, c) in self.matrices.items()})
        return out


class Typing:
    """The shapes of a program's variables and of any node built over them."""

    def __init__(self, variables: dict[str, Shape], definitions: dict[str, A.Node], dims: set[str],
                 used: frozenset[str] = frozenset()):
        self.variables = dict(variables)
        self.used = used  # the names the program uses
        self.definitions = definitions
        self.dims = dims
        self._checker = _Checker(self.variables, dims, flexible=set())
        self._shapes: dict[int, Shape] = {}  # by id: each node is held in the checker's list (its id stays its own)
        self._held = self._checker.held
        self.program: A.Program | None = None  # the program with juxtapositions resolved
        # the program whose numbers set how an answer's print (a Hessian's: its function's, not its gradient's)
        self.numbers_of: A.Program | None = None
        self.expanded: set[str] = set()  # undeclared names taken as scalars next to non-scalars
        self.inverted: set[str] = set()  # undeclared names taken as square matrices, being inverted
        # the ids of the expressions an answer names (δ₂ = …): read back, each is a definition of its own
        self.named: frozenset[int] = frozenset()

    def shape(self, node: A.Node) -> Shape:
        t = type(node)
        if t is A.Var:  # a variable's, an intermediate's or a definition's: settled (its checker's rule says the same)
            known = self.variables.get(node.name)
            if known is not None:
                return known
        elif t is A.Num:
            return SCALAR
        hit = self._shapes.get(id(node))
        if hit is not None:
            return hit
        if t in _SCALAR_OVER_SCALARS:  # u₁ = 3x, x² + u₁ over scalars: a scalar (the checker's rules say so)
            variables = self.variables
            for child in node.children:
                kind = type(child)
                if kind is not A.Num and (kind is not A.Var or variables.get(child.name) != SCALAR):
                    break
            else:
                self._shapes[id(node)] = SCALAR
                self._held.append(node)
                return SCALAR
        shape = self._checker.shape(node)
        self._shapes[id(node)] = shape
        self._held.append(node)
        return shape

    def remember(self, node: A.Node, shape: Shape) -> None:
        """Record the shape of a node built from nodes of known shapes."""
        self._shapes[id(node)] = shape
        self._checker.memo[id(node)] = shape
        self._held.append(node)

    def add(self, name: str, shape: Shape) -> None:
        self.variables[name] = shape

    def is_dimension(self, name: str) -> bool:
        return name in self.dims and name not in self.variables


def infer(program: A.Program, decls: Declarations, extra_names: tuple[str, ...] = ()) -> Typing:
    """Type the program, promoting undeclared names where they must be vectors
    or matrices, and return the variables' shapes."""
    declared = decls.shapes()
    defined = [name for name, _ in program.definitions]
    if program.bold or program.bold_upper:
        for name in program.bold - set(defined):  # a bold name is a vector, unless defined
            declared.setdefault(name, vector(open_dim(name)))
        for name in program.bold_upper - set(defined):
            if name not in declared:  # rows still open: tr(𝐗) makes them n, else they settle to N
                declared[name] = Shape(f"?{name}", "n")
    for name in defined:
        if name in declared:
            raise DeclarationError(f"'{name}' is both declared and defined")
    if len(set(defined)) != len(defined):
        dup = next(n for n in defined if defined.count(n) > 1)
        second = [e for name, e in program.definitions if name == dup][1]
        raise DeclarationError(f"'{dup}' is defined twice; name the second otherwise", second.pos)
    last = ((program.output, program.body),) if program.output and program.output not in defined else ()
    for name, expr in (*program.definitions, *last):  # x = x², w = w - 0.1w², h = tanh(Wh): which x?
        if name in A.names(expr):
            raise DeclarationError(f"'{name}' is defined in terms of itself ({name} = … {name} …): a definition "
                                   f"names a new value; name it otherwise (y = …, {name}2 = …)", expr.pos)
    if program.output in defined and program.body != A.Var(program.output):  # y = x²; y = x + y (y = x²; y: one y)
        raise DeclarationError(f"'{program.output}' is defined twice: the last line names the function "
                               f"{program.output}, and an earlier line defines it; name one otherwise")
    used: set[str] = set()
    sizes: set[str] = set()  # the sizes the constants name: ones(N) makes N a size
    unfinished = False
    stack = [program.body, *[d for _, d in program.definitions]]
    while stack:  # every node once (a loop of its own: this runs for every derivation)
        n = stack.pop()
        t = type(n)
        if t is A.Var:
            used.add(n.name)
            continue
        if t in _DECIDED_BY_SHAPES and _unfinished(n):  # (its first test, without the call for most nodes)
            unfinished = True
        elif t is A.Ones or t is A.Identity or t is A.Zero or t is A.Commutation:
            for d in n._key():
                sizes |= dim_names(d) if d is not None else set()
        stack.extend(n.children)
    forced: dict[str, Shape] = {}
    inverted: set[str] = set()
    # n is the default size, unless it is a variable to differentiate by (then no vector may take it),
    # or nothing has that size (n x²: then it is a variable)
    n_size = "n" not in extra_names
    defined_names = set(defined)
    for _ in range(4 * len(used) + 5):
        shapes = {**declared, **forced}
        dims = _dims_of(shapes.values()) | ({"n"} if n_size else set()) | sizes
        flexible = {name for name in used | set(extra_names)
                    if name not in shapes and name not in defined_names and name not in dims}
        checker = _Checker(shapes, dims, flexible, forced_names=set(forced))
        try:
            for name, expr in program.definitions:
                checker.define(name, expr)
            checker.shape(program.body)
        except _Force as f:
            forced.update(f.shapes)
            inverted |= set(f.shapes) if f.inverted else set()
            continue
        variables = {name: SCALAR for name in flexible}
        variables.update(_settle(shapes, checker, used | set(declared)))
        for name, _ in program.definitions:
            variables[name] = checker.concrete(checker.defined[name])
        if n_size and "n" in used and "n" not in sizes and "n" not in _dims_of(variables.values()):
            n_size = False  # the function uses n, and no vector or matrix has n for a size: a variable
            continue
        _no_size_named_as_variable(variables, declared, set(defined))
        if unfinished:
            program = _finish(program, checker)
        typing = Typing(variables, dict(program.definitions),
                        _dims_of(variables.values()) | ({"n"} if n_size else set()) | sizes,
                        frozenset(used))  # (_finish keeps every name)
        typing.program = program
        typing.expanded = checker.expanded
        typing.inverted = inverted
        return typing
    raise DeclarationError("could not work out the shapes; declare the vectors (-v) and matrices (-M)")


def _no_size_named_as_variable(variables: dict[str, Shape], declared: dict[str, Shape], defined: set[str]) -> None:
    """A variable may not share its name with a size: n × mean(x) with n a scalar of
    the user's and x of the default length n would cancel n against 1/n."""
    for rows, cols in variables.values():
        if type(rows) is str and (rows in variables or not rows.isidentifier()) or \
                type(cols) is str and (cols in variables or not cols.isidentifier()):
            break
    else:
        return  # every size a plain name no variable has (or a number): nothing to refuse
    sizes = {other: dim_names(shape.rows) | dim_names(shape.cols) for other, shape in variables.items()
             if not shape.is_scalar}  # each variable's sizes, once: the check is linear in the variables
    named = set().union(*sizes.values()) & set(variables) if sizes else set()
    for name in sorted(named):
        users = sorted(other for other, used in sizes.items() if other != name and name in used)
        if users:
            what = ("a scalar" if variables[name].is_scalar else f"a {variables[name].kind}") + \
                (" defined in the function" if name in defined else " variable")
            default = name == "n" and not any(name in dim_names(declared[u].rows) | dim_names(declared[u].cols)
                                              for u in users if u in declared)
            size_of = f"{users[0]}'s {'length' if variables[users[0]].is_vector else 'size'} is {name}" + \
                (" by default" if default else "")
            raise DeclarationError(
                f"'{name}' is {what}, and {size_of}: one name cannot be both; "
                f"give the size another name ({'-v ' + users[0] + ':k' if variables[users[0]].is_col else 'e.g. k'}) "
                f"or the {'definition' if name in defined else 'variable'} another name")


def unsized_readback(node: A.Node, typing: Typing) -> set[int]:
    """The 𝟏 and I in ``node`` whose sizes a reader of the printed expression
    would not recover: inferring the tree again with every 𝟏 and I unsized, the
    ids of those that come out another size (they print with their size)."""
    original = node
    bare = node
    while type(bare) is A.Neg or type(bare) is A.Transpose:
        bare = bare.children[0]
    if type(bare) is A.Ones or type(bare) is A.Identity:  # alone (I, -𝟏ᵀ): nothing settles it, so n
        return set() if bare.dim == "n" else {id(bare)}
    constants, stack = [], [node]
    while stack:  # in walk's order (parents first, left to right)
        n = stack.pop()
        if type(n) is A.Ones or type(n) is A.Identity:
            constants.append(n)
        elif n.children:
            stack.extend(n.children[::-1])
    if not constants:
        return set()
    origin = {id(c): c for c in constants}
    if len(origin) < len(constants):  # one I in two places (sum(I) + sum(I ⊗ S)): each read on its own
        origin = {}

        def apart(n: A.Node) -> A.Node:
            t = type(n)
            if t is A.Ones or t is A.Identity:
                copy = t(n.dim, pos=n.pos)
                origin[id(copy)] = n
                return copy
            return n.rebuild(tuple(apart(c) for c in n.children)) if n.children else n

        node = apart(node)
    dims = typing.dims | {"n"} | {d for c in constants for d in dim_names(c.dim or "n")}
    checker = _Checker(typing.variables, dims, flexible=set(), unsized=True)  # read, never written
    try:
        checker.check(node)
    except ShapeError:
        return {id(c) for c in constants}
    vecs = [n for n in A.walk(node) if type(n) is A.Vec]
    out = {id(n.arg) for n in vecs if type(n.arg) in (A.Ones, A.Identity)}
    out = {id(origin[k]) for k in out if k in origin}  # vec(I) is always sized: its length is its size squared
    # and within vec(…) one that nothing settles: a size unknown squared (?·?) does not meet n·n where
    # the expression goes on (a named δ = vec(cI) in δ - vec(I(n)) did not read back)
    in_vec = {id(c) for n in vecs for c in A.walk(n.arg) if type(c) in (A.Ones, A.Identity)}
    # a size nothing settles reads as the default n: not where the expression's variables have
    # sizes, none of them n (kron(I, u), u of length m: read alone, I's size is unknown)
    sizes = {name for v in A.names(node) if v in typing.variables for d in typing.variables[v]
             for name in dim_names(d)}
    has_n = not sizes or "n" in sizes
    # in a named part (δ₂ = c𝟏𝟏ᵀ), a size nothing in it settles is left open where the part is used
    # (kron(δ₂, I): two sizes unknown in one product), not read as n: sized
    named = id(original) in typing.named
    for key, c in origin.items():
        hit = checker.memo.get(key)
        if hit is None or checker.concrete(hit).rows != c.dim:
            out.add(id(c))
        elif (named or not has_n or key in in_vec) and isinstance(hit, Shape) and \
                _open(checker.resolve(hit.rows)):
            out.add(id(c))  # kron(I, u), u of length m: read alone, I's size is unknown
    return out


_DECIDED_BY_SHAPES = frozenset({A.Juxtapose, A.Apply, A.Prefixed, A.Dot, A.Ones, A.Identity, A.Call})


def _unfinished(n: A.Node) -> bool:
    """A node whose meaning its shapes decide (see _finish): of a kind in _DECIDED_BY_SHAPES,
    a 𝟏 or I without its size, a call whose meaning its argument's shape picks."""
    t = type(n)
    if t not in _DECIDED_BY_SHAPES:
        return False
    if t is A.Ones or t is A.Identity:
        return n.dim is None
    return t is not A.Call or n.fn in A.POSTFIX_CALLS or n.fn in ("norm2", "times")


def _finish(program: A.Program, checker: _Checker) -> A.Program:
    """What the shapes decide: 2x is a product, X w between two non-scalars a
    matrix product; a · b with a scalar side a product; 𝟏 and I take their size
    from what they meet; x⁻¹ of a scalar is 1/x; ‖x‖₂ of a vector is ‖x‖."""
    def finish(node: A.Node) -> A.Node:
        t = type(node)
        if t is A.Ones or t is A.Identity:
            return t(checker.concrete(checker.check(node)).rows, pos=node.pos) if node.dim is None else node
        if not node.children:
            return node
        kids = tuple([finish(c) for c in node.children])
        if isinstance(node, A.Juxtapose):
            matrix = all(_nonscalar(checker.check(c)) for c in node.children)
            return (A.MatMul if matrix else A.Mul)(*kids, pos=node.pos)
        if t is A.Dot and not all(_nonscalar(checker.check(c)) for c in node.children):
            return A.Mul(*kids, pos=node.pos)
        if t is A.Call and node.fn == "inv" and not _nonscalar(checker.check(node.args[0])):
            return A.Div(A.ONE, kids[0], pos=node.pos)
        if t is A.Call and node.fn == "times":  # a × b, a scalar on one side (the rule refuses the rest)
            return A.Mul(*kids, pos=node.pos)
        if t is A.Call and node.fn == "gpow":  # (…)^k of anything but a square matrix: element-wise
            base = checker.concrete(checker.check(node.args[0]))  # once every size is settled (tr squares)
            if base.is_matrix and base.rows == base.cols:  # x yᵀ too, x and y both of the default length n
                raise ShapeError("(…)^k of a square matrix in LaTeX: the matrix power or each entry's? write "
                                 "(…)^{\\circ k} for each entry's, or the product (…) @ (…) (as \\mathbf{X}^{2} "
                                 "is X X)", node.pos)
            return A.Pow(*kids, pos=node.pos)
        if t is A.Call and node.fn == "mpow":  # X^{2}: X X of a matrix, else element-wise
            base, k = kids
            if not checker.concrete(checker.check(node.args[0])).is_matrix:
                return A.Pow(base, k, pos=node.pos)
            if k.value < 0:  # X^{-2}: (X⁻¹)²
                base = A.Call("inv", (base,), pos=node.pos)
            product = base
            for _ in range(abs(int(k.value)) - 1):
                product = A.MatMul(product, base, pos=node.pos)
            return product
        if t is A.Call and node.fn == "norm2" and checker.concrete(checker.check(node.args[0])).is_vector:
            return A.Call("norm", kids, pos=node.pos)
        if all(map(is_, kids, node.children)):
            return node
        return node.rebuild(kids)

    body, definitions = finish(program.body), tuple((name, finish(e)) for name, e in program.definitions)
    finish = None  # it calls itself through its closure: a cycle, which kept the checker for the collector
    return program._replace(body=body, definitions=definitions)


def _nonscalar(s) -> bool:
    return isinstance(s, Shape) and not s.is_scalar


def _settle(shapes: dict[str, Shape], checker: _Checker, names: set[str]) -> dict[str, Shape]:
    """Sizes left open by inference (X in X @ w) become what they met, or new names (N, m, …)."""
    fresh: dict[str, str] = {}
    dims = None
    out = {}
    for name, shape in shapes.items():
        rows, cols = shape
        if not (type(rows) is str and "?" in rows) and not (type(cols) is str and "?" in cols):
            out[name] = shape  # nothing open in it: settled already (only open sizes are bound)
            continue
        if dims is None:
            dims = _dims_of(shapes.values())
        sides = []
        for d in (shape.rows, shape.cols):
            d = checker.resolve(d)
            if isinstance(d, str) and d.startswith("?="):
                d = "n"
            elif isinstance(d, str) and d.startswith("?"):
                if d not in fresh:
                    fresh[d] = _fresh_rows(names, dims | set(fresh.values()))
                d = fresh[d]
            sides.append(d)
        out[name] = Shape(*sides)
    checker.settled = fresh  # a 𝟏 or I that met the open size (𝟏ᵀ𝐗) takes the same name
    return out


def _dims_of(shapes) -> set[str]:
    return {d for rows, cols in shapes for d in (rows, cols) if isinstance(d, str) and not d.startswith("?")}


def _fresh_rows(names: set[str], dims: set[str]) -> str:
    for cand in _MATRIX_ROWS:
        if cand not in names and cand not in dims:
            return cand
    return f"N{len(dims)}"


class _Checker:
    """Shape rules per node kind; memoized per node object."""

    def __init__(self, shapes: dict[str, Shape], dims: set[str], flexible: set[str],
                 forced_names: set[str] = frozenset(), unsized: bool = False):
        self.shapes = shapes
        self.unsized = unsized  # read every 𝟏 and I as if written without its size
        self.dims = dims
        self.flexible = flexible
        self.forced_names = forced_names
        self.defined: dict[str, Shape | Flex] = {}
        # shapes by id, each node held in a list meanwhile, so that no other node takes its id (a pair
        # per entry was a third of the objects a derivation made, each one for the collector to scan)
        self.memo: dict[int, Shape | Flex] = {}
        self.held: list[A.Node] = []
        self.bind: dict[str, Dim] = {}
        self.settled: dict[str, str] = {}  # open sizes and the names they settled to (_settle)
        self.fresh = 0
        self.expanded: set[str] = set()  # undeclared names taken as scalars beside a vector

    # -- dimensions ---------------------------------------------------------
    def resolve(self, d: Dim) -> Dim:
        while isinstance(d, str) and d in self.bind:
            d = self.bind[d]
        if isinstance(d, str) and "?" in d and ("*" in d or "+" in d):  # 2·?1 once ?1 is bound: 6
            return self._each_size(d, self.resolve)
        return d

    @staticmethod
    def _each_size(d: str, fn) -> Dim:
        """A sum of products of sizes with ``fn`` of each size in it."""
        return dim_sum([dim_mul(coef, *(fn(name) for name in names)) for coef, names in _terms(d)])

    def unify(self, a: Dim, b: Dim) -> bool:
        if a == b:  # (resolved alike)
            return True
        a, b = self.resolve(a), self.resolve(b)
        if a == b:
            return True
        rows_a, rows_b = (_open(d) and not d[1:].isdigit() for d in (a, b))
        if rows_a and rows_b and a.startswith("?=") != b.startswith("?="):
            # a vector's open length meets a matrix's open rows (b in W@x + b): the vector takes
            # the matrix's, which settles to a new name (N), not the vector's default n
            pairs = ((a, b),) if a.startswith("?=") else ((b, a),)
        elif _open(a) and a.startswith("?="):
            pairs = ((b, a), (a, b))
        else:
            pairs = ((a, b), (b, a))
        for open_, other in pairs:  # a length still open takes a declared vector's (default n)
            if _open(open_):
                if other == 1 and open_.startswith("?="):  # a declared vector is not a scalar
                    return False
                self.bind[open_] = other
                return True
        return self._solve(a, b) or self._solve(b, a)

    def _solve(self, product: Dim, other: Dim) -> bool:
        """A product of sizes with one still open, met by a known size: the open one is
        the quotient (kron(I, A) with A m×n met by mk × nk: I is k×k)."""
        if not (isinstance(product, str) and "?" in product and "*" in product and "+" not in product):
            return False
        ((coef, names),), theirs = _terms(product), _terms(other)
        opens = [x for x in names if x.startswith("?")]
        if len(theirs) != 1 or len(opens) != 1 or theirs[0][0] % coef:
            return False
        rest = list(theirs[0][1])
        for x in names:
            if x != opens[0]:
                if x not in rest:
                    return False
                rest.remove(x)
        value = dim_mul(theirs[0][0] // coef, *rest)
        if value == 1 and opens[0].startswith("?="):  # a declared vector is not a scalar
            return False
        self.bind[opens[0]] = value
        return True

    def concrete(self, s: Shape | Flex) -> Shape:
        if type(s) is Flex:
            return SCALAR
        if not self.bind and not self.fresh:
            rows, cols = s
            if not (isinstance(rows, str) and "?" in rows) and not (isinstance(cols, str) and "?" in cols):
                return s  # nothing bound or left open: already concrete
        return Shape(self.known(s.rows), self.known(s.cols))

    def known(self, d: Dim) -> Dim:
        """d resolved; a size still unknown becomes the name it settled to, else the default n."""
        d = self.resolve(d)
        if isinstance(d, str) and "?" in d:
            if "*" in d or "+" in d:
                return self._each_size(d, self.known)
            return self.settled.get(d, "n")
        return d

    def fresh_dim(self) -> str:
        self.fresh += 1
        return f"?{self.fresh}"

    # -- entry points -------------------------------------------------------
    def define(self, name: str, expr: A.Node) -> None:
        self.defined[name] = self.check(expr)

    def shape(self, node: A.Node) -> Shape:
        return self.concrete(self.check(node))

    def check(self, node: A.Node) -> Shape | Flex:
        t = type(node)
        if t is A.Var:  # a lookup: cheaper than remembering it
            return _var(self, node)
        if t is A.Num:
            return SCALAR
        hit = self.memo.get(id(node))
        if hit is not None:
            return hit
        rule = _RULES.get(t)
        if rule is None:  # pragma: no cover - every node kind has a rule
            raise ShapeError(f"no shape rule for {type(node).__name__}")
        result = rule(self, node)
        self.memo[id(node)] = result
        self.held.append(node)
        return result

    # -- helpers ------------------------------------------------------------
    def force(self, flex: Flex, shape: Shape, node: A.Node, what: str) -> None:
        names = sorted(flex.names)
        if not names:
            raise ShapeError(f"{what} needs a vector, got a scalar", node.pos)
        raise _Force({name: shape for name in names}, inverted=what == "inv")

    def same(self, a: Shape, b: Shape) -> bool:
        if a == b:  # (each size unifies with itself, binding nothing)
            return True
        size = len(self.bind)  # (unify only adds: it binds sizes still open, never one bound)
        if self.unify(a.rows, b.rows) and self.unify(a.cols, b.cols):
            return True
        for key in list(self.bind)[size:]:  # a clash binds nothing: its message shows the shapes as they were
            del self.bind[key]
        return False

    def clash(self, node: A.Node, a: Shape, b: Shape, what: str) -> ShapeError:
        a, b = self.concrete(a), self.concrete(b)
        return ShapeError(f"{what}: the left side is {a.describe()}, the right side is {b.describe()}",
                          node.pos)


def _elementwise(ch: _Checker, node: A.Node) -> Shape | Flex:
    left, right = node.children
    left, right = ch.check(left), ch.check(right)
    lflex, rflex = isinstance(left, Flex), isinstance(right, Flex)
    if lflex and rflex:
        return Flex(parts=(left, right))
    lscalar, rscalar = lflex or left.is_scalar, rflex or right.is_scalar
    if lscalar and rscalar:
        return left if lflex else right
    if lscalar:
        if lflex:
            ch.expanded |= left.names
        return right  # scalar expansion (paper §4.3): a flexible name stays a scalar
    if rscalar:
        if rflex:
            ch.expanded |= right.names
        return left
    if ch.same(left, right):
        return left
    symbol = _OP_SYMBOL.get(type(node), "max/min" if isinstance(node, A.Call) else "element-wise operation")
    hint = " (for a matrix product use @)" if isinstance(node, A.Mul) and \
        ch.concrete(left).cols == ch.concrete(right).rows else ""
    raise ch.clash(node, left, right, f"'{symbol}' needs operands of the same shape, or a scalar{hint}")


def _scalar(ch, node):
    return SCALAR


def _var(ch: _Checker, node: A.Var):
    name = node.name
    if name in ch.defined:
        return ch.defined[name]
    if name in ch.shapes:
        return ch.shapes[name]
    if name in ch.flexible:
        return Flex(frozenset([name]))
    if name in ch.dims:
        return SCALAR
    raise ShapeError(f"'{name}' is not defined", node.pos)


def _ones(ch, node: A.Ones):
    return Shape(node.dim if node.dim is not None and not ch.unsized else ch.fresh_dim(), 1)


def _identity(ch, node: A.Identity):
    d = node.dim if node.dim is not None and not ch.unsized else ch.fresh_dim()
    return Shape(d, d)


def _zero(ch, node: A.Zero):
    return Shape(node.rows, node.cols)


def _same_as_arg(ch, node):
    return ch.check(node.arg)


def _transpose(ch, node):
    s = ch.check(node.arg)
    if isinstance(s, Flex):  # xᵀ: x is a vector (the paper never transposes a scalar); Xᵀ: a capital, a matrix
        ch.force(s, Shape(_open_size(s), "n") if _capitals(s) else vector(), node, "ᵀ")
    return s.T


def _diag(ch, node):
    s = ch.check(node.arg)
    if isinstance(s, Flex):
        ch.force(s, vector(), node, "diag")
    if not s.is_vector and not s.is_scalar:
        raise ShapeError(f"diag needs a vector, got {ch.concrete(s).describe()}", node.pos)
    return Shape(s.size, s.size)


def _dot(ch, node):
    left, right = ch.check(node.left), ch.check(node.right)
    if isinstance(left, Shape) and left.is_scalar or isinstance(right, Shape) and right.is_scalar:
        return _elementwise(ch, node)  # 2 · x, as papers write a product: scalar multiplication
    for side, other in ((left, right), (right, left)):
        if isinstance(side, Flex):
            dim = ch.known(other.size) if isinstance(other, Shape) and other.is_vector else "n"
            ch.force(side, vector(dim), node, "the dot product")
    for side in (left, right):
        if not side.is_vector:
            raise ch.clash(node, left, right, "'·' needs two vectors of the same length")
    if not ch.unify(left.size, right.size):
        raise ch.clash(node, left, right, "'·' needs two vectors of the same length")
    return SCALAR


def _matmul(ch, node):
    op = "'@'" if type(node) is A.MatMul else "a product written side by side"
    left, right = ch.check(node.left), ch.check(node.right)
    if isinstance(right, Flex):
        if isinstance(left, Flex):
            if isinstance(node.left, A.Transpose):  # xᵀ @ …: x is a vector
                ch.force(left, vector(), node, op)
            # X @ X, A @ B: capitals on the right are matrices (their columns n), else a vector
            ch.force(right, Shape(_open_size(right), "n") if _capitals(right) else vector(), node, op)
        if left.is_row and not left.is_scalar:  # aᵀ @ X: X has a's length in rows; aᵀ @ x: x is a's length
            ch.force(right, Shape(ch.known(left.cols), _open_size(right)) if _capitals(right)
                     else vector(ch.known(left.cols)), node, op)
        if left.is_scalar or left.is_vector:
            raise ShapeError(f"cannot tell the shape of {', '.join(sorted(right.names))} on the right "
                             f"of {op}; declare it with --vector or --matrix", node.pos)
        ch.force(right, Shape(ch.known(left.cols), _open_size(right)) if _capitals(right)
                 else vector(ch.known(left.cols)), node, op)  # A @ B: a capital, a matrix
    if isinstance(left, Flex):
        if isinstance(node.left, A.Transpose):  # xᵀ @ B: x is a vector
            ch.force(left, vector(ch.known(right.rows)), node, op)
        # X @ w: X's rows are sized by what X @ w meets (y - X@w makes them y's), else named N.
        rows = _open_size(left)
        ch.force(left, Shape(rows, ch.known(right.rows)), node, op)
    if left.is_scalar or right.is_scalar:
        raise ch.clash(node, left, right, f"{op} needs a matrix or vector on each side (use * with a scalar)")
    if not ch.unify(left.cols, right.rows):
        raise ch.clash(node, left, right, f"{op} needs the left side's columns to match the right side's rows")
    return Shape(left.rows, right.cols)


def _force_apart(ch, s: Flex, node: A.Node) -> None:
    """Undeclared names a vector is made of: vectors, but for a capital written before another name,
    as the paper writes a matrix (sum((y - Xw)²), ‖Xw - y‖, softmax(Wx): each took X or W for a
    vector, and Xw was refused); a capital met element-wise (sum((x - C)²)) stays a vector."""
    matrices = {n.left.name for n in A.walk(node.args[0])
                if (type(n) is A.Juxtapose or type(n) is A.MatMul) and type(n.left) is A.Var
                and n.left.name in s.names and _capital(n.left.name)
                and not (type(n.right) is A.Var and _capital(n.right.name))}
    if not matrices:
        ch.force(s, vector(), node, node.fn)
    raise _Force({name: Shape(_open_size(Flex(frozenset((name,)))), "n") if name in matrices else vector()
                  for name in s.names})


def _reduction(ch, node: A.Call):
    s = ch.check(node.args[0])
    if isinstance(s, Flex):
        _force_apart(ch, s, node)
    return SCALAR


def _square(ch, node: A.Call):
    """tr, det, inv: a square matrix (a scalar is a 1×1 one)."""
    s = ch.check(node.args[0])
    if isinstance(s, Flex):
        if node.fn == "inv" and not _capitals(s):
            return s  # x⁻¹ of names in lower case, as scalars are written: 1/x
        ch.force(s, Shape("n", "n"), node, node.fn)
    arg = node.args[0]
    if s.is_col and not s.is_scalar and type(arg) is A.MatMul and type(arg.right) is A.Var \
            and arg.right.name in ch.forced_names:  # tr(A @ X): X, taken for a column, is a matrix
        right = ch.check(arg.right)
        if right.is_col:
            raise _Force({arg.right.name: Shape(right.rows, ch.check(arg.left).rows)})
    if not s.is_scalar and (s.is_vector or not ch.unify(s.rows, s.cols)):
        raise ShapeError(f"{node.fn} needs a square matrix, got {ch.concrete(s).describe()}", node.pos)
    return s if node.fn == "inv" else SCALAR


def _of_vector(ch, node: A.Call):
    """softmax, log_softmax (a vector) and logsumexp (a scalar) of a column vector."""
    s = ch.check(node.args[0])
    if isinstance(s, Flex):
        _force_apart(ch, s, node)
    if not s.is_col:
        raise ShapeError(f"{node.fn} needs a column vector, got {ch.concrete(s).describe()}", node.pos)
    return SCALAR if node.fn == "logsumexp" else s


def _norm(ch, node: A.Call):
    s = ch.check(node.args[0])
    if isinstance(s, Flex):  # ‖x‖ of a name: a vector; ‖X‖ of a capital: a matrix, as Wx reads W
        if _capitals(s):
            ch.force(s, Shape(_open_size(s), "n"), node, node.fn)
        _force_apart(ch, s, node)
    if node.fn == "norm2" and isinstance(s, Shape) and s.is_matrix:
        raise ShapeError("‖X‖₂ of a matrix is its spectral norm, which mcalc does not derive; "
                         "‖X‖_F or norm(X) is the Frobenius norm", node.pos)
    return SCALAR


MAX_MATRIX_POWER = 16


def _matrix_power(ch, node: A.Call):
    """X^{k} in LaTeX: of a matrix, the matrix power (square); else element-wise."""
    s = ch.check(node.args[0])
    if isinstance(s, Flex) or not s.is_matrix:  # its exponent checked as a power's (e^{xᵀx}: x a vector)
        return _elementwise(ch, A.Pow(node.args[0], node.args[1], pos=node.pos))
    exponent, base = node.args[1], node.args[0]
    x = base.name if type(base) is A.Var else "X"  # as the message names it
    if type(exponent) is not A.Num or exponent.value.denominator != 1 or exponent.value == 0:
        raise ShapeError(f"{x}^{{k}} of a matrix in LaTeX is its matrix power, which mcalc takes for a whole k "
                         f"other than 0 ({x}^{{-1}} is the inverse); the element-wise power is {x}^{{\\circ k}}",
                         node.pos)
    k = exponent.value
    if not ch.unify(s.rows, s.cols):
        raise ShapeError(f"{x}^{{{k}}} of a matrix is its matrix power, which needs a square matrix, got "
                         f"{ch.concrete(s).describe()}; the element-wise power is {x}^{{\\circ {k}}}", node.pos)
    if abs(k) > MAX_MATRIX_POWER:
        raise ShapeError(f"a matrix power beyond ±{MAX_MATRIX_POWER} is not supported ({x}^{{{k}}}); the "
                         f"element-wise power is {x}^{{\\circ {k}}}", node.pos)
    return s


def _times(ch, node: A.Call):
    """a × b: a product with a scalar on one side; between two vectors (a cross product
    to a physicist, element-wise to others) or matrices, mcalc does not choose."""
    left, right = ch.check(node.args[0]), ch.check(node.args[1])
    if _nonscalar(left) and _nonscalar(right):
        raise ch.clash(node, left, right, "'×' between two vectors or matrices (a cross product?): mcalc reads "
                                          "it with a scalar on one side only; write ⊗ for the element-wise "
                                          "product, @ for the matrix product, kron(a, b) for the Kronecker one")
    return _elementwise(ch, node)


def _group_power(ch, node: A.Call):
    """(…)^k in LaTeX with bold names in the parenthesis: of a square matrix the matrix
    power to one paper (tr((A + X)²)) and each entry's to another (sum((Y - XW)²)),
    and mcalc does not choose (refused in _finish, once the sizes are settled); of
    anything else, element-wise."""
    return _elementwise(ch, A.Pow(node.args[0], node.args[1], pos=node.pos))


_CALLS = {"mpow": _matrix_power, "gpow": _group_power, "times": _times, "sum": _reduction, "mean": _reduction,
          "max": _elementwise, "min": _elementwise, "tr": _square, "det": _square, "inv": _square, "softmax": _of_vector, "log_softmax": _of_vector,
          "logsumexp": _of_vector, "norm": _norm, "norm2": _norm}


def _call(ch, node: A.Call):
    rule = _CALLS.get(node.fn)
    return rule(ch, node) if rule is not None else ch.check(node.args[0])  # element-wise


def _vec(ch, node: A.Vec):
    s = ch.check(node.arg)
    if isinstance(s, Flex):
        return s
    return Shape(s.flat, 1)


def _open(d: Dim) -> bool:
    """A size still to be inferred (?1, ?=x), not a product or sum that holds one (2·?1)."""
    return isinstance(d, str) and d.startswith("?") and "*" not in d and "+" not in d


def _kron(ch, node: A.Kron):
    """Sizes still open stay open (kron(xᵀ, I): I takes its size from what the product meets)."""
    a, b = (SCALAR if isinstance(s, Flex) else s for s in (ch.check(c) for c in node.children))
    return Shape(dim_mul(ch.resolve(a.rows), ch.resolve(b.rows)), dim_mul(ch.resolve(a.cols), ch.resolve(b.cols)))


def _commutation(ch, node: A.Commutation):
    d = dim_mul(node.rows, node.cols)
    return Shape(d, d)


def _veclit(ch, node: A.VecLit):
    shapes = [ch.check(x) for x in node.items]
    if all(isinstance(s, Flex) or s.is_scalar for s in shapes):
        return Shape(len(shapes), 1)
    if all(isinstance(s, Shape) and s.rows == 1 for s in shapes):
        width = shapes[0].cols
        if all(ch.unify(s.cols, width) for s in shapes):
            return Shape(len(shapes), width)
    bad = next(s for s in shapes if isinstance(s, Shape) and not s.is_scalar)
    raise ShapeError(f"a vector literal holds scalars (or rows of equal length), not {ch.concrete(bad).describe()}; "
                     f"for one element of a vector g write g[1] or g₁", node.pos)


def _index(ch, node: A.Index):
    s = ch.concrete(ch.check(node.arg))
    if not s.is_col or s.is_scalar:
        raise ShapeError(f"[{node.index}] takes an element of a column vector, not of {s.describe()}", node.pos)
    if isinstance(s.rows, int) and node.index > s.rows:
        raise ShapeError(f"element {node.index} of a vector of {s.rows}", node.pos)
    return SCALAR


def _hstack(ch, node: A.HStack):
    shapes = [ch.concrete(ch.check(x)) for x in node.items]
    rows = shapes[0].rows
    if any(not ch.unify(s.rows, rows) for s in shapes):
        raise ShapeError(f"blocks side by side need one number of rows, not "
                         f"{', '.join(str(s) for s in shapes)}", node.pos)
    return Shape(rows, dim_sum([s.cols for s in shapes]))


def _matlit(ch, node: A.MatLit):
    for x in node.children:
        s = ch.check(x)
        if isinstance(s, Shape) and not s.is_scalar:
            raise ShapeError(f"a matrix literal holds scalars, not {ch.concrete(s).describe()}", x.pos)
    return Shape(len(node.rows), len(node.rows[0]))


def _juxtapose(ch, node):
    left, right = ch.check(node.left), ch.check(node.right)
    if _nonscalar(left) and _nonscalar(right):
        return _matmul(ch, node)
    if isinstance(left, Flex) and isinstance(right, Shape) and right.is_col and _capitals(left):
        return _matmul(ch, node)  # Wx: a capital letter before a vector is a matrix, as the paper writes it
    if isinstance(right, Flex) and isinstance(left, Shape) and not left.is_scalar and not left.is_col and \
            (_capitals(right) or not left.is_row):
        return _matmul(ch, node)  # xᵀA (xᵀA x written apart), AᵀB, Ax: after a row or a matrix, likewise
    return _elementwise(ch, node)


def _open_size(flex: Flex) -> str:
    """A size still open, named after the names it sizes (?X): what it meets fixes it, else it settles."""
    return "?" + "_".join(sorted(flex.names))


def _capital(name: str) -> bool:
    """A capital and its index (A, W₁, X_2): a matrix's name, as the paper writes one."""
    return name[:1].isupper() and (len(name) == 1 or name[1:].lstrip("_").isdigit())


def _capitals(flex: Flex) -> bool:
    return all(map(_capital, flex.names))


_SCALAR_OVER_SCALARS = frozenset({A.Add, A.Sub, A.Mul, A.Div, A.Pow, A.Neg, A.Compare, A.Dot})
_RULES = {
    A.Num: _scalar, A.Const: _scalar, A.Var: _var, A.Ones: _ones, A.Identity: _identity, A.Zero: _zero,
    A.Neg: _same_as_arg, A.Transpose: _transpose, A.Diag: _diag,
    A.Add: _elementwise, A.Sub: _elementwise, A.Mul: _elementwise, A.Div: _elementwise,
    A.Pow: _elementwise, A.Compare: _elementwise, A.Dot: _dot, A.MatMul: _matmul,
    A.Call: _call, A.Vec: _vec, A.Kron: _kron, A.Commutation: _commutation, A.VecLit: _veclit, A.MatLit: _matlit, A.Juxtapose: _juxtapose, A.Apply: _juxtapose,
    A.Prefixed: _juxtapose, A.HStack: _hstack, A.Index: _index,
}
