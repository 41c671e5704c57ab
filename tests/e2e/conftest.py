"""End-to-end fixtures: a real `moto_server` upstream and a real BillFlow process in front of it.

Owns: starting both as subprocesses on free loopback ports (bounded readiness polls; on teardown
SIGTERM, a bounded wait, then SIGKILL of our own process only; a process that died or stopped
uncleanly fails with its stderr), the tenant and key made through BillFlow's CLI, and clients
pointed at BillFlow (boto3, aws-cli, minio-py, raw `Wire`) plus one boto3 client pointed straight at
moto, to see what the upstream really holds: "nothing stored" is always checked there, never through
BillFlow. Does not own: what BillFlow must answer (the test modules).

Everything here is synchronous: clients never run inside an event loop.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import urllib3
from botocore.config import Config
from minio import Minio

from .harness import (
    BOTO3_CONFIGS,
    NO_RETRIES,
    REGION,
    TENANT,
    UPSTREAM_KEY,
    Gateway,
    MiB,
    Served,
    Service,
    TenantKey,
    Upstream,
    free_port,
    http_status,
    tool,
    write_config,
)
from .s3wire import Wire


@pytest.fixture(scope="package", autouse=True)
def _aws_environment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """In-process boto3 reads no profile, config file or credentials of this machine."""
    home = tmp_path_factory.mktemp("aws-home")
    (home / "config").write_text("")
    (home / "credentials").write_text("")
    with pytest.MonkeyPatch.context() as mp:
        for name in [n for n in os.environ if n.startswith("AWS_")]:
            mp.delenv(name)
        mp.setenv("AWS_CONFIG_FILE", str(home / "config"))
        mp.setenv("AWS_SHARED_CREDENTIALS_FILE", str(home / "credentials"))
        mp.setenv("AWS_EC2_METADATA_DISABLED", "true")
        yield


@pytest.fixture(scope="package")
def upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Upstream]:
    """A moto_server on a free loopback port."""
    directory = tmp_path_factory.mktemp("moto")
    port = free_port()
    argv = [tool("moto_server"), "-H", "127.0.0.1", "-p", str(port)]
    service = Service("moto_server", argv, dict(os.environ), directory / "moto.log")
    service.wait_ready(lambda: http_status("127.0.0.1", port, "/") is not None)
    yield Upstream("127.0.0.1", port)
    service.stop(check=False)  # moto's exit status on SIGTERM is not ours to judge


@pytest.fixture(scope="package")
def served(tmp_path_factory: pytest.TempPathFactory, upstream: Upstream) -> Iterator[Served]:
    """BillFlow serving in front of `upstream`, with a tenant and key made beforehand by
    `billflow tenant create` / `key create`; it must stop cleanly (exit 0) on SIGTERM."""
    gw = write_config(tmp_path_factory.mktemp("billflow"), upstream.url)
    made = gw.cli_json("tenant", "create", TENANT)
    assert made["name"] == TENANT and isinstance(made["id"], int), made
    key = gw.create_key(TENANT)
    gw.start()
    yield Served(gw, key)
    gw.stop(signal.SIGTERM)


@pytest.fixture(scope="package")
def gateway(served: Served) -> Gateway:
    return served.gateway


@pytest.fixture(scope="package")
def tenant(served: Served) -> TenantKey:
    """The tenant's credentials."""
    return served.key


@pytest.fixture(scope="package")
def endpoint_url(gateway: Gateway) -> str:
    return gateway.url


@pytest.fixture(scope="package")
def make_s3(endpoint_url: str, tenant: TenantKey) -> Iterator[Callable[..., Any]]:
    """Factory: a boto3 S3 client for BillFlow as the tenant; `config` merges over no-retries."""
    made: list[Any] = []

    def make(config: Config | None = None, *, key: TenantKey | None = None) -> Any:
        key = key or tenant
        client = boto3.session.Session().client(
            "s3",
            endpoint_url=endpoint_url,
            region_name=REGION,
            aws_access_key_id=key.access_key_id,
            aws_secret_access_key=key.secret_access_key,
            config=NO_RETRIES.merge(config) if config else NO_RETRIES,
        )
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


@pytest.fixture(scope="package")
def s3_default(make_s3: Callable[..., Any]) -> Any:
    """boto3 with the installed version's default config."""
    return make_s3()


@pytest.fixture(scope="package", params=list(BOTO3_CONFIGS), ids=list(BOTO3_CONFIGS))
def s3(request: pytest.FixtureRequest, make_s3: Callable[..., Any]) -> Any:
    """boto3 in each configuration of BOTO3_CONFIGS (a test using it runs once per config)."""
    return make_s3(BOTO3_CONFIGS[request.param])


@pytest.fixture(scope="package")
def upstream_s3(upstream: Upstream) -> Iterator[Any]:
    """boto3 straight to moto, bypassing BillFlow: what the upstream really holds."""
    client = boto3.session.Session().client(
        "s3",
        endpoint_url=upstream.url,
        region_name=REGION,
        aws_access_key_id=UPSTREAM_KEY[0],
        aws_secret_access_key=UPSTREAM_KEY[1],
        config=NO_RETRIES,
    )
    yield client
    client.close()


@pytest.fixture(scope="package")
def wire(gateway: Gateway, tenant: TenantKey) -> Wire:
    """Raw signed requests to BillFlow as the tenant (see s3wire.Wire)."""
    return Wire(gateway.host, gateway.port, tenant.access_key_id, tenant.secret_access_key, REGION)


@pytest.fixture(scope="package")
def minio_client(gateway: Gateway, tenant: TenantKey) -> Iterator[Minio]:
    """minio-py for BillFlow as the tenant, plain HTTP, region discovered as a user's would be;
    its connection pool makes one attempt per request (minio's default retries 5xx)."""
    pool = urllib3.PoolManager(timeout=urllib3.Timeout(connect=5, read=60), retries=False)
    yield Minio(
        f"{gateway.host}:{gateway.port}",
        access_key=tenant.access_key_id,
        secret_key=tenant.secret_access_key,
        secure=False,
        http_client=pool,
    )
    pool.clear()


@pytest.fixture(scope="package")
def aws(
    tmp_path_factory: pytest.TempPathFactory, endpoint_url: str, tenant: TenantKey
) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Runner: `aws --endpoint-url BILLFLOW ARGS...` with its own config (us-east-1, s3v4 also
    for presign, one attempt) and credentials files; returns the CompletedProcess."""
    home = tmp_path_factory.mktemp("awscli")
    (home / "config").write_text(
        f"[default]\nregion = {REGION}\nmax_attempts = 1\ns3 =\n    signature_version = s3v4\n"
    )
    (home / "credentials").write_text(
        f"[default]\naws_access_key_id = {tenant.access_key_id}\n"
        f"aws_secret_access_key = {tenant.secret_access_key}\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env |= {
        "AWS_CONFIG_FILE": str(home / "config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(home / "credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
    }

    def run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [tool("aws"), "--endpoint-url", endpoint_url, *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    return run


@pytest.fixture
def bucket_name(request: pytest.FixtureRequest) -> str:
    """A bucket name no other test uses (not created)."""
    slug = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:40].strip("-")
    return f"{slug}-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def bucket(bucket_name: str, s3_default: Any) -> str:
    """A fresh bucket, created through BillFlow as the tenant."""
    s3_default.create_bucket(Bucket=bucket_name)
    return bucket_name


@pytest.fixture(scope="package")
def payload_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("payloads")


@pytest.fixture(scope="package")
def file_20mib(payload_dir: Path) -> Path:
    path = payload_dir / "20mib.bin"
    path.write_bytes(os.urandom(20 * MiB))
    return path


@pytest.fixture(scope="package")
def file_50mib(payload_dir: Path) -> Path:
    path = payload_dir / "50mib.bin"
    path.write_bytes(os.urandom(50 * MiB))
    return path
