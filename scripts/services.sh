#!/usr/bin/env bash
# services.sh up|down|status|env [redis] [kafka] [flink]: the local services on 127.0.0.1, stopping
# only what these scripts started. Default: redis and kafka; Flink (a JobManager, a TaskManager,
# Beam's job server, the KafkaIO expansion service and the Python worker pool) when named: it takes a
# minute to build on first use and 1.5 GB of memory. The work is done by services/ (python3 -m services).
set -euo pipefail
source "$(dirname "$0")/common.sh"
services "$@"
