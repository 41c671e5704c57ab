"""A fast local S3-ish upstream for scripts/bench: isolates the proxy's own cost.

PUT (object or bucket) reads and discards the body, answering 200 with an ETag. GET and HEAD
serve an object whose size is the key's last `-`-separated field (`large-268435456`), filled
with the bench pattern (byte i is i % 256, as the client sends), sliced from one preallocated
buffer; `Range: bytes=a-b` is honoured. DELETE answers 204. Authentication is ignored.
Not an S3 server: no state, no listings, no errors beyond 404 and 416.
"""

from __future__ import annotations

import argparse

from aiohttp import web

CHUNK = 1 << 20
PATTERN = memoryview(bytes(range(256)) * (CHUNK // 256))
HEADERS = {"ETag": '"0123456789abcdef0123456789abcdef"', "Accept-Ranges": "bytes"}
HEADERS["Last-Modified"] = "Mon, 01 Jan 2024 00:00:00 GMT"


def _object_size(path: str) -> int | None:
    field = path.rpartition("/")[2].rpartition("-")[2]
    return int(field) if field.isdigit() else None


async def handle(request: web.Request) -> web.StreamResponse:
    if request.method in ("PUT", "POST"):
        while await request.content.readany():
            pass
        return web.Response(headers=HEADERS)
    if request.method == "DELETE":
        return web.Response(status=204)
    size = _object_size(request.path)
    if size is None or request.method not in ("GET", "HEAD"):
        return web.Response(status=404, text="<Error><Code>NoSuchKey</Code></Error>")
    start, end, status, headers = 0, size, 200, dict(HEADERS)
    if "Range" in request.headers:
        rng = request.http_range
        start = size + rng.start if rng.start < 0 else rng.start
        end = size if rng.stop is None else min(rng.stop, size)
        if not 0 <= start < end:
            return web.Response(status=416, headers={"Content-Range": f"bytes */{size}"})
        status, headers["Content-Range"] = 206, f"bytes {start}-{end - 1}/{size}"
    headers["Content-Length"] = str(end - start)
    resp = web.StreamResponse(status=status, headers=headers)
    await resp.prepare(request)
    # Slices start at offset % 256 of the pattern, so every write is one zero-copy memoryview.
    while request.method == "GET" and start < end:
        n = min(end - start, CHUNK - 256)
        await resp.write(PATTERN[start % 256 : start % 256 + n])
        start += n
    await resp.write_eof()
    return resp


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    app = web.Application(client_max_size=0)
    app.router.add_route("*", "/{tail:.*}", handle)
    web.run_app(app, host=args.host, port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
