"""The server's settings and the served model's: flat dataclasses, whose defaults `openk2 serve` reads."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from pathlib import Path

DEFAULT_DB = f"sqlite:///{Path.home() / '.openk2' / 'openk2.db'}"


@dataclass
class ServerConfig:
    api_key_required: bool = False  # without it, keys are optional: a known key is metered and limited
    db: str = DEFAULT_DB  # SQLAlchemy URL of the keys and the usage ledger
    requests_per_minute: int = 0  # per key, unless the key has its own limit; 0: unlimited
    tokens_per_minute: int = 0
    # Larger request bodies get 413. JSON is parsed on the event loop (json and pydantic hold the GIL, so a thread
    # would not help): 4 MiB, ~10x a 128K-token prompt, parses in tens of milliseconds; 32 MiB took over a second.
    max_body_bytes: int = 4 * 1024**2
    public_docs: bool = False  # /docs and /openapi.json without a key even when keys are required
    public_metrics: bool = False  # /metrics without a key even when keys are required (for a Prometheus scraper)
    # Browser origins allowed to call the API (CORS), exact or "*"; the default allows pages served from this
    # machine (any port on localhost), as Ollama does, so a page on the open web cannot drive a local server.
    cors_origins: tuple[str, ...] = ()


@dataclass
class ModelSettings:
    """The served model's name, prices and API defaults. Prices are USD per million tokens; the defaults
    are Kimi K2's list prices."""

    name: str
    # More names clients may ask for, as exact names or shell-style patterns ("claude-*", "*"): agent front-ends ask
    # for their own models' names (Claude Code for claude-sonnet-..., claude-haiku-...). Replies echo the asked name.
    aliases: tuple[str, ...] = ()
    price_input_cache_hit: float = 0.15
    price_input: float = 0.60  # a cache miss
    price_output: float = 2.50
    default_temperature: float = 0.6  # K2's recommended temperature, when a request names none
    anthropic_temperature_scale: float = 0.6  # Moonshot's Anthropic endpoint runs at request temperature x 0.6

    def serves(self, name: str) -> bool:
        return name == self.name or any(fnmatch.fnmatchcase(name, alias) for alias in self.aliases)

    @property
    def names(self) -> list[str]:
        """The exact names served (patterns left out), for /v1/models."""
        return [self.name, *(a for a in self.aliases if not any(c in a for c in "*?[") and a != self.name)]

    def cost(self, prompt_tokens: int, cached_tokens: int, completion_tokens: int) -> float:
        return (cached_tokens * self.price_input_cache_hit + (prompt_tokens - cached_tokens) * self.price_input
                + completion_tokens * self.price_output) / 1e6
