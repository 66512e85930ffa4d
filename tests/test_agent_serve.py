"""End to end: the agent loop through `openk2 serve` (a live server on a scripted checkpoint), with the official openai client."""

from __future__ import annotations

import asyncio
import dataclasses
import json

import openai
import pytest

from openk2.agent import Agent, Budget, function_tool

MODEL = "openk2-test"  # the name conftest's live server gives its model


@pytest.mark.parametrize("stream", [True, False])
def test_agent_calls_a_tool_through_openk2_serve(server, scripted_checkpoint, stream):
    """The checkpoint learnt to call get_weather for Paris: the call crosses the real server, runs, and its result
    goes back. (Its learnt follow-up answer was for a tool message without a `name`; ours carries one, as K2's
    guidance does, so the later replies are the model's own and only have to end the run.)"""
    asked = []

    def get_weather(city: str) -> str:
        asked.append(city)
        return "sunny, 24 C"

    declared = scripted_checkpoint.tool["function"]  # declared byte for byte as the model learnt it
    weather = dataclasses.replace(function_tool(get_weather), description=declared["description"],
                                  parameters=declared["parameters"])
    client = openai.AsyncOpenAI(base_url=f"{server.url}/v1", api_key="none", max_retries=0)
    agent = Agent(client, MODEL, [weather], budget=Budget(max_turns=3), stream=stream,
                  sampling={"temperature": 0, "max_tokens": 64})
    transcript = asyncio.run(agent.run(scripted_checkpoint.question))

    assert asked[0] == "Paris"  # later turns are the model's own, which guided decoding may turn into valid calls
    call = transcript.messages[1]["tool_calls"][0]
    assert call["id"] == "functions.get_weather:0" and call["function"]["name"] == "get_weather"
    assert json.loads(call["function"]["arguments"]) == {"city": "Paris"}
    assert transcript.messages[2] == {"role": "tool", "tool_call_id": "functions.get_weather:0", "name": "get_weather",
                                      "content": "sunny, 24 C"}
    assert transcript.turns >= 2 and transcript.stop_reason in ("answer", "length", "max_turns")
    assert transcript.usage.prompt_tokens > 0 and transcript.usage.completion_tokens > 0
    server.wait_idle()
