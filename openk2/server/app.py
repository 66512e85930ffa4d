"""The FastAPI app: both APIs' routes over one serving layer, the error handlers, a body-size limit, /health, /metrics."""

from __future__ import annotations

import logging
import re
import uuid
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
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
LOCAL_ORIGINS = r"https?://(localhost|127\.0\.0\.1|\[::1\])(:\d+)?"
REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


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
    install_error_handlers(app, metrics)
    # Middleware, innermost first (each added one wraps the ones before): the body limit; the key check, so nothing
    # reads a body before the key is checked; CORS, which answers a browser's preflight (it carries no key) and
    # labels 401s too; bugs made 500s; and outermost the request id, on every response.
    app.add_middleware(BodyLimit, max_bytes=config.max_body_bytes)
    app.add_middleware(AuthMiddleware, auth=auth, public_docs=config.public_docs, public_metrics=config.public_metrics)
    app.add_middleware(CORSMiddleware, allow_origins=list(config.cors_origins),
                       allow_origin_regex=None if config.cors_origins else LOCAL_ORIGINS, allow_methods=["*"],
                       allow_headers=["*"], expose_headers=["x-request-id", "request-id", "warning", "retry-after"])
    app.add_middleware(UnhandledErrors)
    app.add_middleware(RequestId)

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


class RequestId:
    """Give every response a request id, in OpenAI's header (x-request-id) and Anthropic's (request-id): the client's
    own x-request-id when it sends a sane one, else a new `req_…`. Handlers find it in request.state.request_id."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        given = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        request_id = given if REQUEST_ID.fullmatch(given) else f"req_{uuid.uuid4().hex[:24]}"
        scope.setdefault("state", {})["request_id"] = request_id

        async def send_with_id(message) -> None:
            if message["type"] == "http.response.start":
                value = request_id.encode()
                message["headers"] = [*message.get("headers", []), (b"x-request-id", value), (b"request-id", value)]
            await send(message)

        await self.app(scope, receive, send_with_id)


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
