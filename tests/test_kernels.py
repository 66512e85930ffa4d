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
