"""Operators' endpoints: liveness, readiness, Prometheus metrics; and the API's own description."""

from __future__ import annotations

import pytest

from .helpers import catch_up, image_item, match, pdq_query, random_pdq, submit

pytestmark = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)


def test_healthz_and_readyz(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    body = ready.json()
    assert body["status"] == "ready" and body["index_hashes"] == 0
    assert body["index_loaded_from"] == "database"
    submit(client, image_item(random_pdq()))
    catch_up(client.app)
    assert client.get("/readyz").json()["index_hashes"] == 1


def test_not_ready_when_the_index_stops_following(client):
    client.app.state.index.stop()  # the follower would otherwise refresh last_poll_ok within 50 ms
    client.app.state.index.last_poll_ok -= 3600
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["problems"] == ["index not following the change log"]


def test_metrics_count_requests_by_route_template(client, platform):
    code = random_pdq()
    case = submit(client, image_item(code))
    catch_up(client.app)
    match(client, platform, pdq_query(code))
    client.get(f"/v1/cases/{case['case_number']}", headers={"X-Case-PIN": case["pin"]})
    text = client.get("/metrics").text
    assert 'ncii_http_requests_total{method="POST",route="/v1/match",status="200"}' in text
    assert 'route="/v1/cases/{case_number}"' in text
    assert case["case_number"] not in text  # URLs are never labels: they carry case numbers
    assert 'ncii_matches_total{signal="pdq"}' in text
    assert "ncii_index_hashes 1.0" in text


def test_no_api_docs_pages_load_third_party_scripts_on_this_origin(client):
    """FastAPI's /docs and /redoc pull their scripts from a CDN: on the origin where moderator
    sessions live, such a script could act with a moderator's cookie. Only the JSON is served."""
    for path in ("/docs", "/redoc", "/docs/oauth2-redirect"):
        assert client.get(path).status_code == 404, path
    document = client.get("/openapi.json")
    assert document.status_code == 200 and document.json()["info"]["title"] == "ncii-matcher"
