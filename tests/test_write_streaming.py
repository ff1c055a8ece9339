"""The streaming Avro file sink: files named by fixed event-time window, written per bundle.

* pure: the file name of a window, and its clamping at the ends of time;
* ``TestStream`` on the local streaming runner (Prism): stories and dead letters in
  several bundles over three windows, one of them late (behind the watermark):
  every file is named by a window, every record's event time lies inside the
  window of its file, every record is there once, the files read back with the
  schemas, ``load_written_stories`` and ``inspect`` read them, and the sink
  acknowledges every record it wrote;
* an unbounded Kafka read (real broker) with one-day windows: the files of a
  window are written while the window is still open, not when it closes;
* durability, the DoFn called directly: a bundle's acknowledgements leave
  only after each of its files is renamed and the directory fsynced.
"""

from __future__ import annotations

import calendar
import errno
import glob
import io
import re
import time
from pathlib import Path

import apache_beam as beam
import fastavro
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing import test_stream
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.transforms.window import IntervalWindow, TimestampedValue
from apache_beam.utils.timestamp import MAX_TIMESTAMP, MIN_TIMESTAMP, Timestamp

from pipelines.cli import inspect_files
from pipelines.runners import resolve_runner
from schemas import load_schema
from tests.broker import kafka_broker  # noqa: F401  (pytest fixture)
from tests.test_write import DiskOps, assert_renames_synced_before
from transforms.model import DeadLetter, SourcePosition, Story
from transforms.io.write import (
    WriteDeadLetters,
    WriteStories,
    _WriteWindowFilesFn,
    load_written_stories,
    window_file_path,
)

WINDOW = 60
#: 2023-11-14T22:00:00Z: a multiple of 300 s, so the start of a window of 60 and of 300 s.
BASE = 1_699_999_200
FILE_NAME = re.compile(r"^(stories|dead-letters)-(\d{8}T\d{6})-(\d{8}T\d{6})-([0-9a-f]{8})\.avro$")


def utc_seconds(tag: str) -> int:
    return calendar.timegm(time.strptime(tag, "%Y%m%dT%H%M%S"))


def story(index: int, event_seconds: float) -> Story:
    source = SourcePosition(kind="kafka", uri="kafka://test/raw", position=f"partition 0 offset {index}",
                            topic="raw", partition=0, offset=index,
                            timestamp=int(event_seconds * 1000))
    return Story(id=f"story-{index:03d}", format="plain_text", headline=f"Headline {index}",
                 body=f"Body of story {index}.", source=source, ingested_at=0,
                 event_time=int(event_seconds * 1000), content_hash=f"{index:064x}")


def dead_letter(index: int, event_seconds: float) -> DeadLetter:
    source = SourcePosition(kind="kafka", uri="kafka://test/raw", position=f"partition 1 offset {index}",
                            topic="raw", partition=1, offset=index,
                            timestamp=int(event_seconds * 1000))
    return DeadLetter(raw=b"\x00garbage %d" % index, source=source, stage="parse",
                      reason="unrecognised_format", error="no format", failed_at=0)


def stamped(record, seconds: float) -> TimestampedValue:
    return TimestampedValue(record, seconds)


def windowed_files(output: Path, prefix: str) -> dict[str, tuple[int, int, list[dict]]]:
    """Every ``prefix`` file: name -> (window start, window end, records read with the schema)."""
    schema = fastavro.parse_schema(load_schema("story" if prefix == "stories" else "dead_letter"))
    files = {}
    for path in sorted(glob.glob(str(output / f"{prefix}-*.avro"))):
        name = Path(path).name
        match = FILE_NAME.match(name)
        assert match and match.group(1) == prefix, f"not named by window: {name}"
        with open(path, "rb") as handle:
            records = list(fastavro.reader(handle, reader_schema=schema))
        files[name] = (utc_seconds(match.group(2)), utc_seconds(match.group(3)), records)
    return files


# --------------------------------------------------------------------------- pure


def test_a_window_file_is_named_by_its_bounds_in_utc():
    path = window_file_path("/out", "stories", IntervalWindow(BASE, BASE + 300))
    match = FILE_NAME.match(Path(path).name)
    assert path.startswith("/out/") and match
    assert match.group(2, 3) == ("20231114T220000", "20231114T220500")
    assert window_file_path("/out", "stories", IntervalWindow(BASE, BASE + 300)) != path  # token


def test_window_names_are_clamped_at_the_ends_of_time():
    name = Path(window_file_path("/out", "dead-letters", IntervalWindow(MIN_TIMESTAMP, MAX_TIMESTAMP))).name
    assert FILE_NAME.match(name).group(2, 3) == ("00010101T000000", "99991231T235959")
    assert FILE_NAME.match(Path(window_file_path(
        "/out", "stories", IntervalWindow(Timestamp(-60), Timestamp(0)))).name).group(2) == "19691231T235900"


def test_window_seconds_must_be_positive(tmp_path):
    with pytest.raises(ValueError, match="--window-seconds"):
        WriteStories(str(tmp_path), window_seconds=0)


# --------------------------------------------------------------------------- TestStream


def test_streaming_files_are_named_by_window_and_hold_only_its_records(tmp_path):
    output = tmp_path / "out"
    early = [story(i, BASE + 5 * i) for i in range(10)]                # window 0: 0-45 s
    middle = [story(i, BASE + WINDOW + 7 * (i - 10)) for i in range(10, 16)]  # window 1
    late = [story(i, BASE + 2 * WINDOW + 1 + (i - 16)) for i in range(16, 20)]  # window 2
    behind = story(20, BASE + 30)  # window 0, arriving after the watermark passed window 1
    dead = [dead_letter(0, BASE + 10), dead_letter(1, BASE + WINDOW + 59.999)]
    stories = early + middle + late + [behind]

    # One TestStream output, each element marked with its kind: Prism (2.77) drops the tag of
    # an element event whose coder it length-prefixes, so a multi-output TestStream stalls.
    stream = (
        test_stream.TestStream()
        .add_elements([stamped(("stories", s), s.event_time / 1000) for s in early[:5]])
        .add_elements([stamped(("dead", d), d.source.timestamp / 1000) for d in dead])
        .add_elements([stamped(("stories", s), s.event_time / 1000) for s in early[5:] + middle[:3]])
        .advance_watermark_to(BASE + WINDOW)
        .add_elements([stamped(("stories", s), s.event_time / 1000) for s in middle[3:]])
        .advance_watermark_to(BASE + 2 * WINDOW + 1)
        .add_elements([stamped(("stories", s), s.event_time / 1000) for s in late])
        .add_elements([stamped(("stories", behind), behind.event_time / 1000)])
        .advance_watermark_to_infinity()
    )
    options = PipelineOptions(streaming=True)
    with beam.Pipeline(runner=resolve_runner(options), options=options) as p:
        marked = p | "Events" >> stream
        events = {kind: marked | f"Only_{kind}" >> beam.FlatMap(
            lambda event, wanted: [event[1]] if event[0] == wanted else [], kind)
            for kind in ("stories", "dead")}
        story_acks = events["stories"] | "WriteStories" >> WriteStories(str(output), window_seconds=WINDOW)
        dead_acks = events["dead"] | "WriteDeadLetters" >> WriteDeadLetters(
            str(output), window_seconds=WINDOW)
        assert_that(story_acks | "StoryOffsets" >> beam.Map(lambda s: s.offset),
                    equal_to([s.source.offset for s in stories]), label="story acks")
        assert_that(dead_acks | "DeadOffsets" >> beam.Map(lambda s: s.offset),
                    equal_to([0, 1]), label="dead-letter acks")

    files = windowed_files(output, "stories")
    for name, (start, end, records) in files.items():
        assert end - start == WINDOW, name
        for record in records:
            assert start <= record["event_time"].timestamp() < end, (name, record["id"])
    written = sorted(r["id"] for _, _, records in files.values() for r in records)
    assert written == sorted(s.id for s in stories)  # every story, once
    windows = {(start, end) for start, end, _ in files.values()}
    assert windows == {(BASE + k * WINDOW, BASE + (k + 1) * WINDOW) for k in range(3)}
    # The story behind the watermark went into its own (old) window's name, not dropped.
    assert any(r["id"] == behind.id for start, _, records in files.values() if start == BASE
               for r in records)

    dead_files = windowed_files(output, "dead-letters")
    assert sorted((start, r["source"]["offset"]) for start, _, records in dead_files.values()
                  for r in records) == [(BASE, 0), (BASE + WINDOW, 1)]

    assert sorted(s.id for s in load_written_stories(str(output), 3600)) == written
    printed = io.StringIO()
    assert inspect_files(sorted(glob.glob(str(output / "*.avro"))), printed) == len(stories) + len(dead)


# --------------------------------------------------------------------------- unbounded Kafka read


def test_unbounded_read_writes_a_window_before_it_closes(kafka_broker, tmp_path):  # noqa: F811
    from kafka import KafkaProducer

    from transforms.io.kafka_source import ReadWireStoriesFromKafka, close_kafka_readers

    day = 86_400
    now = time.time()
    # Stamped now, unless the day's window ends within 15 minutes: then in the next day.
    stamp = now if (now // day + 1) * day - now > 900 else now + 1200
    topic = kafka_broker.new_topic("open-window", 3)
    producer = KafkaProducer(bootstrap_servers=kafka_broker.bootstrap)
    for index in range(12):
        producer.send(topic, value=b"story %d" % index, partition=index % 3,
                      timestamp_ms=int(stamp * 1000) + index)
    producer.flush()
    producer.close()

    def to_story(raw):
        return story(raw.source.partition * 100 + raw.source.offset, raw.event_time / 1000)

    output = tmp_path / "out"
    options = PipelineOptions(streaming=True)
    pipeline = beam.Pipeline(runner=resolve_runner(options), options=options)
    (pipeline
     | ReadWireStoriesFromKafka(kafka_broker.bootstrap, topic, group="open-window", start="earliest")
     | beam.Map(to_story)
     | WriteStories(str(output), window_seconds=day))
    result = pipeline.run()
    try:
        deadline = time.monotonic() + 90
        while True:
            files = windowed_files(output, "stories") if output.is_dir() else {}
            if sum(len(records) for _, _, records in files.values()) >= 12:
                break
            assert time.monotonic() < deadline, f"12 stories not written in 90 s: {sorted(files)}"
            time.sleep(0.5)
        written_at = time.time()
    finally:
        result.cancel()
        close_kafka_readers(kafka_broker.bootstrap)
    for name, (start, end, records) in files.items():
        assert end - start == day
        assert written_at < end, f"{name} was written only after its window closed"
        assert all(start <= r["event_time"].timestamp() < end for r in records)


# --------------------------------------------------------------------------- durability


def test_streaming_writer_syncs_the_directory_after_each_rename_before_it_acknowledges(
        tmp_path, monkeypatch):
    """Called as a runner calls it: the bundle's acknowledgements come out of
    ``finish_bundle`` only after every window file is renamed and the output
    directory fsynced."""
    writer = _WriteWindowFilesFn(str(tmp_path), "stories", "story")
    writer.setup()
    writer.start_bundle()
    stories = [story(0, BASE + 1), story(1, BASE + 2), story(2, BASE + WINDOW + 1)]
    for record in stories:
        start = BASE + (record.event_time // 1000 - BASE) // WINDOW * WINDOW
        assert not writer.process(record, Timestamp.of(record.event_time / 1000),
                                  IntervalWindow(start, start + WINDOW))
    ops = DiskOps(monkeypatch)
    acks = iter(writer.finish_bundle())
    first = next(acks)
    ops.mark("ack")
    assert_renames_synced_before(ops.events, tmp_path, "ack", files=2)
    assert sorted(ack.value.offset for ack in [first, *acks]) == [0, 1, 2]


def test_streaming_writer_acknowledges_nothing_when_the_directory_sync_fails(tmp_path, monkeypatch):
    writer = _WriteWindowFilesFn(str(tmp_path), "stories", "story")
    writer.setup()
    writer.start_bundle()
    writer.process(story(0, BASE + 1), Timestamp(BASE + 1), IntervalWindow(BASE, BASE + WINDOW))
    DiskOps(monkeypatch, fail_directory_sync=errno.EIO)
    with pytest.raises(OSError):
        next(iter(writer.finish_bundle()))
    assert glob.glob(str(tmp_path / "*")) == glob.glob(str(tmp_path / ".*")) == []
