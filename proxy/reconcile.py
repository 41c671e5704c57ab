"""Reconciliation: compare what the ledger says each metered bucket holds with what the upstream
really holds, correct the ledger and record each correction.

Owns: listing a bucket upstream (every object version and delete marker, every multipart upload
in progress and its parts, page by page) and handing the result to the ledger, one bucket at a
time. Finds what changed behind BillFlow's back (objects written or deleted directly on MinIO)
and what a crash lost (a SIGKILL drops up to one meter interval of storage events).

Does not own: the comparison and the correction record (ledger_usage.reconcile, one
transaction per bucket), when it runs (scheduler, admin API), signing (forward).

A write that lands while a bucket is being listed may be missed by the listing; its own meter
event still arrives, and the next run settles it. In a versioned bucket (only ever one assigned
from outside: BillFlow refuses PutBucketVersioning) each non-null version counts under
"key\\0version-id".
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Awaitable, Callable
from datetime import datetime

from proxy import addressing, s3xml, sigv4
from proxy.forward import Upstream, UpstreamRequest
from proxy.ledger import Ledger
from proxy.log import server_logger
from proxy.usage import Correction, ObservedBucket

Clock = Callable[[], datetime]


class UpstreamListingError(Exception):
    """The upstream did not answer a listing with a document we can read."""


class Reconciler:
    def __init__(
        self,
        ledger: Ledger,
        upstream: Upstream,
        clock: Clock,
        before: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self._ledger = ledger
        self._upstream = upstream
        self._clock = clock
        # Run before listing (the meter's flush), so events already metered are not reported
        # as corrections.
        self._before = before

    async def run(self) -> list[Correction]:
        """Reconcile every metered bucket; a bucket that fails is logged and skipped."""
        if self._before is not None:
            await self._before()
        corrections = []
        for st in await self._ledger.usage.metered_buckets():
            try:
                correction = await self.bucket(st.bucket)
            except Exception:
                server_logger.exception("reconciling bucket %s failed; skipped", st.bucket)
                continue
            if correction is not None:
                server_logger.warning(
                    "reconciliation corrected bucket %s: %d objects / %d bytes -> %d / %d",
                    correction.bucket, correction.objects_before, correction.bytes_before,
                    correction.objects_after, correction.bytes_after,
                )  # fmt: skip
                corrections.append(correction)
        return corrections

    async def bucket(self, bucket: str) -> Correction | None:
        started = self._clock()
        observed = ObservedBucket(await self._objects(bucket), await self._parts(bucket))
        return await self._ledger.usage.reconcile(
            bucket, observed, now=self._clock(), listed_from=started
        )

    async def _objects(self, bucket: str) -> dict[str, int]:
        objects: dict[str, int] = {}
        markers: tuple[str, ...] | None = ("", "")
        while markers is not None:
            params = _with_markers({"versions": ""}, key=markers[0], version=markers[1])
            page, markers = s3xml.versions_page(await self._get(bucket, None, params))
            for key, version_id, size in page:
                objects[key if version_id == "null" else f"{key}\0{version_id}"] = size
        return objects

    async def _parts(self, bucket: str) -> dict[tuple[str, int], int]:
        uploads: list[tuple[str, str]] = []
        markers: tuple[str, ...] | None = ("", "")
        while markers is not None:
            params = _with_markers({"uploads": ""}, key=markers[0], upload=markers[1])
            page, markers = s3xml.uploads_page(await self._get(bucket, None, params))
            uploads.extend(page)
        parts: dict[tuple[str, int], int] = {}
        for key, upload_id in uploads:
            marker: tuple[str, ...] | None = ("",)
            while marker is not None:
                params = _with_markers({"uploadId": upload_id}, part=marker[0])
                page_parts, marker = s3xml.parts_page(await self._get(bucket, key, params))
                for number, size in page_parts:
                    parts[(upload_id, number)] = size
        return parts

    async def _get(self, bucket: str, key: str | None, params: dict[str, str]) -> bytes:
        raw_query = urllib.parse.urlencode(params, quote_via=urllib.parse.quote)
        request = UpstreamRequest.own(
            "GET",
            addressing.upstream_path(addressing.Target(bucket, key, "path")),
            sigv4.canonical_query_string(raw_query),
        )
        async with await self._upstream.open(request) as resp:
            body = await resp.read()
            if resp.status != 200:
                raise UpstreamListingError(
                    f"{bucket}: listing answered {resp.status}: {body[:200]!r}"
                )
        return body


_MARKERS = {
    "key": "key-marker",
    "version": "version-id-marker",
    "upload": "upload-id-marker",
    "part": "part-number-marker",
}


def _with_markers(params: dict[str, str], **markers: str) -> dict[str, str]:
    """Only markers with a value: the first page sends none (moto skips the first key when
    given an empty key-marker; no client sends one)."""
    return params | {_MARKERS[name]: value for name, value in markers.items() if value}
