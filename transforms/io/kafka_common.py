"""What the Kafka source, offset commits and sinks share.

In: nothing (constants and helpers). Out: the ``wire-format`` header name,
the metrics namespace, ``kafka_uri``, ``BrokerUnavailableError`` and
``retry_while_broker_away`` (backoff while a broker is away, for calls that
must not be lost). Guarantees: no Beam state, no I/O at import.
"""

from __future__ import annotations

import logging
import time

__all__ = [
    "BrokerUnavailableError",
    "retry_while_broker_away",
    "kafka_uri",
    "FORMAT_HEADER",
]

_LOG = logging.getLogger(__name__)


FORMAT_HEADER = "wire-format"
_NAMESPACE = "wire_ingest"


class BrokerUnavailableError(RuntimeError):
    """No Kafka broker answered at the bootstrap address: the CLI exits non-zero."""


def kafka_uri(bootstrap: str, topic: str) -> str:
    return f"kafka://{bootstrap}/{topic}"


def retry_while_broker_away(action, what: str, give_up_after: float = 300.0,
                            first_pause: float = 0.5, longest_pause: float = 10.0,
                            sleep=time.sleep, clock=time.monotonic):
    """Run ``action()`` until it succeeds, pausing between tries while the error
    is one the broker recovers from (connection lost, coordinator moving).

    Some runners (Prism) do not retry a failed bundle: without this, a broker
    restart during a commit would end the whole pipeline. Errors Kafka marks
    as not retriable, and outages longer than ``give_up_after``, still raise.
    """
    from kafka.errors import KafkaError

    deadline = clock() + give_up_after
    pause = first_pause
    tries = 0
    while True:
        tries += 1
        try:
            return action()
        except KafkaError as error:
            if not getattr(error, "retriable", False) or clock() + pause > deadline:
                raise
            _LOG.warning("%s failed (try %d), retrying in %.1fs: %s", what, tries, pause, error)
        sleep(pause)
        pause = min(longest_pause, pause * 2)
