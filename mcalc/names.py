"""Names as the paper writes them, resolved before shapes are inferred.

The paper juxtaposes single-letter names for products (Xw, xᵀAx, 6yx, σ(Xw)),
so a run of letters that is not a known name but splits into known names
reads as their product.  Known names are the declared ones, the definitions,
the variables to differentiate by, bold names and the names that stand alone
elsewhere in the input.  ``e`` and ``π`` are the constants unless declared.

Every reading that is a choice (a split with a part nobody declared, a short
run of letters kept as one name, e as Euler's number) is reported as a note;
with ``strict`` it is an error instead.
"""
from __future__ import annotations

import re
from operator import is_

from . import ast as A
from .errors import DeclarationError, ParseError
from .parser import _ALIASES, _CONSTANTS, write_as  # (_CONSTANTS: I and ones, as the parser reads them standing alone)
from .rules import FUNCTIONS

_LETTER = "A-Za-zΑ-ΡΣ-Ωα-ωϑϕϖϵ"
_ATOM = re.compile(f"[{_LETTER}](?:_?[0-9]+)?")  # one letter and its index: x, w1, x_2, W₂
CONSTANTS = {"e", "π"}
_E = A.Const("e")
_SHORT = 3  # a run of at most this many letters kept as one name is noted


class Resolution:
    """How the names of one input were read."""

    def __init__(self, base: set[str], known: set[str], strict: bool, vectors: set[str] = frozenset()):
        self.base = base  # declared, defined, differentiated by, bold
        self.known = known  # and the names standing alone
        self.vectors = vectors  # names of vectors: g₁ is an element of g
        self.strict = strict
        self.notes: list[str] = []
        self.words: set[str] = set()  # undeclared names kept whole
        self.splits: dict[str, list[str] | None] = {}
        self.closed: dict[int, A.Node] = {}  # postfix operations inside a parenthesis, by id

    def note(self, message: str, pos: int | None) -> None:
        if self.strict:
            raise DeclarationError(message + " (--strict-names)", pos)
        if message not in self.notes:
            self.notes.append(message)


def resolve_names(program: A.Program, known: set[str], strict: bool = False,
                  vectors: set[str] = frozenset()) -> tuple[A.Program, list[str]]:
    """The program with products spelled out and constants recognised, and the
    notes.  Where g is a vector (in ``vectors``, bold, or defined as a bracket)
    and g1 names nothing else, g₁ is its first element, as the paper writes it."""
    if program.definitions:
        defined = {name for name, _ in program.definitions}
        vectors = set(vectors) | program.bold | {name for name, e in program.definitions if type(e) is A.VecLit}
        used = set().union(*(A.names(e) for e in _exprs(program)))
        base = set(known) | defined | program.bold | program.bold_upper
    else:  # (one expression: the same sets, built with less)
        vectors = set(vectors) | program.bold if program.bold else set(vectors)
        used = A.names(program.body)
        base = set(known) | program.bold | program.bold_upper
    standalone = {name for name in used if (_ATOM.fullmatch(name) and name not in CONSTANTS) or name in base}
    res = Resolution(base, base | standalone, strict, vectors)
    if program.closed:
        res.closed = {id(n): n for n in program.closed}
    unread = used - res.known
    if unread:
        for name in sorted(unread, key=len):  # words that split into nothing stay names,
            if _split(name, _known_in(name, res)) is None:  # and may then help split longer runs
                res.known.add(name)
                res.words.add(name)
    body = _resolve(program.body, res)
    if not program.definitions:
        return (program, res.notes) if body is program.body else (program._replace(body=body), res.notes)
    definitions = tuple((name, _resolve(e, res)) for name, e in program.definitions)
    if body is program.body and all(d is e for (_, d), (_, e) in zip(definitions, program.definitions)):
        return program, res.notes  # nothing to resolve: the same program
    return program._replace(body=body, definitions=definitions), res.notes


def _exprs(program: A.Program):
    yield program.body
    for _, e in program.definitions:
        yield e


_INVERSE = {"asin": "arcsin", "acos": "arccos", "atan": "arctan", "asinh": "arsinh", "acosh": "arcosh",
            "atanh": "artanh"}


def _resolve(node: A.Node, res: Resolution) -> A.Node:
    t = type(node)
    if t is A.Var:
        return _name(node, res)
    if t in _READ:  # a kind with more to read than its children (e^x, x(x + 1), ^TAx, a postfix mark)
        read = _read(node, res)
        if read is not None:
            return read
    if not node.children:
        return node
    kids = tuple([_resolve(c, res) for c in node.children])
    return node if all(map(is_, kids, node.children)) else node.rebuild(kids)


def _read(node: A.Node, res: Resolution) -> A.Node | None:
    """node resolved where its own kind says how, else None (its children are resolved as any node's)."""
    if type(node) is A.Pow and type(node.left) is A.Var and node.left.name == "e" and "e" not in res.base:
        _constant_note("e", node.left.pos, res)
        return A.Call("exp", (_resolve(node.right, res),), pos=node.pos)  # e^x is exp(x)
    if type(node) is A.Prefixed:
        return A.Juxtapose(_resolve(node.left, res), _resolve(node.right, res), pos=node.pos)
    if type(node) is A.Apply:  # x(x + 1), W₁W₂(x + b): names times a parenthesis
        f = node.left
        if type(f) is A.Var and f.name not in res.base and not _ATOM.fullmatch(f.name):
            parts = _split(f.name, res.known - {f.name})
            named = parts is not None and all(p in res.known or p in CONSTANTS or _element_of_a_vector(p, res)
                                               for p in parts)  # ab(x + 1) with a and b declared: a product
            near = _near_function(f.name) if f.name not in res.known and not named else None
            if near is not None or parts is None:  # (sec(x + 1) with s, e and c declared: their product)
                hint = write_as(f.name) or (f"did you mean {near}(…)? " if near is not None else "")
                raise ParseError(f"unknown function '{f.name}' ({hint}for a product write {f.name}*(…))", f.pos)
        if type(f) is A.Var and f.name not in res.base and _ATOM.fullmatch(f.name):
            res.note(f"'{f.name}(…)' is read as {f.name} times (…): mcalc has no user-defined functions", f.pos)
        return A.Juxtapose(_resolve(f, res), _resolve(node.right, res), pos=node.pos)
    if type(node) is A.Pow and type(node.right) is A.Var and node.right.name[:1] == "T" and type(node.left) is not A.Num \
            and len(node.right.name) > 1 and "T" not in res.base and node.right.name not in res.base:
        # x^TAx: the paper's xᵀAx in ASCII (x^T Ax with a space is read so already)
        rest = node.right.name[1:]
        res.note(f"'^{node.right.name}' is read as the transpose ^T then {rest} "
                 f"(declare T to read it as a power)", node.right.pos)
        return A.Juxtapose(A.Transpose(_resolve(node.left, res), pos=node.pos),
                           _name(A.Var(rest, pos=(node.right.pos or 1) + 1), res), pos=node.pos)
    if type(node) is A.Call and node.fn in _INVERSE and "a" in res.known:
        res.note(f"'{node.fn}(…)' is the inverse function {_INVERSE[node.fn]}; for a times "
                 f"{node.fn[1:]}(…) write a {node.fn[1:]}(…)", node.pos)
    if _is_postfix(node):
        prefix, last = _postfix(node, res)
        if (type(last) is A.Pow or type(last) is A.Call and last.fn == "mpow") and last.children[0] == _E:
            last = A.Call("exp", (last.children[1],), pos=last.pos)  # xe^x, e^{-x²} in LaTeX: exp, as e^x is
        return last if prefix is None else A.Juxtapose(prefix, last, pos=last.pos)
    return None


# the node kinds _resolve reads more of than their children
_READ = frozenset({A.Pow, A.Prefixed, A.Apply, A.Call, A.Transpose})
_FUNCTION_NAMES = sorted({*FUNCTIONS, *_ALIASES} - {"σ"}, key=lambda n: (-len(n), n))


def _near_function(name: str) -> str | None:
    """The function a name written before a parenthesis looks like a slip for: one it
    begins with (expp, tanx, lnx, relux) or one a letter or two away (exq), else None;
    such a name is an unknown function, not a product of its letters (expp(x) read as
    e·x·p·p·x)."""
    for fn in _FUNCTION_NAMES:
        if name.startswith(fn):
            return fn
    import difflib

    close = difflib.get_close_matches(name, _FUNCTION_NAMES, n=1, cutoff=0.66)
    return close[0] if close else None


def _is_postfix(node: A.Node) -> bool:
    return type(node) in (A.Transpose, A.Pow) or (type(node) is A.Call and node.fn in A.POSTFIX_CALLS)


def _postfix(node: A.Node, res: Resolution) -> tuple[A.Node | None, A.Node]:
    """A postfix operator written right after a run of letters binds to its last
    name: Axᵀ is A xᵀ, yx² is y x², XXᵀ is X Xᵀ.  Returns (the names before, the rest)."""
    arg = node.children[0]
    rest = tuple(_resolve(c, res) for c in node.children[1:])
    if type(arg) is A.Var and arg.pos is not None and node.pos == arg.pos + len(arg.name):
        read = _name(arg, res)
        if type(read) is A.Juxtapose and read is not arg:
            return read.left, node.rebuild((read.right, *rest))
        return None, _over(node, read, rest)
    if _is_postfix(arg) and res.closed.get(id(arg)) is not arg:  # (u₁u₂ᵀ)² squares all of it
        prefix, last = _postfix(arg, res)
        return prefix, _over(node, last, rest)
    return None, _over(node, _resolve(arg, res), rest)


def _over(node: A.Node, arg: A.Node, rest: tuple) -> A.Node:
    """node over arg and rest: node itself where they are its children."""
    if arg is node.children[0] and all(map(is_, rest, node.children[1:])):
        return node
    return node.rebuild((arg, *rest))


_ELEMENT = re.compile(r"(.*?[^0-9_])_?([1-9][0-9]{0,5})")


def _name(node: A.Var, res: Resolution) -> A.Node:
    name = node.name
    if name in CONSTANTS and name not in res.base:
        _constant_note(name, node.pos, res)
        return A.Const(name, pos=node.pos)
    element = _ELEMENT.fullmatch(name) if name not in res.base else None
    if element and element.group(1) in res.vectors:  # g₁: element 1 of the vector g (§4.1)
        return A.Index(A.Var(element.group(1), pos=node.pos), int(element.group(2)), pos=node.pos)
    if name in res.words:
        if len(re.sub(r"[0-9_]", "", name)) <= _SHORT and not _ATOM.fullmatch(name):
            res.note(f"'{name}' is read as one name; for a product write "
                     f"{' '.join(_atoms(name))} (or declare {name} to keep this reading)", node.pos)
        return node
    if name in res.known:
        return node
    parts = res.splits.get(name)
    if name not in res.splits:
        parts = res.splits[name] = _split(name, _known_in(name, res))
    if parts is None:
        return node
    unknown = [p for p in parts if p not in res.known and not _element_of_a_vector(p, res)]
    if unknown:
        res.note(f"'{name}' is read as the product {' '.join(parts)}, as the paper writes products; "
                 f"declare {name} (e.g. -s {name}) to read it as one name", node.pos)
    out, offset = None, 0
    for part in parts:
        pos = (node.pos or 1) + offset
        if part in CONSTANTS:
            leaf = _name(A.Var(part, pos=pos), res)
        elif part in _CONSTANTS and part not in res.base:  # Iw: the identity times w, as I w is
            leaf = _CONSTANTS[part](None, pos=pos)
        elif _element_of_a_vector(part, res):  # w₁x₁: x₁, an element of x (as x₁ alone is)
            leaf = _name(A.Var(part, pos=pos), res)
        else:
            leaf = A.Var(part, pos=pos)
        out = leaf if out is None else A.Juxtapose(out, leaf, pos=leaf.pos)
        offset += len(part)
    return out


def _element_of_a_vector(part: str, res: Resolution) -> bool:
    element = _ELEMENT.fullmatch(part)
    return element is not None and element.group(1) in res.vectors and part not in res.base


def _known_in(name: str, res: Resolution) -> set[str]:
    """The names known in reading ``name``: res.known and the elements of vectors in it
    (w₁x₁ with x a vector is w₁ x₁, as x₁ alone is x's first element)."""
    elements = {a for a in _ATOM.findall(name) if _element_of_a_vector(a, res)}
    return res.known | elements if elements else res.known


def _constant_note(name: str, pos: int | None, res: Resolution) -> None:
    what = "Euler's number" if name == "e" else "the constant π"
    res.note(f"'{name}' is read as {what} (declare {name} to use it as a variable)", pos)


def _atoms(name: str) -> list[str]:
    return _ATOM.findall(name) or [name]


def _split(name: str, known: set[str]) -> list[str] | None:
    """The best way to read ``name`` as a product of names: every part a known
    name or one letter with its index, at least one part known, fewest unknown
    parts and then fewest parts; None when there is no such reading."""
    n = len(name)
    best: list[tuple[int, int, list[str]] | None] = [None] * (n + 1)
    best[n] = (0, 0, [])
    for i in range(n - 1, -1, -1):
        options = {k for k in known if k and name.startswith(k, i)}
        atom = _ATOM.match(name, i)
        if atom:
            options.add(atom.group())
        for part in options:
            rest = best[i + len(part)]
            if rest is None:
                continue
            cand = (rest[0] + (part not in known), rest[1] + 1, [part, *rest[2]])
            if best[i] is None or cand[:2] < best[i][:2]:
                best[i] = cand
    found = best[0]
    if found is None or found[1] < 2 or found[0] == found[1]:
        return None
    return found[2]
