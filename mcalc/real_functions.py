"""SymPy functions as verification instantiates them, over real symbols.

SymPy's ``tanh`` decides whether it is finite by splitting its argument into real
and imaginary parts, which expands the argument: in a network, where each layer's
argument holds every unit of the layer before, that takes minutes, and SymPy asks
it whenever a product is formed.  The tanh of a real number is finite (it lies in
(-1, 1)): this one says so first.  Imported only by verification (it imports SymPy).
"""
from __future__ import annotations

import sympy as sp


class tanh(sp.tanh):
    """SymPy's tanh, finite wherever its argument is real; its derivative is in this tanh."""

    def _eval_is_finite(self):
        if self.args[0].is_extended_real:
            return True
        return super()._eval_is_finite()

    def fdiff(self, argindex=1):
        if argindex == 1:
            return sp.S.One - tanh(self.args[0]) ** 2
        return super().fdiff(argindex)  # pragma: no cover - tanh has one argument
