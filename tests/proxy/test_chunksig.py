"""The chunk-signature chain of aws-chunked bodies, against AWS's published examples ([CHK] and
[TRL] in proxy/chunksig.py): every chunk and the trailer verified in order; a changed byte, a
skipped chunk or another trailer does not match."""

from __future__ import annotations

import hashlib

import pytest
from test_sigv4 import CHUNKS, chunked_example, raises

from proxy import chunksig
from proxy.s3errors import S3ErrorCode as Code


def test_chunk_chain_aws_chunked_example_accepts_published_signatures() -> None:
    req, key = chunked_example(trailer=False)
    digest = "cee3fed04b70f867d036f722359b0b1f2f0e5dc0efadbc082b76c4c60e316455"
    assert req.string_to_sign.endswith(digest)
    chain = chunksig.ChunkChain(key, req)
    for chunk, signature in zip(
        CHUNKS,
        [
            "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
            "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
            "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9",
        ],
        strict=True,
    ):
        chain.verify_chunk(hashlib.sha256(chunk).hexdigest(), signature)


TRAILER_CHUNK_SIGNATURES = [
    "b474d8862b1487a5145d686f57f013e54db672cee1c953b3010fb58501ef5aa2",
    "1c1344b170168f8e65b41376b44b20fe354e373826ccbbe2c1d40a8cae51e5c7",
    "2ca2aba2005185cf7159c6277faf83795951dd77a3a99e6e65d5c9f85863f992",
]
TRAILER = b"x-amz-checksum-crc32c:sOO8/Q==\n"
TRAILER_SIGNATURE = "d81f82fc3505edab99d459891051a732e8730629a2e4a59689829ca17fe2e435"


def trailer_chain() -> chunksig.ChunkChain:
    req, key = chunked_example(trailer=True)
    assert req.string_to_sign.endswith(
        "44d48b8c2f70eae815a0198cc73d7a546a73a93359c070abbaa5e6c7de112559"
    )
    chain = chunksig.ChunkChain(key, req)
    for chunk, signature in zip(CHUNKS, TRAILER_CHUNK_SIGNATURES, strict=True):
        chain.verify_chunk(hashlib.sha256(chunk).hexdigest(), signature)
    return chain


def test_chunk_chain_aws_trailer_example_accepts_published_signatures() -> None:
    trailer_chain().verify_trailer(TRAILER, TRAILER_SIGNATURE)


def test_chunk_chain_upper_case_signature_accepted() -> None:
    trailer_chain().verify_trailer(TRAILER, TRAILER_SIGNATURE.upper())


@pytest.mark.parametrize(
    ("trailer", "signature"),
    [
        (b"x-amz-checksum-crc32c:sOO8/Q=\n", TRAILER_SIGNATURE),
        (TRAILER, TRAILER_SIGNATURE[:-1] + "4"),
        (TRAILER, "\u00e9" * 64),
    ],
    ids=["another checksum", "another signature", "non-ASCII signature"],
)
def test_chunk_chain_trailer_tampered_signature_does_not_match(
    trailer: bytes, signature: str
) -> None:
    chain = trailer_chain()
    error = raises(Code.SignatureDoesNotMatch, lambda: chain.verify_trailer(trailer, signature))
    assert error.extra["StringToSign"].startswith("AWS4-HMAC-SHA256-TRAILER\n")


def test_chunk_chain_flipped_data_bit_does_not_match() -> None:
    req, key = chunked_example(trailer=False)
    chain = chunksig.ChunkChain(key, req)
    tampered = hashlib.sha256(b"b" + b"a" * 65535).hexdigest()
    signature = "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648"
    raises(Code.SignatureDoesNotMatch, lambda: chain.verify_chunk(tampered, signature))


def test_chunk_chain_skipped_chunk_does_not_match() -> None:
    """Each signature covers the previous one: the second chunk can't be verified first."""
    req, key = chunked_example(trailer=False)
    chain = chunksig.ChunkChain(key, req)
    second = "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497"
    digest = hashlib.sha256(CHUNKS[1]).hexdigest()
    raises(Code.SignatureDoesNotMatch, lambda: chain.verify_chunk(digest, second))
