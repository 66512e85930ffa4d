"""The K2 architecture (= DeepSeek-V3) in plain PyTorch: RMSNorm, YaRN RoPE, MLA, MoE, causal LM.

Shape legend used in comments:
  B batch, T tokens (query positions), S key positions, D hidden_size, H attention heads,
  Dn qk_nope_head_dim, R qk_rope_head_dim, Dv v_head_dim, C kv_lora_rank, Q q_lora_rank,
  V vocab, N flattened tokens (B*T), E routed experts, K experts per token, G expert groups,
  S sequences in a cached batch, L cached context length, P cache slots (blocks x block size).

Module attribute names are the HF parameter names, so a checkpoint's state dict loads as is.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .config import ModelConfig, yarn_mscale


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float = 1e-6):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Normalise in float32 (bf16 squares overflow the mantissa), scale in the input dtype.
        return self.weight * F.rms_norm(x.float(), self.weight.shape, eps=self.eps).to(x.dtype)


# ---- rotary embedding -----------------------------------------------------------------------


def rope_inv_freq(config: ModelConfig) -> tuple[torch.Tensor, float]:
    """Per-pair inverse frequencies [R/2] and the cos/sin scale, with YaRN when configured."""
    dim, base = config.qk_rope_head_dim, config.rope_theta
    # Explicit device: the model may be built under torch.device("meta") for loading or counting.
    exponents = torch.arange(0, dim, 2, dtype=torch.float32, device="cpu") / dim
    inv_freq = 1.0 / (base**exponents)
    yarn = config.rope_scaling
    if not yarn:
        return inv_freq, 1.0
    factor = yarn["factor"]
    original_len = yarn["original_max_position_embeddings"]
    beta_fast, beta_slow = yarn.get("beta_fast") or 32, yarn.get("beta_slow") or 1

    def correction_dim(rotations: float) -> float:
        # The dimension whose wavelength completes `rotations` turns over the original context.
        return dim * math.log(original_len / (rotations * 2 * math.pi)) / (2 * math.log(base))

    low = max(math.floor(correction_dim(beta_fast)), 0)
    high = min(math.ceil(correction_dim(beta_slow)), dim - 1)
    if low == high:
        high += 0.001  # avoid a zero-width ramp
    ramp = ((torch.arange(dim // 2, dtype=torch.float32, device="cpu") - low) / (high - low)).clamp(0, 1)
    # High frequencies (ramp 0) keep their value (extrapolate); low frequencies are interpolated by `factor`.
    inv_freq = inv_freq / factor * ramp + inv_freq * (1 - ramp)
    mscale, mscale_all_dim = yarn.get("mscale"), yarn.get("mscale_all_dim")
    if mscale and mscale_all_dim:
        attention_factor = yarn_mscale(factor, mscale) / yarn_mscale(factor, mscale_all_dim)
    else:
        attention_factor = yarn_mscale(factor)
    return inv_freq, attention_factor


class RotaryEmbedding(nn.Module):
    """Turns positions into unit rotations e^(i*angle) [..., R/2] (complex64, times YaRN's cos/sin scale);
    computed on the fly, so any position works."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        inv_freq, self.attention_factor = rope_inv_freq(config)
        self.register_buffer("inv_freq", inv_freq, persistent=False)

    def forward(self, positions: torch.Tensor) -> torch.Tensor:
        angles = positions.float()[..., None] * self.inv_freq
        return torch.polar(torch.full_like(angles, self.attention_factor), angles)


def apply_rope(x: torch.Tensor, rope: torch.Tensor) -> torch.Tensor:
    """Rotate interleaved pairs (x0, x1), (x2, x3), ... — the layout of the HF DeepSeek-V3/K2 weights —
    as complex numbers x0 + i*x1, like DeepSeek's own inference code.

    x: [B, T, (H,) R]; rope: complex [B, T, R/2] (broadcast over heads by the caller's unsqueeze).
    """
    pairs = torch.view_as_complex(x.float().unflatten(-1, (-1, 2)).contiguous())
    return torch.view_as_real(pairs * rope).flatten(-2).to(x.dtype)


# ---- attention ------------------------------------------------------------------------------


@dataclass
class CacheBatch:
    """One step of cached inference over several sequences, flattened to N new tokens.

    The cache of a layer is a [P, C+R] tensor of slots holding each token's normalised latent and
    rotated rope key. Decoding sequences (one new token) are attended together in one padded
    batch; sequences with several new tokens (prompt chunks) are attended one by one.
    """

    slot_mapping: torch.Tensor  # [N] cache slot that each new token's latent is written to
    decode_rows: torch.Tensor | None  # [Sd] rows of N that are single-token decodes (None: none)
    decode_slots: torch.Tensor | None  # [Sd, L] cache slots each decode attends to (padded)
    decode_mask: torch.Tensor | None  # [Sd, 1, L] True where the slot is real context
    prefills: list[tuple[slice, torch.Tensor, torch.Tensor]]  # (rows of N, context slots [L], causal mask [n, 1, L])
    logits_rows: torch.Tensor  # [S'] rows of N whose next-token logits are wanted
    all_decode: bool = False  # every row is a decode, in order: skip the row gathers
    # Every row's context in one form, for kernels that treat prompt and decode tokens alike: row n attends to
    # slots[first[n] : first[n] + length[n]] (all int64: slots [sum of contexts], first [N], length [N]).
    token_context: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None


def absorbed_attention(q: torch.Tensor, kv: torch.Tensor, mask: torch.Tensor, scale: float, kv_lora_rank: int) -> torch.Tensor:
    """Attention in the latent space: q [S, M, C+R] against cached kv [S, L, C+R] -> [S, M, C].

    A key is the cached (latent, rope key) row and a value is its latent: this is why MLA
    decodes from a 576-number cache per token.
    """
    scores = torch.bmm(q, kv.transpose(1, 2)).float() * scale  # [S, n*H, L]
    scores = scores.masked_fill(~mask, float("-inf"))
    return torch.bmm(scores.softmax(-1).to(kv.dtype), kv[..., :kv_lora_rank])


class MLA(nn.Module):
    """Multi-head Latent Attention. K and V come from one low-rank latent plus a shared rope key."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.n_heads = config.num_attention_heads
        self.nope_dim, self.rope_dim, self.v_dim = config.qk_nope_head_dim, config.qk_rope_head_dim, config.v_head_dim
        self.kv_lora_rank = config.kv_lora_rank
        self.softmax_scale = config.softmax_scale
        d, h, bias = config.hidden_size, self.n_heads, config.attention_bias
        qk_dim = config.qk_head_dim
        if config.q_lora_rank is None:
            self.q_proj = nn.Linear(d, h * qk_dim, bias=False)
        else:
            self.q_a_proj = nn.Linear(d, config.q_lora_rank, bias=bias)
            self.q_a_layernorm = RMSNorm(config.q_lora_rank)
            self.q_b_proj = nn.Linear(config.q_lora_rank, h * qk_dim, bias=False)
        self.kv_a_proj_with_mqa = nn.Linear(d, config.kv_lora_rank + self.rope_dim, bias=bias)
        self.kv_a_layernorm = RMSNorm(config.kv_lora_rank)
        self.kv_b_proj = nn.Linear(config.kv_lora_rank, h * (self.nope_dim + self.v_dim), bias=False)
        self.o_proj = nn.Linear(h * self.v_dim, d, bias=bias)
        # QK-Clip (MuonClip) needs each head's largest pre-softmax logit; fused SDPA hides the logits,
        # so the trainer switches this on and the explicit form runs instead.
        self.track_max_logits = False
        self.max_logits: torch.Tensor | None = None  # [H], float32, detached
        # Prompt chunks attend in whichever form is cheaper ("auto"); tests pin one to check both.
        self.prefill_form = "auto"
        # Contiguous copies of split_kv_b() for decoding (strided batched GEMVs run 3x slower); see
        # prepare_for_inference. Not parameters: training and checkpoints only see kv_b_proj.
        self.absorbed_weights: tuple[torch.Tensor, torch.Tensor] | None = None

    def project_q(self, x: torch.Tensor) -> torch.Tensor:
        """[B, T, D] -> [B, T, H, Dn+R]"""
        if hasattr(self, "q_proj"):
            q = self.q_proj(x)
        else:
            q = self.q_b_proj(self.q_a_layernorm(self.q_a_proj(x)))
        return q.unflatten(-1, (self.n_heads, -1))

    def project_latent(self, x: torch.Tensor, rope: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """[B, T, D] -> normalised latent [B, T, C] and rotated rope key [B, T, R]: what a cache stores."""
        latent, k_rope = self.kv_a_proj_with_mqa(x).split([self.kv_lora_rank, self.rope_dim], dim=-1)
        return self.kv_a_layernorm(latent), apply_rope(k_rope, rope)

    def forward(self, x: torch.Tensor, rope: torch.Tensor) -> torch.Tensor:
        """Causal self-attention over x in the expanded form (training and uncached prefill)."""
        B, T, _ = x.shape
        q_nope, q_rope = self.project_q(x).split([self.nope_dim, self.rope_dim], dim=-1)  # [B,T,H,Dn], [B,T,H,R]
        q_rope = apply_rope(q_rope, rope.unsqueeze(2))
        latent, k_rope = self.project_latent(x, rope)  # [B,T,C], [B,T,R]
        k_nope, v = self.kv_b_proj(latent).unflatten(-1, (self.n_heads, -1)).split([self.nope_dim, self.v_dim], dim=-1)
        q = torch.cat([q_nope, q_rope], dim=-1).transpose(1, 2)  # [B,H,T,Dn+R]
        k = torch.cat([k_nope, k_rope.unsqueeze(2).expand(B, T, self.n_heads, self.rope_dim)], dim=-1).transpose(1, 2)
        if self.track_max_logits:
            out = self.attend_tracking_max_logits(q, k, v.transpose(1, 2))
        else:
            out = F.scaled_dot_product_attention(q, k, v.transpose(1, 2), is_causal=True, scale=self.softmax_scale)
        return self.o_proj(out.transpose(1, 2).flatten(2))  # [B,H,T,Dv] -> [B,T,H*Dv] -> [B,T,D]


    def forward_cached(self, x: torch.Tensor, rope: torch.Tensor, batch: CacheBatch,
                       cache: torch.Tensor) -> torch.Tensor:
        """Attention for N new tokens [N, D] through the cache [P, C+R]: write their latents, attend, project."""
        N, H = x.shape[0], self.n_heads
        q_nope, q_rope = self.project_q(x).split([self.nope_dim, self.rope_dim], dim=-1)  # [N,H,Dn], [N,H,R]
        q_rope = apply_rope(q_rope, rope.unsqueeze(1))
        latent, k_rope = self.project_latent(x, rope)  # [N,C], [N,R]
        cache[batch.slot_mapping] = torch.cat([latent, k_rope], dim=-1).to(cache.dtype)
        out = x.new_empty(N, H, self.v_dim)
        if batch.decode_slots is not None:
            rows = slice(None) if batch.all_decode else batch.decode_rows
            out[rows] = self.attend_absorbed(q_nope[rows], q_rope[rows], cache[batch.decode_slots], batch.decode_mask)
        for rows, slots, mask in batch.prefills:
            n = rows.stop - rows.start
            if self.prefill_form == "expanded" or (self.prefill_form == "auto" and self.expanded_is_cheaper(n)):
                out[rows] = self.attend_expanded(q_nope[rows], q_rope[rows], cache[slots], mask)
            else:
                o = self.attend_absorbed(q_nope[rows].reshape(1, n * H, -1), q_rope[rows].reshape(1, n * H, -1),
                                         cache[slots].unsqueeze(0), mask.expand(n, H, -1).reshape(1, n * H, -1))
                out[rows] = o.view(n, H, -1)
        return self.o_proj(out.flatten(1))

    def attend_absorbed(self, q_nope: torch.Tensor, q_rope: torch.Tensor, kv: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """q [S, M, Dn|R] (M = heads, or n*heads rows of one sequence) against kv [S, L, C+R] -> [S, M, Dv].

        W_UK is absorbed into the query and W_UV into the output, so the cached rows serve as keys
        and values as they are: nothing is expanded per head.
        """
        H, C = self.n_heads, self.kv_lora_rank
        w_uk, w_uv_t = self.absorbed_weights or self.split_kv_b()
        S, M = q_nope.shape[:2]
        by_head = q_nope.reshape(S * M // H, H, -1).transpose(0, 1)  # [H, S*M/H, Dn]
        q_latent = torch.bmm(by_head, w_uk).transpose(0, 1).reshape(S, M, C)
        q = torch.cat([q_latent, q_rope], dim=-1).to(kv.dtype)  # [S, M, C+R]
        o_latent = absorbed_attention(q, kv, mask, self.softmax_scale, C)  # [S, M, C]
        o = torch.bmm(o_latent.reshape(S * M // H, H, C).transpose(0, 1).to(w_uv_t.dtype), w_uv_t)
        return o.transpose(0, 1).reshape(S, M, self.v_dim)

    def split_kv_b(self) -> tuple[torch.Tensor, torch.Tensor]:
        """kv_b_proj's weight as W_UK [H, Dn, C] and W_UV transposed [H, C, Dv] (views)."""
        w_kv = self.kv_b_proj.weight.view(self.n_heads, self.nope_dim + self.v_dim, self.kv_lora_rank)
        return w_kv[:, :self.nope_dim], w_kv[:, self.nope_dim:].transpose(1, 2)

    def attend_expanded(self, q_nope: torch.Tensor, q_rope: torch.Tensor, kv: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """A prompt chunk's n queries [n, H, Dn|R] against its context kv [L, C+R], expanding K and V per head."""
        L, H = kv.shape[0], self.n_heads
        latent, k_rope = kv.split([self.kv_lora_rank, self.rope_dim], dim=-1)
        k_nope, v = self.kv_b_proj(latent.to(self.kv_b_proj.weight.dtype)).view(L, H, -1).split([self.nope_dim, self.v_dim], dim=-1)
        k = torch.cat([k_nope, k_rope.to(k_nope.dtype).unsqueeze(1).expand(L, H, self.rope_dim)], dim=-1)
        q = torch.cat([q_nope, q_rope], dim=-1)
        out = F.scaled_dot_product_attention(q.transpose(0, 1), k.transpose(0, 1), v.transpose(0, 1),
                                             attn_mask=mask.squeeze(1), scale=self.softmax_scale)  # [H, n, Dv]
        return out.transpose(0, 1)

    def expanded_is_cheaper(self, n: int) -> bool:
        """Per context token and head, expanded costs n*(Dn+R+Dv) + C*(Dn+Dv) multiply-adds, absorbed n*(2C+R)."""
        C = self.kv_lora_rank
        return n * (self.nope_dim + self.rope_dim + self.v_dim) + C * (self.nope_dim + self.v_dim) < n * (2 * C + self.rope_dim)

    def attend_tracking_max_logits(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """Causal attention [B,H,T,*] with the logits materialised; records max over batch and positions per head."""
        T = q.shape[2]
        logits = (q @ k.transpose(-1, -2)).float() * self.softmax_scale  # [B,H,T,T]
        causal = torch.ones(T, T, dtype=torch.bool, device=q.device).tril()
        logits = logits.masked_fill(~causal, float("-inf"))
        step_max = logits.detach().amax(dim=(0, 2, 3))
        self.max_logits = step_max if self.max_logits is None else torch.maximum(self.max_logits, step_max)
        return (logits.softmax(-1).to(v.dtype) @ v)


# ---- feed-forward ---------------------------------------------------------------------------


class MLP(nn.Module):
    """SwiGLU: down(silu(gate(x)) * up(x)). Dense layers, shared experts and each routed expert."""

    def __init__(self, dim: int, inter_dim: int):
        super().__init__()
        self.gate_proj = nn.Linear(dim, inter_dim, bias=False)
        self.up_proj = nn.Linear(dim, inter_dim, bias=False)
        self.down_proj = nn.Linear(inter_dim, dim, bias=False)
        self.gate_up: nn.Module | None = None  # set by fuse_gate_up_(): gate and up as one [2I, D] projection

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.gate_up is None:
            gate, up = self.gate_proj(x), self.up_proj(x)
        else:
            gate, up = self.gate_up(x).chunk(2, dim=-1)
        return self.down_proj(F.silu(gate) * up)


def fuse_gate_up_(mlp: MLP) -> None:
    """Put gate and up projections in one [2I, D] matrix: decoding reads them in one matrix-vector
    product instead of two (CPU GEMV gets closer to memory bandwidth on larger matrices). The two
    HF-named weights become views of it, so checkpoints are unchanged (save_model writes HF keys only)."""
    inter, dim = mlp.gate_proj.weight.shape
    fused = torch.cat([mlp.gate_proj.weight.detach(), mlp.up_proj.weight.detach()])
    mlp.gate_up = nn.Linear(dim, 2 * inter, bias=False, device="meta")
    mlp.gate_up.weight = nn.Parameter(fused, requires_grad=False)
    mlp.gate_proj.weight = nn.Parameter(fused[:inter], requires_grad=False)
    mlp.up_proj.weight = nn.Parameter(fused[inter:], requires_grad=False)


def route(
    scores: torch.Tensor,
    correction_bias: torch.Tensor,
    top_k: int,
    n_group: int,
    topk_group: int,
    norm_topk_prob: bool,
    routed_scaling_factor: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """DeepSeek-V3's aux-loss-free, group-limited top-k. scores [N, E] (sigmoid) -> weights, ids [N, K].

    The correction bias steers *which* experts are chosen (load balancing) but never the weights.
    """
    N, E = scores.shape
    choice = scores + correction_bias
    if n_group > 1:
        # A group's score is the sum of its best two experts; only the best topk_group groups compete.
        group_scores = choice.view(N, n_group, E // n_group).topk(2, dim=-1).values.sum(-1)  # [N, G]
        kept_groups = group_scores.topk(topk_group, dim=-1).indices
        group_mask = torch.zeros_like(group_scores, dtype=torch.bool).scatter_(1, kept_groups, True)
        choice = choice.masked_fill(~group_mask.repeat_interleave(E // n_group, dim=1), float("-inf"))
    expert_ids = choice.topk(top_k, dim=-1).indices  # [N, K]
    weights = scores.gather(1, expert_ids)
    if norm_topk_prob:
        weights = weights / (weights.sum(-1, keepdim=True) + 1e-20)
    return weights * routed_scaling_factor, expert_ids


class Gate(nn.Module):
    """The router: a float32 linear scorer plus the load-balancing correction bias (a buffer, not trained by SGD)."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        self.weight = nn.Parameter(torch.empty(config.n_routed_experts, config.hidden_size).normal_(0, config.initializer_range))
        self.register_buffer("e_score_correction_bias", torch.zeros(config.n_routed_experts))
        # In training mode the last routing is kept for load balancing: bias updates and balance losses.
        self.last_scores: torch.Tensor | None = None  # [N, E], with grad
        self.last_expert_ids: torch.Tensor | None = None  # [N, K]

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        c = self.config
        scores = F.linear(x.float(), self.weight.float()).sigmoid()  # [N, E]
        weights, expert_ids = route(scores, self.e_score_correction_bias.float(), c.num_experts_per_tok, c.n_group, c.topk_group,
                                    c.norm_topk_prob, c.routed_scaling_factor)
        if self.training:
            self.last_scores, self.last_expert_ids = scores, expert_ids
        return weights, expert_ids


class MoE(nn.Module):
    """Routed experts (each token to K of E) plus always-on shared experts."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.gate = Gate(config)
        self.experts = nn.ModuleList(
            MLP(config.hidden_size, config.moe_intermediate_size) for _ in range(config.n_routed_experts)
        )
        self.shared_experts = (
            MLP(config.hidden_size, config.moe_intermediate_size * config.n_shared_experts)
            if config.n_shared_experts else None
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = x.shape
        x = x.reshape(-1, shape[-1])  # [N, D]
        weights, expert_ids = self.gate(x)  # [N, K]
        out = self.dispatch(x, weights, expert_ids)
        if self.shared_experts is not None:
            out = out + self.shared_experts(x)
        return out.view(shape)

    def dispatch(self, x: torch.Tensor, weights: torch.Tensor, expert_ids: torch.Tensor) -> torch.Tensor:
        """Grouped dispatch: sort the N*K (token, expert) pairs by expert, run each hit expert once on its slice."""
        flat_ids = expert_ids.flatten()  # [N*K]
        order = flat_ids.argsort(stable=True)
        token_of_slot = order // expert_ids.shape[1]  # which token each sorted slot came from
        counts = torch.bincount(flat_ids, minlength=len(self.experts))
        hit = counts.nonzero().flatten().tolist()
        gathered = x[token_of_slot]  # [N*K, D], grouped by expert
        outputs = torch.empty_like(gathered)
        start = 0
        for expert, count in zip(hit, counts[hit].tolist()):
            outputs[start:start + count] = self.experts[expert](gathered[start:start + count])
            start += count
        outputs = outputs * weights.flatten()[order, None].to(outputs.dtype)
        return torch.zeros_like(x).index_add_(0, token_of_slot, outputs)


# ---- the network ----------------------------------------------------------------------------


class DecoderLayer(nn.Module):
    def __init__(self, config: ModelConfig, layer_idx: int):
        super().__init__()
        self.input_layernorm = RMSNorm(config.hidden_size, config.rms_norm_eps)
        self.self_attn = MLA(config)
        self.post_attention_layernorm = RMSNorm(config.hidden_size, config.rms_norm_eps)
        self.mlp = MoE(config) if config.is_moe_layer(layer_idx) else MLP(config.hidden_size, config.intermediate_size)

    def forward(self, x: torch.Tensor, rope: torch.Tensor,
                batch: CacheBatch | None = None, cache: torch.Tensor | None = None) -> torch.Tensor:
        h = self.input_layernorm(x)
        if batch is None:
            x = x + self.self_attn(h, rope)
        else:
            x = x + self.self_attn.forward_cached(h, rope, batch, cache)
        return x + self.mlp(self.post_attention_layernorm(x))


class Transformer(nn.Module):
    """Embeddings, decoder layers and the final norm: HF's `model.` prefix."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.embed_tokens = nn.Embedding(config.vocab_size, config.hidden_size)
        self.layers = nn.ModuleList(DecoderLayer(config, i) for i in range(config.num_hidden_layers))
        self.norm = RMSNorm(config.hidden_size, config.rms_norm_eps)
        self.rotary_emb = RotaryEmbedding(config)

    def forward(self, input_ids: torch.Tensor, positions: torch.Tensor | None = None) -> torch.Tensor:
        """[B, T] token ids -> [B, T, D] final hidden states."""
        if positions is None:
            positions = torch.arange(input_ids.shape[1], device=input_ids.device).expand_as(input_ids)
        rope = self.rotary_emb(positions)  # [B, T, R/2] complex
        x = self.embed_tokens(input_ids)
        for layer in self.layers:
            x = layer(x, rope)
        return self.norm(x)

    def forward_cached(self, input_ids: torch.Tensor, positions: torch.Tensor, batch: CacheBatch,
                       kv_cache: torch.Tensor) -> torch.Tensor:
        """N new tokens [N] at `positions` [N] through the paged cache kv_cache [layers, P, C+R] -> [N, D]."""
        rope = self.rotary_emb(positions)  # [N, R/2] complex
        x = self.embed_tokens(input_ids)
        for layer, cache in zip(self.layers, kv_cache):
            x = layer(x, rope, batch, cache)
        return x


class CausalLM(nn.Module):
    """The K2 causal language model: `model(input_ids)` [B, T] -> float logits [B, T, V]."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        self.model = Transformer(config)
        self.lm_head = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        if config.tie_word_embeddings:
            self.lm_head.weight = self.model.embed_tokens.weight

    def forward(self, input_ids: torch.Tensor, positions: torch.Tensor | None = None) -> torch.Tensor:
        return self.lm_head(self.model(input_ids, positions)).float()

    @torch.inference_mode()
    def forward_cached(self, input_ids: torch.Tensor, positions: torch.Tensor, batch: CacheBatch,
                       kv_cache: torch.Tensor) -> torch.Tensor:
        """Cached inference step: float logits [S', V] for the rows in batch.logits_rows only."""
        hidden = self.model.forward_cached(input_ids, positions, batch, kv_cache)[batch.logits_rows]
        return self.lm_head(self.model.norm(hidden)).float()


def prepare_for_inference(model: CausalLM) -> CausalLM:
    """Inference-only weight layout (after the model is on its device): fused gate/up projections and
    contiguous absorbed MLA weights."""
    for module in model.modules():
        if isinstance(module, MLP) and module.gate_up is None:
            fuse_gate_up_(module)
        if isinstance(module, MLA):
            module.absorbed_weights = tuple(w.detach().contiguous() for w in module.split_kv_b())
    return model


# ---- parameter counts -----------------------------------------------------------------------


def count_parameters(config: ModelConfig) -> tuple[int, int]:
    """(total, active per token) parameter counts, from modules built on the meta device (no memory).

    Active = everything except the routed experts a token does not visit: K of E per MoE layer.
    Embeddings and the output head are counted (as Moonshot and DeepSeek count them). Each distinct
    layer kind is built once: K2 has 70K expert matrices and building all of them takes seconds.
    """
    def numel(module: nn.Module) -> int:
        return sum(p.numel() for p in module.parameters())

    with torch.device("meta"):
        embed_head_norm = numel(nn.Embedding(config.vocab_size, config.hidden_size)) + config.hidden_size
        if not config.tie_word_embeddings:
            embed_head_norm += config.vocab_size * config.hidden_size
        kinds = [config.is_moe_layer(i) for i in range(config.num_hidden_layers)]
        total = active = embed_head_norm
        for is_moe in set(kinds):
            layer = DecoderLayer(config, kinds.index(is_moe))
            size, count = numel(layer), kinds.count(is_moe)
            total += size * count
            active += size * count
            if is_moe:
                unvisited = config.n_routed_experts - config.num_experts_per_tok
                active -= numel(layer.mlp.experts[0]) * unvisited * count
    return total, active
