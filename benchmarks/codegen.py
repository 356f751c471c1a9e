"""The emitted NumPy code against PyTorch's autograd (eager) and JAX's grad (jit),
float64 on this CPU, each figure next to its target.

    pip install -e '.[bench]'          # torch and jax, for this benchmark only
    python benchmarks/codegen.py        # both workloads
    python benchmarks/codegen.py loss   # one of: loss network
    python benchmarks/codegen.py emit   # emission's own time, linear in the function (needs neither peer)
    python benchmarks/codegen.py --threads=1   # every library on one thread, the process on one core

Each workload's value and gradient is computed three ways, which run in turn,
round after round, so that a slow spell of a shared machine falls on all of
them alike: mcalc's emitted NumPy module (f_and_grad), the same function
written in PyTorch and differentiated by torch.autograd.grad, and written in
jax.numpy under jax.jit(jax.value_and_grad(...)).  JAX's compile time (its first
call) is reported apart.  The three gradients are compared before timing.
Figures: min / median / max milliseconds per call over the rounds; the target
is emitted NumPy ≤ 1.2× each peer, on the medians.
"""
from __future__ import annotations

import importlib.util
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

ROUNDS = 40
TARGET = 1.2

LOSS = "mean((y - max(0, X@w + b))^2)"  # the paper's §6: a ReLU neuron's mean squared error over N inputs
NETWORK = """W1: matrix[k, n]; W2: matrix[k, k]; W3: matrix[m, k]; X: matrix[n, B]; Y: matrix[m, B]
H1 = tanh(W1 @ X)
H2 = tanh(W2 @ H1)
L = sum((W3 @ H2 - Y)^2)"""


def _load(code: str, folder: str):
    path = os.path.join(folder, "emitted.py")
    with open(path, "w", encoding="utf-8") as out:
        out.write(code)
    spec = importlib.util.spec_from_file_location(f"emitted_{abs(hash(code))}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _workloads(np, torch, jax, jnp):
    """name -> (title, emitted code, NumPy arguments, torch function, jax function, wrt)."""
    import mcalc

    rng = np.random.default_rng(0)
    N, n = 4096, 512
    loss_args = dict(X=rng.normal(size=(N, n)), y=rng.normal(size=N), w=rng.normal(size=n) / np.sqrt(n), b=0.1)

    def torch_loss(X, y, w, b):
        return torch.mean((y - torch.clamp(X @ w + b, min=0)) ** 2)

    def jax_loss(w, b, X, y):
        return jnp.mean((y - jnp.maximum(0, X @ w + b)) ** 2)

    width, batch = 512, 256
    net_args = dict(W1=rng.normal(size=(width, width)) / np.sqrt(width),
                    W2=rng.normal(size=(width, width)) / np.sqrt(width),
                    W3=rng.normal(size=(width, width)) / np.sqrt(width),
                    X=rng.normal(size=(width, batch)), Y=rng.normal(size=(width, batch)))

    def torch_net(W1, W2, W3, X, Y):
        return torch.sum((W3 @ torch.tanh(W2 @ torch.tanh(W1 @ X)) - Y) ** 2)

    def jax_net(W1, W2, W3, X, Y):
        return jnp.sum((W3 @ jnp.tanh(W2 @ jnp.tanh(W1 @ X)) - Y) ** 2)

    return {
        "loss": (f"§6 loss {LOSS} by w, b (N = {N}, n = {n})",
                 mcalc.emit(LOSS, "w,b", vectors=["w", "y:N"], matrices=["X:N,n"]),
                 loss_args, torch_loss, jax_loss, ("w", "b")),
        "network": (f"three-layer tanh network by W1, W2, W3 (width {width}, batch {batch})",
                    mcalc.emit(NETWORK, "W1,W2,W3"), net_args, torch_net, jax_net, ("W1", "W2", "W3")),
    }


def _ms(times: list[float]) -> str:
    return f"{min(times) * 1e3:.2f} / {statistics.median(times) * 1e3:.2f} / {max(times) * 1e3:.2f} ms"


def run(name: str, workload, np, torch, jax, jnp, folder: str) -> bool:
    title, code, args, torch_fn, jax_fn, wrt = workload
    print(f"{title}")
    module = _load(code, folder)
    names = list(args)
    targs = {k: torch.tensor(v, dtype=torch.float64) for k, v in args.items()}
    jargs = {k: jnp.asarray(v, dtype=jnp.float64) for k, v in args.items()}
    others = [k for k in names if k not in wrt]

    def numpy_call():
        return module.f_and_grad(**args)

    def torch_call():
        variables = [targs[k].detach().requires_grad_() for k in wrt]
        value = torch_fn(**{**targs, **dict(zip(wrt, variables))})
        return value, torch.autograd.grad(value, variables)

    grad = jax.jit(jax.value_and_grad(lambda *xs: jax_fn(**dict(zip([*wrt, *others], xs))),
                                      argnums=tuple(range(len(wrt)))))
    ordered = [jargs[k] for k in [*wrt, *others]]

    def jax_call():
        return jax.block_until_ready(grad(*ordered))

    start = time.perf_counter()
    jax_call()
    first = time.perf_counter() - start
    value, grads = numpy_call()
    tvalue, tgrads = torch_call()
    jvalue, jgrads = jax_call()
    for peer, pgrads in (("torch", [g.numpy() for g in tgrads]), ("jax", [np.asarray(g) for g in jgrads])):
        for w, g, p in zip(wrt, grads, pgrads):
            scale = max(1.0, float(np.max(np.abs(p))))
            assert np.max(np.abs(np.asarray(g) - p)) <= 1e-9 * scale, f"{name}: {w} differs from {peer}"
    assert abs(float(value) - float(tvalue.detach())) <= 1e-9 * max(1.0, abs(float(value)))
    times = {"numpy": [], "torch": [], "jax": []}
    calls = {"numpy": numpy_call, "torch": torch_call, "jax": jax_call}
    for _ in range(3):  # warm up
        for call in calls.values():
            call()
    for _ in range(ROUNDS):
        for key, call in calls.items():
            start = time.perf_counter()
            call()
            times[key].append(time.perf_counter() - start)
    ok = True
    print(f"  {'emitted NumPy f_and_grad':<36} {_ms(times['numpy']):>30}")
    print(f"  {'torch.autograd.grad (eager)':<36} {_ms(times['torch']):>30}")
    print(f"  {'jax.value_and_grad (jit)':<36} {_ms(times['jax']):>30}   compile {(first - min(times['jax'])) * 1e3:.0f} ms")
    med = {k: statistics.median(v) for k, v in times.items()}
    for peer in ("torch", "jax"):
        ratio = med["numpy"] / med[peer]
        per_round = statistics.median(a / b for a, b in zip(times["numpy"], times[peer]))
        met = ratio <= TARGET
        ok &= met
        print(f"  NumPy / {peer:<5} {ratio:.2f}× of the medians (per round: {per_round:.2f}×)"
              f"{'':>8}target ≤ {TARGET}×  {'met' if met else 'SHORT'}")
    return ok


def emission() -> bool:
    """Printing the code is linear in the function: a k-layer network by its first
    weight matrix (one chain of 2k factors), time(2k)/time(k) for k = 50, 100, 200."""
    import mcalc

    print("emitting a k-layer network's gradient by W1 (h_i = tanh(W_i h_(i-1) + c_i), sum((h_k - y)²))")
    times: dict[int, list[float]] = {}
    derivations = {}
    for k in (50, 100, 200, 400):
        layers = "; ".join(["h1 = tanh(W1@x + c1)"] + [f"h{i} = tanh(W{i}@h{i - 1} + c{i})" for i in range(2, k + 1)])
        derivations[k] = mcalc.diff(f"{layers}; sum((h{k} - y)^2)", "W1", vectors=["x", "y"] +
                                    [f"c{i}" for i in range(1, k + 1)], matrices=[f"W{i}:n,n" for i in range(1, k + 1)])
        times[k] = []
    for _ in range(5):
        for k, d in derivations.items():
            start = time.perf_counter()
            d.to_code("numpy")
            times[k].append(time.perf_counter() - start)
    ok = True
    for k in (50, 100, 200):
        ratio = statistics.median(times[2 * k]) / statistics.median(times[k])
        met = ratio <= 2.3
        ok &= met
        print(f"  k = {k} → {2 * k}: {_ms(times[k])} → {_ms(times[2 * k])}, ×{ratio:.2f}"
              f"{'':>6}target ≤ 2.3  {'met' if met else 'SHORT'}")
    return ok


def main(argv: list[str]) -> int:
    if argv == ["emit"]:
        return 0 if emission() else 1
    threads = None
    if argv and argv[0].startswith("--threads="):
        threads = int(argv.pop(0).partition("=")[2])
        # before the libraries load: each reads its thread count once
        for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[var] = str(threads)
        # JAX's XLA has no switch for its threads: the process keeps to that many cores
        os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[:threads])
    import numpy as np
    try:
        import jax
        import jax.numpy as jnp
        import torch
    except ImportError as e:
        print(f"needs torch and jax: pip install -e '.[bench]' ({e})")
        return 2
    jax.config.update("jax_enable_x64", True)
    if threads is not None:
        torch.set_num_threads(threads)
    print(f"emitted code against autodiff on {platform.machine()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}; NumPy {np.__version__}, PyTorch {torch.__version__} "
          f"({torch.get_num_threads()} threads), JAX {jax.__version__}; float64; {ROUNDS} rounds; "
          f"load average {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory() as folder:
        workloads = _workloads(np, torch, jax, jnp)
        chosen = argv or list(workloads)
        results = [run(name, workloads[name], np, torch, jax, jnp, folder) for name in chosen]
    print(f"load average {os.getloadavg()[0]:.2f}; " + ("all targets met" if all(results) else "some targets are short"))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
