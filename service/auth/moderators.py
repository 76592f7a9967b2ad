"""Moderator accounts: argon2 passwords, a lockout that grows with each wrong password.

Platform moderators are bound to one platform and see only its match events; hotline staff
see hash reputation and suspended hashes across platforms. Logging in costs the same
argon2 work whether or not the name exists, and a locked, disabled or unknown account gets
the same answer as a wrong password (only the lock's remaining time is told, so that a
moderator who mistyped knows to wait). The attempt is counted before the password is verified,
and argon2 runs outside any transaction (``lockout``): a login holds no database lock while it
verifies.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TypeVar

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from ..bank import audit
from ..db.engine import transaction
from ..db.models import Moderator, ModeratorSession, Platform
from ..settings import Settings
from . import lockout
from .passwords import hash_secret, verify_secret

T = TypeVar("T")

NAME_MAX_CHARS = 64
PASSWORD_MIN_CHARS = 12
PASSWORD_MAX_CHARS = 256


class AccountError(ValueError):
    """A request the account rules refuse (bad name, short password, unknown platform...)."""


#: Raised by ``authenticate`` while the account is locked (``.seconds`` to wait).
LoginLocked = lockout.Locked


@dataclass(frozen=True)
class Reviewer:
    """An authenticated moderator, detached from any session (safe to pass around)."""

    id: int
    name: str
    role: str
    platform_id: int | None

    @property
    def decided_by(self) -> str:
        return f"moderator:{self.id}"

    @classmethod
    def of(cls, moderator: Moderator) -> Reviewer:
        return cls(id=moderator.id, name=moderator.name, role=moderator.role, platform_id=moderator.platform_id)


def generate_password() -> str:
    """About 120 bits, in groups a person can copy without mistakes."""
    alphabet = "abcdefghjkmnpqrstuvwxyz23456789"
    return "-".join("".join(secrets.choice(alphabet) for _ in range(6)) for _ in range(4))


def check_password(password: str) -> str:
    if len(password) < PASSWORD_MIN_CHARS:
        raise AccountError(f"a password needs at least {PASSWORD_MIN_CHARS} characters")
    if len(password) > PASSWORD_MAX_CHARS:
        raise AccountError(f"a password has at most {PASSWORD_MAX_CHARS} characters")
    return password


def check_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > NAME_MAX_CHARS or any(c.isspace() or not c.isprintable() for c in name):
        raise AccountError(f"a moderator name is 1 to {NAME_MAX_CHARS} printable characters without spaces")
    return name


def by_name(session: Session, name: str) -> Moderator | None:
    return session.scalar(select(Moderator).where(Moderator.name == name))


def create(
    session: Session, settings: Settings, name: str, password: str, *, platform: str | None = None, actor: str | None = None
) -> Moderator:
    """A new account: ``platform`` names the platform it is bound to; without it, hotline staff."""
    name = check_name(name)
    check_password(password)
    if by_name(session, name) is not None:
        raise AccountError(f"a moderator named {name!r} exists already")
    platform_id = None
    if platform is not None:
        row = session.scalar(select(Platform).where(Platform.name == platform))
        if row is None:
            raise AccountError(f"no platform named {platform!r}")
        platform_id = row.id
    role = "platform" if platform_id is not None else "hotline"
    moderator = Moderator(
        name=name, role=role, platform_id=platform_id, password_hash=hash_secret(settings, password),
        status="active", failed_logins=0,
    )
    session.add(moderator)
    session.flush()
    audit.record(session, "admin", actor, "moderator.created", subject_type="moderator", subject_id=moderator.id,
                 role=role, platform_id=platform_id)
    return moderator


def end_sessions(session: Session, moderator_id: int, now: datetime) -> int:
    result = session.execute(
        update(ModeratorSession)
        .where(ModeratorSession.moderator_id == moderator_id, ModeratorSession.ended_at.is_(None))
        .values(ended_at=now)
    )
    return result.rowcount or 0


def disable(session: Session, moderator: Moderator, *, actor: str | None = None) -> int:
    """The account can no longer log in, and its open sessions end now. Returns how many ended."""
    now = datetime.now(timezone.utc)
    moderator.status = "disabled"
    ended = end_sessions(session, moderator.id, now)
    audit.record(session, "admin", actor, "moderator.disabled", subject_type="moderator", subject_id=moderator.id,
                 sessions_ended=ended)
    return ended


def reset_password(session: Session, settings: Settings, moderator: Moderator, password: str, *, actor: str | None = None) -> None:
    """A new password; the lock is lifted and every open session ends (a stolen cookie dies with it)."""
    check_password(password)
    now = datetime.now(timezone.utc)
    moderator.password_hash = hash_secret(settings, password)
    moderator.password_changed_at = now
    moderator.failed_logins, moderator.locked_until = 0, None
    ended = end_sessions(session, moderator.id, now)
    audit.record(session, "admin", actor, "moderator.password_reset", subject_type="moderator",
                 subject_id=moderator.id, sessions_ended=ended)


LOGINS = lockout.Counter(key=Moderator.name, secret=Moderator.password_hash, failures=Moderator.failed_logins,
                         locked_until=Moderator.locked_until)


def policy(settings: Settings) -> lockout.Policy:
    return lockout.Policy(settings.moderator_max_attempts, settings.moderator_lock_seconds,
                          settings.moderator_lock_max_seconds)


def _reviewer(session: Session, moderator: Moderator) -> Reviewer:
    return Reviewer.of(moderator)


def authenticate(
    sessions: sessionmaker[Session],
    settings: Settings,
    name: str,
    password: str,
    then: Callable[[Session, Moderator], T] = _reviewer,
) -> T | None:
    """``then(session, moderator)`` if the password is right and the account active; None
    otherwise. Raises ``LoginLocked`` while the account is locked.

    Three transactions, none open while argon2 runs (``lockout``): the attempt is counted, the
    password verified, and a success recorded, ``then`` running in that last transaction (the
    login opens its session there). A password reset or a disable committed meanwhile wins: the
    verdict was about a hash that is no longer the account's, or an account no longer active.
    """
    rules = policy(settings)
    with transaction(sessions) as session:
        attempt = lockout.reserve(session, LOGINS, name[:NAME_MAX_CHARS], rules, datetime.now(timezone.utc))
    ok = verify_secret(settings, attempt.stored_hash, password[:PASSWORD_MAX_CHARS])
    if attempt.row_id is None:
        return None
    if ok:
        with transaction(sessions) as session:
            moderator = session.get(Moderator, attempt.row_id, with_for_update={"key_share": True})
            if moderator.status == "active" and moderator.password_hash == attempt.stored_hash:
                lockout.forgive(session, LOGINS, attempt, rules)
                return then(session, moderator)
    elif attempt.locks_for is not None:
        with transaction(sessions) as session:
            audit.record(session, "system", None, "moderator.locked", subject_type="moderator",
                         subject_id=attempt.row_id, failed_logins=attempt.failures, seconds=attempt.locks_for)
    return None


def unlock(session: Session, moderator: Moderator, *, actor: str | None = None) -> tuple[int, datetime | None]:
    """Clear the wrong-password count and lift the lock, keeping the password and the sessions
    (``reset_password`` when the password may be known). Audited as ``moderator.unlocked``.
    Returns the cleared count and the lock that was lifted (None: it was not locked)."""
    failures, locked_until = lockout.clear(session, LOGINS, moderator.id)
    was_locked = locked_until if locked_until is not None and locked_until > datetime.now(timezone.utc) else None
    audit.record(session, "admin", actor, "moderator.unlocked", subject_type="moderator", subject_id=moderator.id,
                 failed_logins=failures, was_locked=was_locked is not None)
    return failures, was_locked
