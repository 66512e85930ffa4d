"""OpenAI's Responses API (POST /v1/responses) through the official `openai` client and the OpenAI Agents SDK, whose
default model speaks it: text, streaming events, function calls and their results, JSON output, stateless refusals."""

from __future__ import annotations

import asyncio
import json

import httpx
import jsonschema
import openai
import pytest

pytestmark = pytest.mark.usefixtures("one_torch_thread")
MODEL = "openk2-test"
GREEDY = {"temperature": 0}


@pytest.fixture(scope="module")
def client(server) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server.url}/v1", api_key="EMPTY", max_retries=0)


def weather_tool(script) -> dict:
    """The scripted weather tool in the Responses API's flat form."""
    return {"type": "function", **script.tool["function"]}


def test_text_reply_streamed_and_not(client, scripted_checkpoint):
    script = scripted_checkpoint
    reply = client.responses.create(model=MODEL, input=script.hello[0]["content"], **GREEDY)
    assert reply.id.startswith("resp_") and reply.status == "completed" and reply.output_text == script.hello_reply
    [message] = reply.output
    assert message.type == "message" and message.id.startswith("msg_") and message.content[0].type == "output_text"
    assert reply.usage.output_tokens > 0 and reply.usage.total_tokens == reply.usage.input_tokens + reply.usage.output_tokens
    events = list(client.responses.create(model=MODEL, input=script.hello, stream=True, **GREEDY))
    kinds = [e.type for e in events]
    assert kinds[:4] == ["response.created", "response.in_progress", "response.output_item.added",
                         "response.content_part.added"]
    assert kinds[-4:] == ["response.output_text.done", "response.content_part.done", "response.output_item.done",
                          "response.completed"]
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert "".join(e.delta for e in events if e.type == "response.output_text.delta") == script.hello_reply
    final = events[-1].response
    assert final.output_text == script.hello_reply and final.usage.output_tokens == reply.usage.output_tokens
    assert final.output[0].id == events[2].item.id  # the streamed item is the final one


def test_function_call_and_its_result(client, scripted_checkpoint):
    """A function_call item out; the call and its function_call_output back in give the scripted answer."""
    script = scripted_checkpoint
    tools = [weather_tool(script)]
    reply = client.responses.create(model=MODEL, input=script.question, tools=tools, **GREEDY)
    [call] = reply.output
    assert call.type == "function_call" and call.name == "get_weather" and call.id.startswith("fc_")
    assert call.call_id == "functions.get_weather:0" and call.arguments == script.arguments
    events = list(client.responses.create(model=MODEL, input=script.question, tools=tools, stream=True, **GREEDY))
    deltas = "".join(e.delta for e in events if e.type == "response.function_call_arguments.delta")
    [done] = [e for e in events if e.type == "response.function_call_arguments.done"]
    assert deltas == done.arguments == script.arguments
    assert events[-1].type == "response.completed" and events[-1].response.output[0].call_id == call.call_id
    followup = [*script.question, call.model_dump(exclude_none=True),
                {"type": "function_call_output", "call_id": call.call_id, "output": "sunny, 24 C"}]
    answer = client.responses.create(model=MODEL, input=followup, tools=tools, **GREEDY)
    assert answer.output_text == script.followup_reply
    # The same conversation through Chat Completions costs the same prompt: the items render as the messages do.
    chat = client.chat.completions.create(model=MODEL, messages=script.followup, tools=[script.tool], **GREEDY)
    assert answer.usage.input_tokens == chat.usage.prompt_tokens


def test_namespace_tools_are_offered_and_named_in_calls(client, scripted_checkpoint):
    """Codex groups tools in `namespace` tools: each inner function is offered to the model as itself (the same
    prompt as declaring it flat), and a call to it names its namespace."""
    script = scripted_checkpoint
    grouped = {"type": "namespace", "name": "weather_v1", "description": "Weather tools",
               "tools": [weather_tool(script)]}
    reply = client.responses.create(model=MODEL, input=script.question, tools=[grouped], **GREEDY)
    [call] = reply.output
    assert (call.name, call.namespace, call.arguments) == ("get_weather", "weather_v1", script.arguments)
    flat = client.responses.create(model=MODEL, input=script.question, tools=[weather_tool(script)], **GREEDY)
    assert flat.output[0].namespace is None and flat.usage.input_tokens == reply.usage.input_tokens


def test_text_format_json_schema_is_guided(client):
    schema = {"type": "object", "properties": {"n": {"type": "integer"}, "ok": {"type": "boolean"}},
              "required": ["n", "ok"], "additionalProperties": False}
    reply = client.responses.create(model=MODEL, input="Give me a record.", max_output_tokens=60, **GREEDY,
                                    text={"format": {"type": "json_schema", "name": "record", "schema": schema}})
    jsonschema.validate(json.loads(reply.output_text), schema)
    assert reply.text.format.type == "json_schema"


def test_max_output_tokens_makes_an_incomplete_response(client):
    reply = client.responses.create(model=MODEL, input="Tell me about experts.", max_output_tokens=3, **GREEDY)
    assert reply.status == "incomplete" and reply.incomplete_details.reason == "max_output_tokens"
    assert reply.usage.output_tokens == 3 and reply.max_output_tokens == 3
    events = list(client.responses.create(model=MODEL, input="Tell me about experts.", max_output_tokens=3,
                                          stream=True, **GREEDY))
    assert events[-1].type == "response.incomplete" and events[-1].response.status == "incomplete"


@pytest.mark.parametrize("extra,param", [
    ({"previous_response_id": "resp_123"}, "previous_response_id"),
    ({"store": True}, "store"),
    ({"tools": [{"type": "web_search"}]}, "tools[0].type"),
    ({"tools": [{"type": "namespace", "name": "n", "tools": [{"type": "custom", "name": "apply_patch"}]}]},
     "tools[0].tools[0].type"),
    ({"input": [{"type": "item_reference", "id": "msg_1"}]}, "input[0]"),
    ({"tool_choice": {"type": "allowed_tools", "mode": "auto", "tools": []}}, "tool_choice"),
    ({"text": {"format": {"type": "json_schema", "name": "x", "schema": {"type": "object", "properties": 5}}}},
     "text.format.schema"),
])
def test_what_needs_state_or_hosted_tools_is_a_clear_400(server, extra, param):
    body = {"model": MODEL, "input": "Hello", **extra}
    response = httpx.post(f"{server.url}/v1/responses", json=body)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["param"] == param and error["type"] == "invalid_request_error" and len(error["message"]) < 300


def test_images_become_a_placeholder_and_a_warning(server, client):
    body = {"model": MODEL, "max_output_tokens": 4, "input": [{"role": "user", "content": [
        {"type": "input_text", "text": "What is this?"},
        {"type": "input_image", "image_url": "data:image/png;base64,iVBORw0KGgo="}]}]}
    response = httpx.post(f"{server.url}/v1/responses", json=body)
    assert response.status_code == 200 and "1 image replaced by a text placeholder" in response.headers["warning"]


def test_agents_sdk_default_model_runs_a_tool_loop(server, scripted_checkpoint):
    """The Agents SDK's default model (the Responses API) against openk2: a tool call, the tool's result, the
    answer; with the scripted checkpoint every step is exact."""
    agents = pytest.importorskip("agents")
    script = scripted_checkpoint
    agents.set_tracing_disabled(True)
    calls = []

    async def get_weather(context, arguments: str) -> str:
        calls.append(json.loads(arguments))
        return "sunny, 24 C"

    function = script.tool["function"]
    tool = agents.FunctionTool(name=function["name"], description=function["description"],
                               params_json_schema=function["parameters"], on_invoke_tool=get_weather,
                               strict_json_schema=False)
    # As the README sets it up: the default client, a model by name (the default provider's Responses model).
    agents.set_default_openai_client(openai.AsyncOpenAI(base_url=f"{server.url}/v1", api_key="openk2", max_retries=0))
    agent = agents.Agent(name="weather", model=MODEL, tools=[tool], model_settings=agents.ModelSettings(temperature=0))

    async def run(stream: bool) -> str:
        if not stream:
            return (await agents.Runner.run(agent, script.question[0]["content"])).final_output
        result = agents.Runner.run_streamed(agent, script.question[0]["content"])
        async for _ in result.stream_events():
            pass
        return result.final_output

    async def both() -> list[str]:  # one event loop: the client's connections belong to it
        return [await run(stream=False), await run(stream=True)]

    assert asyncio.run(both()) == [script.followup_reply] * 2
    assert calls == [json.loads(script.arguments)] * 2
