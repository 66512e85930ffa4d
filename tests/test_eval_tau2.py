"""`openk2 eval tau2`: τ²-bench's own package runs end to end with `openk2 serve` (a random-weight model) as the
agent and a scripted user simulator, on 2 tasks of the mock domain; the report, resume and pass^k come out."""

from __future__ import annotations

import json

import pytest
import torch
from conftest import live_server
from eval_oracles import require_extra
from scripted_endpoint import ScriptedEndpoint, answer, calls
from typer.testing import CliRunner

from openk2.checkpoint import save_model
from openk2.cli import app
from openk2.config import ModelConfig
from openk2.model import CausalLM
from openk2.tokenizer import write_default_tokenizer

require_extra("tau2")
pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("one_torch_thread")]


@pytest.fixture(scope="module")
def random_server(tmp_path_factory):
    """openk2 serve on an untrained 2-layer model with a 4K vocabulary and context."""
    path = tmp_path_factory.mktemp("random")
    write_default_tokenizer(path, 4096)
    config = ModelConfig(vocab_size=4096, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                         kv_lora_rank=32, qk_nope_head_dim=16, qk_rope_head_dim=8, v_head_dim=16,
                         max_position_embeddings=8192)
    torch.manual_seed(0)
    save_model(CausalLM(config).eval(), path)
    with live_server(path, tmp_path_factory.mktemp("serve"), model_name="nano-random",
                     engine={"cache_budget_bytes": 64 * 1024**2, "max_seqs": 8, "max_batch_tokens": 4096}) as live:
        yield live


TASKS = "create_task_1,update_task_1"


def scripted_user(said: list):
    """The user simulator: names its task (found from the instructions in its system prompt), then ends the chat."""
    import os

    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    from tau2 import run

    tasks = {t.id: str(t.user_scenario.instructions) for t in run.load_tasks("mock") if t.id in TASKS.split(",")}

    def user(request: dict) -> dict:
        said.append(request)
        system = request["messages"][0]["content"]
        task = next(t for t, instructions in tasks.items() if instructions in system)
        turns = sum(m["role"] == "assistant" for m in request["messages"])
        return answer(f"Hi, I need help with {task}." if turns == 0 else "Thanks, that is all. ###STOP###")

    return user


def test_an_oracle_agent_gets_reward_1(tmp_path):
    """The wiring grades a right agent right: replaying each task's ground-truth actions passes."""
    from tau2 import run

    actions = {t.id: [a for a in t.evaluation_criteria.actions if a.requestor == "assistant"]
               for t in run.load_tasks("mock") if t.id in TASKS.split(",")}

    def agent(request: dict) -> dict:
        messages = request["messages"]
        task = next(t for t in actions if any(t in (m.get("content") or "") for m in messages if m["role"] == "user"))
        if not any(m["role"] == "tool" for m in messages):
            return calls(*[(a.name, a.arguments) for a in actions[task]])
        return answer("Done: I made the change you asked for.")

    said = []
    with ScriptedEndpoint(agent) as oracle, ScriptedEndpoint(scripted_user(said)) as simulator:
        result = CliRunner().invoke(app, ["eval", "tau2", "--domain", "mock", "--tasks", TASKS, "--base-url",
                                          oracle.base_url, "--model", "oracle", "--user-base-url", simulator.base_url,
                                          "--user-model", "scripted-user", "--k", "2", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.stderr
    summary = json.loads((tmp_path / "report.json").read_text())["summary"]
    assert summary["pass^1"] == 1.0 and summary["pass^2"] == 1.0 and summary["trials"] == 4


def test_tau2_mock_runs_end_to_end_against_openk2_serve(random_server, tmp_path):
    said = []
    out = tmp_path / "tau2"
    with ScriptedEndpoint(scripted_user(said)) as simulator:
        args = ["eval", "tau2", "--domain", "mock", "--tasks", TASKS, "--base-url", random_server.url,
                "--user-base-url", simulator.base_url, "--user-model", "scripted-user", "--max-tokens", "48",
                "--max-steps", "12", "--out", str(out), "--concurrency", "2"]
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0, result.stderr
        assert said and all(r["model"] == "scripted-user" for r in said)
        # Rerunning the same command resumes: both trials are done, nothing is sent again.
        before = len(said)
        assert CliRunner().invoke(app, args).exit_code == 0 and len(said) == before

    report = json.loads((out / "report.json").read_text())
    summary = report["summary"]
    assert summary["tasks"] == 2 and summary["trials"] == 2 and summary["model"] == "nano-random"
    assert summary["pass^1"] is not None and 0 <= summary["pass^1"] <= 1
    assert report["command"].startswith(f"openk2 eval tau2 --domain mock --base-url {random_server.url}/v1 "
                                        "--model nano-random ")
    records = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()[1:]]
    assert len(records) == 2
    for record in records:
        roles = [m["role"] for m in record["simulation"]["messages"]]
        assert "user" in roles and roles.count("assistant") >= 2  # the greeting, then openk2's own turns
        assert record["reward"] in (0.0, 1.0) and record["termination_reason"]
    assert (out / "report.png").stat().st_size > 1000
