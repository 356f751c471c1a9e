"""Renderings of a Derivation: plain text, rich, JSON and a LaTeX align* block.

All of them read the same Trace; the rich view is the plain one with colour
and tables (rich is imported only when a terminal asks for it).
"""
from __future__ import annotations

from . import __version__
from . import ast as A
from .latex import latex_name
from .text import unicode_name

KINK_NOTE = ("piecewise: a comparison such as (z > 0) is 1 where true, else 0, and sign(z) is 1, 0 or -1; "
             "at a kink (max, relu, abs at 0) the derivative is taken as 0 (the paper's convention)")


def _shape_words(shape) -> str:
    return f"{shape} {shape.kind}"


def _d(of: str, by: str, style: str = "unicode", d=None) -> str:
    if style == "latex":
        return f"\\frac{{\\partial {_tex(d, of)}}}{{\\partial {_tex(d, by)}}}"
    return f"∂{unicode_name(of)}/∂{unicode_name(by)}"


def _tex(d, name: str) -> str:
    """A name in LaTeX, bold when it names a vector."""
    shape = d.typing.variables.get(name) if d is not None else None
    return latex_name(name, bold=shape is not None and shape.is_vector)


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
    return out


def product_text(d, path) -> str:
    """The partials of one chain-rule path, multiplied as the paper writes them."""
    parts = []
    for p in path:
        text = d.print(p.expr, "unicode")
        if isinstance(p.expr, (A.Add, A.Sub, A.Neg)) or (isinstance(p.expr, A.Num) and p.expr.value < 0):
            text = f"({text})"
        parts.append(text)
    return " · ".join(parts) if parts else "1"


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


def answer_head(d) -> str:
    """∂y/∂w; for a Hessian ∂²y/∂x², ∂²y/∂x∂xᵀ or ∂²y/∂vec(X)∂vec(X)ᵀ."""
    if d.gradient is None:
        return f"∂{unicode_name(d.trace.output)}/∂{','.join(unicode_name(w) for w in d.wrt)}"
    y = unicode_name(d.gradient.trace.output)
    shapes = [d.typing.variables.get(w) for w in d.wrt]
    names = ",".join(unicode_name(w) for w in d.wrt)
    if len(d.wrt) == 1 and shapes[0] is not None and shapes[0].is_matrix:
        return f"∂²{y}/∂vec({names})∂vec({names})ᵀ"
    if all(s is None or s.is_scalar for s in shapes):
        return f"∂²{y}/∂{names}²" if len(d.wrt) == 1 else f"∂²{y}/∂({names})²"
    return f"∂²{y}/∂{names}∂{names}ᵀ"


def _steps_text(d) -> list[str]:
    t = d.trace
    out = [function_text(d)]
    var_words = ", ".join(f"{unicode_name(n)}: {s.kind} {s}" for n, s in d.variables().items())
    out.append(f"  variables: {var_words}")
    out.append("")
    out.append("1. Introduce intermediate variables")
    if not t.intermediates:
        out.append("   (none: the function is a single variable or constant)")
    width = max((len(unicode_name(i.name) + d.print(i.expr, "unicode")) for i in t.intermediates), default=0)
    for it in t.intermediates:
        left = f"{unicode_name(it.name)} = {d.print(it.expr, 'unicode')}"
        out.append(f"   {left:<{width + 4}}  {_shape_words(it.shape)}")
    if t.intermediates:
        out.append(f"   ({unicode_name(t.output)} = {unicode_name(t.intermediates[-1].name)})"
                   if t.output != t.intermediates[-1].name else "")
        if out[-1] == "":
            out.pop()
    out.append("")
    out.append("2. Compute the partials")
    if not t.partials:
        out.append("   (none)")
    lines = [f"{_d(p.of, p.by)} = {d.print(p.expr, 'unicode')}" for p in t.partials]
    width = max(map(len, lines), default=0)
    for line, p in zip(lines, t.partials):
        out.append(f"   {line:<{width}}   {p.shape}")
    out.append("")
    for c in t.combinations:
        rule = f" ({c.rule})" if c.rule else ""
        out.append(f"3. Combine{rule}")
        head = _d(t.output, c.variable)
        if c.paths:
            formula = " + ".join(" ".join(_d(p.of, p.by) for p in path) for path in c.paths)
            values = " + ".join(product_text(d, path) for path in c.paths)
            value = d.print(c.value, "unicode")
            out.append(f"   {head} = {formula}")
            out.append(f"   {' ' * len(head)} = {values}")
            if value != values:  # a single factor is already the value
                out.append(f"   {' ' * len(head)} = {value}")
        else:
            out.append(f"   {head} = {d.print(c.value, 'unicode')}")
        for identity in c.identities:
            out.append(f"   {' ' * len(head)}   using {identity}")
        out.append("")
    out.append("4. Substitute")
    for s in t.substitutions:
        out.append(f"   {_d(t.output, s.variable)} = {d.print(s.value, 'unicode')}    {s.shape}")
        for name, e in s.shared:
            out.append(f"     where {unicode_name(name)} = {d.print(e, 'unicode')}")
        if d.kind() == "gradient":
            w = unicode_name(s.variable)
            out.append(f"     (the row vec(G)ᵀ over vec({w}), laid out as Gᵀ: the gradient G is shaped like {w})")
    return out


def latex_steps(d) -> str:
    """The trace as one align* block (a Hessian: the gradient's, then the Hessian's)."""
    if d.gradient is not None:
        return latex_steps(d.gradient) + _latex_block(d)
    return _latex_block(d)


def _latex_block(d) -> str:
    t = d.trace
    rows = [f"{_tex(d, name)} &= {d.print(expr, 'latex')}" for name, expr in d.program.definitions]
    rows.append(f"{latex_name(t.output)} &= {d.print(d.program.body, 'latex')}")
    for it in t.intermediates:
        rows.append(f"{_tex(d, it.name)} &= {d.print(it.expr, 'latex')}")
    for p in t.partials:
        rows.append(f"{_d(p.of, p.by, 'latex', d)} &= {d.print(p.expr, 'latex')}")
    for c, s in zip(t.combinations, t.substitutions):
        head = _d(t.output, c.variable, "latex", d)
        if c.paths:
            formula = " + ".join(" ".join(_d(p.of, p.by, "latex", d) for p in path) for path in c.paths)
            rows.append(f"{head} &= {formula}")
            head = ""
        rows.append(f"{head} &= {d.print(c.value, 'latex')}")
        rows.append(f" &= {d.print(s.value, 'latex')}")
    if len(d.wrt) > 1 or d.layout != "numerator":
        rows.append(f" &= {d.latex}")
    return "\\begin{align*}\n" + " \\\\\n".join(rows) + "\n\\end{align*}\n"


def _node(d, node) -> dict:
    return {"text": d.print(node, "text"), "unicode": d.print(node, "unicode"),
            "latex": d.print(node, "latex")}


def to_dict(d, values: dict | None = None) -> dict:
    t = d.trace
    out = {
        "mcalc": __version__,
        "input": d.input,
        "wrt": list(d.wrt),
        "layout": d.layout,
        "function": {"name": t.output, **_node(d, d.program.body)},
        "variables": {n: {"kind": s.kind, "shape": s.as_list()} for n, s in d.variables().items()},
        "steps": {
            "intermediates": [{"name": i.name, **_node(d, i.expr), "kind": i.shape.kind,
                               "shape": i.shape.as_list()} for i in t.intermediates],
            "partials": [{"of": p.of, "by": p.by, **_node(d, p.expr), "shape": p.shape.as_list()}
                         for p in t.partials],
            "combine": [{"variable": c.variable, "rule": c.rule,
                         "paths": [[{"of": p.of, "by": p.by} for p in path] for path in c.paths]
                         if c.paths else None,
                         **_node(d, c.value), "shape": c.shape.as_list(), "identities": list(c.identities)}
                        for c in t.combinations],
            "substitute": [{"variable": s.variable, **_node(d, s.value), "shape": s.shape.as_list(),
                            "shared": [{"name": n, **_node(d, e)} for n, e in s.shared]}
                           for s in t.substitutions],
        },
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
        out["value"] = d.evaluate(values)
    return out


def rich_view(d):
    """A rich renderable: the function, the four steps, the answer (for a
    Hessian, the gradient's four steps first)."""
    from rich.console import Group
    from rich.panel import Panel
    from rich.table import Table
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
    from rich.table import Table
    from rich.text import Text

    def _row(table, *cells):  # plain text: [y, 0] is a value, not rich markup
        table.add_row(*(Text(c) if isinstance(c, str) else c for c in cells))

    t = d.trace
    head = Table.grid(padding=(0, 2))
    head.add_column(style="bold")
    head.add_column()
    _row(head, "function", function_text(d))
    for name, s in d.variables().items():
        _row(head, "", Text.assemble((unicode_name(name), "cyan"), f"  {s.kind}, {s}"))

    parts = [head]

    def table(title: str) -> Table:
        parts.extend([Text(""), Text(title, style="bold")])
        tab = Table(show_header=False, box=None, padding=(0, 2))
        tab.add_column()
        tab.add_column(style="dim")
        parts.append(tab)
        return tab

    step1 = table("1. Introduce intermediate variables")
    for it in t.intermediates:
        _row(step1, f"{unicode_name(it.name)} = {d.print(it.expr, 'unicode')}", _shape_words(it.shape))
    if not t.intermediates:
        _row(step1, "(none: a single variable or constant)", "")
    step2 = table("2. Compute the partials")
    for p in t.partials:
        _row(step2, f"{_d(p.of, p.by)} = {d.print(p.expr, 'unicode')}", str(p.shape))
    for c in t.combinations:
        step3 = table(f"3. Combine{f' — {c.rule}' if c.rule else ''}")
        lead = _d(t.output, c.variable)
        value = d.print(c.value, "unicode")
        if c.paths:
            values = " + ".join(product_text(d, path) for path in c.paths)
            _row(step3, f"{lead} = " + " + ".join(" ".join(_d(p.of, p.by) for p in path) for path in c.paths), "")
            lead = " " * len(lead)
            if values == value:  # a single factor is already the value
                _row(step3, f"{lead} = {value}", str(c.shape))
                continue
            _row(step3, f"{lead} = {values}", "")
        _row(step3, f"{lead} = {value}", str(c.shape))
    step4 = table("4. Substitute")
    for s in t.substitutions:
        _row(step4, f"{_d(t.output, s.variable)} = {d.print(s.value, 'unicode')}", str(s.shape))
        for name, e in s.shared:
            _row(step4, f"  where {unicode_name(name)} = {d.print(e, 'unicode')}", "")
    parts.append(Text(""))
    return parts
