"""The trace as the paper teaches it: numbered steps of equalities, the same
for every format (text, rich and LaTeX lay them out; JSON carries the data).

Each row is a chain ``a = b = c`` whose terms all have one shape and one
value: a derivative symbol (∂u₁/∂w, or du₁/dx for one variable, §4.5.1), a
product of symbols or of values, a sum of such products, blocks [A | B], or an
expression.  In denominator layout every Jacobian is shown transposed, with
its transposed shape, and every chain is multiplied in the reverse order.
Notes give the paper's reasoning in words, once each.
"""
from __future__ import annotations

from typing import NamedTuple

from . import ast as A
from .latex import piecewise
from .shapes import Shape
from .trace import SINGLE, TOTAL, VECTOR


class D(NamedTuple):
    """∂of/∂by (by may be several names: ∂y/∂(w, b)); ``straight`` writes d
    (the single-variable chain rule, §4.5.1); ``vec`` writes ∂y/∂vec(W)."""

    of: str
    by: tuple[str, ...]
    straight: bool = False
    vec: bool = False


class Product(NamedTuple):
    """Factors multiplied: symbols side by side, values joined by × (or side
    by side where both are matrices: a matrix product)."""

    factors: tuple


class Sum(NamedTuple):
    terms: tuple


class Blocks(NamedTuple):
    """[A | B]: blocks side by side; ``transposed`` writes [Aᵀ | Bᵀ]ᵀ (the
    denominator layout stacks them)."""

    items: tuple
    transposed: bool = False


class Cases(NamedTuple):
    """The paper's piecewise form of ``node`` (§5): its value where its one
    comparison holds, zero where it does not (written in LaTeX)."""

    node: A.Node


class Row(NamedTuple):
    terms: tuple            # the equality chain, left to right
    shape: Shape | None = None
    note: str = ""
    kind: str = "equation"  # or "definition" (step 1), "alias" ((y = u₃))


class Steps(tuple):
    """A derivation's steps: a tuple of :class:`Step` that displays itself (the
    text trace when printed, the LaTeX one in Jupyter)."""

    def __new__(cls, steps, derivation):
        out = super().__new__(cls, steps)
        out.derivation = derivation
        return out

    def __reduce__(self):  # pickled and copied with its derivation (tuple's own would leave it out)
        return Steps, (tuple(self), self.derivation)

    def __str__(self) -> str:
        from .render import plain

        return plain(self.derivation)

    def _repr_pretty_(self, p, cycle) -> None:
        p.text(str(self))

    def _repr_latex_(self) -> str:
        from .render import latex_steps

        return latex_steps(self.derivation)


class Step(NamedTuple):
    number: int
    title: str
    rule: str | None
    rows: tuple[Row, ...]
    kind: str  # intermediates, partials, combine, substitute, stack


# The paper's reasoning in words, each said once per derivation: (plain text, LaTeX).
NOTES = {
    "elementwise": ("element-wise (§4.2): the i-th output depends on the i-th input alone, so the Jacobian is "
                    "diagonal, diag(∂uᵢ/∂xᵢ): the element-wise diagonal condition",
                    r"element-wise (\S 4.2): the $i$-th output depends on the $i$-th input alone, so the "
                    r"Jacobian is diagonal, $\operatorname{diag}(\partial u_i / \partial x_i)$: the element-wise "
                    r"diagonal condition"),
    "expansion": ("scalar expansion (§4.3): a scalar z meeting a vector is 𝟏z, so its partial is a column",
                  r"scalar expansion (\S 4.3): a scalar $z$ meeting a vector is $\mathbf{1} z$, so its partial "
                  r"is a column"),
    "sum": ("sum reduction (§4.4): ∂(Σᵢ vᵢ)/∂vⱼ = 1 for every j: all ones (the row 𝟏ᵀ in numerator layout)",
            r"sum reduction (\S 4.4): $\partial (\sum_i v_i) / \partial v_j = 1$ for every $j$: all ones (the "
            r"row $\mathbf{1}^{T}$ in numerator layout)"),
    "dot": ("dot product (§5): w · x = sum(w ⊗ x), so by the vector chain rule "
            "∂(w · x)/∂w = ∂sum(u)/∂u ∂(w ⊗ x)/∂w = 𝟏ᵀdiag(x)",
            r"dot product (\S 5): $\mathbf{w} \cdot \mathbf{x} = \operatorname{sum}(\mathbf{w} \otimes "
            r"\mathbf{x})$, so by the vector chain rule its partial by $\mathbf{w}$ is "
            r"$\mathbf{1}^{T} \operatorname{diag}(\mathbf{x})$"),
    "dot-den": ("dot product (§5): w · x = sum(w ⊗ x), so by the vector chain rule, in denominator layout "
                "(each Jacobian transposed, the chain reversed), ∂(w · x)/∂w = ∂(w ⊗ x)/∂w ∂sum(u)/∂u = diag(x)𝟏",
                r"dot product (\S 5): $\mathbf{w} \cdot \mathbf{x} = \operatorname{sum}(\mathbf{w} \otimes "
                r"\mathbf{x})$, so by the vector chain rule, in denominator layout, its partial by $\mathbf{w}$ "
                r"is $\operatorname{diag}(\mathbf{x}) \mathbf{1}$"),
    "total": ("total derivative (§4.5.2): on the left ∂ is the total derivative (every path from the variable); "
              "on the right the partial of the row's own intermediate by the variable is the direct one, and "
              "each other ∂uᵢ by the variable is the total found above it",
              r"total derivative (\S 4.5.2): on the left $\partial$ is the total derivative (every path from "
              r"the variable); on the right the partial of the row's own intermediate by the variable is the "
              r"direct one, and each other $\partial u_i$ by the variable is the total found above it"),
    "direct": ("the direct partial, the other arguments held fixed; the total derivative, which lets them "
               "move with the variable, is in step 3 (§4.5.2)",
               r"the direct partial, the other arguments held fixed; the total derivative, which lets them "
               r"move with the variable, is in step 3 (\S 4.5.2)"),
    "nochain": ("a single partial: nothing to chain", r"a single partial: nothing to chain"),
    "vector": ("the vector chain rule (§4.5.3): the product of the Jacobians, in order",
               r"the vector chain rule (\S 4.5.3): the product of the Jacobians, in order"),
    "vector-den": ("the vector chain rule (§4.5.3): the product of the Jacobians, in the reverse order "
                   "(denominator layout)",
                   r"the vector chain rule (\S 4.5.3): the product of the Jacobians, in the reverse order "
                   r"(denominator layout)"),
    "paths": ("the chain rule sums the product of the Jacobians along every path from the variable",
              r"the chain rule sums the product of the Jacobians along every path from the variable"),
    "vecrow": ("a scalar by a matrix: first as the row over vec of the matrix (its columns stacked)",
               r"a scalar by a matrix: first as the row over $\operatorname{vec}$ of the matrix (its columns "
               r"stacked)"),
    "vecrow-den": ("a scalar by a matrix: first as the column over vec of the matrix (its columns stacked; "
                   "denominator layout)",
                   r"a scalar by a matrix: first as the column over $\operatorname{vec}$ of the matrix (its "
                   r"columns stacked; denominator layout)"),
    "layout": ("denominator layout: every Jacobian transposed, so chains multiply in the reverse order",
               r"denominator layout: every Jacobian transposed, so chains multiply in the reverse order"),
    "stack": ("the partials by each variable side by side, as the gradient of §3 and the Jacobian of §4",
              r"the partials by each variable side by side, as the gradient of \S 3 and the Jacobian of \S 4"),
    "stack-den": ("denominator layout: the partials by each variable stacked, the transpose of the blocks "
                  "side by side",
                  r"denominator layout: the partials by each variable stacked, the transpose of the blocks "
                  r"side by side"),
    "substitute": ("the intermediates put back one at a time, the last first (§4.5.1)",
                   r"the intermediates put back one at a time, the last first (\S 4.5.1)"),
    "laid-out": ("the row vec(G)ᵀ over vec of the matrix, laid out as Gᵀ: the gradient G is shaped like the matrix",
                 r"the row $\operatorname{vec}(G)^{T}$ laid out as $G^{T}$: the gradient $G$ is shaped like the matrix"),
    "laid-out-den": ("the column vec(G) over vec of the matrix, laid out as G, the gradient, shaped like the matrix",
                     r"the column $\operatorname{vec}(G)$ laid out as $G$, the gradient, shaped like the matrix"),
    "adjoint": ("δₖ = ∂y/∂uₖ, used by several partials, is named once (reverse accumulation)",
                r"$\delta_k = \partial y / \partial u_k$, used by several partials, is named once (reverse "
                r"accumulation)"),
}

# The vec identities a combination used (Combination.identities), in LaTeX.
IDENTITIES_LATEX = {
    "vec(AXB) = kron(Bᵀ, A) vec(X)":
        r"$\operatorname{vec}(AXB) = \operatorname{kron}(B^{T}, A) \operatorname{vec}(X)$",
    "kron(A, B) kron(C, D) = kron(AC, BD)":
        r"$\operatorname{kron}(A, B) \operatorname{kron}(C, D) = \operatorname{kron}(AC, BD)$",
    "K vec(X) = vec(Xᵀ)": r"$K \operatorname{vec}(X) = \operatorname{vec}(X^{T})$",
    "vec(G)ᵀ diag(vec(V)) = vec(G ⊗ V)ᵀ":
        r"$\operatorname{vec}(G)^{T} \operatorname{diag}(\operatorname{vec}(V)) = "
        r"\operatorname{vec}(G \otimes V)^{T}$",
}


def note_text(key: str, style: str = "unicode") -> str:
    """A note's words: one of NOTES, or "using" an identity of the vec algebra."""
    if key in NOTES:
        return NOTES[key][style == "latex"]
    identity = key.removeprefix("using ")
    if style == "latex":
        return "using " + IDENTITIES_LATEX.get(identity, r"\text{" + identity.encode("ascii", "replace").decode() + "}")
    return key


MAX_SUBSTITUTIONS = 6   # rows of step 4 shown one substitution at a time
MAX_SHOWN_NODES = 120   # an expression larger than this is not written out step by step


def lesson(d) -> tuple[Step, ...]:
    """The derivation ``d`` as the paper's steps."""
    return _Builder(d).steps()


class _Builder:
    def __init__(self, d):
        self.d = d
        self.t = d.trace
        self.alg = d._alg
        self.den = d.layout == "denominator"
        self.said: set[str] = set()
        self.items = {it.name: it for it in self.t.intermediates}
        self.by_output: dict[str, list] = {}
        for p in self.t.partials:
            self.by_output.setdefault(p.of, []).append(p)
        # d for a function of one variable by the single-variable chain rule (§4.5.1)
        variables = list(d.variables().values())
        self.total_vars = {c.variable for c in self.t.combinations if c.rule == TOTAL}
        self.straight = self.t.rule in (SINGLE, None) and len(variables) == 1 and variables[0].is_scalar and \
            all(it.shape.is_scalar for it in self.t.intermediates)

    # -- helpers -------------------------------------------------------------
    def note(self, key: str) -> str:
        """The key of a note not yet said, else "" (in denominator layout, its words for that layout)."""
        if self.den and f"{key}-den" in NOTES:
            key = f"{key}-den"
        if key in self.said:
            return ""
        self.said.add(key)
        return key

    def lay(self, node: A.Node) -> A.Node:
        """A Jacobian in the chosen layout."""
        return self.alg.transpose(node) if self.den else node

    def lay_factors(self, node: A.Node) -> A.Node:
        """A product of Jacobians in the chosen layout, factor by factor and in
        the reverse order ((𝟏ᵀdiag(x))ᵀ = diag(x)𝟏), not simplified."""
        if not self.den:
            return node
        if isinstance(node, A.MatMul):
            out = A.MatMul(self.lay_factors(node.right), self.lay_factors(node.left))
            self.alg.typing.remember(out, self.alg.shape(node).T)
            return out
        return self.alg.transpose(node)

    def lay_shape(self, shape: Shape) -> Shape:
        return shape.T if self.den else shape

    def order(self, factors: list) -> tuple:
        return tuple(reversed(factors)) if self.den else tuple(factors)

    def sym(self, of: str, by, vec: bool = False) -> D:
        """∂of/∂by; a scalar by a matrix in the steps is the row over vec of the
        matrix, so it is written ∂u/∂vec(X) (only the answer is laid out as a matrix)."""
        by = (by,) if isinstance(by, str) else tuple(by)
        shapes = self.alg.typing.variables
        if len(by) == 1 and shapes.get(by[0]) is not None and shapes[by[0]].is_matrix and (
                of == self.t.output and self.d.typing.shape(self.d.program.body).is_scalar
                or of != self.t.output and shapes.get(of) is not None and shapes[of].is_scalar):
            vec = vec or of != self.t.output
        return D(of, by, self.straight, vec)

    # -- the steps -----------------------------------------------------------
    def steps(self) -> tuple[Step, ...]:
        out = [self.intermediates(), self.partials()]
        for c, s in zip(self.t.combinations, self.t.substitutions):
            out.append(self.combine(c))
        out.append(self.substitute())
        if len(self.d.wrt) > 1:
            out.append(self.stack())
        return tuple(out)

    def intermediates(self) -> Step:
        rows = []
        for it in self.t.intermediates:
            terms = [A.Var(it.name), it.expr]
            note = ""
            expanded = self._expanded(it)
            if expanded is not None:
                terms.append(expanded)
                note = self.note("expansion")
            rows.append(Row(tuple(terms), it.shape, note, "definition"))
        if self.t.intermediates and self.t.output != self.t.intermediates[-1].name:
            last = self.t.intermediates[-1]
            if self.t.output not in self.alg.typing.variables:  # y names the function's value
                self.alg.typing.add(self.t.output, last.shape)
            rows.append(Row((A.Var(self.t.output), A.Var(last.name)), None, "", "alias"))
        return Step(1, "Introduce intermediate variables", None, tuple(rows), "intermediates")

    def _expanded(self, it) -> A.Node | None:
        """x + z as x + 𝟏z where a scalar meets a vector (§4.3)."""
        e = it.expr
        if not isinstance(e, (A.Add, A.Sub, A.Mul)) or not it.shape.is_col or it.shape.is_scalar:
            return None
        shapes = [self.alg.shape(c) for c in e.children]
        if sum(s.is_scalar for s in shapes) != 1:
            return None
        ones = A.Ones(it.shape.rows)
        self.alg.typing.remember(ones, Shape(it.shape.rows, 1))
        kids = [A.Mul(ones, c) if s.is_scalar else c for c, s in zip(e.children, shapes)]
        return e.rebuild(tuple(kids))

    def partials(self) -> Step:
        rows = []
        for p in self.t.partials:
            terms = [self.sym(p.of, p.by)]
            note = ""
            reasoning, key = self._reasoning(p)
            if reasoning is not None and reasoning != p.expr:
                terms.append(self.lay_factors(reasoning))
            if key:
                note = self.note(key)
            terms.append(self.lay(p.expr))
            if not note and p.by in self.total_vars and len(self.by_output.get(p.of, ())) > 1:
                note = self.note("direct")  # ∂u₂/∂x = 1 holds u₁ fixed: the paper's caution (§4.5.2)
            rows.append(Row(tuple(terms), self.lay_shape(p.shape), note))
        if self.den and rows:
            rows.insert(0, Row((), None, self.note("layout"), "note"))
        return Step(2, "Compute the partials", None, tuple(rows), "partials")

    def _reasoning(self, p) -> tuple[A.Node | None, str]:
        """The paper's middle term for a partial, and the note that explains it."""
        it = self.items.get(p.of)
        if it is None:
            return None, ""
        e = it.expr
        arg_shape = self.alg.shape(A.Var(p.by))
        if isinstance(e, A.Dot) and arg_shape.is_col and not arg_shape.is_scalar and e.left != e.right:
            other = e.right if e.left == A.Var(p.by) else e.left
            ones = A.Ones(arg_shape.rows)
            row = A.Transpose(ones)
            self.alg.typing.remember(ones, Shape(arg_shape.rows, 1))
            self.alg.typing.remember(row, Shape(1, arg_shape.rows))
            diag = A.Diag(other)
            self.alg.typing.remember(diag, Shape(arg_shape.rows, arg_shape.rows))
            product = A.MatMul(row, diag)
            self.alg.typing.remember(product, Shape(1, arg_shape.rows))
            return product, "dot"
        if isinstance(e, A.Call) and e.fn == "sum" and not arg_shape.is_scalar and arg_shape.is_col:
            return None, "sum"
        if it.shape.is_scalar or not it.shape.is_col:
            return None, ""
        if arg_shape.is_scalar:
            return None, "expansion" if self._expanded(it) is not None else ""
        if isinstance(p.expr, (A.Diag, A.Identity)) or isinstance(p.expr, A.Neg) and isinstance(
                p.expr.arg, A.Identity) or self._is_scaled_identity(p.expr):
            from .rules import _element_derivative

            uses = [i for i, c in enumerate(e.children) if c == A.Var(p.by)]
            # one use: the element's derivative (w ⊗ w uses w twice; its partial sums both, diag(2w))
            element = _element_derivative(self.alg, e, uses[0]) if len(uses) == 1 else None
            if element is None:
                return None, "elementwise"
            if self.alg.shape(element).is_scalar:
                ones = A.Ones(it.shape.rows)
                self.alg.typing.remember(ones, Shape(it.shape.rows, 1))
                element = A.Neg(ones) if element == A.num(-1) else ones if element == A.ONE else A.Mul(ones, element)
            diag = A.Diag(element)
            self.alg.typing.remember(diag, Shape(it.shape.rows, it.shape.rows))
            return diag, "elementwise"
        return None, ""

    @staticmethod
    def _is_scaled_identity(node) -> bool:
        return isinstance(node, A.Mul) and any(isinstance(c, A.Identity) for c in node.children)

    def combine(self, c) -> Step:
        from .text import unicode_name

        # one Combine step per variable: by several, each says which it is
        title = "Combine" if len(self.d.wrt) == 1 else f"Combine, by {unicode_name(c.variable)}"
        head = self.sym(self.t.output, c.variable, vec=self.d.kind() == "gradient")
        shape = self.lay_shape(c.shape)
        value = self.lay(c.value)
        if c.rule == TOTAL and c.paths:  # step 4 starts from the value with its adjoints: they are defined here
            return Step(3, title, c.rule, (*self._totals(c, head, shape), *self._adjoint_rows(c)), "combine")
        rows = []
        note = ""
        if c.paths and all(c.paths):
            symbols = Sum(tuple(Product(self.order([self.sym(p.of, p.by) for p in path])) for path in c.paths))
            values = Sum(tuple(Product(self.order([self.lay(p.expr) for p in path])) for path in c.paths))
            terms = [head, _one(symbols)]
            shown = _one(values)
            if shown != value:
                terms.append(shown)
            terms.append(value)
            if all(len(path) == 1 for path in c.paths) and len(c.paths) == 1:
                note = self.note("nochain")
            elif len(c.paths) > 1 and c.rule == VECTOR:
                note = self.note("paths")
            elif c.rule == VECTOR:
                note = self.note("vector")
            rows.append(Row(tuple(_dedupe(terms)), shape, note))
        else:
            rows.append(Row((head, value), shape, ""))
        rows.extend(self._adjoint_rows(c))
        for identity in c.identities:  # the vec identities that carried the gradient through
            rows.append(Row((), None, f"using {identity}", "note"))
        if head.vec:
            rows.insert(0, Row((), None, self.note("vecrow"), "note"))
        return Step(3, title, c.rule, tuple(rows), "combine")

    def _adjoint_rows(self, c) -> list[Row]:
        """The named adjoints c's value uses, and those they use (ε₂ = εδ₂(…) in a
        Hessian: εδ₂ was never defined), each defined once, in order."""
        used = A.names(c._raw) | A.names(c.value)  # once: walked per adjoint, a long chain's trace was quadratic
        adjoints = {adj.name: adj for adj in self.t.adjoints}
        stack = [name for name in used if name in adjoints]
        while stack:
            for name in A.names(adjoints[stack.pop()].expr):
                if name in adjoints and name not in used:
                    used.add(name)
                    stack.append(name)
        return [Row((A.Var(adj.name), adj.expr), adj.shape, self.note("adjoint"), "definition")
                for adj in self.t.adjoints if adj.name in used]

    def _totals(self, c, head: D, shape: Shape) -> tuple[Row, ...]:
        """§4.5.2: the total derivative of each intermediate that the variable
        reaches by more than one route or through another total, in order:
        ∂uₖ/∂x = ∂uₖ/∂x + Σ ∂uₖ/∂uᵢ ∂uᵢ/∂x (the direct term where x is an argument)."""
        v = c.variable
        alg = self.alg
        polish = c._simplify or (lambda n: n)
        total: dict[str, A.Node] = {v: A.ONE}
        rows = []
        note = self.note("total")
        last = self.t.intermediates[-1].name if self.t.intermediates else None
        for it in self.t.intermediates:
            parts = [p for p in self.by_output.get(it.name, ()) if p.by in total]
            if not parts:
                continue
            value = None
            for p in parts:
                term = p.expr if p.by == v else alg.jmul(p.expr, total[p.by])
                value = term if value is None else alg.jadd(value, term)
            total[it.name] = polish(value)
            if len(parts) == 1 and parts[0].by == v and it.name != last:
                continue  # its total derivative is its partial, shown in step 2
            symbols, values = [], []
            for p in parts:
                if p.by == v:
                    symbols.append(D(it.name, (v,)))
                    values.append(self.lay(p.expr))
                else:
                    symbols.append(Product(self.order([D(it.name, (p.by,)), D(p.by, (v,))])))
                    values.append(Product(self.order([self.lay(p.expr), self.lay(total[p.by])])))
            lhs = head if it.name == last else D(it.name, (v,))
            terms = _dedupe([lhs, _one(Sum(tuple(symbols))), _one(Sum(tuple(values))), self.lay(total[it.name])])
            rows.append(Row(tuple(terms), shape if it.name == last else self.lay_shape(it.shape), note))
            note = ""
        if not rows or rows[-1].terms[0] != head:
            rows.append(Row((head, self.lay(c.value)), shape, ""))
        return tuple(rows)

    def substitute(self) -> Step:
        rows = []
        for c, s in zip(self.t.combinations, self.t.substitutions):
            head = self.sym(self.t.output, s.variable)
            terms = [head]
            note = ""
            if self.d.kind() != "gradient":
                chain = self._one_at_a_time(c.value, s)
                if len(chain) > 1:
                    note = self.note("substitute")
                terms.extend(self.lay(n) for n in chain)
            final = self.lay(s.value)
            if not terms[1:] or terms[-1] != final:
                terms.append(final)
            rows.append(Row(tuple(_dedupe(terms)), self.lay_shape(s.shape), note))
            for name, e in s.shared:
                rows.append(Row((A.Var(name), e), self.alg.shape(A.Var(name)), "", "definition"))
            if piecewise(final, self.alg.shape) is not None:  # and in the paper's cases form (§5)
                at = -1 - len(s.shared)
                rows[at] = rows[at]._replace(terms=rows[at].terms + (Cases(final),))
            if self.d.kind() == "gradient":
                rows.append(Row((), None, "laid-out-den" if self.den else "laid-out", "note"))
        return Step(4, "Substitute", None, tuple(rows), "substitute")

    def _one_at_a_time(self, value: A.Node, s) -> list[A.Node]:
        """The combined value with the intermediates put back one at a time, the
        last first, as the paper does (§4.5.1); the named ones stay."""
        from .derive import substitute

        keep = {name for name, _ in s.shared}
        defs = {it.name: it.expr for it in (*self.t.intermediates, *self.t.adjoints)}
        order = [it.name for it in reversed(self.t.adjoints)] + [it.name for it in reversed(self.t.intermediates)]
        chain = [value]
        names = A.names(value)  # of the last in the chain, walked once per substitution, not per name
        for name in order:
            if name in keep or name not in names:
                continue
            if len(chain) > MAX_SUBSTITUTIONS or _size(chain[-1]) > MAX_SHOWN_NODES:
                return chain[:1]
            chain.append(substitute(chain[-1], {name: defs[name]}))
            names = A.names(chain[-1])
        return chain

    def stack(self) -> Step:
        d = self.d
        out = self.t.output
        heads = tuple(self.sym(out, w) for w in d.wrt)
        if self.den:
            blocks = Blocks(heads, transposed=True)
            note = self.note("stack-den")
        else:
            blocks = Blocks(heads)
            note = self.note("stack")
        row = Row((D(out, tuple(d.wrt)), blocks, d.expr), d.shape, note)
        return Step(5, "Stack the partials", None, (row,), "stack")


def _one(term):
    """A sum or product of one term is that term."""
    if isinstance(term, (Sum, Product)) and len(term[0]) == 1:
        return _one(term[0][0])
    return term



def _dedupe(terms: list) -> list:
    """Each term once: x = x is no step."""
    out = []
    for t in terms:
        if not out or out[-1] != t:
            out.append(t)
    return out


def _size(node: A.Node) -> int:
    return sum(1 for _ in A.walk(node))

