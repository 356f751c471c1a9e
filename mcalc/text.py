"""Printers for mcalc syntax (ASCII, parses back to the same tree) and for
Unicode in the paper's notation (xᵀ, 𝟏, ⊗, ⊘, u₁, 6x²cos(x³)).

One ``_print_<Node>`` method per node kind and one ``parenthesize``.
"""
from __future__ import annotations

import re
from fractions import Fraction

from . import ast as A
from .shapes import unsized_readback

# Binding strength, loosest first.
COMPARE, ADD, MUL, NEG, POW, POSTFIX, ATOM = range(1, 8)

_PREC = {A.Compare: ATOM, A.Add: ADD, A.Sub: ADD, A.Mul: MUL, A.Div: MUL, A.Dot: MUL,
         A.MatMul: MUL, A.Neg: NEG, A.Pow: POW, A.Transpose: POSTFIX}


def precedence(node: A.Node) -> int:
    if isinstance(node, A.Num):
        if node.value < 0:
            return NEG
        return ATOM if A.terminating(node.value) else MUL
    return _PREC.get(type(node), ATOM)


def format_number(value: Fraction) -> str:
    """The exact number: an integer, a decimal (positional or with an exponent,
    whichever is shorter, both one token), or else numerator/denominator."""
    if value.denominator == 1:
        return str(value.numerator)
    if not A.terminating(value):
        return f"{value.numerator}/{value.denominator}"
    sign = "-" if value < 0 else ""
    places = 0
    while (abs(value) * 10 ** places).denominator != 1:
        places += 1
    digits = str(int(abs(value) * 10 ** places))
    whole, frac = digits[:-places] or "0", digits[-places:].rjust(places, "0")
    positional = f"{whole}.{frac}"
    significant = digits.lstrip("0")
    exponent = len(digits) - places - 1
    mantissa = significant.rstrip("0")
    scientific = f"{mantissa[0]}{'.' + mantissa[1:] if len(mantissa) > 1 else ''}e{exponent}"
    return sign + min((positional, scientific), key=len)


_LEFT_LINEAR = (A.Mul, A.Div, A.MatMul, A.Dot)  # a product's sign is its first factor's


def _negated(node: A.Node) -> A.Node | None:
    """-node where node's sign shows at its front (-2, -x, -2x, -0.2w/n), else None."""
    t = type(node)
    if t is A.Num:
        return A.Num(-node.value) if node.value < 0 else None
    if t is A.Neg:
        return node.arg
    if t is A.Transpose:  # (-x ⊘ w²)ᵀ
        inner = _negated(node.arg)
        return None if inner is None else node.rebuild((inner,))
    if t in _LEFT_LINEAR:
        first = _negated(node.left)
        if first is None:
            return None
        if t is A.Mul and type(first) is A.Num and first.value == 1:
            return node.right
        return node.rebuild((first, node.right))
    return None


class Printer:
    """Shared walk; subclasses spell the operators."""

    ops = {A.Add: " + ", A.Sub: " - ", A.Mul: "*", A.Div: "/", A.Dot: " · ", A.MatMul: " @ ",
           A.Pow: "^"}
    functions: dict[str, str] = {}

    def __init__(self, typing=None):
        self.typing = typing  # the shapes of the names, when the printer may use them
        self.shape = typing.shape if typing is not None else None
        self.sized: set[int] = set()  # the 𝟏 and I printed with their size

    def doprint(self, node: A.Node) -> str:
        if self.typing is not None:
            self.sized = unsized_readback(node, self.typing)
        else:
            self.sized = {id(n) for n in A.walk(node) if type(n) in (A.Ones, A.Identity) and n.dim is not None}
        return self._print(node)

    _methods: dict = {}  # node class -> its _print_ method, per printer class (__init_subclass__)

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls._methods = {}

    def _print(self, node: A.Node) -> str:
        t = type(node)
        method = self._methods.get(t)
        if method is None:
            method = self._methods[t] = getattr(type(self), "_print_" + t.__name__)
        return method(self, node)

    def parenthesize(self, node: A.Node, level: int, strict: bool = False) -> str:
        text = self._print(node)
        p = precedence(node)
        if p < level or (strict and p == level):
            return self.paren(text)
        return text

    def paren(self, text: str) -> str:
        return f"({text})"

    def _binary(self, node, op: str) -> str:
        level = precedence(node)
        right = self.parenthesize(node.right, level, strict=True)
        if right.startswith("-") and op.strip() not in ("+", "-", ""):  # a · (-2x), not a · -2 × …
            right = self.paren(right)
        return self.parenthesize(node.left, level) + op + right

    # -- leaves ---------------------------------------------------------------
    def _print_Num(self, node):
        return format_number(node.value)

    def _print_Var(self, node):
        return node.name

    def _print_Const(self, node):
        return node.name

    def _print_Ones(self, node):
        return f"ones({self.dim(node.dim)})" if id(node) in self.sized else "ones"

    def _print_Identity(self, node):
        return f"I({self.dim(node.dim)})" if id(node) in self.sized else "I"

    def _print_Zero(self, node):
        return f"zeros({self.dim(node.rows)}, {self.dim(node.cols)})"

    def _print_Commutation(self, node):
        return f"commutation({self.dim(node.rows)}, {self.dim(node.cols)})"

    def dim(self, d) -> str:
        return str(d)

    # -- operators ------------------------------------------------------------
    def _print_Add(self, node):
        minus = _negated(node.right)
        if minus is not None:  # 1 + (-2x) is 1 - 2x
            return self._print_Sub(A.Sub(node.left, minus, pos=node.pos))
        return self._binary(node, self.ops[A.Add])

    def _print_Sub(self, node):
        minus = _negated(node.right)
        if minus is not None:  # a - (-x ⊘ w²) is a + x ⊘ w²
            return self._binary(A.Add(node.left, minus, pos=node.pos), self.ops[A.Add])
        return self._binary(node, self.ops[A.Sub])

    def _print_Mul(self, node):
        return self._binary(node, self.ops[A.Mul])

    def _print_Div(self, node):
        return self._binary(node, self.ops[A.Div])

    def _print_Dot(self, node):
        return self._binary(node, self.ops[A.Dot])

    def _print_MatMul(self, node):
        return self._binary(node, self.ops[A.MatMul])

    def _print_Pow(self, node):
        return (self.parenthesize(node.left, POW, strict=True) + self.ops[A.Pow]
                + self.parenthesize(node.right, POW))

    def _print_Neg(self, node):
        return "-" + self.parenthesize(node.arg, NEG, strict=isinstance(node.arg, (A.Neg, A.Num)))

    def _print_Transpose(self, node):
        return self.parenthesize(node.arg, POSTFIX) + self.transpose_mark

    transpose_mark = "^T"

    def _print_Compare(self, node):
        op = {">=": " >= ", "<=": " <= "}.get(node.op, f" {node.op} ")
        return self.paren(self.parenthesize(node.left, ADD) + op + self.parenthesize(node.right, ADD))

    def _print_Call(self, node):
        name = self.functions.get(node.fn, node.fn)
        return f"{name}({', '.join(self._print(a) for a in node.args)})"

    def _print_Diag(self, node):
        if isinstance(node.arg, A.Compare):  # diag(u > 0): the comparison's own parentheses
            return "diag" + self._print(node.arg)
        return f"diag({self._print(node.arg)})"

    def _print_Vec(self, node):
        return f"vec({self._print(node.arg)})"

    def _print_Kron(self, node):
        return f"kron({self._print(node.left)}, {self._print(node.right)})"

    def _print_VecLit(self, node):
        return "[" + ", ".join(self._print(x) for x in node.items) + "]"

    def _print_Index(self, node):
        return f"{self.parenthesize(node.arg, POSTFIX)}[{node.index}]"

    def _print_MatLit(self, node):
        return "[" + ", ".join("[" + ", ".join(self._print(x) for x in row) + "]" for row in node.rows) + "]"

    def _print_HStack(self, node):
        return "[" + " | ".join(self._print(x) for x in node.items) + "]"


class TextPrinter(Printer):
    """mcalc syntax: what it prints, the parser reads back to the same tree."""


_SUPERSCRIPT = str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻")
_SUPERSCRIPT_DIGITS = set("⁰¹²³⁴⁵⁶⁷⁸⁹")
_SUBSCRIPT = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")
_CARET_TAIL = re.compile(r"\^(\([^()]*\)|[^\s()^]+)$")  # a power written with ^ ends the text
_PLAIN_DIGITS = str.maketrans("₀₁₂₃₄₅₆₇₈₉", "0123456789")


def unicode_name(name: str) -> str:
    """u1 → u₁, x_2 → x₂; but w_1_2 as it is (w_1₂ would read back as w_12)."""
    stem = name.rstrip("0123456789")
    digits = name[len(stem):]
    if digits and stem:
        stem = stem[:-1] if stem.endswith("_") else stem
        if stem[-1:].isalpha():
            return stem + digits.translate(_SUBSCRIPT)
    return name


_LETTER = "A-Za-zΑ-ΡΣ-Ωα-ωϑϕϖϵ"
_LAST_NAME = re.compile(f"[{_LETTER}_][{_LETTER}0-9_₀-₉]*$")
_FIRST_NAME = re.compile(f"[{_LETTER}_][{_LETTER}0-9_₀-₉]*")
_ATOM = re.compile(f"[{_LETTER}][0-9₀-₉]*")  # one letter and its index: x, u₁, W₂
_ENDS_IN_TIMES = re.compile(r" × [^ ]+$")  # a product whose last factor came after ×
_STARTS_NUMBER = re.compile(r"[0-9.]|[eE][+-]?[0-9]")


def subscripted(node: A.Index, typing) -> bool:
    """May the element x[1] be written x₁ as the paper writes it?  Not where x ends
    in a digit, nor where x1 (printed x₁ too) is itself a name of the function."""
    if not isinstance(node.arg, A.Var) or node.arg.name[-1:].isdigit():
        return False
    name = f"{node.arg.name}{node.index}"
    return typing is None or name not in typing.variables and name not in typing.definitions


def ends_in_function(text: str) -> bool:
    """Would a parenthesis written after ``text`` read as a call?  Only where its run of
    letters ends in a function's or a sized constant's name: xsin(y + 1) as x sin(y + 1),
    I (-I) as I(-I), the identity sized -I; x (…) is x times (…)."""
    from .parser import _ALIASES, _SIZED, _function_suffix
    from .rules import FUNCTIONS

    run = _LAST_NAME.search(text[-70:])
    if run is None:
        return False
    word = run.group()
    return word in FUNCTIONS or word in _ALIASES or word in _SIZED or _function_suffix(word) is not None


class JuxtaposingPrinter(Printer):
    """Products written side by side, as the paper writes them (Unicode, LaTeX):
    ⊗ between two non-scalars, juxtaposition otherwise."""

    hadamard = " ⊗ "

    def _nonscalar(self, node) -> bool:
        return self.shape is not None and not self.shape(node).is_scalar

    def _print_Mul(self, node):
        if self._nonscalar(node.left) and self._nonscalar(node.right):
            return self._binary(node, self.hadamard)
        return self._side_by_side(node)

    def _print_MatMul(self, node):
        return self._side_by_side(node)

    def _side_by_side(self, node) -> str:
        """A factor that shows an operator of its own (⊗, ⊘, ·) stands in
        parentheses; a product on the right needs none when the left is a scalar
        (2(Wx + b)xᵀ: scalars commute)."""
        left = self.parenthesize(node.left, MUL)
        if self._spaced(node.left):  # (v ⊗ a)xᵀ, (2/N)x: not v ⊗ axᵀ, 2/Nx
            left = self.paren(left)
        loose = isinstance(node.right, (A.Mul, A.MatMul)) and not self._spaced(node.right) and \
            self.shape is not None and self.shape(node.left).is_scalar
        right = self._print(node.right) if loose else self.parenthesize(node.right, MUL, strict=True)
        if right.startswith("-"):  # A(-P), not A-P: side by side, a sign would read as a subtraction
            right = self.paren(right)
        return self._juxtapose(left, right, node)

    def _spaced(self, node) -> bool:
        return isinstance(node, A.Dot) or isinstance(node, A.Mul) and self._nonscalar(node.left) \
            and self._nonscalar(node.right)

    def _juxtapose(self, left: str, right: str, node: A.Node) -> str:
        return f"{left} {right}"

    def _scalars(self, node) -> bool:
        """Both factors scalars: their products associate, a × bc is (a × b)c."""
        return self.shape is not None and self.shape(node.left).is_scalar and self.shape(node.right).is_scalar

    def _print_Neg(self, node):
        if isinstance(node.arg, (A.Mul, A.MatMul)) and not self._spaced(node.arg):
            return "-" + self._print(node.arg)  # -XᵀA: (-Xᵀ)A is the same matrix
        return super()._print_Neg(node)


def _edge(node: A.Node, side: int):
    """The node printed at the left (0) or right (1) edge of a product written
    side by side: a name, a function call, or None (a bracket, a mark, a number)."""
    while True:
        t = type(node)
        if t in (A.Mul, A.MatMul):
            node = node.children[side]
        elif side == 0 and t in (A.Transpose, A.Pow):
            node = node.children[0]
        elif t in (A.Var, A.Const) or (side == 0 and t in (A.Call, A.Diag, A.Vec, A.Kron)):
            return node
        else:
            return None


class UnicodePrinter(JuxtaposingPrinter):
    """The paper's notation, for people to read."""

    ops = {**Printer.ops, A.Dot: " · ", A.MatMul: ""}
    functions = {"sigmoid": "σ"}
    transpose_mark = "ᵀ"

    def _print_Var(self, node):
        return unicode_name(node.name)

    def _print_Ones(self, node):
        return f"ones({self.dim(node.dim)})" if id(node) in self.sized else "𝟏"

    def dim(self, d) -> str:
        return str(d).replace("*", "·")

    def _spaced(self, node) -> bool:
        return isinstance(node, A.Div) or super()._spaced(node)

    def _juxtapose(self, left: str, right: str, node: A.Node) -> str:
        """Side by side as the paper writes it (6x²cos(x³), 𝟏ᵀdiag(x), 6yx, Xw)
        wherever that reads back as the product: read back, xy is x y when x and
        y are names of the function, and bsum(x) is b sum(x).  A number on the
        right takes ×; a longer name a space (lossx would be another name).  A
        left factor written with × stands in parentheses: (Q × 2)x, since Q × 2x
        reads as Q × (2x)."""
        if isinstance(node.left, (A.Mul, A.MatMul, A.Neg)) and not self._scalars(node) \
                and _ENDS_IN_TIMES.search(left[-40:]):  # (-P × 2)x: -P × 2x reads as -P × (2x)
            left = self.paren(left)
        if _CARET_TAIL.search(left[-70:]):  # (2^A)(2^A): 2^A(2^A) reads as 2^(A(2^A))
            left = self.paren(left)
        if right.startswith("[") and _LAST_NAME.search(left[-70:]):  # δ([0, 1]): δ[0, 1] reads as an element
            right = self.paren(right)
        if right.startswith("‖"):  # x(‖y‖): a bar right after x would close a norm, not open one
            right = self.paren(right)
        if _STARTS_NUMBER.match(right):
            if type(node) is A.MatMul and not self._scalars(node):  # xᵀ(2^A): × would be element-wise
                return left + self.paren(right)
            return f"{left} × {right}"  # x × 2, x² × 3, 2 × 3: never x2 or 23
        if not _LAST_NAME.search(left[-70:]):  # a name is at most 64 characters
            if right.startswith("_") and left[-1:].isdigit():
                return f"{left} {right}"  # 2 _x: 2_x is refused (1_000)
            return left + right
        # Read back, a run of letters is one group: uᵀPx·kron(…) would be uᵀ(P(x kron(…))).
        # Where the left side is itself a product and regrouping could change the shapes
        # (not all scalars), the run is broken: by a space, or before '(' by parentheses.
        le, re_ = _edge(node.left, 1), _edge(node.right, 0)
        single = type(node.left) in (A.Var, A.Const)
        loose = single or (le is not None and re_ is not None and self.shape is not None
                           and self.shape(le).is_scalar and self.shape(re_).is_scalar)
        if right.startswith("("):
            if not loose and not (type(node.left) is A.Mul and self._scalars(node)):
                return f"({left}){right}"  # (a product of scalars by a scalar: 1.702x(1 - σ), any grouping)
            if type(le) is A.Var and not _ATOM.fullmatch(unicode_name(le.name)) and \
                    (self.typing is None or le.name in self.typing.used):  # (an intermediate is defined)
                return f"{left} × {right}"  # sh × (…): sh(…) reads back as a call of a function sh
            if ends_in_function(left):  # (2xsin)(y + 1): 2xsin(y + 1) reads back as 2x sin(y + 1)
                return f"({left}){right}"
            return left + right
        if not _FIRST_NAME.match(right):
            return left + right
        if le is None or re_ is None:
            return f"{left} {right}"
        if not isinstance(re_, (A.Var, A.Const)):  # a function call: the parser splits bsum(
            together = single and not self._one_word(left, right) and self._splits_back(left, right)
            return left + right if together else f"{left} {right}"
        if loose and _ATOM.fullmatch(unicode_name(le.name)) and _ATOM.fullmatch(unicode_name(re_.name)) \
                and not self._one_word(left, right) and not self._size(le) and not self._size(re_):
            return left + right
        return f"{left} {right}"

    def _size(self, node: A.Node) -> bool:
        """A size used as a number (2m n): read back, mn would be one name, since sizes
        are not split apart as the function's variables are."""
        return type(node) is A.Var and self.typing is not None and self.typing.is_dimension(node.name)

    def _one_word(self, left: str, right: str) -> bool:
        """Would the letters where left and right meet read as one word: a name of
        the function (a b, not ab, where ab is declared), a function or a constant
        (m a x, not max; a tanh(a), not atanh(a))?"""
        from .names import CONSTANTS
        from .parser import _ALIASES, _SIZED
        from .rules import FUNCTIONS

        head, tail = _LAST_NAME.search(left[-70:]), _FIRST_NAME.match(right)
        if head is None or tail is None:
            return False
        word = (head.group() + tail.group()).translate(_PLAIN_DIGITS)
        if word in FUNCTIONS or word in _ALIASES or word in _SIZED or word in CONSTANTS:
            return True
        return self.typing is not None and (word in self.typing.variables or word in self.typing.definitions)

    @staticmethod
    def _splits_back(left: str, right: str) -> bool:
        """Would a name and the call after it, written together, read back split where
        they meet: b sum(x) as bsum(x), but xa cosh(x) not as xacosh(x), which reads as
        x acosh(x) (the parser takes the longest function a run of letters ends in)?"""
        from .parser import _function_suffix

        head, tail = _LAST_NAME.search(left[-70:]), _FIRST_NAME.match(right)
        if head is None or tail is None or right[tail.end():tail.end() + 1] != "(":
            return True
        split = _function_suffix(head.group() + tail.group())
        return split is not None and split[0] == head.group()

    def _print_Index(self, node):
        if subscripted(node, self.typing):
            return unicode_name(f"{node.arg.name}{node.index}")  # g₁, as the paper writes it
        return super()._print_Index(node)

    def _print_Transpose(self, node):
        if isinstance(node.arg, A.Call) and node.arg.fn == "inv":  # X⁻ᵀ
            return self.parenthesize(node.arg.args[0], POSTFIX) + "⁻ᵀ"
        return super()._print_Transpose(node)

    def _print_Call(self, node):
        if node.fn == "inv":  # X⁻¹
            return self.parenthesize(node.args[0], POSTFIX) + "⁻¹"
        if node.fn in ("norm", "norm2"):  # ‖x‖
            return f"‖{self._print(node.args[0])}‖"
        return super()._print_Call(node)

    def _print_Div(self, node):
        op = " ⊘ " if self._nonscalar(node.right) else "/"
        return self._binary(node, op)

    def _print_Pow(self, node):
        base = self.parenthesize(node.left, POW, strict=True)
        if isinstance(node.right, A.Num) and node.right.value.denominator == 1 and node.right.value >= 0:
            if base[-1:] in _SUPERSCRIPT_DIGITS:  # (S⁻¹)², not S⁻¹², which reads as S^(-12)
                base = self.paren(base)
            return base + str(node.right.value.numerator).translate(_SUPERSCRIPT)
        return base + "^" + self.parenthesize(node.right, POW)

    def _print_Compare(self, node):
        op = {">=": " ≥ ", "<=": " ≤ "}.get(node.op, f" {node.op} ")
        return self.paren(self.parenthesize(node.left, ADD) + op + self.parenthesize(node.right, ADD))
