"""Errors: APIError, each protocol's error body, and the app's handlers that turn every failure into one."""

from __future__ import annotations

import logging
import re

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

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
    detail = AnthropicErrorDetail(type=ANTHROPIC_ERROR_TYPES.get(status, "api_error"), message=message)
    return status, AnthropicError(error=detail).model_dump()


def speaks_anthropic(request: Request) -> bool:
    """Answer in Anthropic's error format on its routes and to its clients (which send anthropic-version)."""
    return request.url.path.startswith("/v1/messages") or "anthropic-version" in request.headers


# The `role` / `type` tags of the discriminated unions in protocol.py, which pydantic writes into error locations.
UNION_TAGS = {"system", "developer", "user", "assistant", "tool", "text", "tool_use", "tool_result", "thinking",
              "redacted_thinking"}


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
    error_response(request, APIError)` renders one for code outside FastAPI's handlers (middleware)."""

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
        # 400 with the parameter named, as both APIs answer (FastAPI's default would be 422).
        message, param = validation_message(error.errors())
        return error_response(request, APIError(400, message, param))

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, error: HTTPException) -> JSONResponse:
        return error_response(request, APIError(error.status_code, str(error.detail)))

    @app.exception_handler(Exception)
    async def internal_error(request: Request, error: Exception) -> JSONResponse:
        logger.exception("unhandled error in %s %s", request.method, request.url.path, exc_info=error)
        return error_response(request, APIError(500, "internal server error"))
