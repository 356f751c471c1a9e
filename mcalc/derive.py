"""The paper's four steps (§4.5.1):

1. introduce intermediate variables, one per operator or function, innermost first;
2. compute the partial of each intermediate by its own arguments;
3. combine them with the chain rule (summing over every path, the total derivative);
4. substitute the intermediates back and simplify.

Nothing here prints: the result is a :class:`Trace`.
"""
from __future__ import annotations

from operator import is_, itemgetter

from . import ast as A
from . import rules
from .errors import NotSupported
from .jacobian import Algebra
from .shapes import SCALAR, Shape, Typing
from .simplify import Simplifier
from .trace import SINGLE, TOTAL, VECTOR, Combination, Intermediate, Partial, Substitution, Trace

MAX_PATHS_SHOWN = 6
MAX_PATH_SHOWN = 24  # partials in one path: longer products are not written out
_ELEMENTWISE = set(rules.UNARY)
_LEAVES = (A.Num, A.Const, A.Var, A.Ones, A.Identity, A.Zero, A.Commutation)
_LEAF_TYPES = frozenset(_LEAVES)  # (node classes have no subclasses, but Juxtapose's)


_PREFIXES = ("u", "v", "t", "q", "z_", "p", "r", "s", "h", "k", "m", "a", "b", "c")
_ADJOINT_PREFIXES = ("δ", "ε", "η", "d_", "ζ", "κ", "ρ", "ξ", "ψ", "χ")


def _free_prefix(prefixes: tuple[str, ...], taken: set[str], firsts: set[str], indexed: bool) -> str:
    """The first prefix whose names (u₁, u₂, …; z_1 is z₁, read back as z1) no name of the
    function could be read as: none is the letter or the letter and an index (u, u1, u_1),
    and unless ``indexed``, none begins with the prefix at all (δ, δh₂: an adjoint's name
    may go on with a definition's)."""
    for p in prefixes:
        stem = p.rstrip("_")
        if stem[0] not in firsts:
            return p
        for name in taken:  # (d_2 reads back as d2: an index after the letter is one too)
            if name == stem or name.startswith(stem) and _an_index(name[len(stem):]) or \
                    not indexed and name.startswith(p):
                break
        else:
            return p
    raise NotSupported(f"the function's names take every letter mcalc names its steps with "
                       f"({', '.join(p.rstrip('_') for p in prefixes)}); rename one of them")


def _an_index(rest: str) -> bool:
    rest = rest[1:] if rest[:1] == "_" else rest
    return rest.isdigit() and rest.isascii()


class Intermediates:
    """Step 1: the program as a list of intermediates, shared subexpressions once."""

    def __init__(self, program: A.Program, typing: Typing):
        self.typing = typing
        self.definitions = dict(program.definitions)
        self.items: list[Intermediate] = []
        self._by_expr: dict[A.Node, str] = {}
        self._leaf_of_def: dict[str, A.Node] = {}
        # each intermediate's place in the function as written: an operator's between its operands',
        # a function's before its arguments' (a definition's where it is used); a sum of a scalar's
        # terms follows it
        self.places: dict[str, int] = {}
        self._count = 0
        taken = set(typing.variables) | set(self.definitions)
        firsts = {name[:1] for name in taken}  # a prefix no name begins with is free at once
        # u₁, u₂, … unless the function has a name u (whose element u₁ is) or u1 of its own
        self.prefix = _free_prefix(_PREFIXES, taken, firsts, indexed=True)
        # δ₁, δh₂, … unless a name of the function starts so already (a Hessian's gradient has its δs)
        self.adjoint_prefix = _free_prefix(_ADJOINT_PREFIXES, taken, firsts, indexed=False)
        self.root = self._visit(program.body)

    def _visit(self, node: A.Node, name: str | None = None) -> A.Node:
        """The leaf standing for ``node``: a constant, a variable or an intermediate."""
        t = type(node)
        if t is A.Var and node.name in self.definitions:
            if node.name not in self._leaf_of_def:
                self._leaf_of_def[node.name] = self._visit(self.definitions[node.name], node.name)
            return self._leaf_of_def[node.name]
        if t in _LEAF_TYPES:
            return node
        if t is A.MatMul and type(node.left) is A.Diag and self.typing.shape(node.right).is_col:
            node = A.Mul(node.left.arg, node.right, pos=node.pos)  # diag(v) c = v ⊗ c (§4.5.3)
        if t is A.VecLit and self._whole(node):
            return self._bracket(node, name)
        kids = node.children
        binary = len(kids) == 2 and isinstance(node, A._Binary)  # x + x²: the + stands before the ^
        left = self._visit(kids[0]) if binary else None
        self._count += 1
        here = self._count
        visited = (left, self._visit(kids[1])) if binary else tuple([self._visit(c) for c in kids])
        return self._add(node.rebuild(visited), name, here)

    def _add(self, shallow: A.Node, name: str | None, place: int | None = None) -> A.Node:
        if shallow in self._by_expr:
            return A.Var(self._by_expr[shallow])
        if name is None:
            name = f"{self.prefix}{len(self.items) + 1}"
        if place is not None:
            self.places[name] = place
        shape = self.typing.shape(shallow)
        self.typing.add(name, shape)
        self._by_expr[shallow] = name
        self.items.append(Intermediate(name, shallow, shape))
        return A.Var(name)

    # -- a vector of functions (§4.5.3) -----------------------------------------
    def _whole(self, node: A.VecLit) -> bool:
        """A bracket of scalar expressions stays whole, each entry differentiated by
        the scalar rules (§4: ∂g/∂x = [∂g₁/∂x, ∂g₂/∂x]), where every vector in it is
        reached element by element (g₁) and at least one entry is not a name."""
        if all(isinstance(x, _LEAVES) for x in node.items):
            return False
        for item in node.items:
            for n in A.walk(item):
                if isinstance(n, A.Index) and not (isinstance(n.arg, A.Var) and isinstance(
                        self.typing.shape(n.arg).rows, int)):
                    return False
                if isinstance(n, A.Var) and n.name not in self.definitions and \
                        not self.typing.variables.get(n.name, Shape(1, 1)).is_scalar and not self._indexed(item, n):
                    return False
                if isinstance(n, (A.VecLit, A.MatLit, A.HStack)) or \
                        isinstance(n, A.Var) and n.name in self.definitions and not self._indexed(item, n) and \
                        not self.typing.shape(self.definitions[n.name]).is_scalar:
                    return False
            if not self.typing.shape(item).is_scalar:
                return False
        return True

    @staticmethod
    def _indexed(item: A.Node, var: A.Var) -> bool:
        """Every use of ``var`` in ``item`` takes one element of it."""
        uses = sum(1 for n in A.walk(item) if n == var)
        return uses == sum(1 for n in A.walk(item) if isinstance(n, A.Index) and n.arg == var)

    def _bracket(self, node: A.VecLit, name: str | None) -> A.Node:
        """[f₁(a₁), …, fₖ(aₖ)], each fᵢ an element-wise function of an expression:
        the paper's g = [a₁, …, aₖ] and f = [f₁(g₁), …, fₖ(gₖ)] (§4.5.3), so that
        the chain rule multiplies ∂f/∂g by ∂g/∂x.  Any other bracket: one intermediate."""
        items = tuple(self._inline(x) for x in node.items)
        calls = all(isinstance(x, A.Call) and len(x.args) == 1 and x.fn in _ELEMENTWISE for x in items)
        if calls and not all(isinstance(x.args[0], (*_LEAVES, A.Index)) for x in items):
            inner = self._add(A.VecLit(tuple(x.args[0] for x in items), pos=node.pos), self._free("g"))
            outer = A.VecLit(tuple(A.Call(x.fn, (A.Index(inner, i + 1),), pos=x.pos) for i, x in enumerate(items)),
                             pos=node.pos)
            return self._add(outer, name or self._free("f"))
        return self._add(A.VecLit(items, pos=node.pos), name)

    def _inline(self, node: A.Node) -> A.Node:
        """An entry kept whole, with the definitions it uses replaced by their leaves."""
        if isinstance(node, A.Var) and node.name in self.definitions:
            return self._visit(node)
        if not node.children:
            return node
        return node.rebuild(tuple(self._inline(c) for c in node.children))

    def _free(self, name: str) -> str | None:
        taken = set(self.typing.variables) | set(self.definitions) | {it.name for it in self.items}
        return None if name in taken else name


def substitute(node: A.Node, values: dict[str, A.Node]) -> A.Node:
    """Replace intermediate variables by their expressions (step 4); an element
    of a bracket is that entry ([x², 3x]₁ is x²)."""
    if type(node) is A.Var:
        return values.get(node.name, node)
    children = node.children
    if not children or not values:
        return node
    new = tuple([substitute(c, values) for c in children])
    out = node if all(map(is_, new, children)) else node.rebuild(new)  # unchanged: the same node
    if isinstance(out, A.Index) and isinstance(out.arg, A.VecLit):
        return out.arg.items[out.index - 1]
    return out


def _depends(items: list[Intermediate], variables: set[str]) -> set[str]:
    """Names (variables and intermediates) whose value moves with ``variables``."""
    moving = set(variables)
    for it in items:
        for c in A.walk(it.expr) if _is_bracket(it.expr) else it.expr.children:
            if isinstance(c, A.Var) and c.name in moving:
                moving.add(it.name)
                break
    return moving


def _is_bracket(node: A.Node) -> bool:
    """A bracket kept whole: an entry that is not a name (see Intermediates._whole)."""
    return isinstance(node, A.VecLit) and not all(isinstance(x, _LEAVES) for x in node.items)


def _bracket_partials(alg, simplifier, it: Intermediate, moving: set[str]):
    """∂[f₁, …, fₖ]/∂b entry by entry with the scalar rules: a column [∂fᵢ/∂b] by a
    scalar b, the k×m matrix [∂fᵢ/∂bⱼ] by a vector b of m elements reached as bⱼ
    (§4.5.3: ∂f/∂g holds every ∂fᵢ/∂gⱼ)."""
    seen: list[str] = []
    for item in it.expr.items:
        for n in A.walk(item):
            if isinstance(n, A.Var) and n.name in moving and n.name not in seen:
                seen.append(n.name)
    k = len(it.expr.items)
    for b in seen:
        shape = alg.typing.variables.get(b, Shape(1, 1))
        if shape.is_scalar:
            entries = tuple(simplifier.polish(_scalar_partial(alg, x, A.Var(b))) for x in it.expr.items)
            value, jshape = A.VecLit(entries), Shape(k, 1)
        else:
            rows = tuple(tuple(simplifier.polish(_scalar_partial(alg, x, A.Index(A.Var(b), j + 1)))
                               for j in range(shape.rows)) for x in it.expr.items)
            value, jshape = A.MatLit(rows), Shape(k, shape.rows)
        alg.typing.remember(value, jshape)
        yield Partial(it.name, b, value, jshape)


def _scalar_partial(alg, node: A.Node, target: A.Node) -> A.Node:
    """∂node/∂target for a scalar node, by the rule table and the scalar chain rule."""
    if node == target:
        return A.ONE
    if not any(n == target for n in A.walk(node)):
        return A.ZERO
    total = A.ZERO
    for i, child in enumerate(node.children):
        inner = _scalar_partial(alg, child, target)
        if alg.is_zero(inner):
            continue
        total = alg.add(total, alg.mul(rules.partial(alg, node, i), inner))
    return total


_OUTPUT_NAMES = ("y", "f", "F", "out", "g", "h", "L", "J", "E", "G", "H", "Q", "R", "S", "V", "Y", "Z")


def output_name(program: A.Program, variables) -> str:
    """The function's name: its own (y = …), else the first of y, f, F, out, g, h, …
    that no variable has (a letter with no index: y1 may be the element y₁ of a vector y)."""
    if program.output:
        return program.output
    for name in _OUTPUT_NAMES:
        if name not in variables:
            return name
    raise NotSupported(f"the function's variables take every name mcalc gives a function "
                       f"({', '.join(_OUTPUT_NAMES)}); name it: write its last line as NAME = …")


def derive(program: A.Program, typing: Typing, wrt: list[str], pair_products: bool = True) -> tuple[Trace, Algebra]:
    alg = Algebra(typing)
    simplifier = Simplifier(alg)
    steps = Intermediates(program, typing)
    items = steps.items
    moving = _depends(items, set(wrt))
    output = steps.root
    out_shape = typing.shape(output)

    # Step 2: each intermediate's partials by its moving arguments (x*x: both uses summed).
    partials: dict[tuple[str, str], Partial] = {}
    for it in items:
        if _is_bracket(it.expr):
            for p in _bracket_partials(alg, simplifier, it, moving):
                partials[(p.of, p.by)] = p
            continue
        for i, child in enumerate(it.expr.children):
            if isinstance(child, A.Var) and child.name in moving:
                local = rules.partial(alg, it.expr, i, it.name)
                key = (it.name, child.name)
                if key in partials:
                    local = alg.jadd(partials[key].expr, local)
                partials[key] = Partial(it.name, child.name, local, typing.shape(local))

    by_output: dict[str, list[Partial]] = {}
    for p in partials.values():
        by_output.setdefault(p.of, []).append(p)

    # Step 3: the chain rule, multiplying the partials from the output down to each
    # variable and summing over every path: ∂y/∂p = Σ ∂y/∂u ∂u/∂p over the u that use p.
    chain, adjoints, adjoined = _chain_rule(items, by_output, output, out_shape, alg,
                                            (steps.adjoint_prefix, steps.prefix), steps.places)
    identities = tuple(sorted(alg.identities))
    combinations, substitutions = [], []
    # in a long chain of products, one whose adjoint step 4 keeps named is named at fewer nodes, so
    # that the two namings meet: (x+1)…(x+k)'s answer sums terms δⱼuᵢ(x + a)(x + b), and those with
    # one pair δⱼuᵢ add up to short polynomials; named apart, k, k + 1 and k + 2 read 1,149, 1,198
    # and 917 characters.  (In a short one a small name only hides like terms from each other.)
    # Which names step 4 keeps is read first from the sizes alone, unsimplified (a pass of its own
    # would cost half as much again), then checked: a pair whose adjoint is written out after all
    # is not one
    paired: set[str] = set()
    if pair_products and adjoined and any(u in adjoined for u in _chained(items, {})):
        named = Substituter(items, adjoints, alg, simplifier, paired, simplify=False).named
        paired = {u for u, above in _chained(items, named).items() if above >= LONG_CHAIN and adjoined.get(u) in named}
    substitute_back = Substituter(items, adjoints, alg, simplifier, paired)
    lost = {u for u in paired if adjoined[u] not in substitute_back.named} if paired else None
    if lost:
        substitute_back = Substituter(items, adjoints, alg, simplifier, paired - lost)
    reasoning = _Reasoning(items, by_output, output, out_shape, typing)
    for v in wrt:
        v_shape = typing.variables.get(v, Shape(1, 1))
        value = chain.get(v) or alg.jzero(_size(out_shape), _size(v_shape))
        shape = Shape(_size(out_shape), _size(v_shape))
        combinations.append(Combination(v, reasoning, value, shape, simplifier.polish, identities))
        substitutions.append(substitute_back(value, v, shape, out_shape, v_shape))
    substitutions = substitute_back.named_once(substitutions)
    name = output_name(program, typing.variables)
    partial_list = tuple(partials.values())
    trace = Trace(name, tuple(items), partial_list, tuple(combinations), tuple(substitutions), tuple(adjoints),
                  _partial_rule(items, partial_list, typing))
    return trace, alg


_PLACE = itemgetter(3)  # a term's place in the source
_NOWHERE = float("inf")
ADJOINT_MIN = 6  # nodes: a smaller total derivative is simply written out in each term that uses it
LONG_CHAIN = 3  # products named above one in its chain: a chain whose names repeat


def _chain_rule(items, by_output, output, out_shape, alg, prefixes,
                places) -> tuple[dict[str, A.Node], list[Intermediate], dict[str, str]]:
    """∂y/∂p for every p the output depends on, by reverse accumulation: from
    the last intermediate to the first, each one's total derivative (its adjoint)
    is formed once and passed down to its arguments (a product grows at its right
    end, so each step costs the same).  An adjoint that two or more partials
    use is named, δₖ = ∂y/∂uₖ, so that it is written once: without that, a chain
    whose every intermediate feeds two later ones doubles at each step."""
    adjoints: list[Intermediate] = []
    adjoined: dict[str, str] = {}  # the intermediates whose adjoints are named, and those names
    if not isinstance(output, A.Var):
        return {}, adjoints, adjoined
    # each name's terms, [adjoint, partial, gathered, place in the source], summed when the name is reached: the
    # terms of one named scalar adjoint δ are gathered first, δ(a + b) for δa + δb (u + u², by
    # u, is δ(1 + 2u)), so that the adjoint passed down is a product, not a sum repeating δ
    terms: dict[str, list[list]] = {output.name: [[alg.identity(out_shape), None, False, 0]]}  # (None: ∂y/∂y)
    # (name, id of a scalar adjoint) -> that name's term with it: the adjoint passed on
    # unchanged (δ·1 is δ) is the same node, which the entry keeps alive
    by_adjoint: dict[tuple[str, int], list] = {}
    named: set[int] = set()  # the ids of the named adjoints' variables (passed on unchanged, the same node)
    d: dict[str, A.Node] = {}
    jmul, jadd = alg.jmul, alg.jadd
    scalar_out = out_shape == SCALAR

    def total(listed: list[list], scalar: bool) -> A.Node:
        out = None
        if scalar and len(listed) > 1:  # a scalar's terms in the order of its uses in the source: (x³ + 2x)′
            listed.sort(key=_PLACE)  # is 3x² + 2 (a vector's or a matrix's keep the Cookbook's order, xᵀA + xᵀAᵀ)
        for upstream, partial, gathered, _ in listed:
            # (jmul would spread a row over a sum again: gᵀ(A + B) = gᵀA + gᵀB)
            term = upstream if partial is None else alg.mul(upstream, partial) if gathered else \
                jmul(upstream, partial)
            out = term if out is None else jadd(out, term)
        return out

    for it in reversed(items):
        listed = terms.pop(it.name, None)
        if listed is None:
            continue
        upstream = d[it.name] = total(listed, it.shape == SCALAR)
        consumers = by_output.get(it.name, ())
        # (a gathered one, δ(a + b), is named however small: written out it would copy δ's value)
        if len(consumers) > 1 and (any(entry[2] for entry in listed) or _size_over(upstream, ADJOINT_MIN)):
            count = len(adjoints)
            upstream = _named_adjoint(alg, it, upstream, out_shape, prefixes, adjoints)
            named.add(id(upstream))
            if len(adjoints) > count:
                adjoined[it.name] = adjoints[-1].name
        # under a named adjoint only: any other (x, cos(u₁)) is pulled out by the simplifier where
        # that is shorter, and the terms stay free to collect with the other paths' terms
        gather = scalar_out and it.shape == SCALAR and id(upstream) in named
        key = id(upstream)
        place = places.get(it.name, _NOWHERE)  # (a bracket's parts have none: after, the last first)
        for p in consumers:
            if gather:
                same = by_adjoint.get((p.by, key))
                if same is not None:
                    same[1], same[2] = jadd(same[1], p.expr), True
                    continue
                entry = by_adjoint[(p.by, key)] = [upstream, p.expr, False, place]
            else:
                entry = [upstream, p.expr, False, place]
            terms.setdefault(p.by, []).append(entry)
    for name, listed in terms.items():  # the variables
        d[name] = total(listed, alg.typing.variables.get(name, SCALAR) == SCALAR)
    return d, adjoints, adjoined


def _chained(items: list[Intermediate], named: dict[str, A.Node]) -> dict[str, int]:
    """Each product used once, as a factor of a product (uᵢ₊₁ = uᵢ·vᵢ₊₁), and how many of
    the products above it in that chain are ``named``."""
    users: dict[str, list[str]] = {}
    for it in items:
        for child in it.expr.children:
            if type(child) is A.Var:
                users.setdefault(child.name, []).append(it.name)
    products = {it.name for it in items if type(it.expr) is A.Mul}
    above: dict[str, int] = {}
    for it in reversed(items):  # a product's user comes after it: counted first
        used = users.get(it.name, ())
        if it.name in products and len(used) == 1 and used[0] in products:
            user = used[0]
            above[it.name] = above.get(user, 0) + (user in named)
    return above


def _named_adjoint(alg, it: Intermediate, upstream: A.Node, out_shape: Shape, prefixes: tuple[str, str],
                   adjoints: list[Intermediate]) -> A.Node:
    """δₖ for the adjoint of uₖ: for a scalar function shaped like uₖ (the
    gradient by it), so that the vec identities still see vec(δₖ)ᵀ; else the
    Jacobian ∂y/∂uₖ itself.  Returns what stands for it in the products."""
    prefix, own = prefixes  # the adjoints' (δ) and the intermediates' (u)
    index = it.name[len(own):]
    # δ₂ for u₂; for a definition of the user's, its name: δh₂ for h2 (δ₂ would be u₂'s)
    name = f"{prefix}{index}" if it.name.startswith(own) and index.isdigit() else f"{prefix}{it.name}"
    shape = it.shape
    if out_shape.is_scalar and not shape.is_scalar:
        value = alg.vec(alg.transpose(upstream))  # the gradient by uₖ, laid flat
        if shape.is_matrix:
            value = alg.unvec(value, shape.rows, shape.cols)
            if value is None:
                return upstream
        else:
            shape = Shape(shape.flat, 1)
        alg.typing.add(name, shape)
        adjoints.append(Intermediate(name, value, shape))
        stands = A.Transpose(alg.vec(A.Var(name)))
        alg.typing.remember(stands, Shape(1, shape.flat))
        return stands
    shape = alg.shape(upstream)
    alg.typing.add(name, shape)
    adjoints.append(Intermediate(name, upstream, shape))
    return A.Var(name)


def _size_over(node: A.Node, limit: int) -> bool:
    count, stack = 0, [node]
    while stack:
        count += 1
        if count > limit:
            return True
        stack.extend(stack.pop().children)
    return False


SHARE_MIN = 12  # nodes: a smaller shared subexpression is simply written out again


class Substituter:
    """Step 4 for every variable of one derivation: the intermediates (and named
    adjoints) are simplified once each, in order, each with the earlier ones
    written in: one that simplifies to a few nodes (x·x·…·x to xᵏ) is written out
    wherever it is used; a larger one stays a name unless the answer uses it only
    once.  So the answer grows linearly with the function, whatever its shape, and
    what can cancel still meets (the cost of step 4 does not grow with the number
    of variables either)."""

    def __init__(self, items: list[Intermediate], adjoints: list[Intermediate], alg: Algebra,
                 simplifier: Simplifier, paired: set[str], simplify: bool = True):
        self.alg, self.simplifier = alg, simplifier
        self.order = {it.name: i for i, it in enumerate((*items, *adjoints))}
        self.inline: dict[str, A.Node] = {}  # written out where used
        self.named: dict[str, A.Node] = {}  # kept as names (when used more than once)

        def large(name: str, expr: A.Node) -> bool:  # (``paired``: products named at fewer nodes)
            return _size_over(expr, SHARE_MIN) or name in paired and type(expr) is A.Mul and \
                _size_over(expr, ADJOINT_MIN)

        for it in (*items, *adjoints):
            expr = substitute(it.expr, self.inline)
            kept = large(it.name, expr)
            if kept and simplify:  # simplified first: it may shrink to be written out (xᵏ)
                expr = _final(expr, alg, simplifier)
                kept = large(it.name, expr)
            (self.named if kept else self.inline)[it.name] = expr

    def __call__(self, value: A.Node, v: str, shape: Shape, out_shape: Shape, v_shape: Shape) -> Substitution:
        """∂y/∂v with the intermediates substituted back.  A scalar by an m×n
        matrix X is laid out as a matrix: ∂y/∂vec(X)ᵀ = vec(G)ᵀ becomes Gᵀ, n×m in
        numerator layout (the gradient G, shaped like X, in denominator)."""
        alg = self.alg
        if out_shape.is_scalar and v_shape.is_matrix:
            g = alg.unvec(alg.vec(value), v_shape.rows, v_shape.cols) if not alg.is_zero(value) else \
                A.Zero(v_shape.rows, v_shape.cols)
            if g is None:  # written out, the intermediates may show the form (u₂ + u₁ᵀ, u₁ = vec(X))
                g = alg.unvec(alg.vec(substitute(value, self.inline)), v_shape.rows, v_shape.cols)
            if g is None:
                raise NotSupported(f"∂/∂{v}: mcalc found the derivative only as a row over vec({v}), "
                                   f"not as a matrix in closed form")
            value, shape = alg.transpose(g), v_shape.T
        final = _final(substitute(value, self.inline), alg, self.simplifier)
        return Substitution(v, final, shape)

    def named_once(self, substitutions: list[Substitution]) -> list[Substitution]:
        """Each answer with the named subexpressions it needs, in order; one that the
        answers (by every variable: their Jacobians are printed side by side) use only
        once is written out in its place instead."""
        if not self.named:
            return substitutions
        refs: dict[str, int] = {}
        stack = [s.value for s in substitutions]
        while stack:
            for n in A.walk(stack.pop()):
                if type(n) is A.Var and n.name in self.named:
                    refs[n.name] = refs.get(n.name, 0) + 1
                    if refs[n.name] == 1:
                        stack.append(self.named[n.name])
        once = {name for name, count in refs.items() if count == 1}
        values: dict[str, A.Node] = {}
        kept: dict[str, A.Node] = {}
        for name in sorted(refs, key=self.order.__getitem__):
            expr = substitute(self.named[name], values)
            if name in once:
                values[name] = expr
            else:
                kept[name] = expr
        out = []
        for s in substitutions:
            value = substitute(s.value, values) if values else s.value
            out.append(s._replace(value=value, shared=tuple((n, kept[n]) for n in _uses(value, kept))))
        return out


def _uses(node: A.Node, named: dict[str, A.Node]) -> list[str]:
    """The names of ``named`` that node uses, also through each other, in the order of ``named``."""
    used: set[str] = set()
    stack = [node]
    while stack:
        for n in A.walk(stack.pop()):
            if type(n) is A.Var and n.name in named and n.name not in used:
                used.add(n.name)
                stack.append(named[n.name])
    return [name for name in named if name in used]


def _final(node: A.Node, alg: Algebra, simplifier: Simplifier) -> A.Node:
    """Jacobian algebra and element-wise simplification in turn until the
    algebra finds nothing more to do (each can open a door for the other:
    (a - b)ᵀ diag(v) becomes ((a - b) ⊗ v)ᵀ, which may then be shortened)."""
    node = alg.normalize(node)
    for _ in range(3):
        polished = simplifier.polish(node)
        if polished is node:  # nothing to simplify: the algebra has already had its say
            break
        node = alg.normalize(polished)
        if node == polished:
            break
    return node


def _size(shape: Shape):
    return shape.flat


class _Reasoning:
    """Step 3's reasoning for each variable — the chain rule the paper would use
    and the products it sums — worked out when a printer first asks (an answer
    alone never does)."""

    def __init__(self, items, by_output, output, out_shape: Shape, typing: Typing):
        self.items, self.by_output, self.output, self.out_shape = items, by_output, output, out_shape
        self.typing = typing
        self.paths: tuple[Paths, bool] | None = None  # the paths, and whether a vector lies on them

    def __call__(self, v: str) -> tuple[str | None, tuple[tuple[Partial, ...], ...] | None]:
        items, by_output, output = self.items, self.by_output, self.output
        found = self.paths  # (asked under Combination's lock: made once)
        if found is None:
            on_path = _on_path(by_output, output.name) if isinstance(output, A.Var) else set()
            found = self.paths = (Paths(items, by_output, output),
                                  any(not it.shape.is_scalar for it in items if it.name in on_path))
        paths_to, vector_on_path = found
        paths = paths_to(v)
        v_shape = self.typing.variables.get(v, Shape(1, 1))
        return _rule(items, output, v, v_shape, self.out_shape, paths, vector_on_path), _shown(paths)


class Paths:
    """The paths of partials from the output down to each variable (the products
    the chain rule sums), counted for all variables in one pass."""

    def __init__(self, items, by_output, output):
        self.name = output.name if isinstance(output, A.Var) else None
        self.count: dict[str, int] = {self.name: 1} if self.name else {}
        self.up: dict[str, list[Partial]] = {}  # who uses each name: the partials by it
        for it in reversed(items):
            n = self.count.get(it.name, 0)
            for p in by_output.get(it.name, ()):
                self.up.setdefault(p.by, []).append(p)
                if n:
                    self.count[p.by] = min(self.count.get(p.by, 0) + n, MAX_PATHS_SHOWN + 1)

    def __call__(self, v: str) -> list[tuple[Partial, ...]] | int:
        """Every path down to v, or their count when there are too many to list."""
        total = self.count.get(v, 0) if v != self.name else 0
        if total == 0 or total > MAX_PATHS_SHOWN:
            return total
        found: list[tuple[Partial, ...]] = []

        def climb(node: str, acc: tuple[Partial, ...]) -> bool:  # from v up: every partial reaches the output
            if node == self.name:
                found.append(acc)
                return True
            if len(acc) >= MAX_PATH_SHOWN:
                return False
            return all(climb(p.of, (p, *acc)) for p in self.up.get(node, ()))

        if not climb(v, ()):
            return total  # a path too long to write out: the products are not listed
        return sorted(found, key=lambda path: [(p.of, p.by) for p in path])


def _shown(paths):
    return tuple(paths) if isinstance(paths, list) else None


def _rule(items, output, v, v_shape, out_shape, paths, vector_on_path: bool) -> str | None:
    """The chain rule the paper would use (§4.5, §8.5)."""
    if not items or not isinstance(output, A.Var) or output.name == v:
        return None
    n_paths = paths if isinstance(paths, int) else len(paths)
    if n_paths == 0 or n_paths == 1 and not isinstance(paths, int) and len(paths[0]) == 1:
        return None  # a single partial: no chain
    if not v_shape.is_scalar or not out_shape.is_scalar or vector_on_path:
        return VECTOR
    return TOTAL if n_paths > 1 else SINGLE


def _partial_rule(items, partials, typing) -> str | None:
    """The rule a partial itself is found by: the dot product by a vector is
    sum(w ⊗ x) through the vector chain rule, 𝟏ᵀdiag(x) (§5)."""
    exprs = {it.name: it.expr for it in items}
    for p in partials:
        if isinstance(exprs.get(p.of), A.Dot) and not typing.variables.get(p.by, Shape(1, 1)).is_scalar:
            return VECTOR
    return None


def _on_path(by_output, output: str) -> set[str]:
    """The intermediates the output depends on."""
    reach, stack = {output}, [output]
    while stack:
        for p in by_output.get(stack.pop(), ()):
            if p.by not in reach:
                reach.add(p.by)
                stack.append(p.by)
    return reach
