"""The Flink deployment in deploy/: every file parses, versions agree, state names exist.

What runs here: YAML with PyYAML, Dockerfile instructions, shell scripts with
``bash -n`` and a real run of submit.sh with ``--print-options``, ``kubectl
kustomize`` when kubectl is installed, the pipeline graph built against a real
broker (never run). What cannot run here (no Docker engine, no Maven Central):
building the images, starting the compose cluster, the Beam Flink job server.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import apache_beam as beam
import pytest
import yaml
from apache_beam.options.pipeline_options import FlinkRunnerOptions
from apache_beam.transforms.userstate import BagStateSpec, TimerSpec, on_timer
from apache_beam.transforms.timeutil import TimeDomain

from pipelines import flink
from pipelines import options as options_module
from transforms.io import kafka_java
from pipelines.flink import (
    normalize_beam_flags,
    parse_stateful_steps,
    render_stateful_steps,
    stateful_steps,
    stateful_steps_configmap,
)
from transforms.io.kafka_java import raw_input_from_kafka_record
from tests.broker import kafka_broker  # noqa: F401  (module fixture: a real broker)
from transforms.model import SourcePosition

REPO = Path(__file__).resolve().parents[1]
DEPLOY = REPO / "deploy"
FLINK_DIR = DEPLOY / "flink"
MANIFEST = FLINK_DIR / "stateful-steps.txt"
CONFIGMAP = FLINK_DIR / "k8s" / "stateful-steps-configmap.yaml"
SUBMIT = FLINK_DIR / "submit.sh"

DOCKERFILE_INSTRUCTIONS = {
    "FROM", "RUN", "CMD", "LABEL", "EXPOSE", "ENV", "ADD", "COPY", "ENTRYPOINT", "VOLUME",
    "USER", "WORKDIR", "ARG", "ONBUILD", "STOPSIGNAL", "HEALTHCHECK", "SHELL",
}


# ----------------------------------------------------------------------------- helpers


def deploy_files() -> list[Path]:
    return sorted(p for p in DEPLOY.rglob("*") if p.is_file() and "__pycache__" not in p.parts)


def yaml_documents() -> dict[Path, list]:
    return {path: [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]
            for path in deploy_files() if path.suffix in (".yml", ".yaml")}


def pinned_beam() -> str:
    """'2.77' from setup.py's ``apache-beam==2.77.*``."""
    match = re.search(r'"apache-beam==(\d+\.\d+)\.\*"', (REPO / "setup.py").read_text())
    assert match, "setup.py must pin apache-beam==MAJOR.MINOR.*"
    return match.group(1)


def project_version() -> str:
    match = re.search(r'version="([^"]+)"', (REPO / "setup.py").read_text())
    assert match
    return match.group(1)


def all_images() -> list[str]:
    images = []

    def walk(node):
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "image" and isinstance(value, str):
                    images.append(value)
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    for docs in yaml_documents().values():
        walk(docs)
    for path in deploy_files():
        if path.name.startswith("Dockerfile") and not path.name.endswith(".dockerignore"):
            images += [line.split()[1] for line in dockerfile_instructions(path) if line.startswith("FROM ")]
    return images


def dockerfile_instructions(path: Path) -> list[str]:
    """Logical instructions: comments dropped, backslash continuations joined."""
    instructions, current = [], ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not current and (not line or line.startswith("#")):
            continue
        current += (" " if current else "") + line.rstrip("\\").strip()
        if not line.endswith("\\"):
            instructions.append(current)
            current = ""
    assert not current, f"{path}: dangling line continuation"
    return instructions


def compose() -> dict:
    return yaml.safe_load((FLINK_DIR / "docker-compose.yml").read_text())


def k8s_kind(kind: str) -> list[dict]:
    return [doc for docs in yaml_documents().values() for doc in docs
            if isinstance(doc, dict) and doc.get("kind") == kind]


def flink_version_of(image: str) -> str:
    """'2.2' from 'flink:2.2.0-scala_2.12-java17'."""
    match = re.fullmatch(r"flink:(\d+)\.(\d+)\.\d+(-.+)?", image)
    assert match, f"unexpected Flink image {image!r}"
    return f"{match.group(1)}.{match.group(2)}"


# ----------------------------------------------------------------------------- every file parses


def test_every_file_in_deploy_is_of_a_kind_this_test_checks():
    unchecked = [p.relative_to(REPO) for p in deploy_files()
                 if not (p.suffix in (".yml", ".yaml", ".sh", ".txt", ".xml", ".json")
                         or p.name.startswith("Dockerfile"))]
    assert not unchecked, f"files in deploy/ that no test parses: {unchecked}"
    assert len(deploy_files()) >= 8


def test_yaml_files_parse_to_mappings():
    documents = yaml_documents()
    assert len(documents) >= 6
    for path, docs in documents.items():
        assert docs, f"{path} is empty"
        for doc in docs:
            assert isinstance(doc, dict), f"{path}: a document is not a mapping"


def test_dockerfiles_hold_only_dockerfile_instructions():
    dockerfiles = [p for p in deploy_files()
                   if p.name.startswith("Dockerfile") and not p.name.endswith(".dockerignore")]
    assert dockerfiles
    for path in dockerfiles:
        instructions = dockerfile_instructions(path)
        assert instructions[0].startswith("FROM "), f"{path}: first instruction must be FROM"
        for instruction in instructions:
            keyword = instruction.split()[0].upper()
            assert keyword in DOCKERFILE_INSTRUCTIONS, f"{path}: unknown instruction {instruction!r}"
            if keyword in ("ENTRYPOINT", "CMD") and instruction.split(None, 1)[1].startswith("["):
                json.loads(instruction.split(None, 1)[1])  # exec form must be a JSON array


def test_dockerignore_keeps_the_virtualenv_and_git_out_of_the_build_context():
    patterns = [line.strip() for line in (FLINK_DIR / "Dockerfile.dockerignore").read_text().splitlines()
                if line.strip() and not line.startswith("#")]
    assert {".git", ".venv", "tests"} <= set(patterns)
    for instruction in dockerfile_instructions(FLINK_DIR / "Dockerfile"):
        if instruction.startswith("COPY "):
            assert not any(source.startswith(tuple(patterns)) for source in instruction.split()[1:-1])


def test_dockerfile_copies_only_paths_that_exist():
    for instruction in dockerfile_instructions(FLINK_DIR / "Dockerfile"):
        if instruction.startswith("COPY ") and "--from" not in instruction:
            for source in instruction.split()[1:-1]:
                assert (REPO / source).exists(), f"COPY {source}: not in the repository"


@pytest.mark.parametrize("script", sorted(str(p.relative_to(DEPLOY)) for p in DEPLOY.rglob("*.sh")))
def test_shell_scripts_parse_and_are_executable(script):
    path = DEPLOY / script
    result = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert os.access(path, os.X_OK), f"{path} is not executable"


@pytest.mark.parametrize("pom", sorted(str(p.relative_to(DEPLOY)) for p in DEPLOY.rglob("pom.xml")))
def test_maven_poms_parse_and_pin_every_dependency_version(pom):
    """The jars the local scripts install come from these: every version is fixed."""
    import xml.etree.ElementTree as ElementTree

    ns = {"m": "http://maven.apache.org/POM/4.0.0"}
    root = ElementTree.parse(DEPLOY / pom).getroot()
    assert root.tag == "{http://maven.apache.org/POM/4.0.0}project"
    properties = {child.tag.split("}")[1]: (child.text or "").strip()
                  for child in root.findall("m:properties/*", ns)}

    def resolved(text: str) -> str:
        return re.sub(r"\$\{([^}]+)\}", lambda m: properties.get(m.group(1), m.group(0)), text)

    dependencies = root.findall("m:dependencies/m:dependency", ns)
    assert dependencies, f"{pom}: no dependencies"
    for dependency in dependencies:
        name = resolved(dependency.findtext("m:artifactId", "", ns))
        version = resolved(dependency.findtext("m:version", "", ns))
        assert re.fullmatch(r"\d+(\.\d+)+([.-][\w.-]+)?", version), f"{pom}: {name} version {version!r}"


def test_manifest_and_configmap_carry_the_same_steps():
    manifest = MANIFEST.read_text()
    steps = parse_stateful_steps(manifest)
    assert steps and all(step.kind in ("state", "splittable", "group") for step in steps)
    configmap = yaml.safe_load(CONFIGMAP.read_text())
    assert configmap["data"]["stateful-steps.txt"] == manifest
    assert CONFIGMAP.read_text() == stateful_steps_configmap(manifest)


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_kustomization_builds_offline():
    result = subprocess.run(["kubectl", "kustomize", str(FLINK_DIR / "k8s")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    kinds = [doc["kind"] for doc in yaml.safe_load_all(result.stdout)]
    assert sorted(kinds) == ["ConfigMap", "FlinkDeployment", "Namespace", "PersistentVolumeClaim"]


# ----------------------------------------------------------------------------- versions agree


def test_installed_beam_is_the_pinned_one():
    assert beam.__version__.startswith(pinned_beam() + ".")


def test_sdk_image_is_the_pinned_beam_for_python_3_11():
    froms = [line.split()[1] for line in dockerfile_instructions(FLINK_DIR / "Dockerfile")
             if line.startswith("FROM ")]
    assert froms == [f"apache/beam_python3.11_sdk:{beam.__version__}"]
    assert "Programming Language :: Python :: 3.11" in (REPO / "setup.py").read_text()
    # the install step pins Beam to the same version so pip cannot replace it
    assert f"apache-beam=={beam.__version__}" in (FLINK_DIR / "Dockerfile").read_text()


def test_flink_version_is_published_by_beam_and_the_same_everywhere():
    published = FlinkRunnerOptions.PUBLISHED_FLINK_VERSIONS
    images = all_images()
    flink_images = [image for image in images if image.startswith("flink:")]
    assert flink_images
    versions = {flink_version_of(image) for image in flink_images}
    assert len(versions) == 1, f"several Flink versions: {versions}"
    version = versions.pop()
    assert version in published
    assert version == published[-1], "the newest Flink the pinned Beam publishes a runner for"
    job_servers = [image for image in images if "_job_server" in image]
    assert job_servers
    for image in job_servers:
        assert image == f"apache/beam_flink{version}_job_server:{beam.__version__}"
    for deployment in k8s_kind("FlinkDeployment"):
        assert deployment["spec"]["flinkVersion"] == "v" + version.replace(".", "_")
    assert f"FLINK_VERSION=${{FLINK_VERSION:-{version}}}" in SUBMIT.read_text()


def test_wire_ingest_image_and_jar_carry_the_project_version():
    version = project_version()
    ours = [image for image in all_images() if "wire-ingest-sdk" in image]
    assert ours
    assert all(image.endswith(f"wire-ingest-sdk:{version}") for image in ours), ours
    jobs = k8s_kind("Job")
    assert len(jobs) == 1
    env = {e["name"]: e["value"] for e in jobs[0]["spec"]["template"]["spec"]["containers"][0]["env"]}
    (deployment,) = k8s_kind("FlinkDeployment")
    assert deployment["spec"]["job"]["jarURI"] == "local://" + env["OUTPUT_EXECUTABLE_PATH"]
    assert env["OUTPUT_EXECUTABLE_PATH"].endswith(f"wire-ingest-{version}.jar")


def test_images_are_pinned_to_a_tag():
    for image in all_images():
        assert ":" in image.rsplit("/", 1)[-1] and not image.endswith(":latest"), image


# ----------------------------------------------------------------------------- compose and k8s say what they must


def test_compose_runs_kraft_kafka_flink_job_server_and_worker_pool_beside_the_taskmanager():
    services = compose()["services"]
    assert {"kafka", "jobmanager", "taskmanager", "jobserver", "sdk-worker"} <= set(services)
    assert "controller" in services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"]
    assert services["sdk-worker"]["command"] == ["--worker_pool"]
    assert services["sdk-worker"]["network_mode"] == "service:taskmanager"
    assert "--flink-master=jobmanager:8081" in services["jobserver"]["command"]
    declared = set(compose()["volumes"])
    for service in services.values():
        for volume in service.get("volumes", []):
            name = volume.split(":", 1)[0]
            assert name in declared, f"volume {name} is not declared"
    # the artifact staging dir is shared by the job server and the TaskManager
    staging = "beam-artifacts:/tmp/beam-artifact-staging"
    assert staging in services["jobserver"]["volumes"]
    assert staging in services["taskmanager"]["volumes"]
    config = services["jobmanager"]["environment"]["FLINK_PROPERTIES"]
    assert "state.backend.type: rocksdb" in config
    assert "execution.checkpointing.interval:" in config


def test_flink_deployment_checkpoints_to_rocksdb_and_upgrades_with_savepoints():
    (deployment,) = k8s_kind("FlinkDeployment")
    spec = deployment["spec"]
    config = spec["flinkConfiguration"]
    assert config["state.backend.type"] == "rocksdb"
    assert config["execution.checkpointing.interval"]
    assert config["execution.checkpointing.savepoint-dir"]
    assert spec["job"]["upgradeMode"] == "savepoint"
    assert spec["job"]["allowNonRestoredState"] is False
    assert spec["job"]["entryClass"] == "org.apache.beam.runners.flink.FlinkPipelineRunner"
    assert int(config["pipeline.max-parallelism"]) == 128
    assert "--max_parallelism" in SUBMIT.read_text() and "MAX_PARALLELISM:-128" in SUBMIT.read_text()


def test_taskmanagers_run_the_sdk_worker_pool_as_a_sidecar_sized_for_the_benchmark():
    (deployment,) = k8s_kind("FlinkDeployment")
    spec = deployment["spec"]
    containers = spec["taskManager"]["podTemplate"]["spec"]["containers"]
    (pool,) = [c for c in containers if c.get("args") == ["--worker_pool"]]
    assert [p["containerPort"] for p in pool["ports"]] == [50000]
    assert "wire-ingest-sdk:" in pool["image"]
    slots = int(spec["flinkConfiguration"]["taskmanager.numberOfTaskSlots"])
    parallelism = spec["job"]["parallelism"]
    assert parallelism % slots == 0, "whole TaskManager pods"
    # >= 400 stories/s per 2 cores of SDK harness, < 1 GB per SDK worker (one per slot)
    requests = pool["resources"]["requests"]
    assert float(requests["cpu"]) >= 2
    assert _gibibytes(requests["memory"]) >= slots * 1
    assert _gibibytes(pool["resources"]["limits"]["memory"]) > _gibibytes(requests["memory"])
    assert "SDK_WORKER_PARALLELISM:-2" in SUBMIT.read_text() and slots == 2


def _gibibytes(quantity: str) -> float:
    units = {"Gi": 1.0, "Mi": 1 / 1024}
    for suffix, factor in units.items():
        if quantity.endswith(suffix):
            return float(quantity[: -len(suffix)]) * factor
    raise AssertionError(f"memory quantity {quantity!r}: use Gi or Mi")


def test_jar_job_runs_the_job_server_as_a_native_sidecar():
    (job,) = k8s_kind("Job")
    pod = job["spec"]["template"]["spec"]
    (server,) = pod["initContainers"]
    assert server["restartPolicy"] == "Always"
    assert server["image"] == f"apache/beam_flink{FlinkRunnerOptions.PUBLISHED_FLINK_VERSIONS[-1]}" \
                              f"_job_server:{beam.__version__}"
    env = {e["name"]: e["value"] for e in pod["containers"][0]["env"]}
    assert env["JOB_ENDPOINT"] == "localhost:8099"


# ----------------------------------------------------------------------------- submit command and --print-options


def _submit(env_overrides: dict, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items()
           if k not in ("JOB_ENDPOINT", "FLINK_MASTER", "OUTPUT_EXECUTABLE_PATH")}
    env.update(WIRE_INGEST=f"{sys.executable} -m pipelines.cli", PYTHONPATH=str(REPO))
    env.update(env_overrides)
    return subprocess.run(["bash", str(SUBMIT), *args], capture_output=True, text=True,
                          env=env, cwd=REPO, timeout=180)


def test_submit_script_resolves_its_options_without_submitting():
    result = _submit({"JOB_ENDPOINT": "jobserver:8099", "KAFKA_BOOTSTRAP": "kafka:9092"},
                     "--print-options")
    assert result.returncode == 0, result.stderr
    resolved = json.loads(result.stdout)
    options = resolved["options"]
    assert resolved["runner"] == "FlinkRunner"
    assert resolved["submits_to"] == "job server jobserver:8099"
    assert options["environment_type"] == "EXTERNAL"
    assert options["environment_config"] == "localhost:50000"
    assert options["flink_version"] == FlinkRunnerOptions.PUBLISHED_FLINK_VERSIONS[-1]
    assert options["streaming"] is True
    assert options["max_parallelism"] == 128
    assert options["kafka_topic"] == "wire-raw" and options["kafka_reader"] == "native"
    assert str(options["checkpointing_interval"]) == "30000"  # for the job server
    # Set on every Flink run: without it a bundle ending during a checkpoint can strand the
    # partition watcher's only output in Beam's checkpoint buffer (the job then reads nothing).
    assert options["finish_bundle_before_checkpointing"] is True
    # Streaming on Flink: short bundles, or every step adds up to a second of latency.
    assert str(options["max_bundle_time_mills"]) == "50" and str(options["max_bundle_size"]) == "100"


def test_flink_streaming_runs_get_short_bundles_unless_given_and_batch_runs_do_not():
    from pipelines.options import FLINK_STREAMING_BUNDLE_FLAGS, with_flink_flags

    streaming = ["--runner", "FlinkRunner", "--kafka-topic", "t", "--kafka-bootstrap", "k:9092"]
    assert set(FLINK_STREAMING_BUNDLE_FLAGS) <= set(with_flink_flags(streaming))
    assert set(FLINK_STREAMING_BUNDLE_FLAGS) <= set(with_flink_flags(
        ["--runner", "FlinkRunner", "--watch", "/tmp/drop", "--output", "/tmp/out"]))
    given = with_flink_flags(streaming + ["--max_bundle_size", "7"])
    assert "--max_bundle_size=100" not in given and "--max_bundle_time_mills=50" in given
    bounded = with_flink_flags(streaming + ["--kafka-stop-at-end"])
    assert not any(flag.startswith("--max_bundle") for flag in bounded)
    assert not any(flag.startswith("--max_bundle") for flag in with_flink_flags(
        ["--runner", "FlinkRunner", "--input", "seeds", "--output", "/tmp/out"]))
    assert with_flink_flags(["--runner", "PrismRunner", "--kafka-topic", "t"]) == \
        ["--runner", "PrismRunner", "--kafka-topic", "t"]


def test_only_flink_runs_get_the_finish_bundle_flag_and_only_once():
    from pipelines.options import FINISH_BUNDLE_BEFORE_CHECKPOINTING as FLAG, with_flink_flags

    assert with_flink_flags(["--runner", "FlinkRunner"]) == ["--runner", "FlinkRunner", FLAG]
    assert with_flink_flags(["--runner=FlinkRunner", FLAG]).count(FLAG) == 1
    for runner in ([], ["--runner", "PrismRunner"], ["--runner", "DirectRunner"]):
        assert FLAG not in with_flink_flags(runner)


def test_submit_script_needs_a_job_server_or_a_flink_master():
    result = _submit({}, "--print-options")
    assert result.returncode == 2
    assert "JOB_ENDPOINT" in result.stderr


def test_print_options_prints_resolved_options_and_never_runs_a_pipeline(monkeypatch, capsys):
    from pipelines import cli

    def refuse(*_args, **_kwargs):
        raise AssertionError("--print-options must not build or run a pipeline")

    monkeypatch.setattr(beam.Pipeline, "run", refuse)
    monkeypatch.setattr(beam.Pipeline, "__init__", refuse)
    code = cli.main(["run", "--runner", "FlinkRunner", "--flink-master", "flink-jm:8081",
                     "--environment-type", "EXTERNAL", "--environment-config=localhost:50000",
                     "--kafka-bootstrap", "127.0.0.1:1", "--kafka-topic", "wire-raw",
                     "--output", "/tmp/never-written", "--print-options"])
    assert code == 0
    resolved = json.loads(capsys.readouterr().out)
    assert resolved["options"]["flink_master"] == "flink-jm:8081"
    assert resolved["options"]["environment_type"] == "EXTERNAL"
    assert resolved["options"]["streaming"] is True  # derived from the unbounded Kafka source
    assert resolved["submits_to"].startswith("Flink flink-jm:8081")
    assert not Path("/tmp/never-written").exists()


def test_print_options_validates_like_run(capsys):
    from pipelines import cli

    code = cli.main(["run", "--kafka-topic", "wire-raw", "--output", "/tmp/x", "--print-options"])
    assert code == 2
    assert "--kafka-bootstrap" in capsys.readouterr().err


def test_no_wire_ingest_flag_has_a_beam_twin():
    """A dashed flag of ours whose underscored spelling Beam defined would be ambiguous."""
    twins = [flag for flag in flink._our_flag_names()
             if "--" + flag[2:].replace("-", "_") in flink._beam_flag_names()]
    assert twins == []


def test_dashed_beam_flags_become_beam_spellings_and_ours_stay():
    argv = ["--flink-master=jm:8081", "--environment-type", "EXTERNAL", "--job-endpoint=j:8099",
            "--kafka-topic", "t", "--kafka-reader", "java", "--max-input-bytes=5", "--no-such-flag"]
    assert normalize_beam_flags(argv) == [
        "--flink_master=jm:8081", "--environment_type", "EXTERNAL", "--job_endpoint=j:8099",
        "--kafka-topic", "t", "--kafka-reader", "java", "--max-input-bytes=5", "--no-such-flag"]


# ----------------------------------------------------------------------------- Java KafkaIO reader


def _kafka_row(**overrides):
    fields = dict(topic="wire-raw", partition=2, offset=41, timestamp=1_700_000_000_123,
                  key=b"story-7", value=b"PARIS (Reuters) - A story.",
                  headers=[beam.Row(key="wire-format", value=b" ninjs "),
                           beam.Row(key="agency", value=None)],
                  timestampTypeId=0, timestampTypeName="CreateTime")
    fields.update(overrides)
    return beam.Row(**fields)


def test_java_kafka_record_becomes_raw_input_with_its_lineage():
    raw = raw_input_from_kafka_record(_kafka_row(), "kafka://kafka:9092/wire-raw")
    assert raw.raw == b"PARIS (Reuters) - A story."
    assert raw.format_hint == "ninjs"
    assert raw.event_time == 1_700_000_000_123
    source = raw.source
    assert (source.kind, source.uri, source.topic, source.partition, source.offset) == (
        "kafka", "kafka://kafka:9092/wire-raw", "wire-raw", 2, 41)
    assert source.key == b"story-7" and source.timestamp == 1_700_000_000_123
    assert source.headers == (("wire-format", b" ninjs "), ("agency", b""))
    assert source.position == "partition 2 offset 41"
    assert source.kafka_span == (0, 41)  # a partition not looked up: commits count from 0
    spanned = raw_input_from_kafka_record(_kafka_row(), "kafka://kafka:9092/wire-raw", {2: 30, 0: 5})
    assert spanned.source.kafka_span == (30, 41)  # the commit frontier starts where the read did
    # the same Kafka record gets the same story id whichever reader read it
    native = SourcePosition(kind="kafka", uri=source.uri, topic="wire-raw", partition=2, offset=41,
                            kafka_span=(0, 41))
    assert source.record_id() == native.record_id()


def test_java_kafka_record_without_timestamp_key_or_value():
    raw = raw_input_from_kafka_record(_kafka_row(timestamp=-1, key=None, value=None, headers=None),
                                      "kafka://k/t")
    assert raw.raw == b"" and raw.event_time is None
    assert raw.source.key is None and raw.source.timestamp is None and raw.source.headers == ()
    assert raw.format_hint is None


def test_java_reader_needs_an_expansion_service_and_an_unbounded_read():
    from apache_beam.options.pipeline_options import PipelineOptions

    base = ["--kafka-bootstrap", "k:9092", "--kafka-topic", "t", "--kafka-reader", "java"]
    with pytest.raises(ValueError, match="--kafka-expansion-service"):
        options_module.uses_java_kafka_reader(PipelineOptions(base))
    with pytest.raises(ValueError, match="--kafka-stop-at-end"):
        options_module.uses_java_kafka_reader(PipelineOptions(
            base + ["--kafka-expansion-service", "jobserver:8097", "--kafka-stop-at-end"]))
    assert options_module.uses_java_kafka_reader(PipelineOptions(
        base + ["--kafka-expansion-service", "jobserver:8097"]))
    assert not options_module.uses_java_kafka_reader(PipelineOptions(base[:4]))
    with pytest.raises(ValueError, match="--kafka-start"):
        options_module.uses_java_kafka_reader(PipelineOptions(
            base + ["--kafka-expansion-service", "jobserver:8097", "--kafka-start", "latest"]))
    with pytest.raises(ValueError, match="latest"):
        kafka_java.ReadWireStoriesFromJavaKafka("k:9092", "t", "g", start="latest",
                                           expansion_service="jobserver:8097")
    with pytest.raises(ValueError, match="expansion_service"):
        kafka_java.ReadWireStoriesFromJavaKafka("k:9092", "t", "g", expansion_service=None)


# ----------------------------------------------------------------------------- stateful steps


class _CountFn(beam.DoFn):
    SEEN = BagStateSpec("seen", beam.coders.VarIntCoder())
    FLUSH = TimerSpec("flush", TimeDomain.WATERMARK)

    def process(self, element, seen=beam.DoFn.StateParam(SEEN)):
        seen.add(element[1])
        yield element

    @on_timer(FLUSH)
    def flush(self):
        return []


class _Tiny(beam.PTransform):
    def expand(self, pcoll):
        return (pcoll
                | "Key" >> beam.Map(lambda x: (x % 2, x))
                | "Count" >> beam.ParDo(_CountFn())
                | "Group" >> beam.GroupByKey())


def test_stateful_steps_finds_state_timers_and_groups_by_full_label():
    pipeline = beam.Pipeline()
    numbers = pipeline | "Numbers" >> beam.Create([1, 2, 3])  # holds a Reshuffle: no state on Flink
    _ = numbers | "Tiny" >> _Tiny() | "Plain" >> beam.Map(str)
    steps = stateful_steps(pipeline)
    assert [(s.kind, s.step, s.input_step) for s in steps] == [
        ("group", "Tiny/Group", ""),
        ("state", "Tiny/Count", "Tiny/Key"),
    ]
    assert steps[1].flink_uid == f"8Tiny/Key.None/{flink.EXTERNAL_ENVIRONMENT_URN}"
    assert parse_stateful_steps(render_stateful_steps(steps)) == steps


@pytest.fixture(scope="module")
def deployed_pipeline(kafka_broker):  # noqa: F811
    """The pipeline submit.sh deploys, built against a real broker, never run."""
    return flink.build_for_inspection(["--kafka-bootstrap", kafka_broker.bootstrap,
                                       *flink.DEPLOYED_PIPELINE_ARGS])


def test_manifest_lists_exactly_the_stateful_steps_of_the_deployed_pipeline(deployed_pipeline):
    recorded = set(parse_stateful_steps(MANIFEST.read_text()))
    actual = set(stateful_steps(deployed_pipeline))
    missing = sorted(s.step for s in recorded - actual)
    unrecorded = sorted(s.step for s in actual - recorded)
    assert not missing and not unrecorded, (
        f"stateful steps renamed or gone (savepoint state would be orphaned): {missing}; "
        f"stateful steps not in deploy/flink/stateful-steps.txt: {unrecorded}. "
        "If a rename is intended, regenerate the manifest and the ConfigMap (see their header) "
        "and release it with a fresh start, not a savepoint restore.")


def test_every_step_named_in_the_manifest_exists_in_the_pipeline_graph(deployed_pipeline):
    labels = {t.unique_name for t in deployed_pipeline.to_runner_api().components.transforms.values()}
    for step in parse_stateful_steps(MANIFEST.read_text()):
        assert step.step in labels
        if step.input_step:
            assert step.input_step in labels


def test_dedup_and_offset_commits_are_among_the_recorded_stateful_steps():
    from transforms.dedup.core import STATEFUL_STEP_NAMES

    state_steps = [s.step for s in parse_stateful_steps(MANIFEST.read_text()) if s.kind == "state"]
    for name in STATEFUL_STEP_NAMES:
        assert any(f"ProcessStories/DeduplicateStories/{name}" == step or
                   step.startswith(f"ProcessStories/DeduplicateStories/{name}/")
                   for step in state_steps), name
    assert "CommitKafkaOffsets/CommitOffsets" in state_steps


def test_deploy_doc_lists_every_recorded_step():
    doc = (REPO / "docs" / "deploy-flink.md").read_text()
    for step in parse_stateful_steps(MANIFEST.read_text()):
        assert step.step in doc, f"docs/deploy-flink.md does not name {step.step}"


# ---- deploy/local/flink.sh: the state backend ----------------------------------------------


def _local_state_backend(choice) -> subprocess.CompletedProcess:
    """``state_backend_config`` of deploy/local/flink.sh, run alone under ``FLINK_STATE_BACKEND=choice``."""
    script = (Path(__file__).resolve().parents[1] / "deploy" / "local" / "flink.sh").read_text()
    function = re.search(r"^state_backend_config\(\) \{.*?^\}", script, re.S | re.M).group(0)
    env = {k: v for k, v in os.environ.items() if k != "FLINK_STATE_BACKEND"}
    if choice is not None:
        env["FLINK_STATE_BACKEND"] = choice
    return subprocess.run(["bash", "-c", f'die() {{ echo "$*" >&2; exit 1; }}\n{function}\nstate_backend_config'],
                          capture_output=True, text=True, env=env, timeout=30)


def test_local_flink_keeps_hashmap_state_unless_rocksdb_is_asked_for():
    """The tests' cluster stays on hashmap; ``FLINK_STATE_BACKEND=rocksdb`` (the benchmarks)
    checkpoints RocksDB incrementally, as deploy/flink does; anything else is refused."""
    assert _local_state_backend(None).stdout.split("\n")[0] == "state.backend.type: hashmap"
    rocksdb = _local_state_backend("rocksdb").stdout.splitlines()
    assert rocksdb[:2] == ["state.backend.type: rocksdb", "state.backend.incremental: true"]
    refused = _local_state_backend("memory")
    assert refused.returncode != 0 and "FLINK_STATE_BACKEND" in refused.stderr
