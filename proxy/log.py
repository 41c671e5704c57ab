"""Named loggers, one per concern (as aiohttp/log.py does), and the log set-up for `serve`.

Owns: logger names and the line format. Does not own: what gets logged (each module decides).
"""

from __future__ import annotations

import logging
import sys
import time

access_logger = logging.getLogger("billflow.access")  # one line per S3 request
server_logger = logging.getLogger("billflow.server")  # start, stop, listeners, failures
ledger_logger = logging.getLogger("billflow.ledger")
admin_logger = logging.getLogger("billflow.admin")  # one line per admin API request


def configure(level: str) -> None:
    """Log to stderr with UTC timestamps; called once by `billflow serve`."""
    handler = logging.StreamHandler(sys.stderr)
    formatter = logging.Formatter(
        "%(asctime)s.%(msecs)03dZ %(levelname)s %(name)s %(message)s", "%Y-%m-%dT%H:%M:%S"
    )
    formatter.converter = time.gmtime
    handler.setFormatter(formatter)
    root = logging.getLogger("billflow")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False
