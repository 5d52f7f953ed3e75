"""Money: exact decimals in from numbers or strings, two decimals out, no float noise."""
from __future__ import annotations

from decimal import Decimal

import pytest

from crmkit.money import format_money, from_cents, parse_money, to_cents


@pytest.mark.parametrize("given, expected", [
    ("12000.50", "12000.50"), ("12000.5", "12000.50"), ("12", "12.00"), (12, "12.00"),
    (" 7.10 ", "7.10"), ("0", "0.00"), ("1e3", "1000.00"), ("12.500", "12.50"),
    (Decimal("3.2"), "3.20"),
])
def test_parses_numbers_and_strings_to_two_places(given, expected):
    amount = parse_money(given)
    assert isinstance(amount, Decimal)
    assert str(amount) == expected


@pytest.mark.parametrize("given, expected", [
    (0.1, "0.10"), (12000.5, "12000.50"), (19.99, "19.99"), (0.07, "0.07"),
    (1234567.89, "1234567.89"),
])
def test_floats_keep_their_written_value_without_binary_noise(given, expected):
    # Decimal(0.1) would be 0.1000000000000000055...: parse must not see that.
    assert str(parse_money(given)) == expected


@pytest.mark.parametrize("given", ["12.345", 0.001, "0.005", 19.999])
def test_refuses_more_than_two_decimals(given):
    with pytest.raises(ValueError, match="two decimals"):
        parse_money(given)


@pytest.mark.parametrize("given", ["-1", -0.01, "-12000.50"])
def test_refuses_negative_amounts(given):
    with pytest.raises(ValueError, match="negative"):
        parse_money(given)


@pytest.mark.parametrize("given", [float("nan"), "NaN", "sNaN", float("inf"), "-Infinity",
                                   "Infinity", "abc", "", "12,50", None, True, False, [1]])
def test_refuses_what_is_not_an_amount(given):
    with pytest.raises(ValueError):
        parse_money(given)


def test_refuses_absurdly_large_amounts():
    with pytest.raises(ValueError, match="too large"):
        parse_money("1e15")
    with pytest.raises(ValueError, match="too large"):
        parse_money(10 ** 30)
    assert str(parse_money("999999999999999.99")) == "999999999999999.99"


def test_negative_zero_is_plain_zero():
    assert format_money(parse_money("-0")) == "0.00"
    assert format_money(parse_money(-0.0)) == "0.00"


@pytest.mark.parametrize("given, shown", [
    (Decimal("12000.5"), "12000.50"), ("3", "3.00"), (7, "7.00"), (Decimal("1.005"), "1.01"),
    (Decimal("2.675"), "2.68"), (None, None),
])
def test_formats_with_two_decimals_rounding_half_up(given, shown):
    assert format_money(given) == shown


@pytest.mark.parametrize("text", ["0.00", "0.01", "12000.50", "999999999999999.99"])
def test_cents_round_trip(text):
    amount = Decimal(text)
    cents = to_cents(amount)
    assert isinstance(cents, int)
    assert from_cents(cents) == amount
    assert format_money(from_cents(cents)) == text


def test_to_cents_is_exact():
    assert to_cents(Decimal("12000.50")) == 1200050
    assert to_cents(parse_money(0.29)) == 29  # float 0.29 * 100 would be 28.999...
