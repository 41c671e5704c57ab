"""BillFlow's benchmark: the proxy against its upstream, and against nginx, in one run.

Starts on free 127.0.0.1 ports everything it measures, and stops exactly those processes (by
PID, also on Ctrl-C or an error):
- sink suite: scripts/bench_sink.py (a fast local S3-ish upstream that isolates BillFlow's own
  cost), BillFlow in front of it and, when nginx is installed, nginx with one worker as a plain
  streaming reverse proxy in front of the same sink: the baseline PERFORMANCE.md's targets use;
- moto suite: moto_server, and BillFlow in front of it. moto is the bottleneck there (about
  2 ms CPU per small request, 6-8 CPU-seconds per GiB), so this suite is kept small.
Scenarios: PUT (UNSIGNED-PAYLOAD, and a signed hex SHA-256 payload) and GET of a 256 MiB object,
4 KiB PUT and GET at 16 keep-alive connections, and BillFlow's RSS during a 1 GiB PUT. Rounds
are interleaved (each scenario runs on every target back to back, in rotating order) so swings
in machine load hit all sides alike. CPU comes from /proc/PID/stat (utime+stime of the process
and its children) before and after each measurement, RSS from /proc/PID/status (VmHWM reset
through clear_refs first).

The load client (scripts/bench_client.py) runs in a process of its own per measurement, signs
with botocore once per key before its clock starts, and streams from/to one reused buffer.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import resource
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = ROOT / "scripts"
PY = sys.executable
MiB, GiB = 1 << 20, 1 << 30
CLK_TCK = os.sysconf("SC_CLK_TCK")
CONNECTIONS, KEYS_PER_CONNECTION, SMALL = 16, 4, 4096
# Per suite: (large object, small requests, their time bound in s); the RSS-watched PUT; rounds.
FULL = {"sink": (256 * MiB, 20_000, 5.0), "moto": (256 * MiB, 1_200, 5.0), "rss": GiB, "rounds": 5}
QUICK = {
    "sink": (32 * MiB, 2_000, 2.0),
    "moto": (16 * MiB, 200, 3.0),
    "rss": 128 * MiB,
    "rounds": 1,
}


# --- processes ----------------------------------------------------------------------------------


def _set_pdeathsig() -> None:
    """Runs in the child before exec: die with the bench even if it is SIGKILLed (Linux)."""
    import ctypes

    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _stat(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rpartition(")")[2].split()
    except OSError:
        return None


class Server:
    """One process this bench started; everything about it goes through its PID."""

    started: ClassVar[list[Server]] = []  # stopped in reverse order however the bench ends

    def __init__(self, name: str, argv: list[str], logdir: Path, env: dict[str, str] | None = None):
        self.name, self.log = name, logdir / f"{name}.log"
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                argv,
                cwd=ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C reaches the bench only; it stops us in order
                preexec_fn=_set_pdeathsig,
            )
        self.pid = self.proc.pid
        self.seen_children: set[int] = set()
        Server.started.append(self)

    def tree(self) -> list[int]:
        """This process and its descendants (nginx's worker; BillFlow's workers, if any)."""
        parents = {
            int(p): int(s[1]) for p in os.listdir("/proc") if p.isdigit() if (s := _stat(int(p)))
        }
        tree, frontier = [self.pid], [self.pid]
        while frontier := [pid for pid, ppid in parents.items() if ppid in frontier]:
            tree += frontier
        self.seen_children.update(tree[1:])
        return tree

    def cpu(self) -> float:
        """CPU seconds of the tree so far (reaped children count through cutime/cstime)."""
        ticks = 0
        for i, pid in enumerate(self.tree()):
            if fields := _stat(pid):
                ticks += sum(int(v) for v in fields[11 : 15 if i == 0 else 13])
        return ticks / CLK_TCK

    def memory(self, pids: list[int] | None = None) -> tuple[int, int]:
        """(VmRSS, VmHWM) in bytes, summed over the tree (or `pids`, to skip the /proc scan)."""
        found = {"VmRSS:": 0, "VmHWM:": 0}
        for pid in pids or self.tree():
            try:
                with open(f"/proc/{pid}/status") as f:
                    for line in f:
                        if (name := line[:6]) in found:
                            found[name] += int(line.split()[1]) * 1024
            except OSError:
                pass
        return found["VmRSS:"], found["VmHWM:"]

    def reset_peak(self) -> bool:
        """Reset VmHWM to the current RSS (Linux >= 4.0); False if the kernel refused."""
        try:
            for pid in self.tree():
                with open(f"/proc/{pid}/clear_refs", "w") as f:
                    f.write("5")
            return True
        except OSError:
            return False

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log_tail(self, lines: int = 15) -> str:
        text = self.log.read_text(errors="replace").splitlines()[-lines:]
        return "\n".join("    | " + line for line in text)

    def stop(self) -> None:
        if self.alive():
            self.tree()
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                print(f"  {self.name} (pid {self.pid}) ignored SIGTERM: killed", file=sys.stderr)
                self.proc.kill()
                self.proc.wait()
        for pid in self.seen_children:  # whatever it left behind, by the PIDs we saw
            if _stat(pid) is not None:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
        Server.started.remove(self)

    @classmethod
    def stop_all(cls) -> None:
        while cls.started:
            cls.started[-1].stop()


def machine_cpu() -> tuple[float, float]:
    """(CPU seconds busy on the whole machine, of them spent by this bench and its reaped
    children) so far: the difference is what other processes took from the measurements."""
    with open("/proc/stat") as f:
        user, nice, system, _idle, _iowait, irq, softirq, steal = map(
            int, f.readline().split()[1:9]
        )
    usage = [resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
    own = sum(u.ru_utime + u.ru_stime for u in usage)
    return (user + nice + system + irq + softirq + steal) / CLK_TCK, own


class StartError(Exception):
    def __init__(self, message: str, server: Server | None = None) -> None:
        super().__init__(message)
        self.server = server

    def describe(self) -> str:
        return f"{self}\n{self.server.log_tail()}" if self.server else str(self)


def free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def http_status(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as e:
        return e.code
    except (OSError, ValueError):
        return None


def wait_ready(server: Server, ready: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if not server.alive():
            raise StartError(f"{server.name} exited with status {server.proc.returncode}", server)
        if time.monotonic() > deadline:
            raise StartError(f"{server.name} not ready after {timeout:.0f} s", server)
        time.sleep(0.1)


def start_billflow(tmp: Path, name: str, upstream: str, upstream_key: str) -> Target:
    s3_port, admin_port = free_ports(2)
    cfg = tmp / f"{name}.toml"
    cfg.write_text(
        f'[s3.listen]\nhost = "127.0.0.1"\nport = {s3_port}\n\n'
        f'[admin]\nhost = "127.0.0.1"\nport = {admin_port}\n\n'
        f'[upstream]\nendpoint = "{upstream}"\n\n'
        f'[ledger]\npath = "{tmp / name}.sqlite3"\n\n[log]\nlevel = "WARNING"\n'
    )
    env = os.environ | {
        "BILLFLOW_UPSTREAM_ACCESS_KEY_ID": upstream_key,
        "BILLFLOW_UPSTREAM_SECRET_ACCESS_KEY": upstream_key,
        # Throwaway secrets for this run's ledger and admin listener.
        "BILLFLOW_MASTER_KEY": base64.urlsafe_b64encode(os.urandom(32)).decode(),
        "BILLFLOW_JWT_SECRET": secrets.token_urlsafe(48),
    }
    cli = [PY, "-m", "proxy", "--config", str(cfg)]
    creds: dict[str, str] = {}
    for args in (["tenant", "create", "bench", "--json"], ["key", "create", "bench", "--json"]):
        done = subprocess.run(cli + args, cwd=ROOT, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            raise StartError(f"`billflow {' '.join(args)}` failed: {done.stderr.strip()[-800:]}")
        creds = json.loads(done.stdout.strip().splitlines()[-1])
    server = Server(name, [*cli, "serve"], tmp, env)
    wait_ready(server, lambda: http_status(f"http://127.0.0.1:{admin_port}/healthz") == 200)
    key, secret = creds["access_key_id"], creds["secret_access_key"]
    return Target("billflow", s3_port, key, secret, f"bench-{name}", server)


NGINX_CONF = """\
worker_processes 1;
daemon off;
pid {tmp}/nginx.pid;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/client_body;
    proxy_temp_path {tmp}/proxy_temp;
    fastcgi_temp_path {tmp}/fastcgi_temp;
    uwsgi_temp_path {tmp}/uwsgi_temp;
    scgi_temp_path {tmp}/scgi_temp;
    keepalive_requests 1000000;
    # With buffering off nginx moves a body through buffers of these sizes: at the 4/8 KiB
    # defaults it managed ~1.1 GiB/s here, with 1 MiB ~2 GiB/s (PERFORMANCE.md's figure).
    client_body_buffer_size 1m;
    proxy_buffer_size 1m;
    proxy_buffers 4 1m;
    proxy_busy_buffers_size 2m;
    upstream sink {{
        server 127.0.0.1:{upstream};
        keepalive 32;
        keepalive_requests 1000000;
    }}
    server {{
        listen 127.0.0.1:{port};
        client_max_body_size 0;
        location / {{
            proxy_pass http://sink;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $http_host;
            proxy_request_buffering off;
            proxy_buffering off;
        }}
    }}
}}
"""


def start_nginx(tmp: Path, upstream_port: int) -> Target:
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    (port,) = free_ports(1)
    conf = tmp / "nginx.conf"
    conf.write_text(NGINX_CONF.format(tmp=tmp, upstream=upstream_port, port=port))
    argv = [nginx, "-e", f"{tmp}/nginx-error.log", "-p", str(tmp), "-c", str(conf)]
    server = Server("nginx", argv, tmp)
    wait_ready(server, lambda: http_status(f"http://127.0.0.1:{port}/b/o-1") == 200, 15)
    return Target("nginx", port, "bench", "bench", "bench", server)


# --- measuring ----------------------------------------------------------------------------------


@dataclass
class Target:
    name: str  # "billflow", "direct" or "nginx"
    port: int
    access_key_id: str
    secret_access_key: str
    bucket: str
    front: Server  # the process whose CPU is this target's own cost
    error: str = ""  # once set, later measurements skip this target


@dataclass
class Suite:
    name: str  # "sink" or "moto"
    upstream: Server
    large: int
    small_requests: int
    small_seconds: float
    targets: list[Target] = field(default_factory=list)
    results: list[dict[str, Any]] = field(default_factory=list)
    rss: dict[str, dict[str, Any]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # something that should have run did not

    def watched(self) -> list[Server]:
        return [t.front for t in self.targets if t.front is not self.upstream] + [self.upstream]


# PUTs first: moto serves only what was stored.
SCENARIOS = ("put_unsigned", "put_signed", "get_large", "put_small", "get_small")
LABELS = {
    "put_unsigned": "PUT {size} UNSIGNED (MiB/s)",
    "put_signed": "PUT {size} signed SHA-256 (MiB/s)",
    "get_large": "GET {size} (MiB/s)",
    "put_small": "PUT 4 KiB x16 conns (req/s)",
    "get_small": "GET 4 KiB x16 conns (req/s)",
}


def spec_for(suite: Suite, target: Target, scenario: str, **changes: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": target.port,
        "access_key_id": target.access_key_id,
        "secret_access_key": target.secret_access_key,
        "method": scenario[:3].upper(),
    }
    if scenario.endswith("_small"):
        paths = [
            [f"/{target.bucket}/small-c{c:02d}-{j}-{SMALL}" for j in range(KEYS_PER_CONNECTION)]
            for c in range(CONNECTIONS)
        ]
        spec |= {"kind": "small", "size": SMALL, "paths": paths}
        spec |= {"requests": suite.small_requests, "seconds": suite.small_seconds}
    else:
        spec |= {"kind": "large", "path": f"/{target.bucket}/large-{suite.large}"}
        spec |= {"size": suite.large, "payload": scenario.removeprefix("put_")}
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
    for spec in (
        spec_for(suite, target, "put_small", **small),
        spec_for(suite, target, "put_small", **keys),
        spec_for(suite, target, "put_signed", **warm),
        spec_for(suite, target, "get_large", **warm),
    ):
        if not (result := run_client(spec, suite.watched()))["ok"]:
            target.error = f"warm-up {spec['method']} failed: {result.get('error')}"
            return


def run_rounds(suite: Suite, rounds: int) -> None:
    for r in range(rounds):
        print(f"  {suite.name}: round {r + 1}/{rounds}", file=sys.stderr, flush=True)
        shift = r % len(suite.targets)
        for scenario in SCENARIOS:
            for target in suite.targets[shift:] + suite.targets[:shift]:
                if target.error:
                    continue
                rss_of = target.front if target.name == "billflow" else None
                result = run_client(spec_for(suite, target, scenario), suite.watched(), rss_of)
                suite.results.append(result | {"round": r, "scenario": scenario, "target": target})
                if not result["ok"]:
                    target.error = f"{scenario}: {result.get('error')}"
                    print(f"  {target.name} failed: {target.error}", file=sys.stderr)


def measure_rss(suite: Suite, target: Target, size: int) -> None:
    """BillFlow's RSS right before, and at its peak during, a PUT of `size` in each payload mode."""
    print(f"  {suite.name}: BillFlow RSS during a {fmt_size(size)} PUT", file=sys.stderr)
    for payload in ("unsigned", "signed"):
        before = target.front.memory()[0]
        path = f"/{target.bucket}/rss-{size}"
        spec = spec_for(suite, target, "put_signed", path=path, size=size, payload=payload)
        result = run_client(spec, suite.watched(), rss_of=target.front)
        suite.rss[payload] = result | {"before": before, "size": size}


def run_suite(name: str, tmp: Path, sizes: dict[str, Any], rounds: int) -> Suite:
    (port,) = free_ports(1)
    if name == "sink":
        upstream = Server(name, [PY, str(SCRIPTS / "bench_sink.py"), "--port", str(port)], tmp)
        wait_ready(upstream, lambda: http_status(f"http://127.0.0.1:{port}/b/o-1") == 200)
        key = "bench"
    else:
        moto = str(Path(PY).parent / "moto_server")
        upstream = Server(name, [moto, "-H", "127.0.0.1", "-p", str(port)], tmp)
        wait_ready(upstream, lambda: http_status(f"http://127.0.0.1:{port}/") is not None)
        key = "testing"
    suite = Suite(name, upstream, *sizes[name])
    try:
        suite.targets.append(
            start_billflow(tmp, f"billflow-{name}", f"http://127.0.0.1:{port}", key)
        )
    except StartError as e:
        suite.problems.append(f"BillFlow did not start: {e.describe()}")
    suite.targets.append(Target("direct", port, key, key, "bench-direct", upstream))
    if name == "sink" and (shutil.which("nginx") or os.access("/usr/sbin/nginx", os.X_OK)):
        try:
            suite.targets.append(start_nginx(tmp, port))
        except StartError as e:
            suite.problems.append(f"nginx did not start: {e.describe()}")
    elif name == "sink":
        suite.notes.append("nginx is not installed (apt-get install -y nginx): no baseline")
    for target in suite.targets:
        prepare(suite, target)
    run_rounds(suite, rounds)
    billflow = suite.targets[0]
    if name == "sink" and billflow.name == "billflow" and not billflow.error:
        measure_rss(suite, billflow, sizes["rss"])
    return suite


# --- the report ---------------------------------------------------------------------------------


def fmt_size(n: int) -> str:
    return f"{n // GiB} GiB" if n % GiB == 0 else f"{n // MiB} MiB"


@dataclass
class Cell:
    """One scenario on one target: rate per round, and its front process's CPU per unit."""

    rates: dict[int, float]
    cpu: float  # s/GiB (large) or µs/request (small), over all rounds


def cells(suite: Suite, scenario: str) -> dict[str, Cell]:
    out: dict[str, Cell] = {}
    small = scenario.endswith("_small")
    for target in suite.targets:
        runs = [
            r
            for r in suite.results
            if r["target"] is target and r["scenario"] == scenario and r["ok"]
        ]
        if runs:
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


def fmt_cpu(value: float | None, small: bool) -> str:
    if value is None:
        return "-"
    return f"{value:.0f} us/req" if small else f"{value:.2f} s/GiB"


COLUMNS = (
    ("upstream", -8), ("scenario", -35), ("BillFlow", 9), ("direct", 9), ("BF/direct", 17),
    ("nginx", 9), ("BF/nginx", 17), ("BF CPU", 13), ("nginx CPU", 13), ("upstream CPU", 13),
)  # fmt: skip
PERFORMANCE_TARGETS = {  # scenario -> (minimum BillFlow/nginx, BillFlow CPU budget)
    "get_large": (0.9, 0.6),
    "put_unsigned": (0.8, 0.7),
    "put_signed": (0.6, 1.3),
    "get_small": (0.35, 170.0),
    "put_small": (0.35, 170.0),
}


def row(values: list[str]) -> str:
    cols = zip(values, COLUMNS, strict=True)
    return " ".join(f"{v:<{-w}}" if w < 0 else f"{v:>{w}}" for v, (_, w) in cols)


def verdict(met: bool | None, text: str) -> str:
    return f"[{'not measured' if met is None else 'met' if met else 'NOT MET':>12}] {text}"


def suite_lines(suite: Suite) -> tuple[list[str], list[str]]:
    """Table rows and verdict lines for one suite."""
    lines, verdicts = [], []
    for scenario in SCENARIOS:
        c, small = cells(suite, scenario), scenario.endswith("_small")
        bf, direct, nginx = c.get("billflow"), c.get("direct"), c.get("nginx")
        label = LABELS[scenario].format(size=fmt_size(suite.large))
        values = [suite.name, label]
        values += [f"{statistics.median(x.rates.values()):.0f}" if x else "-" for x in (bf, direct)]
        values.append(fmt_ratio(ratios(bf, direct)))
        if suite.name == "sink":
            values.append(f"{statistics.median(nginx.rates.values()):.0f}" if nginx else "-")
            values.append(fmt_ratio(ratios(bf, nginx)))
        else:
            values += ["", ""]
        values += [fmt_cpu(x.cpu if x else None, small) for x in (bf, nginx, direct)]
        lines.append(row(values))
        what = f"{suite.name}: {label.rsplit(' (', 1)[0]}"
        if not small:  # issue 2: large-object throughput through BillFlow >= 80% of direct
            rs = ratios(bf, direct)
            ok = statistics.median(rs) >= 0.8 if rs else None
            verdicts.append(verdict(ok, f"{what} >= 0.80x direct (issue 2): {fmt_ratio(rs)}"))
        if suite.name == "sink":
            minimum, budget = PERFORMANCE_TARGETS[scenario]
            rs = ratios(bf, nginx)
            ok = statistics.median(rs) >= minimum if rs else None
            verdicts.append(verdict(ok, f"{what} >= {minimum}x nginx: {fmt_ratio(rs)}"))
            ok = bf.cpu <= budget if bf else None
            text = f"{what} BillFlow CPU <= {fmt_cpu(budget, small)}"
            verdicts.append(verdict(ok, f"{text}: {fmt_cpu(bf.cpu if bf else None, small)}"))
    peaks = [r["peak_rss"] for r in suite.results if "peak_rss" in r and r["ok"]]
    if peaks:
        label = f"BillFlow peak RSS in {fmt_size(suite.large)} runs"
        lines.append(f"{suite.name:8} {label:35} {max(peaks) / MiB:9.0f} MiB")
        text = f"{suite.name}: {label}: < 150 MB (issue 2): {max(peaks) / 1e6:.0f} MB"
        verdicts.append(verdict(max(peaks) < 150e6, text))
    return lines, verdicts


def rss_lines(suite: Suite) -> tuple[list[str], list[str]]:
    lines, growth, peak, size = [], 0, 0, 0
    for payload, r in suite.rss.items():
        size = r["size"]
        label = f"BillFlow RSS, {fmt_size(size)} PUT {payload}"
        if not r["ok"]:
            lines.append(f"{suite.name:8} {label:35} failed: {r.get('error')}")
            continue
        growth, peak = max(growth, r["peak_rss"] - r["before"]), max(peak, r["peak_rss"])
        lines.append(
            f"{suite.name:8} {label:35} {r['before'] / MiB:9.0f} MiB before, peak"
            f" {r['peak_rss'] / MiB:.0f} MiB (+{(r['peak_rss'] - r['before']) / MiB:.1f} MiB);"
            f" {r['bytes'] / MiB / r['seconds']:.0f} MiB/s,"
            f" {r['cpu'][suite.targets[0].front.name] / (r['bytes'] / GiB):.2f} s/GiB CPU"
        )
    ok = all(r["ok"] for r in suite.rss.values())
    what = f"{suite.name}: BillFlow during a {fmt_size(size)} PUT"
    return lines, [
        verdict(peak < 150e6 if ok else None, f"{what}: peak RSS < 150 MB (issue 2): "
                f"{peak / 1e6:.0f} MB"),
        verdict(growth <= 16 * MiB if ok else None, f"{what}: RSS growth <= 16 MiB: "
                f"{growth / MiB:.1f} MiB"),
    ]  # fmt: skip


def report(suites: list[Suite], rounds: int, started: float, busy: float, own: float) -> list[str]:
    header = row([name for name, _ in COLUMNS])
    lines, verdicts = [header, "-" * len(header)], []
    for suite in suites:
        for part in (suite_lines(suite), rss_lines(suite) if suite.rss else ([], [])):
            lines += part[0]
            verdicts += part[1]
    lines.append(
        f"\n{rounds} interleaved round(s): rates are medians, ratios the median per-round ratio"
        " (min-max). CPU: utime+stime of the process tree per GiB or per request over all rounds"
        " (10 ms ticks); 'upstream CPU' is the upstream's own cost in the direct runs."
    )
    client = [r["client_cpu"] / r["seconds"] for s in suites for r in s.results if r["ok"]]
    if client:
        lines.append(
            f"Load client: at most {max(client):.0%} of one core in any timed run (median"
            f" {statistics.median(client):.0%})."
        )
    elapsed, cpus = time.monotonic() - started, os.cpu_count() or 1
    lines.append(
        f"Other processes on this machine used {busy - own:.0f} CPU-seconds during the run"
        f" ({(busy - own) / elapsed / cpus:.0%} of its {cpus} CPUs over {elapsed:.0f} s)."
    )
    for suite in suites:
        lines += [f"{suite.name}: {note}" for note in suite.notes + suite.problems]
        lines += [f"{suite.name}: {t.name} failed: {t.error}" for t in suite.targets if t.error]
    lines += ["", *verdicts, f"\nTotal time {time.monotonic() - started:.0f} s."]
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(
        prog="scripts/bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="nginx is optional and not installed by this script (Debian: apt-get install -y"
        " nginx); without it there is no baseline. A full run takes about 4 minutes on 2 cores.",
    )
    parser.add_argument("--quick", action="store_true", help="small sizes, 1 round: a smoke run")
    parser.add_argument("--rounds", type=int, help="interleaved rounds (default 5; 1 with --quick)")
    parser.add_argument("--only", choices=("sink", "moto"), help="run one suite only")
    args = parser.parse_args()
    sizes = QUICK if args.quick else FULL
    rounds = args.rounds or sizes["rounds"]
    started, (busy0, own0) = time.monotonic(), machine_cpu()
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # stop what we started, then exit
    tmp = Path(tempfile.mkdtemp(prefix="billflow-bench-"))
    suites: list[Suite] = []
    failed = False
    try:
        for name in ("sink", "moto"):
            if args.only in (None, name):
                print(f"==> {name} suite", file=sys.stderr, flush=True)
                try:
                    suites.append(run_suite(name, tmp, sizes, rounds))
                except StartError as e:
                    print(f"error: {e.describe()}", file=sys.stderr)
                    failed = True
                Server.stop_all()
    except KeyboardInterrupt:
        print("\ninterrupted: stopping what the bench started", file=sys.stderr)
        Server.stop_all()
        shutil.rmtree(tmp, ignore_errors=True)
        return 130
    finally:
        Server.stop_all()
    failed = failed or any(s.problems or any(t.error for t in s.targets) for s in suites)
    busy, own = machine_cpu()
    print("\n".join(report(suites, rounds, started, busy - busy0, own - own0)))
    if failed:
        print(f"\nlogs kept in {tmp}", file=sys.stderr)
        return 1
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
