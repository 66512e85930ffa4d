"""Streaming: a generation as a server-sent event stream (closed however the response ends), and the event
framing of each API, including an error that happens after the status line is sent."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator

from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from .errors import APIError, anthropic_error, openai_error_body
from .generation import Generation

logger = logging.getLogger("openk2.server")


class EventStream(StreamingResponse):
    """A server-sent event stream of a generation, which is closed when the response ends however it ends
    (a client that leaves before the first event never starts the body iterator)."""

    def __init__(self, events: AsyncIterator[str], generation: Generation, headers: dict[str, str] | None = None):
        super().__init__(events, media_type="text/event-stream", headers=headers)
        self.generation = generation

    async def __call__(self, scope, receive, send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.generation.close()


def sse(reply: BaseModel) -> str:
    """An OpenAI stream event: `data: {json}`."""
    return f"data: {reply.model_dump_json(exclude_unset=True)}\n\n"


def named_event(name: str, data: dict) -> str:
    """A named event, as Anthropic's and OpenAI's Responses streams send them: `event: name` + `data: {json}`."""
    return f"event: {name}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


def stream_error(e: Exception) -> APIError:
    """What to tell a client whose stream failed: an APIError as it is, anything else logged and made a 500."""
    if isinstance(e, APIError):
        return e
    logger.exception("error while streaming", exc_info=e)
    return APIError(500, "internal error while streaming")


def openai_sse_error(e: Exception) -> str:
    """An error after the stream has begun: OpenAI's error object as the last event."""
    return f"data: {json.dumps(openai_error_body(stream_error(e)))}\n\n"


def anthropic_sse_error(e: Exception) -> str:
    """An error after the stream has begun: Anthropic's `error` event."""
    return named_event("error", anthropic_error(stream_error(e))[1])
