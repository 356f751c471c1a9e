"""mcalc's performance figures, each next to its target.

    python benchmarks/run.py            # all five
    python benchmarks/run.py startup    # one of: startup scale batch sympy scan

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


def _walls(cmds: list[list[str]], runs: int) -> list[float]:
    """The median wall time of each command, run in turn round after round, so
    that a slow spell of a shared machine falls on all of them alike."""
    times: list[list[float]] = [[] for _ in cmds]
    for _ in range(runs):
        for cmd, out in zip(cmds, times):
            start = time.perf_counter()
            subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, env=ENV)
            out.append(time.perf_counter() - start)
    return [statistics.median(t) for t in times]


def _wall(cmd: list[str], runs: int) -> float:
    return _walls([cmd], runs)[0]


def _row(name: str, figure: str, target: str, ok: bool) -> bool:
    print(f"  {name:<44} {figure:>22}   target {target:<18} {'pass' if ok else 'SHORT'}")
    return ok


# -- 1. start-up ----------------------------------------------------------------
def startup(runs: int = 15) -> bool:
    print("1. Start-up: a fresh process, median of", runs)
    mcalc = _mcalc_command()
    _wall([*mcalc, "diff", "sum(w*x)+b", "--wrt", "w", "--latex"], 2)  # warm the parser cache
    ours, sympy, python = _walls([[*mcalc, "diff", "sum(w*x)+b", "--wrt", "w", "--latex"],
                                  [sys.executable, "-c", "import sympy"], [sys.executable, "-c", "pass"]], runs)
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
    sizes = (25, 50, 100, 200)
    networks = {k: network(k) for k in sizes}
    runs: dict[int, list[float]] = {k: [] for k in sizes}
    for _ in range(11):  # round after round, each k in turn; the fastest run of each is its figure
        for k in sizes:
            expr, vectors, matrices = networks[k]
            start = time.perf_counter()
            text = mcalc.diff(expr, wrt="x", vectors=vectors, matrices=matrices).text
            runs[k].append(time.perf_counter() - start)
            lengths[k] = len(text)
    for k in sizes:
        times[k] = min(runs[k])
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
class _ToSympy:
    """mcalc's tree as a SymPy matrix expression (vectors and matrices as
    MatrixSymbols), for the constructs SymPy's diff can take; anything else
    raises and the case is not compared."""

    def __init__(self, sp, typing):
        self.sp, self.typing = sp, typing

    def dim(self, d):
        return d if isinstance(d, int) else self.sp.Symbol(d)

    def shape(self, node):
        return self.typing.shape(node)

    def variable(self, name):
        s = self.typing.variables.get(name)
        if s is None or s.is_scalar:
            return self.sp.Symbol(name)
        return self.sp.MatrixSymbol(name, self.dim(s.rows), self.dim(s.cols))

    def __call__(self, node):
        from mcalc import ast as A

        sp = self.sp
        t = type(node)
        if t is A.Num:
            return sp.Rational(node.value.numerator, node.value.denominator)
        if t is A.Var:
            return self.variable(node.name)
        kids = [self(c) for c in node.children]
        shapes = [self.shape(c) for c in node.children]
        scalar = [s.is_scalar for s in shapes]
        if t in (A.Add, A.Sub):
            a, b = kids
            if all(scalar) and isinstance(a, sp.MatrixExpr) != isinstance(b, sp.MatrixExpr):
                # w·x is a 1×1 matrix to SymPy: a scalar beside it becomes one too
                a, b = (a, b * sp.OneMatrix(1, 1)) if isinstance(a, sp.MatrixExpr) else (a * sp.OneMatrix(1, 1), b)
            elif scalar[0] != scalar[1]:  # scalar expansion: z + x = z·𝟏 + x
                s = shapes[1] if scalar[0] else shapes[0]
                ones = sp.OneMatrix(self.dim(s.rows), self.dim(s.cols))
                a, b = (a * ones, b) if scalar[0] else (a, b * ones)
            return a + b if t is A.Add else a - b
        if t is A.Neg:
            return -kids[0]
        if t is A.Mul:
            if scalar[0] or scalar[1]:
                return kids[0] * kids[1]
            return sp.HadamardProduct(*kids)
        if t is A.Div:
            if scalar[1]:
                return kids[0] / kids[1] if scalar[0] else kids[0] * (1 / kids[1])
            inverse = sp.HadamardPower(kids[1], -1)
            return kids[0] * inverse if scalar[0] else sp.HadamardProduct(kids[0], inverse)
        if t is A.Pow and scalar[1]:
            return kids[0] ** kids[1] if scalar[0] else sp.HadamardPower(kids[0], kids[1])
        if t is A.MatMul:
            return kids[0] * kids[1]
        if t is A.Dot:
            return kids[0].T * kids[1]
        if t is A.Transpose:
            return kids[0].T
        if t is A.VecLit and all(scalar):
            return sp.Matrix(kids)
        if t is A.Call:
            fn = {"ln": sp.log, "log": sp.log, "exp": sp.exp, "sin": sp.sin, "cos": sp.cos, "tan": sp.tan,
                  "tanh": sp.tanh, "sqrt": sp.sqrt}.get(node.fn)
            if fn is not None:
                if scalar[0]:
                    return fn(kids[0])
                d = sp.Dummy("d")
                return kids[0].applyfunc(sp.Lambda(d, fn(d)))
            if node.fn in ("max", "min") and all(scalar):
                return (sp.Max if node.fn == "max" else sp.Min)(*kids)
            if node.fn in ("sum", "mean") and not scalar[0]:
                s = shapes[0]
                total = sp.OneMatrix(1, self.dim(s.rows)) * kids[0]
                return total if node.fn == "sum" else total / self.dim(s.rows)
        raise NotImplementedError(t.__name__)


def _median_time(fn, repeats: int, before=None) -> float:
    times = []
    for _ in range(repeats):
        if before is not None:
            before()
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


# Matrix cases beyond the paper's, in SymPy's reach: (expression, by, vectors, matrices)
MATRIX_CASES = [
    ("X @ w", "w", ["w"], ["X:N,n"]),
    ("x^T @ A @ x", "x", ["x"], ["A:n,n"]),
    ("(y - X@w)^T @ (y - X@w)", "w", ["w", "y:N"], ["X:N,n"]),
    ("w^T @ A @ x", "w", ["w", "x"], ["A:n,n"]),
    ("A @ x + b", "b", ["x", "b"], ["A:n,n"]),
]


def against_sympy(repeats: int = 15) -> bool:
    """Every paper.toml case and the matrix cases above that SymPy's diff can
    express, derived both ways in this process, each from its own parsed form:
    SymPy's diff of its already built expression, from an empty cache (SymPy
    caches results); mcalc's derivation of its parsed program (shapes, the four
    steps, the printed answer), with no cache between derivations.  mcalc from
    the text, parse included, is shown beside it."""
    import tomllib

    import sympy as sp
    from sympy.core.cache import clear_cache

    import mcalc
    from mcalc.api import derivation_from_program
    from mcalc.parser import parse

    mcalc.diff("sum(w*x)+b", wrt="w").text  # warm: parser tables and imports
    print("4. Against SymPy's diff (MatrixSymbol for vectors and matrices), per expression, in one process")
    paper = tomllib.loads((ROOT / "tests" / "data" / "paper.toml").read_text())["case"]
    cases = [(c["id"], c["expr"], c["wrt"], list(c.get("vectors", ())),
              [f"{k}:{v}" for k, v in c.get("matrices", {}).items()]) for c in paper]
    cases += [(f"{text} by {wrt}", text, wrt, vectors, matrices) for text, wrt, vectors, matrices in MATRIX_CASES]
    derivation, end_to_end, skipped = [], [], []
    print(f"  {'case':<30} {'SymPy':>9} {'mcalc':>9} {'ratio':>7} {'+ parse':>9} {'ratio':>7}")
    for name, text, wrt, vectors, matrices in cases:
        d = mcalc.diff(text, wrt=wrt, vectors=vectors, matrices=matrices)
        try:
            convert = _ToSympy(sp, d.typing)
            expr = convert(d.program.body)
            by = [convert.variable(v) for v in ([wrt] if isinstance(wrt, str) else wrt)]
            if len(by) == 1:
                def theirs(expr=expr, by=by):
                    return sp.diff(expr, by[0])
            else:
                def theirs(expr=expr, by=by):
                    return (expr if isinstance(expr, sp.MatrixBase) else sp.Matrix([expr])).jacobian(by)
            theirs()
        except Exception as e:  # noqa: BLE001 - SymPy cannot express or differentiate this one
            skipped.append(f"{name} ({type(e).__name__})")
            continue
        program = parse(text)
        sympy_time = _median_time(theirs, repeats, before=clear_cache)
        ours = _median_time(lambda: derivation_from_program(text, program, wrt, vectors=vectors,
                                                            matrices=matrices).text, repeats)
        whole = _median_time(lambda: mcalc.diff(text, wrt=wrt, vectors=vectors, matrices=matrices).text, repeats)
        derivation.append(sympy_time / ours)
        end_to_end.append(sympy_time / whole)
        print(f"  {name:<30} {sympy_time * 1e6:7.0f}µs {ours * 1e6:7.0f}µs {derivation[-1]:6.1f}× "
              f"{whole * 1e6:7.0f}µs {end_to_end[-1]:6.1f}×")
    print(f"  not compared ({len(skipped)}: SymPy cannot express or differentiate them): {', '.join(skipped)}")
    _row("mcalc from the text, parse included (geometric mean)", f"{statistics.geometric_mean(end_to_end):.1f}×",
         "(reference)", True)
    ratio = statistics.geometric_mean(derivation)
    return _row(f"SymPy time / mcalc time, geometric mean of {len(derivation)}", f"{ratio:.1f}×", "≥ 10×",
                ratio >= 10)


# -- 5. finding claims in a large Markdown file ---------------------------------------
_PROSE = ("## Section\n\nLorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor.\n"
          "Ut enim ad minim veniam, quis nostrud exercitation, with `code` and *emphasis*.\n\n"
          "- a list item\n- another item with [a link](https://example.com)\n\n"
          "```python\nprint('hello')\n```\n\n> a quote\n\n")
_CLAIM = "<!-- mcalc: d/dx (x^2) = 2x -->\n\n"


def scan(megabytes: int = 40) -> bool:
    """The Markdown scan is linear: time per MB at 10 and 40 MB (a claim every 100
    sections), and 40 MB with its only annotation at the end."""
    from mcalc.claims import find_claims

    print(f"5. Finding claims in Markdown (markdown-it), {megabytes} MB")
    block = _PROSE * 100 + _CLAIM
    per_mb = []
    for size in (megabytes // 4, megabytes):
        text = block * (size * 1_000_000 // len(block))
        start = time.perf_counter()
        claims = find_claims("big.md", text)
        elapsed = time.perf_counter() - start
        per_mb.append(elapsed / size)
        _row(f"{size} MB, {len(claims)} claims", f"{elapsed:.1f} s", "(reference)", True)
    text = _PROSE * (megabytes * 1_000_000 // len(_PROSE)) + _CLAIM
    start = time.perf_counter()
    find_claims("big.md", text)
    _row(f"{megabytes} MB, one annotation at the end", f"{time.perf_counter() - start:.1f} s", "(reference)", True)
    ratio = per_mb[1] / per_mb[0]
    return _row("time per MB at 40 MB / at 10 MB (linear: 1)", f"{ratio:.2f}", "≤ 1.3", ratio <= 1.3)


BENCHMARKS = {"startup": startup, "scale": scale, "batch": batch, "sympy": against_sympy, "scan": scan}


def main(argv: list[str]) -> int:
    chosen = argv or list(BENCHMARKS)
    print(f"mcalc benchmarks on {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"{platform.platform()}")
    results = [BENCHMARKS[name]() for name in chosen]
    print("all targets met" if all(results) else "some targets are short")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
