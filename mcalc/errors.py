"""One exception hierarchy, one set of exit codes."""
from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    FAILED = 1  # a claim failed (mcalc check)
    USAGE = 2  # bad input: parse, shape, declaration, option errors; a stream that fails
    INTERNAL = 70  # a bug in mcalc (EX_SOFTWARE)
    INTERRUPTED = 130  # Ctrl-C (128 + SIGINT)
    BROKEN_PIPE = 141  # the reader of stdout went away (128 + SIGPIPE)


# A position on line k > 1 of the input is (k - 1)·LINE_STRIDE + its column (nodes keep one number)
LINE_STRIDE = 1 << 20


def line_and_column(pos: int) -> tuple[int, int]:
    """A node's position as its 1-based line and column."""
    line, column = divmod(pos, LINE_STRIDE)
    return line + 1, column


def place(pos: int) -> str:
    """A node's position as words: "column 5", or "line 3, column 5" on a later line."""
    line, column = line_and_column(pos)
    return f"line {line}, column {column}" if line > 1 else f"column {column}"


class McalcError(Exception):
    """Bad input that mcalc explains in one line; ``column`` is 1-based."""

    exit_code = ExitCode.USAGE
    kind = "error"

    def __init__(self, message: str, column: int | None = None, line: int | None = None):
        super().__init__(message)
        if column is not None and column > LINE_STRIDE:  # a node's pos on a later line: both in one
            line, column = line_and_column(column)
        self.message = message
        self.column = column
        self.line = line
        self.several_lines = False  # the input has several: line 1 is said too

    def __str__(self) -> str:
        where = ""
        if self.line is not None and (self.line > 1 or self.several_lines):
            where = f"line {self.line}, column {self.column}: " if self.column else f"line {self.line}: "
        elif self.column is not None:
            where = f"column {self.column}: "
        return f"{self.kind}: {where}{self.message}"


class ParseError(McalcError):
    kind = "syntax error"


class ShapeError(McalcError):
    kind = "shape error"


class DeclarationError(McalcError):
    kind = "declaration error"


class NotSupported(McalcError):
    """Something mcalc cannot derive: it says so instead of guessing."""

    kind = "not supported"


class EvaluationError(McalcError):
    kind = "evaluation error"


class MissingValue(EvaluationError):
    """No value was given for a name the expression needs."""


class Overflow(EvaluationError):
    """A value beyond floating point (the point is fine; the numbers are too large)."""
