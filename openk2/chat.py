"""Kimi K2's chat template: OpenAI-style messages and tool declarations to K2's prompt text and token ids."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from openk2.tokenizer import Tokenizer

# The template reproduced here is the one shipped with Kimi-K2-Instruct (chat_template.jinja); the
# byte-level sources and the examples it is checked against are listed in tests/test_chat.py.
IM_USER, IM_ASSISTANT, IM_SYSTEM = "<|im_user|>", "<|im_assistant|>", "<|im_system|>"
IM_MIDDLE, IM_END = "<|im_middle|>", "<|im_end|>"
TOOL_CALLS_BEGIN, TOOL_CALLS_END = "<|tool_calls_section_begin|>", "<|tool_calls_section_end|>"
TOOL_CALL_BEGIN, TOOL_CALL_ARGUMENT_BEGIN = "<|tool_call_begin|>", "<|tool_call_argument_begin|>"
TOOL_CALL_END = "<|tool_call_end|>"

DEFAULT_SYSTEM_PROMPT = "You are Kimi, an AI assistant created by Moonshot AI."
ROLE_MARKERS = {"system": IM_SYSTEM, "user": IM_USER, "assistant": IM_ASSISTANT, "tool": IM_SYSTEM}

# The id K2 gives a tool call: `functions.{name}:{index}`, the index counting calls over the whole
# conversation. Moonshot's own API renames other ids to this form before the model sees them.
K2_CALL_ID = re.compile(r"functions\.(?P<name>[^\s:]+):(?P<index>\d+)")


@dataclass(frozen=True)
class Segment:
    """A piece of a rendered prompt.

    `special` pieces are single special tokens (encoded by id); the rest is text, encoded as
    text even when it contains special-token strings. `message` is the index of the message the
    piece renders (-1 for the tool declaration, the default system prompt and the generation
    prompt); `header` marks the `<|im_x|>name<|im_middle|>` opening of a turn, so a trainer can
    mask everything but assistant bodies.
    """

    text: str
    special: bool
    message: int
    header: bool = False


def content_text(content: str | list | None) -> str:
    """The text of a message's content: a string, None, or a list of OpenAI text parts."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise ValueError(f"content must be a string, a list of parts or null, not {type(content).__name__}")
    texts = []
    for part in content:
        if not isinstance(part, dict):
            raise ValueError(f"content parts must be objects, got {part!r:.100}")
        if part.get("type") in ("image", "image_url", "input_image") or "image" in part or "image_url" in part:
            raise ValueError("image content parts are not supported yet (text-only model)")
        if part.get("type") != "text" or not isinstance(part.get("text"), str):
            raise ValueError(f"unsupported content part: {part!r:.100}")
        texts.append(part["text"])
    return "".join(texts)


def tool_call_arguments(arguments: str | dict | None) -> str:
    """Arguments as the template writes them: strings verbatim, objects as JSON (`tojson`)."""
    if arguments is None:
        return "{}"
    if isinstance(arguments, str):
        return arguments
    return json.dumps(arguments, ensure_ascii=False)


def normalize_tool_call_ids(messages: list[dict]) -> list[dict]:
    """Rename tool-call ids that are not `functions.NAME:IDX` to that form (IDX counts every call
    in the conversation), and point the matching tool results at the new ids.

    K2 learnt to read and write ids of this form; ids from other providers (`call_abc123`) make it
    produce malformed calls. Moonshot's API does the same renaming. Well-formed ids are kept.
    """
    renamed: dict[str, str] = {}
    out = []
    call_index = 0
    for message in messages:
        if message.get("role") == "assistant" and message.get("tool_calls"):
            calls = []
            for call in message["tool_calls"]:
                call_id = call.get("id")
                if not (isinstance(call_id, str) and K2_CALL_ID.fullmatch(call_id)):
                    new_id = f"functions.{_function(call)['name']}:{call_index}"
                    if isinstance(call_id, str):
                        renamed[call_id] = new_id
                    call = {**call, "id": new_id}
                calls.append(call)
                call_index += 1
            message = {**message, "tool_calls": calls}
        elif message.get("role") == "tool" and message.get("tool_call_id") in renamed:
            message = {**message, "tool_call_id": renamed[message["tool_call_id"]]}
        out.append(message)
    return out


def next_tool_call_index(messages: list[dict]) -> int:
    """The IDX the model's next tool call should carry: the number of calls so far."""
    return sum(len(m.get("tool_calls") or []) for m in messages if m.get("role") == "assistant")


def _function(call: dict) -> dict:
    function = call.get("function") if isinstance(call, dict) else None
    if not isinstance(function, dict) or not isinstance(function.get("name"), str) or not function["name"]:
        raise ValueError(f"a tool call needs function.name: {call!r:.100}")
    return function


def _turn(marker: str, name: str, index: int) -> list[Segment]:
    """A turn's header: `<|im_x|>name<|im_middle|>`."""
    return [Segment(marker, True, index, True), Segment(name, False, index, True), Segment(IM_MIDDLE, True, index, True)]


def _message_body(message: dict, index: int) -> list[Segment]:
    role = message["role"]
    if role == "tool":
        if not isinstance(message.get("tool_call_id"), str):
            raise ValueError(f"tool message {index} needs a tool_call_id")
        result = content_text(message.get("content"))
        return [Segment(f"## Return of {message['tool_call_id']}\n{result}", False, index)]
    body = [Segment(content_text(message.get("content")), False, index)]
    if role == "assistant" and message.get("tool_calls"):
        body.append(Segment(TOOL_CALLS_BEGIN, True, index))
        for call in message["tool_calls"]:
            function = _function(call)
            body += [
                Segment(TOOL_CALL_BEGIN, True, index),
                Segment(str(call.get("id") or ""), False, index),
                Segment(TOOL_CALL_ARGUMENT_BEGIN, True, index),
                Segment(tool_call_arguments(function.get("arguments")), False, index),
                Segment(TOOL_CALL_END, True, index),
            ]
        body.append(Segment(TOOL_CALLS_END, True, index))
    return body


def render_segments(
    messages: list[dict],
    tools: list[dict] | None = None,
    add_generation_prompt: bool = True,
    normalize_ids: bool = True,
) -> list[Segment]:
    """Render a conversation as K2's template does, as a list of special tokens and text.

    - `tools` (OpenAI tool declarations) come first: `<|im_system|>tool_declare<|im_middle|>` +
      compact JSON + `<|im_end|>`;
    - without a leading system message, K2's default system prompt is inserted;
    - each message is `<|im_x|>{name or role}<|im_middle|>{body}<|im_end|>`, where system and
      tool messages use `<|im_system|>`; assistant tool calls follow the content in a
      `<|tool_calls_section_begin|>` section; a tool result's body is `## Return of {id}\\n{content}`;
    - the generation prompt is `<|im_assistant|>assistant<|im_middle|>`.
    """
    if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
        raise ValueError("messages must be a list of message objects")
    for index, message in enumerate(messages):
        if message.get("role") not in ROLE_MARKERS:
            raise ValueError(f"message {index}: role must be one of {sorted(ROLE_MARKERS)}, not {message.get('role')!r}")
    if normalize_ids:
        messages = normalize_tool_call_ids(messages)
    segments: list[Segment] = []
    if tools:
        declaration = json.dumps(tools, ensure_ascii=False, separators=(",", ":"))
        segments += [*_turn(IM_SYSTEM, "tool_declare", -1), Segment(declaration, False, -1), Segment(IM_END, True, -1)]
    if not messages or messages[0]["role"] != "system":
        segments += [*_turn(IM_SYSTEM, "system", -1), Segment(DEFAULT_SYSTEM_PROMPT, False, -1), Segment(IM_END, True, -1)]
    for index, message in enumerate(messages):
        name = str(message.get("name") or message["role"])
        segments += _turn(ROLE_MARKERS[message["role"]], name, index)
        segments += _message_body(message, index)
        segments.append(Segment(IM_END, True, index))
    if add_generation_prompt:
        segments += _turn(IM_ASSISTANT, "assistant", -1)
    return [s for s in segments if s.text]


def render_prompt(
    messages: list[dict],
    tools: list[dict] | None = None,
    add_generation_prompt: bool = True,
    normalize_ids: bool = True,
) -> str:
    """The prompt as text, exactly as K2's chat template renders it."""
    return "".join(s.text for s in render_segments(messages, tools, add_generation_prompt, normalize_ids))


def encode_segments(tokenizer: Tokenizer, segments: list[Segment]) -> list[int]:
    """Token ids of rendered segments: special tokens by id, all text as plain text.

    Adjacent text segments are encoded together, so the ids equal those of tokenising the
    rendered prompt with special tokens recognised -- except that a special-token string inside
    user-controlled text stays text (no prompt injection through `<|im_end|>` in a message).
    """
    ids: list[int] = []
    text = ""
    for segment in segments:
        if segment.special:
            ids += tokenizer.encode(text) + [tokenizer.special_id(segment.text)]
            text = ""
        else:
            text += segment.text
    return ids + tokenizer.encode(text)


def encode_prompt(
    tokenizer: Tokenizer,
    messages: list[dict],
    tools: list[dict] | None = None,
    add_generation_prompt: bool = True,
    normalize_ids: bool = True,
) -> list[int]:
    """The prompt as token ids for the model."""
    return encode_segments(tokenizer, render_segments(messages, tools, add_generation_prompt, normalize_ids))
