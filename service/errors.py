"""One JSON error shape with a stable code for every 4xx (and the rare 5xx).

``{"error": {"code": "case_locked", "message": "...", "details": ...}}``.
Clients branch on ``code``; ``message`` is for people. Nothing in an error
body or log line ever echoes uploaded bytes.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger("ncii.errors")


class ApiError(Exception):
    def __init__(
        self, status: int, code: str, message: str, details: Any = None, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.details, self.headers = status, code, message, details, headers


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    body: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        body["details"] = details
    return {"error": body}


_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "too_many_requests",
}


#: Every error code a documented route answers with: its status and when. ``errors(...)`` turns
#: a route's codes into its OpenAPI ``responses``; docs/service.md ("Errors") has the same table.
CODES: dict[str, tuple[int, str]] = {
    "bad_request": (400, "the body could not be read as declared (e.g. not UTF-8, broken multipart)"),
    "cursor_invalid": (400, "the cursor is not one this feed handed out"),
    "case_auth_failed": (401, "case number or PIN not right (also: an unknown or malformed number, no PIN)"),
    "api_key_invalid": (401, "no, malformed, unknown, wrong or revoked API key"),
    "moderator_session_required": (401, "no live moderator session (the ncii_review cookie)"),
    "moderator_login_failed": (401, "wrong name or password (or a disabled account)"),
    "api_key_scope": (403, "the key lacks the scope the route needs"),
    "moderator_role": (403, "the session's role may not do this"),
    "csrf_token_invalid": (403, "a state-changing request without this session's CSRF token (X-CSRF-Token)"),
    "cross_origin_refused": (403, "a state-changing request from another site (Origin, Sec-Fetch-Site)"),
    "hash_not_found": (404, "no such bank hash"),
    "case_not_found": (404, "no such case"),
    "match_event_not_found": (404, "no such match event for this platform (another platform's is the same answer)"),
    "webhook_not_configured": (404, "this platform has no webhook yet"),
    "delivery_not_found": (404, "no such delivery for this platform"),
    "hash_status_conflict": (409, "the action does not apply to the hash's status"),
    "review_already_decided": (409, "the match event has a final decision (only an escalated one takes another)"),
    "cursor_ahead": (409, "the cursor is past the end of this bank's feed: read it again from the beginning"),
    "delivery_not_redeliverable": (409, "the delivery is not failed, or the webhook is disabled"),
    "payload_too_large": (413, "body over its limit (declared or streamed), or an upload over its byte limit"),
    "image_too_large": (413, "an image over NCII_MAX_UPLOAD_PIXELS (e.g. a decompression bomb)"),
    "video_too_large": (413, "a video frame over NCII_MAX_VIDEO_PIXELS"),
    "video_too_long": (413, "a video over NCII_MAX_VIDEO_SECONDS or NCII_MAX_VIDEO_FRAMES sampled frames"),
    "request_invalid": (422, "invalid JSON, wrong types (none coerced), unknown fields, limits on lengths, text with a "
                        "NUL character; details lists loc/msg/type"),
    "case_nothing_usable": (422, "no item of the case can be used; per-item reasons in details; nothing stored"),
    "case_too_many_items": (422, "more than NCII_MAX_CASE_ITEMS items"),
    "match_too_many_queries": (422, "more than NCII_MAX_MATCH_QUERIES queries"),
    "match_too_many_frames": (422, "more than NCII_MAX_MATCH_FRAMES video frame hashes in the request"),
    "feedback_refused": (422, "some feedback items cannot be used (details); nothing stored"),
    "stopncii_refused": (422, "some items cannot be used (details); nothing stored"),
    "webhook_url_invalid": (422, "not an http(s) URL, credentials in it, too long, ..."),
    "webhook_url_not_allowed": (422, "the host is or resolves to a loopback, private, link-local or reserved address"),
    "image_empty": (422, "an empty upload"),
    "image_not_an_image": (422, "not a picture (nor a file matched by its MD5 alone)"),
    "image_unsupported_format": (422, "a picture format that is not decoded"),
    "image_corrupt": (422, "a truncated or damaged picture"),
    "video_empty": (422, "zero bytes, or no frame that decodes"),
    "video_not_a_video": (422, "not a container that is opened (e.g. a picture)"),
    "video_no_video_stream": (422, "audio only"),
    "video_unsupported_format": (422, "a video codec that is not decoded"),
    "video_corrupt": (422, "a truncated or damaged video"),
    "case_locked": (429, "too many wrong PINs; Retry-After says how long"),
    "moderator_locked": (429, "too many wrong passwords; Retry-After says how long"),
    "video_busy": (429, "every video decoder of the worker is busy and enough uploads already wait; Retry-After"),
}

_RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait before trying again.", "required": True,
                                "schema": {"type": "integer", "minimum": 0}}}


def errors(*codes: str) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for the error codes a route answers with, grouped by status: the one
    error shape, with ``code`` limited to that route's codes (so a code a route gives without
    saying so breaks its schema)."""
    by_status: dict[int, list[str]] = {}
    for code in dict.fromkeys(codes):
        by_status.setdefault(CODES[code][0], []).append(code)
    responses: dict[int | str, dict[str, Any]] = {}
    for status, listed in sorted(by_status.items()):
        schema = {
            "type": "object", "required": ["error"], "additionalProperties": False,
            "properties": {"error": {
                "type": "object", "required": ["code", "message"], "additionalProperties": False,
                "properties": {"code": {"type": "string", "enum": listed}, "message": {"type": "string"},
                               "details": {"description": "Per-code details (per-item reasons, the failing fields)."}},
            }},
        }
        response: dict[str, Any] = {
            "description": "; ".join(f"`{code}`: {CODES[code][1]}" for code in listed),
            "content": {"application/json": {"schema": schema}},
        }
        if status == 429:
            response["headers"] = _RETRY_AFTER
        responses[status] = response
    return responses


#: The door of every route that takes a body: unreadable (400), too big (413), invalid (422).
BODY_ERRORS = ("bad_request", "payload_too_large", "request_invalid")


def _clean_validation_errors(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    # Pydantic echoes the offending input; drop it (it may be large or hostile).
    return [{"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")} for e in errors]


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, error: ApiError) -> JSONResponse:
        return JSONResponse(
            error_body(error.code, error.message, error.details), status_code=error.status, headers=error.headers
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, error: RequestValidationError) -> JSONResponse:
        return JSONResponse(
            error_body("request_invalid", "The request is not valid.", _clean_validation_errors(error.errors())),
            status_code=422,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, error: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(error.status_code, f"http_{error.status_code}")
        message = error.detail if isinstance(error.detail, str) else code.replace("_", " ")
        return JSONResponse(error_body(code, message), status_code=error.status_code, headers=error.headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, error: Exception) -> JSONResponse:
        # The route's template, never the URL: /v1/cases/{case_number} would log a case number.
        route = getattr(request.scope.get("route"), "path", "unmatched")
        log.error("unexpected error on %s %s: %s", request.method, route, type(error).__name__)
        return JSONResponse(error_body("internal", "Something went wrong on our side."), status_code=500)
