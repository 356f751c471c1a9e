"""Renderings of a Derivation: plain text, rich, JSON and a LaTeX align* block.

All of them read the same Trace; the rich view is the plain one with colour
and columns (rich is imported only when a terminal asks for it).
"""
from __future__ import annotations

import re
import textwrap

from . import __version__
from . import ast as A
from .latex import latex_name
from .lesson import Blocks, Cases, D, Product, Sum, note_text
from .text import ends_in_function, unicode_name

NOTE_WIDTH = 100  # a note in words wraps here (the formulas never do)
# the shapes stand in a column after rows up to this many characters; a longer row has
# its shape right after it (padding every row to the longest made a long trace quadratic)
COLUMN_MAX = 80
KINK_NOTE = ("piecewise: a comparison such as (z > 0) is 1 where true, else 0, and sign(z) is 1, 0 or -1; "
             "at a kink (max, relu, abs at 0) the derivative is taken as 0 (the paper's convention)")


BRACKET_NOTE = ("brackets: [a, b] is a column vector and [a, b]ᵀ a row (the paper writes the row ∇f as "
                "[6yx, 3x²]); [A | B] sets blocks side by side, so [a | b] is a row too")


def _shape_words(shape) -> str:
    return f"{shape} {shape.kind}"


def _d(of: str, by: str, style: str = "unicode", d=None) -> str:
    if style == "latex":
        return f"\\frac{{\\partial {_tex(d, of)}}}{{\\partial {_tex(d, by)}}}"
    return f"∂{unicode_name(of)}/∂{unicode_name(by)}"


def _tex(d, name: str) -> str:
    """A name in LaTeX, bold when it names a vector or a matrix (§4.1)."""
    shape = d.typing.variables.get(name) if d is not None else None
    return latex_name(name, bold=shape is not None and not shape.is_scalar)


_PIECEWISE = ("sign", "abs", "relu", "max", "min")


def _has_piecewise(node: A.Node) -> bool:
    return any(isinstance(n, A.Compare) or isinstance(n, A.Call) and n.fn in _PIECEWISE for n in A.walk(node))


def function_text(d, style: str = "unicode") -> str:
    prog = d.program
    lines = [f"{unicode_name(name)} = {d.print(expr, style)}" for name, expr in prog.definitions]
    lines.append(f"{unicode_name(d.trace.output)} = {d.print(prog.body, style)}")
    return "; ".join(lines)


def answer_words(d) -> str:
    """The answer's shape and what it is: 1×n row vector; m×n, the gradient,
    shaped like W; (m·n)×(m·n), ∂vec(F)/∂vec(X)ᵀ."""
    words = _shape_words(d.shape)
    kind = d.kind()
    if kind == "gradient":
        w = unicode_name(d.wrt[0])
        words = (f"{d.shape}, the gradient, shaped like {w}" if d.layout == "denominator" else
                 f"{d.shape}, the gradient's transpose: numerator layout")
    elif kind == "vec-jacobian" and d.gradient is not None:
        words = f"{d.shape}, over vec({','.join(map(unicode_name, d.wrt))}), vec stacking columns"
    elif kind == "vec-jacobian":
        words = f"{d.shape}, ∂vec({unicode_name(d.trace.output)})/∂vec({','.join(map(unicode_name, d.wrt))})ᵀ, " \
                f"vec stacking columns"
        if d.layout != "numerator":
            words += f", {d.layout} layout"
    elif d.layout != "numerator":
        words += f", {d.layout} layout"
    if d.gradient is not None:
        words += ", symmetric"
    return words


def notes(d) -> list[str]:
    """What the reader of the answer must know (the assumptions made in reading
    the input are d.notes, which the command line writes to stderr)."""
    out = []
    if _has_piecewise(d.expr):
        out.append(KINK_NOTE)
    if any(isinstance(n, (A.VecLit, A.HStack)) for n in A.walk(d.expr)):
        out.append(BRACKET_NOTE)
    return out


def plain(d) -> str:
    """The whole derivation as plain text (what --format text prints)."""
    if d.gradient is None:
        out = _steps_text(d)
    else:  # a Hessian: the gradient's four steps, then its Jacobian's
        g = d.gradient
        out = ["First, the gradient:", "", *_steps_text(g), "",
               f"{unicode_name(d.trace.output)} = ∇{unicode_name(g.trace.output)} = {g.unicode}    ({answer_words(g)})",
               "", "Then its Jacobian, the Hessian:", "", *_steps_text(d)]
    out.append("")
    out.append(f"{answer_head(d)} = {d.unicode}    ({answer_words(d)})")
    for note in notes(d):
        out.append(f"note: {note}")
    return "\n".join(out) + "\n"


def latex_head(d) -> str:
    """\\frac{\\partial y}{\\partial \\mathbf{w}}; for a Hessian \\frac{\\partial^2 y}{…}."""
    if d.gradient is None:
        return _symbol(d, D(d.trace.output, tuple(d.wrt)), "latex")
    y = _tex(d.gradient, d.gradient.trace.output)
    by = ", ".join(_tex(d, w) for w in d.wrt)
    shapes = [d.typing.variables.get(w) for w in d.wrt]
    if len(d.wrt) == 1 and shapes[0] is not None and shapes[0].is_matrix:
        vec = rf"\operatorname{{vec}}\left({by}\right)"
        return rf"\frac{{\partial^2 {y}}}{{\partial {vec} \partial {vec}^{{T}}}}"
    if all(s is None or s.is_scalar for s in shapes):
        by = by if len(d.wrt) == 1 else rf"\left({by}\right)"
        return rf"\frac{{\partial^2 {y}}}{{\partial {by}^{{2}}}}"
    return rf"\frac{{\partial^2 {y}}}{{\partial {by} \partial {by}^{{T}}}}"


def answer_head(d) -> str:
    """∂y/∂w; for a Hessian ∂²y/∂x², ∂²y/∂x∂xᵀ or ∂²y/∂vec(X)∂vec(X)ᵀ."""
    if d.gradient is None:
        names = ", ".join(unicode_name(w) for w in d.wrt)
        return f"∂{unicode_name(d.trace.output)}/∂{names if len(d.wrt) == 1 else f'({names})'}"
    y = unicode_name(d.gradient.trace.output)
    shapes = [d.typing.variables.get(w) for w in d.wrt]
    names = ",".join(unicode_name(w) for w in d.wrt)
    if len(d.wrt) == 1 and shapes[0] is not None and shapes[0].is_matrix:
        return f"∂²{y}/∂vec({names})∂vec({names})ᵀ"
    if all(s is None or s.is_scalar for s in shapes):
        return f"∂²{y}/∂{names}²" if len(d.wrt) == 1 else f"∂²{y}/∂({names})²"
    return f"∂²{y}/∂{names}∂{names}ᵀ"


def _steps_text(d) -> list[str]:
    out = [function_text(d)]
    var_words = ", ".join(f"{unicode_name(n)}: {s.kind} {s}" for n, s in d.variables().items())
    out.append(f"  variables: {var_words}")
    for step in d.steps:
        out.append("")
        out.append(step_title(step))
        if not step.rows:
            out.append("   (none: the function is a single variable or constant)" if step.number == 1 else "   (none)")
        rows = [(row, _row_lines(d, row, "unicode")) for row in step.rows]
        width = max((len(lines[-1]) for row, lines in rows if lines and row.shape is not None
                     and len(lines[-1]) <= COLUMN_MAX), default=0)  # a longer row does not widen the rest
        for row, lines in rows:
            shape = _shape_words(row.shape) if row.shape is not None and step.number == 1 else \
                str(row.shape) if row.shape is not None else ""
            for i, line in enumerate(lines):
                if i == len(lines) - 1 and shape:
                    line = f"{line:<{width}}   {shape}"
                out.append(f"   {line}".rstrip())
            if row.note:
                out.extend(textwrap.wrap(f"({note_text(row.note)})", NOTE_WIDTH, initial_indent="     ",
                                         subsequent_indent="      ", break_on_hyphens=False))
    return out


def step_title(step, style: str = "unicode") -> str:
    rule = f" ({step.rule})" if step.rule else ""
    return f"{step.number}. {step.title}{rule}"


def _row_lines(d, row, style: str) -> list[str]:
    """A chain a = b = c as lines: the first two terms on one line, each
    further term on a line of its own under the first '='."""
    terms = [_term(d, t, style) for t in row.terms if style == "latex" or not isinstance(t, Cases)]
    if not terms:
        return []
    if row.kind == "alias":
        return [f"({terms[0]} = {terms[1]})"]
    first = f"{terms[0]} = {terms[1]}" if len(terms) > 1 else terms[0]
    pad = " " * len(terms[0])
    return [first, *(f"{pad} = {t}" for t in terms[2:])]


_ROW_PAREN = (A.Add, A.Sub, A.Neg, A.Dot, A.Div)


def _term(d, t, style: str, factor: bool = False) -> str:
    if isinstance(t, D):
        return _symbol(d, t, style)
    if isinstance(t, Sum):
        return " + ".join(_term(d, x, style) for x in t.terms)
    if isinstance(t, Product):
        return _product(d, t.factors, style)
    if isinstance(t, Blocks):
        if t.transposed:
            mark = "^{T}" if style == "latex" else "ᵀ"
            inner = [f"{_paren(_term(d, x, style), style)}{mark}" for x in t.items]
            sep = r" \;\middle|\; " if style == "latex" else " | "
            body = sep.join(inner)
            return (r"\left[" + body + r"\right]^{T}") if style == "latex" else f"[{body}]ᵀ"
        if style == "latex":
            return r"\left[" + r" \;\middle|\; ".join(_term(d, x, style) for x in t.items) + r"\right]"
        return "[" + " | ".join(_term(d, x, style) for x in t.items) + "]"
    if isinstance(t, Cases):
        from .latex import LatexPrinter

        return LatexPrinter(d.typing).doprint_piecewise(t.node)
    text = d.print(t, style)
    if factor and _needs_paren(d, t, text, style):
        text = _paren(text, style)
    return text


def _paren(text: str, style: str) -> str:
    return f"\\left({text}\\right)" if style == "latex" else f"({text})"


def _needs_paren(d, node, text: str, style: str) -> bool:
    if isinstance(node, A.Num):
        return node.value < 0 or "/" in text or " \\times " in text  # (LaTeX's 2 \\times 10^{-8})
    if isinstance(node, A.Div):
        return style != "latex" or text.startswith("-")
    if isinstance(node, A.Mul):
        shape = d._alg.shape
        return not shape(node.left).is_scalar and not shape(node.right).is_scalar  # ⊗
    return isinstance(node, _ROW_PAREN)


def _product(d, factors, style: str) -> str:
    """Symbols side by side (∂u₂/∂u₁ ∂u₁/∂x); values with the product sign ×
    between them, or side by side where both are matrices (a matrix product);
    · is kept for the dot product."""
    if all(isinstance(f, D) for f in factors):
        return " ".join(_term(d, f, style) for f in factors)
    times = r" \times " if style == "latex" else " × "
    scalar = [_is_scalar(d, f) for f in factors]
    first = scalar.index(False) if False in scalar else len(factors)
    if any(scalar[first:]) and not all(scalar[first + scalar[first:].index(True):]):
        # a number between two matrices: x × 2 × xᵀ would read as (x × 2) ⊗ xᵀ, so the
        # scalars, which commute, go first: 2 × x xᵀ
        factors = [f for f, s in zip(factors, scalar) if s] + [f for f, s in zip(factors, scalar) if not s]
    out, prev = "", None
    for f in factors:
        text = _term(d, f, style, factor=True)
        if prev is not None:
            both = not _is_scalar(d, prev) and not _is_scalar(d, f)
            if both and text.startswith(("-", "[")):  # diag(x) (-2I), not diag(x) -2I (a difference);
                text = f"({text})" if style != "latex" else rf"\left({text}\right)"  # u₂ ([1, 0]), not x [1]
            if both and style != "latex" and text.startswith("(") and ends_in_function(out):
                out = f"({out})"  # I (-I) would read as the call I(-I); (I) alone after another I as I(I)
            out += " " if both else times
        out += text
        prev = f
    return out


def _is_scalar(d, t) -> bool:
    if isinstance(t, A.Node):
        return d._alg.shape(t).is_scalar
    if isinstance(t, Product):
        return all(_is_scalar(d, f) for f in t.factors)
    return False


def _symbol(d, s: D, style: str) -> str:
    if style == "latex":
        mark = "d" if s.straight else r"\partial"
        by = ", ".join(_tex(d, b) for b in s.by)
        if s.vec:
            by = rf"\operatorname{{vec}}\left({by}\right)"
        elif len(s.by) > 1:
            by = rf"\left({by}\right)"
        return rf"\frac{{{mark} {_tex(d, s.of)}}}{{{mark} {by}}}"
    mark = "d" if s.straight else "∂"
    by = ", ".join(unicode_name(b) for b in s.by)
    if s.vec:
        by = f"vec({by})"
    elif len(s.by) > 1:
        by = f"({by})"
    return f"{mark}{unicode_name(s.of)}/{mark}{by}"


def latex_steps(d) -> str:
    """The trace as one align* block (a Hessian: the gradient's, then the Hessian's)."""
    if d.gradient is not None:
        return latex_steps(d.gradient) + _latex_block(d)
    return _latex_block(d)


def _tex_shape(shape, words: bool = False) -> str:
    text = str(shape).replace("×", r" \times ").replace("·", " ")
    return text + (rf" \text{{ {shape.kind}}}" if words else "")


def _latex_block(d) -> str:
    t = d.trace
    steps = d.steps  # first: they name the function's value (y, bold when it is a vector)
    rows = [f"{_tex(d, name)} &= {d.print(expr, 'latex')}" for name, expr in d.program.definitions]  # h₁ = S
    rows.append(f"{_tex(d, t.output)} &= {d.print(d.program.body, 'latex')}")
    variables = d.variables()
    if variables:
        rows.append(r"& \text{where } " + ", ".join(
            f"{_tex(d, n)} \\in {_tex_space(s)}" for n, s in variables.items()))
    for step in steps:
        rows.append(r"& \textbf{" + _tex_text(step_title(step)) + "}")
        if not step.rows:
            rows.append(r"& \qquad \text{(none)}")
        for row in step.rows:
            lines = _row_lines(d, row, "latex")
            if lines:
                if row.kind == "alias":
                    lines = [lines[0][1:-1].replace(" = ", " &= ", 1)]
                else:
                    lines[0] = lines[0].replace(" = ", " &= ", 1)
                    lines[1:] = [" &= " + line.split(" = ", 1)[1] for line in lines[1:]]
                if row.shape is not None:
                    lines[-1] += r" && " + _tex_shape(row.shape, words=step.number == 1)
                rows.extend(lines)
            if row.note:
                rows.extend(r"& \qquad \text{" + line + "}"
                            for line in _tex_lines("(" + note_text(row.note, "latex") + ")"))
    return "\\begin{align*}\n" + " \\\\\n".join(rows) + "\n\\end{align*}\n"


def _tex_lines(text: str, width: int = 90) -> list[str]:
    """A note in words as lines of at most about ``width`` characters (a \\text
    does not wrap), broken only between words outside $…$."""
    lines, line, math = [], "", False
    for word in text.split(" "):
        if line and not math and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
        math ^= word.count("$") % 2 == 1
    return [*lines, line]


def _tex_space(shape) -> str:
    if shape.is_scalar:
        return r"\mathbb{R}"
    if shape.is_col:
        return rf"\mathbb{{R}}^{{{_tex_dim(shape.rows)}}}"
    return rf"\mathbb{{R}}^{{{_tex_dim(shape.rows)} \times {_tex_dim(shape.cols)}}}"


def _tex_dim(dim) -> str:
    return str(dim).replace("*", " ").replace("·", " ")


def _tex_text(text: str) -> str:
    """Words for \\text{…}: § as \\S, a name (by w₁, by λ) as mathematics."""
    from .latex import latex_name
    from .parser import canonical_name

    text = text.replace("§", r"\S ")
    return re.sub(r"(?<=Combine, by )\S+", lambda m: f"${latex_name(canonical_name(m.group()))}$", text)


def _node(d, node) -> dict:
    return {"text": d.print(node, "text"), "unicode": d.print(node, "unicode"),
            "latex": d.print(node, "latex")}


def _trace_rows(d) -> list[dict]:
    """The steps as every printer shows them: each row's chain of equalities in
    Unicode and LaTeX, its shape and its note."""
    out = []
    for step in d.steps:
        rows = []
        for row in step.rows:
            entry = {"kind": row.kind}
            if row.terms:
                entry["unicode"] = " = ".join(_term(d, x, "unicode") for x in row.terms if not isinstance(x, Cases))
                entry["latex"] = " = ".join(_term(d, x, "latex") for x in row.terms)
            if row.shape is not None:
                entry["shape"] = row.shape.as_list()
            if row.note:
                entry["note"] = note_text(row.note)
            rows.append(entry)
        out.append({"step": step.number, "title": step.title, "rule": step.rule, "rows": rows})
    return out


def to_dict(d, values: dict | None = None) -> dict:
    """The derivation as data; every Jacobian of the steps in the chosen layout."""
    t = d.trace
    den = d.layout == "denominator"

    def lay(node):
        return d._alg.transpose(node) if den else node

    def lay_shape(shape):
        return (shape.T if den else shape).as_list()

    def in_order(path):  # the product's order: reversed in denominator layout
        return list(reversed(path)) if den else list(path)

    out = {
        "mcalc": __version__,
        "input": d.input,
        "wrt": list(d.wrt),
        "layout": d.layout,
        # the definitions the function's text uses (h = …; y = sum(h)), first to last: with them it reads back
        "function": {"name": t.output, **_node(d, d.program.body),
                     "definitions": [{"name": n, **_node(d, e)} for n, e in d.program.definitions]},
        "variables": {n: {"kind": s.kind, "shape": s.as_list()} for n, s in d.variables().items()},
        "steps": {
            "intermediates": [{"name": i.name, **_node(d, i.expr), "kind": i.shape.kind,
                               "shape": i.shape.as_list()} for i in t.intermediates],
            "partials": [{"of": p.of, "by": p.by, **_node(d, lay(p.expr)), "shape": lay_shape(p.shape)}
                         for p in t.partials],
            "combine": [{"variable": c.variable, "rule": c.rule,
                         "paths": [[{"of": p.of, "by": p.by, "shape": lay_shape(p.shape)} for p in in_order(path)]
                                   for path in c.paths]
                         if c.paths else None,
                         **_node(d, lay(c.value)), "shape": lay_shape(c.shape), "identities": list(c.identities)}
                        for c in t.combinations],
            "substitute": [{"variable": s.variable, **_node(d, lay(s.value)), "shape": lay_shape(s.shape),
                            "shared": [{"name": n, **_node(d, e)} for n, e in s.shared]}
                           for s in t.substitutions],
        },
        "trace": _trace_rows(d),
        "rule": d.rule,
        "result": {"text": d.text, "unicode": d.unicode, "latex": d.latex, "shape": d.shape.as_list(),
                   "kind": d.shape.kind, "is": d.kind(), "description": answer_words(d),
                   "shared": [{"name": n, **_node(d, e)} for n, e in d.shared]},
        "notes": [*d.notes, *notes(d)],
    }
    if d.gradient is not None:  # a Hessian: its function is the gradient, derived first
        first = to_dict(d.gradient)
        out.update(order=2, symmetric=True, input=d.gradient.input, function=first["function"],
                   variables=first["variables"],
                   gradient={k: first[k] for k in ("steps", "rule", "result", "layout")})
        out["result"]["head"] = answer_head(d)
    if values is not None:
        function = d.gradient or d
        out["at"] = {k: v.plain() if hasattr(v, "plain") else v for k, v in values.items()
                     if k in function.variables()}
        out["value"] = [[x + 0.0 for x in row] for row in d.evaluate(values)]  # + 0.0: -0 is 0
    return out


def rich_view(d):
    """A rich renderable: the function, the four steps, the answer (for a
    Hessian, the gradient's four steps first). Lines of Text padded to columns
    rather than rich tables: a table's import and layout were a third of the
    terminal view's start-up."""
    from rich.console import Group
    from rich.text import Text

    if d.gradient is not None:
        g = d.gradient
        return Group(Text("First, the gradient:", style="bold underline"), *_rich_steps(g),
                     Text(f"\n{unicode_name(d.trace.output)} = ∇{unicode_name(g.trace.output)} = {g.unicode}   "
                          f"({answer_words(g)})\n"),
                     Text("Then its Jacobian, the Hessian:", style="bold underline"), *_rich_steps(d),
                     _rich_answer(d))
    return Group(*_rich_steps(d), _rich_answer(d))


def _rich_answer(d):
    from rich.panel import Panel
    from rich.text import Text

    answer = Text.assemble((f"{answer_head(d)} = ", "bold"), (d.unicode, "bold green"),
                           (f"   {answer_words(d)}", "dim"))
    for note in notes(d):
        answer.append(f"\nnote: {note}", style="dim")
    return Panel(answer, expand=False)


def _rich_steps(d) -> list:
    from rich.cells import cell_len
    from rich.text import Text

    def column(pairs, left_style="", right_style=""):
        """Two columns two spaces apart, as plain Text (a value such as [y, 0] is not markup)."""
        width = max((cell_len(a) for a, _ in pairs if cell_len(a) <= COLUMN_MAX), default=0)

        def gap(a: str) -> str:
            return " " * (max(width - cell_len(a), 0) + 2)
        return [Text.assemble((a, left_style), gap(a) if b else "", b) if isinstance(b, Text)
                else Text.assemble((a, left_style), (gap(a) + b if b else "", right_style))
                for a, b in pairs]

    head = [("function", Text(function_text(d)))]
    head += [("", Text.assemble((unicode_name(name), "cyan"), f"  {s.kind}, {s}")) for name, s in d.variables().items()]
    parts = column(head, "bold")
    for step in d.steps:
        parts.extend([Text(""), Text(step_title(step), style="bold")])
        rows, said = [], []
        for row in step.rows:
            lines = _row_lines(d, row, "unicode")
            for i, line in enumerate(lines):
                last = i == len(lines) - 1 and row.shape is not None
                shape = (_shape_words(row.shape) if step.number == 1 else str(row.shape)) if last else ""
                rows.append((line, shape))
            if row.note:
                said.append(Text(f"  ({note_text(row.note)})", style="italic dim"))
        parts.extend(column(rows or [("(none)", "")], right_style="dim"))
        parts.extend(said)  # below the rows: a long note does not push the shapes aside
    parts.append(Text(""))
    return parts
