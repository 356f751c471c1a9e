"""mcalc's performance figures, each next to its target.

    python benchmarks/run.py            # all four
    python benchmarks/run.py startup    # one of: startup scale batch sympy

Figures are measured, not asserted: the test suite has no timing tests.
"""
from __future__ import annotations

import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _mcalc_command() -> list[str]:
    script = Path(sys.executable).with_name("mcalc")
    if script.exists():
        return [str(script)]
    found = shutil.which("mcalc")
    return [found] if found else [sys.executable, "-m", "mcalc"]


# As installed programs run: with their bytecode cached (pip writes it at install time).
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def _wall(cmd: list[str], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, env=ENV)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _row(name: str, figure: str, target: str, ok: bool) -> bool:
    print(f"  {name:<44} {figure:>22}   target {target:<18} {'pass' if ok else 'SHORT'}")
    return ok


# -- 1. start-up ----------------------------------------------------------------
def startup(runs: int = 15) -> bool:
    print("1. Start-up: a fresh process, median of", runs)
    mcalc = _mcalc_command()
    _wall([*mcalc, "diff", "sum(w*x)+b", "--wrt", "w", "--latex"], 2)  # warm the parser cache
    ours = _wall([*mcalc, "diff", "sum(w*x)+b", "--wrt", "w", "--latex"], runs)
    sympy = _wall([sys.executable, "-c", "import sympy"], runs)
    python = _wall([sys.executable, "-c", "pass"], runs)
    _row("python -c pass", f"{python * 1000:.0f} ms", "(reference)", True)
    _row('python -c "import sympy"', f"{sympy * 1000:.0f} ms", "(reference)", True)
    return _row('mcalc diff "sum(w*x)+b" --wrt w --latex', f"{ours * 1000:.0f} ms = {ours / sympy:.2f}×",
                "≤ 0.40× sympy", ours <= 0.4 * sympy)


# -- 2. scale ---------------------------------------------------------------------
def network(k: int) -> tuple[str, list[str], list[str]]:
    """v · tanh(W_k @ tanh(… tanh(W_1 @ x + c_1) …) + c_k)."""
    expr = "x"
    for i in range(1, k + 1):
        expr = f"tanh(W{i} @ {expr} + c{i})"
    vectors = ["v", "x"] + [f"c{i}" for i in range(1, k + 1)]
    matrices = [f"W{i}:n,n" for i in range(1, k + 1)]
    return f"v · {expr}", vectors, matrices


def scale() -> bool:
    import mcalc

    print("2. Scale: a k-layer network, v · tanh(W_k @ … tanh(W_1 @ x + c_1) … + c_k), by x")
    ok = True
    times, lengths = {}, {}
    for k in (25, 50, 100, 200):
        expr, vectors, matrices = network(k)
        runs = []
        for _ in range(3):
            start = time.perf_counter()
            d = mcalc.diff(expr, wrt="x", vectors=vectors, matrices=matrices)
            text = d.text
            runs.append(time.perf_counter() - start)
        times[k], lengths[k] = min(runs), len(text)
        _row(f"k = {k}: derivation", f"{times[k] * 1000:.0f} ms, {lengths[k]} chars", "", True)
    for k in (25, 50, 100):
        ok &= _row(f"time({2 * k}) / time({k})", f"{times[2 * k] / times[k]:.2f}", "≤ 2.3",
                   times[2 * k] / times[k] <= 2.3)
        ok &= _row(f"length({2 * k}) / length({k})", f"{lengths[2 * k] / lengths[k]:.2f}", "≤ 2.3",
                   lengths[2 * k] / lengths[k] <= 2.3)
    expr, vectors, matrices = network(200)
    with tempfile.NamedTemporaryFile("w", suffix=".mc", delete=False) as f:
        f.write(expr)
    cmd = [*_mcalc_command(), "diff", "-f", f.name, "--wrt", "x", "--format", "text",
           "-v", ",".join(vectors), "-M", ",".join(matrices)]
    wall = _wall(cmd, 1)
    os.unlink(f.name)
    ok &= _row("k = 200, end to end (a fresh process)", f"{wall:.2f} s", "< 2 s", wall < 2)
    return ok


# -- 3. batch ---------------------------------------------------------------------
CLAIMS = [
    "d/d{w} (sum({w}*{x}) + {b}) = {x}^T",
    "d/d{w} ({w} · {x} + {b}) = {x}^T where {w}, {x}: vector",
    "d/d{x} (ln(sin({x}^3)^2)) = 6*{x}^2*cos({x}^3)/sin({x}^3)",
    "d/d{w} (max(0, {w} · {x} + {b})) = ({w} · {x} + {b} > 0) * {x}^T where {w}, {x}: vector",
    "d/d{x} (sin({x} + {x}^2)) = cos({x} + {x}^2)*(1 + 2*{x})",
    "d/d{w} ({w} ⊗ {x}) = diag({x}) where {w}, {x}: vector",
    "d/d{x} ([ln({x}^2), sin(3*{x})]) = [2/{x}, 3*cos(3*{x})]",
    "d/d{x} (sum({x}*{b})) = {b}*ones^T where {x}: vector",
    "d/d{w} (mean(({y} - max(0, X@{w} + {b}))^2)) = (2/N) * ((X@{w} + {b} - {y}) ⊗ (X@{w} + {b} > 0))^T @ X"
    " where {w}: vector; {y}: vector[N]; X: matrix[N,n]",
    "d/d{x} (tanh(A@{x} + {b})) = diag(1 - tanh(A@{x} + {b})^2) @ A where A: matrix[n,n]; {x}: vector",
]


def batch(count: int = 500) -> bool:
    print(f"3. Batch: mcalc check on a file of {count} claims, each verified")
    lines = []
    for i in range(count):
        names = {"w": f"w{i}", "x": f"x{i}", "b": f"b{i}", "y": f"y{i}"}
        lines.append(CLAIMS[i % len(CLAIMS)].format(**names))
    with tempfile.NamedTemporaryFile("w", suffix=".mcalc", delete=False, encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    start = time.perf_counter()
    p = subprocess.run([*_mcalc_command(), "check", f.name], capture_output=True, text=True, env=ENV)
    wall = time.perf_counter() - start
    os.unlink(f.name)
    last = p.stdout.strip().splitlines()[-1] if p.stdout.strip() else p.stderr.strip()
    rate = count / wall
    _row("result", last[:40], f"{count} passed", last.startswith(f"{count} passed"))
    return _row("claims per second", f"{rate:.0f}/s ({wall:.1f} s)", "≥ 100/s", rate >= 100 and p.returncode == 0)


# -- 4. against SymPy -----------------------------------------------------------------
def against_sympy(repeats: int = 20) -> bool:
    """Expressions SymPy's MatrixSymbol diff can express, derived both ways in this process."""
    import sympy as sp
    from sympy.core.cache import clear_cache

    import mcalc

    mcalc.diff("sum(w*x)+b", wrt="w").text  # warm: parser tables and imports
    print("4. Against SymPy's MatrixSymbol diff, per expression, in one process")
    n, N = sp.Symbol("n"), sp.Symbol("N")
    w, x, y = (sp.MatrixSymbol(s, n, 1) for s in "wxy")
    X, A = sp.MatrixSymbol("X", N, n), sp.MatrixSymbol("A", n, n)
    b, z = sp.Symbol("b"), sp.Symbol("z")
    cases = [
        ("w · x", "w", (w.T * x), w, {"vectors": ["w", "x"]}),
        ("w · x + b", "w", (w.T * x)[0, 0] + b, w, {"vectors": ["w", "x"]}),
        ("w + x", "w", w + x, w, {"vectors": ["w", "x"]}),
        ("w - x", "x", w - x, x, {"vectors": ["w", "x"]}),
        ("x*z", "x", x * z, x, {"vectors": ["x"]}),
        ("x*z", "z", x * z, z, {"vectors": ["x"]}),
        ("X @ w", "w", X * w, w, {"vectors": ["w"], "matrices": ["X:N,n"]}),
        ("x^T @ A @ x", "x", x.T * A * x, x, {"vectors": ["x"], "matrices": ["A:n,n"]}),
        ("(y - X@w)^T @ (y - X@w)", "w", (y - X * w).T * (y - X * w), w,
         {"vectors": ["w", "y:N"], "matrices": ["X:N,n"]}),
        ("x", "x", x, x, {"vectors": ["x"]}),
    ]
    ok = True
    ratios = []
    for text, wrt, expr, var, decls in cases:
        try:
            sp.diff(expr, var)
        except Exception as e:  # noqa: BLE001 - SymPy cannot express this one
            _row(f"{text} by {wrt}", "SymPy: " + type(e).__name__, "(not compared)", True)
            continue
        theirs = 0.0
        for _ in range(repeats):  # SymPy caches results: each call starts from an empty cache
            clear_cache()
            start = time.perf_counter()
            sp.diff(expr, var)
            theirs += (time.perf_counter() - start) / repeats
        start = time.perf_counter()
        for _ in range(repeats):
            mcalc.diff(text, wrt=wrt, **decls).text
        ours = (time.perf_counter() - start) / repeats
        ratios.append(theirs / ours)
        _row(f"{text} by {wrt}", f"{ours * 1e3:.2f} vs {theirs * 1e3:.2f} ms", "", True)
    import tomllib

    cases = tomllib.loads((ROOT / "tests" / "data" / "paper.toml").read_text())["case"]
    start = time.perf_counter()
    for case in cases:
        mcalc.diff(case["expr"], wrt=case["wrt"], vectors=case.get("vectors", ()),
                   matrices=[f"{k}:{v}" for k, v in case.get("matrices", {}).items()]).text
    per_case = (time.perf_counter() - start) / len(cases)
    _row("paper.toml cases, mean per case", f"{per_case * 1e3:.2f} ms", "", True)
    ratio = statistics.geometric_mean(ratios)
    ok &= _row("SymPy time / mcalc time (geometric mean)", f"{ratio:.1f}×", "≥ 10×", ratio >= 10)
    return ok


BENCHMARKS = {"startup": startup, "scale": scale, "batch": batch, "sympy": against_sympy}


def main(argv: list[str]) -> int:
    chosen = argv or list(BENCHMARKS)
    print(f"mcalc benchmarks on {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"{platform.platform()}")
    results = [BENCHMARKS[name]() for name in chosen]
    print("all targets met" if all(results) else "some targets are short")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
