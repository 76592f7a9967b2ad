"""The exchange: the change feed (contract, cursor, audit, gap-free under concurrent writes) and
platforms' feedback (idempotent, counted in the reputation, driving the suspension rule)."""

from __future__ import annotations

import base64
import threading

import pytest
from sqlalchemy import select

from service.bank import review as bank_review
from service.db.models import AuditEntry, BankHash, ChangeLog, ExchangeFeedback, MatchEvent, Platform
from service.exchange import feedback

from .helpers import (
    BUSY, catch_up, count, create_platform, file_item, image_item, match, pdq_query, pin_headers, random_pdq, submit
)

FEED = "/v1/exchange/hashes"
FEEDBACK = "/v1/exchange/feedback"


@pytest.fixture
def reader(client) -> dict[str, str]:
    return {"Authorization": f"Bearer {create_platform(client.app, 'mirror', ('exchange.read',))}"}


def read_all(client, headers, limit=1000, cursor=None) -> tuple[list[dict], str]:
    records = []
    while True:
        params = {"limit": limit} | ({"cursor": cursor} if cursor else {})
        response = client.get(FEED, params=params, headers=headers)
        assert response.status_code == 200, response.text
        body = response.json()
        records += body["records"]
        cursor = body["next_cursor"]
        if not body["has_more"]:
            return records, cursor


# ------------------------------------------------------------------------------------ auth


def test_feed_needs_a_key_with_the_read_scope(client, platform):
    assert client.get(FEED).status_code == 401
    assert client.get(FEED).json()["error"]["code"] == "api_key_invalid"
    assert client.get(FEED, headers={"Authorization": "Bearer ncii_nope_nope"}).status_code == 401
    refused = client.get(FEED, headers=platform)  # a key with the match scope only
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "api_key_scope"
    assert count(client.app, AuditEntry, AuditEntry.action == "exchange.read") == 0


# ------------------------------------------------------------------------------- contents


def test_feed_records_submissions_withdrawals_in_order_without_case_numbers(client, reader):
    pdq_a, pdq_b, md5 = random_pdq(), random_pdq(), "9e107d9d372bb6826bd81d3542a419d6"
    first = submit(client, image_item(pdq_a, pdq_b, quality=88), file_item(md5))
    second = submit(client, image_item(random_pdq()))
    assert client.delete(f"/v1/cases/{first['case_number']}", headers=pin_headers(first)).status_code == 200

    records, _ = read_all(client, reader)
    assert [r["seq"] for r in records] == sorted(r["seq"] for r in records)
    assert [(r["op"], r["reason"]) for r in records] == [("add", "submitted")] * 4 + [("remove", "withdrawn")] * 3
    by_hash = {r["hash"]: r for r in records if r["op"] == "add"}
    assert set(by_hash) >= {pdq_a, pdq_b, md5}
    a = by_hash[pdq_a]
    assert a["signal"] == "pdq" and a["quality"] == 88 and a["variant"] == "full" and a["structure"] is None
    assert [r["structure"] for r in records if r["op"] == "add" and r["signal"] == "pdq" and r["quality"] == 100] == [BUSY]
    assert a["status"] == "withdrawn" and a["case_status"] == "withdrawn"  # the state now
    assert a["feedback"] == {"ncii": 0, "not_ncii": 0, "escalate": 0, "platforms_not_ncii": 0}
    assert by_hash[md5]["signal"] == "md5" and by_hash[md5]["quality"] is None
    removed = {r["hash_id"] for r in records if r["op"] == "remove"}
    assert removed == {by_hash[h]["hash_id"] for h in (pdq_a, pdq_b, md5)}
    assert all(r["at"].endswith(("Z", "+00:00")) for r in records)
    # Nothing that could open or identify a case: no case numbers, PINs or case ids anywhere.
    text = client.get(FEED, headers=reader).text
    for case in (first, second):
        assert case["case_number"] not in text and case["pin"] not in text
        assert case["case_number"].replace("-", "") not in text
    assert "case_id" not in text and "case_number" not in text


def test_paging_with_the_cursor_sees_every_change_once(client, reader):
    submit(client, image_item(*[random_pdq() for _ in range(7)]))
    everything, _ = read_all(client, reader, limit=1000)
    assert len(everything) == 7
    paged, cursor = read_all(client, reader, limit=3)
    assert [r["seq"] for r in paged] == [r["seq"] for r in everything]
    # At the end: an empty page that keeps its cursor, and new changes appear after it.
    empty = client.get(FEED, params={"cursor": cursor}, headers=reader).json()
    assert empty == {"records": [], "next_cursor": cursor, "has_more": False}
    submit(client, image_item(random_pdq()))
    later = client.get(FEED, params={"cursor": cursor}, headers=reader).json()
    assert len(later["records"]) == 1 and later["records"][0]["seq"] > paged[-1]["seq"]


BAD_CURSORS = [
    "not-a-cursor", "12", base64.urlsafe_b64encode(b"ncii-feed:9:1").decode(),
    base64.urlsafe_b64encode(b"ncii-feed:1:-1").decode(), base64.urlsafe_b64encode(b"ncii-feed:1:01").decode(),
    "%%%", "x" * 64,
]


def test_a_malformed_cursor_is_a_400_and_a_bad_limit_a_422(client, reader):
    for cursor in BAD_CURSORS:
        response = client.get(FEED, params={"cursor": cursor}, headers=reader)
        assert response.status_code == 400, cursor
        assert response.json()["error"]["code"] == "cursor_invalid"
    for limit in ("0", "10001", "-5", "many", "1.5"):
        response = client.get(FEED, params={"limit": limit}, headers=reader)
        assert response.status_code == 422 and response.json()["error"]["code"] == "request_invalid", limit
    assert client.get(FEED, params={"cursor": "x" * 65}, headers=reader).status_code == 422


def test_a_cursor_past_the_end_of_the_log_is_refused(client, reader):
    submit(client, image_item(random_pdq()))
    ahead = base64.urlsafe_b64encode(b"ncii-feed:1:999").decode().rstrip("=")
    response = client.get(FEED, params={"cursor": ahead}, headers=reader)
    assert response.status_code == 409 and response.json()["error"]["code"] == "cursor_ahead"


def test_every_feed_request_is_one_audit_row(client, reader):
    submit(client, image_item(*[random_pdq() for _ in range(5)]))
    read_all(client, reader, limit=2)  # 3 requests
    with client.app.state.sessions() as session:
        rows = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "exchange.read").order_by(AuditEntry.id)
        ).all()
    assert len(rows) == 3
    assert [(r.details["after_seq"], r.details["last_seq"], r.details["records"]) for r in rows] == [
        (0, 2, 2), (2, 4, 2), (4, 5, 1)
    ]
    assert {r.actor_type for r in rows} == {"platform"} and rows[0].details["dialect"] == "native"


# ------------------------------------------------------------------- concurrent writers


def test_feed_is_gap_free_while_cases_are_submitted_and_withdrawn(client, reader):
    """Writers in threads submit and withdraw cases while a reader pages through the feed:
    the reader sees every change-log row exactly once, in order."""
    stop = threading.Event()
    failures: list[str] = []

    def writer() -> None:
        while not stop.is_set():
            case = client.post("/v1/cases", json={"items": [image_item(random_pdq(), random_pdq())]})
            if case.status_code != 201:
                failures.append(case.text)
                return
            body = case.json()
            gone = client.delete(f"/v1/cases/{body['case_number']}", headers=pin_headers(body))
            if gone.status_code != 200:
                failures.append(gone.text)
                return

    threads = [threading.Thread(target=writer) for _ in range(3)]
    for thread in threads:
        thread.start()
    seen: list[int] = []
    cursor = None
    try:
        while len(seen) < 150:
            params = {"limit": 7} | ({"cursor": cursor} if cursor else {})
            page = client.get(FEED, params=params, headers=reader).json()
            seen += [r["seq"] for r in page["records"]]
            cursor = page["next_cursor"]
    finally:
        stop.set()
        for thread in threads:
            thread.join(30)
    assert not failures
    rest, _ = read_all(client, reader, limit=50, cursor=cursor)
    seen += [r["seq"] for r in rest]
    with client.app.state.sessions() as session:
        logged = session.scalars(select(ChangeLog.seq).order_by(ChangeLog.seq)).all()
    assert seen == list(logged)
    assert len(seen) == len(set(seen))


# ------------------------------------------------------------------------------- feedback


def _giver(client, name: str, scopes=("exchange.feedback", "exchange.read")) -> dict[str, str]:
    return {"Authorization": f"Bearer {create_platform(client.app, name, scopes)}"}


def _bank_hash(client, reader) -> dict:
    """A fresh active bank hash, as the feed shows it."""
    code = random_pdq()
    submit(client, image_item(code))
    records, _ = read_all(client, reader)
    return next(r for r in records if r["hash"] == code)


def _say(client, headers, record: dict, verdict: str, tags=()):
    item = {"hash_id": record["hash_id"], "signal": record["signal"], "hash": record["hash"], "verdict": verdict}
    if tags:
        item["tags"] = list(tags)
    return client.post(FEEDBACK, json={"feedback": [item]}, headers=headers)


def _feed_state(client, reader, hash_id: int) -> dict:
    """The latest feed record of the hash (its state now)."""
    records, _ = read_all(client, reader)
    return [r for r in records if r["hash_id"] == hash_id][-1]


def test_feedback_needs_the_feedback_scope(client, reader, platform):
    record = _bank_hash(client, reader)
    assert _say(client, {}, record, "blocked").status_code == 401
    for headers in (platform, reader):  # match-only and read-only keys
        response = _say(client, headers, record, "blocked")
        assert response.status_code == 403 and response.json()["error"]["code"] == "api_key_scope"
    assert count(client.app, ExchangeFeedback) == 0


def test_feedback_is_idempotent_per_platform_and_hash_and_the_latest_wins(client, reader):
    alpha = _giver(client, "alpha")
    record = _bank_hash(client, reader)
    first = _say(client, alpha, record, "blocked", tags=["nudity", "nudity", " reviewed "])
    assert first.status_code == 200, first.text
    assert first.json()["results"][0] == {
        "index": 0, "hash_id": record["hash_id"], "verdict": "blocked", "previous": None, "changed": True,
        "hash_status": "active", "hash_suspended_now": False,
    }
    again = _say(client, alpha, record, "blocked", tags=["nudity", "reviewed"])
    assert again.json()["results"][0]["changed"] is False and again.json()["results"][0]["previous"] == "blocked"
    assert _feed_state(client, reader, record["hash_id"])["feedback"] == {
        "ncii": 1, "not_ncii": 0, "escalate": 0, "platforms_not_ncii": 0
    }
    changed = _say(client, alpha, record, "not_blocked")
    assert changed.json()["results"][0]["previous"] == "blocked"
    assert _feed_state(client, reader, record["hash_id"])["feedback"] == {
        "ncii": 0, "not_ncii": 1, "escalate": 0, "platforms_not_ncii": 1
    }
    _say(client, alpha, record, "pending_review")
    assert _feed_state(client, reader, record["hash_id"])["feedback"] == {
        "ncii": 0, "not_ncii": 0, "escalate": 0, "platforms_not_ncii": 0
    }
    with client.app.state.sessions() as session:
        rows = session.scalars(select(ExchangeFeedback)).all()
        assert [(r.verdict, r.tags) for r in rows] == [("pending_review", [])]
        audits = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "exchange.feedback").order_by(AuditEntry.id)
        ).all()
    # One audit row per request; the repeated verdict changed nothing and lists no change.
    assert [a.details["changes"] for a in audits] == [
        [[record["hash_id"], None, "blocked"]], [], [[record["hash_id"], "blocked", "not_blocked"]],
        [[record["hash_id"], "not_blocked", "pending_review"]],
    ]
    assert all(a.actor_type == "platform" for a in audits)


def test_not_blocked_from_two_platforms_suspends_the_hash(client, reader):
    alpha, beta = _giver(client, "alpha"), _giver(client, "beta")
    record = _bank_hash(client, reader)
    _say(client, alpha, record, "not_blocked")
    again = _say(client, alpha, record, "not_blocked")  # one platform twice counts once
    assert again.json()["results"][0]["hash_status"] == "active"
    second = _say(client, beta, record, "not_blocked").json()["results"][0]
    assert second["hash_suspended_now"] is True and second["hash_status"] == "suspended"
    state = _feed_state(client, reader, record["hash_id"])
    assert (state["op"], state["reason"], state["status"]) == ("remove", "suspended", "suspended")
    assert state["feedback"]["platforms_not_ncii"] == 2
    assert count(client.app, AuditEntry, AuditEntry.action == "hash.suspended") == 1
    # Suspension is the hotline's to lift: blocked afterwards does not bring it back.
    after = _say(client, beta, record, "blocked").json()["results"][0]
    assert after["hash_status"] == "suspended" and after["hash_suspended_now"] is False


def test_a_review_decision_and_feedback_count_as_distinct_platforms(client, reader):
    reviewer = {"Authorization": f"Bearer {create_platform(client.app, 'reviewer', ('match', 'review', 'exchange.feedback'))}"}
    other = _giver(client, "other")
    record = _bank_hash(client, reader)
    catch_up(client.app)
    event = match(client, reviewer, pdq_query(record["hash"])).json()["results"][0]["matches"]
    assert event, "the bank hash should match"
    queue = client.get("/v1/review/queue", headers=reviewer).json()
    event_id = queue["groups"][0]["matches"][0]["match_event_id"]
    decided = client.post("/v1/review/decisions", headers=reviewer,
                          json={"match_event_id": event_id, "decision": "not_ncii", "reason": "a landscape"})
    assert decided.status_code == 201 and decided.json()["hash_status"] == "active"
    # The same platform again through the exchange: still one platform.
    assert _say(client, reviewer, record, "not_blocked").json()["results"][0]["hash_status"] == "active"
    # A second platform through the exchange: two, suspended.
    assert _say(client, other, record, "not_blocked").json()["results"][0]["hash_suspended_now"] is True
    with client.app.state.sessions() as session:
        assert session.get(BankHash, record["hash_id"]).status == "suspended"


def test_refused_feedback_stores_nothing(client, reader):
    alpha = _giver(client, "alpha")
    good = _bank_hash(client, reader)
    items = [
        {"hash_id": good["hash_id"], "signal": "pdq", "hash": good["hash"], "verdict": "blocked"},
        {"hash_id": 999_999, "signal": "pdq", "hash": good["hash"], "verdict": "blocked"},
        {"hash_id": good["hash_id"], "signal": "pdq", "hash": random_pdq(), "verdict": "blocked"},
    ]
    response = client.post(FEEDBACK, json={"feedback": items}, headers=alpha)
    assert response.status_code == 422 and response.json()["error"]["code"] == "feedback_refused"
    assert [(p["index"], p["code"]) for p in response.json()["error"]["details"]] == [
        (1, "hash_not_found"), (2, "hash_mismatch")
    ]
    malformed = dict(items[0], hash="zz")
    response = client.post(FEEDBACK, json={"feedback": [items[0], malformed]}, headers=alpha)
    assert response.status_code == 422 and response.json()["error"]["details"][0]["code"] == "hash_malformed"
    assert count(client.app, ExchangeFeedback) == 0
    assert count(client.app, AuditEntry, AuditEntry.action == "exchange.feedback") == 0


def test_bad_feedback_is_a_422(client, reader):
    alpha = _giver(client, "alpha")
    for change in ({"verdict": "maybe"}, {"tags": ["x"] * 17}, {"tags": ["x" * 65]}, {"tags": [""]},
                   {"hash_id": "1"}, {"hash_id": True}, {"hash_id": 0}, {"hash_id": 2**63}, {"hash_id": 10**30},
                   {"extra": 1}):
        item = {"hash_id": 1, "signal": "pdq", "hash": random_pdq(), "verdict": "blocked"} | change
        response = client.post(FEEDBACK, json={"feedback": [item]}, headers=alpha)
        assert response.status_code == 422 and response.json()["error"]["code"] == "request_invalid", change
    assert client.post(FEEDBACK, json={"feedback": []}, headers=alpha).status_code == 422
    too_many = [{"hash_id": 1, "signal": "pdq", "hash": random_pdq(), "verdict": "blocked"}] * 1001
    assert client.post(FEEDBACK, json={"feedback": too_many}, headers=alpha).status_code == 422
    assert count(client.app, AuditEntry, AuditEntry.action == "exchange.feedback") == 0


def test_a_review_decision_and_feedback_at_the_same_moment_still_suspend(client, reader):
    """Feedback waits for a concurrent review decision's lock on the hash, then counts it."""
    reviewer_key = create_platform(client.app, "reviewer", ("match", "review"))
    create_platform(client.app, "giver", ("exchange.feedback",))  # a second platform, so the rule can fire
    record = _bank_hash(client, reader)
    catch_up(client.app)
    assert match(client, {"Authorization": f"Bearer {reviewer_key}"}, pdq_query(record["hash"])).json()["results"][0]["matches"]
    with client.app.state.sessions() as session:
        event_id, reviewer_id = session.execute(select(MatchEvent.id, MatchEvent.platform_id)).one()
        giver_id = session.scalar(select(Platform.id).where(Platform.name == "giver"))
    app, settings, outcome = client.app, client.app.state.settings, {}
    verdict = feedback.Verdict(record["hash_id"], "pdq", bytes.fromhex(record["hash"]), "not_blocked")

    def second() -> None:
        with app.state.sessions() as session, session.begin():
            (result,) = feedback.give(session, settings, platform_id=giver_id, key_id="k", verdicts=[verdict],
                                      dialect="native")
            outcome["suspended_now"] = result.suspended_now

    with app.state.sessions() as session, session.begin():
        bank_review.decide(session, settings, platform_id=reviewer_id, decided_by="platform:r",
                           match_event_id=event_id, decision="not_ncii", reason="a landscape")
        thread = threading.Thread(target=second)
        thread.start()
        thread.join(0.5)
        assert thread.is_alive()  # waiting for the decision's transaction
    thread.join(30)
    assert outcome == {"suspended_now": True}
    with client.app.state.sessions() as session:
        assert session.get(BankHash, record["hash_id"]).status == "suspended"


def test_ncii_platform_create_issues_exchange_scopes(client, settings, database_url):
    from typer.testing import CliRunner

    from service.cli import app as cli

    env = {"NCII_DATA_DIR": str(settings.data_dir), "DATABASE_URL": database_url, "NCII_DATABASE_URL": None}
    created = CliRunner().invoke(cli, ["platform", "create", "Mirror", "--scopes", "exchange.read exchange.feedback"],
                                 env=env)
    assert created.exit_code == 0, created.output
    headers = {"Authorization": f"Bearer {created.stdout.strip().splitlines()[-1]}"}
    record = _bank_hash(client, headers)
    assert _say(client, headers, record, "blocked").status_code == 200
    assert client.post("/v1/match", json={"queries": []}, headers=headers).status_code == 403


def test_the_review_queue_shows_other_platforms_exchange_feedback(client, reader):
    """A reviewer sees what other platforms said about the hash through the exchange, not only in reviews."""
    reviewer = {"Authorization": f"Bearer {create_platform(client.app, 'reviewer', ('match', 'review'))}"}
    other, third = _giver(client, "other"), _giver(client, "third")
    record = _bank_hash(client, reader)
    catch_up(client.app)
    assert match(client, reviewer, pdq_query(record["hash"])).json()["results"][0]["matches"]
    assert _say(client, other, record, "not_blocked").status_code == 200
    assert _say(client, third, record, "blocked").status_code == 200
    queue = client.get("/v1/review/queue", headers=reviewer).json()
    seen = queue["groups"][0]["matches"][0]["other_platforms"]
    assert (seen["not_ncii"], seen["ncii_remove"], seen["not_ncii_platforms"]) == (1, 1, 1)
    assert _say(client, third, record, "pending_review").status_code == 200  # replaces "blocked"
    seen = client.get("/v1/review/queue", headers=reviewer).json()["groups"][0]["matches"][0]["other_platforms"]
    assert (seen["not_ncii"], seen["ncii_remove"]) == (1, 0)
