"""Code generation (--emit, Derivation.to_code): every paper and matrix case's
emitted NumPy module, imported and run at random points, against mcalc's own
evaluation (what --at prints), against central differences of the function as
mcalc evaluates it, and against a real autodiff (HIPS autograd on the emitted
function; torch.autograd and jax where installed); the module's shape: only
its library imported, no loops, temporaries named after the trace, structure
kept, shared parts computed once; its checks; the command line."""
from __future__ import annotations

import ast as pyast
import contextlib
import importlib.util
import itertools
import json
import os
import py_compile
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest

import mcalc
from mcalc import api, codegen
from mcalc.cli import run
from mcalc.errors import McalcError
from numeric import fd_jacobian, max_rel_error, random_values, transpose

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).parent / "data"
CASES = [c for name in ("paper.toml", "matrix.toml") for c in tomllib.loads((DATA / name).read_text())["case"]]
# and sinh, cosh and softplus, in every library as the cases' functions are
CASES += [
    {"id": "softplus-layer", "expr": "sum(softplus(W @ x + b))", "wrt": "W", "vectors": ["x", "b:m"],
     "matrices": {"W": "m,n"}},
    {"id": "softplus-layer-by-x", "expr": "sum(softplus(W @ x + b))", "wrt": "x", "vectors": ["x", "b:m"],
     "matrices": {"W": "m,n"}},
    {"id": "sinh-cosh", "expr": "sinh(x) ⊗ cosh(x) + softplus(-x)", "wrt": "x", "vectors": ["x"]},
]
IDS = [c["id"] for c in CASES]
TWO_LAYER = (ROOT / "examples" / "two-layer.mc").read_text()
THREE_LAYERS = """W1: matrix[k, n]; W2: matrix[k, k]; W3: matrix[m, k]; X: matrix[n, B]; Y: matrix[m, B]
H1 = tanh(W1 @ X)
H2 = tanh(W2 @ H1)
L = sum((W3 @ H2 - Y)^2)"""


# ----- helpers ----------------------------------------------------------------------
def options(case, layout=None):
    return dict(vectors=case.get("vectors", ()), matrices=[f"{k}:{v}" for k, v in case.get("matrices", {}).items()],
                scalars=case.get("scalars", ()), layout=layout or case.get("layout", "numerator"))


def derivations(case, layout=None):
    order = 2 if case.get("kind") == "hessian" else 1
    return api.derivations_for_code(case["expr"], case["wrt"], order=order, **options(case, layout))


_loaded = itertools.count()


def load(code: str, folder: Path):
    """Import emitted code as a module (mcalc's own output, not user text)."""
    path = folder / f"emitted_{next(_loaded)}.py"
    path.write_text(code, encoding="utf-8")
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def as_array(m):
    """mcalc's Mat value as the module takes it: a float, a 1-D vector, a 2-D matrix."""
    if m.rows == 1 and m.cols == 1:
        return m.data[0]
    if m.cols == 1:
        return np.array(m.data)
    return np.array(m.data).reshape(m.rows, m.cols)


def vec(x) -> np.ndarray:
    x = np.asarray(x, dtype=float)
    return (x.T if x.ndim == 2 else x).reshape(-1)


def rows(x) -> list[list[float]]:
    return np.asarray(x, dtype=float).tolist()


def module_and_point(case, tmp_path, seed, target="numpy", layout=None):
    ds = derivations(case, layout)
    d = ds[0]
    values = random_values(d.gradient or d, seed, sizes={"m": 2, "p": 2})
    args = {name: as_array(values[name]) for name in (d.gradient or d).variables()}
    return ds, load(codegen.to_code(ds, target), tmp_path), values, args


def numerator_derivative(module, d, args):
    """The emitted derivative as mcalc's numerator-layout Jacobian: a gradient's
    entries in a row (for one matrix, Gᵀ as mcalc lays it out), a Jacobian as it is."""
    if d.gradient is not None:
        return rows(module.hessian(**args))
    shape = d.typing.shape(d.program.body)
    if not shape.is_scalar:
        _, jac = module.f_and_jacobian(**args)
        return rows(jac) if d.layout == "numerator" else transpose(rows(jac))
    _, grads = module.f_and_grad(**args)
    grads = grads if isinstance(grads, tuple) else (grads,)
    if d.kind() == "gradient":
        return rows(np.asarray(grads[0]).T)
    return [np.concatenate([vec(g) for g in grads]).tolist()]


def one_of(gradient):
    """One gradient of several, as mcalc lays out its own derivation by that variable."""
    g = np.asarray(gradient)
    return rows(g.T) if g.ndim == 2 else [vec(g).tolist()]


def in_layout(d, numerator):
    return numerator if d.layout == "numerator" else transpose(numerator)


# ----- every case, by NumPy -------------------------------------------------------------
@pytest.mark.parametrize("case", CASES, ids=IDS)
@pytest.mark.parametrize("seed", [0, 1])
def test_emitted_numpy_agrees_with_at_and_finite_differences(case, seed, tmp_path):
    ds, module, values, args = module_and_point(case, tmp_path, seed)
    for d in ds:
        function = d.gradient or d
        value = function.function_at(values) if d.gradient is None else d.gradient.function_at(values)
        assert max_rel_error([vec(module.f(**args)).tolist()], [vec(as_array(value)).tolist()]) < 1e-12
        emitted = numerator_derivative(module, d, args) if len(ds) == 1 else \
            one_of(module.f_and_grad(**args)[1][ds.index(d)])
        assert max_rel_error(in_layout(d, emitted), d.evaluate(values)) < 1e-9, "differs from --at"
        assert max_rel_error(emitted, fd_jacobian(d, values)) < 1e-5, "differs from finite differences"


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_emitted_numpy_checks_itself(case, tmp_path):
    _, module, _, _ = module_and_point(case, tmp_path, 0)
    verdict = module.check_gradient()
    assert verdict.passed and verdict.entries > 0 and verdict.max_error < 1e-5
    assert repr(verdict).startswith("GradientCheck(passed: ")


@pytest.mark.parametrize("case", CASES, ids=IDS)
@pytest.mark.filterwarnings("ignore:Output seems independent of input")  # f = 99
def test_emitted_numpy_agrees_with_autograd(case, tmp_path):
    """HIPS autograd differentiates the emitted f (its NumPy traced by autograd.numpy)."""
    import autograd
    import autograd.numpy as anp

    ds, module, _, args = module_and_point(case, tmp_path, 2)
    d = ds[0]
    wrt = [w for dd in ds for w in (dd.gradient or dd).wrt]
    want = numerator_derivative(module, d, args) if len(ds) == 1 else \
        [np.concatenate([vec(g) for g in module.f_and_grad(**args)[1]]).tolist()]
    packed, unpack = pack(args, wrt, anp)
    module.np = anp
    try:
        if d.gradient is not None:
            got = autograd.hessian(lambda z: module.f(**unpack(z)))(packed)
        elif (d.gradient or d).typing.shape(d.program.body).is_scalar:
            got = [autograd.grad(lambda z: module.f(**unpack(z)))(packed)]
        else:
            got = autograd.jacobian(lambda z: flat(module.f(**unpack(z)), anp))(packed)
    finally:
        module.np = np
    if len(ds) == 1 and d.kind() == "gradient":  # mcalc lays a gradient by one matrix out as Gᵀ
        x = args[wrt[0]]
        got = np.asarray(got[0]).reshape(x.shape[1], x.shape[0])
    assert max_rel_error(rows(got), want) < 1e-9


def pack(args, wrt, lib):
    """The variables of wrt laid flat in one vector (vec each, in order), and back."""
    z = np.concatenate([vec(args[w]) for w in wrt])

    def unpack(z):
        out, k = dict(args), 0
        for w in wrt:
            x = np.asarray(args[w])
            size = x.size
            if x.ndim == 2:
                out[w] = z[k:k + size].reshape(x.shape[1], x.shape[0]).T
            elif x.ndim == 1:
                out[w] = z[k:k + size]
            else:
                out[w] = z[k]
            k += size
        return out

    return z, unpack


def flat(x, lib):
    """vec of a function's value (columns stacked), for any of the libraries."""
    if getattr(x, "ndim", 0) == 2:
        return x.T.reshape(-1)
    return x.reshape(-1) if getattr(x, "ndim", 0) == 1 else lib.reshape(x, (1,))


# ----- torch and JAX, where installed -----------------------------------------------------
def _framework(name):
    if importlib.util.find_spec(name) is None:
        pytest.skip(f"{name} is not installed (pip install '.[bench]' installs it)")
    return importlib.import_module(name)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_emitted_torch_agrees_with_torch_autograd(case, tmp_path):
    torch = _framework("torch")
    ds, module, _, args = module_and_point(case, tmp_path, 3, target="torch")
    numpy_module = load(codegen.to_code(ds, "numpy"), tmp_path)
    d = ds[0]
    targs = {k: torch.tensor(v, dtype=torch.float64) for k, v in args.items()}
    wrt = [w for dd in ds for w in (dd.gradient or dd).wrt]
    z0 = torch.tensor(np.concatenate([vec(args[w]) for w in wrt]), dtype=torch.float64)
    _, unpack = pack(targs, wrt, torch)
    function = d.gradient or d
    if d.gradient is not None:
        got = torch.autograd.functional.hessian(lambda z: module.f(**unpack(z)), z0)
        mine = module.hessian(**targs)
    elif function.typing.shape(d.program.body).is_scalar:
        z = z0.clone().requires_grad_()
        value = module.f(**unpack(z))
        got = torch.autograd.grad(value, z)[0] if value.requires_grad else torch.zeros_like(z)  # f = 99
        got = got.reshape(1, -1)
        _, grads = module.f_and_grad(**targs)
        grads = grads if isinstance(grads, tuple) else (grads,)
        mine = torch.cat([g.T.reshape(-1) if g.ndim == 2 else g.reshape(-1) for g in grads]).reshape(1, -1)
    else:
        got = torch.autograd.functional.jacobian(lambda z: flat(module.f(**unpack(z)), torch), z0)
        _, mine = module.f_and_jacobian(**targs)
        mine = mine if d.layout == "numerator" else mine.T
    assert max_rel_error(mine.tolist(), got.tolist()) < 1e-9
    value = numpy_module.f(**args)
    assert np.allclose(module.f(**targs).numpy(), value, rtol=1e-12, atol=1e-12)
    assert module.check_gradient().passed


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_emitted_jax_agrees_with_jax_grad(case, tmp_path):
    jax = _framework("jax")
    import jax.numpy as jnp

    ds, module, _, args = module_and_point(case, tmp_path, 4, target="jax")
    numpy_module = load(codegen.to_code(ds, "numpy"), tmp_path)
    d = ds[0]
    wrt = [w for dd in ds for w in (dd.gradient or dd).wrt]
    with jax.enable_x64(True):
        jargs = {k: jnp.asarray(v, dtype=jnp.float64) for k, v in args.items()}
        z0, unpack = pack(jargs, wrt, jnp)
        z0 = jnp.asarray(z0)
        function = d.gradient or d
        if d.gradient is not None:
            got = jax.hessian(lambda z: module.f(**unpack(z)))(z0)
            mine = module.hessian(**jargs)
        elif function.typing.shape(d.program.body).is_scalar:
            got = jax.grad(lambda z: module.f(**unpack(z)))(z0).reshape(1, -1)
            _, grads = module.f_and_grad(**jargs)
            grads = grads if isinstance(grads, tuple) else (grads,)
            mine = jnp.concatenate([jnp.asarray(vec(g)) for g in grads]).reshape(1, -1)
        else:
            got = jax.jacobian(lambda z: flat(module.f(**unpack(z)), jnp))(z0)
            _, mine = module.f_and_jacobian(**jargs)
            mine = mine if d.layout == "numerator" else mine.T
        assert max_rel_error(np.asarray(mine).tolist(), np.asarray(got).tolist()) < 1e-9
        assert np.allclose(np.asarray(module.f(**jargs)), numpy_module.f(**args), rtol=1e-12, atol=1e-12)
    assert module.check_gradient().passed


# ----- forms beyond the cases -----------------------------------------------------------
MORE = [
    ("x' @ A", "x", {"matrices": ["A:n,m"]}),
    ("x' @ A", "A", {"matrices": ["A:n,m"]}),
    ("X'", "X", {"matrices": ["X:m,n"]}),
    ("inv(X)", "X", {"matrices": ["X:n,n"]}),
    ("exp(X) @ w", "X", {"matrices": ["X:m,n"]}),
    ("softmax(W @ x)", "W", {"matrices": ["W:m,n"]}),
    ("sum(sigmoid(X @ w)) + logsumexp(w)", "w", {"matrices": ["X:N,n"]}),
    ("log_softmax(z)", "z", {"vectors": ["z"]}),
    ("max(x, y) + min(x, 2*y)", "x,y", {"vectors": ["x", "y"]}),
    ("sum(abs(x) + sign(x) + relu(x))", "x", {"vectors": ["x"]}),
    ("sqrt(x^2 + 1) + tan(x) + cos(x)", "x", {"vectors": ["x"]}),
    ("x / norm(x)", "x", {"vectors": ["x"]}),
    ("[x*y, e^x, y]", "x,y", {}),
    ("det(X)^2 + tr(X)/n", "X", {"matrices": ["X:n,n"]}),
    ("kron(A, B) @ vec(X)", "X", {"matrices": ["A:p,m", "B:q,n", "X:n,m"]}),
    ("vec(X)' @ kron(A, B)", "X", {"matrices": ["A:m,p", "B:n,q", "X:m,n"]}),
    ("kron(A, B) @ (vec(X) @ c' + vec(Y) @ d')", "X", {"matrices": ["A:p,m", "B:q,n", "X:n,m", "Y:n,m"],
                                                          "vectors": ["c:k", "d:k"]}),
    ("(c @ vec(X)' + d @ vec(Y)') @ kron(A, B)", "X", {"matrices": ["A:m,p", "B:n,q", "X:n,m", "Y:n,m"],
                                                      "vectors": ["c:k", "d:k"]}),
    ("commutation(m, n) @ vec(X) + vec(X')", "X", {"matrices": ["X:m,n"]}),
    ("sum(diag(v) @ A @ w)", "A", {"matrices": ["A:n,m"]}),
    ("sum((X @ W + ones(N) @ c' - Y)^2)", "W,c", {"matrices": ["X:N,n", "W:n,p", "Y:N,p"], "vectors": ["c:p"]}),
    ("3*x^2*y + π*y - 1/3", "x,y", {}),
    ("kron(A, B) @ x", "x", {"matrices": ["A:p,q", "B:m,k"]}),
    ("sum(asin(x/2) + acos(x/3) + atan(x) + asinh(x) + acosh(x^2 + 1) + atanh(x/2))", "x", {"vectors": ["x"]}),  # x's length is the product q·k
    ("ln(det(X' @ X))", "X", {"matrices": ["X:N,n"]}),  # the self-check's sizes keep XᵀX invertible
    ("sum(softplus(W @ x + b))", "W,b", {"matrices": ["W:m,n"], "vectors": ["x", "b:m"]}),
    ("sum(sinh(x) * cosh(x) + softplus(2*x))", "x", {"vectors": ["x"]}),
    ("[sinh(a*b), cosh(a + b), softplus(a - b)]", "a,b", {}),
]


@pytest.mark.parametrize("expr,wrt,opts", MORE, ids=[m[0] for m in MORE])
@pytest.mark.parametrize("layout", ["numerator", "denominator"])
def test_more_forms_agree_with_at_and_check_themselves(expr, wrt, opts, layout, tmp_path):
    ds = api.derivations_for_code(expr, wrt, layout=layout, **opts)
    module = load(codegen.to_code(ds, "numpy"), tmp_path)
    assert module.check_gradient(points=1).passed
    sizes = {"m": 2, "p": 3, "q": 2, "k": 4, "N": 5}
    for d in ds:
        values = random_values(d, 7, sizes=sizes)
        args = {name: as_array(values[name]) for name in d.variables()}
        emitted = numerator_derivative(module, d, args) if len(ds) == 1 else \
            one_of(module.f_and_grad(**args)[1][ds.index(d)])
        assert max_rel_error(in_layout(d, emitted), d.evaluate(values)) < 1e-9
        assert max_rel_error([vec(module.f(**args)).tolist()], [vec(as_array(d.function_at(values))).tolist()]) \
            < 1e-12


# ----- what the module looks like ----------------------------------------------------------
def functions(code: str) -> dict[str, pyast.FunctionDef]:
    return {n.name: n for n in pyast.parse(code).body if isinstance(n, pyast.FunctionDef)}


def assigned(fn: pyast.FunctionDef) -> list[str]:
    return [t.id for n in fn.body if isinstance(n, pyast.Assign) for t in n.targets if isinstance(t, pyast.Name)]


def test_temporaries_are_the_traces_intermediates():
    d = mcalc.diff(TWO_LAYER, "W1")
    code = d.to_code("numpy")
    body = functions(code)
    names = [it.name for it in d.trace.intermediates]
    assert names == ["u1", "u2", "h", "u4", "y", "u6", "u7", "u8"]  # the user's h and y by their names
    assert assigned(body["f"]) == names
    assert assigned(body["f_and_grad"])[:len(names)] == names
    assert "    h = np.tanh(u2)  # tanh(u₂)\n" in code and "    y = u4 + b2  # u₄ + b₂\n" in code
    assert "dL_dW1 = np.outer((1 - h ** 2) * (W2.T @ (2 * u6)), x)" in code  # step 3, in the intermediates


def test_backpropagation_computes_each_product_once():
    """Three layers by every weight matrix: 3 products forward, 5 backward (as any
    reverse-mode autodiff), tanh twice, and what two gradients share, once."""
    code = mcalc.emit(THREE_LAYERS, "W1,W2,W3")
    grad = pyast.get_source_segment(code, functions(code)["f_and_grad"])
    assert grad.count(" @ ") == 8 and grad.count("np.tanh(") == 2
    assert grad.count("W3.T @ u") == 1
    assert "g1 = (W3.T @ u" in grad  # the shared part, named once


def test_a_diagonal_times_a_matrix_is_a_broadcast():
    code = mcalc.emit("sum(diag(v) @ A @ w)", "A", matrices=["A:n,m"])
    assert "v[:, None] * A" in code and "np.diag" not in code
    code = mcalc.emit("sum(A @ diag(v) @ w)", "A", matrices=["A:m,n"])
    assert "u2 = A * v" in code and "np.diag" not in code


@pytest.mark.parametrize("expr,opts,how", [
    ("kron(A, B) @ vec(X)", {"matrices": ["A:p,m", "B:q,n", "X:n,m"]}, "(A @ u2.reshape(m, n) @ B.T).reshape(-1)"),
    ("kron(A, B) @ (vec(X) @ c' + vec(Y) @ d')", {"matrices": ["A:p,m", "B:q,n", "X:n,m", "Y:n,m"],
                                                  "vectors": ["c:k", "d:k"]}, "np.einsum('ik,jl,klc->ijc', A, B"),
    ("vec(X)' @ kron(A, B)", {"matrices": ["A:m,p", "B:n,q", "X:m,n"]}, "(A.T @ u2.reshape(m, n) @ B).reshape(-1)"),
    ("commutation(m, n) @ vec(X)", {"matrices": ["X:m,n"]}, "u1.reshape(n, m).T.reshape(-1)"),
])
def test_kronecker_products_and_commutations_are_never_formed(expr, opts, how):
    """kron(A, B) vec(X) = vec(B X Aᵀ) and K vec(X) = vec(Xᵀ): reshapes and products."""
    code = mcalc.emit(expr, "X", **opts)
    value = pyast.get_source_segment(code, functions(code)["f"])
    assert how in value
    assert "np.kron" not in value and "np.eye" not in value


def test_no_loops_and_only_the_target_library(tmp_path):
    for target, allowed in (("numpy", {"numpy"}), ("torch", {"torch"}), ("jax", {"jax"})):
        for expr, wrt, kw in ((TWO_LAYER, "W1,W2", {}), ("softmax(W @ x)", "W", {"matrices": ["W:m,n"]})):
            code = mcalc.emit(expr, wrt, target, **kw)
            tree = pyast.parse(code)
            imported = {a.name.split(".")[0] for n in pyast.walk(tree) if isinstance(n, pyast.Import)
                        for a in n.names}
            assert not any(isinstance(n, pyast.ImportFrom) for n in pyast.walk(tree))
            assert imported == allowed, target
            for name in ("f", "f_and_grad", "f_and_jacobian"):
                fn = functions(code).get(name)
                if fn is not None:
                    assert not any(isinstance(n, (pyast.For, pyast.While, pyast.comprehension))
                                   for n in pyast.walk(fn)), name


def test_modules_compile_and_pass_the_linter(tmp_path):
    from pyflakes.api import check
    from pyflakes.reporter import Reporter

    import io
    for target in codegen.TARGETS:
        for expr, wrt, kw, order in ((TWO_LAYER, "W1,W2", {}, 1), (THREE_LAYERS, "W1,W2,W3", {}, 1),
                                     ("softmax(W @ x)", "W", {"matrices": ["W:m,n"]}, 1),
                                     ("x'@A@x + sum(exp(x))", "x", {"matrices": ["A:n,n"]}, 2),
                                     ("x^2*y + y^3", "x,y", {}, 2)):
            code = mcalc.emit(expr, wrt, target, order=order, **kw)
            path = tmp_path / f"m_{target}.py"
            path.write_text(code, encoding="utf-8")
            py_compile.compile(str(path), doraise=True)
            out, err = io.StringIO(), io.StringIO()
            assert check(code, str(path), Reporter(out, err)) == 0, out.getvalue() + err.getvalue()


def test_sizes_come_from_the_arguments(tmp_path):
    module = load(mcalc.emit("mean((y - max(0, X@w + b))^2)", "w,b", vectors=["w", "y:N"], matrices=["X:N,n"]),
                  tmp_path)
    for n_rows, n_cols in ((4, 3), (9, 2)):
        rng = np.random.default_rng(n_rows)
        args = dict(X=rng.normal(size=(n_rows, n_cols)), y=rng.normal(size=n_rows), w=rng.normal(size=n_cols), b=0.1)
        value, (dw, db) = module.f_and_grad(**args)
        assert dw.shape == (n_cols,) and np.ndim(db) == 0
        z = args["X"] @ args["w"] + 0.1
        assert np.isclose(value, np.mean((args["y"] - np.maximum(0, z)) ** 2))
        assert np.allclose(dw, -2 / n_rows * ((args["y"] - np.maximum(0, z)) * (z > 0)) @ args["X"])


def test_shape_errors_name_the_variable_and_the_size(tmp_path):
    module = load(mcalc.emit(TWO_LAYER, "W1"), tmp_path)
    good = dict(W1=np.ones((3, 4)), W2=np.ones((2, 3)), b1=np.ones(3), b2=np.ones(2), t=np.ones(2), x=np.ones(4))
    module.f(**good)
    with pytest.raises(ValueError, match=r"x has length 5, but n = 4 from the columns of W1"):
        module.f(**{**good, "x": np.ones(5)})
    with pytest.raises(ValueError, match=r"b1 must be a vector \(1-D\) of length k, not an array of shape \(3, 1\)"):
        module.f(**{**good, "b1": np.ones((3, 1))})
    with pytest.raises(ValueError, match=r"W2 must be a matrix \(2-D\) of m×k"):
        module.f(**{**good, "W2": np.ones(6)})
    with pytest.raises(TypeError):
        module.f(W1=good["W1"])  # every variable, by name


def test_check_gradient_raises_on_a_wrong_gradient(tmp_path):
    code = mcalc.emit(TWO_LAYER, "W1,W2")
    wrong = re.sub(r"(dL_dW2 = .*)\bh\)", r"\1u2)", code)  # tanh(u₂) where u₂ should be
    assert wrong != code
    module = load(wrong, tmp_path)
    with pytest.raises(module.GradientCheckError, match=r"∂L/∂W2\[0, 0\]: the emitted code gives .*, central "
                                                        r"differences .* \(seed 0, "):
        module.check_gradient()
    assert issubclass(module.GradientCheckError, AssertionError)


def test_names_as_python_reads_them(tmp_path):
    assert mcalc.diff("sum(ϑ * θ)", "θ", vectors=["ϑ", "θ"]).unicode == "2θᵀ"  # one name, as to Python and LaTeX
    module = load(mcalc.emit("sum(ϑ * x)", "ϑ", vectors=["ϑ", "x"]), tmp_path)  # Python spells ϑ as θ
    assert np.allclose(module.f_and_grad(θ=[1.0, 2.0], x=[3.0, 4.0])[1], [3, 4]) and module.check_gradient()
    code = mcalc.emit("sum(np * x)", "x", vectors=["np", "x"])  # the library's alias steps aside
    assert "import numpy\n" in code and "numpy.sum(" in code
    assert load(code, tmp_path).check_gradient().passed
    code = mcalc.emit("sum(np * numpy * np_ * x)", "x", vectors=["x"])  # every alias taken (an internal error)
    assert "import numpy as np__\n" in code and load(code, tmp_path).check_gradient().passed


def test_a_variable_named_like_a_helper_or_a_builtin(tmp_path):
    module = load(mcalc.emit("sum(softmax(_arguments) * input) + max(0, _softmax)", "input",
                             vectors=["_arguments", "input"]), tmp_path)
    assert module.check_gradient().passed


def test_emitted_text_is_deterministic():
    first = mcalc.emit(THREE_LAYERS, "W1,W2,W3", "torch")
    assert first == mcalc.emit(THREE_LAYERS, "W1,W2,W3", "torch")
    outs = {subprocess.run([sys.executable, "-m", "mcalc", "diff", TWO_LAYER, "--wrt", "W1,W2", "--emit", "numpy",
                            "--no-check"], capture_output=True, text=True, env={**os.environ, "PYTHONHASHSEED": s},
                           timeout=60).stdout for s in ("0", "1")}
    assert len(outs) == 1 and outs.pop().startswith('"""L = ')


def test_hessians_by_several_scalars_and_by_a_matrix(tmp_path):
    module = load(mcalc.emit("x^2*y + y^3", "x,y", order=2), tmp_path)
    x, y = 1.5, -0.5
    assert np.allclose(module.hessian(x=x, y=y), [[2 * y, 2 * x], [2 * x, 6 * y]])
    value, (gx, gy) = module.f_and_grad(x=x, y=y)
    assert np.isclose(value, x * x * y + y ** 3) and np.allclose([gx, gy], [2 * x * y, x * x + 3 * y * y])
    module = load(mcalc.emit("norm(X @ W - Y)^2", "W", matrices=["X:N,n", "W:n,p", "Y:N,p"], order=2), tmp_path)
    assert module.check_gradient().passed
    rng = np.random.default_rng(0)
    X = rng.normal(size=(4, 3))
    H = module.hessian(X=X, W=rng.normal(size=(3, 2)), Y=rng.normal(size=(4, 2)))
    assert np.allclose(H, 2 * np.kron(np.eye(2), X.T @ X))  # over vec(W), columns stacked


def test_a_matrix_and_other_variables_get_one_gradient_each(tmp_path):
    with pytest.raises(McalcError):  # no one Jacobian to lay out, but code returns one gradient each
        mcalc.diff("sum(relu(W @ x + b))", "W,b", matrices=["W:m,n"], vectors=["b:m"])
    module = load(mcalc.emit("sum(relu(W @ x + b))", "W,b", matrices=["W:m,n"], vectors=["b:m"]), tmp_path)
    rng = np.random.default_rng(1)
    W, x, b = rng.normal(size=(2, 3)), rng.normal(size=3), rng.normal(size=2)
    _, (dW, db) = module.f_and_grad(W=W, x=x, b=b)
    assert np.allclose(dW, np.outer(W @ x + b > 0, x)) and np.allclose(db, W @ x + b > 0)


# ----- the command line ------------------------------------------------------------------
def test_emit_prints_a_checked_module(capsys, tmp_path):
    assert run(["diff", "sum(w*x)+b", "--wrt", "w", "--emit", "numpy"]) == 0
    out, err = capsys.readouterr()
    assert out.startswith('"""y = sum(w ⊗ x) + b\n') and "def f_and_grad(*, b, w, x):" in out
    assert err == ""
    module = load(out, tmp_path)
    assert np.allclose(module.f_and_grad(b=1.0, w=[1, 2], x=[3, 4])[1], [3, 4])


def test_emit_writes_a_file_and_hessians_too(capsys, tmp_path):
    path = tmp_path / "newton.py"
    assert run(["hessian", "-f", str(ROOT / "examples" / "newton.mc"), "--wrt", "w", "--emit", "numpy",
                "-o", str(path)]) == 0
    assert capsys.readouterr().out == ""
    module = load(path.read_text(encoding="utf-8"), tmp_path)
    assert "hessian" in dir(module) and module.check_gradient().passed


def test_emit_and_at_agree_on_the_command_line(capsys, tmp_path):
    args = ["diff", "-f", str(ROOT / "examples" / "two-layer.mc"), "--wrt", "W1", "--layout", "denominator"]
    assert run([*args, "--emit", "numpy", "--no-check"]) == 0
    module = load(capsys.readouterr().out, tmp_path)
    point = dict(W1=[[1, -2], [0.5, 1], [2, 1]], W2=[[1, 0, -1], [2, 1, 0.5]], b1=[0.1, 0.2, -0.3], b2=[0.5, 1],
                 t=[1.0, 2.0], x=[1, -1])
    at = [f"--at={k}={json.dumps(v)}" for k, v in point.items()]
    assert run([*args, "--format", "json", *at]) == 0
    assert np.allclose(module.f_and_grad(**point)[1], json.loads(capsys.readouterr().out)["value"])


@pytest.mark.parametrize("args,words", [
    (["-o", "x.py"], "--output goes with --emit"),
    (["--no-check"], "--no-check goes with --emit"),
    (["--emit", "numpy", "--latex"], "--emit prints a Python module; --latex goes without it"),
    (["--emit", "numpy", "--at", "x=[1,2]"], "--at goes without it"),
    (["--emit", "fortran"], "fortran"),
])
def test_emit_usage_errors(args, words, capsys):
    assert run(["diff", "sum(w*x)", "--wrt", "w", *args]) == 2
    assert words in capsys.readouterr().err


def test_a_module_that_fails_its_check_is_not_handed_over(monkeypatch, capsys):
    real = codegen.to_code
    monkeypatch.setattr(codegen, "to_code", lambda ds, target: real(ds, target).replace("dy_dw = x", "dy_dw = 2 * x"))
    assert run(["diff", "sum(w*x)+b", "--wrt", "w", "--emit", "numpy"]) == 1
    out, err = capsys.readouterr()
    assert out == "" and "failed its own check_gradient(), so it is not written: ∂y/∂w[0]" in err


def test_a_library_that_is_not_installed_is_said(monkeypatch, capsys):
    monkeypatch.setitem(codegen.LIBRARIES, "torch", "no_such_library_here")
    assert run(["diff", "sum(w*x)+b", "--wrt", "w", "--emit", "torch"]) == 0
    out, err = capsys.readouterr()
    assert "import torch" in out and "not checked: no_such_library_here is not installed here" in err


def test_verify_before_emitting(capsys):
    assert run(["diff", "sum(w*x)+b", "--wrt", "w", "--emit", "numpy", "--verify", "--no-check"]) == 0
    assert "verification of ∂/∂w: verified" in capsys.readouterr().err


def test_codegen_is_not_imported_to_derive():
    code = ("import sys\nfrom mcalc.cli import run\n"
            "assert run(['diff', 'sum(w*x)+b', '--wrt', 'w', '--latex']) == 0\n"
            "print('mcalc.codegen' in sys.modules)\n")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip().splitlines()[-1] == "False"


def test_a_deep_network_is_cut_into_lines_python_can_read(tmp_path):
    """k = 200 layers: a chain of 400 factors, ordered greedily, in pieces (Python's
    parser nests parentheses at most 200 deep); the module checks itself."""
    layers = "; ".join(["h1 = tanh(W1@x + c1)"] + [f"h{i} = tanh(W{i}@h{i - 1} + c{i})" for i in range(2, 201)])
    code = mcalc.emit(f"{layers}; v · h200", "x", vectors=["v", "x"] + [f"c{i}" for i in range(1, 201)],
                      matrices=[f"W{i}:n,n" for i in range(1, 201)])
    grad = pyast.get_source_segment(code, functions(code)["f_and_grad"])
    assert max(line.count("(") for line in grad.splitlines()) <= 2 * codegen.NESTING
    assert load(code, tmp_path).check_gradient(points=1).passed


def test_an_ascii_stream_gets_escapes_or_is_refused_for_greek_names(tmp_path):
    env = {**os.environ, "PYTHONIOENCODING": "ascii"}
    p = subprocess.run([sys.executable, "-m", "mcalc", "diff", "sum(x*y)", "--wrt", "x", "-v", "x,y", "--emit",
                        "numpy", "--no-check"], capture_output=True, text=True, env=env, timeout=60)
    assert p.returncode == 0 and p.stdout.isascii() and "\\u2297" in p.stdout  # ⊗ in the docstring, escaped
    assert load(p.stdout, tmp_path).check_gradient().passed  # and it is the same module
    p = subprocess.run([sys.executable, "-m", "mcalc", "diff", "-f", str(ROOT / "examples" / "loss.mc"), "--wrt",
                        "w,b", "--emit", "numpy", "--no-check"], capture_output=True, text=True, env=env, timeout=60)
    assert p.returncode == 2 and p.stdout == "" and "write it to a file with -o FILE" in p.stderr


def test_the_jax_module_can_be_jitted(tmp_path):
    jax = _framework("jax")
    import jax.numpy as jnp

    module = load(mcalc.emit(TWO_LAYER, "W1,W2", "jax"), tmp_path)
    rng = np.random.default_rng(0)
    args = {k: jnp.asarray(rng.normal(size=s)) for k, s in
            dict(W1=(3, 4), W2=(2, 3), b1=(3,), b2=(2,), t=(2,), x=(4,)).items()}
    jitted = jax.jit(module.f_and_grad)(**args)
    plain = module.f_and_grad(**args)
    assert np.allclose(jitted[0], plain[0]) and all(np.allclose(a, b) for a, b in zip(jitted[1], plain[1]))


def test_a_size_no_variable_has_is_an_argument(tmp_path):
    module = load(mcalc.emit("x * sum(ones(N)) + sum(y)", "x,y", vectors=["y"]), tmp_path)
    value, (dx, dy) = module.f_and_grad(x=2.0, y=[1.0, 2.0, 3.0], N=4)
    assert value == 14 and dx == 4 and np.allclose(dy, [1, 1, 1])
    assert module.check_gradient().passed
    with pytest.raises(TypeError):
        module.f(x=2.0, y=[1.0])
    with pytest.raises(ValueError, match="the size N must be a whole number from 1, not 0"):
        module.f(x=2.0, y=[1.0], N=0)


@pytest.mark.parametrize("kind, expr, wrt, vectors", [
    ("diff", "z · [2, 2, 2]^(-1)", "z", ["z:3"]),  # NumPy refuses integers to a negative power
    ("diff", "(y · softmax(sum(x)*y))*x", "x", ["x:n", "y:m"]),  # a 1×1 product is a number: not @ 𝟏ᵀ
    ("hessian", "logsumexp(sum(x) * y)", "x", ["x:n", "y:m"]),
])
def test_emitted_code_passes_its_own_check_where_numbers_stand_in_arrays(kind, expr, wrt, vectors, tmp_path):
    d = getattr(mcalc, kind)(expr, wrt=wrt, vectors=vectors)
    assert load(d.to_code("numpy"), tmp_path).check_gradient().passed


@pytest.mark.parametrize("expr", ["vec(A) · vec(A)", "vec(A) · vec(exp(A))", "vec(A ⊗ A) · vec(A)"])
@pytest.mark.parametrize("layout", ["numerator", "denominator"])
def test_code_for_a_gradient_found_in_closed_form_only_written_out(expr, layout, tmp_path):
    """diff printed 2Aᵀ for vec(A) · vec(A), yet --emit said the derivative had no closed form."""
    d = mcalc.diff(expr, wrt="A", matrices=["A:n,n"], layout=layout)
    assert load(d.to_code("numpy"), tmp_path).check_gradient().passed


@pytest.mark.parametrize("args", [
    ["sum(W @ y) + b", "--wrt", "W,x,b", "-M", "W:n,n", "-v", "y,x"],  # a gradient by a variable f lacks
    ["sum(W @ y) + b", "--wrt", "W,x,b,z", "-M", "W:n,n", "-v", "y,x,z:m"],  # with a size of its own
    ["sin(W @ y)", "--wrt", "W,x", "-M", "W:n,n", "-v", "y,x"],  # a Jacobian
])
def test_a_module_by_a_variable_the_function_does_not_take_checks_itself(args, tmp_path):
    """∂f/∂x = 0 where f does not contain x: f takes no x, and the module's own
    check_gradient() looked x up in its random point (KeyError: 'x'), so --emit refused
    to write it (found by a review)."""
    from mcalc.shell import run

    target = tmp_path / "emitted.py"
    with open(target, "w") as out, contextlib.redirect_stdout(out):
        assert run(["diff", *args, "--emit", "numpy"]) == 0
    spec = importlib.util.spec_from_file_location("emitted_absent", target)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    verdict = module.check_gradient()
    assert verdict.passed and verdict.entries > 0


@pytest.mark.parametrize("scale", [1e200, 1e-200])
def test_an_emitted_norm_keeps_huge_and_tiny_entries(scale, tmp_path):
    """np.linalg.norm of 1e200s overflowed: the emitted module's ‖x‖ was inf and its gradient 0
    (of 1e-200s: 0, and the gradient inf), where mcalc's own --at gives 1/√2 each."""
    import numpy as np

    d = api.diff("norm(x)", wrt="x", vectors=["x"])
    module = load(d.to_code("numpy"), tmp_path)
    value, grad = module.f_and_grad(x=np.array([scale, scale, 0.0]))
    assert value == pytest.approx(scale * 2 ** 0.5, rel=1e-12)
    assert list(grad) == pytest.approx([2 ** -0.5, 2 ** -0.5, 0.0], rel=1e-12)
    assert list(grad) == pytest.approx(d.evaluate({"x": [scale, scale, 0.0]})[0], rel=1e-12)
    assert module.check_gradient().passed



@pytest.mark.parametrize("target", ["numpy", "torch", "jax"])
def test_emitted_softplus_keeps_its_digits_at_large_arguments(target, tmp_path):
    """softplus(1000) is 1000 and softplus(-40) e⁻⁴⁰ in every library, where ln(1 + exp(1000))
    overflows and ln(1 + exp(-40)) is 0 in floats; its derivative σ is 1 and e⁻⁴⁰ there."""
    import math

    library = np if target == "numpy" else _framework(target)
    module = load(mcalc.emit("softplus(x) · w", "x,w", target, vectors=["x", "w"]), tmp_path)
    x, w = [1000.0, -1000.0, -40.0, 0.5], [1.0, 1.0, 1.0, 1.0]
    context = {"numpy": lambda: np.errstate(over="raise", invalid="raise", divide="raise"),
               "torch": contextlib.nullcontext, "jax": lambda: library.enable_x64(True)}[target]
    with context():
        array = {"numpy": lambda v: np.array(v), "torch": lambda v: library.tensor(v, dtype=library.float64),
                 "jax": lambda v: library.numpy.asarray(v, dtype=library.numpy.float64)}[target]
        args = {"x": array(x), "w": array(w)}
        _, (by_x, by_w) = module.f_and_grad(**args)  # ∂/∂w = softplus(x), ∂/∂x = σ(x) ⊗ w
        by_x, by_w = np.asarray(by_x).tolist(), np.asarray(by_w).tolist()
    assert by_w[:2] == [1000.0, 0.0] and by_x[:2] == [1.0, 0.0]
    assert by_w[2:] == pytest.approx([math.log1p(math.exp(-40)), math.log1p(math.exp(0.5))], rel=1e-12)
    assert by_x[2:] == pytest.approx([1 / (1 + math.exp(40)), 1 / (1 + math.exp(-0.5))], rel=1e-12)


@pytest.mark.parametrize("target", ["numpy", "torch", "jax"])
def test_a_function_of_a_number_runs_in_every_library(target, tmp_path):
    """exp(2)·x: torch.exp(2) raises TypeError (it takes a tensor) and jax.nn.sigmoid(2) refuses an
    integer, so the module mcalc printed for torch and JAX failed when called; the number is now
    an array of the arguments' dtype where the library needs one."""
    import math

    library = np if target == "numpy" else _framework(target)
    expr = "exp(2)*x + tanh(1)*sigmoid(2)*x + softplus(-1)*x + sum(3)*x + sinh(0.5)*x"
    module = load(mcalc.emit(expr, "x", target), tmp_path)
    context = {"numpy": contextlib.nullcontext, "torch": contextlib.nullcontext,
               "jax": lambda: library.enable_x64(True)}[target]
    with context():
        array = {"numpy": lambda v: np.float64(v), "torch": lambda v: library.tensor(v, dtype=library.float64),
                 "jax": lambda v: library.numpy.asarray(v, dtype=library.numpy.float64)}[target]
        _, grad = module.f_and_grad(x=array(0.7))
    slope = math.exp(2) + math.tanh(1) / (1 + math.exp(-2)) + math.log1p(math.exp(-1)) + 3 + math.sinh(0.5)
    assert float(grad) == pytest.approx(slope, rel=1e-12)
    assert float(grad) == pytest.approx(mcalc.diff(expr, wrt="x").evaluate({"x": 0.7})[0][0], rel=1e-12)


# ----- saturation: the cross-entropy where σ rounds to 0 or 1 ----------------------------------------
BCE = "-y*ln(sigmoid(z)) - (1-y)*ln(1 - sigmoid(z))"
BCE_MEAN = "-mean(y*ln(sigmoid(X@w)) + (1-y)*ln(1 - sigmoid(X@w)))"


def _softplus(x):
    return np.logaddexp(0.0, x)


def _stable_sigmoid(x):
    return np.exp(-np.logaddexp(0.0, -x))


@pytest.mark.parametrize("z", [0.3, -2.0, 37.0, 38.0, 40.0, -40.0, 800.0, -800.0])
@pytest.mark.parametrize("y", [0.0, 1.0, 0.25])
def test_the_cross_entropy_stays_finite_where_the_sigmoid_saturates(z, y, tmp_path):
    """Step 3 divides by σ(z) and by 1 - σ(z): at z = 40, 1 - σ(z) is 0 in floats, and the module
    returned (nan, nan) (the value was 0·ln 0 for y = 1).  The value is computed as
    y softplus(-z) + (1 - y) softplus(z), the gradient as the answer σ(z) - y."""
    module = load(mcalc.emit(BCE, "z"), tmp_path)
    value, grad = module.f_and_grad(y=y, z=z)
    assert np.isfinite(value) and np.isfinite(grad)
    assert value == pytest.approx(y * _softplus(-z) + (1 - y) * _softplus(z), rel=1e-12, abs=1e-300)
    assert grad == pytest.approx(_stable_sigmoid(z) - y, rel=1e-12, abs=1e-15)
    assert module.f(y=y, z=z) == value


def test_a_logistic_regressions_gradient_is_its_answer_in_the_intermediates(tmp_path):
    """By weights: the module computes (σ(Xw) - y)ᵀX/N with σ(Xw) the forward pass's own
    intermediate, and the gradient is right at logits of ±400 (it was NaN from ±38)."""
    code = mcalc.emit(BCE_MEAN, "w", vectors=["y"], matrices=["X:N,n"])
    grad = pyast.get_source_segment(code, functions(code)["f_and_grad"])
    assert "# step 4: the derivatives as the answer writes them" in grad
    assert "df_dw = ((u2 - y) @ X) / N" in grad and "/ u" not in grad  # divides by no computed value
    assert "np.logaddexp(0, -u1)" in grad and "np.logaddexp(0, u1)" in grad
    module = load(code, tmp_path)
    X = np.array([[1.0, 2.0], [3.0, -1.0], [0.5, 0.5]])
    y = np.array([1.0, 0.0, 1.0])
    for scale in (0.1, 1.0, 40.0, 400.0):
        w = np.array([1.0, 1.0]) * scale
        value, g = module.f_and_grad(X=X, w=w, y=y)
        z = X @ w
        assert value == pytest.approx(np.mean(y * _softplus(-z) + (1 - y) * _softplus(z)), rel=1e-12)
        assert g == pytest.approx(((_stable_sigmoid(z) - y) @ X) / 3, rel=1e-12, abs=1e-15)
    module.check_gradient()


def test_step_3_stays_where_it_divides_by_nothing():
    """A tanh network's gradients have no division: reverse accumulation, with its adjoints."""
    code = mcalc.emit(THREE_LAYERS, "W1,W2,W3")
    assert "# step 3: the derivatives by reverse accumulation" in code and "step 4" not in code


def test_a_deep_networks_cross_entropy_is_backpropagation_in_the_answer(tmp_path):
    code = mcalc.emit("h1 = tanh(W1@x); h2 = tanh(W2@h1); z = w3 · h2; "
                      "L = -y*ln(sigmoid(z)) - (1-y)*ln(1-sigmoid(z))", "W1,W2,w3",
                      vectors=["x:n", "w3:k"], matrices=["W1:m,n", "W2:k,m"])
    grad = pyast.get_source_segment(code, functions(code)["f_and_grad"])
    # forward W1x, W2h1 and w3 · h2, backward W2ᵀ(…): each product once, as backpropagation takes them
    assert "step 4" in grad and grad.count(" @ ") == 4 and grad.count("W2.T @ ") == 1
    module = load(code, tmp_path)
    module.check_gradient()
    rng = np.random.default_rng(3)
    args = dict(W1=rng.normal(size=(2, 3)) * 30, W2=rng.normal(size=(4, 2)) * 30, w3=rng.normal(size=4) * 30,
                x=rng.normal(size=3), y=1.0)
    value, grads = module.f_and_grad(**args)
    assert np.isfinite(value) and all(np.isfinite(g).all() for g in grads)


def test_a_named_adjoint_that_divides_leaves_step_3_too(tmp_path):
    """By w and b, the division stood in the adjoint δ₃ = (u₁/u₄ + u₇/u₈)u₄u₈ that both derivatives
    use, not in them: the module kept step 3 and returned NaN at w·x + b = 40."""
    code = mcalc.emit("-y*ln(sigmoid(w·x+b)) - (1-y)*ln(1-sigmoid(w·x+b))", "w,b", vectors=["w", "x"])
    assert "step 4" in code
    module = load(code, tmp_path)
    value, (gw, gb) = module.f_and_grad(w=np.array([40.0, 0.0]), x=np.array([1.0, 1.0]), b=0.0, y=0.3)
    assert value == pytest.approx(0.3 * _softplus(-40.0) + 0.7 * _softplus(40.0), rel=1e-12)
    assert gw == pytest.approx([0.7, 0.7], rel=1e-12) and gb == pytest.approx(0.7, rel=1e-12)
    module.check_gradient()
