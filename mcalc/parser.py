"""Text → AST with the Lark grammar in ``grammar/mcalc.lark`` (the only parser).

Parse errors become one :class:`ParseError` naming the column and what was
expected.  The LALR tables are cached on disk so start-up does not rebuild them.
"""
from __future__ import annotations

import os
import unicodedata
from fractions import Fraction
from pathlib import Path

from . import ast as A
from .errors import ParseError
from .rules import FUNCTIONS

MAX_INPUT = 100_000  # characters
MAX_DEPTH = 200  # bracket nesting

_HERE = Path(__file__).resolve().parent
_GRAMMAR_PLACES = (_HERE / "grammar" / "mcalc.lark", _HERE.parent / "grammar" / "mcalc.lark")

_OPS = {"*": A.Mul, "⊗": A.Mul, "∘": A.Mul, "×": A.Mul, "/": A.Div, "⊘": A.Div,
        "\\cdot": A.Dot, "\\otimes": A.Mul, "\\oslash": A.Div, "\\odot": A.Mul,
        "·": A.Dot, "@": A.MatMul, "+": A.Add, "-": A.Sub, "^": A.Pow, "**": A.Pow}
_CMP = {"≥": ">=", "≤": "<="}
_CONSTANTS = {"I": A.Identity, "ones": A.Ones}
_ALIASES = {"σ": "sigmoid", "log": "ln"}

_parser = None


def grammar_path() -> Path:
    for place in _GRAMMAR_PLACES:
        if place.exists():
            return place
    raise FileNotFoundError("mcalc.lark is missing from the installation")


def _bold_name(text: str) -> str:
    if text.startswith("\\mathbf{"):
        return text[len("\\mathbf{"):-1]
    # MATHEMATICAL BOLD SMALL W -> w, MATHEMATICAL BOLD CAPITAL X -> X
    return unicodedata.normalize("NFKC", text)


class _Declaration:
    """x, w: vector[n] — a statement that only declares."""

    def __init__(self, entries):
        self.entries = entries


def _make_transformer():
    from lark import Transformer

    class ToAST(Transformer):
        """One method per grammar alternative; collects bold names as it goes."""

        def __init__(self):
            super().__init__()
            self.bold_names: set[str] = set()

        def start(self, items):
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
            return A.Program(tuple(defs), last, frozenset(n for n in self.bold_names if n.islower()),
                             frozenset(n for n in self.bold_names if not n.islower()), output, decls)

        def declaration(self, items):
            names = [str(t) for t in items if getattr(t, "type", None) == "NAME"]
            kind = next(str(t) for t in items if getattr(t, "type", None) == "KIND")
            sizes = tuple(str(t) for t in items if getattr(t, "type", None) == "SIZE")
            want = {"scalar": (0,), "vector": (0, 1), "matrix": (2,)}[kind]
            if len(sizes) not in want:
                tok = next(t for t in items if getattr(t, "type", None) == "KIND")
                raise ParseError(f"a {kind} takes {' or '.join(map(str, want))} sizes, got {len(sizes)}",
                                 tok.column, tok.line)
            return _Declaration(tuple((name, kind, sizes) for name in names))

        def definition(self, items):
            name, expr = items
            if str(name) in _CONSTANTS or str(name) in FUNCTIONS:
                raise ParseError(f"cannot define '{name}': it is a built-in name", name.column, name.line)
            return (str(name), expr)

        def number(self, items):
            (tok,) = items
            value = Fraction(str(tok))
            if value.numerator.bit_length() > 3000 or value.denominator.bit_length() > 3000:
                raise ParseError(f"number {str(tok)[:20]} is too large", tok.column, tok.line)
            return A.Num(value, pos=tok.column)

        def name(self, items):
            (tok,) = items
            text = str(tok)
            if text in _CONSTANTS:
                return _CONSTANTS[text](pos=tok.column)
            if text in FUNCTIONS or text in _ALIASES:
                raise ParseError(f"'{text}' is a function: write {text}(...)", tok.column, tok.line)
            return A.Var(text, pos=tok.column)

        def bold(self, items):
            (tok,) = items
            name = _bold_name(str(tok))
            self.bold_names.add(name)
            return A.Var(name, pos=tok.column)

        def ones(self, items):
            return A.Ones(pos=items[0].column)

        def call(self, items):
            tok, *args = items
            args = [a for a in args if a is not None]
            fn = _ALIASES.get(str(tok), str(tok))
            if fn not in FUNCTIONS:
                known = ", ".join(sorted(FUNCTIONS))
                raise ParseError(f"unknown function '{tok}' (known: {known})", tok.column, tok.line)
            arity = FUNCTIONS[fn]
            if len(args) != arity:
                raise ParseError(f"{fn} takes {arity} argument{'s' * (arity > 1)}, got {len(args)}",
                                 tok.column, tok.line)
            if fn == "dot":
                return A.Dot(args[0], args[1], pos=tok.column)
            if fn == "diag":
                return A.Diag(args[0], pos=tok.column)
            return A.Call(fn, tuple(args), pos=tok.column)

        def bracket(self, items):
            # Only literals make VecLit nodes, so a list of them is a matrix, row by row.
            if all(isinstance(x, A.VecLit) for x in items):
                width = len(items[0].items)
                if any(len(row.items) != width for row in items):
                    raise ParseError(f"matrix rows differ in length ({', '.join(str(len(r.items)) for r in items)})")
                return A.MatLit(tuple(row.items for row in items))
            return A.VecLit(tuple(items))

        def binary(self, items):
            left, op, right = items
            return _OPS[str(op)](left, right, pos=op.column)

        def compare(self, items):
            left, op, right = items
            return A.Compare(_CMP.get(str(op), str(op)), left, right, pos=op.column)

        def negate(self, items):
            op, arg = items
            if isinstance(arg, A.Num):  # -2 is a number, as the printers write it
                return A.Num(-arg.value, pos=op.column)
            return A.Neg(arg, pos=op.column)

        def transpose(self, items):
            arg, op = items
            return A.Transpose(arg, pos=op.column)

    return ToAST


def _lark():
    global _parser
    if _parser is None:
        from lark import Lark

        cache_dir = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "mcalc"
        cache: str | bool = False
        try:
            cache_dir.mkdir(parents=True, exist_ok=True)
            cache = str(cache_dir / "mcalc-grammar.lark.cache")
        except OSError:
            pass
        # The transformer runs inline, bottom-up, while parsing: no tree, no recursion.
        transformer = _make_transformer()()
        _parser = (Lark(grammar_path().read_text(encoding="utf-8"), parser="lalr", cache=cache,
                        start="start", maybe_placeholders=True, transformer=transformer), transformer)
    return _parser


_FRIENDLY = {
    "NUMBER": "a number", "NAME": "a name", "BOLD": "a bold vector", "ONES": "𝟏",
    "LPAR": "'('", "RPAR": "')'", "LSQB": "'['", "RSQB": "']'", "COMMA": "','",
    "ADD_OP": "'+' or '-'", "NEG_OP": "'-'", "MUL_OP": "an operator", "POW_OP": "'^'",
    "CMP_OP": "a comparison", "TRANSPOSE": "'^T'", "_SEP": "';' or a new line",
    "EQUAL": "'='", "$END": "the end of the input",
}
_STARTS_EXPR = {"NUMBER", "NAME", "BOLD", "LPAR", "LSQB", "NEG_OP", "ONES"}


def _expected(terminals) -> str:
    terminals = set(terminals)
    if terminals & _STARTS_EXPR:
        closers = sorted(_FRIENDLY.get(t, t) for t in terminals & {"RPAR", "RSQB"})
        return "an expression" + (f" or {' or '.join(closers)}" if closers else "")
    names = sorted({_FRIENDLY.get(t, t) for t in terminals})
    return " or ".join(names) if names else "something else"


def _check_limits(text: str) -> None:
    if len(text) > MAX_INPUT:
        raise ParseError(f"input is {len(text)} characters; the limit is {MAX_INPUT}")
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


def parse(text: str) -> A.Program:
    """Parse a program (definitions and a final expression)."""
    from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken, VisitError

    _check_limits(text)
    if not text.strip():
        raise ParseError("empty expression")
    parser, transformer = _lark()
    transformer.bold_names = set()
    try:
        return parser.parse(text)
    except VisitError as e:  # pragma: no cover - inline transformers raise directly
        if isinstance(e.orig_exc, ParseError):
            raise e.orig_exc from None
        raise
    except UnexpectedCharacters as e:
        ch = text[e.pos_in_stream] if e.pos_in_stream < len(text) else "?"
        raise ParseError(f"unexpected character '{ch}', expected {_expected(e.allowed or ())}",
                         e.column, e.line) from None
    except UnexpectedToken as e:
        if e.token.type == "$END":
            raise ParseError(f"unexpected end of input, expected {_expected(e.expected)}",
                             len(text.rstrip().splitlines()[-1]) + 1 if text.strip() else 1,
                             len(text.rstrip().splitlines())) from None
        raise ParseError(f"unexpected '{e.token}', expected {_expected(e.expected)}",
                         e.column, e.line) from None
    except UnexpectedInput as e:
        raise ParseError("unexpected input", getattr(e, "column", None)) from None


def parse_expr(text: str) -> A.Node:
    """Parse a single expression (no definitions)."""
    program = parse(text)
    if program.definitions:
        raise ParseError("expected a single expression, found definitions")
    return program.body
