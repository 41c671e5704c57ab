"""The mail BillFlow sends, and handing one message to an SMTP server.

Owns: `SmtpSettings`; building each message from plain values (`invoice_message` with the PDF
attached, `alert_message` from `AlertFacts`, `digest_message` from `DigestFacts`); and `send()`,
which delivers one message or raises `MailError`. Does not own: queueing, retrying or recording
failures (the ledger's outbox calls `send` and retries), reading the clock (`at` is a parameter),
where the facts come from (the ledger), or rendering the PDF (invoice_pdf).

Every Message-ID is a function of what the message is about (invoice number and status; tenant,
period and threshold; digest day) and the sender's domain, so a message rebuilt and resent after
a crash is recognisably the same message. `email.utils.make_msgid` can't do that: it prepends
the time, the pid and 64 random bits whatever `idstring` says.

Bodies are quoted-printable: "₹" and "—" are not ASCII, and smtplib sends an 8bit body without
declaring BODY=8BITMIME, which a strict relay may reject or mangle.
"""

from __future__ import annotations

import contextlib
import re
import smtplib
import ssl
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from typing import Literal, get_args
from zoneinfo import ZoneInfo

from billing.invoice import Invoice, Party
from billing.money import GB_BYTES, amount_in_words, format_inr
from billing.periods import Period, days_in

__all__ = [
    "AlertFacts",
    "DigestFacts",
    "MailError",
    "Security",
    "SmtpSettings",
    "TenantDay",
    "alert_message",
    "digest_message",
    "invoice_message",
    "send",
]

Security = Literal["none", "starttls", "tls"]
LimitKind = Literal["quota", "free_tier"]

_KOLKATA = ZoneInfo("Asia/Kolkata")
_MONTHS = (
    "January February March April May June July August September October November December"
).split()  # not calendar.month_name: that follows the process locale
_ID_PART = re.compile(r"[A-Za-z0-9-]+")
_DOMAIN = re.compile(r"[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*")
_LIMIT_WORDS: dict[str, str] = {"quota": "storage quota", "free_tier": "free storage tier"}


class MailError(Exception):
    """Sending one message failed; the cause is chained. Never carries the SMTP password."""


@dataclass(frozen=True)
class SmtpSettings:
    """How to reach the mail server.

    `security`: "none" sends in clear (a relay on a trusted network); "starttls" upgrades the
    connection (usually port 587) and refuses a server that doesn't offer STARTTLS; "tls" is
    implicit TLS from the first byte (SMTPS, usually port 465). `from_address` is the envelope
    sender. `ssl_context` None means `ssl.create_default_context()` (system CAs, hostname checked).
    """

    host: str
    port: int
    security: Security
    username: str | None
    password: str | None = field(repr=False)
    from_address: str
    timeout_seconds: float = 30
    ssl_context: ssl.SSLContext | None = None

    def __post_init__(self) -> None:
        if self.security not in get_args(Security):
            raise ValueError(
                f"smtp security must be one of none, starttls, tls; got {self.security!r}"
            )
        if isinstance(self.port, bool) or not isinstance(self.port, int):
            raise TypeError(f"smtp port must be an int, not {type(self.port).__name__}")
        if not 0 < self.port < 65536:
            raise ValueError(f"smtp port must be 1..65535, got {self.port}")
        if not self.timeout_seconds > 0:
            raise ValueError(f"smtp timeout_seconds must be positive, got {self.timeout_seconds}")
        if (self.username is None) != (self.password is None):
            raise ValueError("smtp username and password must be set together")  # no values
        _address_of(self.from_address, "smtp from_address")


@dataclass(frozen=True)
class AlertFacts:
    """A tenant's stored bytes crossed `threshold_percent` of a limit during `period`."""

    tenant_id: int
    tenant_name: str
    threshold_percent: Literal[80, 100]
    limit_kind: LimitKind
    stored_bytes: int
    limit_bytes: int
    period: Period

    def __post_init__(self) -> None:
        if self.threshold_percent not in (80, 100):
            raise ValueError(f"alert threshold must be 80 or 100, got {self.threshold_percent}")
        if self.limit_kind not in _LIMIT_WORDS:
            raise ValueError(
                f"alert limit_kind must be quota or free_tier, got {self.limit_kind!r}"
            )
        _count(self.stored_bytes, "stored_bytes")
        if _count(self.limit_bytes, "limit_bytes") == 0:
            raise ValueError("alert limit_bytes must be positive")


@dataclass(frozen=True)
class TenantDay:
    """One row of the digest's top tenants."""

    name: str
    calls: int
    stored_bytes: int


@dataclass(frozen=True)
class DigestFacts:
    """The platform's day (a local day in the billing timezone), for the admin."""

    day: date
    calls: int
    bytes_in: int
    bytes_out: int
    stored_bytes: int
    top_tenants: tuple[TenantDay, ...]
    failed_emails: int
    reconciliation_corrections: int


def invoice_message(
    invoice: Invoice,
    pdf: bytes,
    *,
    sender: str,
    to: Sequence[str],
    cc: Sequence[str] = (),
    at: datetime,
    tz: ZoneInfo = _KOLKATA,
) -> EmailMessage:
    """The invoice mail: a short summary, the PDF attached as `<number with '-' for '/'>.pdf`.

    The Message-ID names the number and the status, so a resend is the same message while a
    later "paid" or "void" mail for the same invoice is a new one (mail clients drop repeats).
    """
    if not pdf.startswith(b"%PDF-"):
        raise ValueError("pdf must be the invoice's PDF bytes (they start with %PDF-)")
    slug = _id_part(invoice.number.replace("/", "-"), "invoice number")
    total = format_inr(invoice.total)
    month = _month(invoice.period)
    subject = f"Invoice {invoice.number} for {month} — {total}"
    if invoice.status != "issued":
        subject += f" ({invoice.status})"
    status = f"{invoice.status}: {invoice.void_reason}" if invoice.void_reason else invoice.status
    kind = "Tax invoice" if invoice.tax_invoice else "Invoice"
    days = days_in(invoice.period)
    body = "\n".join(
        [
            f"{kind} {invoice.number} from {invoice.seller.name} to {invoice.buyer.name}.",
            "",
            f"Seller: {_party(invoice.seller)}",
            f"Buyer: {_party(invoice.buyer)}",
            f"Period: {month} (1 to {days} {month})",
            f"Issued: {_day(invoice.issued_at.astimezone(tz).date())}",
            f"Total: {total}",
            f"In words: {amount_in_words(invoice.total)}",
            f"Status: {status}",
            "",
            "The PDF is attached.",
        ]
    )
    message = _message(
        subject=subject,
        body=body,
        sender=sender,
        to=to,
        cc=cc,
        at=at,
        tz=tz,
        id_parts=("invoice", slug, invoice.status),
    )
    message.add_attachment(pdf, maintype="application", subtype="pdf", filename=f"{slug}.pdf")
    return message


def alert_message(
    facts: AlertFacts,
    *,
    sender: str,
    to: Sequence[str],
    cc: Sequence[str] = (),
    at: datetime,
    tz: ZoneInfo = _KOLKATA,
) -> EmailMessage:
    """The storage alert: which threshold of which limit, stored and limit sizes, the period."""
    limit = _LIMIT_WORDS[facts.limit_kind]
    what = f"{facts.threshold_percent}% of the {limit}"
    body = "\n".join(
        [
            f"{facts.tenant_name} has reached {what} in {_month(facts.period)}.",
            "",
            f"Tenant: {facts.tenant_name} (id {facts.tenant_id})",
            f"Threshold: {what}",
            f"Stored: {_size(facts.stored_bytes)}",
            f"Limit: {_size(facts.limit_bytes)}",
            f"Period: {_month(facts.period)}",
        ]
    )
    return _message(
        subject=f"Storage alert: {facts.tenant_name} has reached {what}",
        body=body,
        sender=sender,
        to=to,
        cc=cc,
        at=at,
        tz=tz,
        id_parts=(
            "alert",
            facts.period.label,
            f"tenant-{_count(facts.tenant_id, 'tenant_id')}",
            facts.limit_kind.replace("_", "-"),
            str(facts.threshold_percent),
        ),
    )


def digest_message(
    facts: DigestFacts,
    *,
    sender: str,
    to: Sequence[str],
    cc: Sequence[str] = (),
    at: datetime,
    tz: ZoneInfo = _KOLKATA,
) -> EmailMessage:
    """The admin's daily digest. The subject says when something needs a look."""
    tenants = [
        f"  {rank}. {t.name}: {_count(t.calls, 'calls'):,} calls, {_size(t.stored_bytes)} stored"
        for rank, t in enumerate(facts.top_tenants, start=1)
    ] or ["  (no tenant activity)"]
    body = "\n".join(
        [
            f"BillFlow for {_day(facts.day)}.",
            "",
            "Platform",
            f"  Calls: {_count(facts.calls, 'calls'):,}",
            f"  Bytes in: {_size(facts.bytes_in)}",
            f"  Bytes out: {_size(facts.bytes_out)}",
            f"  Stored: {_size(facts.stored_bytes)}",
            "",
            "Top tenants",
            *tenants,
            "",
            f"Failed emails: {_count(facts.failed_emails, 'failed_emails')}",
            "Reconciliation corrections: "
            f"{_count(facts.reconciliation_corrections, 'reconciliation_corrections')}",
        ]
    )
    subject = f"BillFlow daily digest for {facts.day.isoformat()}"
    if facts.failed_emails or facts.reconciliation_corrections:
        subject += " — needs attention"
    return _message(
        subject=subject,
        body=body,
        sender=sender,
        to=to,
        cc=cc,
        at=at,
        tz=tz,
        id_parts=("digest", facts.day.isoformat()),
    )


def send(message: EmailMessage, settings: SmtpSettings) -> None:
    """Deliver `message` to its To/Cc/Bcc recipients, or raise `MailError`.

    Blocking (each socket operation bounded by `timeout_seconds`): callers run it in a thread.
    Connect, EHLO, STARTTLS if configured, AUTH if a username is set, one mail transaction,
    QUIT. Once the server has accepted the data the message is sent: a failed QUIT is ignored,
    as raising would make the outbox send it again. A recipient refused while others were
    accepted still raises: the outbox records it, and the stable Message-ID lets the accepted
    recipients' clients recognise the retry as a repeat.
    """
    where = f"{settings.host}:{settings.port}"
    try:
        refused = _deliver(message, settings, where)
    except MailError:
        raise
    except Exception as exc:  # any failure is the outbox's to record and retry
        text = f"sending {message['Message-ID']} via {where} failed: {type(exc).__name__}: {exc}"
        raise MailError(_redact(text, settings)) from exc
    if refused:
        detail = ", ".join(
            f"{rcpt} ({code} {reply.decode('utf-8', 'replace')})"
            for rcpt, (code, reply) in sorted(refused.items())
        )
        raise MailError(
            _redact(f"{where} refused recipients of {message['Message-ID']}: {detail}", settings)
        )


def _deliver(
    message: EmailMessage, settings: SmtpSettings, where: str
) -> dict[str, tuple[int, bytes]]:
    context = settings.ssl_context
    if context is None and settings.security != "none":
        context = ssl.create_default_context()
    timeout = settings.timeout_seconds
    client = (
        smtplib.SMTP_SSL(settings.host, settings.port, timeout=timeout, context=context)
        if settings.security == "tls"
        else smtplib.SMTP(settings.host, settings.port, timeout=timeout)
    )
    try:
        client.ehlo()
        if settings.security == "starttls":
            if not client.has_extn("starttls"):
                raise MailError(f"{where} does not offer STARTTLS; not sending in clear")
            client.starttls(context=context)
            client.ehlo()  # RFC 3207 §4.2: forget what the server said before TLS
        if settings.username is not None:
            client.login(settings.username, settings.password or "")
        sender = _address_of(settings.from_address, "smtp from_address")
        refused = client.send_message(message, from_addr=sender)
    except BaseException:
        client.close()
        raise
    with contextlib.suppress(OSError):  # smtplib.SMTPException is an OSError
        client.quit()
    client.close()
    return refused


def _message(
    *,
    subject: str,
    body: str,
    sender: str,
    to: Sequence[str],
    cc: Sequence[str],
    at: datetime,
    tz: ZoneInfo,
    id_parts: tuple[str, ...],
) -> EmailMessage:
    for name, addresses in (("to", to), ("cc", cc)):
        if isinstance(addresses, str):  # a str is a Sequence[str] too: "a@b" -> "a, @, b"
            raise TypeError(f"{name} must be a sequence of addresses, not one string")
        for address in addresses:
            _address_of(address, name)
    if not to:
        raise ValueError("a message needs at least one To address")
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"at must be an aware datetime, got naive {at.isoformat()}")
    domain = _address_of(sender, "sender").rpartition("@")[2]
    if not _DOMAIN.fullmatch(domain):
        raise ValueError(f"sender's domain {domain!r} can't name a Message-ID")
    message = EmailMessage()  # policy.default: RFC 2047 headers, strict header values
    message["Subject"] = subject
    message["From"] = sender
    message["To"] = ", ".join(to)
    if cc:
        message["Cc"] = ", ".join(cc)
    message["Date"] = format_datetime(at.astimezone(tz))
    message["Message-ID"] = f"<billflow.{'.'.join(id_parts)}@{domain}>"
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no out-of-office replies
    message.set_content(body + "\n", cte="quoted-printable")
    return message


def _address_of(text: str, name: str) -> str:
    """The bare addr-spec of "Name <a@b>" or "a@b"; ValueError naming `name` otherwise."""
    address = parseaddr(text)[1]
    local, at, domain = address.rpartition("@")
    if not (local and at and domain):
        raise ValueError(f"{name} is not an email address: {text!r}")
    return address


def _id_part(text: str, name: str) -> str:
    if not _ID_PART.fullmatch(text):
        raise ValueError(f"{name} can't name a Message-ID or file: {text!r}")
    return text


def _count(value: int, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} must be a non-negative int, got {value!r}")
    return value


def _size(n_bytes: int) -> str:
    """ "1.50 GiB (1,610,612,736 bytes)". Hundredths are floored: a figure never reads as
    having reached a limit it hasn't (the exact bytes follow)."""
    hundredths = _count(n_bytes, "bytes") * 100 // GB_BYTES
    return f"{hundredths // 100:,}.{hundredths % 100:02d} GiB ({n_bytes:,} bytes)"


def _month(period: Period) -> str:
    return f"{_MONTHS[period.month - 1]} {period.year}"


def _day(day: date) -> str:
    return f"{day.day} {_MONTHS[day.month - 1]} {day.year}"


def _party(party: Party) -> str:
    return f"{party.name}, GSTIN {party.gstin}" if party.gstin else party.name


def _redact(text: str, settings: SmtpSettings) -> str:
    # A server may echo what it was sent; the password must not reach a log through us.
    return text.replace(settings.password, "***") if settings.password else text
