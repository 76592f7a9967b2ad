"""Operators: liveness, readiness (index loaded and current) and Prometheus metrics."""

from __future__ import annotations

import time

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy import text

from .. import metrics
from ..bank_index import BankIndex
from ..deps import get_index

router = APIRouter(tags=["health (operators)"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process answers."""
    return {"status": "ok"}


class ReadyOut(BaseModel):
    status: str = Field(description="ready, or not_ready (then with problems, and answered 503).")
    index_hashes: int
    index_seq: int
    index_loaded_from: str = Field(description="snapshot or database (empty while loading).")
    index_load_seconds: float
    problems: list[str] | None = Field(None, description="What is not ready.")


@router.get("/readyz", response_model=ReadyOut,
            responses={503: {"model": ReadyOut, "description": "Not ready: the database or the index (problems)."}})
def readyz(request: Request, index: BankIndex = Depends(get_index)) -> JSONResponse:
    """Ready when the database answers and this worker's index is loaded and following the log."""
    settings = request.app.state.settings
    problems = []
    try:
        with request.app.state.readers() as session:  # a reader: never queues behind a writer
            session.execute(text("SELECT 1"))
    except Exception:
        problems.append("database unreachable")
    if not index.ready:
        problems.append("index loading")
    elif time.monotonic() - index.last_poll_ok > max(5.0, 10 * settings.index_poll_seconds):
        problems.append("index not following the change log")
    body = {
        "status": "ready" if not problems else "not_ready",
        "index_hashes": index.size(),
        "index_seq": index.seq,
        "index_loaded_from": index.loaded_from,
        "index_load_seconds": round(index.load_seconds, 3),
    }
    if problems:
        body["problems"] = problems
    return JSONResponse(body, status_code=200 if not problems else 503)


@router.get("/metrics", include_in_schema=False)
def prometheus_metrics(index: BankIndex = Depends(get_index)) -> Response:
    metrics.INDEX_SIZE.set(index.size())
    metrics.INDEX_SEQ.set(index.seq)
    payload, content_type = metrics.render()
    return Response(payload, media_type=content_type)
