"""Tables for billing/gstin.py: GSTIN shape, the GSTN mod-36 check character, state codes."""

from __future__ import annotations

import pytest

from billing.gstin import (
    STATES,
    check_character,
    state_code_for_name,
    state_code_of,
    validate_gstin,
)

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
#: The example GSTIN in python-stdnum's documentation: an outside check of the algorithm.
PUBLISHED = "27AAPFU0939F1ZV"


def _reference_check(first14: str) -> str:
    """The check character as often published: right to left, factors 2, 1, 2, ..."""
    total, factor = 0, 2
    for char in reversed(first14):
        digit = factor * ALPHABET.index(char)
        total += digit // 36 + digit % 36
        factor = 1 if factor == 2 else 2
    return ALPHABET[(36 - total % 36) % 36]


def _gstin(state: str, pan: str = "AAPFU0939F", entity: str = "1") -> str:
    first14 = f"{state}{pan}{entity}Z"
    return first14 + _reference_check(first14)


VALID = [
    PUBLISHED,
    _gstin("29", "AABCT3518Q"),
    _gstin("07", "AAACR5055K", "2"),
    _gstin("33", "ABCDE1234F", "Z"),
    _gstin("01", "ZZZZZ9999Z", "9"),
    _gstin("38", "AAAAA0001A", "A"),
    _gstin("97", "AAJCS1234B"),
    _gstin("99", "AAAGM0289C"),
]


def test_check_character_published_gstin_matches() -> None:
    assert check_character(PUBLISHED[:14]) == "V"


@pytest.mark.parametrize("gstin", VALID)
def test_check_character_agrees_with_right_to_left_formulation(gstin: str) -> None:
    assert check_character(gstin[:14]) == _reference_check(gstin[:14]) == gstin[14]


@pytest.mark.parametrize("gstin", VALID)
def test_validate_gstin_valid_returns_it(gstin: str) -> None:
    assert validate_gstin(gstin) == gstin


@pytest.mark.parametrize("code", sorted(STATES))
def test_validate_gstin_every_state_code_is_accepted(code: str) -> None:
    gstin = _gstin(code)
    assert validate_gstin(gstin) == gstin
    assert state_code_of(gstin) == code


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(PUBLISHED.lower(), id="lowercase"),
        pytest.param(f"  {PUBLISHED}\n", id="surrounding-whitespace"),
        pytest.param("27aapfu0939f1zv", id="all-lower"),
    ],
)
def test_validate_gstin_sloppy_input_is_normalised(raw: str) -> None:
    assert validate_gstin(raw) == PUBLISHED


@pytest.mark.parametrize("gstin", VALID)
@pytest.mark.parametrize("position", range(15))
def test_validate_gstin_any_single_character_changed_raises(gstin: str, position: int) -> None:
    """Luhn mod N catches every single substitution; the shape checks catch the rest first."""
    for char in ALPHABET:
        if char == gstin[position]:
            continue
        corrupted = gstin[:position] + char + gstin[position + 1 :]
        with pytest.raises(ValueError):
            validate_gstin(corrupted)


@pytest.mark.parametrize(
    "gstin, reason",
    [
        pytest.param("", "15 ASCII", id="empty"),
        pytest.param(PUBLISHED[:14], "15 ASCII", id="fourteen"),
        pytest.param(PUBLISHED + "1", "15 ASCII", id="sixteen"),
        pytest.param("27AAPFU0939F1Z\u0412", "15 ASCII", id="cyrillic-ve"),
        pytest.param("27 AAPFU0939F1ZV", "15 ASCII", id="inner-space"),
        pytest.param("2AAAPFU0939F1ZV", "characters 1-2", id="letter-in-state"),
        pytest.param(_gstin("00"), "not a GST state code", id="state-00"),
        pytest.param(_gstin("39"), "not a GST state code", id="state-39"),
        pytest.param(_gstin("96"), "not a GST state code", id="state-96-foreign"),
        pytest.param(_gstin("98"), "not a GST state code", id="state-98"),
        pytest.param(_gstin("27", "AAPF10939F"), "PAN", id="digit-in-pan-letters"),
        pytest.param(_gstin("27", "AAPFUA939F"), "PAN", id="letter-in-pan-digits"),
        pytest.param(_gstin("27", "AAPFU09391"), "PAN", id="digit-pan-last"),
        pytest.param(_gstin("27", "AAPFU0000F"), "0000", id="pan-serial-zero"),
        pytest.param(_gstin("27", entity="0"), "entity number", id="entity-zero"),
        pytest.param("27AAPFU0939F1AV", "must be 'Z'", id="fourteenth-not-z"),
        pytest.param("27AAPFU0939F1ZW", "check character", id="wrong-check"),
        pytest.param("27AAPFU0939F1Z-", "character 15", id="punctuation-check"),
        pytest.param("27AAPUF0939F1ZV", "check character", id="transposed"),
    ],
)
def test_validate_gstin_malformed_raises_with_reason(gstin: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        validate_gstin(gstin)


def test_state_code_of_invalid_gstin_raises() -> None:
    with pytest.raises(ValueError, match="check character"):
        state_code_of("27AAPFU0939F1ZW")


def test_check_character_bad_input_raises() -> None:
    with pytest.raises(ValueError, match="14 characters"):
        check_character("27aapfu0939f1z")


def test_states_table_is_the_gst_code_list() -> None:
    assert sorted(STATES) == [f"{n:02d}" for n in range(1, 39)] + ["97", "99"]
    assert STATES["01"] == "Jammu and Kashmir"
    assert STATES["27"] == "Maharashtra"
    assert STATES["37"] == "Andhra Pradesh"
    assert STATES["38"] == "Ladakh"
    assert STATES["97"] == "Other Territory"
    assert STATES["99"] == "Centre Jurisdiction"


@pytest.mark.parametrize(
    "name, code",
    [
        ("Maharashtra", "27"),
        ("maharashtra", "27"),
        ("  TAMIL   nadu ", "33"),
        ("Jammu & Kashmir", "01"),
        ("Andaman & Nicobar Islands", "35"),
        ("Andhra Pradesh", "37"),
        ("Telangana", "36"),
        ("Ladakh", "38"),
        ("Delhi", "07"),
        ("NCT of Delhi", "07"),
        ("Orissa", "21"),
        ("Odisha", "21"),
        ("Chattisgarh", "22"),
        ("Pondicherry", "34"),
        ("Uttaranchal", "05"),
        ("Daman and Diu", "26"),
        ("Dadra & Nagar Haveli", "26"),
        ("Dadra and Nagar Haveli and Daman and Diu", "26"),
        ("Other Territory", "97"),
        ("Centre Jurisdiction", "99"),
    ],
)
def test_state_code_for_name_known_name_returns_current_code(name: str, code: str) -> None:
    assert state_code_for_name(name) == code


@pytest.mark.parametrize(
    "name",
    ["", "Atlantis", "Andhra Pradesh (Before Division)", "27", "Maharashtra State"],
)
def test_state_code_for_name_unknown_or_retired_raises(name: str) -> None:
    with pytest.raises(ValueError, match="not a GST state"):
        state_code_for_name(name)


@pytest.mark.parametrize("code, name", sorted(STATES.items()))
def test_state_code_for_name_every_current_name_round_trips(code: str, name: str) -> None:
    if code == "25":  # retired: its name now means the merged UT
        assert state_code_for_name(name) == "26"
    elif code == "28":
        with pytest.raises(ValueError):
            state_code_for_name(name)
    else:
        assert state_code_for_name(name.upper()) == code
