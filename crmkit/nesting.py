"""Arrays directly inside arrays, stored in a form every server takes.

FerretDB 1.24 refuses nested arrays (`[[1, 2]]`), which MongoDB accepts. Values that can
hold them (a change log's `{field: [old, new]}` pairs where a field is a list, event
payloads in the outbox) are stored with each inner array wrapped as `{NESTED: [...]}`,
and unwrapped on the way out. Repositories and the outbox do this; nothing else sees it.
"""
from __future__ import annotations

NESTED = "_nested_list"


def encode(value, inside_list: bool = False):
    if isinstance(value, dict):
        return {key: encode(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        items = [encode(item, inside_list=True) for item in value]
        return {NESTED: items} if inside_list else items
    return value


def decode(value):
    if isinstance(value, dict):
        if len(value) == 1 and NESTED in value:
            return [decode(item) for item in value[NESTED]]
        return {key: decode(item) for key, item in value.items()}
    if isinstance(value, list):
        return [decode(item) for item in value]
    return value
