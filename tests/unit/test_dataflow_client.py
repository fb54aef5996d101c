"""`spectator dataflow` and DataflowJobs against a fake Dataflow REST API on 127.0.0.1; the Flex Template files."""

from __future__ import annotations

import json
import re
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import google.auth
import pytest
from apache_beam.options.pipeline_options import _BeamArgumentParser
from google.auth import exceptions as auth_errors
from google.cloud import dataflow_v1beta3 as df

from spectator.cli import main
from spectator.dataflow.jobs import DataflowError, DataflowJobs
from spectator.pipeline.options import DEFAULT_EARLY_FIRING_S, DEFAULT_LATENESS_S, SpectatorOptions

ROOT = Path(__file__).resolve().parents[2]
P, R, J = "demo-project", "europe-west1", "2024-05-01_01_02_03-4242"
JOB_PATH = f"/v1b3/projects/{P}/locations/{R}/jobs/{J}"
JOB = {
    "id": J,
    "name": "spectator-live",
    "projectId": P,
    "location": R,
    "type": "JOB_TYPE_STREAMING",
    "currentState": "JOB_STATE_RUNNING",
    "currentStateTime": "2024-05-01T01:05:00Z",
    "createTime": "2024-05-01T01:02:03Z",
}
LAUNCH = ["launch", "--project", P, "--region", R, "--template", "gs://b/t.json", "--job-name", "x"]


def error(code: int, status: str, message: str) -> tuple[int, dict]:
    return code, {"error": {"code": code, "message": message, "status": status}}


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, list[str]]
    body: dict | None


@dataclass
class FakeDataflow:
    """Answers each (method, path) from a queue of scripted replies; the last reply repeats."""

    url: str = ""
    routes: dict[tuple[str, str], list[tuple[int, dict]]] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)

    def reply(self, method: str, path: str, *answers: tuple[int, dict]) -> None:
        self.routes[(method, path)] = list(answers)

    def answer(self, method: str, path: str) -> tuple[int, dict]:
        queue = self.routes.get((method, path))
        if not queue:
            return error(501, "UNIMPLEMENTED", f"the fake has no reply for {method} {path}")
        return queue.pop(0) if len(queue) > 1 else queue[0]

    def handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def handle_any(self) -> None:
                url = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length)) if length else None
                fake.seen.append(Seen(self.command, url.path, parse_qs(url.query), body))
                status, payload = fake.answer(self.command, url.path)
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_PUT = do_POST = handle_any

            def log_message(self, *args: object) -> None:
                pass

        return Handler


@pytest.fixture
def fake() -> Iterator[FakeDataflow]:
    fake = FakeDataflow()
    server = ThreadingHTTPServer(("127.0.0.1", 0), fake.handler())
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def jobs(fake: FakeDataflow) -> Iterator[DataflowJobs]:
    with DataflowJobs(P, R, api_endpoint=fake.url, retry_seconds=2, backoff_seconds=0.01) as client:
        yield client


def enum(kind: type, value: int | str):
    """The REST transport asks for integer enums; accept names as well."""
    return kind(value) if isinstance(value, int) else kind[value]


# --- DataflowJobs: what reaches the API ---------------------------------------------------------------


def test_get_job_reads_the_regional_job_path(fake, jobs):
    fake.reply("GET", JOB_PATH, (200, JOB))
    job = jobs.get(J)
    assert [(s.method, s.path, s.body) for s in fake.seen] == [("GET", JOB_PATH, None)]
    assert (job.id, job.name, job.current_state) == (J, "spectator-live", df.JobState.JOB_STATE_RUNNING)
    assert job.type_ == df.JobType.JOB_TYPE_STREAMING


@pytest.mark.parametrize(
    "verb, state", [("cancel", df.JobState.JOB_STATE_CANCELLED), ("drain", df.JobState.JOB_STATE_DRAINED)]
)
def test_cancel_and_drain_put_the_requested_state(fake, jobs, verb, state):
    fake.reply("PUT", JOB_PATH, (200, {**JOB, "requestedState": state.name}))
    job = getattr(jobs, verb)(J)
    (seen,) = fake.seen
    assert (seen.method, seen.path) == ("PUT", JOB_PATH)
    assert set(seen.body) == {"requestedState"}
    assert enum(df.JobState, seen.body["requestedState"]) == state
    assert job.requested_state == state


def test_launch_posts_template_name_and_parameters(fake, jobs):
    path = f"/v1b3/projects/{P}/locations/{R}/flexTemplates:launch"
    fake.reply("POST", path, (200, {"job": {**JOB, "currentState": "JOB_STATE_QUEUED"}}))
    params = {"bootstrap_servers": "k1:9092,k2:9092", "topic": "clicks", "gap_seconds": "600"}
    environment = df.FlexTemplateRuntimeEnvironment(max_workers=4)
    job = jobs.launch("gs://bucket/templates/spectator.json", "spectator-live", params, environment)
    (seen,) = fake.seen
    assert (seen.method, seen.path) == ("POST", path)
    assert seen.body["launchParameter"] == {
        "jobName": "spectator-live",
        "containerSpecGcsPath": "gs://bucket/templates/spectator.json",
        "parameters": params,
        "environment": {"maxWorkers": 4},
    }
    assert not seen.body.get("validateOnly")
    assert (job.id, job.current_state) == (J, df.JobState.JOB_STATE_QUEUED)


def test_list_follows_pages_and_stops_at_the_limit(fake, jobs):
    path = f"/v1b3/projects/{P}/locations/{R}/jobs"
    page1 = {"jobs": [{**JOB, "id": "a"}, {**JOB, "id": "b"}], "nextPageToken": "t2"}
    page2 = {"jobs": [{**JOB, "id": "c"}, {**JOB, "id": "d"}], "nextPageToken": "t3"}
    fake.reply("GET", path, (200, page1), (200, page2))
    found = jobs.list("active", limit=3)
    assert [j.id for j in found] == ["a", "b", "c"]
    assert [s.path for s in fake.seen] == [path, path]
    first, second = (s.query for s in fake.seen)
    assert enum(df.ListJobsRequest.Filter, _int_or_str(first["filter"][0])) == df.ListJobsRequest.Filter.ACTIVE
    assert first["pageSize"] == ["3"] and "pageToken" not in first
    assert second["pageToken"] == ["t2"]


def test_messages_are_the_newest_few_oldest_first_and_metrics_are_read(fake, jobs):
    texts = [(f"2024-05-01T01:0{i}:00Z", f"message {i}") for i in range(6)]
    messages = [
        {"id": str(i), "time": t, "messageText": m, "messageImportance": "JOB_MESSAGE_BASIC"}
        for i, (t, m) in enumerate(texts)
    ]
    fake.reply("GET", f"{JOB_PATH}/messages", (200, {"jobMessages": messages[::-1]}))
    fake.reply("GET", f"{JOB_PATH}/metrics", (200, {"metrics": [counter("events_parsed", 7)]}))
    assert [m.message_text for m in jobs.messages(J, limit=3)] == ["message 3", "message 4", "message 5"]
    query = fake.seen[0].query
    assert enum(df.JobMessageImportance, _int_or_str(query["minimumImportance"][0])) == (
        df.JobMessageImportance.JOB_MESSAGE_BASIC
    )
    (metric,) = jobs.metrics(J)
    assert (metric.name.name, metric.scalar) == ("events_parsed", 7)
    assert [s.path for s in fake.seen] == [f"{JOB_PATH}/messages", f"{JOB_PATH}/metrics"]


# --- DataflowJobs: errors and retries -----------------------------------------------------------------


def test_unknown_job_is_one_clear_line(fake, jobs):
    fake.reply("GET", JOB_PATH, error(404, "NOT_FOUND", f"(8f2e) Unable to find job {J}"))
    with pytest.raises(DataflowError) as e:
        jobs.get(J)
    assert str(e.value) == f"job {J} not found in project {P} region {R}"


def test_permission_denied_names_the_project(fake, jobs):
    fake.reply("PUT", JOB_PATH, error(403, "PERMISSION_DENIED", "Permission 'dataflow.jobs.cancel' denied"))
    with pytest.raises(DataflowError) as e:
        jobs.cancel(J)
    text = str(e.value)
    assert f"permission denied in project {P}" in text and "dataflow.jobs.cancel" in text and "\n" not in text


def test_busy_api_is_retried_until_it_answers(fake, jobs):
    fake.reply(
        "GET", JOB_PATH, error(429, "RESOURCE_EXHAUSTED", "Quota exceeded"), error(503, "UNAVAILABLE", "x"), (200, JOB)
    )
    assert jobs.get(J).id == J
    assert len(fake.seen) == 3


def test_retries_are_bounded_then_say_why(fake):
    fake.reply("GET", JOB_PATH, error(503, "UNAVAILABLE", "The service is currently unavailable."))
    with DataflowJobs(P, R, api_endpoint=fake.url, retry_seconds=0.5, backoff_seconds=0.05) as client:
        with pytest.raises(DataflowError) as e:
            client.get(J)
    assert len(fake.seen) >= 2
    assert "kept refusing for 0.5s (503 Service Unavailable: The service is currently unavailable.)" in str(e.value)


def test_unreachable_endpoint_is_retried_then_reported():
    with socket.socket() as s:  # a port that nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with DataflowJobs(P, R, api_endpoint=f"http://127.0.0.1:{port}", retry_seconds=0.3, backoff_seconds=0.05) as c:
        with pytest.raises(DataflowError) as e:
            c.list()
    assert f"http://127.0.0.1:{port} stayed unreachable" in str(e.value)


def test_missing_google_credentials_is_one_clear_line(monkeypatch):
    def no_credentials(**kwargs):
        raise auth_errors.DefaultCredentialsError("Your default credentials were not found.")

    monkeypatch.setattr(google.auth, "default", no_credentials)
    with pytest.raises(DataflowError, match="gcloud auth application-default login"):
        DataflowJobs(P, R).get(J)


# --- the `spectator dataflow` command -----------------------------------------------------------------


@pytest.fixture
def cli(monkeypatch) -> Callable[[list[str]], int]:
    for name in ("GOOGLE_CLOUD_PROJECT", "SPECTATOR_DATAFLOW_REGION", "SPECTATOR_DATAFLOW_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)

    return lambda argv: main(["dataflow", *argv])


def where(fake: FakeDataflow) -> list[str]:
    return ["--project", P, "--region", R, "--endpoint", fake.url, "--retry-seconds", "5"]


def test_cli_launch(fake, cli, capsys):
    fake.reply("POST", f"/v1b3/projects/{P}/locations/{R}/flexTemplates:launch", (200, {"job": JOB}))
    argv = ["launch", *where(fake), "--template", "gs://b/t.json", "--job-name", "spectator-live"]
    assert cli([*argv, "--param", "topic=clicks", "--param", "redis_url=redis://:pw@h:6379/0"]) == 0
    body = fake.seen[0].body["launchParameter"]
    assert body["parameters"] == {"topic": "clicks", "redis_url": "redis://:pw@h:6379/0"}
    assert (body["jobName"], "environment" in body) == ("spectator-live", False)
    out = capsys.readouterr().out
    assert f"launched job {J} (spectator-live): RUNNING" in out
    assert f"https://console.cloud.google.com/dataflow/jobs/{R}/{J}?project={P}" in out
    assert "pw" not in out


def test_cli_launch_passes_the_runtime_environment(fake, cli):
    fake.reply("POST", f"/v1b3/projects/{P}/locations/{R}/flexTemplates:launch", (200, {"job": JOB}))
    subnetwork = f"regions/{R}/subnetworks/data"
    assert cli([*LAUNCH, "--endpoint", fake.url, "--max-workers", "8", "--subnetwork", subnetwork, "--update"]) == 0
    body = fake.seen[0].body["launchParameter"]
    assert body["environment"] == {"maxWorkers": 8, "subnetwork": subnetwork}
    assert body["update"] is True


def test_cli_status_shows_state_counters_and_messages(fake, cli, capsys):
    fake.reply("GET", JOB_PATH, (200, JOB))
    metrics = [counter("events_parsed", 1234), counter("events_parsed", 1300, tentative=True), system("ElementCount")]
    fake.reply("GET", f"{JOB_PATH}/metrics", (200, {"metrics": metrics}))
    message = {
        "time": "2024-05-01T01:04:00Z",
        "messageText": "Workers started",
        "messageImportance": "JOB_MESSAGE_BASIC",
    }
    fake.reply("GET", f"{JOB_PATH}/messages", (200, {"jobMessages": [message]}))
    assert cli(["status", J, *where(fake)]) == 0
    out = capsys.readouterr().out
    assert f"job {J} (spectator-live): RUNNING since 2024-05-01 01:05:00" in out
    assert re.search(r"events_parsed\s+ParseEvents\s+1,234", out) and "1,300" not in out and "ElementCount" not in out
    assert re.search(r"2024-05-01 01:04:00\s+BASIC\s+Workers started", out)


def test_cli_list(fake, cli, capsys):
    fake.reply("GET", f"/v1b3/projects/{P}/locations/{R}/jobs", (200, {"jobs": [JOB]}))
    assert cli(["list", *where(fake), "--status", "active", "-n", "5"]) == 0
    assert re.search(rf"{J}\s+spectator-live\s+STREAMING\s+RUNNING\s+2024-05-01 01:02:03", capsys.readouterr().out)


@pytest.mark.parametrize(
    "verb, requested, now",
    [("cancel", df.JobState.JOB_STATE_CANCELLED, "CANCELLING"), ("drain", df.JobState.JOB_STATE_DRAINED, "DRAINING")],
)
def test_cli_cancel_and_drain(fake, cli, capsys, verb, requested, now):
    fake.reply("PUT", JOB_PATH, (200, {**JOB, "currentState": f"JOB_STATE_{now}"}))
    assert cli([verb, J, *where(fake)]) == 0
    assert enum(df.JobState, fake.seen[0].body["requestedState"]) == requested
    assert f"requested {verb} of job {J}; state now {now}" in capsys.readouterr().out


@pytest.mark.parametrize(
    "reply, needle",
    [
        (error(404, "NOT_FOUND", "no such job"), f"error: job {J} not found in project {P} region {R}"),
        (error(403, "PERMISSION_DENIED", "denied"), f"error: cannot get job {J}: permission denied in project {P}"),
        (error(400, "FAILED_PRECONDITION", "Cannot drain a batch job"), "Cannot drain a batch job"),
    ],
)
def test_cli_errors_are_one_line_and_exit_1(fake, cli, capsys, reply, needle):
    fake.reply("GET", JOB_PATH, reply)
    fake.reply("PUT", JOB_PATH, reply)
    verb = "drain" if reply[0] == 400 else "status"
    assert cli([verb, J, *where(fake)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith(needle) if needle.startswith("error") else needle in err
    assert "\n" not in err and "Traceback" not in err


def test_cli_retries_a_busy_api(fake, cli, capsys):
    fake.reply("PUT", JOB_PATH, error(429, "RESOURCE_EXHAUSTED", "Quota exceeded"), (200, JOB))
    assert cli(["cancel", J, *where(fake)]) == 0
    assert [s.method for s in fake.seen] == ["PUT", "PUT"]


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["status", J, "--region", R], "--project is required (or set $GOOGLE_CLOUD_PROJECT)"),
        (["list", "--project", P], "--region is required (or set $SPECTATOR_DATAFLOW_REGION)"),
        (["status", "a/b", "--project", P, "--region", R], "not a valid job id"),
        (["list", "--project", "Bad_Project", "--region", R], "not a valid project id"),
        (LAUNCH[:-2], "--job-name"),
        ([*LAUNCH, "--template", "/t.json"], "template spec"),
        ([*LAUNCH, "--param", "t"], "NAME=VALUE"),
        ([*LAUNCH, "--param", "topic=a", "--param", "topic=b"], "given twice: ['topic']"),
        ([*LAUNCH, "--max-workers", "many"], "--max-workers"),
        (["pause", J], "invalid choice"),
    ],
)
def test_cli_usage_errors(cli, argv, needle, capsys):
    assert cli(argv) == 2
    err = capsys.readouterr().err
    assert needle in err and err.count("\n") == 1


def test_cli_uses_the_environment_for_project_region_and_endpoint(fake, cli, monkeypatch, capsys):
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", P)
    monkeypatch.setenv("SPECTATOR_DATAFLOW_REGION", R)
    monkeypatch.setenv("SPECTATOR_DATAFLOW_ENDPOINT", fake.url)
    fake.reply("GET", f"/v1b3/projects/{P}/locations/{R}/jobs", (200, {}))
    assert cli(["list"]) == 0
    assert capsys.readouterr().out.strip() == f"no jobs in project {P} region {R}"


# --- the Flex Template files --------------------------------------------------------------------------


def option_names() -> set[str]:
    parser = _BeamArgumentParser()
    SpectatorOptions._add_argparse_args(parser)
    return {action.dest for action in parser._actions}


def test_metadata_parameters_are_pipeline_options():
    text = (ROOT / "dataflow" / "metadata.json").read_text()
    metadata = df.TemplateMetadata.from_json(text)  # rejects misspelt field names
    names = [p.name for p in metadata.parameters]
    assert len(names) == len(set(names))
    missing = set(names) - option_names()
    assert not missing, f"not pipeline options: {sorted(missing)}"
    assert {"redis_url", "gap_seconds", "allowed_lateness_seconds", "bootstrap_servers", "topic"} <= set(names)


# Defaults the pipeline fills in (a flag left out differs from one given: pipeline/build.py refuses it on a fold).
FILLED_IN = {"allowed_lateness_seconds": DEFAULT_LATENESS_S, "early_firing_seconds": DEFAULT_EARLY_FIRING_S}


def test_metadata_defaults_are_the_options_defaults_and_pass_the_regexes():
    metadata = json.loads((ROOT / "dataflow" / "metadata.json").read_text())
    parser = _BeamArgumentParser()
    SpectatorOptions._add_argparse_args(parser)
    for param in metadata["parameters"]:
        name, regexes = param["name"], param.get("regexes", [])
        assert regexes, f"{name} has no regex"
        for regex in regexes:
            assert not re.fullmatch(regex, "bad value; rm -rf /"), name
            if "defaultValue" in param:
                assert re.fullmatch(regex, param["defaultValue"]), (name, regex)
        if "defaultValue" in param:
            parsed = getattr(parser.parse_args([f"--{name}={param['defaultValue']}"]), name)
            assert parsed == FILLED_IN.get(name, parser.get_default(name)), name
        assert param["isOptional"] == (name not in {"bootstrap_servers", "topic", "redis_url"}), name


def test_the_dockerfiles_beam_is_the_one_setup_py_pins():
    import apache_beam

    pinned = re.search(r'^BEAM_VERSION = "([^"]+)"', (ROOT / "setup.py").read_text(), re.M)[1]
    assert re.search(r"^ARG BEAM_VERSION=(\S+)$", _dockerfile(), re.M)[1] == pinned == apache_beam.__version__


def test_dockerfile_points_at_files_that_exist():
    env = dict(re.findall(r'^ENV (FLEX_TEMPLATE_PYTHON_\w+)="?\$\{WORKDIR\}/([^"\s]+)"?', _dockerfile(), re.M))
    assert set(env) == {"FLEX_TEMPLATE_PYTHON_PY_FILE", "FLEX_TEMPLATE_PYTHON_SETUP_FILE"}
    for name, relative in env.items():
        assert (ROOT / relative).is_file(), name


def test_launcher_submits_without_waiting(monkeypatch):
    import apache_beam as beam

    from spectator.dataflow import launcher

    submitted = []

    class Result:
        def wait_until_finish(self):
            raise AssertionError("the launcher must not wait for the job")

    monkeypatch.setattr("spectator.pipeline.build.build", lambda p, options: submitted.append(options))
    monkeypatch.setattr(beam.Pipeline, "run", lambda self: Result())
    # The flags Dataflow's launcher adds; DirectRunner, as building a Dataflow job wants GCS and credentials.
    launch_flags = ["--runner=DirectRunner", f"--project={P}", f"--region={R}", "--job_name=spectator-live"]
    launch_flags += [
        "--temp_location=gs://b/tmp",
        "--staging_location=gs://b/staging",
        "--setup_file=/template/setup.py",
    ]
    launcher.main([*launch_flags, "--redis_url=redis://h:6379/0", "--gap_seconds=600"])
    (options,) = submitted
    assert options.view_as(SpectatorOptions).gap_seconds == 600


def counter(name: str, value: int, tentative: bool = False) -> dict:
    context = {"step": "ParseEvents", "namespace": "spectator", **({"tentative": "true"} if tentative else {})}
    return {"name": {"origin": "user", "name": name, "context": context}, "scalar": value, "kind": "Sum"}


def system(name: str) -> dict:
    return {"name": {"origin": "dataflow/v1b3", "name": name, "context": {"step": "s1"}}, "scalar": 5}


def _int_or_str(text: str) -> int | str:
    return int(text) if text.isdigit() else text


def _dockerfile() -> str:
    return (ROOT / "dataflow" / "Dockerfile").read_text()
