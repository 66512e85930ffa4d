"""openk2's model against transformers' DeepseekV3ForCausalLM on the same random checkpoints."""

from __future__ import annotations

import json

import pytest
import torch
from hf_reference import make_hf_model

from openk2.checkpoint import load_model, save_model
from openk2.model import MoE

YARN = dict(rope_type="yarn", rope_theta=10000.0, factor=4.0, original_max_position_embeddings=16,
            beta_fast=32.0, beta_slow=1.0, mscale=1.0, mscale_all_dim=1.0)

CASES = {
    "q_lora": dict(),
    "no_q_lora": dict(q_lora_rank=None),
    "groups_norm": dict(n_routed_experts=16, n_group=4, topk_group=2, num_experts_per_tok=3),
    "groups_no_norm": dict(n_routed_experts=16, n_group=4, topk_group=2, num_experts_per_tok=3, norm_topk_prob=False),
    "yarn": dict(rope_parameters=YARN, max_position_embeddings=64),
    "yarn_mscale_no_q_lora": dict(q_lora_rank=None, rope_parameters={**YARN, "factor": 8.0, "mscale": 0.707, "mscale_all_dim": 0.707}),
    "two_shared_all_moe": dict(n_shared_experts=2, first_k_dense_replace=0),
}


def logits_diff(hf_model, ours, ids: torch.Tensor) -> tuple[float, float]:
    with torch.no_grad():
        ref = hf_model(ids).logits
        got = ours(ids)
    assert got.shape == ref.shape and got.dtype == torch.float32
    return (got - ref).abs().max().item(), ref.abs().max().item()


@pytest.mark.parametrize("case", CASES)
def test_logits_match_transformers(case, tmp_path):
    hf_model = make_hf_model(seed=len(case), **CASES[case])
    hf_model.save_pretrained(tmp_path)
    ours = load_model(tmp_path)
    # 40 tokens: past YaRN's original 16-token context in the yarn cases; batch of 2 different rows.
    ids = torch.randint(0, hf_model.config.vocab_size, (2, 40), generator=torch.Generator().manual_seed(1))
    diff, scale = logits_diff(hf_model, ours, ids)
    assert scale > 1.0, "logits too small for the comparison to mean anything"
    assert diff < 1e-4, f"{case}: max abs logit difference {diff:.2e}"


def test_correction_bias_changes_the_choice_but_not_the_weights(tmp_path):
    """With a large bias on one expert it must be chosen for every token; its weight is still the raw score."""
    hf_model = make_hf_model(seed=3)
    hf_model.save_pretrained(tmp_path)
    ours = load_model(tmp_path)
    moe = next(layer.mlp for layer in ours.model.layers if isinstance(layer.mlp, MoE))
    moe.gate.e_score_correction_bias.zero_()
    moe.gate.e_score_correction_bias[5] = 100.0
    x = torch.randn(10, hf_model.config.hidden_size)
    weights, ids = moe.gate(x)
    assert (ids == 5).any(dim=1).all()
    assert weights.max() <= hf_model.config.routed_scaling_factor + 1e-6  # bias did not leak into the weights


def test_bfloat16_loads_and_runs_close_to_float32(tmp_path):
    hf_model = make_hf_model(seed=5, weight_std=0.05)
    hf_model.save_pretrained(tmp_path)
    ids = torch.randint(0, hf_model.config.vocab_size, (2, 24), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        ref = load_model(tmp_path)(ids)
        model_bf16 = load_model(tmp_path, dtype=torch.bfloat16)
        got = model_bf16(ids)
    assert model_bf16.model.embed_tokens.weight.dtype == torch.bfloat16
    assert next(l.mlp for l in model_bf16.model.layers if isinstance(l.mlp, MoE)).gate.weight.dtype == torch.float32
    assert torch.isfinite(got).all()
    cosine = torch.nn.functional.cosine_similarity(got.flatten(), ref.flatten(), dim=0)
    assert cosine > 0.99


def test_save_model_round_trips_through_transformers(tmp_path):
    from transformers import AutoModelForCausalLM

    hf_model = make_hf_model(seed=7, rope_parameters=YARN, n_routed_experts=16, n_group=4, topk_group=2)
    hf_model.save_pretrained(tmp_path / "hf")
    ours = load_model(tmp_path / "hf")
    save_model(ours, tmp_path / "ours")
    reloaded_hf = AutoModelForCausalLM.from_pretrained(tmp_path / "ours").eval()
    reloaded_ours = load_model(tmp_path / "ours")
    ids = torch.randint(0, hf_model.config.vocab_size, (1, 33))
    with torch.no_grad():
        original = ours(ids)
        assert torch.equal(reloaded_ours(ids), original)
        assert torch.equal(reloaded_hf(ids).logits, hf_model(ids).logits)
    diff, _ = logits_diff(reloaded_hf, ours, ids)
    assert diff < 1e-4


def test_sharded_save_writes_an_index_that_both_loaders_read(tmp_path):
    from transformers import AutoModelForCausalLM

    hf_model = make_hf_model(seed=8)
    hf_model.save_pretrained(tmp_path / "hf")
    ours = load_model(tmp_path / "hf")
    save_model(ours, tmp_path / "sharded", max_shard_bytes=200_000)
    index = json.loads((tmp_path / "sharded" / "model.safetensors.index.json").read_text())
    shards = sorted(set(index["weight_map"].values()))
    assert len(shards) > 2 and shards[0] == f"model-00001-of-{len(shards):05d}.safetensors"
    assert not (tmp_path / "sharded" / "model.safetensors").exists()
    ids = torch.randint(0, hf_model.config.vocab_size, (1, 12))
    with torch.no_grad():
        assert torch.equal(load_model(tmp_path / "sharded")(ids), ours(ids))
        diff, _ = logits_diff(AutoModelForCausalLM.from_pretrained(tmp_path / "sharded").eval(), ours, ids)
    assert diff < 1e-4


def test_tied_embeddings(tmp_path):
    hf_model = make_hf_model(seed=9, tie_word_embeddings=True)
    hf_model.save_pretrained(tmp_path / "hf")
    ours = load_model(tmp_path / "hf")
    assert ours.lm_head.weight is ours.model.embed_tokens.weight
    ids = torch.randint(0, hf_model.config.vocab_size, (1, 10))
    diff, _ = logits_diff(hf_model, ours, ids)
    assert diff < 1e-4
    save_model(ours, tmp_path / "ours")
    assert torch.equal(load_model(tmp_path / "ours")(ids), ours(ids))


def test_tracking_max_logits_gives_the_same_output_and_per_head_maxima(tmp_path):
    from openk2.model import MLA

    hf_model = make_hf_model(seed=13)
    hf_model.save_pretrained(tmp_path)
    ours = load_model(tmp_path)
    ids = torch.randint(0, hf_model.config.vocab_size, (2, 17))
    with torch.no_grad():
        plain = ours(ids)
        attention = [m for m in ours.modules() if isinstance(m, MLA)]
        for m in attention:
            m.track_max_logits = True
        tracked = ours(ids)
    assert (tracked - plain).abs().max() < 1e-5
    for m in attention:
        assert m.max_logits.shape == (hf_model.config.num_attention_heads,)
        assert torch.isfinite(m.max_logits).all() and m.max_logits.abs().sum() > 0


def test_inference_layout_keeps_logits_and_saves_unchanged(tmp_path):
    from openk2.model import prepare_for_inference

    hf_model = make_hf_model(seed=14)
    hf_model.save_pretrained(tmp_path / "hf")
    ours = load_model(tmp_path / "hf")
    ids = torch.randint(0, hf_model.config.vocab_size, (2, 15))
    with torch.no_grad():
        before = ours(ids)
        prepare_for_inference(ours)
        assert all(m.gate_up is not None for m in ours.modules() if hasattr(m, "gate_up"))
        assert (ours(ids) - before).abs().max() < 1e-5
    save_model(ours, tmp_path / "fused")  # views of the fused matrices are saved as their own tensors
    with torch.no_grad():
        assert (load_model(tmp_path / "fused")(ids) - before).abs().max() < 1e-5
