"""A local webhook receiver for the tests: a tiny HTTP server in a thread on a free port.

It answers each request with the next scripted response (status and headers), then 200s,
and keeps every complete request it got (headers, body, and when it arrived) for the test to
check. A request cut off mid-body (the service was killed while sending) is kept apart in
``truncated``: a real receiver rejects it as malformed, so it is not a delivery.
"""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Receiver:
    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.received_at: list[float] = []  # parallel to requests: a receiver checks freshness on arrival
        self.truncated: list[tuple[dict[str, str], bytes]] = []
        self.script: list[tuple[int, dict[str, str]]] = []
        self.default = (200, {})
        self.hold: threading.Event | None = None  # if set: answer only once it is released
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                expected = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(expected)
                headers = {k.lower(): v for k, v in self.headers.items()}
                if len(body) < expected:
                    with receiver._lock:
                        receiver.truncated.append((headers, body))
                    return
                with receiver._lock:
                    receiver.requests.append((headers, body))
                    receiver.received_at.append(time.time())
                    status, headers = receiver.script.pop(0) if receiver.script else receiver.default
                if receiver.hold is not None:
                    receiver.hold.wait(60)
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                answer = b"ok" if status < 300 else b"receiver says no\x00\x07 " + b"x" * 500
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                try:
                    self.wfile.write(answer)
                except BrokenPipeError:  # the service gave up waiting (a timeout under test)
                    pass

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/ncii"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def respond(self, *responses: int | tuple[int, dict[str, str]]) -> None:
        with self._lock:
            self.script.extend(r if isinstance(r, tuple) else (r, {}) for r in responses)

    def count(self) -> int:
        with self._lock:
            return len(self.requests)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
