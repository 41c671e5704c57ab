"""GSTIN validation and the GST state-code table.

Owns: checking that a GST identification number is well formed (shape and check character),
normalising it, the state code it carries, and the table of GST state codes with a lookup by
name. Does not own: whether the GSTIN is registered or active (only the GST portal knows), nor
place-of-supply or CGST/SGST-versus-IGST decisions (pricing.py, from the codes found here).

A regular taxpayer's GSTIN is 15 characters:

    27 AAPFU0939F 1 Z V
    |  |          | | +-- check character (below)
    |  |          | +---- 'Z' for every regular registration
    |  |          +------ entity number: 1-9 then A-Z, the holder's nth registration in the state
    |  +----------------- the holder's PAN: 5 letters, 4 digits (not 0000), 1 letter
    +-------------------- state code, from `STATES`

Other registration types (UIN holders, non-resident OIDAR suppliers, TDS/TCS deductors) use
other shapes and are refused: a storage customer registers as a regular taxpayer.

The check character is GSTN's Luhn mod 36: read the first 14 characters as code points in
"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ", multiply them by 1, 2, 1, 2, ... from the left, add the
quotient and the remainder of each product divided by 36, and the check is
(36 - sum % 36) % 36 as a code point.
"""

from __future__ import annotations

import re

__all__ = ["STATES", "check_character", "state_code_for_name", "state_code_of", "validate_gstin"]

_CODE_POINTS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_LENGTH = 15

#: GST state code -> state or union territory, as the GST portal lists them.
STATES: dict[str, str] = {
    "01": "Jammu and Kashmir",
    "02": "Himachal Pradesh",
    "03": "Punjab",
    "04": "Chandigarh",
    "05": "Uttarakhand",
    "06": "Haryana",
    "07": "Delhi",
    "08": "Rajasthan",
    "09": "Uttar Pradesh",
    "10": "Bihar",
    "11": "Sikkim",
    "12": "Arunachal Pradesh",
    "13": "Nagaland",
    "14": "Manipur",
    "15": "Mizoram",
    "16": "Tripura",
    "17": "Meghalaya",
    "18": "Assam",
    "19": "West Bengal",
    "20": "Jharkhand",
    "21": "Odisha",
    "22": "Chhattisgarh",
    "23": "Madhya Pradesh",
    "24": "Gujarat",
    "25": "Daman and Diu",  # merged into 26 in 2020; GSTINs issued before remain valid
    "26": "Dadra and Nagar Haveli and Daman and Diu",
    "27": "Maharashtra",
    "28": "Andhra Pradesh (Before Division)",  # before Telangana (36) split off in 2014
    "29": "Karnataka",
    "30": "Goa",
    "31": "Lakshadweep",
    "32": "Kerala",
    "33": "Tamil Nadu",
    "34": "Puducherry",
    "35": "Andaman and Nicobar Islands",
    "36": "Telangana",
    "37": "Andhra Pradesh",
    "38": "Ladakh",
    "97": "Other Territory",
    "99": "Centre Jurisdiction",
}

#: Codes no longer issued: a name lookup never returns them.
_RETIRED = frozenset({"25", "28"})

#: Former and common names -> the code in use today.
_ALIASES: dict[str, str] = {
    "orissa": "21",
    "chattisgarh": "22",
    "uttaranchal": "05",
    "pondicherry": "34",
    "nct of delhi": "07",
    "new delhi": "07",
    "daman and diu": "26",
    "dadra and nagar haveli": "26",
}


def _normal_name(name: str) -> str:
    return " ".join(name.replace("&", " and ").casefold().split())


_BY_NAME: dict[str, str] = {
    **{_normal_name(n): code for code, n in STATES.items() if code not in _RETIRED},
    **_ALIASES,
}

# Positions are 1-based in messages, as GSTN documents them.
_SHAPE: tuple[tuple[slice, re.Pattern[str], str], ...] = (
    (slice(0, 2), re.compile(r"[0-9]{2}"), "characters 1-2 (state code) must be digits"),
    (
        slice(2, 12),
        re.compile(r"[A-Z]{5}[0-9]{4}[A-Z]"),
        "characters 3-12 must be a PAN: 5 letters, 4 digits, 1 letter",
    ),
    (slice(12, 13), re.compile(r"[1-9A-Z]"), "character 13 (entity number) must be 1-9 or A-Z"),
    (slice(13, 14), re.compile(r"Z"), "character 14 must be 'Z' (a regular registration)"),
    (slice(14, 15), re.compile(r"[0-9A-Z]"), "character 15 (check) must be a digit or letter"),
)


def check_character(first14: str) -> str:
    """The GSTN mod-36 check character for the first 14 characters of a GSTIN."""
    if len(first14) != _LENGTH - 1 or any(c not in _CODE_POINTS for c in first14):
        raise ValueError(f"need 14 characters from 0-9 and A-Z, got {first14!r}")
    total = 0
    for index, char in enumerate(first14):
        product = _CODE_POINTS.index(char) * (1 if index % 2 == 0 else 2)
        total += product // 36 + product % 36
    return _CODE_POINTS[(36 - total % 36) % 36]


def validate_gstin(gstin: str) -> str:
    """The GSTIN upper-cased and stripped of surrounding spaces, or ValueError with the reason."""
    value = gstin.strip().upper()
    if not value.isascii() or len(value) != _LENGTH:
        raise ValueError(f"GSTIN {gstin!r} must be {_LENGTH} ASCII letters and digits")
    for span, pattern, reason in _SHAPE:
        if not pattern.fullmatch(value[span]):
            raise ValueError(f"GSTIN {value!r}: {reason}")
    if value[:2] not in STATES:
        raise ValueError(f"GSTIN {value!r}: {value[:2]!r} is not a GST state code")
    if value[7:11] == "0000":
        raise ValueError(f"GSTIN {value!r}: the PAN's serial digits (characters 8-11) are 0000")
    if check_character(value[:14]) != value[14]:
        raise ValueError(f"GSTIN {value!r}: check character does not match; a character is wrong")
    return value


def state_code_of(gstin: str) -> str:
    """The two-digit state code of a valid GSTIN ("27" for Maharashtra)."""
    return validate_gstin(gstin)[:2]


def state_code_for_name(name: str) -> str:
    """The code in use today for a state or UT name: case, spacing and '&' do not matter."""
    code = _BY_NAME.get(_normal_name(name))
    if code is None:
        raise ValueError(f"{name!r} is not a GST state or union territory name")
    return code
