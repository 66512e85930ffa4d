"""The FastAPI app: both APIs' routes over one serving layer, the error handlers, a body-size limit, /health, /metrics."""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from .. import __version__
from ..engine import Engine, LLMEngine
from . import agent_api, anthropic, openai, playground, responses
from .agent_api import AgentSessions
from .auth import Auth, AuthMiddleware, KeyStore, RateLimiter
from .db import open_database
from .errors import APIError, UnhandledErrors, install_error_handlers
from .metrics import Metrics
from .serving import Serving
from .settings import ModelSettings, ServerConfig
from .usage import Ledger

logger = logging.getLogger("openk2.server")


def create_app(llm: LLMEngine, model: ModelSettings, config: ServerConfig | None = None,
               agent_sessions: AgentSessions | None = None) -> FastAPI:
    """Wire the engine, the database, metrics and both APIs into an app. The engine thread starts now and
    stops when the app shuts down. `agent_sessions` (openk2.agent.sessions.AgentSessions, which `openk2 serve`
    passes) serves /v1/agent/sessions; without it those routes answer 404."""
    config = config or ServerConfig()
    database = open_database(config.db)
    engine = Engine(llm)
    limiter = RateLimiter()
    ledger = Ledger(database)
    metrics = Metrics(engine, ledger)
    serving = Serving(engine, model, ledger, metrics, limiter)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        engine.close()
        ledger.close()

    app = FastAPI(title="openk2", version=__version__, lifespan=lifespan,
                  summary="Kimi K2 over the OpenAI and Anthropic APIs")
    app.state.serving = serving
    auth = Auth(KeyStore(database), limiter, config.api_key_required, config.requests_per_minute,
                config.tokens_per_minute)
    app.state.auth = auth
    app.state.agent_sessions = agent_sessions
    if not config.api_key_required:
        logger.warning("keys are optional: requests that present no key are served anonymously, unmetered per key "
                       "(start with --api-key-required to refuse them)")
    app.include_router(openai.router)
    app.include_router(responses.router)
    app.include_router(anthropic.router)
    app.include_router(agent_api.router)
    app.include_router(playground.router)  # the page at `/` and its files
    app.add_middleware(BodyLimit, max_bytes=config.max_body_bytes)
    install_error_handlers(app, metrics)
    # Added last, so it runs first: nothing reads a body before the key is checked.
    app.add_middleware(AuthMiddleware, auth=auth, public_docs=config.public_docs, public_metrics=config.public_metrics)
    app.add_middleware(UnhandledErrors)

    @app.get("/health", tags=["Server"], responses={503: {"description": "the engine thread has stopped"}})
    async def health() -> Response:
        if not engine.is_alive:  # a stopped engine thread would leave every request hanging: say so
            return JSONResponse({"status": "engine stopped"}, 503)
        return JSONResponse({"status": "ok"})

    @app.get("/metrics", tags=["Server"], response_class=Response,
             responses={200: {"content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}}}})
    async def prometheus() -> Response:
        return Response(metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

    return app


class BodyLimit:
    """Refuse request bodies over max_bytes with 413, by Content-Length or while a chunked body streams in."""

    def __init__(self, app: ASGIApp, max_bytes: int):
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        too_large = f"the request body is larger than {self.max_bytes} bytes"
        length = dict(scope["headers"]).get(b"content-length", b"0")
        if length.isdigit() and int(length) > self.max_bytes:
            response = scope["app"].state.error_response(Request(scope), APIError(413, too_large))
            return await response(scope, receive, send)
        received = 0

        async def counting_receive():
            nonlocal received
            event = await receive()
            received += len(event.get("body", b""))
            if received > self.max_bytes:
                raise HTTPException(413, too_large)  # FastAPI passes HTTPException through its body reader
            return event

        await self.app(scope, counting_receive, send)
