"""Schema migrations (Alembic), applied on start and by ``ncii db upgrade``."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from ..settings import Settings

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config(engine: Engine | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if engine is not None:
        config.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False))
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to ``revision``; safe to run from several workers at once."""
    config = alembic_config(engine)
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            # One migrator at a time across workers and replicas.
            connection.exec_driver_sql("SELECT pg_advisory_xact_lock(7391)")
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def migrated_sessions(settings: Settings) -> sessionmaker[Session]:
    """Sessions on the configured database, migrated first: what each admin command (``ncii platform``,
    ``ncii moderator``, ...) opens, so it works on a fresh data folder too."""
    from .engine import make_engine, make_sessionmaker

    engine = make_engine(settings)
    upgrade(engine)
    return make_sessionmaker(engine)
