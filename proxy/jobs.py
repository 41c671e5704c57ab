"""The background work of `billflow serve`, composed: what runs on the schedule, and the same
work on demand for the admin API.

Owns: which jobs exist and how often they run (reconciliation every
[meter] reconcile_interval_seconds; closing the periods that are over every 5 minutes and at
start, so months missed while down are closed then; the mail outbox every 30 s; storage alerts
every 5 minutes; the daily digest), each under
its ledger lease (scheduler), and the upstream connection pool reconciliation lists buckets
with. Does not own: the jobs themselves (reconcile, closing, outbox).
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import AsyncIterator, Callable
from datetime import datetime

from billing.periods import Period
from proxy.alerts import Alerts
from proxy.closing import Closer, CloseReport
from proxy.config import Config
from proxy.forward import Upstream
from proxy.ledger import Ledger
from proxy.meter import Meter
from proxy.outbox import Outbox, smtp_settings
from proxy.reconcile import Reconciler
from proxy.records import Conflict
from proxy.scheduler import Scheduler
from proxy.usage import Correction

Clock = Callable[[], datetime]

CLOSE_EVERY_SECONDS = 300
OUTBOX_EVERY_SECONDS = 30
ALERTS_EVERY_SECONDS = 300
#: The digest of the day before is queued once; checking twice an hour sends it soon after
#: midnight in the billing timezone.
DIGEST_EVERY_SECONDS = 1800


class Jobs:
    """This process's jobs, and runs on demand under the same leases as the scheduled ones."""

    def __init__(
        self, scheduler: Scheduler, reconciler: Reconciler, closer: Closer, outbox: Outbox
    ) -> None:
        self.scheduler = scheduler
        self.reconciler = reconciler
        self.closer = closer
        self.outbox = outbox

    async def reconcile_now(self) -> list[Correction]:
        found: list[Correction] = []

        async def run() -> None:
            found.extend(await self.reconciler.run())

        if not await self.scheduler.run_once("reconcile", run):
            raise Conflict("a reconciliation is running already; try again when it ends")
        return found

    async def close_now(self, period: Period) -> CloseReport:
        reports: list[CloseReport] = []

        async def run() -> None:
            reports.append(await self.closer.close(period))
            await self.outbox.deliver_due()

        if not await self.scheduler.run_once("close", run):
            raise Conflict("a period close is running already; try again when it ends")
        return reports[0]


@contextlib.asynccontextmanager
async def jobs_running(
    cfg: Config, ledger: Ledger, meter: Meter, clock: Clock
) -> AsyncIterator[Jobs]:
    async def flush_meter() -> None:
        await meter.flush(ledger.usage.apply)

    async def close_and_send() -> None:
        await closer.close_due()
        await outbox.deliver_due()

    cfg.upstream.require_credentials()
    async with Upstream.new_session(cfg.upstream) as session:
        reconciler = Reconciler(ledger, Upstream(cfg.upstream, session), clock, flush_meter)
        closer = Closer(cfg.billing, ledger, clock, flush_meter)
        smtp = cfg.billing.smtp
        outbox = Outbox(ledger, smtp_settings(smtp) if smtp else None, clock, cfg.billing.timezone)
        # The gateway's name in job leases: stable across its restarts, distinct per gateway.
        holder = f"{socket.gethostname()}:{cfg.s3.listen.port}"
        scheduler = Scheduler(ledger, clock, cfg.billing_timezone, holder)
        if cfg.meter.reconcile_interval_seconds:
            scheduler.every("reconcile", cfg.meter.reconcile_interval_seconds, reconciler.run)
        scheduler.every("close", CLOSE_EVERY_SECONDS, close_and_send, at_start=True)
        scheduler.every("outbox", OUTBOX_EVERY_SECONDS, outbox.deliver_due, at_start=True)
        alerts = Alerts(cfg.billing, ledger, clock)
        scheduler.every("alerts", ALERTS_EVERY_SECONDS, alerts.check_storage, at_start=True)
        scheduler.every("digest", DIGEST_EVERY_SECONDS, alerts.send_digest, at_start=True)
        async with scheduler.running():
            yield Jobs(scheduler, reconciler, closer, outbox)
