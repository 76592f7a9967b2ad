"""A platform's webhook configuration: set the URL, enable or disable it, rotate the secret.

Shared by ``ncii platform webhook`` and ``PUT /v1/platform/webhook``. The secret is returned
only when it is new (first configuration, rotation), for the caller to show once.

A rotation keeps signing with the previous secret too, beside the new one, for
``webhook_rotation_grace_hours``: a receiver that has not yet switched still finds a
signature it can check, instead of refusing takedowns (a 401 is a permanent failure for
the sender). A leaked secret is rotated with ``previous_secret_stops_now``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..bank import audit
from ..db.models import WebhookEndpoint
from ..settings import Settings
from . import signing, targets


@dataclass
class Configured:
    endpoint: WebhookEndpoint
    created: bool
    secret: str | None  # only when new


def get(session: Session, platform_id: int) -> WebhookEndpoint | None:
    return session.scalar(select(WebhookEndpoint).where(WebhookEndpoint.platform_id == platform_id))


def configure(
    session: Session,
    settings: Settings,
    platform_id: int,
    *,
    url: str | None = None,
    enabled: bool | None = None,
    rotate_secret: bool = False,
    previous_secret_stops_now: bool = False,
    actor: tuple[str, str | None],
) -> Configured:
    """Create or change the platform's endpoint. Raises ``targets.TargetRefused`` for a bad URL,
    ``LookupError`` if there is no endpoint yet and no URL to create one with."""
    if url is not None:
        url = targets.check_for_config(url, settings.webhook_allow_private_targets).url
    now = datetime.now(timezone.utc)
    query = select(WebhookEndpoint).where(WebhookEndpoint.platform_id == platform_id)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    endpoint = session.scalar(query)
    created = endpoint is None
    if created:
        if url is None:
            raise LookupError("no webhook configured yet: give a URL")
        endpoint = WebhookEndpoint(platform_id=platform_id, url=url, enabled=True, secret_version=1, created_at=now)
        session.add(endpoint)
    changes = {}
    if url is not None and (created or url != endpoint.url):
        endpoint.url = url
        changes["url_changed"] = True
    if enabled is not None and (created or enabled != endpoint.enabled):
        endpoint.enabled = enabled
        changes["enabled"] = enabled
    if rotate_secret and not created:
        endpoint.secret_version += 1
        changes["secret_version"] = endpoint.secret_version
        grace = 0.0 if previous_secret_stops_now else settings.webhook_rotation_grace_hours
        endpoint.previous_secret_until = now + timedelta(hours=grace) if grace > 0 else None
        changes["previous_secret_hours"] = grace
    elif previous_secret_stops_now and endpoint.previous_secret_until is not None:
        endpoint.previous_secret_until = None  # a leak noticed during the grace period
        changes["previous_secret_hours"] = 0
    endpoint.updated_at = now
    session.flush()
    actor_type, actor_id = actor
    # The URL itself is the platform's; the audit row says that it changed, not where to.
    if created or changes:
        audit.record(session, actor_type, actor_id, "webhook.created" if created else "webhook.changed",
                     subject_type="platform", subject_id=platform_id, **changes)
    secret = None
    if created or rotate_secret:
        secret = signing.platform_secret(settings, platform_id, endpoint.secret_version)
    return Configured(endpoint=endpoint, created=created, secret=secret)
