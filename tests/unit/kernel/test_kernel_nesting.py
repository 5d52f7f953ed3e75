"""Stored form: nested arrays and awkward keys survive a round trip; plain values are
stored as they are."""
from crmkit import nesting


def test_nested_arrays_and_dotted_or_dollar_keys_round_trip():
    value = {"changes": {"tags": [["a"], ["a", "b"]], "contacts.c1": [None, {"x": 1}],
                         "$weird": 1, "50%": [[1, [2]]]}, "n": 3}
    stored = nesting.encode(value)
    assert "contacts%2Ec1" in stored["changes"] and "%24weird" in stored["changes"]
    assert stored["changes"]["tags"] == [{nesting.NESTED: ["a"]}, {nesting.NESTED: ["a", "b"]}]
    assert nesting.decode(stored) == value


def test_plain_values_are_stored_unchanged():
    value = {"a": [1, "x", {"b": [2]}], "c": None}
    assert nesting.encode(value) == value and nesting.decode(value) == value
