"""CSV cells that a spreadsheet opens as text, never as a formula."""

from __future__ import annotations

# Spreadsheets run a cell that starts with one of these as a formula.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def text_cell(value: str) -> str:
    """Text someone else could have shaped (a student, a name from an LMS), kept from
    being read as a formula."""
    return f"'{value}" if value[:1] in FORMULA_STARTS else value
