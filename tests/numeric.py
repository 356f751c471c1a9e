"""Independent numeric checks: central finite differences of the function
itself, evaluated without any derivative rule."""
from __future__ import annotations

import random

from mcalc.evaluate import Mat
from mcalc.shapes import dim_value

SIZES = {"n": 3, "N": 4, "m": 2, "k": 5, "p": 2, "q": 3, "c": 4}


def random_values(d, seed: int = 0, sizes=None) -> dict[str, Mat]:
    """Values for every variable of a derivation: vectors of ±[0.5, 1.5]
    (away from 0, the kink of max and abs), matrices of N(0, 1)."""
    rng = random.Random(seed)
    sizes = {**SIZES, **(sizes or {})}

    def size(dim):  # a name, a number, or a product of sizes (q*s, kron's)
        return dim if isinstance(dim, int) else dim_value(dim, sizes.__getitem__)

    out = {}
    for name, shape in d.variables().items():
        r, c = size(shape.rows), size(shape.cols)
        if r > 1 and c > 1:
            data = [rng.gauss(0, 1) for _ in range(r * c)]
        else:
            data = [rng.uniform(0.5, 1.5) * rng.choice((-1, 1)) for _ in range(r * c)]
            if r * c == 1:
                data = [abs(data[0])]
        out[name] = Mat(r, c, tuple(data))
    for dim in d.typing.dims:  # sizes no variable fixes (sum(a*ones) has only a scalar)
        if dim not in out and dim in sizes and d.typing.is_dimension(dim):
            out[dim] = Mat.scalar(sizes[dim])
    return out


def _vec(m: Mat) -> list[float]:
    """The entries column by column (vec)."""
    return [m.data[i * m.cols + j] for j in range(m.cols) for i in range(m.rows)]


def fd_columns(f, base: Mat, h: float = 1e-6, sides: bool = False):
    """Central differences of vec(f(X)) along each entry of vec(X) at X = base:
    the columns of ∂vec(f)/∂vec(X)ᵀ; with ``sides``, the forward and the
    backward differences instead (they differ at a kink)."""
    columns, ahead, behind = [], [], []
    at = _vec(f(base)) if sides else None
    for j in range(base.cols):
        for i in range(base.rows):
            k = i * base.cols + j
            plus, minus = list(base.data), list(base.data)
            plus[k] += h
            minus[k] -= h
            hi = _vec(f(Mat(base.rows, base.cols, tuple(plus))))
            lo = _vec(f(Mat(base.rows, base.cols, tuple(minus))))
            if sides:
                ahead.append([(a - b) / h for a, b in zip(hi, at)])
                behind.append([(b - c) / h for b, c in zip(at, lo)])
            else:
                columns.append([(a - b) / (2 * h) for a, b in zip(hi, lo)])
    return (ahead, behind) if sides else columns


def fd_jacobian(d, values: dict[str, Mat], h: float = 1e-6) -> list[list[float]]:
    """Numerator-layout Jacobian: rows = the output laid flat, columns = the
    variables of d.wrt laid flat, in order (vec, column by column); a scalar by
    one m×n matrix as the n×m transpose of its gradient."""
    columns = []
    for name in d.wrt:
        base = values.get(name, Mat.scalar(0.7))
        if d.typing.is_dimension(name):
            continue
        columns += fd_columns(lambda v, name=name: d.function_at({**values, name: v}), base, h)
    rows = len(columns[0])
    jac = [[col[i] for col in columns] for i in range(rows)]
    if d.kind() == "gradient":
        m = values[d.wrt[0]]
        return [[jac[0][i + j * m.rows] for i in range(m.rows)] for j in range(m.cols)]
    return jac


def max_rel_error(got, want) -> float:
    flat_got = [x for r in got for x in r]
    flat_want = [x for r in want for x in r]
    assert len(flat_got) == len(flat_want), f"sizes differ: {len(flat_got)} vs {len(flat_want)}"
    return max((abs(a - b) / (1 + abs(b)) for a, b in zip(flat_got, flat_want)), default=0.0)


def mcalc_cli(*args):
    """mcalc's command line in a fresh process."""
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-m", "mcalc", *args], capture_output=True, text=True)


def readback_error(d, printed: str, seed: int = 0) -> float:
    """The largest relative difference, at a random point, between the answer
    and what ``printed`` reads back as (typed with the function's variables)."""
    from mcalc.evaluate import Evaluator
    from mcalc.parser import parse

    node = d.resolve(parse(printed))
    mats, sizes = d._bind(random_values(d, seed))
    got = Evaluator(dict(mats), sizes)(node).tolist()
    return max_rel_error(got, d.evaluate(random_values(d, seed)))


def transpose(rows):
    return [list(r) for r in zip(*rows)]
