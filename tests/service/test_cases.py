"""Victim cases over HTTP: submit, status, withdraw, PIN lockout, on every storage backend."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select, text, update

from service.db.models import AuditEntry, BankHash, Case, CaseItem, ChangeLog, MatchEvent

from .helpers import (
    BUSY,
    HeldVerify,
    catch_up,
    count,
    file_item,
    image_item,
    match,
    matched_ids,
    pdq_query,
    pin_headers,
    random_pdq,
    submit,
)


def test_submit_accepts_good_items_and_refuses_bad_ones_with_reasons(client):
    good = random_pdq()
    body = {
        "items": [
            image_item(good, label="beach.jpg"),
            image_item("zz" * 32),  # not hex
            image_item("ab" * 31),  # wrong length
            image_item(random_pdq(), quality=20),  # too plain
            image_item(random_pdq(), quality=None),  # PDQ without quality
            {"kind": "file", "hashes": [{"signal": "pdq", "hash": random_pdq(), "quality": 90}]},  # wrong kind
            {"kind": "image", "hashes": [{"signal": "md5", "hash": "a" * 32}]},  # wrong kind
            image_item(good),  # same as item 0
            file_item("0123456789abcdef" * 2),
            image_item(random_pdq(), label="x" * 200),
            {"kind": "image", "hashes": [{"signal": "nope", "hash": "ab"}]},  # unknown signal
        ]
    }
    response = client.post("/v1/cases", json=body)
    assert response.status_code == 201, response.text
    answer = response.json()
    items = answer["items"]
    assert [i["status"] for i in items] == [
        "accepted", "refused", "refused", "refused", "refused", "refused", "refused",
        "duplicate", "accepted", "accepted", "refused",
    ]
    assert [i["code"] for i in items[1:7]] == [
        "hash_malformed", "hash_malformed", "quality_too_low", "quality_missing", "signal_wrong_kind", "signal_wrong_kind"
    ]
    assert items[10]["code"] == "signal_unknown"
    assert all(i["reason"] for i in items if i["status"] == "refused")
    assert items[7]["duplicate_of"] == 0
    assert items[0]["label"] == "beach.jpg"  # echoed back to the device ...
    # ... never stored: no table has a column that could hold it.
    app = client.app
    assert count(app, Case) == 1
    assert count(app, CaseItem) == 3
    assert count(app, BankHash) == 3
    with app.state.sessions() as session:
        for table in ("cases", "case_items", "bank_hashes", "audit_log", "change_log"):
            for row in session.execute(text(f"SELECT * FROM {table}")):
                assert "beach.jpg" not in repr(tuple(row))


def test_duplicate_hashes_within_an_item_collapse(client):
    code = random_pdq()
    case = submit(client, image_item(code, code, code))
    assert case["items"][0]["hashes_accepted"] == 1
    assert count(client.app, BankHash) == 1


def test_an_item_keeps_its_good_hashes_and_reports_the_dropped_ones(client):
    case = submit(client, {"kind": "image", "hashes": [
        {"signal": "pdq", "hash": random_pdq(), "quality": 90},
        {"signal": "pdq", "hash": random_pdq(), "quality": 10},
    ]})
    item = case["items"][0]
    assert item["status"] == "accepted" and item["hashes_accepted"] == 1
    assert item["dropped"] == [{"hash": 1, "code": "quality_too_low", "reason": item["dropped"][0]["reason"]}]


def test_nothing_usable_is_422_and_stores_nothing(client):
    response = client.post("/v1/cases", json={"items": [image_item(random_pdq(), quality=10), image_item("00")]})
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "case_nothing_usable"
    assert [d["code"] for d in error["details"]] == ["quality_too_low", "hash_malformed"]
    app = client.app
    assert count(app, Case) == count(app, BankHash) == count(app, ChangeLog) == count(app, AuditEntry) == 0


def test_too_many_items_is_refused_whole(client, settings):
    items = [image_item(random_pdq()) for _ in range(settings.max_case_items + 1)]
    response = client.post("/v1/cases", json={"items": items})
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "case_too_many_items"
    assert count(client.app, Case) == 0


def test_a_full_case_of_1000_items_is_accepted(client):
    case = submit(client, *[image_item(random_pdq()) for _ in range(1000)])
    assert sum(i["status"] == "accepted" for i in case["items"]) == 1000
    assert count(client.app, BankHash) == 1000


@pytest.mark.parametrize(
    "body",
    [
        {"items": [image_item(random_pdq())], "filename": "me.jpg"},
        {"items": [dict(image_item(random_pdq()), filename="me.jpg")]},
        {"items": [{"kind": "image", "hashes": [{"signal": "pdq", "hash": random_pdq(), "quality": 90, "email": "a@b"}]}]},
        {"items": []},
        {},
        {"items": [{"kind": "audio", "hashes": [{"signal": "md5", "hash": "a" * 32}]}]},
    ],
    ids=["case-filename", "item-filename", "hash-email", "no-items", "empty", "unknown-kind"],
)
def test_unknown_fields_and_bad_shapes_are_refused(client, body):
    response = client.post("/v1/cases", json=body)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "request_invalid"
    assert count(client.app, Case) == 0


def test_pin_is_shown_once_and_stored_only_as_argon2(client):
    case = submit(client, image_item(random_pdq()))
    pin = case["pin"]
    assert len(pin) == 8 and pin.isdigit()
    with client.app.state.sessions() as session:
        stored = session.scalar(select(Case.pin_hash))
        assert stored.startswith("$argon2id$")
        for table in ("cases", "case_items", "bank_hashes", "audit_log", "change_log"):
            for row in session.execute(text(f"SELECT * FROM {table}")):
                assert pin not in repr(tuple(row))
    status = client.get(f"/v1/cases/{case['case_number']}", headers=pin_headers(case)).json()
    assert "pin" not in status


def test_status_counts_items_hashes_and_matches(client, platform):
    a, b = random_pdq(), random_pdq()
    case = submit(client, image_item(a), image_item(b), file_item("ff" * 16))
    catch_up(client.app)
    assert matched_ids(match(client, platform, pdq_query(a, "u1"), pdq_query(a, "u2"))) != [[], []]
    response = client.get(f"/v1/cases/{case['case_number']}", headers=pin_headers(case))
    assert response.status_code == 200, response.text
    status = response.json()
    assert status["case_number"] == case["case_number"]
    assert status["status"] == "active"
    assert status["matches"] == 2 and status["confirmed_removals"] == 0
    assert [(i["position"], i["kind"], i["hashes"], i["matches"]) for i in status["items"]] == [
        (0, "image", 1, 2), (1, "image", 1, 0), (2, "file", 1, 0)
    ]
    created = datetime.fromisoformat(status["created_at"])
    assert created.tzinfo is not None
    assert abs(created - datetime.now(timezone.utc)) < timedelta(minutes=5)


def test_case_number_is_forgiving_about_typing(client):
    case = submit(client, image_item(random_pdq()))
    typed = case["case_number"].lower().replace("-", " ")
    assert client.get(f"/v1/cases/{typed}", headers=pin_headers(case)).status_code == 200


def test_withdraw_stops_matching_and_is_logged(client, platform):
    code, md5 = random_pdq(), "ab" * 16
    case = submit(client, image_item(code), file_item(md5))
    catch_up(client.app)
    md5_query = {"signal": "md5", "hash": md5}
    assert matched_ids(match(client, platform, pdq_query(code), md5_query)) != [[], []]
    assert all(matched_ids(match(client, platform, pdq_query(code), md5_query)))

    response = client.delete(f"/v1/cases/{case['case_number']}", headers=pin_headers(case))
    assert response.status_code == 200, response.text
    assert response.json() == {"case_number": case["case_number"], "status": "withdrawn", "hashes_withdrawn": 2}
    # Filtered by the database at once, then gone from the index too.
    assert matched_ids(match(client, platform, pdq_query(code), md5_query)) == [[], []]
    catch_up(client.app)
    assert matched_ids(match(client, platform, pdq_query(code), md5_query)) == [[], []]
    assert client.app.state.index.size() == 0

    app = client.app
    assert count(app, ChangeLog, ChangeLog.op == "remove", ChangeLog.reason == "withdrawn") == 2
    assert count(app, BankHash, BankHash.status == "withdrawn") == 2
    with app.state.sessions() as session:
        actions = session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)).all()
        assert actions == ["case.created", "case.withdrawn"]
        entry = session.scalar(select(AuditEntry).where(AuditEntry.action == "case.withdrawn"))
        assert (entry.actor_type, entry.actor_id, entry.subject_id) == ("case", case["case_number"], case["case_number"])
        assert entry.at is not None
    status = client.get(f"/v1/cases/{case['case_number']}", headers=pin_headers(case)).json()
    assert status["status"] == "withdrawn" and status["withdrawn_at"] is not None
    assert {i["status"] for i in status["items"]} == {"withdrawn"}
    # Withdrawing twice changes nothing.
    again = client.delete(f"/v1/cases/{case['case_number']}", headers=pin_headers(case))
    assert again.status_code == 200 and again.json()["hashes_withdrawn"] == 0
    assert count(app, ChangeLog) == 4


def test_audit_log_is_append_only(client):
    submit(client, image_item(random_pdq()))
    from sqlalchemy.exc import DBAPIError

    for statement in ("UPDATE audit_log SET action = 'x'", "DELETE FROM audit_log"):
        with pytest.raises(DBAPIError):
            with client.app.state.sessions() as session, session.begin():
                session.execute(text(statement))
    assert count(client.app, AuditEntry) == 1


def _wrong(case):
    right = case["pin"]
    return "00000000" if right != "00000000" else "11111111"


def test_unknown_case_and_wrong_pin_answer_identically(client):
    case = submit(client, image_item(random_pdq()))
    wrong_pin = client.get(f"/v1/cases/{case['case_number']}", headers=pin_headers(case, _wrong(case)))
    from service.bank.case_numbers import new_case_number

    unknown = client.get(f"/v1/cases/{new_case_number()}", headers=pin_headers(case))
    malformed = client.get("/v1/cases/NOT-A-CASE", headers=pin_headers(case))
    no_pin = client.get(f"/v1/cases/{case['case_number']}")
    for response in (wrong_pin, unknown, malformed, no_pin):
        assert response.status_code == 401
        assert response.json() == wrong_pin.json()
        assert response.json()["error"]["code"] == "case_auth_failed"
    assert client.delete(f"/v1/cases/{new_case_number()}", headers=pin_headers(case)).json() == wrong_pin.json()


def test_lockout_after_repeated_failures_with_a_growing_delay(client, settings):
    case = submit(client, image_item(random_pdq()))
    url, wrong = f"/v1/cases/{case['case_number']}", pin_headers(case, _wrong(case))
    for _ in range(settings.pin_max_attempts):
        assert client.get(url, headers=wrong).status_code == 401
    # Each failure was counted although its request answered with an error.
    with client.app.state.sessions() as session:
        stored = session.scalar(select(Case))
        assert stored.failed_pin_attempts == settings.pin_max_attempts
        assert stored.locked_until is not None
    locked = client.get(url, headers=pin_headers(case))  # even the right PIN waits
    assert locked.status_code == 429
    assert locked.json()["error"]["code"] == "case_locked"
    first_wait = int(locked.headers["Retry-After"])
    assert 0 < first_wait <= settings.pin_lock_seconds + 1
    assert client.delete(url, headers=pin_headers(case)).status_code == 429

    def expire_lock():
        with client.app.state.sessions() as session, session.begin():
            session.execute(update(Case).values(locked_until=datetime.now(timezone.utc) - timedelta(seconds=1)))

    expire_lock()
    assert client.get(url, headers=wrong).status_code == 401  # one more failure after the lock ...
    second = client.get(url, headers=wrong)  # ... locks again, for longer
    assert second.status_code == 429
    assert int(second.headers["Retry-After"]) > first_wait
    with client.app.state.sessions() as session:
        assert session.scalar(select(Case.failed_pin_attempts)) == settings.pin_max_attempts + 1
        locks = session.scalars(select(AuditEntry).where(AuditEntry.action == "case.locked")).all()
        assert [e.details["failed_attempts"] for e in locks] == [settings.pin_max_attempts, settings.pin_max_attempts + 1]

    expire_lock()
    ok = client.get(url, headers=pin_headers(case))  # the right PIN after the lock: counters reset
    assert ok.status_code == 200
    with client.app.state.sessions() as session:
        stored = session.scalar(select(Case))
        assert (stored.failed_pin_attempts, stored.locked_until) == (0, None)


def test_a_pin_check_holds_no_transaction_while_argon2_runs(client, platform, monkeypatch):
    """Anyone can start a PIN check (a status request for any case number); while its argon2
    runs, the rest of the bank must go on writing. On SQLite a transaction held across the
    verify would hold the one write lock: here, a platform's match event could not be recorded."""
    from concurrent.futures import ThreadPoolExecutor

    code = random_pdq()
    case = submit(client, image_item(code))
    catch_up(client.app)
    held = HeldVerify(monkeypatch)
    url = f"/v1/cases/{case['case_number']}"
    with ThreadPoolExecutor(2) as pool:
        check = pool.submit(client.get, url, headers=pin_headers(case, _wrong(case)))
        try:
            assert held.started.wait(10)
            write = pool.submit(match, client, platform, pdq_query(code, "upload/1"))
            assert matched_ids(write.result(timeout=5))[0]  # a write, while the PIN is being verified
            assert not check.done()
        finally:
            held.release.set()
        assert check.result(timeout=10).status_code == 401
    assert count(client.app, MatchEvent) == 1
    with client.app.state.sessions() as session:
        assert session.scalar(select(Case.failed_pin_attempts)) == 1


def test_concurrent_wrong_pins_are_counted_exactly_and_stop_at_the_lock(client, settings, monkeypatch):
    """Guesses sent all at once get no more verifies than guesses sent one by one: each is counted
    before its PIN is verified, so those that arrive once the count reaches the limit meet the lock."""
    from concurrent.futures import ThreadPoolExecutor

    case = submit(client, image_item(random_pdq()))
    held = HeldVerify(monkeypatch, holds=False, sleep=0.2)  # slow, so that the guesses overlap
    url, wrong, n = f"/v1/cases/{case['case_number']}", pin_headers(case, _wrong(case)), settings.pin_max_attempts
    with ThreadPoolExecutor(2 * n) as pool:
        answers = [a.status_code for a in pool.map(lambda _: client.get(url, headers=wrong), range(2 * n))]
    assert sorted(answers) == [401] * n + [429] * n
    assert held.verifies == n
    with client.app.state.sessions() as session:
        stored = session.scalar(select(Case))
        assert stored.failed_pin_attempts == n and stored.locked_until is not None
        locks = session.scalars(select(AuditEntry).where(AuditEntry.action == "case.locked")).all()
        assert [e.details["failed_attempts"] for e in locks] == [n]
    assert client.get(url, headers=pin_headers(case)).status_code == 429


def test_a_right_pin_resets_only_the_failures_before_it(client, monkeypatch):
    """Wrong guesses made while the right PIN is being verified still count after it succeeds
    (a right PIN resets the failures before it, as if the two had come one after the other)."""
    from concurrent.futures import ThreadPoolExecutor

    case = submit(client, image_item(random_pdq()))
    url, wrong = f"/v1/cases/{case['case_number']}", pin_headers(case, _wrong(case))
    assert client.get(url, headers=wrong).status_code == 401  # counted, then reset by the right PIN
    held = HeldVerify(monkeypatch, holds=case["pin"])
    with ThreadPoolExecutor(3) as pool:
        right = pool.submit(client.get, url, headers=pin_headers(case))
        try:
            assert held.started.wait(10)
            guesses = [pool.submit(client.get, url, headers=wrong) for _ in range(2)]
            assert [g.result(timeout=5).status_code for g in guesses] == [401, 401]
        finally:
            held.release.set()
        assert right.result(timeout=10).status_code == 200
    with client.app.state.sessions() as session:
        stored = session.scalar(select(Case))
        assert (stored.failed_pin_attempts, stored.locked_until) == (2, None)


def test_every_answer_without_the_right_pin_costs_one_verify(client, monkeypatch):
    """The constant work behind the identical answers: one argon2 verify, also for case numbers
    that do not exist or cannot (a dummy hash stands in)."""
    from service.bank.case_numbers import new_case_number

    case = submit(client, image_item(random_pdq()))
    held = HeldVerify(monkeypatch, holds=False)
    for url, headers in ((f"/v1/cases/{case['case_number']}", pin_headers(case, _wrong(case))),
                         (f"/v1/cases/{new_case_number()}", pin_headers(case)),
                         ("/v1/cases/NOT-A-CASE", pin_headers(case)),
                         (f"/v1/cases/{case['case_number']}", {})):
        before = held.verifies
        assert client.get(url, headers=headers).status_code == 401
        assert held.verifies == before + 1


def test_an_operator_unlocks_a_case_and_it_is_audited(client, settings, database_url):
    """``ncii case unlock``: a victim locked out by someone else's guesses gets in again; the
    guesser can lock the case again (the lockout is per case, not per guesser)."""
    from typer.testing import CliRunner

    from service.bank.case_numbers import new_case_number
    from service.cli import app as cli

    env = {"NCII_DATA_DIR": str(settings.data_dir), "DATABASE_URL": database_url, "NCII_DATABASE_URL": None,
           "NCII_ARGON2_TIME_COST": "1", "NCII_ARGON2_MEMORY_KIB": "1024", "USER": "op-jo"}

    def unlock(number: str):
        return CliRunner().invoke(cli, ["case", "unlock", number], env=env)

    case = submit(client, image_item(random_pdq()))
    url, wrong = f"/v1/cases/{case['case_number']}", pin_headers(case, _wrong(case))
    for _ in range(settings.pin_max_attempts):
        client.get(url, headers=wrong)
    assert client.get(url, headers=pin_headers(case)).status_code == 429
    done = unlock(case["case_number"].lower())  # typed as forgivingly as on the status page
    assert done.exit_code == 0, done.output
    assert "unlocked" in done.output and f"{settings.pin_max_attempts} wrong PIN(s) cleared" in done.output
    assert client.get(url, headers=pin_headers(case)).status_code == 200
    assert "was not locked" in unlock(case["case_number"]).output
    assert unlock(new_case_number()).exit_code == 1
    assert unlock("NOT-A-CASE").exit_code == 1
    with client.app.state.sessions() as session:
        rows = session.scalars(select(AuditEntry).where(AuditEntry.action == "case.unlocked").order_by(AuditEntry.id)).all()
        assert [(e.actor_type, e.actor_id, e.subject_id, e.details) for e in rows] == [
            ("admin", "op-jo", case["case_number"], {"failed_attempts": settings.pin_max_attempts, "was_locked": True}),
            ("admin", "op-jo", case["case_number"], {"failed_attempts": 0, "was_locked": False}),
        ]
    for _ in range(settings.pin_max_attempts):  # what an unlock cannot stop
        client.get(url, headers=wrong)
    assert client.get(url, headers=pin_headers(case)).status_code == 429


def test_argon2_runs_at_most_one_per_core_at_once(tmp_path, monkeypatch):
    """Anyone can make the service run argon2 (a status request for any case number), and each
    run holds argon2_memory_kib: a burst of them must not run (and hold memory) all at once."""
    from concurrent.futures import ThreadPoolExecutor

    from service.auth import passwords

    from .conftest import make_settings
    from .helpers import AtOnce

    at_once = AtOnce()

    class SlowHasher:
        def verify(self, stored, secret):
            at_once.busy(0.1)
            return True

        hash = verify

    monkeypatch.setattr(passwords, "hasher", lambda settings: SlowHasher())
    settings = make_settings(tmp_path)
    burst = 4 * passwords.ARGON2_AT_ONCE
    with ThreadPoolExecutor(burst) as pool:
        checks = [pool.submit(passwords.verify_secret, settings, None, "12345678") for _ in range(burst)]
        assert not any(c.result() for c in checks)  # an unknown case never verifies
    assert at_once.most == passwords.ARGON2_AT_ONCE


def test_hashes_keep_their_structure_and_a_contradicting_one_is_dropped(client):
    good, bad = random_pdq(), random_pdq()
    item = image_item(good)
    item["hashes"].append({"signal": "pdq", "hash": bad, "quality": 70, "structure": 300})
    case = submit(client, item)
    outcome = case["items"][0]
    assert outcome["hashes_accepted"] == 1
    assert [d["code"] for d in outcome["dropped"]] == ["structure_inconsistent"]
    with client.app.state.readers() as session:
        assert session.scalars(select(BankHash.structure).where(BankHash.code == bytes.fromhex(good))).all() == [BUSY]
