"""Small real files of each kind an attachment may be (and some it may not), made here:
PDF, Word and Excel (OLE2 and OOXML), PNG, JPEG."""
from __future__ import annotations

import io
import struct
import zipfile

END, FREE, FAT_SECTOR = 0xFFFFFFFE, 0xFFFFFFFF, 0xFFFFFFFD


def ole2(*streams: str) -> bytes:
    """A minimal OLE2 compound file (512-byte sectors) whose directory names `streams`
    (empty ones): "WordDocument" makes a .doc, "Workbook" a .xls."""
    header = bytearray(512)
    header[0:8] = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
    struct.pack_into("<HHHHH", header, 24, 0x3E, 3, 0xFFFE, 9, 6)
    struct.pack_into("<III", header, 44, 1, 1, 0)        # 1 FAT sector; directory at 1
    struct.pack_into("<IIIII", header, 56, 4096, END, 0, END, 0)
    struct.pack_into("<109I", header, 76, 0, *([FREE] * 108))
    fat = bytearray(struct.pack("<128I", FAT_SECTOR, END, *([FREE] * 126)))
    directory = bytearray()
    for name, kind in [("Root Entry", 5), *((s, 2) for s in streams)][:4]:
        entry = bytearray(128)
        encoded = name.encode("utf-16-le") + b"\0\0"
        entry[0:len(encoded)] = encoded
        struct.pack_into("<HBB", entry, 64, len(encoded), kind, 1)
        struct.pack_into("<III", entry, 68, FREE, FREE, FREE)
        struct.pack_into("<I", entry, 116, END)
        directory += entry
    directory += bytes(512 - len(directory))
    return bytes(header + fat + directory)


def ooxml(folder: str) -> bytes:
    """A zip shaped like a .docx (folder "word") or .xlsx (folder "xl")."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as package:
        # A fixed date keeps the bytes (and so the test ids) the same on every worker.
        for name, text in [("[Content_Types].xml", '<?xml version="1.0"?><Types/>'),
                           (f"{folder}/document.xml", "<document/>")]:
            package.writestr(zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0)), text)
    return out.getvalue()


def xlsx() -> bytes:
    from openpyxl import Workbook

    book = Workbook()
    book.active.append(["客户", "金额"])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


PDF = (b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
       b"2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n")
PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06"
       b"\x00\x00\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00"
       b"\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82")
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xff\xd9"
DOC = ole2("WordDocument", "1Table")
XLS = ole2("Workbook")
DOCX = ooxml("word")
XLSX_SHAPED = ooxml("xl")
HTML = b"<!doctype html><script>alert(1)</script>"


def multipart(fields: dict, files: dict) -> tuple[bytes, str]:
    """A multipart/form-data body: fields {name: text}, files {name: (filename, bytes)}."""
    import uuid

    boundary = f"----crm{uuid.uuid4().hex}"
    parts = []
    for name, value in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
                     f'{value}\r\n'.encode())
    for name, (filename, content) in files.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '
                     f'filename="{filename}"\r\nContent-Type: application/octet-stream'
                     f'\r\n\r\n'.encode() + content + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def attach(session, parent_path: str, content: bytes, filename: str = "合同.pdf",
           **headers):
    """POST `content` as multipart field `file` to {parent_path}/attachments."""
    body, content_type = multipart({}, {"file": (filename, content)})
    return session.request("POST", f"{parent_path}/attachments", data=body,
                           content_type=content_type, headers=headers or None)


def every_call(owner, caller, parent_path: str, kept: tuple[bytes, str],
               another: tuple[bytes, str]) -> tuple:
    """An attachment `owner` puts on a record, then what `caller` gets listing the
    record's attachments, reading that one, uploading `another` and deleting it."""
    made = attach(owner, parent_path, *kept)
    assert made.status_code == 201, made
    item = made.json
    one = f"{parent_path}/attachments/{item['id']}"
    return (item, caller.get(f"{parent_path}/attachments"), caller.get(one),
            attach(caller, parent_path, *another), caller.delete(one))


def assert_hidden(listed, one, upload, delete, secret: str) -> None:
    """A caller who may not see the record gets 404 for every call and no trace of it."""
    assert [r.status_code for r in (listed, one, upload, delete)] == [404] * 4
    assert secret not in listed.data.decode() + one.data.decode()
