"""Wiring: ReadClickEvents -> ParseEvents -> Sessionize -> Redis, and run(options).

A bounded replay of files reads LineRanges and parses and sessionizes them in SessionizeRanges.
"""

from __future__ import annotations

import ctypes
import os

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import DirectOptions, PipelineOptions, StandardOptions

from spectator.io.files import ReadEventRanges
from spectator.io.kafka import commit_read_offsets
from spectator.io.redis import WriteDeadLettersToRedis, WriteSessionsToRedis
from spectator.kafka_config import kafka_config, redact_pair
from spectator.pipeline.options import SpectatorOptions, is_dataflow, is_flink
from spectator.store import redact
from spectator.transforms.parse import DEAD_LETTERS, ParseEvents
from spectator.transforms.read import ReadClickEvents, check_source
from spectator.transforms.sessionize import Sessionize, SessionizeRanges


def build(p: beam.Pipeline, options: PipelineOptions) -> None:
    opts = options.view_as(SpectatorOptions)
    streaming = options.view_as(StandardOptions).streaming
    redis_args = dict(
        redis_url=opts.redis_url,
        prefix=opts.key_prefix,
        batch_size=opts.redis_batch_size,
        retry_seconds=opts.redis_retry_seconds,
    )
    if opts.input and not streaming:
        check_source(opts)
        out = (
            p
            | "ReadEventRanges" >> ReadEventRanges(opts.input)
            | "SessionizeRanges" >> SessionizeRanges(opts.gap_seconds, opts.bot_threshold, opts.progress_every)
        )
        sessions, dead_letters = out["sessions"], out[DEAD_LETTERS]
    else:
        parsed = (
            p
            | "ReadClickEvents" >> ReadClickEvents(opts, streaming)
            | "ParseEvents" >> ParseEvents(opts.progress_every)
        )
        dead_letters = parsed.dead_letters
        sessions = parsed.events | "Sessionize" >> Sessionize(
            opts.gap_seconds,
            opts.allowed_lateness_seconds,
            opts.early_firing_seconds,
            opts.bot_threshold,
            bounded=not streaming,
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
    a replay's data between the processes leave memory resident in theirs. A 1M-event replay on
    two workers peaked at 980-1,030 MB with glibc's default (8 a core) and 870-975 MB with two.
    """
    os.environ.setdefault("MALLOC_ARENA_MAX", "2")
    try:
        ctypes.CDLL(None).mallopt(M_ARENA_MAX, 2)
    except (OSError, AttributeError):  # not glibc: nothing to tune
        pass


def run(options: PipelineOptions) -> beam.runners.runner.PipelineResult:
    """Build and run the pipeline until it finishes; on Dataflow, submit it and return.

    After a bounded Kafka read succeeds, the offsets it read are committed (see io/kafka.py).
    """
    if is_dataflow(options):
        p = beam.Pipeline(options=options)
        build(p, options)
        return p.run()
    plan_workers(options)
    # `with` is what lets Beam start a jar's expansion service with a loopback Java worker.
    with beam.Pipeline(options=options) as p:
        build(p, options)
    opts = options.view_as(SpectatorOptions)
    if opts.bootstrap_servers and not options.view_as(StandardOptions).streaming:
        config = kafka_config(opts.kafka_config, opts.kafka_config_file)
        commit_read_offsets(p.result, opts.bootstrap_servers, opts.consumer_group, config)
    return p.result
