"""The app factory and the server; `spectator serve` calls serve()."""

from __future__ import annotations

import logging
from pathlib import Path

import redis
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from spectator.explorer.api import router
from spectator.explorer.reads import ExplorerStore
from spectator.store import DEFAULT_PREFIX, connect, redact

STATIC = Path(__file__).parent / "static"
log = logging.getLogger(__name__)


def create_app(redis_url: str, prefix: str = DEFAULT_PREFIX) -> FastAPI:
    """The explorer over the sessions stored under `prefix`; Redis is reached lazily, per request,
    so the server starts (and recovers) while Redis is down."""
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

    app.add_exception_handler(redis.ConnectionError, unavailable)
    app.add_exception_handler(redis.TimeoutError, unavailable)
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    return app


def serve(redis_url: str, prefix: str = DEFAULT_PREFIX, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Runs the explorer until interrupted."""
    app = create_app(redis_url, prefix)
    try:
        app.state.store.client.ping()
    except redis.RedisError as e:
        log.warning("Redis at %s is not reachable yet (%s); the API answers 503 until it is", redact(redis_url), e)
    print(f"session explorer on http://{host}:{port}/ (OpenAPI spec at /openapi.json), reading {redact(redis_url)}")
    uvicorn.run(app, host=host, port=port, log_level="warning")
