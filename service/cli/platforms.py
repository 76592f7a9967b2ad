"""``ncii platform create|list|revoke|webhook``: platforms, their API keys and takedown webhooks.

They work on the database directly (``DATABASE_URL`` or the data folder), like the other
operator commands; every change is audited with the operator's login as the actor.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from ..auth.scopes import SCOPES

if TYPE_CHECKING:
    from ..db.models import Platform

platform_app = typer.Typer(help="Platforms and their API keys.", no_args_is_help=True)

console = Console()
err = Console(stderr=True)


@platform_app.command("create")
def platform_create(
    name: Annotated[str, typer.Argument(help="The platform's name, unique.")],
    scopes: Annotated[str, typer.Option(help=f"Space- or comma-separated: {' '.join(SCOPES)}.")] = "match",
) -> None:
    """Register a platform and print its API key (shown once, stored hashed)."""
    from sqlalchemy import select

    from ..auth import api_keys
    from ..bank import audit
    from ..db.models import Platform
    from ..db.engine import transaction
    from ..db.migrate import migrated_sessions
    from ..settings import Settings

    chosen = tuple(s for s in scopes.replace(",", " ").split() if s)
    settings = Settings()
    with transaction(migrated_sessions(settings)) as session:
        if session.scalar(select(Platform).where(Platform.name == name)) is not None:
            err.print(f"[red]a platform named {name!r} exists already[/]")
            raise typer.Exit(1)
        platform = Platform(name=name)
        session.add(platform)
        try:
            issued = api_keys.issue_key(session, platform, chosen)
        except ValueError as error:
            err.print(f"[red]{error}[/]")
            raise typer.Exit(2) from None
        session.flush()
        audit.record(session, "admin", os.environ.get("USER"), "platform.created", subject_type="platform",
                     subject_id=platform.id, name=name, scopes=list(chosen), key_id=issued.key_id)
    err.print(f"platform {name!r} created; its API key (shown once, keep it secret):")
    print(issued.token)


@platform_app.command("list")
def platform_list() -> None:
    """Platforms, their status and key ids (never the keys)."""
    from rich.table import Table
    from sqlalchemy import select

    from ..db.models import Platform
    from ..db.engine import transaction
    from ..db.migrate import migrated_sessions
    from ..settings import Settings

    settings = Settings()
    with transaction(migrated_sessions(settings)) as session:
        table = Table("id", "name", "status", "keys (id: scopes)", "created")
        for platform in session.scalars(select(Platform).order_by(Platform.id)):
            keys = ", ".join(
                f"{k.key_id}: {k.scopes}" + (" (revoked)" if k.revoked_at else "") for k in platform.keys
            )
            table.add_row(str(platform.id), platform.name, platform.status, keys, platform.created_at.strftime("%Y-%m-%d"))
    console.print(table)


def _platform_named(session, name: str) -> Platform:
    from sqlalchemy import select

    from ..db.models import Platform

    platform = session.scalar(select(Platform).where(Platform.name == name))
    if platform is None:
        err.print(f"[red]no platform named {name!r}[/]")
        raise typer.Exit(1)
    return platform


@platform_app.command("revoke")
def platform_revoke(name: Annotated[str, typer.Argument(help="The platform's name.")]) -> None:
    """Revoke a platform and all its keys (running workers stop accepting them within NCII_API_KEY_CACHE_SECONDS)."""
    from ..auth import api_keys
    from ..bank import audit
    from ..db.engine import transaction
    from ..db.migrate import migrated_sessions
    from ..settings import Settings

    settings = Settings()
    with transaction(migrated_sessions(settings)) as session:
        platform = _platform_named(session, name)
        count = api_keys.revoke_platform(session, platform)
        audit.record(session, "admin", os.environ.get("USER"), "platform.revoked", subject_type="platform",
                     subject_id=platform.id, keys_revoked=count)
    err.print(f"platform {name!r} revoked ({count} keys)")


@platform_app.command("webhook")
def platform_webhook(
    name: Annotated[str, typer.Argument(help="The platform's name.")],
    url: Annotated[str | None, typer.Option(help="http(s) URL that receives takedowns (docs/webhooks.md).")] = None,
    enable: Annotated[bool | None, typer.Option("--enable/--disable", help="Send, or stop sending, takedowns.")] = None,
    rotate_secret: Annotated[bool, typer.Option(
        "--rotate-secret", help="Issue a new signing secret; the previous one also signs for NCII_WEBHOOK_ROTATION_GRACE_HOURS.",
    )] = False,
    at_once: Annotated[bool, typer.Option(
        "--at-once", help="The previous secret stops signing now (it leaked): with --rotate-secret, or alone.",
    )] = False,
) -> None:
    """Set a platform's takedown webhook; prints its signing secret once, when it is new. No options: show it."""
    from ..webhooks import endpoints, targets
    from ..db.engine import transaction
    from ..db.migrate import migrated_sessions
    from ..settings import Settings

    settings = Settings()
    with transaction(migrated_sessions(settings)) as session:
        platform = _platform_named(session, name)
        if url is None and enable is None and not rotate_secret and not at_once:
            endpoint = endpoints.get(session, platform.id)
            if endpoint is None:
                err.print(f"platform {name!r} has no webhook")
                raise typer.Exit(1)
            state = "enabled" if endpoint.enabled else "disabled"
            console.print(f"{endpoint.url} ({state}, secret version {endpoint.secret_version})")
            return
        try:
            configured = endpoints.configure(session, settings, platform.id, url=url, enabled=enable,
                                             rotate_secret=rotate_secret, previous_secret_stops_now=at_once,
                                             actor=("admin", os.environ.get("USER")))
        except targets.TargetRefused as refused:
            err.print(f"[red]{refused.message}[/] ({refused.code})")
            raise typer.Exit(2) from None
        except LookupError:
            err.print(f"[red]platform {name!r} has no webhook yet: give --url[/]")
            raise typer.Exit(2) from None
        endpoint = configured.endpoint
        state = "enabled" if endpoint.enabled else "disabled"
    err.print(f"webhook for {name!r}: {endpoint.url} ({state}, secret version {endpoint.secret_version})")
    if rotate_secret and endpoint.previous_secret_until is not None:
        err.print(f"the previous secret also signs until {endpoint.previous_secret_until:%Y-%m-%d %H:%M} UTC")
    if configured.secret is not None:
        err.print("its signing secret (shown once, keep it secret):")
        print(configured.secret)
