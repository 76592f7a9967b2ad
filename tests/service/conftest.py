"""Fixtures for the service tests: settings on a temporary data folder, an app and its client,
platform keys, and every storage backend (SQLite file, and a throw-away PostgreSQL database).

PostgreSQL: a fresh database ``ncii_test_<random>`` is created once per test session on the
server at $NCII_TEST_POSTGRES (default ``postgresql://postgres@127.0.0.1:5432/test``, the
admin connection) and dropped at the end; tables are emptied between tests. Its tests are
skipped, with the reason, only when the server cannot be reached.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.db.engine import make_engine
from service.db.migrate import upgrade
from service.db.models import Base
from service.settings import Settings

from .helpers import create_platform

PG_ADMIN_URL = os.environ.get("NCII_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
# Every table of the schema, so a new table is emptied between tests without touching this file.
TABLES = ", ".join(table.name for table in reversed(Base.metadata.sorted_tables))


def make_settings(data_dir: Path, database_url: str | None = None, **overrides) -> Settings:
    """Cheap argon2 (tests hash many PINs) and fast index polling."""
    values = dict(
        data_dir=data_dir,
        argon2_time_cost=1,
        argon2_memory_kib=1024,
        index_poll_seconds=0.05,
    )
    values.update(overrides)
    if database_url:
        values["DATABASE_URL"] = database_url
    return Settings(**values)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh, migrated PostgreSQL database for this test session; dropped at the end."""
    import psycopg

    try:
        admin = psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as error:
        pytest.skip(f"PostgreSQL not reachable at {PG_ADMIN_URL} ({error}); CI has it")
    name = f"ncii_test_{secrets.token_hex(4)}"
    admin.execute(f"CREATE DATABASE {name}")
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    try:
        engine = make_engine(make_settings(Path("/nonexistent"), url))
        upgrade(engine)
        engine.dispose()
        yield url
    finally:
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.close()


def _empty_postgres(url: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as connection:
        # TRUNCATE fires no row triggers: the audit log's append-only guard stays in place.
        connection.execute(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE")


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request) -> str:
    return request.param


@pytest.fixture
def database_url(backend, request) -> str | None:
    """None for SQLite (the file in the data folder); a clean PostgreSQL database otherwise."""
    if backend == "sqlite":
        return None
    url = request.getfixturevalue("postgres_url")
    _empty_postgres(url)
    return url


@pytest.fixture
def settings(tmp_path, database_url) -> Settings:
    return make_settings(tmp_path / "data", database_url)


@pytest.fixture
def app(settings):
    return create_app(settings)


@pytest.fixture
def client(app) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def platform_key(client) -> str:
    """A live API key with the ``match`` scope."""
    return create_platform(client.app, "example-platform", ("match",))


@pytest.fixture
def platform(client, platform_key) -> dict[str, str]:
    """Authorization headers for the example platform."""
    return {"Authorization": f"Bearer {platform_key}"}


# --- the videos the video tests share (encoded and hashed once a run: bytes and frozen hashes) ---


@pytest.fixture(scope="session")
def pan() -> bytes:
    """The banked video: 10 s at 30 fps, 320x240, a pan and zoom over a photo."""
    from .. import synth_video as sv

    return sv.scene(10)


@pytest.fixture(scope="session")
def pan_hash(pan: bytes):
    from matcher.video import hash_video

    return hash_video(pan)


@pytest.fixture(scope="session")
def copy_hash():
    """A re-encoded copy: smaller, 24 fps, a low bitrate."""
    from matcher.video import hash_video

    from .. import synth_video as sv

    return hash_video(sv.scene(10, 24, (160, 120), options={"crf": "35"}))
