#!/usr/bin/env bash
# A local Apache Flink cluster for wire-ingest, on loopback only.
#
#   deploy/local/flink.sh install   fetch Flink and build Beam's Flink job server into the cache
#   deploy/local/flink.sh start     install if needed, start a JobManager and a TaskManager,
#                                   wait until the TaskManager has registered, and print
#                                   `flink_master=HOST:PORT` as the last line
#   deploy/local/flink.sh stop      stop what start started
#   deploy/local/flink.sh status    running or stopped, and where
#   deploy/local/flink.sh taskmanager start|stop|kill
#                                   one TaskManager more, a clean stop, or `kill -9`
#   deploy/local/flink.sh expansion-service start|stop
#                                   Beam's Java expansion service (KafkaIO for
#                                   `--kafka-reader java`) from the job-server jar, its
#                                   Java transforms run in the TaskManager (EMBEDDED);
#                                   `start` prints `expansion_service=HOST:PORT` last
#   deploy/local/flink.sh job-server-jar
#                                   print the cached job-server jar's path
#   deploy/local/flink.sh flink ARGS...
#                                   Flink's own `flink` command against this cluster
#
# Where things go:
#   WIRE_INGEST_CACHE  (default ~/.cache/wire-ingest) holds the Flink distribution
#                      (from the apache-flink and apache-flink-libraries packages,
#                      which carry it with its bin/ scripts) and the job-server jar
#                      (deploy/local/flink-job-server/pom.xml, built with Maven);
#   FLINK_STATE_DIR    (default $WIRE_INGEST_CACHE/flink/run) holds the cluster's
#                      configuration, logs, pid files, checkpoints and savepoints;
#   FLINK_REST_PORT    the REST port (default: a free one);
#   FLINK_SLOTS        task slots of the TaskManager (default 2);
#   FLINK_STATE_BACKEND hashmap (default) or rocksdb (RocksDB, incremental
#                      checkpoints, as deploy/flink runs; bench/engines_bench.py
#                      uses it). The tests keep hashmap: with incremental RocksDB,
#                      Flink 1.19.3's JobManager once rejected a checkpoint
#                      acknowledgement ("Attempt to reference unknown state") and
#                      that checkpoint never completed;
#   PYTHON             the interpreter whose pip fetches Flink (default python3).
set -euo pipefail

FLINK_VERSION=1.19.3
FLINK_MINOR=1.19
BEAM_JAVA_VERSION=2.62.0

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CACHE="${WIRE_INGEST_CACHE:-$HOME/.cache/wire-ingest}"
PYTHON="${PYTHON:-python3}"
DIST_DIR="$CACHE/flink/$FLINK_VERSION"
FLINK_HOME_DIR="$DIST_DIR/home"
JOB_SERVER_JAR="$CACHE/flink/job-server/beam-runners-flink-$FLINK_MINOR-job-server-$BEAM_JAVA_VERSION.jar"
STATE="${FLINK_STATE_DIR:-$CACHE/flink/run}"

log() { echo "flink.sh: $*" >&2; }
die() { log "$*"; exit 1; }

state_backend_config() {
    case "${FLINK_STATE_BACKEND:-hashmap}" in
        hashmap) echo "state.backend.type: hashmap" ;;
        rocksdb) printf '%s\n' "state.backend.type: rocksdb" "state.backend.incremental: true" \
                     "state.backend.rocksdb.memory.managed: true" ;;
        *) die "FLINK_STATE_BACKEND: hashmap or rocksdb, not ${FLINK_STATE_BACKEND}" ;;
    esac
}

free_port() {
    "$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

install_flink() {
    [[ -f "$FLINK_HOME_DIR/.installed" ]] && return 0
    command -v java >/dev/null || die "java not found: Flink needs Java 11 or 17"
    log "installing Flink $FLINK_VERSION into $FLINK_HOME_DIR"
    local packages="$DIST_DIR/packages"
    rm -rf "$packages" "$FLINK_HOME_DIR"
    mkdir -p "$packages"
    "$PYTHON" -m pip install --quiet --disable-pip-version-check --no-deps --target "$packages" \
        "apache-flink==$FLINK_VERSION" "apache-flink-libraries==$FLINK_VERSION" \
        || die "could not install apache-flink $FLINK_VERSION with $PYTHON -m pip"
    # apache-flink-libraries carries lib/, opt/ and plugins/; apache-flink the bin/ scripts and conf/.
    mkdir -p "$FLINK_HOME_DIR"
    cp -r "$packages/pyflink/lib" "$packages/pyflink/opt" "$packages/pyflink/plugins" \
        "$packages/pyflink/bin" "$packages/pyflink/conf" "$FLINK_HOME_DIR/"
    chmod +x "$FLINK_HOME_DIR"/bin/*
    rm -rf "$packages"
    touch "$FLINK_HOME_DIR/.installed"
}

install_job_server() {
    [[ -f "$JOB_SERVER_JAR" ]] && return 0
    command -v mvn >/dev/null || die "mvn not found: building Beam's Flink job server needs Maven"
    log "building Beam's Flink $FLINK_MINOR job server $BEAM_JAVA_VERSION into $JOB_SERVER_JAR"
    local build="$CACHE/flink/job-server/build"
    mvn -q -B -f "$HERE/flink-job-server/pom.xml" package -Djar.output="$build" \
        -Dbeam.version="$BEAM_JAVA_VERSION" -Dflink.minor="$FLINK_MINOR" >&2 \
        || die "Maven could not build the job server (deploy/local/flink-job-server/pom.xml)"
    mv "$build/$(basename "$JOB_SERVER_JAR")" "$JOB_SERVER_JAR"
    rm -rf "$build"
}

install() {
    install_flink
    install_job_server
}

java_opts() {
    # The module openings Flink's own configuration ships for Java 17.
    grep -A3 '^env:' "$FLINK_HOME_DIR/conf/config.yaml" | sed -n 's/^ *all: //p'
}

write_conf() {
    local rest_port=$1 rpc_port=$2
    mkdir -p "$STATE/conf" "$STATE/log" "$STATE/checkpoints" "$STATE/savepoints"
    cp "$FLINK_HOME_DIR"/conf/log4j*.properties "$FLINK_HOME_DIR"/conf/logback*.xml "$STATE/conf/"
    state_backend_config > /dev/null  # an unknown FLINK_STATE_BACKEND stops here
    # The flat (legacy) configuration file: one key a line, written whole here.
    cat > "$STATE/conf/flink-conf.yaml" <<EOF
jobmanager.rpc.address: localhost
jobmanager.bind-host: localhost
jobmanager.rpc.port: $rpc_port
jobmanager.memory.process.size: ${FLINK_JOBMANAGER_MEMORY:-1024m}
taskmanager.bind-host: localhost
taskmanager.host: localhost
taskmanager.numberOfTaskSlots: ${FLINK_SLOTS:-2}
taskmanager.memory.process.size: ${FLINK_TASKMANAGER_MEMORY:-1600m}
parallelism.default: 1
rest.address: localhost
rest.bind-address: localhost
rest.port: $rest_port
blob.server.port: 0
$(state_backend_config)
state.checkpoints.dir: file://$STATE/checkpoints
state.savepoints.dir: file://$STATE/savepoints
execution.checkpointing.externalized-checkpoint-retention: RETAIN_ON_CANCELLATION
restart-strategy.type: fixed-delay
restart-strategy.fixed-delay.attempts: 20
restart-strategy.fixed-delay.delay: 2 s
heartbeat.timeout: 20000
metrics.reporter.prom.factory.class: org.apache.flink.metrics.prometheus.PrometheusReporterFactory
metrics.reporter.prom.port: ${FLINK_PROMETHEUS_PORTS:-9250-9260}
env.java.opts.all: $(java_opts)
EOF
    printf 'localhost\n' > "$STATE/conf/workers"
    printf 'localhost:%s\n' "$rest_port" > "$STATE/conf/masters"
    echo "$rest_port" > "$STATE/rest.port"
}

flink_env() {
    export FLINK_HOME="$FLINK_HOME_DIR" FLINK_CONF_DIR="$STATE/conf" \
        FLINK_LOG_DIR="$STATE/log" FLINK_PID_DIR="$STATE"
}

rest_port() { cat "$STATE/rest.port" 2>/dev/null || true; }

overview() {
    local port
    port=$(rest_port)
    [[ -n "$port" ]] && curl -sf --max-time 2 "http://localhost:$port/overview"
}

registered_taskmanagers() {
    overview | "$PYTHON" -c 'import json, sys; print(json.load(sys.stdin)["taskmanagers"])' 2>/dev/null \
        || echo 0
}

wait_for_taskmanagers() {
    local want=$1 deadline=$((SECONDS + ${FLINK_START_TIMEOUT:-120}))
    while (( SECONDS < deadline )); do
        if (( $(registered_taskmanagers) >= want )); then
            return 0
        fi
        sleep 1
    done
    tail -n 30 "$STATE"/log/*.log >&2 || true
    die "the cluster did not have $want TaskManager(s) within ${FLINK_START_TIMEOUT:-120} s"
}

start() {
    install
    if overview >/dev/null 2>&1; then
        log "already running"
        echo "flink_master=localhost:$(rest_port)"
        return 0
    fi
    local rest_port=${FLINK_REST_PORT:-$(free_port)}
    write_conf "$rest_port" "$(free_port)"
    flink_env
    "$FLINK_HOME/bin/jobmanager.sh" start >&2
    "$FLINK_HOME/bin/taskmanager.sh" start >&2
    wait_for_taskmanagers 1
    log "job-server jar: $JOB_SERVER_JAR"
    echo "flink_master=localhost:$rest_port"
}

stop() {
    expansion_service stop
    if [[ ! -d "$STATE/conf" ]]; then
        log "not running"
        return 0
    fi
    flink_env
    "$FLINK_HOME/bin/taskmanager.sh" stop-all >&2 || true
    "$FLINK_HOME/bin/jobmanager.sh" stop-all >&2 || true
    rm -f "$STATE/rest.port"
}

status() {
    if overview >/dev/null 2>&1; then
        echo "running: flink_master=localhost:$(rest_port), $(registered_taskmanagers) TaskManager(s)"
    else
        echo "stopped"
        return 1
    fi
}

taskmanager() {
    flink_env
    case "${1:-}" in
        start) "$FLINK_HOME/bin/taskmanager.sh" start >&2 ;;
        stop) "$FLINK_HOME/bin/taskmanager.sh" stop >&2 ;;
        kill)
            local pids
            pids=$(pgrep -f "org.apache.flink.runtime.taskexecutor.TaskManagerRunner --configDir $STATE/conf" || true)
            [[ -n "$pids" ]] || die "no TaskManager is running"
            kill -9 $pids
            rm -f "$STATE"/flink-*-taskexecutor.pid
            ;;
        *) die "usage: flink.sh taskmanager start|stop|kill" ;;
    esac
}

expansion_service() {
    local pid_file="$STATE/expansion-service.pid"
    case "${1:-}" in
        start)
            install_job_server
            mkdir -p "$STATE/log"
            local port=${EXPANSION_PORT:-$(free_port)}
            nohup java -cp "$JOB_SERVER_JAR" org.apache.beam.sdk.expansion.service.ExpansionService \
                "$port" --defaultEnvironmentType=EMBEDDED \
                > "$STATE/log/expansion-service.log" 2>&1 &
            echo $! > "$pid_file"
            local deadline=$((SECONDS + 60))
            until "$PYTHON" -c 'import socket, sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1).close()' "$port" 2>/dev/null; do
                kill -0 "$(cat "$pid_file")" 2>/dev/null || die "the expansion service exited: $(tail -5 "$STATE/log/expansion-service.log")"
                (( SECONDS < deadline )) || die "the expansion service did not listen within 60 s"
                sleep 0.5
            done
            echo "expansion_service=localhost:$port"
            ;;
        stop)
            [[ -f "$pid_file" ]] && kill "$(cat "$pid_file")" 2>/dev/null || true
            rm -f "$pid_file"
            ;;
        *) die "usage: flink.sh expansion-service start|stop" ;;
    esac
}

case "${1:-}" in
    install) install; echo "job_server_jar=$JOB_SERVER_JAR" ;;
    start) start ;;
    stop) stop ;;
    status) status ;;
    taskmanager) shift; taskmanager "$@" ;;
    expansion-service) shift; expansion_service "$@" ;;
    job-server-jar) echo "$JOB_SERVER_JAR" ;;
    flink) shift; install_flink; flink_env; exec "$FLINK_HOME/bin/flink" "$@" ;;
    *) echo "usage: $0 install|start|stop|status|taskmanager start|stop|kill|job-server-jar|flink ARGS" >&2
       exit 2 ;;
esac
