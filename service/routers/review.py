"""Moderators (through their platform's own tooling, for now): the review queue and decisions.

Auth is the platform's API key with the ``review`` scope; a platform sees and decides only
its own match events. Another platform's event gets the same 404 as a missing one.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field, StringConstraints

from ..auth.api_keys import Caller
from ..bank import review as bank_review
from ..db.models import REASON_MAX_CHARS
from ..deps import PLATFORM_KEY_ERRORS, DbSession, ReadSession, as_utc, get_settings, platform_with
from ..errors import BODY_ERRORS, ApiError, errors
from ..openapi_links import link, on
from ..schemas import Strict, VideoMatchOut
from ..settings import Settings

router = APIRouter(prefix="/v1/review", tags=["review (moderators)"], responses=errors(*PLATFORM_KEY_ERRORS))

Decision = Literal["ncii_remove", "not_ncii", "escalate"]
Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=REASON_MAX_CHARS)]


class DecisionIn(Strict):
    match_event_id: int = Field(ge=1, le=2**62, strict=True)
    decision: Decision = Field(description="ncii_remove: NCII, remove it; not_ncii: not NCII; escalate: to a senior reviewer.")
    reason: Reason = Field(description=f"Why (required, 1 to {REASON_MAX_CHARS} characters). Stored with the decision only.")


class ReputationOut(BaseModel):
    ncii_remove: int
    not_ncii: int
    escalate: int
    not_ncii_platforms: int


class DecisionOut(BaseModel):
    decision_id: int
    match_event_id: int
    decision: Decision
    review_status: str
    decided_by: str
    created_at: datetime
    supersedes: int | None = Field(None, description="The escalation this decision replaced, if any.")
    hash_id: int
    hash_status: str = Field(description="active, or suspended (this decision or an earlier one), withdrawn, ...")
    hash_suspended_now: bool
    reputation: ReputationOut


class FeedbackOut(BaseModel):
    ncii_remove: int
    not_ncii: int
    escalate: int
    not_ncii_platforms: int


class QueueMatchOut(BaseModel):
    match_event_id: int
    hash_id: int
    signal: str
    distance: int
    confidence: Literal["high", "review"] | None
    variant: str
    quality: int | None
    hash_status: str
    case_status: str
    case_age_days: int
    review_status: str
    matched_at: datetime
    preview_url: str | None = Field(None, description="The link the platform sent with its query, if any.")
    other_platforms: FeedbackOut = Field(description="Decisions other platforms' reviewers made on the same bank hash.")
    video: VideoMatchOut | None = Field(
        None, description="A video match: the bank video, both shares and the matched time ranges (where to look)."
    )


class QueueGroupOut(BaseModel):
    platform_id: int
    content_ref: str | None
    matches: list[QueueMatchOut]


class QueueOut(BaseModel):
    groups: list[QueueGroupOut]
    next_cursor: str | None = Field(None, description="Pass as ?cursor= for the next page; null at the end.")


_FIRST_EVENT = "$response.body#/groups/0/matches/0/match_event_id"
QUEUED = on(
    200,
    DecideFirstMatch=link("POST", "/v1/review/decisions", "Decide the page's first match (decision and reason: yours).",
                          request_body={"match_event_id": _FIRST_EVENT}),
    DecideFirstMatchInBulk=link("POST", "/v1/review/decisions/bulk", "The same, as a bulk decision.",
                                request_body={"match_event_ids": [_FIRST_EVENT]}),
    NextPage=link("GET", "/v1/review/queue", "The next page (with the same filters).",
                  parameters={"query.cursor": "$response.body#/next_cursor"}),
)


def _cursor(text: str | None) -> int:
    if text is None or text == "":
        return 0
    if not text.isdigit() or len(text) > 18:
        raise ApiError(422, "request_invalid", "The cursor is not valid.", details=[{"loc": ["query", "cursor"],
                       "msg": "not a cursor from this API", "type": "value_error"}])
    return int(text)


@router.get("/queue", response_model=QueueOut, responses={**QUEUED, **errors("request_invalid")})
def review_queue(
    session: ReadSession,
    caller: Caller = Depends(platform_with("review")),
    status: Literal["pending", "escalated", "removed", "not_ncii", "all"] = Query("pending"),
    min_distance: int | None = Query(None, ge=0, le=256),
    max_distance: int | None = Query(None, ge=0, le=256),
    max_age_hours: int | None = Query(None, ge=1, le=24 * 366, description="Only events matched this recently."),
    signal: str | None = Query(None, min_length=1, max_length=32, pattern=r"^[a-z0-9_]+$"),
    limit: int = Query(50, ge=1, le=200, description="Groups (content references) per page."),
    cursor: str | None = Query(None, max_length=32),
) -> QueueOut:
    """This platform's match events to review, grouped per ``content_ref``, oldest first."""
    groups, next_after = bank_review.queue(
        session, caller.platform_id, status=status, min_distance=min_distance, max_distance=max_distance,
        max_age_hours=max_age_hours, signal=signal, limit=limit, after=_cursor(cursor),
    )
    return queue_out(groups, next_after)


def queue_out(groups: list[bank_review.QueueGroup], next_after: int | None) -> QueueOut:
    return QueueOut(
        groups=[
            QueueGroupOut(
                platform_id=g.platform_id,
                content_ref=g.content_ref,
                matches=[
                    QueueMatchOut(
                        **{k: v for k, v in m.__dict__.items() if k != "others"}, other_platforms=FeedbackOut(**m.others)
                    )
                    for m in g.matches
                ],
            )
            for g in groups
        ],
        next_cursor=None if next_after is None else str(next_after),
    )


@router.post("/decisions", status_code=201, response_model=DecisionOut,
             responses=errors(*BODY_ERRORS, "match_event_not_found", "review_already_decided"))
def post_decision(
    body: DecisionIn,
    session: DbSession,
    caller: Caller = Depends(platform_with("review")),
    settings: Settings = Depends(get_settings),
) -> DecisionOut:
    """Decide one of this platform's match events. Decisions are final, except that an escalated
    event takes one more decision (``ncii_remove`` or ``not_ncii``), which supersedes the escalation."""
    try:
        outcome = bank_review.decide(
            session,
            settings,
            platform_id=caller.platform_id,
            decided_by=f"platform:{caller.key_id}",
            match_event_id=body.match_event_id,
            decision=body.decision,
            reason=body.reason,
        )
    except bank_review.EventNotFound:
        raise ApiError(404, "match_event_not_found", "No such match event for this platform.") from None
    except bank_review.AlreadyDecided as error:
        raise ApiError(
            409,
            "review_already_decided",
            "This match event has been decided already; only an escalated event takes a further decision.",
            details={"review_status": error.review_status},
        ) from None
    d, rep = outcome.decision, outcome.reputation
    return DecisionOut(
        decision_id=d.id,
        match_event_id=d.match_event_id,
        decision=d.decision,
        review_status=outcome.event.review_status,
        decided_by=d.decided_by,
        created_at=as_utc(d.created_at),
        supersedes=d.supersedes_id,
        hash_id=d.hash_id,
        hash_status=outcome.hash_status,
        hash_suspended_now=outcome.suspended_now,
        reputation=ReputationOut(
            ncii_remove=rep.ncii_count,
            not_ncii=rep.not_ncii_count,
            escalate=rep.escalate_count,
            not_ncii_platforms=rep.not_ncii_platforms,
        ),
    )


#: Larger ids cannot exist (BIGINT) and would overflow the database driver.
ID_MAX = 2**62


class BulkDecisionIn(Strict):
    match_event_ids: list[Annotated[int, Field(ge=1, le=ID_MAX, strict=True)]] = Field(min_length=1, max_length=bank_review.BULK_MAX)
    decision: Literal["not_ncii", "escalate"] = Field(
        description="Only these two in bulk: a removal is decided one item at a time."
    )
    reason: Reason


class BulkItemOut(BaseModel):
    match_event_id: int
    status: Literal["decided", "not_found", "already_decided"]
    review_status: str | None
    decision_id: int | None


class BulkDecisionOut(BaseModel):
    decided: int
    results: list[BulkItemOut]


@router.post("/decisions/bulk", response_model=BulkDecisionOut, responses=errors(*BODY_ERRORS))
def post_bulk_decision(
    body: BulkDecisionIn,
    session: DbSession,
    caller: Caller = Depends(platform_with("review")),
    settings: Settings = Depends(get_settings),
) -> BulkDecisionOut:
    """The same "not NCII" or "escalate" decision, with one reason, on up to 100 events (one
    transaction). Events another reviewer decided meanwhile, or that are not this platform's,
    are reported and skipped."""
    outcomes = bank_review.decide_many(
        session, settings, platform_id=caller.platform_id, decided_by=f"platform:{caller.key_id}",
        match_event_ids=body.match_event_ids, decision=body.decision, reason=body.reason,
    )
    return bulk_out(outcomes)


def bulk_out(outcomes: list[bank_review.BulkOutcome]) -> BulkDecisionOut:
    return BulkDecisionOut(
        decided=sum(o.status == "decided" for o in outcomes),
        results=[BulkItemOut(**o.__dict__) for o in outcomes],
    )
