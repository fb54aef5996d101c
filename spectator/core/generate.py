"""A seeded, realistic clickstream: users with sessions of ~8 events ~40 s apart, some bots."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator

PAGES = ["/", "/search", "/products", "/product/42", "/product/7", "/cart", "/checkout", "/account", "/help", "/blog"]
TYPES = ["page_view"] * 6 + ["click", "click", "scroll", "add_to_cart"]
REFERRERS = [None, None, "https://www.google.com/", "https://news.example.com/", "https://t.co/x"]
START_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z


def generate(
    users: int,
    seed: int = 7,
    span_s: float = 6 * 3600,
    gap_s: float = 1800,
    events_per_session: float = 8,
    seconds_between: float = 40,
    bot_share: float = 0.01,
) -> Iterator[dict]:
    """Events of `users` users in time order. Sessions are separated by more than the gap."""
    rng = random.Random(seed)
    events: list[dict] = []
    for n in range(users):
        user = f"user-{n:06d}"
        bot = rng.random() < bot_share
        t = rng.uniform(0, span_s / 3)
        while t < span_s:
            count = 1 + int(rng.expovariate(1 / (events_per_session - 1)))
            if bot:
                count *= 20
            for _ in range(count):
                events.append(_event(rng, user, START_MS + int(t * 1000)))
                step = rng.uniform(0.1, 1.0) if bot else rng.expovariate(1 / seconds_between)
                t += min(step, gap_s * 0.9)
            t += gap_s + rng.expovariate(1 / (span_s / 4))
    events.sort(key=lambda e: e["timestamp"])
    yield from events


def _event(rng: random.Random, user: str, t_ms: int) -> dict:
    event = {"user_id": user, "timestamp": t_ms, "event_type": rng.choice(TYPES), "page": rng.choice(PAGES)}
    referrer = rng.choice(REFERRERS)
    if referrer:
        event["referrer"] = referrer
    return event


def write_jsonl(path: str, events: Iterator[dict]) -> int:
    count = 0
    with open(path, "w", encoding="utf-8") as f:
        for event in events:
            f.write(json.dumps(event) + "\n")
            count += 1
    return count
