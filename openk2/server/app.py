"""The FastAPI app: both APIs' routes over one serving layer, error bodies in each protocol's format, /health, /metrics."""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from .. import __version__
from ..engine import Engine, LLMEngine
from . import anthropic, openai
from .auth import Auth, KeyStore, RateLimiter
from .db import open_database
from .metrics import Metrics
from .protocol import APIError, anthropic_error, error_location, openai_error_body
from .serving import Serving
from .settings import ModelSettings, ServerConfig
from .usage import Ledger

logger = logging.getLogger("openk2.server")


def create_app(llm: LLMEngine, model: ModelSettings, config: ServerConfig | None = None) -> FastAPI:
    """Wire the engine, the database, metrics and both APIs into an app. The engine thread starts now and
    stops when the app shuts down."""
    config = config or ServerConfig()
    database = open_database(config.db)
    engine = Engine(llm)
    limiter = RateLimiter()
    ledger = Ledger(database)
    metrics = Metrics(engine)
    serving = Serving(engine, model, ledger, metrics, limiter)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        engine.close()
        ledger.close()

    app = FastAPI(title="openk2", version=__version__, lifespan=lifespan,
                  summary="Kimi K2 over the OpenAI and Anthropic APIs")
    app.state.serving = serving
    app.state.auth = Auth(KeyStore(database), limiter, config.api_key_required, config.requests_per_minute,
                          config.tokens_per_minute)
    app.include_router(openai.router)
    app.include_router(anthropic.router)
    app.add_middleware(BodyLimit, max_bytes=config.max_body_bytes)

    def error_response(request: Request, error: APIError) -> JSONResponse:
        if speaks_anthropic(request):
            status, body = anthropic_error(error)
        else:
            status, body = error.status, openai_error_body(error)
        metrics.errors.labels(str(status)).inc()
        return JSONResponse(body, status, headers=error.headers)

    app.state.error_response = error_response

    @app.exception_handler(APIError)
    async def api_error(request: Request, error: APIError) -> JSONResponse:
        return error_response(request, error)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, error: RequestValidationError) -> JSONResponse:
        # 400 with the parameter named, as both APIs answer (FastAPI's default would be 422).
        problems = error.errors()
        first = max(problems, key=lambda p: len(p["loc"]))  # the most specific, e.g. of a union's branches
        if first["type"] == "json_invalid":
            return error_response(request, APIError(400, f"the request body is not valid JSON ({first['ctx']['error']})"))
        param = error_location(first["loc"])
        if param:
            message = f"{param}: {first['msg']}"
        elif first["type"] == "missing":
            message = "the request needs a JSON body"
        else:  # a body that is JSON but not an object, or not sent as application/json
            message = "the request body must be a JSON object, sent with Content-Type: application/json"
        if len(problems) > 1:
            message += f" (and {len(problems) - 1} more problems)"
        return error_response(request, APIError(400, message, param))

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, error: HTTPException) -> JSONResponse:
        return error_response(request, APIError(error.status_code, str(error.detail)))

    @app.exception_handler(Exception)
    async def internal_error(request: Request, error: Exception) -> JSONResponse:
        logger.exception("unhandled error in %s %s", request.method, request.url.path, exc_info=error)
        return error_response(request, APIError(500, "internal server error"))

    @app.get("/", tags=["Server"])
    async def root() -> dict:
        """Who is here."""
        return {"name": "openk2", "version": __version__, "model": model.name}

    app.head("/", include_in_schema=False)(root)  # agent front-ends probe `HEAD /` before they start

    @app.get("/health", tags=["Server"], responses={503: {"description": "the engine thread has stopped"}})
    async def health() -> Response:
        if not engine._thread.is_alive():  # a failed step stops the engine loop: say so rather than hang
            return JSONResponse({"status": "engine stopped"}, 503)
        return JSONResponse({"status": "ok"})

    @app.get("/metrics", tags=["Server"], response_class=Response,
             responses={200: {"content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}}}})
    async def prometheus() -> Response:
        return Response(metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

    return app


def speaks_anthropic(request: Request) -> bool:
    """Answer in Anthropic's error format on its routes and to its clients (which send anthropic-version)."""
    return request.url.path.startswith("/v1/messages") or "anthropic-version" in request.headers


class BodyLimit:
    """Refuse request bodies over max_bytes with 413, by Content-Length or while a chunked body streams in."""

    def __init__(self, app: ASGIApp, max_bytes: int):
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        message = f"the request body is larger than {self.max_bytes} bytes"
        length = dict(scope["headers"]).get(b"content-length", b"0")
        if length.isdigit() and int(length) > self.max_bytes:
            response = scope["app"].state.error_response(Request(scope), APIError(413, message))
            return await response(scope, receive, send)
        received = 0

        async def counting_receive():
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_bytes:
                raise HTTPException(413, message)  # FastAPI passes HTTPException through its body reader
            return message

        await self.app(scope, counting_receive, send)
