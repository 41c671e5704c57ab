"""Tables for proxy/addressing.py: Host + raw path -> Target, and the upstream path back."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from proxy.addressing import Target, resolve, upstream_path
from proxy.s3errors import S3Error, S3ErrorCode

BASE = ("s3.localhost", "s3.example.com")


@pytest.mark.parametrize(
    "host, raw_path, bucket, key",
    [
        pytest.param("s3.localhost", "/", None, None, id="service"),
        pytest.param("s3.localhost:9000", "/bkt", "bkt", None, id="bucket"),
        pytest.param("s3.localhost", "/bkt/", "bkt", None, id="bucket-trailing-slash"),
        pytest.param("s3.localhost", "/bkt/k", "bkt", "k", id="object"),
        pytest.param("s3.localhost", "/bkt/a/b/c", "bkt", "a/b/c", id="nested-key"),
        pytest.param("s3.localhost", "/bkt/a//c/", "bkt", "a//c/", id="double-and-trailing-slash"),
        pytest.param("s3.localhost", "/bkt//x", "bkt", "/x", id="key-leading-slash"),
        pytest.param("s3.localhost", "/bkt/dir/", "bkt", "dir/", id="folder-marker"),
        pytest.param("s3.localhost", "/my.bkt/k", "my.bkt", "k", id="dotted-bucket"),
        pytest.param("S3.LOCALHOST:9000", "/bkt/K", "bkt", "K", id="uppercase-host"),
        pytest.param("s3.localhost.", "/bkt/k", "bkt", "k", id="fqdn-trailing-dot"),
        pytest.param("s3.example.com", "/bkt/k", "bkt", "k", id="second-base-domain"),
        pytest.param("localhost:9000", "/bkt/k", "bkt", "k", id="localhost"),
        pytest.param("127.0.0.1:9000", "/bkt/k", "bkt", "k", id="ipv4-port"),
        pytest.param("[::1]:9000", "/bkt/k", "bkt", "k", id="ipv6-port"),
        pytest.param("[::1]", "/bkt", "bkt", None, id="ipv6"),
        pytest.param("other.example.org", "/bkt/k", "bkt", "k", id="unknown-host"),
        pytest.param("example.com", "/bkt/k", "bkt", "k", id="parent-of-base-domain"),
        pytest.param("xs3.localhost", "/bkt/k", "bkt", "k", id="suffix-without-dot"),
        pytest.param(None, "/bkt/k", "bkt", "k", id="no-host"),
        pytest.param("", "/", None, None, id="empty-host"),
        pytest.param("s3.localhost", "/%62kt/k", "bkt", "k", id="escaped-bucket"),
    ],
)
def test_resolve_path_style_host_splits_first_segment(
    host: str | None, raw_path: str, bucket: str | None, key: str | None
) -> None:
    assert resolve(host, raw_path, BASE) == Target(bucket, key, "path")


@pytest.mark.parametrize(
    "host, raw_path, bucket, key",
    [
        pytest.param("bkt.s3.localhost", "/", "bkt", None, id="bucket"),
        pytest.param("bkt.s3.localhost:9000", "/k", "bkt", "k", id="object-port"),
        pytest.param("BKT.S3.LocalHost:9000", "/K", "bkt", "K", id="uppercase-host"),
        pytest.param("my.dotted.bkt.s3.localhost", "/k", "my.dotted.bkt", "k", id="dotted-bucket"),
        pytest.param("bkt.s3.example.com", "/a/b", "bkt", "a/b", id="second-base-domain"),
        pytest.param("bkt.s3.localhost.", "/k", "bkt", "k", id="fqdn-trailing-dot"),
        pytest.param("bkt.s3.localhost", "//x", "bkt", "/x", id="key-leading-slash"),
        pytest.param("bkt.s3.localhost", "/bkt/k", "bkt", "bkt/k", id="path-is-all-key"),
        pytest.param("bkt.s3.localhost", "/a//c/", "bkt", "a//c/", id="double-and-trailing-slash"),
    ],
)
def test_resolve_virtual_host_takes_bucket_from_host(
    host: str, raw_path: str, bucket: str, key: str | None
) -> None:
    assert resolve(host, raw_path, BASE) == Target(bucket, key, "virtual")


@pytest.mark.parametrize(
    "base_domains, host, expected",
    [
        pytest.param(("localhost", "s3.localhost"), "b12.s3.localhost", "b12", id="longest-wins"),
        pytest.param(("s3.localhost", "localhost"), "b12.s3.localhost", "b12", id="order-free"),
        pytest.param(("localhost", "s3.localhost"), "s3.localhost", None, id="exact-wins"),
        pytest.param(("S3.LocalHost.",), "b12.s3.localhost", "b12", id="base-domain-normalised"),
        pytest.param((), "b12.s3.localhost", None, id="no-base-domains"),
    ],
)
def test_resolve_multiple_base_domains_picks_most_specific(
    base_domains: tuple[str, ...], host: str, expected: str | None
) -> None:
    target = resolve(host, "/", base_domains)
    if expected is None:
        assert target == Target(None, None, "path")
    else:
        assert target == Target(expected, None, "virtual")


@pytest.mark.parametrize(
    "raw_key, key",
    [
        pytest.param("a%20b", "a b", id="space"),
        pytest.param("a+b", "a+b", id="plus-is-literal"),
        pytest.param("a%2Bb", "a+b", id="escaped-plus"),
        pytest.param("100%25", "100%", id="escaped-percent"),
        pytest.param("%C3%BC/%E6%97%A5%E6%9C%AC", "ü/日本", id="unicode-escaped"),
        pytest.param("ü/日本", "ü/日本", id="unicode-raw"),
        pytest.param("\udcc3\udcbc", "ü", id="unicode-surrogateescape"),
        pytest.param("a%2Fb", "a/b", id="escaped-slash"),
        pytest.param("a%2fb", "a/b", id="lowercase-escape"),
        pytest.param("~-_.!*'()", "~-_.!*'()", id="sub-delims-raw"),
        pytest.param("%00", "\x00", id="nul"),
        pytest.param("./../x", "./../x", id="dot-segments-kept"),
    ],
)
def test_resolve_tricky_key_decodes_exactly(raw_key: str, key: str) -> None:
    assert resolve("s3.localhost", "/bkt/" + raw_key, BASE).key == key
    assert resolve("bkt.s3.localhost", "/" + raw_key, BASE).key == key


@pytest.mark.parametrize(
    "name",
    [
        pytest.param("ab", id="too-short"),
        pytest.param("a" * 64, id="too-long"),
        pytest.param("MyBucket", id="uppercase"),
        pytest.param("my_bucket", id="underscore"),
        pytest.param("-bucket", id="leading-hyphen"),
        pytest.param("bucket-", id="trailing-hyphen"),
        pytest.param(".bucket", id="leading-dot"),
        pytest.param("bucket.", id="trailing-dot"),
        pytest.param("my..bucket", id="adjacent-dots"),
        pytest.param("my.-bucket", id="dot-hyphen"),
        pytest.param("my-.bucket", id="hyphen-dot"),
        pytest.param("192.168.5.4", id="ip-address"),
        pytest.param("xn--bucket", id="prefix-xn"),
        pytest.param("sthree-bucket", id="prefix-sthree"),
        pytest.param("sthree-configurator", id="prefix-sthree-configurator"),
        pytest.param("amzn-s3-demo-bucket", id="prefix-amzn-s3-demo"),
        pytest.param("bucket-s3alias", id="suffix-s3alias"),
        pytest.param("bucket--ol-s3", id="suffix-ol-s3"),
        pytest.param("bucket.mrap", id="suffix-mrap"),
        pytest.param("bucket--x-s3", id="suffix-x-s3"),
        pytest.param("bucket--table-s3", id="suffix-table-s3"),
        pytest.param("bück", id="non-ascii"),
        pytest.param("a/b", id="escaped-slash"),
        pytest.param("", id="empty"),
    ],
)
def test_resolve_invalid_bucket_name_raises_invalid_bucket_name(name: str) -> None:
    """S3 answers InvalidBucketName with the offending name in a BucketName element."""
    with pytest.raises(S3Error) as info:
        resolve("s3.localhost", "/" + quote(name, safe="") + "/k", BASE)
    assert info.value.code is S3ErrorCode.InvalidBucketName
    assert info.value.extra == {"BucketName": name}


@pytest.mark.parametrize(
    "host",
    [
        pytest.param("My_Bucket.s3.localhost", id="underscore"),
        pytest.param("ab.s3.localhost", id="too-short"),
        pytest.param("a..b.s3.localhost", id="adjacent-dots"),
        pytest.param(".s3.localhost", id="empty"),
        pytest.param("10.0.0.1.s3.localhost", id="ip-address"),
    ],
)
def test_resolve_virtual_invalid_bucket_raises_invalid_bucket_name(host: str) -> None:
    with pytest.raises(S3Error) as info:
        resolve(host, "/k", BASE)
    assert info.value.code is S3ErrorCode.InvalidBucketName


@pytest.mark.parametrize(
    "name",
    [
        pytest.param("abc", id="shortest"),
        pytest.param("a" * 63, id="longest"),
        pytest.param("123", id="digits"),
        pytest.param("1.2.3", id="three-numeric-labels"),
        pytest.param("1.2.3.4.5", id="five-numeric-labels"),
        pytest.param("a-b--c", id="double-hyphen-inside"),
        pytest.param("xn-bucket", id="xn-single-hyphen"),
        pytest.param("my-s3alias-bucket", id="reserved-suffix-inside"),
        pytest.param("docexamplewebsite.com", id="domain-like"),
    ],
)
def test_resolve_valid_bucket_name_accepted(name: str) -> None:
    assert resolve("s3.localhost", f"/{name}", BASE) == Target(name, None, "path")


@pytest.mark.parametrize(
    "raw_path",
    [
        pytest.param("/bkt/%", id="lone-percent"),
        pytest.param("/bkt/a%2", id="truncated-escape"),
        pytest.param("/bkt/a%zzb", id="non-hex-escape"),
        pytest.param("/bkt/%C3", id="truncated-utf8"),
        pytest.param("/bkt/%FF", id="invalid-utf8-byte"),
        pytest.param("/bkt/%ED%A0%80", id="encoded-surrogate"),
        pytest.param("/bkt/%C0%AF", id="overlong-slash"),
        pytest.param("/bkt/\udcff", id="raw-invalid-utf8"),
        pytest.param("/bkt/\ud800", id="lone-surrogate"),
        pytest.param("/b%zzt/k", id="bad-escape-in-bucket"),
        pytest.param("bkt/k", id="no-leading-slash"),
        pytest.param("", id="empty"),
        pytest.param("*", id="asterisk-form"),
    ],
)
def test_resolve_malformed_uri_raises_invalid_uri(raw_path: str) -> None:
    with pytest.raises(S3Error) as info:
        resolve("s3.localhost", raw_path, BASE)
    assert info.value.code is S3ErrorCode.InvalidURI


@pytest.mark.parametrize(
    "key",
    [
        pytest.param("k" * 1024, id="1024-ascii"),
        pytest.param("ü" * 512, id="1024-bytes-two-byte-chars"),
    ],
)
def test_resolve_key_at_limit_accepted(key: str) -> None:
    assert resolve("s3.localhost", "/bkt/" + quote(key), BASE).key == key


@pytest.mark.parametrize(
    "key",
    [
        pytest.param("k" * 1025, id="1025-ascii"),
        pytest.param("ü" * 513, id="1026-bytes-under-1024-chars"),
    ],
)
def test_resolve_key_over_1024_bytes_raises(key: str) -> None:
    """S3 limits keys to 1,024 bytes of UTF-8 (KeyTooLongError; InvalidArgument until added)."""
    with pytest.raises(S3Error) as info:
        resolve("bkt.s3.localhost", "/" + quote(key), BASE)
    assert info.value.code is S3ErrorCode.InvalidArgument
    assert info.value.extra["Size"] == str(len(key.encode()))


@pytest.mark.parametrize(
    "target, path",
    [
        pytest.param(Target(None, None, "path"), "/", id="service"),
        pytest.param(Target("bkt", None, "path"), "/bkt", id="bucket"),
        pytest.param(Target("my.bkt", None, "virtual"), "/my.bkt", id="virtual-bucket"),
        pytest.param(Target("bkt", "k", "virtual"), "/bkt/k", id="object"),
        pytest.param(Target("bkt", "a b+c", "path"), "/bkt/a%20b%2Bc", id="space-plus"),
        pytest.param(Target("bkt", "100%", "path"), "/bkt/100%25", id="percent"),
        pytest.param(Target("bkt", "a//c/", "path"), "/bkt/a//c/", id="slashes-kept"),
        pytest.param(Target("bkt", "/x", "path"), "/bkt//x", id="leading-slash"),
        pytest.param(Target("bkt", "ü/日本", "path"), "/bkt/%C3%BC/%E6%97%A5%E6%9C%AC", id="utf8"),
        pytest.param(Target("bkt", "~-_.", "path"), "/bkt/~-_.", id="unreserved-kept"),
        pytest.param(
            Target("bkt", "!*'();:@&=$,?#[]", "path"),
            "/bkt/%21%2A%27%28%29%3B%3A%40%26%3D%24%2C%3F%23%5B%5D",
            id="reserved-encoded",
        ),
    ],
)
def test_upstream_path_target_encodes_like_sigv4(target: Target, path: str) -> None:
    """Keys are encoded as SigV4's UriEncode (uppercase hex, '/' kept), as botocore sends them."""
    assert upstream_path(target) == path


ROUND_TRIP_KEYS = [
    "k",
    "a b",
    "a+b",
    "100%",
    "%2F",
    "a%20b",
    "ü/日本",
    "a//c/",
    "/leading",
    "trailing/",
    "//",
    "/",
    "./../x",
    "~-_.!*'()",
    "?#[]@!$&'()*+,;=",
    "tab\tnewline\nnul\x00",
    "emoji-😀",
    "ü" * 512,
]


@pytest.mark.parametrize("key", ROUND_TRIP_KEYS)
@pytest.mark.parametrize("host", ["s3.localhost", "127.0.0.1:9000"])
def test_resolve_upstream_encoded_key_round_trips(host: str, key: str) -> None:
    """resolve() undoes upstream_path(), and upstream_path() is a fixed point."""
    path = upstream_path(Target("bkt", key, "virtual"))
    target = resolve(host, path, BASE)
    assert target == Target("bkt", key, "path")
    assert upstream_path(target) == path


@pytest.mark.parametrize("key", ROUND_TRIP_KEYS)
def test_resolve_virtual_encoded_key_round_trips(key: str) -> None:
    target = resolve("bkt.s3.localhost", "/" + quote(key, safe="/"), BASE)
    assert target == Target("bkt", key, "virtual")
    assert upstream_path(target) == "/bkt/" + quote(key, safe="/")


@pytest.mark.parametrize(
    "raw_path, upstream",
    [
        pytest.param("/bkt/", "/bkt", id="bucket-trailing-slash"),
        pytest.param("/bkt/a%2Fb", "/bkt/a/b", id="escaped-slash"),
        pytest.param("/bkt/a%2bb", "/bkt/a%2Bb", id="lowercase-hex"),
        pytest.param("/bkt/%7E", "/bkt/~", id="escaped-unreserved"),
        pytest.param("/bkt/a+b", "/bkt/a%2Bb", id="raw-plus"),
        pytest.param("/bkt/ü", "/bkt/%C3%BC", id="raw-unicode"),
    ],
)
def test_upstream_path_equivalent_spelling_normalised(raw_path: str, upstream: str) -> None:
    """Spellings S3 treats as the same resource reach the upstream in one canonical form."""
    assert upstream_path(resolve("s3.localhost", raw_path, BASE)) == upstream
