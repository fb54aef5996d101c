"""The `spectator` command: replay, generate, and read what the pipeline stored."""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import sys
import time
from collections import Counter

import redis

from spectator.core.errors import ServiceError, UsageError, extra_missing
from spectator.core.generate import generate, write_jsonl
from spectator.core.model import PANE_NAMES
from spectator.core.text import iso, table
from spectator.dataflow.commands import add_dataflow_parser, run_dataflow
from spectator.flink.commands import add_flink_parser, run_flink
from spectator.flink.late import late_data
from spectator.io.kafka.config import add_kafka_config_args
from spectator.io.redis.migrate import migrate
from spectator.io.redis.store import DEFAULT_PREFIX, SessionStore, connect, is_cluster, redact

DEFAULT_REDIS_URL = os.environ.get("SPECTATOR_REDIS_URL", "redis://127.0.0.1:6390/0")


class Parser(argparse.ArgumentParser):
    """Reports a usage mistake as one line instead of the whole usage text."""

    def error(self, message: str):
        raise UsageError(f"{self.prog}: {message} (see --help)")


def open_store(args: argparse.Namespace) -> SessionStore:
    client = connect(args.redis_url)
    try:
        client.ping()
    except redis.RedisError as e:
        raise ConnectionError(f"cannot reach Redis at {redact(args.redis_url)}: {e}") from None
    return SessionStore(client, args.key_prefix)


def summary_text(store: SessionStore, top: int = 5) -> str:
    s = store.stats()
    n = max(s["sessions"], 1)
    lines = [
        f"users {s['users']:,}   sessions {s['sessions']:,}   events {s['events']:,}",
        f"bounces {s['bounces']:,} ({100 * s['bounces'] / n:.1f}%)   bots {s['bots']:,}   "
        f"mean duration {s['duration_ms'] / n / 1000:.0f}s   dead letters {store.deadletter_total():,}",
    ]
    if store.jobs():
        lines.append(late_data(store).line())
    leaders = store.top(top)
    if leaders:
        lines.append("top users: " + ", ".join(f"{u} ({n} events)" for u, n in leaders))
    return "\n".join(lines)


def cmd_run(args: argparse.Namespace, argv: list[str]) -> int:
    # Beam is slow to import: only `run` loads it; the read commands never do. Its modules leave
    # about 200k objects, and each full collection walks them all: those during the import and
    # the pipeline's construction took 0.25 s of a 4 s replay. A run keeps them for its life, so
    # the collector waits for the imports, then leaves what they made out of its walks for good.
    gc.disable()
    try:
        from spectator.pipeline.build import plan, run
        from spectator.pipeline.engine import engine_name
        from spectator.pipeline.options import (
            FlinkOptions,
            SpectatorOptions,
            _BeamArgumentParser,
            is_dataflow,
            is_flink,
            parse_options,
        )
    finally:
        gc.freeze()
        gc.enable()

    if "-h" in argv or "--help" in argv:
        parser = _BeamArgumentParser(prog="spectator run", description="Run the pipeline (see README for runners).")
        SpectatorOptions._add_argparse_args(parser)
        FlinkOptions._add_argparse_args(parser)
        parser.print_help()
        return 0
    options = parse_options(argv)
    opts = options.view_as(SpectatorOptions)
    run_plan = plan(options)
    if is_flink(options):
        return run_on_flink(options)
    if is_dataflow(options):
        from spectator.dataflow.validate import check_dataflow_options

        check_dataflow_options(options)
        result = run(options, run_plan)
        print(f"submitted Dataflow job {result.job_id()}; follow it with: spectator dataflow status {result.job_id()}")
        return 0
    if opts.bootstrap_servers:
        from spectator.io.kafka.admin import missing_topics
        from spectator.io.kafka.config import kafka_config

        config = kafka_config(opts.kafka_config, opts.kafka_config_file)
        missing = missing_topics(opts.bootstrap_servers, opts.topic.split(","), config)
        if missing:
            raise UsageError(f"topic(s) {', '.join(missing)} do not exist at {opts.bootstrap_servers}")
    store = open_store(argparse.Namespace(redis_url=opts.redis_url, key_prefix=opts.key_prefix))
    started = time.monotonic()
    result = run(options, run_plan)
    counters = {c.key.metric.name: c.committed for c in result.metrics().query()["counters"]}
    seconds = time.monotonic() - started
    parsed = counters.get("events_parsed", 0)
    print(
        f"replayed {parsed:,} events in {seconds:.1f}s ({parsed / seconds:,.0f}/s) on the DirectRunner "
        f"({engine_name(result)}), windowing {run_plan.windowing}: "
        f"{counters.get('upsert_session_written', 0):,} session writes, "
        f"{counters.get('dead_letters', 0):,} dead letters"
    )
    print(summary_text(store))
    return 0


def run_on_flink(options) -> int:
    from spectator.flink import submit
    from spectator.pipeline.options import FlinkOptions, SpectatorOptions

    opts = options.view_as(SpectatorOptions)
    store = open_store(argparse.Namespace(redis_url=opts.redis_url, key_prefix=opts.key_prefix))
    rest = submit.prepare(options)
    job = submit.submit(options, rest)
    if not job.job_id:
        job.result.wait_until_finish()
        return 0
    # The readers ask the job for the late data it dropped (spectator/flink/late.py).
    store.register_job(job.job_id, {"runner": "flink", "master": rest.url, "name": job.job_name,
                                    "submitted_ms": int(time.time() * 1000)})  # fmt: skip
    print(
        f"Flink job {job.job_id} ({job.job_name}) is running: {rest.url}/#/job/running/{job.job_id}/overview",
        file=sys.stderr,
    )
    if options.view_as(FlinkOptions).detach:
        print(job.job_id)
        return 0
    return submit.watch(rest, job, store)


def cmd_validate(args: argparse.Namespace, argv: list[str]) -> int:
    from spectator.dataflow.validate import dry_run, summary

    job, options = dry_run(argv)
    print(json.dumps(summary(job, options), indent=2, default=str))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    store = open_store(args)
    for user_id in store.users():
        for record in store.sessions(user_id):
            sys.stdout.write(record.to_json() + "\n")
    return 0


def cmd_sessions(args: argparse.Namespace) -> int:
    store = open_store(args)
    records = store.sessions(args.user_id)
    if not records:
        print(f"no sessions stored for user {args.user_id!r}", file=sys.stderr)
        return 1
    rows = [
        [
            iso(r.start_ms),
            iso(r.end_ms)[11:],
            f"{r.duration_ms / 1000:.0f}s",
            r.event_count,
            r.distinct_pages,
            r.entry_page or "-",
            r.exit_page or "-",
            ",".join(f"{k}={v}" for k, v in r.event_types.items()),
            r.pane,
            " ".join(flag for flag, on in (("bounce", r.is_bounce), ("bot", r.is_bot)) if on),
        ]
        for r in records
    ]
    header = ["start (UTC)", "end", "duration", "events", "pages", "entry", "exit", "types", "pane", "flags"]
    print(f"user {args.user_id!r}: {len(records)} sessions")
    print(table(rows, header))
    return 0


def cmd_top(args: argparse.Namespace) -> int:
    rows = [[i, u, n] for i, (u, n) in enumerate(open_store(args).top(args.n), start=1)]
    print(table(rows, ["rank", "user", "events"]))
    return 0


def cmd_recent(args: argparse.Namespace) -> int:
    store = open_store(args)
    window = store.latest_writes(1000)
    writes = window[: args.n]
    if not writes:
        print("no sessions written yet")
        return 0
    newest_ms = max(int(w["end_ms"]) for w in writes)
    active = store.active_users(newest_ms - int(args.gap_seconds * 1000))
    print(f"{active:,} users with events in the {args.gap_seconds:g}s of event time up to {iso(newest_ms)} UTC")
    panes = Counter(w["pane"] for w in window)
    print(f"the last {len(window):,} writes: " + ", ".join(f"{p} {panes[p]:,}" for p in PANE_NAMES if panes[p]))
    now_ms = time.time() * 1000
    rows = [
        [w["user_id"], iso(int(w["start_ms"])), iso(int(w["end_ms"]))[11:], w["event_count"], w["pane"],
         f"{(now_ms - w['written_ms']) / 1000:.0f}s ago"]
        for w in writes
    ]  # fmt: skip
    print(table(rows, ["user", "start (UTC)", "end", "events", "pane", "written"]))
    return 0


def cmd_summary(args: argparse.Namespace) -> int:
    print(summary_text(open_store(args)))
    return 0


def cmd_deadletters(args: argparse.Namespace) -> int:
    store = open_store(args)
    letters = store.deadletters(args.n)
    print(f"{store.deadletter_total():,} dead letters in all; the newest {len(letters)}:")
    rows = [
        [d.get("origin", ""), d.get("code", ""), d.get("reason", "")[:60], d.get("payload", "")[:60]] for d in letters
    ]
    print(table(rows, ["origin", "code", "reason", "payload"]))
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    source = open_store(args)
    target = open_store(argparse.Namespace(redis_url=args.to_url, key_prefix=args.key_prefix)).client
    moved = migrate(source, target, args.batch_size, args.redis_min_replicas)
    layout = "a Redis Cluster" if is_cluster(target) else "a single Redis"
    print(
        f"migrated {moved.sessions:,} sessions of {moved.users:,} users ({moved.written:,} new there) and "
        f"{moved.deadletters:,} dead letters from {redact(args.redis_url)} to {redact(args.to_url)} ({layout})"
    )
    return 0


def cmd_generate(args: argparse.Namespace) -> int:
    events = generate(args.users, seed=args.seed, gap_s=args.gap_seconds)
    count = write_jsonl(args.output, events)
    print(f"wrote {count:,} events of {args.users:,} users to {args.output}", file=sys.stderr)
    return 0


def cmd_produce(args: argparse.Namespace) -> int:
    from spectator.io.kafka.admin import ensure_topic
    from spectator.io.kafka.config import kafka_config
    from spectator.io.kafka.produce import disorder, live, produce, read_jsonl

    config = kafka_config(args.kafka_config, args.kafka_config_file)
    if ensure_topic(args.bootstrap_servers, args.topic, args.partitions, config):
        print(f"created topic {args.topic} with {args.partitions} partitions", file=sys.stderr)
    if args.input:
        records = read_jsonl(args.input)
    else:
        events = generate(args.users, seed=args.seed, gap_s=args.gap_seconds, bot_share=args.bot_share)
        records = disorder(
            events,
            seed=args.seed,
            out_of_order=args.out_of_order,
            late=args.late,
            late_by_ms=int(args.late_by_seconds * 1000),
            malformed=args.malformed,
        )
    if args.live:
        records = live(records, args.speedup)
    count = produce(args.bootstrap_servers, args.topic, records, rate=args.rate, config=config)
    print(f"produced {count:,} events to {args.topic} at {args.bootstrap_servers}", file=sys.stderr)
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    try:
        from spectator.explorer import serve  # FastAPI and uvicorn load only for `serve`
    except ImportError as e:
        raise extra_missing("explorer", e) from None

    serve(args.redis_url, args.key_prefix, args.host, args.port, args.token)
    return 0


def parser() -> Parser:
    top = Parser(prog="spectator", description=__doc__)
    sub = top.add_subparsers(dest="command", required=True, parser_class=Parser)
    sub.add_parser("run", add_help=False, help="run the pipeline: spectator run --input F --redis-url U (--help)")
    sub.add_parser("validate", add_help=False, help="build the Dataflow job offline (--dry_run) and summarize it")
    sub.add_parser("generate", help="write a seeded, realistic clickstream as JSONL")
    prod = sub.add_parser("produce", help="stream a seeded clickstream, or a JSONL file, into Kafka")
    add_dataflow_parser(sub)
    add_flink_parser(sub)
    for name, text in [
        ("export", "print every stored session as JSON lines, by user and start"),
        ("sessions", "show one user's session history"),
        ("top", "show the engagement leaderboard"),
        ("recent", "show the latest session writes (EARLY, ON_TIME, LATE panes) as they happen"),
        ("summary", "show totals over every stored session"),
        ("deadletters", "show the events the pipeline rejected"),
        ("migrate", "copy every session and dead letter into another Redis, in its layout (say, a cluster)"),
        ("serve", "serve the session explorer: a web page and a read-only JSON API"),
    ]:
        p = sub.add_parser(name, help=text)
        p.add_argument("--redis-url", default=DEFAULT_REDIS_URL, help="default: $SPECTATOR_REDIS_URL or %(default)s")
        p.add_argument("--key-prefix", default=DEFAULT_PREFIX)
    sub.choices["sessions"].add_argument("user_id")
    sub.choices["top"].add_argument("-n", type=int, default=10, help="how many users")
    sub.choices["recent"].add_argument("-n", type=int, default=10, help="how many writes")
    sub.choices["recent"].add_argument(
        "--gap-seconds",
        type=float,
        default=1800,
        help="the job's gap: users this close to the newest event count as active",
    )
    sub.choices["deadletters"].add_argument("-n", type=int, default=20, help="how many, newest first")
    migrating = sub.choices["migrate"]
    migrating.add_argument("--to-url", required=True, help="the Redis (any node of a cluster) to copy into")
    migrating.add_argument("--batch-size", type=int, default=500, help="sessions a round trip")
    migrating.add_argument(
        "--redis-min-replicas", type=int, default=None, help="as for `run`: replicas that must hold each batch"
    )
    sub.choices["serve"].add_argument("--host", default="127.0.0.1", help="default: %(default)s (loopback only)")
    sub.choices["serve"].add_argument("--port", type=int, default=8000)
    sub.choices["serve"].add_argument(
        "--token",
        default=os.environ.get("SPECTATOR_EXPLORER_TOKEN"),
        help="require this token on every request (Bearer header, or ?token= on the page link); needed for a "
        "--host other than loopback (default: $SPECTATOR_EXPLORER_TOKEN)",
    )
    gen = sub.choices["generate"]
    gen.add_argument("--users", type=int, default=2000)
    gen.add_argument("--seed", type=int, default=7)
    gen.add_argument("--gap-seconds", type=float, default=1800)
    gen.add_argument("--output", "-o", default="/dev/stdout")
    prod.add_argument(
        "--bootstrap-servers",
        # What `eval "$(scripts/kafka.sh env)"` exports; SPECTATOR_KAFKA is this flag's older variable.
        default=os.environ.get("SPECTATOR_KAFKA_BOOTSTRAP") or os.environ.get("SPECTATOR_KAFKA", "127.0.0.1:9092"),
        help="default: $SPECTATOR_KAFKA_BOOTSTRAP or %(default)s",
    )
    prod.add_argument("--topic", default="clicks")
    add_kafka_config_args(prod)
    prod.add_argument("--partitions", type=int, default=4, help="when the topic has to be created")
    prod.add_argument("--input", help="a JSONL file to send line by line instead of a generated stream")
    prod.add_argument("--users", type=int, default=2000)
    prod.add_argument("--seed", type=int, default=7)
    prod.add_argument("--gap-seconds", type=float, default=1800, help="the gap the generated sessions respect")
    prod.add_argument("--rate", type=float, default=0, help="events a second (0: as fast as the broker takes them)")
    prod.add_argument("--bot-share", type=float, default=0.01, help="share of users that are bots")
    prod.add_argument("--out-of-order", type=float, default=0.0, help="share of events swapped with the next")
    prod.add_argument("--late", type=float, default=0.0, help="share of events held back and sent late")
    prod.add_argument("--late-by-seconds", type=float, default=3600, help="how much event time late events lag")
    prod.add_argument("--malformed", type=float, default=0.0, help="share of extra malformed payloads")
    prod.add_argument(
        "--live",
        action="store_true",
        help="send each event at its time, moved to start now (a live stream for a streaming job)",
    )
    prod.add_argument(
        "--speedup", type=float, default=60.0, help="with --live: how much faster than the generated time (default 60)"
    )
    return top


COMMANDS = {
    "export": cmd_export,
    "sessions": cmd_sessions,
    "top": cmd_top,
    "summary": cmd_summary,
    "recent": cmd_recent,
    "deadletters": cmd_deadletters,
    "migrate": cmd_migrate,
    "generate": cmd_generate,
    "produce": cmd_produce,
    "serve": cmd_serve,
    "dataflow": run_dataflow,
    "flink": run_flink,
}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    # Beam's, kafka-python's and the Java worker's logs (the last arrive on the root logger) are
    # noise on a terminal: their failures reach the user as our one-line errors. Set
    # SPECTATOR_LOG_LEVEL=INFO to see them.
    logging.basicConfig(
        level=os.environ.get("SPECTATOR_LOG_LEVEL", "CRITICAL"), format="%(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("spectator").setLevel(logging.INFO)
    try:
        args, rest = parser().parse_known_args(argv)
        if args.command == "run":
            return cmd_run(args, rest)
        if args.command == "validate":
            return cmd_validate(args, rest)
        if rest:
            raise UsageError(f"spectator {args.command}: unrecognized arguments: {' '.join(rest)}")
        return COMMANDS[args.command](args)
    except UsageError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except (ConnectionError, redis.RedisError, OSError, ServiceError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as e:  # the pipeline's own failure, e.g. Redis gone for longer than the retries
        print(f"error: the pipeline failed: {_root_cause(e)}", file=sys.stderr)
        return 1


def _root_cause(e: BaseException) -> str:
    """The innermost message; Beam wraps worker errors in several layers of traceback text."""
    while e.__cause__ is not None:
        e = e.__cause__
    lines = [line for line in str(e).splitlines() if line.strip()]
    for line in reversed(lines):
        if "RedisUnavailable" in line or "Error" in line:
            return line.strip()
    return lines[-1] if lines else type(e).__name__


if __name__ == "__main__":
    sys.exit(main())
