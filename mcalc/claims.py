"""Claims — "the derivative of f by v is g" — found in files and checked.

Where claims live:

- claims files (``*.mcalc``): one claim per line, ``#`` comments;
- TOML: ``[[claim]]`` tables with id, expr, wrt, expect, where, layout, tolerance
  (and the ``[[case]]`` tables of the paper's acceptance cases);
- LaTeX: ``% mcalc: …`` on the line(s) before an equation — either a whole
  claim, or only options (``where …``), the claim then being the equation;
- Markdown: ``<!-- mcalc: … -->``, the same way, before a ``$$ … $$`` block.

Each claim is derived by mcalc and compared with the claimed answer by the
independent route of :mod:`mcalc.verify`.
"""
from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

from .errors import McalcError, ShapeError

SCHEMA = "mcalc-check/1"


@dataclass
class Claim:
    file: str
    line: int
    text: str  # in mcalc's claim syntax or LaTeX
    id: str | None = None
    options: str = ""  # where/layout/tolerance clauses from an annotation
    # where the text's pieces stand in the file: (offset in text, line, column), 1-based
    places: tuple[tuple[int, int, int], ...] = field(default=(), compare=False)
    # where the options (the annotation's where …) stand: (line, column or None)
    options_at: tuple[int, int | None] | None = field(default=None, compare=False)

    def locate(self, column: int | None) -> tuple[int, int | None]:
        """The file's line and column of the text's 1-based ``column`` (an equation
        spread over lines, after its \\begin or $$; or the annotation's options, which
        the parser reads after the equation)."""
        if column is not None and self.options_at and column - 1 > len(self.text):
            line, start = self.options_at
            return line, start + column - 2 - len(self.text) if start else None
        if column is None or not self.places:
            return self.line, column
        offset, line, start = next(p for p in reversed(self.places) if p[0] <= column - 1 or p is self.places[0])
        return line, start + max(column - 1 - offset, 0)


@dataclass
class Result:
    claim: Claim
    status: str  # "pass", "fail", "inconclusive", "error"
    message: str
    column: int | None = None
    claimed: str | None = None
    derived: str | None = None
    verdict: dict | None = None
    wrt: list[str] = field(default_factory=list)
    function: str | None = None
    seconds: float = 0.0  # wall-clock time the check took (JUnit reports it)
    head: str | None = None  # ∂/∂w (w · x + b), as mcalc read the claim

    def place(self) -> tuple[int, int | None]:
        """The file's line and column of what this result is about (an error's column
        within the claim, mapped into a multi-line equation)."""
        return self.claim.locate(self.column)

    @property
    def title(self) -> str:
        """The claim's id, or the claim as mcalc read it, or as written (one line, shortened)."""
        if self.claim.id:
            return str(self.claim.id)
        text = f"{self.head} = {self.claimed}" if self.head and self.claimed else " ".join(self.claim.text.split())
        return text if len(text) <= 120 else text[:119] + "…"


    def __str__(self) -> str:
        return self.message

    def _repr_pretty_(self, p, cycle) -> None:
        p.text(f"{self.claim.file}:{self.claim.line}: {self.status}: {self.message}")


class Results(list):
    """The results of mcalc.check: a list of Result, shown as one line each
    (a table in Jupyter)."""

    def __str__(self) -> str:
        return "\n".join(f"{r.claim.file}:{r.claim.line}: {r.status}: {r.message}" for r in self)

    def _repr_pretty_(self, p, cycle) -> None:
        p.text(str(self) if self else "no claims")

    def _repr_html_(self) -> str:
        from html import escape

        rows = "".join(f"<tr><td>{escape(r.claim.file)}:{r.claim.line}</td><td><b>{escape(r.status)}</b></td>"
                       f"<td>{escape(r.message)}</td></tr>" for r in self)
        counts = ", ".join(f"{sum(r.status == s for r in self)} {s}" for s in ("pass", "fail", "inconclusive", "error"))
        return (f"<table><thead><tr><th>claim</th><th>status</th><th>message</th></tr></thead>"
                f"<tbody>{rows}</tbody></table><p>{counts}</p>")


class CheckError(McalcError):
    kind = "error"


# -- finding claims --------------------------------------------------------------
_LATEX_NOTE = re.compile(r"^\s*%+\s*mcalc:\s?(.*)$")
_MD_NOTE = re.compile(r"<!--\s*mcalc:\s*(.*?)\s*-->", re.S)
_BEGIN = re.compile(r"\\begin\{(equation\*?|displaymath|math)\}|\\\[|\$\$")
_INCLUDE = re.compile(r"\\(input|include)\{([^}]*)\}")


_NO_EQUATION = "<an annotation with no equation after it>"
_MALFORMED = "<a malformed claim table>"


def _is_claim(text: str) -> bool:
    return bool(re.match(r"\s*((d|∂)(2|²)?\s*/\s*(d|∂)|\\frac\s*\{\s*(\\partial|d))", text))


def find_claims(path: str, text: str, follow_includes: bool = False, _seen=None, syntax: str | None = None) \
        -> list[Claim]:
    """The claims in ``text``, read as the kind of file ``syntax`` (or ``path``) names
    by its suffix: .toml, .tex/.ltx/.latex, .md/.markdown, else one claim a line."""
    suffix = Path(syntax or path).suffix.lower()
    if suffix == ".toml":
        return _toml_claims(path, text)
    if suffix in (".tex", ".ltx", ".latex"):
        return _latex_claims(path, text, follow_includes, _seen)
    if suffix in (".md", ".markdown"):
        return _markdown_claims(path, text)
    return _line_claims(path, text)


def _line_claims(path: str, text: str) -> list[Claim]:
    claims = []
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            claims.append(Claim(path, number, stripped, places=((0, number, line.index(stripped) + 1),)))
    return claims


def include_hint(path: str, following: bool) -> str:
    """For a LaTeX file without claims that \\inputs others, where --follow-includes would look."""
    if following or Path(path).suffix.lower() not in (".tex", ".ltx", ".latex") or path == "-":
        return ""
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    if any(_INCLUDE.search(_strip_latex_comment(line)) for line in text.splitlines()):
        return " (it \\inputs other files: --follow-includes reads the claims in them)"
    return ""


def _toml_claims(path: str, text: str) -> list[Claim]:
    import tomllib

    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise CheckError(f"{path}: not valid TOML: {e}") from None
    claims = []
    lines = text.splitlines()
    tables = [("claim", t) for t in data.get("claim", [])] + [("case", t) for t in data.get("case", [])]
    seen = {"claim": 0, "case": 0}
    for kind, table in tables:
        seen[kind] += 1
        header = _toml_header(lines, kind, seen[kind])
        line = _toml_line(lines, kind, table.get("id"), header)
        unknown = sorted(set(table) - _TOML_KEYS - (_CASE_KEYS if kind == "case" else set()))
        try:
            text = _toml_claim_text(table)
            if unknown:  # tolerence = 1e-9, layuot = …: read past, in silence, the claim was checked without them
                import difflib

                near = difflib.get_close_matches(unknown[0], sorted(_TOML_KEYS), n=1)
                claims.append(Claim(path, line, _MALFORMED, id=table.get("id"), options=(
                    f"the [[{kind}]] table has a key mcalc does not read: {unknown[0]}"
                    + (f" (did you mean {near[0]}?)" if near else "") + f"; a claim's keys are "
                    f"{', '.join(sorted(_TOML_KEYS))}")))
                continue
            claims.append(Claim(path, line, text, id=table.get("id"), places=_toml_places(lines, header, table)))
        except KeyError as e:
            claims.append(Claim(path, line, _MALFORMED, id=table.get("id"), options=(
                f"the [[{kind}]] table has no {e} (a claim needs expr, wrt and expect; "
                f"it has {', '.join(sorted(table)) or 'no keys'})")))
        except TypeError as e:
            claims.append(Claim(path, line, _MALFORMED, id=table.get("id"),
                                options=f"the [[{kind}]] table is malformed ({e})"))
    return claims


_TOML_KEYS = {"id", "expr", "wrt", "expect", "vectors", "matrices", "scalars", "where", "layout", "tolerance", "kind"}
_CASE_KEYS = {"note", "rule", "shape", "trace", "source"}  # what the case files say of a case beside the claim


def _toml_header(lines: list[str], kind: str, index: int) -> int:
    """The line of the index-th [[kind]] header (1-based), else 1."""
    count = 0
    for number, line in enumerate(lines, 1):
        if re.match(rf"\s*\[\[\s*{kind}\s*\]\]", line):
            count += 1
            if count == index:
                return number
    return 1


def _toml_line(lines: list[str], kind: str, ident, header: int = 1) -> int:
    if ident is not None:
        for number, line in enumerate(lines, 1):
            if re.match(rf'\s*id\s*=\s*["\']{re.escape(str(ident))}["\']', line):
                return number
    return header


def _toml_places(lines: list[str], header: int, table: dict) -> tuple[tuple[int, int, int], ...]:
    """Where the claim text's expr and expect stand in the file, where each is a string
    on one line as written (no escapes): so an error's column is the file's."""
    head = _toml_head(table)
    claim = _toml_claim_text(table)
    offsets = {"expr": len(f"{head} ("), "expect": len(f"{head} ({table['expr']}) = ")}
    for key in ("layout", "tolerance"):  # and the options after them (an error in one: its value's column)
        if table.get(key) is not None:
            offsets[key] = claim.rindex(f" {key} {table[key]}") + len(f" {key} ")
    places = []
    for key in offsets:
        value = str(table[key])
        for number in range(header, len(lines) + 1):
            text = lines[number - 1]
            if number > header and re.match(r"\s*\[", text):
                break
            m = re.match(rf"\s*{key}\s*=\s*([\"']?)", text)
            if m and (text[m.end():m.end() + len(value)] == value or not m.group(1) and key == "tolerance"):
                places.append((offsets[key], number, m.end() + 1))
                break
        else:
            if key in ("expr", "expect"):
                return ()
    return tuple(places)


def _toml_head(t: dict) -> str:
    """d/dw, or d2/dx2 for a table of kind "hessian" (its matrix of second partials)."""
    wrt = t["wrt"] if isinstance(t["wrt"], str) else ",".join(t["wrt"])
    kind = t.get("kind")
    if kind is None:
        return f"d/d{wrt}"
    if kind != "hessian":
        raise TypeError(f"kind is \"hessian\" or absent, not {kind!r}")
    if "," in wrt:
        raise TypeError("a Hessian is by one variable: wrt names one")
    return f"d2/d{wrt}2"


def _toml_claim_text(t: dict) -> str:
    decls = []
    for v in t.get("vectors", []):
        name, _, dim = v.partition(":")
        decls.append(f"{name}: vector" + (f"[{dim}]" if dim else ""))
    for name, shape in t.get("matrices", {}).items():
        decls.append(f"{name}: matrix[{shape}]")
    for name in t.get("scalars", []):
        decls.append(f"{name}: scalar")
    if t.get("where"):
        decls.append(t["where"])
    text = f"{_toml_head(t)} ({t['expr']}) = {t['expect']}"
    if decls:
        text += " where " + "; ".join(decls)
    if t.get("layout"):
        text += f" layout {t['layout']}"
    if t.get("tolerance") is not None:
        text += f" tolerance {t['tolerance']}"
    return text


def _latex_claims(path: str, text: str, follow: bool, seen: dict | None) -> list[Claim]:
    claims: list[Claim] = []
    lines = _blank_verbatim(text.split("\n"))
    if follow and seen is None:  # the top file: includes resolve from its folder, and stay inside it
        here = Path(path).resolve() if path != "-" else Path.cwd() / "-"
        seen = {"root": here.parent, "display": os.path.dirname(path), "files": {here}}
    i = 0
    while i < len(lines):
        include = _INCLUDE.search(_strip_latex_comment(lines[i])) if follow else None
        if include:
            claims.extend(_included(path, i + 1, include.group(2), seen))
        if not _LATEX_NOTE.match(lines[i]):
            i += 1
            continue
        # Consecutive annotation lines: a line that starts a claim starts a new group; a
        # line continues a claim that has no '=' yet; other lines are options for the
        # equation that follows.
        groups: list[tuple[int, list[str]]] = []
        columns: dict[int, int] = {}  # an annotation's line -> the column its text starts at
        while i < len(lines) and (note := _LATEX_NOTE.match(lines[i])):
            part = note.group(1).strip()
            columns[i + 1] = note.start(1) + len(note.group(1)) - len(note.group(1).lstrip()) + 1
            previous = " ".join(groups[-1][1]) if groups else ""
            if not groups or _is_claim(part) or (_is_claim(previous) and "=" in previous):
                groups.append((i + 1, [part]))
            else:
                groups[-1][1].append(part)
            i += 1
        for start, parts in groups:
            annotation = " ".join(p for p in parts if p)
            if _is_claim(annotation):
                one = len(parts) == 1 and start in columns  # on one line: the file's columns
                claims.append(Claim(path, start, annotation, places=((0, start, columns[start]),) if one else ()))
                continue
            equation, line, places = _next_equation(lines, i)
            if equation is None:
                claims.append(Claim(path, start, _NO_EQUATION, options=annotation))
            else:
                claims.append(Claim(path, line, equation, options=annotation, places=places,
                                    options_at=(start, columns.get(start) if len(parts) == 1 else None)))
    return claims


_VERBATIM = re.compile(r"\\begin\{(verbatim\*?|Verbatim\*?|lstlisting|minted|comment)\}")


def _blank_verbatim(lines: list[str]) -> list[str]:
    """Lines inside verbatim-like environments blanked: a '% mcalc:' there is text
    that the paper shows, not an annotation (nor is an \\input there an include)."""
    out, closer = [], None
    for line in lines:
        if closer is not None:
            end = line.find(closer)
            if end < 0:
                out.append("")
                continue
            out.append(" " * (end + len(closer)) + line[end + len(closer):])
            closer = None
            continue
        begin = _VERBATIM.search(_strip_latex_comment(line))
        if begin:
            closer = f"\\end{{{begin.group(1)}}}"
            end = line.find(closer, begin.end())
            if end >= 0:
                closer = None
        out.append(line)
    return out


def _next_equation(lines: list[str], i: int) -> tuple[str | None, int, tuple]:
    """The body of the equation that starts at or after line i (blank lines allowed),
    the line it starts on, and where its pieces stand (Claim.places)."""
    while i < len(lines) and not lines[i].strip():
        i += 1
    if i >= len(lines):
        return None, i, ()
    begin = _BEGIN.search(lines[i])
    if not begin:
        return None, i, ()
    closer = {"$$": "$$", "\\[": "\\]"}.get(begin.group(0), f"\\end{{{begin.group(1)}}}")
    body, first = [], i + 1
    rest, start = lines[i][begin.end():], begin.end()
    j = i
    while True:
        end = rest.find(closer)
        if end >= 0:
            body.append((rest[:end], j + 1, start + 1))
            break
        body.append((rest, j + 1, start + 1))
        j += 1
        if j >= len(lines):
            return None, first, ()
        rest, start = lines[j], 0
    equation, places = "", []
    for piece, line, column in body:
        places.append((len(equation) + (1 if equation else 0), line, column))
        equation = f"{equation} {_strip_latex_comment(piece)}" if equation else _strip_latex_comment(piece)
    # the same length: the places still hold
    equation = re.sub(r"\\(label|tag)\{[^}]*\}|\\nonumber|\\notag", lambda m: " " * len(m.group()), equation)
    lead = len(equation) - len(equation.lstrip())
    places = [(max(offset - lead, 0), line, column + max(lead - offset, 0)) for offset, line, column in places]
    return equation.strip().rstrip(".,;").strip(), first, tuple(places)


def _strip_latex_comment(line: str) -> str:
    return re.sub(r"(?<!\\)%.*$", "", line)


def _included(path: str, line: int, name: str, seen: dict) -> list[Claim]:
    """\\input{name}: resolved as LaTeX does, from the top file's folder, by its real
    path (symbolic links followed), and followed only if that stays inside the folder;
    each file once (a cycle, or a file included twice, is read once)."""
    from .sources import read_text

    root: Path = seen["root"]
    written = Path(name.strip())
    if not written.suffix:
        written = written.with_name(written.name + ".tex")
    real = (root / written).resolve()
    if root not in real.parents:
        raise CheckError(f"{path}:{line}: \\input{{{name}}} points outside {root}; not followed")
    if real in seen["files"]:
        return []
    seen["files"].add(real)
    shown = os.path.normpath(os.path.join(seen["display"], written))
    return _latex_claims(shown, read_text(str(real), what=shown), True, seen)


def _markdown_claims(path: str, text: str) -> list[Claim]:
    """Annotations are HTML comments, as a Markdown parser (markdown-it, which rich
    ships) sees them: one inside a code span, a fenced or an indented code block is
    text the document shows, not an annotation."""
    last = text.rfind("mcalc:")
    if last < 0:
        return []
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark")
    tokens: list = []
    # Block parsing runs forward only, so the blocks up to the last annotation and
    # the equation after it parse the same as in the whole text.
    md.block.parse(text[:_prefix_end(text, last)], md, {}, tokens)
    lines = text.split("\n")
    claims: list[Claim] = []
    for k, tok in enumerate(tokens):
        if tok.type == "html_block" and "mcalc:" in tok.content:
            notes = _notes(tok.content)
        elif tok.type == "inline" and "mcalc:" in tok.content and "<!--" in tok.content:
            notes = _inline_notes(md, tok.content)
        else:
            continue
        for offset, annotation, rest in notes:
            line = tok.map[0] + offset + 1
            annotation = " ".join(annotation.split())
            if _is_claim(annotation):
                column = lines[line - 1].find(annotation) if line <= len(lines) else -1
                claims.append(Claim(path, line, annotation, places=((0, line, column + 1),) if column >= 0 else ()))
                continue
            equation, eq_line, places = None, line, ()
            if rest.strip():  # <!-- mcalc: where … --> $$ … $$ in one paragraph
                equation, _, _ = _next_equation([" ".join(rest.split("\n"))], 0)
            elif tok.type == "html_block":  # the next block, if it is a paragraph that opens with $$
                following = next((t for t in tokens[k + 1:] if t.map is not None and t.level <= tok.level), None)
                if following is not None and following.type == "paragraph_open":
                    view, widths = _unquoted(lines, following)
                    equation, eq_line, places = _next_equation(view, following.map[0])
                    places = tuple((o, n, c + widths.get(n, 0)) for o, n, c in places)
            if equation is None:
                claims.append(Claim(path, line, _NO_EQUATION, options=annotation))
            else:
                claims.append(Claim(path, eq_line, equation, options=annotation, places=places,
                                    options_at=(line, None)))
    return claims


_QUOTE = re.compile(r"^ {0,3}(?:> ?)+")


def _unquoted(lines: list[str], paragraph) -> tuple[list[str], dict[int, int]]:
    """The lines with a block quote's '> ' taken off the paragraph's (a $$ block inside
    > quotes), and how wide what was taken off each (1-based) line was."""
    start, end = paragraph.map
    if paragraph.level == 0:
        return lines, {}
    marks = [_QUOTE.match(line) for line in lines[start:end]]
    widths = {start + k + 1: m.end() for k, m in enumerate(marks) if m}
    return [*lines[:start], *(line[m.end():] if m else line for line, m in zip(lines[start:end], marks)),
            *lines[end:]], widths


def _prefix_end(text: str, last: int) -> int:
    """The end of the line that closes the first $$ … $$ after ``last`` (or of the text)."""
    first = text.find("$$", last)
    second = text.find("$$", first + 2) if first >= 0 else -1
    newline = text.find("\n", second) if second >= 0 else -1
    return newline + 1 if newline >= 0 else len(text)


def _notes(block: str):
    """(line offset, annotation, text after it) for each annotation in an HTML block, in one pass."""
    line, at = 0, 0
    for m in _MD_NOTE.finditer(block):
        line += block.count("\n", at, m.start())
        at = m.start()
        yield line, m.group(1), ""


def _inline_notes(md, content: str):
    """The same among a paragraph's inline HTML (code spans are not HTML)."""
    children: list = []
    md.inline.parse(content, md, {}, children)
    line, at = 0, 0
    for child in children:
        if child.type == "html_inline" and (m := _MD_NOTE.fullmatch(child.content.strip())):
            found = content.find(child.content, at)
            line += content.count("\n", at, found)
            at = found
            yield line, m.group(1), content[found + len(child.content):]


# -- checking a claim --------------------------------------------------------------
def check_claim(claim: Claim, tolerance: float | None = None) -> Result:
    """Derive the claim and compare, all within one budget of processor time (limits.CLAIM_SECONDS):
    past it, the claim is inconclusive (time)."""
    from .limits import CLAIM_SECONDS, Limit, Timeout, time_limit

    from .verify import warm_up

    warm_up()  # outside the budget: SymPy loaded, verification warmed, once a process
    start = time.perf_counter()
    limit = Limit(CLAIM_SECONDS)
    try:
        with time_limit(limit):
            result = _check_claim(claim, tolerance)
    except Timeout as e:
        if e.limit is not limit:
            raise
        reason = f"time: {e}"
        result = Result(claim, "inconclusive", f"{Result(claim, '', '').title}: inconclusive ({reason})",
                        verdict={"status": "inconclusive", "method": None, "summary": f"inconclusive ({reason})",
                                 "reason": reason, "sizes": {}})
    result.seconds = time.perf_counter() - start
    return result


def _check_claim(claim: Claim, tolerance: float | None) -> Result:
    from .api import Derivation, derivation_from_program
    from .parser import parse_claim
    from .render import unicode_name
    from .second import hessian as second_derivative

    if claim.text == _MALFORMED:
        return Result(claim, "error", claim.options)
    if claim.text == _NO_EQUATION:
        return Result(claim, "error", f"the annotation '{claim.options}' is not a claim (d/dx (f) = answer, "
                      f"d2/dx2 (f) = answer) and no equation follows it to take it as that equation's "
                      f"options (where …, layout …); write the claim, or put the equation after it")
    text = claim.text + (" " + claim.options if claim.options else "")
    try:
        parsed = parse_claim(text)
        derive = derivation_from_program if parsed.order == 1 else second_derivative
        d: Derivation = derive(text, parsed.function, list(parsed.wrt), layout=parsed.layout or "numerator")
        variables = (d.gradient or d).typing.variables
        vectors = {n for n in parsed.answer_bold if n in variables and variables[n].is_scalar}
        if vectors:  # 𝐱 in the answer, x a scalar in the function as written: the answer says what x is
            program = parsed.function._replace(bold=parsed.function.bold | {n for n in vectors if n.islower()},
                                               bold_upper=parsed.function.bold_upper |
                                               {n for n in vectors if not n.islower()})
            d = derive(text, program, list(parsed.wrt), layout=parsed.layout or "numerator")
    except McalcError as e:
        return _error(claim, e)
    wrt = ",".join(unicode_name(w) for w in d.wrt)
    function = d.gradient or d
    d_ = "∂" if parsed.order == 1 else "∂²"
    by = wrt if parsed.order == 1 else f"{wrt}²"
    if parsed.function.output:  # ∂C/∂w, C given in the annotation
        definition = dict(function.program.definitions)[parsed.function.output]
        out = unicode_name(parsed.function.output)
        head = f"{d_}{out}/∂{by} ({out} = {function.print(definition, 'unicode')})"
    else:
        head = f"{d_}/∂{by} ({function.print(function.program.body, 'unicode')})"
    try:
        claimed = d.resolve(parsed.expect, parsed.function.closed, shape=d.shape)
    except ShapeError as e:  # a claimed answer that cannot even be formed is a wrong claim
        return Result(claim, "fail", f"{head}: the claimed answer is ill-formed ({e}); derived {d.unicode}",
                      column=e.column, derived=d.unicode, wrt=list(d.wrt))
    except McalcError as e:
        return _error(claim, e)
    verdict = d.verify(claimed, tolerance=parsed.tolerance or tolerance)
    claimed_text = d.print(claimed, "unicode")
    common = dict(claimed=claimed_text, derived=d.unicode, verdict=verdict.to_dict(), wrt=list(d.wrt),
                  function=function.print(function.program.body, "text"), head=head)
    if verdict.status == "verified":
        return Result(claim, "pass", f"{head} = {claimed_text} ({verdict})", **common)
    if verdict.status == "failed":
        where = f" (differ at {_point(verdict)}" + (f"; {verdict.reason})" if verdict.reason else ")") \
            if verdict.at else f" ({verdict.reason})"
        return Result(claim, "fail", f"{head}: claimed {claimed_text}, derived {d.unicode}{where}", **common)
    return Result(claim, "inconclusive", f"{head}: claimed {claimed_text}, derived {d.unicode} ({verdict})",
                  **common)


def _error(claim: Claim, e: McalcError) -> Result:
    """An error in the claim; in an equation of several lines the column of the
    claim's text means nothing to the reader: the location in the file says where."""
    return Result(claim, "error", f"{e.kind}: {e.message}" if claim.places and e.column else f"{e}",
                  column=e.column)


def _point(verdict) -> str:
    from .evaluate import format_point

    return format_point(verdict.at, 3)


PARALLEL_FROM = 16  # claims; fewer are checked in this process


def free_cores() -> int:
    """The cores this process may use that other work is not using now: the ones it
    may run on, less those the machine was busy with over the last 20 ms (/proc/stat;
    elsewhere the last minute's load average), at least one.  A pool on a busy machine
    only waits for its turn; the load average lags a minute behind (a check run right
    after other work saw no free core for a minute)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    busy = _busy_cores()
    return max(1, min(cores, round(cores - busy + 0.25)))  # a core three quarters idle is free


def _busy_cores(window: float = 0.02) -> float:
    """How many cores' worth of work the machine did over ``window`` seconds."""
    import time

    def sample():
        with open("/proc/stat", encoding="ascii") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
        return sum(fields), fields[3] + (fields[4] if len(fields) > 4 else 0)  # all, idle + iowait

    try:
        total0, idle0 = sample()
        time.sleep(window)
        total1, idle1 = sample()
        machine = os.cpu_count() or 1
        return machine * (1 - (idle1 - idle0) / max(1, total1 - total0))
    except (OSError, ValueError, IndexError):  # not Linux: the load average
        try:
            return os.getloadavg()[0]
        except (AttributeError, OSError):
            return 0.0


def check_files(paths: list[str], follow_includes: bool = False, tolerance: float | None = None,
                jobs: int = 1, stdin_filename: str | None = None) -> tuple[list[Result], list[str]]:
    """All claims of all files (a folder: its claim files), in order; also the named
    files that held none.  '-' is standard input, read as the kind of file
    ``stdin_filename`` names and reported under that name.  With jobs > 1, claims
    are checked by that many processes (0: one per free core); the results keep the
    claims' order."""
    from .sources import expand, read_text

    claims, empty = [], []
    for path, named in expand(paths):
        shown = stdin_filename if path == "-" and stdin_filename else path
        text = read_text(path, what=f"standard input ({shown})" if path == "-" and stdin_filename else None)
        found = find_claims(shown, text, follow_includes, syntax=shown)
        if not found and named:
            empty.append(shown)
        claims.extend(found)
    if jobs == 0:  # one per free core, where there are enough claims to spread
        jobs = free_cores() if len(claims) >= PARALLEL_FROM else 1
    if jobs > 1 and len(claims) >= PARALLEL_FROM:
        results = _in_parallel(claims, tolerance, jobs)
    else:
        results = [check_claim(c, tolerance) for c in claims]
    return results, empty


def _in_parallel(claims: list[Claim], tolerance: float | None, jobs: int) -> list[Result]:
    """One process per job; when this process is stopped (SIGTERM, Ctrl-C), so are they."""
    import gc
    import multiprocessing
    from functools import partial

    from .parser import load_parser
    from .verify import warm_up

    load_parser()  # the parser's tables once, before the workers are forked, as SymPy: each would load its own
    # (Lark itself is loaded only by a worker that meets a claim the grammar rejects, to say why)
    warm_up()
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else None)
    # the objects made so far (SymPy's, the parser's) frozen while the workers are forked, as
    # Python's gc.freeze advises: a worker's collections then leave them be, where each full one
    # walked them all (0.1 s a worker on 500 claims) and copied the pages it touched.  This
    # process's own are unfrozen as soon as the workers exist; what another part froze stays so
    freeze = context.get_start_method() == "fork" and gc.get_freeze_count() == 0
    if freeze:
        gc.freeze()
    try:
        pool = context.Pool(jobs, initializer=_worker_signals)
    finally:
        if freeze:
            gc.unfreeze()
    try:
        results = pool.map(partial(check_claim, tolerance=tolerance), claims,
                           chunksize=max(1, len(claims) // (16 * jobs)))  # small: the workers end together
        pool.close()
    except BaseException:
        pool.terminate()
        raise
    finally:
        pool.join()
    return results


def _worker_signals() -> None:
    """A worker leaves Ctrl-C to the parent (which stops it) and dies of SIGTERM at once."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def check(*paths: str | os.PathLike, follow_includes: bool = False, tolerance: float | None = None,
          jobs: int = 1) -> list[Result]:
    """Check the claims in files (the library's `mcalc check`): one Result per claim,
    with .status ("pass", "fail", "inconclusive", "error") and .message.  A file that
    cannot be read raises McalcError."""
    if not paths:
        raise TypeError("check() needs at least one path")
    for p in paths:
        if not isinstance(p, (str, os.PathLike)):
            raise TypeError(f"check(): paths are file names (str or os.PathLike), not {type(p).__name__}")
    tolerance = valid_tolerance(tolerance, "tolerance")
    if isinstance(jobs, bool) or not isinstance(jobs, int):
        raise TypeError(f"check(): jobs must be an int, not {type(jobs).__name__}")
    if jobs < 1:
        raise ValueError(f"check(): jobs must be 1 or more, not {jobs}")
    return Results(check_files([os.fspath(p) for p in paths], follow_includes, tolerance, jobs)[0])


def valid_tolerance(value, name: str = "tolerance") -> float | None:
    """A relative tolerance: a finite number above 0 and below 1 (inf or nan would pass anything)."""
    if value is None:
        return None
    import math
    import numbers

    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, not {type(value).__name__}")
    if not (math.isfinite(value) and 0 < value < 1):
        raise ValueError(f"{name} must be a number above 0 and below 1 (e.g. 1e-9), not {value}")
    return float(value)


# -- reports ---------------------------------------------------------------------
def summary(results: list[Result]) -> dict[str, int]:
    counts = {"passed": 0, "failed": 0, "inconclusive": 0, "errors": 0}
    key = {"pass": "passed", "fail": "failed", "inconclusive": "inconclusive", "error": "errors"}
    for r in results:
        counts[key[r.status]] += 1
    return counts


def lint_lines(results: list[Result]) -> list[str]:
    label = {"pass": "pass", "fail": "FAIL", "inconclusive": "inconclusive", "error": "ERROR"}
    out = []
    for r in results:
        line, column = r.place()
        where = f"{r.claim.file}:{line}"
        if r.status == "error" and column:
            where += f":{column}"
        named = f"[{r.claim.id}] " if r.claim.id is not None else ""  # a TOML claim's id, as JSON and JUnit give it
        out.append(f"{where}: {label[r.status]} {named}{r.message}")
    return out


def summary_line(results: list[Result]) -> str:
    s = summary(results)
    line = f"{s['passed']} passed, {s['failed']} failed, {s['inconclusive']} inconclusive"
    return line + (f", {s['errors']} error{'s' if s['errors'] != 1 else ''}" if s["errors"] else "")


def json_report(results: list[Result], strict: bool = False) -> dict:
    """The report of schema mcalc-check/1 (mcalc/schemas/mcalc-check-1.schema.json)."""
    from . import __version__

    return {
        "schema": SCHEMA,
        "mcalc": __version__,
        "strict": strict,
        "summary": summary(results),
        "claims": [{
            "file": r.claim.file, "line": r.place()[0], "column": r.place()[1], "id": r.claim.id,
            "claim": r.claim.text, "status": r.status, "message": r.message, "function": r.function,
            "wrt": r.wrt, "claimed": r.claimed, "derived": r.derived, "verification": r.verdict,
        } for r in results],
    }


def junit_xml(results: list[Result], strict: bool = False) -> str:
    """JUnit XML as the Jenkins xUnit schema (junit-10.xsd) defines it: one testsuite per
    file, one testcase per claim (named by its line and the claim), with times; an
    inconclusive claim is skipped, or a failure under --strict."""
    from xml.etree import ElementTree as ET

    def counts(rs: list[Result]) -> dict[str, str]:
        s = summary(rs)
        inconclusive = s["inconclusive"]
        return {"tests": str(len(rs)), "failures": str(s["failed"] + (inconclusive if strict else 0)),
                "errors": str(s["errors"])}

    def seconds(rs: list[Result]) -> str:
        return f"{sum(r.seconds for r in rs):.3f}"

    files: dict[str, list[Result]] = {}
    for r in results:
        files.setdefault(r.claim.file, []).append(r)
    suites = ET.Element("testsuites", name="mcalc check", time=seconds(results), **counts(results))
    for file, rs in files.items():
        suite = ET.SubElement(suites, "testsuite", name=file, file=file, time=seconds(rs),
                              skipped="0" if strict else str(summary(rs)["inconclusive"]), **counts(rs))
        for r in rs:
            case = ET.SubElement(suite, "testcase", classname=file, name=f"line {r.claim.line}: {r.title}",
                                 time=f"{r.seconds:.3f}")
            line, column = r.place()
            where = f"{r.claim.file}:{line}" + (f":{column}" if column else "")
            body = f"{where}\n{r.claim.text}"
            if r.status == "fail" or (strict and r.status == "inconclusive"):
                ET.SubElement(case, "failure", message=r.message, type=r.status).text = body
            elif r.status == "error":
                ET.SubElement(case, "error", message=r.message, type="error").text = body
            elif r.status == "inconclusive":
                ET.SubElement(case, "skipped", message=r.message, type="inconclusive").text = body
    return ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"


def github_annotations(results: list[Result], strict: bool = False) -> list[str]:
    """GitHub Actions workflow commands, ::error file=…,line=…::message, escaped as
    the runner expects (properties: % \\r \\n : ,; the message: % \\r \\n)."""
    out = []
    for r in results:
        level = {"fail": "error", "error": "error",
                 "inconclusive": "error" if strict else "warning"}.get(r.status)
        if level:
            line, column = r.place()
            props = {"file": r.claim.file, "line": str(line)}
            if column:
                props["col"] = str(column)
            props["title"] = f"mcalc check: {r.status}"
            head = ",".join(f"{k}={_gh_property(v)}" for k, v in props.items())
            out.append(f"::{level} {head}::{_gh_data(r.message)}")
    return out


def _gh_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _gh_property(text: str) -> str:
    return _gh_data(text).replace(":", "%3A").replace(",", "%2C")
