"""S3 error codes and the one place S3 error XML is built.

Owns: the table code -> (HTTP status, default message), the `S3Error` exception that leaves
raise, and `error_xml()`. Does not own: deciding *when* an error happens (the leaves do) or writing
it to the wire (the s3app middleware does). Codes are spelled as S3 spells them; statuses and
messages follow the "Error responses" page of the Amazon S3 API reference.
"""

from __future__ import annotations

import enum
from xml.etree import ElementTree as ET


class S3ErrorCode(enum.Enum):
    """Each member's value is (HTTP status, default message)."""

    AccessDenied = (403, "Access Denied")
    AuthorizationHeaderMalformed = (400, "The authorization header is malformed.")
    AuthorizationQueryParametersError = (400, "Error parsing the query-string authorization.")
    BadDigest = (
        400,
        "The Content-MD5 or checksum value you specified did not match what we received.",
    )
    BucketAlreadyExists = (
        409,
        "The requested bucket name is not available. The bucket namespace is shared by all users "
        "of the system. Please select a different name and try again.",
    )
    BucketAlreadyOwnedByYou = (
        409,
        "Your previous request to create the named bucket succeeded and you already own it.",
    )
    EntityTooLarge = (400, "Your proposed upload exceeds the maximum allowed object size.")
    IncompleteBody = (
        400,
        "You did not provide the number of bytes specified by the Content-Length HTTP header.",
    )
    InternalError = (500, "We encountered an internal error. Please try again.")
    InvalidAccessKeyId = (
        403,
        "The AWS Access Key Id you provided does not exist in our records.",
    )
    InvalidArgument = (400, "Invalid Argument")
    InvalidBucketName = (400, "The specified bucket is not valid.")
    InvalidURI = (400, "Couldn't parse the specified URI.")
    InvalidChunkSizeError = (
        403,
        "Only the last chunk is allowed to have a size less than 8192 bytes",
    )
    InvalidDigest = (400, "The Content-MD5 or checksum value you specified is not valid.")
    InvalidRequest = (400, "Invalid Request")
    KeyTooLongError = (400, "Your key is too long.")
    MalformedXML = (
        400,
        "The XML you provided was not well-formed or did not validate against our published "
        "schema.",
    )
    MalformedTrailerError = (
        400,
        "The request contained trailing data that was not well-formed or did not conform to "
        "our published schema.",
    )
    MethodNotAllowed = (405, "The specified method is not allowed against this resource.")
    MissingContentLength = (411, "You must provide the Content-Length HTTP header.")
    MissingSecurityHeader = (400, "Your request is missing a required header.")
    NotImplemented = (
        501,
        "A header you provided implies functionality that is not implemented.",
    )
    # Not an AWS code (AWS has no storage quota per account); MinIO's bucket quota answers
    # XMinioAdminBucketQuotaExceeded. 403 is what SDKs treat as final, so no client retries it.
    QuotaExceeded = (
        403,
        "This write would take the account past its storage quota.",
    )
    RequestTimeTooSkewed = (
        403,
        "The difference between the request time and the current time is too large.",
    )
    RequestTimeout = (
        400,
        "Your socket connection to the server was not read from or written to within the "
        "timeout period.",
    )
    ServiceUnavailable = (503, "Service is unable to handle request.")
    SignatureDoesNotMatch = (
        403,
        "The request signature we calculated does not match the signature you provided. "
        "Check your key and signing method.",
    )
    XAmzContentSHA256Mismatch = (
        400,
        "The provided 'x-amz-content-sha256' header does not match what was computed.",
    )

    @property
    def status(self) -> int:
        return self.value[0]

    @property
    def default_message(self) -> str:
        return self.value[1]


class S3Error(Exception):
    """An S3 error answer. `extra` become sibling elements after <Message>, in the given order.

    Values in `extra` are rendered as text; never put a secret into one.
    """

    def __init__(self, code: S3ErrorCode, message: str | None = None, **extra: str | int) -> None:
        self.code = code
        self.message = message if message is not None else code.default_message
        self.extra: dict[str, str] = {k: str(v) for k, v in extra.items()}
        super().__init__(f"{code.name}: {self.message}")

    @property
    def status(self) -> int:
        return self.code.status


def error_xml(error: S3Error, *, request_id: str, resource: str | None = None) -> bytes:
    """Render `error` as the S3 <Error> document (UTF-8, with XML declaration)."""
    root = ET.Element("Error")
    ET.SubElement(root, "Code").text = error.code.name
    ET.SubElement(root, "Message").text = error.message
    for name, value in error.extra.items():
        ET.SubElement(root, name).text = value
    if resource is not None:
        ET.SubElement(root, "Resource").text = resource
    ET.SubElement(root, "RequestId").text = request_id
    body: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return body
