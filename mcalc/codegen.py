"""Code generation: a derivation printed as a self-contained Python module
(NumPy, PyTorch or JAX) that computes the function and its derivative.

One more printer of the trace.  The forward pass is step 1, its intermediate
variables by their names (u1, u2, …, the user's own definitions by theirs);
the backward pass is step 3, reverse accumulation: the named adjoints
δₖ = ∂y/∂uₖ, then each variable's combined Jacobian, in those intermediates
(a subexpression that equals an intermediate is that intermediate); where
those divide by a value the function computes and the answers of step 4 do
not, the answers (the cross-entropy's σ(z) - y, not its 0/0 at saturation).
ln σ(u) and ln(1 - σ(u)) are computed as -softplus(∓u).  What the
derivatives use twice is computed once (g1, g2, …).  Structure is never
materialised where a product can use it: diag(v) A is ``v[:, None] * A``, a
Kronecker product applied to a vector or matrix is a reshape and two products
(kron(A, B) vec(X) = vec(B X Aᵀ)), a commutation matrix a transpose, 𝟏ᵀA a
sum; a chain of products is taken in the order that costs least.  Sizes stay
symbolic: the module takes them from its arguments.
"""
from __future__ import annotations

import keyword
import re
import unicodedata
from fractions import Fraction
from string import Template
from typing import NamedTuple

from . import ast as A
from .errors import NotSupported
from .evaluate import stable_log
from .shapes import Shape, dim_mul, dim_names, dim_value

TARGETS = ("numpy", "torch", "jax")

# Python's binding strengths, loosest first (for parentheses).
_CMP, _ADD, _MUL, _UNARY, _POW, _ATOM = 3, 5, 6, 7, 8, 10


# ----- values: what an emitted expression stands for -----------------------------
class V(NamedTuple):
    """An emitted value: Python code and its binding strength, the shape it has
    in the derivation, and its structure.  ``form`` is 'dense' (an array: 0-d
    for a scalar, 1-D for a column or a row, 2-D for a matrix), 'diag' (parts:
    the diagonal, a vector, or a scalar for c·I), 'ones' (𝟏 or 𝟏ᵀ), 'zero',
    'kron' (parts: the two factors) or 'comm' (parts: m, n of K(m, n))."""

    code: str
    prec: int
    shape: Shape
    form: str = "dense"
    parts: tuple = ()
    constant: bool = False  # made of numbers and sizes only (no array in it)
    op: str = ""  # the operator written last, for parentheses that help a reader

    @property
    def kind(self) -> str:
        s = self.shape
        return "scalar" if s.is_scalar else "col" if s.is_col else "row" if s.is_row else "matrix"


def _eye(shape: Shape, scale: V) -> V:
    return V("", _ATOM, shape, "diag", (scale,))


_ONE = V("1", _ATOM, Shape(1, 1), constant=True)


def _is_one(v: V) -> bool:
    return v.constant and v.code == "1"


# ----- the three libraries -----------------------------------------------------------
# Each operation as each library spells it: {np} is the alias the module imports
# the library under, {ref} an argument whose dtype (and device) new arrays take,
# {0}, {1} the operands, {h_name} one of the module's own helper functions.
_NUMPY = {
    "exp": "{np}.exp({0})", "ln": "{np}.log({0})", "sin": "{np}.sin({0})", "cos": "{np}.cos({0})",
    "tan": "{np}.tan({0})", "tanh": "{np}.tanh({0})", "sqrt": "{np}.sqrt({0})", "abs": "{np}.abs({0})",
    "sign": "{np}.sign({0})", "relu": "{np}.maximum({0}, 0)", "sigmoid": "{h_sigmoid}({0})",
    "asin": "{np}.arcsin({0})", "acos": "{np}.arccos({0})", "atan": "{np}.arctan({0})",
    "asinh": "{np}.arcsinh({0})", "acosh": "{np}.arccosh({0})", "atanh": "{np}.arctanh({0})",
    "sinh": "{np}.sinh({0})", "cosh": "{np}.cosh({0})", "softplus": "{np}.logaddexp(0, {0})",  # ln(1 + eˣ), stable
    "softmax": "{h_softmax}({0})", "log_softmax": "{h_log_softmax}({0})", "logsumexp": "{h_logsumexp}({0})",
    "max": "{np}.maximum({0}, {1})", "min": "{np}.minimum({0}, {1})",
    "sum": "{np}.sum({0})", "mean": "{np}.mean({0})", "tr": "{np}.trace({0})",
    "det": "{np}.linalg.det({0})", "inv": "{np}.linalg.inv({0})",
    "norm": "{h_norm}({0})", "norm2": "{h_norm}({0})",  # (scaled: ‖x‖ of 1e200s is no overflow)
    # (a > b) as 0.0 and 1.0; a number where an array must stand; a constant as the module's float;
    # a number a function takes
    "indicator": "{0} * 1.0", "number": "{0}", "scalar": "{np}.float64({0})", "argument": "{0}",
    "ones": "{np}.ones({0})", "zeros": "{np}.zeros({0})", "eye": "{np}.eye({0})", "arange": "{np}.arange({0})",
    "diag": "{np}.diag({0})", "outer": "{np}.outer({0}, {1})", "kron": "{np}.kron({0}, {1})",
    "einsum": "{np}.einsum({0}, optimize=True)", "axis_sum": "{np}.sum({0}, axis={1})",
    # (floats: [2, 2, 2] as integers would refuse a negative power)
    "stack": "{np}.array([{0}], dtype=float)", "hstack": "{np}.hstack([{0}]).astype(float)",
    "column_stack": "{np}.column_stack([{0}])",
    "concat_columns": "{np}.concatenate([{0}], axis=1)", "permute": "{0}.transpose{1}",
}
_TORCH = {
    **{fn: template.replace("{np}.", "{np}.") for fn, template in _NUMPY.items()},
    "relu": "{np}.relu({0})", "sigmoid": "{np}.sigmoid({0})", "softplus": "{np}.nn.functional.softplus({0})",
    "softmax": "{np}.softmax({0}, 0)",
    "log_softmax": "{np}.log_softmax({0}, 0)", "logsumexp": "{np}.logsumexp({0}, 0)",
    "indicator": "{np}.as_tensor({0}, dtype={ref}.dtype)", "number": "{ref}.new_tensor({0})",
    "scalar": "{ref}.new_tensor({0})", "ones": "{ref}.new_ones({0})", "zeros": "{ref}.new_zeros({0})",
    "argument": "{ref}.new_tensor({0})",  # torch.exp(2) refuses a number
    "eye": "{np}.eye({0}, dtype={ref}.dtype, device={ref}.device)",
    "arange": "{np}.arange({0}, device={ref}.device)",
    # torch.kron views its arguments: a transposed one must be laid out anew
    "kron": "{np}.kron({0}.contiguous(), {1}.contiguous())",
    "einsum": "{np}.einsum({0})", "axis_sum": "{np}.sum({0}, {1})", "concat_columns": "{np}.cat([{0}], dim=1)",
    "permute": "{0}.permute{1}", "stack": "{np}.stack([{0}])", "hstack": "{np}.hstack([{0}])",  # (numbers are tensors)
    "norm": "{np}.linalg.norm({0})", "norm2": "{np}.linalg.norm({0})",
}
_JAX = {
    **_NUMPY,
    "relu": "{np}.maximum({0}, 0)", "sigmoid": "{jax}.nn.sigmoid({0})", "softplus": "{jax}.nn.softplus({0})",
    "softmax": "{jax}.nn.softmax({0})",
    "log_softmax": "{jax}.nn.log_softmax({0})", "logsumexp": "{jax}.nn.logsumexp({0})",
    "scalar": "{np}.asarray({0}, dtype={ref}.dtype)", "ones": "{np}.ones({0}, dtype={ref}.dtype)",
    "argument": "{np}.asarray({0}, dtype={ref}.dtype)",  # jax.nn.sigmoid(2) refuses an integer
    "zeros": "{np}.zeros({0}, dtype={ref}.dtype)", "eye": "{np}.eye({0}, dtype={ref}.dtype)",
    "einsum": "{np}.einsum({0})", "stack": "{np}.asarray([{0}], dtype={ref}.dtype)",
    "hstack": "{np}.hstack([{0}]).astype({ref}.dtype)",
    "norm": "{np}.linalg.norm({0})", "norm2": "{np}.linalg.norm({0})",
}


class Target:
    """One library: its spellings, the alias it is imported under, the argument
    new arrays take their dtype from, and the helper functions the code used."""

    SPELLINGS = {"numpy": _NUMPY, "torch": _TORCH, "jax": _JAX}
    TITLES = {"numpy": "NumPy", "torch": "PyTorch", "jax": "JAX"}
    ALIASES = {"numpy": ("np", "numpy", "np_"), "torch": ("torch", "torch_", "pytorch"),
               "jax": ("jnp", "jax_numpy", "jnp_")}
    HELPERS = ("sigmoid", "softmax", "log_softmax", "logsumexp", "norm")  # NumPy has none of its own

    def __init__(self, name: str, taken: set[str]):
        self.name = name
        self.title = self.TITLES[name]
        self.spelling = self.SPELLINGS[name]
        self.np = next((a for a in self.ALIASES[name] if a not in taken), None) or _fresh(self.ALIASES[name][-1], taken)
        self.jax = _fresh("jax", taken)
        self.helper_names = {h: _fresh("_" + h, taken) for h in self.HELPERS}
        self.used: set[str] = set()  # helpers the code calls
        self.ref = "x"

    def __call__(self, op: str, *args) -> str:
        template = self.spelling[op]
        for h in self.HELPERS:
            if "{h_" + h + "}" in template:
                self.used.add(h)
                if h == "log_softmax":
                    self.used.add("logsumexp")
        return template.format(*args, np=self.np, ref=self.ref, jax=self.jax,
                               **{f"h_{h}": n for h, n in self.helper_names.items()})

    def imports(self) -> list[str]:
        if self.name == "jax":
            return ["import jax" if self.jax == "jax" else f"import jax as {self.jax}",
                    f"import jax.numpy as {self.np}"]
        return [f"import {self.name}" if self.np == self.name else f"import {self.name} as {self.np}"]

    def helper_source(self, name: str) -> str:
        np, h = self.np, self.helper_names
        return {
            "sigmoid": f'def {h["sigmoid"]}(x):\n    """σ(x) = 1/(1 + exp(-x)), without overflow."""\n'
                       f"    return {np}.exp(-{np}.logaddexp(0, -x))\n",
            "softmax": f'def {h["softmax"]}(z):\n    """exp(z) ⊘ sum(exp(z)), shifted by max(z) against '
                       f'overflow."""\n    e = {np}.exp(z - {np}.max(z))\n    return e / {np}.sum(e)\n',
            "logsumexp": f'def {h["logsumexp"]}(z):\n    """ln(sum(exp(z))), shifted by max(z) against overflow."""\n'
                         f"    top = {np}.max(z)\n    return top + {np}.log({np}.sum({np}.exp(z - top)))\n",
            "log_softmax": f'def {h["log_softmax"]}(z):\n    """z - logsumexp(z)."""\n'
                           f'    return z - {h["logsumexp"]}(z)\n',
            "norm": f'def {h["norm"]}(v):\n    """‖v‖ (Frobenius for a matrix), scaled by max|vᵢ| against overflow and '
                    f'underflow."""\n    top = {np}.max({np}.abs(v))\n'
                    f"    if not top > 0 or not {np}.isfinite(top):\n        return {np}.linalg.norm(v)\n"
                    f"    return top * {np}.linalg.norm(v / top)\n",
        }[name]


CHAIN_DP = 12  # factors: a longer product is ordered greedily (dynamic programming is cubic)
CHAIN_PIECE = 8  # factors per line in a long product
NESTING = 40  # parentheses in one expression before it is cut into a temporary


# ----- names -------------------------------------------------------------------------
def code_name(name: str) -> str:
    """A name as Python reads it: identifiers are taken in NFKC form (ϑ is θ), and a
    keyword argument passed as a string must be spelt so; a keyword takes a trailing
    underscore, as Python's style guide spells one as a name (lambda → lambda_)."""
    code = unicodedata.normalize("NFKC", name)
    return code + "_" if keyword.iskeyword(code) else code


def python_name(name: str, what: str) -> str:
    """A name of the derivation as a Python identifier (Greek letters stay), or a
    NotSupported error saying why it cannot be one."""
    code = code_name(name)
    if not code.isidentifier() or code == "_":
        raise NotSupported(f"the {what} '{name}' cannot be a Python name in the emitted code; rename it")
    return code


def _check_distinct(names: list[str], what: str) -> None:
    """Python reads identifiers in NFKC form: ϑ and θ would be one name."""
    seen: dict[str, str] = {}
    for name in names:
        key = unicodedata.normalize("NFKC", name)
        if key in seen and seen[key] != name:
            raise NotSupported(f"the {what}s '{seen[key]}' and '{name}' are one name to Python; rename one")
        seen[key] = name


def _fresh(stem: str, taken: set[str]) -> str:
    """stem, or stem_, stem__ …: the first that no name in use has."""
    name = stem
    while name in taken:
        name += "_"
    return name


def _prefix_free(prefixes: tuple[str, ...], taken: set[str]) -> str:
    """The first prefix no taken name uses with digits after it."""
    for p in prefixes:
        if not any(n.startswith(p) and n[len(p):].isdigit() for n in taken):
            return p
    return _fresh(prefixes[-1], taken)


# ----- the printer ---------------------------------------------------------------------
def _dim_code(d) -> str:
    """A size as Python: 3, n, m * n, n + 1 (names are bound from the arguments)."""
    if isinstance(d, int):
        return str(d)
    terms = []
    for term in d.split("+"):
        terms.append(" * ".join(code_name(f) for f in term.split("*")))
    return " + ".join(terms)


def _dim_guess(d) -> int:
    """A size's rough value for choosing the order of a product: names as large."""
    return dim_value(d, lambda name: 1000)


class Printer:
    """Emits one function body: assignments, each a step of the trace."""

    def __init__(self, target: Target, typing, temps_prefix: str = "g"):
        self.t = target
        self.typing = typing
        self.bound: dict[str, V] = {}  # names in scope: arguments, intermediates, adjoints, temporaries
        self.lines: list[str] = []
        self.dims: set[str] = set()  # size names the code uses
        self.memo: dict[A.Node, V] = {}
        self.shared: set[A.Node] = set()  # subexpressions to compute once, as temporaries
        self.temp_prefix = temps_prefix
        self.temp_count = 0
        self.taken: set[str] = set()
        self.definitions: dict[str, A.Node] = {}  # the forward pass's intermediates, what each stands for

    # -- bookkeeping --------------------------------------------------------------------
    def shape(self, node: A.Node) -> Shape:
        return self.typing.shape(node)

    def bind_argument(self, name: str, shape: Shape) -> None:
        self.bound[name] = V(code_name(name), _ATOM, shape)

    def assign(self, name: str, v: V, comment: str = "") -> V:
        """``name = v``; a diagonal is kept as its diagonal (the line says so), a
        structure without data (I, 𝟏, 0, K) is not assigned at all."""
        if v.form in ("dense",):
            if v.code != name:
                self.lines.append(f"{name} = {v.code}" + (f"  # {comment}" if comment else ""))
            out = V(name, _ATOM, v.shape, constant=v.constant)
        elif v.form == "diag" and not v.parts[0].constant:
            inner = v.parts[0]
            if inner.prec == _ATOM and inner.code.isidentifier():  # diag(v) of a name: v itself
                if comment:
                    self.lines.append(f"# {name} = {comment}: kept as its diagonal, {inner.code}")
                out = v
            else:
                self.lines.append(f"{name} = {inner.code}  # the diagonal of {comment or name}")
                out = V("", _ATOM, v.shape, "diag", (V(name, _ATOM, inner.shape),))
        elif v.form == "kron":
            a, b = v.parts
            a = self.assign(f"{name}_a", a) if a.form == "dense" and a.prec < _ATOM else a
            b = self.assign(f"{name}_b", b) if b.form == "dense" and b.prec < _ATOM else b
            out = v._replace(parts=(a, b))
            if comment:
                self.lines.append(f"# {name} = {comment}: kept as its two factors, never formed")
        else:
            out = v
            what = {"diag": "c·I, kept as its scalar", "ones": "ones, never formed", "zero": "zero, never formed",
                    "kron": "kept as its two factors, never formed", "comm": "a permutation, never formed"}
            if comment:
                self.lines.append(f"# {name} = {comment}: {what[v.form]}")
        self.bound[name] = out
        return out

    def _temp(self) -> str:
        while True:
            self.temp_count += 1
            name = f"{self.temp_prefix}{self.temp_count}"
            if name not in self.taken:
                self.taken.add(name)
                return name

    # -- counting: what to compute once -----------------------------------------------------
    def plan_sharing(self, roots: list[A.Node]) -> None:
        """Subexpressions the roots use twice or more become temporaries (a
        repeated subtree counts its own parts once)."""
        count: dict[A.Node, int] = {}
        stack = list(reversed(roots))
        while stack:
            node = stack.pop()
            if _trivial(node):
                continue
            count[node] = count.get(node, 0) + 1
            if count[node] == 1:
                stack.extend(reversed(node.children))
        self.shared = {n for n, c in count.items() if c >= 2}

    # -- emission ---------------------------------------------------------------------------
    def emit(self, node: A.Node) -> V:
        hit = self.memo.get(node)
        if hit is not None:
            return hit
        v = getattr(self, "_" + type(node).__name__)(node)
        if node in self.shared or (v.form == "dense" and v.code.count("(") > NESTING):
            v = self.named(v)
        self.memo[node] = v
        return v

    def dense(self, v: V) -> V:
        """The value as a plain array (materialising I, diag(v), 𝟏, 0, kron, K)."""
        t, s = self.t, v.shape
        if v.form == "dense":
            return v
        if v.form == "zero":
            if s.is_scalar:
                return V("0.0", _ATOM, s, constant=True)
            return V(t("zeros", self.size(s.size) if s.is_vector else f"({self.size(s.rows)}, {self.size(s.cols)})"),
                     _ATOM, s)
        if v.form == "ones":
            return V(t("ones", self.size(s.size)), _ATOM, s)
        if v.form == "diag":
            scale = v.parts[0]
            if scale.shape.is_scalar:
                eye = t("eye", self.size(s.rows))
                return V(eye, _ATOM, s) if _is_one(scale) else self._binop(scale, V(eye, _ATOM, s), "*", _MUL, s)
            return V(t("diag", scale.code), _ATOM, s)
        if v.form == "kron":
            a, b = (self.two_d(self.dense(p)) for p in v.parts)
            out = V(t("kron", a, b), _ATOM, Shape(s.rows, s.cols) if s.is_matrix else Shape(2, 2))
            return self.from_two_d(out, s)
        if v.form == "comm":
            m, n = (self.size(d) for d in v.parts)
            perm = f"{t('arange', f'{m} * {n}')}.reshape({n}, {m}).T.reshape(-1)"
            return V(f"{t('eye', f'{m} * {n}')}[{perm}]", _ATOM, s)
        raise NotSupported(f"emitting code for a {v.form} value")  # pragma: no cover

    def size(self, d) -> str:
        if isinstance(d, str):
            for part in d.replace("+", "*").split("*"):
                if not part.isdigit():
                    self.dims.add(part)
        return _dim_code(d)

    def two_d(self, v: V) -> str:
        """Code for the value as a 2-D array (columns n×1, rows 1×n)."""
        k = v.kind
        if k == "matrix":
            return v.code
        if k == "col":
            return f"{self.atom(v)}[:, None]"
        if k == "row":
            return f"{self.atom(v)}[None, :]"
        return f"{self.atom(self.array(v))}.reshape(1, 1)"

    def from_two_d(self, v: V, shape: Shape) -> V:
        """A 2-D array back to the representation of ``shape``."""
        if shape.is_matrix:
            return V(v.code, v.prec, shape)
        if shape.is_scalar:
            return V(f"{self.atom(v)}.reshape(())", _ATOM, shape)
        return V(f"{self.atom(v)}.reshape(-1)", _ATOM, shape)

    def array(self, v: V) -> V:
        """A constant scalar as an array of the library (for .reshape and returns)."""
        if v.constant and v.form == "dense":
            return V(self.t("scalar", v.code), _ATOM, v.shape)
        return v

    @staticmethod
    def atom(v: V) -> str:
        return v.code if v.prec >= _ATOM else f"({v.code})"

    @staticmethod
    def paren(v: V, level: int, strict: bool = False) -> str:
        if v.prec < level or (strict and v.prec == level):
            return f"({v.code})"
        return v.code

    def _binop(self, a: V, b: V, op: str, prec: int, shape: Shape) -> V:
        if op == "**":
            code = f"{self.paren(a, _POW, strict=True)} ** {self.paren(b, _UNARY)}"
        else:
            # Python reads a * b @ c as (a * b) @ c, and a / b @ c as (a / b) @ c; parentheses say so
            mixed = "@" in (a.op, op) and a.op != op
            left = f"({a.code})" if prec == _MUL and a.prec == _MUL and mixed else self.paren(a, prec)
            code = f"{left} {op} {self.paren(b, prec, strict=True)}"
        return V(code, prec, shape, constant=a.constant and b.constant, op=op)

    # -- leaves ---------------------------------------------------------------------------
    def _Num(self, node):
        value = node.value if isinstance(node.value, Fraction) else Fraction(node.value)
        s = Shape(1, 1)
        if value.denominator == 1:
            code = str(value.numerator)
            return V(code, _UNARY if value < 0 else _ATOM, s, constant=True)
        f = float(value)
        if Fraction(f) == value:
            return V(repr(f), _UNARY if f < 0 else _ATOM, s, constant=True)
        sign = "-" if value < 0 else ""
        return V(f"{sign}{abs(value.numerator)} / {value.denominator}", _MUL, s, constant=True)

    def _Const(self, node):
        import math

        return V(repr(math.e if node.name == "e" else math.pi), _ATOM, Shape(1, 1), constant=True)

    def _Var(self, node):
        if node.name in self.bound:
            return self.bound[node.name]
        if self.typing.is_dimension(node.name):
            self.dims.add(node.name)
            return V(code_name(node.name), _ATOM, Shape(1, 1), constant=True)
        raise NotSupported(f"emitting code: '{node.name}' has no value here")  # pragma: no cover

    def _Ones(self, node):
        return V("", _ATOM, Shape(node.dim, 1), "ones")

    def _Identity(self, node):
        return _eye(Shape(node.dim, node.dim), _ONE)

    def _Zero(self, node):
        return V("", _ATOM, Shape(node.rows, node.cols), "zero")

    def _Commutation(self, node):
        size = self.shape(node)
        return V("", _ATOM, size, "comm", (node.rows, node.cols))

    # -- element-wise -------------------------------------------------------------------------
    def _Neg(self, node):
        a = self.emit(node.arg)
        s = self.shape(node)
        if a.form in ("zero",):
            return a
        if a.form == "diag":
            return a._replace(parts=(self._neg(a.parts[0]),))
        if a.form == "kron":
            return a._replace(parts=(self._neg(a.parts[0]), a.parts[1]))
        return self._neg(self.dense(a), s)

    def _neg(self, a: V, shape: Shape | None = None) -> V:
        if a.form != "dense":
            a = self.dense(a)
        if a.constant and a.prec == _ATOM and a.code.replace(".", "", 1).isdigit():
            return V("-" + a.code, _UNARY, shape or a.shape, constant=True)
        return V(f"-{self.paren(a, _UNARY)}", _UNARY, shape or a.shape, constant=a.constant)

    def _elementwise(self, node, op: str, prec: int) -> V:
        a, b = self.emit(node.left), self.emit(node.right)
        s = self.shape(node)
        if op in ("+", "-"):
            if b.form == "zero":
                return a if a.shape == s else self.dense(a)
            if a.form == "zero" and op == "+":
                return b
            if a.form == "diag" and b.form == "diag":
                return V("", _ATOM, s, "diag", (self._binop(a.parts[0], b.parts[0], op, prec, _diag_part(a, b)),))
        if op == "*":
            if a.form == "zero" or b.form == "zero":
                return V("", _ATOM, s, "zero")
            if a.shape.is_scalar and b.form in ("diag", "kron") and a.form == "dense":
                return b._replace(parts=(self._mul(a, b.parts[0]), *b.parts[1:]))
            if b.shape.is_scalar and a.form in ("diag", "kron") and b.form == "dense":
                return a._replace(parts=(self._mul(a.parts[0], b), *a.parts[1:]))
            if a.form == "diag" and b.form == "diag":
                return V("", _ATOM, s, "diag", (self._mul(a.parts[0], b.parts[0]),))
        if op == "/" and a.form == "diag" and b.shape.is_scalar and b.form == "dense":
            return a._replace(parts=(self._binop(a.parts[0], b, "/", _MUL, a.parts[0].shape),))
        if op == "/" and a.form == "zero":
            return a
        return self._binop(self.dense(a), self.dense(b), op, prec, s)

    def _mul(self, a: V, b: V) -> V:
        """a ⊗ b, or a scalar times anything (keeping b's structure)."""
        if _is_one(a):
            return b
        if _is_one(b):
            return a
        if a.shape.is_scalar and a.form == "dense" and b.form != "dense":
            return self._scale(b, a, b.shape)
        if b.shape.is_scalar and b.form == "dense" and a.form != "dense":
            return self._scale(a, b, a.shape)
        shape = b.shape if a.shape.is_scalar else a.shape
        return self._binop(self.dense(a), self.dense(b), "*", _MUL, shape)

    def _Add(self, node):
        return self._elementwise(node, "+", _ADD)

    def _Sub(self, node):
        return self._elementwise(node, "-", _ADD)

    def _Mul(self, node):
        return self._elementwise(node, "*", _MUL)

    def _Div(self, node):
        return self._elementwise(node, "/", _MUL)

    def _Pow(self, node):
        return self._elementwise(node, "**", _POW)

    def _Compare(self, node):
        a, b = self.dense(self.emit(node.left)), self.dense(self.emit(node.right))
        cond = self._binop(a, b, {">": ">", "<": "<", ">=": ">=", "<=": "<="}[node.op], _CMP, self.shape(node))
        if cond.constant:  # sizes and numbers only: decided here
            return V(f"(1.0 if {cond.code} else 0.0)", _ATOM, cond.shape, constant=True)
        return V(self.t("indicator", f"({cond.code})"), _MUL if self.t.name != "torch" else _ATOM, cond.shape)

    def _Call(self, node):
        if node.fn == "ln":  # ln σ(u) as -softplus(-u), ln(1 - σ(u)) as -softplus(u): finite where σ rounds
            arg = self._defined(node.args[0])  # (to 0 or 1: ln 0 is -inf, and 0·(-inf) in a loss NaN), the
            if type(arg) is A.Sub:  # argument followed through the intermediates that hold it
                arg = A.Sub(arg.left, self._defined(arg.right))
            stable = stable_log(A.Call("ln", (arg,)))
            if stable is not None:  # (and ln(softmax(z)) as log_softmax(z))
                kind, u, sign = stable
                if kind == "softmax":
                    return self.emit(A.Call("log_softmax", (u,)))
                return self.emit(A.Neg(A.Call("softplus", (u if sign < 0 else A.Neg(u),))))
        args = [self.emit(a) for a in node.args]
        s = self.shape(node)
        fn = node.fn
        a = args[0]
        if fn in ("sum", "mean", "tr") and a.form != "dense":
            total = self._structured_sum(a, trace=fn == "tr")
            if total is not None:
                if fn == "mean":
                    return self._binop(total, V(self.size(a.shape.flat), _ATOM, s, constant=True), "/", _MUL, s)
                return total
        if fn in ("max", "min"):
            x, y = (self.dense(v) for v in args)
            x, y = (V(self.t("number", v.code), _ATOM, v.shape) if v.constant else v for v in (x, y))
            return V(self.t(fn, x.code, y.code), _ATOM, s)
        a = self.dense(a)
        if a.constant:  # a function of a number, exp(2), as the library takes it (see "argument")
            a = V(self.t("argument", a.code), _ATOM, a.shape)
        return V(self.t(fn, a.code), _ATOM, s)

    def _defined(self, node: A.Node) -> A.Node:
        """What an intermediate of the forward pass stands for (another node: itself)."""
        return self.definitions.get(node.name, node) if type(node) is A.Var else node

    def _structured_sum(self, a: V, trace: bool) -> V | None:
        """sum(𝟏) = n, sum(0) = 0, sum(diag(v)) = tr(diag(v)) = sum(v), tr(cI) = cn."""
        s = Shape(1, 1)
        if a.form == "zero":
            return V("0.0", _ATOM, s, constant=True)
        if a.form == "ones":
            return V(self.size(a.shape.size), _ATOM, s, constant=True)
        if a.form == "diag":
            part = a.parts[0]
            if part.shape.is_scalar:
                return self._mul(part, V(self.size(a.shape.rows), _ATOM, s, constant=True))
            return V(self.t("sum", part.code), _ATOM, s)
        return None

    # -- linear algebra -------------------------------------------------------------------------
    def _Transpose(self, node):
        return self._transpose(self.emit(node.arg))

    def _transpose(self, v: V) -> V:
        """vᵀ: a view of a matrix, nothing for a vector (1-D either way), and for
        structure its own rule: kron(A, B)ᵀ = kron(Aᵀ, Bᵀ), K(m, n)ᵀ = K(n, m)."""
        s = v.shape.T
        if v.form == "dense":
            return V(f"{self.atom(v)}.T", _ATOM, s) if v.kind == "matrix" else v._replace(shape=s)
        if v.form == "kron":
            return v._replace(shape=s, parts=tuple(self._transpose(p) for p in v.parts))
        if v.form == "comm":
            return v._replace(shape=s, parts=(v.parts[1], v.parts[0]))
        return v._replace(shape=s)  # diag(v), c·I, 𝟏, 0

    def _Diag(self, node):
        a = self.dense(self.emit(node.arg))
        s = self.shape(node)
        if s.is_scalar:
            return a
        return V("", _ATOM, s, "diag", (a._replace(shape=Shape(s.rows, 1)),))

    def _Vec(self, node):
        a = self.emit(node.arg)
        s = self.shape(node)
        if a.shape.is_matrix:
            a = self.dense(a)
            return V(f"{self.atom(a)}.T.reshape(-1)", _ATOM, s)
        return a._replace(shape=s) if a.form == "dense" else self.dense(a)._replace(shape=s)

    def _Kron(self, node):
        a, b = self.emit(node.left), self.emit(node.right)
        return V("", _ATOM, self.shape(node), "kron", (a, b))

    def _Dot(self, node):
        a, b = self.dense(self.emit(node.left)), self.dense(self.emit(node.right))
        s = Shape(1, 1)
        if a.shape.is_scalar or b.shape.is_scalar:
            return self._binop(a, b, "*", _MUL, s)
        if a.kind == "matrix":
            return V(self.t("sum", self._binop(a, b, "*", _MUL, a.shape).code), _ATOM, s)
        return self._binop(a, b, "@", _MUL, s)

    def _MatMul(self, node):
        return self.chain(self._factors(node))

    def _factors(self, node: A.MatMul) -> list[V]:
        """The chain, left to right, down to factors computed once or not products."""
        factors = []
        stack = [node]
        while stack:
            n = stack.pop()
            if isinstance(n, A.MatMul) and (n is node or n not in self.shared):
                stack.extend((n.right, n.left))
            else:
                factors.append(self.emit(n))
        return factors

    # -- products -------------------------------------------------------------------------------
    def chain(self, factors: list[V]) -> V:
        """A product of several factors in the order that costs least (a matrix
        by a vector before a matrix by a matrix), by dynamic programming over
        rough sizes; ties keep the written order, left first.  A long chain (a deep
        network's) is taken greedily instead, the cheapest adjacent product first,
        in pieces of a few factors each (Python's parser nests at most 200 deep)."""
        n = len(factors)
        if n == 1:
            return factors[0]
        if n > CHAIN_DP:
            return self._greedy_chain(factors)
        best: dict[tuple[int, int], tuple[float, int, tuple[Shape, str]]] = {}
        for i, f in enumerate(factors):
            best[i, i] = (0.0, -1, (f.shape, f.form))
        for length in range(2, n + 1):
            for i in range(n - length + 1):
                j = i + length - 1
                choice = None
                for k in range(i, j):
                    cl, _, dl = best[i, k]
                    cr, _, dr = best[k + 1, j]
                    c, d = _product_cost(dl, dr)
                    total = cl + cr + c
                    if choice is None or total < choice[0] * (1 - 1e-9):
                        choice = (total, k, d)
                best[i, j] = choice

        def build(i, j) -> V:
            if i == j:
                return factors[i]
            k = best[i, j][1]
            return self.matmul(build(i, k), build(k + 1, j))

        return build(0, n - 1)

    def _greedy_chain(self, factors: list[V]) -> V:
        """The cheapest adjacent product first, again and again (a heap of the
        pairs' costs, ties to the left): n log n for a chain of n factors."""
        import heapq

        items = dict(enumerate(factors))
        merged = dict.fromkeys(items, 1)  # factors in each item, to cut the code into lines
        after = {i: i + 1 for i in range(len(factors) - 1)}
        before = {i + 1: i for i in range(len(factors) - 1)}
        version = dict.fromkeys(items, 0)
        heap: list = []

        def push(i: int) -> None:
            j = after.get(i)
            if j is not None:
                a, b = items[i], items[j]
                cost = _product_cost((a.shape, a.form), (b.shape, b.form))[0]
                heapq.heappush(heap, (cost, i, version[i], version[j], j))

        for i in range(len(factors) - 1):
            push(i)
        while len(items) > 1:
            _, i, vi, vj, j = heapq.heappop(heap)
            if after.get(i) != j or version[i] != vi or version[j] != vj:
                continue  # a pair one of whose items has changed since
            product = self.matmul(items[i], items[j])
            count = merged[i] + merged[j]
            if count >= CHAIN_PIECE and len(items) > 2:
                product, count = self.named(product), 1
            items[i], merged[i] = product, count
            version[i] += 1
            del items[j], merged[j]
            k = after.pop(j, None)
            before.pop(j, None)
            if k is None:
                after.pop(i, None)
            else:
                after[i], before[k] = k, i
            if i in before:
                push(before[i])
            push(i)
        return next(iter(items.values()))

    def named(self, v: V) -> V:
        """v as a temporary (a long expression cut into lines)."""
        if v.form in ("dense", "diag", "kron") and not (v.prec == _ATOM and v.code.isidentifier()):
            return self.assign(self._temp(), v)
        return v

    def matmul(self, a: V, b: V) -> V:
        """a b for any two structures."""
        s = Shape(a.shape.rows, b.shape.cols)
        if a.form == "zero" or b.form == "zero":
            return V("", _ATOM, s, "zero")
        if a.shape.is_scalar or b.shape.is_scalar:  # (a 1×1 product is a number in NumPy, which @ refuses)
            return self._scale(b, a, s) if a.shape.is_scalar else self._scale(a, b, s)
        if a.form == "diag" and a.parts[0].shape.is_scalar:
            return self._scale(b, a.parts[0], s)
        if b.form == "diag" and b.parts[0].shape.is_scalar:
            return self._scale(a, b.parts[0], s)
        if a.form == "diag" and b.form == "diag":
            return V("", _ATOM, s, "diag", (self._mul(a.parts[0], b.parts[0]),))
        if a.form == "diag":
            v = a.parts[0]
            if b.form == "ones":
                return v._replace(shape=s)  # diag(v) 𝟏 = v
            b = self.dense(b)
            if b.kind == "col":
                return self._binop(v, b, "*", _MUL, s)
            return self._binop(V(f"{self.atom(v)}[:, None]", _ATOM, Shape(s.rows, 1)), b, "*", _MUL, s)
        if b.form == "diag":
            v = b.parts[0]
            if a.form == "ones":
                return v._replace(shape=s)  # 𝟏ᵀ diag(v) = vᵀ
            a = self.dense(a)
            return self._binop(a, v._replace(shape=Shape(1, s.cols)), "*", _MUL, s)
        if a.form == "kron" and b.form not in ("kron", "comm"):
            return self._kron_times(a, self.dense(b), s)
        if b.form == "kron" and a.form not in ("kron", "comm"):
            return self._times_kron(self.dense(a), b, s)
        if a.form == "comm" and b.form not in ("kron", "comm"):
            return self._permute(self.dense(b), a.parts, left=True, shape=s)
        if b.form == "comm" and a.form not in ("kron", "comm"):
            return self._permute(self.dense(a), b.parts, left=False, shape=s)
        if a.form == "ones" and a.shape.is_row:  # 𝟏ᵀB: the sums of B's columns
            if b.form == "ones":
                return V(self.size(a.shape.cols), _ATOM, s, constant=True)
            b = self.dense(b)
            code = self.t("sum", b.code) if b.kind == "col" else self.t("axis_sum", b.code, 0)
            return V(code, _ATOM, s)
        if b.form == "ones" and b.shape.is_col:  # A𝟏: the sums of A's rows
            a = self.dense(a)
            code = self.t("sum", a.code) if a.kind == "row" else self.t("axis_sum", a.code, 1)
            return V(code, _ATOM, s)
        a, b = self.dense(a), self.dense(b)
        if a.kind == "col" and b.kind == "row":
            return V(self.t("outer", a.code, b.code), _ATOM, s)
        return self._binop(a, b, "@", _MUL, s)

    def _scale(self, m: V, c: V, shape: Shape) -> V:
        """c m for a scalar c (or the scalar of c·I)."""
        if c.form != "dense":
            c = self.dense(c)
        if _is_one(c):
            return m._replace(shape=shape)
        if m.form in ("diag", "kron"):
            return m._replace(shape=shape, parts=(self._mul(c, m.parts[0]), *m.parts[1:]))
        if m.form == "zero":
            return m._replace(shape=shape)
        return self._binop(c, self.dense(m), "*", _MUL, shape)

    def _kron_times(self, k: V, x: V, shape: Shape) -> V:
        """kron(A, B) X without forming the product: for a column,
        kron(A, B) x = the rows of A X' Bᵀ laid out one after another, X' the
        cA×cB matrix whose rows x lists (so kron(A, B) vec(X) = vec(B X Aᵀ));
        for a matrix, the same for each column, by einsum."""
        a, b = k.parts
        ca, cb = a.shape.cols, b.shape.cols
        if x.kind in ("col", "scalar"):
            inner = self._reshape(x, Shape(ca, cb))
            product = self.matmul(self.matmul(a, inner), self._transpose(b))
            return self._flatten(product, shape)
        ra, rb = a.shape.rows, b.shape.rows
        code = self.t("einsum", ", ".join(["'ik,jl,klc->ijc'", self.two_d(self.dense(a)), self.two_d(self.dense(b)),
                                           f"{self.atom(x)}.reshape({self.size(ca)}, {self.size(cb)}, -1)"]))
        return V(f"{code}.reshape({self.size(dim_mul(ra, rb))}, -1)", _ATOM, shape)

    def _times_kron(self, x: V, k: V, shape: Shape) -> V:
        """Xᵀ kron(A, B) likewise: for a row, the rows of Aᵀ X' B laid out one
        after another, X' the rA×rB matrix whose rows x lists."""
        a, b = k.parts
        ra, rb = a.shape.rows, b.shape.rows
        if x.kind in ("row", "scalar"):
            inner = self._reshape(x, Shape(ra, rb))
            product = self.matmul(self.matmul(self._transpose(a), inner), b)
            return self._flatten(product, shape)
        ca, cb = a.shape.cols, b.shape.cols
        code = self.t("einsum", ", ".join(["'rij,ik,jl->rkl'",
                                           f"{self.atom(x)}.reshape(-1, {self.size(ra)}, {self.size(rb)})",
                                           self.two_d(self.dense(a)), self.two_d(self.dense(b))]))
        return V(f"{code}.reshape(-1, {self.size(dim_mul(ca, cb))})", _ATOM, shape)

    def _reshape(self, x: V, shape: Shape) -> V:
        """A vector's entries read row by row into ``shape`` (C order)."""
        if shape.is_matrix:
            return V(f"{self.atom(x)}.reshape({self.size(shape.rows)}, {self.size(shape.cols)})", _ATOM, shape)
        return x._replace(shape=shape)

    def _flatten(self, v: V, shape: Shape) -> V:
        """A matrix's rows one after another (C order), as the vector ``shape``."""
        v = self.dense(v)
        if v.kind == "matrix":
            return V(f"{self.atom(v)}.reshape(-1)", _ATOM, shape)
        return v._replace(shape=shape)

    def _permute(self, x: V, mn, left: bool, shape: Shape) -> V:
        """K(m, n) x = vec(Aᵀ) where x = vec(A), A m×n; xᵀK(m, n) = (K(n, m) x)ᵀ."""
        m, n = (self.size(d) for d in mn)
        if not left:
            m, n = n, m
        if x.kind in ("col", "row"):
            return V(f"{self.atom(x)}.reshape({n}, {m}).T.reshape(-1)", _ATOM, shape)
        if left:
            moved = self.t("permute", f"{self.atom(x)}.reshape({n}, {m}, -1)", (1, 0, 2))
            return V(f"{moved}.reshape({m} * {n}, -1)", _ATOM, shape)
        moved = self.t("permute", f"{self.atom(x)}.reshape(-1, {n}, {m})", (0, 2, 1))
        return V(f"{moved}.reshape(-1, {m} * {n})", _ATOM, shape)

    # -- literals ---------------------------------------------------------------------------------
    def _item(self, v: V) -> str:
        v = self.dense(v)
        return self.t("number", v.code) if v.constant else v.code

    def _VecLit(self, node):
        s = self.shape(node)
        items = [self.emit(x) for x in node.items]
        if s.cols == 1:
            return V(self.t("stack", ", ".join(self._item(v) for v in items)), _ATOM, s)
        rows = []
        for v in items:  # rows of a matrix; a scalar 0 stands for a zero row
            if v.shape.is_scalar:
                v = self.dense(V("", _ATOM, Shape(1, s.cols), "zero")) if v.constant and v.code in ("0", "0.0") \
                    else self._mul(v, self.dense(V("", _ATOM, Shape(1, s.cols), "ones")))
            rows.append(self.dense(v).code)
        return V(self.t("stack", ", ".join(rows)), _ATOM, s)

    def _HStack(self, node):
        s = self.shape(node)
        items = [self.dense(self.emit(x)) for x in node.items]
        if s.rows == 1:
            return V(self.t("hstack", ", ".join(self._item(v) for v in items)), _ATOM, s)
        return V(self.t("column_stack", ", ".join(v.code for v in items)), _ATOM, s)

    def _Index(self, node):  # g[1], the paper's g₁: element 1 of a 1-D array
        v = self.dense(self.emit(node.arg))
        return V(f"{self.atom(v)}[{node.index - 1}]", _ATOM, Shape(1, 1))

    def _MatLit(self, node):
        s = self.shape(node)
        rows = [self.t("stack", ", ".join(self._item(self.emit(x)) for x in row)) for row in node.rows]
        return V(self.t("stack", ", ".join(rows)), _ATOM, s)


def _diag_part(a: V, b: V) -> Shape:
    return a.parts[0].shape if not a.parts[0].shape.is_scalar else b.parts[0].shape


def _trivial(node: A.Node) -> bool:
    """Not worth a temporary: names, numbers, structure without data, and a
    transpose of a name (a view)."""
    if isinstance(node, (A.Var, A.Num, A.Const, A.Ones, A.Identity, A.Zero, A.Commutation)):
        return True
    if isinstance(node, (A.Transpose, A.Neg, A.Diag)) and isinstance(node.arg, (A.Var, A.Num)):
        return True
    return False


def _product_cost(left: tuple[Shape, str], right: tuple[Shape, str]) -> tuple[float, tuple[Shape, str]]:
    """The rough cost of one product and what it gives, for ordering a chain."""
    (sl, fl), (sr, fr) = left, right
    r, k, c = _dim_guess(sl.rows), _dim_guess(sl.cols), _dim_guess(sr.cols)
    out = Shape(sl.rows, sr.cols)
    if "zero" in (fl, fr):
        return 0.0, (out, "zero")
    if fl == "diag" and fr == "diag":
        return float(r), (out, "diag")
    if fl == "diag" or fr == "diag" or "comm" in (fl, fr):
        return float(r * c), (out, "dense")
    if sl.is_scalar or sr.is_scalar:
        return float(r * c), (out, fl if sr.is_scalar else fr)
    if fl == "kron" and fr == "kron":
        return float(r * k * c) * 4, (out, "dense")
    return float(r * k * c), (out, "dense")


# ----- the module ---------------------------------------------------------------------------
class _Section(NamedTuple):
    """One derivation's backward pass: its typing, its adjoints, and the
    derivative by each variable (in the intermediates)."""

    typing: object
    adjoints: tuple
    outputs: tuple  # (wrt name, expression, shape it has, shape to return)


def _gradient_expr(d, comb, v_shape: Shape) -> tuple[A.Node, Shape]:
    """Step 3's combination for one variable as the gradient, shaped like the
    variable: a row's entries as they are (1-D either way), a matrix's by
    unvec (∂y/∂vec(X)ᵀ = vec(G)ᵀ, G shaped like X)."""
    alg = d._alg
    value = comb.value
    if v_shape.is_matrix:
        if alg.is_zero(value):
            return A.Zero(v_shape.rows, v_shape.cols), v_shape
        g = alg.unvec(alg.vec(value), v_shape.rows, v_shape.cols)
        if g is None:
            g = alg.unvec(alg.vec(comb._raw), v_shape.rows, v_shape.cols)
        if g is None and len(d.wrt) == 1:  # found in closed form only once written out (vec(A) · vec(A): 2A)
            answer = d.expanded()
            g = alg.transpose(answer) if d.layout == "numerator" else answer
        if g is None:
            raise NotSupported(f"∂/∂{comb.variable}: mcalc found the derivative only as a row over "
                               f"vec({comb.variable}), not as a matrix in closed form")
        return g, v_shape
    return value, Shape(v_shape.rows, 1) if v_shape.is_col else v_shape


def _answers_instead(d, outs: list, scalar: bool) -> tuple | None:
    """The derivatives as step 4 leaves them (in the intermediates they share with the
    forward pass), where step 3's divide by a value the function computes and the
    answers divide by none: the cross-entropy's (u₅/u₆ - y/u₂)·u₂u₆ is 0/0 where σ
    rounds to 0 or 1, its answer σ(Xw) - y is not.  Else None: step 3's, whose
    adjoints compute what the derivatives share once."""
    subs = d.trace.substitutions
    if any(sub.shared for sub in subs) or not any(_divides(expr, d.typing) for expr in
                                                  (*(o[1] for o in outs), *(a.expr for a in d.trace.adjoints))):
        return None  # (a named adjoint, δ₃ = (u₁/u₄ + u₇/u₈)u₄u₈, divides for the derivatives that use it)
    answers = []
    for (w, _, comb_shape, shape), sub in zip(outs, subs):
        value = sub.value
        if scalar and d.typing.variables.get(w, Shape(1, 1)).is_matrix:
            value = d._alg.transpose(value)  # step 4 lays ∂y/∂X out as Gᵀ; the module returns G
        if _divides(value, d.typing):
            return None
        answers.append((w, value, comb_shape, shape))
    return tuple(answers)


def _divides(node: A.Node, typing) -> bool:
    """Whether node divides by a value that may be 0 (a variable's, not a size's or a number's)."""
    for n in A.walk(node):
        t = type(n)
        if t is A.Div and _holds_a_variable(n.right, typing) or \
                t is A.Pow and type(n.right) is A.Num and n.right.value < 0 and _holds_a_variable(n.left, typing) or \
                t is A.Call and n.fn == "inv":
            return True
    return False


def _holds_a_variable(node: A.Node, typing) -> bool:
    return any(type(n) is A.Var and not typing.is_dimension(n.name) for n in A.walk(node))


class _Function(NamedTuple):
    """One function of the module: its name, docstring and body (unindented)."""

    name: str
    doc: str
    body: list


class Module:
    """Builds the module's text from one or more derivations of one function."""

    def __init__(self, derivations, target: str):
        if target not in TARGETS:
            raise NotSupported(f"--emit {target}: the targets are {', '.join(TARGETS)}")
        self.hessian = derivations[0] if derivations[0].gradient is not None else None
        self.first = [d.gradient for d in derivations] if self.hessian is not None else list(derivations)
        d0 = self.d0 = self.first[0]
        self.variables = d0.variables()
        _check_distinct(list(self.variables), "variable")
        self.names = {name: python_name(name, "variable") for name in self.variables}  # as Python spells them
        self.wrt = [w for d in self.first for w in d.wrt]
        self.scalar = d0.typing.shape(d0.program.body).is_scalar
        self.layout = derivations[0].layout
        self.var_dims = sorted({python_name(part, "size") for shape in self.variables.values() for dim in shape
                                if isinstance(dim, str) for part in dim_names(dim)})
        self.given_dims: list[str] = []  # sizes no variable has (ones(N) alone): arguments of their own
        taken = set(self.variables) | set(self.names.values()) | set(self.var_dims)
        for d in [*self.first, *([self.hessian] if self.hessian else [])]:
            taken |= {it.name for it in d.trace.intermediates} | {a.name for a in d.trace.adjoints}
            taken |= {code_name(dim) for dim in d.typing.dims}
        self.local_taken = taken  # names the functions' bodies bind
        self.t = Target(target, taken)
        self.t.ref = next(iter(self.names.values()))
        self.arguments = _fresh("_arguments", taken)
        output = code_name(d0.trace.output)
        self.out_name = output if output.isidentifier() and not keyword.iskeyword(output) else "y"

    # -- one function body ------------------------------------------------------------------------
    def _printer(self, typing) -> Printer:
        p = Printer(self.t, typing)
        for name, shape in self.variables.items():
            p.bind_argument(name, shape)
        p.taken = set(self.local_taken)
        p.temp_prefix = _prefix_free(("g", "r", "s", "tmp"), p.taken)
        self.printers.append(p)
        return p

    def _forward(self, p: Printer, d) -> tuple[V, dict[A.Node, str]]:
        """Step 1: the intermediate variables, one line each."""
        index: dict[A.Node, str] = {}
        items = d.trace.intermediates
        p.definitions = {it.name: it.expr for it in items}
        self.lines_of: dict[str, tuple[int, int]] = {}
        for it in items:
            v = p.emit(it.expr)
            p.memo.clear()
            start = len(p.lines)
            p.assign(it.name, v, comment=_unicode(d, it.expr))
            self.lines_of[it.name] = (start, len(p.lines))
            index.setdefault(it.expr, it.name)
        root = p.bound[items[-1].name] if items else p.emit(d.function_expr())
        return root, index

    def _backward(self, p: Printer, sections: list[_Section], index: dict[A.Node, str]) -> list[V]:
        """Step 3: the adjoints, then each derivative; shared parts once."""
        renames: dict[str, str] = {}
        plan: list[tuple[str, str | None, A.Node, object]] = []  # (kind, name, node, typing)
        bound_adjoints: dict[str, A.Node] = {}
        for sec in sections:
            local: dict[str, str] = {}
            for adj in sec.adjoints:
                expr = _rewrite(adj.expr, index, local)
                name = adj.name
                if name in bound_adjoints and bound_adjoints[name] != expr:
                    name = _fresh(name, p.taken | set(bound_adjoints))
                    sec.typing.add(name, adj.shape)
                local[adj.name] = name
                if name not in bound_adjoints:
                    bound_adjoints[name] = expr
                    plan.append(("adjoint", name, expr, sec.typing))
            for wrt, expr, _, _ in sec.outputs:
                plan.append(("output", wrt, _rewrite(expr, index, local), sec.typing))
            renames.update(local)
        plan = [(kind, name, _fold_scalars(node, typing), typing) for kind, name, node, typing in plan]
        p.plan_sharing([node for _, _, node, _ in plan])
        outs = []
        for kind, name, node, typing in plan:
            p.typing = typing
            v = p.emit(node)
            if kind == "adjoint":
                p.assign(name, v)
            else:
                outs.append(v)
        return outs

    # -- the functions ------------------------------------------------------------------------------
    def function_f(self) -> _Function:
        d = self.d0
        p = self._printer(d.typing)
        root, _ = self._forward(p, d)
        value = self._returned(p, root, self._value_shape())
        return _Function("f", f"{self.out_name} = {_unicode_program(d)}: the function's value.",
                         [*p.lines, f"return {value}"])

    def _value_shape(self) -> Shape:
        return self.d0.typing.shape(self.d0.program.body)

    def _returned(self, p: Printer, v: V, shape: Shape) -> str:
        """Code for a value returned as the library's array, shaped as ``shape``."""
        v = p.dense(v)
        if v.shape.is_scalar and not shape.is_scalar:
            v = p._mul(v, p.dense(V("", _ATOM, shape, "ones" if shape.is_vector else "zero")))
        return p.array(v).code

    def function_grad(self) -> _Function:
        """f_and_grad (a scalar function: a gradient shaped like each variable) or
        f_and_jacobian (in the layout asked for)."""
        p = self._printer(self.d0.typing)
        root, index = self._forward(p, self.d0)
        value = self._returned(p, root, self._value_shape())
        sections, step4 = [], []
        for d in self.first:
            outs = []
            for w, comb in zip(d.wrt, d.trace.combinations):
                v_shape = d.typing.variables.get(w, Shape(1, 1))
                expr, shape = _gradient_expr(d, comb, v_shape) if self.scalar else (comb.value, comb.shape)
                outs.append((w, expr, comb.shape, shape))
            answers = _answers_instead(d, outs, self.scalar)
            step4.append(answers is not None)
            sections.append(_Section(d.typing, (), answers) if answers else
                            _Section(d.typing, d.trace.adjoints, tuple(outs)))
        forward = len(p.lines)
        outs = self._backward(p, sections, index)
        results = []
        for (w, _, _, shape), v in zip([o for sec in sections for o in sec.outputs], outs):
            name = _fresh(f"d{self.out_name}_d{code_name(w)}", p.taken)
            p.taken.add(name)
            code = self._returned(p, v, shape) if self.scalar else p.two_d(p.array(p.dense(v)))
            p.lines.append(f"{name} = {code}")
            results.append(name)
        backward = "# step 4: the derivatives as the answer writes them, in the intermediates" if all(step4) else \
            "# step 3: the derivatives by reverse accumulation, in the intermediates"
        body = ["# step 1: the intermediate variables", *p.lines[:forward], backward, *p.lines[forward:]]
        name = self.out_name
        if self.scalar:
            body.append(f"return {value}, {results[0] if len(results) == 1 else '(' + ', '.join(results) + ')'}")
            partials = ", ".join(f"∂{name}/∂{w}" for w in self.wrt)
            doc = (f"({name}, {partials if len(results) == 1 else '(' + partials + ')'}): the value and the "
                   f"gradient by {'each of ' if len(results) > 1 else ''}{', '.join(self.wrt)}, shaped like "
                   f"{'its variable' if len(results) > 1 else 'it'}.")
            return _Function("f_and_grad", doc, body)
        jac = results[0] if len(results) == 1 else self.t("concat_columns", ", ".join(results))
        if self.layout == "denominator":
            jac = f"{jac}.T" if jac.isidentifier() else f"({jac}).T"
        body.append(f"return {value}, {jac}")
        rows = "rows" if self.layout == "numerator" else "columns"
        doc = (f"({name}, ∂vec({name})/∂({', '.join(self.wrt)})): the value and the Jacobian, in "
               f"{self.layout} layout: {rows} are the entries of vec({name}).")
        return _Function("f_and_jacobian", doc, body)

    def function_hessian(self) -> _Function:
        h = self.hessian
        p = self._printer(h.typing)
        _, index = self._forward(p, h)
        outs = [(w, comb.value, comb.shape, comb.shape) for w, comb in zip(h.wrt, h.trace.combinations)]
        forward = len(p.lines)
        vs = self._backward(p, [_Section(h.typing, h.trace.adjoints, tuple(outs))], index)
        backward = p.lines[forward:]
        pieces = [p.two_d(p.array(p.dense(v))) for v in vs]
        result = pieces[0] if len(pieces) == 1 else self.t("concat_columns", ", ".join(pieces))
        name = _fresh(f"d2{self.out_name}", p.taken)
        body = ["# step 1: the gradient's intermediate variables (those its Jacobian uses)",
                *_needed(p.lines[:forward], self.lines_of, h.trace.intermediates, [*backward, result]),
                "# step 3: its Jacobian, in those intermediates", *backward, f"{name} = {result}", f"return {name}"]
        doc = (f"The Hessian of {self.out_name} by {', '.join(h.wrt)}: the Jacobian of the gradient "
               f"(its steps 1 and 3 below), over vec of each variable.")
        return _Function("hessian", doc, body)

    # -- the whole --------------------------------------------------------------------------------------
    def text(self) -> str:
        self.printers: list[Printer] = []
        functions = [self.function_f(), self.function_grad()]
        if self.hessian is not None:
            functions.append(self.function_hessian())
        used = {code_name(dim) for p in self.printers for dim in p.dims}
        self.given_dims = sorted(used - set(self.var_dims))
        for dim in self.given_dims:
            python_name(dim, "size")
        out = [self.docstring(), "\n".join(self.t.imports()), "", self.arguments_helper()]
        out += ["\n" + self.t.helper_source(name) for name in sorted(self.t.used)]  # the helpers called
        out += ["\n" + self._render(fn) for fn in functions]
        out += ["\n" + _checker_source(self), '\nif __name__ == "__main__":\n    print(check_gradient())\n']
        return "\n".join(out)

    def _render(self, fn: _Function) -> str:
        args = [*self.names.values(), *self.given_dims]
        unpack = [*self.names.values(), *self.var_dims, *self.given_dims]
        comma = "," if len(unpack) == 1 else ""
        lines = [f"def {fn.name}(*, {', '.join(args)}):", f'    """{fn.doc}"""',
                 f"    {', '.join(unpack)}{comma} = {self.arguments}({', '.join(args)})"]
        return "\n".join(lines + ["    " + line for line in fn.body]) + "\n"

    def docstring(self) -> str:
        """The function and its derivative in the paper's notation, and what the module offers."""
        from textwrap import fill

        d, name, t = self.d0, self.out_name, self.t
        what = "gradient" if self.scalar else "Jacobian"
        what += " and Hessian" if self.hessian is not None else ""
        lines = [f"{name} = {_unicode_program(d)}", "", f"and its {what} as {t.title} code, printed by mcalc "
                 f"from its derivation:", ""]
        for dd in self.first:
            for w, answer in zip(dd.wrt, dd.answers):
                lines.append(f"    ∂{name}/∂{_uname(w)} = {dd.print(answer.expr, 'unicode')}    "
                             f"{answer.shape}, {dd.layout} layout")
            if dd.shared:
                lines.append("      where " + ", ".join(f"{_uname(n)} = {dd.print(e, 'unicode')}"
                                                        for n, e in dd.shared))
        if self.hessian is not None:
            by = [_uname(w) for w in self.hessian.wrt]
            left = f"∂²{name}/∂{by[0]}∂{by[0]}ᵀ" if len(by) == 1 else f"∇²{name} by ({', '.join(by)})"
            lines.append(f"    {left} = {self.hessian.unicode}    {self.hessian.shape}")
        args = ", ".join([*self.names.values(), *self.given_dims])
        partials = ", ".join(f"∂{name}/∂{_uname(w)}" for w in self.wrt)
        calls = [f"f(*, {args}) -> {name}"]
        if self.scalar:
            calls.append(f"f_and_grad(*, {args}) -> ({name}, {partials if len(self.wrt) == 1 else '(' + partials + ')'}), "
                         f"each gradient shaped like its variable")
        else:
            calls.append(f"f_and_jacobian(*, {args}) -> ({name}, the Jacobian in {self.layout} layout, vectors and "
                         f"matrices laid flat by vec)")
        if self.hessian is not None:
            calls.append(f"hessian(*, {args}) -> the Hessian, over vec of {', '.join(self.hessian.wrt)}")
        calls.append("check_gradient(seed=0, rtol=1e-05, atol=1e-06) -> the verdict of a comparison with central "
                     "differences (GradientCheckError where they differ)")
        lines += [""] + [fill(c, 100, subsequent_indent="    ") for c in calls] + [""]
        sizes = ", ".join(self.var_dims)
        variables = ", ".join(f"{self.names[n]} {_describe(s)}" for n, s in self.variables.items())
        about = f"Variables: {variables}" + (f"; the sizes {sizes} are taken from the arguments." if sizes else ".")
        if self.given_dims:
            about += f" The size{'s' if len(self.given_dims) > 1 else ''} {', '.join(self.given_dims)}, which no " \
                     f"variable has, {'are arguments' if len(self.given_dims) > 1 else 'is an argument'} too."
        about += (" Temporaries are the derivation's steps: its intermediate variables (u1, u2, … and the "
                  f"definitions by their names), the adjoints δₖ = ∂{name}/∂uₖ it names, and g1, g2, … for "
                  "what the derivatives share, computed once.")
        lines.append(fill(about, 100))
        text = "\n".join(lines).replace("\\", "\\\\").replace('"""', '\\"\\"\\"')
        return f'"""{text}\n"""'

    def arguments_helper(self) -> str:
        shapes = [f"({self.names[n]!r}, {_dims_tuple(s)})" for n, s in self.variables.items()]
        text = _tuple_text(shapes)
        if len(text) > 80:
            text = "(\n" + "".join(f"    {item},\n" for item in shapes) + ")"
        return _ARGUMENTS[self.t.name].substitute(
            np=self.t.np, arguments=self.arguments, shapes=text, sizes=repr(tuple(self.var_dims + self.given_dims)),
            given=repr(tuple(self.given_dims)))


def _dims_tuple(s: Shape) -> str:
    dims = [] if s.is_scalar else [s.rows] if s.is_col else [s.rows, s.cols]
    dims = [code_name(d) if isinstance(d, str) else d for d in dims]
    inner = ", ".join(repr(d) for d in dims)
    return f"({inner}{',' if len(dims) == 1 else ''})"


def _describe(s: Shape) -> str:
    if s.is_scalar:
        return "(scalar)"
    if s.is_col:
        return f"(length {s.rows})"
    return f"({s.rows}×{s.cols})"


def _uname(name: str) -> str:
    from .text import unicode_name

    return unicode_name(name)


def _unicode(d, node) -> str:
    return d.print(node, "unicode")


def _unicode_program(d) -> str:
    body = d.print(d.program.body, "unicode")
    if d.program.definitions:
        defs = ", ".join(f"{_uname(n)} = {d.print(e, 'unicode')}" for n, e in d.program.definitions)
        return f"{body}  where {defs}"
    return body


_STRUCTURED = (A.Identity, A.Ones, A.Zero, A.Diag, A.Kron, A.Commutation)


def _fold_scalars(node: A.Node, typing) -> A.Node:
    """c (A B …) as A (c B) …: a scalar multiplies the smallest factor of the product
    it scales (2(G Hᵀ) as (2G)Hᵀ: an m×B matrix scaled, not the m×k product).
    Done before sharing is counted, so a factor scaled alike twice is one temporary."""
    memo: dict[int, A.Node] = {}

    def size(n: A.Node) -> float:
        s = typing.shape(n)
        return float(_dim_guess(s.rows) * _dim_guess(s.cols))

    def chain(n: A.Node) -> list[A.Node]:
        return chain(n.left) + chain(n.right) if isinstance(n, A.MatMul) else [n]

    def go(n: A.Node) -> A.Node:
        hit = memo.get(id(n))
        if hit is not None:
            return hit
        out = n.rebuild(tuple(go(c) for c in n.children)) if n.children else n
        if isinstance(out, A.Mul):
            c, product = (out.left, out.right) if typing.shape(out.left).is_scalar else (out.right, out.left)
            if isinstance(product, A.MatMul) and typing.shape(c).is_scalar:
                factors = chain(product)
                i = min((j for j, f in enumerate(factors) if not isinstance(f, _STRUCTURED)),
                        key=lambda j: size(factors[j]), default=None)
                if i is not None and size(factors[i]) <= size(product):
                    factors[i] = A.Mul(c, factors[i])
                    folded = factors[0]
                    for f in factors[1:]:
                        folded = A.MatMul(folded, f)
                    out = folded
        memo[id(n)] = out
        return out

    return go(node)


_IDENTIFIER = re.compile(r"[^\W\d]\w*")


def _needed(lines: list[str], lines_of: dict[str, tuple[int, int]], items, later: list[str]) -> list[str]:
    """The forward lines that ``later`` code uses, directly or through other
    intermediates (the Hessian needs the gradient's parts, not the gradient)."""
    def names(text: str) -> set[str]:
        return set(_IDENTIFIER.findall(text.split("  #")[0] if not text.startswith("#") else ""))

    used = set().union(*(names(line) for line in later))
    keep = [False] * len(lines)
    for it in reversed(items):
        start, end = lines_of[it.name]
        if it.name in used:
            for i in range(start, end):
                keep[i] = True
                used |= names(lines[i])
    return [line for line, k in zip(lines, keep) if k]


def _rewrite(node: A.Node, index: dict[A.Node, str], renames: dict[str, str]) -> A.Node:
    """Bottom up: a subexpression that is an intermediate's own expression becomes
    its name; a renamed adjoint takes its new name."""
    memo: dict[int, A.Node] = {}

    def go(n: A.Node) -> A.Node:
        hit = memo.get(id(n))
        if hit is not None:
            return hit
        if isinstance(n, A.Var):
            out = A.Var(renames[n.name]) if n.name in renames else n
        elif not n.children:
            out = n
        else:
            out = n.rebuild(tuple(go(c) for c in n.children))
            name = index.get(out)
            if name is not None:
                out = A.Var(name)
        memo[id(n)] = out
        return out

    return go(node)


# ----- the module's own helpers, as templates ($np: the library's alias) --------------------------
_ARGUMENTS_HEAD = """\
_SHAPES = $shapes  # each variable's sizes, as declared
_SIZES = $sizes  # the sizes the functions use, from the arguments' shapes
_GIVEN = $given  # sizes no variable has: arguments of their own


def $arguments(*values):
    \"\"\"The arguments as arrays, their shapes checked against the declared sizes,
    then the sizes (in the order of _SIZES).\"\"\"
"""
_ARGUMENTS_BODY = """\
    sizes = {}
    arrays, later = [], []
    for (name, dims), value in zip(_SHAPES, values):
        value = $convert
        if value.ndim != len(dims):
            raise ValueError(f"{name} must be {_describe(dims)}, not an array of shape {tuple(value.shape)}")
        for axis, (dim, got) in enumerate(zip(dims, value.shape)):
            what = "length" if len(dims) == 1 else ("rows", "columns")[axis]
            if isinstance(dim, int):
                if got != dim:
                    raise ValueError(f"{name} has {what} {got}, not {dim} as declared")
            elif "*" in dim or "+" in dim:  # a product of sizes (kron's), checked once they are known
                later.append((name, what, dim, got))
            elif dim in sizes and sizes[dim][0] != got:
                raise ValueError(f"{name} has {what} {got}, but {dim} = {sizes[dim][0]} from {sizes[dim][1]}")
            else:
                sizes.setdefault(dim, (got, f"the {what} of {name}"))
        arrays.append(value)
    for dim, value in zip(_GIVEN, values[len(_SHAPES):]):
        size = value.__index__() if hasattr(value, "__index__") else 0
        if size < 1:
            raise ValueError(f"the size {dim} must be a whole number from 1, not {value!r}")
        sizes[dim] = (size, "its argument")
    for name, what, dim, got in later:
        want = _size_of(dim, lambda d: sizes[d][0])
        if got != want:
            raise ValueError(f"{name} has {what} {got}, not {dim} = {want}")
    return (*arrays, *(sizes[dim][0] for dim in _SIZES))


def _size_of(dim, size):
    \"\"\"A size written as a sum of products of sizes (q*s, the length kron(A, B) takes).\"\"\"
    if isinstance(dim, int):
        return dim
    total = 0
    for term in dim.split("+"):
        product = 1
        for factor in term.split("*"):
            product *= int(factor) if factor.isdigit() else size(factor)
        total += product
    return total


def _describe(dims):
    if not dims:
        return "a scalar (0-d)"
    if len(dims) == 1:
        return f"a vector (1-D) of length {dims[0]}"
    return f"a matrix (2-D) of {dims[0]}×{dims[1]}"
"""
_ARGUMENTS = {
    # float64 arrays pass as they are: also those of autograd, which traces this module's NumPy
    "numpy": Template(_ARGUMENTS_HEAD + _ARGUMENTS_BODY.replace(
        "$convert", 'value if getattr(value, "dtype", None) == float and hasattr(value, "ndim") '
                    'else $np.asarray(value, dtype=float)')),
    "torch": Template(_ARGUMENTS_HEAD + """\
    like = next((v for v in values if isinstance(v, $np.Tensor) and v.is_floating_point()), None)
    dtype = like.dtype if like is not None else $np.get_default_dtype()
    device = like.device if like is not None else None
""" + _ARGUMENTS_BODY.replace("$convert", "$np.as_tensor(value, dtype=dtype, device=device)")),
    "jax": Template(_ARGUMENTS_HEAD + """\
    floats = [$np.asarray(v).dtype for v in values[:len(_SHAPES)]]
    floats = [t for t in floats if $np.issubdtype(t, $np.floating)]
    dtype = $np.result_type(*floats) if floats else $np.result_type(float)
""" + _ARGUMENTS_BODY.replace("$convert", "$np.asarray(value, dtype=dtype)")),
}

# vec (columns stacked) and rows of any array, as a list of floats: $float_array is the library's conversion
_FLAT = """\
def _vec(x):
    x = $float_array
    return (x.T if x.ndim == 2 else x).reshape(-1).tolist()


def _rows(x):
    return $float_array.tolist()


"""

_CHECK_HELPERS = {
    "numpy": """\
def _random(seed, attempt, shapes, positive):
    rng = $np.random.default_rng([seed, attempt])
    out = {}
    for name, shape in shapes.items():
        x = rng.uniform(0.5, 1.5, shape)
        out[name] = x if positive else x * rng.choice((-1.0, 1.0), shape)
    return out


""" + _FLAT.replace("$float_array", "$np.asarray(x, dtype=float)") + """def _shifted(x, i, h):
    y = $np.array(x, dtype=float)
    if y.ndim == 2:
        y[i % y.shape[0], i // y.shape[0]] += h
    elif y.ndim == 1:
        y[i] += h
    else:
        y = y + h
    return y


class _quiet:
    def __enter__(self):
        self.saved = $np.seterr(all="ignore")

    def __exit__(self, *exc):
        $np.seterr(**self.saved)
""",
    "torch": """\
def _random(seed, attempt, shapes, positive):
    g = $np.Generator().manual_seed(1000 * seed + attempt)
    out = {}
    for name, shape in shapes.items():
        x = 0.5 + $np.rand(shape, generator=g, dtype=$np.float64)
        if not positive:
            x = x * ($np.randint(0, 2, shape, generator=g) * 2 - 1)
        out[name] = x
    return out


""" + _FLAT.replace("$float_array", "$np.as_tensor(x, dtype=$np.float64)") + """def _shifted(x, i, h):
    y = x.clone()
    if y.ndim == 2:
        y[i % y.shape[0], i // y.shape[0]] += h
    elif y.ndim == 1:
        y[i] += h
    else:
        y = y + h
    return y


class _quiet:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False
""",
    "jax": """\
def _random(seed, attempt, shapes, positive):
    key = $jax.random.PRNGKey(1000 * seed + attempt)
    out = {}
    for name, shape in shapes.items():
        key, k1, k2 = $jax.random.split(key, 3)
        x = $jax.random.uniform(k1, shape, dtype=$np.float64, minval=0.5, maxval=1.5)
        if not positive:
            x = x * $jax.random.choice(k2, $np.array([-1.0, 1.0]), shape)
        out[name] = x
    return out


""" + _FLAT.replace("$float_array", "$np.asarray(x, dtype=$np.float64)") + """def _shifted(x, i, h):
    if x.ndim == 2:
        return x.at[i % x.shape[0], i // x.shape[0]].add(h)
    if x.ndim == 1:
        return x.at[i].add(h)
    return x + h


class _quiet:
    def __enter__(self):
        if hasattr($jax, "enable_x64"):
            self.x64 = $jax.enable_x64(True)
        else:  # older JAX
            import jax.experimental as experimental
            self.x64 = experimental.enable_x64()
        self.x64.__enter__()

    def __exit__(self, *exc):
        return self.x64.__exit__(*exc)
""",
}

_CHECK = Template("""\
class GradientCheckError(AssertionError):
    \"\"\"The emitted derivative and central differences of the function disagree.\"\"\"


class GradientCheck:
    \"\"\"check_gradient's verdict: passed (a failure raises GradientCheckError).\"\"\"

    passed = True

    def __init__(self, entries, points, max_error, sizes):
        self.entries = entries      # entries compared, over all points
        self.points = points        # random points
        self.max_error = max_error  # the largest |derivative - central difference|
        self.sizes = sizes

    def __bool__(self):
        return True

    def __repr__(self):
        sizes = ", ".join(f"{k} = {v}" for k, v in self.sizes.items())
        return (f"GradientCheck(passed: {self.entries} entries at {self.points} random points"
                f"{' (' + sizes + ')' if sizes else ''} agree with central differences; "
                f"largest difference {self.max_error:.1e})")


_WRT = $wrt  # the variables the derivative is by, in order
_ABSENT = $absent  # those the function does not take (its derivative by them is 0): their sizes
_STEP = 1e-6  # central differences: (f(x + h) - f(x - h)) / 2h


_PREFERRED = {"n": 3, "N": 5, "m": 2, "k": 4, "p": 6, "q": 7}  # more samples N than features n: XᵀX invertible


def _point(seed):
    \"\"\"Random arguments at small sizes (each size a different number, so that a
    transposed index shows): entries of magnitude 0.5 to 1.5 with random signs, or
    positive ones where the function is not finite there (ln, sqrt of negatives).\"\"\"
    free = (v for v in range(3, 99) if v not in _PREFERRED.values())
    sizes = {dim: _PREFERRED[dim] if dim in _PREFERRED else next(free) for dim in _SIZES}
    shapes = {name: tuple(_size_of(d, sizes.__getitem__) for d in dims) for name, dims in (*_SHAPES, *_ABSENT)}
    for attempt in range(20):
        point = _random(seed, attempt, shapes, positive=attempt % 2 == 1)
        point.update({dim: sizes[dim] for dim in _GIVEN})
        if all(v == v and abs(v) != float("inf") for v in _vec(f(**_args(point)))):
            return point, sizes
    raise ValueError("check_gradient found no point where the function is finite in 20 tries")


def _args(point):
    \"\"\"The point without the variables the function does not take.\"\"\"
    absent = dict(_ABSENT)
    return {name: value for name, value in point.items() if name not in absent}


def _labels(point, names):
    \"\"\"The name of each entry, in the order of vec (columns stacked).\"\"\"
    labels = []
    for name in names:
        x = point[name]
        if x.ndim == 0:
            labels.append(name)
        elif x.ndim == 1:
            labels += [f"{name}[{i}]" for i in range(x.shape[0])]
        else:
            labels += [f"{name}[{i}, {j}]" for j in range(x.shape[1]) for i in range(x.shape[0])]
    return labels


def _differences(function, point):
    \"\"\"The columns ∂vec(function)/∂(each entry of each variable of _WRT), by
    central differences: function(point) is a list of numbers.\"\"\"
    columns = []
    for name in _WRT:
        x = point[name]
        for i in range(len(_vec(x))):
            up = function({**point, name: _shifted(x, i, _STEP)})
            down = function({**point, name: _shifted(x, i, -_STEP)})
            columns.append([(a - b) / (2 * _STEP) for a, b in zip(up, down)])
    return columns


def _compare(rows, columns, row_labels, column_labels, what, rtol, atol, where):
    worst = 0.0
    for j, column in enumerate(columns):
        for i, difference in enumerate(column):
            derivative = rows[i][j]
            error = abs(derivative - difference)
            if not error <= atol + rtol * abs(difference):
                raise GradientCheckError(
                    f"{what(row_labels[i], column_labels[j])}: the emitted code gives {derivative:.9g}, central "
                    f"differences {difference:.9g} ({where})")
            worst = max(worst, error)
    return len(rows) * len(columns), worst


def check_gradient(seed=0, rtol=1e-5, atol=1e-6, points=2):
    \"\"\"Compare $what with central differences $of at ``points``
    random points and return the verdict; raise GradientCheckError at the first
    entry where they differ by more than atol + rtol·|difference|.\"\"\"
    entries, worst = 0, 0.0
    with _quiet():
        for k in range(points):
            point, sizes = _point(seed + k)
            where = f"seed {seed + k}, " + ", ".join(
                f"{name} = {_vec(point[name]) if point[name].ndim else float(point[name])}" for name, _ in _SHAPES)
$body
    return GradientCheck(entries, points, worst, sizes)
""")

_CHECK_GRAD = """\
            _, derivative = f_and_grad(**_args(point))
            row = [x for g in $grads for x in _vec(g)]
            columns = _differences(lambda p: _vec(f(**_args(p))), point)
            n, e = _compare([row], columns, [$out], _labels(point, _WRT),
                            lambda i, j: f"∂{i}/∂{j}", rtol, atol, where)
            entries, worst = entries + n, max(worst, e)
"""

_CHECK_JACOBIAN = """\
            value, jacobian = f_and_jacobian(**_args(point))
            rows = _rows(jacobian$transpose)
            columns = _differences(lambda p: _vec(f(**_args(p))), point)
            out = _labels({$out: value}, [$out])
            n, e = _compare(rows, columns, out, _labels(point, _WRT),
                            lambda i, j: f"∂{i}/∂{j}", rtol, atol, where)
            entries, worst = entries + n, max(worst, e)
"""

_CHECK_HESSIAN = """\
            rows = _rows(hessian(**_args(point)))
            columns = _differences(lambda p: [x for g in $grads for x in _vec(g)], point)
            labels = _labels(point, _WRT)
            n, e = _compare(rows, columns, labels, labels,
                            lambda i, j: f"∂²$name/∂{i}∂{j}", rtol, atol, where)
            entries, worst = entries + n, max(worst, e)
"""


def _checker_source(m: Module) -> str:
    t = m.t
    one = len(m.wrt) == 1
    wrt = repr(tuple(code_name(w) for w in m.wrt))
    if m.scalar:
        body = Template(_CHECK_GRAD).substitute(grads="(derivative,)" if one else "derivative",
                                                out=repr(m.out_name))
        what = "f_and_grad's gradient" if one else "f_and_grad's gradients"
    else:
        body = Template(_CHECK_JACOBIAN).substitute(out=repr(m.out_name),
                                                    transpose=".T" if m.layout == "denominator" else "")
        what = "f_and_jacobian's Jacobian"
    of = "of f"
    if m.hessian is not None:
        body += Template(_CHECK_HESSIAN).substitute(
            grads="(f_and_grad(**_args(p))[1],)" if one else "f_and_grad(**_args(p))[1]", name=m.out_name)
        what += " and the Hessian"
        of = "of f and of the gradient"
    helpers = Template(_CHECK_HELPERS[t.name]).substitute(np=t.np, jax=t.jax)
    absent = [f"({code_name(w)!r}, {_dims_tuple(m.d0.typing.variables[w])})" for w in m.wrt if w not in m.variables]
    return helpers + "\n\n" + _CHECK.substitute(wrt=wrt, absent=_tuple_text(absent), body=body.rstrip("\n"),
                                                   what=what, of=of)


def _tuple_text(items: list[str]) -> str:
    """A Python tuple of the items' texts: (a,) for one."""
    return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"


def to_code(derivations, target: str = "numpy") -> str:
    """The module's text for one or more derivations of one function (one per
    variable where they cannot share one Jacobian), or one Hessian."""
    if not derivations:
        raise ValueError("to_code needs a derivation")
    return Module(list(derivations), target).text()


def non_ascii_names(code: str) -> list[str]:
    """The module's identifiers that are not ASCII (δ3, a Greek variable): a stream
    that can only show ASCII would write them escaped, which Python does not read."""
    import io
    import tokenize

    names = {tok.string for tok in tokenize.generate_tokens(io.StringIO(code).readline)
             if tok.type == tokenize.NAME and not tok.string.isascii()}
    return sorted(names)


# ----- checked before it is handed over ------------------------------------------------------------
LIBRARIES = {"numpy": "numpy", "torch": "torch", "jax": "jax"}
CHECK_TIMEOUT = 300  # seconds: PyTorch alone takes a few to import


class Checked(NamedTuple):
    """The verdict of running a module's own check_gradient in a fresh interpreter:
    status 'passed', 'failed' or 'not checked', and its words."""

    status: str
    message: str


def run_check(code: str, target: str) -> Checked:
    """Run the module's check_gradient() in a new Python process (the same
    interpreter mcalc runs in), from a temporary file."""
    import importlib.util
    import os
    import subprocess
    import sys
    import tempfile

    library = LIBRARIES[target]
    if importlib.util.find_spec(library) is None:
        return Checked("not checked", f"{library} is not installed here")
    with tempfile.TemporaryDirectory(prefix="mcalc-") as folder:
        path = os.path.join(folder, "emitted.py")
        with open(path, "w", encoding="utf-8") as out:
            out.write(code)
        env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "PYTHONIOENCODING": "utf-8"}
        try:
            proc = subprocess.run([sys.executable, path], cwd=folder, capture_output=True, text=True,
                                  encoding="utf-8", errors="replace", timeout=CHECK_TIMEOUT, env=env,
                                  stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            return Checked("not checked", f"check_gradient() took over {CHECK_TIMEOUT} s")
        except OSError as e:
            return Checked("not checked", f"cannot run {sys.executable}: {e.strerror}")
    if proc.returncode == 0:
        return Checked("passed", proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else "passed")
    last = (proc.stderr.strip().splitlines() or ["(no message)"])[-1]
    if last.startswith("GradientCheckError:"):
        return Checked("failed", last.partition(":")[2].strip())
    if "check_gradient found no point" in last:
        return Checked("not checked", last.partition(":")[2].strip())
    return Checked("failed", f"check_gradient() stopped: {last}")
