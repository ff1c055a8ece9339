"""Live metrics (``--metrics-port``): counters against the run summary, the HTTP
endpoints, the options' checks, and the alert rules and dashboard in deploy/.

The streaming runs (Kafka, drop folder, broker outage) are in
tests/test_metrics_streaming.py.
"""

from __future__ import annotations

import json
import re
import socket
import urllib.error
import urllib.request
from pathlib import Path

import apache_beam as beam
import pytest
import yaml
from apache_beam.options.pipeline_options import PipelineOptions

from pipelines import cli
from pipelines.options import IngestOptions
from pipelines.ingest import build_pipeline, summarize_metrics
from pipelines.runners import resolve_runner
from tests.conftest import SEED, TEST_DATA
from transforms import telemetry

REPO = Path(__file__).resolve().parents[1]
RULES = REPO / "deploy" / "prometheus" / "wire-ingest-alerts.yml"
SCRAPE = REPO / "deploy" / "prometheus" / "scrape-wire-ingest.yml"
DASHBOARD = REPO / "deploy" / "grafana" / "wire-ingest-dashboard.json"


@pytest.fixture
def live():
    telemetry.reset_for_tests()
    telemetry.enable()
    yield telemetry
    telemetry.reset_for_tests()


def total(name: str, **labels) -> float:
    """Sum of every sample of ``name`` whose labels include ``labels``."""
    value = 0.0
    for metric in telemetry.registry().collect():
        for sample in metric.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                value += sample.value
    return value


def by_label(name: str, label: str) -> dict[str, float]:
    counts: dict[str, float] = {}
    for metric in telemetry.registry().collect():
        for sample in metric.samples:
            if sample.name == name:
                key = sample.labels[label]
                counts[key] = counts.get(key, 0) + sample.value
    return {k: v for k, v in counts.items() if v}


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


# ---- the live counters are the summary's, broken down -------------------------------------------


def test_live_counters_of_a_batch_run_equal_the_summary_and_balance(live, tmp_path):
    """A batch run on the FnApiRunner over good, bad and duplicate inputs: the
    live counters give the summary's read, written, dropped and dead-letter
    counts, by language and reason, and every stage was timed."""
    inputs = tmp_path / "in"
    inputs.mkdir()
    (inputs / "seed.txt").write_bytes(SEED.read_bytes())
    (inputs / "seed-again.txt").write_bytes(SEED.read_bytes())  # an exact duplicate
    (inputs / "empty.txt").write_bytes(b"")
    (inputs / "noise.bin").write_bytes(bytes(range(256)) * 8)
    for name in ("newsml_1x_two_items.xml", "nitf_story.xml", "ninjs_2x_text.json"):
        (inputs / name).write_bytes((TEST_DATA / "formats" / name).read_bytes())
    options = IngestOptions(["--input", str(inputs / "*"), "--output", str(tmp_path / "out"),
                             "--dedup-mode", "drop"])
    pipeline = beam.Pipeline(runner=resolve_runner(options), options=PipelineOptions([]))
    build_pipeline(pipeline, options)
    result = pipeline.run()
    result.wait_until_finish()
    summary = summarize_metrics(result, options)

    read = total("wire_ingest_read_total")
    written = total("wire_ingest_written_total")
    dropped = total("wire_ingest_duplicates_dropped_total")
    dead = total("wire_ingest_dead_letters_total")
    assert (read, written, dropped, dead) == (summary.read, summary.written, summary.dropped,
                                              summary.dead_letters)
    assert summary.balanced and read == written + dropped + dead
    assert dropped >= 1 and dead >= 2 and written >= 3
    assert by_label("wire_ingest_written_total", "language") == summary.by_prefix("written_language_")
    assert by_label("wire_ingest_dead_letters_total", "reason") == summary.by_prefix("dead_letter_")
    assert by_label("wire_ingest_dedup_decisions_total", "status") == {
        status.upper(): n for status, n in summary.by_prefix("dedup_").items()}
    assert set(by_label("wire_ingest_read_total", "source_kind")) == {"file"}
    for stage in ("parse", "normalize", "write"):
        assert total("wire_ingest_stage_seconds_count", stage=stage) > 0, stage


def test_nothing_is_counted_until_enabled(tmp_path):
    telemetry.reset_for_tests()
    telemetry.count("read", 5, source_kind="file")
    telemetry.delivered("/drop", "drop_folder")
    assert total("wire_ingest_read_total") == 0
    assert total("wire_ingest_source_last_record_timestamp_seconds") == 0


# ---- the endpoints -------------------------------------------------------------------------------


def test_metrics_healthz_and_readyz_answer_as_the_run_goes(live):
    server = telemetry.MetricsServer("127.0.0.1", 0).start()
    base = f"http://127.0.0.1:{server.port}"
    try:
        telemetry.HEALTH.expect_sources(["/drop", "kafka://b/t"])
        assert get(base + "/healthz")[0] == 503  # not running yet
        telemetry.HEALTH.set_running(True)
        assert get(base + "/healthz") == (200, "ok\n")
        status, text = get(base + "/readyz")
        assert status == 503 and "/drop" in text and "kafka://b/t" in text
        telemetry.source_opened("/drop", "drop_folder")
        telemetry.source_opened("kafka://b/t", "kafka")
        assert get(base + "/readyz") == (200, "ok\n")

        telemetry.count("read", 3, source_kind="kafka")
        telemetry.delivered("/drop", "drop_folder", when=1_700_000_000.0)
        status, text = get(base + "/metrics")
        assert status == 200
        assert 'wire_ingest_read_total{source_kind="kafka"} 3.0' in text
        assert ('wire_ingest_source_last_record_timestamp_seconds{kind="drop_folder",source="/drop"}'
                " 1.7e+09") in text
        assert "wire_ingest_pipeline_running 1.0" in text

        telemetry.HEALTH.broker("b:9092", "NoBrokersAvailable")
        status, text = get(base + "/healthz")
        assert status == 503 and "b:9092" in text
        telemetry.HEALTH.broker("b:9092", None)
        assert get(base + "/healthz")[0] == 200
        telemetry.HEALTH.set_running(False, "RuntimeError: boom")
        status, text = get(base + "/healthz")
        assert status == 503 and "boom" in text
        assert get(base + "/nothing")[0] == 404
    finally:
        server.stop()


def test_the_kafka_check_marks_an_unreachable_broker_down(live):
    from tests.broker import free_port

    telemetry.HEALTH.set_running(True)
    bootstrap = f"127.0.0.1:{free_port()}"  # nobody listens there
    monitor = telemetry.KafkaMonitor(bootstrap, ["t"], "g", timeout=1.0)
    assert monitor.check() is False
    assert total("wire_ingest_kafka_broker_up", bootstrap=bootstrap) == 0
    assert total("wire_ingest_kafka_last_check_timestamp_seconds", bootstrap=bootstrap) > 0
    ok, text = telemetry.HEALTH.healthz()
    assert not ok and bootstrap in text


# ---- the options ---------------------------------------------------------------------------------


@pytest.mark.parametrize("args, option", [
    (["--metrics-address", "0.0.0.0"], "--metrics-address"),
    (["--metrics-port", "70000"], "--metrics-port"),
    (["--metrics-port", "-1"], "--metrics-port"),
    (["--metrics-port", "0", "--metrics-address", " "], "--metrics-address"),
    (["--metrics-port", "0", "--runner", "PortableRunner"], "--metrics-port"),
    (["--metrics-port", "0", "--direct_running_mode", "multi_processing"], "--metrics-port"),
    (["--metrics-port", "0", "--runner", "PrismRunner", "--environment_type", "DOCKER"],
     "--metrics-port"),
])
def test_metrics_options_that_cannot_work_are_refused_naming_the_option(args, option, tmp_path,
                                                                         capsys):
    code = cli.main(["run", "--input", str(SEED), "--output", str(tmp_path), *args])
    assert code == 2
    err = capsys.readouterr().err
    assert option in err, err
    assert not list(tmp_path.glob("*.avro")), "refused before anything ran"


def test_a_port_already_taken_is_refused_with_exit_2(tmp_path, capsys):
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    try:
        code = cli.main(["run", "--input", str(SEED), "--output", str(tmp_path),
                         "--metrics-port", str(taken.getsockname()[1])])
    finally:
        taken.close()
        telemetry.reset_for_tests()
    assert code == 2
    assert "--metrics-port" in capsys.readouterr().err


def test_a_batch_run_with_metrics_serves_then_stops_and_summarizes(tmp_path, capsys):
    try:
        code = cli.main(["run", "--input", str(SEED), "--output", str(tmp_path),
                         "--metrics-port", "0", "--metrics-address", "127.0.0.1"])
    finally:
        telemetry.reset_for_tests()
    captured = capsys.readouterr()
    assert code == 0
    port = int(re.search(r"live metrics at http://127\.0\.0\.1:(\d+)/metrics", captured.err).group(1))
    assert "balanced: read 1 = written 1" in captured.out
    with pytest.raises(OSError):  # the server stopped with the run
        urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2)


# ---- deploy/: alert rules and dashboard name only exported metrics -------------------------------

METRIC = re.compile(r"\bwire_ingest_[a-z0-9_]+\b")


def promql_names(expr: str) -> set[str]:
    return set(METRIC.findall(expr))


def balanced_brackets(expr: str) -> bool:
    stack = []
    pairs = {")": "(", "]": "[", "}": "{"}
    for char in re.sub(r'"[^"]*"', '""', expr):
        if char in "([{":
            stack.append(char)
        elif char in pairs:
            if not stack or stack.pop() != pairs[char]:
                return False
    return not stack


def alert_rules() -> list[dict]:
    document = yaml.safe_load(RULES.read_text())
    return [rule for group in document["groups"] for rule in group["rules"]]


def test_alert_rules_parse_and_cover_the_four_incidents():
    rules = alert_rules()
    names = {rule["alert"] for rule in rules}
    assert {"WireIngestFeedSilent", "WireIngestKafkaLagGrowing", "WireIngestDeadLetterRateHigh",
            "WireIngestRunNotBalanced"} <= names
    for rule in rules:
        assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}, rule["alert"]
        assert re.fullmatch(r"\d+[smh]", rule["for"]), rule["alert"]
        assert rule["labels"]["severity"] in ("warning", "critical")
        assert rule["annotations"]["summary"]
        assert balanced_brackets(rule["expr"]), rule["alert"]
        assert promql_names(rule["expr"]), f"{rule['alert']} names no wire-ingest metric"
    scrape = yaml.safe_load(SCRAPE.read_text())
    assert scrape["rule_files"] == [RULES.name]


def test_alert_rules_and_dashboard_name_only_metrics_the_code_exports():
    exported = telemetry.EXPORTED_METRICS
    for rule in alert_rules():
        unknown = promql_names(rule["expr"]) - exported
        assert not unknown, f"{rule['alert']}: {unknown}"
    dashboard = json.loads(DASHBOARD.read_text())
    used = set()
    for panel in dashboard["panels"]:
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert balanced_brackets(target["expr"]), panel["title"]
            names = promql_names(target["expr"])
            assert names, f"{panel['title']}: {target['expr']}"
            assert not names - exported, f"{panel['title']}: {names - exported}"
            used |= names
    for variable in dashboard["templating"]["list"]:
        assert not promql_names(variable.get("query", "")) - exported
    # The metrics all have a panel.
    assert {"wire_ingest_read_total", "wire_ingest_written_total", "wire_ingest_dead_letters_total",
            "wire_ingest_duplicates_dropped_total",
            "wire_ingest_source_last_record_timestamp_seconds", "wire_ingest_kafka_consumer_lag",
            "wire_ingest_kafka_records_unacknowledged", "wire_ingest_stage_seconds_bucket"} <= used


def test_exported_names_are_what_a_scrape_shows(live):
    """EXPORTED_METRICS, which the test above checks against, is what the registry
    really serves once every metric has a sample."""
    from prometheus_client import generate_latest

    for name, (_, labels) in telemetry.COUNTERS.items():
        telemetry.count(name, 1, **{label: "x" for label in labels})
    for name, (_, labels, _) in telemetry.HISTOGRAMS.items():
        telemetry.observe(name, 0.1, **{label: "x" for label in labels})
    for name, (_, labels) in telemetry.GAUGES.items():
        telemetry.set_gauge(name, 1, **{label: "x" for label in labels})
    text = generate_latest(telemetry.registry()).decode()
    served = {line.split("{")[0].split(" ")[0] for line in text.splitlines()
              if line and not line.startswith("#")}
    served = {name for name in served if not name.endswith("_created")}
    assert served == telemetry.EXPORTED_METRICS


def test_flink_configurations_turn_on_the_prometheus_reporter():
    compose = yaml.safe_load((REPO / "deploy" / "flink" / "docker-compose.yml").read_text())
    config = yaml.safe_load(compose["x-flink-config"])
    factory = "org.apache.flink.metrics.prometheus.PrometheusReporterFactory"
    assert config["metrics.reporter.prom.factory.class"] == factory
    assert "9249:9249" in compose["services"]["jobmanager"]["ports"]
    deployment = yaml.safe_load((REPO / "deploy" / "flink" / "k8s" / "flinkdeployment.yaml").read_text())
    assert deployment["spec"]["flinkConfiguration"]["metrics.reporter.prom.factory.class"] == factory
