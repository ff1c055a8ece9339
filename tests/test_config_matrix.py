"""The configuration matrix: every source x every sink x both dedup modes, on the local runners.

Sources: files (``--input DIR``, batch), a drop folder (``--watch``,
streaming), Kafka bounded (``--kafka-stop-at-end``, batch) and Kafka unbounded
(streaming). Sinks: Avro files (``--output``), Kafka (``--kafka-output-topic``
with ``--kafka-dead-letter-topic``), both. ``--dedup-mode`` mark and drop.
Batch sources run on the FnApiRunner in the CLI's process, streaming ones on
Prism (``pipelines.runners`` picks them; the test watches the process group
for the Prism binary). Every combination is ``wire-ingest run`` as a child
process over a ten-input corpus the test writes: three distinct stories, an
exact copy of one, two short-body stories ("NIL") and two ticker briefs
(``<ACME CORP> 1ST QTR NET``, same short body) with different headlines that
must stay distinct, and two garbage inputs.

Checked for every combination:

* accounting: read = written + dropped + dead-lettered. Runs that end
  (files, bounded Kafka) from ``--summary-json``, and against every sink read
  back. Streaming runs, stopped once everything is processed, from the sinks:
  every input is in every sink once as a story or a dead letter, except, in
  drop mode, one of the two exact copies; the sinks agree with each other;
* every dead letter reads back (Avro files with fastavro, topic values with
  ``decode_message``) with its raw bytes, source position and reason;
* stories: the expected headlines and statuses (the copy is the one
  DUPLICATE; short bodies and ticker briefs are UNIQUE each);
* acknowledgements never pass the sinks: every Kafka offset below a committed
  offset (sampled while a streaming run goes on, and at the end) and every file
  in the drop-folder journal is in every sink (or, drop mode, is the dropped
  copy); at the end the committed offsets are the end offsets.

Every check of a combination runs; the test then fails once, listing each
check that failed, so one product bug does not hide another. Waits are
bounded and fail with the pipeline's log tail.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional

import pytest

from tests.broker import broker_missing, kafka_broker  # noqa: F401  (pytest fixture)
from tests.reliability import (
    REASONS,
    PipelineProcess,
    committed_offsets,
    end_offsets,
    produce,
    read_avro_dir,
    synthetic_story,
)
from transforms.io.ingested_files import STATUS_ERROR, STATUS_INGESTED, journal_path
from transforms.io.kafka_sink import decode_message

pytestmark = pytest.mark.skipif(broker_missing() is not None, reason=str(broker_missing()))

SOURCES = ("files", "drop_folder", "kafka_bounded", "kafka_unbounded")
STREAMING_SOURCES = ("drop_folder", "kafka_unbounded")
SINKS = ("files", "kafka", "both")
DEDUP_MODES = ("mark", "drop")
#: ``--dedup-order``: arrival is for streaming sources (batch ones refuse it, see below).
DEDUP_ORDERS = ("event-time", "arrival")
#: Longest wait for a run that ends, and for a streaming run to have everything.
RUN_SECONDS = 150
STREAM_SECONDS = 150
PARTITIONS = 3
#: How long a streaming run that acknowledged every input gets to show it in the sinks.
ACKNOWLEDGED_GRACE = 10


# ---------------------------------------------------------------------------- the corpus


@dataclass(frozen=True)
class Input:
    name: str
    data: bytes
    #: Headline the story must carry, or None for an input that must be dead-lettered.
    headline: Optional[str]


def _brief(headline: str, body: str) -> bytes:
    return f"{headline}\n\n{body}\n".encode("utf-8")


def _headline(data: bytes) -> str:
    return data.decode("utf-8").split("\n", 1)[0]


#: An earnings brief as Reuters sends them: 14 words, figures with thousands separators.
_TICKER_BODY = "Shr 12 cts vs 10 cts\nNet 1,200,000 vs 1,000,000\nRevs 9,400,000 vs 8,100,000"
CORPUS: tuple[Input, ...] = (
    *(Input(f"story-{i}.txt", synthetic_story(i, words=60), _headline(synthetic_story(i, words=60)))
      for i in range(3)),
    Input("story-0-copy.txt", synthetic_story(0, words=60), _headline(synthetic_story(0, words=60))),
    Input("nil-harbour.txt", _brief("Harbour authority names new pilot", "NIL"),
          "Harbour authority names new pilot"),
    Input("nil-dividend.txt", _brief("Regional bank sets dividend date", "NIL"),
          "Regional bank sets dividend date"),
    Input("ticker-acme.txt", _brief("<ACME CORP> 1ST QTR NET", _TICKER_BODY), "<ACME CORP> 1ST QTR NET"),
    Input("ticker-beta.txt", _brief("<BETA INDUSTRIES INC> 1ST QTR NET", _TICKER_BODY),
          "<BETA INDUSTRIES INC> 1ST QTR NET"),
    Input("garbage.bin", b"\x00\xff\xfe garbage", None),
    Input("noise.bin", b"\x00\x01\x02\xff" * 40, None),
)
#: The two inputs with the same bytes: one of them is the DUPLICATE (mark) or is dropped (drop).
COPY_PAIR = ("story-0.txt", "story-0-copy.txt")
GARBAGE = tuple(i.name for i in CORPUS if i.headline is None)
BY_NAME = {i.name: i for i in CORPUS}


# ---------------------------------------------------------------------------- reading the sinks


@dataclass
class SinkContents:
    """What one sink holds: (input name, record) pairs, stories and dead letters."""

    name: str
    stories: list
    dead_letters: list

    def names(self) -> Counter:
        return Counter(n for n, _ in self.stories) + Counter(n for n, _ in self.dead_letters)


class Run:
    """One combination's set-up: where inputs came from and where records go."""

    def __init__(self, source: str, sink: str, mode: str, tmp_path: Path, broker,
                 order: str = "event-time"):
        self.source, self.sink, self.mode, self.order = source, sink, mode, order
        self.tmp = tmp_path
        self.broker = broker
        self.output = tmp_path / "out" if sink in ("files", "both") else None
        self.story_topic = broker.new_topic("stories", 1) if sink in ("kafka", "both") else None
        self.dead_topic = broker.new_topic("dead", 1) if sink in ("kafka", "both") else None
        self.topic: Optional[str] = None
        self.group = f"matrix-{source}-{sink}-{mode}-{order}"
        self.positions: dict[tuple[int, int], str] = {}  # Kafka (partition, offset) -> input name
        self.folder: Optional[Path] = None
        self.summary_json = tmp_path / "summary.json"

    # -- inputs
    def write_inputs(self) -> list[str]:
        """Put the corpus where the source reads it; returns the source's CLI options."""
        if self.source in ("files", "drop_folder"):
            self.folder = self.tmp / ("in" if self.source == "files" else "drop")
            self.folder.mkdir()
            old = time.time() - 120  # settled at first sight in the drop folder
            for item in CORPUS:
                (self.folder / item.name).write_bytes(item.data)
                os.utime(self.folder / item.name, (old, old))
            if self.source == "files":
                return [f"--input={self.folder}", "--num-shards=1"]
            return [f"--watch={self.folder}", "--poll-interval=0.5", "--settle-seconds=0.5",
                    "--window-seconds=2"]
        self.topic = self.broker.new_topic("raw", PARTITIONS)
        acks = produce(self.broker.bootstrap, self.topic, [(i.name.encode(), i.data) for i in CORPUS])
        self.positions = {position: item.name for position, item in zip(acks, CORPUS)}
        assert len(set(p for p, _ in acks)) > 1, f"the corpus should spread over partitions: {acks}"
        args = [f"--kafka-bootstrap={self.broker.bootstrap}", f"--kafka-topic={self.topic}",
                f"--kafka-group={self.group}"]
        if self.source == "kafka_bounded":
            return args + ["--kafka-stop-at-end", "--num-shards=1"]
        return args + ["--window-seconds=2"]

    def sink_args(self) -> list[str]:
        args = [f"--dedup-mode={self.mode}"]
        if self.order != "event-time":
            args.append(f"--dedup-order={self.order}")
        if self.output is not None:
            args.append(f"--output={self.output}")
        if self.story_topic is not None:
            if not self.topic:
                args.append(f"--kafka-bootstrap={self.broker.bootstrap}")
            args += [f"--kafka-output-topic={self.story_topic}", f"--kafka-dead-letter-topic={self.dead_topic}"]
        if self.source in ("files", "kafka_bounded"):
            args.append(f"--summary-json={self.summary_json}")
        return args

    # -- identity of a record: which input it came from
    def input_of(self, source: dict) -> str:
        if self.topic is not None:
            assert source["kind"] == "kafka" and source["topic"] == self.topic, source
            assert source["position"] == f"partition {source['partition']} offset {source['offset']}", source
            position = (source["partition"], source["offset"])
            assert position in self.positions, f"a record from an offset never sent: {source}"
            return self.positions[position]
        assert source["kind"] == "file", source
        path = Path(source["uri"])
        assert path.parent.resolve() == self.folder.resolve() and path.name in BY_NAME, source
        return path.name

    # -- the sinks
    def read_sinks(self) -> list[SinkContents]:
        sinks = []
        if self.story_topic is not None:
            stories = []
            for message in read_topic_to_end(self.broker.bootstrap, self.story_topic):
                kind, record = decode_message(message.value)
                assert kind == "story", (kind, record)
                assert message.key == record["id"].encode(), "stories are keyed by story id"
                stories.append((self.input_of(record["source"]), record))
            dead = []
            for message in read_topic_to_end(self.broker.bootstrap, self.dead_topic):
                kind, record = decode_message(message.value)
                assert kind == "dead_letter", (kind, record)
                dead.append((self.input_of(record["source"]), record))
            sinks.append(SinkContents("kafka", stories, dead))
        if self.output is not None:
            present = self.output.is_dir()
            sinks.append(SinkContents(
                "files",
                [(self.input_of(r["source"]), r) for r in (read_avro_dir(self.output, "stories") if present else [])],
                [(self.input_of(r["source"]), r)
                 for r in (read_avro_dir(self.output, "dead-letters") if present else [])]))
        return sinks

    def expected_names(self, contents: SinkContents) -> set[str]:
        """Every input, less (drop mode) the copy this sink shows was dropped."""
        every = set(BY_NAME)
        if self.mode == "drop":
            kept = [n for n in COPY_PAIR if n in contents.names()]
            if len(kept) == 1:
                every.discard(next(n for n in COPY_PAIR if n not in kept))
        return every

    def complete(self, sinks: list[SinkContents]) -> bool:
        """Every sink holds every input (drop mode: at least one of the copies). A
        drop-mode run that wrote both copies is complete too: ``check_sink`` fails it."""
        needed = set(BY_NAME) if self.mode == "mark" else set(BY_NAME) - set(COPY_PAIR)
        for contents in sinks:
            names = set(contents.names())
            if not needed <= names or not names & set(COPY_PAIR):
                return False
        return True


def read_topic_to_end(bootstrap: str, topic: str, seconds: float = 30.0) -> list:
    """Every record of ``topic`` up to its end offsets now (no idle wait)."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    try:
        partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        consumer.assign(partitions)
        consumer.seek_to_beginning()
        ends = consumer.end_offsets(partitions)
        records, deadline = [], time.monotonic() + seconds
        while any(consumer.position(tp) < ends[tp] for tp in partitions):
            assert time.monotonic() < deadline, f"could not read {topic} to its end offsets {ends} in {seconds}s"
            for batch in consumer.poll(timeout_ms=200).values():
                records.extend(batch)
        return records
    finally:
        consumer.close()


# ---------------------------------------------------------------------------- the checks


def check_sink_accounting(run: Run, contents: SinkContents) -> None:
    """One sink: every input once, as a story or a dead letter, less (drop mode) the one copy."""
    label = f"{contents.name} sink"
    names = contents.names()
    twice = [n for n, count in names.items() if count > 1]
    assert not twice, f"{label}: inputs written more than once: {twice}"
    expected = run.expected_names(contents)
    assert set(names) == expected, (f"{label}: missing {sorted(expected - set(names))}, "
                                    f"unexpected {sorted(set(names) - expected)}")
    # read = written + dropped + dead-lettered, from this sink alone.
    dropped = len(CORPUS) - len(expected)
    assert len(contents.stories) + len(contents.dead_letters) + dropped == len(CORPUS), label
    assert dropped == (1 if run.mode == "drop" else 0), \
        f"{label}: {dropped} inputs dropped; drop mode drops exactly one of {COPY_PAIR}, mark mode none"
    dead = sorted(n for n, _ in contents.dead_letters)
    assert dead == sorted(GARBAGE), f"{label}: dead letters {dead}, expected the garbage {sorted(GARBAGE)}"


def check_dead_letters(run: Run, contents: SinkContents) -> None:
    """Every dead letter reads back with the bytes sent, where they came from, and why."""
    label = f"{contents.name} sink"
    for name, record in contents.dead_letters:
        sent = BY_NAME[name].data
        assert record["raw"] == sent and record["raw_size"] == len(sent) and not record["raw_truncated"], \
            f"{label}: {name}: raw {record['raw'][:40]!r} ({record['raw_size']} bytes), sent {sent[:40]!r}"
        assert record["reason"] in REASONS, f"{label}: reason {record['reason']!r} is not in {sorted(REASONS)}"
        assert record["stage"] and record["error"], f"{label}: {name}: no stage or error: {record}"
        if run.topic is not None:  # input_of checked topic and offset; the key is the one sent
            assert record["source"]["key"] == name.encode(), f"{label}: {name}: key {record['source']['key']!r}"


def check_stories(run: Run, contents: SinkContents) -> None:
    """Every story under its own headline, parsed as plain text (ticker headlines included)."""
    label = f"{contents.name} sink"
    for name, record in contents.stories:
        assert record["headline"] == BY_NAME[name].headline, f"{label}: {name}: {record['headline']!r}"
        assert record["format"] == "plain_text", f"{label}: {name} parsed as {record['format']}"
        assert record["source"]["item_index"] == 0, f"{label}: {name}: {record['source']}"


def check_dedup(run: Run, contents: SinkContents) -> None:
    """The exact copy is the one DUPLICATE (mark); every other story, short bodies with
    different headlines included, is UNIQUE in a cluster of its own."""
    label = f"{contents.name} sink"
    stories = {name: record for name, record in contents.stories}
    statuses = {name: record["dedup"]["status"] for name, record in stories.items()}
    if run.mode == "mark" and all(n in stories for n in COPY_PAIR):
        first, second = (stories[n] for n in COPY_PAIR)
        pair = sorted([first["dedup"]["status"], second["dedup"]["status"]])
        assert pair == ["DUPLICATE", "UNIQUE"], \
            f"{label}: the exact copies {COPY_PAIR} are {pair}, event times " \
            f"{[str(r['event_time']) for r in (first, second)]}"
        duplicate, original = (first, second) if first["dedup"]["status"] == "DUPLICATE" else (second, first)
        assert duplicate["dedup"]["duplicate_of"] == original["id"], f"{label}: {duplicate['dedup']}"
        assert duplicate["dedup"]["cluster_id"] == original["id"], f"{label}: {duplicate['dedup']}"
    others = {n: s for n, s in statuses.items() if n not in COPY_PAIR or run.mode == "drop"}
    merged = {n: stories[n]["dedup"] for n, s in others.items() if s != "UNIQUE"}
    assert not merged, (f"{label}: distinct stories merged: " + "; ".join(
        f"{n} {d['status']} of {[m for m, r in stories.items() if r['id'] == d['duplicate_of']]}"
        for n, d in merged.items()))
    distinct = [stories[n] for n in others]
    assert len({r["dedup"]["cluster_id"] for r in distinct}) == len(distinct), f"{label}: shared clusters"


def check_sinks_agree(sinks: list[SinkContents]) -> None:
    if len(sinks) < 2:
        return
    kafka, files = sinks
    assert {n: r["id"] for n, r in kafka.stories} == {n: r["id"] for n, r in files.stories}, \
        "the Kafka and file sinks hold different stories"
    assert {n: r["dedup"]["status"] for n, r in kafka.stories} == \
        {n: r["dedup"]["status"] for n, r in files.stories}
    assert {n: (r["raw"], r["reason"], r["source"]) for n, r in kafka.dead_letters} == \
        {n: (r["raw"], r["reason"], r["source"]) for n, r in files.dead_letters}, \
        "the Kafka and file sinks hold different dead letters"


def check_summary(run: Run, sinks: list[SinkContents]) -> None:
    """The end-of-run summary balances and its counts are what every sink holds."""
    summary = json.loads(run.summary_json.read_text())
    counts = {k: summary[k] for k in ("read", "written", "duplicates_dropped", "dead_letters", "balanced")}
    assert summary["read"] == len(CORPUS), f"read {counts}"
    assert summary["read"] == summary["written"] + summary["duplicates_dropped"] + summary["dead_letters"], \
        f"read != written + dropped + dead-lettered: {counts}"
    assert summary["balanced"] is True, f"not balanced: {counts}"
    read_back = {s.name: {"stories": len(s.stories), "dead_letters": len(s.dead_letters)} for s in sinks}
    assert summary["sinks"] == read_back, f"summary sinks {summary['sinks']}, read back {read_back}"
    reference = read_back[sinks[-1].name]
    assert (summary["written"], summary["dead_letters"]) == (reference["stories"], reference["dead_letters"]), \
        f"summary {counts}, last sink read back {reference}"
    assert sum(summary["dead_letter_reasons"].values()) == summary["dead_letters"], summary["dead_letter_reasons"]
    # The expected figures for this corpus: one copy, two garbage inputs.
    assert (summary["duplicates_dropped"], summary["dead_letters"]) == (1 if run.mode == "drop" else 0, 2), \
        f"summary {counts}"


def check_summary_dedup(run: Run) -> None:
    summary = json.loads(run.summary_json.read_text())
    # The copy is decided DUPLICATE in both modes; drop mode then drops it.
    assert summary["dedup"] == {"duplicate": 1, "unique": len(CORPUS) - len(GARBAGE) - 1}, \
        f"summary dedup counts {summary['dedup']}"


def check_acknowledged(run: Run, sinks: list[SinkContents], committed: dict[int, int]) -> None:
    """Every offset below a committed one is in every sink, or (drop mode) is the dropped copy."""
    for partition, upto in committed.items():
        for offset in range(upto):
            name = run.positions.get((partition, offset))
            assert name is not None, f"committed {committed} passes the offsets sent"
            for contents in sinks:
                if name in contents.names():
                    continue
                assert run.mode == "drop" and name in COPY_PAIR, (
                    f"offset {offset} of partition {partition} ({name}) is committed ({committed}) "
                    f"but not in the {contents.name} sink (nor the exact copy drop mode may drop)")


def journal_entries(run: Run) -> list[dict]:
    """The drop-folder journal's complete lines."""
    path = Path(journal_path(str(run.output)))
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.endswith("}")]


def check_journal(run: Run, sinks: list[SinkContents]) -> None:
    """Every file the drop-folder journal records is in every sink (or is the dropped copy)."""
    for entry in journal_entries(run):
        name = Path(entry["path"]).name
        for contents in sinks:
            assert name in contents.names() or (run.mode == "drop" and name in COPY_PAIR), (
                f"{name} is journalled as {entry['status']} but not in the {contents.name} sink "
                f"(nor the exact copy drop mode may drop)")


# ---------------------------------------------------------------------------- running


def group_commands(pgid: int) -> set[str]:
    """Command names of the processes in a process group (the pipeline and what it started)."""
    names = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        comm, rest = stat[stat.index("(") + 1: stat.rindex(")")], stat[stat.rindex(")") + 2:].split()
        if int(rest[2]) == pgid:
            names.add(comm)
    return names


def run_to_end(pipeline: PipelineProcess) -> set[str]:
    seen: set[str] = set()
    deadline = time.monotonic() + RUN_SECONDS
    while pipeline.alive():
        seen |= group_commands(pipeline.process.pid)
        if time.monotonic() > deadline:
            pytest.fail(f"the run did not end in {RUN_SECONDS}s:\n{pipeline.stalled_report()}")
        time.sleep(0.2)
    assert pipeline.process.returncode == 0, \
        f"exit code {pipeline.process.returncode}:\n{pipeline.log_tail()}"
    return seen


class Findings:
    """Every check of a combination runs, and the test fails once, listing each that failed:
    one product bug does not hide another."""

    def __init__(self) -> None:
        self.failures: dict[str, str] = {}

    @contextmanager
    def check(self, what: str) -> Iterator[None]:
        try:
            yield
        except AssertionError as failure:
            lines = str(failure).strip().splitlines()
            self.failures.setdefault(what, "\n      ".join(lines[:4]))

    def report(self) -> str:
        return f"{len(self.failures)} check(s) failed:\n" + "\n".join(
            f"  - {what}: {message}" for what, message in self.failures.items())


def run_streaming(run: Run, pipeline: PipelineProcess, findings: Findings) -> tuple[set[str], int]:
    """Wait until every sink holds everything and every acknowledgement is in; check the
    acknowledgements against the sinks on the way. Returns the commands seen and the samples."""
    seen: set[str] = set()
    ends = end_offsets(run.broker.bootstrap, run.topic, PARTITIONS) if run.topic else {}
    deadline = time.monotonic() + STREAM_SECONDS
    samples = 0
    acknowledged_since: Optional[float] = None
    while True:
        if not pipeline.alive():
            pytest.fail(f"the streaming run exited with {pipeline.process.returncode}:\n{pipeline.log_tail()}")
        seen |= group_commands(pipeline.process.pid)
        # Acknowledgements first, sinks after: what was acknowledged then must be in the sinks now.
        committed = committed_offsets(run.broker.bootstrap, run.topic, run.group, PARTITIONS) if run.topic \
            else None
        sinks = run.read_sinks()
        if committed is not None:
            with findings.check("committed offsets never pass the sinks (while running)"):
                check_acknowledged(run, sinks, committed)
            acknowledged = committed == ends
        else:
            entries = []
            if run.output is not None:
                with findings.check("the journal never passes the sinks (while running)"):
                    check_journal(run, sinks)
                entries = journal_entries(run)
            acknowledged = len(entries) == len(CORPUS)
        samples += 1
        if acknowledged and run.complete(sinks):
            return seen, samples
        # Everything acknowledged means everything written: an input still missing a while
        # later was lost or wrongly dropped, which the checks after the stop report.
        acknowledged_since = (acknowledged_since or time.monotonic()) if acknowledged else None
        if acknowledged_since is not None and time.monotonic() - acknowledged_since > ACKNOWLEDGED_GRACE:
            return seen, samples
        if time.monotonic() > deadline:
            counts = {s.name: (len(s.stories), len(s.dead_letters)) for s in sinks}
            pytest.fail(f"not everything processed in {STREAM_SECONDS}s: sinks (stories, dead letters) "
                        f"{counts}, committed {committed} of {ends}\n{pipeline.stalled_report()}")
        time.sleep(1.0)


COMBINATIONS = [(source, sink, mode, order) for order in DEDUP_ORDERS for source in SOURCES
                for sink in SINKS for mode in DEDUP_MODES
                if order == "event-time" or source in STREAMING_SOURCES]


@pytest.mark.parametrize("source,sink,mode,order", COMBINATIONS,
                         ids=[f"{source}-{sink}-{mode}" + ("" if order == "event-time" else f"-{order}")
                              for source, sink, mode, order in COMBINATIONS])
def test_every_input_is_accounted_for_in_every_sink(source, sink, mode, order, kafka_broker, tmp_path,
                                                    pipelines):
    run = Run(source, sink, mode, tmp_path, kafka_broker, order)
    args = run.write_inputs() + run.sink_args()
    pipeline = PipelineProcess(args, tmp_path / "pipeline.log")
    pipelines.append(pipeline)
    findings = Findings()
    pipeline.start()
    if source == "drop_folder" and sink == "kafka":
        # Refused at start: the drop folders' journal lives in the output directory.
        pipeline.process.wait(60)
        assert pipeline.process.returncode == 2, pipeline.log_tail()
        assert "--output: drop folders (--watch) keep their journal" in pipeline.log_tail()
        [kafka] = run.read_sinks()
        assert kafka.stories == [] and kafka.dead_letters == [], "nothing may be written by a refused run"
        return
    streaming = source in STREAMING_SOURCES
    if streaming:
        seen, samples = run_streaming(run, pipeline, findings)
        pipeline.stop()
        assert samples >= 1
    else:
        seen = run_to_end(pipeline)
    sinks = run.read_sinks()  # after the end or the stop: nothing more will come
    assert [s.name for s in sinks] == {"files": ["files"], "kafka": ["kafka"], "both": ["kafka", "files"]}[sink]
    with findings.check("runner"):
        # Streaming sources on Prism (a child process of the run), batch ones in the run's own process.
        assert ("prism" in seen) == streaming, f"processes of the run: {sorted(seen)}"
    if not streaming:
        with findings.check("summary balances and matches the sinks"):
            check_summary(run, sinks)
        with findings.check("summary dedup counts"):
            check_summary_dedup(run)
    for contents in sinks:
        for what, check in (("every input accounted for", check_sink_accounting),
                            ("dead letters read back", check_dead_letters),
                            ("stories read back", check_stories),
                            ("dedup statuses", check_dedup)):
            with findings.check(f"{contents.name} sink: {what}"):
                check(run, contents)
    with findings.check("the sinks agree"):
        check_sinks_agree(sinks)
    if run.topic is not None:
        committed = committed_offsets(kafka_broker.bootstrap, run.topic, run.group, PARTITIONS)
        with findings.check("committed offsets never pass the sinks (at the end)"):
            check_acknowledged(run, sinks, committed)
        with findings.check("committed offsets reach the end offsets"):
            ends = end_offsets(kafka_broker.bootstrap, run.topic, PARTITIONS)
            assert committed == ends, f"committed {committed}, end offsets {ends}"
    if source == "drop_folder":
        with findings.check("the journal never passes the sinks (at the end)"):
            check_journal(run, sinks)
        with findings.check("every file journalled once, garbage as failed"):
            entries = journal_entries(run)
            statuses = {Path(e["path"]).name: e["status"] for e in entries}
            assert len(entries) == len(CORPUS) and set(statuses) == set(BY_NAME), entries
            assert {n for n, s in statuses.items() if s == STATUS_ERROR} == set(GARBAGE), statuses
            assert {n for n, s in statuses.items() if s == STATUS_INGESTED} == \
                set(BY_NAME) - set(GARBAGE), statuses
    if findings.failures:
        pytest.fail(f"{source} -> {sink}, --dedup-mode {mode}, --dedup-order {order}: {findings.report()}\n"
                    f"(pipeline log: {pipeline.log_path})", pytrace=False)


@pytest.mark.parametrize("source", [s for s in SOURCES if s not in STREAMING_SOURCES])
def test_arrival_order_is_refused_for_bounded_sources(source, kafka_broker, tmp_path, pipelines):
    """A bounded run has no arrival order to keep: ``--dedup-order arrival`` exits 2, naming it,
    before anything is written."""
    run = Run(source, "files", "mark", tmp_path, kafka_broker, "arrival")
    pipeline = PipelineProcess(run.write_inputs() + run.sink_args(), tmp_path / "pipeline.log")
    pipelines.append(pipeline)
    pipeline.start()
    pipeline.process.wait(60)
    assert pipeline.process.returncode == 2, pipeline.log_tail()
    assert "--dedup-order arrival: streaming sources only" in pipeline.log_tail()
    assert not run.output.exists() or not any(run.output.glob("*.avro")), "a refused run wrote records"
