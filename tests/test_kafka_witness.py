"""Committed offsets as Kafka's own tooling sees them: an independent witness.

The pipeline's offset commits are checked elsewhere with kafka-python, the
library the pipeline itself commits with. Here Apache Kafka's
``kafka-consumer-groups --describe`` (a JVM tool from the broker's release,
run through ``deploy/local/kafka.sh tool``) reads the group's CURRENT-OFFSET,
the partition's LOG-END-OFFSET and their difference, LAG, after real
``wire-ingest run`` processes against a real broker:

* a bounded run (``--kafka-stop-at-end``) leaves every partition with
  CURRENT-OFFSET = LOG-END-OFFSET = the records produced to it, LAG 0;
* records produced after that run are the LAG, partition by partition, and
  the next run of the same group reads exactly those (it starts at the
  committed offsets) and brings LAG back to 0;
* an unbounded run commits to the end while it runs; once it is stopped,
  records produced later are the LAG and the committed offsets stay put.

``kafka-get-offsets`` cross-checks LOG-END-OFFSET against the producer's
acknowledgements.
"""

from __future__ import annotations

import subprocess
import time
from collections import Counter
from pathlib import Path
from typing import NamedTuple, Optional

import pytest

from tests.broker import kafka_broker, kafka_tool  # noqa: F401  (pytest fixture)
from tests.reliability import (
    PipelineProcess,
    cli_command,
    cli_env,
    committed_offsets,
    read_avro_dir,
    synthetic_story,
)

#: Longest a bounded ``wire-ingest run`` may take on a shared 2-core machine.
RUN_SECONDS = 300
#: Longest wait for an unbounded run to commit what was produced.
COMMIT_SECONDS = 240


class GroupOffsets(NamedTuple):
    """One row of ``kafka-consumer-groups --describe``; None where the tool prints ``-``."""

    current: Optional[int]
    log_end: Optional[int]
    lag: Optional[int]


def parse_describe(output: str, group: str, topic: str) -> dict[int, GroupOffsets]:
    """The rows of ``group`` on ``topic`` in ``kafka-consumer-groups --describe`` output,
    by partition.

    Columns are found by their header names (GROUP, TOPIC, PARTITION,
    CURRENT-OFFSET, LOG-END-OFFSET, LAG), so their order and widths may change;
    lines before the header (notes such as "has no active members") are skipped.

    Raises:
        ValueError: no header line, or a row that does not fit it (e.g. an error
            message in place of the table).
    """
    lines = output.splitlines()
    header_at = next((i for i, line in enumerate(lines) if "CURRENT-OFFSET" in line.split()), None)
    if header_at is None:
        raise ValueError(f"no offsets table in kafka-consumer-groups output:\n{output}")
    names = lines[header_at].split()
    column = {name: names.index(name) for name in
              ("GROUP", "TOPIC", "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG")}

    def number(text: str) -> Optional[int]:
        return None if text == "-" else int(text)

    rows: dict[int, GroupOffsets] = {}
    for line in lines[header_at + 1:]:
        fields = line.split()
        if not fields:
            continue
        if len(fields) < len(names):
            raise ValueError(f"row does not fit the header {names}: {line!r}")
        if fields[column["GROUP"]] != group or fields[column["TOPIC"]] != topic:
            continue
        rows[int(fields[column["PARTITION"]])] = GroupOffsets(
            number(fields[column["CURRENT-OFFSET"]]), number(fields[column["LOG-END-OFFSET"]]),
            number(fields[column["LAG"]]))
    return rows


def describe_group(bootstrap: str, group: str, topic: str) -> dict[int, GroupOffsets]:
    output = kafka_tool("kafka-consumer-groups", "--bootstrap-server", bootstrap, "--describe",
                        "--group", group)
    return parse_describe(output, group, topic)


def log_end_offsets(bootstrap: str, topic: str) -> dict[int, int]:
    """``kafka-get-offsets`` (latest): ``TOPIC:PARTITION:OFFSET`` per line."""
    output = kafka_tool("kafka-get-offsets", "--bootstrap-server", bootstrap, "--topic", topic)
    ends = {}
    for line in output.splitlines():
        name, partition, offset = line.strip().rsplit(":", 2)
        assert name == topic, line
        ends[int(partition)] = int(offset)
    return ends


def produce_stories(bootstrap: str, topic: str, indices: range, partition_of) -> Counter:
    """Distinct synthetic stories, story i to ``partition_of(i)``; returns records per partition,
    from the broker's acknowledgements."""
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    try:
        futures = [producer.send(topic, key=str(i).encode(), value=synthetic_story(i, words=60),
                                 partition=partition_of(i)) for i in indices]
        producer.flush(60)
        return Counter(future.get(60).partition for future in futures)
    finally:
        producer.close(10)


def run_bounded(bootstrap: str, topic: str, group: str, output: Path) -> None:
    """``wire-ingest run`` over the topic up to its end offsets at start, as a process."""
    done = subprocess.run(cli_command("run", f"--kafka-bootstrap={bootstrap}", f"--kafka-topic={topic}",
                                      f"--kafka-group={group}", "--kafka-stop-at-end", f"--output={output}"),
                          env=cli_env(), capture_output=True, text=True, timeout=RUN_SECONDS)
    assert done.returncode == 0, f"wire-ingest run exited {done.returncode}:\n{done.stderr[-4000:]}"


def positions(output: Path) -> Counter:
    """(partition, offset) of every story and dead letter in the output."""
    records = read_avro_dir(output, "stories") + read_avro_dir(output, "dead-letters")
    return Counter((r["source"]["partition"], r["source"]["offset"]) for r in records)


# ---------------------------------------------------------------- the parser


def test_parse_describe_reads_columns_by_name_and_dashes_as_none():
    output = (
        "\nConsumer group 'g' has no active members.\n\n"
        "GROUP TOPIC PARTITION  CURRENT-OFFSET  LOG-END-OFFSET  LAG  CONSUMER-ID HOST CLIENT-ID\n"
        "g     t     1          2               4               2    -           -    -\n"
        "g     t     0          -               3               -    -           -    -\n"
        "g     other 0          7               7               0    -           -    -\n"
    )
    assert parse_describe(output, "g", "t") == {1: GroupOffsets(2, 4, 2), 0: GroupOffsets(None, 3, None)}
    with pytest.raises(ValueError, match="no offsets table"):
        parse_describe("Error: Executing consumer group command failed due to "
                       "GroupIdNotFoundException: Group g not found.\n", "g", "t")


# ---------------------------------------------------------------- against the broker


def test_a_bounded_run_leaves_no_lag_and_later_records_are_exactly_the_lag(kafka_broker, tmp_path):
    bootstrap = kafka_broker.bootstrap
    topic = kafka_broker.new_topic("witness", 3)
    group = "witness-bounded"
    first = produce_stories(bootstrap, topic, range(30), lambda i: i % 3)
    assert first == {0: 10, 1: 10, 2: 10}
    assert log_end_offsets(bootstrap, topic) == dict(first)

    run_bounded(bootstrap, topic, group, tmp_path / "first")
    assert set(positions(tmp_path / "first")) == {(p, o) for p in range(3) for o in range(10)}
    after_first = describe_group(bootstrap, group, topic)
    assert after_first == {p: GroupOffsets(10, 10, 0) for p in range(3)}, after_first

    # Produced after the run: 7 to partition 0, 5 to partition 1, none to partition 2.
    extra = produce_stories(bootstrap, topic, range(30, 42), lambda i: 0 if i < 37 else 1)
    assert extra == {0: 7, 1: 5}
    lagging = describe_group(bootstrap, group, topic)
    assert lagging == {0: GroupOffsets(10, 17, 7), 1: GroupOffsets(10, 15, 5), 2: GroupOffsets(10, 10, 0)}
    assert sum(row.lag for row in lagging.values()) == 12

    # The next run of the group starts at its committed offsets: it reads the lag, nothing else.
    run_bounded(bootstrap, topic, group, tmp_path / "second")
    second = positions(tmp_path / "second")
    assert set(second) == {(0, o) for o in range(10, 17)} | {(1, o) for o in range(10, 15)}
    assert max(second.values()) == 1
    caught_up = describe_group(bootstrap, group, topic)
    assert caught_up == {0: GroupOffsets(17, 17, 0), 1: GroupOffsets(15, 15, 0), 2: GroupOffsets(10, 10, 0)}


def test_a_stopped_unbounded_run_leaves_what_came_later_as_lag(kafka_broker, tmp_path):
    bootstrap = kafka_broker.bootstrap
    topic = kafka_broker.new_topic("witness-live", 3)
    group = "witness-unbounded"
    sent = produce_stories(bootstrap, topic, range(18), lambda i: i % 3)
    ends = {p: sent[p] for p in range(3)}
    pipeline = PipelineProcess([f"--kafka-bootstrap={bootstrap}", f"--kafka-topic={topic}",
                                f"--kafka-group={group}", f"--output={tmp_path / 'out'}",
                                "--window-seconds=2", "--num-shards=1"], tmp_path / "pipeline.log")
    try:
        pipeline.start()
        deadline = time.monotonic() + COMMIT_SECONDS
        while committed_offsets(bootstrap, topic, group) != ends:
            assert pipeline.alive(), f"the pipeline exited:\n{pipeline.log_tail()}"
            assert time.monotonic() < deadline, (
                f"committed {committed_offsets(bootstrap, topic, group)} after {COMMIT_SECONDS}s, "
                f"end offsets {ends}:\n{pipeline.log_tail()}")
            time.sleep(1)
        running = describe_group(bootstrap, group, topic)
        assert running == {p: GroupOffsets(6, 6, 0) for p in range(3)}, running
    finally:
        pipeline.stop()
    assert pipeline.process.returncode is not None

    extra = produce_stories(bootstrap, topic, range(18, 27), lambda i: (i - 18) // 4)
    assert extra == {0: 4, 1: 4, 2: 1}
    stopped = describe_group(bootstrap, group, topic)
    assert stopped == {0: GroupOffsets(6, 10, 4), 1: GroupOffsets(6, 10, 4), 2: GroupOffsets(6, 7, 1)}
    # Every committed offset is in the output: the commits did not overtake the writes.
    written = positions(tmp_path / "out")
    assert {(p, o) for p in range(3) for o in range(6)} <= set(written)
