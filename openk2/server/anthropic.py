"""Anthropic-compatible routes: POST /v1/messages (streaming with Anthropic's event sequence) and /v1/messages/count_tokens."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Iterator

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from ..engine import SamplingParams
from ..tool_parser import OutputDelta
from .auth import Caller, authenticate
from .errors import APIError
from .generation import Choice, Generation, run_to_end
from .prompts import ChatInput, content_text, warning_headers
from .protocol import (
    AnthropicError,
    AnthropicUsage,
    CountTokensRequest,
    CountTokensResponse,
    MessageResponse,
    MessagesRequest,
    TextBlock,
    TextOut,
    ThinkingOut,
    ToolUseOut,
)
from .serving import Serving
from .streaming import EventStream, anthropic_sse_error, named_event

logger = logging.getLogger("openk2.server")
router = APIRouter(tags=["Anthropic"])
ERRORS = {status: {"model": AnthropicError} for status in (400, 401, 404, 413, 429, 529)}
SSE = {"text/event-stream": {}}  # server-sent events: message_start ... message_stop
STOP_REASONS = {"tool_calls": "tool_use", "length": "max_tokens"}


def serving_of(request: Request) -> Serving:
    return request.app.state.serving


@router.post("/v1/messages", response_model=None,
             responses={200: {"model": MessageResponse, "content": SSE}, **ERRORS})
async def messages(body: MessagesRequest, request: Request, caller: Caller = Depends(authenticate)) -> Response:
    serving = serving_of(request)
    serving.check_model(body.model)
    chat = chat_input(body)
    prompt = await run_in_threadpool(serving.prompts.chat, chat)  # a new tool set's grammar: milliseconds
    max_tokens = serving.prompts.max_tokens(prompt, body.max_tokens)
    temperature = 1.0 if body.temperature is None else body.temperature  # Anthropic's default
    params = SamplingParams(max_tokens=max_tokens, temperature=temperature * serving.model.anthropic_temperature_scale,
                            top_p=1.0 if body.top_p is None else body.top_p, top_k=body.top_k or 0,
                            stop=body.stop_sequences or [], grammar=prompt.grammar)
    generation = await serving.generate([prompt], [params], caller, "messages", "msg_")
    if body.stream:
        return EventStream(message_stream(generation, body), generation, warning_headers(chat.warnings),
                           ping=named_event("ping", {"type": "ping"}))  # Anthropic's own keep-alive event
    if not await run_to_end(request, generation):
        return Response(status_code=499)
    choice = generation.choices[0]
    parsed = choice.parsed
    content: list[ThinkingOut | TextOut | ToolUseOut] = []
    if parsed.reasoning:
        content.append(ThinkingOut(thinking=parsed.reasoning))
    if parsed.content or not parsed.tool_calls:
        content.append(TextOut(text=parsed.content))
    content += [ToolUseOut(id=call.id, name=call.name, input=tool_input(call.arguments)) for call in parsed.tool_calls]
    stop_reason, stop_sequence = stop_of(choice)
    reply = MessageResponse(id=generation.request_id, model=body.model, content=content, stop_reason=stop_reason,
                            stop_sequence=stop_sequence, usage=usage_of(generation))
    return JSONResponse(reply.model_dump(mode="json"), headers=warning_headers(chat.warnings, generation.violations))


@router.post("/v1/messages/count_tokens", response_model=None,
             responses={200: {"model": CountTokensResponse}, **ERRORS})
async def count_tokens(body: CountTokensRequest, request: Request, caller: Caller = Depends(authenticate)) -> Response:
    serving = serving_of(request)
    serving.check_model(body.model)
    prompt = await run_in_threadpool(serving.prompts.chat, chat_input(body), False)
    return JSONResponse({"input_tokens": len(prompt.ids)})


def chat_input(body: CountTokensRequest) -> ChatInput:
    """Anthropic's system, messages and tools as the OpenAI-style conversation chat.py renders: tool_result
    blocks become tool messages, tool_use blocks become tool calls, images and documents placeholders."""
    warnings: list[str] = []
    messages: list[dict] = []
    if body.system:
        messages.append({"role": "system", "content": content_text(body.system, warnings, "system")})
    for index, message in enumerate(body.messages):
        param = f"messages.{index}.content"
        blocks = [TextBlock(type="text", text=message.content)] if isinstance(message.content, str) else message.content
        texts: list = []
        calls: list[dict] = []
        for block in blocks:
            if block.type in ("text", "image", "document"):
                texts.append(block)
            elif block.type == "tool_result" and message.role == "user":
                content = content_text(block.content, warnings, param)
                messages.append({"role": "tool", "tool_call_id": block.tool_use_id, "content": content})
            elif block.type == "tool_use" and message.role == "assistant":
                arguments = json.dumps(block.input, ensure_ascii=False)
                calls.append({"id": block.id, "type": "function", "function": {"name": block.name, "arguments": arguments}})
            elif block.type in ("thinking", "redacted_thinking") and message.role == "assistant":
                continue  # earlier turns' reasoning is not replayed to the model
            else:
                raise APIError(400, f"a {block.type} block cannot appear in a {message.role} message", param)
        text = content_text(texts, warnings, param)
        if message.role == "system":
            messages.append({"role": "system", "content": text})
        elif message.role == "user" and (texts or not messages or messages[-1]["role"] != "tool"):
            messages.append({"role": "user", "content": text})
        elif message.role == "assistant":
            messages.append({"role": "assistant", "content": text, **({"tool_calls": calls} if calls else {})})
    tools = [{"type": "function", "function": {"name": t.name, **({"description": t.description} if t.description else {}),
                                               "parameters": t.input_schema}} for t in body.tools or []]
    choice = body.tool_choice
    if choice is not None and choice.type == "tool" and not choice.name:
        raise APIError(400, "tool_choice of type 'tool' needs the tool's name", "tool_choice.name")
    names = {None: "auto", "auto": "auto", "any": "required", "none": "none"}
    chat = ChatInput(messages, tools or None, choice.name if choice and choice.type == "tool" else names[choice and choice.type],
                     parallel_tool_calls=not (choice and choice.disable_parallel_tool_use),
                     schema_param="tools[{i}].input_schema", warnings=warnings)
    output = body.output_config.format if getattr(body, "output_config", None) else getattr(body, "output_format", None)
    if output is not None:  # structured outputs: the answer's text is JSON matching the schema (guided)
        chat.response_schema = output.schema_
        chat.response_param = "output_config.format.schema" if body.output_config else "output_format.schema"
    return chat


def tool_input(arguments: str) -> dict:
    """A call's arguments as the JSON object Anthropic's tool_use.input must be. Guided decoding makes them
    valid; a call cut short by max_tokens is not, and becomes {} (and a warning), never a broken response."""
    try:
        value = json.loads(arguments or "{}")
    except ValueError:
        value = None
    if not isinstance(value, dict):
        logger.warning("tool call arguments are not a JSON object; sending {} instead of %r", arguments[:200])
        return {}
    return value


def stop_of(choice: Choice) -> tuple[str, str | None]:
    if choice.stop_sequence is not None:
        return "stop_sequence", choice.stop_sequence
    return STOP_REASONS.get(choice.finish_reason, "end_turn"), None


def usage_of(generation: Generation, output_tokens: int | None = None) -> AnthropicUsage:
    usage = generation.usage
    return AnthropicUsage(input_tokens=usage.prompt_tokens - usage.cached_tokens,
                          output_tokens=usage.completion_tokens if output_tokens is None else output_tokens,
                          cache_read_input_tokens=usage.cached_tokens)


class BlockWriter:
    """Turns parsed deltas into Anthropic content blocks: one open block at a time (thinking, text, then one
    per tool call), each opened by content_block_start and closed by content_block_stop.

    A tool call's input is sent as one input_json_delta when the call is complete, so that what the
    client assembles is always a JSON object (see tool_input)."""

    def __init__(self):
        self.index = -1
        self.open: str | None = None
        self.arguments = ""

    def write(self, delta: OutputDelta) -> Iterator[str]:
        if delta.reasoning:
            yield from self._ensure("thinking", {"type": "thinking", "thinking": "", "signature": ""})
            yield self._delta({"type": "thinking_delta", "thinking": delta.reasoning})
        if delta.content:
            yield from self._ensure("text", {"type": "text", "text": ""})
            yield self._delta({"type": "text_delta", "text": delta.content})
        for call in delta.tool_calls:
            if call.id is not None:  # a new call: the previous one's arguments are complete
                yield from self.close()
                yield from self._ensure("tool_use", {"type": "tool_use", "id": call.id, "name": call.name, "input": {}})
            self.arguments += call.arguments

    def close(self) -> Iterator[str]:
        if self.open == "tool_use":
            yield self._delta({"type": "input_json_delta", "partial_json": json.dumps(tool_input(self.arguments))})
        if self.open is not None:
            yield named_event("content_block_stop", {"type": "content_block_stop", "index": self.index})
        self.open, self.arguments = None, ""

    def _ensure(self, kind: str, block: dict) -> Iterator[str]:
        if self.open == kind and kind != "tool_use":
            return
        yield from self.close()
        self.index += 1
        self.open = kind
        yield named_event("content_block_start", {"type": "content_block_start", "index": self.index, "content_block": block})

    def _delta(self, delta: dict) -> str:
        return named_event("content_block_delta", {"type": "content_block_delta", "index": self.index, "delta": delta})


async def message_stream(generation: Generation, body: MessagesRequest) -> AsyncIterator[str]:
    """message_start, content blocks, message_delta (stop reason, usage), message_stop."""
    writer = BlockWriter()
    held: list[OutputDelta] = []  # the answer's forced start, sent once message_start is out
    started = False

    def start() -> Iterator[str]:
        message = MessageResponse(id=generation.request_id, model=body.model, content=[],
                                  usage=usage_of(generation, output_tokens=0))
        yield named_event("message_start", {"type": "message_start", "message": message.model_dump(mode="json")})
        for delta in held:
            yield from writer.write(delta)

    try:
        async for item in generation:
            if not started and not item.choice.token_ids and not item.finished:
                held.append(item.delta)
                continue
            if not started:  # the engine has read the prompt, so the cached-token count is known
                started = True
                for chunk in start():
                    yield chunk
            for chunk in writer.write(item.delta):
                yield chunk
        for chunk in [] if started else start():
            yield chunk
        for chunk in writer.close():
            yield chunk
        stop_reason, stop_sequence = stop_of(generation.choices[0])
        yield named_event("message_delta", {"type": "message_delta",
                                      "delta": {"stop_reason": stop_reason, "stop_sequence": stop_sequence},
                                      "usage": usage_of(generation).model_dump()})
        yield named_event("message_stop", {"type": "message_stop"})
    except Exception as e:  # the status line is sent: report the failure in the stream
        yield anthropic_sse_error(e)
