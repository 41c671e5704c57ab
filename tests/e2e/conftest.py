"""End-to-end fixtures: a real `moto_server` upstream and real BillFlow processes in front of it.

Owns: starting them as subprocesses on free loopback ports (bounded readiness polls; on teardown
SIGTERM, a bounded wait, then SIGKILL of our own process only; a process that died or stopped
uncleanly fails with its stderr): one BillFlow on plain HTTP and one on HTTPS with a throwaway CA
(trustme) made per run, each with a tenant and key made through BillFlow's CLI. Clients pointed at
BillFlow (boto3, aws-cli, minio-py, raw `Wire`), given the CA the way a tenant gives it, plus one
boto3 client pointed straight at moto, to see what the upstream really holds: "nothing stored" is
always checked there, never through BillFlow. Does not own: what BillFlow must answer (the test
modules).

Which BillFlow a test talks to is the `scheme` fixture: "http" unless the test is parametrized
over it (`over_schemes`, as the client modules are), so a client module runs once per scheme and
the rest once, over HTTP.

Everything here is synchronous: clients never run inside an event loop.
"""

from __future__ import annotations

import os
import re
import signal
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
    AdminAPI,
    Aws,
    Gateway,
    MiB,
    Served,
    Service,
    TenantKey,
    TestCA,
    Upstream,
    admin_api_for,
    aws_cli,
    free_port,
    http_status,
    tool,
    write_config,
)
from .s3wire import Wire

#: The JavaScript client's package (tests/e2e/js) holds no Python; don't walk its node_modules.
collect_ignore = ["js"]


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
def test_ca(tmp_path_factory: pytest.TempPathFactory) -> TestCA:
    """A CA made for this run, and a server certificate it issued for 127.0.0.1 and localhost."""
    return TestCA.create(tmp_path_factory.mktemp("tls"))


def _serve(
    tmp_path_factory: pytest.TempPathFactory, upstream: Upstream, tls: TestCA | None
) -> Iterator[Served]:
    gw = write_config(tmp_path_factory.mktemp("billflow"), upstream.url, tls=tls)
    made = gw.cli_json("tenant", "create", TENANT)
    assert made["name"] == TENANT and isinstance(made["id"], int), made
    key = gw.create_key(TENANT)
    gw.start()
    yield Served(gw, key)
    gw.stop(signal.SIGTERM)


@pytest.fixture(scope="package")
def served_http(tmp_path_factory: pytest.TempPathFactory, upstream: Upstream) -> Iterator[Served]:
    """BillFlow serving plain HTTP in front of `upstream`, with a tenant and key made beforehand
    by `billflow tenant create` / `key create`; it must stop cleanly (exit 0) on SIGTERM."""
    yield from _serve(tmp_path_factory, upstream, None)


@pytest.fixture(scope="package")
def served_https(
    tmp_path_factory: pytest.TempPathFactory, upstream: Upstream, test_ca: TestCA
) -> Iterator[Served]:
    """The same on HTTPS (`[s3.tls]` with the test CA's server certificate); its own ledger,
    so its tenant's key differs from the HTTP one's."""
    yield from _serve(tmp_path_factory, upstream, test_ca)


@pytest.fixture(scope="package")
def scheme(request: pytest.FixtureRequest) -> str:
    """The scheme of the BillFlow under test: "http", or each of SCHEMES under `over_schemes`."""
    param: str = getattr(request, "param", "http")
    return param


@pytest.fixture(scope="package")
def served(request: pytest.FixtureRequest, scheme: str) -> Served:
    """The BillFlow of `scheme` (both keep running for the whole package)."""
    found: Served = request.getfixturevalue(f"served_{scheme}")
    return found


@pytest.fixture(scope="package")
def gateway(served: Served) -> Gateway:
    return served.gateway


@pytest.fixture(scope="package")
def tenant(served: Served) -> TenantKey:
    """The tenant's credentials."""
    return served.key


@pytest.fixture(scope="package")
def make_s3(gateway: Gateway, tenant: TenantKey) -> Iterator[Callable[..., Any]]:
    """Factory: a boto3 S3 client for BillFlow (or `endpoint_url`, a relay in front of it) as the
    tenant; `config` merges over no-retries.
    For HTTPS it verifies against the test CA (`verify=` the CA file, as a tenant's
    `AWS_CA_BUNDLE` would)."""
    made: list[Any] = []

    def make(
        config: Config | None = None,
        *,
        key: TenantKey | None = None,
        endpoint_url: str | None = None,
    ) -> Any:
        key = key or tenant
        client = boto3.session.Session().client(
            "s3",
            endpoint_url=endpoint_url or gateway.url,
            region_name=REGION,
            aws_access_key_id=key.access_key_id,
            aws_secret_access_key=key.secret_access_key,
            config=NO_RETRIES.merge(config) if config else NO_RETRIES,
            verify=str(gateway.tls.ca_pem) if gateway.tls else None,
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
    return Wire(
        gateway.host,
        gateway.port,
        tenant.access_key_id,
        tenant.secret_access_key,
        REGION,
        ssl_context=gateway.ssl_context,
    )


@pytest.fixture(scope="package")
def minio_client(gateway: Gateway, tenant: TenantKey) -> Iterator[Minio]:
    """minio-py for BillFlow as the tenant, region discovered as a user's would be; its
    connection pool makes one attempt per request (minio's default retries 5xx) and, for HTTPS,
    verifies against the test CA, as minio's docs show for a private CA."""
    tls: dict[str, Any] = (
        {"cert_reqs": "CERT_REQUIRED", "ca_certs": str(gateway.tls.ca_pem)} if gateway.tls else {}
    )
    pool = urllib3.PoolManager(timeout=urllib3.Timeout(connect=5, read=60), retries=False, **tls)
    yield Minio(
        f"{gateway.host}:{gateway.port}",
        access_key=tenant.access_key_id,
        secret_key=tenant.secret_access_key,
        secure=gateway.tls is not None,
        http_client=pool,
    )
    pool.clear()


@pytest.fixture(scope="package")
def aws(tmp_path_factory: pytest.TempPathFactory, gateway: Gateway, tenant: TenantKey) -> Aws:
    """aws-cli as the package tenant (see harness.aws_cli for its profiles and options)."""
    return aws_cli(tmp_path_factory.mktemp("awscli"), gateway, tenant)


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


@pytest.fixture(scope="package")
def admin_api(gateway: Gateway) -> AdminAPI:
    """An admin of the served gateway, with a token from POST /admin/login."""
    return admin_api_for(gateway)
