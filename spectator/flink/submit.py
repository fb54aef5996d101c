"""Submitting the pipeline to a Flink cluster through Beam's job server, and watching it run.

The cluster's pieces (scripts/flink.sh up): the JobManager's REST address (--flink-master), Beam's
job server (--job-endpoint), the KafkaIO expansion service that makes the read EMBEDDED in the
TaskManager, and the Python worker pool (EXTERNAL environment). `eval "$(scripts/flink.sh env)"`
sets them all as defaults. The job runs in streaming mode with checkpoints that a cancel keeps.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import apache_beam as beam
import grpc
from apache_beam.options.pipeline_options import (
    FlinkRunnerOptions,
    GoogleCloudOptions,
    PipelineOptions,
    PortableOptions,
    StandardOptions,
)
from apache_beam.runners.runner import PipelineState

from spectator.core.errors import UsageError
from spectator.flink.rest import ACTIVE_STATES, FlinkRest, FlinkUnavailable, job_folder
from spectator.io.redis.store import SessionStore
from spectator.pipeline.build import build
from spectator.pipeline.options import FlinkOptions, SpectatorOptions

log = logging.getLogger(__name__)
DEFAULT_CHECKPOINT_MS = 10_000
# Bundles sent to the Python workers: Beam's default of 1,000 elements holds about one event per
# user, so the per-bundle fold (transforms/sessionize.py) saves little; a bundle also ends after
# 1 s. Throughput at each: BENCHMARKS.md, "Figures behind the code" (bench/flink_stream.py).
DEFAULT_BUNDLE_SIZE = 10_000
# Key groups of the job's state: the most subtasks it can ever run at. Fixed by its first checkpoint,
# so it is set explicitly (Flink would derive it from the first parallelism). Flink's own floor.
DEFAULT_MAX_PARALLELISM = 128
CONNECT_TIMEOUT_S = 10
START_TIMEOUT_S = 180
ENV_HINT = 'start the cluster with scripts/flink.sh up, then eval "$(scripts/flink.sh env)"'


def _from_env(value: str | None, env: str, what: str) -> str:
    value = value or os.environ.get(env)
    if not value:
        raise UsageError(f"the FlinkRunner needs {what} (or ${env}): {ENV_HINT}")
    return value


def _reachable(address: str, what: str) -> None:
    channel = grpc.insecure_channel(address)
    try:
        grpc.channel_ready_future(channel).result(timeout=CONNECT_TIMEOUT_S)
    except grpc.FutureTimeoutError:
        raise FlinkUnavailable(f"no {what} answers at {address} within {CONNECT_TIMEOUT_S}s: {ENV_HINT}") from None
    finally:
        channel.close()


def prepare(options: PipelineOptions) -> FlinkRest:
    """Completes the options of a Flink run and checks every piece answers; returns the REST client."""
    _complete(options)
    flink = options.view_as(FlinkRunnerOptions)
    rest = FlinkRest(flink.flink_master, timeout=CONNECT_TIMEOUT_S)
    if flink.flink_master != "[local]":
        _fit_cluster(rest, options)
        _resume_point(rest, options)
    _reachable(options.view_as(PortableOptions).job_endpoint, "Beam job server")
    _reachable(options.view_as(SpectatorOptions).expansion_service, "KafkaIO expansion service")
    return rest


def _complete(options: PipelineOptions) -> None:
    """Fills in the defaults of a Flink run: the cluster's pieces, streaming, checkpoints, name."""
    opts = options.view_as(SpectatorOptions)
    if not opts.bootstrap_servers:
        raise UsageError("the FlinkRunner runs the streaming job: read Kafka with --bootstrap-servers and --topic")
    options.view_as(StandardOptions).streaming = True
    flink = options.view_as(FlinkRunnerOptions)
    if flink.max_parallelism == -1:  # Beam's "unset"
        flink.max_parallelism = DEFAULT_MAX_PARALLELISM
    if flink.parallelism > flink.max_parallelism:
        raise UsageError(f"--parallelism {flink.parallelism} exceeds --max-parallelism {flink.max_parallelism}")
    master = None if flink.flink_master == "[auto]" else flink.flink_master
    flink.flink_master = _from_env(master, "SPECTATOR_FLINK_MASTER", "--flink-master HOST:PORT")
    portable = options.view_as(PortableOptions)
    portable.job_endpoint = _from_env(portable.job_endpoint, "SPECTATOR_FLINK_JOB_ENDPOINT", "--job-endpoint")
    if not portable.environment_type:
        portable.environment_type = "EXTERNAL"
        portable.environment_config = _from_env(
            portable.environment_config, "SPECTATOR_FLINK_WORKER_POOL", "--environment-config (the worker pool)"
        )
    expansion = opts.expansion_service or os.environ.get("SPECTATOR_FLINK_EXPANSION_SERVICE")
    if not expansion or expansion.endswith(".jar"):
        raise UsageError(
            "the FlinkRunner reads Kafka in the TaskManager: pass --expansion-service HOST:PORT of an "
            f"EMBEDDED expansion service (or $SPECTATOR_FLINK_EXPANSION_SERVICE): {ENV_HINT}"
        )
    opts.expansion_service = expansion
    flink_opts = options.view_as(FlinkOptions)
    flink_opts.checkpointing_interval = flink_opts.checkpointing_interval or DEFAULT_CHECKPOINT_MS
    flink_opts.max_bundle_size = flink_opts.max_bundle_size or DEFAULT_BUNDLE_SIZE
    # A bundle still open at a checkpoint is otherwise finished into a buffer that leaves after
    # the watermark: its partials reach the session windows late, and a drained partition's
    # watermark (the wall clock) drops them all. Finished before the barrier, they go first.
    flink_opts.finish_bundle_before_checkpointing = True
    # Otherwise Flink copies every element between chained operators by encoding and decoding it
    # with its Beam coder: a fifth of the TaskManager's CPU in a profile of the 1M-event backlog
    # (BENCHMARKS.md). Beam's transforms never change an element once output, which reuse needs.
    flink_opts.object_reuse = True
    flink_opts.externalized_checkpoints_enabled = True
    flink_opts.retain_externalized_checkpoints_on_cancellation = True
    google = options.view_as(GoogleCloudOptions)
    google.job_name = google.job_name or f"spectator-{opts.consumer_group}"


def _fit_cluster(rest: FlinkRest, options: PipelineOptions) -> None:
    """Parallelism and the checkpoint folder from the cluster's settings; refuses a second job of this
    name, or one without free slots."""
    flink = options.view_as(FlinkRunnerOptions)
    config = rest.config()
    if flink.parallelism == -1:  # Beam's "unset": the cluster's own default
        flink.parallelism = int(config.get("parallelism.default", 1))
    portable = options.view_as(PortableOptions)
    if portable.sdk_worker_parallelism == 1:  # one Python process alone would hold the GIL for all tasks
        portable.sdk_worker_parallelism = flink.parallelism
    name = options.view_as(GoogleCloudOptions).job_name
    for job in rest.jobs():
        if job["name"] == name and job["state"] in ACTIVE_STATES:
            raise UsageError(
                f"a job named {name} is already {job['state']} on Flink ({job['jid']}): stop it first "
                "(spectator flink stop JOB), or use another --consumer-group or --job-name"
            )
    root = config.get("state.checkpoints.dir")
    flink_opts = options.view_as(FlinkOptions)
    if root:  # each job name's checkpoints in a folder of its own (see _resume_point)
        flink_opts.state_backend = flink_opts.state_backend or "filesystem"  # Beam's name for the heap
        flink_opts.state_backend_storage_path = job_folder(root, name)
    elif flink_opts.state_backend:
        raise UsageError(f"--state-backend needs a cluster with state.checkpoints.dir set; {rest.url} has none")
    free = rest.overview()["slots-available"]
    if free < flink.parallelism:
        raise UsageError(
            f"the Flink cluster at {rest.url} has {free} free task slots and this job needs {flink.parallelism}: "
            "stop a job (spectator flink list) or pass a smaller --parallelism"
        )


def _resume_point(rest: FlinkRest, options: PipelineOptions) -> None:
    """Unless told otherwise, resume from the last checkpoint or savepoint of the previous job of
    this name, window state and offsets together. The JobManager lists the jobs it ran; after it
    restarts, the job's folder of checkpoints still holds them (when this machine can read it)."""
    flink_opts = options.view_as(FlinkOptions)
    if flink_opts.fresh_state:
        flink_opts.savepoint_path = None
        return
    if flink_opts.savepoint_path:
        return
    name = options.view_as(GoogleCloudOptions).job_name
    found = []
    previous = [job for job in rest.jobs() if job["name"] == name]
    if previous:
        found.append(rest.latest_checkpoint_with_time(previous[0]["jid"]))
    if flink_opts.state_backend_storage_path:
        found.append(newest_on_disk(flink_opts.state_backend_storage_path))
    found = [f for f in found if f]
    if found:
        flink_opts.savepoint_path = max(found, key=lambda f: f[1])[0]
        print(
            f"resuming from {flink_opts.savepoint_path}, the last checkpoint of the previous {name} job; "
            "--fresh-state starts from the committed offsets instead",
            file=sys.stderr,
        )


def newest_on_disk(folder_uri: str) -> tuple[str, float] | None:
    """(uri, time) of the newest complete checkpoint or savepoint under a job name's folder, if it
    is local."""
    if not folder_uri.startswith("file:"):
        return None
    folder = Path(urlparse(folder_uri).path)
    done = [*folder.glob("*/chk-*/_metadata"), *folder.glob("savepoint-*/_metadata")]
    if not done:
        return None
    newest = max(done, key=lambda p: p.stat().st_mtime)
    return f"file:{newest.parent}", newest.stat().st_mtime * 1000


@dataclass
class Submitted:
    result: beam.runners.runner.PipelineResult
    job_id: str
    job_name: str


def submit(options: PipelineOptions, rest: FlinkRest, build_fn: Callable = build) -> Submitted:
    """Submits the pipeline (`build_fn(p, options)` wires it) and waits until Flink runs it."""
    name = options.view_as(GoogleCloudOptions).job_name
    since_ms = int(time.time() * 1000) - 5_000
    p = beam.Pipeline(options=options)
    build_fn(p, options)
    result = p.run()
    if options.view_as(FlinkRunnerOptions).flink_master == "[local]":
        return Submitted(result, "", name)  # a mini-cluster inside the job server: no REST to follow
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if PipelineState.is_terminal(result.state):
            raise RuntimeError(f"the Flink job {name} ended while starting ({result.state}): {_error(result)}")
        for job in rest.jobs():
            if job["name"] == name and job["start-time"] >= since_ms and job["state"] == "RUNNING":
                return Submitted(result, job["jid"], name)
        time.sleep(0.5)
    for job in rest.jobs():
        if job["name"] == name and job["start-time"] >= since_ms and job["state"] in ACTIVE_STATES:
            rest.cancel(job["jid"])
    raise RuntimeError(f"the Flink job {name} did not start running within {START_TIMEOUT_S}s; it was cancelled")


def _error(result) -> str:
    try:
        return result._last_error_message() or "no message"
    except Exception:  # the job service may already be gone
        return "no message"


def watch(rest: FlinkRest, job: Submitted, store: SessionStore, every_s: float = 5.0) -> int:
    """Prints a progress line every few seconds until the job ends; Ctrl-C cancels it."""
    try:
        while True:
            state = rest.job(job.job_id)["state"]
            print(progress_line(rest, job.job_id, state, store), file=sys.stderr)
            if state not in ACTIVE_STATES:
                return 0 if state == "FINISHED" else 1
            time.sleep(every_s)
    except KeyboardInterrupt:
        print(f"\ncancelling Flink job {job.job_id}", file=sys.stderr)
        rest.cancel(job.job_id)
        rest.wait_for_state(job.job_id, {"CANCELED", "FAILED", "FINISHED"}, 60)
        checkpoint = rest.latest_checkpoint(job.job_id)
        if checkpoint:
            print(f"its last checkpoint is kept: resume with --savepoint-path {checkpoint}", file=sys.stderr)
        return 130


def progress_line(rest: FlinkRest, job_id: str, state: str, store: SessionStore) -> str:
    counts = rest.checkpoints(job_id).get("counts", {})
    stats = store.stats()
    return (
        f"{time.strftime('%H:%M:%S')} {state}: {counts.get('completed', 0)} checkpoints, "
        f"{stats['sessions']:,} sessions of {stats['events']:,} events in Redis, "
        f"{store.deadletter_total():,} dead letters"
    )
