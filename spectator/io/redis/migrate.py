"""Copies a store into another Redis, in the target's layout: a single Redis into a Redis Cluster.

The source is only read. Each session goes through upsert_session.lua and each dead letter through
add_deadletter.lua, so a rerun, or a run that stopped halfway, loses and doubles nothing; the
leaderboard and the totals are rebuilt by the same calls. Users come from the `users` index: no
command walks the keyspace. The pane stream is not copied (it holds the latest writes, and the
copy writes its own); a TTL is not carried over.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from spectator.io.redis.calls import DEADLETTER_MARKER_TTL_S, replicas_to_wait_for, run_calls, upsert
from spectator.io.redis.store import Client, SessionStore, script, store_keys

# Marks, once on the target, that the dead letters the source's capped stream dropped were counted.
TRIMMED_MARKER = "migrated-trimmed-deadletters"
COUNT_ONCE = """
if redis.call('SET', KEYS[1], 1, 'NX') then redis.call('INCRBY', KEYS[2], ARGV[1]) return 1 end
return 0
"""


@dataclass(frozen=True)
class Migrated:
    users: int
    sessions: int
    written: int  # sessions the target did not hold yet
    deadletters: int


def migrate(source: SessionStore, target: Client, batch_size: int = 500, min_replicas: int | None = None) -> Migrated:
    keys = store_keys(target, source.keys.prefix)
    upsert_script, letter_script = script(target, "upsert_session"), script(target, "add_deadletter")
    replicas = replicas_to_wait_for(target, min_replicas)
    users = source.users()
    sessions = written = 0
    batch = []
    for i, user in enumerate(users, start=1):
        batch.extend(source.sessions(user))
        if len(batch) >= batch_size or i == len(users):
            codes = upsert(target, upsert_script, keys, batch, 0, replicas)
            sessions, written, batch = sessions + len(batch), written + sum(c in (1, 2) for c in codes), []

    retained = source.deadletters_retained()
    letters = list(reversed(source.deadletters(retained))) if retained else []
    for start in range(0, len(letters), batch_size):
        calls = []
        for letter in letters[start : start + batch_size]:
            digest = hashlib.sha1(f"{letter.get('origin', '')}\n{letter.get('payload', '')}".encode()).hexdigest()
            group = keys.deadletter_group(digest)
            fields = [letter.get(name, "") for name in ("payload", "reason", "code", "origin")]
            calls.append(
                (
                    letter_script,
                    [keys.deadletter_seen(digest), keys.deadletters(group), keys.deadletters_total(group)],
                    [DEADLETTER_MARKER_TTL_S, max(retained, 1), *fields],
                )
            )
        run_calls(target, calls, replicas)
    trimmed = source.deadletter_total() - retained
    if trimmed > 0:
        digest = hashlib.sha1(TRIMMED_MARKER.encode()).hexdigest()
        marker, total = keys.deadletter_seen(digest), keys.deadletters_total(keys.deadletter_group(digest))
        target.eval(COUNT_ONCE, 2, marker, total, trimmed)
    for job_id, info in source.jobs().items():
        target.hset(keys.jobs, job_id, json.dumps(info))
    return Migrated(len(users), sessions, written, retained)
