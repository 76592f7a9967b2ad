"""Stored times are UTC; SQLite hands them back naive, PostgreSQL aware. One reading of both."""

from __future__ import annotations

from datetime import datetime, timezone


def as_utc(moment: datetime | None) -> datetime | None:
    """``moment`` as an aware UTC datetime (``None`` stays ``None``)."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=timezone.utc)
