"""The victim's pages: the hashing page (``/``), the case status page (``/status``), their
static files, and the hash-group strategy the page's worker hashes with.

Privacy is a property of what is served, so it is enforced here rather than hoped for:
every response carries a Content-Security-Policy that lets the page talk to its own
origin only (no CDN, font, analytics or any other third party can load, and no image
byte can be sent anywhere else), no referrer, no cookies. The pages work without a
network once loaded, until the moment of submission: the worker, the strategy and all
three languages are fetched up front.

Support lines (helplines, crisis line) differ per deployment: ``support.json`` beside
this file, or the file named by ``NCII_SUPPORT_FILE``.
"""

from __future__ import annotations

import dataclasses
import json
import os
from functools import lru_cache
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.templating import Jinja2Templates
from starlette.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send

from matcher import groups
from matcher.video import DEFAULT_INTERVAL

HERE = Path(__file__).resolve().parent
STATIC_DIR = HERE / "static"
LANGUAGES = ("en", "fr", "nl")

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "img-src 'self' blob: data:",
        "media-src blob:",
        "worker-src 'self' blob:",
        "connect-src 'self'",
        "style-src 'self'",
        "script-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
        "form-action 'self'",
    )
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}
# Pages: never kept by a shared computer's cache or a proxy (the result view shows a PIN).
PAGE_CACHE = "no-store"
# Static files have no version in their names, so a browser revalidates each time
# (a cheap 304 with the ETag) and never runs a stale worker against a newer page.
STATIC_CACHE = "no-cache"

templates = Jinja2Templates(directory=str(HERE / "templates"))

router = APIRouter()


class _SecureStaticFiles(StaticFiles):
    """StaticFiles with the pages' security headers and the static cache policy."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"cache-control"]
                headers += [(k.lower().encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]
                headers.append((b"cache-control", STATIC_CACHE.encode()))
                message = {**message, "headers": headers}
            await send(message)

        await super().__call__(scope, receive, send_with_headers)


router.mount("/static", _SecureStaticFiles(directory=str(STATIC_DIR)), name="static")


@lru_cache(maxsize=4)
def _support_lines(path: str) -> tuple[dict, ...]:
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    lines = []
    for line in data.get("lines", []):
        label = line.get("label", {})
        lines.append(
            {
                "number": str(line["number"]),
                "tel": "".join(c for c in str(line.get("tel", line["number"])) if c.isdigit() or c == "+"),
                "label": {lang: str(label.get(lang) or label.get("en") or "") for lang in LANGUAGES},
            }
        )
    return tuple(lines)


def support_lines() -> tuple[dict, ...]:
    """The deployment's support lines (``NCII_SUPPORT_FILE``, else the bundled ``support.json``)."""
    return _support_lines(os.environ.get("NCII_SUPPORT_FILE") or str(HERE / "support.json"))


def _page(request: Request, template: str) -> HTMLResponse:
    response = templates.TemplateResponse(request, template, {"support": support_lines()})
    response.headers.update(SECURITY_HEADERS)
    response.headers["Cache-Control"] = PAGE_CACHE
    return response


@router.api_route("/", methods=["GET", "HEAD"], response_class=HTMLResponse, include_in_schema=False)
def hashing_page(request: Request) -> HTMLResponse:
    """Choose photos and videos, hash them on the device, send the hashes, get a case number."""
    return _page(request, "index.html")


@router.api_route("/status", methods=["GET", "HEAD"], response_class=HTMLResponse, include_in_schema=False)
def status_page(request: Request) -> HTMLResponse:
    """Case number + PIN: the case's state and counts, and withdrawing it."""
    return _page(request, "status.html")


@router.get("/v1/strategy", tags=["cases (victims)"])
def strategy() -> JSONResponse:
    """The hash-group strategy a submitted image is hashed with (``group.js`` ``bankGroup`` reads it)."""
    body = dataclasses.asdict(groups.DEFAULT_STRATEGY)
    return JSONResponse(body, headers={**SECURITY_HEADERS, "Cache-Control": STATIC_CACHE})


@router.get("/v1/limits", tags=["cases (victims)"])
def limits(request: Request) -> JSONResponse:
    """What the page may hash for a case: a video's longest duration, largest frame and most frames,
    and vPDQ's sampling interval; the page refuses a video over them before decoding it."""
    settings = request.app.state.settings
    body = {
        "video_interval": DEFAULT_INTERVAL,
        "max_video_seconds": settings.max_video_seconds,
        "max_video_pixels": settings.max_video_pixels,
        "max_video_frames": settings.max_video_frames,
    }
    return JSONResponse(body, headers={**SECURITY_HEADERS, "Cache-Control": STATIC_CACHE})
