"""config.toml -> Config: the documented file equals the code's defaults; errors name the key."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from proxy import config as config_module
from proxy import configtable
from proxy.config import (
    ENV_UPSTREAM_ACCESS_KEY_ID,
    ENV_UPSTREAM_SECRET_ACCESS_KEY,
    ConfigError,
    load,
    parse,
)

ROOT = Path(__file__).resolve().parents[2]


def test_config_repository_file_documents_the_defaults() -> None:
    """Every key in config.toml is known, and the values it shows are the defaults."""
    data = tomllib.loads((ROOT / "config.toml").read_text())
    assert parse(data, {}, base_dir=ROOT) == parse({}, {}, base_dir=ROOT)


def test_config_repository_file_comments_every_key() -> None:
    """Each key (or run of related keys) has a comment above it saying what it does."""
    previous = ""
    for number, line in enumerate((ROOT / "config.toml").read_text().splitlines(), 1):
        stripped = line.strip()
        if "=" in stripped and not stripped.startswith("#"):
            assert previous.startswith("#"), f"config.toml:{number} {stripped!r} is undocumented"
        elif stripped:
            previous = stripped


def test_config_repository_file_names_every_key_the_code_reads(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The documented file cannot fall behind the parser: every key read is written there."""
    read: set[str] = set()
    original = configtable.Table._get

    def recording(self: Any, key: str, default: Any, kind: Any) -> Any:
        value = original(self, key, default, kind)
        if not isinstance(value, dict):
            read.add(f"{self.path}.{key}" if self.path else key)
        return value

    monkeypatch.setattr(configtable.Table, "_get", recording)
    parse({}, {}, base_dir=ROOT)

    def flatten(table: dict[str, Any], prefix: str = "") -> set[str]:
        keys: set[str] = set()
        for k, v in table.items():
            name = f"{prefix}{k}"
            keys |= flatten(v, f"{name}.") if isinstance(v, dict) else {name}
        return keys

    assert flatten(tomllib.loads((ROOT / "config.toml").read_text())) == read


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"s3": {"listen": {"port": 70000}}}, "s3.listen.port: 70000 is outside 0..65535"),
        ({"s3": {"listen": {"port": True}}}, "s3.listen.port: expected an integer, got True"),
        ({"s3": {"region": 5}}, "s3.region: expected a string, got 5"),
        ({"s3": {"base_domains": "x"}}, "s3.base_domains: expected a list, got 'x'"),
        ({"s3": {"colour": "red"}}, "[s3]: unknown key(s) colour"),
        ({"upstream": {"endpoint": "ftp://x"}}, "upstream.endpoint: expected an http(s) URL"),
        ({"log": {"level": "LOUD"}}, "log.level: expected DEBUG, INFO, WARNING or ERROR"),
        ({"nonsense": 1}, "top level: unknown key(s) nonsense"),
        ({"s3": {"tls": {"cert_file": "c.pem"}}}, "s3.tls: set both cert_file and key_file"),
        ({"s3": {"allow_sigv2": "yes"}}, "s3.allow_sigv2: expected true or false, got 'yes'"),
    ],
)
def test_config_bad_value_error_names_key_and_value(data: dict[str, Any], message: str) -> None:
    with pytest.raises(
        ConfigError,
        match=message.replace("[", r"\[")
        .replace("(", r"\(")
        .replace(")", r"\)")
        .replace(".", r"\."),
    ):
        parse(data, {}, base_dir=ROOT)


def test_config_secret_from_environment_overrides_file() -> None:
    data = {"upstream": {"access_key_id": "file-id", "secret_access_key": "file-secret"}}
    env = {ENV_UPSTREAM_ACCESS_KEY_ID: "env-id", ENV_UPSTREAM_SECRET_ACCESS_KEY: "env-secret"}
    cfg = parse(data, env, base_dir=ROOT)
    assert (cfg.upstream.access_key_id, cfg.upstream.secret_access_key) == ("env-id", "env-secret")
    assert "env-secret" not in repr(cfg)


def test_config_missing_upstream_credentials_refused_for_serving() -> None:
    cfg = parse({}, {}, base_dir=ROOT)
    with pytest.raises(ConfigError, match=ENV_UPSTREAM_SECRET_ACCESS_KEY):
        cfg.upstream.require_credentials()


def test_config_relative_ledger_path_is_relative_to_the_file(tmp_path: Path) -> None:
    (tmp_path / "c.toml").write_text('[ledger]\npath = "data/l.sqlite3"\n')
    assert load(tmp_path / "c.toml", {}).ledger_path == tmp_path / "data" / "l.sqlite3"


def test_config_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load(tmp_path / "absent.toml", {})


def test_config_admin_tokens_defaults_and_secrets_from_environment_only() -> None:
    env = {config_module.ENV_JWT_SECRET: "j" * 40, config_module.ENV_MASTER_KEY: "m" * 44}
    cfg = parse({}, env, base_dir=ROOT)
    tokens = cfg.admin_tokens
    assert (tokens.issuer, tokens.audience, tokens.ttl_seconds) == (
        "billflow",
        "billflow-admin",
        3600,
    )
    assert tokens.require_secret() == "j" * 40 and cfg.require_master_key() == "m" * 44
    assert "j" * 40 not in repr(cfg) and "m" * 44 not in repr(cfg)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {"admin": {"tokens": {"secret": "x" * 40}}},
            r"\[admin\.tokens\]: unknown key\(s\) secret",
        ),
        ({"admin": {"tokens": {"ttl_seconds": 30}}}, "admin.tokens.ttl_seconds: 30 is outside"),
        (
            {"admin": {"tokens": {"ttl_seconds": 7200, "max_ttl_seconds": 3600}}},
            "admin.tokens.max_ttl_seconds: 3600 is outside",
        ),
        ({"admin": {"tokens": {"audience": ""}}}, "issuer and audience must not be empty"),
    ],
)
def test_config_admin_tokens_bad_value_refused(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse(data, {}, base_dir=ROOT)


def test_config_missing_secrets_refused_naming_the_variables() -> None:
    cfg = parse({}, {}, base_dir=ROOT)
    with pytest.raises(ConfigError, match=config_module.ENV_JWT_SECRET):
        cfg.admin_tokens.require_secret()
    with pytest.raises(ConfigError, match=config_module.ENV_MASTER_KEY):
        cfg.require_master_key()
