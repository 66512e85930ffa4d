"""Parse K2's generated text into reasoning, content and tool calls, whole or while streaming.

The streaming parser re-parses the whole accumulated text on every delta and emits the difference
from what it already emitted. Fed with `literal=True`, a delta is ordinary model text (not a special
token), and it can never open or close a marker, even when it spells one out: a JSON argument holding
the text `<|tool_call_end|>`, or code with F#'s `<|`, stays where it is. The parse of a prefix is built so that each field only grows as text
arrives (a half-received marker is held back until it is complete or proven not to be a marker),
so the concatenated deltas always equal the parse of the finished text. Malformed output never
raises: unterminated calls keep what arrived, invalid JSON is passed through as raw arguments.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from openk2.chat import (
    IM_ASSISTANT,
    IM_END,
    IM_MIDDLE,
    IM_SYSTEM,
    IM_USER,
    K2_CALL_ID,
    TOOL_CALL_ARGUMENT_BEGIN,
    TOOL_CALL_BEGIN,
    TOOL_CALL_END,
    TOOL_CALLS_BEGIN,
    TOOL_CALLS_END,
)

THINK_BEGIN, THINK_END = "<think>", "</think>"
# A turn marker in generated text means the turn is over (an engine that does not stop on
# <|im_end|> would otherwise let the model's next, imagined turn into the answer).
END_MARKERS = (IM_END, IM_USER, IM_ASSISTANT, IM_SYSTEM, IM_MIDDLE)
# Tool markers that may not appear in content even when they arrive out of place.
STRAY_MARKERS = (TOOL_CALL_ARGUMENT_BEGIN, TOOL_CALL_END, TOOL_CALLS_END)
MARKERS = (*END_MARKERS, *STRAY_MARKERS, TOOL_CALLS_BEGIN, TOOL_CALL_BEGIN, THINK_BEGIN, THINK_END)
_STRAY = re.compile("|".join(map(re.escape, STRAY_MARKERS)))
# Inside the streaming parser, a `|` the model wrote as ordinary text: every K2 marker holds `<|`, so text
# without a raw `|` cannot be read as one. U+FDD0 is a Unicode noncharacter, reserved for internal use.
LITERAL_BAR = "\ufdd0"


@dataclass(frozen=True)
class ToolCall:
    id: str
    name: str
    arguments: str  # the raw JSON text the model wrote, not validated

    def to_openai(self) -> dict:
        """The `tool_calls` entry of an OpenAI chat completion message."""
        function = {"name": self.name, "arguments": self.arguments}
        return {"id": self.id, "type": "function", "function": function}


@dataclass(frozen=True)
class ParsedOutput:
    content: str
    reasoning: str = ""
    tool_calls: tuple[ToolCall, ...] = ()


@dataclass(frozen=True)
class ToolCallDelta:
    """One OpenAI-style tool-call chunk: a call's first carries id and name, later ones argument text."""

    index: int
    id: str | None = None
    name: str | None = None
    arguments: str = ""


@dataclass
class OutputDelta:
    content: str = ""
    reasoning: str = ""
    tool_calls: list[ToolCallDelta] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.content or self.reasoning or self.tool_calls)


def parse_output(text: str, first_index: int = 0) -> ParsedOutput:
    """Parse a finished generation. `first_index` is the conversation's next tool-call index,
    used to give a well-formed `functions.NAME:IDX` id to a call whose id is malformed."""
    return _parse(text, first_index, final=True)


def _held_back(text: str) -> int:
    """Length of the longest tail of `text` that is a proper prefix of some marker."""
    start = text.rfind("<", max(0, len(text) - max(map(len, MARKERS))))
    while start != -1:
        tail = text[start:]
        if any(m.startswith(tail) and m != tail for m in MARKERS):
            return len(tail)
        start = text.find("<", start + 1)
    return 0


def _find_first(text: str, markers: tuple[str, ...], start: int = 0) -> tuple[int, str]:
    """Position and text of the earliest of `markers` in `text` from `start`; (-1, "") if none."""
    hits = [(pos, m) for m in markers if (pos := text.find(m, start)) != -1]
    return min(hits) if hits else (-1, "")


def _call_name(call_id: str) -> str:
    """The function name in a call id: `functions.get_weather:0` -> `get_weather`, also when the
    prefix or the index is missing."""
    name = call_id.removeprefix("functions.")
    return re.sub(r":\d*$", "", name)


def _parse(text: str, first_index: int, final: bool) -> ParsedOutput:
    end, _ = _find_first(text, END_MARKERS)
    if end != -1:
        text, final = text[:end], True
    if not final:
        text = text[: len(text) - _held_back(text)]

    # Reasoning: a leading <think>...</think> block (also cut short by a tool section).
    reasoning = ""
    stripped = text.lstrip()
    if not final and not stripped:
        return ParsedOutput("")  # only whitespace yet: it may still turn into <think>
    if stripped.startswith(THINK_BEGIN):
        body = stripped[len(THINK_BEGIN) :]
        close, _ = _find_first(body, (THINK_END, TOOL_CALLS_BEGIN, TOOL_CALL_BEGIN))
        if close == -1:
            return ParsedOutput("", _STRAY.sub("", body))
        reasoning = _STRAY.sub("", body[:close])
        text = body[close + len(THINK_END) :] if body.startswith(THINK_END, close) else body[close:]

    # Content: everything before the tool section (or a call that forgot the section marker).
    tools_at, marker = _find_first(text, (TOOL_CALLS_BEGIN, TOOL_CALL_BEGIN))
    content = _STRAY.sub("", text if tools_at == -1 else text[:tools_at])
    if tools_at == -1:
        return ParsedOutput(content, reasoning)
    section = text[tools_at + (len(marker) if marker == TOOL_CALLS_BEGIN else 0) :]
    section_end = section.find(TOOL_CALLS_END)
    if section_end != -1:
        section, final = section[:section_end], True
    return ParsedOutput(content, reasoning, tuple(_parse_calls(section, first_index, final)))


def _parse_calls(section: str, first_index: int, final: bool) -> list[ToolCall]:
    """Calls in a tool section: `<|tool_call_begin|>id<|tool_call_argument_begin|>args<|tool_call_end|>`."""
    calls: list[ToolCall] = []
    position = section.find(TOOL_CALL_BEGIN)
    while position != -1:
        header_start = position + len(TOOL_CALL_BEGIN)
        # A header ends at the argument marker; a new call marker first means it never finished.
        stop, marker = _find_first(section, (TOOL_CALL_ARGUMENT_BEGIN, TOOL_CALL_BEGIN), header_start)
        if marker != TOOL_CALL_ARGUMENT_BEGIN:
            position = stop
            continue
        call_id = section[header_start:stop].strip()
        arguments_start = stop + len(TOOL_CALL_ARGUMENT_BEGIN)
        # Arguments end at their marker, or -- when the model forgot it -- where the next call begins.
        arguments_end, _ = _find_first(section, (TOOL_CALL_END, TOOL_CALL_BEGIN), arguments_start)
        complete = arguments_end != -1 or final
        arguments = section[arguments_start : None if arguments_end == -1 else arguments_end]
        # Whitespace around arguments is dropped; while streaming, trailing whitespace waits.
        arguments = arguments.strip() if complete else arguments.lstrip().rstrip()
        name = _call_name(call_id)
        if name:
            if not K2_CALL_ID.fullmatch(call_id):
                call_id = f"functions.{name}:{first_index + len(calls)}"
            calls.append(ToolCall(call_id, name, arguments))
        if arguments_end == -1:
            break
        position = section.find(TOOL_CALL_BEGIN, arguments_end)
    return calls


class StreamingParser:
    """Incremental `parse_output`: feed text deltas, get content, reasoning and tool-call deltas.

    The concatenation of all deltas (including `finish()`) equals `parse_output(full_text)`.
    """

    def __init__(self, first_index: int = 0):
        self.first_index = first_index
        self.text = ""
        self._emitted = ParsedOutput("")

    def feed(self, delta: str, literal: bool = False) -> OutputDelta:
        """literal: the delta is the text of ordinary tokens, which cannot form a marker (see the module doc)."""
        self.text += delta.replace("|", LITERAL_BAR) if literal else delta
        return self._advance(_parse(self.text, self.first_index, final=False))

    def finish(self) -> OutputDelta:
        """End of generation: release held-back text."""
        return self._advance(_parse(self.text, self.first_index, final=True))

    @property
    def result(self) -> ParsedOutput:
        """Everything emitted so far, as one parse."""
        return self._emitted

    def _advance(self, parsed: ParsedOutput) -> OutputDelta:
        parsed = _unescape(parsed)
        done = self._emitted
        delta = OutputDelta(_suffix(done.content, parsed.content), _suffix(done.reasoning, parsed.reasoning))
        calls = list(done.tool_calls)
        for index, call in enumerate(parsed.tool_calls):
            if index >= len(calls):
                delta.tool_calls.append(ToolCallDelta(index, call.id, call.name, ""))
                calls.append(ToolCall(call.id, call.name, ""))
            grown = _suffix(calls[index].arguments, call.arguments)
            if grown:
                delta.tool_calls.append(ToolCallDelta(index, arguments=grown))
                calls[index] = ToolCall(calls[index].id, calls[index].name, calls[index].arguments + grown)
        content, reasoning = done.content + delta.content, done.reasoning + delta.reasoning
        self._emitted = ParsedOutput(content, reasoning, tuple(calls))
        return delta


def _unescape(parsed: ParsedOutput) -> ParsedOutput:
    """Literal bars back to `|` (one character for one, so the parse of a prefix still only grows)."""
    if LITERAL_BAR not in parsed.content + parsed.reasoning and not any(
            LITERAL_BAR in c.id + c.name + c.arguments for c in parsed.tool_calls):
        return parsed
    bar = lambda text: text.replace(LITERAL_BAR, "|")  # noqa: E731
    return ParsedOutput(bar(parsed.content), bar(parsed.reasoning),
                        tuple(ToolCall(bar(c.id), bar(c.name), bar(c.arguments)) for c in parsed.tool_calls))


def _suffix(emitted: str, now: str) -> str:
    """What `now` adds to `emitted`. The parse only ever grows; should that ever fail, emit
    nothing rather than repeat or garble text."""
    return now[len(emitted) :] if now.startswith(emitted) else ""
