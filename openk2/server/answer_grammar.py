"""What the server makes the model write, from tool_choice and response_format: the answer's forced start,
and the grammar that every generated token must keep to (guided decoding: the engine applies it as token
masks, engine/grammar.py).

The grammar spells out K2's tool-call framing with the special tokens themselves, so once the model
opens a tool-call section it can only name a declared function, with the call's running index, and
write arguments that match that function's JSON Schema:

    <|tool_calls_section_begin|><|tool_call_begin|>functions.NAME:IDX<|tool_call_argument_begin|>{...}<|tool_call_end|>...<|tool_calls_section_end|>

A forced start goes into the prompt instead (prefill is cheaper than decoding): a named tool choice
begins the answer with that call's header, `required` with the section marker. Markers are special
tokens, which only the grammar's framing can produce; the tool parser reads text that merely spells one
out as text (`StreamingParser.feed(..., literal=True)`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from ..chat import TOOL_CALL_ARGUMENT_BEGIN, TOOL_CALL_BEGIN, TOOL_CALL_END, TOOL_CALLS_BEGIN, TOOL_CALLS_END, Segment
from ..engine.grammar import GrammarError, enforceable, grammar_for, json_rule
from ..tool_parser import ParsedOutput

# Calls one answer may hold when parallel calls are on; each call's index is spelled out in the grammar.
MAX_PARALLEL_CALLS = 16
# Free text, as one lexeme. It cannot produce a special token; text that spells a marker out is read as text
# (the parser is told which tokens are ordinary).
TEXT_LEXEME = r"TEXT: /(.|\n)+/"
NO_PARAMETERS = {"type": "object", "properties": {}, "additionalProperties": False}  # OpenAI: parameters omitted


@dataclass(frozen=True)
class Check:
    """A schema the grammar enforces only in part (enforceable()): the output is validated against it after."""

    param: str  # the request field holding the schema, e.g. tools[1].function.parameters
    schema: dict | bool
    tool: str | None = None  # the function whose arguments it constrains; None: the answer's content


@dataclass
class Guidance:
    """Segments appended to the prompt after the generation header (the answer's forced start), the grammar for
    the rest of the answer (None: unconstrained), and the schemas it enforces only in part."""

    forced: list[Segment] = field(default_factory=list)
    grammar: str | None = None
    checks: list[Check] = field(default_factory=list)

    @property
    def forced_text(self) -> str:
        """The forced start as text, the way the tool parser reads it."""
        return "".join(s.text for s in self.forced)


def tool_call_header(name: str, index: int) -> list[Segment]:
    """`<|tool_calls_section_begin|><|tool_call_begin|>functions.NAME:IDX<|tool_call_argument_begin|>`"""
    return [Segment(TOOL_CALLS_BEGIN, True, -1), Segment(TOOL_CALL_BEGIN, True, -1),
            Segment(f"functions.{name}:{index}", False, -1), Segment(TOOL_CALL_ARGUMENT_BEGIN, True, -1)]


def guide(tools: list[dict], tool_choice: str, parallel_tool_calls: bool, response_schema: dict | bool | None,
          first_tool_index: int, schema_param: str = "tools[{i}].function.parameters",
          response_param: str = "response_format") -> Guidance:
    """tools: OpenAI-style function tools; tool_choice: "auto", "none", "required", or the name of a declared
    function (checked by the caller); response_schema: the JSON Schema the answer's content must match
    (json_object: {"type": "object"}), or None for free text. GrammarError (naming the field) for a schema that cannot guide."""
    names = [t["function"]["name"] for t in tools]
    checks: list[Check] = []

    def rule(schema, param: str, tool: str | None = None) -> str:
        """`%json` of what the grammar can enforce of `schema`; the rest is checked after (a Check)."""
        try:
            enforced = enforceable(schema)
        except GrammarError as e:
            raise GrammarError(f"{param} cannot guide decoding: {e}", param) from None
        if enforced.ignored is not None:
            checks.append(Check(param, schema, tool))
        return json_rule(enforced.schema)

    def args(*indices: int) -> list[str]:
        """Argument rules of these tools; only the schemas a mode can use are checked (and can refuse)."""
        schemas = [tools[j]["function"].get("parameters") for j in indices]
        return [f"args_{j}: {rule(NO_PARAMETERS if schema is None else schema, schema_param.format(i=j), names[j])}"
                for j, schema in zip(indices, schemas)]

    answer = ["answer: " + (rule(response_schema, response_param) if response_schema is not None else "TEXT"),
              TEXT_LEXEME]

    if tool_choice == "none" or not tools:
        if response_schema is None and not tools:
            return Guidance()
        # The section marker is masked, so the model answers in text instead of ending at a call.
        return Guidance(grammar=_lark(["start: answer" if response_schema is not None else "start: answer?", *answer]),
                        checks=checks)
    if tool_choice == "required" and len(tools) == 1:
        tool_choice = names[0]
    if tool_choice not in ("auto", "required"):  # one named function: exactly one call, as OpenAI's API makes it
        j = names.index(tool_choice)
        return Guidance(tool_call_header(tool_choice, first_tool_index),
                        grammar=_lark([f"start: args_{j} {TOOL_CALL_END} {TOOL_CALLS_END}", *args(j)]), checks=checks)
    calls = _calls(names, first_tool_index, MAX_PARALLEL_CALLS if parallel_tool_calls else 1)
    if tool_choice == "required":
        return Guidance([Segment(TOOL_CALLS_BEGIN, True, -1)],
                        grammar=_lark([f"start: calls_0 {TOOL_CALLS_END}", *calls, *args(*range(len(tools)))]),
                        checks=checks)
    section = f"section: {TOOL_CALLS_BEGIN} calls_0 {TOOL_CALLS_END}"
    # K2 writes any content before its calls; a JSON answer and a call are alternatives.
    start = "start: answer | section" if response_schema is not None else "start: answer? section?"
    return Guidance(grammar=_lark([start, section, *answer, *calls, *args(*range(len(tools)))]), checks=checks)


def violations(parsed: ParsedOutput, checks: list[Check]) -> list[str]:
    """Where a finished answer breaks a schema its grammar enforced only in part, one line each. Arguments that are
    not JSON at all (a call cut short by max_tokens) are the finish reason's business, not a violation."""
    import jsonschema

    found = []
    for check in checks:
        if check.tool is None:
            texts = [parsed.content] if parsed.content else []
        else:
            texts = [call.arguments for call in parsed.tool_calls if call.name == check.tool]
        for text in texts:
            try:
                value = json.loads(text)
            except ValueError:
                continue
            error = jsonschema.exceptions.best_match(jsonschema.validators.validator_for(check.schema)(
                check.schema).iter_errors(value))
            if error is not None:
                what = f"{check.tool} arguments" if check.tool else "the answer"
                found.append(f"{check.param}: {what} fail validation: {error.message[:200]}")
    return found


def _calls(names: list[str], first_index: int, max_calls: int) -> list[str]:
    """Rules calls_0 .. calls_{n-1}: call k names any declared function, with index first_index + k."""
    rules = []
    for k in range(max_calls):
        index = first_index + k
        options = " | ".join(f"{json.dumps(f'functions.{name}:{index}')} {TOOL_CALL_ARGUMENT_BEGIN} args_{j}"
                             for j, name in enumerate(names))
        more = f" calls_{k + 1}?" if k + 1 < max_calls else ""
        rules += [f"calls_{k}: call_{k}{more}", f"call_{k}: {TOOL_CALL_BEGIN} ({options}) {TOOL_CALL_END}"]
    return rules


def _lark(rules: list[str]) -> str:
    return "\n".join(rules) + "\n"


def structured_grammar(outputs) -> str | None:
    """The grammar for vLLM-style structured_outputs (protocol.StructuredOutputs: exactly one of json, regex,
    choice, grammar), or None without them; GrammarError naming the field."""
    if outputs is None:
        return None
    json_schema, regex, choice, grammar = outputs.json_, outputs.regex, outputs.choice, outputs.grammar
    given = "json" if json_schema is not None else "regex" if regex is not None else \
        "choice" if choice is not None else "grammar"
    param = f"structured_outputs.{given}"
    if isinstance(json_schema, str):
        try:
            json_schema = json.loads(json_schema)
        except ValueError as e:
            raise GrammarError(f"{param} is not JSON: {e}", param) from None
    try:
        return grammar_for(json_schema, regex, choice, grammar)
    except GrammarError as e:
        raise GrammarError(f"{param} cannot guide decoding: {e}", param) from None
