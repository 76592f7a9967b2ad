"""Engines and sessions, with durability settings that survive ``kill -9``.

SQLite (the embedded default) runs in WAL mode with ``synchronous=FULL``: a
transaction that returned is on disk. Write transactions start with
``BEGIN IMMEDIATE`` so two workers never deadlock upgrading a read lock.
Read-only work (upload checks, the index following the change log) goes
through a separate sessionmaker whose transactions are plain deferred
``BEGIN``: in WAL mode readers neither wait for the writer nor make it wait,
which is what keeps a platform's checks fast while cases are being written.
PostgreSQL is durable by default; we only ask for pre-ping so that a restarted
database does not surface as a 500.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from ..settings import Settings


SQLITE_POOL_SIZE = 40  # the request thread pool's size (anyio's default), plus a margin below


def make_engine(settings: Settings) -> Engine:
    url = settings.sqlalchemy_url
    if url.startswith("sqlite"):
        if ":memory:" not in url and url != "sqlite://":
            Path(url.split("///", 1)[1]).parent.mkdir(parents=True, exist_ok=True)
        # A connection per request thread, kept: a new SQLite connection re-reads the schema and
        # re-runs the pragmas, which cost more than the query it was opened for.
        engine = create_engine(
            url,
            connect_args={"isolation_level": None, "timeout": 30, "check_same_thread": False},
            pool_size=SQLITE_POOL_SIZE,
            max_overflow=SQLITE_POOL_SIZE,
        )
        _make_sqlite_durable(engine)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10)


def _make_sqlite_durable(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:  # pragma: no cover - exercised by every test
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection) -> None:  # pragma: no cover
        read_only = connection.get_execution_options().get(READ_ONLY, False)
        connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


READ_ONLY = "ncii_read_only"


def make_sessionmaker(engine: Engine, *, read_only: bool = False) -> sessionmaker[Session]:
    """Sessions for writing (the default) or for reading only (never takes SQLite's write lock)."""
    bind = engine.execution_options(**{READ_ONLY: True}) if read_only else engine
    return sessionmaker(bind, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session whose work is committed on success and rolled back on any error."""
    with factory() as session, session.begin():
        yield session
