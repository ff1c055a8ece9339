"""``--metrics-port`` / ``--metrics-address``: live metrics and health of a run.

The options, their checks and the run's side of ``transforms.telemetry``:
the HTTP server, the sources ``/readyz`` waits for, and a ``KafkaMonitor``
for every broker the run talks to (``/healthz``, consumer lag).
"""

from __future__ import annotations

import os
import sys
from typing import Optional

from apache_beam.options.pipeline_options import DirectOptions, PortableOptions, StandardOptions

from pipelines.runners import LOCAL_RUNNER_NAMES, PRISM_RUNNER_NAMES

__all__ = ["add_metrics_args", "validate_metrics", "LiveMetrics", "DEFAULT_ADDRESS"]

DEFAULT_ADDRESS = "127.0.0.1"
#: Seconds between two checks of a broker (lag, reachability).
BROKER_CHECK_SECONDS = 2.0


def add_metrics_args(parser) -> None:
    parser.add_argument("--metrics-port", dest="metrics_port", type=int, default=None,
                        help="Serve live Prometheus metrics at http://ADDRESS:PORT/metrics, with "
                             "/healthz and /readyz, while the run goes on (local runners: "
                             "DirectRunner, PrismRunner). Off by default; 0 picks a free port.")
    parser.add_argument("--metrics-address", dest="metrics_address", default=None,
                        help=f"Address the metrics server listens on (default {DEFAULT_ADDRESS}; "
                             "0.0.0.0 for every interface). Needs --metrics-port.")


def validate_metrics(options) -> None:
    """Refuse, naming the option, what the live metrics cannot serve."""
    port, address = options.metrics_port, options.metrics_address
    if port is None:
        if address is not None:
            raise ValueError("--metrics-address: needs --metrics-port (the metrics server is off "
                             "without it)")
        return
    if not 0 <= port <= 65535:
        raise ValueError(f"--metrics-port: {port} is not a TCP port (0-65535; 0 picks a free one)")
    if address is not None and not address.strip():
        raise ValueError("--metrics-address: give an address (e.g. 127.0.0.1 or 0.0.0.0)")
    runner = options.view_as(StandardOptions).runner
    if runner not in LOCAL_RUNNER_NAMES + PRISM_RUNNER_NAMES:
        raise ValueError(f"--metrics-port: live metrics are served by the local runners "
                         f"(DirectRunner, PrismRunner), not {runner}: their workers run in "
                         f"other processes; on Flink, Beam's metrics go to Flink's Prometheus "
                         f"reporter (deploy/flink)")
    if options.view_as(DirectOptions).direct_running_mode == "multi_processing":
        raise ValueError("--metrics-port: --direct_running_mode multi_processing runs the "
                         "workers in other processes, whose counts this server cannot see; "
                         "use in_memory or multi_threading")
    environment = options.view_as(PortableOptions).environment_type
    if environment and environment.upper() != "LOOPBACK":
        raise ValueError(f"--metrics-port: --environment_type {environment} runs the workers "
                         f"in other processes; live metrics need LOOPBACK (the local default)")


class LiveMetrics:
    """The server and broker checks of one run (``--metrics-port``)."""

    def __init__(self, options):
        from transforms import telemetry
        from transforms.io.kafka_common import kafka_uri

        self._telemetry = telemetry
        address = options.metrics_address or DEFAULT_ADDRESS
        telemetry.enable()
        try:
            self.server = telemetry.MetricsServer(address, options.metrics_port).start()
        except OSError as error:
            raise ValueError(f"--metrics-port: cannot listen on {address}:{options.metrics_port}: "
                             f"{error.strerror or error}") from error
        url = f"http://{address}:{self.server.port}/metrics"
        if getattr(options, "log_format", "text") == "json":  # stderr stays one JSON object a line
            from transforms.events import log_event

            log_event("metrics", "metrics_start", f"live metrics at {url}", url=url,
                      address=address, port=self.server.port)
        else:
            print(f"wire-ingest: live metrics at {url}", file=sys.stderr, flush=True)
        sources = [os.path.abspath(folder) for folder in options.watch]
        topics = []
        if options.kafka_topic:
            sources.append(kafka_uri(options.kafka_bootstrap, options.kafka_topic))
            topics.append(options.kafka_topic)
        telemetry.HEALTH.expect_sources(sources)
        self.monitors = []
        if options.kafka_bootstrap and (options.kafka_topic or options.kafka_output_topic
                                        or options.kafka_dead_letter_topic):
            self.monitors.append(telemetry.KafkaMonitor(
                options.kafka_bootstrap, topics, options.kafka_group if topics else None,
                interval=BROKER_CHECK_SECONDS).start())

    def running(self) -> None:
        self._telemetry.HEALTH.set_running(True)

    def stopped(self, failure: Optional[BaseException] = None) -> None:
        """The run ended (or failed): health says so; checks and server stop."""
        self._telemetry.HEALTH.set_running(
            False, None if failure is None else f"{type(failure).__name__}: {failure}")
        for monitor in self.monitors:
            monitor.stop()
        self.server.stop()
