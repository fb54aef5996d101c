#!/usr/bin/env bash
# The same pipeline as a streaming job on a Flink cluster: installs what is missing, starts Redis,
# Kafka and a local Flink 1.19 cluster, submits the job, starts a live producer, and shows the
# sessions as their panes arrive (EARLY, then ON_TIME, and LATE for late events). Ctrl-C cancels
# the job (keeping its last checkpoint) and the producer, and stops what this script started.
#
#   ./run_flink.sh [--flink-master HOST:PORT] [spectator run flags...]
#
# --flink-master targets an existing cluster: the script then starts only Beam's job server, the
# KafkaIO expansion service and the Python worker pool for it (see scripts/flink.sh).
set -euo pipefail
source "$(dirname "$0")/scripts/common.sh"
cd "$ROOT"

args=()
while [ $# -gt 0 ]; do
  case $1 in
    --flink-master|--flink_master) [ $# -ge 2 ] || die "--flink-master needs HOST:PORT"; export SPECTATOR_FLINK_MASTER=$2; shift 2 ;;
    --flink-master=*|--flink_master=*) export SPECTATOR_FLINK_MASTER=${1#*=}; shift ;;
    *) args+=("$1"); shift ;;
  esac
done

# A topic and consumer group of its own each run, and the demo's key prefix emptied: every run
# starts from nothing, whatever state an earlier run left.
run_id=$(date +%Y%m%d-%H%M%S)
topic=clicks-live-$run_id
prefix=${SPECTATOR_DEMO_PREFIX:-live:}
gap=30        # the generator's 30 min gaps, 60 times faster
spectator=$VENV/bin/spectator
redis=(--redis-url "$SPECTATOR_REDIS_URL" --key-prefix "$prefix")

started=() job="" producer="" explorer=""
cleanup() {
  trap - INT TERM EXIT
  # After Ctrl-C on `./run_flink.sh | tee run.log` the pipe is gone: a write to it must neither kill
  # this shell (SIGPIPE) nor end it (set -e) before the job is cancelled.
  trap '' PIPE
  set +e
  [ -n "$producer" ] && kill -- "-$producer" 2>/dev/null || true
  [ -n "$explorer" ] && kill "$explorer" 2>/dev/null || true
  if [ -n "$job" ]; then
    say "cancelling Flink job $job"
    "$spectator" flink cancel "$job" || true
  fi
  [ ${#started[@]} -eq 0 ] || scripts/services.sh down "${started[@]}"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

scripts/bootstrap.sh
for name in redis kafka flink; do
  state=$(scripts/services.sh status "$name")
  grep -q running <<<"$state" || started+=("$name")
  scripts/services.sh up "$name"
done
eval "$(scripts/kafka.sh env)"
eval "$(scripts/flink.sh env)"

say "submitting the streaming job to Flink at $SPECTATOR_FLINK_MASTER (topic $topic, gap ${gap}s)"
redis-cli -u "$SPECTATOR_REDIS_URL" --scan --pattern "$prefix*" | xargs -r redis-cli -u "$SPECTATOR_REDIS_URL" del >/dev/null
"$spectator" produce --bootstrap-servers "$SPECTATOR_KAFKA_BOOTSTRAP" --topic "$topic" --partitions 2 --users 0 >/dev/null
job=$("$spectator" run --runner FlinkRunner --bootstrap-servers "$SPECTATOR_KAFKA_BOOTSTRAP" --topic "$topic" \
  --consumer-group "live-$run_id" "${redis[@]}" --gap-seconds "$gap" --allowed-lateness-seconds 600 \
  --early-firing-seconds 5 --detach "${args[@]}" | tail -1)

say "producing a live clickstream (3,000 users, 60x faster than real time, with late and malformed events)"
setsid bash -c 'seed=7; while :; do "$0" produce --bootstrap-servers "$1" --topic "$2" --live --speedup 60 \
  --users 3000 --seed $seed --out-of-order 0.02 --late 0.01 --late-by-seconds 3600 --malformed 0.001 \
  >/dev/null 2>&1 || sleep 2; seed=$((seed + 1)); done' "$spectator" "$SPECTATOR_KAFKA_BOOTSTRAP" "$topic" &
producer=$!
"$spectator" serve "${redis[@]}" --port "${SPECTATOR_EXPLORER_PORT:-8000}" >"$RUN_DIR/explorer.log" 2>&1 &
explorer=$!

show() {  # one screen: the job, the latest pane writes, the most engaged user's sessions
  local user
  user=$("$spectator" top -n 1 "${redis[@]}" | awk 'NR == 3 {print $2}')
  echo "Flink web UI: ${SPECTATOR_FLINK_MASTER/#/http://}/#/job/running/$job/overview"
  echo "Explorer:     http://127.0.0.1:${SPECTATOR_EXPLORER_PORT:-8000}/ (key prefix $prefix)     Ctrl-C stops"
  echo
  "$spectator" flink status "$job" | sed -n '1p;3,4p;6,20p'
  echo
  "$spectator" recent -n 10 --gap-seconds "$gap" "${redis[@]}"
  if [ -n "$user" ]; then
    echo
    "$spectator" sessions "$user" "${redis[@]}" | tail -n 6
  fi
}
while :; do
  sleep 5
  screen=$(show 2>/dev/null) || continue
  clear 2>/dev/null || true
  echo "$screen"
done
