#!/usr/bin/env bash
# The whole test suite on a fresh machine: installs, lints, tests. The integration tests' session
# fixtures start the real Redis, Kafka and Flink they need (services/) and stop what they started.
#   ./run_tests.sh [PYTEST ARGS]         everything, as CI runs it
#   ./run_tests.sh --unit [PYTEST ARGS]  tests/unit alone: no service started or needed
set -euo pipefail
source "$(dirname "$0")/scripts/common.sh"
cd "$ROOT"
scripts/bootstrap.sh

"$VENV/bin/ruff" check spectator services tests bench
"$VENV/bin/lint-imports" --no-cache  # the layers in .importlinter
if [ "${1:-}" = --unit ]; then
  shift
  exec "$VENV/bin/python" -m pytest tests/unit "$@"
fi
exec "$VENV/bin/python" -m pytest "$@"
