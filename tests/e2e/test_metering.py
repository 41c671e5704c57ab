"""Metering end to end (issue 4): a scripted workload from aws-cli and boto3, as a tenant would run
it, is metered exactly: calls, status classes, bytes in and bytes out per operation, per bucket and
per access key, and the bytes stored now equal what the upstream holds.

The expected figures are measured outside BillFlow: every client talks to BillFlow through a
recording relay (`Recorder`), so what each client really sent (aws-cli's parts included) and
really got back is known byte for byte. The workload runs once, for a fresh tenant made through
the admin API (its usage is its own on the shared gateway); each test checks one aspect of it.
"""

from __future__ import annotations

import contextlib
import re
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, unquote

import pytest
from botocore.exceptions import ClientError

from .harness import AdminAPI, Gateway, MiB, TenantKey, aws_cli
from .tap import WireRequest, decode_aws_chunked, parse_requests

pytestmark = pytest.mark.e2e

#: aws-cli's default multipart_chunksize: 50 MiB goes up as 6 parts of 8 MiB and one of 2 MiB.
CHUNK = 8 * MiB
PENDING_PART = 300_000  # a part of an upload left open: stored until the upload ends
ABORTED_PARTS = (200_000, 100_000)  # parts of an upload that is then aborted
SMALL = {"over": (3000, 1000), "gone": (500,), "multi/a": (700,), "multi/b": (900,), "src": (1234,)}
RANGES = ((0, 99), (MiB, 3 * MiB - 1))  # of big.bin, inclusive, as in a Range header
COPY_RANGE = (10, 19)
INTERRUPT_AFTER = MiB  # an interrupted download reads this much of big.bin, then hangs up
SETTLE_SECONDS = 1.5  # usage unchanged this long: the meter (1 s interval) has flushed
POLL_SECONDS = 10.0
GB_DAY_BYTE_SECONDS = 2**30 * 86_400  # a GB (2**30 bytes, as AWS bills storage) kept one day

#: What the workload sends, as its clients really send it (checked against the wire first).
EXPECTED_CALLS = {
    "AbortMultipartUpload": {"2xx": 1},
    "CompleteMultipartUpload": {"2xx": 1},  # aws-cli's
    "CopyObject": {"2xx": 1},
    "CreateBucket": {"2xx": 2},
    "CreateMultipartUpload": {"2xx": 3},  # aws-cli's, the pending upload's, the aborted one's
    "DeleteObject": {"2xx": 1},  # aws s3 rm
    "DeleteObjects": {"2xx": 1},
    "GetBucketLocation": {"4xx": 1},  # AccessDenied by BillFlow: a bucket nobody owns
    "GetObject": {"2xx": 5, "4xx": 1},  # 3 ranges, 1 whole, 1 interrupted; NoSuchKey upstream
    "HeadObject": {"2xx": 1},
    "ListBuckets": {"2xx": 1},
    "ListObjectsV2": {"2xx": 2},
    "PutObject": {"2xx": 6},
    "UploadPart": {"2xx": 10},  # 7 by aws-cli, 1 pending, 2 aborted
}
#: routing's default billing classes (the AWS request tiers) for those operations.
BILLING_CLASSES = {
    "AbortMultipartUpload": "free",
    "CompleteMultipartUpload": "write",
    "CopyObject": "write",
    "CreateBucket": "write",
    "CreateMultipartUpload": "write",
    "DeleteObject": "free",
    "DeleteObjects": "free",
    "GetBucketLocation": "read",
    "GetObject": "read",
    "HeadObject": "read",
    "ListBuckets": "write",
    "ListObjectsV2": "write",
    "PutObject": "write",
    "UploadPart": "write",
}


# -- the recording relay ---------------------------------------------------------------------


@dataclass
class _Connection:
    sent: bytearray = field(default_factory=bytearray)  # client -> BillFlow
    received: bytearray = field(default_factory=bytearray)  # BillFlow -> client


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)  # also wakes a thread blocked on it


class _Link:
    """The two sockets of one relayed connection; when either direction ends, both end, and
    the second direction to finish closes them. Closed, not just shut down: a socket only shut
    down keeps taking BillFlow's bytes into its buffer, then stalls it, where a client that
    hung up makes the kernel answer RST."""

    def __init__(self, client: socket.socket, upstream: socket.socket) -> None:
        self.sockets = (client, upstream)
        self._lock = threading.Lock()
        self._running = 2

    def end(self) -> None:
        for sock in self.sockets:
            _shut(sock)  # wakes the other direction's thread
        with self._lock:
            self._running -= 1
            last = self._running == 0
        if last:
            for sock in self.sockets:
                sock.close()


def _pipe(src: socket.socket, dst: socket.socket, record: bytearray, link: _Link) -> None:
    """Copy until either side ends; then end both (a client hanging up reaches BillFlow)."""
    try:
        while data := src.recv(65536):
            record += data  # recorded before it is passed on: the client has seen no more
            dst.sendall(data)
    except OSError:
        pass
    finally:
        link.end()


class Recorder:
    """A TCP relay on a free loopback port in front of a plain-HTTP BillFlow that keeps both
    directions of every connection (tap.Tap keeps only what clients sent). Threads, never the
    test's thread; nothing relayed is changed, so signatures over the relay's Host still hold."""

    def __init__(self, gateway: Gateway) -> None:
        assert gateway.tls is None, "the recorder relays plain HTTP"
        self._target = (gateway.host, gateway.port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.1)
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self.connections: list[_Connection] = []
        self._links: list[_Link] = []
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()
        self._acceptor = threading.Thread(target=self._accept, name="recorder", daemon=True)

    def __enter__(self) -> Recorder:
        self._acceptor.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._acceptor.join(10)
        for link in self._links:
            for sock in link.sockets:
                _shut(sock)  # its threads end, the last one closing both
        for thread in self._threads:
            thread.join(10)
        self._listener.close()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            client.settimeout(None)
            upstream = socket.create_connection(self._target)
            link = _Link(client, upstream)
            conn = _Connection()
            self.connections.append(conn)
            self._links.append(link)
            for src, dst, record in (
                (client, upstream, conn.sent),
                (upstream, client, conn.received),
            ):
                thread = threading.Thread(target=_pipe, args=(src, dst, record, link), daemon=True)
                self._threads.append(thread)
                thread.start()

    def calls(self) -> list[Call]:
        """Every request so far with its answer, connection by connection."""
        out: list[Call] = []
        for conn in list(self.connections):
            requests = list(parse_requests(bytes(conn.sent)))
            answers = _answers(bytes(conn.received), [r.method for r in requests])
            assert len(answers) == len(requests), [r.describe() for r in requests]
            out += [_call(r, a) for r, a in zip(requests, answers, strict=True)]
        return out


@dataclass(frozen=True)
class _Answer:
    status: int
    body_bytes: int  # body bytes on the wire, HTTP framing removed
    complete: bool  # False: the connection ended before the announced body did


def _answers(stream: bytes, methods: list[str]) -> list[_Answer]:
    """The final answers in what BillFlow sent on one connection, one per request method given
    (RFC 9112 section 6.3: 1xx interim answers skipped; HEAD, 204 and 304 have no body)."""
    out: list[_Answer] = []
    at = 0
    for method in methods:
        status, fields = 100, {}
        while status < 200:
            end = stream.find(b"\r\n\r\n", at)
            if end < 0:
                return out
            status_line, *lines = stream[at:end].decode("latin-1").split("\r\n")
            status = int(status_line.split(" ")[1])
            fields = {k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines)}
            at = end + 4
        if method == "HEAD" or status in (204, 304):
            body, complete = 0, True
        elif fields.get("transfer-encoding", "").lower() == "chunked":
            body, complete = 0, False
            while (line_end := stream.find(b"\r\n", at)) >= 0:
                size = int(stream[at:line_end].split(b";")[0], 16)
                if size == 0:
                    at = stream.index(b"\r\n\r\n", line_end) + 4
                    complete = True
                    break
                body += min(size, len(stream) - line_end - 2)
                at = line_end + 2 + size + 2
        else:
            announced = int(fields.get("content-length", "0"))
            body = min(announced, len(stream) - at)
            complete, at = body == announced, at + body
        out.append(_Answer(status, body, complete))
    return out


@dataclass(frozen=True)
class Call:
    """One request as it crossed the wire, classified without BillFlow's help."""

    operation: str
    key_id: str
    bucket: str
    key: str
    status: int
    bytes_in: int  # the decoded payload (aws-chunked framing removed)
    bytes_out: int  # body bytes that reached the relay
    complete: bool

    @property
    def status_class(self) -> str:
        return f"{self.status // 100}xx"


_CREDENTIAL = re.compile(r"Credential=([A-Z0-9]+)/")


def _operation(r: WireRequest, bucket: str, key: str, params: dict[str, str]) -> str:
    """The botocore name of the few request shapes this workload sends (path-style)."""
    shapes: list[tuple[bool, str]] = [
        (r.method == "GET" and not bucket, "ListBuckets"),
        (r.method == "PUT" and not key and not params, "CreateBucket"),
        (r.method == "GET" and not key and params.get("list-type") == "2", "ListObjectsV2"),
        (r.method == "POST" and not key and "delete" in params, "DeleteObjects"),
        (r.method == "PUT" and bool(key) and {"partNumber", "uploadId"} <= params.keys()
         and r.header("x-amz-copy-source") is None, "UploadPart"),
        (r.method == "PUT" and bool(key) and not params
         and r.header("x-amz-copy-source") is not None, "CopyObject"),
        (r.method == "PUT" and bool(key) and not params, "PutObject"),
        (r.method == "GET" and not key and params.keys() == {"location"}, "GetBucketLocation"),
        (r.method == "POST" and bool(key) and params.keys() == {"uploads"},
         "CreateMultipartUpload"),
        (r.method == "POST" and bool(key) and params.keys() == {"uploadId"},
         "CompleteMultipartUpload"),
        (r.method == "DELETE" and bool(key) and params.keys() == {"uploadId"},
         "AbortMultipartUpload"),
        (r.method == "DELETE" and bool(key) and not params, "DeleteObject"),
        (r.method == "GET" and bool(key) and not params, "GetObject"),
        (r.method == "HEAD" and bool(key) and not params, "HeadObject"),
    ]  # fmt: skip
    for matches, name in shapes:
        if matches:
            return name
    pytest.fail(f"the workload sent a request it did not script:\n{r.describe()}")


def _call(r: WireRequest, answer: _Answer) -> Call:
    path, _, query = r.target.partition("?")
    params = dict(parse_qsl(query, keep_blank_values=True))
    # botocore >= 1.36 names the operation in `x-id`; it must agree with the shape.
    named = params.pop("x-id", None)
    bucket, _, key = path.lstrip("/").partition("/")
    bucket, key = unquote(bucket), unquote(key)
    operation = _operation(r, bucket, key, params)
    assert named in (None, operation), f"{operation} sent x-id={named}"
    found = _CREDENTIAL.search(r.header("Authorization") or "")
    assert found, r.describe()
    body = r.body
    if (r.header("x-amz-content-sha256") or "").startswith("STREAMING-"):
        body = decode_aws_chunked(body)[0]
    return Call(
        operation, found[1], bucket, key, answer.status, len(body), answer.body_bytes,
        answer.complete,
    )  # fmt: skip


# -- reading usage -----------------------------------------------------------------------------


def _tally(calls: Iterable[Call], group: Callable[[Call], str]) -> dict[str, dict[str, Any]]:
    """Per group: calls (per status class too), billable calls (not 5xx), bytes in and bytes
    out, as the usage API sums them."""
    out: dict[str, dict[str, Any]] = {}
    for c in calls:
        t = out.setdefault(
            group(c),
            {"calls": 0, "billable_calls": 0, "status_classes": {}, "bytes_in": 0, "bytes_out": 0},
        )
        t["calls"] += 1
        t["billable_calls"] += c.status < 500
        t["status_classes"][c.status_class] = t["status_classes"].get(c.status_class, 0) + 1
        t["bytes_in"] += c.bytes_in
        t["bytes_out"] += c.bytes_out
    return out


def _usage(admin: AdminAPI, tenant_id: int, what: str = "") -> dict[str, Any]:
    status, body = admin.call("GET", f"/admin/tenants/{tenant_id}/usage{what}")
    assert status == 200, body
    result: dict[str, Any] = body
    return result


def _settled(admin: AdminAPI, tenant_id: int, calls: int) -> dict[str, Any]:
    """The tenant's usage once the meter flushed everything: at least `calls` calls counted,
    then nothing changing for SETTLE_SECONDS (more than one flush interval)."""
    deadline = time.monotonic() + POLL_SECONDS
    last: Any = None
    since = time.monotonic()
    while True:
        usage = _usage(admin, tenant_id)
        state = (usage["operations"], usage["totals"], usage["storage_now"])
        if state != last:
            last, since = state, time.monotonic()
        elif usage["totals"]["calls"] >= calls and time.monotonic() - since >= SETTLE_SECONDS:
            return usage
        if time.monotonic() > deadline:
            return usage  # the tests show what differs
        time.sleep(0.2)


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text)


_ACCESS = re.compile(r" op=(\S+) status=(\d+) .* key=(\S+) in=(\d+) out=(\d+) ")


def _access_log(gateway: Gateway, key_ids: set[str]) -> list[tuple[str, int, str, int, int]]:
    """BillFlow's access-log lines for these keys: (operation, status, key, in, out)."""
    found = (_ACCESS.search(line) for line in gateway.log.read_text(errors="replace").splitlines())
    return [(m[1], int(m[2]), m[3], int(m[4]), int(m[5])) for m in found if m and m[3] in key_ids]


# -- the workload ------------------------------------------------------------------------------


@dataclass
class Metered:
    tenant_id: int
    #: A runs most of the workload; B the interrupted download, a listing, ListBuckets and the
    #: request BillFlow refuses itself.
    keys: tuple[TenantKey, TenantKey]
    buckets: dict[str, str]  # label -> name: "service" (""), "main", "other", "foreign"
    calls: list[Call]
    interrupted_read: int  # what the interrupted download's client read before hanging up
    access_log: list[tuple[str, int, str, int, int]]  # the tenant's lines
    mid_storage: dict[str, Any]  # storage_now with both uploads' parts stored, before the abort
    mid_upstream: tuple[dict[str, dict[str, int]], dict[str, dict[tuple[str, int], int]]]
    started_at: datetime  # just before the first bucket was created
    changed_at: datetime  # just after the last storage change (the abort) was answered
    written_bytes: int  # every byte ever stored: an upper bound on storage at any instant
    usage: dict[str, Any]  # settled
    buckets_usage: dict[str, Any]
    keys_usage: dict[str, Any]
    daily: dict[str, Any]
    usage_again: dict[str, Any]  # a second read, a second later
    upstream_objects: dict[str, dict[str, int]]  # bucket -> key -> size
    upstream_parts: dict[str, dict[tuple[str, int], int]]  # bucket -> (key, part) -> size
    big: bytes = field(repr=False)
    got: dict[str, bytes] = field(repr=False)  # bodies the clients read

    def explain(self) -> str:
        """The evidence to show with a failed assertion."""
        return "BillFlow's access log for the tenant:\n" + "\n".join(map(str, self.access_log))

    def label(self, kind: str, call: Call) -> str:
        if kind == "operation":
            return call.operation
        if kind == "bucket":
            return {name: label for label, name in self.buckets.items()}[call.bucket]
        if kind == "key":
            return "AB"[[k.access_key_id for k in self.keys].index(call.key_id)]
        return "all"


def _new_tenant(admin: AdminAPI) -> tuple[int, TenantKey, TenantKey]:
    name = f"metering-{uuid.uuid4().hex[:8]}"
    status, tenant = admin.call("POST", "/admin/tenants", {"name": name})
    assert status == 201, tenant
    keys = []
    for _ in range(2):
        status, made = admin.call("POST", f"/admin/tenants/{tenant['id']}/keys")
        assert status == 201, made
        keys.append(TenantKey(name, made["access_key_id"], made["secret_access_key"]))
    return tenant["id"], keys[0], keys[1]


def _clear_of_period_end(admin: AdminAPI, tenant_id: int) -> None:
    """Wait out the last two minutes of a billing period: the workload's usage must fall in one."""
    usage = _usage(admin, tenant_id)
    left = _at(usage["end"]) - _at(usage["as_of"])
    if left < timedelta(minutes=2):
        time.sleep(left.total_seconds() + 1)


def _upstream_holdings(
    upstream_s3: Any, buckets: Iterable[str]
) -> tuple[dict[str, dict[str, int]], dict[str, dict[tuple[str, int], int]]]:
    objects: dict[str, dict[str, int]] = {}
    parts: dict[str, dict[tuple[str, int], int]] = {}
    for b in buckets:
        pages = upstream_s3.get_paginator("list_objects_v2").paginate(Bucket=b)
        objects[b] = {o["Key"]: o["Size"] for page in pages for o in page.get("Contents", [])}
        parts[b] = {}
        for upload in upstream_s3.list_multipart_uploads(Bucket=b).get("Uploads", []):
            listed = upstream_s3.list_parts(
                Bucket=b, Key=upload["Key"], UploadId=upload["UploadId"]
            )
            for p in listed.get("Parts", []):
                parts[b][(upload["Key"], p["PartNumber"])] = p["Size"]
    return objects, parts


def _storage(objects: dict[str, int], parts: dict[Any, int]) -> dict[str, int]:
    object_bytes, part_bytes = sum(objects.values()), sum(parts.values())
    return {
        "bytes": object_bytes + part_bytes,
        "objects": len(objects),
        "object_bytes": object_bytes,
        "parts": len(parts),
        "part_bytes": part_bytes,
    }


def _held(
    objects: dict[str, dict[str, int]], parts: dict[str, dict[tuple[str, int], int]]
) -> dict[str, int]:
    """Storage now as the usage API shows it for a tenant holding exactly these buckets."""
    per_bucket = [_storage(objects[b], parts[b]) for b in objects]
    return {"buckets": len(per_bucket)} | {
        k: sum(s[k] for s in per_bucket) for k in _storage({}, {})
    }


def _interrupted_download(s3: Any, bucket: str) -> int:
    """GetObject of big.bin: read INTERRUPT_AFTER bytes, then close the connection."""
    body = s3.get_object(Bucket=bucket, Key="big.bin")["Body"]
    read = 0
    while read < INTERRUPT_AFTER:
        chunk = body.read(INTERRUPT_AFTER - read)
        assert chunk, "the download ended early"
        read += len(chunk)
    body.close()  # urllib3 closes a connection left mid-body: the client hangs up
    return read


@pytest.fixture(scope="module")
def metered(
    admin_api: AdminAPI,
    gateway: Gateway,
    make_s3: Callable[..., Any],
    upstream_s3: Any,
    file_50mib: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Metered:
    """The workload, run once through the recorder for a fresh tenant, and its usage settled."""
    if gateway.tls is not None:
        pytest.skip("the recorder relays plain HTTP")
    tenant_id, key_a, key_b = _new_tenant(admin_api)
    _clear_of_period_end(admin_api, tenant_id)
    fresh = _usage(admin_api, tenant_id)
    assert fresh["totals"]["calls"] == 0 and fresh["storage_now"]["bytes"] == 0, fresh
    main = f"meter-{uuid.uuid4().hex[:12]}"
    other = f"meter-copy-{uuid.uuid4().hex[:8]}"
    foreign = f"meter-nobodys-{uuid.uuid4().hex[:8]}"  # no tenant owns it
    big = file_50mib.read_bytes()
    got: dict[str, bytes] = {}
    with Recorder(gateway) as recorder:
        s3 = make_s3(key=key_a, endpoint_url=recorder.url)
        s3_b = make_s3(key=key_b, endpoint_url=recorder.url)
        aws = aws_cli(tmp_path_factory.mktemp("aws-metering"), gateway, key_a)

        def cli(*args: str) -> None:
            done = aws(*args, endpoint=recorder.url)
            assert done.returncode == 0, f"{done.args}\n{done.stdout}\n{done.stderr}"

        started_at = datetime.now().astimezone()
        s3.create_bucket(Bucket=main)
        s3.create_bucket(Bucket=other)
        cli("s3", "cp", str(file_50mib), f"s3://{main}/big.bin")
        for key, sizes in SMALL.items():
            for size in sizes:
                s3.put_object(Bucket=main, Key=key, Body=key[0].encode() * size)
        cli("s3", "rm", f"s3://{main}/gone")
        deleted = s3.delete_objects(
            Bucket=main,
            Delete={"Objects": [{"Key": k} for k in ("multi/a", "multi/b", "multi/never")]},
        )
        # S3 reports a key that was not there as deleted too.
        assert sorted(d["Key"] for d in deleted["Deleted"]) == ["multi/a", "multi/b", "multi/never"]
        s3.copy_object(Bucket=other, Key="copy", CopySource={"Bucket": main, "Key": "src"})
        pending = s3.create_multipart_upload(Bucket=main, Key="pending")["UploadId"]
        s3.upload_part(
            Bucket=main, Key="pending", UploadId=pending, PartNumber=1, Body=b"p" * PENDING_PART
        )
        aborted = s3.create_multipart_upload(Bucket=main, Key="aborted")["UploadId"]
        for number, size in enumerate(ABORTED_PARTS, 1):
            s3.upload_part(
                Bucket=main, Key="aborted", UploadId=aborted, PartNumber=number, Body=b"a" * size
            )
        # Parts are storage until their upload ends: wait for the flush that shows what the
        # upstream holds now, both uploads' parts included.
        mid_upstream = _upstream_holdings(upstream_s3, [main, other])
        mid_held = _held(*mid_upstream)
        deadline = time.monotonic() + POLL_SECONDS
        while (mid := _usage(admin_api, tenant_id)["storage_now"]) != mid_held:
            if time.monotonic() > deadline:
                break
            time.sleep(0.2)
        s3.abort_multipart_upload(Bucket=main, Key="aborted", UploadId=aborted)
        changed_at = datetime.now().astimezone()

        for first, last in RANGES:
            got[f"big {first}-{last}"] = s3.get_object(
                Bucket=main, Key="big.bin", Range=f"bytes={first}-{last}"
            )["Body"].read()
        got["copy range"] = s3.get_object(
            Bucket=other, Key="copy", Range=f"bytes={COPY_RANGE[0]}-{COPY_RANGE[1]}"
        )["Body"].read()
        got["over"] = s3.get_object(Bucket=main, Key="over")["Body"].read()
        interrupted_read = _interrupted_download(s3_b, main)
        got["head"] = str(s3.head_object(Bucket=other, Key="copy")["ContentLength"]).encode()
        s3.list_objects_v2(Bucket=main)
        s3_b.list_objects_v2(Bucket=main)
        with pytest.raises(ClientError) as missing:  # the upstream's 404
            s3.get_object(Bucket=main, Key="never-stored")
        assert missing.value.response["Error"]["Code"] == "NoSuchKey"
        with pytest.raises(ClientError) as refused:  # BillFlow's own 403
            s3_b.get_bucket_location(Bucket=foreign)
        assert refused.value.response["Error"]["Code"] == "AccessDenied"
        assert {b["Name"] for b in s3_b.list_buckets()["Buckets"]} == {main, other}

        usage = _settled(admin_api, tenant_id, len(recorder.calls()))
        buckets_usage = _usage(admin_api, tenant_id, "/buckets")
        keys_usage = _usage(admin_api, tenant_id, "/keys")
        daily = _usage(admin_api, tenant_id, "/daily?days=2")
        time.sleep(1.0)
        usage_again = _usage(admin_api, tenant_id)
        calls = recorder.calls()
    objects, parts = _upstream_holdings(upstream_s3, [main, other])
    written = len(big) + sum(sum(s) for s in SMALL.values()) + SMALL["src"][0]
    return Metered(
        tenant_id=tenant_id,
        keys=(key_a, key_b),
        buckets={"service": "", "main": main, "other": other, "foreign": foreign},
        calls=calls,
        interrupted_read=interrupted_read,
        access_log=_access_log(gateway, {key_a.access_key_id, key_b.access_key_id}),
        mid_storage=mid,
        mid_upstream=mid_upstream,
        started_at=started_at,
        changed_at=changed_at,
        written_bytes=written + PENDING_PART + sum(ABORTED_PARTS),
        usage=usage,
        buckets_usage=buckets_usage,
        keys_usage=keys_usage,
        daily=daily,
        usage_again=usage_again,
        upstream_objects=objects,
        upstream_parts=parts,
        big=big,
        got=got,
    )


def _interrupted(m: Metered) -> tuple[Call, int]:
    """The interrupted download, and its bytes out as BillFlow logged them (more than reached
    the relay: the rest sat in socket buffers when the client hung up)."""
    (call,) = [c for c in m.calls if not c.complete]
    b = m.keys[1].access_key_id  # B's only GetObject
    (logged,) = [out for op, _, key, _, out in m.access_log if (op, key) == ("GetObject", b)]
    return call, logged


def _expected(m: Metered, kind: str) -> dict[str, dict[str, Any]]:
    """The wire's figures per `kind` label, the interrupted download counted as logged."""
    cut, logged = _interrupted(m)
    calls = [replace(c, bytes_out=logged) if c is cut else c for c in m.calls]
    return _tally(calls, lambda c: m.label(kind, c))


_FIELDS = ("calls", "billable_calls", "bytes_in", "bytes_out")


def _metered(m: Metered, kind: str) -> dict[str, dict[str, Any]]:
    """The usage API's figures per `kind` label."""
    if kind == "operation":
        return {
            op["operation"]: {f: op[f] for f in _FIELDS}
            | {"status_classes": {k: n for k, n in op["status_classes"].items() if n}}
            for op in m.usage["operations"]
        }
    if kind == "bucket":
        names = {name: label for label, name in m.buckets.items()}
        return {
            names.get(b["bucket"], b["bucket"]): {f: b[f] for f in _FIELDS}
            for b in m.buckets_usage["buckets"]
        }
    if kind == "key":
        ids = {k.access_key_id: label for k, label in zip(m.keys, "AB", strict=True)}
        return {
            ids.get(k["access_key_id"], k["access_key_id"]): {f: k[f] for f in _FIELDS}
            for k in m.keys_usage["keys"]
        }
    return {"all": m.usage["totals"]}


def _without(rows: dict[str, dict[str, Any]], name: str) -> dict[str, dict[str, Any]]:
    return {g: {f: v for f, v in row.items() if f != name} for g, row in rows.items()}


# -- the tests ---------------------------------------------------------------------------------

_ROWS = [
    *(("operation", op) for op in sorted(EXPECTED_CALLS)),
    *(("bucket", b) for b in ("service", "main", "other", "foreign")),
    ("key", "A"),
    ("key", "B"),
    ("totals", "all"),
]


def test_metering_workload_on_the_wire_is_the_scripted_one(metered: Metered) -> None:
    """What the clients really sent: aws-cli's 50 MiB upload is CreateMultipartUpload, 7
    UploadParts of 8 MiB (the last 2 MiB) and CompleteMultipartUpload, and nothing else."""
    m = metered
    by_op = _tally(m.calls, lambda c: c.operation)
    assert {op: t["status_classes"] for op, t in by_op.items()} == EXPECTED_CALLS
    cli_parts = [c.bytes_in for c in m.calls if c.operation == "UploadPart" and c.key == "big.bin"]
    sizes = [min(CHUNK, len(m.big) - at) for at in range(0, len(m.big), CHUNK)]
    assert len(sizes) == 7 and sorted(cli_parts) == sorted(sizes)
    assert by_op["PutObject"]["bytes_in"] == sum(sum(s) for s in SMALL.values())
    assert by_op["UploadPart"]["bytes_in"] == len(m.big) + PENDING_PART + sum(ABORTED_PARTS)
    # The clients got what they asked for, and the answered GETs sent exactly that.
    for first, last in RANGES:
        assert m.got[f"big {first}-{last}"] == m.big[first : last + 1]
    assert m.got["copy range"] == b"s" * (COPY_RANGE[1] - COPY_RANGE[0] + 1)
    assert m.got["over"] == b"o" * SMALL["over"][-1]
    assert m.got["head"] == str(SMALL["src"][0]).encode()
    sent = [
        c.bytes_out
        for c in m.calls
        if c.operation == "GetObject" and c.status < 300 and c.complete  # not the interrupted
    ]
    asked = [b - a + 1 for a, b in (*RANGES, COPY_RANGE)] + [SMALL["over"][-1]]
    assert sorted(sent) == sorted(asked)


@pytest.mark.parametrize("kind", ["operation", "bucket", "key", "totals"])
def test_metering_calls_and_bytes_in_are_exact(metered: Metered, kind: str) -> None:
    """Per operation (with calls per status class), bucket ("service" is ListBuckets) and
    access key, and in total: calls, billable calls (no 5xx here) and decoded bytes in
    (PutObject: the object sizes; UploadPart: the part sizes) are exactly the wire's."""
    expected = _without(_expected(metered, kind), "bytes_out")
    if kind != "operation":
        expected = _without(expected, "status_classes")
    assert _without(_metered(metered, kind), "bytes_out") == expected, metered.explain()


def test_metering_operations_billed_in_their_request_classes(metered: Metered) -> None:
    """Each operation is in its default request class (DELETEs and the abort free; PUT, POST,
    COPY and LIST write; GET and HEAD read), and the per-class calls add up."""
    classes = {op["operation"]: op["billing_class"] for op in metered.usage["operations"]}
    assert classes == BILLING_CLASSES
    counts = dict.fromkeys(("free", "read", "write"), 0)
    for c in metered.calls:
        counts[BILLING_CLASSES[c.operation]] += 1
    assert metered.usage["billing_classes"] == {
        cls: {"calls": n, "billable_calls": n} for cls, n in counts.items()
    }


@pytest.mark.parametrize(
    ("kind", "label"),
    [pytest.param(kind, label, id=f"{kind}-{label}") for kind, label in _ROWS],
)
def test_metering_bytes_out_are_exact(metered: Metered, kind: str, label: str) -> None:
    """Bytes out are the body bytes sent: GetObject's ranges count their length, HEAD and 204
    answers nothing, XML answers their documents, whether the upstream or BillFlow wrote them."""
    expected = _expected(metered, kind)[label]["bytes_out"]
    assert _metered(metered, kind)[label]["bytes_out"] == expected, metered.explain()


def test_metering_interrupted_download_counts_bytes_sent(metered: Metered) -> None:
    """A download the client hung up on counts the body bytes BillFlow sent: at least what the
    client read, less than the object; its status (200) stands."""
    m = metered
    cut, logged = _interrupted(m)
    assert cut.operation == "GetObject" and cut.status == 200
    assert m.interrupted_read <= cut.bytes_out <= logged < len(m.big), (m.interrupted_read, cut)


def test_metering_storage_now_equals_what_upstream_holds(metered: Metered) -> None:
    """Storage now is exactly the objects and pending parts the upstream holds: the overwrite
    replaced the old size, deletes removed what existed (a multi-delete's missing key removed
    nothing), the copy and the completed upload added their objects, the aborted parts left."""
    m = metered
    main, other = m.buckets["main"], m.buckets["other"]
    assert m.upstream_objects == {
        main: {"big.bin": len(m.big), "over": SMALL["over"][-1], "src": SMALL["src"][0]},
        other: {"copy": SMALL["src"][0]},
    }
    assert m.upstream_parts == {main: {("pending", 1): PENDING_PART}, other: {}}
    per_bucket = {b: _storage(m.upstream_objects[b], m.upstream_parts[b]) for b in (main, other)}
    assert m.usage["storage_now"] == _held(m.upstream_objects, m.upstream_parts), m.explain()
    now = {b["bucket"]: b["storage_now"] for b in m.buckets_usage["buckets"]}
    assert now == {"": None, m.buckets["foreign"]: None, **per_bucket}


def test_metering_parts_count_as_stored_until_aborted(metered: Metered) -> None:
    """Before the abort, both open uploads' parts were storage, as the upstream held them."""
    m = metered
    main = m.buckets["main"]
    objects, parts = m.mid_upstream
    assert objects == m.upstream_objects
    assert parts[main] == {
        ("pending", 1): PENDING_PART,
        **{("aborted", n): size for n, size in enumerate(ABORTED_PARTS, 1)},
    }
    assert m.mid_storage == _held(objects, parts), m.explain()


def test_metering_breakdowns_and_days_sum_to_totals(metered: Metered) -> None:
    """Per bucket, per access key and over the last two days, the figures sum to the totals."""
    m = metered
    totals = m.usage["totals"]
    for kind in ("bucket", "key"):
        rows = _metered(m, kind).values()
        assert {f: sum(r[f] for r in rows) for f in _FIELDS} == totals, kind
    days = m.daily["days"]
    assert len(days) == 2
    assert {f: sum(d[f] for d in days) for f in _FIELDS if f != "billable_calls"} == {
        f: totals[f] for f in _FIELDS if f != "billable_calls"
    }


def _gb_days(byte_seconds: int) -> str:
    value = Decimal(byte_seconds) / Decimal(GB_DAY_BYTE_SECONDS)
    return format(value.quantize(Decimal("0.000001"), rounding=ROUND_HALF_UP), "f")


def test_metering_gb_days_consistent_with_byte_seconds(metered: Metered) -> None:
    """Storage used so far is > 0 GB-days, is byte-seconds / (2**30 * 86400), lies between
    what was stored at least and at most over the workload, and grows by exactly the bytes
    stored now per second between readings (each reading floors to whole byte-seconds)."""
    m = metered
    used = m.usage["storage_used"]
    byte_seconds = int(used["byte_seconds"])
    assert used["gb_days"] == _gb_days(byte_seconds) and Decimal(used["gb_days"]) > 0
    as_of = _at(m.usage["as_of"])
    stored = int(m.usage["storage_now"]["bytes"])
    # Storage has been `stored` since the abort (its event is timed within moments of its
    # answer: a second of slack).
    quiet = (as_of - m.changed_at - timedelta(seconds=1)).total_seconds()
    assert stored * quiet <= byte_seconds
    assert byte_seconds <= m.written_bytes * (as_of - m.started_at).total_seconds()

    def predicted(at: str) -> float:
        return byte_seconds + stored * (_at(at) - as_of).total_seconds()

    readings = [
        (m.usage_again["as_of"], m.usage_again["storage_used"]["byte_seconds"]),
        (m.buckets_usage["as_of"], sum(b["byte_seconds"] for b in m.buckets_usage["buckets"])),
        (m.daily["as_of"], sum(d["byte_seconds"] for d in m.daily["days"])),
    ]
    slack = 2 * 2  # one floor per stored bucket in each of two readings (x2 across an hour)
    for at, value in readings:
        assert abs(value - predicted(at)) <= slack, (at, value, predicted(at))
    stored_in = {m.buckets["main"], m.buckets["other"]}
    for b in m.buckets_usage["buckets"]:
        assert b["gb_days"] == _gb_days(b["byte_seconds"])
        assert (b["byte_seconds"] > 0) == (b["bucket"] in stored_in), b
