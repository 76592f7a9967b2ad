"""Takedown webhooks: a platform's own endpoint, called when its reviewer decides "NCII: remove".

``on_decision`` runs inside the decision's transaction, so the delivery is queued (an
outbox row) exactly when the decision commits; a background worker per process delivers it,
signed, with retries. The pieces: ``signing`` (secrets and signatures), ``targets`` (which
URLs may be called: SSRF), ``endpoints`` (configuration), ``outbox`` (queue, claims,
outcomes), ``delivery`` (one HTTP attempt, retry policy), ``worker`` (the thread).
Platform engineers' guide: docs/webhooks.md.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from ..db.models import MatchEvent, ReviewDecision
from ..settings import Settings
from . import outbox


def on_decision(session: Session, settings: Settings, event: MatchEvent, decision: ReviewDecision) -> None:
    """Queue the platform's takedown webhook for a "remove" decision, in the caller's transaction."""
    outbox.enqueue(session, event, decision)
