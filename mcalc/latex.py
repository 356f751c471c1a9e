"""LaTeX in the paper's notation: \\mathbf{x}^{T}, \\operatorname{diag}, \\otimes, \\oslash."""
from __future__ import annotations

import re

from . import ast as A
from .text import ADD, NEG, POSTFIX, POW, JuxtaposingPrinter, format_number, subscripted

_ENDS_IN_TIMES = re.compile(r" \\times [^ ]+$")  # a product whose last factor came after \times
_ENDS_IN_DIGIT = re.compile(r"[0-9.]\}*$")
_STARTS_WITH_DIGIT = re.compile(r"\{*[0-9.]")

_SUPERSCRIPT_END = re.compile(r"\^\{(?:[^{}]|\{[^{}]*\})*\}$")
_FUNCTIONS = {
    "exp": r"\exp", "ln": r"\ln", "sin": r"\sin", "cos": r"\cos", "tan": r"\tan",
    "tanh": r"\tanh", "sinh": r"\sinh", "cosh": r"\cosh", "max": r"\max", "min": r"\min", "sigmoid": r"\sigma",
    "sum": r"\operatorname{sum}", "mean": r"\operatorname{mean}", "relu": r"\operatorname{relu}",
    "abs": r"\operatorname{abs}", "det": r"\det", "asin": r"\arcsin", "acos": r"\arccos", "atan": r"\arctan",
    "asinh": r"\operatorname{arsinh}", "acosh": r"\operatorname{arcosh}", "atanh": r"\operatorname{artanh}",
    "softplus": r"\operatorname{softplus}",
}
_GREEK = {
    "α": "alpha", "β": "beta", "γ": "gamma", "δ": "delta", "ε": "epsilon", "ζ": "zeta",
    "η": "eta", "θ": "theta", "ι": "iota", "κ": "kappa", "λ": "lambda", "μ": "mu", "ν": "nu",
    "ξ": "xi", "π": "pi", "ρ": "rho", "σ": "sigma", "τ": "tau", "υ": "upsilon", "φ": "phi",
    "χ": "chi", "ψ": "psi", "ω": "omega", "Γ": "Gamma", "Δ": "Delta", "Θ": "Theta",
    "Λ": "Lambda", "Ξ": "Xi", "Π": "Pi", "Σ": "Sigma", "Φ": "Phi", "Ψ": "Psi", "Ω": "Omega", "ϖ": "varpi",
}


def latex_name(name: str, bold: bool = False) -> str:
    """w1 → w_{1}; w_in → w_{in}; λ → \\lambda; vectors in bold.  Every other
    underscore stays in the name as \\_ (learning_rate2 → \\mathrm{learning\\_rate}_{2},
    w_1_2 → \\mathrm{w\\_1\\_2}), and a name with σ stands in \\mathrm, where \\sigma
    alone is the sigmoid: each reads back as the same name."""
    stem = name.rstrip("0123456789")
    digits = name[len(stem):]
    if digits and stem.endswith("_") and stem[:-1][-1:].isalpha():
        stem = stem[:-1]  # x_2 (x2 by now): the subscript
    elif digits and not stem[-1:].isalpha():  # w_1_2, x_: no subscript would read back so
        stem, digits = name, ""
    head, _, sub = stem.partition("_")
    if not digits and head and "_" not in sub and sub.isascii() and sub.isalnum():
        stem, digits = head, sub  # w_in → w_{in}
    if digits and not bold and _function_word(stem):
        stem, digits = name, ""  # \mathrm{tanh2}: \mathrm{tanh}_{2} would read as the function tanh
    body = "".join(f"\\{_GREEK[c]} " if c in _GREEK else "\\_" if c == "_" else c for c in stem).strip()
    if bold and not any(c in _GREEK for c in stem) and stem != "I":  # \\mathbf{I} is the identity
        body = f"\\mathbf{{{body}}}"  # \mathbf{loss}: bold, and one name
    elif len(stem) > 1 or "σ" in stem or stem == "I" and digits:  # I_{1} is the 1×1 identity: \mathrm{I}_{1}
        body = f"\\mathrm{{{body}}}"  # \mathrm{\Delta x}: one name, not Δ times x
        if bold:
            body = f"\\boldsymbol{{{body}}}"
    elif bold:
        body = f"\\boldsymbol{{{body}}}"
    return body + (f"_{{{digits}}}" if digits else "")


def _function_word(word: str) -> bool:
    """A function's name (tanh, log): in \\mathrm{…}, the function, not a name."""
    from .parser import _ALIASES
    from .rules import FUNCTIONS

    return word in FUNCTIONS or word in _ALIASES


def piecewise(node: A.Node, shape) -> tuple[A.Node, A.Compare, A.Node, A.Compare] | None:
    """(c) v, one scalar comparison among the factors of a product, as the
    paper's cases (§5): v where c holds, zero where it does not; else None."""
    factors, rest = [], []
    stack = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, (A.Mul, A.MatMul)):
            stack.extend(reversed(n.children))
        elif isinstance(n, A.Compare) and shape(n).is_scalar:
            factors.append(n)
        else:
            rest.append(n)
    if len(factors) != 1:
        return None
    (cond,) = factors

    def without(n: A.Node) -> A.Node:  # the product with the comparison taken out, each ⊗ and @ kept
        if n is cond:
            return A.ONE
        if not isinstance(n, (A.Mul, A.MatMul)):
            return n
        left, right = without(n.left), without(n.right)
        return right if left is A.ONE else left if right is A.ONE else n.rebuild((left, right))

    value = without(node)
    s = shape(node)
    zero = A.ZERO if s.is_scalar else A.Zero(s.rows, s.cols)
    return value, cond, zero, A.Compare(A.NEGATED[cond.op], cond.left, cond.right)


def _power_of_ten(text: str) -> tuple[str, int] | None:
    """A number as format_number writes it in scientific notation (1e-8, 2.5e-30), in LaTeX,
    with its precedence: 10^{-8} (a power), -10^{-8} (a negation), 2.5 \\times 10^{-30} (a
    product that stands in parentheses beside another factor).
    1e-8 typeset as it is would read 1e − 8, Euler's number minus 8.  Else None."""
    if "e" not in text:
        return None
    mantissa, _, exponent = text.partition("e")
    power = f"10^{{{exponent}}}"
    if mantissa == "1":
        return power, POW
    if mantissa == "-1":
        return "-" + power, NEG
    return f"{mantissa} \\times {power}", ADD  # (a group of its own: I (2 \\times 10^{-8}) I, not I 2 \\times 10^{-8} I)


class LatexPrinter(JuxtaposingPrinter):
    ops = {A.Add: " + ", A.Sub: " - ", A.Mul: " ", A.Div: " \\oslash ", A.Dot: " \\cdot ",
           A.MatMul: " ", A.Pow: "^"}
    transpose_mark = "^{T}"

    def paren(self, text: str) -> str:
        return f"\\left({text}\\right)"

    def _vectorish(self, node) -> bool:
        return self.shape is not None and not self.shape(node).is_scalar

    def _print_Num(self, node):
        v = node.value
        text = format_number(v)
        scientific = _power_of_ten(text)
        if scientific is not None:
            return scientific[0]
        if "/" in text:
            sign = "-" if v < 0 else ""
            return f"{sign}\\frac{{{abs(v.numerator)}}}{{{v.denominator}}}"
        return text

    def parenthesize(self, node, level: int, strict: bool = False) -> str:
        scientific = _power_of_ten(format_number(node.value)) if type(node) is A.Num else None
        if scientific is None:
            return super().parenthesize(node, level, strict)
        text, p = scientific  # a power of ten, or a product with one: parenthesized as such
        if p == ADD:  # (the product, a group of its own: in parentheses in a product or a power, not in a sum)
            return self.paren(text) if level > ADD else text
        return self.paren(text) if p < level or (strict and p == level) else text

    def _print_Var(self, node):
        bold = self.shape is not None and not self.shape(node).is_scalar  # vectors and matrices (§4.1)
        return latex_name(node.name, bold)

    def _print_Const(self, node):
        return r"\pi" if node.name == "π" else node.name

    def _print_Ones(self, node):
        return rf"\mathbf{{1}}_{{{self.dim(node.dim)}}}" if id(node) in self.sized else r"\mathbf{1}"

    def _print_Identity(self, node):
        return f"I_{{{self.dim(node.dim)}}}" if id(node) in self.sized else "I"

    def _print_Zero(self, node):
        return rf"\mathbf{{0}}_{{{self.dim(node.rows)} \times {self.dim(node.cols)}}}"

    def _print_Commutation(self, node):
        return rf"\operatorname{{commutation}}\left({node.rows}, {node.cols}\right)"

    def dim(self, d) -> str:
        return str(d).replace("*", " ")

    def _print_Vec(self, node):
        return r"\operatorname{vec}" + self.paren(self._print(node.arg))

    def _print_Kron(self, node):
        return r"\operatorname{kron}" + self.paren(f"{self._print(node.left)}, {self._print(node.right)}")

    hadamard = " \\otimes "

    def _spaced(self, node) -> bool:
        return isinstance(node, A.Div) and self._vectorish(node.right) or super()._spaced(node)

    def _juxtapose(self, left: str, right: str, node: A.Node) -> str:
        if isinstance(node.left, (A.Mul, A.MatMul, A.Neg)) and not self._scalars(node) \
                and _ENDS_IN_TIMES.search(left[-40:]):
            left = self.paren(left)  # (u_{1} \times 2) x: u_{1} \times 2 x reads as u_{1} \times (2 x)
        if _STARTS_WITH_DIGIT.match(right) and type(node) is A.MatMul and not self._scalars(node):
            return left + " " + self.paren(right)  # x^{T} \left(2^{A}\right): a matrix product, not a scaling
        if _ENDS_IN_DIGIT.search(left[-16:]) and _STARTS_WITH_DIGIT.match(right):  # the tail: linear printing
            return left + " \\times " + right  # 300 \times 3^{99}: side by side, 300 3^{99} reads as 3003^{99}
        return left + " " + right

    def _print_Div(self, node):
        if self._vectorish(node.right):
            return self._binary(node, " \\oslash ")
        return f"\\frac{{{self._print(node.left)}}}{{{self._print(node.right)}}}"

    def _print_Pow(self, node):
        base = self.parenthesize(node.left, POW, strict=True)
        exponent = self._print(node.right)
        shape = self.shape(node.left) if self.shape is not None else None
        if shape is not None and (shape.is_matrix or not shape.is_scalar and exponent == "-1"):
            return f"{{{base}}}^{{\\circ {exponent}}}"  # element-wise: X^{2} and x^{-1} would read as XX and x⁻¹
        return f"{{{base}}}^{{{exponent}}}"

    def _print_Transpose(self, node):
        if isinstance(node.arg, A.Call) and node.arg.fn == "inv":  # X^{-T}
            return f"{{{self.parenthesize(node.arg.args[0], POSTFIX)}}}^{{-T}}"
        base = self.parenthesize(node.arg, POSTFIX)
        if _SUPERSCRIPT_END.search(base):  # {x^{T}}^{T}: x^{T}^{T} is a double superscript, which TeX refuses
            base = f"{{{base}}}"
        return base + self.transpose_mark

    def _print_Compare(self, node):
        return self.paren(self.condition(node))

    def condition(self, node: A.Compare) -> str:
        op = {">=": r" \geq ", "<=": r" \leq "}.get(node.op, f" {node.op} ")
        return self.parenthesize(node.left, ADD) + op + self.parenthesize(node.right, ADD)

    def doprint_piecewise(self, node: A.Node) -> str:
        """The expression, in the paper's cases form where it is piecewise (§5)."""
        text = self.doprint(node)
        return self.cases(node) or text

    def cases(self, node: A.Node) -> str | None:
        """The paper's cases form of a piecewise expression (§5), or None."""
        found = piecewise(node, self.shape) if self.shape is not None else None
        if found is None:
            return None
        value, cond, zero, negated = found
        return (r"\begin{cases} " + self._print(value) + " & " + self.condition(cond) + r" \\ "
                + self._print(zero) + " & " + self.condition(negated) + r" \end{cases}")

    def _print_Call(self, node):
        if node.fn == "sqrt":
            return f"\\sqrt{{{self._print(node.args[0])}}}"
        if node.fn == "inv":  # X^{-1}
            return f"{{{self.parenthesize(node.args[0], POSTFIX)}}}^{{-1}}"
        if node.fn in ("norm", "norm2"):
            arg = node.args[0]
            frobenius = self.shape is not None and self.shape(arg).is_matrix
            return f"\\left\\lVert {self._print(arg)} \\right\\rVert" + ("_F" if frobenius else "")
        name = _FUNCTIONS.get(node.fn, "\\operatorname{" + node.fn.replace("_", "\\_") + "}")  # log\_softmax
        return name + self.paren(", ".join(self._print(a) for a in node.args))

    def _print_Diag(self, node):
        if isinstance(node.arg, A.Compare):
            return r"\operatorname{diag}" + self._print(node.arg)
        return r"\operatorname{diag}" + self.paren(self._print(node.arg))

    def _print_Index(self, node):
        if subscripted(node, self.typing):
            return latex_name(node.arg.name) + f"_{{{node.index}}}"  # g_{1}: an element is a scalar, not bold
        if isinstance(node.arg, A.Var):
            return latex_name(node.arg.name) + f"[{node.index}]"
        return f"{self.parenthesize(node.arg, POSTFIX)}[{node.index}]"

    def _print_VecLit(self, node):
        return r"\begin{bmatrix} " + r" \\ ".join(self._print(x) for x in node.items) + r" \end{bmatrix}"

    def _print_HStack(self, node):
        return r"\left[" + r" \;\middle|\; ".join(self._print(x) for x in node.items) + r"\right]"

    def _print_MatLit(self, node):
        rows = (" & ".join(self._print(x) for x in row) for row in node.rows)
        return r"\begin{bmatrix} " + r" \\ ".join(rows) + r" \end{bmatrix}"

