r"""The pipeline: read, parse, sessionize, write to Redis; and run(options).

    ReadClickEvents -> ParseEvents -> Sessionize -> WriteSessions
                                  \-> WriteDeadLetters

Sessions are made one of two ways (--windowing):
- sessions: Beam's Sessions(gap) windows with early, on-time and late accumulating panes and
  the allowed lateness. The only choice for a streaming run, where events keep arriving.
- fold: a finished input's events folded per user by the same gap rule, without windows: the
  same sessions, one ON_TIME record each, several times faster on the DirectRunner. A file replay
  parses and folds each range of lines in one step (SessionizeRanges).
"""

from __future__ import annotations

import ctypes
import os
from dataclasses import dataclass

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import DirectOptions, PipelineOptions, StandardOptions

from spectator.core.errors import UsageError
from spectator.io.files import ReadEventRanges
from spectator.io.kafka.config import kafka_config, redact_pair
from spectator.io.kafka.read import commit_read_offsets
from spectator.io.redis.store import redact
from spectator.io.redis.write import WriteDeadLettersToRedis, WriteSessionsToRedis
from spectator.pipeline.engine import LocalRunner
from spectator.pipeline.options import (
    FlinkOptions,
    SpectatorOptions,
    is_dataflow,
    is_direct,
    is_flink,
    lateness_and_early_firing,
)
from spectator.pipeline.read import ReadClickEvents, check_source
from spectator.transforms.parse import DEAD_LETTERS, ParseEvents
from spectator.transforms.sessionize import FoldSessions, SessionizeRanges, SessionWindows


@dataclass(frozen=True)
class Plan:
    """What a run will do, decided from its options before anything runs."""

    streaming: bool
    windowing: str  # "sessions" or "fold"


def plan(options: PipelineOptions) -> Plan:
    """The run's plan; a flag the run would ignore, or a choice it cannot make, is a UsageError."""
    opts = options.view_as(SpectatorOptions)
    # The FlinkRunner and Dataflow run the streaming job, --streaming or not (flink/submit.py, dataflow/).
    streaming = options.view_as(StandardOptions).streaming or is_flink(options) or is_dataflow(options)
    check_source(opts)
    windowing = opts.windowing
    if windowing == "auto":
        windowing = "sessions" if streaming else "fold"
    if windowing == "fold" and streaming:
        raise UsageError("--windowing fold needs a bounded run: a streaming run's sessions are windows (sessions)")
    if opts.bootstrap_servers and streaming and is_direct(options):
        raise UsageError(
            "--streaming: the DirectRunner reads Kafka bounded only (its streaming mode runs no cross-language "
            "transform, and ReadFromKafka is one); leave --streaming out, or use --runner FlinkRunner"
        )
    early_panes = windowing == "sessions" and lateness_and_early_firing(opts, streaming)[1] > 0
    if early_panes and opts.bootstrap_servers and is_direct(options):
        raise UsageError(
            "--early-firing-seconds: the DirectRunner reads Kafka bounded on the FnApiRunner, which fires no "
            "processing-time panes; leave it out, or run --streaming on the FlinkRunner"
        )
    for reason, flags in _ignored_flags(options, windowing, streaming, early_panes).items():
        given = [flag for flag, value in flags if value is not None and value is not False]
        if given:
            raise UsageError(f"{', '.join(given)}: this run would ignore it ({reason})")
    return Plan(streaming, windowing)


def _ignored_flags(
    options: PipelineOptions, windowing: str, streaming: bool, early_panes: bool
) -> dict[str, list[tuple[str, object]]]:
    """Flags this run would not read, by the reason why, with their values (None or False: not given)."""
    opts = options.view_as(SpectatorOptions)
    flink = options.view_as(FlinkOptions)
    ignored = {}
    if windowing == "fold":
        reason = "a bounded run folds sessions without windows, panes or lateness; pass --windowing sessions for them"
        ignored[reason] = [
            ("--allowed-lateness-seconds", opts.allowed_lateness_seconds),
            ("--early-firing-seconds", opts.early_firing_seconds),
        ]
    if opts.input:
        ignored["a file is read whole"] = [
            ("--max-read-time-seconds", opts.max_read_time_seconds),
            ("--max-records", opts.max_records),
        ]
    # Early panes need the BundleBasedDirectRunner (pipeline/engine.py), which runs no worker processes.
    if not (opts.input and is_direct(options) and not streaming and not early_panes):
        ignored["only a bounded DirectRunner replay of files without early panes runs worker processes"] = [
            ("--workers", opts.workers or None)
        ]
    if not is_flink(options):
        ignored["it is a FlinkRunner setting"] = [
            ("--checkpointing-interval", flink.checkpointing_interval),
            ("--savepoint-path", flink.savepoint_path),
            ("--fresh-state", flink.fresh_state),
            ("--detach", flink.detach),
            ("--max-bundle-size", flink.max_bundle_size),
            ("--max-bundle-time-mills", flink.max_bundle_time_mills),
            ("--state-backend", flink.state_backend),
        ]
    return ignored


def build(p: beam.Pipeline, options: PipelineOptions, run_plan: Plan | None = None) -> Plan:
    opts = options.view_as(SpectatorOptions)
    run_plan = run_plan or plan(options)
    redis_args = dict(
        redis_url=opts.redis_url,
        prefix=opts.key_prefix,
        batch_size=opts.redis_batch_size,
        retry_seconds=opts.redis_retry_seconds,
        min_replicas=opts.redis_min_replicas,
    )
    if run_plan.windowing == "fold" and opts.input:
        out = (
            p
            | "ReadEventRanges" >> ReadEventRanges(opts.input)
            | "SessionizeRanges" >> SessionizeRanges(opts.gap_seconds, opts.bot_threshold, opts.progress_every)
        )
        sessions, dead_letters = out["sessions"], out[DEAD_LETTERS]
    else:
        parsed = (
            p
            | "ReadClickEvents" >> ReadClickEvents(opts, run_plan.streaming)
            | "ParseEvents" >> ParseEvents(opts.progress_every)
        )
        dead_letters = parsed.dead_letters
        # One step name for both: Flink keeps a job's state under its steps' names.
        if run_plan.windowing == "fold":
            sessions = parsed.events | "Sessionize" >> FoldSessions(opts.gap_seconds, opts.bot_threshold)
        else:
            lateness, early_firing = lateness_and_early_firing(opts, run_plan.streaming)
            sessions = parsed.events | "Sessionize" >> SessionWindows(
                opts.gap_seconds, lateness, early_firing, opts.bot_threshold
            )
    dead_letters | "WriteDeadLetters" >> WriteDeadLettersToRedis(max_len=opts.deadletter_max_len, **redis_args)
    sessions | "WriteSessions" >> WriteSessionsToRedis(ttl_seconds=opts.ttl_seconds, **redis_args)
    # The transforms hold the secrets now. Runners log the options and show them in their UIs
    # (Flink's job configuration, Dataflow's console): there they go without. The pipeline holds
    # a copy of the options, so the copy is what gets redacted.
    shown = p.options.view_as(SpectatorOptions)
    shown.redis_url = redact(opts.redis_url)
    if opts.kafka_config:
        shown.kafka_config = [redact_pair(pair) for pair in opts.kafka_config]
    return run_plan


# Starting worker processes costs over a second; below this much input it is not won back.
PARALLEL_INPUT_BYTES = 64 << 20
M_ARENA_MAX = -8  # mallopt's parameter, from glibc's malloc.h


def plan_workers(options: PipelineOptions) -> int:
    """How many DirectRunner worker processes a file replay gets; sets Beam's options for them.

    The replay's file ranges are shuffled, so every worker parses a share (io/files.py).
    A --direct_num_workers given by hand is kept, as is every other runner's own parallelism.
    """
    opts = options.view_as(SpectatorOptions)
    direct = options.view_as(DirectOptions)
    if not opts.input or is_flink(options) or is_dataflow(options) or options.view_as(StandardOptions).streaming:
        return 1
    if direct.direct_num_workers != 1:
        return direct.direct_num_workers
    workers = opts.workers
    if not workers:
        size = sum(m.size_in_bytes for match in FileSystems.match([opts.input]) for m in match.metadata_list)
        workers = (os.cpu_count() or 1) if size > PARALLEL_INPUT_BYTES else 1
    if workers > 1:
        direct.direct_num_workers = workers
        direct.direct_running_mode = "multi_processing"
        _fewer_malloc_arenas()
    return workers


def _fewer_malloc_arenas() -> None:
    """Two malloc arenas a process, for this one and the workers it starts.

    glibc gives each thread that allocates an arena of its own, and the gRPC threads that carry
    a replay's data between the processes leave memory resident in theirs (a replay's peak memory
    with each: BENCHMARKS.md, "Figures behind the code").
    """
    os.environ.setdefault("MALLOC_ARENA_MAX", "2")
    try:
        ctypes.CDLL(None).mallopt(M_ARENA_MAX, 2)
    except (OSError, AttributeError):  # not glibc: nothing to tune
        pass


def run(options: PipelineOptions, run_plan: Plan | None = None) -> beam.runners.runner.PipelineResult:
    """Build and run the pipeline until it finishes; on Dataflow, submit it and return.

    After a bounded Kafka read succeeds, the offsets it read are committed (see io/kafka/read.py).
    """
    if is_dataflow(options):
        p = beam.Pipeline(options=options)
        build(p, options, run_plan)
        return p.run()
    run_plan = run_plan or plan(options)
    plan_workers(options)
    # `with` is what lets Beam start a jar's expansion service with a loopback Java worker.
    with beam.Pipeline(runner=LocalRunner() if is_direct(options) else None, options=options) as p:
        build(p, options, run_plan)
    opts = options.view_as(SpectatorOptions)
    if opts.bootstrap_servers and not run_plan.streaming:
        config = kafka_config(opts.kafka_config, opts.kafka_config_file)
        commit_read_offsets(p.result, opts.bootstrap_servers, opts.consumer_group, config)
    return p.result
