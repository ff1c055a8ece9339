#!/usr/bin/env bash
# Submit the streaming wire-ingest pipeline to Flink with Beam's portable FlinkRunner.
#
# Usage: deploy/flink/submit.sh [more wire-ingest/Beam options...]
#   Extra arguments pass through to `wire-ingest run` and win over the
#   defaults below. `--print-options` prints the resolved options and submits
#   nothing.
#
# Three ways to reach Flink, chosen by the environment:
#   JOB_ENDPOINT=host:8099       a running Beam Flink job server (the compose
#                                file's `jobserver`, or a Deployment in k8s).
#   FLINK_MASTER=host:8081       no job server: Beam starts one from the
#                                beam-runners-flink-2.2-job-server jar, which it
#                                downloads from Maven Central (needs Java).
#   OUTPUT_EXECUTABLE_PATH=x.jar with JOB_ENDPOINT: nothing runs; the job
#                                server writes a self-contained pipeline jar for
#                                Flink application mode (the Kubernetes operator).
#
# Every setting below is an environment variable with a default. The step
# names Flink restores state by are in deploy/flink/stateful-steps.txt.
set -euo pipefail

WIRE_INGEST=${WIRE_INGEST:-wire-ingest}
KAFKA_BOOTSTRAP=${KAFKA_BOOTSTRAP:-kafka:9092}
KAFKA_TOPIC=${KAFKA_TOPIC:-wire-raw}
KAFKA_GROUP=${KAFKA_GROUP:-wire-ingest}
KAFKA_OUTPUT_TOPIC=${KAFKA_OUTPUT_TOPIC:-wire-stories}
KAFKA_DEAD_LETTER_TOPIC=${KAFKA_DEAD_LETTER_TOPIC:-wire-dead-letters}
OUTPUT_DIR=${OUTPUT_DIR:-/data/out}
SDK_WORKER_POOL=${SDK_WORKER_POOL:-localhost:50000}
FLINK_VERSION=${FLINK_VERSION:-2.2}
PARALLELISM=${PARALLELISM:-2}
# Key groups of keyed state: fixed for the life of the job. Changing it makes
# savepoints unrestorable, so it is set here once and never derived.
MAX_PARALLELISM=${MAX_PARALLELISM:-128}
SDK_WORKER_PARALLELISM=${SDK_WORKER_PARALLELISM:-2}
CHECKPOINT_INTERVAL_MS=${CHECKPOINT_INTERVAL_MS:-30000}

args=(
  run
  --runner FlinkRunner
  --flink_version "$FLINK_VERSION"
  --streaming
  --environment_type EXTERNAL
  --environment_config "$SDK_WORKER_POOL"
  --parallelism "$PARALLELISM"
  --max_parallelism "$MAX_PARALLELISM"
  --sdk_worker_parallelism "$SDK_WORKER_PARALLELISM"
  --checkpointing_interval "$CHECKPOINT_INTERVAL_MS"
  --kafka-bootstrap "$KAFKA_BOOTSTRAP"
  --kafka-topic "$KAFKA_TOPIC"
  --kafka-group "$KAFKA_GROUP"
  --kafka-output-topic "$KAFKA_OUTPUT_TOPIC"
  --kafka-dead-letter-topic "$KAFKA_DEAD_LETTER_TOPIC"
  --output "$OUTPUT_DIR"
)

if [[ -n "${JOB_ENDPOINT:-}" ]]; then
  args+=(--job_endpoint "$JOB_ENDPOINT")
  if [[ -n "${ARTIFACT_ENDPOINT:-}" ]]; then
    args+=(--artifact_endpoint "$ARTIFACT_ENDPOINT")
  fi
elif [[ -n "${FLINK_MASTER:-}" ]]; then
  args+=(--flink_master "$FLINK_MASTER")
else
  echo "submit.sh: set JOB_ENDPOINT (a Beam Flink job server) or FLINK_MASTER (Flink REST host:port)" >&2
  exit 2
fi

if [[ -n "${OUTPUT_EXECUTABLE_PATH:-}" ]]; then
  args+=(--output_executable_path "$OUTPUT_EXECUTABLE_PATH")
fi

# WIRE_INGEST may be a command with arguments (e.g. "python -m pipelines.cli").
# shellcheck disable=SC2086
exec $WIRE_INGEST "${args[@]}" "$@"
