"""What the server makes the model write: the forced start of an answer and its stop tokens, from tool_choice and response_format.

Until guided decoding lands (constraining every token to a grammar), this is the whole mechanism:
a named tool choice starts the answer with K2's tool-call header for that function, so the model
can only fill in the arguments; `none` stops the model before a tool-call section can open.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..chat import TOOL_CALL_ARGUMENT_BEGIN, TOOL_CALL_BEGIN, TOOL_CALL_END, TOOL_CALLS_BEGIN, Segment


@dataclass
class Guidance:
    """Segments appended to the prompt after the generation header (the answer's forced start), and the
    special tokens that end the answer."""

    forced: list[Segment] = field(default_factory=list)
    stop_tokens: list[str] = field(default_factory=list)

    @property
    def forced_text(self) -> str:
        """The forced start as text, the way the tool parser reads it."""
        return "".join(s.text for s in self.forced)


def tool_call_header(name: str, index: int) -> list[Segment]:
    """`<|tool_calls_section_begin|><|tool_call_begin|>functions.NAME:IDX<|tool_call_argument_begin|>`"""
    return [Segment(TOOL_CALLS_BEGIN, True, -1), Segment(TOOL_CALL_BEGIN, True, -1),
            Segment(f"functions.{name}:{index}", False, -1), Segment(TOOL_CALL_ARGUMENT_BEGIN, True, -1)]


def guide(tool_names: list[str], tool_choice: str, parallel_tool_calls: bool, json_object: bool,
          first_tool_index: int) -> Guidance:
    """tool_choice: "auto", "none", "required", or the name of a declared function (checked by the caller)."""
    if tool_choice == "none" or not tool_names:
        # Stopping at the section marker keeps a call out of the answer without dropping the tools
        # from the prompt (which would also defeat the prefix cache between turns).
        guidance = Guidance(stop_tokens=[TOOL_CALLS_BEGIN, TOOL_CALL_BEGIN])
        if json_object:
            guidance.forced = [Segment("{", False, -1)]  # the answer starts as a JSON object
        return guidance
    if tool_choice == "required" and len(tool_names) == 1:
        tool_choice = tool_names[0]
    if tool_choice == "required":
        return Guidance([Segment(TOOL_CALLS_BEGIN, True, -1)], [] if parallel_tool_calls else [TOOL_CALL_END])
    if tool_choice != "auto":  # one named function: exactly one call, as OpenAI's API makes it
        return Guidance(tool_call_header(tool_choice, first_tool_index), [TOOL_CALL_END])
    return Guidance(stop_tokens=[] if parallel_tool_calls else [TOOL_CALL_END])
