"""mcalc's performance figures, each next to its target.

    python benchmarks/run.py                # all of them
    python benchmarks/run.py startup scale  # some: startup scale network hessian batch at sympy scan

Every figure is measured over rounds, the commands or sizes of a figure in turn
within each round (so that a slow spell of a shared machine falls on all alike),
and reported as min/median/max — never the best run alone.  Figures are
measured, not asserted: the test suite has no timing tests.
"""
from __future__ import annotations

import json
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
sys.setrecursionlimit(100_000)
ROUNDS = int(os.environ.get("MCALC_BENCH_ROUNDS", "7"))
WARMUP = 5  # untimed runs of each side of a comparison before its timed rounds


def _mcalc_command() -> list[str]:
    script = Path(sys.executable).with_name("mcalc")
    if script.exists():
        return [str(script)]
    found = shutil.which("mcalc")
    return [found] if found else [sys.executable, "-m", "mcalc"]


# As installed programs run: with their bytecode cached (pip writes it at install time).
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def _spread(times: list[float], unit: float = 1000, suffix: str = "ms", digits: int = 0) -> str:
    """min/median/max."""
    return "/".join(f"{t * unit:.{digits}f}" for t in (min(times), statistics.median(times), max(times))) + \
        f" {suffix}"


def _walls(cmds: list[list[str]], rounds: int = ROUNDS) -> list[list[float]]:
    """Each command's wall times, run in turn round after round."""
    times: list[list[float]] = [[] for _ in cmds]
    for _ in range(rounds):
        for cmd, out in zip(cmds, times):
            start = time.perf_counter()
            subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, env=ENV)
            out.append(time.perf_counter() - start)
    return times


def _row(name: str, figure: str, target: str, ok: bool) -> bool:
    print(f"  {name:<48} {figure:>26}   target {target:<16} {'pass' if ok else 'SHORT'}")
    return ok


def _ratio_rows(label: str, sizes: list[int], times: dict[int, list[float]], lengths: dict[int, int],
                time_target: float, length_target: float | None) -> bool:
    """time(2k)/time(k) (median over rounds, with its min/max over the rounds'
    own ratios) and length(2k)/length(k) for each doubling."""
    ok = True
    for k in sizes[:-1]:
        if 2 * k not in times:
            continue
        per_round = [b / a for a, b in zip(times[k], times[2 * k])]
        median = statistics.median(times[2 * k]) / statistics.median(times[k])
        ok &= _row(f"{label}: time({2 * k})/time({k})",
                   f"{median:.2f} ({min(per_round):.2f}–{max(per_round):.2f})", f"≤ {time_target}",
                   median <= time_target)
        if length_target is not None:
            ratio = lengths[2 * k] / lengths[k]
            ok &= _row(f"{label}: length({2 * k})/length({k})", f"{ratio:.2f}", f"≤ {length_target}",
                       ratio <= length_target)
    return ok


# -- 1. start-up ----------------------------------------------------------------
def startup() -> bool:
    """A fresh process in each output format against `python -c "import sympy"`, in turn."""
    print(f"1. Start-up: a fresh process, {ROUNDS + 8} rounds")
    mcalc = _mcalc_command()
    base = [*mcalc, "diff", "sum(w*x)+b", "--wrt", "w"]
    formats = {"--format rich": [*base, "--format", "rich"], "--format text": [*base, "--format", "text"],
               "--latex": [*base, "--latex"], "--format json": [*base, "--format", "json"]}
    _walls(list(formats.values()), 1)  # warm the parser cache and the bytecode
    cmds = [[sys.executable, "-c", "import sympy"], [sys.executable, "-c", "pass"], *formats.values()]
    times = _walls(cmds, ROUNDS + 8)
    sympy = statistics.median(times[0])
    _row('python -c "import sympy"', _spread(times[0]), "(reference)", True)
    _row("python -c pass", _spread(times[1]), "(reference)", True)
    ok = True
    for (name, _), t in zip(formats.items(), times[2:]):
        ratio = statistics.median(t) / sympy
        ok &= _row(f'mcalc diff "sum(w*x)+b" --wrt w {name}', f"{_spread(t)} = {ratio:.2f}×", "≤ 0.40× sympy",
                   ratio <= 0.40)
    return ok


# -- 2. scale: linear in the size of the function, for every shape of function -------------
def _network(k: int) -> dict:
    e = "x"
    for i in range(1, k + 1):
        e = f"tanh(W{i} @ {e} + c{i})"
    return dict(expr=f"v · {e}", wrt="x", vectors=["v", "x"] + [f"c{i}" for i in range(1, k + 1)],
                matrices=[f"W{i}:n,n" for i in range(1, k + 1)])


def _network_defs(k: int, wrt: str = "x") -> dict:
    lines = ["h1 = tanh(W1@x + c1)"] + [f"h{i} = tanh(W{i}@h{i - 1} + c{i})" for i in range(2, k + 1)]
    last = f"v · h{k}" if wrt == "x" else f"sum((h{k} - y)^2)"
    return dict(expr="; ".join(lines + [last]), wrt=wrt, vectors=["v", "x", "y"] + [f"c{i}" for i in range(1, k + 1)],
                matrices=[f"W{i}:n,n" for i in range(1, k + 1)])


FAMILIES = {
    "k-layer network, nested": _network,
    "k-layer network, as definitions": _network_defs,
    "shared chain u_i = u_(i-1)² + u_(i-1)": lambda k: dict(
        expr="; ".join(["u1 = x*x"] + [f"u{i} = u{i - 1}*u{i - 1} + u{i - 1}" for i in range(2, k + 1)] + [f"u{k}"]),
        wrt="x"),
    "sin-sum chain u_i = sin(u_(i-1)) + u_(i-1)": lambda k: dict(
        expr="; ".join(["u0 = x"] + [f"u{i} = sin(u{i - 1}) + u{i - 1}" for i in range(1, k + 1)] + [f"u{k}"]),
        wrt="x"),
    "sin chain sin(sin(…x…))": lambda k: dict(expr="sin(" * k + "x" + ")" * k, wrt="x"),
    "x*x*…*x": lambda k: dict(expr="*".join(["x"] * k), wrt="x"),
    "(x+1)(x+2)…(x+k)": lambda k: dict(expr="".join(f"(x+{i})" for i in range(1, k + 1)), wrt="x"),
    "k-term sum": lambda k: dict(expr=" + ".join(f"sin({i}*x)" for i in range(1, k + 1)), wrt="x"),
    "k-item vector literal": lambda k: dict(expr="[" + ", ".join(f"x^{i % 5 + 1}" for i in range(k)) + "]",
                                            wrt="x"),
    # the names all of one length (x000 … x799), so that the input doubles with k: the answer
    # is the k coefficients, and with x0 … x799 it grew as the names gained digits (2.22 from 100 to 200)
    "--wrt of k names": lambda k: dict(expr=" + ".join(f"a{i:03d}*x{i:03d}" for i in range(k)),
                                       wrt=",".join(f"x{i:03d}" for i in range(k))),
    "k-layer network by W1": lambda k: _network_defs(k, "W1"),
    "tower x^x^…^x": lambda k: dict(expr="x^" * k + "x", wrt="x"),
}
SIZES = [25, 50, 100, 200, 400, 800]


def scale() -> bool:
    """Each family at k = 25 … 800 in this process: time(2k)/time(k) and the answer's length."""
    import mcalc

    print(f"2. Scale: each family at k = {', '.join(map(str, SIZES))}, {ROUNDS} rounds, derivation and printed answer")
    ok = True
    for name, family in FAMILIES.items():
        inputs = {k: family(k) for k in SIZES}
        times: dict[int, list[float]] = {k: [] for k in SIZES}
        lengths: dict[int, int] = {}
        for _ in range(ROUNDS):
            for k in SIZES:
                start = time.perf_counter()
                text = mcalc.diff(**inputs[k]).text
                times[k].append(time.perf_counter() - start)
                lengths[k] = len(text)
        print(f"  {name}: " + ", ".join(f"k={k} {statistics.median(times[k]) * 1000:.0f} ms" for k in SIZES))
        ok &= _ratio_rows(name, SIZES, times, lengths, 2.3, 2.2)
        if name == "x*x*…*x":
            ok &= _row("x*x*…*x at k = 800 reads", mcalc.diff(**inputs[800]).text, "800*x^799",
                       mcalc.diff(**inputs[800]).text == "800*x^799")
    ok &= _end_to_end()
    return ok


def _end_to_end() -> bool:
    """The command line, a fresh process each time, the trace printed: the network
    families for k ≤ 200, the shared chain at k = 800 and the tower x^x^…^x."""
    ok = True
    cases = {f"network k={k}": _network_defs(k) for k in (50, 100, 200)}
    cases["shared chain k=800"] = FAMILIES["shared chain u_i = u_(i-1)² + u_(i-1)"](800)
    # the trace, printed: its columns were padded to its longest row (quadratic in k)
    cases["tower x^x^…^x k=400"] = FAMILIES["tower x^x^…^x"](400)
    cases["tower x^x^…^x k=800"] = FAMILIES["tower x^x^…^x"](800)
    files, cmds = [], []
    for name, kw in cases.items():
        f = tempfile.NamedTemporaryFile("w", suffix=".mc", delete=False, encoding="utf-8")
        f.write(kw["expr"])
        f.close()
        files.append(f.name)
        cmd = [*_mcalc_command(), "diff", "-f", f.name, "--wrt", kw["wrt"], "--format", "text"]
        for v in kw.get("vectors", ()):
            cmd += ["-v", v]
        for m in kw.get("matrices", ()):
            cmd += ["-M", m]
        cmds.append(cmd)
    times = _walls(cmds, ROUNDS)
    for f in files:
        os.unlink(f)
    medians = [statistics.median(t) for t in times]
    for (name, _), t in zip(cases.items(), times):
        _row(f"end to end: {name}", _spread(t, 1, "s", 2), "(reference)", True)
    ok &= _row("end to end: time(200)/time(100), network", f"{medians[2] / medians[1]:.2f}", "≤ 2.3",
               medians[2] / medians[1] <= 2.3)
    ok &= _row("end to end: shared chain k = 800", f"{medians[3]:.2f} s", "< 2 s", medians[3] < 2)
    ok &= _row("end to end: time(800)/time(400), tower with its trace", f"{medians[5] / medians[4]:.2f}", "≤ 2.3",
               medians[5] / medians[4] <= 2.3)
    return ok


# -- 3. a network's loss by its first weight matrix (derivatives by matrices) -----------
def network() -> bool:
    import mcalc

    sizes = [10, 20, 40, 80, 160]
    print(f"3. A k-layer network's loss sum((h_k - y)^2) by W1, k = {', '.join(map(str, sizes))}, {ROUNDS} rounds")
    inputs = {k: _network_defs(k, "W1") for k in sizes}
    times: dict[int, list[float]] = {k: [] for k in sizes}
    lengths: dict[int, int] = {}
    for _ in range(ROUNDS):
        for k in sizes:
            start = time.perf_counter()
            lengths[k] = len(mcalc.diff(**inputs[k], layout="denominator").text)
            times[k].append(time.perf_counter() - start)
    print("  " + ", ".join(f"k={k} {statistics.median(times[k]) * 1000:.0f} ms, {lengths[k]} chars" for k in sizes))
    ok = _ratio_rows("by W1", sizes, times, lengths, 2.3, 2.2)
    kw = inputs[160]
    with tempfile.NamedTemporaryFile("w", suffix=".mc", delete=False, encoding="utf-8") as f:
        f.write(kw["expr"])
    cmd = [*_mcalc_command(), "diff", "-f", f.name, "--wrt", "W1", "--layout", "denominator", "--format", "text",
           *[a for v in kw["vectors"] for a in ("-v", v)], *[a for m in kw["matrices"] for a in ("-M", m)]]
    (wall,) = _walls([cmd], ROUNDS)
    os.unlink(f.name)
    return _row("k = 160 end to end (a fresh process)", _spread(wall, 1, "s", 2), "< 2 s",
                statistics.median(wall) < 2) and ok


# -- 4. Hessians -------------------------------------------------------------------------
LOSSES = {
    "§6 loss": dict(expr="mean((y - max(0, X@w + b))^2)", wrt="w", vectors=["w", "y:N"], matrices=["X:N,n"]),
    "logistic loss": dict(expr="sum(ln(1 + exp(-y ⊗ (X@w))))", wrt="w", vectors=["w", "y:N"], matrices=["X:N,n"]),
}


def hessian() -> bool:
    import mcalc

    print(f"4. Hessians: against diff of the same function, end to end; a k-term sum, {ROUNDS} rounds")
    ok = True
    for name, kw in LOSSES.items():
        args = ["--wrt", kw["wrt"], *[a for v in kw["vectors"] for a in ("-v", v)],
                *[a for m in kw["matrices"] for a in ("-M", m)], "--format", "text", "--", kw["expr"]]
        diff_t, hess_t = _walls([[*_mcalc_command(), "diff", *args], [*_mcalc_command(), "hessian", *args]])
        ratio = statistics.median(hess_t) / statistics.median(diff_t)
        ok &= _row(f"{name}: hessian / diff, end to end", f"{_spread(hess_t)} / {_spread(diff_t)} = {ratio:.2f}×",
                   "≤ 1.5×", ratio <= 1.5)
    sizes = [25, 50, 100, 200]
    inputs = {k: " + ".join(f"sin({i}*sum(x))*exp(x · x)/{i}" if i % 2 else f"sum(tanh({i}*x))"
                            for i in range(1, k + 1)) for k in sizes}
    times: dict[int, list[float]] = {k: [] for k in sizes}
    lengths: dict[int, int] = {}
    for _ in range(ROUNDS):
        for k in sizes:
            start = time.perf_counter()
            lengths[k] = len(mcalc.hessian(inputs[k], wrt="x", vectors=["x"]).text)
            times[k].append(time.perf_counter() - start)
    print("  k-term sum of smooth terms in x: " +
          ", ".join(f"k={k} {statistics.median(times[k]) * 1000:.0f} ms" for k in sizes))
    return _ratio_rows("Hessian of a k-term sum", sizes, times, lengths, 2.3, None) and ok


# -- 5. batch ---------------------------------------------------------------------
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


def _paper_claims(count: int) -> list[str]:
    import tomllib

    cases = tomllib.loads((ROOT / "tests" / "data" / "paper.toml").read_text())["case"]
    lines = []
    for i in range(count):
        c = cases[i % len(cases)]
        wrt = c["wrt"] if isinstance(c["wrt"], str) else ",".join(c["wrt"])
        decls = []
        for v in c.get("vectors", []):
            name, _, dim = v.partition(":")
            decls.append(f"{name}: vector" + (f"[{dim}]" if dim else ""))
        decls += [f"{n}: matrix[{s}]" for n, s in c.get("matrices", {}).items()]
        lines.append(f"d/d{wrt} ({c['expr']}) = {c['expect']}" + (" where " + "; ".join(decls) if decls else ""))
    return lines


def batch(count: int = 500) -> bool:
    print(f"5. Batch: mcalc check on {count} claims, each verified, default options, {ROUNDS} rounds")
    mix = [CLAIMS[i % len(CLAIMS)].format(w=f"w{i}", x=f"x{i}", b=f"b{i}", y=f"y{i}") for i in range(count)]
    ok = True
    for name, lines in (("the benchmark's mix of 10 templates", mix), ("paper-style claims", _paper_claims(count))):
        with tempfile.NamedTemporaryFile("w", suffix=".mcalc", delete=False, encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")
        p = subprocess.run([*_mcalc_command(), "check", f.name], capture_output=True, text=True, env=ENV)
        last = p.stdout.strip().splitlines()[-1] if p.stdout.strip() else p.stderr.strip()
        (times,) = _walls([[*_mcalc_command(), "check", f.name]], ROUNDS)
        os.unlink(f.name)
        rates = [count / t for t in times]
        ok &= _row(f"{name}: result", last[:30], f"{count} passed", last.startswith(f"{count} passed"))
        ok &= _row(f"{name}: claims per second", "/".join(f"{r:.0f}" for r in (min(rates), statistics.median(rates),
                                                                               max(rates))) + " /s",
                   "≥ 150/s", statistics.median(rates) >= 150)
    return ok


# -- 6. --at on a large Jacobian ------------------------------------------------------------
def at() -> bool:
    import mcalc

    n = 10_000
    print(f"6. --at: a vector-by-vector Jacobian at n = {n}, {ROUNDS} rounds")
    rng = [((i * 7919) % 1000) / 1000 + 0.5 for i in range(n)]
    values = {"w": rng, "x": rng[::-1]}
    ok = True
    for expr in ("w ⊗ x", "tanh(w ⊗ x) + w"):
        d = mcalc.diff(expr, wrt="w", vectors=["w", "x"])
        times = []
        for _ in range(ROUNDS):
            start = time.perf_counter()
            value = d.evaluate(values, as_array=True)
            times.append(time.perf_counter() - start)
        ok &= _row(f"{expr} by w ({d.unicode}), {value.shape[0]}×{value.shape[1]}", _spread(times, 1, "s", 2),
                   "< 2 s", statistics.median(times) < 2)
    return ok


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
            if isinstance(kids[0], sp.MatrixExpr) and shapes[0].is_scalar:  # a 1×1 matrix squared
                return kids[0][0, 0] ** kids[1]
            return kids[0] ** kids[1] if scalar[0] else sp.HadamardPower(kids[0], kids[1])
        if t is A.MatMul:
            return kids[0] * kids[1]
        if t is A.Dot:
            return kids[0].T * kids[1]
        if t is A.Transpose:
            return kids[0].T
        if t is A.VecLit and all(scalar):
            return sp.Matrix(kids)
        if t is A.Call and node.fn in ("tr", "det", "inv") and not scalar[0]:
            return {"tr": sp.Trace, "det": sp.Determinant, "inv": sp.Inverse}[node.fn](kids[0])
        if t is A.Call and node.fn == "norm" and not scalar[0]:
            x = kids[0]
            return sp.sqrt(sp.Trace(x.T * x)) if shapes[0].is_matrix else sp.sqrt((x.T * x)[0, 0])
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


def _median_time(fn, repeats: int, before=None, warmup: int = 0) -> float:
    """The median over ``repeats`` timed runs, after ``warmup`` untimed ones (the first
    runs after other work are cold: the processor's caches hold the other work's code
    and data, which costs a 150 µs derivation a larger share than a 10 ms one)."""
    for _ in range(warmup):
        if before is not None:
            before()
        fn()
    times = []
    for _ in range(repeats):
        if before is not None:
            before()
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _cases() -> list[tuple[str, str, object, list[str], list[str]]]:
    """Every paper.toml case and every matrix.toml case that is not a Hessian."""
    import tomllib

    out = []
    for file in ("paper.toml", "matrix.toml"):
        for c in tomllib.loads((ROOT / "tests" / "data" / file).read_text())["case"]:
            if c.get("kind") != "hessian":
                out.append((c["id"], c["expr"], c["wrt"], list(c.get("vectors", ())),
                            [f"{k}:{v}" for k, v in c.get("matrices", {}).items()]))
    return out


def _sympy_form(sp, d, wrt):
    """SymPy's expression of d's function and its derivative as a thunk, or an exception."""
    convert = _ToSympy(sp, d.typing)
    expr = convert(d.program.body)
    by = [convert.variable(v) for v in ([wrt] if isinstance(wrt, str) else wrt)]
    if len(by) == 1:
        return lambda: sp.diff(expr, by[0])
    return lambda: (expr if isinstance(expr, sp.MatrixBase) else sp.Matrix([expr])).jacobian(by)


def against_sympy(repeats: int = ROUNDS) -> bool:
    """Every paper and matrix case that SymPy's diff can express (MatrixSymbol for
    vectors and matrices), derived both ways in this process — SymPy's diff of its
    already built expression, from an empty cache (SymPy caches results), against
    mcalc from the text, parse included, with no cache between derivations; each
    side warm (WARMUP untimed runs before its timed ones) — and the first
    derivation in a fresh process, imports excluded on both sides."""
    import sympy as sp
    from sympy.core.cache import clear_cache

    import mcalc

    mcalc.diff("sum(w*x)+b", wrt="w").text  # warm: parser tables and imports
    print(f"7. Against SymPy's diff (MatrixSymbol for vectors and matrices), per expression, median of {repeats} "
          f"after {WARMUP} untimed runs of each")
    warm, compared, skipped = [], [], []
    print(f"  {'case':<32} {'SymPy':>9} {'mcalc':>9} {'ratio':>7}")
    for name, text, wrt, vectors, matrices in _cases():
        d = mcalc.diff(text, wrt=wrt, vectors=vectors, matrices=matrices)
        try:
            theirs = _sympy_form(sp, d, wrt)
            theirs()
        except Exception as e:  # noqa: BLE001 - SymPy cannot express or differentiate this one
            skipped.append(f"{name} ({type(e).__name__})")
            continue
        sympy_time = _median_time(theirs, repeats, before=clear_cache, warmup=WARMUP)
        ours = _median_time(lambda: mcalc.diff(text, wrt=wrt, vectors=vectors, matrices=matrices).text, repeats,
                            warmup=WARMUP)
        warm.append(sympy_time / ours)
        compared.append((name, text, wrt, vectors, matrices))
        print(f"  {name:<32} {sympy_time * 1e6:7.0f}µs {ours * 1e6:7.0f}µs {warm[-1]:6.1f}×")
    print(f"  not compared ({len(skipped)}: SymPy cannot express or differentiate them): {', '.join(skipped)}")
    ok = _row(f"warm, parse included, geometric mean of {len(warm)}", f"{statistics.geometric_mean(warm):.1f}×",
              "≥ 10×", statistics.geometric_mean(warm) >= 10)
    import tomllib

    matrix_ids = {c["id"] for c in tomllib.loads((ROOT / "tests" / "data" / "matrix.toml").read_text())["case"]}
    by_matrix = [r for r, c in zip(warm, compared) if c[0] in matrix_ids]
    if by_matrix:
        ok &= _row(f"warm, parse included, the {len(by_matrix)} matrix cases",
                   f"{statistics.geometric_mean(by_matrix):.1f}×", "≥ 10×", statistics.geometric_mean(by_matrix) >= 10)
    with_matrices = [r for r, c in zip(warm, compared) if c[3] or c[4]]
    if with_matrices:  # where SymPy's diff is MatrixSymbol's; by scalars alone it is Symbol's, a cheaper route
        _row(f"warm, parse included, the {len(with_matrices)} cases with a vector or a matrix (MatrixSymbol)",
             f"{statistics.geometric_mean(with_matrices):.1f}×", "(reference)", True)
    first = _first_derivations(compared)
    return _row(f"first derivation in a fresh process, geometric mean of {len(first)}",
                f"{statistics.geometric_mean(first):.1f}×", "≥ 3×", statistics.geometric_mean(first) >= 3) and ok


_FIRST_MCALC = """
import time
begin = time.perf_counter()
import json, sys
import mcalc, mcalc.api, mcalc.parser
case = json.loads(sys.argv[1])
start = time.perf_counter()
mcalc.diff(case[1], wrt=case[2], vectors=case[3], matrices=case[4]).text
end = time.perf_counter()
print(end - start, end - begin)
"""
_FIRST_SYMPY = """
import time
begin = time.perf_counter()
import sympy as sp
imported = time.perf_counter() - begin
import json, sys
sys.path.insert(0, sys.argv[2])
import mcalc
from run import _sympy_form
case = json.loads(sys.argv[1])
theirs = _sympy_form(sp, mcalc.diff(case[1], wrt=case[2], vectors=case[3], matrices=case[4]), case[2])
from sympy.core.cache import clear_cache
clear_cache()
start = time.perf_counter()
theirs()
first = time.perf_counter() - start
print(first, imported + first)
"""


def _first_derivations(cases) -> list[float]:
    """SymPy's first diff over mcalc's first derivation, each in its own fresh process
    (mcalc's imports done — they load the parser's tables — its first parse and
    derivation timed); and, for the record, import and first derivation together."""
    ratios, totals = [], []
    for case in cases:
        arg = json.dumps(case)
        ours, theirs = [], []
        for _ in range(3):
            ours.append([float(t) for t in subprocess.run([sys.executable, "-c", _FIRST_MCALC, arg],
                                                          capture_output=True, text=True, env=ENV,
                                                          check=True).stdout.split()])
            theirs.append([float(t) for t in subprocess.run(
                [sys.executable, "-c", _FIRST_SYMPY, arg, str(ROOT / "benchmarks")],
                capture_output=True, text=True, env=ENV, check=True).stdout.split()])
        ratios.append(statistics.median(t[0] for t in theirs) / statistics.median(t[0] for t in ours))
        totals.append(statistics.median(t[1] for t in theirs) / statistics.median(t[1] for t in ours))
    print("  first derivations: " + ", ".join(f"{c[0]} {r:.1f}×" for c, r in zip(cases, ratios)))
    _row(f"import and first derivation together, geometric mean of {len(totals)}",
         f"{statistics.geometric_mean(totals):.1f}×", "(reference)", True)
    return ratios


# -- 8. finding claims in a large Markdown file ---------------------------------------
_PROSE = ("## Section\n\nLorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor.\n"
          "Ut enim ad minim veniam, quis nostrud exercitation, with `code` and *emphasis*.\n\n"
          "- a list item\n- another item with [a link](https://example.com)\n\n"
          "```python\nprint('hello')\n```\n\n> a quote\n\n")
_CLAIM = "<!-- mcalc: d/dx (x^2) = 2x -->\n\n"


def scan(megabytes: int = 40) -> bool:
    """The Markdown scan is linear: time per MB at 10 and 40 MB (a claim every 100
    sections), and 40 MB with its only annotation at the end."""
    from mcalc.claims import find_claims

    print(f"8. Finding claims in Markdown (markdown-it), {megabytes} MB")
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


BENCHMARKS = {"startup": startup, "scale": scale, "network": network, "hessian": hessian, "batch": batch, "at": at,
              "sympy": against_sympy, "scan": scan}


def main(argv: list[str]) -> int:
    chosen = argv or list(BENCHMARKS)
    print(f"mcalc benchmarks on {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"{platform.platform()}; figures min/median/max over rounds")
    results = [BENCHMARKS[name]() for name in chosen]
    print("all targets met" if all(results) else "some targets are short")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
