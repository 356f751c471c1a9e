"""Robust where it runs: hostile numbers, claims in real documents, reports that
validate against their published schemas, a command line with the conventions
of the tools its users know, and a library that names the argument it refuses.
(Streams and signals: test_streams.py; a git repository with pre-commit:
test_check_repo.py.)"""
from __future__ import annotations

import json
import math
import os
import pickle
import re
import subprocess
import sys
from pathlib import Path

import pytest

import mcalc
from mcalc.claims import Claim, check_claim, find_claims
from mcalc.cli import run
from mcalc.errors import McalcError

ROOT = Path(__file__).resolve().parent.parent
NOTES = str(ROOT / "examples" / "notes.md")


def one_line_exit_2(args, capsys) -> str:
    assert run(list(args)) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mcalc: ") and "internal error" not in lines[0], captured.err
    return lines[0]


# -- numbers, where they enter -------------------------------------------------------
HOSTILE_NUMBERS = [
    ["diff", "x¹⁰⁰¹", "--wrt", "x"],  # superscripts obey the ±1000 limit
    ["diff", "x" + "¹" * 5000, "--wrt", "x"],  # and are measured before int()
    ["diff", "x" + "⁹" * 4, "--wrt", "x"],
    ["diff", "x^99999999999999999999999999999999999999", "--wrt", "x"],
    ["diff", "x^" + "9" * 5000, "--wrt", "x"],
    ["diff", "0." + "0" * 5000 + "1 * x", "--wrt", "x"],
    ["diff", "sum(x)*sum(x)", "--wrt", "x", "-v", "x", "--at", "x=[1e308,1e308]"],
    ["diff", "x·x", "--wrt", "x", "-v", "x", "--at", "x=[1e308,1e308]"],
    ["diff", "mean(x)*mean(x)", "--wrt", "x", "-v", "x", "--at", "x=[1e308,1e308]"],
    ["diff", "sum(A@x)*sum(x)", "--wrt", "x", "-v", "x", "-M", "A:n,n", "--at", "x=[1e308,-1e308]",
     "--at", "A=[[1e308,1e308],[1,1]]"],
    ["diff", "exp(x)", "--wrt", "x", "--at", "x=1e5"],
    ["diff", "sinh(x)", "--wrt", "x", "--at", "x=1000"],
    ["diff", "cosh(x)", "--wrt", "x", "--at", "x=-1000"],
    ["diff", "sum(sinh(x))", "--wrt", "x", "-v", "x", "--at", "x=[1,1000]"],
]


@pytest.mark.parametrize("args", HOSTILE_NUMBERS, ids=[" ".join(a)[:50] for a in HOSTILE_NUMBERS])
def test_hostile_numbers_end_in_one_line_and_exit_2(args, capsys):
    line = one_line_exit_2(args, capsys)
    assert re.search(r"out of range|beyond|overflows", line), line


def test_a_superscript_at_the_limit_is_still_read():
    assert mcalc.diff("x¹⁰⁰⁰", wrt="x").text == "1000*x^999"
    assert mcalc.diff("x⁰⁰²", wrt="x").text == "2*x"


def test_the_jacobian_is_evaluated_where_only_the_function_overflows(capsys):
    assert run(["diff", "sum(x)", "--wrt", "x", "-v", "x", "--at", "x=[1e308,1e308]", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["value"] == [[1.0, 1.0]]


@pytest.mark.parametrize("expr,value", [("softplus(x)", [[1.0]]), ("x*softplus(x)", [[2000.0]]),
                                        ("sigmoid(x)", [[0.0]]), ("softplus(x)*x^2", [[3.0e6]])])  # σ(x)x² + 2x softplus(x)
def test_softplus_and_sigmoid_have_values_where_exp_overflows(expr, value, capsys):
    """softplus(1000) is 1000 (ln(1 + exp(1000)) would overflow), σ(1000) is 1, σ′(1000) 0."""
    assert run(["diff", expr, "--wrt", "x", "--at", "x=1000", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["value"] == value


@pytest.mark.parametrize("tolerance", ["nan", "inf", "-inf", "1e999", "0", "-1e-9", "1", "1e-999"])
def test_tolerances_are_finite_and_in_0_1_on_the_command_line(tolerance, capsys, tmp_path):
    f = tmp_path / "c.mcalc"
    f.write_text("d/dx (x^2) = 3x\n")  # wrong: no tolerance may let it pass
    line = one_line_exit_2(["check", str(f), "--tolerance", tolerance], capsys)
    assert "tolerance" in line


@pytest.mark.parametrize("tolerance", ["nan", "inf", "1e999", "0", "-1", "1e-999", "2"])
def test_tolerances_are_finite_and_in_0_1_in_a_claim(tolerance):
    result = check_claim(Claim("t", 1, f"d/dx (x^2) = 3x tolerance {tolerance}"))
    assert result.status == "error", result.message


def test_a_valid_tolerance_still_fails_a_wrong_claim():
    assert check_claim(Claim("t", 1, "d/dx (x^2) = 3x tolerance 1e-3")).status == "fail"


# -- verification ------------------------------------------------------------------
@pytest.mark.parametrize("expr,wrt", [
    ("max(a + (1 <= 0)*a, 0)", "a"),
    ("(2 > 1)*x + max(3, 4)*x + abs(-2)*relu(5)*x", "x"),
    ("(0 > 0)*x + x", "x"),
    ("min(1, 2)*sum(w) + (3 >= 3)*sum(w)", "w"),
])
def test_constant_comparisons_verify(expr, wrt):
    d = mcalc.diff(expr, wrt=wrt)
    verdict = d.verify()
    assert verdict.status == "verified", str(verdict)
    # and a claim identical to mcalc's own answer passes
    assert check_claim(Claim("t", 1, f"d/d{wrt} ({expr}) = {d.text}")).status == "pass"


def _network(k: int) -> str:
    e = "x"
    for i in range(1, k + 1):
        e = f"tanh(W{i} @ {e} + c{i})"
    return f"v · {e}"


def slow_claim(k: int = 16) -> str:
    """A claim of a k-layer network's own derivative (2,600 characters at k = 16): right,
    and its verification takes more than a claim's budget."""
    from mcalc.text import TextPrinter

    d = mcalc.diff(_network(k), wrt="x", matrices=[f"W{i}:n,n" for i in range(1, k + 1)])
    decls = ", ".join(f"W{i}" for i in range(1, k + 1))
    return f"d/dx ({_network(k)}) = {TextPrinter(d.typing).doprint(d.expanded())} where {decls}: matrix[n, n]"


# a budget's alarm may land in a collector's callback (Hypothesis installs one), which swallows that Timeout
# and Python reports it as unraisable; the alarm comes again 50 ms later (limits._on_alarm), as these tests show
_ALARM_IN_A_CALLBACK = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")


@_ALARM_IN_A_CALLBACK
def test_verification_runs_out_of_time_as_inconclusive():
    """A deep network whose SymPy route takes minutes: the budget ends it."""
    k = 16
    d = mcalc.diff(_network(k), wrt="x", matrices=[f"W{i}:n,n" for i in range(1, k + 1)])
    from mcalc.verify import compare

    verdict = compare(d, d.expanded(), seconds=0.3)
    assert verdict.status == "inconclusive" and verdict.reason.startswith("time"), str(verdict)
    assert str(verdict) == "inconclusive (time: over 0.3 s)"


@_ALARM_IN_A_CALLBACK
def test_a_claims_whole_check_has_one_budget(monkeypatch):
    from mcalc import limits

    claim = slow_claim()
    monkeypatch.setattr(limits, "CLAIM_SECONDS", 0.3)
    result = check_claim(Claim("t", 1, claim))
    assert result.status == "inconclusive" and result.message.endswith("inconclusive (time: over 0.3 s)")
    assert result.verdict["reason"] == "time: over 0.3 s" and result.seconds < 2


def _busy(seconds: float) -> None:
    """Work, not waiting: budgets count processor time."""
    import time

    end = time.thread_time() + seconds
    while time.thread_time() < end:
        sum(range(100))


def test_nested_budgets_each_catch_their_own():
    from mcalc.limits import Timeout, time_limit

    with pytest.raises(Timeout) as outer_info:
        with time_limit(0.2) as outer:
            try:
                with time_limit(5) as inner:
                    _busy(1)
            except Timeout as e:
                assert e.limit is not inner
                raise
    assert outer_info.value.limit is outer


def test_a_budget_already_spent_when_an_inner_one_starts_reaches_its_owner():
    """compare() inside a claim whose budget is gone when verification starts (in a
    thread, where budgets are kept at checkpoints): the claim's Timeout, not an error
    about the inner budget's name."""
    import threading

    from mcalc.limits import Limit, Timeout, time_limit
    from mcalc.verify import compare

    d = mcalc.diff("sin(x)", wrt="x")
    seen, made = [], []

    def work():
        outer = Limit(0.05)  # in the thread that works under it: its clock is the thread's
        made.append(outer)
        try:
            with time_limit(outer):
                _busy(0.1)
                compare(d, d.expr)
        except BaseException as e:  # noqa: BLE001 - the test looks at what came out
            seen.append(e)

    t = threading.Thread(target=work)
    t.start()
    t.join()
    assert len(seen) == 1 and isinstance(seen[0], Timeout) and seen[0].limit is made[0], seen


def test_a_timeout_swallowed_by_the_work_comes_again():
    """Work that swallows the Timeout (a bare except in a library, a collector's
    callback) is interrupted again: the budget holds."""
    import time

    from mcalc.limits import Limit, Timeout, time_limit

    swallowed = 0
    limit = Limit(0.1)
    start = time.thread_time()
    with pytest.raises(Timeout) as info:
        with time_limit(limit):
            while True:
                try:  # the whole loop inside: the Timeout lands in the work, wherever it comes
                    while time.thread_time() - start < 5:
                        sum(range(1000))
                    break
                except Timeout:
                    swallowed += 1
                    if swallowed > 1:
                        raise
    assert info.value.limit is limit and swallowed == 2 and time.thread_time() - start < 1


# -- the library names the argument it refuses ----------------------------------------
@pytest.mark.parametrize("args,kwargs,error,words", [
    ((None, "x"), {}, TypeError, "expr must be a str"),
    ((b"x", "x"), {}, TypeError, "expr must be a str"),
    (("x", 2.5), {}, TypeError, "wrt must be a str or a list of str"),
    (("x", [None]), {}, TypeError, "wrt[0] must be a str"),
    (("x", 3), {}, TypeError, "wrt must be"),
    (("x", "x"), {"vectors": [1]}, TypeError, "vectors[0] must be a str"),
    (("x", "x"), {"matrices": 5}, TypeError, "matrices must be"),
    (("x", "x"), {"scalars": [None]}, TypeError, "scalars[0]"),
    (("x", "x"), {"layout": "sideways"}, ValueError, "layout must be 'numerator' or 'denominator'"),
    (("x", "x"), {"layout": None}, ValueError, "layout"),
])
def test_diff_checks_its_arguments(args, kwargs, error, words):
    with pytest.raises(error) as info:
        mcalc.diff(*args, **kwargs)
    assert words in str(info.value)


def test_without_wrt_the_library_takes_the_only_variable_as_the_command_does():
    """mcalc diff "sin(x^2)" finds x; mcalc.diff("sin(x^2)") raised TypeError (wrt missing)."""
    assert mcalc.diff("sin(x^2)").text == mcalc.diff("sin(x^2)", wrt="x").text == "2*x*cos(x^2)"
    assert mcalc.diff("e^x + π").text == "exp(x)"  # e and π are constants
    assert mcalc.diff("sum(x) / N", vectors=["x:N"]).text == "ones(N)^T/N"  # N is a size, not a variable
    assert mcalc.hessian("x^3").text == "6*x"
    assert "def f_and_grad(*, x)" in mcalc.emit("x^2 + 1", target="numpy")
    with pytest.raises(mcalc.McalcError) as info:
        mcalc.diff("sum(w*x)+b")
    assert str(info.value) == "error: no wrt given: the function has the variables b, w, x; say which, e.g. wrt='b'"
    with pytest.raises(mcalc.McalcError, match="no wrt given: the function has no variable"):
        mcalc.diff("2 + 3")


def test_a_string_of_names_is_one_comma_separated_item():
    assert mcalc.diff("xw * 2", wrt="xw", vectors="xw").shape.kind == "matrix"  # xw is one vector
    assert mcalc.diff("w ⊗ x", wrt="w", vectors="w,x").text == mcalc.diff("w ⊗ x", wrt="w", vectors=["w", "x"]).text
    assert mcalc.diff("x@w", wrt="w", matrices="x:N,n").text == "x"


def test_numpy_arrays_and_scalars_are_values():
    np = pytest.importorskip("numpy")
    d = mcalc.diff("sum(w*x) + b", wrt="w")
    assert d.evaluate({"x": np.array([1, 2, 3]), "w": np.arange(3.0), "b": np.int64(2)}) == [[1.0, 2.0, 3.0]]
    assert d.evaluate({"x": np.array([1.5, 2.5], dtype=np.float32), "w": [0, 0], "b": np.float64(1)}) == [[1.5, 2.5]]
    m = mcalc.diff("X@w", wrt="w")
    assert m.evaluate({"X": np.eye(2), "w": np.ones((2, 1))}) == [[1.0, 0.0], [0.0, 1.0]]
    assert mcalc.diff("x^2", wrt="x").evaluate({"x": np.int32(3)}) == [[6.0]]


@pytest.mark.parametrize("values,error,words", [
    ([1, 2], TypeError, "values must be a mapping"),
    ({"x": object()}, TypeError, "the value of x"),
    ({"x": 1 + 2j}, TypeError, "the value of x"),
    ({"x": [1, "2"]}, TypeError, "the value of x"),
    ({"x": float("inf")}, McalcError, "not a finite number"),
])
def test_evaluate_checks_its_values(values, error, words):
    d = mcalc.diff("x^2", wrt="x")
    with pytest.raises(error) as info:
        d.evaluate(values)
    assert words in str(info.value)


def test_check_and_verify_check_their_arguments(tmp_path):
    with pytest.raises(McalcError, match="cannot read .*No such file"):
        mcalc.check(str(tmp_path / "missing.md"))
    with pytest.raises(TypeError, match="paths are file names"):
        mcalc.check(None)
    with pytest.raises(TypeError, match="at least one path"):
        mcalc.check()
    with pytest.raises(ValueError, match="tolerance must be a number above 0 and below 1"):
        mcalc.check(NOTES, tolerance=float("nan"))
    with pytest.raises(ValueError, match="jobs must be 1 or more"):
        mcalc.check(NOTES, jobs=0)
    with pytest.raises(ValueError, match="tolerance"):
        mcalc.diff("x^2", wrt="x").verify(tolerance=math.inf)
    assert [r.status for r in mcalc.check(Path(NOTES))] == ["pass", "pass", "pass", "fail"]


# -- claims in real documents -----------------------------------------------------------
MARKDOWN = """\
# Notes

Annotations look like `<!-- mcalc: d/dx (x) = 5 -->` in a code span.

```
<!-- mcalc: d/dx (x) = 6 -->
```

    <!-- mcalc: d/dx (x) = 7 -->

~~~markdown
<!-- mcalc: where w: vector -->
$$ \\frac{d}{dx} x = 8 $$
~~~

<!-- mcalc: d/dx (x^2) = 2x -->

A paragraph with <!-- mcalc: d/dx (x^3) = 3x^2 --> inside.

- a list item
  <!-- mcalc: d/dx (sin(x)) = cos(x) -->

<!-- mcalc: where w, x: vector -->

$$
\\frac{\\partial}{\\partial \\mathbf{w}} \\mathbf{w} \\cdot \\mathbf{x} = \\mathbf{x}^{T}
$$
"""


def test_markdown_code_is_text_not_claims():
    claims = find_claims("notes.md", MARKDOWN)
    assert [(c.line, c.text) for c in claims] == [
        (16, "d/dx (x^2) = 2x"), (18, "d/dx (x^3) = 3x^2"), (21, "d/dx (sin(x)) = cos(x)"),
        (25, "\\frac{\\partial}{\\partial \\mathbf{w}} \\mathbf{w} \\cdot \\mathbf{x} = \\mathbf{x}^{T}")]
    assert all(check_claim(c).status == "pass" for c in claims)
    assert find_claims("notes.markdown", MARKDOWN) == [
        Claim("notes.markdown", c.line, c.text, c.id, c.options) for c in claims]


def test_the_projects_own_readme_and_examples_pass(capsys):
    assert run(["check", str(ROOT / "README.md"), str(ROOT / "examples" / "paper.tex")]) == 0
    out = capsys.readouterr().out
    assert "FAIL" not in out and "ERROR" not in out and re.search(r"^\d+ passed, 0 failed, 0 inconclusive$", out, re.M)
    readme = [line for line in out.splitlines() if line.startswith(str(ROOT / "README.md"))]
    assert len(readme) >= 2  # the README's own claims were found and checked


def test_latex_verbatim_is_text_not_claims(tmp_path):
    tex = ("\\begin{verbatim}\n% mcalc: d/dx (x) = 5\n\\end{verbatim}\n"
           "\\begin{lstlisting}\n% mcalc: d/dx (x) = 6\n\\end{lstlisting}\n"
           "\\begin{comment}\n% mcalc: d/dx (x) = 7\n\\end{comment}\n"
           "\\begin{verbatim}% mcalc: d/dx (x) = 8\\end{verbatim}\n"
           "% \\begin{verbatim} (a comment, not an environment)\n"
           "% mcalc: d/dx (x^2) = 2x\n")
    claims = find_claims("a.tex", tex)
    assert [(c.line, c.text) for c in claims] == [(12, "d/dx (x^2) = 2x")]


def test_an_include_through_a_symbolic_link_outside_is_refused(tmp_path, capsys):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.tex").write_text("% mcalc: d/dx (x^2) = 2x\n")
    paper = tmp_path / "paper"
    paper.mkdir()
    (paper / "link.tex").symlink_to(outside / "secret.tex")
    (paper / "main.tex").write_text("\\input{link}\n")
    line = one_line_exit_2(["check", str(paper / "main.tex"), "--follow-includes"], capsys)
    assert "outside" in line and "main.tex:1" in line
    (paper / "dir").symlink_to(outside, target_is_directory=True)
    (paper / "main.tex").write_text("\\include{dir/secret}\n")
    assert "outside" in one_line_exit_2(["check", str(paper / "main.tex"), "--follow-includes"], capsys)


def test_an_include_cycle_reports_each_claim_once(tmp_path, capsys):
    (tmp_path / "a.tex").write_text("% mcalc: d/dx (x^2) = 2x\n\\input{b}\n")
    (tmp_path / "b.tex").write_text("% mcalc: d/dx (x^3) = 3x^2\n\\input{a}\n\\input{b.tex}\n")
    assert run(["check", str(tmp_path / "a.tex"), "--follow-includes"]) == 0
    out = capsys.readouterr().out
    assert out.count(": pass ") == 2 and out.rstrip().endswith("2 passed, 0 failed, 0 inconclusive")


def test_includes_resolve_from_the_top_folder_as_latex_does(tmp_path, capsys):
    (tmp_path / "chapters").mkdir()
    (tmp_path / "chapters" / "one.tex").write_text("\\input{chapters/two}\n")
    (tmp_path / "chapters" / "two.tex").write_text("% mcalc: d/dx (x^2) = 2x\n")
    (tmp_path / "main.tex").write_text("\\input{chapters/one}\n")
    assert run(["check", str(tmp_path / "main.tex"), "--follow-includes"]) == 0
    assert f"{tmp_path / 'chapters' / 'two.tex'}:1: pass" in capsys.readouterr().out


def test_an_include_that_is_not_utf8_is_one_line(tmp_path, capsys):
    (tmp_path / "part.tex").write_bytes("% mcalc: d/dx (x^2) = 2x % caf\xe9\n".encode("latin-1"))
    (tmp_path / "main.tex").write_text("\\input{part}\n")
    assert "not UTF-8" in one_line_exit_2(["check", str(tmp_path / "main.tex"), "--follow-includes"], capsys)


def test_a_folder_is_searched_for_claim_files(tmp_path, capsys):
    (tmp_path / "docs" / "deep").mkdir(parents=True)
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "x.md").write_text("<!-- mcalc: d/dx (x) = 5 -->\n")  # hidden: skipped
    (tmp_path / "docs" / "a.md").write_text("<!-- mcalc: d/dx (x^2) = 2x -->\n")
    (tmp_path / "docs" / "deep" / "b.ltx").write_text("% mcalc: d/dx (x^3) = 3x^2\n")
    (tmp_path / "docs" / "c.mcalc").write_text("d/dx (sin(x)) = cos(x)\n")
    (tmp_path / "docs" / "pyproject.toml").write_text("[project]\nname = 'x'\n")  # no claims: fine in a folder
    (tmp_path / "docs" / "script.py").write_text("# mcalc: d/dx (x) = 9\n")  # not a claim file
    assert run(["check", str(tmp_path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split(": ")[0] for line in out[:-1]] == [
        str(tmp_path / "docs" / "a.md") + ":1", str(tmp_path / "docs" / "c.mcalc") + ":1",
        str(tmp_path / "docs" / "deep" / "b.ltx") + ":1"]
    empty = tmp_path / "empty"
    empty.mkdir()
    assert "no .mcalc" in one_line_exit_2(["check", str(empty)], capsys)


def test_stdin_filename_picks_the_syntax_and_the_name(monkeypatch, capsys):
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO(Path(NOTES).read_text()))
    assert run(["check", "-", "--stdin-filename", "docs/notes.md"]) == 1
    out = capsys.readouterr().out
    assert "docs/notes.md:25: FAIL" in out and out.rstrip().endswith("3 passed, 1 failed, 0 inconclusive")


# -- reports against their schemas ------------------------------------------------------
def _junit(tmp_path, *args) -> Path:
    out = tmp_path / "junit.xml"
    run(["check", *args, "--junit", str(out)])
    return out


def _inconclusive_and_error_files(tmp_path) -> list[str]:
    weird = tmp_path / "a,b:c.mcalc"  # a name with the characters annotations must escape
    weird.write_text("d/dx (x) = I where x: vector[30]\nd/dx (x^2 = 2x\nd/dx (x^2) = 3x\n"
                     "d/dx (x % 100) = 1\n")
    return [NOTES, str(weird)]


@pytest.mark.parametrize("strict", [False, True])
def test_junit_validates_against_the_jenkins_xsd(tmp_path, capsys, strict):
    xmlschema = pytest.importorskip("xmlschema")
    from xml.etree import ElementTree as ET

    schema = xmlschema.XMLSchema(str(ROOT / "tests" / "data" / "junit-10.xsd"))
    files = _inconclusive_and_error_files(tmp_path)
    path = _junit(tmp_path, *files, *(["--strict"] if strict else []))
    schema.validate(str(path))
    root = ET.parse(path).getroot()
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == files and [s.get("file") for s in suites] == files
    cases = root.iter("testcase")
    for case in cases:
        assert not re.fullmatch(r".*:\d+", case.get("name")) and case.get("name").startswith("line ")
        assert re.fullmatch(r"\d+\.\d{3}", case.get("time"))
    weird = suites[1].findall("testcase")
    assert weird[0].get("name") == "line 1: ∂/∂x (x) = I(30)"  # the I sized by the Jacobian it is claimed as
    assert (weird[0].find("failure") is not None) == strict and (weird[0].find("skipped") is not None) != strict
    assert weird[1].find("error") is not None and weird[2].find("failure") is not None
    assert suites[1].get("failures") == str(1 + strict) and suites[1].get("errors") == "2"


def _parse_workflow_command(line: str):
    """A GitHub Actions workflow command, ::name key=value,…::message, read as the
    runner reads it: properties split at ',' and '=', then unescaped; a raw %, CR or
    LF is not allowed, nor a raw ':' or ',' in a property."""
    m = re.fullmatch(r"::([a-z-]+)(?: ([^:]*))?::(.*)", line)
    assert m, line
    name, props, data = m.groups()
    escapes = {"%25": "%", "%0D": "\r", "%0A": "\n", "%3A": ":", "%2C": ","}

    def unescape(text: str, allowed: tuple[str, ...]) -> str:
        assert not re.search(r"%(?![0-9A-F]{2})", text) and "\r" not in text and "\n" not in text, text
        for code in re.findall(r"%[0-9A-F]{2}", text):
            assert code in allowed, (code, text)
        return re.sub(r"%[0-9A-F]{2}", lambda c: escapes[c.group(0)], text)

    properties = {}
    for prop in (props or "").split(","):
        key, sep, value = prop.partition("=")
        assert sep and re.fullmatch(r"[a-zA-Z]+", key), prop
        properties[key] = unescape(value, tuple(escapes))
    return name, properties, unescape(data, ("%25", "%0D", "%0A"))


def test_github_annotations_follow_the_workflow_command_format(tmp_path, capsys):
    files = _inconclusive_and_error_files(tmp_path)
    run(["check", *files, "--github"])
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("::")]
    commands = [_parse_workflow_command(line) for line in lines]
    assert [(n, p["file"], p["line"]) for n, p, _ in commands] == [
        ("error", NOTES, "25"), ("warning", files[1], "1"), ("error", files[1], "2"), ("error", files[1], "3"),
        ("error", files[1], "4")]
    assert "100" in commands[-1][2] or "%" in commands[-1][2] or commands[-1][2]
    run(["check", *files, "--github", "--strict"])
    assert capsys.readouterr().out.count("::warning") == 0


def test_json_report_with_github_keeps_stdout_json(tmp_path, capsys):
    files = _inconclusive_and_error_files(tmp_path)
    run(["check", *files, "--github", "--report", "json"])
    captured = capsys.readouterr()
    report = json.loads(captured.out)  # nothing else on stdout
    assert report["summary"] == {"passed": 3, "failed": 2, "inconclusive": 1, "errors": 2}
    assert all(_parse_workflow_command(line) for line in captured.err.splitlines())
    assert len(captured.err.splitlines()) == 5


def _validate_json(instance):
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads((ROOT / "mcalc" / "schemas" / "mcalc-check-1.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.Draft202012Validator(schema).validate(instance)


def test_json_reports_validate_against_the_shipped_schema(tmp_path, capsys):
    files = _inconclusive_and_error_files(tmp_path)
    for strict in ([], ["--strict"]):
        run(["check", *files, "--report", "json", *strict])
        report = json.loads(capsys.readouterr().out)
        _validate_json(report)
        assert report["strict"] == bool(strict)
    statuses = {c["status"] for c in report["claims"]}
    assert statuses == {"pass", "fail", "inconclusive", "error"}
    assert run(["check", str(tmp_path / "missing.md"), "--report", "json"]) == 2
    error = json.loads(capsys.readouterr().out)
    _validate_json(error)
    assert "missing.md" in error["error"]["message"] and error["error"]["exit_code"] == 2


def test_the_schema_ships_in_the_package():
    from importlib.resources import files

    schema = json.loads((files("mcalc") / "schemas" / "mcalc-check-1.schema.json").read_text())
    assert schema["$id"] == "mcalc-check/1" == mcalc.claims.SCHEMA


# -- first contact --------------------------------------------------------------------------
@pytest.mark.parametrize("args", [["-h"], ["diff", "-h"], ["check", "-h"], ["diff", "--help"]])
def test_h_is_help(args, capsys):
    assert run(args) == 0
    assert capsys.readouterr().out.startswith("Usage: mcalc")


def test_diff_help_has_the_syntax_examples_and_exit_codes(capsys):
    run(["diff", "--help"])
    out = capsys.readouterr().out
    for words in ("sum mean max min exp ln", "⊗", "@", "Examples:", 'mcalc diff "-x^2"', "Exit status: 0",
                  "2 bad input"):
        assert words in out, words
    run(["check", "--help"])
    out = capsys.readouterr().out
    assert "Exit status: 0 every claim passes" in out and "--stdin-filename" in out


@pytest.mark.parametrize("args,answer", [
    (["diff", "-x^2"], "∂y/∂x = -2x"),
    (["diff", "-(x + 1)", "--wrt", "x"], "∂y/∂x = -1"),
    (["diff", "--wrt", "x", "-sin(x)"], "∂y/∂x = -cos(x)"),
    (["diff", "-x^2", "-s", "x"], "∂y/∂x = -2x"),
    (["diff", "-vw,x", "-w*x", "--wrt", "w"], "∂y/∂w = -diag(x)"),
    (["diff", "--wrt", "x", "--", "-x"], "∂y/∂x = -1"),
    (["diff", "-2*x"], "∂y/∂x = -2"),
    (["diff", "x^3"], "∂y/∂x = 3x²"),
    (["hessian", "-x^2", "--wrt", "x"], "∂²y/∂x² = -2"),  # hessian reads its function as diff does
    (["hessian", "-x^3"], "∂²y/∂x² = -6x"),
])
def test_leading_minus_and_a_single_variable(args, answer, capsys):
    assert run([args[0], "--format", "text", *args[1:]]) == 0
    assert capsys.readouterr().out.splitlines()[-1].startswith(answer)


@pytest.mark.parametrize("args,words", [
    (["diff", "x + y"], "the function has the variables x, y; say which, e.g. --wrt x"),
    (["diff", "3"], "no variable to differentiate by"),
    (["diff", "x^2", "--wrt", "x", "--steps"], "--steps goes with --latex"),
    (["diff", "-x", "--bogus"], "No such option: --bogus"),
    (["diff", "x", "--wrt", "x", "-V", "x:n"], "No such option: -V"),
    (["hessian", "--wrt", "x"], "missing the function: mcalc hessian EXPR"),  # mistyped -v, not a second function
])
def test_first_contact_errors(args, words, capsys):
    assert words in one_line_exit_2(args, capsys)


def test_steps_with_latex_still_works(capsys):
    assert run(["diff", "x^2", "--steps", "--latex"]) == 0
    assert capsys.readouterr().out.startswith("\\begin{align*}")


@pytest.mark.parametrize("args,kind,column", [
    (["diff", "x^", "--format", "json"], "syntax error", 3),
    (["diff", "x", "--format=json", "--layout", "sideways"], "usage error", None),
    (["diff", "w ⊗ X", "--wrt", "w", "-v", "w", "-M", "X:N,n", "--format", "json"], "shape error", 3),
    (["diff", "ln(x)", "--format", "json", "--at", "x=-1"], "evaluation error", None),
])
def test_json_format_errors_are_json_too(args, kind, column, capsys):
    assert run(args) == 2
    captured = capsys.readouterr()
    data = json.loads(captured.out)
    assert data["error"]["kind"] == kind and data["error"]["exit_code"] == 2
    assert data["error"]["column"] == column
    assert captured.err.count("\n") == 1 and captured.err.startswith("mcalc: ")


def test_the_rich_view_on_a_terminal_keeps_bracketed_values():
    """A real pseudo-terminal: the rich view, where [y, 0] once vanished as markup."""
    import pty
    import select

    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "TERM")}
    env.update(TERM="xterm", COLUMNS="100")
    controller, terminal = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "mcalc", "diff", "[y, 0]", "--wrt", "y", "--verify",
                             "--at", "y=2"], stdin=terminal, stdout=terminal, stderr=terminal, env=env,
                            close_fds=True)
    os.close(terminal)
    chunks = []
    while True:
        ready, _, _ = select.select([controller], [], [], 30)
        if not ready:
            break
        try:
            chunk = os.read(controller, 65536)
        except OSError:  # the terminal closed: the program ended
            break
        if not chunk:
            break
        chunks.append(chunk)
    proc.wait(timeout=30)
    os.close(controller)
    screen = re.sub(r"\x1b\[[0-9;]*m", "", b"".join(chunks).decode("utf-8"))
    assert proc.returncode == 0
    assert "╭" in screen  # the rich view, not the plain one
    assert "= [1, 0]" in screen and "[[1], [0]]" in screen and "verification: verified" in screen


# -- the grammar cache is never someone else's pickle -------------------------------------------
def test_the_grammar_cache_is_private(tmp_path, monkeypatch):
    from mcalc.cache import FILE, grammar_cache

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    path = grammar_cache()
    assert path == str(tmp_path / "mcalc" / FILE)
    assert oct(os.stat(path).st_mode & 0o777) == "0o600" and oct(os.stat(tmp_path / "mcalc").st_mode & 0o777) == "0o700"
    os.chmod(path, 0o666)  # a file others could have written
    assert grammar_cache() is False
    os.chmod(path, 0o600)
    os.chmod(tmp_path / "mcalc", 0o777)  # a folder others could write into
    assert grammar_cache() is False
    os.chmod(tmp_path / "mcalc", 0o700)
    os.unlink(path)
    os.symlink(tmp_path / "elsewhere", path)  # a link planted in place of the file
    assert grammar_cache() is False


def test_a_planted_pickle_in_a_shared_cache_folder_is_not_loaded(tmp_path):
    import pickle

    folder = tmp_path / "mcalc"
    folder.mkdir()
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    cache = folder / "mcalc-grammar.lark.cache"
    cache.write_bytes(b"0" * 64 + b"\n" + pickle.dumps(Payload()))
    os.chmod(folder, 0o777)  # as a shared, world-writable cache folder would be
    os.chmod(cache, 0o666)
    r = subprocess.run([sys.executable, "-m", "mcalc", "diff", "x^2", "--latex"], capture_output=True, text=True,
                       env={**os.environ, "XDG_CACHE_HOME": str(tmp_path)}, timeout=60)
    assert r.returncode == 0 and r.stdout == "2 x\n"
    assert not marker.exists()


# -- the wheel -------------------------------------------------------------------------------
def test_the_wheel_carries_license_py_typed_and_the_schema(tmp_path):
    import zipfile

    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path), str(ROOT)],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    (wheel,) = tmp_path.glob("mcalc_derive-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "mcalc/py.typed" in names and "mcalc/schemas/mcalc-check-1.schema.json" in names
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    metadata = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    assert "License-Expression: MIT" in metadata and "Classifier: Typing :: Typed" in metadata
    assert "Project-URL: " in metadata and "Requires-Python: >=3.11" in metadata
    assert "Requires-Dist: typer<0.29,>=0.27.2" in metadata


def test_a_missing_value_says_how_to_give_it_and_what_was_ignored():
    d = mcalc.diff("x*y", wrt="x")
    with pytest.raises(mcalc.errors.MissingValue, match="'y' in the values.*Y is not a variable of the function"):
        d.evaluate({"x": 1, "Y": 2})


def test_lambda_is_a_name_and_emits_as_lambda_():
    assert mcalc.diff("lambda*norm(w)^2", wrt="w", vectors=["w"]).text == "2*lambda*w^T"
    assert "def f(*, lambda_, w):" in mcalc.emit("lambda*norm(w)^2", "w", vectors=["w"])


def test_mcalc_alone_shows_the_usage(capsys):
    from mcalc.shell import run as shell_run

    assert shell_run([]) == 2 and "Usage: mcalc" in capsys.readouterr().out


def test_a_budget_counts_processor_time_not_waiting():
    """The same work gets the same verdict on a busy machine: waiting (for the processor,
    here for a sleep) does not spend a budget; working does."""
    import time

    from mcalc.limits import Timeout, time_limit

    with time_limit(0.2):
        time.sleep(0.4)  # no work: the budget holds
    with pytest.raises(Timeout):
        with time_limit(0.2):
            _busy(0.4)


# -- a derivation crosses processes -----------------------------------------------------------
@pytest.mark.parametrize("expr, kw", [
    ("sum(exp(W@x + b) * tanh(V@x)) + sum(x*x)", dict(wrt="x,b", matrices=["W:n,n", "V:n,n"])),
    ("u = w*x; sum(u)^2", dict(wrt="w")),
    ("max(0, w·x + b)", dict(wrt="w")),
])
def test_a_derivation_pickles_and_copies_whole(expr, kw):
    """A derivation sent to another process (pickle) or copied deeply prints and
    evaluates as the original (nodes refused to be rebuilt: unpickling raised)."""
    import copy
    import json
    import pickle

    d = mcalc.diff(expr, **kw)
    fresh = pickle.loads(pickle.dumps(d))  # before anything is printed: the lazy parts travel unmade
    assert fresh.text == d.text and str(fresh.steps) == str(d.steps)
    d.to_dict()  # the steps made and kept (a tuple of its own class, with its derivation)
    point = {name: [0.5, -1.0, 2.0] if shape.is_col else [[0.5, -1.0, 2.0], [1.0, 0.25, -0.5], [2.0, 1.5, 0.0]]
             if shape.is_matrix else 0.75 for name, shape in d.variables().items()}
    for twin in (pickle.loads(pickle.dumps(d)), copy.deepcopy(d)):
        assert (twin.text, twin.unicode, twin.latex, str(twin.trace), twin.rule, str(twin.steps)) == \
            (d.text, d.unicode, d.latex, str(d.trace), d.rule, str(d.steps))
        assert json.dumps(twin.to_dict(), default=str) == json.dumps(d.to_dict(), default=str)
        assert twin.evaluate(point) == d.evaluate(point)


def test_the_simplifiers_forms_hash_anew_in_another_process(tmp_path):
    """A canonical form keeps its hash, which takes in its class: in another process
    the class hashes otherwise, so an unpickled form carried the old hash and missed
    equal forms there.  Pickled, it leaves the hash behind."""
    import pickle
    import subprocess
    import sys

    from mcalc.simplify import Fn, atom

    form = atom("x")
    (tmp_path / "form.pkl").write_bytes(pickle.dumps((form, Fn("sin", form))))
    code = ("import pickle, sys; from mcalc.simplify import Fn, atom; "
            "form, fn = pickle.load(open(sys.argv[1], 'rb')); "
            "print(form == atom('x'), hash(form) == hash(atom('x')), fn == Fn('sin', atom('x')), "
            "{form: 1}.get(atom('x')))")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "form.pkl")], capture_output=True, text=True)
    assert out.stdout.split() == ["True", "True", "True", "1"], out.stderr


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_a_derivation_and_its_values_pickle_by_every_protocol(protocol):
    """Protocols 0 and 1 refused a step-3 combination and a structured diag(v) value
    ('a class that defines __slots__ without defining __getstate__')."""
    import numpy as np

    from mcalc.arrays import Diagonal

    d = mcalc.diff("tanh(W x + b)", wrt="W", vectors=["x", "b"], matrices=["W:m,n"])
    twin = pickle.loads(pickle.dumps(d, protocol=protocol))
    assert (twin.text, twin.latex) == (d.text, d.latex)
    assert [(c.rule, c.value) for c in twin.trace.combinations] == [(c.rule, c.value) for c in d.trace.combinations]
    diagonal = pickle.loads(pickle.dumps(Diagonal(np.array([1.0, 2.0])), protocol=protocol))
    assert diagonal.v.tolist() == [1.0, 2.0]
