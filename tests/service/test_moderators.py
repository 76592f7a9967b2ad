"""Moderator accounts, sessions, CSRF, roles and isolation, the hotline's reinstate/retire, queue
filters, bulk decisions and preview URLs. Both backends (SQLite file and PostgreSQL)."""

from __future__ import annotations

import hashlib
import re
from datetime import datetime, timedelta, timezone

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from typer.testing import CliRunner

from service.auth import moderators, sessions
from service.db.engine import make_engine, make_sessionmaker, transaction
from service.db.models import (
    AuditEntry,
    BankHash,
    ChangeLog,
    HotlineAction,
    MatchEvent,
    Moderator,
    ModeratorSession,
    ReviewDecision,
)

from .conftest import make_settings
from .helpers import (
    HeldVerify,
    catch_up,
    count,
    create_platform,
    flip_bits,
    image_item,
    match,
    matched_ids,
    pdq_query,
    random_pdq,
    submit,
)

PASSWORD = "correct horse battery staple"


# --- helpers -------------------------------------------------------------------------------


def _key_headers(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _platform(client, name: str) -> dict[str, str]:
    return _key_headers(create_platform(client.app, name, ("match", "review")))


def _account(app, name: str, platform: str | None = None, password: str = PASSWORD) -> int:
    with transaction(app.state.sessions) as session:
        return moderators.create(session, app.state.settings, name, password, platform=platform).id


class Browserish:
    """A logged-in moderator: its own cookie jar, and the CSRF token for POSTs."""

    def __init__(self, app, name: str, password: str = PASSWORD) -> None:
        self.http = TestClient(app, raise_server_exceptions=False)
        response = self.http.post("/v1/moderators/login", json={"name": name, "password": password})
        assert response.status_code == 200, response.text
        self.me = response.json()
        self.csrf = {"X-CSRF-Token": self.me["csrf_token"]}

    def form(self, path: str, data: dict, **kwargs):
        return self.http.post(path, data={**data, "csrf_token": self.me["csrf_token"]}, follow_redirects=False, **kwargs)


def _match_event(client, headers, code: str, content_ref: str, distance: int = 0, **extra) -> int:
    query = pdq_query(flip_bits(code, distance), content_ref)
    query.update(extra)
    # The review band in the answer: these events are at distances up to 52.
    response = client.post("/v1/match", json={"queries": [query], "review_band": "sync"}, headers=headers)
    assert matched_ids(response)[0], response.text
    with client.app.state.sessions() as session:
        return session.scalar(select(MatchEvent.id).order_by(MatchEvent.id.desc()).limit(1))


def _banked(client) -> tuple[str, int]:
    code = random_pdq()
    submit(client, image_item(code))
    catch_up(client.app)
    with client.app.state.sessions() as session:
        return code, session.scalar(select(BankHash.id).order_by(BankHash.id.desc()).limit(1))


def _decide(client, headers, event_id: int, decision: str, reason: str = "looked at it"):
    return client.post("/v1/review/decisions", headers=headers,
                       json={"match_event_id": event_id, "decision": decision, "reason": reason})


def _error(response) -> str:
    return response.json()["error"]["code"]


# --- accounts and lockout --------------------------------------------------------------------


def test_accounts_passwords_and_growing_lockout(client):
    _platform(client, "alpha")
    ann = _account(client.app, "ann", "alpha")
    hot = _account(client.app, "hot")
    with client.app.state.sessions() as session:
        a, h = session.get(Moderator, ann), session.get(Moderator, hot)
        assert (a.role, h.role, h.platform_id) == ("platform", "hotline", None) and a.platform_id is not None
        assert a.password_hash.startswith("$argon2id$") and PASSWORD not in a.password_hash
    with transaction(client.app.state.sessions) as session:
        for bad in (dict(name="ann"), dict(name="bob", password="short"), dict(name="two words"),
                    dict(name="carl", platform="no-such-platform")):
            with pytest.raises(moderators.AccountError):
                moderators.create(session, client.app.state.settings, bad.pop("name"), bad.pop("password", PASSWORD), **bad)

    def login(name: str, password: str):
        return client.post("/v1/moderators/login", json={"name": name, "password": password})

    assert login("ann", PASSWORD).status_code == 200
    # Unknown names and wrong passwords get the same answer.
    assert _error(login("nobody", PASSWORD)) == _error(login("ann", "wrong password!")) == "moderator_login_failed"
    for _ in range(3):
        assert login("ann", "wrong password!").status_code == 401
    locked = login("ann", "wrong password!")  # the 5th failure locks for 60 s
    assert locked.status_code == 401
    refused = login("ann", PASSWORD)
    assert refused.status_code == 429 and _error(refused) == "moderator_locked"
    assert 0 < int(refused.headers["Retry-After"]) <= 61
    # The lock ran out; one more failure locks for twice as long.
    with transaction(client.app.state.sessions) as session:
        session.execute(update(Moderator).where(Moderator.id == ann).values(locked_until=datetime.now(timezone.utc)))
    assert login("ann", "wrong password!").status_code == 401
    assert 61 < int(login("ann", PASSWORD).headers["Retry-After"]) <= 121
    with client.app.state.sessions() as session:
        locks = session.scalars(select(AuditEntry).where(AuditEntry.action == "moderator.locked")).all()
        assert [e.details["seconds"] for e in locks] == [60, 120]
        assert all(PASSWORD not in str(e.details) for e in session.scalars(select(AuditEntry)))
    # A reset lifts the lock; a disabled account cannot log in (same answer as a wrong password).
    with transaction(client.app.state.sessions) as session:
        moderators.reset_password(session, client.app.state.settings, session.get(Moderator, ann), "a brand new password")
    assert login("ann", "a brand new password").status_code == 200
    with transaction(client.app.state.sessions) as session:
        moderators.disable(session, session.get(Moderator, hot))
    assert _error(login("hot", PASSWORD)) == "moderator_login_failed"


def _login(client, name: str, password: str):
    return client.post("/v1/moderators/login", json={"name": name, "password": password})


def test_a_login_holds_no_transaction_while_argon2_runs(client, monkeypatch):
    """Anyone can start a login (any name); while its argon2 runs, the bank must go on writing
    (on SQLite, a transaction held across the verify holds the one write lock)."""
    from concurrent.futures import ThreadPoolExecutor

    _account(client.app, "ann")
    platform = _key_headers(create_platform(client.app, "alpha", ("match",)))
    code = random_pdq()
    submit(client, image_item(code))
    catch_up(client.app)
    held = HeldVerify(monkeypatch)
    with ThreadPoolExecutor(2) as pool:
        login = pool.submit(_login, client, "ann", PASSWORD)
        try:
            assert held.started.wait(10)
            write = pool.submit(match, client, platform, pdq_query(code, "upload/1"))
            assert matched_ids(write.result(timeout=5))[0]  # a match event recorded meanwhile
            assert not login.done()
        finally:
            held.release.set()
        assert login.result(timeout=10).status_code == 200
    assert count(client.app, MatchEvent) == 1


def test_concurrent_wrong_passwords_are_counted_exactly_and_stop_at_the_lock(client, monkeypatch):
    from concurrent.futures import ThreadPoolExecutor

    ann = _account(client.app, "ann")
    n = client.app.state.settings.moderator_max_attempts
    held = HeldVerify(monkeypatch, holds=False, sleep=0.2)  # slow, so that the guesses overlap
    with ThreadPoolExecutor(2 * n) as pool:
        answers = [a.status_code for a in pool.map(lambda _: _login(client, "ann", "wrong password!"), range(2 * n))]
    assert sorted(answers) == [401] * n + [429] * n
    assert held.verifies == n
    with client.app.state.sessions() as session:
        stored = session.get(Moderator, ann)
        assert stored.failed_logins == n and stored.locked_until is not None
        locks = session.scalars(select(AuditEntry).where(AuditEntry.action == "moderator.locked")).all()
        assert [e.details["failed_logins"] for e in locks] == [n]
    assert _login(client, "ann", PASSWORD).status_code == 429


def test_a_password_reset_or_disable_during_the_verify_wins(client, monkeypatch):
    """The old password, verified while an operator reset it, opens no session; nor does a
    right password verified while the account was disabled."""
    from concurrent.futures import ThreadPoolExecutor

    settings = client.app.state.settings
    ann, _ = _account(client.app, "ann"), _account(client.app, "bob")
    for name, change in (("ann", lambda s: moderators.reset_password(s, settings, s.get(Moderator, ann), "a brand new password")),
                         ("bob", lambda s: moderators.disable(s, moderators.by_name(s, "bob")))):
        held = HeldVerify(monkeypatch, holds=PASSWORD)
        with ThreadPoolExecutor(1) as pool:
            login = pool.submit(_login, client, name, PASSWORD)
            try:
                assert held.started.wait(10)
                with transaction(client.app.state.sessions) as session:
                    change(session)
            finally:
                held.release.set()
            assert _error(login.result(timeout=10)) == "moderator_login_failed"
    assert count(client.app, ModeratorSession) == 0


def test_cli_create_list_disable_reset(tmp_path, database_url):
    env = {"NCII_DATA_DIR": str(tmp_path / "data"), "DATABASE_URL": database_url, "NCII_DATABASE_URL": None,
           "NCII_ARGON2_TIME_COST": "1", "NCII_ARGON2_MEMORY_KIB": "1024"}
    from service.cli import app as cli

    runner = CliRunner()

    def run(*args: str, stdin: str | None = None):
        return runner.invoke(cli, list(args), env=env, input=stdin)

    assert run("platform", "create", "alpha").exit_code == 0
    created = run("moderator", "create", "ann", "--platform", "alpha")
    assert created.exit_code == 0, created.output
    password = created.stdout.strip().splitlines()[-1]
    assert len(password) >= 20
    assert run("moderator", "create", "hot", "--hotline", "--password-stdin", stdin="typed in a pipe 123\n").exit_code == 0
    assert run("moderator", "create", "x", "--hotline", "--platform", "alpha").exit_code == 2
    assert run("moderator", "create", "y").exit_code == 2
    assert run("moderator", "create", "ann", "--hotline").exit_code == 1
    assert run("moderator", "create", "z", "--platform", "nope").exit_code == 1

    settings = make_settings(tmp_path / "data", database_url)
    engine = make_engine(settings)
    sessionmaker = make_sessionmaker(engine)
    assert moderators.authenticate(sessionmaker, settings, "ann", password) is not None
    assert moderators.authenticate(sessionmaker, settings, "hot", "typed in a pipe 123") is not None
    listed = run("moderator", "list")
    assert listed.exit_code == 0 and "ann" in listed.stdout and "hotline" in listed.stdout and password not in listed.stdout

    reset = run("moderator", "reset-password", "ann")
    new_password = reset.stdout.strip().splitlines()[-1]
    assert reset.exit_code == 0 and new_password != password
    assert run("moderator", "disable", "hot").exit_code == 0
    assert run("moderator", "disable", "nobody").exit_code == 1
    assert moderators.authenticate(sessionmaker, settings, "ann", password) is None
    assert moderators.authenticate(sessionmaker, settings, "ann", new_password) is not None
    assert moderators.authenticate(sessionmaker, settings, "hot", "typed in a pipe 123") is None
    with transaction(sessionmaker) as session:
        actions = session.scalars(select(AuditEntry.action).where(AuditEntry.action.like("moderator.%"))).all()
    assert sorted(set(actions)) == ["moderator.created", "moderator.disabled", "moderator.password_reset"]
    engine.dispose()


def test_an_operator_unlocks_a_moderator(client, database_url):
    """``ncii moderator unlock``: the lock and the count go, the password and live sessions stay."""
    settings = client.app.state.settings
    env = {"NCII_DATA_DIR": str(settings.data_dir), "DATABASE_URL": database_url, "NCII_DATABASE_URL": None,
           "NCII_ARGON2_TIME_COST": "1", "NCII_ARGON2_MEMORY_KIB": "1024", "USER": "op-jo"}
    from service.cli import app as cli

    ann = _account(client.app, "ann")
    live = Browserish(client.app, "ann")
    for _ in range(settings.moderator_max_attempts):
        _login(client, "ann", "wrong password!")
    assert _error(_login(client, "ann", PASSWORD)) == "moderator_locked"
    done = CliRunner().invoke(cli, ["moderator", "unlock", "ann"], env=env)
    assert done.exit_code == 0, done.output
    assert "unlocked" in done.output and f"{settings.moderator_max_attempts} wrong password(s) cleared" in done.output
    assert live.http.get("/v1/moderators/me").status_code == 200  # its session was not ended
    assert _login(client, "ann", PASSWORD).status_code == 200
    assert CliRunner().invoke(cli, ["moderator", "unlock", "nobody"], env=env).exit_code == 1
    with client.app.state.sessions() as session:
        row = session.scalar(select(AuditEntry).where(AuditEntry.action == "moderator.unlocked"))
        assert (row.actor_type, row.actor_id, row.subject_id) == ("admin", "op-jo", str(ann))
        assert row.details == {"failed_logins": settings.moderator_max_attempts, "was_locked": True}


# --- sessions ----------------------------------------------------------------------------------


def test_session_cookie_storage_expiry_and_logout(client):
    _account(client.app, "hot")
    response = client.post("/v1/moderators/login", json={"name": "hot", "password": PASSWORD})
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie and "Secure" not in cookie
    token = client.cookies[sessions.COOKIE]
    with client.app.state.sessions() as session:
        row = session.scalar(select(ModeratorSession))
        assert row.token_hash == hashlib.sha256(token.encode()).hexdigest() and token not in row.token_hash
    assert client.get("/v1/moderators/me").json()["name"] == "hot"
    over_https = TestClient(client.app, base_url="https://testserver")
    assert "Secure" in over_https.post("/v1/moderators/login", json={"name": "hot", "password": PASSWORD}).headers["set-cookie"]

    def expire(**values) -> None:
        with transaction(client.app.state.sessions) as session:
            session.execute(update(ModeratorSession).where(ModeratorSession.token_hash == sessions.digest(token)).values(**values))

    now = datetime.now(timezone.utc)
    expire(last_seen_at=now - timedelta(minutes=31))  # idle too long
    assert _error(client.get("/v1/moderators/me")) == "moderator_session_required"
    expire(last_seen_at=now, ended_at=None, expires_at=now - timedelta(seconds=1))  # past the absolute limit
    assert client.get("/v1/moderators/me").status_code == 401
    expire(ended_at=None, expires_at=now + timedelta(hours=1))
    me = client.get("/v1/moderators/me")
    assert me.status_code == 200
    # Logout needs the CSRF token like every POST; then the cookie is dead even if replayed.
    assert _error(client.post("/v1/moderators/logout")) == "csrf_token_invalid"
    assert client.post("/v1/moderators/logout", headers={"X-CSRF-Token": me.json()["csrf_token"]}).status_code == 204
    replay = TestClient(client.app, cookies={sessions.COOKIE: token})
    assert replay.get("/v1/moderators/me").status_code == 401
    # A password reset ends every open session of the account.
    other = Browserish(client.app, "hot")
    with transaction(client.app.state.sessions) as session:
        moderators.reset_password(session, client.app.state.settings, moderators.by_name(session, "hot"), "another long password")
    assert other.http.get("/v1/moderators/me").status_code == 401


def test_a_login_deletes_sessions_past_their_absolute_limit(client):
    _account(client.app, "hot")
    old, live = Browserish(client.app, "hot"), Browserish(client.app, "hot")
    now = datetime.now(timezone.utc)
    with transaction(client.app.state.sessions) as session:
        rows = session.scalars(select(ModeratorSession).order_by(ModeratorSession.id)).all()
        assert len(rows) == 2
        rows[0].expires_at = now - timedelta(seconds=1)  # old's session, past its 10 hours
        rows[1].ended_at = now  # live's: logged out, but within its limit (kept until then)
    Browserish(client.app, "hot")
    with client.app.state.sessions() as session:
        kept = session.scalars(select(ModeratorSession).order_by(ModeratorSession.id)).all()
    assert [r.id for r in kept] == [rows[1].id, rows[1].id + 1]
    assert old.http.get("/v1/moderators/me").status_code == 401


def test_csrf_and_origin_refusals(client):
    a = _platform(client, "alpha")
    _account(client.app, "ann", "alpha")
    _account(client.app, "hot")
    code, hash_id = _banked(client)
    event = _match_event(client, a, code, "upload/1")
    ann, hot = Browserish(client.app, "ann"), Browserish(client.app, "hot")

    path = f"/v1/hotline/hashes/{hash_id}/retire"
    assert _error(hot.http.post(path, json={"reason": "x"})) == "csrf_token_invalid"
    assert _error(hot.http.post(path, json={"reason": "x"}, headers={"X-CSRF-Token": "0" * 64})) == "csrf_token_invalid"
    assert _error(hot.http.post(path, json={"reason": "x"}, headers={**hot.csrf, "Origin": "https://evil.example"})) \
        == "cross_origin_refused"
    assert _error(hot.http.post(path, json={"reason": "x"}, headers={**hot.csrf, "Sec-Fetch-Site": "cross-site"})) \
        == "cross_origin_refused"
    # Another session's token is not this session's.
    assert _error(hot.http.post(path, json={"reason": "x"}, headers=ann.csrf)) == "csrf_token_invalid"
    with client.app.state.sessions() as session:
        assert session.get(BankHash, hash_id).status == "active"

    # The UI's forms: the same rule.
    decide = f"/review/items/{event}/decide"
    no_token = ann.http.post(decide, data={"decision": "not_ncii", "reason": "ordinary photo"}, follow_redirects=False)
    assert no_token.status_code == 403 and _error(no_token) == "csrf_token_invalid"
    assert ann.form(decide, {"decision": "not_ncii", "reason": "ordinary"}, headers={"Origin": "http://evil.example"}).status_code == 403
    assert count(client.app, ReviewDecision) == 0
    ok = ann.form(decide, {"decision": "not_ncii", "reason": "ordinary photo"}, headers={"Origin": "http://testserver"})
    assert ok.status_code == 303
    with client.app.state.sessions() as session:
        assert session.scalar(select(ReviewDecision.decided_by)) == f"moderator:{ann.me['id']}"

    # The login form carries a pre-session token (login CSRF).
    fresh = TestClient(client.app)
    refused = fresh.post("/review/login", data={"name": "ann", "password": PASSWORD, "login_nonce": "guess"}, follow_redirects=False)
    assert refused.status_code == 403 and sessions.COOKIE not in fresh.cookies
    page = fresh.get("/review/login")
    nonce = re.search(r'name="login_nonce" value="([^"]+)"', page.text).group(1)
    done = fresh.post("/review/login", data={"name": "ann", "password": PASSWORD, "login_nonce": nonce}, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == "/review/" and sessions.COOKIE in fresh.cookies
    # A wrong password is told on the page; the page shows no text from the URL.
    other = TestClient(client.app)
    page = other.get("/review/login", params={"error": "<b>call this number</b>", "status": 500})
    assert page.status_code == 200 and "call this number" not in page.text
    nonce = re.search(r'name="login_nonce" value="([^"]+)"', page.text).group(1)
    wrong = other.post("/review/login", data={"name": "ann", "password": "not it at all", "login_nonce": nonce})
    assert wrong.status_code == 401 and "The name or the password is not right." in wrong.text


# --- roles and isolation -------------------------------------------------------------------------


def test_roles_and_platform_isolation(client):
    a, b = _platform(client, "alpha"), _platform(client, "beta")
    _account(client.app, "ann", "alpha")
    _account(client.app, "bea", "beta")
    _account(client.app, "hot")
    code, hash_id = _banked(client)
    ea = _match_event(client, a, code, "a-upload/1")
    eb = _match_event(client, b, code, "b-upload/9")
    ann, bea, hot = (Browserish(client.app, n) for n in ("ann", "bea", "hot"))

    # Unauthenticated: API 401, pages go to the login page.
    anonymous = TestClient(client.app)
    for path in ("/v1/hotline/suspended", "/v1/hotline/queue", "/v1/moderators/me"):
        assert anonymous.get(path).status_code == 401
    for path in ("/review/", f"/review/items/{ea}", "/review/hotline"):
        response = anonymous.get(path, follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"] == "/review/login"

    # A platform's moderator sees only its platform's items, whatever the URL says.
    queue = ann.http.get("/review/?status=all").text
    assert "a-upload/1" in queue and "b-upload/9" not in queue
    assert "b-upload/9" not in ann.http.get(f"/review/?status=all&platform={b and 2}").text
    stolen = ann.http.get(f"/review/items/{eb}")
    assert stolen.status_code == 404 and _error(stolen) == "match_event_not_found"
    tampered = ann.form(f"/review/items/{eb}/decide", {"decision": "ncii_remove", "reason": "mine now"})
    assert tampered.status_code == 404
    bulk = ann.form("/review/bulk", {"items": str(eb), "decision": "not_ncii", "reason": "not mine"})
    assert bulk.status_code == 303 and "decided=0&skipped=1" in bulk.headers["location"]
    odd = ann.form("/review/bulk", {"items": str(eb), "decision": "not_ncii", "reason": "x", "back": "status=\u00e9t\u00e9"})
    assert odd.status_code == 303 and odd.headers["location"] == "/review/?decided=0&skipped=1"
    with client.app.state.sessions() as session:
        assert session.get(MatchEvent, eb).review_status == "pending"
    assert bea.http.get(f"/review/items/{eb}").status_code == 200

    # Roles: platform moderators have no hotline; hotline staff decide no platform's item.
    assert _error(ann.http.get("/v1/hotline/suspended")) == "moderator_role"
    assert _error(ann.http.post(f"/v1/hotline/hashes/{hash_id}/retire", json={"reason": "x"}, headers=ann.csrf)) == "moderator_role"
    assert ann.http.get("/review/hotline", follow_redirects=False).status_code == 403
    assert _error(hot.form(f"/review/items/{ea}/decide", {"decision": "ncii_remove", "reason": "x"})) == "moderator_role"
    assert count(client.app, ReviewDecision) == 0

    # Hotline staff read every platform's queue, or one platform's.
    both = hot.http.get("/v1/hotline/queue", params={"status": "all"}).json()
    assert {g["content_ref"] for g in both["groups"]} == {"a-upload/1", "b-upload/9"}
    only_b = hot.http.get("/v1/hotline/queue", params={"platform_id": bea.me["platform_id"]}).json()
    assert [g["content_ref"] for g in only_b["groups"]] == ["b-upload/9"]
    page = hot.http.get(f"/review/?platform={bea.me['platform_id']}").text
    assert "b-upload/9" in page and "a-upload/1" not in page
    assert hot.http.get(f"/review/items/{ea}").status_code == 200


# --- hotline: reinstate and retire ---------------------------------------------------------


def test_reinstate_counts_only_later_verdicts_and_retire(client):
    a, b, c = _platform(client, "alpha"), _platform(client, "beta"), _platform(client, "gamma")
    _account(client.app, "hot")
    hot = Browserish(client.app, "hot")
    code, hash_id = _banked(client)

    def not_ncii(headers, ref):
        return _decide(client, headers, _match_event(client, headers, code, ref), "not_ncii")

    assert not_ncii(a, "a/1").json()["hash_suspended_now"] is False
    assert not_ncii(b, "b/1").json()["hash_suspended_now"] is True
    listed = hot.http.get("/v1/hotline/suspended").json()["hashes"]
    assert [h["hash_id"] for h in listed] == [hash_id]
    assert listed[0]["reputation"] == {"ncii_remove": 0, "not_ncii": 2, "escalate": 0, "not_ncii_platforms": 2}
    catch_up(client.app)
    assert matched_ids(match(client, c, pdq_query(code)))[0] == []

    # Bad requests first: nothing changes.
    assert _error(hot.http.post(f"/v1/hotline/hashes/{hash_id}/reinstate", json={"reason": "  "}, headers=hot.csrf)) == "request_invalid"
    assert _error(hot.http.post("/v1/hotline/hashes/999999/reinstate", json={"reason": "x"}, headers=hot.csrf)) == "hash_not_found"
    assert hot.http.post(f"/v1/hotline/hashes/{hash_id}/reinstate", json={"reason": "x", "extra": 1}, headers=hot.csrf).status_code == 422

    seq_before = count(client.app, ChangeLog)
    done = hot.http.post(f"/v1/hotline/hashes/{hash_id}/reinstate", json={"reason": "the helper confirmed it"}, headers=hot.csrf)
    assert done.status_code == 200, done.text
    assert done.json()["hash_status"] == "active" and done.json()["decided_by"] == f"moderator:{hot.me['id']}"
    again = hot.http.post(f"/v1/hotline/hashes/{hash_id}/reinstate", json={"reason": "x"}, headers=hot.csrf)
    assert again.status_code == 409 and again.json()["error"]["details"] == {"hash_status": "active"}
    with client.app.state.sessions() as session:
        last = session.scalar(select(ChangeLog).order_by(ChangeLog.seq.desc()).limit(1))
        assert (last.hash_id, last.op, last.reason) == (hash_id, "add", "reinstated")
        assert session.scalar(select(HotlineAction.reason)) == "the helper confirmed it"
        assert session.scalar(select(AuditEntry.action).order_by(AuditEntry.id.desc()).limit(1)) == "hash.reinstated"
        assert all("helper confirmed" not in str(e.details) for e in session.scalars(select(AuditEntry)))
    assert count(client.app, ChangeLog) == seq_before + 1
    catch_up(client.app)
    assert matched_ids(match(client, c, pdq_query(code)))[0] == [hash_id]  # it matches again

    # The overruled verdicts do not count: alpha saying it again is one platform since the clearance...
    assert not_ncii(a, "a/2").json()["hash_suspended_now"] is False
    # ...and a second platform after it suspends the hash again.
    assert not_ncii(c, "c/1").json()["hash_suspended_now"] is True

    seen = hot.http.get(f"/v1/hotline/hashes/{hash_id}").json()
    assert seen["status"] == "suspended" and seen["cleared_at"] is not None
    assert seen["reputation"] == {"ncii_remove": 0, "not_ncii": 4, "escalate": 0, "not_ncii_platforms": 2}
    assert [(x["action"], x["reason"]) for x in seen["actions"]] == [("reinstate", "the helper confirmed it")]
    assert _error(_platform_moderator_asks_for_a_hash(client)) == "moderator_role"

    # Retire a suspended hash: it was out of the index already, so no change-log entry.
    before = count(client.app, ChangeLog)
    retired = hot.http.post(f"/v1/hotline/hashes/{hash_id}/retire", json={"reason": "ordinary holiday photo"}, headers=hot.csrf)
    assert retired.status_code == 200 and retired.json()["hash_status"] == "retired" and retired.json()["index_change"] is False
    assert count(client.app, ChangeLog) == before
    assert hot.http.get("/v1/hotline/suspended").json()["hashes"] == []
    assert hot.http.post(f"/v1/hotline/hashes/{hash_id}/reinstate", json={"reason": "x"}, headers=hot.csrf).status_code == 409

    # Retire an active hash: it leaves every index through the change log.
    code2, hash2 = _banked(client)
    retired2 = hot.http.post(f"/v1/hotline/hashes/{hash2}/retire", json={"reason": "bad-faith submission"}, headers=hot.csrf)
    assert retired2.json()["index_change"] is True
    with client.app.state.sessions() as session:
        last = session.scalar(select(ChangeLog).order_by(ChangeLog.seq.desc()).limit(1))
        assert (last.hash_id, last.op, last.reason) == (hash2, "remove", "retired")
    catch_up(client.app)
    assert matched_ids(match(client, a, pdq_query(code2)))[0] == []


def _platform_moderator_asks_for_a_hash(client):
    """A platform moderator asking for a hash's reputation."""
    _account(client.app, "pat", "alpha")
    return Browserish(client.app, "pat").http.get("/v1/hotline/hashes/1")


def test_hotline_staff_unlock_a_case(client):
    """``POST /v1/hotline/cases/{number}/unlock``: hotline staff only, with the CSRF token; audited."""
    from service.bank.case_numbers import new_case_number

    _platform(client, "alpha")
    _account(client.app, "hot")
    _account(client.app, "ann", "alpha")
    hot, ann = Browserish(client.app, "hot"), Browserish(client.app, "ann")
    case = submit(client, image_item(random_pdq()))
    url, n = f"/v1/cases/{case['case_number']}", client.app.state.settings.pin_max_attempts
    wrong = {"X-Case-PIN": "00000000" if case["pin"] != "00000000" else "11111111"}
    for _ in range(n):
        client.get(url, headers=wrong)
    unlock = f"/v1/hotline/cases/{case['case_number']}/unlock"
    assert _error(ann.http.post(unlock, headers=ann.csrf)) == "moderator_role"
    assert _error(hot.http.post(unlock)) == "csrf_token_invalid"
    assert _error(client.post(unlock)) == "moderator_session_required"
    assert _error(hot.http.post(f"/v1/hotline/cases/{new_case_number()}/unlock", headers=hot.csrf)) == "case_not_found"
    assert client.get(url, headers={"X-Case-PIN": case["pin"]}).status_code == 429  # nothing was unlocked so far
    done = hot.http.post(unlock, headers=hot.csrf)
    assert done.status_code == 200, done.text
    body = done.json()
    assert (body["case_number"], body["failed_attempts"], body["unlocked_by"]) == (case["case_number"], n, f"moderator:{hot.me['id']}")
    assert datetime.fromisoformat(body["locked_until"]) > datetime.now(timezone.utc)
    assert client.get(url, headers={"X-Case-PIN": case["pin"]}).status_code == 200
    with client.app.state.sessions() as session:
        row = session.scalar(select(AuditEntry).where(AuditEntry.action == "case.unlocked"))
        assert (row.actor_type, row.actor_id, row.subject_id) == ("moderator", str(hot.me["id"]), case["case_number"])


def test_hotline_ui_reinstate(client):
    a, b = _platform(client, "alpha"), _platform(client, "beta")
    _account(client.app, "hot")
    hot = Browserish(client.app, "hot")
    code, hash_id = _banked(client)
    for headers, ref in ((a, "a/1"), (b, "b/1")):
        _decide(client, headers, _match_event(client, headers, code, ref), "not_ncii")
    page = hot.http.get("/review/hotline")
    assert page.status_code == 200 and f'data-hash="{hash_id}"' in page.text
    blank = hot.form(f"/review/hotline/hashes/{hash_id}/reinstate", {"reason": " "})
    assert blank.status_code == 422
    done = hot.form(f"/review/hotline/hashes/{hash_id}/reinstate", {"reason": "checked with the helper"})
    assert done.status_code == 303
    with client.app.state.sessions() as session:
        assert session.get(BankHash, hash_id).status == "active"
    assert "No suspended hashes." in hot.http.get("/review/hotline").text


# --- queue filters, bulk decisions, preview URLs ------------------------------------------------


def test_queue_filters(client):
    a = _platform(client, "alpha")
    code, _ = _banked(client)
    near = _match_event(client, a, code, "near", distance=2)
    mid = _match_event(client, a, code, "mid", distance=20)
    far = _match_event(client, a, code, "far", distance=40)
    with transaction(client.app.state.sessions) as session:
        session.execute(update(MatchEvent).where(MatchEvent.id == far).values(created_at=datetime.now(timezone.utc) - timedelta(hours=50)))

    def refs(**params) -> list[str]:
        response = client.get("/v1/review/queue", headers=a, params=params)
        assert response.status_code == 200, response.text
        return [g["content_ref"] for g in response.json()["groups"]]

    assert refs() == ["near", "mid", "far"]
    assert refs(min_distance=10) == ["mid", "far"]
    assert refs(min_distance=10, max_distance=30) == ["mid"]
    assert refs(max_age_hours=24) == ["near", "mid"]
    assert refs(signal="pdq") == ["near", "mid", "far"] and refs(signal="md5") == []
    for bad in ({"min_distance": -1}, {"max_age_hours": 0}, {"signal": "PDQ;drop"}, {"max_distance": "x"}):
        response = client.get("/v1/review/queue", headers=a, params=bad)
        assert response.status_code == 422 and _error(response) == "request_invalid"
    assert near < mid < far


def test_bulk_decisions(client):
    a, b = _platform(client, "alpha"), _platform(client, "beta")
    code, _ = _banked(client)
    e1, e2, e3 = (_match_event(client, a, code, f"a/{i}") for i in range(3))
    eb = _match_event(client, b, code, "b/1")
    assert _decide(client, a, e3, "escalate").status_code == 201

    body = {"match_event_ids": [e1, e2, e3, eb, e1], "decision": "not_ncii", "reason": "memes"}
    response = client.post("/v1/review/decisions/bulk", headers=a, json=body)
    assert response.status_code == 200, response.text
    out = response.json()
    assert out["decided"] == 3  # e3 was escalated: a final decision is allowed on it
    assert [(r["match_event_id"], r["status"]) for r in out["results"]] == [
        (e1, "decided"), (e2, "decided"), (e3, "decided"), (eb, "not_found")]
    again = client.post("/v1/review/decisions/bulk", headers=a, json={**body, "match_event_ids": [e1]}).json()
    assert again["results"][0] == {"match_event_id": e1, "status": "already_decided", "review_status": "not_ncii",
                                   "decision_id": None}
    for bad in ({**body, "decision": "ncii_remove"}, {**body, "reason": ""}, {**body, "match_event_ids": []},
                {**body, "match_event_ids": list(range(1, 102))}, {**body, "match_event_ids": ["1"]}):
        response = client.post("/v1/review/decisions/bulk", headers=a, json=bad)
        assert response.status_code == 422 and _error(response) == "request_invalid"
    with client.app.state.sessions() as session:
        assert session.get(MatchEvent, eb).review_status == "pending"


REFUSED_PREVIEWS = (
    "javascript:alert(1)", "data:image/png;base64,AAAA", "ftp://example.com/x.png", "/relative.png",
    "https://user:pw@example.com/x.png", "https://exa mple.com/x.png", "https://example.com/" + "a" * 2100,
    "https://a;b.example/x.png", "https:///x.png", "https://example.com:99999/x.png", "https://example.com/\nx",
)


def test_preview_url_refused(client, platform):
    for url in REFUSED_PREVIEWS:
        response = match(client, platform, {**pdq_query(random_pdq(), "u/1"), "preview_url": url})
        assert response.status_code == 422 and _error(response) == "request_invalid", url
        assert "preview_url" in str(response.json()["error"]["details"])
        assert url[:20] not in response.text  # the input is not echoed


def test_preview_url_stored_with_the_event_and_allowed_on_its_page_only(client):
    a = _platform(client, "alpha")
    _account(client.app, "ann", "alpha")
    code, _ = _banked(client)
    url = "https://media.alpha.example:8443/review/12.jpg?sig=abc"
    with_preview = _match_event(client, a, code, "u/1", preview_url=url)
    without = _match_event(client, a, code, "u/2")
    queue = client.get("/v1/review/queue", headers=a).json()
    assert [m["preview_url"] for g in queue["groups"] for m in g["matches"]] == [url, None]
    ann = Browserish(client.app, "ann")
    page = ann.http.get(f"/review/items/{with_preview}")
    csp = page.headers["content-security-policy"]
    assert "img-src 'self' data: https://media.alpha.example:8443;" in csp and "script-src 'self'" in csp
    assert page.headers["referrer-policy"] == "same-origin" and page.headers["cache-control"] == "no-store"
    assert 'class="preview" data-revealed="false"' in page.text and 'referrerpolicy="no-referrer"' in page.text
    other = ann.http.get(f"/review/items/{without}")
    assert "img-src 'self' data:;" in other.headers["content-security-policy"] and "<img" not in other.text


def test_hostile_input_is_a_4xx(client):
    a = _platform(client, "alpha")
    _account(client.app, "ann", "alpha")
    _account(client.app, "hot")
    ann, hot = Browserish(client.app, "ann"), Browserish(client.app, "hot")
    huge = str(2**64)
    for response in (
        ann.http.get(f"/review/items/{huge}"),
        ann.http.get("/review/items/abc"),
        ann.form(f"/review/items/{huge}/decide", {"decision": "not_ncii", "reason": "x"}),
        ann.form("/review/items/1/decide", {"decision": "delete everything", "reason": "x"}),
        ann.form("/review/bulk", {"items": "1,x", "decision": "not_ncii", "reason": "x"}),
        ann.form("/review/bulk", {"items": "1,\u00b2", "decision": "not_ncii", "reason": "x"}),
        ann.form("/review/bulk", {"items": "1", "decision": "ncii_remove", "reason": "x"}),
        ann.http.get("/review/", params={"max_distance": "999"}),
        ann.http.get("/review/", params={"min_distance": "-1"}),
        ann.http.get("/review/", params={"status": "everything"}),
        hot.form(f"/review/hotline/hashes/{huge}/retire", {"reason": "x"}),
        hot.form("/review/hotline/hashes/1/destroy", {"reason": "x"}),
        hot.http.post(f"/v1/hotline/hashes/{huge}/retire", json={"reason": "x"}, headers=hot.csrf),
        hot.http.get("/v1/hotline/queue", params={"platform_id": huge}),
        hot.http.get("/v1/hotline/suspended", params={"cursor": "abc"}),
        client.post("/v1/review/decisions/bulk", headers=a,
                    json={"match_event_ids": [2**64], "decision": "not_ncii", "reason": "x"}),
        client.post("/v1/review/decisions", headers=a,
                    json={"match_event_id": 2**64, "decision": "not_ncii", "reason": "x"}),
        client.post("/v1/moderators/login", json={"name": "ann"}),
        client.post("/v1/moderators/login", json={"name": "ann", "password": "x" * 300}),
    ):
        assert 400 <= response.status_code < 500, (response.request.url, response.status_code, response.text)
        assert response.json()["error"]["code"]


@pytest.mark.parametrize("mine", [
    {"moderators", "moderator_sessions", "hotline_actions", "match_events", "hash_reputation"},  # 0005
    {"webhook_endpoints", "webhook_deliveries", "webhook_attempts"},  # 0006, 0007
    {"video_frames", "match_events", "case_items", "remote_videos"},  # 0009
])
def test_migrations_match_the_models(app, client, mine):
    """The moderation and webhook tables and columns the migrations create are the ones the models declare."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from service.db.models import Base

    with app.state.engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)

    def table_of(entry) -> str:
        entry = entry[0] if isinstance(entry, list) else entry  # modify_* entries come in lists
        if entry[0] in ("add_table", "remove_table"):
            return entry[1].name
        if entry[0] in ("add_index", "remove_index", "add_constraint", "remove_constraint", "add_fk", "remove_fk"):
            return entry[1].table.name
        return entry[2]  # add_column, remove_column, modify_*: (kind, schema, table, ...)

    assert [d for d in diff if table_of(d) in mine] == []
