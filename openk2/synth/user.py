"""Simulated users: a scripted one that answers from the task's hidden instructions, or any chat model playing the user."""

from __future__ import annotations

from typing import Any

STOP = "###STOP###"  # what a model playing the user says when the task is done (τ-bench's convention)
USER_SYSTEM = ("You play a user talking to an assistant that acts for you with tools. Your goal and everything you know "
               "is below; reveal it only when the assistant asks for it, one short message at a time, in the language "
               "you started in. Never invent facts that are not below. When your goal is met or the assistant cannot "
               "meet it, reply with exactly " + STOP + ".\n\nYour goal and knowledge:\n{instructions}")


class ScriptedUser:
    """Says its scripted lines in order, one after each of the agent's answers, then nothing (the user is done).

    Every task's replies are written for the agent the task expects: a clarifying answer after the agent's
    question, a confirmation after its request to confirm, a change of mind after its first answer.
    """

    def __init__(self, replies: list[str]):
        self.replies = list(replies)
        self.said = 0

    def reply(self, messages: list[dict]) -> str | None:
        if self.said >= len(self.replies):
            return None
        self.said += 1
        return self.replies[self.said - 1]


class ModelUser:
    """A chat model (any OpenAI-compatible endpoint) playing the user from the task's hidden instructions."""

    def __init__(self, client: Any, model: str, instructions: str, max_turns: int = 4, sampling: dict | None = None):
        self.client, self.model, self.instructions = client, model, instructions
        self.turns_left, self.sampling = max_turns, sampling or {}

    async def reply(self, messages: list[dict]) -> str | None:
        if self.turns_left <= 0:
            return None
        self.turns_left -= 1
        # The roles swap: the agent's answers are what the user model reads; tool traffic stays hidden.
        seen = [{"role": "system", "content": USER_SYSTEM.format(instructions=self.instructions)}]
        for m in messages[1:]:
            if m["role"] == "user":
                seen.append({"role": "assistant", "content": m["content"]})
            elif m["role"] == "assistant" and m.get("content") and not m.get("tool_calls"):
                seen.append({"role": "user", "content": m["content"]})
        response = await self.client.chat.completions.create(model=self.model, messages=seen, **self.sampling)
        text = (response.choices[0].message.content or "").strip()
        return None if not text or STOP in text else text
