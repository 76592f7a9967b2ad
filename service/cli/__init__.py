"""``ncii``: every command of the project, one module a command group.

This package is the command line's one home; the rest of ``service`` and all of
``matcher`` are what the commands call. What runs where:

- ``hash_match``: ``ncii hash``, ``ncii match`` (this machine only, no service)
- ``victim``: ``ncii submit``, ``ncii status``, ``ncii withdraw`` (a victim's case, over HTTP)
- ``sync``: ``ncii sync`` (mirror a remote bank into the local database)
- ``serve``: ``ncii serve``, ``ncii db upgrade``
- ``moderators``, ``cases``, ``bank``, ``platforms``: ``ncii moderator ...``, ``ncii case ...``,
  ``ncii bank ...``, ``ncii platform ...``
"""

from __future__ import annotations

from typing import Annotated

import typer

from . import bank, cases, hash_match, moderators, platforms, serve, sync, victim

app = typer.Typer(
    name="ncii",
    help="Hash images on your own machine and match them against hash banks. Images never leave it.",
    no_args_is_help=True,
)


def _print_version(asked: bool) -> None:
    if asked:
        from importlib.metadata import version

        print(f"ncii {version('ncii-matcher')}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Hash images on your own machine and match them against hash banks."""


# The order of ``ncii --help``: a person's own commands first, then the operators'.
app.command("hash", cls=hash_match.HashCommand)(hash_match.hash_command)
app.command("match")(hash_match.match_command)
app.command()(victim.submit)
app.command()(victim.status)
app.command()(victim.withdraw)
app.command()(sync.sync)
app.command()(serve.serve)
app.add_typer(moderators.moderator_app, name="moderator")
app.add_typer(cases.case_app, name="case")
app.add_typer(bank.bank_app, name="bank")
app.add_typer(serve.db_app, name="db")
app.add_typer(platforms.platform_app, name="platform")


def main() -> None:
    app()
