"""Isolation against a real ledger: ownership, create/delete bookkeeping, ListBuckets pages."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from proxy.addressing import Target
from proxy.crypto import SecretBox
from proxy.isolation import Isolation
from proxy.ledger import Ledger
from proxy.s3errors import S3Error, S3ErrorCode
from proxy.s3xml import S3_NAMESPACE

NOW = datetime(2026, 11, 25, tzinfo=UTC)
NS = {"s3": S3_NAMESPACE}


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[tuple[Ledger, Isolation, int, int]]:
    ledger = await Ledger.open(
        tmp_path / "l.sqlite3", SecretBox.from_text(SecretBox.generate_key())
    )
    a = (await ledger.create_tenant("a", now=NOW)).id
    b = (await ledger.create_tenant("b", now=NOW)).id
    for name in ("a-one", "a-two", "a-three", "x-four"):
        await ledger.register_bucket(name, a, now=NOW)
    yield ledger, Isolation(ledger, 60.0), a, b
    await ledger.close()


def _names(body: bytes) -> tuple[list[str], str | None]:
    root = ET.fromstring(body)
    names = [n.text or "" for n in root.findall("s3:Buckets/s3:Bucket/s3:Name", NS)]
    return names, root.findtext("s3:ContinuationToken", namespaces=NS)


async def test_isolation_list_buckets_pages_with_prefix_and_token(
    world: tuple[Ledger, Isolation, int, int],
) -> None:
    _, iso, a, _ = world
    first, token = _names(
        await iso.list_buckets(a, "a", {"prefix": "a-", "max-buckets": "2"}, region="r")
    )
    assert first == ["a-one", "a-three"] and token is not None
    rest, token = _names(
        await iso.list_buckets(
            a, "a", {"prefix": "a-", "max-buckets": "2", "continuation-token": token}, region="r"
        )
    )
    assert rest == ["a-two"] and token is None


async def test_isolation_list_buckets_other_region_is_empty(
    world: tuple[Ledger, Isolation, int, int],
) -> None:
    _, iso, a, _ = world
    names, _ = _names(await iso.list_buckets(a, "a", {"bucket-region": "elsewhere"}, region="r"))
    assert names == []


@pytest.mark.parametrize("value", ["0", "10001", "x"])
async def test_isolation_list_buckets_bad_max_buckets_refused(
    world: tuple[Ledger, Isolation, int, int], value: str
) -> None:
    _, iso, a, _ = world
    with pytest.raises(S3Error) as err:
        await iso.list_buckets(a, "a", {"max-buckets": value}, region="r")
    assert err.value.code is S3ErrorCode.InvalidArgument


async def test_isolation_other_tenants_bucket_and_copy_source_refused(
    world: tuple[Ledger, Isolation, int, int],
) -> None:
    _, iso, a, b = world
    target = Target(bucket="a-one", key="k", style="path")
    await iso.check(a, target, {})
    with pytest.raises(S3Error) as err:
        await iso.check(b, target, {})
    assert err.value.code is S3ErrorCode.AccessDenied
    await iso.after_create(b, "b-own", now=NOW)
    own = Target(bucket="b-own", key="k", style="path")
    with pytest.raises(S3Error):
        await iso.check(b, own, {"x-amz-copy-source": "/a-one/secret"})


async def test_isolation_create_taken_names_answer_like_s3(
    world: tuple[Ledger, Isolation, int, int],
) -> None:
    _, iso, a, b = world

    async def absent() -> bool:
        return False

    async def present() -> bool:
        return True

    with pytest.raises(S3Error) as err:
        await iso.before_create(a, "a-one", absent)
    assert err.value.code is S3ErrorCode.BucketAlreadyOwnedByYou
    with pytest.raises(S3Error) as err:
        await iso.before_create(b, "a-one", absent)
    assert err.value.code is S3ErrorCode.BucketAlreadyExists
    with pytest.raises(S3Error) as err:  # exists upstream, owned by nobody: not claimable
        await iso.before_create(b, "made-behind-our-back", present)
    assert err.value.code is S3ErrorCode.BucketAlreadyExists
    await iso.before_create(b, "free-name", absent)


async def test_isolation_delete_frees_the_name(world: tuple[Ledger, Isolation, int, int]) -> None:
    ledger, iso, a, b = world
    await iso.after_delete(a, "a-two", now=NOW)
    assert await ledger.bucket_owner("a-two") is None
    await iso.after_create(b, "a-two", now=NOW)
    assert await iso.owner("a-two") == b
