import json

import pytest

from spectator.core.model import BadEvent, SessionRecord, parse_event, parse_timestamp
from tests.support.data import ODD_IDS


@pytest.mark.parametrize(
    "value, expected",
    [
        (1767225600000, 1767225600000),
        ("2026-01-01T00:00:00Z", 1767225600000),
        ("2026-01-01T05:30:00+05:30", 1767225600000),
        ("2026-01-01T00:00:00.123-01:00", 1767229200123),
        (0, 0),
    ],
)
def test_timestamps(value, expected):
    assert parse_timestamp(value) == expected


@pytest.mark.parametrize("value", [True, 1.5, "2026-01-01T00:00:00", "yesterday", -1, 10**15, None, [1]])
def test_bad_timestamps(value):
    with pytest.raises(BadEvent) as e:
        parse_timestamp(value)
    assert e.value.code == "bad_timestamp"


def test_full_event():
    event = parse_event(
        json.dumps(
            {
                "user_id": 42,
                "timestamp": "2026-01-01T00:00:00Z",
                "event_type": "click",
                "page": "/a",
                "referrer": "https://x/",
                "properties": {"k": 1},
            }
        ).encode()
    )
    assert (event.user_id, event.timestamp_ms, event.event_type, event.page) == ("42", 1767225600000, "click", "/a")
    assert event.properties == {"k": 1} and event.referrer == "https://x/"


def test_defaults():
    event = parse_event('{"user_id": "u", "timestamp": 5}')
    assert (event.event_type, event.page, event.referrer, event.properties) == ("page_view", None, None, {})


@pytest.mark.parametrize("user_id", ODD_IDS)
def test_odd_user_ids_kept_verbatim(user_id):
    assert parse_event(json.dumps({"user_id": user_id, "timestamp": 1})).user_id == user_id


@pytest.mark.parametrize(
    "payload, code",
    [
        (b"{not json", "invalid_json"),
        (b"\xff\xfe{}", "invalid_json"),
        (b"", "invalid_json"),
        (b"[1, 2]", "not_object"),
        (b'"text"', "not_object"),
        (b'{"timestamp": 1}', "missing_user_id"),
        (b'{"user_id": "", "timestamp": 1}', "bad_user_id"),
        (b'{"user_id": null, "timestamp": 1}', "bad_user_id"),
        (b'{"user_id": true, "timestamp": 1}', "bad_user_id"),
        (b'{"user_id": 1.5, "timestamp": 1}', "bad_user_id"),
        (b'{"user_id": "u"}', "missing_timestamp"),
        (b'{"user_id": "u", "timestamp": "soon"}', "bad_timestamp"),
        (b'{"user_id": "u", "timestamp": 1, "page": 3}', "bad_field"),
        (b'{"user_id": "u", "timestamp": 1, "properties": [1]}', "bad_field"),
        (b'{"user_id": "u", "timestamp": 1, "event_type": ""}', "bad_field"),
        (b'{"user_id": "u", "timestamp": 1, "colour": "red"}', "unknown_field"),
    ],
)
def test_bad_events(payload, code):
    with pytest.raises(BadEvent) as e:
        parse_event(payload)
    assert e.value.code == code
    assert str(e.value)


def test_user_id_length_is_capped():
    with pytest.raises(BadEvent):
        parse_event(json.dumps({"user_id": "x" * 1025, "timestamp": 1}))


def test_session_record_round_trips_json():
    record = SessionRecord("ü:*", 1, 2, 1, 2, 1, "/a", None, {"click": 2}, False, False, "LATE", 9, 52, 3)
    assert SessionRecord.from_json(record.to_json()) == record
