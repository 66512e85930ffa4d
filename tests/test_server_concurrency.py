"""Many clients at once, clients that leave mid-request (their cache blocks are freed at once), and a full server (503)."""

from __future__ import annotations

import asyncio
import time

import anthropic
import httpx
import openai
import pytest
import torch
from conftest import live_server

from openk2.chat import encode_prompt
from openk2.engine import LLMEngine, SamplingParams
from openk2.server.answer_grammar import guide
from openk2.tool_parser import parse_output

pytestmark = pytest.mark.usefixtures("one_torch_thread")
MODEL = "openk2-test"
LONG = {"model": MODEL, "messages": [{"role": "user", "content": "Write a long story."}], "max_tokens": 400,
        "ignore_eos": True, "temperature": 0}


def test_16_concurrent_streams_get_complete_correct_answers(server, scripted_checkpoint):
    """Each of 16 simultaneous streamed chats (the scripted ones, with a tool call, and unscripted ones) gets
    exactly what the engine generates for its prompt alone (guided by the same grammar, which ends the answer
    after the tool-call section without waiting for <|im_end|>)."""
    script = scripted_checkpoint
    chats = [(script.hello, None), (script.question, [script.tool]), (script.followup, [script.tool])]
    chats += [([{"role": "user", "content": f"Tell me about topic {i}."}], None) for i in range(13)]
    reference = LLMEngine.from_pretrained(script.path, dtype=torch.float32)
    expected = []
    for messages, tools in chats:
        grammar = guide(tools or [], "auto", True, None, 0).grammar  # what the server guides with
        done = reference.generate([encode_prompt(reference.tokenizer, messages, tools=tools)],
                                  SamplingParams(max_tokens=40, temperature=0, grammar=grammar))[0]
        expected.append((parse_output(done.text), len(done.token_ids)))

    async def one(client: openai.AsyncOpenAI, messages, tools) -> tuple[str, str, str, str, int]:
        content, name, arguments, finish, usage = "", "", "", None, None
        stream = await client.chat.completions.create(model=MODEL, messages=messages, max_tokens=40, temperature=0,
                                                      stream=True, stream_options={"include_usage": True},
                                                      **({"tools": tools} if tools else {}))
        async for chunk in stream:
            usage = chunk.usage or usage
            for choice in chunk.choices:
                content += choice.delta.content or ""
                for call in choice.delta.tool_calls or []:
                    name += call.function.name or ""
                    arguments += call.function.arguments or ""
                finish = choice.finish_reason or finish
        return content, name, arguments, finish, usage.completion_tokens

    async def everyone():
        async with openai.AsyncOpenAI(base_url=f"{server.url}/v1", api_key="EMPTY", max_retries=0) as client:
            return await asyncio.gather(*(one(client, m, t) for m, t in chats))

    results = asyncio.run(everyone())
    for (content, name, arguments, finish, tokens), (parsed, n) in zip(results, expected):
        assert content == parsed.content and tokens == n
        assert (name, arguments) == ((parsed.tool_calls[0].name, parsed.tool_calls[0].arguments) if parsed.tool_calls
                                     else ("", ""))
        assert finish == ("tool_calls" if parsed.tool_calls else "stop" if n < 40 else "length")
    assert results[0][0] == script.hello_reply and results[1][1] == "get_weather"
    server.wait_idle()


def wait_until_idle(server, within: float) -> float:
    """Seconds until the engine holds no request and every cache block is free (fails after `within`)."""
    start = time.monotonic()
    while server.serving.engine.in_flight or server.cache.num_free_blocks != server.cache.num_blocks:
        assert time.monotonic() - start < within, "the request kept running after its client left"
        time.sleep(0.005)
    return time.monotonic() - start


def test_disconnect_mid_stream_cancels_and_frees_the_cache(server):
    for path, body in (("/v1/chat/completions", {**LONG, "stream": True}),
                       ("/v1/messages", {**LONG, "stream": True})):
        with httpx.stream("POST", server.url + path, json=body) as response:
            lines = response.iter_lines()
            received = [next(lines) for _ in range(12)]
            assert any(line.startswith("data: ") for line in received)
            assert server.cache.num_free_blocks < server.cache.num_blocks  # the request holds blocks now
        wait_until_idle(server, within=2.0)
    server.serving.ledger.flush()
    rows = server.serving.ledger.rows()[-2:]
    assert [r.finish_reason for r in rows] == ["cancelled", "cancelled"]
    assert all(0 < r.completion_tokens < 400 for r in rows)


def test_disconnect_while_waiting_for_a_whole_answer(server):
    """A non-streaming client that gives up (a read timeout) stops its generation too."""
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(server.url + "/v1/chat/completions", json=LONG, timeout=httpx.Timeout(10, read=0.15))
    wait_until_idle(server, within=2.0)
    server.serving.ledger.flush()
    row = server.serving.ledger.rows()[-1]
    assert row.finish_reason == "cancelled" and row.completion_tokens < 400


def test_full_server_answers_503_and_recovers(scripted_checkpoint, tmp_path):
    """One batch slot and one queue place: a third request is refused as overloaded (OpenAI 503, Anthropic 529)."""
    with live_server(scripted_checkpoint.path, tmp_path, engine={"max_seqs": 1, "max_queued": 1}) as live:
        url = live.url + "/v1/chat/completions"
        with httpx.stream("POST", url, json={**LONG, "stream": True}) as first, \
                httpx.stream("POST", url, json={**LONG, "stream": True}) as second:
            assert first.status_code == second.status_code == 200
            with pytest.raises(openai.InternalServerError) as refused:
                openai.OpenAI(base_url=f"{live.url}/v1", api_key="EMPTY", max_retries=0).chat.completions.create(
                    model=MODEL, messages=scripted_checkpoint.hello)
            assert refused.value.status_code == 503 and "overloaded" in refused.value.message
            with pytest.raises(anthropic.APIStatusError) as refused:
                anthropic.Anthropic(base_url=live.url, api_key="EMPTY", max_retries=0).messages.create(
                    model=MODEL, max_tokens=4, messages=scripted_checkpoint.hello)
            assert refused.value.status_code == 529 and refused.value.body["error"]["type"] == "overloaded_error"
        wait_until_idle(live, within=2.0)
        reply = httpx.post(url, json={"model": MODEL, "messages": scripted_checkpoint.hello, "temperature": 0}).json()
        assert reply["choices"][0]["message"]["content"] == scripted_checkpoint.hello_reply
