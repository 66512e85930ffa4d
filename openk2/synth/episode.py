"""One trial of a task with any model: openk2's agent runtime against an OpenAI-compatible endpoint, graded."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from openk2.agent.runtime import Agent, ApprovalPolicy, Budget, Usage, approve_all

from .grade import Grade
from .task import Task

DEFAULT_BUDGET = Budget(max_turns=12)


@dataclass
class Episode:
    messages: list[dict]
    grade: Grade
    turns: int            # model calls
    usage: Usage
    stop_reason: str      # the agent's last stop: answer, length, max_turns, max_tokens, max_seconds
    tools: list[dict]     # the declarations the agent saw


async def run_episode(task: Task, client: Any, model: str, *, sampling: dict | None = None, budget: Budget | None = None,
                      approve: ApprovalPolicy = approve_all, user: Any = None, stream: bool = False) -> Episode:
    """Run the agent on a fresh environment of `task`, answering its messages with the simulated user, then grade.

    `user` replaces the scripted user (e.g. `openk2.synth.user.ModelUser`); its `reply(messages)` may be async.
    The budget's turns count over the whole conversation.
    """
    env = task.environment()
    budget = budget or DEFAULT_BUDGET
    user = user or env.user
    messages, turns, usage, stop = env.messages, 0, Usage(), "answer"
    while True:
        left = None if budget.max_turns is None else budget.max_turns - turns
        if left is not None and left <= 0:
            stop = "max_turns"
            break
        agent = Agent(client, model, env.tools, approve=approve, stream=stream, sampling=sampling,
                      budget=Budget(max_turns=left, max_tokens=budget.max_tokens, max_seconds=budget.max_seconds))
        transcript = await agent.run(messages)
        messages, stop = transcript.messages, transcript.stop_reason
        turns += transcript.turns
        usage.prompt_tokens += transcript.usage.prompt_tokens
        usage.completion_tokens += transcript.usage.completion_tokens
        if stop != "answer":
            break
        reply = user.reply(messages)
        if hasattr(reply, "__await__"):
            reply = await reply
        if reply is None:
            break
        messages = messages + [{"role": "user", "content": reply}]
    return Episode(messages, task.grade(env, messages), turns, usage, stop, [t.spec() for t in env.tools])
