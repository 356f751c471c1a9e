"""Every LaTeX output of the paper's cases (and the matrix cases) is
well-formed: plain ASCII, braces and \\left/\\right and environments balanced, no
double superscript; it compiles with pdflatex and renders with KaTeX where they
are installed (skipped otherwise)."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tomllib
from functools import lru_cache
from pathlib import Path

import pytest

import mcalc
from mcalc.render import latex_steps
from test_trace_equalities import _derive, _several

DATA = Path(__file__).parent / "data"


@lru_cache(maxsize=1)
def outputs() -> tuple[tuple[str, str], ...]:
    """(label, LaTeX) for every paper case × layout × one or several variables,
    the trace and the answer alone, and for every matrix case."""
    out = []
    for case in tomllib.loads((DATA / "paper.toml").read_text())["case"]:
        for layout in ("numerator", "denominator"):
            for several in (False, True):
                wrt = _several(case) if several else case["wrt"]
                if not several and isinstance(wrt, list):
                    wrt = wrt[0]
                d = _derive(case, wrt, layout)
                label = f"{case['id']} {layout} {wrt}"
                out += [(label + " steps", latex_steps(d)), (label, d.latex)]
    for case in tomllib.loads((DATA / "matrix.toml").read_text())["case"]:
        kind = mcalc.hessian if case.get("kind") == "hessian" else mcalc.diff
        d = kind(case["expr"], wrt=case["wrt"], vectors=case.get("vectors", ()),
                 matrices=[f"{k}:{v}" for k, v in case.get("matrices", {}).items()],
                 layout=case.get("layout", "numerator"))
        out += [(case["id"] + " steps", latex_steps(d)), (case["id"], d.latex)]
    for i, (expr, wrt, decls) in enumerate(FORMS):
        d = mcalc.diff(expr, wrt=wrt, **decls)
        out += [(f"form {i + 1} steps", latex_steps(d)), (f"form {i + 1}", d.latex)]
    return tuple(out)


# sinh, cosh and softplus: \sinh, \cosh, \operatorname{softplus}
HYPERBOLIC = [
    ("sinh(x^2) + cosh(2*x)^2 + softplus(x/2) + sinh(x)^3", "x", {}),
    ("sum(softplus(W @ x + b) ⊗ sinh(x) + cosh(x))", "x", {"vectors": ["x", "b"], "matrices": ["W:n,n"]}),
]

# Names and forms where TeX or the reader could stumble: double transposes, subscripts
# that are not digits, Greek in longer names, letter variants, log_softmax, the inverse
# functions, a power of an inverse.
FORMS = [
    ("x^T^2", "x", {"vectors": ["x"]}), ("(X^T)^T@w", "w", {"matrices": ["X:n,n"]}),
    ("x\'\'\'", "x", {"vectors": ["x"]}), ("sum(inv(A)^T^T @ x)", "x", {"matrices": ["A:n,n"], "vectors": ["x"]}),
    ("η_t*x + lr2*x + lr_t*x", "x", {}), ("Δx^2", "Δx", {}), ("sum(Δx^2)", "Δx", {"vectors": ["Δx"]}),
    ("ϑ^2 + ϖ*ϕ", "ϑ", {}), ("y · log_softmax(z)", "z", {"vectors": ["y", "z"]}),
    ("asin(x/2) + acos(x/3) + atan(x) + asinh(x) + acosh(x^2 + 1) + atanh(x/2)", "x", {}),
    *HYPERBOLIC,
    ("sum(inv(S)^2 @ x)", "S", {"matrices": ["S:3,3"], "vectors": ["x:3"]}),
    ("ln(x + 1e-8) + exp(-1e-6*x) + (1e-8)^x + 2.5e-30*x^3", "x", {}),  # numbers in powers of ten
]


def _blocks(text: str) -> list[str]:
    """The align* blocks of a trace, or the answer as one formula."""
    found = re.findall(r"\\begin\{align\*\}\n(.*?)\n\\end\{align\*\}", text, re.S)
    return found or [text.strip()]


def _balanced(text: str) -> str | None:
    depth = 0
    for i, ch in enumerate(text):
        if ch in "{}" and i and text[i - 1] == "\\":
            continue
        depth += {"{": 1, "}": -1}.get(ch, 0)
        if depth < 0:
            return f"a closing brace too many at {i}: {text[max(0, i - 30):i + 1]}"
    if depth:
        return f"{depth} brace(s) left open"
    if len(re.findall(r"\\left\b", text)) != len(re.findall(r"\\right\b", text)):
        return "\\left and \\right do not pair"
    if re.findall(r"\\begin\{(\w+\*?)\}", text) != re.findall(r"\\end\{(\w+\*?)\}", text)[::-1] and \
            sorted(re.findall(r"\\begin\{(\w+\*?)\}", text)) != sorted(re.findall(r"\\end\{(\w+\*?)\}", text)):
        return "\\begin and \\end do not pair"
    return None


def _double_superscript(text: str) -> str | None:
    """x^{a}^{b} or x^a^b: TeX's 'Double superscript' error."""
    i = 0
    while True:
        i = text.find("^", i)
        if i < 0:
            return None
        j = i + 1
        while j < len(text) and text[j] == " ":
            j += 1
        if j < len(text) and text[j] == "{":
            depth = 0
            for k in range(j, len(text)):
                depth += {"{": 1, "}": -1}.get(text[k], 0)
                if depth == 0:
                    break
            j = k + 1
        elif j < len(text) and text[j] == "\\":
            m = re.match(r"\\[A-Za-z]+", text[j:])
            j += m.end() if m else 2
        else:
            j += 1
        while j < len(text) and text[j] == " ":
            j += 1
        if text.startswith("^", j):
            return text[max(0, i - 30):j + 5]
        i += 1


def test_every_latex_output_is_well_formed():
    problems = []
    for label, text in outputs():
        if any(ord(ch) > 127 for ch in text):
            problems.append(f"{label}: raw non-ASCII {sorted({ch for ch in text if ord(ch) > 127})}")
        for block in _blocks(text):
            for found in (_balanced(block), _double_superscript(block)):
                if found:
                    problems.append(f"{label}: {found}")
    assert not problems, "\n".join(problems[:20])
    assert len(outputs()) >= 46 * 2 * 2 * 2


def test_the_checks_catch_what_tex_refuses():
    assert _double_superscript("{x}^{2}^{T}") and _double_superscript("x^T^2")
    assert _double_superscript("{x}^{2} + y^{T}") is None
    assert _balanced(r"\frac{a}{b") and _balanced(r"\left( x") and _balanced(r"\frac{a}{b}") is None


def _document() -> str:
    body = []
    for label, text in outputs():
        body.append(f"% {label}")
        body.append(text if text.startswith("\\begin{align*}") else f"\\[ {text} \\]")
    return ("\\documentclass{article}\n\\usepackage{amsmath,amssymb}\n\\allowdisplaybreaks\n"
            "\\begin{document}\n" + "\n".join(body) + "\n\\end{document}\n")


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex is not installed")
def test_pdflatex_compiles_every_output(tmp_path):
    (tmp_path / "all.tex").write_text(_document(), encoding="ascii")
    run = subprocess.run(["pdflatex", "-halt-on-error", "-interaction=nonstopmode", "all.tex"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=600)
    errors = [line for line in run.stdout.splitlines() if line.startswith("!")]
    assert run.returncode == 0 and not errors, "\n".join(errors) or run.stdout[-2000:]


def _katex() -> list[str] | None:
    """The node command that can require('katex'), or None."""
    node = shutil.which("node")
    if node is None:
        return None
    roots = [p for p in os.environ.get("NODE_PATH", "").split(os.pathsep) if p]
    npm = shutil.which("npm")
    if npm:
        found = subprocess.run([npm, "root", "-g"], capture_output=True, text=True, timeout=60).stdout.strip()
        roots.append(found)
    env = {**os.environ, "NODE_PATH": os.pathsep.join(roots)}
    probe = subprocess.run([node, "-e", "require('katex')"], capture_output=True, env=env, timeout=60)
    return [node, env["NODE_PATH"]] if probe.returncode == 0 else None


KATEX = """
const katex = require('katex');
const items = JSON.parse(require('fs').readFileSync(0, 'utf8'));
const failed = [];
for (const [label, tex] of items) {
  try { katex.renderToString(tex, {displayMode: true, throwOnError: true, strict: 'error'}); }
  catch (e) { failed.push(label + ': ' + e.message); }
}
console.log(JSON.stringify(failed));
"""


def test_katex_renders_every_output():
    found = _katex()
    if found is None:
        pytest.skip("KaTeX is not installed (npm install -g katex)")
    node, path = found
    items = [[label, block if not text.startswith("\\begin{align*}") else
              "\\begin{aligned}" + block + "\\end{aligned}"]
             for label, text in outputs() for block in _blocks(text)]
    run = subprocess.run([node, "-e", KATEX], input=json.dumps(items), capture_output=True, text=True,
                         env={**os.environ, "NODE_PATH": path}, timeout=300)
    assert run.returncode == 0, run.stderr
    failed = json.loads(run.stdout)
    assert not failed, "\n".join(failed[:10])


def test_the_cases_form_reads_back():
    """§5: the piecewise answer in LaTeX is the paper's cases form, and it reads back by value."""
    from numeric import readback_error

    for wrt in ("w", "b"):
        d = mcalc.diff("max(0, w·x + b)", wrt=wrt, vectors=["w", "x"])
        assert d.latex.startswith("\\begin{cases} ") and d.latex.endswith(" \\end{cases}")
        assert readback_error(d, d.latex) < 1e-12
    with pytest.raises(mcalc.McalcError, match="a case is 'value & condition'"):
        mcalc.diff("\\begin{cases} x & 1 \\end{cases}", wrt="x")


@pytest.mark.parametrize("name", ["x_", "_x", "w_1_2", "w_in", "w_in2", "learning_rate", "learning_rate_2", "σ_x",
                                  "σx", "σ2", "Σ1", "I1", "I_k", "θ_1", "θ_in", "lr_2", "x__y", "W_out", "a_b_c", "Δx", "x_y1",
                                  "tanh2", "tanh_in", "log2", "exp_in", "sinh2", "cosh_a", "softplus1"])
@pytest.mark.parametrize("vector", [False, True])
def test_every_name_reads_back_in_every_format(name, vector):
    """x_ printed x in LaTeX (x + 2x_ read back as 3x); w_1_2 printed w_1₂ (the name w_12);
    \\sigma_{x} and \\mathrm{w_1}_{2} did not parse (\\sigma alone is the sigmoid), nor did
    \\mathrm{tanh}_{2} (\\mathrm{tanh} is the function: the name is \\mathrm{tanh2})."""
    from numeric import readback_error

    d = mcalc.diff(f"{name}^2 + {name}*x", wrt=name, vectors=[name, "x"] if vector else [])
    for printed in (d.text, d.unicode, d.latex):
        assert readback_error(d, printed) < 1e-9, printed


def test_the_latex_trace_opens_with_the_definitions_as_the_text_does():
    d = mcalc.diff("h1 = S; g = h1@S; tr(g)", wrt="S", matrices=["S:n,n"])
    head = latex_steps(d).splitlines()[1:4]
    assert head == [r"\mathbf{h}_{1} &= \mathbf{S} \\", r"\mathbf{g} &= \mathbf{h}_{1} \mathbf{S} \\",
                    r"y &= \operatorname{tr}\left(\mathbf{g}\right) \\"]
    assert d.print(d.program.body, "unicode") in mcalc.render.function_text(d)


def test_a_named_vector_in_the_where_clause_is_bold_as_where_it_is_used():
    """§4.1: vectors bold.  The answer used \\mathbf{k} and \\boldsymbol{\\mathrm{\\delta g}},
    and its where clause defined k and \\mathrm{\\delta g}, which read back as other names;
    a bold name now reads as a definition, and the whole answer reads back by value."""
    from numeric import readback_error

    d = mcalc.diff("h = tanh(W x); g = h ⊗ h + h; k = g ⊗ g + g; y = sum(k ⊗ k + k)", wrt="x",
                   vectors=["x"], matrices=["W:n,n"])
    assert [name for name, _ in d.shared] == ["k", "δg"]
    where = d.latex.split(r"\text{where } ")[1]
    assert where.startswith(r"\mathbf{k} = ") and r", \boldsymbol{\mathrm{\delta g}} = " in where
    assert r"\boldsymbol{\mathrm{\delta g}}^{T}" in d.latex.split(r"\text{where } ")[0]
    assert readback_error(d, d.latex) < 1e-9
    for text in (r"\mathbf{h} = \tanh(\mathbf{W} \mathbf{x}); y = \mathbf{h}^T \mathbf{h}", "𝐡 = tanh(W x); y = 𝐡ᵀ𝐡"):
        assert mcalc.diff(text, wrt="x", vectors=["x"], matrices=["W:n,n"]).text == "2*((tanh(W @ x) - tanh(W @ x)^3)^T @ W)"
    with pytest.raises(mcalc.McalcError, match="cannot define 'I'"):
        mcalc.diff(r"\mathbf{I} = x; y = x", wrt="x")


@pytest.mark.parametrize("expr, vectors, text, unicode, latex", [
    ("x - x^2", [], "1 - 2*x", "1 - 2x", "1 - 2 x"),
    ("x - 0.1*x^2", [], "1 - 0.2*x", "1 - 0.2x", "1 - 0.2 x"),
    ("w - 0.1*w^2", ["w"], "diag(1 - 0.2*w)", "diag(1 - 0.2w)", None),
])
def test_a_negative_term_is_subtracted_not_added(expr, vectors, text, unicode, latex):
    """1 + -2x: a term whose sign leads it was printed after a +, in every format."""
    from numeric import readback_error

    d = mcalc.diff(expr, wrt="w" if vectors else "x", vectors=vectors)
    assert (d.text, d.unicode) == (text, unicode)
    if latex is not None:
        assert d.latex == latex
    for printed in (d.text, d.unicode, d.latex):
        assert "+ -" not in printed and readback_error(d, printed) < 1e-12


@pytest.mark.parametrize("expr, wrt, unicode", [
    ("x*sigmoid(1.702*x)", "x", "σ(1.702x)(1 + 1.702x(1 - σ(1.702x)))"),
    ("a*(w·w)^2", "w", "4a(w · w)wᵀ"),
    # unless the names side by side end in a function's: 2xsin(y + 1) would read as 2x sin(y + 1)
    ("x*s*i*n*(y+1)^2", "y", "(2xsin)(y + 1)"),
    ("l*o*g*(y+1)^2*c", "y", "(2clog)(y + 1)"),
])
def test_a_product_of_scalars_before_a_parenthesis_needs_none(expr, wrt, unicode):
    """(1.702x)(1 - σ): scalars multiply in any grouping, so 1.702x(1 - σ) reads back as the same value."""
    from numeric import readback_error

    d = mcalc.diff(expr, wrt=wrt, vectors=["w"] if "w" in expr else [])
    assert d.unicode == unicode
    assert readback_error(d, d.unicode) < 1e-12


def test_a_negative_term_subtracted_is_added():
    """-exp(x)ᵀ - (-x ⊘ w²)ᵀ: a term whose sign leads it, subtracted, printed '- -' (and '- (-…)')."""
    from numeric import readback_error

    d = mcalc.diff("-(sum(x/w)) + (x - w)·exp(x)", wrt="w", vectors=["x", "w"])
    assert d.unicode == "-exp(x)ᵀ + (x ⊘ w²)ᵀ"
    for printed in (d.text, d.unicode, d.latex):
        assert "- -" not in printed and "- (-" not in printed and readback_error(d, printed) < 1e-12


@pytest.mark.parametrize("expr,wrt,decls", HYPERBOLIC)
def test_sinh_cosh_and_softplus_read_back_in_every_format(expr, wrt, decls):
    """\\sinh, \\cosh and \\operatorname{softplus} as mcalc prints them read back: the answer, in
    every format, and the function itself (whose derivative is then the same)."""
    from numeric import random_values, readback_error

    d = mcalc.diff(expr, wrt=wrt, **decls)
    for printed in (d.text, d.unicode, d.latex):
        assert readback_error(d, printed) < 1e-12, printed
    function = d.print(d.program.body, "latex")
    assert "\\sinh" in function and "\\cosh" in function and "\\operatorname{softplus}" in function
    again = mcalc.diff(function, wrt=wrt, **decls)
    values = random_values(d, 1)
    assert again.function_at(values).tolist() == d.function_at(values).tolist()
    assert again.evaluate(values) == d.evaluate(values)


@pytest.mark.parametrize("expr, latex", [
    ("ln(x + 1e-8)", "\\frac{1}{x + 10^{-8}}"),
    ("exp(-1e-6*x)", "-10^{-6} \\exp\\left(-10^{-6} x\\right)"),
    ("x - 1e-8*x^2", "1 - \\left(2 \\times 10^{-8}\\right) x"),
    ("(1e-8)^x", "{\\left(10^{-8}\\right)}^{x} \\ln\\left(10^{-8}\\right)"),
])
def test_a_number_in_scientific_notation_is_a_power_of_ten_in_latex(expr, latex):
    """1e-8 in LaTeX typesets as 1e − 8, Euler's number minus 8; a power of ten reads as meant,
    and back as the same value."""
    from numeric import readback_error

    d = mcalc.diff(expr, wrt="x")
    assert d.latex == latex
    assert readback_error(d, d.latex) < 1e-12
