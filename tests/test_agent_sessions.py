"""/v1/agent/sessions over real HTTP: sessions, privacy, runs that change the world, the loop through the server's own
OpenAI endpoint over loopback, and stopping a run."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from openk2.server.auth import KeyStore
from openk2.server.db import open_database

from conftest import live_server
from scripted_endpoint import ScriptedEndpoint, answer, calls

NEW_EVENT = {"title": "Roadmap with Anna", "start": "2025-06-03T15:00", "end": "2025-06-03T16:00",
             "attendees": ["anna.schmidt@northwind.example"], "allow_conflicts": True}


def stream_run(client: httpx.Client, url: str, body: dict, **headers) -> list[dict]:
    """A run's events, parsed, up to [DONE]."""
    events = []
    with client.stream("POST", url, json=body, headers=headers, timeout=120) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if line.startswith("data: "):
                if line == "data: [DONE]":
                    return events
                events.append(json.loads(line[6:]))
    raise AssertionError(f"the stream ended without [DONE] after {events}")


def user(text: str) -> list[dict]:
    return [{"role": "user", "content": text}]


def test_session_lifecycle(server):
    with httpx.Client(base_url=server.url) as client:
        created = client.post("/v1/agent/sessions", json={"seed": 3})
        assert created.status_code == 201
        session = created.json()
        world = session["world"]
        assert session["seed"] == 3 and session["apps"] == ["calendar", "email", "booking"] and not session["running"]
        assert world["user"]["email"] == "sam.taylor@northwind.example" and world["timezone"] == "Europe/London"
        assert world["now"].startswith("2025-06-02T09:00")
        assert len(world["events"]) > 10 and world["emails"] and world["bookings"]
        assert {"id", "title", "start", "end", "attendees"} <= set(world["events"][0])
        assert {"id", "folder", "from", "to", "subject", "body", "date"} <= set(world["emails"][0])

        assert client.get(f"/v1/agent/sessions/{session['id']}").json() == session
        other = client.post(f"/v1/agent/sessions/{session['id']}/reset", json={"seed": 4}).json()
        assert other["seed"] == 4 and other["world"] != world  # another seed, another world
        again = client.post(f"/v1/agent/sessions/{session['id']}/reset", json={"seed": 3}).json()
        assert again["world"] == world  # the same seed, the same world

        # A world of one app shows only that app.
        calendar = client.post("/v1/agent/sessions", json={"apps": ["calendar"]}).json()
        assert "events" in calendar["world"] and "emails" not in calendar["world"]

        assert client.delete(f"/v1/agent/sessions/{session['id']}").json() == {"id": session["id"], "deleted": True}
        gone = client.get(f"/v1/agent/sessions/{session['id']}")
        assert gone.status_code == 404 and "POST /v1/agent/sessions" in gone.json()["error"]["message"]


@pytest.mark.parametrize("body, param", [({"seed": -1}, "seed"), ({"apps": ["calendar", "chess"]}, "apps"),
                                         ({"apps": []}, "apps"), ({"sede": 1}, "sede"), ({"seed": "x"}, "seed")])
def test_bad_session_requests_are_400_naming_the_field(server, body, param):
    response = httpx.post(f"{server.url}/v1/agent/sessions", json=body)
    assert response.status_code == 400, response.text
    assert param in response.json()["error"]["message"]


def test_bad_runs_are_refused_before_running(server):
    with httpx.Client(base_url=server.url) as client:
        session = client.post("/v1/agent/sessions").json()["id"]
        for body, words in [({"messages": []}, "messages"), ({"messages": user("hi"), "max_turns": 0}, "max_turns"),
                            ({"messages": [{"role": "robot", "content": "x"}]}, "messages"),
                            ({"messages": user("hi"), "temperature": 9}, "temperature")]:
            response = client.post(f"/v1/agent/sessions/{session}/runs", json=body)
            assert response.status_code == 400 and words in response.json()["error"]["message"], response.text
        assert client.post("/v1/agent/sessions/nope/runs", json={"messages": user("hi")}).status_code == 404


def test_sessions_need_a_key_and_are_private_to_it(scripted_checkpoint, tmp_path):
    with live_server(scripted_checkpoint.path, tmp_path, api_key_required=True) as live:
        keys = KeyStore(open_database(f"sqlite:///{tmp_path / 'server.db'}"))
        alice, bob = keys.create("alice"), keys.create("bob")
        with httpx.Client(base_url=live.url) as client:
            assert client.post("/v1/agent/sessions").status_code == 401
            assert client.post("/v1/agent/sessions", headers={"Authorization": "Bearer sk-openk2-wrong"}).status_code == 401
            mine = client.post("/v1/agent/sessions", headers={"Authorization": f"Bearer {alice}"}).json()["id"]
            assert client.get(f"/v1/agent/sessions/{mine}", headers={"x-api-key": alice}).status_code == 200
            # Another key cannot see, reset, run or delete it: to bob it does not exist.
            as_bob = {"Authorization": f"Bearer {bob}"}
            assert client.get(f"/v1/agent/sessions/{mine}", headers=as_bob).status_code == 404
            assert client.post(f"/v1/agent/sessions/{mine}/reset", headers=as_bob).status_code == 404
            assert client.post(f"/v1/agent/sessions/{mine}/runs", headers=as_bob,
                               json={"messages": user("hi")}).status_code == 404
            assert client.delete(f"/v1/agent/sessions/{mine}", headers=as_bob).status_code == 404
            assert client.get(f"/v1/agent/sessions/{mine}").status_code == 401


def scripted_agent(request: dict) -> dict:
    """The model: create the event when asked, then answer once the tool result is in."""
    last = request["messages"][-1]
    if last["role"] == "user":
        return calls(("create_event", NEW_EVENT), ("delete_event", {"event_id": 99999}), content="Booking it.")
    return answer("Done: the roadmap review is on Tuesday at 15:00.")


def test_run_streams_tool_calls_and_what_they_changed(scripted_checkpoint, tmp_path):
    with ScriptedEndpoint(scripted_agent) as model, \
            live_server(scripted_checkpoint.path, tmp_path, agent={"base_url": model.base_url, "api_key": "sk-upstream",
                                                                      "model": "kimi-upstream"}) as live, httpx.Client(base_url=live.url) as client:
        session = client.post("/v1/agent/sessions", json={"seed": 0}).json()
        before = {e["id"] for e in session["world"]["events"]}
        events = stream_run(client, f"/v1/agent/sessions/{session['id']}/runs",
                            {"messages": user("Put a roadmap review with Anna on Tuesday at 3 pm"), "temperature": 0.2,
                             "max_tokens": 64})

        kinds = [e["type"] for e in events]
        assert kinds[0] == "text" and kinds[-1] == "final"
        assert kinds.index("message") < kinds.index("tool_call") < kinds.index("tool_result")
        created, failed = [e for e in events if e["type"] == "tool_result"]
        new_id = json.loads(created["content"])["id"]
        assert new_id not in before and not created["is_error"]
        assert created["changes"] == {"events": {"added": [new_id]}}
        assert any(e["id"] == new_id and e["title"] == "Roadmap with Anna" and e["start"].startswith("2025-06-03T15:00")
                   for e in created["world"]["events"])
        assert failed["is_error"] and failed["changes"] == {} and "world" not in failed  # nothing changed, no world
        assert created["message"] == {"role": "tool", "tool_call_id": created["call_id"], "name": "create_event",
                                      "content": created["content"]}
        final = events[-1]
        assert final["stop_reason"] == "answer" and final["turns"] == 2 and "Tuesday at 15:00" in final["text"]
        assert final["usage"]["total_tokens"] == 30 and "cost" not in final  # another endpoint: no ledger of ours
        assert [m["role"] for m in final["messages"]] == ["system", "user", "assistant", "tool", "tool", "assistant"]

        # The model saw the world's description, every app's tools, the sampling asked for, under the configured
        # model name and key.
        first = model.requests[0]
        assert first["model"] == "kimi-upstream" and first["temperature"] == 0.2 and first["max_tokens"] == 64
        assert "Sam Taylor" in first["messages"][0]["content"] and "Monday 02 June 2025" in first["messages"][0]["content"]
        assert {"create_event", "send_email", "book_hotel"} <= {t["function"]["name"] for t in first["tools"]}
        # The session's world kept the change.
        world = client.get(f"/v1/agent/sessions/{session['id']}").json()["world"]
        assert new_id in {e["id"] for e in world["events"]}


def test_run_through_the_servers_own_endpoint_is_the_callers(endless_checkpoint, tmp_path):
    """Without --agent-base-url the loop calls this server's /v1/chat/completions over loopback with the caller's key:
    the model calls are in the ledger under that key, and the run's cost is theirs."""
    with live_server(endless_checkpoint, tmp_path, api_key_required=True,
                     engine={"cache_budget_bytes": 16 * 1024**2}) as live, httpx.Client(base_url=live.url) as client:
        key = KeyStore(open_database(f"sqlite:///{tmp_path / 'server.db'}")).create("carol")
        auth = {"Authorization": f"Bearer {key}"}
        session = client.post("/v1/agent/sessions", json={"apps": ["calendar"]}, headers=auth).json()
        events = stream_run(client, f"/v1/agent/sessions/{session['id']}/runs",
                            {"messages": user("What is on my calendar?"), "max_tokens": 8, "max_turns": 1,
                             "temperature": 0}, **auth)
        final = events[-1]
        assert final["type"] == "final" and final["turns"] == 1, events
        live.wait_idle()
        rows = live.serving.ledger.rows()
        assert [(r.key, r.endpoint) for r in rows] == [("carol", "chat.completions")]
        assert final["usage"]["prompt_tokens"] == rows[0].prompt_tokens > 3000  # the calendar's tools were declared
        assert final["usage"]["completion_tokens"] == rows[0].completion_tokens == 8
        assert final["cost"] == pytest.approx(rows[0].cost) and final["cost"] > 0


def test_model_errors_come_back_as_an_error_event(server):
    """The scripted checkpoint's 512-token context cannot hold the apps' tool declarations: the server's own 400
    reaches the client as one clear error event, and the session is free again."""
    with httpx.Client(base_url=server.url) as client:
        session = client.post("/v1/agent/sessions").json()["id"]
        events = stream_run(client, f"/v1/agent/sessions/{session}/runs", {"messages": user("hi"), "max_tokens": 8})
        assert events[-1]["type"] == "error" and events[-1]["status"] == 400
        assert "refused the agent's request (400)" in events[-1]["message"] and "context" in events[-1]["message"]
        assert not client.get(f"/v1/agent/sessions/{session}").json()["running"]


def test_closing_the_stream_stops_the_run(scripted_checkpoint, tmp_path):
    """One run at a time per session (409); closing the connection cancels the run and the model call in flight."""
    slow = answer("word " * 200, delay=0.05)  # about 10 s of streaming
    with ScriptedEndpoint(lambda request: slow) as model, \
            live_server(scripted_checkpoint.path, tmp_path, agent={"base_url": model.base_url}) as live, \
            httpx.Client(base_url=live.url, timeout=30) as client:
        session = client.post("/v1/agent/sessions").json()["id"]
        url = f"/v1/agent/sessions/{session}/runs"
        with client.stream("POST", url, json={"messages": user("talk")}) as response:
            lines = response.iter_lines()
            assert next(line for line in lines if line.startswith("data: ")).startswith('data: {"type": "text"')
            assert client.get(f"/v1/agent/sessions/{session}").json()["running"]
            busy = client.post(url, json={"messages": user("again")})
            assert busy.status_code == 409 and "in progress" in busy.json()["error"]["message"]
            assert client.post(f"/v1/agent/sessions/{session}/reset").status_code == 409
            started = time.monotonic()
        # The response is closed: the run ends within moments, not after the model's remaining 10 s.
        while client.get(f"/v1/agent/sessions/{session}").json()["running"]:
            assert time.monotonic() - started < 3, "the run went on after its client left"
            time.sleep(0.02)
        assert client.post(f"/v1/agent/sessions/{session}/reset").status_code == 200
