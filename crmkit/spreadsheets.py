"""What every csv and xlsx download writes into a cell: the one rule for all exports.

Exports carry text that users typed (names, addresses, loss reasons). Opened in Excel,
LibreOffice or WPS, a cell starting with `=`, `+`, `-`, `@`, tab or CR may be run as a
formula (CSV injection: data exfiltration through HYPERLINK, DDE commands); OWASP's
remedy is a leading single quote, which spreadsheets show as text. XML 1.0, and so
openpyxl, refuses most C0 control characters (IllegalCharacterError): they carry no
meaning in a spreadsheet, so they are dropped rather than let one customer's stray
byte fail every export that includes it.
"""
from __future__ import annotations

import re

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# C0 controls other than tab, LF and CR (the ones openpyxl's ILLEGAL_CHARACTERS_RE
# refuses), which also keeps them out of csv files.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
# A signed plain number ("-12.50") is read as that number, never run: left as it is.
_PLAIN_NUMBER = re.compile(r"[+-]?\d+(\.\d+)?")


def export_cell(value):
    """The value to write into a csv or xlsx cell. Only text changes: numbers, dates and
    None are written as they are (a negative number stored as a number is no formula)."""
    if not isinstance(value, str):
        return value
    text = _CONTROL.sub("", value)
    if text.startswith(FORMULA_START) and not _PLAIN_NUMBER.fullmatch(text):
        return "'" + text
    return text


def export_row(values) -> list:
    return [export_cell(value) for value in values]
