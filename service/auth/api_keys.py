"""Platform API keys: shown once, stored as SHA-256, scoped, revocable.

A key reads ``ncii_<key id>_<secret>``. The key id (public, 12 symbols) finds
the row; the secret (32 random bytes) is compared by its SHA-256 in constant
time. A fast hash is right here, unlike for PINs: the secret has 256 bits of
entropy, so there is nothing to brute-force, and every upload check pays it.

Each worker remembers a successful authentication for ``api_key_cache_seconds``
(default 1 s, at most 2): an upload check then costs no database round trip for
its key, and a revocation takes effect everywhere within that window (the same
order as the index's consistency window for withdrawals). Failures are never
remembered, so a newly issued key works at once.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..db.models import ApiKey, Platform
from .scopes import DEFAULT_SCOPES, SCOPES

PREFIX = "ncii"


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


@dataclass(frozen=True)
class Caller:
    """An authenticated key, detached from any session (safe to keep and share between threads)."""

    platform_id: int
    key_id: str
    scopes: frozenset[str]

    @classmethod
    def of(cls, key: ApiKey) -> Caller:
        return cls(platform_id=key.platform_id, key_id=key.key_id, scopes=frozenset(key.scopes.split()))


class KeyCache:
    """Successful authentications in this worker, each for ``ttl`` seconds from the database check.

    Entries are keyed by the SHA-256 of the whole token (the secret is never
    kept in clear), so only the exact token that was verified hits the cache.
    Bounded: when full, expired entries go first, then everything.
    """

    def __init__(self, ttl: float, max_entries: int = 10_000) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._entries: dict[bytes, tuple[float, Caller]] = {}

    @staticmethod
    def _slot(token: str) -> bytes:
        return hashlib.sha256(token.encode()).digest()

    def get(self, token: str) -> Caller | None:
        if self.ttl <= 0 or not token:
            return None
        entry = self._entries.get(self._slot(token))
        if entry is None:
            return None
        if entry[0] <= time.monotonic():
            self._entries.pop(self._slot(token), None)
            return None
        return entry[1]

    def put(self, token: str, caller: Caller, checked_at: float) -> None:
        """Remember ``caller`` until ``checked_at`` (``time.monotonic()`` before the database was read) + ttl."""
        if self.ttl <= 0:
            return
        if len(self._entries) >= self.max_entries:
            now = time.monotonic()
            for slot in [s for s, (until, _) in self._entries.items() if until <= now]:
                self._entries.pop(slot, None)
            if len(self._entries) >= self.max_entries:
                self._entries.clear()
        self._entries[self._slot(token)] = (checked_at + self.ttl, caller)


def revoke_platform(session: Session, platform: Platform) -> int:
    now = datetime.now(timezone.utc)
    platform.status = "revoked"
    count = 0
    for key in platform.keys:
        if key.revoked_at is None:
            key.revoked_at = now
            count += 1
    return count
