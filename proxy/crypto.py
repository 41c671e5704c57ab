"""Key material: access-key secrets sealed at rest, and admin password hashes.

Owns: sealing and opening access-key secrets with the master key (`cryptography`'s Fernet:
AES-128-CBC with an HMAC-SHA256 tag, a fresh IV per value), re-sealing them under a new key
(MultiFernet), and hashing admin passwords with `hashlib.scrypt`. Does not own: where sealed
values live (the ledger) or where the key comes from (config reads it from the environment).

The master key (BILLFLOW_MASTER_KEY) is one or more Fernet keys separated by commas: each is 32
random bytes in url-safe base64 (44 characters), as `billflow master-key generate` prints. The
first key seals; every key opens. To rotate: put a new key first, restart, run
`billflow master-key rotate` (re-seals every secret under it), then drop the old key.

Each secret is sealed together with the id of the record it belongs to, so a sealed value copied
into another row does not open there (Fernet has no associated data; this stands in for it).
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import secrets
from collections.abc import Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from proxy.config import ENV_MASTER_KEY

# scrypt cost (OWASP Password Storage Cheat Sheet: N=2^17, r=8, p=1; 128 MiB, ~0.3 s). The
# parameters are stored with each hash, so raising them later leaves old hashes verifiable.
_SCRYPT_LOG2_N, _SCRYPT_R, _SCRYPT_P = 17, 8, 1
_SCRYPT_SALT_BYTES, _SCRYPT_DKLEN = 16, 32
_SCRYPT_SCHEME = "scrypt"
_SCRYPT_MAX_BYTES = 512 * 1024 * 1024


class MasterKeyError(Exception):
    """The master key is missing or malformed, or does not open a stored secret."""


class SecretBox:
    """Seals and opens short secrets; repr never shows a key."""

    def __init__(self, keys: Sequence[bytes]) -> None:
        if not keys:
            raise MasterKeyError(f"{ENV_MASTER_KEY}: no key given")
        self._fernet = MultiFernet([Fernet(k) for k in keys])
        self._count = len(keys)

    @classmethod
    def from_text(cls, text: str) -> SecretBox:
        """Parse BILLFLOW_MASTER_KEY; errors say which key is wrong, never what it holds."""
        parts = [p.strip() for p in text.split(",")]
        keys: list[bytes] = []
        for number, part in enumerate(parts, 1):
            try:
                raw = base64.urlsafe_b64decode(part.encode("ascii"))
            except (binascii.Error, UnicodeEncodeError, ValueError):
                raw = b""
            if len(raw) != 32:
                raise MasterKeyError(
                    f"{ENV_MASTER_KEY}: key {number} of {len(parts)} is not a Fernet key "
                    "(32 bytes in url-safe base64, 44 characters; "
                    "`billflow master-key generate` makes one)"
                )
            keys.append(part.encode("ascii"))
        return cls(keys)

    @staticmethod
    def generate_key() -> str:
        return Fernet.generate_key().decode("ascii")

    def __repr__(self) -> str:
        return f"SecretBox(<{self._count} key(s)>)"

    def seal(self, secret: str, *, context: str) -> str:
        return self._fernet.encrypt(f"{context}\0{secret}".encode()).decode("ascii")

    def open(self, sealed: str, *, context: str) -> str:
        try:
            plain = self._fernet.decrypt(sealed.encode("ascii")).decode()
        except (InvalidToken, UnicodeError) as e:
            raise MasterKeyError(
                f"{ENV_MASTER_KEY} does not open the stored secret of {context}: wrong key, or "
                "the key that sealed it was dropped before `billflow master-key rotate`"
            ) from e
        owner, sep, secret = plain.partition("\0")
        if not sep or owner != context:
            raise MasterKeyError(f"the stored secret of {context} was sealed for another record")
        return secret

    def reseal(self, sealed: str) -> str:
        """The same secret sealed under the first key (for rotation)."""
        try:
            return self._fernet.rotate(sealed.encode("ascii")).decode("ascii")
        except InvalidToken as e:
            raise MasterKeyError(f"{ENV_MASTER_KEY} does not open a stored secret") from e


def hash_password(password: str, *, log2_n: int = _SCRYPT_LOG2_N) -> str:
    """`scrypt$ln=17,r=8,p=1$<salt>$<hash>` (base64); `log2_n` lowers the cost for tests only."""
    salt = secrets.token_bytes(_SCRYPT_SALT_BYTES)
    digest = _scrypt(password, salt, log2_n, _SCRYPT_R, _SCRYPT_P)
    return "$".join(
        (
            _SCRYPT_SCHEME,
            f"ln={log2_n},r={_SCRYPT_R},p={_SCRYPT_P}",
            base64.b64encode(salt).decode("ascii"),
            base64.b64encode(digest).decode("ascii"),
        )
    )


def check_password(password: str, stored: str | None) -> bool:
    """True when `password` matches `stored`. With no stored hash (unknown user) the same work is
    done against a dummy hash, so the failure takes as long as a wrong password does."""
    if stored is None:
        _check(password, _dummy_hash())
        return False
    return _check(password, stored)


def _check(password: str, stored: str) -> bool:
    try:
        scheme, params, salt_b64, digest_b64 = stored.split("$")
        fields = dict(item.split("=", 1) for item in params.split(","))
        log2_n, r, p = int(fields["ln"]), int(fields["r"]), int(fields["p"])
        salt, digest = base64.b64decode(salt_b64), base64.b64decode(digest_b64)
    except (ValueError, KeyError, binascii.Error):
        return False
    # Bounds keep a corrupted row from asking for gigabytes of memory.
    if scheme != _SCRYPT_SCHEME or not (1 <= log2_n <= 20 and 1 <= r <= 32 and 1 <= p <= 16):
        return False
    if 128 * (1 << log2_n) * r * p > _SCRYPT_MAX_BYTES:
        return False
    candidate = _scrypt(password, salt, log2_n, r, p, dklen=len(digest))
    return hmac.compare_digest(candidate, digest)


def _scrypt(
    password: str, salt: bytes, log2_n: int, r: int, p: int, *, dklen: int = _SCRYPT_DKLEN
) -> bytes:
    n = 1 << log2_n
    return hashlib.scrypt(
        password.encode(), salt=salt, n=n, r=r, p=p, maxmem=2 * 128 * n * r * p, dklen=dklen
    )


@functools.cache
def _dummy_hash() -> str:
    return hash_password(secrets.token_urlsafe(16))
