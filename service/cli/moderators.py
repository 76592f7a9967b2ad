"""``ncii moderator create|list|disable|reset-password|unlock``: accounts for the review UI.

Run by whoever operates the service (on its host, with its ``DATABASE_URL``). A password is
generated and printed once, unless one is typed at a hidden prompt (``--prompt``) or piped in
(``--password-stdin``); it is never an argument, which would end up in shell histories and
process lists. Every change is audited with the operator's login as the actor.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from .common import err, fail, seconds_left

if TYPE_CHECKING:
    from ..db.models import Moderator

moderator_app = typer.Typer(help="Moderator accounts (review UI, hotline).", no_args_is_help=True)

out = Console()


def _password(prompt: bool, from_stdin: bool) -> tuple[str, bool]:
    """(the password, whether it was generated and must be shown)."""
    from ..auth import moderators

    if prompt and from_stdin:
        fail("choose one of --prompt and --password-stdin", 2)
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n"), False
    if prompt:
        return typer.prompt("Password", hide_input=True, confirmation_prompt=True, err=True), False
    return moderators.generate_password(), True


PromptOption = Annotated[bool, typer.Option("--prompt", help="Type the password at a hidden prompt.")]
StdinOption = Annotated[bool, typer.Option("--password-stdin", help="Read the password from the first line of stdin.")]


@moderator_app.command("create")
def moderator_create(
    name: Annotated[str, typer.Argument(help="Login name, unique, no spaces.")],
    platform: Annotated[str | None, typer.Option("--platform", help="The platform this moderator reviews for.")] = None,
    hotline: Annotated[bool, typer.Option("--hotline", help="Hotline staff: reputation and suspended hashes.")] = False,
    prompt: PromptOption = False,
    password_stdin: StdinOption = False,
) -> None:
    """Create an account bound to one platform (--platform P) or for hotline staff (--hotline)."""
    if (platform is None) == (not hotline):
        fail("give exactly one of --platform NAME and --hotline", 2)
    from ..auth import moderators
    from ..db.engine import transaction
    from ..db.migrate import migrated_sessions
    from ..settings import Settings

    password, generated = _password(prompt, password_stdin)
    settings = Settings()
    try:
        with transaction(migrated_sessions(settings)) as session:
            moderator = moderators.create(session, settings, name, password, platform=platform,
                                          actor=os.environ.get("USER"))
            role, moderator_id = moderator.role, moderator.id
    except moderators.AccountError as error:
        fail(str(error))
    err.print(f"moderator {name!r} (id {moderator_id}, {role}) created")
    if generated:
        err.print("password (shown once, give it to them privately):")
        print(password)


@moderator_app.command("list")
def moderator_list() -> None:
    """Accounts, roles, platforms and status (never passwords)."""
    from rich.table import Table
    from sqlalchemy import select

    from ..db.engine import transaction
    from ..db.migrate import migrated_sessions
    from ..db.models import Moderator, Platform
    from ..settings import Settings

    settings = Settings()
    with transaction(migrated_sessions(settings)) as session:
        table = Table("id", "name", "role", "platform", "status", "failed logins", "created")
        rows = session.execute(
            select(Moderator, Platform.name).outerjoin(Platform, Platform.id == Moderator.platform_id).order_by(Moderator.id)
        ).all()
        for moderator, platform_name in rows:
            table.add_row(str(moderator.id), moderator.name, moderator.role, platform_name or "-", moderator.status,
                          str(moderator.failed_logins), moderator.created_at.strftime("%Y-%m-%d"))
    out.print(table)


def _named(session, name: str) -> Moderator:
    from ..auth import moderators

    moderator = moderators.by_name(session, name)
    if moderator is None:
        fail(f"no moderator named {name!r}")
    return moderator


@moderator_app.command("disable")
def moderator_disable(name: Annotated[str, typer.Argument(help="Login name.")]) -> None:
    """Disable an account: it cannot log in, and its open sessions end at once."""
    from ..auth import moderators
    from ..db.engine import transaction
    from ..db.migrate import migrated_sessions
    from ..settings import Settings

    settings = Settings()
    with transaction(migrated_sessions(settings)) as session:
        ended = moderators.disable(session, _named(session, name), actor=os.environ.get("USER"))
    err.print(f"moderator {name!r} disabled ({ended} session(s) ended)")


@moderator_app.command("reset-password")
def moderator_reset_password(
    name: Annotated[str, typer.Argument(help="Login name.")],
    prompt: PromptOption = False,
    password_stdin: StdinOption = False,
) -> None:
    """Set a new password (generated unless given): the lock is lifted and open sessions end."""
    from ..auth import moderators
    from ..db.engine import transaction
    from ..db.migrate import migrated_sessions
    from ..settings import Settings

    password, generated = _password(prompt, password_stdin)
    settings = Settings()
    try:
        with transaction(migrated_sessions(settings)) as session:
            moderators.reset_password(session, settings, _named(session, name), password, actor=os.environ.get("USER"))
    except moderators.AccountError as error:
        fail(str(error))
    err.print(f"moderator {name!r}: new password set, sessions ended")
    if generated:
        err.print("password (shown once):")
        print(password)


@moderator_app.command("unlock")
def moderator_unlock(name: Annotated[str, typer.Argument(help="Login name.")]) -> None:
    """Lift a lock from wrong passwords and clear the count; the password and sessions stay.

    Someone who knows the name can lock the account again with five wrong passwords; use
    reset-password instead if the password may be known to someone else.
    """
    from ..auth import moderators
    from ..db.engine import transaction
    from ..db.migrate import migrated_sessions
    from ..settings import Settings

    settings = Settings()
    with transaction(migrated_sessions(settings)) as session:
        failures, was_locked = moderators.unlock(session, _named(session, name), actor=os.environ.get("USER"))
    state = f"unlocked (the lock had {seconds_left(was_locked)} s to run)" if was_locked is not None else "was not locked"
    err.print(f"moderator {name!r} {state}; {failures} wrong password(s) cleared")

