"""Attachments (crmkit.attachments): a file's type by its content, never its name; the
name kept is cleaned of paths, controls and direction overrides; the download header is
RFC 6266 / 8187."""
from __future__ import annotations

import zipfile
from urllib.parse import unquote

import pytest

import sample_files as files
from crmkit import attachments as A
from crmkit.errors import Invalid


@pytest.mark.parametrize("data, expected", [
    (files.PDF, A.PDF), (files.PNG, A.PNG), (files.JPEG, A.JPEG),
    (files.DOC, A.DOC), (files.XLS, A.XLS), (files.ole2("Book"), A.XLS),
    (files.DOCX, A.DOCX), (files.XLSX_SHAPED, A.XLSX), (files.xlsx(), A.XLSX),
], ids=["pdf", "png", "jpeg", "doc", "xls", "xls-book", "docx", "xlsx-shaped", "xlsx"])
def test_each_kind_is_known_by_its_content(data, expected):
    assert A.sniff(data) == expected


@pytest.mark.parametrize("data", [
    files.HTML, b"", b"plain text", b"MZ\x90\x00 an exe",
    files.ole2("PowerPoint Document"),          # OLE2, but neither Word nor Excel
    files.ooxml("ppt"),                         # a zip, but a presentation
    files.DOC[:600],                            # an OLE2 header cut short
    b"PK\x03\x04 not really a zip",
    b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\xff" * 600,   # garbage after the magic
], ids=["html", "empty", "text", "exe", "ole2-ppt", "zip-ppt", "doc-cut", "fake-zip",
        "ole2-garbage"])
def test_anything_else_is_refused(data):
    assert A.sniff(data) is None


def test_a_zip_without_content_types_is_no_office_file():
    import io

    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as package:
        package.writestr("word/document.xml", "<x/>")
    assert A.sniff(out.getvalue()) is None


@pytest.mark.parametrize("name, content_type, expected", [
    ("合同扫描件.pdf", A.PDF, "合同扫描件.pdf"),
    ("scan.JPEG", A.JPEG, "scan.jpeg"),
    ("photo", A.PNG, "photo.png"),
    ("evil.html", A.PNG, "evil.html.png"),          # the content decides the extension
    ("report.pdf", A.DOCX, "report.pdf.docx"),
    ("../../etc/passwd", A.PDF, "passwd.pdf"),
    ("C:\\fakepath\\报价单.xlsx", A.XLSX, "报价单.xlsx"),
    ("in\x00voice\r\n.pdf", A.PDF, "invoice.pdf"),
    ("invoice\u202efdp.exe", A.PDF, "invoicefdp.exe.pdf"),   # RTL override removed
    ("a\u200bb\u2066c.pdf", A.PDF, "abc.pdf"),
    ('what<>:"|?*.pdf', A.PDF, "what_______.pdf"),
    ("  spaced   out  .pdf", A.PDF, "spaced out.pdf"),
])
def test_names_are_cleaned(name, content_type, expected):
    assert A.clean_filename(name, content_type) == expected


def test_a_very_long_name_is_shortened_keeping_its_extension():
    cleaned = A.clean_filename("长" * 5000 + ".pdf", A.PDF)
    assert len(cleaned) == A.MAX_NAME_CHARS and cleaned.endswith("长.pdf")


@pytest.mark.parametrize("name", ["", None, "../", "/", "..", " . ", "\u202e", "a/\x01\x02"])
def test_a_name_with_nothing_left_is_refused_naming_file(name):
    with pytest.raises(Invalid) as caught:
        A.clean_filename(name, A.PDF)
    assert list(caught.value.errors) == ["file"]


def test_content_disposition_has_an_ascii_fallback_and_the_exact_utf8_name():
    header = A.content_disposition('报价 "v2";%.pdf')
    assert header.startswith('attachment; filename="')
    fallback = header.split('filename="', 1)[1].split('"', 1)[0]
    assert fallback.isascii() and '"' not in fallback and ";" not in fallback
    encoded = header.split("filename*=UTF-8''", 1)[1]
    assert " " not in encoded and '"' not in encoded and ";" not in encoded
    assert unquote(encoded) == '报价 "v2";%.pdf'
