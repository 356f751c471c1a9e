"""The parser's own LALR loop (parser._Driver) against Lark's: over every
expression, answer and claim the project ships and a set of inputs Lark
rejects, the loop builds the same tree with the same positions, or declines
exactly where Lark raises (and Lark's parser then gives the error)."""
from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

from mcalc import ast as A
from mcalc import parser as P
from mcalc.errors import LINE_STRIDE
from mcalc.claims import find_claims

ROOT = Path(__file__).resolve().parent.parent


def _layout(value):
    """Everything about a parse result, positions included (equality of nodes ignores them)."""
    if isinstance(value, A.Node):  # (the loop's positions on a later line carry the line: the column compared)
        pos = value.pos % LINE_STRIDE if value.pos is not None else None
        return (type(value).__name__, pos, value._key() if not value.children else None,
                tuple(_layout(c) for c in value.children))
    if isinstance(value, tuple) and hasattr(value, "_fields"):  # Program, Claim
        return (type(value).__name__, tuple(_layout(getattr(value, f)) for f in value._fields))
    if isinstance(value, (tuple, list)):
        return tuple(_layout(v) for v in value)
    if isinstance(value, (set, frozenset)):
        return tuple(sorted(map(repr, value)))
    return value


_LARK: list = []


def _lark(text: str, start: str):
    """Lark's own parser, with the same transformer as the loop's."""
    transformer = P.load_parser()
    if not _LARK:
        _LARK.append(P.lark_parser(transformer))
    lark = _LARK[0]
    transformer.reset()
    try:
        return lark.parse(text, start=start)
    except Exception as e:  # noqa: BLE001 - the kind of failure is compared
        return type(e)


def _driver(text: str, start: str):
    P.load_parser().reset()
    try:
        result = P._driver.parse(text, start)
    except Exception as e:  # noqa: BLE001
        return type(e)
    return None if result is None else result


def _corpus() -> list[tuple[str, str]]:
    texts: list[tuple[str, str]] = []
    for file in ("paper.toml", "matrix.toml"):
        for case in tomllib.loads((ROOT / "tests" / "data" / file).read_text())["case"]:
            texts += [(case["expr"], "start")] + [(case[k], "start") for k in ("expect", "denominator") if k in case]
    for path in sorted((ROOT / "examples").glob("*.mc")):
        texts.append((path.read_text(encoding="utf-8"), "start"))
    for path in (ROOT / "README.md", ROOT / "examples" / "paper.tex", ROOT / "examples" / "notes.md"):
        texts += [(f"{c.text} {c.options}".strip(), "claim") for c in find_claims(str(path), path.read_text(encoding="utf-8"))]
    texts += [(t, "start") for t in (
        "‖x‖ + ‖W‖_F", "‖x‖y‖‖", "\\|X\\|_F^2", "\\left\\| x \\right\\|", "x^T A x", "xᵀAx", "X⁻¹", "S⁻¹²",
        "\\frac{1}{2} \\mathbf{w}^{T} \\mathbf{x}", "\\sqrt{x}", "I(3) @ x", "ones(n)ᵀ x", "𝟏ᵀx", "w₁ + w_2",
        "h = W@x + b\nsum(max(0, h))", "u = x^2; v = sin(u); v * u", "[x^2, 3x]", "[[1, 2], [3, 4]] @ x",
        "\\begin{bmatrix} x & y \\\\ 1 & 2 \\end{bmatrix}", "g[1] + g[2]", "2^2^2", "-x^2", "+x", "a ≤ b",
        "x # a comment\n + 1", "max(x, 0) >= 1", "σ(Xw)", "\\sigma(z)", "w·x + b", "w ⊗ x ⊘ y", "kron(A, B)",
        "vec(X)", "tr(AXBX)", "det(X)", "\\operatorname{tr}(X)", "x .^ 2", "(x + 1)(x - 1)", "3x²y")]
    texts += [(t, "start") for t in (  # not in the language
        "x +", "sin(x", "x ^^ 2", "‖x", "[1, , 2]", "(", ")", "x y )", "\\frac{1}", "1..2", "x ; ; y", "@x")]
    texts += [(t, "claim") for t in ("d/dx x^2 =", "d/dx = 2x", "d/dw (w · x) = x^T where", "∂/∂x")]
    return texts


@pytest.mark.parametrize("text,start", _corpus())
def test_the_loop_builds_what_lark_builds(text, start):
    ours, theirs = _driver(text, start), _lark(text, start)
    if ours is None:  # declined: Lark must reject it too
        assert isinstance(theirs, type) and issubclass(theirs, Exception), f"Lark parses {text!r} to {theirs!r}"
    else:
        assert _layout(ours) == _layout(theirs)


def test_declined_input_gets_larks_error_through_parse():
    for text, column in (("x +", 4), ("sin(x", 6), ("[1, , 2]", 5)):
        with pytest.raises(P.ParseError) as e:
            P.parse(text)
        assert e.value.column == column


class _Always:
    """Patterns as the lexer asks for them, the same for every character."""

    def __init__(self, patterns):
        self.patterns, self.by_char = patterns, {}

    def __call__(self, ch: str):
        return self.patterns


def _tokens(text: str, patterns):
    P.load_parser()
    driver = P._driver
    kept, driver.patterns = driver.patterns, patterns
    try:
        return [(t.type, str(t), t.start_pos, t.line, t.column, t.end_column) for t in driver.tokens(text)]
    except P._NoParse:
        return None
    finally:
        driver.patterns = kept


_PIECES = ("x", "W", "x_1", "_a", "w₁", "α", "σ", "e", "π", "1", "2.5", ".5", "1e-3", "3E+2", " ", "\n", "\t", "+", "-",
           "*", "**", "/", "^", "^T", "^{T}", "^{-1}", "^{\\top}", "^{\\circ 2}", "ᵀ", "⁻¹", "²", "(", ")", "[", "]", "[2]",
           "{", "}", ",", ";", ":", "=", "<", ">=", "≤", "@", "·", "⊗", "⊘", "∘", "×", "‖", "|", "&", "#c\n", "\\frac",
           "\\frac{\\partial}{\\partial x}", "\\frac{\\partial f}", "\\sqrt", "\\left(", "\\right)", "\\left[",
           "\\right]", "\\middle|", "\\|", "\\lVert", "\\mathbf{x}", "\\mathbf{1}", "\\mathbf{0}_{n}", "𝟏", "I_{n}",
           "\\cdot", "\\otimes", "\\geq", "\\le", "\\sigma", "\\lambda", "\\mathrm{T}", "\\mathrm{diag}",
           "\\operatorname{tr}", "\\text{if }", "\\text{otherwise}", "\\quad", "\\,", "\\\\", "\\begin{bmatrix}",
           "\\end{bmatrix}", "\\begin{cases}", "\\end{cases}", "d/dx", "∂/∂x", "d2/dx2", "where", "given", "\\",
           "$", "?", "!", "é", "\x00")


def test_the_lexer_by_first_character_finds_larks_tokens():
    """The lexer tries at each position only the terminals that may begin with the
    character there: over thousands of random inputs made of the grammar's pieces,
    the same tokens (kinds, text, positions) as Lark's whole alternation, or the same
    refusal."""
    import random

    rng = random.Random(7)
    P.load_parser()
    whole = P.lark_parser().parser.lexer.lexer.scanner._mres  # Lark's own alternation
    texts = [t for t, _ in _corpus()]
    texts += ["".join(rng.choice(_PIECES) for _ in range(rng.randint(1, 12))) for _ in range(3000)]
    texts += ["".join(rng.choice("xW1._^{}()[]\\ +-*/|‖Tᵀ⁻¹²e∂d") for _ in range(rng.randint(1, 10))) for _ in range(3000)]
    for text in texts:
        assert _tokens(text, P._driver.patterns) == _tokens(text, _Always(whole)), text


def test_the_loop_builds_what_lark_builds_over_random_inputs():
    """The same over random inputs of the grammar's pieces, the chains of single-child
    reductions the loop takes in one step (remembered by the states and the token
    ahead) among them."""
    import random

    rng = random.Random(11)
    simple = ("x", "W", "2", "+", "-", "*", "^", "(", ")", "[", "]", ",", "sin", "sum", "@", "·", "ᵀ", "^T", "‖", " ",
              "=", ";", "<", "max", "d/dx", "\\frac{", "}{", "}", "\\left(", "\\right)", "where", "given")
    compared = 0
    for _ in range(4000):
        text = "".join(rng.choice(simple) for _ in range(rng.randint(1, 9)))
        for start in ("start", "claim"):
            ours, theirs = _driver(text, start), _lark(text, start)
            if ours is None:
                assert isinstance(theirs, type) and issubclass(theirs, Exception), (text, start, theirs)
            else:
                compared += 1
                assert _layout(ours) == _layout(theirs), (text, start)
    assert compared > 300  # enough of them parse


# -- the tables the loop reads at a start, without Lark -------------------------------------------
def test_the_stored_tables_are_larks_as_extracted():
    """What a start reads from the JSON file is what extraction from Lark's parser gives."""

    from mcalc import tables as T

    key = "test"
    fresh = T.extract(P.lark_parser(), key)
    assert json.loads(json.dumps(fresh)) == fresh  # plain data, whole through JSON
    assert len(fresh["terminals"]) == len(fresh["first"]) and fresh["rules"] and fresh["states"]
    assert fresh["unless"]["NAME"]  # the keywords a name may be (scalar, where, …)
    assert any(t is None for t in fresh["first"]) or all(fresh["first"])


def test_a_start_reads_the_cached_tables_and_never_imports_lark(tmp_path):
    """The first start builds the tables with Lark and stores them; the next one
    derives without importing Lark, and an input Lark must explain still gets
    Lark's error."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path)}
    code = ("import sys, mcalc; print(mcalc.diff('sum(w*x)+b', wrt='w').text, 'lark' in sys.modules)")
    first = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert first.stdout.split() == ["x^T", "True"], first.stderr
    stored = tmp_path / "mcalc" / "mcalc-grammar.tables.json"
    assert oct(stored.stat().st_mode & 0o777) == "0o600"
    second = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert second.stdout.split() == ["x^T", "False"], second.stderr
    bad = subprocess.run([sys.executable, "-m", "mcalc", "diff", "x +", "--wrt", "x"], capture_output=True,
                         text=True, env=env, timeout=120)
    assert bad.returncode == 2 and "unexpected end of input" in bad.stderr and "Traceback" not in bad.stderr


def test_tables_of_another_grammar_or_a_broken_file_are_made_again(tmp_path, monkeypatch):
    from mcalc import tables as T

    path = tmp_path / T.FILE
    tables = T.extract(P.lark_parser(), "old key")
    T.store(str(path), tables)
    assert T.load(str(path), "old key") == tables
    assert T.load(str(path), "new key") is None  # another grammar, another Lark
    whole = path.read_bytes()
    path.write_bytes(whole[:-10])
    assert T.load(str(path), "old key") is None  # cut short
    checksum, _, body = whole.partition(b"\n")
    path.write_bytes(checksum + b"\n" + body.replace(b'"rules"', b'"rulez"'))
    assert T.load(str(path), "old key") is None  # changed: the checksum no longer holds
    path.write_bytes(b"[" * 100000)
    assert T.load(str(path), "old key") is None
    assert T.load(str(tmp_path / "absent.json"), "old key") is None


def test_a_damaged_tables_file_is_made_again(tmp_path):
    """A file of the right key that is not whole (here: written so by hand, its
    checksum made to hold) is made again at the next start, which answers."""
    import os
    import subprocess
    import sys
    import zlib

    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path)}
    code = "import mcalc; print(mcalc.diff('x*y', wrt='x').text)"
    run = lambda: subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert run().stdout.strip() == "y"
    stored = tmp_path / "mcalc" / "mcalc-grammar.tables.json"
    whole = json.loads(stored.read_bytes().partition(b"\n")[2])
    for damaged in ({"key": whole["key"]}, {**whole, "states": {}}, {**whole, "rules": []},
                    {**whole, "first": whole["first"][:-1]}, {**whole, "start_states": {}},
                    {**whole, "rules": [{**r, "size": None} for r in whole["rules"]]}):
        body = json.dumps(damaged).encode()
        stored.write_bytes(f"{zlib.crc32(body):08x}\n".encode() + body)
        again = run()
        assert again.stdout.strip() == "y", again.stderr
        assert json.loads(stored.read_bytes().partition(b"\n")[2]) == whole  # made again


def test_the_tables_key_holds_where_lark_is_in_a_zip(tmp_path, monkeypatch):
    """Imported from a zip (zipapp, pex), lark/__init__.py is no file to read."""
    import importlib.util

    from mcalc import tables as T

    class Spec:
        origin = str(tmp_path / "lark.zip" / "lark" / "__init__.py")

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: Spec)
    assert T.key("grammar") != T.key("grammar 2")


def test_tables_others_could_have_written_are_not_read(tmp_path):
    """A tables file in a folder or a file others can write could change what a
    formula parses to: it is not read (the tables are built in memory instead)."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path)}
    code = "import mcalc; print(mcalc.diff('x - y', wrt='x').text)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                          timeout=120).stdout.strip() == "1"
    stored = tmp_path / "mcalc" / "mcalc-grammar.tables.json"
    assert json.loads(stored.read_bytes().partition(b"\n")[2])["states"]
    os.chmod(stored, 0o666)  # a file others could have written
    r = subprocess.run([sys.executable, "-c", "import sys, mcalc; mcalc.diff('x', wrt='x'); "
                        "print('lark' in sys.modules)"], capture_output=True, text=True, env=env, timeout=120)
    assert r.stdout.strip() == "True"  # not read: built afresh with Lark


def test_a_token_copies_and_pickles_whole():
    import copy
    import pickle

    token = P.Token("NAME", "x", 3, 1, 4, 1, 5, 4)
    for twin in (pickle.loads(pickle.dumps(token)), copy.deepcopy(token)):
        assert (twin, twin.type, twin.start_pos, twin.column, twin.end_pos) == ("x", "NAME", 3, 4, 4)
