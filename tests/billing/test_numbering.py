"""Tables for billing/numbering.py: PREFIX/YY-YY/SEQUENCE within CGST Rule 46(b)'s 16 characters."""

from __future__ import annotations

import re

import pytest

from billing.numbering import (
    MAX_LENGTH,
    SEQ_DIGITS,
    InvoiceNumber,
    check_prefix,
    format_number,
    parse_number,
)

RULE_46B = re.compile(r"[A-Za-z0-9/-]{1,16}")


@pytest.mark.parametrize(
    "prefix, fy, seq, digits, number",
    [
        pytest.param("BF", "26-27", 42, 6, "BF/26-27/000042", id="typical"),
        pytest.param("BF", "26-27", 1, 6, "BF/26-27/000001", id="first"),
        pytest.param("BF", "26-27", 999_999, 6, "BF/26-27/999999", id="last"),
        pytest.param("INV", "26-27", 7, 6, "INV/26-27/000007", id="three-letter-prefix-16-chars"),
        pytest.param("A-1", "99-00", 5, 6, "A-1/99-00/000005", id="hyphen-and-century"),
        pytest.param("bf", "26-27", 5, 6, "bf/26-27/000005", id="lowercase-allowed"),
        pytest.param("BILL", "26-27", 5, 5, "BILL/26-27/00005", id="shorter-sequence"),
        pytest.param("BILLFLOW", "26-27", 5, 1, "BILLFLOW/26-27/5", id="one-digit-sequence"),
    ],
)
def test_format_number_valid_parts_make_a_rule_46b_number(
    prefix: str, fy: str, seq: int, digits: int, number: str
) -> None:
    assert format_number(prefix, fy, seq, digits) == number
    assert RULE_46B.fullmatch(number)
    assert parse_number(number, digits) == InvoiceNumber(prefix, fy, seq, digits)
    assert str(parse_number(number, digits)) == number


def test_format_number_default_width_is_six_digits() -> None:
    assert SEQ_DIGITS == 6
    assert format_number("BF", "26-27", 42) == "BF/26-27/000042"
    assert str(InvoiceNumber("BF", "26-27", 42)) == "BF/26-27/000042"


@pytest.mark.parametrize(
    "prefix, fy, seq, message",
    [
        pytest.param("BF", "26-27", 0, "starts at 1", id="seq-zero"),
        pytest.param("BF", "26-27", -1, "starts at 1", id="seq-negative"),
        pytest.param("BF", "26-27", 1_000_000, "is full", id="seq-overflow"),
        pytest.param("BF", "2026-27", 1, "look like", id="fy-long"),
        pytest.param("BF", "26-28", 1, "consecutive", id="fy-not-consecutive"),
        pytest.param("BF", "27-26", 1, "consecutive", id="fy-backwards"),
        pytest.param("BF", "99-01", 1, "consecutive", id="fy-century-wrong"),
        pytest.param("BF", "26/27", 1, "look like", id="fy-slash"),
        pytest.param("BFLW", "26-27", 1, "too long", id="prefix-too-long"),
        pytest.param("B F", "26-27", 1, "ASCII letters", id="prefix-space"),
    ],
)
def test_format_number_bad_part_raises(prefix: str, fy: str, seq: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        format_number(prefix, fy, seq)


def test_format_number_bool_sequence_raises() -> None:
    with pytest.raises(TypeError):
        format_number("BF", "26-27", True)


@pytest.mark.parametrize(
    "prefix, digits",
    [
        pytest.param("B", 6, id="one"),
        pytest.param("BF", 6, id="two"),
        pytest.param("INV", 6, id="three-is-the-most-with-six-digits"),
        pytest.param("BILLFLOW", 1, id="eight-with-one-digit"),
        pytest.param("X-Y", 6, id="hyphen"),
        pytest.param("9", 6, id="digit"),
    ],
)
def test_check_prefix_fitting_prefix_passes(prefix: str, digits: int) -> None:
    check_prefix(prefix, digits)
    longest = format_number(prefix, "26-27", 10**digits - 1, digits)
    assert len(longest) <= MAX_LENGTH


@pytest.mark.parametrize(
    "prefix, digits, message",
    [
        pytest.param("BFLW", 6, r"reach 17 characters.*at most 3", id="four-with-six-digits"),
        pytest.param("BILLFLOW", 2, "too long", id="eight-with-two-digits"),
        pytest.param("", 6, "one or more", id="empty"),
        pytest.param("B/F", 6, "'/' separates", id="slash"),
        pytest.param("B_F", 6, "ASCII letters", id="underscore"),
        pytest.param("B.F", 6, "ASCII letters", id="dot"),
        pytest.param("BF ", 6, "ASCII letters", id="trailing-space"),
        pytest.param("ÉF", 6, "ASCII letters", id="non-ascii-letter"),
        pytest.param("B\u0663", 6, "ASCII letters", id="non-ascii-digit"),
        pytest.param("BF\n", 6, "ASCII letters", id="trailing-newline"),
        pytest.param("BF", 0, "positive", id="zero-digits"),
        pytest.param("BF", 11, "too long", id="sequence-alone-too-long"),
    ],
)
def test_check_prefix_unlawful_prefix_raises(prefix: str, digits: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        check_prefix(prefix, digits)


@pytest.mark.parametrize(
    "number, message",
    [
        pytest.param("BF/26-27/42", "6-digit sequence", id="short-sequence"),
        pytest.param("BF/26-27/0000042", "6-digit sequence", id="long-sequence"),
        pytest.param("INV/26-27/0000042", "longer than 16", id="seventeen-characters"),
        pytest.param("BF/26-27/000000", "sequence 0", id="sequence-zero"),
        pytest.param("BF/26-27/00004a", "6-digit sequence", id="letter-in-sequence"),
        pytest.param("BF/26-27/0000\u0664\u0662", "6-digit sequence", id="non-ascii-digits"),
        pytest.param("BF-26-27-000042", "PREFIX/YY-YY/SEQUENCE", id="no-slashes"),
        pytest.param("B/F/26-27/00001", "PREFIX/YY-YY/SEQUENCE", id="extra-slash"),
        pytest.param("/26-27/000042", "one or more", id="no-prefix"),
        pytest.param("BF/26-28/000042", "consecutive", id="fy-not-consecutive"),
        pytest.param("BF/2026/000042", "look like", id="fy-shape"),
        pytest.param("", "PREFIX/YY-YY/SEQUENCE", id="empty"),
    ],
)
def test_parse_number_malformed_raises(number: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_number(number)
