"""The ledger: tenants, access keys, bucket owners and admin accounts in SQLite."""

from __future__ import annotations

import asyncio
import re
import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from proxy.crypto import MasterKeyError, SecretBox
from proxy.ledger import Bucket, BucketTaken, Ledger, LedgerError
from proxy.records import Conflict, InvalidValue, NotFound, TenantOwnsBuckets, TenantRemoval

NOW = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
LATER = NOW + timedelta(hours=1)


@pytest.fixture
async def ledger(tmp_path: Path) -> AsyncIterator[Ledger]:
    led = await Ledger.open(tmp_path / "l.sqlite3", SecretBox.from_text(SecretBox.generate_key()))
    yield led
    await led.close()


async def test_ledger_key_create_returns_aws_shaped_credentials(ledger: Ledger) -> None:
    tenant = await ledger.create_tenant("acme", now=NOW)
    creds = await ledger.create_access_key(tenant.id, now=NOW)
    assert re.fullmatch(r"[A-Z0-9]{20}", creds.key.access_key_id)
    assert re.fullmatch(r"[A-Za-z0-9+/]{40}", creds.secret)
    assert creds.secret not in repr(creds)


async def test_ledger_find_credentials_known_key_returns_secret_and_tenant(ledger: Ledger) -> None:
    tenant = await ledger.create_tenant("acme", now=NOW)
    creds = await ledger.create_access_key(tenant.id, now=NOW)
    found = await ledger.find_credentials(creds.key.access_key_id)
    assert found is not None
    assert (found.secret, found.key.tenant_name, found.key.tenant_id) == (
        creds.secret,
        "acme",
        tenant.id,
    )
    assert (found.key.created_at, found.key.tenant_status, found.key.status) == (
        NOW,
        "active",
        "active",
    )


async def test_ledger_find_credentials_unknown_key_returns_none(ledger: Ledger) -> None:
    assert await ledger.find_credentials("AKIAUNKNOWN000000000") is None


async def test_ledger_find_credentials_revoked_key_returns_none(ledger: Ledger) -> None:
    tenant = await ledger.create_tenant("acme", now=NOW)
    creds = await ledger.create_access_key(tenant.id, now=NOW)
    revoked = await ledger.revoke_access_key(creds.key.access_key_id, now=LATER)
    assert (revoked.status, revoked.revoked_at) == ("revoked", LATER)
    assert await ledger.find_credentials(creds.key.access_key_id) is None


async def test_ledger_find_credentials_suspended_tenant_says_so(ledger: Ledger) -> None:
    tenant = await ledger.create_tenant("acme", now=NOW)
    creds = await ledger.create_access_key(tenant.id, now=NOW)
    await ledger.set_tenant_status(tenant.id, "suspended", now=LATER)
    found = await ledger.find_credentials(creds.key.access_key_id)
    assert found is not None and found.key.tenant_status == "suspended"


async def test_ledger_two_live_keys_per_tenant_both_found(ledger: Ledger) -> None:
    tenant = await ledger.create_tenant("acme", now=NOW)
    a = await ledger.create_access_key(tenant.id, now=NOW)
    b = await ledger.create_access_key(tenant.id, now=LATER)
    assert a.key.access_key_id != b.key.access_key_id and a.secret != b.secret
    for creds in (a, b):
        found = await ledger.find_credentials(creds.key.access_key_id)
        assert found is not None and found.secret == creds.secret
    listed = await ledger.list_access_keys(tenant.id)
    assert [k.access_key_id for k in listed] == sorted([a.key.access_key_id, b.key.access_key_id])


async def test_ledger_key_without_master_key_refused_naming_it(tmp_path: Path) -> None:
    led = await Ledger.open(tmp_path / "l.sqlite3")
    try:
        tenant = await led.create_tenant("acme", now=NOW)
        with pytest.raises(MasterKeyError, match="BILLFLOW_MASTER_KEY is not set"):
            await led.create_access_key(tenant.id, now=NOW)
    finally:
        await led.close()


async def test_ledger_touch_access_keys_batches_and_never_goes_back(ledger: Ledger) -> None:
    tenant = await ledger.create_tenant("acme", now=NOW)
    a = (await ledger.create_access_key(tenant.id, now=NOW)).key.access_key_id
    b = (await ledger.create_access_key(tenant.id, now=NOW)).key.access_key_id
    await ledger.touch_access_keys({a: LATER, b: NOW, "AKIAUNKNOWN000000000": NOW})
    await ledger.touch_access_keys({a: NOW})  # an older, late-flushed batch
    used = {k.access_key_id: k.last_used_at for k in await ledger.list_access_keys(tenant.id)}
    assert used == {a: LATER, b: NOW}


async def test_ledger_duplicate_tenant_refused(ledger: Ledger) -> None:
    await ledger.create_tenant("acme", now=NOW)
    with pytest.raises(Conflict, match="already exists"):
        await ledger.create_tenant("acme", now=NOW)


async def test_ledger_key_for_unknown_tenant_refused(ledger: Ledger) -> None:
    with pytest.raises(NotFound, match="no tenant"):
        await ledger.create_access_key(99, now=NOW)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"name": ""}, "tenant name"),
        ({"name": "x" * 201}, "tenant name"),
        ({"name": "acme", "billing_email": "@acme"}, "billing email"),
        ({"name": "acme", "storage_quota_bytes": -1}, "storage quota"),
    ],
)
async def test_ledger_invalid_tenant_values_refused(
    ledger: Ledger, kwargs: dict[str, object], match: str
) -> None:
    with pytest.raises(InvalidValue, match=match):
        await ledger.create_tenant(now=NOW, **kwargs)  # type: ignore[arg-type]
    assert await ledger.list_tenants() == []


async def test_ledger_tenant_fields_round_trip(ledger: Ledger) -> None:
    made = await ledger.create_tenant(
        "acme", now=NOW, billing_email="ap@acme.example", storage_quota_bytes=7
    )
    assert await ledger.get_tenant(made.id) == made == await ledger.get_tenant_by_name("acme")
    assert (made.status, made.updated_at) == ("active", NOW)


async def test_ledger_update_tenant_changes_given_fields_only(ledger: Ledger) -> None:
    made = await ledger.create_tenant("acme", now=NOW, billing_email="ap@acme.example")
    renamed = await ledger.update_tenant(made.id, now=LATER, name="acme-2")
    assert (renamed.name, renamed.billing_email, renamed.updated_at) == (
        "acme-2",
        "ap@acme.example",
        LATER,
    )
    cleared = await ledger.update_tenant(made.id, now=LATER, billing_email=None)
    assert (cleared.name, cleared.billing_email) == ("acme-2", None)


async def test_ledger_update_unknown_tenant_refused(ledger: Ledger) -> None:
    with pytest.raises(NotFound):
        await ledger.set_storage_quota(5, 10, now=NOW)


MH_GSTIN, KA_GSTIN = "27AAPFU0939F1ZV", "29AABCT3518Q1ZS"  # Maharashtra, Karnataka


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"billing_name": ""}, "billing_name"),
        ({"billing_name": " Acme"}, "billing_name"),
        ({"billing_name": "x" * 201}, "billing_name"),
        ({"billing_address": ""}, "billing_address"),
        ({"billing_address": "1 MG Road\tBengaluru"}, "billing_address"),
        ({"billing_address": "x" * 501}, "billing_address"),
        ({"billing_state": "27 "}, "billing_state"),
        ({"billing_state": "00"}, "billing_state"),
        ({"billing_state": "Maharashtra"}, "billing_state"),
        ({"gstin": "27AAPFU0939F1Z"}, "gstin"),  # 14 characters
        ({"gstin": "27AAPFU0939F1ZW"}, "gstin.*check character"),
        ({"gstin": "00AAPFU0939F1ZV"}, "gstin"),
        ({"gstin": MH_GSTIN, "billing_state": "29"}, "billing_state '29' is not the state"),
    ],
)
async def test_ledger_invalid_billing_details_refused_naming_the_field(
    ledger: Ledger, kwargs: dict[str, object], match: str
) -> None:
    with pytest.raises(InvalidValue, match=match):
        await ledger.create_tenant("acme", now=NOW, **kwargs)  # type: ignore[arg-type]
    assert await ledger.list_tenants() == []


async def test_ledger_billing_details_round_trip_gstin_gives_state(ledger: Ledger) -> None:
    made = await ledger.create_tenant(
        "acme",
        now=NOW,
        billing_name="Acme Storage Pvt Ltd",
        billing_address="1 MG Road\nMumbai 400001",
        gstin=" 27aapfu0939f1zv ",
    )
    assert (made.billing_name, made.billing_address, made.billing_state, made.gstin) == (
        "Acme Storage Pvt Ltd",
        "1 MG Road\nMumbai 400001",
        "27",
        MH_GSTIN,  # normalised
    )
    assert await ledger.get_tenant(made.id) == made


async def test_ledger_billing_state_without_gstin_kept(ledger: Ledger) -> None:
    made = await ledger.create_tenant("acme", now=NOW, billing_state="29")
    assert (made.billing_state, made.gstin) == ("29", None)


@pytest.mark.parametrize(
    ("change", "state", "gstin"),
    [
        ({"gstin": KA_GSTIN}, "29", KA_GSTIN),  # a new GSTIN alone moves the state
        ({"gstin": None}, "27", None),  # clearing the GSTIN keeps the state
        ({"gstin": None, "billing_state": None}, None, None),
        ({"gstin": None, "billing_state": "07"}, "07", None),
        ({"gstin": KA_GSTIN, "billing_state": "29"}, "29", KA_GSTIN),
        ({"billing_state": "27"}, "27", MH_GSTIN),
        ({"billing_state": None}, "27", MH_GSTIN),  # with a GSTIN the state is its own
        ({"billing_name": "Acme"}, "27", MH_GSTIN),
    ],
)
async def test_ledger_update_billing_state_follows_gstin(
    ledger: Ledger, change: dict[str, object], state: str | None, gstin: str | None
) -> None:
    made = await ledger.create_tenant("acme", now=NOW, gstin=MH_GSTIN)
    updated = await ledger.update_tenant(made.id, now=LATER, **change)  # type: ignore[arg-type]
    assert (updated.billing_state, updated.gstin) == (state, gstin)
    assert await ledger.get_tenant(made.id) == updated


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"billing_state": "29"}, "billing_state '29' is not the state of gstin"),
        ({"gstin": KA_GSTIN, "billing_state": "27"}, "not the state of gstin"),
        ({"billing_state": "99x"}, "billing_state"),
        ({"gstin": "nope"}, "gstin"),
        ({"billing_address": "a\x00b"}, "billing_address"),
    ],
)
async def test_ledger_update_bad_billing_details_refused_unchanged(
    ledger: Ledger, change: dict[str, object], match: str
) -> None:
    made = await ledger.create_tenant("acme", now=NOW, gstin=MH_GSTIN)
    with pytest.raises(InvalidValue, match=match):
        await ledger.update_tenant(made.id, now=LATER, **change)  # type: ignore[arg-type]
    assert await ledger.get_tenant(made.id) == made


async def test_ledger_update_billing_state_unknown_tenant_refused(ledger: Ledger) -> None:
    with pytest.raises(NotFound):
        await ledger.update_tenant(9, now=NOW, billing_state="27")


async def test_ledger_billing_details_archived_with_deleted_tenant(ledger: Ledger) -> None:
    made = await ledger.create_tenant(
        "acme", now=NOW, billing_name="Acme Ltd", billing_address="Pune", gstin=MH_GSTIN
    )
    await ledger.delete_tenant(made.id, now=LATER)
    party = await ledger.billing.party(made.id)
    assert party is not None
    assert (party.billing_name, party.billing_address, party.billing_state, party.gstin) == (
        "Acme Ltd",
        "Pune",
        "27",
        MH_GSTIN,
    )


async def test_ledger_billing_party_live_unknown_and_neighbours(ledger: Ledger) -> None:
    a = await ledger.create_tenant("a", now=NOW, billing_name="A Ltd")
    b = await ledger.create_tenant("b", now=NOW, billing_name="B Ltd")
    await ledger.delete_tenant(a.id, now=LATER)
    found_b = await ledger.billing.party(b.id)
    found_a = await ledger.billing.party(a.id)
    assert found_b is not None and (found_b.tenant_id, found_b.billing_name) == (b.id, "B Ltd")
    assert found_a is not None and (found_a.tenant_id, found_a.billing_name) == (a.id, "A Ltd")
    assert await ledger.billing.party(b.id + 1) is None


async def test_ledger_count_retrying_mail_pending_after_a_failure_only(ledger: Ledger) -> None:
    for ref in ("1", "2", "3"):
        assert await ledger.billing.enqueue_mail(
            "alert", ref, ["x@example.com"], "s", b"m", now=NOW
        )
    queued = {m.ref: m.id for m in await ledger.billing.list_mail()}
    await ledger.billing.mail_failed(queued["1"], "refused", retry_at=LATER)
    await ledger.billing.mail_failed(queued["2"], "refused", retry_at=LATER)
    await ledger.billing.mail_sent(queued["2"], now=LATER)  # failed once, then delivered
    assert await ledger.billing.count_retrying_mail() == 1


async def test_ledger_list_tenants_keyset_pages(ledger: Ledger) -> None:
    ids = [(await ledger.create_tenant(f"t{i}", now=NOW)).id for i in range(5)]
    first = await ledger.list_tenants(limit=2)
    rest = await ledger.list_tenants(after=first[-1].id, limit=10)
    assert [t.id for t in first + rest] == ids


async def test_ledger_times_stored_in_utc(ledger: Ledger) -> None:
    ist = timezone(timedelta(hours=5, minutes=30))
    tenant = await ledger.create_tenant("acme", now=NOW.astimezone(ist))
    fetched = await ledger.get_tenant_by_name("acme")
    assert fetched is not None and fetched.created_at == NOW and tenant.created_at.tzinfo == UTC


async def test_ledger_naive_time_refused(ledger: Ledger) -> None:
    with pytest.raises(ValueError, match="naive"):
        await ledger.create_tenant("acme", now=datetime(2026, 1, 1))


async def test_ledger_register_bucket_one_owner_only(ledger: Ledger) -> None:
    a = await ledger.create_tenant("a", now=NOW)
    b = await ledger.create_tenant("b", now=NOW)
    await ledger.register_bucket("photos", a.id, now=NOW)
    for tenant in (a, b):  # the same tenant too: the S3 path says BucketAlreadyOwnedByYou
        with pytest.raises(BucketTaken) as taken:
            await ledger.register_bucket("photos", tenant.id, now=LATER)
        assert taken.value.owner_tenant_id == a.id
    assert await ledger.bucket_owner("photos") == a.id
    assert await ledger.list_buckets(b.id) == []


async def test_ledger_register_bucket_unknown_tenant_refused(ledger: Ledger) -> None:
    with pytest.raises(NotFound):
        await ledger.register_bucket("photos", 3, now=NOW)
    assert await ledger.bucket_owner("photos") is None


async def test_ledger_list_buckets_sorted_by_name(ledger: Ledger) -> None:
    a = await ledger.create_tenant("a", now=NOW)
    for name in ("zeta", "alpha", "mid"):
        await ledger.register_bucket(name, a.id, now=NOW)
    assert await ledger.list_buckets(a.id) == [
        Bucket("alpha", a.id, NOW),
        Bucket("mid", a.id, NOW),
        Bucket("zeta", a.id, NOW),
    ]
    assert [b.name for b in await ledger.list_buckets(a.id, after="alpha", limit=1)] == ["mid"]


async def test_ledger_unregister_bucket_only_by_its_owner(ledger: Ledger) -> None:
    a = await ledger.create_tenant("a", now=NOW)
    b = await ledger.create_tenant("b", now=NOW)
    await ledger.register_bucket("photos", a.id, now=NOW)
    await ledger.unregister_bucket("photos", b.id, now=LATER)
    assert await ledger.bucket_owner("photos") == a.id
    await ledger.unregister_bucket("photos", a.id, now=LATER)
    assert await ledger.bucket_owner("photos") is None


async def test_ledger_delete_tenant_owning_buckets_refused_whole(ledger: Ledger) -> None:
    a = await ledger.create_tenant("a", now=NOW)
    creds = await ledger.create_access_key(a.id, now=NOW)
    await ledger.register_bucket("photos", a.id, now=NOW)
    with pytest.raises(TenantOwnsBuckets, match="1 bucket"):
        await ledger.delete_tenant(a.id, now=LATER)
    assert await ledger.get_tenant(a.id) is not None
    assert await ledger.find_credentials(creds.key.access_key_id) is not None


async def test_ledger_delete_tenant_forced_removes_keys_and_ownership(ledger: Ledger) -> None:
    a = await ledger.create_tenant("a", now=NOW)
    creds = await ledger.create_access_key(a.id, now=NOW)
    await ledger.register_bucket("photos", a.id, now=NOW)
    removed = await ledger.delete_tenant(a.id, now=LATER, force=True)
    assert removed == TenantRemoval([creds.key.access_key_id], ["photos"])
    assert await ledger.get_tenant(a.id) is None
    assert await ledger.bucket_owner("photos") is None
    assert await ledger.find_credentials(creds.key.access_key_id) is None


async def test_ledger_tenant_ids_never_reused_after_deletion(ledger: Ledger) -> None:
    """Deleting the newest tenant must not hand its id to the next one: usage, storage,
    invoices and the archive stay keyed by the deleted tenant's id."""
    a = await ledger.create_tenant("a", now=NOW)
    b = await ledger.create_tenant("b", now=NOW)
    await ledger.delete_tenant(b.id, now=LATER)
    c = await ledger.create_tenant("c", now=LATER)
    assert c.id > b.id > a.id
    await ledger.delete_tenant(c.id, now=LATER)
    await ledger.delete_tenant(a.id, now=LATER)  # no tenant left, only the archive
    d = await ledger.create_tenant("d", now=LATER)
    assert d.id > c.id
    await ledger.delete_tenant(d.id, now=LATER)  # its archive row does not collide either


async def test_ledger_failed_transaction_leaves_nothing_behind(tmp_path: Path) -> None:
    """A failure at the last statement of a change rolls back the statements before it."""
    path = tmp_path / "l.sqlite3"
    led = await Ledger.open(path, SecretBox.from_text(SecretBox.generate_key()))
    try:
        a = await led.create_tenant("a", now=NOW)
        creds = await led.create_access_key(a.id, now=NOW)
        await led.register_bucket("photos", a.id, now=NOW)
        with sqlite3.connect(path) as other:  # the tenant row is deleted last: make it fail
            other.execute(
                "CREATE TRIGGER boom BEFORE DELETE ON tenants"
                " BEGIN SELECT RAISE(ABORT, 'disk on fire'); END"
            )
        with pytest.raises(sqlite3.IntegrityError, match="disk on fire"):
            await led.delete_tenant(a.id, now=LATER, force=True)
        assert await led.find_credentials(creds.key.access_key_id) is not None
        assert await led.bucket_owner("photos") == a.id
    finally:
        await led.close()


async def test_ledger_concurrent_changes_do_not_share_a_transaction(ledger: Ledger) -> None:
    """One connection, many coroutines: a refused change never rolls back another's."""
    await ledger.create_tenant("dup", now=NOW)
    names = [f"t{i}" for i in range(20)]
    results = await asyncio.gather(
        *(ledger.create_tenant(n, now=NOW) for n in names),
        *(ledger.create_tenant("dup", now=NOW) for _ in range(5)),
        return_exceptions=True,
    )
    assert sum(isinstance(r, LedgerError) for r in results) == 5
    assert {t.name for t in await ledger.list_tenants(limit=100)} == {"dup", *names}


async def test_ledger_admin_accounts_unique(ledger: Ledger) -> None:
    await ledger.create_admin("ops", "scrypt$hash", now=NOW)
    assert await ledger.admin_password_hash("ops") == "scrypt$hash"
    assert await ledger.admin_password_hash("ghost") is None
    with pytest.raises(Conflict):
        await ledger.create_admin("ops", "other", now=NOW)
    with pytest.raises(InvalidValue):
        await ledger.create_admin("bad name", "x", now=NOW)


async def test_ledger_reopen_keeps_data_and_schema_version(tmp_path: Path) -> None:
    led = await Ledger.open(tmp_path / "l.sqlite3")
    await led.create_tenant("acme", now=NOW)
    version = await led.schema_version()
    await led.close()
    led = await Ledger.open(tmp_path / "l.sqlite3")
    try:
        assert await led.get_tenant_by_name("acme") is not None
        assert await led.schema_version() == version >= 2
    finally:
        await led.close()
