"""Wire formats of OpenAI's Responses API (POST /v1/responses): the request, its input items, and the response
object with its output items. Streaming events are plain dicts built in responses.py."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Discriminator, Field, Tag, field_validator

from .protocol import TOOL_NAME, Lenient, Reply, object_schema

# ---- requests -------------------------------------------------------------------------------


class InputPart(Lenient):
    """A content part. Text parts carry text; images, files and audio are replaced by a placeholder (prompts.py)."""

    type: Literal["input_text", "output_text", "text", "summary_text", "reasoning_text", "refusal", "input_image",
                  "input_file", "input_audio"]
    text: str | None = None
    refusal: str | None = None


PartsOrText = str | list[InputPart]


class MessageItem(Lenient):
    type: Literal["message"] = "message"  # an "easy input message" may leave the type out
    role: Literal["user", "assistant", "system", "developer"]
    content: PartsOrText


class FunctionCallItem(Lenient):
    type: Literal["function_call"]
    call_id: str
    name: str
    arguments: str = "{}"


class FunctionCallOutputItem(Lenient):
    type: Literal["function_call_output"]
    call_id: str
    output: PartsOrText


class ReasoningItem(Lenient):
    """The model's earlier reasoning, which is not replayed to it (as K2's template drops earlier thinking)."""

    type: Literal["reasoning"]


class OtherItem(Lenient):
    """Any other item type (built-in tool calls, item references): refused with a clear 400 in responses.py."""

    type: str


def _item_kind(value: Any) -> str:
    kind = value.get("type", "message") if isinstance(value, dict) else getattr(value, "type", "message")
    return kind if kind in ("message", "function_call", "function_call_output", "reasoning") else "other"


InputItem = Annotated[
    Annotated[MessageItem, Tag("message")] | Annotated[FunctionCallItem, Tag("function_call")]
    | Annotated[FunctionCallOutputItem, Tag("function_call_output")] | Annotated[ReasoningItem, Tag("reasoning")]
    | Annotated[OtherItem, Tag("other")],
    Discriminator(_item_kind)]


class FunctionTool(Lenient):
    type: Literal["function"]
    name: str = Field(pattern=TOOL_NAME)
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None

    @field_validator("parameters")
    @classmethod
    def check_parameters(cls, schema: dict[str, Any] | None) -> dict[str, Any] | None:
        return None if schema is None else object_schema(schema)


class BuiltinTool(Lenient):
    """OpenAI's hosted tools (web_search, file_search, computer_use, ...): refused with a clear 400."""

    type: str


def _tool_kind(value: Any) -> str:
    kind = value.get("type") if isinstance(value, dict) else getattr(value, "type", None)
    return kind if kind in ("function", "namespace") else "builtin"


NamespacedTool = Annotated[Annotated[FunctionTool, Tag("function")] | Annotated[BuiltinTool, Tag("builtin")],
                           Discriminator(_tool_kind)]


class NamespaceTool(Lenient):
    """A group of tools (Codex sends its sub-agent tools so): each one is offered to the model as itself, and its
    calls name the namespace (function_call.namespace)."""

    type: Literal["namespace"]
    name: str
    description: str | None = None
    tools: list[NamespacedTool]


ResponsesTool = Annotated[Annotated[FunctionTool, Tag("function")] | Annotated[NamespaceTool, Tag("namespace")]
                          | Annotated[BuiltinTool, Tag("builtin")], Discriminator(_tool_kind)]


class FunctionChoice(Lenient):
    type: Literal["function"]
    name: str


class OtherChoice(Lenient):
    type: str  # allowed_tools, a hosted tool, ...: refused with a clear 400


def _choice_kind(value: Any) -> str:
    kind = value.get("type") if isinstance(value, dict) else getattr(value, "type", None)
    return "function" if kind == "function" else "other"


ToolChoiceObject = Annotated[Annotated[FunctionChoice, Tag("function")] | Annotated[OtherChoice, Tag("other")],
                             Discriminator(_choice_kind)]


class TextFormat(Lenient):
    type: Literal["text", "json_object", "json_schema"]
    name: str | None = Field(None, pattern=TOOL_NAME)
    schema_: dict[str, Any] | bool | None = Field(None, alias="schema")
    description: str | None = None
    strict: bool | None = None  # openk2 always enforces the schema

    @property
    def answer_schema(self) -> dict | bool | None:
        """The JSON Schema the answer must match; None for free text."""
        if self.type == "json_object":
            return {"type": "object"}
        if self.type == "json_schema":
            return True if self.schema_ is None else self.schema_
        return None


class TextConfig(Lenient):
    format: TextFormat | None = None
    verbosity: str | None = None


class ResponsesRequest(Lenient):
    model: str
    input: str | list[InputItem]
    instructions: str | None = None
    tools: list[ResponsesTool] | None = None
    tool_choice: Literal["none", "auto", "required"] | ToolChoiceObject | None = None
    parallel_tool_calls: bool | None = None
    text: TextConfig | None = None
    max_output_tokens: int | None = Field(None, ge=1)
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, gt=0, le=1)
    stream: bool | None = None
    # Stateless server: these are refused with a clear 400 when they ask for state (responses.py).
    store: bool | None = None
    previous_response_id: str | None = None
    conversation: str | dict[str, Any] | None = None
    background: bool | None = None
    prompt: dict[str, Any] | None = None
    # Accepted and echoed; they change nothing here.
    metadata: dict[str, str] | None = None
    user: str | None = None
    reasoning: dict[str, Any] | None = None
    truncation: Literal["auto", "disabled"] | None = None
    include: list[str] | None = None


# ---- responses ------------------------------------------------------------------------------


class OutputText(Reply):
    type: Literal["output_text"] = "output_text"
    text: str
    annotations: list = Field(default_factory=list)
    logprobs: list = Field(default_factory=list)


class ReasoningText(Reply):
    type: Literal["reasoning_text"] = "reasoning_text"
    text: str


class OutputMessage(Reply):
    type: Literal["message"] = "message"
    id: str
    status: Literal["in_progress", "completed", "incomplete"]
    role: Literal["assistant"] = "assistant"
    content: list[OutputText]


class OutputFunctionCall(Reply):
    type: Literal["function_call"] = "function_call"
    id: str
    call_id: str
    name: str
    arguments: str
    status: Literal["in_progress", "completed", "incomplete"]
    namespace: str | None = None  # the namespace tool that declared the function, if one did


class OutputReasoning(Reply):
    type: Literal["reasoning"] = "reasoning"
    id: str
    summary: list = Field(default_factory=list)
    content: list[ReasoningText]
    status: Literal["in_progress", "completed", "incomplete"]


OutputItem = OutputMessage | OutputFunctionCall | OutputReasoning


class InputTokensDetails(Reply):
    cached_tokens: int


class OutputTokensDetails(Reply):
    reasoning_tokens: int = 0


class ResponseUsage(Reply):
    input_tokens: int
    input_tokens_details: InputTokensDetails
    output_tokens: int
    output_tokens_details: OutputTokensDetails = Field(default_factory=OutputTokensDetails)
    total_tokens: int


class IncompleteDetails(Reply):
    reason: Literal["max_output_tokens"]


class ResponseError(Reply):
    code: str
    message: str


class ResponseObject(Reply):
    id: str
    object: Literal["response"] = "response"
    created_at: int
    status: Literal["in_progress", "completed", "incomplete", "failed"]
    error: ResponseError | None = None
    incomplete_details: IncompleteDetails | None = None
    instructions: str | None = None
    max_output_tokens: int | None = None
    model: str
    output: list[OutputItem] = Field(default_factory=list)
    parallel_tool_calls: bool = True
    previous_response_id: str | None = None
    reasoning: dict[str, Any] | None = None
    store: bool = False
    temperature: float | None = None
    text: dict[str, Any] = Field(default_factory=lambda: {"format": {"type": "text"}})
    tool_choice: Any = "auto"
    tools: list[dict[str, Any]] = Field(default_factory=list)
    top_p: float | None = None
    truncation: Literal["auto", "disabled"] = "disabled"
    usage: ResponseUsage | None = None
    user: str | None = None
    metadata: dict[str, str] = Field(default_factory=dict)
