"""Weight-only int8 quantisation of linear and expert weights: half the bytes per decoded token on a CPU.

Decoding reads every active weight once per token, so its speed is bytes / bandwidth. With one
int8 per weight and one scale per output row (symmetric, per channel), the matrix-vector
products read half of what bf16 reads, and PyTorch's int8 weight kernel
(`aten._weight_int8pack_mm`, as in gpt-fast) runs them near memory speed, where its bf16 GEMV
does not. Applied from outside the model, after loading: `quantize_int8_(model)`.
"""

from __future__ import annotations

import logging

import torch
from torch import nn

from .model import MLA, MLP, CausalLM, fuse_gate_up_

log = logging.getLogger(__name__)

# The kernel reads the input dimension in blocks of 16 and crashes on other sizes (torch 2.13).
INT8_KERNEL_BLOCK = 16


INT4_GROUP = 32


def quantize_int4(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """[O, I] float -> (uint8 [O, I/2], scale float32 [O, I/32]): symmetric int4 in groups of 32 inputs.

    Stored as compressed-tensors' pack-quantized layout (the one K2-Thinking ships): value v as v + 8, inputs
    2j and 2j+1 in the low and high nibble of byte j. As in llama.cpp's Q4_0, the value of largest magnitude in
    a group maps to -8 exactly and the others round into [-8, 7]: one more level than a [-7, 7] grid.
    """
    O, I = weight.shape
    assert I % INT4_GROUP == 0, "int4 groups need an input size that is a multiple of 32"
    w = weight.detach().float().view(O, I // INT4_GROUP, INT4_GROUP)
    extreme = w.gather(-1, w.abs().argmax(-1, keepdim=True))  # [O, G, 1], signed
    scale = extreme / -8.0
    scale = torch.where(scale == 0, torch.ones_like(scale), scale)
    q = ((w / scale).round().clamp(-8, 7) + 8).to(torch.uint8).view(O, I)
    return (q[:, 0::2] | (q[:, 1::2] << 4)).contiguous(), scale.view(O, I // INT4_GROUP).contiguous()


def dequantize_int4(packed: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """The inverse of quantize_int4's packing: uint8 [O, I/2] and scales [O, I/32] -> float32 [O, I]."""
    O = packed.shape[0]
    q = torch.stack([packed & 15, packed >> 4], dim=-1).view(O, -1).float() - 8  # [O, I]
    return (q.view(O, -1, INT4_GROUP) * scale.float()[..., None]).view(O, -1)


def quantize_weight(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """[O, I] float -> (int8 [O, I], per-row scale [O] float32) with weight ~= int8 * scale."""
    w = weight.detach().float()
    scale = w.abs().amax(dim=1).clamp(min=1e-12) / 127.0
    return (w / scale[:, None]).round().clamp(-127, 127).to(torch.int8), scale


class Int8Linear(nn.Module):
    """A bias-free linear layer whose weight is stored as int8 with per-output-row scales."""

    def __init__(self, linear: nn.Linear):
        super().__init__()
        assert linear.bias is None
        q, scale = quantize_weight(linear.weight)
        self.in_features, self.out_features = linear.in_features, linear.out_features
        self.register_buffer("weight", q)
        self.register_buffer("scale", scale.to(linear.weight.dtype))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.reshape(-1, self.in_features).contiguous()
        y = torch.ops.aten._weight_int8pack_mm(flat, self.weight, self.scale.to(x.dtype))
        return y.view(*x.shape[:-1], self.out_features)


def quantizable(name: str, module: nn.Module, kv_b_projs: set[int]) -> bool:
    # kv_b_proj's weight is read directly as W_UK / W_UV for the absorbed attention: kept as is.
    return (isinstance(module, nn.Linear) and module.bias is None and id(module) not in kv_b_projs
            and module.in_features % INT8_KERNEL_BLOCK == 0 and module.weight.dtype in (torch.bfloat16, torch.float32))


def quantize_int8_(model: CausalLM) -> CausalLM:
    """Replace the model's linear layers (attention, MLPs, experts, output head) by Int8Linear, in place.

    The embedding table (read one row per token), the router (float32, decides expert choice) and
    kv_b_proj stay in their dtype. Meant for inference: the result cannot be saved as a checkpoint.
    """
    kv_b_projs = {id(m.kv_b_proj) for m in model.modules() if isinstance(m, MLA)}
    for mlp in [m for m in model.modules() if isinstance(m, MLP)]:
        if mlp.gate_up is None:
            fuse_gate_up_(mlp)
        if mlp.gate_up.in_features % INT8_KERNEL_BLOCK == 0:
            del mlp.gate_proj, mlp.up_proj  # only the fused projection runs, and it is quantised next
    skipped = 0
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if quantizable(name, child, kv_b_projs):
                setattr(parent, name, Int8Linear(child))
            elif isinstance(child, nn.Linear) and id(child) not in kv_b_projs:
                skipped += 1
    if skipped:
        log.info("int8: kept %d linear layer(s) whose input size is not a multiple of %d", skipped, INT8_KERNEL_BLOCK)
    model.quantization = "int8"
    return model
