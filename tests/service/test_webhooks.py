"""Takedown webhooks: configuration, the outbox, signed delivery, retries, isolation, restarts.

A local receiver (``webhook_receiver``) stands in for the platform. Backoff and polling are
tiny so the tests run fast; nothing here measures time: retry delays are checked through the
delays the service recorded. Both backends (SQLite file and PostgreSQL).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
import threading

import httpx
import pytest
from prometheus_client import REGISTRY
from sqlalchemy import func, select, update

from service.bank import review as bank_review
from service.db.engine import make_engine, make_sessionmaker, transaction
from service.db.models import AuditEntry, MatchEvent, WebhookDelivery
from service.webhooks import outbox, signing
from service.webhooks.worker import DeliveryWorker

from .conftest import make_settings
from .helpers import catch_up, create_platform, eventually, image_item, match, matched_ids, pdq_query, random_pdq, submit
from .server import Server, server_env
from .webhook_receiver import Receiver

FAST = dict(
    webhook_allow_private_targets=True,
    webhook_poll_seconds=0.05,
    webhook_backoff_base_seconds=0.01,
    webhook_backoff_max_seconds=0.05,
    webhook_max_attempts=4,
    webhook_timeout_seconds=3,
    webhook_lease_seconds=7,
)
WITHIN = 20  # seconds a condition may take on a loaded machine before the test fails


@pytest.fixture
def settings(tmp_path, database_url):
    return make_settings(tmp_path / "data", database_url, **FAST)


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def _headers(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _platform(client, name: str) -> dict[str, str]:
    return _headers(create_platform(client.app, name, ("match", "review")))


def _configure(client, headers, url: str) -> str:
    response = client.put("/v1/platform/webhook", headers=headers, json={"url": url})
    assert response.status_code == 201, response.text
    return response.json()["secret"]


def _match_event(client, headers, content_ref: str) -> int:
    code = random_pdq()
    submit(client, image_item(code))
    catch_up(client.app)
    assert matched_ids(match(client, headers, pdq_query(code, content_ref)))[0]
    queue = client.get("/v1/review/queue", headers=headers, params={"status": "pending"}).json()
    return next(m["match_event_id"] for g in queue["groups"] if g["content_ref"] == content_ref for m in g["matches"])


def _decide(client, headers, event_id: int, decision: str = "ncii_remove", reason: str = "Jane Doe, 15, her photo"):
    response = client.post("/v1/review/decisions", headers=headers,
                           json={"match_event_id": event_id, "decision": decision, "reason": reason})
    assert response.status_code == 201, response.text
    return response.json()


def _deliveries(client, headers, **params) -> list[dict]:
    response = client.get("/v1/platform/webhook/deliveries", headers=headers, params=params)
    assert response.status_code == 200, response.text
    return response.json()["deliveries"]


def _delivery(client, headers, delivery_id: str) -> dict:
    response = client.get(f"/v1/platform/webhook/deliveries/{delivery_id}", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def _settled(client, headers, status: str, n: int = 1):
    return lambda: len(_deliveries(client, headers, status=status)) >= n


def _delivered_total(outcome: str) -> float:
    return REGISTRY.get_sample_value("ncii_webhook_deliveries_total", {"outcome": outcome}) or 0.0


def test_a_remove_decision_reaches_the_receiver_signed(client, receiver):
    a = _platform(client, "alpha")
    secret = _configure(client, a, receiver.url)
    assert secret.startswith("whsec_")
    before = _delivered_total("succeeded")

    event_id = _match_event(client, a, "upload/1")
    decision = _decide(client, a, event_id)
    assert eventually(_settled(client, a, "succeeded"), WITHIN)

    assert receiver.count() == 1
    headers, body = receiver.requests[0]
    assert signing.verify(secret, {k.title(): v for k, v in headers.items()}, body)
    assert not signing.verify(secret.replace("whsec_", "whsec_x"), {k.title(): v for k, v in headers.items()}, body)
    assert not signing.verify(secret, {k.title(): v for k, v in headers.items()}, body.replace(b"upload/1", b"upload/2"))
    stale = dict(headers, **{"ncii-webhook-timestamp": str(int(headers["ncii-webhook-timestamp"]) - 3600)})
    assert not signing.verify(secret, {k.title(): v for k, v in stale.items()}, body)

    payload = json.loads(body)
    assert payload["type"] == "ncii_remove" and payload["event_id"] == headers["ncii-webhook-id"]
    assert payload["decision_id"] == decision["decision_id"] and payload["match_event_id"] == event_id
    assert payload["content_ref"] == "upload/1" and payload["hash_id"] == decision["hash_id"]
    assert payload["signal"] == "pdq" and payload["distance"] == 0 and payload["decided_at"].endswith("Z")
    assert b"Jane" not in body and "reason" not in payload  # the moderator's words never leave

    (listed,) = _deliveries(client, a)
    assert listed["delivery_id"] == payload["event_id"] and listed["attempts"] == 1 and listed["last_status_code"] == 200
    detail = _delivery(client, a, listed["delivery_id"])
    assert detail["payload"] == payload and [x["outcome"] for x in detail["attempt_log"]] == ["succeeded"]
    assert _delivered_total("succeeded") == before + 1
    with client.app.state.sessions() as session:
        audited = session.scalars(select(AuditEntry).where(AuditEntry.action == "webhook.delivered")).all()
        assert [e.subject_id for e in audited] == [listed["delivery_id"]]
        assert "Jane" not in json.dumps([e.details for e in session.scalars(select(AuditEntry))])


def test_only_removals_notify(client, receiver):
    a = _platform(client, "alpha")
    _configure(client, a, receiver.url)
    _decide(client, a, _match_event(client, a, "u/1"), "not_ncii")
    escalated = _match_event(client, a, "u/2")
    _decide(client, a, escalated, "escalate")
    with client.app.state.sessions() as session:
        assert session.scalar(select(func.count()).select_from(WebhookDelivery)) == 0
    _decide(client, a, escalated, "ncii_remove")  # the final word on an escalation does
    assert eventually(_settled(client, a, "succeeded"), WITHIN)
    assert [json.loads(b)["content_ref"] for _, b in receiver.requests] == ["u/2"]


def test_5xx_is_retried_until_it_succeeds(client, receiver):
    a = _platform(client, "alpha")
    secret = _configure(client, a, receiver.url)
    receiver.respond(500, 503)
    _decide(client, a, _match_event(client, a, "upload/1"))
    assert eventually(_settled(client, a, "succeeded"), WITHIN)

    (listed,) = _deliveries(client, a)
    log = _delivery(client, a, listed["delivery_id"])["attempt_log"]
    assert [(x["status_code"], x["outcome"]) for x in log] == [(500, "retry"), (503, "retry"), (200, "succeeded")]
    assert log[0]["error"] == "http_500" and log[0]["response_snippet"].startswith("receiver says no")
    assert len(log[0]["response_snippet"]) <= 200 and "\x00" not in log[0]["response_snippet"]
    assert receiver.count() == 3
    assert {h["ncii-webhook-id"] for h, _ in receiver.requests} == {listed["delivery_id"]}  # one idempotency key
    assert all(signing.verify(secret, {k.title(): v for k, v in h.items()}, b) for h, b in receiver.requests)


def test_a_4xx_fails_at_once_and_can_be_redelivered(client, receiver):
    a = _platform(client, "alpha")
    _configure(client, a, receiver.url)
    receiver.respond(400)
    before = _delivered_total("failed")
    _decide(client, a, _match_event(client, a, "upload/1"))
    assert eventually(_settled(client, a, "failed"), WITHIN)
    (failed,) = _deliveries(client, a)
    assert failed["attempts"] == 1 and failed["last_status_code"] == 400 and failed["last_error"] == "http_400"
    assert receiver.count() == 1 and _delivered_total("failed") == before + 1
    with client.app.state.sessions() as session:
        (entry,) = session.scalars(select(AuditEntry).where(AuditEntry.action == "webhook.failed")).all()
        assert entry.details["outcome"] == "failed" and entry.details["status_code"] == 400

    again = client.post(f"/v1/platform/webhook/deliveries/{failed['delivery_id']}/redeliver", headers=a)
    assert again.status_code == 202 and again.json()["status"] == "pending"
    assert eventually(_settled(client, a, "succeeded"), WITHIN)
    assert receiver.count() == 2
    assert receiver.requests[1][0]["ncii-webhook-id"] == failed["delivery_id"]
    log = _delivery(client, a, failed["delivery_id"])["attempt_log"]
    assert [(x["number"], x["outcome"]) for x in log] == [(1, "failed"), (2, "succeeded")]
    twice = client.post(f"/v1/platform/webhook/deliveries/{failed['delivery_id']}/redeliver", headers=a)
    assert twice.status_code == 409 and twice.json()["error"]["code"] == "delivery_not_redeliverable"


def test_retry_after_is_honoured(client, receiver):
    a = _platform(client, "alpha")
    _configure(client, a, receiver.url)
    receiver.respond((429, {"Retry-After": "1"}), (503, {"Retry-After": "0"}))
    _decide(client, a, _match_event(client, a, "upload/1"))
    assert eventually(_settled(client, a, "succeeded"), WITHIN)
    (listed,) = _deliveries(client, a)
    log = _delivery(client, a, listed["delivery_id"])["attempt_log"]
    assert [x["status_code"] for x in log] == [429, 503, 200]
    # The backoff alone would wait at most 0.05 s; the receiver asked for 1 s.
    assert log[0]["retry_in_seconds"] >= 1.0 and log[1]["retry_in_seconds"] <= FAST["webhook_backoff_max_seconds"]
    from datetime import datetime

    first, second = (datetime.fromisoformat(x["started_at"]) for x in log[:2])
    assert (second - first).total_seconds() >= 1.0


def test_gives_up_after_max_attempts(client, receiver):
    a = _platform(client, "alpha")
    _configure(client, a, receiver.url)
    receiver.default = (502, {})
    _decide(client, a, _match_event(client, a, "upload/1"))
    assert eventually(_settled(client, a, "failed"), WITHIN)
    (listed,) = _deliveries(client, a)
    log = _delivery(client, a, listed["delivery_id"])["attempt_log"]
    assert [x["outcome"] for x in log] == ["retry"] * (FAST["webhook_max_attempts"] - 1) + ["gave_up"]
    assert receiver.count() == FAST["webhook_max_attempts"]


def test_network_errors_are_retried(client, receiver):
    a = _platform(client, "alpha")
    receiver.close()  # nobody listens on that port any more
    _configure(client, a, receiver.url)
    _decide(client, a, _match_event(client, a, "upload/1"))
    assert eventually(_settled(client, a, "failed"), WITHIN)
    (listed,) = _deliveries(client, a)
    log = _delivery(client, a, listed["delivery_id"])["attempt_log"]
    assert {x["error"] for x in log} == {"connect_error"} and log[-1]["outcome"] == "gave_up"
    assert all(x["status_code"] is None for x in log)
    receiver.close = lambda: None


def test_a_slow_receiver_does_not_hold_back_other_platforms(tmp_path, database_url, receiver):
    from fastapi.testclient import TestClient

    from service.app import create_app

    slow = Receiver()
    slow.hold = threading.Event()
    settings = make_settings(tmp_path / "data", database_url, **dict(FAST, webhook_timeout_seconds=60))
    try:
        with TestClient(create_app(settings), raise_server_exceptions=False) as client:
            a, b = _platform(client, "alpha"), _platform(client, "beta")
            _configure(client, a, slow.url)
            _configure(client, b, receiver.url)
            _decide(client, a, _match_event(client, a, "a/1"))
            assert eventually(lambda: slow.count() == 1, WITHIN)  # a's attempt hangs (for up to a minute)
            _decide(client, b, _match_event(client, b, "b/1"))
            assert eventually(_settled(client, b, "succeeded"), WITHIN)
            assert _deliveries(client, a)[0]["status"] == "pending"
            slow.hold.set()
            assert eventually(_settled(client, a, "succeeded"), WITHIN)
    finally:
        slow.hold.set()
        slow.close()


def _dribbling_server(stop: threading.Event) -> str:
    """Answers every request one byte at a time, each within any read timeout, never finishing."""
    import socket
    import time

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.settimeout(0.2)

    def serve() -> None:
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except OSError:
                continue
            connection.recv(65536)
            try:
                for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 100_000:
                    if stop.is_set():
                        break
                    connection.sendall(bytes([byte]))
                    time.sleep(0.1)
            except OSError:
                pass  # the service hung up: what this server is for
            finally:
                connection.close()
        listener.close()

    threading.Thread(target=serve, daemon=True).start()
    return f"http://127.0.0.1:{listener.getsockname()[1]}/hook"


def test_an_attempt_has_a_total_deadline(tmp_path, database_url):
    """Per-read timeouts never fire on a receiver that dribbles; the attempt's own deadline does."""
    from fastapi.testclient import TestClient

    from service.app import create_app

    stop = threading.Event()
    settings = make_settings(tmp_path / "data", database_url,
                             **dict(FAST, webhook_timeout_seconds=0.5, webhook_max_attempts=1))
    try:
        with TestClient(create_app(settings), raise_server_exceptions=False) as client:
            a = _platform(client, "alpha")
            _configure(client, a, _dribbling_server(stop))
            _decide(client, a, _match_event(client, a, "a/1"))
            assert eventually(_settled(client, a, "failed"), WITHIN)
            (listed,) = _deliveries(client, a)
            (only,) = _delivery(client, a, listed["delivery_id"])["attempt_log"]
            assert only["error"] == "deadline_exceeded" and only["outcome"] == "gave_up"
    finally:
        stop.set()


def test_a_rolled_back_decision_queues_nothing(client, receiver, settings):
    a = _platform(client, "alpha")
    _configure(client, a, receiver.url)
    event_id = _match_event(client, a, "upload/1")
    with client.app.state.sessions() as session:
        platform_id = session.get(MatchEvent, event_id).platform_id

    class Abort(Exception):
        pass

    with pytest.raises(Abort):
        with transaction(client.app.state.sessions) as session:
            bank_review.decide(session, settings, platform_id=platform_id, decided_by="test", match_event_id=event_id,
                               decision="ncii_remove", reason="r")
            assert session.scalar(select(func.count()).select_from(WebhookDelivery)) == 1  # queued inside it
            raise Abort()
    with client.app.state.sessions() as session:
        assert session.scalar(select(func.count()).select_from(WebhookDelivery)) == 0
    assert client.app.state.webhooks.run_once() == 0
    assert _deliveries(client, a) == [] and receiver.count() == 0

    with transaction(client.app.state.sessions) as session:  # the same decision, committed
        bank_review.decide(session, settings, platform_id=platform_id, decided_by="test", match_event_id=event_id,
                           decision="ncii_remove", reason="r")
    assert eventually(_settled(client, a, "succeeded"), WITHIN) and receiver.count() == 1


def test_a_platform_sees_only_its_own_deliveries(client, receiver):
    a, b = _platform(client, "alpha"), _platform(client, "beta")
    _configure(client, a, receiver.url)
    receiver.respond(400)
    _decide(client, a, _match_event(client, a, "upload/1"))
    assert eventually(_settled(client, a, "failed"), WITHIN)
    (mine,) = _deliveries(client, a)
    assert _deliveries(client, b) == []
    for method, path in [("get", ""), ("post", "/redeliver")]:
        response = getattr(client, method)(f"/v1/platform/webhook/deliveries/{mine['delivery_id']}{path}", headers=b)
        assert response.status_code == 404 and response.json()["error"]["code"] == "delivery_not_found"
    assert client.get("/v1/platform/webhook", headers=b).status_code == 404
    assert _deliveries(client, a, status="failed")[0]["status"] == "failed"  # untouched by b


def test_webhook_config_needs_the_review_scope(client):
    match_only = _headers(create_platform(client.app, "checker", ("match",)))
    for method in ("get", "put"):
        kwargs = {"json": {"url": "https://example.org/x"}} if method == "put" else {}
        assert getattr(client, method)("/v1/platform/webhook", headers=match_only, **kwargs).status_code == 403
        assert getattr(client, method)("/v1/platform/webhook", **kwargs).status_code == 401
    assert client.get("/v1/platform/webhook/deliveries").status_code == 401


def test_bad_webhook_config_gets_4xx(client):
    a = _platform(client, "alpha")
    assert client.get("/v1/platform/webhook", headers=a).json()["error"]["code"] == "webhook_not_configured"
    first = client.put("/v1/platform/webhook", headers=a, json={"enabled": True})
    assert first.status_code == 404 and first.json()["error"]["code"] == "webhook_not_configured"
    for url, code in [
        ("ftp://example.org/hook", "webhook_url_invalid"),
        ("javascript:alert(1)", "webhook_url_invalid"),
        ("not a url", "webhook_url_invalid"),
        ("https:///nohost", "webhook_url_invalid"),
        ("https://user:pw@example.org/hook", "webhook_url_invalid"),
        ("https://example.org:99999/hook", "webhook_url_invalid"),
        ("https://example.org/hook#frag", "webhook_url_invalid"),
        ("", "webhook_url_invalid"),
    ]:
        response = client.put("/v1/platform/webhook", headers=a, json={"url": url})
        assert response.status_code == 422 and response.json()["error"]["code"] == code, (url, response.text)
    too_long = client.put("/v1/platform/webhook", headers=a, json={"url": "https://example.org/" + "a" * 3000})
    assert too_long.status_code == 422
    for body in ({"url": "https://example.org/x", "secret": "mine"}, {"url": 5}, {"url": "https://e.org", "enabled": "maybe"}):
        response = client.put("/v1/platform/webhook", headers=a, json=body)
        assert response.status_code == 422 and response.json()["error"]["code"] == "request_invalid"
    assert client.put("/v1/platform/webhook", headers=a, content=b"{", ).status_code == 422
    bad_cursor = client.get("/v1/platform/webhook/deliveries", headers=a, params={"cursor": "x"})
    assert bad_cursor.status_code == 422
    assert client.get("/v1/platform/webhook/deliveries/../../etc", headers=a).status_code == 404
    assert client.get("/v1/platform/webhook", headers=a).status_code == 404  # nothing was stored


@pytest.mark.parametrize("backend", ["sqlite"])
def test_private_targets_are_refused_unless_allowed(tmp_path, backend):
    from fastapi.testclient import TestClient

    from service.app import create_app

    app = create_app(make_settings(tmp_path / "data", None, webhook_poll_seconds=5))
    with TestClient(app, raise_server_exceptions=False) as client:
        a = _platform(client, "alpha")
        for url in ["http://127.0.0.1:8000/x", "http://localhost/x", "http://10.1.2.3/x", "http://[::1]/x",
                    "http://169.254.169.254/latest/meta-data", "http://192.168.0.1/", "http://0.0.0.0/",
                    "http://[::ffff:127.0.0.1]/x", "http://100.64.0.1/"]:
            response = client.put("/v1/platform/webhook", headers=a, json={"url": url})
            assert response.status_code == 422 and response.json()["error"]["code"] == "webhook_url_not_allowed", url
        ok = client.put("/v1/platform/webhook", headers=a, json={"url": "https://93.184.215.14/hooks"})
        assert ok.status_code == 201, ok.text


def test_rotation_disable_and_the_secret_at_rest(client, receiver, settings):
    a = _platform(client, "alpha")
    old = _configure(client, a, receiver.url)
    shown = client.get("/v1/platform/webhook", headers=a).json()
    assert "secret" not in shown or shown["secret"] is None
    assert shown["url"] == receiver.url and shown["enabled"] is True and shown["secret_version"] == 1

    assert shown["previous_secret_valid_until"] is None

    # A rotation: the new secret signs, and the previous one beside it for the grace period,
    # so a receiver that has not switched yet still accepts the takedown.
    rotated = client.put("/v1/platform/webhook", headers=a, json={"rotate_secret": True})
    assert rotated.status_code == 200
    new = rotated.json()["secret"]
    assert new.startswith("whsec_") and new != old and rotated.json()["secret_version"] == 2
    until = datetime.fromisoformat(rotated.json()["previous_secret_valid_until"])
    grace = timedelta(hours=settings.webhook_rotation_grace_hours)
    assert timedelta(0) < until - datetime.now(timezone.utc) <= grace
    changed = client.put("/v1/platform/webhook", headers=a, json={"url": receiver.url + "?v=2"})
    assert changed.status_code == 200 and changed.json()["secret"] is None

    _decide(client, a, _match_event(client, a, "upload/1"))
    assert eventually(_settled(client, a, "succeeded"), WITHIN)
    headers, body = receiver.requests[0]
    titled = {k.title(): v for k, v in headers.items()}
    assert signing.verify(new, titled, body) and signing.verify(old, titled, body)
    assert titled[signing.HEADER_SIGNATURE].count("v1=") == 2

    # A leaked secret: rotated at once, only the newest secret signs.
    leaked = client.put("/v1/platform/webhook", headers=a, json={"rotate_secret": True, "previous_secret_stops_now": True})
    newest = leaked.json()["secret"]
    assert leaked.json()["secret_version"] == 3 and leaked.json()["previous_secret_valid_until"] is None
    _decide(client, a, _match_event(client, a, "upload/3"))
    assert eventually(lambda: len(receiver.requests) == 2, WITHIN)
    headers, body = receiver.requests[1]
    titled = {k.title(): v for k, v in headers.items()}
    assert signing.verify(newest, titled, body)
    assert not signing.verify(new, titled, body) and not signing.verify(old, titled, body)

    # Nothing secret in the database: neither secret appears in any stored value.
    engine = make_engine(settings)
    with engine.connect() as connection:
        from service.db.models import Base

        dump = "".join(repr(row) for table in Base.metadata.sorted_tables for row in connection.execute(table.select()))
    engine.dispose()
    assert old not in dump and new not in dump and old[6:] not in dump and new[6:] not in dump
    assert oct(signing.master_key_path(settings).stat().st_mode & 0o777) == "0o600"

    assert client.put("/v1/platform/webhook", headers=a, json={"enabled": False}).json()["enabled"] is False
    _decide(client, a, _match_event(client, a, "upload/2"))
    assert len(_deliveries(client, a)) == 2  # a disabled webhook queues nothing


def test_workers_claim_disjoint_rows(tmp_path, database_url, receiver):
    """Two workers on one database (as two processes or replicas would be) send each delivery once."""
    from fastapi.testclient import TestClient

    from service.app import create_app

    settings = make_settings(tmp_path / "data", database_url, **dict(FAST, webhook_poll_seconds=3600, webhook_batch_size=3))
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        a = _platform(client, "alpha")
        _configure(client, a, receiver.url)
        for n in range(8):
            _decide(client, a, _match_event(client, a, f"u/{n}"))
        engine = make_engine(settings)
        sessions, readers = make_sessionmaker(engine), make_sessionmaker(engine, read_only=True)
        workers = [DeliveryWorker(sessions, readers, settings) for _ in range(2)]
        claimed = [0, 0]

        def drain(i: int) -> None:
            while (n := workers[i].run_once()) > 0:
                claimed[i] += n

        threads = [threading.Thread(target=drain, args=(i,)) for i in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        for worker in workers:
            worker.stop()
        engine.dispose()
        ids = [h["ncii-webhook-id"] for h, _ in receiver.requests]
        assert len(ids) == 8 and len(set(ids)) == 8 and sum(claimed) == 8
        assert len(_deliveries(client, a, status="succeeded")) == 8


def test_an_expired_claim_is_taken_over(client, receiver, settings):
    """A worker that claimed a delivery and died: once its lease has run out, another worker sends it."""
    a = _platform(client, "alpha")
    _configure(client, a, receiver.url)
    client.app.state.webhooks.stop()  # the app's own worker stays out of this
    _decide(client, a, _match_event(client, a, "upload/1"))
    sessions, readers = client.app.state.sessions, client.app.state.readers
    (dead_claim,) = outbox.claim_due(sessions, settings, "dead-worker", 10)
    survivor = DeliveryWorker(sessions, readers, settings)
    try:
        assert survivor.run_once() == 0  # the lease still holds
        with transaction(sessions) as session:  # its lease runs out
            session.execute(update(WebhookDelivery).values(claimed_until=WebhookDelivery.created_at))
        assert survivor.run_once() == 1
    finally:
        survivor.stop()
    assert receiver.count() == 1 and _deliveries(client, a)[0]["status"] == "succeeded"
    # The dead worker's late report is recorded but does not overturn the outcome.
    from service.webhooks import delivery

    late = delivery.AttemptResult(delivery.FAILED, delivery.datetime.now(delivery.timezone.utc), 5, status_code=400)
    assert outbox.settle(sessions, settings, "dead-worker", dead_claim, late) == "failed"
    assert _deliveries(client, a)[0]["status"] == "succeeded"


def _platform_in_database(settings, name: str) -> str:
    from service.auth import api_keys
    from service.db.migrate import upgrade
    from service.db.models import Platform

    engine = make_engine(settings)
    upgrade(engine)
    with transaction(make_sessionmaker(engine)) as session:
        platform = Platform(name=name)
        session.add(platform)
        token = api_keys.issue_key(session, platform, ("match", "review")).token
    engine.dispose()
    return token


def test_pending_deliveries_survive_kill_9(tmp_path, database_url, receiver):
    """A real ``ncii serve`` with deliveries in retry is killed with SIGKILL; after a restart each
    arrives, once."""
    data = tmp_path / "data"
    settings = make_settings(data, database_url)
    env = server_env(data, database_url, **{k: str(v) for k, v in dict(
        FAST, webhook_max_attempts=1000, webhook_backoff_base_seconds=0.05, webhook_backoff_max_seconds=0.2,
        webhook_timeout_seconds=1, webhook_lease_seconds=3).items()})
    receiver.default = (503, {})
    log = tmp_path / "server.log"
    server = Server(env, log=log)
    try:
        server.wait_ready()
        key = _platform_in_database(settings, "crash-test")
        headers = _headers(key)
        with httpx.Client(base_url=server.url, timeout=30) as http:
            secret = http.put("/v1/platform/webhook", headers=headers, json={"url": receiver.url}).json()["secret"]
            decided = []
            for n in range(3):
                code = random_pdq()
                assert http.post("/v1/cases", json={"items": [image_item(code)]}).status_code == 201
                assert eventually(lambda: http.post("/v1/match", headers=headers,
                                                    json={"queries": [pdq_query(code, f"u/{n}")]}).json()["results"][0]["matches"], WITHIN)
                queue = http.get("/v1/review/queue", headers=headers).json()
                event = next(m["match_event_id"] for g in queue["groups"] if g["content_ref"] == f"u/{n}" for m in g["matches"])
                answer = http.post("/v1/review/decisions", headers=headers,
                                   json={"match_event_id": event, "decision": "ncii_remove", "reason": "r"})
                assert answer.status_code == 201
                decided.append(answer.json()["decision_id"])
        assert eventually(lambda: receiver.count() >= 6, WITHIN)  # deliveries are failing and being retried
        server.kill()
    finally:
        server.stop()
    failing_before = receiver.count()
    receiver.default = (200, {})
    # On PostgreSQL two processes now, each claiming its own rows (SKIP LOCKED); SQLite's
    # exclusive claims are covered in-process by test_workers_claim_disjoint_rows.
    server = Server(env, workers=2 if database_url else 1, log=log)
    try:
        server.wait_ready()
        with httpx.Client(base_url=server.url, timeout=30, headers=headers) as http:
            succeeded = lambda: len(http.get("/v1/platform/webhook/deliveries?status=succeeded").json()["deliveries"])  # noqa: E731
            assert eventually(lambda: succeeded() == 3, WITHIN * 2)
        after = sorted(json.loads(b)["decision_id"] for _, b in receiver.requests[failing_before:])
        assert after == sorted(decided)  # each once: the two workers never sent the same row
    finally:
        server.stop()
    engine = make_engine(settings)
    with make_sessionmaker(engine)() as session:
        rows = session.scalars(select(WebhookDelivery)).all()
        assert sorted(r.decision_id for r in rows) == sorted(decided)
        assert {r.status for r in rows} == {"succeeded"}
    engine.dispose()
    assert all(signing.verify(secret, {k.title(): v for k, v in h.items()}, b, now=at)
               for (h, b), at in zip(receiver.requests, receiver.received_at))
    assert secret not in log.read_text(errors="replace") and secret[6:] not in log.read_text(errors="replace")


# ------------------------------------------------------------------------------ CLI, docs, pieces


def test_cli_platform_webhook(tmp_path, database_url):
    from typer.testing import CliRunner

    from service.cli import app as cli

    env = {"NCII_DATA_DIR": str(tmp_path / "data"), "DATABASE_URL": database_url, "NCII_DATABASE_URL": None,
           "NCII_WEBHOOK_ALLOW_PRIVATE_TARGETS": None}
    runner = CliRunner()

    def run(*args: str):
        return runner.invoke(cli, list(args), env=env)

    assert run("platform", "create", "ExampleTube", "--scopes", "match review").exit_code == 0
    assert run("platform", "webhook", "ExampleTube").exit_code == 1  # none yet
    assert run("platform", "webhook", "Nobody", "--url", "https://93.184.215.14/hook").exit_code == 1
    assert run("platform", "webhook", "ExampleTube", "--disable").exit_code == 2  # nothing to disable
    refused = run("platform", "webhook", "ExampleTube", "--url", "http://127.0.0.1:9/hook")
    assert refused.exit_code == 2 and "webhook_url_not_allowed" in refused.output

    created = run("platform", "webhook", "ExampleTube", "--url", "https://93.184.215.14/hook")
    assert created.exit_code == 0, created.output
    secret = created.stdout.strip().splitlines()[-1]
    settings = make_settings(tmp_path / "data", database_url)
    engine = make_engine(settings)
    with make_sessionmaker(engine)() as session:
        from service.db.models import Platform, WebhookEndpoint

        platform_id = session.scalar(select(Platform.id).where(Platform.name == "ExampleTube"))
        endpoint = session.scalar(select(WebhookEndpoint))
        assert endpoint.platform_id == platform_id and endpoint.url == "https://93.184.215.14/hook"
    assert secret == signing.platform_secret(settings, platform_id, 1)  # what the workers will sign with

    shown = run("platform", "webhook", "ExampleTube")
    assert shown.exit_code == 0 and "https://93.184.215.14/hook" in shown.stdout and secret not in shown.output
    rotated = run("platform", "webhook", "ExampleTube", "--rotate-secret")
    new = rotated.stdout.strip().splitlines()[-1]
    assert rotated.exit_code == 0 and new.startswith("whsec_") and new != secret
    assert new == signing.platform_secret(settings, platform_id, 2)
    assert "previous secret also signs until" in rotated.output
    at_once = run("platform", "webhook", "ExampleTube", "--rotate-secret", "--at-once")
    assert at_once.exit_code == 0 and at_once.stdout.strip().splitlines()[-1] == signing.platform_secret(settings, platform_id, 3)
    assert "previous secret also signs" not in at_once.output
    with make_sessionmaker(engine)() as session:
        assert session.scalar(select(WebhookEndpoint.previous_secret_until)) is None
    disabled = run("platform", "webhook", "ExampleTube", "--disable")
    assert disabled.exit_code == 0 and "whsec_" not in disabled.output and "disabled" in run("platform", "webhook", "ExampleTube").stdout
    with make_sessionmaker(engine)() as session:
        assert session.scalar(select(WebhookEndpoint.enabled)) is False
        actions = session.scalars(select(AuditEntry.action).where(AuditEntry.action.like("webhook.%"))).all()
        assert actions == ["webhook.created", "webhook.changed", "webhook.changed", "webhook.changed"]
    engine.dispose()


@pytest.mark.parametrize("backend", ["sqlite"])
def test_the_docs_verification_example_works(backend):
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "webhooks.md").read_text()
    example = next(block.split("\n", 1)[1] for block in doc.split("```")[1:] if block.startswith("python\n"))
    namespace: dict = {}
    exec(example, namespace)  # noqa: S102 - our own documentation
    body = b'{"event_id":"whd_1","type":"ncii_remove"}'
    headers = signing.signed_headers("whsec_abc", "whd_1", body)
    assert namespace["verify"]("whsec_abc", headers, body)
    assert not namespace["verify"]("whsec_abd", headers, body)
    assert not namespace["verify"]("whsec_abc", headers, body + b" ")
    old = signing.signed_headers("whsec_abc", "whd_1", body, now=0)
    assert not namespace["verify"]("whsec_abc", old, body)


@pytest.mark.parametrize("backend", ["sqlite"])
def test_addresses_retry_after_and_the_master_key(tmp_path, backend):
    from service.webhooks import delivery, targets

    for address, public in [("93.184.215.14", True), ("2606:4700::1111", True), ("127.0.0.1", False),
                            ("10.0.0.1", False), ("172.16.5.4", False), ("192.168.1.1", False), ("169.254.169.254", False),
                            ("100.64.0.1", False), ("::1", False), ("fe80::1", False), ("fc00::1", False),
                            ("::ffff:10.0.0.1", False), ("::ffff:93.184.215.14", True), ("224.0.0.1", False),
                            ("0.0.0.0", False), ("255.255.255.255", False)]:
        assert targets.is_public(address) is public, address

    assert delivery.parse_retry_after("120") == 120
    assert delivery.parse_retry_after("soon") is None and delivery.parse_retry_after(None) is None
    from datetime import datetime, timezone

    now = datetime(2026, 11, 29, 10, 0, 0, tzinfo=timezone.utc)
    assert delivery.parse_retry_after("Sun, 29 Nov 2026 10:00:30 GMT", now) == 30
    assert delivery.parse_retry_after("Sun, 29 Nov 2026 09:00:00 GMT", now) == 0
    assert delivery.parse_retry_after("99999999") == delivery.RETRY_AFTER_CAP_SECONDS
    assert [delivery.classify(s) for s in (200, 204, 408, 429, 500, 503, 400, 401, 404, 410, 301)] == [
        "succeeded", "succeeded", "retry", "retry", "retry", "retry", "failed", "failed", "failed", "failed", "failed"]

    settings = make_settings(tmp_path / "data", None, webhook_backoff_base_seconds=10, webhook_backoff_max_seconds=60)
    delays = [delivery.backoff_seconds(settings, n) for n in range(1, 8)]
    assert all(5 <= d <= 10 for d in delays[:1]) and all(30 <= d <= 60 for d in delays[3:])
    assert delivery.backoff_seconds(settings, 1, retry_after=300) == 300

    # Workers starting together agree on one master key; it survives as a private file.
    path = tmp_path / "keys" / "webhook-master.key"
    keys: list[bytes] = []
    threads = [threading.Thread(target=lambda: keys.append(signing._load_or_create(path))) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(keys)) == 1 and len(keys[0]) == 32 and oct(path.stat().st_mode & 0o777) == "0o600"
    assert [p.name for p in path.parent.iterdir()] == ["webhook-master.key"]

    configured = make_settings(tmp_path / "other", None, webhook_master_key="ab" * 32)
    a1, a2 = signing.platform_secret(configured, 1, 1), signing.platform_secret(configured, 1, 2)
    assert a1 != a2 and a1 != signing.platform_secret(configured, 2, 1) and a1 == signing.platform_secret(configured, 1, 1)
    assert not (tmp_path / "other").exists()  # a configured key writes nothing
    with pytest.raises(signing.MasterKeyError):
        signing.platform_secret(make_settings(tmp_path / "x", None, webhook_master_key="short"), 1, 1)


def test_the_previous_secret_signs_only_within_the_grace_period(settings):
    now = datetime.now(timezone.utc)
    current, previous = (signing.platform_secret(settings, 7, v) for v in (3, 2))
    assert signing.signing_secrets(settings, 7, 3, now + timedelta(hours=1), now) == [current, previous]
    assert signing.signing_secrets(settings, 7, 3, now - timedelta(seconds=1), now) == [current]
    assert signing.signing_secrets(settings, 7, 3, None, now) == [current]
    assert signing.signing_secrets(settings, 7, 1, now + timedelta(hours=1), now) == [signing.platform_secret(settings, 7, 1)]
    # SQLite hands back naive datetimes (UTC).
    assert signing.signing_secrets(settings, 7, 3, (now + timedelta(hours=1)).replace(tzinfo=None), now) == [current, previous]
    headers = signing.signed_headers([current, previous], "d1", b"{}")
    assert signing.verify(current, headers, b"{}") and signing.verify(previous, headers, b"{}")
    assert not signing.verify(signing.platform_secret(settings, 7, 1), headers, b"{}")


def test_verify_refuses_a_signature_header_with_non_ascii_characters():
    """Found by benchmarks/fuzz/webhook_signature.py: hmac.compare_digest raised TypeError on a
    non-ASCII str, so a forged header made a receiver fail (500) instead of refusing it."""
    secret, body, now = "whsec_" + "A" * 43, b'{"event": "decision"}', 1_800_000_000
    headers = signing.signed_headers(secret, "d", body, now=now)
    for forged in ("v1=\u00e9", "v1=\udcfa", headers[signing.HEADER_SIGNATURE] + "\u00e9", "\u00e9, " + headers[signing.HEADER_SIGNATURE]):
        tampered = {**headers, signing.HEADER_SIGNATURE: forged}
        assert signing.verify(secret, tampered, body, now=now) is (forged.endswith(headers[signing.HEADER_SIGNATURE]))


def test_verify_refuses_a_timestamp_too_large_for_a_float():
    """Found by benchmarks/fuzz/webhook_signature.py: int() takes a timestamp of thousands of
    digits, and now - timestamp raised OverflowError instead of failing verification."""
    secret, body = "whsec_" + "A" * 43, b"{}"
    huge = "1" + "0" * 4000
    for now in (None, 1_800_000_000.5):
        headers = {signing.HEADER_TIMESTAMP: huge, signing.HEADER_SIGNATURE: signing.signature(secret, int(huge), body)}
        assert signing.verify(secret, headers, body, now=now) is False
    at = 1_800_000_000.9
    assert signing.verify(secret, signing.signed_headers(secret, "d", body, now=at), body, now=at + 300)
