"""Which S3 operation a request is, and which billing class that operation falls in.

Owns: `classify()`, from (method, bucket, key, query parameter names, header names) to the
operation name exactly as botocore's S3 service model spells it (`PutObject`, `UploadPartCopy`,
`ListObjectsV2`, ...) or `UNKNOWN`; the sub-resource query keys (`?acl`, `?uploads`, ...) that
tell operations apart; and the request billing classes (`write`, `read`, `free`) with operator
overrides. Does not own: authentication, authorization or quotas (authn.py, authz.py), bucket and
key parsing (addressing.py), or counting and pricing (meter.py, billing/).

The dispatch table is built from botocore's model, not written by hand: each operation's
`http.method`, the path and literal query keys of its `http.requestUri` (`/{Bucket}?list-type=2`),
and its *required* input members located in the query string (UploadPart: `partNumber`,
`uploadId`) or in headers (CopyObject: `x-amz-copy-source`). Pure: the model is loaded once,
lazily; no other I/O, no aiohttp. Only parameter *names* are seen, so literal values such as
`list-type=2` match on the key alone.
"""

from __future__ import annotations

import difflib
from collections.abc import Collection, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from enum import StrEnum
from functools import cache

from botocore.loaders import create_loader
from botocore.model import ServiceModel

__all__ = [
    "UNKNOWN",
    "BillingClass",
    "Router",
    "billing_class",
    "check_overrides",
    "classify",
    "default_billing_class",
    "default_router",
    "operation_names",
]

UNKNOWN = "Unknown"
# Botocore >= 1.36 style models may append `x-id=<Operation>` to a requestUri; aws-cli v1, older
# SDKs, minio-py and curl never send it, so it is never required (and we see names, not values).
_X_ID = "x-id"
_PATHS = {"/": "service", "/{Bucket}": "bucket", "/{Bucket}/{Key+}": "object"}
_COPIES = frozenset({"CopyObject", "UploadPartCopy"})


class BillingClass(StrEnum):
    """Request tiers of the S3 pricing page ("Requests & data retrievals")."""

    WRITE = "write"  # "PUT, COPY, POST, LIST requests"
    READ = "read"  # "GET, SELECT, and all other requests"
    FREE = "free"  # "DELETE and CANCEL requests are free"


@dataclass(frozen=True, slots=True)
class _Rule:
    name: str
    query: frozenset[str]  # every query key that must be present: literals + required members
    literals: frozenset[str]  # the requestUri's own sub-resource keys (`acl`, `list-type`)
    headers: frozenset[str]  # lower-cased required header members
    deprecated: bool

    @property
    def specificity(self) -> int:
        return len(self.query) + len(self.headers)


@dataclass(frozen=True, slots=True)
class _Group:
    """Candidates for one (method, service|bucket|object) shape, most specific first."""

    rules: tuple[_Rule, ...]
    subresources: frozenset[str]  # union of the rules' literal keys


def _rule(model: ServiceModel, name: str) -> tuple[str, str, _Rule] | None:
    op = model.operation_model(name)
    path, _, query = op.http["requestUri"].partition("?")
    # An `endpoint.hostPrefix` (WriteGetObjectResponse: `{RequestRoute}.`) addresses a special
    # host, and any other path shape is not bucket/key: neither reaches a path-style gateway.
    if op.endpoint or path not in _PATHS:
        return None
    literals = frozenset(p.partition("=")[0] for p in query.split("&") if p) - {_X_ID}
    required_query, headers = set(literals), set()
    shape = op.input_shape
    members = shape.members if shape is not None else {}
    for member in shape.required_members if shape is not None else ():
        ser = members[member].serialization
        if ser.get("location") == "querystring":
            required_query.add(ser["name"])
        elif ser.get("location") == "header":
            headers.add(ser["name"].lower())
    rule = _Rule(name, frozenset(required_query), literals, frozenset(headers), op.deprecated)
    return op.http["method"].upper(), _PATHS[path], rule


def _default_class(name: str, method: str) -> BillingClass:
    # FREE first: DELETE-method operations and AbortMultipartUpload ("CANCEL"). DeleteObjects
    # (API Reference: "Multi-Object Delete") is a POST, which the pricing page does not single
    # out; our choice is free, since it only deletes and a write charge would bill tenants for
    # cleaning up what 1,000 free DELETEs could remove. Operators can override it.
    if method == "DELETE" or name in {"AbortMultipartUpload", "DeleteObjects"}:
        return BillingClass.FREE
    # SelectObjectContent is a POST, but the pricing page bills SELECT with GET.
    if name == "SelectObjectContent":
        return BillingClass.READ
    # CopyObject and UploadPartCopy are PUTs already; listed to make COPY explicit.
    if method in {"PUT", "POST"} or name.startswith("List") or name in _COPIES:
        return BillingClass.WRITE
    return BillingClass.READ  # GET, HEAD, and everything else (including UNKNOWN)


class Router:
    """A dispatch table over one S3 service model; build with `from_model`."""

    def __init__(self, groups: Mapping[tuple[str, str], _Group], classes: Mapping[str, str]):
        self._groups = dict(groups)
        self._classes = {name: BillingClass(c) for name, c in classes.items()}

    @classmethod
    def from_model(cls, model: ServiceModel) -> Router:
        by_shape: dict[tuple[str, str], list[_Rule]] = {}
        classes: dict[str, str] = {}
        for name in model.operation_names:
            classes[name] = _default_class(name, model.operation_model(name).http["method"])
            found = _rule(model, name)
            if found is not None:
                method, level, rule = found
                by_shape.setdefault((method, level), []).append(rule)
        # First match wins, so order is the tie-break. Most specific first: a rule only matches
        # when all its keys and headers are present, so more of them is more evidence
        # (UploadPartCopy 3 > UploadPart 2 > CopyObject 1 > PutObject 0). Equal specificity with
        # both matching only happens for operations identical on the wire: the non-deprecated
        # one wins (GetBucketLifecycleConfiguration over GetBucketLifecycle, likewise
        # Notification), then the name, so the result never depends on model order (ListBuckets
        # over ListDirectoryBuckets, which S3 Express serves on its own control endpoint).
        groups = {
            shape: _Group(
                tuple(sorted(rules, key=lambda r: (-r.specificity, r.deprecated, r.name))),
                frozenset().union(*(r.literals for r in rules)),
            )
            for shape, rules in by_shape.items()
        }
        return cls(groups, classes)

    def classify(
        self,
        method: str,
        bucket: str | None,
        key: str | None,
        query_keys: Collection[str],
        header_names: Collection[str],
    ) -> str:
        """The botocore operation name of a request, or UNKNOWN; header names lower-cased."""
        if bucket is None:
            if key:
                return UNKNOWN  # a key without a bucket addresses nothing
            level = "service"
        else:
            level = "object" if key else "bucket"
        group = self._groups.get((method.upper(), level))
        if group is None:
            return UNKNOWN
        query = query_keys if isinstance(query_keys, AbstractSet) else frozenset(query_keys)
        # A sub-resource key names the operation: once `?acl` is present only rules that have it
        # may match, so GET /b/k?acl&uploadId=u is GetObjectAcl, never ListParts, and DELETE
        # /b?analytics without its required `id` is UNKNOWN, never DeleteBucket. Other unknown
        # keys are ignored, as S3 ignores them (GET /b?foo is ListObjects).
        claimed = group.subresources & query
        headers: AbstractSet[str] | None = None
        for rule in group.rules:
            if not rule.query <= query or not claimed <= rule.literals:
                continue
            if rule.headers:
                if headers is None:
                    headers = (
                        header_names
                        if isinstance(header_names, AbstractSet)
                        else frozenset(header_names)
                    )
                if not rule.headers <= headers:
                    continue
            return rule.name
        return UNKNOWN

    def operation_names(self) -> frozenset[str]:
        return frozenset(self._classes)

    def default_billing_class(self, operation: str) -> BillingClass:
        return self._classes.get(operation, BillingClass.READ)


@cache
def default_router() -> Router:
    """The router over botocore's installed S3 model, loaded on first use."""
    return Router.from_model(ServiceModel(create_loader().load_service_model("s3", "service-2")))


def classify(
    method: str,
    bucket: str | None,
    key: str | None,
    query_keys: Collection[str],
    header_names: Collection[str],
) -> str:
    """`Router.classify` on the default router. `bucket=None` is the service endpoint (GET /);
    `key` None or "" is a bucket-level request; `query_keys` are decoded parameter names."""
    return default_router().classify(method, bucket, key, query_keys, header_names)


def operation_names() -> frozenset[str]:
    """Every operation name in the S3 model, reachable through the gateway or not."""
    return default_router().operation_names()


def default_billing_class(operation: str) -> BillingClass:
    """The class from the AWS request-pricing tiers; UNKNOWN and unmodelled names are READ."""
    return default_router().default_billing_class(operation)


def billing_class(operation: str, overrides: Mapping[str, str]) -> BillingClass:
    """`overrides[operation]` if set (validated by `check_overrides`), else the default."""
    chosen = overrides.get(operation)
    return default_billing_class(operation) if chosen is None else BillingClass(chosen)


def check_overrides(overrides: Mapping[str, str]) -> None:
    """Raise ValueError naming the first override whose operation or class is unknown."""
    names = operation_names() | {UNKNOWN}
    classes = tuple(c.value for c in BillingClass)
    for operation, chosen in overrides.items():
        if operation not in names:
            near = difflib.get_close_matches(operation, names, n=1)
            hint = f"; did you mean {near[0]!r}?" if near else ""
            raise ValueError(f"billing override {operation!r}: not an S3 operation{hint}")
        if chosen not in classes:
            raise ValueError(
                f"billing override {operation!r}: class {chosen!r} is not one of "
                + ", ".join(classes)
            )
