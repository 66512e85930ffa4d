"""OpenAI's Responses API, POST /v1/responses, on the chat pipeline: input items become a conversation, output items
come from the parsed answer, and streaming sends the typed events (response.created ... response.completed) that
the openai client, the Agents SDK and Codex consume. Stateless: nothing is stored, so a request that needs stored
state (previous_response_id, store, conversation, background) is refused with a 400 saying what to send instead."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from ..engine import SamplingParams
from ..tool_parser import OutputDelta, ParsedOutput
from .auth import Caller, authenticate
from .errors import APIError
from .generation import Generation, run_to_end
from .prompts import ChatInput, content_text, warning_headers
from .protocol import OpenAIError
from .responses_protocol import (
    FunctionCallItem,
    FunctionCallOutputItem,
    FunctionTool,
    IncompleteDetails,
    InputTokensDetails,
    MessageItem,
    NamespaceTool,
    OutputFunctionCall,
    OutputItem,
    OutputMessage,
    OutputReasoning,
    OutputText,
    ReasoningItem,
    ReasoningText,
    ResponseError,
    ResponseObject,
    ResponsesRequest,
    ResponseUsage,
)
from .serving import Serving
from .streaming import EventStream, named_event, stream_error

router = APIRouter(tags=["OpenAI"])
ERRORS = {status: {"model": OpenAIError} for status in (400, 401, 404, 413, 429, 503)}
SSE = {"text/event-stream": {}}  # server-sent events: response.created ... response.completed


@router.post("/v1/responses", response_model=None,
             responses={200: {"model": ResponseObject, "content": SSE}, **ERRORS})
async def create_response(body: ResponsesRequest, request: Request, caller: Caller = Depends(authenticate)) -> Response:
    serving: Serving = request.app.state.serving
    serving.check_model(body.model)
    chat, namespaces = chat_input(body)
    prompt = await run_in_threadpool(serving.prompts.chat, chat)  # a new tool set's grammar: milliseconds
    max_tokens = serving.prompts.max_tokens(prompt, body.max_output_tokens, "input")
    params = SamplingParams(
        max_tokens=max_tokens,
        temperature=serving.model.default_temperature if body.temperature is None else body.temperature,
        top_p=1.0 if body.top_p is None else body.top_p, grammar=prompt.grammar)
    generation = await serving.generate([prompt], [params], caller, "responses", "resp_")
    if body.stream:
        return EventStream(response_stream(generation, body, namespaces), generation, warning_headers(chat.warnings))
    if not await run_to_end(request, generation):
        return Response(status_code=499)  # the client has gone; nobody reads this
    choice = generation.choices[0]
    status = "incomplete" if choice.finish_reason == "length" else "completed"
    items = output_items(choice.parsed, generation.request_id, status, namespaces)
    return JSONResponse(response_object(generation, body, status, items).model_dump(mode="json"),
                        headers=warning_headers(chat.warnings, generation.violations))


def chat_input(body: ResponsesRequest) -> tuple[ChatInput, dict[str, str]]:
    """The request as the conversation chat.py renders: instructions first as the system message, messages in
    order, function_call items as the assistant's tool calls, function_call_output items as tool results."""
    refuse_state(body)
    warnings: list[str] = []
    messages: list[dict] = []
    if body.instructions:
        messages.append({"role": "system", "content": body.instructions})
    items = [MessageItem(role="user", content=body.input)] if isinstance(body.input, str) else body.input
    for index, item in enumerate(items):
        param = f"input[{index}]"
        if isinstance(item, MessageItem):
            role = "system" if item.role == "developer" else item.role
            messages.append({"role": role, "content": content_text(item.content, warnings, f"{param}.content")})
        elif isinstance(item, FunctionCallItem):
            call = {"id": item.call_id, "type": "function", "function": {"name": item.name, "arguments": item.arguments}}
            last = messages[-1] if messages else None
            if last is not None and last["role"] == "assistant":
                last.setdefault("tool_calls", []).append(call)  # the same turn: its text, then its calls
            else:
                messages.append({"role": "assistant", "content": "", "tool_calls": [call]})
        elif isinstance(item, FunctionCallOutputItem):
            messages.append({"role": "tool", "tool_call_id": item.call_id,
                             "content": content_text(item.output, warnings, f"{param}.output")})
        elif isinstance(item, ReasoningItem):
            continue  # earlier turns' reasoning is not replayed to the model
        else:
            hint = " (it needs stored items: send the item itself)" if item.type == "item_reference" else ""
            raise APIError(400, f"input items of type {item.type!r} are not supported: openk2 takes message, "
                                f"function_call, function_call_output and reasoning items{hint}", param)
    tools, namespaces = function_tools(body.tools or [])
    choice = body.tool_choice
    if choice is not None and not isinstance(choice, str) and choice.type != "function":
        raise APIError(400, f"tool_choice of type {choice.type!r} is not supported: use 'auto', 'none', 'required' "
                            "or {'type': 'function', 'name': ...}", "tool_choice")
    text_format = body.text.format if body.text else None
    chat = ChatInput(messages, tools or None, "auto" if choice is None else choice if isinstance(choice, str) else choice.name,
                     parallel_tool_calls=body.parallel_tool_calls is not False,
                     response_schema=text_format.answer_schema if text_format else None,
                     schema_param="tools[{i}].parameters", response_param="text.format.schema", warnings=warnings)
    return chat, namespaces


def function_tools(declared: list) -> tuple[list[dict], dict[str, str]]:
    """The request's tools as the chat template's function tools (a namespace's tools flattened into them), and
    the namespace of each function that came from one. OpenAI's hosted tools are refused: the model cannot run them."""
    tools, namespaces = [], {}
    for index, tool in enumerate(declared):
        inner = tool.tools if isinstance(tool, NamespaceTool) else [tool]
        for position, function in enumerate(inner):
            if not isinstance(function, FunctionTool):
                where = f"tools[{index}].tools[{position}].type" if isinstance(tool, NamespaceTool) else f"tools[{index}].type"
                raise APIError(400, f"{function.type!r} is a tool hosted by OpenAI; openk2 runs function tools only "
                                    "(leave it out, or declare a function and run it yourself)", where)
            entry = {"name": function.name, **({"description": function.description} if function.description else {})}
            if function.parameters is not None:
                entry["parameters"] = function.parameters
            tools.append({"type": "function", "function": entry})
            if isinstance(tool, NamespaceTool):
                namespaces[function.name] = tool.name
    return tools, namespaces


def refuse_state(body: ResponsesRequest) -> None:
    """A stateless server cannot honour these: say so, and what to send instead."""
    if body.previous_response_id is not None:
        raise APIError(400, "openk2 does not store responses, so previous_response_id cannot be resolved: send the "
                            "whole conversation in input (with store: false)", "previous_response_id")
    if body.store:
        raise APIError(400, "openk2 does not store responses: send store: false (or leave it out) and keep the "
                            "conversation on the client", "store")
    if body.conversation is not None:
        raise APIError(400, "openk2 does not keep conversations: send the whole conversation in input", "conversation")
    if body.background:
        raise APIError(400, "background responses need stored state, which openk2 does not keep: stream instead",
                       "background")
    if body.prompt is not None:
        raise APIError(400, "stored prompt templates are not supported: send instructions and input", "prompt")


def item_id(response_id: str, kind: str, index: int) -> str:
    """An output item's id, derived from its response's: `msg_…`, `fc_…`, `rs_…`."""
    return f"{kind}_{response_id.removeprefix('resp_')}{index:02d}"


def output_items(parsed: ParsedOutput, response_id: str, status: str, namespaces: dict[str, str]) -> list[OutputItem]:
    """The answer as output items, in the order the model wrote them: reasoning, text, then function calls."""
    items: list[OutputItem] = []
    if parsed.reasoning:
        items.append(OutputReasoning(id=item_id(response_id, "rs", len(items)), status=status,
                                     content=[ReasoningText(text=parsed.reasoning)]))
    if parsed.content or not parsed.tool_calls:
        items.append(OutputMessage(id=item_id(response_id, "msg", len(items)), status=status,
                                   content=[OutputText(text=parsed.content)]))
    for call in parsed.tool_calls:
        items.append(OutputFunctionCall(id=item_id(response_id, "fc", len(items)), call_id=call.id, name=call.name,
                                        arguments=call.arguments, status=status, namespace=namespaces.get(call.name)))
    return items


def response_object(generation: Generation, body: ResponsesRequest, status: str, items: list[OutputItem],
                    error: APIError | None = None) -> ResponseObject:
    usage = generation.usage
    out = ResponseObject(
        id=generation.request_id, created_at=generation.created, status=status, model=body.model, output=items,
        instructions=body.instructions, max_output_tokens=body.max_output_tokens,
        parallel_tool_calls=body.parallel_tool_calls is not False, temperature=body.temperature, top_p=body.top_p,
        reasoning=body.reasoning, user=body.user, metadata=body.metadata or {},
        tools=[t.model_dump(exclude_none=True) for t in body.tools or []],
        tool_choice=body.tool_choice.model_dump() if hasattr(body.tool_choice, "model_dump") else body.tool_choice or "auto",
        text=body.text.model_dump(by_alias=True, exclude_none=True) if body.text and body.text.format else
        {"format": {"type": "text"}},
        usage=ResponseUsage(input_tokens=usage.prompt_tokens, output_tokens=usage.completion_tokens,
                            total_tokens=usage.total_tokens,
                            input_tokens_details=InputTokensDetails(cached_tokens=usage.cached_tokens)))
    if status == "incomplete":
        out.incomplete_details = IncompleteDetails(reason="max_output_tokens")
    if error is not None:
        out.error = ResponseError(code=error.code or "server_error", message=error.message)
    return out


class ItemWriter:
    """Turns parsed deltas into the Responses stream: one open output item at a time (reasoning, message, then one
    per function call), each opened by response.output_item.added and closed by its .done events."""

    def __init__(self, response_id: str, namespaces: dict[str, str]):
        self.response_id, self.namespaces = response_id, namespaces
        self.sequence = 0
        self.items: list[OutputItem] = []
        self.open: OutputItem | None = None

    def event(self, kind: str, **data) -> str:
        self.sequence += 1
        return named_event(kind, {"type": kind, "sequence_number": self.sequence - 1, **data})

    def write(self, delta: OutputDelta) -> Iterator[str]:
        if delta.reasoning:
            yield from self._ensure(OutputReasoning, "rs")
            self.open.content[0].text += delta.reasoning
            yield self.event("response.reasoning_text.delta", item_id=self.open.id, output_index=len(self.items) - 1,
                             content_index=0, delta=delta.reasoning)
        if delta.content:
            yield from self._ensure(OutputMessage, "msg")
            self.open.content[0].text += delta.content
            yield self.event("response.output_text.delta", item_id=self.open.id, output_index=len(self.items) - 1,
                             content_index=0, delta=delta.content, logprobs=[])
        for call in delta.tool_calls:
            if call.id is not None:  # a new call: the previous item is complete
                yield from self.close()
                item = OutputFunctionCall(id=item_id(self.response_id, "fc", len(self.items)), call_id=call.id,
                                          name=call.name, arguments="", status="in_progress",
                                          namespace=self.namespaces.get(call.name))
                yield from self._add(item)
            if call.arguments:
                self.open.arguments += call.arguments
                yield self.event("response.function_call_arguments.delta", item_id=self.open.id,
                                 output_index=len(self.items) - 1, delta=call.arguments)

    def close(self, status: str = "completed") -> Iterator[str]:
        item, index = self.open, len(self.items) - 1
        if item is None:
            return
        self.open = None
        item.status = status
        if isinstance(item, OutputFunctionCall):
            yield self.event("response.function_call_arguments.done", item_id=item.id, output_index=index,
                             name=item.name, arguments=item.arguments)
        else:
            part = item.content[0]
            kind = "response.output_text.done" if isinstance(item, OutputMessage) else "response.reasoning_text.done"
            extra = {"logprobs": []} if isinstance(item, OutputMessage) else {}
            yield self.event(kind, item_id=item.id, output_index=index, content_index=0, text=part.text, **extra)
            yield self.event("response.content_part.done", item_id=item.id, output_index=index, content_index=0,
                             part=part.model_dump(mode="json"))
        yield self.event("response.output_item.done", output_index=index, item=item.model_dump(mode="json"))

    def _ensure(self, kind: type, prefix: str) -> Iterator[str]:
        if isinstance(self.open, kind):
            return
        yield from self.close()
        part = OutputText(text="") if kind is OutputMessage else ReasoningText(text="")
        yield from self._add(kind(id=item_id(self.response_id, prefix, len(self.items)), status="in_progress",
                                  content=[part]))
        yield self.event("response.content_part.added", item_id=self.open.id, output_index=len(self.items) - 1,
                         content_index=0, part=part.model_dump(mode="json"))

    def _add(self, item: OutputItem) -> Iterator[str]:
        self.items.append(item)
        self.open = item
        shown = item.model_copy(deep=True)
        if isinstance(shown, (OutputMessage, OutputReasoning)):
            shown.content = []  # the added item is empty; its part follows in content_part.added
        yield self.event("response.output_item.added", output_index=len(self.items) - 1,
                         item=shown.model_dump(mode="json"))


async def response_stream(generation: Generation, body: ResponsesRequest, namespaces: dict[str, str]) -> AsyncIterator[str]:
    """response.created, response.in_progress, the output items' events, then response.completed (or
    .incomplete at max_output_tokens, or an error event and response.failed)."""
    writer = ItemWriter(generation.request_id, namespaces)
    start = response_object(generation, body, "in_progress", [])
    start.usage = None
    yield writer.event("response.created", response=start.model_dump(mode="json"))
    yield writer.event("response.in_progress", response=start.model_dump(mode="json"))
    try:
        async for item in generation:
            for chunk in writer.write(item.delta):
                yield chunk
        choice = generation.choices[0]
        status = "incomplete" if choice.finish_reason == "length" else "completed"
        for chunk in writer.close(status):
            yield chunk
        final = response_object(generation, body, status, writer.items)
        yield writer.event(f"response.{status}", response=final.model_dump(mode="json"))
    except Exception as e:  # the status line is sent: report the failure in the stream
        error = stream_error(e)
        yield writer.event("error", code=error.code or "server_error", message=error.message, param=error.param)
        failed = response_object(generation, body, "failed", writer.items, error)
        yield writer.event("response.failed", response=failed.model_dump(mode="json"))
