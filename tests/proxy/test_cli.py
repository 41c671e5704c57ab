"""The `billflow` command line: key-store commands print credentials once, errors exit non-zero."""

from __future__ import annotations

import io
import json
import os
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
import pytest

from proxy.__main__ import main
from proxy.config import ENV_JWT_SECRET, ENV_MASTER_KEY
from proxy.crypto import SecretBox

JWT_SECRET = "cli-test-secret-" + "z" * 32
PASSWORD = "a long enough password"


@pytest.fixture
def cfg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(ENV_MASTER_KEY, SecretBox.generate_key())
    monkeypatch.setenv(ENV_JWT_SECRET, JWT_SECRET)
    path = tmp_path / "c.toml"
    path.write_text('[ledger]\npath = "l.sqlite3"\n')
    return path


def _run(cfg: Path, *args: str) -> int:
    return main(["--config", str(cfg), *args])


def _admin(cfg: Path, monkeypatch: pytest.MonkeyPatch, user: str = "ops") -> int:
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    return _run(cfg, "admin", "create", user, "--password-stdin")


def test_cli_tenant_then_key_create_prints_credentials_json(
    cfg: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run(cfg, "tenant", "create", "acme", "--json") == 0
    assert json.loads(capsys.readouterr().out) == {"id": 1, "name": "acme"}
    assert _run(cfg, "key", "create", "acme", "--json") == 0
    out = json.loads(capsys.readouterr().out)
    assert out["tenant"] == "acme"
    assert re.fullmatch(r"[A-Z0-9]{20}", out["access_key_id"])
    assert len(out["secret_access_key"]) == 40


def test_cli_tenant_create_with_email_bad_email_exits_1(
    cfg: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run(cfg, "tenant", "create", "acme", "--email", "nope") == 1
    assert "billing email" in capsys.readouterr().err
    assert _run(cfg, "tenant", "create", "acme", "--email", "ap@acme.example") == 0


def test_cli_key_create_text_shows_aws_config_names(
    cfg: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _run(cfg, "tenant", "create", "acme")
    _run(cfg, "key", "create", "acme")
    out = capsys.readouterr().out
    assert "aws_access_key_id = " in out and "aws_secret_access_key = " in out


def test_cli_key_for_unknown_tenant_exits_1(cfg: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(cfg, "key", "create", "ghost") == 1
    assert "no tenant named 'ghost'" in capsys.readouterr().err


def test_cli_key_create_without_master_key_exits_2_naming_it(
    cfg: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ENV_MASTER_KEY)
    assert _run(cfg, "tenant", "create", "acme") == 0  # needs no key
    assert _run(cfg, "key", "create", "acme") == 2
    assert ENV_MASTER_KEY in capsys.readouterr().err


def test_cli_malformed_master_key_exits_2(
    cfg: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV_MASTER_KEY, "hunter2")
    assert _run(cfg, "key", "create", "acme") == 2
    err = capsys.readouterr().err
    assert "not a Fernet key" in err and "hunter2" not in err


def test_cli_master_key_generate_prints_a_usable_key(
    cfg: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run(cfg, "master-key", "generate") == 0
    SecretBox.from_text(capsys.readouterr().out.strip())


def test_cli_master_key_rotate_reseals_then_old_key_can_go(
    cfg: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    old, new = os.environ[ENV_MASTER_KEY], SecretBox.generate_key()
    _run(cfg, "tenant", "create", "acme")
    _run(cfg, "key", "create", "acme")
    monkeypatch.setenv(ENV_MASTER_KEY, f"{new},{old}")
    capsys.readouterr()
    assert _run(cfg, "master-key", "rotate", "--json") == 0
    assert json.loads(capsys.readouterr().out) == {"resealed": 1}
    monkeypatch.setenv(ENV_MASTER_KEY, new)
    assert _run(cfg, "key", "create", "acme") == 0  # opening the ledger checks the key


def test_cli_admin_create_then_token_verifies(
    cfg: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert _admin(cfg, monkeypatch) == 0
    capsys.readouterr()
    assert _run(cfg, "admin", "token", "ops", "--ttl", "12h") == 0
    token = capsys.readouterr().out.strip()
    claims = jwt.decode(token, JWT_SECRET, algorithms=["HS256"], audience="billflow-admin")
    assert claims["sub"] == "ops" and claims["iss"] == "billflow"
    assert claims["exp"] - claims["iat"] == 12 * 3600
    assert claims["exp"] > (datetime.now(UTC) + timedelta(hours=11)).timestamp()


def test_cli_admin_create_prompts_twice_with_getpass(
    cfg: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    answers = iter([PASSWORD, PASSWORD + "typo"])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(answers))
    assert _run(cfg, "admin", "create", "ops") == 1
    assert "differ" in capsys.readouterr().err


def test_cli_admin_create_short_password_exits_1(
    cfg: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert _run(cfg, "admin", "create", "ops", "--password-stdin") == 1
    assert "at least 12" in capsys.readouterr().err


def test_cli_admin_create_duplicate_exits_1(
    cfg: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert _admin(cfg, monkeypatch) == 0
    assert _admin(cfg, monkeypatch) == 1
    assert "already exists" in capsys.readouterr().err


def test_cli_admin_token_unknown_user_exits_1(
    cfg: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run(cfg, "admin", "token", "ghost") == 1
    assert "no admin named 'ghost'" in capsys.readouterr().err


def test_cli_admin_token_without_jwt_secret_exits_2_naming_it(
    cfg: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert _admin(cfg, monkeypatch) == 0
    monkeypatch.delenv(ENV_JWT_SECRET)
    assert _run(cfg, "admin", "token", "ops") == 2
    assert ENV_JWT_SECRET in capsys.readouterr().err


@pytest.mark.parametrize(("ttl", "message"), [("31d", "max_ttl_seconds"), ("12 hours", "duration")])
def test_cli_admin_token_bad_ttl_exits_2(
    cfg: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    ttl: str,
    message: str,
) -> None:
    assert _admin(cfg, monkeypatch) == 0
    try:
        code = _run(cfg, "admin", "token", "ops", "--ttl", ttl)
    except SystemExit as e:  # argparse refuses the shape itself
        code = int(str(e.code))
    assert code == 2
    assert message in capsys.readouterr().err


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
    assert _run(cfg, "serve") == 2
    assert "BILLFLOW_UPSTREAM_SECRET_ACCESS_KEY" in capsys.readouterr().err


@pytest.mark.parametrize("missing", [ENV_MASTER_KEY, ENV_JWT_SECRET])
def test_cli_serve_without_a_secret_exits_2_naming_it(
    cfg: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, missing: str
) -> None:
    monkeypatch.setenv("BILLFLOW_UPSTREAM_ACCESS_KEY_ID", "k")
    monkeypatch.setenv("BILLFLOW_UPSTREAM_SECRET_ACCESS_KEY", "s")
    monkeypatch.delenv(missing)
    assert _run(cfg, "serve") == 2
    assert missing in capsys.readouterr().err


def test_cli_serve_with_missing_tls_files_exits_2(
    tmp_path: Path, cfg: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BILLFLOW_UPSTREAM_ACCESS_KEY_ID", "k")
    monkeypatch.setenv("BILLFLOW_UPSTREAM_SECRET_ACCESS_KEY", "s")
    path = tmp_path / "c.toml"
    path.write_text('[s3.tls]\ncert_file = "absent.pem"\nkey_file = "absent.key"\n')
    assert main(["--config", str(path), "serve"]) == 2
    assert "cannot load TLS files" in capsys.readouterr().err


def test_cli_backup_copies_a_consistent_ledger_while_in_use(
    cfg: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The copy opens as a ledger of its own with the same tenants; an existing file is kept
    unless --force."""
    assert _run(cfg, "tenant", "create", "acme") == 0
    capsys.readouterr()
    dest = tmp_path / "backup.sqlite3"
    assert _run(cfg, "backup", str(dest), "--json") == 0
    out = json.loads(capsys.readouterr().out)
    assert out["path"] == str(dest) and out["bytes"] == dest.stat().st_size > 0
    copy = tmp_path / "copy.toml"
    copy.write_text(f'[ledger]\npath = "{dest}"\n')
    assert _run(copy, "key", "create", "acme", "--json") == 0  # the tenant is in the copy
    capsys.readouterr()
    assert _run(cfg, "backup", str(dest)) == 1
    assert "--force" in capsys.readouterr().err
    assert _run(cfg, "backup", str(dest), "--force") == 0


def test_cli_close_period_not_over_exits_1_and_past_period_closes(
    cfg: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run(cfg, "tenant", "create", "acme") == 0
    capsys.readouterr()
    now = datetime.now(UTC)
    assert _run(cfg, "close-period", f"{now.year}-{now.month:02d}") == 1
    assert "can be closed" in capsys.readouterr().err
    assert _run(cfg, "close-period", "2026-13") == 1
    # A month before the tenant existed closes with no invoice at all.
    assert _run(cfg, "close-period", "2020-01", "--json") == 0
    assert json.loads(capsys.readouterr().out) == {
        "period": "2020-01", "invoices": 0, "issued": 0, "mails_sent": 0,
    }  # fmt: skip
