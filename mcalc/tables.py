"""Lark's LALR tables for the grammar as plain data, so that a start needs no Lark.

Importing Lark and loading its parser from Lark's cache is over half of a
command's start.  The parser's own loop (parser._Driver) needs only what Lark
computed: the lexer's terminals in Lark's order, the keyword retyping of a
name (Lark's UnlessCallback), the LALR action and goto tables, and for each
rule how Lark shapes the children before the transformer's method sees them
(which tokens are filtered out, which inlined ``_rule`` is expanded, whether a
``?rule`` passes a single child up).  ``extract`` reads all of it from a Lark
parser, strictly: anything it does not know (a wrapper, a lexer callback) is
an error, not a guess.  The result is stored as JSON beside Lark's own cache,
in the same private folder (``cache.private_file``), with a checksum, under a
key made of the grammar's text, Lark's version and this module; JSON runs no
code when read, and a file that is not whole is made again.

``callback`` rebuilds, for a transformer, the same callbacks Lark builds: the
child filters and the single-child expansion are copies of Lark's
(``lark.parse_tree_builder``), with a small tree for inlined rules.
"""
from __future__ import annotations

import json
import os
import zlib
from functools import partial

FORMAT = 1  # of the stored tables; bumped when what is stored changes
FILE = "mcalc-grammar.tables.json"


class Tree:
    """What an inlined ``_rule`` (or a rule without a method) builds: its name and
    children, the two fields Lark's child filters read."""

    __slots__ = ("data", "children")

    def __init__(self, data: str, children: list):
        self.data, self.children = data, children

    def __repr__(self) -> str:
        return f"Tree({self.data!r}, {self.children!r})"


def key(grammar: str, reader: str | None = None) -> str:
    """What the stored tables must have been made from: this grammar, by this Lark,
    with this extraction, for this reader of them (the parser's source file)."""
    from importlib.util import find_spec

    spec = find_spec("lark")
    lark_id = "" if spec is None else str(spec.origin)
    for source in (spec.origin if spec is not None else None, __file__, reader):
        try:  # lark/__init__.py holds its __version__; a zip or a frozen build has no file to read
            with open(source, "rb") as f:
                lark_id += f":{zlib.crc32(f.read()):08x}"
        except (OSError, TypeError):
            lark_id += ":-"
    return f"{FORMAT}:{zlib.crc32(grammar.encode('utf-8')):08x}:{len(grammar)}:{lark_id}"


def extract(lark, key_: str) -> dict:
    """The tables of a Lark LALR parser built with the basic lexer and no transformer."""
    from lark.lexer import UnlessCallback
    from lark.parse_tree_builder import ChildFilterLALR, ChildFilterLALR_NoPlaceholders, ExpandSingleChild
    from lark.parsers.lalr_analysis import Shift
    from lark.tree import Tree as LarkTree

    frontend = lark.parser
    inner = frontend.parser.parser
    table, callbacks = inner.parse_table, inner.callbacks
    basic = frontend.lexer.lexer
    scanner = basic.scanner
    unless = {}
    for name, cb in basic.callback.items():
        if type(cb) is not UnlessCallback:
            raise ValueError(f"a lexer callback mcalc does not know: {cb!r}")
        unless[name] = [[t.name, t.pattern.to_regexp()] for t in cb.scanner.terminals]
    if any(isinstance(k, str) for k in callbacks):
        raise ValueError("terminal callbacks in the parser")
    rules: list = []
    index: dict = {}
    for rule, cb in callbacks.items():
        spec = {"origin": str(rule.origin.name), "size": len(rule.expansion)}
        if type(cb) is ChildFilterLALR_NoPlaceholders:
            spec["filter"] = [[i, bool(x)] for i, x in cb.to_include]
            cb = cb.node_builder
        elif type(cb) is ChildFilterLALR:
            spec["filter"] = [[i, bool(x), n] for i, x, n in cb.to_include]
            spec["append_none"] = cb.append_none
            cb = cb.node_builder
        if type(cb) is ExpandSingleChild:
            spec["expand1"] = True
            cb = cb.node_builder
        if not (type(cb) is partial and cb.func is LarkTree and len(cb.args) == 1 and not cb.keywords):
            raise ValueError(f"a rule's callback mcalc does not know: {cb!r}")
        spec["name"] = str(cb.args[0])
        index[rule] = len(rules)
        rules.append(spec)
    states = {}
    for state, row in table.states.items():
        states[str(state)] = {str(sym): ([0, arg] if action is Shift else [1, index[arg]])
                              for sym, (action, arg) in row.items()}
    terminals = [[t.name, t.pattern.to_regexp()] for t in scanner.terminals]
    return {
        "key": key_,
        "terminals": terminals,
        "first": [first_tests(regex, scanner.g_regex_flags) for _, regex in terminals],
        "flags": scanner.g_regex_flags,
        "ignore": sorted(basic.ignore_types),
        "newline": sorted(basic.newline_types),
        "unless": unless,
        "start_states": dict(table.start_states),
        "end_states": dict(table.end_states),
        "states": states,
        "rules": rules,
    }


# -- which characters a terminal may begin with ------------------------------------------------
_CATEGORIES = {"CATEGORY_DIGIT": "d", "CATEGORY_NOT_DIGIT": "D", "CATEGORY_SPACE": "s",
               "CATEGORY_NOT_SPACE": "S", "CATEGORY_WORD": "w", "CATEGORY_NOT_WORD": "W"}


def first_tests(regex: str, flags: int):
    """The tests a token's first character passes, read from the regular expression's
    parse: [0, code point], [1, low, high], [2, class letter (d, s, w, …)], [3, tests
    none of which it passes]; or None where any character may begin it or the reading
    is unsure (a case-insensitive part, a back-reference, a node not read here)."""
    try:
        import re
        import re._constants as C
        import re._parser as P

        if flags & re.IGNORECASE:
            return None
        first, nullable = _of(P.parse(regex, flags), C)
        return None if nullable else first
    except Exception:  # noqa: BLE001 - a regular expression not read here: tried everywhere
        return None


def _of(items, C):
    """(tests, nullable) for a sequence of parsed items; raises where unsure."""
    out: list = []
    for op, av in items:
        first, nullable = _item(op, av, C)
        out += first
        if not nullable:
            return out, False
    return out, True


def _item(op, av, C):
    import re

    if op is C.LITERAL:
        return [[0, av]], False
    if op is C.IN:
        return _in(av, C), False
    if op is C.BRANCH:
        first, nullable = [], False
        for seq in av[1]:
            f, n = _of(seq, C)
            first += f
            nullable |= n
        return first, nullable
    if op is C.SUBPATTERN:
        _group, add, _delete, items = av
        if add & re.IGNORECASE:
            raise ValueError("case-insensitive")
        return _of(items, C)
    if op in (C.MAX_REPEAT, C.MIN_REPEAT) or op is getattr(C, "POSSESSIVE_REPEAT", None):
        low, _high, items = av
        first, nullable = _of(items, C)
        return first, nullable or low == 0
    if op is getattr(C, "ATOMIC_GROUP", None):
        return _of(av, C)
    if op in (C.ASSERT, C.ASSERT_NOT, C.AT):
        return [], True  # zero-width: what follows begins the token
    if op is C.CATEGORY:
        return _in([(op, av)], C), False
    raise ValueError(f"not read: {op}")


def _in(items, C):
    tests, negate = [], False
    for op, av in items:
        if op is C.NEGATE:
            negate = True
        elif op is C.LITERAL:
            tests.append([0, av])
        elif op is C.RANGE:
            tests.append([1, av[0], av[1]])
        elif op is C.CATEGORY and str(av) in _CATEGORIES:
            tests.append([2, _CATEGORIES[str(av)]])
        else:
            raise ValueError(f"not read: {op} {av}")
    return [[3, tests]] if negate else tests


def load(path: str, key_: str) -> dict | None:
    """The stored tables, if they are there, whole (their checksum, on the first line,
    holds), and made from the same grammar and Lark."""
    try:
        with open(path, "rb") as f:
            data = f.read()
        checksum, _, body = data.partition(b"\n")
        if checksum != f"{zlib.crc32(body):08x}".encode():
            return None
        tables = json.loads(body)
    except (OSError, ValueError, RecursionError):
        return None
    if not isinstance(tables, dict) or tables.get("key") != key_ or not _whole(tables):
        return None
    return tables


def _whole(tables: dict) -> bool:
    """The parts a parse reads, of the kinds it reads them as (a row's entries are
    read when the row is first used; the checksum holds them)."""
    try:
        rules, states = tables["rules"], tables["states"]
        return isinstance(rules, list) and isinstance(states, dict) and bool(rules) and \
            all(isinstance(r, dict) and isinstance(r["size"], int) and isinstance(r["origin"], str) and
                isinstance(r["name"], str) for r in rules) and \
            all(isinstance(row, dict) for row in states.values()) and \
            len(tables["terminals"]) == len(tables["first"]) and isinstance(tables["unless"], dict) and \
            all(str(tables["start_states"][s]) in states and str(tables["end_states"][s]) in states
                for s in ("start", "claim"))
    except (KeyError, TypeError):
        return False


def store(path: str, tables: dict) -> None:
    """Written whole or not at all (a new file renamed over the old), private to this user."""
    body = json.dumps(tables, separators=(",", ":")).encode("utf-8")
    folder = os.path.dirname(path)
    tmp = os.path.join(folder, f".{FILE}.{os.getpid()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0), 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(f"{zlib.crc32(body):08x}\n".encode() + body)
        os.replace(tmp, path)
    except OSError:
        try:
            os.unlink(tmp)
        except OSError:
            pass


# -- Lark's shaping of a rule's children, for a transformer (lark/parse_tree_builder.py) ----------
class _ExpandSingleChild:
    __slots__ = ("node_builder",)

    def __init__(self, node_builder):
        self.node_builder = node_builder

    def __call__(self, children):
        if len(children) == 1:
            return children[0]
        return self.node_builder(children)


class _ChildFilter:
    """ChildFilterLALR_NoPlaceholders (add_none and append_none are 0 throughout)
    and ChildFilterLALR, with Lark's reuse of the first expanded child's list."""

    __slots__ = ("node_builder", "to_include", "append_none")

    def __init__(self, to_include, append_none, node_builder):
        self.node_builder, self.to_include, self.append_none = node_builder, to_include, append_none

    def __call__(self, children):
        filtered = []
        for i, to_expand, add_none in self.to_include:
            if add_none:
                filtered += [None] * add_none
            if to_expand:
                if filtered:
                    filtered += children[i].children
                else:  # as Lark: the expanded child's own list, for left recursion
                    filtered = children[i].children
            else:
                filtered.append(children[i])
        if self.append_none:
            filtered += [None] * self.append_none
        return self.node_builder(filtered)


def callback(spec: dict, transformer):
    """The callback Lark would build for one rule with this transformer."""
    try:
        f = getattr(transformer, spec["name"])
    except AttributeError:
        f = partial(Tree, spec["name"])
    if spec.get("expand1"):
        f = _ExpandSingleChild(f)
    if "filter" in spec:
        include = [(entry[0], entry[1], entry[2] if len(entry) > 2 else 0) for entry in spec["filter"]]
        f = _ChildFilter(include, spec.get("append_none", 0), f)
    return f


def single_child(spec: dict) -> bool:
    """Whether the rule passes its one child up unchanged (a ?rule of one symbol)."""
    return bool(spec.get("expand1")) and "filter" not in spec and spec["size"] == 1
