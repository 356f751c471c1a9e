"""Second derivatives: the Hessian is the Jacobian of the gradient.

The gradient is derived first, laid out as a column (denominator layout: a
column for a vector x, the matrix itself for a matrix X, [∂y/∂x, ∂y/∂y] for
several scalars); then the same four steps run again with that gradient as
the function.  By a matrix X the result is over vec(X), (m·n)×(m·n), with
vec stacking columns.  Nothing here differentiates: it composes two
derivations, so a Hessian has exactly the rules a gradient has.  (Neither
pairs a product's name with its adjoint's, as a first derivative does: the
second derivation works on the gradient's names, and there the pairing made
the Hessian of a chain of products 5–16% longer.)
"""
from __future__ import annotations

from operator import is_

from . import ast as A
from .errors import NotSupported
from .shapes import SCALAR


def hessian(source: str, program: A.Program, wrt, *, vectors=(), matrices=(), scalars=(),
            layout: str = "numerator", strict_names: bool = False):
    """The Hessian of a scalar function as a Derivation whose ``gradient`` is the
    first derivation (see :func:`mcalc.hessian`)."""
    from .api import derivation_from_program

    first = derivation_from_program(source, program, wrt, vectors=vectors, matrices=matrices, scalars=scalars,
                                    layout="denominator", strict_names=strict_names, pair_products=False)
    out = first.typing.shape(first.program.body)
    if not out.is_scalar:
        raise NotSupported(f"the Hessian needs a scalar function, and this one is {out.describe()}; "
                           f"take mcalc diff of one component (or a sum) instead")
    shapes = [first.typing.variables.get(w, SCALAR) for w in first.wrt]
    if len(shapes) > 1 and not all(s.is_scalar for s in shapes):
        raise NotSupported("the Hessian by several variables takes scalars (--wrt x,y); by a vector or a "
                           "matrix, ask for one variable")
    names = set(first.variables()) | {name for name, _ in first.shared}
    output = next(n for n in ("g", "grad", "∇y") if n not in names)
    shape = first.typing.shape
    shared = tuple((name, _without_diagonals(e, shape)) for name, e in first.shared)
    gradient = A.Program(shared, _without_diagonals(first.answer.expr, shape), output=output)
    decls = first.typing_declarations()
    second = derivation_from_program(
        first.text, gradient, first.wrt, layout=layout,
        vectors=[f"{n}:{d}" for n, d in decls.vectors.items()],
        matrices=[f"{n}:{r},{c}" for n, (r, c) in decls.matrices.items()],
        scalars=sorted(decls.scalars), pair_products=False, numbers_of=first.program)
    second.gradient = first
    second.notes = first.notes
    second.settle_symmetric()
    return second


def _without_diagonals(node: A.Node, shape) -> A.Node:
    """diag(v) times a column written element-wise, v ⊗ (…), and a row times diag(v)
    as ((…)ᵀ ⊗ v)ᵀ: the same values, and a form whose derivative by v is diagonal
    (the derivative of diag(v) itself would be a 3-index object)."""
    if not node.children:
        return node
    if type(node) is A.MatMul:
        factors = _chain(node)
        rebuilt = [_without_diagonals(f, shape) for f in factors]
        return _rejoin(rebuilt, factors, shape)
    kids = tuple([_without_diagonals(c, shape) for c in node.children])
    return node if all(map(is_, kids, node.children)) else node.rebuild(kids)


def _chain(node: A.Node) -> list[A.Node]:
    out = []
    while type(node) is A.MatMul:
        out.append(node.right)
        node = node.left
    out.append(node)
    return out[::-1]


def _product(factors: list[A.Node]) -> A.Node:
    out = factors[0]
    for f in factors[1:]:
        out = A.MatMul(out, f)
    return out


def _rejoin(factors: list[A.Node], original: list[A.Node], shape) -> A.Node:
    """The chain with each diag(v) that meets a column on its right (or a row on its left)
    made element-wise; shapes are read from the original factors."""
    for i in range(len(factors) - 1, -1, -1):
        if type(factors[i]) is not A.Diag:
            continue
        v = factors[i].arg
        right = original[i + 1:]
        if right and shape(_product(right)).cols == 1:
            tail = A.Mul(v, _product(factors[i + 1:]))  # and the diagonals before it, in turn
            return _rejoin([*factors[:i], tail], [*original[:i], A.Mul(v, _product(right))], shape) if i else tail
        left = original[:i]
        if left and shape(_product(left)).rows == 1:
            head = A.Transpose(A.Mul(A.Transpose(_product(factors[:i])), v))
            rest = factors[i + 1:]
            return _rejoin([head, *rest], [A.Transpose(A.Mul(A.Transpose(_product(left)), v)), *original[i + 1:]],
                           shape) if rest else head
    return _product(factors)
