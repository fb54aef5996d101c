#!/usr/bin/env bash
# The whole test suite on a fresh machine: installs, starts the services, lints, tests.
set -euo pipefail
source "$(dirname "$0")/scripts/common.sh"
cd "$ROOT"
scripts/bootstrap.sh

started=()
cleanup() { [ ${#started[@]} -eq 0 ] || scripts/services.sh down "${started[@]}"; }
trap cleanup EXIT
for name in redis kafka; do
  if ! scripts/services.sh status "$name" | grep -q running; then
    scripts/services.sh up "$name"
    started+=("$name")
  fi
done

eval "$(scripts/kafka.sh env)"  # broker address and the KafkaIO expansion service jar

"$VENV/bin/ruff" check spectator tests bench
"$VENV/bin/python" -m pytest "$@"
