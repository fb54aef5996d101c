#!/usr/bin/env bash
# The main job on one machine (DirectRunner): installs what is missing, starts Redis and Kafka,
# produces a seeded clickstream (with some out-of-order, late and malformed events) into Kafka,
# reads it with Beam's KafkaIO into Redis and prints a summary. Extra flags go to `spectator run`.
set -euo pipefail
source "$(dirname "$0")/scripts/common.sh"
cd "$ROOT"
scripts/bootstrap.sh
scripts/services.sh up redis kafka
eval "$(scripts/kafka.sh env)"

topic=${SPECTATOR_DEMO_TOPIC:-clicks}
say "producing a seeded clickstream to Kafka topic $topic"
"$VENV/bin/spectator" produce --bootstrap-servers "$SPECTATOR_KAFKA_BOOTSTRAP" --topic "$topic" --partitions 2 \
  --users "${SPECTATOR_DEMO_USERS:-3000}" --seed 7 --out-of-order 0.02 --late 0.005 --malformed 0.001
say "reading $topic with the DirectRunner into $SPECTATOR_REDIS_URL"
"$VENV/bin/spectator" run --bootstrap-servers "$SPECTATOR_KAFKA_BOOTSTRAP" --topic "$topic" \
  --consumer-group spectator-demo --expansion-service "$SPECTATOR_EXPANSION_JAR" --max-read-time-seconds 5 \
  --redis-url "$SPECTATOR_REDIS_URL" "$@"

user=$("$VENV/bin/spectator" top -n 1 --redis-url "$SPECTATOR_REDIS_URL" | awk 'NR == 3 {print $2}')
cat <<MSG

Inspect one user's sessions:
  $VENV/bin/spectator sessions $user --redis-url $SPECTATOR_REDIS_URL
Every session as JSON lines:    $VENV/bin/spectator export --redis-url $SPECTATOR_REDIS_URL
Rejected events:                $VENV/bin/spectator deadletters --redis-url $SPECTATOR_REDIS_URL
Browse them:                    $VENV/bin/spectator serve --redis-url $SPECTATOR_REDIS_URL  (http://127.0.0.1:8000/)
Stop the services started here: scripts/services.sh down
MSG
