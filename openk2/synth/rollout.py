"""Rollouts and the judge: the expert's conversation written against a live world, and its replay in a fresh one.

Conversations are the `messages` lists openk2's agent runtime produces (OpenAI format): assistant tool calls
with K2's `functions.NAME:IDX` ids (IDX counts calls across the conversation), the tool results exactly as the
apps returned them, the user's scripted replies, and the final answer.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from .family import Act, Expert, Say
from .grade import Grade
from .task import Environment, Task


def call_message(calls: list[tuple[str, dict]], first_index: int, content: str = "") -> dict:
    return {"role": "assistant", "content": content or None, "tool_calls": [
        {"id": f"functions.{name}:{first_index + i}", "type": "function",
         "function": {"name": name, "arguments": json.dumps(arguments, ensure_ascii=False)}}
        for i, (name, arguments) in enumerate(calls)]}


async def run_call(env: Environment, name: str, arguments: str) -> str:
    tool = env.tool(name)
    if tool is None:
        return f"Error: unknown tool {name!r}; the available tools are: {', '.join(t.name for t in env.tools)}"
    try:
        parsed = json.loads(arguments)
    except json.JSONDecodeError as e:
        return f"Error: {name}: arguments are not valid JSON ({e.msg} at position {e.pos})"
    return (await tool.run(parsed)).content


def parsed(content: str) -> Any:
    """A tool result as the expert reads it: JSON when it is JSON, else the text (errors)."""
    try:
        return json.loads(content)
    except json.JSONDecodeError:
        return content


async def expert_conversation(env: Environment, expert: Expert) -> list[dict]:
    """Drive the expert's plan against `env`: run its calls for real, let the simulated user answer its messages."""
    messages = [dict(m) for m in env.messages]
    calls_made, sent = 0, None
    while True:
        try:
            action = expert.send(sent)
        except StopIteration:
            return messages
        if isinstance(action, Act):
            message = call_message(action.calls, calls_made, action.content)
            calls_made += len(action.calls)
            messages.append(message)
            results = []
            for call in message["tool_calls"]:  # one at a time, as the judge replays them
                content = await run_call(env, call["function"]["name"], call["function"]["arguments"])
                messages.append({"role": "tool", "tool_call_id": call["id"], "name": call["function"]["name"],
                                 "content": content})
                results.append(parsed(content))
            sent = results
        else:
            assert isinstance(action, Say)
            messages.append({"role": "assistant", "content": action.text})
            reply = env.user.reply(messages)
            if reply is None:
                return messages
            messages.append({"role": "user", "content": reply})
            sent = reply


async def replay(task: Task, messages: list[dict]) -> tuple[Environment, list[dict], str | None]:
    """Run a conversation's tool calls again, in order, in a fresh world.

    Returns the environment, the conversation with each tool result as the replay produced it, and the reason
    the replay diverged from the recorded results, if it did (None for a faithful conversation).
    """
    env = task.environment()
    fresh: dict[str, str] = {}
    diverged = None
    for message in messages:
        for call in message.get("tool_calls") or []:
            fresh[call["id"]] = await run_call(env, call["function"]["name"], call["function"]["arguments"])
    replayed = []
    for message in messages:
        if message.get("role") == "tool" and message.get("tool_call_id") in fresh:
            if message.get("content") != fresh[message["tool_call_id"]] and diverged is None:
                diverged = f"replaying {message.get('name') or 'a call'} gave a different result"
            message = {**message, "content": fresh[message["tool_call_id"]]}
        replayed.append(message)
    return env, replayed, diverged


async def judge(task: Task, messages: list[dict]) -> Grade:
    """The judge: replay the conversation against a fresh world and grade it with the task's checker."""
    env, _, diverged = await replay(task, messages)
    if diverged:
        return Grade(False, "invalid_call", [diverged])
    return task.grade(env, messages)
