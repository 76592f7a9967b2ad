"""The review API: queue isolation, decisions, the victim's removal counts, hash reputation and
the suspension rule, bad input. Both backends (SQLite file and PostgreSQL)."""

from __future__ import annotations

import numpy as np
from sqlalchemy import select

from service.db.models import AuditEntry, BankHash, ChangeLog, HashReputation, MatchEvent, ReviewDecision

from .helpers import catch_up, count, create_platform, flip_bits, image_item, match, matched_ids, pdq_query, random_pdq, submit


def _headers(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _platforms(client, *names: str) -> list[dict[str, str]]:
    return [_headers(create_platform(client.app, name, ("match", "review"))) for name in names]


def _case_with_match(client, headers, content_ref: str, code: str | None = None, distance: int = 0):
    code = code or random_pdq()
    case = submit(client, image_item(code))
    catch_up(client.app)
    response = match(client, headers, pdq_query(flip_bits(code, distance), content_ref))
    assert matched_ids(response)[0], response.text
    return case, code, response.json()["results"][0]["matches"][0]["hash_id"]


def _queue(client, headers, **params):
    response = client.get("/v1/review/queue", headers=headers, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def _event_ids(queue: dict) -> list[int]:
    return [m["match_event_id"] for g in queue["groups"] for m in g["matches"]]


def _decide(client, headers, event_id, decision, reason="checked by a moderator"):
    return client.post(
        "/v1/review/decisions", headers=headers, json={"match_event_id": event_id, "decision": decision, "reason": reason}
    )


def test_queue_is_per_platform_and_grouped_per_content_ref(client):
    a, b = _platforms(client, "alpha", "beta")
    _, code, hash_id = _case_with_match(client, a, "upload/1", distance=3)
    match(client, a, pdq_query(code, "upload/1"))  # same upload again: same group
    match(client, a, pdq_query(code, "upload/2"))
    match(client, b, pdq_query(code, "b-upload/9"))

    qa = _queue(client, a)
    assert [g["content_ref"] for g in qa["groups"]] == ["upload/1", "upload/2"]
    first = qa["groups"][0]["matches"]
    assert len(first) == 2 and {m["distance"] for m in first} == {0, 3}
    m = first[0]
    assert m["hash_id"] == hash_id and m["signal"] == "pdq" and m["variant"] == "full" and m["quality"] == 100
    assert m["confidence"] == "high" and m["case_age_days"] == 0 and m["review_status"] == "pending"
    assert m["other_platforms"] == {"ncii_remove": 0, "not_ncii": 0, "escalate": 0, "not_ncii_platforms": 0}

    qb = _queue(client, b)
    assert [g["content_ref"] for g in qb["groups"]] == ["b-upload/9"]
    assert not set(_event_ids(qa)) & set(_event_ids(qb))

    # Filters and paging.
    assert len(_event_ids(_queue(client, a, max_distance=0))) == 2
    page1 = _queue(client, a, limit=1)
    assert [g["content_ref"] for g in page1["groups"]] == ["upload/1"] and page1["next_cursor"]
    page2 = _queue(client, a, limit=1, cursor=page1["next_cursor"])
    assert [g["content_ref"] for g in page2["groups"]] == ["upload/2"] and page2["next_cursor"] is None

    # b's decision shows in a's queue as other platforms' feedback; b cannot decide a's events.
    b_event = _event_ids(qb)[0]
    assert _decide(client, b, b_event, "ncii_remove").status_code == 201
    assert _queue(client, a)["groups"][0]["matches"][0]["other_platforms"]["ncii_remove"] == 1
    for event in _event_ids(qa):
        response = _decide(client, b, event, "not_ncii")
        assert response.status_code == 404 and response.json()["error"]["code"] == "match_event_not_found"
    assert _decide(client, b, 10**9, "not_ncii").status_code == 404
    assert _queue(client, a)["groups"][0]["matches"][0]["review_status"] == "pending"


def test_review_scope_required(client, platform):
    assert client.get("/v1/review/queue", headers=platform).status_code == 403
    assert client.get("/v1/review/queue").status_code == 401


def test_decisions_update_status_and_the_victims_removal_count(client):
    (a,) = _platforms(client, "alpha")
    case, code, hash_id = _case_with_match(client, a, "upload/1")
    match(client, a, pdq_query(code, "upload/2"))
    match(client, a, pdq_query(code, "upload/3"))
    e1, e2, e3 = _event_ids(_queue(client, a))

    response = _decide(client, a, e1, "ncii_remove", "  nude photo, matches the report  ")
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["review_status"] == "removed" and body["decision"] == "ncii_remove" and body["hash_status"] == "active"
    assert body["decided_by"].startswith("platform:") and body["supersedes"] is None
    assert body["reputation"] == {"ncii_remove": 1, "not_ncii": 0, "escalate": 0, "not_ncii_platforms": 0}

    # Final decisions are final (409); an escalation takes one superseding decision.
    again = _decide(client, a, e1, "not_ncii")
    assert again.status_code == 409 and again.json()["error"]["details"] == {"review_status": "removed"}
    esc = _decide(client, a, e2, "escalate")
    assert esc.status_code == 201 and esc.json()["review_status"] == "escalated"
    assert _decide(client, a, e2, "escalate").status_code == 409
    final = _decide(client, a, e2, "ncii_remove")
    assert final.status_code == 201 and final.json()["supersedes"] == esc.json()["decision_id"]

    assert _event_ids(_queue(client, a)) == [e3]
    assert _event_ids(_queue(client, a, status="removed")) == [e1, e2]

    status = client.get(f"/v1/cases/{case['case_number']}", headers={"X-Case-PIN": case["pin"]}).json()
    assert status["matches"] == 3 and status["confirmed_removals"] == 2
    assert status["items"][0]["confirmed_removals"] == 2

    with client.app.state.sessions() as session:
        stored = session.scalars(select(ReviewDecision).order_by(ReviewDecision.id)).all()
        assert [d.decision for d in stored] == ["ncii_remove", "escalate", "ncii_remove"]
        assert stored[0].reason == "nude photo, matches the report"
        audits = session.scalars(select(AuditEntry).where(AuditEntry.action == "review.decided")).all()
        assert len(audits) == 3 and all("reason" not in a.details for a in audits)
        assert session.get(HashReputation, hash_id).ncii_count == 2


def test_two_platforms_saying_not_ncii_suspend_the_hash(client):
    a, b, c = _platforms(client, "alpha", "beta", "gamma")
    _, code, hash_id = _case_with_match(client, a, "a/1")
    match(client, a, pdq_query(code, "a/2"))
    match(client, b, pdq_query(code, "b/1"))
    a1, a2 = _event_ids(_queue(client, a))
    (b1,) = _event_ids(_queue(client, b))

    # One platform, twice: still one platform.
    assert _decide(client, a, a1, "not_ncii", "a landscape").json()["hash_status"] == "active"
    second = _decide(client, a, a2, "not_ncii", "a landscape").json()
    assert second["hash_status"] == "active" and second["reputation"]["not_ncii_platforms"] == 1
    assert count(client.app, ChangeLog, ChangeLog.reason == "suspended") == 0

    third = _decide(client, b, b1, "not_ncii", "ordinary holiday photo").json()
    assert third["hash_status"] == "suspended" and third["hash_suspended_now"] is True
    assert third["reputation"] == {"ncii_remove": 0, "not_ncii": 3, "escalate": 0, "not_ncii_platforms": 2}

    with client.app.state.sessions() as session:
        assert session.get(BankHash, hash_id).status == "suspended"
        log = session.scalars(select(ChangeLog).where(ChangeLog.hash_id == hash_id).order_by(ChangeLog.seq)).all()
        assert [(e.op, e.reason) for e in log] == [("add", "submitted"), ("remove", "suspended")]
        suspended = session.scalars(select(AuditEntry).where(AuditEntry.action == "hash.suspended")).all()
        assert [(s.subject_id, s.details["not_ncii_platforms"]) for s in suspended] == [(str(hash_id), 2)]

    # Stops matching: in answers at once, and out of the index once it has caught up.
    assert matched_ids(match(client, c, pdq_query(code, "c/1"))) == [[]]
    catch_up(client.app)
    code_array = np.frombuffer(bytes.fromhex(code), dtype=np.uint8)[None, :]
    assert all(h.hash_id != hash_id for h in client.app.state.index.search("pdq", code_array, 31)[0])
    assert count(client.app, ChangeLog, ChangeLog.reason == "suspended") == 1


def test_suspension_threshold_is_a_setting(tmp_path, database_url):
    from fastapi.testclient import TestClient

    from service.app import create_app

    from .conftest import make_settings

    app = create_app(make_settings(tmp_path / "data3", database_url, suspend_after_platforms=3))
    with TestClient(app, raise_server_exceptions=False) as client:
        a, b = _platforms(client, "alpha", "beta")
        _, code, _ = _case_with_match(client, a, "a/1")
        match(client, b, pdq_query(code, "b/1"))
        (a1,) = _event_ids(_queue(client, a))
        (b1,) = _event_ids(_queue(client, b))
        _decide(client, a, a1, "not_ncii")
        assert _decide(client, b, b1, "not_ncii").json()["hash_status"] == "active"


def test_bad_decisions_are_refused(client):
    (a,) = _platforms(client, "alpha")
    _case_with_match(client, a, "a/1")
    (event,) = _event_ids(_queue(client, a))
    bad_bodies = [
        {"match_event_id": event, "decision": "delete", "reason": "x"},
        {"match_event_id": event, "decision": "ncii_remove"},
        {"match_event_id": event, "decision": "ncii_remove", "reason": ""},
        {"match_event_id": event, "decision": "ncii_remove", "reason": "   "},
        {"match_event_id": event, "decision": "ncii_remove", "reason": "x" * 1001},
        {"match_event_id": str(event), "decision": "ncii_remove", "reason": "x"},
        {"match_event_id": [event], "decision": "ncii_remove", "reason": "x"},
        {"match_event_id": True, "decision": "ncii_remove", "reason": "x"},
        {"match_event_id": 0, "decision": "ncii_remove", "reason": "x"},
        {"match_event_id": event, "decision": "ncii_remove", "reason": 5},
        {"match_event_id": event, "decision": "ncii_remove", "reason": "x", "moderator_name": "me"},
        [],
    ]
    for body in bad_bodies:
        response = client.post("/v1/review/decisions", headers=a, json=body)
        assert response.status_code == 422, (body, response.text)
        assert response.json()["error"]["code"] == "request_invalid"
        assert "x" * 100 not in response.text
    for params in ({"status": "bogus"}, {"max_distance": -1}, {"limit": 0}, {"limit": 10_000}, {"cursor": "abc"}):
        assert client.get("/v1/review/queue", headers=a, params=params).status_code == 422, params
    assert _queue(client, a)["groups"][0]["matches"][0]["review_status"] == "pending"
    assert count(client.app, ReviewDecision) == 0
    assert _decide(client, a, event, "ncii_remove", "x" * 1000).status_code == 201


def test_simultaneous_not_ncii_decisions_still_suspend(client):
    """Two platforms deciding at the same moment: the second waits for the first's locks and counts it."""
    import threading

    from service.bank import review as bank_review

    a, b = _platforms(client, "alpha", "beta")
    _, code, hash_id = _case_with_match(client, a, "a/1")
    match(client, b, pdq_query(code, "b/1"))
    (a1,) = _event_ids(_queue(client, a))
    (b1,) = _event_ids(_queue(client, b))
    with client.app.state.sessions() as session:
        platform_of = dict(session.execute(select(MatchEvent.id, MatchEvent.platform_id)).all())
    app, settings, outcome = client.app, client.app.state.settings, {}

    def second() -> None:
        with app.state.sessions() as session, session.begin():
            outcome["b"] = bank_review.decide(
                session, settings, platform_id=platform_of[b1], decided_by="platform:b", match_event_id=b1,
                decision="not_ncii", reason="ordinary photo",
            ).suspended_now

    with app.state.sessions() as session, session.begin():
        bank_review.decide(
            session, settings, platform_id=platform_of[a1], decided_by="platform:a", match_event_id=a1,
            decision="not_ncii", reason="ordinary photo",
        )
        thread = threading.Thread(target=second)
        thread.start()
        thread.join(0.5)
        assert thread.is_alive()  # waiting for the first transaction
    thread.join(30)
    assert outcome == {"b": True}
    with app.state.sessions() as session:
        assert session.get(BankHash, hash_id).status == "suspended"
