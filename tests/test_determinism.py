"""Deterministic greedy decoding: the same temperature-0 request gives the same tokens alone, after a prefix-cache
hit, and inside a batch of 16 different requests (bf16, where torch's kernels make them differ: with
deterministic=False the logprobs differ in all three, measured when this test was written)."""

from __future__ import annotations

import random

import pytest
import torch
from hf_reference import make_hf_model

from openk2 import kernels
from openk2.checkpoint import load_model
from openk2.engine import EngineConfig, LLMEngine, SamplingParams

# Logprobs too: a near-tie that flips a token is rare on random weights, but any rounding difference shows there.
GREEDY = SamplingParams(max_tokens=40, temperature=0, ignore_eos=True, logprobs=True)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    path = tmp_path_factory.mktemp("determinism_ckpt")
    # Small weights: logits sit close together, so rounding differences change the argmax (as in a trained model).
    make_hf_model(seed=5, weight_std=0.02, n_routed_experts=16, n_group=4, topk_group=2, num_experts_per_tok=3,
                  hidden_size=128, kv_lora_rank=64, qk_nope_head_dim=32, v_head_dim=32, qk_rope_head_dim=16,
                  q_lora_rank=None, max_position_embeddings=256).save_pretrained(path)
    return path


def engine_for(path, **config) -> LLMEngine:
    settings = dict(cache_budget_bytes=8 * 1024**2, block_size=4, max_batch_tokens=128, max_seqs=32,
                    deterministic=True)
    return LLMEngine(load_model(path, dtype=torch.bfloat16), config=EngineConfig(**{**settings, **config}))


def three_ways(path, **config) -> tuple[tuple, tuple, tuple, int]:
    """The request alone, again after a prefix-cache hit (behind a request sharing its first 24 tokens), and in
    the middle of a batch of 16 different requests."""
    rng = random.Random(0)
    prompt = [rng.randrange(320) for _ in range(100)]
    out = engine_for(path, **config).generate([prompt], GREEDY)[0]
    alone = (out.token_ids, out.logprobs)

    engine = engine_for(path, **config)
    engine.generate([prompt[:24] + [7, 8, 9]], SamplingParams(max_tokens=3, temperature=0, ignore_eos=True))
    cached = engine.generate([prompt], GREEDY)[0]
    assert cached.cached_tokens >= 24

    others = [[rng.randrange(320) for _ in range(rng.randint(5, 70))] for _ in range(15)]
    batch = others[:7] + [prompt] + others[7:]
    params = [SamplingParams(max_tokens=rng.randint(10, 40), temperature=0, ignore_eos=True) for _ in batch]
    params[7] = GREEDY
    batched = engine_for(path, **config).generate(batch, params)[7]
    return alone, (cached.token_ids, cached.logprobs), (batched.token_ids, batched.logprobs), cached.cached_tokens


@pytest.mark.skipif(not kernels.available(), reason="deterministic decoding needs openk2's kernels (a C compiler)")
def test_greedy_tokens_are_the_same_alone_after_a_cache_hit_and_in_a_batch_of_16(checkpoint):
    alone, cached, batched, _ = three_ways(checkpoint)
    assert len(alone[0]) == 40
    assert cached == alone  # tokens and their logprobs, bit for bit
    assert batched == alone


@pytest.mark.skipif(not kernels.available(), reason="needs openk2's kernels (a C compiler)")
def test_deterministic_mode_is_refused_without_the_kernels(checkpoint):
    with pytest.raises(ValueError, match="deterministic decoding needs openk2's kernels"):
        engine_for(checkpoint, kernels=False)
