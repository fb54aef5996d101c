#!/usr/bin/env bash
# The main job on one machine (DirectRunner): installs what is missing, starts Redis, generates a
# seeded clickstream, replays it into Redis and prints a summary. Extra flags go to `spectator run`.
set -euo pipefail
source "$(dirname "$0")/scripts/common.sh"
cd "$ROOT"
scripts/bootstrap.sh
scripts/services.sh up redis

data=$CACHE/demo/clickstream.jsonl
mkdir -p "$(dirname "$data")"
"$VENV/bin/spectator" generate --users "${SPECTATOR_DEMO_USERS:-3000}" --seed 7 --output "$data"
say "replaying $data on the DirectRunner into $SPECTATOR_REDIS_URL"
"$VENV/bin/spectator" run --input "$data" --redis-url "$SPECTATOR_REDIS_URL" "$@"

user=$("$VENV/bin/spectator" top -n 1 --redis-url "$SPECTATOR_REDIS_URL" | awk 'NR == 3 {print $2}')
cat <<MSG

Inspect one user's sessions:
  $VENV/bin/spectator sessions $user --redis-url $SPECTATOR_REDIS_URL
Every session as JSON lines:   $VENV/bin/spectator export --redis-url $SPECTATOR_REDIS_URL
Stop the services started here: scripts/services.sh down
MSG
