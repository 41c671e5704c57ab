"""proxy/sigv2.py against AWS's published SigV2 examples, botocore as an oracle, and S3's errors.

The examples come from "Signing and authenticating REST requests (AWS signature version 2)" in the
Amazon S3 documentation; botocore's HmacV1Auth and HmacV1QueryAuth (what aws-cli and boto3 use
for SigV2 headers and, by default, for presigned URLs) sign everything else.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import random
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import boto3
import botocore.auth
import botocore.exceptions
import botocore.session
import pytest
from botocore.awsrequest import AWSPreparedRequest, AWSRequest, AWSResponse
from botocore.config import Config
from botocore.credentials import Credentials
from sigkit import TRICKY_KEYS

from proxy import sigv2, sigv4
from proxy.s3errors import S3Error, error_xml
from proxy.s3errors import S3ErrorCode as Code

AKID = "AKIAIOSFODNN7EXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
DATE = "Fri, 24 May 2013 00:00:00 GMT"
T0 = datetime(2013, 5, 24, tzinfo=UTC)
EXPIRES = 1369353600 + 900  # T0 + 15 minutes, as epoch seconds
GOOD = "qgk2+6Sv9/oM7G3qLEjTH1a1l1g="  # a well-formed signature, for requests never verified
Headers = list[tuple[str, str]]
Signed = tuple[str, str, Headers]  # (raw path, raw query, headers) as sent


def raises(code: Code, call: Callable[[], object]) -> S3Error:
    with pytest.raises(S3Error) as caught:
        call()
    assert caught.value.code is code, caught.value
    return caught.value


def independent_signature(string_to_sign: str, secret: str = SECRET) -> str:
    """HMAC-SHA1 written out again, so tests that need a fresh signature don't trust sigv2."""
    digest = hmac.new(secret.encode(), string_to_sign.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def parse(method: str, signed: Signed, **kwargs: str | None) -> sigv2.SigV2Request:
    req = sigv2.parse(method, *signed, **kwargs)
    assert req is not None
    return req


def authorization(signature: str) -> tuple[str, str]:
    return ("Authorization", f"AWS {AKID}:{signature}")


# --- AWS's published examples -------------------------------------------------------------------

# id: (method, path, query, headers, virtual-hosted bucket, StringToSign as AWS prints it)
DOC_EXAMPLES: dict[str, tuple[str, str, str, Headers, str | None, str]] = {
    "Object GET": (
        "GET",
        "/photos/puppy.jpg",
        "",
        [
            ("Date", "Tue, 27 Mar 2007 19:36:42 +0000"),
            authorization("qgk2+6Sv9/oM7G3qLEjTH1a1l1g="),
        ],
        "awsexamplebucket1",
        "GET\n\n\nTue, 27 Mar 2007 19:36:42 +0000\n/awsexamplebucket1/photos/puppy.jpg",
    ),
    "Object PUT": (
        "PUT",
        "/photos/puppy.jpg",
        "",
        [
            ("Content-Type", "image/jpeg"),
            ("Content-Length", "94328"),
            ("Date", "Tue, 27 Mar 2007 21:15:45 +0000"),
            authorization("iqRzw+ileNPu1fhspnRs8nOjjIA="),
        ],
        "awsexamplebucket1",
        "PUT\n\nimage/jpeg\nTue, 27 Mar 2007 21:15:45 +0000\n/awsexamplebucket1/photos/puppy.jpg",
    ),
    "List": (
        "GET",
        "/",
        "prefix=photos&max-keys=50&marker=puppy",
        [
            ("Date", "Tue, 27 Mar 2007 19:42:41 +0000"),
            authorization("m0WP8eCtspQl5Ahe6L1SozdX9YA="),
        ],
        "awsexamplebucket1",
        "GET\n\n\nTue, 27 Mar 2007 19:42:41 +0000\n/awsexamplebucket1/",
    ),
    "Fetch": (
        "GET",
        "/",
        "acl",
        [
            ("Date", "Tue, 27 Mar 2007 19:44:46 +0000"),
            authorization("82ZHiFIjc+WbcwFKGUVEQspPn+0="),
        ],
        "awsexamplebucket1",
        "GET\n\n\nTue, 27 Mar 2007 19:44:46 +0000\n/awsexamplebucket1/?acl",
    ),
    "List all my buckets": (
        "GET",
        "/",
        "",
        [
            ("Date", "Wed, 28 Mar 2007 01:29:59 +0000"),
            authorization("qGdzdERIC03wnaRNKh6OqZehG9s="),
        ],
        None,
        "GET\n\n\nWed, 28 Mar 2007 01:29:59 +0000\n/",
    ),
    "Unicode keys": (
        "GET",
        "/dictionary/fran%C3%A7ais/pr%c3%a9f%c3%a8re",
        "",
        [
            ("Date", "Wed, 28 Mar 2007 01:49:49 +0000"),
            authorization("DNEZGsoieTZ92F3bUfSPQcbGmlM="),
        ],
        None,
        "GET\n\n\nWed, 28 Mar 2007 01:49:49 +0000\n/dictionary/fran%C3%A7ais/pr%c3%a9f%c3%a8re",
    ),
}


@pytest.mark.parametrize("example", DOC_EXAMPLES.values(), ids=DOC_EXAMPLES.keys())
def test_parse_verify_aws_header_example_accepted(
    example: tuple[str, str, str, Headers, str | None, str],
) -> None:
    method, path, query, headers, bucket, string_to_sign = example
    req = parse(method, (path, query, headers), virtual_bucket=bucket)
    assert (req.presigned, req.access_key_id, req.string_to_sign) == (False, AKID, string_to_sign)
    assert req.request_at is not None and req.expires_at is None
    sigv2.verify(req, SECRET, req.request_at)


def test_parse_verify_aws_delete_example_x_amz_date_in_date_line_accepted() -> None:
    """The Delete example signs x-amz-date in the Date line, unlike the [TIME] prose (an empty
    Date line and x-amz-date among the x-amz-* headers): both forms verify."""
    headers = [
        ("User-Agent", "dotnet"),
        ("Date", "Tue, 27 Mar 2007 21:20:27 +0000"),
        ("x-amz-date", "Tue, 27 Mar 2007 21:20:26 +0000"),
        authorization("XbyTlbQdu9Xw5o8P4iMwPktxQd8="),
    ]
    req = parse("DELETE", ("/awsexamplebucket1/photos/puppy.jpg", "", headers))
    assert req.string_to_sign == (
        "DELETE\n\n\n\nx-amz-date:Tue, 27 Mar 2007 21:20:26 +0000\n"
        "/awsexamplebucket1/photos/puppy.jpg"
    )
    doc = "DELETE\n\n\nTue, 27 Mar 2007 21:20:26 +0000\n/awsexamplebucket1/photos/puppy.jpg"
    assert doc in req.alt_strings_to_sign
    assert req.request_at == datetime(2007, 3, 27, 21, 20, 26, tzinfo=UTC)
    sigv2.verify(req, SECRET, req.request_at)


def test_parse_verify_aws_query_string_example_accepted() -> None:
    """[QSA] example; its signature was made for the bucket "johnsmith", which the page has since
    renamed in the request but not in the signature."""
    query = f"AWSAccessKeyId={AKID}&Signature=NpgCjnDzrM%2BWFzoENXmpNDUsSn8%3D&Expires=1175139620"
    req = parse("GET", ("/photos/puppy.jpg", query, []), virtual_bucket="johnsmith")
    assert req.presigned and req.string_to_sign == (
        "GET\n\n\n1175139620\n/johnsmith/photos/puppy.jpg"
    )
    assert req.signature == "NpgCjnDzrM+WFzoENXmpNDUsSn8="
    assert req.expires_at == datetime(2007, 3, 29, 3, 40, 20, tzinfo=UTC) and req.request_at is None
    sigv2.verify(req, SECRET, req.expires_at)


# --- botocore as the oracle ---------------------------------------------------------------------


def botocore_sign(
    method: str,
    url: str,
    headers: Headers | None = None,
    *,
    presign: bool = False,
    token: str | None = None,
    auth_path: str | None = None,
) -> Signed:
    """Sign with HmacV1Auth (Date: DATE) or HmacV1QueryAuth (Expires: EXPIRES); give (path,
    query, headers) as sent."""
    request = AWSRequest(method=method, url=url, data=b"", auth_path=auth_path)
    for name, value in headers or []:
        request.headers[name] = value  # an email.message: a second value adds a header
    credentials = Credentials(AKID, SECRET, token)
    signer: botocore.auth.HmacV1Auth
    if presign:
        signer = botocore.auth.HmacV1QueryAuth(credentials, expires=900)
        signer._get_date = lambda: str(EXPIRES)
    else:
        signer = botocore.auth.HmacV1Auth(credentials)
        signer._get_date = lambda: DATE
    signer.add_auth(request)
    parts = urlsplit(request.url)
    # A presigned URL is used without the signer's headers (they are in the query now).
    headers = [] if presign else list(request.headers.items())
    return parts.path, parts.query, [("Host", parts.netloc), *headers]


def accept(method: str, signed: Signed, **kwargs: str | None) -> sigv2.SigV2Request:
    req = parse(method, signed, **kwargs)
    sigv2.verify(req, SECRET, T0)
    return req


@pytest.mark.parametrize("key", TRICKY_KEYS)
@pytest.mark.parametrize("presign", [False, True], ids=["header", "presigned"])
def test_parse_verify_botocore_tricky_key_accepted(key: str, presign: bool) -> None:
    url = f"http://127.0.0.1:9000/bucket/{quote(key, safe='/~')}"
    req = accept("PUT", botocore_sign("PUT", url, [("x-amz-meta-k", "v")], presign=presign))
    assert req.presigned is presign


SUBRESOURCE_QUERIES = [
    "acl",
    "uploads",
    "delete",
    "tagging",
    "restore",
    "versionId=",
    "partNumber=1&uploadId=x",
    "uploadId=x%2By&partNumber=2",
    "acl&versionId=3%2FL4kqtJlcpXroDTDmJ%2Bpp",
    "select&select-type=2",
    "response-content-type=text%2Fplain"
    "&response-content-disposition=attachment%3B%20filename%3D%22a%20b.txt%22",
    "list-type=2&prefix=a%2Bb&delimiter=%2F&start-after=%C3%A9",
]


@pytest.mark.parametrize("query", SUBRESOURCE_QUERIES)
@pytest.mark.parametrize("presign", [False, True], ids=["header", "presigned"])
def test_parse_verify_botocore_subresources_accepted(query: str, presign: bool) -> None:
    accept(
        "GET", botocore_sign("GET", f"http://localhost:9000/bucket/key?{query}", presign=presign)
    )


def test_parse_botocore_subresources_sorted_with_decoded_values() -> None:
    url = "http://localhost:9000/b/k?versionId=a%2Bb&prefix=x&acl&response-expires=1%202"
    req = accept("GET", botocore_sign("GET", url))
    assert req.string_to_sign.endswith("\n/b/k?acl&response-expires=1 2&versionId=a+b")


def test_parse_verify_botocore_random_keys_accepted() -> None:
    """A few hundred keys drawn from ASCII punctuation, whitespace, '/' and non-ASCII letters."""
    rng = random.Random(20130524)
    alphabet = "abc/ ~+%=&?#()!*'\"<>[]{}|\\^`@$,;:\t-_.é€😀ключ"
    for _ in range(300):
        key = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 24)))
        value = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 8)))
        query = f"versionId={quote(value, safe='~')}&prefix={quote(value, safe='~')}"
        url = f"http://127.0.0.1:9000/bucket/{quote(key, safe='/~')}?{query}"
        accept("GET", botocore_sign("GET", url, presign=rng.random() < 0.5))


@pytest.mark.parametrize("presign", [False, True], ids=["header", "presigned"])
def test_parse_verify_botocore_virtual_hosted_accepted(presign: bool) -> None:
    """botocore signs "/bucket/key" (auth_path) for a request sent to bucket.host/key."""
    url = "http://photos.s3.example.com/2007/puppy.jpg?acl"
    signed = botocore_sign("GET", url, presign=presign, auth_path="/photos/2007/puppy.jpg")
    assert signed[0] == "/2007/puppy.jpg"
    req = accept("GET", signed, virtual_bucket="photos")
    assert req.string_to_sign.endswith("\n/photos/2007/puppy.jpg?acl")


def test_parse_verify_botocore_amz_headers_canonicalised_accepted() -> None:
    """[AMZ]: lower-case names, sorted, repeated headers joined with ',' and values trimmed."""
    headers = [
        ("X-Amz-Meta-ReviewedBy", " joe@example.com "),
        ("x-amz-meta-reviewedby", "jane@example.com"),
        ("X-Amz-Acl", "public-read"),
        ("Content-Type", " text/plain "),
        ("Content-MD5", "4gJE4saaMU4BqNR0kLY+lw=="),
    ]
    req = accept("PUT", botocore_sign("PUT", "http://h/b/k", headers))
    assert req.string_to_sign == (
        f"PUT\n4gJE4saaMU4BqNR0kLY+lw==\ntext/plain\n{DATE}\nx-amz-acl:public-read\n"
        "x-amz-meta-reviewedby:joe@example.com,jane@example.com\n/b/k"
    )


@pytest.mark.parametrize("presign", [False, True], ids=["header", "presigned"])
def test_parse_botocore_session_token_reported(presign: bool) -> None:
    token = "FwoGZXIvYXdzE+/token=="
    req = accept("GET", botocore_sign("GET", "http://h/b/k", presign=presign, token=token))
    assert req.security_token == token


HOISTED = [
    ("Content-Type", "text/plain"),
    ("Content-MD5", "XrY7u+Ae7tCTyyK7j1rNww=="),
    ("x-amz-acl", "public-read"),
    ("x-amz-meta-a", "b c"),
]


def test_parse_verify_botocore_presigned_headers_in_query_hoisted() -> None:
    """botocore moves x-amz-*, Content-MD5 and Content-Type of a URL it presigns into the query
    and signs them in their header slots; the gateway must send them upstream as headers."""
    signed = botocore_sign("PUT", "http://h/b/k", HOISTED, presign=True, token="tok")
    assert "x-amz-acl=public-read" in signed[1]
    req = accept("PUT", signed)
    assert req.hoisted_headers == (
        ("content-md5", "XrY7u+Ae7tCTyyK7j1rNww=="),
        ("content-type", "text/plain"),
        ("x-amz-acl", "public-read"),
        ("x-amz-meta-a", "b c"),
        ("x-amz-security-token", "tok"),
    )
    assert req.security_token == "tok"


def test_parse_verify_presigned_header_sent_too_wins() -> None:
    signed = botocore_sign("PUT", "http://h/b/k", HOISTED, presign=True)
    path, query, _ = signed
    same = accept("PUT", (path, query, [("Host", "h"), ("content-type", "text/plain")]))
    assert "content-type" not in dict(same.hoisted_headers)
    other = parse("PUT", (path, query, [("Host", "h"), ("Content-Type", "image/png")]))
    raises(Code.SignatureDoesNotMatch, lambda: sigv2.verify(other, SECRET, T0))


def test_verify_alt_aws_encoded_path_accepted() -> None:
    """A client may sign the key AWS-encoded but send '(' raw, '%7E' or lower-case hex."""
    for sent, signed_path in [
        ("/b/a(b)", "/b/a%28b%29"),
        ("/b/%7Ex", "/b/~x"),
        ("/b/caf%c3%a9", "/b/caf%C3%A9"),
    ]:
        signature = independent_signature(f"GET\n\n\n{DATE}\n{signed_path}")
        req = accept("GET", (sent, "", [("Date", DATE), authorization(signature)]))
        assert req.string_to_sign.endswith("\n" + sent)
        assert req.alt_strings_to_sign == (f"GET\n\n\n{DATE}\n{signed_path}",)


def test_verify_alt_path_never_names_another_key() -> None:
    """Segments are re-encoded one by one: "a%2Fb" (one segment) never stands for "a/b"."""
    signature = independent_signature(f"GET\n\n\n{DATE}\n/b/a%2Fb")
    req = parse("GET", ("/b/a/b", "", [("Date", DATE), authorization(signature)]))
    raises(Code.SignatureDoesNotMatch, lambda: sigv2.verify(req, SECRET, T0))


def test_parse_undecodable_path_signed_as_sent() -> None:
    """Bytes that are not UTF-8 are addressing's to refuse; the raw path still signs."""
    signature = independent_signature(f"GET\n\n\n{DATE}\n/b/%FF")
    req = accept("GET", ("/b/%FF", "", [("Date", DATE), authorization(signature)]))
    assert req.alt_strings_to_sign == ()


# --- boto3 at its defaults: presigned URLs, and SigV2 headers when configured ------------------

BOTO3_CALLS: dict[str, dict[str, object]] = {
    "list_buckets": {},
    "list_objects_v2": {"Bucket": "bkt", "Prefix": "a+b"},
    "head_bucket": {"Bucket": "bkt"},
    "get_bucket_acl": {"Bucket": "bkt"},
    "put_object": {
        "Bucket": "bkt",
        "Key": "a b/\u00fc+%(x).txt",
        "Body": b"hello",
        "ContentType": "text/plain",
        "Metadata": {"k": "v"},
    },
    "get_object": {"Bucket": "bkt", "Key": "k", "VersionId": "v/+=", "ResponseContentType": "a/b"},
    "delete_objects": {"Bucket": "bkt", "Delete": {"Objects": [{"Key": "a"}]}},
    "create_multipart_upload": {"Bucket": "bkt", "Key": "k"},
    "upload_part": {"Bucket": "bkt", "Key": "k", "UploadId": "u", "PartNumber": 1, "Body": b"x"},
    "put_object_tagging": {"Bucket": "bkt", "Key": "k", "Tagging": {"TagSet": []}},
}


@pytest.fixture
def no_aws_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """boto3 reads AWS_* variables and ~/.aws: keep this machine's settings out of the oracle."""
    for name in [name for name in os.environ if name.startswith("AWS_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))


class _NoBody:
    def stream(self, **kwargs: object) -> Iterator[bytes]:
        yield b""


def boto3_client(config: Config | None = None) -> Any:
    return boto3.client(
        "s3",
        endpoint_url="http://127.0.0.1:9000",
        aws_access_key_id=AKID,
        aws_secret_access_key=SECRET,
        region_name="us-east-1",
        config=config,
    )


def boto3_sent(operation: str, params: dict[str, object]) -> tuple[str, Signed]:
    """The request a boto3 client configured for SigV2 sends (answered 404 before the wire)."""
    sent: list[AWSPreparedRequest] = []

    def capture(request: AWSPreparedRequest, **kwargs: object) -> AWSResponse:
        sent.append(request)
        return AWSResponse(request.url, 404, {}, _NoBody())

    client = boto3_client(Config(signature_version="s3", retries={"max_attempts": 1}))
    client.meta.events.register("before-send.s3", capture)
    with pytest.raises(botocore.exceptions.ClientError):
        getattr(client, operation)(**params)
    parts = urlsplit(sent[0].url)
    headers = [(k, v.decode() if isinstance(v, bytes) else v) for k, v in sent[0].headers.items()]
    return sent[0].method, (parts.path, parts.query, [("Host", parts.netloc), *headers])


@pytest.mark.usefixtures("no_aws_environment")
@pytest.mark.parametrize("operation", BOTO3_CALLS)
def test_parse_verify_boto3_header_auth_accepted(operation: str) -> None:
    method, signed = boto3_sent(operation, BOTO3_CALLS[operation])
    req = parse(method, signed)
    assert req.request_at is not None
    sigv2.verify(req, SECRET, req.request_at)


@pytest.mark.usefixtures("no_aws_environment")
@pytest.mark.parametrize("operation", BOTO3_CALLS)
def test_parse_verify_boto3_default_presigned_url_accepted(operation: str) -> None:
    client = boto3_client()
    params = {k: v for k, v in BOTO3_CALLS[operation].items() if k != "Body"}
    url = urlsplit(client.generate_presigned_url(operation, Params=params, ExpiresIn=600))
    model = client.meta.service_model.operation_model(client.meta.method_to_api_mapping[operation])
    req = parse(model.http["method"], (url.path, url.query, [("Host", url.netloc)]))
    assert req.presigned and req.expires_at is not None
    sigv2.verify(req, SECRET, req.expires_at)


@pytest.mark.usefixtures("no_aws_environment")
def test_parse_bucket_alone_signed_with_trailing_slash() -> None:
    """botocore signs "/bkt/" for a request sent to "/bkt" (S3's rule); MinIO's "/bkt" works too."""
    method, signed = boto3_sent("head_bucket", {"Bucket": "bkt"})
    req = parse(method, signed)
    assert req.string_to_sign.endswith("\n/bkt/")
    assert req.alt_strings_to_sign == (req.string_to_sign[:-1],)


# --- x-amz-date and Date ------------------------------------------------------------------------

AMZ_DATE = "Fri, 24 May 2013 00:00:05 GMT"


@pytest.mark.parametrize(
    ("headers", "string_to_sign"),
    [
        ([("x-amz-date", AMZ_DATE)], f"GET\n\n\n\nx-amz-date:{AMZ_DATE}\n/b/k"),
        ([("x-amz-date", AMZ_DATE)], f"GET\n\n\n{AMZ_DATE}\n/b/k"),
        (
            [("Date", DATE), ("x-amz-date", AMZ_DATE)],
            f"GET\n\n\n{DATE}\nx-amz-date:{AMZ_DATE}\n/b/k",
        ),
    ],
    ids=[
        "empty Date line (boto, s3cmd, Ceph)",
        "x-amz-date in the Date line (AWS example)",
        "MinIO",
    ],
)
def test_verify_x_amz_date_forms_accepted(headers: Headers, string_to_sign: str) -> None:
    req = parse(
        "GET", ("/b/k", "", [*headers, authorization(independent_signature(string_to_sign))])
    )
    assert req.request_at == T0 + timedelta(seconds=5) and req.request_time == AMZ_DATE
    sigv2.verify(req, SECRET, T0)


@pytest.mark.parametrize(
    ("value", "at"),
    [
        ("Fri, 24 May 2013 00:00:00 -0000", T0),
        ("Fri, 24 May 2013 05:30:00 +0530", T0),
        ("20130524T000000Z", T0),
    ],
    ids=["no zone", "offset", "ISO 8601 basic"],
)
def test_parse_date_formats_read_as_utc(value: str, at: datetime) -> None:
    req = parse("GET", ("/", "", [("x-amz-date", value), authorization(GOOD)]))
    assert req.request_at == at and req.request_at.tzinfo is UTC


# --- operation-selecting sub-resources botocore leaves unsigned --------------------------------


@pytest.mark.usefixtures("no_aws_environment")
def test_verify_botocore_unsigned_operation_selector_does_not_match() -> None:
    """?encryption turns a request into another operation; botocore does not sign it, so its
    signature does not match and the StringToSign we return shows why."""
    req = parse("DELETE", botocore_sign("DELETE", "http://h/bucket/?encryption"))
    error = raises(Code.SignatureDoesNotMatch, lambda: sigv2.verify(req, SECRET, T0))
    assert error.extra["StringToSign"].endswith("\n/bucket/?encryption")
    method, signed = boto3_sent("get_bucket_encryption", {"Bucket": "bkt"})
    req = parse(method, signed)
    assert req.request_at is not None
    raises(Code.SignatureDoesNotMatch, lambda: sigv2.verify(req, SECRET, req.request_at))


def test_verify_operation_selector_signed_as_minio_accepted() -> None:
    string_to_sign = f"PUT\n\n\n{DATE}\n/b/k?retention&versionId=1"
    headers = [("Date", DATE), authorization(independent_signature(string_to_sign))]
    accept("PUT", ("/b/k", "versionId=1&retention", headers))


def test_subresources_cover_botocore_the_docs_and_every_operation_selector() -> None:
    """Walks botocore's S3 model: every query key of a requestUri but list-type is signed."""
    documented = (
        "acl lifecycle location logging notification partNumber policy requestPayment uploadId "
        "uploads versionId versioning versions website response-content-type "
        "response-content-language response-expires response-cache-control "
        "response-content-disposition response-content-encoding delete"
    ).split()
    model = botocore.session.get_session().get_service_model("s3")
    selectors = set()
    for name in model.operation_names:
        _, _, query = model.operation_model(name).http["requestUri"].partition("?")
        selectors |= {piece.partition("=")[0] for piece in query.split("&") if piece}
    assert selectors - sigv2.SUBRESOURCES == {"list-type"}
    assert set(botocore.auth.HmacV1Auth.QSAOfInterest) | set(documented) <= sigv2.SUBRESOURCES


def test_verify_unsigned_query_parameter_not_covered() -> None:
    """SigV2's limit: parameters that are not sub-resources (prefix...) are not signed."""
    path, query, headers = botocore_sign("GET", "http://h/b/?prefix=a")
    accept("GET", (path, query.replace("prefix=a", "prefix=z"), headers))


# --- tampering ----------------------------------------------------------------------------------


def edit_header(headers: Headers, name: str, value: str) -> Headers:
    return [(n, value if n.lower() == name else v) for n, v in headers]


Tamper = Callable[[str, str, Headers], tuple[str, str, str, Headers]]
HEADER_TAMPERING: dict[str, Tamper] = {
    "method": lambda p, q, h: ("HEAD", p, q, h),
    "path": lambda p, q, h: ("GET", p + "x", q, h),
    "sub-resource value": lambda p, q, h: ("GET", p, q.replace("versionId=1", "versionId=2"), h),
    "extra sub-resource": lambda p, q, h: ("GET", p, q + "&acl", h),
    "x-amz-* header": lambda p, q, h: ("GET", p, q, edit_header(h, "x-amz-meta-color", "blue")),
    "added x-amz-* header": lambda p, q, h: ("GET", p, q, [*h, ("x-amz-acl", "public-read")]),
    "Content-Type": lambda p, q, h: ("GET", p, q, edit_header(h, "content-type", "text/html")),
    "Content-MD5": lambda p, q, h: ("GET", p, q, edit_header(h, "content-md5", "AAAA")),
    "Date": lambda p, q, h: ("GET", p, q, edit_header(h, "date", "Fri, 24 May 2013 00:00:01 GMT")),
}
SIGNED_HEADERS = [
    ("x-amz-meta-color", "red"),
    ("Content-Type", "text/plain"),
    ("Content-MD5", "XrY7u+Ae7tCTyyK7j1rNww=="),
]


@pytest.mark.parametrize("tamper", HEADER_TAMPERING.values(), ids=HEADER_TAMPERING.keys())
def test_verify_botocore_header_auth_tampered_does_not_match(tamper: Tamper) -> None:
    signed = botocore_sign("GET", "http://h/b/key?versionId=1", SIGNED_HEADERS)
    method, path, query, headers = tamper(*signed)
    req = parse(method, (path, query, headers))
    raises(Code.SignatureDoesNotMatch, lambda: sigv2.verify(req, SECRET, T0))


PRESIGNED_TAMPERING: dict[str, Tamper] = {
    "path": lambda p, q, h: ("GET", p + "x", q, h),
    "expiry": lambda p, q, h: (
        "GET",
        p,
        q.replace(f"Expires={EXPIRES}", f"Expires={EXPIRES + 1}"),
        h,
    ),
    "sub-resource value": lambda p, q, h: ("GET", p, q.replace("versionId=1", "versionId=2"), h),
    "hoisted header value": lambda p, q, h: ("GET", p, q.replace("color=red", "color=blue"), h),
    "hoisted header dropped": lambda p, q, h: ("GET", p, q.replace("x-amz-meta-color=red", ""), h),
    "added x-amz-* header": lambda p, q, h: ("GET", p, q, [*h, ("x-amz-acl", "public-read")]),
}


@pytest.mark.parametrize("tamper", PRESIGNED_TAMPERING.values(), ids=PRESIGNED_TAMPERING.keys())
def test_verify_botocore_presigned_tampered_does_not_match(tamper: Tamper) -> None:
    url = "http://h/b/key?versionId=1"
    signed = botocore_sign("GET", url, [("x-amz-meta-color", "red")], presign=True)
    method, path, query, headers = tamper(*signed)
    req = parse(method, (path, query, headers))
    raises(Code.SignatureDoesNotMatch, lambda: sigv2.verify(req, SECRET, T0))


@pytest.mark.parametrize("secret", [SECRET[1:], SECRET + " ", "s\u00e9cret"])
@pytest.mark.parametrize("presign", [False, True], ids=["header", "presigned"])
def test_verify_botocore_other_secret_does_not_match(secret: str, presign: bool) -> None:
    req = parse("GET", botocore_sign("GET", "http://h/b/k", presign=presign))
    raises(Code.SignatureDoesNotMatch, lambda: sigv2.verify(req, secret, T0))


def test_verify_unicode_secret_signed_as_utf8() -> None:
    secret = "s\u00e9cret/\u00fc"
    string_to_sign = f"GET\n\n\n{DATE}\n/b/k"
    headers = [("Date", DATE), authorization(independent_signature(string_to_sign, secret))]
    sigv2.verify(parse("GET", ("/b/k", "", headers)), secret, T0)


@pytest.mark.parametrize("signature", ["not%20base64!", "AAAA", "qgk2%2B6Sv9"])
def test_verify_presigned_signature_not_an_hmac_does_not_match(signature: str) -> None:
    query = f"AWSAccessKeyId={AKID}&Expires={EXPIRES}&Signature={signature}"
    req = parse("GET", ("/b/k", query, []))
    raises(Code.SignatureDoesNotMatch, lambda: sigv2.verify(req, SECRET, T0))


def test_verify_signature_mismatch_reports_string_and_never_the_secret() -> None:
    req = parse("GET", botocore_sign("GET", "http://h/b/k", [("x-amz-meta-a", "é")]))
    error = raises(Code.SignatureDoesNotMatch, lambda: sigv2.verify(req, "another secret", T0))
    assert list(error.extra) == [
        "AWSAccessKeyId",
        "StringToSign",
        "SignatureProvided",
        "StringToSignBytes",
    ]
    assert error.extra["AWSAccessKeyId"] == AKID
    assert error.extra["SignatureProvided"] == req.signature
    assert error.extra["StringToSign"] == req.string_to_sign
    assert error.extra["StringToSignBytes"].startswith("47 45 54 0a")  # "GET\n"
    assert bytes.fromhex(error.extra["StringToSignBytes"].replace(" ", "")).decode() == (
        req.string_to_sign
    )
    body = error_xml(error, request_id="r").decode()
    for secret in [SECRET, "another secret"]:
        assert all(secret not in value for value in error.extra.values()) and secret not in body


# --- clock and expiry ---------------------------------------------------------------------------


def presigned() -> sigv2.SigV2Request:
    return parse("GET", botocore_sign("GET", "http://h/b/k", presign=True))


def test_verify_presigned_last_second_accepted() -> None:
    sigv2.verify(presigned(), SECRET, T0 + timedelta(seconds=900))


def test_verify_presigned_long_before_expiry_accepted() -> None:
    """No start time and no 15-minute window: a SigV2 URL is good from signing to Expires."""
    sigv2.verify(presigned(), SECRET, T0 - timedelta(days=365))


def test_verify_presigned_after_expiry_expired() -> None:
    late = T0 + timedelta(seconds=901)
    error = raises(Code.AccessDenied, lambda: sigv2.verify(presigned(), SECRET, late))
    assert error.message == "Request has expired"
    assert error.extra == {"Expires": "2013-05-24T00:15:00Z", "ServerTime": "2013-05-24T00:15:01Z"}
    assert b"<Expires>2013-05-24T00:15:00Z</Expires>" in error_xml(error, request_id="r")


def test_verify_presigned_expired_checked_before_signature() -> None:
    late = T0 + timedelta(hours=1)
    raises(Code.AccessDenied, lambda: sigv2.verify(presigned(), "another secret", late))


def header_request() -> sigv2.SigV2Request:
    return parse("GET", botocore_sign("GET", "http://h/b/k"))


@pytest.mark.parametrize("offset", [timedelta(minutes=15), -timedelta(minutes=15)])
def test_verify_header_auth_skew_of_15_minutes_accepted(offset: timedelta) -> None:
    sigv2.verify(header_request(), SECRET, T0 + offset)


@pytest.mark.parametrize(
    ("offset", "server_time"),
    [
        (timedelta(minutes=15, seconds=1), "2013-05-24T00:15:01Z"),
        (-timedelta(minutes=15, seconds=1), "2013-05-23T23:44:59Z"),
    ],
    ids=["late", "early"],
)
def test_verify_header_auth_skew_past_15_minutes_too_skewed(
    offset: timedelta, server_time: str
) -> None:
    error = raises(
        Code.RequestTimeTooSkewed, lambda: sigv2.verify(header_request(), SECRET, T0 + offset)
    )
    assert error.extra == {
        "RequestTime": DATE,
        "ServerTime": server_time,
        "MaxAllowedSkewMilliseconds": "900000",
    }


def test_verify_header_auth_custom_skew_reported() -> None:
    def call() -> None:
        sigv2.verify(
            header_request(), SECRET, T0 + timedelta(minutes=6), max_skew=timedelta(0, 300)
        )

    assert raises(Code.RequestTimeTooSkewed, call).extra["MaxAllowedSkewMilliseconds"] == "300000"


# --- what S3 answers to malformed requests -------------------------------------------------------

BAD_HEADER = "AWS authorization header is invalid.  Expected AwsAccessKeyId:signature"
ONE = (
    "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query "
    "string parameter or the Authorization header should be specified"
)
NO_DATE = "AWS authentication requires a valid Date or x-amz-date header"
BAD_QUERY = (
    "Query-string authentication requires the Signature, Expires and AWSAccessKeyId parameters"
)


@pytest.mark.parametrize(
    "value",
    [
        "AWS ",
        f"AWS {AKID}",
        f"AWS :{GOOD}",
        f"AWS {AKID}:",
        f"AWS {AKID}:{GOOD}:x",
        f"AWS {AKID}:not base64!",
        f"AWS{AKID}:{GOOD}",
        f"AWS4-HMAC-SHA256 Credential={AKID}/20130524/us-east-1/s3/aws4_request",
    ],
    ids=[
        "nothing",
        "no colon",
        "no key",
        "no signature",
        "two colons",
        "not base64",
        "no space",
        "v4",
    ],
)
def test_parse_malformed_authorization_invalid_argument(value: str) -> None:
    headers = [("Date", DATE), ("Authorization", value)]
    error = raises(Code.InvalidArgument, lambda: sigv2.parse("GET", "/b/k", "", headers))
    assert error.message == BAD_HEADER
    assert error.extra == {"ArgumentName": "Authorization", "ArgumentValue": value.strip()}


def test_parse_two_authorization_headers_invalid_argument() -> None:
    headers = [("Date", DATE), authorization(GOOD), ("authorization", f"AWS other:{GOOD}")]
    error = raises(Code.InvalidArgument, lambda: sigv2.parse("GET", "/b/k", "", headers))
    assert error.message == BAD_HEADER


@pytest.mark.parametrize("query", ["Signature=abc", "X-Amz-Algorithm=AWS4-HMAC-SHA256"])
def test_parse_two_mechanisms_invalid_argument(query: str) -> None:
    headers = [("Date", DATE), authorization(GOOD)]
    error = raises(Code.InvalidArgument, lambda: sigv2.parse("GET", "/b/k", query, headers))
    assert error.message == ONE
    assert error.extra == {"ArgumentName": "Authorization", "ArgumentValue": f"AWS {AKID}:{GOOD}"}


@pytest.mark.parametrize(
    "headers",
    [
        [],
        [("Date", "yesterday")],
        [("Date", "")],
        [("Date", DATE), ("x-amz-date", "soon")],
        [("x-amz-date", "20130532T000000Z")],
    ],
    ids=["none", "unparsable Date", "empty Date", "bad x-amz-date wins over Date", "May 32"],
)
def test_parse_no_valid_date_access_denied(headers: Headers) -> None:
    def call() -> object:
        return sigv2.parse("GET", "/b/k", "", [*headers, authorization(GOOD)])

    assert raises(Code.AccessDenied, call).message == NO_DATE


@pytest.mark.parametrize(
    "query",
    [
        f"AWSAccessKeyId={AKID}&Signature=abc",
        f"AWSAccessKeyId={AKID}&Expires=1",
        "Signature=abc&Expires=1",
        f"AWSAccessKeyId={AKID}&Signature=&Expires=1",
        "AWSAccessKeyId&Signature=abc&Expires=1",
    ],
    ids=["no Expires", "no Signature", "no AWSAccessKeyId", "empty Signature", "bare key id"],
)
def test_parse_incomplete_query_auth_access_denied(query: str) -> None:
    assert raises(Code.AccessDenied, lambda: sigv2.parse("GET", "/", query, [])).message == (
        BAD_QUERY
    )


@pytest.mark.parametrize("expires", ["abc", "-1", "1e9", "1234567890123", "999999999999"])
def test_parse_presigned_expires_not_epoch_seconds_access_denied(expires: str) -> None:
    query = f"AWSAccessKeyId={AKID}&Signature=abc&Expires={expires}"
    error = raises(Code.AccessDenied, lambda: sigv2.parse("GET", "/", query, []))
    assert error.message == f"Invalid date (should be seconds since epoch): {expires}"


def test_parse_presigned_parameter_twice_invalid_argument() -> None:
    query = f"AWSAccessKeyId={AKID}&Signature=abc&Expires=1&Signature=def"
    error = raises(Code.InvalidArgument, lambda: sigv2.parse("GET", "/", query, []))
    assert error.message == "Signature must be given only once."


@pytest.mark.parametrize("query", ["versionId=%FF", "%C3=1"])
def test_parse_invalid_utf8_query_invalid_uri(query: str) -> None:
    raises(Code.InvalidURI, lambda: sigv2.parse("GET", "/", query, [authorization(GOOD)]))


@pytest.mark.parametrize(
    ("query", "headers"),
    [("", [("Host", "h")]), ("prefix=a&versionId=1", []), ("", [("Authorization", "")])],
    ids=["nothing", "other parameters", "empty Authorization"],
)
def test_parse_no_authentication_returns_none(query: str, headers: Headers) -> None:
    assert sigv2.parse("GET", "/", query, headers) is None


# --- routing between sigv2 and sigv4 ------------------------------------------------------------

IS_SIGV2 = {
    "AWS header": ("", [authorization(GOOD)], True),
    "AWS header, no colon": ("", [("Authorization", "AWS x")], True),
    "AWS header and X-Amz-Algorithm": ("X-Amz-Algorithm=x", [authorization(GOOD)], True),
    "query": (f"AWSAccessKeyId={AKID}&Signature=a&Expires=1", [], True),
    "Signature alone": ("Signature=a", [], True),
    "encoded key name": ("%41WSAccessKeyId=a", [], True),
    "AWS4 header": ("", [("authorization", "AWS4-HMAC-SHA256 Credential=x")], False),
    "AWS4 header and Signature": ("Signature=a", [("Authorization", "AWS4-HMAC-SHA256 x")], False),
    "SigV4 query with Signature": ("X-Amz-Signature=a&Signature=b", [], False),
    "anonymous": ("prefix=a", [("Authorization", "")], False),
}


@pytest.mark.parametrize(("query", "headers", "expected"), IS_SIGV2.values(), ids=IS_SIGV2.keys())
def test_is_sigv2_routes_requests(query: str, headers: Headers, expected: bool) -> None:
    assert sigv2.is_sigv2(query, headers) is expected
    if expected:  # what sigv4 would have said to it: refused, never parsed as SigV4
        with pytest.raises(S3Error):
            sigv4.parse("GET", "/", query, headers)


def test_sigv2_query_params_are_the_three_of_query_auth() -> None:
    assert sigv2.SIGV2_QUERY_PARAMS == {"AWSAccessKeyId", "Expires", "Signature"}
