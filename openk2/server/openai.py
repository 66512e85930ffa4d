"""OpenAI-compatible routes: POST /v1/chat/completions, POST /v1/completions, GET /v1/models."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import datetime, timezone

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from ..engine import SamplingParams
from ..tool_parser import OutputDelta
from .answer_grammar import structured_grammar
from .auth import Caller, authenticate
from .errors import APIError
from .generation import Generation, run_to_end
from .prompts import ChatInput, Prompt, content_text, warning_headers
from .protocol import (
    ChatChoice,
    ChatChunkChoice,
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionRequest,
    ChatDelta,
    ChatMessage,
    ChoiceLogprobs,
    CompletionChoice,
    CompletionLogprobs,
    CompletionRequest,
    FunctionCallOut,
    ModelCard,
    ModelList,
    NamedToolChoice,
    OpenAIError,
    PromptTokensDetails,
    ResponseMessage,
    SamplingFields,
    TextCompletion,
    TokenLogprob,
    ToolCallChunk,
    ToolCallOut,
    TopLogprob,
    Usage,
)
from .serving import Serving
from .streaming import EventStream, openai_sse_error, sse

logger = logging.getLogger("openk2.server")
router = APIRouter(tags=["OpenAI"])
ERRORS = {status: {"model": OpenAIError} for status in (400, 401, 404, 413, 429, 503)}
SSE = {"text/event-stream": {}}  # server-sent events: the chunk models above, one per event


def serving_of(request: Request) -> Serving:
    return request.app.state.serving


def json_of(reply, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(reply.model_dump(mode="json", exclude_unset=True), headers=headers)


# ---- /v1/chat/completions -----------------------------------------------------------------------


@router.post("/v1/chat/completions", response_model=None,
             responses={200: {"model": ChatCompletion, "content": SSE}, **ERRORS})
async def chat_completions(body: ChatCompletionRequest, request: Request,
                           caller: Caller = Depends(authenticate)) -> Response:
    serving = serving_of(request)
    serving.check_model(body.model)
    replaced: list[str] = []
    chat = ChatInput(
        messages=[chat_message(m, replaced, f"messages.{i}.content") for i, m in enumerate(body.messages)],
        tools=[t.model_dump(exclude_none=True) for t in body.tools or []] or None,
        tool_choice=tool_choice_name(body.tool_choice),
        parallel_tool_calls=body.parallel_tool_calls is not False,
        response_schema=body.response_format.answer_schema if body.response_format else None,
        warnings=replaced,
    )

    def prompt_of() -> Prompt:  # off the event loop: checking new schemas and building grammars takes milliseconds
        chat.structured_grammar = structured_grammar(body.structured_outputs)
        return serving.prompts.chat(chat)

    prompt = await run_in_threadpool(prompt_of)
    max_tokens = serving.prompts.max_tokens(prompt, body.max_completion_tokens or body.max_tokens)
    top_logprobs = body.top_logprobs or 0
    params = [sampling_params(body, serving, prompt, max_tokens, i, bool(body.logprobs) or top_logprobs > 0,
                              top_logprobs) for i in range(body.n or 1)]
    generation = await serving.generate([prompt], params, caller, "chat.completions", "chatcmpl-")
    if body.stream:
        return EventStream(chat_stream(generation, body), generation, warning_headers(replaced))
    if not await run_to_end(request, generation):
        return Response(status_code=499)  # the client has gone; nobody reads this
    return json_of(chat_completion(generation, body), warning_headers(replaced, generation.violations))


def chat_message(message: ChatMessage, replaced: list[str], param: str) -> dict:
    """A validated message as the dict chat.py renders (`developer` is OpenAI's newer name for `system`); content
    parts become text, an image a placeholder (noted in `replaced`)."""
    out = message.model_dump(exclude_none=True)
    if out["role"] == "developer":
        out["role"] = "system"
    if isinstance(message.content, list):
        out["content"] = content_text(message.content, replaced, param)
    return out


def tool_choice_name(choice: str | NamedToolChoice | None) -> str:
    if choice is None:
        return "auto"
    return choice if isinstance(choice, str) else choice.function.name


def sampling_params(body: SamplingFields, serving: Serving, prompt: Prompt, max_tokens: int, index: int,
                    logprobs: bool, top_logprobs: int) -> SamplingParams:
    return SamplingParams(
        max_tokens=max_tokens,
        temperature=serving.model.default_temperature if body.temperature is None else body.temperature,
        top_p=1.0 if body.top_p is None else body.top_p,
        top_k=body.top_k or 0,
        min_p=body.min_p or 0.0,
        presence_penalty=body.presence_penalty or 0.0,
        frequency_penalty=body.frequency_penalty or 0.0,
        repetition_penalty=body.repetition_penalty or 1.0,
        seed=None if body.seed is None else body.seed + index,  # n seeded choices differ, reproducibly
        stop=body.stop_list,
        ignore_eos=bool(body.ignore_eos),
        grammar=prompt.grammar,
        logprobs=logprobs,
        top_logprobs=top_logprobs,
        logit_bias=logit_bias(body.logit_bias),
    )


def logit_bias(bias: dict[str, float] | None) -> dict[int, float]:
    """OpenAI's logit_bias keys are token ids written as strings; the engine checks the ids and values."""
    try:
        return {int(token): value for token, value in (bias or {}).items()}
    except ValueError:
        raise APIError(400, "logit_bias keys must be token ids (integers written as strings)", "logit_bias") from None


def chat_completion(generation: Generation, body: ChatCompletionRequest) -> ChatCompletion:
    choices = []
    for choice in generation.choices:
        parsed = choice.parsed
        message = ResponseMessage(content=parsed.content if parsed.content or not parsed.tool_calls else None)
        if parsed.reasoning:
            message.reasoning_content = parsed.reasoning
        if parsed.tool_calls:
            message.tool_calls = [ToolCallOut(id=call.id, function=FunctionCallOut(name=call.name, arguments=call.arguments))
                                  for call in parsed.tool_calls]
        out = ChatChoice(index=choice.index, message=message, finish_reason=choice.finish_reason)
        if body.logprobs or body.top_logprobs:
            out.logprobs = ChoiceLogprobs(content=token_logprobs(generation.serving, choice.logprobs))
        choices.append(out)
    return ChatCompletion(id=generation.request_id, created=generation.created, model=body.model, choices=choices,
                          usage=usage_of(generation))


async def chat_stream(generation: Generation, body: ChatCompletionRequest) -> AsyncIterator[str]:
    """Chunks as OpenAI streams them: the role first, then deltas (tool calls by index), a finish chunk per
    choice, with include_usage a last chunk with no choices and the usage, then [DONE]."""
    include_usage = bool(body.stream_options and body.stream_options.include_usage)
    extra = {"usage": None} if include_usage else {}
    wants_logprobs = bool(body.logprobs or body.top_logprobs)

    def chunk(choices: list[ChatChunkChoice], **usage) -> str:
        return sse(ChatCompletionChunk(id=generation.request_id, created=generation.created, model=body.model,
                                       choices=choices, **(usage or extra)))

    try:
        yield chunk([ChatChunkChoice(index=c.index, delta=ChatDelta(role="assistant", content=""), finish_reason=None)
                     for c in generation.choices])
        async for event in generation:
            delta = chat_delta(event.delta)
            if delta is not None or (wants_logprobs and event.logprobs):
                out = ChatChunkChoice(index=event.choice.index, delta=delta or ChatDelta(), finish_reason=None)
                if wants_logprobs and event.logprobs:
                    out.logprobs = ChoiceLogprobs(content=token_logprobs(generation.serving, event.logprobs))
                yield chunk([out])
            if event.finished:
                yield chunk([ChatChunkChoice(index=event.choice.index, delta=ChatDelta(),
                                             finish_reason=event.choice.finish_reason)])
        if include_usage:
            yield chunk([], usage=usage_of(generation))
    except Exception as e:  # the status line is sent: all that is left is to say so in the stream
        yield openai_sse_error(e)
        return
    yield "data: [DONE]\n\n"


def chat_delta(delta: OutputDelta) -> ChatDelta | None:
    if not delta:
        return None
    out = ChatDelta()
    if delta.content:
        out.content = delta.content
    if delta.reasoning:
        out.reasoning_content = delta.reasoning
    calls: list[ToolCallChunk] = []
    for call in delta.tool_calls:  # one entry per call: its header and first arguments together
        if calls and calls[-1].index == call.index and call.id is None:
            calls[-1].function.arguments = (calls[-1].function.arguments or "") + call.arguments
        elif call.id is not None:
            calls.append(ToolCallChunk(index=call.index, id=call.id, type="function",
                                       function=FunctionCallOut(name=call.name, arguments=call.arguments)))
        else:
            calls.append(ToolCallChunk(index=call.index, function=FunctionCallOut(arguments=call.arguments)))
    if calls:
        out.tool_calls = calls
    return out


def token_logprobs(serving: Serving, entries: list[tuple[int, float, list[tuple[int, float]]]]) -> list[TokenLogprob]:
    tokenizer = serving.tokenizer

    def top(token_id: int, logprob: float) -> TopLogprob:
        return TopLogprob(token=tokenizer.decode([token_id]), logprob=logprob, bytes=list(tokenizer.decode_bytes([token_id])))

    return [TokenLogprob(**top(t, lp).model_dump(), top_logprobs=[top(i, v) for i, v in alternatives])
            for t, lp, alternatives in entries]


def usage_of(generation: Generation) -> Usage:
    usage = generation.usage
    return Usage(prompt_tokens=usage.prompt_tokens, completion_tokens=usage.completion_tokens,
                 total_tokens=usage.total_tokens,
                 prompt_tokens_details=PromptTokensDetails(cached_tokens=usage.cached_tokens))


# ---- /v1/completions ----------------------------------------------------------------------------


@router.post("/v1/completions", response_model=None,
             responses={200: {"model": TextCompletion, "content": SSE}, **ERRORS})
async def completions(body: CompletionRequest, request: Request, caller: Caller = Depends(authenticate)) -> Response:
    serving = serving_of(request)
    serving.check_model(body.model)
    n = body.n or 1
    if body.suffix:
        raise APIError(400, "suffix (fill-in-the-middle) is not supported", "suffix")
    if body.best_of is not None and body.best_of != n:
        raise APIError(400, "best_of must equal n: the server does not rank candidates", "best_of")
    if body.echo and body.logprobs is not None:
        raise APIError(400, "echo with logprobs would need the prompt's logprobs, which the engine does not compute",
                       "logprobs")
    raw = body.prompt if isinstance(body.prompt, list) and body.prompt and not isinstance(body.prompt[0], int) \
        else [body.prompt]
    prompts = [serving.prompts.text(p) for p in raw]
    grammar = await run_in_threadpool(structured_grammar, body.structured_outputs)
    for prompt in prompts:
        prompt.grammar = grammar
    limits = [serving.prompts.max_tokens(p, 16 if body.max_tokens is None else body.max_tokens, "prompt")
              for p in prompts]
    logprobs = body.logprobs or 0
    params = [sampling_params(body, serving, prompts[i // n], limits[i // n], i % n, body.logprobs is not None,
                              logprobs) for i in range(len(prompts) * n)]
    generation = await serving.generate(prompts, params, caller, "completions", "cmpl-")
    echoes = [(p if isinstance(p, str) else serving.tokenizer.decode(p)) if body.echo else "" for p in raw]
    if body.stream:
        return EventStream(completion_stream(generation, body, echoes), generation)
    if not await run_to_end(request, generation):
        return Response(status_code=499)
    choices = []
    for choice in generation.choices:
        echo = echoes[choice.index // n]
        out = CompletionChoice(index=choice.index, text=echo + choice.text, finish_reason=choice.engine_finish)
        if body.logprobs is not None:
            out.logprobs = completion_logprobs(serving, choice.logprobs, len(echo))
        choices.append(out)
    return json_of(TextCompletion(id=generation.request_id, created=generation.created, model=body.model,
                                  choices=choices, usage=usage_of(generation)))


async def completion_stream(generation: Generation, body: CompletionRequest, echoes: list[str]) -> AsyncIterator[str]:
    include_usage = bool(body.stream_options and body.stream_options.include_usage)
    extra = {"usage": None} if include_usage else {}
    offsets = [len(echoes[c.index // generation.n]) for c in generation.choices]

    def chunk(choices: list[CompletionChoice], **usage) -> str:
        return sse(TextCompletion(id=generation.request_id, created=generation.created, model=body.model,
                                  choices=choices, **(usage or extra)))

    try:
        for choice in generation.choices:
            if echoes[choice.index // generation.n]:
                yield chunk([CompletionChoice(index=choice.index, text=echoes[choice.index // generation.n])])
        async for event in generation:
            index = event.choice.index
            if event.text or event.finished:
                out = CompletionChoice(index=index, text=event.text,
                                       finish_reason=event.choice.engine_finish if event.finished else None)
                if body.logprobs is not None:
                    out.logprobs = completion_logprobs(generation.serving, event.logprobs, offsets[index])
                offsets[index] += len(event.text)
                yield chunk([out])
        if include_usage:
            yield chunk([], usage=usage_of(generation))
    except Exception as e:  # as above
        yield openai_sse_error(e)
        return
    yield "data: [DONE]\n\n"


def completion_logprobs(serving: Serving, entries: list[tuple[int, float, list[tuple[int, float]]]],
                        offset: int) -> CompletionLogprobs:
    decode = serving.tokenizer.decode
    tokens = [decode([t]) for t, _, _ in entries]
    offsets = []
    for token in tokens:
        offsets.append(offset)
        offset += len(token)
    return CompletionLogprobs(tokens=tokens, token_logprobs=[lp for _, lp, _ in entries],
                              top_logprobs=[{decode([i]): v for i, v in top} for _, _, top in entries],
                              text_offset=offsets)


# ---- /v1/models ---------------------------------------------------------------------------------


def model_card(serving: Serving, name: str) -> ModelCard:
    created = serving.started
    return ModelCard(id=name, created=int(created), display_name=name,
                     created_at=datetime.fromtimestamp(created, timezone.utc).isoformat().replace("+00:00", "Z"))


@router.get("/v1/models", responses={200: {"model": ModelList}, **ERRORS}, response_model=None)
async def list_models(request: Request, caller: Caller = Depends(authenticate)) -> Response:
    serving = serving_of(request)
    cards = [model_card(serving, name) for name in serving.model.names]
    return json_of(ModelList(data=cards, first_id=cards[0].id, last_id=cards[-1].id))


@router.get("/v1/models/{model_id:path}", responses={200: {"model": ModelCard}, **ERRORS}, response_model=None)
async def get_model(model_id: str, request: Request, caller: Caller = Depends(authenticate)) -> Response:
    serving_of(request).check_model(model_id)
    return json_of(model_card(serving_of(request), model_id))
