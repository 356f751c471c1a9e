"""Text → AST with the Lark grammar in ``grammar/mcalc.lark`` (the only parser).

Parse errors become one :class:`ParseError` naming the column and what was
expected.  Lark's LALR tables for the grammar are cached on disk as plain data
(``tables.py``), and the parser's own loop (``_Driver``) runs over them, so a
start neither rebuilds them nor imports Lark; Lark's parser explains an input
the loop rejects.
"""
from __future__ import annotations

import bisect
import os
import re
import threading
import unicodedata
from fractions import Fraction
from itertools import chain

from . import ast as A
from . import tables as _tables
from .errors import LINE_STRIDE, ParseError
from .rules import FUNCTIONS

MAX_INPUT = 100_000  # characters
MAX_DEPTH = 1000  # bracket nesting
MAX_NAME = 64  # characters in a name
MAX_EXPONENT = 1000  # a literal exponent's magnitude
MAX_NODES = 50_000  # nodes in one program

_HERE = os.path.dirname(os.path.realpath(__file__))  # os.path: pathlib is not on the start path
_GRAMMAR_PLACES = (os.path.join(_HERE, "grammar", "mcalc.lark"),
                   os.path.join(os.path.dirname(_HERE), "grammar", "mcalc.lark"))

_OPS = {"*": A.Mul, "⊗": A.Mul, "∘": A.Mul, "×": A.Mul, "/": A.Div, "⊘": A.Div,
        "\\cdot": A.Dot, "\\otimes": A.Mul, "\\oslash": A.Div, "\\odot": A.Mul, "\\circ": A.Mul, "\\times": A.Mul,
        "·": A.Dot, "@": A.MatMul, "+": A.Add, "-": A.Sub, "^": A.Pow, "**": A.Pow}
_PLAIN_OPS = {op: node for op, node in _OPS.items() if op not in ("^", "**", "×", "\\times")}  # no reading to do
_CMP = {"≥": ">=", "≤": "<=", "\\geq": ">=", "\\ge": ">=", "\\leq": "<=", "\\le": "<="}
_CONSTANTS = {"I": A.Identity, "ones": A.Ones}
# Sized constants written as calls: I(n), ones(n), zeros(m, n), commutation(m, n).
_SIZED = {"I": 1, "ones": 1, "zeros": 2, "commutation": 2}
# Python's keywords are no names in mcalc: 'x if y else z' is a mistake, not a product
# (but lambda is: a regularisation weight, written λ or lambda).
_RESERVED = {"and", "as", "assert", "async", "await", "break", "class", "continue", "def", "del", "elif",
             "else", "except", "finally", "for", "from", "global", "if", "import", "in", "is",
             "nonlocal", "not", "or", "pass", "raise", "return", "try", "while", "with", "yield",
             "None", "True", "False"}
_ALIASES = {"σ": "sigmoid", "log": "ln", "trace": "tr", "arcsin": "asin", "arccos": "acos", "arctan": "atan",
            "arsinh": "asinh", "arcosh": "acosh", "artanh": "atanh", "arcsinh": "asinh", "arccosh": "acosh",
            "arctanh": "atanh", "ReLU": "relu"}
_NODE_FUNCTIONS = {"dot": A.Dot, "kron": A.Kron}
_UNARY_NODE_FUNCTIONS = {"diag": A.Diag, "vec": A.Vec}
_SMALLEST, _LARGEST = Fraction(1, 10**300), Fraction(10**300)  # a number's magnitude, 1e-300 to 1e300
_SUBSCRIPT_DIGITS = str.maketrans("₀₁₂₃₄₅₆₇₈₉", "0123456789")
_SUBSCRIPTED = re.compile(r"[^\W\d_][0-9]*_[0-9A-Za-z]+")  # η_t, u_k: a name with its index
_LETTERS = re.compile(r"(?:[^\W\d_][0-9₀-₉]*)+")  # x, u₁, W₁W₂: names the paper juxtaposes

_parser = None
_driver = None
_parser_lock = threading.Lock()


def _parts_apart(node: A.Node, parts: dict, keep: set) -> A.Node:
    """node with each run of letters that begins or ends with a part's name (δ5x, xδ5) read as the
    part beside the rest, as the printed answer sets them side by side (the names in keep stay whole)."""
    if type(node) is A.Var:
        if node.name in parts or node.name in keep:
            return node
        at = node.pos
        for part in parts:
            rest = node.name[len(part):] if node.name.startswith(part) else None
            if rest and rest[0].isalpha():
                return A.Juxtapose(A.Var(part, pos=at), _parts_apart(A.Var(rest, pos=at), parts, keep), pos=at)
            rest = node.name[:-len(part)] if node.name.endswith(part) else None
            if rest and rest[-1].isalpha():
                return A.Juxtapose(_parts_apart(A.Var(rest, pos=at), parts, keep), A.Var(part, pos=at), pos=at)
        return node
    if not node.children:
        return node
    kids = tuple(_parts_apart(c, parts, keep) for c in node.children)
    return node if all(k is c for k, c in zip(kids, node.children)) else node.rebuild(kids)


def grammar_path() -> str:
    for place in _GRAMMAR_PLACES:
        if os.path.exists(place):
            return place
    raise FileNotFoundError("mcalc.lark is missing from the installation")


def _bold_name(text: str) -> str:
    if text.startswith("\\"):  # \mathbf{x}, \vec{x}, \boldsymbol{x}, \bm{x}, \boldsymbol{\sigma}
        inner = text[text.index("{") + 1:-1].strip()
        if inner.startswith("\\mathrm{"):  # \boldsymbol{\mathrm{\Delta x}}
            return _mathrm_text(inner[len("\\mathrm{"):-1])
        if inner.startswith("\\") and not inner.startswith("\\_"):
            if inner[1:] not in _GREEK:
                raise ParseError(f"'{inner}' is not a letter mcalc knows")
            return _GREEK[inner[1:]]
        return inner.replace("\\_", "_")
    # MATHEMATICAL BOLD SMALL W -> w, MATHEMATICAL BOLD CAPITAL X -> X
    return unicodedata.normalize("NFKC", text)


_GREEK = {"alpha": "α", "beta": "β", "gamma": "γ", "delta": "δ", "epsilon": "ε", "varepsilon": "ε",
          "zeta": "ζ", "eta": "η", "theta": "θ", "iota": "ι", "kappa": "κ", "lambda": "λ", "mu": "μ",
          "nu": "ν", "xi": "ξ", "pi": "π", "rho": "ρ", "tau": "τ", "upsilon": "υ", "phi": "φ",
          "varphi": "φ", "chi": "χ", "psi": "ψ", "omega": "ω", "Gamma": "Γ", "Delta": "Δ",
          "Theta": "Θ", "Lambda": "Λ", "Xi": "Ξ", "Pi": "Π", "Phi": "Φ", "Psi": "Ψ", "Omega": "Ω",
          "vartheta": "θ", "varpi": "ϖ", "sigma": "σ", "Sigma": "Σ"}  # \sigma in \mathrm: σ_x (alone: sigmoid)
# The letter forms LaTeX reads as one name (\phi and \varphi are φ): one name in Unicode too
_VARIANTS = str.maketrans("ϑϕϵ", "θφε")


_SMALL_NUMBERS = {str(i): Fraction(i) for i in range(1000)}  # written often, each the same value
_INDEX_MARK = re.compile(r"(?<=[^\W\d_])_(?=[0-9]+$)")


_SUBSCRIPT_THEN_DIGIT = re.compile("[\u2080-\u2089]+[0-9]")  # x₁2: x₁₂ or x₁ times 2?


def canonical_name(name: str) -> str:
    """One spelling for one name: w₁, w_1 and w1 are w1 (as w_{1} in LaTeX), ϕ is φ
    (as \\phi and \\varphi are), and a bold letter 𝐰 given as a name (--wrt 𝐰) is w."""
    if name.isascii() and "_" not in name:
        return name
    if any(0x1D400 <= ord(c) <= 0x1D7FF for c in name):
        name = "".join(unicodedata.normalize("NFKC", c) if 0x1D400 <= ord(c) <= 0x1D7FF else c for c in name)
    return _INDEX_MARK.sub("", name.translate(_SUBSCRIPT_DIGITS).translate(_VARIANTS))


def _mathrm_text(body: str) -> str:
    """The name inside \\mathrm{…}: \\Delta x → Δx, learning\\_rate → learning_rate."""
    out = re.sub(r"\\([A-Za-z]+)\s*", lambda m: _GREEK.get(m.group(1), "\0"), body.replace("\\_", "_"))
    if "\0" in out or not out:
        raise ParseError(f"'\\mathrm{{{body}}}' is not a name mcalc reads (letters, digits, Greek letters)")
    return out


_MATHRM_INDEX = re.compile(r"\}_(?:\{([A-Za-z0-9]+)\}|([A-Za-z0-9]))$")  # \mathrm{…}'s subscript


def _latex_name(text: str) -> str:
    """\\lambda → λ, \\mathrm{loss} → loss, u_{1} → u1, w₁ → w1 (subscript digits
    are the digits of the same name)."""
    if text.startswith("\\mathrm{"):  # \mathrm{loss}, \mathrm{lr}_{2}, \mathrm{w}_1, \mathrm{\Delta x}
        m = _MATHRM_INDEX.search(text)
        body, index = (text[len("\\mathrm{"):m.start()], m.group(1) or m.group(2)) if m else \
            (text[len("\\mathrm{"):].rstrip("}"), "")
        return _mathrm_text(body) + (index if index.isdigit() or not index else "_" + index)
    if text.startswith("\\"):  # \lambda, \delta_{3}
        letter, _, index = text[1:].partition("_{")
        index = index.rstrip("}")
        return _GREEK[letter] + (index if index.isdigit() or not index else "_" + index)
    if "_{" in text:
        stem, sub = text[:-1].split("_{")
        return stem + sub if sub.isdigit() else f"{stem}_{sub}"
    return canonical_name(text)


def _size_text(text: str, column: int, line: int):
    """The size in a subscript: n, 3, m \\times n (two sizes), m n or m·n (a product)."""
    import re

    parts = [p for p in re.split(r"\\times|×|,", text)]
    sizes = []
    for part in parts:
        terms = []
        for term in part.split("+"):
            factors = [f for f in re.split(r"\s+|\*|·|\\cdot", term.strip().strip("()")) if f]
            if not factors or not all(f.isdigit() or f.isidentifier() for f in factors):
                raise ParseError(f"'{text}' is not a size (n, 3, m \\times n)", column, line)
            terms.append("*".join(factors))
        sizes.append(_dim_of_text("+".join(terms)))
    return sizes


def _dim_of_text(text: str):
    from .shapes import dim_mul, dim_sum

    return dim_sum([dim_mul(*(int(f) if f.isdigit() else f for f in term.split("*")))
                    for term in text.split("+")])


def _dim_of_node(node: A.Node, column: int, line: int):
    """A size written as an argument: n, 3, m*n, n + 1."""
    from .shapes import dim_mul, dim_sum

    if isinstance(node, A.Var):
        return node.name
    if isinstance(node, A.Num) and node.value.denominator == 1 and 1 <= node.value <= 10_000:
        return int(node.value)
    if isinstance(node, (A.Mul, A.Juxtapose, A.Dot)):  # m*n, m n, m·n
        return dim_mul(_dim_of_node(node.left, column, line), _dim_of_node(node.right, column, line))
    if isinstance(node, A.Add):
        return dim_sum([_dim_of_node(node.left, column, line), _dim_of_node(node.right, column, line)])
    raise ParseError("a size is a name (n), a whole number from 1 to 10000, or a sum or product of those",
                     node.pos or column, line)


def _latex_function(text: str) -> str:
    """\\ln → ln, \\operatorname{diag} → diag, \\mathrm{tr} → tr, \\sigma → σ."""
    if text.startswith("\\operatorname{"):
        return text[len("\\operatorname{"):-1].replace("\\_", "_")
    if text.startswith("\\mathrm{"):
        return text[len("\\mathrm{"):-1]
    if text.startswith("\\"):
        return {"sigma": "σ"}.get(text[1:], text[1:])
    return text


def _leftmost_number(node: A.Node, grouped: dict):
    """The number a juxtaposition's right side starts with, outside parentheses."""
    while isinstance(node, (A.Juxtapose, A.Mul, A.MatMul, A.Pow, A.Transpose)) and node.children \
            and id(node) not in grouped:
        node = node.children[0]
    return node if isinstance(node, A.Num) and id(node) not in grouped else None


def _rightmost_number(node: A.Node, grouped: dict):
    """The number a juxtaposition's left side ends with, outside parentheses (2 in 3x·2
    is none: x² ends in an exponent; nor is it in (x × 2)(2a))."""
    while isinstance(node, (A.Juxtapose, A.Mul)) and id(node) not in grouped:
        node = node.right
    return node if isinstance(node, A.Num) and id(node) not in grouped else None


def _huge_exponent(node, memo: dict) -> bool:
    """A number beyond ±MAX_EXPONENT anywhere in the exponent.  Each node is looked at
    once per parse (``memo``: id -> (node, answer)): x^x^…^x re-walked every level."""
    if type(node) is A.Num:  # x^2: no walk
        return abs(node.value) > MAX_EXPONENT
    order, stack = [], [node]
    while stack:
        n = stack.pop()
        if id(n) not in memo:
            order.append(n)
            stack.extend(n.children)
    for n in reversed(order):  # children before their parents
        if id(n) not in memo:
            memo[id(n)] = (n, type(n) is A.Num and abs(n.value) > MAX_EXPONENT
                           or any(memo[id(c)][1] for c in n.children))
    return memo[id(node)][1]


_KINDS = ("SCALAR", "VECTOR", "MATRIX")
_NONE = frozenset()


def _is_token(item, kind: str) -> bool:
    return getattr(item, "type", None) == kind


class _Declaration:
    """x, w: vector[n] — a statement that only declares."""

    def __init__(self, entries):
        self.entries = entries


class _ParseState:
    """What one parse remembers beside the tree it builds."""

    __slots__ = ("bold_names", "bold_by", "bold_vars", "brackets", "grouped", "latex_power", "exponents",
                 "bold_inside", "bold_groups", "big_sums")

    def __init__(self):
        self.bold_names: set[str] = set()
        self.bold_by: set[str] = set()  # bold names among a claim's variables (∂/∂𝐰)
        self.bold_vars: dict = {}  # id -> each bold name's node (𝐱, \mathbf{x}; not {x}, a group)
        self.brackets: dict = {}
        self.grouped: dict = {}
        self.latex_power: dict = {}  # {2} as an exponent, and bold names: X^{2} may be X X
        self.exponents: dict = {}  # id -> (node, holds a number too large for an exponent)
        self.bold_inside: dict = {}  # id -> (node, a bold name stands in it)
        self.bold_groups: dict = {}  # parentheses with a bold name in them: (…)^2 may mean either power
        self.big_sums: dict = {}  # \sum (…): a power after the parenthesis is its operand's


def _make_transformer():
    class ToAST:
        """One method per grammar alternative (looked up by rule name, as Lark's
        Transformer is); collects bold names as it goes."""

        def __init__(self):
            self._local = threading.local()  # one parse's state per thread: the parser is shared

        @property
        def bold_names(self) -> set[str]:
            return self._local.state.bold_names

        @property
        def brackets(self) -> dict[int, A.Node]:  # the [ … ] literals of this parse (kept: ids are reused)
            return self._local.state.brackets

        def reset(self) -> None:
            self._local.state = _ParseState()  # (one object a parse: a thread-local's attribute costs a lookup)

        def _closed(self) -> tuple:
            return tuple(n for n in self._local.state.grouped.values()
                         if type(n) in (A.Transpose, A.Pow) or (type(n) is A.Call and n.fn in A.POSTFIX_CALLS))

        def group(self, items):
            """(…) or {…}: closed, so an operator after the parenthesis applies to all of it
            ((bsum(x))ᵀ, (x(x + 1))²), and numbers inside it are not side by side with
            numbers outside ((x × 2)(2a))."""
            node = items[0]
            self._local.state.grouped[id(node)] = node  # kept: ids are reused
            if self._local.state.bold_names and type(node) is not A.Var and self._holds_bold(node):
                self._local.state.bold_groups[id(node)] = node  # (\mathbf{Y} - \mathbf{X}\mathbf{W})^2: which power?
            return node

        def _holds_bold(self, node: A.Node) -> bool:
            """Whether a bold name stands in ``node`` (each subtree looked at once)."""
            latex, seen = self._local.state.latex_power, self._local.state.bold_inside
            stack, found = [node], False
            while stack and not found:
                n = stack.pop()
                hit = seen.get(id(n))
                if hit is not None and hit[0] is n:
                    found = hit[1]
                    continue
                found = type(n) is A.Var and id(n) in latex
                stack.extend(n.children)
            seen[id(node)] = (node, found)  # the node kept: ids are reused
            return found

        def brace_group(self, items):
            node = self.group(items)
            self._local.state.latex_power[id(node)] = node
            return node

        def _bold(self) -> tuple[frozenset, frozenset]:
            """The bold names read: lower case (vectors), upper case (matrices)."""
            bold = self.bold_names
            if not bold:
                return _NONE, _NONE
            return frozenset(n for n in bold if n.islower()), frozenset(n for n in bold if not n.islower())

        def start(self, items):
            if len(items) == 1 and type(items[0]) is not tuple and type(items[0]) is not _Declaration:
                return A.Program((), items[0], *self._bold(), None, (), self._closed())  # one bare expression
            decls = tuple(d for item in items if isinstance(item, _Declaration) for d in item.entries)
            items = [item for item in items if not isinstance(item, _Declaration)]
            if not items:
                raise ParseError("declarations but no function")
            *defs, last = items
            for d in defs:
                if not isinstance(d, tuple):
                    raise ParseError("only the last line may be a bare expression; name the others "
                                     "(u = ...)", d.pos)
            output = None
            if isinstance(last, tuple):  # y = sum(u): the function has a name
                output, last = last
            return A.Program(tuple(defs), last, *self._bold(), output, decls, self._closed())

        def where_program(self, items):
            body, _, *defs = items
            defs = [d for d in defs if isinstance(d, tuple)]
            return A.Program(tuple(defs), body, *self._bold(), closed=self._closed())

        def declaration(self, items):
            kind_at = next(i for i, t in enumerate(items) if getattr(t, "type", None) in _KINDS)
            names = [str(t) if t.type == "NAME" else self._declared_bold(t) for t in items[:kind_at]
                     if getattr(t, "type", None) in ("NAME", "BOLD")]
            kind = str(items[kind_at])
            names_done = False
            sizes = []
            for t in items:
                if getattr(t, "type", None) in _KINDS:
                    names_done = True
                elif names_done and getattr(t, "type", None) in ("NAME", "NUMBER"):
                    sizes.append(str(t))
                elif names_done and getattr(t, "type", None) == "INDEX":  # vector[3]
                    sizes.append(str(t).strip("[] \t"))
            sizes = tuple(sizes)
            want = {"scalar": (0,), "vector": (0, 1), "matrix": (2,)}[kind]
            if len(sizes) not in want:
                tok = items[kind_at]
                raise ParseError(f"a {kind} takes {' or '.join(map(str, want))} sizes, got {len(sizes)}",
                                 tok.column, tok.line)
            return _Declaration(tuple((name, kind, sizes) for name in names))

        def _declared_bold(self, tok) -> str:
            """The name a bold name declares (\\mathbf{x}: vector declares x)."""
            named = self.bold([tok])
            if type(named) is not A.Var:
                raise ParseError(f"'{tok}' is the identity matrix, not a name to declare", tok.column, tok.line)
            return named.name

        def definition(self, items):
            tok, expr = items
            if tok.type == "BOLD":  # \mathbf{k} = …, 𝐤 = …
                named = self.bold([tok])
                if type(named) is not A.Var:
                    raise ParseError("cannot define 'I': it is a built-in name", tok.column, tok.line)
                name = named.name
            else:
                name = _latex_name(str(tok))
            if name in _CONSTANTS or name in FUNCTIONS:
                raise ParseError(f"cannot define '{name}': it is a built-in name", tok.column, tok.line)
            return (name, expr)

        # -- claims -------------------------------------------------------------
        def claim(self, items):
            deriv, wrt, function, expect, *clauses = [i for i in items if not _is_token(i, "RBRACE")]
            self._whole_function(function, deriv)
            return self._claim(wrt, function, expect, clauses)

        def _whole_function(self, function: A.Node, deriv) -> None:
            """d/dx (x²) + 1 and d/dx x² + 1 do not say how far the derivative reaches
            (to the parenthesis, or to the =): refused, saying how to write it."""
            grouped = self._local.state.grouped
            if id(function) in grouped:
                return
            node = function
            while type(node) in _SPINE and id(node) not in grouped:
                node = node.left
            if node is not function and id(node) in grouped:
                raise ParseError("the parenthesis after the derivative closes before the function ends, so it "
                                 "is not clear what the derivative is of (d/dx (x²) + 1: of x², or of x² + 1?): "
                                 "put the whole function in one pair of parentheses", deriv.column, deriv.line)
            if type(function) in (A.Add, A.Sub, A.Compare):
                raise ParseError("a sum after the derivative without parentheses (d/dx x² + 1: of x², or of "
                                 "x² + 1?): put the whole function in one pair of parentheses",
                                 deriv.column, deriv.line)

        def named_claim(self, items):
            # \frac{\partial C}{\partial w} = …: C is one of the definitions given
            _, name, _partial, wrt, expect, *clauses = [i for i in items if not _is_token(i, "RBRACE")
                                                         and not _is_token(i, "LBRACE")]
            defined = {n for c in clauses if c[0] == "given" for n, _ in c[1]}
            if name.name not in defined:
                raise ParseError(f"∂{name.name}: say what {name.name} is, e.g. 'given {name.name} = …' in the "
                                 f"annotation", name.pos)
            return self._claim(wrt, name, expect, clauses, output=name.name)

        def hessian_claim(self, items):
            deriv, by, function, expect, *clauses = [i for i in items if not _is_token(i, "RBRACE")]
            self._whole_function(function, deriv)
            return self._claim([by], function, expect, clauses)._replace(order=2)

        def named_hessian_claim(self, items):
            _, name, by, expect, *clauses = [i for i in items if not _is_token(i, "RBRACE")
                                             and not _is_token(i, "LBRACE")]
            claim = self.named_claim([None, name, None, [by], expect, *clauses])
            return claim._replace(order=2)

        def hessian_var(self, items):
            """d2/dx2: x (the 2 of the name is the order); ∂²/∂x²: x."""
            var, sup = items
            self._by_bold([var])
            if sup is None:
                if not var.name.endswith("2") or len(var.name) < 2:
                    raise ParseError(f"a second derivative reads d2/d{var.name}2 (or ∂²/∂{var.name}²)", var.pos)
                return var.name[:-1]
            if str(sup) != "²":
                raise ParseError(f"a second derivative reads ∂²/∂{var.name}²", sup.column, sup.line)
            return var.name

        def latex_hessian_by(self, items):
            names = [i.name for i in items if isinstance(i, A.Var)]
            self._by_bold(items)
            if len(names) == 2 and names[0] != names[1]:
                raise ParseError(f"a Hessian is by one variable twice, not {names[0]} and {names[1]}", items[0].column)
            if len(names) == 1:
                power = next((i for i in items if _is_token(i, "NUMBER")), None)
                if power is None or str(power) != "2":
                    raise ParseError("a second derivative is by x^2", items[0].column)
            return names[0]

        def _claim(self, wrt, function, expect, clauses, output=None):
            decls = tuple(d for c in clauses if c[0] == "where" for d in c[1])
            defs = tuple(d for c in clauses if c[0] == "given" for d in c[1])
            parts = tuple(d for c in clauses if c[0] == "named_parts" for d in c[1])
            if parts:
                expect = self._named_parts(function, defs, expect, parts)
                clauses = [c for c in clauses if c[0] != "named_parts"]
            options = {}
            for kind, value, column, line in (c for c in clauses if c[0] not in ("where", "given")):
                if kind in options:  # the last would win, in silence
                    raise ParseError(f"'{kind}' is given twice in one claim", column, line)
                options[kind] = value
            used = A.names(function).union(*(A.names(e) for _, e in defs)) | ({output} if output else set())
            for name, e in defs:  # given and never used: it changes nothing, and was ignored in silence
                if name not in used:
                    raise ParseError(f"'given {name} = …': the function does not use {name}", e.pos)
            # a name bold only in the answer types the function only where it leaves the name a scalar
            # (_check_claim): 𝐱ᵀ, as mcalc prints the answer of sum(w*x) + b by w, declared x a vector
            # and so w a scalar (scalar expansion), and failed
            bold_vars = self._local.state.bold_vars  # ({x}^{2} is no bold x: a group, as mcalc prints a power)

            def bold_in(*trees) -> set[str]:
                return {n.name for t in trees for n in A.walk(t) if type(n) is A.Var and bold_vars.get(id(n)) is n}

            answer_bold = frozenset(bold_in(expect) - bold_in(function, *(e for _, e in defs)) - self._local.state.bold_by)
            self.bold_names.difference_update(answer_bold)
            bold = frozenset(self.bold_names)
            program = A.Program(defs, function, frozenset(n for n in bold if n.islower()),
                                frozenset(n for n in bold if not n.islower()), output, decls, self._closed())
            return A.Claim(tuple(wrt), program, expect, options.get("layout"), options.get("tolerance"),
                           answer_bold=answer_bold)

        def _named_parts(self, function: A.Node, defs, expect: A.Node, parts) -> A.Node:
            """The claimed answer with its named parts written out (as mcalc prints a long
            one: 2u(2x + 1)  where u = x² + x), each part in those after it and in the answer.
            A part may carry the name of a definition the claim gives (mcalc names its
            intermediates after them), not a variable's."""
            from .derive import substitute

            variables = A.names(function).union(*(A.names(e) for _, e in defs)) - {name for name, _ in defs}
            given: dict[str, A.Node] = {}
            for name, e in parts:
                if name in given:
                    raise ParseError(f"'{name}' is named twice in the answer's where clause", e.pos)
                if name in variables:
                    raise ParseError(f"'where {name} = …' names a part of the answer, but {name} is a variable "
                                     f"of the function; name the part otherwise", e.pos)
                given[name] = e
            # δ₅x exp(x), as mcalc prints a part beside a name: the run δ5x is the part times x
            keep = variables | {name for name, _ in defs}  # the function's own names stay whole (up, not u·p)
            expect = _parts_apart(expect, given, keep)
            given = {name: _parts_apart(e, given, keep) for name, e in given.items()}
            used = A.names(expect).union(*(A.names(e) for e in given.values()))
            for name, e in given.items():
                if name not in used:  # named and never used: a slip, read in silence it would change nothing
                    raise ParseError(f"'where {name} = …': the answer does not use {name}", e.pos)
            values: dict[str, A.Node] = {}

            def value(name: str, seen: tuple) -> A.Node:  # each part written out, in whatever order they come
                if name not in values:
                    if name in seen:
                        raise ParseError(f"'where {name} = …' is written in terms of itself", given[name].pos)
                    inner = {n: value(n, seen + (name,)) for n in A.names(given[name]) if n in given}
                    values[name] = substitute(given[name], inner)
                return values[name]

            for name in given:
                value(name, ())
            self.bold_names.difference_update(given)  # a bold part is the answer's, not a variable's
            return substitute(expect, values)

        def named_parts(self, items):
            return ("named_parts", tuple(d for d in items if isinstance(d, tuple)))

        def given(self, items):
            return ("given", tuple(d for d in items if isinstance(d, tuple)))

        def wrt_names(self, items):
            self._by_bold(items)
            return [v.name for v in items]

        def _by_bold(self, variables) -> None:
            """Record the bold names among the variables a claim is by (∂/∂𝐰): they type the function."""
            bold = self._local.state.bold_vars
            self._local.state.bold_by.update(v.name for v in variables if isinstance(v, A.Var) and bold.get(id(v)) is v)

        def where(self, items):
            return ("where", tuple(e for d in items if isinstance(d, _Declaration) for e in d.entries))

        def layout(self, items):
            value = str(items[-1])
            if value not in ("numerator", "denominator"):
                raise ParseError(f"layout is numerator or denominator, not '{value}'", items[-1].column)
            return ("layout", value, items[-1].column, items[-1].line)

        def tolerance(self, items):
            tok = items[-1]
            value = float(str(tok))  # 1e999 is inf, 1e-999 is 0: neither is a tolerance
            if not 0 < value < 1:
                raise ParseError(f"tolerance {str(tok)[:20]} is not a relative tolerance above 0 and below 1 "
                                 f"(e.g. 1e-9)", tok.column, tok.line)
            return ("tolerance", value, tok.column, tok.line)

        # -- LaTeX ----------------------------------------------------------------
        def juxtapose(self, items):
            left, right = items
            if self.brackets.get(id(right)) is right and isinstance(left, A.Var) and \
                    id(right) not in self._local.state.grouped and id(left) not in self._local.state.grouped:  # x [1, 2]: indexing?
                spaced = left.pos is None or right.pos is None or right.pos > left.pos + len(left.name)
                x = left.name
                raise ParseError(f"{x} [...]: write {x}[1] (no space) for element 1 of {x}, {x} * [...] for a product"
                                 if spaced else f"{x}[...]: an element is {x}[k] of a vector {x}, k a whole number "
                                 f"from 1 ({x}[1] is the first; a matrix's entries are not indexed); for a product "
                                 f"write {x} * [...]", right.pos)
            first = _leftmost_number(right, self._local.state.grouped)
            if first is not None and _rightmost_number(left, self._local.state.grouped) is not None:
                raise ParseError("two numbers side by side (a typo such as 1..2?); write * between them",
                                 first.pos)
            return A.Juxtapose(left, right, pos=right.pos)

        def frac(self, items):
            tok, num, den = items
            return A.Div(num, den, pos=tok.column)

        def sqrt(self, items):
            tok, arg = items
            return A.Call("sqrt", (arg,), pos=tok.column)

        def cells(self, items):
            return tuple(items)

        def otherwise(self, items):
            (tok,) = items
            return A.Var(OTHERWISE, pos=tok.column)  # a case's condition, replaced there (else refused)

        def latex_cases(self, items):
            """Each value times its condition (1 where it holds, else 0), summed: the
            conditions of the paper's cases do not overlap.  \\text{otherwise} holds
            where no other does: the other's complement (x ≤ 0 for x > 0), else 1 less
            the others' sum."""
            rows = [r for r in items if isinstance(r, tuple)]
            rest = [i for i, r in enumerate(rows) if len(r) == 2 and type(r[1]) is A.Var and r[1].name == OTHERWISE]
            if len(rest) > 1 or rest and len(rows) < 2:
                raise ParseError("\\text{otherwise} is the condition of one case, after the others",
                                 rows[rest[-1]][1].pos)
            compared = [r for i, r in enumerate(rows) if i not in rest]
            if any(len(r) != 2 or not isinstance(r[1], A.Compare) for r in compared):
                raise ParseError("a case is 'value & condition', the condition a comparison (or "
                                 "\\text{otherwise})", items[0].column)
            for i in range(len(compared)):  # where two hold at once, their values would be added
                for j in range(i + 1, len(compared)):
                    overlap = _overlap(compared[i][1], compared[j][1])
                    if overlap == "point":  # x ≥ 0 and x ≤ 0, as papers write them: the first takes the point
                        compared[j] = (compared[j][0], _strict(compared[j][1]))
                    elif overlap:
                        raise ParseError("two conditions of the cases hold at once (the values would be added "
                                         "there): make them exclusive (x > 0 and x \\le 0)",
                                         compared[j][1].pos or items[0].column)
            if rest:
                value, mark = rows[rest[0]]
                conditions = [c for _, c in compared]
                if len(conditions) == 1:
                    c = conditions[0]
                    condition = A.Compare(A.NEGATED[c.op], c.left, c.right, pos=mark.pos)
                else:
                    total = conditions[0]
                    for c in conditions[1:]:
                        total = A.Add(total, c, pos=mark.pos)
                    condition = A.Sub(A.ONE, total, pos=mark.pos)
                compared.append((value, condition))
            out = None
            for value, condition in compared:  # element-wise: a matrix's cases are its entries'
                term = A.Mul(value, condition, pos=items[0].column)
                out = term if out is None else A.Add(out, term, pos=items[0].column)
            return out

        def latex_matrix(self, items):
            rows = [r for r in items if isinstance(r, tuple)]
            width = len(rows[0])
            if any(len(r) != width for r in rows):
                raise ParseError("matrix rows differ in length", items[0].column)
            if width == 1:
                return A.VecLit(tuple(r[0] for r in rows), pos=items[0].column)
            return A.MatLit(tuple(rows), pos=items[0].column)

        def number(self, items):
            (tok,) = items
            small = _SMALL_NUMBERS.get(tok)
            if small is not None:
                return A.Num(small, pos=tok.column)
            if len(tok) > 400:  # Fraction() of thousands of digits is slow, then refused
                raise ParseError(f"number {str(tok)[:20]}… is out of range (1e-300 to 1e300)", tok.column, tok.line)
            value = Fraction(str(tok))
            if value.numerator.bit_length() > 1000 or value.denominator.bit_length() > 1000 or (
                    value and not _SMALLEST <= abs(value) <= _LARGEST):
                raise ParseError(f"number {str(tok)[:20]} is out of range (1e-300 to 1e300)", tok.column, tok.line)
            return A.Num(value, pos=tok.column)

        def name(self, items):
            (tok,) = items
            text = str(tok)
            if text.isascii() and text.isalnum():  # x, w1: no subscript, nothing to translate
                return self._plain_name(text, tok)
            stem = text.partition("_{")[0]
            if stem != text and (stem in FUNCTIONS or stem in _ALIASES):
                hint = "; for a logarithm to a base b write ln(x)/ln(b)" if stem in ("log", "ln") else \
                    f"; write {stem}(…) without it"
                raise ParseError(f"'{tok}': mcalc does not read a subscript on the function {stem}{hint}",
                                 tok.column, tok.line)
            mixed = _SUBSCRIPT_THEN_DIGIT.search(str(tok))
            if mixed:
                raise ParseError(f"'{tok}': a digit right after a subscript digit; write the index whole, "
                                 f"{tok[:mixed.start()]}₁₂ or {tok[:mixed.start()]}_{{12}}, or the number apart, "
                                 f"{tok[:mixed.end() - 1]} {tok[mixed.end() - 1:]}", tok.column, tok.line)
            return self._plain_name(_latex_name(text), tok)

        def _plain_name(self, text: str, tok):
            """A name as it reads (λ, w1, u_k): a variable, a constant, or an error."""
            if len(text) > MAX_NAME:
                raise ParseError(f"a name of {len(text)} characters; the limit is {MAX_NAME}", tok.column, tok.line)
            if text in _RESERVED:
                raise ParseError(f"'{text}' is a reserved word, not part of mcalc", tok.column, tok.line)
            if text == "T":  # x^(T) would print as x^T, the transpose
                raise ParseError("'T' is the transpose mark (x^T is xᵀ), not a variable: name the variable "
                                 "otherwise (t, T1, τ)", tok.column, tok.line)
            if text in _CONSTANTS:
                return _CONSTANTS[text](pos=tok.column)
            if text in FUNCTIONS or text in _ALIASES or text in _SIZED:
                raise ParseError(f"'{text}' is a function: write {text}(...)", tok.column, tok.line)
            return A.Var(text, pos=tok.column)

        def bold(self, items):
            (tok,) = items
            text = str(tok)
            sub = ""
            if "}_{" in text:  # \mathbf{w}_{1}
                text, sub = text.split("}_{", 1)
                text, sub = text + "}", sub[:-1]
            elif text.startswith("\\") and text[-2:-1] == "_" and text[-3:-2] == "}":  # \mathbf{W}_1, as LaTeX allows
                text, sub = text[:-2], text[-1]
            if text.endswith("{I}"):  # \mathbf{I}, \mathbf{I}_n: the identity, as papers write it
                sizes = _size_text(sub, tok.column, tok.line) if sub else [None]
                return A.Identity(sizes[0], pos=tok.column)
            name = _bold_name(text) + (sub if sub.isdigit() or not sub else "_" + sub)  # \mathbf{u}_{k}: u_k
            self.bold_names.add(name)
            node = A.Var(name, pos=tok.column)
            self._local.state.latex_power[id(node)] = node
            self._local.state.bold_vars[id(node)] = node
            return node

        def ones(self, items):
            (tok,) = items
            text = str(tok)
            if "_{" in text:  # \mathbf{1}_{n}
                (dim,) = _size_text(text[text.index("_{") + 2:-1], tok.column, tok.line)[:1] or [None]
                return A.Ones(dim, pos=tok.column)
            if text[-2:-1] == "_":  # \mathbf{1}_n
                (dim,) = _size_text(text[-1], tok.column, tok.line)[:1] or [None]
                return A.Ones(dim, pos=tok.column)
            return A.Ones(pos=tok.column)

        def sized_identity(self, items):  # I_{n}
            (tok,) = items
            sizes = _size_text(str(tok)[3:-1], tok.column, tok.line)
            if len(sizes) != 1:
                raise ParseError("the identity is I_{n}", tok.column, tok.line)
            return A.Identity(sizes[0], pos=tok.column)

        def zeros(self, items):
            (tok,) = items
            text = str(tok)
            sizes = _size_text(text[text.index("_{") + 2:-1], tok.column, tok.line)
            if len(sizes) != 2:
                raise ParseError("a zero block is \\mathbf{0}_{rows \\times cols}", tok.column, tok.line)
            return A.Zero(*sizes, pos=tok.column)

        def norm(self, items):
            open_, arg, close = items
            suffix = str(close).rsplit("‖", 1)[-1].rsplit("|", 1)[-1].rsplit("Vert", 1)[-1]
            spectral = "2" in suffix or "₂" in suffix
            return A.Call("norm2" if spectral else "norm", (arg,), pos=open_.column)

        def inverse(self, items):
            arg, tok = items
            transposed = "1" not in str(tok) and "¹" not in str(tok)  # ⁻ᵀ, ^{-T}, ^{-\top}, ^{-\mathrm{T}}

            def build(a):
                inv = A.Call("inv", (a,), pos=tok.column)
                return A.Transpose(inv, pos=tok.column) if transposed else inv

            return _postfix(arg, build, self._local.state.grouped)

        def call_of_call(self, items):
            """\\log\\det(X), as papers write it: \\log(\\det(X))."""
            outer, inner, *args = items
            return self.call([outer, self.call([inner, *args])])

        def call(self, items):
            tok, *args = items
            args = [a for a in args if a is not None]
            fn = _latex_function(str(tok))
            fn = _ALIASES.get(fn, fn)
            if fn in _SIZED:
                return self._sized(fn, args, tok)
            if fn not in FUNCTIONS:
                split = _function_suffix(fn)
                if split is None and len(args) == 1 and tok.type == "NAME" and \
                        (_LETTERS.fullmatch(fn) or _SUBSCRIPTED.fullmatch(fn)):
                    name = self.name([tok])  # x(x + 1), η_t(x + 1): a name times (…); names.py decides
                    return A.Apply(name, args[0], pos=tok.column + len(str(tok)))
                if split is None:
                    known = ", ".join(sorted(FUNCTIONS))
                    raise ParseError(f"unknown function '{tok}' ({write_as(fn)}known: {known}; for a product "
                                     f"write {tok}*(…))", tok.column, tok.line)
                # bsum(x), W₂relu(z): a name times a function, as the paper writes a product
                prefix, fn = split
                prefix = prefix.translate(_SUBSCRIPT_DIGITS)
                call = self._sized(fn, args, tok) if fn in _SIZED else self._call(fn, args, tok,
                                                                                     tok.column + len(prefix))
                return A.Prefixed(A.Var(prefix, pos=tok.column), call, pos=tok.column + len(prefix))
            node = self._call(fn, args, tok, tok.column)
            if fn == "sum" and str(tok).startswith("\\sum"):  # \sum (…)^2: Σ of the squares, as TeX sets it
                self._local.state.big_sums[id(node)] = node
            return node

        def _call(self, fn, args, tok, column):
            arity = FUNCTIONS[fn]
            if len(args) != arity:
                written = str(tok).split("(")[0].strip().lstrip("\\")
                shown = written if _ALIASES.get(written) == fn else fn  # log(x, 2): log, as written
                extra = ""
                if fn in ("max", "min") and len(args) == 1:  # max(x): the largest entry?
                    more, most = ("larger", "largest") if fn == "max" else ("smaller", "smallest")
                    extra = (f": {fn}(a, b) is element-wise, each entry the {more} of a's and b's (max(0, z) is "
                             f"the ReLU); the {most} entry of one vector is not a function mcalc derives")
                raise ParseError(f"{shown} takes {arity} argument{'s' * (arity > 1)}, got {len(args)}{extra}",
                                 column, tok.line)
            if fn in _NODE_FUNCTIONS:
                return _NODE_FUNCTIONS[fn](args[0], args[1], pos=column)
            if fn in _UNARY_NODE_FUNCTIONS:
                return _UNARY_NODE_FUNCTIONS[fn](args[0], pos=column)
            return A.Call(fn, tuple(args), pos=column)

        def _sized(self, fn, args, tok):
            want = _SIZED[fn]
            if len(args) != want:
                sizes = "n" if want == 1 else "m, n"
                raise ParseError(f"{fn}({sizes}) takes {want} size{'s' * (want > 1)}, got {len(args)}",
                                 tok.column, tok.line)
            dims = [_dim_of_node(a, tok.column, tok.line) for a in args]
            if fn == "I":
                return A.Identity(dims[0], pos=tok.column)
            if fn == "ones":
                return A.Ones(dims[0], pos=tok.column)
            if fn == "zeros":
                return A.Zero(dims[0], dims[1], pos=tok.column)
            return A.Commutation(dims[0], dims[1], pos=tok.column)

        def bracket(self, items):
            tok, *items = items
            # Only literals make VecLit nodes, so a list of them is a matrix, row by row.
            if all(isinstance(x, A.VecLit) for x in items):
                width = len(items[0].items)
                if any(len(row.items) != width for row in items):
                    raise ParseError(f"matrix rows differ in length ({', '.join(str(len(r.items)) for r in items)})",
                                     tok.column, tok.line)
                node = A.MatLit(tuple(row.items for row in items), pos=tok.column)
            else:
                node = A.VecLit(tuple(items), pos=tok.column)
            self.brackets[id(node)] = node
            return node

        def hstack(self, items):
            tok, *blocks = items
            return A.HStack(tuple(blocks), pos=tok.column)

        def latex_hstack(self, items):
            return A.HStack(tuple(items), pos=items[0].pos)

        def binary(self, items):
            left, op, right = items
            op_text = str(op)
            if op_text in _PLAIN_OPS:  # + - * / @ ⊗ ⊘ ·: the node at once
                node = _PLAIN_OPS[op_text]
                if node is A.Div and isinstance(right, A.Juxtapose) and self._local.state.grouped.get(id(right)) is not right:
                    # 1/2 x², 1/N sum(…): ½x² to one reader, 1/(2x²) to another (juxtaposition binds
                    # tighter than /, which made it the second, without a word)
                    raise ParseError(f"'{op_text}' before a product written side by side is unclear (1/2 x: "
                                     f"x/2 or 1/(2x)?): write (a{op_text}b) c, or a{op_text}(b c)", op.column, op.line)
                return node(left, right, pos=op.column)
            if op_text in ("^", "**") and self._local.state.big_sums.get(id(left)) is left and \
                    self._local.state.grouped.get(id(left)) is not left:
                # \sum (y - Xw)^2 is the sum of the squares (TeX sets the power on the parenthesis)
                return A.Call("sum", (self.binary([left.args[0], op, right]),), pos=left.pos)
            if op_text in ("^", "**"):
                grouped = self._local.state.grouped
                negated = type(right) is A.Neg and id(right) not in grouped
                head = right.arg if negated else right
                if type(head) in (A.Apply, A.Prefixed) and id(head) not in grouped:
                    # e^x (1 + x), e^-x (1 + x), a^b sum(x): the exponent is the name (and its sign);
                    # what follows multiplies the power
                    exponent = A.Neg(head.left, pos=right.pos) if negated else head.left
                    return type(head)(self.binary([left, op, exponent]), head.right, pos=head.pos)
                if _huge_exponent(right, self._local.state.exponents):
                    raise ParseError(f"an exponent beyond ±{MAX_EXPONENT} is not supported", op.column, op.line)
                latex = self._local.state.latex_power
                positive = type(right) is A.Num and right.value > 0 or type(right) is not A.Num and not negated
                if positive and self._local.state.bold_groups.get(id(left)) is left:
                    # (…)^2 and (…)^{2} of bold names alike: the shapes decide (square: refused)
                    return A.Call("gpow", (left, right), pos=op.column)
                if (id(right) in latex or id(left) in latex) and not _scalar_valued(left):
                    # \mathbf{X}^2, X^{2}: of a square matrix, the matrix power, as LaTeX means it
                    # (the shapes decide; mcalc writes its element-wise power X^{\circ 2})
                    return _postfix(left, lambda a: A.Call("mpow", (a, right), pos=op.column), grouped)
                return _postfix(left, lambda a: A.Pow(a, right, pos=op.column), grouped)
            if op_text in ("×", "\\times") and not (type(left) is A.Num or type(right) is A.Num):
                # a scalar product (2 × x, as mcalc prints one); between two vectors, a cross product?
                return A.Call("times", (left, right), pos=op.column)
            return _OPS[op_text](left, right, pos=op.column)

        def compare(self, items):
            left, op, right = items
            return A.Compare(_CMP.get(str(op), str(op)), left, right, pos=op.column)

        def negate(self, items):
            op, arg = items
            if str(op) == "+":  # +x is x
                return arg
            if isinstance(arg, A.Num):  # -2 is a number, as the printers write it
                return A.Num(-arg.value, pos=op.column)
            return A.Neg(arg, pos=op.column)

        def superscript(self, items):  # x² is x^2
            arg, tok = items
            digits = str(tok).translate(str.maketrans("⁻⁰¹²³⁴⁵⁶⁷⁸⁹", "-0123456789"))
            if len(digits.lstrip("-")) > len(str(MAX_EXPONENT)) or abs(int(digits)) > MAX_EXPONENT:
                raise ParseError(f"an exponent beyond ±{MAX_EXPONENT} is not supported", tok.column, tok.line)
            k = A.Num(Fraction(int(digits)))
            state = self._local.state
            if k.value > 0 and (state.bold_groups.get(id(arg)) is arg or type(arg) is A.Var and
                                state.latex_power.get(id(arg)) is arg and state.grouped.get(id(arg)) is arg):
                return A.Call("gpow", (arg, k), pos=tok.column)  # (𝐀 + 𝐗)² and (𝐗)², as with ^2
            if k.value > 0 and type(arg) is A.Var and state.bold_vars.get(id(arg)) is arg:
                # 𝐗², as 𝐗^2 and \mathbf{X}^2: of a square matrix, the matrix power (the shapes decide)
                return A.Call("mpow", (arg, k), pos=tok.column)
            if k.value < 0 and not _scalar_valued(arg):  # X⁻²: (X⁻¹)² of a matrix, as X⁻¹ is its inverse
                return _postfix(arg, lambda a: A.Call("mpow", (a, k), pos=tok.column), state.grouped)
            return _postfix(arg, lambda a: A.Pow(a, k, pos=tok.column), state.grouped)

        def hadamard_power(self, items):
            arg, tok, exponent, *_ = items
            if _huge_exponent(exponent, self._local.state.exponents):
                raise ParseError(f"an exponent beyond ±{MAX_EXPONENT} is not supported", tok.column, tok.line)
            return _postfix(arg, lambda a: A.Pow(a, exponent, pos=tok.column), self._local.state.grouped)

        def transpose(self, items):
            arg, op = items
            return _postfix(arg, lambda a: A.Transpose(a, pos=op.column), self._local.state.grouped)

        def index(self, items):
            arg, tok = items
            digits = str(tok).strip("[] \t")
            if len(digits) > 6 or int(digits) < 1:
                raise ParseError("an element is counted from 1: g[1] is the first", tok.column, tok.line)
            return _postfix(arg, lambda a: A.Index(a, int(digits), pos=tok.column), self._local.state.grouped)

    return ToAST


# operators a claim's function may continue with after a parenthesis: d/dx (x²) + 1, (x²) x
_SPINE = (A.Add, A.Sub, A.Mul, A.Div, A.Dot, A.MatMul, A.Kron, A.Compare, A.Juxtapose, A.Apply, A.Prefixed)


def _scalar_valued(node: A.Node) -> bool:
    """A number, or a function whose value is a scalar whatever it takes (‖X‖, tr, sum)."""
    t = type(node)
    return t is A.Num or t is A.Const or t is A.Call and node.fn in (
        "norm", "norm2", "tr", "det", "sum", "mean", "logsumexp")


def _postfix(arg: A.Node, build, grouped: dict) -> A.Node:
    """An operator written after x(…) or bsum(…) applies to the parenthesis or the
    call, not to the product: x(x + 1)² is x (x + 1)², bsum(x)ᵀ is b sum(x)ᵀ; but
    after a parenthesis around them, to all of it: (bsum(x))ᵀ is (b sum(x))ᵀ."""
    if type(arg) in (A.Apply, A.Prefixed) and id(arg) not in grouped:  # A(B(-C))ᵀ is A (B(-C))ᵀ
        if type(arg) is A.Apply:  # the parenthesis is closed: A(xxᵀ)ᵀ is A (xxᵀ)ᵀ, not A x(xᵀ)ᵀ
            grouped[id(arg.right)] = arg.right
        return type(arg)(arg.left, build(arg.right), pos=arg.pos)
    return build(arg)


def _function_suffix(name: str):
    """('b', 'sum') for bsum: a name followed by a known function, or None."""
    for fn in sorted((*FUNCTIONS, *_SIZED), key=len, reverse=True):
        for spelling in [fn] + [a for a, target in _ALIASES.items() if target == fn]:
            if name.endswith(spelling) and len(name) > len(spelling):
                prefix = name[:-len(spelling)]
                if prefix[0].isalpha() or prefix[0] == "_":
                    return prefix, fn
    return None


_OPERAND_END = {"NAME", "NUMBER", "BOLD", "ONES", "ZEROS", "_CLOSE", "_LATEX_CLOSE", "RSQB", "_LATEX_RSQB",
                "RBRACE", "TRANSPOSE", "SUPERSCRIPT", "INVERSE", "NORM_CLOSE", "LATEX_NAME", "END_MATRIX"}


class Token(str):
    """A token as Lark's (``lark.Token``): the text, with its terminal's name and
    position; the transformer reads the same fields from either."""

    __slots__ = ("type", "start_pos", "value", "line", "column", "end_line", "end_column", "end_pos")

    def __new__(cls, type, value, start_pos=None, line=None, column=None, end_line=None, end_column=None,
                end_pos=None):
        self = super().__new__(cls, value)
        self.type, self.value, self.start_pos, self.line, self.column = type, value, start_pos, line, column
        self.end_line, self.end_column, self.end_pos = end_line, end_column, end_pos
        return self

    @classmethod
    def new_borrow_pos(cls, type_: str, value, borrow):
        return cls(type_, value, borrow.start_pos, borrow.line, borrow.column, borrow.end_line,
                   borrow.end_column, borrow.end_pos)

    def __reduce__(self):  # copied and pickled whole (str's own would call __new__ with the text alone)
        return (Token, (self.type, self.value, self.start_pos, self.line, self.column, self.end_line,
                        self.end_column, self.end_pos))

    def __repr__(self) -> str:
        return f"Token({self.type!r}, {self.value!r})"


class _NormBars:
    """Lark post-lexer: a norm bar after an operand closes the innermost open
    norm; any other bar opens one.  \\lVert always opens and \\rVert closes."""

    always_accept = ("NORM_BAR",)

    def process(self, stream):
        depth, last, end = 0, None, None
        for tok in stream:
            if tok.type == "NORM_BAR":
                text = str(tok)
                closes = "rVert" in text or "right" in text or (
                    "lVert" not in text and "left" not in text and depth > 0 and last in _OPERAND_END)
                if closes or "_" in text.lstrip("\\") or "₂" in text:
                    depth = max(depth - 1, 0)
                    tok = Token.new_borrow_pos("NORM_CLOSE", text, tok)
                else:
                    depth += 1
                    tok = Token.new_borrow_pos("NORM_OPEN", text, tok)
            elif last == "NORM_CLOSE" and tok.type == "NAME" and str(tok).startswith("_") and tok.start_pos == end:
                raise ParseError(f"'‖…‖{tok if len(tok) > 1 else '_{…}'}': mcalc knows the norms ‖x‖ (the 2-norm of a vector, the Frobenius "
                                 f"norm of a matrix), ‖X‖_F and ‖·‖₂ (the spectral norm of a matrix) only",
                                 tok.column, tok.line)
            last, end = tok.type, tok.end_pos
            yield tok


class _NoParse(Exception):
    """The input is not in the language: Lark's parser is to say why."""


class _Actions(dict):
    """state -> {token: a state to shift to (an int), or a reduction (size, callback
    or None where a single child passes up unchanged, rule name)}, each row made
    when first used (building all of them would cost every start a millisecond)."""

    def __init__(self, states: dict, rules: list, callbacks: list):
        super().__init__()
        self.states, self.rules, self.callbacks = states, rules, callbacks

    def __missing__(self, state):
        row = {}
        for name, (reduce, arg) in self.states[str(state)].items():
            if not name.isupper() and name != "$END":
                continue
            if not reduce:
                row[name] = arg
            else:
                spec = self.rules[arg]
                row[name] = (spec["size"], None if _tables.single_child(spec) else self.callbacks[arg], spec["origin"])
        self[state] = row
        return row


class _Gotos(dict):
    """state -> {rule name: the next state}, each row made when first used."""

    def __init__(self, states: dict):
        super().__init__()
        self.states = states

    def __missing__(self, state):
        row = self[state] = {k: arg for k, (_, arg) in self.states[str(state)].items()
                             if not k.isupper() and k != "$END"}
        return row


class _ByFirstCharacter:
    """Lark's lexer tries one alternation of every terminal at each position, in its
    order: the first alternative that matches is the token.  An alternative that
    cannot begin with the character at that position matches nothing there, so the
    alternation of only those that can — in the same order — finds the same token;
    built once for each character met (a small expression, quick to compile, where
    the whole alternation is a tenth of a start).  Which characters a terminal may
    begin with is read once, with the tables (``tables.first_tests``); where that
    reading is unsure the terminal is kept for every character."""

    def __init__(self, terminals: list, flags: int, firsts: list):
        self.flags = flags
        self.terminals = [(f"(?P<{name}>{regex})", _tests(first)) for (name, regex), first in zip(terminals, firsts)]
        self.source = terminals
        self.by_char: dict[str, list] = {}
        self.by_wanted: dict[tuple, list] = {}
        self._whole: list | None = None

    @property
    def fallback(self) -> list:
        """Lark's whole alternation (for characters past the cache)."""
        if self._whole is None:
            self._whole = _alternation(self.source, self.flags)
        return self._whole

    def __call__(self, ch: str) -> list:
        """The patterns to try at a position where ``ch`` stands, in order."""
        patterns = self.by_char.get(ch)
        if patterns is None:
            if len(self.by_char) >= 4096:  # a character past the cache
                return self.fallback
            wanted = tuple(regex for regex, first in self.terminals if first is None or _may(first, ch))
            patterns = self.by_wanted.get(wanted)  # the letters share theirs: compiled once
            if patterns is None:
                try:
                    patterns = [re.compile("|".join(wanted), self.flags)] if wanted else []
                except (AssertionError, re.error, OverflowError):  # too many groups for one pattern
                    patterns = self.fallback
                self.by_wanted[wanted] = patterns
            self.by_char[ch] = patterns
        return patterns


_CLASSES = {"d": re.compile(r"\d"), "D": re.compile(r"\D"), "s": re.compile(r"\s"), "S": re.compile(r"\S"),
            "w": re.compile(r"\w"), "W": re.compile(r"\W")}


def _tests(first):
    """The stored tests a first character passes (``tables.first_tests``), ready to run."""
    if first is None:
        return None
    out = []
    for test in first:
        if test[0] == 2:
            out.append((2, _CLASSES[test[1]]))
        elif test[0] == 3:
            out.append((2, _NotIn(_tests(test[1]))))
        else:
            out.append(tuple(test))
    return out


def _may(first, ch: str) -> bool:
    code = ord(ch)
    for test in first:
        kind = test[0]
        if kind == 0 and test[1] == code or kind == 1 and test[1] <= code <= test[2] or \
                kind == 2 and test[1].match(ch):
            return True
    return False


class _NotIn:
    """A first-character test that passes what none of ``tests`` pass ([^…])."""

    def __init__(self, tests):
        self.tests = tests

    def match(self, ch: str) -> bool:
        return not _may(self.tests, ch)


_END = object()  # the input read whole: the value on top is the parse


class _Driver:
    """The LALR loop over Lark's tables, lexer and callbacks (as ``tables`` keeps them), with the
    grammar's chains of single-child rules (expr → comparison → sum → … → atom,
    which Lark's ``?rule`` returns unchanged) taken as one step and each
    reduction's callback looked up once, here, rather than by hashing the rule
    at every step.  It accepts exactly what Lark's parser accepts and builds
    the same tree with the same callbacks in the same order (a position on a
    later line carries its line, errors.LINE_STRIDE); on an input Lark
    would reject it stops, and Lark's parser runs on the text to raise Lark's
    own error with its position and expected tokens."""

    def __init__(self, tables: dict, transformer):
        rules = tables["rules"]
        callbacks = [_tables.callback(spec, transformer) for spec in rules]
        terminals, flags = tables["terminals"], tables["flags"]
        self.patterns = _ByFirstCharacter(terminals, flags, tables["first"])
        self.ignore, self.newlines = frozenset(tables["ignore"]), frozenset(tables["newline"])
        self.lexer_callbacks = {name: _Unless(retype, flags) for name, retype in tables["unless"].items()}
        self.postlex = _NormBars()
        self.start_states, self.end_states = tables["start_states"], tables["end_states"]
        self.states = _Gotos(tables["states"])  # after a reduction: states[state][rule name] is the next state
        self.actions = _Actions(tables["states"], rules, callbacks)
        self.units: dict[str, dict] = {}  # start -> {(below, top, kind ahead): what _units finds}

    def tokens(self, text: str):
        """Lark's basic lexer, as a loop: the same tokens with the same positions;
        _NoParse at a character no terminal matches."""
        ignore, newlines, callbacks = self.ignore, self.newlines, self.lexer_callbacks
        make = str.__new__
        pos, line, line_start, end = 0, 1, 0, len(text)
        by_char, known = self.patterns, self.patterns.by_char
        while pos < end:
            ch = text[pos]
            for pattern in known.get(ch) or by_char(ch):
                m = pattern.match(text, pos)
                if m:
                    break
            else:
                raise _NoParse
            value, kind = m.group(0), m.lastgroup
            after = pos + len(value)
            column = pos - line_start + 1
            if line > 1:  # a later line's: its line rides along in the column (errors.LINE_STRIDE), so that
                column += (line - 1) * LINE_STRIDE  # an error found after parsing, by a node's pos, names it
            if kind in newlines and "\n" in value:
                line_start = pos + value.rindex("\n") + 1
                token_line, line = line, line + value.count("\n")
            else:
                token_line = line
            if kind not in ignore or kind in callbacks:
                token = make(Token, value)  # Token(kind, value, …), without the call
                token.type, token.value, token.start_pos, token.line, token.column = kind, value, pos, token_line, column
                token.end_line, token.end_column, token.end_pos = line, after - line_start + 1, after
                if kind in callbacks:
                    token = callbacks[kind](token)
                if kind not in ignore:
                    yield token
            pos = after

    def _units(self, below: int, top: int, kind: str, end_state: int):
        """After a chain of single-child reductions with ``below`` under ``top`` and
        ``kind`` ahead (expr → comparison → sum → … → atom, most of the steps):
        the state on top, and the action there that is not one (or _END, the input
        read whole)."""
        while True:
            act = self.actions[top].get(kind)
            if act is None or type(act) is int or act[1] is not None:
                return top, act
            top = self.states[below][act[2]]
            if kind == "$END" and top == end_state:
                return top, _END

    def parse(self, text: str, start: str):
        """The value of ``text`` from ``start``, or None where Lark's parser would raise."""
        try:
            return self._parse(text, start)
        except _NoParse:
            return None

    def _parse(self, text: str, start: str):
        actions, table = self.actions, self.states
        end_state = self.end_states[start]
        states = [self.start_states[start]]
        values: list = []
        stream = self.tokens(text)
        if "‖" in text or "\\|" in text or "Vert" in text:  # what a norm bar's pattern needs
            stream = self.postlex.process(stream)
        units = self.units.setdefault(start, {})
        for token in chain(stream, (None,)):  # None: the end
            kind = "$END" if token is None else token.type
            while True:
                act = actions[states[-1]].get(kind)
                if act is not None and type(act) is not int and act[1] is None:  # a chain of single children
                    key = (states[-2], states[-1], kind)
                    hit = units.get(key)
                    if hit is None:
                        hit = units[key] = self._units(states[-2], states[-1], kind, end_state)
                    states[-1], act = hit
                    if act is _END:
                        return values[-1]
                if act is None:
                    return None
                if type(act) is int:
                    if token is None:
                        return None
                    states.append(act)
                    values.append(token)  # (the grammar's tables have no terminal callbacks: tables.extract)
                    break
                size, cb, origin = act
                if size:
                    children = values[-size:]
                    del states[-size:]
                    del values[-size:]
                else:
                    children = []
                values.append(cb(children))
                states.append(table[states[-1]][origin])
                if token is None and states[-1] == end_state:
                    return values[-1]
        return None  # pragma: no cover - the end token always ends the loop


def load_parser():
    """The transformer, with the parser's loop built once over the grammar's
    tables: from their cache without importing Lark when it can, else from Lark."""
    if _parser is not None:
        return _parser
    with _parser_lock:
        return _parser or _build_parser()


_LARK_OPTIONS = {"parser": "lalr", "lexer": "basic", "start": ["start", "claim"], "maybe_placeholders": True}


def _build_parser():
    global _parser, _driver
    from .cache import private_file

    # The transformer runs inline, bottom-up, while parsing: no tree, no recursion.
    transformer = _make_transformer()()
    key = _tables.key(_grammar_text() + repr(sorted(_LARK_OPTIONS.items())), __file__)
    path = private_file(_tables.FILE)  # False where the file could be someone else's
    tables = _tables.load(path, key) if path else None
    driver = None
    if tables is not None:
        try:
            driver = _Driver(tables, transformer)
        except (KeyError, TypeError, IndexError, ValueError, AttributeError, re.error):  # not whole: made again
            driver = None
    if driver is None:
        tables = _tables.extract(lark_parser(), key)
        if path:
            _tables.store(path, tables)
        driver = _Driver(tables, transformer)
    _driver = driver
    _parser = transformer  # last: another thread takes a parser that is whole
    return _parser


_lark = None


def lark_parser(transformer=None):
    """Lark's own parser for the grammar (from Lark's cache when it can): for the
    tables when they are not cached, and for the error of an input the loop rejects;
    with a transformer, a new one that builds what the loop builds (for the tests)."""
    global _lark
    if _lark is not None and transformer is None:
        return _lark
    from lark import Lark

    from .cache import grammar_cache

    cache = grammar_cache()  # False where the pickled tables could be someone else's
    # One lexer for all states: built once, where a contextual lexer compiles a regular
    # expression per parser state at every start.
    lark = Lark(_grammar_text(), cache=cache, transformer=transformer, postlex=_NormBars(), **_LARK_OPTIONS)
    if transformer is None:
        _lark = lark
    return lark


def _alternation(terminals: list, flags: int, size: int = 0) -> list:
    """Lark's scanner: one regular expression of all the terminals, in order (in
    smaller parts where the re module refuses so many groups, as Lark's does)."""
    out, size = [], size or len(terminals)
    while terminals:
        try:
            out.append(re.compile("|".join(f"(?P<{name}>{regex})" for name, regex in terminals[:size]), flags))
        except AssertionError:  # pragma: no cover - Python's old limit of 100 groups
            return out + _alternation(terminals, flags, size // 2)
        terminals = terminals[size:]
    return out


class _Unless:
    """Lark's UnlessCallback: a name whose whole text is a keyword's (scalar, where)
    takes the keyword's terminal."""

    def __init__(self, terminals: list, flags: int):
        self.patterns = _alternation(terminals, flags)

    def __call__(self, token):
        for pattern in self.patterns:
            m = pattern.fullmatch(token.value)
            if m:
                token.type = m.lastgroup
                break
        return token


_FRIENDLY = {
    "NUMBER": "a number", "NAME": "a name", "BOLD": "a bold vector", "ONES": "𝟏",
    "LPAR": "'('", "RPAR": "')'", "LSQB": "'['", "RSQB": "']'", "COMMA": "','",
    "ADD_OP": "'+' or '-'", "MUL_OP": "an operator", "POW_OP": "'^'",
    "CMP_OP": "a comparison", "TRANSPOSE": "'^T'", "_SEP": "';' or a new line",
    "EQUAL": "'='", "$END": "the end of the input", "_OPEN": "'('", "_CLOSE": "')'",
    "_LATEX_OPEN": "\\left(", "_LATEX_CLOSE": "\\right)",
    "LBRACE": "'{'", "RBRACE": "'}'", "WHERE": "where", "LAYOUT": "layout", "TOLERANCE": "tolerance",
    "END_MATRIX": "\\end{bmatrix}", "_ROW_SEP": "\\\\", "AMPERSAND": "'&'", "LATEX_NAME": "a name",
    "LATEX_FUNCTION": "a function", "FRAC": "\\frac", "SQRT": "\\sqrt", "BEGIN_MATRIX": "a matrix",
    "BEGIN_CASES": "\\begin{cases}", "END_CASES": "\\end{cases}", "COLON": "':'", "GIVEN": "given",
    "DERIV": "d/dx", "DERIV2": "d2/dx2", "LATEX_DERIV": "\\frac{\\partial}{\\partial x}",
    "LATEX_DERIV2": "\\frac{\\partial^2}{\\partial x^2}", "LATEX_DERIV_OF": "\\frac{\\partial f}{\\partial x}",
    "LATEX_DERIV2_OF": "\\frac{\\partial^2 f}{\\partial x^2}", "LATEX_WHERE": "where", "PARTIAL": "\\partial",
    "MATRIX": "matrix", "SCALAR": "scalar", "VECTOR": "vector", "NORM_BAR": "'‖'", "NORM_OPEN": "'‖'",
    "NORM_CLOSE": "a closing '‖'", "VBAR": "'|'", "_MIDDLE": "\\middle|", "_LATEX_LSQB": "\\left[",
    "_LATEX_RSQB": "\\right]", "SIZED_I": "I_{n}", "ZEROS": "\\mathbf{0}", "SUPERSCRIPT": "a superscript",
    "INVERSE": "⁻¹", "INDEX": "[k]", "HADAMARD_POW": "^{\\circ k}",
}
_STARTS_EXPR = {"NUMBER", "NAME", "BOLD", "LPAR", "_OPEN", "LSQB", "ONES"}


def _expected(terminals) -> str:
    terminals = set(terminals)
    if terminals & _STARTS_EXPR:
        closers = sorted({_FRIENDLY.get(t, t) for t in terminals & {"RPAR", "_CLOSE", "RSQB"}})
        return "an expression" + (f" or {' or '.join(closers)}" if closers else "")
    names = sorted({_FRIENDLY.get(t, t) for t in terminals})
    return " or ".join(names) if names else "something else"


_ASCII_CONTROL = re.compile("[\x00-\x08\x0b\x0e-\x1f\x7f]")  # Cc, but tab, new line, \r and \f


def _check_limits(text: str) -> None:
    if len(text) > MAX_INPUT:
        raise ParseError(f"input is {len(text)} characters; the limit is {MAX_INPUT}")
    if not _ASCII_CONTROL.search(text) and text.count("(") + text.count("[") <= MAX_DEPTH and (
            text.isascii() or not any(unicodedata.category(ch) in ("Cc", "Cf") for ch in set(text) if ch >= "\x80")):
        return  # no control character (each character looked at once), and too few brackets to nest too deep
    depth = 0
    for col, ch in enumerate(text, 1):
        if ch in "([":
            depth += 1
            if depth > MAX_DEPTH:
                raise ParseError(f"brackets nest deeper than {MAX_DEPTH}", col)
        elif ch in ")]":
            depth -= 1
        elif ch == "\n":
            continue
        elif unicodedata.category(ch) in ("Cc", "Cf") and ch not in "\t\r\f":
            raise ParseError(f"invisible or control character U+{ord(ch):04X}", col)


_NORM_POWER_FIRST = re.compile(r"(‖|\\\||\\rVert)(\^\s*(?:\{[^{}]*\}|[0-9]))(_(?:\{(?:[^{}]|\{[^{}]*\})*\}|[A-Za-z0-9]))")


# {x}_{1}, {x}_1: a name in braces with its subscript after them (not \mathbf{x}_{1}: a command's braces)
_BRACED_BASE = re.compile(r"(?<![A-Za-z\\}^_])\{([A-Za-z\u0370-\u03ff])\}_(\{[^{}]*\}|[A-Za-z0-9])")
# x^2_1, x^{2}_{1}, \mathbf{x}^{2}_{i}: the subscript, written after the power (LaTeX sets both alike), first
_NAME_POWER_FIRST = re.compile(r"(?<=[A-Za-z0-9}])(?<![0-9][0-9])(\^\s*(?:\{[^{}]*\}|[0-9]))(_(?:\{[^{}]*\}|[A-Za-z0-9]))")


_LAYER_INDEX = re.compile(r"\^\s*\{\s*(?:\(\s*[0-9A-Za-z]+\s*\)|\[\s*[0-9A-Za-z]+\s*\])\s*\}")
# x_{1}_{2}: TeX refuses a double subscript; x^y_1: in TeX the subscript is the base's (x₁ʸ), in
# plain text it may be the exponent's (x^(y₁)): which, mcalc does not guess
_AMBIGUOUS_SUBSCRIPT = re.compile(r"_\s*\{[^{}]*\}\s*_|\^\s*[A-Za-z\u0370-\u03ff]_")


def _place(text: str, index: int) -> tuple[int, int]:
    """The 1-based column and line of text[index]."""
    return index - text.rfind("\n", 0, index), text.count("\n", 0, index) + 1


def _no_ambiguous_subscript(text: str) -> None:
    m = _AMBIGUOUS_SUBSCRIPT.search(text)
    if m:
        column, line = _place(text, m.end() - 1)
        if m.group(0).startswith("_"):
            raise ParseError("a second subscript (x_{1}_{2}), which TeX refuses too: write x_{12} or x_{1,2}",
                             column, line)
        raise ParseError(f"{m.group(0)}…: a subscript after a one-letter power is the base's in LaTeX (x_1^y) and "
                         f"may be the power's in plain text (x^(y_1)): write which", column, line)


# the words of a case's condition, which the grammar passes over: \text{if}, \text{for}, …
_CONDITION_WORD = re.compile(r"\\(text|textrm|mathrm|mbox)\s*\{\s*(if|for|when|where)\s*,?\s*\}")
_CASES_EDGE = re.compile(r"\\(begin|end)\s*\{cases\}")


def _no_condition_outside_cases(text: str) -> None:
    """x^2 \\text{ if } x > 0 read as x² times (x > 0), the words passed over in silence:
    they are read in a case's condition only (cases within cases too)."""
    words = [m for m in _CONDITION_WORD.finditer(text) if not _commented(text, m.start())]
    if not words:
        return
    inside, depth, start = [], 0, 0  # the spans within cases, outermost
    for edge in _CASES_EDGE.finditer(text):
        if _commented(text, edge.start()):
            continue
        if edge.group(1) == "begin":
            depth += 1
            if depth == 1:
                start = edge.start()
        elif depth:
            depth -= 1
            if depth == 0:
                inside.append((start, edge.end()))
    if depth:
        inside.append((start, len(text)))
    starts = [a for a, _ in inside]
    for m in words:
        if m.group(2) == "where" and re.search(r"\\q?quad\s*,?\s*$", text[max(0, m.start() - 12):m.start()]):
            continue  # an answer's "\quad \text{where} u₃ = …"
        k = bisect.bisect_right(starts, m.start()) - 1
        if k < 0 or m.start() >= inside[k][1]:
            raise ParseError(f"{m.group(0)} outside \\begin{{cases}}: a condition is read in a case only; write "
                             f"the function piecewise, \\begin{{cases}} x^2 & x > 0 \\\\ 0 & x \\leq 0 "
                             f"\\end{{cases}}, or as a product with the comparison, x^2 (x > 0)",
                             *_place(text, m.start()))


def _commented(text: str, index: int) -> bool:
    """Whether text[index] stands in a comment (after a # on its line)."""
    return "#" in text[text.rfind("\n", 0, index) + 1:index]


def _no_layer_index(text: str) -> None:
    """W^{(2)}: papers index layers so, and a power it is not (it read as W squared)."""
    m = next((m for m in _LAYER_INDEX.finditer(text) if not _commented(text, m.start())), None)
    if m:
        raise ParseError(f"{m.group(0).strip()}: a superscript in brackets indexes (a layer's W^{{(2)}}, W^{{[2]}}), it "
                         f"is no power: name it W2, W_{{2}}; a power is written without them", *_place(text, m.start()))


_TRANSPOSE_MARK = re.compile(r"\s*(?:T|\{\s*T\s*\}|\\top|\{\s*\\top\s*\}|\\intercal|\{\s*\\intercal\s*\})(?![A-Za-z0-9_])")


def _no_double_superscript(text: str) -> None:
    """e^{-x}^2: TeX refuses a second superscript on one base ("Double superscript"), and
    the reading is not clear, (e^{-x})² or e^{(-x)²}; mcalc read it as the second."""
    i = text.find("^{")
    while i != -1:
        depth, j = 0, i + 1
        while j < len(text):
            depth += {"{": 1, "}": -1}.get(text[j], 0)
            if depth == 0:
                break
            j += 1
        k = j + 1
        while k < len(text) and text[k] in " \t":
            k += 1
        if k < len(text) and text[k] == "^" and not _commented(text, i) and not _TRANSPOSE_MARK.match(text, k + 1):
            raise ParseError("a second superscript on one base (TeX's \"double superscript\"): write (…^{…})^{…} "
                             "for a power of the power, or put both in one superscript", *_place(text, k))
        i = text.find("^{", j)


# a "." before a digit, after anything but a number's own digits, a space or an operator: x.5, x1.5,
# x_{1}.5, x₁.5, x².5, x'.5 (a run of name characters before it that starts with a letter is a name)
_NAME_DOT_NUMBER = re.compile(r"(?:(?<=[)\]}'\u00b2\u00b3\u00b9\u1d40\u2070-\u209f])|(?<=[A-Za-z_\u0370-\u03ff]))\.(?=[0-9])"
                              r"|(?<=[A-Za-z_\u0370-\u03ff][0-9])[0-9]*\.(?=[0-9])")
_NUMBER_UNDERSCORE = re.compile(r"(?<![A-Za-z0-9_.\u0370-\u03ff])[0-9][0-9.]*(?=_)|[)\]](?=_)")


def _no_name_dot_number(text: str) -> None:
    """x.5 was x times 0.5, and 1_000 or 2_x 1 times a name _000, in silence: mistakes
    for x*5, 1000 or 2 x as likely."""
    for pattern, message in ((_NAME_DOT_NUMBER, "a number written right after a name or a bracket (x.5): write "
                              "the operator, x*0.5, or the number apart, x 0.5"),
                             (_NUMBER_UNDERSCORE, "an underscore right after a number or a bracket (1_000, 2_x, "
                              "norm(W)_F): write 1000, the product apart, 2 x, or the norm ‖W‖_F")):
        for m in pattern.finditer(text):
            if _commented(text, m.start()):
                continue
            raise ParseError(message, *_place(text, m.end() - (pattern is _NAME_DOT_NUMBER)))


def _no_subscript_after_a_command(text: str) -> None:
    """\\frac{a}{b}_1, \\sqrt{x}_1 and \\sqrt{a}{c}_1 read as a product with a name _1, in
    silence: a subscript stands on a name (\\mathbf{x}_1, \\mathrm{lr}_{2}, {x}_1), not on
    a fraction, a root or another group.  One pass: each '}' paired with its '{' by a
    stack, comments (# …) and line ends left alone (_a = 2 may start the next line)."""
    opens: dict[int, int] = {}  # the index of a '}' -> the index of its '{'
    stack: list[int] = []
    comment = False
    for i, ch in enumerate(text):
        if ch == "\n":
            comment = False
        elif comment:
            continue
        elif ch == "#":
            comment = True
        elif ch == "{":
            stack.append(i)
        elif ch == "}":
            if stack:
                opens[i] = stack.pop()
        elif ch == "_":
            close = _skip_spacing_back(text, i) - 1
            if close not in opens:
                continue
            if _NAME_GROUP.search(text, max(opens[close] - 12, 0), opens[close]):
                sized = text[opens[close] + 1:close] in ("0", "1")  # \mathbf{1}_{n}, \mathbf{0}_{1 \times n}: sizes
                if close == i - 1 and (_SIZE_SUBSCRIPT if sized else _NAME_SUBSCRIPT).match(text, i + 1):
                    continue  # \mathbf{x}_1, \mathrm{lr}_{2}: the name's own subscript
                raise ParseError("a subscript after a name in braces stands right after it, and is one letter or "
                                 "digit with nothing glued after it, or letters and digits in braces: "
                                 "\\mathbf{x}_1 y, \\mathrm{w}_{12} (\\mathbf{h}_{t-1}, \\mathbf{W}_{\\mathrm{Q}}: "
                                 "name them h_prev, W_Q)", *_place(text, i))
            raise ParseError("a subscript right after a braced group that is not a name's (\\frac{a}{b}_1, "
                             "\\sqrt{x}_1): a subscript goes on a name, a_1, \\mathbf{x}_1; write the "
                             "product apart", *_place(text, i))


_NAME_SUBSCRIPT = re.compile(r"\{[A-Za-z0-9]+\}|[A-Za-z0-9](?![A-Za-z0-9_])")  # what its token takes: _{t1}, _1
_SIZE_SUBSCRIPT = re.compile(r"\{[^{}]*\}|[A-Za-z0-9](?![A-Za-z0-9_])")  # 𝟏's and 0's: _{n}, _{1 \times n}
# the commands whose braces hold a name that may take a subscript: \mathbf{x}_1, \mathrm{lr}_{2}, \mathbb{1}_n
_NAME_GROUP = re.compile(r"\\(?:mathbf|boldsymbol|bm|vec|mathrm|mathsf|mathbb|operatorname)\s*$")


_SPACING_BEFORE = re.compile(r"(?:\\[,;:! ]|\\q?quad)$")


def _skip_spacing_back(text: str, index: int) -> int:
    """Back over spaces, tabs and LaTeX's spacing commands (\\frac{a}{b}\\,_1), which the grammar passes over."""
    while True:
        m = _SPACING_BEFORE.search(text, max(index - 6, 0), index)
        if m:
            index = m.start()
            continue
        back = _skip_spaces_back(text, index)
        if back == index:
            return index
        index = back


def _skip_spaces_back(text: str, index: int) -> int:
    """The index just after the last space or tab before ``index`` (a line end is no space here)."""
    while index > 0 and text[index - 1] in " \t":
        index -= 1
    return index


def _typeset(text: str) -> str:
    """Typesetting read as what it means, each change the same length (the columns
    stay): the minus sign U+2212 is a minus (in X^{−1} and 1e−3 too), and a
    subscript written after a power (‖X‖^2_F, x^2_1) stands before it (‖X‖_F^2, x_1^2)."""
    if "−" in text:
        text = text.replace("−", "-")
    if "{" in text and "_" in text:  # {x}_{1}: x_{1}, its braces a space each side (the columns stay)
        text = _BRACED_BASE.sub(lambda m: f" {m.group(1)}_{m.group(2)} ", text)
    if "_" in text and "^" in text:
        text = _NORM_POWER_FIRST.sub(lambda m: m.group(1) + m.group(3) + m.group(2), text)
        for m in _NAME_POWER_FIRST.finditer(text):
            braced = m.group(1).rstrip().endswith("}") and m.group(2).endswith("}")  # x^{2}_{1}2: x₁² 2, plainly
            if not braced and re.match(r"[0-9.]", text[m.end():m.end() + 1]) and not text[m.end():].startswith(".\n") and \
                    text[m.end():].rstrip() != ".":  # x^2_10: a number glued on; x^2_1. ends a sentence
                raise ParseError(f"{m.group(0)}{text[m.end()]}…: a number right after a subscript that follows a "
                                 f"power (TeX takes one character for the subscript and sets the rest beside it); "
                                 f"write the subscript first, in braces, x_{{10}}^2, or the number apart",
                                 *_place(text, m.end()))
        text = _NAME_POWER_FIRST.sub(lambda m: m.group(2) + m.group(1), text)
    return text


def parse(text: str, start: str = "start"):
    """Parse a program (definitions and a final expression), or a claim."""
    _check_limits(text)
    if not text.strip():
        raise ParseError("empty expression")
    if "#" in text and not any(line.split("#", 1)[0].strip() for line in text.splitlines()):
        raise ParseError("no function: the input holds only comments (# …)")
    text = _typeset(text)
    if "." in text or "_" in text:
        _no_name_dot_number(text)
    if "^" in text and ("(" in text or "[" in text):
        _no_layer_index(text)
    if "^{" in text:
        _no_double_superscript(text)
    if "\\" in text and "{" in text:
        _no_condition_outside_cases(text)
    if "_" in text:
        _no_ambiguous_subscript(text)
        if "}" in text:
            _no_subscript_after_a_command(text)
    load_parser().reset()
    result = _driver.parse(text, start)
    if result is None:  # not in the language: Lark's parser says where and what was expected
        _lark_error(text, start)
    program = result.function if isinstance(result, A.Claim) else result
    size, stack = 0, [program.body, *[d for _, d in program.definitions]]
    if isinstance(result, A.Claim):
        stack.append(result.expect)
    while stack:  # the nodes, counted (a case's else row shares the other conditions' parts: stop at the limit)
        size += 1
        if size > MAX_NODES:
            raise ParseError(f"the expression has over {MAX_NODES} parts; the limit is {MAX_NODES}")
        node = stack.pop()
        if type(node) is A.Var and node.name == OTHERWISE:
            raise ParseError("\\text{otherwise} stands only as the condition of a case", node.pos)
        stack.extend(node.children)
    return result


def _lark_error(text: str, start: str):
    """Lark's own parse of text the loop rejected: its error, as a ParseError with the position."""
    with _parser_lock:
        parser = lark_parser()
    from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken

    try:
        parser.parse(text, start=start)
    except UnexpectedCharacters as e:
        ch = text[e.pos_in_stream] if e.pos_in_stream < len(text) else "?"
        command = re.match(r"\\([A-Za-z]+)", text[e.pos_in_stream:])
        said = command and _unknown_command(command.group(1), text[e.pos_in_stream:])
        if said:
            raise ParseError(said, e.column, e.line) from None
        shown = f"'{ch}'" if ch.isprintable() and ch != " " else f"U+{ord(ch):04X}"
        raise ParseError(f"unexpected character {shown}, expected {_expected(e.allowed or ())}",
                         e.column, e.line) from None
    except UnexpectedToken as e:
        _function_without_parentheses(text, e.token)
        if e.token.type == "$END":
            raise ParseError(f"unexpected end of input, expected {_expected(e.expected)}",
                             len(text.rstrip().splitlines()[-1]) + 1 if text.strip() else 1,
                             len(text.rstrip().splitlines())) from None
        token = str(e.token)
        if token.startswith("_") and re.search(r"\\sum(\s*\\limits)?\s*$", text[:e.token.start_pos]):
            raise ParseError(_INDEX_SUM, e.column, e.line) from None
        shown = "end of line" if token.strip(" \t;\r\n") == "" and "\n" in token else \
            f"'{token}'" if token.isprintable() else repr(token)  # (one line: a new line is no character to show)
        raise ParseError(f"unexpected {shown}, expected {_expected(e.expected)}", e.column, e.line) from None
    except UnexpectedInput as e:
        raise ParseError("unexpected input", getattr(e, "column", None)) from None
    raise AssertionError(f"the parser's loop rejected what Lark's parser reads: {text!r}")  # pragma: no cover


_INDEX_SUM = ("\\sum with an index (\\sum_i w_i x_i): mcalc reads no index notation; a sum over a vector's "
              "entries is \\sum(\\mathbf{w} \\odot \\mathbf{x}) or \\mathbf{w} \\cdot \\mathbf{x} "
              "(as text, sum(w*x) or w · x)")

_LATEX_CALL = re.compile(r"\\(ln|log|sin|cos|tan|tanh|sinh|cosh|exp|arcsin|arccos|arctan|det|tr|sigma|"
                         r"operatorname\s*\{\s*[A-Za-z_]+\s*\})\s*(\^\s*(\{[^{}]*\}|\S))?\s*$")

# functions mcalc does not have, and how to write them with those it has
WRITE_AS = {"sech": "1/cosh(x)", "csch": "1/sinh(x)", "coth": "cosh(x)/sinh(x)", "sec": "1/cos(x)",
            "csc": "1/sin(x)", "cot": "cos(x)/sin(x)", "log10": "ln(x)/ln(10)", "log2": "ln(x)/ln(2)",
            "lg": "ln(x)/ln(10)", "swish": "x*sigmoid(x)", "silu": "x*sigmoid(x)", "Tr": "tr(X)",
            "logsigmoid": "ln(sigmoid(x))", "logistic": "sigmoid(x)"}


def write_as(name: str) -> str:
    """The hint for an unknown function mcalc can write otherwise ('' for any other)."""
    how = WRITE_AS.get(name)
    return f"mcalc has no {name}; write {how}, " if how else ""


_ABS_HINT = "for |x| write \\operatorname{abs}(x)"


def _unknown_command(name: str, rest: str) -> str | None:
    """What to say of a LaTeX command mcalc does not read, where it can say more than 'unexpected \\'."""
    shown = f"\\{name}"
    if name == "left" and re.match(r"\\left\s*\|", rest):
        shown, hint = "\\left|", f"{_ABS_HINT}; a norm is \\left\\| x \\right\\|"
    elif name == "mathbf" and re.match(r"\\mathbf\s*\{\s*0\s*\}", rest):
        shown, hint = "\\mathbf{0}", "a zero block is \\mathbf{0}_{m \\times n}, with its size"
    elif name == "begin":
        env = re.match(r"\\begin\s*\{([^}]*)\}", rest)
        shown = f"\\begin{{{env.group(1) if env else ''}}}"
        hint = "mcalc reads bmatrix and cases inside a formula (write one claim per equation)"
    elif re.fullmatch(r"[Bb]igg?[lr]?", name):  # \Bigl( … \Bigr), \big(, …
        hint = "write \\left( … \\right) (or plain parentheses)"
    elif name in ("lvert", "rvert"):
        hint = _ABS_HINT
    elif name in ("text", "textrm", "mbox", "textit", "textbf"):  # \text{ReLU}(x), \quad \text{(gradient)}
        words = re.match(r"\\[a-z]+\s*\{([^{}]*)\}", rest)
        shown = f"\\{name}{{{words.group(1) if words else ''}}}"
        hint = ("mcalc reads \\text{…} only as a case's \\text{if} or \\text{otherwise} and as an answer's "
                "\\quad \\text{where}; a function is \\operatorname{relu}(x) (or relu(x)), and a remark goes "
                "after a % on its line")
    elif name == "nabla":  # ∇_w L, as papers write a gradient
        hint = ("a gradient is written \\frac{\\partial L}{\\partial \\mathbf{w}} (the function named by a "
                "% mcalc: given L = … line), or \\frac{\\partial}{\\partial \\mathbf{w}} (…) of the function itself")
    elif name == "limits":  # \sum\limits_i: index notation
        return _INDEX_SUM
    elif name in ("mathcal", "mathscr"):  # \mathcal{L}, a loss's usual name
        hint = "name the function with a plain letter, L, in \\frac{\\partial L}{\\partial x} and its % mcalc: given L = …"
    elif name in _grammar_text():  # a command mcalc reads, here out of place: what was expected says more
        return None
    else:
        hint = "see the README's table of what mcalc reads"
    return f"{shown}: LaTeX that mcalc does not read here; {hint}"


def _grammar_text() -> str:
    with open(grammar_path(), encoding="utf-8") as f:
        return f.read()


def _interval(condition: A.Compare):
    """(E, low, low_closed, high, high_closed) for a comparison of E with a number (x - y for x > y)."""
    op, left, right = condition.op, condition.left, condition.right
    on_left, bound = A.rational(left), A.rational(right)
    if on_left is not None and bound is None:  # 0 < x is x > 0
        op, left, bound = {">": "<", "<": ">", ">=": "<=", "<=": ">="}[op], right, on_left
    if bound is None:  # x > y is x - y > 0
        e, bound = A.Sub(left, right), Fraction(0)
    else:
        e = left
    if op in (">", ">="):
        return e, bound, op == ">=", None, False
    return e, None, False, bound, op == "<="


OTHERWISE = "\\otherwise"  # no name a user can write: \\text{otherwise}, until its cases replace it


def _strict(c: A.Compare) -> A.Compare:
    return A.Compare({">=": ">", "<=": "<"}.get(c.op, c.op), c.left, c.right, pos=c.pos)


def _overlap(a: A.Compare, b: A.Compare) -> bool | str:
    """Whether two comparisons of one expression with numbers hold at once somewhere
    (x > 0 and x > -1 do; x > 0 and x <= 0 do not; of different expressions: not
    told): "point" where they share one point only (x >= 0 and x <= 0)."""
    (ea, *ia), (eb, *ib) = _interval(a), _interval(b)
    if ea != eb:
        return False
    low, low_closed = max((ia[0], ia[1]), (ib[0], ib[1]), key=lambda t: (t[0] is not None, t[0] or 0, not t[1]))
    high, high_closed = min((ia[2], ia[3]), (ib[2], ib[3]), key=lambda t: (t[0] is None, t[0] or 0, t[1]))
    if low is None or high is None:
        return True
    if low == high and low_closed and high_closed:
        return "point"
    return low < high


# \sin^{-1}: the inverse functions, as mcalc prints them
_INVERTIBLE = {"sin": "\\arcsin", "cos": "\\arccos", "tan": "\\arctan", "sinh": "\\operatorname{arsinh}",
               "cosh": "\\operatorname{arcosh}", "tanh": "\\operatorname{artanh}"}


def _function_without_parentheses(text: str, token) -> None:
    """\\ln x, \\sin^2 x: a function's argument in LaTeX without parentheses, which
    mcalc does not read (how far would it reach?): said so, at the function."""
    start = getattr(token, "start_pos", None)
    if token.type == "$END" or start is None or token.type in ("LPAR", "_OPEN", "_LATEX_OPEN"):
        return
    m = _LATEX_CALL.search(text[:start])
    if m is None:
        return
    fn, power = re.sub(r"\s", "", m.group(1)), m.group(2)
    column, line = _place(text, m.start())
    inner = fn[len("operatorname{"):-1] if fn.startswith("operatorname") else fn
    if fn == "sigma" and not re.match(r"\^\s*(\{[^{}]*\}|\S)\s*(\(|\\left\s*\()", (power or "") + text[start:]):
        return  # \sigma^2(x) only: σ² may be a variance (x/(2\sigma^2)), \sigma_x a name
    if _ALIASES.get(inner, inner) not in FUNCTIONS and fn != "sigma":  # \operatorname{sech}^2(x)
        raise ParseError(f"unknown function '\\{fn}' ({write_as(inner)}known: {', '.join(sorted(FUNCTIONS))})",
                         column, line)
    if re.match(r"\^\s*(\{\s*-\s*1\s*\}|-\s*1)", power or text[start:]) and fn in _INVERTIBLE:
        raise ParseError(f"\\{fn}^{{-1}}: for the inverse function write {_INVERTIBLE[fn]}(x); for 1/{fn} write "
                         f"\\{fn}(x)^{{-1}}", column, line)  # not \\{fn}(x)^{-1}, which would be 1/{fn}
    if not power and text[start:start + 1] == "^":  # \sin^2(x): the power before the argument
        power = "^" + text[start + 1:].lstrip()[:1].replace("{", "…")
    if power:
        raise ParseError(f"\\{fn}{power.replace(' ', '')} …: write \\{fn}(x){power.replace(' ', '')} (mcalc reads a "
                         f"power of a function after its argument)", column, line)
    raise ParseError(f"\\{fn} …: a function's argument goes in parentheses, \\{fn}(x) or "
                     f"\\{fn}\\left(x\\right)", column, line)


def parse_claim(text: str) -> A.Claim:
    """d/dw (w · x + b) = x^T where w, x: vector — or the same in LaTeX."""
    return parse(text, start="claim")


def parse_expr(text: str) -> A.Node:
    """Parse a single expression (no definitions)."""
    program = parse(text)
    if program.definitions:
        raise ParseError("expected a single expression, found definitions")
    return program.body
