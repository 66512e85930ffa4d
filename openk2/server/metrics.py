"""Prometheus metrics for /metrics: requests, tokens, latency and time-to-first-token histograms, queue depth, cache use,
and the usage ledger's health (write retries, rows lost, rows waiting)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from ..engine import Engine
from .usage import Ledger

disable_created_metrics()  # no `_created` timestamp series next to every counter and histogram
LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)


class Metrics:
    def __init__(self, engine: Engine, ledger: Ledger | None = None):
        # A registry per server, so that several servers in one process (tests) keep separate counts.
        self.registry = registry = CollectorRegistry()
        self.requests = Counter("openk2_requests", "API requests that ran in the engine, by finish reason",
                                ["endpoint", "finish_reason"], registry=registry)
        self.errors = Counter("openk2_request_errors", "Requests answered with an error status", ["status"],
                              registry=registry)
        self.prompt_tokens = Counter("openk2_prompt_tokens", "Prompt tokens processed (cached included)",
                                     registry=registry)
        self.cached_tokens = Counter("openk2_cached_prompt_tokens", "Prompt tokens served from the prefix cache",
                                     registry=registry)
        self.completion_tokens = Counter("openk2_completion_tokens", "Tokens generated", registry=registry)
        self.schema_violations = Counter("openk2_schema_violations", "Tool arguments or answers that break a schema "
                                         "guided decoding enforced only in part", registry=registry)
        self.latency = Histogram("openk2_request_latency_seconds", "Time from a request's start to its end",
                                 ["endpoint"], buckets=LATENCY_BUCKETS, registry=registry)
        self.ttft = Histogram("openk2_time_to_first_token_seconds", "Time from a request's start to its first token",
                              buckets=LATENCY_BUCKETS, registry=registry)
        self.tpot = Histogram("openk2_time_per_output_token_seconds", "Decode time per token after the first",
                              buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1), registry=registry)
        # Gauges read the engine's properties when scraped (safe from another thread).
        Gauge("openk2_requests_running", "Requests in the running batch", registry=registry).set_function(
            lambda: engine.num_running)
        Gauge("openk2_requests_waiting", "Requests queued for a slot", registry=registry).set_function(
            lambda: engine.num_waiting)
        Gauge("openk2_kv_cache_usage", "Fraction of KV-cache blocks held by requests", registry=registry).set_function(
            lambda: engine.cache_usage)
        if ledger is not None:
            registry.register(LedgerCollector(ledger))

    def observe(self, endpoint: str, finish_reason: str, prompt_tokens: int, cached_tokens: int,
                completion_tokens: int, latency: float, ttft: float | None) -> None:
        self.requests.labels(endpoint, finish_reason).inc()
        self.prompt_tokens.inc(prompt_tokens)
        self.cached_tokens.inc(cached_tokens)
        self.completion_tokens.inc(completion_tokens)
        self.latency.labels(endpoint).observe(latency)
        if ttft is not None:
            self.ttft.observe(ttft)
            if completion_tokens > 1:
                self.tpot.observe((latency - ttft) / (completion_tokens - 1))

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class LedgerCollector:
    """The ledger's own counts, read when scraped: a row that could not be written is never silent."""

    def __init__(self, ledger: Ledger):
        self.ledger = ledger

    def collect(self):
        yield CounterMetricFamily("openk2_ledger_write_retries", "Usage ledger writes that failed and were retried",
                                  value=self.ledger.retries)
        yield CounterMetricFamily("openk2_ledger_rows_lost", "Usage rows the database refused for good (logged)",
                                  value=self.ledger.lost)
        yield GaugeMetricFamily("openk2_ledger_rows_pending", "Usage rows waiting to be written",
                                value=self.ledger.pending)
