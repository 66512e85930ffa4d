"""The engine's asynchronous front: a background thread steps the LLMEngine; callers submit requests and stream
their TokenEvents from any event loop, and cancel them."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import deque
from collections.abc import AsyncIterator

from .engine import LLMEngine
from .sequence import SamplingParams, TokenEvent

log = logging.getLogger(__name__)


class Engine:
    """A background thread steps the LLMEngine; each request streams its TokenEvents.

    Only the engine thread touches the LLMEngine. Other threads hand it requests and cancellations
    through an inbox, so submitting never waits for a forward pass to finish.
    """

    def __init__(self, llm: LLMEngine):
        self.llm = llm
        self._inbox: deque[tuple] = deque()
        self._wake = threading.Event()
        self._streams: dict[str, tuple[asyncio.AbstractEventLoop, asyncio.Queue]] = {}
        self._streams_lock = threading.Lock()
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name="openk2-engine", daemon=True)
        self._thread.start()

    async def submit(self, prompt_ids: list[int], params: SamplingParams, request_id: str | None = None) -> AsyncIterator[TokenEvent]:
        """Queue a request and return the stream of its events. Invalid requests raise ValueError here, at once;
        a full queue raises OverflowError."""
        if len(self._streams) >= self.capacity:
            raise OverflowError(f"the engine is full ({len(self._streams)} requests in flight)")
        if params.grammar is not None:  # compiling a big schema can take milliseconds: keep the event loop free
            seq = await asyncio.to_thread(self.llm.new_sequence, prompt_ids, params, request_id)
        else:
            seq = self.llm.new_sequence(prompt_ids, params, request_id)
        queue: asyncio.Queue = asyncio.Queue()
        with self._streams_lock:
            if seq.request_id in self._streams:
                raise ValueError(f"request id {seq.request_id!r} is already in use")
            self._streams[seq.request_id] = (asyncio.get_running_loop(), queue)
        self._inbox.append(("add", seq))
        self._wake.set()
        return self._stream(seq.request_id, queue)

    async def _stream(self, request_id: str, queue: asyncio.Queue) -> AsyncIterator[TokenEvent]:
        finished = False
        try:
            while not finished:
                event: TokenEvent = await queue.get()
                finished = event.finish_reason is not None
                yield event
        finally:
            if not finished:  # the consumer stopped early (client went away): free the blocks at once
                self.cancel(request_id)

    def cancel(self, request_id: str) -> None:
        self._inbox.append(("cancel", request_id))
        self._wake.set()

    # ---- read-only facts, for the layers above (the LLMEngine's are safe to read from any thread) ----
    @property
    def in_flight(self) -> int:
        """Requests submitted whose stream has not ended."""
        return len(self._streams)

    @property
    def capacity(self) -> int:
        """The most requests in flight at once (running and queued); submit() refuses more."""
        return self.llm.config.max_queued + self.llm.config.max_seqs

    @property
    def is_alive(self) -> bool:
        """False once the engine thread has stopped (closed, or killed by a bug): requests would hang."""
        return self._thread.is_alive()

    @property
    def tokenizer(self):
        return self.llm.tokenizer

    @property
    def eos_ids(self) -> frozenset[int]:
        return self.llm.eos_ids

    @property
    def vocab_size(self) -> int:
        return self.llm.vocab_size

    @property
    def max_context(self) -> int:
        """Longest prompt + output of one request, in tokens: the model's context or the KV cache, if smaller."""
        return min(self.llm.max_context, self.llm.cache_tokens)

    @property
    def num_running(self) -> int:
        return self.llm.num_running

    @property
    def num_waiting(self) -> int:
        return self.llm.num_waiting

    @property
    def cache_usage(self) -> float:
        return self.llm.cache_usage

    def _deliver(self, events: list[TokenEvent]) -> None:
        for event in events:
            with self._streams_lock:
                target = self._streams.get(event.request_id)
                if event.finish_reason is not None:
                    self._streams.pop(event.request_id, None)
            if target is None:
                continue
            loop, queue = target
            try:
                loop.call_soon_threadsafe(queue.put_nowait, event)
            except RuntimeError:  # the caller's event loop is closed: nobody is listening
                self.llm.cancel(event.request_id)

    def _drain_inbox(self) -> None:
        while self._inbox:
            kind, payload = self._inbox.popleft()
            if kind == "add":
                self.llm.add(payload)
            else:
                event = self.llm.cancel(payload)
                self._deliver([event] if event is not None else [])
                with self._streams_lock:
                    self._streams.pop(payload, None)

    def _loop(self) -> None:
        while not self._closed:
            self._drain_inbox()
            if self.llm.has_work:
                try:
                    events = self.llm.step()
                except Exception:
                    # A bug must not leave every client hanging: end the batch with an error, keep serving.
                    log.exception("engine step failed; ending the running requests with finish_reason 'error'")
                    events = self.llm.abort_all("error")
                self._deliver(events)
            else:
                self._wake.wait(timeout=0.5)
                self._wake.clear()

    def close(self) -> None:
        self._closed = True
        self._wake.set()
        self._thread.join(timeout=5)
