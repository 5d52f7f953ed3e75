"""The rows of an xlsx file's first sheet, read straight from its XML.

openpyxl's read-only mode builds a rich-text object for every inline string (what
openpyxl itself, and so our own export, writes) and took ~1 ms a row: a 50,000-row
import spent most of its time there. This reads the same values in one streaming pass
over the sheet (memory stays flat: each row is cleared once read) and gives the cells
as openpyxl's `iter_rows(values_only=True)` in data-only mode does: shared and inline
strings as text, numbers as int or float, cells styled as dates as datetime, booleans,
cached formula results, and an empty row for each row the sheet skips.
"""
from __future__ import annotations

import io
import posixpath
import zipfile
from collections.abc import Iterator
from datetime import datetime
from xml.etree.ElementTree import iterparse

_REL = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id"


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _text(element) -> str:
    """A string item's text: its runs' text, not the phonetic guides (`rPh`)."""
    parts = []
    for child in element:
        name = _local(child.tag)
        if name == "t":
            parts.append(child.text or "")
        elif name == "r":
            parts.extend(t.text or "" for t in child if _local(t.tag) == "t")
    return "".join(parts)


def _column(reference: str) -> int:
    """0-based column of a cell reference such as "AB12"."""
    index = 0
    for char in reference:
        if char.isdigit():
            break
        index = index * 26 + (ord(char.upper()) - 64)
    return index - 1


def _first_sheet(book: zipfile.ZipFile) -> tuple[str, bool]:
    """The first sheet's part name, and whether the workbook counts dates from 1904."""
    sheet_id, date1904 = None, False
    for _, element in iterparse(book.open("xl/workbook.xml")):
        name = _local(element.tag)
        if name == "workbookPr":
            date1904 = element.get("date1904") in ("1", "true")
        elif name == "sheet" and sheet_id is None:
            sheet_id = element.get(_REL)
    targets = {e.get("Id"): e.get("Target")
               for _, e in iterparse(book.open("xl/_rels/workbook.xml.rels"))
               if _local(e.tag) == "Relationship"}
    target = targets[sheet_id]
    path = target.lstrip("/") if target.startswith("/") else posixpath.normpath(
        posixpath.join("xl", target))
    return path, date1904


def _shared_strings(book: zipfile.ZipFile) -> list[str]:
    if "xl/sharedStrings.xml" not in book.namelist():
        return []
    strings = []
    for _, element in iterparse(book.open("xl/sharedStrings.xml")):
        if _local(element.tag) == "si":
            strings.append(_text(element))
            element.clear()
    return strings


def _date_styles(book: zipfile.ZipFile) -> set[int]:
    """Indexes of the cell formats that show a number as a date or time."""
    from openpyxl.styles.numbers import BUILTIN_FORMATS, is_date_format

    if "xl/styles.xml" not in book.namelist():
        return set()
    formats, styles, in_cell_xfs = dict(BUILTIN_FORMATS), [], False
    for event, element in iterparse(book.open("xl/styles.xml"), events=("start", "end")):
        name = _local(element.tag)
        if name == "cellXfs":
            in_cell_xfs = event == "start"
        elif event == "end" and name == "numFmt":
            formats[int(element.get("numFmtId"))] = element.get("formatCode") or ""
        elif event == "end" and name == "xf" and in_cell_xfs:
            styles.append(int(element.get("numFmtId") or 0))
    return {index for index, format_id in enumerate(styles)
            if is_date_format(formats.get(format_id, ""))}


def _number(text: str):
    return float(text) if ("." in text or "e" in text or "E" in text) else int(text)


def read_xlsx_rows(content: bytes) -> Iterator[list]:
    """Each row of the first sheet from row 1 on, as a list of cell values."""
    from openpyxl.utils.datetime import from_excel

    book = zipfile.ZipFile(io.BytesIO(content))
    sheet, date1904 = _first_sheet(book)
    strings = _shared_strings(book)
    dates = _date_styles(book)
    epoch = datetime(1904, 1, 1) if date1904 else datetime(1899, 12, 30)
    events = iterparse(book.open(sheet), events=("start", "end"))
    _, root = next(events)
    space = root.tag[:root.tag.index("}") + 1] if root.tag.startswith("{") else ""
    row_tag, value_tag, inline_tag = space + "row", space + "v", space + "is"
    expected = 1
    for event, element in events:
        if event != "end" or element.tag != row_tag:
            continue
        number = int(element.get("r") or expected)
        while expected < number:          # rows the sheet leaves out are empty
            yield []
            expected += 1
        cells: list = []
        for cell in element:
            kind, value, raw = cell.get("t", "n"), None, None
            for part in cell:
                if part.tag == value_tag:
                    raw = part.text
                elif part.tag == inline_tag:
                    value = _text(part)
            if kind == "inlineStr" or raw is None:
                pass
            elif kind == "s":
                value = strings[int(raw)]
            elif kind in ("str", "e"):
                value = raw
            elif kind == "b":
                value = raw not in ("0", "false")
            elif kind == "d":
                value = datetime.fromisoformat(raw.rstrip("Z"))
            else:
                value = _number(raw)
                if dates and int(cell.get("s") or 0) in dates:
                    value = from_excel(value, epoch)
            reference = cell.get("r")
            column = _column(reference) if reference else len(cells)
            if column > len(cells):
                cells.extend([None] * (column - len(cells)))
            cells.append(value)
        root.clear()                      # what was read is let go: memory stays flat
        yield cells
        expected = number + 1
