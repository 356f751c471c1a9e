"""The command line's boundary, which needs no typer: running diff and hessian
and showing their answers, the streams and exit statuses.

Every failure of a stream (closed, full, a broken pipe, an encoding that cannot
show the output) is handled once, in :func:`run`.  The common invocations of
``diff`` and ``hessian`` — options mcalc knows, each written once — are read here
and run directly, so that answering them does not wait for typer's import; any
other command line (help, ``check``, an unknown option, a function that starts
with '-') goes to the typer application in :mod:`mcalc.cli`, whose options are
the definition of the command line.
"""
from __future__ import annotations

import os
import sys
from enum import Enum
from typing import TYPE_CHECKING

from . import __version__
from .errors import ExitCode, McalcError

if TYPE_CHECKING:  # pathlib costs a few milliseconds of start-up, and only files need it
    from pathlib import Path

EXAMPLE = "sum(w*x)+b"


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


def _derivation(kind, expr, wrt, file, *options, **more):
    """diff and hessian: derive, then show in the chosen format."""
    source = _source(expr, file, kind)
    try:
        return _shown(kind, source, wrt, *options, **more)
    except McalcError as e:  # in a function of several lines, a place on the first says so too
        if e.column is not None and e.line is None and "\n" in source.strip():
            e.line, e.several_lines = 1, True
        raise


def _shown(kind, source, wrt, vector, matrix, scalar, layout, fmt, latex, steps, at, verify,
           strict_names, emit=None, output=None, no_check=False, diagram=None):
    from . import api
    from .api import split_matrices, split_names

    if wrt is not None and not isinstance(wrt, str):  # --wrt w --wrt b: both (the last alone was kept, in silence)
        wrt = ",".join(wrt)
    if emit is None and (output is not None or no_check):
        raise McalcError(f"{'--output' if output is not None else '--no-check'} goes with --emit")
    if emit is not None and (fmt is not None or latex or steps or at or diagram is not None):
        what = "--format" if fmt is not None else "--latex" if latex else "--steps" if steps else "--at" if at \
            else "--diagram"
        raise McalcError(f"--emit prints a Python module; {what} goes without it")
    if latex and fmt not in (None, Format.latex):
        raise McalcError(f"--latex is --format latex; it goes without --format {fmt.value}")
    if latex:
        fmt = Format.latex
    if steps and fmt is not Format.latex:
        raise McalcError("--steps goes with --latex (the text, rich and JSON views always show every step)")
    if fmt is Format.dot and (at or verify):  # they were dropped in silence
        raise McalcError(f"--format dot draws the dataflow only; {'--at' if at else '--verify'} goes without it")
    vectors, matrices, scalars = split_names(vector), split_matrices(matrix), split_names(scalar)
    if wrt is None:
        wrt = api.only_variable(source, vectors, matrices, scalars)
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
        if evaluated is not None:  # a comment, as the verification is: the LaTeX stays the derivative
            from .evaluate import format_point, format_rows

            _out(f"% value at {format_point({k: v.plain() for k, v in values.items()})}: {format_rows(evaluated)}\n")
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


# -- input ------------------------------------------------------------------------
def _default_format() -> Format:
    stdout = sys.stdout
    if os.environ.get("NO_COLOR") or stdout is None or not stdout.isatty():
        return Format.text
    return Format.rich


def _source(expr: str | None, file: Path | None, kind: str = "diff") -> str:
    if expr is not None and file is not None:
        raise McalcError("give the function either as an argument or with --file, not both")
    if file is not None:
        from .parser import MAX_INPUT
        from .sources import read_text

        # A function is at most MAX_INPUT characters: read no more than that could take.
        return read_text(str(file), limit=4 * MAX_INPUT + 4)
    if expr is None:
        raise McalcError(f"missing the function: mcalc {kind} EXPR --wrt NAME (or --file FILE)")
    return expr


def _values(at: list[str] | None) -> dict[str, str]:
    values: dict[str, str] = {}
    for item in at or ():
        name, sep, value = item.partition("=")
        from .parser import canonical_name

        name = canonical_name(name.strip())  # w₁, w_1 and w1 are one name, here as in the function
        if not sep or not name or not value.strip():
            raise McalcError(f"--at '{item[:40]}': write NAME=VALUE, e.g. x=[1,2,3]")
        if name in values:
            raise McalcError(f"--at gives {name} twice")
        from .evaluate import parse_value

        values[name] = parse_value(value)
    return values


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


def _escape(error: UnicodeError) -> tuple[str, int]:
    chars = error.object[error.start:error.end]
    return "".join(f"\\u{ord(c):04x}" if ord(c) <= 0xFFFF else f"\\U{ord(c):08x}" for c in chars), error.end


def _prepare_streams() -> None:
    """Text for a stream whose encoding cannot show it (ASCII, cp1252) is written with
    backslash escapes (∂ as \\u2202, × as \\u00d7: always four or eight hex digits, as
    JSON and Python write them) rather than failing."""
    for stream in (sys.stdout, sys.stderr):
        if stream is not None and hasattr(stream, "reconfigure") and not _utf(stream):
            import codecs

            codecs.register_error("mcalc.escape", _escape)
            try:
                stream.reconfigure(errors="mcalc.escape")
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


# -- the common command lines, read without typer ---------------------------------------
_FLAGS = {"--latex": "latex", "--steps": "steps", "--verify": "verify", "--strict-names": "strict_names",
          "--example": "example", "--no-check": "no_check"}
_ONE = {"--wrt": "wrt", "-w": "wrt", "--file": "file", "-f": "file", "--layout": "layout", "--format": "fmt",
        "--emit": "emit", "--output": "output", "-o": "output", "--diagram": "diagram"}
_MANY = {"--vector": "vector", "-v": "vector", "--matrix": "matrix", "-M": "matrix", "--scalar": "scalar",
         "-s": "scalar", "--at": "at"}
_CHOICES = {"layout": Layout, "fmt": Format, "emit": Emit}


def quick(argv: list[str]) -> tuple | None:
    """The arguments of _derivation for `mcalc diff|hessian …` written with the options
    as typer reads them (--opt value, --opt=value, -o value), or None for anything
    else: the typer application then reads the command line, and reports its errors."""
    if not argv or argv[0] not in ("diff", "hessian"):
        return None
    kind, got, many, positional = argv[0], {}, {}, []
    i = 1
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            positional.extend(argv[i + 1:])
            break
        if not arg.startswith("-") or arg == "-":
            positional.append(arg)
            i += 1
            continue
        name, eq, value = arg.partition("=") if arg.startswith("--") else (arg, "", "")
        if name in _FLAGS and not eq:
            got[_FLAGS[name]] = True
        elif name in _ONE or name in _MANY:
            if not eq:
                if i + 1 >= len(argv):
                    return None
                i += 1
                value = argv[i]
            if name in _ONE:
                if _ONE[name] in got:
                    return None  # written twice: typer's reading decides
                got[_ONE[name]] = value
            else:
                many.setdefault(_MANY[name], []).append(value)
        else:
            return None  # -h, an unknown option, -vw, a function starting with '-'
        i += 1
    if len(positional) > 1 or (kind == "hessian" and "example" in got):
        return None
    for key, choices in _CHOICES.items():
        if key in got:
            if got[key] not in {c.value for c in choices}:
                return None
            got[key] = choices(got[key])
    expr = positional[0] if positional else None
    wrt = got.get("wrt")
    if got.get("example"):
        expr, wrt = EXAMPLE, wrt or "w"
    path = {key: None for key in ("file", "output", "diagram")}
    if any(key in got for key in path):
        from pathlib import Path

        path = {key: Path(got[key]) if key in got else None for key in path}
    return (kind, expr, wrt, path["file"], many.get("vector"), many.get("matrix"), many.get("scalar"),
            got.get("layout", Layout.numerator), got.get("fmt"), bool(got.get("latex")), bool(got.get("steps")),
            many.get("at"), bool(got.get("verify")), bool(got.get("strict_names")), got.get("emit"),
            path["output"], bool(got.get("no_check")), path["diagram"])


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
        arguments = quick(argv)
        if arguments is not None:
            result = _derivation(*arguments)
        else:
            from .cli import app, function_first

            result = app(args=function_first(argv), prog_name="mcalc", standalone_mode=False)
        with _writing():
            if sys.stdout is not None:
                sys.stdout.flush()
    except McalcError as e:
        return usage(str(e), e.kind, e)
    except _TYPER_ERRORS() as e:
        import typer

        if isinstance(e, typer.Exit):
            return e.exit_code
        if isinstance(e, typer.Abort):
            return usage("aborted")
        if type(e).__name__ == "NoArgsIsHelpError":  # `mcalc` alone, `mcalc check` with no file: the help
            _out(e.ctx.get_help() + "\n")
            return int(ExitCode.USAGE)
        return usage(" ".join(e.format_message().split()))
    except RecursionError:
        from .errors import NotSupported

        deep = NotSupported("the expression nests too deeply: mcalc's tree walks reach some thousands of operations "
                            "in one chain (a sum of that many terms, or its derivative's); a sum of terms of one form "
                            "is a sum over a vector (sum(sin(k ⊗ x)), k a vector), and a deep nest a chain of "
                            "definitions")
        return usage(str(deep), deep.kind, deep)
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


def _TYPER_ERRORS() -> tuple:
    """typer's exceptions, once the typer application has been imported (else none can arise)."""
    typer = sys.modules.get("typer")
    return (typer.Exit, typer.Abort, typer.TyperException) if typer is not None else ()


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
