"""The serving layer between the HTTP routes and the engine: prompts, limits, streaming generations, metering and billing."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from fastapi import Request
from fastapi.responses import StreamingResponse

from ..chat import encode_prompt, encode_segments, next_tool_call_index
from ..engine import Engine, SamplingParams, TokenEvent
from ..tool_parser import OutputDelta, ParsedOutput, StreamingParser
from .auth import Caller, RateLimiter
from .guidance import GuidanceError, guide, structured_grammar
from .metrics import Metrics
from .protocol import APIError
from .settings import ModelSettings
from .usage import Ledger


@dataclass
class ChatInput:
    """A chat request in the form chat.py renders, whichever API it came in through."""

    messages: list[dict]
    tools: list[dict] | None = None
    tool_choice: str = "auto"  # "auto", "none", "required" or a declared function's name
    parallel_tool_calls: bool = True
    response_schema: dict | bool | None = None  # the JSON Schema the content must match (json_object: {"type": "object"})
    schema_param: str = "tools[{i}].function.parameters"  # how the request names tool i's schema, in errors
    structured_grammar: str | None = None  # structured_outputs: a grammar for the whole answer


@dataclass
class Prompt:
    ids: list[int]
    forced_text: str = ""  # the answer's forced start, already in ids; the parser reads it first
    grammar: str | None = None  # guided decoding of the answer after the forced start
    first_tool_index: int = 0  # IDX of the answer's first tool call (calls so far in the conversation)
    chat: bool = True  # parse the output into content and tool calls


@dataclass
class Choice:
    """One output sequence of a request, as it streams in."""

    index: int
    request_id: str
    prompt: Prompt
    parser: StreamingParser | None
    text: str = ""  # generated text
    token_ids: list[int] = field(default_factory=list)
    logprobs: list[tuple[int, float, list[tuple[int, float]]]] = field(default_factory=list)
    engine_finish: str | None = None  # "stop", "length", "cancelled", "error"
    cached_tokens: int = 0
    completion_tokens: int = 0

    @property
    def parsed(self) -> ParsedOutput:
        return self.parser.result if self.parser else ParsedOutput(self.text)

    @property
    def finish_reason(self) -> str | None:
        """"tool_calls" when the model ended its turn after calling tools, else the engine's reason."""
        if self.engine_finish == "stop" and self.parsed.tool_calls:
            return "tool_calls"
        return self.engine_finish


@dataclass
class ChoiceEvent:
    """What one engine event means for one choice: raw text, parsed delta, new logprobs, and the finish."""

    choice: Choice
    text: str = ""
    delta: OutputDelta = field(default_factory=OutputDelta)
    logprobs: list[tuple[int, float, list[tuple[int, float]]]] = field(default_factory=list)
    finished: bool = False


@dataclass
class UsageCount:
    prompt_tokens: int
    cached_tokens: int
    completion_tokens: int

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


class Generation:
    """One API request running in the engine: n choices per prompt, streamed, parsed, then metered and
    billed exactly once, whether it finished, failed or the client went away."""

    def __init__(self, serving: Serving, prompts: list[Prompt], params: list[SamplingParams], caller: Caller,
                 endpoint: str, request_id: str):
        assert len(params) % len(prompts) == 0
        self.serving, self.prompts, self.params, self.caller, self.endpoint = serving, prompts, params, caller, endpoint
        self.n = len(params) // len(prompts)
        self.request_id = request_id
        self.created = int(time.time())
        self.choices = [Choice(i, f"{request_id}-{i}", prompts[i // self.n],
                               StreamingParser(prompts[i // self.n].first_tool_index) if prompts[i // self.n].chat else None)
                        for i in range(len(params))]
        self.streams: list[AsyncIterator[TokenEvent]] = []
        self.started_at = time.perf_counter()
        self.first_token_at: float | None = None
        self.closed = False

    async def start(self) -> None:
        """Submit every choice to the engine; a refusal (bad parameter, full queue) cancels those already in."""
        try:
            for choice, params in zip(self.choices, self.params):
                self.streams.append(await self.serving.engine.submit(choice.prompt.ids, params, choice.request_id))
        except ValueError as e:
            self.cancel()
            raise APIError(400, str(e)) from None
        except OverflowError as e:
            self.cancel()
            raise APIError(503, f"the server is overloaded ({e}); retry shortly") from None
        except asyncio.CancelledError:  # the request went away while a grammar compiled: stop what is in
            self.cancel()
            raise

    @property
    def usage(self) -> UsageCount:
        firsts = self.choices[:: self.n]  # the prompt is billed once per prompt, not once per choice
        return UsageCount(sum(len(p.ids) for p in self.prompts), sum(c.cached_tokens for c in firsts),
                          sum(c.completion_tokens for c in self.choices))

    async def __aiter__(self) -> AsyncIterator[ChoiceEvent]:
        try:
            for choice in self.choices:  # the forced start of each answer, before the model's first token
                if choice.parser and choice.prompt.forced_text:
                    yield ChoiceEvent(choice, delta=choice.parser.feed(choice.prompt.forced_text))
            async for index, event in self._merged():
                yield self._apply(self.choices[index], event)
        finally:
            self.close()

    async def run(self) -> list[Choice]:
        """Generate to the end (non-streaming requests)."""
        async for _ in self:
            pass
        return self.choices

    async def _merged(self) -> AsyncIterator[tuple[int, TokenEvent]]:
        """Events of all choices as they come."""
        if len(self.streams) == 1:
            async for event in self.streams[0]:
                yield 0, event
            return
        pending = {asyncio.ensure_future(anext(s)): i for i, s in enumerate(self.streams)}
        try:
            while pending:
                done, _ = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for future in done:
                    index = pending.pop(future)
                    try:
                        event = future.result()
                    except StopAsyncIteration:
                        continue
                    yield index, event
                    pending[asyncio.ensure_future(anext(self.streams[index]))] = index
        finally:
            for future in pending:
                future.cancel()

    def _apply(self, choice: Choice, event: TokenEvent) -> ChoiceEvent:
        if event.token_id is not None:
            if self.first_token_at is None:
                self.first_token_at = time.perf_counter()
            choice.token_ids.append(event.token_id)
        choice.text += event.text
        choice.cached_tokens, choice.completion_tokens = event.cached_tokens, event.completion_tokens
        out = ChoiceEvent(choice, event.text)
        ends_turn = event.finish_reason == "stop" and event.token_id in self.serving.engine.llm.eos_ids
        if event.logprob is not None and event.token_id is not None and not ends_turn:
            out.logprobs = [(event.token_id, event.logprob, event.top_logprobs or [])]
            choice.logprobs += out.logprobs
        if choice.parser:
            literal = event.token_id is not None and not self.serving.tokenizer.is_special(event.token_id)
            out.delta = choice.parser.feed(event.text, literal=literal)
        if event.finish_reason == "error":  # the engine's step failed and ended its whole batch
            choice.engine_finish = "error"
            raise APIError(500, "the engine failed while generating this answer (the server log has the details); "
                                "retry the request", code="engine_error")
        if event.finish_reason is not None:
            choice.engine_finish, out.finished = event.finish_reason, True
            if choice.parser:
                out.delta = merge_deltas(out.delta, choice.parser.finish())
        return out

    def cancel(self) -> None:
        """Stop every unfinished choice in the engine and free its cache blocks (at once, without awaiting)."""
        for choice in self.choices:
            if choice.engine_finish is None:
                self.serving.engine.cancel(choice.request_id)

    def close(self) -> None:
        """Cancel what still runs, then meter and bill the request: once, however it ended."""
        self.cancel()
        if self.closed:
            return
        self.closed = True
        for choice in self.choices:
            choice.engine_finish = choice.engine_finish or "cancelled"
        reasons = sorted({c.finish_reason for c in self.choices})
        self.serving.finished(self, ",".join(reasons))

    def stop_sequence(self, choice: Choice, stops: list[str]) -> str | None:
        """Which stop string ended the choice, if one did (rather than an end-of-turn token)."""
        eos_ids = self.serving.engine.llm.eos_ids
        if choice.engine_finish != "stop" or not choice.token_ids or choice.token_ids[-1] in eos_ids:
            return None
        rest = self.serving.tokenizer.decode(choice.token_ids, skip_special_tokens=True)[len(choice.text):]
        return next((s for s in stops if rest.startswith(s)), None)


def merge_deltas(first: OutputDelta, second: OutputDelta) -> OutputDelta:
    return OutputDelta(first.content + second.content, first.reasoning + second.reasoning,
                       first.tool_calls + second.tool_calls)


def structured_grammar_of(outputs) -> str | None:
    """The grammar for a request's vLLM-style structured_outputs (protocol.StructuredOutputs), or None."""
    if outputs is None:
        return None
    try:
        return structured_grammar(outputs.json_, outputs.regex, outputs.choice, outputs.grammar)
    except GuidanceError as e:
        raise APIError(400, str(e), e.param) from None


class Serving:
    """The model behind the API: turns requests into prompts and sampling limits, runs generations, and
    books each one into the metrics, the rate limiter and the usage ledger."""

    def __init__(self, engine: Engine, model: ModelSettings, ledger: Ledger, metrics: Metrics, limiter: RateLimiter):
        self.engine = engine
        self.tokenizer = engine.llm.tokenizer
        if self.tokenizer is None:
            raise ValueError("the checkpoint has no tokenizer (tiktoken.model): the server needs one")
        self.model = model
        self.ledger = ledger
        self.metrics = metrics
        self.limiter = limiter
        self.started = time.time()

    @property
    def max_context(self) -> int:
        """Longest prompt + answer, in tokens: the model's context or the KV cache, whichever is smaller."""
        return min(self.engine.llm.max_context, self.engine.llm.cache.capacity_tokens)

    def check_model(self, name: str) -> None:
        if name != self.model.name:
            raise APIError(404, f"The model `{name}` does not exist; this server serves `{self.model.name}`",
                           "model", "model_not_found")

    # ---- prompts ------------------------------------------------------------------------------
    def chat_prompt(self, chat: ChatInput, guided: bool = True) -> Prompt:
        """Render a conversation in K2's template and append the answer's forced start; with guided=False
        (counting tokens), the conversation alone."""
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
        try:
            guidance = guide(chat.tools or [], chat.tool_choice, chat.parallel_tool_calls, chat.response_schema,
                             first_index, chat.schema_param)
        except GuidanceError as e:
            raise APIError(400, str(e), e.param) from None
        return Prompt(ids + encode_segments(self.tokenizer, guidance.forced), guidance.forced_text, guidance.grammar,
                      first_index)

    def text_prompt(self, prompt: str | list[int]) -> Prompt:
        """A raw completion prompt: text (encoded without special tokens) or token ids."""
        if isinstance(prompt, str):
            try:
                return Prompt(self.tokenizer.encode(prompt), chat=False)
            except ValueError as e:
                raise APIError(400, str(e), "prompt") from None
        vocab = self.engine.llm.model.config.vocab_size
        if not prompt or not all(0 <= t < vocab for t in prompt):
            raise APIError(400, f"a token-id prompt must be a non-empty list of ids in [0, {vocab})", "prompt")
        return Prompt(list(prompt), chat=False)

    def max_tokens(self, prompt: Prompt, requested: int | None, param: str = "max_tokens", clamp: bool = False) -> int:
        """The answer's token budget: what was asked for if it fits the context (else 400, or with clamp=True
        what still fits), and all the room left when nothing was asked for."""
        room = self.max_context - len(prompt.ids)
        if room < 1:
            raise APIError(400, f"the prompt is {len(prompt.ids)} tokens, but this model's context is "
                                f"{self.max_context} tokens", "messages", "context_length_exceeded")
        if requested is None:
            return room
        if requested > self.max_context or (requested > room and not clamp):
            raise APIError(400, f"{param} is {requested}, but the prompt ({len(prompt.ids)} tokens) leaves room for "
                                f"{room} in this model's context of {self.max_context} tokens", param,
                           "context_length_exceeded")
        return min(requested, room)

    # ---- running ------------------------------------------------------------------------------
    async def generate(self, prompts: list[Prompt], params: list[SamplingParams], caller: Caller, endpoint: str,
                       prefix: str) -> Generation:
        """Start a generation (choice i runs prompts[i // n] with params[i]); errors are raised here, before
        any response is sent."""
        generation = Generation(self, prompts, params, caller, endpoint, f"{prefix}-{uuid.uuid4().hex[:24]}")
        await generation.start()
        return generation

    def finished(self, generation: Generation, finish_reason: str) -> None:
        usage = generation.usage
        elapsed = time.perf_counter() - generation.started_at
        cost = self.model.cost(usage.prompt_tokens, usage.cached_tokens, usage.completion_tokens)
        self.ledger.record(request_id=generation.request_id, key=generation.caller.key, model=self.model.name,
                           endpoint=generation.endpoint, prompt_tokens=usage.prompt_tokens,
                           cached_tokens=usage.cached_tokens, completion_tokens=usage.completion_tokens,
                           cost=cost, latency=elapsed, finish_reason=finish_reason)
        self.metrics.observe(generation.endpoint, finish_reason, usage.prompt_tokens, usage.cached_tokens,
                             usage.completion_tokens, elapsed,
                             None if generation.first_token_at is None else generation.first_token_at - generation.started_at)
        self.limiter.add_tokens(generation.caller, usage.total_tokens)


async def run_to_end(request: Request, generation: Generation) -> bool:
    """Run a non-streaming generation to its end; False if the client went away first.

    Streaming responses learn of a disconnect from Starlette; a plain handler would otherwise keep
    generating for nobody. The generation is closed on every way out, even if it never started.
    """
    task = asyncio.ensure_future(generation.run())
    watcher = asyncio.ensure_future(_disconnected(request))
    try:
        await asyncio.wait({task, watcher}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        watcher.cancel()
        if not task.done():
            task.cancel()  # the client left (or the server is shutting down)
        generation.close()
    if task.done() and not task.cancelled():
        task.result()  # re-raise what went wrong
        return True
    return False


async def _disconnected(request: Request) -> None:
    while (await request.receive())["type"] != "http.disconnect":
        pass


class EventStream(StreamingResponse):
    """A server-sent event stream of a generation, which is closed when the response ends however it ends
    (a client that leaves before the first event never starts the body iterator)."""

    def __init__(self, events: AsyncIterator[str], generation: Generation):
        super().__init__(events, media_type="text/event-stream")
        self.generation = generation

    async def __call__(self, scope, receive, send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.generation.close()
