"""Replay wire stories into Kafka, one message per story, for demos, tests and benchmarks.

In: paths of story files, folders of them (walked in sorted order), ``.gz``
files, and Reuters-21578 ``.sgm`` archives (one message per ``<REUTERS>``
element, cut with ``transforms.formats.reuters_sgml.split_archive``).
Out: messages on a topic: value = the story's bytes exactly as stored
(gunzipped), key = the file name (or ``NEWID`` of a Reuters element), record
timestamp = the story's event time (the Reuters ``<DATE>``, else the file's
modification time) or the send time (``timestamps="now"``), header
``wire-format`` when the format is known from the content or the file name.

Guarantees: messages are sent in input order and every send is acknowledged
before ``replay_to_kafka`` returns (it raises otherwise). With ``rate`` the
sends are paced to that many messages per second on average.

Note: Kafka deletes by record timestamp under time-based retention, so old
event times (Reuters-21578 is from 1987) can be deleted early on a real
cluster; use ``timestamps="now"`` there.
"""

from __future__ import annotations

import calendar
import gzip
import logging
import os
import re
import time
import zlib
from pathlib import Path
from typing import Iterable, Iterator, NamedTuple, Optional, Sequence, Union

from transforms.io.kafka_common import FORMAT_HEADER, BrokerUnavailableError
from transforms.io.kafka_source import check_broker

__all__ = ["ReplayMessage", "iter_replay_messages", "replay_to_kafka", "EVENT_TIMESTAMPS", "NOW_TIMESTAMPS"]

_LOG = logging.getLogger(__name__)

EVENT_TIMESTAMPS = "event"
NOW_TIMESTAMPS = "now"

_NEWID = re.compile(rb'NEWID="(\d+)"')
_DATE = re.compile(rb"<DATE>\s*(\d{1,2})-([A-Za-z]{3})-(\d{4})\s+(\d{1,2}):(\d\d):(\d\d)")
_MONTHS = {m: i for i, m in enumerate(
    ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"), start=1)}


class ReplayMessage(NamedTuple):
    """One story to publish."""

    value: bytes
    key: bytes
    event_time: Optional[int]  # millis
    format: Optional[str]


def iter_replay_messages(paths: Iterable[Union[str, os.PathLike]]) -> Iterator[ReplayMessage]:
    """The messages ``replay_to_kafka`` publishes, in order (no Kafka needed)."""
    for path in paths:
        path = Path(path)
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
        elif path.exists():
            files = [path]
        else:
            raise FileNotFoundError(f"replay: no such file or folder: {path}")
        for file in files:
            yield from _messages_of_file(file)


def _messages_of_file(file: Path) -> Iterator[ReplayMessage]:
    data = file.read_bytes()
    name = file.name
    if name.endswith(".gz"):
        try:
            data = gzip.decompress(data)
            name = name[:-3]
        except (OSError, EOFError, zlib.error):
            pass  # a corrupt archive is sent as it is: the pipeline dead-letters it, nothing is lost
    mtime = int(file.stat().st_mtime * 1000)
    if name.lower().endswith(".sgm") or b"<REUTERS" in data[:4096]:
        elements = _split_reuters(data)
        if elements:
            for element in elements:
                newid = _NEWID.search(element[:200])
                key = newid.group(1) if newid else name.encode()
                yield ReplayMessage(element, key, _reuters_date(element) or mtime, "reuters_sgml")
            return
    yield ReplayMessage(data, name.encode("utf-8", "replace"), mtime, _detect(data, name))


def _split_reuters(data: bytes) -> list[bytes]:
    try:
        from transforms.formats.reuters_sgml import split_archive
    except ImportError:  # the formats package is optional for replay
        return re.findall(rb"<REUTERS\b[^>]*>.*?</REUTERS>", data, re.S)
    return split_archive(data)


def _reuters_date(element: bytes) -> Optional[int]:
    match = _DATE.search(element)
    if match is None:
        return None
    day, month, year, hour, minute, second = match.groups()
    number = _MONTHS.get(month.decode().upper())
    if number is None:
        return None
    try:
        return calendar.timegm((int(year), number, int(day), int(hour), int(minute), int(second))) * 1000
    except (ValueError, OverflowError):
        return None


def _detect(data: bytes, name: str) -> Optional[str]:
    try:
        from transforms.formats.detect import detect_format
    except ImportError:
        return None
    return detect_format(data, filename=name)


def replay_to_kafka(
    paths: Sequence[Union[str, os.PathLike]],
    bootstrap: str,
    topic: str,
    rate: Optional[float] = None,
    loop: bool = False,
    timestamps: str = EVENT_TIMESTAMPS,
    max_messages: Optional[int] = None,
    partition: Optional[int] = None,
    producer_config: Optional[dict] = None,
) -> int:
    """Publish every story under ``paths`` to ``topic``; returns how many messages were sent.

    Args:
        paths: files, folders, ``.gz`` files, ``.sgm`` archives.
        bootstrap: ``HOST:PORT`` of the broker.
        topic: topic to publish to.
        rate: messages per second (None: as fast as the broker takes them).
        loop: start over at the end, until ``max_messages`` or Ctrl-C.
        timestamps: ``event`` (the story's event time) or ``now`` (send time).
        max_messages: stop after this many messages.
        partition: send every message to this partition (default: by key).
        producer_config: extra kafka-python ``KafkaProducer`` settings.

    Raises:
        ValueError: on bad options; BrokerUnavailableError: no broker answers;
        FileNotFoundError: a path does not exist; KafkaError: a send failed.
    """
    from kafka import KafkaProducer

    if rate is not None and rate <= 0:
        raise ValueError("rate: must be a positive number of messages per second")
    if timestamps not in (EVENT_TIMESTAMPS, NOW_TIMESTAMPS):
        raise ValueError(f"timestamps: {EVENT_TIMESTAMPS} or {NOW_TIMESTAMPS}, got {timestamps!r}")
    if not paths:
        raise ValueError("paths: give at least one file or folder")
    for path in paths:
        if not Path(path).exists():
            raise FileNotFoundError(f"replay: no such file or folder: {path}")
    check_broker(bootstrap)
    config = {"acks": "all", "linger_ms": 5, "max_request_size": 16 << 20, **(producer_config or {})}
    producer = KafkaProducer(bootstrap_servers=bootstrap, **config)
    sent = 0
    futures = []
    started = time.monotonic()
    try:
        while True:
            any_message = False
            for message in iter_replay_messages(paths):
                any_message = True
                if max_messages is not None and sent >= max_messages:
                    return sent
                if rate is not None:
                    due = started + sent / rate
                    delay = due - time.monotonic()
                    if delay > 0:
                        time.sleep(delay)
                headers = [(FORMAT_HEADER, message.format.encode())] if message.format else []
                stamp = message.event_time if timestamps == EVENT_TIMESTAMPS else None
                futures.append(producer.send(topic, value=message.value, key=message.key,
                                             headers=headers, timestamp_ms=stamp,
                                             partition=partition))
                sent += 1
                if len(futures) >= 1000:
                    _settle(producer, futures)
            if not loop or not any_message:
                return sent
    except KeyboardInterrupt:
        _LOG.info("replay interrupted after %d messages", sent)
        return sent
    finally:
        _settle(producer, futures)
        producer.close(timeout=30)


def _settle(producer, futures: list) -> None:
    """Wait for the broker to acknowledge every pending send (raises on failure)."""
    producer.flush(timeout=60)
    for future in futures:
        future.get(timeout=0)
    futures.clear()


__all__ += ["BrokerUnavailableError"]
