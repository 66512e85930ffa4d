"""openk2's own agent task suite (`openk2.synth`), graded by each task's checker on the world's end state (`openk2 eval tasks`).

Every trial runs openk2's agent runtime against the endpoint in a fresh world of its task, with the task's
simulated user answering the agent's questions, and the task's checker grades the final world state and reply
(`synth.run_episode`). Reported: pass^1 ... pass^k (τ-bench's estimator), overall, per family and per language;
average turns; tokens in and out and their cost at per-million-token prices; and failure categories.
"""

from __future__ import annotations

import zlib
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import openai

from ..agent import Budget, approve_all
from .endpoint import describe_error, is_infrastructure_error
from .metrics import Prices, pass_hat_k, percent
from .report import Chart, Report, Table

LANGUAGES = ("en", "de", "zh")
CATEGORIES = ("invalid_call", "wrong_tool", "wrong_argument", "missing_clarification", "unfinished", "wrong_answer")


def load(path: Path | None, split: str, n: int, seed: int, languages: tuple[str, ...]) -> list[Any]:
    """The tasks: read from a file `openk2 synth` wrote, or generated here (the same tasks for the same arguments)."""
    try:
        import openk2.synth as synth
    except ImportError as error:
        raise ValueError(f"openk2 eval tasks needs the synthetic task suite, openk2.synth ({error})") from None

    if path is not None:
        if not path.is_file():
            raise ValueError(f"--tasks-file {path} does not exist; write one with openk2 synth --split {split}")
        return synth.load_tasks(path)[:n]
    return synth.generate_tasks(split=split, n=n, seed=seed, languages=languages)


def trials(tasks: list[Any], k: int) -> list[tuple[str, Any]]:
    """(task id#trial, (task, trial)), trial-major: a stopped run has a few trials of every task, not all of a few."""
    return [(f"{task.id}#{trial}", (task, trial)) for trial in range(k) for task in tasks]


def trial_seed(seed: int, task_id: str, trial: int) -> int:
    """A sampling seed per trial: trials differ from each other, and a rerun of the command repeats them."""
    return zlib.crc32(f"{seed}:{task_id}:{trial}".encode())


async def run_trial(api: openai.AsyncOpenAI, model: str, task: Any, trial: int, sampling: dict, budget: Budget,
                    seed: int | None) -> dict:
    import openk2.synth as synth

    if seed is not None:
        sampling = {**sampling, "seed": trial_seed(seed, task.id, trial)}
    record = {"task_id": task.id, "family": task.family, "language": task.language, "trial": trial}
    try:
        episode = await synth.run_episode(task, api, model, sampling=sampling, budget=budget, approve=approve_all)
    except openai.APIError as error:
        if is_infrastructure_error(error):
            raise
        # The endpoint refused the conversation (a prompt grown past the model's context, say): a failed trial.
        return {**record, "passed": False, "category": "unfinished", "reasons": [f"endpoint: {describe_error(error)}"],
                "turns": 0, "prompt_tokens": 0, "completion_tokens": 0, "stop_reason": "error", "messages": []}
    grade = episode.grade
    return {**record, "passed": grade.passed, "category": grade.category, "reasons": list(grade.reasons),
            "turns": episode.turns, "prompt_tokens": episode.usage.prompt_tokens,
            "completion_tokens": episode.usage.completion_tokens, "stop_reason": episode.stop_reason,
            "messages": episode.messages}


def pass_table(records: list[dict], field: str | None, k: int) -> dict[str, dict[str, float | None]]:
    """group -> {pass^1..pass^k, trials}; `field` None groups everything as "overall"."""
    groups: dict[str, list[dict]] = defaultdict(list)
    for r in records:
        groups["overall" if field is None else r[field]].append(r)
    return {name: {**{f"pass^{i}": pass_hat_k([(r["task_id"], r["passed"]) for r in rows], i) for i in range(1, k + 1)},
                   "tasks": len({r["task_id"] for r in rows}), "trials": len(rows)}
            for name, rows in sorted(groups.items())}


def summarize(records: list[dict], k: int, prices: Prices) -> dict[str, Any]:
    n = len(records)
    prompt, completion = sum(r["prompt_tokens"] for r in records), sum(r["completion_tokens"] for r in records)
    failures = Counter(r["category"] or "other" for r in records if not r["passed"])
    return {
        **pass_table(records, None, k).get("overall", {f"pass^{i}": None for i in range(1, k + 1)}),
        "families": pass_table(records, "family", k),
        "languages": pass_table(records, "language", k),
        "average_turns": sum(r["turns"] for r in records) / n if n else None,
        "prompt_tokens": prompt, "completion_tokens": completion,
        "tokens_per_trial": {"in": prompt / n, "out": completion / n} if n else None,
        "cost_usd": prices.cost(prompt, completion),
        "prices_per_million": {"input": prices.input, "output": prices.output},
        "failures": {c: failures.get(c, 0) for c in (*CATEGORIES, *sorted(set(failures) - set(CATEGORIES)))},
        "failed_trials": sum(failures.values()),
    }


def report(records: list[dict], k: int, prices: Prices, model: str, split: str, command: str) -> Report:
    s = summarize(records, k, prices)
    s["model"], s["split"] = model, split
    heads = [f"pass^{i}" for i in range(1, k + 1)]
    overall = [["overall", *(percent(s[h]) for h in heads), s.get("tasks", 0), s.get("trials", 0)]]
    by_language = [[name, *(percent(g[h]) for h in heads), g["tasks"], g["trials"]] for name, g in s["languages"].items()]
    by_family = [[name, *(percent(g[h]) for h in heads), g["tasks"], g["trials"]] for name, g in s["families"].items()]
    cost = s["cost_usd"]
    usage = [["average turns (model calls)", "–" if s["average_turns"] is None else f"{s['average_turns']:.2f}"],
             ["tokens in / out, total", f"{s['prompt_tokens']:,} / {s['completion_tokens']:,}"],
             ["tokens in / out per trial", "–" if not s["tokens_per_trial"] else
              f"{s['tokens_per_trial']['in']:,.0f} / {s['tokens_per_trial']['out']:,.0f}"],
             [f"cost at ${prices.input}/${prices.output} per M in/out", f"${cost:.4f} total"
              + (f", ${cost / len(records):.5f} per trial" if records else "")]]
    failures = [[c, n, percent(n / len(records)) if records else "–"] for c, n in s["failures"].items()]
    columns = ["", *heads, "tasks", "trials"]
    tables = [Table(f"Agent tasks ({split}) · {model}", columns, overall + by_language),
              Table("Per family", ["family", *heads, "tasks", "trials"], by_family),
              Table("Usage and cost", ["measure", "value"], usage),
              Table("Failure categories", ["category", "trials", "share of all trials"], failures)]
    charts = [Chart("pass^k overall", heads, [s[h] for h in heads]),
              Chart("pass^1 per language", list(s["languages"]), [g["pass^1"] for g in s["languages"].values()]),
              Chart("pass^1 per family", list(s["families"]), [g["pass^1"] for g in s["families"].values()]),
              Chart("failures (share of trials)", list(s["failures"]),
                    [n / len(records) if records else None for n in s["failures"].values()])]
    return Report("tasks", f"openk2 eval tasks · {model}", command, s, tables, charts)
