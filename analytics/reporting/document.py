"""A report as format-neutral blocks; the PDF, CSV and XLSX renderers each draw the same document.

Tables keep raw values (numbers stay numbers) and a kind per column (`text`, `int`, `number`, `money`,
`percent`, `ratio`) that decides how they are shown; a chart carries its data, and in CSV/XLSX it becomes the
table of that data.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from campaigns.selectors.common import format_money


@dataclass
class Heading:
    text: str
    level: int = 1


@dataclass
class Paragraph:
    text: str


@dataclass
class Table:
    title: str
    columns: list[str]
    kinds: list[str]  # per column; "row" = the row's kind in `row_kinds` (a table of different metrics)
    rows: list[list]
    row_kinds: list[str] | None = None

    def kind(self, row: int, column: int) -> str:
        kind = self.kinds[column]
        return self.row_kinds[row] if kind == "row" and self.row_kinds else kind


@dataclass
class Chart:
    title: str
    kind: str  # line | bar | pie
    labels: list[str]
    series: dict[str, list[float]]
    unit: str = ""  # money | count | percent

    def as_table(self) -> Table:
        kind = {"money": "money", "percent": "percent"}.get(self.unit, "number")
        columns = ["label", *self.series]
        rows = [[label, *(values[i] for values in self.series.values())] for i, label in enumerate(self.labels)]
        return Table(title=self.title, columns=columns, kinds=["text"] + [kind] * len(self.series), rows=rows)


@dataclass
class PageBreak:
    pass


@dataclass
class Document:
    title: str
    subtitle: str
    currency: str
    blocks: list = field(default_factory=list)
    meta: dict = field(default_factory=dict)

    def add(self, *blocks) -> None:
        self.blocks.extend(blocks)

    def tables(self) -> list[Table]:
        """Every table, charts included as their data (CSV and XLSX)."""
        out = []
        for block in self.blocks:
            if isinstance(block, Table):
                out.append(block)
            elif isinstance(block, Chart):
                out.append(block.as_table())
        return out


def format_value(value, kind: str, currency: str) -> str:
    if value is None:
        return "–"
    if kind == "money":
        return format_money(value, currency)
    if kind == "percent":
        return f"{float(value):.2f}%"
    if kind == "ratio":
        return f"{float(value):.2f}"
    if kind == "int":
        return f"{int(value):,}"
    if kind == "number":
        number = float(value)
        return f"{number:,.0f}" if number.is_integer() else f"{number:,.2f}"
    return str(value)
