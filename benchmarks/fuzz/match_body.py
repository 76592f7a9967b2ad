"""Fuzz target: the ``POST /v1/match`` body, as the route reads it.

FastAPI parses the JSON (``json.loads``; any failure there is its 400 or 422) and validates it
against ``MatchRequest`` (``ValidationError``: 422); then ``match._read_queries`` turns each
query into a code to search or a per-query ``invalid``/``skipped`` result, and must not raise
at all: an exception there is a 500. Every result keeps its index and a known status.
"""

from __future__ import annotations

import json

from pydantic import ValidationError

from service.routers.match import _read_queries
from service.schemas import MatchRequest

from . import Finding

ALLOWED = (ValidationError,)
INSTRUMENT = ("service.routers.match", "service.schemas", "service.matching", "service.video_matching", "service.bank.videos",
              "matcher.hash_value", "matcher.signals", "matcher.pdq")
STATUSES = {"checked", "invalid", "skipped"}


def one_input(data: bytes) -> None:
    try:
        document = json.loads(data)
    except (ValueError, RecursionError):  # FastAPI: 422 for JSONDecodeError, 400 for anything else
        return
    try:
        body = MatchRequest.model_validate(document)
    except ALLOWED:
        return
    results, queries, videos = _read_queries(body)
    if [r["index"] for r in results] != list(range(len(body.queries))):
        raise Finding("results out of order")
    for result in results:
        if result["status"] not in STATUSES:
            raise Finding(f"unknown status {result['status']!r}")
    searched = {q.index for q in queries} | {v.index for v in videos}
    for result in results:
        if (result["status"] == "checked") != (result["index"] in searched):
            raise Finding("a query is 'checked' but not searched, or searched but not 'checked'")
