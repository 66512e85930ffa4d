"""The generation lifecycle: one API request's choices submitted to the engine, their events merged, parsed
into content and tool calls, and closed (cancelled, metered, billed) exactly once however the request ends.

Billing is written ahead of the bytes it covers (see usage.py): the ledger row exists before the response starts,
counts every token before a streamed chunk carrying it goes out, and holds the final counts before the last bytes
(the usage chunk, [DONE], or a whole non-streamed body)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from fastapi import Request

from ..engine import SamplingParams, TokenEvent
from ..tool_parser import OutputDelta, ParsedOutput, StreamingParser
from .answer_grammar import violations
from .auth import Caller
from .errors import APIError
from .prompts import Prompt
from .usage import DURABLE_WAIT

if TYPE_CHECKING:
    from .serving import Serving

log = logging.getLogger("openk2.server")


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
    stop: str | int | None = None  # what ended it with "stop": the stop string or stop token (TokenEvent.stop)
    cached_tokens: int = 0
    completion_tokens: int = 0
    violations: list[str] = field(default_factory=list)  # where the answer breaks a schema enforced only in part

    @property
    def parsed(self) -> ParsedOutput:
        return self.parser.result if self.parser else ParsedOutput(self.text)

    @property
    def stop_sequence(self) -> str | None:
        """The stop string that ended the choice, if one did (rather than an end-of-turn token)."""
        return self.stop if isinstance(self.stop, str) else None

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
    billed exactly once (Serving.finished), whether it finished, failed or the client went away."""

    def __init__(self, serving: Serving, prompts: list[Prompt], params: list[SamplingParams], caller: Caller,
                 endpoint: str, request_id: str):
        assert len(params) % len(prompts) == 0
        for p in params:  # the engine shares its batch fairly between keys
            p.owner = caller.key
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
        self.reservation = None  # tokens held against the key's per-minute limit until the request ends
        self.entry = None  # the request's usage ledger row (usage.Entry)
        self.write: Future | None = None  # the latest ledger write for this request
        self.billed = False

    async def start(self) -> None:
        """Reserve the most the request may use against its key's limit, then submit every choice to the engine;
        a refusal (bad parameter, full queue) cancels those already in."""
        capacity = self.serving.engine.capacity
        if len(self.params) > capacity:  # could never run, however long the client waits: not a 503
            raise APIError(400, f"this request asks for {len(self.params)} answers ({len(self.prompts)} prompts x n = "
                                f"{self.n}), but this server holds at most {capacity} at once: send fewer prompts or "
                                "a smaller n", "n" if self.n > 1 else "prompt")
        most = sum(len(p.ids) for p in self.prompts) + sum(p.max_tokens for p in self.params)
        self.reservation = self.serving.limiter.reserve(self.caller, most)
        try:
            for choice, params in zip(self.choices, self.params):
                self.streams.append(await self.serving.engine.submit(choice.prompt.ids, params, choice.request_id))
        except ValueError as e:
            self.refused()
            raise APIError(400, str(e)) from None
        except OverflowError as e:
            self.refused()
            raise APIError(503, f"the server is overloaded ({e}); retry shortly") from None
        except asyncio.CancelledError:  # the request went away while a grammar compiled: stop what is in
            self.refused()
            raise
        self.write = self.serving.open_row(self)
        try:
            await self.durable()  # the row is in the database before the response's first byte
        except BaseException:
            self.close()
            raise

    def refused(self) -> None:
        """The request never started: cancel what is in the engine and give back its token reservation."""
        self.cancel()
        self.serving.limiter.settle(self.reservation, 0)

    @property
    def violations(self) -> list[str]:
        """Schema violations of every choice (see Choice.violations), for a Warning header."""
        return [v for choice in self.choices for v in choice.violations]

    @property
    def usage(self) -> UsageCount:
        firsts = self.choices[:: self.n]  # the prompt is billed once per prompt, not once per choice
        return UsageCount(sum(len(p.ids) for p in self.prompts), sum(c.cached_tokens for c in firsts),
                          sum(c.completion_tokens for c in self.choices))

    def __aiter__(self) -> AsyncIterator[ChoiceEvent]:
        """The events of a streamed response: each one is billed (durably) before the caller can send it on, and
        the final counts are written before the iteration ends, so before the stream's closing bytes."""
        return self._events(streaming=True)

    async def _events(self, streaming: bool) -> AsyncIterator[ChoiceEvent]:
        try:
            for choice in self.choices:  # the forced start of each answer, before the model's first token
                if choice.parser and choice.prompt.forced_text:
                    yield ChoiceEvent(choice, delta=choice.parser.feed(choice.prompt.forced_text))
            async for index, event in self._merged():
                out = self._apply(self.choices[index], event)
                if streaming:
                    await self.durable()
                yield out
            await self.durable()  # every choice has ended: the final counts
        finally:
            self.close()

    async def run(self) -> list[Choice]:
        """Generate to the end (non-streaming requests); the final counts are written before this returns."""
        async for _ in self._events(streaming=False):
            pass
        return self.choices

    @property
    def finished(self) -> bool:
        return all(c.engine_finish is not None for c in self.choices)

    async def durable(self) -> None:
        """Wait until the ledger row counts what has been generated so far (its final counts once every choice has
        ended). The database may be slow or locked (writes are retried); past usage.DURABLE_WAIT seconds, 503."""
        write = self.bill() if self.finished else self.serving.progress(self)
        if write is None:
            return
        try:
            await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(write)), DURABLE_WAIT)
        except asyncio.TimeoutError:
            raise APIError(503, f"the usage ledger could not be written for {DURABLE_WAIT:g} s (the server log says "
                                "why); retry later") from None
        except Exception:  # noqa: BLE001  (a row the database refused for good: logged and counted by the ledger)
            pass

    def bill(self) -> Future | None:
        """Meter and bill the request, once: its final ledger row, its rate-limit settlement and its metrics."""
        if not self.billed:
            self.billed = True
            for choice in self.choices:
                choice.engine_finish = choice.engine_finish or "cancelled"
            self.write = self.serving.finished(self, ",".join(sorted({c.finish_reason for c in self.choices})))
        return self.write

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
        ends = isinstance(event.stop, int)  # a stop token is not part of the answer
        if event.logprob is not None and event.token_id is not None and not ends:
            out.logprobs = [(event.token_id, event.logprob, event.top_logprobs or [])]
            choice.logprobs += out.logprobs
        if choice.parser:
            out.delta = choice.parser.feed(event.text, literal=event.token_id is not None and not event.special)
        if event.finish_reason == "error":  # the engine's step failed and ended its whole batch
            choice.engine_finish = "error"
            raise APIError(500, "the engine failed while generating this answer (the server log has the details); "
                                "retry the request", code="engine_error")
        if event.finish_reason is not None:
            choice.engine_finish, choice.stop, out.finished = event.finish_reason, event.stop, True
            if choice.parser:
                out.delta = merge_deltas(out.delta, choice.parser.finish())
            if choice.prompt.checks:
                choice.violations = violations(choice.parsed, choice.prompt.checks)
                for violation in choice.violations:
                    log.warning("request %s: %s", self.request_id, violation)
        return out

    def cancel(self) -> None:
        """Stop every unfinished choice in the engine and free its cache blocks (at once, without awaiting)."""
        for choice in self.choices:
            if choice.engine_finish is None:
                self.serving.engine.cancel(choice.request_id)

    def close(self) -> None:
        """Cancel what still runs, then meter and bill the request (if that is not done yet): once, however it ended."""
        self.cancel()
        if not self.closed:
            self.closed = True
            self.bill()


def merge_deltas(first: OutputDelta, second: OutputDelta) -> OutputDelta:
    return OutputDelta(first.content + second.content, first.reasoning + second.reasoning,
                       first.tool_calls + second.tool_calls)


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
