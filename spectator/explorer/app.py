"""The app factory and the server; `spectator serve` calls serve()."""

from __future__ import annotations

import hmac
import logging
from pathlib import Path

import redis
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from spectator.core.errors import UsageError
from spectator.explorer.api import router
from spectator.explorer.reads import ExplorerStore
from spectator.io.redis.store import DEFAULT_PREFIX, connect, redact

STATIC = Path(__file__).parent / "static"
LOOPBACK = {"127.0.0.1", "::1", "localhost"}
TOKEN_ENV = "SPECTATOR_EXPLORER_TOKEN"
TOKEN_COOKIE = "spectator_token"
log = logging.getLogger(__name__)


def create_app(redis_url: str, prefix: str = DEFAULT_PREFIX, token: str | None = None) -> FastAPI:
    """The explorer over the sessions stored under `prefix`; Redis is reached lazily, per request,
    so the server starts (and recovers) while Redis is down. With `token`, every request must carry
    it (see require_token)."""
    app = FastAPI(
        title="Session Spectator explorer",
        version="1.0",
        description="Read-only access to the users' session history that the pipeline keeps in Redis.",
        # Swagger UI and ReDoc load their scripts from a CDN; the explorer must work offline.
        docs_url=None,
        redoc_url=None,
    )
    app.state.store = ExplorerStore(connect(redis_url), prefix)
    where = redact(redis_url)

    # ConnectionError covers refused, reset, auth and loading; TimeoutError a Redis that hangs.
    async def unavailable(request: Request, exc: Exception) -> JSONResponse:
        log.warning("Redis at %s is unavailable: %s", where, exc)
        body = {"detail": f"Redis is unavailable at {where}: {exc}"}
        return JSONResponse(body, status_code=503, headers={"Retry-After": "5"})

    if token:
        app.middleware("http")(require_token(token))
    app.add_exception_handler(redis.ConnectionError, unavailable)
    app.add_exception_handler(redis.TimeoutError, unavailable)
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    return app


def require_token(token: str):
    """A middleware that answers 401 unless the request carries `token`: as `Authorization: Bearer`,
    as the cookie it sets, or as `?token=` (a link to the page), which sets that cookie."""
    expected = token.encode()

    def matches(given: str | None) -> bool:
        return given is not None and hmac.compare_digest(given.encode(), expected)

    async def check(request: Request, call_next):
        bearer = request.headers.get("authorization", "")
        from_query = request.query_params.get("token")
        if not (
            matches(bearer.removeprefix("Bearer ") if bearer.startswith("Bearer ") else None)
            or matches(request.cookies.get(TOKEN_COOKIE))
            or matches(from_query)
        ):
            return JSONResponse({"detail": "a token is required"}, 401, {"WWW-Authenticate": "Bearer"})
        response = await call_next(request)
        if matches(from_query):
            response.set_cookie(TOKEN_COOKIE, token, httponly=True, samesite="strict")
        return response

    return check


def serve(
    redis_url: str, prefix: str = DEFAULT_PREFIX, host: str = "127.0.0.1", port: int = 8000, token: str | None = None
) -> None:
    """Runs the explorer until interrupted. Anything but a loopback address needs a token."""
    if not token and host not in LOOPBACK:
        raise UsageError(
            f"serving on {host} exposes every user's sessions: pass --token (or set {TOKEN_ENV}), or keep the "
            "default --host 127.0.0.1"
        )
    app = create_app(redis_url, prefix, token)
    try:
        app.state.store.client.ping()
    except redis.RedisError as e:
        log.warning("Redis at %s is not reachable yet (%s); the API answers 503 until it is", redact(redis_url), e)
    link = f"http://{host}:{port}/" + ("?token=…" if token else "")
    print(f"session explorer on {link} (OpenAPI spec at /openapi.json), reading {redact(redis_url)}")
    uvicorn.run(app, host=host, port=port, log_level="warning")
