"""Webhook signing secrets and signatures.

The service must compute HMACs with each platform's secret, so the secret cannot be kept only
as a hash (as API keys are). Instead nothing secret is stored at all: a platform's secret is
derived with HKDF-SHA256 from one server master key, the platform id and the endpoint's
``secret_version``. A database dump or backup therefore reveals no secret; rotating is a
version bump; the master key (``NCII_WEBHOOK_MASTER_KEY``, else a random key created once in
``data_dir/secrets/``) is the one thing to protect and back up. Losing it changes every
platform's secret (they would need the new one, from ``--rotate-secret``).

A signature is ``v1=<hex HMAC-SHA256(secret, "<timestamp>." + body)>``: the timestamp is
signed with the body so a captured request cannot be replayed later with a fresh timestamp.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import threading
import time
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path

from ..db.times import as_utc
from ..settings import Settings

SECRET_PREFIX = "whsec_"
SIGNATURE_VERSION = "v1"
HKDF_SALT = b"ncii-matcher webhook signing secret"
#: How old a timestamp a receiver should accept (docs/webhooks.md); ``verify`` uses it.
REPLAY_WINDOW_SECONDS = 300

HEADER_ID = "Ncii-Webhook-Id"
HEADER_TIMESTAMP = "Ncii-Webhook-Timestamp"
HEADER_SIGNATURE = "Ncii-Webhook-Signature"

_key_lock = threading.Lock()
_key_cache: dict[str, bytes] = {}


class MasterKeyError(RuntimeError):
    pass


def master_key_path(settings: Settings) -> Path:
    return settings.data_dir / "secrets" / "webhook-master.key"


def master_key(settings: Settings) -> bytes:
    """The configured master key, else this data folder's (created on first use, mode 0600)."""
    if settings.webhook_master_key is not None:
        value = settings.webhook_master_key.get_secret_value().strip()
        try:
            raw = bytes.fromhex(value) if len(value) == 64 else value.encode()
        except ValueError:
            raw = value.encode()
        if len(raw) < 32:
            raise MasterKeyError("NCII_WEBHOOK_MASTER_KEY must be 64 hex digits or at least 32 characters")
        return raw
    path = master_key_path(settings)
    with _key_lock:
        cached = _key_cache.get(str(path))
        if cached is None:
            cached = _key_cache[str(path)] = _load_or_create(path)
        return cached


def _load_or_create(path: Path) -> bytes:
    """Read the key file, or create it so that concurrent workers all end up with the same key.

    The key is written to a private temporary file, fsynced, then hard-linked into place:
    ``link`` fails if another process got there first, and the loser reads the winner's key.
    A secret shown to a platform is never derived from a key that a crash could lose.
    """
    try:
        return bytes.fromhex(path.read_text().strip())
    except FileNotFoundError:
        pass
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, (secrets.token_hex(32) + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(temporary, path)
    except FileExistsError:
        pass
    finally:
        temporary.unlink(missing_ok=True)
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)
    return bytes.fromhex(path.read_text().strip())


def _hkdf_sha256(key: bytes, info: bytes, length: int = 32) -> bytes:
    """RFC 5869 extract-and-expand (a single block is all we need)."""
    prk = hmac.new(HKDF_SALT, key, hashlib.sha256).digest()
    okm, block, counter = b"", b"", 1
    while len(okm) < length:
        block = hmac.new(prk, block + info + bytes([counter]), hashlib.sha256).digest()
        okm += block
        counter += 1
    return okm[:length]


def platform_secret(settings: Settings, platform_id: int, version: int) -> str:
    """The platform's signing secret for this version: ``whsec_`` and 43 base64url characters."""
    raw = _hkdf_sha256(master_key(settings), f"platform:{platform_id}:version:{version}".encode())
    return SECRET_PREFIX + base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def signing_secrets(
    settings: Settings, platform_id: int, version: int, previous_until: datetime | None, now: datetime | None = None
) -> list[str]:
    """The secrets a delivery is signed with now: the current one, and the previous one while a
    rotation's grace period lasts (``previous_until``)."""
    current = platform_secret(settings, platform_id, version)
    now = now or datetime.now(timezone.utc)
    if previous_until is not None and version > 1:
        if as_utc(previous_until) > now:
            return [current, platform_secret(settings, platform_id, version - 1)]
    return [current]


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header's value for ``body`` sent at ``timestamp`` (Unix seconds)."""
    digest = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"{SIGNATURE_VERSION}={digest}"


def signed_headers(
    secret: str | Sequence[str], delivery_id: str, body: bytes, now: float | None = None
) -> dict[str, str]:
    """One signature per secret, comma-separated (during a rotation: the new one first)."""
    timestamp = int(time.time() if now is None else now)
    keys = [secret] if isinstance(secret, str) else list(secret)
    return {
        HEADER_ID: delivery_id,
        HEADER_TIMESTAMP: str(timestamp),
        HEADER_SIGNATURE: ",".join(signature(key, timestamp, body) for key in keys),
    }


def verify(
    secret: str, headers, body: bytes, *, now: float | None = None, tolerance: int = REPLAY_WINDOW_SECONDS
) -> bool:
    """What a receiver does (docs/webhooks.md): a fresh timestamp and a matching signature."""
    lowered = {str(k).lower(): v for k, v in dict(headers).items()}  # header names are case-insensitive
    try:
        timestamp = int(lowered[HEADER_TIMESTAMP.lower()])
        given = lowered[HEADER_SIGNATURE.lower()]
    except (KeyError, ValueError, TypeError):
        return False
    # In integers: int() takes thousands of digits, and float(now) - such an int overflows.
    if abs(int(time.time() if now is None else now) - timestamp) > tolerance:
        return False
    expected = signature(secret, timestamp, body).encode()
    # Compared as bytes: compare_digest refuses str with non-ASCII characters (TypeError), and
    # a header can carry any (found by benchmarks/fuzz/webhook_signature.py). No such part matches.
    return any(hmac.compare_digest(expected, part.strip().encode("utf-8", "surrogatepass"))
               for part in given.split(","))
