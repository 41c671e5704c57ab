"""Admin tokens by themselves: minting, verifying, lifetimes, durations."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
import pytest
from adminkit import JWT_SECRET, admin_config

from proxy import adminauth
from proxy.config import AdminTokens


@pytest.fixture
def tokens(tmp_path: Path) -> AdminTokens:
    return admin_config(tmp_path).admin_tokens


def test_adminauth_minted_token_verifies_to_its_subject(tokens: AdminTokens) -> None:
    token, expires_at = adminauth.mint(tokens, "ops", now=datetime.now(UTC))
    assert adminauth.verify(tokens, token) == "ops"
    claims = jwt.decode(token, JWT_SECRET, algorithms=["HS256"], audience="billflow-admin")
    assert set(claims) == {"iss", "aud", "sub", "iat", "exp", "jti"}
    assert claims["exp"] - claims["iat"] == tokens.ttl_seconds
    assert expires_at == datetime.fromtimestamp(claims["exp"], UTC)


def test_adminauth_custom_ttl_sets_expiry(tokens: AdminTokens) -> None:
    now = datetime(2030, 1, 1, tzinfo=UTC)
    _, expires_at = adminauth.mint(tokens, "ops", now=now, ttl=timedelta(hours=12))
    assert expires_at == now + timedelta(hours=12)


@pytest.mark.parametrize("ttl", [timedelta(0), timedelta(days=31)])
def test_adminauth_ttl_outside_bounds_refused(tokens: AdminTokens, ttl: timedelta) -> None:
    with pytest.raises(adminauth.TokenError, match="max_ttl_seconds"):
        adminauth.mint(tokens, "ops", now=datetime.now(UTC), ttl=ttl)


def test_adminauth_expired_token_refused(tokens: AdminTokens) -> None:
    token, _ = adminauth.mint(tokens, "ops", now=datetime.now(UTC) - timedelta(hours=2))
    with pytest.raises(adminauth.TokenError, match="expired"):
        adminauth.verify(tokens, token)


def test_adminauth_token_from_the_future_refused(tokens: AdminTokens) -> None:
    token, _ = adminauth.mint(tokens, "ops", now=datetime.now(UTC) + timedelta(minutes=5))
    with pytest.raises(adminauth.TokenError, match="future"):
        adminauth.verify(tokens, token)


def test_adminauth_hs512_token_refused_algorithm_pinned(tokens: AdminTokens) -> None:
    now = int(datetime.now(UTC).timestamp())
    claims = {"iss": "billflow", "aud": "billflow-admin", "sub": "ops", "iat": now}
    token = jwt.encode(claims | {"exp": now + 60}, JWT_SECRET + "x" * 32, algorithm="HS512")
    with pytest.raises(adminauth.TokenError, match="HS256"):
        adminauth.verify(tokens, token)


@pytest.mark.parametrize(
    ("text", "seconds"), [("90s", 90), ("30m", 1800), ("12h", 43200), ("7d", 604800)]
)
def test_adminauth_parse_duration_units(text: str, seconds: int) -> None:
    assert adminauth.parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "12", "h", "0h", "1.5h", "-1h", "12 hours", "1w"])
def test_adminauth_parse_duration_bad_text_refused(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        adminauth.parse_duration(text)
