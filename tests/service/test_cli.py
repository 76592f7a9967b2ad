"""``ncii db upgrade`` and ``ncii platform create / list / revoke``, against a data folder."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from service.cli import app
from service.db.engine import make_engine, make_sessionmaker
from service.db.models import ApiKey, AuditEntry, Platform

from .conftest import make_settings


@pytest.fixture
def run(tmp_path, database_url):
    # None removes a variable: SQLite in the data folder unless the backend is PostgreSQL.
    env = {"NCII_DATA_DIR": str(tmp_path / "data"), "DATABASE_URL": database_url, "NCII_DATABASE_URL": None}
    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(app, list(args), env=env)

    invoke.settings = make_settings(tmp_path / "data", database_url)
    return invoke


def test_db_upgrade(run):
    result = run("db", "upgrade")
    assert result.exit_code == 0, result.output
    from alembic.script import ScriptDirectory

    from service.db.migrate import alembic_config

    assert ScriptDirectory.from_config(alembic_config()).get_current_head() in result.output  # the latest migration
    assert run("db", "upgrade").exit_code == 0  # idempotent


def test_platform_create_list_revoke(run):
    created = run("platform", "create", "ExampleTube", "--scopes", "match,exchange.read")
    assert created.exit_code == 0, created.output
    token = created.stdout.strip().splitlines()[-1]
    assert token.startswith("ncii_")
    key_id = token.split("_")[1]

    engine = make_engine(run.settings)
    with make_sessionmaker(engine)() as session:
        key = session.scalar(select(ApiKey))
        assert key.key_id == key_id and key.scopes == "match exchange.read"
        assert token.split("_", 2)[2] not in key.secret_hash

    listed = run("platform", "list")
    assert listed.exit_code == 0
    assert "ExampleTube" in listed.stdout and key_id in listed.stdout and token not in listed.stdout

    assert run("platform", "create", "ExampleTube").exit_code == 1  # names are unique
    assert run("platform", "create", "Other", "--scopes", "everything").exit_code == 2
    assert run("platform", "revoke", "Nobody").exit_code == 1

    revoked = run("platform", "revoke", "ExampleTube")
    assert revoked.exit_code == 0, revoked.output
    assert "revoked" in run("platform", "list").stdout
    with make_sessionmaker(engine)() as session:
        assert [p.name for p in session.scalars(select(Platform))] == ["ExampleTube"]
        assert session.scalar(select(ApiKey)).revoked_at is not None
        actions = session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)).all()
        assert actions == ["platform.created", "platform.revoked"]
    engine.dispose()


def test_a_revoked_key_stops_working_in_a_running_app(run):
    from fastapi.testclient import TestClient

    from service.app import create_app

    token = run("platform", "create", "P").stdout.strip().splitlines()[-1]
    with TestClient(create_app(run.settings)) as client:
        query = {"queries": [{"signal": "md5", "hash": "00" * 16}]}
        headers = {"Authorization": f"Bearer {token}"}
        assert client.post("/v1/match", json=query, headers=headers).status_code == 200
        assert run("platform", "revoke", "P").exit_code == 0
        # Each worker trusts a checked key for api_key_cache_seconds (1 s): refused within that window.
        deadline = time.monotonic() + run.settings.api_key_cache_seconds
        while True:
            sent = time.monotonic()
            if client.post("/v1/match", json=query, headers=headers).status_code != 200:
                break
            assert sent <= deadline, "a revoked key still worked after the key cache window"
            time.sleep(0.01)
        assert client.post("/v1/match", json=query, headers=headers).status_code == 401
