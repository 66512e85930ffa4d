"""The OpenAI API through the official `openai` client against a live server: chat, streaming, tools, sampling, completions."""

from __future__ import annotations

import json

import httpx
import openai
import pytest
import torch

from openk2.chat import encode_prompt
from openk2.engine import LLMEngine, SamplingParams
from openk2.tool_parser import parse_output

pytestmark = pytest.mark.usefixtures("one_torch_thread")
MODEL = "openk2-test"
GREEDY = {"temperature": 0}
TIME_TOOL = {"type": "function", "function": {"name": "get_time", "description": "The time now",
                                              "parameters": {"type": "object", "properties": {}}}}


@pytest.fixture(scope="module")
def client(server) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server.url}/v1", api_key="EMPTY", max_retries=0)


@pytest.fixture(scope="module")
def reference(scripted_checkpoint) -> LLMEngine:
    """A second engine on the same checkpoint, driven directly, for the API's output to be compared with."""
    return LLMEngine.from_pretrained(scripted_checkpoint.path, dtype=torch.float32)


def engine_greedy(reference: LLMEngine, messages: list, max_tokens: int, tools=None):
    prompt = encode_prompt(reference.tokenizer, messages, tools=tools)
    return reference.generate([prompt], SamplingParams(max_tokens=max_tokens, temperature=0))[0], len(prompt)


def stream_text(stream) -> tuple[str, list]:
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    return text, chunks


def test_chat_equals_engine_greedy(client, reference, scripted_checkpoint):
    """The scripted reply, and deterministic gibberish for an unscripted prompt, exactly as the engine makes them."""
    script = scripted_checkpoint
    for messages in (script.hello, [{"role": "user", "content": "Tell me about experts."}]):
        expected, prompt_tokens = engine_greedy(reference, messages, 40)
        reply = client.chat.completions.create(model=MODEL, messages=messages, max_tokens=40, **GREEDY)
        choice = reply.choices[0]
        assert choice.message.content == parse_output(expected.text).content
        assert choice.finish_reason == expected.finish_reason
        assert reply.usage.prompt_tokens == prompt_tokens
        assert reply.usage.completion_tokens == len(expected.token_ids)
        assert reply.usage.total_tokens == prompt_tokens + len(expected.token_ids)
        streamed, _ = stream_text(client.chat.completions.create(model=MODEL, messages=messages, max_tokens=40,
                                                                 stream=True, **GREEDY))
        assert streamed == choice.message.content
    assert client.chat.completions.create(model=MODEL, messages=script.hello, **GREEDY).choices[0].message.content \
        == script.hello_reply


def test_stream_follows_openai_chunk_rules(server, client, scripted_checkpoint):
    """Role first; content deltas; a finish chunk; with include_usage a last chunk with no choices; then [DONE]."""
    request = dict(model=MODEL, messages=scripted_checkpoint.hello, **GREEDY)
    whole = client.chat.completions.create(**request)
    text, chunks = stream_text(client.chat.completions.create(**request, stream=True,
                                                              stream_options={"include_usage": True}))
    assert chunks[0].choices[0].delta.role == "assistant"
    assert text == whole.choices[0].message.content
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == whole.usage.completion_tokens
    assert chunks[-1].usage.prompt_tokens == whole.usage.prompt_tokens
    assert all(c.usage is None for c in chunks[:-1])
    assert len({c.id for c in chunks}) == 1
    raw = httpx.post(f"{server.url}/v1/chat/completions", json={**request, "stream": True}).text
    events = [line for line in raw.split("\n\n") if line]
    assert all(e.startswith("data: ") for e in events) and events[-1] == "data: [DONE]"
    assert "usage" not in json.loads(events[1][6:])  # without include_usage, no usage field at all


def test_tool_call_parses_into_tool_calls(client, scripted_checkpoint):
    """The model writes K2's tool-call markers; the API returns them as message.tool_calls, streamed and not."""
    script = scripted_checkpoint
    request = dict(model=MODEL, messages=script.question, tools=[script.tool], **GREEDY)
    reply = client.chat.completions.create(**request)
    choice = reply.choices[0]
    assert choice.finish_reason == "tool_calls" and not choice.message.content
    [call] = choice.message.tool_calls
    assert (call.id, call.type, call.function.name) == ("functions.get_weather:0", "function", "get_weather")
    assert json.loads(call.function.arguments) == json.loads(script.arguments)

    chunks = list(client.chat.completions.create(**request, stream=True))
    deltas = [d for c in chunks if c.choices for d in c.choices[0].delta.tool_calls or []]
    assert deltas[0].index == 0 and deltas[0].id == call.id and deltas[0].function.name == "get_weather"
    assert all(d.index == 0 for d in deltas) and all(d.id is None for d in deltas[1:])
    assert "".join(d.function.arguments or "" for d in deltas) == call.function.arguments
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


def test_tool_declarations_reach_the_prompt(client, reference, scripted_checkpoint):
    script = scripted_checkpoint
    with_tools = client.chat.completions.create(model=MODEL, messages=script.question, tools=[script.tool],
                                                max_tokens=1, **GREEDY)
    without = client.chat.completions.create(model=MODEL, messages=script.question, max_tokens=1, **GREEDY)
    declared = encode_prompt(reference.tokenizer, script.question, tools=[script.tool])
    assert with_tools.usage.prompt_tokens == len(declared)
    assert without.usage.prompt_tokens == len(encode_prompt(reference.tokenizer, script.question))
    assert reference.tokenizer.decode(declared).count('"name":"get_weather"') == 1


def test_tool_result_with_a_foreign_call_id(client, scripted_checkpoint):
    """A history written with another provider's call ids (call_abc123) is renamed to K2's functions.NAME:IDX
    before the model sees it, so the model answers as it would to its own ids."""
    script = scripted_checkpoint
    history = json.loads(json.dumps(script.followup).replace("functions.get_weather:0", "call_abc123"))
    reply = client.chat.completions.create(model=MODEL, messages=history, tools=[script.tool], **GREEDY)
    assert reply.choices[0].message.content == script.followup_reply
    assert reply.choices[0].finish_reason == "stop"


def test_named_tool_choice_forces_the_call(client, scripted_checkpoint):
    """tool_choice naming a function starts the answer with its call header: the output is that call even
    where the model would have said something else (its arguments are whatever it writes)."""
    request = dict(model=MODEL, messages=scripted_checkpoint.hello, tools=[scripted_checkpoint.tool, TIME_TOOL],
                   tool_choice={"type": "function", "function": {"name": "get_time"}}, max_tokens=8, **GREEDY)
    choice = client.chat.completions.create(**request).choices[0]
    [call] = choice.message.tool_calls
    assert (call.id, call.function.name) == ("functions.get_time:0", "get_time")
    assert choice.finish_reason in ("tool_calls", "length")
    chunks = list(client.chat.completions.create(**request, stream=True))
    deltas = [d for c in chunks if c.choices for d in c.choices[0].delta.tool_calls or []]
    assert deltas[0].id == "functions.get_time:0" and deltas[0].function.name == "get_time"
    assert "".join(d.function.arguments or "" for d in deltas) == call.function.arguments

    # "required" with a single tool is the same as naming it; the call index continues the conversation's.
    history = [*scripted_checkpoint.followup, {"role": "user", "content": "And now?"}]
    call = client.chat.completions.create(model=MODEL, messages=history, tools=[TIME_TOOL], tool_choice="required",
                                          max_tokens=4, **GREEDY).choices[0].message.tool_calls[0]
    assert call.id == "functions.get_time:1"


def test_tool_choice_none_keeps_calls_out(client, scripted_checkpoint):
    script = scripted_checkpoint
    choice = client.chat.completions.create(model=MODEL, messages=script.question, tools=[script.tool],
                                            tool_choice="none", **GREEDY).choices[0]
    assert choice.message.tool_calls is None and choice.finish_reason == "stop"


def test_sampling_parameters(client, scripted_checkpoint):
    messages = [{"role": "user", "content": "Write a poem."}]
    seeded = dict(model=MODEL, messages=messages, max_tokens=12, temperature=1.0, seed=7, n=3)
    first, again = client.chat.completions.create(**seeded), client.chat.completions.create(**seeded)
    assert [c.index for c in first.choices] == [0, 1, 2]
    assert [c.message.content for c in first.choices] == [c.message.content for c in again.choices]
    assert len({c.message.content for c in first.choices}) > 1  # seed + index: the choices differ
    assert first.usage.completion_tokens == 36 and all(c.finish_reason == "length" for c in first.choices)
    streamed = {}
    for chunk in client.chat.completions.create(**seeded, stream=True):
        for c in chunk.choices:
            streamed[c.index] = streamed.get(c.index, "") + (c.delta.content or "")
    assert [streamed[i] for i in range(3)] == [c.message.content for c in first.choices]

    reply = client.chat.completions.create(model=MODEL, messages=scripted_checkpoint.hello, stop=["help"], **GREEDY)
    assert reply.choices[0].message.content == "Hello! How can I " and reply.choices[0].finish_reason == "stop"
    reply = client.chat.completions.create(model=MODEL, messages=messages, max_completion_tokens=5,
                                           presence_penalty=1.5, frequency_penalty=0.5, top_p=0.9, **GREEDY)
    assert reply.usage.completion_tokens == 5 and reply.choices[0].finish_reason == "length"

    reply = client.chat.completions.create(model=MODEL, messages=scripted_checkpoint.hello, logprobs=True,
                                           top_logprobs=3, **GREEDY)
    entries = reply.choices[0].logprobs.content
    assert "".join(e.token for e in entries) == scripted_checkpoint.hello_reply
    assert all(len(e.top_logprobs) == 3 and e.top_logprobs[0].token == e.token for e in entries)  # greedy: the top one
    assert all(e.logprob <= 0 and bytes(e.bytes).decode() == e.token for e in entries)


def test_json_object_response_format(client):
    reply = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "Answer in JSON."}],
                                           response_format={"type": "json_object"}, max_tokens=5, **GREEDY)
    assert reply.choices[0].message.content.startswith("{")


def test_text_completions(client, reference):
    prompt = "def fibonacci(n):"
    expected = reference.generate([reference.tokenizer.encode(prompt)], SamplingParams(max_tokens=10, temperature=0))[0]
    reply = client.completions.create(model=MODEL, prompt=prompt, max_tokens=10, **GREEDY)
    assert reply.choices[0].text == expected.text and reply.usage.completion_tokens == 10
    echoed = client.completions.create(model=MODEL, prompt=prompt, max_tokens=10, echo=True, **GREEDY)
    assert echoed.choices[0].text == prompt + expected.text
    streamed = "".join(c.choices[0].text for c in client.completions.create(
        model=MODEL, prompt=prompt, max_tokens=10, stream=True, **GREEDY) if c.choices)
    assert streamed == expected.text
    with_logprobs = client.completions.create(model=MODEL, prompt=prompt, max_tokens=10, logprobs=2, **GREEDY)
    logprobs = with_logprobs.choices[0].logprobs
    assert len(logprobs.tokens) == 10 and len(logprobs.top_logprobs[0]) == 2
    assert logprobs.text_offset[0] == 0 and "".join(logprobs.tokens) == expected.text
    ids = reference.tokenizer.encode(prompt)
    several = client.completions.create(model=MODEL, prompt=[ids, ids], max_tokens=10, n=2, **GREEDY)
    assert [c.index for c in several.choices] == [0, 1, 2, 3]
    assert {c.text for c in several.choices} == {expected.text}
    assert several.usage.prompt_tokens == 2 * len(ids)


def test_models(client):
    assert [m.id for m in client.models.list()] == [MODEL]
    assert client.models.retrieve(MODEL).id == MODEL
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("gpt-4o")
    with pytest.raises(openai.NotFoundError) as error:
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
    assert error.value.body["code"] == "model_not_found" and error.value.body["param"] == "model"
