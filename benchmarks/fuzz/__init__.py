"""Coverage-guided fuzzing of the code that reads outside bytes (issue 15, item 2).

One module per target. Each defines ``one_input(data: bytes)``, the harness body: it feeds
``data`` to the code under test and lets only the exceptions that code documents pass
(``ALLOWED``); anything else, or a broken promise (an array of the wrong shape, a signature
that verifies for the wrong body), is raised as a finding. The bodies need no atheris, so
``tests/test_fuzz_corpus.py`` replays the committed corpus through them in plain pytest.

``python -m benchmarks.fuzz TARGET --seconds N`` runs one target under atheris (libFuzzer)
and records its figures in ``benchmarks/results/fuzz.md`` and ``fuzz.json``.
"""

from __future__ import annotations

from pathlib import Path

#: target name -> (module, libFuzzer options beyond the common ones)
TARGETS: dict[str, tuple[str, tuple[str, ...]]] = {
    "loader": ("benchmarks.fuzz.loader", ("-max_len=65536", "-rss_limit_mb=2048", "-timeout=20")),
    "hex_batch": ("benchmarks.fuzz.hex_batch", ("-max_len=4096", "-rss_limit_mb=1024", "-timeout=5")),
    "match_body": ("benchmarks.fuzz.match_body", ("-max_len=16384", "-rss_limit_mb=1536", "-timeout=5")),
    "feed_cursor": ("benchmarks.fuzz.feed_cursor", ("-max_len=256", "-rss_limit_mb=1024", "-timeout=5")),
    "webhook_signature": ("benchmarks.fuzz.webhook_signature", ("-max_len=8192", "-rss_limit_mb=1024", "-timeout=5")),
    "sync_native": ("benchmarks.fuzz.sync_native", ("-max_len=16384", "-rss_limit_mb=1024", "-timeout=5")),
    "sync_stopncii": ("benchmarks.fuzz.sync_stopncii", ("-max_len=16384", "-rss_limit_mb=1024", "-timeout=5")),
}

HERE = Path(__file__).resolve().parent
CORPUS = HERE / "corpus"  # committed seeds, one folder per target
CRASHES = HERE / "crashes"  # inputs that once broke a target (replayed by the CI test)


class Finding(AssertionError):
    """A harness's own check failed: the code under test broke a promise without raising."""


def split(data: bytes, parts: int) -> list[bytes]:
    """``data`` cut at its first ``parts - 1`` 0x00 bytes (missing parts are empty)."""
    pieces = data.split(b"\x00", parts - 1)
    return pieces + [b""] * (parts - len(pieces))


def text(data: bytes) -> str:
    """Bytes as text, any bytes: UTF-8 where they are, lone surrogates where they are not."""
    return data.decode("utf-8", "surrogateescape")
