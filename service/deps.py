"""FastAPI dependencies: the database session, the index, and who is calling.

Authentication is a dependency on each route, so a reviewer sees at a glance
which role a route serves: ``Depends(platform_with("match"))``, ``Depends(open_case)``.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Annotated

from fastapi import Depends, Header, Request
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from .auth import api_keys, case_pins
from .auth.lockout import Locked
from .bank.case_numbers import normalise_case_number, normalise_pin
from .bank_index import BankIndex
from .db.models import Case
from .db.times import as_utc  # noqa: F401  (routers import it from here)
from .errors import ApiError
from .settings import Settings


# Dependencies that do no I/O are ``async def``: FastAPI runs a plain ``def`` dependency in
# the thread pool, and a hop there costs more than the whole index search.


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_session(request: Request) -> Iterator[Session]:
    """One transaction per request: committed if the route returns, rolled back if it raises."""
    with request.app.state.sessions() as session, session.begin():
        yield session


#: The request's session. ``scope="function"`` commits when the route returns and *before* the
#: response is sent: an acknowledged case is a committed case, and a failed commit is an error
#: answer, never a 201 for data that is not there (FastAPI's default runs the exit code after
#: the response has gone out).
DbSession = Annotated[Session, Depends(get_session, scope="function")]


async def get_read_session(request: Request) -> AsyncIterator[Session]:
    """A read-only transaction (on SQLite it never waits for, nor blocks, a writer).

    Opening it does no I/O (the connection is taken at the first query, in the
    route's thread) and ending a read-only transaction is as cheap, so this runs
    on the event loop rather than costing two thread-pool hops per request.
    """
    with request.app.state.readers() as session, session.begin():
        yield session


ReadSession = Annotated[Session, Depends(get_read_session, scope="function")]


async def get_index(request: Request) -> BankIndex:
    return request.app.state.index


_AUTH_FAILED = "The case number or the PIN is not right."

#: What the doors below answer (``errors.errors(...)`` documents them on each route).
CASE_PIN_ERRORS = ("case_auth_failed", "case_locked")
PLATFORM_KEY_ERRORS = ("api_key_invalid", "api_key_scope")


def open_case(
    case_number: str,
    request: Request,
    x_case_pin: str = Header(default="", max_length=64, description="The case's PIN."),
    settings: Settings = Depends(get_settings),
) -> Case:
    """The case, if the PIN is right (``401 case_auth_failed`` otherwise, the same for unknown
    numbers); repeated failures lock it for a growing delay (``429 case_locked``).

    Failures are counted in their own transactions, so the error answer cannot roll them back,
    and no transaction is open while the PIN is verified (``auth/case_pins.py``).
    """
    try:
        case = case_pins.check(request.app.state.sessions, settings, normalise_case_number(case_number),
                               normalise_pin(x_case_pin) or "")
    except Locked as locked:
        raise ApiError(429, "case_locked", f"Too many wrong PINs. Try again in {locked.seconds} seconds.",
                       headers={"Retry-After": str(locked.seconds)}) from None
    if case is None:
        raise ApiError(401, "case_auth_failed", _AUTH_FAILED)
    return case


def _bearer(authorization: str) -> str:
    scheme, _, token = authorization.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def _authenticate(readers, token: str) -> api_keys.Caller | None:
    with readers() as session, session.begin():
        key = api_keys.authenticate(session, token)
        return api_keys.Caller.of(key) if key is not None else None


def key_cache(app) -> api_keys.KeyCache:
    """This app's (this worker's) cache of successful API key checks."""
    cache = getattr(app.state, "key_cache", None)
    if cache is None:
        cache = app.state.key_cache = api_keys.KeyCache(app.state.settings.api_key_cache_seconds)
    return cache


async def check_platform_key(
    request: Request, token: str, scope: str, how: str = "Authorization: Bearer ..."
) -> api_keys.Caller:
    """The platform behind ``token``, which must carry ``scope`` (401 / 403 otherwise).

    A key checked against the database less than ``api_key_cache_seconds`` ago is
    taken from this worker's cache, on the event loop; otherwise it is checked in
    the thread pool (one read-only query) and remembered if it is valid. Shared by
    every way a platform presents its key (a bearer token, or the StopNCII headers).
    """
    cache = key_cache(request.app)
    caller = cache.get(token)
    if caller is None:
        checked_at = time.monotonic()
        caller = await run_in_threadpool(_authenticate, request.app.state.readers, token)
        if caller is None:
            raise ApiError(401, "api_key_invalid", f"A valid platform API key is needed ({how}).",
                           headers={"WWW-Authenticate": "Bearer"})
        cache.put(token, caller, checked_at)
    if scope not in caller.scopes:
        raise ApiError(403, "api_key_scope", f"This API key may not be used for {scope}.")
    return caller


def platform_with(scope: str) -> Callable[..., Awaitable[api_keys.Caller]]:
    """A dependency: the calling platform's key (``Authorization: Bearer``), which must carry ``scope``."""

    async def require(
        request: Request,
        authorization: str = Header(default="", max_length=300, description="Bearer <API key>"),
    ) -> api_keys.Caller:
        return await check_platform_key(request, _bearer(authorization), scope)

    require.__name__ = f"platform_with_{scope.replace('.', '_')}"
    return require
