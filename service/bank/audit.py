"""The append-only audit log: every state change, who made it, and when.

Rows name actors by role and opaque id (a case number, a platform id, a
moderator's login), never a person's name, address or IP, and never image data.
"""

from __future__ import annotations

from typing import Any, Literal

from sqlalchemy.orm import Session

from ..db.models import AuditEntry

Actor = Literal["case", "platform", "moderator", "admin", "system"]


def record(
    session: Session,
    actor_type: Actor,
    actor_id: str | None,
    action: str,
    *,
    subject_type: str | None = None,
    subject_id: str | int | None = None,
    **details: Any,
) -> AuditEntry:
    """Add an audit row to the caller's transaction (it commits with the change it records)."""
    entry = AuditEntry(
        actor_type=actor_type,
        actor_id=actor_id,
        action=action,
        subject_type=subject_type,
        subject_id=None if subject_id is None else str(subject_id),
        details=details,
    )
    session.add(entry)
    return entry
