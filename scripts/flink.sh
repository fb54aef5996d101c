#!/usr/bin/env bash
# flink.sh up|down [PIECE...]|status|env|logs [PIECE] [N]|jar|assemble: a local standalone Flink
# cluster for the FlinkRunner, with Beam's job server, the KafkaIO expansion service and the Python
# worker pool, all on 127.0.0.1. `env` prints the exports the options and the tests read:
#   eval "$(scripts/flink.sh env)"
# The work is done by services/flink/; docs/flink.md lists the settings.
set -euo pipefail
source "$(dirname "$0")/common.sh"
services flink "$@"
