"""The library: ``diff`` returns a :class:`Derivation`, which prints itself as
mcalc text, Unicode, LaTeX, JSON, rich or Jupyter output, and evaluates."""
from __future__ import annotations

import contextlib
import gc
import math
import os
import re
import sys
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, NamedTuple
from fractions import Fraction

from . import ast as A
from .derive import _size_over, derive, output_name, substitute
from .errors import DeclarationError, McalcError, MissingValue, NotSupported, Overflow, ShapeError
from .jacobian import Algebra
from .latex import LatexPrinter
from .names import CONSTANTS, resolve_names
from .parser import _ALIASES, _SIZED, canonical_name, load_parser, parse
from .rules import FUNCTIONS
from .shapes import SCALAR, Declarations, Shape, dim_names, dim_sum, infer
from .simplify import Simplifier, at_pi
from .text import TextPrinter, UnicodePrinter, unicode_name
from .trace import Trace

if TYPE_CHECKING:
    from .evaluate import Mat

# Deep networks nest deeply: trees of a few thousand levels are walked recursively.
sys.setrecursionlimit(max(sys.getrecursionlimit(), 20_000))

# Everything a derivation needs is loaded with the library, as SymPy loads itself on
# import: the parser's tables and lexer (from the on-disk cache when it can) and the
# printers, so that the first derivation in a process costs what any other does.
load_parser()

class _PausedGC:
    """The cycle collector paused while parsing, deriving and printing: they make
    many small acyclic objects, and each full collection walks every live node,
    so with it a large tree costs more than its size (printing an answer twice
    as long took four times as long).  The collector is the process's: it is
    paused while any thread derives, and restored as it was found when the last
    one ends (per thread, a thread that came in while another had paused it and
    read "paused" could pause it again after that other had restored it, and
    leave it off)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.depth = 0
        self.enabled = False
        if hasattr(os, "register_at_fork"):  # POSIX
            os.register_at_fork(after_in_child=self._forked)

    def _forked(self):
        """In a child, the threads that paused the collector are not: it is as they found it."""
        self.lock = threading.Lock()  # one held at the fork would be held for ever
        if self.depth and self.enabled:
            gc.enable()
        self.depth = 0

    def __enter__(self):
        with self.lock:
            if not self.depth:
                self.enabled = gc.isenabled()
                gc.disable()
            self.depth += 1

    def __exit__(self, *exc):
        with self.lock:
            depth = self.depth = self.depth - 1 if self.depth else 0  # (0: a thread that paused it before a
            if not depth and self.enabled:  # fork, ending in the child)
                gc.enable()


_PAUSED_GC = _PausedGC()
_SMALL = 200  # characters: a function this short derives without pausing the collector
_NOT_PAUSED = contextlib.nullcontext()


def _paused_for(source: str):
    """The collector paused for the work on a long function; a short one makes few objects,
    and pausing costs more than it saves."""
    return _PAUSED_GC if len(source) >= _SMALL else _NOT_PAUSED


class _once:
    """A property worked out when first asked for, then kept in the instance: functools'
    cached_property without the lock it holds before Python 3.12, one lock shared by all
    instances, so that threads asking two derivations for their text waited for each
    other (two threads asking one derivation may each work it out: the same value)."""

    def __init__(self, func):
        self.func, self.name, self.__doc__ = func, func.__name__, func.__doc__

    def __set_name__(self, owner, name):
        self.name = name

    def __get__(self, instance, owner=None):
        if instance is None:
            return self
        value = instance.__dict__[self.name] = self.func(instance)  # found there from now on, before this
        return value


_IDENT = re.compile(r"[A-Za-z_\u0370-\u03ff][A-Za-z0-9_\u0370-\u03ff]*$")
_RESERVED = {"I", "ones", "T"}


class Answer(NamedTuple):
    """A Jacobian: the expression and its shape, in the chosen layout."""

    expr: A.Node
    shape: Shape


class Derivation:
    def __init__(self, source: str, program: A.Program, typing, wrt: list[str], layout: str,
                 trace: Trace, algebra, notes: tuple[str, ...] = ()):
        self.input = source
        self.notes = notes  # the assumptions mcalc made in reading the input
        self.gradient: Derivation | None = None  # for a Hessian: the first derivation, whose answer this derives
        self.program = program
        self.typing = typing
        self.wrt = wrt
        self.layout = layout
        self.trace = trace
        self._alg = algebra
        self.answers = [self._layout(s.value, s.shape) for s in trace.substitutions]
        self.answer = self._stack(self.answers)
        shared: dict[str, A.Node] = {}
        for s in trace.substitutions:
            shared.update(s.shared)
        self.shared: tuple[tuple[str, A.Node], ...] = ()
        if shared:
            order = {it.name: i for i, it in enumerate((*trace.intermediates, *trace.adjoints))}
            # named subexpressions, each after the ones it uses, whichever variable needed it
            self.shared = tuple(sorted(shared.items(), key=lambda ne: order[ne[0]]))
            typing.named = frozenset(id(e) for _, e in self.shared)  # (kept alive by self.shared)

    # -- the answer -----------------------------------------------------------
    @property
    def order(self) -> int:
        return 1 if self.gradient is None else 2

    def settle_symmetric(self) -> None:
        """A Hessian equals its transpose: keep whichever of the two reads more
        simply (fewer transposes, and those later: A + Aᵀ rather than Aᵀ + A)."""
        def key(node):
            text = self.print(node, "unicode")
            return text.count("ᵀ"), -text.find("ᵀ") if "ᵀ" in text else 0, len(text)

        other = self._alg.transpose(self.answer.expr)
        if key(other) < key(self.answer.expr):
            self.answer = Answer(other, self.answer.shape)

    def kind(self) -> str:
        """'gradient' (a scalar by one matrix, laid out as the matrix), 'vec-jacobian'
        (any other Jacobian that involves a matrix), or 'jacobian'."""
        shapes = [self.typing.variables.get(w, SCALAR) for w in self.wrt]
        out = self.typing.shape(self.program.body)
        if out.is_scalar and len(shapes) == 1 and shapes[0].is_matrix:
            return "gradient"
        if out.is_matrix or any(s.is_matrix for s in shapes):
            return "vec-jacobian"
        return "jacobian"

    @property
    def rule(self) -> str | None:
        return self.trace.rule

    @_once
    def steps(self):
        """The derivation as the paper's numbered steps of equalities, in this
        derivation's layout (:mod:`mcalc.lesson`); every format prints these.
        In Jupyter it displays as the LaTeX trace, printed as the text one."""
        from .lesson import Steps, lesson

        with _PAUSED_GC:
            return Steps(lesson(self), self)

    @property
    def shape(self) -> Shape:
        return self.answer.shape

    @property
    def expr(self) -> A.Node:
        return self.answer.expr

    @_once
    def text(self) -> str:
        """The answer in mcalc syntax (parses back to the same expression; with
        named subexpressions, to the same program: u3 = …; answer)."""
        with self._paused():
            show = _printer("text")(self.typing).doprint
            return "; ".join([*(f"{name} = {show(e)}" for name, e in self.shared), show(self.expr)])

    @_once
    def unicode(self) -> str:
        with self._paused():
            return self.print(self.expr, "unicode") + self._where("unicode")

    @_once
    def latex(self) -> str:
        """The answer in LaTeX; a piecewise one in the paper's cases form (§5)."""
        with self._paused():
            return _printer("latex")(self.typing).doprint_piecewise(self.expr) + self._where("latex")

    def _paused(self):
        return _paused_for(self.input)

    def _where(self, style: str) -> str:
        if not self.shared:
            return ""
        if style == "latex":
            return ", \\quad \\text{where } " + ", ".join(
                f"{self.print(A.Var(n), 'latex')} = {self.print(e, 'latex')}" for n, e in self.shared)  # bold as used
        return "  where " + ", ".join(f"{unicode_name(n)} = {self.print(e, 'unicode')}" for n, e in self.shared)

    def expanded(self) -> A.Node:
        """The answer with its named subexpressions written out."""
        values: dict[str, A.Node] = {}
        for name, e in self.shared:
            values[name] = substitute(e, values)
        return substitute(self.expr, values)

    def print(self, node: A.Node, style: str) -> str:
        with self._paused():
            return _printer(style)(self.typing).doprint(node)

    def variables(self) -> dict[str, Shape]:
        """The function's variables (not its intermediates or definitions)."""
        used = A.names(self.program.body).union(*(A.names(e) for _, e in self.program.definitions))
        defined = {name for name, _ in self.program.definitions}
        out = {}
        for name in sorted(used | set(self.wrt)):
            if name in defined or self.typing.is_dimension(name):
                continue
            out[name] = self.typing.variables.get(name, SCALAR)
        return out

    # -- numbers --------------------------------------------------------------
    def evaluate(self, values: dict, as_array: bool = False):
        """The Jacobian at ``values`` ({name: number, list or list of rows, or NumPy
        arrays and scalars}) as rows — or, with ``as_array``, as a NumPy array,
        computed by NumPy with diagonal Jacobians kept diagonal until the end (for
        large sizes: a 10,000×10,000 diag(x) costs 10,000 numbers until then)."""
        if not isinstance(values, Mapping):
            raise TypeError(f"values must be a mapping of names to values, not {type(values).__name__}")

        mats, sizes = self._bind(values)
        try:
            return self._evaluate(values, mats, sizes, as_array)
        except MissingValue as e:  # a value given under another name (X for x) is ignored: say so
            ignored = sorted(set(values) - set(mats) - set(sizes))
            if not ignored:
                raise
            raise MissingValue(f"{e.message}; {', '.join(ignored)} {'is' if len(ignored) == 1 else 'are'} "
                               f"not a variable of the function") from None

    def _evaluate(self, values, mats, sizes, as_array):
        from .evaluate import Evaluator

        if as_array:
            from .arrays import ArrayEvaluator, dense

            evaluate = ArrayEvaluator(mats, sizes)
            evaluate(self.function_expr())  # the point must be in the function's domain
            for name, e in self.shared:
                evaluate.values[name] = dense(evaluate(e))
            return dense(evaluate(self.expr))
        try:  # the point must be in the function's domain (ln(x) at x = -1 is not)
            self.function_at(values)
        except (MissingValue, Overflow):
            pass  # the answer may not need every variable (xᵀ needs no b), nor the function's size
        evaluate = Evaluator(dict(mats), sizes)
        for name, e in self.shared:
            evaluate.values[name] = evaluate(e)
            evaluate.computed.add(name)
        rows = evaluate(self.expr).tolist()
        if evaluate.cancelled:  # worked out again in SymPy's digits (σ(40) - 1 is 0 in floats, not -4.2e-18)
            from .verify import precise_value

            rows = precise_value(self, mats, sizes) or rows
        return rows

    def function_at(self, values: dict) -> Mat:
        """This derivation's function at ``values``: what it differentiates (for a
        Hessian, the gradient, whose Jacobian it is; ``.gradient.function_at`` is
        the function of the first derivation)."""
        from .evaluate import Evaluator

        mats, sizes = self._bind(values)
        return Evaluator(mats, sizes)(self.function_expr())

    def function_expr(self) -> A.Node:
        """The function as one expression: definitions expanded, 𝟏 and I sized."""
        expanded: dict[str, A.Node] = {}
        for name, expr in self.program.definitions:
            expanded[name] = substitute(expr, expanded)
        return substitute(self.program.body, expanded)

    def verify(self, candidate: A.Node | None = None, tolerance: float | None = None):
        """Check the answer (or ``candidate``) by the independent route of
        :mod:`mcalc.verify`: scalar expansion at small sizes, SymPy derivatives;
        ``tolerance`` a relative one for numeric comparisons (default 1e-9)."""
        from .claims import valid_tolerance
        from .verify import compare

        tolerance = valid_tolerance(tolerance)
        return compare(self, self.expanded() if candidate is None else candidate, tolerance=tolerance)

    def typing_declarations(self) -> Declarations:
        """The function's variables as declarations (to type other expressions alike)."""
        shapes = self.variables()
        return Declarations({n: s.rows for n, s in shapes.items() if s.kind == "vector"},
                            {n: (s.rows, s.cols) for n, s in shapes.items() if s.kind == "matrix"},
                            {n for n, s in shapes.items() if s.kind == "scalar"})

    def resolve(self, expr: A.Node | A.Program, closed: tuple = (), shape: Shape | None = None) -> A.Node:
        """Another expression (a claimed answer, or a printed one with its named
        subexpressions) typed with this function's variables: names read as the
        function's, juxtapositions resolved, 𝟏 and I sized, definitions written out.
        With ``shape`` (the Jacobian's), a 𝟏 or I that meets nothing else takes its
        size from it: the answer I for tr(X) with X k×k is I(k), not I(n); and an
        answer 0 is the zero Jacobian of that shape."""
        if shape is not None:
            body = expr.body if isinstance(expr, A.Program) else expr

            def with_body(b: A.Node):
                return expr._replace(body=b) if isinstance(expr, A.Program) else b

            if type(body) is A.Num and body.value == 0 and not shape.is_scalar:  # "= 0": the zero Jacobian
                return self._resolve(with_body(A.Zero(shape.rows, shape.cols)), closed)

            if any(type(n) in (A.Ones, A.Identity) and n.dim is None for n in A.walk(body)):
                if not shape.is_scalar:
                    try:  # the answer's sizes unified with the shape
                        return self._resolve(with_body(A.Add(body, A.Zero(shape.rows, shape.cols))), closed).left
                    except (ShapeError, DeclarationError):
                        pass  # it is another shape: typed on its own, the comparison says so
                else:
                    # a scalar meets 𝟏 and I by scalar expansion, which sizes nothing: the answer as
                    # written (𝟏ᵀx, 𝟏ᵀ𝟏 = n, as in the function) where that is 1×1, else each unsized
                    # 𝟏 and I 1×1 (I claimed for the derivative of x, a vector[1])
                    for reading in (body, _sized_one(body)):
                        try:
                            typed, claimed = self._resolve(with_body(reading), closed, with_shape=True)
                        except (ShapeError, DeclarationError):
                            continue
                        if claimed.is_scalar:
                            return typed
        return self._resolve(expr, closed)

    def _resolve(self, expr: A.Node | A.Program, closed: tuple = (), with_shape: bool = False):
        from .names import resolve_names

        program = expr if isinstance(expr, A.Program) else A.Program((), expr, closed=closed)
        defined = {name for name, _ in program.definitions}
        program, _ = resolve_names(program, set(self.variables()) | self.typing.dims,
                                   vectors={n for n, s in self.variables().items() if s.is_col and not s.is_scalar})
        used = A.names(program.body).union(*(A.names(e) for _, e in program.definitions))
        unknown = sorted(used - set(self.variables()) - self.typing.dims - defined)
        if unknown:
            first = next((n for n in A.walk(program.body) if type(n) is A.Var and n.name == unknown[0]), None)
            hint = "; for the identity write I or I_{n}" if any(re.fullmatch(r"I_?[A-Za-z0-9]", u) for u in unknown) \
                else "; for the constant write π (or \\pi)" if "pi" in unknown else ""
            raise DeclarationError(f"the answer uses {', '.join(unknown)}, which the function does not{hint}",
                                   first.pos if first is not None else None)
        typing = infer(program, self.typing_declarations())
        typed = typing.program
        values: dict[str, A.Node] = {}
        for name, e in typed.definitions:
            values[name] = substitute(e, values)
        body = substitute(typed.body, values)
        return (body, typing.shape(typed.body)) if with_shape else body

    def _bind(self, values: dict) -> tuple[dict[str, Mat], dict[str, int]]:
        """Values of the variables, and the sizes they imply; a size may also be given
        directly (n=3).  Names the function does not use are ignored, so one set of
        values can serve several functions."""
        from .evaluate import bind_sizes

        shapes = self.variables()
        # a declared variable the answer has lost (a Hessian's, or one the function does not
        # use) still gives its sizes: sum(I) needs n
        known = {**self.typing.variables, **(self.gradient.typing.variables if self.gradient is not None else {})}
        shapes = {**{n: known[n] for n in values if n in known and n not in shapes}, **shapes}
        mats = {name: _as_mat(v, name) for name, v in values.items() if name in shapes}
        sizes = bind_sizes(shapes, mats)
        for name, v in values.items():
            if name in shapes or not self.typing.is_dimension(name):
                continue
            m = _as_mat(v, name)
            if not m.is_scalar or m.data[0] != int(m.data[0]) or not 1 <= m.data[0] <= 10_000:
                raise DeclarationError(f"the size {name} must be a whole number from 1 to 10000")
            if sizes.setdefault(name, int(m.data[0])) != int(m.data[0]):
                raise DeclarationError(f"the size {name} is {sizes[name]} from the values, not {int(m.data[0])}")
        return mats, sizes

    # -- layouts --------------------------------------------------------------
    def _layout(self, expr: A.Node, shape: Shape) -> Answer:
        if self.layout == "denominator":
            return Answer(self._alg.transpose(expr), shape.T)  # numerator → denominator
        return Answer(expr, shape)

    def _stack(self, answers: list[Answer]) -> Answer:
        """Several variables: the partials side by side (numerator layout) —
        ∇f(x, y) = [∂f/∂x, ∂f/∂y] (paper §3) — or stacked (denominator)."""
        if len(answers) == 1:
            return answers[0]
        shapes = [self.typing.variables.get(w, SCALAR) for w in self.wrt]
        if self.typing.shape(self.program.body).is_scalar and any(s.is_matrix for s in shapes):
            raise NotSupported("the derivatives of a scalar by a matrix and by other variables at once: each is "
                               "laid out as its own variable's shape, so ask for one at a time")
        denominator = self.layout == "denominator"
        pieces = [a.expr for a in answers]
        along = [a.shape.rows if denominator else a.shape.cols for a in answers]
        written = [p.arg if isinstance(p, A.Transpose) else p for p in pieces]
        if any(n != 1 for n in along) or not all(isinstance(p, A.VecLit) for p in written) and not all(
                a.shape.is_scalar for a in answers):
            # a vector among them, or a column not written out: blocks side by side, [∂y/∂w | ∂y/∂b]
            subs = self.trace.substitutions
            blocks = A.HStack(tuple(s.value for s in subs))
            shape = Shape(subs[0].shape.rows, dim_sum([s.shape.cols for s in subs]))
            return self._layout(blocks, shape)
        across = answers[0].shape.cols if denominator else answers[0].shape.rows
        if across == 1:
            stacked = A.VecLit(tuple(pieces))
            expr = stacked if denominator else A.Transpose(stacked)
            shape = Shape(len(pieces), 1) if denominator else Shape(1, len(pieces))
            return Answer(expr, shape)
        columns = []
        for piece in pieces:
            if isinstance(piece, A.Transpose) and isinstance(piece.arg, A.VecLit):
                piece = piece.arg
            if not isinstance(piece, A.VecLit):
                raise NotSupported("stacking these partials into one Jacobian; ask for one variable at a time")
            columns.append(piece.items)
        rows = tuple(zip(*columns))
        if denominator:
            rows = tuple(columns)
        shape = Shape(len(rows), len(rows[0]))
        return Answer(A.MatLit(tuple(tuple(r) for r in rows)), shape)

    # -- rendering ------------------------------------------------------------
    def to_code(self, target: str = "numpy") -> str:
        """A self-contained Python module computing the function and this derivative
        with ``target`` ('numpy', 'torch' or 'jax'): ``f``, ``f_and_grad`` (a scalar
        function: each gradient shaped like its variable) or ``f_and_jacobian`` (in
        this layout), ``hessian`` for a Hessian, and ``check_gradient``.  Its
        temporaries are this trace's intermediates (see :mod:`mcalc.codegen`)."""
        from .codegen import to_code

        return to_code([self], target)

    def to_dict(self, values: dict | None = None) -> dict:
        from .render import to_dict

        return to_dict(self, values)

    def equation(self, style: str = "unicode") -> str:
        """The answer as an equation: ∂y/∂w = xᵀ (style "unicode" or "latex")."""
        from .render import answer_head, latex_head

        if style == "latex":
            return f"{latex_head(self)} = {self.latex}"
        return f"{answer_head(self)} = {self.unicode}"

    def _repr_latex_(self) -> str:
        return f"$${self.equation('latex')}$$"

    def _repr_mimebundle_(self, include=None, exclude=None):
        """Jupyter shows the equation ∂y/∂w = …; d.steps shows the whole trace."""
        return {"text/plain": self.equation(), "text/latex": self._repr_latex_()}

    def _repr_pretty_(self, p, cycle) -> None:
        p.text(self.equation())

    def __rich__(self):
        from .render import rich_view

        return rich_view(self)

    def __str__(self) -> str:
        return self.unicode

    def __repr__(self) -> str:
        return f"<Derivation d/d{','.join(self.wrt)} {self.input!r} = {self.text} ({self.shape})>"


_PRINTERS = {"text": TextPrinter, "unicode": UnicodePrinter, "latex": LatexPrinter}


def _printer(style: str):
    """The printer class for a style."""
    return _PRINTERS[style]


def _as_mat(value, name: str = "value") -> Mat:
    from .evaluate import Mat, parse_value

    if isinstance(value, Mat):
        return value
    if isinstance(value, str):
        return parse_value(value)
    import json

    return parse_value(json.dumps(_plain(value, name)))


def _plain(value, name: str):
    """Numbers and nested lists of them, from NumPy arrays and scalars (np.int64,
    which json cannot write), tuples, Fractions …; anything else is a TypeError."""
    import numbers

    if hasattr(value, "tolist") and not isinstance(value, (list, tuple)):  # NumPy arrays and scalars
        value = value.tolist()
    if isinstance(value, (list, tuple)):
        return [_plain(v, name) for v in value]
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return float(value) if not isinstance(value, int) else value
    raise TypeError(f"the value of {name} must be a number, a list of numbers or a list of rows, "
                    f"not {type(value).__name__}")


def declarations(vectors=(), matrices=(), scalars=()) -> Declarations:
    """Declarations from CLI-style strings: vectors 'x' or 'y:N', matrices 'X:N,n'."""
    decls = Declarations.empty()
    if not vectors and not matrices and not scalars:
        return decls
    seen: dict[str, str] = {}

    def claim(name: str, kind: str):
        if not _IDENT.match(name) or name in _RESERVED:
            raise DeclarationError(f"'{name}' cannot name a {kind}")
        if name in seen and seen[name] != kind:
            raise DeclarationError(f"'{name}' is declared both a {seen[name]} and a {kind}")
        seen[name] = kind

    def once(table: dict, name: str, value, item: str):
        if name in table and table[name] != value:
            raise DeclarationError(f"'{name}' is declared twice with different sizes ({item})")
        table[name] = value

    for item in vectors:
        name, sep, dim = item.partition(":")
        name = canonical_name(name.strip())
        claim(name, "vector")
        if sep and not dim.strip():
            raise DeclarationError(f"vector '{item}': write NAME or NAME:length (y:N)")
        once(decls.vectors, name, _own_size(name, _dim(dim.strip(), item), item) if dim.strip() else None, item)
    for item in matrices:
        name, _, dims = item.partition(":")
        name = canonical_name(name.strip())
        parts = [d.strip() for d in dims.split(",")]
        if len(parts) != 2 or not all(parts):
            raise DeclarationError(f"matrix '{item}': write NAME:rows,cols (X:N,n)")
        claim(name, "matrix")
        once(decls.matrices, name, (_own_size(name, _dim(parts[0], item), item),
                                    _own_size(name, _dim(parts[1], item), item)), item)
    for name in scalars:
        name = canonical_name(name.strip())
        claim(name, "scalar")
        decls.scalars.add(name)
    return decls


def _a_function(text: str) -> bool:
    """A function's name, as written (log, σ, trace, zeros as well as ln, sigmoid, tr)."""
    return text in FUNCTIONS or text in _ALIASES or text in _SIZED


def _own_size(name: str, dim, item: str):
    if dim == name:
        raise DeclarationError(f"'{item}': {name}'s size cannot be named {name}; name it otherwise (n, m, N, …)")
    return dim


def _dim(text: str, item: str):
    if text.isdigit():
        value = int(text)
        if not 1 <= value <= 10_000:
            raise DeclarationError(f"size {text} in '{item}' is out of range (1 to 10000)")
        return value
    if not _IDENT.match(text):
        raise DeclarationError(f"'{text}' in '{item}' is not a size (a number or a name like n)")
    what = f"the constant {text}" if text in CONSTANTS else "a name mcalc keeps (I, ones, T)" if text in _RESERVED \
        else f"the function {text}" if _a_function(text) else None
    if what is not None:  # printed, the size would read back as that: e ones(e)ᵀ/e
        raise DeclarationError(f"'{text}' in '{item}' is {what}, not a size: name the size otherwise (n, m, N, …)")
    return text


def split_names(items) -> list[str]:
    """['w,x', 'b'] → ['w', 'x', 'b']; 'y:N' keeps its size.  An empty item is an error."""
    if not items:
        return []
    parts = [part.strip() for item in items for part in item.split(",")]
    if not all(parts):
        raise DeclarationError("an empty name in a list (two commas, or a comma at an end)")
    return parts


def split_matrices(items) -> list[str]:
    """['X:N,n,Y:n,m'] → ['X:N,n', 'Y:n,m']: a part without ':' continues the matrix before it."""
    out: list[str] = []
    for part in split_names(items):
        if ":" in part or not out or out[-1].count(",") >= 1:
            out.append(part)
        else:
            out[-1] += "," + part
    return out


def _arguments(expr, wrt, vectors, matrices, scalars, layout):
    """diff()'s arguments checked where they enter: TypeError or ValueError naming the
    argument (not a TypeError from deep inside); a string where a list of names goes is
    one comma-separated item, "x,w" (not the characters x and w); no wrt, the only variable."""
    if not isinstance(expr, str):
        raise TypeError(f"expr must be a str (the function, e.g. 'sum(w*x)+b'), not {type(expr).__name__}")
    if layout not in ("numerator", "denominator"):
        raise ValueError(f"layout must be 'numerator' or 'denominator', not {layout!r}")

    def names(value, argument: str) -> list[str]:
        if not value and type(value) in (tuple, list):  # (none: the default, or an empty list)
            return []
        items = [value] if isinstance(value, str) else value
        try:
            items = list(items)
        except TypeError:
            raise TypeError(f"{argument} must be a str or a list of str, not {type(value).__name__}") from None
        for i, item in enumerate(items):
            if not isinstance(item, str):
                raise TypeError(f"{argument}[{i}] must be a str, not {type(item).__name__}")
        return items

    vectors, matrices = split_names(names(vectors, "vectors")), split_matrices(names(matrices, "matrices"))
    scalars = split_names(names(scalars, "scalars"))
    wrt = names(wrt, "wrt") if wrt is not None else [only_variable(expr, vectors, matrices, scalars, flag="wrt=")]
    return wrt, vectors, matrices, scalars


def only_variable(source: str, vectors=(), matrices=(), scalars=(), flag: str = "--wrt") -> str:
    """The variable to differentiate by where none is named: the function's only one
    (e and π are constants unless declared); else a McalcError listing them,
    in the words of ``flag`` (the command's --wrt, the library's wrt=)."""
    program = parse(source)
    vectors, matrices = list(vectors), list(matrices)
    declared = {item.partition(":")[0].strip() for item in [*vectors, *matrices, *scalars]}
    declared |= {name for name, _, _ in program.declarations}
    # the names as the derivation reads them: g₁ an element of g, an unknown function an error
    program, _ = resolve_names(program, declared, vectors={item.partition(":")[0].strip() for item in vectors})
    defined = {name for name, _ in program.definitions}
    names = set(A.names(program.body)).union(*(A.names(e) for _, e in program.definitions)) - defined
    sizes = {size for _, _, dims in program.declarations for size in dims}
    sizes |= {d.strip() for item in vectors + matrices for d in item.partition(":")[2].split(",")}
    candidates = sorted(names - sizes - (CONSTANTS - declared))
    if len(candidates) == 1:
        return candidates[0]
    missing = f"missing {flag}" if flag.startswith("-") else f"no {flag.rstrip('=')} given"
    if not candidates:
        raise McalcError(f"{missing}: the function has no variable to differentiate by")
    example = f"{flag} {candidates[0]}" if flag.startswith("-") else f"{flag}{candidates[0]!r}"
    raise McalcError(f"{missing}: the function has the variables {', '.join(candidates)}; "
                     f"say which, e.g. {example}")


def diff(expr: str, wrt=None, *, vectors=(), matrices=(), scalars=(), layout: str = "numerator",
         strict_names: bool = False) -> Derivation:
    """Differentiate ``expr`` by ``wrt`` (a name or a list of names; omitted, the function's
    only variable), showing the four steps.

    >>> diff("sum(w*x)+b", wrt="w").text
    'x^T'
    """
    wrt, vectors, matrices, scalars = _arguments(expr, wrt, vectors, matrices, scalars, layout)

    with _paused_for(expr):
        return _derivation(expr, parse(expr), wrt, vectors, matrices, scalars, layout, strict_names)


def derivation_from_program(source: str, program: A.Program, wrt, *, vectors=(), matrices=(), scalars=(),
                            layout: str = "numerator", strict_names: bool = False,
                            pair_products: bool = True, numbers_of: A.Program | None = None) -> Derivation:
    """The derivation of an already parsed program (see :func:`diff`; ``pair_products``:
    see :func:`mcalc.derive.derive`; ``numbers_of``: the program whose numbers set how the
    answer's print, if not this one)."""
    with _PAUSED_GC:
        return _derivation(source, program, wrt, vectors, matrices, scalars, layout, strict_names, pair_products,
                           numbers_of)


def _derivation(source: str, program: A.Program, wrt, vectors, matrices, scalars, layout: str,
                strict_names: bool, pair_products: bool = True, numbers_of: A.Program | None = None) -> Derivation:
    if layout not in ("numerator", "denominator"):
        raise DeclarationError(f"layout is 'numerator' or 'denominator', not '{layout}'")
    wrt_list = [canonical_name(w.strip())
                for w in ([wrt] if isinstance(wrt, str) else list(wrt)) for w in w.split(",")]
    if not any(wrt_list):
        raise DeclarationError("--wrt needs a variable")
    if not all(wrt_list):
        raise DeclarationError("--wrt has an empty name (two commas, or a comma at an end)")
    vectors, matrices, scalars = list(vectors), list(matrices), list(scalars)
    for name, kind, sizes in program.declarations:  # declarations written in the input itself
        {"vector": vectors, "matrix": matrices, "scalar": scalars}[kind].append(
            name + (":" + ",".join(sizes) if sizes else ""))
    decls = declarations(vectors, matrices, scalars)

    defined = {name for name, _ in program.definitions}
    for w in wrt_list:
        if w in _RESERVED or _a_function(w):
            what = {"I": "identity", "ones": "vector of ones", "T": "transpose mark (x^T)"}.get(w, f"function {w}")
            raise DeclarationError(f"'{w}' is mcalc's {what}, not a variable to differentiate by; name the "
                                   f"variable otherwise")
        if not _IDENT.match(w) or len(w) > 64:
            raise DeclarationError(f"--wrt '{w}' is not a variable name")
        if w in defined:
            raise DeclarationError(f"--wrt '{w}' names a definition, not a variable")
    if len(set(wrt_list)) != len(wrt_list):
        dup = next(w for w in wrt_list if wrt_list.count(w) > 1)
        raise DeclarationError(f"--wrt names {dup} twice: name each variable once (the second derivatives by "
                               f"{dup} are mcalc hessian EXPR --wrt {dup})")
    declared = set(decls.vectors) | set(decls.matrices) | decls.scalars
    program, notes = resolve_names(program, declared | set(wrt_list), strict=strict_names,
                                   vectors=set(decls.vectors))
    typing = infer(program, decls, extra_names=tuple(wrt_list))
    program = typing.program
    typing.numbers_of = numbers_of
    for w in wrt_list:
        if typing.is_dimension(w):
            raise DeclarationError(f"--wrt '{w}' is a dimension (a size), not a variable")
        if w in decls.matrices and decls.matrices[w][0] == 1 and typing.shape(program.body).is_scalar:
            cols = decls.matrices[w][1]
            raise NotSupported(f"∂/∂{w}, {w} declared a 1×{cols} matrix: mcalc reads a matrix with one row as a "
                               f"row vector, and would lay its gradient out as a vector's, not shaped like {w} "
                               f"as a matrix's is; declare a vector (-v {w.lower()}:{cols}) and write "
                               f"{w.lower()}ᵀ where the row is meant")
    notes += _assumption_notes(program, typing, declared, wrt_list)
    notes += _default_size_note(typing, decls)
    _has_a_value(program, typing)
    trace, alg = derive(program, typing, wrt_list, pair_products)
    return Derivation(source, program, typing, wrt_list, layout, trace, alg, notes=tuple(notes))


def _sized_one(node: A.Node) -> A.Node:
    """node with every 𝟏 and I that has no size given size 1."""
    if type(node) in (A.Ones, A.Identity) and node.dim is None:
        return type(node)(1, pos=node.pos)
    if not node.children:
        return node
    return node.rebuild(tuple(_sized_one(c) for c in node.children))


def _has_a_value(program: A.Program, typing) -> None:
    """A part of the function that has no value for certain — a division by a part of
    numbers that is exactly 0 (x/0, x/(0.1 + 0.2 - 0.3)), 0 to a negative power, ln
    or sqrt of an exact number out of their domain — leaves it no value anywhere, and
    so no derivative: refused, where it stands (the derivative of x + 1/0 was printed
    as 1).  Exact rationals only: a float that rounds to 0 (1e-200 · 1e-200) is no
    such certainty.  Then the same with what a division, a power or a function takes
    simplified, where that may be a number (x/(exp(1000) - exp(1000)), w/(x - x),
    ln(x - x): their derivatives were printed as 1/0, 0 and 1)."""
    stack = [program.body, *[d for _, d in reversed(program.definitions)]]  # the first definition first
    defined = dict(program.definitions)
    simplify = []
    memo: dict = {}  # the functions' values, each worked out once

    def exact(node: A.Node) -> Fraction | None:
        return _exact(node, memo)

    while stack:
        n = stack.pop()
        t = type(n)
        if t is A.Div or t is A.Pow or t is A.Call:
            why = _no_value(n, exact, memo)
            if why is not None:
                raise NotSupported(f"{why}: the function has no value anywhere, and no derivative", n.pos)
            part = n.right if t is A.Div else n.left if t is A.Pow else n.args[0] if n.args else A.ONE
            if part.children or type(part) is A.Var and part.name in defined:
                simplify.append(n)
        stack.extend(n.children)
    if not simplify:
        return
    polish: list = []  # the simplifier, made when a part may simplify to a number (most have each name once)
    written: dict[str, A.Node] = {}  # the definitions written out, while they stay small
    for name, e in program.definitions:
        e = substitute(e, written)
        if not _size_over(e, 200):
            written[name] = e

    def simplified(node: A.Node) -> Fraction | None:
        node = substitute(node, written)  # u = x - x; x/u
        if not node.children or not _may_be_constant(node):
            return None
        if not polish:
            polish.append(Simplifier(Algebra(typing)).polish)
        return _exact(polish[0](node))

    for n in simplify:
        why = _no_value(n, simplified, memo)
        if why is not None:
            raise NotSupported(f"{why}, once simplified: the function has no value anywhere, and no derivative",
                               n.pos)


def _exact(node: A.Node, memo: dict | None = None) -> Fraction | None:
    """node's exact value where it is a number whatever its names (1 > 2, sign(0), y > y,
    max(y, y) - y, 0·y, sin(π)), else None.  ``memo`` keeps a function's value (each
    call of the function's walk asks of the one inside it: sin(sin(…sin(x)…)) once a
    level, not a level's depth)."""
    if memo is None:
        memo = {}
    node = _unwrapped(node)
    t = type(node)
    if t is A.Num:
        return node.value
    if t is A.Zero:
        return Fraction(0)
    if t is A.Neg:
        v = _exact(node.arg, memo)
        return None if v is None else -v
    if t in (A.Add, A.Sub, A.Mul, A.Div, A.Pow, A.Compare):
        if (t is A.Compare or t is A.Sub) and _unwrapped(node.left) == _unwrapped(node.right):
            return Fraction(int(node.op in (">=", "<="))) if t is A.Compare else Fraction(0)  # y > y; max(y, y) - y
        a = _exact(node.left, memo)
        if a is None and t is not A.Mul:  # no value to find on the right (x^x^…^x: once a level, not k)
            return None
        b = _exact(node.right, memo)
        if t is A.Mul and (a == 0 or b == 0):
            return Fraction(0)  # 0·y: 0 wherever y has a value
        if a is None or b is None:
            return None
        if t is A.Compare:
            return Fraction(int({">": a > b, ">=": a >= b, "<": a < b, "<=": a <= b}[node.op]))
        return A.rational(type(node)(A.Num(a), A.Num(b)))
    if t is A.Call and node.fn in ("sum", "mean") and len(node.args) == 1:
        return Fraction(0) if _exact(node.args[0], memo) == 0 else None  # sum(y - y): sum(zeros)
    if t is A.Call and node.fn == "tr" and len(node.args) == 1 and type(node.args[0]) is A.Identity \
            and isinstance(node.args[0].dim, int):
        return Fraction(node.args[0].dim)  # tr(I(3)) - 3
    if t is A.Call and len(node.args) == 1 and node.fn in _AT_EXACT:
        hit = memo.get(id(node))
        if hit is None or hit[0] is not node:
            hit = memo[id(node)] = (node, _value_at(node.fn, node.args[0], memo))
        return hit[1]
    if t is A.Call and node.fn in ("sign", "abs", "relu", "max", "min") and node.args:
        values = [_exact(a, memo) for a in node.args]
        if any(v is None for v in values):
            return None
        v = values[0]
        return {"sign": lambda: Fraction((v > 0) - (v < 0)), "abs": lambda: abs(v), "relu": lambda: max(v, 0),
                "max": lambda: max(values), "min": lambda: min(values)}[node.fn]()
    return None


# f(v) at the v where it is a rational number: sin(0) = 0, ln(1) = 0, σ(0) = 1/2 (√ and the
# multiples of π below); x/atan(0) and x/(σ(0) - 1/2) have no value, as x/sin(0) has none
_AT_EXACT = {"sin": {0: 0}, "tan": {0: 0}, "tanh": {0: 0}, "asin": {0: 0}, "atan": {0: 0}, "asinh": {0: 0},
             "atanh": {0: 0}, "cos": {0: 1}, "exp": {0: 1}, "sigmoid": {0: Fraction(1, 2)}, "ln": {1: 0},
             "acos": {1: 0}, "acosh": {1: 0}, "sqrt": {}, "sinh": {0: 0}, "cosh": {0: 1}}


def _value_at(fn: str, arg: A.Node, memo: dict) -> Fraction | None:
    """fn(arg) where it is exactly a rational number, else None."""
    v = _exact(arg, memo)
    if v is not None:
        if fn == "sqrt":
            if v < 0:
                return None
            top, bottom = math.isqrt(v.numerator), math.isqrt(v.denominator)
            return Fraction(top, bottom) if top * top == v.numerator and bottom * bottom == v.denominator else None
        value = _AT_EXACT[fn].get(v)
        return None if value is None else Fraction(value)
    if fn in ("sin", "cos", "tan"):
        m = _pi_multiple(arg, memo)
        if m is not None:
            return at_pi(fn, m)
    return None


def _pi_multiple(node: A.Node, memo: dict | None = None) -> Fraction | None:
    """m where node is exactly mπ (π, 2π, π/2, -π, π - sin(π), 0), else None."""
    t = type(node)
    if t is A.Const:
        return Fraction(1) if node.name == "π" else None
    if t is A.Neg:
        m = _pi_multiple(node.arg, memo)
        return None if m is None else -m
    if t is A.Mul or t is A.Div:
        m = _pi_multiple(node.left, memo)
        k = _exact(node.right, memo) if m is not None else None
        if m is None and t is A.Mul:
            m = _pi_multiple(node.right, memo)
            k = _exact(node.left, memo) if m is not None else None
        if m is None or k is None or t is A.Div and k == 0:
            return None
        return m * k if t is A.Mul else m / k
    if t is A.Add or t is A.Sub:
        a = _pi_multiple(node.left, memo)
        b = _pi_multiple(node.right, memo) if a is not None else None
        if a is None or b is None:
            return None
        return a + b if t is A.Add else a - b
    return Fraction(0) if _exact(node, memo) == 0 else None


def _no_value(n: A.Node, value, memo: dict | None = None) -> str | None:
    """Why n has no value anywhere, judged by ``value`` of its parts (exact, or
    exact once simplified); None if it may have one."""
    t = type(n)
    if t is A.Div:
        return "a division by 0" if value(n.right) == 0 else None
    if t is A.Pow:
        exponent = _exact(n.right)
        if exponent is None:
            return None
        base = value(n.left)
        if base == 0 and exponent < 0:
            return "0 to a negative power"
        if base is not None and base < 0 and exponent.denominator != 1:
            return "a negative number to a power that is not whole"
    elif t is A.Call and n.fn == "tan" and len(n.args) == 1:
        m = _pi_multiple(n.args[0], memo)
        if m is not None and m % 1 == Fraction(1, 2):
            k = m.numerator
            return f"tan({'' if k == 1 else '-' if k == -1 else k}π/2), an odd multiple of π/2, has no value"
    elif t is A.Call and n.fn in _DOMAINS and len(n.args) == 1:
        v = value(n.args[0])
        if v is not None and not _DOMAINS[n.fn](v):
            return f"{n.fn} of {v}, outside its domain"
    return None


def _unwrapped(node: A.Node) -> A.Node:
    """max(y, y) and min(y, y) are y."""
    while type(node) is A.Call and node.fn in ("max", "min") and len(node.args) == 2 and node.args[0] == node.args[1]:
        node = node.args[0]
    return node


def _may_be_constant(node: A.Node) -> bool:
    """Whether node may simplify to a number: it has no name, or a name twice (x - x),
    or a 0 (0·y); one with each of its names once (ln(1 + x²)) is not."""
    seen: set[str] = set()
    for n in A.walk(node):
        t = type(n)
        if t is A.Var:
            if n.name in seen:
                return True
            seen.add(n.name)
        elif t is A.Num and n.value == 0 or t is A.Zero:
            return True
    return not seen


_DOMAINS = {"ln": lambda v: v > 0, "log": lambda v: v > 0, "sqrt": lambda v: v >= 0,
            "asin": lambda v: -1 <= v <= 1, "acos": lambda v: -1 <= v <= 1, "acosh": lambda v: v >= 1,
            "atanh": lambda v: -1 < v < 1}


def _default_size_note(typing, decls: Declarations) -> list[str]:
    """n · mean(x): the n the function uses read as x's default length, where no declaration names it."""
    if "n" not in typing.used or not typing.is_dimension("n"):
        return []
    declared = [*decls.vectors.values(), *(d for shape in decls.matrices.values() for d in shape)]
    if any(d is not None and "n" in dim_names(d) for d in declared):
        return []
    sized = sorted(v for v, s in typing.variables.items() if "n" in dim_names(s.rows) | dim_names(s.cols))
    if not sized:
        return ["n is read as the default size, a number, not a variable"]
    vector = next((v for v in sized if typing.variables[v].is_vector), None)
    how = f"-v {vector}:k" if vector else f"-M {sized[0]}:m,k"
    return [f"n is read as the size of {', '.join(sized)} (the default size), a number, not a variable; give "
            f"{'it' if len(sized) == 1 else 'them'} another size ({how}) to make n a variable"]


def _assumption_notes(program: A.Program, typing, declared: set[str], wrt: list[str]) -> list[str]:
    """What mcalc assumed that changes the answer, said once each."""
    used = typing.used
    notes = []
    for w in wrt:
        if w not in used:
            import difflib

            name = output_name(program, typing.variables)
            near = used and (difflib.get_close_matches(w, sorted(used), n=1) or
                             [u for u in sorted(used) if u.lower() == w.lower()])
            hint = f"; did you mean {near[0]}?" if near else ""
            notes.append(f"∂{name}/∂{w} = 0: {name} does not contain {w}{hint}")
    if not declared <= used:
        for d in sorted(declared - used - set(wrt)):
            notes.append(f"{d} is declared but the function does not use it")
    for x in sorted(typing.inverted - declared) if typing.inverted else ():
        notes.append(f"{x} is taken as a square matrix, since it is inverted ({x}⁻¹); declare it a scalar "
                     f"(-s {x}) to read {x}⁻¹ as 1/{x}")
    for e in sorted(typing.expanded - declared) if typing.expanded else ():
        other = f"a matrix (-M {e}:n,n) or a vector (-v {e})" if e[:1].isupper() else f"a vector (-v {e})"
        notes.append(f"{e} is taken as a scalar, added to or multiplied into every element (scalar expansion, "
                     f"§4.3); declare it {other} if it is one")  # (xᵀ A x: A, written apart, a matrix)
    return notes


def hessian(expr: str, wrt=None, *, vectors=(), matrices=(), scalars=(), layout: str = "numerator",
            strict_names: bool = False) -> Derivation:
    """The Hessian of a scalar function: the Jacobian of its gradient, derived by the
    same four steps (``.gradient`` holds the first derivation).  By a vector, the
    n×n matrix of ∂²y/∂xᵢ∂xⱼ; by several scalars, the block of their second
    partials; by an m×n matrix, the same over vec(X), (m·n)×(m·n).

    >>> hessian("x' @ A @ x", wrt="x", matrices=["A:n,n"]).text
    'A + A^T'
    """
    from .second import hessian as second_derivative
    from .parser import parse

    wrt, vectors, matrices, scalars = _arguments(expr, wrt, vectors, matrices, scalars, layout)  # as diff takes them
    with _PAUSED_GC:
        return second_derivative(expr, parse(expr), wrt, vectors=vectors, matrices=matrices, scalars=scalars,
                                 layout=layout, strict_names=strict_names)



def emit(expr: str, wrt=None, target: str = "numpy", *, vectors=(), matrices=(), scalars=(), layout: str = "numerator",
         strict_names: bool = False, order: int = 1) -> str:
    """The module :meth:`Derivation.to_code` writes, for ``diff`` (order 1) or
    ``hessian`` (order 2); a scalar function by several variables one of which is a
    matrix, which ``diff`` refuses to lay out as one Jacobian, gets one gradient each.

    >>> "def f_and_grad(*, b, w, x)" in emit("sum(w*x)+b", "w")
    True
    """
    from .codegen import to_code

    derivations = derivations_for_code(expr, wrt, vectors=vectors, matrices=matrices, scalars=scalars,
                                       layout=layout, strict_names=strict_names, order=order)
    return to_code(derivations, target)


def derivations_for_code(expr: str, wrt=None, *, vectors=(), matrices=(), scalars=(), layout: str = "numerator",
                         strict_names: bool = False, order: int = 1) -> list[Derivation]:
    """The derivations code is printed from: one, or one per variable where the
    derivatives cannot stand in one Jacobian (a scalar by a matrix and by other
    variables: code returns one gradient each, shaped like its variable)."""
    if order not in (1, 2):
        raise ValueError(f"order must be 1 or 2, not {order!r}")
    derive = diff if order == 1 else hessian
    options = dict(vectors=vectors, matrices=matrices, scalars=scalars, layout=layout, strict_names=strict_names)
    try:
        return [derive(expr, wrt, **options)]
    except NotSupported:
        names = split_names(_arguments(expr, wrt, vectors, matrices, scalars, layout)[0])
        if order == 2 or len(names) < 2:
            raise
        return [derive(expr, name, **options) for name in names]
