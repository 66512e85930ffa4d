"""Tiny random DeepSeek-V3 checkpoints built and saved by transformers: the reference our model must match."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

TINY: dict[str, Any] = dict(
    vocab_size=320, hidden_size=64, intermediate_size=96, moe_intermediate_size=32, num_hidden_layers=3,
    num_attention_heads=4, num_key_value_heads=4, n_routed_experts=8, num_experts_per_tok=2, n_shared_experts=1,
    n_group=1, topk_group=1, kv_lora_rank=16, q_lora_rank=24, qk_rope_head_dim=8, qk_nope_head_dim=16,
    v_head_dim=16, first_k_dense_replace=1, max_position_embeddings=64, routed_scaling_factor=2.5,
)


def make_hf_model(seed: int = 0, weight_std: float = 0.15, bias_std: float = 0.3, **overrides: Any):
    """A transformers DeepseekV3ForCausalLM with weights large enough that routing and logits are far from trivial."""
    from transformers import DeepseekV3Config, DeepseekV3ForCausalLM

    torch.manual_seed(seed)
    model = DeepseekV3ForCausalLM(DeepseekV3Config(**{**TINY, **overrides})).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() > 1:
                p.normal_(0.0, weight_std)
            else:  # norm weights: around 1, but not exactly, so a skipped norm shows
                p.copy_(1.0 + 0.1 * torch.randn_like(p))
        for name, b in model.named_buffers():
            if name.endswith("e_score_correction_bias"):
                b.copy_(bias_std * torch.randn_like(b))
    return model


def save_hf_model(model, path: Path) -> Path:
    model.save_pretrained(path)
    return path
