"""Lists: {items, total, page, per_page}, `page` from 1, `per_page` ≤ 100, `sort` ±field."""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from crmkit.errors import Invalid
from crmkit.queries import count_matching

MAX_PER_PAGE = 100


class PageQuery(Schema):
    """Mix into a list endpoint's query schema."""

    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=100_000))
    per_page = fields.Integer(load_default=20, validate=validate.Range(min=1, max=MAX_PER_PAGE))
    sort = fields.String(load_default=None)


def sort_spec(sort: str | None, allowed, default: str) -> list[tuple[str, int]]:
    """'-created_at' -> [("created_at", -1), ("_id", -1)]; refuses fields not indexed."""
    text = sort or default
    direction = -1 if text.startswith("-") else 1
    field = text.lstrip("+-")
    if field not in allowed:
        raise Invalid("sort", f"Sort by one of: {', '.join(sorted(allowed))}.")
    return [(field, direction), ("_id", direction)]


def paginate(collection, filter_: dict, *, sort, page: int, per_page: int,
             projection=None) -> tuple[list[dict], int]:
    total = count_matching(collection, filter_)
    cursor = collection.find(filter_, projection).sort(sort).skip((page - 1) * per_page)
    return list(cursor.limit(per_page)), total


def page_body(items: list, total: int, page: int, per_page: int) -> dict:
    return {"items": items, "total": total, "page": page, "per_page": per_page}
