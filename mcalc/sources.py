"""Reading what the user points mcalc at: files, folders, standard input.

Every read is bounded (a device like /dev/zero never ends), a FIFO without a
writer is empty rather than a hang, and anything unreadable becomes one
McalcError naming the path and why.
"""
from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

from .errors import McalcError

MAX_FILE_BYTES = 64 * 1024 * 1024
# The suffixes `mcalc check` reads claims from; a folder is searched for these.
CLAIM_SUFFIXES = (".mcalc", ".tex", ".ltx", ".latex", ".md", ".markdown", ".toml")
_SKIPPED_FOLDERS = {"__pycache__", "node_modules"}


class SourceError(McalcError):
    kind = "error"


def read_text(path: str, limit: int = MAX_FILE_BYTES, what: str | None = None) -> str:
    """The UTF-8 text of a file, or of standard input for '-'."""
    what = what or ("standard input" if path == "-" else path)
    if path == "-":
        stream = sys.stdin
        if stream is None:
            raise SourceError(f"cannot read {what}: it is closed")
        try:
            data = stream.buffer.read(limit + 1) if hasattr(stream, "buffer") else \
                stream.read(limit + 1).encode("utf-8", "surrogateescape")
        except OSError as e:
            raise SourceError(f"cannot read {what}: {e.strerror or e}") from None
        except ValueError:  # a closed stream object
            raise SourceError(f"cannot read {what}: it is closed") from None
    else:
        data = _read_file(path, limit, what)
    if len(data) > limit:
        raise SourceError(f"{what} is larger than {_size(limit)}; mcalc reads up to that")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise SourceError(f"cannot read {what}: not UTF-8 text (byte {e.start + 1} is 0x{data[e.start]:02x}); "
                          f"save it as UTF-8") from None
    return text.removeprefix("\ufeff")


def _read_file(path: str, limit: int, what: str) -> bytes:
    try:
        info = os.stat(path)
        kind = stat.S_IFMT(info.st_mode)
        if kind == stat.S_IFDIR:
            raise SourceError(f"{what} is a folder; give the files in it (mcalc check searches folders)")
        if kind not in (stat.S_IFREG, stat.S_IFIFO):
            raise SourceError(f"{what} is not a regular file ({_kinds.get(kind, 'a special file')}); "
                              f"pipe it in with '-' if you mean its contents")
        # A FIFO opens without waiting for a writer; with none, it reads as empty.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
        try:
            if kind == stat.S_IFIFO and hasattr(os, "set_blocking"):
                os.set_blocking(fd, True)
            chunks, size = [], 0
            while size <= limit:
                chunk = os.read(fd, min(1 << 20, limit + 1 - size))
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
            return b"".join(chunks)
        finally:
            os.close(fd)
    except OSError as e:
        raise SourceError(f"cannot read {what}: {e.strerror or e}") from None


_kinds = {stat.S_IFCHR: "a character device", stat.S_IFBLK: "a block device", stat.S_IFSOCK: "a socket"}


def _size(n: int) -> str:
    return f"{n // (1024 * 1024)} MiB" if n >= 1024 * 1024 else f"{n} bytes"


def expand(paths: list[str]) -> list[tuple[str, bool]]:
    """The files to check, in order: each path given, and each folder's claim files
    (sorted, hidden ones and caches skipped), paired with whether it was named
    (a named file without claims is reported; one found in a folder is not)."""
    out: list[tuple[str, bool]] = []
    for path in paths:
        if path != "-" and os.path.isdir(path):
            found = _walk(path)
            if not found:
                raise SourceError(f"{path} is a folder with no {', '.join(CLAIM_SUFFIXES)} files in it")
            out.extend((p, False) for p in found)
        else:
            out.append((path, True))
    return out


def _walk(folder: str) -> list[str]:
    found = []
    for root, dirs, files in os.walk(folder):  # symbolic links to folders are not followed
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in _SKIPPED_FOLDERS)
        for name in sorted(files):
            if not name.startswith(".") and Path(name).suffix.lower() in CLAIM_SUFFIXES:
                path = os.path.join(root, name)
                if os.path.isfile(path):
                    found.append(path)
    return found
