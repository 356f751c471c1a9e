"""Real streams and signals, in fresh processes: stdout closed or full, stdin and
stderr closed, a broken pipe, ASCII and cp1252 terminals, devices and FIFOs as
inputs, SIGTERM to a parallel check.  Each ends in a clear line and the
conventional status, never a traceback or a hang (every run has a timeout)."""
from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MCALC = [sys.executable, "-m", "mcalc"]
pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX streams and signals")


def shell(command: str, timeout: float = 30, env=None, encoding: str = "utf-8"):
    """Run mcalc inside a shell line (for redirections such as >&-)."""
    line = command.replace("MCALC", " ".join(shlex.quote(a) for a in MCALC))
    return subprocess.run(["bash", "-c", line], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})}, encoding=encoding)


def one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mcalc: ") and "Traceback" not in stderr, stderr
    assert "internal error" not in stderr
    return lines[0]


@pytest.mark.parametrize("args", ["diff 'x^2' --format text", "check examples/notes.md", "--version"])
def test_stdout_closed(args):
    r = shell(f"cd {shlex.quote(str(ROOT))} && MCALC {args} >&-")
    assert r.returncode == 2
    assert "cannot write to standard output: it is closed" in one_line(r.stderr)


@pytest.mark.parametrize("args", ["diff 'x^2' --format text", "diff 'x^2' --format json",
                                  "check examples/notes.md --report json"])
def test_stdout_full(args):
    r = shell(f"cd {shlex.quote(str(ROOT))} && MCALC {args} > /dev/full")
    assert r.returncode == 2
    assert "cannot write to standard output: No space left on device" in one_line(r.stderr)


@pytest.mark.parametrize("args", ["diff -f - --wrt x", "check -"])
def test_stdin_closed(args):
    r = shell(f"MCALC {args} <&-")
    assert r.returncode == 2 and "cannot read standard input: it is closed" in one_line(r.stderr)


def test_stderr_closed_keeps_the_exit_code():
    assert shell("MCALC diff '(x' --wrt x 2>&-").returncode == 2
    assert shell("MCALC check /nonexistent.md 2>&-").returncode == 2


def test_a_broken_pipe_ends_by_sigpipe_not_as_a_failed_claim():
    proc = subprocess.Popen([*MCALC, "check", str(ROOT / "examples" / "paper.tex"), "--jobs", "1"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # the reader is gone before anything is written
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGPIPE and err == b""
    r = shell(f"MCALC check {shlex.quote(str(ROOT / 'examples' / 'paper.tex'))} | true; "
              "echo ${PIPESTATUS[0]}")
    assert r.stdout.strip() in ("0", "141") and r.stderr == ""  # 0 when all was written before true ended


@pytest.mark.parametrize("encoding", ["ascii", "cp1252"])
def test_terminals_that_cannot_show_the_symbols(encoding):
    env = {"PYTHONIOENCODING": encoding}
    r = shell("MCALC diff 'sum(w*x)+b' --wrt w --format text", env=env, encoding=encoding)
    assert r.returncode == 0 and r.stderr == ""
    times = "\\u00d7" if encoding == "ascii" else "×"  # cp1252 has ×, not ∂ or ᵀ; escapes are all \\uXXXX
    assert r.stdout.rstrip().splitlines()[-1] == f"\\u2202y/\\u2202w = x\\u1d40    (1{times}n row vector)"
    r = shell("MCALC diff 'sum(w*x)+b' --wrt w --format json", env=env)
    assert r.returncode == 0 and r.stdout.isascii()
    assert json.loads(r.stdout)["result"]["unicode"] == "xᵀ"
    r = shell("MCALC diff 'w ⊗ X' --wrt w -v w -M X:N,n", env=env, encoding=encoding)
    assert r.returncode == 2 and one_line(r.stderr)


def test_a_device_is_refused_and_a_fifo_without_writer_is_empty(tmp_path):
    r = shell("MCALC check /dev/zero", timeout=5)
    assert r.returncode == 2 and "not a regular file (a character device)" in one_line(r.stderr)
    r = shell("MCALC check - < /dev/zero", timeout=5)
    assert r.returncode == 2 and "larger than 64 MiB" in one_line(r.stderr)
    r = shell("MCALC diff -f /dev/zero", timeout=5)
    assert r.returncode == 2
    fifo = tmp_path / "claims.mcalc"
    os.mkfifo(fifo)
    r = shell(f"MCALC check {shlex.quote(str(fifo))}", timeout=5)
    assert r.returncode == 1 and r.stdout.startswith(f"{fifo}: no claims found")


def test_a_fifo_with_a_writer_is_read(tmp_path):
    fifo = tmp_path / "claims.mcalc"
    os.mkfifo(fifo)

    def write():
        with open(fifo, "w") as f:  # blocks until mcalc opens it
            f.write("d/dx (x^2) = 2x\n")

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    time.sleep(0.2)
    r = shell(f"MCALC check {shlex.quote(str(fifo))}", timeout=10)
    writer.join(timeout=5)
    assert r.returncode in (0, 1)  # 1 only if mcalc opened it before the writer did: then it was empty
    assert r.stdout.rstrip().endswith("1 passed, 0 failed, 0 inconclusive") or "no claims" in r.stdout


def test_non_utf8_input_is_one_line(tmp_path):
    f = tmp_path / "latin1.md"
    f.write_bytes("<!-- mcalc: d/dx (x^2) = 2x --> caf\xe9\n".encode("latin-1"))
    r = shell(f"MCALC check {shlex.quote(str(f))}")
    assert r.returncode == 2 and "not UTF-8 text (byte 36 is 0xe9)" in one_line(r.stderr)
    r = shell(f"MCALC diff -f {shlex.quote(str(f))} --wrt x")
    assert r.returncode == 2 and "not UTF-8" in one_line(r.stderr)


def _children(pid: int) -> set[int]:
    out = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                out.add(int(entry.name))
    return out


def _alive(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs /proc to see the workers")
def test_sigterm_stops_a_parallel_check_and_its_workers(tmp_path):
    from test_robust import slow_claim

    claims = tmp_path / "slow.mcalc"  # each claim takes the whole budget
    claims.write_text((slow_claim() + "\n") * 20)
    proc = subprocess.Popen([*MCALC, "check", str(claims), "--jobs", "2"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    deadline = time.monotonic() + 20
    workers: set[int] = set()
    while time.monotonic() < deadline and len(workers) < 2:
        workers = _children(proc.pid)
        time.sleep(0.05)
    assert len(workers) >= 2, "the workers did not start"
    time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=5)
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert b"Traceback" not in err
    time.sleep(0.2)
    assert not [w for w in workers if _alive(w)], "workers outlived the check"


def test_verify_on_a_slow_function_ends_within_the_budget():
    """A ~200-character function whose SymPy route takes minutes: inconclusive (time), in time
    (the process's own bound is 3 s; the 30 s here leave room for a loaded machine)."""
    e = "x"
    for i in range(1, 17):
        e = f"tanh(W{i} @ {e} + c{i})"
    matrices = ",".join(f"W{i}:n,n" for i in range(1, 17))
    start = time.monotonic()
    r = subprocess.run([*MCALC, "diff", f"v · {e}", "--wrt", "x", "-M", matrices, "--verify", "--format", "json"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    verification = json.loads(r.stdout)["verification"]
    assert verification["status"] == "inconclusive" and verification["reason"] == "time: over 3 s"
    assert time.monotonic() - start < 30
