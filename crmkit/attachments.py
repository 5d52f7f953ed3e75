"""Attachments (附件, CONTRACT §10): files on a record, kept in the owning service's own
database with GridFS, seen exactly by whoever may see the record.

One implementation for every service:

- `sniff(data)`: the file's type judged by its content (magic bytes, the OLE2 directory,
  the zip's part names), never by its name or the type the client declared: PDF, Word
  (.doc / .docx), Excel (.xls / .xlsx), PNG, JPEG; anything else is 422
  `unsupported_file`.
- `clean_filename(name, content_type)`: the name kept for the download: its last path
  component only, without control or bidirectional-override characters, at most
  MAX_NAME_CHARS, ending in an extension of the sniffed type (`evil.html` that is really
  a PNG is kept as `evil.html.png`, `scan.JPEG` as `scan.jpeg`). A name with nothing
  left is 422 naming `file`.
- `content_disposition(name)`: `attachment; filename="ascii"; filename*=UTF-8''…`
  (RFC 6266 / RFC 8187).
- `AttachmentStore`: the GridFS bucket `attachments` of a service's database (FerretDB
  1.24 serves it: plain inserts, finds, deletes and a unique compound index). Each file's
  `metadata` names its parent (`parent`, `parent_id`), who uploaded it and its sniffed
  type.
- `attachment_routes(api, store, ...)`: the four routes under a parent's path, wired by a
  service in a few lines. The parent is loaded through the same handler its own GET uses,
  so a caller who may not see it gets that GET's answer (404, or 403 for what is only
  shown publicly).

Who may do what (the same for every parent): upload, list and download: whoever may see
the parent (a service may narrow upload to its editors, e.g. opportunities, whose sharees
only read); delete: whoever may edit the parent, and the uploader while they still see
it.
"""
from __future__ import annotations

import io
import re
import struct
import unicodedata
import uuid
import zipfile
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable
from urllib.parse import quote

from flask import Response, request
from marshmallow import Schema, fields

from crmkit.clock import as_utc, utcnow
from crmkit.errors import Forbidden, Invalid, NotFound, PayloadTooLarge
from crmkit.identity import Identity
from crmkit.web import ApiBlueprint, current_identity, json_response, no_content

MAX_BYTES = 10 * 1024 * 1024
MAX_NAME_CHARS = 120
BUCKET = "attachments"
FIELD = "file"

PDF = "application/pdf"
DOC = "application/msword"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLS = "application/vnd.ms-excel"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PNG = "image/png"
JPEG = "image/jpeg"
# type -> its extensions, the first the one a cleaned name gets
EXTENSIONS = {PDF: (".pdf",), DOC: (".doc",), DOCX: (".docx",), XLS: (".xls",),
              XLSX: (".xlsx",), PNG: (".png",), JPEG: (".jpg", ".jpeg")}

UNSUPPORTED = ("Only PDF, Word, Excel, PNG and JPEG files may be attached (judged by the "
               "content). / 只能上传 PDF、Word、Excel、PNG 或 JPEG 文件(按文件内容判断)。")
TOO_LARGE = (f"A file may be at most {MAX_BYTES // (1024 * 1024)} MB. "
             f"/ 文件不能超过 {MAX_BYTES // (1024 * 1024)} MB。")
NO_FILE = ("Send the file as multipart field 'file'. / 请以 multipart 字段 file 上传文件。")
NO_NAME = "The file needs a name. / 文件需要有文件名。"
NOT_FOUND = "Attachment not found. / 附件不存在。"
MAY_NOT_DELETE = ("Only its uploader or whoever may edit the record may delete an "
                  "attachment. / 只有上传人或可编辑该记录的人可以删除附件。")
MAY_NOT_UPLOAD = "You may not attach files to this record. / 无权为该记录上传附件。"


# --------------------------------------------------------------------------- content

_OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_FREE, _END = 0xFFFFFFFF, 0xFFFFFFFE


def sniff(data: bytes) -> str | None:
    """The content type of `data` by its content, or None when it is none we take."""
    if data.startswith(b"%PDF-"):
        return PDF
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if data.startswith(b"\xff\xd8\xff"):
        return JPEG
    if data.startswith(_OLE2):
        return _ole2_kind(data)
    if data.startswith(b"PK\x03\x04"):
        return _ooxml_kind(data)
    return None


def _ooxml_kind(data: bytes) -> str | None:
    try:
        names = zipfile.ZipFile(io.BytesIO(data)).namelist()
    except (zipfile.BadZipFile, ValueError, OSError, EOFError):
        return None
    if "[Content_Types].xml" not in names:
        return None
    if any(n.startswith("word/") for n in names):
        return DOCX
    if any(n.startswith("xl/") for n in names):
        return XLSX
    return None


def _ole2_kind(data: bytes) -> str | None:
    """Word or Excel by the streams an OLE2 compound file's directory names
    (`WordDocument`; `Workbook` or `Book`)."""
    try:
        names = set(_ole2_stream_names(data))
    except (struct.error, IndexError, ValueError):
        return None
    if "WordDocument" in names:
        return DOC
    if "Workbook" in names or "Book" in names:
        return XLS
    return None


def _ole2_stream_names(data: bytes):
    shift = struct.unpack_from("<H", data, 30)[0]
    if shift not in (9, 12):
        raise ValueError("sector size")
    size = 1 << shift
    fat_count, dir_start = struct.unpack_from("<II", data, 44)
    difat_start, difat_count = struct.unpack_from("<II", data, 68)
    sectors_in_file = max(0, len(data) // size - 1)
    fat_sectors = list(struct.unpack_from("<109I", data, 76))
    sid, seen = difat_start, 0
    while sid not in (_FREE, _END) and seen < min(difat_count, sectors_in_file):
        entries = struct.unpack_from(f"<{size // 4}I", data, (sid + 1) * size)
        fat_sectors.extend(entries[:-1])
        sid, seen = entries[-1], seen + 1
    fat_sectors = [s for s in fat_sectors[:fat_count] if s not in (_FREE, _END)]
    per_sector = size // 4

    def next_sector(current: int) -> int:
        fat_sector = fat_sectors[current // per_sector]
        return struct.unpack_from("<I", data, (fat_sector + 1) * size
                                  + 4 * (current % per_sector))[0]

    sid, walked = dir_start, 0
    while sid not in (_FREE, _END) and walked <= sectors_in_file:
        base = (sid + 1) * size
        if base + size > len(data):
            raise ValueError("truncated")
        for offset in range(base, base + size, 128):
            length, kind = struct.unpack_from("<HB", data, offset + 64)
            if kind in (1, 2) and 2 <= length <= 64:
                yield data[offset:offset + length - 2].decode("utf-16-le", "replace")
        sid, walked = next_sector(sid), walked + 1


# --------------------------------------------------------------------------- names

_SEPARATORS = re.compile(r"[/\\]")
_WINDOWS_RESERVED = re.compile(r'[<>:"|?*]')
_SPACES = re.compile(r"\s+")


def clean_filename(name: str | None, content_type: str) -> str:
    """The name to keep for a file of `content_type` (see the module's docstring)."""
    text = unicodedata.normalize("NFC", name or "")
    text = _SEPARATORS.split(text)[-1]
    # Cc: controls; Cf: format (RTL/LTR overrides and isolates, zero widths); Cs: lone
    # surrogates; Co/Cn: private use and unassigned
    text = "".join(ch for ch in text
                   if unicodedata.category(ch) not in ("Cc", "Cf", "Cs", "Co", "Cn"))
    text = _WINDOWS_RESERVED.sub("_", _SPACES.sub(" ", text)).strip(" .")
    stem, dot, extension = text.rpartition(".")
    suffix = f".{extension.lower()}"
    if not (dot and suffix in EXTENSIONS[content_type]):
        stem, suffix = text, EXTENSIONS[content_type][0]
    stem = stem[:MAX_NAME_CHARS - len(suffix)].strip(" .")
    if not stem:
        raise Invalid(FIELD, NO_NAME, code="invalid_filename")
    return stem + suffix


def content_disposition(filename: str) -> str:
    """`attachment` with an ASCII fallback and the exact name as RFC 8187 UTF-8."""
    fallback = "".join(ch if 32 <= ord(ch) < 127 and ch not in '"\\%;' else "_"
                       for ch in filename)
    return (f'attachment; filename="{fallback}"; '
            f"filename*=UTF-8''{quote(filename, safe='')}")


# --------------------------------------------------------------------------- storage

@dataclass(frozen=True)
class Attachment:
    id: str
    parent: str
    parent_id: str
    filename: str
    content_type: str
    size: int
    uploaded_by: str
    uploaded_at: datetime


class AttachmentStore:
    """The service's GridFS bucket of attachments."""

    def __init__(self, db, bucket: str = BUCKET):
        import gridfs

        self._bucket = gridfs.GridFSBucket(db, bucket_name=bucket)
        self._files = db[f"{bucket}.files"]
        self._chunks = db[f"{bucket}.chunks"]

    def ensure_indexes(self) -> None:
        # GridFS's own (it would make them on the first upload), and the parent's list
        self._files.create_index([("filename", 1), ("uploadDate", 1)])
        self._chunks.create_index([("files_id", 1), ("n", 1)], unique=True)
        self._files.create_index([("metadata.parent", 1), ("metadata.parent_id", 1),
                                  ("uploadDate", 1)], name="parent")

    def add(self, parent: str, parent_id: str, *, filename: str, content_type: str,
            data: bytes, uploaded_by: str, now: datetime | None = None) -> Attachment:
        file_id = uuid.uuid4().hex
        self._bucket.upload_from_stream_with_id(
            file_id, filename, io.BytesIO(data),
            metadata={"parent": parent, "parent_id": parent_id,
                      "content_type": content_type, "uploaded_by": uploaded_by,
                      "uploaded_at": as_utc(now or utcnow())})
        return self.get(parent, parent_id, file_id)

    def list(self, parent: str, parent_id: str) -> list[Attachment]:
        docs = self._files.find({"metadata.parent": parent, "metadata.parent_id": parent_id})
        return sorted((_attachment(d) for d in docs), key=lambda a: (a.uploaded_at, a.id))

    def get(self, parent: str, parent_id: str, attachment_id: str) -> Attachment:
        doc = self._files.find_one({"_id": attachment_id, "metadata.parent": parent,
                                    "metadata.parent_id": parent_id})
        if doc is None:
            raise NotFound(NOT_FOUND, code="not_found")
        return _attachment(doc)

    def content(self, attachment: Attachment) -> bytes:
        import gridfs

        try:
            return self._bucket.open_download_stream(attachment.id).read()
        except gridfs.errors.NoFile:
            raise NotFound(NOT_FOUND, code="not_found") from None

    def delete(self, attachment: Attachment) -> None:
        import gridfs

        try:
            self._bucket.delete(attachment.id)
        except gridfs.errors.NoFile:   # deleted meanwhile by another request
            raise NotFound(NOT_FOUND, code="not_found") from None


def _attachment(doc: dict) -> Attachment:
    meta = doc.get("metadata") or {}
    return Attachment(id=doc["_id"], parent=meta["parent"], parent_id=meta["parent_id"],
                      filename=doc.get("filename") or "", content_type=meta["content_type"],
                      size=int(doc.get("length") or 0), uploaded_by=meta.get("uploaded_by"),
                      uploaded_at=as_utc(meta.get("uploaded_at") or doc["uploadDate"]))


# --------------------------------------------------------------------------- HTTP

class AttachmentOut(Schema):
    id = fields.String(required=True)
    filename = fields.String(required=True)
    content_type = fields.String(required=True)
    size = fields.Integer(required=True)
    uploaded_by = fields.String(required=True, allow_none=True)
    uploaded_at = fields.DateTime(required=True)


ATTACHMENT_OUT = AttachmentOut()


def read_upload() -> tuple[str | None, bytes]:
    """The multipart field `file` of this request: (its name as sent, its bytes).
    413 over MAX_BYTES; 422 naming `file` when it is missing."""
    if request.content_length is not None and request.content_length > 2 * MAX_BYTES:
        raise PayloadTooLarge(TOO_LARGE, limit=MAX_BYTES)
    upload = request.files.get(FIELD) if request.mimetype.startswith("multipart/") else None
    if upload is None:
        raise Invalid(FIELD, NO_FILE, code="missing_file")
    data = upload.stream.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise PayloadTooLarge(TOO_LARGE, limit=MAX_BYTES)
    return upload.filename, data


def accept_upload(name: str | None, data: bytes) -> tuple[str, str]:
    """(cleaned name, sniffed type) of an upload, or 422 naming `file`."""
    content_type = sniff(data)
    if content_type is None:
        raise Invalid(FIELD, UNSUPPORTED, code="unsupported_file")
    return clean_filename(name, content_type), content_type


Load = Callable[..., Any]                       # (viewer, **path ids) -> the parent
Rule = Callable[[Identity, Any], bool]           # (viewer, parent) -> allowed?


def attachment_routes(api: ApiBlueprint, store: AttachmentStore, *, parent: str, rule: str,
                      load: Load, may_edit: Rule, may_upload: Rule | None = None,
                      idempotency=None) -> None:
    """Add POST/GET `{rule}/attachments` and GET/DELETE `{rule}/attachments/<id>` to
    `api`. `rule` is the parent's path (`/customers/<customer_id>`); its last path
    variable is the parent's id. `load(viewer, **ids)` is what the parent's own GET runs
    (404 for whoever may not see it); `may_edit` who may change the parent (they may
    delete any of its attachments); `may_upload` who may attach (default: whoever may
    see it)."""
    from crmkit.idempotency import idempotent

    base = f"{rule}/attachments"
    name = f"{parent}_attachments"
    key = re.findall(r"<(?:[a-z_]+:)?([a-z_]+)>", rule)[-1]

    def route(path: str, method: str, view, **doc):
        api.endpoint_doc(path, method, **doc)
        api.add_url_rule(path, f"{name}_{view.__name__}", view, methods=[method])

    def upload(**ids):
        viewer = current_identity()
        record = load(viewer, **ids)
        if may_upload is not None and not may_upload(viewer, record):
            raise Forbidden(MAY_NOT_UPLOAD, code="forbidden")
        filename, data = read_upload()
        filename, content_type = accept_upload(filename, data)
        attachment = store.add(parent, ids[key], filename=filename, data=data,
                               content_type=content_type, uploaded_by=viewer.user_id)
        return json_response(ATTACHMENT_OUT.dump(attachment), 201, headers={
            "Location": f"{request.path.rstrip('/')}/{attachment.id}"})

    if idempotency is not None:
        upload = idempotent(lambda: idempotency)(upload)

    def list_(**ids):
        load(current_identity(), **ids)
        items = ATTACHMENT_OUT.dump(store.list(parent, ids[key]), many=True)
        return json_response({"items": items, "total": len(items)})

    def download(attachment_id, **ids):
        load(current_identity(), **ids)
        attachment = store.get(parent, ids[key], attachment_id)
        return Response(store.content(attachment), 200, content_type=attachment.content_type,
                        headers={"Content-Disposition": content_disposition(attachment.filename),
                                 "X-Content-Type-Options": "nosniff",
                                 "Cache-Control": "private, no-store"})

    def delete(attachment_id, **ids):
        viewer = current_identity()
        record = load(viewer, **ids)
        attachment = store.get(parent, ids[key], attachment_id)
        if not (may_edit(viewer, record) or attachment.uploaded_by == viewer.user_id):
            raise Forbidden(MAY_NOT_DELETE, code="forbidden")
        store.delete(attachment)
        return no_content()

    upload.__name__, list_.__name__ = "upload", "list"
    route(base, "POST", upload, status=201, response=AttachmentOut,
          summary=f"Attach a file (multipart `file`, ≤ 10 MB: PDF, Word, Excel, PNG, JPEG "
                  f"by content) to a {parent} (附件)")
    route(base, "GET", list_, response=AttachmentOut, listed=True,
          summary=f"The {parent}'s attachments, oldest first")
    route(f"{base}/<attachment_id>", "GET", download,
          summary=f"Download one of the {parent}'s attachments")
    route(f"{base}/<attachment_id>", "DELETE", delete, status=204,
          summary=f"Delete an attachment of the {parent} (its uploader, or whoever may "
                  f"edit the {parent})")
