"""proxy/sigv4.py against AWS's published examples, botocore as an oracle, and S3's error answers.

The examples come from the S3 API Reference, "Authenticating Requests (AWS Signature Version 4)":
the Authorization-header examples, "Using Query Parameters", the chunked upload and the trailing
headers example. Every one uses the access key below, 20130524T000000Z and us-east-1.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import random
import string
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from urllib.parse import quote, urlsplit

import botocore.auth
import pytest
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from sigkit import TRICKY_KEYS

from proxy import sigv4
from proxy.s3errors import S3Error, error_xml
from proxy.s3errors import S3ErrorCode as Code

AKID = "AKIAIOSFODNN7EXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
T0 = datetime(2013, 5, 24, tzinfo=UTC)
STAMP = "20130524T000000Z"
REGION = "us-east-1"
HOST = "examplebucket.s3.amazonaws.com"
EMPTY = sigv4.EMPTY_SHA256
Headers = list[tuple[str, str]]
Example = tuple[str, str, str, Headers, str, str, str, str]


def authorization(signed: str, signature: str) -> str:
    """The header as AWS prints it in its examples: no space after the commas."""
    scope = f"{AKID}/20130524/{REGION}/s3/aws4_request"
    return f"AWS4-HMAC-SHA256 Credential={scope},SignedHeaders={signed},Signature={signature}"


def independent_signature(string_to_sign: str, secret: str = SECRET) -> str:
    """HMAC chain written out again, so tests that need a fresh signature don't trust sigv4."""
    key = ("AWS4" + secret).encode()
    for part in string_to_sign.split("\n")[2].split("/"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()


def raises(code: Code, call: Callable[[], object]) -> S3Error:
    with pytest.raises(S3Error) as caught:
        call()
    assert caught.value.code is code, caught.value
    return caught.value


# --- AWS's published examples -------------------------------------------------------------------

GET_OBJECT = (
    "GET",
    "/test.txt",
    "",
    [
        ("Host", HOST),
        ("Range", "bytes=0-9"),
        ("x-amz-content-sha256", EMPTY),
        ("x-amz-date", STAMP),
    ],
    "host;range;x-amz-content-sha256;x-amz-date",
    "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
    f"GET\n/test.txt\n\nhost:{HOST}\nrange:bytes=0-9\nx-amz-content-sha256:{EMPTY}\n"
    f"x-amz-date:{STAMP}\n\nhost;range;x-amz-content-sha256;x-amz-date\n{EMPTY}",
    "7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972",
)
WELCOME = "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072"
PUT_OBJECT = (
    "PUT",
    "/test$file.text",
    "",
    [
        ("Host", HOST),
        ("Date", "Fri, 24 May 2013 00:00:00 GMT"),
        ("x-amz-date", STAMP),
        ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
        ("x-amz-content-sha256", WELCOME),
    ],
    "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class",
    "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd",
    f"PUT\n/test%24file.text\n\ndate:Fri, 24 May 2013 00:00:00 GMT\nhost:{HOST}\n"
    f"x-amz-content-sha256:{WELCOME}\nx-amz-date:{STAMP}\nx-amz-storage-class:REDUCED_REDUNDANCY\n"
    f"\ndate;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class\n{WELCOME}",
    "9e0e90d9c76de8fa5b200d8c849cd5b8dc7a3be3951ddb7f6a76b4158342019d",
)
BUCKET_HEADERS = [("Host", HOST), ("x-amz-date", STAMP), ("x-amz-content-sha256", EMPTY)]
BUCKET_TAIL = f"host:{HOST}\nx-amz-content-sha256:{EMPTY}\nx-amz-date:{STAMP}\n\n"
BUCKET_TAIL += f"host;x-amz-content-sha256;x-amz-date\n{EMPTY}"
GET_LIFECYCLE = (
    "GET",
    "/",
    "lifecycle",
    BUCKET_HEADERS,
    "host;x-amz-content-sha256;x-amz-date",
    "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543",
    f"GET\n/\nlifecycle=\n{BUCKET_TAIL}",
    "9766c798316ff2757b517bc739a67f6213b4ab36dd5da2f94eaebf79c77395ca",
)
LIST_OBJECTS = (
    "GET",
    "/",
    "max-keys=2&prefix=J",
    BUCKET_HEADERS,
    "host;x-amz-content-sha256;x-amz-date",
    "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7",
    f"GET\n/\nmax-keys=2&prefix=J\n{BUCKET_TAIL}",
    "df57d21db20da04d7fa30298dd4488ba3a2b47ca3a489c74750e0f1e7df1b9b7",
)
HEADER_EXAMPLES = {
    "GET Object": GET_OBJECT,
    "PUT Object": PUT_OBJECT,
    "GET Bucket Lifecycle": GET_LIFECYCLE,
    "GET Bucket (List Objects)": LIST_OBJECTS,
}


@pytest.mark.parametrize("example", HEADER_EXAMPLES.values(), ids=HEADER_EXAMPLES.keys())
def test_parse_verify_aws_header_example_accepted(example: Example) -> None:
    method, path, query, headers, signed, signature, canonical, digest = example
    req = sigv4.parse(
        method, path, query, [*headers, ("Authorization", authorization(signed, signature))]
    )
    assert req is not None and not req.presigned
    assert req.canonical_request == canonical
    assert (
        req.string_to_sign
        == f"AWS4-HMAC-SHA256\n{STAMP}\n20130524/us-east-1/s3/aws4_request\n{digest}"
    )
    assert (req.access_key_id, req.scope, req.request_at) == (
        AKID,
        "20130524/us-east-1/s3/aws4_request",
        T0,
    )
    key = sigv4.verify(req, SECRET, T0, region=REGION)
    assert key == sigv4.signing_key(SECRET, "20130524", REGION)


PRESIGNED_QUERY = (
    "X-Amz-Algorithm=AWS4-HMAC-SHA256"
    "&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request"
    "&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host"
    "&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"
)


def presigned_example(
    query: str = PRESIGNED_QUERY, headers: Headers | None = None
) -> sigv4.SigV4Request:
    req = sigv4.parse(
        "GET", "/test.txt", query, headers if headers is not None else [("Host", HOST)]
    )
    assert req is not None
    return req


def test_parse_verify_aws_presigned_example_accepted() -> None:
    req = presigned_example()
    assert req.presigned and req.expires_seconds == 86400 and req.payload_hash == "UNSIGNED-PAYLOAD"
    assert req.canonical_request == (
        "GET\n/test.txt\nX-Amz-Algorithm=AWS4-HMAC-SHA256"
        "&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request"
        "&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host\n"
        f"host:{HOST}\n\nhost\nUNSIGNED-PAYLOAD"
    )
    digest = "3bfa292879f6447bbcda7001decf97f4a54dc650c8942174ae0a9121cf58ad04"
    assert req.string_to_sign.endswith("\n" + digest)
    sigv4.verify(req, SECRET, T0, region=REGION)


CHUNKED_HEADERS = [
    ("Host", "s3.amazonaws.com"),
    ("x-amz-date", STAMP),
    ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
    ("Content-Encoding", "aws-chunked"),
    ("x-amz-decoded-content-length", "66560"),
]
CHUNKS = [b"a" * 65536, b"a" * 1024, b""]


def chunked_example(trailer: bool) -> tuple[sigv4.SigV4Request, bytes]:
    """[CHK] and [TRL]: PUT /examplebucket/chunkObject.txt, 65 KiB of 'a' in 64 KiB chunks."""
    if trailer:
        extra = [
            ("x-amz-content-sha256", sigv4.STREAMING_SIGNED_TRAILER),
            ("x-amz-trailer", "x-amz-checksum-crc32c"),
        ]
        signed = (
            "content-encoding;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;"
        )
        signed += "x-amz-storage-class;x-amz-trailer"
        seed = "106e2a8a18243abcf37539882f36619c00e2dfc72633413f02d3b74544bfeb8e"
    else:
        extra = [("x-amz-content-sha256", sigv4.STREAMING_SIGNED), ("Content-Length", "66824")]
        signed = "content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;"
        signed += "x-amz-decoded-content-length;x-amz-storage-class"
        seed = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"
    headers = [*CHUNKED_HEADERS, *extra, ("Authorization", authorization(signed, seed))]
    req = sigv4.parse("PUT", "/examplebucket/chunkObject.txt", "", headers)
    assert req is not None and req.signature == seed
    return req, sigv4.verify(req, SECRET, T0, region=REGION)


# --- canonicalisation ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "encode_slash", "expected"),
    [
        ("AZaz09-_.~", True, "AZaz09-_.~"),
        ("a b", True, "a%20b"),
        ("a+b*c", True, "a%2Bb%2Ac"),
        ("a/b", True, "a%2Fb"),
        ("a/b", False, "a/b"),
        ("100%", False, "100%25"),
        ("é€😀", True, "%C3%A9%E2%82%AC%F0%9F%98%80"),
        ("(=&?#)", True, "%28%3D%26%3F%23%29"),
    ],
)
def test_aws_uri_encode_reserved_bytes_percent_encoded(
    value: str, encode_slash: bool, expected: str
) -> None:
    assert sigv4.aws_uri_encode(value, encode_slash=encode_slash) == expected


@pytest.mark.parametrize(
    ("raw_path", "expected"),
    [
        ("", "/"),
        ("/", "/"),
        ("/bucket/a//b/", "/bucket/a//b/"),
        ("/bucket/./../x", "/bucket/./../x"),
        ("/bucket/a%2Fb", "/bucket/a%2Fb"),
        ("/bucket/(x)", "/bucket/%28x%29"),
        ("/bucket/%7Ex~", "/bucket/~x~"),
        ("/bucket/caf%c3%a9", "/bucket/caf%C3%A9"),
        ("/bucket/a+b", "/bucket/a%2Bb"),
        ("/bucket/a%20b", "/bucket/a%20b"),
        ("/bucket/%zz", "/bucket/%25zz"),
    ],
)
def test_canonical_uri_segments_aws_encoded_not_normalised(raw_path: str, expected: str) -> None:
    assert sigv4.canonical_uri(raw_path) == expected


def test_canonical_uri_unreserved_path_is_itself() -> None:
    unreserved = "/" + string.ascii_letters + string.digits + "-._~/x//"
    assert sigv4.canonical_uri(unreserved) == unreserved


@pytest.mark.parametrize("raw_path", ["/bucket/%FF", "/bucket/%C3", "/bucket/\udcff"])
def test_canonical_uri_invalid_utf8_invalid_uri(raw_path: str) -> None:
    raises(Code.InvalidURI, lambda: sigv4.canonical_uri(raw_path))


@pytest.mark.parametrize(
    ("raw_query", "expected"),
    [
        ("", ""),
        ("acl", "acl="),
        ("uploads", "uploads="),
        ("versionId=", "versionId="),
        ("b=2&a=1", "a=1&b=2"),
        ("a=2&a=1&a=", "a=&a=1&a=2"),
        ("&&x=1&", "x=1"),
        ("k=a+b", "k=a%2Bb"),
        ("k=a b&k2=%7e", "k=a%20b&k2=~"),
        ("k=a=b", "k=a%3Db"),
        ("prefix=/&delimiter=%2f", "delimiter=%2F&prefix=%2F"),
        ("z=1&%C3%A9=2", "%C3%A9=2&z=1"),  # sorted after encoding: '%' < 'z' < 'é'
    ],
)
def test_canonical_query_string_pairs_encoded_and_sorted(raw_query: str, expected: str) -> None:
    assert sigv4.canonical_query_string(raw_query) == expected


def test_canonical_query_string_excluded_key_dropped() -> None:
    query = "X-Amz-Signature=ab&a=1&X%2DAmz%2DSignature=cd"
    assert sigv4.canonical_query_string(query, exclude={"X-Amz-Signature"}) == "a=1"


def test_canonical_query_string_invalid_utf8_invalid_uri() -> None:
    raises(Code.InvalidURI, lambda: sigv4.canonical_query_string("prefix=%FF"))


def test_presign_params_every_documented_parameter_listed() -> None:
    assert {"X-Amz-Algorithm", "X-Amz-Signature", "X-Amz-Security-Token"} <= sigv4.PRESIGN_PARAMS
    assert len(sigv4.PRESIGN_PARAMS) == 8 and "X-Amz-Content-Sha256" in sigv4.PRESIGN_PARAMS


def test_signing_key_repeated_call_served_from_cache() -> None:
    sigv4.signing_key.cache_clear()
    sigv4.signing_key(SECRET, "20130524", REGION)
    sigv4.signing_key(SECRET, "20130524", REGION)
    info = sigv4.signing_key.cache_info()
    assert (info.hits, info.misses) == (1, 1) and info.maxsize is not None


# --- botocore as the oracle ---------------------------------------------------------------------

Signer = Callable[..., tuple[str, str, Headers]]


@pytest.fixture
def botocore_sign(monkeypatch: pytest.MonkeyPatch) -> Signer:
    """Sign with botocore's S3SigV4Auth or S3SigV4QueryAuth at T0; give (path, query, headers)."""
    monkeypatch.setattr(
        botocore.auth, "get_current_datetime", lambda remove_tzinfo=True: datetime(2013, 5, 24)
    )

    def sign(
        method: str,
        url: str,
        headers: Headers | None = None,
        body: bytes = b"",
        *,
        presign: bool = False,
        token: str | None = None,
        unsigned_payload: bool = False,
    ) -> tuple[str, str, Headers]:
        # A presigned URL signs no body (and botocore's query signer would move one into the query).
        request = AWSRequest(method=method, url=url, data=b"" if presign else body)
        for name, value in headers or []:
            request.headers[name] = value  # an email.message: a second value adds a header
        if unsigned_payload:
            request.context["client_config"] = Config(s3={"payload_signing_enabled": False})
        credentials = Credentials(AKID, SECRET, token)
        if presign:
            botocore.auth.S3SigV4QueryAuth(credentials, "s3", REGION, expires=900).add_auth(request)
        else:
            botocore.auth.S3SigV4Auth(credentials, "s3", REGION).add_auth(request)
        parts = urlsplit(request.url)
        return parts.path, parts.query, [("Host", parts.netloc), *request.headers.items()]

    return sign


def accept(method: str, signed: tuple[str, str, Headers]) -> sigv4.SigV4Request:
    req = sigv4.parse(method, *signed)
    assert req is not None
    sigv4.verify(req, SECRET, T0, region=REGION)
    return req


@pytest.mark.parametrize("key", TRICKY_KEYS)
@pytest.mark.parametrize("presign", [False, True], ids=["header", "presigned"])
def test_parse_verify_botocore_tricky_key_accepted(
    botocore_sign: Signer, key: str, presign: bool
) -> None:
    url = f"https://{HOST}/{quote(key, safe='/~')}"
    accept("PUT", botocore_sign("PUT", url, [("x-amz-meta-k", "v")], b"body", presign=presign))


TRICKY_QUERIES = [
    "uploads",
    "versionId=",
    "acl&versionId=3%2FL4kqtJlcpXroDTDmJ%2Bpp",
    "list-type=2&prefix=&delimiter=%2F&start-after=a%20b",
    "tagging&x-id=PutObjectTagging",
    "a=2&a=1&a=",
    "prefix=%2B%25~%C3%BC&max-keys=5",
    "response-content-disposition=attachment%3B%20filename%3D%22a.txt%22",
]


@pytest.mark.parametrize("query", TRICKY_QUERIES)
@pytest.mark.parametrize("presign", [False, True], ids=["header", "presigned"])
def test_parse_verify_botocore_tricky_query_accepted(
    botocore_sign: Signer, query: str, presign: bool
) -> None:
    accept(
        "GET", botocore_sign("GET", f"http://localhost:9000/bucket/key?{query}", presign=presign)
    )


def test_parse_verify_botocore_random_keys_accepted(botocore_sign: Signer) -> None:
    """A few hundred keys drawn from ASCII punctuation, whitespace, '/' and non-ASCII letters."""
    rng = random.Random(20130524)
    alphabet = "abc/ ~+%=&?#()!*'\"<>[]{}|\\^`@$,;:\t-_.é€😀ключ"
    for _ in range(300):
        key = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 24)))
        value = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 8)))
        url = (
            f"http://127.0.0.1:9000/bucket/{quote(key, safe='/~')}?prefix={quote(value, safe='~')}"
        )
        accept("GET", botocore_sign("GET", url, presign=rng.random() < 0.5))


def test_parse_verify_botocore_payload_modes_accepted(botocore_sign: Signer) -> None:
    url = f"https://{HOST}/key"
    signed = accept("PUT", botocore_sign("PUT", url, body=b"data"))
    assert signed.payload_hash == hashlib.sha256(b"data").hexdigest()
    unsigned = accept("PUT", botocore_sign("PUT", url, body=b"data", unsigned_payload=True))
    assert unsigned.payload_hash == "UNSIGNED-PAYLOAD"


def test_parse_verify_botocore_repeated_and_spaced_headers_accepted(botocore_sign: Signer) -> None:
    """SigV4 joins repeated headers with ',' and collapses runs of spaces inside a value."""
    headers = [
        ("X-Amz-Meta-A", "  one   two  "),
        ("x-amz-meta-a", "three"),
        ("Content-Type", "text/plain"),
    ]
    req = accept("PUT", botocore_sign("PUT", f"https://{HOST}/k", headers, b"x"))
    assert "x-amz-meta-a:one two,three\n" in req.canonical_request


def test_parse_verify_botocore_date_header_only_accepted(botocore_sign: Signer) -> None:
    """With a Date header botocore signs Date and sends no x-amz-date; S3 takes the time from it."""
    path, query, headers = botocore_sign("GET", f"https://{HOST}/k", [("Date", "whatever")])
    assert not any(name.lower() == "x-amz-date" for name, _ in headers)
    req = accept("GET", (path, query, headers))
    assert (req.request_at, req.amz_date) == (T0, STAMP)


@pytest.mark.parametrize("presign", [False, True], ids=["header", "presigned"])
def test_parse_botocore_session_token_reported(botocore_sign: Signer, presign: bool) -> None:
    token = "FwoGZXIvYXdzE+/token=="
    req = accept("GET", botocore_sign("GET", f"https://{HOST}/k", presign=presign, token=token))
    assert req.security_token == token


def test_verify_botocore_raw_path_signature_accepted_via_alt(botocore_sign: Signer) -> None:
    """A client that signs the path as sent ('(' unencoded) still verifies, through the raw path."""
    req = accept("GET", botocore_sign("GET", f"https://{HOST}/a(b)~c"))
    assert req.canonical_request.split("\n")[1] == "/a%28b%29~c"
    assert (
        req.alt_canonical_request is not None
        and req.alt_canonical_request.split("\n")[1] == "/a(b)~c"
    )


def test_parse_verify_upper_case_header_names_accepted() -> None:
    method, path, query, headers, signed, signature, *_ = GET_OBJECT
    upper = [(name.upper(), value) for name, value in headers]
    req = sigv4.parse(
        method, path, query, [*upper, ("AUTHORIZATION", authorization(signed, signature))]
    )
    assert req is not None
    sigv4.verify(req, SECRET, T0, region=REGION)


def flip_bit(text: str, index: int = 0) -> str:
    return text[:index] + chr(ord(text[index]) ^ 1) + text[index + 1 :]


def edit_header(headers: Headers, name: str, value: str) -> Headers:
    return [(n, value if n.lower() == name else v) for n, v in headers]


Tamper = Callable[[str, str, Headers], tuple[str, str, str, Headers]]
HEADER_TAMPERING: dict[str, Tamper] = {
    "method": lambda p, q, h: ("HEAD", p, q, h),
    "path": lambda p, q, h: ("GET", flip_bit(p, 3), q, h),
    "query value": lambda p, q, h: ("GET", p, q.replace("prefix=a", "prefix=b"), h),
    "extra query parameter": lambda p, q, h: ("GET", p, q + "&versionId=1", h),
    "signed header": lambda p, q, h: ("GET", p, q, edit_header(h, "x-amz-meta-color", "blue")),
    "host": lambda p, q, h: ("GET", p, q, edit_header(h, "host", "other.example")),
    "date": lambda p, q, h: ("GET", p, q, edit_header(h, "x-amz-date", "20130524T000001Z")),
    "payload hash": lambda p, q, h: ("GET", p, q, edit_header(h, "x-amz-content-sha256", "0" * 64)),
}


@pytest.mark.parametrize("tamper", HEADER_TAMPERING.values(), ids=HEADER_TAMPERING.keys())
def test_verify_botocore_header_auth_tampered_does_not_match(
    botocore_sign: Signer, tamper: Tamper
) -> None:
    signed = botocore_sign("GET", f"https://{HOST}/key?prefix=a", [("x-amz-meta-color", "red")])
    req = sigv4.parse(*tamper(*signed))
    assert req is not None
    raises(Code.SignatureDoesNotMatch, lambda: sigv4.verify(req, SECRET, T0, region=REGION))


PRESIGNED_TAMPERING: dict[str, Tamper] = {
    "path": lambda p, q, h: ("GET", p + "x", q, h),
    "query value": lambda p, q, h: ("GET", p, q.replace("prefix=a", "prefix=b"), h),
    "extra query parameter": lambda p, q, h: ("GET", p, "versionId=1&" + q, h),
    "expiry": lambda p, q, h: ("GET", p, q.replace("X-Amz-Expires=900", "X-Amz-Expires=901"), h),
    "date": lambda p, q, h: ("GET", p, q.replace("T000000Z", "T000001Z"), h),
    "signed header": lambda p, q, h: ("GET", p, q, edit_header(h, "x-amz-meta-color", "blue")),
    "host": lambda p, q, h: ("GET", p, q, edit_header(h, "host", "other.example")),
}


@pytest.mark.parametrize("tamper", PRESIGNED_TAMPERING.values(), ids=PRESIGNED_TAMPERING.keys())
def test_verify_botocore_presigned_tampered_does_not_match(
    botocore_sign: Signer, tamper: Tamper
) -> None:
    signed = botocore_sign(
        "GET", f"https://{HOST}/key?prefix=a", [("x-amz-meta-color", "red")], presign=True
    )
    req = sigv4.parse(*tamper(*signed))
    assert req is not None
    raises(Code.SignatureDoesNotMatch, lambda: sigv4.verify(req, SECRET, T0, region=REGION))


@pytest.mark.parametrize("index", [0, len(SECRET) - 1], ids=["first", "last"])
@pytest.mark.parametrize("presign", [False, True], ids=["header", "presigned"])
def test_verify_botocore_flipped_secret_bit_does_not_match(
    botocore_sign: Signer, presign: bool, index: int
) -> None:
    req = sigv4.parse("GET", *botocore_sign("GET", f"https://{HOST}/key", presign=presign))
    assert req is not None
    secret = flip_bit(SECRET, index)
    raises(Code.SignatureDoesNotMatch, lambda: sigv4.verify(req, secret, T0, region=REGION))


# --- what S3 answers to malformed requests -------------------------------------------------------


def get_object(authorization_value: str | None = None, **replace: str | None) -> Headers:
    """The GET Object example's headers, with some replaced (None drops one) or added."""
    _, _, _, headers, signed, signature, _, _ = GET_OBJECT
    result = [(n, v) for n, v in headers if n.lower().replace("-", "_") not in replace]
    result += [
        (name.replace("_", "-"), value) for name, value in replace.items() if value is not None
    ]
    value = authorization(signed, signature) if authorization_value is None else authorization_value
    return result + ([("Authorization", value)] if value else [])


GOOD_SIGNATURE = GET_OBJECT[5]
SIGNED = GET_OBJECT[4]
MALFORMED = "The authorization header is malformed; "
# Details that follow "The authorization header is malformed; " (or the X-Amz-Credential prefix).
THREE = "the authorization header requires three components: Credential, SignedHeaders, "
THREE += "and Signature."
BAD_CREDENTIAL = 'the Credential is mal-formed; expecting "<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/'
BAD_CREDENTIAL += 'aws4_request".'
SCOPE = "20130524/us-east-1/s3/aws4_request"
NO_DATE = "AWS authentication requires a valid Date or x-amz-date header"
V2 = "The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256."
ONE = (
    "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query "
    "string parameter or the Authorization header should be specified"
)


def components(
    credential: str = f"Credential={AKID}/{SCOPE}",
    signed: str = f"SignedHeaders={SIGNED}",
    signature: str = f"Signature={GOOD_SIGNATURE}",
) -> str:
    return "AWS4-HMAC-SHA256 " + ", ".join(part for part in (credential, signed, signature) if part)


def with_scope(scope: str) -> str:
    return components(credential=f"Credential={scope}")


DATE_FORMAT = 'incorrect date format "{}". This date in the credential must be in the format '
DATE_FORMAT += '"yyyyMMdd".'
# id: (Authorization value, what follows "The authorization header is malformed; ")
MALFORMED_AUTHORIZATION = {
    "no Credential": (components(credential=""), THREE),
    "no SignedHeaders": (components(signed=""), THREE),
    "no Signature": (components(signature=""), THREE),
    "an unknown component": (
        components() + ", Foo=bar",
        'the authorization component "Foo=bar" is malformed.',
    ),
    "a repeated component": (
        components(signature=f"Credential={AKID}/{SCOPE}"),
        f'the authorization component "Credential={AKID}/{SCOPE}" is malformed.',
    ),
    "a credential of four parts": (with_scope(f"{AKID}/20130524/s3/aws4_request"), BAD_CREDENTIAL),
    "no access key": (with_scope(f"/{SCOPE}"), BAD_CREDENTIAL),
    "a scope date of seven digits": (
        with_scope(f"{AKID}/2013052/us-east-1/s3/aws4_request"),
        DATE_FORMAT.format("2013052"),
    ),
    "a scope date in month 13": (
        with_scope(f"{AKID}/20131324/us-east-1/s3/aws4_request"),
        DATE_FORMAT.format("20131324"),
    ),
    "another terminator": (
        with_scope(f"{AKID}/20130524/us-east-1/s3/aws4_reques"),
        'incorrect terminal "aws4_reques". This endpoint uses "aws4_request".',
    ),
    "a signature of 63 hex digits": (
        components(signature=f"Signature={GOOD_SIGNATURE[1:]}"),
        "Signature must be 64 hexadecimal characters.",
    ),
    "a signature that is not hex": (
        components(signature="Signature=" + "g" * 64),
        "Signature must be 64 hexadecimal characters.",
    ),
    "host not signed": (
        components(signed="SignedHeaders=range;x-amz-content-sha256;x-amz-date"),
        'SignedHeaders must include "host".',
    ),
    "an empty name in SignedHeaders": (
        components(signed="SignedHeaders=host;;range"),
        'SignedHeaders "host;;range" is malformed.',
    ),
    "a signed header the request lacks": (
        components(signed=f"SignedHeaders={SIGNED};x-amz-meta-a"),
        'SignedHeaders lists "x-amz-meta-a", which the request does not have.',
    ),
}


@pytest.mark.parametrize(
    ("value", "detail"), MALFORMED_AUTHORIZATION.values(), ids=MALFORMED_AUTHORIZATION.keys()
)
def test_parse_malformed_authorization_header_malformed(value: str, detail: str) -> None:
    headers = get_object(value)
    error = raises(Code.AuthorizationHeaderMalformed, lambda: sigv4.parse("GET", "/", "", headers))
    assert error.message == MALFORMED + detail


def test_parse_two_authorization_headers_malformed() -> None:
    headers = [*get_object(), ("Authorization", components())]
    error = raises(Code.AuthorizationHeaderMalformed, lambda: sigv4.parse("GET", "/", "", headers))
    expected = f'the authorization component "AWS4-HMAC-SHA256 Credential={AKID}/{SCOPE}"'
    assert error.message == MALFORMED + expected + " is malformed."


UNSUPPORTED = "Unsupported Authorization Type"
ECDSA = "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD"
# id: (query, headers, code, message): requests S3 refuses with another code than the above.
REFUSED_HEADER_AUTH = {
    "an x-amz-content-sha256 that is not a hash": (
        "",
        get_object(x_amz_content_sha256=EMPTY[1:]),
        Code.InvalidArgument,
        sigv4._BAD_PAYLOAD_HASH,
    ),
    "a SigV4a payload mode": (
        "",
        get_object(x_amz_content_sha256=ECDSA),
        Code.NotImplemented,
        Code.NotImplemented.default_message,
    ),
    "no date": ("", get_object(x_amz_date=None), Code.AccessDenied, NO_DATE),
    "an x-amz-date in extended format": (
        "",
        get_object(x_amz_date="2013-05-24T00:00:00Z"),
        Code.AccessDenied,
        NO_DATE,
    ),
    "an x-amz-date on May 32": (
        "",
        get_object(x_amz_date="20130532T000000Z"),
        Code.AccessDenied,
        NO_DATE,
    ),
    "an unparsable Date and no x-amz-date": (
        "",
        get_object(x_amz_date=None, date="yesterday"),
        Code.AccessDenied,
        NO_DATE,
    ),
    "Signature Version 2": (
        "",
        get_object(f"AWS {AKID}:frJIUN8DYpKDtOLCwo//yllqDzg="),
        Code.InvalidRequest,
        V2,
    ),
    "the Bearer scheme": ("", get_object("Bearer token"), Code.InvalidArgument, UNSUPPORTED),
    "another algorithm": (
        "",
        get_object(components().replace("SHA256", "SHA1", 1)),
        Code.InvalidArgument,
        UNSUPPORTED,
    ),
    "X-Amz-Algorithm too": (
        "X-Amz-Algorithm=AWS4-HMAC-SHA256",
        get_object(),
        Code.InvalidArgument,
        ONE,
    ),
    "a Signature parameter too": ("Signature=abc", get_object(), Code.InvalidArgument, ONE),
}


@pytest.mark.parametrize(
    ("query", "headers", "code", "message"),
    REFUSED_HEADER_AUTH.values(),
    ids=REFUSED_HEADER_AUTH.keys(),
)
def test_parse_unacceptable_header_auth_refused(
    query: str, headers: Headers, code: Code, message: str
) -> None:
    error = raises(code, lambda: sigv4.parse("GET", "/test.txt", query, headers))
    assert error.message == message


def test_parse_bad_payload_hash_error_names_the_argument() -> None:
    error = raises(
        Code.InvalidArgument,
        lambda: sigv4.parse("GET", "/test.txt", "", get_object(x_amz_content_sha256="md5")),
    )
    assert error.extra == {"ArgumentName": "x-amz-content-sha256", "ArgumentValue": "md5"}


def test_parse_two_mechanisms_error_names_the_authorization_value() -> None:
    headers = get_object()
    error = raises(
        Code.InvalidArgument, lambda: sigv4.parse("GET", "/", "X-Amz-Algorithm=x", headers)
    )
    assert error.extra == {
        "ArgumentName": "Authorization",
        "ArgumentValue": dict(headers)["Authorization"],
    }


@pytest.mark.parametrize(
    ("query", "headers"),
    [
        ("", [("Host", HOST)]),
        ("prefix=a&versionId=1", [("Host", HOST)]),
        ("", [("Host", HOST), ("Authorization", "")]),
    ],
    ids=["nothing", "other parameters", "empty Authorization"],
)
def test_parse_no_authentication_returns_none(query: str, headers: Headers) -> None:
    assert sigv4.parse("GET", "/", query, headers) is None


def test_parse_verify_date_header_without_zone_taken_as_utc() -> None:
    def headers(signature: str) -> Headers:
        value = authorization("date;host;range;x-amz-content-sha256", signature)
        return get_object(value, x_amz_date=None, date="Fri, 24 May 2013 00:00:00 -0000")

    draft = sigv4.parse("GET", "/test.txt", "", headers("0" * 64))
    assert draft is not None and draft.amz_date == STAMP
    req = sigv4.parse("GET", "/test.txt", "", headers(independent_signature(draft.string_to_sign)))
    assert req is not None
    sigv4.verify(req, SECRET, T0, region=REGION)


def presigned_query(**replace: str | None) -> str:
    """The presigned example's query string, with parameters replaced (None drops one)."""
    pairs = [piece.split("=", 1) for piece in PRESIGNED_QUERY.split("&")]
    kept = [
        f"{key}={replace.get(key, value)}"
        for key, value in pairs
        if replace.get(key, value) is not None
    ]
    return "&".join(
        kept + [f"{k}={v}" for k, v in replace.items() if v is not None and k not in dict(pairs)]
    )


REQUIRED = (
    "Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, "
    "X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters."
)
CREDENTIAL = "Error parsing the X-Amz-Credential parameter; "
WEEK = "X-Amz-Expires must be less than a week (in seconds); that is, the given X-Amz-Expires "
WEEK += "must be less than 604800 seconds"


def with_param(name: str, value: str | None) -> str:
    return presigned_query(**{name: value})


# id: (query, message), all AuthorizationQueryParametersError
MALFORMED_QUERY = {
    **{f"no {name}": (with_param(name, None), REQUIRED) for name in sorted(sigv4._REQUIRED_PARAMS)},
    "a signature and no other parameter": ("X-Amz-Signature=" + "0" * 64, REQUIRED),
    "another algorithm": (
        with_param("X-Amz-Algorithm", "AWS4-HMAC-SHA1"),
        'X-Amz-Algorithm only supports "AWS4-HMAC-SHA256"',
    ),
    "a credential of three parts": (
        with_param("X-Amz-Credential", f"{AKID}%2F20130524%2Fs3"),
        CREDENTIAL + BAD_CREDENTIAL,
    ),
    "a scope date with a letter O": (
        with_param("X-Amz-Credential", f"{AKID}/2013O524/us-east-1/s3/aws4_request"),
        CREDENTIAL + DATE_FORMAT.format("2013O524"),
    ),
    "another terminator": (
        with_param("X-Amz-Credential", f"{AKID}/20130524/us-east-1/s3/aws5_request"),
        CREDENTIAL + 'incorrect terminal "aws5_request". This endpoint uses "aws4_request".',
    ),
    "an X-Amz-Date in extended format": (
        with_param("X-Amz-Date", "2013-05-24T00:00:00Z"),
        "X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"",
    ),
    "X-Amz-Expires=1h": (with_param("X-Amz-Expires", "1h"), "X-Amz-Expires should be a number"),
    "an empty X-Amz-Expires": (with_param("X-Amz-Expires", ""), "X-Amz-Expires should be a number"),
    "X-Amz-Expires=-1": (with_param("X-Amz-Expires", "-1"), "X-Amz-Expires must be non-negative"),
    "X-Amz-Expires=604801": (with_param("X-Amz-Expires", "604801"), WEEK),
    "a 5000-digit X-Amz-Expires": (with_param("X-Amz-Expires", "9" * 5000), WEEK),
    "host not signed": (
        with_param("X-Amz-SignedHeaders", "range"),
        'X-Amz-SignedHeaders must include "host".',
    ),
    "a signed header the request lacks": (
        with_param("X-Amz-SignedHeaders", "host%3Bx-amz-meta-a"),
        'X-Amz-SignedHeaders lists "x-amz-meta-a", which the request does not have.',
    ),
    "a short signature": (
        with_param("X-Amz-Signature", "00"),
        "X-Amz-Signature must be 64 hexadecimal characters.",
    ),
    "X-Amz-Date twice": (
        PRESIGNED_QUERY + "&X-Amz-Date=20130525T000000Z",
        "X-Amz-Date must be given only once.",
    ),
}


@pytest.mark.parametrize(("query", "message"), MALFORMED_QUERY.values(), ids=MALFORMED_QUERY.keys())
def test_parse_malformed_presigned_query_parameters_error(query: str, message: str) -> None:
    error = raises(Code.AuthorizationQueryParametersError, lambda: presigned_example(query))
    assert error.message == message


REFUSED_QUERY = {
    "a bad X-Amz-Content-Sha256": (
        with_param("X-Amz-Content-Sha256", "abc"),
        Code.InvalidArgument,
        sigv4._BAD_PAYLOAD_HASH,
    ),
    "Signature Version 2": (
        f"AWSAccessKeyId={AKID}&Expires=1369353600&Signature=abc%3D",
        Code.InvalidRequest,
        V2,
    ),
    "invalid UTF-8": (
        PRESIGNED_QUERY + "&prefix=%FF",
        Code.InvalidURI,
        Code.InvalidURI.default_message,
    ),
}


@pytest.mark.parametrize(
    ("query", "code", "message"), REFUSED_QUERY.values(), ids=REFUSED_QUERY.keys()
)
def test_parse_unacceptable_presigned_query_refused(query: str, code: Code, message: str) -> None:
    error = raises(code, lambda: presigned_example(query))
    assert error.message == message


def test_parse_presigned_expires_a_week_accepted() -> None:
    assert (
        presigned_example(presigned_query(**{"X-Amz-Expires": "0604800"})).expires_seconds == 604800
    )


def test_parse_verify_presigned_content_sha256_parameter_signed() -> None:
    """[QRY]: a presigned URL may fix the payload hash; it is both a parameter and the last line."""
    for query, headers in [
        (
            presigned_query(**{"X-Amz-Content-Sha256": WELCOME, "X-Amz-Signature": "0" * 64}),
            [("Host", HOST)],
        ),
        (
            presigned_query(**{"X-Amz-Signature": "0" * 64}),
            [("Host", HOST), ("x-amz-content-sha256", WELCOME)],
        ),
    ]:
        draft = presigned_example(query, headers)
        assert draft.payload_hash == WELCOME and draft.canonical_request.endswith("\n" + WELCOME)
        signature = independent_signature(draft.string_to_sign)
        req = presigned_example(query.replace("0" * 64, signature), headers)
        sigv4.verify(req, SECRET, T0, region=REGION)


# --- scope, clock, signature and unsigned headers in verify() -----------------------------------


def header_request(**replace: str | None) -> sigv4.SigV4Request:
    req = sigv4.parse("GET", "/test.txt", "", get_object(**replace))
    assert req is not None
    return req


@pytest.mark.parametrize(
    ("req", "code", "message"),
    [
        (
            header_request(),
            Code.AuthorizationHeaderMalformed,
            MALFORMED + "the region 'us-east-1' is wrong; expecting 'eu-west-1'",
        ),
        (
            presigned_example(),
            Code.AuthorizationQueryParametersError,
            CREDENTIAL + "the region 'us-east-1' is wrong; expecting 'eu-west-1'",
        ),
    ],
    ids=["header", "presigned"],
)
def test_verify_other_region_rejected_with_expected_region(
    req: sigv4.SigV4Request, code: Code, message: str
) -> None:
    error = raises(code, lambda: sigv4.verify(req, SECRET, T0, region="eu-west-1"))
    assert (error.message, error.extra) == (message, {"Region": "eu-west-1"})


SCOPE_CASES = [
    ("service", {"service": "ec2"}, 'incorrect service "ec2". This endpoint belongs to "s3".'),
    (
        "date",
        {"scope_date": "20130523"},
        'Invalid credential date "20130523". This date is not the same as X-Amz-Date: "20130524".',
    ),
]


@pytest.mark.parametrize(
    ("change", "detail"), [case[1:] for case in SCOPE_CASES], ids=[case[0] for case in SCOPE_CASES]
)
@pytest.mark.parametrize("presign", [False, True], ids=["header", "presigned"])
def test_verify_scope_mismatch_rejected(change: dict[str, str], detail: str, presign: bool) -> None:
    req = dataclasses.replace(presigned_example() if presign else header_request(), **change)
    code = Code.AuthorizationQueryParametersError if presign else Code.AuthorizationHeaderMalformed
    error = raises(code, lambda: sigv4.verify(req, SECRET, T0, region=REGION))
    assert error.message == (CREDENTIAL if presign else MALFORMED) + detail


@pytest.mark.parametrize(
    "offset", [timedelta(minutes=15), -timedelta(minutes=15)], ids=["late", "early"]
)
def test_verify_header_auth_skew_of_15_minutes_accepted(offset: timedelta) -> None:
    sigv4.verify(header_request(), SECRET, T0 + offset, region=REGION)


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
        Code.RequestTimeTooSkewed,
        lambda: sigv4.verify(header_request(), SECRET, T0 + offset, region=REGION),
    )
    assert error.extra == {
        "RequestTime": STAMP,
        "ServerTime": server_time,
        "MaxAllowedSkewMilliseconds": "900000",
    }


def test_verify_header_auth_custom_skew_reported() -> None:
    def call() -> bytes:
        late = T0 + timedelta(minutes=6)
        return sigv4.verify(
            header_request(), SECRET, late, region=REGION, max_skew=timedelta(minutes=5)
        )

    assert raises(Code.RequestTimeTooSkewed, call).extra["MaxAllowedSkewMilliseconds"] == "300000"


def test_verify_presigned_last_second_accepted() -> None:
    sigv4.verify(presigned_example(), SECRET, T0 + timedelta(seconds=86400), region=REGION)


def test_verify_presigned_after_expiry_expired() -> None:
    late = T0 + timedelta(seconds=86401)
    error = raises(
        Code.AccessDenied, lambda: sigv4.verify(presigned_example(), SECRET, late, region=REGION)
    )
    assert error.message == "Request has expired"
    assert error.extra == {
        "X-Amz-Expires": "86400",
        "Expires": "2013-05-25T00:00:00Z",
        "ServerTime": "2013-05-25T00:00:01Z",
    }
    assert b"<X-Amz-Expires>86400</X-Amz-Expires>" in error_xml(error, request_id="r")


def test_verify_presigned_15_minutes_early_accepted() -> None:
    sigv4.verify(presigned_example(), SECRET, T0 - timedelta(minutes=15), region=REGION)


def test_verify_presigned_more_than_15_minutes_early_not_yet_valid() -> None:
    early = T0 - timedelta(minutes=15, seconds=1)
    error = raises(
        Code.AccessDenied, lambda: sigv4.verify(presigned_example(), SECRET, early, region=REGION)
    )
    assert error.message == "Request is not yet valid"
    assert error.extra == {
        "X-Amz-Date": "1369353600000",
        "Expires": "2013-05-25T00:00:00Z",
        "ServerTime": "2013-05-23T23:44:59Z",
    }


def test_verify_presigned_long_after_date_within_expiry_accepted() -> None:
    """A presigned URL is not bound by the 15-minute skew, only by X-Amz-Expires."""
    sigv4.verify(presigned_example(), SECRET, T0 + timedelta(hours=23), region=REGION)


def test_verify_signature_mismatch_reports_strings_and_never_the_secret() -> None:
    req = header_request()
    error = raises(
        Code.SignatureDoesNotMatch, lambda: sigv4.verify(req, "another secret", T0, region=REGION)
    )
    assert list(error.extra) == [
        "AWSAccessKeyId",
        "StringToSign",
        "SignatureProvided",
        "StringToSignBytes",
        "CanonicalRequest",
        "CanonicalRequestBytes",
    ]
    assert (
        error.extra["AWSAccessKeyId"] == AKID and error.extra["SignatureProvided"] == GOOD_SIGNATURE
    )
    assert (
        error.extra["StringToSign"] == req.string_to_sign
        and error.extra["CanonicalRequest"] == req.canonical_request
    )
    assert error.extra["StringToSignBytes"].startswith("41 57 53 34 2d")  # "AWS4-"
    assert (
        bytes.fromhex(error.extra["CanonicalRequestBytes"].replace(" ", "")).decode()
        == req.canonical_request
    )
    secrets = [
        SECRET,
        "another secret",
        sigv4.signing_key("another secret", "20130524", REGION).hex(),
    ]
    body = error_xml(error, request_id="r").decode()
    for secret in secrets:
        assert all(secret not in value for value in error.extra.values()) and secret not in body


def test_verify_signature_upper_case_hex_accepted() -> None:
    headers = get_object(authorization(SIGNED, GOOD_SIGNATURE.upper()))
    req = sigv4.parse("GET", "/test.txt", "", headers)
    assert req is not None and req.signature == GOOD_SIGNATURE
    sigv4.verify(req, SECRET, T0, region=REGION)


def test_verify_unsigned_amz_headers_access_denied() -> None:
    """S3 refuses x-amz-* headers outside SignedHeaders, so nobody on the path can add one."""
    req = header_request(x_amz_meta_color="red", x_amz_acl="public-read")
    error = raises(Code.AccessDenied, lambda: sigv4.verify(req, SECRET, T0, region=REGION))
    assert error.message == "There were headers present in the request which were not signed"
    assert error.extra == {"HeadersNotSigned": "x-amz-acl, x-amz-meta-color"}


def test_verify_presigned_unsigned_amz_header_access_denied() -> None:
    req = presigned_example(headers=[("Host", HOST), ("x-amz-copy-source", "/other/key")])
    error = raises(Code.AccessDenied, lambda: sigv4.verify(req, SECRET, T0, region=REGION))
    assert error.extra == {"HeadersNotSigned": "x-amz-copy-source"}


def test_verify_presigned_unsigned_content_sha256_header_tolerated() -> None:
    req = presigned_example(headers=[("Host", HOST), ("x-amz-content-sha256", "UNSIGNED-PAYLOAD")])
    assert req.unsigned_headers == ()
    sigv4.verify(req, SECRET, T0, region=REGION)


def test_verify_bad_signature_checked_before_unsigned_headers() -> None:
    req = header_request(x_amz_meta_color="red")
    raises(
        Code.SignatureDoesNotMatch, lambda: sigv4.verify(req, "another secret", T0, region=REGION)
    )


# --- header auth without x-amz-content-sha256 (curl --aws-sigv4) ---------------------------------

NO_HASH = "Missing required header for this request: x-amz-content-sha256"
HELLO = hashlib.sha256(b"hello world").hexdigest()
CURL_SECRET = "secret"
# Captured from curl 7.88.1 (Debian 12), `curl --aws-sigv4 aws:amz:us-east-1:s3 --user
# AKIAIOSFODNN7EXAMPLE:secret http://127.0.0.1:43473/...`: it signs host;x-amz-date and a payload
# hash, and sends no x-amz-content-sha256. id: (method, path, query, x-amz-date, signature, hash)
CURL_788 = {
    "GET": (
        "GET",
        "/bucket/key",
        "",
        "20261125T095626Z",
        "c6b6dc35191715c059e668acc8c3c84635a1d96bb5bbf7ce9f8583a6bfa4f869",
        EMPTY,
    ),
    # -T sends the file but signs the SHA-256 of no bytes (curl hashes POSTFIELDS, unset here).
    "PUT -T hello.txt": (
        "PUT",
        "/bucket/up",
        "",
        "20261125T095627Z",
        "47ff91836460a15137c3046523a2d62f50b25ed7febf5144c5014f5333f586db",
        EMPTY,
    ),
    "PUT --data-binary 'hello world'": (
        "PUT",
        "/bucket/put",
        "",
        "20261125T095628Z",
        "8c884bae5cd71de103485044252ce31f64907111cfb9e8f5437e6f7c4de9f826",
        HELLO,
    ),
}
CurlCapture = tuple[str, str, str, str, str, str]


def curl_request(capture: CurlCapture, signature: str | None = None) -> sigv4.SigV4Request:
    method, path, query, stamp, captured, _ = capture
    scope = f"{AKID}/{stamp[:8]}/{REGION}/s3/aws4_request"
    value = f"AWS4-HMAC-SHA256 Credential={scope}, SignedHeaders=host;x-amz-date, Signature="
    headers = [
        ("Host", "127.0.0.1:43473"),
        ("Authorization", value + (signature or captured)),
        ("X-Amz-Date", stamp),
    ]
    req = sigv4.parse(method, path, query, headers)
    assert req is not None
    return req


def curl_time(capture: CurlCapture) -> datetime:
    return datetime.strptime(capture[3], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)


@pytest.mark.parametrize("capture", CURL_788.values(), ids=CURL_788.keys())
def test_parse_curl_no_content_sha256_hash_unknown(capture: CurlCapture) -> None:
    req = curl_request(capture)
    assert (req.payload_hash, req.payload_hash_sent) == ("", False)
    assert req.canonical_request.endswith("\nhost;x-amz-date\n")


@pytest.mark.parametrize("capture", CURL_788.values(), ids=CURL_788.keys())
def test_verify_curl_with_signed_payload_hash_accepted(capture: CurlCapture) -> None:
    req = sigv4.with_payload_hash(curl_request(capture), capture[5])
    assert (req.payload_hash, req.payload_hash_sent) == (capture[5], False)
    assert req.canonical_request.endswith("\nhost;x-amz-date\n" + capture[5])
    sigv4.verify(req, CURL_SECRET, curl_time(capture), region=REGION)


@pytest.mark.parametrize("capture", CURL_788.values(), ids=CURL_788.keys())
def test_verify_curl_without_payload_hash_invalid_request(capture: CurlCapture) -> None:
    """Fail closed: until the gateway supplies the hash, even the right secret gets S3's error."""
    req = curl_request(capture)
    error = raises(
        Code.InvalidRequest,
        lambda: sigv4.verify(req, CURL_SECRET, curl_time(capture), region=REGION),
    )
    assert error.message == NO_HASH


def test_verify_signature_over_empty_hash_line_still_refused() -> None:
    """A signature made over the canonical request parse() builds (an empty last line) is
    refused too: no signature can stand in for the unknown hash."""
    capture = CURL_788["GET"]
    draft = curl_request(capture)
    forged = curl_request(capture, independent_signature(draft.string_to_sign, CURL_SECRET))
    raises(
        Code.InvalidRequest,
        lambda: sigv4.verify(forged, CURL_SECRET, curl_time(capture), region=REGION),
    )


@pytest.mark.parametrize("wrong", [HELLO, "0" * 64], ids=["the body's hash", "zeros"])
def test_verify_curl_with_wrong_payload_hash_does_not_match(wrong: str) -> None:
    capture = CURL_788["PUT -T hello.txt"]  # signed the empty hash
    req = sigv4.with_payload_hash(curl_request(capture), wrong)
    raises(
        Code.SignatureDoesNotMatch,
        lambda: sigv4.verify(req, CURL_SECRET, curl_time(capture), region=REGION),
    )


def test_with_payload_hash_second_guess_replaces_first() -> None:
    """The gateway may try the body's hash, then the empty one (what curl -T signs)."""
    capture = CURL_788["PUT -T hello.txt"]
    first = sigv4.with_payload_hash(curl_request(capture), HELLO)
    second = sigv4.with_payload_hash(first, EMPTY.upper())
    assert second.payload_hash == EMPTY and second.canonical_request.count(EMPTY) == 1
    sigv4.verify(second, CURL_SECRET, curl_time(capture), region=REGION)


@pytest.mark.parametrize(
    ("req", "payload_hash"),
    [
        (curl_request(CURL_788["GET"]), "UNSIGNED-PAYLOAD"),
        (curl_request(CURL_788["GET"]), EMPTY[1:]),
        (header_request(), EMPTY),
        (presigned_example(), EMPTY),
    ],
    ids=["UNSIGNED-PAYLOAD", "63 hex digits", "hash sent", "presigned"],
)
def test_with_payload_hash_not_applicable_value_error(
    req: sigv4.SigV4Request, payload_hash: str
) -> None:
    with pytest.raises(ValueError):
        sigv4.with_payload_hash(req, payload_hash)


def test_verify_with_payload_hash_raw_path_alt_accepted() -> None:
    """A client that signs the path as sent ('(' unencoded) verifies once the hash is known."""
    headers = [("Host", HOST), ("x-amz-date", STAMP)]

    def request(signature: str) -> sigv4.SigV4Request:
        scope = f"{AKID}/20130524/{REGION}/s3/aws4_request"
        value = f"AWS4-HMAC-SHA256 Credential={scope},SignedHeaders=host;x-amz-date,Signature="
        req = sigv4.parse("PUT", "/a(b)", "", [*headers, ("Authorization", value + signature)])
        assert req is not None
        return sigv4.with_payload_hash(req, HELLO)

    draft = request("0" * 64)
    assert draft.alt_canonical_request is not None
    assert draft.alt_canonical_request.split("\n")[1] == "/a(b)"
    assert draft.alt_canonical_request.endswith("\n" + HELLO)
    digest = hashlib.sha256(draft.alt_canonical_request.encode()).hexdigest()
    alt_sts = f"AWS4-HMAC-SHA256\n{STAMP}\n20130524/{REGION}/s3/aws4_request\n{digest}"
    sigv4.verify(request(independent_signature(alt_sts)), SECRET, T0, region=REGION)


def test_verify_curl_788_bare_query_key_signed_raw_does_not_match() -> None:
    """Known gap, not S3 behaviour: curl 7.88 signs the query as sent ("uploads", unsorted and
    without '='); SigV4 canonicalises it ("uploads="), so such a request does not verify."""
    capture = (
        "POST",
        "/bucket/post",
        "uploads",
        "20261125T095629Z",
        "7164a5b92ddb17d1d22ed033b3ce44e2bf2456b92c7c0d2503ab70115228790f",
        hashlib.sha256(b"a=b").hexdigest(),
    )
    req = sigv4.with_payload_hash(curl_request(capture), capture[5])
    raises(
        Code.SignatureDoesNotMatch,
        lambda: sigv4.verify(req, CURL_SECRET, curl_time(capture), region=REGION),
    )
