"""The `openk2` command line, run as a real subprocess: init, info, and bad input."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch
from hf_reference import TINY, make_hf_model

from openk2.checkpoint import load_model


def openk2(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "openk2", *args], capture_output=True, text=True, timeout=120)


def assert_one_line_error(result: subprocess.CompletedProcess, message: str) -> None:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr + result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr


def test_info_kimi_k2_reports_1t_total_32b_active():
    result = openk2("info", "kimi-k2")
    assert result.returncode == 0, result.stderr
    assert "1.03T total" in result.stdout and "32.86B active" in result.stdout
    assert "68.62 KiB per token" in result.stdout  # (512 + 64) x 61 layers x 2 bytes


def test_info_on_a_transformers_checkpoint(tmp_path):
    make_hf_model().save_pretrained(tmp_path)
    result = openk2("info", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "all tensors present" in result.stdout and "deepseek_v3" in result.stdout


def test_init_writes_a_loadable_reproducible_checkpoint(tmp_path):
    config = {**TINY, "model_type": "kimi_k2"}
    (tmp_path / "tiny.json").write_text(json.dumps(config))
    for out in ("a", "b"):
        result = openk2("init", str(tmp_path / out), "--config", str(tmp_path / "tiny.json"), "--seed", "3", "--dtype", "float32")
        assert result.returncode == 0, result.stderr
    a, b = load_model(tmp_path / "a"), load_model(tmp_path / "b")
    for (name, ta), tb in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(ta, tb), name
    from transformers import AutoModelForCausalLM

    ids = torch.randint(0, TINY["vocab_size"], (1, 9))
    with torch.no_grad():
        diff = (AutoModelForCausalLM.from_pretrained(tmp_path / "a")(ids).logits - a(ids)).abs().max()
    assert diff < 1e-5
    assert openk2("info", str(tmp_path / "a")).returncode == 0
    assert_one_line_error(openk2("init", str(tmp_path / "a"), "--config", str(tmp_path / "tiny.json")), "--force")


def test_init_max_model_len_writes_yarn_that_transformers_reads_alike(tmp_path):
    """--max-model-len past the config's context adds YaRN; transformers loads the result and computes the same
    logits at positions past the original context."""
    (tmp_path / "tiny.json").write_text(json.dumps({**TINY, "model_type": "kimi_k2"}))
    result = openk2("init", str(tmp_path / "long"), "--config", str(tmp_path / "tiny.json"), "--dtype", "float32",
                    "--max-model-len", "256", "--no-tokenizer")
    assert result.returncode == 0, result.stderr
    written = json.loads((tmp_path / "long" / "config.json").read_text())
    assert written["max_position_embeddings"] == 256 and written["rope_scaling"]["factor"] == 4.0
    assert written["rope_scaling"]["original_max_position_embeddings"] == TINY["max_position_embeddings"]
    from transformers import AutoModelForCausalLM

    ours = load_model(tmp_path / "long")
    ids = torch.randint(0, TINY["vocab_size"], (1, 200))
    with torch.no_grad():
        diff = (AutoModelForCausalLM.from_pretrained(tmp_path / "long")(ids).logits - ours(ids)).abs().max()
    assert diff < 1e-4


def test_init_refuses_what_does_not_fit_on_disk(tmp_path):
    # ~2 PB of embeddings: larger than any disk this test will meet.
    (tmp_path / "huge.json").write_text(json.dumps({**TINY, "model_type": "kimi_k2", "vocab_size": 2**40, "hidden_size": 1024}))
    assert_one_line_error(openk2("init", str(tmp_path / "huge"), "--config", str(tmp_path / "huge.json")), "PiB but")
    assert not (tmp_path / "huge").exists()


def test_bad_input_directory_without_config(tmp_path):
    assert_one_line_error(openk2("info", str(tmp_path)), "has no config.json")


def test_bad_input_corrupt_safetensors(tmp_path):
    make_hf_model().save_pretrained(tmp_path)
    (tmp_path / "model.safetensors").write_bytes(b"garbage, not safetensors")
    assert_one_line_error(openk2("info", str(tmp_path)), "not a valid safetensors file")


def test_bad_input_unsupported_model_type(tmp_path):
    make_hf_model().save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps({**config, "model_type": "llama"}))
    assert_one_line_error(openk2("info", str(tmp_path)), "unsupported model_type 'llama'")


@pytest.mark.parametrize("args, message", [
    (["info", "no-such-thing"], "neither a checkpoint directory"),
    (["init", "out", "--preset", "k3"], "unknown preset 'k3'"),
    (["init", "out"], "exactly one of --preset"),
    (["init", "out", "--preset", "nano", "--dtype", "int3"], "unknown dtype"),
])
def test_bad_arguments(tmp_path, args, message):
    args = [str(tmp_path / a) if a == "out" else a for a in args]
    assert_one_line_error(openk2(*args), message)
