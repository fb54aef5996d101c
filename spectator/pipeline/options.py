"""SpectatorOptions: every knob of the pipeline, with help text."""

from __future__ import annotations

import argparse
import os

from apache_beam.options.pipeline_options import (
    PipelineOptions,
    StandardOptions,
    TestOptions,
    _BeamArgumentParser,
)

from spectator.core.errors import UsageError
from spectator.io.kafka.config import add_kafka_config_args
from spectator.io.redis.store import DEFAULT_PREFIX


def _number(kind: type, allow_zero: bool):
    """An argparse type that rejects negative values (and zero unless allowed)."""

    def check(text: str):
        value = kind(text)
        if value < 0 or (value == 0 and not allow_zero):
            raise ValueError(text)
        return value

    check.__name__ = ("non-negative " if allow_zero else "positive ") + kind.__name__
    return check


WINDOWINGS = ("auto", "sessions", "fold")
DEFAULT_LATENESS_S = 3600.0
DEFAULT_EARLY_FIRING_S = 10

_positive = {kind: _number(kind, False) for kind in (int, float)}
_non_negative = {kind: _number(kind, True) for kind in (int, float)}


class SpectatorOptions(PipelineOptions):
    @classmethod
    def _add_argparse_args(cls, parser) -> None:
        parser.add_argument("--input", help="JSONL file or glob (.gz allowed) to replay instead of reading Kafka.")
        parser.add_argument("--bootstrap_servers", "--bootstrap-servers", help="Kafka brokers host:port[,...] to read.")
        parser.add_argument("--topic", help="Kafka topic(s) to read, comma-separated.")
        add_kafka_config_args(parser)
        parser.add_argument(
            "--consumer_group",
            "--consumer-group",
            default="spectator",
            help="Kafka consumer group whose committed offsets a run starts from.",
        )
        parser.add_argument(
            "--max_read_time_seconds",
            "--max-read-time-seconds",
            type=_positive[int],
            default=None,
            help="Bounded Kafka read (DirectRunner): stop after this long per partition (default 10).",
        )
        parser.add_argument(
            "--max_records",
            "--max-records",
            type=_positive[int],
            default=None,
            help="Bounded Kafka read: stop after this many records (waits until they arrive).",
        )
        parser.add_argument(
            "--expansion_service",
            "--expansion-service",
            default=None,
            help="KafkaIO expansion service: host:port of a running one, or its jar (scripts/kafka.sh jar). "
            "Default: $SPECTATOR_EXPANSION_SERVICE, else (but for a submitted Dataflow job) $SPECTATOR_EXPANSION_JAR "
            '(eval "$(scripts/kafka.sh env)"), else Beam\'s own, which it downloads; on Flink, '
            "$SPECTATOR_FLINK_EXPANSION_SERVICE.",
        )
        parser.add_argument(
            "--redis_url",
            "--redis-url",
            default="redis://127.0.0.1:6390/0",
            help="Where sessions go: redis://[:password@]host:port/db or rediss://...",
        )
        parser.add_argument(
            "--key_prefix",
            "--key-prefix",
            default=DEFAULT_PREFIX,
            help="Prefix of every Redis key the pipeline writes.",
        )
        parser.add_argument(
            "--gap_seconds",
            "--gap-seconds",
            type=_positive[float],
            default=1800.0,
            help="Session gap: an event this long or longer after the previous one starts a new session.",
        )
        parser.add_argument(
            "--allowed_lateness_seconds",
            "--allowed-lateness-seconds",
            type=_non_negative[float],
            default=None,
            help="Sessions windows: how long after the watermark passes a session late events still update it "
            f"(default {DEFAULT_LATENESS_S:g}).",
        )
        parser.add_argument(
            "--early_firing_seconds",
            "--early-firing-seconds",
            type=_non_negative[int],
            default=None,
            help="Sessions windows: processing-time interval of early panes while a session is open "
            f"(0: none; default {DEFAULT_EARLY_FIRING_S} on a streaming run, none on a bounded one).",
        )
        parser.add_argument(
            "--windowing",
            choices=WINDOWINGS,
            default="auto",
            help="sessions: Beam's Sessions windows with early, on-time and late panes; fold: a bounded run's "
            "sessions by the gap rule without windows, one ON_TIME record each, faster; auto (default): fold "
            "for a bounded run, sessions for a streaming one.",
        )
        parser.add_argument(
            "--bot_threshold",
            "--bot-threshold",
            type=_positive[int],
            default=100,
            help="A session with more than this many events within some 60 s is flagged as a bot.",
        )
        parser.add_argument(
            "--ttl_seconds",
            "--ttl-seconds",
            type=_non_negative[int],
            default=0,
            help="Expire a user's history this long after its last write (0: keep forever).",
        )
        parser.add_argument(
            "--redis_batch_size",
            "--redis-batch-size",
            type=_positive[int],
            default=500,
            help="Session upserts sent to Redis in one round trip.",
        )
        parser.add_argument(
            "--redis_retry_seconds",
            "--redis-retry-seconds",
            type=_non_negative[float],
            default=60.0,
            help="How long writes retry while Redis is unreachable (or a cluster fails over) before the job fails.",
        )
        parser.add_argument(
            "--redis_min_replicas",
            "--redis-min-replicas",
            type=_non_negative[int],
            default=None,
            help="Replicas that must acknowledge a batch (Redis WAIT) before it counts as written; a batch "
            "they do not is retried. Default: 1 where the masters have replicas, 0 where they have none.",
        )
        parser.add_argument(
            "--deadletter_max_len",
            "--deadletter-max-len",
            type=_positive[int],
            default=100_000,
            help="Approximate cap of the dead-letter stream in Redis.",
        )
        parser.add_argument(
            "--workers",
            type=_non_negative[int],
            default=0,
            help="DirectRunner file replay: worker processes (0: one per core for inputs over 64 MB, else 1).",
        )
        parser.add_argument(
            "--progress_every",
            "--progress-every",
            type=_non_negative[int],
            default=50_000,
            help="Log progress every N events per bundle during a replay (0: quiet).",
        )


class FlinkOptions(PipelineOptions):
    """FlinkRunner settings that Beam's Python SDK leaves to the Java side (FlinkPipelineOptions)."""

    @classmethod
    def _add_argparse_args(cls, parser) -> None:
        parser.add_argument(
            "--checkpointing_interval",
            type=_positive[int],
            default=None,
            help="FlinkRunner: milliseconds between checkpoints (default 10000). Offsets are committed on each.",
        )
        parser.add_argument(
            "--savepoint_path",
            help="FlinkRunner: resume from this savepoint (spectator flink stop) or retained checkpoint. "
            "Default: the last checkpoint or savepoint of the previous job of this consumer group, if any.",
        )
        parser.add_argument(
            "--fresh_state",
            action="store_true",
            default=False,
            help="FlinkRunner: start without window state, from the consumer group's committed offsets.",
        )
        parser.add_argument(
            "--detach",
            action="store_true",
            default=False,
            help="FlinkRunner: print the Flink job id and return once the job runs, instead of watching it.",
        )
        parser.add_argument(
            "--max_bundle_size",
            type=_positive[int],
            default=None,
            help="FlinkRunner: most elements in one bundle sent to the Python workers (default 10000).",
        )
        parser.add_argument(
            "--max_bundle_time_mills",
            type=_positive[int],
            default=None,
            help="FlinkRunner: most milliseconds a bundle stays open (Beam's default 1000).",
        )
        parser.add_argument(
            "--state_backend",
            choices=["filesystem", "rocksdb"],
            default=None,
            help="FlinkRunner: where window state lives: filesystem (the heap, the default) or rocksdb "
            "(on disk, incremental checkpoints).",
        )
        # Set by spectator.flink.submit, never by hand: checkpoints outlive a cancelled job, in a
        # folder named after the job, where a restarted JobManager's jobs can be found again.
        # finish_bundle_before_checkpointing: a bundle finished by a checkpoint otherwise sends
        # the watermark downstream before the bundle's output, which then arrives late and is
        # dropped (spectator.flink.submit). object_reuse: see spectator.flink.submit.
        for name in (
            "--externalized_checkpoints_enabled",
            "--retain_externalized_checkpoints_on_cancellation",
            "--finish_bundle_before_checkpointing",
            "--object_reuse",
        ):
            parser.add_argument(name, action="store_true", default=None, help=argparse.SUPPRESS)
        parser.add_argument("--state_backend_storage_path", default=None, help=argparse.SUPPRESS)


def lateness_and_early_firing(opts: SpectatorOptions, streaming: bool) -> tuple[float, int]:
    """The Sessions windows' allowed lateness and early-firing interval, defaults filled in.

    A bounded run fires no early panes unless asked: they fire on the wall clock, which tells
    nothing about a finished input's sessions.
    """
    lateness, early = opts.allowed_lateness_seconds, opts.early_firing_seconds
    if early is None:
        early = DEFAULT_EARLY_FIRING_S if streaming else 0
    return (DEFAULT_LATENESS_S if lateness is None else lateness), early


def expansion_service(opts: SpectatorOptions) -> str | None:
    """The KafkaIO expansion service of a DirectRunner or Dataflow run (Flink's is set in flink/submit.py).

    $SPECTATOR_EXPANSION_JAR (scripts/kafka.sh env) serves a local run and a Dataflow dry run only:
    a submitted Dataflow job stages the expansion service's jar for its Java workers, and that jar
    is a thin launcher whose classes lie beside it, on this machine.
    """
    chosen = opts.expansion_service or os.environ.get("SPECTATOR_EXPANSION_SERVICE")
    if chosen:
        return chosen
    if is_dataflow(opts) and not opts.view_as(TestOptions).dry_run:
        return None
    return os.environ.get("SPECTATOR_EXPANSION_JAR") or None


def is_dataflow(options: PipelineOptions) -> bool:
    return "dataflow" in str(options.view_as(StandardOptions).runner).lower()


DIRECT_NAMES = {"direct", "switchingdirect", "testdirect", "bundlebaseddirect"}


def is_direct(options: PipelineOptions) -> bool:
    """--runner as Beam reads it: DirectRunner, direct, TestDirectRunner, a dotted path, or none."""
    runner = options.view_as(StandardOptions).runner
    return runner is None or str(runner).split(".")[-1].lower().removesuffix("runner") in DIRECT_NAMES


def is_flink(options: PipelineOptions) -> bool:
    return "flink" in str(options.view_as(StandardOptions).runner).lower()


def underscored(argv: list[str]) -> list[str]:
    """`--flink-master=X` -> `--flink_master=X`: every flag also works with dashes, Beam's own too."""

    def fix(arg: str) -> str:
        if not arg.startswith("--"):
            return arg
        name, sep, value = arg.partition("=")
        return "--" + name[2:].replace("-", "_") + sep + value

    return [fix(arg) for arg in argv]


def parse_options(argv: list[str]) -> PipelineOptions:
    """PipelineOptions from argv, refusing flags no options class knows (Beam only warns)."""
    typed, argv = argv, underscored(argv)
    parser = _BeamArgumentParser(allow_abbrev=False)

    def error(message: str):
        raise UsageError(message)

    parser.error = error
    for cls in {str(c): c for c in PipelineOptions.__subclasses__()}.values():
        cls._add_argparse_args(parser)
    _, unknown = parser.parse_known_args(argv)
    if unknown:
        as_typed = dict(zip(argv, typed))
        raise UsageError(f"unrecognized arguments: {' '.join(as_typed.get(arg, arg) for arg in unknown)}")
    return PipelineOptions(argv)
