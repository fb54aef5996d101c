"""An independent plain-Python sessionizer: the oracle the pipeline's output is checked against."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime


def reference_sessions(events: list[dict], gap_ms: int, bot_threshold: int) -> list[dict]:
    """Sessions of good events (dicts as in the contract), sorted by user and start, without pane fields."""
    by_user: dict[str, list[tuple[int, str, str]]] = defaultdict(list)
    for obj in events:
        ts = obj["timestamp"]
        if isinstance(ts, str):
            ts = round(datetime.fromisoformat(ts).timestamp() * 1000)
        by_user[str(obj["user_id"])].append((ts, obj.get("page") or "", obj.get("event_type") or "page_view"))
    out = []
    for user in sorted(by_user):
        events = sorted(by_user[user])
        session = [events[0]]
        for ev in events[1:]:
            if ev[0] - session[-1][0] >= gap_ms:
                out.append(_record(user, session, bot_threshold))
                session = []
            session.append(ev)
        out.append(_record(user, session, bot_threshold))
    return out


def _record(user: str, events: list[tuple[int, str, str]], bot_threshold: int) -> dict:
    times = [t for t, _, _ in events]
    bot = any(times[i + bot_threshold] - times[i] < 60_000 for i in range(len(times) - bot_threshold))
    return {
        "user_id": user,
        "start_ms": times[0],
        "end_ms": times[-1],
        "duration_ms": times[-1] - times[0],
        "event_count": len(events),
        "distinct_pages": len({p for _, p, _ in events if p}),
        "entry_page": min(events)[1] or None,
        "exit_page": max(events)[1] or None,
        "event_types": dict(sorted(Counter(t for _, _, t in events).items())),
        "is_bounce": len(events) == 1,
        "is_bot": bot,
    }
