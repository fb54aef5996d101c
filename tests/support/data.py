"""Test data shared by the suites: odd user ids, bad lines, edge-case events, records."""

import gzip
import random

from spectator.core.model import SessionRecord

ODD_IDS = ["a:b", "*", "user?", "[x]", "with space", "ünï©ødé 👀", "a:1", "{tag}", "../etc", "%41"]
GAP_S = 60
PANE_FIELDS = ("pane", "updated_at_ms", "window_end_ms", "pane_index")
BAD_LINES = [
    "{not json",
    '{"user_id": "x"}',
    '{"user_id": "x", "timestamp": "tomorrow"}',
    '{"user_id": "", "timestamp": 1}',
    '{"user_id": "x", "timestamp": 1, "extra": true}',
    "[1, 2, 3]",
]


def rec(start, end, count, pane="ON_TIME", user="u", bot=False, gap=50):
    return SessionRecord(
        user_id=user,
        start_ms=start,
        end_ms=end,
        duration_ms=end - start,
        event_count=count,
        distinct_pages=1,
        entry_page="/",
        exit_page="/",
        event_types={"page_view": count},
        is_bounce=count == 1,
        is_bot=bot,
        pane=pane,
        updated_at_ms=0,
        window_end_ms=end + gap,
    )


def edge_case_events(seed=1, base_ms=1_767_225_600_000):
    rng = random.Random(seed)
    events = []
    for user in [*ODD_IDS, 12345, "bot"]:
        t = base_ms + rng.randrange(0, 10_000)
        for i in range(rng.randrange(1, 40) if user != "bot" else 200):
            step = rng.choice([0, 1, 999, GAP_S * 1000 - 1, GAP_S * 1000, GAP_S * 1000 + 1, 30_000])
            t += 100 if user == "bot" else step
            stamp = t if i % 3 else datetime_iso(t, rng)
            events.append({"user_id": user, "timestamp": stamp, "page": rng.choice(["/", "/a", None])})
    rng.shuffle(events)  # out of order, as a replayed log may be
    return events


def datetime_iso(t_ms, rng):
    from datetime import datetime, timedelta, timezone

    offset = timezone(timedelta(minutes=rng.choice([0, 330, -300])))
    text = datetime.fromtimestamp(t_ms / 1000, tz=offset).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")


def write_lines(path, lines):
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "wt", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n\n")
