"""Service settings, from environment variables, in one object.

Every knob a deployment needs is here with a safe default, so that
``pip install ncii-matcher && ncii serve`` just works (SQLite in a data
folder) and production only sets ``DATABASE_URL`` (PostgreSQL) and a few
limits. Variables are ``NCII_<FIELD>``; the database also answers to the
conventional ``DATABASE_URL``. The table of variables is in ``docs/service.md``.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


def default_data_dir() -> Path:
    """$XDG_DATA_HOME/ncii-matcher, else ~/.local/share/ncii-matcher."""
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / "ncii-matcher"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="NCII_", extra="ignore")

    data_dir: Path = Field(default_factory=default_data_dir, description="SQLite file and index snapshots live here.")
    database_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("DATABASE_URL", "NCII_DATABASE_URL"),
        description="SQLAlchemy URL; PostgreSQL in production. Default: SQLite in data_dir.",
    )
    # Victim cases
    max_case_items: int = Field(1000, description="Items (image groups or file hashes) per case.")
    pin_max_attempts: int = Field(5, description="Wrong PINs allowed before the case locks.")
    pin_lock_seconds: float = Field(60.0, description="First lock; doubles with each further failure.")
    pin_lock_max_seconds: float = Field(24 * 3600.0, description="Longest lock.")
    argon2_time_cost: int = Field(3, description="argon2id passes for PINs and passwords.")
    argon2_memory_kib: int = Field(64 * 1024, description="argon2id memory for PINs and passwords.")
    # Platform checks
    max_match_queries: int = Field(1000, description="Query hashes per /v1/match request.")
    max_upload_bytes: int = Field(20 * 1024 * 1024, description="Largest image accepted by /v1/match/image.")
    max_upload_pixels: int = Field(64 * 1024 * 1024, description="Largest image, in pixels, hashed in memory.")
    image_decodes: int = Field(
        default_factory=lambda: min(4, os.cpu_count() or 1), ge=1,
        description="Images a worker decodes and hashes at once for /v1/match/image (default: its cores, at most 4); "
        "others wait their turn. Each can hold ~8 bytes a pixel, ~0.5 GB at max_upload_pixels (docs/loading.md).",
    )
    # Videos (docs/video.md): /v1/match/video decodes uploads in memory within these bounds.
    max_video_upload_bytes: int = Field(
        128 * 1024 * 1024, ge=1, description="Largest video accepted by /v1/match/video (held in memory while hashed)."
    )
    max_video_pixels: int = Field(3840 * 2160, ge=1, description="Largest video frame, in pixels, decoded for hashing.")
    max_video_seconds: float = Field(1800.0, gt=0, description="Longest video hashed by /v1/match/video.")
    max_video_frames: int = Field(
        7200, ge=1, description="Frame hashes per video: a case item, a /v1/match video query, or sampled from an upload."
    )
    max_match_frames: int = Field(7200, ge=1, description="Video frame hashes in one /v1/match request, all queries.")
    video_decodes: int = Field(
        1, ge=1, description="Videos a worker decodes at once (each holds its upload and one decoded frame in memory)."
    )
    video_queue: int = Field(
        4, ge=0, description="Video uploads a worker keeps waiting for a decoder (each holds its bytes); "
        "beyond them an upload is answered 429 video_busy at once, so waiting uploads cannot pile up in memory.",
    )
    pdq_match_threshold: int | None = Field(
        None,
        ge=0,
        le=256,
        description="Cap on the PDQ match distance. Default: the hash-group strategy's (52, best recall); "
        "31 answers about 10x faster on large banks but misses more edited copies (docs/matching.md).",
    )
    registration: bool = Field(
        True,
        description="/v1/match/image: when the lookup finds nothing, register the upload on the bank pictures "
        "its start regions come within registration_radius of (matcher.registration; ~50 ms per candidate, "
        "at most 8) and answer what it finds with review confidence.",
    )
    registration_radius: int = Field(
        60, ge=0, le=80,
        description="PDQ distance within which an upload's start regions make a bank picture a registration "
        "candidate: wider finds more copies (docs/matching.md) and costs more index time and candidates on a big bank "
        "(36 codes at 1M hashes: ~55 ms at 52, ~90 ms at 60, ~180 ms at 64; ten times that at 10M).",
    )
    review_band: Literal["deferred", "sync", "off"] = Field(
        "deferred",
        description="PDQ matches between 31 and the strategy's 52 ('review' confidence): searched after the "
        "answer and recorded for review (deferred), in the request (sync: ~10x the index time), or not at all. "
        "A request can ask for another mode with its own review_band field.",
    )
    review_band_queue: int = Field(
        10_000, ge=0, description="Codes waiting for the deferred review band, per worker; beyond it a band is dropped."
    )
    review_band_cpu_share: float = Field(
        0.25, gt=0, le=1, description="Share of one core the deferred review band may use, per worker."
    )
    api_key_cache_seconds: float = Field(
        1.0,
        ge=0,
        le=2,
        description="How long each worker trusts a successful API key check (0: check every request). "
        "A revoked key stops working within this window.",
    )
    # Review
    suspend_after_platforms: int = Field(
        2,
        ge=1,
        description="A bank hash that reviewers at this many different platforms mark not NCII is suspended "
        "from matching, pending hotline review.",
    )
    # Takedown webhooks (docs/webhooks.md)
    webhook_master_key: SecretStr | None = Field(
        None,
        description="Server key every platform's webhook signing secret is derived from (HKDF; nothing secret "
        "is stored in the database). Unset: a random key kept in data_dir/secrets/webhook-master.key. "
        "Replicas on several machines must share one value.",
    )
    webhook_allow_private_targets: bool = Field(
        False,
        description="Allow webhook URLs that resolve to loopback, private, link-local or reserved addresses "
        "(off in production: the service would otherwise be a proxy into its own network; tests turn it on).",
    )
    webhook_rotation_grace_hours: float = Field(
        24.0, ge=0, le=24 * 30,
        description="After a secret rotation, how long deliveries are also signed with the previous secret "
        "(so a receiver can switch without refusing any); 0: the previous secret stops at once.",
    )
    webhook_poll_seconds: float = Field(1.0, gt=0, description="How often each worker looks for due deliveries.")
    webhook_timeout_seconds: float = Field(
        10.0, gt=0, description="Timeout of each network step of a delivery attempt; a whole attempt gets twice this."
    )
    webhook_lease_seconds: float = Field(
        60.0, gt=0, description="How long a claimed delivery stays with its worker before another may retry it."
    )
    webhook_max_attempts: int = Field(10, ge=1, description="Attempts before a delivery is given up.")
    webhook_backoff_base_seconds: float = Field(10.0, gt=0, description="Delay after the first failed attempt.")
    webhook_backoff_max_seconds: float = Field(3600.0, gt=0, description="Longest delay between attempts.")
    webhook_batch_size: int = Field(8, ge=1, le=64, description="Deliveries a worker claims and sends at once.")
    # Moderators (review UI and hotline)
    moderator_max_attempts: int = Field(5, ge=1, description="Wrong passwords allowed before a moderator account locks.")
    moderator_lock_seconds: float = Field(60.0, description="First lock; doubles with each further failure.")
    moderator_lock_max_seconds: float = Field(3600.0, description="Longest lock.")
    moderator_idle_minutes: float = Field(30.0, gt=0, description="A review session ends after this long unused.")
    moderator_session_hours: float = Field(10.0, gt=0, description="A review session ends this long after login, used or not.")
    secure_cookies: bool = Field(
        False,
        description="Mark the review session cookie Secure even on plain-http requests (set it behind a TLS proxy; "
        "https requests get Secure cookies anyway).",
    )
    # Index
    index_poll_seconds: float = Field(0.5, description="How often each worker reads the change log.")
    index_cache_entries: int = Field(
        50_000, ge=0, le=10_000_000,
        description="Recent perceptual search answers each worker keeps for repeated uploads (0: none); "
        "brought up to date with the bank's changes before they are served.",
    )
    snapshot_every_changes: int = Field(50_000, description="Write an index snapshot after this many changes.")

    @property
    def sqlalchemy_url(self) -> str:
        if self.database_url:
            url = self.database_url
            # Heroku-style and plain postgres URLs: use psycopg 3.
            for prefix in ("postgres://", "postgresql://"):
                if url.startswith(prefix):
                    return "postgresql+psycopg://" + url[len(prefix) :]
            return url
        return f"sqlite:///{self.data_dir / 'ncii.sqlite3'}"

    @property
    def is_sqlite(self) -> bool:
        return self.sqlalchemy_url.startswith("sqlite")

    @property
    def snapshot_dir(self) -> Path:
        return self.data_dir / "index"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
