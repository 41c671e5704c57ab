"""Log lines: JSON objects with the request's fields as keys, or readable text."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest

from proxy.log import access_logger, configure


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """configure() owns the `billflow` logger; give it back as the other tests expect it."""
    root = logging.getLogger("billflow")
    saved = (root.handlers[:], root.level, root.propagate)
    yield
    root.handlers[:], root.level, root.propagate = saved[0], saved[1], saved[2]


@pytest.mark.parametrize("fmt", ["json", "text"])
def test_log_access_line_in_each_format(fmt: str, capsys: pytest.CaptureFixture[str]) -> None:
    configure("INFO", fmt)
    fields = {"request_id": "ABC", "tenant": "acme", "status": 200, "bytes_out": 12, "ms": 1.5}
    access_logger.info("%s %s", "ABC", "done", extra={"fields": fields})
    line = capsys.readouterr().err.strip()
    if fmt == "json":
        record = json.loads(line)
        assert record["logger"] == "billflow.access" and record["msg"] == "ABC done"
        assert {k: record[k] for k in fields} == fields
        assert record["ts"].endswith("Z") and record["level"] == "INFO"
    else:
        assert line.endswith("INFO billflow.access ABC done")


def test_log_json_exception_has_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    configure("INFO", "json")
    try:
        raise ValueError("boom")
    except ValueError:
        logging.getLogger("billflow.server").exception("failed")
    record = json.loads(capsys.readouterr().err)
    assert record["msg"] == "failed" and "ValueError: boom" in record["exc"]
