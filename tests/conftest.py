"""Shared test fixtures: paths to the seed, the real corpora, and runners."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SEED = REPO / "seeds" / "000_47ad94e21230f2f9.txt"
#: Real wire copy that nobody here wrote, beside the project (CI has it).
CORPORA = Path(os.environ.get("WIRE_INGEST_CORPORA", REPO.parent / "shared" / "corpora"))
TEST_DATA = REPO / "tests" / "data"


def corpus_path(*parts: str) -> Path:
    """Path inside the real corpora, or skip the test saying why."""
    path = CORPORA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real corpus {path} is absent (it lives in ../shared/corpora beside the repo)")
    return path


@pytest.fixture(scope="session")
def seed_bytes() -> bytes:
    return SEED.read_bytes()
