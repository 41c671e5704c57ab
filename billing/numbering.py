"""The invoice-number rule: `{prefix}/{fy}/{seq}`, e.g. BF/26-27/000042.

Owns: the shape of an invoice number, formatting and parsing one, and refusing at start-up a
prefix that could ever produce an unlawful number. Does not own: choosing the next sequence
number or guaranteeing it is unused (the ledger does that inside its transaction), nor which
financial year an invoice belongs to (`periods.financial_year` from the invoice date).

CGST Rules, 2017, Rule 46(b): a tax invoice carries "a consecutive serial number not exceeding
sixteen characters, in one or multiple series, containing alphabets or numerals or special
characters hyphen or dash and slash symbolised as "-" and "/" respectively, and any combination
thereof, unique for a financial year". Hence the financial year inside the number (numbers
restart each April and stay unique), and the 16-character ceiling: with a 6-digit sequence
"/26-27/" leaves the prefix 3 characters.

The prefix is one segment of ASCII letters, digits and hyphens: the slashes are the
separators, so a number always parses back unambiguously.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = [
    "MAX_LENGTH",
    "SEQ_DIGITS",
    "InvoiceNumber",
    "check_prefix",
    "format_number",
    "parse_number",
]

MAX_LENGTH = 16  # Rule 46(b)
SEQ_DIGITS = 6
_PREFIX = re.compile(r"[A-Za-z0-9-]+")
_FY = re.compile(r"([0-9]{2})-([0-9]{2})")
_SEQ = re.compile(r"[0-9]+")
_FY_LENGTH = len("26-27")


@dataclass(frozen=True, slots=True)
class InvoiceNumber:
    """A parsed invoice number; `str()` formats it back."""

    prefix: str
    fy_label: str
    seq: int
    digits: int = SEQ_DIGITS

    def __str__(self) -> str:
        return format_number(self.prefix, self.fy_label, self.seq, self.digits)


def check_prefix(prefix: str, digits: int = SEQ_DIGITS) -> None:
    """Raise ValueError unless every number with this prefix fits Rule 46(b).

    Run at start-up: the longest number the prefix can produce (sequence 10**digits - 1) must
    be at most 16 characters of letters, digits, '-' and '/'.
    """
    if isinstance(digits, bool) or not isinstance(digits, int) or digits < 1:
        raise ValueError(f"sequence digits must be a positive int, got {digits!r}")
    if not _PREFIX.fullmatch(prefix):
        raise ValueError(
            f"invoice prefix {prefix!r} must be one or more ASCII letters, digits or '-' "
            "(CGST Rule 46(b); '/' separates the prefix from the year)"
        )
    longest = len(prefix) + 1 + _FY_LENGTH + 1 + digits
    if longest > MAX_LENGTH:
        room = MAX_LENGTH - (2 + _FY_LENGTH + digits)
        raise ValueError(
            f"invoice prefix {prefix!r} is too long: with a {digits}-digit sequence its numbers "
            f"reach {longest} characters, and CGST Rule 46(b) allows {MAX_LENGTH} "
            f"(a prefix of at most {max(room, 0)})"
        )


def format_number(prefix: str, fy_label: str, seq: int, digits: int = SEQ_DIGITS) -> str:
    """BF, 26-27, 42 -> "BF/26-27/000042"."""
    check_prefix(prefix, digits)
    _check_fy(fy_label)
    if isinstance(seq, bool) or not isinstance(seq, int):
        raise TypeError(f"invoice sequence must be an int, not {type(seq).__name__}")
    if seq < 1:
        raise ValueError(f"invoice sequence starts at 1, got {seq}")
    if seq >= 10**digits:
        raise ValueError(
            f"invoice sequence {seq} exceeds {digits} digits: series {prefix}/{fy_label} is full"
        )
    return f"{prefix}/{fy_label}/{seq:0{digits}d}"


def parse_number(number: str, digits: int = SEQ_DIGITS) -> InvoiceNumber:
    """ "BF/26-27/000042" -> InvoiceNumber("BF", "26-27", 42); ValueError naming what is wrong."""
    if len(number) > MAX_LENGTH:
        raise ValueError(f"invoice number {number!r} is longer than {MAX_LENGTH} characters")
    parts = number.split("/")
    if len(parts) != 3:
        raise ValueError(f"invoice number {number!r} must be PREFIX/YY-YY/SEQUENCE")
    prefix, fy_label, seq_text = parts
    check_prefix(prefix, digits)
    _check_fy(fy_label)
    if len(seq_text) != digits or not _SEQ.fullmatch(seq_text):
        raise ValueError(f"invoice number {number!r} must end in a {digits}-digit sequence")
    seq = int(seq_text)
    if seq < 1:
        raise ValueError(f"invoice number {number!r} has sequence 0; sequences start at 1")
    return InvoiceNumber(prefix, fy_label, seq, digits)


def _check_fy(fy_label: str) -> None:
    match = _FY.fullmatch(fy_label)
    if match is None:
        raise ValueError(f"financial year must look like '26-27', got {fy_label!r}")
    if (int(match[1]) + 1) % 100 != int(match[2]):
        raise ValueError(
            f"financial year {fy_label!r} must name consecutive years, e.g. '26-27' or '99-00'"
        )
