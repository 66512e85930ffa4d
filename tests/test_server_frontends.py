"""What agent front-ends and everyday clients need from the server, through their official clients: model aliases,
Claude-Code-sized prompts and max_tokens on a small model, prompts too long worded as each API words them, system
messages inside Anthropic's messages, structured outputs (`messages.parse`), images, schemas guided decoding cannot
fully express (a pydantic set[str] tool through the Agents SDK), request ids, CORS, the model checked first."""

from __future__ import annotations

import asyncio
import json
from typing import Literal

import anthropic
import httpx
import openai
import pydantic
import pytest
from conftest import live_server

pytestmark = pytest.mark.usefixtures("one_torch_thread")
MODEL = "openk2-test"
GREEDY = {"temperature": 0}
HI = [{"role": "user", "content": "Hello"}]
CONTEXT = 4096  # the frontend server's, by YaRN over the scripted checkpoint's 512


@pytest.fixture(scope="module")
def frontend(scripted_checkpoint, tmp_path_factory):
    """Like `openk2 serve --max-model-len 4096 --served-model-name openk2-test --served-model-name 'claude-*'
    --served-model-name kimi-k2 --cors-origin https://app.example`."""
    with live_server(scripted_checkpoint.path, tmp_path_factory.mktemp("frontend"), aliases=("claude-*", "kimi-k2"),
                     engine={"max_model_len": CONTEXT, "cache_budget_bytes": 16 * 1024**2},
                     cors_origins=("https://app.example",)) as live:
        yield live


@pytest.fixture(scope="module")
def claude(frontend) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=frontend.url, api_key="anything", max_retries=0)


def long_text(tokens: int) -> str:
    """About `tokens` tokens of varied text (the scripted tokenizer makes about 4 tokens of each word and digit)."""
    words = "the model reads each tool schema and the system prompt before the user turn".split()
    return " ".join(words[i % len(words)] + str(i % 7) for i in range(tokens // 4))


def test_aliases_answer_claudes_own_model_names(frontend, claude):
    """Claude Code without --model asks for Claude's names; aliases (patterns too) serve them, echoing the name."""
    message = claude.messages.create(model="claude-sonnet-4-5-20250929", max_tokens=4, messages=HI)
    assert message.model == "claude-sonnet-4-5-20250929" and message.id.startswith("msg_")
    client = openai.OpenAI(base_url=f"{frontend.url}/v1", api_key="EMPTY", max_retries=0)
    assert client.chat.completions.create(model="kimi-k2", messages=HI, max_tokens=2).model == "kimi-k2"
    assert [m.id for m in client.models.list()] == [MODEL, "kimi-k2"]  # exact names; patterns are not listed
    assert client.models.retrieve("claude-haiku-4-5").id == "claude-haiku-4-5"
    with pytest.raises(openai.NotFoundError, match="claude-\\*"):
        client.chat.completions.create(model="gpt-4o", messages=HI)


def test_claude_code_sized_prompt_and_max_tokens_fit(frontend, claude):
    """A long system prompt + tools (Claude Code's are 8-23K tokens on a 32K nano) and max_tokens 32000: the answer
    gets the room left in the context instead of a 400, on every API."""
    system = long_text(2800)
    tools = [{"name": f"tool_{i}", "description": long_text(60), "input_schema": {
        "type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]}} for i in range(4)]
    counted = claude.messages.count_tokens(model="claude-sonnet-4-5", system=system, messages=HI, tools=tools)
    assert 2500 < counted.input_tokens < CONTEXT - 100
    with claude.messages.stream(model="claude-sonnet-4-5", system=system, messages=HI, tools=tools,  # as Claude Code
                                max_tokens=32000, extra_body=GREEDY) as stream:  # (the client has no temperature)
        message = stream.get_final_message()
    assert message.usage.input_tokens + message.usage.cache_read_input_tokens == counted.input_tokens
    assert message.usage.output_tokens <= CONTEXT - counted.input_tokens
    client = openai.OpenAI(base_url=f"{frontend.url}/v1", api_key="EMPTY", max_retries=0)
    reply = client.chat.completions.create(model=MODEL, messages=HI, max_tokens=10**9, stop=["e"], **GREEDY)
    assert reply.choices[0].finish_reason in ("stop", "length")
    response = client.responses.create(model=MODEL, input="Hello", max_output_tokens=10**9, **GREEDY)
    assert response.status in ("completed", "incomplete")


def test_a_prompt_too_long_is_worded_as_each_api_words_it(frontend, claude):
    """Anthropic: `prompt is too long: N tokens > M maximum` (Claude Code compacts on it); OpenAI:
    context_length_exceeded."""
    messages = [{"role": "user", "content": long_text(2 * CONTEXT)}]
    tokens = claude.messages.count_tokens(model=MODEL, messages=messages).input_tokens
    with pytest.raises(anthropic.BadRequestError) as refused:
        claude.messages.stream(model=MODEL, max_tokens=32000, messages=messages).__enter__()
    assert refused.value.body["error"] == {"type": "invalid_request_error",
                                           "message": f"prompt is too long: {tokens} tokens > {CONTEXT - 1} maximum"}
    client = openai.OpenAI(base_url=f"{frontend.url}/v1", api_key="EMPTY", max_retries=0)
    with pytest.raises(openai.BadRequestError) as refused:
        client.chat.completions.create(model=MODEL, messages=messages)
    assert refused.value.code == "context_length_exceeded" and refused.value.param == "messages"
    assert f"maximum context length is {CONTEXT} tokens" in refused.value.message
    with pytest.raises(openai.BadRequestError) as refused:
        client.responses.create(model=MODEL, input=messages)
    assert refused.value.code == "context_length_exceeded" and refused.value.param == "input"


def test_a_system_message_inside_anthropic_messages(server):
    """Claude Code's first request of a session carries a system-role message in `messages`: it is rendered like
    the `system` parameter, in place."""
    client = anthropic.Anthropic(base_url=server.url, api_key="anything", max_retries=0)
    inline = [{"role": "system", "content": "You are terse."}, *HI]
    counted = client.messages.count_tokens(model=MODEL, messages=inline)
    assert counted.input_tokens == client.messages.count_tokens(model=MODEL, system="You are terse.",
                                                                messages=HI).input_tokens
    message = client.messages.create(model=MODEL, max_tokens=4, messages=inline)
    assert message.usage.input_tokens + message.usage.cache_read_input_tokens == counted.input_tokens


class Record(pydantic.BaseModel):
    """Every value of this schema is a few tokens long, so a random model's answer always ends within max_tokens
    (the client's transform_schema drops minimum / maximum, so a bounded int would not be bounded on the wire)."""

    answer: Literal["yes", "no"]
    ok: bool
    count: Literal[1, 2, 3]


def test_structured_outputs_through_messages_parse(server):
    """anthropic's messages.parse sends output_config.format: the answer is guided to the schema and parses."""
    client = anthropic.Anthropic(base_url=server.url, api_key="anything", max_retries=0)
    message = client.messages.parse(model=MODEL, max_tokens=120, output_format=Record,
                                    messages=[{"role": "user", "content": "A record, please."}])
    assert isinstance(message.parsed_output, Record), message.content


def test_images_and_documents_become_placeholders(server):
    """An image in a user turn or inside a tool_result, a PDF document: replaced by a placeholder the model reads,
    and a Warning header; the request succeeds, so an agent session holding a screenshot keeps working."""
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}}
    document = {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0="}}
    messages = [{"role": "user", "content": [{"type": "text", "text": "Look"}, image, document]},
                {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "shot", "input": {}}]},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1",
                                              "content": [{"type": "text", "text": "taken"}, image]}]}]
    tools = [{"name": "shot", "input_schema": {"type": "object", "properties": {}}}]
    response = httpx.post(f"{server.url}/v1/messages", json={"model": MODEL, "max_tokens": 3, "messages": messages,
                                                             "tools": tools})
    assert response.status_code == 200, response.text
    assert response.headers["warning"] == '299 openk2 "2 images, 1 document replaced by a text placeholder: ' \
                                          'this model reads text only"'
    chat = httpx.post(f"{server.url}/v1/chat/completions", json={"model": MODEL, "max_tokens": 3, "messages": [
        {"role": "user", "content": [{"type": "text", "text": "What is this?"},
                                     {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}]}]})
    assert chat.status_code == 200 and "1 image replaced" in chat.headers["warning"]


UNIQUE_TAGS = {"type": "object", "properties": {"tags": {"type": "array", "items": {"enum": ["a"]}, "minItems": 2,
                                                         "uniqueItems": True}},
               "required": ["tags"], "additionalProperties": False}


def test_unenforceable_keywords_guide_loosely_and_violations_are_reported(server):
    """uniqueItems (or not, if/then, contains, ...) no longer refuses the request: the grammar enforces the rest
    of the schema, the arguments are validated against all of it, and a violation is reported in a Warning header
    (a stream: an SSE comment) and counted in /metrics. Here the rest forces ["a", "a"], which uniqueItems forbids."""
    tools = [{"type": "function", "function": {"name": "tag", "parameters": UNIQUE_TAGS}},
             {"type": "function", "function": {"name": "other", "parameters": {
                 "type": "object", "properties": {"x": {"not": {"type": "null"}}, "y": {"type": "string",
                                                                                     "pattern": "^(?!no)"}}}}}]
    body = {"model": MODEL, "messages": HI, "tools": tools, "max_tokens": 40,
            "tool_choice": {"type": "function", "function": {"name": "tag"}}}
    response = httpx.post(f"{server.url}/v1/chat/completions", json=body)
    assert response.status_code == 200, response.text
    [call] = response.json()["choices"][0]["message"]["tool_calls"]
    assert json.loads(call["function"]["arguments"]) == {"tags": ["a", "a"]}
    assert "tools[0].function.parameters: tag arguments fail validation" in response.headers["warning"]
    assert "non-unique elements" in response.headers["warning"]
    streamed = httpx.post(f"{server.url}/v1/chat/completions", json={**body, "stream": True}).text
    assert ": warning: tools[0].function.parameters: tag arguments fail validation" in streamed
    assert 'openk2_schema_violations_total 2.0' in httpx.get(f"{server.url}/metrics").text
    auto = httpx.post(f"{server.url}/v1/chat/completions", json={**body, "tool_choice": "auto"})
    assert auto.status_code == 200, auto.text  # `not` and a look-around pattern in another tool: served too


def test_a_pydantic_set_tool_through_the_agents_sdk(server):
    """A tool taking set[str] (JSON Schema uniqueItems) through the Agents SDK's default model: the request is
    served, the call is guided, and the SDK runs the tool with a set."""
    agents = pytest.importorskip("agents")
    agents.set_tracing_disabled(True)
    seen = []

    @agents.function_tool
    def label(tags: set[str]) -> str:
        """Label the conversation.

        Args:
            tags: distinct labels.
        """
        seen.append(tags)
        return "labelled"

    assert label.params_json_schema["properties"]["tags"]["uniqueItems"] is True
    client = openai.AsyncOpenAI(base_url=f"{server.url}/v1", api_key="EMPTY", max_retries=0)
    agent = agents.Agent(name="labeller", model=agents.OpenAIResponsesModel(model=MODEL, openai_client=client),
                         tools=[label], tool_use_behavior="stop_on_first_tool",
                         model_settings=agents.ModelSettings(tool_choice="required", temperature=0, max_tokens=60))
    result = asyncio.run(agents.Runner.run(agent, "Label this chat."))
    assert result.final_output == "labelled" and len(seen) == 1 and isinstance(seen[0], set)


def test_request_ids_on_every_response(server):
    """x-request-id (OpenAI's header) and request-id (Anthropic's), on successes and errors alike; a client's own
    x-request-id is kept, a malformed one replaced."""
    for response in (httpx.post(f"{server.url}/v1/chat/completions", json={"model": MODEL, "messages": HI,
                                                                           "max_tokens": 1}),
                     httpx.post(f"{server.url}/v1/messages", json={"model": MODEL, "messages": HI}),
                     httpx.get(f"{server.url}/v1/nowhere")):
        assert response.headers["x-request-id"].startswith("req_")
        assert response.headers["request-id"] == response.headers["x-request-id"]
    mine = httpx.get(f"{server.url}/health", headers={"x-request-id": "trace-42.a"})
    assert mine.headers["x-request-id"] == "trace-42.a"
    odd = httpx.get(f"{server.url}/health", headers={"x-request-id": "x" * 200})
    assert odd.headers["x-request-id"].startswith("req_")
    client = openai.OpenAI(base_url=f"{server.url}/v1", api_key="EMPTY", max_retries=0)
    raw = client.chat.completions.with_raw_response.create(model=MODEL, messages=HI, max_tokens=1)
    assert raw.request_id.startswith("req_")


def preflight(url: str, origin: str) -> httpx.Response:
    return httpx.options(f"{url}/v1/chat/completions", headers={
        "origin": origin, "access-control-request-method": "POST",
        "access-control-request-headers": "authorization, content-type"})


def test_cors_allows_local_pages_by_default_and_configured_origins(server, frontend):
    local = preflight(server.url, "http://localhost:5173")
    assert local.status_code == 200 and local.headers["access-control-allow-origin"] == "http://localhost:5173"
    assert "authorization" in local.headers["access-control-allow-headers"].lower()
    foreign = preflight(server.url, "https://evil.example")
    assert foreign.status_code == 400 and "access-control-allow-origin" not in foreign.headers
    configured = preflight(frontend.url, "https://app.example")
    assert configured.status_code == 200 and configured.headers["access-control-allow-origin"] == "https://app.example"
    assert preflight(frontend.url, "http://localhost:5173").status_code == 400  # configured: only those origins
    reply = httpx.post(f"{server.url}/v1/chat/completions", headers={"origin": "http://127.0.0.1:8080"},
                       json={"model": MODEL, "messages": HI, "max_tokens": 1})
    assert reply.headers["access-control-allow-origin"] == "http://127.0.0.1:8080"
    assert "x-request-id" in reply.headers["access-control-expose-headers"]


def test_the_model_is_checked_before_the_body(server):
    """A request for a model this server does not serve is a 404, whatever else is wrong with it."""
    for path, body in (("/v1/chat/completions", {"model": "gpt-4o", "messages": "not a list"}),
                       ("/v1/messages", {"model": "claude-opus-4", "messages": []}),
                       ("/v1/responses", {"model": "gpt-5", "input": 42})):
        response = httpx.post(server.url + path, json=body)
        assert response.status_code == 404, (path, response.text)


def test_silent_streams_get_keepalives(server, monkeypatch):
    """While a long prompt prefills, a stream sends keep-alives (Claude Code gives up on 5 silent minutes):
    Anthropic's ping event, an SSE comment on the OpenAI APIs. Shown here with a keep-alive every millisecond."""
    from openk2.server import streaming

    monkeypatch.setattr(streaming, "KEEPALIVE_SECONDS", 0.001)
    text = httpx.post(f"{server.url}/v1/messages", json={"model": MODEL, "max_tokens": 20, "messages": HI,
                                                         "stream": True}).text
    assert 'event: ping\ndata: {"type": "ping"}' in text and text.rstrip().endswith('data: {"type": "message_stop"}')
    client = anthropic.Anthropic(base_url=server.url, api_key="anything", max_retries=0)
    with client.messages.stream(model=MODEL, max_tokens=20, messages=HI) as stream:  # the client skips pings
        assert stream.get_final_message().usage.output_tokens > 0
    chunks = httpx.post(f"{server.url}/v1/chat/completions", json={"model": MODEL, "max_tokens": 20, "messages": HI,
                                                                   "stream": True}).text
    assert ": keep-alive\n\n" in chunks and chunks.rstrip().endswith("data: [DONE]")
