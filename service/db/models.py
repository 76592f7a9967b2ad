"""The database schema: the single source of truth of the hash bank.

Hashes only: no table has a column for image bytes, file names, names, e-mail
or IP addresses. Every in-memory index is derived from ``bank_hashes`` through
``change_log``; ``audit_log`` is append-only (the migration adds triggers that
refuse UPDATE and DELETE on it).
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

# SQLite only auto-increments INTEGER PRIMARY KEY; BigInteger elsewhere.
BigId = BigInteger().with_variant(Integer(), "sqlite")

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Case(Base):
    """A victim's submission: a case number, a PIN (hashed), and its items."""

    __tablename__ = "cases"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    number: Mapped[str] = mapped_column(String(32), unique=True)
    pin_hash: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(16), default="active")  # received, active, withdrawn
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    withdrawn_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    failed_pin_attempts: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    items: Mapped[list[CaseItem]] = relationship(back_populates="case", order_by="CaseItem.position")


class CaseItem(Base):
    """One submitted picture (a hash group) or one file (an exact digest)."""

    __tablename__ = "case_items"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))  # image, file, video
    status: Mapped[str] = mapped_column(String(16), default="active")  # active, withdrawn
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    case: Mapped[Case] = relationship(back_populates="items")
    hashes: Mapped[list[BankHash]] = relationship(back_populates="item")


class BankHash(Base):
    """A hash in the bank. Its id is the id every index stores."""

    __tablename__ = "bank_hashes"
    __table_args__ = (
        UniqueConstraint("item_id", "signal", "code", name="uq_bank_hashes_item_signal_code"),
        Index("ix_bank_hashes_signal_code", "signal", "code"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("case_items.id"), index=True)
    signal: Mapped[str] = mapped_column(String(32))
    code: Mapped[bytes] = mapped_column(LargeBinary(64))
    quality: Mapped[int | None] = mapped_column(SmallInteger)
    #: PDQ's gradient energy uncapped (matcher.pdq.hash_rgb_structure): what the matching policy
    #: bands a pair's threshold by. None where unknown (imported lists): banded by its quality.
    structure: Mapped[int | None] = mapped_column(Integer, nullable=True)
    variant: Mapped[str] = mapped_column(String(64), default="full")
    status: Mapped[str] = mapped_column(String(16), default="active")  # active, withdrawn, suspended, retired
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    item: Mapped[CaseItem] = relationship(back_populates="hashes")


class ChangeLog(Base):
    """Monotonic log of bank changes: what every worker's index replays.

    Writers serialise on this table (see ``service.bank.changes``), so ``seq``
    order is commit order and a reader that remembers the last ``seq`` it saw
    never skips a change.
    """

    __tablename__ = "change_log"

    seq: Mapped[int] = mapped_column(BigId, primary_key=True)
    hash_id: Mapped[int] = mapped_column(BigInteger, index=True)
    signal: Mapped[str] = mapped_column(String(32))
    op: Mapped[str] = mapped_column(String(16))  # add, remove
    reason: Mapped[str] = mapped_column(String(32))  # submitted, withdrawn, suspended, reinstated, ...
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class AuditEntry(Base):
    """Append-only record of every state change: who, what, when (never PII, never images)."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    actor_type: Mapped[str] = mapped_column(String(16))  # case, platform, moderator, admin, system
    actor_id: Mapped[str | None] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    subject_type: Mapped[str | None] = mapped_column(String(32))
    subject_id: Mapped[str | None] = mapped_column(String(64))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class Platform(Base):
    """A content service provider that checks uploads against the bank."""

    __tablename__ = "platforms"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    status: Mapped[str] = mapped_column(String(16), default="active")  # active, revoked
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    keys: Mapped[list[ApiKey]] = relationship(back_populates="platform")


class ApiKey(Base):
    """A platform's API key: a public key id and the SHA-256 of its secret part."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    platform_id: Mapped[int] = mapped_column(ForeignKey("platforms.id"), index=True)
    key_id: Mapped[str] = mapped_column(String(32), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(64))
    scopes: Mapped[str] = mapped_column(String(255))  # space-separated
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    platform: Mapped[Platform] = relationship(back_populates="keys")


class MatchEvent(Base):
    """A platform's query that met a bank hash: the lead a moderator reviews."""

    __tablename__ = "match_events"
    __table_args__ = (Index("ix_match_events_platform_content", "platform_id", "content_ref"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    platform_id: Mapped[int] = mapped_column(ForeignKey("platforms.id"), index=True)
    hash_id: Mapped[int] = mapped_column(ForeignKey("bank_hashes.id"), index=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    signal: Mapped[str] = mapped_column(String(32))
    distance: Mapped[int] = mapped_column(SmallInteger)
    query_kind: Mapped[str] = mapped_column(String(16))  # hash, image
    content_ref: Mapped[str | None] = mapped_column(String(256))
    review_status: Mapped[str] = mapped_column(String(16), default="pending")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    # Where the platform's moderators can see the upload, in the platform's own systems (migration
    # 0005). The reviewer's browser loads it from there; the service never fetches nor stores it.
    preview_url: Mapped[str | None] = mapped_column(String(2048))
    # A video match (migration 0009): the bank video (case item) and where the two videos met, so a
    # moderator goes straight to it: {"video_id", "query_share", "bank_share", "orientation",
    # "query_ranges", "bank_ranges"}. Times and shares only, never frames or hashes of the query.
    video: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)



#: What a reviewer can decide about a match event; each leaves the event in its review status.
DECISIONS = ("ncii_remove", "not_ncii", "escalate")
REVIEW_STATUS_AFTER = {"ncii_remove": "removed", "not_ncii": "not_ncii", "escalate": "escalated"}
REASON_MAX_CHARS = 1000


class ReviewDecision(Base):
    """A reviewer's decision on one match event, with the reason (append-only in practice).

    ``supersedes_id`` points at the escalation a final decision replaced. The reason is the
    moderator's words about the platform's content; it is never copied into the audit log.
    """

    __tablename__ = "review_decisions"
    __table_args__ = (
        CheckConstraint("decision IN ('ncii_remove', 'not_ncii', 'escalate')", name="decision"),
        Index("ix_review_decisions_hash_decision", "hash_id", "decision"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    match_event_id: Mapped[int] = mapped_column(ForeignKey("match_events.id"), index=True)
    platform_id: Mapped[int] = mapped_column(ForeignKey("platforms.id"), index=True)
    hash_id: Mapped[int] = mapped_column(ForeignKey("bank_hashes.id"))
    decided_by: Mapped[str] = mapped_column(String(64))  # "platform:<key id>" (moderator accounts later)
    decision: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(String(REASON_MAX_CHARS))
    supersedes_id: Mapped[int | None] = mapped_column(ForeignKey("review_decisions.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class HashReputation(Base):
    """What reviewers said about a bank hash, over all platforms: the input of the suspension rule."""

    __tablename__ = "hash_reputation"

    hash_id: Mapped[int] = mapped_column(ForeignKey("bank_hashes.id"), primary_key=True)
    ncii_count: Mapped[int] = mapped_column(Integer, default=0)
    not_ncii_count: Mapped[int] = mapped_column(Integer, default=0)
    escalate_count: Mapped[int] = mapped_column(Integer, default=0)
    not_ncii_platforms: Mapped[int] = mapped_column(Integer, default=0)  # distinct platforms that said not NCII
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    suspended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # When hotline staff last reinstated the hash (migration 0005): only "not NCII" verdicts
    # given after it count towards a new suspension.
    cleared_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


# --- exchange (issue 8): feed and feedback; migration 0003 ---

#: What a platform can say about a bank hash through the exchange (StopNCII's CSP feedback values):
#: a match is waiting for review, reviewed and blocked (it is NCII), reviewed and not blocked.
FEEDBACK_VERDICTS = ("pending_review", "blocked", "not_blocked")
FEEDBACK_MAX_TAGS = 16
FEEDBACK_TAG_MAX_CHARS = 64


class ExchangeFeedback(Base):
    """A platform's current verdict on a bank hash: one row per (platform, hash), the latest wins.

    History is in the audit log (one ``exchange.feedback`` row per request lists each change).
    Tags are the platform's short labels; other platforms never see them.
    """

    __tablename__ = "exchange_feedback"
    __table_args__ = (
        UniqueConstraint("platform_id", "hash_id", name="uq_exchange_feedback_platform_hash"),
        CheckConstraint("verdict IN ('pending_review', 'blocked', 'not_blocked')", name="verdict"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    platform_id: Mapped[int] = mapped_column(ForeignKey("platforms.id"))
    hash_id: Mapped[int] = mapped_column(ForeignKey("bank_hashes.id"), index=True)
    verdict: Mapped[str] = mapped_column(String(16))
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class PlatformCase(Base):
    """The synthetic case that holds the hashes a platform submitted itself (StopNCII ``SubmitHashes``).

    One per platform, so a resubmitted hash is the same bank hash. Nobody can open or withdraw
    it (its number is not a case number, its PIN hash verifies no PIN); the hotline retires or
    suspends its hashes like any other.
    """

    __tablename__ = "platform_cases"

    platform_id: Mapped[int] = mapped_column(ForeignKey("platforms.id"), primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


# The StopNCII dialect resumes from a timestamp: find its first change-log row without a scan.
Index("ix_change_log_at", ChangeLog.at)


# --- sync (issue 8): platform-side mirror of a remote bank; migration 0004 ---

#: Where a source's hashes come from: a hash list an admin imported, or a remote bank mirrored here.
SOURCE_KINDS = ("import", "remote")


class HashSource(Base):
    """A source of bank hashes that no victim submitted here.

    Each source owns one synthetic case (``case_id``; no PIN can open it and its number is not
    a case number) with an item per kind (image, file), so its hashes are ordinary bank hashes:
    the index, the match path, match events, the review queue and the suspension rule need no
    special case. ``checkpoint`` is the remote's opaque position (never a secret); the remote's
    key is never stored.
    """

    __tablename__ = "hash_sources"
    __table_args__ = (
        UniqueConstraint("kind", "name", name="uq_hash_sources_kind_name"),
        CheckConstraint("kind IN ('import', 'remote')", name="kind"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(400))  # import: the admin's label; remote: "<dialect> <url>"
    url: Mapped[str | None] = mapped_column(String(2000))
    dialect: Mapped[str | None] = mapped_column(String(16))  # native, stopncii
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), unique=True)
    checkpoint: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    synced_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class RemoteHash(Base):
    """One remote bank hash, by the remote's own key, and the local bank hash that mirrors it.

    Several remote hashes with the same value share one local bank hash (a bank hash is unique
    per item, signal and value); the local copy is matchable while any of them is ``active``.
    """

    __tablename__ = "remote_hashes"

    source_id: Mapped[int] = mapped_column(ForeignKey("hash_sources.id"), primary_key=True)
    remote_key: Mapped[str] = mapped_column(String(200), primary_key=True)  # "<signal>:<remote id or value>"
    hash_id: Mapped[int] = mapped_column(ForeignKey("bank_hashes.id"), index=True)
    active: Mapped[bool] = mapped_column(Boolean)
    reason: Mapped[str] = mapped_column(String(32))  # the remote's last reason: submitted, withdrawn, ...
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)



# --- moderation (issue 7): moderator accounts and sessions; migration 0005 ---

MODERATOR_ROLES = ("platform", "hotline")
HOTLINE_ACTIONS = ("reinstate", "retire")


class Moderator(Base):
    """A person who reviews matches: a platform's moderator (bound to it) or hotline staff.

    Only the argon2 hash of the password is stored; failed logins lock the account for a
    growing delay, as wrong PINs lock a case.
    """

    __tablename__ = "moderators"
    __table_args__ = (
        CheckConstraint("role IN ('platform', 'hotline')", name="role"),
        CheckConstraint(
            "(role = 'platform' AND platform_id IS NOT NULL) OR (role = 'hotline' AND platform_id IS NULL)",
            name="role_platform",
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    platform_id: Mapped[int | None] = mapped_column(ForeignKey("platforms.id"), index=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(16), default="active")  # active, disabled
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    password_changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ModeratorSession(Base):
    """A logged-in browser: the SHA-256 of the cookie's random token, never the token itself."""

    __tablename__ = "moderator_sessions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    moderator_id: Mapped[int] = mapped_column(ForeignKey("moderators.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))  # absolute limit
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))  # logout, disable, new password


class HotlineAction(Base):
    """Hotline staff's verdict on a suspended hash, with their reason (kept here, not in the audit log)."""

    __tablename__ = "hotline_actions"
    __table_args__ = (CheckConstraint("action IN ('reinstate', 'retire')", name="action"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    hash_id: Mapped[int] = mapped_column(ForeignKey("bank_hashes.id"), index=True)
    moderator_id: Mapped[int | None] = mapped_column(ForeignKey("moderators.id"))
    action: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(String(REASON_MAX_CHARS))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)



# --- webhooks (issue 7): takedown webhooks and their outbox; migration 0006 ---


class WebhookEndpoint(Base):
    """A platform's takedown webhook: where "NCII: remove" decisions are sent.

    No secret is stored: the signing secret is derived from the server's master key, the
    platform id and ``secret_version`` (see ``service.webhooks.signing``); rotating bumps the version.
    """

    __tablename__ = "webhook_endpoints"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    platform_id: Mapped[int] = mapped_column(ForeignKey("platforms.id"), unique=True)
    url: Mapped[str] = mapped_column(String(2048))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    secret_version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # After a rotation, version - 1 still signs (beside the new one) until then: migration 0007.
    previous_secret_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


#: A delivery's life: pending (due at ``next_attempt_at``, maybe claimed), then one of the final two.
DELIVERY_STATUSES = ("pending", "succeeded", "failed")


class WebhookDelivery(Base):
    """The outbox: one row per webhook to send, written in the decision's own transaction.

    ``payload`` is the exact JSON body, fixed when the decision commits. ``claimed_until``
    is a worker's lease: a crashed worker's claims become due again when it runs out.
    ``public_id`` is what the platform sees (header, API): the receiver's idempotency key.
    """

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'succeeded', 'failed')", name="status"),
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
        Index("ix_webhook_deliveries_platform_id_id", "platform_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(40), unique=True)
    platform_id: Mapped[int] = mapped_column(ForeignKey("platforms.id"))
    decision_id: Mapped[int] = mapped_column(ForeignKey("review_decisions.id"), index=True)
    event_type: Mapped[str] = mapped_column(String(32))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)  # in the current round (a redelivery starts a new one)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    claimed_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    last_status_code: Mapped[int | None] = mapped_column(SmallInteger)
    last_error: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class WebhookAttempt(Base):
    """One try at a delivery: what happened, never what the receiver said beyond a short snippet."""

    __tablename__ = "webhook_attempts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("webhook_deliveries.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)  # 1, 2, ... over every round of the delivery
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    duration_ms: Mapped[int] = mapped_column(Integer)
    status_code: Mapped[int | None] = mapped_column(SmallInteger)
    error: Mapped[str | None] = mapped_column(String(64))  # error class: timeout, connect_error, http_500, ...
    outcome: Mapped[str] = mapped_column(String(16))  # succeeded, retry, failed, gave_up
    retry_in_seconds: Mapped[float | None] = mapped_column(Float)
    response_snippet: Mapped[str | None] = mapped_column(String(200))


# --- videos (issue 14): a banked video's timeline; migration 0009 ---


class VideoFrame(Base):
    """One sampled frame of a banked video: when it was, and the bank hash of its code.

    A video item's distinct usable frame codes are bank hashes of signal ``vpdq`` (what the
    index searches); frames with the same code share one. Only usable frames (quality >= 50)
    are kept, the only ones the vPDQ rule counts. ``time`` orders them; ``position`` numbers them
    within the video in the order they were stored (a mirror receives a video's frames code by code).
    """

    __tablename__ = "video_frames"
    __table_args__ = (UniqueConstraint("item_id", "position", name="uq_video_frames_item_position"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("case_items.id"))
    hash_id: Mapped[int] = mapped_column(ForeignKey("bank_hashes.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    frame: Mapped[int] = mapped_column(Integer)
    time: Mapped[float] = mapped_column(Float)


class RemoteVideo(Base):
    """A video of a mirrored remote bank, and the local case item that holds its frame codes.

    The remote names its videos by its own id; each gets its own local item so that its frame
    codes form one video here too (a source's pictures and digests share one item each).
    """

    __tablename__ = "remote_videos"

    source_id: Mapped[int] = mapped_column(ForeignKey("hash_sources.id"), primary_key=True)
    remote_video_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("case_items.id"), unique=True)
