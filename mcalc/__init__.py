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
        from . import api as module
    elif name == "check":
        from . import claims as module
    elif name == "parse":
        from . import parser as module
    elif name == "McalcError":
        from . import errors as module
    else:
        raise AttributeError(name)
    value = globals()[name] = getattr(module, name)  # found once: later uses read the module's own name
    return value


def __dir__():  # the lazy names too, for help() and tab completion
    return sorted({*globals(), *__all__})
