"""Moderators' sessions over the API: log in, who am I (and the CSRF token), log out.

The review UI logs in through its own form; this is for hotline staff's or a platform's own
tooling that works with a moderator session rather than an API key. The session is the
same HttpOnly cookie; state-changing calls send the CSRF token in ``X-CSRF-Token``.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from ..auth import moderators, sessions
from ..auth.moderators import Reviewer
from ..db.engine import transaction
from ..errors import BODY_ERRORS, ApiError, errors
from ..schemas import Strict

router = APIRouter(prefix="/v1/moderators", tags=["moderators (review UI, hotline)"])


class LoginIn(Strict):
    name: str = Field(min_length=1, max_length=moderators.NAME_MAX_CHARS)
    password: str = Field(min_length=1, max_length=moderators.PASSWORD_MAX_CHARS)


class MeOut(BaseModel):
    id: int
    name: str
    role: str
    platform_id: int | None
    csrf_token: str = Field(description="Send as X-CSRF-Token on every POST made with this session.")


def _me(reviewer: Reviewer, token: str) -> MeOut:
    return MeOut(id=reviewer.id, name=reviewer.name, role=reviewer.role, platform_id=reviewer.platform_id,
                 csrf_token=sessions.csrf_token(token))


def log_in(request: Request, name: str, password: str) -> tuple[Reviewer, str]:
    """Check the password and open a session: (the moderator, the cookie's token).

    Raises ``401 moderator_login_failed`` (same answer for unknown names, wrong passwords and
    disabled accounts) or ``429 moderator_locked``. Failures are committed before the error, and
    no transaction is open while the password is verified.
    """
    settings = request.app.state.settings

    def open_session(session, moderator) -> tuple[Reviewer, str]:
        return Reviewer.of(moderator), sessions.start(session, settings, moderator)

    try:
        opened = moderators.authenticate(request.app.state.sessions, settings, name, password, then=open_session)
    except moderators.LoginLocked as locked:
        raise ApiError(429, "moderator_locked", f"Too many wrong passwords. Try again in {locked.seconds} seconds.",
                       headers={"Retry-After": str(locked.seconds)}) from None
    if opened is not None:
        return opened
    raise ApiError(401, "moderator_login_failed", "The name or the password is not right.")


@router.post("/login", response_model=MeOut,
             responses=errors(*BODY_ERRORS, "moderator_login_failed", "moderator_locked", "cross_origin_refused"))
async def login(body: LoginIn, request: Request, response: Response) -> MeOut:
    """Log in; the session cookie comes back with the answer. JSON only (a cross-site form
    cannot send it without the browser asking this server first)."""
    if not sessions.same_origin(request):
        raise ApiError(403, "cross_origin_refused", "This request came from another site.")
    reviewer, token = await run_in_threadpool(log_in, request, body.name, body.password)
    sessions.set_cookie(response, request, request.app.state.settings, token)
    return _me(reviewer, token)


@router.get("/me", response_model=MeOut, responses=errors("moderator_session_required"))
async def me(request: Request, reviewer: Reviewer = Depends(sessions.moderator_with())) -> MeOut:
    return _me(reviewer, request.cookies.get(sessions.COOKIE, ""))


def _end(request: Request, token: str) -> None:
    with transaction(request.app.state.sessions) as session:
        sessions.end(session, token)


@router.post("/logout", status_code=204,
             responses=errors("moderator_session_required", "csrf_token_invalid", "cross_origin_refused"))
async def logout(request: Request, _: Reviewer = Depends(sessions.moderator_with())) -> Response:
    await run_in_threadpool(_end, request, request.cookies.get(sessions.COOKIE, ""))
    response = Response(status_code=204)
    sessions.clear_cookie(response, request, request.app.state.settings)
    return response
