"""What scripts/bench measures, and how it reads: scenarios, results, the table and the verdicts.

Owns: the scenario list (with PERFORMANCE.md's target for each, and issue 4's metering aim for
the on/off rows), `Suite` (the targets of one upstream, which of them each scenario runs on, and
every result measured against them), and turning suites into the printed table, the trailer-mode
block, the metering on/off block, RSS lines and verdicts. Does not own: starting processes
(bench_procs.py) or running the load client (bench.py).
"""

from __future__ import annotations

import os
import statistics
import time
from dataclasses import dataclass, field
from typing import Any

from bench_procs import BILLFLOW, FLUSH_INTERVAL, METER_OFF, Server, Target

MiB, GiB = 1 << 20, 1 << 30
HTTP, HTTPS, BOTH = ("http",), ("https",), ("http", "https")
METER_AIM = 0.95  # issue 4: throughput with metering at least this share of it without


@dataclass(frozen=True)
class Scenario:
    name: str  # "put_..." or "get_..."; "..._small": 4 KiB requests at 16 connections
    label: str  # "{size}" is the suite's large object
    payload: str  # large PUT: unsigned | signed | trailer-crc32 | trailer-crc32c
    schemes: tuple[str, ...]
    moto: bool  # also against moto (which is the bottleneck there: kept small)
    minimum: float  # PERFORMANCE.md: BillFlow/nginx at least this (on/off rows: on/off)
    budget: float  # PERFORMANCE.md: BillFlow CPU at most this (s/GiB, or µs per request)
    onoff: bool = False  # BillFlow metering on vs off (issue 4), not the main table's columns

    @property
    def method(self) -> str:
        return self.name[:3].upper()

    @property
    def small(self) -> bool:
        return self.name.endswith("_small")


# PUTs first: moto serves only what was stored. The trailer PUTs are what boto3 and aws-cli send
# over HTTPS (issue 9); PERFORMANCE.md gives them the UNSIGNED-PAYLOAD target. Signed payloads
# are not what clients send over HTTPS, so that row is HTTP only.
SCENARIOS = (
    Scenario("put_unsigned", "PUT {size} UNSIGNED", "unsigned", BOTH, True, 0.8, 0.7),
    Scenario("put_signed", "PUT {size} signed SHA-256", "signed", HTTP, True, 0.6, 1.3),
    Scenario("put_trailer", "PUT {size} trailer CRC32", "trailer-crc32", BOTH, False, 0.8, 0.7),
    Scenario("put_trailer_c", "PUT {size} trailer CRC32C", "trailer-crc32c", BOTH, False, 0.8, 0.7),
    Scenario("get_large", "GET {size}", "", BOTH, True, 0.9, 0.6),
    Scenario("put_small", "PUT 4 KiB x16 conns", "", BOTH, True, 0.35, 170.0),
    Scenario("get_small", "GET 4 KiB x16 conns", "", BOTH, True, 0.35, 170.0),
    # Issue 4: the same requests against BillFlow with metering on and off (HTTP: the meter does
    # not depend on the scheme, and TLS would only dilute its share).
    Scenario("put_onoff_small", "PUT 4 KiB x16 conns", "", HTTP, True, METER_AIM, 170.0, True),
    Scenario("get_onoff_small", "GET 4 KiB x16 conns", "", HTTP, True, METER_AIM, 170.0, True),
)
SCENARIO = {s.name: s for s in SCENARIOS}


@dataclass
class Suite:
    name: str  # "sink" or "moto"
    upstream: Server
    large: int
    small_requests: int
    small_seconds: float
    onoff_requests: int  # the metering on/off rows: at most this many requests
    onoff_seconds: float  # ... or this long (time-bound: each run spans several flushes)
    targets: list[Target] = field(default_factory=list)
    results: list[dict[str, Any]] = field(default_factory=list)
    rss: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)  # (scheme, payload)
    notes: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # something that should have run did not

    def watched(self) -> list[Server]:
        fronts = {id(t.front): t.front for t in self.targets if t.front is not self.upstream}
        return [*fronts.values(), self.upstream]

    def schemes(self) -> list[str]:
        return [s for s in BOTH if any(t.scheme == s for t in self.targets)]

    def scenarios(self, scheme: str, onoff: bool = False) -> list[Scenario]:
        """The scenarios this suite runs over `scheme`: the main table's, or the on/off rows."""
        return [
            s
            for s in SCENARIOS
            if scheme in s.schemes and (self.name == "sink" or s.moto) and s.onoff == onoff
        ]

    def targets_for(self, scenario: Scenario) -> list[Target]:
        """The on/off rows run on the two plain-HTTP BillFlows, metering on and off; every other
        scenario on all targets of its schemes but the meter-off BillFlow."""
        if scenario.onoff:
            return [
                t for t in self.targets if t.scheme == "http" and t.name in (BILLFLOW, METER_OFF)
            ]
        return [t for t in self.targets if t.scheme in scenario.schemes and t.name != METER_OFF]


def fmt_size(n: int) -> str:
    return f"{n // GiB} GiB" if n % GiB == 0 else f"{n // MiB} MiB"


@dataclass
class Cell:
    """One scenario on one target: rate per round, and its front process's CPU per unit."""

    rates: dict[int, float]  # MiB/s (large) or requests/s (small)
    cpu: float  # s/GiB (large) or µs/request (small), over all rounds


def cells(suite: Suite, scenario: Scenario, scheme: str) -> dict[str, Cell]:
    out: dict[str, Cell] = {}
    for target in suite.targets:
        if target.scheme != scheme:
            continue
        runs = [
            r
            for r in suite.results
            if r["target"] is target and r["scenario"] is scenario and r["ok"]
        ]
        if runs:
            small = scenario.small
            rates = {
                r["round"]: (r["requests"] if small else r["bytes"] / MiB) / r["seconds"]
                for r in runs
            }
            units = sum(r["requests_total"] / 1e6 if small else r["bytes"] / GiB for r in runs)
            out[target.name] = Cell(rates, sum(r["cpu"][target.front.name] for r in runs) / units)
    return out


def ratios(a: Cell | None, b: Cell | None) -> list[float]:
    """Per-round ratios of a to b, in rounds where both ran."""
    return [a.rates[r] / b.rates[r] for r in a.rates if b.rates.get(r)] if a and b else []


def fmt_ratio(rs: list[float]) -> str:
    if len(rs) < 2:
        return f"{rs[0]:.2f}" if rs else "-"
    return f"{statistics.median(rs):.2f} ({min(rs):.2f}-{max(rs):.2f})"


def fmt_rate(cell: Cell | None) -> str:
    return f"{statistics.median(cell.rates.values()):.0f}" if cell else "-"


def fmt_cpu(value: float | None, small: bool) -> str:
    if value is None:
        return "-"
    return f"{value:.0f} us/req" if small else f"{value:.2f} s/GiB"


COLUMNS = (
    ("upstream", -8), ("scheme", -6), ("scenario (MiB/s or req/s)", -30), ("BillFlow", 9),
    ("direct", 9), ("BF/direct", 17), ("nginx", 9), ("BF/nginx", 17), ("BF CPU", 13),
    ("nginx CPU", 13), ("upstream CPU", 13),
)  # fmt: skip


def row(values: list[str], columns: tuple[tuple[str, int], ...] = COLUMNS) -> str:
    cols = zip(values, columns, strict=True)
    return " ".join(f"{v:<{-w}}" if w < 0 else f"{v:>{w}}" for v, (_, w) in cols)


def verdict(met: bool | None, text: str) -> str:
    return f"[{'not measured' if met is None else 'met' if met else 'NOT MET':>12}] {text}"


def suite_lines(suite: Suite) -> tuple[list[str], list[str]]:
    """Table rows and verdict lines for one suite."""
    lines, verdicts = [], []
    for scheme in suite.schemes():
        for scenario in suite.scenarios(scheme):
            c, small = cells(suite, scenario, scheme), scenario.small
            bf, direct, nginx = c.get("billflow"), c.get("direct"), c.get("nginx")
            label = scenario.label.format(size=fmt_size(suite.large))
            values = [suite.name, scheme, label, fmt_rate(bf), fmt_rate(direct)]
            values.append(fmt_ratio(ratios(bf, direct)))
            if suite.name == "sink":
                values += [fmt_rate(nginx), fmt_ratio(ratios(bf, nginx))]
            else:
                values += ["", ""]
            values += [fmt_cpu(x.cpu if x else None, small) for x in (bf, nginx, direct)]
            lines.append(row(values))
            what = f"{suite.name} {scheme}: {label}"
            if not small and scheme == "http":  # issue 2: large objects >= 80% of direct
                rs = ratios(bf, direct)
                ok = statistics.median(rs) >= 0.8 if rs else None
                verdicts.append(verdict(ok, f"{what} >= 0.80x direct (issue 2): {fmt_ratio(rs)}"))
            if suite.name == "sink":
                note = "" if scheme == "http" else " (HTTP target)"
                rs = ratios(bf, nginx)
                ok = statistics.median(rs) >= scenario.minimum if rs else None
                text = f"{what} >= {scenario.minimum}x nginx-{scheme}{note}: {fmt_ratio(rs)}"
                verdicts.append(verdict(ok, text))
                ok = bf.cpu <= scenario.budget if bf else None
                text = f"{what} BillFlow CPU <= {fmt_cpu(scenario.budget, small)}{note}"
                verdicts.append(verdict(ok, f"{text}: {fmt_cpu(bf.cpu if bf else None, small)}"))
        peaks = [
            r["peak_rss"]
            for r in suite.results
            if "peak_rss" in r and r["ok"] and r["target"].scheme == scheme
        ]
        if peaks:
            label = f"BillFlow peak RSS in {fmt_size(suite.large)} runs"
            lines.append(f"{suite.name:8} {scheme:6} {label:30} {max(peaks) / MiB:9.0f} MiB")
            text = f"{suite.name} {scheme}: {label}: < 150 MB (issue 2): {max(peaks) / 1e6:.0f} MB"
            verdicts.append(verdict(max(peaks) < 150e6, text))
    return lines, verdicts


def trailer_lines(suite: Suite) -> list[str]:
    """The cost of the trailer mode: each target's trailer PUT against its own UNSIGNED-PAYLOAD
    PUT of the same size in the same round."""
    if suite.name != "sink":
        return []
    unsigned = SCENARIO["put_unsigned"]
    lines = [
        f"\nTrailer mode, PUT {fmt_size(suite.large)}: per-round rate ratio to the same target's"
        " UNSIGNED-PAYLOAD PUT in the same round, median (min-max)",
        f"{'scheme':6} {'payload':30} {'BillFlow':>9} {'BF trailer/unsigned':>19}"
        f" {'BF CPU':>11} {'nginx':>9} {'nginx trailer/unsigned':>22} {'nginx CPU':>11}",
    ]
    for scheme in suite.schemes():
        base = cells(suite, unsigned, scheme)
        bf0, nginx0 = base.get("billflow"), base.get("nginx")
        lines.append(
            f"{scheme:6} {'UNSIGNED-PAYLOAD':30} {fmt_rate(bf0):>9} {'(base)':>19}"
            f" {fmt_cpu(bf0.cpu if bf0 else None, False):>11} {fmt_rate(nginx0):>9}"
            f" {'(base)':>22} {fmt_cpu(nginx0.cpu if nginx0 else None, False):>11}"
        )
        for name in ("put_trailer", "put_trailer_c"):
            c = cells(suite, SCENARIO[name], scheme)
            bf, nginx = c.get("billflow"), c.get("nginx")
            label = SCENARIO[name].label.removeprefix("PUT {size} ") + " (64 KiB chunks)"
            lines.append(
                f"{scheme:6} {label:30} {fmt_rate(bf):>9} {fmt_ratio(ratios(bf, bf0)):>19}"
                f" {fmt_cpu(bf.cpu if bf else None, False):>11} {fmt_rate(nginx):>9}"
                f" {fmt_ratio(ratios(nginx, nginx0)):>22}"
                f" {fmt_cpu(nginx.cpu if nginx else None, False):>11}"
            )
    return lines


METER_COLUMNS = (
    ("upstream", -8), ("scenario (req/s)", -20), ("meter on", 9), ("meter off", 9),
    ("on/off", 17), ("CPU on", 11), ("CPU off", 11), ("meter CPU", 11), ("flushes/run", 11),
    ("metered/req", 11), ("flushed/req", 11), ("backlog", 8), ("in flushes", 10),
)  # fmt: skip


def meter_lines(suite: Suite) -> tuple[list[str], list[str]]:
    """Issue 4: each on/off scenario's rate with metering on and off, the per-round ratio, the
    CPU difference per request, and what the meter did during the meter-on runs (from the
    /metrics counters read around each run: bench.py stores them as each result's "meter")."""
    lines, verdicts = [], []
    for scenario in suite.scenarios("http", onoff=True):
        c = cells(suite, scenario, "http")
        on, off = c.get(BILLFLOW), c.get(METER_OFF)
        if not on and not off:
            continue
        runs = [
            r
            for r in suite.results
            if r["scenario"] is scenario and r["ok"] and r.get("meter")
            if r["target"].name == BILLFLOW
        ]
        flushes = sum(r["meter"]["flushes"] for r in runs)
        metered = sum(r["meter"]["metered"] for r in runs)
        requests = sum(r["requests_total"] for r in runs)
        seconds = sum(r["seconds"] for r in runs)
        flush_seconds = sum(r["meter"]["flush_seconds"] for r in runs)
        flushed = sum(r["meter"]["flushed"] for r in runs)
        rs = ratios(on, off)
        values = [suite.name, scenario.label, fmt_rate(on), fmt_rate(off), fmt_ratio(rs)]
        values += [fmt_cpu(x.cpu if x else None, True) for x in (on, off)]
        values += [
            f"{on.cpu - off.cpu:+.0f} us/req" if on and off else "-",
            f"{flushes / len(runs):.1f}" if runs else "-",
            f"{metered / requests:.2f}" if requests else "-",
            f"{flushed / requests:.2f}" if requests else "-",
            f"{max(r['meter']['pending'] for r in runs):.0f}" if runs else "-",
            f"{flush_seconds / seconds:.1%}" if seconds else "-",
        ]
        lines.append(row(values, METER_COLUMNS))
        if suite.name != "sink":
            continue  # in front of moto, moto's ~2 ms per request hides the meter: no verdict
        what = f"{suite.name} http: {scenario.label}"
        ok = statistics.median(rs) >= scenario.minimum if rs else None
        text = f"{what}, meter on >= {scenario.minimum}x meter off (issue 4): {fmt_ratio(rs)}"
        verdicts.append(verdict(ok, text))
        if scenario.method == "PUT":
            # Each PUT is a PutObject into a bucket created through this BillFlow: one ObjectPut
            # storage event each, applied by the flushes that ran inside the measured runs.
            offs = [
                r["meter"]["metered"]
                for r in suite.results
                if r["scenario"] is scenario and r.get("meter") and r["target"].name == METER_OFF
            ]
            failed = sum(r["meter"]["failures"] for r in runs)
            flushed_each = all(r["meter"]["flushes"] >= 1 for r in runs)
            ok = metered >= requests and flushed_each and not failed and not any(offs)
            text = (
                f"{what}: meter on, every PUT metered as a storage event"
                f" ({metered / requests if requests else 0:.2f} entries per PUT) and flushes ran"
                f" during each run ({flushes:.0f} in {len(runs)} run(s), {failed:.0f} failed);"
                f" meter off, {sum(offs):.0f} entries metered"
            )
            verdicts.append(verdict(ok if runs else None, text))
    if not lines:
        return [], verdicts
    stored: dict[str, float] = {}  # each BillFlow's last reading: what its ledger holds
    for r in suite.results:
        if r.get("meter"):
            stored[r["target"].name] = r["meter"]["stored"]
    return [
        f"\nMetering on vs off (issue 4), {suite.name} upstream, HTTP: BillFlow with [meter]"
        " enabled = true vs false, back to back in alternating order; ratio per round, median"
        f" (min-max). Each run at most {suite.onoff_requests} requests or"
        f" {suite.onoff_seconds:g} s; flush interval {FLUSH_INTERVAL:g} s.",
        row([name for name, _ in METER_COLUMNS], METER_COLUMNS),
        *lines,
        "meter CPU: CPU on minus CPU off per request. Meter-on runs, from BillFlow's /metrics:"
        " metered/req, entries the meter took in (one storage event per PUT, one counter row per"
        " batch) per request; flushed/req, entries the flushes that ended in the run wrote (below"
        " metered/req: the flushes fell behind); backlog, entries still unflushed after a run"
        " (largest); in flushes, flush wall time (one ledger transaction; its SQL runs in"
        " aiosqlite's thread, each statement awaited on the event loop) as a share of the runs.",
        f"Ledger after the runs: tenant stores {stored.get(BILLFLOW, 0) / MiB:.1f} MiB with"
        f" metering on, {stored.get(METER_OFF, 0) / MiB:.1f} MiB with it off.",
    ], verdicts


def rss_lines(suite: Suite) -> tuple[list[str], list[str]]:
    lines, verdicts = [], []
    for scheme in suite.schemes():
        runs = {payload: r for (s, payload), r in suite.rss.items() if s == scheme}
        growth, peak, size = 0, 0, 0
        for payload, r in runs.items():
            size = r["size"]
            label = f"BillFlow RSS, {fmt_size(size)} PUT {payload}"
            if not r["ok"]:
                lines.append(f"{suite.name:8} {scheme:6} {label:38} failed: {r.get('error')}")
                continue
            growth, peak = max(growth, r["peak_rss"] - r["before"]), max(peak, r["peak_rss"])
            lines.append(
                f"{suite.name:8} {scheme:6} {label:38} {r['before'] / MiB:4.0f} MiB before, peak"
                f" {r['peak_rss'] / MiB:.0f} MiB (+{(r['peak_rss'] - r['before']) / MiB:.1f} MiB);"
                f" {r['bytes'] / MiB / r['seconds']:.0f} MiB/s,"
                f" {r['cpu'][r['front']] / (r['bytes'] / GiB):.2f} s/GiB CPU"
            )
        if not runs:
            continue
        ok = all(r["ok"] for r in runs.values())
        what = f"{suite.name} {scheme}: BillFlow during a {fmt_size(size)} PUT"
        verdicts += [
            verdict(peak < 150e6 if ok else None, f"{what}: peak RSS < 150 MB (issue 2): "
                    f"{peak / 1e6:.0f} MB"),
            verdict(growth <= 16 * MiB if ok else None, f"{what}: RSS growth <= 16 MiB: "
                    f"{growth / MiB:.1f} MiB"),
        ]  # fmt: skip
    return lines, verdicts


def client_line(suites: list[Suite]) -> list[str]:
    parts = []
    for scheme in BOTH:
        shares = [
            r["client_cpu"] / r["seconds"]
            for s in suites
            for r in s.results
            if r["ok"] and r["target"].scheme == scheme
        ]
        if shares:
            parts.append(
                f"over {scheme} at most {max(shares):.0%} of one core in any timed run"
                f" (median {statistics.median(shares):.0%})"
            )
    return [f"Load client: {'; '.join(parts)}."] if parts else []


def report(
    suites: list[Suite], rounds: int, started: float, busy: float, own: float, notes: list[str]
) -> list[str]:
    header = row([name for name, _ in COLUMNS])
    lines, verdicts, extra = [header, "-" * len(header)], [], []
    for suite in suites:
        for part in (suite_lines(suite), rss_lines(suite)):
            lines += part[0]
            verdicts += part[1]
        extra += trailer_lines(suite)
        meter, meter_verdicts = meter_lines(suite)
        extra += meter
        verdicts += meter_verdicts
    lines += extra
    lines.append(
        f"\n{rounds} interleaved round(s): rates are medians, ratios the median per-round ratio"
        " (min-max). CPU: utime+stime of the process tree per GiB or per request over all rounds"
        " (10 ms ticks); 'upstream CPU' is the upstream's own cost in the direct runs."
    )
    if any("https" in s.schemes() for s in suites):
        lines.append(
            "https: the load client speaks TLS to BillFlow ([s3.tls]) and to nginx terminating TLS"
            " (same worker, `listen ... ssl`), both in front of the same plain-HTTP sink; no"
            " direct column (the sink has no TLS). PERFORMANCE.md's targets were written for"
            " HTTP: the https verdicts apply the same thresholds against nginx-https."
        )
    lines += client_line(suites)
    waited = sum(1 for s in suites for r in s.results if r.get("continue_timeout"))
    if waited:
        lines.append(
            f"{waited} trailer PUT(s) got no 100 Continue and waited the client's 1 s before"
            " sending: that second is in their time."
        )
    elapsed, cpus = time.monotonic() - started, os.cpu_count() or 1
    lines.append(
        f"Other processes on this machine used {busy - own:.0f} CPU-seconds during the run"
        f" ({(busy - own) / elapsed / cpus:.0%} of its {cpus} CPUs over {elapsed:.0f} s)."
    )
    lines += notes
    for suite in suites:
        lines += [f"{suite.name}: {note}" for note in suite.notes + suite.problems]
        lines += [
            f"{suite.name}: {t.name} ({t.scheme}) failed: {t.error}"
            for t in suite.targets
            if t.error
        ]
    lines += ["", *verdicts, f"\nTotal time {time.monotonic() - started:.0f} s."]
    return lines
