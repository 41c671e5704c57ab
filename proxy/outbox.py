"""The outbox's delivery: every queued message goes to the SMTP server until it accepts it.

Owns: taking due messages from the ledger's outbox, sending each (billing.mailer, in a worker
thread: smtplib blocks), recording success, or the error and the next attempt with exponential
backoff (30 s doubling up to an hour). Messages wait in the ledger while no SMTP host is
configured or the server is down; nothing is dropped. Delivery is at least once: a crash
between the server's acceptance and the ledger's record sends that message again on restart,
with the same Message-ID, which mail systems use to spot the duplicate. Does not own: what the
messages say (billing.mailer, closing), the retry schedule's storage (ledger_billing).
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import hashlib
from collections.abc import Callable
from datetime import datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import cast
from zoneinfo import ZoneInfo

from billing import mailer
from billing.invoice import InvoiceStatus, from_document
from proxy.config_billing import SmtpConfig
from proxy.ledger import Ledger
from proxy.ledger_billing import Mail
from proxy.log import server_logger

Clock = Callable[[], datetime]

_KOLKATA = ZoneInfo("Asia/Kolkata")
FIRST_RETRY = timedelta(seconds=30)
LAST_RETRY = timedelta(hours=1)


def retry_delay(attempts: int) -> timedelta:
    """After the n-th failed attempt (n >= 1): 30 s, 1 min, 2 min, ... at most an hour."""
    delay: timedelta = FIRST_RETRY * 2 ** min(max(attempts - 1, 0), 20)
    return min(delay, LAST_RETRY)


def smtp_settings(config: SmtpConfig) -> mailer.SmtpSettings:
    return mailer.SmtpSettings(
        host=config.host,
        port=config.port,
        security=config.security,
        username=config.username or None,
        password=config.password or None,
        from_address=config.from_address,
        timeout_seconds=config.timeout_seconds,
    )


class Outbox:
    def __init__(
        self,
        ledger: Ledger,
        smtp: mailer.SmtpSettings | None,
        clock: Clock,
        tz: ZoneInfo = _KOLKATA,
        batch: int = 20,
    ) -> None:
        self._ledger = ledger
        self._smtp = smtp
        self._clock = clock
        self._tz = tz
        self._batch = batch

    async def deliver_due(self) -> int:
        """Send what is due now; returns how many the server accepted."""
        if self._smtp is None:
            return 0
        sent = 0
        smtp = self._smtp
        for mail, raw in await self._ledger.billing.due_mail(now=self._clock(), limit=self._batch):
            try:
                message = await self._message(mail, raw, smtp.from_address)
                await asyncio.to_thread(mailer.send, message, smtp)
            except mailer.MailError as e:
                retry_at = self._clock() + retry_delay(mail.attempts + 1)
                server_logger.warning(
                    "mail %d (%s %s) not sent, attempt %d; next at %s: %s",
                    mail.id, mail.kind, mail.ref, mail.attempts + 1, retry_at.isoformat(), e,
                )  # fmt: skip
                await self._ledger.billing.mail_failed(mail.id, str(e), retry_at=retry_at)
                continue
            await self._ledger.billing.mail_sent(mail.id, now=self._clock())
            server_logger.info("mail %d (%s %s) sent to %s", mail.id, mail.kind, mail.ref,
                               ", ".join(mail.recipients))  # fmt: skip
            sent += 1
        return sent

    async def _message(self, mail: Mail, raw: bytes, sender: str) -> EmailMessage:
        """The stored message, or, for an invoice queued by reference, the message built now
        from the ledger's document and the stored PDF (checked against its SHA-256). Its Date
        is when it was queued and its Message-ID follows the number and status, so every retry
        sends the same message."""
        if raw:
            message = email.message_from_bytes(raw, policy=email.policy.default)
            assert isinstance(message, EmailMessage)
            return message
        record = await self._ledger.billing.invoice_by_number(mail.ref)
        if record is None or record.pdf_path is None:
            raise mailer.MailError(f"invoice {mail.ref} or its PDF is not there")
        pdf = await asyncio.to_thread(Path(record.pdf_path).read_bytes)
        if hashlib.sha256(pdf).hexdigest() != record.pdf_sha256:
            raise mailer.MailError(f"{record.pdf_path} does not match its recorded SHA-256")
        invoice = from_document(
            record.document,
            status=cast(InvoiceStatus, record.status),
            void_reason=record.void_reason,
        )
        return mailer.invoice_message(
            invoice, pdf, sender=sender, to=mail.recipients, at=mail.created_at, tz=self._tz
        )
