"""config.toml -> frozen, typed settings.

Owns: reading the TOML file, defaults, validation (errors name the key and the bad value) and the
environment overrides, which exist for secrets only (upstream credentials; the admin JWT secret
and the ledger's master key, which come from the environment and nowhere else). Does not own:
what the settings mean at run time; each consumer documents that. The documented reference is
`config.toml` at the repository root; `tests/proxy/test_config.py` keeps the two in step.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from proxy.config_billing import BillingSettings, parse_billing
from proxy.configtable import ConfigError as ConfigError  # re-exported: callers catch it
from proxy.configtable import Table

#: Environment variables that override secrets. Nothing else is read from the environment.
ENV_UPSTREAM_ACCESS_KEY_ID = "BILLFLOW_UPSTREAM_ACCESS_KEY_ID"
ENV_UPSTREAM_SECRET_ACCESS_KEY = "BILLFLOW_UPSTREAM_SECRET_ACCESS_KEY"
#: HS256 signing secret of admin tokens: any string of at least 32 bytes (environment only).
ENV_JWT_SECRET = "BILLFLOW_JWT_SECRET"
#: Fernet key(s) sealing access-key secrets in the ledger (environment only; see proxy/crypto.py).
ENV_MASTER_KEY = "BILLFLOW_MASTER_KEY"
MIN_JWT_SECRET_BYTES = 32


@dataclass(frozen=True)
class TLSFiles:
    cert_file: Path  # PEM: the certificate, then any intermediates
    key_file: Path  # PEM private key


@dataclass(frozen=True)
class Listener:
    host: str
    port: int
    tls: TLSFiles | None = None  # None: plain HTTP

    @property
    def scheme(self) -> str:
        return "https" if self.tls else "http"


@dataclass(frozen=True)
class S3Settings:
    listen: Listener
    region: str
    base_domains: tuple[str, ...]
    max_clock_skew_seconds: int
    credential_cache_seconds: float
    allow_sigv2: bool
    drain_seconds: float


@dataclass(frozen=True)
class UpstreamSettings:
    endpoint: str
    region: str
    access_key_id: str
    secret_access_key: str = field(repr=False)
    connect_timeout_seconds: float
    read_timeout_seconds: float
    max_connections: int

    def require_credentials(self) -> None:
        """Serving needs upstream credentials; the key-store commands don't."""
        if not self.access_key_id or not self.secret_access_key:
            raise ConfigError(
                "upstream.access_key_id / upstream.secret_access_key: not set; put them in "
                f"{ENV_UPSTREAM_ACCESS_KEY_ID} / {ENV_UPSTREAM_SECRET_ACCESS_KEY}"
            )


@dataclass(frozen=True)
class AdminTokens:
    """[admin.tokens]: the JWTs the admin API accepts. The secret is never read from the file."""

    issuer: str
    audience: str
    ttl_seconds: int
    max_ttl_seconds: int
    secret: str = field(repr=False, default="")

    def require_secret(self) -> str:
        """Serving the admin API and minting tokens need it; the key-store commands don't."""
        if not self.secret:
            raise ConfigError(
                f"{ENV_JWT_SECRET}: not set; put a random string of at least "
                f"{MIN_JWT_SECRET_BYTES} bytes there, e.g. the output of "
                "`python -c 'import secrets; print(secrets.token_urlsafe(48))'`"
            )
        if len(self.secret.encode()) < MIN_JWT_SECRET_BYTES:
            raise ConfigError(
                f"{ENV_JWT_SECRET}: {len(self.secret.encode())} bytes is too short for HS256; "
                f"use at least {MIN_JWT_SECRET_BYTES}"
            )
        return self.secret


@dataclass(frozen=True)
class MeterSettings:
    enabled: bool  # false only to measure the meter's own cost: nothing is metered or billed
    flush_interval_seconds: float
    reconcile_interval_seconds: float  # 0: only on demand
    #: operation name -> billing class, over routing's defaults (checked by the meter).
    billing_classes: Mapping[str, str]


@dataclass(frozen=True)
class Config:
    s3: S3Settings
    admin: Listener
    admin_tokens: AdminTokens
    upstream: UpstreamSettings
    ledger_path: Path
    log_level: str
    log_format: str  # "json" or "text"
    meter: MeterSettings
    billing_timezone: ZoneInfo
    billing: BillingSettings
    master_key: str = field(repr=False, default="")
    source: Path | None = None

    def require_master_key(self) -> str:
        """Commands that seal or open access-key secrets need it; the text is parsed by crypto."""
        if not self.master_key:
            raise ConfigError(
                f"{ENV_MASTER_KEY}: not set; access-key secrets are encrypted with it. "
                "Generate one with `billflow master-key generate`"
            )
        return self.master_key


def _tls(table: Table, base_dir: Path) -> TLSFiles | None:
    cert = table.text("cert_file", "")
    key = table.text("key_file", "")
    table.check_unknown()
    if not cert and not key:
        return None
    if not cert or not key:
        raise ConfigError(f"{table.path}: set both cert_file and key_file, or neither")
    return TLSFiles(cert_file=base_dir / cert, key_file=base_dir / key)


def _listener(table: Table, default_port: int, tls: TLSFiles | None) -> Listener:
    listener = Listener(
        host=table.text("host", "127.0.0.1"),
        port=table.integer("port", default_port, lo=0, hi=65535),
        tls=tls,
    )
    return listener


def parse(data: Mapping[str, Any], env: Mapping[str, str], *, base_dir: Path) -> Config:
    """Build a Config from parsed TOML `data`; `env` supplies secret overrides."""
    root = Table(data, "")

    s3 = root.table("s3")
    listen = s3.table("listen")
    s3_settings = S3Settings(
        listen=_listener(listen, 9000, _tls(s3.table("tls"), base_dir)),
        region=s3.text("region", "us-east-1"),
        base_domains=tuple(d.lower() for d in s3.text_list("base_domains", ["s3.localhost"])),
        max_clock_skew_seconds=s3.integer("max_clock_skew_seconds", 900, lo=1, hi=3600),
        credential_cache_seconds=s3.number("credential_cache_seconds", 2.0, lo=0.0),
        allow_sigv2=s3.boolean("allow_sigv2", True),
        drain_seconds=s3.number("drain_seconds", 30.0, lo=0.0),
    )
    listen.check_unknown()
    s3.check_unknown()

    admin_table = root.table("admin")
    admin = _listener(admin_table, 9001, _tls(admin_table.table("tls"), base_dir))
    tokens = admin_table.table("tokens")
    ttl = tokens.integer("ttl_seconds", 3600, lo=60, hi=366 * 86400)
    admin_tokens = AdminTokens(
        issuer=tokens.text("issuer", "billflow"),
        audience=tokens.text("audience", "billflow-admin"),
        ttl_seconds=ttl,
        max_ttl_seconds=tokens.integer("max_ttl_seconds", 30 * 86400, lo=ttl, hi=366 * 86400),
        secret=env.get(ENV_JWT_SECRET, ""),
    )
    if not admin_tokens.issuer or not admin_tokens.audience:
        raise ConfigError("admin.tokens: issuer and audience must not be empty")
    tokens.check_unknown()
    admin_table.check_unknown()

    up = root.table("upstream")
    endpoint = up.text("endpoint", "http://127.0.0.1:9100").rstrip("/")
    if not endpoint.startswith(("http://", "https://")):
        raise ConfigError(f"upstream.endpoint: expected an http(s) URL, got {endpoint!r}")
    file_key_id = up.text("access_key_id", "")
    file_secret = up.text("secret_access_key", "")
    upstream = UpstreamSettings(
        endpoint=endpoint,
        region=up.text("region", "us-east-1"),
        access_key_id=env.get(ENV_UPSTREAM_ACCESS_KEY_ID) or file_key_id,
        secret_access_key=env.get(ENV_UPSTREAM_SECRET_ACCESS_KEY) or file_secret,
        connect_timeout_seconds=up.number("connect_timeout_seconds", 5.0, lo=0.1),
        read_timeout_seconds=up.number("read_timeout_seconds", 60.0, lo=0.1),
        max_connections=up.integer("max_connections", 100, lo=1, hi=10_000),
    )
    up.check_unknown()

    ledger = root.table("ledger")
    ledger_path = Path(ledger.text("path", "var/billflow.sqlite3"))
    ledger.check_unknown()

    meter_table = root.table("meter")
    meter = MeterSettings(
        enabled=meter_table.boolean("enabled", True),
        flush_interval_seconds=meter_table.number("flush_interval_seconds", 1.0, lo=0.01),
        reconcile_interval_seconds=meter_table.number("reconcile_interval_seconds", 3600, lo=0),
        billing_classes=meter_table.text_map("billing_classes"),
    )
    meter_table.check_unknown()

    billing = parse_billing(root.table("billing"), root.table("smtp"), env, base_dir=base_dir)

    log = root.table("log")
    level = log.text("level", "INFO").upper()
    if level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
        raise ConfigError(f"log.level: expected DEBUG, INFO, WARNING or ERROR, got {level!r}")
    log_format = log.text("format", "json")
    if log_format not in ("json", "text"):
        raise ConfigError(f"log.format: expected json or text, got {log_format!r}")
    log.check_unknown()
    root.check_unknown()

    return Config(
        s3=s3_settings,
        admin=admin,
        admin_tokens=admin_tokens,
        upstream=upstream,
        ledger_path=ledger_path if ledger_path.is_absolute() else base_dir / ledger_path,
        log_level=level,
        log_format=log_format,
        meter=meter,
        billing_timezone=billing.timezone,
        billing=billing,
        master_key=env.get(ENV_MASTER_KEY, ""),
    )


def load(path: Path, env: Mapping[str, str] | None = None) -> Config:
    """Read `path`; relative paths inside it are relative to the file's directory."""
    try:
        with path.open("rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: {e}") from None
    cfg = parse(data, os.environ if env is None else env, base_dir=path.resolve().parent)
    return dataclasses.replace(cfg, source=path)
