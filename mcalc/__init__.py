"""mcalc: matrix-calculus derivatives the way the paper teaches them.

    >>> import mcalc
    >>> mcalc.diff("sum(w*x)+b", wrt="w").text
    'x^T'
"""
from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["diff", "hessian", "emit", "check", "parse", "Derivation", "McalcError", "__version__"]


def __getattr__(name):  # heavy parts load on first use, keeping `import mcalc` fast
    if name in ("diff", "hessian", "emit", "Derivation"):
        from . import api

        return getattr(api, name)
    if name == "check":
        from .claims import check

        return check
    if name == "parse":
        from .parser import parse

        return parse
    if name == "McalcError":
        from .errors import McalcError

        return McalcError
    raise AttributeError(name)
