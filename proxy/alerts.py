"""Storage alerts and the daily digest (the original service's background tasks), as mail
queued in the ledger's outbox.

Owns: when a tenant crosses 80% and 100% of its storage quota or of the free tier (one alert
per threshold, limit and month, guarded by the ledger so several gateways send it once), and
the admins' digest of the day before (platform totals, top tenants, emails still failing,
reconciliation corrections), queued once per day. Does not own: the texts (billing.mailer),
delivery (outbox), stored bytes (ledger_usage).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Literal

from billing import mailer
from billing.money import GB_BYTES
from billing.periods import Period, day_start, period_of
from proxy.config_billing import BillingSettings
from proxy.ledger import Ledger

Clock = Callable[[], datetime]
THRESHOLDS: tuple[Literal[80, 100], ...] = (80, 100)
TOP_TENANTS = 5


class Alerts:
    def __init__(self, settings: BillingSettings, ledger: Ledger, clock: Clock) -> None:
        self._s = settings
        self._ledger = ledger
        self._clock = clock

    def _sender(self) -> str:
        return self._s.smtp.from_address if self._s.smtp else "billing@billflow.localhost"

    async def check_storage(self) -> int:
        """Queue the alerts due now; returns how many were queued."""
        now = self._clock()
        period = period_of(now, self._s.timezone)
        stored = await self._ledger.usage.stored_bytes_per_tenant()
        free = int(self._s.tariff.free_storage_gb * GB_BYTES)
        queued = 0
        after = 0
        while tenants := await self._ledger.list_tenants(after=after, limit=200):
            for tenant in tenants:
                used = stored.get(tenant.id, 0)
                limits: list[tuple[mailer.LimitKind, int]] = [("free_tier", free)]
                if tenant.storage_quota_bytes:
                    limits.append(("quota", tenant.storage_quota_bytes))
                for kind, limit in limits:
                    for percent in THRESHOLDS:
                        if limit and used * 100 >= limit * percent:
                            queued += await self._alert(
                                tenant.id, tenant.name, tenant.billing_email, kind, percent,
                                used, limit, period, now,
                            )  # fmt: skip
            after = tenants[-1].id
        return queued

    async def _alert(self, tenant_id: int, name: str, email: str | None,
                     kind: mailer.LimitKind, percent: Literal[80, 100], used: int, limit: int,
                     period: Period, now: datetime) -> int:  # fmt: skip
        label = period.label
        if not await self._ledger.billing.alert_once(tenant_id, label, kind, percent, now=now):
            return 0
        to = [email] if email else list(self._s.admin_emails)
        cc = list(self._s.admin_emails) if email else []
        if not to:
            return 0
        facts = mailer.AlertFacts(tenant_id, name, percent, kind, used, limit, period)
        message = mailer.alert_message(
            facts, sender=self._sender(), to=to, cc=cc, at=now, tz=self._s.timezone
        )
        queued = await self._ledger.billing.enqueue_mail(
            "alert", f"{label}/{tenant_id}/{kind}/{percent}", [*to, *cc],
            str(message["Subject"]), message.as_bytes(), now=now,
        )  # fmt: skip
        return int(queued)

    async def send_digest(self) -> bool:
        """Queue the digest of the previous local day (once per day); True when queued now."""
        if not self._s.admin_emails:
            return False
        now = self._clock()
        tz = self._s.timezone
        end = day_start(now, tz)
        start = day_start(end - timedelta(hours=1), tz)
        day = start.astimezone(tz).date()
        if await self._ledger.billing.mail_for("digest", day.isoformat()) is not None:
            return False  # queued by an earlier run (the job checks twice an hour)
        per_tenant = await self._ledger.usage.call_totals("tenant", start, end)
        calls_by: dict[int, int] = {}
        bytes_in = bytes_out = 0
        for row in per_tenant:
            calls_by[int(row.group)] = calls_by.get(int(row.group), 0) + row.calls
            bytes_in += row.bytes_in
            bytes_out += row.bytes_out
        stored = await self._ledger.usage.stored_bytes_per_tenant()
        top = []
        for tenant_id, calls in sorted(calls_by.items(), key=lambda kv: (-kv[1], kv[0]))[
            :TOP_TENANTS
        ]:
            tenant = await self._ledger.get_tenant(tenant_id)
            name = tenant.name if tenant else f"tenant {tenant_id} (deleted)"
            top.append(mailer.TenantDay(name, calls, stored.get(tenant_id, 0)))
        failing = await self._ledger.billing.count_retrying_mail()
        corrections = await self._ledger.usage.count_corrections(start, end)
        facts = mailer.DigestFacts(
            day, sum(calls_by.values()), bytes_in, bytes_out, sum(stored.values()), tuple(top),
            failing, corrections,
        )  # fmt: skip
        message = mailer.digest_message(
            facts, sender=self._sender(), to=list(self._s.admin_emails), at=now, tz=tz
        )
        return await self._ledger.billing.enqueue_mail(
            "digest", day.isoformat(), list(self._s.admin_emails), str(message["Subject"]),
            message.as_bytes(), now=now,
        )  # fmt: skip
