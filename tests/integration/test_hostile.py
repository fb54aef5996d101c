"""Hostile input (tests/support/hostile.py): every item is parsed or dead-lettered with its own reason, nothing
crashes, and the counts add up: through parsing alone, a file replay, Kafka on the DirectRunner and
Kafka on Flink."""

from __future__ import annotations

import os
import re
from collections import Counter

from spectator.cli import main
from spectator.io.kafka.produce import produce
from tests.support import hostile
from tests.support.data import ODD_IDS, rec
from tests.support.redis import write
from tests.support.streams import BOOTSTRAP, cancel_active, flink_run, new_topic, wait_for, wait_until

JAR = os.environ.get("SPECTATOR_EXPANSION_JAR", "")


def outcomes_by_origin(store, origins: list[str]) -> dict[str, str]:
    """origin -> the code of its dead letter, or "parsed" when none names it."""
    codes = {d["origin"]: d["code"] for d in store.deadletters(1000)}
    return {origin: codes.get(origin, "parsed") for origin in origins}


def replayed(out: str) -> tuple[int, int]:
    found = re.search(r"replayed ([\d,]+) events .*?, ([\d,]+) dead letters", out)
    return int(found[1].replace(",", "")), int(found[2].replace(",", ""))


def test_file_replay(tmp_path, redis_url, store, capsys):
    items = hostile.for_files()
    path = tmp_path / "hostile.jsonl"
    path.write_bytes(b"\n".join(i.payload for i in items) + b"\n")
    assert main(["run", "--input", str(path), "--redis-url", redis_url, "--gap-seconds", "60"]) == 0
    parsed, dead = replayed(capsys.readouterr().out)
    assert parsed + dead == len(items) and dead == sum(i.outcome != "parsed" for i in items)
    origins = [f"{path}:{n}" for n in range(1, len(items) + 1)]
    assert outcomes_by_origin(store, origins) == {o: i.outcome for o, i in zip(origins, items)}
    users = {i.user_id for i in items if i.outcome == "parsed"}
    assert {r.user_id for r in store.all_sessions()} == users
    for dead_letter in store.deadletters(1000):
        assert len(dead_letter["payload"]) < 20_000  # a 10 MB payload is kept as its start


def test_kafka_on_the_direct_runner(kafka_service, redis_url, store, capsys):
    items = hostile.for_kafka()
    topic = new_topic(partitions=1)
    assert produce(BOOTSTRAP, topic, [("k", i.payload, None) for i in items]) == len(items)
    argv = ["run", "--bootstrap-servers", BOOTSTRAP, "--topic", topic, "--redis-url", redis_url,
            "--expansion-service", JAR, "--max-records", str(len(items)), "--consumer-group", topic]  # fmt: skip
    assert main(argv) == 0
    parsed, dead = replayed(capsys.readouterr().out)
    assert parsed + dead == len(items)
    origins = [f"{topic}/0@{n}" for n in range(len(items))]
    assert outcomes_by_origin(store, origins) == {o: i.outcome for o, i in zip(origins, items)}
    assert Counter(r.user_id for r in store.all_sessions()) == Counter(i.user_id for i in items if i.user_id)


def test_kafka_on_flink(kafka_service, rest, redis_url, store, capsys):
    items = hostile.for_kafka()
    topic = new_topic(partitions=1)
    try:
        # The corpus is stamped 2026-01-01: a lateness longer than its age keeps its events.
        flink_run(capsys, topic, redis_url, topic, "--allowed-lateness-seconds", str(3 * 365 * 86400))
        assert produce(BOOTSTRAP, topic, [("k", i.payload, None) for i in items]) == len(items)
        dead = sum(i.outcome != "parsed" for i in items)
        wait_until(lambda: store.deadletter_total() == dead, 120, f"{dead} dead letters")
        users = Counter(i.user_id for i in items if i.user_id)
        wait_for(lambda: Counter(r.user_id for r in store.all_sessions()), users, 120, "the parsed items' sessions")
        origins = [f"{topic}/0@{n}" for n in range(len(items))]
        assert outcomes_by_origin(store, origins) == {o: i.outcome for o, i in zip(origins, items)}
    finally:
        cancel_active(rest)


def test_keys_built_from_hostile_user_ids_stay_in_their_place(redis_url, store):
    """Every key written for the corpus's user ids is that user's percent-encoded key, or a shared
    key of the prefix: no id reaches another user's keys, a pattern or another prefix."""
    users = sorted({i.user_id for i in hostile.for_files() if i.user_id} | set(ODD_IDS))
    records = [rec(1, 2, 2, user=u) for u in users]
    write(redis_url, records)
    shared = {store.keys.users(), store.keys.top(), store.keys.stats(), store.keys.panes()}
    expected = shared | {store.keys.sessions(u) for u in users} | {store.keys.history(u) for u in users}
    assert {k.decode() for k in store.client.keys("*")} == expected
    assert all(":" not in k.removeprefix("spectator:").split(":", 1)[1] for k in expected - shared)
    assert [r.user_id for r in store.all_sessions()] == users
