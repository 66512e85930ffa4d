"""The synchronous engine: token ids in, token events out, one batched step at a time (the async front that
streams them to callers is async_engine.py).

    engine = LLMEngine.from_pretrained("runs/nano")
    outputs = engine.generate([[1, 2, 3]], SamplingParams(max_tokens=16, temperature=0))
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import torch

from ..model import CausalLM, prepare_for_inference
from ..threads import ThreadGovernor
from .detokenizer import Detokenizer
from .grammar import Grammars
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
    quantize: str | None = None  # "int8" / "int4": weight-only quantised weights (1/2, ~1/4 of bf16's bytes read)
    max_model_len: int | None = None  # from_pretrained: context per request; None: the checkpoint's (ModelConfig.with_max_len)
    # Same greedy tokens whatever the batch, the chunking of the prompt or the prefix cache: prompt tokens go
    # through the decode kernels too (slower prefill of long prompts; see kernel_layers.py).
    deterministic: bool = False
    kernels: bool = True  # openk2's C kernels (kernels.py) when they build here; False: torch's kernels only
    # "auto": one thread per physical core, fewer while other processes keep cores busy (threads.py); an int:
    # that many; None: leave torch's setting. OMP_NUM_THREADS in the environment wins over "auto".
    threads: int | str | None = "auto"


@dataclass
class Completion:
    """A finished request, for the synchronous generate()."""

    token_ids: list[int]
    text: str
    finish_reason: str
    logprobs: list[float] | None = None
    cached_tokens: int = 0


def prepare_model(model: CausalLM, config: EngineConfig) -> CausalLM:
    """The inference layout: openk2's kernels where they build (quantised if asked), else torch's."""
    from .. import kernels

    if config.quantize not in (None, "int8", "int4"):
        raise ValueError(f"unknown quantization {config.quantize!r}: openk2 supports int8 and int4")
    if config.kernels and kernels.available():
        from ..kernel_layers import set_deterministic, use_kernels

        laid_out = getattr(model, "quantization", None)
        if laid_out is None:
            return use_kernels(model, config.quantize, config.deterministic)
        if laid_out != (config.quantize or "kernels") and not (laid_out == "int4-native" and config.quantize is None):
            # a model shared by several engines must agree
            raise ValueError(f"this model is already laid out as {laid_out!r}; load it again for {config.quantize!r}")
        return set_deterministic(model, config.deterministic)
    if getattr(model, "int4_weights", None):
        raise ValueError("this checkpoint's int4 weights need openk2's kernels, which are unavailable here (see the log)")
    if config.deterministic:
        raise ValueError("deterministic decoding needs openk2's kernels, which are unavailable here (see the log)")
    model = prepare_for_inference(model)
    if config.quantize == "int4":
        raise ValueError("int4 needs openk2's kernels, which are unavailable here (see the log): use int8")
    if config.quantize == "int8":
        from ..quant import quantize_int8_

        quantize_int8_(model)
    return model


class LLMEngine:
    def __init__(self, model: CausalLM, tokenizer=None, config: EngineConfig | None = None):
        self.config = config or EngineConfig()
        self.governor = None
        if self.config.threads == "auto" and "OMP_NUM_THREADS" not in os.environ:
            self.governor = ThreadGovernor()
        elif isinstance(self.config.threads, int):
            torch.set_num_threads(self.config.threads)
        self.model = prepare_model(model, self.config)
        self.tokenizer = tokenizer
        param = next(model.parameters())
        self.cache = KVCache.from_budget(model.config, self.config.cache_budget_bytes, self.config.block_size,
                                         dtype=param.dtype, device=param.device)
        self.scheduler = Scheduler(self.cache, self.config.max_batch_tokens, self.config.max_seqs)
        self.runner = ModelRunner(model, self.cache)
        self.sequences: dict[str, Sequence] = {}
        eos = model.config.eos_token_id
        self._eos_ids = frozenset((tokenizer.stop_ids if tokenizer is not None else [])
                                  + (eos if isinstance(eos, list) else [eos] if eos is not None else []))
        self.grammars = Grammars(tokenizer, model.config.vocab_size, self._eos_ids)

    @classmethod
    def from_pretrained(cls, path: str | Path, dtype: torch.dtype = torch.bfloat16, config: EngineConfig | None = None,
                        tokenizer=None) -> LLMEngine:
        from ..checkpoint import load_model

        path = Path(path)
        if tokenizer is None and (path / "tiktoken.model").is_file():
            from ..tokenizer import Tokenizer

            tokenizer = Tokenizer.from_dir(path)
        engine = cls(load_model(path, dtype=dtype, max_model_len=config.max_model_len if config else None), tokenizer,
                     config)
        engine.warmup()
        return engine

    def warmup(self) -> None:
        """Run a tiny request so that one-time kernel and thread-pool start-up is not billed to the first user."""
        self.generate([[0] * 3], SamplingParams(max_tokens=2, temperature=0, ignore_eos=True))
        if self.tokenizer is not None:
            self.grammars.lltokenizer  # noqa: B018 -- guided decoding's vocabulary (about a second for K2's)

    # ---- read-only facts, for the layers above ----------------------------------------------
    @property
    def eos_ids(self) -> frozenset[int]:
        """Token ids that end an answer: the tokenizer's end-of-turn ids and the model's eos_token_id."""
        return self._eos_ids

    @property
    def vocab_size(self) -> int:
        return self.model.config.vocab_size

    @property
    def max_context(self) -> int:
        """The model's context: prompt + output tokens of one request."""
        return self.model.config.max_position_embeddings

    @property
    def cache_tokens(self) -> int:
        """Tokens the KV cache holds in all; one request's prompt + output must fit."""
        return self.cache.capacity_tokens

    @property
    def num_running(self) -> int:
        return len(self.scheduler.running)

    @property
    def num_waiting(self) -> int:
        return len(self.scheduler.waiting)

    @property
    def cache_usage(self) -> float:
        """Fraction of KV-cache blocks held by requests (blocks kept only for the prefix cache count as free)."""
        return 1 - self.cache.num_free_blocks / self.cache.num_blocks

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
        params.validate(self.vocab_size)
        if not prompt_ids:
            raise ValueError("the prompt is empty: give at least one token")
        vocab = self.vocab_size
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
            seq.detokenizer = Detokenizer(self.tokenizer, params.stop)
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
        if self.governor is not None:
            self.governor.update()
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
        finish = None
        if seq.matcher is not None and (not seq.matcher.consume_token(token) or seq.matcher.is_error()):
            # The mask allowed only tokens the grammar accepts, so this is a bug, not the model.
            # llguidance's error carries a dump of the parser's state: one line per request is enough for a log.
            reason = (seq.matcher.get_error() or "").strip().splitlines()
            log.error("request %s: the grammar refused token %d: %s", seq.request_id, token, reason[0] if reason else "?")
            finish = "error"
        finish = finish or self._finish_reason(seq, token)
        text = ""
        if seq.detokenizer is not None:
            text = seq.detokenizer.add(token, seq.stop == token, finish is not None)
            if seq.detokenizer.stop is not None and finish != "error":
                finish, seq.stop = "stop", seq.detokenizer.stop  # a stop string matched (and was cut off)
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
        """Why seq ends with `token`, if it does; a stop token is remembered in seq.stop."""
        p = seq.params
        if token in p.stop_token_ids or (token in self._eos_ids and not p.ignore_eos):
            seq.stop = token
            return "stop"
        if seq.matcher is not None and seq.matcher.is_stopped():
            return "stop"  # the grammar is complete; with ignore_eos it would only allow end-of-turn forever
        if seq.num_output_tokens >= p.max_tokens or len(seq) >= self.max_context:
            return "length"
        return None

    def _event(self, seq: Sequence, token: int | None, text: str) -> TokenEvent:
        special = token is not None and self.tokenizer is not None and self.tokenizer.is_special(token)
        return TokenEvent(request_id=seq.request_id, token_id=token, text=text, finish_reason=seq.finish_reason,
                          stop=seq.stop if seq.finish_reason == "stop" else None, special=special,
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
