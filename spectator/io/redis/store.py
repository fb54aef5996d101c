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

Reads here never scan the keyspace: users are listed from `users`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib.resources import files
from urllib.parse import quote

import redis

from spectator.core.model import SessionRecord

DEFAULT_PREFIX = "spectator:"


@dataclass(frozen=True)
class Keys:
    prefix: str = DEFAULT_PREFIX

    def sessions(self, user_id: str) -> str:
        return f"{self.prefix}sessions:{quote(user_id, safe='')}"

    def history(self, user_id: str) -> str:
        return f"{self.prefix}history:{quote(user_id, safe='')}"

    @property
    def users(self) -> str:
        return f"{self.prefix}users"

    @property
    def top(self) -> str:
        return f"{self.prefix}top"

    @property
    def stats(self) -> str:
        return f"{self.prefix}stats"

    @property
    def panes(self) -> str:
        return f"{self.prefix}panes"

    @property
    def deadletters(self) -> str:
        return f"{self.prefix}deadletters"

    @property
    def deadletters_total(self) -> str:
        return f"{self.prefix}deadletters:total"

    def deadletter_seen(self, digest: str) -> str:
        return f"{self.prefix}deadletters:seen:{digest}"

    @property
    def jobs(self) -> str:
        return f"{self.prefix}jobs"


def script(client: redis.Redis, name: str):
    """One of this package's Lua scripts (upsert_session, add_deadletter), registered with the client."""
    return client.register_script(files(__package__).joinpath(f"{name}.lua").read_text())


def connect(url: str) -> redis.Redis:
    """A client for redis://, rediss:// or unix:// URLs, with password if the URL has one."""
    return redis.Redis.from_url(url, socket_connect_timeout=5, socket_timeout=30, health_check_interval=30)


def redact(url: str) -> str:
    """The URL without its password, for messages."""
    scheme, sep, rest = url.partition("://")
    if "@" not in rest:
        return url
    auth, _, host = rest.rpartition("@")
    user = auth.split(":", 1)[0]
    return f"{scheme}{sep}{user + ':' if user else ''}***@{host}"


class SessionStore:
    """Read-only access to what the pipeline wrote."""

    def __init__(self, client: redis.Redis, prefix: str = DEFAULT_PREFIX):
        self.client = client
        self.keys = Keys(prefix)

    def users(self, offset: int = 0, count: int = -1) -> list[str]:
        """User ids, sorted."""
        names = sorted(u.decode() for u in self.client.zrange(self.keys.users, 0, -1))
        return names[offset:] if count < 0 else names[offset : offset + count]

    def user_count(self) -> int:
        return self.client.zcard(self.keys.users)

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
        rows = self.client.xrevrange(self.keys.panes, count=count)
        return [
            {**{k.decode(): v.decode() for k, v in fields.items()}, "written_ms": int(entry.split(b"-")[0])}
            for entry, fields in rows
        ]

    def active_users(self, since_ms: int) -> int:
        """Users whose latest session ended at or after `since_ms` (event time)."""
        return self.client.zcount(self.keys.users, since_ms, "+inf")

    def top(self, count: int = 10) -> list[tuple[str, int]]:
        rows = self.client.zrevrange(self.keys.top, 0, count - 1, withscores=True)
        return [(u.decode(), int(score)) for u, score in rows]

    def stats(self) -> dict[str, int]:
        raw = self.client.hgetall(self.keys.stats)
        stats = {k.decode(): int(v) for k, v in raw.items()}
        for name in ("sessions", "events", "bounces", "bots", "duration_ms"):
            stats.setdefault(name, 0)
        stats["users"] = self.user_count()
        return stats

    def deadletters(self, count: int = 20) -> list[dict[str, str]]:
        """The newest dead letters first."""
        rows = self.client.xrevrange(self.keys.deadletters, count=count)
        return [{"id": i.decode(), **{k.decode(): v.decode() for k, v in f.items()}} for i, f in rows]

    def deadletter_total(self) -> int:
        return int(self.client.get(self.keys.deadletters_total) or 0)

    def register_job(self, job_id: str, info: dict) -> None:
        """Remembers a streaming job that writes under this prefix, for the readers to ask it about late data."""
        self.client.hset(self.keys.jobs, job_id, json.dumps(info))

    def jobs(self) -> dict[str, dict]:
        return {k.decode(): json.loads(v) for k, v in self.client.hgetall(self.keys.jobs).items()}

    def note_job(self, job_id: str, info: dict) -> None:
        """Updates a registered job's record (never registers one)."""
        if self.client.hexists(self.keys.jobs, job_id):
            self.client.hset(self.keys.jobs, job_id, json.dumps(info))
