"""Reads the explorer needs beyond SessionStore, each with a fixed bound on the work it does.

Nothing here lists keys: users come from the `users` index (merged over a cluster's slot groups),
and every key is built by Keys, which percent-encodes the user id.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from itertools import islice

from spectator.io.redis.store import SessionStore

SEARCH_CHUNK = 1000
SEARCH_MAX_SCANNED = 20_000
# The duration sample: the most recently active users first, since the page follows live traffic.
SAMPLE_MAX_USERS = 2000
SAMPLE_PER_USER = 200
SAMPLE_MAX_SESSIONS = 20_000
SAMPLE_BATCH = 250


@dataclass(frozen=True)
class UserSearch:
    users: list[tuple[str, int]]  # user id, end of their latest session (ms)
    scanned: int
    complete: bool


@dataclass(frozen=True)
class DurationSample:
    durations_ms: list[int]
    users: int
    complete: bool


class ExplorerStore(SessionStore):
    def has_user(self, user_id: str) -> bool:
        return self.last_end(user_id) is not None

    def search_users(self, prefix: str, limit: int) -> UserSearch:
        """Users whose id starts with `prefix`, most recently active first.

        The index is scored by time, not lexically, so a prefix cannot be a range query; it is
        walked in chunks, at most SEARCH_MAX_SCANNED members. An exact id is found at any size.
        """
        found: list[tuple[str, int]] = []
        exact = self.last_end(prefix) if prefix else None
        if exact is not None:
            found.append((prefix, int(exact)))
        scanned, complete = 0, True
        for user, end in self.recent_users(SEARCH_CHUNK):
            if len(found) >= limit or scanned >= SEARCH_MAX_SCANNED:
                complete = False
                break
            scanned += 1
            if user.startswith(prefix) and user != prefix:
                found.append((user, end))
        return UserSearch(found, scanned, complete)

    def duration_sample(self) -> DurationSample:
        """Session durations of the most recently active users, bounded in users and sessions."""
        users = [user for user, _ in islice(self.recent_users(SAMPLE_MAX_USERS), SAMPLE_MAX_USERS)]
        durations: list[int] = []
        complete = len(users) == self.user_count()
        done = 0
        for i in range(0, len(users), SAMPLE_BATCH):
            if len(durations) >= SAMPLE_MAX_SESSIONS:
                complete = False
                break
            batch = users[i : i + SAMPLE_BATCH]
            pipe = self.client.pipeline(transaction=False)
            for user in batch:
                pipe.zrevrange(self.keys.history(user), 0, SAMPLE_PER_USER)  # one extra: was it cut?
            histories = pipe.execute()
            pipe = self.client.pipeline(transaction=False)
            for user, starts in zip(batch, histories):
                complete = complete and len(starts) <= SAMPLE_PER_USER
                if starts:
                    pipe.hmget(self.keys.sessions(user), starts[:SAMPLE_PER_USER])
            for raw in (r for rows in pipe.execute() for r in rows):
                if raw is not None:
                    durations.append(int(json.loads(raw)["duration_ms"]))
            done += len(batch)
        return DurationSample(durations, done, complete)
