"""The import's xlsx reader gives the cells openpyxl's read-only, data-only mode gives."""
import io
import zipfile
from datetime import date, datetime

import pytest
from openpyxl import Workbook, load_workbook

from services.customer.xlsx_rows import read_xlsx_rows


def saved(book) -> bytes:
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def openpyxl_rows(content: bytes) -> list[list]:
    book = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    return [list(row) for row in book.worksheets[0].iter_rows(values_only=True)]


def trimmed(rows):
    out = []
    for row in rows:
        row = list(row)
        while row and row[-1] is None:
            row.pop()
        out.append(row)
    return out


def test_values_gaps_and_skipped_rows_read_as_openpyxl_reads_them():
    book = Workbook()
    sheet = book.active
    sheet.append(["客户名称", "n", "f", "day", "moment", "flag", None, "phone"])
    sheet.append(["商策科技", 1, 2.5, date(2026, 1, 2), datetime(2026, 3, 4, 5, 6), True, None,
                  13812345678])
    sheet.append([])
    sheet.append([None, None, "=1+1", "  spaced  "])
    sheet["J7"] = "far"
    sheet.append([-3, 1e20, False, "a&b<c>"])
    content = saved(book)
    assert trimmed(read_xlsx_rows(content)) == trimmed(openpyxl_rows(content))
    first = list(read_xlsx_rows(content))[1]
    assert first[3] == datetime(2026, 1, 2) and first[7] == 13812345678


def test_inline_strings_of_a_write_only_book():
    book = Workbook(write_only=True)
    sheet = book.create_sheet("customers")
    sheet.append(["name", "phone"])
    sheet.append(["华信物流", "13900001111"])
    assert list(read_xlsx_rows(saved(book))) == [["name", "phone"], ["华信物流", "13900001111"]]


def test_shared_strings_as_excel_writes_them():
    """Excel keeps text in xl/sharedStrings.xml (rich runs, phonetic guides left out)."""
    book = Workbook()
    book.active.append(["x", "y"])
    content = saved(book)
    ns = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
    sheet_xml = (f'<worksheet {ns}><sheetData><row r="1"><c r="A1" t="s"><v>0</v></c>'
                 f'<c r="C1" t="s"><v>1</v></c></row><row r="3"><c r="B3" t="n"><v>7</v></c>'
                 f'</row></sheetData></worksheet>')
    strings = (f'<sst {ns} count="2" uniqueCount="2"><si><t>客户名称</t></si><si><r><t>商策'
               f'</t></r><r><t>科技</t></r><rPh sb="0" eb="1"><t>ショウ</t></rPh></si></sst>')
    source = zipfile.ZipFile(io.BytesIO(content))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as target:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                data = sheet_xml.encode()
            elif item.filename == "[Content_Types].xml":
                data = data.replace(b"</Types>", b'<Override PartName="/xl/sharedStrings.xml" '
                                    b'ContentType="application/vnd.openxmlformats-officedocument.'
                                    b'spreadsheetml.sharedStrings+xml"/></Types>')
            target.writestr(item, data)
        target.writestr("xl/sharedStrings.xml", strings)
    content = out.getvalue()
    assert list(read_xlsx_rows(content)) == [["客户名称", None, "商策科技"], [], [None, 7]]
    assert trimmed(read_xlsx_rows(content)) == trimmed(openpyxl_rows(content))


def test_not_an_xlsx_fails():
    with pytest.raises(Exception):
        list(read_xlsx_rows(b"PK\x03\x04 not a zip"))
