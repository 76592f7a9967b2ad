"""Moderator sessions and CSRF protection for the review UI and the hotline API.

A session is a random 256-bit token in an HttpOnly, SameSite=Strict cookie (Secure over
https, or always with ``NCII_SECURE_COOKIES``); the database keeps only its SHA-256, so a
leaked database opens no session. A session ends when unused for ``moderator_idle_minutes``,
``moderator_session_hours`` after login whatever happens, at logout, and when the account is
disabled or its password reset.

CSRF: every state-changing request must carry the session's CSRF token (form field
``csrf_token`` or header ``X-CSRF-Token``, a synchronizer token) and, when the browser sends
them, an ``Origin`` of this very host and a ``Sec-Fetch-Site`` of ``same-origin``. The token
is an HMAC of the session token, so it needs no storage and dies with the session; a page
can only learn it by being served by us. SameSite=Strict alone would already keep the
cookie off cross-site requests; the token is the defence that does not depend on the browser.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta, timezone
from urllib.parse import urlsplit

from fastapi import Request, Response
from sqlalchemy import delete, select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from ..bank import audit
from ..db.engine import transaction
from ..db.models import Moderator, ModeratorSession
from ..db.times import as_utc
from ..errors import ApiError
from ..settings import Settings
from .moderators import Reviewer

COOKIE = "ncii_review"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")

#: What ``moderator_with`` answers at the door of the API (``errors.errors(...)`` documents them):
#: reading, and changing (where the CSRF token and the origin are checked too).
SESSION_READ_ERRORS = ("moderator_session_required", "moderator_role")
SESSION_CHANGE_ERRORS = (*SESSION_READ_ERRORS, "csrf_token_invalid", "cross_origin_refused")


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def csrf_token(token: str) -> str:
    """The session's CSRF token: derived from the session token, so nothing more is stored."""
    return hmac.new(token.encode(), b"ncii-review-csrf", hashlib.sha256).hexdigest()


def start(session: Session, settings: Settings, moderator: Moderator) -> str:
    """Open a session for ``moderator`` (already authenticated); returns the cookie's token.

    Rows past their absolute limit are deleted here: no such session can be used again
    (``resolve`` refuses it), logins and logouts are in the audit log, and a login is
    rare enough that doing it then costs nothing, so the table holds at most about a
    working day of sessions without a separate clean-up job.
    """
    now = datetime.now(timezone.utc)
    session.execute(delete(ModeratorSession).where(ModeratorSession.expires_at < now))
    token = secrets.token_urlsafe(32)
    session.add(
        ModeratorSession(
            token_hash=digest(token), moderator_id=moderator.id, created_at=now, last_seen_at=now,
            expires_at=now + timedelta(hours=settings.moderator_session_hours),
        )
    )
    audit.record(session, "moderator", str(moderator.id), "moderator.login", subject_type="moderator",
                 subject_id=moderator.id)
    return token


def resolve(session: Session, settings: Settings, token: str) -> Reviewer | None:
    """The live session's moderator (and the session's idle clock restarts), or None."""
    if not token or len(token) > 100:
        return None
    now = datetime.now(timezone.utc)
    row = session.execute(
        select(ModeratorSession, Moderator)
        .join(Moderator, Moderator.id == ModeratorSession.moderator_id)
        .where(ModeratorSession.token_hash == digest(token))
    ).first()
    if row is None:
        return None
    live, moderator = row
    idle_limit = as_utc(live.last_seen_at) + timedelta(minutes=settings.moderator_idle_minutes)
    if live.ended_at is not None or moderator.status != "active" or as_utc(live.expires_at) <= now or idle_limit <= now:
        if live.ended_at is None:
            live.ended_at = now
        return None
    live.last_seen_at = now
    return Reviewer.of(moderator)


def end(session: Session, token: str) -> bool:
    """Logout: the session stops working at once. True if there was a live one."""
    live = session.scalar(select(ModeratorSession).where(ModeratorSession.token_hash == digest(token or "")))
    if live is None or live.ended_at is not None:
        return False
    live.ended_at = datetime.now(timezone.utc)
    audit.record(session, "moderator", str(live.moderator_id), "moderator.logout", subject_type="moderator",
                 subject_id=live.moderator_id)
    return True


def set_cookie(response: Response, request: Request, settings: Settings, token: str) -> None:
    response.set_cookie(
        COOKIE, token, max_age=int(settings.moderator_session_hours * 3600), path="/", httponly=True,
        samesite="strict", secure=request.url.scheme == "https" or settings.secure_cookies,
    )


def clear_cookie(response: Response, request: Request, settings: Settings) -> None:
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict",
                           secure=request.url.scheme == "https" or settings.secure_cookies)


def same_origin(request: Request) -> bool:
    """False when the browser says the request comes from another site (Origin, Sec-Fetch-Site).

    Clients that send neither (scripts using the hotline API) are judged by the CSRF token alone.
    """
    site = request.headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        return False
    origin = request.headers.get("origin")
    if origin is None:
        return True
    if origin == "null":
        return False
    return urlsplit(origin).netloc.lower() == request.headers.get("host", "").lower()


async def presented_csrf(request: Request) -> str:
    token = request.headers.get(CSRF_HEADER)
    if token is None and request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        form = await request.form()  # Starlette caches it: the route's Form(...) fields still read it
        value = form.get(CSRF_FIELD)
        token = value if isinstance(value, str) else None
    return token or ""


def _resolve_in_db(request: Request, token: str) -> Reviewer | None:
    with transaction(request.app.state.sessions) as session:
        return resolve(session, request.app.state.settings, token)


def moderator_with(*roles: str, page: bool = False) -> Callable[..., Awaitable[Reviewer]]:
    """A dependency: the logged-in moderator, who must hold one of ``roles``.

    On a state-changing method the CSRF token and the origin are checked too. For the API
    a missing session is ``401 moderator_session_required``; for pages (``page=True``) it is
    a redirect to the login page. A wrong role is ``403 moderator_role``.
    """
    allowed = roles or ("platform", "hotline")

    async def require(request: Request) -> Reviewer:
        token = request.cookies.get(COOKIE, "")
        reviewer = await run_in_threadpool(_resolve_in_db, request, token) if token else None
        if reviewer is None:
            if page:
                raise ApiError(303, "login_required", "Please log in.", headers={"Location": "/review/login"})
            raise ApiError(401, "moderator_session_required", "Log in as a moderator first (the ncii_review cookie).")
        if request.method not in SAFE_METHODS:
            if not same_origin(request):
                raise ApiError(403, "cross_origin_refused", "This request came from another site.")
            if not hmac.compare_digest(await presented_csrf(request), csrf_token(token)):
                raise ApiError(403, "csrf_token_invalid", "The form is out of date or was not sent by this site; reload the page.")
        if reviewer.role not in allowed:
            raise ApiError(403, "moderator_role", f"This needs the {' or '.join(allowed)} role.")
        return reviewer

    require.__name__ = f"moderator_with_{'_'.join(allowed)}"
    return require
