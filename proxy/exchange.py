"""What one S3 request did: its id, who made it, the bytes it moved, how it ended.

Owns: the per-request record (`Exchange`) that the access-log line and the meter read,
request ids, and the redaction of credentials from logged targets. Does not own: writing the log
line (s3app's middleware) or any I/O.
"""

from __future__ import annotations

import itertools
import re
import secrets
import time
from dataclasses import dataclass, field


@dataclass
class Exchange:
    """What one request did; the access log line and the meter read it."""

    request_id: str
    started: float = field(default_factory=time.monotonic)
    tenant: str = "-"
    tenant_id: int | None = None  # set once the request authenticated
    access_key_id: str = "-"
    bucket: str = ""
    operation: str = "-"  # botocore's name for it (routing), once authenticated
    status: int = 0  # the answer's status once its headers went out (a cut-off body keeps it)
    bytes_in: int = 0  # decoded body bytes received from the tenant
    bytes_out: int = 0  # body bytes handed to the tenant's connection
    upstream_request_id: str = "-"
    error_code: str = "-"


#: A presigned URL's signature is a bearer credential until it expires: never log it.
_SIGNATURE_PARAM = re.compile(r"((?:^|[?&])(?:X-Amz-Signature|Signature)=)[^&]*", re.IGNORECASE)


def loggable_target(raw_path: str) -> str:
    if "=" not in raw_path:  # no parameter with a value, so no signature (most object requests)
        return raw_path
    return _SIGNATURE_PARAM.sub(r"\1REDACTED", raw_path)


_REQUEST_ID_PREFIX = secrets.token_hex(4).upper()
_request_ids = itertools.count(1)


def new_request_id() -> str:
    """16 upper-case hex digits, the shape of S3's x-amz-request-id: a random per-process prefix
    and a counter, so ids are unique across workers without a random draw per request."""
    return f"{_REQUEST_ID_PREFIX}{next(_request_ids) & 0xFFFFFFFF:08X}"
