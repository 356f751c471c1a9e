"""The command line: a thin typer shell over the library.

Results go to stdout, diagnostics to stderr (one line, no traceback); bad
input exits 2.  Colour only on a terminal, and never with NO_COLOR.
"""
from __future__ import annotations

import os
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from . import __version__
from .errors import ExitCode, McalcError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Matrix-calculus derivatives, step by step, in the notation of Parr & Howard.")


class Format(str, Enum):
    rich = "rich"
    text = "text"
    latex = "latex"
    json = "json"


class Layout(str, Enum):
    numerator = "numerator"
    denominator = "denominator"


def _version(value: bool):
    if value:
        typer.echo(f"mcalc {__version__}")
        raise typer.Exit()


@app.callback()
def main(version: Annotated[Optional[bool], typer.Option(
        "--version", callback=_version, is_eager=True, help="Print the version and exit.")] = None):
    """mcalc: derive, show every step, check."""


EXAMPLE = "sum(w*x)+b"


@app.command()
def diff(
    expr: Annotated[Optional[str], typer.Argument(
        help="The function, e.g. 'max(0, w·x + b)'; definitions may come first: 'u = w⊗x; sum(u)'.")] = None,
    wrt: Annotated[Optional[str], typer.Option(
        "--wrt", "-w", help="The variable(s) to differentiate by: w, or x,y.")] = None,
    file: Annotated[Optional[Path], typer.Option(
        "--file", "-f", help="Read the function from a file ('-' for stdin).")] = None,
    vector: Annotated[Optional[list[str]], typer.Option(
        "--vector", "-v", help="Vectors: NAME or NAME:dim (length n by default); repeatable, comma-separated.")] = None,
    matrix: Annotated[Optional[list[str]], typer.Option(
        "--matrix", "-M", help="Matrices: NAME:rows,cols (X:N,n); repeatable.")] = None,
    scalar: Annotated[Optional[list[str]], typer.Option(
        "--scalar", "-s", help="Scalars: NAME; repeatable, comma-separated.")] = None,
    layout: Annotated[Layout, typer.Option(help="Jacobian layout.")] = Layout.numerator,
    fmt: Annotated[Optional[Format], typer.Option(
        "--format", help="rich (terminal), text, latex or json. Default: rich on a terminal, else text.")] = None,
    latex: Annotated[bool, typer.Option("--latex", help="Same as --format latex: the answer alone.")] = False,
    steps: Annotated[bool, typer.Option("--steps", help="With --latex: the whole trace as align*.")] = False,
    at: Annotated[Optional[list[str]], typer.Option(
        "--at", help="Also evaluate there: NAME=VALUE (b=0.5, x=[1,2,3], X=[[1,2],[3,4]]); repeatable.")] = None,
    example: Annotated[bool, typer.Option(
        "--example", help=f"Differentiate the built-in example {EXAMPLE!r} by w.")] = False,
    verify: Annotated[bool, typer.Option(
        "--verify", help="Check the answer by an independent route (scalar expansion, SymPy).")] = False,
    strict_names: Annotated[bool, typer.Option(
        "--strict-names", help="A name mcalc would have to guess at (Xw: X times w, or one name?) is an error.")] = False,
):
    """Differentiate EXPR by --wrt, showing the paper's four steps."""
    from .api import diff as derive_
    from .api import split_matrices, split_names

    if example:
        expr, wrt = EXAMPLE, wrt or "w"
    source = _source(expr, file)
    if not wrt:
        raise McalcError("missing --wrt: the variable to differentiate by")
    values = _values(at)
    d = derive_(source, wrt, vectors=split_names(vector), matrices=split_matrices(matrix),
                scalars=split_names(scalar), layout=layout.value, strict_names=strict_names)
    unknown = sorted(set(values) - set(d.variables()) - d.typing.dims)
    if unknown:
        raise McalcError(f"--at gives {', '.join(unknown)}, which the function does not use "
                         f"(its variables: {', '.join(d.variables()) or 'none'})")
    for note in d.notes:
        sys.stderr.write(f"mcalc: note: {note}\n")
    if latex:
        fmt = Format.latex
    fmt = fmt or _default_format()
    evaluated = d.evaluate(values) if values else None
    verdict = d.verify() if verify else None
    code = int(ExitCode.FAILED) if verdict is not None and verdict.status == "failed" else 0
    if fmt is Format.json:
        import json

        data = d.to_dict(values if values else None)
        if verdict is not None:
            data["verification"] = verdict.to_dict()
        sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")
        return code
    if fmt is Format.latex:
        from .render import latex_steps

        sys.stdout.write(latex_steps(d) if steps else d.latex + "\n")
        if verdict is not None:
            sys.stdout.write(f"% verification: {verdict}\n")
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

        console = Console(highlight=False)
        console.print(d)
        for line in extra:
            console.print(line, style="bold red" if line.startswith("verification: FAILED") else None)
        return code
    from .render import plain

    sys.stdout.write(plain(d) + "".join(line + "\n" for line in extra))
    return code


class Report(str, Enum):
    text = "text"
    json = "json"


@app.command()
def check(
    files: Annotated[list[str], typer.Argument(
        help="Files with claims: .mcalc, .toml, .tex (% mcalc: annotations), .md (<!-- mcalc: -->); - for stdin.")],
    report: Annotated[Report, typer.Option("--report", help="text (a linter's lines) or json.")] = Report.text,
    junit: Annotated[Optional[Path], typer.Option("--junit", help="Also write JUnit XML here.")] = None,
    github: Annotated[bool, typer.Option("--github", help="Also print GitHub Actions annotations.")] = False,
    strict: Annotated[bool, typer.Option("--strict", help="Inconclusive claims fail too.")] = False,
    allow_empty: Annotated[bool, typer.Option("--allow-empty", help="A file without claims is not an error.")] = False,
    follow_includes: Annotated[bool, typer.Option(
        "--follow-includes", help="Follow \\input/\\include (only inside the file's folder).")] = False,
    tolerance: Annotated[Optional[float], typer.Option(help="Relative tolerance of numeric comparisons.")] = None,
    jobs: Annotated[int, typer.Option(
        "--jobs", "-j", min=0, max=256, help="Processes checking claims at once; 0: one per core.")] = 0,
):
    """Check every claimed derivative in FILES: pass, FAIL, inconclusive."""
    from . import claims as C

    import json

    results, empty = C.check_files(files, _read, follow_includes, tolerance, jobs or os.cpu_count() or 1)
    if report is Report.json:
        sys.stdout.write(json.dumps(C.json_report(results), ensure_ascii=False, indent=2) + "\n")
    else:
        for line in C.lint_lines(results):
            sys.stdout.write(line + "\n")
        for path in empty:
            sys.stdout.write(f"{path}: no claims found\n")
        sys.stdout.write(C.summary_line(results) + "\n")
    if github:
        for line in C.github_annotations(results):
            sys.stdout.write(line + "\n")
    if junit is not None:
        try:
            junit.write_text(C.junit_xml(results), encoding="utf-8")
        except OSError as e:
            raise McalcError(f"cannot write {junit}: {e.strerror}") from None
    counts = C.summary(results)
    if counts["errors"]:
        return int(ExitCode.USAGE)
    if counts["failed"] or (strict and counts["inconclusive"]) or (empty and not allow_empty):
        return int(ExitCode.FAILED)
    return 0


def _read(path: str) -> str:
    try:
        return sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise McalcError(f"cannot read {path}: {getattr(e, 'strerror', None) or e}") from None


def _default_format() -> Format:
    if os.environ.get("NO_COLOR") or not sys.stdout.isatty():
        return Format.text
    return Format.rich


def _source(expr: str | None, file: Path | None) -> str:
    if expr is not None and file is not None:
        raise McalcError("give the function either as an argument or with --file, not both")
    if file is not None:
        try:
            return sys.stdin.read() if str(file) == "-" else file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise McalcError(f"cannot read {file}: {getattr(e, 'strerror', None) or e}") from None
    if expr is None:
        raise McalcError("missing the function: mcalc diff EXPR --wrt NAME (or --file FILE)")
    return expr


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


def run(argv: list[str] | None = None) -> int:
    """Entry point: one line on stderr and exit 2 for any bad input."""
    try:
        result = app(args=argv, prog_name="mcalc", standalone_mode=False)
    except McalcError as e:
        sys.stderr.write(f"mcalc: {e}\n")
        return int(e.exit_code)
    except typer.Exit as e:
        return e.exit_code
    except typer.Abort:
        sys.stderr.write("mcalc: aborted\n")
        return int(ExitCode.USAGE)
    except typer.TyperException as e:  # usage errors: unknown option, bad --layout, ...
        if type(e).__name__ == "NoArgsIsHelpError":  # the help is already printed
            return int(ExitCode.USAGE)
        sys.stderr.write(f"mcalc: {' '.join(e.format_message().split())}\n")
        return int(ExitCode.USAGE)
    except RecursionError:
        sys.stderr.write("mcalc: not supported: the expression nests too deeply\n")
        return int(ExitCode.USAGE)
    except BrokenPipeError:
        return 0
    except Exception as e:  # a bug in mcalc, not in the input: still one line
        if os.environ.get("MCALC_DEBUG"):
            raise
        sys.stderr.write(f"mcalc: internal error ({type(e).__name__}: {e}); "
                         f"please report it with the command line\n")
        return 70
    return result if isinstance(result, int) else 0


def entry() -> None:
    sys.exit(run())
