"""Redis: Debian's redis-server on 127.0.0.1 (SPECTATOR_REDIS_PORT, default 6390), append-only, so
what it acknowledged survives a restart."""

from __future__ import annotations

import shutil
import socket
from collections.abc import Sequence
from pathlib import Path

from services.base import (
    HOST,
    Process,
    ServiceError,
    env_port,
    locked,
    port_open,
    refuse_taken,
    run_dir,
    say,
    tail,
    wait_ready,
)


class RedisServer:
    """The project's Redis, or with `home` and `flags` a throwaway one (the tests' TLS or password
    servers). `flags` are redis-server's own, after the project's."""

    def __init__(self, port: int | None = None, home: Path | None = None, flags: Sequence[str] = ()):
        self.port = port or env_port("SPECTATOR_REDIS_PORT", 6390)
        self.home = home or run_dir() / "redis"
        self.flags = list(flags)
        self.process = Process("redis", (home or run_dir()) / "redis.pid")
        self.log = self.home / "redis.log"

    @property
    def url(self) -> str:
        return f"redis://{HOST}:{self.port}/0"

    def command(self) -> list[str]:
        server = shutil.which("redis-server")
        if not server:
            raise ServiceError("redis-server is missing: run scripts/bootstrap.sh")
        return [
            server, "--bind", HOST, "--port", str(self.port), "--dir", str(self.home), "--daemonize", "no",
            "--logfile", str(self.log), "--save", "", "--appendonly", "yes", "--protected-mode", "yes", *self.flags,
        ]  # fmt: skip

    def ready(self) -> bool:
        """Answers PING; a server that wants a password or speaks TLS on this port counts once it listens."""
        if "--tls-port" in self.flags or "--requirepass" in self.flags:
            return port_open(self.port)
        try:
            with socket.create_connection((HOST, self.port), timeout=1) as conn:
                conn.sendall(b"PING\r\n")
                return conn.recv(64).startswith(b"+PONG")
        except OSError:
            return False

    def up(self) -> None:
        with locked("redis"):
            self._up()

    def _up(self) -> None:
        if self.process.alive():
            say(f"redis already running on port {self.port} (pid {self.process.pid()})")
            return
        refuse_taken(self.port, "redis", "SPECTATOR_REDIS_PORT")
        self.home.mkdir(parents=True, exist_ok=True)
        start = self.log.stat().st_size if self.log.exists() else 0
        self.process.start(self.command(), self.home / "redis.out")
        wait_ready("redis", self.ready, self.process.alive, 30, lambda: tail(self.log, 10, start))
        say(f"redis up on {HOST}:{self.port}")

    def down(self) -> None:
        with locked("redis"):
            self.process.stop(grace_s=20)
        say("redis down")

    def env(self) -> dict[str, str]:
        return {"SPECTATOR_REDIS_URL": self.url}

    def running(self) -> bool:
        return self.process.alive()

    def status(self) -> str:
        pid = self.process.pid()
        return f"redis: running, pid {pid}, {self.url}" if pid else "redis: stopped"
