"""A Redis Cluster on 127.0.0.1: 3 masters and 3 replicas, six redis-server processes on the ports
SPECTATOR_REDIS_CLUSTER_PORT (7000) to +5, each append-only, joined by `redis-cli --cluster create`.

A node killed and started again rejoins from its nodes.conf: after a failover, as a replica of the
master that took its slots. `up` is ready only when every slot is served and every master has a
replica in sync, so a test that kills a master right after finds a replica to take over.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

from services.base import HOST, ServiceError, env_port, locked, run_dir, say
from services.redis import RedisServer

NODES = 6
REPLICAS = 1  # a master's replicas
# Short, so a failover in the tests takes seconds, not the default 15 s of silence.
NODE_TIMEOUT_MS = 2000


def command(port: int, *args: str, timeout_s: float = 5) -> str:
    """One command over RESP, for the replies this module reads: a status or a bulk string."""
    request = f"*{len(args)}\r\n" + "".join(f"${len(a.encode())}\r\n{a}\r\n" for a in args)
    with socket.create_connection((HOST, port), timeout=timeout_s) as conn, conn.makefile("rb") as reply:
        conn.sendall(request.encode())
        head = reply.readline().decode().rstrip("\r\n")
        if head.startswith("$"):
            size = int(head[1:])
            return "" if size < 0 else reply.read(size + 2)[:-2].decode()
        if head.startswith("-"):
            raise ServiceError(f"redis at port {port}: {head[1:]}")
        return head[1:]


def info(port: int, *args: str) -> dict[str, str]:
    """The `field:value` lines of INFO or CLUSTER INFO."""
    text = command(port, *args)
    return dict(line.split(":", 1) for line in text.splitlines() if ":" in line and not line.startswith("#"))


class RedisCluster:
    def __init__(self, port: int | None = None, home: Path | None = None):
        self.port = port or env_port("SPECTATOR_REDIS_CLUSTER_PORT", 7000)
        self.home = home or run_dir() / "redis-cluster"
        flags = ["--cluster-enabled", "yes", "--cluster-node-timeout", str(NODE_TIMEOUT_MS),
                 # The slots of a master that died stay refused until its replica takes over; the
                 # others keep serving meanwhile.
                 "--cluster-require-full-coverage", "no"]  # fmt: skip
        self.nodes = [
            RedisServer(p, home=self.home / str(p), flags=[*flags, "--cluster-config-file", f"nodes-{p}.conf"])
            for p in self.ports
        ]

    @property
    def ports(self) -> list[int]:
        return [self.port + i for i in range(NODES)]

    @property
    def url(self) -> str:
        return f"redis://{HOST}:{self.port}/0"

    def node(self, port: int) -> RedisServer:
        return self.nodes[self.ports.index(port)]

    def running(self) -> bool:
        return any(node.running() for node in self.nodes)

    def formed(self) -> bool:
        """Whether the nodes were joined once: each keeps its cluster's config then."""
        return all((node.home / f"nodes-{node.port}.conf").exists() for node in self.nodes) and any(
            int(info(node.port, "CLUSTER", "INFO").get("cluster_known_nodes", "1")) > 1
            for node in self.nodes
            if node.running()
        )

    def up(self) -> None:
        with locked("redis-cluster"):
            if self.running() and self.ready():
                say(f"Redis Cluster already running on {HOST}:{self.port}-{self.port + NODES - 1}")
                return
            for node in self.nodes:
                node.up()
            if not self.formed():
                self.create()
            started = time.monotonic()
            while not self.ready():
                if time.monotonic() - started > 60:
                    raise ServiceError(f"the Redis Cluster on {HOST}:{self.port}-{self.port + NODES - 1} "
                                       f"was not ready within 60 s:\n{self.describe()}")  # fmt: skip
                time.sleep(0.2)
            say(f"Redis Cluster up on {HOST}:{self.port}-{self.port + NODES - 1} ({NODES // (REPLICAS + 1)} masters)")

    def create(self) -> None:
        cli = shutil.which("redis-cli")
        if not cli:
            raise ServiceError("redis-cli is missing: run scripts/bootstrap.sh")
        addresses = [f"{HOST}:{p}" for p in self.ports]
        create = [cli, "--cluster", "create", *addresses, "--cluster-replicas", str(REPLICAS), "--cluster-yes"]
        done = subprocess.run(create, capture_output=True, text=True, timeout=120)
        if done.returncode:
            raise ServiceError(f"redis-cli --cluster create failed:\n{(done.stdout + done.stderr)[-2000:]}")

    def ready(self) -> bool:
        """Every slot served, and every master with a replica whose link is up."""
        try:
            states = [info(p, "CLUSTER", "INFO") for p in self.ports]
            replication = [info(p, "INFO", "replication") for p in self.ports]
        except (OSError, ServiceError):
            return False
        if any(s.get("cluster_state") != "ok" or s.get("cluster_slots_ok") != "16384" for s in states):
            return False
        masters = [r for r in replication if r.get("role") == "master"]
        replicas = [r for r in replication if r.get("role") == "slave"]
        return (
            len(masters) == NODES // (REPLICAS + 1)
            and all(int(r.get("connected_slaves", 0)) >= REPLICAS for r in masters)
            and all(r.get("master_link_status") == "up" for r in replicas)
        )

    def describe(self) -> str:
        lines = []
        for node in self.nodes:
            try:
                state = info(node.port, "CLUSTER", "INFO").get("cluster_state")
                role = info(node.port, "INFO", "replication").get("role")
                lines.append(f"  {node.port}: {role}, cluster {state}")
            except (OSError, ServiceError) as e:
                lines.append(f"  {node.port}: {e}")
        return "\n".join(lines)

    def masters(self) -> list[int]:
        """The ports of the nodes that are masters now."""
        running = [node.port for node in self.nodes if node.running()]
        return [port for port in running if info(port, "INFO", "replication").get("role") == "master"]

    def down(self) -> None:
        with locked("redis-cluster"):
            for node in self.nodes:
                node.process.stop(grace_s=20)
        say("Redis Cluster down")

    def status(self) -> str:
        running = [node.port for node in self.nodes if node.running()]
        if not running:
            return "redis-cluster: stopped"
        return f"redis-cluster: running, nodes {', '.join(map(str, running))}, {self.url}\n{self.describe()}"

    def env(self) -> dict[str, str]:
        return {"SPECTATOR_REDIS_CLUSTER_URL": self.url}
