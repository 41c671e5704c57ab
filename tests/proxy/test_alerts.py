"""Storage alerts and the digest against a real ledger: each threshold (80% and 100% of the
quota or of the free tier) alerts once per month, to the tenant with the admins in copy; the
digest of the day before is queued once."""

from __future__ import annotations

import email
import email.policy
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from billing.invoice import Party, Tariff
from billing.periods import hour_start
from proxy.alerts import Alerts
from proxy.config_billing import BillingSettings
from proxy.ledger import Ledger
from proxy.usage import Batch, CallKey, Counts, ObjectPut

IST = ZoneInfo("Asia/Kolkata")
T0 = datetime(2026, 11, 10, 12, 0, tzinfo=IST)
ADMIN = "ops@operator.example"
GB = 2**30


class Clock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


def _settings(tmp_path: Path) -> BillingSettings:
    return BillingSettings(
        timezone=IST, close_grace_seconds=300, invoice_prefix="BF",
        invoice_dir=tmp_path / "inv", finance_emails=(), email_tenants=False,
        seller=Party("Op", state_code="29"), tariff=Tariff(), smtp=None, admin_emails=(ADMIN,),
    )  # fmt: skip


@pytest.fixture
async def ledger(tmp_path: Path) -> AsyncIterator[Ledger]:
    led = await Ledger.open(tmp_path / "l.sqlite3", billing_tz=IST)
    yield led
    await led.close()


async def _put(ledger: Ledger, bucket: str, key: str, size: int, at: datetime) -> None:
    await ledger.usage.apply(Batch(storage=[ObjectPut(at, bucket, key, size)]))


async def test_alerts_quota_thresholds_once_each_per_month(ledger: Ledger, tmp_path: Path) -> None:
    tenant = await ledger.create_tenant(
        "acme", now=T0, billing_email="ap@acme.example", storage_quota_bytes=1000
    )
    await ledger.register_bucket("acme-b", tenant.id, now=T0)
    clock = Clock(T0)
    alerts = Alerts(_settings(tmp_path), ledger, clock)
    await _put(ledger, "acme-b", "a", 799, T0)
    assert await alerts.check_storage() == 0
    await _put(ledger, "acme-b", "a", 800, T0)
    assert await alerts.check_storage() == 1
    assert await alerts.check_storage() == 0  # once per threshold
    await _put(ledger, "acme-b", "a", 1000, T0)
    assert await alerts.check_storage() == 1
    (first, second) = await ledger.billing.list_mail(kind="alert")
    assert first.recipients == ["ap@acme.example", ADMIN]
    assert "80%" in first.subject and "100%" in second.subject
    clock.at = T0 + timedelta(days=30)  # December: a new month alerts again
    assert await alerts.check_storage() == 2


async def test_alerts_free_tier_crossed_alerts_admins_when_no_tenant_email(
    ledger: Ledger, tmp_path: Path
) -> None:
    tenant = await ledger.create_tenant("free", now=T0)
    await ledger.register_bucket("free-b", tenant.id, now=T0)
    await _put(ledger, "free-b", "big", GB, T0)
    alerts = Alerts(_settings(tmp_path), ledger, Clock(T0))
    assert await alerts.check_storage() == 2  # 80% and 100% of the free GB
    mails = await ledger.billing.list_mail(kind="alert")
    assert all(m.recipients == [ADMIN] for m in mails)


async def test_digest_yesterday_queued_once_with_totals(ledger: Ledger, tmp_path: Path) -> None:
    tenant = await ledger.create_tenant("busy", now=T0 - timedelta(days=2))
    yesterday = T0 - timedelta(days=1)
    key = CallKey(hour_start(yesterday, IST), tenant.id, "AKIA", "b", "GetObject", "read", "2xx")
    await ledger.usage.apply(Batch(calls={key: Counts(4321, 10, 2048)}))
    alerts = Alerts(_settings(tmp_path), ledger, Clock(T0))
    assert await alerts.send_digest() is True
    assert await alerts.send_digest() is False
    (mail,) = await ledger.billing.list_mail(kind="digest")
    assert mail.ref == "2026-11-09" and mail.recipients == [ADMIN]
    (_, raw) = (await ledger.billing.due_mail(now=T0))[0]
    body = email.message_from_bytes(raw, policy=email.policy.default).get_body()
    assert body is not None
    text = body.get_content()
    assert "busy" in text and "4,321" in text


async def test_digest_without_admin_emails_not_queued(ledger: Ledger, tmp_path: Path) -> None:
    alerts = Alerts(replace(_settings(tmp_path), admin_emails=()), ledger, Clock(T0))
    assert await alerts.send_digest() is False
