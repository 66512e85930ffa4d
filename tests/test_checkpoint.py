"""Checkpoint loading beyond plain float weights: FP8 block scales, MTP layers, and broken checkpoints."""

from __future__ import annotations

import json
import logging
import math
import os

import pytest
import torch
from hf_reference import TINY, make_hf_model
from safetensors.torch import load_file, save_file

from openk2.checkpoint import check_checkpoint, load_model, random_weights, write_checkpoint
from openk2.config import ModelConfig

# Dimensions that are not multiples of 128, so the last row/column of scale blocks is ragged.
FP8_SHAPE = dict(hidden_size=160, intermediate_size=272, moe_intermediate_size=136, q_lora_rank=136, kv_lora_rank=40,
                 num_hidden_layers=2)


def quantize_fp8_blocks(w: torch.Tensor, block: int = 128) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Quantise [O, I] to float8_e4m3fn with one scale per block x block tile, as DeepSeek-V3 / K2 ship.

    Returns (fp8 weight, weight_scale_inv [ceil(O/b), ceil(I/b)], the dequantised float32 weight).
    """
    out_dim, in_dim = w.shape
    n_o, n_i = math.ceil(out_dim / block), math.ceil(in_dim / block)
    padded = torch.zeros(n_o * block, n_i * block)
    padded[:out_dim, :in_dim] = w
    tiles = padded.view(n_o, block, n_i, block)
    scale = tiles.abs().amax(dim=(1, 3)).clamp(min=1e-12) / torch.finfo(torch.float8_e4m3fn).max
    q = (tiles / scale[:, None, :, None]).to(torch.float8_e4m3fn)
    deq = (q.float() * scale[:, None, :, None]).view(n_o * block, n_i * block)[:out_dim, :in_dim]
    return q.view(n_o * block, n_i * block)[:out_dim, :in_dim].contiguous(), scale, deq.contiguous()


def is_fp8_weight(name: str, t: torch.Tensor) -> bool:
    # As in the real releases: linear layers inside the blocks; not embeddings, head, norms or the router.
    return name.startswith("model.layers.") and t.dim() == 2 and ".mlp.gate." not in name


def test_fp8_block_scaled_checkpoint_matches_dequantised_reference(tmp_path):
    hf_model = make_hf_model(seed=11, weight_std=0.08, **FP8_SHAPE)
    hf_model.save_pretrained(tmp_path / "float")
    state = load_file(tmp_path / "float" / "model.safetensors")
    fp8_state, dequantised = {}, {}
    for name, t in state.items():
        if is_fp8_weight(name, t):
            q, scale_inv, deq = quantize_fp8_blocks(t)
            fp8_state[name], fp8_state[name + "_scale_inv"] = q, scale_inv
            dequantised[name] = deq
        else:
            fp8_state[name] = t
    assert any(v.shape[0] > 1 and v.shape[1] > 1 for k, v in fp8_state.items() if k.endswith("_scale_inv"))
    (tmp_path / "fp8").mkdir()
    save_file(fp8_state, tmp_path / "fp8" / "model.safetensors", metadata={"format": "pt"})
    config = json.loads((tmp_path / "float" / "config.json").read_text())
    config["quantization_config"] = {"quant_method": "fp8", "fmt": "e4m3", "activation_scheme": "dynamic",
                                     "weight_block_size": [128, 128]}
    (tmp_path / "fp8" / "config.json").write_text(json.dumps(config))

    ours = load_model(tmp_path / "fp8")
    ours_state = ours.state_dict()
    for name, deq in dequantised.items():
        assert torch.equal(ours_state[name], deq), name
    # Reference: transformers loading the dequantised weights as a plain float checkpoint.
    from transformers import AutoModelForCausalLM

    save_file({**state, **dequantised}, tmp_path / "float" / "model.safetensors", metadata={"format": "pt"})
    reference = AutoModelForCausalLM.from_pretrained(tmp_path / "float").eval()
    ids = torch.randint(0, hf_model.config.vocab_size, (2, 20))
    with torch.no_grad():
        diff = (ours(ids) - reference(ids).logits).abs().max().item()
    assert diff < 1e-4


def test_mtp_layers_are_skipped_with_a_log_line(tmp_path, caplog):
    hf_model = make_hf_model(seed=12)
    hf_model.save_pretrained(tmp_path)
    state = load_file(tmp_path / "model.safetensors")
    n = hf_model.config.num_hidden_layers
    state[f"model.layers.{n}.eh_proj.weight"] = torch.zeros(64, 128)  # DeepSeek-V3's MTP module
    state[f"model.layers.{n}.enorm.weight"] = torch.ones(64)
    save_file(state, tmp_path / "model.safetensors", metadata={"format": "pt"})
    with caplog.at_level(logging.INFO, logger="openk2.checkpoint"):
        model = load_model(tmp_path)
    assert any("multi-token-prediction" in r.message and str(n) in r.message for r in caplog.records)
    assert len(model.model.layers) == n


def resave_without(path, drop: str | None = None, reshape: str | None = None) -> None:
    state = load_file(path / "model.safetensors")
    if drop:
        del state[drop]
    if reshape:
        state[reshape] = torch.zeros(3, 5)
    save_file(state, path / "model.safetensors", metadata={"format": "pt"})


def test_missing_tensor_is_named(tmp_path):
    make_hf_model().save_pretrained(tmp_path)
    resave_without(tmp_path, drop="model.layers.1.self_attn.kv_b_proj.weight")
    for load in (load_model, check_checkpoint):
        with pytest.raises(ValueError, match=r"missing 1 tensor\(s\): model\.layers\.1\.self_attn\.kv_b_proj\.weight \(128, 16\)"):
            load(tmp_path)


def test_misshaped_tensor_names_key_and_both_shapes(tmp_path):
    make_hf_model().save_pretrained(tmp_path)
    resave_without(tmp_path, reshape="model.layers.0.mlp.up_proj.weight")
    for load in (load_model, check_checkpoint):
        with pytest.raises(ValueError, match=r"model\.layers\.0\.mlp\.up_proj\.weight has shape \(3, 5\) but the config expects \(96, 64\)"):
            load(tmp_path)


def test_corrupt_safetensors_file(tmp_path):
    make_hf_model().save_pretrained(tmp_path)
    (tmp_path / "model.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all")
    with pytest.raises(ValueError, match="not a valid safetensors file"):
        load_model(tmp_path)


def test_truncated_safetensors_file(tmp_path):
    make_hf_model().save_pretrained(tmp_path)
    data = (tmp_path / "model.safetensors").read_bytes()
    (tmp_path / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="not a valid safetensors file"):
        load_model(tmp_path)


def test_directory_without_config(tmp_path):
    with pytest.raises(FileNotFoundError, match="no config.json"):
        load_model(tmp_path)


def test_written_shards_are_fsynced_before_their_rename_and_the_directory_after(tmp_path, monkeypatch):
    synced, replaced = [], []  # inodes fsynced, in order; (inode, fsyncs so far) at each rename into place
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        st = os.fstat(fd)
        synced.append((st.st_dev, st.st_ino))
        real_fsync(fd)

    def replace(src, dst):
        st = os.stat(src)
        replaced.append(((st.st_dev, st.st_ino), len(synced)))
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    config = ModelConfig(**{k: v for k, v in TINY.items() if k != "num_key_value_heads"})
    shards = write_checkpoint(tmp_path, config, random_weights(config, torch.float32), torch.float32, max_shard_bytes=20_000)
    assert len(shards) > 2 and len(replaced) == len(shards) + 2  # the shards, the index, config.json
    for inode, fsyncs_before in replaced:
        assert inode in synced[:fsyncs_before], "a file was renamed into place before its data was fsynced"
    directory = os.stat(tmp_path)
    assert (directory.st_dev, directory.st_ino) in synced[replaced[-1][1]:], "the directory was not fsynced after"
