"""The ledger's billing half: invoices and their numbers, closed periods, the mail outbox and
the alerts already sent.

Owns: every query on those tables (created by `ledger`'s migration 5). The rules that make a
close safe to run twice or from two gateways at once live here as constraints and
transactions: one invoice per (tenant, period) (UNIQUE), numbers gapless per financial year
(the number is taken in the same transaction that stores the invoice, so a rolled-back issue
leaves no hole), one outbox message per (kind, reference), one alert per (tenant, period, kind,
threshold). Invoices are immutable once issued: only their status (issued -> paid, or void
with a reason) and, once, their PDF checksum change. Does not own: what an invoice says
(billing), rendering or mailing.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from billing.numbering import format_number
from proxy.database import Database, first_row
from proxy.database import from_text as _at
from proxy.database import to_text as _text
from proxy.records import Conflict, NotFound

#: Migration 6: a tenant's own tariff overrides (billing.tariffs), JSON; NULL: the operator's.
TARIFF_SCHEMA = """
    ALTER TABLE tenants ADD COLUMN tariff TEXT;
"""

#: Migration 5 (appended to `ledger._MIGRATIONS`).
SCHEMA = """
    ALTER TABLE tenants ADD COLUMN billing_name TEXT;
    ALTER TABLE tenants ADD COLUMN billing_address TEXT;
    ALTER TABLE tenants ADD COLUMN billing_state TEXT;
    ALTER TABLE tenants ADD COLUMN gstin TEXT;
    -- A deleted tenant's billing details, so its last invoices can still be issued.
    CREATE TABLE tenant_archive (
        tenant_id  INTEGER PRIMARY KEY,
        name       TEXT NOT NULL,
        details    TEXT NOT NULL,
        created_at TEXT NOT NULL,
        deleted_at TEXT NOT NULL
    );
    CREATE TABLE invoice_sequences (
        financial_year TEXT PRIMARY KEY,
        last_seq       INTEGER NOT NULL
    );
    CREATE TABLE invoices (
        id             INTEGER PRIMARY KEY,
        number         TEXT NOT NULL UNIQUE,
        financial_year TEXT NOT NULL,
        seq            INTEGER NOT NULL,
        tenant_id      INTEGER NOT NULL,
        period         TEXT NOT NULL,
        issued_at      TEXT NOT NULL,
        total          TEXT NOT NULL,
        document       TEXT NOT NULL,
        status         TEXT NOT NULL DEFAULT 'issued' CHECK (status IN ('issued', 'paid', 'void')),
        paid_at        TEXT,
        void_reason    TEXT,
        pdf_path       TEXT,
        pdf_sha256     TEXT,
        UNIQUE (tenant_id, period),
        UNIQUE (financial_year, seq)
    );
    CREATE INDEX invoices_period ON invoices(period, tenant_id);
    CREATE TABLE closed_periods (
        period    TEXT PRIMARY KEY,
        closed_at TEXT NOT NULL,
        invoices  INTEGER NOT NULL
    );
    CREATE TABLE outbox (
        id              INTEGER PRIMARY KEY,
        kind            TEXT NOT NULL,
        ref             TEXT NOT NULL,
        recipients      TEXT NOT NULL,
        subject         TEXT NOT NULL,
        message         BLOB NOT NULL,
        status          TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent')),
        attempts        INTEGER NOT NULL DEFAULT 0,
        next_attempt_at TEXT NOT NULL,
        last_error      TEXT,
        created_at      TEXT NOT NULL,
        sent_at         TEXT,
        UNIQUE (kind, ref)
    );
    CREATE INDEX outbox_due ON outbox(status, next_attempt_at);
    CREATE TABLE alerts_sent (
        tenant_id INTEGER NOT NULL,
        period    TEXT NOT NULL,
        kind      TEXT NOT NULL,
        threshold INTEGER NOT NULL,
        sent_at   TEXT NOT NULL,
        PRIMARY KEY (tenant_id, period, kind, threshold)
    );
"""

_INVOICE = (
    "id, number, financial_year, seq, tenant_id, period, issued_at, total, document, status,"
    " paid_at, void_reason, pdf_path, pdf_sha256"
)
_MAIL = (
    "id, kind, ref, recipients, subject, status, attempts, next_attempt_at, last_error,"
    " created_at, sent_at"
)


@dataclass(frozen=True)
class InvoiceRecord:
    id: int
    number: str
    financial_year: str
    seq: int
    tenant_id: int
    period: str
    issued_at: datetime
    total: str  # decimal string, rupees
    document: dict[str, Any]
    status: str
    paid_at: datetime | None
    void_reason: str | None
    pdf_path: str | None
    pdf_sha256: str | None


@dataclass(frozen=True)
class Mail:
    id: int
    kind: str
    ref: str
    recipients: list[str]
    subject: str
    status: str
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None


@dataclass(frozen=True)
class BillingParty:
    """What the ledger knows of a tenant for its invoice (live or archived)."""

    tenant_id: int
    name: str
    billing_email: str | None
    billing_name: str | None
    billing_address: str | None
    billing_state: str | None
    gstin: str | None
    created_at: datetime
    deleted_at: datetime | None
    tariff: dict[str, Any] | None = None  # overrides of the operator's tariff


def _opt(text: str | None) -> datetime | None:
    return None if text is None else _at(text)


def _party(r: sqlite3.Row) -> BillingParty:
    return BillingParty(
        r[0], r[1], r[2], r[3], r[4], r[5], r[6], _at(r[7]), _opt(r[8]),
        json.loads(r[9]) if r[9] else None,
    )  # fmt: skip


def _invoice(r: sqlite3.Row) -> InvoiceRecord:
    return InvoiceRecord(
        r["id"], r["number"], r["financial_year"], r["seq"], r["tenant_id"], r["period"],
        _at(r["issued_at"]), r["total"], json.loads(r["document"]), r["status"],
        _opt(r["paid_at"]), r["void_reason"], r["pdf_path"], r["pdf_sha256"],
    )  # fmt: skip


def _mail(r: sqlite3.Row) -> Mail:
    return Mail(
        r["id"], r["kind"], r["ref"], json.loads(r["recipients"]), r["subject"], r["status"],
        r["attempts"], _at(r["next_attempt_at"]), r["last_error"], _at(r["created_at"]),
        _opt(r["sent_at"]),
    )  # fmt: skip


#: A tenant's billing details (`_party`), from the live table or from the archive.
_LIVE_PARTIES = (
    "SELECT id AS tenant_id, name, billing_email, billing_name, billing_address, billing_state,"
    " gstin, created_at, NULL AS deleted_at, tariff FROM tenants"
)
_ARCHIVED_PARTIES = (
    "SELECT tenant_id, name, json_extract(details, '$.billing_email'),"
    " json_extract(details, '$.billing_name'), json_extract(details, '$.billing_address'),"
    " json_extract(details, '$.billing_state'), json_extract(details, '$.gstin'),"
    " created_at, deleted_at, json_extract(details, '$.tariff') FROM tenant_archive"
)


class BillingStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    # -- parties ---------------------------------------------------------------------------

    async def parties_for_period(
        self, start: datetime, end: datetime, *, after: int = 0, limit: int = 500
    ) -> list[BillingParty]:
        """Tenants that existed at some time in [start, end), live or deleted, by id: each gets
        an invoice for the period (a ₹0 one too)."""
        rows = await self._db.all(
            f"{_LIVE_PARTIES} WHERE id > ? AND created_at < ?"
            f" UNION ALL {_ARCHIVED_PARTIES}"
            " WHERE tenant_id > ? AND created_at < ? AND deleted_at >= ?"
            " ORDER BY tenant_id LIMIT ?",
            (after, _text(end), after, _text(end), _text(start), limit),
        )
        return [_party(r) for r in rows]

    async def party(self, tenant_id: int) -> BillingParty | None:
        """One tenant's billing details (live, else archived)."""
        row = await self._db.one(
            f"SELECT * FROM ({_LIVE_PARTIES} WHERE id = ?"
            f" UNION ALL {_ARCHIVED_PARTIES} WHERE tenant_id = ?)"
            " ORDER BY deleted_at IS NOT NULL LIMIT 1",
            (tenant_id, tenant_id),
        )
        return None if row is None else _party(row)

    async def set_tariff(self, tenant_id: int, overrides: dict[str, Any] | None) -> None:
        """Store the tenant's tariff overrides (already checked by billing.tariffs); None
        returns it to the operator's tariff. Issued invoices keep the prices they were issued
        with."""
        async with self._db.transaction() as conn:
            async with conn.execute(
                "UPDATE tenants SET tariff = ? WHERE id = ? RETURNING id",
                (json.dumps(overrides, sort_keys=True) if overrides else None, tenant_id),
            ) as cur:
                if await cur.fetchone() is None:
                    raise NotFound(f"no tenant with id {tenant_id}")

    async def oldest_tenant_created_at(self) -> datetime | None:
        """When the first tenant (live or deleted) was created: the first period to close."""
        row = await self._db.one(
            "SELECT MIN(created_at) FROM (SELECT created_at FROM tenants"
            " UNION ALL SELECT created_at FROM tenant_archive)"
        )
        return None if row is None or row[0] is None else _at(row[0])

    # -- invoices --------------------------------------------------------------------------

    async def issue_invoice(
        self,
        tenant_id: int,
        period: str,
        *,
        financial_year: str,
        prefix: str,
        now: datetime,
        build: Callable[[str], tuple[dict[str, Any], str]],
    ) -> tuple[InvoiceRecord, bool]:
        """The tenant's invoice for `period`: issued now under the next number of
        `financial_year` unless it exists already. `build(number)` returns the document and
        its total. Returns (record, newly issued)."""
        async with self._db.transaction() as conn:
            row = await first_row(
                conn, f"SELECT {_INVOICE} FROM invoices WHERE tenant_id = ? AND period = ?",
                (tenant_id, period),
            )  # fmt: skip
            if row is not None:
                return _invoice(row), False
            seq_row = await first_row(
                conn, "SELECT last_seq FROM invoice_sequences WHERE financial_year = ?",
                (financial_year,),
            )  # fmt: skip
            seq = (int(seq_row[0]) if seq_row else 0) + 1
            number = format_number(prefix, financial_year, seq)
            document, total = build(number)
            await conn.execute(
                "INSERT INTO invoice_sequences VALUES (?, ?)"
                " ON CONFLICT DO UPDATE SET last_seq = excluded.last_seq",
                (financial_year, seq),
            )
            async with conn.execute(
                "INSERT INTO invoices (number, financial_year, seq, tenant_id, period, issued_at,"
                f" total, document) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING {_INVOICE}",
                (number, financial_year, seq, tenant_id, period, _text(now), total,
                 json.dumps(document, sort_keys=True)),
            ) as cur:  # fmt: skip
                new = await cur.fetchone()
        assert new is not None
        return _invoice(new), True

    async def set_pdf(self, invoice_id: int, path: str, sha256: str) -> None:
        """Record where the invoice's PDF is and its checksum, once."""
        async with self._db.transaction() as conn:
            await conn.execute(
                "UPDATE invoices SET pdf_path = ?, pdf_sha256 = ? WHERE id = ?"
                " AND pdf_sha256 IS NULL",
                (path, sha256, invoice_id),
            )

    async def invoice_by_number(self, number: str) -> InvoiceRecord | None:
        row = await self._db.one(f"SELECT {_INVOICE} FROM invoices WHERE number = ?", (number,))
        return None if row is None else _invoice(row)

    async def get_invoice(self, invoice_id: int) -> InvoiceRecord | None:
        row = await self._db.one(f"SELECT {_INVOICE} FROM invoices WHERE id = ?", (invoice_id,))
        return None if row is None else _invoice(row)

    async def list_invoices(
        self,
        *,
        tenant_id: int | None = None,
        period: str | None = None,
        status: str | None = None,
        without_pdf: bool = False,
        after: int = 0,
        limit: int = 100,
    ) -> list[InvoiceRecord]:
        where, params = ["id > ?"], list[object]([after])
        for column, value in (("tenant_id", tenant_id), ("period", period), ("status", status)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        if without_pdf:
            where.append("pdf_sha256 IS NULL")
        rows = await self._db.all(
            f"SELECT {_INVOICE} FROM invoices WHERE {' AND '.join(where)} ORDER BY id LIMIT ?",
            (*params, limit),
        )
        return [_invoice(r) for r in rows]

    async def mark_paid(self, invoice_id: int, *, now: datetime) -> InvoiceRecord:
        return await self._set_status(invoice_id, "paid", now=now, reason=None)

    async def void(self, invoice_id: int, reason: str, *, now: datetime) -> InvoiceRecord:
        return await self._set_status(invoice_id, "void", now=now, reason=reason)

    async def _set_status(
        self, invoice_id: int, status: str, *, now: datetime, reason: str | None
    ) -> InvoiceRecord:
        """issued -> paid, issued -> void, paid -> void; a void invoice keeps its number."""
        async with self._db.transaction() as conn:
            row = await first_row(
                conn, f"SELECT {_INVOICE} FROM invoices WHERE id = ?", (invoice_id,)
            )
            if row is None:
                raise NotFound(f"no invoice with id {invoice_id}")
            current = row["status"]
            if current == "void" or (current == status):
                raise Conflict(f"invoice {row['number']} is {current} already")
            paid_at = _text(now) if status == "paid" else row["paid_at"]
            async with conn.execute(
                f"UPDATE invoices SET status = ?, paid_at = ?, void_reason = ? WHERE id = ?"
                f" RETURNING {_INVOICE}",
                (status, paid_at, reason, invoice_id),
            ) as cur:
                new = await cur.fetchone()
        assert new is not None
        return _invoice(new)

    # -- periods ---------------------------------------------------------------------------

    async def mark_closed(self, period: str, *, now: datetime) -> None:
        async with self._db.transaction() as conn:
            count = await first_row(
                conn, "SELECT COUNT(*) FROM invoices WHERE period = ?", (period,)
            )
            await conn.execute(
                "INSERT INTO closed_periods VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                (period, _text(now), int(count[0]) if count else 0),
            )

    async def closed_periods(self) -> list[str]:
        rows = await self._db.all("SELECT period FROM closed_periods ORDER BY period")
        return [str(r[0]) for r in rows]

    # -- outbox ----------------------------------------------------------------------------

    async def enqueue_mail(
        self, kind: str, ref: str, recipients: Sequence[str], subject: str, message: bytes,
        *, now: datetime,
    ) -> bool:  # fmt: skip
        """Queue a message once per (kind, ref); False when it was queued before."""
        async with self._db.transaction() as conn:
            async with conn.execute(
                "INSERT INTO outbox (kind, ref, recipients, subject, message, next_attempt_at,"
                " created_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING id",
                (kind, ref, json.dumps(list(recipients)), subject, message, _text(now),
                 _text(now)),
            ) as cur:  # fmt: skip
                return await cur.fetchone() is not None

    async def due_mail(self, *, now: datetime, limit: int = 20) -> list[tuple[Mail, bytes]]:
        rows = await self._db.all(
            f"SELECT {_MAIL}, message FROM outbox WHERE status = 'pending'"
            " AND next_attempt_at <= ? ORDER BY next_attempt_at, id LIMIT ?",
            (_text(now), limit),
        )
        return [(_mail(r), bytes(r["message"])) for r in rows]

    async def mail_sent(self, mail_id: int, *, now: datetime) -> None:
        async with self._db.transaction() as conn:
            await conn.execute(
                "UPDATE outbox SET status = 'sent', sent_at = ?, attempts = attempts + 1,"
                " last_error = NULL WHERE id = ? AND status = 'pending'",
                (_text(now), mail_id),
            )

    async def mail_failed(self, mail_id: int, error: str, *, retry_at: datetime) -> None:
        async with self._db.transaction() as conn:
            await conn.execute(
                "UPDATE outbox SET attempts = attempts + 1, last_error = ?, next_attempt_at = ?"
                " WHERE id = ? AND status = 'pending'",
                (error[:1000], _text(retry_at), mail_id),
            )

    async def resend(self, mail_id: int, *, now: datetime) -> Mail:
        """Send the message again (sent or not): back to pending, due now."""
        async with self._db.transaction() as conn:
            async with conn.execute(
                "UPDATE outbox SET status = 'pending', next_attempt_at = ? WHERE id = ?"
                f" RETURNING {_MAIL}",
                (_text(now), mail_id),
            ) as cur:
                row = await cur.fetchone()
        if row is None:
            raise NotFound(f"no message with id {mail_id}")
        return _mail(row)

    async def mail_for(self, kind: str, ref: str) -> Mail | None:
        row = await self._db.one(
            f"SELECT {_MAIL} FROM outbox WHERE kind = ? AND ref = ?", (kind, ref)
        )
        return None if row is None else _mail(row)

    async def list_mail(
        self, *, status: str | None = None, kind: str | None = None, after: int = 0,
        limit: int = 100,
    ) -> list[Mail]:  # fmt: skip
        where, params = ["id > ?"], list[object]([after])
        for column, value in (("status", status), ("kind", kind)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        rows = await self._db.all(
            f"SELECT {_MAIL} FROM outbox WHERE {' AND '.join(where)} ORDER BY id LIMIT ?",
            (*params, limit),
        )
        return [_mail(r) for r in rows]

    async def count_retrying_mail(self) -> int:
        """Messages not delivered yet that failed at least once (the digest reports them)."""
        row = await self._db.one(
            "SELECT COUNT(*) FROM outbox WHERE status = 'pending' AND attempts > 0"
        )
        return int(row[0]) if row is not None else 0

    # -- alerts ----------------------------------------------------------------------------

    async def alert_once(
        self, tenant_id: int, period: str, kind: str, threshold: int, *, now: datetime
    ) -> bool:
        """True the first time this (tenant, period, kind, threshold) is recorded."""
        async with self._db.transaction() as conn:
            async with conn.execute(
                "INSERT INTO alerts_sent VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING"
                " RETURNING tenant_id",
                (tenant_id, period, kind, threshold, _text(now)),
            ) as cur:
                return await cur.fetchone() is not None
