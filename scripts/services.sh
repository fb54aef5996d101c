#!/usr/bin/env bash
# services.sh up|down|status [redis] [kafka] [flink]: the local services, on 127.0.0.1, stopping
# only what the scripts started (pid files under .cache/run). Default: redis and kafka; Flink (a
# JobManager, a TaskManager, Beam's job server, the KafkaIO expansion service and the Python worker
# pool) when named: it takes a minute to build on first use and 1.5 GB of memory.
set -euo pipefail
source "$(dirname "$0")/common.sh"

redis_up() {
  local pidfile=$RUN_DIR/redis.pid
  if pid_alive "$pidfile"; then say "redis already running on port $SPECTATOR_REDIS_PORT (pid $(cat "$pidfile"))"; return; fi
  port_open "$SPECTATOR_REDIS_PORT" && die "port $SPECTATOR_REDIS_PORT is taken by another process; set SPECTATOR_REDIS_PORT"
  command -v redis-server >/dev/null || die "redis-server is missing: run scripts/bootstrap.sh"
  mkdir -p "$RUN_DIR/redis"
  redis-server --bind 127.0.0.1 --port "$SPECTATOR_REDIS_PORT" --dir "$RUN_DIR/redis" \
    --daemonize yes --pidfile "$pidfile" --logfile "$RUN_DIR/redis/redis.log" \
    --save "" --appendonly yes --protected-mode yes >/dev/null
  for _ in $(seq 50); do redis-cli -p "$SPECTATOR_REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
  redis-cli -p "$SPECTATOR_REDIS_PORT" ping >/dev/null 2>&1 || die "redis did not start: $(tail -5 "$RUN_DIR/redis/redis.log")"
  say "redis up on 127.0.0.1:$SPECTATOR_REDIS_PORT"
}
redis_down() { stop_pid "$RUN_DIR/redis.pid"; say "redis down"; }
redis_status() {
  if pid_alive "$RUN_DIR/redis.pid"; then echo "redis: running, pid $(cat "$RUN_DIR/redis.pid"), $SPECTATOR_REDIS_URL"
  else echo "redis: stopped"; fi
}

# Kafka and Flink have scripts of their own; this one only dispatches to them.
kafka_up() { "$ROOT/scripts/kafka.sh" up; }
kafka_down() { "$ROOT/scripts/kafka.sh" down; }
kafka_status() { "$ROOT/scripts/kafka.sh" status; }
flink_up() { "$ROOT/scripts/flink.sh" up; }
flink_down() { "$ROOT/scripts/flink.sh" down; }
flink_status() { "$ROOT/scripts/flink.sh" status; }

action=${1:-status}; shift || true
names=("$@"); [ ${#names[@]} -gt 0 ] || names=(redis kafka)
[ "$action" = down ] && names=($(printf '%s\n' "${names[@]}" | tac))  # stop in reverse order
case $action in
  up|down|status) for name in "${names[@]}"; do "${name}_${action}"; done ;;
  *) die "usage: $0 up|down|status [redis] [kafka] [flink]" ;;
esac
