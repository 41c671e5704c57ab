"""Command line: `billflow serve`, and the key-store commands an operator needs before an admin API.

Owns: argument parsing, composing the running service (ledger, S3 app, admin app) on one event loop,
and graceful shutdown on SIGINT/SIGTERM. Does not own: any request handling.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import ssl
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from aiohttp import web

from proxy import admin, s3app
from proxy.config import Config, ConfigError, TLSFiles, load
from proxy.ledger import Ledger, LedgerError
from proxy.log import configure, server_logger

DEFAULT_CONFIG = "config.toml"
#: Bytes aiohttp buffers per connection before it pauses reading (its default is 64 KiB). Larger
#: buffers mean fewer, bigger reads and writes per GiB streamed; memory stays bounded by it.
STREAM_BUFFER_BYTES = 256 * 1024


def _tls_context(tls: TLSFiles) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        ctx.load_cert_chain(tls.cert_file, tls.key_file)
    except (OSError, ssl.SSLError) as e:
        raise ConfigError(f"cannot load TLS files {tls.cert_file}, {tls.key_file}: {e}") from e
    return ctx


def _reload_tls(contexts: list[tuple[ssl.SSLContext, TLSFiles]]) -> None:
    """SIGHUP: load renewed certificates into the live contexts; new handshakes use them, open
    connections are untouched. A broken file keeps the old certificate and says why."""
    for ctx, tls in contexts:
        try:
            ctx.load_cert_chain(tls.cert_file, tls.key_file)
        except (OSError, ssl.SSLError) as e:
            server_logger.error(
                "TLS reload of %s failed, keeping the old one: %s", tls.cert_file, e
            )
        else:
            server_logger.info("TLS certificate reloaded from %s", tls.cert_file)


async def serve(cfg: Config) -> None:
    cfg.upstream.require_credentials()
    tls_contexts = [
        (_tls_context(listener.tls), listener.tls)
        for listener in (cfg.s3.listen, cfg.admin)
        if listener.tls is not None
    ]
    ledger = await Ledger.open(cfg.ledger_path)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGHUP, _reload_tls, tls_contexts)
    contexts = iter(tls_contexts)
    runners: list[web.AppRunner] = []
    try:
        for app, listener, name in (
            (s3app.create_app(cfg, ledger), cfg.s3.listen, "S3"),
            (admin.create_app(ledger), cfg.admin, "admin"),
        ):
            # The access log is ours (one line per request with its request id), not aiohttp's.
            runner = web.AppRunner(
                app, access_log=None, handle_signals=False, read_bufsize=STREAM_BUFFER_BYTES
            )
            await runner.setup()
            runners.append(runner)
            ssl_context = next(contexts)[0] if listener.tls else None
            site = web.TCPSite(
                runner, listener.host, listener.port, reuse_address=True, ssl_context=ssl_context
            )
            await site.start()
            server_logger.info(
                "%s listener on %s://%s:%d", name, listener.scheme, listener.host, listener.port
            )
        server_logger.info("upstream %s, region %s", cfg.upstream.endpoint, cfg.s3.region)
        await stop.wait()
        server_logger.info("shutting down")
    finally:
        # Runners stop accepting, let in-flight requests finish (aiohttp's shutdown_timeout),
        # then run the cleanup contexts; the ledger closes last.
        for runner in reversed(runners):
            await runner.cleanup()
        await ledger.close()


async def _tenant_create(cfg: Config, name: str) -> dict[str, object]:
    ledger = await Ledger.open(cfg.ledger_path)
    try:
        tenant = await ledger.create_tenant(name, now=datetime.now(UTC))
    finally:
        await ledger.close()
    return {"id": tenant.id, "name": tenant.name}


async def _key_create(cfg: Config, tenant: str) -> dict[str, object]:
    ledger = await Ledger.open(cfg.ledger_path)
    try:
        creds = await ledger.create_access_key(tenant, now=datetime.now(UTC))
    finally:
        await ledger.close()
    return {
        "tenant": creds.key.tenant_name,
        "access_key_id": creds.key.access_key_id,
        "secret_access_key": creds.secret,
    }


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="billflow", description="S3 metering and billing gateway")
    p.add_argument(
        "--config",
        default=os.environ.get("BILLFLOW_CONFIG", DEFAULT_CONFIG),
        help="path to config.toml (default: $BILLFLOW_CONFIG or ./config.toml)",
    )
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("serve", help="run the S3 and admin listeners")
    tenant = sub.add_parser("tenant", help="manage tenants").add_subparsers(
        dest="action", required=True
    )
    t_create = tenant.add_parser("create", help="create a tenant")
    t_create.add_argument("name")
    t_create.add_argument("--json", action="store_true", help="print JSON")
    key = sub.add_parser("key", help="manage access keys").add_subparsers(
        dest="action", required=True
    )
    k_create = key.add_parser("create", help="issue an access key; the secret is shown once")
    k_create.add_argument("tenant")
    k_create.add_argument("--json", action="store_true", help="print JSON")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        cfg = load(Path(args.config))
    except ConfigError as e:
        print(f"billflow: configuration error: {e}", file=sys.stderr)
        return 2
    try:
        if args.command == "serve":
            configure(cfg.log_level)
            asyncio.run(serve(cfg))
            return 0
        if args.command == "tenant":
            result = asyncio.run(_tenant_create(cfg, args.name))
            text = f"tenant {result['name']} created (id {result['id']})"
        else:
            result = asyncio.run(_key_create(cfg, args.tenant))
            text = (
                f"access key for tenant {result['tenant']} (the secret is not shown again):\n"
                f"aws_access_key_id = {result['access_key_id']}\n"
                f"aws_secret_access_key = {result['secret_access_key']}"
            )
    except ConfigError as e:
        print(f"billflow: configuration error: {e}", file=sys.stderr)
        return 2
    except LedgerError as e:
        print(f"billflow: {e}", file=sys.stderr)
        return 1
    print(json.dumps(result) if args.json else text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
