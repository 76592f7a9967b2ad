"""The FastAPI application: storage, the worker's index, routers per actor.

``create_app(settings)`` is all a test or a deployment needs. On start the
schema is migrated, the index loaded (snapshot + change log, or a rebuild),
and a background thread keeps following the change log.
"""

from __future__ import annotations

import gc
import logging
from contextlib import asynccontextmanager

from fastapi import FastAPI

from . import metrics
from .bank_index import BankIndex
from .db.engine import make_engine, make_sessionmaker
from .db.migrate import upgrade
from .errors import install_error_handlers
from .limits import BodyLimitMiddleware
from .review_band import ReviewBand
from .routers import cases, exchange, health, match, match_video, platform_webhook, review, stopncii
from .settings import Settings, get_settings
from .web import routes as web_routes
from .webhooks.worker import DeliveryWorker
from .review_ui import routes as review_ui_routes
from .routers import hotline, moderators

log = logging.getLogger("ncii.app")

JSON_BODY_LIMIT = 4 * 1024 * 1024  # a full case of 1,000 hash groups fits well within this
UPLOAD_ALLOWANCE = 64 * 1024  # multipart framing and the small form fields around the image or video


def _keep_uploads_in_memory(max_upload_bytes: int) -> None:
    """Uploaded images and videos never touch the disk.

    Starlette spools multipart files above ``spool_max_size`` (1 MiB) to a
    temporary file; raising it above the upload limit keeps every upload in
    memory, where ``/v1/match/image`` (or ``/video``) hashes and drops it. (A process-wide
    class attribute: one app per process.)
    """
    from starlette.formparsers import MultiPartParser

    MultiPartParser.spool_max_size = max(MultiPartParser.spool_max_size, max_upload_bytes + UPLOAD_ALLOWANCE)


def _freeze_startup_objects() -> None:
    """Keep the garbage collector off everything that exists once the worker is up.

    numba, SQLAlchemy, FastAPI and the schemas leave ~240k long-lived container
    objects; a full collection walks them all (~150 ms here), and request traffic
    triggers one every few seconds. Profiled under load, collections triggered by
    building a batch answer took three quarters of the event loop's time and made
    the p99. Objects created later (per request) are still collected as usual.
    """
    gc.collect()
    gc.freeze()


def create_app(settings: Settings | None = None, *, migrate: bool = True) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        engine = make_engine(settings)
        if migrate:
            upgrade(engine)
        app.state.engine = engine
        app.state.sessions = make_sessionmaker(engine)
        app.state.readers = make_sessionmaker(engine, read_only=True)
        app.state.index = BankIndex(app.state.readers, settings)
        app.state.index.start()
        app.state.review_band = ReviewBand(app.state.index, app.state.readers, app.state.sessions, settings)
        app.state.review_band.start()
        app.state.webhooks = DeliveryWorker(app.state.sessions, app.state.readers, settings)
        app.state.webhooks.start()
        _freeze_startup_objects()
        try:
            yield
        finally:
            app.state.webhooks.stop()
            app.state.review_band.stop()
            app.state.index.stop()
            engine.dispose()

    app = FastAPI(
        title="ncii-matcher",
        version="0.1.0",
        summary="Hash bank and upload checks against non-consensual intimate imagery. Hashes only.",
        lifespan=lifespan,
        # No Swagger UI or ReDoc pages: FastAPI's load their scripts from a CDN, and a third-party
        # script on this origin could use a moderator's session cookie (and read its CSRF token
        # from /v1/moderators/me). The machine-readable /openapi.json stays (docs/security.md).
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    _keep_uploads_in_memory(max(settings.max_upload_bytes, settings.max_video_upload_bytes))
    install_error_handlers(app)

    app.add_middleware(metrics.MeasureMiddleware)
    app.add_middleware(
        BodyLimitMiddleware,
        default_limit=JSON_BODY_LIMIT,
        upload_limits={
            "/v1/match/image": settings.max_upload_bytes + UPLOAD_ALLOWANCE,
            "/v1/match/video": settings.max_video_upload_bytes + UPLOAD_ALLOWANCE,
        },
    )
    app.include_router(cases.router)
    app.include_router(match.router)
    app.include_router(match_video.router)
    app.include_router(review.router)
    app.include_router(platform_webhook.router)
    app.include_router(moderators.router)
    app.include_router(hotline.router)
    app.include_router(review_ui_routes.router)
    app.include_router(exchange.router)
    app.include_router(stopncii.router)
    app.include_router(health.router)
    app.include_router(web_routes.router)
    return app
