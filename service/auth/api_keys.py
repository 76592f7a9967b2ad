"""Platform API keys: shown once, stored as SHA-256, scoped, revocable.

A key reads ``ncii_<key id>_<secret>``. The key id (public, 12 symbols) finds
the row; the secret (32 random bytes) is compared by its SHA-256 in constant
time. A fast hash is right here, unlike for PINs: the secret has 256 bits of
entropy, so there is nothing to brute-force, and every upload check pays it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..db.models import ApiKey, Platform

PREFIX = "ncii"
#: What a key may be used for.
SCOPES = ("match", "exchange.read", "exchange.write", "review")
DEFAULT_SCOPES = ("match",)


@dataclass(frozen=True)
class IssuedKey:
    key_id: str
    token: str  # shown once, never stored


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def issue_key(session: Session, platform: Platform, scopes: tuple[str, ...] = DEFAULT_SCOPES) -> IssuedKey:
    unknown = set(scopes) - set(SCOPES)
    if unknown:
        raise ValueError(f"unknown scopes: {', '.join(sorted(unknown))} (known: {', '.join(SCOPES)})")
    key_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    session.add(ApiKey(platform=platform, key_id=key_id, secret_hash=_digest(secret), scopes=" ".join(scopes)))
    return IssuedKey(key_id=key_id, token=f"{PREFIX}_{key_id}_{secret}")


def parse_token(token: str) -> tuple[str, str] | None:
    parts = token.split("_", 2) if isinstance(token, str) and len(token) < 200 else []
    if len(parts) != 3 or parts[0] != PREFIX or not parts[1] or not parts[2]:
        return None
    return parts[1], parts[2]


def authenticate(session: Session, token: str) -> ApiKey | None:
    """The live key (and its active platform) this token belongs to, or None."""
    parsed = parse_token(token)
    if parsed is None:
        return None
    key_id, secret = parsed
    # One query for the key and its platform's status: every upload check pays for it.
    row = session.execute(
        select(ApiKey, Platform.status).join(Platform, Platform.id == ApiKey.platform_id).where(ApiKey.key_id == key_id)
    ).first()
    key, platform_status = row if row is not None else (None, None)
    expected = key.secret_hash if key is not None else _digest("no-such-key")
    if not hmac.compare_digest(expected, _digest(secret)) or key is None:
        return None
    if key.revoked_at is not None or platform_status != "active":
        return None
    return key


def revoke_platform(session: Session, platform: Platform) -> int:
    now = datetime.now(timezone.utc)
    platform.status = "revoked"
    count = 0
    for key in platform.keys:
        if key.revoked_at is None:
            key.revoked_at = now
            count += 1
    return count
