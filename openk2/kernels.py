"""openk2's C decode kernels (kernels.c): built with the system C compiler at first use, loaded with ctypes.

Why our own: on CPUs without AVX-512 (AMD Zen 3, many cloud VMs) torch has no bf16 matrix-vector path near
memory speed, its int4 kernel wants its own packing, and per-expert calls cost more Python than arithmetic.
kernels.c holds the few loops decode needs: one weight row against a few activation rows in fp32 / bf16 /
int8 / int4 (group 32), a fused MoE layer (routed + shared experts in one call) and absorbed-MLA attention
over the paged cache. They are batch-invariant by construction (see kernels.c), which deterministic greedy
decoding relies on.

The library is cached under $OPENK2_CACHE (default ~/.cache/openk2) by source, flags and CPU. OPENK2_KERNELS
chooses: "native" (default, -march=native: AVX2/FMA paths where the CPU has them), "portable" (plain x86-64:
the scalar fallback paths, used by the tests) or "off" (torch only). Without a C compiler the engine runs on
torch's kernels and says so once.
"""

from __future__ import annotations

import ctypes
import hashlib
import logging
import os
import platform
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import torch

log = logging.getLogger(__name__)

SOURCE = Path(__file__).with_name("kernels.c")
FORMATS = {torch.float32: 0, torch.bfloat16: 1, "int8": 2, "int4": 3}
QUANT_BLOCK = 32  # the integer formats quantise activations per 32 inputs; int4 weights have a scale per 32


def mode() -> str:
    value = os.environ.get("OPENK2_KERNELS", "native")
    if value not in ("native", "portable", "off"):
        raise ValueError(f"OPENK2_KERNELS={value!r}: use native, portable or off")
    return value


def _cpu_signature() -> str:
    try:
        flags = next(line for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("flags"))
    except (OSError, StopIteration):
        flags = platform.processor()
    return flags


@cache
def _library(which: str) -> ctypes.CDLL | None:
    compiler = os.environ.get("CC") or shutil.which("gcc") or shutil.which("cc")
    if compiler is None:
        log.warning("no C compiler found: decoding runs on torch's kernels (slower); install gcc for openk2's own")
        return None
    arch = ["-march=native"] if which == "native" and platform.machine() in ("x86_64", "AMD64") else []
    if which == "native" and not arch:
        arch = ["-mcpu=native"] if platform.machine() in ("aarch64", "arm64") else []
    flags = ["-O3", "-fopenmp", "-fPIC", "-shared", "-std=c11", *arch]
    source = SOURCE.read_bytes()
    key = hashlib.sha256(source + " ".join([compiler, *flags, _cpu_signature()]).encode()).hexdigest()[:16]
    cache_dir = Path(os.environ.get("OPENK2_CACHE", Path.home() / ".cache" / "openk2"))
    target = cache_dir / f"kernels-{which}-{key}.so"
    if not target.exists():
        cache_dir.mkdir(parents=True, exist_ok=True)
        # Build beside the target and rename: concurrent first uses never load a half-written file.
        with tempfile.TemporaryDirectory(dir=cache_dir) as tmp:
            out = Path(tmp) / target.name
            result = subprocess.run([compiler, *flags, str(SOURCE), "-o", str(out), "-lm"], capture_output=True, text=True)
            if result.returncode != 0:
                log.warning("building openk2's kernels failed, decoding runs on torch's kernels:\n%s", result.stderr[-2000:])
                return None
            out.replace(target)
    # torch is imported, so its libgomp is loaded: the kernels resolve to it and share torch's OpenMP threads.
    lib = ctypes.CDLL(str(target))
    P, I, L, F = ctypes.c_void_p, ctypes.c_int, ctypes.c_long, ctypes.c_float
    lib.ok2_linear.argtypes = [I, I, I, I, I, P, L, L, P, P, P, L, L]
    lib.ok2_moe.argtypes = [I, I, I, I, I, I, I, P, P, P, P, P, P, P, P]
    lib.ok2_attention.argtypes = [I, I, I, P, P, I, L, P, L, P, P, F, P]
    lib.ok2_moe.restype = lib.ok2_attention.restype = I
    lib.ok2_isa.restype = I
    return lib


def library() -> ctypes.CDLL | None:
    """The loaded kernels, or None when they are switched off or cannot be built here."""
    which = mode()
    return None if which == "off" else _library(which)


def available() -> bool:
    return library() is not None


def isa() -> str:
    """Which code paths the loaded library uses: 'avx2' or 'scalar' (or 'none')."""
    lib = library()
    return "none" if lib is None else {2: "avx2"}.get(lib.ok2_isa(), "scalar")


def _ptr(t: torch.Tensor | None) -> int | None:
    return None if t is None else t.data_ptr()


@dataclass
class Packed:
    """G weight matrices [O, I] in one kernel format, stored back to back (G experts or heads, or 1)."""

    fmt: int
    weight: torch.Tensor  # [G, O, I] float/bf16/int8, or [G, O, I/2] uint8 for int4
    scale: torch.Tensor | None  # float32 [G, O] (int8), [G, O, I/32] (int4), None otherwise
    out_features: int
    in_features: int

    def __post_init__(self):
        # The C side trusts these shapes: a wrong one would read past the tensors, so check them once here.
        G, O, I = self.weight.shape[0], self.out_features, self.in_features
        integer = self.fmt in (FORMATS["int8"], FORMATS["int4"])
        if integer and I % QUANT_BLOCK:
            raise ValueError(f"int8/int4 kernels need an input size that is a multiple of {QUANT_BLOCK}, not {I}")
        stored = (G, O, I // 2) if self.fmt == FORMATS["int4"] else (G, O, I)
        scales = {FORMATS["int8"]: (G, O), FORMATS["int4"]: (G, O, I // QUANT_BLOCK)}.get(self.fmt)
        dtype = {0: torch.float32, 1: torch.bfloat16, 2: torch.int8, 3: torch.uint8}[self.fmt]
        if tuple(self.weight.shape) != stored or self.weight.dtype != dtype or not self.weight.is_contiguous():
            raise ValueError(f"packed weight {tuple(self.weight.shape)} {self.weight.dtype}: expected a contiguous "
                             f"{stored} {dtype}")
        if (None if self.scale is None else tuple(self.scale.shape)) != scales or (
                self.scale is not None and (self.scale.dtype != torch.float32 or not self.scale.is_contiguous())):
            raise ValueError(f"packed scales {None if self.scale is None else tuple(self.scale.shape)}: expected "
                             f"contiguous float32 {scales}")

    @property
    def groups(self) -> int:
        return self.weight.shape[0]

    @property
    def nbytes(self) -> int:
        extra = 0 if self.scale is None else self.scale.numel() * 4
        return self.weight.numel() * self.weight.element_size() + extra


def pack(weight: torch.Tensor, fmt: str | torch.dtype) -> Packed:
    """Float weights [O, I] or [G, O, I] -> Packed in fmt: a float dtype (kept as is), "int8" or "int4"."""
    from .quant import quantize_int4, quantize_weight

    w = weight.detach()
    if w.dim() == 2:
        w = w.unsqueeze(0)
    G, O, I = w.shape
    if fmt in (torch.float32, torch.bfloat16):
        return Packed(FORMATS[fmt], w.to(fmt).contiguous(), None, O, I)
    if I % QUANT_BLOCK:
        raise ValueError(f"{fmt} kernels need an input size that is a multiple of {QUANT_BLOCK}, not {I}")
    if fmt == "int8":
        q, scale = quantize_weight(w.reshape(G * O, I))
        return Packed(FORMATS["int8"], q.view(G, O, I), scale.view(G, O).contiguous(), O, I)
    if fmt == "int4":
        q, scale = quantize_int4(w.reshape(G * O, I))
        return Packed(FORMATS["int4"], q.view(G, O, I // 2), scale.view(G, O, I // QUANT_BLOCK), O, I)
    raise ValueError(f"unknown kernel format {fmt!r}")


def linear(x: torch.Tensor, w: Packed) -> torch.Tensor:
    """x [..., I] -> float32 [..., O] through one matrix (w.groups == 1)."""
    assert w.groups == 1 and x.shape[-1] == w.in_features
    flat = x.reshape(-1, w.in_features).float().contiguous()
    N, O = flat.shape[0], w.out_features
    y = torch.empty(N, O, dtype=torch.float32)
    if N:
        library().ok2_linear(w.fmt, 1, N, O, w.in_features, flat.data_ptr(), 0, w.in_features, w.weight.data_ptr(),
                             _ptr(w.scale), y.data_ptr(), 0, O)
    return y.view(*x.shape[:-1], O)


def grouped_linear(x: torch.Tensor, w: Packed) -> torch.Tensor:
    """x [N, G, I] (float32, last dim contiguous) -> float32 [N, G, O]: matrix g for column g (heads)."""
    N, G, I = x.shape
    assert G == w.groups and I == w.in_features and x.dtype == torch.float32 and x.stride(2) == 1
    O = w.out_features
    y = torch.empty(N, G, O, dtype=torch.float32)
    if N:
        library().ok2_linear(w.fmt, G, N, O, I, x.data_ptr(), x.stride(1), x.stride(0), w.weight.data_ptr(),
                             _ptr(w.scale), y.data_ptr(), O, G * O)
    return y


def moe(x: torch.Tensor, expert_ids: torch.Tensor, weights: torch.Tensor, w13: Packed, w2: Packed) -> torch.Tensor:
    """SwiGLU experts: x [N, D] float32, expert_ids [N, K] int64, weights [N, K] float32 -> float32 [N, D].
    w13 [E, 2I, D] holds each expert's gate rows then up rows; w2 [E, D, I] its down projection."""
    N, D = x.shape
    K, I = expert_ids.shape[1], w2.in_features
    assert w13.out_features == 2 * I and w13.in_features == D and w2.out_features == D
    assert w13.groups == w2.groups and weights.shape == expert_ids.shape and x.dtype == torch.float32
    x, ids, weights = x.contiguous(), expert_ids.long().contiguous(), weights.float().contiguous()
    out = torch.empty(N, D, dtype=torch.float32)
    if N and library().ok2_moe(w13.fmt, w2.fmt, w13.groups, N, D, I, K, x.data_ptr(), ids.data_ptr(),
                               weights.data_ptr(), w13.weight.data_ptr(), _ptr(w13.scale), w2.weight.data_ptr(),
                               _ptr(w2.scale), out.data_ptr()):
        raise IndexError(f"expert ids must lie in [0, {w13.groups}): got {ids.min().item()}..{ids.max().item()}")
    return out


def attention(q: torch.Tensor, kv: torch.Tensor, slots: torch.Tensor, first: torch.Tensor, length: torch.Tensor,
              scale: float, latent_dim: int) -> torch.Tensor:
    """Absorbed attention: query rows q [R, C+R'] float32; row r attends to kv[slots[first[r] : first[r] +
    length[r]]] of the cache kv [P, C+R'] (float32 or bf16) -> float32 [R, C]."""
    R, W = q.shape
    assert kv.dtype in (torch.float32, torch.bfloat16) and kv.shape[1] == W and kv.is_contiguous()
    assert first.shape == length.shape == (R,) and slots.dim() == 1
    q = q.float().contiguous()
    slots, first, length = slots.long().contiguous(), first.long().contiguous(), length.long().contiguous()
    o = torch.empty(R, latent_dim, dtype=torch.float32)
    if R and library().ok2_attention(R, W, latent_dim, q.data_ptr(), kv.data_ptr(), int(kv.dtype == torch.bfloat16),
                                     kv.shape[0], slots.data_ptr(), slots.numel(), first.data_ptr(), length.data_ptr(),
                                     scale, o.data_ptr()):
        raise IndexError(f"attention context out of range: slots must lie in [0, {kv.shape[0]}) and each row's "
                         f"first + length within the {slots.numel()} slots given")
    return o
