"""Load and save Hugging Face-format K2 / DeepSeek-V3 checkpoints (config.json + safetensors, FP8 included)."""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Iterator
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from .config import ModelConfig
from .model import CausalLM

log = logging.getLogger(__name__)

INDEX_FILE = "model.safetensors.index.json"
SINGLE_FILE = "model.safetensors"
FP8_DTYPES = (torch.float8_e4m3fn, torch.float8_e5m2)
# Routing decides which experts run; bf16 rounding of router scores changes those decisions,
# so the router stays float32 whatever the model dtype (transformers does the same).
FLOAT32_KEYS = re.compile(r"\.mlp\.gate\.(weight|e_score_correction_bias)$")
LAYER_KEY = re.compile(r"^model\.layers\.(\d+)\.")


def load_config(path: str | Path) -> ModelConfig:
    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(f"checkpoint directory {path} does not exist")
    if not (path / "config.json").is_file():
        raise FileNotFoundError(f"{path} has no config.json: not a Hugging Face checkpoint directory")
    return ModelConfig.from_json_file(path / "config.json")


def safetensors_files(path: Path) -> list[Path]:
    """The weight files of a checkpoint: the shards named by the index, or the single file."""
    if (path / INDEX_FILE).is_file():
        try:
            weight_map = json.loads((path / INDEX_FILE).read_text())["weight_map"]
        except (json.JSONDecodeError, KeyError, TypeError) as e:
            raise ValueError(f"{path / INDEX_FILE} is not a valid safetensors index: {e}") from None
        files = [path / name for name in sorted(set(weight_map.values()))]
    elif (path / SINGLE_FILE).is_file():
        files = [path / SINGLE_FILE]
    else:
        raise FileNotFoundError(f"{path} has no {SINGLE_FILE} or {INDEX_FILE}")
    for f in files:
        if not f.is_file():
            raise FileNotFoundError(f"shard {f.name} named in {INDEX_FILE} is missing from {path}")
    return files


def iter_checkpoint_tensors(path: Path, fp8_block: tuple[int, int] = (128, 128)) -> Iterator[tuple[str, torch.Tensor]]:
    """Yield (name, tensor) one at a time from memory-mapped safetensors files, FP8 dequantised."""
    for file in safetensors_files(path):
        try:
            with safe_open(file, framework="pt") as f:
                names = set(f.keys())
                for name in sorted(names):
                    if name.endswith("_scale_inv"):
                        continue
                    tensor = f.get_tensor(name)
                    if tensor.dtype in FP8_DTYPES:
                        scale_name = name + "_scale_inv"
                        if scale_name not in names:
                            raise ValueError(f"{file.name}: FP8 tensor {name} has no {scale_name} in the same file")
                        tensor = dequantize_fp8(name, tensor, f.get_tensor(scale_name), fp8_block)
                    yield name, tensor
        except SafetensorError as e:
            raise ValueError(f"{file} is not a valid safetensors file ({e})") from None


def dequantize_fp8(name: str, weight: torch.Tensor, scale_inv: torch.Tensor, block: tuple[int, int]) -> torch.Tensor:
    """FP8 weight [O, I] with per-block scales [ceil(O/bo), ceil(I/bi)] -> float32 (128x128 blocks in K2/DeepSeek-V3)."""
    out_dim, in_dim = weight.shape
    block_o, block_i = block
    want = (-(-out_dim // block_o), -(-in_dim // block_i))
    if tuple(scale_inv.shape) != want:
        raise ValueError(f"{name}_scale_inv has shape {tuple(scale_inv.shape)} but {block_o}x{block_i} blocks of "
                         f"{name} {tuple(weight.shape)} need {want}")
    scale = scale_inv.float().repeat_interleave(block_o, 0)[:out_dim].repeat_interleave(block_i, 1)[:, :in_dim]
    return weight.float() * scale


def expected_shapes(config: ModelConfig, model: CausalLM | None = None) -> dict[str, tuple[int, ...]]:
    """Every tensor name a checkpoint of this config must hold, with its shape, from a freshly built
    model (pass one built on meta to reuse it: building K2's 70K expert matrices takes seconds)."""
    if model is None:
        with torch.device("meta"):
            model = CausalLM(config)
    state = model.state_dict()
    if config.tie_word_embeddings:
        state.pop("lm_head.weight", None)
    return {name: tuple(t.shape) for name, t in state.items()}


def random_weights(config: ModelConfig, dtype: torch.dtype, seed: int = 0) -> Iterator[tuple[str, torch.Tensor]]:
    """(name, tensor) of a random checkpoint, one tensor at a time: norms 1, correction bias 0, the rest
    normal(0, initializer_range); the router in float32. Same seed, same weights."""
    generator = torch.Generator().manual_seed(seed)
    for name, shape in expected_shapes(config).items():
        if name.endswith("norm.weight"):
            tensor = torch.ones(shape)
        elif name.endswith("e_score_correction_bias"):
            tensor = torch.zeros(shape)
        else:
            tensor = torch.empty(shape).normal_(0.0, config.initializer_range, generator=generator)
        yield name, tensor if FLOAT32_KEYS.search(name) else tensor.to(dtype)


class TensorFilter:
    """Decides for each checkpoint tensor: load it, skip it (MTP layers, stale buffers) or reject it."""

    def __init__(self, path: Path, config: ModelConfig, model: CausalLM | None = None):
        self.path, self.config = path, config
        self.expected = expected_shapes(config, model)
        self.skipped_mtp_layers: set[int] = set()

    def skipped(self, name: str) -> bool:
        """A tensor of a multi-token-prediction layer, which decoding does not use."""
        layer = LAYER_KEY.match(name)
        return bool(layer) and int(layer.group(1)) >= self.config.num_hidden_layers

    def wanted(self, name: str, shape: tuple[int, ...]) -> bool:
        layer = LAYER_KEY.match(name)
        if layer and int(layer.group(1)) >= self.config.num_hidden_layers:
            self.skipped_mtp_layers.add(int(layer.group(1)))  # multi-token-prediction heads: not used for decoding
            return False
        if name.endswith("rotary_emb.inv_freq") or (self.config.tie_word_embeddings and name == "lm_head.weight"):
            return False
        if name not in self.expected:
            raise ValueError(f"{self.path}: unexpected tensor {name} {shape} (not part of this architecture)")
        if shape != self.expected[name]:
            raise ValueError(f"{self.path}: tensor {name} has shape {shape} but the config expects {self.expected[name]}")
        return True

    def finish(self, seen: set[str]) -> None:
        if self.skipped_mtp_layers:
            log.info("skipping multi-token-prediction layer(s) %s: not used for decoding", sorted(self.skipped_mtp_layers))
        missing = [name for name in self.expected if name not in seen]
        if missing:
            shown = ", ".join(f"{n} {self.expected[n]}" for n in missing[:3])
            more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
            raise ValueError(f"{self.path}: checkpoint is missing {len(missing)} tensor(s): {shown}{more}")


def check_checkpoint(path: str | Path) -> tuple[ModelConfig, dict[str, int]]:
    """Validate names and shapes from the safetensors headers alone; returns the config and a dtype histogram."""
    path = Path(path)
    config = load_config(path)
    tensors = TensorFilter(path, config)
    seen: set[str] = set()
    dtypes: dict[str, int] = {}
    for file in safetensors_files(path):
        try:
            with safe_open(file, framework="pt") as f:
                for name in f.keys():
                    info = f.get_slice(name)
                    dtypes[info.get_dtype()] = dtypes.get(info.get_dtype(), 0) + 1
                    if not name.endswith("_scale_inv") and tensors.wanted(name, tuple(info.get_shape())):
                        seen.add(name)
        except SafetensorError as e:
            raise ValueError(f"{file} is not a valid safetensors file ({e})") from None
    tensors.finish(seen)
    return config, dtypes


PACKED_SUFFIXES = (".weight_packed", ".weight_scale", ".weight_shape")


def take_packed_int4(name: str, tensor: torch.Tensor, expected: dict[str, tuple[int, ...]],
                     packed: dict[str, dict[str, torch.Tensor]]) -> str | None:
    """Collect one compressed-tensors tensor (NAME.weight_packed / _scale / _shape) under NAME; -> the weight's
    name once all three are in (shapes checked), else None."""
    module, _, part = name.rpartition(".")
    weight = module + ".weight"
    if weight not in expected:
        raise ValueError(f"unexpected tensor {name}: no {weight} in this architecture")
    entry = packed.setdefault(module, {})
    entry[part] = tensor
    if len(entry) < 3:
        return None
    out_dim, in_dim = expected[weight]
    if entry["weight_shape"].tolist() != [out_dim, in_dim]:
        raise ValueError(f"{module}.weight_shape is {entry['weight_shape'].tolist()} but the config expects {[out_dim, in_dim]}")
    if tuple(entry["weight_packed"].shape) != (out_dim, in_dim // 8) or entry["weight_packed"].dtype != torch.int32:
        raise ValueError(f"{module}.weight_packed must be int32 {(out_dim, in_dim // 8)} (8 int4 values a word), "
                         f"not {entry['weight_packed'].dtype} {tuple(entry['weight_packed'].shape)}")
    if tuple(entry["weight_scale"].shape) != (out_dim, in_dim // 32):
        raise ValueError(f"{module}.weight_scale has shape {tuple(entry['weight_scale'].shape)}; groups of 32 need "
                         f"{(out_dim, in_dim // 32)}")
    return weight


def load_model(path: str | Path, dtype: torch.dtype = torch.float32, device: str | torch.device = "cpu",
               max_model_len: int | None = None) -> CausalLM:
    """Read a HF-format checkpoint directory into a CausalLM in eval mode; max_model_len sets the context it
    serves (ModelConfig.with_max_len: YaRN past the trained context).

    compressed-tensors int4 (pack-quantized) weights stay packed: `model.int4_weights[module name]` holds each
    one as uint8 [O, I/2] nibbles (the file's int32 words viewed as bytes, no copy of the values) and float32
    scales [O, I/32]; those modules' weights stay on the meta device, so the model runs through the engine's
    int4 kernels (kernel_layers.use_kernels), never as a float model.
    """
    path = Path(path)
    config = load_config(path)
    if max_model_len is not None:
        config = config.with_max_len(max_model_len)
    with torch.device("meta"):
        model = CausalLM(config)
    tensors = TensorFilter(path, config, model)
    state: dict[str, torch.Tensor] = {}
    packed: dict[str, dict[str, torch.Tensor]] = {}
    int4_done: set[str] = set()
    block = tuple((config.quantization_config or {}).get("weight_block_size", (128, 128)))
    for name, tensor in iter_checkpoint_tensors(path, block):
        if config.is_pack_quantized and name.endswith(PACKED_SUFFIXES) and not tensors.skipped(name):
            weight = take_packed_int4(name, tensor, tensors.expected, packed)
            if weight is not None:
                int4_done.add(weight)
            continue
        if tensors.wanted(name, tuple(tensor.shape)):
            target_dtype = torch.float32 if FLOAT32_KEYS.search(name) else dtype
            state[name] = tensor.to(device=device, dtype=target_dtype)
    tensors.finish(set(state) | int4_done)
    model.load_state_dict(state, assign=True, strict=not config.tie_word_embeddings and not int4_done)
    if int4_done:
        model.int4_weights = {
            module: (parts["weight_packed"].contiguous().view(torch.uint8), parts["weight_scale"].float().contiguous())
            for module, parts in packed.items()}
    if config.tie_word_embeddings:
        model.lm_head.weight = model.model.embed_tokens.weight
    model.model.rotary_emb.to(device)
    return model.eval()


def save_model(model: CausalLM, path: str | Path, max_shard_bytes: int = 5 * 1024**3) -> None:
    """Write config.json + safetensors (sharded with an index past max_shard_bytes) that transformers loads."""
    if getattr(model, "quantization", None):
        raise ValueError(f"this model is quantised ({model.quantization}) for inference; save the model as loaded instead")
    hf_names = expected_shapes(model.config)  # inference-only additions (fused projections) are not saved
    state = {name: _owned(t.detach()) for name, t in model.state_dict().items() if name in hf_names}
    dtype = next(t.dtype for name, t in state.items() if not FLOAT32_KEYS.search(name))
    write_checkpoint(path, model.config, iter(state.items()), dtype, max_shard_bytes)


def _owned(t: torch.Tensor) -> torch.Tensor:
    """safetensors refuses tensors that share storage (e.g. fused gate/up views): give those their own."""
    if t.untyped_storage().nbytes() != t.numel() * t.element_size():
        return t.clone()
    return t.contiguous()


def write_checkpoint(
    path: str | Path,
    config: ModelConfig,
    tensors: Iterator[tuple[str, torch.Tensor]],
    dtype: torch.dtype,
    max_shard_bytes: int = 5 * 1024**3,
) -> list[Path]:
    """Stream (name, tensor) pairs into HF-layout shards; holds at most one shard in memory."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    shards: list[dict[str, torch.Tensor]] = [{}]
    written: list[Path] = []
    weight_map: dict[str, int] = {}
    shard_bytes, total_bytes = 0, 0

    def flush(final: bool) -> None:
        nonlocal shard_bytes
        if shards[-1]:
            tmp_name = f"shard-{len(written):05d}.tmp"
            save_file(shards[-1], str(path / tmp_name), metadata={"format": "pt"})
            written.append(path / tmp_name)
        if not final:
            shards.append({})
            shard_bytes = 0

    for name, tensor in tensors:
        size = tensor.numel() * tensor.element_size()
        if shard_bytes and shard_bytes + size > max_shard_bytes:
            flush(final=False)
        shards[-1][name] = tensor
        weight_map[name] = len(written)
        shard_bytes += size
        total_bytes += size
    flush(final=True)

    # Names like model-00001-of-00003.safetensors need the shard count, known only at the end.
    if len(written) == 1:
        final_names = [SINGLE_FILE]
    else:
        final_names = [f"model-{i + 1:05d}-of-{len(written):05d}.safetensors" for i in range(len(written))]
    for tmp, final in zip(written, final_names):
        tmp.chmod(0o644)  # safetensors writes 0600; checkpoints are meant to be shared
        fsync_file(tmp)  # the data reaches the disk before the name does: a crash never leaves a short shard
        tmp.replace(path / final)
    for stale in ([INDEX_FILE] if len(written) == 1 else [SINGLE_FILE]):
        (path / stale).unlink(missing_ok=True)
    if len(written) > 1:
        index = {"metadata": {"total_size": total_bytes}, "weight_map": {n: final_names[i] for n, i in sorted(weight_map.items())}}
        write_durably(path / INDEX_FILE, json.dumps(index, indent=2) + "\n")
    hf = config.to_hf()
    hf["torch_dtype"] = str(dtype).removeprefix("torch.")
    write_durably(path / "config.json", json.dumps(hf, indent=2) + "\n")
    fsync_dir(path)  # the renames themselves
    return [path / n for n in final_names]


def fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: Path) -> None:
    """Make a directory's entries durable: a file created or renamed into it survives a crash only after this."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_tree(path: Path) -> None:
    """fsync every file under `path`, then every directory, deepest first (before renaming the tree into place)."""
    for root, _, files in os.walk(path, topdown=False):
        for name in files:
            fsync_file(Path(root) / name)
        fsync_dir(Path(root))


def write_durably(path: Path, text: str) -> None:
    """Write a small file whole or not at all: a temporary file, fsynced, then renamed over `path`."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    fsync_file(tmp)
    tmp.replace(path)
