"""Structured log events: dead letters, and the start, stop and retries of
the broker and the sinks.

An event is an ordinary ``logging`` record on a ``wire_ingest.events.*``
logger whose ``wire_ingest`` attribute holds its fields (``event`` first).
The text format shows the message; ``--log-format json``
(``pipelines.logs.JsonFormatter``) writes the fields as one JSON object a
line. Events are INFO: a run at the default level (WARNING) shows none of
them in text, while the JSON format lowers ``wire_ingest.events`` to INFO.

``LogDeadLetters`` logs each dead letter where the pipeline files it
(stage, source position, reason); in the runner's process on the local
runners, in the workers' logs elsewhere.
"""

from __future__ import annotations

import logging
from typing import Any

import apache_beam as beam

__all__ = ["EVENTS_LOGGER", "log_event", "dead_letter_fields", "LogDeadLetters"]

EVENTS_LOGGER = "wire_ingest.events"
#: The attribute of a log record that carries an event's fields.
FIELDS_ATTRIBUTE = "wire_ingest"


def log_event(kind: str, event: str, message: str, level: int = logging.INFO, **fields: Any) -> None:
    """Log ``event`` (e.g. ``sink_start``) on ``wire_ingest.events.<kind>``."""
    logging.getLogger(f"{EVENTS_LOGGER}.{kind}").log(
        level, message, extra={FIELDS_ATTRIBUTE: {"event": event, **fields}})


def dead_letter_fields(dead_letter) -> dict[str, Any]:
    """What the log says of a dead letter: stage, reason, error and where it came from."""
    source = dead_letter.source
    fields = {"stage": dead_letter.stage, "reason": dead_letter.reason,
              "error": dead_letter.error[:500], "format": dead_letter.format,
              "source": {"kind": source.kind, "uri": source.uri, "position": source.position}}
    for name in ("topic", "partition", "offset"):
        value = getattr(source, name, None)
        if value is not None:
            fields["source"][name] = value
    return fields


class LogDeadLetters(beam.PTransform):
    """Log every dead letter as a ``dead_letter`` event; outputs nothing."""

    def expand(self, dead_letters):
        return dead_letters | "LogDeadLetter" >> beam.ParDo(_LogDeadLetterFn())


class _LogDeadLetterFn(beam.DoFn):
    def process(self, dead_letter):
        fields = dead_letter_fields(dead_letter)
        where = fields["source"]["uri"] + (f" {fields['source']['position']}"
                                           if fields["source"]["position"] else "")
        log_event("dead_letter", "dead_letter",
                  f"dead letter at {fields['stage']}: {fields['reason']} ({where})", **fields)
        return ()
