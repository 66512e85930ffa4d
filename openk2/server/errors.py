"""Errors: APIError, each protocol's error body, and the app's handlers that turn every failure into one."""

from __future__ import annotations

import logging
import re
import traceback

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from ..engine.grammar import GrammarError
from .metrics import Metrics
from .protocol import AnthropicError, AnthropicErrorDetail, OpenAIError, OpenAIErrorDetail

logger = logging.getLogger("openk2.server")


class APIError(Exception):
    """A request the server refuses; each API renders it as its own error body."""

    def __init__(self, status: int, message: str, param: str | None = None, code: str | None = None,
                 headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.message, self.param, self.code, self.headers = status, message, param, code, headers


class PromptTooLong(APIError):
    """A prompt that leaves no room for an answer, worded as each API words it, so that clients react (Claude Code
    compacts its conversation on Anthropic's "prompt is too long", OpenAI clients look for context_length_exceeded)."""

    def __init__(self, tokens: int, context: int, param: str):
        super().__init__(400, f"This model's maximum context length is {context} tokens. However, your messages "
                              f"resulted in {tokens} tokens. Please reduce the length of the messages.", param,
                         "context_length_exceeded")
        self.tokens, self.context = tokens, context


OPENAI_ERROR_TYPES = {400: "invalid_request_error", 401: "invalid_request_error", 404: "invalid_request_error",
                      405: "invalid_request_error", 413: "invalid_request_error", 429: "rate_limit_exceeded",
                      503: "server_error"}
ANTHROPIC_ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
                         404: "not_found_error", 405: "invalid_request_error", 413: "request_too_large",
                         429: "rate_limit_error", 529: "overloaded_error"}
# Anthropic's API says "overloaded" with its own status, 529; OpenAI's with 503.
ANTHROPIC_STATUS = {503: 529}


def openai_error_body(error: APIError) -> dict:
    kind = OPENAI_ERROR_TYPES.get(error.status, "server_error")
    return OpenAIError(error=OpenAIErrorDetail(message=error.message, type=kind, param=error.param,
                                               code=error.code)).model_dump()


def anthropic_error(error: APIError) -> tuple[int, dict]:
    """(status, body) of an Anthropic error response."""
    status = ANTHROPIC_STATUS.get(error.status, error.status)
    message = f"{error.param}: {error.message}" if error.param and error.param not in error.message else error.message
    if isinstance(error, PromptTooLong):  # Anthropic's exact words; the prompt may use all but one token
        message = f"prompt is too long: {error.tokens} tokens > {error.context - 1} maximum"
    detail = AnthropicErrorDetail(type=ANTHROPIC_ERROR_TYPES.get(status, "api_error"), message=message)
    return status, AnthropicError(error=detail).model_dump()


def speaks_anthropic(request: Request) -> bool:
    """Answer in Anthropic's error format on its routes and to its clients (which send anthropic-version)."""
    return request.url.path.startswith("/v1/messages") or "anthropic-version" in request.headers


# The `role` / `type` tags of the discriminated unions in protocol.py, which pydantic writes into error locations.
UNION_TAGS = {"system", "developer", "user", "assistant", "tool", "text", "tool_use", "tool_result", "thinking",
              "redacted_thinking", "image", "document"}


def error_location(loc: tuple) -> str | None:
    """`("body", "messages", 0, "user", "content", "str")` -> `messages.0.content`: the parameter a validation
    error is about, without the union branches pydantic names in the location."""
    parts: list = []
    for i, part in enumerate(loc):
        if part == "body" and i == 0 or isinstance(part, str) and re.search(r"[\[\]]|^(str|int|float|bool)$", part):
            continue
        if part in UNION_TAGS and parts and isinstance(parts[-1], int) and i < len(loc) - 1:
            continue  # a tag right after a list index, with the field below it still to come
        parts.append(part)
    return ".".join(map(str, parts)) or None


def validation_message(problems: list[dict]) -> tuple[str, str | None]:
    """(message, parameter) for a request body that failed validation: the most specific problem, in one line."""
    first = max(problems, key=lambda p: len(p["loc"]))  # the most specific, e.g. of a union's branches
    if first["type"] == "json_invalid":
        return f"the request body is not valid JSON ({first['ctx']['error']})", None
    param = error_location(first["loc"])
    if param:
        message = f"{param}: {first['msg']}"
    elif first["type"] == "missing":
        message = "the request needs a JSON body"
    else:  # a body that is JSON but not an object, or not sent as application/json
        message = "the request body must be a JSON object, sent with Content-Type: application/json"
    if len(problems) > 1:
        message += f" (and {len(problems) - 1} more problems)"
    return message, param


def install_error_handlers(app: FastAPI, metrics: Metrics) -> None:
    """Every way a request can fail becomes its protocol's error body, counted in the metrics; `app.state.
    error_response(request, APIError)` renders one for code outside FastAPI's handlers (middleware). Bugs: see
    UnhandledErrors."""

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

    @app.exception_handler(GrammarError)
    async def grammar_error(request: Request, error: GrammarError) -> JSONResponse:
        return error_response(request, APIError(400, str(error), error.param))

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, error: RequestValidationError) -> JSONResponse:
        # The model comes first: a request for a model this server does not serve is a 404 whatever else is wrong
        # with it (a client pointed at the wrong server learns that, not which of its fields we would refuse).
        model = error.body.get("model") if isinstance(error.body, dict) else None
        if isinstance(model, str) and not request.app.state.serving.model.serves(model):
            try:
                request.app.state.serving.check_model(model)
            except APIError as wrong_model:
                return error_response(request, wrong_model)
        # 400 with the parameter named, as both APIs answer (FastAPI's default would be 422).
        message, param = validation_message(error.errors())
        return error_response(request, APIError(400, message, param))

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, error: HTTPException) -> JSONResponse:
        return error_response(request, APIError(error.status_code, str(error.detail)))


class UnhandledErrors:
    """A bug becomes a 500 in the protocol's format, with its traceback logged once per place it was raised and one
    line per request after that: a request that trips a bug once will be sent again (by a client's retries, or on
    purpose), and must not flood the log. (FastAPI's own handler for Exception re-raises, so the server logs every
    traceback again.) Outermost of the app's middleware, so failures in the others are caught too."""

    def __init__(self, app: ASGIApp):
        self.app = app
        self.logged: set[tuple] = set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = False

        async def watch(message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except Exception as error:  # noqa: BLE001
            request = Request(scope)
            frame = traceback.extract_tb(error.__traceback__)[-1:]
            site = (type(error).__name__, *((frame[0].filename, frame[0].lineno) if frame else ()))
            request_id = scope.get("state", {}).get("request_id")  # set by app.RequestId, outside this one
            if site in self.logged:
                logger.error("unhandled error in %s %s (request %s): %s: %s (traceback logged before)",
                             request.method, request.url.path, request_id, type(error).__name__, str(error)[:200])
            else:
                self.logged.add(site)
                logger.exception("unhandled error in %s %s (request %s)", request.method, request.url.path,
                                 request_id, exc_info=error)
            if not started:  # else the status line is out: all we can do is end the response
                response = scope["app"].state.error_response(request, APIError(500, "internal server error"))
                await response(scope, receive, send)
