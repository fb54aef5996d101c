"""What every local service shares: paths, ports, pid files, locks, stamps and waiting until ready.

Standard library only: `scripts/services.sh` runs this with the system's python3, before the
project's venv exists. Every server binds 127.0.0.1 and runs in a session of its own, so a Ctrl-C on
the caller does not reach it and stopping it reaches its children too.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"


class ServiceError(Exception):
    """A service could not be fetched, started or stopped; the message is the one line to print."""


def cache_dir() -> Path:
    return Path(os.environ.get("SPECTATOR_CACHE") or ROOT / ".cache").resolve()


def run_dir() -> Path:
    return cache_dir() / "run"


def beam_version() -> str:
    """Pinned once, in setup.py: the SDK, the KafkaIO expansion service and the Flink job server
    must be the same Beam."""
    found = re.search(r'^BEAM_VERSION = "([^"]+)"', (ROOT / "setup.py").read_text(), re.M)
    if not found:
        raise ServiceError(f"no BEAM_VERSION in {ROOT / 'setup.py'}")
    return found[1]


def env_port(name: str, default: int) -> int:
    value = os.environ.get(name) or str(default)
    if not value.isdigit() or not 0 < int(value) < 65536:
        raise ServiceError(f"{name} must be a port number, not {value!r}")
    return int(value)


def say(message: str) -> None:
    print(f"\033[1m==> {message}\033[0m", file=sys.stderr, flush=True)


def port_open(port: int) -> bool:
    try:
        socket.create_connection((HOST, port), timeout=1).close()
        return True
    except OSError:
        return False


def refuse_taken(port: int, what: str, setting: str) -> None:
    if port_open(port):
        owner = f" ({_port_owner(port)})" if _port_owner(port) else ""
        raise ServiceError(f"port {port} ({what}) is taken by another process{owner}; stop it or set {setting}")


def _port_owner(port: int) -> str:
    """Best effort: who listens on the port."""
    if not shutil.which("ss"):
        return ""
    out = subprocess.run(["ss", "-Hltnp", f"sport = :{port}"], capture_output=True, text=True).stdout
    found = re.search(r"users:\(\((.*)\)\)", out)
    return found[1] if found else ""


def digest(*paths: Path) -> str:
    h = hashlib.sha256()
    for path in paths:
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


def stamped(stamp: Path, want: str) -> bool:
    """Whether a fetch or build recorded in `stamp` was made from `want` (versions and file digests)."""
    try:
        return stamp.read_text().strip() == want
    except OSError:
        return False


@contextmanager
def locked(name: str, timeout_s: float = 900) -> Iterator[None]:
    """One fetch, build, start or stop of `name` at a time per cache, across processes."""
    path = cache_dir() / f".{name}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise ServiceError(f"timed out after {timeout_s:g} s waiting for {path}") from None
                time.sleep(0.2)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def run_quiet(cmd: Sequence[str | Path], what: str, **kwargs) -> None:
    """Runs a build step, showing its output only when it fails."""
    done = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, **kwargs)
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).splitlines()[-25:])
        raise ServiceError(f"{what} failed (exit {done.returncode}):\n{tail}")


def mvn(pom: Path, *args: str, **properties: str) -> None:
    if not shutil.which("mvn"):
        raise ServiceError("mvn not found: apt-get install maven")
    props = [f"-D{key.replace('_', '.')}={value}" for key, value in properties.items()]
    run_quiet(["mvn", "-B", "-q", "-f", pom, *props, *args], f"mvn -f {pom} {' '.join(args)}")


def java() -> str:
    home = os.environ.get("JAVA_HOME")
    found = f"{home}/bin/java" if home else shutil.which("java")
    if not found or not os.access(found, os.X_OK):
        raise ServiceError("no java found: install a JDK 17 (apt-get install openjdk-17-jdk-headless) or set JAVA_HOME")
    return found


class Process:
    """A server the scripts started, known by its pid file under .cache/run.

    It runs in a session of its own, so its pid is also its process group. The pid file holds the
    pid and the leader's start time, so a pid that Linux gave to another process later is not ours.
    """

    def __init__(self, name: str, pidfile: Path):
        self.name, self.pidfile = name, pidfile

    def start(self, cmd: Sequence[str | Path], log: Path, env: dict[str, str] | None = None) -> int:
        log.parent.mkdir(parents=True, exist_ok=True)
        self.pidfile.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "ab") as out:
            proc = subprocess.Popen(
                [str(c) for c in cmd], stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                env={**os.environ, **(env or {})}, start_new_session=True, close_fds=True,
            )  # fmt: skip
        self.pidfile.write_text(f"{proc.pid} {_start_time(proc.pid)}\n")
        return proc.pid

    def pid(self) -> int | None:
        """The group's pid while any process of it lives, else None."""
        try:
            fields = self.pidfile.read_text().split()
            pid, started = int(fields[0]), fields[1] if len(fields) > 1 else None
        except (OSError, ValueError, IndexError):
            return None
        _reap(pid)
        leader = _start_time(pid)
        if leader is not None and started is not None and leader != started:
            return None  # the pid now belongs to another process
        try:
            os.killpg(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            return None
        return pid

    def alive(self) -> bool:
        return self.pid() is not None

    def stop(self, grace_s: float = 30) -> bool:
        """TERM to the whole group, then KILL after the grace period. False if nothing ran."""
        pid = self.pid()
        if pid is None:
            self.pidfile.unlink(missing_ok=True)
            return False
        _signal_group(pid, signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        while time.monotonic() < deadline and _group_alive(pid):
            _reap(pid)
            time.sleep(0.1)
        if _group_alive(pid):
            say(f"{self.name} (process group {pid}) did not stop within {grace_s:.0f} s; killing it")
            _signal_group(pid, signal.SIGKILL)
            while _group_alive(pid):
                _reap(pid)
                time.sleep(0.05)
        self.pidfile.unlink(missing_ok=True)
        return True


def _reap(pid: int) -> None:
    """A server this process started and that has exited stays a zombie, which signals still reach,
    until it is waited for."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def _start_time(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]  # field 22, counted after the command name


def _group_alive(pid: int) -> bool:
    try:
        os.killpg(pid, 0)
        return True
    except (ProcessLookupError, PermissionError):
        return False


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        pass


def wait_ready(
    what: str, ready: Callable[[], bool], alive: Callable[[], bool], timeout_s: float, logs: Callable[[], str]
) -> float:
    """Waits until `ready()`; fails at once when the process exits, or after `timeout_s`. Returns
    the seconds it took."""
    started = time.monotonic()
    while not ready():
        if not alive():
            raise ServiceError(f"{what} exited during start-up:\n{logs()}")
        if time.monotonic() - started > timeout_s:
            raise ServiceError(f"{what} did not come up within {timeout_s:.0f} s:\n{logs()}")
        time.sleep(0.2)
    return time.monotonic() - started


def tail(path: Path, lines: int = 20, start: int = 0) -> str:
    """The last `lines` lines of a log, from byte offset `start` on."""
    try:
        with open(path, "rb") as f:
            f.seek(start)
            text = f.read().decode(errors="replace")
    except OSError:
        return f"(no log at {path})"
    return "\n".join(text.splitlines()[-lines:])
