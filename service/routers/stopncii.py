"""The StopNCII-compatible exchange, for clients built for StopNCII.org (python-threatexchange's
``StopNCIIAPI``, Meta's HMA): point their base URL at ``https://<host>/stopncii/v1``.

Authentication: StopNCII clients send two keys, ``Ocp-Apim-Subscription-Key`` (the subscriber)
and ``x-functions-key`` (per endpoint). Both carry the platform's own API key here: every
header that is present must hold the same key, and the key's scopes decide the endpoints
(``exchange.read`` FetchHashes, ``exchange.feedback`` SubmitFeedback, ``exchange.write``
SubmitHashes), exactly as on the native routes.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from ..auth.api_keys import Caller
from ..db.engine import transaction
from ..db.models import FEEDBACK_MAX_TAGS, FEEDBACK_TAG_MAX_CHARS
from ..deps import PLATFORM_KEY_ERRORS, DbSession, ReadSession, check_platform_key, get_settings
from ..errors import BODY_ERRORS, ApiError, errors
from ..openapi_links import link, on
from ..exchange import feed, feedback, stopncii
from ..schemas import refuse_nul
from ..settings import Settings

router = APIRouter(prefix="/stopncii/v1", tags=["exchange, StopNCII dialect (platforms)"],
                   responses=errors(*PLATFORM_KEY_ERRORS))

MAX_ITEMS = 1000


def stopncii_platform(scope: str):
    """A dependency: the platform key from the StopNCII headers, which must carry ``scope``."""

    async def require(
        request: Request,
        subscription_key: str = Header(default="", alias="Ocp-Apim-Subscription-Key", max_length=300),
        function_key: str = Header(default="", alias="x-functions-key", max_length=300),
    ) -> Caller:
        keys = {k.strip() for k in (subscription_key, function_key) if k.strip()}
        if len(keys) != 1:
            raise ApiError(
                401, "api_key_invalid",
                "Send the platform API key as Ocp-Apim-Subscription-Key and/or x-functions-key (the same key in both).",
            )
        return await check_platform_key(request, keys.pop(), scope, how="Ocp-Apim-Subscription-Key / x-functions-key")

    require.__name__ = f"stopncii_platform_{scope.replace('.', '_')}"
    return require


class _Tolerant(BaseModel):
    """StopNCII clients may send fields we do not use (``count``, timestamps): ignored, never stored."""

    model_config = ConfigDict(extra="ignore")

    _no_nul = field_validator("*")(refuse_nul)


Tag = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=FEEDBACK_TAG_MAX_CHARS)]


class CSPFeedbackIn(_Tolerant):
    feedbackValue: str = Field(max_length=32)
    tags: list[Tag] = Field(default_factory=list, max_length=FEEDBACK_MAX_TAGS)


class HashFeedbackIn(CSPFeedbackIn):
    hashValue: str = Field(max_length=256)


class SubmitFeedbackIn(_Tolerant):
    hashFeedbacks: list[HashFeedbackIn] = Field(min_length=1, max_length=MAX_ITEMS)


class HashRecordIn(_Tolerant):
    signalType: str = Field(max_length=64)
    hashValue: str = Field(max_length=256)
    CSPFeedbacks: list[CSPFeedbackIn] = Field(default_factory=list, max_length=4)


class SubmitHashesIn(_Tolerant):
    hashRecords: list[HashRecordIn] = Field(min_length=1, max_length=MAX_ITEMS)


def _refused(error: stopncii.Refused | feedback.Refused) -> ApiError:
    return ApiError(422, "stopncii_refused", "Nothing was stored: some items cannot be used.", details=error.problems)


@router.get("/FetchHashes", responses={
    **on(200, NextPage=link("GET", "/stopncii/v1/FetchHashes", "The changes after this page.",
                            parameters={"query.nextPageToken": "$response.body#/nextPageToken"})),
    **errors("cursor_invalid", "cursor_ahead", "request_invalid"),
})
def fetch_hashes(
    request: Request,
    session: ReadSession,
    caller: Caller = Depends(stopncii_platform("exchange.read")),
    startTimestamp: int = Query(10, ge=0, le=stopncii.LATEST_TIMESTAMP, description="Unix seconds: changes made then or later."),
    pageSize: int = Query(stopncii.DEFAULT_PAGE_SIZE, ge=1, le=feed.MAX_LIMIT, description="Changes read per page."),
    nextPageToken: str | None = Query(None, max_length=64, description="From the previous page; wins over startTimestamp."),
) -> JSONResponse:
    """Hash records (per value, its state now) for the changes after the token or since the time."""
    try:
        fetched = stopncii.fetch(
            session, platform_id=caller.platform_id, start_timestamp=startTimestamp, page_size=pageSize,
            token=nextPageToken,
        )
    except feed.CursorInvalid:
        raise ApiError(400, "cursor_invalid", "The nextPageToken is not one this feed handed out.") from None
    except feed.CursorAhead:
        raise ApiError(409, "cursor_ahead", "The nextPageToken is past the end of this bank's feed: start again from a "
                       "timestamp.") from None
    with transaction(request.app.state.sessions) as writer:
        feed.record_read(writer, caller.platform_id, caller.key_id, "stopncii", fetched.page)
    return JSONResponse(fetched.body)  # plain JSON types already: no encoder pass over every record


@router.post("/SubmitFeedback", responses=errors(*BODY_ERRORS, "stopncii_refused"))
def submit_feedback(
    body: SubmitFeedbackIn,
    session: DbSession,
    caller: Caller = Depends(stopncii_platform("exchange.feedback")),
    settings: Settings = Depends(get_settings),
) -> dict:
    """The platform's verdict per hash value (on every bank hash that holds it); all or nothing."""
    try:
        verdicts = stopncii.parse_feedbacks([item.model_dump() for item in body.hashFeedbacks])
        hashes = stopncii.give_feedback(
            session, settings, platform_id=caller.platform_id, key_id=caller.key_id, verdicts=verdicts
        )
    except (stopncii.Refused, feedback.Refused) as error:
        raise _refused(error) from None
    return {"count": len(verdicts), "hashesUpdated": hashes}


@router.post("/SubmitHashes", responses=errors(*BODY_ERRORS, "stopncii_refused"))
def submit_hashes(
    body: SubmitHashesIn,
    session: DbSession,
    caller: Caller = Depends(stopncii_platform("exchange.write")),
    settings: Settings = Depends(get_settings),
) -> dict:
    """The platform's own hashes into the bank (its case), each with its verdict; all or nothing."""
    try:
        values = stopncii.parse_submissions([record.model_dump() for record in body.hashRecords])
        result = stopncii.submit_hashes(
            session, settings, platform_id=caller.platform_id, key_id=caller.key_id, values=values
        )
    except (stopncii.Refused, feedback.Refused) as error:
        raise _refused(error) from None
    return {
        "count": len(values),
        "added": result.added,
        "existing": result.existing,
        "suspended": result.suspended,
    }
