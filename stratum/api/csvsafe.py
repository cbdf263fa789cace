"""CSV cells that spreadsheets will not execute (CSV/formula injection, OWASP)."""
from __future__ import annotations

import csv
from decimal import Decimal

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(value) -> str:
    """Text for one CSV cell; text starting like a formula is prefixed with a single quote.

    Numbers are written as they are (a negative number is data, not a formula).
    """
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, Decimal)):
        return str(value)
    text = str(value)
    if text.startswith(FORMULA_PREFIXES):
        return "'" + text
    return text


def csv_writer(stream):
    """A CSV writer that quotes every cell. Spreadsheets in many European locales split a comma-separated file on
    semicolons, where an unquoted `Acme;=1+1` becomes a second cell holding a formula; quoted, it stays one cell
    (and csv_safe keeps every cell from starting like a formula itself)."""
    return csv.writer(stream, quoting=csv.QUOTE_ALL)
