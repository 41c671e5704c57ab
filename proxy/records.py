"""What the ledger returns and refuses: its records, its errors and the rules for their values.

Owns: the frozen dataclasses the ledger hands out (tenants, access keys, credentials, buckets),
the ledger's error kinds, the value rules a tenant must meet (name, billing email, quota, billing
name and address, GST state and GSTIN, which must agree), and the shape of new access key ids
and secrets. Does not own: storage (the ledger), the GSTIN check itself (billing.gstin) or how
errors reach a client (admin.py renders them as JSON, the CLI as a line on stderr).
"""

from __future__ import annotations

import re
import secrets
import string
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from billing.gstin import STATES, validate_gstin

TenantStatus = Literal["active", "suspended"]
KeyStatus = Literal["active", "revoked"]

MAX_TENANT_NAME = 200
MAX_EMAIL = 254  # RFC 5321's limit on a forward path, less the angle brackets
MAX_QUOTA_BYTES = 2**63 - 1  # SQLite INTEGER
MAX_BILLING_ADDRESS = 500  # the invoice's buyer block, several lines
# Deliberately loose: one @, no spaces, a dot in the domain. Deliverability is the mailer's test.
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s.]+")
_KEY_ID_ALPHABET = string.ascii_uppercase + string.digits
_SECRET_ALPHABET = string.ascii_letters + string.digits + "+/"


class _Unset:
    """An update argument not given (None is a value: it clears the billing email)."""


UNSET: Any = _Unset()


class LedgerError(Exception):
    """A request the ledger refuses; the message says which and why."""


class NotFound(LedgerError):
    """No tenant, access key or admin by that id."""


class Conflict(LedgerError):
    """The change contradicts what is stored (a duplicate name, an owned bucket)."""


class InvalidValue(LedgerError):
    """A value breaks a rule of the model (name length, email shape, negative quota)."""


class BucketTaken(Conflict):
    """Every bucket has exactly one owner; this one has it already."""

    def __init__(self, name: str, owner_tenant_id: int) -> None:
        super().__init__(f"bucket {name!r} already has an owner")
        self.name = name
        self.owner_tenant_id = owner_tenant_id


class TenantOwnsBuckets(Conflict):
    def __init__(self, tenant_id: int, buckets: int) -> None:
        super().__init__(
            f"tenant {tenant_id} still owns {buckets} bucket(s); delete them first, or force"
        )
        self.buckets = buckets


@dataclass(frozen=True)
class Tenant:
    id: int
    name: str
    billing_email: str | None
    status: TenantStatus
    storage_quota_bytes: int | None  # None: no quota
    created_at: datetime
    updated_at: datetime
    # What the invoice's buyer block says; None: the tenant name, no address, no GSTIN.
    billing_name: str | None = None
    billing_address: str | None = None  # "\n"-separated lines
    billing_state: str | None = None  # GST state code; always the GSTIN's when there is one
    gstin: str | None = None


@dataclass(frozen=True)
class AccessKey:
    access_key_id: str
    tenant_id: int
    tenant_name: str
    created_at: datetime
    tenant_status: TenantStatus = "active"
    status: KeyStatus = "active"
    revoked_at: datetime | None = None
    last_used_at: datetime | None = None
    tenant_quota_bytes: int | None = None  # the tenant's storage quota, None: unlimited


@dataclass(frozen=True)
class Credentials:
    """An access key with its secret: returned once at creation, and to the verifier."""

    key: AccessKey
    secret: str

    def __repr__(self) -> str:  # never let a secret reach a log line through repr()
        return f"Credentials(key={self.key!r}, secret=<hidden>)"


@dataclass(frozen=True)
class Bucket:
    name: str
    tenant_id: int
    created_at: datetime


@dataclass(frozen=True)
class TenantRemoval:
    """What went with a deleted tenant: caches holding these must forget them."""

    access_key_ids: list[str]
    buckets: list[str]  # now owned by nobody (a forced delete)


def new_access_key_id() -> str:
    """20 upper-case letters and digits, the shape of AWS access key ids."""
    return "".join(secrets.choice(_KEY_ID_ALPHABET) for _ in range(20))


def new_secret() -> str:
    """40 characters from the base64 alphabet, the shape of AWS secret keys (238 bits)."""
    return "".join(secrets.choice(_SECRET_ALPHABET) for _ in range(40))


def check_tenant_name(name: str) -> str:
    if not 1 <= len(name) <= MAX_TENANT_NAME or not name.isprintable() or name != name.strip():
        raise InvalidValue(
            f"tenant name must be 1 to {MAX_TENANT_NAME} printable characters without "
            f"surrounding spaces, got {name[: MAX_TENANT_NAME + 1]!r}"
        )
    return name


def check_email(email: str | None) -> str | None:
    if email is not None and (len(email) > MAX_EMAIL or not _EMAIL.fullmatch(email)):
        raise InvalidValue(f"billing email {email[: MAX_EMAIL + 1]!r} is not an email address")
    return email


def check_quota(quota_bytes: int | None) -> int | None:
    if quota_bytes is not None and (
        isinstance(quota_bytes, bool)
        or not isinstance(quota_bytes, int)
        or not 0 <= quota_bytes <= MAX_QUOTA_BYTES
    ):
        raise InvalidValue(
            f"storage quota must be a whole number of bytes, 0 to {MAX_QUOTA_BYTES}, "
            f"got {quota_bytes!r}"
        )
    return quota_bytes


def check_billing_name(name: str | None) -> str | None:
    if name is not None and (
        not 1 <= len(name) <= MAX_TENANT_NAME or not name.isprintable() or name != name.strip()
    ):
        raise InvalidValue(
            f"billing_name must be 1 to {MAX_TENANT_NAME} printable characters without "
            f"surrounding spaces, got {name[: MAX_TENANT_NAME + 1]!r}"
        )
    return name


def check_billing_address(address: str | None) -> str | None:
    """Lines separated by newlines (the invoice prints one per line), each printable."""
    if address is not None and (
        not 1 <= len(address) <= MAX_BILLING_ADDRESS
        or address != address.strip()
        or not all(line.isprintable() for line in address.split("\n"))
    ):
        raise InvalidValue(
            f"billing_address must be 1 to {MAX_BILLING_ADDRESS} printable characters in lines "
            f"separated by \\n, without surrounding spaces, got {address[:60]!r}"
        )
    return address


def check_billing_state(state: str | None) -> str | None:
    if state is not None and state not in STATES:
        raise InvalidValue(
            f"billing_state must be a two-digit GST state code (27 for Maharashtra), "
            f"got {state[:10]!r}"
        )
    return state


def check_gstin(gstin: str | None) -> str | None:
    """The GSTIN normalised (upper case, no surrounding spaces): shape, state code, check
    character (billing.gstin). Whether it is registered only the GST portal knows."""
    if gstin is None:
        return None
    try:
        return validate_gstin(gstin)
    except ValueError as e:
        raise InvalidValue(f"gstin: {e}") from None


def check_tax_identity(state: str | None, gstin: str | None) -> tuple[str | None, str | None]:
    """(billing_state, gstin) checked together: a GSTIN alone gives its state; given both,
    they must agree (the GSTIN's first two digits are its state)."""
    state, gstin = check_billing_state(state), check_gstin(gstin)
    if gstin is None:
        return state, None
    if state is not None and state != gstin[:2]:
        raise InvalidValue(
            f"billing_state {state!r} is not the state of gstin {gstin!r} ({gstin[:2]!r})"
        )
    return gstin[:2], gstin


_USERNAME = re.compile(r"[A-Za-z0-9._@-]{1,64}")


def check_admin_username(username: str) -> str:
    if not _USERNAME.fullmatch(username):
        raise InvalidValue(
            f"admin user name must be 1 to 64 letters, digits or . _ @ -, got {username[:65]!r}"
        )
    return username
