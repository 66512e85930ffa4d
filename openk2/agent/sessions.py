"""Agent sessions: a sandboxed world per session, and agent runs on it as a stream of events saying what each tool call changed.

The HTTP routes (`openk2/server/agent_api.py`) are a thin layer over this module; it knows nothing of HTTP. The agent
reaches its model through an OpenAI-compatible client, like every agent in openk2.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from .apps import APPS, World
from .runtime import Agent, Budget, Event, default_system_prompt
from .tools import Tool, ToolResult

# What a page shows of the world, and so what a change is reported for: {view name: (table, its key column)}.
WATCHED = {"events": ("events", "id"), "attendees": ("attendees", "event_id"), "emails": ("emails", "id"),
           "bookings": ("bookings", "id")}


@dataclass
class AgentSession:
    """One caller's private world (an in-memory SQLite database) that agent runs act on, one run at a time."""

    id: str
    owner: str | None  # the API key's name that created it; None: anonymous
    seed: int
    apps: tuple[str, ...]
    world: World
    last_used: float = field(default_factory=time.monotonic)
    running: bool = False
    # Tool calls run one at a time, so that the world's state before and after a call is that call's doing.
    tool_lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def reset(self, seed: int) -> None:
        self.world.reset(seed)
        self.seed = seed

    def view(self) -> dict:
        return {"id": self.id, "seed": self.seed, "apps": list(self.apps), "running": self.running,
                "world": world_view(self.world)}

    def run(self, client: Any, model: str, messages: list[dict], **options) -> AsyncIterator[dict]:
        """An agent run on this world as JSON-ready events (see run_events)."""
        return run_events(self, client, model, messages, **options)


class SessionNotFound(KeyError):
    pass


@dataclass
class AgentSessions:
    """What a server needs to offer agent sessions: the sessions, and where their agent's model is (None: the
    server's own OpenAI endpoint over loopback, with the caller's key; `model` None: the served model)."""

    base_url: str | None = None
    api_key: str | None = None
    model: str | None = None
    store: SessionStore = field(default_factory=lambda: SessionStore())


class SessionStore:
    """The server's sessions, in memory: at most `per_owner` per API key and `max_sessions` in all (the least recently
    used idle session makes room), and none idle for longer than `idle_seconds`."""

    def __init__(self, max_sessions: int = 64, per_owner: int = 8, idle_seconds: float = 3600.0):
        if per_owner < 1 or max_sessions < per_owner:
            raise ValueError("agent sessions need max_sessions >= per_owner >= 1")
        self.max_sessions, self.per_owner, self.idle_seconds = max_sessions, per_owner, idle_seconds
        self.sessions: dict[str, AgentSession] = {}

    def create(self, owner: str | None, seed: int = 0, apps: list[str] | tuple[str, ...] = tuple(APPS)) -> AgentSession:
        unknown = [a for a in apps if a not in APPS]
        if unknown or not apps:
            raise ValueError(f"apps must name one or more of {', '.join(APPS)}" + (f"; {unknown[0]!r} is not one" if unknown else ""))
        self.expire()
        mine = [s for s in self.sessions.values() if s.owner == owner]
        self.make_room(mine, self.per_owner)
        self.make_room(list(self.sessions.values()), self.max_sessions)
        session = AgentSession(secrets.token_urlsafe(16), owner, seed, tuple(dict.fromkeys(apps)),
                               World(":memory:", list(dict.fromkeys(apps)), seed))
        self.sessions[session.id] = session
        return session

    def make_room(self, sessions: list[AgentSession], limit: int) -> None:
        idle = sorted((s for s in sessions if not s.running), key=lambda s: s.last_used)
        while len(sessions) >= limit:
            if not idle:
                raise OverflowError(f"all {limit} agent sessions are running")
            oldest = idle.pop(0)
            sessions.remove(oldest)
            self.drop(oldest)

    def expire(self) -> None:
        cutoff = time.monotonic() - self.idle_seconds
        for session in [s for s in self.sessions.values() if s.last_used < cutoff and not s.running]:
            self.drop(session)

    def drop(self, session: AgentSession) -> None:
        del self.sessions[session.id]
        session.world.store.db.close()

    def get(self, session_id: str, owner: str | None) -> AgentSession:
        """The caller's session; another key's session is as unknown as a made-up id."""
        self.expire()
        session = self.sessions.get(session_id)
        if session is None or session.owner != owner:
            raise SessionNotFound(session_id)
        session.last_used = time.monotonic()
        return session

    def delete(self, session_id: str, owner: str | None) -> None:
        session = self.get(session_id, owner)
        if session.running:
            raise RuntimeError("the session has a run in progress; stop it first")
        self.drop(session)


# ---- what the page shows ------------------------------------------------------------------------


def world_view(world: World) -> dict:
    """The world as a page shows it: the clock, the user, their calendar, their mailbox and their bookings, with times
    in the user's own time zone."""
    from .apps.world import now, show_time, user, zone

    store = world.store
    me = user(store)
    tz = zone(me["timezone"])
    view: dict[str, Any] = {"now": show_time(now(store), tz), "timezone": me["timezone"],
                            "user": {"name": me["name"], "email": me["email"]}}
    if calendar := world.apps.get("calendar"):
        rows = store.rows("SELECT e.* FROM events e JOIN attendees a ON a.event_id = e.id AND a.email = ? "
                          "ORDER BY e.start_utc, e.id", [me["email"]])
        view["events"] = [calendar.view(row, tz) for row in rows]
    if email := world.apps.get("email"):
        rows = store.rows("SELECT * FROM emails ORDER BY sent_at IS NULL, sent_at DESC, id DESC")
        view["emails"] = [email.full(row) for row in rows]
    if booking := world.apps.get("booking"):
        view["bookings"] = booking.list_bookings(include_cancelled=True)
    return view


def world_state(world: World) -> dict[str, dict[Any, list[dict]]]:
    """The watched tables' rows grouped by the id a page shows them under (attendees under their event)."""
    present = {t for app in world.apps.values() for t in app.tables}
    state = {}
    for name, (table, key) in WATCHED.items():
        if table in present:
            groups: dict[Any, list[dict]] = {}
            for row in world.store.rows(f"SELECT * FROM {table} ORDER BY rowid"):
                groups.setdefault(row[key], []).append(row)
            state[name] = groups
    return state


def changes(before: dict, after: dict) -> dict[str, dict[str, list]]:
    """What changed between two world_state()s: {"events": {"added": [ids], "changed": [ids], "removed": [ids]}, ...},
    only the non-empty lists. A change of attendees is a change of their event."""
    out: dict[str, dict[str, list]] = {}
    for name in after:
        old, new = before.get(name, {}), after[name]
        diff = {"added": [k for k in new if k not in old], "changed": [k for k in new if k in old and new[k] != old[k]],
                "removed": [k for k in old if k not in new]}
        if name == "attendees":
            name, diff = "events", {"added": [], "changed": diff["added"] + diff["changed"] + diff["removed"], "removed": []}
        merged = out.setdefault(name, {"added": [], "changed": [], "removed": []})
        for kind, ids in diff.items():
            merged[kind] += [i for i in ids if i not in merged[kind]]
    for name in out:  # an event both added (events) and "changed" (its attendees) is added
        out[name]["changed"] = [i for i in out[name]["changed"] if i not in out[name]["added"] + out[name]["removed"]]
    return {name: {k: v for k, v in diff.items() if v} for name, diff in out.items() if any(diff.values())}


def watched(tool: Tool, session: AgentSession, seen: dict[str, list[dict]]) -> Tool:
    """The tool, run under the session's lock with the world's state read before and after: the difference goes to
    `seen`, under the call's name and arguments, for the event stream to pick up."""

    async def run(arguments: dict) -> ToolResult:
        async with session.tool_lock:
            before = await asyncio.to_thread(world_state, session.world)
            result = await tool.run(arguments)
            after = await asyncio.to_thread(world_state, session.world)
        seen.setdefault(call_key(tool.name, arguments), []).append(changes(before, after))
        return result

    return dataclasses.replace(tool, run=run)


def call_key(name: str, arguments: dict | str) -> str:
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments)
        except ValueError:
            return f"{name}:{arguments}"
    return f"{name}:{json.dumps(arguments, sort_keys=True)}"


# ---- runs ---------------------------------------------------------------------------------------


def conversation(session: AgentSession, messages: list[dict], system: str | None) -> list[dict]:
    """The messages the model sees: the page's conversation after a system prompt (the caller's, else one that
    describes the user, the time and what the tools are for)."""
    if messages and messages[0].get("role") == "system":
        return messages
    prompt = system if system else default_system_prompt(session.world.describe())
    return [{"role": "system", "content": prompt}, *messages]


async def run_events(session: AgentSession, client: Any, model: str, messages: list[dict], *, system: str | None = None,
                     max_turns: int = 8, sampling: dict | None = None) -> AsyncIterator[dict]:
    """Run the agent loop on the session's world and yield JSON-ready events:

    text / reasoning {text}; message {message} (the assistant's, as the model sent it; response_id);
    tool_call {call: {id, name, arguments}}; tool_result {call_id, name, content, is_error, message (the tool
    message), changes, world (the new world view, when something changed)}; final {text, stop_reason, turns, usage,
    seconds, messages}. Tool calls are approved automatically: the world is the session's own sandbox.
    Errors from the model's endpoint propagate (the caller words them). One run at a time per session: the caller
    keeps `session.running` (a second run would interleave its tool calls' changes with this one's).
    """
    seen: dict[str, list[dict]] = {}
    tools = [watched(t, session, seen) for t in session.world.tools()]
    agent = Agent(client, model, tools, budget=Budget(max_turns=max_turns), stream=True, sampling=sampling or {})
    try:
        async for event in agent.events(conversation(session, messages, system)):
            yield event_json(event, session, seen)
    finally:
        session.last_used = time.monotonic()


def event_json(event: Event, session: AgentSession, seen: dict[str, list[dict]]) -> dict:
    if event.kind in ("text", "reasoning"):
        return {"type": event.kind, "text": event.text}
    if event.kind == "message":
        return {"type": "message", "message": event.message, "response_id": event.response_id}
    if event.kind == "tool_call":
        call = event.call
        return {"type": "tool_call", "call": {"id": call.id, "name": call.name, "arguments": call.arguments}}
    if event.kind == "tool_result":
        call = event.call
        pending = seen.get(call_key(call.name, call.arguments)) or [{}]  # [{}]: the tool never ran (bad arguments)
        changed = pending.pop(0)
        out = {"type": "tool_result", "call_id": call.id, "name": call.name, "content": event.result.content,
               "is_error": event.result.is_error, "message": event.message, "changes": changed}
        if changed:
            out["world"] = world_view(session.world)
        return out
    transcript = event.transcript
    usage = transcript.usage
    return {"type": "final", "text": event.text, "stop_reason": transcript.stop_reason, "turns": transcript.turns,
            "usage": {"prompt_tokens": usage.prompt_tokens, "completion_tokens": usage.completion_tokens,
                      "total_tokens": usage.total_tokens},
            "seconds": round(transcript.seconds, 3), "messages": transcript.messages}
