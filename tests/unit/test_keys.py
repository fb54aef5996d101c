"""The key layout on a single Redis and on a Redis Cluster, without a server: Redis Cluster hashes
the part of a key between the first `{` and the next `}`, so that is what these check."""

from __future__ import annotations

import hashlib
from collections import Counter

import pytest
from redis.crc import key_slot

from spectator.io.redis.calls import upsert_args
from spectator.io.redis.store import GROUPS, Keys
from tests.support.data import ODD_IDS, rec

BRACES = ["{", "}", "{}", "}{", "{x}", "a{b}c", "{{g1}}", "}{g2}{", "{g3}", "%7B"]


def test_a_single_redis_keeps_the_layout_it_always_had():
    keys = Keys("spectator:")
    assert keys.sessions("user 1") == "spectator:sessions:user%201"
    assert keys.history("a{b}") == "spectator:history:a%7Bb%7D"
    assert [keys.users(), keys.top(), keys.stats(), keys.panes()] == [
        "spectator:users", "spectator:top", "spectator:stats", "spectator:panes",
    ]  # fmt: skip
    assert [keys.deadletters(), keys.deadletters_total(), keys.jobs] == [
        "spectator:deadletters", "spectator:deadletters:total", "spectator:jobs",
    ]  # fmt: skip
    assert keys.deadletter_seen("ab12") == "spectator:deadletters:seen:ab12"
    assert list(keys.all_groups()) == [0]


@pytest.mark.parametrize("user", [*ODD_IDS, *BRACES])
def test_on_a_cluster_one_script_call_touches_one_slot(user):
    keys = Keys("spectator:", GROUPS)
    group = keys.group_of(user)
    script_keys, _ = upsert_args(keys, [rec(1, 2, 2, user=user)], group=group)
    assert len({key_slot(k.encode()) for k in script_keys}) == 1
    assert keys.sessions(user).startswith(f"spectator:{{g{group}}}:sessions:")


def test_ids_with_braces_cannot_choose_their_slot():
    keys = Keys("spectator:", GROUPS)
    for user in BRACES:
        key = keys.sessions(user)
        assert key.count("{") == key.count("}") == 1  # the group's tag, and no brace of the id's
        assert key_slot(key.encode()) == key_slot(f"g{keys.group_of(user)}".encode())


def test_users_and_dead_letters_spread_over_every_group():
    keys = Keys("spectator:", GROUPS)
    users = Counter(keys.group_of(f"user-{i:06d}") for i in range(100_000))
    assert set(users) == set(range(GROUPS)) and max(users.values()) < 2 * min(users.values())
    letters = Counter(keys.deadletter_group(hashlib.sha1(str(i).encode()).hexdigest()) for i in range(100_000))
    assert set(letters) == set(range(GROUPS)) and max(letters.values()) < 2 * min(letters.values())
    marker = keys.deadletter_seen(hashlib.sha1(b"x").hexdigest())
    group = keys.deadletter_group(hashlib.sha1(b"x").hexdigest())
    assert key_slot(marker.encode()) == key_slot(keys.deadletters(group).encode())


def test_a_prefix_with_braces_is_refused_on_a_cluster():
    assert Keys("a{b}:").users() == "a{b}:users"  # a single Redis does not care
    with pytest.raises(ValueError, match=r"a key prefix on a Redis Cluster cannot hold \{ or \}: 'a\{b\}:'"):
        Keys("a{b}:", GROUPS)
