"""The API server: Kimi K2 behind OpenAI- and Anthropic-compatible HTTP APIs, with API keys, rate limits, a usage ledger and metrics."""

from .app import ServerConfig, create_app
from .serving import ModelSettings

__all__ = ["ModelSettings", "ServerConfig", "create_app"]
