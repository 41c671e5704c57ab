"""exchange: what an access-log line may show of a request target."""

from __future__ import annotations

import pytest

from proxy.exchange import loggable_target, new_request_id


@pytest.mark.parametrize(
    ("raw", "logged"),
    [
        ("/bucket/key", "/bucket/key"),
        ("/bucket/key?uploads", "/bucket/key?uploads"),
        ("/b/k?X-Amz-Signature=ab12&x=1", "/b/k?X-Amz-Signature=REDACTED&x=1"),
        ("/b/k?a=1&x-amz-signature=ab12", "/b/k?a=1&x-amz-signature=REDACTED"),
        (
            "/b/k?AWSAccessKeyId=A&Signature=c2ln%3D&Expires=1",
            "/b/k?AWSAccessKeyId=A&Signature=REDACTED&Expires=1",
        ),
        ("/b/Signature=key-name", "/b/Signature=key-name"),  # a key, not a parameter
    ],
)
def test_loggable_target_redacts_signatures_only(raw: str, logged: str) -> None:
    assert loggable_target(raw) == logged


def test_request_ids_unique_and_s3_shaped() -> None:
    ids = {new_request_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(len(i) == 16 and i == i.upper() for i in ids)
