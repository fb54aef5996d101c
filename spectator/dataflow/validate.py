"""Checks of Dataflow options before anything is staged, and an offline dry run of the job."""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import urlparse

import apache_beam as beam
from apache_beam.options.pipeline_options import GoogleCloudOptions, PipelineOptions, SetupOptions, StandardOptions
from apache_beam.portability.api import beam_runner_api_pb2, standard_window_fns_pb2
from google.protobuf import text_format

from spectator.core.errors import UsageError
from spectator.pipeline.build import build
from spectator.pipeline.options import SpectatorOptions, is_dataflow, parse_options

SETUP_FILE = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "setup.py")
LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1", "0.0.0.0"}
ACCUMULATION = {v: k for k, v in beam_runner_api_pb2.AccumulationMode.Enum.items()}


def check_dataflow_options(options: PipelineOptions) -> None:
    """Raises UsageError naming every problem a Dataflow submission would hit; fills in defaults.

    Streaming is switched on (Kafka is unbounded) and setup.py is staged so workers get the package.
    """
    gcp = options.view_as(GoogleCloudOptions)
    opts = options.view_as(SpectatorOptions)
    problems = []
    if not gcp.project:
        problems.append("--project is required")
    if not gcp.region:
        problems.append("--region is required (e.g. europe-west1)")
    for name in ("temp_location", "staging_location"):
        value = getattr(gcp, name)
        if value and not value.startswith("gs://"):
            problems.append(f"--{name} must be a gs:// path, got {value}")
    if not gcp.temp_location:
        problems.append("--temp_location gs://BUCKET/tmp is required")
    if not (opts.bootstrap_servers and opts.topic):
        problems.append("Dataflow reads Kafka: pass --bootstrap-servers and --topic (files are for the DirectRunner)")
    host = (urlparse(opts.redis_url).hostname or "").lower()
    if host in LOCAL_HOSTS or host.startswith("127."):
        problems.append(f"--redis-url points at {host}, which Dataflow workers cannot reach; give an address they can")
    if problems:
        raise UsageError("; ".join(problems))
    options.view_as(StandardOptions).streaming = True
    setup = options.view_as(SetupOptions)
    if not setup.setup_file:
        setup.setup_file = SETUP_FILE


def dry_run(argv: list[str]) -> tuple[Any, PipelineOptions]:
    """Builds the whole Dataflow job, Kafka expansion included, without submitting it."""
    options = parse_options([*argv, "--dry_run=True"])
    if not is_dataflow(options):
        raise UsageError("validate checks a Dataflow job: pass --runner DataflowRunner")
    check_dataflow_options(options)
    p = beam.Pipeline(options=options)
    build(p, options)
    return p.run().job, p.options  # the copy without secrets (see build)


def summary(job: Any, options: PipelineOptions) -> dict[str, Any]:
    """What a reviewer checks before submitting: mode, windowing, trigger, environments."""
    components = job.proto_pipeline.components
    windowing = []
    for ws in components.windowing_strategies.values():
        if ws.window_fn.urn == "beam:window_fn:session_windows:v1":
            gap = standard_window_fns_pb2.SessionWindowsPayload.FromString(ws.window_fn.payload).gap_size
            windowing.append(
                {
                    "window_fn": ws.window_fn.urn,
                    "gap_seconds": gap.seconds + gap.nanos / 1e9,
                    "allowed_lateness_ms": ws.allowed_lateness,
                    "accumulation": ACCUMULATION[ws.accumulation_mode],
                    "trigger": text_format.MessageToString(ws.trigger, as_one_line=True),
                }
            )
    environments = {}
    for env_id, env in components.environments.items():
        image = beam_runner_api_pb2.DockerPayload.FromString(env.payload).container_image if env.payload else ""
        environments[env_id] = {"urn": env.urn, "image": image}
    kafka = sorted(
        {t.spec.urn for t in components.transforms.values() if "kafka" in t.spec.urn.lower()}
        | {t.unique_name for t in components.transforms.values() if t.unique_name.endswith("/ReadFromKafka")}
    )
    return {
        "job_type": str(job.proto.type),
        "windowing": windowing,
        "environments": environments,
        "kafka": kafka,
        "options": options.get_all_options(drop_default=True, retain_unknown_options=True),
    }
