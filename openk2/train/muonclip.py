"""MuonClip: Muon for hidden matrices, AdamW for the rest, and QK-Clip for attention heads whose logits run away.

Shape legend: H attention heads, Dn qk_nope_head_dim, R qk_rope_head_dim, Dv v_head_dim, L layers.

Muon comes from PyTorch (`torch.optim.Muon`, torch >= 2.9) because its semantics are exactly
Moonlight's / K2's, which we checked line by line against torch/optim/_muon.py:
- Newton-Schulz: 5 quintic steps with (3.4445, -4.7750, 2.0315) in bfloat16, the input first
  divided by its Frobenius norm, transposed so the Gram matrix is the small side -- Moonlight's
  `zeropower_via_newtonschulz5` line for line.
- Momentum: torch keeps an EMA buffer (lerp) where Moonlight keeps a sum (mul_ + add_); the EMA
  is the sum times (1 - momentum), and the Nesterov combination is too, so the matrix handed to
  Newton-Schulz differs only by a positive factor that its first normalisation removes.
- `adjust_lr_fn="match_rms_adamw"`: the step is lr * 0.2 * sqrt(max(A, B)) times the orthogonal
  update, whose RMS is ~1/sqrt(max(A, B)); so every matrix moves with RMS ~0.2 * lr, AdamW's
  typical update RMS, and one lr and weight decay serve both optimizers (Moonlight, section 2.2).
- Weight decay is decoupled and uses the unadjusted lr: W <- W - lr * wd * W, as Moonlight.
Experts need nothing special: each `experts.{i}.*_proj.weight` is its own 2-D parameter, so
every expert matrix is orthogonalised on its own.

Sharded parameters (FSDP2): each matrix is a DTensor sharded along dim 0. torch.optim.Muon's
element-wise parts run on the local shard; its norm and matmuls go through DTensor's sharding
propagation, which gathers what each product needs. The result equals the unsharded update
(tests/test_distributed.py) at the price of every rank repeating the Newton-Schulz work -- fine
up to a few hundred million parameters; Moonlight's distributed Muon (one rank per matrix) is
the next step when this shows in profiles.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.distributed.tensor import DTensor, distribute_tensor
from torch.optim import _muon

from openk2.model import MLA

NS_COEFFICIENTS = (3.4445, -4.7750, 2.0315)  # Keller Jordan's quintic, as Moonlight and K2 use
NS_STEPS = 5
# Muon is for hidden-layer matrices; the embedding and the output head are look-up tables and a
# classifier whose rows see very different gradient scales, so they stay on AdamW (Moonlight).
ADAMW_MATRICES = ("model.embed_tokens.weight", "lm_head.weight")


def newton_schulz(matrix: torch.Tensor, steps: int = NS_STEPS) -> torch.Tensor:
    """The orthogonalisation torch.optim.Muon applies: [A, B] -> bfloat16 [A, B], singular values near 1.

    A thin name over torch's own function (not a copy), so tests check what the optimizer runs.
    """
    return _muon._zeropower_via_newtonschulz(matrix, NS_COEFFICIENTS, steps, _muon.EPS)


def split_parameters(model: nn.Module) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
    """(matrices for Muon, everything else for AdamW): embeddings, head, norms and biases go to AdamW.

    The router weight [E, D] is a hidden matrix like any other and goes to Muon, as in Moonlight.
    The router's correction bias is a buffer updated from expert load, never by an optimizer.
    """
    muon, adamw = [], []
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        name = name.removeprefix("module.")  # DDP wraps the model as `.module`
        (muon if param.ndim == 2 and name not in ADAMW_MATRICES else adamw).append(param)
    return muon, adamw


def qk_clip_(attention: MLA, max_logits: torch.Tensor, tau: float) -> torch.Tensor:
    """Rescale the query/key weights of every head whose max logit exceeded tau; returns gamma [H].

    gamma_h = min(1, tau / max_h). A head's logit is q_nope.k_nope + q_rope.k_rope (times the
    softmax scale). Scaling q_nope and k_nope rows by sqrt(gamma) and q_rope rows by gamma scales
    both terms by gamma, so the max returns to tau without touching the rope key, which is shared
    by all heads (the last R rows of kv_a_proj_with_mqa). Heads at or below tau are multiplied by
    exactly 1.0: bit-identical.
    """
    H, Dn, R, Dv = attention.n_heads, attention.nope_dim, attention.rope_dim, attention.v_dim
    assert max_logits.shape == (H,), max_logits.shape
    gamma = (tau / max_logits.float()).clamp(max=1.0)  # [H]
    if bool((gamma == 1.0).all()):
        return gamma
    root = gamma.sqrt()
    q_scale = torch.cat([root[:, None].expand(H, Dn), gamma[:, None].expand(H, R)], dim=1)  # [H, Dn+R]
    k_scale = torch.cat([root[:, None].expand(H, Dn), torch.ones(H, Dv, device=gamma.device)], dim=1)  # [H, Dn+Dv]: v rows stay
    q_weight = attention.q_proj.weight if hasattr(attention, "q_proj") else attention.q_b_proj.weight
    scale_rows_(q_weight, q_scale.flatten())
    scale_rows_(attention.kv_b_proj.weight, k_scale.flatten())
    return gamma


@torch.no_grad()
def scale_rows_(weight: torch.Tensor, row_scale: torch.Tensor) -> None:
    """weight[i, :] *= row_scale[i], for plain tensors and for FSDP2's row-sharded DTensors."""
    row_scale = row_scale.to(device=weight.device, dtype=weight.dtype)[:, None]
    if isinstance(weight, DTensor):
        # Every rank holds the full scale vector: shard it like the weight, no communication.
        row_scale = distribute_tensor(row_scale, weight.device_mesh, weight.placements, src_data_rank=None)
    weight.mul_(row_scale)


class QKClip:
    """Switches on per-head max-logit tracking in every MLA and clips heads above tau after each step.

    With tau None it only records (the max logit is still worth logging for optimizers without clip).
    Under torch.distributed every rank saw different tokens: the maxima are all-reduced first, so
    every rank clips the same heads by the same gamma and the replicas stay identical.
    """

    def __init__(self, model: nn.Module, tau: float | None = 100.0):
        if tau is not None and not tau > 0:
            raise ValueError(f"QK-Clip tau must be positive, got {tau}")
        self.tau = tau
        self.attentions = [m for m in model.modules() if isinstance(m, MLA)]
        for attention in self.attentions:
            attention.track_max_logits = True
        self.reset()

    def reset(self) -> None:
        for attention in self.attentions:
            attention.max_logits = None

    def step(self) -> float:
        """Clip after an optimizer update; returns the largest logit seen since the last reset."""
        if not self.attentions:
            return 0.0
        assert all(a.max_logits is not None for a in self.attentions), "QKClip.step() needs a forward pass first"
        max_logits = torch.stack([a.max_logits for a in self.attentions])  # [L, H]
        if dist.is_initialized():
            dist.all_reduce(max_logits, op=dist.ReduceOp.MAX)
        if self.tau is not None:
            for attention, head_max in zip(self.attentions, max_logits):
                qk_clip_(attention, head_max, self.tau)
        self.reset()
        return max_logits.max().item()


class MuonClip:
    """K2's optimizer: torch.optim.Muon on hidden matrices + torch.optim.AdamW on the rest + QK-Clip.

    One lr and weight decay for both (Muon's update RMS is matched to AdamW's). `muon=False` puts
    every parameter on AdamW: the baseline MuonClip is measured against, with the same logit
    tracking and optional clip. `qk_clip_tau=None` tracks logits without clipping.
    """

    def __init__(
        self,
        model: nn.Module,
        lr: float = 2e-3,
        weight_decay: float = 0.1,
        momentum: float = 0.95,
        betas: tuple[float, float] = (0.9, 0.95),
        eps: float = 1e-8,
        qk_clip_tau: float | None = 100.0,
        muon: bool = True,
    ):
        matrices, others = split_parameters(model)
        if not muon:
            matrices, others = [], matrices + others
        self.optimizers: list[torch.optim.Optimizer] = []
        if matrices:
            self.optimizers.append(
                torch.optim.Muon(matrices, lr=lr, weight_decay=weight_decay, momentum=momentum, nesterov=True,
                                 ns_coefficients=NS_COEFFICIENTS, ns_steps=NS_STEPS, adjust_lr_fn="match_rms_adamw")
            )
        if others:
            self.optimizers.append(torch.optim.AdamW(others, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay))
        self.qk_clip = QKClip(model, qk_clip_tau)
        self.last_max_logit = 0.0

    @property
    def param_groups(self) -> list[dict[str, Any]]:
        """All groups of both optimizers, so one LR schedule can set `group["lr"]` on each."""
        return [group for optimizer in self.optimizers for group in optimizer.param_groups]

    def zero_grad(self) -> None:
        for optimizer in self.optimizers:
            optimizer.zero_grad(set_to_none=True)

    @torch.no_grad()
    def step(self) -> float:
        """Update every parameter, then clip; returns the step's max attention logit (before clipping)."""
        for optimizer in self.optimizers:
            optimizer.step()
        self.last_max_logit = self.qk_clip.step()
        return self.last_max_logit

