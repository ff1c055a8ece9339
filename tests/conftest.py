"""Shared test fixtures: paths to the seed, the real corpora, and runners.

Streaming tests run on Beam's Prism runner, a Go binary that wire-ingest never
downloads (``pipelines.runners.prism_binary``). A test session builds it once
with ``deploy/local/prism.sh`` when it is missing and Go is on PATH (about two
minutes); without Go the streaming tests fail with ``PrismNotFound``, which
says what to run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
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


@pytest.fixture(scope="session", autouse=True)
def prism(request) -> "str | None":
    """The Prism binary the streaming tests run on, built once if missing."""
    from pipelines.runners import BUILD_SCRIPT, PrismNotFound, prism_binary

    try:
        return prism_binary()
    except PrismNotFound:
        if os.environ.get("WIRE_INGEST_PRISM") or shutil.which("go") is None:
            return None  # the streaming tests fail with PrismNotFound, saying what to run
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(f"building Prism once with {BUILD_SCRIPT} (about two minutes)")
    subprocess.run(["bash", str(REPO / BUILD_SCRIPT)], check=True, stdout=subprocess.DEVNULL,
                   env={**os.environ, "PYTHON": sys.executable})
    return prism_binary()


@pytest.fixture
def pipelines():
    """``wire-ingest run`` processes (``tests.reliability.PipelineProcess``) a test
    appends here are stopped after it, whatever happens."""
    started: list = []
    yield started
    for process in started:
        process.stop(grace=5)
