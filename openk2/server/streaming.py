"""Streaming: a generation as a server-sent event stream (closed however the response ends), and the event
framing of each API, including an error that happens after the status line is sent."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator

from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from .errors import APIError, anthropic_error, openai_error_body
from .generation import Generation

logger = logging.getLogger("openk2.server")


# A stream that stays silent this long gets a keep-alive. A long prompt can take minutes to prefill on a CPU before
# the first token, and clients give up on a silent stream (Claude Code aborts after 5 minutes without a byte).
KEEPALIVE_SECONDS = 10.0
COMMENT_PING = ": keep-alive\n\n"  # an SSE comment: every client skips it


class EventStream(StreamingResponse):
    """A server-sent event stream of a generation, which is closed when the response ends however it ends
    (a client that leaves before the first event never starts the body iterator). `ping` is sent whenever the
    stream has been silent for KEEPALIVE_SECONDS."""

    def __init__(self, events: AsyncIterator[str], generation: Generation, headers: dict[str, str] | None = None,
                 ping: str = COMMENT_PING):
        super().__init__(keepalive(self._with_warnings(events, generation), ping), media_type="text/event-stream",
                         headers=headers)
        self.generation = generation

    @staticmethod
    async def _with_warnings(events: AsyncIterator[str], generation: Generation) -> AsyncIterator[str]:
        """The events, then a comment per schema violation (what a Warning header says of a whole response; clients
        skip SSE comments, a person reading the stream sees them)."""
        async for event in events:
            yield event
        for violation in generation.violations:
            yield f": warning: {' '.join(violation.split())}\n\n"

    async def __call__(self, scope, receive, send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.generation.close()


async def keepalive(events: AsyncIterator[str], ping: str) -> AsyncIterator[str]:
    """`events`, with `ping` between any two that are more than KEEPALIVE_SECONDS apart."""
    pending: asyncio.Future | None = None
    try:
        while True:
            if pending is None:
                pending = asyncio.ensure_future(anext(events))
            done, _ = await asyncio.wait({pending}, timeout=KEEPALIVE_SECONDS)
            if not done:
                yield ping
                continue
            try:
                event = pending.result()
            except StopAsyncIteration:
                return
            pending = None
            yield event
    finally:
        if pending is not None and not pending.done():
            pending.cancel()  # the client left mid-wait: stop the events' iterator (and so the generation)
            with contextlib.suppress(BaseException):
                await pending
        await events.aclose()


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
