"""Takedown webhooks: a platform's own endpoint, called when its reviewer decides "NCII: remove".

``on_decision`` runs inside the decision's transaction, so the delivery is queued (an
outbox row) exactly when the decision commits; a background worker delivers it, signed,
with retries. (Being filled in by the webhook work, issue 7.)
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from ..db.models import MatchEvent, ReviewDecision
from ..settings import Settings


def on_decision(session: Session, settings: Settings, event: MatchEvent, decision: ReviewDecision) -> None:
    """Queue the platform's takedown webhook for a "remove" decision (nothing yet)."""
    return None
