"""Soak: replay the corpora into Kafka in a loop while the streaming pipeline runs.

Usage::

    .venv/bin/python bench/soak.py --minutes 30 [--rate 40] [--bootstrap HOST:PORT]
        [--corpora ../shared/corpora] [--output DIR] [--dedup-horizon-hours 0.1]
        [--interval 15] [--report soak.json] [--dedup-order event-time|arrival]

Without ``--bootstrap`` an Apache Kafka broker is started on a free loopback port
(``tests/broker.py``) and stopped at the end. The corpora's Reuters-21578
archives are cut into one message per story and every file of
``wire_formats/`` is one message (``transforms.io.replay.iter_replay_messages``,
the messages ``wire-ingest replay`` sends), published with the send time as
record timestamp, round after round, at ``--rate`` messages per second, into
a 3-partition topic. ``wire-ingest run`` reads the topic as a separate
process and writes Avro files to ``--output``.

Every ``--interval`` seconds it prints: elapsed time, messages sent, items
written (stories + dead letters, read back from the Avro files), throughput
over the interval, consumer lag (messages sent but not yet covered by the
output) and the pipeline's resident memory (RSS, from /proc). The dedup
horizon is short by default (6 minutes of event time) so that its state
fills and expires within a soak: memory should then stay flat.

At the end the producer stops, the pipeline is given time to catch up, and
the balance is checked from the output: every offset sent is covered,
each message's items are all there (a package of N items gives N records),
and read = written + dead-lettered (the pipeline runs in ``mark`` mode, so
nothing is dropped). The exit code is 0 when balanced.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.reliability import PipelineProcess  # noqa: E402
from transforms.dedup.core import DEDUP_ORDERS, EVENT_TIME_ORDER  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=30.0, help="Soak duration in minutes (default 30).")
    parser.add_argument("--rate", type=float, default=40.0, help="Messages per second sent (default 40).")
    parser.add_argument("--bootstrap", default=None, help="Broker HOST:PORT (default: start Apache Kafka).")
    parser.add_argument("--corpora", default=str(REPO.parent / "shared" / "corpora"),
                        help="Corpora folder (default ../shared/corpora).")
    parser.add_argument("--output", default=None, help="Pipeline output directory (default: a temp dir).")
    parser.add_argument("--dedup-horizon-hours", type=float, default=0.1,
                        help="Dedup horizon given to the pipeline, in hours (default 0.1).")
    parser.add_argument("--dedup-order", choices=DEDUP_ORDERS, default=EVENT_TIME_ORDER,
                        help="--dedup-order of the streaming pipeline (default event-time; "
                             "--mode cycles runs bounded, event-time only).")
    parser.add_argument("--pipeline-args", default="",
                        help="Space-separated options added to the 'wire-ingest run' command "
                             "(give it with '=': --pipeline-args='--max_cache_memory_usage_mb=1024').")
    parser.add_argument("--interval", type=float, default=15.0, help="Seconds between samples (default 15).")
    parser.add_argument("--catch-up", type=float, default=180.0,
                        help="Seconds the pipeline gets to finish after the producer stops (default 180).")
    parser.add_argument("--report", default=None, help="Also write the samples and balance to this JSON file.")
    parser.add_argument("--mode", choices=("streaming", "cycles"), default="streaming",
                        help="streaming: one unbounded 'wire-ingest run' for the whole soak (default); "
                             "cycles: back-to-back bounded runs (--kafka-stop-at-end), each from the "
                             "group's committed offsets, as a cron-driven deployment would run.")
    args = parser.parse_args(argv)
    if args.mode == "cycles" and args.dedup_order != EVENT_TIME_ORDER:
        parser.error("--dedup-order arrival: streaming sources only; --mode cycles runs bounded")
    return args


def load_messages(corpora: Path) -> list:
    from transforms.io.replay import iter_replay_messages

    folders = [corpora / "reuters21578", corpora / "wire_formats"]
    missing = [str(f) for f in folders if not f.is_dir()]
    if missing:
        raise SystemExit(f"soak: corpora not found: {', '.join(missing)}")
    return list(iter_replay_messages(folders))


class Producer(threading.Thread):
    """Publishes the corpus round after round at a steady rate until stopped."""

    def __init__(self, bootstrap: str, topic: str, corpus: list, rate: float):
        super().__init__(daemon=True)
        self.bootstrap, self.topic, self.corpus, self.rate = bootstrap, topic, corpus, rate
        self.sent = 0
        self.rounds = 0
        self.acks: dict[int, int] = {}  # partition -> highest acknowledged offset + 1
        self.error: BaseException | None = None
        self._halt = threading.Event()
        self._lock = threading.Lock()

    def stop(self) -> None:
        self._halt.set()

    def _acked(self, metadata) -> None:
        with self._lock:
            self.acks[metadata.partition] = max(self.acks.get(metadata.partition, 0), metadata.offset + 1)

    def run(self) -> None:
        from kafka import KafkaProducer

        from transforms.io.kafka_common import FORMAT_HEADER

        producer = KafkaProducer(bootstrap_servers=self.bootstrap, acks="all", linger_ms=10, retries=20)
        started = time.monotonic()
        try:
            while not self._halt.is_set():
                for message in self.corpus:
                    if self._halt.is_set():
                        break
                    headers = [(FORMAT_HEADER, message.format.encode())] if message.format else []
                    future = producer.send(self.topic, value=message.value, key=message.key, headers=headers,
                                           timestamp_ms=int(time.time() * 1000))
                    future.add_callback(self._acked)
                    self.sent += 1
                    delay = started + self.sent / self.rate - time.monotonic()
                    if delay > 0:
                        time.sleep(delay)
                else:
                    self.rounds += 1
            producer.flush(60)
        except BaseException as error:  # reported by the main loop
            self.error = error
        finally:
            producer.close(10)


class OutputReader:
    """Reads new Avro files as they appear; keeps what the balance needs."""

    def __init__(self, output: Path):
        self.output = output
        self.seen_files: set[str] = set()
        self.stories = 0
        self.dead = 0
        self.statuses: Counter = Counter()
        self.reasons: Counter = Counter()
        # (partition, offset) -> (item count expected, set of item indices written)
        self.items: dict[tuple[int, int], set] = defaultdict(set)

    def scan(self) -> None:
        import fastavro

        if not self.output.is_dir():
            return
        for path in sorted(self.output.glob("*.avro")):
            if path.name in self.seen_files:
                continue
            self.seen_files.add(path.name)
            with open(path, "rb") as handle:
                for record in fastavro.reader(handle):
                    source = record["source"]
                    key = (source["partition"], source["offset"])
                    self.items[key].add(source["item_index"])
                    if path.name.startswith("stories-"):
                        self.stories += 1
                        self.statuses[record["dedup"]["status"]] += 1
                    else:
                        self.dead += 1
                        self.reasons[record["reason"]] += 1

    @property
    def written(self) -> int:
        return self.stories + self.dead

    def covered(self, ends: dict[int, int]) -> int:
        """Messages (offsets below ``ends``) with at least one record in the output."""
        return sum(1 for (partition, offset) in self.items if offset < ends.get(partition, 0))


def rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` and its children, MB."""
    total = 0
    pids = [pid]
    try:
        pids += [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        pass
    for each in pids:
        try:
            for line in Path(f"/proc/{each}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


def item_counts(corpus: list) -> dict:
    """How many items each message holds, by the project's own parser (for the balance)."""
    from transforms.model import RawInput, SourcePosition
    from transforms.parse import parse_raw_input

    counts = {}
    for message in corpus:
        raw = RawInput(raw=message.value, source=SourcePosition(kind="kafka", uri="soak"),
                       format_hint=message.format)
        counts[message.key, message.value] = len(parse_raw_input(raw))
    return counts


def main(argv=None) -> int:
    args = parse_args(argv)
    corpus = load_messages(Path(args.corpora))
    broker = None
    if args.bootstrap:
        bootstrap = args.bootstrap
    else:
        from tests.broker import KafkaBroker

        broker = KafkaBroker().start()
        bootstrap = broker.bootstrap
    output = Path(args.output or tempfile.mkdtemp(prefix="soak-"))
    work = Path(tempfile.mkdtemp(prefix="soak-work-"))
    from tests.broker import KafkaBroker as _Broker  # noqa: F401  (topic creation helper below)

    topic = f"soak-{os.getpid()}"
    _create_topic(bootstrap, topic)
    pipeline = PipelineProcess([
        f"--kafka-bootstrap={bootstrap}", f"--kafka-topic={topic}", "--kafka-group=soak",
        f"--output={output}", f"--dedup-horizon={args.dedup_horizon_hours}", "--window-seconds=10",
    ] + (["--kafka-stop-at-end"] if args.mode == "cycles" else [f"--dedup-order={args.dedup_order}"])
        + args.pipeline_args.split(),
        work / "pipeline.log")
    cycles = 0
    producer = Producer(bootstrap, topic, corpus, args.rate)
    reader = OutputReader(output)
    samples = []
    print(f"soak: {len(corpus)} messages per round at {args.rate}/s for {args.minutes} min; "
          f"broker {bootstrap}, topic {topic}, output {output}, log {pipeline.log_path}", flush=True)
    print(f"{'t(s)':>6} {'sent':>8} {'written':>8} {'rec/s':>7} {'lag':>7} {'rss(MB)':>8}", flush=True)
    started = time.monotonic()
    try:
        pipeline.start()
        producer.start()
        last_written, last_t = 0, 0.0
        end_at = started + args.minutes * 60
        while time.monotonic() < end_at:
            time.sleep(args.interval)
            if not pipeline.alive():
                if args.mode != "cycles" or pipeline.process.returncode != 0:
                    raise SystemExit(f"soak: pipeline exited with {pipeline.process.returncode}\n"
                                     f"{pipeline.log_tail()}")
                cycles += 1
                pipeline.start()  # the next bounded run, from the committed offsets
            if producer.error:
                raise SystemExit(f"soak: producer failed: {producer.error!r}")
            reader.scan()
            t = time.monotonic() - started
            sample = {
                "t": round(t, 1), "sent": producer.sent, "written": reader.written,
                "throughput": round((reader.written - last_written) / (t - last_t), 1),
                "lag": producer.sent - reader.covered(dict(producer.acks)),
                "rss_mb": round(rss_mb(pipeline.process.pid), 1), "cycles": cycles,
            }
            samples.append(sample)
            last_written, last_t = reader.written, t
            print(f"{sample['t']:>6.0f} {sample['sent']:>8} {sample['written']:>8} {sample['throughput']:>7} "
                  f"{sample['lag']:>7} {sample['rss_mb']:>8}", flush=True)
        producer.stop()
        producer.join(120)
        ends = dict(producer.acks)
        sent = sum(ends.values())
        deadline = time.monotonic() + args.catch_up
        while reader.covered(ends) < sent and time.monotonic() < deadline:
            if not pipeline.alive():
                if args.mode != "cycles" or pipeline.process.returncode != 0:
                    break
                cycles += 1
                pipeline.start()
            time.sleep(5)
            reader.scan()
        balance = check_balance(reader, ends, corpus, producer)
    finally:
        producer.stop()
        pipeline.stop()
        if broker is not None:
            broker.close()
    balance["bounded_runs"] = cycles if args.mode == "cycles" else None
    report = {"samples": samples, "balance": balance, "mode": args.mode, "output": str(output), "minutes": args.minutes,
              "rate": args.rate, "messages_per_round": len(corpus), "rounds": producer.rounds}
    print(json.dumps({"balance": balance}, indent=2))
    steady = [s["rss_mb"] for s in samples[len(samples) // 2:]]
    if steady:
        print(f"rss over the second half: min {min(steady)} MB, max {max(steady)} MB")
    if args.report:
        Path(args.report).write_text(json.dumps(report, indent=2))
    return 0 if balance["balanced"] else 1


def check_balance(reader: OutputReader, ends: dict[int, int], corpus: list, producer: Producer) -> dict:
    """Every message sent is in the output with all its items; read = written + dead letters."""
    sent = sum(ends.values())
    missing = [(p, o) for p, end in ends.items() for o in range(end) if (p, o) not in reader.items]
    # Items per message, as the parser splits it: the corpus repeats, so count per round.
    per_message = item_counts(corpus)
    expected_items = sum(per_message.values()) * producer.rounds + sum(
        per_message[m.key, m.value] for m in corpus[: producer.sent - producer.rounds * len(corpus)])
    written_items = sum(len(indices) for key, indices in reader.items.items() if key[1] < ends.get(key[0], 0))
    return {
        "messages_sent": sent,
        "messages_missing": len(missing),
        "first_missing": missing[:10],
        "items_expected": expected_items,
        "items_written_or_dead_lettered": written_items,
        "records_written": reader.stories,
        "records_dead_lettered": reader.dead,
        "records_total": reader.written,
        "redelivered_records": reader.written - written_items,
        "dedup_statuses": dict(reader.statuses),
        "dead_letter_reasons": dict(reader.reasons),
        "balanced": not missing and written_items == expected_items,
    }


def _create_topic(bootstrap: str, topic: str, partitions: int = 3) -> None:
    from kafka import KafkaAdminClient
    from kafka.admin import NewTopic

    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        admin.create_topics([NewTopic(topic, partitions, 1)])
    finally:
        admin.close()


if __name__ == "__main__":
    sys.exit(main())
