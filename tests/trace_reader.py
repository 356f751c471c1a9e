"""Read a printed trace back as equalities and check each at a random point.

Every line of `--format text` and every row of `--latex --steps` that states
``a = b = c`` is parsed term by term and evaluated; the terms must agree in
shape and in value.  The values do not come from the trace's own claims: each
derivative symbol is evaluated by central finite differences — a direct partial
∂a/∂b from a's definition alone, holding its other arguments fixed; a total
derivative through the whole chain of definitions — and transposed in
denominator layout.  Only the intermediates' definitions (step 1, themselves
checked as equalities) come from the trace.
"""
from __future__ import annotations

import re

from mcalc.evaluate import Evaluator, Mat, bind_sizes
from mcalc.names import resolve_names
from mcalc.parser import parse
from mcalc.shapes import Declarations, Shape, infer
from numeric import fd_columns, random_values

H = 1e-6
SUBSCRIPT = str.maketrans("₀₁₂₃₄₅₆₇₈₉", "0123456789")

# ∂u₁/∂w, du₁/dx, ∂y/∂(w, b), ∂y/∂vec(W)
TEXT_SYMBOL = re.compile(r"(?<![\w)\]])([∂d])([^\s/()\[\]|]+)/\1(vec\([^()]*\)|\([^()]*\)|[^\s()\[\]|,]+)")
LATEX_SYMBOL = re.compile(r"\\frac\{(\\partial|d) ([^{}]*(?:\{[^{}]*\}[^{}]*)*)\}\{(?:\\partial|d) "
                          r"((?:\\left\()?[^{}]*(?:\{[^{}]*\}[^{}]*)*?(?:\\right\))?)\}")
LATEX_NAME = re.compile(r"\\mathbf\{([A-Za-z]+)\}|\\boldsymbol\{\\([A-Za-z]+)\s*\}|\\([A-Za-z]+)|([A-Za-z]+)")
CASES = re.compile(r"\\begin\{cases\}(.*?)\\end\{cases\}")


class AtKink(Exception):
    """The point is where a partial is not differentiable (relu at 0): its two
    one-sided differences disagree, so no value there can be checked."""


class Chain:
    """One equality chain as printed, with the step it stands in."""

    def __init__(self, step: str, terms: list[str], style: str):
        self.step, self.terms, self.style = step, terms, style

    def __repr__(self):
        return f"Chain({self.step!r}, {self.terms!r})"


def text_chains(output: str) -> list[Chain]:
    chains: list[Chain] = []
    step = ""
    in_note = False
    for raw in output.splitlines():
        line = raw.strip()
        if in_note and raw.startswith("      ") and not line.startswith("= "):
            continue  # a note in words, wrapped: its further lines stand 6 spaces in
        in_note = False
        if not line or line.startswith(("variables:", "note:", "First, the gradient", "Then its Jacobian")):
            continue
        if line.startswith("(") and not line.endswith(")"):
            in_note = True
            continue
        if re.match(r"\d+\. ", line):
            step = line
            continue
        if line.startswith("(") and line.endswith(")"):
            inner = line[1:-1]
            if re.fullmatch(r"\S+ = \S+", inner):  # (y = u₃)
                chains.append(Chain(step, inner.split(" = "), "unicode"))
            continue  # a note in words
        content = re.split(r"\s{3,}", line)[0]
        if content.startswith("∂²"):  # a Hessian's answer: the last substitution, already read
            continue
        if content.startswith("where "):
            content = content[len("where "):]
        if content.startswith("= "):
            chains[-1].terms.append(content[2:])
            continue
        if " = " not in content:
            continue
        if ";" in content:  # a function with definitions: g = …; y = …
            for part in content.split("; "):
                chains.append(Chain(step, part.split(" = "), "unicode"))
            continue
        if "  where " in raw:
            continue
        chains.append(Chain(step, content.split(" = "), "unicode"))
    return chains


def latex_chains(output: str) -> list[Chain]:
    body = output.split("\\begin{align*}\n", 1)[1].rsplit("\n\\end{align*}", 1)[0]
    chains: list[Chain] = []
    step = ""
    for row in body.split(" \\\\\n"):
        if row.startswith("& \\text"):
            m = re.match(r"& \\text(?:bf)?\{(\d+\. .*)\}$", row)
            if m:
                step = m.group(1)
            continue
        if row.startswith("& \\qquad"):
            continue
        content = row.split(" && ")[0]
        if content.startswith(" &= "):
            chains[-1].terms.append(content[4:])
            continue
        left, right = content.split(" &= ", 1)
        chains.append(Chain(step, [left, right], "latex"))
    return chains


class Values:
    """The values of a derivation's names at one random point, and of its
    derivative symbols by finite differences."""

    def __init__(self, d, seed: int = 0):
        self.d = d
        self.den = d.layout == "denominator"
        self.point = random_values(d, seed)
        self.shapes = dict(d.variables())
        self.sizes = bind_sizes(self.shapes, self.point)
        for dim, v in self.point.items():
            if d.typing.is_dimension(dim):
                self.sizes[dim] = int(v.data[0])
        t = d.trace
        self.defs = {it.name: it.expr for it in (*t.intermediates, *t.adjoints)}
        self.order = [it.name for it in t.intermediates]
        self.adjoints = [it.name for it in t.adjoints]
        for it in (*t.intermediates, *t.adjoints):
            self.shapes[it.name] = it.shape
        for name, expr in d.program.definitions:
            self.shapes.setdefault(name, d.typing.shape(expr))
        self.output = t.output
        last = t.intermediates[-1].name if t.intermediates else None
        self.alias = {t.output: last} if last and last != t.output else {}
        self.shapes[t.output] = d.typing.shape(d.program.body)
        self.values = self.forward(self.point)

    def forward(self, point: dict[str, Mat]) -> dict[str, Mat]:
        values = dict(point)
        ev = Evaluator(values, self.sizes)
        for name, expr in self.d.program.definitions:  # the user's own names (h1 = S), in order
            values[name] = ev(expr)
        for name in self.order + self.adjoints:
            values[name] = ev(self.defs[name])
        values[self.output] = ev(self.d.function_expr())
        return values

    # -- derivatives ---------------------------------------------------------
    def _fd(self, f, name: str) -> Mat:
        """∂vec(f)/∂vec(name)ᵀ by central differences, in the chosen layout."""
        ahead, behind = fd_columns(f, self.values[name], H, sides=True)
        if any(abs(a - b) > 1e-2 * (1 + abs(a)) for ca, cb in zip(ahead, behind) for a, b in zip(ca, cb)):
            raise AtKink(name)
        cols = [[(a + b) / 2 for a, b in zip(ca, cb)] for ca, cb in zip(ahead, behind)]
        rows = len(cols[0])
        jac = Mat(rows, len(cols), tuple(cols[c][r] for r in range(rows) for c in range(len(cols))))
        return jac.T if self.den else jac

    def direct(self, of: str, by: str) -> Mat:
        of = self.alias.get(of, of)
        expr = self.defs[of]

        def f(v: Mat) -> Mat:
            return Evaluator({**self.values, by: v}, self.sizes)(expr)
        return self._fd(f, by)

    def total(self, of: str, by: str) -> Mat:
        of = self.alias.get(of, of)

        def f(v: Mat) -> Mat:
            return self.forward({**self.point, by: v})[of]
        return self._fd(f, by)

    def _laid_out(self, jac: Mat, by: str) -> Mat:
        """A scalar by an m×n matrix X laid out as a matrix: the gradient G (m×n,
        G[i, j] = ∂y/∂X[i, j]) in denominator layout, Gᵀ in numerator."""
        m, n = self.values[by].rows, self.values[by].cols
        flat = jac.data  # over vec(X): X[i, j] at j*m + i
        g = Mat(m, n, tuple(flat[j * m + i] for i in range(m) for j in range(n)))
        return g if self.den else g.T

    # -- terms ---------------------------------------------------------------
    def evaluate(self, chain: Chain) -> list[Mat]:
        total_step = "total-derivative" in chain.step
        subject = None
        out = []
        for i, term in enumerate(chain.terms):
            text, bound = self._symbols(term, chain.style, total_step, subject, first=i == 0)
            if i == 0 and total_step:
                subject = self._subject(term, chain.style)
            out.append(self._eval(text, bound, chain.style))
        return out

    def _subject(self, term: str, style: str) -> str | None:
        m = (TEXT_SYMBOL if style == "unicode" else LATEX_SYMBOL).fullmatch(term.strip())
        if not m:
            return None
        of = self._name(m.group(2), style)
        return self.alias.get(of, of)

    def _name(self, text: str, style: str) -> str:
        if style == "unicode":
            return text.translate(SUBSCRIPT)
        text = text.strip()
        m = re.fullmatch(r"(?:\\mathbf\{|\\boldsymbol\{)?\\?([A-Za-z]+)\s*\}?(?:_\{([0-9A-Za-z]+)\})?", text)
        if not m:
            raise AssertionError(f"not a name: {text!r}")
        greek = {"delta": "δ", "varepsilon": "ε", "epsilon": "ε", "eta": "η", "lambda": "λ", "sigma": "σ"}
        stem = greek.get(m.group(1), m.group(1)) if text.startswith("\\") and "mathbf" not in text else m.group(1)
        sub = m.group(2) or ""
        return stem + (sub if sub.isdigit() or not sub else "_" + sub)  # u_{k} is u_k, u_{1} is u1

    def _symbols(self, term: str, style: str, total_step: bool, subject, first: bool):
        """The term with each derivative symbol replaced by a bound placeholder."""
        bound: dict[str, Mat] = {}
        pattern = TEXT_SYMBOL if style == "unicode" else LATEX_SYMBOL

        def value_of(of: str, by_text: str) -> Mat:
            by_text = by_text.strip()
            flat = by_text.startswith(("vec(", "\\operatorname{vec}"))
            for vec in ("vec(", "\\operatorname{vec}\\left("):  # ∂y/∂vec(W): the same numbers, laid flat
                if by_text.startswith(vec):
                    by_text = by_text[len(vec):-(1 if vec == "vec(" else len("\\right)"))]
            if style == "latex" and by_text.startswith("\\left("):
                by_text = by_text[len("\\left("):-len("\\right)")]
            if style == "unicode" and by_text.startswith("("):
                by_text = by_text[1:-1]
            names = [self._name(b.strip(), style) for b in by_text.split(",")]
            if len(names) > 1:
                blocks = [self.total(of, b) for b in names]
                return _stack(blocks, self.den)
            (by,) = names
            real = self.alias.get(of, of)
            if not flat and self.shapes[by].is_matrix and self.shapes.get(real, Shape(1, 1)).is_scalar:
                return self._laid_out(self.total(of, by) if of == self.output or real not in self.defs
                                      else self.direct(real, by), by)
            if of == self.output or real not in self.defs:
                return self.total(of, by)
            if total_step and by in self.d.wrt and not first and real != subject:
                return self.total(real, by)
            if total_step and first:
                return self.total(real, by)
            return self.direct(real, by)

        def swap(m) -> str:
            of = self._name(m.group(2), style)
            value = value_of(of, m.group(3))
            name = f"DD{len(bound) + 1}"
            if value.rows == 1 and value.cols > 1:  # a row: a column transposed
                bound[name] = value.T
                ref = f"{name}ᵀ" if style == "unicode" else rf"\mathrm{{{name}}}^{{T}}"
            else:
                bound[name] = value
                ref = name if style == "unicode" else rf"\mathrm{{{name}}}"
            return f"({ref})" if style == "unicode" else rf"\left({ref}\right)"

        text = pattern.sub(swap, term)
        if style == "latex":
            text = CASES.sub(_cases, text)
        return text, bound

    def _eval(self, text: str, bound: dict[str, Mat], style: str) -> Mat:
        program = parse(text)
        known = set(self.shapes) | set(bound) | set(self.d.typing.dims)
        program, _ = resolve_names(program, known, vectors={
            n for n, s in self.shapes.items() if s.is_col and not s.is_scalar})
        vectors, matrices, scalars = {}, {}, set()
        for name, shape in self.shapes.items():
            _declare(name, shape, vectors, matrices, scalars)
        for name, m in bound.items():
            _declare(name, Shape(m.rows, m.cols), vectors, matrices, scalars)
        typed = infer(program, Declarations(vectors, matrices, scalars)).program
        return Evaluator({**self.values, **bound}, dict(self.sizes))(typed.body)


def _declare(name, shape, vectors, matrices, scalars):
    if shape.is_scalar:
        scalars.add(name)
    elif shape.cols == 1:
        vectors[name] = shape.rows
    else:
        matrices[name] = (shape.rows, shape.cols)


def _cases(m) -> str:
    """\\begin{cases} a & c \\\\ b & d \\end{cases} as (a)(c) + (b)(d)."""
    parts = []
    for case in m.group(1).split(r" \\ "):
        value, condition = case.strip().split(" & ")
        parts.append(rf"\left({value}\right) \left({condition}\right)")
    return r"\left(" + " + ".join(parts) + r"\right)"


def _stack(blocks: list[Mat], den: bool) -> Mat:
    if den:  # stacked: rows of each block in turn
        cols = blocks[0].cols
        data = tuple(x for b in blocks for x in b.data)
        return Mat(sum(b.rows for b in blocks), cols, data)
    rows = blocks[0].rows
    data = tuple(x for r in range(rows) for b in blocks for x in b.data[r * b.cols:(r + 1) * b.cols])
    return Mat(rows, sum(b.cols for b in blocks), data)


def check(d, output: str, style: str, seed: int = 0, tolerance: float = 1e-5) -> int:
    """Assert every equality of ``output``; returns how many were checked.  A
    Hessian's output is the gradient's trace, then its Jacobian's: each part
    against its own derivation."""
    if d.gradient is not None:
        if style == "unicode":
            first, _, second = output.partition("Then its Jacobian, the Hessian:")
            first = first.rsplit("\n\n", 2)[0]  # without the line g = ∇y = … that joins them
        else:
            cut = output.index("\\end{align*}") + len("\\end{align*}\n")
            first, second = output[:cut], output[cut:]
        return check(d.gradient, first, style, seed, tolerance) + _check(d, second, style, seed, tolerance)
    return _check(d, output, style, seed, tolerance)


def _check(d, output: str, style: str, seed: int, tolerance: float) -> int:
    values = Values(d, seed)
    chains = text_chains(output) if style == "unicode" else latex_chains(output)
    checked = 0
    for chain in chains:
        mats = values.evaluate(chain)
        first = mats[0]
        for term, m in zip(chain.terms[1:], mats[1:]):
            assert (m.rows, m.cols) == (first.rows, first.cols), \
                f"{chain.terms[0]} = {term}: shapes {first.rows}×{first.cols} and {m.rows}×{m.cols}"
            err = max((abs(a - b) / (1 + abs(a)) for a, b in zip(first.data, m.data)), default=0.0)
            assert err < tolerance, f"{chain.terms[0]} = {term}: differ by {err:.3g} ({chain})"
            checked += 1
    return checked
