"""The FastAPI application: storage, the worker's index, routers per actor.

``create_app(settings)`` is all a test or a deployment needs. On start the
schema is migrated, the index loaded (snapshot + change log, or a rebuild),
and a background thread keeps following the change log.
"""

from __future__ import annotations

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
from .routers import cases, health, match, review
from .settings import Settings, get_settings
from .web import routes as web_routes

log = logging.getLogger("ncii.app")

JSON_BODY_LIMIT = 4 * 1024 * 1024  # a full case of 1,000 hash groups fits well within this
UPLOAD_PATHS = ("/v1/match/image",)
UPLOAD_ALLOWANCE = 64 * 1024  # multipart framing and the small form fields around the image


def _keep_uploads_in_memory(max_upload_bytes: int) -> None:
    """Uploaded images never touch the disk.

    Starlette spools multipart files above ``spool_max_size`` (1 MiB) to a
    temporary file; raising it above the upload limit keeps every upload in
    memory, where ``/v1/match/image`` hashes and drops it. (A process-wide
    class attribute: one app per process.)
    """
    from starlette.formparsers import MultiPartParser

    MultiPartParser.spool_max_size = max(MultiPartParser.spool_max_size, max_upload_bytes + UPLOAD_ALLOWANCE)


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
        try:
            yield
        finally:
            app.state.review_band.stop()
            app.state.index.stop()
            engine.dispose()

    app = FastAPI(
        title="ncii-matcher",
        version="0.1.0",
        summary="Hash bank and upload checks against non-consensual intimate imagery. Hashes only.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    _keep_uploads_in_memory(settings.max_upload_bytes)
    install_error_handlers(app)

    app.add_middleware(metrics.MeasureMiddleware)
    app.add_middleware(
        BodyLimitMiddleware,
        default_limit=JSON_BODY_LIMIT,
        upload_limit=settings.max_upload_bytes + UPLOAD_ALLOWANCE,
        upload_paths=UPLOAD_PATHS,
    )
    app.include_router(cases.router)
    app.include_router(match.router)
    app.include_router(review.router)
    app.include_router(health.router)
    app.include_router(web_routes.router)
    return app
