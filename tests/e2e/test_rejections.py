"""What BillFlow must refuse, and prove it refused before the upstream stored anything.

Requests are signed by botocore's own SigV4 signers (at a chosen instant) and sent with
http.client, so each test controls the bytes. moto checks no signature and stores whatever it is
sent (MOTO.md), so every rejected upload is followed by a look at moto itself: the object must not
exist. Each valid twin (`test_valid_upload_...`) proves the same request shape is accepted when
nothing is wrong, so a rejection is BillFlow's verdict on the defect and not on our encoding.
After every rejection BillFlow must still answer a valid request.
"""

from __future__ import annotations

import base64
import os
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from .harness import MiB, TenantKey
from .s3wire import (
    STREAMING_SIGNED,
    STREAMING_SIGNED_TRAILER,
    STREAMING_UNSIGNED_TRAILER,
    UNSIGNED_PAYLOAD,
    Reply,
    Signed,
    Upload,
    Wire,
    assert_not_stored,
    aws_chunked,
    chunked_length,
    chunked_put,
    crc32_b64,
    exchange,
    expect_error,
    key_path,
    md5_b64,
    request_bytes,
    simple_put,
)

pytestmark = pytest.mark.e2e

KiB = 1024
#: 150 KiB: two full 64 KiB chunks and a 22 KiB one, so a defect in the last chunk arrives after
#: BillFlow could already have forwarded 128 KiB.
DATA = os.urandom(150 * KiB)
OTHER_SECRET = "0" * 40
#: Object contents no error document could echo by chance (bucket names hold test names).
CONTENTS = os.urandom(24).hex().encode()
OTHER_CONTENTS = os.urandom(24).hex().encode()


def rejected(reply: Reply, status: int, code: str | set[str], wire: Wire) -> dict[str, str]:
    """`reply` is this S3 error, and BillFlow still serves a valid request afterwards."""
    error = expect_error(reply, status, code)
    wire.assert_serving()
    return error


def test_chunk_encoder_reproduces_aws_published_example() -> None:
    """(Self-check of this module, no server.) botocore's signer and our aws-chunked encoder
    give the seed and chunk signatures of the example on AWS's "Transferring Payload in Multiple
    Chunks" page."""
    wire = Wire(
        "s3.amazonaws.com", 80, "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    )
    signed = wire.sign(
        "PUT",
        "/examplebucket/chunkObject.txt",
        host="s3.amazonaws.com",
        payload=STREAMING_SIGNED,
        at=datetime(2013, 5, 24, tzinfo=UTC),
        headers=[
            ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
            ("Content-Encoding", "aws-chunked"),
            ("x-amz-decoded-content-length", "66560"),
            ("Content-Length", "66824"),
        ],
    )
    assert signed.signature == "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"
    body = aws_chunked(b"a" * 66560, chunk_size=65536, seed=signed)
    assert len(body) == 66824 == chunked_length(66560, 65536, signed=True)
    assert re.findall(rb"chunk-signature=([0-9a-f]{64})", body) == [
        b"ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
        b"0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
        b"b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9",
    ]


VALID_MODES = {
    "sha256": lambda w, t: Upload(simple_put(w, t, DATA), DATA),
    "unsigned-payload": lambda w, t: Upload(simple_put(w, t, DATA, payload=UNSIGNED_PAYLOAD), DATA),
    "streaming-signed": lambda w, t: chunked_put(w, t, DATA, STREAMING_SIGNED),
    "streaming-unsigned-trailer": lambda w, t: chunked_put(w, t, DATA, STREAMING_UNSIGNED_TRAILER),
    "streaming-unsigned-trailer-transfer-chunked": lambda w, t: chunked_put(
        w, t, DATA, STREAMING_UNSIGNED_TRAILER, transfer_chunked=True
    ),
    "streaming-signed-trailer": lambda w, t: chunked_put(w, t, DATA, STREAMING_SIGNED_TRAILER),
}


@pytest.mark.parametrize("mode", list(VALID_MODES))
def test_valid_upload_each_payload_mode_stored_exactly(
    wire: Wire, upstream_s3: Any, bucket: str, mode: str
) -> None:
    """A correctly signed PUT in each payload mode is stored upstream as exactly the decoded
    bytes (no chunk framing, no padding)."""
    upload = VALID_MODES[mode](wire, key_path(bucket, "valid"))
    reply = wire.send(upload.signed, upload.body)
    assert reply.status == 200, reply.describe()
    stored = upstream_s3.get_object(Bucket=bucket, Key="valid")
    assert stored["ContentLength"] == len(DATA)
    assert stored["Body"].read() == DATA
    assert "aws-chunked" not in stored.get("ContentEncoding", "")


# --- who is asking ---------------------------------------------------------------------------


def test_wrong_secret_answers_signature_does_not_match(
    wire: Wire, upstream_s3: Any, tenant: TenantKey, bucket: str
) -> None:
    """A signature made with the wrong secret gets 403 SignatureDoesNotMatch carrying the
    StringToSign and CanonicalRequest BillFlow computed (equal to the client's, since only the
    secret differs) and never the secret; nothing is stored."""
    signed = simple_put(wire, key_path(bucket, "k"), b"data", secret_key=OTHER_SECRET)
    reply = wire.send(signed)
    error = rejected(reply, 403, "SignatureDoesNotMatch", wire)
    assert error.get("StringToSign") == signed.string_to_sign
    assert error.get("CanonicalRequest") == signed.canonical_request
    everything = reply.body + str(reply.headers).encode()
    assert tenant.secret_access_key.encode() not in everything
    assert OTHER_SECRET.encode() not in everything
    assert_not_stored(upstream_s3, bucket, "k")


def test_unknown_access_key_answers_invalid_access_key_id(
    wire: Wire, upstream_s3: Any, bucket: str
) -> None:
    """An access key id BillFlow never issued gets 403 InvalidAccessKeyId; nothing is stored."""
    signed = simple_put(wire, key_path(bucket, "k"), b"data", access_key="AKIANOTISSUEDBYUS000")
    rejected(wire.send(signed), 403, "InvalidAccessKeyId", wire)
    assert_not_stored(upstream_s3, bucket, "k")


@pytest.mark.parametrize("method", ["GET-object", "PUT-object", "GET-service"])
def test_anonymous_request_answers_access_denied(
    wire: Wire, upstream_s3: Any, bucket: str, method: str
) -> None:
    """A request without any signature gets 403 AccessDenied (moto would serve it), and an
    anonymous PUT stores nothing."""
    upstream_s3.put_object(Bucket=bucket, Key="private", Body=CONTENTS)
    host = [("Host", wire.netloc)]
    if method == "GET-object":
        reply = wire.raw("GET", key_path(bucket, "private"), host)
        assert CONTENTS not in reply.body
    elif method == "PUT-object":
        reply = wire.raw("PUT", key_path(bucket, "anon"), [*host, ("Content-Length", "4")], b"anon")
    else:
        reply = wire.raw("GET", "/", host)
    rejected(reply, 403, "AccessDenied", wire)
    assert_not_stored(upstream_s3, bucket, "anon", settle=0)


@pytest.mark.parametrize(
    ("skew", "accepted"),
    [(-20, False), (20, False), (-10, True), (10, True)],
    ids=["20-min-slow", "20-min-fast", "10-min-slow", "10-min-fast"],
)
def test_clock_skew_beyond_15_minutes_answers_request_time_too_skewed(
    wire: Wire, upstream_s3: Any, bucket: str, skew: int, accepted: bool
) -> None:
    """A request signed more than 15 minutes from BillFlow's clock gets 403
    RequestTimeTooSkewed and stores nothing; within 15 minutes it is accepted."""
    at = datetime.now(UTC) + timedelta(minutes=skew)
    reply = wire.send(simple_put(wire, key_path(bucket, "k"), b"data", at=at))
    if accepted:
        assert reply.status == 200, reply.describe()
        return
    rejected(reply, 403, "RequestTimeTooSkewed", wire)
    assert_not_stored(upstream_s3, bucket, "k")


def test_region_mismatch_answers_authorization_header_malformed(
    wire: Wire, upstream_s3: Any, bucket: str
) -> None:
    """A credential scope naming another region gets 400 AuthorizationHeaderMalformed."""
    reply = wire.send(simple_put(wire, key_path(bucket, "k"), b"data", region="eu-west-1"))
    rejected(reply, 400, "AuthorizationHeaderMalformed", wire)
    assert_not_stored(upstream_s3, bucket, "k")


def test_scope_for_another_service_is_refused(wire: Wire, upstream_s3: Any, bucket: str) -> None:
    """A credential scope naming a service other than s3 gets 400 AuthorizationHeaderMalformed
    (moto would route it to that service)."""
    reply = wire.send(simple_put(wire, key_path(bucket, "k"), b"data", service="sts"))
    rejected(reply, 400, "AuthorizationHeaderMalformed", wire)
    assert_not_stored(upstream_s3, bucket, "k")


MALFORMED_AUTHORIZATION = {
    "algorithm-only": ("AWS4-HMAC-SHA256", {"AuthorizationHeaderMalformed"}),
    "no-signature": (
        "AWS4-HMAC-SHA256 Credential={key}/{date}/us-east-1/s3/aws4_request, "
        "SignedHeaders=host;x-amz-content-sha256;x-amz-date",
        {"AuthorizationHeaderMalformed"},
    ),
    "short-scope": (
        "AWS4-HMAC-SHA256 Credential={key}/{date}/us-east-1, "
        "SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=" + "0" * 64,
        {"AuthorizationHeaderMalformed"},
    ),
    "unknown-scheme": ("Bearer abc.def.ghi", {"AuthorizationHeaderMalformed", "InvalidArgument"}),
}


@pytest.mark.parametrize("case", list(MALFORMED_AUTHORIZATION))
def test_malformed_authorization_answers_400(
    wire: Wire, upstream_s3: Any, bucket: str, case: str
) -> None:
    """An Authorization header that can't be parsed gets a 400 S3 error; nothing is stored."""
    template, codes = MALFORMED_AUTHORIZATION[case]
    signed = simple_put(wire, key_path(bucket, "k"), b"data")
    authorization = template.format(key=wire.access_key, date=signed.timestamp[:8])
    reply = wire.send(signed, replace_headers=[("Authorization", authorization)])
    rejected(reply, 400, codes, wire)
    assert_not_stored(upstream_s3, bucket, "k")


def test_head_error_has_no_body(wire: Wire, bucket: str) -> None:
    """A HEAD that fails authentication answers 403 with headers only (x-amz-request-id among
    them) and not one body byte on the wire."""
    signed = wire.sign("HEAD", key_path(bucket, "k"), secret_key=OTHER_SECRET)
    raw = exchange(wire.host, wire.port, request_bytes(signed, extra=[("Connection", "close")]))
    head, _, rest = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 403"), raw[:500]
    assert re.search(rb"(?im)^x-amz-request-id: *\S+", head), head
    assert rest == b"", raw[:1000]
    wire.assert_serving()


# --- presigned URLs --------------------------------------------------------------------------


def test_presigned_url_valid_is_served(wire: Wire, upstream_s3: Any, bucket: str) -> None:
    """A SigV4 presigned GET within its expiry returns the object."""
    upstream_s3.put_object(Bucket=bucket, Key="p k+1", Body=CONTENTS)
    reply = wire.get(wire.presign("GET", key_path(bucket, "p k+1")))
    assert (reply.status, reply.body) == (200, CONTENTS), reply.describe()


def test_presigned_url_expired_answers_access_denied(
    wire: Wire, upstream_s3: Any, bucket: str
) -> None:
    """A presigned URL past X-Amz-Date + X-Amz-Expires gets 403 AccessDenied."""
    upstream_s3.put_object(Bucket=bucket, Key="p", Body=CONTENTS)
    target = wire.presign(
        "GET", key_path(bucket, "p"), expires=60, at=datetime.now(UTC) - timedelta(minutes=10)
    )
    reply = wire.get(target)
    assert CONTENTS not in reply.body
    rejected(reply, 403, "AccessDenied", wire)


def test_presigned_url_expires_over_7_days_is_refused(
    wire: Wire, upstream_s3: Any, bucket: str
) -> None:
    """X-Amz-Expires above 604800 seconds gets 400 AuthorizationQueryParametersError."""
    upstream_s3.put_object(Bucket=bucket, Key="p", Body=CONTENTS)
    reply = wire.get(wire.presign("GET", key_path(bucket, "p"), expires=604801))
    rejected(reply, 400, "AuthorizationQueryParametersError", wire)


def test_presigned_url_wrong_signature_answers_signature_does_not_match(
    wire: Wire, upstream_s3: Any, bucket: str
) -> None:
    """A presigned URL signed with another secret, or for another key, gets 403
    SignatureDoesNotMatch."""
    upstream_s3.put_object(Bucket=bucket, Key="p", Body=CONTENTS)
    upstream_s3.put_object(Bucket=bucket, Key="q", Body=OTHER_CONTENTS)
    reply = wire.get(wire.presign("GET", key_path(bucket, "p"), secret_key=OTHER_SECRET))
    rejected(reply, 403, "SignatureDoesNotMatch", wire)
    moved = wire.presign("GET", key_path(bucket, "p")).replace(f"/{bucket}/p?", f"/{bucket}/q?")
    reply = wire.get(moved)
    assert OTHER_CONTENTS not in reply.body
    rejected(reply, 403, "SignatureDoesNotMatch", wire)


def test_presigned_put_wrong_signature_stores_nothing(
    wire: Wire, upstream_s3: Any, bucket: str
) -> None:
    """A presigned PUT with a bad signature gets 403 SignatureDoesNotMatch; nothing is stored."""
    target = wire.presign("PUT", key_path(bucket, "k"), secret_key=OTHER_SECRET)
    reply = wire.raw("PUT", target, [("Host", wire.netloc), ("Content-Length", "4")], b"data")
    rejected(reply, 403, "SignatureDoesNotMatch", wire)
    assert_not_stored(upstream_s3, bucket, "k")


# --- what was signed is what arrives -------------------------------------------------------


def test_signed_header_changed_answers_signature_does_not_match(
    wire: Wire, upstream_s3: Any, bucket: str
) -> None:
    """Changing a signed header after signing gets 403 SignatureDoesNotMatch; nothing stored."""
    signed = simple_put(
        wire, key_path(bucket, "k"), b"data", headers=[("x-amz-meta-colour", "blue")]
    )
    reply = wire.send(signed, replace_headers=[("x-amz-meta-colour", "red")])
    rejected(reply, 403, "SignatureDoesNotMatch", wire)
    assert_not_stored(upstream_s3, bucket, "k")


def test_unsigned_amz_header_is_refused(wire: Wire, upstream_s3: Any, bucket: str) -> None:
    """An x-amz-* header added outside SignedHeaders gets 403 AccessDenied, as S3 requires
    every x-amz-* header to be signed (else a captured PUT could be replayed as a copy)."""
    upstream_s3.put_object(Bucket=bucket, Key="source", Body=b"someone else's")
    signed = simple_put(wire, key_path(bucket, "k"), b"")
    reply = wire.send(signed, extra_headers=[("x-amz-copy-source", f"/{bucket}/source")])
    rejected(reply, 403, "AccessDenied", wire)
    assert_not_stored(upstream_s3, bucket, "k")


@pytest.mark.parametrize("size", [2 * MiB, 9 * MiB], ids=["2MiB", "9MiB-digested-off-loop"])
def test_body_changed_in_sha256_mode_answers_content_sha256_mismatch(
    wire: Wire, upstream_s3: Any, bucket: str, size: int
) -> None:
    """A body whose last byte differs from the one hashed into x-amz-content-sha256 gets 400
    XAmzContentSHA256Mismatch and is never stored; 9 MiB is past bodies.OFFLOAD_BYTES, so
    its SHA-256 is computed by the digest workers in batches."""
    data = os.urandom(size)
    signed = simple_put(wire, key_path(bucket, "k"), data)
    tampered = data[:-1] + bytes([data[-1] ^ 1])
    rejected(wire.send(signed, tampered), 400, "XAmzContentSHA256Mismatch", wire)
    assert_not_stored(upstream_s3, bucket, "k")


def _unsent_hash_put(wire: Wire, target: str, data: bytes) -> Signed:
    """SigV4 header auth as curl --aws-sigv4 signs a PUT: the canonical request ends with the
    body's SHA-256, but no x-amz-content-sha256 header is sent (botocore's generic signer)."""
    return wire.sign(
        "PUT",
        target,
        headers=[("Content-Length", str(len(data)))],
        body=data,
        content_sha256_header=False,
    )


def test_content_sha256_header_missing_signed_body_hash_is_served(
    wire: Wire, upstream_s3: Any, bucket: str
) -> None:
    """SigV4 header auth without x-amz-content-sha256 whose signature covers the body's SHA-256
    (what curl sends) is served: BillFlow hashes the body to check it; stored exactly."""
    reply = wire.send(_unsent_hash_put(wire, key_path(bucket, "k"), CONTENTS))
    assert reply.status == 200, reply.describe()
    assert upstream_s3.get_object(Bucket=bucket, Key="k")["Body"].read() == CONTENTS


def test_content_sha256_header_missing_body_changed_answers_signature_does_not_match(
    wire: Wire, upstream_s3: Any, bucket: str
) -> None:
    """The same with a body other than the one signed gets 403 SignatureDoesNotMatch; nothing
    is stored."""
    signed = _unsent_hash_put(wire, key_path(bucket, "k"), CONTENTS)
    rejected(wire.send(signed, OTHER_CONTENTS), 403, "SignatureDoesNotMatch", wire)
    assert_not_stored(upstream_s3, bucket, "k")


def test_content_sha256_header_missing_large_body_is_refused(
    wire: Wire, upstream_s3: Any, bucket: str
) -> None:
    """Without x-amz-content-sha256, a 2 MiB body (more than BillFlow holds in memory to hash
    before the signature is known good) gets 400 (S3: InvalidRequest, the header is required);
    nothing is stored."""
    data = os.urandom(2 * MiB)
    signed = _unsent_hash_put(wire, key_path(bucket, "k"), data)
    rejected(wire.send(signed), 400, {"InvalidRequest", "InvalidArgument"}, wire)
    assert_not_stored(upstream_s3, bucket, "k")


def test_content_sha256_header_garbage_is_refused(
    wire: Wire, upstream_s3: Any, bucket: str
) -> None:
    """An x-amz-content-sha256 that is neither hex SHA-256 nor a known mode gets 400 (S3:
    InvalidArgument)."""
    signed = simple_put(wire, key_path(bucket, "k"), b"data", payload="not-a-hash")
    rejected(wire.send(signed), 400, {"InvalidArgument", "InvalidRequest"}, wire)
    assert_not_stored(upstream_s3, bucket, "k")


def test_chunk_tampered_in_streaming_signed_mode_answers_signature_does_not_match(
    wire: Wire, upstream_s3: Any, bucket: str
) -> None:
    """STREAMING-AWS4-HMAC-SHA256-PAYLOAD with the last data chunk changed after signing gets
    403 SignatureDoesNotMatch and is never stored (earlier chunks were valid)."""
    upload = chunked_put(wire, key_path(bucket, "k"), DATA, STREAMING_SIGNED, tamper_chunk=2)
    rejected(wire.send(upload.signed, upload.body), 403, "SignatureDoesNotMatch", wire)
    assert_not_stored(upstream_s3, bucket, "k")


def test_decoded_length_larger_than_data_is_refused(
    wire: Wire, upstream_s3: Any, bucket: str
) -> None:
    """aws-chunked data shorter than x-amz-decoded-content-length is refused with a 4xx and not
    stored (moto would pad the object with zeros)."""
    upload = chunked_put(
        wire, key_path(bucket, "k"), DATA, STREAMING_SIGNED, decoded_length=len(DATA) + 10
    )
    reply = wire.send(upload.signed, upload.body)
    assert 400 <= reply.status < 500, reply.describe()
    rejected(reply, reply.status, {"IncompleteBody", "InvalidRequest", "InvalidArgument"}, wire)
    assert_not_stored(upstream_s3, bucket, "k")


@pytest.mark.parametrize(
    "transfer_chunked", [False, True], ids=["content-length", "transfer-chunked"]
)
def test_trailer_checksum_wrong_in_unsigned_trailer_mode_answers_bad_digest(
    wire: Wire, upstream_s3: Any, bucket: str, transfer_chunked: bool
) -> None:
    """STREAMING-UNSIGNED-PAYLOAD-TRAILER with an x-amz-checksum-crc32 trailer that doesn't
    match the data gets 400 BadDigest and is never stored."""
    upload = chunked_put(
        wire,
        key_path(bucket, "k"),
        DATA,
        STREAMING_UNSIGNED_TRAILER,
        checksum=crc32_b64(b"other data"),
        transfer_chunked=transfer_chunked,
    )
    rejected(wire.send(upload.signed, upload.body), 400, "BadDigest", wire)
    assert_not_stored(upstream_s3, bucket, "k")


def test_trailer_signature_wrong_in_signed_trailer_mode_answers_signature_does_not_match(
    wire: Wire, upstream_s3: Any, bucket: str
) -> None:
    """STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER with a wrong x-amz-trailer-signature gets 403
    SignatureDoesNotMatch and is never stored."""
    upload = chunked_put(
        wire, key_path(bucket, "k"), DATA, STREAMING_SIGNED_TRAILER, trailer_signature="0" * 64
    )
    rejected(wire.send(upload.signed, upload.body), 403, "SignatureDoesNotMatch", wire)
    assert_not_stored(upstream_s3, bucket, "k")


def test_trailer_checksum_wrong_in_signed_trailer_mode_answers_bad_digest(
    wire: Wire, upstream_s3: Any, bucket: str
) -> None:
    """STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER whose (correctly signed) crc32 trailer doesn't
    match the data gets 400 BadDigest and is never stored."""
    upload = chunked_put(
        wire, key_path(bucket, "k"), DATA, STREAMING_SIGNED_TRAILER, checksum=crc32_b64(b"other")
    )
    rejected(wire.send(upload.signed, upload.body), 400, "BadDigest", wire)
    assert_not_stored(upstream_s3, bucket, "k")


@pytest.mark.parametrize("payload", ["sha256", UNSIGNED_PAYLOAD])
def test_body_shorter_than_content_length_stores_nothing(
    wire: Wire, upstream_s3: Any, bucket: str, payload: str
) -> None:
    """A client that sends half the declared Content-Length and stops gets 400 IncompleteBody
    or a closed connection, and nothing is stored."""
    data = os.urandom(256 * KiB)
    signed = simple_put(
        wire, key_path(bucket, "k"), data, payload=None if payload == "sha256" else payload
    )
    try:
        reply = wire.send(signed, data[: len(data) // 2], half_close=True)
    except (ConnectionError, OSError) as exc:  # http.client.RemoteDisconnected is one
        print(f"connection-level refusal: {exc!r}")
        wire.assert_serving()
    else:
        rejected(reply, 400, "IncompleteBody", wire)
    assert_not_stored(upstream_s3, bucket, "k", settle=1.0)


def test_content_md5_mismatch_answers_bad_digest(wire: Wire, upstream_s3: Any, bucket: str) -> None:
    """A Content-MD5 that is well formed but not the body's MD5 gets 400 BadDigest; nothing is
    stored (UNSIGNED-PAYLOAD, so MD5 is the only integrity check)."""
    signed = simple_put(
        wire,
        key_path(bucket, "k"),
        b"the real body",
        payload=UNSIGNED_PAYLOAD,
        headers=[("Content-MD5", md5_b64(b"another body"))],
    )
    rejected(wire.send(signed), 400, "BadDigest", wire)
    assert_not_stored(upstream_s3, bucket, "k")


@pytest.mark.parametrize(
    "value",
    ["not base64!", base64.b64encode(b"fifteen bytes!!").decode()],
    ids=["not-base64", "wrong-length"],
)
def test_content_md5_malformed_answers_invalid_digest(
    wire: Wire, upstream_s3: Any, bucket: str, value: str
) -> None:
    """A Content-MD5 that isn't base64 of 16 bytes gets 400 InvalidDigest; nothing is stored."""
    signed = simple_put(
        wire,
        key_path(bucket, "k"),
        b"body",
        payload=UNSIGNED_PAYLOAD,
        headers=[("Content-MD5", value)],
    )
    rejected(wire.send(signed), 400, "InvalidDigest", wire)
    assert_not_stored(upstream_s3, bucket, "k")


def test_checksum_header_mismatch_answers_bad_digest(
    wire: Wire, upstream_s3: Any, bucket: str
) -> None:
    """An x-amz-checksum-crc32 request header (what boto3 sends by default) that doesn't match
    the body gets 400 BadDigest; nothing is stored (moto accepts bad checksums)."""
    signed = simple_put(
        wire,
        key_path(bucket, "k"),
        b"the real body",
        payload=UNSIGNED_PAYLOAD,
        headers=[
            ("x-amz-checksum-crc32", crc32_b64(b"another body")),
            ("x-amz-sdk-checksum-algorithm", "CRC32"),
        ],
    )
    rejected(wire.send(signed), 400, "BadDigest", wire)
    assert_not_stored(upstream_s3, bucket, "k")
