"""The delivery worker: one background thread per worker process, started in the app lifespan.

Every ``webhook_poll_seconds`` it looks (read-only) for due deliveries; if there are any it
claims as many as it has free sending slots (``webhook_batch_size``; see ``outbox``), and each
is sent and its outcome recorded on a pool thread of its own: one slow receiver holds one slot
for at most its timeout, never the other platforms' takedowns. With several workers or
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
        self._slots_lock = threading.Lock()
        self._in_flight = 0

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="ncii-webhooks", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop claiming; let the attempts in hand finish (each is bounded by the timeout) and be recorded."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self._settings.webhook_poll_seconds + 5)
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._client.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                claimed = self.run_once(wait=False)
            except Exception:  # a database blip must not kill the worker
                log.exception("webhook delivery round failed; retrying")
                claimed = 0
            if not claimed or self._free_slots() == 0:
                self._stop.wait(self._settings.webhook_poll_seconds)

    def _free_slots(self) -> int:
        with self._slots_lock:
            return self._settings.webhook_batch_size - self._in_flight

    def run_once(self, *, wait: bool = True) -> int:
        """Claim due deliveries for the free sending slots and send them; returns how many were claimed.

        Each is sent and settled on its own pool thread, so a slow receiver holds one slot,
        not the others' outcomes (whose leases would otherwise run out, and be sent twice).
        """
        free = self._free_slots()
        if free <= 0 or not outbox.any_due(self._readers):
            return 0
        claims = outbox.claim_due(self._sessions, self._settings, self.worker_id, free)
        with self._slots_lock:
            self._in_flight += len(claims)
        futures = [self._pool.submit(self._deliver, claim) for claim in claims]
        if wait:
            for future in futures:
                future.result()
        return len(claims)

    def _deliver(self, claim: outbox.Claim) -> None:
        try:
            result = self._send(claim)
            outbox.settle(self._sessions, self._settings, self.worker_id, claim, result)
        except Exception:
            # Unrecorded (the attempt may or may not have been sent): the lease runs out and it is retried.
            log.exception("webhook delivery %s: the attempt could not be recorded", claim.public_id)
        finally:
            with self._slots_lock:
                self._in_flight -= 1

    def _send(self, claim: outbox.Claim) -> delivery.AttemptResult:
        if claim.url is None:
            return delivery.disabled_result()
        secrets = signing.signing_secrets(
            self._settings, claim.platform_id, claim.secret_version, claim.previous_secret_until
        )
        return delivery.attempt(self._client, self._settings, claim.url, secrets, claim.public_id, body_of(claim.payload))
