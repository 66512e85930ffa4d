"""The trainer: schedule, load balancing, exact resume, crash-safe HF checkpoints, and the `train` CLI (pretrain -> SFT)."""

from __future__ import annotations

import itertools
import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from hf_reference import TINY
from safetensors.torch import load_file
from typer.testing import CliRunner

from openk2.checkpoint import load_model
from openk2.config import ModelConfig
from openk2.tokenizer import default_corpus, train_bpe
from openk2.train import trainer as trainer_module
from openk2.train.cli import train_app
from openk2.train.trainer import TrainConfig, Trainer, lr_multiplier, sequence_balance_loss, update_correction_bias_

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tiny models; see conftest.py

MODEL = ModelConfig(**{k: v for k, v in TINY.items() if k != "num_key_value_heads"})
RUN = dict(seq_len=32, micro_batch_size=2, grad_accum=2, steps=20, lr=1e-2, eval_every=5, eval_rows=4, save_every=10,
           balance_loss_alpha=1e-2)


@pytest.fixture
def tokens_bin(tmp_path):
    """Pre-tokenised data: a repetitive token stream (learnable) in the .bin format."""
    rng = np.random.default_rng(0)
    stream = np.concatenate([rng.permutation(40) + 10 for _ in range(100)]).astype("<u4")
    path = tmp_path / "corpus.bin"
    stream.tofile(path)
    return path


def test_lr_schedules():
    cosine = [lr_multiplier(s, 100, 0.1, "cosine", 0.2, 0.1) for s in range(100)]
    assert cosine[0] == pytest.approx(0.1) and cosine[9] == 1.0 and cosine[10] == 1.0
    assert all(a >= b for a, b in itertools.pairwise(cosine[10:])) and cosine[-1] == pytest.approx(0.1, abs=1e-3)
    wsd = [lr_multiplier(s, 100, 0.0, "wsd", 0.2, 0.0) for s in range(100)]
    assert wsd[:80] == [1.0] * 80 and wsd[80] == pytest.approx(0.95) and wsd[-1] == 0.0


def test_router_bias_moves_toward_balance_and_balance_loss_is_one_when_balanced():
    bias = torch.zeros(4)
    update_correction_bias_(bias, torch.tensor([10.0, 2.0, 6.0, 6.0]), speed=0.01)
    assert torch.equal(bias, torch.tensor([-0.01, 0.01, 0.0, 0.0]))
    # 4 tokens, 4 experts, top-1, each expert hit once with equal scores: f_i = 1, P_i = 1/4.
    scores = torch.full((1, 4, 4), 0.5)
    ids = torch.arange(4).view(1, 4, 1)
    assert sequence_balance_loss(scores, ids, torch.ones(1, 4, dtype=torch.bool)).item() == pytest.approx(1.0)
    skewed = torch.zeros(1, 4, 1, dtype=torch.long)  # every token on expert 0
    assert sequence_balance_loss(scores, skewed, torch.ones(1, 4, dtype=torch.bool)).item() == pytest.approx(4 * 0.25 * 1)


def weights(checkpoint) -> dict[str, torch.Tensor]:
    return load_file(checkpoint / "model.safetensors")


def test_resume_gives_the_same_weights_as_an_uninterrupted_run(tmp_path, tokens_bin):
    straight = Trainer(TrainConfig(**RUN), MODEL, [tokens_bin], tmp_path / "straight", show_progress=False).run()
    first = Trainer(TrainConfig(**RUN), MODEL, [tokens_bin], tmp_path / "resumed", show_progress=False)
    assert first.run(stop_after=10).name == "step-000010"
    resumed = Trainer(TrainConfig(**RUN), MODEL, [tokens_bin], tmp_path / "resumed", resume=True, show_progress=False)
    assert resumed.step == 10
    final = resumed.run()
    a, b = weights(straight), weights(final)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    log = [json.loads(line) for line in (tmp_path / "resumed" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == list(range(1, 21))
    assert log[-1]["loss"] < 0.7 * log[0]["loss"] and "eval_loss" in log[-1] and log[-1]["max_logit"] > 0
    assert any(k.endswith("e_score_correction_bias") and a[k].abs().sum() > 0 for k in a)  # aux-loss-free balancing ran
    assert (tmp_path / "resumed" / "loss.png").stat().st_size > 1000


def test_checkpoints_load_in_openk2_and_transformers(tmp_path, tokens_bin):
    from transformers import DeepseekV3ForCausalLM

    run = {**RUN, "steps": 2, "eval_every": 0}
    final = Trainer(TrainConfig(**run), MODEL, [tokens_bin], tmp_path / "run", show_progress=False).run()
    ours = load_model(final)
    theirs = DeepseekV3ForCausalLM.from_pretrained(final).eval()
    ids = torch.randint(0, MODEL.vocab_size, (1, 16), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(ours(ids), theirs(ids).logits, atol=1e-4, rtol=0)


def test_a_crash_while_saving_never_damages_the_last_checkpoint(tmp_path, tokens_bin, monkeypatch):
    run = {**RUN, "steps": 10, "save_every": 5, "eval_every": 0}
    Trainer(TrainConfig(**run), MODEL, [tokens_bin], tmp_path, show_progress=False).run(stop_after=5)
    good = weights(tmp_path / "step-000005")

    def crash(model, path):
        path.mkdir(parents=True)
        (path / "model.safetensors").write_bytes(b"half a file")
        raise OSError("disk full")

    monkeypatch.setattr(trainer_module, "save_model", crash)
    with pytest.raises(OSError, match="disk full"):
        Trainer(TrainConfig(**run), MODEL, [tokens_bin], tmp_path, resume=True, show_progress=False).run()
    assert sorted(p.name for p in tmp_path.glob("*step-*")) == [".step-000010.tmp", "step-000005"]
    monkeypatch.undo()
    resumed = Trainer(TrainConfig(**run), MODEL, [tokens_bin], tmp_path, resume=True, show_progress=False)
    assert resumed.step == 5 and not list(tmp_path.glob(".step-*"))  # the half-written one is cleared away
    assert all(torch.equal(good[k], v) for k, v in weights(tmp_path / "step-000005").items())


def test_checkpoint_files_and_directories_are_fsynced_before_the_rename(tmp_path, tokens_bin, monkeypatch):
    """A rename is atomic, but without fsync a power cut can publish the name before the data (an empty shard) or
    lose the rename: every file and the temporary directory are synced before it, the parent directory after it."""
    synced, renames = [], []  # (st_dev, st_ino) of each fsynced file or directory, in order
    real_fsync, real_rename = os.fsync, os.rename

    def fsync(fd):
        st = os.fstat(fd)
        synced.append((st.st_dev, st.st_ino))
        real_fsync(fd)

    def rename(src, dst):
        if os.path.basename(src).startswith(".step-"):
            inodes = {(st.st_dev, st.st_ino) for p in [src, *(os.path.join(r, f) for r, _, fs in os.walk(src) for f in fs)]
                      for st in [os.stat(p)]}
            renames.append((inodes, len(synced)))
        real_rename(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "rename", rename)
    run = {**RUN, "steps": 2, "eval_every": 0, "save_every": 10}
    out = tmp_path / "run"
    Trainer(TrainConfig(**run), MODEL, [tokens_bin], out, show_progress=False).run()
    (inodes, synced_before), = renames
    assert inodes <= set(synced[:synced_before]), "a file of the checkpoint was not fsynced before the rename"
    parent = os.stat(out)
    assert (parent.st_dev, parent.st_ino) in synced[synced_before:], "the run directory was not fsynced after it"


def test_bad_runs_are_refused_with_one_clear_line(tmp_path, tokens_bin):
    def attempt(config=MODEL, resume=False, **changes):
        with pytest.raises((ValueError, FileNotFoundError)) as error:
            Trainer(TrainConfig(**{**RUN, **changes}), config, [tokens_bin], tmp_path / "run", resume=resume, show_progress=False)
        assert "\n" not in str(error.value)
        return str(error.value)

    assert "exceeds the model's context of 64" in attempt(seq_len=65)
    assert "no complete checkpoint" in attempt(resume=True)
    Trainer(TrainConfig(**{**RUN, "steps": 1}), MODEL, [tokens_bin], tmp_path / "run", show_progress=False).run()
    assert "already holds checkpoints" in attempt()
    assert "trained with seq_len=32, this run asks for 16" in attempt(resume=True, seq_len=16, steps=1)
    other = ModelConfig(**{**MODEL.__dict__, "hidden_size": 32})
    assert "different model" in attempt(config=other, resume=True, steps=1)
    with pytest.raises(ValueError, match="one optimizer step needs 400"):
        Trainer(TrainConfig(**{**RUN, "micro_batch_size": 200}), MODEL, [tokens_bin], tmp_path / "big", show_progress=False)


CHATS = [
    {"messages": [{"role": "user", "content": f"What is {a} plus {b}?"}, {"role": "assistant", "content": f"{a} plus {b} is {a + b}."}]}
    for a in range(6) for b in range(4)
]


def run_cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}  # as one_torch_thread, for the child process
    return subprocess.run([sys.executable, "-m", "openk2.train.cli", *args], check=False, capture_output=True, text=True, timeout=300, env=env)


def test_cli_pretrains_then_fine_tunes_on_chats(tmp_path):
    tokenizer_dir = tmp_path / "tokenizer"
    train_bpe(default_corpus()[:40], 1024).save(tokenizer_dir)
    (tmp_path / "text").mkdir()
    for i, text in enumerate(default_corpus()[:6]):
        (tmp_path / "text" / f"{i}.py").write_text(text)
    config = tmp_path / "config.json"
    config.write_text(json.dumps({**MODEL.to_hf(), "vocab_size": 1024, "max_position_embeddings": 128}))
    pretrain = run_cli("pretrain", "--config", str(config), "--data", str(tmp_path / "text"), "--tokenizer", str(tokenizer_dir),
                       "--out", str(tmp_path / "pre"), "--steps", "4", "--seq-len", "64", "--micro-batch-size", "4", "--eval-every", "2",
                       "--no-progress")
    assert pretrain.returncode == 0, pretrain.stderr
    assert "pretrain: 4 steps" in pretrain.stdout and (tmp_path / "pre" / "loss.png").is_file()
    checkpoint = tmp_path / "pre" / "step-000004"
    assert (checkpoint / "tiktoken.model").is_file()  # self-contained: SFT finds the tokenizer there

    (tmp_path / "chats.jsonl").write_text("".join(json.dumps(c) + "\n" for c in CHATS))
    sft = run_cli("sft", "--config", str(checkpoint), "--data", str(tmp_path / "chats.jsonl"), "--out", str(tmp_path / "sft"),
                  "--steps", "3", "--seq-len", "128", "--micro-batch-size", "4", "--lr", "1e-3", "--no-progress")
    assert sft.returncode == 0, sft.stderr
    log = [json.loads(line) for line in (tmp_path / "sft" / "metrics.jsonl").read_text().splitlines()]
    assert len(log) == 3 and all(math.isfinite(r["loss"]) for r in log) and "eval_loss" in log[-1]
    assert load_model(tmp_path / "sft" / "step-000003").config.vocab_size == 1024


def test_cli_bad_input_is_one_line_without_traceback(tmp_path, tokens_bin):
    runner = CliRunner()

    def error(*args: str) -> str:
        result = runner.invoke(train_app, ["pretrain", "--config", str(tmp_path / "config.json"), "--out", str(tmp_path / "out"),
                                           "--seq-len", "32", "--no-progress", *args])
        assert result.exit_code == 1, result.output
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in result.output, result.stderr
        return lines[0]

    (tmp_path / "config.json").write_text(json.dumps(MODEL.to_hf()))
    (tmp_path / "empty.txt").write_text("")
    assert "no data file or directory at" in error("--data", str(tmp_path / "nope.txt"))
    assert "holds no tokens" in error("--data", str(tmp_path / "empty.txt"))
    assert "exceeds the model's context" in error("--data", str(tokens_bin), "--seq-len", "4096")
    assert "optimizer must be one of" in error("--data", str(tokens_bin), "--optimizer", "sgd")
