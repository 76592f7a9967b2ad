"""A local webhook receiver for the tests: a tiny HTTP server in a thread on a free port.

It answers each request with the next scripted response (status and headers), then 200s,
and keeps every request it got (headers and body) for the test to check.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Receiver:
    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.script: list[tuple[int, dict[str, str]]] = []
        self.default = (200, {})
        self.hold: threading.Event | None = None  # if set: answer only once it is released
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver._lock:
                    receiver.requests.append(({k.lower(): v for k, v in self.headers.items()}, body))
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
