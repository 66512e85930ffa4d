"""Wire formats: pydantic models of the OpenAI Chat Completions / Completions and Anthropic Messages APIs."""

from __future__ import annotations

import logging
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

logger = logging.getLogger("openk2.server")

# OpenAI's and Anthropic's rule for function names; it also keeps `<|...|>` markers out of the
# tool-call header the server writes into the prompt when it forces a call.
TOOL_NAME = r"^[a-zA-Z0-9_.-]{1,64}$"
SEED_RANGE = dict(ge=-(2**63), le=2**63 - 1)  # what torch.Generator.manual_seed accepts, as OpenAI documents
_logged_unknown: set[tuple[str, str]] = set()


class Lenient(BaseModel):
    """A request object: unknown fields are accepted and logged, never rejected (agent front-ends send many)."""

    model_config = ConfigDict(extra="allow", allow_inf_nan=False)

    def model_post_init(self, context: Any) -> None:
        for name in self.model_extra or {}:
            if (type(self).__name__, name) not in _logged_unknown:  # once per field, not per request
                _logged_unknown.add((type(self).__name__, name))
                logger.info("ignoring unknown field %r in %s", name, type(self).__name__)


class Reply(BaseModel):
    """A response object. Routes serialise with exclude_unset: a field that defaults to None appears only when
    set, every other field always (`"object": "chat.completion"`, `"type": "function"`)."""

    def model_post_init(self, context: Any) -> None:
        self.__pydantic_fields_set__.update(n for n, f in type(self).model_fields.items() if f.default is not None)


def object_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """Check that a tool's parameter schema is a JSON Schema for an object (the shape both APIs require)."""
    if schema.get("type", "object") != "object":
        raise ValueError(f"a tool's parameter schema must have type 'object', not {schema.get('type')!r}")
    properties = schema.get("properties", {})
    if not isinstance(properties, dict) or not all(isinstance(p, dict) for p in properties.values()):
        raise ValueError("a tool's parameter schema needs 'properties' to map names to schemas")
    required = schema.get("required", [])
    if not isinstance(required, list) or not all(isinstance(r, str) for r in required):
        raise ValueError("a tool's parameter schema needs 'required' to be a list of property names")
    return schema


# ---- OpenAI requests ------------------------------------------------------------------------


class TextPart(Lenient):
    type: Literal["text"]
    text: str


class ImagePart(Lenient):
    """Accepted by the schema only to be refused with a clear message (chat.content_text): K2 reads text."""

    type: Literal["image_url", "input_image", "image"]


Content = str | list[Annotated[TextPart | ImagePart, Field(discriminator="type")]]


class FunctionCall(Lenient):
    name: str
    arguments: str | dict[str, Any] = "{}"


class ToolCall(Lenient):
    id: str | None = None
    type: Literal["function"] = "function"
    function: FunctionCall


class SystemMessage(Lenient):
    role: Literal["system", "developer"]
    content: Content
    name: str | None = None


class UserMessage(Lenient):
    role: Literal["user"]
    content: Content
    name: str | None = None


class AssistantMessage(Lenient):
    role: Literal["assistant"]
    content: Content | None = None
    tool_calls: list[ToolCall] | None = None
    name: str | None = None


class ToolMessage(Lenient):
    role: Literal["tool"]
    content: Content
    tool_call_id: str
    name: str | None = None


ChatMessage = Annotated[SystemMessage | UserMessage | AssistantMessage | ToolMessage, Field(discriminator="role")]


class FunctionDefinition(Lenient):
    name: str = Field(pattern=TOOL_NAME)
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None

    @field_validator("parameters")
    @classmethod
    def check_parameters(cls, schema: dict[str, Any] | None) -> dict[str, Any] | None:
        return None if schema is None else object_schema(schema)


class Tool(Lenient):
    type: Literal["function"]
    function: FunctionDefinition


class FunctionName(Lenient):
    name: str


class NamedToolChoice(Lenient):
    type: Literal["function"]
    function: FunctionName


class StreamOptions(Lenient):
    include_usage: bool | None = None


class JSONSchemaFormat(Lenient):
    name: str = Field(pattern=TOOL_NAME)
    description: str | None = None
    schema_: dict[str, Any] | bool | None = Field(None, alias="schema")
    strict: bool | None = None  # openk2 always enforces the schema


class ResponseFormat(Lenient):
    type: Literal["text", "json_object", "json_schema"]
    json_schema: JSONSchemaFormat | None = None

    @model_validator(mode="after")
    def check_json_schema(self) -> ResponseFormat:
        if self.type == "json_schema" and self.json_schema is None:
            raise ValueError("response_format of type 'json_schema' needs a json_schema object with the schema")
        return self

    @property
    def answer_schema(self) -> dict | bool | None:
        """The JSON Schema the answer must match; None for free text."""
        if self.type == "json_object":
            return {"type": "object"}
        if self.type == "json_schema":
            return True if self.json_schema.schema_ is None else self.json_schema.schema_
        return None


class StructuredOutputs(Lenient):
    """vLLM's extra parameter for constrained output (`extra_body={"structured_outputs": {...}}`): exactly one of
    a JSON Schema, a regex, a list of choices, or a grammar (llguidance's Lark dialect)."""

    json_: dict[str, Any] | bool | str | None = Field(None, alias="json")
    regex: str | None = None
    choice: list[str] | None = Field(None, min_length=1)
    grammar: str | None = None

    @model_validator(mode="after")
    def check_one(self) -> StructuredOutputs:
        given = [name for name in ("json_", "regex", "choice", "grammar") if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError("structured_outputs needs exactly one of json, regex, choice, grammar")
        return self


class SamplingFields(Lenient):
    """Sampling fields shared by chat and text completions (None: the server's default)."""

    model: str
    stream: bool | None = None
    stream_options: StreamOptions | None = None
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, gt=0, le=1)
    n: int | None = Field(None, ge=1, le=16)
    stop: str | list[str] | None = None
    seed: int | None = Field(None, **SEED_RANGE)
    presence_penalty: float | None = Field(None, ge=-2, le=2)
    frequency_penalty: float | None = Field(None, ge=-2, le=2)
    logit_bias: dict[str, float] | None = None  # token id (as a string) -> bias in [-100, 100]
    user: str | None = None
    # Extensions that vLLM's OpenAI server accepts too (the openai client sends them via extra_body).
    top_k: int | None = Field(None, ge=0)
    min_p: float | None = Field(None, ge=0, le=1)
    repetition_penalty: float | None = Field(None, ge=0.01, le=10)  # nearer 0, logits / penalty overflow
    ignore_eos: bool | None = None  # generate exactly max_tokens, as benchmarks need
    structured_outputs: StructuredOutputs | None = None

    @property
    def stop_list(self) -> list[str]:
        return [self.stop] if isinstance(self.stop, str) else list(self.stop or [])


class ChatCompletionRequest(SamplingFields):
    messages: list[ChatMessage] = Field(min_length=1)
    tools: list[Tool] | None = None
    tool_choice: Literal["none", "auto", "required"] | NamedToolChoice | None = None
    parallel_tool_calls: bool | None = None
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    logprobs: bool | None = None
    top_logprobs: int | None = Field(None, ge=0, le=20)
    response_format: ResponseFormat | None = None


class CompletionRequest(SamplingFields):
    prompt: str | list[str] | list[int] | list[list[int]]
    max_tokens: int | None = Field(None, ge=1)
    logprobs: int | None = Field(None, ge=0, le=5)
    echo: bool | None = None
    suffix: str | None = None
    best_of: int | None = Field(None, ge=1, le=16)


# ---- OpenAI responses -----------------------------------------------------------------------


class PromptTokensDetails(Reply):
    cached_tokens: int


class Usage(Reply):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    prompt_tokens_details: PromptTokensDetails | None = None


class FunctionCallOut(Reply):
    name: str | None = None
    arguments: str | None = None


class ToolCallOut(Reply):
    id: str
    type: Literal["function"] = "function"
    function: FunctionCallOut


class ResponseMessage(Reply):
    role: Literal["assistant"] = "assistant"
    content: str | None = None
    reasoning_content: str | None = None  # Moonshot's field for K2's thinking
    tool_calls: list[ToolCallOut] | None = None


class TopLogprob(Reply):
    token: str
    logprob: float
    bytes: list[int]


class TokenLogprob(TopLogprob):
    top_logprobs: list[TopLogprob]


class ChoiceLogprobs(Reply):
    content: list[TokenLogprob] | None = None


class ChatChoice(Reply):
    index: int
    message: ResponseMessage
    logprobs: ChoiceLogprobs | None = None
    finish_reason: Literal["stop", "length", "tool_calls"]


class ChatCompletion(Reply):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[ChatChoice]
    usage: Usage


class ToolCallChunk(Reply):
    index: int
    id: str | None = None
    type: Literal["function"] | None = None
    function: FunctionCallOut


class ChatDelta(Reply):
    role: Literal["assistant"] | None = None
    content: str | None = None
    reasoning_content: str | None = None
    tool_calls: list[ToolCallChunk] | None = None


class ChatChunkChoice(Reply):
    index: int
    delta: ChatDelta
    logprobs: ChoiceLogprobs | None = None
    finish_reason: Literal["stop", "length", "tool_calls"] | None = None


class ChatCompletionChunk(Reply):
    id: str
    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    created: int
    model: str
    choices: list[ChatChunkChoice]
    usage: Usage | None = None


class CompletionLogprobs(Reply):
    tokens: list[str]
    token_logprobs: list[float]
    top_logprobs: list[dict[str, float]] | None
    text_offset: list[int]


class CompletionChoice(Reply):
    index: int
    text: str
    logprobs: CompletionLogprobs | None = None
    finish_reason: Literal["stop", "length"] | None = None


class TextCompletion(Reply):
    id: str
    object: Literal["text_completion"] = "text_completion"
    created: int
    model: str
    choices: list[CompletionChoice]
    usage: Usage | None = None


class ModelCard(Reply):
    """One served model, with the fields of both APIs' model listings (each client reads its own)."""

    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str = "openk2"
    type: Literal["model"] = "model"
    display_name: str
    created_at: str  # RFC 3339, Anthropic's field


class ModelList(Reply):
    object: Literal["list"] = "list"
    data: list[ModelCard]
    has_more: bool = False
    first_id: str | None = None
    last_id: str | None = None


class OpenAIErrorDetail(Reply):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class OpenAIError(Reply):
    error: OpenAIErrorDetail


# ---- Anthropic requests ---------------------------------------------------------------------


class TextBlock(Lenient):
    type: Literal["text"]
    text: str


class ToolUseBlock(Lenient):
    type: Literal["tool_use"]
    id: str
    name: str
    input: dict[str, Any]


class MediaBlock(Lenient):
    """An image or a document (PDF, ...): replaced by a text placeholder and a Warning header (prompts.content_text),
    since the model reads text; refusing it would break every later turn of an agent session that holds it."""

    type: Literal["image", "document"]


ToolResultContent = Annotated[TextBlock | MediaBlock, Field(discriminator="type")]


class ToolResultBlock(Lenient):
    type: Literal["tool_result"]
    tool_use_id: str
    content: str | list[ToolResultContent] | None = None
    is_error: bool | None = None


class ThinkingBlock(Lenient):
    type: Literal["thinking"]
    thinking: str
    signature: str | None = None


class RedactedThinkingBlock(Lenient):
    type: Literal["redacted_thinking"]
    data: str


ContentBlock = Annotated[TextBlock | MediaBlock | ToolUseBlock | ToolResultBlock | ThinkingBlock
                         | RedactedThinkingBlock, Field(discriminator="type")]


class AnthropicMessage(Lenient):
    role: Literal["user", "assistant", "system"]  # Claude Code sends system messages inside messages too
    content: str | list[ContentBlock]


class AnthropicTool(Lenient):
    name: str = Field(pattern=TOOL_NAME)
    description: str | None = None
    input_schema: dict[str, Any]
    type: Literal["custom"] | None = None

    @field_validator("input_schema")
    @classmethod
    def check_input_schema(cls, schema: dict[str, Any]) -> dict[str, Any]:
        return object_schema(schema)


class AnthropicToolChoice(Lenient):
    type: Literal["auto", "any", "tool", "none"]
    name: str | None = None
    disable_parallel_tool_use: bool | None = None


class CountTokensRequest(Lenient):
    model: str
    messages: list[AnthropicMessage] = Field(min_length=1)
    system: str | list[TextBlock] | None = None
    tools: list[AnthropicTool] | None = None
    tool_choice: AnthropicToolChoice | None = None


class OutputFormat(Lenient):
    type: Literal["json_schema"]
    schema_: dict[str, Any] = Field(alias="schema")


class OutputConfig(Lenient):
    """Anthropic's structured outputs (`output_config.format`; the beta's `output_format` is the same object)."""

    format: OutputFormat | None = None
    effort: str | None = None  # a reasoning-effort hint; K2 has no such knob


class MessagesRequest(CountTokensRequest):
    max_tokens: int = Field(ge=1)
    stop_sequences: list[str] | None = None
    stream: bool | None = None
    temperature: float | None = Field(None, ge=0, le=1)
    top_p: float | None = Field(None, gt=0, le=1)
    top_k: int | None = Field(None, ge=0)
    metadata: dict[str, Any] | None = None
    output_config: OutputConfig | None = None
    output_format: OutputFormat | None = None


# ---- Anthropic responses --------------------------------------------------------------------


class AnthropicUsage(Reply):
    input_tokens: int  # prompt tokens not read from the cache, as Anthropic counts them
    output_tokens: int
    cache_read_input_tokens: int = 0
    cache_creation_input_tokens: int = 0


class TextOut(Reply):
    type: Literal["text"] = "text"
    text: str


class ThinkingOut(Reply):
    type: Literal["thinking"] = "thinking"
    thinking: str
    signature: str = ""


class ToolUseOut(Reply):
    type: Literal["tool_use"] = "tool_use"
    id: str
    name: str
    input: dict[str, Any]


class MessageResponse(Reply):
    id: str
    type: Literal["message"] = "message"
    role: Literal["assistant"] = "assistant"
    model: str
    content: list[ThinkingOut | TextOut | ToolUseOut]
    stop_reason: Literal["end_turn", "max_tokens", "stop_sequence", "tool_use"] | None = None
    stop_sequence: str | None = None
    usage: AnthropicUsage


class CountTokensResponse(Reply):
    input_tokens: int


class AnthropicErrorDetail(Reply):
    type: str
    message: str


class AnthropicError(Reply):
    type: Literal["error"] = "error"
    error: AnthropicErrorDetail
