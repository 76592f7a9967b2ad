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

import re
from pathlib import Path

import pytest
import schemathesis
from schemathesis.config import SchemathesisConfig
from schemathesis.python import asgi
from sqlalchemy import select

from service.app import create_app
from service.auth import moderators
from service.db.engine import transaction
from service.db.models import MatchEvent

from .api_fuzz import (
    OUTSIDE_THE_SCHEMA, PASSWORD, REACH, Cast, Tally, describe, exercise, fuzz_settings_overrides, routes,
    run_stateful, sweep_outside_the_schema,
)
from .conftest import make_settings
from .helpers import BUSY, create_platform, image_item, random_pdq

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


def test_text_with_a_nul_character_is_refused(client):
    """PostgreSQL cannot store a NUL character: such a hash variant, content_ref, reason or moderator
    name was a 500 there (a probe on PostgreSQL after the fuzz runs, which rarely put a NUL where the
    rest of the request was good enough to reach the database). Now 422 on every backend, nothing stored."""
    def refused(response) -> None:
        assert response.status_code == 422, response.text
        assert response.json()["error"]["code"] == "request_invalid"

    app = client.app
    key = {"Authorization": f"Bearer {create_platform(app, 'nul', ('match', 'review', 'exchange.feedback'))}"}
    with transaction(app.state.sessions) as session:
        moderators.create(session, app.state.settings, "hot", PASSWORD)
    code = random_pdq()
    item = image_item(code)
    refused(client.post("/v1/cases", json={"items": [{**item, "hashes": [{**item["hashes"][0], "variant": "fu\x00ll"}]}]}))
    assert client.post("/v1/cases", json={"items": [item]}).status_code == 201
    app.state.index.catch_up()
    query = {"signal": "pdq", "hash": code, "quality": 100, "structure": BUSY}
    refused(client.post("/v1/match", json={"queries": [{**query, "content_ref": "upload\x00/1"}]}, headers=key))
    refused(client.post("/v1/match/image", files={"file": ("a.png", b"not an image")}, data={"content_ref": "a\x00"},
                        headers=key))
    assert client.post("/v1/match", json={"queries": [{**query, "content_ref": "upload/1"}]}, headers=key).status_code == 200
    with app.state.sessions() as session:
        event = session.scalar(select(MatchEvent.id))
    for path, body in (("/v1/review/decisions", {"match_event_id": event, "decision": "escalate", "reason": "a\x00b"}),
                       ("/v1/review/decisions/bulk", {"match_event_ids": [event], "decision": "escalate", "reason": "\x00"})):
        refused(client.post(path, json=body, headers=key))
    refused(client.post("/v1/moderators/login", json={"name": "h\x00t", "password": PASSWORD}))
    hot = client.post("/v1/moderators/login", json={"name": "hot", "password": PASSWORD}).json()
    refused(client.post("/v1/hotline/hashes/1/retire", json={"reason": "a\x00b"}, headers={"X-CSRF-Token": hot["csrf_token"]}))
    refused(client.post("/review/hotline/hashes/1/retire", data={"reason": "a\x00b", "csrf_token": hot["csrf_token"]}))
    client.cookies.clear()
    nonce = re.search(r'name="login_nonce" value="([^"]+)"', client.get("/review/login").text).group(1)
    refused(client.post("/review/login", data={"name": "h\x00t", "password": PASSWORD, "login_nonce": nonce}))
    refused(client.post("/stopncii/v1/SubmitFeedback", headers={"Ocp-Apim-Subscription-Key": key["Authorization"][7:]},
                        json={"hashFeedbacks": [{"hashValue": code, "feedbackValue": "Blocked", "tags": ["a\x00"]}]}))
