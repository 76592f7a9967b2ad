"""``ncii case unlock``: lift a victim's case out of a PIN lockout, for hotline operators.

Anyone who knows a case number can lock it with wrong PINs, and a locked case refuses its
owner's right PIN too (docs/security.md, gap 3). When a victim reaches the hotline locked out,
an operator clears the count here (or hotline staff in the API, ``POST
/v1/hotline/cases/{case_number}/unlock``). Audited as ``case.unlocked`` with the operator's login.
"""

from __future__ import annotations

import os
from typing import Annotated

import typer

from .common import err, fail, seconds_left

case_app = typer.Typer(help="Victims' cases (hotline operators).", no_args_is_help=True)


@case_app.command("unlock")
def case_unlock(
    case_number: Annotated[str, typer.Argument(help="The case number, e.g. 2KEJ-804F-H7EE.")],
) -> None:
    """Clear a case's wrong-PIN count and lift its lock; the PIN stays the same.

    Whoever locked it can lock it again with five wrong PINs: this helps a victim check or
    withdraw their case now, it does not stop the guessing.
    """
    from ..auth import case_pins
    from ..db.engine import transaction
    from ..db.migrate import migrated_sessions
    from ..settings import Settings

    settings = Settings()
    try:
        with transaction(migrated_sessions(settings)) as session:
            unlocked = case_pins.unlock(session, case_number, actor_type="admin", actor_id=os.environ.get("USER"))
    except case_pins.CaseNotFound:
        fail("no such case (check the number: every symbol counts, and the last one is a check symbol)")
    state = (f"unlocked (the lock had {seconds_left(unlocked.locked_until)} s to run)"
             if unlocked.locked_until is not None else "was not locked")
    err.print(f"case {unlocked.case_number} {state}; {unlocked.failed_attempts} wrong PIN(s) cleared")
