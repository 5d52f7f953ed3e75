"""Field rules of the customer record: phone numbers, sensitive data, masking.

Plain functions with no I/O. They return cleaned values or raise `crmkit.errors.Invalid`
naming the field, so the API layer and the importer report the same messages.

- Phone (CONTRACT §4): digits only, with an optional leading `+` and country code. A
  mainland mobile is 11 digits starting `1[3-9]`; anything else starting with `1` is
  refused, because it is almost always a mistyped mobile.
- Sensitive data: a PRC resident ID (18 characters, ISO 7064 MOD 11-2 check character)
  or a bank card number (16-19 digits passing Luhn) found anywhere inside a text field is
  refused with `code: sensitive_data`: the users' manual forbids keeping them at all.
"""
from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping

import phonenumbers

from crmkit.errors import Invalid

MAINLAND_MOBILE = re.compile(r"^1[3-9]\d{9}$")
# 0 + area code (2-3 digits) + local number (7-8 digits): 10-12 digits in all.
MAINLAND_LANDLINE = re.compile(r"^0[1-9]\d{8,10}$")
# Nationwide service numbers (400 / 800) have 10 digits.
SERVICE_NUMBER = re.compile(r"^[48]00\d{7}$")
# A local number dialled without its area code.
LOCAL_NUMBER = re.compile(r"^[2-9]\d{6,7}$")
PHONE_SHAPE = re.compile(r"^\+?\d+$")

PHONE_MESSAGE = ("Phone must be digits only (optional leading + and country code); "
                 "a mainland mobile is 11 digits starting 13-19. / 电话只能是数字"
                 "(可带 + 和国家代码),手机号为 1[3-9] 开头的 11 位数字。")


class PhoneError(ValueError):
    pass


def clean_phone(raw: str) -> str:
    """Return the phone as stored (surrounding blanks dropped) or raise PhoneError."""
    if not isinstance(raw, str):
        raise PhoneError(PHONE_MESSAGE)
    phone = unicodedata.normalize("NFKC", raw).strip()
    if not PHONE_SHAPE.match(phone):
        raise PhoneError(PHONE_MESSAGE)
    if phone.startswith("+"):
        _check_international(phone)
    else:
        _check_mainland(phone)
    return phone


def _check_mainland(digits: str) -> None:
    if digits.startswith("1"):
        if not MAINLAND_MOBILE.match(digits):
            raise PhoneError(PHONE_MESSAGE)
        return
    if (MAINLAND_LANDLINE.match(digits) or SERVICE_NUMBER.match(digits)
            or LOCAL_NUMBER.match(digits)):
        return
    raise PhoneError(PHONE_MESSAGE)


def _check_international(phone: str) -> None:
    digits = phone[1:]
    if not 7 <= len(digits) <= 15:  # E.164 allows at most 15 digits
        raise PhoneError(PHONE_MESSAGE)
    if digits.startswith("86"):
        national = digits[2:]
        if national.startswith("1"):
            if not MAINLAND_MOBILE.match(national):
                raise PhoneError(PHONE_MESSAGE)
            return
        national = national if national.startswith("0") else "0" + national
        if MAINLAND_LANDLINE.match(national) or SERVICE_NUMBER.match(national.lstrip("0")):
            return
        raise PhoneError(PHONE_MESSAGE)
    try:
        parsed = phonenumbers.parse(phone, None)
    except phonenumbers.NumberParseException:
        raise PhoneError(PHONE_MESSAGE) from None
    if not phonenumbers.is_possible_number(parsed):
        raise PhoneError(PHONE_MESSAGE)


def validate_phone(field: str, raw: str) -> str:
    try:
        return clean_phone(raw)
    except PhoneError as exc:
        raise Invalid(field, str(exc), code="invalid_phone") from None


def mask_phone(phone: str | None) -> str | None:
    """138****5678: keep the first three and last four digits of the national number."""
    if not phone:
        return phone
    prefix = ""
    number = phone
    if phone.startswith("+86"):
        prefix, number = "+86", phone[3:]
    elif phone.startswith("+"):
        # Keep the country code readable: +1 415****2671 style, without the space.
        prefix, number = phone[:3], phone[3:]
    if len(number) >= 8:
        return prefix + number[:3] + "*" * (len(number) - 7) + number[-4:]
    if len(number) > 4:
        return prefix + "*" * (len(number) - 4) + number[-4:]
    return prefix + "*" * len(number)


# --- sensitive data --------------------------------------------------------------------

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
    """Raise 422 `sensitive_data` naming each offending field."""
    found = sensitive_fields(values, prefix)
    if found:
        errors = {field: [SENSITIVE_MESSAGES[kind]] for field, kind in sorted(found.items())}
        raise Invalid(errors, code="sensitive_data")
