"""WIRE_INGEST_DEBUG: the loggers a run logs at DEBUG, for a stalled job's report."""

from __future__ import annotations

import logging

from pipelines import cli


def test_the_named_loggers_log_at_debug_and_others_keep_their_level(monkeypatch):
    monkeypatch.setenv(cli.DEBUG_LOGGERS_ENV, " transforms , pipelines.example_a")
    untouched = logging.getLogger("pipelines.example_b")
    for name in ("transforms", "pipelines.example_a"):
        monkeypatch.setattr(logging.getLogger(name), "level", logging.NOTSET)
    cli._debug_loggers_from_env()
    assert logging.getLogger("transforms").level == logging.DEBUG
    assert logging.getLogger("transforms.io.kafka_source").isEnabledFor(logging.DEBUG)
    assert logging.getLogger("pipelines.example_a").level == logging.DEBUG
    assert untouched.level == logging.NOTSET
