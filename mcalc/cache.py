"""Where the grammar's LALR tables are cached, if they can be cached safely.

Lark stores the tables with pickle, and unpickling runs code: a cache file that
someone else could write is a way to run their code as this user.  So the
cache lives in a folder this user owns that nobody else can write to, in a
file this user owns that nobody else can write to (created 0600 before Lark
fills it); anything else, and mcalc builds the tables afresh instead.  The
same holds for the plain tables the parser's loop reads at every start
(``tables.FILE``, JSON): a file someone else wrote could change what a
formula parses to.
"""
from __future__ import annotations

import os
import stat

FILE = "mcalc-grammar.lark.cache"


def grammar_cache() -> str | bool:
    """Lark's cache file's path, or False: no cache (the tables are built in memory)."""
    return private_file(FILE, create=True)


def private_file(name: str, create: bool = False) -> str | bool:
    """The path of a file in mcalc's cache folder, or False where it could be someone
    else's: the folder private to this user, and the file, if it is there (or made
    here, with ``create``), a private file of this user's (not a link)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    folder = os.path.join(base, "mcalc")
    path = os.path.join(folder, name)
    try:
        os.makedirs(folder, mode=0o700, exist_ok=True)
        if not (_safe(os.path.dirname(os.path.abspath(folder)), parent=True) and _safe(folder)):
            return False
        if create:
            try:  # a new file is this user's and private from the start; Lark's write keeps that
                os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600))
            except FileExistsError:
                pass
        elif not os.path.lexists(path):
            return path
        return path if _safe(path) else False
    except OSError:
        return False


def _safe(path: str, parent: bool = False) -> bool:
    """Owned by this user (or, for the folder above, by root), not a symbolic link, and
    writable by nobody else (a sticky folder above, like /tmp, cannot lose our folder)."""
    if not hasattr(os, "getuid"):  # Windows: the profile's folders are private to the user
        return True
    info = os.stat(path) if parent else os.lstat(path)  # the folder above may be a link (~/.cache)
    owners = (os.getuid(), 0) if parent else (os.getuid(),)
    if stat.S_ISLNK(info.st_mode) or info.st_uid not in owners:
        return False
    if parent and info.st_mode & stat.S_ISVTX:
        return True
    return not info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
