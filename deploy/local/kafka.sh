#!/usr/bin/env bash
# A single-node Apache Kafka broker on loopback, for local runs and the tests.
#
# Usage: deploy/local/kafka.sh start|stop|status|run|install|tool NAME [ARGS...]
#   start    install if needed, format the storage once, start the broker in
#            the background and wait until it answers; the last line of stdout
#            is `bootstrap=127.0.0.1:PORT`. Starting a running broker only
#            prints its bootstrap.
#   stop     stop the broker `start` started (SIGTERM, wait, then SIGKILL).
#   status   `running pid=N` or `stopped`, then `bootstrap=...` (exit 3 if stopped).
#   run      like start, in the foreground: the broker replaces this shell
#            (for supervisors and tests/broker.py, which wait for it themselves).
#   install  resolve the jars with Maven (deploy/local/kafka/pom.xml) into the
#            cache, once; prints the lib folder.
#   tool     one of Kafka's command-line tools from the cache, e.g.
#            kafka.sh tool kafka-consumer-groups --bootstrap-server B --describe --group G
#
# The broker is KRaft, one process that is both broker and controller, every
# listener on 127.0.0.1 only. Its state (config, data, log, pid) lives in one
# folder, kept between restarts: the same port, the same topics and offsets.
#
# Environment (defaults in brackets):
#   WIRE_INGEST_CACHE      [~/.cache/wire-ingest] jars in kafka/VERSION/lib
#   KAFKA_VERSION          [4.1.1]
#   KAFKA_HOME_DIR         [$WIRE_INGEST_CACHE/kafka/run] state folder
#   KAFKA_PORT             client port [the last one used, else a free one]
#   KAFKA_CONTROLLER_PORT  controller port [the last one used, else a free one]
#   KAFKA_ADVERTISED_PORT  port given to clients in metadata [KAFKA_PORT]; a
#                          proxy in front of the broker (tests) sets its own
#   KAFKA_HEAP_OPTS        [-Xms64m -Xmx512m]
#   KAFKA_JVM_OPTS         [-XX:+UseSerialGC -XX:TieredStopAtLevel=1]
#   KAFKA_START_TIMEOUT    seconds to wait for the broker to answer [90]
#   KAFKA_STOP_TIMEOUT     seconds between SIGTERM and SIGKILL [30]
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CACHE=${WIRE_INGEST_CACHE:-$HOME/.cache/wire-ingest}
VERSION=${KAFKA_VERSION:-4.1.1}
INSTALL_DIR=$CACHE/kafka/$VERSION
LIB=$INSTALL_DIR/lib
MARKER=$INSTALL_DIR/.installed
STATE=$(realpath -m -- "${KAFKA_HOME_DIR:-$CACHE/kafka/run}")
HEAP_OPTS=${KAFKA_HEAP_OPTS:--Xms64m -Xmx512m}
JVM_OPTS=${KAFKA_JVM_OPTS:--XX:+UseSerialGC -XX:TieredStopAtLevel=1}
START_TIMEOUT=${KAFKA_START_TIMEOUT:-90}
STOP_TIMEOUT=${KAFKA_STOP_TIMEOUT:-30}

PID_FILE=$STATE/kafka.pid
LOG_FILE=$STATE/kafka.log
PORTS_FILE=$STATE/ports
CONFIG=$STATE/server.properties
DATA=$STATE/data

die() {
  echo "kafka.sh: $*" >&2
  exit 1
}

# ---- install ---------------------------------------------------------------------------------------

install() {
  [[ -f $MARKER ]] && return 0
  command -v mvn >/dev/null || die "mvn not found: Maven 3.8+ resolves the broker's jars"
  command -v java >/dev/null || die "java not found: the broker needs Java 17+"
  mkdir -p "$CACHE/kafka"
  # One installer at a time (parallel test runs share the cache).
  exec 9>"$CACHE/kafka/.install-$VERSION.lock"
  flock -w 900 9 || die "another install of Kafka $VERSION holds $CACHE/kafka/.install-$VERSION.lock"
  if [[ ! -f $MARKER ]]; then
    echo "kafka.sh: installing Apache Kafka $VERSION into $INSTALL_DIR (Maven)" >&2
    local staging
    staging=$(mktemp -d "$CACHE/kafka/.staging-$VERSION.XXXXXX")
    if ! mvn -q -B -Dstyle.color=never -f "$HERE/kafka/pom.xml" -Dkafka.version="$VERSION" \
        dependency:copy-dependencies -DoutputDirectory="$staging/lib" >&2; then
      rm -rf "$staging"
      die "Maven could not resolve org.apache.kafka:kafka_2.13:$VERSION (see above)"
    fi
    [[ -f $staging/lib/kafka_2.13-$VERSION.jar ]] || die "no kafka_2.13-$VERSION.jar after the Maven copy"
    write_tools_log_config "$staging/tools-log4j2.properties"
    rm -rf "$INSTALL_DIR"
    mv "$staging" "$INSTALL_DIR"
    (cd "$LIB" && ls) >"$MARKER"
  fi
  flock -u 9
  exec 9>&-
}

write_tools_log_config() {
  cat >"$1" <<'EOF'
# Kafka's command-line tools: warnings and errors on stderr, nothing on stdout.
appender.err.type = Console
appender.err.name = STDERR
appender.err.target = SYSTEM_ERR
appender.err.layout.type = PatternLayout
appender.err.layout.pattern = [%d] %p %m (%c)%n
rootLogger = WARN, STDERR
EOF
}

# ---- configuration ---------------------------------------------------------------------------------

port_in_use() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# A port nobody listens on, below Linux's ephemeral range (so that no client
# connection takes it between now and the broker's bind).
free_port() {
  local port attempt
  for attempt in $(seq 200); do
    port=$((20000 + RANDOM % 12000))
    if ! port_in_use "$port" && [[ $port != "${1:-}" ]]; then
      echo "$port"
      return 0
    fi
  done
  die "no free port found in 20000-31999"
}

# Ports: the environment's, else the last ones used in this state folder, else free ones.
choose_ports() {
  local last_port="" last_controller=""
  if [[ -f $PORTS_FILE ]]; then
    last_port=$(sed -n 's/^port=//p' "$PORTS_FILE")
    last_controller=$(sed -n 's/^controller_port=//p' "$PORTS_FILE")
  fi
  PORT=${KAFKA_PORT:-${last_port:-$(free_port)}}
  CONTROLLER_PORT=${KAFKA_CONTROLLER_PORT:-${last_controller:-$(free_port "$PORT")}}
  ADVERTISED_PORT=${KAFKA_ADVERTISED_PORT:-$PORT}
  [[ $PORT != "$CONTROLLER_PORT" ]] || die "KAFKA_PORT and KAFKA_CONTROLLER_PORT are both $PORT"
  local port
  for port in "$PORT" "$CONTROLLER_PORT"; do
    port_in_use "$port" && die "port $port on 127.0.0.1 is taken (set KAFKA_PORT / KAFKA_CONTROLLER_PORT)"
  done
  printf 'port=%s\ncontroller_port=%s\nadvertised_port=%s\n' \
    "$PORT" "$CONTROLLER_PORT" "$ADVERTISED_PORT" >"$PORTS_FILE"
}

write_config() {
  cat >"$CONFIG" <<EOF
# Written by deploy/local/kafka.sh on every start; edits are lost.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$PORT,CONTROLLER://127.0.0.1:$CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$ADVERTISED_PORT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
log.dirs=$DATA

# One node: every internal topic has one replica.
offsets.topic.replication.factor=1
offsets.topic.num.partitions=3
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=3
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
default.replication.factor=1
min.insync.replicas=1

# Topics a producer names come into being with three partitions, as the tests' do.
auto.create.topics.enable=true
num.partitions=3
# Groups start at once instead of waiting 3 s for more members.
group.initial.rebalance.delay.ms=0

# Small machine: few threads, a small log-cleaner buffer (the default is 128 MB of heap).
num.network.threads=2
num.io.threads=4
background.threads=4
num.recovery.threads.per.data.dir=1
log.cleaner.threads=1
log.cleaner.dedupe.buffer.size=16777216
EOF
  cat >"$STATE/log4j2.properties" <<'EOF'
# The broker's log, on stdout (kafka.sh sends it to kafka.log).
appender.out.type = Console
appender.out.name = STDOUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger = INFO, STDOUT
logger.request.name = kafka.request.logger
logger.request.level = WARN
logger.state.name = state.change.logger
logger.state.level = WARN
logger.cleaner.name = kafka.log.LogCleaner
logger.cleaner.level = WARN
# Every client and server prints its full configuration at INFO.
logger.config.name = org.apache.kafka.common.config.AbstractConfig
logger.config.level = WARN
EOF
}

# Formats the storage of a state folder once; later starts keep the data. Kafka's
# storage tool formats a template once per install (one JVM start saved on every
# fresh state folder); a folder gets a copy of it. The template holds no port.
format_storage() {
  [[ -f $DATA/meta.properties ]] && return 0
  local template=$INSTALL_DIR/storage-template
  if [[ ! -f $template/meta.properties ]]; then
    local staging cluster_id
    staging=$(mktemp -d "$INSTALL_DIR/.template.XXXXXX")
    # A Kafka UUID: 16 random bytes, URL-safe base64 without padding.
    cluster_id=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')
    cat >"$staging/format.properties" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:9093
listeners=PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093
controller.listener.names=CONTROLLER
log.dirs=$staging/data
EOF
    # shellcheck disable=SC2086
    if ! java $HEAP_OPTS $JVM_OPTS -cp "$LIB/*" \
        -Dlog4j2.configurationFile="$INSTALL_DIR/tools-log4j2.properties" \
        kafka.tools.StorageTool format --cluster-id "$cluster_id" --config "$staging/format.properties" \
        >"$staging/format.log" 2>&1; then
      cat "$staging/format.log" >&2
      rm -rf "$staging"
      die "Kafka's storage tool could not format $staging/data"
    fi
    # Two starts at once: the first rename wins, the other copy is dropped.
    mv -T "$staging/data" "$template" 2>/dev/null || true
    rm -rf "$staging"
  fi
  mkdir -p "$DATA"
  cp "$template/meta.properties" "$template/bootstrap.checkpoint" "$DATA/"
}

prepare() {
  install
  mkdir -p "$STATE"
  choose_ports
  write_config
  format_storage
}

broker_command() {
  # shellcheck disable=SC2206
  BROKER_CMD=(java $HEAP_OPTS $JVM_OPTS -Djava.awt.headless=true
    -Dlog4j2.configurationFile="$STATE/log4j2.properties"
    -Dwire_ingest.kafka.home="$STATE"
    -cp "$LIB/*" kafka.Kafka "$CONFIG")
}

# ---- process ---------------------------------------------------------------------------------------

# The pid in the pid file, if that process is the broker of this state folder.
running_pid() {
  [[ -f $PID_FILE ]] || return 1
  local pid
  pid=$(cat "$PID_FILE")
  [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "-Dwire_ingest.kafka.home=$STATE " || return 1
  echo "$pid"
}

bootstrap_line() {
  local advertised
  advertised=$(sed -n 's/^advertised_port=//p' "$PORTS_FILE" 2>/dev/null || true)
  echo "bootstrap=127.0.0.1:${advertised:-?}"
}

# An ApiVersions request (v0, correlation id 7) on the client port: the broker
# answers with the correlation id and error code 0 once it serves requests.
answers() {
  local reply
  reply=$(timeout 3 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
    printf "\x00\x00\x00\x0a\x00\x12\x00\x00\x00\x00\x00\x07\x00\x00" >&3
    head -c 10 <&3 | od -An -tx1' _ "$1" 2>/dev/null) || return 1
  reply=${reply//[[:space:]]/}
  [[ ${reply:8:8} == 00000007 && ${reply:16:4} == 0000 ]]
}

wait_until_ready() {
  local pid=$1 deadline=$((SECONDS + START_TIMEOUT))
  while ((SECONDS < deadline)); do
    if ! kill -0 "$pid" 2>/dev/null; then
      rm -f "$PID_FILE"
      echo "kafka.sh: the broker exited during start; last lines of $LOG_FILE:" >&2
      tail -n 40 "$LOG_FILE" >&2
      exit 1
    fi
    if grep -q "Kafka Server started" "$LOG_FILE" 2>/dev/null && answers "$PORT"; then
      return 0
    fi
    sleep 0.2
  done
  echo "kafka.sh: the broker did not answer on 127.0.0.1:$PORT within ${START_TIMEOUT}s;" \
    "last lines of $LOG_FILE:" >&2
  tail -n 40 "$LOG_FILE" >&2
  stop_broker >&2
  exit 1
}

start() {
  local pid
  if pid=$(running_pid); then
    echo "already running pid=$pid; state $STATE"
    bootstrap_line
    return 0
  fi
  prepare
  broker_command
  local started=$SECONDS
  echo "==== start $(date '+%F %T') ====" >>"$LOG_FILE"
  nohup "${BROKER_CMD[@]}" >>"$LOG_FILE" 2>&1 </dev/null &
  pid=$!
  echo "$pid" >"$PID_FILE"
  wait_until_ready "$pid"
  echo "started pid=$pid in $((SECONDS - started))s; state $STATE, log $LOG_FILE"
  bootstrap_line
}

run() {
  prepare
  broker_command
  echo "==== run $(date '+%F %T') ====" >>"$LOG_FILE"
  echo "$$" >"$PID_FILE"
  exec "${BROKER_CMD[@]}"
}

stop_broker() {
  local pid
  if ! pid=$(running_pid); then
    rm -f "$PID_FILE"
    echo "stopped (not running)"
    return 0
  fi
  kill -TERM "$pid" 2>/dev/null || true
  local deadline=$((SECONDS + STOP_TIMEOUT))
  while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do
    sleep 0.2
  done
  if kill -0 "$pid" 2>/dev/null; then
    echo "kafka.sh: pid $pid still up after ${STOP_TIMEOUT}s: SIGKILL" >&2
    kill -KILL "$pid" 2>/dev/null || true
    while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
  fi
  rm -f "$PID_FILE"
  echo "stopped pid=$pid"
}

status() {
  local pid
  if pid=$(running_pid); then
    echo "running pid=$pid state=$STATE"
    bootstrap_line
    return 0
  fi
  echo "stopped state=$STATE"
  [[ -f $PORTS_FILE ]] && bootstrap_line
  return 3
}

# ---- tools -----------------------------------------------------------------------------------------

tool_class() {
  case $1 in
    kafka-acls) echo org.apache.kafka.tools.AclCommand ;;
    kafka-broker-api-versions) echo org.apache.kafka.tools.BrokerApiVersionsCommand ;;
    kafka-cluster) echo org.apache.kafka.tools.ClusterTool ;;
    kafka-configs) echo kafka.admin.ConfigCommand ;;
    kafka-console-consumer) echo org.apache.kafka.tools.consumer.ConsoleConsumer ;;
    kafka-console-producer) echo org.apache.kafka.tools.ConsoleProducer ;;
    kafka-consumer-groups) echo org.apache.kafka.tools.consumer.group.ConsumerGroupCommand ;;
    kafka-delete-records) echo org.apache.kafka.tools.DeleteRecordsCommand ;;
    kafka-dump-log) echo kafka.tools.DumpLogSegments ;;
    kafka-features) echo org.apache.kafka.tools.FeatureCommand ;;
    kafka-get-offsets) echo org.apache.kafka.tools.GetOffsetShell ;;
    kafka-groups) echo org.apache.kafka.tools.GroupsCommand ;;
    kafka-leader-election) echo org.apache.kafka.tools.LeaderElectionCommand ;;
    kafka-log-dirs) echo org.apache.kafka.tools.LogDirsCommand ;;
    kafka-metadata-quorum) echo org.apache.kafka.tools.MetadataQuorumCommand ;;
    kafka-reassign-partitions) echo org.apache.kafka.tools.reassign.ReassignPartitionsCommand ;;
    kafka-storage) echo kafka.tools.StorageTool ;;
    kafka-topics) echo org.apache.kafka.tools.TopicCommand ;;
    kafka-transactions) echo org.apache.kafka.tools.TransactionsCommand ;;
    *) return 1 ;;
  esac
}

tool() {
  [[ $# -ge 1 ]] || die "usage: kafka.sh tool NAME [ARGS...]"
  local name=${1%.sh} class
  shift
  class=$(tool_class "$name") || die "unknown tool '$name' (known: $(tool_names))"
  install
  # shellcheck disable=SC2086
  exec java ${KAFKA_TOOL_HEAP_OPTS:--Xmx256m} $JVM_OPTS -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$INSTALL_DIR/tools-log4j2.properties" -cp "$LIB/*" "$class" "$@"
}

tool_names() {
  sed -n 's/^ *\(kafka-[a-z-]*\)) echo.*/\1/p' "${BASH_SOURCE[0]}" | tr '\n' ' '
}

case ${1:-} in
  start) start ;;
  stop) stop_broker ;;
  status) status ;;
  run) run ;;
  install) install && echo "$LIB" ;;
  tool) shift && tool "$@" ;;
  *) die "usage: kafka.sh start|stop|status|run|install|tool NAME [ARGS...]" ;;
esac
