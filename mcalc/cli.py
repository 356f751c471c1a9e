"""The command line: a thin typer shell over the library.

Results go to stdout, diagnostics to stderr (one line, no traceback); bad
input exits 2.  Colour only on a terminal, and never with NO_COLOR.  Every
failure of a stream (closed, full, a broken pipe, an encoding that cannot
show the output) is handled once, in :func:`run`.
"""
from __future__ import annotations

import os
import re
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from . import __version__
from .errors import ExitCode, McalcError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  rich_markup_mode=None, context_settings={"help_option_names": ["-h", "--help"]},
                  help="Matrix-calculus derivatives, step by step, in the notation of Parr & Howard.")


class Format(str, Enum):
    rich = "rich"
    text = "text"
    latex = "latex"
    json = "json"
    dot = "dot"


class Layout(str, Enum):
    numerator = "numerator"
    denominator = "denominator"


class Emit(str, Enum):
    numpy = "numpy"
    torch = "torch"
    jax = "jax"


def _version(value: bool):
    if value:
        _out(f"mcalc {__version__}\n")
        raise typer.Exit()


@app.callback()
def main(version: Annotated[Optional[bool], typer.Option(
        "--version", callback=_version, is_eager=True, help="Print the version and exit.")] = None):
    """mcalc: derive, show every step, check."""


EXAMPLE = "sum(w*x)+b"

DIFF_HELP = """
\b
The language (mcalc's own, or the LaTeX and Unicode a paper writes):
  3  0.5  x  w1  λ  𝐰  \\mathbf{w}   numbers and names (bold: a vector)
  + -  * / ^  ⊗ ⊘                   element-wise, with scalar expansion
  ·  dot(a, b)   @   ^T ᵀ '         dot product, matrix product, transpose
  > < >= <=                         1 where true, else 0
  sum mean max min exp ln sin cos tan tanh sigmoid relu abs sqrt
  [f1, f2]  [[a, b], [c, d]]  [A | B]  I  ones  diag(v)
  u = w*x; sum(u)                   definitions first, the function last
  x: vector[n]; X: matrix[N, n]     declarations (as -v x, -M X:N,n)

\b
Examples:
  mcalc diff "x^3"                          by x, the only variable: 3x²
  mcalc diff "sum(w*x)+b" --wrt w           xᵀ, with the four steps
  mcalc diff "max(0, w·x + b)" --wrt w --latex
  mcalc diff "-x^2"                         a leading '-' starts the function
  mcalc diff -f loss.mc --wrt w --verify
  mcalc diff "w·x" --wrt w --format json --at w=[1,2] --at x=[3,4]
  mcalc diff -f loss.mc --wrt w,b --emit numpy -o loss.py   the code, checked

\b
Exit status: 0 done; 1 --verify found the answer wrong, or the code of --emit
failed its own check_gradient; 2 bad input or usage (one line on stderr; with
--format json also a JSON error on stdout); 141 the reader of standard output
went away (a broken pipe).
"""

HESSIAN_HELP = """
\b
The Hessian of a scalar function: the gradient (as a column, or shaped like a
matrix), then its Jacobian.  By a vector x: the n×n matrix of ∂²y/∂xᵢ∂xⱼ; by
scalars x,y: the block of their second partials; by an m×n matrix X: the same
over vec(X), (m·n)×(m·n), vec stacking columns.  It is symmetric, so both
layouts give the same matrix.

\b
Examples:
  mcalc hessian "x' @ A @ x" --wrt x -M A:n,n          A + Aᵀ
  mcalc hessian "sum((X@w - y)^2)" --wrt w -M X:N,n -v y:N
  mcalc hessian "norm(X@W - Y)^2" --wrt W -M X:N,n,W:n,p,Y:N,p
  mcalc hessian "x^2*y^3" --wrt x,y --verify
  mcalc hessian -f newton.mc --wrt w --emit torch -o newton.py

\b
Exit status: as for diff.
"""

CHECK_HELP = """
\b
A claim: d/dw (sum(w*x) + b) = x^T  where w, x: vector  layout numerator  tolerance 1e-9
  *.mcalc: one a line; .toml: [[claim]] tables; .tex/.ltx/.latex: '% mcalc: …'
  lines; .md/.markdown: '<!-- mcalc: … -->' comments.  A folder: its claim files.

\b
Examples:
  mcalc check paper.tex notes.md
  mcalc check docs/ --github --junit mcalc-junit.xml
  cat notes.md | mcalc check - --stdin-filename notes.md

\b
Exit status: 0 every claim passes; 1 a claim fails (or is inconclusive under
--strict, or a named file holds no claims without --allow-empty); 2 bad input
or usage; 141 the reader of standard output went away (a broken pipe).
"""


# The options of diff and hessian, declared once.
ExprArg = Annotated[Optional[str], typer.Argument(
    metavar="EXPR", show_default=False,
    help="The function, e.g. 'max(0, w·x + b)'; definitions may come first: 'u = w⊗x; sum(u)'.")]
WrtOpt = Annotated[Optional[str], typer.Option(
    "--wrt", "-w", help="The variable(s) to differentiate by: w, or x,y. Optional when the function has one variable.")]
FileOpt = Annotated[Optional[Path], typer.Option("--file", "-f", help="Read the function from a file ('-' for stdin).")]
VectorOpt = Annotated[Optional[list[str]], typer.Option(
    "--vector", "-v", help="Vectors: NAME or NAME:dim (its length from what it meets, else n); repeatable, "
                           "comma-separated.")]
MatrixOpt = Annotated[Optional[list[str]], typer.Option("--matrix", "-M", help="Matrices: NAME:rows,cols (X:N,n); repeatable.")]
ScalarOpt = Annotated[Optional[list[str]], typer.Option("--scalar", "-s", help="Scalars: NAME; repeatable, comma-separated.")]
LayoutOpt = Annotated[Layout, typer.Option(
    help="Jacobian layout: numerator (rows are outputs) or denominator (its transpose; by a matrix, the "
         "gradient shaped like the matrix).")]
FormatOpt = Annotated[Optional[Format], typer.Option(
    "--format", help="rich (terminal), text, latex, json, or dot (the dataflow diagram as Graphviz DOT). "
                     "Default: rich on a terminal, else text.")]
DiagramOpt = Annotated[Optional[Path], typer.Option(
    "--diagram", metavar="PATH", help="Also draw the paper's dataflow diagram (§4.5.1): PATH.svg, or PATH.dot "
                                      "for Graphviz.")]
LatexOpt = Annotated[bool, typer.Option("--latex", help="Same as --format latex: the answer alone.")]
StepsOpt = Annotated[bool, typer.Option("--steps", help="With --latex: the whole trace as align*.")]
AtOpt = Annotated[Optional[list[str]], typer.Option(
    "--at", help="Also evaluate there: NAME=VALUE (b=0.5, x=[1,2,3], X=[[1,2],[3,4]]); repeatable.")]
VerifyOpt = Annotated[bool, typer.Option(
    "--verify", help="Check the answer by an independent route (scalar expansion, SymPy).")]
StrictNamesOpt = Annotated[bool, typer.Option(
    "--strict-names", help="A name mcalc would have to guess at (Xw: X times w, or one name?) is an error.")]
EmitOpt = Annotated[Optional[Emit], typer.Option(
    "--emit", help="Print a Python module instead: f, f_and_grad (or f_and_jacobian) and check_gradient, "
                   "with numpy, torch or jax; checked by its own check_gradient first where that library is "
                   "installed.")]
OutputOpt = Annotated[Optional[Path], typer.Option(
    "--output", "-o", help="With --emit: write the module to this file instead of standard output.")]
NoCheckOpt = Annotated[bool, typer.Option(
    "--no-check", help="With --emit: hand the module over without running its check_gradient.")]


@app.command(epilog=DIFF_HELP)
def diff(expr: ExprArg = None, wrt: WrtOpt = None, file: FileOpt = None, vector: VectorOpt = None,
         matrix: MatrixOpt = None, scalar: ScalarOpt = None, layout: LayoutOpt = Layout.numerator,
         fmt: FormatOpt = None, latex: LatexOpt = False, steps: StepsOpt = False, at: AtOpt = None,
         example: Annotated[bool, typer.Option(
             "--example", help=f"Differentiate the built-in example {EXAMPLE!r} by w.")] = False,
         verify: VerifyOpt = False, strict_names: StrictNamesOpt = False, emit: EmitOpt = None,
         output: OutputOpt = None, no_check: NoCheckOpt = False, diagram: DiagramOpt = None):
    """Differentiate EXPR by --wrt, showing the paper's four steps."""
    if example:
        expr, wrt = EXAMPLE, wrt or "w"
    return _derivation("diff", expr, wrt, file, vector, matrix, scalar, layout, fmt, latex, steps, at, verify,
                       strict_names, emit, output, no_check, diagram)


@app.command(epilog=HESSIAN_HELP)
def hessian(expr: ExprArg = None, wrt: WrtOpt = None, file: FileOpt = None, vector: VectorOpt = None,
            matrix: MatrixOpt = None, scalar: ScalarOpt = None, layout: LayoutOpt = Layout.numerator,
            fmt: FormatOpt = None, latex: LatexOpt = False, steps: StepsOpt = False, at: AtOpt = None,
            verify: VerifyOpt = False, strict_names: StrictNamesOpt = False, emit: EmitOpt = None,
            output: OutputOpt = None, no_check: NoCheckOpt = False, diagram: DiagramOpt = None):
    """The Hessian of a scalar EXPR by --wrt: the gradient, then its Jacobian, each in four steps."""
    return _derivation("hessian", expr, wrt, file, vector, matrix, scalar, layout, fmt, latex, steps, at, verify,
                       strict_names, emit, output, no_check, diagram)


def _derivation(kind, expr, wrt, file, vector, matrix, scalar, layout, fmt, latex, steps, at, verify,
                strict_names, emit=None, output=None, no_check=False, diagram=None):
    """diff and hessian: derive, then show in the chosen format."""
    from . import api
    from .api import split_matrices, split_names

    source = _source(expr, file)
    if emit is None and (output is not None or no_check):
        raise McalcError(f"{'--output' if output is not None else '--no-check'} goes with --emit")
    if emit is not None and (fmt is not None or latex or steps or at or diagram is not None):
        what = "--format" if fmt is not None else "--latex" if latex else "--steps" if steps else "--at" if at \
            else "--diagram"
        raise McalcError(f"--emit prints a Python module; {what} goes without it")
    if latex:
        fmt = Format.latex
    if steps and fmt is not Format.latex:
        raise McalcError("--steps goes with --latex (the text, rich and JSON views always show every step)")
    vectors, matrices, scalars = split_names(vector), split_matrices(matrix), split_names(scalar)
    if wrt is None:
        wrt = _only_variable(source, vectors, matrices)
    if emit is not None:
        return _emit(kind, source, wrt, vectors, matrices, scalars, layout, verify, strict_names, emit, output,
                     no_check)
    values = _values(at)
    d = getattr(api, kind)(source, wrt, vectors=vectors, matrices=matrices, scalars=scalars, layout=layout.value,
                           strict_names=strict_names)
    function = d.gradient or d
    unknown = sorted(set(values) - set(function.variables()) - function.typing.dims)
    if unknown:
        raise McalcError(f"--at gives {', '.join(unknown)}, which the function does not use "
                         f"(its variables: {', '.join(function.variables()) or 'none'})")
    for note in d.notes:
        _err(f"mcalc: note: {note}\n")
    if diagram is not None:
        _draw(d, diagram)
    if fmt is Format.dot:
        from .diagram import dot

        _out(dot(d))
        return 0
    fmt = fmt or _default_format()
    evaluated = d.evaluate(values) if values else None
    verdict = d.verify() if verify else None
    code = int(ExitCode.FAILED) if verdict is not None and verdict.status == "failed" else 0
    if fmt is Format.json:
        data = d.to_dict(values if values else None)
        if verdict is not None:
            data["verification"] = verdict.to_dict()
        _out(_json(data))
        return code
    if fmt is Format.latex:
        if steps:
            from .render import latex_steps

            _out(latex_steps(d))
        else:
            _out(d.latex + "\n")
        if verdict is not None:
            _out(f"% verification: {verdict}\n")
        return code
    extra = []
    if evaluated is not None:
        from .evaluate import format_point, format_rows

        at = format_point({k: v.plain() for k, v in values.items()})
        extra.append(f"value at {at}: {format_rows(evaluated)}")
    if verdict is not None:
        extra.append(f"verification: {verdict}")
    if fmt is Format.rich:
        from rich.console import Console

        with _writing():
            console = Console(highlight=False, file=_stdout())
            console.print(d)
            for line in extra:  # values such as [y, 0] are text, not markup
                console.print(line, markup=False,
                              style="bold red" if line.startswith("verification: FAILED") else None)
        return code
    from .render import plain

    _out(plain(d) + "".join(line + "\n" for line in extra))
    return code


def _emit(kind, source, wrt, vectors, matrices, scalars, layout, verify, strict_names, emit, output, no_check):
    """--emit: the module, checked by its own check_gradient before it is handed over
    (and the derivation by --verify, when asked)."""
    from . import api, codegen

    derivations = api.derivations_for_code(source, wrt, vectors=vectors, matrices=matrices, scalars=scalars,
                                           layout=layout.value, strict_names=strict_names,
                                           order=2 if kind == "hessian" else 1)
    for note in dict.fromkeys(n for d in derivations for n in d.notes):
        _err(f"mcalc: note: {note}\n")
    if verify:
        for d in derivations:
            verdict = d.verify()
            _err(f"mcalc: verification of ∂/∂{','.join(d.wrt)}: {verdict}\n")
            if verdict.status == "failed":
                return int(ExitCode.FAILED)
    code = codegen.to_code(derivations, emit.value)
    if not no_check:
        checked = codegen.run_check(code, emit.value)
        if checked.status == "failed":
            _err(f"mcalc: the emitted code failed its own check_gradient(), so it is not written: "
                 f"{checked.message}\n")
            return int(ExitCode.FAILED)
        if checked.status == "not checked":
            _err(f"mcalc: note: the emitted code is not checked: {checked.message}\n")
    if output is None and not _utf(sys.stdout):
        names = codegen.non_ascii_names(code)
        if names:
            raise McalcError(f"standard output ({getattr(sys.stdout, 'encoding', None) or 'no encoding'}) cannot show "
                             f"the module's names {', '.join(names)}; write it to a file with -o FILE")
    if output is not None:
        try:
            output.write_text(code, encoding="utf-8")
        except OSError as e:
            raise McalcError(f"cannot write {output}: {e.strerror}") from None
        return 0
    _out(code)
    return 0


def _draw(d, path: Path) -> None:
    """The dataflow diagram to a file: SVG, or DOT for a .dot or .gv name."""
    from .diagram import dot, svg

    suffix = path.suffix.lower()
    if suffix not in (".svg", ".dot", ".gv"):
        raise McalcError(f"--diagram {path}: the name must end in .svg, .dot or .gv")
    try:
        path.write_text(svg(d) if suffix == ".svg" else dot(d), encoding="utf-8")
    except OSError as e:
        raise McalcError(f"--diagram {path}: cannot write it ({e.strerror or e})") from None


class Report(str, Enum):
    text = "text"
    json = "json"


@app.command(epilog=CHECK_HELP)
def check(
    files: Annotated[list[str], typer.Argument(
        metavar="FILES...", show_default=False, help="Files or folders with claims: .mcalc, .toml, .tex (% mcalc: annotations), .md (<!-- mcalc: -->); "
             "- for stdin.")],
    report: Annotated[Report, typer.Option("--report", help="text (a linter's lines) or json.")] = Report.text,
    junit: Annotated[Optional[Path], typer.Option("--junit", help="Also write JUnit XML here.")] = None,
    github: Annotated[bool, typer.Option(
        "--github", help="Also print GitHub Actions annotations (to stderr with --report json).")] = False,
    strict: Annotated[bool, typer.Option("--strict", help="Inconclusive claims fail too.")] = False,
    allow_empty: Annotated[bool, typer.Option("--allow-empty", help="A file without claims is not an error.")] = False,
    follow_includes: Annotated[bool, typer.Option(
        "--follow-includes", help="Follow \\input/\\include (only inside the top file's folder).")] = False,
    tolerance: Annotated[Optional[float], typer.Option(
        help="Relative tolerance of numeric comparisons, above 0 and below 1 (default 1e-9).")] = None,
    jobs: Annotated[int, typer.Option(
        "--jobs", "-j", min=0, max=256, help="Processes checking claims at once; 0: one per core.")] = 0,
    stdin_filename: Annotated[Optional[str], typer.Option(
        "--stdin-filename", help="The name that '-' (stdin) stands for: its suffix picks the syntax "
                                 "(.md, .tex, .toml, .mcalc) and reports use it.")] = None,
):
    """Check every claimed derivative in FILES: pass, FAIL, inconclusive."""
    from . import claims as C

    try:
        tolerance = C.valid_tolerance(tolerance, "--tolerance")
    except ValueError as e:
        raise McalcError(str(e)) from None
    results, empty = C.check_files(files, follow_includes, tolerance, jobs or os.cpu_count() or 1,
                                   stdin_filename=stdin_filename)
    if report is Report.json:
        _out(_json(C.json_report(results, strict)))
    else:
        _out("".join(line + "\n" for line in C.lint_lines(results)))
        _out("".join(f"{path}: no claims found\n" for path in empty))
        _out(C.summary_line(results) + "\n")
    if github:  # workflow commands are read from either stream; JSON keeps stdout to itself
        lines = "".join(line + "\n" for line in C.github_annotations(results, strict))
        _err(lines) if report is Report.json else _out(lines)
    if junit is not None:
        try:
            junit.write_text(C.junit_xml(results, strict), encoding="utf-8")
        except OSError as e:
            raise McalcError(f"cannot write {junit}: {e.strerror}") from None
    counts = C.summary(results)
    if counts["errors"]:
        return int(ExitCode.USAGE)
    if counts["failed"] or (strict and counts["inconclusive"]) or (empty and not allow_empty):
        return int(ExitCode.FAILED)
    return 0


# -- input ------------------------------------------------------------------------
def _default_format() -> Format:
    stdout = sys.stdout
    if os.environ.get("NO_COLOR") or stdout is None or not stdout.isatty():
        return Format.text
    return Format.rich


def _source(expr: str | None, file: Path | None) -> str:
    if expr is not None and file is not None:
        raise McalcError("give the function either as an argument or with --file, not both")
    if file is not None:
        from .parser import MAX_INPUT
        from .sources import read_text

        # A function is at most MAX_INPUT characters: read no more than that could take.
        return read_text(str(file), limit=4 * MAX_INPUT + 4)
    if expr is None:
        raise McalcError("missing the function: mcalc diff EXPR --wrt NAME (or --file FILE)")
    return expr


def _only_variable(source: str, vectors: list[str], matrices: list[str]) -> str:
    """The variable to differentiate by when --wrt is not given: the function's only one."""
    from . import ast as A
    from .parser import parse

    program = parse(source)
    defined = {name for name, _ in program.definitions}
    names = set(A.names(program.body)).union(*(A.names(e) for _, e in program.definitions)) - defined
    sizes = {size for _, _, dims in program.declarations for size in dims}
    sizes |= {d.strip() for item in vectors + matrices for d in item.partition(":")[2].split(",")}
    candidates = sorted(names - sizes)
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        raise McalcError("missing --wrt: the function has no variable to differentiate by")
    raise McalcError(f"missing --wrt: the function has the variables {', '.join(candidates)}; "
                     f"say which, e.g. --wrt {candidates[0]}")


def _values(at: list[str] | None) -> dict[str, str]:
    values: dict[str, str] = {}
    for item in at or ():
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or not name or not value.strip():
            raise McalcError(f"--at '{item[:40]}': write NAME=VALUE, e.g. x=[1,2,3]")
        if name in values:
            raise McalcError(f"--at gives {name} twice")
        from .evaluate import parse_value

        values[name] = parse_value(value)
    return values


_ATTACHED = re.compile(r"[\w:,]+")  # -vw,x -M X:N,n: a short option's attached value


def _function_first(argv: list[str]) -> list[str]:
    """`mcalc diff -x^2` or `mcalc diff "-(x + 1)" --wrt x`: an argument that starts
    with '-' but is none of diff's options (nor a short option with a name attached,
    -vw) is the function, as after '--'."""
    if not argv or argv[0] != "diff" or not any(a[:1] == "-" and a[:2] != "--" and a != "-" for a in argv[1:]):
        return argv
    command = typer.main.get_command(app).commands["diff"]
    takes_value = {"-h": False, "--help": False}
    for param in command.params:
        for opt in (*param.opts, *param.secondary_opts):
            if opt.startswith("-"):
                takes_value[opt] = not (getattr(param, "is_flag", False) or getattr(param, "count", False))
    options, functions, rest, i = [], [], argv[1:], 0
    while i < len(rest):
        arg = rest[i]
        if arg == "--":
            functions.extend(rest[i + 1:])
            break
        short = arg[:2]
        if arg.startswith("--") or arg == short and short in takes_value:
            options.append(arg)
            if takes_value.get(arg.split("=", 1)[0]) and "=" not in arg and i + 1 < len(rest):
                options.append(rest[i + 1])
                i += 1
        elif arg.startswith("-") and len(arg) > 2 and takes_value.get(short) and _ATTACHED.fullmatch(arg[2:]):
            options.append(arg)
        else:
            functions.append(arg)
        i += 1
    if not any(f.startswith("-") for f in functions):
        return argv
    return ["diff", *options, "--", *functions]


# -- output: every write goes through here ------------------------------------------
class _OutputError(Exception):
    """Standard output cannot be written (closed, full, …)."""


class _BrokenPipe(Exception):
    """The reader of stdout went away (not an OSError, which click would turn into exit 1)."""


def _stdout():
    if sys.stdout is None:
        raise _OutputError("it is closed")
    return sys.stdout


def _out(text: str) -> None:
    with _writing():
        _stdout().write(text)


class _writing:
    """OS errors while writing stdout become _BrokenPipe or _OutputError."""

    def __enter__(self):
        return self

    def __exit__(self, kind, e, tb):
        if e is None:
            return False
        if isinstance(e, BrokenPipeError):
            raise _BrokenPipe() from None
        if isinstance(e, OSError):
            raise _OutputError(e.strerror or str(e)) from None
        if isinstance(e, ValueError) and "closed file" in str(e):
            raise _OutputError("it is closed") from None
        return False


def _err(text: str) -> None:
    """Diagnostics; with stderr closed or broken they are lost, the exit status is not."""
    try:
        if sys.stderr is not None:
            sys.stderr.write(text)
            sys.stderr.flush()
    except (OSError, ValueError):
        pass


def _utf(stream) -> bool:
    import codecs

    try:
        return codecs.lookup(getattr(stream, "encoding", None) or "ascii").name.startswith("utf")
    except LookupError:
        return False


def _json(data) -> str:
    import json

    # An encoding that cannot show every character gets \u escapes: the same JSON.
    return json.dumps(data, ensure_ascii=not _utf(sys.stdout), indent=2) + "\n"


def _prepare_streams() -> None:
    """Text for a stream whose encoding cannot show it (ASCII, cp1252) is written with
    backslash escapes (∂ as \\u2202) rather than failing."""
    for stream in (sys.stdout, sys.stderr):
        if stream is not None and hasattr(stream, "reconfigure") and not _utf(stream):
            try:
                stream.reconfigure(errors="backslashreplace")
            except (ValueError, OSError):
                pass


def _wants_json(argv: list[str]) -> bool:
    return any(a in ("--format=json", "--report=json") or (a in ("--format", "--report") and b == "json")
               for a, b in zip(argv, argv[1:] + [""]))


def _json_error(kind: str, message: str, code: int, line=None, column=None) -> None:
    try:
        _out(_json({"mcalc": __version__, "error": {"kind": kind, "message": message, "line": line,
                                                    "column": column, "exit_code": code}}))
        sys.stdout.flush()
    except (_OutputError, _BrokenPipe, OSError):
        pass


def _silence_stdout() -> None:
    """After stdout failed, let the interpreter's final flush go nowhere, quietly."""
    try:
        fd = os.open(os.devnull, os.O_WRONLY)
        os.dup2(fd, sys.stdout.fileno())
        os.close(fd)
    except (OSError, AttributeError, ValueError):
        pass


def run(argv: list[str] | None = None) -> int:
    """Entry point: one line on stderr and exit 2 for any bad input."""
    argv = list(sys.argv[1:] if argv is None else argv)
    _prepare_streams()
    wants_json = _wants_json(argv)

    def usage(message: str, kind: str = "usage error", e: McalcError | None = None) -> int:
        code = int(e.exit_code) if e is not None else int(ExitCode.USAGE)
        _err(f"mcalc: {message}\n")
        if wants_json:
            _json_error(kind, e.message if e is not None else message, code,
                        getattr(e, "line", None), getattr(e, "column", None))
        return code

    try:
        result = app(args=_function_first(argv), prog_name="mcalc", standalone_mode=False)
        with _writing():
            if sys.stdout is not None:
                sys.stdout.flush()
    except McalcError as e:
        return usage(str(e), e.kind, e)
    except typer.Exit as e:
        return e.exit_code
    except typer.Abort:
        return usage("aborted")
    except typer.TyperException as e:  # usage errors: unknown option, bad --layout, ...
        if type(e).__name__ == "NoArgsIsHelpError":  # the help is already printed
            return int(ExitCode.USAGE)
        return usage(" ".join(e.format_message().split()))
    except RecursionError:
        return usage("not supported: the expression nests too deeply", "not supported")
    except (_BrokenPipe, BrokenPipeError):  # the reader went away: stop quietly, as a pipeline expects
        _silence_stdout()
        return int(ExitCode.BROKEN_PIPE)
    except _OutputError as e:
        _silence_stdout()
        _err(f"mcalc: error: cannot write to standard output: {e}\n")
        return int(ExitCode.USAGE)
    except KeyboardInterrupt:
        _err("mcalc: interrupted\n")
        return int(ExitCode.INTERRUPTED)
    except Exception as e:  # a bug in mcalc, not in the input: still one line
        if os.environ.get("MCALC_DEBUG"):
            raise
        _err(f"mcalc: internal error ({type(e).__name__}: {e}); please report it with the command line\n")
        return int(ExitCode.INTERNAL)
    return result if isinstance(result, int) else 0


def _terminated(signum, frame):
    raise SystemExit(128 + signum)  # unwinds: a parallel check stops its workers on the way out


def entry() -> None:
    import signal

    if hasattr(signal, "SIGTERM"):
        signal.signal(signal.SIGTERM, _terminated)
    code = run()
    if code == ExitCode.BROKEN_PIPE and hasattr(signal, "SIGPIPE"):
        # End as a pipeline's writer conventionally does when its reader is gone: by SIGPIPE.
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGPIPE)
    sys.exit(code)
