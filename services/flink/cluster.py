"""A local standalone Flink cluster for the FlinkRunner, all on 127.0.0.1: a JobManager and its
TaskManagers, Beam's job server, the KafkaIO expansion service (EMBEDDED) and the Python worker pool.

`up` assembles Flink and builds the job server (once, services/flink/build.py), then starts what is
not running and waits until each piece serves; after a crash (say a TaskManager killed) it starts
just the missing pieces. Config, logs, pid files, artifacts and checkpoints live in
$SPECTATOR_CACHE/run/flink/.

Settings (environment):
  SPECTATOR_FLINK_PORT            REST / web UI port (default 8081)
  SPECTATOR_FLINK_RPC_PORT        JobManager RPC port (default 6123)
  SPECTATOR_FLINK_JOB_PORT        Beam job server port (default 8099; its artifact port is +1)
  SPECTATOR_FLINK_EXPANSION_PORT  KafkaIO expansion service port (default 8097)
  SPECTATOR_FLINK_WORKER_PORT     Python worker pool port (default 50000)
  SPECTATOR_FLINK_SLOTS           task slots of each TaskManager (default 4)
  SPECTATOR_FLINK_TASKMANAGERS    TaskManagers `up` runs (default 1); the others are taskmanager-2, ...
                                  and a job's slots are spread over them, as on a real cluster
  SPECTATOR_FLINK_PARALLELISM     jobs' default parallelism (default 2, one a core here)
  SPECTATOR_FLINK_JM_MEMORY       JobManager process size (default 1024m)
  SPECTATOR_FLINK_TM_MEMORY       TaskManager process size (default 1600m)
  SPECTATOR_FLINK_WAIT            seconds `up` waits for each piece (default 120)
  SPECTATOR_FLINK_MASTER          an existing cluster's REST address: `up` then starts only the job
                                  server, expansion service and worker pool, for that cluster (its
                                  TaskManagers need the job server jar in lib/ and must reach them)
  JAVA_HOME                       the Java to run Flink with (default: `java` on PATH; 11 or 17)
"""

from __future__ import annotations

import filecmp
import json
import os
import re
import shutil
import subprocess
import time
import urllib.request
from http.client import HTTPException
from pathlib import Path

from services.base import (
    HOST,
    ROOT,
    Process,
    ServiceError,
    cache_dir,
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
from services.flink.build import (
    FLINK_MINOR,
    FLINK_VERSION,
    JOB_SERVICE_VERSION,
    assemble,
    build_job_server,
    flink_home,
    job_server_path,
)

__all__ = ["FLINK_VERSION", "JOB_SERVICE_VERSION", "FlinkCluster"]

# Flink's default Java 17 opens (its shipped config.yaml), plus java.lang/java.nio/java.util
# that Beam's runner needs; harmless on Java 11.
JAVA_OPENS = [
    "--add-exports=java.base/sun.net.util=ALL-UNNAMED",
    "--add-exports=java.rmi/sun.rmi.registry=ALL-UNNAMED",
    "--add-exports=jdk.compiler/com.sun.tools.javac.api=ALL-UNNAMED",
    "--add-exports=jdk.compiler/com.sun.tools.javac.file=ALL-UNNAMED",
    "--add-exports=jdk.compiler/com.sun.tools.javac.parser=ALL-UNNAMED",
    "--add-exports=jdk.compiler/com.sun.tools.javac.tree=ALL-UNNAMED",
    "--add-exports=jdk.compiler/com.sun.tools.javac.util=ALL-UNNAMED",
    "--add-exports=java.security.jgss/sun.security.krb5=ALL-UNNAMED",
    "--add-opens=java.base/java.lang=ALL-UNNAMED",
    "--add-opens=java.base/java.net=ALL-UNNAMED",
    "--add-opens=java.base/java.io=ALL-UNNAMED",
    "--add-opens=java.base/java.nio=ALL-UNNAMED",
    "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED",
    "--add-opens=java.base/java.lang.reflect=ALL-UNNAMED",
    "--add-opens=java.base/java.text=ALL-UNNAMED",
    "--add-opens=java.base/java.time=ALL-UNNAMED",
    "--add-opens=java.base/java.util=ALL-UNNAMED",
    "--add-opens=java.base/java.util.concurrent=ALL-UNNAMED",
    "--add-opens=java.base/java.util.concurrent.atomic=ALL-UNNAMED",
    "--add-opens=java.base/java.util.concurrent.locks=ALL-UNNAMED",
]
CONF_TEMPLATE = ROOT / "services" / "flink" / "config.yaml.in"
CLIENTS = ["jobserver", "expansion", "workers"]
PORT_SETTINGS = {
    "jobmanager": "SPECTATOR_FLINK_PORT",
    "jobserver": "SPECTATOR_FLINK_JOB_PORT",
    "expansion": "SPECTATOR_FLINK_EXPANSION_PORT",
    "workers": "SPECTATOR_FLINK_WORKER_PORT",
}


def _positive(name: str, default: int) -> int:
    value = os.environ.get(name) or str(default)
    if not re.fullmatch(r"[1-9][0-9]*", value):
        raise ServiceError(f"{name} must be a positive number, not '{value}'")
    return int(value)


def http_get(url: str) -> str | None:
    """The body of a GET, or None when nothing answers or it fails."""
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.read().decode()
    except (OSError, HTTPException, ValueError):  # URLError and HTTPError are OSErrors
        return None


class FlinkCluster:
    """The project's Flink cluster, or with SPECTATOR_FLINK_MASTER only the pieces that serve jobs
    on another cluster."""

    def __init__(self, taskmanagers: int | None = None):
        if taskmanagers is not None and taskmanagers < 1:
            raise ServiceError(f"SPECTATOR_FLINK_TASKMANAGERS must be a positive number, not '{taskmanagers}'")
        self.taskmanagers = taskmanagers or _positive("SPECTATOR_FLINK_TASKMANAGERS", 1)
        self.ports = {
            "jobmanager": env_port("SPECTATOR_FLINK_PORT", 8081),
            "jobserver": env_port("SPECTATOR_FLINK_JOB_PORT", 8099),
            "expansion": env_port("SPECTATOR_FLINK_EXPANSION_PORT", 8097),
            "workers": env_port("SPECTATOR_FLINK_WORKER_PORT", 50000),
        }
        self.rpc_port = env_port("SPECTATOR_FLINK_RPC_PORT", 6123)
        self.slots = _positive("SPECTATOR_FLINK_SLOTS", 4)
        self.parallelism = _positive("SPECTATOR_FLINK_PARALLELISM", 2)
        self.wait_s = _positive("SPECTATOR_FLINK_WAIT", 120)
        self.jm_memory = os.environ.get("SPECTATOR_FLINK_JM_MEMORY") or "1024m"
        self.tm_memory = os.environ.get("SPECTATOR_FLINK_TM_MEMORY") or "1600m"
        self.run = run_dir() / "flink"
        self.conf_dir, self.log_dir = self.run / "conf", self.run / "log"
        own = f"{HOST}:{self.ports['jobmanager']}"
        self.master = os.environ.get("SPECTATOR_FLINK_MASTER") or own
        self.rest_url = "http://" + self.master.removeprefix("http://")
        extra = [f"taskmanager-{i}" for i in range(2, self.taskmanagers + 1)]
        self.pieces = ["jobmanager", "taskmanager", *extra, *CLIENTS] if self.master == own else list(CLIENTS)

    # ------------------------------------------------------------ pieces

    def process(self, name: str) -> Process:
        return Process(name, self.run / f"{name}.pid")

    def alive(self, name: str) -> bool:
        return self.process(name).alive()

    def running(self) -> bool:
        """Any piece of it."""
        return any(self.alive(name) for name in self.pieces)

    @property
    def job_port(self) -> int:
        return self.ports["jobserver"]

    def command(self, name: str) -> list[str]:
        if name.startswith(("jobmanager", "taskmanager")):
            return [str(flink_home() / "bin" / f"{name.split('-')[0]}.sh"), "start-foreground"]
        jar = str(job_server_path())
        if name == "jobserver":
            # Our cluster's settings (checkpoint dirs, ...) go with every job; another cluster has its own.
            conf = ["--flink-conf-dir", str(self.conf_dir)] if self.pieces[0] == "jobmanager" else []
            return [
                java(), "-Xmx512m", f"-Dlog4j.configurationFile={self.conf_dir / 'log4j-jobserver.properties'}",
                "-jar", jar, "--flink-master", self.master, *conf, "--job-host", HOST,
                "--job-port", str(self.job_port), "--artifact-port", str(self.job_port + 1),
                "--expansion-port", "-1", "--artifacts-dir", str(self.run / "artifacts"),
            ]  # fmt: skip
        if name == "expansion":
            # The job server's own expansion port yields DOCKER environments whatever Python asks for.
            # Without use_deprecated_read an unbounded ReadFromKafka emits nothing on portable Flink
            # (apache/beam#20979, #32709).
            return [
                java(), "-Xmx256m", f"-Dlog4j.configurationFile={self.conf_dir / 'log4j-expansion.properties'}",
                "-cp", jar, "spectator.services.LocalExpansionService", str(self.ports["expansion"]),
                "--defaultEnvironmentType=EMBEDDED", "--experiments=use_deprecated_read",
            ]  # fmt: skip
        if name == "workers":
            return [
                str(cache_dir() / "venv" / "bin" / "python"), "-m", "spectator.flink.worker_pool", "--host", HOST,
                "--port", str(self.ports["workers"]), "--log", str(self.log_dir / "python-workers.log"),
            ]  # fmt: skip
        raise ServiceError(f"no Flink piece {name!r}: one of {' '.join(self.pieces)}")

    def start(self, name: str) -> None:
        """In a session of its own, so a Ctrl-C on the caller does not reach it."""
        # The ident names each piece's log file (flink-IDENT-taskexecutor-0-HOST.log).
        ident = f"spectator-{name.removeprefix('taskmanager-')}" if name.startswith("taskmanager-") else "spectator"
        env = {
            "FLINK_CONF_DIR": str(self.conf_dir),
            "FLINK_LOG_DIR": str(self.log_dir),
            "FLINK_PID_DIR": str(self.run / "pid"),
            "FLINK_IDENT_STRING": ident,
        }
        self.process(name).start(self.command(name), self.log_dir / f"{name}.console", env=env)

    def taskmanagers_registered(self) -> int | None:
        """How many TaskManagers the REST API reports, or None."""
        body = http_get(f"{self.rest_url}/overview")
        try:
            return int(json.loads(body)["taskmanagers"]) if body else None
        except (ValueError, KeyError, TypeError):
            return None

    def ready(self, name: str) -> bool:
        """Does it serve yet."""
        if name == "jobmanager":
            return http_get(f"{self.rest_url}/config") is not None
        if name.startswith("taskmanager"):
            want = 1 if name == "taskmanager" else int(name.removeprefix("taskmanager-"))
            return (self.taskmanagers_registered() or 0) >= want
        return port_open(self.ports[name])

    def log_tail(self) -> str:
        """The errors and the last lines of every log, for a failed start."""
        out = []
        for pattern in ("*.log", "*.out", "*.console"):
            for path in sorted(self.log_dir.glob(pattern)):
                if not path.is_file() or path.stat().st_size == 0:
                    continue
                text = path.read_text(errors="replace").splitlines()
                errors = [line for line in text if re.search(r"ERROR|Exception|Caused by", line)]
                out += [f"--- {path}", *errors[-8:], *text[-5:]]
        return "\n".join(out)

    # ------------------------------------------------------------ preparing

    def check_java(self) -> None:
        found = java()
        shown = subprocess.run([found, "-XshowSettings:properties", "-version"], capture_output=True, text=True)
        major = re.search(r"^\s*java\.specification\.version = (\S+)", shown.stdout + shown.stderr, re.M)
        version = major[1] if major else ""
        if version not in ("11", "17"):
            say(f"warning: Flink {FLINK_MINOR} supports Java 11 and 17; {found} is Java {version} (set JAVA_HOME)")

    def install_lib_jar(self) -> None:
        """The job server jar in Flink's lib/ (see config.yaml.in: parent-first)."""
        jar = job_server_path()
        # Sorts before flink-dist and log4j-* in lib/, so its slf4j 2 and log4j2 come first on the classpath.
        lib_jar = flink_home() / "lib" / "beam-flink-job-server.jar"
        if lib_jar.exists() and filecmp.cmp(jar, lib_jar, shallow=False):
            return
        partial = lib_jar.with_name(f"{lib_jar.name}.partial")
        shutil.copyfile(jar, partial)
        partial.replace(lib_jar)

    def write_conf(self) -> None:
        for sub in ("pid", "tmp", "web", "checkpoints", "savepoints", "artifacts"):
            (self.run / sub).mkdir(parents=True, exist_ok=True)
        self.conf_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        shipped = flink_home() / "conf"
        for name in ("log4j.properties", "log4j-console.properties", "log4j-cli.properties",
                     "log4j-session.properties", "logback.xml", "logback-console.xml"):  # fmt: skip
            shutil.copyfile(shipped / name, self.conf_dir / name)
        (self.conf_dir / "masters").write_text(f"{HOST}:{self.ports['jobmanager']}\n")
        (self.conf_dir / "workers").write_text(f"{HOST}\n")
        (self.conf_dir / "config.yaml").write_text(self.config_yaml())
        # The job server and the expansion service log through log4j2 into files of their own.
        log4j = (shipped / "log4j.properties").read_text()
        for name in ("jobserver", "expansion"):
            own = log4j.replace("${sys:log.file}", str(self.log_dir / f"{name}.log"))
            (self.conf_dir / f"log4j-{name}.properties").write_text(own)

    def config_yaml(self) -> str:
        text = CONF_TEMPLATE.read_text()
        for placeholder, value in {
            "@JAVA_OPTS@": " ".join(JAVA_OPENS),
            "@RPC_PORT@": str(self.rpc_port),
            "@REST_PORT@": str(self.ports["jobmanager"]),
            "@JM_MEMORY@": self.jm_memory,
            "@TM_MEMORY@": self.tm_memory,
            "@SLOTS@": str(self.slots),
            "@PARALLELISM@": str(self.parallelism),
            "@RUN_DIR@": str(self.run),
        }.items():
            text = text.replace(placeholder, value)
        return text

    def prepare(self) -> None:
        """Everything a start needs: checked before the first process starts."""
        if not os.access(cache_dir() / "venv" / "bin" / "python", os.X_OK):
            raise ServiceError("the project's venv is missing: run scripts/bootstrap.sh")
        own_cluster = self.pieces[0] == "jobmanager"
        if not (own_cluster or self.alive("jobmanager") or http_get(f"{self.rest_url}/config") is not None):
            raise ServiceError(f"no Flink cluster answers at {self.rest_url} (SPECTATOR_FLINK_MASTER)")
        self.check_java()
        assemble()
        build_job_server()
        self.install_lib_jar()
        self.write_conf()

    # ------------------------------------------------------------ commands

    def up(self) -> None:
        with locked("flink"):
            missing = [name for name in self.pieces if not self.alive(name)]
            if not missing:
                say(f"Flink already running: {self.rest_url} (job server {HOST}:{self.job_port})")
                return
            for name in missing:
                if name in PORT_SETTINGS:
                    refuse_taken(self.ports[name], f"Flink {name}", PORT_SETTINGS[name])
            self.prepare()
            started = time.monotonic()
            for name in missing:
                self.start(name)
            for name in self.pieces:  # each piece gets the whole wait: they start at once, in parallel
                wait_ready(
                    f"the Flink {name}", lambda n=name: self.ready(n), lambda n=name: self.alive(n), self.wait_s,
                    lambda: f"logs in {self.log_dir}:\n{self.log_tail()}",
                )  # fmt: skip
            say(
                f"Flink {FLINK_VERSION} up in {time.monotonic() - started:.0f}s (started {' '.join(missing)}): "
                f"web UI {self.rest_url}, job server {HOST}:{self.job_port}"
            )

    def stop_order(self) -> list[str]:
        """Clients first, then the TaskManagers, so the JobManager does not try to restart jobs on them."""
        extra = [path.stem for path in self.run.glob("taskmanager-*.pid")]
        extra.sort(key=lambda name: (len(name), name))  # taskmanager-10 after taskmanager-9
        return [*reversed(CLIENTS), *extra, "taskmanager", "jobmanager"]

    def down(self, *pieces: str) -> None:
        with locked("flink"):
            names = list(pieces) or self.stop_order()
            if not any(self.alive(name) for name in names):
                for name in names:
                    self.process(name).pidfile.unlink(missing_ok=True)
                say(f"Flink {' '.join(pieces)} not running" if pieces else
                    "Flink is not running (nothing started by this script)")  # fmt: skip
                return
            for name in names:
                self.process(name).stop(grace_s=30)
            if not pieces:
                # Each submission stages its artifacts (GBs over a test run) and every job leaves files
                # in tmp/; with nothing running, no job can need them again. Checkpoints and
                # savepoints stay.
                for folder in ("artifacts", "tmp"):
                    shutil.rmtree(self.run / folder, ignore_errors=True)
            say(f"Flink down: {' '.join(pieces)}" if pieces else "Flink down")

    def status(self) -> str:
        lines = []
        for name in self.pieces:
            pid = self.process(name).pid()
            state = f"running, pid {pid}" if pid else "stopped"
            if name in self.ports:
                state += f", {HOST}:{self.ports[name]}"
            lines.append(f"flink {name}: {state}")
        if self.alive("jobmanager"):
            lines.append(f"flink: {http_get(f'{self.rest_url}/overview') or 'the REST API does not answer'}")
        home = flink_home()
        assembled = (home / ".assembled").is_file()
        lines.append(f"flink: {FLINK_VERSION} assembled in {home}" if assembled else "flink: not assembled yet")
        return "\n".join(lines)

    def env(self) -> dict[str, str]:
        """What other scripts and `spectator run` take as defaults."""
        return {
            "SPECTATOR_FLINK_MASTER": self.master,
            "SPECTATOR_FLINK_JOB_ENDPOINT": f"{HOST}:{self.job_port}",
            "SPECTATOR_FLINK_EXPANSION_SERVICE": f"{HOST}:{self.ports['expansion']}",
            "SPECTATOR_FLINK_WORKER_POOL": f"{HOST}:{self.ports['workers']}",
            "SPECTATOR_FLINK_CHECKPOINTS": str(self.run / "checkpoints"),
        }

    def logs(self, name: str = "jobmanager", lines: int = 50) -> str:
        patterns = {
            "jobmanager": "flink-*-standalonesession-*.log",
            "taskmanager": "flink-spectator-taskexecutor-*.log",
            "jobserver": "jobserver.log",
            "expansion": "expansion.log",
            "workers": "python-workers.log",
        }
        if re.fullmatch(r"taskmanager-[1-9][0-9]*", name):
            patterns[name] = f"flink-spectator-{name.removeprefix('taskmanager-')}-taskexecutor-*.log"
        if name not in patterns:
            raise ServiceError(f"logs: one of {' '.join(self.pieces)}")
        found = sorted(self.log_dir.glob(patterns[name]), key=lambda path: path.stat().st_mtime)
        if not found:
            raise ServiceError(f"no {name} log in {self.log_dir}")
        return tail(found[-1], lines)

    def job_server_jar(self) -> Path:
        return build_job_server()

    def assemble(self) -> Path:
        return assemble()
