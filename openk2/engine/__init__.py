"""Inference engine: paged MLA latent cache, continuous batching, sampling. Token ids in, token events out."""

from .engine import Completion, Engine, EngineConfig, LLMEngine
from .sequence import SamplingParams, TokenEvent

__all__ = ["Completion", "Engine", "EngineConfig", "LLMEngine", "SamplingParams", "TokenEvent"]
