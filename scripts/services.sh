#!/usr/bin/env bash
# services.sh up|down|status|env [redis] [redis-cluster] [kafka] [kafka-cluster] [flink]: the local
# services on 127.0.0.1, stopping only what these scripts started. Default: redis and kafka. When
# named, a Redis Cluster (3 masters, 3 replicas), a Kafka cluster (3 brokers) and Flink (a JobManager,
# a TaskManager, Beam's job server, the KafkaIO expansion service and the Python worker pool: a minute
# to build on first use, 1.5 GB of memory). The work is done by services/ (python3 -m services).
set -euo pipefail
source "$(dirname "$0")/common.sh"
services "$@"
