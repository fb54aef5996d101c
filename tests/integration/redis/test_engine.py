"""A DirectRunner run names its engine, the one the tests use, and downloads nothing."""

import json
import os
import subprocess
import sys
import textwrap

# Loaded first by every Python process started with it on PYTHONPATH: any connection or name
# lookup that leaves the machine fails, and is written down.
NO_NETWORK = textwrap.dedent(
    """
    import os, socket
    LOOPBACK = ("127.0.0.1", "localhost", "::1", None)
    def refuse(host):
        with open(os.environ["REFUSED_LOG"], "a") as log:
            log.write(f"{host}\\n")
        raise OSError(f"network refused: {host}")
    real_getaddrinfo, real_connect = socket.getaddrinfo, socket.socket.connect
    def getaddrinfo(host, *args, **kwargs):
        if host not in LOOPBACK and not str(host).startswith("127."):
            refuse(host)
        return real_getaddrinfo(host, *args, **kwargs)
    def connect(self, address):
        host = address[0] if isinstance(address, tuple) else None
        if host not in LOOPBACK and not str(host).startswith("127."):
            refuse(host)
        return real_connect(self, address)
    socket.getaddrinfo, socket.socket.connect = getaddrinfo, connect
    """
)


def test_a_direct_replay_runs_on_the_fn_api_runner_and_downloads_nothing(tmp_path, redis_url):
    """Beam's DirectRunner would offer this replay to Prism first, which downloads its binary."""
    (tmp_path / "sitecustomize.py").write_text(NO_NETWORK)
    events = tmp_path / "e.jsonl"
    events.write_text("".join(json.dumps({"user_id": f"u{i % 7}", "timestamp": 1000 * i}) + "\n" for i in range(50)))
    refused = tmp_path / "refused.log"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), os.getcwd()]), "REFUSED_LOG": str(refused),
           "SPECTATOR_LOG_LEVEL": "INFO"}  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-m", "spectator.cli", "run", "--input", str(events), "--redis-url", redis_url],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert "replayed 50 events" in done.stdout and "(FnApiRunner), windowing fold:" in done.stdout
    assert "prism" not in done.stderr.lower()
    assert not refused.exists(), refused.read_text()
