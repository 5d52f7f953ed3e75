"""Field rules of the customer record: phone numbers, sensitive data, masking.

Plain functions with no I/O. They return cleaned values or raise `crmkit.errors.Invalid`
naming the field, so the API layer and the importer report the same messages.

- Phone (CONTRACT §4): digits only, with an optional leading `+` and country code. A
  mainland mobile is 11 digits starting `1[3-9]`; anything else starting with `1` is
  refused, because it is almost always a mistyped mobile.
- Sensitive data: the one check every service uses, `crmkit.sensitive` (imported here).
"""
from __future__ import annotations

import re
import unicodedata

import phonenumbers

from crmkit.errors import Invalid
from crmkit.sensitive import (  # noqa: F401  (the one check, shared by every service)
    ID_CHECK_CHARS, ID_WEIGHTS, find_sensitive, luhn_ok, refuse_sensitive,
    resident_id_checksum_ok, sensitive_fields)

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
