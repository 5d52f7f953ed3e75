"""The rules of a user's fields: the password policy and the cleaners of every field an
admin may set, with their zh/en messages. Plain Python; the User aggregate applies them."""
from __future__ import annotations

import re
from typing import Any, Mapping

from crmkit.clock import zone
from crmkit.errors import Invalid
from crmkit.identity import ROLES, clean_team

PASSWORD_MIN_LENGTH = 8
# argon2 is happy with long inputs, but hashing megabytes per login is a cheap DoS.
PASSWORD_MAX_LENGTH = 128

USERNAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{1,63}$")
REGION_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
NAME_MAX_LENGTH = 100


def password_problems(password: Any, username: str | None) -> list[str]:
    """The password policy, as messages (zh / en); empty when the password is fine."""
    if not isinstance(password, str):
        return ["密码必须是文本 / The password must be a string."]
    problems = []
    if len(password) < PASSWORD_MIN_LENGTH:
        problems.append(f"密码至少需要 {PASSWORD_MIN_LENGTH} 个字符 / "
                        f"The password needs at least {PASSWORD_MIN_LENGTH} characters.")
    if len(password) > PASSWORD_MAX_LENGTH:
        problems.append(f"密码最多 {PASSWORD_MAX_LENGTH} 个字符 / "
                        f"The password may have at most {PASSWORD_MAX_LENGTH} characters.")
    if username and password.strip().casefold() == username.strip().casefold():
        problems.append("密码不能与用户名相同 / The password must not be the username.")
    return problems


def check_password_policy(password: Any, username: str | None, *, field: str = "password"):
    problems = password_problems(password, username)
    if problems:
        raise Invalid({field: problems}, code="weak_password")


def _text(value: Any, label_zh: str, label_en: str, *, max_length: int) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{label_zh}不能为空 / {label_en} is required.")
    value = value.strip()
    if len(value) > max_length:
        raise ValueError(f"{label_zh}最多 {max_length} 个字符 / "
                         f"{label_en} may have at most {max_length} characters.")
    if any(ord(ch) < 32 for ch in value):
        raise ValueError(f"{label_zh}含有控制字符 / {label_en} contains control characters.")
    return value


def clean_username(value: Any) -> str:
    if not isinstance(value, str) or not USERNAME_PATTERN.match(value.strip()):
        raise ValueError("用户名为 2–64 个字母、数字或 . _ @ -，以字母或数字开头 / "
                         "A username is 2–64 letters, digits or . _ @ -, "
                         "starting with a letter or digit.")
    return value.strip()


def username_key(username: str) -> str:
    """Usernames are unique and matched case-insensitively (Zhang.San = zhang.san)."""
    return username.strip().casefold()


def clean_name(value: Any) -> str:
    return _text(value, "姓名", "The name", max_length=NAME_MAX_LENGTH)


def clean_role(value: Any) -> str:
    if value not in ROLES:
        raise ValueError("角色必须是 " + " | ".join(ROLES) + " 之一 / The role must be one of "
                         + ", ".join(ROLES) + ".")
    return value


def clean_region(value: Any) -> str:
    message = ("区域是代码，如 east（字母、数字、_ 或 -，最多 32 个）/ "
               "The region is a code such as east (letters, digits, _ or -, up to 32).")
    if not isinstance(value, str):
        raise ValueError(message)
    code = value.strip().lower()
    if not REGION_PATTERN.match(code):
        raise ValueError(message)
    return code


def clean_timezone(value: Any) -> str:
    message = ("时区必须是 IANA 时区名，如 Asia/Shanghai / "
               "The time zone must be an IANA name such as Asia/Shanghai.")
    if not isinstance(value, str) or not value.strip():
        raise ValueError(message)
    try:
        return zone(value.strip()).key
    except (ValueError, TypeError):
        raise ValueError(message) from None


def clean_email(value: Any) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if (not isinstance(value, str) or len(value.strip()) > 254
            or not EMAIL_PATTERN.match(value.strip())):
        raise ValueError("邮箱格式不正确 / The email address is not valid.")
    return value.strip()


def clean_active(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError("active 必须是 true 或 false / active must be true or false.")
    return value


_CLEANERS = {
    "username": clean_username,
    "name": clean_name,
    "role": clean_role,
    "team": clean_team,
    "region": clean_region,
    "timezone": clean_timezone,
    "email": clean_email,
    "active": clean_active,
}


def clean_all(values: Mapping[str, Any]) -> dict[str, Any]:
    """Clean every given field, reporting every bad one at once (one 422, all fields)."""
    cleaned, errors = {}, {}
    for name, value in values.items():
        try:
            cleaned[name] = _CLEANERS[name](value)
        except ValueError as problem:
            errors[name] = [str(problem)]
    if errors:
        raise Invalid(errors)
    return cleaned
