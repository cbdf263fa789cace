"""Charts as PNG images, drawn with matplotlib's object API (Figure + Agg canvas: no pyplot global state, safe in
worker threads)."""
from __future__ import annotations

import io

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator

from .document import Chart

PALETTE = ("#2563eb", "#16a34a", "#f59e0b", "#dc2626", "#7c3aed", "#0891b2", "#db2777", "#65a30d", "#9ca3af")
DPI = 110


def _short(value: float) -> str:
    magnitude = abs(value)
    if magnitude >= 1_000_000:
        return f"{value / 1_000_000:.1f}M"
    if magnitude >= 1_000:
        return f"{value / 1_000:.0f}k" if magnitude >= 10_000 else f"{value / 1_000:.1f}k"
    return f"{value:.0f}"


def chart_png(chart: Chart, *, width_in: float = 7.0, height_in: float = 3.0) -> bytes:
    figure = Figure(figsize=(width_in, height_in), dpi=DPI)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot(1, 1, 1)
    names = list(chart.series)
    if chart.kind == "pie":
        values = chart.series[names[0]]
        pairs = [(label, value) for label, value in zip(chart.labels, values, strict=False) if value > 0]
        if pairs:
            axes.pie([v for _, v in pairs], labels=[label for label, _ in pairs], colors=PALETTE[:len(pairs)],
                     autopct="%1.0f%%", textprops={"fontsize": 8}, startangle=90, counterclock=False)
        axes.set_aspect("equal")
    elif chart.kind == "bar":
        count = max(len(names), 1)
        width = 0.8 / count
        positions = range(len(chart.labels))
        for i, name in enumerate(names):
            axes.bar([p + (i - (count - 1) / 2) * width for p in positions], chart.series[name], width=width,
                     label=name, color=PALETTE[i % len(PALETTE)])
        axes.set_xticks(list(positions))
        axes.set_xticklabels(chart.labels, fontsize=8, rotation=20 if len(chart.labels) > 4 else 0, ha="right"
                             if len(chart.labels) > 4 else "center")
    else:
        for i, name in enumerate(names):
            axes.plot(range(len(chart.labels)), chart.series[name], label=name, color=PALETTE[i % len(PALETTE)],
                      linewidth=1.6)
        step = max(1, len(chart.labels) // 8)
        axes.set_xticks(list(range(0, len(chart.labels), step)))
        axes.set_xticklabels([chart.labels[i][5:] if len(chart.labels[i]) == 10 else chart.labels[i]
                              for i in range(0, len(chart.labels), step)], fontsize=8)
    if chart.kind != "pie":
        axes.yaxis.set_major_formatter(FuncFormatter(lambda v, _: _short(v)))
        axes.yaxis.set_major_locator(MaxNLocator(5))
        axes.tick_params(axis="y", labelsize=8)
        axes.grid(axis="y", alpha=0.3)
        for side in ("top", "right"):
            axes.spines[side].set_visible(False)
        if len(names) > 1:
            axes.legend(fontsize=8, frameon=False)
    axes.set_title(chart.title, fontsize=10, loc="left")
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()
