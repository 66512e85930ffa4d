"""K2-Thinking's native INT4: a compressed-tensors pack-quantized checkpoint (written here by the compressed-tensors
library itself) loads straight into the int4 kernels, its packed words used as stored, and decodes like the
dequantised model."""

from __future__ import annotations

import json
import re

import pytest
import torch
from hf_reference import make_hf_model
from safetensors.torch import load_file, save_file

from openk2 import kernels
from openk2.checkpoint import load_model
from openk2.config import ModelConfig, preset
from openk2.engine import EngineConfig, LLMEngine, SamplingParams
from openk2.quant import dequantize_int4, quantize_int4

ct = pytest.importorskip("compressed_tensors")
from compressed_tensors.compressors import PackedQuantizationCompressor  # noqa: E402
from compressed_tensors.quantization import QuantizationArgs, QuantizationScheme  # noqa: E402
from compressed_tensors.quantization.utils import calculate_qparams  # noqa: E402

pytestmark = pytest.mark.skipif(not kernels.available(), reason="int4 runs on openk2's kernels (a C compiler)")

ROUTED = re.compile(r"\.mlp\.experts\.\d+\.(gate|up|down)_proj\.weight$")
ARGS = dict(num_bits=4, type="int", symmetric=True, strategy="group", group_size=32)
# As in K2-Thinking's config.json: routed experts int4, everything else (attention, shared experts, dense MLP,
# lm_head) left in bf16.
QUANTIZATION_CONFIG = {
    "quant_method": "compressed-tensors", "format": "pack-quantized", "quantization_status": "compressed",
    "config_groups": {"group_0": {"targets": ["Linear"], "weights": {**ARGS, "dynamic": False, "observer": "minmax"},
                                  "input_activations": None, "output_activations": None}},
    "ignore": ["lm_head", "re:.*self_attn.*", "re:.*shared_experts.*", r"re:.*mlp\.(gate|up|down)_proj.*"],
    "kv_cache_scheme": None,
}


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    """(int4 checkpoint, the same model with its experts dequantised to bf16, file tensors of the int4 one)."""
    root = tmp_path_factory.mktemp("int4_ckpt")
    hf = make_hf_model(seed=41, weight_std=0.08, n_routed_experts=8, num_experts_per_tok=2)
    hf.save_pretrained(root / "float")
    state = load_file(root / "float" / "model.safetensors")
    scheme = QuantizationScheme(targets=["Linear"], weights=QuantizationArgs(**ARGS))
    packed, dequantised = {}, {}
    for name, weight in state.items():
        if not ROUTED.search(name):
            packed[name] = dequantised[name] = weight.to(torch.bfloat16)
            if ".shared_experts." in name:  # openk2 quantises these to int4 at load, to run them in the same call
                dequantised[name] = dequantize_int4(*quantize_int4(packed[name])).to(torch.bfloat16)
            continue
        groups = weight.float().unflatten(-1, (-1, 32))
        scale, _ = calculate_qparams(groups.amin(-1), groups.amax(-1), scheme.weights)
        module = name.removesuffix(".weight")
        parts = PackedQuantizationCompressor.compress({"weight": weight, "weight_scale": scale.to(torch.bfloat16)},
                                                      scheme)
        for part, tensor in parts.items():
            packed[f"{module}.{part}"] = tensor
        dequantised[name] = PackedQuantizationCompressor.decompress(parts, scheme)["weight"].to(torch.bfloat16)
    config = json.loads((root / "float" / "config.json").read_text())
    for kind, tensors, extra in (("int4", packed, {"quantization_config": QUANTIZATION_CONFIG}),
                                 ("dequantised", dequantised, {})):
        (root / kind).mkdir()
        save_file(tensors, root / kind / "model.safetensors", metadata={"format": "pt"})
        (root / kind / "config.json").write_text(json.dumps({**config, **extra, "torch_dtype": "bfloat16"}))
    return root / "int4", root / "dequantised", packed


def test_the_config_is_read_and_other_schemes_are_refused_in_one_line():
    assert ModelConfig.from_hf({**preset("nano").to_hf(), "quantization_config": QUANTIZATION_CONFIG})
    for key, value in (("group_size", 128), ("num_bits", 8), ("symmetric", False)):
        bad = json.loads(json.dumps(QUANTIZATION_CONFIG))
        bad["config_groups"]["group_0"]["weights"][key] = value
        with pytest.raises(ValueError, match=rf"config_groups\.group_0\.weights\.{key} is"):
            ModelConfig.from_hf({**preset("nano").to_hf(), "quantization_config": bad})


def test_packed_words_load_as_they_are_without_a_float_copy(checkpoints):
    path, _, tensors = checkpoints
    model = load_model(path, dtype=torch.bfloat16)
    expert = model.model.layers[1].mlp.experts[3]
    assert expert.gate_proj.weight.is_meta  # never materialised as a float matrix
    engine = LLMEngine(model, config=EngineConfig(cache_budget_bytes=2 * 1024**2, block_size=4))
    ffn = engine.model.model.layers[1].mlp
    inter = expert.down_proj.in_features
    assert ffn.w13.fmt == kernels.FORMATS["int4"]
    word_bytes = tensors["model.layers.1.mlp.experts.3.gate_proj.weight_packed"].view(torch.uint8)
    assert torch.equal(ffn.w13.weight[3, :inter], word_bytes)
    scale = tensors["model.layers.1.mlp.experts.3.down_proj.weight_scale"].float()
    assert torch.equal(ffn.w2.scale[3], scale)


def test_int4_checkpoint_decodes_like_its_dequantised_weights(checkpoints):
    int4_path, float_path, _ = checkpoints
    config = EngineConfig(cache_budget_bytes=2 * 1024**2, block_size=4)
    int4 = LLMEngine(load_model(int4_path, dtype=torch.bfloat16), config=config)
    reference = LLMEngine(load_model(float_path, dtype=torch.bfloat16), config=config)
    prompt = list(range(5, 40))
    with torch.no_grad():
        got, expected = int4.model(torch.tensor([prompt])), reference.model(torch.tensor([prompt]))
    # Differences: the kernels' int8 activations and the shared expert quantised to int4 at load.
    cosine = torch.nn.functional.cosine_similarity(got.flatten(), expected.flatten(), dim=0)
    assert cosine > 0.99, cosine
    assert (got.argmax(-1) == expected.argmax(-1)).float().mean() >= 0.9
    out = int4.generate([prompt], SamplingParams(max_tokens=8, temperature=0, ignore_eos=True))[0]
    assert len(out.token_ids) == 8
