"""The processes behind the e2e tests: moto_server and BillFlow as real subprocesses.

Owns: free ports, the BillFlow config file (plain HTTP or HTTPS with a throwaway CA's certificate),
starting a process with its output in a file, bounded readiness polls, and stopping only the
process we started (signal, bounded wait, then kill), failing with its output when it died, hung
or exited non-zero. Does not own: fixtures (conftest.py) or raw S3 requests (s3wire.py).
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
import trustme
from botocore.config import Config

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
REGION = "us-east-1"
BASE_DOMAIN = "s3.localhost"
UPSTREAM_KEY = ("testing", "testing")
#: BILLFLOW_MASTER_KEY for this run (seals access-key secrets in each ledger): one Fernet key,
#: 32 random bytes in url-safe base64, what `billflow master-key generate` prints.
MASTER_KEY = base64.urlsafe_b64encode(os.urandom(32)).decode()
#: BILLFLOW_JWT_SECRET for this run (signs admin tokens; `serve` requires one).
JWT_SECRET = base64.urlsafe_b64encode(os.urandom(48)).decode()
START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
MiB = 1024 * 1024
TENANT = "e2e-tenant"
#: Each client test module runs once per scheme: one BillFlow listens on HTTP, another on HTTPS.
SCHEMES = ("http", "https")
#: Run a test (or, as `pytestmark`, a module) once against each BillFlow (the `scheme` fixture).
over_schemes = pytest.mark.parametrize("scheme", SCHEMES, indirect=True)
#: The names the test server certificate is valid for: the S3 listener by IP and by name, and
#: virtual-hosted buckets under BASE_DOMAIN.
SERVER_NAMES = ("127.0.0.1", "localhost", BASE_DOMAIN, f"*.{BASE_DOMAIN}")

# Retries would hide a first answer that was wrong; every client here makes one attempt.
NO_RETRIES = Config(retries={"total_max_attempts": 1})

#: Keys that must reach the upstream and come back byte for byte.
ODD_KEYS = {
    "space": "with space/and  two spaces.txt",
    "plus": "a+b+c.bin",
    "percent": "100%/literal%20percent%2Fslash",
    "unicode": "ключ/東京/😀.txt",
    "double-slash": "double//slash",
    "trailing-slash": "folder/",
    "leading-slash": "/leading",
    "reserved": "q?a=1&b=2#frag;x:y,z@w$!'()*=",
    "tilde": "~user/file~1",
}

#: The boto3 configurations of issue 2: the installed version's defaults, and s3v4 with payload
#: signing forced on and off (off sends UNSIGNED-PAYLOAD even over plain HTTP).
BOTO3_CONFIGS: dict[str, Config | None] = {
    "default": None,
    "s3v4-signed-payload": Config(signature_version="s3v4", s3={"payload_signing_enabled": True}),
    "s3v4-unsigned-payload": Config(
        signature_version="s3v4", s3={"payload_signing_enabled": False}
    ),
}


def tool(name: str) -> str:
    """A console script of the venv running the tests, else from PATH."""
    path = BIN / name
    if path.exists():
        return str(path)
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is neither in {BIN} nor on PATH", pytrace=False)
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def http_status(host: str, port: int, path: str) -> int | None:
    """Status of GET `path`, or None when nothing answers (yet)."""
    conn = http.client.HTTPConnection(host, port, timeout=2)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        response.read()
        return response.status
    except OSError:
        return None
    finally:
        conn.close()


class Service:
    """One subprocess we started, its stdout and stderr in a file (the child writes it)."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log: Path) -> None:
        self.name = name
        self.argv = argv
        self.log = log
        self._log_file = log.open("wb")
        self.proc = subprocess.Popen(
            argv,
            cwd=REPO,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
        )

    def log_tail(self, lines: int = 60) -> str:
        text = self.log.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])

    def wait_ready(self, ready: Callable[[], bool], timeout: float = START_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while not ready():
            if self.proc.poll() is not None:
                self.stop(check=False)
                self._fail(f"exited with {self.proc.returncode} before it was ready")
            if time.monotonic() > deadline:
                self.stop(check=False)
                self._fail(f"not ready after {timeout:.0f} s")
            time.sleep(0.1)

    def stop(self, sig: signal.Signals = signal.SIGTERM, *, check: bool = True) -> None:
        """Signal our process and wait; kill it past STOP_TIMEOUT. With `check`, fail unless it
        had kept running until now and then exited 0."""
        died_early = self.proc.poll() is not None
        try:
            if not died_early:
                self.proc.send_signal(sig)
                try:
                    self.proc.wait(STOP_TIMEOUT)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
                    if check:
                        self._fail(f"still running {STOP_TIMEOUT:.0f} s after {sig.name}")
        finally:
            self._log_file.close()
        if check and died_early:
            self._fail(f"died during the tests with {self.proc.returncode}")
        if check and self.proc.returncode != 0:
            self._fail(f"exited with {self.proc.returncode} on {sig.name}")

    def _fail(self, what: str) -> None:
        pytest.fail(
            f"{self.name} ({' '.join(self.argv)}) {what}; its output:\n{self.log_tail()}",
            pytrace=False,
        )


@dataclass(frozen=True)
class Upstream:
    host: str
    port: int

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


@dataclass(frozen=True)
class TestCA:
    """A throwaway CA and a server certificate it issued for SERVER_NAMES, as PEM files: what a
    tenant is handed (`ca_pem`) and what BillFlow's `[s3.tls]` names (`cert_pem`, `key_pem`)."""

    __test__ = False  # not a test class, whatever its name

    ca_pem: Path
    cert_pem: Path
    key_pem: Path

    @classmethod
    def create(cls, directory: Path) -> TestCA:
        ca = trustme.CA()
        cert = ca.issue_cert(*SERVER_NAMES)
        made = cls(directory / "ca.pem", directory / "server.pem", directory / "server.key")
        ca.cert_pem.write_to_path(str(made.ca_pem))
        cert.private_key_pem.write_to_path(str(made.key_pem))
        with made.cert_pem.open("wb") as f:  # the certificate, then the chain
            for blob in cert.cert_chain_pems:
                f.write(blob.bytes())
        return made

    def client_context(self) -> ssl.SSLContext:
        """What a tenant's HTTP library does with `--ca-bundle`: verify against this CA only."""
        return ssl.create_default_context(cafile=str(self.ca_pem))


@dataclass(frozen=True)
class TenantKey:
    tenant: str
    access_key_id: str
    secret_access_key: str = field(repr=False)


@dataclass
class Gateway:
    """A BillFlow process: its S3 endpoint, admin endpoint, config, log and CLI."""

    host: str
    port: int
    admin_port: int
    config: Path
    env: dict[str, str]
    tls: TestCA | None = None  # None: the S3 listener is plain HTTP
    service: Service | None = None

    @property
    def scheme(self) -> str:
        return "https" if self.tls else "http"

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"

    @property
    def ssl_context(self) -> ssl.SSLContext | None:
        """A client context trusting the test CA, for HTTPS; None for HTTP."""
        return self.tls.client_context() if self.tls else None

    def connection(self, timeout: float = 30) -> http.client.HTTPConnection:
        """A plain http.client connection to the S3 listener, TLS-verified when HTTPS."""
        if self.tls:
            return http.client.HTTPSConnection(
                self.host, self.port, timeout=timeout, context=self.ssl_context
            )
        return http.client.HTTPConnection(self.host, self.port, timeout=timeout)

    @property
    def log(self) -> Path:
        assert self.service is not None
        return self.service.log

    def cli(
        self, *args: str, timeout: float = 60, input: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        """`python -m proxy --config CFG ARGS...` (the same as the `billflow` script)."""
        return subprocess.run(
            [sys.executable, "-m", "proxy", "--config", str(self.config), *args],
            cwd=REPO,
            env=self.env,
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def cli_json(self, *args: str) -> dict[str, Any]:
        done = self.cli(*args, "--json")
        if done.returncode != 0:
            pytest.fail(
                f"billflow {' '.join(args)} --json exited {done.returncode}:\n"
                f"{done.stdout}\n{done.stderr}",
                pytrace=False,
            )
        try:
            result: dict[str, Any] = json.loads(done.stdout)
        except json.JSONDecodeError:
            pytest.fail(f"billflow {' '.join(args)} --json printed {done.stdout!r}", pytrace=False)
        return result

    def create_key(self, tenant: str) -> TenantKey:
        made = self.cli_json("key", "create", tenant)
        assert made["tenant"] == tenant, made
        assert len(made["access_key_id"]) == 20, made
        assert len(made["secret_access_key"]) == 40, made
        return TenantKey(tenant, made["access_key_id"], made["secret_access_key"])

    def start(self) -> None:
        argv = [sys.executable, "-m", "proxy", "--config", str(self.config), "serve"]
        self.service = Service("billflow", argv, self.env, self.config.parent / "billflow.log")
        self.service.wait_ready(lambda: http_status(self.host, self.admin_port, "/healthz") == 200)

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> None:
        assert self.service is not None
        self.service.stop(sig)


def write_config(
    directory: Path,
    upstream_url: str,
    upstream_extra: str = "",
    *,
    tls: TestCA | None = None,
    s3_extra: str = "",
    tables: str = "",
) -> Gateway:
    """A BillFlow config in `directory` on fresh ports, with its own ledger; `upstream_extra`
    and `s3_extra` are more TOML for the [upstream] and [s3] tables, `tables` more tables
    (e.g. a [meter] table). With `tls`, the S3
    listener serves HTTPS with its server certificate (the admin listener stays plain HTTP)."""
    port, admin_port = free_port(), free_port()
    config = directory / "billflow.toml"
    tls_table = (
        f'[s3.tls]\ncert_file = "{tls.cert_pem}"\nkey_file = "{tls.key_pem}"\n\n' if tls else ""
    )
    config.write_text(
        f"""\
[s3]
region = "{REGION}"
base_domains = ["{BASE_DOMAIN}"]
{s3_extra}
{tls_table}
[s3.listen]
host = "127.0.0.1"
port = {port}

[admin]
host = "127.0.0.1"
port = {admin_port}

[upstream]
endpoint = "{upstream_url}"
region = "{REGION}"
{upstream_extra}
[ledger]
path = "{directory / "ledger.sqlite3"}"

[log]
level = "INFO"

{tables}
"""
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "BILLFLOW_"))}
    env["BILLFLOW_UPSTREAM_ACCESS_KEY_ID"], env["BILLFLOW_UPSTREAM_SECRET_ACCESS_KEY"] = (
        UPSTREAM_KEY
    )
    env["BILLFLOW_MASTER_KEY"] = MASTER_KEY
    env["BILLFLOW_JWT_SECRET"] = JWT_SECRET
    return Gateway("127.0.0.1", port, admin_port, config, env, tls)


ADMIN_PASSWORD = "correct horse battery staple"


class AdminAPI:
    def __init__(self, gateway: Gateway, token: str) -> None:
        self.base = f"http://{gateway.host}:{gateway.admin_port}"
        self.token = token

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"{self.base}{path}", data=data, method=method)
        request.add_header("Authorization", f"Bearer {self.token}")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=30) as resp:
                raw = resp.read()
                return resp.status, json.loads(raw) if raw else None
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"null")


def admin_api_for(gateway: Gateway) -> AdminAPI:
    """An admin account made with the CLI, then a token from POST /admin/login."""
    user = f"ops-{uuid.uuid4().hex[:8]}"
    made = gateway.cli("admin", "create", user, "--password-stdin", input=ADMIN_PASSWORD + "\n")
    assert made.returncode == 0, made.stderr
    login = urllib.request.Request(
        f"http://{gateway.host}:{gateway.admin_port}/admin/login",
        data=json.dumps({"username": user, "password": ADMIN_PASSWORD}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(login, timeout=30) as resp:
        token = json.loads(resp.read())["token"]
    return AdminAPI(gateway, token)


@dataclass(frozen=True)
class Served:
    gateway: Gateway
    key: TenantKey


#: `aws ...` as a tenant runs it: returns the CompletedProcess.
Aws = Callable[..., subprocess.CompletedProcess[str]]


def aws_cli(home: Path, gateway: Gateway, key: TenantKey) -> Aws:
    """A runner for `aws --endpoint-url BILLFLOW [--ca-bundle CA] ARGS...` with its own config and
    credentials files in `home`. Profile `default` (us-east-1, one attempt, s3v4 also for
    presign); with `profile="stock"`, the same less `signature_version`, so `s3 presign` makes
    what it makes out of the box (SigV2). `endpoint` replaces BillFlow's URL (a relay in front)."""
    (home / "config").write_text(
        f"[default]\nregion = {REGION}\nmax_attempts = 1\ns3 =\n    signature_version = s3v4\n"
        f"[profile stock]\nregion = {REGION}\nmax_attempts = 1\n"
    )
    (home / "credentials").write_text(
        "".join(
            f"[{profile}]\naws_access_key_id = {key.access_key_id}\n"
            f"aws_secret_access_key = {key.secret_access_key}\n"
            for profile in ("default", "stock")
        )
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env |= {
        "AWS_CONFIG_FILE": str(home / "config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(home / "credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    ca_bundle = ["--ca-bundle", str(gateway.tls.ca_pem)] if gateway.tls else []

    def run(
        *args: str, timeout: float = 120, profile: str | None = None, endpoint: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        chosen = ["--profile", profile] if profile else []
        return subprocess.run(
            [tool("aws"), "--endpoint-url", endpoint or gateway.url, *ca_bundle, *chosen, *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    return run


def tenant_s3(gateway: Gateway, key: TenantKey, config: Config) -> Any:
    """boto3 to `gateway` as `key`'s tenant, trusting the gateway's test CA; one attempt per
    call (NO_RETRIES merged with `config`)."""
    return boto3.session.Session().client(
        "s3",
        endpoint_url=gateway.url,
        region_name=REGION,
        aws_access_key_id=key.access_key_id,
        aws_secret_access_key=key.secret_access_key,
        config=NO_RETRIES.merge(config),
        verify=str(gateway.tls.ca_pem) if gateway.tls else None,
    )
