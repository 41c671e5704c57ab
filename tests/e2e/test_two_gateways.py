"""Two BillFlow processes on one ledger: the last storage event wins, not the last flush.

Two gateways share one ledger file, one moto upstream, one tenant and one access key. A client
writes the same few keys through both in turn: overwrites, deletes and re-puts, multipart uploads
started on one gateway and completed or aborted on the other, and parts of one open upload sent
again through the other. Each gateway flushes its own batch every second, so a batch often holds
events older than what the other has flushed already. Then, once per seed:

- with both running and both flushed (their timers interleaved), the admin API's storage now for
  the bucket is what moto holds;
- after a last pass in which the gateway stopped second writes each key first and the one stopped
  first writes it last (so the second's shutdown flush carries only older events), the ledger
  file holds exactly moto's objects and sizes and the parts of moto's open upload, no part of an
  upload that was completed or aborted, and the bucket's totals are the sums of its rows.

With "the last flush wins" these fail; nothing here may be repaired by reconciliation, which
would list moto and hide a wrong fold: it is switched off and checked not to have run.
"""

from __future__ import annotations

import random
import signal
import sqlite3
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from botocore.config import Config

from .harness import (
    TENANT,
    AdminAPI,
    Gateway,
    TenantKey,
    Upstream,
    admin_api_for,
    tenant_s3,
    write_config,
)

pytestmark = pytest.mark.e2e

FLUSH_SECONDS = 1.0
#: Reconciliation off: it would make the ledger right whatever the folds did.
TABLES = f"[meter]\nflush_interval_seconds = {FLUSH_SECONDS}\nreconcile_interval_seconds = 0\n"
#: Both gateways have flushed everything metered before this pause (an interval and the flush).
SETTLE_SECONDS = 2 * FLUSH_SECONDS + 0.5
SEEDS = (1, 2, 3)
ROUNDS = 24
KEYS = tuple(f"k{i}" for i in range(4))
PENDING = "pending"  # the key of the upload left open; its parts go through both gateways
PART_NUMBERS = (1, 2, 3)
#: A round takes a few milliseconds; a random pause of up to this after each spreads the rounds
#: over about three flush intervals, so each gateway flushes mid-scenario, at its own times.
PAUSE_SECONDS = 0.2

PartKey = tuple[str, int]  # (upload id, part number)
#: The clients: SigV4, path-style addressing.
PATH_S3V4 = Config(signature_version="s3v4", s3={"addressing_style": "path"})


@dataclass(frozen=True)
class Pair:
    """Two gateways on the ledger file `ledger` (the first's), with the tenant and its key."""

    gateways: tuple[Gateway, Gateway]
    ledger: Path
    tenant_id: int
    key: TenantKey


@dataclass(frozen=True)
class Held:
    """A bucket's objects and open uploads' parts, with their sizes."""

    objects: dict[str, int]
    parts: dict[PartKey, int]

    def storage_now(self) -> dict[str, int]:
        """What the admin API's `storage_now` must say for the bucket."""
        object_bytes, part_bytes = sum(self.objects.values()), sum(self.parts.values())
        return {
            "bytes": object_bytes + part_bytes,
            "objects": len(self.objects),
            "object_bytes": object_bytes,
            "parts": len(self.parts),
            "part_bytes": part_bytes,
        }


@dataclass(frozen=True)
class LedgerRows:
    """What the ledger file holds for one bucket."""

    held: Held
    totals: dict[str, int]  # bucket_storage's objects, object_bytes, parts, part_bytes
    settled_at: str
    corrections: int
    upload_tombstones: set[str]
    unstamped: int  # object and part rows without changed_at


@dataclass
class Outcome:
    seed: int
    bucket: str
    #: What the client did, in order: "G1 put k0 1234", ... (for failure messages).
    steps: list[str] = field(default_factory=list)
    ended_uploads: set[str] = field(default_factory=set)
    settled_upstream: Held | None = None  # moto, before the last pass
    settled_admin: dict[str, int] | None = None  # the admin API at the same time
    upstream: Held | None = None  # moto, once both gateways stopped
    ledger: LedgerRows | None = None  # the ledger file, at the same time

    def story(self) -> str:
        return f"seed {self.seed}, bucket {self.bucket}:\n" + "\n".join(self.steps)


class Writer:
    """The client's side of the scenario: S3 calls through gateway 1 or 2 (index 0 or 1), each
    one logged in the outcome's steps. Bodies have random sizes, so a wrong size shows."""

    def __init__(self, clients: tuple[Any, Any], rng: random.Random, outcome: Outcome) -> None:
        self.clients = clients
        self.rng = rng
        self.outcome = outcome
        self.bucket = outcome.bucket

    def _size(self) -> int:
        return self.rng.randrange(1, 5000)

    def _log(self, via: int, what: str) -> None:
        self.outcome.steps.append(f"G{via + 1} {what}")

    def put(self, via: int, key: str) -> None:
        size = self._size()
        self.clients[via].put_object(Bucket=self.bucket, Key=key, Body=b"o" * size)
        self._log(via, f"put {key} {size}")

    def delete(self, via: int, key: str) -> None:
        self.clients[via].delete_object(Bucket=self.bucket, Key=key)
        self._log(via, f"delete {key}")

    def start_upload(self, via: int, key: str) -> str:
        upload: str = self.clients[via].create_multipart_upload(Bucket=self.bucket, Key=key)[
            "UploadId"
        ]
        self._log(via, f"start upload {upload[:12]} of {key}")
        return upload

    def part(self, via: int, key: str, upload: str, number: int) -> str:
        size = self._size()
        etag: str = self.clients[via].upload_part(
            Bucket=self.bucket, Key=key, UploadId=upload, PartNumber=number, Body=b"p" * size
        )["ETag"]
        self._log(via, f"part {number} of {upload[:12]} {size}")
        return etag

    def complete(self, via: int, key: str, upload: str, etags: dict[int, str]) -> None:
        parts = [{"PartNumber": n, "ETag": etags[n]} for n in sorted(etags)]
        self.clients[via].complete_multipart_upload(
            Bucket=self.bucket, Key=key, UploadId=upload, MultipartUpload={"Parts": parts}
        )
        self.outcome.ended_uploads.add(upload)
        self._log(via, f"complete {upload[:12]} as {key}")

    def abort(self, via: int, key: str, upload: str) -> None:
        self.clients[via].abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload)
        self.outcome.ended_uploads.add(upload)
        self._log(via, f"abort {upload[:12]}")


def _interleave(w: Writer, pending: str) -> None:
    """ROUNDS rounds on KEYS in turn, each through both gateways in a random order, and a part
    of the open upload through one of them; a random pause after each."""
    for i in range(ROUNDS):
        key = KEYS[i % len(KEYS)]
        a, b = w.rng.sample((0, 1), 2)
        kind = w.rng.choice(("overwrite", "delete-reput", "put-delete", "complete", "abort"))
        if kind == "overwrite":
            w.put(a, key)
            w.put(b, key)
        elif kind == "delete-reput":
            w.delete(a, key)
            w.put(b, key)
        elif kind == "put-delete":
            w.put(a, key)
            w.delete(b, key)
        elif kind == "complete":
            upload = w.start_upload(a, key)
            w.part(a, key, upload, 1)
            etag = w.part(b, key, upload, 1)  # the same part again, through the other gateway
            w.complete(b, key, upload, {1: etag})
        else:
            upload = w.start_upload(a, key)
            w.part(a, key, upload, 1)
            w.part(b, key, upload, 2)
            w.abort(b, key, upload)
        w.part(w.rng.choice((0, 1)), PENDING, pending, w.rng.choice(PART_NUMBERS))
        time.sleep(w.rng.uniform(0, PAUSE_SECONDS))


#: The last pass's writes of a key: through the gateway stopped second, then the other.
LAST_WRITES = (("put", "put"), ("put", "delete"), ("delete", "put"), ("put", "put"))


def _last_pass(w: Writer, pending: str, early: int) -> None:
    """Every key and part first through `early` (the gateway stopped second), then through the
    other (each of LAST_WRITES on one key); and an upload started and filled through `early`,
    aborted through the other."""
    late = 1 - early
    for key, writes in zip(KEYS, w.rng.sample(LAST_WRITES, len(LAST_WRITES)), strict=True):
        for via, write in zip((early, late), writes, strict=True):
            if write == "put":
                w.put(via, key)
            else:
                w.delete(via, key)
    for number in PART_NUMBERS:
        w.part(early, PENDING, pending, number)
        w.part(late, PENDING, pending, number)
    upload = w.start_upload(early, "aborted-last")
    w.part(early, "aborted-last", upload, 1)
    w.abort(late, "aborted-last", upload)


def _upstream_held(s3: Any, bucket: str) -> Held:
    """What moto holds, read straight from it."""
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
    objects = {o["Key"]: o["Size"] for page in pages for o in page.get("Contents", [])}
    parts: dict[PartKey, int] = {}
    for upload in s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []):
        listed = s3.list_parts(Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"])
        for p in listed.get("Parts", []):
            parts[(upload["UploadId"], p["PartNumber"])] = p["Size"]
    return Held(objects, parts)


def _admin_storage_now(admin: AdminAPI, tenant_id: int, bucket: str) -> dict[str, int]:
    status, body = admin.call("GET", f"/admin/tenants/{tenant_id}/usage/buckets")
    assert status == 200, body
    (row,) = [b for b in body["buckets"] if b["bucket"] == bucket]
    now: dict[str, int] = row["storage_now"]
    return now


def _ledger_rows(path: Path, bucket: str) -> LedgerRows:
    """The bucket's rows in the ledger file, read-only (both gateways have exited)."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        objects = {
            str(k): int(s)
            for k, s in conn.execute(
                "SELECT key, size FROM stored_objects WHERE bucket = ?", (bucket,)
            )
        }
        parts = {
            (str(u), int(n)): int(s)
            for u, n, s in conn.execute(
                "SELECT upload_id, part_number, size FROM stored_parts WHERE bucket = ?", (bucket,)
            )
        }
        objects_n, object_bytes, parts_n, part_bytes, settled_at = conn.execute(
            "SELECT objects, object_bytes, parts, part_bytes, settled_at FROM bucket_storage"
            " WHERE bucket = ?",
            (bucket,),
        ).fetchone()
        (corrections,) = conn.execute(
            "SELECT count(*) FROM storage_corrections WHERE bucket = ?", (bucket,)
        ).fetchone()
        tombstones = {
            str(name)
            for (name,) in conn.execute(
                "SELECT name FROM storage_tombstones WHERE bucket = ? AND kind = 'upload'",
                (bucket,),
            )
        }
        (unstamped,) = conn.execute(
            "SELECT (SELECT count(*) FROM stored_objects WHERE bucket = ?1 AND changed_at = '')"
            " + (SELECT count(*) FROM stored_parts WHERE bucket = ?1 AND changed_at = '')",
            (bucket,),
        ).fetchone()
    finally:
        conn.close()
    totals = {
        "objects": int(objects_n),
        "object_bytes": int(object_bytes),
        "parts": int(parts_n),
        "part_bytes": int(part_bytes),
    }
    return LedgerRows(
        Held(objects, parts), totals, str(settled_at), int(corrections), tombstones, int(unstamped)
    )


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory, upstream: Upstream) -> Pair:
    """Two configs on fresh ports; the second's `[ledger] path` rewritten to the first's. The
    harness gives both the run's master key and JWT secret, so both open the same secrets."""
    one = write_config(tmp_path_factory.mktemp("gateway-1"), upstream.url, tables=TABLES)
    two = write_config(tmp_path_factory.mktemp("gateway-2"), upstream.url, tables=TABLES)
    ledger = one.config.parent / "ledger.sqlite3"
    own = f'path = "{two.config.parent / "ledger.sqlite3"}"'
    text = two.config.read_text()
    assert text.count(own) == 1, text
    two.config.write_text(text.replace(own, f'path = "{ledger}"'))
    assert one.env == two.env
    made = one.cli_json("tenant", "create", TENANT)
    key = one.create_key(TENANT)
    return Pair((one, two), ledger, int(made["id"]), key)


@pytest.fixture(scope="module", params=SEEDS, ids=[f"seed-{s}" for s in SEEDS])
def outcome(request: pytest.FixtureRequest, pair: Pair, upstream_s3: Any) -> Outcome:
    """One run of the scenario on a fresh bucket, both gateways started for it and stopped at
    its end (the gateway that wrote last first); what moto, the admin API and the ledger file
    said, recorded for the tests."""
    seed: int = request.param
    rng = random.Random(seed)
    done = Outcome(seed, f"two-gateways-{seed}-{uuid.uuid4().hex[:10]}")
    one, two = pair.gateways
    one.start()
    try:
        two.start()
    except BaseException:
        one.stop(signal.SIGTERM)
        raise
    early = rng.choice((0, 1))  # writes first in the last pass, and is stopped second
    clients = (tenant_s3(one, pair.key, PATH_S3V4), tenant_s3(two, pair.key, PATH_S3V4))
    try:
        w = Writer(clients, rng, done)
        clients[0].create_bucket(Bucket=done.bucket)
        pending = w.start_upload(0, PENDING)
        _interleave(w, pending)
        time.sleep(SETTLE_SECONDS)
        done.settled_upstream = _upstream_held(upstream_s3, done.bucket)
        done.settled_admin = _admin_storage_now(
            admin_api_for(pair.gateways[early]), pair.tenant_id, done.bucket
        )
        done.steps.append("-- settled; last pass --")
        _last_pass(w, pending, early)
    finally:
        for client in clients:
            client.close()
        try:
            pair.gateways[1 - early].stop(signal.SIGTERM)  # flushes the newest events first
        finally:
            pair.gateways[early].stop(signal.SIGTERM)  # then its own, older ones
    done.steps.append(f"-- stopped G{2 - early}, then G{early + 1} --")
    done.upstream = _upstream_held(upstream_s3, done.bucket)
    done.ledger = _ledger_rows(pair.ledger, done.bucket)
    return done


def test_storage_now_with_both_running_is_what_upstream_holds(outcome: Outcome) -> None:
    assert outcome.settled_upstream is not None
    assert outcome.settled_admin == outcome.settled_upstream.storage_now(), outcome.story()


def test_ledger_objects_are_upstream_objects(outcome: Outcome) -> None:
    assert outcome.upstream is not None and outcome.ledger is not None
    assert outcome.upstream.objects, "the scenario left no object: nothing to compare"
    assert outcome.ledger.held.objects == outcome.upstream.objects, outcome.story()


def test_ledger_parts_are_those_of_the_open_upload(outcome: Outcome) -> None:
    assert outcome.upstream is not None and outcome.ledger is not None
    assert outcome.upstream.parts, "the open upload has no part: nothing to compare"
    leftover = {u for u, _ in outcome.ledger.held.parts} & outcome.ended_uploads
    assert not leftover, f"parts of ended uploads {leftover}\n{outcome.story()}"
    assert outcome.ledger.held.parts == outcome.upstream.parts, outcome.story()
    # Each ended upload left its tombstone, which turned away parts older than its end.
    assert outcome.ended_uploads <= outcome.ledger.upload_tombstones


def test_bucket_totals_are_the_sums_of_its_rows(outcome: Outcome) -> None:
    assert outcome.ledger is not None
    expected = outcome.ledger.held.storage_now()
    del expected["bytes"]
    assert outcome.ledger.totals == expected, outcome.story()
    assert outcome.ledger.unstamped == 0, "a row without the time of the event that wrote it"


def test_reconciliation_never_ran(outcome: Outcome) -> None:
    """What the other tests saw is the folds' doing alone."""
    assert outcome.ledger is not None
    assert outcome.ledger.settled_at == ""
    assert outcome.ledger.corrections == 0
