"""ReadKafkaEvents: Kafka records -> (origin, payload) pairs for ParseEvents, via Beam's KafkaIO.

Event time: a streaming read takes each record's CreateTime as its timestamp and advances the
watermark with it, so producers must stamp records with the event's time (`spectator produce`
does). With KafkaIO's default processing-time policy the watermark is the wall clock, and events
that arrive with older times, replayed or delayed, land behind it and are dropped as late.

Offsets: a streaming job commits them when a bundle is finalized (checkpointed on Flink and
Dataflow). A bounded read on the DirectRunner cannot do that safely: KafkaIO commits when its
Java read step finishes, before the Python steps have written anything. So there the read
records the highest offset of each partition in a metric, and `commit_read_offsets` commits
them once the whole pipeline has succeeded. A failed run commits nothing; its rerun reads the
same records, and the idempotent Redis upsert makes that harmless.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import apache_beam as beam
from apache_beam.io.kafka import ReadFromKafka
from apache_beam.metrics import Metrics
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.runners.runner import PipelineResult
from apache_beam.transforms.external import JavaJarExpansionService

from spectator.io.kafka.config import python_client_args

OFFSETS_NAMESPACE = "spectator.kafka_offsets"


class _TagOriginFn(beam.DoFn):
    """(topic/partition@offset, value), and one distribution per partition whose max is the last
    offset this run read there. Updated once a bundle: a metric update per record costs more than
    the rest of this step."""

    def start_bundle(self) -> None:
        self.last: dict[tuple[str, int], int] = {}

    def process(self, record: beam.Row) -> Iterator[tuple[str, bytes]]:
        key = record.topic, record.partition
        if record.offset > self.last.get(key, -1):
            self.last[key] = record.offset
        yield f"{record.topic}/{record.partition}@{record.offset}", record.value

    def finish_bundle(self) -> None:
        for (topic, partition), offset in self.last.items():
            Metrics.distribution(OFFSETS_NAMESPACE, f"{topic}\t{partition}").update(offset)


def expansion_service(address_or_jar: str | None):
    """A running service ("host:port"), a jar Beam starts itself, or None for Beam's default."""
    if address_or_jar and address_or_jar.endswith(".jar"):
        if not os.path.exists(address_or_jar):
            raise FileNotFoundError(f"expansion service jar {address_or_jar} does not exist (scripts/kafka.sh jar)")
        return JavaJarExpansionService(address_or_jar)
    return address_or_jar or None


class ReadKafkaEvents(beam.PTransform):
    """Every record of `topics` as (topic/partition@offset, value), read by consumer group `group_id`.

    `streaming` commits offsets on bundle finalization; otherwise the read stops after
    `max_read_time` seconds per partition (or `max_num_records`) and offsets are committed with
    `commit_read_offsets` after the run.
    """

    def __init__(
        self,
        bootstrap_servers: str,
        topics: list[str],
        group_id: str,
        streaming: bool,
        expansion_service: str | None = None,
        max_num_records: int | None = None,
        max_read_time: int | None = None,
        config: dict[str, str] | None = None,
    ):
        super().__init__()
        self.bootstrap_servers = bootstrap_servers
        self.topics = topics
        self.group_id = group_id
        self.streaming = streaming
        self.expansion_service = expansion_service
        self.max_num_records = max_num_records
        self.max_read_time = max_read_time
        self.config = config or {}

    @property
    def timestamp_policy(self) -> str:
        # A bounded read's timestamps do not matter: ParseEvents stamps each event with its own time.
        return ReadFromKafka.create_time_policy if self.streaming else ReadFromKafka.processing_time_policy

    def expand(self, pbegin: beam.pvalue.PBegin) -> beam.PCollection[tuple[str, bytes]]:
        consumer_config = {
            **self.config,
            "bootstrap.servers": self.bootstrap_servers,
            "group.id": self.group_id,
            "enable.auto.commit": "false",
            "auto.offset.reset": "earliest",
        }
        return (
            pbegin
            | "ReadFromKafka"
            >> ReadFromKafka(
                consumer_config=consumer_config,
                topics=self.topics,
                with_metadata=True,
                commit_offset_in_finalize=self.streaming,
                timestamp_policy=self.timestamp_policy,
                max_num_records=self.max_num_records,
                max_read_time=self.max_read_time,
                expansion_service=expansion_service(self.expansion_service),
            )
            | "TagOrigin" >> beam.ParDo(_TagOriginFn())
        )


def read_offsets(result: PipelineResult) -> dict[tuple[str, int], int]:
    """(topic, partition) -> the next offset to read, from a finished run's metrics."""
    offsets = {}
    for dist in result.metrics().query(MetricsFilter().with_namespace(OFFSETS_NAMESPACE))["distributions"]:
        if dist.committed and dist.committed.count:
            topic, partition = dist.key.metric.name.split("\t")
            offsets[(topic, int(partition))] = dist.committed.max + 1
    return offsets


def commit_read_offsets(
    result: PipelineResult, bootstrap_servers: str, group_id: str, config: dict[str, str] | None = None
) -> dict[tuple[str, int], int]:
    """Commits what a successful bounded run read, so the next run starts after it."""
    from kafka import KafkaConsumer, TopicPartition
    from kafka.structs import OffsetAndMetadata

    offsets = read_offsets(result)
    if offsets:
        consumer = KafkaConsumer(
            bootstrap_servers=bootstrap_servers,
            group_id=group_id,
            enable_auto_commit=False,
            **python_client_args(config or {}),
        )
        try:
            consumer.commit({TopicPartition(t, p): OffsetAndMetadata(o, "", -1) for (t, p), o in offsets.items()})
        finally:
            consumer.close()
    return offsets
