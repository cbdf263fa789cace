"""The overview's charts as inline SVG, drawn server-side with matplotlib's SVG backend (Figure + FigureCanvasSVG:
no pyplot global state, safe in worker threads). Text stays text (`svg.fonttype: none`), so the page needs no font
files and no script, and works offline; each chart gets its own id salt so clip paths of two charts never collide."""
from __future__ import annotations

import io

import matplotlib
from matplotlib.backends.backend_svg import FigureCanvasSVG
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator

PALETTE = ("#2563eb", "#16a34a", "#f59e0b", "#dc2626", "#7c3aed", "#0891b2", "#db2777", "#65a30d")


def _short(value: float) -> str:
    magnitude = abs(value)
    if magnitude >= 1_000_000:
        return f"{value / 1_000_000:.1f}M"
    if magnitude >= 10_000:
        return f"{value / 1_000:.0f}k"
    if magnitude >= 1_000:
        return f"{value / 1_000:.1f}k"
    return f"{value:g}"


def chart_svg(*, key: str, title: str, labels: list[str], series: dict[str, list[float]], kind: str = "line") -> str:
    """One chart over time: `series` maps a name (a currency, "new tenants") to one value per label."""
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": f"console-{key}", "font.size": 8}):
        figure = Figure(figsize=(5.6, 2.3))
        FigureCanvasSVG(figure)
        axes = figure.add_subplot(1, 1, 1)
        positions = list(range(len(labels)))
        names = list(series) or ["—"]
        for i, name in enumerate(names):
            values = series.get(name, [0.0] * len(labels))
            color = PALETTE[i % len(PALETTE)]
            if kind == "bar":
                width = 0.8 / len(names)
                axes.bar([p + (i - (len(names) - 1) / 2) * width for p in positions], values, width=width,
                         label=name, color=color)
            else:
                axes.plot(positions, values, label=name, color=color, linewidth=1.6, marker="o" if
                          len(labels) <= 16 else None, markersize=3)
        step = max(1, -(-len(labels) // 7))
        axes.set_xticks(positions[::step])
        axes.set_xticklabels(labels[::step])
        axes.yaxis.set_major_formatter(FuncFormatter(lambda v, _: _short(v)))
        axes.yaxis.set_major_locator(MaxNLocator(5, integer=kind == "bar"))
        axes.set_ylim(bottom=0)
        axes.grid(axis="y", alpha=0.3)
        for side in ("top", "right"):
            axes.spines[side].set_visible(False)
        if len(series) > 1 or (series and kind == "line" and list(series) != [title]):
            axes.legend(frameon=False, fontsize=7)
        axes.set_title(title, loc="left", fontsize=9)
        figure.subplots_adjust(left=0.09, right=0.98, top=0.88, bottom=0.14)
        buffer = io.StringIO()
        figure.savefig(buffer, format="svg")
    svg = buffer.getvalue()
    return svg[svg.index("<svg"):]  # inline: without the XML declaration and DOCTYPE
