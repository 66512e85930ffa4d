"""Prompt building and validation: a request's conversation (or raw prompt) to token ids, the answer's forced
start and grammar, and its token budget, with a 400 naming the parameter for anything that cannot run."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..chat import encode_prompt, encode_segments, next_tool_call_index
from ..engine import Engine
from .answer_grammar import Check, guide
from .errors import APIError, PromptTooLong


@dataclass
class ChatInput:
    """A chat request in the form chat.py renders, whichever API it came in through."""

    messages: list[dict]
    tools: list[dict] | None = None
    tool_choice: str = "auto"  # "auto", "none", "required" or a declared function's name
    parallel_tool_calls: bool = True
    response_schema: dict | bool | None = None  # the JSON Schema the content must match (json_object: {"type": "object"})
    schema_param: str = "tools[{i}].function.parameters"  # how the request names tool i's schema, in errors
    response_param: str = "response_format"  # how the request names response_schema, in errors
    structured_grammar: str | None = None  # structured_outputs: a grammar for the whole answer
    warnings: list[str] = field(default_factory=list)  # what was changed to fit the model (see content_text)


@dataclass
class Prompt:
    ids: list[int]
    forced_text: str = ""  # the answer's forced start, already in ids; the parser reads it first
    grammar: str | None = None  # guided decoding of the answer after the forced start
    first_tool_index: int = 0  # IDX of the answer's first tool call (calls so far in the conversation)
    chat: bool = True  # parse the output into content and tool calls
    checks: list[Check] = field(default_factory=list)  # schemas the grammar enforces only in part: validate after


# Content the model cannot read. An agent keeps every message in its history, so refusing one (a screenshot, a PDF,
# an image inside a tool result) would fail every later request of the session: it becomes a placeholder the model
# can read, and the response says so in a Warning header.
NON_TEXT = {"image": "image", "image_url": "image", "input_image": "image", "document": "document",
            "input_file": "file", "file": "file", "input_audio": "audio", "audio": "audio"}


def content_text(content, warnings: list[str], param: str) -> str:
    """The text of a message's content: a string, or parts with `type` and `text` (any API's); a part the model
    cannot read becomes `[image omitted: ...]` and a warning."""
    if content is None or isinstance(content, str):
        return content or ""
    texts = []
    for index, part in enumerate(content):
        kind = part.type
        if kind in NON_TEXT:
            warnings.append(NON_TEXT[kind])
            texts.append(f"[{NON_TEXT[kind]} omitted: this model reads text only]")
        elif getattr(part, "text", None) is not None:
            texts.append(part.text)
        elif getattr(part, "refusal", None) is not None:
            texts.append(part.refusal)
        else:
            raise APIError(400, f"a content part of type {kind!r} needs text", f"{param}[{index}]")
    return "".join(texts)


def warning_headers(replaced: list[str], violations: list[str] = ()) -> dict[str, str] | None:
    """HTTP Warning headers (RFC 9111's code 299, a persistent warning): content replaced by a placeholder (the
    kinds in `replaced`), and outputs that break a schema the grammar enforced only in part (`violations`). Neither
    API has a field for these; both clients expose response headers."""
    notes = []
    if replaced:
        counts = ", ".join(f"{replaced.count(kind)} {kind}{'s' if replaced.count(kind) > 1 else ''}"
                           for kind in dict.fromkeys(replaced))
        notes.append(f"{counts} replaced by a text placeholder: this model reads text only")
    notes += violations
    if not notes:
        return None
    quoted = (" ".join(note.split()).replace("\\", "\\\\").replace('"', '\\"')
              .encode("latin-1", "replace").decode("latin-1") for note in notes)
    return {"Warning": ", ".join(f'299 openk2 "{note}"' for note in quoted)}


class Prompts:
    """Builds prompts for one engine: its tokenizer, vocabulary and context."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self.tokenizer = engine.tokenizer
        if self.tokenizer is None:
            raise ValueError("the checkpoint has no tokenizer (tiktoken.model): the server needs one")

    @property
    def max_context(self) -> int:
        """Longest prompt + answer, in tokens: the model's context or the KV cache, whichever is smaller."""
        return self.engine.max_context

    def chat(self, chat: ChatInput, guided: bool = True) -> Prompt:
        """Render a conversation in K2's template and append the answer's forced start; with guided=False
        (counting tokens), the conversation alone. A schema that cannot guide raises GrammarError."""
        names = [t["function"]["name"] for t in chat.tools or []]
        if len(set(names)) != len(names):
            twice = sorted({name for name in names if names.count(name) > 1})
            raise APIError(400, f"tool names must be unique; declared more than once: {', '.join(twice)}", "tools")
        if chat.tool_choice not in ("auto", "none", "required") and chat.tool_choice not in names:
            raise APIError(400, f"tool_choice names the function {chat.tool_choice!r}, which is not among the tools",
                           "tool_choice")
        if chat.tool_choice == "required" and not names:
            raise APIError(400, "tool_choice 'required' needs at least one tool", "tool_choice")
        try:
            ids = encode_prompt(self.tokenizer, chat.messages, tools=chat.tools or None)
        except ValueError as e:  # bad message content, a tool call without a name, text that is not unicode
            raise APIError(400, str(e), "messages") from None
        first_index = next_tool_call_index(chat.messages)
        if not guided:
            return Prompt(ids, first_tool_index=first_index)
        if chat.structured_grammar is not None:
            if chat.response_schema is not None:
                raise APIError(400, "give response_format or structured_outputs, not both", "structured_outputs")
            if names and chat.tool_choice != "none":
                raise APIError(400, "structured_outputs constrains the whole answer, so it cannot be combined with "
                                    "tools; response_format json_schema can", "structured_outputs")
            return Prompt(ids, grammar=chat.structured_grammar, first_tool_index=first_index)
        guidance = guide(chat.tools or [], chat.tool_choice, chat.parallel_tool_calls, chat.response_schema,
                         first_index, chat.schema_param, chat.response_param)
        return Prompt(ids + encode_segments(self.tokenizer, guidance.forced), guidance.forced_text, guidance.grammar,
                      first_index, checks=guidance.checks)

    def text(self, prompt: str | list[int]) -> Prompt:
        """A raw completion prompt: text (encoded without special tokens) or token ids."""
        if isinstance(prompt, str):
            try:
                return Prompt(self.tokenizer.encode(prompt), chat=False)
            except ValueError as e:
                raise APIError(400, str(e), "prompt") from None
        vocab = self.engine.vocab_size
        if not prompt or not all(0 <= t < vocab for t in prompt):
            raise APIError(400, f"a token-id prompt must be a non-empty list of ids in [0, {vocab})", "prompt")
        return Prompt(list(prompt), chat=False)

    def max_tokens(self, prompt: Prompt, requested: int | None, param: str = "messages") -> int:
        """The answer's token budget: what was asked for, capped at the room the context has left (agent front-ends
        ask for more than a small model has: Claude Code always for 32000), and all of that room when nothing was
        asked for. A prompt that leaves no room is PromptTooLong, naming `param` (the prompt's field)."""
        room = self.max_context - len(prompt.ids)
        if room < 1:
            raise PromptTooLong(len(prompt.ids), self.max_context, param)
        return room if requested is None else min(requested, room)
