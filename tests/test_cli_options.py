"""Options of ``wire-ingest run`` that are checked before anything starts."""

from __future__ import annotations

import pytest

from pipelines import cli
from pipelines.options import IngestOptions
from pipelines.ingest import build_pipeline
from tests.conftest import SEED


def test_a_negative_watermark_delay_is_refused_naming_the_option(tmp_path, capsys):
    code = cli.main(["run", "--kafka-bootstrap", "127.0.0.1:1", "--kafka-topic", "t",
                     "--output", str(tmp_path), "--kafka-watermark-delay", "-1"])
    assert code == 2
    assert "--kafka-watermark-delay" in capsys.readouterr().err


@pytest.mark.parametrize("delay", [0.5, 5.0])
def test_the_watermark_delay_reaches_the_kafka_reader(delay, monkeypatch, tmp_path):
    import apache_beam as beam

    from transforms.io import kafka_source

    seen = {}
    original = kafka_source.ReadWireStoriesFromKafka.__init__

    def record(self, *args, **kwargs):
        seen.update(kwargs)
        original(self, *args, **kwargs)

    monkeypatch.setattr(kafka_source.ReadWireStoriesFromKafka, "__init__", record)
    monkeypatch.setattr(kafka_source, "check_broker", lambda *a, **k: None)
    options = IngestOptions(["--kafka-bootstrap", "127.0.0.1:1", "--kafka-topic", "t",
                             "--kafka-stop-at-end", "--output", str(tmp_path),
                             "--kafka-watermark-delay", str(delay), "--input", str(SEED)])
    build_pipeline(beam.Pipeline(), options)
    assert seen["watermark_delay"] == delay


# ---- Kafka sinks: every dead letter lands somewhere, both topics speak one framing ------------

KAFKA_IN = ["--kafka-bootstrap", "127.0.0.1:1", "--kafka-topic", "t", "--kafka-stop-at-end"]


@pytest.mark.parametrize("args, option, words", [
    (["--kafka-output-topic", "s"], "--kafka-dead-letter-topic", "written nowhere"),
    (["--output", "OUT", "--kafka-confluent-schema-id", "1"], "--kafka-confluent-schema-id",
     "--kafka-output-topic"),
    (["--output", "OUT", "--kafka-dead-letter-confluent-schema-id", "2"],
     "--kafka-dead-letter-confluent-schema-id", "--kafka-dead-letter-topic"),
    (["--kafka-output-topic", "s", "--kafka-dead-letter-topic", "d", "--kafka-confluent-schema-id", "1"],
     "--kafka-dead-letter-confluent-schema-id", "own registry id"),
    (["--kafka-output-topic", "s", "--kafka-dead-letter-topic", "d",
      "--kafka-dead-letter-confluent-schema-id", "2"], "--kafka-confluent-schema-id", "own registry id"),
    (["--kafka-output-topic", "s", "--kafka-dead-letter-topic", "d", "--kafka-confluent-schema-id", "3",
      "--kafka-dead-letter-confluent-schema-id", "3"], "--kafka-dead-letter-confluent-schema-id",
     "must differ"),
    (["--output", "OUT", "--kafka-output-topic", "s", "--kafka-confluent-schema-id", "-1"],
     "--kafka-confluent-schema-id", "registry id"),
    (["--output", "OUT", "--kafka-dead-letter-topic", "d",
      "--kafka-dead-letter-confluent-schema-id", str(2 ** 31)],
     "--kafka-dead-letter-confluent-schema-id", "registry id"),
])
def test_kafka_sink_combinations_that_cannot_work_are_refused_naming_the_option(
        args, option, words, tmp_path, capsys):
    args = [str(tmp_path) if arg == "OUT" else arg for arg in args]
    code = cli.main(["run", *KAFKA_IN, *args])
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith(f"wire-ingest run: {option}:"), err
    assert words in err, err


@pytest.mark.parametrize("args, schema_ids", [
    (["--kafka-output-topic", "s", "--kafka-dead-letter-topic", "d"], (None, None)),
    (["--kafka-output-topic", "s", "--kafka-dead-letter-topic", "d", "--kafka-confluent-schema-id", "1",
      "--kafka-dead-letter-confluent-schema-id", "2"], (1, 2)),
    (["--output", "OUT", "--kafka-output-topic", "s", "--kafka-confluent-schema-id", "0"], (0, None)),
    (["--output", "OUT", "--kafka-dead-letter-topic", "d", "--kafka-dead-letter-confluent-schema-id", "2"],
     (None, 2)),
    (["--output", "OUT", "--kafka-output-topic", "s", "--kafka-dead-letter-topic", "d"], (None, None)),
])
def test_kafka_sink_combinations_that_work_are_accepted(args, schema_ids, tmp_path):
    from pipelines.options import validate

    args = [str(tmp_path) if arg == "OUT" else arg for arg in args]
    options = IngestOptions([*KAFKA_IN, *args])
    validate(options)  # raises ValueError when refused
    assert (options.kafka_confluent_schema_id, options.kafka_dead_letter_confluent_schema_id) == schema_ids


@pytest.mark.parametrize("args, stories, dead_letters", [
    (["--output", "OUT"], ("files",), ("files",)),
    (["--kafka-output-topic", "s", "--kafka-dead-letter-topic", "d"], ("kafka",), ("kafka",)),
    (["--output", "OUT", "--kafka-output-topic", "s"], ("kafka", "files"), ("files",)),
    (["--output", "OUT", "--kafka-output-topic", "s", "--kafka-dead-letter-topic", "d"],
     ("kafka", "files"), ("kafka", "files")),
])
def test_the_summary_knows_the_sinks_in_chain_order(args, stories, dead_letters, tmp_path):
    from pipelines.options import configured_sinks

    args = [str(tmp_path) if arg == "OUT" else arg for arg in args]
    assert configured_sinks(IngestOptions([*KAFKA_IN, *args])) == (stories, dead_letters)


@pytest.mark.parametrize("with_files", [False, True])
def test_the_kafka_sinks_get_their_own_schema_ids_and_only_the_last_sink_breaks_down(
        with_files, monkeypatch, tmp_path):
    import apache_beam as beam

    from transforms.io import kafka_sink
    from transforms.io import kafka_source

    seen = {}

    def record(cls):
        original = cls.__init__

        def init(self, bootstrap, topic, **kwargs):
            seen[cls.KIND] = kwargs
            original(self, bootstrap, topic, **kwargs)
        monkeypatch.setattr(cls, "__init__", init)

    record(kafka_sink.WriteStoriesToKafka)
    record(kafka_sink.WriteDeadLettersToKafka)
    monkeypatch.setattr(kafka_source, "check_broker", lambda *a, **k: None)
    files = ["--output", str(tmp_path)] if with_files else []
    options = IngestOptions([*KAFKA_IN, *files, "--kafka-output-topic", "s", "--kafka-dead-letter-topic",
                             "d", "--kafka-confluent-schema-id", "21",
                             "--kafka-dead-letter-confluent-schema-id", "22"])
    build_pipeline(beam.Pipeline(), options)
    # With files the file sink is last in both chains and breaks the records down, not Kafka.
    assert seen["story"] == {"confluent_schema_id": 21, "breakdown": not with_files}
    assert seen["dead_letter"] == {"confluent_schema_id": 22, "breakdown": not with_files}
