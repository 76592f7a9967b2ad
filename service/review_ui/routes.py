"""The review UI (``/review``): log in, the queue, an item, decisions, bulk actions, the hotline.

Server-rendered pages with one small script for keyboard shortcuts and the preview's reveal;
every form posts to this module, which calls the same ``service.bank`` functions as the API
(``decided_by`` is ``moderator:<id>``). Pages carry the victim pages' security headers with
one difference: the Content-Security-Policy's ``img-src`` adds, per response, exactly the
origins of the preview URLs shown on that page (checked, plain hosts), so the moderator's
browser loads a preview straight from the platform and from nowhere else. The service never
fetches, proxies or stores a preview.

Moderator wellbeing: a preview is blurred and greyscale until the moderator reveals it (one
click or ``v``, one item at a time); moving to another item shows it blurred again; no
video, nothing plays by itself.
"""

from __future__ import annotations

import hmac
import secrets
from pathlib import Path
from typing import Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from ..auth import sessions
from ..auth.moderators import Reviewer
from ..bank import hotline
from ..bank import review as bank_review
from ..db.engine import transaction
from ..db.models import REASON_MAX_CHARS, Platform
from ..errors import ApiError
from ..preview_urls import origin
from ..routers.hotline import act
from ..routers.moderators import log_in
from ..schemas import NUL_FREE
from ..web.routes import SECURITY_HEADERS, _SecureStaticFiles

HERE = Path(__file__).resolve().parent
LOGIN_COOKIE = "ncii_review_login"
DECISION_LABELS = {"ncii_remove": "NCII: remove", "not_ncii": "Not NCII", "escalate": "Escalate"}
STATUSES = ("pending", "escalated", "removed", "not_ncii", "all")

templates = Jinja2Templates(directory=str(HERE / "templates"))
templates.env.globals.update(decision_labels=DECISION_LABELS, reason_max=REASON_MAX_CHARS)

# Full paths rather than a router prefix: Starlette mounts (the static files) take no prefix.
router = APIRouter(include_in_schema=False)
router.mount("/review/static", _SecureStaticFiles(directory=str(HERE / "static")), name="review_static")

AnyModerator = Depends(sessions.moderator_with("platform", "hotline", page=True))
PlatformModerator = Depends(sessions.moderator_with("platform", page=True))
HotlineStaff = Depends(sessions.moderator_with("hotline", page=True))
EventId = PathParam(ge=1, le=2**62)  # larger ids cannot exist (BIGINT) and would overflow the driver


def _csp(image_origins: set[str]) -> str:
    base = SECURITY_HEADERS["Content-Security-Policy"]
    allowed = " ".join(["'self'", "data:", *sorted(image_origins)])  # data: for the blank favicon
    parts = []
    for part in base.split("; "):
        if part.startswith("img-src"):
            part = f"img-src {allowed}"
        elif part.startswith("worker-src"):
            part = "worker-src 'none'"
        parts.append(part)
    return "; ".join(parts)


def _page(request: Request, template: str, context: dict, *, status: int = 200, previews: set[str] = frozenset()) -> HTMLResponse:
    token = request.cookies.get(sessions.COOKIE, "")
    context = {**context, "csrf_token": sessions.csrf_token(token) if token else ""}
    response = templates.TemplateResponse(request, template, context, status_code=status)
    response.headers.update(SECURITY_HEADERS)
    response.headers["Content-Security-Policy"] = _csp({origin(u) for u in previews})
    response.headers["Cache-Control"] = "no-store"  # never kept, never restored from the back-forward cache
    # "same-origin", not the victim pages' "no-referrer": with no-referrer Chromium sends
    # ``Origin: null`` on our own form posts, which the origin check must refuse. Nothing is
    # sent to other origins either way (and preview images carry referrerpolicy="no-referrer").
    response.headers["Referrer-Policy"] = "same-origin"
    return response


def _see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


# ------------------------------------------------------------------------------------ login


@router.get("/review/login", response_class=HTMLResponse)
def login_page(request: Request) -> HTMLResponse:
    return _login_form(request)


def _login_form(request: Request, error: str | None = None, status: int = 200, headers: dict | None = None) -> HTMLResponse:
    """A pre-session double-submit token guards the login form against login CSRF."""
    nonce = secrets.token_urlsafe(24)
    response = _page(request, "login.html", {"login_nonce": nonce, "error": error}, status=status)
    response.headers.update(headers or {})
    response.set_cookie(LOGIN_COOKIE, nonce, max_age=3600, path="/review/login", httponly=True, samesite="strict",
                        secure=request.url.scheme == "https" or request.app.state.settings.secure_cookies)
    return response


@router.post("/review/login")
async def login_submit(
    request: Request,
    name: str = Form("", max_length=200, pattern=NUL_FREE),
    password: str = Form("", max_length=300, pattern=NUL_FREE),
    login_nonce: str = Form("", max_length=100),
) -> Response:
    expected = request.cookies.get(LOGIN_COOKIE, "")
    if not sessions.same_origin(request) or not expected or not hmac.compare_digest(expected, login_nonce):
        return _login_form(request, "The login form was out of date. Please try again.", 403)
    try:
        reviewer, token = await run_in_threadpool(log_in, request, name.strip(), password)
    except ApiError as error:
        return _login_form(request, error.message, error.status, error.headers)
    response = _see_other("/review/hotline" if reviewer.role == "hotline" else "/review/")
    sessions.set_cookie(response, request, request.app.state.settings, token)
    response.delete_cookie(LOGIN_COOKIE, path="/review/login")
    return response


def _end_session(request: Request) -> None:
    with transaction(request.app.state.sessions) as session:
        sessions.end(session, request.cookies.get(sessions.COOKIE, ""))


@router.post("/review/logout")
async def logout(request: Request, _: Reviewer = AnyModerator) -> Response:
    await run_in_threadpool(_end_session, request)
    response = _see_other("/review/login")
    sessions.clear_cookie(response, request, request.app.state.settings)
    return response


# ------------------------------------------------------------------------------------ queue


class Filters:
    """The queue's filters, from the query string, for the queue and for an item's neighbours.

    A filter form sends its empty fields as empty strings: they mean "no filter", so numbers
    are read as digit strings here (anything else is a 422) rather than as FastAPI integers.
    """

    def __init__(
        self,
        status: Literal["pending", "escalated", "removed", "not_ncii", "all"] = Query("pending"),
        min_distance: str | None = Query(None, max_length=3, pattern=r"^[0-9]*$"),
        max_distance: str | None = Query(None, max_length=3, pattern=r"^[0-9]*$"),
        max_age_hours: str | None = Query(None, max_length=4, pattern=r"^[0-9]*$"),
        signal: str | None = Query(None, max_length=32, pattern=r"^[a-z0-9_]*$"),
        platform: str | None = Query(None, max_length=18, pattern=r"^[0-9]*$", description="Hotline staff only."),
    ) -> None:
        self.status = status
        self.min_distance, self.max_distance = _number(min_distance, 0, 256), _number(max_distance, 0, 256)
        self.max_age_hours, self.platform = _number(max_age_hours, 1, 24 * 366), _number(platform, 1, 2**62)
        self.signal = signal or None

    def for_reviewer(self, reviewer: Reviewer) -> bank_review.QueueFilter:
        # A platform's moderator always sees their own platform: a ``platform`` parameter is ignored.
        platform_id = reviewer.platform_id if reviewer.role == "platform" else self.platform
        return bank_review.QueueFilter(platform_id, self.status, self.min_distance, self.max_distance,
                                       self.max_age_hours, self.signal)

    def query(self, **extra) -> str:
        values = {"status": self.status, "min_distance": self.min_distance, "max_distance": self.max_distance,
                  "max_age_hours": self.max_age_hours, "signal": self.signal, "platform": self.platform, **extra}
        return urlencode({k: v for k, v in values.items() if v not in (None, "")})


def _number(text: str | None, low: int, high: int) -> int | None:
    if not text:
        return None
    value = int(text)
    if not low <= value <= high:
        raise ApiError(422, "request_invalid", f"A filter value is out of range ({low} to {high}).")
    return value


def _platform_names(session) -> dict[int, str]:
    return dict(session.execute(select(Platform.id, Platform.name)).all())


def _queue_data(request: Request, reviewer: Reviewer, filters: Filters, after: int) -> dict:
    flt = filters.for_reviewer(reviewer)
    with request.app.state.readers() as session, session.begin():
        groups, next_after = bank_review.queue(
            session, flt.platform_id, status=flt.status, min_distance=flt.min_distance, max_distance=flt.max_distance,
            max_age_hours=flt.max_age_hours, signal=flt.signal, limit=50, after=after,
        )
        names = _platform_names(session)
    return {"groups": groups, "next_after": next_after, "platforms": names}


@router.get("/review/", response_class=HTMLResponse)
async def queue_page(
    request: Request,
    reviewer: Reviewer = AnyModerator,
    filters: Filters = Depends(),
    after: int = Query(0, ge=0, le=2**62),
    decided: int | None = Query(None, ge=0, le=1000),
    skipped: int | None = Query(None, ge=0, le=1000),
) -> HTMLResponse:
    data = await run_in_threadpool(_queue_data, request, reviewer, filters, after)
    return _page(request, "queue.html", {
        "reviewer": reviewer, "filters": filters, "statuses": STATUSES, "decided": decided, "skipped": skipped,
        **data,
    })


@router.post("/review/bulk")
async def bulk_decision(
    request: Request,
    reviewer: Reviewer = PlatformModerator,
    items: list[str] | None = Form(None, max_length=bank_review.BULK_MAX, description="Per ticked item: its event ids, comma-separated."),
    decision: Literal["not_ncii", "escalate"] = Form(),
    reason: str = Form("", max_length=REASON_MAX_CHARS + 200, pattern=NUL_FREE),
    back: str = Form("", max_length=500),
) -> Response:
    """Bulk "not NCII" or "escalate" on the ticked items; never a bulk removal."""
    reason = reason.strip()
    parts = [p for item in items or [] for p in item.split(",")]
    if not all(p.isascii() and p.isdigit() and len(p) < 19 for p in parts):
        raise ApiError(422, "request_invalid", "The ticked items are not valid.")
    match_event_ids = [int(p) for p in parts][: bank_review.BULK_MAX]
    if not reason or len(reason) > REASON_MAX_CHARS or not match_event_ids:
        raise ApiError(422, "request_invalid", "Tick at least one item and give a reason (1 to 1000 characters).")

    def run() -> list[bank_review.BulkOutcome]:
        with transaction(request.app.state.sessions) as session:
            return bank_review.decide_many(
                session, request.app.state.settings, platform_id=reviewer.platform_id, decided_by=reviewer.decided_by,
                match_event_ids=match_event_ids, decision=decision, reason=reason,
            )

    outcomes = await run_in_threadpool(run)
    decided = sum(o.status == "decided" for o in outcomes)
    query = back if back.isascii() and all(c.isalnum() or c in "=&_%+-." for c in back) else ""
    return _see_other(f"/review/?{query}{'&' if query else ''}decided={decided}&skipped={len(outcomes) - decided}")


# ------------------------------------------------------------------------------------- item


def _item_data(request: Request, reviewer: Reviewer, filters: Filters, event_id: int) -> dict:
    with request.app.state.readers() as session, session.begin():
        try:
            view = bank_review.item(session, event_id, filters.for_reviewer(reviewer))
        except bank_review.EventNotFound:
            raise ApiError(404, "match_event_not_found", "No such match event for this platform.") from None
        names = _platform_names(session)
    return {"view": view, "platforms": names}


@router.get("/review/items/{event_id}", response_class=HTMLResponse)
async def item_page(
    request: Request, event_id: int = EventId, reviewer: Reviewer = AnyModerator, filters: Filters = Depends(),
) -> HTMLResponse:
    data = await run_in_threadpool(_item_data, request, reviewer, filters, event_id)
    previews = {m.preview_url for m in data["view"].group.matches if m.preview_url}
    return _page(request, "item.html", {"reviewer": reviewer, "filters": filters, **data}, previews=previews)


@router.post("/review/items/{event_id}/decide")
async def decide_item(
    request: Request,
    event_id: int = EventId,
    reviewer: Reviewer = PlatformModerator,
    filters: Filters = Depends(),
    decision: Literal["ncii_remove", "not_ncii", "escalate"] = Form(),
    reason: str = Form("", max_length=REASON_MAX_CHARS + 200, pattern=NUL_FREE),
) -> Response:
    """One decision for every open match event of the item (one upload): each is recorded,
    audited and counted as if decided through the API."""
    reason = reason.strip()
    if not reason or len(reason) > REASON_MAX_CHARS:
        raise ApiError(422, "request_invalid", "A reason is required (1 to 1000 characters).")

    def run() -> int | None:
        settings = request.app.state.settings
        with transaction(request.app.state.sessions) as session:
            flt = filters.for_reviewer(reviewer)
            try:
                view = bank_review.item(session, event_id, flt)
            except bank_review.EventNotFound:
                raise ApiError(404, "match_event_not_found", "No such match event for this platform.") from None
            open_events = [m.match_event_id for m in view.group.matches
                           if m.review_status == "pending" or (m.review_status == "escalated" and decision != "escalate")]
            if not open_events:
                raise ApiError(409, "review_already_decided", "This item has been decided already.")
            for match_event_id in open_events:
                bank_review.decide(session, settings, platform_id=reviewer.platform_id, decided_by=reviewer.decided_by,
                                   match_event_id=match_event_id, decision=decision, reason=reason)
            return bank_review.item(session, event_id, flt).next_event_id

    next_id = await run_in_threadpool(run)
    query = filters.query()
    target = f"/review/items/{next_id}" if next_id is not None else "/review/"
    return _see_other(f"{target}?{query}" if query else target)


# ---------------------------------------------------------------------------------- hotline


def _suspended(request: Request, after: int) -> tuple[list[hotline.SuspendedHash], int | None]:
    with request.app.state.readers() as session, session.begin():
        return hotline.suspended(session, limit=100, after=after)


@router.get("/review/hotline", response_class=HTMLResponse)
async def hotline_page(
    request: Request, reviewer: Reviewer = HotlineStaff, after: int = Query(0, ge=0, le=2**62),
    done: Literal["reinstate", "retire"] | None = Query(None), hash_id: int | None = Query(None, ge=1, le=2**62),
) -> HTMLResponse:
    rows, next_after = await run_in_threadpool(_suspended, request, after)
    return _page(request, "hotline.html", {"reviewer": reviewer, "rows": rows, "next_after": next_after,
                                           "done": done, "done_hash": hash_id})


@router.post("/review/hotline/hashes/{hash_id}/{action}")
async def hotline_action(
    request: Request,
    action: Literal["reinstate", "retire"],
    hash_id: int = PathParam(ge=1, le=2**62),
    reviewer: Reviewer = HotlineStaff,
    reason: str = Form("", max_length=REASON_MAX_CHARS + 200, pattern=NUL_FREE),
) -> Response:
    reason = reason.strip()
    if not reason or len(reason) > REASON_MAX_CHARS:
        raise ApiError(422, "request_invalid", "A reason is required (1 to 1000 characters).")
    def run() -> None:
        with transaction(request.app.state.sessions) as session:
            act(session, reviewer, action, hash_id, reason)

    await run_in_threadpool(run)
    return _see_other(f"/review/hotline?done={action}&hash_id={hash_id}")
