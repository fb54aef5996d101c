"""Wiring: ReadClickEvents -> ParseEvents -> Sessionize -> Redis, and run(argv)."""

from __future__ import annotations

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

from spectator.io.redis import WriteDeadLettersToRedis, WriteSessionsToRedis
from spectator.pipeline.options import SpectatorOptions
from spectator.transforms.parse import ParseEvents
from spectator.transforms.read import ReadClickEvents
from spectator.transforms.sessionize import Sessionize


def build(p: beam.Pipeline, options: PipelineOptions) -> None:
    opts = options.view_as(SpectatorOptions)
    streaming = options.view_as(StandardOptions).streaming
    redis_args = dict(
        redis_url=opts.redis_url,
        prefix=opts.key_prefix,
        batch_size=opts.redis_batch_size,
        retry_seconds=opts.redis_retry_seconds,
    )
    parsed = p | "ReadClickEvents" >> ReadClickEvents(opts.input) | "ParseEvents" >> ParseEvents(opts.progress_every)
    parsed.dead_letters | "WriteDeadLetters" >> WriteDeadLettersToRedis(max_len=opts.deadletter_max_len, **redis_args)
    (
        parsed.events
        | "Sessionize"
        >> Sessionize(
            opts.gap_seconds,
            opts.allowed_lateness_seconds,
            opts.early_firing_seconds,
            opts.bot_threshold,
            bounded=not streaming,
        )
        | "WriteSessions" >> WriteSessionsToRedis(ttl_seconds=opts.ttl_seconds, **redis_args)
    )


def run(options: PipelineOptions) -> beam.runners.runner.PipelineResult:
    """Build and run the pipeline; waits for a bounded run to finish."""
    p = beam.Pipeline(options=options)
    build(p, options)
    result = p.run()
    if not options.view_as(StandardOptions).streaming:
        result.wait_until_finish()
    return result
