"""crmkit.queries.resumed: a long read goes on from where it broke off when the server
lost its cursor, and gives up when that keeps happening with nothing read in between."""
from __future__ import annotations

import pytest
from pymongo.errors import CursorNotFound

from crmkit.queries import CURSOR_LOSSES, resumed

DOCS = [{"_id": n} for n in range(10)]


def reads_losing_cursor_at(*breaks: int):
    """A read of DOCS whose cursor is lost once it has handed out each of `breaks`
    documents (counted from the start of the whole read), and the skips it was asked."""
    asked, pending = [], list(breaks)

    def read(skip: int):
        asked.append(skip)
        for position in range(skip, len(DOCS)):
            if pending and position == pending[0]:
                pending.pop(0)
                raise CursorNotFound("cursor id 7 not found", 43)
            yield DOCS[position]
    return read, asked


def test_a_read_that_keeps_its_cursor_is_read_once():
    read, asked = reads_losing_cursor_at()
    assert list(resumed(read)) == DOCS
    assert asked == [0]


def test_a_lost_cursor_is_read_on_from_the_documents_already_handed_out():
    read, asked = reads_losing_cursor_at(4, 7)
    assert list(resumed(read)) == DOCS
    assert asked == [0, 4, 7]


def test_losses_with_documents_read_in_between_are_each_survived():
    read, asked = reads_losing_cursor_at(*range(1, 2 * CURSOR_LOSSES + 2))
    assert list(resumed(read)) == DOCS
    assert asked == list(range(2 * CURSOR_LOSSES + 2))


def test_a_read_that_keeps_losing_its_cursor_at_the_same_place_fails():
    read, asked = reads_losing_cursor_at(2, *[5] * (CURSOR_LOSSES + 1))
    with pytest.raises(CursorNotFound):
        list(resumed(read))
    assert asked == [0, 2, *[5] * CURSOR_LOSSES]


def test_other_errors_are_not_retried():
    def read(skip: int):
        yield DOCS[0]
        raise ValueError("bad document")

    with pytest.raises(ValueError):
        list(resumed(read))
