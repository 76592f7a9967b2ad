"""The fuzz harnesses' bodies on the committed seeds and crash inputs, without atheris.

``benchmarks/fuzz/`` runs these bodies under libFuzzer; here every committed input goes
through them once, so a harness that no longer matches the code fails in CI, and every
crash the fuzzer once found (``benchmarks/fuzz/crashes/``) stays fixed.
"""

from __future__ import annotations

import importlib

import pytest

from benchmarks.fuzz import CORPUS, CRASHES, TARGETS


def _inputs():
    for target in TARGETS:
        for path in sorted((CORPUS / target).iterdir()):
            yield pytest.param(target, path, id=f"{target}/{path.name}")
    if CRASHES.is_dir():
        for path in sorted(CRASHES.iterdir()):
            target = next(t for t in sorted(TARGETS, key=len, reverse=True) if path.name.startswith(t + "-"))
            yield pytest.param(target, path, id=f"crash/{path.name}")


@pytest.mark.parametrize(("target", "path"), list(_inputs()))
def test_input_passes_its_harness(target, path):
    importlib.import_module(TARGETS[target][0]).one_input(path.read_bytes())


def test_every_target_has_seeds():
    for target in TARGETS:
        assert any((CORPUS / target).iterdir()), target


def test_seeds_reach_past_the_parsers():
    """The seeds are valid inputs, not only refusals: each picture decodes, each page parses."""
    from matcher.loading import load_rgb_array
    from benchmarks.fuzz.sync_pages import answer
    from service.sync.client_native import NativeRemote

    for path in (CORPUS / "loader").iterdir():
        assert load_rgb_array(path.read_bytes()).shape[2] == 3, path.name
    page = NativeRemote("https://peer.example", "k", transport=answer(
        (CORPUS / "sync_native" / "page").read_bytes()), wait=lambda s: False).fetch(None)
    assert len(page.records) == 3 and page.unsupported == 1
