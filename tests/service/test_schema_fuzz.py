"""Schemathesis against the service's OpenAPI document: every operation, as every role
(``api_fuzz.ROLES``), a few generated requests each with a fixed seed so CI does not flake;
then a few stateful runs along the document's links.

What is checked is in ``api_fuzz``: no 5xx, answers that conform to the schema, and the
authorization matrix ``api_fuzz.REACH`` (and ``OUTSIDE_THE_SCHEMA`` for the pages and forms).
The long run is ``python -m benchmarks.reliability --api`` (``benchmarks/results/reliability.md``).
SQLite only: the routes and their doors are the same on PostgreSQL, whose storage the other
service tests cover on both backends (the long run takes ``--backend postgresql``).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import schemathesis
from schemathesis.config import SchemathesisConfig
from schemathesis.python import asgi

from service.app import create_app

from .api_fuzz import (
    OUTSIDE_THE_SCHEMA, REACH, Cast, Tally, describe, exercise, fuzz_settings_overrides, routes, run_stateful,
    sweep_outside_the_schema,
)
from .conftest import make_settings

#: Generated requests per operation in the fuzzing phase (each then sent as every role), and
#: stateful runs: small enough for CI (about a minute here), the long run has the big numbers.
EXAMPLES = 30
STATEFUL_RUNS = 40

CONFIG = SchemathesisConfig.from_dict({
    "seed": 20261204,
    "generation": {"deterministic": True, "max-examples": EXAMPLES, "mode": "all", "database": "none"},
    "phases": {"coverage": {"enabled": False}, "stateful": {"enabled": False}},
})


def _app(data_dir: Path):
    return create_app(make_settings(data_dir, **fuzz_settings_overrides()))


# Building the document needs no database: this app is never started.
SCHEMA = schemathesis.openapi.from_dict(_app(Path("/nonexistent")).openapi(), config=CONFIG)


@pytest.fixture(scope="module")
def cast(tmp_path_factory):
    app = _app(tmp_path_factory.mktemp("fuzz") / "data")
    with asgi.get_client(app):  # starts the app (schemathesis keeps it running for its requests)
        pass
    try:
        yield Cast(app)
    finally:
        asgi.shutdown_lifespans()


@pytest.fixture(scope="module")
def tally() -> Tally:
    return Tally()


def test_every_route_says_whom_it_serves_and_its_dependencies_agree():
    """The tables are the routers' doors: a route added, or a door changed, without its entry fails here
    (and the generated requests below check the tables against the answers)."""
    found = routes(_app(Path("/nonexistent")))
    in_schema = {label: reach for label, (reach, documented) in found.items() if documented}
    outside = {label: reach for label, (reach, documented) in found.items() if not documented}
    assert in_schema == REACH
    assert outside == OUTSIDE_THE_SCHEMA


def test_the_document_served_is_the_one_fuzzed(cast):
    assert cast.http.get("/openapi.json").json() == SCHEMA.raw_schema


def test_every_error_is_documented_in_the_one_error_shape():
    """FastAPI's default 422 (``HTTPValidationError``, ``{"detail": [...]}``) is not what the service
    answers: every route documents its own errors, ``{"error": {"code", "message", "details"}}``."""
    document = SCHEMA.raw_schema
    assert "HTTPValidationError" not in document["components"]["schemas"]
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                if status.startswith("4"):
                    schema = response["content"]["application/json"]["schema"]
                    assert schema["properties"]["error"]["properties"]["code"]["enum"], (method, path, status)


@SCHEMA.parametrize()
def test_every_operation_as_every_role(case, cast, tally):
    findings = exercise(case, cast, tally)
    assert not findings, describe(findings)


def test_routes_outside_the_schema_as_every_role(cast, tally):
    findings = sweep_outside_the_schema(cast, tally)
    assert not findings, describe(findings)


def test_stateful_runs_along_the_links(cast, tally):
    report = run_stateful(SCHEMA, cast, tally, runs=STATEFUL_RUNS, strict=True)
    assert report["links"], report  # the chains do start (a case opened, then read or withdrawn...)
