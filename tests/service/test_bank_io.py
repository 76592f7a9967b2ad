"""``ncii bank import`` / ``export``: plain hash lists in and out, idempotent imports, and imported
hashes that behave like every other bank hash (matched, recorded, reviewed)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from service.bank.imports import parse_hash_list
from service.cli import app as cli_app
from service.db.models import AuditEntry, BankHash, Case, ChangeLog, HashSource, MatchEvent

from .helpers import catch_up, create_platform, flip_bits, image_item, match, pdq_query, random_pdq, submit


@pytest.fixture
def bank(tmp_path, settings, database_url):
    """``ncii bank ...`` on the test's database (the one ``client``'s app uses)."""
    env = {"NCII_DATA_DIR": str(settings.data_dir), "DATABASE_URL": database_url, "NCII_DATABASE_URL": None,
           "USER": "admin-alice"}
    runner = CliRunner()

    def invoke(*args: str, input: str | None = None):
        return runner.invoke(cli_app, ["bank", *args], env=env, input=input)

    return invoke


def _write(tmp_path, name: str, text: str):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def _scalar(app, query):
    with app.state.sessions() as session:
        return session.scalar(query)


# ---------------------------------------------------------------- the format


def test_the_list_format_comments_header_quality_and_case():
    a, b, c = random_pdq(), random_pdq(), random_pdq()
    parsed = parse_hash_list(
        ["# exported by hotline X\n", "hash,quality\n", f"{a},90\n", "\n", f"  {b.upper()}  # trailing note\n",
         f"{c}\n", f"{a},70\n"]
    )
    assert parsed.errors == []
    assert [(e.line, e.code.hex(), e.quality) for e in parsed.entries] == [(3, a, 90), (5, b, None), (6, c, None)]
    assert parsed.repeated == 1  # line 7 repeats line 3's hash


def test_bad_lines_are_reported_with_their_numbers():
    good = random_pdq()
    parsed = parse_hash_list(
        [f"{good}\n", "abc\n", f"{random_pdq()},20\n", f"{random_pdq()},x\n", f"{random_pdq()},1,2\n", "hash\n",
         f"{random_pdq()[:-1]}g\n"]
    )
    assert [e.code.hex() for e in parsed.entries] == [good]
    lines = {e.line: e.message for e in parsed.errors}
    assert sorted(lines) == [2, 3, 4, 5, 6, 7]  # a header after the first hash is a bad line too
    assert "64 hex digits" in lines[2] and "below 50" in lines[3] and "0 to 100" in lines[4]


def test_md5_lists_take_no_quality():
    digest = "9e107d9d372bb6826bd81d3542a419d6"
    assert [e.code.hex() for e in parse_hash_list([digest], "md5").entries] == [digest]
    assert len(parse_hash_list([f"{digest},90"], "md5").errors) == 1


# ---------------------------------------------------------------- import and export


def test_import_export_round_trip_and_idempotence(tmp_path, client, bank):
    app = client.app
    codes = sorted(random_pdq() for _ in range(5))
    listed = _write(tmp_path, "list.txt", "# five\n" + "".join(f"{c},{80 + i}\n" for i, c in enumerate(codes)))

    first = bank("import", listed)
    assert first.exit_code == 0, first.output
    assert "5 added, 0 already" in first.stdout
    hashes = _scalar(app, select(func.count()).select_from(BankHash))
    logged = _scalar(app, select(func.count()).select_from(ChangeLog))
    assert hashes == 5 and logged == 5

    again = bank("import", listed)
    assert again.exit_code == 0 and "0 added, 5 already" in again.stdout
    assert _scalar(app, select(func.count()).select_from(BankHash)) == hashes  # nothing new
    assert _scalar(app, select(func.count()).select_from(ChangeLog)) == logged

    plain = bank("export")
    assert plain.exit_code == 0
    assert plain.stdout.splitlines() == codes
    out = tmp_path / "out.csv"
    assert bank("export", "--with-quality", "-o", str(out)).exit_code == 0
    assert out.read_text().splitlines() == [f"{c},{80 + codes.index(c)}" for c in codes]
    # An exported list imports as it is, and adds nothing to the source it came from.
    assert "0 added, 5 already" in bank("import", str(out)).stdout

    with app.state.sessions() as session:
        rows = session.execute(select(AuditEntry.actor_type, AuditEntry.actor_id, AuditEntry.action,
                                      AuditEntry.details).order_by(AuditEntry.id)).all()
    assert [(r.actor_type, r.actor_id, r.action) for r in rows] == [
        ("admin", "admin-alice", "bank.imported"), ("admin", "admin-alice", "bank.imported"),
        ("admin", "admin-alice", "bank.exported"), ("admin", "admin-alice", "bank.exported"),
        ("admin", "admin-alice", "bank.imported"),
    ]
    assert rows[0].details["added"] == 5 and rows[1].details["added"] == 0 and rows[2].details["hashes"] == 5


def test_stdin_and_repeats_across_chunks(client, bank, monkeypatch):
    from service.bank import imports

    monkeypatch.setattr(imports, "IMPORT_CHUNK", 2)  # a big list's chunks, on a small one
    a, b, c = random_pdq(), random_pdq(), random_pdq()
    result = bank("import", "-", input=f"{a}\n{b}\n{a}\n{c}\n{b},77\n")
    assert result.exit_code == 0, result.output
    assert "3 added, 2 already" in result.stdout
    with client.app.state.sessions() as session:
        assert sorted(bytes(c).hex() for c in session.scalars(select(BankHash.code))) == sorted([a, b, c])
        assert session.scalar(select(func.count()).select_from(ChangeLog)) == 3


def test_a_bad_line_imports_nothing_unless_asked_to_skip(tmp_path, client, bank):
    app = client.app
    good = [random_pdq() for _ in range(3)]
    listed = _write(tmp_path, "list.txt", f"{good[0]}\n{good[1]}\nnot-a-hash\n{good[2]},12\n")

    refused = bank("import", listed)
    assert refused.exit_code == 1
    assert "line 3:" in refused.stderr and "line 4:" in refused.stderr and "nothing imported" in refused.stderr
    assert "Traceback" not in refused.output
    assert _scalar(app, select(func.count()).select_from(BankHash)) == 0
    assert _scalar(app, select(func.count()).select_from(AuditEntry)) == 0

    skipped = bank("import", "--skip-invalid", listed)
    assert skipped.exit_code == 0, skipped.output
    assert "2 added" in skipped.stdout and "2 bad lines skipped" in skipped.stdout
    with app.state.sessions() as session:
        codes = {bytes(c).hex() for c in session.scalars(select(BankHash.code))}
    assert codes == set(good[:2])


def test_unreadable_input_is_a_clear_error(tmp_path, bank):
    missing = bank("import", str(tmp_path / "nope.txt"))
    assert missing.exit_code == 2 and "cannot read" in missing.stderr and "Traceback" not in missing.output
    empty = bank("import", _write(tmp_path, "empty.txt", "# nothing\n\n"))
    assert empty.exit_code == 1 and "no pdq hashes" in empty.stderr
    assert bank("import", "--signal", "nope", _write(tmp_path, "x.txt", "")).exit_code == 2
    for command in (("import", _write(tmp_path, "frames.txt", "ab" * 32 + "\n")), ("export",)):
        frames = bank(*command, "--signal", "vpdq")  # a video's frame codes, without their video
        assert frames.exit_code == 2 and "timeline" in frames.stderr and "Traceback" not in frames.output
    assert bank("export", "--status", "bogus").exit_code == 2
    assert bank("export", "-o", str(tmp_path / "no" / "such" / "dir.txt")).exit_code == 2


def test_export_filters_by_status_and_signal_and_names_no_case(tmp_path, client, bank):
    app = client.app
    kept, gone = random_pdq(), random_pdq()
    md5 = "9e107d9d372bb6826bd81d3542a419d6"
    submit(client, image_item(kept), {"kind": "file", "hashes": [{"signal": "md5", "hash": md5}]})
    withdrawn = submit(client, image_item(gone))
    assert client.delete(f"/v1/cases/{withdrawn['case_number']}", headers={"X-Case-PIN": withdrawn["pin"]}).status_code == 200

    assert bank("export").stdout.split() == [kept]
    assert bank("export", "--status", "withdrawn").stdout.split() == [gone]
    assert sorted(bank("export", "--status", "all").stdout.split()) == sorted([kept, gone])
    assert bank("export", "--signal", "md5").stdout.split() == [md5]
    everything = bank("export", "--status", "all", "--with-quality").stdout
    with app.state.sessions() as session:
        numbers = session.scalars(select(Case.number)).all()
    assert numbers and not any(n in everything for n in numbers)


# ---------------------------------------------------------------- imported hashes in the service


def test_imported_hashes_are_matched_recorded_and_reviewed(tmp_path, client, bank):
    app = client.app
    code = random_pdq()
    assert bank("import", "--source", "partner-hotline", _write(tmp_path, "l.txt", f"{code},95\n")).exit_code == 0
    key = create_platform(app, "tube", ("match", "review"))
    headers = {"Authorization": f"Bearer {key}"}
    catch_up(app)

    found = match(client, headers, pdq_query(flip_bits(code, 6), content_ref="upload/1"))
    assert found.status_code == 200, found.text
    [hit] = found.json()["results"][0]["matches"]
    assert hit["distance"] == 6 and hit["case_status"] == "active"

    with app.state.sessions() as session:
        source = session.scalar(select(HashSource))
        event = session.scalar(select(MatchEvent))
        assert source.kind == "import" and source.name == "partner-hotline"
        assert event.hash_id == hit["hash_id"] and event.case_id == source.case_id
        number = session.get(Case, source.case_id).number

    queue = client.get("/v1/review/queue", headers=headers)
    assert queue.status_code == 200, queue.text
    [group] = queue.json()["groups"]
    assert group["content_ref"] == "upload/1" and group["matches"][0]["hash_id"] == hit["hash_id"]
    decided = client.post("/v1/review/decisions", headers=headers,
                          json={"match_event_id": event.id, "decision": "ncii_remove", "reason": "confirmed"})
    assert decided.status_code == 201, decided.text

    # The source's synthetic case is no victim's: nobody can open or withdraw it.
    for pin in ("00000000", "12345678"):
        assert client.get(f"/v1/cases/{number}", headers={"X-Case-PIN": pin}).status_code == 401
        assert client.delete(f"/v1/cases/{number}", headers={"X-Case-PIN": pin}).status_code == 401
