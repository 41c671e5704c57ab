"""Tenant isolation as a property of the data model: every bucket has exactly one owning tenant.

Owns: the ownership decision for each request (every bucket it names must be the caller's),
CreateBucket and DeleteBucket bookkeeping around the upstream's answer, and ListBuckets answered
from the ledger. Bucket owners are cached for a few seconds ([s3] credential_cache_seconds);
changes made through this process update the cache at once.

Does not own: reading which buckets a request names (authz), the owner records (ledger), or
talking to the upstream (the caller passes what it learnt from it).

A bucket of another tenant, a bucket nobody owns (it exists upstream but was never created through
BillFlow, until an admin assigns it) and a bucket that does not exist all answer the same
403 AccessDenied, so a tenant cannot learn which names exist.
"""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime

from proxy import authz
from proxy.addressing import Target
from proxy.cache import TTLCache
from proxy.ledger import BucketTaken, Ledger
from proxy.s3errors import S3Error, S3ErrorCode
from proxy.s3xml import list_buckets_xml


class Isolation:
    def __init__(self, ledger: Ledger, ttl_seconds: float) -> None:
        self._ledger = ledger
        self._owners: TTLCache[int | None] = TTLCache(ttl_seconds)

    async def owner(self, bucket: str) -> int | None:
        return await self._owners.get(bucket, self._ledger.bucket_owner)

    def forget(self, bucket: str | None = None) -> None:
        """An admin changed ownership: the next request reads the ledger."""
        self._owners.forget(bucket)

    async def check(self, tenant_id: int, target: Target, headers: Mapping[str, str]) -> None:
        """Refuse unless every bucket the request names (copy source included) is the caller's."""
        for bucket in authz.buckets_named(target, headers):
            if await self.owner(bucket) != tenant_id:
                raise S3Error(S3ErrorCode.AccessDenied)

    async def before_create(
        self, tenant_id: int, bucket: str, exists_upstream: Callable[[], Awaitable[bool]]
    ) -> None:
        """CreateBucket: refuse names that are taken, in the ledger or (unowned) upstream.

        The upstream holds every tenant's buckets under one account, so it would answer "you
        already own it" (or, in us-east-1, 200) for a bucket that exists but belongs to nobody
        here; asking it first keeps such a bucket out of the tenant's hands until an admin
        assigns it.
        """
        owner = await self.owner(bucket)
        if owner == tenant_id:
            raise S3Error(S3ErrorCode.BucketAlreadyOwnedByYou, BucketName=bucket)
        if owner is not None or await exists_upstream():
            raise S3Error(S3ErrorCode.BucketAlreadyExists, BucketName=bucket)

    async def after_create(self, tenant_id: int, bucket: str, *, now: datetime) -> None:
        """The upstream created the bucket: record the owner (first registration wins)."""
        try:
            await self._ledger.register_bucket(bucket, tenant_id, now=now)
        except BucketTaken:
            # Another tenant's CreateBucket for the same name won the race: the bucket is theirs.
            self._owners.forget(bucket)
            raise S3Error(S3ErrorCode.BucketAlreadyExists, BucketName=bucket) from None
        self._owners.put(bucket, tenant_id)

    async def after_delete(self, tenant_id: int, bucket: str, *, now: datetime) -> None:
        """The upstream deleted the bucket: it belongs to nobody now."""
        await self._ledger.unregister_bucket(bucket, tenant_id, now=now)
        self._owners.put(bucket, None)

    async def list_buckets(
        self, tenant_id: int, tenant_name: str, query: Mapping[str, str], *, region: str
    ) -> bytes:
        """ListBuckets from the ledger, with S3's optional parameters: prefix, max-buckets
        (1-10000), continuation-token (opaque: the last name of the previous page) and
        bucket-region (all buckets live in the configured region)."""
        prefix = query.get("prefix")
        limit = _max_buckets(query.get("max-buckets"))
        after = _decode_token(query.get("continuation-token"))
        if query.get("bucket-region", region) != region:
            return list_buckets_xml(str(tenant_id), tenant_name, [], prefix=prefix)
        # The ledger pages by name; the prefix filter is applied to that sorted stream.
        names: list[tuple[str, datetime]] = []
        more = False
        for bucket in await self._ledger.list_buckets(tenant_id, after=after):
            if prefix and not bucket.name.startswith(prefix):
                continue
            if limit is not None and len(names) == limit:
                more = True
                break
            names.append((bucket.name, bucket.created_at))
        token = _encode_token(names[-1][0]) if more else None
        return list_buckets_xml(
            str(tenant_id), tenant_name, names, prefix=prefix, continuation_token=token
        )


def _max_buckets(value: str | None) -> int | None:
    if value is None:
        return None
    if not value.isdigit() or not 1 <= int(value) <= 10_000:
        raise S3Error(
            S3ErrorCode.InvalidArgument,
            "max-buckets must be an integer between 1 and 10000",
            ArgumentName="max-buckets",
            ArgumentValue=value,
        )
    return int(value)


def _encode_token(name: str) -> str:
    return base64.urlsafe_b64encode(name.encode()).decode()


def _decode_token(token: str | None) -> str:
    if not token:
        return ""
    try:
        return base64.urlsafe_b64decode(token.encode()).decode()
    except (ValueError, UnicodeDecodeError):
        raise S3Error(
            S3ErrorCode.InvalidArgument,
            "The continuation token provided is incorrect",
            ArgumentName="continuation-token",
        ) from None
