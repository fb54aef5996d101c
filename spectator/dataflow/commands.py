"""`spectator dataflow`: launch the Flex Template, and watch, list, cancel or drain Dataflow jobs."""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Callable
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from spectator.core.errors import UsageError, extra_missing
from spectator.core.text import table

if TYPE_CHECKING:  # the client pulls in the Google Cloud libraries, which only these commands need
    from google.cloud import dataflow_v1beta3 as df

    from spectator.dataflow.jobs import DataflowJobs

PROJECT_ENV = "GOOGLE_CLOUD_PROJECT"
REGION_ENV = "SPECTATOR_DATAFLOW_REGION"
ENDPOINT_ENV = "SPECTATOR_DATAFLOW_ENDPOINT"


def _pattern(regex: str, what: str) -> Callable[[str], str]:
    """An argparse type that accepts only full matches of `regex`; these values end up in API paths."""

    def check(text: str) -> str:
        if not re.fullmatch(regex, text):
            raise argparse.ArgumentTypeError(f"not a valid {what}: {text!r}")
        return text

    return check


_project = _pattern(r"(?:[a-z][-a-z0-9.]*:)?[a-z][-a-z0-9]{4,28}[a-z0-9]", "project id")
_region = _pattern(r"[a-z]+(?:-[a-z]+)+[0-9]+", "region (e.g. europe-west1)")
_job_id = _pattern(r"[A-Za-z0-9][-A-Za-z0-9_]{0,127}", "job id")
_job_name = _pattern(r"[a-z](?:[-a-z0-9]{0,1022}[a-z0-9])?", "job name (lowercase letters, digits, '-')")
_template = _pattern(r"gs://[^/\s]+/\S+", "template spec path (gs://BUCKET/PATH.json)")


def _at_least(low: float, kind: type = int) -> Callable[[str], float]:
    def check(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            value = None
        if value is None or value < low:
            raise argparse.ArgumentTypeError(f"expected a {kind.__name__} of at least {low}, got {text!r}")
        return value

    return check


def _param(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    return key, value


def add_dataflow_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    where = common.add_argument_group("where")
    where.add_argument("--project", type=_project, default=os.environ.get(PROJECT_ENV), help=f"default: ${PROJECT_ENV}")
    where.add_argument("--region", type=_region, default=os.environ.get(REGION_ENV), help=f"default: ${REGION_ENV}")
    where.add_argument(
        "--endpoint",
        default=os.environ.get(ENDPOINT_ENV),
        help=f"Dataflow API endpoint (default: ${ENDPOINT_ENV}, else https://dataflow.googleapis.com); "
        "a plain http:// endpoint is called without credentials",
    )
    where.add_argument(
        "--retry-seconds",
        type=_at_least(0, float),
        default=60.0,
        help="how long to retry a busy or unreachable API (429, 503)",
    )
    text = "launch, watch, list, cancel or drain the pipeline on Google Cloud Dataflow"
    top = subparsers.add_parser("dataflow", help=text, description=__doc__)
    sub = top.add_subparsers(dest="dataflow_command", required=True, metavar="{launch,status,list,cancel,drain}")
    launch = sub.add_parser("launch", parents=[common], help="start a job from the Flex Template")
    launch.add_argument("--template", type=_template, required=True, help="the template spec: gs://BUCKET/PATH.json")
    launch.add_argument("--job-name", type=_job_name, required=True)
    launch.add_argument(
        "--param", type=_param, action="append", default=[], metavar="NAME=VALUE", help="a pipeline parameter; repeat"
    )
    launch.add_argument("--max-workers", type=_at_least(1), help="autoscaling ceiling")
    launch.add_argument("--service-account", help="the workers' service account e-mail")
    launch.add_argument("--staging-location", help="gs:// folder for staged files")
    launch.add_argument("--network", help="the VPC network the workers join (default: 'default')")
    launch.add_argument("--subnetwork", help="e.g. regions/REGION/subnetworks/NAME; must reach Kafka and Redis")
    launch.add_argument("--update", action="store_true", help="replace the running streaming job of the same name")
    launch.add_argument("--validate-only", action="store_true", help="check template and parameters; start nothing")
    status = sub.add_parser("status", parents=[common], help="one job: state, counters, recent messages")
    status.add_argument("job_id", type=_job_id)
    status.add_argument("--messages", type=_at_least(0), default=10, help="how many recent messages to show")
    listing = sub.add_parser("list", parents=[common], help="the region's jobs, newest first")
    listing.add_argument("--status", choices=["active", "terminated", "all"], default="all")
    listing.add_argument("-n", type=_at_least(1), default=20, help="how many jobs")
    for verb, text in [
        ("cancel", "stop a job now, dropping in-flight data"),
        ("drain", "stop a streaming job after it has processed what it read"),
    ]:
        sub.add_parser(verb, parents=[common], help=text).add_argument("job_id", type=_job_id)
    return top


def run_dataflow(args: argparse.Namespace) -> int:
    command = f"spectator dataflow {args.dataflow_command}"
    for flag, env in (("project", PROJECT_ENV), ("region", REGION_ENV)):
        if not getattr(args, flag):
            raise UsageError(f"{command}: --{flag} is required (or set ${env})")
    if args.dataflow_command == "launch":
        names = [k for k, _ in args.param]
        if len(names) != len(set(names)):
            raise UsageError(f"{command}: a --param is given twice: {sorted({n for n in names if names.count(n) > 1})}")
    try:
        from spectator.dataflow.jobs import DataflowJobs
    except ImportError as e:
        raise extra_missing("dataflow", e) from None

    with DataflowJobs(args.project, args.region, api_endpoint=args.endpoint, retry_seconds=args.retry_seconds) as jobs:
        print(COMMANDS[args.dataflow_command](jobs, args))
    return 0


def cmd_launch(jobs: DataflowJobs, args: argparse.Namespace) -> str:
    from google.cloud import dataflow_v1beta3 as df

    settings = dict(
        max_workers=args.max_workers,
        service_account_email=args.service_account,
        staging_location=args.staging_location,
        network=args.network,
        subnetwork=args.subnetwork,
    )
    given = {k: v for k, v in settings.items() if v}
    environment = df.FlexTemplateRuntimeEnvironment(given) if given else None
    job = jobs.launch(args.template, args.job_name, dict(args.param), environment, args.update, args.validate_only)
    if args.validate_only:
        return f"template {args.template} accepts these parameters; no job was started"
    return f"launched job {job.id} ({job.name}): {_state(job)}\n{_console(jobs, job.id)}"


def cmd_status(jobs: DataflowJobs, args: argparse.Namespace) -> str:
    job = jobs.get(args.job_id)
    lines = [
        f"job {job.id} ({job.name}): {_state(job)} since {_utc(job.current_state_time)}",
        f"type {job.type_.name.removeprefix('JOB_TYPE_')}, created {_utc(job.create_time)}, "
        f"project {jobs.project} region {jobs.region}",
        _console(jobs, job.id),
    ]
    if job.requested_state:
        lines.insert(1, f"requested: {job.requested_state.name.removeprefix('JOB_STATE_')}")
    counters = [
        [m.name.name, m.name.context.get("step", "-"), _number(m.scalar)]
        for m in jobs.metrics(job.id)
        if m.name.origin == "user" and m.name.context.get("tentative") != "true" and m.scalar is not None
    ]
    lines += ["", table(sorted(counters), ["counter", "step", "value"]) if counters else "counters: none yet"]
    if args.messages:
        found = jobs.messages(job.id, args.messages)
        rows = [[_when(m.time), m.message_importance.name.removeprefix("JOB_MESSAGE_"), m.message_text] for m in found]
        lines += ["", table(rows, ["time (UTC)", "importance", "message"]) if rows else "messages: none"]
    return "\n".join(lines)


def cmd_list(jobs: DataflowJobs, args: argparse.Namespace) -> str:
    found = jobs.list(args.status, args.n)
    if not found:
        which = "" if args.status == "all" else f"{args.status} "
        return f"no {which}jobs in project {jobs.project} region {jobs.region}"
    rows = [[j.id, j.name, j.type_.name.removeprefix("JOB_TYPE_"), _state(j), _when(j.create_time)] for j in found]
    return table(rows, ["id", "name", "type", "state", "created (UTC)"])


def cmd_stop(jobs: DataflowJobs, args: argparse.Namespace) -> str:
    verb = args.dataflow_command
    job = (jobs.cancel if verb == "cancel" else jobs.drain)(args.job_id)
    follow = f"spectator dataflow status {args.job_id} --project {jobs.project} --region {jobs.region}"
    return f"requested {verb} of job {args.job_id}; state now {_state(job)}\nfollow it with: {follow}"


COMMANDS: dict[str, Callable[[DataflowJobs, argparse.Namespace], str]] = {
    "launch": cmd_launch,
    "status": cmd_status,
    "list": cmd_list,
    "cancel": cmd_stop,
    "drain": cmd_stop,
}


def _state(job: df.Job) -> str:
    return job.current_state.name.removeprefix("JOB_STATE_")


def _when(moment: datetime | None) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S") if moment else "-"


def _utc(moment: datetime | None) -> str:
    return f"{_when(moment)} UTC" if moment else "-"


def _number(value: object) -> str:
    return f"{int(value):,}" if isinstance(value, float) and value.is_integer() else str(value)


def _console(jobs: DataflowJobs, job_id: str) -> str:
    return f"console: https://console.cloud.google.com/dataflow/jobs/{jobs.region}/{job_id}?project={jobs.project}"
