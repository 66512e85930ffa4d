"""MuonClip: Newton-Schulz, Muon's update RMS and Moonlight semantics, QK-Clip on exploding heads, loss going down."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from hf_reference import TINY
from torch import nn

from openk2.config import ModelConfig
from openk2.model import MLA, CausalLM
from openk2.train.muonclip import NS_COEFFICIENTS, MuonClip, QKClip, newton_schulz, qk_clip_, split_parameters
from openk2.train.trainer import init_weights_

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tiny models; see conftest.py

TINY_CONFIG = {k: v for k, v in TINY.items() if k != "num_key_value_heads"}


def tiny_model(seed: int = 0, **overrides) -> CausalLM:
    model = CausalLM(ModelConfig(**{**TINY_CONFIG, **overrides}))
    init_weights_(model, seed)
    return model.train()


@pytest.mark.parametrize("shape", [(64, 256), (256, 48), (40, 300)])
def test_newton_schulz_output_has_singular_values_near_one(shape):
    matrix = torch.randn(*shape, generator=torch.Generator().manual_seed(0)) * 3.0
    out = newton_schulz(matrix)
    assert out.dtype == torch.bfloat16 and out.shape == shape
    singular = torch.linalg.svdvals(out.float())
    # K2/Keller's quintic trades exactness for speed: values land in about [0.68, 1.13], not exactly 1.
    assert singular.min() > 0.6 and singular.max() < 1.2, singular
    u, _, vh = torch.linalg.svd(matrix, full_matrices=False)
    assert F.cosine_similarity(out.float().flatten(), (u @ vh).flatten(), dim=0) > 0.98  # direction of the polar factor


def test_muon_update_rms_matches_adamw_target_for_every_shape():
    """lr * 0.2 * sqrt(max(A, B)) times an orthogonal update: RMS ~ 0.2 * lr whatever the shape."""
    shapes = [(64, 256), (256, 64), (128, 512), (96, 96 * 3)]
    model = nn.Sequential(*(nn.Linear(b, a, bias=False) for a, b in shapes))
    lr = 1e-3
    optimizer = MuonClip(model, lr=lr, weight_decay=0.0)
    generator = torch.Generator().manual_seed(0)
    before = [p.detach().clone() for p in model.parameters()]
    for p in model.parameters():
        p.grad = torch.randn(p.shape, generator=generator)
    optimizer.step()
    for p, old in zip(model.parameters(), before):
        rms = (p.detach() - old).pow(2).mean().sqrt().item()
        assert 0.7 < rms / (0.2 * lr) < 1.1, (tuple(p.shape), rms / (0.2 * lr))


def moonlight_muon_step(param, grad, buf, lr, wd, momentum):
    """Moonlight's update (MoonshotAI/Moonlight examples/toy_train.py): summed momentum, Nesterov, RMS-matched scale."""
    buf.mul_(momentum).add_(grad)
    update = newton_schulz(grad.add(buf, alpha=momentum))
    param.mul_(1 - lr * wd)
    param.add_(update.to(param.dtype), alpha=-lr * 0.2 * math.sqrt(max(param.shape)))


def test_newton_schulz_is_moonlights_quintic():
    assert NS_COEFFICIENTS == (3.4445, -4.7750, 2.0315)
    matrix = torch.randn(16, 40, generator=torch.Generator().manual_seed(0))
    x = matrix.bfloat16()
    x = x / x.norm()
    a, b, c = NS_COEFFICIENTS
    for _ in range(5):  # Moonlight's zeropower_via_newtonschulz5, written out
        gram = x @ x.T
        x = a * x + (b * gram + c * gram @ gram) @ x
    # bf16 rounds fused (addmm) and separate operations differently; the quintic amplifies that a little.
    assert F.cosine_similarity(newton_schulz(matrix).float().flatten(), x.float().flatten(), dim=0) > 0.999


def test_torch_muon_configured_by_muonclip_follows_moonlight():
    """torch keeps an EMA momentum buffer where Moonlight keeps a sum: Newton-Schulz's normalisation makes them agree."""
    model = nn.Linear(48, 32, bias=False)
    start = model.weight.detach().clone()
    reference, buf = start.clone(), torch.zeros_like(start)
    optimizer = MuonClip(model, lr=0.02, weight_decay=0.1, momentum=0.9)
    generator = torch.Generator().manual_seed(1)
    for _ in range(3):
        grad = torch.randn(32, 48, generator=generator)
        model.weight.grad = grad.clone()
        optimizer.step()
        moonlight_muon_step(reference, grad, buf, lr=0.02, wd=0.1, momentum=0.9)
    ours, theirs = model.weight.detach() - start, reference - start
    # Equal up to bf16 rounding of the (1 - momentum)-scaled input, which Newton-Schulz amplifies a little;
    # dropping Nesterov or the 0.2 * sqrt(max(A, B)) scale would be off by tens of percent.
    assert (ours - theirs).norm() / theirs.norm() < 0.02


def test_parameters_split_between_muon_and_adamw():
    model = tiny_model()
    muon, adamw = split_parameters(model)
    names = {id(p): n for n, p in model.named_parameters()}
    muon_names = {names[id(p)] for p in muon}
    adamw_names = {names[id(p)] for p in adamw}
    assert "model.embed_tokens.weight" in adamw_names and "lm_head.weight" in adamw_names
    assert all(p.ndim == 2 for p in muon) and all(n.endswith("norm.weight") for n in adamw_names - {"model.embed_tokens.weight", "lm_head.weight"})
    assert "model.layers.1.mlp.experts.3.down_proj.weight" in muon_names  # each expert matrix on its own
    assert "model.layers.1.mlp.gate.weight" in muon_names


def max_logits(attention: MLA, x: torch.Tensor, rope: torch.Tensor) -> torch.Tensor:
    attention.track_max_logits, attention.max_logits = True, None
    with torch.no_grad():
        attention(x, rope)
    return attention.max_logits


@pytest.mark.parametrize("q_lora_rank", [24, None])
def test_qk_clip_brings_an_exploding_head_back_to_tau_and_leaves_others_bit_identical(q_lora_rank):
    model = tiny_model(q_lora_rank=q_lora_rank)
    attention = model.model.layers[0].self_attn
    H, Dn, R, Dv = attention.n_heads, attention.nope_dim, attention.rope_dim, attention.v_dim
    q_weight = attention.q_b_proj.weight if q_lora_rank else attention.q_proj.weight
    with torch.no_grad():  # head 2 explodes: its query (nope and rope rows) and its nope key grow 30x
        q_weight.view(H, Dn + R, -1)[2] *= 30.0
        attention.kv_b_proj.weight.view(H, Dn + Dv, -1)[2, :Dn] *= 30.0
    x = torch.randn(2, 24, model.config.hidden_size, generator=torch.Generator().manual_seed(0))
    rope = model.model.rotary_emb(torch.arange(24).expand(2, 24))
    before = max_logits(attention, x, rope)
    tau = 4 * before[[0, 1, 3]].max().item()  # far above the calm heads, far below head 2
    assert before[2] > 10 * tau
    q_old, kv_b_old, kv_a_old = q_weight.detach().clone(), attention.kv_b_proj.weight.detach().clone(), attention.kv_a_proj_with_mqa.weight.detach().clone()

    gamma = qk_clip_(attention, before, tau)

    after = max_logits(attention, x, rope)
    assert after[2].item() == pytest.approx(tau, rel=1e-4)
    assert torch.equal(after[[0, 1, 3]], before[[0, 1, 3]])
    assert gamma[2] < 1 and torch.equal(gamma[[0, 1, 3]], torch.ones(3))
    calm = [0, 1, 3]
    assert torch.equal(q_weight.detach().view(H, Dn + R, -1)[calm], q_old.view(H, Dn + R, -1)[calm])
    assert torch.equal(attention.kv_b_proj.weight.detach().view(H, Dn + Dv, -1)[calm], kv_b_old.view(H, Dn + Dv, -1)[calm])
    assert torch.equal(attention.kv_b_proj.weight.detach().view(H, Dn + Dv, -1)[2, Dn:], kv_b_old.view(H, Dn + Dv, -1)[2, Dn:])  # v rows
    assert torch.equal(attention.kv_a_proj_with_mqa.weight, kv_a_old)  # the shared rope key is never touched
    q_new, q_ref = q_weight.detach().view(H, Dn + R, -1)[2], q_old.view(H, Dn + R, -1)[2]
    torch.testing.assert_close(q_new[:Dn], q_ref[:Dn] * gamma[2].sqrt())  # nope rows by sqrt(gamma)
    torch.testing.assert_close(q_new[Dn:], q_ref[Dn:] * gamma[2])  # rope rows by gamma


def test_qk_clip_tracker_clips_after_the_step_and_resets():
    model = tiny_model()
    clip = QKClip(model, tau=1e-3)  # every head of a fresh model is above this
    ids = torch.randint(0, 320, (2, 16), generator=torch.Generator().manual_seed(0))
    model(ids)
    seen = clip.step()
    assert seen > 1e-3 and all(a.max_logits is None for a in clip.attentions)
    model(ids)
    # Layer 0 sees the same input as before, so each of its heads now peaks at exactly tau.
    torch.testing.assert_close(clip.attentions[0].max_logits, torch.full((4,), 1e-3), rtol=1e-4, atol=0)


def test_muonclip_lowers_the_loss_of_a_small_model():
    torch.manual_seed(0)
    model = tiny_model()
    optimizer = MuonClip(model, lr=2e-2, weight_decay=0.0)
    ids = torch.randint(0, 320, (4, 33), generator=torch.Generator().manual_seed(0))
    losses = []
    for _ in range(12):
        loss = F.cross_entropy(model(ids[:, :-1]).flatten(0, 1), ids[:, 1:].flatten())
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(loss.item())
    assert losses[-1] < 0.6 * losses[0], losses
    assert optimizer.last_max_logit > 0
