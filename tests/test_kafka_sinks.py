"""The Kafka sinks as an operator runs them: ``wire-ingest run`` as a process, a real broker.

A 3-partition topic holds stories in several formats, an exact copy of one,
and garbage. Bounded runs (``--kafka-stop-at-end``) write to Kafka only, or
to Kafka and files in Confluent framing. Checked: the run balances and says
so per sink, every dead letter is on the dead-letter topic with its raw
bytes, source position and reason, read back with its schema, and a
Kafka-only run without a dead-letter topic is refused before it reads.
"""

from __future__ import annotations

import json
import subprocess
from collections import Counter

import pytest

from tests.broker import kafka_broker  # noqa: F401  (pytest fixture)
from tests.reliability import (DATA, SEED, cli_command, cli_env, committed_offsets, end_offsets,
                               produce, read_avro_dir)
from tests.test_kafka_pipeline import read_topic
from transforms.io.kafka_sink import decode_message

RUN_SECONDS = 240
GARBAGE = [b"", b"\x00\x01\x02\xff" * 40, bytes(range(256)) * 4, b"   \n\t  ", b"\xff\xfe\x00<"]
STORY_ID, DEAD_LETTER_ID = 11, 12


def messages() -> list[tuple[bytes, bytes]]:
    """(key, value): four stories, an exact copy of the first, then the garbage."""
    reliability = DATA / "reliability"
    stories = [SEED, reliability / "story.nitf.xml", reliability / "story.ninjs.json",
               reliability / "story_cp1252.txt"]
    sent = [(path.name.encode(), path.read_bytes()) for path in stories]
    sent.append((b"copy", SEED.read_bytes()))
    sent.extend((f"junk-{i}".encode(), junk) for i, junk in enumerate(GARBAGE))
    return sent


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(cli_command("run", *args), capture_output=True, text=True, env=cli_env(),
                          timeout=RUN_SECONDS)


def fill_topic(broker) -> tuple[str, list[tuple[int, int]]]:
    topic = broker.new_topic("raw", 3)
    return topic, produce(broker.bootstrap, topic, messages())


def garbage_at(positions: list[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
    return dict(zip(positions[-len(GARBAGE):], GARBAGE))


def test_kafka_only_output_without_a_dead_letter_topic_is_refused_before_reading(kafka_broker):
    topic, _ = fill_topic(kafka_broker)
    out_topic = kafka_broker.new_topic("stories", 1)
    done = run_cli(f"--kafka-bootstrap={kafka_broker.bootstrap}", f"--kafka-topic={topic}",
                   "--kafka-group=refused", "--kafka-start=earliest", "--kafka-stop-at-end",
                   f"--kafka-output-topic={out_topic}")
    assert done.returncode == 2, done.stdout + done.stderr[-3000:]
    assert "--kafka-dead-letter-topic" in done.stderr and "--output" in done.stderr, done.stderr
    assert "balanced" not in done.stdout
    # Refused at start: nothing was read, written or acknowledged.
    assert read_topic(kafka_broker.bootstrap, out_topic, timeout=5) == []
    assert committed_offsets(kafka_broker.bootstrap, topic, "refused") == {0: 0, 1: 0, 2: 0}


def test_kafka_only_run_balances_and_keeps_every_dead_letter_on_its_topic(kafka_broker, tmp_path):
    topic, positions = fill_topic(kafka_broker)
    out_topic = kafka_broker.new_topic("stories", 1)
    dead_topic = kafka_broker.new_topic("dead", 1)
    summary_json = tmp_path / "summary.json"
    done = run_cli(f"--kafka-bootstrap={kafka_broker.bootstrap}", f"--kafka-topic={topic}",
                   "--kafka-group=kafka-only", "--kafka-start=earliest", "--kafka-stop-at-end",
                   f"--kafka-output-topic={out_topic}", f"--kafka-dead-letter-topic={dead_topic}",
                   "--dedup-mode=drop", f"--summary-json={summary_json}")
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    assert "NOT BALANCED" not in done.stdout and "balanced: read" in done.stdout, done.stdout
    summary = json.loads(summary_json.read_text())

    stories = [decode_message(m.value) for m in read_topic(kafka_broker.bootstrap, out_topic)]
    dead = [decode_message(m.value) for m in read_topic(kafka_broker.bootstrap, dead_topic)]
    assert {kind for kind, _ in stories} == {"story"} and {kind for kind, _ in dead} == {"dead_letter"}
    # The Kafka sinks' own counts are the run's, and they balance.
    assert summary["sinks"] == {"kafka": {"stories": len(stories), "dead_letters": len(dead)}}
    assert (summary["written"], summary["dead_letters"]) == (len(stories), len(dead))
    assert summary["read"] == len(positions) == len(stories) + summary["duplicates_dropped"] + len(dead)
    assert summary["duplicates_dropped"] == 1 and summary["balanced"]
    assert sum(summary["languages"].values()) == len(stories)
    for reason, count in Counter(r["reason"] for _, r in dead).items():
        assert summary["dead_letter_reasons"][reason] == count, summary["dead_letter_reasons"]
    # Every garbage message is a dead letter: its bytes, where it was, why.
    by_position = {(r["source"]["partition"], r["source"]["offset"]): r for _, r in dead}
    for position, junk in garbage_at(positions).items():
        record = by_position[position]
        assert record["raw"] == junk and record["raw_size"] == len(junk)
        assert record["source"]["topic"] == topic and record["source"]["kind"] == "kafka"
        assert record["reason"] and record["error"] and record["stage"]
    # Acknowledged only once written: the group's offsets are the end offsets.
    assert committed_offsets(kafka_broker.bootstrap, topic, "kafka-only") == \
        end_offsets(kafka_broker.bootstrap, topic)


def test_both_sinks_in_confluent_framing_balance_per_sink_and_read_back(kafka_broker, tmp_path):
    topic, positions = fill_topic(kafka_broker)
    out_topic = kafka_broker.new_topic("stories", 1)
    dead_topic = kafka_broker.new_topic("dead", 1)
    output, summary_json = tmp_path / "out", tmp_path / "summary.json"
    done = run_cli(f"--kafka-bootstrap={kafka_broker.bootstrap}", f"--kafka-topic={topic}",
                   "--kafka-group=both", "--kafka-start=earliest", "--kafka-stop-at-end",
                   f"--output={output}", f"--summary-json={summary_json}",
                   f"--kafka-output-topic={out_topic}", f"--kafka-confluent-schema-id={STORY_ID}",
                   f"--kafka-dead-letter-topic={dead_topic}",
                   f"--kafka-dead-letter-confluent-schema-id={DEAD_LETTER_ID}")
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    assert "balanced: read" in done.stdout and "in every sink (kafka, files)" in done.stdout, done.stdout
    summary = json.loads(summary_json.read_text())

    file_stories, file_dead = read_avro_dir(output, "stories"), read_avro_dir(output, "dead-letters")
    story_messages = [m.value for m in read_topic(kafka_broker.bootstrap, out_topic)]
    dead_messages = [m.value for m in read_topic(kafka_broker.bootstrap, dead_topic)]
    # Confluent framing on both topics, each with its schema's own id.
    assert {m[:5] for m in story_messages} == {b"\x00" + STORY_ID.to_bytes(4, "big")}
    assert {m[:5] for m in dead_messages} == {b"\x00" + DEAD_LETTER_ID.to_bytes(4, "big")}
    ids = {STORY_ID: "story", DEAD_LETTER_ID: "dead_letter"}
    kafka_stories = [decode_message(m, ids) for m in story_messages]
    kafka_dead = [decode_message(m, ids) for m in dead_messages]
    assert {kind for kind, _ in kafka_stories} == {"story"}
    assert {kind for kind, _ in kafka_dead} == {"dead_letter"}

    # One record read is one record in each sink: every sink balances on its own.
    counts = {"stories": len(file_stories), "dead_letters": len(file_dead)}
    assert summary["sinks"] == {"kafka": counts, "files": counts}
    assert (len(kafka_stories), len(kafka_dead)) == (len(file_stories), len(file_dead))
    assert summary["read"] == len(positions) == len(file_stories) + len(file_dead)
    assert summary["balanced"] and summary["duplicates_dropped"] == 0
    assert sorted(r["id"] for _, r in kafka_stories) == sorted(r["id"] for r in file_stories)
    kafka_by_position = {(r["source"]["partition"], r["source"]["offset"]): r for _, r in kafka_dead}
    file_by_position = {(r["source"]["partition"], r["source"]["offset"]): r for r in file_dead}
    assert kafka_by_position.keys() == file_by_position.keys()
    for position, record in kafka_by_position.items():
        assert (record["raw"], record["reason"]) == (file_by_position[position]["raw"],
                                                     file_by_position[position]["reason"])
    for position, junk in garbage_at(positions).items():
        assert kafka_by_position[position]["raw"] == junk
        assert kafka_by_position[position]["source"]["topic"] == topic
    assert committed_offsets(kafka_broker.bootstrap, topic, "both") == \
        end_offsets(kafka_broker.bootstrap, topic)


def test_a_confluent_id_the_reader_was_not_given_is_refused_not_misread():
    import fastavro

    from schemas import load_schema
    from transforms.io.kafka_sink import encode_confluent
    from transforms.model import DeadLetter, SourcePosition

    dead = DeadLetter(raw=b"\xff\x00", source=SourcePosition(kind="kafka", uri="kafka://h:1/t"),
                      stage="decode", reason="undecodable", error="not text", failed_at=0)
    message = encode_confluent(fastavro.parse_schema(load_schema("dead_letter")), 7, dead.to_avro())
    with pytest.raises(ValueError, match="schema id 7"):
        decode_message(message, {STORY_ID: "story", DEAD_LETTER_ID: "dead_letter"})
    kind, record = decode_message(message, {7: "dead_letter"})
    assert kind == "dead_letter" and record["raw"] == b"\xff\x00"
