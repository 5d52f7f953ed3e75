"""Personal numbers that must never be stored: the one check every service applies to the
free text it accepts (CONTRACT §4; the users' manual forbids keeping them at all).

A PRC resident ID (18 characters, ISO 7064 MOD 11-2 check character) or a bank card
number (16-19 digits passing Luhn, optionally written in groups) found anywhere inside a
text is refused with 422 `code: sensitive_data` naming the field. Plain functions, no I/O.
"""
from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping

from crmkit.errors import Invalid

ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CHECK_CHARS = "10X98765432"
# 17 digits and a check character, not glued to further digits on either side.
ID_CANDIDATE = re.compile(r"(?<![0-9])(\d{17}[0-9Xx])(?![0-9A-Za-z])")
# 16-19 digits, optionally written in groups separated by one blank or hyphen.
CARD_CANDIDATE = re.compile(r"(?<![0-9])(\d(?:[ \-]?\d){15,18})(?![0-9])")

SENSITIVE_MESSAGES = {
    "resident_id": "Must not contain a resident ID number. / 不得包含身份证号码。",
    "bank_card": "Must not contain a bank card number. / 不得包含银行卡号。",
}


def resident_id_checksum_ok(candidate: str) -> bool:
    if len(candidate) != 18 or not candidate[:17].isdigit():
        return False
    total = sum(int(d) * w for d, w in zip(candidate[:17], ID_WEIGHTS))
    return ID_CHECK_CHARS[total % 11] == candidate[17].upper()


def luhn_ok(digits: str) -> bool:
    if not digits.isdigit():
        return False
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def find_sensitive(text) -> str | None:
    """'resident_id', 'bank_card' or None for the first sensitive number inside `text`."""
    if not isinstance(text, str) or len(text) < 16:
        return None
    text = unicodedata.normalize("NFKC", text)  # full-width digits count too
    for match in ID_CANDIDATE.finditer(text):
        if resident_id_checksum_ok(match.group(1)):
            return "resident_id"
    for match in CARD_CANDIDATE.finditer(text):
        digits = re.sub(r"[ \-]", "", match.group(1))
        if 16 <= len(digits) <= 19 and luhn_ok(digits):
            return "bank_card"
    return None


def sensitive_fields(values, prefix: str = "") -> dict[str, str]:
    """Every (dotted) field of a nested mapping/list whose text holds sensitive data."""
    found: dict[str, str] = {}
    for key, value in _walk(values, prefix):
        kind = find_sensitive(value)
        if kind:
            found[key] = kind
    return found


def _walk(value, path: str):
    if isinstance(value, Mapping):
        for key, item in value.items():
            yield from _walk(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, (list, tuple)):
        # A list is named by its field ("tags", "relations.name"): the user edits the
        # field, not an index.
        for item in value:
            yield from _walk(item, path)
    elif isinstance(value, str):
        yield path, value


def refuse_sensitive(values, prefix: str = "") -> None:
    """Raise 422 `sensitive_data` naming each offending field of `values` (a mapping of
    field name to text, nested mappings and lists allowed)."""
    found = sensitive_fields(values, prefix)
    if found:
        errors = {field: [SENSITIVE_MESSAGES[kind]] for field, kind in sorted(found.items())}
        raise Invalid(errors, code="sensitive_data")
