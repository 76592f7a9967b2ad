"""Platforms that match locally: the bank's change feed, and their verdicts on bank hashes.

Auth is the platform's API key (``Authorization: Bearer``): ``exchange.read`` for the feed,
``exchange.feedback`` for verdicts. Every feed request is one audit row; every feedback
request is one audit row listing what changed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, Field, StringConstraints

from matcher.errors import MatcherError
from matcher.signals import get_signal

from ..auth.api_keys import Caller
from ..db.engine import transaction
from ..db.models import FEEDBACK_MAX_TAGS, FEEDBACK_TAG_MAX_CHARS
from ..deps import PLATFORM_KEY_ERRORS, DbSession, ReadSession, get_settings, platform_with
from ..errors import BODY_ERRORS, ApiError, errors
from ..openapi_links import link, on
from ..exchange import feed, feedback
from ..schemas import Strict
from ..settings import Settings

router = APIRouter(prefix="/v1/exchange", tags=["exchange (platforms)"], responses=errors(*PLATFORM_KEY_ERRORS))


class FeedbackCountsOut(BaseModel):
    ncii: int = Field(description="Verdicts that it is NCII: review decisions ncii_remove and feedback blocked.")
    not_ncii: int = Field(description="Verdicts that it is not: review decisions not_ncii and feedback not_blocked.")
    escalate: int = Field(description="Review decisions escalate.")
    platforms_not_ncii: int = Field(description="Distinct platforms whose verdict is not NCII (the suspension rule's input).")


class FeedFrameOut(BaseModel):
    frame: int
    time: float = Field(description="Seconds from the video's start.")


class FeedVideoOut(BaseModel):
    video_id: int = Field(description="The bank video this frame code belongs to (as /v1/match names it).")
    frames: list[FeedFrameOut] = Field(description="The sampled frames of that video that had this code, in time order.")


class FeedRecordOut(BaseModel):
    seq: int = Field(description="The change's position in the bank's change log.")
    hash_id: int
    signal: str
    hash: str = Field(description="Lowercase hex.")
    op: str = Field(description="add: the hash is matchable from now; remove: it is not.", examples=["add", "remove"])
    reason: str = Field(description="Why: submitted, withdrawn, suspended, reinstated, retired, ...")
    status: str = Field(description="The hash's status now (it may have changed since this record's change).")
    quality: int | None
    structure: int | None = Field(None, description="PDQ: the gradient energy uncapped (its quality capped at 100); "
                                  "what a matcher bands the pair's threshold by. None where unknown.")
    variant: str
    case_status: str
    feedback: FeedbackCountsOut
    at: datetime
    video: FeedVideoOut | None = Field(None, description="signal vpdq: the video of this frame code and its times.")


class FeedPageOut(BaseModel):
    records: list[FeedRecordOut]
    next_cursor: str = Field(description="Opaque; pass it as ?cursor= to continue after this page (also when it is empty).")
    has_more: bool = Field(description="More records are available right now.")


def _bad_cursor() -> ApiError:
    return ApiError(400, "cursor_invalid", "The cursor is not one this feed handed out.")


def _cursor_ahead() -> ApiError:
    return ApiError(
        409, "cursor_ahead", "The cursor is past the end of this bank's feed (another bank's, or the bank was "
        "restored): read the feed again from the beginning."
    )


FEED_PAGE = on(
    200,
    NextPage=link("GET", "/v1/exchange/hashes", "The changes after this page.",
                  parameters={"query.cursor": "$response.body#/next_cursor"}),
    FeedbackOnFirstRecord=link(
        "POST", "/v1/exchange/feedback", "This platform's verdict on the page's first hash.",
        request_body={"feedback": [{"hash_id": "$response.body#/records/0/hash_id", "signal": "$response.body#/records/0/signal",
                                    "hash": "$response.body#/records/0/hash", "verdict": "pending_review"}]}),
)


@router.get("/hashes", response_model=FeedPageOut,
            responses={**FEED_PAGE, **errors("cursor_invalid", "cursor_ahead", "request_invalid")})
def read_feed(
    request: Request,
    session: ReadSession,
    caller: Caller = Depends(platform_with("exchange.read")),
    cursor: str | None = Query(None, max_length=64, description="From a previous page's next_cursor; none: from the beginning."),
    limit: int = Query(feed.DEFAULT_LIMIT, ge=1, le=feed.MAX_LIMIT, description="Records per page."),
) -> Response:
    """The bank's changes after ``cursor``, oldest first: additions, withdrawals, suspensions."""
    try:
        page = feed.read_page(session, feed.decode_cursor(cursor), limit)
    except feed.CursorInvalid:
        raise _bad_cursor() from None
    except feed.CursorAhead:
        raise _cursor_ahead() from None
    # The read is on the record before any of it is sent.
    with transaction(request.app.state.sessions) as writer:
        feed.record_read(writer, caller.platform_id, caller.key_id, "native", page)
    # Serialised once, from the model built here: FastAPI would validate a 10,000-record page
    # against the response model again first, which costs more than reading it.
    page_out = FeedPageOut(
        records=[
            FeedRecordOut(
                seq=r.seq,
                hash_id=r.hash_id,
                signal=r.signal,
                hash=r.hash,
                op=r.op,
                reason=r.reason,
                status=r.status,
                quality=r.quality,
                structure=r.structure,
                variant=r.variant,
                case_status=r.case_status,
                feedback=FeedbackCountsOut(
                    ncii=r.feedback.ncii, not_ncii=r.feedback.not_ncii, escalate=r.feedback.escalate,
                    platforms_not_ncii=r.feedback.platforms_not_ncii,
                ),
                at=r.at,
                video=r.video,
            )
            for r in page.records
        ],
        next_cursor=feed.encode_cursor(page.last),
        has_more=page.has_more,
    )
    return Response(page_out.model_dump_json(), media_type="application/json")


MAX_FEEDBACK_ITEMS = 1000

Tag = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=FEEDBACK_TAG_MAX_CHARS)]


class FeedbackItemIn(Strict):
    hash_id: int = Field(ge=1, le=2**63 - 1, strict=True)
    signal: str = Field(max_length=32, description="The bank hash's signal, as the feed gave it (a safety check).")
    hash: str = Field(max_length=256, description="The bank hash's value in hex, as the feed gave it (a safety check).")
    verdict: Literal["pending_review", "blocked", "not_blocked"] = Field(
        description="pending_review: a match awaits review; blocked: reviewed, it is NCII; not_blocked: reviewed, it is not."
    )
    tags: list[Tag] = Field(default_factory=list, max_length=FEEDBACK_MAX_TAGS, description="Short labels, kept for this platform only.")


class FeedbackIn(Strict):
    feedback: list[FeedbackItemIn] = Field(min_length=1, max_length=MAX_FEEDBACK_ITEMS)


class FeedbackResultOut(BaseModel):
    index: int
    hash_id: int
    verdict: str
    previous: str | None = Field(description="This platform's verdict on the hash before this request, if any.")
    changed: bool = Field(description="False when the same verdict and tags were on record already.")
    hash_status: str
    hash_suspended_now: bool


class FeedbackOut(BaseModel):
    results: list[FeedbackResultOut]


def _refused(problems: list[dict]) -> ApiError:
    return ApiError(422, "feedback_refused", "Nothing was stored: some items cannot be used.", details=problems)


@router.post("/feedback", response_model=FeedbackOut, responses=errors(*BODY_ERRORS, "feedback_refused"))
def post_feedback(
    body: FeedbackIn,
    session: DbSession,
    caller: Caller = Depends(platform_with("exchange.feedback")),
    settings: Settings = Depends(get_settings),
) -> FeedbackOut:
    """This platform's verdicts on bank hashes, all or nothing; its latest verdict on a hash wins."""
    verdicts: list[feedback.Verdict] = []
    problems = []
    for index, item in enumerate(body.feedback):
        try:
            value = get_signal(item.signal).parse(item.hash)
        except MatcherError as error:
            problems.append({"index": index, "code": error.code, "reason": str(error)})
            continue
        tags = tuple(dict.fromkeys(item.tags))
        verdicts.append(feedback.Verdict(item.hash_id, value.signal, value.code, item.verdict, tags))
    if problems:
        raise _refused(problems)
    try:
        outcomes = feedback.give(
            session, settings, platform_id=caller.platform_id, key_id=caller.key_id, verdicts=verdicts, dialect="native"
        )
    except feedback.Refused as error:
        raise _refused(error.problems) from None
    return FeedbackOut(
        results=[
            FeedbackResultOut(
                index=i, hash_id=o.hash_id, verdict=o.verdict, previous=o.previous, changed=o.changed,
                hash_status=o.hash_status, hash_suspended_now=o.suspended_now,
            )
            for i, o in enumerate(outcomes)
        ]
    )
