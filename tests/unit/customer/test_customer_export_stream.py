"""The export streams: csv and xlsx leave in pieces while rows are still being read, and
the pieces make the same file a spreadsheet (and our import) reads."""
import csv
import io

from openpyxl import load_workbook

from services.customer import transfer


def rows(n: int, seen: list):
    for i in range(n):
        seen.append(i)
        yield [f"客户{i}", "=cmd|' /C calc'!A0", "13812345678"]


def test_csv_pieces_leave_before_the_last_row_is_read():
    seen: list = []
    pieces = transfer.stream_csv(["a", "b", "c"], rows(2000, seen), batch=500)
    first = next(pieces)
    assert first.startswith(b"\xef\xbb\xbf") and len(seen) <= 501
    data = first + b"".join(pieces)
    read = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert len(read) == 2001 and read[1] == ["客户0", "'=cmd|' /C calc'!A0", "13812345678"]


def test_xlsx_pieces_leave_before_the_last_row_is_read_and_open_as_a_workbook():
    seen: list = []
    pieces = transfer.stream_xlsx(["名称", "公式", "电话"], rows(3000, seen), batch=500)
    first = next(pieces)
    assert len(seen) <= 501
    data = first + b"".join(pieces)
    book = load_workbook(io.BytesIO(data), read_only=True)
    read = list(book.worksheets[0].iter_rows(values_only=True))
    assert len(read) == 3001 and read[0] == ("名称", "公式", "电话")
    assert read[2999 + 1] == ("客户2999", "'=cmd|' /C calc'!A0", "13812345678")
    assert transfer.parse_import(data, "x.xlsx")[0] == (
        2, {"name": "客户0", "primary_contact": {"phone": "13812345678"}})
