"""`openk2 agent` and `openk2 mcp serve` from the command line, against a scripted endpoint."""

from __future__ import annotations

import json

from scripted_endpoint import ScriptedEndpoint, answer, calls
from typer.testing import CliRunner

from openk2.agent import sandbox
from openk2.agent.apps import World
from openk2.agent.cli import cli

BOOKING_SCRIPT = [
    calls(("search_restaurants", {"city": "London", "date": "2025-06-09", "time": "19:00", "neighbourhood": "King's Cross"}),
          content="Looking for a table."),
    calls(("book_restaurant", {"restaurant_id": "R1", "date": "2025-06-09", "time": "19:00", "party_size": 2})),
    answer("Table for two at Granary Kitchen, 19:00 on Monday."),
]


def invoke(endpoint: ScriptedEndpoint, *args: str, input: str | None = None):
    return CliRunner().invoke(cli, ["agent", "Book dinner for two near the office on Monday", "--model", "scripted",
                                    "--base-url", endpoint.base_url, "--no-sandbox", *args], input=input)


def test_agent_renders_steps_and_denies_side_effects(tmp_path):
    with ScriptedEndpoint(BOOKING_SCRIPT) as endpoint:
        result = invoke(endpoint, "--approve", "deny", "--transcript", str(tmp_path / "run.json"))
    assert result.exit_code == 0, result.output
    assert "Looking for a table." in result.output and "→ search_restaurants" in result.output
    assert "→ book_restaurant" in result.output and "← Denied" in result.output
    assert "Table for two at Granary Kitchen" in result.output
    saved = json.loads((tmp_path / "run.json").read_text())
    assert saved["stop_reason"] == "answer" and saved["messages"][0]["role"] == "system"
    assert "Sam Taylor" in saved["messages"][0]["content"] and len(saved["tools"]) == 26
    assert endpoint.requests[0]["messages"][1]["content"] == "Book dinner for two near the office on Monday"


def test_agent_books_into_a_persistent_world_when_approved(tmp_path):
    db = tmp_path / "world.sqlite"
    with ScriptedEndpoint(BOOKING_SCRIPT) as endpoint:
        result = invoke(endpoint, "--approve", "auto", "--db", str(db), "--apps", "booking")
    assert result.exit_code == 0, result.output
    assert [b["item_id"] for b in World(db, apps=["booking"]).apps["booking"].list_bookings()] == ["R5", "H7", "R1"]
    assert [t["function"]["name"] for t in endpoint.requests[0]["tools"]][0] == "search_flights"


def test_agent_asks_on_the_terminal():
    with ScriptedEndpoint(BOOKING_SCRIPT) as endpoint:
        result = invoke(endpoint, "--approve", "ask", input="n\n")
    assert result.exit_code == 0 and "approve book_restaurant" in result.output and "Denied" in result.output
    with ScriptedEndpoint(BOOKING_SCRIPT) as endpoint:
        result = invoke(endpoint, "--approve", "ask", input="y\n")
    assert result.exit_code == 0 and '"status":"confirmed"' in result.output.replace(" ", "")


def run_python_agent(*args: str, input: str | None = None):
    script = [calls(("run_python", {"code": "print(sum(range(10)))"}))] * 2
    with ScriptedEndpoint(script) as endpoint:
        result = CliRunner().invoke(cli, ["agent", "Add up 0..9", "--model", "m", "--base-url", endpoint.base_url,
                                          "--apps", "none", "--max-turns", "1", "--no-stream", *args], input=input)
    return result, endpoint


def test_agent_sandbox_tool_and_budget():
    result, endpoint = run_python_agent("--approve-code")
    assert result.exit_code == 2 and "← 45" in result.output and "stopped (max_turns)" in result.output
    assert [t["function"]["name"] for t in endpoint.requests[0]["tools"]] == ["run_python"]


def test_running_code_asks_first_by_default():
    result, _ = run_python_agent(input="n\n")
    assert "approve run_python" in result.output and "← Denied" in result.output and "← 45" not in result.output
    result, _ = run_python_agent(input="y\n")
    assert "approve run_python" in result.output and "← 45" in result.output
    result, _ = run_python_agent("--approve", "auto")
    assert "approve run_python" not in result.output and "← 45" in result.output


def test_without_an_os_sandbox_code_runs_only_when_asked_to_unsafely(monkeypatch):
    monkeypatch.setattr(sandbox, "bwrap_works", lambda: "bubblewrap (bwrap) is not installed")
    monkeypatch.setattr(sandbox, "landlock_works", lambda: "the kernel has no Landlock")
    result, endpoint = run_python_agent("--approve-code")
    assert result.exit_code == 1 and "no OS-level code sandbox" in result.output and "--unsafe-code-execution" in result.output
    assert len(result.output.strip().splitlines()) == 1 and not endpoint.requests
    result, _ = run_python_agent("--approve-code", "--unsafe-code-execution")
    assert "NO ISOLATION" in result.output and "← 45" in result.output


def test_cli_errors_are_one_line():
    runner = CliRunner()
    result = runner.invoke(cli, ["agent", "hi", "--model", "m", "--base-url", "http://127.0.0.1:9/v1", "--apps", "none",
                                 "--no-sandbox"])
    assert result.exit_code == 1 and "cannot reach http://127.0.0.1:9/v1" in result.output and "Traceback" not in result.output
    result = runner.invoke(cli, ["agent", "hi", "--model", "m", "--apps", "calendar,chess"])
    assert result.exit_code == 1 and "unknown app 'chess'" in result.output
    result = runner.invoke(cli, ["agent", "hi", "--model", "m", "--approve", "maybe", "--apps", "none", "--no-sandbox"])
    assert result.exit_code == 1 and "unknown approval policy" in result.output
    result = runner.invoke(cli, ["mcp", "serve", "none"])
    assert result.exit_code == 1 and "name at least one app" in result.output
    with ScriptedEndpoint([]) as endpoint:
        result = runner.invoke(cli, ["agent", "hi", "--model", "m", "--base-url", endpoint.base_url, "--apps", "none",
                                     "--no-sandbox"])
    assert result.exit_code == 1 and "refused the request: Error code: 400 - script exhausted" in result.output
