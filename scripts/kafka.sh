#!/usr/bin/env bash
# kafka.sh up|down|status|reset|fetch|jar|env|logs [N]: a single-node Apache Kafka (KRaft) on
# 127.0.0.1 from Maven Central jars, and the Beam KafkaIO expansion service jar that Beam's Python
# ReadFromKafka needs. `env` prints the exports the options and the tests read:
#   eval "$(scripts/kafka.sh env)"
# The work is done by services/kafka/; docs/kafka.md lists the settings.
set -euo pipefail
source "$(dirname "$0")/common.sh"
services kafka "$@"
