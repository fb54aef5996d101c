"""ReadClickEvents: the source the options name, a file replay or Kafka, as (origin, payload) pairs."""

from __future__ import annotations

import apache_beam as beam

from spectator.core.errors import UsageError
from spectator.io.files import ReadEventLines
from spectator.io.kafka.config import kafka_config
from spectator.io.kafka.read import ReadKafkaEvents
from spectator.pipeline.options import SpectatorOptions, expansion_service

DEFAULT_MAX_READ_TIME_S = 10


def check_source(opts: SpectatorOptions) -> None:
    """Exactly one source: --input, or --bootstrap-servers with --topic."""
    kafka = bool(opts.bootstrap_servers or opts.topic)
    if opts.input and kafka:
        raise UsageError("choose one source: --input FILE, or --bootstrap-servers with --topic")
    if kafka and not (opts.bootstrap_servers and opts.topic):
        raise UsageError("reading Kafka needs both --bootstrap-servers and --topic")
    if not opts.input and not kafka:
        raise UsageError("no input: pass --input FILE.jsonl, or --bootstrap-servers H:P --topic T")


class ReadClickEvents(beam.PTransform):
    """Raw events as (origin, payload) pairs, from `--input` files or Kafka."""

    def __init__(self, opts: SpectatorOptions, streaming: bool):
        super().__init__()
        self.kafka_config = kafka_config(opts.kafka_config, opts.kafka_config_file)
        self.opts = opts
        self.streaming = streaming

    def expand(self, pbegin: beam.pvalue.PBegin) -> beam.PCollection[tuple[str, bytes]]:
        opts = self.opts
        if opts.input:
            return pbegin | "ReadEventLines" >> ReadEventLines(opts.input)
        max_read_time = opts.max_read_time_seconds
        if not self.streaming and max_read_time is None and opts.max_records is None:
            max_read_time = DEFAULT_MAX_READ_TIME_S  # a bounded run must stop somewhere
        return pbegin | "ReadKafkaEvents" >> ReadKafkaEvents(
            opts.bootstrap_servers,
            [t.strip() for t in opts.topic.split(",") if t.strip()],
            opts.consumer_group,
            streaming=self.streaming,
            config=self.kafka_config,
            expansion_service=expansion_service(opts),
            max_num_records=opts.max_records,
            max_read_time=max_read_time,
        )
