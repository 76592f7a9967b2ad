"""The delivery worker: one background thread per worker process, started in the app lifespan.

Every ``webhook_poll_seconds`` it looks (read-only) for due deliveries; if there are any it
claims a batch (see ``outbox``), sends them concurrently (one slow receiver must not hold
back the others for a whole timeout each) and records each outcome. With several workers or
replicas, each claims its own rows; a killed worker's claims are retried when their lease
runs out.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import socket
import threading
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy.orm import Session, sessionmaker

from ..settings import Settings
from . import delivery, outbox, signing

log = logging.getLogger("ncii.webhooks")


def body_of(payload: dict) -> bytes:
    """The bytes that are signed and sent (compact, keys sorted: the same for every attempt)."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


class DeliveryWorker:
    def __init__(self, sessions: sessionmaker[Session], readers: sessionmaker[Session], settings: Settings) -> None:
        self._sessions = sessions
        self._readers = readers
        self._settings = settings
        self.worker_id = f"{socket.gethostname()[:40]}:{os.getpid()}:{secrets.token_hex(3)}"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._client = delivery.make_client(settings)
        self._pool = ThreadPoolExecutor(max_workers=settings.webhook_batch_size, thread_name_prefix="ncii-webhook-send")

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="ncii-webhooks", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Finish the batch in hand (at most one timeout); unsent claims are retried after their lease."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self._settings.webhook_timeout_seconds + 5)
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._client.close()

    def _run(self) -> None:
        while not self._stop.wait(self._settings.webhook_poll_seconds):
            try:
                while not self._stop.is_set() and self.run_once() == self._settings.webhook_batch_size:
                    pass  # a full batch: more may be due
            except Exception:  # a database blip must not kill the worker
                log.exception("webhook delivery round failed; retrying")

    def run_once(self) -> int:
        """Claim, send and settle one batch of due deliveries; returns how many were claimed."""
        if not outbox.any_due(self._readers):
            return 0
        claims = outbox.claim_due(self._sessions, self._settings, self.worker_id, self._settings.webhook_batch_size)
        for claim, result in zip(claims, self._pool.map(self._send, claims)):
            try:
                outbox.settle(self._sessions, self._settings, self.worker_id, claim, result)
            except Exception:
                # The attempt happened but is not recorded; the lease runs out and it is retried.
                log.exception("webhook delivery %s: recording the attempt failed", claim.public_id)
        return len(claims)

    def _send(self, claim: outbox.Claim) -> delivery.AttemptResult:
        if claim.url is None:
            return delivery.disabled_result()
        secret = signing.platform_secret(self._settings, claim.platform_id, claim.secret_version)
        return delivery.attempt(self._client, self._settings, claim.url, secret, claim.public_id, body_of(claim.payload))
