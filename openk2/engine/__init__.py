"""Inference engine: paged MLA latent cache, continuous batching, sampling. Token ids in, token events out."""

from .async_engine import Engine
from .engine import Completion, EngineConfig, LLMEngine
from .sequence import SamplingParams, TokenEvent

__all__ = ["Completion", "Engine", "EngineConfig", "LLMEngine", "SamplingParams", "TokenEvent"]
