"""Second derivatives: the Hessian is the Jacobian of the gradient.

The gradient is derived first, laid out as a column (denominator layout: a
column for a vector x, the matrix itself for a matrix X, [∂y/∂x, ∂y/∂y] for
several scalars); then the same four steps run again with that gradient as
the function.  By a matrix X the result is over vec(X), (m·n)×(m·n), with
vec stacking columns.  Nothing here differentiates: it composes two
derivations, so a Hessian has exactly the rules a gradient has.
"""
from __future__ import annotations

from . import ast as A
from .errors import NotSupported
from .shapes import SCALAR


def hessian(source: str, program: A.Program, wrt, *, vectors=(), matrices=(), scalars=(),
            layout: str = "numerator", strict_names: bool = False):
    """The Hessian of a scalar function as a Derivation whose ``gradient`` is the
    first derivation (see :func:`mcalc.hessian`)."""
    from .api import derivation_from_program

    first = derivation_from_program(source, program, wrt, vectors=vectors, matrices=matrices, scalars=scalars,
                                    layout="denominator", strict_names=strict_names)
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
    gradient = A.Program(tuple(first.shared), first.answer.expr, output=output)
    decls = first.typing_declarations()
    second = derivation_from_program(
        first.text, gradient, first.wrt, layout=layout,
        vectors=[f"{n}:{d}" for n, d in decls.vectors.items()],
        matrices=[f"{n}:{r},{c}" for n, (r, c) in decls.matrices.items()],
        scalars=sorted(decls.scalars))
    second.gradient = first
    second.notes = first.notes
    second.settle_symmetric()
    return second
