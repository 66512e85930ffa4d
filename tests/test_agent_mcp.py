"""MCP: the calendar app served over stdio (and streamable HTTP) gives the agent the same tools and results as the native app."""

from __future__ import annotations

import asyncio
import shlex
import socket
import sys
import threading
import time

import openai
import pytest
from mcp import types
from scripted_endpoint import ScriptedEndpoint, answer, calls

from openk2.agent import Agent
from openk2.agent.apps import World
from openk2.agent.mcp import app_server, is_side_effect, mcp_tools

# Calls in one turn run concurrently, so none of them depends on another.
SCRIPT = [
    calls(("current_time", {}),
          ("find_free_slots", {"attendees": ["Anna"], "start": "2025-06-09T00:00", "end": "2025-06-10T00:00", "limit": 2}),
          ("list_events", {"start": "2025-06-10T00:00", "end": "2025-06-11T00:00", "timezone": "Europe/Berlin"})),
    calls(("create_event", {"title": "Roadmap with Anna", "start": "2025-06-09T10:00", "end": "2025-06-09T11:00",
                            "attendees": ["Anna"], "location": "Pancras Square"}),
          ("create_event", {"title": "Clash", "start": "2025-06-09T09:15", "end": "2025-06-09T09:45"}),  # conflicts
          ("create_event", {"title": "Bad", "start": "tomorrow"}),                                         # invalid
          ("delete_event", {"event_id": 1})),
    answer("Booked 10:00 on Monday 9 June with Anna."),
]


def run_script(tools) -> tuple:
    with ScriptedEndpoint(SCRIPT) as endpoint:
        client = openai.AsyncOpenAI(base_url=endpoint.base_url, api_key="test", max_retries=0)
        agent = Agent(client, "scripted", tools)
        return asyncio.run(agent.run("Find an hour with Anna next week.")), endpoint.requests


def test_calendar_over_mcp_stdio_matches_the_native_app(tmp_path):
    native_world = World(apps=["calendar"], seed=0)
    native, native_requests = run_script(native_world.tools())

    db = tmp_path / "calendar.sqlite"
    command = shlex.join([sys.executable, "-m", "openk2.agent.cli", "mcp", "serve", "calendar", "--db", str(db), "--seed", "0"])

    async def over_mcp():
        async with mcp_tools(command) as tools:
            assert [(t.name, t.side_effect) for t in tools] == [(t.name, t.side_effect) for t in native_world.tools()]
            with ScriptedEndpoint(SCRIPT) as endpoint:
                client = openai.AsyncOpenAI(base_url=endpoint.base_url, api_key="test", max_retries=0)
                return await Agent(client, "scripted", tools).run("Find an hour with Anna next week."), endpoint.requests

    remote, remote_requests = asyncio.run(over_mcp())
    # The model sees identical tool declarations and identical results, and the world ends in the same state.
    assert remote_requests[0]["tools"] == native_requests[0]["tools"]
    assert remote.messages == native.messages and remote.stop_reason == native.stop_reason == "answer"
    results = [m["content"] for m in native.messages if m["role"] == "tool"]
    assert "conflicts with" in results[4] and "invalid arguments for create_event" in results[5]
    assert World(db, apps=["calendar"]).snapshot() == native_world.snapshot()


def test_streamable_http_transport():
    import uvicorn

    world = World(apps=["calendar"], seed=0)
    app = app_server(world.tools(), "openk2-calendar").streamable_http_app()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)

    async def use():
        async with mcp_tools(f"http://127.0.0.1:{sock.getsockname()[1]}/mcp") as tools:
            by_name = {t.name: t for t in tools}
            return await by_name["current_time"].run({"timezone": "Asia/Tokyo"}), by_name["delete_event"].side_effect

    try:
        result, delete_needs_approval = asyncio.run(use())
    finally:
        server.should_exit = True
        thread.join(timeout=5)
        sock.close()
    assert not result.is_error and '"now":"2025-06-02T17:00+09:00"' in result.content
    assert delete_needs_approval


def test_foreign_tools_need_approval_unless_they_say_they_are_harmless():
    assert is_side_effect(None)
    assert is_side_effect(types.ToolAnnotations())
    assert not is_side_effect(types.ToolAnnotations(read_only_hint=True))
    assert not is_side_effect(types.ToolAnnotations(destructive_hint=False))


def test_bad_targets():
    with pytest.raises(ValueError, match="URL or a command line"):
        asyncio.run(mcp_tools("  ").__aenter__())
