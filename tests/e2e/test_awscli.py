"""aws-cli (v1, subprocess) through BillFlow: the `s3` and `s3api` commands a tenant types.

Every test runs over HTTP and over HTTPS (`--ca-bundle` naming the test CA). The `aws` fixture runs
`aws --endpoint-url BILLFLOW ...` with its own config: us-east-1, one attempt, and
`s3 = signature_version = s3v4` so that `s3 presign` makes SigV4 URLs.
"""

from __future__ import annotations

import filecmp
import json
import os
import re
import subprocess
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from botocore.exceptions import ClientError

from .harness import Aws, Gateway, MiB, over_schemes
from .s3wire import same_composite

pytestmark = [pytest.mark.e2e, over_schemes]


def ok(done: subprocess.CompletedProcess[str]) -> str:
    """stdout of a command that must have succeeded."""
    assert done.returncode == 0, f"{done.args}\nstdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    return done.stdout


def test_s3_mb_creates_bucket_upstream(aws: Aws, upstream_s3: Any, bucket_name: str) -> None:
    """`aws s3 mb` creates the bucket upstream and `aws s3 ls` lists it."""
    assert f"make_bucket: {bucket_name}" in ok(aws("s3", "mb", f"s3://{bucket_name}"))
    upstream_s3.head_bucket(Bucket=bucket_name)
    assert bucket_name in ok(aws("s3", "ls"))


def test_s3_cp_1kib_roundtrips(aws: Aws, upstream_s3: Any, bucket: str, tmp_path: Path) -> None:
    """`aws s3 cp` of 1 KiB up and back down gives the same bytes; `s3 ls` shows its size."""
    source = tmp_path / "one kib.bin"
    source.write_bytes(os.urandom(1024))
    ok(aws("s3", "cp", str(source), f"s3://{bucket}/dir/one kib.bin"))
    assert upstream_s3.get_object(Bucket=bucket, Key="dir/one kib.bin")["Body"].read() == (
        source.read_bytes()
    )
    listing = ok(aws("s3", "ls", f"s3://{bucket}/dir/"))
    assert re.search(r"^\S+ \S+ +1024 one kib\.bin$", listing, re.MULTILINE), listing
    down = tmp_path / "down.bin"
    ok(aws("s3", "cp", f"s3://{bucket}/dir/one kib.bin", str(down)))
    assert down.read_bytes() == source.read_bytes()


def test_s3_cp_50mib_multipart_roundtrips(
    aws: Aws, upstream_s3: Any, bucket: str, file_50mib: Path, tmp_path: Path
) -> None:
    """`aws s3 cp` of 50 MiB uploads in parts (8 MiB default chunks, each with its CRC32) and
    downloads the same bytes; the object's checksum is the composite of the parts'."""
    ok(aws("s3", "cp", str(file_50mib), f"s3://{bucket}/big.bin"))
    head = upstream_s3.head_object(Bucket=bucket, Key="big.bin")
    assert head["ContentLength"] == file_50mib.stat().st_size
    assert head["ETag"].endswith('-7"'), head["ETag"]
    down = tmp_path / "big.bin"
    ok(aws("s3", "cp", f"s3://{bucket}/big.bin", str(down)))
    assert filecmp.cmp(down, file_50mib, shallow=False)
    data = file_50mib.read_bytes()
    parts = [data[i : i + 8 * MiB] for i in range(0, len(data), 8 * MiB)]
    checked = json.loads(
        ok(
            aws(
                "s3api",
                "head-object",
                "--bucket",
                bucket,
                "--key",
                "big.bin",
                "--checksum-mode",
                "ENABLED",
            )
        )
    )
    assert same_composite(checked.get("ChecksumCRC32"), parts), checked


def test_s3_ls_lists_keys_and_prefixes(aws: Aws, s3_default: Any, bucket: str) -> None:
    """`aws s3 ls` shows prefixes as PRE and keys with sizes; --recursive shows every key."""
    for key in ("top.txt", "sub dir/inner+1.txt", "sub dir/deeper/ключ.txt"):
        s3_default.put_object(Bucket=bucket, Key=key, Body=b"12345")
    shallow = ok(aws("s3", "ls", f"s3://{bucket}/"))
    assert "PRE sub dir/" in shallow
    assert "top.txt" in shallow and "inner+1.txt" not in shallow
    recursive = ok(aws("s3", "ls", "--recursive", f"s3://{bucket}/"))
    for key in ("top.txt", "sub dir/inner+1.txt", "sub dir/deeper/ключ.txt"):
        assert f"5 {key}" in recursive


def _tree(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_s3_sync_uploads_tree_once(aws: Aws, upstream_s3: Any, bucket: str, tmp_path: Path) -> None:
    """`aws s3 sync` uploads a tree; a second sync uploads nothing; syncing back down gives the
    same tree."""
    local = tmp_path / "tree"
    files = {
        "a.txt": b"a" * 10,
        "sub/b c.txt": b"bc" * 100,
        "sub/deep/d+e.bin": os.urandom(3000),
        "ü/f.txt": b"",
    }
    an_hour_ago = time.time() - 3600
    for name, data in files.items():
        (local / name).parent.mkdir(parents=True, exist_ok=True)
        (local / name).write_bytes(data)
        # sync re-uploads files modified after the object's LastModified, which has 1 s
        # resolution: a file written in the upload's second would look newer.
        os.utime(local / name, (an_hour_ago, an_hour_ago))
    first = ok(aws("s3", "sync", str(local), f"s3://{bucket}/tree"))
    assert first.count("upload:") == len(files), first
    upstream = upstream_s3.list_objects_v2(Bucket=bucket, Prefix="tree/")["Contents"]
    assert sorted(o["Key"] for o in upstream) == sorted(f"tree/{n}" for n in files)
    second = ok(aws("s3", "sync", str(local), f"s3://{bucket}/tree"))
    assert "upload:" not in second, second
    back = tmp_path / "back"
    ok(aws("s3", "sync", f"s3://{bucket}/tree", str(back)))
    assert _tree(back) == files


def test_s3_presign_url_fetched_with_http_client(
    aws: Aws, s3_default: Any, gateway: Gateway, bucket: str
) -> None:
    """`aws s3 presign` (s3v4 configured) makes a URL a plain HTTP client can GET."""
    s3_default.put_object(Bucket=bucket, Key="shared doc+1.txt", Body=b"shared by url")
    url = ok(aws("s3", "presign", f"s3://{bucket}/shared doc+1.txt", "--expires-in", "300"))
    url = url.strip()
    assert "X-Amz-Algorithm=AWS4-HMAC-SHA256" in url, url
    parts = urlsplit(url)
    assert (parts.hostname, parts.port) == (gateway.host, gateway.port), url
    conn = gateway.connection()
    try:
        conn.request("GET", f"{parts.path}?{parts.query}")
        response = conn.getresponse()
        body = response.read()
    finally:
        conn.close()
    assert response.status == 200, body
    assert body == b"shared by url"


def test_s3_rm_and_rb_remove_object_and_bucket(
    aws: Aws, s3_default: Any, upstream_s3: Any, bucket: str
) -> None:
    """`aws s3 rm` deletes the object upstream; `aws s3 rb` then deletes the empty bucket."""
    s3_default.put_object(Bucket=bucket, Key="gone soon.txt", Body=b"x")
    assert "delete:" in ok(aws("s3", "rm", f"s3://{bucket}/gone soon.txt"))
    assert upstream_s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0
    assert f"remove_bucket: {bucket}" in ok(aws("s3", "rb", f"s3://{bucket}"))
    with pytest.raises(ClientError):
        upstream_s3.head_bucket(Bucket=bucket)


def test_s3api_get_object_range_returns_requested_bytes(
    aws: Aws, s3_default: Any, bucket: str, tmp_path: Path
) -> None:
    """`aws s3api get-object --range` writes exactly the requested bytes and reports
    ContentRange."""
    data = os.urandom(1024)
    s3_default.put_object(Bucket=bucket, Key="ranged", Body=data)
    out = tmp_path / "part"
    done = ok(
        aws(
            "s3api",
            "get-object",
            "--bucket",
            bucket,
            "--key",
            "ranged",
            "--range",
            "bytes=100-199",
            str(out),
        )
    )
    assert json.loads(done)["ContentRange"] == "bytes 100-199/1024"
    assert out.read_bytes() == data[100:200]
