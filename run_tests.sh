#!/usr/bin/env bash
# The whole test suite on a fresh machine: installs, starts the services, lints, tests.
#   ./run_tests.sh [PYTEST ARGS]         everything, as CI runs it
#   ./run_tests.sh --unit [PYTEST ARGS]  tests/unit alone: no service started or needed
set -euo pipefail
source "$(dirname "$0")/scripts/common.sh"
cd "$ROOT"
scripts/bootstrap.sh

lint() {
  "$VENV/bin/ruff" check spectator tests bench
  "$VENV/bin/lint-imports" --no-cache  # the layers in .importlinter
}
if [ "${1:-}" = --unit ]; then
  shift
  lint
  exec "$VENV/bin/python" -m pytest tests/unit "$@"
fi

started=()
cleanup() { [ ${#started[@]} -eq 0 ] || scripts/services.sh down "${started[@]}"; }
trap cleanup EXIT
for name in redis kafka flink; do
  state=$(scripts/services.sh status "$name")
  grep -q running <<<"$state" || started+=("$name")
  scripts/services.sh up "$name"  # also restarts the missing pieces of a partly running one
done

eval "$(scripts/kafka.sh env)"  # broker address and the KafkaIO expansion service jar
eval "$(scripts/flink.sh env)"  # the cluster's REST address, job server, expansion service, worker pool

lint
"$VENV/bin/python" -m pytest "$@"
