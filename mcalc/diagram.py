"""The paper's dataflow diagram (§4.5.1, §4.5.2): the variables and the
intermediates as nodes, from the variables at the bottom to the function at
the top, each edge labelled with its partial, and the paths the chain rule
multiplies along (and sums over) drawn in colour.

Written as SVG or as Graphviz DOT, both deterministic.  The layout is the
layered one the paper draws: each node one layer above the highest of its
arguments, an edge that skips layers bent through the layers between, and the
nodes of a layer ordered by the mean position of their arguments (a few
sweeps down and up).  No library: the graphs are small, and the layered
layouts on PyPI are GPL-licensed or import NumPy.
"""
from __future__ import annotations

from typing import NamedTuple
from xml.sax.saxutils import escape

from . import ast as A
from .text import unicode_name

FONT = 14          # px
CHAR = 8.4         # px: the width of one character at FONT, a monospace estimate
PAD = 10           # px inside a node box
LAYER_GAP = 110    # px between layers
NODE_GAP = 36      # px between neighbours in a layer
MARGIN = 24
SWEEPS = 4
HIGHLIGHT = "#c0392b"
PLAIN = "#7f8c8d"


class Node(NamedTuple):
    name: str
    label: str
    kind: str  # variable, intermediate, output


class Edge(NamedTuple):
    source: str
    target: str
    label: str       # ∂target/∂source = value, or "" where nothing moves
    highlight: bool  # on a path the chain rule multiplies along


class Graph(NamedTuple):
    nodes: tuple[Node, ...]
    edges: tuple[Edge, ...]


def dataflow(d) -> Graph:
    """The derivation's dataflow graph: variables, intermediates, and an edge
    from each argument to the intermediate that uses it."""
    t = d.trace
    items = {it.name: it for it in t.intermediates}
    partials = {(p.of, p.by): p for p in t.partials}
    names: list[str] = []
    edges: list[tuple[str, str]] = []
    for it in t.intermediates:
        for arg in _arguments(it.expr):
            if arg not in names and arg not in items:
                names.append(arg)
            if (arg, it.name) not in edges:
                edges.append((arg, it.name))
    order = names + [it.name for it in t.intermediates]
    for w in d.wrt:  # a variable the function does not use still stands, alone
        if w not in order:
            order.insert(0, w)
    output = t.intermediates[-1].name if t.intermediates else (order[0] if order else t.output)
    if not order:
        order = [output]
    hot = _on_paths(edges, set(d.wrt), output)
    nodes = []
    for name in order:
        if name in items:
            label = f"{unicode_name(name)} = {d.print(items[name].expr, 'unicode')}"
            kind = "intermediate"
            if name == output and name != t.output:
                label = f"{unicode_name(t.output)} = {label}"
            if name == output:
                kind = "output"
        else:
            label = unicode_name(name)
            kind = "output" if name == output else "variable"
        nodes.append(Node(name, label, kind))
    out_edges = []
    for source, target in edges:
        p = partials.get((target, source))
        label = ""
        if p is not None:
            expr = d._alg.transpose(p.expr) if d.layout == "denominator" else p.expr
            label = f"∂{unicode_name(target)}/∂{unicode_name(source)} = {d.print(expr, 'unicode')}"
        out_edges.append(Edge(source, target, label, (source, target) in hot))
    return Graph(tuple(nodes), tuple(out_edges))


def _arguments(expr: A.Node) -> list[str]:
    """The names an intermediate's expression uses, in order, once each."""
    out: list[str] = []
    for n in A.walk(expr):
        if isinstance(n, A.Var) and n.name not in out:
            out.append(n.name)
    return out


def _on_paths(edges, sources: set[str], output: str) -> set[tuple[str, str]]:
    """The edges on some path from a source to the output."""
    down: dict[str, set[str]] = {}
    for s, t in edges:
        down.setdefault(s, set()).add(t)
    reaches_out = {output}
    changed = True
    while changed:
        changed = False
        for s, t in edges:
            if t in reaches_out and s not in reaches_out:
                reaches_out.add(s)
                changed = True
    from_source = set(sources)
    stack = list(sources)
    while stack:
        for t in down.get(stack.pop(), ()):
            if t not in from_source:
                from_source.add(t)
                stack.append(t)
    return {(s, t) for s, t in edges if s in from_source and t in reaches_out}


# -- layout ---------------------------------------------------------------------
class _Placed(NamedTuple):
    x: dict[str, float]       # centre
    y: dict[str, float]       # centre
    width: dict[str, float]
    routes: dict[tuple[str, str], list[tuple[float, float]]]
    size: tuple[float, float]
    labels: dict[Edge, tuple[float, float]]  # the x extent of each edge label, once drawn


def _text_width(text: str) -> float:
    return len(text) * CHAR


def layout(g: Graph) -> _Placed:
    layer: dict[str, int] = {}
    args: dict[str, list[str]] = {}
    for e in g.edges:
        args.setdefault(e.target, []).append(e.source)
    for n in g.nodes:  # the nodes come in an order where arguments stand first
        layer[n.name] = 1 + max((layer[a] for a in args.get(n.name, ())), default=-1)
    # An edge over several layers runs through a point in each layer between.
    chains: dict[tuple[str, str], list[str]] = {}
    rows: dict[int, list[str]] = {}
    for n in g.nodes:
        rows.setdefault(layer[n.name], []).append(n.name)
    width = {n.name: _text_width(n.label) + 2 * PAD for n in g.nodes}
    for e in g.edges:
        chain = [e.source]
        for k in range(layer[e.source] + 1, layer[e.target]):
            point = f"\0{e.source}\0{e.target}\0{k}"
            rows.setdefault(k, []).append(point)
            width[point] = max(_text_width(e.label) * 0.25, 8.0)
            layer[point] = k
            chain.append(point)
        chain.append(e.target)
        chains[(e.source, e.target)] = chain
    up: dict[str, list[str]] = {}
    down: dict[str, list[str]] = {}
    for chain in chains.values():
        for a, b in zip(chain, chain[1:]):
            up.setdefault(b, []).append(a)
            down.setdefault(a, []).append(b)
    top = max(rows)
    order = {k: list(v) for k, v in rows.items()}
    for sweep in range(SWEEPS):  # barycentres: upwards from the arguments, then downwards
        for k in (range(1, top + 1) if sweep % 2 == 0 else range(top - 1, -1, -1)):
            near = up if sweep % 2 == 0 else down
            ref = {name: i for i, name in enumerate(order.get(k - 1 if sweep % 2 == 0 else k + 1, []))}
            keyed = []
            for i, name in enumerate(order[k]):
                pos = [ref[m] for m in near.get(name, ()) if m in ref]
                keyed.append((sum(pos) / len(pos) if pos else i, i, name))
            order[k] = [name for _, _, name in sorted(keyed)]
    x: dict[str, float] = {}
    widest = max(sum(width[n] for n in row) + NODE_GAP * (len(row) - 1) for row in order.values())
    for k, row in order.items():
        total = sum(width[n] for n in row) + NODE_GAP * (len(row) - 1)
        at = MARGIN + (widest - total) / 2
        for name in row:
            x[name] = at + width[name] / 2
            at += width[name] + NODE_GAP
    height = FONT + 2 * PAD
    y = {name: MARGIN + height / 2 + (top - layer[name]) * LAYER_GAP for name in layer}
    routes = {key: [(x[p], y[p]) for p in chain] for key, chain in chains.items()}
    size = (widest + 2 * MARGIN, top * LAYER_GAP + height + 2 * MARGIN)
    return _Placed(x, y, width, routes, size, {})


# -- SVG ------------------------------------------------------------------------
def svg(d) -> str:
    g = dataflow(d)
    p = layout(g)
    half = (FONT + 2 * PAD) / 2
    body = _svg_body(g, p, half)
    lo, hi = _extent(g, p)
    w, h = hi - lo + 2 * MARGIN, p.size[1]
    head = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w:.0f}" height="{h:.0f}" '
            f'viewBox="{lo - MARGIN:.0f} 0 {w:.0f} {h:.0f}" '
            f'font-family="DejaVu Sans Mono, Menlo, Consolas, monospace" font-size="{FONT}">',
            f"<title>{escape(_title(d))}</title>",
            f'<rect x="{lo - MARGIN:.0f}" width="{w:.0f}" height="{h:.0f}" fill="white"/>']
    return "\n".join(head + body + ["</svg>"]) + "\n"


def _extent(g: Graph, p: _Placed) -> tuple[float, float]:
    """The leftmost and rightmost x that nodes and edge labels reach."""
    xs = [p.x[n.name] - p.width[n.name] / 2 for n in g.nodes] + [p.x[n.name] + p.width[n.name] / 2 for n in g.nodes]
    xs += [x for lo, hi in p.labels.values() for x in (lo, hi)]
    return min(xs), max(xs)


def _svg_body(g: Graph, p: _Placed, half: float) -> list[str]:
    out = ['<defs>'
           f'<marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerUnits="userSpaceOnUse" markerWidth="9" '
           f'markerHeight="9" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="{PLAIN}"/></marker>'
           f'<marker id="arrow-hot" viewBox="0 0 10 10" refX="10" refY="5" markerUnits="userSpaceOnUse" '
           f'markerWidth="11" markerHeight="11" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="{HIGHLIGHT}"/>'
           f'</marker>'
           '</defs>']
    labels = []
    starts, ends = _ports(g, p)
    for e in g.edges:
        pts = list(p.routes[(e.source, e.target)])
        pts[0] = (starts[e], pts[0][1] - half)   # from the top of the argument
        pts[-1] = (ends[e], pts[-1][1] + half)   # to the bottom of the node that uses it
        colour, marker, stroke = (HIGHLIGHT, "arrow-hot", 2.4) if e.highlight else (PLAIN, "arrow", 1.2)
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in pts)
        out.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="{stroke}" '
                   f'marker-end="url(#{marker})"/>')
        if e.label:
            (x0, y0), (x1, y1) = pts[-2], pts[-1]  # on the last segment, next to the node it enters
            side = (ends[e] > p.x[e.target] + 1) - (ends[e] < p.x[e.target] - 1)  # right, left or centre
            labels.append((e, (x0 + x1) / 2, (y0 + y1) / 2, side, colour))
    for e, lx, ly, side, colour in labels:  # labels above the edges, beside them where several meet
        tw = _text_width(e.label) * 0.86
        left = {-1: lx - tw - 6, 0: lx - tw / 2, 1: lx + 6}[side]
        p.labels[e] = (left - 3, left + tw + 3)
        out.append(f'<rect x="{left - 3:.1f}" y="{ly - 9:.1f}" width="{tw + 6:.1f}" height="17" '
                   f'fill="white" fill-opacity="0.9"/>')
        out.append(f'<text x="{left + tw / 2:.1f}" y="{ly + 4:.1f}" text-anchor="middle" font-size="{FONT - 2}" '
                   f'fill="{colour}">{escape(e.label)}</text>')
    for n in g.nodes:
        cx, cy, nw = p.x[n.name], p.y[n.name], p.width[n.name]
        fill = {"variable": "#eef5fb", "intermediate": "#fdfdfd", "output": "#fdf2e9"}[n.kind]
        rx = half if n.kind == "variable" else 6
        out.append(f'<rect x="{cx - nw / 2:.1f}" y="{cy - half:.1f}" width="{nw:.1f}" height="{2 * half:.1f}" '
                   f'rx="{rx:.1f}" fill="{fill}" stroke="#34495e"/>')
        out.append(f'<text x="{cx:.1f}" y="{cy + FONT * 0.35:.1f}" text-anchor="middle">{escape(n.label)}</text>')
    return out


def _ports(g: Graph, p: _Placed) -> tuple[dict[Edge, float], dict[Edge, float]]:
    """Where each edge leaves its argument's top and enters its node's bottom:
    spread along the box in the order of the other ends, so that edges meeting
    at one node do not meet at one point (nor do their labels)."""
    starts: dict[Edge, float] = {}
    ends: dict[Edge, float] = {}
    for ports, end, other in ((starts, 0, -1), (ends, -1, 0)):
        by_node: dict[str, list[Edge]] = {}
        for e in g.edges:
            by_node.setdefault(e.source if end == 0 else e.target, []).append(e)
        for name, edges in by_node.items():
            edges.sort(key=lambda e: p.routes[(e.source, e.target)][other + (1 if other == 0 else -1)][0])
            span = min(p.width[name] * 0.7, 48 * (len(edges) - 1))
            for i, e in enumerate(edges):
                offset = span * (i / (len(edges) - 1) - 0.5) if len(edges) > 1 else 0.0
                ports[e] = p.x[name] + offset
    return starts, ends


def _title(d) -> str:
    wrt = ", ".join(unicode_name(w) for w in d.wrt)
    return f"dataflow of {unicode_name(d.trace.output)} = {d.print(d.program.body, 'unicode')}, paths to {wrt}"


# -- DOT ------------------------------------------------------------------------
def dot(d) -> str:
    """The same graph as Graphviz DOT (rank from the variables up, as the paper draws it)."""
    g = dataflow(d)
    out = ["digraph dataflow {", "  rankdir=BT;", '  node [shape=box, fontname="monospace"];',
           '  edge [fontname="monospace", fontsize=11];', f"  label={_quote(_title(d))};"]
    for n in g.nodes:
        style = {"variable": ', style="rounded,filled", fillcolor="#eef5fb"',
                 "output": ', style=filled, fillcolor="#fdf2e9"'}.get(n.kind, "")
        out.append(f"  {_quote(n.name)} [label={_quote(n.label)}{style}];")
    for e in g.edges:
        attrs = [f"label={_quote(e.label)}"] if e.label else []
        attrs.append(f'color="{HIGHLIGHT}", penwidth=2.4' if e.highlight else f'color="{PLAIN}"')
        out.append(f"  {_quote(e.source)} -> {_quote(e.target)} [{', '.join(attrs)}];")
    out.append("}")
    return "\n".join(out) + "\n"


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
