"""The command line: outputs, exit codes, one-line errors, determinism."""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mcalc import api
from mcalc.cli import run

ROOT = Path(__file__).resolve().parent.parent


def mcalc(*args, env=None):
    """Run the real command in a fresh process."""
    return subprocess.run([sys.executable, "-m", "mcalc", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=60)


def test_no_declarations_needed_for_the_neuron(capsys):
    assert run(["diff", "sum(w*x)+b", "--wrt", "w", "--format", "text"]) == 0
    out = capsys.readouterr().out
    for step in ("1. Introduce intermediate variables", "2. Compute the partials",
                 "3. Combine (vector chain rule)", "4. Substitute"):
        assert step in out
    assert "∂u₁/∂w = diag(x)" in out and "∂u₂/∂u₁ = 𝟏ᵀ" in out
    assert out.rstrip().endswith("∂y/∂w = xᵀ    (1×n row vector)")


def test_deep_nest_shows_the_papers_steps(capsys):
    assert run(["diff", "ln(sin(x^3)^2)", "--wrt", "x", "--format", "text"]) == 0
    out = capsys.readouterr().out
    for line in ("u₁ = x³", "u₂ = sin(u₁)", "u₃ = u₂²", "u₄ = ln(u₃)", "(single-variable chain rule)",
                 "6x²cos(x³)/sin(x³)"):
        assert line in out


def test_latex_is_one_line(capsys):
    assert run(["diff", "max(0, w·x + b)", "--wrt", "w", "--latex"]) == 0
    # one line, in the paper's cases form (§5)
    assert capsys.readouterr().out == (
        "\\begin{cases} \\mathbf{x}^{T} & \\mathbf{w} \\cdot \\mathbf{x} + b > 0 \\\\ "
        "\\mathbf{0}_{1 \\times n} & \\mathbf{w} \\cdot \\mathbf{x} + b \\leq 0 \\end{cases}\n")


def test_latex_steps_is_an_align_block(capsys):
    assert run(["diff", "sum(w*x)+b", "--wrt", "w", "--latex", "--steps"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("\\begin{align*}") and out.rstrip().endswith("\\end{align*}")
    assert "\\mathbf{u}_{1} &= \\mathbf{w} \\otimes \\mathbf{x}" in out  # a vector intermediate is bold


def test_json_has_the_documented_fields(capsys):
    args = ["diff", "max(0, w·x + b)", "--wrt", "w", "--format", "json",
            "--at", "w=[1,2,3]", "--at", "x=[0.5,-1,2]", "--at", "b=0.5"]
    assert run(args) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["wrt"] == ["w"] and data["layout"] == "numerator"
    assert data["variables"]["w"] == {"kind": "vector", "shape": ["n", 1]}
    assert set(data["steps"]) == {"intermediates", "partials", "combine", "substitute"}
    assert data["rule"] == "vector chain rule"
    assert data["result"]["text"] == "(w · x + b > 0)*x^T"
    assert data["result"]["shape"] == [1, "n"]
    assert data["value"] == [[0.5, -1.0, 2.0]]  # w·x + b = 5 > 0, so the gradient is xᵀ
    assert data["notes"]  # the kink convention is stated


def test_at_denominator_layout_gives_a_column(capsys):
    assert run(["diff", "w · x", "--wrt", "w", "-v", "w,x", "--layout", "denominator", "--format", "json",
                "--at", "w=[1,2]", "--at", "x=[3,4]"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["result"]["text"] == "x" and data["value"] == [[3.0], [4.0]]


def test_a_value_that_cancels_in_floating_point_is_worked_out_in_more_digits(capsys):
    """softplus(z) - yz by z is exp(z)/(1 + exp(z)) - y: at z = 40, y = 1 that is 1.0 - 1 in
    floats, 0, where its value is -1/(1 + e⁴⁰) = -4.2e-18; and (cos(x) - 1)/y² by y at
    x = y = 10⁻⁵ kept 5 digits of 2(1 - cos x)/y³.  Where a sum or difference of values
    rounded on the way cancels, the answer is worked out again in SymPy's digits."""
    import mcalc

    want = -1 / (1 + math.exp(40))
    args = ["diff", "ln(1 + exp(z)) - y*z", "--wrt", "z", "--at", "z=40", "--at", "y=1"]
    assert run([*args, "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["value"][0][0] == pytest.approx(want, rel=1e-12)
    assert run([*args, "--format", "text"]) == 0
    assert "value at z=40, y=1: -4.24835e-18\n" in capsys.readouterr().out
    assert run([*args, "--latex"]) == 0
    assert capsys.readouterr().out.endswith("% value at z=40, y=1: -4.24835e-18\n")
    d = mcalc.diff("(cos(x) - 1)/y^2", wrt="y")
    x = y = 1e-5
    assert d.evaluate({"x": x, "y": y})[0][0] == pytest.approx(4 * math.sin(x / 2) ** 2 / y ** 3, rel=1e-12)
    d = mcalc.diff("sum(ln(1 + exp(z)) - y*z)", wrt="z")
    got = d.evaluate({"z": [40, 1], "y": [1, 1]})[0]
    assert got == pytest.approx([want, 1 / (1 + math.exp(-1)) - 1], rel=1e-12)


@pytest.mark.parametrize("expr, wrt, at, value", [
    ("(x - 1)^2", "x", {"x": 1}, [0.0]),  # 2x - 2 at x = 1: 2 - 2, nothing rounded
    ("x^3/3 - x", "x", {"x": 1}, [0.0]),
    ("(x - y)^2", "x", {"x": 0.5, "y": 0.5}, [0.0]),  # given values
    ("sum((w - x)^2)", "w", {"w": [1, 2], "x": [1, 2]}, [0.0, 0.0]),
    ("relu(x) - x", "x", {"x": 2}, [0.0]),  # (x > 0) - 1: 1 - 1
    ("sin(x) - x", "x", {"x": 0}, [0.0]),  # cos(0) - 1
])
def test_values_that_cancel_exactly_are_not_worked_out_again(expr, wrt, at, value):
    """(SymPy is not even loaded for them.)"""
    code = (f"import sys, mcalc; v = mcalc.diff({expr!r}, wrt={wrt!r}).evaluate({at!r}); "
            f"print(v[0], 'sympy' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split()[-1] == "False" and json.loads(out.rsplit(" ", 1)[0]) == value


@pytest.mark.parametrize("expr, wrt, at", [
    ("relu(x) - x", "x", {"x": 2}),  # (x > 0) - 1
    ("sin(x) - x", "x", {"x": 0}),  # cos(0) - 1
    ("0.1*x^2/2 - 0.1*x", "x", {"x": 1}),  # 0.1x - 0.1, 0.1 as written
    ("x*exp(y) - x*exp(z)", "x", {"x": 1, "y": 1, "z": 1}),
    ("sum(exp(A)) - sum(A)", "A", {"A": [[0, 0], [0, 0]]}),
    ("relu(x - 0.1)", "x", {"x": 0.1}),  # at the kink, as in floats: 0.1 written is the float 0.1
    ("abs(x - 0.1)", "x", {"x": 0.1}),
    ("(x - 0.1)^2/2", "x", {"x": 0.1}),
    ("x*(sin(y)^2 + cos(y)^2) - x", "x", {"x": 1, "y": 1}),  # 0, which SymPy cannot prove: the float stays
])
def test_exact_cancellations_worked_out_again_stay_zero(expr, wrt, at):
    import mcalc

    d = mcalc.diff(expr, wrt=wrt, matrices=["A:n,n"] if "A" in expr else ())
    assert all(v == 0 for row in d.evaluate(at) for v in row)


def test_declarations_repeat_and_split_on_commas(capsys):
    assert run(["diff", "sum(X @ w) + sum(Y @ w)", "--wrt", "w", "-M", "X:N,n,Y:m,n", "-v", "w",
                "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["variables"]["Y"]["shape"] == ["m", "n"]


def test_function_from_a_file(tmp_path, capsys):
    f = tmp_path / "neuron.mc"
    f.write_text("# a neuron\nz = w · x + b\nmax(0, z)\n")
    assert run(["diff", "-f", str(f), "--wrt", "b", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["result"]["text"] == "(w · x + b > 0)"


BAD = [
    ["diff", "sum(w*", "--wrt", "w"],
    ["diff", "w ⊗", "--wrt", "w"],
    ["diff", "foo(x)", "--wrt", "x"],
    ["diff", "w ⊗ X", "--wrt", "w", "-M", "X:N,n", "-v", "w"],
    ["diff", "x", "--wrt", "x", "--layout", "sideways"],
    ["diff", "x", "--wrt", "x", "--format", "yaml"],
    ["diff", "x + y"],  # two variables and no --wrt
    ["diff", "--wrt", "x"],
    ["diff", "x", "--wrt", "sin"],
    ["diff", "x^2", "--wrt", "x", "--at", "x=[1,"],
    ["diff", "x^2", "--wrt", "x", "--at", "x=NaN"],
    ["diff", "x^2", "--wrt", "x", "--at", "x"],
    ["diff", "sum(x)", "--wrt", "x", "-v", "x", "--at", "x=[[1,2],[3,4]]"],
    ["diff", "w·x", "--wrt", "x", "-v", "w,x", "--at", "w=[1,2]", "--at", "x=[1,2,3]"],
    ["diff", "ln(x)", "--wrt", "x", "--at", "x=-1"],
    ["diff", "x", "--wrt", "x", "-f", "/nonexistent/file"],
    ["diff", "kron(X, X)", "--wrt", "X", "-M", "X:n,n"],
    ["nonsense"],
]


@pytest.mark.parametrize("args", BAD, ids=[" ".join(a) for a in BAD])
def test_bad_input_exits_2_with_one_line_and_no_stdout(args, capsys):
    assert run(args) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mcalc: ")
    assert "Traceback" not in captured.err


def test_errors_name_the_column(capsys):
    run(["diff", "w ⊗ X", "--wrt", "w", "-M", "X:N,n", "-v", "w"])
    assert "column 3" in capsys.readouterr().err


def test_a_real_process_for_bad_input():
    p = mcalc("diff", "sum(w*", "--wrt", "w")
    assert p.returncode == 2 and p.stdout == "" and "column 7" in p.stderr and "Traceback" not in p.stderr


def test_version_and_module_entry():
    p = mcalc("--version")
    assert p.returncode == 0 and p.stdout.startswith("mcalc ")


def test_output_is_deterministic_across_hash_seeds():
    args = ("diff", "mean((y - max(0, X@w + b))^2)", "--wrt", "w", "-v", "w,y:N", "-M", "X:N,n", "--format", "json")
    outs = {mcalc(*args, env={"PYTHONHASHSEED": str(seed)}).stdout for seed in (0, 1, 2)}
    assert len(outs) == 1 and outs.pop()


def test_no_color_gives_plain_text():
    p = mcalc("diff", "sum(w*x)+b", "--wrt", "w", env={"NO_COLOR": "1"})
    assert p.returncode == 0 and "\x1b[" not in p.stdout and "4. Substitute" in p.stdout


def test_built_in_example(capsys):
    assert run(["diff", "--example", "--format", "text"]) == 0
    assert "∂y/∂w = xᵀ" in capsys.readouterr().out


def test_rich_view_renders(capsys):
    from rich.console import Console

    import mcalc as api

    console = Console(record=True, width=100)
    console.print(api.diff("sum(w*x)+b", wrt="w"))
    text = console.export_text()
    assert "Introduce intermediate variables" in text and "xᵀ" in text


def test_jupyter_representations():
    import mcalc as api

    d = api.diff("sum(w*x)+b", wrt="w")
    # the equation, not only its right-hand side (issue 12)
    assert d._repr_latex_() == "$$\\frac{\\partial y}{\\partial \\mathbf{w}} = \\mathbf{x}^{T}$$"
    assert d._repr_mimebundle_()["text/plain"] == "∂y/∂w = xᵀ"
    assert d.steps._repr_latex_().startswith("\\begin{align*}")
    assert str(d.steps).startswith("y = sum(w ⊗ x) + b") and "4. Substitute" in str(d.steps)


def test_diff_never_imports_sympy():
    """Start-up: SymPy (about 0.3 s to import) is for verification only."""
    code = (
        "import sys\n"
        "from mcalc.cli import run\n"
        "for args in (['ln(sin(x^3)^2)', '--wrt', 'x'], ['sin(x + x^2)', '--wrt', 'x', '--latex', '--steps'],\n"
        "             ['mean((y - max(0, X@w + b))^2)', '--wrt', 'w', '-v', 'w,y:N', '-M', 'X:N,n',\n"
        "              '--format', 'json'], ['sigmoid(w · x) / (1 + x · x)', '--wrt', 'x', '-v', 'w,x']):\n"
        "    assert run(['diff', *args]) == 0\n"
        "print('sympy' in sys.modules)\n"
    )
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip().splitlines()[-1] == "False"


def test_a_single_partial_is_combined_in_one_line(capsys):
    run(["diff", "x^3", "--wrt", "x", "--format", "text"])
    combine = capsys.readouterr().out.split("3. Combine")[1].split("4. Substitute")[0]
    # one partial is no chain: no chain rule named (issue 12), d for one variable (§2)
    assert [line.strip() for line in combine.strip().splitlines()] == [
        "dy/dx = du₁/dx", "= 3x²   1×1", "(a single partial: nothing to chain)"]


def test_derivations_leave_the_cycle_collector_as_they_found_it():
    import gc
    import threading

    import mcalc

    def work():
        for _ in range(40):
            mcalc.diff("ln(sin(x^3)^2)", wrt="x").text
            mcalc.diff("x", wrt="x").text  # short: threads come and go while others derive

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert gc.isenabled()
    gc.disable()
    try:
        mcalc.diff("x^3", wrt="x").latex
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_threads_asking_one_derivation_for_its_forms_get_one_answer():
    """The forms are worked out when first asked for, without a lock: threads asking
    at once may each work one out, and each gets the same string."""
    import threading

    import mcalc

    expr, wrt = "sum(tanh(W@x + b) * x) + ln(sum(x*x))", "x"
    alone = mcalc.diff(expr, wrt=wrt)
    want = (alone.text, alone.latex, alone.unicode)
    for _ in range(5):
        shared = mcalc.diff(expr, wrt=wrt)
        got = []

        def work(d=shared):
            got.append((d.text, d.latex, d.unicode))

        threads = [threading.Thread(target=work) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert got == [want] * 6
        assert (shared.text, shared.latex, shared.unicode) == want


@pytest.mark.parametrize("declaration, word", [
    (["-v", "x:e"], "constant e"), (["-v", "x:π"], "constant π"), (["-v", "x:sum"], "function sum"),
    (["-v", "x:x"], "cannot be named x"), (["-M", "A:I,I"], "a name mcalc keeps"),
])
def test_a_size_named_as_a_constant_a_function_or_its_own_variable_is_refused(declaration, word, capsys):
    """With x's length e, mean(x)·e printed e ones(e)ᵀ/e, which reads back as 1 (both e's Euler's)."""
    expr = "mean(A)" if "-M" in declaration else "mean(x)*2"
    assert run(["diff", expr, "--wrt", expr[5], *declaration]) == 2
    err = capsys.readouterr().err
    assert word in err and "Traceback" not in err


@pytest.mark.parametrize("name", ["w_1", "w₁", "w1"])
def test_at_takes_every_spelling_of_a_name(name, capsys):
    assert run(["diff", "w_1^2", "--wrt", "w_1", "--at", f"{name}=3", "--format", "text"]) == 0
    assert "value at w1=3: 6" in capsys.readouterr().out


def test_latex_with_another_format_is_refused(capsys):
    assert run(["diff", "x^2", "--latex", "--format", "json"]) == 2
    assert "--latex is --format latex" in capsys.readouterr().err


@pytest.mark.parametrize("expr", ["x + 1/0", "x^2 + 1/(2 - 2)", "u = 3/(-0 * 2); x * u", "x + 0^(-1)",
                                  "ln(0)*x", "x + ln(-1)", "x*sqrt(-1)", "x + (1-1)^(-1)"])
def test_a_part_of_numbers_without_a_value_is_refused_where_it_stands(expr, capsys):
    """x + 1/0 has no value anywhere: its derivative by x was printed as 1."""
    assert run(["diff", expr, "--wrt", "x", "--format", "text"]) == 2
    err = capsys.readouterr().err
    assert "has no value" in err and "column" in err


@pytest.mark.parametrize("expr, column", [
    ("x/(exp(1000) - exp(1000))", 2), ("w/(x - x)", 2), ("x + ln(x - x)", 5), ("x/(0*y)", 2),
    ("x + 1/(2*y - y - y)", 6), ("u = x - x; x/u", 13), ("u = x - x; v = u; x/v", 20),
    ("u = y*y; x/(u - y^2)", 11), ("x*(x - x)^(-1)", 10), ("x + sqrt(y - y - 1)", 5),
    ("sum(w/(x - x))", 6),
])
def test_a_part_that_simplifies_to_no_value_is_refused_where_it_stands(expr, column, capsys):
    """What a division, a power or ln takes can be 0 once simplified where exact rationals
    cannot say: the derivative of x/(exp(1000) - exp(1000)) was printed as 1/0, of w/(x - x)
    by x as 0, of x + ln(x - x) as 1."""
    assert run(["diff", expr, "--wrt", "x", "--format", "text"]) == 2
    err = capsys.readouterr().err
    assert "has no value anywhere" in err and f"column {column}:" in err, err


@pytest.mark.parametrize("expr", ["x + exp(1000)", "x*ln(2)", "x + 2^0.5", "x/2", "x/(y - y + 1)",
                                  "x/(1 + x^2)", "x + (y - y)^0.5", "u = x + 1; x/(u - x)",
                                  "exp(x)/sum(exp(x))"])
def test_a_part_of_numbers_with_a_value_is_read(expr):
    assert run(["diff", expr, "--wrt", "x", "--format", "text"]) == 0


def test_a_subtree_definitions_share_is_evaluated_once(capsys):
    """u₁ = x² + x, uᵢ = uᵢ₋₁² + uᵢ₋₁: written out, a tree of 2ᵏ nodes; --at took 6.7 s at k = 18."""
    from mcalc.api import diff
    from mcalc.evaluate import Evaluator, Mat

    k = 40
    defs = "u1 = x^2 + x; " + "; ".join(f"u{i} = u{i-1}^2 + u{i-1}" for i in range(2, k + 1)) + f"; u{k}"
    sums = []

    class Counting(Evaluator):
        def _Add(self, node):
            sums.append(node)
            return super()._Add(node)

    d = diff(defs, wrt="x")
    Counting({"x": Mat.scalar(-0.6)}, {})(d.function_expr())
    assert len(sums) == k  # one sum a definition, not 2ᵏ
    assert run(["diff", defs, "--wrt", "x", "--at", "x=-0.6", "--format", "text"]) == 0
    assert "value at x=-0.6" in capsys.readouterr().out


@pytest.mark.parametrize("args, message", [
    (["log(x, 2)", "--wrt", "x"], "log takes 1 argument"),  # the name as written, not ln
    (["x[1.5]", "--wrt", "x", "-v", "x"], "k a whole number from 1"),  # no space to blame
    # the input's own name (it named x whatever was written), and why a matrix has no such element
    (["W[1,2]", "--wrt", "W", "-M", "W:2,2"], "an element is W[k] of a vector W"),
    (["W[1,2]", "--wrt", "W", "-M", "W:2,2"], "a matrix's entries are not indexed"),
    (["1/x", "--wrt", "x", "--at", "x=1e-400"], "too small: as a float it is 0"),  # not x = 0 in silence
])
def test_messages_say_what_was_written(args, message, capsys):
    assert run(["diff", *args]) == 2
    assert message in capsys.readouterr().err


def test_an_inverted_undeclared_name_is_said_to_be_a_matrix(capsys):
    """X⁻¹ with X undeclared makes X an n×n matrix (inv needs one): said, with how to get 1/X;
    x⁻¹, in lower case as scalars are written, is 1/x (it was a matrix, and a LaTeX claim of
    -x^{-2} for the derivative of x^{-1} failed on its shapes)."""
    assert run(["diff", "X⁻¹", "--wrt", "X", "--format", "text"]) == 0
    assert "declare it a scalar (-s X) to read X⁻¹ as 1/X" in capsys.readouterr().err
    assert run(["diff", "X⁻¹", "--wrt", "X", "-s", "X", "--format", "text"]) == 0
    assert "-1/X²" in capsys.readouterr().out
    for text in ("x⁻¹", "x^{-1}", "inv(x)"):
        assert run(["diff", text, "--wrt", "x", "--format", "text"]) == 0
        captured = capsys.readouterr()
        assert "-1/x²" in captured.out and "matrix" not in captured.err


def test_the_note_names_the_function_as_the_answer_does(capsys):
    assert run(["diff", "sum(y)", "--wrt", "x", "-v", "y,x", "--format", "text"]) == 0
    captured = capsys.readouterr()
    assert "∂f/∂x = 0: f does not contain x" in captured.err and "∂f/∂x =" in captured.out


def test_a_function_whose_variables_take_every_usual_name_is_named_apart(capsys):
    """y, f, F and out all variables: the function is g (then h, …), in the answer and the
    note alike (it was an internal error, exit 70); a letter without an index, since y1
    would be the element y₁ of a vector y."""
    assert run(["diff", "y*f*F*out", "--wrt", "y,x", "--format", "text"]) == 0
    captured = capsys.readouterr()
    assert "g = yfF out" in captured.out and "∂g/∂y = out Ff" in captured.out
    assert "∂g/∂x = 0: g does not contain x" in captured.err
    assert run(["diff", "sum(y*x) + f*F*out*y0*y1*g", "--wrt", "y0", "-v", "x,y", "--format", "text"]) == 0
    out = capsys.readouterr().out
    assert "h = sum(y ⊗ x) + fF out y₀ y₁ g" in out and "∂h/∂y₀ = g y₁ fF out" in out


def test_values_show_no_negative_zero(capsys):
    assert run(["diff", "x - w", "--wrt", "w,x", "-v", "w:2,x:2", "--at", "w=[1,2]", "--at", "x=[1,2]",
                "--format", "json"]) == 0
    out = capsys.readouterr().out
    assert json.loads(out)["value"] == [[-1, 0, 1, 0], [0, -1, 0, 1]] and "-0.0" not in out
    assert run(["diff", "x - w", "--wrt", "w,x", "-v", "w:2,x:2", "--at", "w=[1,2]", "--at", "x=[1,2]",
                "--format", "text"]) == 0
    assert "[[-1, 0, 1, 0], [0, -1, 0, 1]]" in capsys.readouterr().out


@pytest.mark.parametrize("cases", ["\\begin{cases} x^2 & x > 0 \\\\ 3 x & x > -1 \\end{cases}",
                                   "\\begin{cases} x & x>0 \\\\ x & x>0 \\end{cases}",
                                   "\\begin{cases} x^2 & x \\ge -1 \\\\ 3 x & x \\le 0 \\end{cases}"])
def test_cases_whose_conditions_overlap_are_refused(cases, capsys):
    """Read as Σ value·(condition), overlapping cases added their values: ∂/∂x was 5 at x = 1."""
    assert run(["diff", cases, "--wrt", "x"]) == 2
    assert "hold at once" in capsys.readouterr().err


@pytest.mark.parametrize("cases", ["\\begin{cases} x^2 & x > 0 \\\\ 3 x & x \\le 0 \\end{cases}",
                                   "\\begin{cases} x^2 & x > y \\\\ 3 x & x \\le y \\end{cases}",
                                   "\\begin{cases} x^2 & 0 < x \\\\ 3 x & x < 0 \\end{cases}"])
def test_cases_whose_conditions_exclude_each_other_are_read(cases):
    assert run(["diff", cases, "--wrt", "x", "--format", "text"]) == 0


def test_n_that_no_vector_has_for_a_size_is_a_variable(capsys):
    """n x² with n undeclared: n was taken for a size, and --at n=2.5 refused."""
    assert run(["diff", "n*x^2", "--wrt", "x", "--at", "x=2", "--at", "n=2.5", "--format", "text"]) == 0
    assert "value at x=2, n=2.5: 10" in capsys.readouterr().out


def test_cases_that_share_one_closed_boundary_give_it_to_the_first(capsys):
    """2x for x ≥ 0, -2x for x ≤ 0 (as papers write |x|'s kin): at 0 both held, and were added;
    the first case takes the point, as the reader does."""
    cases = "\\begin{cases} x^2 & x \\ge 0 \\\\ -x^2 & x \\le 0 \\end{cases}"
    assert run(["diff", cases, "--wrt", "x", "--at", "x=0", "--format", "text"]) == 0
    assert run(["diff", cases, "--wrt", "x", "--at", "x=-2", "--format", "text"]) == 0
    assert "value at x=-2: 4" in capsys.readouterr().out


@pytest.mark.parametrize("expr", ["x/0", "x/(1-1)", "(x-x)/0", "x*0/0"])
def test_a_division_of_anything_by_0_is_refused(expr, capsys):
    assert run(["diff", expr, "--wrt", "x", "--format", "text"]) == 2
    assert "division by 0" in capsys.readouterr().err


@pytest.mark.parametrize("expr", ["x/(1e20+1-1e20)", "x/(1 - tanh(100))", "x/exp(-1000)", "x/(1e-200*1e-200)"])
def test_a_divisor_floats_round_to_0_is_no_division_by_0(expr):
    """Judged in floats, 1e-200·1e-200 and 1 - tanh(100) were 0, and the functions refused."""
    assert run(["diff", expr, "--wrt", "x", "-s", "x", "--format", "text"]) == 0


def test_a_case_bound_written_as_a_quotient_is_a_number(capsys):
    cases = "\\begin{cases} 2w & w \\geq 0.5 \\\\ 3w & w \\leq 1/2 \\end{cases}"
    assert run(["diff", cases, "--wrt", "w", "-s", "w", "--at", "w=0.5", "--format", "text"]) == 0
    assert "value at w=0.5: 2" in capsys.readouterr().out


@pytest.mark.parametrize("expr", ["x/(1 > 2)", "x/sign(0)", "x/(y > y)", "x/(max(y,y) - y)",
                                  "u = y - y; x/relu(u)"])
def test_a_divisor_that_is_0_whatever_its_names_is_refused(expr, capsys):
    """x/(1 > 2), x/sign(0), x/(y > y): their derivatives were printed as 1/(1 > 2) and the like."""
    assert run(["diff", expr, "--wrt", "x", "--format", "text"]) == 2
    assert "no value anywhere" in capsys.readouterr().err


@pytest.mark.parametrize("expr", ["x/(y >= y)", "x/(1 < 2)", "x/(abs(y) - y)", "x/max(y, 1)", "u = y - y; x/sigmoid(u)"])
def test_a_divisor_with_a_value_somewhere_is_read(expr):
    assert run(["diff", expr, "--wrt", "x", "--format", "text"]) == 0


def test_zero_to_a_variable_power_has_derivative_zero(capsys):
    """0^x printed 0^x ln(0), a value nowhere, where the derivative is 0 (for x > 0)."""
    assert run(["diff", "0^x", "--wrt", "x", "--format", "text"]) == 0
    assert capsys.readouterr().out.rstrip().endswith("∂y/∂x = 0    (1×1 scalar)")


@pytest.mark.parametrize("expr", ["x/sin(π)", "x/sin(2π)", "x/cos(π/2)", "x/tan(-π)", "x/sqrt(0)", "x/atan(0)",
                                  "x/(sigmoid(0) - 1/2)", "x/(sin(π/6) - 0.5)", "x/(cos(π + π) - 1)",
                                  "x/(sqrt(9/4) - 1.5)", "x + tan(π/2)", "x*tan(-3π/2)", "x/acos(1)",
                                  "x/sin(π - sin(π))", "x^sin(π)/sin(2π + sin(0))"])
def test_a_function_at_a_point_where_its_value_is_exact_is_that_number(expr, capsys):
    """x/sin(π) printed 1/sin(π) and x/sqrt(0) 1/sqrt(0) (floats make sin(π) 1.2e-16, not 0);
    tan(π/2) has no value at all."""
    import math

    assert math.sin(math.pi) != 0  # what a float evaluation would have seen
    assert run(["diff", expr, "--wrt", "x", "--format", "text"]) == 2
    err = capsys.readouterr().err
    assert "no value anywhere" in err and "column" in err, err


@pytest.mark.parametrize("expr", ["x/sin(3π/4)", "x/sin(1)", "x/sqrt(2)", "x/tan(π/3)", "x/(sin(π/6) - 0.4)",
                                  "x/cos(π)", "x + tan(π/4)", "sin(π*x)", "x/(sin(π) + y)"])
def test_a_function_at_a_point_with_a_value_is_read(expr):
    assert run(["diff", expr, "--wrt", "x", "--format", "text"]) == 0


@pytest.mark.parametrize("expr, value", [("x*sin(π)", 0), ("x*cos(π)", -1), ("x*sin(2π)", 0), ("x*tan(π)", 0),
                                         ("x*cos(2π/3)", -0.5), ("x*sin(-π/6)", -0.5), ("x*tan(3π/4)", -1),
                                         ("x*cos(π/2)", 0), ("x*sin(3π/2) + cos(π/6)", -1)])
def test_sin_cos_and_tan_at_a_rational_multiple_of_pi_print_their_value(expr, value):
    """The derivative of x sin(π) printed sin(π) (and evaluated to 1.2e-16): where the value
    is a rational number, it is that number, as the check that a part has a value reads it."""
    import math

    d = api.diff(expr, wrt="x")
    assert "π" not in d.text and d.evaluate({"x": 0.3})[0][0] == value
    assert math.sin(math.pi) != 0


def test_sin_of_a_multiple_of_pi_without_a_rational_value_stays():
    assert api.diff("x*sin(π/4)", wrt="x").text == "sin(π/4)"


@pytest.mark.parametrize("expr", ["x/(sum(y - y))", "x/(tr(I(3)) - 3)"])
def test_a_sum_of_zeros_or_a_trace_of_a_sized_identity_is_a_number(expr, capsys):
    assert run(["diff", expr, "--wrt", "x", "--format", "text"]) == 2
    assert "no value anywhere" in capsys.readouterr().err


@pytest.mark.parametrize("expr, x, truth", [
    ("tanh(x)", 20.0, 4 / (math.exp(20) + math.exp(-20)) ** 2),
    ("sigmoid(x)", 38.0, math.exp(-38) / (1 + math.exp(-38)) ** 2),
    ("sigmoid(x)", 33.0, math.exp(-33) / (1 + math.exp(-33)) ** 2),
    ("sigmoid(x)", -40.0, math.exp(-40) / (1 + math.exp(-40)) ** 2),
    ("ln(sigmoid(x))", -800.0, 1.0), ("ln(sigmoid(x))", 30.0, 1 / (1 + math.exp(30))),
    ("tanh(2x) + x", 15.0, 1 + 8 / (math.exp(30) + math.exp(-30)) ** 2),
    # the other forms mcalc writes them in: σ² - σ, σ - 1, a - a tanh², and a Hessian's 2tanh³ - 2tanh
    ("1 - sigmoid(x)", 38.0, -math.exp(-38) / (1 + math.exp(-38)) ** 2),
    ("sigmoid(-x)", -40.0, -math.exp(-40) / (1 + math.exp(-40)) ** 2),
    ("w*(1 - sigmoid(x))", 40.0, -2 * math.exp(-40) / (1 + math.exp(-40)) ** 2),
    ("tanh(2*x)", 10.0, 8 / (math.exp(20) + math.exp(-20)) ** 2), ("3*tanh(x)", 20.0, 12 / (math.exp(20) + math.exp(-20)) ** 2),
    ("tanh(x)^2", 30.0, 2 * math.tanh(30) * 4 / (math.exp(30) + math.exp(-30)) ** 2),  # 2tanh - 2tanh³
    ("tanh(x)^3", 20.0, 3 * math.tanh(20) ** 2 * 4 / (math.exp(20) + math.exp(-20)) ** 2),  # 3tanh² - 3tanh⁴
])
def test_values_of_saturated_activations_keep_their_digits(expr, x, truth):
    """σ(1 - σ) and 1 - tanh² at a large argument cancelled to 0 in floats (σ′(38) printed 0,
    σ′(33) wrong from the third digit); ln σ(-800) had no value: each is computed so that
    floats hold it, in the plain evaluator and the NumPy one alike."""
    d = api.diff(expr, wrt="x")
    values = {"x": x, "w": 2.0} if "w" in expr else {"x": x}
    assert d.evaluate(values)[0][0] == pytest.approx(truth, rel=1e-12)
    assert float(d.evaluate(values, as_array=True)[0][0]) == pytest.approx(truth, rel=1e-12)


def test_a_hessian_of_tanh_keeps_its_digits_and_numpy_lets_values_underflow():
    h = api.hessian("tanh(x)", "x")  # 2tanh³ - 2tanh
    assert h.evaluate({"x": 20.0})[0][0] == pytest.approx(-2 * math.tanh(20) * 4 / (math.exp(20) + math.exp(-20)) ** 2,
                                                          rel=1e-12)
    d = api.diff("sigmoid(x)*y", wrt="y")  # σ(-740) is subnormal: a value, in NumPy too (it raised)
    assert float(d.evaluate({"x": -740.0, "y": 0.01}, as_array=True)[0][0]) == d.evaluate({"x": -740.0, "y": 0.01})[0][0]


@pytest.mark.parametrize("values, truth", [([3e-170, 4e-170], [0.6, 0.8]), ([1e200, 1e200], [0.5 ** 0.5] * 2),
                                          ([1.0, 1e-170], [1.0, 1e-170])])
def test_a_norm_of_tiny_or_huge_entries_has_its_value(values, truth):
    """‖x‖ as √Σx² underflowed to 0 (then '/' undefined) or overflowed: scaled now."""
    d = api.diff("norm(x)", wrt="x", vectors=["x:2"])
    assert d.evaluate({"x": values})[0] == pytest.approx(truth, rel=1e-12)
    assert list(d.evaluate({"x": values}, as_array=True)[0]) == pytest.approx(truth, rel=1e-12)


def test_a_hessians_function_at_is_what_it_differentiates():
    """A Hessian's function is the gradient (its Jacobian is the Hessian); the first
    derivation's is the function."""
    h = api.hessian("sum(x^3)", "x", vectors=["x:2"])
    assert h.function_at({"x": [1, 2]}).data == (3.0, 12.0)
    assert h.gradient.function_at({"x": [1, 2]}).data == (9.0,)


def test_an_adjoint_reaching_a_name_twice_is_passed_down_as_a_product():
    """uᵢ = uᵢ₋₁² + uᵢ₋₁ uses uᵢ₋₁ twice, each use with the same adjoint δ: its total
    derivative is δ(1 + 2uᵢ₋₁), not δ + 2δuᵢ₋₁, which repeats δ, so that δ had to be
    named at each step.  The answer was a product of factors for an odd number of
    definitions and a chain of named sums for an even one (771 characters at k = 25,
    2,360 at k = 50: 3.06 a doubling); now each is a product, linear in k."""
    import re

    from mcalc.api import diff
    from mcalc.ast import walk
    from tests.numeric import fd_jacobian, max_rel_error, random_values

    def chain(k):
        return "; ".join(["u1 = x*x"] + [f"u{i} = u{i - 1}*u{i - 1} + u{i - 1}" for i in range(2, k + 1)] + [f"u{k}"])

    lengths = {k: len(diff(chain(k), wrt="x").text) for k in (6, 7, 25, 26, 50, 100, 200)}
    assert lengths[6] <= lengths[7] + 10 and lengths[26] <= lengths[25] + 80  # parity no longer doubles the form
    for k in (25, 50, 100):
        assert lengths[2 * k] / lengths[k] <= 2.2, lengths
    d = diff(chain(4), wrt="x")
    step3 = d.trace.combinations[0].value
    for adjoint in d.trace.adjoints:  # each adjoint stands once in each product that uses it
        assert sum(1 for n in walk(step3) if getattr(n, "name", None) == adjoint.name) <= 1
    assert not re.search(r"δ\w* \+ 2\*?δ", d.text)
    for k in (4, 5):
        d = diff(chain(k), wrt="x")
        values = random_values(d, seed=k)
        values["x"] = type(values["x"]).scalar(0.3)
        assert max_rel_error(d.evaluate(values), fd_jacobian(d, values)) < 1e-5


def test_a_name_every_variables_answer_uses_once_is_named_once_for_them_all():
    """By several variables the answers stand side by side: a named subexpression each
    of them uses once is used as often as there are variables, and stays named (each
    answer wrote the whole of δh out again)."""
    from mcalc.api import diff
    from tests.numeric import fd_jacobian, max_rel_error, random_values

    d = diff("s = a + b; h = s*s + s; sigmoid(h) + exp(tanh(h))", wrt=["a", "b"])
    assert [name for name, _ in d.shared] == ["δh"]
    assert d.text.count("exp(tanh(") == 2 and d.text.endswith("[δh*(1 + 2*a + 2*b), δh*(1 + 2*a + 2*b)]^T")
    values = random_values(d, seed=3)
    assert max_rel_error(d.evaluate(values), fd_jacobian(d, values)) < 1e-5
    single = diff("s = a + b; h = s*s + s; sigmoid(h) + exp(tanh(h))", wrt="a")
    assert not single.shared  # by one variable it is used once: written out


@pytest.mark.parametrize("expr, wrt, scalars, collected", [
    ("x*(cos(x) + x)", "x", [], "cos(x) + 2*x - x*sin(x)"),
    ("a*(max(a, b) + a)", "a", [], "max(a, b) + 2*a + a*(a >= b)"),
    ("cos(3)*((3 - x) + x*(3 + x)) + sin(2)*(y*(2 + x) + x*(3 + y))", "x", ["x", "y"],
     "2*cos(3) + 2*x*cos(3) + 2*y*sin(2) + 3*sin(2)"),
])
def test_terms_under_a_variable_as_adjoint_collect_with_the_other_paths(expr, wrt, scalars, collected):
    """Gathering δ(a + b) is for a named adjoint: under a variable or an intermediate as the
    adjoint (x in x(cos x + x)) it kept x(1 - sin x) apart from the other path's cos(x) + x."""
    from mcalc.api import diff
    from tests.numeric import fd_jacobian, max_rel_error, random_values

    d = diff(expr, wrt=wrt, scalars=scalars)
    assert d.text == collected
    values = random_values(d, seed=2)
    assert max_rel_error(d.evaluate(values), fd_jacobian(d, values)) < 1e-5


def test_a_gathered_adjoint_used_twice_is_named_however_small():
    """δt = δh(p + cos t) is six nodes, under the size an adjoint is named at: written out in
    each of its uses, it copied δh's value, (1 + 2g + 2gd), into every term."""
    from mcalc.api import diff

    d = diff("p = sin(a*c + a)*c; t = a*a + a; h = sin(t) + t*p; g = h*d + h; g*g + h", wrt="a")
    assert d.text.count("(1 + 2*g + 2*g*d)") <= 2
    d = diff("h1 = a*c + a; h2 = sqrt(h1^2 + 1)*c; h3 = exp(tanh(a))*a + a; h4 = sin(h3) + h3*h2; "
             "h5 = h4*d + h4; h5*h5 + h4", wrt="a")
    assert d.text.count("(1 + 2*h5 + 2*h5*d)") <= 2


def test_a_product_chains_answer_has_one_form_whatever_k_is():
    """(x+1)(x+2)…(x+k): the products were named every three factors from the first and
    the adjoints every three from the last, and where the two fell apart (k not 2 more than
    a multiple of 3) the terms sharing a pair of names did not add up to short polynomials:
    1,903 characters at k = 50, 5,361 at k = 100 (2.82 a doubling).  A product whose
    adjoint is named is named there too, so that the two meet for every k."""
    from mcalc.api import diff
    from tests.numeric import fd_jacobian, max_rel_error, random_values

    def chain(k):
        return "".join(f"(x+{i})" for i in range(1, k + 1))

    lengths = {k: len(diff(chain(k), wrt="x").text) for k in (24, 25, 26, 50, 100, 200)}
    assert lengths[24] < lengths[25] < lengths[26], lengths  # (it read 1,149, 1,198 and 917)
    for k in (25, 50, 100):
        assert lengths[2 * k] / lengths[k] <= 2.2, lengths
    for k in (9, 10, 11):
        d = diff(chain(k), wrt="x")
        assert len(d.shared) == 4  # two products and two adjoints, in each
        values = random_values(d, seed=k)
        values["x"] = type(values["x"]).scalar(-0.4)
        assert max_rel_error(d.evaluate(values), fd_jacobian(d, values)) < 1e-6


def test_a_hessian_of_a_product_chain_pairs_no_names():
    """A Hessian differentiates the gradient's names again; paired with the adjoints'
    (as a first derivative's are), they made it longer: 914 characters for k = 12 where
    824 were, +16% for (x + y)(x + 2y)…(x + 12y) by x and y."""
    from mcalc.api import hessian

    h = hessian("".join(f"(x+{i})" for i in range(1, 13)), wrt="x")
    assert len(h.text) < 900, h.text
    assert len(hessian("".join(f"(x+{i}*y)" for i in range(1, 13)), wrt="x,y").text) < 2600
    assert h.verify().ok


@pytest.mark.parametrize("expr, wrt, kw", [
    ("(x-3)*x*x*x*(x+2)*exp(x)*(x+2)", ["x"], {}),
    ("h1 = d/(c^2+1); h2 = c*c*c; h3 = h2*a + h2; h4 = h3*h2*h3; h5 = h2 + h2; h5*h4", ["a", "c", "d"],
     {"layout": "denominator"}),
    ("s = sum((b*y + x)*x*(b*y + x)*(b*y + x)*x); t = s*a*b; t*s*(a+1)", ["x"],
     {"layout": "denominator", "vectors": ["x", "y"]}),
    ("(x+y)*(x+2*y)*(x+3*y)*(x+4*y)*(x+5*y)*(x+6*y)", ["x", "y"], {}),
])
def test_a_short_chain_of_products_names_none_of_them_early(expr, wrt, kw):
    """Named early to meet its adjoint's name, a small product in a short chain only kept
    like terms apart (u₃(x + 2) + 2x²(x + 2)(x - 3), with u₃ = x²(x - 3)): that is for
    long chains, where the names repeat."""
    from mcalc.api import diff
    from tests.numeric import fd_jacobian, max_rel_error, random_values

    d = diff(expr, wrt=wrt, **kw)
    assert all(len(value.children) and _nodes(value) > 12 for _, value in d.shared), d.text
    values = random_values(d, seed=5)
    got, want = d.evaluate(values), fd_jacobian(d, values)
    if kw.get("layout") == "denominator":
        from tests.numeric import transpose
        want = transpose(want)
    assert max_rel_error(got, want) < 1e-5


def _nodes(node) -> int:
    from mcalc.ast import walk
    return sum(1 for _ in walk(node))


@pytest.mark.parametrize("expr, wrt, vectors, want", [
    ("e^{-x^2}", "x", [], "-2*x*exp(-x^2)"),
    ("x e^{x}", "x", [], "exp(x)*(1 + x)"),
    ("xe^x", "x", [], "exp(x)*(1 + x)"),
    ("\\mathrm{e}^{x}", "x", [], "exp(x)"),
    ("\\frac{1}{1+e^{-\\mathbf{w}^\\top\\mathbf{x}}}", "w", [], "exp(-(w · x))*x^T/(1 + exp(-(w · x)))^2"),
    ("e^{x^T x}", "x", ["x"], "2*exp(x · x)*x^T"),
])
def test_e_to_a_power_in_latex_is_exp_as_in_ascii(expr, wrt, vectors, want):
    """e^{-x²} in LaTeX read as the power of a constant: its derivative printed
    -2xe^(-x²)ln(e), where e^(-x²) in ASCII gave -2x exp(-x²); and e^{xᵀx} stopped
    with an internal error (the exponent's shapes were not inferred)."""
    from tests.numeric import fd_jacobian, max_rel_error, random_values

    d = api.diff(expr, wrt=wrt, vectors=vectors)
    assert d.text == want
    values = random_values(d, seed=4)
    assert max_rel_error(d.evaluate(values), fd_jacobian(d, values)) < 1e-6


@pytest.mark.parametrize("expr, want", [("ln(e)*x", "1"), ("x*ln(e^2)", "2"), ("ln(exp(x^2))", "2*x")])
def test_ln_of_e_and_of_exp_simplify(expr, want):
    assert api.diff(expr, wrt="x").text == want


@pytest.mark.parametrize("expr, near", [("expp(x)", "exp"), ("tanx(x)", "tan"), ("lnx(x)", "ln"), ("relux(x)", "relu"),
                                        ("exq(x)", "exp"), ("cosx(x)", "cos"), ("logx(x^2)", "log")])
def test_a_slip_of_a_function_name_is_an_unknown_function_not_a_product(expr, near, capsys):
    """expp(x) printed ∂y/∂x = 2xp²e, the derivative of e·x·p·p·x, and tanx(x) 2ta nx, with
    exit 0 (a note on stderr only): a name before a parenthesis that begins with a
    function's name, or is a letter from one, is an unknown function."""
    assert run(["diff", expr, "--wrt", "x", "--format", "text"]) == 2
    err = capsys.readouterr().err
    assert f"unknown function '{expr.split('(')[0]}'" in err and f"did you mean {near}(…)?" in err
    assert "column 1" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("expr", ["xy(x+1)", "x(x+1)"])
def test_names_before_a_parenthesis_unlike_any_function_stay_a_product(expr):
    assert run(["diff", expr, "--wrt", "x", "--format", "text"]) == 0


@pytest.mark.parametrize("text", ["X: matrix[N, n]\nu = X@w\nC = sum(u^2\n", "u = x^2; C = sum(u\n", "u = x^2; C = (u\n\n"])
def test_a_bracket_left_open_at_the_end_of_a_line_is_one_line_of_message(text, capsys):
    """The message showed the new line it met as itself: "unexpected '", a line break, "',
    expected ')'" — two lines, for every -f file ending in a new line with a bracket open."""
    assert run(["diff", text, "--wrt", "x" if "X" not in text else "w"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "unexpected end of line, expected ')'" in err, err


def test_without_wrt_the_names_are_read_as_the_derivation_reads_them(capsys):
    """Without --wrt the only variable was looked for among the names as written: g₁ and g₂
    (elements of the vector g) counted as variables beside x, and sinn(x) + cos(x) was said
    to have the variables sinn and x rather than an unknown function."""
    assert run(["diff", "g = [x^2, 3*x]; [ln(g₁), sin(g₂)]", "--format", "text"]) == 0
    assert "∂y/∂x = [2/x, 3cos(3x)]" in capsys.readouterr().out
    assert run(["diff", "sinn(x)+cos(x)"]) == 2
    assert "unknown function 'sinn'" in capsys.readouterr().err
    assert run(["diff", "xᵀAx", "-M", "A:n,n"]) == 2
    assert "the variables A, x;" in capsys.readouterr().err


def test_a_capital_taken_as_a_scalar_is_said_to_be_declarable_as_a_matrix(capsys):
    """x A, a column times an undeclared capital, takes A as a scalar; the note said to
    declare it a vector."""
    assert run(["diff", "sum(x A)", "--wrt", "x", "-v", "x", "--format", "text"]) == 0
    assert "declare it a matrix (-M A:n,n) or a vector (-v A)" in capsys.readouterr().err


@pytest.mark.parametrize("apart, together, declared, by", [
    ("x^T A x", "xᵀAx", ["-M", "A:n,n"], "x"),
    ("x^T A x", "xᵀAx", ["-M", "A:n,n"], "A"),
    ("x^T A^T A x", "xᵀAᵀAx", ["-M", "A:N,n"], "x"),
    ("x^T A^T A x", "xᵀAᵀAx", ["-M", "A:N,n"], "A"),
    ("tr(A^T B)", "tr(AᵀB)", ["-M", "A:n,n", "-M", "B:n,n"], "A"),
    ("tr(A^T B)", "tr(AᵀB)", ["-M", "A:n,n", "-M", "B:n,n"], "B"),
    ("w^T X^T X w", "wᵀXᵀXw", ["-M", "X:N,n"], "w"),
])
def test_an_undeclared_capital_is_a_matrix_written_apart_as_together(apart, together, declared, by, capsys):
    """§4.1: capitals are matrices.  x^T A x written apart took A as a scalar (2A xᵀ), where
    xᵀAx took it as a matrix (xᵀA + xᵀAᵀ); AᵀB and wᵀXᵀ, a capital transposed or after a
    matrix, were shape errors.  Each reads as it does declared."""
    answers = []
    for text, decls in ((apart, []), (together, []), (apart, declared)):
        assert run(["diff", text, "--wrt", by, "--format", "text"] + decls) == 0
        answers.append(capsys.readouterr().out.splitlines()[-1].split("    (")[0])
    assert answers[0] == answers[1] == answers[2], answers


def test_the_function_named_as_an_earlier_definition_is_refused(capsys):
    """y = x²; y = x + y derived x + y with y the definition above it (1 + 2x), silently."""
    assert run(["diff", "y = x^2; y = x + y", "--wrt", "x"]) == 2
    assert "'y' is defined twice" in capsys.readouterr().err


def test_wrt_naming_a_variable_twice_says_which(capsys):
    assert run(["hessian", "x^2", "--wrt", "x,x"]) == 2
    err = capsys.readouterr().err
    assert "--wrt names x twice: name each variable once" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("text, where", [("u = x^2\nC = foo(u)\n", "line 2, column 5: unknown function 'foo'"),
                                         ("X: matrix[N, n]\nu = X@w\nC = det(X)\n", "line 3, column 5: det needs"),
                                         ("foo(x)", "column 1: unknown function 'foo'")])
def test_an_error_found_after_parsing_names_its_line(text, where, tmp_path, capsys):
    """In input of several lines (a -f file) an error found after parsing, by a node's position,
    said "column 5" and no line (JSON "line": null): positions kept a line's column only."""
    path = tmp_path / "f.mc"
    path.write_text(text, encoding="utf-8")
    assert run(["diff", "-f", str(path), "--wrt", "w" if "X" in text else "x"]) == 2
    err = capsys.readouterr().err
    assert where in err and len(err.strip().splitlines()) == 1, err
    assert ("line " in err) == ("\n" in text.strip())


@pytest.mark.parametrize("args", [["ab(x+1)", "-s", "a,b", "--wrt", "x"], ["ax(x+1)", "-s", "a", "--wrt", "x"],
                                  ["mx(x+1)", "--wrt", "m"], ["2ab(x+1)", "-s", "a,b", "--wrt", "x"]])
def test_declared_names_before_a_parenthesis_stay_a_product_however_like_a_function(args):
    """ab(x + 1) with a and b declared was refused as an unknown function (abs), and ax(x + 1)
    (max), once a name near a function's counted as a slip (found by a review)."""
    assert run(["diff", *args, "--format", "text"]) == 0


@pytest.mark.parametrize("text, args", [("X^{-1}^T", ["-M", "X:n,n", "--wrt", "X"]), ("x^{2}^T", ["-v", "x", "--wrt", "x"]),
                                        ("\\mathbf{x}^{2}^{\\top}", ["--wrt", "x"])])
def test_a_transpose_after_a_superscript_is_read(text, args):
    """X^{-1}^T is Xᵀ's inverse however TeX takes it: only a second power is unclear."""
    assert run(["diff", text, *args, "--format", "text"]) == 0


def test_wrt_given_twice_differentiates_by_both(capsys):
    """--wrt w --wrt b kept b alone, in silence (-v and -M add up when repeated)."""
    assert run(["diff", "sum(w*x)+b", "--wrt", "w", "--wrt", "b", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["wrt"] == ["w", "b"]
    assert run(["diff", "sum(w*x)+b", "--wrt", "w", "-w", "w"]) == 2
    assert "--wrt names w twice" in capsys.readouterr().err


def test_at_is_shown_or_refused_in_every_format(capsys):
    """--at was dropped in silence with --latex, --latex --steps and --format dot (and --verify with dot)."""
    for extra in (["--latex"], ["--latex", "--steps"]):
        assert run(["diff", "x^2", "--at", "x=2", *extra]) == 0
        assert capsys.readouterr().out.endswith("% value at x=2: 4\n")
    for extra in (["--at", "x=2"], ["--verify"]):
        assert run(["diff", "x^2", "--format", "dot", *extra]) == 2
        assert f"{extra[0]} goes without it" in capsys.readouterr().err


def test_n_read_as_the_default_size_is_said(capsys):
    """n · mean(x) took n for x's default length (so 𝟏ᵀ) without a word, where n written by
    the user may be a variable of its own; with the length declared n, nothing to say."""
    assert run(["diff", "n*mean(x)", "-v", "x", "--wrt", "x", "--format", "text"]) == 0
    assert "note: n is read as the size of x (the default size), a number, not a variable; give it another " \
           "size (-v x:k)" in capsys.readouterr().err
    assert run(["diff", "n*mean(x)", "-v", "x:k", "--wrt", "x", "--format", "text"]) == 0
    assert "∂y/∂x = n ones(k)ᵀ/k" in capsys.readouterr().out
    for decls in (["-v", "x:n"], []):
        assert run(["diff", "n*mean(x)" if decls else "mean(x)", *decls, "--wrt", "x", "--format", "text"]) == 0
        assert "note: n is read" not in capsys.readouterr().err


def test_a_value_of_the_wrong_size_is_said_plainly(capsys):
    """'x has 3 rows, its value 2' read garbled."""
    assert run(["diff", "sum(x^2)", "-v", "x:3", "--at", "x=[1,2]"]) == 2
    assert "x has 3 entries, as declared, but its value has 2" in capsys.readouterr().err


def test_errors_in_a_function_of_several_lines_name_the_line(tmp_path, capsys):
    """'h' is defined twice had no place; an error on the first of several lines said only its
    column; a file of comments alone said 'line 3, column 15: unexpected end of input'."""
    f = tmp_path / "f.mc"
    for content, message in [("h = x^2\nh = x + 1\ny = h\n", "line 2, column 7: 'h' is defined twice"),
                             ("x^2\ny^2\n", "line 1, column 2: only the last line may be a bare expression"),
                             ("# only\n# comments\n\n", "no function: the input holds only comments")]:
        f.write_text(content)
        assert run(["diff", "-f", str(f)]) == 2
        assert message in capsys.readouterr().err
    assert run(["diff", "x^2 +"]) == 2
    assert "error: column 6: unexpected end of input" in capsys.readouterr().err  # one line: no line number


def test_max_of_one_vector_says_what_max_is(capsys):
    """README listed max among the element-wise functions; max(x) said only 'takes 2 arguments'."""
    assert run(["diff", "max(x)", "-v", "x"]) == 2
    assert "max(a, b) is element-wise, each entry the larger of a's and b's" in capsys.readouterr().err
    import mcalc

    assert {"diff", "hessian", "emit", "check", "parse", "Derivation", "McalcError"} <= set(dir(mcalc))


def test_a_sum_too_long_to_walk_says_what_to_write(capsys):
    """A sum of 5,000 terms said only 'the expression nests too deeply'."""
    text = "+".join(f"sin({i}*x)" for i in range(1, 5000))
    assert run(["diff", text, "--wrt", "x", "--format", "json"]) == 2
    error = json.loads(capsys.readouterr().out)["error"]
    assert error["kind"] == "not supported" and error["message"].startswith("the expression nests too deeply")
    assert "sum over a vector" in error["message"]


def test_the_json_function_carries_its_definitions(capsys):
    """JSON's function gave sum((y - t)^2) alone, which reads back as another function."""
    from mcalc.api import diff

    assert run(["diff", "-f", str(Path(__file__).parent.parent / "examples" / "two-layer.mc"), "--wrt", "W1",
                "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    f, variables = data["function"], data["variables"]
    program = "; ".join([*(f"{x['name']} = {x['text']}" for x in f["definitions"]), f"{f['name']} = {f['text']}"])
    again = json.dumps(diff(program, wrt="W1", **{
        "vectors": [f"{n}:{v['shape'][0]}" for n, v in variables.items() if v["kind"] == "vector"],
        "matrices": [f"{n}:{v['shape'][0]},{v['shape'][1]}" for n, v in variables.items() if v["kind"] == "matrix"],
        "scalars": [n for n, v in variables.items() if v["kind"] == "scalar"]}).to_dict()["result"])
    assert run(["diff", "-f", str(Path(__file__).parent.parent / "examples" / "two-layer.mc"), "--wrt", "W1",
                "--format", "json"]) == 0
    assert json.dumps(json.loads(capsys.readouterr().out)["result"]) == again


@pytest.mark.parametrize("text, declare", [("g = W@x; sum(g[1]*g)", "give N a number (-M W:3,n)"),
                                           ("x[2]", "give n a number (-v x:3)")])
def test_an_element_of_a_symbolic_length_names_the_declaration_that_sizes_it(text, declare, capsys):
    """It said '(-v name:3)' where g is a definition, sized by W's rows."""
    assert run(["diff", text, "--wrt", "x", "-v", "x"]) == 2
    assert declare in capsys.readouterr().err


@pytest.mark.parametrize("expr, z, truth", [
    ("x*ln(1 - sigmoid(z))", 800.0, -800.0), ("x*ln(1 - sigmoid(z))", -40.0, -math.log1p(math.exp(-40))),
    ("x*ln(sigmoid(z))", -800.0, -800.0), ("x*ln(1 - sigmoid(z))", 0.5, math.log(1 - 1 / (1 + math.exp(-0.5)))),
])
def test_the_cross_entropys_logarithms_keep_their_values_where_sigma_rounds(expr, z, truth):
    """ln(1 - σ(z)) at z = 800 is -800, but 1 - σ(800) is 0 in floats: "ln is undefined here"
    (as ln σ(-800) was): computed as ln σ(-z), in the plain evaluator and the NumPy one alike."""
    d = api.diff(expr, wrt="x")
    assert d.evaluate({"x": 1.0, "z": z})[0][0] == pytest.approx(truth, rel=1e-12)
    assert float(d.evaluate({"x": 1.0, "z": z}, as_array=True)[0][0]) == pytest.approx(truth, rel=1e-12)


def test_a_saturated_cross_entropy_has_its_value_and_derivative(capsys):
    bce = "-y*ln(sigmoid(z)) - (1-y)*ln(1 - sigmoid(z))"
    d = api.diff(bce, wrt="z")
    assert d.function_at({"z": 800.0, "y": 0.0}).data == (800.0,)
    assert d.function_at({"z": -800.0, "y": 0.0}).data == (0.0,)
    assert run(["diff", bce, "--wrt", "z", "--at", "z=1000", "--at", "y=1", "--format", "text"]) == 0
    assert "value at z=1000, y=1: 0" in capsys.readouterr().out
    top = 1001 + math.log1p(math.exp(-1) + math.exp(-2000))  # logsumexp of [1000, 1001, -999]
    value = api.diff("sum(ln(softmax(z)))", wrt="z").function_at({"z": [1000.0, 1001.0, -999.0]}).data[0]
    assert value == pytest.approx(1000 + 1001 - 999 - 3 * top, rel=1e-12)  # softmax's -999 entry is 0 in floats


def test_the_numpy_evaluator_reads_every_node_the_plain_one_does():
    """An answer with an element of a vector, 2g₂[0, 1, 0]ᵀ + [1, 0, 0]ᵀ/g₁, raised AttributeError
    ('ArrayEvaluator' has no '_Index') in evaluate(as_array=True)."""
    from mcalc.arrays import ArrayEvaluator
    from mcalc.evaluate import Evaluator

    kinds = {name for name in dir(Evaluator) if name[:1] == "_" and name[1:2].isupper()}
    assert kinds <= set(dir(ArrayEvaluator))
    d = api.diff("ln(g[1]) + g[2]^2", wrt="g", vectors=["g:3"])
    assert d.evaluate({"g": [1.0, 2.0, 3.0]}) == [[1.0, 4.0, 0.0]]
    assert d.evaluate({"g": [1.0, 2.0, 3.0]}, as_array=True).tolist() == [[1.0, 4.0, 0.0]]
