"""Named loggers, one per concern (as aiohttp/log.py does), and the log set-up for `serve`.

Owns: logger names and the two line formats: "json" (one JSON object per line, for log
shippers: `ts`, `level`, `logger`, `msg`, and a request's fields as keys of their own) and
"text" (a timestamped line for people). Callers pass structured fields as
`extra={"fields": {...}}`. Does not own: what gets logged (each module decides).
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

access_logger = logging.getLogger("billflow.access")  # one line per S3 request
server_logger = logging.getLogger("billflow.server")  # start, stop, listeners, failures
ledger_logger = logging.getLogger("billflow.ledger")
admin_logger = logging.getLogger("billflow.admin")  # one line per admin API request


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ms), level, logger, message, the record's
    `fields`, and the traceback of an exception."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            line.update(fields)
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def configure(level: str, fmt: str = "text") -> None:
    """Log to stderr with UTC timestamps, as JSON lines or text; called once by `serve`."""
    handler = logging.StreamHandler(sys.stderr)
    formatter: logging.Formatter
    if fmt == "json":
        formatter = JsonFormatter()
    else:
        formatter = logging.Formatter(
            "%(asctime)s.%(msecs)03dZ %(levelname)s %(name)s %(message)s", "%Y-%m-%dT%H:%M:%S"
        )
        formatter.converter = time.gmtime
    handler.setFormatter(formatter)
    root = logging.getLogger("billflow")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False
