"""The model's inference layers on openk2's C kernels (kernels.py), applied from outside: `use_kernels(model)`.

What changes, layer by layer (weights in the model's dtype, or int8 / int4 with `quantize`):
  - every linear layer (attention projections, output head) -> KernelLinear;
  - each MoE layer -> KernelFFN: the router scores through the fp32 kernel, the routed experts and the shared
    experts stacked into two [E, 2I, D] / [E, D, I] tensors and run in one fused call (a shared expert of
    width n*I is n experts of width I that every token visits with weight 1); the dense MLP the same way;
  - MLA -> KernelMLA: W_UK / W_UV absorbed per head through the grouped kernel, and attention over the paged
    cache read in place (no gather copy of the context).

Batch invariance: every kernel computes a row of output from its own row of input in a fixed order, so a
token's logits do not depend on its neighbours in the batch. With `deterministic=True` prompt tokens also go
through the kernels (absorbed attention, the kernels' matrix products) rather than torch's faster GEMMs for
long prompt chunks, so a prompt gives the same cache whether it was computed in one chunk, in several, or came
from the prefix cache: greedy output is reproducible. The cost is prefill speed (bench/decode.py prints it).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from . import kernels
from .model import MLA, MLP, CacheBatch, CausalLM, MoE, apply_rope, route
from .quant import quantize_int4

# Prompt chunks longer than this use torch's GEMMs (faster at many rows) unless the model is deterministic.
TORCH_ROWS = 32


def kernel_format(weight: torch.Tensor, quantize: str | None) -> str | torch.dtype:
    """The format a weight is packed in: int8/int4 when asked and the input size allows, else its own dtype."""
    if quantize is not None and weight.shape[-1] % kernels.QUANT_BLOCK == 0:
        return quantize
    return weight.dtype if weight.dtype in (torch.float32, torch.bfloat16) else torch.float32


class KernelLinear(nn.Module):
    """A bias-free linear layer with its weight packed for the kernels."""

    def __init__(self, weight: torch.Tensor | tuple[torch.Tensor, torch.Tensor], fmt: str | torch.dtype,
                 deterministic: bool):
        super().__init__()
        if isinstance(weight, tuple):  # a checkpoint's own int4 (nibbles, scales)
            self.packed = _packed_int4(tuple(t.unsqueeze(0) for t in weight))
        else:
            self.packed = kernels.pack(weight, fmt)
        self.deterministic = deterministic
        self.in_features, self.out_features = self.packed.in_features, self.packed.out_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rows = x.numel() // self.in_features
        p = self.packed
        if rows > TORCH_ROWS and not self.deterministic and p.fmt in (0, 1):
            return F.linear(x, p.weight[0].to(x.dtype))  # a view for the model's own dtype
        if rows > TORCH_ROWS and not self.deterministic and p.fmt == 2:
            flat = x.reshape(-1, self.in_features).contiguous()
            y = torch.ops.aten._weight_int8pack_mm(flat, p.weight[0], p.scale[0].to(x.dtype))
            return y.view(*x.shape[:-1], self.out_features)
        return kernels.linear(x, p).to(x.dtype)


def _expert_stacks(experts: list[MLP], inter: int, weight_of) -> tuple[torch.Tensor, torch.Tensor]:
    """[E, 2I, D] gate-then-up rows and [E, D, I] down projections; an MLP of width n*I becomes n experts.
    weight_of(linear) gives a float weight [O, I], or int4 as (nibbles [O, I/2], scales [O, I/32]): then each
    stack is a pair of such stacks."""
    w13, w2 = [], []
    for mlp in experts:
        gate, up, down = weight_of(mlp.gate_proj), weight_of(mlp.up_proj), weight_of(mlp.down_proj)
        for c in range(mlp.down_proj.in_features // inter):
            if isinstance(gate, tuple):  # int4: rows as they are; down's columns by bytes and by scale groups
                w13.append(tuple(torch.cat([g[c * inter:(c + 1) * inter], u[c * inter:(c + 1) * inter]])
                                 for g, u in zip(gate, up)))
                w2.append((down[0][:, c * inter // 2:(c + 1) * inter // 2],
                           down[1][:, c * inter // kernels.QUANT_BLOCK:(c + 1) * inter // kernels.QUANT_BLOCK]))
            else:
                part = slice(c * inter, (c + 1) * inter)
                w13.append(torch.cat([gate[part], up[part]]))
                w2.append(down[:, part])
    if isinstance(w13[0], tuple):
        return tuple(torch.stack(t) for t in zip(*w13)), tuple(torch.stack(t) for t in zip(*w2))
    return torch.stack(w13), torch.stack(w2)


def _packed_int4(pair: tuple[torch.Tensor, torch.Tensor]) -> kernels.Packed:
    q, scale = pair  # [G, O, I/2], [G, O, I/32]
    return kernels.Packed(kernels.FORMATS["int4"], q.contiguous(), scale.contiguous(), q.shape[1], q.shape[2] * 2)


class KernelFFN(nn.Module):
    """A MoE layer (router + routed + shared experts) or a dense SwiGLU MLP as one fused kernel call."""

    def __init__(self, mlp: MoE | MLP, fmt_of, deterministic: bool, native_int4: dict | None = None):
        super().__init__()
        self.deterministic = deterministic
        if isinstance(mlp, MoE):
            self.gate = mlp.gate  # keeps the config and the correction bias; its weight is read from `router`
            self.router = kernels.pack(mlp.gate.weight.float(), torch.float32)
            inter = mlp.experts[0].down_proj.in_features
            experts = list(mlp.experts) + ([mlp.shared_experts] if mlp.shared_experts is not None else [])
            self.n_routed = len(mlp.experts)
        else:
            self.gate, self.router = None, None
            inter = mlp.down_proj.in_features
            experts, self.n_routed = [mlp], 0
        native_int4 = native_int4 or {}
        linears = [m for e in experts for m in (e.gate_proj, e.up_proj, e.down_proj)]
        if any(id(m) in native_int4 for m in linears):
            # A checkpoint's own int4 experts are used as stored; its other experts (K2-Thinking's shared expert is
            # bf16) are quantised to int4 too, so that one fused call runs them all.
            def weight_of(m: nn.Linear):
                return native_int4.get(id(m)) or quantize_int4(m.weight.detach())

            w13, w2 = _expert_stacks(experts, inter, weight_of)
            self.w13, self.w2 = _packed_int4(w13), _packed_int4(w2)
        else:
            w13, w2 = _expert_stacks(experts, inter, lambda m: m.weight.detach())
            self.w13, self.w2 = kernels.pack(w13, fmt_of(w13)), kernels.pack(w2, fmt_of(w2))
        self.n_always = self.w13.groups - self.n_routed  # shared expert slices (or the dense MLP's)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = x.shape
        flat = x.reshape(-1, shape[-1]).float()  # [N, D]
        N = flat.shape[0]
        ids = torch.arange(self.n_routed, self.n_routed + self.n_always).expand(N, -1)
        weights = torch.ones(N, self.n_always)
        if self.router is not None:
            c = self.gate.config
            scores = kernels.linear(flat, self.router).sigmoid()  # [N, E]
            routed_weights, routed_ids = route(scores, self.gate.e_score_correction_bias.float(), c.num_experts_per_tok,
                                               c.n_group, c.topk_group, c.norm_topk_prob, c.routed_scaling_factor)
            ids, weights = torch.cat([routed_ids, ids], 1), torch.cat([routed_weights, weights], 1)
        return kernels.moe(flat, ids, weights, self.w13, self.w2).to(x.dtype).view(shape)


class KernelMLA(MLA):
    """MLA whose cached forward runs the absorbed form on the kernels; set on an MLA by use_kernels."""

    absorbed_uk: kernels.Packed  # [H, C, Dn]: q_nope -> latent query, per head
    absorbed_uv: kernels.Packed  # [H, Dv, C]: attended latent -> value, per head
    deterministic: bool

    def forward_cached(self, x: torch.Tensor, rope: torch.Tensor, batch: CacheBatch,
                       cache: torch.Tensor) -> torch.Tensor:
        N, H = x.shape[0], self.n_heads
        q_nope, q_rope = self.project_q(x).split([self.nope_dim, self.rope_dim], dim=-1)  # [N,H,Dn], [N,H,R]
        q_rope = apply_rope(q_rope, rope.unsqueeze(1))
        latent, k_rope = self.project_latent(x, rope)  # [N,C], [N,R]
        cache[batch.slot_mapping] = torch.cat([latent, k_rope], dim=-1).to(cache.dtype)
        if self.deterministic:
            kernel_rows = torch.arange(N)
        elif batch.decode_rows is None:
            kernel_rows = None
        else:
            kernel_rows = torch.arange(N) if batch.all_decode else batch.decode_rows
        out = torch.empty(N, H, self.v_dim, dtype=x.dtype)
        if kernel_rows is not None:
            slots, first, length = batch.token_context
            qn, qr = q_nope[kernel_rows].float(), q_rope[kernel_rows].float()
            q = torch.cat([kernels.grouped_linear(qn, self.absorbed_uk), qr], dim=-1)  # [n, H, C+R]
            o = kernels.attention(q.view(-1, q.shape[-1]), cache, slots, first[kernel_rows].repeat_interleave(H),
                                  length[kernel_rows].repeat_interleave(H), self.softmax_scale, self.kv_lora_rank)
            out[kernel_rows] = kernels.grouped_linear(o.view(-1, H, self.kv_lora_rank), self.absorbed_uv).to(x.dtype)
        if not self.deterministic:
            for rows, slots, mask in batch.prefills:  # prompt chunks: torch, in the cheaper form
                n = rows.stop - rows.start
                if self.prefill_form == "expanded" or (self.prefill_form == "auto" and self.expanded_is_cheaper(n)):
                    out[rows] = self.attend_expanded(q_nope[rows], q_rope[rows], cache[slots], mask)
                else:
                    o = self.attend_absorbed(q_nope[rows].reshape(1, n * H, -1), q_rope[rows].reshape(1, n * H, -1),
                                             cache[slots].unsqueeze(0), mask.expand(n, H, -1).reshape(1, n * H, -1))
                    out[rows] = o.view(n, H, -1)
        return self.o_proj(out.flatten(1))


def use_kernels(model: CausalLM, quantize: str | None = None, deterministic: bool = False) -> CausalLM:
    """Re-lay model (in place) for the kernels: linear layers, MoE / MLP layers and attention; quantize is
    None (the model's dtype), "int8" or "int4". Meant for inference: the result cannot be saved as a checkpoint."""
    if quantize not in (None, "int8", "int4"):
        raise ValueError(f"unknown quantization {quantize!r}: openk2 supports int8 and int4")
    if not kernels.available():
        raise RuntimeError("openk2's kernels are not available here (see the log): use the torch path")

    def fmt_of(w: torch.Tensor) -> str | torch.dtype:
        return kernel_format(w, quantize)

    # A pack-quantized checkpoint's int4 weights, by module (checkpoint.load_model keeps them packed).
    modules = dict(model.named_modules())
    native = {id(modules[name]): pair for name, pair in getattr(model, "int4_weights", {}).items()}
    for layer in model.model.layers:  # feed-forward first, so that no expert is packed as a linear layer
        layer.mlp = KernelFFN(layer.mlp, fmt_of, deterministic, native)
    for module in list(model.modules()):
        if isinstance(module, MLA):
            # The absorbed weights stay in the model's float dtype: they are small and sit next to the softmax.
            w_uk, w_uv_t = module.split_kv_b()  # [H, Dn, C], [H, C, Dv]
            dtype = torch.bfloat16 if w_uk.dtype == torch.bfloat16 else torch.float32
            module.absorbed_uk = kernels.pack(w_uk.transpose(1, 2), dtype)
            module.absorbed_uv = kernels.pack(w_uv_t.transpose(1, 2), dtype)
            module.deterministic = deterministic
            module.__class__ = KernelMLA
        for name, child in list(module.named_children()):
            if isinstance(child, nn.Linear) and child.bias is None and name != "kv_b_proj":
                weight = native.get(id(child), child.weight)
                setattr(module, name, KernelLinear(weight, fmt_of(child.weight), deterministic))
    if native and any(p.is_meta for p in model.parameters()):
        raise ValueError("int4 weights of this checkpoint sit where openk2 cannot run them packed (kv_b_proj)")
    model.__dict__.pop("int4_weights", None)
    model.quantization = quantize or ("int4-native" if native else "kernels")
    return model


def set_deterministic(model: CausalLM, deterministic: bool) -> CausalLM:
    """Switch a kernel-laid model between deterministic and fast prefill (the weights are the same)."""
    for module in model.modules():
        if isinstance(module, (KernelLinear, KernelFFN, KernelMLA)):
            module.deterministic = deterministic
    return model
