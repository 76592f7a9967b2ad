"""Hotline staff: suspended hashes with their reputation, reinstate or retire; every platform's
queue; a victim's case out of a PIN lockout.

Authenticated by a moderator session with the ``hotline`` role (``POST /v1/moderators/login``,
then the cookie and ``X-CSRF-Token``). Hotline staff read every platform's review queue but
decide no match event: a takedown is the platform's call; the hash is the hotline's.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, Field

from ..auth import case_pins
from ..auth.moderators import Reviewer
from ..auth.sessions import SESSION_CHANGE_ERRORS, SESSION_READ_ERRORS, moderator_with
from ..bank import hotline
from ..bank import review as bank_review
from ..deps import DbSession, ReadSession, as_utc
from ..errors import BODY_ERRORS, ApiError, errors
from ..openapi_links import link, on
from ..schemas import Strict
from .review import QueueOut, Reason, _cursor, queue_out

router = APIRouter(prefix="/v1/hotline", tags=["hotline (bank operator)"])

HotlineStaff = Depends(moderator_with("hotline"))


class SuspendedOut(BaseModel):
    hash_id: int
    signal: str
    variant: str
    quality: int | None
    case_status: str
    case_age_days: int
    suspended_at: datetime | None
    cleared_at: datetime | None = Field(description="The last reinstatement: only later not-NCII verdicts count.")
    reputation: dict[str, int]


class SuspendedPage(BaseModel):
    hashes: list[SuspendedOut]
    next_cursor: str | None


class ActionIn(Strict):
    reason: Reason


class ActionOut(BaseModel):
    hotline_action_id: int
    hash_id: int
    action: Literal["reinstate", "retire"]
    hash_status: str
    index_change: bool = Field(description="Whether every index was told (a change-log entry).")
    decided_by: str
    created_at: datetime


def suspended_out(row: hotline.SuspendedHash) -> SuspendedOut:
    return SuspendedOut(
        hash_id=row.hash_id, signal=row.signal, variant=row.variant, quality=row.quality, case_status=row.case_status,
        case_age_days=row.case_age_days, suspended_at=row.suspended_at, cleared_at=row.cleared_at,
        reputation={"ncii_remove": row.ncii_remove, "not_ncii": row.not_ncii, "escalate": row.escalate,
                    "not_ncii_platforms": row.not_ncii_platforms},
    )


def _about(hash_id: str) -> dict[str, dict]:
    """Links to what hotline staff do with the hash that ``hash_id`` (a runtime expression) names."""
    parameters = {"path.hash_id": hash_id}
    return dict(
        Hash=link("GET", "/v1/hotline/hashes/{hash_id}", "The hash's status, reputation and actions.", parameters=parameters),
        Reinstate=link("POST", "/v1/hotline/hashes/{hash_id}/reinstate", "Let it match again.", parameters=parameters),
        Retire=link("POST", "/v1/hotline/hashes/{hash_id}/retire", "Stop it matching for good.", parameters=parameters),
    )


@router.get("/suspended", response_model=SuspendedPage,
            responses={**on(200, **_about("$response.body#/hashes/0/hash_id"),
                            NextPage=link("GET", "/v1/hotline/suspended", "The next page.",
                                          parameters={"query.cursor": "$response.body#/next_cursor"})),
                       **errors(*SESSION_READ_ERRORS, "request_invalid")})
def list_suspended(
    session: ReadSession,
    _: Reviewer = HotlineStaff,
    limit: int = Query(50, ge=1, le=200),
    cursor: str | None = Query(None, max_length=32),
) -> SuspendedPage:
    """Hashes suspended by the reviewers' verdicts, awaiting a hotline decision."""
    rows, next_after = hotline.suspended(session, limit=limit, after=_cursor(cursor))
    return SuspendedPage(hashes=[suspended_out(r) for r in rows],
                         next_cursor=None if next_after is None else str(next_after))


def act(session, reviewer: Reviewer, action: str, hash_id: int, reason: str) -> ActionOut:
    do = hotline.reinstate if action == "reinstate" else hotline.retire
    try:
        outcome = do(session, hash_id, moderator_id=reviewer.id, reason=reason)
    except hotline.HashNotFound:
        raise ApiError(404, "hash_not_found", "No such bank hash.") from None
    except hotline.WrongHashStatus as error:
        raise ApiError(409, "hash_status_conflict", f"A hash in status {error.status!r} cannot be {action}d.",
                       details={"hash_status": error.status}) from None
    return ActionOut(
        hotline_action_id=outcome.action.id, hash_id=hash_id, action=action, hash_status=outcome.hash_status,
        index_change=outcome.index_change, decided_by=reviewer.decided_by, created_at=as_utc(outcome.action.created_at),
    )


HashId = Path(ge=1, le=2**62)
HASH_ACTION_ERRORS = errors(*SESSION_CHANGE_ERRORS, *BODY_ERRORS, "hash_not_found", "hash_status_conflict")


class HotlineActionOut(BaseModel):
    id: int
    action: Literal["reinstate", "retire"]
    reason: str
    decided_by: str
    created_at: datetime


class HashOut(SuspendedOut):
    status: str = Field(description="active, suspended, retired or withdrawn.")
    actions: list[HotlineActionOut]


@router.get("/hashes/{hash_id}", response_model=HashOut,
            responses=errors(*SESSION_READ_ERRORS, "hash_not_found", "request_invalid"))
def hash_reputation(session: ReadSession, hash_id: int = HashId, _: Reviewer = HotlineStaff) -> HashOut:
    """Any bank hash's status and reputation, and the hotline's earlier actions on it (with reasons)."""
    try:
        found = hotline.view(session, hash_id)
    except hotline.HashNotFound:
        raise ApiError(404, "hash_not_found", "No such bank hash.") from None
    return HashOut(
        **suspended_out(found.hash).model_dump(),
        status=found.status,
        actions=[
            HotlineActionOut(id=a.id, action=a.action, reason=a.reason, created_at=as_utc(a.created_at),
                             decided_by=f"moderator:{a.moderator_id}" if a.moderator_id is not None else "system")
            for a in found.actions
        ],
    )


@router.post("/hashes/{hash_id}/reinstate", response_model=ActionOut, responses=HASH_ACTION_ERRORS)
def reinstate(body: ActionIn, session: DbSession, hash_id: int = HashId, reviewer: Reviewer = HotlineStaff) -> ActionOut:
    """A suspended hash matches again; the not-NCII verdicts so far stop counting towards suspension."""
    return act(session, reviewer, "reinstate", hash_id, body.reason)


@router.post("/hashes/{hash_id}/retire", response_model=ActionOut, responses=HASH_ACTION_ERRORS)
def retire(body: ActionIn, session: DbSession, hash_id: int = HashId, reviewer: Reviewer = HotlineStaff) -> ActionOut:
    """A suspended (or active) hash never matches again."""
    return act(session, reviewer, "retire", hash_id, body.reason)


class CaseUnlockedOut(BaseModel):
    case_number: str
    failed_attempts: int = Field(description="The wrong PINs counted until now, cleared.")
    locked_until: datetime | None = Field(description="The lock that was lifted (null: the case was not locked).")
    unlocked_by: str


@router.post("/cases/{case_number}/unlock", response_model=CaseUnlockedOut,
             responses=errors(*SESSION_CHANGE_ERRORS, "case_not_found", "request_invalid"))
def unlock_case(session: DbSession, case_number: str = Path(max_length=64), reviewer: Reviewer = HotlineStaff) -> CaseUnlockedOut:
    """Clear a case's wrong-PIN count and lift its lock, for a victim locked out by someone else's
    guesses (the PIN stays the same and is neither needed nor shown). Audited as ``case.unlocked``.
    Whoever locked the case can lock it again."""
    try:
        unlocked = case_pins.unlock(session, case_number, actor_type="moderator", actor_id=str(reviewer.id))
    except case_pins.CaseNotFound:
        raise ApiError(404, "case_not_found", "No such case.") from None
    return CaseUnlockedOut(case_number=unlocked.case_number, failed_attempts=unlocked.failed_attempts,
                           locked_until=unlocked.locked_until, unlocked_by=reviewer.decided_by)


@router.get("/queue", response_model=QueueOut,
            responses={**on(200, **_about("$response.body#/groups/0/matches/0/hash_id"),
                            NextPage=link("GET", "/v1/hotline/queue", "The next page (with the same filters).",
                                          parameters={"query.cursor": "$response.body#/next_cursor"})),
                       **errors(*SESSION_READ_ERRORS, "request_invalid")})
def every_platform_queue(
    session: ReadSession,
    _: Reviewer = HotlineStaff,
    platform_id: int | None = Query(None, ge=1, le=2**62),
    status: Literal["pending", "escalated", "removed", "not_ncii", "all"] = Query("pending"),
    min_distance: int | None = Query(None, ge=0, le=256),
    max_distance: int | None = Query(None, ge=0, le=256),
    max_age_hours: int | None = Query(None, ge=1, le=24 * 366),
    signal: str | None = Query(None, min_length=1, max_length=32, pattern=r"^[a-z0-9_]+$"),
    limit: int = Query(50, ge=1, le=200),
    cursor: str | None = Query(None, max_length=32),
) -> QueueOut:
    """Every platform's review queue (or one's, with ``platform_id``): read only."""
    groups, next_after = bank_review.queue(
        session, platform_id, status=status, min_distance=min_distance, max_distance=max_distance,
        max_age_hours=max_age_hours, signal=signal, limit=limit, after=_cursor(cursor),
    )
    return queue_out(groups, next_after)
