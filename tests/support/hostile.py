"""The hostile-input corpus: tests/data/hostile/ (small items, raw bytes, outcomes in EXPECTED.tsv)
plus big ones built here, so that the repository stays small."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

CORPUS = Path(__file__).parent.parent / "data" / "hostile"
T = 1_767_225_600_000
KAFKA_MAX_BYTES = 1_000_000  # the broker's default largest record


@dataclass(frozen=True)
class Item:
    name: str
    payload: bytes | None
    outcome: str  # "parsed", or the dead-letter code

    @property
    def user_id(self) -> str | None:
        """The user a parsed item belongs to."""
        return str(json.loads(self.payload)["user_id"]) if self.outcome == "parsed" else None


def stored() -> list[Item]:
    items = []
    for line in (CORPUS / "EXPECTED.tsv").read_text().splitlines():
        if line and not line.startswith("#"):
            name, outcome = line.split("\t")
            items.append(Item(name, (CORPUS / name).read_bytes(), outcome))
    return items


def built() -> list[Item]:
    def event(user: str, **extra) -> bytes:
        return json.dumps({"user_id": user, "timestamp": T, **extra}).encode()

    deep = b'{"user_id": "g-deep", "timestamp": 1, "properties": {"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}}"
    return [
        Item("g-10mb-payload", event("g-10mb", page="/" + "x" * 10_000_000), "too_large"),
        Item("g-10kb-user-id", event("u" * 10_000), "bad_user_id"),
        Item("g-10000-properties", event("g-props", properties={f"k{i}": i for i in range(10_000)}), "parsed"),
        Item("g-deep-nesting", deep, "too_deep"),
        Item("g-3000-char-page", event("g-page", page="/" + "p" * 3000), "bad_field"),
        Item("g-5000-digit-user-id", b'{"user_id": 1' + b"0" * 5000 + b', "timestamp": 1}', "invalid_json"),
        Item("g-long-odd-id", event("g-" + "\u202e:*?[]\u0000" * 100), "parsed"),
    ]


def kafka_only() -> list[Item]:
    """Values a Kafka record can have and a line of a file cannot."""
    return [Item("k-empty-value", b"", "invalid_json"), Item("k-null-value", None, "empty")]


def for_files() -> list[Item]:
    return stored() + built()


def for_kafka() -> list[Item]:
    return [i for i in stored() + built() if len(i.payload) <= KAFKA_MAX_BYTES] + kafka_only()
