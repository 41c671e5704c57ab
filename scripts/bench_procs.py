"""Processes for scripts/bench: start them on free 127.0.0.1 ports, measure them, stop them.

Owns: `Server` (one process the bench started, and its CPU and memory through /proc), the
machine-wide CPU count, the per-run throwaway CA and server certificate (trustme), and starting
the sink, moto, BillFlow (plain or with `[s3.tls]`; metering on, or off with `[meter] enabled =
false` for the on/off rows) and nginx (one worker; a plain listener and, with a certificate, a
`listen ... ssl` one in the same process), and reading BillFlow's meter counters from its
/metrics. Every process is stopped by its PID, also on Ctrl-C or an error. Does not own: what is
measured, or the report.
"""

from __future__ import annotations

import base64
import json
import os
import resource
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = ROOT / "scripts"
PY = sys.executable
CLK_TCK = os.sysconf("SC_CLK_TCK")
BILLFLOW, METER_OFF = "billflow", "billflow-meter-off"  # Target names (the report's columns)
FLUSH_INTERVAL = 1.0  # [meter] flush_interval_seconds every bench BillFlow runs with (the default)


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


@dataclass
class Target:
    """One endpoint the load client measures."""

    name: str  # "billflow", "billflow-meter-off", "direct" or "nginx": the table's column
    port: int
    access_key_id: str
    secret_access_key: str
    bucket: str
    front: Server  # the process whose CPU is this target's own cost
    scheme: str = "http"
    ca_file: str = ""  # https: the PEM the client trusts
    error: str = ""  # once set, later measurements skip this target
    admin_port: int = 0  # BillFlow: its admin listener (/metrics)


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


def http_status(url: str, ca_file: str = "") -> int | None:
    context = ssl.create_default_context(cafile=ca_file) if ca_file else None
    try:
        with urllib.request.urlopen(url, timeout=2, context=context) as resp:
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


@dataclass(frozen=True)
class TLSFiles:
    ca_file: Path  # what clients trust
    cert_file: Path  # server certificate chain, PEM
    key_file: Path  # its private key, PEM


def make_tls(tmp: Path) -> TLSFiles:
    """A throwaway CA and a certificate for 127.0.0.1, for this run only (trustme)."""
    try:
        import trustme
    except ImportError as e:
        raise StartError(f"HTTPS needs trustme (the test extra): {e}") from e
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    files = TLSFiles(tmp / "ca.pem", tmp / "server-cert.pem", tmp / "server-key.pem")
    ca.cert_pem.write_to_path(str(files.ca_file))
    for i, pem in enumerate(cert.cert_chain_pems):
        pem.write_to_path(str(files.cert_file), append=i > 0)
    cert.private_key_pem.write_to_path(str(files.key_file))
    return files


def start_upstream(tmp: Path, kind: str) -> tuple[Server, int]:
    """The sink (bench_sink.py) or moto_server, and its port."""
    (port,) = free_ports(1)
    if kind == "sink":
        upstream = Server(kind, [PY, str(SCRIPTS / "bench_sink.py"), "--port", str(port)], tmp)
        wait_ready(upstream, lambda: http_status(f"http://127.0.0.1:{port}/b/o-1") == 200)
    else:
        moto = str(Path(PY).parent / "moto_server")
        upstream = Server(kind, [moto, "-H", "127.0.0.1", "-p", str(port)], tmp)
        wait_ready(upstream, lambda: http_status(f"http://127.0.0.1:{port}/") is not None)
    return upstream, port


def start_billflow(
    tmp: Path,
    name: str,
    upstream: str,
    upstream_key: str,
    tls: TLSFiles | None = None,
    *,
    meter: bool = True,
) -> Target:
    """A BillFlow with a fresh ledger of its own (`tmp/<name>.sqlite3`), a tenant and an access
    key, in front of `upstream`. `meter=False` writes `[meter] enabled = false`: nothing is
    counted or flushed (the "meter off" side of the on/off rows)."""
    s3_port, admin_port = free_ports(2)
    cfg, ledger = tmp / f"{name}.toml", tmp / f"{name}.sqlite3"
    if ledger.exists():  # every BillFlow starts from an empty ledger: nothing to flush into yet
        raise StartError(f"{name}: ledger {ledger} exists already")
    s3_tls = (
        f'[s3.tls]\ncert_file = "{tls.cert_file}"\nkey_file = "{tls.key_file}"\n\n' if tls else ""
    )
    cfg.write_text(
        f'[s3.listen]\nhost = "127.0.0.1"\nport = {s3_port}\n\n{s3_tls}'
        f'[admin]\nhost = "127.0.0.1"\nport = {admin_port}\n\n'
        f'[upstream]\nendpoint = "{upstream}"\n\n'
        f'[ledger]\npath = "{ledger}"\n\n'
        f"[meter]\nenabled = {str(meter).lower()}\nflush_interval_seconds = {FLUSH_INTERVAL}\n\n"
        '[log]\nlevel = "WARNING"\n'
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
    scheme, ca_file = ("https", str(tls.ca_file)) if tls else ("http", "")
    return Target(
        BILLFLOW if meter else METER_OFF, s3_port, key, secret, f"bench-{name}", server,
        scheme, ca_file, admin_port=admin_port,
    )  # fmt: skip


# BillFlow's /metrics names (proxy/metrics.py) -> the meter counters the on/off rows report.
METER_METRICS = {
    "flushes": "billflow_meter_flush_batch_size_count",
    "flushed": "billflow_meter_flush_batch_size_sum",  # entries written by those flushes
    "flush_seconds": "billflow_meter_flush_duration_seconds_sum",
    "failures": "billflow_meter_flush_failures_total",
    "pending": "billflow_meter_pending_entries",  # metered, not yet flushed
}


def meter_counts(target: Target) -> dict[str, float] | None:
    """BillFlow's meter counters from its admin /metrics, plus `stored`: the bytes its ledger
    says the tenants store. None if /metrics did not answer."""
    url = f"http://127.0.0.1:{target.admin_port}/metrics"
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            text = resp.read().decode()
    except (OSError, ValueError):
        return None
    values: dict[str, float] = {}
    for line in text.splitlines():
        name, _, value = line.rpartition(" ")
        if name and not line.startswith("#"):
            try:
                values[name] = float(value)
            except ValueError:
                pass
    counts = {key: values.get(metric, 0.0) for key, metric in METER_METRICS.items()}
    counts["stored"] = sum(
        v for k, v in values.items() if k.startswith("billflow_tenant_stored_bytes{")
    )
    return counts


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
{servers}}}
"""
NGINX_SERVER = """\
    server {{
        listen 127.0.0.1:{port}{ssl};
        client_max_body_size 0;
{tls}        location / {{
            proxy_pass http://sink;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $http_host;
            proxy_request_buffering off;
            proxy_buffering off;
        }}
    }}
"""
NGINX_TLS = """\
        ssl_certificate {cert};
        ssl_certificate_key {key};
        ssl_protocols TLSv1.2 TLSv1.3;
"""


def start_nginx(tmp: Path, upstream_port: int, plain: bool, tls: TLSFiles | None) -> list[Target]:
    """One nginx, one worker: a plain listener if `plain`, a TLS-terminating one if `tls`."""
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    plain_port, tls_port = free_ports(2)
    servers = NGINX_SERVER.format(port=plain_port, ssl="", tls="") if plain else ""
    if tls:
        conf = NGINX_TLS.format(cert=tls.cert_file, key=tls.key_file)
        servers += NGINX_SERVER.format(port=tls_port, ssl=" ssl", tls=conf)
    conf_file = tmp / "nginx.conf"
    conf_file.write_text(NGINX_CONF.format(tmp=tmp, upstream=upstream_port, servers=servers))
    argv = [nginx, "-e", f"{tmp}/nginx-error.log", "-p", str(tmp), "-c", str(conf_file)]
    server = Server("nginx", argv, tmp)
    targets = []
    if plain:
        url = f"http://127.0.0.1:{plain_port}/b/o-1"
        wait_ready(server, lambda: http_status(url) == 200, 15)
        targets.append(Target("nginx", plain_port, "bench", "bench", "bench", server))
    if tls:
        url, ca = f"https://127.0.0.1:{tls_port}/b/o-1", str(tls.ca_file)
        wait_ready(server, lambda: http_status(url, ca) == 200, 15)
        targets.append(Target("nginx", tls_port, "bench", "bench", "bench", server, "https", ca))
    return targets


def nginx_installed() -> bool:
    return bool(shutil.which("nginx")) or os.access("/usr/sbin/nginx", os.X_OK)
