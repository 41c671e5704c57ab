"""The scheduler: APScheduler's asyncio scheduler running BillFlow's periodic jobs in `serve`.

Owns: when jobs run and that only one gateway runs each at a time. Every run first takes the
job's lease in the ledger (`Ledger.try_lease`), so several gateways sharing one ledger can all
schedule the same jobs and each run happens once. A lease is short (`LEASE`) and renewed while
its run goes on, so a gateway that died mid-run blocks the job for at most `LEASE`; the holder
name is the gateway's (host and S3 port), so the same gateway restarted takes its job back at
once. Jobs are idempotent besides (reconciliation compares and corrects; a second
run finds nothing to correct). Does not own: what the jobs do (reconcile, later the period close
and the mail outbox).

No job is fire-and-forget: runs are tracked, and `stop()` waits for the ones in progress.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from proxy.ledger import Ledger
from proxy.log import server_logger

Clock = Callable[[], datetime]
Job = Callable[[], Awaitable[object]]

#: How long a lease lasts without renewal; a running job renews it every third of that.
LEASE = timedelta(seconds=90)


class Scheduler:
    def __init__(
        self, ledger: Ledger, clock: Clock, tz: ZoneInfo, holder: str, lease: timedelta = LEASE
    ) -> None:
        self._ledger = ledger
        self._clock = clock
        self._tz = tz
        #: This gateway's name in leases (stable across its restarts).
        self.holder = holder
        self._lease = lease
        self._scheduler: AsyncIOScheduler | None = None
        self._jobs: list[tuple[str, float, Job, bool]] = []
        self._running: set[asyncio.Task[None]] = set()

    def every(self, name: str, seconds: float, job: Job, *, at_start: bool = False) -> None:
        """Run `job` every `seconds` under the ledger lease `name`; the first run right at
        start with `at_start` (catching up on what was missed while down), else one interval
        after it."""
        self._jobs.append((name, seconds, job, at_start))

    async def _take(self, name: str) -> bool:
        now = self._clock()
        return await self._ledger.try_lease(name, self.holder, now=now, until=now + self._lease)

    async def run_once(self, name: str, job: Job) -> bool:
        """One guarded run now; False when another gateway holds the lease."""
        if not await self._take(name):
            server_logger.info("job %s: running elsewhere; skipped here", name)
            return False

        async def renew() -> None:
            while True:
                await asyncio.sleep(self._lease.total_seconds() / 3)
                await self._take(name)

        renewing = asyncio.get_running_loop().create_task(renew())
        try:
            await job()
        finally:
            renewing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewing
            await self._ledger.release_lease(name, self.holder)
        return True

    async def _scheduled_run(self, name: str, job: Job) -> None:
        """What APScheduler starts (as a task on our loop, since it is a coroutine function):
        the run registers itself so `running()` can wait for it at exit."""
        task = asyncio.current_task()
        if any(t.get_name() == name for t in self._running):
            server_logger.warning("job %s: the previous run is still going; skipped", name)
            return
        assert task is not None
        task.set_name(name)
        self._running.add(task)
        try:
            await self.run_once(name, job)
        except Exception:
            server_logger.exception("job %s failed; next run as scheduled", name)
        finally:
            self._running.discard(task)

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        scheduler = AsyncIOScheduler(timezone=self._tz)
        for name, seconds, job, at_start in self._jobs:
            first = {"next_run_time": datetime.now(self._tz)} if at_start else {}
            scheduler.add_job(
                self._scheduled_run,
                IntervalTrigger(seconds=seconds, timezone=self._tz),
                args=(name, job),
                id=name,
                coalesce=True,
                max_instances=1,
                **first,
            )
        scheduler.start()
        self._scheduler = scheduler
        try:
            yield
        finally:
            scheduler.shutdown(wait=False)
            self._scheduler = None
            if self._running:
                await asyncio.gather(*self._running, return_exceptions=True)
