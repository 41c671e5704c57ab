"""The meter across process deaths, with a real BillFlow process under load from boto3.

- SIGTERM under load loses nothing: every PUT a client saw answered is counted, and every object
  it stored is tracked, once the process has exited.
- SIGKILL loses at most the documented window ([meter] flush_interval_seconds): every PUT
  answered more than one interval (plus the flush's own time) before the kill is in the ledger.
- Reconciliation repairs storage after objects are changed directly on the upstream, and after a
  SIGKILL dropped storage events.

The ledger is read afterwards through the ledger's own interface (the process is gone).
"""

from __future__ import annotations

import asyncio
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from proxy.ledger import Ledger

from .harness import TENANT, Gateway, TenantKey, Upstream, write_config

pytestmark = pytest.mark.e2e

FLUSH_SECONDS = 1.0
#: A flush commits within this long after its interval ends (one SQLite transaction).
FLUSH_SLACK = 1.0
LOAD_THREADS = 6


def _gateway(tmp_path: Path, upstream: Upstream, tables: str = "") -> tuple[Gateway, TenantKey]:
    gw = write_config(tmp_path, upstream.url, tables=tables)
    gw.cli_json("tenant", "create", TENANT)
    key = gw.create_key(TENANT)
    gw.start()
    return gw, key


def _client(gw: Gateway, key: TenantKey) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=gw.url,
        aws_access_key_id=key.access_key_id,
        aws_secret_access_key=key.secret_access_key,
        region_name="us-east-1",
        config=Config(retries={"max_attempts": 1}, connect_timeout=2, read_timeout=10,
                      s3={"addressing_style": "path"}),
    )  # fmt: skip


class Load:
    """Threads PUTting distinct small objects until stopped; remembers when each was answered."""

    def __init__(self, s3: Any, bucket: str) -> None:
        self.s3 = s3
        self.bucket = bucket
        self.answered: dict[str, float] = {}  # key -> time.monotonic() of its 200
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run, args=(n,)) for n in range(LOAD_THREADS)]

    def _run(self, n: int) -> None:
        i = 0
        while not self._stop.is_set():
            key = f"load/{n}/{i}"
            i += 1
            try:
                self.s3.put_object(Bucket=self.bucket, Key=key, Body=b"x" * (100 + n))
            except Exception:
                continue  # refused or cut off by the stop: not answered, not expected
            with self._lock:
                self.answered[key] = time.monotonic()

    def __enter__(self) -> Load:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(30)


def _read_ledger(path: Path, bucket: str) -> tuple[int, dict[str, int]]:
    """(PutObject 2xx calls, and the tracked size of each object key) from the ledger file."""

    async def read() -> tuple[int, dict[str, int]]:
        ledger = await Ledger.open(path)
        try:
            far = datetime.now(UTC) + timedelta(days=1)
            totals = await ledger.usage.call_totals("operation", far - timedelta(days=30), far)
            puts = sum(
                t.calls for t in totals if t.group == "PutObject" and t.status_class == "2xx"
            )
            buckets = {b.bucket: b for b in await ledger.usage.metered_buckets()}
            assert bucket in buckets
            sizes = await ledger.usage.stored_objects(bucket)
            return puts, sizes
        finally:
            await ledger.close()

    return asyncio.run(read())


@pytest.fixture
def bucket() -> Iterator[str]:
    yield f"restart-{uuid.uuid4().hex[:12]}"


def test_meter_sigterm_under_load_loses_nothing(
    tmp_path: Path, upstream: Upstream, bucket: str
) -> None:
    gw, key = _gateway(tmp_path, upstream)
    s3 = _client(gw, key)
    s3.create_bucket(Bucket=bucket)
    backup = tmp_path / "backup.sqlite3"
    with Load(s3, bucket) as load:
        time.sleep(1.0)
        done = gw.cli("backup", str(backup))  # online, while the gateway writes
        assert done.returncode == 0, done.stderr
        time.sleep(1.0)
        gw.stop(signal.SIGTERM)  # fails the test unless it exits 0
    puts, sizes = _read_ledger(gw.config.parent / "ledger.sqlite3", bucket)
    assert len(load.answered) > 50, "the load never got going"
    assert puts == len(load.answered)
    assert set(sizes) == set(load.answered)
    # The backup is a consistent ledger of its own: a prefix of what was finally stored.
    backup_puts, backup_sizes = _read_ledger(backup, bucket)
    assert 0 < backup_puts <= puts and set(backup_sizes) <= set(sizes)


def test_meter_sigkill_loses_at_most_one_interval(
    tmp_path: Path, upstream: Upstream, bucket: str
) -> None:
    gw, key = _gateway(tmp_path, upstream, f"[meter]\nflush_interval_seconds = {FLUSH_SECONDS}\n")
    s3 = _client(gw, key)
    s3.create_bucket(Bucket=bucket)
    with Load(s3, bucket) as load:
        time.sleep(3.0)
        assert gw.service is not None
        killed_at = time.monotonic()
        gw.service.stop(signal.SIGKILL, check=False)
    puts, sizes = _read_ledger(gw.config.parent / "ledger.sqlite3", bucket)
    safe = {k for k, at in load.answered.items() if at < killed_at - FLUSH_SECONDS - FLUSH_SLACK}
    assert len(safe) > 50, "the load never got going"
    assert safe <= set(sizes), "a PUT answered before the documented window was lost"
    assert len(safe) <= puts <= len(load.answered)


def test_meter_reconciliation_repairs_changes_behind_its_back(
    tmp_path: Path, upstream: Upstream, upstream_s3: Any, bucket: str
) -> None:
    gw, key = _gateway(tmp_path, upstream, "[meter]\nreconcile_interval_seconds = 1\n")
    s3 = _client(gw, key)
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="kept", Body=b"k" * 1000)
    s3.put_object(Bucket=bucket, Key="deleted-upstream", Body=b"d" * 2000)
    s3.put_object(Bucket=bucket, Key="resized-upstream", Body=b"r" * 3000)
    upload = s3.create_multipart_upload(Bucket=bucket, Key="pending")["UploadId"]
    s3.upload_part(Bucket=bucket, Key="pending", UploadId=upload, PartNumber=1, Body=b"p" * 500)
    # Behind BillFlow's back, straight on the upstream:
    upstream_s3.delete_object(Bucket=bucket, Key="deleted-upstream")
    upstream_s3.put_object(Bucket=bucket, Key="resized-upstream", Body=b"R" * 7000)
    upstream_s3.put_object(Bucket=bucket, Key="added-upstream", Body=b"a" * 11000)
    expected = {"kept": 1000, "resized-upstream": 7000, "added-upstream": 11000}
    deadline = time.monotonic() + 20
    while True:
        stored = _stored(gw)
        if stored == (expected, 500):
            break
        assert time.monotonic() < deadline, f"not reconciled: {stored}"
        time.sleep(0.5)
    gw.stop(signal.SIGTERM)


def _stored(gw: Gateway) -> tuple[dict[str, int], int]:
    """What the running gateway's ledger tracks for its only bucket: object sizes, part bytes
    (read through a second connection; SQLite's WAL lets readers in beside the writer)."""

    async def read() -> tuple[dict[str, int], int]:
        ledger = await Ledger.open(gw.config.parent / "ledger.sqlite3")
        try:
            (st,) = await ledger.usage.metered_buckets()
            names = ("kept", "deleted-upstream", "resized-upstream", "added-upstream")
            sizes = {n: await ledger.usage.object_size(st.bucket, n) for n in names}
            return {n: s for n, s in sizes.items() if s is not None}, st.part_bytes
        finally:
            await ledger.close()

    return asyncio.run(read())


def test_meter_reconciliation_after_sigkill_restores_exact_storage(
    tmp_path: Path, upstream: Upstream, upstream_s3: Any, bucket: str
) -> None:
    """What a SIGKILL dropped (the last interval's storage events) is found again after the
    restart: the ledger then tracks exactly the objects the upstream holds."""
    tables = "[meter]\nflush_interval_seconds = 1.0\nreconcile_interval_seconds = 1\n"
    gw, key = _gateway(tmp_path, upstream, tables)
    s3 = _client(gw, key)
    s3.create_bucket(Bucket=bucket)
    with Load(s3, bucket):
        time.sleep(2.0)
        assert gw.service is not None
        gw.service.stop(signal.SIGKILL, check=False)
    gw.start()
    try:
        pages = upstream_s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
        held = {o["Key"]: o["Size"] for page in pages for o in page.get("Contents", [])}
        assert held, "the load never got going"
        deadline = time.monotonic() + 20
        while (tracked := _tracked(gw, bucket)) != held:
            assert time.monotonic() < deadline, f"{len(tracked)} tracked, {len(held)} held"
            time.sleep(0.5)
    finally:
        gw.stop(signal.SIGTERM)


def _tracked(gw: Gateway, bucket: str) -> dict[str, int]:
    async def read() -> dict[str, int]:
        ledger = await Ledger.open(gw.config.parent / "ledger.sqlite3")
        try:
            return await ledger.usage.stored_objects(bucket)
        finally:
            await ledger.close()

    return asyncio.run(read())
