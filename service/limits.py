"""Request body limits, enforced while the body streams in.

A hostile client can send a gigabyte of JSON or a chunked body with no
Content-Length; both are cut off at the limit with a 413, before the
application has read more than the limit.

Past the limit the application is told the client went away (``http.disconnect``)
rather than handed an exception: an exception raised from ``receive`` gets
wrapped on its way (task groups, FastAPI's body parsing) and would come out
as a 400 or a 500. Whatever the application then answers is dropped and
replaced by the 413.
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import error_body


class BodyLimitMiddleware:
    """``upload_limits``: the upload routes' own limits by path (an image, a video); every other body gets
    ``default_limit``."""

    def __init__(self, app: ASGIApp, default_limit: int, upload_limits: dict[str, int]) -> None:
        self.app, self.default_limit, self.upload_limits = app, default_limit, upload_limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.upload_limits.get(scope["path"], self.default_limit)
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await _reject(send, limit)
            return
        seen = 0
        over = False
        started = False

        async def limited_receive() -> Message:
            nonlocal seen, over
            if over:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    over = True
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if over:
                return  # the answer to a cut-off body is the 413 below, whatever the app made of it
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except Exception:
            if not over:
                raise
        if over and not started:
            await _reject(send, limit)


async def _reject(send: Send, limit: int) -> None:
    body = json.dumps(error_body("payload_too_large", f"The request body is larger than {limit} bytes.")).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
