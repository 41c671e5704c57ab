"""The [billing] and [smtp] tables of config.toml: the billing clock, the seller, the tariff,
where invoices go and how mail leaves.

Owns: reading and checking those settings. Money is written as strings in TOML ("0.25"), never
as TOML floats: a float cannot say 0.1 exactly, and the billing context refuses floats. The
invoice-number prefix is checked at start-up, so no number can ever pass 16 characters (CGST
Rule 46(b)). The SMTP password comes from the environment only. Does not own: what the prices
mean (billing.pricing) or sending (billing.mailer).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from billing import gstin as gstin_rules
from billing.invoice import Party, Tariff
from billing.numbering import check_prefix
from billing.tariffs import parse_price
from proxy.configtable import ConfigError, Table

#: SMTP password (environment only).
ENV_SMTP_PASSWORD = "BILLFLOW_SMTP_PASSWORD"

SmtpSecurity = Literal["none", "starttls", "tls"]


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int
    security: SmtpSecurity
    username: str
    password: str = field(repr=False)
    from_address: str
    timeout_seconds: float


@dataclass(frozen=True)
class BillingSettings:
    timezone: ZoneInfo
    close_grace_seconds: float  # after the month boundary, before the close starts
    invoice_prefix: str
    invoice_dir: Path
    finance_emails: tuple[str, ...]
    email_tenants: bool  # also send each invoice to the tenant's billing email
    seller: Party
    tariff: Tariff
    smtp: SmtpConfig | None  # None: no host set; mail waits in the outbox
    admin_emails: tuple[str, ...] = ()  # storage alerts (with the tenant) and the daily digest


def _money(table: Table, key: str, default: str) -> Decimal:
    try:
        return parse_price(f"{table.path}.{key}", table.text(key, default))
    except ValueError as e:
        raise ConfigError(str(e)) from None


def _tariff(table: Table) -> Tariff:
    calls = table.table("inr_per_call")
    per_call = {
        "write": _money(calls, "write", "0.001"),
        "read": _money(calls, "read", "0.001"),
    }
    calls.check_unknown()
    tariff = Tariff(
        free_storage_gb=_money(table, "free_storage_gb", "1"),
        free_calls=table.integer("free_calls", 1000, lo=0, hi=10**15),
        inr_per_gb_day=_money(table, "inr_per_gb_day", "0.25"),
        inr_per_call=per_call,
        inr_per_gb_egress=_money(table, "inr_per_gb_egress", "0"),
        sac=table.text("sac", "998315"),
        tax_enabled=table.boolean("tax_enabled", True),
        tax_rate_percent=_money(table, "tax_rate_percent", "18"),
    )
    table.check_unknown()
    return tariff


def _seller(table: Table) -> Party:
    gstin = table.text("gstin", "") or None
    state = table.text("state_code", "")
    if gstin is not None:
        try:
            gstin = gstin_rules.validate_gstin(gstin)
        except ValueError as e:
            raise ConfigError(f"{table.path}.gstin: {e}") from None
        state = state or gstin_rules.state_code_of(gstin)
        if state != gstin_rules.state_code_of(gstin):
            raise ConfigError(f"{table.path}.state_code: {state!r} is not the GSTIN's state")
    if state and state not in gstin_rules.STATES:
        raise ConfigError(f"{table.path}.state_code: {state!r} is not a GST state code")
    party = Party(
        name=table.text("name", "BillFlow Demo Operator"),
        address=table.text("address", ""),
        state_code=state,
        gstin=gstin,
        email=table.text("email", "") or None,
    )
    table.check_unknown()
    return party


def _smtp(table: Table, env: Mapping[str, str]) -> SmtpConfig | None:
    security = table.text("security", "starttls")
    if security not in ("none", "starttls", "tls"):
        raise ConfigError(f"smtp.security: expected none, starttls or tls, got {security!r}")
    smtp = SmtpConfig(
        host=table.text("host", ""),
        port=table.integer("port", 587, lo=1, hi=65535),
        security=security,  # type: ignore[arg-type]  # checked above
        username=table.text("username", ""),
        password=env.get(ENV_SMTP_PASSWORD, ""),
        from_address=table.text("from_address", "billing@billflow.localhost"),
        timeout_seconds=table.number("timeout_seconds", 30.0, lo=1.0),
    )
    table.check_unknown()
    return smtp if smtp.host else None


def parse_billing(
    table: Table, smtp_table: Table, env: Mapping[str, str], *, base_dir: Path
) -> BillingSettings:
    tz_name = table.text("timezone", "Asia/Kolkata")
    try:
        tz = ZoneInfo(tz_name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"billing.timezone: unknown time zone {tz_name!r}") from None
    prefix = table.text("invoice_prefix", "BF")
    try:
        check_prefix(prefix)
    except ValueError as e:
        raise ConfigError(f"billing.invoice_prefix: {e}") from None
    invoice_dir = Path(table.text("invoice_dir", "var/invoices"))
    settings = BillingSettings(
        timezone=tz,
        close_grace_seconds=table.number("close_grace_seconds", 300.0, lo=0.0),
        invoice_prefix=prefix,
        invoice_dir=invoice_dir if invoice_dir.is_absolute() else base_dir / invoice_dir,
        finance_emails=table.text_list("finance_emails", []),
        admin_emails=table.text_list("admin_emails", []),
        email_tenants=table.boolean("email_tenants", False),
        seller=_seller(table.table("seller")),
        tariff=_tariff(table.table("tariff")),
        smtp=_smtp(smtp_table, env),
    )
    table.check_unknown()
    return settings
