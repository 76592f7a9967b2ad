"""Hostile requests get a 4xx with a JSON error code, never a 500 and never a hang."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import event

from service.db.models import Case

from .helpers import count, create_platform, image_item, random_pdq

# These do not depend on the storage backend: SQLite only keeps the suite fast.
pytestmark = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)


def _assert_json_4xx(response, status: int | None = None) -> str:
    assert 400 <= response.status_code < 500, (response.status_code, response.text[:300])
    if status is not None:
        assert response.status_code == status, response.text[:300]
    assert response.headers["content-type"].startswith("application/json")
    code = response.json()["error"]["code"]
    assert isinstance(code, str) and code
    return code


JSON = {"Content-Type": "application/json"}


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"{",
        b"not json at all",
        b"\xff\xfe\x00garbage",
        b"[]",
        b"null",
        b'{"items": "many"}',
        b'{"items": [1, 2, 3]}',
        b'{"items": [{"kind": "image", "hashes": [{"signal": 5, "hash": [], "quality": "high"}]}]}',
        b'{"items": [{"kind": "image", "hashes": [{"signal": "pdq", "hash": "ab", "quality": 1e308}]}]}',
        b'{"items": [{"kind": "image", "hashes": [{"signal": "pdq", "hash": "ab", "quality": -1}]}]}',
        b'{"items": [{"kind": "image", "hashes": [{"signal": "pdq", "hash": "\\u0000\\ud800"}]}]}',
        b'{"items": NaN}',
    ],
)
def test_malformed_bodies(client, raw):
    assert _assert_json_4xx(client.post("/v1/cases", content=raw, headers=JSON)) in {"request_invalid", "bad_request"}
    assert count(client.app, Case) == 0


def test_types_are_what_the_schema_says(client, platform):
    """A number as a string, a float for an integer, a boolean for a number or a number for a boolean
    is refused: the service used to coerce them where its OpenAPI document says they are invalid
    (found by schemathesis, tests/service/test_schema_fuzz.py)."""
    code = random_pdq()
    for hashes in ({"quality": "100"}, {"quality": 100.0}, {"quality": True}, {"quality": 100, "structure": "400"}):
        item = {"kind": "image", "hashes": [{"signal": "pdq", "hash": code, **hashes}]}
        assert _assert_json_4xx(client.post("/v1/cases", json={"items": [item]}), 422) == "request_invalid"
    assert count(client.app, Case) == 0
    for query in ({"structure": "400"}, {"structure": 400.0}, {"quality": False}):
        body = {"queries": [{"signal": "pdq", "hash": code, **query}]}
        assert _assert_json_4xx(client.post("/v1/match", json=body, headers=platform), 422) == "request_invalid"
    review = {"Authorization": f"Bearer {create_platform(client.app, 'reviewing', ('review',))}"}
    for body in ({"url": "https://hooks.example/ncii", "enabled": 1}, {"url": "https://hooks.example/ncii", "rotate_secret": "true"}):
        assert _assert_json_4xx(client.put("/v1/platform/webhook", json=body, headers=review), 422) == "request_invalid"
    # What the schema allows still works: integers, and integers where it expects a number.
    item = {"kind": "video", "vpdq": {"interval": 1, "frames": [{"pdq": code, "quality": 100, "frame": 0, "time": 0}]}}
    assert client.post("/v1/cases", json={"items": [item]}).status_code == 201


def test_huge_strings_are_refused_without_echo(client):
    huge = "a" * 3_000_000
    response = client.post("/v1/cases", json={"items": [image_item(huge)]})
    _assert_json_4xx(response, 422)
    assert len(response.content) < 10_000  # the input is not echoed back
    response = client.post("/v1/cases", json={"items": [dict(image_item(random_pdq()), label=huge)]})
    _assert_json_4xx(response, 422)
    assert len(response.content) < 10_000


@pytest.mark.parametrize("depth", [1_000, 100_000, 1_000_000])
def test_deeply_nested_json(client, depth):
    raw = b"[" * depth + b"]" * depth
    _assert_json_4xx(client.post("/v1/cases", content=raw, headers=JSON))
    nested = b'{"items": ' + b"[" * depth + b"]" * depth + b"}"
    _assert_json_4xx(client.post("/v1/cases", content=nested, headers=JSON))


def test_too_many_hashes_in_one_item(client):
    item = {"kind": "image", "hashes": [{"signal": "pdq", "hash": random_pdq(), "quality": 90}] * 65}
    _assert_json_4xx(client.post("/v1/cases", json={"items": [item]}), 422)


def test_oversize_json_body_declared_and_chunked(client):
    big = b'{"items": [' + b" " * (5 * 1024 * 1024) + b"]}"
    assert _assert_json_4xx(client.post("/v1/cases", content=big, headers=JSON), 413) == "payload_too_large"

    def chunks():
        for _ in range(80):
            yield b" " * 65536

    chunked = client.post("/v1/cases", content=chunks(), headers=JSON)
    assert _assert_json_4xx(chunked, 413) == "payload_too_large"
    lying = client.post("/v1/cases", content=b"{}", headers={**JSON, "Content-Length": "abc"})
    assert 400 <= lying.status_code < 500


def test_wrong_content_types(client):
    _assert_json_4xx(client.post("/v1/cases", content=b"items=1", headers={"Content-Type": "application/x-www-form-urlencoded"}))
    _assert_json_4xx(client.post("/v1/cases", content=json.dumps({"items": []}).encode(), headers={"Content-Type": "text/plain"}))


def test_unknown_routes_and_methods(client):
    assert _assert_json_4xx(client.get("/v1/nothing-here"), 404) == "not_found"
    assert _assert_json_4xx(client.put("/v1/cases"), 405) == "method_not_allowed"
    assert _assert_json_4xx(client.get("/v1/match")) == "method_not_allowed"


def test_header_abuse(client):
    case = client.post("/v1/cases", json={"items": [image_item(random_pdq())]}).json()
    url = f"/v1/cases/{case['case_number']}"
    assert _assert_json_4xx(client.get(url, headers={"X-Case-PIN": "1" * 10_000}))
    assert _assert_json_4xx(client.get("/v1/cases/" + "A" * 5000, headers={"X-Case-PIN": case["pin"]}))
    assert _assert_json_4xx(client.post("/v1/match", json={"queries": []}, headers={"Authorization": "Bearer " + "x" * 5000}))


def test_a_failed_commit_is_never_acknowledged(client):
    """A case is acknowledged only once it is committed: if the commit fails, the answer is an error."""

    def refuse(_session):
        raise RuntimeError("disk full")

    event.listen(client.app.state.sessions, "before_commit", refuse)
    try:
        response = client.post("/v1/cases", json={"items": [image_item(random_pdq())]})
    finally:
        event.remove(client.app.state.sessions, "before_commit", refuse)
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "internal"
    assert "case_number" not in response.text
    assert count(client.app, Case) == 0


def test_an_unexpected_error_logs_the_route_never_the_case_number(client, caplog):
    """Access logs are off because URLs carry case numbers; the 500 handler's log line too names the
    route's template only."""
    import logging

    case = client.post("/v1/cases", json={"items": [image_item(random_pdq())]}).json()

    def refuse(_session):
        raise RuntimeError("disk full")

    caplog.set_level(logging.ERROR, logger="ncii.errors")
    event.listen(client.app.state.sessions, "before_commit", refuse)
    try:
        response = client.get(f"/v1/cases/{case['case_number']}", headers={"X-Case-PIN": case["pin"]})
    finally:
        event.remove(client.app.state.sessions, "before_commit", refuse)
    assert response.status_code == 500
    logged = [r.getMessage() for r in caplog.records if r.name == "ncii.errors"]
    assert logged == ["unexpected error on GET /v1/cases/{case_number}: RuntimeError"]
    assert case["case_number"] not in "".join(logged)
