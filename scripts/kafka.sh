#!/usr/bin/env bash
# kafka.sh up|down|status|reset|fetch|jar|env|logs: a single-node Apache Kafka (KRaft: broker and
# controller in one JVM) on 127.0.0.1, run from plain Maven Central jars, plus the Beam KafkaIO expansion
# service jar that Beam's Python ReadFromKafka needs. `scripts/kafka.sh` alone prints this help.
#
#   up      fetch what is missing, format the storage once, start the broker, wait until it serves
#           (reuses a broker that this script started; fails if the port belongs to something else)
#   down    stop the broker that this script started (TERM, then KILL after a grace period)
#   status  say whether it runs, with pid and port (always exits 0)
#   reset   stop it and delete its data (topics, committed offsets)
#   fetch   only fetch the Kafka jars and build the expansion service jar (no-op when cached)
#   jar     print the absolute path of the expansion service jar (fetching it if needed)
#   env     print shell exports for other scripts: eval "$(scripts/kafka.sh env)"; with the broker's
#           classpath (SPECTATOR_KAFKA_CLASSPATH) for Kafka's own tools and the tests' secured broker
#   logs    print the tail of the broker's log
#
# Environment: SPECTATOR_CACHE (default <repo>/.cache), SPECTATOR_KAFKA_PORT (9092; the controller
# listens on port+1), SPECTATOR_KAFKA_HEAP (-Xmx512m -Xms128m), SPECTATOR_KAFKA_START_TIMEOUT (90 s).
#
# Cache layout:
#   $CACHE/kafka/<kafka version>/libs/*.jar            kafka_2.13 and its runtime dependencies
#   $CACHE/jars/beam-kafka-expansion-service-<beam>.jar launcher jar (Main-Class + Class-Path)
#   $CACHE/jars/beam-kafka-expansion-service-<beam>-libs/ what its Class-Path points at
#   $CACHE/run/kafka/{data,logs,server.properties,kafka.pid}
set -euo pipefail

source "$(dirname "$0")/common.sh"
mkdir -p "$CACHE"
CACHE=$(cd "$CACHE" && pwd)

# Kafka 3.9 is the last 3.x line: KRaft is production-ready, it runs on Java 17, and unlike 4.x its
# broker still speaks every older client protocol (KafkaIO's usual kafka-clients 2.4.1, kafka-python).
KAFKA_VERSION=3.9.2

HOST=127.0.0.1
PORT=${SPECTATOR_KAFKA_PORT:-9092}
CONTROLLER_PORT=$((PORT + 1))
HEAP=${SPECTATOR_KAFKA_HEAP:--Xmx512m -Xms128m}
START_TIMEOUT=${SPECTATOR_KAFKA_START_TIMEOUT:-90}
STOP_TIMEOUT=30

SERVICE_DIR=$ROOT/services/kafka
KAFKA_HOME=$CACHE/kafka/$KAFKA_VERSION
KAFKA_LIBS=$KAFKA_HOME/libs
JARS_DIR=$CACHE/jars
ES_NAME=beam-kafka-expansion-service-$BEAM_VERSION
ES_JAR=$JARS_DIR/$ES_NAME.jar
ES_LIBS=$JARS_DIR/$ES_NAME-libs
RUN_DIR=$CACHE/run/kafka
DATA_DIR=$RUN_DIR/data
LOG_DIR=$RUN_DIR/logs
PIDFILE=$RUN_DIR/kafka.pid
PORTFILE=$RUN_DIR/kafka.port
PROPS=$RUN_DIR/server.properties

port_owner() {  # best effort: who listens on port $1
  command -v ss >/dev/null || return 0
  ss -Hltnp "sport = :$1" 2>/dev/null | sed -n 's/.*users:((\(.*\)))/\1/p' | head -1
}

# The broker that this script started: the pidfile's process, if it is still a kafka.Kafka
# running our server.properties (a reused pid belongs to someone else).
our_pid() {
  [ -f "$PIDFILE" ] || return 1
  local pid
  pid=$(cat "$PIDFILE")
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q "kafka.Kafka $PROPS" || return 1
  echo "$pid"
}

mvn_quiet() {  # mvn_quiet ARGS...: runs Maven, prints its output only when it fails
  command -v mvn >/dev/null || die "mvn not found (apt-get install maven)"
  local log
  log=$(mktemp)
  if ! mvn -B -q "$@" >"$log" 2>&1; then
    cat "$log" >&2
    rm -f "$log"
    die "mvn $* failed"
  fi
  rm -f "$log"
}

fetch_kafka() {
  local stamp=$KAFKA_HOME/.fetched want
  want="kafka_2.13 $KAFKA_VERSION $(sha "$SERVICE_DIR/pom.xml")"
  [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && return 0
  say "fetching Apache Kafka $KAFKA_VERSION (kafka_2.13 and its dependencies) from Maven Central"
  local start=$SECONDS tmp=$KAFKA_HOME/libs.tmp
  rm -rf "$tmp"
  mkdir -p "$KAFKA_HOME"
  mvn_quiet -f "$SERVICE_DIR/pom.xml" -Dkafka.version="$KAFKA_VERSION" \
    dependency:copy-dependencies -DoutputDirectory="$tmp"
  ls "$tmp"/kafka_2.13-"$KAFKA_VERSION".jar >/dev/null || die "kafka_2.13-$KAFKA_VERSION.jar missing after fetch"
  rm -rf "$KAFKA_LIBS"
  mv "$tmp" "$KAFKA_LIBS"
  echo "$want" >"$stamp"
  say "Kafka $KAFKA_VERSION: $(find "$KAFKA_LIBS" -name "*.jar" | wc -l) jars in $KAFKA_LIBS ($((SECONDS - start)) s)"
}

# Beam's Python SDK would download org.apache.beam:beam-sdks-java-io-expansion-service:<beam>, a shaded
# jar that Maven Central does not serve for 2.70.0. Its build is only :sdks:java:expansion-service +
# :sdks:java:io:kafka + kafka-clients + slf4j-jdk14, so this assembles the same from those artifacts:
# their jars in $ES_LIBS, and a launcher jar whose manifest names them in Class-Path (relative, so the
# folder pair can move) and whose Main-Class is Beam's ExpansionService main bound to 127.0.0.1.
fetch_expansion_service() {
  local es_dir=$SERVICE_DIR/expansion-service src stamp=$JARS_DIR/.$ES_NAME.fetched want
  src=$es_dir/src/LocalExpansionService.java
  want="$ES_NAME kafka-clients-$KAFKA_VERSION $(sha "$es_dir/pom.xml" "$src")"
  [ -f "$ES_JAR" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && return 0
  if ! command -v javac >/dev/null || ! command -v jar >/dev/null; then
    die "javac and jar are needed (a JDK 17: apt-get install openjdk-17-jdk-headless)"
  fi
  say "fetching the Beam $BEAM_VERSION KafkaIO expansion service (expansion-service + io-kafka) from Maven Central"
  local start=$SECONDS tmp=$JARS_DIR/$ES_NAME.tmp
  rm -rf "$tmp"
  mkdir -p "$tmp/classes"
  mvn_quiet -f "$es_dir/pom.xml" -Dbeam.version="$BEAM_VERSION" -Dkafka.version="$KAFKA_VERSION" \
    dependency:copy-dependencies -DoutputDirectory="$tmp/libs"
  javac -nowarn --release 17 -d "$tmp/classes" -cp "$tmp/libs/*" "$src"
  {
    echo "Manifest-Version: 1.0"
    echo "Main-Class: spectator.services.LocalExpansionService"
    echo "Implementation-Title: Beam $BEAM_VERSION KafkaIO expansion service (kafka-clients $KAFKA_VERSION)"
    printf 'Class-Path:'
    # Continuation lines start with one space; the second space separates the entries.
    for f in "$tmp"/libs/*.jar; do printf '  %s\n' "$ES_NAME-libs/$(basename "$f")"; done
  } >"$tmp/MANIFEST.MF"
  jar --create --file "$tmp/$ES_NAME.jar" --manifest "$tmp/MANIFEST.MF" -C "$tmp/classes" .
  mkdir -p "$JARS_DIR"
  rm -rf "$ES_LIBS" "$ES_JAR"
  mv "$tmp/libs" "$ES_LIBS"
  mv "$tmp/$ES_NAME.jar" "$ES_JAR"
  rm -rf "$tmp"
  echo "$want" >"$stamp"
  say "expansion service: $ES_JAR (+ $(find "$ES_LIBS" -name "*.jar" | wc -l) jars, $((SECONDS - start)) s)"
}

fetch_all() {
  with_lock fetch fetch_kafka
  with_lock fetch fetch_expansion_service
}

write_config() {
  mkdir -p "$DATA_DIR" "$LOG_DIR"
  cat >"$PROPS" <<EOF
# Written by scripts/kafka.sh; rewritten on every 'up'.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@$HOST:$CONTROLLER_PORT
listeners=PLAINTEXT://$HOST:$PORT,CONTROLLER://$HOST:$CONTROLLER_PORT
advertised.listeners=PLAINTEXT://$HOST:$PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$DATA_DIR
num.partitions=1
default.replication.factor=1
auto.create.topics.enable=true
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=4
min.insync.replicas=1
group.initial.rebalance.delay.ms=0
num.network.threads=2
num.io.threads=2
num.recovery.threads.per.data.dir=1
# Records carry their event's time (spectator produce), which may be months old: retention by age
# would delete a replayed topic within minutes. Keep 1 GiB a partition instead.
log.retention.ms=-1
log.retention.bytes=1073741824
log.segment.bytes=67108864
EOF
  cat >"$RUN_DIR/log4j.properties" <<EOF
log4j.rootLogger=INFO, server
log4j.appender.server=org.apache.log4j.RollingFileAppender
log4j.appender.server.File=$LOG_DIR/server.log
log4j.appender.server.MaxFileSize=20MB
log4j.appender.server.MaxBackupIndex=2
log4j.appender.server.layout=org.apache.log4j.PatternLayout
log4j.appender.server.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.request.logger=WARN
log4j.logger.state.change.logger=WARN
log4j.logger.org.apache.kafka.controller=INFO
EOF
}

java_args() {  # fills JAVA_ARGS: JVM options and the Kafka classpath, logging to $LOG_DIR
  local heap
  read -r -a heap <<<"$HEAP"
  JAVA_ARGS=("${heap[@]}" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -Djava.awt.headless=true
    -Dkafka.logs.dir="$LOG_DIR" -Dlog4j.configuration="file:$RUN_DIR/log4j.properties"
    -cp "$KAFKA_LIBS/*")
}

java_cmd() {  # java_cmd MAINCLASS ARGS...
  java_args
  java "${JAVA_ARGS[@]}" "$@"
}

format_storage() {
  [ -f "$DATA_DIR/meta.properties" ] && return 0
  local cluster_id
  cluster_id=$(java_cmd kafka.tools.StorageTool random-uuid 2>>"$LOG_DIR/format.log" | tail -1)
  [ -n "$cluster_id" ] || die "kafka-storage random-uuid failed: $(tail -5 "$LOG_DIR/format.log")"
  say "formatting Kafka storage in $DATA_DIR (cluster id $cluster_id)"
  java_cmd kafka.tools.StorageTool format --ignore-formatted -t "$cluster_id" -c "$PROPS" \
    >>"$LOG_DIR/format.log" 2>&1 || die "kafka-storage format failed: $(tail -20 "$LOG_DIR/format.log")"
  echo "$cluster_id" >"$RUN_DIR/cluster.id"
}

cmd_up() {
  local pid
  if pid=$(our_pid); then
    local running_port
    running_port=$(cat "$PORTFILE" 2>/dev/null || echo "?")
    [ "$running_port" = "$PORT" ] ||
      die "a broker started by this script already runs on port $running_port (pid $pid), not $PORT: run '$0 down' first"
    say "Kafka already running on $HOST:$PORT (pid $pid), reusing it"
    return 0
  fi
  rm -f "$PIDFILE" "$PORTFILE"
  local p
  for p in "$PORT" "$CONTROLLER_PORT"; do
    if port_open "$p"; then
      local owner
      owner=$(port_owner "$p")
      die "port $p on $HOST is already taken by another process${owner:+ ($owner)}; stop it or set SPECTATOR_KAFKA_PORT (the controller uses port+1)"
    fi
  done
  command -v java >/dev/null || die "java not found (a Java 17 runtime is needed)"
  fetch_all
  write_config
  format_storage

  say "starting Kafka $KAFKA_VERSION on $HOST:$PORT (controller $HOST:$CONTROLLER_PORT), logs in $LOG_DIR"
  local start=$SECONDS
  # Only log lines written after this point tell whether this start worked.
  local log_from=1
  [ -f "$LOG_DIR/server.log" ] && log_from=$(($(wc -c <"$LOG_DIR/server.log") + 1))
  # A new session: the broker outlives this shell and its terminal. A background subshell of a
  # non-interactive script leads no process group, so setsid execs in place and $! is java's pid.
  java_args
  (
    exec </dev/null >>"$LOG_DIR/kafka.out" 2>&1 9>&-
    exec setsid java "${JAVA_ARGS[@]}" kafka.Kafka "$PROPS"
  ) &
  pid=$!
  echo "$pid" >"$PIDFILE"
  echo "$PORT" >"$PORTFILE"

  local deadline=$((SECONDS + START_TIMEOUT))
  while :; do
    if ! kill -0 "$pid" 2>/dev/null; then
      rm -f "$PIDFILE" "$PORTFILE"
      die "Kafka exited during start-up. Last lines of $LOG_DIR/server.log and kafka.out:
$(tail -c "+$log_from" "$LOG_DIR/server.log" 2>/dev/null | tail -n 25)
$(tail -n 10 "$LOG_DIR/kafka.out" 2>/dev/null)"
    fi
    if port_open "$PORT" && tail -c "+$log_from" "$LOG_DIR/server.log" 2>/dev/null | grep -q "Kafka Server started"; then
      break
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      local tail_lines
      tail_lines=$(tail -c "+$log_from" "$LOG_DIR/server.log" 2>/dev/null | tail -n 25)
      cmd_down >/dev/null 2>&1 || true
      die "Kafka did not come up on $HOST:$PORT within ${START_TIMEOUT}s (stopped it). Last lines of $LOG_DIR/server.log:
$tail_lines"
    fi
    sleep 0.5
  done
  say "Kafka up on $HOST:$PORT (pid $pid, $((SECONDS - start)) s)"
}

cmd_down() {
  local pid
  if ! pid=$(our_pid); then
    rm -f "$PIDFILE" "$PORTFILE"
    say "Kafka is not running (nothing started by this script)"
    return 0
  fi
  say "stopping Kafka (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  local i
  for ((i = 0; i < STOP_TIMEOUT * 10; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    say "Kafka did not stop within ${STOP_TIMEOUT}s, killing it"
    kill -KILL "$pid" 2>/dev/null || true
    sleep 0.2
  fi
  rm -f "$PIDFILE" "$PORTFILE"
  say "Kafka down"
}

cmd_status() {
  local pid
  if pid=$(our_pid); then
    local p
    p=$(cat "$PORTFILE" 2>/dev/null || echo "$PORT")
    if port_open "$p"; then
      echo "kafka: running, pid $pid, bootstrap $HOST:$p (Kafka $KAFKA_VERSION, data $DATA_DIR)"
    else
      echo "kafka: starting or unresponsive, pid $pid, port $p not accepting connections"
    fi
  else
    echo "kafka: stopped (port $PORT)"
  fi
}

cmd_env() {
  with_lock fetch fetch_expansion_service >&2
  local p
  p=$(cat "$PORTFILE" 2>/dev/null || echo "$PORT")
  cat <<EOF
export SPECTATOR_KAFKA_BOOTSTRAP=$HOST:$p
export SPECTATOR_EXPANSION_JAR=$ES_JAR
export SPECTATOR_KAFKA_CLASSPATH='$KAFKA_LIBS/*'
export BEAM_SERVICE_OVERRIDES='{"sdks:java:io:expansion-service:shadowJar": "$ES_JAR"}'
EOF
}

usage() {
  sed -n '2,/^set -euo/p' "$0" | sed -e '/^set -euo/d' -e 's/^# \{0,1\}//' >&2
  exit 2
}

cmd_reset() {  # stop the broker and delete its data (topics, offsets); the next 'up' formats anew
  cmd_down
  rm -rf "$DATA_DIR" "$RUN_DIR/cluster.id"
  say "Kafka data deleted ($DATA_DIR)"
}

case ${1:-} in
  up) with_lock up cmd_up ;;
  down) with_lock up cmd_down ;;
  reset) with_lock up cmd_reset ;;
  status) cmd_status ;;
  fetch) fetch_all ;;
  jar)
    with_lock fetch fetch_expansion_service >&2
    echo "$ES_JAR"
    ;;
  env) cmd_env ;;
  logs) tail -n "${2:-50}" "$LOG_DIR/server.log" ;;
  *) usage ;;
esac
