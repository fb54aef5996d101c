"""`spectator flink`: list, watch, stop (with a savepoint) or cancel jobs on a Flink cluster."""

from __future__ import annotations

import argparse
import os
import re
import time

from spectator.core.text import iso, table
from spectator.flink.rest import FlinkRest

DEFAULT_MASTER = "127.0.0.1:8081"


def _job_id(text: str) -> str:
    if not re.fullmatch(r"[0-9a-f]{32}", text):
        raise argparse.ArgumentTypeError(f"not a Flink job id (32 hex digits): {text!r}")
    return text


def add_flink_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--flink-master",
        default=os.environ.get("SPECTATOR_FLINK_MASTER", DEFAULT_MASTER),
        help="the JobManager's REST address (default: $SPECTATOR_FLINK_MASTER, else %(default)s)",
    )
    top = subparsers.add_parser(
        "flink", help="list, watch, stop or cancel jobs on a Flink cluster", description=__doc__
    )
    sub = top.add_subparsers(dest="flink_command", required=True, metavar="{list,status,stop,cancel}")
    sub.add_parser("list", parents=[common], help="the cluster's jobs, newest first")
    sub.add_parser("status", parents=[common], help="one job: state, checkpoints, counters").add_argument(
        "job_id", type=_job_id
    )
    stop = sub.add_parser(
        "stop", parents=[common], help="take a savepoint, then cancel the job; the next run resumes from it"
    )
    stop.add_argument("job_id", type=_job_id)
    stop.add_argument(
        "--savepoint-dir", help="where the savepoint goes (default: beside the job's checkpoints, where runs look)"
    )
    sub.add_parser("cancel", parents=[common], help="stop the job now; its last checkpoint is kept").add_argument(
        "job_id", type=_job_id
    )
    return top


def run_flink(args: argparse.Namespace) -> int:
    print(COMMANDS[args.flink_command](FlinkRest(args.flink_master), args))
    return 0


def cmd_list(rest: FlinkRest, args: argparse.Namespace) -> str:
    jobs = rest.jobs()
    if not jobs:
        return f"no jobs on the Flink cluster at {rest.url}"
    rows = [[j["jid"], j["name"], j["state"], iso(j["start-time"]), _duration(j["duration"])] for j in jobs]
    return table(rows, ["id", "name", "state", "started (UTC)", "ran"])


def cmd_status(rest: FlinkRest, args: argparse.Namespace) -> str:
    job = rest.job(args.job_id)
    counts = rest.checkpoints(args.job_id).get("counts", {})
    lines = [
        f"job {job['jid']} ({job['name']}): {job['state']}, started {iso(job['start-time'])} UTC, "
        f"ran {_duration(job['duration'])}",
        f"web UI: {rest.url}/#/job/running/{job['jid']}/overview",
        f"checkpoints: {counts.get('completed', 0)} completed, {counts.get('failed', 0)} failed; "
        f"latest: {rest.latest_checkpoint(args.job_id) or 'none yet'}",
    ]
    metrics = rest.job_metrics(args.job_id)
    if "watermark_ms" in metrics and metrics["watermark_ms"] > 0:
        lines.append(f"event-time watermark at the session windows: {iso(int(metrics['watermark_ms']))} UTC")
    rows = [[name.replace("_", " "), f"{int(metrics[name]):,}"] for name in COUNTERS if name in metrics]
    lines += ["", table(rows, ["counter", "value"]) if rows else "counters: none yet"]
    if "late_elements_dropped" in metrics:
        lines.append("(a late element is an event, or a run of one user's events read together)")
    return "\n".join(lines)


def cmd_stop(rest: FlinkRest, args: argparse.Namespace) -> str:
    target = args.savepoint_dir or rest.job_folder(rest.job(args.job_id)["name"])
    location = rest.savepoint_and_cancel(args.job_id, target)
    rest.wait_for_state(args.job_id, {"CANCELED", "FAILED", "FINISHED"}, 60)
    return (
        f"stopped job {args.job_id} with a savepoint at {location}\n"
        f"`spectator run` with the same --consumer-group resumes from it (or pass --savepoint-path {location})"
    )


def cmd_cancel(rest: FlinkRest, args: argparse.Namespace) -> str:
    rest.cancel(args.job_id)
    state = rest.wait_for_state(args.job_id, {"CANCELED", "FAILED", "FINISHED"}, 60)
    checkpoint = rest.latest_checkpoint(args.job_id)
    kept = f"its last checkpoint is kept at {checkpoint}" if checkpoint else "it had no completed checkpoint"
    return (
        f"job {args.job_id}: {state}; {kept}\n"
        "`spectator run` with the same --consumer-group resumes from it (--fresh-state: from committed offsets)"
    )


COUNTERS = [
    "events_parsed",
    "dead_letters",
    "late_elements_dropped",
    "session_writes",
    "panes_unchanged",
    "redis_retries",
]
COMMANDS = {"list": cmd_list, "status": cmd_status, "stop": cmd_stop, "cancel": cmd_cancel}


def _duration(ms: int) -> str:
    seconds = max(ms, 0) // 1000
    return time.strftime("%H:%M:%S", time.gmtime(seconds)) if seconds < 86400 else f"{seconds // 86400}d+"
