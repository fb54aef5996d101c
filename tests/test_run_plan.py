"""What a run will do, decided before it runs: windowing, refused flags, and the local engine."""

import json
import os
import subprocess
import sys
import textwrap

import pytest

from spectator.core.errors import UsageError
from spectator.pipeline.build import plan
from spectator.pipeline.options import parse_options

KAFKA = ["--bootstrap-servers", "127.0.0.1:9", "--topic", "t"]


@pytest.mark.parametrize(
    "flags, windowing",
    [
        (["--input", "f.jsonl"], "fold"),
        (["--input", "f.jsonl", "--windowing", "sessions"], "sessions"),
        ([*KAFKA], "fold"),
        ([*KAFKA, "--streaming"], "sessions"),
        ([*KAFKA, "--streaming", "--windowing", "sessions"], "sessions"),
        (["--input", "f.jsonl", "--streaming"], "sessions"),
        (["--input", "f.jsonl", "--windowing", "sessions", "--allowed-lateness-seconds", "5"], "sessions"),
        ([*KAFKA, "--runner", "FlinkRunner", "--streaming", "--checkpointing-interval", "500"], "sessions"),
    ],
)
def test_auto_keeps_the_fold_for_bounded_runs_and_windows_for_streaming_ones(flags, windowing):
    assert plan(parse_options(flags)).windowing == windowing


@pytest.mark.parametrize(
    "flags, message",
    [
        ([*KAFKA, "--streaming", "--windowing", "fold"], "--windowing fold needs a bounded run"),
        (["--input", "f.jsonl", "--allowed-lateness-seconds", "60"], "--allowed-lateness-seconds: this run would"),
        (["--input", "f.jsonl", "--windowing", "fold", "--early-firing-seconds", "0"], "--early-firing-seconds:"),
        (["--input", "f.jsonl", "--windowing", "sessions", "--max-records", "5"], "a file is read whole"),
        ([*KAFKA, "--checkpointing-interval", "1000"], "it is a FlinkRunner setting"),
        (["--input", "f.jsonl", "--windowing", "sessions", "--state-backend", "rocksdb"], "FlinkRunner setting"),
        (["--input", "f.jsonl", "--windowing", "sideways"], "invalid choice: 'sideways'"),
    ],
)
def test_a_flag_the_run_would_ignore_is_refused_in_one_line(flags, message):
    with pytest.raises(UsageError) as caught:
        plan(parse_options(flags))
    assert message in str(caught.value) and "\n" not in str(caught.value)


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
