"""Documents to files: PDF (reportlab, charts as matplotlib images), CSV and XLSX (openpyxl).

PDF text uses DejaVu Sans (shipped with matplotlib) so any campaign name prints, not only Latin-1. CSV holds
every table one after another (a title row, a header row, the rows, a blank row), cells guarded against formula
injection; XLSX has a summary sheet and one sheet per table, numbers as numbers with display formats.
"""
from __future__ import annotations

import io
import os
import re
from dataclasses import dataclass
from functools import lru_cache
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.enums import TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFError, TTFont
from reportlab.platypus import Image, KeepTogether, PageBreak, Paragraph, SimpleDocTemplate, Spacer, TableStyle
from reportlab.platypus import Table as PdfTable

from stratum.api.csvsafe import csv_safe, csv_writer

from . import document as d
from .charts import chart_png

CONTENT_TYPES = {"pdf": "application/pdf", "csv": "text/csv",
                 "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}
MAX_TABLE_ROWS_PDF = 500


@dataclass
class Rendered:
    content: bytes
    page_count: int | None = None


@lru_cache(maxsize=1)
def _fonts() -> tuple[str, str]:
    import matplotlib

    folder = os.path.join(matplotlib.get_data_path(), "fonts", "ttf")
    try:
        pdfmetrics.registerFont(TTFont("StratumSans", os.path.join(folder, "DejaVuSans.ttf")))
        pdfmetrics.registerFont(TTFont("StratumSans-Bold", os.path.join(folder, "DejaVuSans-Bold.ttf")))
        return "StratumSans", "StratumSans-Bold"
    except (OSError, TTFError):  # a trimmed matplotlib install: fall back to the built-in font
        return "Helvetica", "Helvetica-Bold"


def _styles():
    regular, bold = _fonts()
    return {
        "title": ParagraphStyle("title", fontName=bold, fontSize=18, leading=22, spaceAfter=4),
        "subtitle": ParagraphStyle("subtitle", fontName=regular, fontSize=9.5, leading=12,
                                   textColor=colors.HexColor("#4b5563"), spaceAfter=10),
        "h1": ParagraphStyle("h1", fontName=bold, fontSize=12.5, leading=16, spaceBefore=10, spaceAfter=5),
        "h2": ParagraphStyle("h2", fontName=bold, fontSize=14, leading=18, spaceBefore=4, spaceAfter=4),
        "body": ParagraphStyle("body", fontName=regular, fontSize=9, leading=12, spaceAfter=6),
        "cell": ParagraphStyle("cell", fontName=regular, fontSize=7.8, leading=9.5),
        "cell_right": ParagraphStyle("cell_right", fontName=regular, fontSize=7.8, leading=9.5, alignment=TA_RIGHT),
        "head": ParagraphStyle("head", fontName=bold, fontSize=7.8, leading=9.5),
        "bold": bold, "regular": regular,
    }


def _column_widths(table: d.Table, texts: list[list[str]], styles, width: float) -> tuple[list[float], float]:
    """Numbers never wrap: numeric columns get their natural width, text columns share the rest (wrapping); when
    even the numbers do not fit, the font shrinks (down to 5.5 pt)."""
    size, padding = styles["cell"].fontSize, 8.0
    natural = []
    for c, column in enumerate(table.columns):
        longest_word = max((pdfmetrics.stringWidth(w, styles["bold"], size) for w in column.split()), default=0)
        cells = [pdfmetrics.stringWidth(row[c], styles["regular"], size) for row in texts]
        natural.append(max([longest_word, *cells]) + padding)
    text_columns = [c for c, kind in enumerate(table.kinds) if kind == "text"]
    fixed = sum(w for c, w in enumerate(natural) if c not in text_columns)
    minimum_text = 22 * mm
    room = width - fixed
    if text_columns and room >= minimum_text * len(text_columns):
        wanted = sum(natural[c] for c in text_columns)
        scale = min(1.0, room / wanted) if wanted else 1.0
        widths = [natural[c] * scale if c in text_columns else natural[c] for c in range(len(natural))]
        spare = width - sum(widths)
        widths[text_columns[0]] += max(spare, 0)  # the first text column (names) takes what is left
        return widths, size
    total = fixed + minimum_text * len(text_columns)
    shrink = max(width / total, 5.5 / size)
    return [(minimum_text if c in text_columns else natural[c]) * shrink for c in range(len(natural))], size * shrink


def _pdf_table(table: d.Table, styles, currency: str, width: float):
    rows = table.rows[:MAX_TABLE_ROWS_PDF]
    texts = [[d.format_value(value, table.kind(r, c), currency) for c, value in enumerate(row)]
             for r, row in enumerate(rows)]
    widths, size = _column_widths(table, texts, styles, width)
    cell = ParagraphStyle("cell_fit", parent=styles["cell"], fontSize=size, leading=size * 1.22)
    right = ParagraphStyle("right_fit", parent=styles["cell_right"], fontSize=size, leading=size * 1.22)
    head = ParagraphStyle("head_fit", parent=styles["head"], fontSize=size, leading=size * 1.22)
    data = [[Paragraph(escape(c), head) for c in table.columns]]
    for r, row in enumerate(texts):
        data.append([Paragraph(escape(text), cell if table.kind(r, c) == "text" else right)
                     for c, text in enumerate(row)])
    pdf_table = PdfTable(data, colWidths=widths, repeatRows=1)
    pdf_table.setStyle(TableStyle([
        ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#eef2ff")),
        ("LINEBELOW", (0, 0), (-1, 0), 0.6, colors.HexColor("#6366f1")),
        ("ROWBACKGROUNDS", (0, 1), (-1, -1), [colors.white, colors.HexColor("#f9fafb")]),
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
        ("TOPPADDING", (0, 0), (-1, -1), 2.5), ("BOTTOMPADDING", (0, 0), (-1, -1), 2.5),
        ("LEFTPADDING", (0, 0), (-1, -1), 3), ("RIGHTPADDING", (0, 0), (-1, -1), 3),
    ]))
    blocks = [Paragraph(escape(table.title), styles["h1"]), pdf_table]
    if len(table.rows) > MAX_TABLE_ROWS_PDF:
        blocks.append(Paragraph(f"{len(table.rows) - MAX_TABLE_ROWS_PDF} more rows in the CSV/XLSX export.",
                                styles["body"]))
    return blocks


def render_pdf(doc: d.Document) -> Rendered:
    styles = _styles()
    buffer = io.BytesIO()
    template = SimpleDocTemplate(buffer, pagesize=A4, leftMargin=16 * mm, rightMargin=16 * mm, topMargin=16 * mm,
                                 bottomMargin=16 * mm, title=doc.title, author="Stratum")
    width = A4[0] - 32 * mm
    story = [Paragraph(escape(doc.title), styles["title"]), Paragraph(escape(doc.subtitle), styles["subtitle"])]
    for block in doc.blocks:
        if isinstance(block, d.Heading):
            story.append(Paragraph(escape(block.text), styles["h2" if block.level > 1 else "h1"]))
        elif isinstance(block, d.Paragraph):
            story.append(Paragraph(escape(block.text), styles["body"]))
        elif isinstance(block, d.Table):
            parts = _pdf_table(block, styles, doc.currency, width)
            story.append(KeepTogether(parts) if len(block.rows) <= 25 else parts[0])
            if len(block.rows) > 25:
                story.extend(parts[1:])
        elif isinstance(block, d.Chart):
            png = chart_png(block)
            story.append(Image(io.BytesIO(png), width=width, height=width * 3 / 7))
            story.append(Spacer(1, 4))
        elif isinstance(block, d.PageBreak):
            story.append(PageBreak())

    def footer(canvas, page_doc):
        canvas.saveState()
        canvas.setFont(styles["regular"], 7.5)
        canvas.setFillColor(colors.HexColor("#6b7280"))
        canvas.drawString(16 * mm, 9 * mm, f"{doc.title} · generated {doc.meta.get('generated_at', '')} UTC")
        canvas.drawRightString(A4[0] - 16 * mm, 9 * mm, f"Page {page_doc.page}")
        canvas.restoreState()

    template.build(story, onFirstPage=footer, onLaterPages=footer)
    return Rendered(buffer.getvalue(), page_count=template.page)


def render_csv(doc: d.Document) -> Rendered:
    buffer = io.StringIO()
    writer = csv_writer(buffer)
    writer.writerow([csv_safe(doc.title)])
    writer.writerow([csv_safe(doc.subtitle)])
    writer.writerow([])
    for table in doc.tables():
        writer.writerow([csv_safe(table.title)])
        writer.writerow([csv_safe(c) for c in table.columns])
        for row in table.rows:
            writer.writerow([csv_safe(value) for value in row])
        writer.writerow([])
    return Rendered(buffer.getvalue().encode("utf-8"))


XLSX_FORMATS = {"money": "#,##0.00", "percent": "0.00", "ratio": "0.00", "int": "#,##0", "number": "#,##0.##"}


def _sheet_name(title: str, used: set[str]) -> str:
    base = re.sub(r"[\[\]:*?/\\]", " ", title).strip()[:28] or "Sheet"
    name, n = base, 2
    while name.lower() in used:
        name, n = f"{base[:25]} {n}", n + 1
    used.add(name.lower())
    return name


def _cell(value):
    """Text that a spreadsheet would run as a formula is kept as text."""
    if isinstance(value, str):
        return csv_safe(value)
    return value


def render_xlsx(doc: d.Document) -> Rendered:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    workbook = Workbook()
    summary = workbook.active
    summary.title = "Summary"
    used = {"summary"}
    summary.append([_cell(doc.title)])
    summary["A1"].font = Font(bold=True, size=14)
    summary.append([_cell(doc.subtitle)])
    for key, value in doc.meta.items():
        summary.append([key, _cell(str(value))])
    summary.column_dimensions["A"].width = 28
    summary.column_dimensions["B"].width = 40
    for table in doc.tables():
        sheet = workbook.create_sheet(_sheet_name(table.title, used))
        sheet.append([_cell(c) for c in table.columns])
        for cell in sheet[1]:
            cell.font = Font(bold=True)
        for r, row in enumerate(table.rows):
            sheet.append([_cell(v) for v in row])
            for c, cell in enumerate(sheet[sheet.max_row]):
                fmt = XLSX_FORMATS.get(table.kind(r, c))
                if fmt and isinstance(cell.value, (int, float)):
                    cell.number_format = fmt
        for c, column in enumerate(table.columns):
            letter = sheet.cell(row=1, column=c + 1).column_letter
            longest = max([len(str(column))] + [len(str(row[c])) for row in table.rows[:200]])
            sheet.column_dimensions[letter].width = min(max(10, longest + 2), 60)
        sheet.freeze_panes = "A2"
    buffer = io.BytesIO()
    workbook.save(buffer)
    return Rendered(buffer.getvalue())


RENDERERS = {"pdf": render_pdf, "csv": render_csv, "xlsx": render_xlsx}


def render(doc: d.Document, fmt: str) -> Rendered:
    return RENDERERS[fmt](doc)
