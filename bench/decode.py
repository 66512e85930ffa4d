"""Decode and prefill speed of openk2's engine vs transformers on one K2-architecture checkpoint, in one run.

    .venv/bin/python bench/decode.py [--tokens 128] [--quick]

Builds (once, cached under bench/.cache) a random bf16 checkpoint: hidden 1024, 12 layers, 64 routed
experts top-6 + 2 shared, expert width 352, kv_lora_rank 256, no q compression, vocab 32000 (~0.9B
total, ~0.18B read per token). Prints single-stream decode tokens/s for both and their ratio, the
memory-bandwidth ceiling and openk2's fraction of it, aggregate tokens/s at 1/4/16 streams, and
prefill tokens/s for a 1024-token prompt; then openk2's single-stream decode with weight-only int8 and
int4 weights (`--quantize int8|int4`), against the same bf16 transformers number, with their quality against
bf16 (KL divergence and top-1 agreement of the next-token distributions over a fixed prompt set); the cost of
deterministic mode (decode and prefill, alternating rounds); and decode guided by a JSON Schema against
unconstrained decode, measured alternately in one run: one schema of free strings (the cost of the token
masks) and one of closed records (forced keys appended without decode steps). The load average is printed
with the numbers: the machine is shared.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import torch

from openk2.checkpoint import load_model, random_weights, write_checkpoint
from openk2.config import ModelConfig
from openk2.engine import EngineConfig, LLMEngine, SamplingParams
from openk2.engine.grammar import json_grammar
from openk2.model import CausalLM, MoE
from openk2.tokenizer import Tokenizer, write_default_tokenizer

BENCH_CONFIG = dict(
    model_type="deepseek_v3", vocab_size=32000, hidden_size=1024, intermediate_size=2816, moe_intermediate_size=352,
    num_hidden_layers=12, num_attention_heads=16, q_lora_rank=None, kv_lora_rank=256, qk_nope_head_dim=64,
    qk_rope_head_dim=32, v_head_dim=64, n_routed_experts=64, num_experts_per_tok=6, n_shared_experts=2,
    first_k_dense_replace=1, routed_scaling_factor=2.5, max_position_embeddings=4096, rope_theta=50000.0,
    eos_token_id=None, bos_token_id=None,
)
CACHE_DIR = Path(__file__).parent / ".cache" / "decode-bench-ckpt"


# Guided-decoding rows. Arrays of free strings: nearly every token is the model's choice, so this measures the
# cost of the masks. Arrays of tool-argument-like records: closed objects whose keys and punctuation the
# grammar forces, which the engine appends without decode steps of their own (jump-forward).
FREE_SCHEMA = {"type": "object", "properties": {"notes": {"type": "array", "items": {"type": "string"}}},
               "required": ["notes"], "additionalProperties": False}
BOOKING = {"type": "object", "properties": {
    "destination": {"type": "string", "maxLength": 12}, "nights": {"type": "integer", "minimum": 1, "maximum": 30},
    "breakfast_included": {"type": "boolean"}, "room_type": {"enum": ["single", "double", "suite"]}},
    "required": ["destination", "nights", "breakfast_included", "room_type"], "additionalProperties": False}
RECORDS_SCHEMA = {"type": "object", "properties": {"bookings": {"type": "array", "items": BOOKING}},
                  "required": ["bookings"], "additionalProperties": False}


def build_checkpoint(path: Path) -> ModelConfig:
    config = ModelConfig(**BENCH_CONFIG)
    if not (path / "config.json").exists():
        write_checkpoint(path, config, random_weights(config, torch.bfloat16, seed=0), torch.bfloat16)
    if not (path / "tiktoken.model").exists():  # a vocabulary of the model's size, for the guided row (~1 s)
        write_default_tokenizer(path, config.vocab_size)
    return config


def active_bytes_per_token(model: CausalLM) -> int:
    """Weight bytes a decode step must read: everything but the embedding table and unvisited experts."""
    total = sum(p.numel() * p.element_size() for p in model.parameters())
    total -= model.model.embed_tokens.weight.numel() * model.model.embed_tokens.weight.element_size()
    for layer in model.model.layers:
        if isinstance(layer.mlp, MoE):
            expert = sum(p.numel() * p.element_size() for p in layer.mlp.experts[0].parameters())
            total -= expert * (len(layer.mlp.experts) - model.config.num_experts_per_tok)
    return total


def model_experts(config: ModelConfig) -> list[torch.Tensor]:
    """One routed expert's weights (meta tensors: only their sizes are used), in bf16."""
    with torch.device("meta"):
        from openk2.model import MLP

        return list(MLP(config.hidden_size, config.moe_intermediate_size).to(torch.bfloat16).parameters())


def memory_bandwidth() -> float:
    """Bytes/s of a streaming read of 1 GiB (larger than any cache), best of 5. float32, because a bf16
    sum is limited by its conversions, not by memory."""
    data = torch.ones(256 * 1024**2, dtype=torch.float32)
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        data.sum(dtype=torch.float32)
        best = min(best, time.perf_counter() - start)
    return data.numel() * data.element_size() / best


def expected_experts(experts: int, top_k: int, tokens: int) -> float:
    """Distinct experts a step of `tokens` independent tokens visits, on average (uniform routing)."""
    return experts * (1 - (1 - top_k / experts) ** tokens)


def quality(reference: CausalLM, quantised: CausalLM, prompts: torch.Tensor) -> tuple[float, float]:
    """(mean KL(reference || quantised) in nats, top-1 agreement) of next-token distributions at every position."""
    with torch.inference_mode():
        p, q = reference(prompts).log_softmax(-1), quantised(prompts).log_softmax(-1)
    kl = (p.exp() * (p - q)).sum(-1).mean().item()
    return kl, (p.argmax(-1) == q.argmax(-1)).float().mean().item()


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def openk2_decode(engine: LLMEngine, prompt: list[int], tokens: int) -> float:
    """Decode tokens/s, excluding prefill (time of a 1-token run subtracted)."""
    one = timed(lambda: engine.generate([prompt], SamplingParams(max_tokens=1, temperature=0, ignore_eos=True)))
    full = timed(lambda: engine.generate([prompt], SamplingParams(max_tokens=tokens + 1, temperature=0, ignore_eos=True)))
    return tokens / (full - one)


def guided_decode(engine: LLMEngine, prompt: list[int], tokens: int, grammar: str | None) -> float:
    """Decode tokens/s like openk2_decode, with or without a grammar (which may end the answer early)."""
    params = dict(temperature=0, ignore_eos=True, grammar=grammar)
    one = timed(lambda: engine.generate([prompt], SamplingParams(max_tokens=1, **params)))
    start = time.perf_counter()
    out = engine.generate([prompt], SamplingParams(max_tokens=tokens + 1, **params))[0]
    return (len(out.token_ids) - 1) / (time.perf_counter() - start - one)


def hf_decode(hf_model, prompt: list[int], tokens: int) -> float:
    ids = torch.tensor([prompt])

    def run(n):
        with torch.inference_mode():
            hf_model.generate(ids, max_new_tokens=n, min_new_tokens=n, do_sample=False, eos_token_id=None, pad_token_id=0)

    one = timed(lambda: run(1))
    full = timed(lambda: run(tokens + 1))
    return tokens / (full - one)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=128, help="decode tokens per measurement")
    parser.add_argument("--quick", action="store_true", help="skip the transformers measurements")
    args = parser.parse_args()
    torch.manual_seed(0)

    config = build_checkpoint(CACHE_DIR)
    model = load_model(CACHE_DIR, dtype=torch.bfloat16)
    active = active_bytes_per_token(model)  # before the engine fuses projections (views would count twice)
    total_params = sum(p.numel() for p in model.parameters())
    engine = LLMEngine(model, Tokenizer.from_dir(CACHE_DIR),
                       EngineConfig(cache_budget_bytes=512 * 1024**2, max_batch_tokens=1024))
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs, torch threads {torch.get_num_threads()}")
    prompt = torch.randint(0, config.vocab_size, (32,)).tolist()
    long_prompt = torch.randint(0, config.vocab_size, (1024,)).tolist()
    openk2_decode(engine, prompt, 8)  # warm-up

    bandwidth = memory_bandwidth()
    ceiling = bandwidth / active
    ours = openk2_decode(engine, prompt, args.tokens)
    print(f"checkpoint: {total_params / 1e9:.2f}B parameters, "
          f"{active / 1e6:.0f} MB of bf16 weights read per decoded token")
    print(f"memory read bandwidth: {bandwidth / 1e9:.1f} GB/s -> ceiling {ceiling:.1f} tokens/s")
    print(f"single-stream decode   openk2 {ours:8.1f} tok/s   ({ours / ceiling:.0%} of the ceiling)")

    if not args.quick:
        from transformers import AutoModelForCausalLM

        hf_model = AutoModelForCausalLM.from_pretrained(CACHE_DIR, dtype=torch.bfloat16).eval()
        hf_decode(hf_model, prompt, 4)  # warm-up
        theirs = hf_decode(hf_model, prompt, args.tokens)
        print(f"single-stream decode   transformers {theirs:8.1f} tok/s   openk2/transformers = {ours / theirs:.2f}x")

    single = None
    c = config
    for streams in (1, 4, 16):
        prompts = [torch.randint(0, config.vocab_size, (32,)).tolist() for _ in range(streams)]
        params = SamplingParams(max_tokens=64, temperature=0, ignore_eos=True)
        elapsed = timed(lambda: engine.generate(prompts, params))
        rate = streams * 64 / elapsed
        single = single or rate
        # A bandwidth-bound engine reads every expert the step visits once: the most batching can give.
        expert_bytes = sum(p.numel() * p.element_size() for p in model_experts(c))
        step_bytes = active + (c.num_hidden_layers - c.first_k_dense_replace) * expert_bytes * (
            expected_experts(c.n_routed_experts, c.num_experts_per_tok, streams) - c.num_experts_per_tok)
        print(f"aggregate ({streams:2d} streams)   openk2 {rate:8.1f} tok/s   ({rate / single:.2f}x one stream; "
              f"bandwidth-bound limit {streams * active / step_bytes:.2f}x)")

    prefill_params = SamplingParams(max_tokens=1, temperature=0, ignore_eos=True)
    engine.generate([long_prompt[:64]], prefill_params)  # warm-up
    ours_prefill = len(long_prompt) / timed(lambda: engine.generate([long_prompt], prefill_params))
    line = f"prefill (1024 tokens)  openk2 {ours_prefill:8.1f} tok/s"
    if not args.quick:
        with torch.inference_mode():
            ids = torch.tensor([long_prompt])
            hf_model(ids[:, :64])
            theirs_prefill = len(long_prompt) / timed(lambda: hf_model(ids, logits_to_keep=1))
        line += f"   transformers {theirs_prefill:8.1f} tok/s   ratio {ours_prefill / theirs_prefill:.2f}x"
    print(line)

    # Alternate guided and unconstrained runs (best of three each), so that machine noise hits both alike.
    grammars = {"free strings": json_grammar(FREE_SCHEMA), "records": json_grammar(RECORDS_SCHEMA)}
    for grammar in grammars.values():
        guided_decode(engine, prompt, 8, grammar)  # warm-up: builds the vocabulary and compiles the grammar once
    rates: dict[str | None, list[float]] = {None: [], **{name: [] for name in grammars}}
    for _ in range(3):
        rates[None].append(guided_decode(engine, prompt, args.tokens, None))
        for name, grammar in grammars.items():
            rates[name].append(guided_decode(engine, prompt, args.tokens, grammar))
    free = max(rates[None])
    for name in grammars:
        guided = max(rates[name])
        print(f"guided decode ({name:12s})  openk2 {guided:8.1f} tok/s   unconstrained {free:8.1f} tok/s   "
              f"guided/unconstrained = {guided / free:.2f}x")

    # Deterministic mode: the same engine switched over, alternating rounds (best of three each).
    from openk2.kernel_layers import set_deterministic

    rates = {False: [], True: []}
    prefill_rates = {False: [], True: []}
    for _ in range(3):
        for deterministic in (False, True):
            set_deterministic(engine.model, deterministic)
            rates[deterministic].append(openk2_decode(engine, prompt, args.tokens))
            engine.generate([long_prompt[:64]], prefill_params)
            prefill_rates[deterministic].append(
                len(long_prompt) / timed(lambda: engine.generate([long_prompt], prefill_params)))
    set_deterministic(engine.model, False)
    print(f"deterministic mode     decode {max(rates[True]) / max(rates[False]):.2f}x, "
          f"prefill (1024 tokens) {max(prefill_rates[True]) / max(prefill_rates[False]):.2f}x of the default "
          f"({max(rates[True]):.1f} tok/s decode, {max(prefill_rates[True]):.1f} tok/s prefill)")

    # Weight-only int8 / int4, and their quality against bf16 on a fixed prompt set (8 prompts x 64 tokens).
    quality_prompts = torch.randint(0, config.vocab_size, (8, 64), generator=torch.Generator().manual_seed(1))
    for quantize in ("int8", "int4"):
        q_engine = LLMEngine(load_model(CACHE_DIR, dtype=torch.bfloat16),
                             config=EngineConfig(cache_budget_bytes=512 * 1024**2, quantize=quantize))
        openk2_decode(q_engine, prompt, 8)  # warm-up
        q_rate = openk2_decode(q_engine, prompt, args.tokens)
        kl, top1 = quality(engine.model, q_engine.model, quality_prompts)
        line = f"single-stream decode   openk2 {quantize} {q_rate:8.1f} tok/s   KL vs bf16 {kl:.4f} nats, top-1 {top1:.1%}"
        if not args.quick:
            line += f"   openk2 {quantize} / transformers bf16 = {q_rate / theirs:.2f}x"
        print(line)
        del q_engine
    print(f"load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
