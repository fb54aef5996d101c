#!/usr/bin/env bash
# flink.sh up|down|status|jar|assemble: a local standalone Flink cluster for the FlinkRunner.
#
#   up        assemble Flink (once), then start a JobManager and a TaskManager on 127.0.0.1 and
#             wait until the REST API reports a registered TaskManager; reuses a running cluster
#   down      stop the processes this script started (TERM, then KILL after a grace period)
#   status    print the state (exit 0 either way)
#   jar       fetch Beam's Flink job server jar with Maven (once) and print its absolute path
#   assemble  only download and unpack Flink
#
# Flink comes from PyPI, not from a tarball: apache-flink-libraries holds flink-dist, lib/, opt/
# and plugins/, and the apache-flink wheel holds bin/ and conf/. Both are unpacked under
# $SPECTATOR_CACHE/flink/<version>/ (never into the project venv: apache-flink pins an older
# apache-beam). Config, logs, pid files and checkpoints live in $SPECTATOR_CACHE/run/flink/.
#
# Settings (environment):
#   SPECTATOR_CACHE            cache root (default <repo>/.cache)
#   SPECTATOR_FLINK_PORT       REST / web UI port (default 8081)
#   SPECTATOR_FLINK_RPC_PORT   JobManager RPC port (default 6123)
#   SPECTATOR_FLINK_SLOTS      task slots of the TaskManager (default 4)
#   SPECTATOR_FLINK_JM_MEMORY  JobManager process size (default 1024m)
#   SPECTATOR_FLINK_TM_MEMORY  TaskManager process size (default 1600m)
#   SPECTATOR_FLINK_WAIT       seconds `up` waits for the cluster (default 120)
#   SPECTATOR_FLINK_JOB_SERVER_JAR  use this job server jar instead of fetching one
#   JAVA_HOME                  the Java to run Flink with (default: `java` on PATH; Flink 1.20 wants 11 or 17)
set -euo pipefail
source "$(dirname "$0")/common.sh"

FLINK_VERSION=1.20.3          # apache-flink-libraries / apache-flink on PyPI, and the cluster
FLINK_MINOR=${FLINK_VERSION%.*}
BEAM_VERSION=2.73.0           # must equal the Python SDK's apache-beam version
JOB_SERVER_ARTIFACT=org.apache.beam:beam-runners-flink-${FLINK_MINOR}-job-server:$BEAM_VERSION
MVN_DEPENDENCY_PLUGIN=org.apache.maven.plugins:maven-dependency-plugin:3.6.1

FLINK_HOME=$CACHE/flink/$FLINK_VERSION
JAR_DIR=$CACHE/jars
FRUN=$RUN_DIR/flink
CONF_DIR=$FRUN/conf
LOG_DIR=$FRUN/log
REST_PORT=${SPECTATOR_FLINK_PORT:-8081}
RPC_PORT=${SPECTATOR_FLINK_RPC_PORT:-6123}
SLOTS=${SPECTATOR_FLINK_SLOTS:-4}
JM_MEMORY=${SPECTATOR_FLINK_JM_MEMORY:-1024m}
TM_MEMORY=${SPECTATOR_FLINK_TM_MEMORY:-1600m}
WAIT_SECONDS=${SPECTATOR_FLINK_WAIT:-120}
JM_PID=$FRUN/jobmanager.pid
TM_PID=$FRUN/taskmanager.pid
REST_URL=http://127.0.0.1:$REST_PORT

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
  exec 9>"$CACHE/flink/.lock"
  flock 9
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
job_server_jar() {
  if [ -n "${SPECTATOR_FLINK_JOB_SERVER_JAR:-}" ]; then
    [ -f "$SPECTATOR_FLINK_JOB_SERVER_JAR" ] || die "SPECTATOR_FLINK_JOB_SERVER_JAR=$SPECTATOR_FLINK_JOB_SERVER_JAR does not exist"
    (cd "$(dirname "$SPECTATOR_FLINK_JOB_SERVER_JAR")" && echo "$PWD/$(basename "$SPECTATOR_FLINK_JOB_SERVER_JAR")")
    return
  fi
  local name=beam-runners-flink-$FLINK_MINOR-job-server-$BEAM_VERSION.jar
  local jar=$JAR_DIR/$name beam_cache=$HOME/.apache_beam/cache/jars/$name
  if [ ! -s "$jar" ] && [ -s "$beam_cache" ]; then  # staged where Beam's own downloader looks
    mkdir -p "$JAR_DIR" && cp "$beam_cache" "$jar.partial" && mv "$jar.partial" "$jar"
  fi
  if [ ! -s "$jar" ]; then
    command -v mvn >/dev/null || die "mvn is missing (apt-get install maven)"
    mkdir -p "$JAR_DIR"
    say "fetching $JOB_SERVER_ARTIFACT with Maven"
    local out
    if ! out=$(mvn -B -q -U -Dstyle.color=never "$MVN_DEPENDENCY_PLUGIN:copy" -Dartifact="$JOB_SERVER_ARTIFACT" \
                 -DoutputDirectory="$JAR_DIR" -Dmdep.overWriteIfNewer=true 2>&1); then
      printf '%s\n' "$out" | sed 's/\x1b\[[0-9;]*m//g' | grep -m1 'ERROR\]' >&2
      die "could not fetch $JOB_SERVER_ARTIFACT from Maven Central (the repository
       reachable here serves no beam-runners-flink-* artifact, 2.56 to 2.75 tried). Without it the FlinkRunner
       cannot run. Point SPECTATOR_FLINK_JOB_SERVER_JAR at a copy of that jar (same Beam version as
       the Python SDK), or put it in $beam_cache."
    fi
  fi
  [ -s "$jar" ] || die "Maven reported success but $jar is missing"
  echo "$jar"
}

# ---------------------------------------------------------------- cluster
write_conf() {
  mkdir -p "$CONF_DIR" "$LOG_DIR" "$FRUN/pid" "$FRUN/tmp" "$FRUN/web" "$FRUN/checkpoints" "$FRUN/savepoints"
  local f
  for f in log4j.properties log4j-console.properties log4j-cli.properties log4j-session.properties \
           logback.xml logback-console.xml; do
    cp "$FLINK_HOME/conf/$f" "$CONF_DIR/$f"
  done
  printf '127.0.0.1:%s\n' "$REST_PORT" > "$CONF_DIR/masters"
  printf '127.0.0.1\n' > "$CONF_DIR/workers"
  sed -e "s#@JAVA_OPTS@#${JAVA_OPENS[*]}#" -e "s#@RPC_PORT@#$RPC_PORT#" -e "s#@REST_PORT@#$REST_PORT#" \
      -e "s#@JM_MEMORY@#$JM_MEMORY#" -e "s#@TM_MEMORY@#$TM_MEMORY#" -e "s#@SLOTS@#$SLOTS#" \
      -e "s#@RUN_DIR@#$FRUN#g" "$ROOT/services/flink/config.yaml.in" > "$CONF_DIR/config.yaml"
}

start_daemon() {  # start_daemon jobmanager|taskmanager PIDFILE
  local what=$1 pidfile=$2
  # The daemon runs in a session of its own (setsid), so a Ctrl-C on the caller does not reach it
  # and `down` can signal its whole process group. The pid written is the session leader's, which
  # start-foreground turns into the JVM (exec).
  rm -f "$pidfile"
  FLINK_CONF_DIR=$CONF_DIR FLINK_LOG_DIR=$LOG_DIR FLINK_PID_DIR=$FRUN/pid FLINK_IDENT_STRING=spectator \
    setsid bash -c 'echo $$ > "$0"; exec "$@"' "$pidfile" "$FLINK_HOME/bin/$what.sh" start-foreground \
    </dev/null >"$LOG_DIR/$what.console" 2>&1 8>&- 9>&- &   # 8, 9: our lock files
  for _ in $(seq 50); do [ -s "$pidfile" ] && return 0; sleep 0.1; done
  die "could not start the Flink $what (no pid after 5s)"
}

log_tail() {
  local f
  for f in "$LOG_DIR"/*.log "$LOG_DIR"/*.err "$LOG_DIR"/*.console; do
    [ -s "$f" ] || continue
    echo "--- $f" >&2
    grep -E 'ERROR|Exception|Caused by' "$f" | tail -n 8 >&2 || true
    tail -n 5 "$f" >&2
  done
}

taskmanagers() {  # number of TaskManagers the REST API reports, or nothing
  http_get "$REST_URL/overview" | sed -n 's/.*"taskmanagers":\([0-9]*\).*/\1/p'
}

group_alive() { [ -f "$1" ] && kill -0 -- "-$(cat "$1")" 2>/dev/null; }

ours_running() { group_alive "$JM_PID" || group_alive "$TM_PID"; }

stop_group() {  # stop_group PIDFILE [SECONDS]: TERM the process group, then KILL after a grace period
  # Each daemon runs in its own session (setsid), so its pid is also its process group: this also
  # reaches the start-up subshells of Flink's bin/ scripts, which a kill of the pid alone orphans.
  local pidfile=$1 grace=${2:-30} pid
  group_alive "$pidfile" || { rm -f "$pidfile"; return 0; }
  pid=$(cat "$pidfile")
  kill -TERM -- "-$pid" 2>/dev/null || true
  for _ in $(seq $((grace * 10))); do kill -0 -- "-$pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 -- "-$pid" 2>/dev/null; then
    say "process group $pid did not stop within ${grace}s; killing it"
    kill -KILL -- "-$pid" 2>/dev/null || true
  fi
  rm -f "$pidfile"
}

up() {
  if pid_alive "$JM_PID" && pid_alive "$TM_PID" && [ "$(taskmanagers)" -ge 1 ] 2>/dev/null; then
    say "Flink already running: $REST_URL (jobmanager pid $(cat "$JM_PID"), taskmanager pid $(cat "$TM_PID"))"
    return
  fi
  if ours_running; then  # half up, or not answering: start again from clean
    say "Flink is only partly running; restarting it"
    down
  fi
  port_open "$REST_PORT" && die "port $REST_PORT (Flink REST) is taken by another process$(http_get "$REST_URL/config" >/dev/null && echo ', which is a Flink cluster this script did not start'); stop it or set SPECTATOR_FLINK_PORT"
  port_open "$RPC_PORT" && die "port $RPC_PORT (Flink JobManager RPC) is taken by another process; stop it or set SPECTATOR_FLINK_RPC_PORT"
  check_java
  assemble
  write_conf
  rm -f "$LOG_DIR"/*.log* "$LOG_DIR"/*.out "$LOG_DIR"/*.err "$LOG_DIR"/*.console
  local t0=$SECONDS
  start_daemon jobmanager "$JM_PID"
  start_daemon taskmanager "$TM_PID"
  local n=""
  while [ $((SECONDS - t0)) -lt "$WAIT_SECONDS" ]; do
    if ! group_alive "$JM_PID" || ! group_alive "$TM_PID"; then
      log_tail; down >/dev/null 2>&1; die "Flink exited during start-up (logs in $LOG_DIR)"
    fi
    n=$(taskmanagers || true)
    [ -n "$n" ] && [ "$n" -ge 1 ] && break
    sleep 1
  done
  if [ -z "$n" ] || [ "$n" -lt 1 ]; then
    log_tail; down >/dev/null 2>&1
    die "Flink did not report a TaskManager at $REST_URL/overview within ${WAIT_SECONDS}s (logs in $LOG_DIR)"
  fi
  say "Flink $FLINK_VERSION up in $((SECONDS - t0))s: $REST_URL ($SLOTS slots; conf $CONF_DIR, logs $LOG_DIR)"
}

down() {
  if ! ours_running; then rm -f "$JM_PID" "$TM_PID"; say "Flink is not running (not started by this script)"; return; fi
  # TaskManager first, so the JobManager does not log it as lost and try to restart jobs.
  stop_group "$TM_PID" 30
  stop_group "$JM_PID" 30
  say "Flink down"
}

status() {
  if ours_running; then
    local jm=stopped tm=stopped
    pid_alive "$JM_PID" && jm="pid $(cat "$JM_PID")"
    pid_alive "$TM_PID" && tm="pid $(cat "$TM_PID")"
    echo "flink: running, $REST_URL, jobmanager $jm, taskmanager $tm"
    local ov; ov=$(http_get "$REST_URL/overview" || true)
    if [ -n "$ov" ]; then echo "flink: overview $ov"; else echo "flink: the REST API does not answer"; fi
  elif port_open "$REST_PORT"; then
    echo "flink: stopped (port $REST_PORT is used by a process this script did not start)"
  else
    echo "flink: stopped"
  fi
  [ -f "$FLINK_HOME/.assembled" ] && echo "flink: $FLINK_VERSION assembled in $FLINK_HOME" || echo "flink: not assembled yet"
}

with_lock() {  # one up/down at a time
  mkdir -p "$FRUN"
  exec 8>"$FRUN/.lock"
  flock -w 300 8 || die "another scripts/flink.sh up/down holds $FRUN/.lock"
  "$@"
}

case ${1:-status} in
  up) with_lock up ;;
  down) with_lock down ;;
  status) status ;;
  jar) job_server_jar ;;
  assemble) assemble; echo "$FLINK_HOME" ;;
  *) die "usage: $0 up|down|status|jar|assemble" ;;
esac
