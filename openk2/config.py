"""ModelConfig: the K2 / DeepSeek-V3 architecture's hyper-parameters, named as in HF config.json."""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

SUPPORTED_MODEL_TYPES = ("deepseek_v3", "kimi_k2")

# Keys that fix tensor shapes: a config.json without them cannot describe a checkpoint,
# so they have no defaults (silently assuming DeepSeek-V3's 671B shape would be worse).
REQUIRED_KEYS = (
    "vocab_size",
    "hidden_size",
    "intermediate_size",
    "num_hidden_layers",
    "num_attention_heads",
    "kv_lora_rank",
    "qk_nope_head_dim",
    "qk_rope_head_dim",
    "v_head_dim",
)
REQUIRED_MOE_KEYS = ("moe_intermediate_size", "num_experts_per_tok")


@dataclass
class ModelConfig:
    """One flat dataclass; field names are the HF config.json keys of DeepSeek-V3 / Kimi-K2."""

    vocab_size: int
    hidden_size: int
    intermediate_size: int  # dense SwiGLU width (the first_k_dense_replace layers)
    num_hidden_layers: int
    num_attention_heads: int
    kv_lora_rank: int  # C: width of the compressed KV latent that MLA caches
    qk_nope_head_dim: int
    qk_rope_head_dim: int  # R: rotary part of q/k, one rope key shared by all heads
    v_head_dim: int
    q_lora_rank: int | None = None  # None: q = q_proj(x) without compression
    n_routed_experts: int | None = None  # None: every layer is dense
    num_experts_per_tok: int | None = None
    moe_intermediate_size: int | None = None
    n_shared_experts: int | None = None
    first_k_dense_replace: int = 0
    moe_layer_freq: int = 1
    n_group: int = 1
    topk_group: int = 1
    norm_topk_prob: bool = True
    routed_scaling_factor: float = 1.0
    scoring_func: str = "sigmoid"
    topk_method: str = "noaux_tc"
    hidden_act: str = "silu"
    rope_theta: float = 10000.0
    rope_scaling: dict[str, Any] | None = None  # YaRN: type, factor, original_max_position_embeddings, ...
    max_position_embeddings: int = 4096
    rms_norm_eps: float = 1e-6
    tie_word_embeddings: bool = False
    attention_bias: bool = False
    initializer_range: float = 0.02
    num_nextn_predict_layers: int = 0
    bos_token_id: int | None = None
    eos_token_id: int | list[int] | None = None
    pad_token_id: int | None = None
    model_type: str = "kimi_k2"
    quantization_config: dict[str, Any] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.model_type not in SUPPORTED_MODEL_TYPES:
            raise ValueError(
                f"unsupported model_type {self.model_type!r}: openk2 runs "
                f"{' / '.join(SUPPORTED_MODEL_TYPES)} checkpoints"
            )
        if self.scoring_func != "sigmoid":
            raise ValueError(f"unsupported scoring_func {self.scoring_func!r}: K2 / DeepSeek-V3 routers use 'sigmoid'")
        if self.hidden_act != "silu":
            raise ValueError(f"unsupported hidden_act {self.hidden_act!r}: only 'silu' (SwiGLU) is implemented")
        if self.n_routed_experts:
            if self.n_routed_experts % self.n_group:
                raise ValueError(f"n_routed_experts ({self.n_routed_experts}) must be divisible by n_group ({self.n_group})")
            if not 1 <= self.topk_group <= self.n_group:
                raise ValueError(f"topk_group ({self.topk_group}) must be between 1 and n_group ({self.n_group})")
            per_group = self.n_routed_experts // self.n_group
            if self.n_group > 1 and per_group < 2:
                raise ValueError("group-limited routing scores each group by its top-2 experts: need >= 2 experts per group")
            if self.num_experts_per_tok > self.topk_group * per_group:
                raise ValueError(
                    f"num_experts_per_tok ({self.num_experts_per_tok}) exceeds the experts in the "
                    f"topk_group ({self.topk_group}) selected groups ({self.topk_group * per_group})"
                )
        if self.rope_scaling is not None:
            kind = self.rope_scaling.get("type", self.rope_scaling.get("rope_type"))
            if kind != "yarn":
                raise ValueError(f"unsupported rope_scaling type {kind!r}: K2 uses 'yarn'")
            for key in ("factor", "original_max_position_embeddings"):
                if key not in self.rope_scaling:
                    raise ValueError(f"rope_scaling (yarn) is missing {key!r}")

    # ---- derived sizes -------------------------------------------------------------------
    @property
    def qk_head_dim(self) -> int:
        return self.qk_nope_head_dim + self.qk_rope_head_dim

    def is_moe_layer(self, layer_idx: int) -> bool:
        return (
            bool(self.n_routed_experts)
            and layer_idx >= self.first_k_dense_replace
            and layer_idx % self.moe_layer_freq == 0
        )

    @property
    def softmax_scale(self) -> float:
        """1/sqrt(d_qk), times YaRN's mscale^2 when mscale_all_dim is set (as DeepSeek-V3 and transformers do)."""
        scale = self.qk_head_dim**-0.5
        if self.rope_scaling and self.rope_scaling.get("mscale_all_dim"):
            mscale = yarn_mscale(self.rope_scaling["factor"], self.rope_scaling["mscale_all_dim"])
            scale *= mscale * mscale
        return scale

    def with_max_len(self, max_len: int) -> ModelConfig:
        """This config serving `max_len` tokens of context. Shorter than max_position_embeddings: only the limit
        changes. Longer: YaRN's factor grows so that original_max_position_embeddings x factor covers max_len (a
        model without YaRN gets it, from its own max_position_embeddings, with DeepSeek-V3's settings). The rotary
        frequencies of the slow dimensions then differ from those the model was trained with: quality past the
        trained context is YaRN's, without the fine-tuning that usually follows it."""
        if not isinstance(max_len, int) or max_len < 2:
            raise ValueError(f"the context length (--max-model-len) must be an integer >= 2, got {max_len!r}")
        if max_len <= self.max_position_embeddings:
            return replace(self, max_position_embeddings=max_len)
        yarn = dict(self.rope_scaling or dict(type="yarn", factor=1.0, beta_fast=32, beta_slow=1, mscale=1.0,
                                              mscale_all_dim=1.0,
                                              original_max_position_embeddings=self.max_position_embeddings))
        yarn["factor"] = max(float(yarn["factor"]), max_len / yarn["original_max_position_embeddings"])
        return replace(self, max_position_embeddings=max_len, rope_scaling=yarn)

    def kv_cache_bytes_per_token(self, bytes_per_number: int = 2) -> int:
        """MLA caches only the normalised latent (C) and the rope key (R) per token and layer."""
        return (self.kv_lora_rank + self.qk_rope_head_dim) * self.num_hidden_layers * bytes_per_number

    # ---- HF config.json ------------------------------------------------------------------
    @classmethod
    def from_hf(cls, hf: dict[str, Any]) -> ModelConfig:
        """Build from a HF config.json dict; unknown keys are ignored, missing shape keys are an error."""
        if "model_type" not in hf:
            raise ValueError("config.json has no 'model_type' (expected one of: " + ", ".join(SUPPORTED_MODEL_TYPES) + ")")
        if hf["model_type"] not in SUPPORTED_MODEL_TYPES:
            raise ValueError(
                f"unsupported model_type {hf['model_type']!r}: openk2 runs "
                f"{' / '.join(SUPPORTED_MODEL_TYPES)} checkpoints"
            )
        for key in REQUIRED_KEYS:
            if hf.get(key) is None:
                raise ValueError(f"config.json is missing required key {key!r}")
        if hf.get("n_routed_experts"):
            for key in REQUIRED_MOE_KEYS:
                if hf.get(key) is None:
                    raise ValueError(f"config.json is missing required key {key!r} (needed when n_routed_experts is set)")

        known = {f.name for f in dataclasses.fields(cls)}
        kwargs = {k: v for k, v in hf.items() if k in known and v is not None}
        kwargs["q_lora_rank"] = hf.get("q_lora_rank")  # null is meaningful: no q compression
        kwargs["rope_theta"], kwargs["rope_scaling"] = _rope_from_hf(hf)
        quant = hf.get("quantization_config")
        if quant is not None and quant.get("quant_method") == "compressed-tensors":
            check_pack_quantized(quant)
        elif quant is not None and quant.get("quant_method") != "fp8":
            raise ValueError(
                f"unsupported quantization_config.quant_method {quant.get('quant_method')!r}: openk2 loads unquantised, "
                "FP8 block-scaled and compressed-tensors int4 (pack-quantized) checkpoints"
            )
        return cls(**kwargs)

    @property
    def is_pack_quantized(self) -> bool:
        """K2-Thinking's native INT4: compressed-tensors pack-quantized weights (weight_packed + weight_scale)."""
        return (self.quantization_config or {}).get("quant_method") == "compressed-tensors"

    def to_hf(self) -> dict[str, Any]:
        """The config.json that transformers' DeepseekV3ForCausalLM loads (and from_hf reads back)."""
        hf = {k: v for k, v in dataclasses.asdict(self).items() if k != "quantization_config"}
        # transformers knows the architecture as deepseek_v3; kimi_k2 is the same network
        # but needs the checkpoint's remote code, so we always write the portable name.
        hf["model_type"] = "deepseek_v3"
        hf["architectures"] = ["DeepseekV3ForCausalLM"]
        hf["num_key_value_heads"] = self.num_attention_heads
        hf["rope_interleave"] = True
        if hf["rope_scaling"] is not None:
            hf["rope_scaling"] = {"type": "yarn", **{k: v for k, v in hf["rope_scaling"].items() if k not in ("type", "rope_type")}}
        return hf

    @classmethod
    def from_json_file(cls, path: str | Path) -> ModelConfig:
        path = Path(path)
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise FileNotFoundError(f"no config file at {path}") from None
        except json.JSONDecodeError as e:
            raise ValueError(f"{path} is not valid JSON: {e}") from None
        if not isinstance(data, dict):
            raise ValueError(f"{path} must hold a JSON object")
        return cls.from_hf(data)


def _rope_from_hf(hf: dict[str, Any]) -> tuple[float, dict[str, Any] | None]:
    """Accept both spellings: older `rope_theta` + `rope_scaling`, newer `rope_parameters`."""
    params = hf.get("rope_parameters")
    if params:
        params = dict(params)
        theta = params.pop("rope_theta", hf.get("rope_theta", 10000.0))
        kind = params.get("rope_type", params.get("type", "default"))
        if kind == "default":
            return float(theta), None
        params.pop("rope_type", None)
        params["type"] = kind
        params.setdefault("original_max_position_embeddings", hf.get("max_position_embeddings"))
        return float(theta), params
    scaling = hf.get("rope_scaling")
    if scaling:
        scaling = dict(scaling)
        kind = scaling.pop("rope_type", scaling.get("type", "default"))
        scaling["type"] = kind
        if kind == "default":
            scaling = None
    return float(hf.get("rope_theta", 10000.0)), scaling or None


def yarn_mscale(scale: float, mscale: float = 1.0) -> float:
    """YaRN's attention temperature correction, 0.1 * m * ln(s) + 1 (1 when not extrapolating)."""
    return 1.0 if scale <= 1 else 0.1 * mscale * math.log(scale) + 1.0


# ---- presets: one line of kwargs each -------------------------------------------------------
_K2_ROPE = dict(type="yarn", factor=32.0, original_max_position_embeddings=4096, beta_fast=1.0, beta_slow=1.0, mscale=1.0, mscale_all_dim=1.0)

PRESETS: dict[str, dict[str, Any]] = {
    # moonshotai/Kimi-K2-Instruct config.json (1.04T total, 32.6B active).
    "kimi-k2": dict(
        model_type="kimi_k2", vocab_size=163840, hidden_size=7168, intermediate_size=18432, moe_intermediate_size=2048,
        num_hidden_layers=61, num_attention_heads=64, q_lora_rank=1536, kv_lora_rank=512, qk_nope_head_dim=128,
        qk_rope_head_dim=64, v_head_dim=128, n_routed_experts=384, num_experts_per_tok=8, n_shared_experts=1,
        first_k_dense_replace=1, n_group=1, topk_group=1, norm_topk_prob=True, routed_scaling_factor=2.827,
        rope_theta=50000.0, rope_scaling=_K2_ROPE, max_position_embeddings=131072, rms_norm_eps=1e-6,
        bos_token_id=163584, eos_token_id=163585,
    ),
    # moonshotai/Moonlight-16B-A3B config.json (16B total, 3B active; no q compression).
    "moonlight-16b-a3b": dict(
        model_type="deepseek_v3", vocab_size=163840, hidden_size=2048, intermediate_size=11264, moe_intermediate_size=1408,
        num_hidden_layers=27, num_attention_heads=16, q_lora_rank=None, kv_lora_rank=512, qk_nope_head_dim=128,
        qk_rope_head_dim=64, v_head_dim=128, n_routed_experts=64, num_experts_per_tok=6, n_shared_experts=2,
        first_k_dense_replace=1, n_group=1, topk_group=1, norm_topk_prob=True, routed_scaling_factor=2.446,
        rope_theta=50000.0, max_position_embeddings=8192, rms_norm_eps=1e-5, bos_token_id=163584, eos_token_id=163585,
    ),
    # Ours: K2's shape scaled down to train and run on a laptop CPU (~100M total, ~35M active).
    # Vocab = 16,128 BPE ranks + K2's 256 special-token slots. Context: 32K by YaRN (32x past a 1K pretraining
    # context, as K2 does past 4K), so that an agent front-end's 8-23K-token prompt (Claude Code's) fits.
    "nano": dict(
        model_type="kimi_k2", vocab_size=16384, hidden_size=512, intermediate_size=1536, moe_intermediate_size=256,
        num_hidden_layers=8, num_attention_heads=8, q_lora_rank=None, kv_lora_rank=128, qk_nope_head_dim=64,
        qk_rope_head_dim=32, v_head_dim=64, n_routed_experts=32, num_experts_per_tok=4, n_shared_experts=1,
        first_k_dense_replace=1, n_group=1, topk_group=1, norm_topk_prob=True, routed_scaling_factor=2.5,
        rope_theta=50000.0, max_position_embeddings=32768, rms_norm_eps=1e-6,
        rope_scaling=dict(_K2_ROPE, factor=32.0, original_max_position_embeddings=1024),
        bos_token_id=16128, eos_token_id=16129,
    ),
}


def preset(name: str, **overrides: Any) -> ModelConfig:
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose from: {', '.join(PRESETS)}")
    return ModelConfig(**{**PRESETS[name], **overrides})


def check_pack_quantized(quant: dict[str, Any]) -> None:
    """Accept the compressed-tensors schemes openk2's int4 kernels run as they are: pack-quantized, int4,
    symmetric, groups of 32 (K2-Thinking's); one-line errors naming the field otherwise."""
    where = "quantization_config"
    if quant.get("format") != "pack-quantized":
        raise ValueError(f"{where}.format {quant.get('format')!r} is not supported: openk2 loads compressed-tensors "
                         "checkpoints in the pack-quantized format")
    groups = quant.get("config_groups") or {}
    if not groups:
        raise ValueError(f"{where}.config_groups is empty: nothing says how the weights are quantised")
    want = {"num_bits": 4, "type": "int", "symmetric": True, "strategy": "group", "group_size": 32}
    for name, group in groups.items():
        weights = group.get("weights") or {}
        for key, value in want.items():
            if weights.get(key) != value:
                raise ValueError(f"{where}.config_groups.{name}.weights.{key} is {weights.get(key)!r}; openk2's int4 "
                                 f"kernels take {key} = {value!r} (K2-Thinking's scheme)")
        if group.get("input_activations") is not None:
            raise ValueError(f"{where}.config_groups.{name}.input_activations is set: openk2 runs weight-only schemes")
