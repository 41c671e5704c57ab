"""What an S3 request addresses: Host header + raw path -> bucket, key, addressing style.

Owns: telling path-style (`http://host/bucket/key`) from virtual-hosted-style
(`http://bucket.s3.example.com/key`) requests, percent-decoding the key, validating the bucket
name, and building the path-style path we send upstream (`upstream_path`).

Does not own: the query string and its sub-resources (routing.py), signatures (sigv4.py: it must
canonicalise `request.raw_path`, never our decoded key), or whether the bucket exists or belongs to
the caller (authz.py). Pure: stdlib plus s3errors, no aiohttp, no I/O.

References (Amazon S3 User Guide): "Virtual hosting of general purpose buckets" (VirtualHosting),
"General purpose bucket naming rules" (bucketnamingrules), "Naming Amazon S3 objects"
(object-keys); Amazon S3 API Reference, "Signature Calculations for the Authorization Header"
(sig-v4-header-based-auth) for the URI encoding.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal
from urllib.parse import quote, unquote_to_bytes

from proxy.s3errors import S3Error, S3ErrorCode

__all__ = ["Target", "resolve", "upstream_path"]

# object-keys: "The name for a key is a sequence of Unicode characters whose UTF-8 encoding is at
# most 1,024 bytes long."
MAX_KEY_BYTES = 1024

# bucketnamingrules: 3-63 characters; lowercase letters, numbers, dots and hyphens; begin and end
# with a letter or number.
_BUCKET_CHARS = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
# "must not be formatted as an IP address (for example, 192.168.5.4)"; same test as MinIO's
# s3utils.CheckValidBucketNameStrict.
_IP_LIKE = re.compile(r"\d+\.\d+\.\d+\.\d+")
# Reserved prefixes and suffixes, as listed in bucketnamingrules ("sthree-" covers
# "sthree-configurator"). They name access point aliases, Multi-Region Access Points, directory
# and table buckets: none of which our upstream serves.
_RESERVED_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_RESERVED_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")
# A '%' not followed by two hex digits. urllib's unquote leaves such escapes alone; S3 answers
# InvalidURI ("Couldn't parse the specified URI").
_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")


@dataclass(frozen=True)
class Target:
    """The resource a request addresses.

    `bucket` is None for service-level requests (ListBuckets: `GET /`). `key` is the decoded
    object key, None for bucket-level requests; never "" (`/bucket/` is bucket-level).
    """

    bucket: str | None
    key: str | None
    style: Literal["path", "virtual"]


def resolve(host: str | None, raw_path: str, base_domains: Sequence[str]) -> Target:
    """Resolve the Host header and the raw (still percent-encoded) path, without its query.

    `base_domains` are the endpoint names the gateway serves, without port ("s3.localhost").
    A host equal to one of them, or matching none (an IP, "localhost", a name we don't serve),
    means path style; a host ending in "." + one of them means virtual-hosted style. Raises
    `S3Error` with InvalidURI, InvalidBucketName or (for over-long keys) InvalidArgument.
    """
    if not raw_path.startswith("/"):
        raise S3Error(S3ErrorCode.InvalidURI)
    bucket = _virtual_bucket(_hostname(host), base_domains)
    if bucket is not None:
        # VirtualHosting: the bucket comes from Host; the whole path after the leading '/' is
        # the key, so "//x" addresses the key "/x".
        _check_bucket(bucket)
        return Target(bucket, _key(raw_path[1:]), "virtual")
    if raw_path == "/":
        return Target(None, None, "path")
    # VirtualHosting: a path-style request names the bucket in "the first slash-delimited
    # component of the Request-URI"; everything after exactly one '/' is the key, byte for byte.
    # Split before decoding, so '%2F' can never move a boundary.
    raw_bucket, _, raw_key = raw_path[1:].partition("/")
    bucket = _decode(raw_bucket)
    _check_bucket(bucket)
    return Target(bucket, _key(raw_key), "path")


def upstream_path(target: Target) -> str:
    """The path-style path for `target`, encoded the way SigV4 canonicalises an S3 path.

    "/" for service level, "/bucket" for bucket level (what botocore sends for path-style bucket
    operations), "/bucket/" + encoded key for objects.
    """
    if target.bucket is None:
        return "/"
    if target.key is None:
        return f"/{target.bucket}"
    # sig-v4-header-based-auth, UriEncode(): keep A-Za-z0-9 and "-._~", encode every other byte
    # of the UTF-8 form as %XX with uppercase hex, and keep '/' in the object key name. quote()
    # does exactly that with safe="/" ('~' is unreserved since Python 3.7). The bucket needs no
    # encoding: _check_bucket admitted only [a-z0-9.-].
    return f"/{target.bucket}/{quote(target.key, safe='/')}"


def _hostname(host: str | None) -> str:
    """Lowercased host without port or trailing root dot; "" when absent."""
    if not host:
        return ""
    host = host.strip().lower()
    if host.startswith("["):  # IPv6 literal (RFC 3986 section 3.2.2): "[::1]:9000"
        return host.partition("]")[0] + "]"
    if host.count(":") == 1:
        host = host.partition(":")[0]
    return host.removesuffix(".")


def _virtual_bucket(hostname: str, base_domains: Sequence[str]) -> str | None:
    """The bucket named by a virtual-hosted Host, or None when the request is path style."""
    domains = [d.lower().removesuffix(".") for d in base_domains]
    if not hostname or hostname in domains:
        return None
    # Longest base domain wins: with both "localhost" and "s3.localhost" served,
    # "b.s3.localhost" is bucket "b", not "b.s3".
    matches = [d for d in domains if d and hostname.endswith("." + d)]
    if not matches:
        return None
    return hostname[: -len(max(matches, key=len)) - 1]


def _check_bucket(name: str) -> None:
    """Raise InvalidBucketName unless `name` follows the general purpose bucket naming rules."""
    if (
        not _BUCKET_CHARS.fullmatch(name)
        or ".." in name
        # Not in today's AWS list but in its older "labels" rule and in MinIO's strict check;
        # such a name is no DNS label sequence, so it can't be virtual-hosted either.
        or ".-" in name
        or "-." in name
        or _IP_LIKE.fullmatch(name)
        or name.startswith(_RESERVED_PREFIXES)
        or name.endswith(_RESERVED_SUFFIXES)
    ):
        raise S3Error(S3ErrorCode.InvalidBucketName, BucketName=name)


def _key(raw_key: str) -> str | None:
    """Decode a raw key; None when empty (a bucket-level request)."""
    if not raw_key:
        return None
    key = _decode(raw_key)
    size = len(key.encode("utf-8"))
    if size > MAX_KEY_BYTES:
        # S3 answers KeyTooLongError, which s3errors.py does not have yet.
        raise S3Error(
            S3ErrorCode.InvalidArgument,
            "Your key is too long.",
            Size=size,
            MaxSizeAllowed=MAX_KEY_BYTES,
        )
    return key


def _decode(raw: str) -> str:
    """Percent-decode `raw` as UTF-8 ('+' stays a plus: this is a path, not a form).

    Decoding the whole key equals decoding each segment: '/' (0x2F) is never part of a multi-byte
    UTF-8 sequence. Raw non-ASCII characters (aiohttp passes undecodable bytes through as
    surrogate escapes) are taken as their UTF-8 bytes.
    """
    if _BAD_ESCAPE.search(raw):
        raise S3Error(S3ErrorCode.InvalidURI)
    try:
        return unquote_to_bytes(raw.encode("utf-8", "surrogateescape")).decode("utf-8")
    except UnicodeError:
        raise S3Error(S3ErrorCode.InvalidURI) from None
