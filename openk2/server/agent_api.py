"""`/v1/agent/sessions`: openk2's agent loop on a per-session sandboxed world (calendar, e-mail, booking), streamed.

The loop reaches the model over HTTP like any agent: this server's own OpenAI endpoint over loopback, with the
caller's key (so its model calls are authenticated, limited and billed as the caller's), or `--agent-base-url`.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from typing import Any, Literal, Protocol

import httpx
import openai
from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from .auth import Caller, authenticate
from .errors import APIError
from .protocol import ChatMessage, OpenAIError

logger = logging.getLogger("openk2.server")
router = APIRouter(tags=["Agent sessions"])
SEED = Field(0, ge=0, le=2**31 - 1, description="seed of the fresh world")
ERRORS = {status: {"model": OpenAIError} for status in (400, 401, 404, 409, 413, 429, 503)}


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)  # a misspelt field is a 400, not ignored


class SessionCreate(Strict):
    seed: int = SEED
    apps: list[Literal["calendar", "email", "booking"]] | None = Field(None, min_length=1,
                                                                       description="default: all three")


class SessionReset(Strict):
    seed: int = SEED


class RunRequest(Strict):
    messages: list[ChatMessage] = Field(min_length=1, description="the conversation so far, ending with the user's turn")
    model: str | None = Field(None, description="default: the served model (or --agent-model)")
    system: str | None = Field(None, description="system prompt (default: one describing the user, the time and the apps)")
    temperature: float | None = Field(None, ge=0, le=2)
    max_tokens: int | None = Field(None, ge=1, description="per model call")
    seed: int | None = None
    max_turns: int = Field(8, ge=1, le=50, description="most model calls in this run")


# What the routes need of the agent's side, which the command line wires in (openk2.agent.sessions implements it):
# the server never imports the agent package (DESIGN: server and agent are peers under the CLI).
class AgentSession(Protocol):
    id: str
    running: bool

    def view(self) -> dict: ...
    def reset(self, seed: int) -> None: ...
    def run(self, client: Any, model: str, messages: list[dict], **options) -> AsyncIterator[dict]: ...


class SessionStore(Protocol):
    def create(self, owner: str | None, seed: int, apps: list[str] | tuple[str, ...]) -> AgentSession: ...
    def get(self, session_id: str, owner: str | None) -> AgentSession: ...  # KeyError: none of the caller's
    def drop(self, session: AgentSession) -> None: ...


class AgentSessions(Protocol):
    base_url: str | None  # the agent's model endpoint; None: this server over loopback, with the caller's key
    api_key: str | None
    model: str | None  # None: the served model
    store: SessionStore


def sessions_of(request: Request) -> AgentSessions:
    sessions = request.app.state.agent_sessions
    if sessions is None:
        raise APIError(404, "agent sessions are not enabled on this server (create_app(agent_sessions=...))")
    return sessions


def session_of(request: Request, session_id: str, caller: Caller) -> AgentSession:
    try:
        return sessions_of(request).store.get(session_id, caller.key)
    except KeyError:
        raise APIError(404, f"no agent session {session_id!r} (sessions end after an hour unused and when the server "
                            "restarts): create one with POST /v1/agent/sessions", "session_id", "session_not_found") from None


@router.post("/v1/agent/sessions", status_code=201, responses=ERRORS)
async def create_session(request: Request, body: SessionCreate | None = None,
                         caller: Caller = Depends(authenticate)) -> JSONResponse:
    """A new private world, seeded: the user's calendar, mailbox and bookings."""
    body = body or SessionCreate()
    try:
        session = await run_in_threadpool(sessions_of(request).store.create, caller.key, body.seed,
                                          ("calendar", "email", "booking") if body.apps is None else body.apps)
    except ValueError as e:
        raise APIError(400, str(e), "apps") from None
    except OverflowError as e:
        raise APIError(503, f"{e}; retry when one finishes") from None
    return JSONResponse(session.view(), 201)


@router.get("/v1/agent/sessions/{session_id}", responses=ERRORS)
async def get_session(session_id: str, request: Request, caller: Caller = Depends(authenticate)) -> JSONResponse:
    """The session's world as it is now."""
    return JSONResponse(session_of(request, session_id, caller).view())


@router.post("/v1/agent/sessions/{session_id}/reset", responses=ERRORS)
async def reset_session(session_id: str, request: Request, body: SessionReset | None = None,
                        caller: Caller = Depends(authenticate)) -> JSONResponse:
    """Rebuild the world from a seed (the same seed gives the same world)."""
    session = session_of(request, session_id, caller)
    if session.running:
        raise APIError(409, "a run is in progress in this session; stop it before resetting the world", code="run_in_progress")
    await run_in_threadpool(session.reset, (body or SessionReset()).seed)
    return JSONResponse(session.view())


@router.delete("/v1/agent/sessions/{session_id}", responses=ERRORS)
async def delete_session(session_id: str, request: Request, caller: Caller = Depends(authenticate)) -> JSONResponse:
    session = session_of(request, session_id, caller)
    if session.running:
        raise APIError(409, "a run is in progress in this session; stop it first", code="run_in_progress")
    sessions_of(request).store.drop(session)
    return JSONResponse({"id": session_id, "deleted": True})


@router.post("/v1/agent/sessions/{session_id}/runs", response_class=StreamingResponse,
             responses={200: {"content": {"text/event-stream": {}}}, **ERRORS})
async def run(session_id: str, body: RunRequest, request: Request, caller: Caller = Depends(authenticate)):
    """Run the agent on the conversation; server-sent events, one JSON object each (openk2.agent.sessions.run_events),
    then `[DONE]`. An error after the stream has begun is an `{"type": "error", "message", "status"}` event.
    Closing the connection stops the run and the model call in flight."""
    sessions = sessions_of(request)
    session = session_of(request, session_id, caller)
    if session.running:
        raise APIError(409, "this session already has a run in progress; wait for it or stop it", code="run_in_progress")
    own = sessions.base_url is None
    if own:
        base_url, key = loopback_url(request), presented_key(request)
    else:
        base_url, key = sessions.base_url, sessions.api_key
    model = body.model or sessions.model or request.app.state.serving.model.name
    sampling = {k: v for k, v in {"temperature": body.temperature, "max_tokens": body.max_tokens,
                                  "seed": body.seed}.items() if v is not None}
    messages = [m.model_dump(exclude_none=True) for m in body.messages]
    ledger = request.app.state.serving.ledger
    events: asyncio.Queue[str | None] = asyncio.Queue()

    async def produce() -> None:
        client = openai.AsyncOpenAI(base_url=base_url, api_key=key or "none", max_retries=0,
                                    timeout=httpx.Timeout(600, connect=10))
        responses = []
        try:
            async for event in session.run(client, model, messages, system=body.system, max_turns=body.max_turns,
                                           sampling=sampling):
                if event["type"] == "message" and event["response_id"]:
                    responses.append(event["response_id"])
                if event["type"] == "final" and own:  # the cost of its model calls, from this server's ledger
                    rows = await run_in_threadpool(ledger.requests, responses)
                    event["cost"] = round(sum(r.cost for r in rows), 9)
                    event["usage"]["cached_tokens"] = sum(r.cached_tokens for r in rows)
                events.put_nowait(sse(event))
        except openai.APIConnectionError as e:
            events.put_nowait(error_event(502, f"the agent cannot reach its model at {base_url}: {e.__cause__ or e}"))
        except openai.APIStatusError as e:
            events.put_nowait(error_event(e.status_code, f"the model endpoint refused the agent's request "
                                                         f"({e.status_code}): {model_error(e)}"))
        except openai.APIError as e:  # an error event in the model's stream
            events.put_nowait(error_event(502, f"the model failed during the agent's request: {e.message}"))
        except Exception as e:
            logger.exception("agent run failed", exc_info=e)
            events.put_nowait(error_event(500, "the agent run failed (the server log has the details)"))
        finally:
            await client.close()
            events.put_nowait(None)

    # The run is a task of its own, not the response's body: when the client goes, the body is cancelled by the
    # server's disconnect handling, and the run gets one plain cancellation, so that its clean-up (closing the
    # model call in flight, which stops that generation) is not cancelled in turn.
    session.running = True  # before any await: a second request now gets 409
    task = asyncio.ensure_future(produce())
    task.add_done_callback(lambda _: setattr(session, "running", False))  # also if cancelled before it started

    async def relay() -> AsyncIterator[str]:
        while (event := await events.get()) is not None:
            yield event
        yield "data: [DONE]\n\n"

    return RunStream(relay(), task)


class RunStream(StreamingResponse):
    """The run's events; the run is cancelled however the response ends (a client that leaves before the first event
    never starts the body iterator, so the iterator cannot be what stops it)."""

    def __init__(self, events: AsyncIterator[str], task: asyncio.Future):
        super().__init__(events, media_type="text/event-stream", headers={"Cache-Control": "no-store"})
        self.task = task

    async def __call__(self, scope, receive, send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.task.cancel()


def sse(event: dict) -> str:
    return f"data: {json.dumps(event, ensure_ascii=False)}\n\n"


def error_event(status: int, message: str) -> str:
    return f"data: {json.dumps({'type': 'error', 'status': status, 'message': message})}\n\n"


def model_error(e: openai.APIStatusError) -> str:
    body = e.body if isinstance(e.body, dict) else {}
    detail = body.get("error", body) if isinstance(body.get("error", body), dict) else {}
    return detail.get("message") or e.message


def loopback_url(request: Request) -> str:
    """This server's OpenAI endpoint, at the local address the request came in on (reachable from here by
    definition, whatever interface the server listens on)."""
    server = request.scope.get("server")
    if not server or server[1] is None:
        raise APIError(500, "the server cannot tell its own address (a Unix socket?): start it with --agent-base-url")
    host, port = server
    return f"http://{f'[{host}]' if ':' in host else host}:{port}/v1"


def presented_key(request: Request) -> str | None:
    """The key the caller presented (Bearer or x-api-key), to make the agent's model calls as the caller."""
    key = request.headers.get("x-api-key") or ""
    authorization = request.headers.get("authorization") or ""
    if not key and authorization[:7].lower() == "bearer ":
        key = authorization[7:].strip()
    return key or None
