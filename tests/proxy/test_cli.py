"""The `billflow` command line: key-store commands print credentials once, errors exit non-zero."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from proxy.__main__ import main


@pytest.fixture
def cfg(tmp_path: Path) -> Path:
    path = tmp_path / "c.toml"
    path.write_text('[ledger]\npath = "l.sqlite3"\n')
    return path


def test_cli_tenant_then_key_create_prints_credentials_json(
    cfg: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--config", str(cfg), "tenant", "create", "acme", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"id": 1, "name": "acme"}
    assert main(["--config", str(cfg), "key", "create", "acme", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["tenant"] == "acme"
    assert re.fullmatch(r"[A-Z0-9]{20}", out["access_key_id"])
    assert len(out["secret_access_key"]) == 40


def test_cli_key_create_text_shows_aws_config_names(
    cfg: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    main(["--config", str(cfg), "tenant", "create", "acme"])
    main(["--config", str(cfg), "key", "create", "acme"])
    out = capsys.readouterr().out
    assert "aws_access_key_id = " in out and "aws_secret_access_key = " in out


def test_cli_key_for_unknown_tenant_exits_1(cfg: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--config", str(cfg), "key", "create", "ghost"]) == 1
    assert "no tenant named 'ghost'" in capsys.readouterr().err


def test_cli_bad_config_exits_2_naming_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[s3.listen]\nport = -1\n")
    assert main(["--config", str(path), "tenant", "create", "x"]) == 2
    assert "s3.listen.port" in capsys.readouterr().err


def test_cli_serve_without_upstream_credentials_exits_2(
    cfg: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("BILLFLOW_UPSTREAM_ACCESS_KEY_ID", raising=False)
    monkeypatch.delenv("BILLFLOW_UPSTREAM_SECRET_ACCESS_KEY", raising=False)
    assert main(["--config", str(cfg), "serve"]) == 2
    assert "BILLFLOW_UPSTREAM_SECRET_ACCESS_KEY" in capsys.readouterr().err


def test_cli_serve_with_missing_tls_files_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BILLFLOW_UPSTREAM_ACCESS_KEY_ID", "k")
    monkeypatch.setenv("BILLFLOW_UPSTREAM_SECRET_ACCESS_KEY", "s")
    path = tmp_path / "c.toml"
    path.write_text('[s3.tls]\ncert_file = "absent.pem"\nkey_file = "absent.key"\n')
    assert main(["--config", str(path), "serve"]) == 2
    assert "cannot load TLS files" in capsys.readouterr().err
