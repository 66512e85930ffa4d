"""Weight-only int8 quantisation: per-row scales, the int8 kernel, and a quantised model close to the original."""

from __future__ import annotations

import pytest
import torch
from hf_reference import make_hf_model
from torch import nn

from openk2.checkpoint import load_model, save_model
from openk2.engine import EngineConfig, LLMEngine, SamplingParams
from openk2.quant import Int8Linear, quantize_int8_, quantize_weight


def test_quantize_weight_error_is_at_most_half_a_step():
    w = torch.randn(48, 64) * torch.logspace(-3, 1, 48)[:, None]  # rows of very different scale
    q, scale = quantize_weight(w)
    assert q.dtype == torch.int8 and q.abs().max() <= 127
    assert ((q.float() * scale[:, None] - w).abs() <= scale[:, None] / 2 + 1e-7).all()


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("rows", [1, 5])
def test_int8_linear_equals_the_dequantised_matrix_product(dtype, rows):
    linear = nn.Linear(64, 40, bias=False).to(dtype)
    layer = Int8Linear(linear)
    x = torch.randn(2, rows, 64, dtype=dtype)
    reference = x.float() @ (layer.weight.float() * layer.scale.float()[:, None]).t()
    got = layer(x)
    assert got.shape == (2, rows, 40) and got.dtype == dtype
    tolerance = 1e-4 if dtype == torch.float32 else 3e-2
    assert (got.float() - reference).abs().max() <= tolerance * reference.abs().max()


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    path = tmp_path_factory.mktemp("quant_ckpt")
    make_hf_model(seed=31, weight_std=0.08, n_routed_experts=16, n_group=4, topk_group=2).save_pretrained(path)
    return path


def test_quantised_model_stays_close_and_skips_what_the_kernel_cannot_take(checkpoint):
    reference = load_model(checkpoint)
    model = quantize_int8_(load_model(checkpoint))
    attention = model.model.layers[0].self_attn
    assert isinstance(attention.kv_a_proj_with_mqa, Int8Linear) and isinstance(model.lm_head, Int8Linear)
    assert isinstance(attention.q_b_proj, nn.Linear)  # input size 24: not a multiple of 16, kept
    assert isinstance(attention.kv_b_proj, nn.Linear)  # read directly by the absorbed attention, kept
    experts = model.model.layers[1].mlp.experts
    assert isinstance(experts[0].gate_up, Int8Linear) and not hasattr(experts[0], "gate_proj")
    ids = torch.randint(0, 320, (2, 30), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected, got = reference(ids), model(ids)
    cosine = torch.nn.functional.cosine_similarity(got.flatten(), expected.flatten(), dim=0)
    # Random routers sit near ties, so a token may switch experts: close, not equal (measured 0.9993 / 1.0).
    assert cosine > 0.995
    assert (got.argmax(-1) == expected.argmax(-1)).float().mean() > 0.9
    with pytest.raises(ValueError, match="quantised"):
        save_model(model, checkpoint / "never")


def test_engine_runs_int8_and_its_cached_logits_match_the_quantised_model(checkpoint):
    engine = LLMEngine(load_model(checkpoint), config=EngineConfig(cache_budget_bytes=2 * 1024**2, block_size=4,
                                                                   quantize="int8"))
    prompt = list(range(3, 20))
    out = engine.generate([prompt], SamplingParams(max_tokens=10, temperature=0, ignore_eos=True, logprobs=True))[0]
    with torch.no_grad():
        logits = engine.model(torch.tensor([prompt + out.token_ids[:-1]]))[0, len(prompt) - 1:]
    assert out.token_ids == logits.argmax(-1).tolist()
    expected = logits.log_softmax(-1).gather(1, torch.tensor(out.token_ids)[:, None]).squeeze(1)
    assert torch.allclose(torch.tensor(out.logprobs), expected, atol=1e-3)


def test_unknown_quantization_is_refused(checkpoint):
    with pytest.raises(ValueError, match="unknown quantization 'int3'"):
        LLMEngine(load_model(checkpoint), config=EngineConfig(cache_budget_bytes=2 * 1024**2, quantize="int3"))
