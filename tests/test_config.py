"""ModelConfig: HF config.json spellings, validation and presets."""

from __future__ import annotations

import dataclasses

import pytest

from openk2.config import PRESETS, ModelConfig, preset
from openk2.model import count_parameters

# The Kimi-K2-Instruct config.json as published (older rope spelling, custom model_type, FP8, auto_map).
KIMI_K2_CONFIG_JSON = {
    "architectures": ["DeepseekV3ForCausalLM"], "auto_map": {"AutoConfig": "configuration_deepseek.DeepseekV3Config"},
    "attention_bias": False, "attention_dropout": 0.0, "aux_loss_alpha": 0.001, "bos_token_id": 163584,
    "eos_token_id": 163585, "first_k_dense_replace": 1, "hidden_act": "silu", "hidden_size": 7168,
    "initializer_range": 0.02, "intermediate_size": 18432, "kv_lora_rank": 512, "max_position_embeddings": 131072,
    "model_type": "kimi_k2", "moe_intermediate_size": 2048, "moe_layer_freq": 1, "n_group": 1,
    "n_routed_experts": 384, "n_shared_experts": 1, "norm_topk_prob": True, "num_attention_heads": 64,
    "num_experts_per_tok": 8, "num_hidden_layers": 61, "num_key_value_heads": 64, "num_nextn_predict_layers": 0,
    "pretraining_tp": 1, "q_lora_rank": 1536, "qk_nope_head_dim": 128, "qk_rope_head_dim": 64,
    "quantization_config": {"activation_scheme": "dynamic", "fmt": "e4m3", "quant_method": "fp8", "weight_block_size": [128, 128]},
    "rms_norm_eps": 1e-06,
    "rope_scaling": {"beta_fast": 1.0, "beta_slow": 1.0, "factor": 32.0, "mscale": 1.0, "mscale_all_dim": 1.0,
                     "original_max_position_embeddings": 4096, "type": "yarn"},
    "rope_theta": 50000.0, "routed_scaling_factor": 2.827, "scoring_func": "sigmoid", "seq_aux": True,
    "tie_word_embeddings": False, "topk_group": 1, "topk_method": "noaux_tc", "torch_dtype": "bfloat16",
    "transformers_version": "4.48.3", "use_cache": True, "v_head_dim": 128, "vocab_size": 163840,
}


def fields(config: ModelConfig, *skip: str) -> dict:
    return {k: v for k, v in dataclasses.asdict(config).items() if k not in skip}


def test_real_kimi_k2_config_json_equals_the_preset():
    config = ModelConfig.from_hf(KIMI_K2_CONFIG_JSON)
    assert fields(config, "quantization_config") == fields(preset("kimi-k2"), "quantization_config")
    assert config.quantization_config["weight_block_size"] == [128, 128]


def test_kimi_k2_counts_from_the_config_alone():
    total, active = count_parameters(preset("kimi-k2"))
    assert 1.025e12 <= total <= 1.045e12  # "1T total"
    assert 32e9 <= active <= 33e9  # "32B activated"


def test_older_and_newer_rope_spellings_agree():
    old = dict(KIMI_K2_CONFIG_JSON)
    new = {k: v for k, v in old.items() if k not in ("rope_theta", "rope_scaling")}
    yarn = {k: v for k, v in old["rope_scaling"].items() if k != "type"}
    new["rope_parameters"] = {"rope_type": "yarn", "rope_theta": 50000.0, **yarn}
    assert ModelConfig.from_hf(new) == ModelConfig.from_hf(old)
    default = {**new, "rope_parameters": {"rope_type": "default", "rope_theta": 1234.0}}
    assert ModelConfig.from_hf(default).rope_scaling is None
    assert ModelConfig.from_hf(default).rope_theta == 1234.0


def test_deepseek_v3_model_type_and_unknown_keys():
    hf = {**KIMI_K2_CONFIG_JSON, "model_type": "deepseek_v3", "some_future_key": [1, 2, 3]}
    assert ModelConfig.from_hf(hf).model_type == "deepseek_v3"


def test_null_q_lora_rank_means_no_q_compression():
    assert ModelConfig.from_hf({**KIMI_K2_CONFIG_JSON, "q_lora_rank": None}).q_lora_rank is None


@pytest.mark.parametrize("key", ["hidden_size", "kv_lora_rank", "vocab_size", "moe_intermediate_size"])
def test_missing_required_key_is_named(key):
    hf = {k: v for k, v in KIMI_K2_CONFIG_JSON.items() if k != key}
    with pytest.raises(ValueError, match=f"missing required key '{key}'"):
        ModelConfig.from_hf(hf)


@pytest.mark.parametrize(
    "override, message",
    [
        ({"model_type": "llama"}, "unsupported model_type 'llama'"),
        ({"scoring_func": "softmax"}, "unsupported scoring_func"),
        ({"quantization_config": {"quant_method": "gptq"}}, "unsupported quantization_config"),
        ({"n_group": 5}, "divisible by n_group"),
        ({"rope_scaling": {"type": "linear", "factor": 2.0}}, "unsupported rope_scaling type 'linear'"),
    ],
)
def test_invalid_configs_give_clear_errors(override, message):
    with pytest.raises(ValueError, match=message):
        ModelConfig.from_hf({**KIMI_K2_CONFIG_JSON, **override})


@pytest.mark.parametrize("name", PRESETS)
def test_to_hf_round_trips(name):
    config = preset(name)
    back = ModelConfig.from_hf(config.to_hf())
    assert fields(back, "model_type") == fields(config, "model_type")


def test_unknown_preset():
    with pytest.raises(ValueError, match="unknown preset 'k3'"):
        preset("k3")


@pytest.mark.parametrize("tie", [False, True])
def test_counts_equal_a_full_model_build(tie):
    import torch

    from openk2.model import CausalLM, MoE

    config = preset("nano", tie_word_embeddings=tie, num_hidden_layers=3)
    with torch.device("meta"):
        model = CausalLM(config)
    total = sum(p.numel() for p in model.parameters())
    routed = sum(p.numel() for l in model.model.layers if isinstance(l.mlp, MoE) for p in l.mlp.experts.parameters())
    visited = routed * config.num_experts_per_tok // config.n_routed_experts
    assert count_parameters(config) == (total, total - routed + visited)


def test_with_max_len_stretches_the_context_by_yarn():
    """Shorter than trained: only the limit moves. Longer: YaRN's factor grows until original x factor covers it
    (K2-style YaRN kept and stretched; a model without YaRN gets DeepSeek-V3's)."""
    nano = preset("nano")
    assert nano.max_position_embeddings >= 32768  # Claude Code's 8-23K-token prompts fit the default
    short = nano.with_max_len(2048)
    assert short.max_position_embeddings == 2048 and short.rope_scaling == nano.rope_scaling
    longer = nano.with_max_len(65536)
    assert longer.max_position_embeddings == 65536 and longer.rope_scaling["factor"] == 64.0
    assert longer.rope_scaling["original_max_position_embeddings"] == 1024 and nano.rope_scaling["factor"] == 32.0
    plain = preset("moonlight-16b-a3b").with_max_len(32768)
    assert plain.rope_scaling["factor"] == 4.0 and plain.rope_scaling["original_max_position_embeddings"] == 8192
    assert plain.softmax_scale > preset("moonlight-16b-a3b").softmax_scale  # YaRN's attention temperature
    with pytest.raises(ValueError, match="--max-model-len"):
        nano.with_max_len(0)
