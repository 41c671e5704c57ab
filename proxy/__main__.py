"""Command line: `billflow serve`, and the commands an operator runs beside the admin API.

Owns: argument parsing, composing the running service (ledger, S3 app, admin app) on one event loop,
graceful shutdown on SIGINT/SIGTERM, and the commands `tenant create`, `key create`,
`admin create|token` and `master-key generate|rotate`. Does not own: any request handling.
Exit status: 0 done; 1 refused by the ledger (unknown tenant, duplicate name); 2 configuration
(including a missing or wrong BILLFLOW_MASTER_KEY / BILLFLOW_JWT_SECRET).
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import os
import signal
import ssl
import sys
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiohttp import web

from billing.periods import parse_period
from proxy import admin, adminauth, s3app
from proxy.adminauth import TokenError
from proxy.closing import Closer, PeriodNotOver
from proxy.config import ENV_MASTER_KEY, Config, ConfigError, TLSFiles, load
from proxy.crypto import MasterKeyError, SecretBox, hash_password
from proxy.jobs import Jobs, jobs_running
from proxy.ledger import Ledger, LedgerError
from proxy.log import configure, server_logger
from proxy.meter import Meter
from proxy.metrics import Metrics
from proxy.outbox import Outbox, smtp_settings
from proxy.records import InvalidValue, NotFound

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
            # Try the pair on a scratch context first: load_cert_chain installs the certificate
            # before it finds that the key does not match, which would break the live context.
            _tls_context(tls)
            ctx.load_cert_chain(tls.cert_file, tls.key_file)
        except (ConfigError, OSError, ssl.SSLError) as e:
            server_logger.error(
                "TLS reload of %s failed, keeping the old one: %s", tls.cert_file, e
            )
        else:
            server_logger.info("TLS certificate reloaded from %s", tls.cert_file)


async def serve(cfg: Config) -> None:
    cfg.upstream.require_credentials()
    box = _box(cfg, required=True)
    cfg.admin_tokens.require_secret()
    tls_contexts = [
        (_tls_context(listener.tls), listener.tls)
        for listener in (cfg.s3.listen, cfg.admin)
        if listener.tls is not None
    ]
    ledger = await Ledger.open(cfg.ledger_path, box, billing_tz=cfg.billing_timezone)
    if cfg.billing.tariff.tax_enabled and not cfg.billing.seller.gstin:
        # Fine for a demo; a GST tax invoice names the supplier's GSTIN (CGST Rule 46(a)).
        server_logger.warning(
            "[billing.tariff] tax_enabled without [billing.seller] gstin: invoices will be tax "
            "invoices with no supplier GSTIN; set it, or tax_enabled = false outside India"
        )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGHUP, _reload_tls, tls_contexts)
    contexts = iter(tls_contexts)
    meter = Meter(cfg.billing_timezone, cfg.meter.billing_classes)
    try:
        async with jobs_running(cfg, ledger, meter, _now) as jobs:
            await _serve_listeners(cfg, ledger, meter, jobs, contexts, stop)
    finally:
        await ledger.close()


async def _serve_listeners(
    cfg: Config,
    ledger: Ledger,
    meter: Meter,
    jobs: Jobs,
    contexts: Iterator[tuple[ssl.SSLContext, TLSFiles]],
    stop: asyncio.Event,
) -> None:
    metrics = Metrics(storage=ledger.usage.stored_bytes_by_tenant)
    s3 = s3app.create_app(cfg, ledger, meter=meter, metrics=metrics)
    # Admin changes to keys and bucket owners reach the S3 listener's caches at once.
    admin_app = admin.create_app(
        cfg,
        ledger,
        s3[s3app.KEYS].forget,
        on_bucket_owner_changed=s3[s3app.ISOLATION].forget,
        metrics_=metrics,
        reconcile=jobs.reconcile_now,
        close_period=jobs.close_now,
    )
    runners: list[web.AppRunner] = []
    s3_site: web.TCPSite | None = None
    try:
        for app, listener, name in (
            (s3, cfg.s3.listen, "S3"),
            (admin_app, cfg.admin, "admin"),
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
            s3_site = s3_site or site
            server_logger.info(
                "%s listener on %s://%s:%d", name, listener.scheme, listener.host, listener.port
            )
        server_logger.info("upstream %s, region %s", cfg.upstream.endpoint, cfg.s3.region)
        await stop.wait()
        server_logger.info("shutting down: draining requests in flight")
        if s3_site is not None:
            await s3_site.stop()  # no new connections; the open ones finish what they carry
        try:
            async with asyncio.timeout(cfg.s3.drain_seconds):
                await s3[s3app.IN_FLIGHT].drain()
        except TimeoutError:
            server_logger.warning(
                "%d requests still running after %.0f s; cutting them off",
                s3[s3app.IN_FLIGHT].count, cfg.s3.drain_seconds,
            )  # fmt: skip
    finally:
        # Each runner closes its connections and runs its cleanup contexts: the S3 app's last
        # meter flush happens there, after every request above has ended.
        for runner in reversed(runners):
            await runner.cleanup()
        server_logger.info("stopped")


Result = tuple[dict[str, object], str]  # (--json output, text output)
MIN_PASSWORD = 12


def _box(cfg: Config, *, required: bool) -> SecretBox | None:
    """The master key when a command needs it (or when given: a schema-1 upgrade seals with it)."""
    if required or cfg.master_key:
        return SecretBox.from_text(cfg.require_master_key())
    return None


async def _with_ledger(
    cfg: Config, box: SecretBox | None, work: Callable[[Ledger], Awaitable[Result]]
) -> Result:
    ledger = await Ledger.open(cfg.ledger_path, box, billing_tz=cfg.billing_timezone)
    try:
        return await work(ledger)
    finally:
        await ledger.close()


def _now() -> datetime:
    return datetime.now(UTC)


async def _tenant_create(cfg: Config, args: argparse.Namespace) -> Result:
    async def work(ledger: Ledger) -> Result:
        tenant = await ledger.create_tenant(args.name, now=_now(), billing_email=args.email)
        return {
            "id": tenant.id,
            "name": tenant.name,
        }, f"tenant {tenant.name} created (id {tenant.id})"

    return await _with_ledger(cfg, _box(cfg, required=False), work)


async def _key_create(cfg: Config, args: argparse.Namespace) -> Result:
    async def work(ledger: Ledger) -> Result:
        tenant = await ledger.get_tenant_by_name(args.tenant)
        if tenant is None:
            raise NotFound(f"no tenant named {args.tenant!r}")
        creds = await ledger.create_access_key(tenant.id, now=_now())
        result: dict[str, object] = {
            "tenant": creds.key.tenant_name,
            "access_key_id": creds.key.access_key_id,
            "secret_access_key": creds.secret,
        }
        return result, (
            f"access key for tenant {tenant.name} (the secret is not shown again):\n"
            f"aws_access_key_id = {creds.key.access_key_id}\n"
            f"aws_secret_access_key = {creds.secret}"
        )

    return await _with_ledger(cfg, _box(cfg, required=True), work)


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass("Password: ")
        if getpass.getpass("Repeat it: ") != password:
            raise InvalidValue("the passwords differ")
    if len(password) < MIN_PASSWORD:
        raise InvalidValue(f"a password needs at least {MIN_PASSWORD} characters")
    return password


async def _admin_create(cfg: Config, args: argparse.Namespace) -> Result:
    password_hash = hash_password(_read_password(args.password_stdin))

    async def work(ledger: Ledger) -> Result:
        await ledger.create_admin(args.user, password_hash, now=_now())
        return {"username": args.user}, f"admin {args.user} created"

    return await _with_ledger(cfg, _box(cfg, required=False), work)


async def _admin_token(cfg: Config, args: argparse.Namespace) -> Result:
    cfg.admin_tokens.require_secret()

    async def work(ledger: Ledger) -> Result:
        if await ledger.admin_password_hash(args.user) is None:
            raise NotFound(f"no admin named {args.user!r}")
        token, expires_at = adminauth.mint(cfg.admin_tokens, args.user, now=_now(), ttl=args.ttl)
        return {"token": token, "expires_at": expires_at.isoformat()}, token

    return await _with_ledger(cfg, _box(cfg, required=False), work)


async def _master_key_generate(cfg: Config, args: argparse.Namespace) -> Result:
    key = SecretBox.generate_key()
    return {"master_key": key}, key


async def _master_key_rotate(cfg: Config, args: argparse.Namespace) -> Result:
    async def work(ledger: Ledger) -> Result:
        count = await ledger.reseal_secrets()
        text = f"{count} secret(s) re-sealed under the first key of {ENV_MASTER_KEY}"
        return {"resealed": count}, text

    return await _with_ledger(cfg, _box(cfg, required=True), work)


Command = Callable[[Config, argparse.Namespace], Coroutine[Any, Any, Result]]


async def _close_period(cfg: Config, args: argparse.Namespace) -> Result:
    """Close a month from the command line: the same close the scheduler runs (and as safe to
    repeat), then one delivery pass over the outbox."""
    try:
        period = parse_period(args.period)
    except ValueError as e:
        raise InvalidValue(str(e)) from None

    async def work(ledger: Ledger) -> Result:
        report = await Closer(cfg.billing, ledger, _now).close(period)
        smtp = cfg.billing.smtp
        settings = smtp_settings(smtp) if smtp else None
        sent = await Outbox(ledger, settings, _now, cfg.billing.timezone).deliver_due()
        done = {"period": report.period, "invoices": report.invoices, "issued": report.issued,
                "mails_sent": sent}  # fmt: skip
        return done, (
            f"period {report.period} closed: {report.invoices} invoices "
            f"({report.issued} issued now), {sent} emails sent"
        )

    return await _with_ledger(cfg, _box(cfg, required=False), work)


async def _backup(cfg: Config, args: argparse.Namespace) -> Result:
    """Copy the ledger while BillFlow runs (SQLite's online backup API, in the ledger's own
    transactions, so the copy is consistent)."""
    dest = Path(args.dest)
    if await asyncio.to_thread(dest.exists) and not args.force:
        raise InvalidValue(f"{dest} exists; pass --force to replace it")
    if not await asyncio.to_thread(dest.parent.is_dir):
        raise InvalidValue(f"{dest.parent} is not a directory")

    async def work(ledger: Ledger) -> Result:
        await ledger.backup(dest)
        version = await ledger.schema_version()
        size = (await asyncio.to_thread(dest.stat)).st_size
        done = {"path": str(dest), "bytes": size, "schema_version": version}
        return done, f"ledger backed up to {dest} ({size} bytes, schema {version})"

    return await _with_ledger(cfg, None, work)


_COMMANDS: dict[tuple[str, str | None], Command] = {
    ("close-period", None): _close_period,
    ("backup", None): _backup,
    ("tenant", "create"): _tenant_create,
    ("key", "create"): _key_create,
    ("admin", "create"): _admin_create,
    ("admin", "token"): _admin_token,
    ("master-key", "generate"): _master_key_generate,
    ("master-key", "rotate"): _master_key_rotate,
}


def _duration(text: str) -> timedelta:
    try:
        return adminauth.parse_duration(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="billflow", description="S3 metering and billing gateway")
    p.add_argument(
        "--config",
        default=os.environ.get("BILLFLOW_CONFIG", DEFAULT_CONFIG),
        help="path to config.toml (default: $BILLFLOW_CONFIG or ./config.toml)",
    )
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("serve", help="run the S3 and admin listeners")

    def group(name: str, help: str) -> argparse._SubParsersAction[argparse.ArgumentParser]:
        return sub.add_parser(name, help=help).add_subparsers(dest="action", required=True)

    def command(parent: argparse._SubParsersAction[argparse.ArgumentParser], name: str,
                help: str) -> argparse.ArgumentParser:  # fmt: skip
        cmd = parent.add_parser(name, help=help)
        cmd.add_argument("--json", action="store_true", help="print JSON")
        return cmd

    tenant = group("tenant", "manage tenants")
    t_create = command(tenant, "create", "create a tenant")
    t_create.add_argument("name")
    t_create.add_argument("--email", help="billing email address")
    key = group("key", "manage access keys")
    command(key, "create", "issue an access key; the secret is shown once").add_argument("tenant")
    admin_ = group("admin", "manage admin API accounts")
    a_create = command(admin_, "create", "create an admin account (asks for a password)")
    a_create.add_argument("user")
    a_create.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )
    a_token = command(admin_, "token", "print an admin API token, e.g. for scripts")
    a_token.add_argument("user")
    a_token.add_argument("--ttl", type=_duration, help="lifetime: 90s, 30m, 12h, 7d")
    close = sub.add_parser(
        "close-period", help="issue the invoices of a month that is over (safe to repeat)"
    )
    close.add_argument("period", help="YYYY-MM, a month in the billing timezone")
    close.add_argument("--json", action="store_true", help="print JSON")
    backup = sub.add_parser(
        "backup", help="copy the ledger to a file while BillFlow runs (SQLite online backup)"
    )
    backup.add_argument("dest", help="the backup file to write")
    backup.add_argument("--force", action="store_true", help="replace an existing file")
    backup.add_argument("--json", action="store_true", help="print JSON")
    master = group("master-key", f"the key sealing access-key secrets ({ENV_MASTER_KEY})")
    command(master, "generate", "print a new random master key")
    command(master, "rotate", "re-seal every secret under the first key")
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
            configure(cfg.log_level, cfg.log_format)
            asyncio.run(serve(cfg))
            return 0
        command = _COMMANDS[args.command, getattr(args, "action", None)]
        result, text = asyncio.run(command(cfg, args))
    except ConfigError as e:
        print(f"billflow: configuration error: {e}", file=sys.stderr)
        return 2
    except (MasterKeyError, TokenError) as e:
        print(f"billflow: {e}", file=sys.stderr)
        return 2
    except (LedgerError, PeriodNotOver) as e:
        print(f"billflow: {e}", file=sys.stderr)
        return 1
    print(json.dumps(result) if args.json else text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
