"""billing/mailer.py against a real SMTP server: aiosmtpd on a free loopback port, per test.

TLS uses a throwaway trustme CA: the server's certificate names 127.0.0.1, and the client's
`ssl_context` trusts only that CA, so hostname checking stays on as in production.
"""

from __future__ import annotations

import email
import email.policy
import socket
import ssl
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from decimal import Decimal
from email.message import EmailMessage
from typing import Any, Literal

import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from billing.invoice import Invoice, Party
from billing.mailer import (
    AlertFacts,
    DigestFacts,
    MailError,
    SmtpSettings,
    TenantDay,
    alert_message,
    digest_message,
    invoice_message,
    send,
)
from billing.periods import Period

SENDER = "BillFlow Billing <billing@billflow.example>"
AT = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)  # 08:30 in Kolkata
# Every byte value, so a lossy transfer encoding anywhere would show.
PDF = b"%PDF-1.7\n" + bytes(range(256)) * 40 + b"\r\n.\r\n\n%%EOF\n"
USER, PASSWORD = "billflow", "s3cret-Pa55word"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Delivery:
    mail_from: str
    rcpt_tos: list[str]
    content: bytes
    tls: bool
    login: bytes | None

    def parsed(self) -> EmailMessage:
        message = email.message_from_bytes(self.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        return message


@dataclass
class Inbox:
    """aiosmtpd handler: keeps what it is given; refuses RCPT for `refuse`."""

    refuse: set[str] = field(default_factory=set)
    delivered: list[Delivery] = field(default_factory=list)

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        if address in self.refuse:
            return "550 5.1.1 No such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        assert isinstance(envelope.content, bytes) and envelope.mail_from is not None
        self.delivered.append(
            Delivery(
                envelope.mail_from,
                list(envelope.rcpt_tos),
                envelope.content,
                tls=session.ssl is not None,
                login=session.login_data,
            )
        )
        return "250 2.0.0 Accepted"


@dataclass
class Authenticator:
    """aiosmtpd authenticator: accepts USER/PASSWORD and notes the mechanisms tried."""

    mechanisms: list[str] = field(default_factory=list)

    def __call__(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        self.mechanisms.append(mechanism)
        ok = isinstance(data, LoginPassword) and data == (USER.encode(), PASSWORD.encode())
        # handled=False: aiosmtpd answers a failure with 535 itself.
        return AuthResult(success=ok, handled=False, auth_data=data)


@dataclass
class Server:
    port: int
    inbox: Inbox

    def settings(self, **changes: Any) -> SmtpSettings:
        base = SmtpSettings(
            host="127.0.0.1",
            port=self.port,
            security="none",
            username=None,
            password=None,
            from_address=SENDER,
            timeout_seconds=5,
        )
        return replace(base, **changes)


@pytest.fixture
def smtp_server() -> Iterator[Callable[..., Server]]:
    """Start an aiosmtpd Controller with the given SMTP options; stopped after the test."""
    started: list[Controller] = []

    def start(**options: Any) -> Server:
        inbox = Inbox()
        # server_hostname: otherwise aiosmtpd asks socket.getfqdn(), a DNS lookup.
        controller = Controller(
            inbox, hostname="127.0.0.1", port=free_port(), server_hostname="mx.test", **options
        )
        controller.start()
        started.append(controller)
        return Server(controller.port, inbox)

    yield start
    for controller in started:
        controller.stop()


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def server_tls(ca: trustme.CA) -> ssl.SSLContext:
    # Purpose.CLIENT_AUTH: a server context (no client certificates, no hostname check), which
    # is what aiosmtpd expects; it logs a warning for anything stricter.
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    return context


@pytest.fixture(scope="module")
def client_tls(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


def party(name: str, gstin: str | None = None) -> Party:
    return Party(name=name, address="1 MG Road\nBengaluru", state_code="29", gstin=gstin)


def make_invoice(**changes: Any) -> Invoice:
    base = Invoice(
        number="BF/26-27/000042",
        issued_at=datetime(2026, 11, 30, 20, 0, tzinfo=UTC),  # 1 December in Kolkata
        period=Period(2026, 11),
        seller=party("BillFlow Cloud Pvt Ltd", "29ABCDE1234F1Z5"),
        buyer=party("Acme Analytics LLP"),
        place_of_supply="29",
        lines=(),
        taxable_value=Decimal("104618.22"),
        taxes=(),
        total=Decimal("123449.50"),
        tax_invoice=True,
    )
    return replace(base, **changes)


def an_invoice_message(**changes: Any) -> EmailMessage:
    return invoice_message(
        make_invoice(**changes),
        PDF,
        sender=SENDER,
        to=["Acme Accounts <accounts@acme.example>"],
        cc=["cfo@acme.example", "Ops <ops@acme.example>"],
        at=AT,
    )


def body_of(message: EmailMessage) -> str:
    part = message.get_body(("plain",))
    assert isinstance(part, EmailMessage)
    content = part.get_content()
    assert isinstance(content, str)
    return content


ALERT = AlertFacts(
    tenant_id=7,
    tenant_name="Acme Analytics",
    threshold_percent=80,
    limit_kind="quota",
    stored_bytes=4 * 2**30 + 2**29,
    limit_bytes=5 * 2**30,
    period=Period(2026, 11),
)
DIGEST = DigestFacts(
    day=date(2026, 11, 14),
    calls=1_234_567,
    bytes_in=3 * 2**30,
    bytes_out=2**30 + 1,
    stored_bytes=10 * 2**30,
    top_tenants=(
        TenantDay("Acme Analytics", calls=900_000, stored_bytes=6 * 2**30),
        TenantDay("Globex", calls=300_000, stored_bytes=2**29),
    ),
    failed_emails=2,
    reconciliation_corrections=1,
)


# --- messages -------------------------------------------------------------------------------


def test_invoice_message_headers_subject_has_number_and_indian_total() -> None:
    message = an_invoice_message()
    assert message["Subject"] == "Invoice BF/26-27/000042 for November 2026 — ₹1,23,449.50"
    assert message["From"] == SENDER
    assert message["To"] == "Acme Accounts <accounts@acme.example>"
    assert message["Cc"] == "cfo@acme.example, Ops <ops@acme.example>"
    assert message["Date"] == "Tue, 01 Dec 2026 08:30:00 +0530"
    assert message["Auto-Submitted"] == "auto-generated"


def test_invoice_message_body_states_parties_period_total_in_words_and_status() -> None:
    body = body_of(an_invoice_message())
    for fact in (
        "Tax invoice BF/26-27/000042",
        "Seller: BillFlow Cloud Pvt Ltd, GSTIN 29ABCDE1234F1Z5",
        "Buyer: Acme Analytics LLP",
        "Period: November 2026 (1 to 30 November 2026)",
        "Issued: 1 December 2026",
        "Total: ₹1,23,449.50",
        "Rupees One Lakh Twenty-Three Thousand Four Hundred Forty-Nine and Fifty Paise Only",
        "Status: issued",
        "The PDF is attached.",
    ):
        assert fact in body


def test_invoice_message_without_tax_void_says_so() -> None:
    message = an_invoice_message(tax_invoice=False, status="void", void_reason="issued twice")
    assert message["Subject"].endswith("₹1,23,449.50 (void)")
    body = body_of(message)
    assert body.startswith("Invoice BF/26-27/000042")
    assert "Status: void: issued twice" in body


def test_invoice_message_id_is_stable_per_number_and_status() -> None:
    first = an_invoice_message()
    again = invoice_message(
        make_invoice(), PDF, sender=SENDER, to=["x@acme.example"], at=datetime.now(UTC)
    )
    assert first["Message-ID"] == again["Message-ID"]
    assert first["Message-ID"] == "<billflow.invoice.BF-26-27-000042.issued@billflow.example>"
    assert an_invoice_message(status="paid")["Message-ID"] != first["Message-ID"]


@pytest.mark.parametrize(
    "changes, error",
    [
        pytest.param({"to": "a@acme.example"}, TypeError, id="to-is-one-string"),
        pytest.param({"to": []}, ValueError, id="no-recipient"),
        pytest.param({"cc": ["not an address"]}, ValueError, id="bad-cc"),
        pytest.param({"sender": "billing"}, ValueError, id="sender-without-domain"),
        pytest.param({"at": datetime(2026, 12, 1)}, ValueError, id="naive-at"),
        pytest.param({"pdf": b""}, ValueError, id="empty-pdf"),
    ],
)
def test_invoice_message_bad_arguments_raise(
    changes: dict[str, Any], error: type[Exception]
) -> None:
    kwargs: dict[str, Any] = {"pdf": PDF, "sender": SENDER, "to": ["a@acme.example"], "at": AT}
    kwargs.update(changes)
    with pytest.raises(error):
        invoice_message(make_invoice(), **kwargs)


@pytest.mark.parametrize(
    "threshold, kind, words",
    [
        (80, "quota", "80% of the storage quota"),
        (100, "free_tier", "100% of the free storage tier"),
    ],
)
def test_alert_message_states_threshold_sizes_and_period(
    threshold: Literal[80, 100], kind: Literal["quota", "free_tier"], words: str
) -> None:
    facts = replace(ALERT, threshold_percent=threshold, limit_kind=kind)
    message = alert_message(facts, sender=SENDER, to=["ops@acme.example"], at=AT)
    assert message["Subject"] == f"Storage alert: Acme Analytics has reached {words}"
    body = body_of(message)
    for fact in (
        "Tenant: Acme Analytics (id 7)",
        f"Threshold: {words}",
        "Stored: 4.50 GiB (4,831,838,208 bytes)",
        "Limit: 5.00 GiB (5,368,709,120 bytes)",
        "Period: November 2026",
    ):
        assert fact in body
    slug = kind.replace("_", "-")
    assert message["Message-ID"] == (
        f"<billflow.alert.2026-11.tenant-7.{slug}.{threshold}@billflow.example>"
    )


def test_alert_message_size_one_byte_short_never_rounds_up_to_the_limit() -> None:
    facts = replace(ALERT, stored_bytes=5 * 2**30 - 1)
    body = body_of(alert_message(facts, sender=SENDER, to=["ops@acme.example"], at=AT))
    assert "Stored: 4.99 GiB (5,368,709,119 bytes)" in body


@pytest.mark.parametrize(
    "changes",
    [
        {"threshold_percent": 90},
        {"limit_kind": "bandwidth"},
        {"limit_bytes": 0},
        {"stored_bytes": -1},
    ],
    ids=["threshold", "kind", "zero-limit", "negative-bytes"],
)
def test_alert_facts_out_of_range_raise(changes: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        replace(ALERT, **changes)


def test_digest_message_states_totals_top_tenants_and_problems() -> None:
    message = digest_message(DIGEST, sender=SENDER, to=["admin@billflow.example"], at=AT)
    assert message["Subject"] == "BillFlow daily digest for 2026-11-14 — needs attention"
    assert message["Message-ID"] == "<billflow.digest.2026-11-14@billflow.example>"
    body = body_of(message)
    for fact in (
        "14 November 2026",
        "Calls: 1,234,567",
        "Bytes in: 3.00 GiB (3,221,225,472 bytes)",
        "Bytes out: 1.00 GiB (1,073,741,825 bytes)",
        "Stored: 10.00 GiB (10,737,418,240 bytes)",
        "1. Acme Analytics: 900,000 calls, 6.00 GiB (6,442,450,944 bytes) stored",
        "2. Globex: 300,000 calls, 0.50 GiB (536,870,912 bytes) stored",
        "Failed emails: 2",
        "Reconciliation corrections: 1",
    ):
        assert fact in body


def test_digest_message_quiet_day_subject_is_plain() -> None:
    quiet = replace(DIGEST, top_tenants=(), failed_emails=0, reconciliation_corrections=0)
    message = digest_message(quiet, sender=SENDER, to=["admin@billflow.example"], at=AT)
    assert message["Subject"] == "BillFlow daily digest for 2026-11-14"
    assert "(no tenant activity)" in body_of(message)


@pytest.mark.parametrize(
    "changes",
    [
        {"security": "ssl"},
        {"port": 0},
        {"timeout_seconds": 0},
        {"username": "u"},
        {"from_address": "nobody"},
    ],
    ids=["security", "port", "timeout", "username-without-password", "from-address"],
)
def test_smtp_settings_invalid_raise(changes: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        Server(25, Inbox()).settings(**changes)


def test_smtp_settings_repr_hides_password() -> None:
    settings = Server(25, Inbox()).settings(username=USER, password=PASSWORD)
    assert PASSWORD not in repr(settings)


# --- delivery -------------------------------------------------------------------------------


def test_send_plain_server_delivers_invoice_with_pdf_intact(
    smtp_server: Callable[..., Server],
) -> None:
    server = smtp_server()
    send(an_invoice_message(), server.settings())

    [delivery] = server.inbox.delivered
    assert delivery.mail_from == "billing@billflow.example"
    assert delivery.rcpt_tos == ["accounts@acme.example", "cfo@acme.example", "ops@acme.example"]
    assert all(byte < 128 for byte in delivery.content), "no 8bit data without 8BITMIME"
    received = delivery.parsed()
    assert received["Subject"] == "Invoice BF/26-27/000042 for November 2026 — ₹1,23,449.50"
    assert received["To"] == "Acme Accounts <accounts@acme.example>"
    assert received["Cc"] == "cfo@acme.example, Ops <ops@acme.example>"
    assert "Total: ₹1,23,449.50" in body_of(received)
    [attachment] = received.iter_attachments()
    assert isinstance(attachment, EmailMessage)
    assert attachment.get_content_type() == "application/pdf"
    assert attachment.get_filename() == "BF-26-27-000042.pdf"
    assert attachment.get_content() == PDF


def test_send_starttls_upgrades_before_mail(
    smtp_server: Callable[..., Server], server_tls: ssl.SSLContext, client_tls: ssl.SSLContext
) -> None:
    server = smtp_server(tls_context=server_tls, require_starttls=True)
    send(an_invoice_message(), server.settings(security="starttls", ssl_context=client_tls))
    [delivery] = server.inbox.delivered
    assert delivery.tls
    [attachment] = delivery.parsed().iter_attachments()
    assert isinstance(attachment, EmailMessage) and attachment.get_content() == PDF


def test_send_starttls_untrusted_certificate_raises_mail_error(
    smtp_server: Callable[..., Server], server_tls: ssl.SSLContext
) -> None:
    server = smtp_server(tls_context=server_tls, require_starttls=True)
    with pytest.raises(MailError) as caught:
        send(an_invoice_message(), server.settings(security="starttls"))  # system CAs only
    assert isinstance(caught.value.__cause__, ssl.SSLCertVerificationError)
    assert server.inbox.delivered == []


def test_send_starttls_not_offered_raises_mail_error(smtp_server: Callable[..., Server]) -> None:
    """Configured for STARTTLS, a server without it is an error, never a reason to send in clear."""
    server = smtp_server()
    with pytest.raises(MailError, match="does not offer STARTTLS"):
        send(an_invoice_message(), server.settings(security="starttls"))
    assert server.inbox.delivered == []


def test_send_implicit_tls_delivers(
    smtp_server: Callable[..., Server], server_tls: ssl.SSLContext, client_tls: ssl.SSLContext
) -> None:
    server = smtp_server(ssl_context=server_tls)  # the listener itself speaks TLS: SMTPS
    send(an_invoice_message(), server.settings(security="tls", ssl_context=client_tls))
    [delivery] = server.inbox.delivered
    assert delivery.parsed()["Message-ID"] == an_invoice_message()["Message-ID"]


@pytest.mark.parametrize("mechanism, other", [("PLAIN", "LOGIN"), ("LOGIN", "PLAIN")])
def test_send_auth_over_starttls_logs_in(
    smtp_server: Callable[..., Server],
    server_tls: ssl.SSLContext,
    client_tls: ssl.SSLContext,
    mechanism: str,
    other: str,
) -> None:
    authenticator = Authenticator()
    server = smtp_server(
        tls_context=server_tls,
        require_starttls=True,
        authenticator=authenticator,
        auth_required=True,
        # auth_require_tls stays True (the default): AUTH is offered only after STARTTLS.
        # Excluding the other mechanism makes smtplib use this one (it prefers PLAIN).
        auth_exclude_mechanism=[other],
    )
    settings = server.settings(
        security="starttls", ssl_context=client_tls, username=USER, password=PASSWORD
    )
    send(an_invoice_message(), settings)
    assert authenticator.mechanisms == [mechanism]
    [delivery] = server.inbox.delivered
    assert delivery.login == USER.encode()


def test_send_wrong_password_raises_mail_error_without_the_password(
    smtp_server: Callable[..., Server], server_tls: ssl.SSLContext, client_tls: ssl.SSLContext
) -> None:
    server = smtp_server(
        tls_context=server_tls,
        require_starttls=True,
        authenticator=Authenticator(),
        auth_required=True,
    )
    wrong = "wrong-" + PASSWORD
    settings = server.settings(
        security="starttls", ssl_context=client_tls, username=USER, password=wrong
    )
    with pytest.raises(MailError, match="535") as caught:
        send(an_invoice_message(), settings)
    assert wrong not in str(caught.value) and wrong not in repr(caught.value)
    assert server.inbox.delivered == []


def test_send_refused_recipient_raises_mail_error_naming_it(
    smtp_server: Callable[..., Server],
) -> None:
    server = smtp_server()
    server.inbox.refuse.add("cfo@acme.example")
    with pytest.raises(MailError, match=r"cfo@acme\.example \(550 "):
        send(an_invoice_message(), server.settings())
    [delivery] = server.inbox.delivered  # the others got it; the outbox decides on a retry
    assert "cfo@acme.example" not in delivery.rcpt_tos


def test_send_server_down_raises_mail_error_quickly() -> None:
    settings = Server(free_port(), Inbox()).settings()  # nothing listens there
    started = time.monotonic()
    with pytest.raises(MailError) as caught:
        send(an_invoice_message(), settings)
    assert isinstance(caught.value.__cause__, ConnectionRefusedError)
    assert time.monotonic() - started < 2


def test_send_silent_server_times_out_with_mail_error() -> None:
    """A server that accepts the connection but never greets is bounded by timeout_seconds."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()  # the kernel completes the handshake; nobody ever answers
        settings = Server(listener.getsockname()[1], Inbox()).settings(timeout_seconds=0.3)
        started = time.monotonic()
        # smtplib rewraps the socket timeout as SMTPServerDisconnected("...: timed out").
        with pytest.raises(MailError, match="timed out"):
            send(an_invoice_message(), settings)
    assert 0.3 <= time.monotonic() - started < 3


def test_send_alert_and_digest_deliver(smtp_server: Callable[..., Server]) -> None:
    server = smtp_server()
    send(alert_message(ALERT, sender=SENDER, to=["ops@acme.example"], at=AT), server.settings())
    send(digest_message(DIGEST, sender=SENDER, to=["admin@x.example"], at=AT), server.settings())
    alert, digest = (d.parsed() for d in server.inbox.delivered)
    assert "Stored: 4.50 GiB (4,831,838,208 bytes)" in body_of(alert)
    assert "Failed emails: 2" in body_of(digest)
