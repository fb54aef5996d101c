"""The two values the pipeline passes around: ClickEvent in, SessionRecord out."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

MAX_USER_ID_LENGTH = 1024
MAX_TEXT_LENGTH = 2048  # event_type, page, referrer: they end up in every stored session
MAX_EVENT_BYTES = 1_000_000  # Kafka's default largest record
# Epoch ms accepted as event time: 1970 up to the year 5138, well inside Beam's timestamp range.
MAX_TIMESTAMP_MS = 10**14
OPTIONAL_FIELDS = {"event_type", "page", "referrer", "properties"}
KNOWN_FIELDS = {"user_id", "timestamp"} | OPTIONAL_FIELDS
PANE_NAMES = ("EARLY", "ON_TIME", "LATE")


class BadEvent(ValueError):
    """An event that breaks the contract; `code` is a short label for counters."""

    def __init__(self, code: str, reason: str):
        super().__init__(reason)
        self.code = code


@dataclass(frozen=True, slots=True)
class ClickEvent:
    user_id: str
    timestamp_ms: int
    event_type: str = "page_view"
    page: str | None = None
    referrer: str | None = None
    properties: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class DeadLetter:
    payload: str
    reason: str
    code: str
    origin: str = ""


def parse_timestamp(value: Any) -> int:
    """Epoch ms from a JSON integer or an ISO-8601 string with an offset."""
    if type(value) is int:  # not bool
        ms = value
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise BadEvent("bad_timestamp", f"timestamp {value!r} is not ISO-8601") from None
        if parsed.tzinfo is None:
            raise BadEvent("bad_timestamp", f"timestamp {value!r} has no UTC offset")
        ms = round(parsed.timestamp() * 1000)
    else:
        kind = type(value).__name__
        raise BadEvent("bad_timestamp", f"timestamp must be epoch ms or ISO-8601, got {kind}")
    if not 0 <= ms < MAX_TIMESTAMP_MS:
        raise BadEvent("bad_timestamp", f"timestamp {value!r} is out of range")
    return ms


def parse_event(payload: str | bytes | None) -> ClickEvent:
    """Parse one raw event; raises BadEvent with a reason when it breaks the contract.

    BadEvent is the only exception it raises, whatever the payload: on a streaming runner a
    record that raises anything else would be retried forever.
    """
    user_id, timestamp_ms, event_type, page, referrer, properties = parse_fields(payload)
    return ClickEvent(user_id, timestamp_ms, event_type, page, referrer, properties or {})


EventFields = tuple[str, int, str, "str | None", "str | None", "dict[str, Any] | None"]


def parse_fields(payload: str | bytes | None) -> EventFields:
    """What parse_event checks and returns, as a tuple: for a caller that needs no ClickEvent."""
    obj = _json_object(payload)
    if not KNOWN_FIELDS.issuperset(obj):
        raise BadEvent("unknown_field", f"unknown field(s): {', '.join(sorted(obj.keys() - KNOWN_FIELDS))}")
    user_id = obj.get("user_id")
    if type(user_id) is not str:  # the common case first: this runs once per event
        if "user_id" not in obj:
            raise BadEvent("missing_user_id", "user_id is missing")
        if type(user_id) is not int:  # bool is not accepted: it is a subclass, not int itself
            raise BadEvent("bad_user_id", "user_id must be a non-empty string or an integer")
        user_id = str(user_id)
    if not user_id:
        raise BadEvent("bad_user_id", "user_id must be a non-empty string or an integer")
    if len(user_id) > MAX_USER_ID_LENGTH:
        raise BadEvent("bad_user_id", f"user_id is longer than {MAX_USER_ID_LENGTH} characters")
    if not user_id.isascii() and not _is_unicode(user_id):
        raise BadEvent("bad_user_id", "user_id is not valid Unicode (it holds a lone surrogate)")
    if "timestamp" not in obj:
        raise BadEvent("missing_timestamp", "timestamp is missing")
    event_type = obj.get("event_type")
    if event_type is None:
        event_type = "page_view"
    elif type(event_type) is not str or not event_type:
        raise BadEvent("bad_field", "event_type must be a non-empty string")
    page, referrer, properties = obj.get("page"), obj.get("referrer"), obj.get("properties")
    # This runs once per event: the common case (each text absent, or a short ASCII string) passes
    # at once; any other goes through every check, in the order that picks the reason.
    if not (
        len(event_type) <= MAX_TEXT_LENGTH
        and event_type.isascii()
        and (page is None or (type(page) is str and len(page) <= MAX_TEXT_LENGTH and page.isascii()))
        and (referrer is None or (type(referrer) is str and len(referrer) <= MAX_TEXT_LENGTH and referrer.isascii()))
    ):
        _check_texts(event_type, page, referrer)
    if properties is not None and type(properties) is not dict:
        raise BadEvent("bad_field", "properties must be a JSON object")
    timestamp = obj["timestamp"]
    if type(timestamp) is int and 0 <= timestamp < MAX_TIMESTAMP_MS:  # the common case, as parse_timestamp checks it
        timestamp_ms = timestamp
    else:
        timestamp_ms = parse_timestamp(timestamp)
    return user_id, timestamp_ms, event_type, page, referrer, properties


def _check_texts(event_type: str, page: Any, referrer: Any) -> None:
    for name, value in (("event_type", event_type), ("page", page), ("referrer", referrer)):
        if value is None:
            continue
        if type(value) is not str:
            raise BadEvent("bad_field", f"{name} must be a string, got {type(value).__name__}")
        if len(value) > MAX_TEXT_LENGTH:
            raise BadEvent("bad_field", f"{name} is longer than {MAX_TEXT_LENGTH} characters")
        if not _is_unicode(value):
            raise BadEvent("bad_field", f"{name} is not valid Unicode (it holds a lone surrogate)")


def _json_object(payload: str | bytes | None) -> dict:
    if payload is None:
        raise BadEvent("empty", "the record has no value")
    if len(payload) > MAX_EVENT_BYTES:
        raise BadEvent("too_large", f"the event has {len(payload):,} bytes; at most {MAX_EVENT_BYTES:,} are accepted")
    # orjson is faster (BENCHMARKS.md, "Figures behind the code") but not the same parser: it
    # refuses NaN and lone surrogates, and reads integers past 64 bits as floats. There the
    # standard parser decides: the contract is its.
    raw = payload if isinstance(payload, bytes) else payload.encode(errors="surrogatepass")
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError:
        obj = _stdlib_loads(payload)
    else:
        if type(obj) is not dict or _holds_float(obj):
            obj = _stdlib_loads(payload)
    if type(obj) is not dict:
        raise BadEvent("not_object", f"event must be a JSON object, got {type(obj).__name__}")
    repeated = _repeated_key(raw)
    if repeated:
        raise BadEvent("duplicate_field", f"{repeated} is given twice: parsers disagree on which one counts")
    return obj


def _holds_float(obj: dict) -> bool:
    """Whether a value at any depth is a float (rare in events): maybe an integer orjson widened."""
    for value in obj.values():  # the common event is flat: one pass over its values settles it
        kind = type(value)
        if kind is float:
            return True
        if kind is dict or kind is list:
            break
    else:
        return False
    todo: list[dict | list] = [obj]
    while todo:
        container = todo.pop()
        for value in container.values() if type(container) is dict else container:
            kind = type(value)
            if kind is float:
                return True
            if kind is dict or kind is list:
                todo.append(value)
    return False


def _stdlib_loads(payload: str | bytes) -> Any:
    try:
        return json.loads(payload.decode() if isinstance(payload, bytes) else payload)
    except (ValueError, UnicodeDecodeError) as e:
        raise BadEvent("invalid_json", f"not valid UTF-8 JSON: {e}") from None
    except RecursionError:
        raise BadEvent("too_deep", "the JSON is nested too deeply") from None


def _repeated_key(raw: bytes) -> str | None:
    """user_id or timestamp given twice at the top level: they decide whose session an event joins,
    and JSON parsers disagree on which one counts (other repeated keys: the last one counts).
    Counting their quoted names settles almost every event without a second parse; escapes (\\u)
    or a repeated name force the exact check."""
    if b"\\u" not in raw and raw.count(b'"user_id"') < 2 and raw.count(b'"timestamp"') < 2:
        return None
    names = [key for key, _ in json.loads(raw.decode(errors="surrogatepass"), object_pairs_hook=lambda items: items)]
    for name in ("user_id", "timestamp"):
        if names.count(name) > 1:
            return name
    return None


def _is_unicode(text: str) -> bool:
    if text.isascii():
        return True
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


@dataclass(frozen=True, slots=True)
class SessionRecord:
    user_id: str
    start_ms: int
    end_ms: int
    duration_ms: int
    event_count: int
    distinct_pages: int
    entry_page: str | None
    exit_page: str | None
    event_types: dict[str, int]
    is_bounce: bool
    is_bot: bool
    pane: str
    updated_at_ms: int
    # Beyond the contract: the window's exclusive end (last event + gap) and the pane's
    # position, which the Redis upsert uses to tell newer panes from older ones.
    window_end_ms: int = 0
    pane_index: int = 0

    def _fields(self) -> dict[str, Any]:
        # Not dataclasses.asdict: its deep copy is the slowest step of writing a session.
        return {name: getattr(self, name) for name in RECORD_FIELDS}

    def to_json(self) -> str:
        return json.dumps(self._fields(), ensure_ascii=False, sort_keys=True)

    def to_stored_json(self) -> bytes:
        """The form Redis holds: the same object as to_json, compact, made by orjson (faster, and
        one is made for every pane written: BENCHMARKS.md, "Figures behind the code")."""
        return orjson.dumps(self._fields(), option=orjson.OPT_SORT_KEYS)

    @classmethod
    def from_json(cls, text: str | bytes) -> SessionRecord:
        obj = json.loads(text)
        return cls(**{k: v for k, v in obj.items() if k in RECORD_FIELDS})


RECORD_FIELDS = tuple(f.name for f in dataclasses.fields(SessionRecord))
