"""The read-only JSON API under /api/."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request

from spectator.core.model import MAX_TIMESTAMP_MS, MAX_USER_ID_LENGTH
from spectator.explorer import schemas
from spectator.explorer.figures import histogram, percentile
from spectator.explorer.reads import ExplorerStore
from spectator.flink.late import late_data

MAX_LIMIT = 500
MAX_OFFSET = 10**9  # far past any history, well inside Redis' integer range

ERRORS = {
    404: {"model": schemas.ErrorMessage, "description": "unknown user or session"},
    503: {"model": schemas.ErrorMessage, "description": "Redis is unreachable"},
}
USER_ID = {"min_length": 1, "max_length": MAX_USER_ID_LENGTH, "description": "the user id, verbatim"}
PathUser = Annotated[str, Path(**USER_ID, examples=["user-000001"])]
QueryUser = Annotated[str, Query(**USER_ID, examples=["user-000001"])]
Start = Annotated[int, Path(ge=0, lt=MAX_TIMESTAMP_MS, description="the session's start, epoch ms")]
QueryStart = Annotated[int, Query(ge=0, lt=MAX_TIMESTAMP_MS, description="the session's start, epoch ms")]
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET)]


Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description=f"at most {MAX_LIMIT}")]


def get_store(request: Request) -> ExplorerStore:
    return request.app.state.store


Store = Annotated[ExplorerStore, Depends(get_store)]
router = APIRouter(prefix="/api", responses={503: ERRORS[503]})


@router.get("/health", response_model=schemas.Health)
def health(store: Store) -> schemas.Health:
    store.client.ping()
    return schemas.Health(redis="ok")


@router.get("/users", response_model=schemas.UserSearchResult)
def search_users(
    store: Store, prefix: Annotated[str, Query(max_length=MAX_USER_ID_LENGTH)] = "", limit: Limit = 20
) -> schemas.UserSearchResult:
    """Users whose id starts with `prefix` (case-sensitive), over a bounded walk of the users index."""
    found = store.search_users(prefix, limit)
    hits = [schemas.UserHit(user_id=u, last_seen_ms=t) for u, t in found.users]
    return schemas.UserSearchResult(prefix=prefix, users=hits, scanned=found.scanned, complete=found.complete)


def session_page(store: ExplorerStore, user_id: str, offset: int, limit: int) -> schemas.SessionPage:
    total = store.session_count(user_id)
    if total == 0 and not store.has_user(user_id):
        raise HTTPException(404, f"no sessions stored for user {user_id!r}")
    sessions = store.sessions(user_id, newest_first=True, offset=offset, count=limit)
    return schemas.SessionPage(user_id=user_id, total=total, offset=offset, limit=limit, sessions=sessions)


def one_session(store: ExplorerStore, user_id: str, start_ms: int) -> schemas.Session:
    record = store.session(user_id, start_ms)
    if record is None:
        raise HTTPException(404, f"no session of user {user_id!r} starts at {start_ms}")
    return record


@router.get("/users/{user_id:path}/sessions", response_model=schemas.SessionPage, responses={404: ERRORS[404]})
def user_sessions(store: Store, user_id: PathUser, offset: Offset = 0, limit: Limit = 50) -> schemas.SessionPage:
    """A user's sessions, newest first. The id may hold `/` (percent-encoded or not); ids that are
    exactly `.` or `..` are rewritten by URL normalization, so use /api/sessions for those."""
    return session_page(store, user_id, offset, limit)


@router.get("/users/{user_id:path}/sessions/{start_ms}", response_model=schemas.Session, responses={404: ERRORS[404]})
def user_session(store: Store, user_id: PathUser, start_ms: Start) -> schemas.Session:
    return one_session(store, user_id, start_ms)


@router.get("/sessions", response_model=schemas.SessionPage, responses={404: ERRORS[404]})
def sessions_by_query(store: Store, user_id: QueryUser, offset: Offset = 0, limit: Limit = 50) -> schemas.SessionPage:
    """The same as /api/users/{user_id}/sessions, with the id as a query parameter: any id works."""
    return session_page(store, user_id, offset, limit)


@router.get("/session", response_model=schemas.Session, responses={404: ERRORS[404]})
def session_by_query(store: Store, user_id: QueryUser, start_ms: QueryStart) -> schemas.Session:
    return one_session(store, user_id, start_ms)


@router.get("/top", response_model=schemas.Leaderboard)
def top(store: Store, limit: Limit = 10) -> schemas.Leaderboard:
    """The engagement leaderboard: events over each user's current sessions."""
    rows = store.top(limit)
    leaders = [schemas.Leader(rank=i, user_id=u, events=n) for i, (u, n) in enumerate(rows, start=1)]
    return schemas.Leaderboard(leaders=leaders)


@router.get("/summary", response_model=schemas.Summary)
def summary(store: Store) -> schemas.Summary:
    """Totals are exact (kept by the pipeline); duration percentiles and the histogram come from a
    bounded sample: the 2,000 most recently active users, their 200 newest sessions each, at most
    20,000 sessions. `durations.complete` says whether that covered everything."""
    stats = store.stats()
    sample = store.duration_sample()
    values = sorted(sample.durations_ms)
    edges, counts = histogram(values)
    durations = schemas.Durations(
        sampled_sessions=len(values),
        sampled_users=sample.users,
        complete=sample.complete,
        p50_ms=percentile(values, 50),
        p90_ms=percentile(values, 90),
        p99_ms=percentile(values, 99),
        histogram_edges_ms=edges,
        histogram_counts=counts,
    )
    mean = stats["duration_ms"] // stats["sessions"] if stats["sessions"] else None
    late = late_data(store) if store.jobs() else None
    return schemas.Summary(
        **{k: stats[k] for k in ("users", "sessions", "events", "bounces", "bots")},
        mean_duration_ms=mean,
        deadletters=store.deadletter_total(),
        late_dropped=late.dropped if late else None,
        late_unreachable=late.unreachable if late else [],
        durations=durations,
    )


@router.get("/deadletters", response_model=schemas.DeadLetters)
def deadletters(store: Store, limit: Limit = 20) -> schemas.DeadLetters:
    """The newest rejected events, and how many there were in all."""
    letters = [schemas.DeadLetter(**d) for d in store.deadletters(limit)]
    retained = store.deadletters_retained()
    return schemas.DeadLetters(total=store.deadletter_total(), retained=retained, letters=letters)
