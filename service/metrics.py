"""Prometheus metrics, correct across several worker processes.

``ncii serve`` points ``PROMETHEUS_MULTIPROC_DIR`` at a fresh folder before
the workers start, so ``/metrics`` adds up every worker's counters.
"""

from __future__ import annotations

import os
import time

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

REQUESTS = Counter("ncii_http_requests_total", "HTTP requests", ["route", "method", "status"])
LATENCY = Histogram(
    "ncii_http_request_seconds",
    "HTTP request latency",
    ["route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
MATCHES = Counter("ncii_matches_total", "Bank hashes matched by platform queries", ["signal"])
REVIEW_BAND_CODES = Counter(
    "ncii_review_band_codes_total", "PDQ query codes of the deferred review band", ["outcome"]
)  # queued, dropped (backlog full), searched, failed
SEARCH_CACHE = Counter(
    "ncii_index_cache_total", "Perceptual query codes answered from the worker's recent answers, or searched",
    ["outcome"],
)  # hit, miss
INDEX_SIZE = Gauge("ncii_index_hashes", "Hashes in this worker's index", multiprocess_mode="max")
INDEX_SEQ = Gauge("ncii_index_seq", "Last change-log entry applied by this worker", multiprocess_mode="min")
WEBHOOK_DELIVERIES = Counter(
    "ncii_webhook_deliveries_total", "Takedown webhook deliveries settled, by outcome", ["outcome"]
)  # succeeded, failed (permanent), gave_up (attempts exhausted)
WEBHOOK_ATTEMPTS = Counter("ncii_webhook_attempts_total", "Takedown webhook attempts, by outcome", ["outcome"])
VIDEO_UPLOADS = Counter(
    "ncii_video_uploads_total", "Videos sent to /v1/match/video, by outcome", ["outcome"]
)  # hashed, busy (no decoder free), or the decoding error's code (video_corrupt, ...)
VIDEO_HASH_SECONDS = Histogram(
    "ncii_video_hash_seconds",
    "Time to decode and hash one uploaded video (what NCII_VIDEO_DECODES is sized by)",
    buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300),
)


class MeasureMiddleware:
    """Counts requests and times them per route template (never per URL: URLs carry case numbers).

    Plain ASGI rather than ``BaseHTTPMiddleware``, which costs a task group per
    request and wraps errors raised while the body is read.
    """

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_status(message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            name = getattr(scope.get("route"), "path", "unmatched")
            REQUESTS.labels(name, scope["method"], str(status)).inc()
            LATENCY.labels(name).observe(time.perf_counter() - started)


def render() -> tuple[bytes, str]:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    from prometheus_client import REGISTRY

    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
