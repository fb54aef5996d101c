"""Property-based fuzzing of parsing and of the session statistics (hypothesis, derandomized: the
same examples every run)."""

from __future__ import annotations

import json
import math
from itertools import pairwise

from hypothesis import given, settings
from hypothesis import strategies as st

from spectator.core.model import MAX_TIMESTAMP_MS, BadEvent, ClickEvent, _json_object, _stdlib_loads, parse_event
from spectator.core.stats import point, precombine
from spectator.transforms.sessionize import pack_points, unpack_points
from tests.support.reference import reference_sessions

FUZZ = settings(max_examples=600, derandomize=True, deadline=None)
CODES = {
    "empty", "too_large", "invalid_json", "too_deep", "not_object", "duplicate_field", "unknown_field",
    "missing_user_id", "bad_user_id", "missing_timestamp", "bad_timestamp", "bad_field",
}  # fmt: skip

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20,
)


def outcome(payload) -> str:
    """'parsed' or the dead-letter code; anything else raised fails the test."""
    try:
        parse_event(payload)
    except BadEvent as e:
        assert e.code in CODES and str(e)
        return e.code
    return "parsed"


@FUZZ
@given(st.binary(max_size=200))
def test_any_bytes_parse_or_get_a_reason(payload):
    outcome(payload)


@FUZZ
@given(st.dictionaries(st.sampled_from(["user_id", "timestamp", "page", "event_type", "x"]), json_values, max_size=5))
def test_any_json_object_parses_or_gets_a_reason(obj):
    outcome(json.dumps(obj).encode())


def stdlib_outcome(payload) -> object:
    """What the standard parser alone makes of a payload: the contract orjson must not change."""
    try:
        obj = _stdlib_loads(payload)
    except BadEvent as e:
        return e.code
    return obj if type(obj) is dict else "not_object"


def fast_outcome(payload) -> object:
    try:
        return _json_object(payload)
    except BadEvent as e:
        return e.code


EDGE_JSON = [b'{"a": NaN}', b'{"a": -Infinity}', b'{"a": 1e400}', b'{"a": 123456789012345678901234}',
             b'{"a": -9223372036854775809}', b'{"a": 18446744073709551616}', b'{"a": "\\ud800"}',
             b'\xef\xbb\xbf{"a": 1}', b'{"a": "\xed\xa0\x80"}', b"[" * 5000 + b"]" * 5000, b'{"a": 1}x']  # fmt: skip


@FUZZ
@given(st.sampled_from(EDGE_JSON) | st.binary(max_size=60) | json_values.map(lambda v: json.dumps({"a": v}).encode()))
def test_the_fast_parser_keeps_the_standard_parsers_contract(payload):
    fast, slow = fast_outcome(payload), stdlib_outcome(payload)
    # NaN != NaN: compare the JSON the two produce instead of the values.
    assert json.dumps(fast, sort_keys=True) == json.dumps(slow, sort_keys=True)


user_ids = st.text(min_size=1, max_size=30).filter(lambda u: u.encode("utf-8", "ignore").decode() == u) | st.integers()
timestamps = st.integers(min_value=0, max_value=MAX_TIMESTAMP_MS - 1)
valid_events = st.fixed_dictionaries(
    {"user_id": user_ids, "timestamp": timestamps},
    optional={"page": st.text(max_size=20), "event_type": st.text(min_size=1, max_size=10),
              "properties": st.dictionaries(st.text(max_size=5), st.integers(), max_size=3)},
)  # fmt: skip


@FUZZ
@given(valid_events)
def test_valid_events_parse_to_what_they_say(obj):
    event = parse_event(json.dumps(obj).encode())
    assert (event.user_id, event.timestamp_ms) == (str(obj["user_id"]), obj["timestamp"])
    assert event.page == obj.get("page") and event.event_type == obj.get("event_type", "page_view")


# One mutation of a valid event, and the reason it must be rejected with.
MUTATIONS = [
    ("missing_user_id", lambda o, v: o.pop("user_id")),
    ("bad_user_id", lambda o, v: o.update(user_id=v if not isinstance(v, (str, int)) or isinstance(v, bool) else None)),
    ("bad_user_id", lambda o, v: o.update(user_id="")),
    ("missing_timestamp", lambda o, v: o.pop("timestamp")),
    ("bad_timestamp", lambda o, v: o.update(timestamp=-1 - abs(v) if isinstance(v, int) else 1.5)),
    ("bad_timestamp", lambda o, v: o.update(timestamp=MAX_TIMESTAMP_MS + (abs(v) if isinstance(v, int) else 0))),
    ("unknown_field", lambda o, v: o.update(extra=v)),
    ("bad_field", lambda o, v: o.update(page=[v])),
    ("bad_field", lambda o, v: o.update(properties=[v])),
]


@FUZZ
@given(valid_events, st.sampled_from(MUTATIONS), json_values)
def test_each_broken_contract_gets_its_own_reason(obj, mutation, value):
    code, mutate = mutation
    if isinstance(value, float) and not math.isfinite(value):
        value = 0.5  # json.dumps writes NaN, which is another reason (covered by the corpus)
    mutate(obj, value)
    assert outcome(json.dumps(obj).encode()) == code


def summary(record: dict) -> tuple:
    return record["start_ms"], record["end_ms"], record["event_count"], record["distinct_pages"], record["is_bot"]


@FUZZ
@given(
    st.lists(st.tuples(st.sampled_from("abc"), st.integers(0, 600_000), st.sampled_from(["/x", "/y", None])),
             min_size=1, max_size=80),
    st.lists(st.integers(1, 79), max_size=6),
)  # fmt: skip
def test_bundled_points_join_into_the_reference_sessions(raw, cuts):
    """However events are split into bundles, packing each bundle's points by bucket and joining
    each bucket's points gives the sessions of a plain pass (gap 60 s, bot threshold 5)."""
    gap = 60_000
    events = [ClickEvent(u, t, page=p) for u, t, p in raw]
    bounds = sorted({0, len(events), *(c for c in cuts if c < len(events))})
    packed: dict[int, list[bytes]] = {}
    for a, b in pairwise(bounds):
        bundle: dict[str, list] = {}
        for e in events[a:b]:
            bundle.setdefault(e.user_id, []).append(point(e))
        for bucket, data in pack_points(bundle):
            packed.setdefault(bucket, []).append(data)
    joined = {user: points for data in packed.values() for user, points in unpack_points(data).items()}
    got = [
        (user, s.start_ms, s.end_ms, s.count, len(s.pages), s.is_bot)
        for user in sorted(joined)
        for _, _, (_, s) in precombine(user, joined[user], gap, 5)
    ]
    expected = reference_sessions([{"user_id": u, "timestamp": t, "page": p} for u, t, p in raw], gap, 5)
    assert got == [(r["user_id"], *summary(r)) for r in expected]
