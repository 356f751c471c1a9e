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

import re
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


class CheckError(McalcError):
    kind = "error"


# -- finding claims --------------------------------------------------------------
_LATEX_NOTE = re.compile(r"^\s*%+\s*mcalc:\s?(.*)$")
_MD_NOTE = re.compile(r"<!--\s*mcalc:\s*(.*?)\s*-->", re.S)
_BEGIN = re.compile(r"\\begin\{(equation\*?|displaymath|math)\}|\\\[|\$\$")
_INCLUDE = re.compile(r"\\(input|include)\{([^}]*)\}")


def _is_claim(text: str) -> bool:
    return bool(re.match(r"\s*((d|∂)\s*/\s*(d|∂)|\\frac\s*\{\s*(\\partial|d))", text))


def find_claims(path: str, text: str, follow_includes: bool = False, _seen=None) -> list[Claim]:
    suffix = Path(path).suffix.lower()
    if suffix == ".toml":
        return _toml_claims(path, text)
    if suffix in (".tex", ".ltx", ".latex"):
        return _latex_claims(path, text, follow_includes, _seen or set())
    if suffix in (".md", ".markdown"):
        return _markdown_claims(path, text)
    return _line_claims(path, text)


def _line_claims(path: str, text: str) -> list[Claim]:
    claims = []
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            claims.append(Claim(path, number, stripped))
    return claims


def _toml_claims(path: str, text: str) -> list[Claim]:
    import tomllib

    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise CheckError(f"{path}: not valid TOML: {e}") from None
    claims = []
    lines = text.splitlines()
    tables = [("claim", t) for t in data.get("claim", [])] + [("case", t) for t in data.get("case", [])]
    for kind, table in tables:
        line = _toml_line(lines, kind, table.get("id"))
        try:
            claims.append(Claim(path, line, _toml_claim_text(table), id=table.get("id")))
        except (KeyError, TypeError) as e:
            claims.append(Claim(path, line, f"<malformed: {e}>", id=table.get("id")))
    return claims


def _toml_line(lines: list[str], kind: str, ident) -> int:
    if ident is not None:
        for number, line in enumerate(lines, 1):
            if re.match(rf'\s*id\s*=\s*["\']{re.escape(str(ident))}["\']', line):
                return number
    return 1


def _toml_claim_text(t: dict) -> str:
    wrt = t["wrt"] if isinstance(t["wrt"], str) else ",".join(t["wrt"])
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
    text = f"d/d{wrt} ({t['expr']}) = {t['expect']}"
    if decls:
        text += " where " + "; ".join(decls)
    if t.get("layout"):
        text += f" layout {t['layout']}"
    if t.get("tolerance") is not None:
        text += f" tolerance {t['tolerance']}"
    return text


def _latex_claims(path: str, text: str, follow: bool, seen: set) -> list[Claim]:
    claims: list[Claim] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        include = _INCLUDE.search(_strip_latex_comment(lines[i]))
        if include and follow:
            claims.extend(_included(path, include.group(2), seen))
        if not _LATEX_NOTE.match(lines[i]):
            i += 1
            continue
        # Consecutive annotation lines: a line that starts a claim starts a new group; a
        # line continues a claim that has no '=' yet; other lines are options for the
        # equation that follows.
        groups: list[tuple[int, list[str]]] = []
        while i < len(lines) and (note := _LATEX_NOTE.match(lines[i])):
            part = note.group(1).strip()
            previous = " ".join(groups[-1][1]) if groups else ""
            if not groups or _is_claim(part) or (_is_claim(previous) and "=" in previous):
                groups.append((i + 1, [part]))
            else:
                groups[-1][1].append(part)
            i += 1
        for start, parts in groups:
            annotation = " ".join(p for p in parts if p)
            if _is_claim(annotation):
                claims.append(Claim(path, start, annotation))
                continue
            equation, line = _next_equation(lines, i)
            if equation is None:
                claims.append(Claim(path, start, "<an annotation with no equation after it>"))
            else:
                claims.append(Claim(path, line, equation, options=annotation))
    return claims


def _next_equation(lines: list[str], i: int) -> tuple[str | None, int]:
    """The body of the equation that starts at or after line i (blank lines allowed)."""
    while i < len(lines) and not lines[i].strip():
        i += 1
    if i >= len(lines):
        return None, i
    begin = _BEGIN.search(lines[i])
    if not begin:
        return None, i
    closer = {"$$": "$$", "\\[": "\\]"}.get(begin.group(0), f"\\end{{{begin.group(1)}}}")
    body, first = [], i + 1
    rest = lines[i][begin.end():]
    j = i
    while True:
        end = rest.find(closer)
        if end >= 0:
            body.append(rest[:end])
            break
        body.append(rest)
        j += 1
        if j >= len(lines):
            return None, first
        rest = lines[j]
    equation = " ".join(_strip_latex_comment(b) for b in body)
    equation = re.sub(r"\\(label|tag)\{[^}]*\}|\\nonumber|\\notag", " ", equation)
    return equation.strip().rstrip(".,;").strip(), first


def _strip_latex_comment(line: str) -> str:
    return re.sub(r"(?<!\\)%.*$", "", line)


def _included(path: str, name: str, seen: set) -> list[Claim]:
    """\\input{name}: followed only inside the including file's folder."""
    base = Path(path).resolve().parent
    target = (base / name).resolve()
    if target.suffix == "":
        target = target.with_suffix(".tex")
    if base != target and base not in target.parents:
        raise CheckError(f"{path}: \\input{{{name}}} points outside {base}; not followed")
    if target in seen or not target.is_file():
        return []
    seen.add(target)
    return _latex_claims(str(target), target.read_text(encoding="utf-8"), True, seen)


def _markdown_claims(path: str, text: str) -> list[Claim]:
    claims = []
    lines = text.splitlines()
    for m in _MD_NOTE.finditer(text):
        line = text.count("\n", 0, m.start()) + 1
        annotation = " ".join(m.group(1).split())
        if _is_claim(annotation):
            claims.append(Claim(path, line, annotation))
            continue
        after = text[m.end():]
        block = re.match(r"\s*\$\$(.*?)\$\$", after, re.S)
        if block is None:
            claims.append(Claim(path, line, "<an annotation with no $$ equation after it>"))
            continue
        eq_line = text.count("\n", 0, m.end() + block.start(1)) + 1
        equation = " ".join(block.group(1).split()).rstrip(".,;").strip()
        claims.append(Claim(path, min(eq_line, len(lines)), equation, options=annotation))
    return claims


# -- checking a claim --------------------------------------------------------------
def check_claim(claim: Claim, tolerance: float | None = None) -> Result:
    from .api import Derivation, derivation_from_program
    from .parser import parse_claim
    from .render import unicode_name

    text = claim.text + (" " + claim.options if claim.options else "")
    try:
        parsed = parse_claim(text)
        d: Derivation = derivation_from_program(text, parsed.function, list(parsed.wrt),
                                                layout=parsed.layout or "numerator")
    except McalcError as e:
        return Result(claim, "error", f"{e}", column=e.column)
    wrt = ",".join(unicode_name(w) for w in d.wrt)
    if parsed.function.output:  # ∂C/∂w, C given in the annotation
        definition = dict(d.program.definitions)[parsed.function.output]
        out = unicode_name(parsed.function.output)
        head = f"∂{out}/∂{wrt} ({out} = {d.print(definition, 'unicode')})"
    else:
        head = f"∂/∂{wrt} ({d.print(d.program.body, 'unicode')})"
    try:
        claimed = d.resolve(parsed.expect)
    except ShapeError as e:  # a claimed answer that cannot even be formed is a wrong claim
        return Result(claim, "fail", f"{head}: the claimed answer is ill-formed ({e}); derived {d.unicode}",
                      column=e.column, derived=d.unicode, wrt=list(d.wrt))
    except McalcError as e:
        return Result(claim, "error", f"{e}", column=e.column)
    verdict = d.verify(claimed, tolerance=parsed.tolerance or tolerance or 1e-9)
    claimed_text = d.print(claimed, "unicode")
    common = dict(claimed=claimed_text, derived=d.unicode, verdict=verdict.to_dict(), wrt=list(d.wrt),
                  function=d.print(d.program.body, "text"))
    if verdict.status == "verified":
        return Result(claim, "pass", f"{head} = {claimed_text} ({verdict})", **common)
    if verdict.status == "failed":
        where = f" (differ at {_point(verdict)})" if verdict.at else f" ({verdict.reason})"
        return Result(claim, "fail", f"{head}: claimed {claimed_text}, derived {d.unicode}{where}", **common)
    return Result(claim, "inconclusive", f"{head}: claimed {claimed_text}, derived {d.unicode} ({verdict})",
                  **common)


def _point(verdict) -> str:
    from .evaluate import format_point

    return format_point(verdict.at, 3)


PARALLEL_FROM = 16  # claims; fewer are checked in this process


def check_files(paths: list[str], read, follow_includes: bool = False, tolerance: float | None = None,
                jobs: int = 1) -> tuple[list[Result], list[str]]:
    """All claims of all files, in order; also the files that held none.  With
    jobs > 1, claims are checked by that many processes (the results keep the
    claims' order, so the output is the same)."""
    claims, empty = [], []
    for path in paths:
        found = find_claims(path, read(path), follow_includes)
        if not found:
            empty.append(path)
        claims.extend(found)
    if jobs > 1 and len(claims) >= PARALLEL_FROM:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor
        from functools import partial

        from .parser import load_parser

        load_parser()  # once, before the workers are forked

        context = multiprocessing.get_context("fork") if "fork" in multiprocessing.get_all_start_methods() else None
        with ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
            results = list(pool.map(partial(check_claim, tolerance=tolerance), claims,
                                    chunksize=max(1, len(claims) // (4 * jobs))))
    else:
        results = [check_claim(c, tolerance) for c in claims]
    return results, empty


def check(*paths: str, follow_includes: bool = False, tolerance: float | None = None,
          jobs: int = 1) -> list[Result]:
    """Check the claims in files (the library's `mcalc check`): one Result per claim,
    with .status ("pass", "fail", "inconclusive", "error") and .message."""
    def read(path: str) -> str:
        return Path(path).read_text(encoding="utf-8")

    return check_files(list(paths), read, follow_includes, tolerance, jobs)[0]


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
        where = f"{r.claim.file}:{r.claim.line}"
        if r.status == "error" and r.column:
            where += f":{r.column}"
        out.append(f"{where}: {label[r.status]} {r.message}")
    return out


def summary_line(results: list[Result]) -> str:
    s = summary(results)
    line = f"{s['passed']} passed, {s['failed']} failed, {s['inconclusive']} inconclusive"
    return line + (f", {s['errors']} errors" if s["errors"] else "")


def json_report(results: list[Result]) -> dict:
    from . import __version__

    return {
        "schema": SCHEMA,
        "mcalc": __version__,
        "summary": summary(results),
        "claims": [{
            "file": r.claim.file, "line": r.claim.line, "column": r.column, "id": r.claim.id,
            "claim": r.claim.text, "status": r.status, "message": r.message, "function": r.function,
            "wrt": r.wrt, "claimed": r.claimed, "derived": r.derived, "verification": r.verdict,
        } for r in results],
    }


def junit_xml(results: list[Result]) -> str:
    from xml.etree import ElementTree as ET

    s = summary(results)
    suite = ET.Element("testsuite", name="mcalc check", tests=str(len(results)),
                       failures=str(s["failed"]), errors=str(s["errors"]), skipped=str(s["inconclusive"]))
    for r in results:
        name = r.claim.id or f"{r.claim.file}:{r.claim.line}"
        case = ET.SubElement(suite, "testcase", classname=r.claim.file, name=name,
                             file=r.claim.file, line=str(r.claim.line))
        if r.status == "fail":
            ET.SubElement(case, "failure", message=r.message).text = r.claim.text
        elif r.status == "error":
            ET.SubElement(case, "error", message=r.message).text = r.claim.text
        elif r.status == "inconclusive":
            ET.SubElement(case, "skipped", message=r.message)
    suites = ET.Element("testsuites")
    suites.append(suite)
    return ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"


def github_annotations(results: list[Result]) -> list[str]:
    def esc(text: str) -> str:
        return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")

    out = []
    for r in results:
        level = {"fail": "error", "error": "error", "inconclusive": "warning"}.get(r.status)
        if level:
            col = f",col={r.column}" if r.column else ""
            out.append(f"::{level} file={r.claim.file},line={r.claim.line}{col},title=mcalc::{esc(r.message)}")
    return out

