"""Platforms' takedown webhook: its configuration and its deliveries (docs/webhooks.md).

Auth is the platform's API key with the ``review`` scope (the webhook carries review
decisions). A platform sees only its own webhook and deliveries; another platform's delivery
gets the same 404 as a missing one. The signing secret is shown once, when it is new.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, Field

from ..auth.api_keys import Caller
from ..deps import PLATFORM_KEY_ERRORS, DbSession, ReadSession, as_utc, get_settings, platform_with
from ..errors import BODY_ERRORS, ApiError, errors
from ..openapi_links import link, on
from ..schemas import Strict
from ..settings import Settings
from ..webhooks import endpoints, outbox, targets

router = APIRouter(prefix="/v1/platform/webhook", tags=["webhook (platforms)"], responses=errors(*PLATFORM_KEY_ERRORS))

DeliveryStatus = Literal["pending", "succeeded", "failed"]


class WebhookIn(Strict):
    url: str | None = Field(None, max_length=targets.MAX_URL_CHARS, description="http(s) URL that receives takedowns.")
    enabled: bool | None = Field(None, description="false: stop sending (queued deliveries then fail as endpoint_disabled).")
    rotate_secret: bool = Field(
        False, description="Issue a new signing secret. Deliveries carry a signature with the previous one too, "
        "for the deployment's grace period (24 h by default), so the receiver can switch without refusing any.",
    )
    previous_secret_stops_now: bool = Field(
        False, description="The previous secret stops signing at once (it leaked): with rotate_secret, or alone "
        "to end a grace period early.",
    )


class WebhookOut(BaseModel):
    url: str
    enabled: bool
    secret_version: int
    previous_secret_valid_until: datetime | None = Field(
        None, description="Until then, deliveries are also signed with secret version - 1 (after a rotation)."
    )
    created_at: datetime
    updated_at: datetime
    secret: str | None = Field(None, description="Only when new (first configuration, rotation): shown once.")


class AttemptOut(BaseModel):
    number: int
    started_at: datetime
    duration_ms: int
    status_code: int | None
    error: str | None
    outcome: str
    retry_in_seconds: float | None
    response_snippet: str | None


class DeliveryOut(BaseModel):
    delivery_id: str = Field(description="Also the Ncii-Webhook-Id header and the payload's event_id.")
    event_type: str
    decision_id: int
    status: DeliveryStatus
    attempts: int = Field(description="Attempts in the current round (a redelivery starts a new round).")
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    next_attempt_at: datetime | None
    completed_at: datetime | None


class DeliveryDetailOut(DeliveryOut):
    payload: dict[str, Any]
    attempt_log: list[AttemptOut]


class DeliveriesOut(BaseModel):
    deliveries: list[DeliveryOut]
    next_cursor: str | None


def _webhook_out(configured: endpoints.WebhookEndpoint, secret: str | None = None) -> WebhookOut:
    return WebhookOut(
        url=configured.url,
        enabled=configured.enabled,
        secret_version=configured.secret_version,
        previous_secret_valid_until=_still_valid(configured.previous_secret_until),
        created_at=as_utc(configured.created_at),
        updated_at=as_utc(configured.updated_at),
        secret=secret,
    )


def _still_valid(until: datetime | None) -> datetime | None:
    until = as_utc(until)
    return until if until is not None and until > datetime.now(timezone.utc) else None


def _delivery_fields(row) -> dict:
    return dict(
        delivery_id=row.public_id,
        event_type=row.event_type,
        decision_id=row.decision_id,
        status=row.status,
        attempts=row.attempts,
        last_status_code=row.last_status_code,
        last_error=row.last_error,
        created_at=as_utc(row.created_at),
        next_attempt_at=as_utc(row.next_attempt_at) if row.status == "pending" else None,
        completed_at=as_utc(row.completed_at),
    )


@router.put("", response_model=WebhookOut, responses={
    201: {"model": WebhookOut, "description": "Created, with the signing secret (shown this once)."},
    **errors(*BODY_ERRORS, "webhook_url_invalid", "webhook_url_not_allowed", "webhook_not_configured"),
})
def put_webhook(
    body: WebhookIn,
    response: Response,
    session: DbSession,
    caller: Caller = Depends(platform_with("review")),
    settings: Settings = Depends(get_settings),
) -> WebhookOut:
    """Create (201, with the secret) or change (200) this platform's webhook."""
    try:
        configured = endpoints.configure(
            session,
            settings,
            caller.platform_id,
            url=body.url,
            enabled=body.enabled,
            rotate_secret=body.rotate_secret,
            previous_secret_stops_now=body.previous_secret_stops_now,
            actor=("platform", str(caller.platform_id)),
        )
    except targets.TargetRefused as refused:
        raise ApiError(422, refused.code, refused.message) from None
    except LookupError:
        raise ApiError(404, "webhook_not_configured", "No webhook yet: send a url to create one.") from None
    if configured.created:
        response.status_code = 201
    return _webhook_out(configured.endpoint, configured.secret)


@router.get("", response_model=WebhookOut, responses=errors("webhook_not_configured", "request_invalid"))
def get_webhook(session: ReadSession, caller: Caller = Depends(platform_with("review"))) -> WebhookOut:
    """This platform's webhook configuration (never its secret)."""
    endpoint = endpoints.get(session, caller.platform_id)
    if endpoint is None:
        raise ApiError(404, "webhook_not_configured", "This platform has no webhook.")
    return _webhook_out(endpoint)


def _cursor(text: str | None) -> int | None:
    if text is None or text == "":
        return None
    if not text.isdigit() or len(text) > 18:
        raise ApiError(422, "request_invalid", "The cursor is not valid.",
                       details=[{"loc": ["query", "cursor"], "msg": "not a cursor from this API", "type": "value_error"}])
    return int(text)


_FIRST_DELIVERY = {"path.delivery_id": "$response.body#/deliveries/0/delivery_id"}


@router.get("/deliveries", response_model=DeliveriesOut, responses={**on(
    200,
    Delivery=link("GET", "/v1/platform/webhook/deliveries/{delivery_id}", "The first delivery, its payload and attempts.",
                  parameters=_FIRST_DELIVERY),
    Redeliver=link("POST", "/v1/platform/webhook/deliveries/{delivery_id}/redeliver", "Send the first delivery again.",
                   parameters=_FIRST_DELIVERY),
    NextPage=link("GET", "/v1/platform/webhook/deliveries", "The next page.",
                  parameters={"query.cursor": "$response.body#/next_cursor"}),
), **errors("request_invalid")})
def list_deliveries(
    session: ReadSession,
    caller: Caller = Depends(platform_with("review")),
    status: DeliveryStatus | None = Query(None),
    limit: int = Query(50, ge=1, le=200),
    cursor: str | None = Query(None, max_length=32),
) -> DeliveriesOut:
    """This platform's deliveries, newest first."""
    rows, next_before = outbox.page(session, caller.platform_id, status=status, limit=limit, before=_cursor(cursor))
    return DeliveriesOut(
        deliveries=[DeliveryOut(**_delivery_fields(r)) for r in rows],
        next_cursor=None if next_before is None else str(next_before),
    )


def _public_id(delivery_id: str) -> str:
    if not (delivery_id.startswith("whd_") and len(delivery_id) <= 40):
        raise ApiError(404, "delivery_not_found", "No such delivery for this platform.")
    return delivery_id


@router.get("/deliveries/{delivery_id}", response_model=DeliveryDetailOut,
            responses=errors("delivery_not_found", "request_invalid"))
def get_delivery(delivery_id: str, session: ReadSession, caller: Caller = Depends(platform_with("review"))) -> DeliveryDetailOut:
    """One delivery, its payload and every attempt."""
    try:
        row = outbox.find(session, caller.platform_id, _public_id(delivery_id))
    except outbox.DeliveryNotFound:
        raise ApiError(404, "delivery_not_found", "No such delivery for this platform.") from None
    attempts = [
        AttemptOut(
            number=a.number,
            started_at=as_utc(a.started_at),
            duration_ms=a.duration_ms,
            status_code=a.status_code,
            error=a.error,
            outcome=a.outcome,
            retry_in_seconds=a.retry_in_seconds,
            response_snippet=a.response_snippet,
        )
        for a in outbox.attempts_of(session, row.id)
    ]
    return DeliveryDetailOut(**_delivery_fields(row), payload=row.payload, attempt_log=attempts)


@router.post("/deliveries/{delivery_id}/redeliver", status_code=202, response_model=DeliveryOut,
             responses=errors("delivery_not_found", "delivery_not_redeliverable", "request_invalid"))
def redeliver(delivery_id: str, session: DbSession, caller: Caller = Depends(platform_with("review"))) -> DeliveryOut:
    """Queue a failed delivery again (same delivery id, so the receiver can deduplicate)."""
    try:
        row = outbox.redeliver(session, caller.platform_id, _public_id(delivery_id), str(caller.platform_id))
    except outbox.DeliveryNotFound:
        raise ApiError(404, "delivery_not_found", "No such delivery for this platform.") from None
    except outbox.NotRedeliverable as refused:
        raise ApiError(409, "delivery_not_redeliverable", str(refused)) from None
    session.flush()
    return DeliveryOut(**_delivery_fields(row))
