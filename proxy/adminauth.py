"""Admin API tokens: HS256 JSON Web Tokens, minted and verified with pyjwt.

Owns: the claims (`iss`, `aud`, `sub`, `iat`, `exp`, `jti`), minting, verification with the
algorithm pinned to HS256 (so `alg: none` and algorithm-confusion tokens are refused before any
signature check), and one short reason per refusal. Does not own: the Authorization header
(admin.py), the accounts behind `sub` (the ledger), or the secret (config, from the environment).

pyjwt checks `exp` and `iat` against the system clock; `now` is taken only when minting.
"""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt

from proxy.config import AdminTokens

ALGORITHM = "HS256"
REQUIRED_CLAIMS = ("exp", "iat", "sub", "aud", "iss")
#: Tolerated clock difference between a minting CLI and the server, in seconds.
LEEWAY_SECONDS = 5
_DURATION = re.compile(r"(\d+)([smhd])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class TokenError(Exception):
    """A token is refused; the message says why without echoing the token."""


def parse_duration(text: str) -> timedelta:
    """`90s`, `30m`, `12h`, `7d` -> timedelta; for `billflow admin token --ttl`."""
    match = _DURATION.fullmatch(text.strip())
    if not match or int(match[1]) == 0:
        raise ValueError(f"expected a duration like 90s, 30m, 12h or 7d, got {text!r}")
    return timedelta(seconds=int(match[1]) * _UNIT_SECONDS[match[2]])


def mint(
    settings: AdminTokens, subject: str, *, now: datetime, ttl: timedelta | None = None
) -> tuple[str, datetime]:
    """A signed token for admin `subject`, and when it expires (whole seconds, UTC)."""
    seconds = settings.ttl_seconds if ttl is None else int(ttl.total_seconds())
    if not 1 <= seconds <= settings.max_ttl_seconds:
        raise TokenError(
            f"token lifetime {seconds}s is outside 1..{settings.max_ttl_seconds}s "
            "(admin.tokens.max_ttl_seconds)"
        )
    issued = int(now.timestamp())
    claims: dict[str, Any] = {
        "iss": settings.issuer,
        "aud": settings.audience,
        "sub": subject,
        "iat": issued,
        "exp": issued + seconds,
        "jti": secrets.token_urlsafe(12),
    }
    token = jwt.encode(claims, settings.require_secret(), algorithm=ALGORITHM)
    return token, datetime.fromtimestamp(issued + seconds, UTC)


def verify(settings: AdminTokens, token: str) -> str:
    """The admin user name (`sub`) of a valid token; TokenError otherwise."""
    try:
        claims = jwt.decode(
            token,
            settings.require_secret(),
            algorithms=[ALGORITHM],
            audience=settings.audience,
            issuer=settings.issuer,
            leeway=LEEWAY_SECONDS,
            options={"require": list(REQUIRED_CLAIMS), "enforce_minimum_key_length": True},
        )
    except jwt.ExpiredSignatureError:
        raise TokenError("the token has expired") from None
    except jwt.ImmatureSignatureError:
        raise TokenError("the token was issued in the future") from None
    except jwt.MissingRequiredClaimError as e:
        raise TokenError(f"the token lacks the {e.claim!r} claim") from None
    except jwt.InvalidAudienceError:
        raise TokenError("the token is for another audience") from None
    except jwt.InvalidIssuerError:
        raise TokenError("the token is from another issuer") from None
    except jwt.InvalidAlgorithmError:
        raise TokenError(f"the token is not signed with {ALGORITHM}") from None
    except jwt.InvalidSignatureError:
        raise TokenError("the token's signature does not verify") from None
    except jwt.PyJWTError:
        raise TokenError("the token is malformed") from None
    subject = claims["sub"]
    if not isinstance(subject, str) or not subject:
        raise TokenError("the token's subject is not a user name")
    return subject
