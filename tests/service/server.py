"""Run ``ncii serve`` as a real process for the tests that need one (crash, restart)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_env(data_dir: Path, database_url: str | None, **settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NCII_") and k != "DATABASE_URL"}
    env.update(
        NCII_DATA_DIR=str(data_dir),
        NCII_ARGON2_TIME_COST="1",
        NCII_ARGON2_MEMORY_KIB="1024",
        NCII_INDEX_POLL_SECONDS="0.05",
    )
    if database_url:
        env["DATABASE_URL"] = database_url
    env.update({f"NCII_{k.upper()}": str(v) for k, v in settings.items()})
    return env


class Server:
    """``ncii serve`` on a free port; ``kill()`` is ``kill -9``."""

    def __init__(self, env: dict[str, str], workers: int = 1, log: Path | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        out = open(log, "ab") if log else subprocess.DEVNULL
        self.process = subprocess.Popen(
            [sys.executable, "-c", "from service.cli import main; main()", "serve", "--port", str(self.port),
             "--workers", str(workers)],
            env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"ncii serve exited with {self.process.returncode}")
            try:
                if httpx.get(self.url + "/readyz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise TimeoutError("ncii serve did not become ready")

    def kill(self) -> None:
        """SIGKILL to the whole process group: no shutdown code runs."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()
