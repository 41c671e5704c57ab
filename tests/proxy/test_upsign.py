"""upsign: the upstream signature, held byte for byte to botocore's S3SigV4Auth.

moto does not check signatures and MinIO is not here to do it, so these tests are what stands
between a wrong canonical request and every upstream request failing in production.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from urllib.parse import quote

import botocore.auth
import pytest
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from sigkit import TRICKY_KEYS

from proxy import sigv4
from proxy.upsign import UNSIGNED_HEADERS, UpstreamSigner

AKID = "AKIAIOSFODNN7EXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
REGION = "us-east-1"
HOST = "examplebucket.s3.amazonaws.com"
T0 = datetime(2013, 5, 24, tzinfo=UTC)
Headers = list[tuple[str, str]]


def signer(at: datetime = T0, region: str = REGION) -> UpstreamSigner:
    return UpstreamSigner(AKID, SECRET, region, clock=lambda: at.timestamp())


class _FixedPayload(S3SigV4Auth):
    def __init__(self, payload_hash: str, region: str) -> None:
        super().__init__(Credentials(AKID, SECRET), "s3", region)
        self._payload_hash = payload_hash

    def payload(self, request: AWSRequest) -> str:
        return self._payload_hash


def botocore_headers(
    monkeypatch: pytest.MonkeyPatch,
    method: str,
    path: str,
    query: str,
    headers: Headers,
    payload_hash: str,
    region: str = REGION,
) -> Headers:
    monkeypatch.setattr(
        botocore.auth, "get_current_datetime", lambda remove_tzinfo=True: datetime(2013, 5, 24)
    )
    url = f"https://{HOST}{path}" + (f"?{query}" if query else "")
    request = AWSRequest(method=method, url=url)
    for name, value in headers:
        request.headers.add_header(name, value)
    _FixedPayload(payload_hash, region).add_auth(request)
    return list(request.headers.items())


WELCOME = "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072"
#: "Signature Calculations for the Authorization Header: Transferring Payload in a Single
#: Chunk", its four examples: (method, path, query, headers, payload hash, signed, signature).
AWS_EXAMPLES: dict[str, tuple[str, str, str, Headers, str, str, str]] = {
    "GET Object": (
        "GET", "/test.txt", "", [("Host", HOST), ("Range", "bytes=0-9")], sigv4.EMPTY_SHA256,
        "host;range;x-amz-content-sha256;x-amz-date",
        "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
    ),
    "PUT Object": (
        "PUT", "/test%24file.text", "",
        [("Host", HOST), ("Date", "Fri, 24 May 2013 00:00:00 GMT"),
         ("x-amz-storage-class", "REDUCED_REDUNDANCY")],
        WELCOME,
        "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class",
        "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd",
    ),
    "GET Bucket Lifecycle": (
        "GET", "/", "lifecycle=", [("Host", HOST)], sigv4.EMPTY_SHA256,
        "host;x-amz-content-sha256;x-amz-date",
        "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543",
    ),
    "GET Bucket (List Objects)": (
        "GET", "/", "max-keys=2&prefix=J", [("Host", HOST)], sigv4.EMPTY_SHA256,
        "host;x-amz-content-sha256;x-amz-date",
        "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7",
    ),
}  # fmt: skip


@pytest.mark.parametrize("example", AWS_EXAMPLES.values(), ids=AWS_EXAMPLES.keys())
def test_aws_published_examples_reproduced(
    example: tuple[str, str, str, Headers, str, str, str],
) -> None:
    method, path, query, headers, payload_hash, signed, signature = example
    out = signer().sign(method, path, query, headers, payload_hash)
    assert dict(out)["Authorization"] == (
        f"AWS4-HMAC-SHA256 Credential={AKID}/20130524/us-east-1/s3/aws4_request, "
        f"SignedHeaders={signed}, Signature={signature}"
    )
    assert out[: len(headers)] == headers
    assert dict(out)["X-Amz-Date"] == "20130524T000000Z"
    assert dict(out)["X-Amz-Content-SHA256"] == payload_hash


QUERIES = [
    "",
    "uploads=",
    "acl=&versionId=3%2FL4kqtJlcpXroDTDmJ%2Bpp",
    "delimiter=%2F&list-type=2&prefix=&start-after=a%20b",
    "a=&a=1&a=2",
    "partNumber=3&uploadId=abc%2Bdef",
]
HEADER_SETS: list[Headers] = [
    [],
    [("Content-Type", "text/plain"), ("x-amz-meta-a", "  b   c  ")],
    [("x-amz-meta-repeat", "1"), ("X-Amz-Meta-Repeat", " 2 "), ("x-amz-meta-repeat", "3")],
    [("x-amz-meta-unicode", "ünïcödé ключ")],
    [("Content-MD5", "1B2M2Y8AsgTpgAmY7PhCfg=="), ("x-amz-checksum-crc32", "AAAAAA==")],
    [("User-Agent", "aws-cli/2"), ("Expect", "100-continue"), ("traceparent", "00-ab-cd-01")],
    [("x-amz-copy-source", "/src/a%20b"), ("x-amz-copy-source-range", "bytes=0-9")],
    [("Content-Encoding", "aws-chunked,gzip"), ("x-amz-trailer", "x-amz-checksum-crc32c")],
]
PAYLOADS = [
    sigv4.EMPTY_SHA256,
    sigv4.UNSIGNED_PAYLOAD,
    sigv4.STREAMING_UNSIGNED_TRAILER,
    "9e0e90d9c76de8fa5b200d8c849cd5b8dc7a3be3951ddb7f6a76b4158342019d",
]


@pytest.mark.parametrize("key", TRICKY_KEYS)
def test_matches_botocore_byte_for_byte(monkeypatch: pytest.MonkeyPatch, key: str) -> None:
    path = "/bucket/" + sigv4.aws_uri_encode(key, encode_slash=False)
    cases = itertools.product(["GET", "PUT", "HEAD"], QUERIES, HEADER_SETS, PAYLOADS)
    for i, (method, query, extra, payload_hash) in enumerate(cases):
        if i % 7:  # a spread of the 576 combinations per key keeps this quick
            continue
        headers = [("Host", HOST), *extra, ("Content-Length", str(i))]
        expected = botocore_headers(monkeypatch, method, path, query, headers, payload_hash)
        assert signer().sign(method, path, query, headers, payload_hash) == expected


def test_every_combination_for_one_key_matches_botocore(monkeypatch: pytest.MonkeyPatch) -> None:
    path = "/bucket/" + quote("a b/ü", safe="/")
    for query, extra, payload_hash in itertools.product(QUERIES, HEADER_SETS, PAYLOADS):
        headers = [("Host", "127.0.0.1:9000"), *extra]
        expected = botocore_headers(monkeypatch, "PUT", path, query, headers, payload_hash)
        assert signer().sign("PUT", path, query, headers, payload_hash) == expected


def test_other_region_matches_botocore(monkeypatch: pytest.MonkeyPatch) -> None:
    headers = [("Host", HOST)]
    expected = botocore_headers(
        monkeypatch, "GET", "/b/k", "", headers, sigv4.EMPTY_SHA256, region="eu-west-3"
    )
    assert signer(region="eu-west-3").sign("GET", "/b/k", "", headers, sigv4.EMPTY_SHA256) == (
        expected
    )


def test_unsigned_headers_are_botocores() -> None:
    assert frozenset(botocore.auth.SIGNED_HEADERS_BLACKLIST) == UNSIGNED_HEADERS


def test_our_verifier_accepts_what_it_signs() -> None:
    headers = [("Host", HOST), ("x-amz-meta-k", " v  w "), ("Content-Length", "4")]
    out = signer().sign("PUT", "/b/a%20b", "tagging=", headers, sigv4.UNSIGNED_PAYLOAD)
    req = sigv4.parse("PUT", "/b/a%20b", "tagging", out)
    assert req is not None
    sigv4.verify(req, SECRET, T0, region=REGION)


def test_timestamp_follows_the_clock() -> None:
    now = [T0.timestamp()]
    s = UpstreamSigner(AKID, SECRET, REGION, clock=lambda: now[0])
    first = dict(s.sign("GET", "/b", "", [("Host", HOST)], sigv4.EMPTY_SHA256))
    now[0] += 0.5
    same = dict(s.sign("GET", "/b", "", [("Host", HOST)], sigv4.EMPTY_SHA256))
    now[0] += 86_400  # the next day: a new date, a new scope and signing key
    later = dict(s.sign("GET", "/b", "", [("Host", HOST)], sigv4.EMPTY_SHA256))
    assert first == same
    assert first["X-Amz-Date"] == "20130524T000000Z"
    assert later["X-Amz-Date"] == "20130525T000000Z"
    assert "/20130525/us-east-1/s3/aws4_request" in later["Authorization"]
