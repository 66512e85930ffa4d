"""The Anthropic Messages API through the official `anthropic` client against a live server: text, tool use, streams, the wild."""

from __future__ import annotations

import json

import anthropic
import httpx
import pytest

pytestmark = pytest.mark.usefixtures("one_torch_thread")
MODEL = "openk2-test"
GREEDY = {"extra_body": {"temperature": 0}}  # this client version has no temperature argument


@pytest.fixture(scope="module")
def client(server) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=server.url, api_key="EMPTY", max_retries=0)


def anthropic_tool(tool: dict) -> dict:
    function = tool["function"]
    return {"name": function["name"], "description": function["description"], "input_schema": function["parameters"]}


def events_of(server, body: dict) -> list[tuple[str, dict]]:
    """The raw SSE events of a streamed request: (event name, data)."""
    raw = httpx.post(f"{server.url}/v1/messages", json={**body, "stream": True}).text
    out = []
    for block in filter(None, raw.split("\n\n")):
        name, data = block.split("\n", 1)
        out.append((name.removeprefix("event: "), json.loads(data.removeprefix("data: "))))
    return out


def test_text_message_streamed_and_not(server, client, scripted_checkpoint):
    script = scripted_checkpoint
    openai_usage = httpx.post(f"{server.url}/v1/chat/completions", json={
        "model": MODEL, "messages": script.hello, "temperature": 0}).json()["usage"]
    message = client.messages.create(model=MODEL, max_tokens=64, messages=script.hello, **GREEDY)
    assert [b.type for b in message.content] == ["text"] and message.content[0].text == script.hello_reply
    assert message.stop_reason == "end_turn" and message.stop_sequence is None
    assert message.usage.input_tokens + message.usage.cache_read_input_tokens == openai_usage["prompt_tokens"]
    assert message.usage.cache_read_input_tokens > 0  # the same prompt again: its full blocks come from the cache
    assert message.usage.output_tokens == openai_usage["completion_tokens"]

    with client.messages.stream(model=MODEL, max_tokens=64, messages=script.hello, **GREEDY) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == script.hello_reply and final.content[0].text == text and final.stop_reason == "end_turn"
    assert final.usage.output_tokens == message.usage.output_tokens

    names = [name for name, _ in events_of(server, {"model": MODEL, "max_tokens": 64, "messages": script.hello,
                                                     "temperature": 0})]
    deltas = names.count("content_block_delta")
    assert deltas > 1 and names == ["message_start", "content_block_start", *["content_block_delta"] * deltas,
                                    "content_block_stop", "message_delta", "message_stop"]


def test_tool_use_streamed_and_not(server, client, scripted_checkpoint):
    script = scripted_checkpoint
    request = dict(model=MODEL, max_tokens=64, messages=script.question, tools=[anthropic_tool(script.tool)])
    message = client.messages.create(**request, **GREEDY)
    assert message.stop_reason == "tool_use"
    [block] = message.content
    assert (block.type, block.id, block.name) == ("tool_use", "functions.get_weather:0", "get_weather")
    assert block.input == json.loads(script.arguments)

    with client.messages.stream(**request, **GREEDY) as stream:
        final = stream.get_final_message()
    assert final.stop_reason == "tool_use" and final.content[0].input == block.input

    events = events_of(server, {**request, "temperature": 0})
    assert [name for name, _ in events] == ["message_start", "content_block_start", "content_block_delta",
                                            "content_block_stop", "message_delta", "message_stop"]
    start, delta = events[1][1], events[2][1]
    assert start["content_block"] == {"type": "tool_use", "id": block.id, "name": "get_weather", "input": {}}
    assert delta["delta"]["type"] == "input_json_delta" and json.loads(delta["delta"]["partial_json"]) == block.input
    assert events[4][1]["delta"] == {"stop_reason": "tool_use", "stop_sequence": None}
    assert events[4][1]["usage"]["output_tokens"] == message.usage.output_tokens


def test_tool_result_round_trip(client, scripted_checkpoint):
    """tool_use / tool_result blocks with Anthropic's own ids (toolu_...) become K2's tool call and result."""
    script = scripted_checkpoint
    messages = [*script.question,
                {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_01A09q90qw90lq917835lq9",
                                                   "name": "get_weather", "input": json.loads(script.arguments)}]},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_01A09q90qw90lq917835lq9",
                                              "content": [{"type": "text", "text": "sunny, 24 C"}]}]}]
    message = client.messages.create(model=MODEL, max_tokens=64, messages=messages,
                                     tools=[anthropic_tool(script.tool)], **GREEDY)
    assert message.content[0].text == script.followup_reply and message.stop_reason == "end_turn"


def test_forced_tool_with_invalid_arguments(client, scripted_checkpoint):
    """tool_choice {"type": "tool"} forces the call; what the model writes is not JSON, so input is {}: the
    client still gets a well-formed tool_use block, streamed and not."""
    tools = [anthropic_tool(scripted_checkpoint.tool),
             {"name": "get_time", "description": "The time now", "input_schema": {"type": "object"}}]
    request = dict(model=MODEL, max_tokens=6, messages=scripted_checkpoint.hello, tools=tools,
                   tool_choice={"type": "tool", "name": "get_time"})
    message = client.messages.create(**request, **GREEDY)
    assert [(b.type, b.name, b.input) for b in message.content] == [("tool_use", "get_time", {})]
    assert message.stop_reason in ("tool_use", "max_tokens")
    with client.messages.stream(**request, **GREEDY) as stream:
        final = stream.get_final_message()
    assert final.content[0].name == "get_time" and final.content[0].input == {}


def test_stop_sequences_and_max_tokens(client, scripted_checkpoint):
    message = client.messages.create(model=MODEL, max_tokens=64, messages=scripted_checkpoint.hello,
                                     stop_sequences=["help", "zzz"], **GREEDY)
    assert message.content[0].text == "Hello! How can I " and message.stop_reason == "stop_sequence"
    assert message.stop_sequence == "help"
    with client.messages.stream(model=MODEL, max_tokens=64, messages=scripted_checkpoint.hello,
                                stop_sequences=["help"], **GREEDY) as stream:
        final = stream.get_final_message()
    assert final.stop_reason == "stop_sequence" and final.stop_sequence == "help"
    message = client.messages.create(model=MODEL, max_tokens=3, messages=scripted_checkpoint.hello, **GREEDY)
    assert message.stop_reason == "max_tokens" and message.usage.output_tokens == 3
    # Claude Code asks for 32000 tokens: more than this 512-token model has room for, so it gets what fits.
    message = client.messages.create(model=MODEL, max_tokens=500, messages=scripted_checkpoint.hello, **GREEDY)
    assert message.content[0].text == scripted_checkpoint.hello_reply


def test_system_prompt_and_count_tokens(server, client, scripted_checkpoint):
    system = [{"type": "text", "text": "You are terse."}]
    counted = client.messages.count_tokens(model=MODEL, messages=scripted_checkpoint.hello, system=system)
    message = client.messages.create(model=MODEL, max_tokens=4, messages=scripted_checkpoint.hello, system=system,
                                     **GREEDY)
    assert counted.input_tokens == message.usage.input_tokens + message.usage.cache_read_input_tokens
    openai_usage = httpx.post(f"{server.url}/v1/chat/completions", json={"model": MODEL, "max_tokens": 1, "messages": [
        {"role": "system", "content": "You are terse."}, *scripted_checkpoint.hello]}).json()["usage"]
    assert counted.input_tokens == openai_usage["prompt_tokens"]


def test_temperature_is_scaled_per_model(server, client, scripted_checkpoint, monkeypatch):
    """Moonshot's mapping: the engine samples at request temperature x 0.6 (a per-model setting)."""
    engine = server.serving.engine
    seen = []
    submit = engine.submit

    async def spy(prompt_ids, params, request_id=None):
        seen.append(params.temperature)
        return await submit(prompt_ids, params, request_id)

    monkeypatch.setattr(engine, "submit", spy)
    client.messages.create(model=MODEL, max_tokens=2, messages=scripted_checkpoint.hello)
    client.messages.create(model=MODEL, max_tokens=2, messages=scripted_checkpoint.hello, extra_body={"temperature": 0.5})
    monkeypatch.setattr(server.serving.model, "anthropic_temperature_scale", 1.0)
    client.messages.create(model=MODEL, max_tokens=2, messages=scripted_checkpoint.hello, extra_body={"temperature": 0.5})
    assert seen == pytest.approx([0.6, 0.3, 0.5])


def test_clients_in_the_wild(server, scripted_checkpoint):
    """What agent front-ends send: HEAD /, ?beta=true, beta headers, fields this server has never heard of."""
    assert httpx.head(server.url).status_code == 200
    assert httpx.get(server.url).json()["model"] == MODEL
    body = {"model": MODEL, "max_tokens": 8, "messages": [
        {"role": "user", "content": [{"type": "text", "text": "Hello", "cache_control": {"type": "ephemeral"}}]}],
        "system": [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}],
        "metadata": {"user_id": "u1"}, "thinking": {"type": "disabled"}, "context_management": {"edits": []},
        "temperature": 0}
    headers = {"anthropic-version": "2023-06-01", "anthropic-beta": "made-up-feature-2099-01-01,another-one",
               "x-api-key": "anything"}
    reply = httpx.post(f"{server.url}/v1/messages?beta=true", json=body, headers=headers)
    assert reply.status_code == 200 and reply.json()["content"][0]["type"] == "text"
    counted = httpx.post(f"{server.url}/v1/messages/count_tokens?beta=true", headers=headers,
                         json={k: v for k, v in body.items() if k != "max_tokens"})
    assert counted.status_code == 200 and counted.json()["input_tokens"] > 0
    models = httpx.get(f"{server.url}/v1/models", headers=headers).json()
    assert models["data"][0]["id"] == MODEL and models["data"][0]["type"] == "model"
