"""The engine front: token ids in, token events out. `LLMEngine` steps synchronously; `Engine` streams asynchronously.

    engine = LLMEngine.from_pretrained("runs/nano")
    outputs = engine.generate([[1, 2, 3]], SamplingParams(max_tokens=16, temperature=0))
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import torch

from ..model import CausalLM, prepare_for_inference
from .guided import Grammars
from .kv_cache import KVCache
from .runner import ModelRunner
from .sampler import sample
from .scheduler import Scheduler
from .sequence import SamplingParams, Sequence, TokenEvent

log = logging.getLogger(__name__)


@dataclass
class EngineConfig:
    cache_budget_bytes: int = 1024**3  # memory for the latent KV cache
    block_size: int = 16
    max_batch_tokens: int = 256  # tokens per forward: decodes first, then prompt chunks
    max_seqs: int = 64  # sequences in the running batch
    max_queued: int = 1024  # requests waiting for a slot before submit() refuses more
    quantize: str | None = None  # "int8": weight-only int8 linear layers (half the bytes read per token)


@dataclass
class Completion:
    """A finished request, for the synchronous generate()."""

    token_ids: list[int]
    text: str
    finish_reason: str
    logprobs: list[float] | None = None
    cached_tokens: int = 0


class LLMEngine:
    def __init__(self, model: CausalLM, tokenizer=None, config: EngineConfig | None = None):
        self.config = config or EngineConfig()
        self.model = prepare_for_inference(model)
        if self.config.quantize is not None:
            if self.config.quantize != "int8":
                raise ValueError(f"unknown quantization {self.config.quantize!r}: openk2 supports int8")
            from ..quant import quantize_int8_

            quantize_int8_(self.model)
        self.tokenizer = tokenizer
        param = next(model.parameters())
        self.cache = KVCache.from_budget(model.config, self.config.cache_budget_bytes, self.config.block_size,
                                         dtype=param.dtype, device=param.device)
        self.scheduler = Scheduler(self.cache, self.config.max_batch_tokens, self.config.max_seqs)
        self.runner = ModelRunner(model, self.cache)
        self.sequences: dict[str, Sequence] = {}
        self.eos_ids = set(tokenizer.stop_ids) if tokenizer is not None else set()
        eos = model.config.eos_token_id
        self.eos_ids |= set(eos if isinstance(eos, list) else [eos] if eos is not None else [])
        self.grammars = Grammars(tokenizer, model.config.vocab_size, self.eos_ids)

    @classmethod
    def from_pretrained(cls, path: str | Path, dtype: torch.dtype = torch.bfloat16, config: EngineConfig | None = None,
                        tokenizer=None) -> LLMEngine:
        from ..checkpoint import load_model

        path = Path(path)
        if tokenizer is None and (path / "tiktoken.model").is_file():
            from ..tokenizer import Tokenizer

            tokenizer = Tokenizer.from_dir(path)
        engine = cls(load_model(path, dtype=dtype), tokenizer, config)
        engine.warmup()
        return engine

    def warmup(self) -> None:
        """Run a tiny request so that one-time kernel and thread-pool start-up is not billed to the first user."""
        self.generate([[0] * 3], SamplingParams(max_tokens=2, temperature=0, ignore_eos=True))
        if self.tokenizer is not None:
            self.grammars.lltokenizer  # noqa: B018 -- guided decoding's vocabulary (about a second for K2's)

    @property
    def max_context(self) -> int:
        return self.model.config.max_position_embeddings

    # ---- requests ---------------------------------------------------------------------------
    def add_request(self, prompt_ids: list[int], params: SamplingParams, request_id: str | None = None) -> Sequence:
        """Validate and queue a request; every problem is a ValueError before any work is done."""
        seq = self.new_sequence(prompt_ids, params, request_id)
        if len(self.scheduler.waiting) >= self.config.max_queued:
            raise OverflowError(f"the engine queue is full ({self.config.max_queued} waiting requests)")
        self.add(seq)
        return seq

    def new_sequence(self, prompt_ids: list[int], params: SamplingParams, request_id: str | None = None) -> Sequence:
        """Check a request against the model and the cache (ValueError naming the problem); touches no state."""
        params.validate(self.model.config.vocab_size)
        if not prompt_ids:
            raise ValueError("the prompt is empty: give at least one token")
        vocab = self.model.config.vocab_size
        if any(not isinstance(t, int) or not 0 <= t < vocab for t in prompt_ids):
            raise ValueError(f"prompt token ids must be integers in [0, {vocab})")
        total = len(prompt_ids) + params.max_tokens
        if total > self.max_context:
            raise ValueError(f"prompt ({len(prompt_ids)} tokens) + max_tokens ({params.max_tokens}) = {total} exceeds "
                             f"the model's context of {self.max_context} tokens")
        if total > self.cache.capacity_tokens:
            raise ValueError(f"prompt + max_tokens = {total} tokens exceeds the KV cache ({self.cache.capacity_tokens} "
                             "tokens): raise the cache budget")
        seq = Sequence(prompt_ids, params, request_id)
        if self.tokenizer is not None:
            seq.decoder = self.tokenizer.stream_decoder(skip_special_tokens=True)
        if params.grammar is not None:
            seq.matcher = self.grammars.matcher(params.grammar)
        return seq

    def add(self, seq: Sequence) -> None:
        if seq.request_id in self.sequences:
            raise ValueError(f"request id {seq.request_id!r} is already in use")
        self.sequences[seq.request_id] = seq
        self.scheduler.add(seq)

    def cancel(self, request_id: str) -> TokenEvent | None:
        """Stop a request now and free its cache blocks; None if it is unknown or already finished."""
        seq = self.sequences.pop(request_id, None)
        if seq is None or seq.is_finished:
            return None
        self.scheduler.finish(seq, "cancelled")
        return self._event(seq, None, "")

    @property
    def has_work(self) -> bool:
        return self.scheduler.has_work

    def abort_all(self, reason: str) -> list[TokenEvent]:
        """End every queued and running request (freeing its blocks) with `reason`."""
        events = []
        for seq in list(self.sequences.values()):
            if not seq.is_finished:
                self.scheduler.finish(seq, reason)
                events.append(self._event(seq, None, ""))
        self.sequences.clear()
        return events

    # ---- stepping ---------------------------------------------------------------------------
    def step(self) -> list[TokenEvent]:
        """One forward over the scheduled batch; -> an event per sequence that got a token (or finished)."""
        plan = self.scheduler.schedule()
        if not plan:
            return []
        logits, seqs = self.runner.run(plan)
        if not seqs:
            return []
        sampled = sample(logits, seqs, self._allowed(seqs, logits.shape[-1]))
        events = []
        for i, (seq, token) in enumerate(zip(seqs, sampled.token_ids)):
            event = self._accept(seq, token)
            if sampled.logprobs is not None:
                event.logprob = sampled.logprobs[i]
                event.top_logprobs = sampled.top_logprobs[i] if seq.params.top_logprobs else None
            events.append(event)
            if seq.matcher is not None and not seq.is_finished and not (seq.params.logprobs or seq.params.top_logprobs):
                events += self._jump_forward(seq)
        return events

    def _accept(self, seq: Sequence, token: int) -> TokenEvent:
        """Append a token to seq (advancing its grammar), finish seq if it ends there; -> its event."""
        seq.token_ids.append(token)
        if seq.matcher is not None and (not seq.matcher.consume_token(token) or seq.matcher.is_error()):
            # The mask allowed only tokens the grammar accepts, so this is a bug, not the model.
            log.error("request %s: the grammar refused token %d: %s", seq.request_id, token, seq.matcher.get_error())
            seq.finish_reason = "error"
        finish = seq.finish_reason if seq.finish_reason == "error" else self._finish_reason(seq, token)
        text = self._text_delta(seq, token, finish)
        if seq.finish_reason == "stop" and finish is None:
            finish = "stop"  # a stop string matched in the text
        if finish is not None:
            self.scheduler.finish(seq, finish)
            self.sequences.pop(seq.request_id, None)
        return self._event(seq, token, text)

    def _jump_forward(self, seq: Sequence) -> list[TokenEvent]:
        """Append the tokens the grammar forces next (a JSON key and its quotes, a call's closing markers) without
        sampling them: the next forward computes them as one chunk, which costs about one decode step however
        many there are. llguidance gives them in the tokenizer's canonical split, as a model would write them.
        Not with logprobs, which these tokens would lack."""
        events = []
        for token in seq.matcher.compute_ff_tokens():
            events.append(self._accept(seq, token))
            if seq.is_finished:
                break
        return events

    def _allowed(self, seqs: list[Sequence], vocab_size: int) -> tuple[list[int], torch.Tensor] | None:
        """The rows of guided sequences, and bool [rows, V]: the tokens each one's grammar allows next."""
        rows = [i for i, s in enumerate(seqs) if s.matcher is not None]
        if not rows:
            return None
        return rows, self.grammars.allowed([seqs[i].matcher for i in rows], vocab_size)

    def _finish_reason(self, seq: Sequence, token: int) -> str | None:
        p = seq.params
        if token in p.stop_token_ids or (token in self.eos_ids and not p.ignore_eos):
            return "stop"
        if seq.matcher is not None and seq.matcher.is_stopped():
            return "stop"  # the grammar is complete; with ignore_eos it would only allow end-of-turn forever
        if seq.num_output_tokens >= p.max_tokens or len(seq) >= self.max_context:
            return "length"
        return None

    def _text_delta(self, seq: Sequence, token: int, finish: str | None) -> str:
        """Incremental text, holding back what might still become a stop string."""
        if seq.decoder is None:
            return ""
        stops = seq.params.stop
        if finish == "stop" and (token in seq.params.stop_token_ids or token in self.eos_ids):
            seq.text += seq.decoder.flush()  # the stop token itself is not text
        else:
            seq.text += seq.decoder.add(token)
            if finish is not None:
                seq.text += seq.decoder.flush()
        if stops:
            search_from = max(0, seq.emitted_chars - max(len(s) for s in stops))
            hits = [i for i in (seq.text.find(s, search_from) for s in stops) if i >= 0]
            if hits:
                seq.text = seq.text[:min(hits)]
                seq.finish_reason = "stop"
                finish = "stop"
        end = len(seq.text)
        if finish is None and stops:
            end -= _pending_stop_prefix(seq.text, stops)
        delta = seq.text[seq.emitted_chars:end]
        seq.emitted_chars = max(seq.emitted_chars, end)
        return delta

    def _event(self, seq: Sequence, token: int | None, text: str) -> TokenEvent:
        return TokenEvent(request_id=seq.request_id, token_id=token, text=text, finish_reason=seq.finish_reason,
                          prompt_tokens=seq.num_prompt_tokens, completion_tokens=seq.num_output_tokens,
                          cached_tokens=seq.num_cached_prompt)

    # ---- synchronous convenience --------------------------------------------------------------
    def generate(self, prompts: list[list[int]], params: SamplingParams | list[SamplingParams]) -> list[Completion]:
        """Run prompts to completion (batched); outputs in prompt order."""
        params_list = params if isinstance(params, list) else [params] * len(prompts)
        seqs = [self.add_request(list(p), sp) for p, sp in zip(prompts, params_list)]
        logprobs: dict[str, list[float]] = {s.request_id: [] for s in seqs}
        while any(not s.is_finished for s in seqs):
            for event in self.step():
                if event.logprob is not None and event.request_id in logprobs:
                    logprobs[event.request_id].append(event.logprob)
        return [Completion(s.output_ids, s.text, s.finish_reason, logprobs[s.request_id] or None, s.num_cached_prompt)
                for s in seqs]


def _pending_stop_prefix(text: str, stops: list[str]) -> int:
    """Length of the longest suffix of text that is a proper prefix of some stop string."""
    longest = 0
    for stop in stops:
        for k in range(min(len(stop) - 1, len(text)), longest, -1):
            if text.endswith(stop[:k]):
                longest = k
                break
    return longest


class Engine:
    """Asynchronous front: a background thread steps the LLMEngine; each request streams its TokenEvents.

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
        if len(self._streams) >= self.llm.config.max_queued + self.llm.config.max_seqs:
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

    @property
    def in_flight(self) -> int:
        return len(self._streams)

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
