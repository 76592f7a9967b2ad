"""``ncii serve`` and ``ncii db upgrade``: run the web service, and bring its database schema up to date."""

from __future__ import annotations

import os
import shutil
from typing import Annotated

import typer
from rich.console import Console

db_app = typer.Typer(help="Database schema.", no_args_is_help=True)

console = Console()
err = Console(stderr=True)


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes (each keeps its own index).")] = 1,
) -> None:
    """Run the web service (SQLite in the data folder unless DATABASE_URL is set)."""
    import uvicorn

    from ..db.engine import make_engine
    from ..db.migrate import upgrade
    from ..settings import Settings

    settings = Settings()
    upgrade(make_engine(settings))  # once, before the workers start
    metrics_dir = settings.data_dir / "metrics"
    shutil.rmtree(metrics_dir, ignore_errors=True)
    metrics_dir.mkdir(parents=True, exist_ok=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
    # Concurrency comes from requests and workers: an OpenMP team per FAISS call on top of
    # that oversubscribes the cores (measured: p99 4x worse). Workers inherit the variable.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import faiss

    faiss.omp_set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
    err.print(f"ncii-matcher serving on http://{host}:{port} with {workers} worker(s); data in {settings.data_dir}")
    uvicorn.run(
        "service.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="info",
        log_config=_log_config(),
        access_log=False,  # URLs carry case numbers; the audit log records what matters
        proxy_headers=False,
    )


def _log_config() -> dict:
    """uvicorn's logging, plus the service's own loggers (``ncii.*``) at INFO in every worker."""
    import copy

    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["loggers"]["ncii"] = {"handlers": ["default"], "level": "INFO", "propagate": False}
    return config


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply every pending schema migration."""
    from ..db.engine import make_engine
    from ..db.migrate import current_revision, upgrade
    from ..settings import Settings

    settings = Settings()
    engine = make_engine(settings)
    upgrade(engine)
    console.print(f"schema at revision {current_revision(engine)}")
