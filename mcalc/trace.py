"""The derivation as data: the paper's four steps, rendered later by printers."""
from __future__ import annotations

import threading
from typing import Callable, NamedTuple

from . import ast as A
from .shapes import Shape

SINGLE = "single-variable chain rule"
TOTAL = "single-variable total-derivative chain rule"
VECTOR = "vector chain rule"
RULE_ORDER = {None: 0, SINGLE: 1, TOTAL: 2, VECTOR: 3}


class Intermediate(NamedTuple):
    """Step 1: ``name = expr``, one operator or function application, whose
    arguments are variables, constants or earlier intermediates."""

    name: str
    expr: A.Node
    shape: Shape


class Partial(NamedTuple):
    """Step 2: ∂of/∂by, the local Jacobian of one intermediate."""

    of: str
    by: str
    expr: A.Node
    shape: Shape


_ROUTE_LOCK = threading.RLock()  # a route worked out or set by one thread at a time (the setters ask for it too)


class Combination:
    """Step 3: ∂output/∂variable by the chain rule.  ``paths`` lists the
    products the rule sums (None when there are too many to show), ``rule``
    names the chain rule; ``value`` is the combined Jacobian, still in
    intermediate variables.  All three are worked out when first asked for (an
    answer alone, as ``check`` and ``--latex`` print it, never needs them):
    ``reasoning(variable)`` gives the rule and the paths."""

    __slots__ = ("variable", "shape", "identities", "_raw", "_simplify", "_value", "_reasoning", "_route")

    def __init__(self, variable: str, reasoning: Callable[[str], tuple[str | None, tuple | None]],
                 value: A.Node, shape: Shape, simplify: Callable[[A.Node], A.Node] | None = None,
                 identities: tuple[str, ...] = ()):
        self.variable, self.shape = variable, shape
        self.identities = identities  # the vec identities that carried the gradient through the steps
        self._raw, self._simplify, self._value = value, simplify, None
        self._reasoning, self._route = reasoning, None

    @property
    def value(self) -> A.Node:
        if self._value is None:
            self._value = self._simplify(self._raw) if self._simplify is not None else self._raw
        return self._value

    @property
    def rule(self) -> str | None:
        return self._routed()[0]

    @rule.setter
    def rule(self, rule: str | None) -> None:
        with _ROUTE_LOCK:
            self._route = (rule, self._routed()[1])

    @property
    def paths(self) -> tuple[tuple[Partial, ...], ...] | None:
        return self._routed()[1]

    @paths.setter
    def paths(self, paths: tuple[tuple[Partial, ...], ...] | None) -> None:
        with _ROUTE_LOCK:
            self._route = (self._routed()[0], paths)

    def __getstate__(self) -> dict:  # (pickle protocols 0 and 1 ask for it where a class has __slots__)
        return {name: getattr(self, name) for name in self.__slots__}

    def __setstate__(self, state: dict) -> None:
        for name, value in state.items():
            setattr(self, name, value)

    def _routed(self) -> tuple[str | None, tuple | None]:
        route = self._route  # one read: set once, under the lock, it is never half made
        if route is None:
            with _ROUTE_LOCK:
                route = self._route
                if route is None:
                    route = self._route = self._reasoning(self.variable)
        return route


class Substitution(NamedTuple):
    """Step 4: the Jacobian with intermediates substituted back, simplified.
    An intermediate the answer would otherwise copy into several places stays
    named: ``shared`` defines it (in order), so the answer grows linearly."""

    variable: str
    value: A.Node
    shape: Shape
    shared: tuple[tuple[str, A.Node], ...] = ()


class Trace(NamedTuple):
    output: str
    intermediates: tuple[Intermediate, ...]
    partials: tuple[Partial, ...]
    combinations: tuple[Combination, ...]
    substitutions: tuple[Substitution, ...]
    # Step 3's named adjoints, δₖ = ∂y/∂uₖ (as the gradient by uₖ for a scalar y),
    # in the order reverse accumulation forms them
    adjoints: tuple[Intermediate, ...] = ()
    # the chain rule a partial itself was found by (∂(w · x)/∂w = 𝟏ᵀdiag(x), §5), if any
    partial_rule: str | None = None

    def __str__(self) -> str:
        """The four steps as data, in mcalc's syntax (a trace knows no shapes, so
        it spells out * and @; the paper's notation, with shapes and reasoning, is
        Derivation.steps)."""
        from .text import TextPrinter

        show = TextPrinter().doprint
        lines = ["1. intermediates: " + "; ".join(f"{i.name} = {show(i.expr)}"
                                                   for i in self.intermediates),
                 "2. partials: " + "; ".join(f"d{p.of}/d{p.by} = {show(p.expr)}"
                                              for p in self.partials)]
        for c in self.combinations:
            lines.append(f"3. d{self.output}/d{c.variable} = {show(c.value)}"
                         + (f" ({c.rule})" if c.rule else ""))
        for s in self.substitutions:
            lines.append(f"4. d{self.output}/d{s.variable} = {show(s.value)}")
        return "\n".join(lines)

    def _repr_pretty_(self, p, cycle) -> None:
        p.text(str(self))

    @property
    def rule(self) -> str | None:
        rules = [c.rule for c in self.combinations] + [self.partial_rule]
        return max(rules, key=RULE_ORDER.__getitem__) if rules else None
