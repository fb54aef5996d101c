# The Flink side on Kubernetes (deploy/k8s): the JobManager, the TaskManagers, Beam's job server and the
# KafkaIO expansion service all run this image. Flink 1.19 on Java 17, with the project's Beam job server
# jar in lib/ (docs/flink.md says why that jar, and why in lib/). Build from the project root once
# `scripts/flink.sh jar` has built the jar:
#   docker build -f deploy/docker/flink.Dockerfile -t spectator-flink:1.19.3-beam2.70.0 .
ARG FLINK_IMAGE=flink:1.19.3-scala_2.12-java17
FROM ${FLINK_IMAGE}
ARG BEAM_VERSION=2.70.0
# Named to sort before flink-dist and log4j-* in lib/, as on one machine (services/flink/cluster.py).
COPY --chown=flink:flink .cache/jars/beam-flink-1.19-job-server-${BEAM_VERSION}.jar /opt/flink/lib/beam-flink-job-server.jar
