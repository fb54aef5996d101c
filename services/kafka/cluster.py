"""A Kafka cluster on 127.0.0.1: three KRaft nodes (broker and controller each), topics replicated 3
times with min.insync.replicas 2, so a write the producers acknowledge (acks=all) survives the loss of
one broker. Ports: SPECTATOR_KAFKA_CLUSTER_PORT (9192), +2 and +4, each controller on the next port.

The nodes form one controller quorum, so they start together: a node alone waits for a majority.
"""

from __future__ import annotations

import base64
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from services.base import HOST, env_port, locked, run_dir, say, wait_ready
from services.kafka.broker import KafkaBroker
from services.kafka.build import fetch_expansion_service, fetch_kafka
from services.kafka.metadata import listed_brokers

NODES = 3


class KafkaCluster:
    def __init__(self, port: int | None = None, home: Path | None = None):
        self.port = port or env_port("SPECTATOR_KAFKA_CLUSTER_PORT", 9192)
        self.home = home or run_dir() / "kafka-cluster"
        ports = [self.port + 2 * i for i in range(NODES)]
        voters = ",".join(f"{i + 1}@{HOST}:{p + 1}" for i, p in enumerate(ports))
        self.nodes = [
            KafkaBroker(p, home=self.home / str(i + 1), node_id=i + 1, voters=voters, replicas=NODES)
            for i, p in enumerate(ports)
        ]

    @property
    def bootstrap(self) -> str:
        return ",".join(node.bootstrap for node in self.nodes)

    def running(self) -> bool:
        return any(node.running() for node in self.nodes)

    def up(self) -> None:
        with locked("kafka-cluster"):
            missing = [node for node in self.nodes if not node.running()]
            if not missing:
                say(f"Kafka cluster already running on {self.bootstrap}")
                return
            for node in missing:
                node.refuse_taken_ports("SPECTATOR_KAFKA_CLUSTER_PORT (nodes on port, +2, +4; controllers on +1)")
            fetch_kafka()
            fetch_expansion_service()
            cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()  # used once, by a new node
            starts = [(node, node.launch(cluster_id)) for node in missing]
            for node, start in starts:
                node.wait_started(start)
            self.wait_listed()
            say(f"Kafka cluster up on {self.bootstrap} ({NODES} nodes, replication factor {NODES}, min ISR 2)")

    def wait_listed(self, timeout_s: float = 60) -> None:
        """Waits until every node's metadata lists every broker: clients pick brokers from it."""
        want = {node.node_id for node in self.nodes}
        seen: dict[int, set[int] | str] = {}

        def ready() -> bool:
            for node in self.nodes:
                try:
                    seen[node.node_id] = listed_brokers(HOST, node.port)
                except (OSError, ValueError) as e:
                    seen[node.node_id] = str(e)
            return all(listed == want for listed in seen.values())

        def alive() -> bool:
            return all(node.running() for node in self.nodes)

        def report() -> str:
            return "; ".join(f"node {n} lists {listed}" for n, listed in sorted(seen.items()))

        wait_ready(f"the Kafka cluster's metadata on {self.bootstrap}", ready, alive, timeout_s, report)

    def down(self) -> None:
        with locked("kafka-cluster"):
            # Together: the last node of a quorum stopped alone waits for the others' votes until killed.
            with ThreadPoolExecutor(NODES) as pool:
                list(pool.map(lambda node: node.process.stop(grace_s=30), self.nodes))
            for node in self.nodes:
                node.portfile.unlink(missing_ok=True)
        say("Kafka cluster down")

    def status(self) -> str:
        running = [node.bootstrap for node in self.nodes if node.running()]
        return f"kafka-cluster: running, {', '.join(running)}" if running else "kafka-cluster: stopped"

    def env(self) -> dict[str, str]:
        return {"SPECTATOR_KAFKA_CLUSTER_BOOTSTRAP": self.bootstrap}
