"""Script calls on a single Redis or a Redis Cluster: one call a slot group, one pipeline a node,
WAIT for the replicas, and the errors worth another try. No Beam: the writers and `spectator
migrate` share it."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

import redis

from spectator.core.model import SessionRecord
from spectator.io.redis.store import Client, Keys, is_cluster

log = logging.getLogger(__name__)
DEADLETTER_MARKER_TTL_S = 7 * 24 * 3600


class NotReplicated(redis.RedisError):
    """Fewer replicas than asked for acknowledged a batch: the master that took it may yet lose it."""


# Worth another try of the whole batch, which is idempotent: Redis away or loading, a failover
# under way (READONLY, MASTERDOWN, CLUSTERDOWN), slots moving (MOVED, ASK, TRYAGAIN), a replica behind.
TRANSIENT = (
    redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError, redis.ReadOnlyError,
    redis.exceptions.MovedError, redis.exceptions.AskError, redis.exceptions.TryAgainError,
    redis.exceptions.ClusterDownError, redis.exceptions.MasterDownError, NotReplicated,
)  # fmt: skip
DEADLETTER_MARKER_TTL_S = 7 * 24 * 3600
PANES_MAX_LEN = 10_000  # the stream of latest writes (spectator recent)
WAIT_TIMEOUT_MS = 5000


def upsert_args(
    keys: Keys, records: Iterable[SessionRecord], ttl_ms: int = 0, group: int = 0
) -> tuple[list[str], list]:
    """KEYS and ARGV of upsert_session.lua for panes of users in one slot group."""
    script_keys = [keys.users(group), keys.top(group), keys.stats(group), keys.panes(group)]
    args: list = [ttl_ms, PANES_MAX_LEN]
    for record in records:
        user = record.user_id
        script_keys += (keys.sessions(user), keys.history(user))
        args += (user, record.start_ms, record.window_end_ms, record.to_stored_json())
    return script_keys, args


def by_group(elements: list[Any], group_of: Callable[[Any], int]) -> dict[int, list[int]]:
    """The positions of the elements in each slot group, in order: one script call a group."""
    groups: dict[int, list[int]] = {}
    for i, element in enumerate(elements):
        groups.setdefault(group_of(element), []).append(i)
    return groups


def replicas_to_wait_for(client: Client, asked: int | None) -> int:
    """`asked`, or 1 where the store's masters have replicas and 0 where they have none."""
    if asked is not None:
        return asked
    if is_cluster(client):
        return 1 if client.get_replicas() else 0
    return 1 if int(client.info("replication").get("connected_slaves", 0)) > 0 else 0


def run_calls(client: Client, calls: list[tuple[Callable, list[str], list]], replicas: int) -> list[Any]:
    """Runs script calls, each on the keys of one slot, and returns their results in order.

    One pipeline a node (a cluster pipeline refuses EVALSHA, redis/redis-py#2914), ended by WAIT on
    the same connection when replicas must hold the writes: only that connection's writes count."""
    if not is_cluster(client):
        return _run_on(client, calls, replicas)
    on_node: dict[str, list[int]] = {}
    for i, (_, keys, _) in enumerate(calls):
        on_node.setdefault(client.get_node_from_key(keys[0]).name, []).append(i)
    results: list[Any] = [None] * len(calls)
    for name, positions in on_node.items():
        node = client.get_redis_connection(client.get_node(node_name=name))
        for i, result in zip(positions, _run_on(node, [calls[i] for i in positions], replicas)):
            results[i] = result
    return results


def _run_on(client: redis.Redis, calls: list[tuple[Callable, list[str], list]], replicas: int) -> list[Any]:
    if len(calls) == 1 and not replicas:  # a single Redis's usual batch: one EVALSHA, one round trip
        run, keys, args = calls[0]
        return [run(keys=keys, args=args, client=client)]
    pipe = client.pipeline(transaction=False)
    for run, keys, args in calls:
        run(keys=keys, args=args, client=pipe)
    if replicas:
        pipe.execute_command("WAIT", replicas, WAIT_TIMEOUT_MS)
    results = pipe.execute()
    if replicas and results[-1] < replicas:
        raise NotReplicated(f"{results[-1]} of {replicas} replicas acknowledged the batch within {WAIT_TIMEOUT_MS} ms")
    return results[: len(calls)]


def upsert(client: Client, run: Callable, keys: Keys, records: list[SessionRecord], ttl_ms: int, replicas: int) -> list:
    """Upserts panes with upsert_session.lua, one call a slot group; one result code a pane, in order."""
    groups = by_group(records, lambda r: keys.group_of(r.user_id))
    calls = [
        (run, *upsert_args(keys, [records[i] for i in positions], ttl_ms, group)) for group, positions in groups.items()
    ]
    results: list[Any] = [None] * len(records)
    for positions, codes in zip(groups.values(), run_calls(client, calls, replicas)):
        for i, code in zip(positions, codes):
            results[i] = code
    return results


def refresh_topology(client: Client) -> None:
    """After a failover or a slot move: ask the cluster again which node serves which slots."""
    if not is_cluster(client):
        return
    try:
        client.nodes_manager.initialize()
    except redis.RedisError as e:  # no node answers yet: the next try asks again
        log.warning("cannot read the cluster's slots yet (%s)", e)
