"""Kafka source benchmark: read+decode throughput against a bare consumer, and end-to-end latency.

Starts an Apache Kafka broker on a free loopback port (tests/broker.py), fills a
3-partition topic with Reuters-21578 stories (one message per story, from
../shared/corpora), then, in the same run:

1. throughput: a bare kafka-python consumer (assign + seek, poll to the end
   offsets, touching every value) against ``ReadWireStoriesFromKafka``
   (bounded, start=earliest) counting ``RawInput`` records, on the batch
   runner (FnApiRunner) and on the local streaming runner (Prism); reports records/s
   and the ratio to the bare consumer (target >= 0.5). The pipeline figures
   include pipeline start-up.
2. latency: an unbounded pipeline (source -> ProcessStories ->
   WriteStoriesToKafka) while ``replay_to_kafka`` publishes at a steady rate
   with send-time timestamps; latency of a story = timestamp of its output
   message (producer send time, after processing) - timestamp of its input
   message; reports p50, p99 and max.
3. run (``--chain run``): the whole ``wire-ingest run`` command as a child
   process (unbounded Kafka read, ProcessStories with dedup, Kafka sink,
   windowed Avro files, offset commits), fed at ``--rate`` after a short
   warm-up; reports the produce-to-Kafka-sink latency (p50, p99, max), the
   throughput received over the run, and the seconds from the last send until
   the group's offsets are committed to the end (records in the Avro files of
   every closed window). ``--pid-file PATH`` writes the child's pid, for a
   profiler.
4. drain (``--drain N``): the whole ``wire-ingest run`` pipeline (unbounded
   Kafka read, ProcessStories, windowed Avro files, offset commits) is kept
   live with a few stories stamped now, then N Reuters stories are published
   at once, stamped with their 1987 event times (``old``: an archive replayed
   into a live topic, far behind the watermark) or with the send time
   (``now``: the control); reports the seconds from the last send until all N
   are in the output files, and until the group's offsets are committed to
   the end.

Usage: .venv/bin/python bench/kafka_bench.py [--messages 20000] [--rate 20] [--seconds 30]
       .venv/bin/python bench/kafka_bench.py --skip-throughput --chain run --rate 40 --seconds 60
       .venv/bin/python bench/kafka_bench.py --drain 200 --skip-latency --skip-throughput
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import apache_beam as beam  # noqa: E402
from apache_beam.options.pipeline_options import PipelineOptions  # noqa: E402
from kafka import KafkaConsumer, TopicPartition  # noqa: E402

from pipelines.runners import resolve_runner  # noqa: E402
from tests.broker import KafkaBroker  # noqa: E402
from transforms.io.kafka_source import ReadWireStoriesFromKafka, close_kafka_readers  # noqa: E402
from transforms.io.kafka_sink import WriteStoriesToKafka, decode_story_message  # noqa: E402
from transforms.io.replay import replay_to_kafka  # noqa: E402

CORPUS = REPO.parent / "shared" / "corpora" / "reuters21578"


def bare_consumer(bootstrap: str, topic: str, partitions: int) -> tuple[int, float]:
    """Records read and seconds taken by a plain consumer reading the topic to its end."""
    tps = [TopicPartition(topic, p) for p in range(partitions)]
    probe = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    end = probe.end_offsets(tps)
    probe.close()
    started = time.perf_counter()
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    consumer.assign(tps)
    consumer.seek_to_beginning()
    count, size, done = 0, 0, set()
    while len(done) < len(tps):
        for tp, records in consumer.poll(timeout_ms=500, max_records=500).items():
            for record in records:
                count += 1
                size += len(record.value)
            if consumer.position(tp) >= end[tp]:
                done.add(tp)
    consumer.close()
    return count, time.perf_counter() - started


def source_pipeline(bootstrap: str, topic: str, streaming: bool) -> tuple[int, float]:
    """Records read and seconds taken by ReadWireStoriesFromKafka (bounded), start-up included."""
    options = PipelineOptions(["--streaming"] if streaming else [])
    pipeline = beam.Pipeline(runner=resolve_runner(options), options=options)
    started = time.perf_counter()
    raw = pipeline | ReadWireStoriesFromKafka(bootstrap, topic, start="earliest", stop_at_end=True)
    raw | beam.Map(lambda r: len(r.raw))  # touch every value, as the bare consumer does
    result = pipeline.run()
    result.wait_until_finish()
    seconds = time.perf_counter() - started
    from apache_beam.metrics.metric import MetricsFilter

    query = result.metrics().query(MetricsFilter().with_name("kafka_records_read"))
    records = sum(c.committed or c.attempted or 0 for c in query["counters"])
    close_kafka_readers(bootstrap)
    return records, seconds


def _bare_story(raw):
    """A Story straight from the raw input: measures the Kafka path alone."""
    from transforms.model import Story

    return Story(id=raw.source.record_id(), format="raw", headline="", body="",
                 source=raw.source, ingested_at=raw.event_time, event_time=raw.event_time)


def latency(broker: KafkaBroker, rate: float, seconds: float, chain: str) -> dict:
    """Produce-to-written latency; ``chain`` is ``kafka`` (source -> sink) or ``full``
    (source -> ProcessStories -> sink)."""
    from transforms.enrich import EVENT_TIME_FROM_SOURCE
    from transforms.process import ProcessStories

    topic = broker.new_topic("live", 3)
    out = broker.new_topic("live-out", 1)
    options = PipelineOptions(["--streaming"])
    pipeline = beam.Pipeline(runner=resolve_runner(options), options=options)
    raw = pipeline | ReadWireStoriesFromKafka(broker.bootstrap, topic, group="bench", start="earliest")
    if chain == "full":
        stories = (raw | ProcessStories(event_time_from=EVENT_TIME_FROM_SOURCE))[ProcessStories.STORIES]
    else:
        stories = raw | beam.Map(_bare_story)
    stories | WriteStoriesToKafka(broker.bootstrap, out)
    result = pipeline.run()
    time.sleep(5)  # let the readers start
    count = int(rate * seconds)
    sent = replay_to_kafka([CORPUS / "reut2-001.sgm", CORPUS / "reut2-002.sgm"], broker.bootstrap,
                           topic, rate=rate, timestamps="now", max_messages=count)
    latencies = output_latencies(broker.bootstrap, out, sent, time.monotonic() + 90)
    result.cancel()
    close_kafka_readers(broker.bootstrap)
    latencies.sort()
    if not latencies:
        return {"chain": chain, "sent": sent, "received": 0}
    return {
        "chain": chain, "rate_per_s": rate, "sent": sent, "received": len(latencies),
        "p50_ms": latencies[len(latencies) // 2],
        "p99_ms": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
        "max_ms": latencies[-1], "mean_ms": round(statistics.mean(latencies), 1),
    }


def output_latencies(bootstrap: str, out: str, expect: int, deadline: float) -> list[int]:
    """Milliseconds from each input message to its story on partition 0 of ``out``
    (broker timestamps of both), read from the start until ``expect`` or ``deadline``."""
    # A fetch may bring more than kafka-python's default largest frame (1,000,000 bytes).
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                             receive_message_max_bytes=64 << 20)
    consumer.assign([TopicPartition(out, 0)])
    consumer.seek_to_beginning()
    latencies: list[int] = []
    while len(latencies) < expect and time.monotonic() < deadline:
        for records in consumer.poll(timeout_ms=500).values():
            for record in records:
                story = decode_story_message(record.value)
                produced = int(story["source"]["timestamp"].timestamp() * 1000)
                latencies.append(record.timestamp - produced)
    consumer.close()
    return latencies


def _percentiles(chain: str, rate: float, sent: int, latencies: list) -> dict:
    latencies = sorted(latencies)
    if not latencies:
        return {"chain": chain, "rate_per_s": rate, "sent": sent, "received": 0}
    return {
        "chain": chain, "rate_per_s": rate, "sent": sent, "received": len(latencies),
        "p50_ms": latencies[len(latencies) // 2],
        "p99_ms": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
        "max_ms": latencies[-1], "mean_ms": round(statistics.mean(latencies), 1),
    }


def committed_total(bootstrap: str, group: str, topic: str, partitions: int = 3) -> int:
    """The group's committed offsets on ``topic``, summed over its partitions."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    try:
        return sum(consumer.committed(TopicPartition(topic, p)) or 0 for p in range(partitions))
    finally:
        consumer.close()


def latency_run(broker: KafkaBroker, rate: float, seconds: float, workdir: Path,
                pid_file: str = "") -> dict:
    """The ``wire-ingest run`` command under a steady replay: latency to its Kafka
    sink, throughput, and how long after the last send the offsets are committed."""
    import threading

    from tests.reliability import PipelineProcess

    topic = broker.new_topic("run", 3)
    out = broker.new_topic("run-out", 1)
    group = "bench-run"
    output = workdir / "out-run"
    process = PipelineProcess([f"--kafka-bootstrap={broker.bootstrap}", f"--kafka-topic={topic}",
                               f"--kafka-group={group}", "--kafka-start=earliest",
                               f"--kafka-output-topic={out}", f"--output={output}"],
                              workdir / "run.log").start()
    if pid_file:
        Path(pid_file).write_text(str(process.process.pid))
    consumer = KafkaConsumer(bootstrap_servers=broker.bootstrap, enable_auto_commit=False)
    consumer.assign([TopicPartition(out, 0)])
    consumer.seek_to_beginning()
    received: list = []  # (receive wall ms, latency ms) of each story after the warm-up
    stop = threading.Event()

    def consume(warm_up: list) -> None:
        while not stop.is_set():
            for records in consumer.poll(timeout_ms=200).values():
                for record in records:
                    story = decode_story_message(record.value)
                    produced = int(story["source"]["timestamp"].timestamp() * 1000)
                    if not warm_up:
                        received.append((time.time() * 1000, record.timestamp - produced))
                    else:
                        warm_up.pop()

    def committed() -> int:
        return committed_total(broker.bootstrap, group, topic)

    try:
        warm = replay_to_kafka([CORPUS / "reut2-003.sgm"], broker.bootstrap, topic,
                               timestamps="now", max_messages=10)
        pending_warm_up = [None] * warm
        reader = threading.Thread(target=consume, args=(pending_warm_up,), daemon=True)
        reader.start()
        deadline = time.monotonic() + 180
        while pending_warm_up and time.monotonic() < deadline and process.alive():
            time.sleep(0.2)
        if pending_warm_up:
            return {"chain": "run", "error": "warm-up stories never came out",
                    "log": process.log_tail(2000)}
        count = int(rate * seconds)
        started = time.time() * 1000
        sent = replay_to_kafka([CORPUS / "reut2-001.sgm", CORPUS / "reut2-002.sgm"],
                               broker.bootstrap, topic, rate=rate, timestamps="now",
                               max_messages=count)
        last_send = time.monotonic()
        deadline = last_send + 90
        while len(received) < sent and time.monotonic() < deadline:
            time.sleep(0.2)
        report = _percentiles("run", rate, sent, [latency for _, latency in received])
        if received:
            span = (max(at for at, _ in received) - started) / 1000
            report["received_per_s"] = round(len(received) / span, 1)
        while committed() < warm + sent and time.monotonic() < deadline:
            time.sleep(0.5)
        report["committed_after_last_send_s"] = round(time.monotonic() - last_send, 1)
        report["committed"] = committed() - warm
        return report
    finally:
        stop.set()
        process.stop()
        consumer.close()


def drain(broker: KafkaBroker, count: int, timestamps: str, workdir: Path) -> dict:
    """Seconds for ``count`` stories published at once into a live pipeline to be
    written and committed; ``timestamps``: ``event`` (1987) or ``now``."""
    import glob

    import fastavro

    from pipelines.options import IngestOptions
    from pipelines.ingest import build_pipeline

    topic = broker.new_topic(f"drain-{timestamps}", 3)
    output = workdir / f"out-{timestamps}"
    group = f"drain-{timestamps}"
    options = IngestOptions([f"--kafka-bootstrap={broker.bootstrap}", f"--kafka-topic={topic}",
                             f"--kafka-group={group}", "--kafka-start=earliest",
                             f"--output={output}", "--streaming"])
    pipeline = beam.Pipeline(runner=resolve_runner(options), options=options)
    build_pipeline(pipeline, options)

    def written() -> int:
        total = 0
        for path in glob.glob(str(output / "stories-*.avro")):
            with open(path, "rb") as handle:
                total += sum(1 for _ in fastavro.reader(handle))
        return total

    def committed() -> int:
        return committed_total(broker.bootstrap, group, topic)

    result = pipeline.run()
    try:
        live = replay_to_kafka([CORPUS / "reut2-003.sgm"], broker.bootstrap, topic,
                               timestamps="now", max_messages=10)
        deadline = time.monotonic() + 120
        while written() < live and time.monotonic() < deadline:
            time.sleep(0.5)
        time.sleep(6)  # the watermark passes the live stories: now the pipeline is live
        sent = replay_to_kafka([CORPUS / "reut2-004.sgm"], broker.bootstrap, topic,
                               timestamps=timestamps, max_messages=count)
        started = time.monotonic()
        report: dict = {"timestamps": timestamps, "stories": sent}
        deadline = started + 600
        while written() < live + sent and time.monotonic() < deadline:
            time.sleep(0.5)
        report["written_after_s"] = round(time.monotonic() - started, 1)
        report["written"] = written() - live
        report["story_files"] = len(glob.glob(str(output / "stories-*.avro")))
        while committed() < live + sent and time.monotonic() < deadline:
            time.sleep(0.5)
        report["committed_after_s"] = round(time.monotonic() - started, 1)
        return report
    finally:
        result.cancel()
        close_kafka_readers(broker.bootstrap)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=20000, help="messages in the topic (default 20000)")
    parser.add_argument("--rate", type=float, default=20.0, help="replay rate for latency, msg/s (default 20)")
    parser.add_argument("--seconds", type=float, default=30.0, help="latency run length in s (default 30)")
    parser.add_argument("--skip-latency", action="store_true")
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--chain", choices=("kafka", "full", "both", "run", "all"), default="both",
                        help="latency of source->sink (kafka), source->ProcessStories->sink (full), "
                             "both of these, the whole 'wire-ingest run' command (run), or all three")
    parser.add_argument("--pid-file", default="", help="with --chain run: write its pid here")
    parser.add_argument("--drain", type=int, default=0,
                        help="also time N stories published at once into a live pipeline, "
                             "stamped 1987 and stamped now (default 0: skip)")
    args = parser.parse_args()
    if not CORPUS.exists():
        sys.exit(f"corpus absent: {CORPUS}")
    report: dict = {}
    with KafkaBroker() as broker:
        if args.drain:
            import tempfile

            with tempfile.TemporaryDirectory() as workdir:
                for timestamps in ("event", "now"):
                    report[f"drain_{timestamps}"] = drain(broker, args.drain, timestamps, Path(workdir))
        if not args.skip_latency:
            chains = {"both": ("kafka", "full"), "all": ("kafka", "full", "run")}.get(
                args.chain, (args.chain,))
            for chain in chains:
                if chain == "run":
                    import tempfile

                    with tempfile.TemporaryDirectory() as workdir:
                        report["latency_run"] = latency_run(broker, args.rate, args.seconds,
                                                            Path(workdir), args.pid_file)
                else:
                    report[f"latency_{chain}"] = latency(broker, args.rate, args.seconds, chain)
        if args.skip_throughput:
            print(json.dumps(report, indent=2))
            return
        topic = broker.new_topic("bench", 3)
        files = sorted(CORPUS.glob("reut2-*.sgm"))
        started = time.perf_counter()
        sent = replay_to_kafka(files, broker.bootstrap, topic, loop=True, max_messages=args.messages,
                               timestamps="now")
        report["fill"] = {"messages": sent, "seconds": round(time.perf_counter() - started, 2)}
        count, seconds = bare_consumer(broker.bootstrap, topic, 3)
        report["bare_consumer"] = {"records": count, "seconds": round(seconds, 2),
                                   "records_per_s": round(count / seconds)}
        for name, streaming in (("source_batch_runner", False), ("source_streaming_runner", True)):
            records, seconds = source_pipeline(broker.bootstrap, topic, streaming)
            report[name] = {"records": records, "seconds": round(seconds, 2),
                            "records_per_s": round(records / seconds),
                            "ratio_to_bare": round((records / seconds) / (count / report["bare_consumer"]["seconds"]), 2)}
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
