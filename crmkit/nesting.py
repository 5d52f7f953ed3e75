"""Values in the form every server stores: MongoDB and FerretDB 1.24 alike.

FerretDB 1.24 refuses two things MongoDB accepts: arrays directly inside arrays
(`[[1, 2]]`) and field names holding '.' or starting with '$'. Values that can hold them
(a change log's `{"contacts.<id>": [old, new]}`, stored events) are stored encoded:
each inner array wrapped as `{NESTED: [...]}`, and keys escaped ('%' → %25, '.' → %2E,
a leading '$' → %24); decoding gives back the value. Repositories do this; nothing else
sees it. (The outbox stores envelopes as JSON text, and reads this form only in
documents written before it did.)
"""
from __future__ import annotations

NESTED = "_nested_list"
_KEY_ESCAPES = (("%", "%25"), (".", "%2E"))


def encode(value, inside_list: bool = False):
    if isinstance(value, dict):
        return {_store_key(key): encode(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        items = [encode(item, inside_list=True) for item in value]
        return {NESTED: items} if inside_list else items
    return value


def decode(value):
    if isinstance(value, dict):
        if len(value) == 1 and NESTED in value:
            return [decode(item) for item in value[NESTED]]
        return {_read_key(key): decode(item) for key, item in value.items()}
    if isinstance(value, list):
        return [decode(item) for item in value]
    return value


def _store_key(key):
    if not isinstance(key, str):
        return key
    for raw, escaped in _KEY_ESCAPES:
        key = key.replace(raw, escaped)
    return "%24" + key[1:] if key.startswith("$") else key


def _read_key(key):
    if not isinstance(key, str) or "%" not in key:
        return key
    if key.startswith("%24"):
        key = "$" + key[3:]
    for raw, escaped in reversed(_KEY_ESCAPES):
        key = key.replace(escaped, raw)
    return key
