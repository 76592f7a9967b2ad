"""Shared test fixtures: where the large shared data sets are, when present."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"


def shared_data_dir() -> Path | None:
    """The shared data folder: $NCII_SHARED_DATA, else ../shared/data beside the repo."""
    configured = os.environ.get("NCII_SHARED_DATA")
    candidate = Path(configured) if configured else REPO_ROOT.parent / "shared" / "data"
    return candidate if candidate.is_dir() else None


@pytest.fixture(scope="session")
def shared_data() -> Path:
    found = shared_data_dir()
    if found is None:
        pytest.skip("shared data folder not present (set NCII_SHARED_DATA); CI has it")
    return found
