"""Response models: they make the OpenAPI spec precise enough for schemathesis to check."""

from __future__ import annotations

from pydantic import BaseModel, Field

from spectator.core.model import SessionRecord


class ErrorMessage(BaseModel):
    detail: str


# The API returns SessionRecord itself, so its schema cannot drift from what the pipeline writes.
Session = SessionRecord


class SessionPage(BaseModel):
    user_id: str
    total: int = Field(description="the user's stored sessions")
    offset: int
    limit: int
    sessions: list[Session] = Field(description="newest first")


class UserHit(BaseModel):
    user_id: str
    last_seen_ms: int = Field(description="end of the user's latest session")


class UserSearchResult(BaseModel):
    prefix: str
    users: list[UserHit] = Field(description="most recently active first; an exact match leads")
    scanned: int = Field(description="members of the users index examined")
    complete: bool = Field(description="whether the whole index was examined")


class Leader(BaseModel):
    rank: int
    user_id: str
    events: int


class Leaderboard(BaseModel):
    leaders: list[Leader]


class Durations(BaseModel):
    sampled_sessions: int
    sampled_users: int
    complete: bool = Field(description="true when every stored session was sampled: the figures are exact")
    p50_ms: int | None
    p90_ms: int | None
    p99_ms: int | None
    histogram_edges_ms: list[int] = Field(description="bin edges, one more than counts")
    histogram_counts: list[int]


class Summary(BaseModel):
    users: int
    sessions: int
    events: int
    bounces: int
    bots: int
    mean_duration_ms: int | None = Field(description="exact, over every stored session")
    deadletters: int
    late_dropped: int | None = Field(
        description="late elements (events, or runs of one user's events) the streaming jobs writing here dropped, "
        "at least, read from their metrics; null when no streaming job registered itself"
    )
    late_unreachable: list[str] = Field(description="clusters of those jobs that did not answer")
    durations: Durations


class DeadLetter(BaseModel):
    id: str
    payload: str = ""
    reason: str = ""
    code: str = ""
    origin: str = ""


class DeadLetters(BaseModel):
    total: int = Field(description="dead letters ever written")
    retained: int = Field(description="dead letters still in the capped stream")
    letters: list[DeadLetter] = Field(description="newest first")


class Health(BaseModel):
    redis: str
