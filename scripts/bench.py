"""BillFlow's benchmark: the proxy against its upstream, and against nginx, in one run.

Starts on free 127.0.0.1 ports everything it measures, and stops exactly those processes (by
PID, also on Ctrl-C or an error):
- sink suite: scripts/bench_sink.py (a fast local S3-ish upstream that isolates BillFlow's own
  cost), BillFlow in front of it and, when nginx is installed, nginx with one worker as a plain
  streaming reverse proxy in front of the same sink: the baseline PERFORMANCE.md's targets use.
  Over HTTPS (issue 9) a second BillFlow serves its S3 listener with TLS (`[s3.tls]`, a
  throwaway CA and certificate made per run with trustme), and the same nginx worker terminates
  TLS on a second listener: the HTTPS baseline. Over HTTP one more BillFlow runs with `[meter]
  enabled = false` (issue 4: metering on vs off);
- moto suite (HTTP only): moto_server, BillFlow in front of it, and the meter-off BillFlow. moto
  is the bottleneck there (about 2 ms CPU per small request, 6-8 CPU-seconds per GiB), so this
  suite is kept small and its on/off rows get no verdict.
Every BillFlow has a fresh ledger (a new SQLite file in the run's temp directory), a tenant, a key
and its own bucket, created through it (so BillFlow owns and meters it).

Scenarios: PUT (UNSIGNED-PAYLOAD; a signed hex SHA-256 payload over HTTP; and the trailer mode
boto3 and aws-cli use over HTTPS: aws-chunked inside HTTP chunked with a CRC32 or CRC32C
trailer) and GET of a 256 MiB object, 4 KiB PUT and GET at 16 keep-alive connections, and
BillFlow's RSS during a 1 GiB PUT. Rounds are interleaved (each scenario runs on every target
back to back, in rotating order) so swings in machine load hit all sides alike. CPU comes from
/proc/PID/stat (utime+stime of the process and its children) before and after each
measurement, RSS from /proc/PID/status (VmHWM reset through clear_refs first).

Metering on vs off (issue 4; aim: on >= 0.95x the requests/s of off): 4 KiB PUT and GET at 16
keep-alive connections over HTTP against the metering BillFlow and the meter-off one, back to
back in alternating order each round. What is measured with metering on: each request's counter
update (an in-memory aggregate) and, for PUT, one PutObject storage event per request (the
same 64 keys overwritten: each ObjectPut is applied at the next flush, which integrates the
bucket's byte-seconds, upserts the object's row and updates the bucket's totals in the flush's
one ledger transaction). The runs are time-bound (5 s; --quick 2 s) so each spans several
[meter] flush intervals (1 s): the flushes' cost is inside the measurement. BillFlow's /metrics
(admin listener) is read before and after each on/off run, outside its timing, to report the
flushes and the entries metered, and to check that every meter-on PUT was metered and nothing
with metering off.

The load client (scripts/bench_client.py) runs in a process of its own per measurement, signs
with botocore once per key before its clock starts, and streams from/to one reused buffer.
Processes: scripts/bench_procs.py; scenarios, table and verdicts: scripts/bench_report.py.
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench_procs import (
    BILLFLOW,
    PY,
    SCRIPTS,
    Server,
    StartError,
    Target,
    TLSFiles,
    machine_cpu,
    make_tls,
    meter_counts,
    nginx_installed,
    start_billflow,
    start_nginx,
    start_upstream,
)
from bench_report import SCENARIO, SCENARIOS, GiB, MiB, Scenario, Suite, fmt_size, report

CONNECTIONS, KEYS_PER_CONNECTION, SMALL = 16, 4, 4096
# Per suite: (large object, small requests, their time bound in s, the same for the metering
# on/off rows); the RSS-watched PUT; rounds. Against the sink the on/off rows are time-bound, so
# every run spans the same number of 1 s meter flushes.
FULL = {
    "sink": (256 * MiB, 20_000, 5.0, 100_000, 5.0),
    "moto": (256 * MiB, 1_200, 5.0, 1_200, 5.0),
    "rss": GiB,
    "rounds": 5,
}
QUICK = {
    "sink": (32 * MiB, 2_000, 2.0, 100_000, 2.0),
    "moto": (16 * MiB, 200, 3.0, 200, 3.0),
    "rss": 128 * MiB,
    "rounds": 1,
}
# BillFlow's RSS is watched during one PUT of sizes["rss"] in each of these payload modes.
RSS_PAYLOADS = {
    "http": ("unsigned", "signed", "trailer-crc32"),
    "https": ("unsigned", "trailer-crc32"),
}


def spec_for(suite: Suite, target: Target, scenario: Scenario, **changes: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": target.port,
        "scheme": target.scheme,
        "ca_file": target.ca_file,
        "access_key_id": target.access_key_id,
        "secret_access_key": target.secret_access_key,
        "method": scenario.method,
    }
    if scenario.small:
        paths = [
            [f"/{target.bucket}/small-c{c:02d}-{j}-{SMALL}" for j in range(KEYS_PER_CONNECTION)]
            for c in range(CONNECTIONS)
        ]
        spec |= {"kind": "small", "size": SMALL, "paths": paths}
        if scenario.onoff:
            spec |= {"requests": suite.onoff_requests, "seconds": suite.onoff_seconds}
        else:
            spec |= {"requests": suite.small_requests, "seconds": suite.small_seconds}
    else:
        spec |= {"kind": "large", "path": f"/{target.bucket}/large-{suite.large}"}
        spec |= {"size": suite.large, "payload": scenario.payload}
    return spec | changes


def run_client(spec: dict[str, Any], watch: list[Server], rss_of: Server | None = None) -> dict:
    """One client process; CPU of every watched server around it; peak RSS of `rss_of`."""
    cpu0 = {s.name: s.cpu() for s in watch}
    hwm_reset, sampled_peak = bool(rss_of and rss_of.reset_peak()), 0
    pids = rss_of.tree() if rss_of else []  # sampled every 20 ms: a /proc scan would cost CPU
    argv = [PY, str(SCRIPTS / "bench_client.py"), json.dumps(spec)]
    client = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 300
        while client.poll() is None and time.monotonic() < deadline:
            if rss_of:
                sampled_peak = max(sampled_peak, rss_of.memory(pids)[0])
            time.sleep(0.02)
    finally:
        if client.poll() is None:
            client.kill()
        out, err = client.communicate()
    try:
        result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        result = {"ok": False, "error": f"client failed or timed out: {err.strip()[-500:]}"}
    result["cpu"] = {s.name: s.cpu() - cpu0[s.name] for s in watch}
    if rss_of:
        rss, hwm = rss_of.memory()
        result["peak_rss"] = max(sampled_peak, rss, hwm if hwm_reset else 0)
    for s in watch:
        if not s.alive():
            result["ok"] = False
            result["error"] = f"{s.name} died (status {s.proc.returncode})\n{s.log_tail()}"
    return result


def prepare(suite: Suite, target: Target) -> None:
    """Create the bucket, write every small key once (moto's GETs need them) and warm up."""
    small = {"size": 0, "requests": 1, "warmup": 0, "paths": [[f"/{target.bucket}"]]}
    keys = {"requests": CONNECTIONS * KEYS_PER_CONNECTION, "seconds": 120, "warmup": 0}
    warm = {"path": f"/{target.bucket}/warm-{MiB}", "size": MiB}
    warm_puts = ["put_signed", "put_trailer"] if suite.name == "sink" else ["put_signed"]
    specs = [
        spec_for(suite, target, SCENARIO["put_small"], **small),
        spec_for(suite, target, SCENARIO["put_small"], **keys),
        *(spec_for(suite, target, SCENARIO[name], **warm) for name in warm_puts),
        spec_for(suite, target, SCENARIO["get_large"], **warm),
    ]
    for spec in specs:
        if not (result := run_client(spec, suite.watched()))["ok"]:
            target.error = f"warm-up {spec['method']} failed: {result.get('error')}"
            return


def meter_delta(before: dict[str, float] | None, target: Target) -> dict[str, float] | None:
    """What BillFlow's meter did since `before` (bench_procs.meter_counts): flushes, entries
    flushed, entries metered (flushed plus the growth of what is pending), flush seconds and
    failures; `pending` (not flushed yet) and `stored` (the ledger's figure) are now."""
    after = meter_counts(target)
    if before is None or after is None:
        return None
    delta = {k: after[k] - before[k] for k in ("flushes", "flushed", "flush_seconds", "failures")}
    return delta | {
        "metered": delta["flushed"] + after["pending"] - before["pending"],
        "pending": after["pending"],
        "stored": after["stored"],
    }


def run_rounds(suite: Suite, rounds: int) -> None:
    for r in range(rounds):
        print(f"  {suite.name}: round {r + 1}/{rounds}", file=sys.stderr, flush=True)
        for scenario in SCENARIOS:
            if suite.name != "sink" and not scenario.moto:
                continue
            targets = suite.targets_for(scenario)
            shift = r % len(targets) if targets else 0
            for target in targets[shift:] + targets[:shift]:
                if target.error:
                    continue
                # The on/off pair runs alike: no RSS sampling (the bench's own CPU) on either.
                rss_of = target.front if target.name == BILLFLOW and not scenario.onoff else None
                meter0 = meter_counts(target) if scenario.onoff else None
                result = run_client(spec_for(suite, target, scenario), suite.watched(), rss_of)
                if scenario.onoff:
                    result["meter"] = meter_delta(meter0, target)
                suite.results.append(result | {"round": r, "scenario": scenario, "target": target})
                if not result["ok"]:
                    target.error = f"{scenario.name}: {result.get('error')}"
                    print(
                        f"  {target.name} ({target.scheme}) failed: {target.error}", file=sys.stderr
                    )


def measure_rss(suite: Suite, target: Target, size: int) -> None:
    """BillFlow's RSS right before, and at its peak during, a PUT of `size` in each payload mode."""
    print(
        f"  {suite.name}: BillFlow RSS during a {fmt_size(size)} PUT over {target.scheme}",
        file=sys.stderr,
    )
    for payload in RSS_PAYLOADS[target.scheme]:
        before = target.front.memory()[0]
        path = f"/{target.bucket}/rss-{size}"
        spec = spec_for(
            suite, target, SCENARIO["put_signed"], path=path, size=size, payload=payload
        )
        result = run_client(spec, suite.watched(), rss_of=target.front)
        suite.rss[target.scheme, payload] = result | {
            "before": before,
            "size": size,
            "front": target.front.name,
        }


def add_targets(
    suite: Suite, tmp: Path, port: int, key: str, schemes: list[str], tls: TLSFiles | None
) -> None:
    upstream = f"http://127.0.0.1:{port}"
    for scheme in schemes:
        name = f"billflow-{suite.name}" + ("-tls" if scheme == "https" else "")
        try:
            suite.targets.append(
                start_billflow(tmp, name, upstream, key, tls if scheme == "https" else None)
            )
        except StartError as e:
            suite.problems.append(f"BillFlow ({scheme}) did not start: {e.describe()}")
    if "http" in schemes:  # issue 4: the same BillFlow with `[meter] enabled = false`
        try:
            name = f"billflow-{suite.name}-meter-off"
            suite.targets.append(start_billflow(tmp, name, upstream, key, meter=False))
        except StartError as e:
            suite.problems.append(f"BillFlow (meter off) did not start: {e.describe()}")
    else:
        suite.notes.append("metering on/off rows run over HTTP only: not measured")
    if "http" in schemes:
        suite.targets.append(Target("direct", port, key, key, "bench-direct", suite.upstream))
    if suite.name != "sink":
        return
    if not nginx_installed():
        suite.notes.append("nginx is not installed (apt-get install -y nginx): no baseline")
        return
    try:
        suite.targets += start_nginx(
            tmp, port, "http" in schemes, tls if "https" in schemes else None
        )
    except StartError as e:
        suite.problems.append(f"nginx did not start: {e.describe()}")


def run_suite(
    name: str,
    tmp: Path,
    sizes: dict[str, Any],
    rounds: int,
    schemes: list[str],
    tls: TLSFiles | None,
) -> Suite:
    upstream, port = start_upstream(tmp, name)
    suite = Suite(name, upstream, *sizes[name])
    add_targets(suite, tmp, port, "bench" if name == "sink" else "testing", schemes, tls)
    for target in suite.targets:
        prepare(suite, target)
    run_rounds(suite, rounds)
    if name == "sink":
        for target in suite.targets:
            if target.name == BILLFLOW and not target.error:
                measure_rss(suite, target, sizes["rss"])
    return suite


def main() -> int:
    parser = argparse.ArgumentParser(
        prog="scripts/bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="nginx is optional and not installed by this script (Debian: apt-get install -y"
        " nginx); without it there is no baseline. A full run takes about 8-9 minutes on 2 cores.",
    )
    parser.add_argument("--quick", action="store_true", help="small sizes, 1 round: a smoke run")
    parser.add_argument("--rounds", type=int, help="interleaved rounds (default 5; 1 with --quick)")
    parser.add_argument("--only", choices=("sink", "moto"), help="run one suite only")
    parser.add_argument(
        "--scheme",
        choices=("http", "https", "both"),
        default="both",
        help="what the client speaks to BillFlow and nginx (default both; moto is HTTP only)",
    )
    args = parser.parse_args()
    sizes = QUICK if args.quick else FULL
    rounds = args.rounds or sizes["rounds"]
    schemes = ["http", "https"] if args.scheme == "both" else [args.scheme]
    started, (busy0, own0) = time.monotonic(), machine_cpu()
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # stop what we started, then exit
    tmp = Path(tempfile.mkdtemp(prefix="billflow-bench-"))
    suites: list[Suite] = []
    notes: list[str] = []
    failed = False
    try:
        tls = make_tls(tmp) if "https" in schemes else None
        for name in ("sink", "moto"):
            if args.only not in (None, name):
                continue
            if name == "moto" and "http" not in schemes:
                notes.append("moto suite skipped: it runs over HTTP only")
                continue
            print(f"==> {name} suite", file=sys.stderr, flush=True)
            try:
                suites.append(
                    run_suite(
                        name, tmp, sizes, rounds, schemes if name == "sink" else ["http"], tls
                    )
                )
            except StartError as e:
                print(f"error: {e.describe()}", file=sys.stderr)
                failed = True
            Server.stop_all()
    except StartError as e:
        print(f"error: {e.describe()}", file=sys.stderr)
        failed = True
    except KeyboardInterrupt:
        print("\ninterrupted: stopping what the bench started", file=sys.stderr)
        Server.stop_all()
        shutil.rmtree(tmp, ignore_errors=True)
        return 130
    finally:
        Server.stop_all()
    failed = failed or any(s.problems or any(t.error for t in s.targets) for s in suites)
    busy, own = machine_cpu()
    print("\n".join(report(suites, rounds, started, busy - busy0, own - own0, notes)))
    if failed:
        print(f"\nlogs kept in {tmp}", file=sys.stderr)
        return 1
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
