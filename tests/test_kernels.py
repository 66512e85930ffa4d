"""openk2's C kernels against torch references, in both builds: native (AVX2/FMA where the CPU has them) and
portable (plain x86-64, the scalar fallback a CPU without AVX2 runs); batch invariance; the torch-only path."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from openk2 import kernels
from openk2.model import MLP, absorbed_attention, route
from openk2.quant import dequantize_int4, quantize_int4

FORMATS = [torch.float32, torch.bfloat16, "int8", "int4"]


@pytest.fixture(params=["native", "portable"], autouse=True)
def build(request, monkeypatch):
    monkeypatch.setenv("OPENK2_KERNELS", request.param)
    if not kernels.available():
        pytest.skip("no C compiler here")
    expected = {"native": ("avx2", "scalar"), "portable": ("scalar",)}[request.param]
    assert kernels.isa() in expected
    return request.param


def dequantised(p: kernels.Packed) -> torch.Tensor:
    """The float matrices [G, O, I] a Packed stands for."""
    if p.fmt == kernels.FORMATS["int4"]:
        return torch.stack([dequantize_int4(p.weight[g], p.scale[g]) for g in range(p.groups)])
    if p.fmt == kernels.FORMATS["int8"]:
        return p.weight.float() * p.scale[..., None]
    return p.weight.float()


def quantised_rows(x: torch.Tensor) -> torch.Tensor:
    """Activations as the integer kernels see them: int8 per block of 32 with scale amax/127 (round half even)."""
    blocks = x.reshape(*x.shape[:-1], -1, 32)
    scale = blocks.abs().amax(-1, keepdim=True) / 127
    q = torch.where(scale > 0, blocks / scale, torch.zeros_like(blocks)).round()
    return (q * scale).reshape(x.shape)


@pytest.mark.parametrize("fmt", FORMATS)
def test_grouped_linear_equals_the_matrix_product_it_stands_for(fmt):
    torch.manual_seed(0)
    w = torch.randn(3, 37, 96)  # 37 rows: a partial chunk of 16; 96 inputs: three quantisation blocks
    p = kernels.pack(w, fmt)
    x = torch.randn(6, 3, 96)  # 6 tokens: a tile of 4 and a tile of 2
    got = kernels.grouped_linear(x, p)
    integer = fmt in ("int8", "int4")
    inputs = quantised_rows(x) if integer else x  # bf16 weights multiply float32 activations
    exact = torch.einsum("ngi,goi->ngo", inputs.double(), dequantised(p).double()).float()
    assert (got - exact).abs().max() <= 1e-5 * exact.abs().max()
    # and against the unquantised weights: the quantisation error stays small
    loose = torch.einsum("ngi,goi->ngo", x, w)
    tolerance = {torch.float32: 1e-5, torch.bfloat16: 2e-2, "int8": 2e-2, "int4": 0.2}[fmt]
    assert (got - loose).norm() <= tolerance * loose.norm()


def test_int4_packing_is_compressed_tensors_layout():
    """Value 2j in the low nibble of byte j, 2j+1 in the high one, stored as v + 8; the extreme maps to -8."""
    w = torch.zeros(1, 32)
    w[0, 0], w[0, 1], w[0, 2] = -8.0, 4.0, 2.0
    q, scale = quantize_int4(w)
    assert scale.item() == 1.0
    assert q[0, 0].item() == (4 + 8) << 4 | (-8 + 8) and q[0, 1].item() == 8 << 4 | (2 + 8)
    assert torch.equal(dequantize_int4(q, scale), w)
    w = torch.randn(5, 64)
    assert (dequantize_int4(*quantize_int4(w)) - w).abs().max() <= w.abs().max() / 8


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_row_gives_the_same_bits_alone_and_in_any_batch(fmt):
    torch.manual_seed(1)
    p = kernels.pack(torch.randn(1, 50, 64), fmt)
    x = torch.randn(9, 1, 64)
    batch = kernels.grouped_linear(x, p)
    for n in range(9):
        assert torch.equal(kernels.grouped_linear(x[n:n + 1], p), batch[n:n + 1])
    assert torch.equal(kernels.linear(x[3, 0], p), batch[3, 0])


@pytest.mark.parametrize("fmt", FORMATS)
def test_fused_moe_equals_the_experts_one_by_one(fmt):
    torch.manual_seed(2)
    D, inter, E, K, N = 64, 32, 6, 2, 7
    experts = [MLP(D, inter) for _ in range(E)]
    w13 = torch.stack([torch.cat([m.gate_proj.weight, m.up_proj.weight]) for m in experts]).detach()
    w2 = torch.stack([m.down_proj.weight for m in experts]).detach()
    p13, p2 = kernels.pack(w13, fmt), kernels.pack(w2, fmt)
    # The reference runs the packed (dequantised) weights, so only the kernels' arithmetic is compared.
    for m, a, b in zip(experts, dequantised(p13), dequantised(p2)):
        m.gate_proj.weight.data, m.up_proj.weight.data, m.down_proj.weight.data = a[:inter], a[inter:], b
    x = torch.randn(N, D)
    ids = torch.stack([torch.randperm(E)[:K] for _ in range(N)])
    weights = torch.rand(N, K)
    got = kernels.moe(x, ids, weights, p13, p2)
    with torch.no_grad():
        expected = torch.stack([sum(weights[n, k] * experts[ids[n, k]](x[n]) for k in range(K)) for n in range(N)])
    tolerance = {torch.float32: 1e-5, torch.bfloat16: 1e-2, "int8": 3e-2, "int4": 5e-2}[fmt]
    assert (got - expected).norm() <= tolerance * expected.norm()
    alone = torch.cat([kernels.moe(x[n:n + 1], ids[n:n + 1], weights[n:n + 1], p13, p2) for n in range(N)])
    assert torch.equal(alone, got)  # batch-invariant, experts shared by several tokens included


@pytest.mark.parametrize("kv_dtype", [torch.float32, torch.bfloat16])
def test_attention_over_cache_slots_equals_absorbed_attention(kv_dtype):
    torch.manual_seed(3)
    C, R, P, L, H = 32, 8, 40, 11, 3
    cache = torch.randn(P, C + R).to(kv_dtype)
    slots = torch.randperm(P)[:L]
    q = torch.randn(H, C + R)
    mask = torch.ones(1, H, L, dtype=torch.bool)
    expected = absorbed_attention(q[None], cache[slots][None].float(), mask, 0.3, C)[0]  # float32 queries, as the kernel
    got = kernels.attention(q, cache, slots, torch.zeros(H, dtype=torch.long), torch.full((H,), L), 0.3, C)
    assert torch.allclose(got, expected, atol=1e-5, rtol=1e-4)
    # a shorter context reads a prefix of the slots: a prompt token's causal view
    short = kernels.attention(q[:1], cache, slots, torch.zeros(1, dtype=torch.long), torch.tensor([4]), 0.3, C)
    expected = absorbed_attention(q[None, :1].float(), cache[slots[:4]][None].float(), mask[..., :1, :4], 0.3, C)[0]
    assert torch.allclose(short, expected, atol=1e-5, rtol=1e-4)


def test_router_scores_through_the_float_kernel_pick_the_same_experts():
    torch.manual_seed(4)
    gate = torch.randn(16, 64)
    x = torch.randn(20, 64)
    scores = kernels.linear(x, kernels.pack(gate, torch.float32)).sigmoid()
    expected = F.linear(x, gate).sigmoid()
    assert torch.allclose(scores, expected, atol=1e-6)
    bias = torch.zeros(16)
    assert torch.equal(route(scores, bias, 4, 4, 2, True, 2.5)[1], route(expected, bias, 4, 4, 2, True, 2.5)[1])


# ---- odd sizes and bad indices: the paths where index arithmetic goes wrong -----------------------------------


@pytest.mark.parametrize("fmt", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("cols", [1, 15, 17, 45])
def test_float_kernels_take_any_input_size(fmt, cols):
    """The AVX2 loop takes 16 inputs a step; the rest go through the scalar tail (1 row: no chunk is full)."""
    torch.manual_seed(5)
    w = torch.randn(2, 1, cols)
    p = kernels.pack(w, fmt)
    x = torch.randn(5, 2, cols)
    got = kernels.grouped_linear(x, p)
    exact = torch.einsum("ngi,goi->ngo", x.double(), p.weight.double()).float()
    assert torch.allclose(got, exact, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("fmt", ["int8", "int4"])
def test_fused_moe_with_only_one_side_quantisable(fmt):
    """D a multiple of 32 but the expert width not (and the reverse): gate|up and down sit in different
    formats, and each must be read as its own (reading both as one ran off the end of the smaller one)."""
    torch.manual_seed(6)
    for D, inter in ((64, 40), (40, 64)):
        E, K, N = 5, 2, 6
        experts = [MLP(D, inter) for _ in range(E)]
        w13 = torch.stack([torch.cat([m.gate_proj.weight, m.up_proj.weight]) for m in experts]).detach()
        w2 = torch.stack([m.down_proj.weight for m in experts]).detach()
        f13 = fmt if D % 32 == 0 else torch.float32
        f2 = fmt if inter % 32 == 0 else torch.float32
        p13, p2 = kernels.pack(w13, f13), kernels.pack(w2, f2)
        for m, a, b in zip(experts, dequantised(p13), dequantised(p2)):
            m.gate_proj.weight.data, m.up_proj.weight.data, m.down_proj.weight.data = a[:inter], a[inter:], b
        x = torch.randn(N, D)
        ids = torch.stack([torch.randperm(E)[:K] for _ in range(N)])
        weights = torch.rand(N, K)
        got = kernels.moe(x, ids, weights, p13, p2)
        with torch.no_grad():
            expected = torch.stack([sum(weights[n, k] * experts[ids[n, k]](x[n]) for k in range(K)) for n in range(N)])
        assert (got - expected).norm() <= 5e-2 * expected.norm(), (D, inter)


def test_kernel_ffn_on_a_width_that_is_not_a_multiple_of_32():
    """use_kernels(quantize=...) on a model whose expert width int8 cannot take: one side stays float."""
    from openk2.config import ModelConfig
    from openk2.kernel_layers import KernelFFN, kernel_format
    from openk2.model import MoE

    from hf_reference import TINY

    config = ModelConfig(**{**{k: v for k, v in TINY.items() if k != "num_key_value_heads"},
                            "hidden_size": 64, "moe_intermediate_size": 40})
    torch.manual_seed(7)
    moe_layer = MoE(config).eval()
    for p in moe_layer.parameters():
        p.data.normal_(0, 0.1)
    ffn = KernelFFN(moe_layer, lambda w: kernel_format(w, "int8"), deterministic=False)
    assert (ffn.w13.fmt, ffn.w2.fmt) == (kernels.FORMATS["int8"], kernels.FORMATS[torch.float32])
    x = torch.randn(3, 64)
    with torch.no_grad():
        expected = moe_layer(x.unsqueeze(0))[0]
        got = ffn(x.unsqueeze(0))[0]
    assert (got - expected).norm() <= 3e-2 * expected.norm()


@pytest.mark.parametrize("kv_dtype", [torch.float32, torch.bfloat16])
def test_attention_with_odd_widths_and_several_rows_of_different_contexts(kv_dtype):
    torch.manual_seed(8)
    C, R, P = 37, 5, 23  # W = 42: not a multiple of the 16-wide loop
    cache = torch.randn(P, C + R).to(kv_dtype)
    contexts = [torch.randperm(P)[:n] for n in (1, 7, 23)]
    slots = torch.cat(contexts)
    first = torch.tensor([0, 1, 8])
    length = torch.tensor([1, 7, 23])
    q = torch.randn(3, C + R)
    got = kernels.attention(q, cache, slots, first, length, 0.2, C)
    for r, ctx in enumerate(contexts):
        mask = torch.ones(1, 1, len(ctx), dtype=torch.bool)
        expected = absorbed_attention(q[None, r:r + 1], cache[ctx][None].float(), mask, 0.2, C)[0, 0]
        assert torch.allclose(got[r], expected, atol=1e-5, rtol=1e-4)


def test_out_of_range_indices_are_refused_before_any_read():
    cache = torch.randn(10, 40)
    q = torch.randn(2, 40)
    ok = (torch.arange(10), torch.tensor([0, 3]), torch.tensor([3, 7]))
    kernels.attention(q, cache, *ok, 0.1, 32)
    bad = [(torch.tensor([0, 1, 10]), torch.tensor([0, 0]), torch.tensor([3, 3])),  # a slot past the cache
           (torch.tensor([0, 1, -1]), torch.tensor([0, 0]), torch.tensor([3, 3])),  # a negative slot
           (torch.arange(10), torch.tensor([0, 8]), torch.tensor([3, 3])),  # a context past the slots given
           (torch.arange(10), torch.tensor([-1, 0]), torch.tensor([3, 3]))]
    for slots, first, length in bad:
        with pytest.raises(IndexError):
            kernels.attention(q, cache, slots, first, length, 0.1, 32)
    p13, p2 = kernels.pack(torch.randn(3, 64, 32), "int8"), kernels.pack(torch.randn(3, 32, 32), "int8")
    x, weights = torch.randn(2, 32), torch.rand(2, 2)
    kernels.moe(x, torch.tensor([[0, 2], [1, 2]]), weights, p13, p2)
    for ids in (torch.tensor([[0, 3], [1, 2]]), torch.tensor([[0, -1], [1, 2]])):
        with pytest.raises(IndexError, match="expert ids"):
            kernels.moe(x, ids, weights, p13, p2)


def test_a_packed_weight_of_the_wrong_shape_is_refused():
    good = kernels.pack(torch.randn(2, 8, 64), "int4")
    with pytest.raises(ValueError, match="packed weight"):
        kernels.Packed(good.fmt, good.weight[:, :, :16], good.scale, 8, 64)  # fewer bytes than 64 inputs need
    with pytest.raises(ValueError, match="packed scales"):
        kernels.Packed(good.fmt, good.weight, good.scale[:, :, :1].contiguous(), 8, 64)
    with pytest.raises(ValueError, match="multiple of 32"):
        kernels.pack(torch.randn(4, 40), "int8")


def test_switched_off_the_engine_runs_on_torch_and_refuses_what_needs_the_kernels(monkeypatch, build, tmp_path):
    """OPENK2_KERNELS=off stands for a machine without a C compiler: torch's layers, and a one-line refusal for
    int4 (which only the kernels run)."""
    if build != "native":
        pytest.skip("one build is enough")
    from hf_reference import make_hf_model

    from openk2.checkpoint import load_model
    from openk2.engine import EngineConfig, LLMEngine, SamplingParams

    make_hf_model(seed=1).save_pretrained(tmp_path)
    params = SamplingParams(max_tokens=6, temperature=0, ignore_eos=True)
    config = dict(cache_budget_bytes=2 * 1024**2, block_size=4)
    with_kernels = LLMEngine(load_model(tmp_path), config=EngineConfig(**config)).generate([[5, 6, 7]], params)
    monkeypatch.setenv("OPENK2_KERNELS", "off")
    assert not kernels.available() and kernels.isa() == "none"
    engine = LLMEngine(load_model(tmp_path), config=EngineConfig(**config))
    assert not any(isinstance(m, kernels_layers()) for m in engine.model.modules())
    assert engine.generate([[5, 6, 7]], params)[0].token_ids == with_kernels[0].token_ids
    with pytest.raises(ValueError, match="int4 needs openk2's kernels"):
        LLMEngine(load_model(tmp_path), config=EngineConfig(**config, quantize="int4"))
    monkeypatch.setenv("OPENK2_KERNELS", "fast")
    with pytest.raises(ValueError, match="OPENK2_KERNELS='fast'"):
        kernels.available()


def kernels_layers() -> tuple[type, ...]:
    from openk2.kernel_layers import KernelFFN, KernelLinear, KernelMLA

    return KernelFFN, KernelLinear, KernelMLA
