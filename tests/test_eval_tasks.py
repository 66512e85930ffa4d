"""`openk2 eval tasks` on openk2's synthetic task suite: an oracle replaying each task's expert conversation passes
every task (pass^k = 100%), one wrong argument fails that task alone, and a random-weight model through `openk2 serve`
scores about 0."""

from __future__ import annotations

import json

import pytest
import torch
from typer.testing import CliRunner

from conftest import live_server
from eval_oracles import tasks_oracle
from openk2.checkpoint import save_model
from openk2.cli import app
from openk2.config import ModelConfig
from openk2.model import CausalLM
from openk2.tokenizer import write_default_tokenizer
from scripted_endpoint import ScriptedEndpoint

synth = pytest.importorskip("openk2.synth")
runner = CliRunner()
N = 12


def evaluate(base_url: str, out, *extra: str) -> tuple[dict, list[dict]]:
    result = runner.invoke(app, ["eval", "tasks", "--base-url", base_url, "--n", str(N), "--out", str(out), *extra])
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("# openk2 eval tasks · ")
    records = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()[1:]]
    return json.loads((out / "report.json").read_text())["summary"], records


def test_the_expert_oracle_passes_every_trial_and_a_wrong_argument_fails(tmp_path):
    tasks = synth.generate_tasks(split="heldout", n=N, seed=0, languages=("en", "de", "zh"))
    with ScriptedEndpoint(tasks_oracle(tasks)) as oracle:
        summary, records = evaluate(oracle.base_url, tmp_path / "ok", "--model", "oracle", "--k", "2")
    assert summary["pass^1"] == 1.0 and summary["pass^2"] == 1.0 and summary["trials"] == 2 * N
    assert summary["failed_trials"] == 0 and all(g["pass^2"] == 1.0 for g in summary["languages"].values())
    assert all(g["pass^1"] == 1.0 for g in summary["families"].values())
    assert summary["average_turns"] > 1 and summary["cost_usd"] > 0

    target = next(t for t in tasks if any(json.loads(c["function"]["arguments"]) for m in t.solution
                                          for c in m.get("tool_calls") or []))
    with ScriptedEndpoint(tasks_oracle(tasks, broken=target.id)) as broken:
        summary, records = evaluate(broken.base_url, tmp_path / "bad", "--model", "oracle", "--k", "1")
    failed = [r for r in records if not r["passed"]]
    assert [r["task_id"] for r in failed] == [target.id], [(r["task_id"], r["category"], r["reasons"]) for r in failed]
    assert failed[0]["category"] in ("wrong_argument", "invalid_call", "wrong_answer", "unfinished")
    assert summary["failures"][failed[0]["category"]] == 1


@pytest.mark.slow
@pytest.mark.usefixtures("one_torch_thread")
def test_a_random_weight_model_scores_about_zero(tmp_path):
    path = tmp_path / "random"
    write_default_tokenizer(path, 4096)
    config = ModelConfig(vocab_size=4096, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                         kv_lora_rank=32, qk_nope_head_dim=16, qk_rope_head_dim=8, v_head_dim=16,
                         max_position_embeddings=8192)
    torch.manual_seed(0)
    save_model(CausalLM(config).eval(), path)
    with live_server(path, tmp_path, model_name="nano-random",
                     engine={"cache_budget_bytes": 64 * 1024**2, "max_seqs": 8, "max_batch_tokens": 4096}) as server:
        summary, records = evaluate(server.url, tmp_path / "eval", "--k", "1", "--max-tokens", "16", "--max-turns", "2")
    assert summary["trials"] == N and summary["pass^1"] <= 0.1
    assert summary["prompt_tokens"] > 0 and summary["failed_trials"] >= N - 1
