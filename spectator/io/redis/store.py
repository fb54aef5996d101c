"""The Redis layout, shared by the writer and every reader (CLI, explorer).

Under a key prefix P, with U the user id percent-encoded (so no user id can name another
user's keys, and nothing user-supplied ever reaches a pattern):

  P sessions:U    hash   start_ms -> SessionRecord JSON, the user's current sessions
  P history:U     zset   start_ms scored by start_ms, the user's history index
  P users         zset   user id -> end_ms of their latest session
  P top           zset   user id -> events over their current sessions (engagement)
  P stats         hash   sessions, events, bounces, bots, duration_ms over current sessions
  P panes         stream user_id, start_ms, end_ms, event_count, pane of each write; capped
  P deadletters   stream payload, reason, code, origin; capped
  P deadletters:total     counter of dead letters ever written
  P deadletters:seen:H    marker that makes a retried dead letter a no-op (expires)
  P jobs          hash   streaming job id -> JSON: runner, where to ask it (master), name, the
                         late elements its metrics last showed dropped

On a Redis Cluster every key but `jobs` lives in one of GROUPS slot groups, named by a hash tag
after the prefix: `P{gN}:sessions:U`, `P{gN}:users`, ... A user's keys and the shares of the
global keys their writes touch are in the user's group, so one script call touches one slot;
readers merge the groups. Dead letters are grouped by their digest.

Reads here never scan the keyspace: users are listed from `users`.
"""

from __future__ import annotations

import heapq
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib.resources import files
from itertools import islice
from typing import Any
from urllib.parse import quote

import redis
from redis.cluster import RedisCluster
from redis.crc import key_slot

from spectator.core.model import SessionRecord

DEFAULT_PREFIX = "spectator:"
# Slot groups on a cluster: enough to spread over many masters (Redis moves whole slots), few
# enough that a read of a global figure is one short pipeline a node.
GROUPS = 256
Client = redis.Redis | RedisCluster


@dataclass(frozen=True)
class Keys:
    prefix: str = DEFAULT_PREFIX
    groups: int = 1  # 1: a single Redis, keys without hash tags

    def __post_init__(self) -> None:
        if self.groups > 1 and ("{" in self.prefix or "}" in self.prefix):
            raise ValueError(f"a key prefix on a Redis Cluster cannot hold {{ or }}: {self.prefix!r}")

    def group_of(self, user_id: str) -> int:
        return 0 if self.groups == 1 else key_slot(_encode(user_id).encode()) % self.groups

    def deadletter_group(self, digest: str) -> int:
        return 0 if self.groups == 1 else int(digest[:8], 16) % self.groups

    def all_groups(self) -> range:
        return range(self.groups)

    def _in(self, group: int) -> str:
        return self.prefix if self.groups == 1 else f"{self.prefix}{{g{group}}}:"

    def sessions(self, user_id: str) -> str:
        return f"{self._in(self.group_of(user_id))}sessions:{_encode(user_id)}"

    def history(self, user_id: str) -> str:
        return f"{self._in(self.group_of(user_id))}history:{_encode(user_id)}"

    def users(self, group: int = 0) -> str:
        return f"{self._in(group)}users"

    def top(self, group: int = 0) -> str:
        return f"{self._in(group)}top"

    def stats(self, group: int = 0) -> str:
        return f"{self._in(group)}stats"

    def panes(self, group: int = 0) -> str:
        return f"{self._in(group)}panes"

    def deadletters(self, group: int = 0) -> str:
        return f"{self._in(group)}deadletters"

    def deadletters_total(self, group: int = 0) -> str:
        return f"{self._in(group)}deadletters:total"

    def deadletter_seen(self, digest: str) -> str:
        return f"{self._in(self.deadletter_group(digest))}deadletters:seen:{digest}"

    @property
    def jobs(self) -> str:
        return f"{self.prefix}jobs"


def _encode(user_id: str) -> str:
    # Percent-encoding leaves no { or } in a user's part of a key: no id can choose its hash tag.
    return quote(user_id, safe="")


def script(client: Client, name: str):
    """One of this package's Lua scripts (upsert_session, add_deadletter), registered with the client."""
    return client.register_script(files(__package__).joinpath(f"{name}.lua").read_text())


def connect(url: str) -> Client:
    """A client for redis://, rediss:// or unix:// URLs, with password if the URL has one; a
    RedisCluster client when the URL names any node of a cluster."""
    options = {"socket_connect_timeout": 5, "socket_timeout": 30, "health_check_interval": 30}
    client = redis.Redis.from_url(url, **options)
    try:
        enabled = client.info("cluster").get("cluster_enabled")
    except redis.ConnectionError:
        return client  # unreachable now: the caller's first command says so, or its retries wait
    except redis.ResponseError:
        enabled = 0  # INFO refused (an ACL): a single Redis, as before clusters were supported
    if not enabled:
        return client
    client.close()
    return RedisCluster.from_url(url, **options)


def is_cluster(client: Client) -> bool:
    return isinstance(client, RedisCluster)


def store_keys(client: Client, prefix: str) -> Keys:
    return Keys(prefix, GROUPS if is_cluster(client) else 1)


def redact(url: str) -> str:
    """The URL without its password, for messages."""
    scheme, sep, rest = url.partition("://")
    if "@" not in rest:
        return url
    auth, _, host = rest.rpartition("@")
    user = auth.split(":", 1)[0]
    return f"{scheme}{sep}{user + ':' if user else ''}***@{host}"


class SessionStore:
    """Read-only access to what the pipeline wrote, on a single Redis or a cluster."""

    def __init__(self, client: Client, prefix: str = DEFAULT_PREFIX):
        self.client = client
        self.keys = store_keys(client, prefix)

    def each_group(self, read: Callable[[Any, int], object]) -> list:
        """`read(pipe, group)` for every slot group, in one pipeline (one round trip a node)."""
        pipe = self.client.pipeline(transaction=False)
        for group in self.keys.all_groups():
            read(pipe, group)
        return pipe.execute()

    def users(self, offset: int = 0, count: int = -1) -> list[str]:
        """User ids, sorted."""
        shares = self.each_group(lambda p, g: p.zrange(self.keys.users(g), 0, -1))
        names = sorted(u.decode() for share in shares for u in share)
        return names[offset:] if count < 0 else names[offset : offset + count]

    def user_count(self) -> int:
        return sum(self.each_group(lambda p, g: p.zcard(self.keys.users(g))))

    def last_end(self, user_id: str) -> float | None:
        """The end of the user's latest session (ms), None for an unknown user."""
        return self.client.zscore(self.keys.users(self.keys.group_of(user_id)), user_id)

    def recent_users(self, chunk: int = 1000) -> Iterator[tuple[str, int]]:
        """Every user with the end of their latest session, the most recent first, read in chunks."""
        per_group = max(16, chunk // self.keys.groups)

        def rows(group: int) -> Iterator[tuple[float, bytes]]:
            key, offset = self.keys.users(group), 0
            while True:
                batch = self.client.zrevrange(key, offset, offset + per_group - 1, withscores=True)
                for member, score in batch:
                    yield -score, member
                if len(batch) < per_group:
                    return
                offset += per_group

        for negative_end, member in heapq.merge(*(rows(g) for g in self.keys.all_groups())):
            yield member.decode(), int(-negative_end)

    def sessions(
        self, user_id: str, newest_first: bool = False, offset: int = 0, count: int = -1
    ) -> list[SessionRecord]:
        """A user's current sessions by start time."""
        history = self.keys.history(user_id)
        end = -1 if count < 0 else offset + count - 1
        starts = (self.client.zrevrange if newest_first else self.client.zrange)(history, offset, end)
        if not starts:
            return []
        raw = self.client.hmget(self.keys.sessions(user_id), starts)
        return [SessionRecord.from_json(r) for r in raw if r is not None]

    def session_count(self, user_id: str) -> int:
        return self.client.zcard(self.keys.history(user_id))

    def session(self, user_id: str, start_ms: int) -> SessionRecord | None:
        raw = self.client.hget(self.keys.sessions(user_id), str(start_ms))
        return None if raw is None else SessionRecord.from_json(raw)

    def all_sessions(self) -> list[SessionRecord]:
        """Every stored session, sorted by user and start."""
        records: list[SessionRecord] = []
        for user_id in self.users():
            records.extend(self.sessions(user_id))
        return records

    def latest_writes(self, count: int = 10) -> list[dict]:
        """The newest pane writes first: user_id, start_ms, end_ms, event_count, pane, written_ms."""
        rows = _newest(self.each_group(lambda p, g: p.xrevrange(self.keys.panes(g), count=count)), count)
        return [
            {**{k.decode(): v.decode() for k, v in fields.items()}, "written_ms": int(entry.split(b"-")[0])}
            for entry, fields in rows
        ]

    def active_users(self, since_ms: int) -> int:
        """Users whose latest session ended at or after `since_ms` (event time)."""
        return sum(self.each_group(lambda p, g: p.zcount(self.keys.users(g), since_ms, "+inf")))

    def top(self, count: int = 10) -> list[tuple[str, int]]:
        shares = self.each_group(lambda p, g: p.zrevrange(self.keys.top(g), 0, count - 1, withscores=True))
        # ZREVRANGE's own order: by score, then by member, both descending.
        rows = sorted((row for share in shares for row in share), key=lambda r: (r[1], r[0]), reverse=True)
        return [(u.decode(), int(score)) for u, score in rows[:count]]

    def stats(self) -> dict[str, int]:
        stats = dict.fromkeys(("sessions", "events", "bounces", "bots", "duration_ms"), 0)
        for share in self.each_group(lambda p, g: p.hgetall(self.keys.stats(g))):
            for name, value in share.items():
                stats[name.decode()] = stats.get(name.decode(), 0) + int(value)
        stats["users"] = self.user_count()
        return stats

    def deadletters(self, count: int = 20) -> list[dict[str, str]]:
        """The newest dead letters first."""
        rows = _newest(self.each_group(lambda p, g: p.xrevrange(self.keys.deadletters(g), count=count)), count)
        return [{"id": i.decode(), **{k.decode(): v.decode() for k, v in f.items()}} for i, f in rows]

    def deadletter_total(self) -> int:
        return sum(int(n or 0) for n in self.each_group(lambda p, g: p.get(self.keys.deadletters_total(g))))

    def deadletters_retained(self) -> int:
        return sum(self.each_group(lambda p, g: p.xlen(self.keys.deadletters(g))))

    def register_job(self, job_id: str, info: dict) -> None:
        """Remembers a streaming job that writes under this prefix, for the readers to ask it about late data."""
        self.client.hset(self.keys.jobs, job_id, json.dumps(info))

    def jobs(self) -> dict[str, dict]:
        return {k.decode(): json.loads(v) for k, v in self.client.hgetall(self.keys.jobs).items()}

    def note_job(self, job_id: str, info: dict) -> None:
        """Updates a registered job's record (never registers one)."""
        if self.client.hexists(self.keys.jobs, job_id):
            self.client.hset(self.keys.jobs, job_id, json.dumps(info))


def _newest(shares: list[list], count: int) -> list:
    """The `count` newest entries of several streams' newest-first reads, newest first."""

    def stream_id(row) -> tuple[int, int]:
        ms, seq = row[0].split(b"-")
        return int(ms), int(seq)

    return list(islice(heapq.merge(*shares, key=stream_id, reverse=True), count))
