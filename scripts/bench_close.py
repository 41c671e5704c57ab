"""Issue 8's benchmark: close a billing month for many synthetic tenants, PDFs and mail included.

For each size N (default 1,000 and 10,000 tenants) two fresh processes run one after the other
on a new temp directory:
- setup: a ledger (Asia/Kolkata billing clock) with N tenants created before November 2026, a
  bucket each, and November's usage written through `ledger.usage.apply` in batches of
  thousands: request counters on a few days in two billing classes (a 5xx row too, recorded and
  never billed) and ObjectPut events, so storage integrates over the month partly into stored
  hours and partly as each bucket's open interval up to the close. Sizes vary per tenant so the
  amounts differ; buyers vary between intra-state GSTINs (CGST+SGST), inter-state GSTINs and
  states (IGST) and none; one tenant in ten used nothing (a ₹0.00 invoice).
- close: opens that ledger and times only `Closer(...).close(Period(2026, 11))` (monotonic
  clock, the process's CPU and the machine's), with peak RSS (VmHWM: this process has done
  nothing but import and open the ledger before, so its high-water mark is the close's) and the
  RSS before the close and at its end, sampled meanwhile to show any growth within the run.
  Then it checks what the close left: N invoices numbered BF/26-27/000001..N without a gap, one
  per tenant, each with its PDF recorded, N PDF files on disk (no temp file left), N messages
  in the outbox, the period marked closed.

Setup runs in its own process so that what it allocates (the batches, SQLite's cache) is not in
the close's high-water mark: the peak memory of two sizes compares the close alone.

Aims (issue 8): 10,000 tenants in under 5 minutes on our 2-core machines, memory flat as tenants
grow (time linear: 10x the tenants, about 10x the time). Absolute times swing with machine load,
so the run reports the CPU count, the load average and the CPU other processes took during each
close. `--phases` adds, per size, where the close's wall time goes: each step timed through
wrappers around the functions `proxy.closing` calls, installed in the close process only
(nothing in proxy/ or billing/ changes; the wrappers cost microseconds per call). `--profile`
adds to that the top functions by cProfile, over the event-loop thread and over the PDF renders
(which run in worker threads); cProfile slows pure-Python code 2-3x, so a profiled run gets no
time verdicts.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import io
import json
import os
import pstats
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from billing.gstin import check_character
from billing.invoice import Party, Tariff
from billing.periods import Period, hour_start, period_bounds
from proxy.closing import Closer
from proxy.config_billing import BillingSettings
from proxy.ledger import Ledger
from proxy.usage import Batch, CallKey, Counts, ObjectPut

MiB = 2**20
GB = 2**30
IST = ZoneInfo("Asia/Kolkata")
NOV = Period(2026, 11)
NOV_START, NOV_END = period_bounds(NOV, IST)
CREATED_AT = NOV_START - timedelta(days=40)  # every tenant and bucket exists before November
CLOSE_AT = datetime(2026, 12, 1, 1, 0, tzinfo=IST)
FINANCE = "finance@x.example"
CHUNK = 2_000  # tenants per usage batch
TIME_AIM, MEMORY_AIM = 300.0, 25 * MiB
FULL, QUICK = (1_000, 10_000), (200, 1_000)
CLK_TCK = os.sysconf("SC_CLK_TCK")


def settings(tmp: Path) -> BillingSettings:
    return BillingSettings(
        timezone=IST,
        close_grace_seconds=300,
        invoice_prefix="BF",
        invoice_dir=tmp / "invoices",
        finance_emails=(FINANCE,),
        email_tenants=False,
        seller=Party("Operator Pvt Ltd", "1 MG Road\nBengaluru", "29", None, "ops@op.example"),
        tariff=Tariff(),
        smtp=None,
    )


# -- setup (its own process) -----------------------------------------------------------------


def gstin(state: str, n: int) -> str:
    first14 = f"{state}AABCB{n % 9999 + 1:04d}F1Z"
    return first14 + check_character(first14)


def tenant_fields(i: int) -> dict[str, Any]:
    """Buyers vary: intra-state GSTIN (29, the seller's), inter-state GSTIN, a state only, none."""
    fields: dict[str, Any] = {
        "billing_email": f"t{i}@tenant.example",
        "billing_name": f"Tenant {i} Technologies Pvt Ltd",
        "billing_address": f"{i % 500 + 1} Ring Road\nSector {i % 40 + 1}\nIndia",
    }
    match i % 4:
        case 0:
            fields["gstin"] = gstin("29", i)
        case 1:
            fields["gstin"] = gstin("27", i)
        case 2:
            fields["billing_state"] = "07"
    return fields


def usage_of(tenant_id: int, bucket: str, batch: Batch) -> None:
    """A few counter rows and two object writes; one tenant in ten used nothing."""
    t = tenant_id
    if t % 10 == 0:
        return
    for n, day in enumerate((t % 7, 10 + t % 11, 29 - t % 5)):
        hour = hour_start(NOV_START + timedelta(days=day, hours=t % 24, minutes=7), IST)
        for cls, op, calls in (
            ("read", "GetObject", 40 + (t * 37 + n * 101) % 900 * (1 + t % 3)),
            ("write", "PutObject", 10 + (t * 53 + n * 17) % 400),
        ):
            key = CallKey(hour, t, "AKIABENCH", bucket, op, cls, "2xx")
            size = 4096 + t % 97 * 1024
            batch.calls[key] = Counts(calls, calls * size if cls == "write" else 0,
                                      calls * size if cls == "read" else 0)  # fmt: skip
    hour = hour_start(NOV_START + timedelta(days=15, hours=t % 24), IST)
    batch.calls[CallKey(hour, t, "AKIABENCH", bucket, "GetObject", "read", "5xx")] = Counts(3)
    first = NOV_START + timedelta(days=t % 5, hours=t % 24, minutes=t % 60)
    second = first + timedelta(days=1 + t % 7, hours=(t * 7) % 24)
    batch.storage.append(ObjectPut(first, bucket, "a", (1 + t % 13) * 97 * MiB + t))
    batch.storage.append(ObjectPut(second, bucket, "b", (t % 3) * GB // 2 + t * 4099))


async def setup(n: int, tmp: Path) -> dict[str, Any]:
    started = time.monotonic()
    ledger = await Ledger.open(tmp / "ledger.sqlite3", billing_tz=IST)
    try:
        ids = []
        for i in range(n):
            tenant = await ledger.create_tenant(f"t{i:05d}", now=CREATED_AT, **tenant_fields(i))
            await ledger.register_bucket(f"b-{tenant.id}", tenant.id, now=CREATED_AT)
            ids.append(tenant.id)
        made = time.monotonic()
        rows = events = 0
        for lo in range(0, n, CHUNK):
            batch = Batch()
            for tenant_id in ids[lo : lo + CHUNK]:
                usage_of(tenant_id, f"b-{tenant_id}", batch)
            batch.storage.sort(key=lambda e: e.at)  # applied in order, as a meter flush would
            rows, events = rows + len(batch.calls), events + len(batch.storage)
            await ledger.usage.apply(batch)
    finally:
        await ledger.close()
    return {
        "seconds": time.monotonic() - started,
        "tenant_seconds": made - started,
        "counter_rows": rows,
        "storage_events": events,
        "peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    }


# -- close (its own process) -----------------------------------------------------------------


def status_bytes(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    return 0


def machine_busy() -> float:
    """CPU seconds the whole machine has been busy (/proc/stat)."""
    with open("/proc/stat") as f:
        user, nice, system, _idle, _iowait, irq, softirq, steal = map(
            int, f.readline().split()[1:9]
        )
    return (user + nice + system + irq + softirq + steal) / CLK_TCK


def own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class RssSampler(threading.Thread):
    """VmRSS every 0.25 s while the close runs (a thread: no task on the event loop)."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.samples: list[tuple[float, int]] = []
        self.done = threading.Event()

    def run(self) -> None:
        t0 = time.monotonic()
        while not self.done.wait(0.25):
            self.samples.append((time.monotonic() - t0, status_bytes("VmRSS")))


class Phases:
    """--phases: wall time per step of the close, by wrapping what proxy.closing calls;
    with `profile`, the PDF renders also run under one cProfile object."""

    def __init__(self, profile: bool) -> None:
        self.seconds: dict[str, float] = {}
        self.calls: dict[str, int] = {}
        self.render_cpu = 0.0
        self.render_profile = cProfile.Profile() if profile else None

    def _add(self, name: str, started: float) -> None:
        self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - started
        self.calls[name] = self.calls.get(name, 0) + 1

    def sync(self, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self._add(name, started)

        return timed

    def aio(self, name: str, fn: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        async def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return await fn(*args, **kwargs)
            finally:
                self._add(name, started)

        return timed

    def install(self, ledger: Ledger) -> None:
        from email.message import Message

        from billing import invoice_pdf, mailer, pricing
        from proxy import closing

        render = invoice_pdf.render

        def profiled_render(*args: Any, **kwargs: Any) -> bytes:
            # Renders run one at a time in asyncio.to_thread's threads; one profiler object
            # collects them all (enabled in whichever thread runs the render).
            cpu = time.thread_time()
            try:
                if self.render_profile is None:
                    return render(*args, **kwargs)
                pdf: bytes = self.render_profile.runcall(render, *args, **kwargs)
                return pdf
            finally:
                self.render_cpu += time.thread_time() - cpu

        # proxy.closing calls invoice_pdf.render, pricing.price and mailer.invoice_message
        # through their modules, and its own imports of the rest by name: each is replaced where
        # closing looks it up.
        patches: list[tuple[object, str, str, Callable[..., Any]]] = [
            (invoice_pdf, "render", "pdf render (thread)", profiled_render),
            (pricing, "price", "pricing", pricing.price),
            (mailer, "invoice_message", "mail build", mailer.invoice_message),
            (Message, "as_bytes", "mail as_bytes", Message.as_bytes),
        ]
        for attr, label in (
            ("to_document", "to_document"),
            ("from_document", "from_document"),
            ("_write_atomically", "pdf write+fsync (thread)"),
        ):
            patches.append((closing, attr, label, getattr(closing, attr)))
        for owner, attr, label, fn in patches:
            setattr(owner, attr, self.sync(label, fn))
        steps = {
            ledger.usage: ("call_totals", "storage_hours"),
            ledger.billing: ("parties_for_period", "issue_invoice", "set_pdf", "enqueue_mail"),
        }
        for store, names in steps.items():
            for name in names:
                label = f"sql {name}" + (" (incl. to_document)" if name == "issue_invoice" else "")
                setattr(store, name, self.aio(label, getattr(store, name)))


async def close(n: int, tmp: Path, phased: bool, profile: bool) -> dict[str, Any]:
    ledger = await Ledger.open(tmp / "ledger.sqlite3", billing_tz=IST)
    try:
        closer = Closer(settings(tmp), ledger, clock=lambda: CLOSE_AT)
        phases = Phases(profile) if phased or profile else None
        main_profile = cProfile.Profile() if profile else None
        if phases:
            phases.install(ledger)
        gc.collect()
        rss0, sampler = status_bytes("VmRSS"), RssSampler()
        sampler.start()
        busy0, cpu0, t0 = machine_busy(), own_cpu(), time.monotonic()
        if main_profile:
            main_profile.enable()
        report = await closer.close(NOV)
        if main_profile:
            main_profile.disable()
        seconds, cpu, busy = time.monotonic() - t0, own_cpu() - cpu0, machine_busy() - busy0
        sampler.done.set()
        sampler.join()
        peak, rss_end = status_bytes("VmHWM"), status_bytes("VmRSS")
        result: dict[str, Any] = {
            "seconds": seconds,
            "cpu": cpu,
            "others_cpu": max(0.0, busy - cpu),
            "rss_before": rss0,
            "peak_rss": peak,
            "rss_end": rss_end,
            "rss_samples": sampler.samples,
            "report": [report.invoices, report.issued],
        }
        result["checks"], result["pdf_paths"], result["totals"] = await verify(ledger, n)
        if phases:
            result["phases"] = {
                k: [v, phases.calls[k]]
                for k, v in sorted(phases.seconds.items(), key=lambda kv: -kv[1])
            }
            result["render_cpu"] = phases.render_cpu
        if phases and phases.render_profile and main_profile:
            result["profiles"] = {
                "event-loop thread": top(main_profile),
                "PDF renders (worker threads)": top(phases.render_profile),
            }
    finally:
        await ledger.close()
    return result


def top(profile: cProfile.Profile, count: int = 18) -> str:
    out = io.StringIO()
    stats = pstats.Stats(profile, stream=out)
    stats.strip_dirs().sort_stats("tottime").print_stats(count)
    lines = out.getvalue().splitlines()
    start = next((i for i, line in enumerate(lines) if "ncalls" in line), 0)
    return "\n".join(line for line in lines[start:] if line.strip())


async def verify(ledger: Ledger, n: int) -> tuple[list[str], list[str | None], dict[str, Any]]:
    """What the close must have left in the ledger: the failures (empty: all held), each
    invoice's recorded PDF path (None: not recorded) and a summary of the totals."""
    failures: list[str] = []
    seqs, tenants, totals, paths = [], set(), [], []
    bad_number = 0
    after = 0
    while page := await ledger.billing.list_invoices(period=NOV.label, after=after, limit=500):
        for inv in page:
            seqs.append(inv.seq)
            tenants.add(inv.tenant_id)
            totals.append(Decimal(inv.total))
            bad_number += inv.number != f"BF/26-27/{inv.seq:06d}"
            paths.append(inv.pdf_path if inv.pdf_sha256 else None)
        after = page[-1].id
    if len(seqs) != n or len(tenants) != n:
        failures.append(f"{len(seqs)} invoices for {len(tenants)} tenants, expected {n}")
    if sorted(seqs) != list(range(1, n + 1)):
        failures.append("invoice numbers are not 1..N without a gap")
    if bad_number:
        failures.append(f"{bad_number} numbers not of the form BF/26-27/000001")
    mails = 0
    after = 0
    while queued := await ledger.billing.list_mail(kind="invoice", after=after, limit=500):
        mails += sum(1 for m in queued if m.recipients == [FINANCE])
        after = queued[-1].id
    if mails != n:
        failures.append(f"{mails} invoice messages to finance in the outbox, expected {n}")
    if NOV.label not in await ledger.billing.closed_periods():
        failures.append("the period is not marked closed")
    summary = {
        "sum": str(sum(totals, Decimal(0))),
        "distinct": len(set(totals)),
        "zero": sum(1 for t in totals if not t),
        "max": str(max(totals, default=Decimal(0))),
    }
    return failures, paths, summary


def check_disk(tmp: Path, n: int, paths: list[str | None]) -> tuple[list[str], int]:
    """Every invoice's recorded PDF is a file; N PDFs in the invoice directory, no temp file
    left. Returns the failures and the PDFs' total size."""
    failures = []
    missing = sum(1 for p in paths if p is None or not Path(p).is_file())
    if missing:
        failures.append(f"{missing} invoices without a recorded PDF on disk")
    pdfs = list((tmp / "invoices").rglob("*.pdf"))
    leftovers = [p for p in (tmp / "invoices").rglob("*") if p.name.endswith(".tmp")]
    if len(pdfs) != n or leftovers:
        failures.append(f"{len(pdfs)} PDF files on disk, {len(leftovers)} temp files left")
    return failures, sum(p.stat().st_size for p in pdfs)


def worker(args: argparse.Namespace) -> int:
    tmp = Path(args.dir)
    if args.worker == "setup":
        result = asyncio.run(setup(args.n, tmp))
        result["ledger_bytes"] = sum(p.stat().st_size for p in tmp.glob("ledger.sqlite3*"))
    else:
        result = asyncio.run(close(args.n, tmp, args.phases, args.profile))
        failures, result["pdf_bytes"] = check_disk(tmp, args.n, result.pop("pdf_paths"))
        result["checks"] += failures
        result["ledger_bytes"] = sum(p.stat().st_size for p in tmp.glob("ledger.sqlite3*"))
    print(json.dumps(result))
    return 0


# -- driver ----------------------------------------------------------------------------------


def run_worker(kind: str, n: int, tmp: Path, extra: list[str], timeout: float) -> dict[str, Any]:
    argv = [sys.executable, __file__, "--worker", kind, "--n", str(n), "--dir", str(tmp), *extra]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"{kind} of {n:,} tenants did not finish in {timeout:.0f} s"}
    try:
        result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        return {"error": f"{kind} of {n:,} tenants failed:\n{done.stderr.strip()[-2000:]}"}
    return result


def verdict(met: bool | None, text: str) -> str:
    """As scripts/bench_report.py writes them."""
    return f"[{'not measured' if met is None else 'met' if met else 'NOT MET':>12}] {text}"


COLUMNS = (
    ("tenants", 8), ("setup s", 8), ("close s", 8), ("ms/invoice", 10), ("CPU s", 7),
    ("CPU ms/inv", 10), ("others CPU", 10), ("RSS before", 10), ("peak RSS", 9), ("growth", 8),
    ("RSS end", 8), ("PDFs MiB", 9), ("KiB/PDF", 8), ("checks", 7),
)  # fmt: skip


def row(values: list[str]) -> str:
    return " ".join(f"{v:>{w}}" for v, (_, w) in zip(values, COLUMNS, strict=True))


def size_row(n: int, s: dict[str, Any], c: dict[str, Any]) -> str:
    if "error" in s or "error" in c:
        return f"{n:>8,} failed: {s.get('error') or c.get('error')}"
    return row([
        f"{n:,}", f"{s['seconds']:.1f}", f"{c['seconds']:.1f}",
        f"{c['seconds'] / n * 1000:.2f}", f"{c['cpu']:.1f}", f"{c['cpu'] / n * 1000:.2f}",
        f"{c['others_cpu']:.1f}",
        f"{c['rss_before'] / MiB:.0f} MiB", f"{c['peak_rss'] / MiB:.0f} MiB",
        f"+{(c['peak_rss'] - c['rss_before']) / MiB:.1f}", f"{c['rss_end'] / MiB:.0f} MiB",
        f"{c['pdf_bytes'] / MiB:.1f}", f"{c['pdf_bytes'] / n / 1024:.1f}",
        "ok" if not c["checks"] else "FAILED",
    ])  # fmt: skip


def rss_trend(c: dict[str, Any]) -> str:
    """RSS at each quarter of the close, from the samples."""
    samples = c["rss_samples"]
    if len(samples) < 4:
        return "too short to sample"
    picks = [samples[round(q * (len(samples) - 1))] for q in (0, 0.25, 0.5, 0.75, 1)]
    return ", ".join(f"{at:.0f} s {rss / MiB:.0f} MiB" for at, rss in picks)


def report(
    sizes: list[int], runs: dict[int, tuple[dict[str, Any], dict[str, Any]]], profile: bool
) -> list[str]:
    header = row([name for name, _ in COLUMNS])
    lines = [header, "-" * len(header)]
    lines += [size_row(n, *runs[n]) for n in sizes if n in runs]
    ok = {
        n: c
        for n, (s, c) in runs.items()
        if "error" not in s and "error" not in c and not c["checks"]
    }
    lines.append("")
    for n, (s, c) in runs.items():
        if "error" in s or "error" in c:
            continue
        t = c["totals"]
        lines.append(
            f"{n:,} tenants: setup wrote {s['counter_rows']:,} counter rows and"
            f" {s['storage_events']:,} storage events (setup peak RSS"
            f" {s['peak_rss'] / MiB:.0f} MiB); ledger {s['ledger_bytes'] / MiB:.0f} MiB after"
            f" setup, {c['ledger_bytes'] / MiB:.0f} MiB after the close (invoice mail is queued"
            f" by reference, the PDF stays a file); invoices total ₹{t['sum']}"
            f" ({t['distinct']:,} distinct amounts, {t['zero']:,} at ₹0.00, largest ₹{t['max']})"
        )
        lines.append(f"  RSS during the close: {rss_trend(c)}")
        lines += [f"  check failed: {failure}" for failure in c["checks"]]
    lines.append(
        "close s: wall time of Closer.close alone; CPU s: the close process's CPU over it"
        " (rendering is single-threaded under ReportLab's lock, SQL in aiosqlite's thread);"
        " others CPU: what other processes took meanwhile. RSS before: after imports and"
        " Ledger.open; peak RSS: VmHWM of the close process; growth: peak minus before."
    )
    verdicts: list[str] = []
    if len(ok) >= 2:
        lo, hi = min(ok), max(ok)
        a, b = ok[lo], ok[hi]
        ratio = b["seconds"] / a["seconds"]
        peak_diff = b["peak_rss"] - a["peak_rss"]
        growth_diff = (b["peak_rss"] - b["rss_before"]) - (a["peak_rss"] - a["rss_before"])
        lines.append(
            f"\nGrowth {lo:,} -> {hi:,} tenants ({hi / lo:.0f}x): close time {ratio:.2f}x"
            f" (linear: {hi / lo:.0f}x; per invoice {a['seconds'] / lo * 1000:.2f} ->"
            f" {b['seconds'] / hi * 1000:.2f} ms), CPU {b['cpu'] / a['cpu']:.2f}x;"
            f" peak RSS {a['peak_rss'] / MiB:.0f} -> {b['peak_rss'] / MiB:.0f} MiB"
            f" ({peak_diff / MiB:+.1f} MiB), growth during the close"
            f" {growth_diff / MiB:+.1f} MiB more"
        )
        # Judged on CPU: wall time swings with what else the machine runs (PERFORMANCE.md).
        cpu_ratio = b["cpu"] / a["cpu"]
        verdicts.append(
            verdict(
                None if profile else cpu_ratio <= hi / lo * 1.25,
                f"close time linear {lo:,} -> {hi:,} tenants (CPU <= {hi / lo * 1.25:.1f}x):"
                f" CPU {cpu_ratio:.2f}x, wall {ratio:.2f}x",
            )
        )
        verdicts.append(
            verdict(
                peak_diff <= MEMORY_AIM,
                f"memory flat {lo:,} -> {hi:,}: {peak_diff / MiB:+.1f} MiB peak RSS"
                f" (aim <= +{MEMORY_AIM / MiB:.0f} MiB)",
            )
        )
    big = ok.get(10_000)
    if big and not profile:
        met = big["seconds"] < TIME_AIM
        verdicts.append(verdict(met, f"close 10,000 tenants < 300 s: {big['seconds']:.1f} s"))
    else:
        largest = max(ok) if ok else None
        note = "profiled run" if big else "10,000 not run"
        if largest:
            note += (
                f"; {largest:,} took {ok[largest]['seconds']:.1f} s, linear to 10,000:"
                f" ~{ok[largest]['seconds'] / largest * 10_000:.0f} s"
            )
        verdicts.append(verdict(None, f"close 10,000 tenants < 300 s ({note})"))
    failed = [n for n in runs if n not in ok]
    verdicts += [verdict(False, f"close of {n:,} tenants ran and checked out") for n in failed]
    verdicts += [
        verdict(True, f"close of {n:,}: {n:,} invoices gapless, {n:,} PDFs, {n:,} mails")
        for n in sorted(ok)
    ]
    lines += profile_lines(ok)
    return [*lines, "", *verdicts]


def profile_lines(ok: dict[int, dict[str, Any]]) -> list[str]:
    lines = []
    for n, c in sorted(ok.items()):
        if "phases" not in c:
            continue
        lines.append(
            f"\nWhere the close's {c['seconds']:.1f} s went, {n:,} tenants"
            f"{' (under cProfile)' if 'profiles' in c else ''}: wall time per step; issue_invoice"
            " includes to_document, mail build and as_bytes are apart; the rest is the event"
            " loop, _usage's own Python and awaiting between steps"
        )
        for name, (seconds, calls) in c["phases"].items():
            lines.append(
                f"  {name:38} {seconds:8.2f} s {seconds / c['seconds']:6.1%}"
                f" {seconds / calls * 1000:8.2f} ms x {calls:,}"
            )
        rest = c["seconds"] - sum(seconds for seconds, _ in c["phases"].values())
        lines.append(f"  {'(rest)':38} {rest:8.2f} s {rest / c['seconds']:6.1%}")
        lines.append(f"  PDF render thread CPU: {c['render_cpu']:.2f} s")
        for title, text in c.get("profiles", {}).items():
            lines.append(f"\n  cProfile, {title}, top by own time:")
            lines += [f"    {line}" for line in text.splitlines()]
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(
        prog="scripts/bench_close.py",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--tenants", help="comma-separated sizes (default 1000,10000)")
    parser.add_argument("--quick", action="store_true", help="sizes 200,1000: a smoke run")
    parser.add_argument("--phases", action="store_true", help="time each step of the close")
    parser.add_argument("--profile", action="store_true", help="--phases plus cProfile (slower)")
    parser.add_argument("--tmp", help="where the temp directories go (default: system temp)")
    parser.add_argument("--timeout", type=float, default=1800, help="per process, seconds")
    parser.add_argument("--worker", choices=("setup", "close"), help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--dir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args)
    if args.tenants:
        sizes = sorted({int(x.replace("_", "")) for x in args.tenants.split(",") if x.strip()})
    else:
        sizes = list(QUICK if args.quick else FULL)
    if not sizes or min(sizes) < 1:
        parser.error("--tenants: positive sizes, comma-separated")
    load = os.getloadavg()
    print(
        f"Closing November 2026 for {', '.join(f'{n:,}' for n in sizes)} synthetic tenants"
        f" (PDFs, outbox mail); {os.cpu_count()} CPUs, load average"
        f" {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} at start; Python"
        f" {sys.version.split()[0]}{'; PROFILED' if args.profile else ''}",
        flush=True,
    )
    started = time.monotonic()
    runs: dict[int, tuple[dict[str, Any], dict[str, Any]]] = {}
    for n in sizes:
        tmp = Path(tempfile.mkdtemp(prefix=f"billflow-close-{n}-", dir=args.tmp))
        try:
            print(f"  {n:,} tenants: setup ...", file=sys.stderr, flush=True)
            s = run_worker("setup", n, tmp, [], args.timeout)
            c: dict[str, Any] = {"error": "setup failed"}
            if "error" not in s:
                print(
                    f"  {n:,} tenants: setup {s['seconds']:.1f} s; close ...",
                    file=sys.stderr,
                    flush=True,
                )
                extra = ["--phases"] * args.phases + ["--profile"] * args.profile
                c = run_worker("close", n, tmp, extra, args.timeout)
                if "error" not in c:
                    print(f"  {n:,} tenants: close {c['seconds']:.1f} s", file=sys.stderr)
            runs[n] = (s, c)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    print("\n".join(report(sizes, runs, args.profile)))
    end = os.getloadavg()
    print(
        f"\nLoad average at the end {end[0]:.2f} {end[1]:.2f} {end[2]:.2f};"
        f" total time {time.monotonic() - started:.0f} s ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC)."
    )
    return 0 if all("error" not in s and "error" not in c and not c["checks"]
                    for s, c in runs.values()) else 1  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
