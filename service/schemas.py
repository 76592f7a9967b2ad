"""Wire formats (Pydantic), kept apart from the ORM models.

Unknown fields are refused (``extra="forbid"``): a client that sends something
we would silently drop, such as a file name, learns that we did not keep it.
Types are what the schema says (``strict``): ``"100"``, ``100.0`` or ``true`` is not an
integer and ``1`` is not a boolean, so what the OpenAPI document refuses, the service refuses
(JSON integers are still numbers). Strings have length caps so a hostile body cannot balloon,
and none may hold a NUL character (``refuse_nul``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from matcher.pdq import STRUCTURE_MAX

from .preview_urls import PreviewUrl


#: The same rule for form fields, which are not models: ``Form(..., pattern=NUL_FREE)``.
NUL_FREE = r"^[^\x00]*$"


def refuse_nul(cls, value):
    """Text with a NUL character is refused (422): no hash, name, reference or reason has one, and
    PostgreSQL cannot store one (such a reason, content_ref, variant or moderator name was a 500
    there). A validator of every field of a model: ``field_validator("*")(refuse_nul)``."""
    texts = value if isinstance(value, list) else (value,)
    if any(isinstance(text, str) and "\x00" in text for text in texts):
        raise ValueError("text may not contain NUL characters")
    return value


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    _no_nul = field_validator("*")(refuse_nul)


class HashItem(Strict):
    signal: str = Field(max_length=32, examples=["pdq"])
    hash: str = Field(max_length=256, description="Hex digits, as many as the signal type has bits / 4.")
    quality: int | None = Field(None, ge=0, le=100, description="Required for PDQ (0-100).")
    structure: int | None = Field(
        None, ge=0, le=STRUCTURE_MAX,
        description="PDQ only: the gradient energy uncapped (quality is this capped at 100). The match threshold "
        "of an edited copy falls with it; without it a hash is banded by its quality.",
    )
    variant: str = Field("full", max_length=64, description="Which part of the picture this hash covers.")


class FrameIn(Strict):
    """One sampled frame of a video's vPDQ hash, as ``ncii hash`` prints it."""

    pdq: str = Field(max_length=80, description="The frame's PDQ hash, 64 hex digits.")
    quality: int = Field(ge=0, le=100)
    frame: int = Field(0, ge=0, description="The decoded frame's number.")
    time: float = Field(ge=0, allow_inf_nan=False, description="Seconds from the start.")


class VpdqIn(Strict):
    """A video's vPDQ hash: the ``vpdq`` field of an ``ncii hash`` line (interval, rate and duration optional).

    The list is not length-capped here: the route counts the frames against its limit and
    answers with its own code (the JSON body cap, 4 MiB, bounds it anyway).
    """

    interval: float | None = Field(None, gt=0, le=3600)
    frame_rate: float | None = Field(None, gt=0, le=1000)
    duration: float | None = Field(None, ge=0)
    frames: list[FrameIn] = Field(min_length=1)


class CaseItemIn(Strict):
    kind: Literal["image", "file", "video"] = Field(
        description="image: a picture's hash group; file: exact digests; video: its MD5 (in hashes) and its vPDQ."
    )
    hashes: list[HashItem] = Field(default_factory=list, max_length=64)
    vpdq: VpdqIn | None = Field(None, description="Videos only: the frames' PDQ hashes with their times.")
    label: str | None = Field(
        None, max_length=200, description="The device's own label for this item: echoed back, never stored."
    )

    @model_validator(mode="after")
    def _shape(self) -> "CaseItemIn":
        if self.kind != "video" and self.vpdq is not None:
            raise ValueError("only a video item carries vpdq frames")
        if not self.hashes and self.vpdq is None:
            raise ValueError("an item needs at least one hash (or, for a video, its vpdq frames)")
        return self


#: A picture's PDQ hash, for the examples of the OpenAPI document.
_EXAMPLE_PDQ = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"


class CaseCreate(Strict):
    model_config = ConfigDict(json_schema_extra={"examples": [{"items": [
        {"kind": "image", "label": "beach.jpg",
         "hashes": [{"signal": "pdq", "hash": _EXAMPLE_PDQ, "quality": 100, "structure": 412}]},
        {"kind": "file", "hashes": [{"signal": "md5", "hash": "9e107d9d372bb6826bd81d3542a419d6"}]},
    ]}]})

    items: list[CaseItemIn] = Field(min_length=1)


class ItemResult(BaseModel):
    index: int
    label: str | None = None
    status: Literal["accepted", "refused", "duplicate"]
    code: str | None = None
    reason: str | None = None
    duplicate_of: int | None = None
    hashes_accepted: int = 0
    dropped: list[dict] = []


class CaseCreated(BaseModel):
    case_number: str
    pin: str = Field(description="Shown once. Only its argon2 hash is stored.")
    status: str
    items: list[ItemResult]


class ItemStatusOut(BaseModel):
    position: int
    kind: str
    status: str
    hashes: int
    matches: int
    confirmed_removals: int


class CaseStatusOut(BaseModel):
    case_number: str
    status: str
    created_at: datetime
    withdrawn_at: datetime | None
    matches: int
    confirmed_removals: int
    items: list[ItemStatusOut]


class CaseWithdrawn(BaseModel):
    case_number: str
    status: str
    hashes_withdrawn: int


class MatchQuery(Strict):
    signal: str = Field(max_length=32)
    hash: str | None = Field(None, max_length=256, description="Every signal but vpdq: the hash's hex digits.")
    vpdq: VpdqIn | None = Field(None, description="signal vpdq: the video's frame hashes (as ncii hash prints them).")
    quality: int | None = Field(None, ge=0, le=100)
    structure: int | None = Field(None, ge=0, le=STRUCTURE_MAX, description="As in a submission's hashes.")
    content_ref: str | None = Field(None, max_length=256, description="The platform's own reference to the upload.")
    preview_url: PreviewUrl | None = Field(
        None, description="http(s) link to the upload in the platform's own systems, for its moderators' browsers "
        "(stored, never fetched by the service; shown blurred in the review UI)."
    )


ReviewBandMode = Literal["deferred", "sync", "off"]


class MatchRequest(Strict):
    model_config = ConfigDict(json_schema_extra={"examples": [{"queries": [
        {"signal": "pdq", "hash": _EXAMPLE_PDQ, "quality": 100, "structure": 412, "content_ref": "upload/8812"},
        {"signal": "md5", "hash": "9e107d9d372bb6826bd81d3542a419d6"},
    ]}]})

    queries: list[MatchQuery] = Field(min_length=1)
    review_band: ReviewBandMode | None = Field(
        None,
        description="PDQ matches beyond 31, up to the hash-group strategy's 52: 'deferred' (recorded for review "
        "after the answer), 'sync' (in this answer; slower), 'off'. Default: the deployment's setting.",
    )


class VideoMatchOut(BaseModel):
    """Where a query video met a bank video (matcher.video.comparison.VideoMatch, for the wire)."""

    video_id: int = Field(description="The bank video (its case item id); hash_id names its first frame code.")
    query_share: float = Field(description="Share of the query's distinct usable frames that met the bank video.")
    bank_share: float = Field(description="Share of the bank video's distinct frames that the query met.")
    orientation: str = Field(description="The query's turn that matched (original, flipy, ...).")
    query_frames: int
    bank_frames: int
    query_ranges: list[list[float]] = Field(description="Matched runs in the query, [first, last] seconds.")
    bank_ranges: list[list[float]] = Field(description="Matched runs in the bank video, [first, last] seconds.")


class MatchOut(BaseModel):
    hash_id: int
    signal: str
    distance: int
    variant: str = Field(description="Which part of the banked picture matched (full, crop_l7.5, ...).")
    case_status: str
    confidence: Literal["high", "review"] = Field(
        "high",
        description="high: within the signal's standard threshold (PDQ 31); "
        "review: within the hash-group strategy's wider one only. Every match is a lead for review either way.",
    )
    video: VideoMatchOut | None = Field(None, description="vpdq matches: which bank video, shares and time ranges.")
    registered: bool = Field(
        False,
        description="Found by registration (/v1/match/image only): a region of the upload, found and warped back, "
        "within the registered threshold of this hash; always of review confidence.",
    )


class QueryResult(BaseModel):
    index: int
    content_ref: str | None = None
    status: Literal["checked", "skipped", "invalid"]
    code: str | None = None
    reason: str | None = None
    # A factory, not ``= []``: pydantic deep-copies a mutable default for every instance (a batch builds 1,000).
    matches: list[MatchOut] = Field(default_factory=list)


class MatchResponse(BaseModel):
    results: list[QueryResult]
    review_band: Literal["included", "deferred", "dropped", "off"] = Field(
        "off",
        description="What happened to PDQ matches beyond 31: included in these results, deferred (they reach "
        "the review queue within seconds), dropped (the band's backlog was full: repeat with review_band 'sync' "
        "if it matters), or off (not searched, or no PDQ query).",
    )
