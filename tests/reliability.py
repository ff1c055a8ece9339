"""Helpers shared by the reliability tests: time and memory bounds, samples, mutations.

``time_limit`` bounds one call in wall-clock time with ``SIGALRM`` (the
``re`` engine and Python code check signals, so a runaway regex or loop is
interrupted with ``CallTimedOut`` instead of hanging the suite).
``peak_memory`` measures the Python heap a call allocates (tracemalloc).
``SAMPLES`` are real-looking inputs: the seed, the formats engineer's
fixtures and our own; ``mutate`` derives bad inputs from them.
"""

from __future__ import annotations

import signal
import tracemalloc
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from hypothesis import strategies as st

from transforms.model import DeadLetterReason

REPO = Path(__file__).resolve().parents[1]
SEED = REPO / "seeds" / "000_47ad94e21230f2f9.txt"
DATA = REPO / "tests" / "data"

#: Every reason a dead letter may carry (the documented vocabulary).
REASONS = frozenset(
    value for name, value in vars(DeadLetterReason).items() if name.isupper() and isinstance(value, str)
)


class CallTimedOut(Exception):
    """A call took longer than its bound: a hang, for these tests."""


@contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Raise ``CallTimedOut`` inside the block after ``seconds`` of wall time."""

    def expire(signum, frame):
        raise CallTimedOut(f"call did not finish in {seconds}s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def peak_memory(call: Callable[[], object]) -> tuple[object, int, BaseException | None]:
    """Run ``call``; return (result, peak bytes allocated during it, exception raised)."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        try:
            result, error = call(), None
        except BaseException as raised:  # reported to the caller, who decides
            result, error = None, raised
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return result, peak, error


def sample_files() -> list[Path]:
    """Real-looking story files: the seed and every fixture under tests/data/formats and reliability."""
    files = [SEED]
    for folder in ("formats", "reliability"):
        root = DATA / folder
        if root.is_dir():
            files += sorted(p for p in root.rglob("*") if p.is_file() and p.stat().st_size < 2_000_000)
    return files


def _load_samples() -> list[tuple[str, bytes]]:
    samples = []
    for path in sample_files():
        data = path.read_bytes()
        if path.suffix == ".sgm" and data.count(b"<REUTERS") > 3:
            # Keep a few elements of an archive: mutations of a whole archive are slow to shrink.
            from transforms.formats.reuters_sgml import split_archive

            data = b"\n".join(split_archive(data)[:3])
        samples.append((path.name, data))
    return samples


SAMPLES: list[tuple[str, bytes]] = _load_samples()


# ---- mutations of real-looking samples -------------------------------------------------


@st.composite
def mutated_samples(draw) -> tuple[str, bytes]:
    """A sample after a few random edits: truncation, flipped bytes, deleted or
    duplicated ranges, inserted garbage, a huge field."""
    name, data = draw(st.sampled_from(SAMPLES))
    for _ in range(draw(st.integers(1, 4))):
        data = draw(_mutation(data))
    return name, data


def _mutation(data: bytes):
    size = max(len(data), 1)
    position = st.integers(0, size)
    return st.one_of(
        position.map(lambda n: data[:n]),  # truncated
        st.tuples(position, st.integers(0, 255)).map(  # a byte replaced
            lambda t: data[: t[0]] + bytes([t[1]]) + data[t[0] + 1:]),
        st.tuples(position, st.integers(0, 7)).map(  # a bit flipped
            lambda t: data[: t[0]] + bytes([data[t[0]] ^ (1 << t[1])]) + data[t[0] + 1:]
            if t[0] < len(data) else data),
        st.tuples(position, position).map(  # a range deleted (a field, a closing tag...)
            lambda t: data[: min(t)] + data[max(t):]),
        st.tuples(position, position).map(  # a range repeated
            lambda t: data[: max(t)] + data[min(t): max(t)] + data[max(t):]),
        st.tuples(position, st.binary(min_size=1, max_size=64)).map(  # garbage inserted
            lambda t: data[: t[0]] + t[1] + data[t[0]:]),
        st.tuples(position, st.sampled_from([b"<", b">", b"&", b"\"", b"{", b"}", b"[", b"]", b"\x00",
                                             b"&amp;", b"&#0;", b"&#xD800;", b"]]>", b"<!--", b"\\u",
                                             b"\r", b"\n\n", b"\xef\xbb\xbf", b"\xff\xfe"])).map(
            lambda t: data[: t[0]] + t[1] + data[t[0]:]),
        st.tuples(position, st.integers(10_000, 200_000), st.sampled_from([b"x", b"word ", b"\n", b" "])).map(
            lambda t: data[: t[0]] + t[2] * (t[1] // len(t[2])) + data[t[0]:]),  # a huge field
    )


# ---- adversarial documents ---------------------------------------------------------------


def deeply_nested_xml(depth: int, root: str = "nitf") -> bytes:
    return (f"<{root}><body><body.content>" + "<p>" * depth + "deep" + "</p>" * depth
            + f"</body.content></body></{root}>").encode()


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE nitf [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<nitf><head><title>&lol9;</title></head><body><body.head><hedline><hl1>&lol9;</hl1></hedline></body.head>
<body.content><p>&lol9;</p></body.content></body></nitf>
"""

QUADRATIC_BLOWUP = (b'<?xml version="1.0"?>\n<!DOCTYPE nitf [<!ENTITY a "' + b"A" * 50_000 + b'">]>\n'
                    b"<nitf><body><body.head><hedline><hl1>x</hl1></hedline></body.head><body.content><p>"
                    + b"&a;" * 50_000 + b"</p></body.content></body></nitf>")

EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE nitf [ <!ENTITY secret SYSTEM "file:///etc/passwd"> ]>
<nitf><body><body.head><hedline><hl1>Leak</hl1></hedline></body.head>
<body.content><p>&secret;</p></body.content></body></nitf>
"""

EXTERNAL_DTD = b"""<?xml version="1.0"?>
<!DOCTYPE nitf SYSTEM "http://127.0.0.1:9/nitf.dtd">
<nitf><body><body.head><hedline><hl1>Fetch</hl1></hedline></body.head>
<body.content><p>Body text that should not need a DTD.</p></body.content></body></nitf>
"""

PARAMETER_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE nitf [ <!ENTITY % remote SYSTEM "http://127.0.0.1:9/evil.dtd"> %remote; ]>
<nitf><body><body.head><hedline><hl1>Param</hl1></hedline></body.head>
<body.content><p>&exfil;</p></body.content></body></nitf>
"""


# ---- synthetic distinct stories ------------------------------------------------------------------

_SYLLABLES = ("ka", "lo", "mi", "ra", "te", "su", "no", "vi", "da", "pe", "ro", "li", "sa", "tu", "ne",
              "go", "ba", "fi", "mo", "ze", "ha", "ju", "ke", "wa")


def synthetic_story(index: int, words: int = 120) -> bytes:
    """A plain-text story that shares no 5-word shingle with another index's story.

    Bodies are pseudo-words drawn from a generator seeded by ``index``, so every
    story is distinct (UNIQUE for exact and near-duplicate detection alike) and
    the same index always gives the same bytes.
    """
    import random

    rng = random.Random(index * 7919 + 17)

    def word() -> str:
        return "".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(2, 4)))

    paragraphs = [" ".join(word() for _ in range(words // 4)).capitalize() + "." for _ in range(4)]
    headline = f"Story {index:06d}: " + " ".join(word() for _ in range(6))
    return (headline + "\n\n" + "\n\n".join(paragraphs) + "\n").encode("utf-8")


def story_index(headline: str) -> int | None:
    """The index a synthetic story's headline carries, or None."""
    if headline.startswith("Story ") and headline[6:12].isdigit():
        return int(headline[6:12])
    return None


# ---- running the pipeline as a process -------------------------------------------------------


def cli_command(*args: str) -> list[str]:
    """``wire-ingest ARGS`` as a subprocess command line (the venv's Python, this checkout)."""
    import os
    import sys

    module = os.environ.get("RELIABILITY_CLI_MODULE", "pipelines.cli")
    return [sys.executable, "-m", module, *args]


def cli_env() -> dict:
    """Environment for a pipeline subprocess: this checkout first on the path."""
    import os

    extra = os.environ.get("PYTHONPATH", "")
    # The sources and commits log each call at DEBUG: a stalled run's report says
    # what they were last doing (pipelines.cli reads WIRE_INGEST_DEBUG).
    return {"WIRE_INGEST_DEBUG": "transforms", **os.environ,
            "PYTHONPATH": str(REPO) + (os.pathsep + extra if extra else ""), "PYTHONUNBUFFERED": "1"}


def stall_report(log_text: str, events: int = 60, stack_chars: int = 12000) -> str:
    """A stalled pipeline's log, cut for a test report: its last ``events`` log
    lines (what the sources and commits last did), then its last stack dump."""
    def in_dump(line: str) -> bool:
        return (not line.strip() or line.startswith(("Thread 0x", "Current thread 0x", "  File "))
                or line.strip() == "<no Python frame>")

    lines = log_text.splitlines()
    last_dump: list[str] = []
    current = [i for i, line in enumerate(lines) if line.startswith("Current thread 0x")]
    if current:
        end = current[-1] + 1
        while end < len(lines) and lines[end].startswith("  File "):
            end += 1
        start = current[-1]
        while start > 0 and in_dump(lines[start - 1]):
            start -= 1
        last_dump = lines[start:end]
    logged = [line for line in lines if not in_dump(line)]
    return ("last log lines:\n" + "\n".join(logged[-events:])
            + "\n\nthreads:\n" + "\n".join(last_dump)[-stack_chars:])


def read_avro_dir(output: Path, prefix: str) -> list[dict]:
    """Every record of ``output/prefix-*.avro`` (visible, renamed-into-place files only),
    read with the project's schema."""
    import fastavro

    from schemas import load_schema

    schema = fastavro.parse_schema(load_schema("story" if prefix == "stories" else "dead_letter"))
    records: list[dict] = []
    for path in sorted(output.glob(f"{prefix}-*.avro")):
        with open(path, "rb") as handle:
            records.extend(fastavro.reader(handle, reader_schema=schema))
    return records


# ---- a broker that can go away: a TCP proxy in front of it -------------------------------------


class TcpProxy:
    """Forwards a loopback port to a broker's port, and can cut every connection.

    The broker advertises the proxy's address, so all client traffic (bootstrap
    and partition leaders alike) goes through it. ``cut()`` closes the listening
    socket and every open connection (clients see resets, then refused
    connections, as when a broker host goes down); ``restore()`` listens again
    on the same port. The broker itself, and the data it holds, stay.
    """

    def __init__(self, listen_port: int, target_port: int):
        import threading

        self.listen_port = listen_port
        self.target_port = target_port
        self._lock = threading.Lock()
        self._sockets: list = []
        self._server = None
        self._accepting = None

    def start(self) -> "TcpProxy":
        import socket
        import threading

        server = socket.socket()
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", self.listen_port))
        server.listen(64)
        self._server = server
        self._accepting = threading.Thread(target=self._accept, args=(server,), daemon=True)
        self._accepting.start()
        return self

    def _accept(self, server) -> None:
        import socket
        import threading

        while True:
            try:
                client, _ = server.accept()
            except OSError:
                return  # cut
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port), 5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)  # idle long polls are normal: no read timeout
            with self._lock:
                self._sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source, sink) -> None:
        import socket

        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def cut(self) -> None:
        import socket

        if self._server is not None:
            self._server.close()
            self._server = None
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for s in sockets:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def restore(self) -> None:
        self.start()

    stop = cut


class ProxiedBroker:
    """A Kafka broker reached only through a ``TcpProxy`` (see there): the broker
    advertises the proxy's address, so ``bootstrap`` and every connection a client
    makes go through it; ``go_away()`` / ``come_back()`` cut and restore it."""

    def __init__(self):
        from tests.broker import KafkaBroker, free_port

        self.proxy_port = free_port()
        self.broker = KafkaBroker(advertised_port=self.proxy_port)
        self.proxy = TcpProxy(self.proxy_port, self.broker.port).start()
        try:
            self.broker.start()
        except BaseException:
            self.stop()
            raise

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.proxy_port}"

    def new_topic(self, prefix: str = "t", partitions: int = 3) -> str:
        return self.broker.new_topic(prefix, partitions)

    def go_away(self) -> None:
        self.proxy.cut()

    def come_back(self) -> None:
        self.proxy.restore()

    def stop(self) -> None:
        self.proxy.cut()
        self.broker.close()


# ---- the pipeline as a process ---------------------------------------------------------------------


def interrupt(process, grace: float = 15.0) -> None:
    """Stop a ``wire-ingest run`` child as an operator would (Ctrl-C, SIGINT);
    kill it if it has not ended after ``grace`` seconds."""
    import subprocess

    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


class PipelineProcess:
    """``wire-ingest run ARGS`` as a child process in its own process group."""

    def __init__(self, args: list[str], log_path: Path):
        self.args = args
        self.log_path = log_path
        self.process = None
        self.incarnations: list[tuple[float, float | None]] = []  # (start, end) wall time in millis

    def start(self) -> "PipelineProcess":
        import subprocess
        import time

        log = open(self.log_path, "ab")
        log.write(f"\n==== start {time.strftime('%X')} ====\n".encode())
        log.flush()
        self.process = subprocess.Popen(cli_command("run", *self.args), stdout=log, stderr=subprocess.STDOUT,
                                        env=cli_env(), start_new_session=True)
        log.close()
        self.incarnations.append((time.time() * 1000, None))
        return self

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def _ended(self) -> None:
        import time

        start, _ = self.incarnations[-1]
        self.incarnations[-1] = (start, time.time() * 1000)

    def kill9(self) -> None:
        """SIGKILL the whole process group: no cleanup, no flush, no goodbye."""
        import os
        import signal

        if self.alive():
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(30)
            self._ended()

    def stop(self, grace: float = 10.0) -> None:
        import os
        import signal
        import subprocess

        if self.alive():
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(grace)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(30)
            self._ended()

    def dump_stacks(self, settle: float = 2.0) -> None:
        """Ask the running pipeline for its threads' stacks (SIGUSR1, see
        ``pipelines.cli``): they land in its log, for a stalled test's report."""
        import os
        import signal
        import time

        if self.alive():
            os.kill(self.process.pid, signal.SIGUSR1)
            time.sleep(settle)

    def stalled_report(self) -> str:
        """What a stalled wait reports: the last log lines, then the threads' stacks."""
        self.dump_stacks()
        return stall_report(self.log_path.read_text(errors="replace") if self.log_path.exists() else "")

    def log_tail(self, chars: int = 4000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:] if self.log_path.exists() else ""


def produce(bootstrap: str, topic: str, messages, rate: float | None = None) -> list[tuple[int, int]]:
    """Send (key, value) messages, paced at ``rate`` per second; returns the acknowledged
    (partition, offset) of each, in order (the partition a keyed message went to and
    where it landed, from the broker's own acknowledgement)."""
    import time

    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", retries=10, linger_ms=5)
    sent = 0
    started = time.monotonic()
    futures = []
    try:
        for key, value in messages:
            futures.append(producer.send(topic, value=value, key=key))
            sent += 1
            if rate:
                delay = started + sent / rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
        producer.flush(60)
        metadata = [future.get(60) for future in futures]
    finally:
        producer.close(10)
    return [(m.partition, m.offset) for m in metadata]


def committed_offsets(bootstrap: str, topic: str, group: str, partitions: int = 3) -> dict[int, int]:
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    try:
        return {p: consumer.committed(TopicPartition(topic, p)) or 0 for p in range(partitions)}
    finally:
        consumer.close()


def end_offsets(bootstrap: str, topic: str, partitions: int = 3) -> dict[int, int]:
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap)
    try:
        ends = consumer.end_offsets([TopicPartition(topic, p) for p in range(partitions)])
        return {tp.partition: offset for tp, offset in ends.items()}
    finally:
        consumer.close()
