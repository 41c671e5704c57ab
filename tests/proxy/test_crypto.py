"""Secrets at rest and password hashes, by themselves."""

from __future__ import annotations

import pytest

from proxy.crypto import MasterKeyError, SecretBox, check_password, hash_password


def test_crypto_seal_then_open_round_trips_and_hides_plaintext() -> None:
    box = SecretBox.from_text(SecretBox.generate_key())
    sealed = box.seal("s3cr3t-value", context="AKIA1")
    assert "s3cr3t-value" not in sealed
    assert box.seal("s3cr3t-value", context="AKIA1") != sealed  # a fresh IV each time
    assert box.open(sealed, context="AKIA1") == "s3cr3t-value"


def test_crypto_open_with_another_context_refused() -> None:
    """A sealed value copied into another key's row does not open there."""
    box = SecretBox.from_text(SecretBox.generate_key())
    sealed = box.seal("secret", context="AKIA1")
    with pytest.raises(MasterKeyError, match="another record"):
        box.open(sealed, context="AKIA2")


def test_crypto_open_with_wrong_key_refused_naming_the_variable() -> None:
    sealed = SecretBox.from_text(SecretBox.generate_key()).seal("secret", context="K")
    with pytest.raises(MasterKeyError, match="BILLFLOW_MASTER_KEY does not open"):
        SecretBox.from_text(SecretBox.generate_key()).open(sealed, context="K")


def test_crypto_rotation_new_key_first_opens_old_and_reseals() -> None:
    old, new = SecretBox.generate_key(), SecretBox.generate_key()
    sealed = SecretBox.from_text(old).seal("secret", context="K")
    both = SecretBox.from_text(f"{new}, {old}")
    assert both.open(sealed, context="K") == "secret"
    resealed = both.reseal(sealed)
    assert SecretBox.from_text(new).open(resealed, context="K") == "secret"
    with pytest.raises(MasterKeyError):
        SecretBox.from_text(old).open(resealed, context="K")


@pytest.mark.parametrize(
    ("text", "which"),
    [
        ("", "key 1 of 1"),
        ("not-base64!", "key 1 of 1"),
        ("c2hvcnQ=", "key 1 of 1"),
        (f"{'A' * 43}=,tooshort", "key 2 of 2"),
    ],
)
def test_crypto_malformed_master_key_refused_without_echoing_it(text: str, which: str) -> None:
    with pytest.raises(MasterKeyError, match=which) as err:
        SecretBox.from_text(text)
    assert "BILLFLOW_MASTER_KEY" in str(err.value)
    assert all(part not in str(err.value) for part in text.split(",") if part)


def test_crypto_repr_shows_no_key() -> None:
    key = SecretBox.generate_key()
    assert key not in repr(SecretBox.from_text(key))


def test_crypto_password_hash_verifies_and_stores_its_parameters() -> None:
    stored = hash_password("correct horse", log2_n=10)
    assert stored.startswith("scrypt$ln=10,r=8,p=1$")
    assert check_password("correct horse", stored)
    assert not check_password("correct horsE", stored)


def test_crypto_password_hashes_salted() -> None:
    assert hash_password("same", log2_n=4) != hash_password("same", log2_n=4)


def test_crypto_password_default_cost_is_owasp_scrypt() -> None:
    assert hash_password("x").startswith("scrypt$ln=17,r=8,p=1$")


@pytest.mark.parametrize(
    "stored",
    [
        "",
        "bcrypt$x$y$z",
        "scrypt$ln=10,r=8$AAAA$AAAA",
        "scrypt$ln=30,r=8,p=1$AAAA$AAAA",
        "scrypt$ln=10,r=8,p=1$!!$AAAA",
    ],
)
def test_crypto_corrupt_password_hash_never_matches(stored: str) -> None:
    assert not check_password("anything", stored)


def test_crypto_unknown_user_check_fails() -> None:
    assert not check_password("anything", None)
