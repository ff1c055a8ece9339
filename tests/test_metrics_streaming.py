"""Live metrics of real streaming runs, scraped over HTTP while they run.

``wire-ingest run --metrics-port`` as a process on Prism, reading a real Kafka
broker (tests/broker.py) or a drop folder: the counters reach what was sent
and balance, consumer lag falls to 0 once drained, a feed that stops
delivering shows its last-record time standing still, and ``/healthz``
follows the broker as it is stopped and started again.
"""

from __future__ import annotations

import os
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.broker import free_port, kafka_broker  # noqa: F401  (module fixture: a real broker)
from tests.reliability import PipelineProcess, produce, read_avro_dir, synthetic_story

#: Seconds a streaming run may take to start (Prism, SDK worker) and to drain.
START_SECONDS = 120
DRAIN_SECONDS = 120


class Scraper:
    """GETs a running pipeline's /metrics, /healthz and /readyz."""

    def __init__(self, port: int, process: PipelineProcess):
        self.base = f"http://127.0.0.1:{port}"
        self.process = process

    def get(self, path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(self.base + path, timeout=10) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()
        except OSError as error:  # not listening yet
            return 0, str(error)

    def samples(self) -> list:
        status, text = self.get("/metrics")
        assert status == 200, text
        return [sample for family in text_string_to_metric_families(text) for sample in family.samples]

    def total(self, name: str, **labels) -> float:
        return sum(s.value for s in self.samples()
                   if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()))

    def values(self, name: str, label: str) -> dict[str, float]:
        return {s.labels[label]: s.value for s in self.samples() if s.name == name}

    def outcome(self) -> dict[str, float]:
        samples = self.samples()

        def add(name: str) -> float:
            return sum(s.value for s in samples if s.name == name)

        return {key: add(f"wire_ingest_{key}_total")
                for key in ("read", "written", "duplicates_dropped", "dead_letters")}

    def wait_for(self, what: str, check: Callable[[], bool], seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if not self.process.alive():
                pytest.fail(f"the pipeline ended while waiting for {what}:\n"
                            f"{self.process.log_tail()}")
            if check():
                return
            time.sleep(0.5)
        pytest.fail(f"no {what} in {seconds:.0f} s; last /metrics outcome "
                    f"{self._outcome_or_error()}\n{self.process.stalled_report()}")

    def _outcome_or_error(self):
        try:
            return self.outcome()
        except Exception as error:  # noqa: BLE001 - for the failure message only
            return error


def balanced(outcome: dict[str, float], sent: int) -> bool:
    return outcome["read"] == sent and \
        outcome["written"] + outcome["duplicates_dropped"] + outcome["dead_letters"] == sent


def start(args: list[str], tmp_path: Path) -> tuple[PipelineProcess, Scraper]:
    port = free_port()
    process = PipelineProcess([*args, "--metrics-port", str(port)], tmp_path / "pipeline.log").start()
    scraper = Scraper(port, process)
    scraper.wait_for("/readyz 200", lambda: scraper.get("/readyz")[0] == 200, START_SECONDS)
    return process, scraper


def test_kafka_run_balances_drains_lag_and_health_follows_the_broker(kafka_broker, tmp_path):
    bootstrap = kafka_broker.bootstrap
    topic = kafka_broker.new_topic("metrics", 3)
    out = tmp_path / "out"
    process, scraper = start(["--kafka-bootstrap", bootstrap, "--kafka-topic", topic,
                              "--kafka-group", "metrics", "--output", str(out),
                              "--dedup-mode", "drop", "--window-seconds", "2"], tmp_path)
    try:
        scraper.wait_for("/healthz 200", lambda: scraper.get("/healthz")[0] == 200, 10)
        stories = [(f"k{i}".encode(), synthetic_story(i)) for i in range(30)]
        copies = [(f"c{i}".encode(), synthetic_story(i)) for i in range(3)]  # exact duplicates
        bad = [(b"empty", b""), (b"noise", bytes(range(256)) * 8)]
        produce(bootstrap, topic, stories + bad)
        scraper.wait_for("32 records read and balanced",
                         lambda: balanced(scraper.outcome(), 32), DRAIN_SECONDS)
        # Copies sent later, as an agency re-sends a story: dropped as duplicates.
        sent_at = time.time()
        produce(bootstrap, topic, copies)
        sent = len(stories) + len(copies) + len(bad)

        def drained() -> bool:
            lag = scraper.values("wire_ingest_kafka_consumer_lag", "partition")
            return balanced(scraper.outcome(), sent) and len(lag) == 3 and \
                not any(lag.values())

        scraper.wait_for(f"{sent} records read, balanced and lag 0", drained, DRAIN_SECONDS)
        outcome = scraper.outcome()
        assert outcome == {"read": 35, "written": 30, "duplicates_dropped": 3, "dead_letters": 2}
        # What the counters say is what the files hold.
        written = read_avro_dir(out, "stories")
        assert len(written) == 30 and len(read_avro_dir(out, "dead-letters")) == 2
        assert scraper.values("wire_ingest_dedup_decisions_total", "status") == \
            {"UNIQUE": 30, "DUPLICATE": 3}
        assert scraper.values("wire_ingest_duplicates_dropped_total", "status") == {"DUPLICATE": 3}
        assert scraper.values("wire_ingest_dead_letters_total", "reason") == \
            {"empty": 1, "undecodable": 1}
        assert scraper.total("wire_ingest_kafka_records_read_total", topic=topic) == sent
        assert scraper.total("wire_ingest_read_total", source_kind="kafka") == sent
        ends = scraper.values("wire_ingest_kafka_end_offset", "partition")
        assert sum(ends.values()) == sent
        # Committed everything, so nothing is read but unacknowledged.
        scraper.wait_for("unacknowledged records at 0", lambda: not any(
            scraper.values("wire_ingest_kafka_records_unacknowledged", "partition").values()), 30)
        assert scraper.total("wire_ingest_stage_seconds_count", stage="parse") > 0
        assert scraper.total("wire_ingest_story_latency_seconds_count") == len(written)

        # The feed stops delivering: its last-record time stands still.
        source = f"kafka://{bootstrap}/{topic}"
        last = scraper.total("wire_ingest_source_last_record_timestamp_seconds", source=source)
        assert sent_at - 1 <= last <= time.time()
        time.sleep(4)
        assert scraper.total("wire_ingest_source_last_record_timestamp_seconds", source=source) == last

        # The broker goes away: unhealthy; it comes back: healthy again.
        kafka_broker.stop()
        scraper.wait_for("/healthz 503 with the broker stopped",
                         lambda: scraper.get("/healthz")[0] == 503, 30)
        status, text = scraper.get("/healthz")
        assert status == 503 and bootstrap in text
        assert scraper.total("wire_ingest_kafka_broker_up", bootstrap=bootstrap) == 0
        kafka_broker.start()
        scraper.wait_for("/healthz 200 with the broker back",
                         lambda: scraper.get("/healthz")[0] == 200, 60)
        assert scraper.total("wire_ingest_kafka_broker_up", bootstrap=bootstrap) == 1
    finally:
        process.stop()


def test_drop_folder_run_balances_and_a_silent_folder_keeps_its_last_record_time(tmp_path):
    folder, out = tmp_path / "drop", tmp_path / "out"
    folder.mkdir()
    process, scraper = start(["--watch", str(folder), "--output", str(out),
                              "--poll-interval", "0.3", "--settle-seconds", "0.5",
                              "--window-seconds", "1"], tmp_path)
    source = os.path.abspath(folder)
    try:
        assert scraper.get("/healthz") == (200, "ok\n")  # no broker to ask
        # Open, nothing delivered yet: no last-record time.
        assert scraper.total("wire_ingest_source_open", source=source) == 1
        assert not scraper.values("wire_ingest_source_last_record_timestamp_seconds", "source")
        for i in range(5):
            (folder / f"story-{i}.txt").write_bytes(synthetic_story(100 + i))
        (folder / "again.txt").write_bytes(synthetic_story(100))  # marked, not dropped
        (folder / "noise.bin").write_bytes(bytes(range(256)) * 8)
        scraper.wait_for("7 items balanced", lambda: balanced(scraper.outcome(), 7), DRAIN_SECONDS)
        assert scraper.outcome() == {"read": 7, "written": 6, "duplicates_dropped": 0,
                                     "dead_letters": 1}
        assert scraper.values("wire_ingest_dedup_decisions_total", "status") == \
            {"UNIQUE": 5, "DUPLICATE": 1}
        assert len(read_avro_dir(out, "stories")) == 6

        last = scraper.total("wire_ingest_source_last_record_timestamp_seconds", source=source)
        assert last > 0
        time.sleep(3)  # ten polls find nothing new
        assert scraper.total("wire_ingest_source_last_record_timestamp_seconds", source=source) == last
        assert scraper.total("wire_ingest_source_last_record_timestamp_seconds",
                             source=source) < time.time() - 2.5
        # It delivers again: the time moves.
        (folder / "late.txt").write_bytes(synthetic_story(200))
        scraper.wait_for("a new last-record time", lambda: scraper.total(
            "wire_ingest_source_last_record_timestamp_seconds", source=source) > last, 60)
        scraper.wait_for("8 items balanced", lambda: balanced(scraper.outcome(), 8), DRAIN_SECONDS)
    finally:
        process.stop()
