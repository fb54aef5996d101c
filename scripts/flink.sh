#!/usr/bin/env bash
# flink.sh up|down|status|env|logs|jar|assemble: a local standalone Flink cluster for the FlinkRunner.
#
#   up        assemble Flink and build the job server (once), then start what is not running:
#             a JobManager and a TaskManager, Beam's job server, the KafkaIO expansion service
#             (EMBEDDED) and the Python worker pool, all on 127.0.0.1; waits until each serves.
#             After a crash (say a TaskManager killed) `up` starts just the missing pieces.
#   down [PIECE...]  stop the processes this script started (TERM, then KILL after a grace
#             period): all of them, or the pieces named (say taskmanager-2)
#   status    print the state of each piece (exit 0 either way)
#   env       print shell exports for other scripts: eval "$(scripts/flink.sh env)"
#   logs [jobmanager|taskmanager|taskmanager-N|jobserver|expansion|workers] [N]   the tail of a log
#   jar       build Beam's Flink job server jar with Maven (once) and print its absolute path
#   assemble  only download and unpack Flink
#
# Flink comes from PyPI, not from a tarball: apache-flink-libraries holds flink-dist, lib/, opt/
# and plugins/, and the apache-flink wheel holds bin/ and conf/. Both are unpacked under
# $SPECTATOR_CACHE/flink/<version>/ (never into the project venv: apache-flink pins an older
# apache-beam). Config, logs, pid files, artifacts and checkpoints live in $SPECTATOR_CACHE/run/flink/.
#
# The job server is the project's own shaded jar (services/flink/pom.xml): Maven Central serves
# no beam-runners-flink-*-job-server artifact. It also goes into Flink's lib/ (see config.yaml.in).
#
# Settings (environment):
#   SPECTATOR_CACHE                 cache root (default <repo>/.cache)
#   SPECTATOR_FLINK_PORT            REST / web UI port (default 8081)
#   SPECTATOR_FLINK_RPC_PORT        JobManager RPC port (default 6123)
#   SPECTATOR_FLINK_JOB_PORT        Beam job server port (default 8099; its artifact port is +1)
#   SPECTATOR_FLINK_EXPANSION_PORT  KafkaIO expansion service port (default 8097)
#   SPECTATOR_FLINK_WORKER_PORT     Python worker pool port (default 50000)
#   SPECTATOR_FLINK_SLOTS           task slots of each TaskManager (default 4)
#   SPECTATOR_FLINK_TASKMANAGERS    TaskManagers `up` runs (default 1); the others are taskmanager-2, ...
#                                   and a job's slots are spread over them, as on a real cluster
#   SPECTATOR_FLINK_PARALLELISM     jobs' default parallelism (default 2, one a core here)
#   SPECTATOR_FLINK_JM_MEMORY       JobManager process size (default 1024m)
#   SPECTATOR_FLINK_TM_MEMORY       TaskManager process size (default 1600m)
#   SPECTATOR_FLINK_WAIT            seconds `up` waits for the cluster (default 120)
#   SPECTATOR_FLINK_MASTER          an existing cluster's REST address: `up` then starts only the job
#                                   server, expansion service and worker pool, for that cluster (its
#                                   TaskManagers need the job server jar in lib/ and must reach them)
#   JAVA_HOME                       the Java to run Flink with (default: `java` on PATH; 11 or 17)
set -euo pipefail
source "$(dirname "$0")/common.sh"

FLINK_VERSION=1.19.3          # apache-flink-libraries / apache-flink on PyPI, and the cluster
FLINK_MINOR=${FLINK_VERSION%.*}
JOB_SERVICE_VERSION=2.65.0    # beam-runners-java-job-service: 2.70.0 is not served, 2.65.0 is

FLINK_HOME=$CACHE/flink/$FLINK_VERSION
JAR_DIR=$CACHE/jars
JOB_SERVER_JAR=$JAR_DIR/beam-flink-$FLINK_MINOR-job-server-$BEAM_VERSION.jar
# Sorts before flink-dist and log4j-* in lib/, so its slf4j 2 and log4j2 come first on the classpath.
LIB_JAR=$FLINK_HOME/lib/beam-flink-job-server.jar
FRUN=$RUN_DIR/flink
CONF_DIR=$FRUN/conf
LOG_DIR=$FRUN/log
HOST=127.0.0.1
REST_PORT=${SPECTATOR_FLINK_PORT:-8081}
RPC_PORT=${SPECTATOR_FLINK_RPC_PORT:-6123}
JOB_PORT=${SPECTATOR_FLINK_JOB_PORT:-8099}
ARTIFACT_PORT=$((JOB_PORT + 1))
EXPANSION_PORT=${SPECTATOR_FLINK_EXPANSION_PORT:-8097}
WORKER_PORT=${SPECTATOR_FLINK_WORKER_PORT:-50000}
SLOTS=${SPECTATOR_FLINK_SLOTS:-4}
PARALLELISM=${SPECTATOR_FLINK_PARALLELISM:-2}
JM_MEMORY=${SPECTATOR_FLINK_JM_MEMORY:-1024m}
TM_MEMORY=${SPECTATOR_FLINK_TM_MEMORY:-1600m}
WAIT_SECONDS=${SPECTATOR_FLINK_WAIT:-120}
REST_URL=http://$HOST:$REST_PORT
TASKMANAGERS=${SPECTATOR_FLINK_TASKMANAGERS:-1}
[[ $TASKMANAGERS =~ ^[1-9][0-9]*$ ]] || die "SPECTATOR_FLINK_TASKMANAGERS must be a positive number, not '$TASKMANAGERS'"
PIECES=(jobmanager taskmanager)
for ((i = 2; i <= TASKMANAGERS; i++)); do PIECES+=("taskmanager-$i"); done
PIECES+=(jobserver expansion workers)
MASTER=${SPECTATOR_FLINK_MASTER:-$HOST:$REST_PORT}
if [ "$MASTER" != "$HOST:$REST_PORT" ]; then
  PIECES=(jobserver expansion workers)
  REST_URL=http://${MASTER#http://}
fi

# Flink's default Java 17 opens (its shipped config.yaml), plus java.lang/java.nio/java.util
# that Beam's runner needs; harmless on Java 11.
JAVA_OPENS=(
  --add-exports=java.base/sun.net.util=ALL-UNNAMED
  --add-exports=java.rmi/sun.rmi.registry=ALL-UNNAMED
  --add-exports=jdk.compiler/com.sun.tools.javac.api=ALL-UNNAMED
  --add-exports=jdk.compiler/com.sun.tools.javac.file=ALL-UNNAMED
  --add-exports=jdk.compiler/com.sun.tools.javac.parser=ALL-UNNAMED
  --add-exports=jdk.compiler/com.sun.tools.javac.tree=ALL-UNNAMED
  --add-exports=jdk.compiler/com.sun.tools.javac.util=ALL-UNNAMED
  --add-exports=java.security.jgss/sun.security.krb5=ALL-UNNAMED
  --add-opens=java.base/java.lang=ALL-UNNAMED
  --add-opens=java.base/java.net=ALL-UNNAMED
  --add-opens=java.base/java.io=ALL-UNNAMED
  --add-opens=java.base/java.nio=ALL-UNNAMED
  --add-opens=java.base/sun.nio.ch=ALL-UNNAMED
  --add-opens=java.base/java.lang.reflect=ALL-UNNAMED
  --add-opens=java.base/java.text=ALL-UNNAMED
  --add-opens=java.base/java.time=ALL-UNNAMED
  --add-opens=java.base/java.util=ALL-UNNAMED
  --add-opens=java.base/java.util.concurrent=ALL-UNNAMED
  --add-opens=java.base/java.util.concurrent.atomic=ALL-UNNAMED
  --add-opens=java.base/java.util.concurrent.locks=ALL-UNNAMED
)

java_bin() { if [ -n "${JAVA_HOME:-}" ]; then echo "$JAVA_HOME/bin/java"; else command -v java || true; fi; }

check_java() {
  local java major
  java=$(java_bin)
  [ -n "$java" ] && [ -x "$java" ] || die "no java found: install a JDK 17 (apt-get install openjdk-17-jre-headless) or set JAVA_HOME"
  major=$("$java" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java\.specification\.version = //p')
  case $major in
    11|17) ;;
    *) say "warning: Flink $FLINK_MINOR supports Java 11 and 17; $java is Java $major (set JAVA_HOME)" ;;
  esac
}

http_get() { curl -fsS --max-time 5 "$1" 2>/dev/null; }

# ---------------------------------------------------------------- assemble
pip_download() {  # pip_download DEST ARGS...: download without installing
  local dest=$1; shift
  local pip=("$VENV/bin/pip")
  [ -x "$VENV/bin/pip" ] || pip=(python3 -m pip)
  "${pip[@]}" download --quiet --disable-pip-version-check --no-deps -d "$dest" "$@"
}

assemble() {
  local stamp=$FLINK_HOME/.assembled
  [ "$(cat "$stamp" 2>/dev/null)" = "$FLINK_VERSION" ] && return 0
  mkdir -p "$CACHE/flink"
  exec 7>"$CACHE/flink/.lock"
  flock 7
  [ "$(cat "$stamp" 2>/dev/null)" = "$FLINK_VERSION" ] && return 0   # another run did it meanwhile
  say "assembling Flink $FLINK_VERSION from PyPI into $FLINK_HOME"
  local dl=$CACHE/flink/download-$FLINK_VERSION work=$FLINK_HOME.partial
  mkdir -p "$dl"
  # apache-flink-libraries is an sdist only (230 MB); the wheel's bin/ and conf/ do not depend on
  # the platform, so fetch the CPython 3.11 x86_64 wheel whatever Python runs this.
  ls "$dl"/apache-flink-libraries-"$FLINK_VERSION".tar.gz >/dev/null 2>&1 \
    || pip_download "$dl" "apache-flink-libraries==$FLINK_VERSION"
  ls "$dl"/apache_flink-"$FLINK_VERSION"-*.whl >/dev/null 2>&1 \
    || pip_download "$dl" --only-binary=:all: --python-version 3.11 --implementation cp --abi cp311 \
         --platform manylinux2014_x86_64 "apache-flink==$FLINK_VERSION"
  rm -rf "$work" && mkdir -p "$work"
  # The sdist's deps/ is a Flink distribution without bin/ and conf/: lib/ opt/ plugins/ bin/bash-java-utils.jar
  tar -xzf "$dl"/apache-flink-libraries-"$FLINK_VERSION".tar.gz -C "$work" --strip-components=1 \
    "apache-flink-libraries-$FLINK_VERSION/deps" "apache-flink-libraries-$FLINK_VERSION/LICENSE" \
    "apache-flink-libraries-$FLINK_VERSION/NOTICE"
  mv "$work"/deps/* "$work"/ && rmdir "$work/deps"
  local whl; whl=$(ls "$dl"/apache_flink-"$FLINK_VERSION"-*.whl | head -1)
  python3 - "$whl" "$work" <<'EOF'
import sys, zipfile, os
whl, out = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(whl) as z:
    for name in z.namelist():
        for part in ("bin", "conf"):
            prefix = f"pyflink/{part}/"
            if name.startswith(prefix) and not name.endswith("/"):
                dest = os.path.join(out, part, name[len(prefix):])
                os.makedirs(os.path.dirname(dest), exist_ok=True)
                with z.open(name) as src, open(dest, "wb") as dst:
                    dst.write(src.read())
EOF
  chmod +x "$work"/bin/*.sh "$work/bin/flink"
  [ -f "$work/lib/flink-dist-$FLINK_VERSION.jar" ] && [ -f "$work/bin/bash-java-utils.jar" ] \
    && [ -f "$work/bin/jobmanager.sh" ] || die "the Flink packages did not hold the expected files (see $work)"
  rm -rf "$FLINK_HOME" && mv "$work" "$FLINK_HOME"
  echo "$FLINK_VERSION" > "$stamp"
  rm -rf "$dl"
  say "Flink $FLINK_VERSION assembled in $FLINK_HOME"
}

# ---------------------------------------------------------------- job server jar
build_job_server() {
  local src=$ROOT/services/flink/pom.xml stamp=$JOB_SERVER_JAR.built want
  want="$BEAM_VERSION $JOB_SERVICE_VERSION $FLINK_VERSION $(sha "$src" "$ROOT"/services/flink/src/*.java \
    "$ROOT"/services/kafka/expansion-service/src/*.java)"
  [ -s "$JOB_SERVER_JAR" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ] && return 0
  command -v mvn >/dev/null || die "mvn is missing (apt-get install maven)"
  mkdir -p "$JAR_DIR"
  exec 6>"$JAR_DIR/.flink-job-server.lock"
  flock -w 900 6 || die "timed out waiting for another build of the job server"
  [ -s "$JOB_SERVER_JAR" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ] && return 0
  say "building Beam's Flink job server ($BEAM_VERSION, Flink $FLINK_VERSION) with Maven; the first build downloads about 200 MB"
  local start=$SECONDS build=$CACHE/build/flink-job-server log
  log=$(mktemp)
  rm -rf "$build"
  if ! mvn -B -q -f "$src" -Dbuild.dir="$build" -Dbeam.version="$BEAM_VERSION" \
         -Djob.service.version="$JOB_SERVICE_VERSION" -Dflink.version="$FLINK_VERSION" package >"$log" 2>&1; then
    sed 's/\x1b\[[0-9;]*m//g' "$log" | grep -E 'ERROR|BUILD' | head -20 >&2
    rm -f "$log"
    die "building the Flink job server failed (mvn package -f $src)"
  fi
  rm -f "$log"
  mv "$build/beam-flink-job-server-1.jar" "$JOB_SERVER_JAR"
  rm -rf "$build"
  echo "$want" > "$stamp"
  say "job server: $JOB_SERVER_JAR ($((SECONDS - start)) s)"
}

# ---------------------------------------------------------------- processes
write_conf() {
  mkdir -p "$CONF_DIR" "$LOG_DIR" "$FRUN/pid" "$FRUN/tmp" "$FRUN/web" "$FRUN/checkpoints" "$FRUN/savepoints" \
    "$FRUN/artifacts"
  local f
  for f in log4j.properties log4j-console.properties log4j-cli.properties log4j-session.properties \
           logback.xml logback-console.xml; do
    cp "$FLINK_HOME/conf/$f" "$CONF_DIR/$f"
  done
  printf '%s:%s\n' "$HOST" "$REST_PORT" > "$CONF_DIR/masters"
  printf '%s\n' "$HOST" > "$CONF_DIR/workers"
  sed -e "s#@JAVA_OPTS@#${JAVA_OPENS[*]}#" -e "s#@RPC_PORT@#$RPC_PORT#" -e "s#@REST_PORT@#$REST_PORT#" \
      -e "s#@JM_MEMORY@#$JM_MEMORY#" -e "s#@TM_MEMORY@#$TM_MEMORY#" -e "s#@SLOTS@#$SLOTS#" \
      -e "s#@PARALLELISM@#$PARALLELISM#" \
      -e "s#@RUN_DIR@#$FRUN#g" "$ROOT/services/flink/config.yaml.in" > "$CONF_DIR/config.yaml"
  # The job server and the expansion service log through log4j2 into files of their own.
  for f in jobserver expansion; do
    sed -e "s#\${sys:log.file}#$LOG_DIR/$f.log#" "$FLINK_HOME/conf/log4j.properties" > "$CONF_DIR/log4j-$f.properties"
  done
}

install_lib_jar() {  # the job server jar in Flink's lib/ (see config.yaml.in: parent-first)
  cmp -s "$JOB_SERVER_JAR" "$LIB_JAR" 2>/dev/null && return 0
  cp "$JOB_SERVER_JAR" "$LIB_JAR.partial" && mv "$LIB_JAR.partial" "$LIB_JAR"
}

pidfile() { echo "$FRUN/$1.pid"; }

port_of() {
  case $1 in
    jobmanager) echo "$REST_PORT" ;; jobserver) echo "$JOB_PORT" ;;
    expansion) echo "$EXPANSION_PORT" ;; workers) echo "$WORKER_PORT" ;; *) echo "" ;;
  esac
}

command_of() {  # fills CMD with the command line of one piece
  local java; java=$(java_bin)
  # Our cluster's settings (checkpoint dirs, ...) go with every job; another cluster has its own.
  CONF_FLAG=(); [ "${PIECES[0]}" = jobmanager ] && CONF_FLAG=(--flink-conf-dir "$CONF_DIR")
  case $1 in
    jobmanager|taskmanager|taskmanager-*) CMD=("$FLINK_HOME/bin/${1%%-*}.sh" start-foreground) ;;
    jobserver)
      CMD=("$java" -Xmx512m -Dlog4j.configurationFile="$CONF_DIR/log4j-jobserver.properties"
        -jar "$JOB_SERVER_JAR" --flink-master "$MASTER" "${CONF_FLAG[@]}" --job-host "$HOST"
        --job-port "$JOB_PORT" --artifact-port "$ARTIFACT_PORT" --expansion-port -1
        --artifacts-dir "$FRUN/artifacts") ;;
    # The job server's own expansion port yields DOCKER environments whatever Python asks for.
    # Without use_deprecated_read an unbounded ReadFromKafka emits nothing on portable Flink
    # (apache/beam#20979, #32709).
    expansion)
      CMD=("$java" -Xmx256m -Dlog4j.configurationFile="$CONF_DIR/log4j-expansion.properties"
        -cp "$JOB_SERVER_JAR" spectator.services.LocalExpansionService "$EXPANSION_PORT"
        --defaultEnvironmentType=EMBEDDED --experiments=use_deprecated_read) ;;
    workers)
      CMD=("$VENV/bin/python" -m spectator.flink.worker_pool --host "$HOST" --port "$WORKER_PORT"
        --log "$LOG_DIR/python-workers.log") ;;
  esac
}

start_piece() {  # start_piece NAME: in a session of its own, so Ctrl-C on the caller does not reach it
  local name=$1 pf ident=spectator; pf=$(pidfile "$1")
  [[ $name == taskmanager-* ]] && ident=spectator-${name#taskmanager-}
  command_of "$name"
  rm -f "$pf"
  # The ident names each piece's log file (flink-IDENT-taskexecutor-0-HOST.log).
  FLINK_CONF_DIR=$CONF_DIR FLINK_LOG_DIR=$LOG_DIR FLINK_PID_DIR=$FRUN/pid FLINK_IDENT_STRING=$ident \
    setsid bash -c 'echo $$ > "$0"; exec "$@"' "$pf" "${CMD[@]}" \
    </dev/null >>"$LOG_DIR/$name.console" 2>&1 6>&- 7>&- 8>&- 9>&- &
  for _ in $(seq 50); do [ -s "$pf" ] && return 0; sleep 0.1; done
  die "could not start the Flink $name (no pid after 5s)"
}

group_alive() { [ -f "$1" ] && kill -0 -- "-$(cat "$1")" 2>/dev/null; }

alive() { group_alive "$(pidfile "$1")"; }

stop_group() {  # stop_group PIDFILE [SECONDS]: TERM the process group, then KILL after a grace period
  # Each piece runs in its own session (setsid), so its pid is also its process group: this also
  # reaches the start-up subshells of Flink's bin/ scripts and the pool's SDK workers.
  local pf=$1 grace=${2:-30} pid
  group_alive "$pf" || { rm -f "$pf"; return 0; }
  pid=$(cat "$pf")
  kill -TERM -- "-$pid" 2>/dev/null || true
  for _ in $(seq $((grace * 10))); do kill -0 -- "-$pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 -- "-$pid" 2>/dev/null; then
    say "process group $pid did not stop within ${grace}s; killing it"
    kill -KILL -- "-$pid" 2>/dev/null || true
  fi
  rm -f "$pf"
}

taskmanagers() {  # number of TaskManagers the REST API reports, or nothing
  http_get "$REST_URL/overview" | sed -n 's/.*"taskmanagers":\([0-9]*\).*/\1/p'
}

ready() {  # ready NAME: does it serve yet
  case $1 in
    jobmanager) http_get "$REST_URL/config" >/dev/null ;;
    taskmanager|taskmanager-*)
      local n want=1; [ "$1" = taskmanager ] || want=${1#taskmanager-}
      n=$(taskmanagers || true); [ -n "$n" ] && [ "$n" -ge "$want" ] ;;
    *) port_open "$(port_of "$1")" ;;
  esac
}

log_tail() {
  local f
  for f in "$LOG_DIR"/*.log "$LOG_DIR"/*.out "$LOG_DIR"/*.console; do
    [ -s "$f" ] || continue
    echo "--- $f" >&2
    grep -E 'ERROR|Exception|Caused by' "$f" | tail -n 8 >&2 || true
    tail -n 5 "$f" >&2
  done
}

up() {
  local name started=() missing=()
  for name in "${PIECES[@]}"; do alive "$name" || missing+=("$name"); done
  if [ ${#missing[@]} -eq 0 ]; then
    say "Flink already running: $REST_URL (job server $HOST:$JOB_PORT)"
    return
  fi
  for name in "${missing[@]}"; do
    local port; port=$(port_of "$name")
    [ -n "$port" ] && port_open "$port" && die "port $port (Flink $name) is taken by another process; stop it or set its SPECTATOR_FLINK_*_PORT"
  done
  [ -x "$VENV/bin/python" ] || die "the project's venv is missing: run scripts/bootstrap.sh"
  alive jobmanager || http_get "$REST_URL/config" >/dev/null || [ "${PIECES[0]}" = jobmanager ] \
    || die "no Flink cluster answers at $REST_URL (SPECTATOR_FLINK_MASTER)"
  check_java
  assemble
  build_job_server
  install_lib_jar
  write_conf
  local t0=$SECONDS
  for name in "${missing[@]}"; do start_piece "$name"; started+=("$name"); done
  for name in "${PIECES[@]}"; do
    until ready "$name"; do
      if ! alive "$name"; then
        log_tail; die "the Flink $name exited during start-up (logs in $LOG_DIR)"
      fi
      if [ $((SECONDS - t0)) -ge "$WAIT_SECONDS" ]; then
        log_tail; die "the Flink $name did not come up within ${WAIT_SECONDS}s (logs in $LOG_DIR)"
      fi
      sleep 0.5
    done
  done
  say "Flink $FLINK_VERSION up in $((SECONDS - t0))s (started ${started[*]}): web UI $REST_URL, job server $HOST:$JOB_PORT"
}

down() {  # down [PIECE...]
  local name any="" extra=() names=("$@")
  for name in "$FRUN"/taskmanager-*.pid; do [ -e "$name" ] && extra+=("$(basename "$name" .pid)"); done
  # Clients first, then the TaskManagers, so the JobManager does not try to restart jobs on them.
  [ ${#names[@]} -gt 0 ] || names=(workers expansion jobserver "${extra[@]}" taskmanager jobmanager)
  for name in "${names[@]}"; do alive "$name" && any=1; done
  if [ -z "$any" ]; then
    for name in "${names[@]}"; do rm -f "$(pidfile "$name")"; done
    if [ $# -gt 0 ]; then say "Flink $* not running"; else say "Flink is not running (nothing started by this script)"; fi
    return
  fi
  for name in "${names[@]}"; do stop_group "$(pidfile "$name")" 30; done
  say "Flink down${*:+: $*}"
}

status() {
  local name state
  for name in "${PIECES[@]}"; do
    if alive "$name"; then state="running, pid $(cat "$(pidfile "$name")")"; else state=stopped; fi
    [ -n "$(port_of "$name")" ] && state="$state, $HOST:$(port_of "$name")"
    echo "flink $name: $state"
  done
  if alive jobmanager; then
    local ov; ov=$(http_get "$REST_URL/overview" || true)
    echo "flink: ${ov:-the REST API does not answer}"
  fi
  [ -f "$FLINK_HOME/.assembled" ] && echo "flink: $FLINK_VERSION assembled in $FLINK_HOME" || echo "flink: not assembled yet"
}

env_exports() {
  cat <<EOF
export SPECTATOR_FLINK_MASTER=$MASTER
export SPECTATOR_FLINK_JOB_ENDPOINT=$HOST:$JOB_PORT
export SPECTATOR_FLINK_EXPANSION_SERVICE=$HOST:$EXPANSION_PORT
export SPECTATOR_FLINK_WORKER_POOL=$HOST:$WORKER_PORT
export SPECTATOR_FLINK_CHECKPOINTS=$FRUN/checkpoints
export SPECTATOR_FLINK_TASKMANAGER_PIDFILE=$(pidfile taskmanager)
EOF
}

logs() {
  local name=${1:-jobmanager} n=${2:-50} f
  case $name in
    jobmanager) f=$(ls -t "$LOG_DIR"/flink-*-standalonesession-*.log 2>/dev/null | head -1) ;;
    taskmanager) f=$(ls -t "$LOG_DIR"/flink-spectator-taskexecutor-*.log 2>/dev/null | head -1) ;;
    taskmanager-*) f=$(ls -t "$LOG_DIR"/flink-spectator-"${name#taskmanager-}"-taskexecutor-*.log 2>/dev/null | head -1) ;;
    jobserver|expansion) f=$LOG_DIR/$name.log ;;
    workers) f=$LOG_DIR/python-workers.log ;;
    *) die "logs: one of ${PIECES[*]}" ;;
  esac
  [ -n "$f" ] && [ -f "$f" ] || die "no $name log in $LOG_DIR"
  tail -n "$n" "$f"
}

case ${1:-status} in
  up) with_lock flink up ;;
  down) shift; with_lock flink down "$@" ;;
  status) status ;;
  env) env_exports ;;
  logs) shift; logs "$@" ;;
  jar) build_job_server >&2; echo "$JOB_SERVER_JAR" ;;
  assemble) assemble; echo "$FLINK_HOME" ;;
  *) die "usage: $0 up|down|status|env|logs|jar|assemble" ;;
esac
