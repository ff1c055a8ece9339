"""Live metrics and health of a running pipeline, in Prometheus text.

Beam's own metrics reach the end-of-run summary only when a run ends, and a
streaming run never ends. So the steps that count with Beam ``Metrics``
also call ``count()`` here, which adds to a process-local Prometheus
registry; ``serve()`` (``wire-ingest run --metrics-port``) exposes it at
``/metrics`` with ``/healthz`` and ``/readyz`` beside it.

Process-local is enough on the local runners: the FnApiRunner (batch
DirectRunner) and Prism with ``--environment_type=LOOPBACK`` run the SDK
workers' bundles in this process. Elsewhere (Flink, a portable runner with
Docker workers) the updates land in processes nobody scrapes; there Beam's
metrics go to the runner's reporters (``deploy/flink``). Until ``enable()``
is called every helper returns at once, so a run without ``--metrics-port``
pays one boolean test per call.

Live counters count attempts: a bundle that fails and is retried counts its
records again, where the summary (Beam's committed counters) does not. A run
that retries no bundle shows the summary's figures.

Health: ``/healthz`` is 200 while the pipeline runs and every Kafka broker it
uses answered the last check (a background thread asks every few seconds,
and reads the group's lag while it is there); ``/readyz`` is 200 once every
configured source (drop folder, Kafka topic) has been opened.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Iterable, Optional

__all__ = ["enable", "enabled", "count", "observe", "stage_timer", "delivered", "source_opened",
           "kafka_read_position", "KafkaMonitor", "MetricsServer", "serve", "Health", "HEALTH",
           "EXPORTED_METRICS", "reset_for_tests"]

_LOG = logging.getLogger(__name__)

_enabled = False
_lock = threading.Lock()
_registry = None
_metrics: dict = {}

#: Counters of the end-of-run summary, as live counters: name -> (help, labels).
#: Exported as ``wire_ingest_<name>_total``.
COUNTERS = {
    "read": ("Items read (each item of a package once; an input failing as a whole once).",
             ("source_kind",)),
    "written": ("Stories written by the last sink of the story chain.",
                ("source_kind", "language")),
    "dead_letters": ("Dead letters written by the last sink of the dead-letter chain.",
                     ("source_kind", "reason")),
    "duplicates_dropped": ("Stories not written because --dedup-mode drop dropped them.",
                           ("source_kind", "status")),
    "dedup_decisions": ("Dedup statuses given to stories (mark and drop modes).",
                        ("source_kind", "status")),
    "kafka_records_read": ("Kafka records read by the Python reader.", ("topic", "partition")),
    "kafka_offset_commits": ("Offset commits of the consumer group (one per partition).",
                             ("topic",)),
}
#: Per-stage histograms: name -> (help, labels, buckets in seconds).
HISTOGRAMS = {
    "stage_seconds": ("Wall time a stage spends on one element (parse, normalize) or one "
                      "file (write).", ("stage",),
                      (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)),
    "story_latency_seconds": ("From a story's normalization to its write (dedup's wait for the "
                              "watermark included).", ("source_kind",),
                              (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600)),
}
#: Gauges: name -> (help, labels).
GAUGES = {
    "source_last_record_timestamp_seconds": ("Unix time a feed last delivered a record (a drop "
                                             "folder a file, a Kafka topic a record).",
                                             ("source", "kind")),
    "source_open": ("1 once a source (drop folder, Kafka topic) has been opened.",
                    ("source", "kind")),
    "kafka_read_offset": ("Next offset the reader will read, per partition.", ("topic", "partition")),
    "kafka_end_offset": ("Partition end offset (log end), as of the last check.",
                         ("topic", "partition")),
    "kafka_committed_offset": ("The consumer group's committed offset, as of the last check.",
                               ("topic", "partition")),
    "kafka_consumer_lag": ("End offset minus committed offset: records not yet through the "
                           "pipeline.", ("topic", "partition")),
    "kafka_records_unacknowledged": ("Read offset minus committed offset: records read but not "
                                     "yet acknowledged by every sink.", ("topic", "partition")),
    "kafka_broker_up": ("1 when the broker answered the last check.", ("bootstrap",)),
    "kafka_last_check_timestamp_seconds": ("Unix time of the last broker check.", ("bootstrap",)),
    "pipeline_running": ("1 while the pipeline runs.", ()),
}

#: Every metric name (as scraped, suffixes included) that this module exports.
EXPORTED_METRICS = frozenset(
    [f"wire_ingest_{name}_total" for name in COUNTERS]
    + [f"wire_ingest_{name}_{suffix}" for name in HISTOGRAMS for suffix in ("bucket", "sum", "count")]
    + [f"wire_ingest_{name}" for name in GAUGES]
)


def enabled() -> bool:
    return _enabled


def enable() -> None:
    """Start counting (the registry is created on first use)."""
    global _enabled
    _ensure_registry()
    _enabled = True


def registry():
    return _ensure_registry()


def _ensure_registry():
    global _registry
    with _lock:
        if _registry is None:
            from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

            reg = CollectorRegistry(auto_describe=True)
            for name, (doc, labels) in COUNTERS.items():
                _metrics[name] = Counter(f"wire_ingest_{name}", doc, labels, registry=reg)
            for name, (doc, labels, buckets) in HISTOGRAMS.items():
                _metrics[name] = Histogram(f"wire_ingest_{name}", doc, labels, buckets=buckets,
                                           registry=reg)
            for name, (doc, labels) in GAUGES.items():
                _metrics[name] = Gauge(f"wire_ingest_{name}", doc, labels, registry=reg)
            _registry = reg
        return _registry


def _child(name: str, labels: dict):
    metric = _metrics[name]
    return metric.labels(**{key: str(value) for key, value in labels.items()}) if labels else metric


def count(name: str, amount: int = 1, **labels) -> None:
    """Add ``amount`` to the live counter ``wire_ingest_<name>_total``; a no-op until ``enable()``."""
    if not _enabled or amount <= 0:
        return
    _child(name, labels).inc(amount)


def observe(name: str, seconds: float, **labels) -> None:
    """One observation of the histogram ``wire_ingest_<name>``."""
    if _enabled:
        _child(name, labels).observe(max(0.0, seconds))


class stage_timer:
    """``with stage_timer("parse"):`` observes the block's wall time in ``stage_seconds``."""

    __slots__ = ("_stage", "_start")

    def __init__(self, stage: str):
        self._stage = stage

    def __enter__(self):
        self._start = time.perf_counter() if _enabled else None
        return self

    def __exit__(self, *exc) -> None:
        if self._start is not None:
            observe("stage_seconds", time.perf_counter() - self._start, stage=self._stage)


def set_gauge(name: str, value: float, **labels) -> None:
    if _enabled:
        _child(name, labels).set(value)


def delivered(source: str, kind: str, when: Optional[float] = None) -> None:
    """A feed delivered a record (Kafka) or a file (drop folder) now."""
    set_gauge("source_last_record_timestamp_seconds", time.time() if when is None else when,
              source=source, kind=kind)


def source_opened(source: str, kind: str) -> None:
    """A source could be listed (drop folder) or polled (Kafka): it counts for ``/readyz``."""
    if _enabled and not HEALTH.is_open(source):  # once: readers call this at every poll
        set_gauge("source_open", 1, source=source, kind=kind)
        HEALTH.opened(source)


_read_positions: dict[tuple[str, int], int] = {}


def kafka_read_position(topic: str, partition: int, next_offset: int) -> None:
    """The reader of ``topic[partition]`` will read ``next_offset`` next."""
    if _enabled:
        _read_positions[(topic, int(partition))] = next_offset
        set_gauge("kafka_read_offset", next_offset, topic=topic, partition=partition)


# --------------------------------------------------------------------------- health


class Health:
    """What ``/healthz`` and ``/readyz`` answer: the run's state, the brokers' and the sources'."""

    def __init__(self):
        self._lock = threading.Lock()
        self.running = False
        self.failed: Optional[str] = None
        self._brokers: dict[str, Optional[str]] = {}  # bootstrap -> None (up) or the last error
        self._expected: set[str] = set()
        self._opened: set[str] = set()

    def expect_sources(self, sources: Iterable[str]) -> None:
        with self._lock:
            self._expected.update(sources)

    def is_open(self, source: str) -> bool:
        return source in self._opened  # no lock: a set lookup is atomic

    def opened(self, source: str) -> None:
        with self._lock:
            self._opened.add(source)

    def broker(self, bootstrap: str, error: Optional[str]) -> None:
        with self._lock:
            self._brokers[bootstrap] = error

    def set_running(self, running: bool, failed: Optional[str] = None) -> None:
        with self._lock:
            self.running, self.failed = running, failed
        set_gauge("pipeline_running", 1 if running else 0)

    def healthz(self) -> tuple[bool, str]:
        with self._lock:
            if self.failed:
                return False, f"pipeline failed: {self.failed}"
            if not self.running:
                return False, "pipeline not running"
            down = {b: e for b, e in self._brokers.items() if e is not None}
        if down:
            return False, "; ".join(f"kafka broker {b} unreachable: {e}" for b, e in sorted(down.items()))
        return True, "ok"

    def readyz(self) -> tuple[bool, str]:
        with self._lock:
            if not self.running:
                return False, "pipeline not running"
            waiting = sorted(self._expected - self._opened)
        if waiting:
            return False, "sources not open yet: " + ", ".join(waiting)
        return True, "ok"


HEALTH = Health()


# --------------------------------------------------------------------------- Kafka checks


class KafkaMonitor:
    """Asks the broker every ``interval`` seconds whether it answers and, for
    each topic read, each partition's end offset and the group's committed
    offset: consumer lag, and records read but not yet acknowledged (the
    reader's position minus the committed offset). A fresh client each check,
    so a broker that went and came back is seen at once."""

    def __init__(self, bootstrap: str, topics: Iterable[str] = (), group: Optional[str] = None,
                 interval: float = 2.0, timeout: float = 2.0):
        self.bootstrap = bootstrap
        self.topics = tuple(topics)
        self.group = group
        self.interval = interval
        self.timeout = timeout
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._up: Optional[bool] = None  # the last check's answer, to log changes only

    def start(self) -> "KafkaMonitor":
        self._thread = threading.Thread(target=self._loop, name="wire-ingest-kafka-monitor",
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(self.timeout * 4 + 5)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.check()
            self._stop.wait(self.interval)

    def check(self) -> bool:
        """One check; updates the gauges and ``HEALTH``. True when the broker answered."""
        try:
            self._measure()
        except Exception as error:  # any failure to talk to the broker: unreachable
            if self._up is not False:
                _LOG.warning("kafka broker %s unreachable: %s", self.bootstrap, error)
            self._up = False
            HEALTH.broker(self.bootstrap, f"{type(error).__name__}: {error}")
            set_gauge("kafka_broker_up", 0, bootstrap=self.bootstrap)
            return False
        finally:
            set_gauge("kafka_last_check_timestamp_seconds", time.time(), bootstrap=self.bootstrap)
        if self._up is False:
            _LOG.warning("kafka broker %s reachable again", self.bootstrap)
        self._up = True
        HEALTH.broker(self.bootstrap, None)
        set_gauge("kafka_broker_up", 1, bootstrap=self.bootstrap)
        return True

    def _measure(self) -> None:
        from kafka import KafkaConsumer, TopicPartition

        millis = max(int(self.timeout * 1000), 1000)
        consumer = KafkaConsumer(bootstrap_servers=self.bootstrap, group_id=self.group,
                                 enable_auto_commit=False, api_version_auto_timeout_ms=millis,
                                 request_timeout_ms=millis + 1000,
                                 # Never joins the group; kafka-python wants these below the
                                 # request timeout all the same.
                                 session_timeout_ms=millis, heartbeat_interval_ms=millis // 3)
        try:
            consumer.topics()  # a metadata round trip: the broker answers
            for topic in self.topics:
                partitions = consumer.partitions_for_topic(topic) or set()
                tps = [TopicPartition(topic, p) for p in sorted(partitions)]
                if not tps:
                    continue
                ends = consumer.end_offsets(tps)
                begins = consumer.beginning_offsets(tps)
                for tp in tps:
                    committed = consumer.committed(tp, timeout_ms=millis) if self.group else None
                    done = begins[tp] if committed is None else max(committed, begins[tp])
                    labels = dict(topic=topic, partition=tp.partition)
                    set_gauge("kafka_end_offset", ends[tp], **labels)
                    set_gauge("kafka_committed_offset", done, **labels)
                    set_gauge("kafka_consumer_lag", max(0, ends[tp] - done), **labels)
                    read = _read_offset(topic, tp.partition)
                    if read is not None:
                        set_gauge("kafka_records_unacknowledged", max(0, read - done), **labels)
        finally:
            consumer.close()


def _read_offset(topic: str, partition: int) -> Optional[int]:
    return _read_positions.get((topic, int(partition)))


# --------------------------------------------------------------------------- HTTP


class MetricsServer:
    """``/metrics`` (Prometheus text), ``/healthz`` and ``/readyz`` on a thread."""

    def __init__(self, address: str, port: int):
        from socketserver import ThreadingMixIn
        from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

        from prometheus_client import make_wsgi_app

        class _Server(ThreadingMixIn, WSGIServer):
            daemon_threads = True

        class _QuietHandler(WSGIRequestHandler):
            def log_message(self, *args) -> None:  # a scrape every few seconds is no news
                pass

        metrics_app = make_wsgi_app(registry())

        def app(environ, start_response):
            path = environ.get("PATH_INFO", "/")
            if path == "/metrics":
                return metrics_app(environ, start_response)
            if path in ("/healthz", "/readyz"):
                ok, text = HEALTH.healthz() if path == "/healthz" else HEALTH.readyz()
                start_response("200 OK" if ok else "503 Service Unavailable",
                               [("Content-Type", "text/plain; charset=utf-8")])
                return [(text + "\n").encode("utf-8")]
            start_response("404 Not Found", [("Content-Type", "text/plain; charset=utf-8")])
            return [b"/metrics, /healthz or /readyz\n"]

        self._server = make_server(address, port, app, server_class=_Server,
                                   handler_class=_QuietHandler)
        self.address = address
        self.port = self._server.server_port
        # A short poll interval: stop() waits for the loop to see it (0.5 s by default).
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,),
                                        name="wire-ingest-metrics", daemon=True)

    def start(self) -> "MetricsServer":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


def serve(address: str, port: int) -> MetricsServer:
    """Enable live metrics and serve them; port 0 picks a free port (see ``.port``)."""
    enable()
    return MetricsServer(address, port).start()


def reset_for_tests() -> None:
    """Forget every value and state (tests run several pipelines in one process)."""
    global _enabled, _registry, HEALTH
    with _lock:
        _enabled, _registry = False, None
        _metrics.clear()
        _read_positions.clear()
    HEALTH.__init__()
