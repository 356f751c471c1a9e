"""The command line: a thin typer shell over the library.

Its options are the definition of mcalc's command line.  Results go to stdout,
diagnostics to stderr (one line, no traceback); bad input exits 2.  Colour
only on a terminal, and never with NO_COLOR.  Running, streams and exit
statuses are :mod:`mcalc.shell`'s, which also reads the common command lines
without waiting for typer.
"""
from __future__ import annotations

import re
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from . import __version__
from .errors import ExitCode, McalcError
from .shell import EXAMPLE, Emit, Format, Layout, _derivation, _err, _json, _out, entry, run

__all__ = ["app", "entry", "run", "function_first"]  # entry and run: the console script's, from mcalc.shell

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  rich_markup_mode=None, context_settings={"help_option_names": ["-h", "--help"]},
                  help="Matrix-calculus derivatives, step by step, in the notation of Parr & Howard.")


def _version(value: bool):
    if value:
        _out(f"mcalc {__version__}\n")
        raise typer.Exit()


@app.callback()
def main(version: Annotated[Optional[bool], typer.Option(
        "--version", callback=_version, is_eager=True, help="Print the version and exit.")] = None):
    """mcalc: derive, show every step, check."""


DIFF_HELP = """
\b
The language (mcalc's own, or the LaTeX and Unicode a paper writes):
  3  0.5  x  w1  λ  𝐰  \\mathbf{w}   numbers and names (bold: a vector)
  + -  * / ^  ⊗ ⊘                   element-wise, with scalar expansion
  ·  dot(a, b)   @   ^T ᵀ '         dot product, matrix product, transpose
  > < >= <=                         1 where true, else 0
  sum mean max min exp ln sin cos tan tanh sinh cosh sigmoid softplus
  relu abs sqrt asin acos atan asinh acosh atanh (arcsin …)
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
WrtOpt = Annotated[Optional[list[str]], typer.Option(
    "--wrt", "-w", help="The variable(s) to differentiate by: w, or x,y (or --wrt x --wrt y). Optional when the "
                        "function has one variable.")]
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
        help="Relative tolerance of numeric comparisons, above 0 and below 1 (default: none; floats screen at 1e-12, then SymPy's 30 digits decide at 1e-15).")] = None,
    jobs: Annotated[int, typer.Option(
        "--jobs", "-j", min=0, max=256,
        help="Processes checking claims at once; 0: one per core that is free now.")] = 0,
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
    results, empty = C.check_files(files, follow_includes, tolerance, jobs,
                                   stdin_filename=stdin_filename)
    if report is Report.json:
        _out(_json(C.json_report(results, strict)))
    else:
        _out("".join(line + "\n" for line in C.lint_lines(results)))
        if not allow_empty:  # with it (as the pre-commit hook runs), a file without claims is no news
            _out("".join(f"{path}: no claims found{C.include_hint(path, follow_includes)}\n" for path in empty))
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


_ATTACHED = re.compile(r"[\w:,]+")  # -vw,x -M X:N,n: a short option's attached value


def function_first(argv: list[str]) -> list[str]:
    """`mcalc diff -x^2` or `mcalc hessian "-(x + 1)^2" --wrt x`: an argument that starts
    with '-' but is none of diff's options (nor a short option with a name attached,
    -vw) is the function, as after '--'."""
    if not argv or argv[0] not in ("diff", "hessian") or \
            not any(a[:1] == "-" and a[:2] != "--" and a != "-" for a in argv[1:]):
        return argv
    command = typer.main.get_command(app).commands[argv[0]]
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
    if not any(f.startswith("-") for f in functions) or len(functions) > 1:
        return argv  # (two functions: the one that starts with '-' is an option mistyped, -V for -v)
    return [argv[0], *options, "--", *functions]


