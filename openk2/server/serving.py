"""The serving layer between the HTTP routes and the engine: the served model's name and settings, prompt
building, starting generations, and billing each one into the metrics, the rate limiter and the usage ledger."""

from __future__ import annotations

import time
import uuid
from concurrent.futures import Future

from ..engine import Engine, SamplingParams
from .auth import Caller, RateLimiter
from .errors import APIError
from .generation import Generation
from .metrics import Metrics
from .prompts import Prompt, Prompts
from .settings import ModelSettings
from .usage import Ledger


class Serving:
    def __init__(self, engine: Engine, model: ModelSettings, ledger: Ledger, metrics: Metrics, limiter: RateLimiter):
        self.engine = engine
        self.prompts = Prompts(engine)
        self.tokenizer = self.prompts.tokenizer
        self.model = model
        self.ledger = ledger
        self.metrics = metrics
        self.limiter = limiter
        self.started = time.time()

    def check_model(self, name: str) -> None:
        if not self.model.serves(name):
            served = ", ".join(f"`{n}`" for n in [self.model.name, *self.model.aliases])
            raise APIError(404, f"The model `{name}` does not exist; this server serves {served} (add names with "
                                "`openk2 serve --served-model-name`)", "model", "model_not_found")

    async def generate(self, prompts: list[Prompt], params: list[SamplingParams], caller: Caller, endpoint: str,
                       prefix: str) -> Generation:
        """Start a generation (choice i runs prompts[i // n] with params[i]); its id is `prefix` + 24 hex digits.
        Errors are raised here, before any response is sent."""
        generation = Generation(self, prompts, params, caller, endpoint, f"{prefix}{uuid.uuid4().hex[:24]}")
        await generation.start()
        return generation

    def open_row(self, generation: Generation) -> Future:
        """The request's ledger row, written ahead as it starts: its prompt tokens, finish_reason "interrupted"."""
        usage = generation.usage
        generation.entry, written = self.ledger.begin(
            generation.caller.key, request_id=generation.request_id, model=self.model.name, endpoint=generation.endpoint,
            prompt_tokens=usage.prompt_tokens, cached_tokens=0, cost=self.model.cost(usage.prompt_tokens, 0, 0))
        return written

    def progress(self, generation: Generation) -> Future | None:
        """Bring the request's row up to the tokens generated so far (a write only when they changed)."""
        usage = generation.usage
        row = generation.entry.fields
        if (row["completion_tokens"], row["cached_tokens"]) != (usage.completion_tokens, usage.cached_tokens):
            generation.write = self.ledger.update(
                generation.entry, cached_tokens=usage.cached_tokens, completion_tokens=usage.completion_tokens,
                cost=self.model.cost(usage.prompt_tokens, usage.cached_tokens, usage.completion_tokens),
                latency=time.perf_counter() - generation.started_at)
        return generation.write

    def finished(self, generation: Generation, finish_reason: str) -> Future:
        """Bill a generation that has ended (once, from Generation.bill): the ledger row's final counts, the rate
        limiter's settlement, the metrics. Returns the ledger write, which streams wait for before their last bytes."""
        usage = generation.usage
        elapsed = time.perf_counter() - generation.started_at
        cost = self.model.cost(usage.prompt_tokens, usage.cached_tokens, usage.completion_tokens)
        final = dict(prompt_tokens=usage.prompt_tokens, cached_tokens=usage.cached_tokens,
                     completion_tokens=usage.completion_tokens, cost=cost, latency=elapsed, finish_reason=finish_reason)
        if generation.entry is None:  # never started (the row is written at the start): nothing to bill
            written: Future = Future()
            written.set_result(None)
        else:
            written = self.ledger.update(generation.entry, **final)
        self.metrics.observe(generation.endpoint, finish_reason, usage.prompt_tokens, usage.cached_tokens,
                             usage.completion_tokens, elapsed,
                             None if generation.first_token_at is None else generation.first_token_at - generation.started_at)
        self.metrics.schema_violations.inc(len(generation.violations))
        self.limiter.settle(generation.reservation, usage.total_tokens)
        return written
