"""Verification by the independent route, claims in every format, and
`mcalc check`'s outputs and exit codes."""
from __future__ import annotations

import json
import tomllib
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

import mcalc
from numeric import readback_error
from mcalc import ast as A
from mcalc.claims import Claim, check_claim, find_claims
from mcalc.cli import run
from mcalc.parser import parse_claim

ROOT = Path(__file__).resolve().parent.parent
CASES = tomllib.loads((ROOT / "tests" / "data" / "paper.toml").read_text())["case"]
IDS = [c["id"] for c in CASES]


def derive(case):
    return mcalc.diff(case["expr"], wrt=case["wrt"], vectors=case.get("vectors", ()),
                      matrices=[f"{k}:{v}" for k, v in case.get("matrices", {}).items()])


# -- verify ----------------------------------------------------------------------
def _fails_where_the_right_answer_passes(claim: str, right: str) -> None:
    """The claim fails, and the same derivative with the right answer passes."""
    assert check_claim(Claim("t.mcalc", 1, claim)).status == "fail"
    assert check_claim(Claim("t.mcalc", 1, claim.split(" = ")[0] + " = " + right)).status == "pass"


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_every_paper_answer_is_verified(case):
    verdict = derive(case).verify()
    assert verdict.status == "verified", str(verdict)


def _corruptions(d):
    """Deliberately wrong answers: a wrong sign, a dropped transpose, a diag
    where a dense matrix belongs, a doubled answer."""
    e = d.expr
    out = [("wrong sign", A.Neg(e)), ("doubled", A.Mul(A.num(2), e))]
    for node in A.walk(e):
        if isinstance(node, A.Transpose):
            out.append(("dropped transpose", _replace(e, node, node.arg)))
            break
    for node in A.walk(e):
        if isinstance(node, A.MatMul) and isinstance(node.left, A.Diag):
            out.append(("diag for a dense matrix", _replace(e, node, node.left)))
            break
    return out


def _replace(tree, old, new):
    if tree is old:
        return new
    return tree.rebuild(tuple(_replace(c, old, new) for c in tree.children)) if tree.children else tree


WRONG = [c for c in CASES if c["expect"] != "0"] + [
    {"id": "layer", "expr": "tanh(A @ x)", "wrt": "x", "vectors": ["x"], "matrices": {"A": "n,n"}},
    {"id": "softplus-layer", "expr": "sum(softplus(W @ x + b))", "wrt": "x", "vectors": ["x", "b:m"],
     "matrices": {"W": "m,n"}},
    {"id": "sinh-cosh", "expr": "sinh(x) ⊗ cosh(x)", "wrt": "x", "vectors": ["x"]},
]


@pytest.mark.parametrize("case", WRONG, ids=[c["id"] for c in WRONG])
def test_verify_and_check_fail_corrupted_answers(case):
    d = derive(case)
    for what, wrong in _corruptions(d):
        verdict = d.verify(wrong)
        assert verdict.status == "failed", (what, str(verdict))
        claim = f"d/d{','.join(d.wrt)} ({case['expr']}) = {d.print(wrong, 'text')}"
        decls = [f"{v.partition(':')[0]}: vector" + (f"[{v.partition(':')[2]}]" if ":" in v else "")
                 for v in case.get("vectors", [])]
        decls += [f"{k}: matrix[{v}]" for k, v in case.get("matrices", {}).items()]
        if decls:
            claim += " where " + "; ".join(decls)
        assert check_claim(Claim("t", 1, claim)).status == "fail", (what, claim)


def test_the_dropped_transpose_names_the_shapes():
    d = mcalc.diff("w · x", wrt="w", vectors=["w", "x"])
    verdict = d.verify(A.Var("x"))
    assert verdict.status == "failed" and "3×1" in verdict.reason and "1×3" in verdict.reason


def test_a_failure_gives_the_point_and_both_values():
    d = mcalc.diff("sum(w*x)", wrt="w")
    verdict = d.verify(A.Neg(d.expr))
    assert verdict.at is not None and set(verdict.at) == {"w", "x"}
    assert verdict.expected == [[-v for v in row] for row in verdict.got]
    assert str(verdict).startswith("FAILED at w=")


def test_piecewise_claims_are_tested_on_both_sides_of_the_kink():
    d = mcalc.diff("max(0, w·x + b)", wrt="w", vectors=["w", "x"])
    assert d.verify(A.Transpose(A.Var("x"))).status == "failed"


@pytest.mark.parametrize("claim", [
    "d/dx (mean(x)) = ones(n)^T/3 where x: vector",  # n = 3 at the first sizes
    "d/dx (mean(x^2)) = 2x^T/3 where x: vector",
    "d/dw (mean((X@w - y)^2)) = (X@w - y)^T@X/2 where X: matrix[N, n]; w: vector[n]; y: vector[N]",  # 2/N, N = 4
    "d/dx (x) = I(3) where x: vector",
    "d/dW (W@x) = kron(x^T, I(2)) where W: matrix[m, n]; x: vector[n]",
    "d2/dx2 (mean(x^2)) = 2I/3 where x: vector",
])
def test_an_answer_that_holds_at_one_size_only_fails(claim):
    result = check_claim(Claim("t.mcalc", 1, claim))
    assert result.status == "fail" and "but not at" in result.message, result.message
    assert check_claim(Claim("t.mcalc", 1, claim.replace("/3", "/n").replace("(3)", "(n)")
                             .replace("(2)", "(m)").replace("/2", "*2/N"))).status == "pass"


@pytest.mark.parametrize("claim,right", [
    ("d/dx (sqrt(x^2)) = 1", "x/sqrt(x^2)"),  # |x|: the points take both signs
    ("d/dx (sqrt(x^2)*x) = 2x", "2*sqrt(x^2)"),
    ("d/dx ((x^2)^0.5) = 1", "x/abs(x)"),
    ("d/dx (max(x, -5)) = 1", "(x > -5)"),  # a kink far from 0: the points spread until they cross it
    ("d/dx (min(x, 10)) = 1", "(x < 10)"),
])
def test_answers_right_on_one_side_only_fail(claim, right):
    _fails_where_the_right_answer_passes(claim, right)


@pytest.mark.parametrize("claim,right", [
    ("d/dx (max(0, x)) = (x > -0.9)", "(x > 0)"),  # the kink moved: they differ only on (-0.9, 0]
    ("d/dx (abs(x - 0.3)) = sign(x)", "sign(x - 0.3)"),
    ("d/dx (max(x, 0.3)) = (x > 0)", "(x > 0.3)"),
    ("d/dx (x^2) = 2*x + (x > 300)", "2*x"),  # a piece of the answer's own, far away
    ("d/dw (max(0, w·x + b)) = (w·x + b > 0.4)*x' where w, x: vector", "(w·x + b > 0)*x' where w, x: vector"),
])
def test_answers_with_their_kinks_elsewhere_fail(claim, right):
    """Every kink seen on both sides is not enough: the points must also fall between
    the function's kinks and the answer's, where alone the two differ."""
    _fails_where_the_right_answer_passes(claim, right)


@pytest.mark.parametrize("claim,right", [
    ("d/dx (tanh(x)) = (x < 18)(1 - tanh(x)^2)", "1 - tanh(x)^2"),
    ("d/dx (tanh(2x)) = (x < 15)2(1 - tanh(2x)^2)", "2(1 - tanh(2x)^2)"),
    ("d/dx (sum(tanh(x))) = ((x < 18)(1 - tanh(x)^2))^T where x: vector", "(1 - tanh(x)^2)^T where x: vector"),
])
def test_a_claim_wrong_only_where_tanhs_derivative_is_tiny_fails(claim, right):
    """1 - tanh(x)², evaluated as written, is 0 in floats past x = 19 (1.7e-17 at 20), as the
    wrong claim is there: it was verified. tanh's derivative is evaluated as sech²."""
    _fails_where_the_right_answer_passes(claim, right)


@pytest.mark.parametrize("claim,right", [
    ("d/dx (x + y) = 1 + (abs(x - 3) < 0.3)(abs(y + 2) < 0.3)", "1"),
    ("d/dx (x*y) = y + (abs(x - 3) < 0.01)(abs(y + 2) < 0.01)", "y"),
    ("d/dx (x*y) = y + (abs(x - 10) < 0.3)(abs(y - 10) < 0.3)", "y"),
])
def test_a_claim_wrong_only_in_a_small_box_of_two_abs_strips_fails(claim, right):
    """|x - 3| < 0.3 is a strip the grid of a line through the space steps over (its kink
    |x - 3| - 0.3 has one sign at both grid points beside it): the claim was verified. Beside
    a crossing of x - 3 the kinks around it are looked for, and the box is met."""
    _fails_where_the_right_answer_passes(claim, right)


def test_too_large_to_instantiate_is_inconclusive():
    d = mcalc.diff("x", wrt="x", vectors=["x:30"])
    verdict = d.verify()
    assert verdict.status == "inconclusive" and "entries" in verdict.reason


# -- the LaTeX round trip ------------------------------------------------------------
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_latex_answer_parses_back_to_the_same_expression(case):
    d = derive(case)
    assert readback_error(d, d.latex) < 1e-12, d.latex


@pytest.mark.parametrize("claim,wrt", [
    (r"\frac{\partial}{\partial \mathbf{w}} (\mathbf{w} \cdot \mathbf{x} + b) = \mathbf{x}^T", ["w"]),
    (r"\frac{d}{dx} \ln(x^2) = \frac{2}{x}", ["x"]),
    (r"\frac{\partial}{\partial \mathbf{x}} \operatorname{sum}\left(\mathbf{x}\right) = \vec{1}^{\top}", ["x"]),
    (r"\frac{\partial}{\partial \mathbf{x}} \sum(\mathbf{x}) = \mathbf{1}^{\mathsf{T}}", ["x"]),
    (r"\frac{\partial}{\partial z} \max(0, z) = \left(z > 0\right)", ["z"]),
    (r"\frac{\partial}{\partial x} \sin(3 x) = 3 \cos(3x)", ["x"]),
    (r"\frac{\partial}{\partial \lambda} \lambda x^{2} = x^{2}", ["λ"]),
    (r"\frac{\partial}{\partial x} \begin{bmatrix} x^2 \\ 3x \end{bmatrix} = \begin{bmatrix} 2x \\ 3 \end{bmatrix}",
     ["x"]),
    (r"\frac{\partial}{\partial \mathbf{w}} \left(\mathbf{w} \otimes \mathbf{x}\right) = \operatorname{diag}(\mathbf{x})",
     ["w"]),
    ("∂/∂x (x³) = 3x²", ["x"]),
    (r"\frac{\mathrm{d}}{\mathrm{d}x} \left(x^{2}\right) = 2x", ["x"]),  # an upright d
    (r"\frac{\partial}{\partial \mathbf{X}} \mathrm{tr}\left(\mathbf{X}\right) = I", ["X"]),
    (r"\frac{\partial}{\partial x} \sinh\left(x^{2}\right) = 2 x \cosh\left(x^{2}\right)", ["x"]),
    (r"\frac{\partial}{\partial \mathbf{w}} \operatorname{softplus}\left(\mathbf{w} \cdot \mathbf{x}\right) = "
     r"\sigma\left(\mathbf{w} \cdot \mathbf{x}\right) \mathbf{x}^{T}", ["w"]),
])
def test_claims_written_as_papers_write_them(claim, wrt):
    parsed = parse_claim(claim)
    assert list(parsed.wrt) == wrt
    assert check_claim(Claim("t", 1, claim)).status == "pass"


@pytest.mark.parametrize("claim,status", [
    ("d/dx softplus(x) = sigmoid(x)", "pass"),
    ("d/dx softplus(x) = exp(x)/(1 + exp(x))", "pass"),  # σ written out
    ("d/dx softplus(x) = 1 - sigmoid(x)", "fail"),  # σ(-x)
    ("d/dx softplus(x) = softplus(x)", "fail"),
    ("d/dx (sinh(x) cosh(x)) = cosh(2x)", "pass"),  # sinh² + cosh²
    ("d/dx cosh(x) = -sinh(x)", "fail"),  # cos's sign, not cosh's
    ("d/dx sinh(x) = sqrt(1 + sinh(x)^2)", "pass"),  # cosh = √(1 + sinh²), cosh > 0
    ("d/dw softplus(w · x + b) = sigmoid(w · x + b) x^T  where w, x: vector", "pass"),
    ("d/dW sum(softplus(W @ x)) = x sigmoid(W @ x)^T  where W: matrix[m, n]; x: vector[n]", "pass"),
    ("d/dW sum(softplus(W @ x)) = sigmoid(W @ x) x^T  where W: matrix[m, n]; x: vector[n]", "fail"),
])
def test_claims_of_sinh_cosh_and_softplus(claim, status):
    assert check_claim(Claim("t.mcalc", 1, claim)).status == status


# -- finding claims ----------------------------------------------------------------
def test_claims_in_latex_markdown_toml_and_claims_files(tmp_path):
    (tmp_path / "a.mcalc").write_text("# comment\n\nd/dx (x^2) = 2x\nd/dw (w·x) = x^T where w, x: vector\n")
    (tmp_path / "b.toml").write_text('[[claim]]\nid = "dot"\nexpr = "w · x"\nwrt = "w"\nexpect = "x^T"\n'
                                     'where = "w, x: vector"\n')
    (tmp_path / "c.tex").write_text("text\n% mcalc: d/dx (x^3) = 3x^2\n"
                                    "% mcalc: where w, x: vector\n\\[\n \\frac{\\partial}{\\partial \\mathbf{w}}"
                                    " \\mathbf{w} \\cdot \\mathbf{x} = \\mathbf{x}^T \\label{eq:dot}\n\\]\n")
    (tmp_path / "d.md").write_text("<!-- mcalc: d/dx (sin(x)) = cos(x) -->\n")
    found = {p.name: find_claims(str(p), p.read_text()) for p in tmp_path.iterdir()}
    assert [c.line for c in found["a.mcalc"]] == [3, 4]
    assert found["b.toml"][0].id == "dot" and found["b.toml"][0].line == 2
    assert [c.line for c in found["c.tex"]] == [2, 4]
    assert len(found["d.md"]) == 1
    for claims in found.values():
        assert all(check_claim(c).status == "pass" for c in claims)


@pytest.mark.parametrize("name,text", [
    ("h.md", "<!-- mcalc: d2/dx2 (x^3) = {} -->\n"),
    ("h.md", "<!-- mcalc: ∂²/∂x² (x^3) = {} -->\n"),
    ("h.tex", "% mcalc: d2/dx2 (x^3) = {}\n"),
    ("h.tex", "% mcalc: ∂²/∂x² (x^3) = {}\n"),
])
def test_second_derivative_claims_in_annotations(name, text):
    for answer, status in (("6x", "pass"), ("5x", "fail")):
        (claim,) = find_claims(name, text.format(answer))
        assert check_claim(claim).status == status


def test_an_annotation_that_is_no_claim_and_has_no_equation_says_so():
    (claim,) = find_claims("j.md", "<!-- mcalc: foo(x) = 3 -->\n")
    result = check_claim(claim)
    assert result.status == "error" and "'foo(x) = 3' is not a claim" in result.message


def test_paper_cases_file_is_a_claims_file():
    claims = find_claims(str(ROOT / "tests" / "data" / "paper.toml"),
                         (ROOT / "tests" / "data" / "paper.toml").read_text())
    assert len(claims) == len(CASES)
    assert all(check_claim(c).status == "pass" for c in claims)


# -- the command -------------------------------------------------------------------
def test_the_papers_latex_file_passes(capsys):
    assert run(["check", str(ROOT / "examples" / "paper.tex")]) == 0
    out = capsys.readouterr().out
    assert out.rstrip().endswith(f"{len(CASES)} passed, 0 failed, 0 inconclusive")


def test_the_wrong_claim_fails_naming_its_line(capsys):
    assert run(["check", str(ROOT / "examples" / "notes.md")]) == 1
    out = capsys.readouterr().out
    fails = [line for line in out.splitlines() if ": FAIL " in line]
    assert len(fails) == 1 and fails[0].startswith(f"{ROOT / 'examples' / 'notes.md'}:25: FAIL")
    assert "claimed xᵀ, derived (w · x + b > 0)xᵀ (differ at" in fails[0]


@pytest.mark.parametrize("content,args,code", [
    ("d/dx (x^2) = 2x\n", [], 0),
    ("d/dx (x^2) = 3x\n", [], 1),
    ("d/dx (x^2 = 2x\n", [], 2),
    ("# nothing here\n", [], 1),
    ("# nothing here\n", ["--allow-empty"], 0),
    ("d/dx (x) = I where x: vector[30]\n", [], 0),
    ("d/dx (x) = I where x: vector[30]\n", ["--strict"], 1),
])
def test_exit_codes(tmp_path, capsys, content, args, code):
    f = tmp_path / "claims.mcalc"
    f.write_text(content)
    assert run(["check", str(f), *args]) == code


def test_junit_has_one_testcase_per_claim_and_json_is_versioned(tmp_path, capsys):
    junit = tmp_path / "out.xml"
    assert run(["check", str(ROOT / "examples" / "notes.md"), "--junit", str(junit), "--report", "json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["schema"] == "mcalc-check/1"
    assert report["summary"] == {"passed": 3, "failed": 1, "inconclusive": 0, "errors": 0}
    suite = ET.parse(junit).getroot().find("testsuite")
    cases = suite.findall("testcase")
    assert len(cases) == 4 and sum(1 for c in cases if c.find("failure") is not None) == 1


def test_github_annotations(capsys):
    run(["check", str(ROOT / "examples" / "notes.md"), "--github"])
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("::error")]
    assert len(lines) == 1 and "line=25" in lines[0]


def test_stdin(monkeypatch, capsys):
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO("d/dx (x^2) = 2x\n"))
    assert run(["check", "-"]) == 0


def test_includes_are_followed_only_when_asked_and_only_inside_the_folder(tmp_path, capsys):
    (tmp_path / "part.tex").write_text("% mcalc: d/dx (x^2) = 2x\n")
    (tmp_path / "main.tex").write_text("\\input{part}\n")
    assert run(["check", str(tmp_path / "main.tex")]) == 1  # no claims without --follow-includes
    assert run(["check", str(tmp_path / "main.tex"), "--follow-includes"]) == 0
    (tmp_path / "evil.tex").write_text("\\input{../../etc/passwd}\n")
    assert run(["check", str(tmp_path / "evil.tex"), "--follow-includes"]) == 2
    assert "outside" in capsys.readouterr().err


def test_diff_verify_in_every_format(capsys):
    assert run(["diff", "sum(w*x)+b", "--wrt", "w", "--verify", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["verification"]["status"] == "verified"
    assert run(["diff", "sum(w*x)+b", "--wrt", "w", "--verify", "--format", "text"]) == 0
    assert "verification: verified (symbolic)" in capsys.readouterr().out


def test_parallel_check_gives_the_same_report(tmp_path, capsys):
    claims = tmp_path / "many.mcalc"
    lines = [f"d/dw{i} (w{i} · x{i} + b) = x{i}^T where w{i}, x{i}: vector" for i in range(12)]
    lines += [f"d/dx (sin({i}*x)) = {i}*cos({i}*x)" for i in range(1, 9)] + ["d/dx (x^2) = 3x"]
    claims.write_text("\n".join(lines) + "\n")
    outputs = []
    for jobs in ("1", "2"):
        assert run(["check", str(claims), "--jobs", jobs]) == 1
        outputs.append(capsys.readouterr().out)
    assert outputs[0] == outputs[1]
    assert outputs[0].rstrip().endswith("20 passed, 1 failed, 0 inconclusive")


def test_the_library_checks_files_too():
    results = mcalc.check(str(ROOT / "examples" / "notes.md"))
    assert [r.status for r in results] == ["pass", "pass", "pass", "fail"]
    assert results[-1].claim.line == 25


def test_a_papers_own_notation_with_the_function_given_in_the_annotation(tmp_path, capsys):
    """\\frac{\\partial C}{\\partial w} = …, with C given beside it (§6 writes its loss as C)."""
    tex = tmp_path / "loss.tex"
    tex.write_text(
        "% mcalc: given C = mean((y - max(0, X@w + b))^2) where y: vector[N]; X: matrix[N, n]; w: vector\n"
        "\\begin{equation}\n"
        "  \\frac{\\partial C}{\\partial \\mathbf{w}} = \\frac{2}{N} \\left(\\left(X \\mathbf{w} + b - \\mathbf{y}\\right)"
        " \\otimes \\left(X \\mathbf{w} + b > 0\\right)\\right)^{T} X\n"
        "\\end{equation}\n"
        "% mcalc: given C = mean((y - max(0, X@w + b))^2) where y: vector[N]; X: matrix[N, n]; w: vector\n"
        "\\[ \\frac{\\partial C}{\\partial b} = \\frac{1}{N} \\operatorname{sum}\\left(X \\mathbf{w} + b - \\mathbf{y}\\right) \\]\n")
    assert run(["check", str(tex)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"{tex}:2: pass ∂C/∂w (C = mean(")  # the line where the equation opens
    assert out[1].startswith(f"{tex}:6: FAIL ∂C/∂b (C = mean(")  # the factor 2 and the mask are missing
    claim = Claim("t", 1, "\\frac{\\partial C}{\\partial w} = 1")
    assert check_claim(claim).status == "error"  # C must be given


@pytest.mark.parametrize("cores, busy, free", [(2, 0.0, 2), (2, 0.7, 2), (2, 0.9, 1), (2, 3.5, 1), (8, 2.0, 6)])
def test_the_default_pool_takes_only_the_free_cores(monkeypatch, cores, busy, free):
    """--jobs 0 (the default) is one worker per core free now: on a busy machine a
    pool only waits for its turn."""
    from mcalc import claims as C

    monkeypatch.setattr(C.os, "sched_getaffinity", lambda pid: set(range(cores)), raising=False)
    monkeypatch.setattr(C, "_busy_cores", lambda: busy)
    assert C.free_cores() == free


def test_the_busy_cores_are_measured_now(monkeypatch):
    """From /proc/stat over a short window where there is one (the load average lags
    a minute: a check right after other work took one core of two), else the load average."""
    from mcalc import claims as C

    busy = C._busy_cores()
    assert 0 <= busy <= (C.os.cpu_count() or 1) + 0.01
    monkeypatch.setattr("builtins.open", lambda *a, **k: (_ for _ in ()).throw(OSError("no /proc")))
    monkeypatch.setattr(C.os, "getloadavg", lambda: (1.5, 1.0, 1.0))
    assert C._busy_cores() == 1.5


def test_few_claims_are_checked_in_this_process(monkeypatch, tmp_path):
    from mcalc import claims as C

    monkeypatch.setattr(C, "free_cores", lambda: (_ for _ in ()).throw(AssertionError("measured for 2 claims")))
    (tmp_path / "c.mcalc").write_text("d/dx (x^2) = 2x\nd/dx (x^3) = 3x^2\n")
    results, _ = C.check_files([str(tmp_path / "c.mcalc")], jobs=0)
    assert [r.status for r in results] == ["pass", "pass"]


@pytest.mark.parametrize("table,words", [
    ('expr = "x^2"\nexpct = "2x"\nwrt = "x"', "has no 'expect' (a claim needs expr, wrt and expect; it has expct"),
    ('expr = "x^2"\nexpect = "2x"', "has no 'wrt'"),
])
def test_a_toml_claim_missing_a_key_names_it(table, words):
    (claim,) = find_claims("c.toml", '[[claim]]\nid = "a"\n' + table + "\n")
    result = check_claim(claim)
    assert result.status == "error" and words in result.message and claim.line == 2


@pytest.mark.parametrize("table,status", [
    ('kind = "hessian"\nexpr = "x\' @ A @ x"\nwrt = "x"\nexpect = "A + A\'"\nvectors = ["x"]\n'
     'matrices = { A = "n,n" }', "pass"),
    ('kind = "hessian"\nexpr = "sum(x^3)"\nwrt = "x"\nexpect = "diag(3x)"\nvectors = ["x"]', "fail"),
    ('kind = "hessian"\nexpr = "x^3"\nwrt = "x"\nexpect = "6x"', "pass"),
    ('kind = "gradient"\nexpr = "x^3"\nwrt = "x"\nexpect = "3x^2"', "error"),
    ('kind = "hessian"\nexpr = "x^3*y"\nwrt = ["x", "y"]\nexpect = "6x"', "error"),
])
def test_a_toml_hessian_claim_is_one(table, status):
    """kind = "hessian" was passed over: the Hessians of matrix.toml were checked as first
    derivatives, and failed."""
    (claim,) = find_claims("c.toml", '[[case]]\nid = "a"\n' + table + "\n")
    result = check_claim(claim)
    assert result.status == status, result.message
    if status == "error":
        assert "kind" in result.message or "one variable" in result.message


# found by an independent test, each a wrong claim that passed
@pytest.mark.parametrize("claim", [
    # a size as a number, or one size for another: every size differs, and so do m·n and m + n
    "d/dW (W) = I(6) where W: matrix[m, n]",
    "d/dW (mean(W)) = ones(n) ones(m)ᵀ / 6 where W: matrix[m, n]",
    "d2/dW2 (sum(W^2)) = 2I(6) where W: matrix[m, n]",
    "d/dx (mean(W@x)) = ones(p)ᵀW/n where W: matrix[p, n]; x: vector[n]",
    "d/dW (W@x) = kron(xᵀ, I(n)) where W: matrix[p, n]",
    "d2/dx2 (norm(x)^2) = 2I(p) where x: vector[n]; W: matrix[p, n]",
    # |u| written sqrt(u²): SymPy's Abs is a kink too
    "d/dx (sqrt((x - 2)^2)) = -1", "d/dw (sqrt((w x)^2) + b) = -x",
    "d/dx (sqrt((x - 2)^2) + sqrt((x + 2)^2)) = 0", "d/dx (sum(sqrt((x - 2)^2))) = -ones(n)ᵀ where x: vector",
    "d2/dx2 (sqrt((x - 2)^2)^3) = -6(x - 2)",
    # a kink far out
    "d/dx (min(x, 10000)) = 1", "d/dx (max(x, 1e5)) = 0", "d/dx (max(x, 1e5)) = (x > 10000)",
    # right where x > 0 only: SymPy takes exp(2ln(x)) as x²
    "d/dx (x^3) = 3 exp(2 ln(x))", "d/dx (x^2) = 2 sqrt(x)^2",
    # a difference too small for the tolerance, but never 0
    "d/dx (1e-10 * exp(x)) = 0", "d/dx (x^2) = 2x + 1e-12",
    # ... or too small for floating point, or away from every point sampled
    "d/dx (x^2) = 2x + 10^-20", "d/dx (x^2) = 2x + 10^-400", "d/dx (x^2) = 2x + exp(-1000 x^2)",
    "d/dx (x^2) = 2x + exp(-(x - 50)^2)", "d/dx (sum(x^2)) = 2 x^T + exp(-10000 x^T@x) ones(n)^T where x: vector",
    # no value anywhere: a NaN is no agreement
    "d/dx (x^2) = 2x + 0/0", "d/dx (x) = 1 + 0*(1/0)", "d/dx (x^2) = 3x + 0^(-1)",
    "d/dx (x^2) = 3x + 10^400*(x^2 < -1)",
    # a derivative beyond floating point on the way (10⁴⁰⁰ e⁻⁸⁰⁰ is inf · 0 in floats)
    "d/dx (10^400 exp(-800) x) = 0", "d/dx (10^400 exp(-800) x) = 5",
    # a difference near 0, where the unit points never go, and which may be 0 somewhere
    "d/dx (abs(x)) = sign(x) + exp(-1000 x^2)", "d/dx (x^2) = 2x + x exp(-1000 x^2)",
    "d/dx (sin(x)) = cos(x) + x exp(-1000 x^2)",
    "d/dx (sum(x^2)) = 2x^T + x^T exp(-1000 x^T@x) where x: vector",
    "d/dx (x^2) = 2x + x exp(-1000x^2) (x < 0)",  # near 0 on both sides
    # beyond floating point at every point sampled, right on one side only: SymPy's digits compare
    "d/dx (exp(2000x)) = 2000 exp(2000x) (1 + (x > 0.1))", "d/dx (exp(2000x)) = (2000 + x^4) exp(2000x)",
    # no value near 0, where the derivative has one (and SymPy's algebra cancels the sqrt)
    "d/dx (x^2) = 2x sqrt(x^2 - 0.01)/sqrt(x^2 - 0.01)",
    "d/dx (x^2 + abs(x)) = 2x sqrt(x^2 - 0.01)/sqrt(x^2 - 0.01) + sign(x)",
    # an imaginary part beside a real part beyond floating point is no rounding noise
    "d/dx (exp(4000x^2) + sqrt(x^2 - 0.01) + abs(x)) = 8000x exp(4000x^2) + x/sqrt(x^2 - 0.01) + sign(x) "
    "+ sqrt(-1 - x^2)",
])
def test_wrong_claims_that_passed_now_fail(claim):
    result = check_claim(Claim("t.mcalc", 1, claim))
    assert result.status == "fail", (claim, result.message)


@pytest.mark.parametrize("claim", [
    "d/dW (mean(W)) = ones(n) ones(m)ᵀ / (m n) where W: matrix[m, n]",
    "d/dx (mean(W@x)) = ones(p)ᵀW/p where W: matrix[p, n]; x: vector[n]",
    "d/dx (sqrt((x - 2)^2)) = (x - 2)/sqrt((x - 2)^2)", "d2/dx2 (sqrt((x - 2)^2)^3) = 6sqrt((x - 2)^2)",
    "d/dx (max(x, 1e5)) = (x > 1e5)", "d/dx (abs(x^2 + 1)) = 2x", "d/dx (ln(x)) = 1/x",
    "d/dx (sqrt(x)) = 1/(2sqrt(x))", "d/dx (1e-10 * exp(x)) = 1e-10 exp(x)",
    "d/db (b * x[3]) = x[3] where x: vector",  # x has 3 elements at both sizes (it was a traceback)
    "d/dx (10^400 exp(-800) x) = 10^400 exp(-800)", "d/dx (x^2 + 10^-400 x) = 2x + 10^-400",
    "d/dx (10^400 exp(-800) sin(x)) = 10^400 exp(-800) cos(x)",
    # floats overflow (inf - inf) or cancel on the way: SymPy's digits at the exact point decide
    "d/dx (abs(x)) = sign(x) + exp(300) 10^200 (x + 1) - exp(300) 10^200 x - exp(300) 10^200",
    "d/dw (w · x) = x^T + 10^200 exp(300) (w + x)^T - 10^200 exp(300) w^T - 10^200 exp(300) x^T where w, x: vector",
    "d/dx (abs(x)) = sign(x) ((1 + exp(-40)) exp(40) - exp(40))",
    # SymPy simplifies the function as it builds it (exp(2ln(x)) is x²): where the function has
    # no value (x < 0), its derivative is no test of an answer
    "d/dx (exp(2 ln(x))) = 2 exp(2 ln(x))/x", "d/dx (exp(ln(x))) = exp(ln(x))/x",
    "d/dx (sqrt(x) sqrt(x)) = sqrt(x)/(2sqrt(x)) + sqrt(x)/(2sqrt(x))", "d/dx (ln(x)) = 1/abs(x)",
    # floats underflow to 0 on the way (0 to a negative power) where the value is -2e-142
    "d/dx (1/(1 + exp(-1/x)) + abs(x)) = ((3/x^2) exp(-3/x) (exp(-3/x) + exp(-4/x)) - exp(-3/x) ((3/x^2) "
    "exp(-3/x) + (4/x^2) exp(-4/x)))/(exp(-3/x) + exp(-4/x))^2 + sign(x)",
    "d/dx (exp(800) x^2 + abs(x)) = exp(800) 2x + sign(x)",  # every value beyond floating point
    # at the second sizes, differences round a small entry away beside a huge one
    "d/dx (sum(exp(800 x))) = 800 exp(800 x)^T where x: vector",
    "d/dW (sum(exp(800 W))) = 800 exp(800 W) where W: matrix[n,n] layout denominator",
])
def test_their_right_forms_pass(claim):
    result = check_claim(Claim("t.mcalc", 1, claim))
    assert result.status == "pass", (claim, result.message)


def test_a_kink_far_out_is_crossed_and_one_never_crossed_is_no_kink():
    """The line goes out to 10¹⁶ both ways: max(x, 1e12)'s kink is crossed; tanh(x) + 2
    keeps its sign (on two lines, then along x closely), so the answer holds (it went inconclusive)."""
    assert check_claim(Claim("t.mcalc", 1, "d/dx (max(x, 1e12)) = 0")).status == "fail"
    for claim in ("d/dx (max(tanh(x), -2)) = 1 - tanh(x)^2", "d/dx (abs(2 + sin(x))) = cos(x)"):
        result = check_claim(Claim("t.mcalc", 1, claim))
        assert result.status == "pass" and "kept one sign: taken as no kink" in result.message


@pytest.mark.parametrize("claim", ["d/dx (x^2) + 1 = 2x", "d/dx x^2 + 1 = 2x", "d/dx (x+1)(x-1) = 2x",
                                   "d2/dx2 (x^3) + x = 6x",
                                   r"\frac{\partial}{\partial x} \left(x^{2}\right) x = 3 x^{2}"])
def test_a_claim_that_does_not_say_how_far_the_derivative_reaches_is_refused(claim):
    result = check_claim(Claim("t.mcalc", 1, claim))
    assert result.status == "error" and "one pair of parentheses" in result.message


@pytest.mark.parametrize("claim", [
    # a bare I or 𝟏 takes its size from the Jacobian it is claimed as (it was always n)
    "d/dX (tr(X)) = I where X: matrix[k, k]", "d/dx (x) = I where x: vector[3]",
    "d/dx (sum(x)) = ones^T where x: vector[m]", "d/dx (sum(x)) = 𝟏ᵀ where x: vector[d]",
    "d/dx (2x) = 2I where x: vector[m]",
])
def test_a_bare_identity_or_ones_is_sized_by_the_jacobian(claim):
    result = check_claim(Claim("t.mcalc", 1, claim))
    assert result.status == "pass", result.message


@pytest.mark.parametrize("claim", [
    "d/dX (tr(X)) = I(n) where X: matrix[k, k]", "d/dx (sum(x)) = ones(n)^T where x: vector[m]",
    # a threshold a little off the kink: wrong on (0, 0.001], between the two
    "d/dx (max(x, y)) = (x > y + 0.01)", "d/dw (max(0, w·x + b)) = (w·x + b > 0.01) x^T where w, x: vector",
    "d/dx (max(x, 0)) = (x > 1e-3)", "d/dx (max(x, 2)) = (x > 2.001)", "d/dx (max(x, 0)) = (x > 1e-7)",
])
def test_a_size_named_otherwise_or_a_kink_a_little_off_fails(claim):
    result = check_claim(Claim("t.mcalc", 1, claim))
    assert result.status == "fail", result.message


@pytest.mark.parametrize("seed", range(12))
def test_a_kink_a_little_off_fails_whatever_the_points(seed):
    """Between two kinks 0.01 apart, along a line moving every coordinate, w·x + b is
    a parabola that may never reach them (one seed in forty passed the claim): lines
    that move one variable at a time cross them."""
    from mcalc import verify
    from mcalc.parser import parse_expr

    d = mcalc.diff("max(0, w·x + b)", wrt="w", vectors=["w", "x"])
    assert verify.compare(d, d.resolve(parse_expr("(w·x + b > 0.01) x^T")), seed=seed).status == "failed"
    assert verify.compare(d, d.resolve(parse_expr("(w·x + b > 0) x^T")), seed=seed).ok


@pytest.mark.parametrize("claim", [
    # mcalc's own derivative, cos(x)/sqrt(1 - sin(x)²), is |cos x|/cos x: it turns back at π/2,
    # beyond the sampled |x| ≤ 1.5, where no kink shows
    "d/dx (asin(sin(x))) = 1", "d/dx (acos(cos(x))) = sign(x)", "d/dx (sqrt(1 - sin(x)^2)) = -sin(x)",
    "d/dx (asin(sin(x)) + x^2) = 1 + 2x", "d/dx (sum(asin(sin(x)))) = ones(n)^T where x: vector",
    # SymPy's derivative is 0/0 for x < 0, where the function's is 0: the differences decide
    "d/dx (sqrt(max(0, x))) = 1/(2 sqrt(x))", "d/dx (sqrt(max(0, x))) = (x > 0)/(2 sqrt(abs(x))) + 7(x < 0)",
    "d/dx (max(0, x)^0.5) = 0.5/sqrt(x)",
    "d/dx (norm(relu(x)) + sum(x)) = (relu(x)/norm(relu(x)))^T + ones(2)^T + 4(x[1] < 0)(x[2] < 0) ones(2)^T "
    "where x: vector[2]",
])
def test_a_difference_beyond_the_sampled_points_or_where_sympy_has_no_value_fails(claim):
    result = check_claim(Claim("t.mcalc", 1, claim))
    assert result.status == "fail", result.message


@pytest.mark.parametrize("claim", [
    "d/dx (asin(sin(x))) = cos(x)/abs(cos(x))", "d/dx (asin(sin(x))) = sign(cos(x))",
    "d/dx (sqrt(max(0, x)^2 + 1)) = max(0, x)/sqrt(max(0, x)^2 + 1)",
    "d/dx (sqrt(max(0, x))) = (x > 0)/(2 sqrt(abs(x)))",  # 0 for x < 0, as the differences are
])
def test_the_same_functions_right_derivatives_pass(claim):
    result = check_claim(Claim("t.mcalc", 1, claim))
    assert result.status == "pass", result.message


@pytest.mark.parametrize("claim", [
    # wrong only in a piece several kinks bound together: each kink crossed on its own is not every piece
    "d/dx (max(0,x)^2 max(0,y) max(0,z)) = max(0,x) max(0,y) max(0,z)",
    "d/dx (relu(x) relu(y) relu(z)) = relu(y) relu(z)",
    "d/dx (x^2 y z) = 2x y z + (x > 0)(y > 0)(z > 0)",
    "d/dx (sum(x^2)) = 2x^T + (x[1] > 1)(x[2] > 1)(x[3] > 1) ones(n)^T where x: vector",
    "d/dx (max(x, y)) = (x > y)(x y < 30)", "d/dx (max(x, y)) = (x > y)(x > -50)",
    "d/dx (x^2 y) = 2x y + (x > 1)(x < 2)(y > 1)(y < 2)",
    # off by less than the default tolerance, in numbers no float rounding made: SymPy's digits decide
    "d/dx (x^3) = 3.000000001 x^2", "d/dx (sin(x)) = 1.000000001 cos(x)",
    "d/dx (sum(x^2)) = 2.000000001 x^T where x: vector",
    "d/dW (sum((W@x)^2)) = 2.000000001 x(W@x)^T where x: vector; W: matrix[n, n]",
    "d/dx (x^2) = 2x + (x > 1e10)", "d/dx (max(0,x)^2) = 2max(0,x)*1.0000000001",
    # a kink of |u| changes sign twice, closer together than a scan's steps
    "d/dx (x^2) = 2x + (abs(x - 7.77) < 1e-3)", "d/dx (x^2) = 2x + (abs(abs(x) - 7.77) < 1e-3)",
    # wrong only in a strip one variable's kinks bound, where another variable is on its other side
    "d/dx (relu(x - 3) * relu(y)) = (x > 3.1)*relu(y)", "d/dx (relu(x - 3) * relu(y)) = (x > 2.9)*relu(y)",
    "d/dx (max(0, x - 3) * max(0, y)) = (x > 3.01)*max(0, y)",
    "d/dx (relu(x) * relu(y)) = (x>0)*relu(y) + (x > 3)*(x < 3.001)*(y>0)",
    "d/dx (x^2*y) = 2*x*y + (x > 3)*(x < 3.1)*(y>0)",
    # |u| of a function that is no polynomial: each branch scanned, crossings found by bisection
    "d/dx (relu(abs(exp(x) - 3) - 0.001)) = exp(x)*sign(exp(x) - 3)",
    # an added constant hid the derivative: the floor in SymPy's digits followed the function's size
    "d/dx (1e40 + relu(x)) = 0", "d/dx (1e40 + relu(x)) = 5*(x > 0)", "d/dx (1e40*y + relu(x)) = 0",
    "d/dx (exp(100) + relu(x)*y) = 0", "d/dx (1e40 + x^2 + relu(x)) = 2*x",
    # pieces a line's grid steps over: a kink that turns twice within one step, split by the others' roots
    "d/dx (max(abs(x) + abs(x - 0.01), 0.0105)) = sign(x) + sign(x - 0.01)",
    "d/dx (max(relu(x - 3) + relu(3.01 - x), 0.0105)) = (x > 3) - (x < 3.01)",
    # an entry 10¹⁸ times smaller than the largest was anything: the floats' floor followed the largest
    "d/dx (1e20*x[1] + relu(x[2])) = [1e20, 0]^T where x: vector[2]",
    "d/dx (1e40*x[1] + relu(x[2])) = [1e40, 0]^T where x: vector[2]",
    "d/dx,y (exp(x + 50) + abs(y)) = [exp(x + 50), -sign(y)]^T",
    "d/dx,y (exp(x + 50) + y^2) = [exp(x + 50), -2y]^T",
    "d2/dx2 (exp(x[1] + 50) + abs(x[2])^3) = [[exp(x[1] + 50), 7], [7, -6 abs(x[2])]] where x: vector[2]",
    "d/dx (1e14*exp(x[1]) + x[2]) = [1e14 exp(x[1]), 0]^T where x: vector[2] tolerance 1e-3",
    "d/dx,y (1e14*exp(x) + y) = [1e14 exp(x), 2]^T tolerance 1e-6",
    # a 𝟏 read as 1×1 where it has the size n: xᵀ𝟏𝟏ᵀx is sum(x)², not ‖x‖²
    "d/dt (t * x^T x) = x^T ones ones^T x where x: vector", "d/dt (t * sum(x)) = sum(x) / (ones^T ones) where x: vector",
    "d/dx (x) = ones^T ones",
])
def test_a_difference_only_a_closer_look_sees_fails(claim):
    result = check_claim(Claim("t.mcalc", 1, claim))
    assert result.status == "fail", result.message


@pytest.mark.parametrize("claim", [
    "d/dx (max(0,x)^2 max(0,y) max(0,z)) = 2max(0,x) max(0,y) max(0,z)",
    "d/dx (relu(x) relu(y) relu(z)) = (x > 0) relu(y) relu(z)", "d/dx (max(x, y)) = (x > y)",
    "d/dx (x^3) = 3.000000001 x^2 tolerance 1e-8",  # asked for: the tolerance is the user's
    "d/dx (x^2/8) = 0.25x", "d/dx (abs(x - 7.77)) = sign(x - 7.77)",
    "d/dx (relu(x - 3) * relu(y)) = (x > 3)*relu(y)",
    "d/dx (relu(abs(exp(x) - 3) - 0.001)) = exp(x)*sign(exp(x) - 3)*(abs(exp(x) - 3) > 0.001)",
    # SymPy's 30 digits of 1 - 1/(1 + e⁻⁵⁶⁶) came out as 0.e-165, no digit: taken as 1.1e-165, it failed
    "d/dx (ln(1 + exp(x)) + relu(x + 500) + relu(-x - 700)) = 1 - 1/(1 + exp(x)) + (x > -500) - (x < -700)",
    "d/dx (ln(1 + exp(x)) + relu(x + 500) + relu(-x - 700)) = 1 - sigmoid(-x) + (x > -500) - (x < -700)",
    "d/dx (1e40 + relu(x)) = (x > 0)", "d/dz (1e300*sum(softmax(z))) = zeros(1,n) where z: vector",
    "d/dx (exp(500)*(sigmoid(x) + sigmoid(-x)) + relu(x)) = (x > 0)",
    "d/dx (max(abs(x) + abs(x - 0.01), 0.0105)) = (sign(x) + sign(x - 0.01))*(abs(x) + abs(x - 0.01) > 0.0105)",
    # SymPy's 30 digits of the reference had none (0.e-163) beside a claim with them (2.1e-195)
    "d/dy (x^2 + 2*sigmoid(600*y) + relu(x)) = 300*(1 - tanh(300*y)^2)",
    "d/dy (x^2 + tanh(300*y) + relu(x)) = 1200*sigmoid(600*y)*sigmoid(-600*y)",
    "d2/dy2 (x^2 + tanh(300*y) + relu(x)) = -720000*tanh(300*y)*sigmoid(600*y)*sigmoid(-600*y)",
    "d/dx (1e40 + x*(1 - 1/(1 + exp(-566))) + relu(y)) = exp(-566)/(1 + exp(-566))",
    "d/dx (1e40*x[1] + relu(x[2])) = [1e40, x[2] > 0]^T where x: vector[2]",
    "d/dx,y (exp(x + 50) + abs(y)) = [exp(x + 50), sign(y)]^T",
    "d2/dx2 (exp(x[1] + 50) + abs(x[2])^3) = [[exp(x[1] + 50), 0], [0, 6 abs(x[2])]] where x: vector[2]",
    # entries that are 0 beside large ones, in floats not quite: SymPy's digits settle them
    "d/dx,y (exp(x + 50) + y*(sigmoid(3) + sigmoid(-3) - 1) + relu(x)) = [exp(x + 50) + (x > 0), 0]^T",
    "d/dz (100*sum(softmax(z)) + 1e6*relu(z[1])) = [1e6*(z[1] > 0), 0, 0]^T where z: vector[3]",
    # a bare I for a 1×1 Jacobian is I(1); a 𝟏 that meets a vector takes its size
    "d/dx (x) = I where x: vector[1]", "d2/dx2 (norm(x)^2) = 2I where x: vector[1]",
    "d/dt (t sum(x)) = ones^T x where x: vector", "d/dt (t sum(x)) = x^T ones where x: vector[3]",
    "d/dx (2x) = ones^T + I ones",  # no 1×1 answer as written: each unsized one is 1×1
    # as written where that is 1×1: 𝟏ᵀ𝟏 is n, as in the function
    "d/dt (t * ones^T ones) = ones^T ones", "d/dt (t * tr(I)) = tr(I)",
    "d/dt (t * sum(x)^2) = x^T ones ones^T x where x: vector", "d2/dt2 (t^2 * ones^T ones) = 2 ones^T ones",
    "d/dx (exp(x[1] + 50)*relu(x[2]) + x[3]*(sin(2)^2 + cos(2)^2 - 1)) = "
    "[exp(x[1] + 50)*relu(x[2]), exp(x[1] + 50)*(x[2] > 0), 0]^T where x: vector[3]",
])
def test_the_same_claims_right_or_within_an_asked_tolerance_pass(claim):
    result = check_claim(Claim("t.mcalc", 1, claim))
    assert result.status == "pass", result.message


def test_mcalcs_own_derivative_without_a_value_where_the_function_has_one_fails_its_verification():
    """√max(0, x): the chain rule gives (x > 0)/(2√(x(x > 0))), 0/0 for x < 0, where the
    derivative is 0: --verify says so, rather than passing on the side it can evaluate."""
    verdict = mcalc.diff("sqrt(max(0, x))", wrt="x").verify()
    assert verdict.status == "failed" and "no value" in verdict.reason and verdict.at["x"] < 0


@pytest.mark.parametrize("tex, function", [
    (r"\|\mathbf{X}\|_{\mathrm{F}}^{2}", "norm(X)^2"), (r"\|\mathbf{X}\|_{\rm F}", "norm(X)"),
    (r"\left\| \mathbf{X} \right\|_{\text{F}}", "norm(X)"), (r"\|\mathbf{X}\|_\mathrm{F}", "norm(X)"),
    (r"\lVert\mathbf{X}\rVert_{\mathrm{F}}^2", "norm(X)^2"), (r"\|\mathbf{X}\|_{2}", "‖X‖₂"),
])
def test_a_frobenius_norm_reads_in_the_ways_papers_write_it(tex, function):
    from mcalc.parser import parse_expr

    assert parse_expr(tex) == parse_expr(function)


@pytest.mark.parametrize("text", [r"\|x\|_1", r"\|x\|_{1}", "‖x‖_1", r"\|x\|_{\infty}", "‖X‖_*"])
def test_a_norm_mcalc_does_not_know_is_refused_not_read_as_a_product(text):
    with pytest.raises(mcalc.McalcError):
        mcalc.diff(text, wrt="x")


def test_an_error_in_an_equation_of_several_lines_points_into_the_file(tmp_path):
    """Reported at the line of \\begin{equation} and the column within the joined claim
    (p.tex:2:42 for an @ at 3:44): GitHub annotations went on the wrong line."""
    tex = tmp_path / "p.tex"
    tex.write_text("%% mcalc:\n\\begin{equation}\n  \\frac{\\partial}{\\partial x} \\left( x^2 + @ \\right) = 2x\n"
                   "\\end{equation}\n\n% mcalc:\n\\[ \\frac{\\partial}{\\partial x} \\left( x^2 + @ \\right) = 2x \\]\n")
    md = tmp_path / "p.md"
    md.write_text("<!-- mcalc: -->\n$$\n\\frac{\\partial}{\\partial x} \\left( x^2 + @ \\right) = 2x\n$$\n\n"
                  "<!-- mcalc: -->\n$$ \\frac{\\partial}{\\partial x} \\left( x^2 + @ \\right) = 2x $$\n")
    for path in (tex, md):
        results = [check_claim(c) for c in find_claims(str(path), path.read_text())]
        lines = path.read_text().split("\n")
        for r in results:
            line, column = r.place()
            assert r.status == "error" and lines[line - 1][column - 1] == "@", (path.name, line, column)


@pytest.mark.parametrize("claim,right", [
    # a kink whose two sign changes lie closer than the line's steps: its roots, exactly
    ("d/dx (max(0, 0.01 - (x-5)^2)) = 0", "-2(x-5)((x-5)^2 < 0.01)"),
    ("d/dx (x*((x-5)^2 < 0.01)) = 0", "((x-5)^2 < 0.01)"),
    ("d/dx (max(x^2, 0.01)) = 2x", "2x (x^2 > 0.01)"),
    ("d/dx (abs(sqrt(x) - 0.3)) = 1/(2sqrt(x))", "sign(sqrt(x) - 0.3)/(2sqrt(x))"),  # a scan, from where x ≥ 0
    # two points a piece: at the middle of (-0.5, 0.5) the two agree
    ("d/dx (abs(x^2 - 0.25)) = 2x", "2x sign(x^2 - 0.25)"),
])
def test_a_narrow_piece_is_found(claim, right):
    """Taken as no kink once two lines did not cross them (found by an independent test)."""
    _fails_where_the_right_answer_passes(claim, right)


def test_a_tolerance_asked_for_is_kept_where_sympy_shows_a_difference():
    """0.333333 for the derivative of x/3 is never exactly right; with tolerance 1e-3 it
    passes (the rule that a difference SymPy shows fails however small overrode it)."""
    assert check_claim(Claim("t.mcalc", 1, "d/dx (x/3) = 0.333333 tolerance 1e-3")).status == "pass"
    assert check_claim(Claim("t.mcalc", 1, "d/dx (x/3) = 0.333333")).status == "fail"


def test_an_error_in_the_annotations_options_points_at_the_annotation(tmp_path):
    tex = tmp_path / "q.tex"
    tex.write_text("% mcalc: where w: vector; x: vectr\n"
                   "\\[ \\frac{\\partial}{\\partial \\mathbf{w}} (\\mathbf{w} \\cdot \\mathbf{x}) = \\mathbf{x}^{T} \\]\n")
    (r,) = [check_claim(c) for c in find_claims(str(tex), tex.read_text())]
    assert r.status == "error" and r.place() == (1, tex.read_text().index("vectr") + 1)


def test_a_claim_in_a_block_quote(tmp_path):
    md = tmp_path / "q.md"
    md.write_text("> <!-- mcalc: -->\n> $$\n> \\frac{\\partial}{\\partial \\mathbf{w}} \\left( \\mathbf{w} \\cdot "
                  "\\mathbf{x} \\right) = \\mathbf{x}^{T}\n> $$\n")
    (r,) = [check_claim(c) for c in find_claims(str(md), md.read_text())]
    assert r.status == "pass", r.message


# -- the verification's own differentiation ---------------------------------------------
MATRIX_FILE_CASES = tomllib.loads((ROOT / "tests" / "data" / "matrix.toml").read_text())["case"]


@pytest.mark.parametrize("case", CASES + MATRIX_FILE_CASES, ids=IDS + [c["id"] for c in MATRIX_FILE_CASES])
def test_verification_differentiates_as_sympy_does(case):
    """verify.derivative (the sum, product and power rules over SymPy's tree, each
    function's own derivative) forms SymPy's diff, equal as SymPy's expansion shows,
    on every case's instantiated function and every component (for a Hessian's
    case, the second partials too)."""
    import sympy as sp

    from mcalc.verify import SIZES, _Instance, derivative

    d = derive(case)
    sizes = dict(SIZES)
    for shape in d.variables().values():
        for dim in (shape.rows, shape.cols):
            if isinstance(dim, str):
                sizes.setdefault(dim, 3 + len(sizes))
    inst = _Instance(sp, d.variables(), lambda node: node.dim if node.dim is not None else "n", sizes)
    components = inst(d.function_expr()).vec()
    columns = [s for name in d.wrt for s in inst.symbols[name].vec()] if all(
        name in inst.symbols for name in d.wrt) else [sp.Symbol(w, real=True) for w in d.wrt]
    for f in components:
        for s in columns:
            first = derivative(sp, f, s)
            assert _same(sp, first, sp.diff(f, s)), (f, s)
            if case.get("kind") == "hessian":
                for t in columns:
                    assert _same(sp, derivative(sp, first, t), sp.diff(first, t)), (first, t)


def _same(sp, a, b) -> bool:
    """The same expression, or one whose difference SymPy expands to 0 (2a/4 for a/2;
    cos(u) as it stands for cos(u) as SymPy makes it)."""
    return a == b or sp.expand(a - b) == 0


def test_verification_differentiates_functions_as_sympy_does():
    import sympy as sp

    from mcalc.verify import derivative

    x, y, z = sp.symbols("x y z", real=True)
    exprs = [sp.exp(x * y) * sp.sin(x ** 2), sp.log(x ** 2 + 1) ** 3, sp.tanh(sp.Max(0, x * y + z, evaluate=False)) ** 2,
             sp.sqrt(x ** 2 + y ** 2), x ** x, sp.Abs(x - y) * x, sp.sign(x) * x ** 3,
             sp.Piecewise((x ** 2, x > 0), (x, True)), sp.atan(x / y), sp.asinh(x) * sp.acos(x / 3),
             sp.Min(x, y ** 2, evaluate=False), 1 / (1 + sp.exp(-x * y)), (x * y + 1) ** sp.Rational(3, 2),
             sp.cos(sp.tan(x)) ** -2, 2 ** x, sp.E ** (x * z), sp.Max(x, y, z), sp.Heaviside(x) * x,
             sp.atanh(x / 4) + sp.acosh(x + 3), sp.Max(0, x, evaluate=False) ** 2 * sp.Max(0, x, evaluate=False),
             sp.sinh(x * y) * sp.cosh(x - z), sp.log(1 + sp.exp(x * y - z))]
    for e in exprs:
        for s in (x, y, z):
            assert _same(sp, derivative(sp, e, s), sp.diff(e, s)), (e, s)


@pytest.mark.parametrize("claim, status", [
    ("d/dx (max(ln(exp(x)), x)) = 1", "pass"),
    ("d/dx (max(sin(x + 2*π), sin(x))) = cos(x)", "pass"),
    ("d/dx (max(cos(-x), cos(x))) = -sin(x)", "pass"),
    ("d/dx (max(exp(ln(x)), x)) = 1", "pass"),
    ("d/dx (max(sinh(asinh(x)), x)) = 2", "fail"),
    ("d/dx (min(sin(-x), -sin(x))) = cos(x)", "fail"),
    ("d/dx (sum(max(tanh(-x), -tanh(x)))) = (1 - tanh(x)^2)^T where x: vector", "fail"),
    ("d/dx (relu(sin(-x) + sin(x)) + x) = 1", "pass"),
    ("d/dx (abs(cos(-x) - cos(x)) + x) = 1", "pass"),
    ("d/dx (x * (ln(exp(x)) > x)) = 0", "pass"),
    ("d/dx (x * (cos(-x) >= cos(x))) = 1", "pass"),
    ("d/dy (y * (ln(exp(1e8*x)) >= 1e8*x)) = 1", "pass"),
    ("d/dx (max(mean(x*ones(n)), x)) = 1", "pass"),
    ("d/dx (max(mean(x), sum(x)/n)) = ones(n)^T/n where x: vector", "pass"),
    ("d/dy (y*(mean(x) > sum(x)/n)) = 1 where x: vector", "fail"),
    ("d/dx (max(cos(-x) - cos(x) + y^2 + 1, 0)*x) = y^2 + 1", "pass"),
])
def test_a_kink_that_is_none_is_known_though_functions_are_made_as_they_stand(claim, status):
    """Functions of a variable are instantiated as they stand (and a mean as 1/n times
    the sum): where a kink's argument is constant once SymPy rewrites them
    (ln(exp(x)) - x, cos(-x) - cos(x), mean(x) - sum(x)/n), it is no kink, and the
    claim is decided, not left inconclusive with no point away from it."""
    (claim_,) = find_claims("c.mcalc", claim + "\n")
    r = check_claim(claim_)
    assert r.status == status, r.message


def test_whether_a_kink_holds_a_function_as_it_stands_is_asked_once_a_subtree():
    """A network's kinks share every layer below them: 60 levels of u ↦ u·y + u hold
    2⁶⁰ paths and a few hundred distinct subtrees, which the question walks, and the
    kink is made again as SymPy makes it over those (a walk of the paths, as SymPy's
    doit and free_symbols take, would never end); a tanh at the bottom is found through
    all of them; whether the kink is a constant, and whether a symbol occurs in it, are
    asked alike."""
    import sympy as sp

    from mcalc.verify import SIZES, _constant, _holds, _Instance, _takes_every_value

    x, y = sp.symbols("x y", real=True)
    inst = _Instance(sp, {}, lambda node: "n", dict(SIZES))
    for bottom, holds in ((x, False), (sp.tanh(x + y, evaluate=False), True)):
        u = bottom
        for _ in range(60):
            u = u * y + u
        kink = u - x
        assert not _constant(kink) and _holds(kink, y) and not _holds(kink, sp.Symbol("z", real=True))
        assert _takes_every_value(kink + sp.Symbol("b", real=True))
        assert inst._as_it_stands(kink) is holds
        made = inst.settled(kink)
        assert made is not kink if holds else made is kink  # (not compared: == walks every path)


def test_a_kink_and_its_negation_are_one_kink_though_made_as_they_stand():
    """sin(-x) is -sin(x) to SymPy: the function's kink and the answer's are one, so the
    points are as few as where SymPy's rewriting made them one."""
    (claim,) = find_claims("c.mcalc", "d/dx (relu(sin(-x))) = -cos(x)*(sin(x) < 0)\n")
    r = check_claim(claim)
    assert r.status == "pass" and r.verdict["points"] <= 12, r.message


def test_a_kink_that_takes_every_value_is_two_signed_without_asking_sympy():
    """A kink c·s + (terms without s), s a real symbol of either sign, takes every value;
    SymPy's assumptions, which the check then does not ask, never say otherwise."""
    import sympy as sp

    from mcalc.verify import _takes_every_value

    x, y, b = sp.symbols("x y b", real=True)
    p = sp.Symbol("p", positive=True)
    changes = [x * y + b, -x, 3 * x - sp.exp(y), x + y, sp.Max(0, x, evaluate=False) - b, -2 * b - x * y,
               -sp.Symbol("X[0,0]", real=True) * sp.Symbol("w[0]", real=True) - b]
    for k in changes:
        assert _takes_every_value(k), k
        assert not (k.is_positive or k.is_negative or k.is_nonnegative or k.is_nonpositive), k
    for k in (x ** 2 + 1, x * y, sp.exp(x), x - x ** 3, p + 1, p - x ** 2, sp.Integer(3), x + x * y, 0 * x):
        assert not _takes_every_value(k), k


@pytest.mark.parametrize("expr, total", [
    ("sum(tanh(W@x + b)) + max(0, x · x) * exp(sin(sum(x)))", True),
    ("mean((y - max(0, X@w + b))^2)", True),
    ("sigmoid(w · x) + relu(sum(x))^3 - abs(sum(w ⊗ x)) + cosh(sum(x))", True),
    ("ln(sum(x*x))", False), ("sum(x)/sum(w)", False), ("sqrt(sum(x))", False), ("sum(x)^(-1)", False),
    ("asin(sum(x))", False), ("sum(inv(W)@x)", False), ("sum(x)^0.5", False), ("acosh(sum(x))", False),
])
def test_a_function_defined_everywhere_needs_no_check_of_its_domain(expr, total):
    """Where _defined_everywhere says the function has a value at every point, mcalc's
    evaluator finds one at every point tried (0 and points near it among them); where it
    does not, there are points without one: the per-point check it saves is needed there."""
    import random

    import sympy as sp

    from mcalc.verify import SIZES, _defined, _defined_everywhere, _Instance, _point

    d = mcalc.diff(expr, wrt="x", vectors=["x", "w", "b", "y:N"], matrices=["W:n,n", "X:N,n"])
    f = d.function_expr()
    assert _defined_everywhere(f) is total
    inst = _Instance(sp, d.variables(), lambda node: node.dim if node.dim is not None else "n", dict(SIZES))
    rng = random.Random(3)
    points = [{s: 0.0 for m in inst.symbols.values() for s in m}, *(_point(rng, inst, i, 0) for i in range(40))]
    points += [{s: v * scale for s, v in p.items()} for p in points[1:] for scale in (1e-3, -1.0, 100.0)]
    found = [_defined(inst, f, p) for p in points]
    assert all(found) if total else not all(found)


def test_verification_evaluates_each_shared_subtree_once_a_point():
    """SymPy shares subtrees: 40 levels of u ↦ sin(u)·u + u/2 hold 3⁴⁰ paths, 160 nodes; the
    float evaluation follows the nodes (and the compiled form of one entry is the
    other's, a point at a time)."""
    import math

    import sympy as sp

    from mcalc.verify import _Values

    x = sp.Symbol("x", real=True)
    u, v = x, 0.3
    for _ in range(40):
        u, v = sp.sin(u) * u + u / 2, math.sin(v) * v + v / 2
    values = _Values(sp, [u, 2 * u])
    assert values.all({x: 0.3}) == pytest.approx([v, 2 * v], rel=1e-12)
    assert values(0, {x: 0.1}) != values(0, {x: 0.3})  # a new point is evaluated anew


def test_an_expression_over_the_node_bound_is_over_the_operation_bound():
    """The symbolic route is skipped by counting nodes no further than NODES_PER_OP times
    the operation bound: that must decide as SymPy's count_ops would."""
    import random

    import sympy as sp

    from mcalc.verify import MAX_SYMBOLIC_OPS, NODES_PER_OP, _nodes_over

    x, y, z = sp.symbols("x y z", real=True)
    rng = random.Random(5)
    atoms = [x, y, z, sp.Integer(2), sp.Rational(1, 3), sp.Integer(-1)]

    def random_expr(depth):
        if depth == 0 or rng.random() < 0.2:
            return rng.choice(atoms)
        a, b = random_expr(depth - 1), random_expr(depth - 1)
        return rng.choice([a + b, a * b, a / b if b != 0 else a, a ** 2, sp.sin(a), sp.exp(-a), 1 / (1 + a * a), a - b,
                           sp.Max(a, b), sp.tanh(a) / b if b != 0 else a])

    for _ in range(150):
        e = random_expr(rng.randrange(1, 6))
        nodes = sum(1 for _ in sp.preorder_traversal(e))
        assert nodes <= NODES_PER_OP * max(1, sp.count_ops(e)) or nodes == 1, e
        assert _nodes_over(sp, e, nodes) is False and _nodes_over(sp, e, nodes - 1) is True
        if _nodes_over(sp, e, NODES_PER_OP * MAX_SYMBOLIC_OPS):
            assert sp.count_ops(e) > MAX_SYMBOLIC_OPS


def test_verification_takes_tanh_of_a_real_as_finite_without_expanding():
    """SymPy's tanh asks whether it is finite by splitting its argument into real and
    imaginary parts; verification's tanh answers for a real argument first, and its
    derivative is in the same tanh (so the reference and the answer meet)."""
    import sympy as sp

    from mcalc.real_functions import tanh
    from mcalc.verify import derivative

    x, y = sp.Symbol("x", real=True), sp.Symbol("y")
    assert tanh(x).is_finite is True and tanh(x ** 2 + 3 * x).is_finite is True
    assert tanh(y).is_finite is None  # not known real: SymPy's own answer
    assert tanh(x).fdiff() == 1 - tanh(x) ** 2 and type(tanh(x).fdiff().args[1].args[1].args[0]) is tanh
    assert derivative(sp, tanh(x ** 2), x) == sp.diff(tanh(x ** 2), x)
    assert tanh(-x) == -tanh(x) and type(tanh(-x).args[1]) is tanh  # SymPy's own evaluation, in this class
    assert float(tanh(sp.Rational(1, 2))) == pytest.approx(0.46211715726000974)


def test_the_first_claim_of_a_process_has_the_same_budget_as_the_others(monkeypatch):
    """Loading SymPy and warming verification happen before a claim's budget starts:
    a claim near its budget got another verdict as it came first in a process or not."""
    from mcalc import limits, verify

    seen = []
    monkeypatch.setattr(verify, "_WARM", [])
    real = verify.warm_up
    monkeypatch.setattr(verify, "warm_up", lambda: (seen.append(list(limits._ACTIVE.limits)), real()))
    assert check_claim(Claim("t.mcalc", 1, "d/dx (x^2) = 2x")).status == "pass"
    assert seen and seen[0] == [], seen  # no budget was running
    assert verify._WARM  # and the next claims find it done


def test_a_failure_beyond_floating_point_shows_its_values_and_is_valid_json():
    """Values beyond floating point are shown in SymPy's digits, as text: JSON has no
    infinity, and "expected inf, got inf" tells the reader nothing."""
    result = check_claim(Claim("t.mcalc", 1, "d/dx (exp(4000x^2)) = 8001x exp(4000x^2)"))
    assert result.status == "fail"
    assert result.verdict["expected"] == [["8.48817e+3143"]] and result.verdict["got"] == [["8.48923e+3143"]]
    assert "expected 8.48817e+3143, got 8.48923e+3143" in result.verdict["summary"]
    json.loads(json.dumps(result.verdict), parse_constant=lambda c: pytest.fail(f"not JSON: {c}"))


@pytest.mark.parametrize("claim", ["d/dx (x*y) = y layout denominator layout numerator",
                                   "d/dx (x^2) = 2.0001x tolerance 1e-9 tolerance 1e-3"])
def test_an_option_given_twice_is_an_error_not_the_last_one_silently(claim):
    result = check_claim(Claim("t.mcalc", 1, claim))
    assert result.status == "error" and "given twice" in result.message


def test_an_answer_with_i_n_is_refused_at_the_name_with_the_identitys_spelling():
    """I_n is a name (I_k may be a variable's); the identity of size n is I_{n}, or I."""
    result = check_claim(Claim("t.mcalc", 1, "d/dx (x) = I_n where x: vector"))
    assert result.status == "error" and "I_{n}" in result.message and result.column == 12


@pytest.mark.parametrize("claim", [
    "d/dX (X@x) = kron(x^T, I) where X: matrix[m,n]; x: vector[n]",
    "d/dX (x'@X) = kron(I, x^T) where X: matrix[m,k]; x: vector[m]",
    "d/dX (A@X) = kron(I, A) where X: matrix[n,k]; A: matrix[m,n]",
    "d/dX (X@B) = kron(B^T, I) where X: matrix[m,n]; B: matrix[n,k]",
    "d/dX (X@x) = kron(x, I) where X: matrix[m,n]; x: vector[n] layout denominator",
])
def test_a_bare_identity_in_kron_is_sized_by_the_jacobian(claim):
    """kron(xᵀ, I) met m × mn: I is m×m (it was taken as n×n, and right claims failed)."""
    result = check_claim(Claim("t.mcalc", 1, claim))
    assert result.status == "pass", result.message


def test_a_bare_identity_in_kron_on_the_wrong_side_still_fails():
    result = check_claim(Claim("t.mcalc", 1, "d/dX (X@x) = kron(I, x^T) where X: matrix[m,n]; x: vector[n]"))
    assert result.status == "fail", result.message


@pytest.mark.parametrize("claim", [
    # right at the first sizes (N = 4 = n + 1) and, before, at the second too (N = 3 = n + 1)
    "d/dw (sum((X@w - y)^2)/(N-1)) = 2(X@w - y)^T X/n where X: matrix[N, n]; w: vector[n]; y: vector[N]",
    "d/dw (mean((X@w - y)^2)) = 2(X@w - y)^T X/(n+1) where X: matrix[N, n]; w: vector[n]; y: vector[N]",
    "d/dx (sum(x) * k) = (m + n) * ones(n)^T where x: vector[n]; z: vector[k]; u: vector[m]",
])
def test_a_claim_right_only_where_two_sizes_are_related_fails(claim):
    result = check_claim(Claim("t.mcalc", 1, claim))
    assert result.status == "fail", result.message


@pytest.mark.parametrize("claim", [
    "d/dx (1e-12*x^2) = 0", "d/dx (6.674e-11*x^2/2) = 2*6.674e-11*x", "d/dx (1e-10*x^3) = 0",
    "d/dw (1e-10 * sum(w^2)) = 1e-10 * w^T where w: vector",
])
def test_a_tiny_derivative_is_compared_relatively(claim):
    """Over 1 + |w|, an error in a derivative of 10⁻¹² was 10⁻¹² 'relative': the claims passed."""
    result = check_claim(Claim("t.mcalc", 1, claim))
    assert result.status == "fail", result.message


@pytest.mark.parametrize("claim", [
    "d/dx (6.674e-11*x^2/2) = 6.674e-11*x", "d/dw (1e-10 * sum(w^2)) = 2e-10 * w^T where w: vector",
    # 0, give or take rounding, of a function that is 1: still agreement
    "d/dz (sum(softmax(z))) = zeros(1, n) where z: vector",
])
def test_tiny_and_zero_derivatives_that_are_right_pass(claim):
    result = check_claim(Claim("t.mcalc", 1, claim))
    assert result.status == "pass", result.message


@pytest.mark.parametrize("claim, status", [
    ("d/dx (ln(x - 10) + relu(x - 12)) = 1/(x - 10) + (x > 12)", "pass"),
    ("d/dx (ln(x - 10) + relu(x - 12)) = 5/(x - 10)", "fail"),
    ("d/dx (sqrt(x - 5) * abs(x - 7)) = abs(x-7)/(2sqrt(x-5)) + sqrt(x-5)*sign(x-7)", "pass"),
    ("d/dx (ln(0.01 - x^2)) = -3x/(0.01 - x^2)", "fail"),
    ("d/dx (sqrt(1e-6 - x^2)) = -2x/sqrt(1e-6 - x^2)", "fail"),
    ("d/dx (ln(x - 10) * exp(sin(x))) = exp(sin(x))/(x-10) + ln(x-10)*cos(x)*exp(sin(x)) + 1e-3*sin(x)", "fail"),
])
def test_a_function_with_values_only_far_from_or_near_0_is_checked_where_it_has_them(claim, status):
    """Every point |x| 0.5 to 1.5 outside the domain: the claims were inconclusive, 'no point away
    from the kinks' (there was none to be away from): the points move nearer 0 and farther out."""
    result = check_claim(Claim("t.mcalc", 1, claim))
    assert result.status == status, result.message


@pytest.mark.parametrize("claim", ["d/dx (1e15 + x^2) = 2.1*x", "d/dx (1e12 + x^2) = 2*x + 1e-3*sin(x)^2",
                                   "d/dX (tr(X^{−1})) = −(I ⊘ X^2)^T where X: matrix[n, n]"])
def test_a_large_function_or_a_typeset_minus_does_not_loosen_the_check(claim):
    result = check_claim(Claim("t.mcalc", 1, claim))
    assert result.status == "fail", result.message


@pytest.mark.parametrize("claim", ["d/dx (1e-30 * x^2) = 0", "d/dx (1e-30 * x^2) = 3e-30 x",
                                   "d/dw (1e-30 * sum(w*w)) = 4e-30 w^T where w: vector"])
def test_a_derivative_far_below_1e20_is_still_compared_relatively(claim):
    """In SymPy's digits the floor was 10⁻²⁰ at least: every claim of 1e-30x passed."""
    result = check_claim(Claim("t.mcalc", 1, claim))
    assert result.status == "fail", result.message


@pytest.mark.parametrize("claim, status", [
    # below floating point (exp(-800) is 0.0 in floats): both sides were 0.0 at every point, and passed
    ("d/dx (exp(-800)*x^2) = 4*exp(-800)*x", "fail"), ("d/dx (exp(-800)*relu(x)) = 2*exp(-800)*(x > 0)", "fail"),
    ("d/dx (exp(-800)*sin(x)) = 2*exp(-800)*cos(x)", "fail"), ("d/dx (exp(-x^2 - 800)) = -4*x*exp(-x^2 - 800)", "fail"),
    ("d/dx (exp(-400)*exp(-400)*x^2) = 4*exp(-800)*x", "fail"),
    ("d/dw (exp(-800)*sum(w*w)) = 4*exp(-800)*w^T where w: vector", "fail"),
    ("d/dx (exp(-800)*relu(x)) = exp(-800)*(x > 0)", "pass"), ("d/dx (exp(-800)*sin(x)) = exp(-800)*cos(x)", "pass"),
    ("d/dx (exp(-400)*exp(-400)*x^2) = 2*exp(-800)*x", "pass"),
    ("d/dw (exp(-800)*sum(w*w)) = 2*exp(-800)*w^T where w: vector", "pass"),
    # masks off at the first points: a point of each kink pattern too
    ("d/dx (exp(-800)*relu(x - 2)) = 2*exp(-800)*(x > 2)", "fail"), ("d/dx (exp(-800)*relu(x - 2)) = exp(-800)*(x > 2)", "pass"),
    ("d/dx (exp(-800)*relu(-x)) = -2*exp(-800)*(x < 0)", "fail"),
    ("d/dx (exp(-800)*x^2*(y > 0)) = 4*exp(-800)*x*(y > 0)", "fail"),
    ("d/dw (exp(-800)*sum(relu(X@w - 2))) = 2*exp(-800)*(X@w - 2 > 0)^T@X where X: matrix[N,n]; w: vector[n]", "fail"),
    ("d/dw (exp(-800)*sum(relu(X@w - 2))) = exp(-800)*(X@w - 2 > 0)^T@X where X: matrix[N,n]; w: vector[n]", "pass"),
    ("d2/dx2 (exp(-800)*relu(-x)^3) = 12*exp(-800)*relu(-x)", "fail"),
    ("d2/dx2 (exp(-800)*relu(-x)^3) = 6*exp(-800)*relu(-x)", "pass"),
    # a side whose digits cancel even at SymPy's greatest precision decides nothing: right (the first
    # two) or wrong, inconclusive (a first version failed the right ones, a second passed the wrong)
    ("d/dx (sigmoid(x + 20000)*(y < 0)) = sigmoid(x + 20000)*(1 - sigmoid(x + 20000))*(y < 0)", "inconclusive"),
    ("d/dx (exp(-20000)*x^2*(y < 0)) = 2*x*(1 - 1/(1 + exp(-20000)))*(1 + exp(-20000))*(y < 0)", "inconclusive"),
    ("d/dx (sigmoid(x + 20000)*(y < 0)) = 2*sigmoid(x + 20000)*(1 - sigmoid(x + 20000))*(y < 0)", "inconclusive"),
    ("d/dx (sigmoid(x + 20000)*(y < 0)) = sigmoid(x + 20000)*(1 - sigmoid(x + 20000))", "inconclusive"),
    # every entry of a small Jacobian, and a point of each kink pattern
    ("d/dx (exp(-800)*[x^2, x^2, x^2, x^2, x^2, x^2, x^2]*(x > 0)) = exp(-800)*[2x, 2x, 2x, 4x, 2x, 2x, 2x]*(x > 0)",
     "fail"),
    ("d/dx (exp(-800)*[x^2, x^2, x^2, x^2, x^2, x^2, x^2]*(x > 0)) = exp(-800)*[2x, 2x, 2x, 2x, 2x, 2x, 2x]*(x > 0)",
     "pass"),
    ("d/dx (exp(-800)*x^2*(x > 2)*(y > 2)*(z > 2)) = 4*exp(-800)*x*(x > 2)*(y > 2)*(z > 2)", "fail"),
    ("d/dx (exp(-800)*x^2*(x > 2)*(y > 2)*(z > 2)) = 2*exp(-800)*x*(x > 2)*(y > 2)*(z > 2)", "pass"),
    # a claim that differs in one piece only: each piece compared (it stopped at the first with digits)
    ("d/dx (exp(-800)*x^2) = 2*exp(-800)*x + exp(-800)*(x < -1)", "fail"),
    ("d/dx (exp(-800)*x^2*y) = 2*exp(-800)*x*y*(1 + (y > 1))", "fail"),
    # no digit on either side in one piece (SymPy's own tanh′ too), 0 in the other: inconclusive, not verified
    ("d/dx (tanh(x + 20000)*(y < 0)) = 2*(1 - tanh(x + 20000)^2)*(y < 0)", "inconclusive"),
    ("d/dx (tanh(x + 20000)*(y < 0)) = (1 - tanh(x + 20000)^2)*(y < 0)", "inconclusive"),
    # without a digit beside an exact 0: 0 (a right claim ran past its time, another was inconclusive); beside
    # a value far beyond what the greatest precision bounds it to: different (the true derivative here is 0)
    ("d/dx (exp(-800)*sum(softmax(x))) = 0*x^T where x: vector[p]", "pass"),
    ("d/dx (exp(-800)*x*(sigmoid(x) + sigmoid(-x) - 1)*(y > 0)) = 0", "pass"),
    ("d/dx (exp(-800)*x*(sigmoid(x) + sigmoid(-x) - 1)*(y > 0)) = exp(-900)*(y > 0)", "fail"),
    # subnormal floats hold a few bits: 1.4e⁻⁷⁴⁵ and e⁻⁷⁴⁵ are the same float
    ("d/dx (exp(-745)*relu(x)) = 1.4*exp(-745)*(x > 0)", "fail"), ("d/dx (exp(-740)*abs(x)) = 1.005*exp(-740)*sign(x)", "fail"),
    ("d/dx (exp(-745)*max(x, y)) = 1.4*exp(-745)*(x > y)", "fail"), ("d/dx (exp(-740)*relu(x)) = exp(-740)*(x > 0)", "pass"),
    ("d/dx (exp(-745)*max(x, y)) = exp(-745)*(x > y)", "pass"),
    # a mask never on: 0 in digits on both sides, agreed (it ran past the claim's time)
    ("d/dX (ln(det(X@X^T + I))*(tr(X@X^T) < -1)) = 2*inv(X@X^T + I)@X*(tr(X@X^T) < -1) where X: matrix[N,N]", "pass"),
    # a whole Jacobian below floating point: a few entries in digits, within the claim's time
    ("d2/dw2 (exp(-800)*sum(tanh(X@w))) = -2*exp(-800)*X^T@diag(tanh(X@w)*(1 - tanh(X@w)^2))@X "
     "where X: matrix[r,q]; w: vector[q]", "pass"),
    ("d/dW (exp(-800)*sum(tanh(V@tanh(W@x + b)))) = 2*exp(-800)*x@(1 - tanh(V@tanh(W@x + b))^2)^T@V@"
     "diag(1 - tanh(W@x + b)^2) where W: matrix[r,q]; V: matrix[p,r]; x: vector[q]; b: vector[r]", "fail"),
])
def test_a_derivative_below_floating_point_is_compared_in_sympys_digits(claim, status, monkeypatch):
    from mcalc import limits

    # what is tested is the digits' verdict, not the time: the heaviest of these takes 1.7 s of the
    # 3 s a claim may, and a slow spell of the machine made it inconclusive (time)
    monkeypatch.setattr(limits, "CLAIM_SECONDS", 10.0)
    result = check_claim(Claim("t.mcalc", 1, claim))
    assert result.status == status, result.message


@pytest.mark.parametrize("name, content, where", [
    ("a.md", "Intro\n\n<!-- mcalc: d/dx (x^2) = 2x + $ -->\n", "a.md:3:31:"),
    ("a.tex", "% mcalc: d/dx (x^2) = 2x + $\n", "a.tex:1:28:"),
    ("a.mcalc", "  d/dx (x^2) = 2x + $\n", "a.mcalc:1:21:"),
    ("a.toml", '[[claim]]\nexpr = "x^3"\nwrt = "x"\nexpect = "3x^2"\n\n'
               '[[claim]]\nexpr = "x^2"\nwrt = "x"\nexpect = "2x + $"\n', "a.toml:9:16:"),
])
def test_an_error_in_a_one_line_claim_points_at_the_files_column(tmp_path, capsys, name, content, where):
    """The column was the claim text's (19 for each of these), and --github put it there."""
    (tmp_path / name).write_text(content)
    assert run(["check", str(tmp_path / name)]) == 2
    out = capsys.readouterr().out
    assert f"{tmp_path / name}"[:-len(name)] + where in out, out


def test_a_given_definition_the_function_does_not_use_is_an_error():
    """d/dx (x^2) = 2x given y = 3 passed, the given ignored in silence."""
    result = check_claim(Claim("t.mcalc", 1, "d/dx (x^2) = 2x given y = 3"))
    assert result.status == "error" and "does not use y" in result.message
    assert check_claim(Claim("t.mcalc", 1, "d/dx (u^2) = 2 sin(x) cos(x) given u = sin(x)")).status == "pass"




def test_a_claimed_zero_is_the_zero_jacobian_of_its_shape(tmp_path):
    """d/dx (sum(x - x)) = 0 failed: "the shapes differ: 1×1, where the Jacobian is 1×3",
    where a bare I or 𝟏 takes its size from the Jacobian (found by a new user's trial)."""
    from mcalc.claims import check

    path = tmp_path / "z.mcalc"
    path.write_text("d/dx (sum(x - x)) = 0 where x: vector\nd/dx (x - x) = 0 where x: vector\n"
                    "d/dx (sum(x)) = 0 where x: vector\n", encoding="utf-8")
    assert [r.status for r in check(path)] == ["pass", "pass", "fail"]


@pytest.mark.parametrize("claim, status", [
    ("d/dx ((x^2 + x)^2) = 2 u (2x + 1)  where u = x^2 + x", "pass"),
    ("d/dx ((x^2 + x)^2) = 2 u (2x + 2)  where u = x^2 + x", "fail"),
    ("d/dx (((x^2 + x)^2 + x)^2) = 2 v (2 u (2x + 1) + 1)  where u = x^2 + x, v = u^2 + x", "pass"),
    ("d/dw (sum(tanh(w ⊗ x))) = (1 - t^2)^T diag(x)  where t = tanh(w ⊗ x) where w, x: vector", "pass"),
    ("d/dw (sum(tanh(w ⊗ x))) = (1 - t^2)^T diag(x)  where t = tanh(w) where w, x: vector", "fail"),
])
def test_an_answer_with_named_parts_is_checked_with_them_written_out(claim, status):
    """mcalc names the parts of a long answer (A + B  where u3 = …); a claim written so
    was a syntax error (a where clause took declarations only)."""
    assert check_claim(Claim("t.mcalc", 1, claim)).status == status, claim


@pytest.mark.parametrize("claim, message", [
    ("d/dx ((x^2 + x)^2) = 2 u (2x + 1)  where u = x^2 + x, v = 3", "the answer does not use v"),
    ("d/dx ((x^2 + x)^2) = 2 u (2x + 1)  where u = x^2 + x, u = x", "'u' is named twice"),
    ("d/dx (u^2 + x) = 2 u (2x + 1)  where u = x^2 + x", "u is a variable of the function"),
])
def test_a_named_part_that_would_be_read_in_silence_another_way_is_refused(claim, message):
    with pytest.raises(mcalc.McalcError, match=message):
        parse_claim(claim)


def test_mcalcs_own_latex_answer_with_a_where_clause_checks_in_a_paper(tmp_path, capsys):
    """The LaTeX of an answer with named vectors, pasted into a paper under the
    annotation that gives its function, passes `mcalc check`."""
    program = "h = tanh(W x); g = h ⊗ h + h; k = g ⊗ g + g; y = sum(k ⊗ k + k)"
    d = mcalc.diff(program, wrt="x", vectors=["x"], matrices=["W:n,n"])
    assert "where" in d.latex and len(d.shared) == 2
    paper = tmp_path / "paper.tex"
    paper.write_text(f"% mcalc: given {program} where x: vector; W: matrix[n, n]\n"
                     f"\\begin{{equation}}\n  \\frac{{\\partial y}}{{\\partial \\mathbf{{x}}}} = {d.latex}\n"
                     f"\\end{{equation}}\n")
    assert run(["check", str(paper)]) == 0, capsys.readouterr()
    paper.write_text(paper.read_text().replace("2 \\mathbf{k}", "3 \\mathbf{k}", 1))
    assert run(["check", str(paper)]) == 1


@pytest.mark.parametrize("claim", ["d/dw (sum(w*x)+b) = \\mathbf{x}^{T}", "d/dw (sum(w*x)+b) = 𝐱ᵀ",
                                   "d/dw (sum(w*x) + b) = \\mathbf{x}^{T}  where w: vector"])
def test_a_name_bold_only_in_the_answer_does_not_type_the_function(claim):
    """mcalc prints the derivative of sum(w*x) + b by w as \\mathbf{x}^{T}; as a claim, the
    bold x in the answer declared x a vector, which left w a scalar (scalar expansion) and
    derived sum(x): a right claim, mcalc's own answer, failed."""
    assert mcalc.diff("sum(w*x)+b", wrt="w").latex == "\\mathbf{x}^{T}"
    assert check_claim(Claim("t.mcalc", 1, claim)).status == "pass"
    assert check_claim(Claim("t.mcalc", 1, claim.replace("{T}", "{T} + 1").replace("ᵀ", "ᵀ + 1"))).status == "fail"


def test_a_toml_key_mcalc_does_not_read_is_an_error_and_option_errors_point_at_their_values(tmp_path, capsys):
    """tolerence = 1e-9 was read past in silence (the claim checked without it); an error in
    layout or tolerance was placed at the claim text's column (4:21 on a line of 16)."""
    f = tmp_path / "c.toml"
    f.write_text('[[claim]]\nid = "a"\nexpr = "x^3"\nwrt = "x"\nexpect = "3x^2"\ntolerence = 1e-9\n\n'
                 '[[claim]]\nexpr = "x^2"\nwrt = "x"\nexpect = "2x"\nlayout = "denom"\n\n'
                 '[[claim]]\nexpr = "x^2"\nwrt = "x"\nexpect = "2x"\ntolerance = 2\n')
    assert run(["check", str(f)]) == 2
    out = capsys.readouterr().out
    assert "c.toml:2: ERROR [a] the [[claim]] table has a key mcalc does not read: tolerence (did you mean tolerance?)" in out
    assert "c.toml:12:11: ERROR syntax error: layout is numerator or denominator" in out
    assert "c.toml:18:13: ERROR syntax error: tolerance 2 is not" in out
    cases = ROOT / "tests" / "data" / "matrix.toml"  # the case files' own keys (shape, source, …) are theirs
    assert all(c.text != "<a malformed claim table>" for c in find_claims(str(cases), cases.read_text()))
    assert run(["check", str(cases)]) == 0


def test_files_without_claims_are_news_only_where_they_fail_the_check(tmp_path, capsys):
    """The pre-commit hook (--allow-empty) printed 'pyproject.toml: no claims found' in every
    project; a paper whose claims stand in \\input files said only 'no claims found'."""
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n')
    (tmp_path / "main.tex").write_text("\\documentclass{article}\n\\begin{document}\n\\input{sec}\n\\end{document}\n")
    (tmp_path / "sec.tex").write_text("% mcalc: d/dx (x^2) = 2x\n")
    assert run(["check", "--allow-empty", str(tmp_path / "pyproject.toml")]) == 0
    assert "no claims found" not in capsys.readouterr().out
    assert run(["check", str(tmp_path / "main.tex")]) == 1
    assert "no claims found (it \\inputs other files: --follow-includes reads the claims in them)" in \
        capsys.readouterr().out
    assert run(["check", "--follow-includes", str(tmp_path / "main.tex")]) == 0


def test_the_text_report_names_a_toml_claims_id(tmp_path, capsys):
    """JSON and JUnit gave the id; the text report left it out."""
    f = tmp_path / "c.toml"
    f.write_text('[[claim]]\nid = "cube"\nexpr = "x^3"\nwrt = "x"\nexpect = "3x^2"\n')
    assert run(["check", str(f)]) == 0
    assert f"{f}:2: pass [cube] ∂/∂x (x³) = 3x²" in capsys.readouterr().out


@pytest.mark.parametrize("claim", ["d/dx (x^3) = 3 {x}^{2}", "d/dx (sin(x^2)) = 2 x \\cos\\left({x}^{2}\\right)",
                                   "d/da (sum(x/a)) = -sum(x)/{a}^{2}  where x: vector"])
def test_a_braced_power_in_the_answer_is_no_bold_name(claim):
    """mcalc prints a power {x}^{2}; the check for names bold only in the answer took the group
    {x} for a bold x, and made x (or a) a vector: mcalc's own answers failed."""
    assert check_claim(Claim("t.mcalc", 1, claim)).status == "pass"


@pytest.mark.parametrize("claim, status", [
    ("d/dx (((1 - y/0.5)/((0.5) (x) * exp(x)))/(x)) = (4(2y - 1)/(x³exp(x)) + δ₅x exp(x) + δ₅exp(x))/2  "
     "where δ₅ = 4(2y - 1)/(x³exp(x)²)", "pass"),
    ("d/dx (((x^2 + x)^2 + x)^2) = 2 v (2 u (2x + 1) + 1)  where v = u^2 + x, u = x^2 + x", "pass"),
    ("d/dx (((x^2 + x)^2 + x)^2) = 2 v (2 u (2x + 1) + 2)  where v = u^2 + x, u = x^2 + x", "fail"),
])
def test_named_parts_read_as_mcalc_prints_them(claim, status):
    """A part set beside a name (δ₅x, as mcalc's Unicode prints it) was one unknown name, and a
    part used by one listed before it was left unwritten ('the answer uses u, which the function
    does not')."""
    assert check_claim(Claim("t.mcalc", 1, claim)).status == status


def test_a_named_part_in_terms_of_itself_is_refused():
    with pytest.raises(mcalc.McalcError, match="'where u = …' is written in terms of itself"):
        parse_claim("d/dx ((x^2+x)^2) = 2 u (2x+1)  where u = u + 1")


@pytest.mark.parametrize("claim,words", [
    ("d/dx (sin(x)) = cos(x) + 0*pi", "for the constant write π"),  # ASCII pi is a name, as in a function
    ("d/dx (x'@A@x) = x'@(A + I_n') where x: vector; A: matrix[n,n]", "for the identity write I"),
])
def test_an_answer_with_a_name_the_function_lacks_says_what_was_likely_meant(claim, words):
    result = check_claim(Claim("t.mcalc", 1, claim))
    assert result.status == "error" and words in result.message, result.message


def test_a_declaration_may_name_its_variable_in_bold_as_the_formula_does():
    """% mcalc: where \\mathbf{x}: vector in a paper was "unexpected ':'"; the bold identity
    is not a name to declare."""
    for claim in ("d/dx (x'@A@x) = x'@(A + A') where \\mathbf{x}: vector; \\mathbf{A}: matrix[n,n]",
                  "d/dx (sum(x)) = ones^T where 𝐱: vector",
                  "d/dw (\\mathbf{w} \\cdot \\mathbf{x} + b) = \\mathbf{x}^T where \\mathbf{w}, \\mathbf{x}: vector",
                  "d/dx (x^2) = 2x where \\mathbf{x}: scalar"):
        assert check_claim(Claim("t.tex", 1, claim)).status == "pass", claim
    refused = check_claim(Claim("t.mcalc", 1, "d/dx (sum(x)) = ones^T where \\mathbf{I}: matrix[n,n]"))
    assert refused.status == "error" and "identity" in refused.message


def test_parallel_check_leaves_the_collector_as_it_found_it(tmp_path):
    """The workers are forked with the objects made so far frozen (gc.freeze), and this
    process's are unfrozen once they exist; what the caller froze stays frozen."""
    import gc

    path = tmp_path / "claims.mcalc"
    path.write_text("".join(f"d/dx{i} (sin(x{i}^2)) = 2*x{i}*cos(x{i}^2)\n" for i in range(20)))
    assert gc.get_freeze_count() == 0
    assert all(r.status == "pass" for r in mcalc.check(path, jobs=2))
    assert gc.get_freeze_count() == 0 and gc.isenabled()
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        assert all(r.status == "pass" for r in mcalc.check(path, jobs=2))
        assert gc.get_freeze_count() >= frozen - 50  # (a few of the caller's may be freed meanwhile)
    finally:
        gc.unfreeze()
