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
