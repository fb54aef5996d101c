"""A single-node Apache Kafka in KRaft mode (broker and controller in one JVM) on 127.0.0.1.

Settings: SPECTATOR_KAFKA_PORT (9092; the controller listens on port+1), SPECTATOR_KAFKA_HEAP
(-Xmx512m -Xms128m), SPECTATOR_KAFKA_START_TIMEOUT (90 s). Its files: $CACHE/run/kafka/{data,logs,
server.properties,kafka.pid}.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from services.base import (
    HOST,
    Process,
    ServiceError,
    env_port,
    java,
    locked,
    port_open,
    refuse_taken,
    run_dir,
    say,
    tail,
    wait_ready,
)
from services.kafka import KAFKA_VERSION
from services.kafka.build import expansion_jar, fetch_expansion_service, fetch_kafka, kafka_libs

# Records carry their event's time (spectator produce), which may be months old: retention by age
# would delete a replayed topic within minutes, so the broker keeps 1 GiB a partition instead.
SERVER_PROPERTIES = """\
# Written by services/kafka/broker.py; rewritten on every 'up'.
process.roles=broker,controller
node.id={node_id}
controller.quorum.voters={voters}
listeners=PLAINTEXT://{host}:{port},CONTROLLER://{host}:{controller}
advertised.listeners=PLAINTEXT://{host}:{port}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs={data}
num.partitions=1
default.replication.factor={replicas}
auto.create.topics.enable=true
offsets.topic.replication.factor={replicas}
offsets.topic.num.partitions=4
transaction.state.log.replication.factor={replicas}
transaction.state.log.min.isr={min_isr}
transaction.state.log.num.partitions=4
min.insync.replicas={min_isr}
group.initial.rebalance.delay.ms=0
num.network.threads=2
num.io.threads=2
num.recovery.threads.per.data.dir=1
log.retention.ms=-1
log.retention.bytes=1073741824
log.segment.bytes=67108864
"""

LOG4J = """\
log4j.rootLogger=INFO, server
log4j.appender.server=org.apache.log4j.RollingFileAppender
log4j.appender.server.File={logs}/server.log
log4j.appender.server.MaxFileSize=20MB
log4j.appender.server.MaxBackupIndex=2
log4j.appender.server.layout=org.apache.log4j.PatternLayout
log4j.appender.server.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.request.logger=WARN
log4j.logger.state.change.logger=WARN
log4j.logger.org.apache.kafka.controller=INFO
"""


class KafkaBroker:
    """The project's broker, or with `home` a throwaway one, or one node of a KafkaCluster (`node_id`,
    the cluster's `voters`, its replication factor)."""

    def __init__(self, port: int | None = None, home: Path | None = None, node_id: int = 1, voters: str = "",
                 replicas: int = 1):  # fmt: skip
        self.port = port or env_port("SPECTATOR_KAFKA_PORT", 9092)
        self.controller_port = self.port + 1
        self.node_id, self.replicas = node_id, replicas
        self.voters = voters or f"{node_id}@{HOST}:{self.controller_port}"
        self.home = home or run_dir() / "kafka"
        self.data, self.logs = self.home / "data", self.home / "logs"
        self.properties = self.home / "server.properties"
        self.process = Process("kafka", self.home / "kafka.pid")
        self.portfile = self.home / "kafka.port"
        self.start_timeout = float(os.environ.get("SPECTATOR_KAFKA_START_TIMEOUT") or 90)

    @property
    def bootstrap(self) -> str:
        return f"{HOST}:{self.port}"

    def java_command(self, main: str, *args: str | Path) -> list[str | Path]:
        heap = (os.environ.get("SPECTATOR_KAFKA_HEAP") or "-Xmx512m -Xms128m").split()
        return [
            java(), *heap, "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20", "-Djava.awt.headless=true",
            f"-Dkafka.logs.dir={self.logs}", f"-Dlog4j.configuration=file:{self.home / 'log4j.properties'}",
            "-cp", f"{kafka_libs()}/*", main, *args,
        ]  # fmt: skip

    def write_config(self) -> None:
        self.data.mkdir(parents=True, exist_ok=True)
        self.logs.mkdir(parents=True, exist_ok=True)
        settings = dict(host=HOST, port=self.port, controller=self.controller_port, data=self.data)
        min_isr = min(2, self.replicas)  # with 3 replicas, a write survives one broker lost
        settings.update(node_id=self.node_id, voters=self.voters, replicas=self.replicas, min_isr=min_isr)
        self.properties.write_text(SERVER_PROPERTIES.format(**settings))
        (self.home / "log4j.properties").write_text(LOG4J.format(logs=self.logs))

    def format_storage(self, cluster_id: str = "") -> None:
        """Formats the data folder once, for a new cluster id (random unless given)."""
        if (self.data / "meta.properties").exists():
            return
        if not cluster_id:
            made = subprocess.run(
                self.java_command("kafka.tools.StorageTool", "random-uuid"), capture_output=True, text=True
            )
            cluster_id = made.stdout.strip().splitlines()[-1] if made.stdout.strip() else ""
            if made.returncode or not cluster_id:
                raise ServiceError(f"kafka-storage random-uuid failed: {made.stderr.strip()[-500:]}")
        say(f"formatting Kafka storage in {self.data} (cluster id {cluster_id})")
        # One word: a random id may start with "-", which the tool would take for an option.
        fmt = ["format", "--ignore-formatted", f"--cluster-id={cluster_id}", "-c", self.properties]
        done = subprocess.run(self.java_command("kafka.tools.StorageTool", *fmt), capture_output=True, text=True)
        if done.returncode:
            raise ServiceError(f"kafka-storage format failed: {(done.stdout + done.stderr).strip()[-1500:]}")
        (self.home / "cluster.id").write_text(cluster_id + "\n")

    def up(self) -> None:
        with locked("kafka"):
            self._up()

    def _up(self) -> None:
        pid = self.process.pid()
        if pid:
            running = self.portfile.read_text().strip() if self.portfile.exists() else "?"
            if running != str(self.port):
                raise ServiceError(
                    f"a broker started by these scripts already runs on port {running} (pid {pid}), not {self.port}: "
                    "stop it first (scripts/kafka.sh down)"
                )
            say(f"Kafka already running on {self.bootstrap} (pid {pid}), reusing it")
            return
        self.refuse_taken_ports("SPECTATOR_KAFKA_PORT (the controller uses port+1)")
        fetch_kafka()
        fetch_expansion_service()
        self.wait_started(self.launch())

    def refuse_taken_ports(self, setting: str) -> None:
        for port in (self.port, self.controller_port):
            refuse_taken(port, "Kafka", setting)

    def launch(self, cluster_id: str = "") -> int:
        """Starts the broker without waiting; returns where its log stood, for wait_started."""
        self.write_config()
        self.format_storage(cluster_id)
        controller = f"{HOST}:{self.controller_port}"
        say(f"starting Kafka {KAFKA_VERSION} on {self.bootstrap} (controller {controller}), logs in {self.logs}")
        server_log = self.logs / "server.log"
        # Only log lines written after this point tell whether this start worked.
        start = server_log.stat().st_size if server_log.exists() else 0
        self.process.start(self.java_command("kafka.Kafka", self.properties), self.logs / "kafka.out")
        self.portfile.write_text(f"{self.port}\n")
        return start

    def wait_started(self, start: int) -> None:
        server_log = self.logs / "server.log"

        def ready() -> bool:
            return port_open(self.port) and "Kafka Server started" in tail(server_log, 10**6, start)

        def logs() -> str:
            return f"{tail(server_log, 25, start)}\n{tail(self.logs / 'kafka.out', 10)}"

        try:
            took = wait_ready(f"Kafka on {self.bootstrap}", ready, self.process.alive, self.start_timeout, logs)
        except ServiceError:
            self.process.stop(grace_s=10)
            self.portfile.unlink(missing_ok=True)
            raise
        say(f"Kafka up on {self.bootstrap} (pid {self.process.pid()}, {took:.0f} s)")

    def down(self) -> None:
        with locked("kafka"):
            self._down()

    def _down(self) -> None:
        if self.process.stop(grace_s=30):
            say("Kafka down")
        else:
            say("Kafka is not running (nothing started by these scripts)")
        self.portfile.unlink(missing_ok=True)

    def reset(self) -> None:
        """Stops the broker and deletes its data (topics, committed offsets); the next up formats anew."""
        with locked("kafka"):
            self._down()
            shutil.rmtree(self.data, ignore_errors=True)
            (self.home / "cluster.id").unlink(missing_ok=True)
        say(f"Kafka data deleted ({self.data})")

    def running(self) -> bool:
        return self.process.alive()

    def status(self) -> str:
        pid = self.process.pid()
        if not pid:
            return f"kafka: stopped (port {self.port})"
        port = int(self.portfile.read_text()) if self.portfile.exists() else self.port
        if not port_open(port):
            return f"kafka: starting or unresponsive, pid {pid}, port {port} not accepting connections"
        return f"kafka: running, pid {pid}, bootstrap {HOST}:{port} (Kafka {KAFKA_VERSION}, data {self.data})"

    def env(self) -> dict[str, str]:
        """What the options and the tests read: the broker, the KafkaIO expansion service jar (also
        as the override Beam's ReadFromKafka looks up, so nothing is downloaded) and Kafka's classpath.
        `up` fetches the jar; so does `scripts/kafka.sh env`, for a machine that runs no broker."""
        jar = expansion_jar()
        port = self.portfile.read_text().strip() if self.portfile.exists() else str(self.port)
        return {
            "SPECTATOR_KAFKA_BOOTSTRAP": f"{HOST}:{port}",
            "SPECTATOR_EXPANSION_JAR": str(jar),
            "SPECTATOR_KAFKA_CLASSPATH": f"{kafka_libs()}/*",
            "BEAM_SERVICE_OVERRIDES": f'{{"sdks:java:io:expansion-service:shadowJar": "{jar}"}}',
        }

    def log_tail(self, lines: int = 50) -> str:
        return tail(self.logs / "server.log", lines)
