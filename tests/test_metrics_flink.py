"""On Flink, the summary's counters reach Flink's Prometheus reporter.

The Python workers of a Flink run are not this process, so ``--metrics-port``
is refused there; Beam hands its metrics to Flink's reporters instead. This
starts the cluster of ``deploy/local/flink.sh`` with the Prometheus reporter on
ports of its own, runs an unbounded Kafka pipeline on it and scrapes the
reporters while the job runs: ``flink_taskmanager_job_task_operator_wire_ingest_<counter>``
holds the counts the live metrics name ``wire_ingest_<counter>_total``.
"""

from __future__ import annotations

import shutil
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.broker import free_port, kafka_broker  # noqa: F401  (module fixture: a real broker)
from tests.reliability import produce, synthetic_story
from tests.test_flink import LocalFlink, end_run, flink_args, read_avro, start_run, wait_for

pytestmark = pytest.mark.skipif(shutil.which("java") is None, reason="Flink needs Java (java not on PATH)")

PREFIX = "flink_taskmanager_job_task_operator_wire_ingest_"


def scrape_flink_counters(ports: range) -> dict[str, float]:
    """``wire_ingest`` counters summed over every reporter (JobManager, TaskManagers)."""
    counters: dict[str, float] = {}
    for port in ports:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
                text = response.read().decode()
        except OSError:
            continue  # no reporter on this port of the range
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name.startswith(PREFIX):
                    name = sample.name[len(PREFIX):]
                    counters[name] = counters.get(name, 0) + sample.value
    return counters


def test_the_summary_counters_appear_on_flinks_prometheus_reporter(kafka_broker, tmp_path):
    first = free_port()
    ports = range(first, first + 4)
    cluster = LocalFlink(tmp_path / "flink")
    cluster.env["FLINK_PROMETHEUS_PORTS"] = f"{ports.start}-{ports.stop - 1}"
    cluster.start()
    process = None
    try:
        topic = kafka_broker.new_topic("flinkmetrics", 3)
        out, log = tmp_path / "out", tmp_path / "run.log"
        process = start_run(flink_args(cluster, "--kafka-bootstrap", kafka_broker.bootstrap,
                                       "--kafka-topic", topic, "--kafka-group", "flinkmetrics",
                                       "--output", str(out), "--window-seconds", "10",
                                       "--checkpointing_interval", "2000"), log)
        wait_for(lambda: cluster.jobs(), "the job is running on the cluster", log=log, cluster=cluster)
        produce(kafka_broker.bootstrap, topic,
                [(f"k{i}".encode(), synthetic_story(300 + i)) for i in range(20)] + [(b"e", b"")])
        wait_for(lambda: len(read_avro(out, "stories")) + len(read_avro(out, "dead-letters")) >= 21,
                 "21 records written", log=log, cluster=cluster)

        def counted() -> bool:
            counters = scrape_flink_counters(ports)
            return counters.get("read") == 21 and counters.get("written") == 20 and \
                counters.get("dead_letters") == 1

        wait_for(counted, "read 21, written 20, dead_letters 1 on the reporters", timeout=60,
                 log=log, cluster=cluster)
        counters = scrape_flink_counters(ports)
        assert counters["kafka_records_read"] == 21
        assert counters["dead_letter_empty"] == 1
        assert counters["read"] == counters["written"] + counters.get("duplicates_dropped", 0) + \
            counters["dead_letters"]
        assert process.poll() is None and cluster.jobs()  # read while the job runs
    finally:
        if process is not None:
            for job in cluster.jobs():
                cluster.rest(f"/jobs/{job}?mode=cancel", method="PATCH")
            end_run(process)
        cluster.script("stop", timeout=120)
