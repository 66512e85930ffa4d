"""`openk2 synth`: verified synthetic agentic data (standalone: `python -m openk2.synth.cli --help`).

Writes to --out: tasks.jsonl (the tasks with their verified conversations: what `openk2 eval tasks` loads),
conversations.jsonl (`{"messages", "tools", ...}` per line: what `openk2 train sft` reads as it is) and
summary.json. Files are written to temporary names and renamed at the end, so an interrupted run leaves no
half-written data behind.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from openk2.cli_support import console, user_errors

from .cast import check_split
from .pipeline import Outcome, Summary, make_one
from .language import check_language

CHUNK = 8  # tasks per job handed to a worker process


def check_out_dir(out: Path) -> None:
    """Fail before any work if the output directory cannot be written."""
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} is a file; give a directory")
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".openk2-write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as e:
        raise ValueError(f"--out {out} is not writable ({e.strerror or e})") from None


def parse_languages(text: str) -> tuple[str, ...]:
    names = tuple(dict.fromkeys(part.strip() for part in text.split(",") if part.strip()))
    if not names:
        raise ValueError("--languages is empty; use en, de, zh or a comma-separated mix")
    for name in names:
        try:
            check_language(name)
        except ValueError as e:
            raise ValueError(f"--languages: {e}") from None
    return names


def _job(args: tuple[int, str, tuple[str, ...], int, int]) -> list[Outcome]:
    seed, split, languages, start, count = args
    return [make_one(seed, split, languages, i) for i in range(start, start + count)]


def expert_outcomes(n: int, seed: int, split: str, languages: tuple[str, ...], workers: int) -> Iterator[Outcome]:
    """Outcomes in task order (so the files do not depend on the number of workers)."""
    jobs = [(seed, split, languages, start, min(CHUNK, n - start)) for start in range(0, n, CHUNK)]
    if workers <= 1:
        for job in jobs:
            yield from _job(job)
        return
    # fork shares the parent's imported modules and costs nothing to start; the jobs share no state.
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        for outcomes in pool.imap(_job, jobs):
            yield from outcomes


def teacher_outcomes(n: int, seed: int, split: str, languages: tuple[str, ...], teacher_url: str, teacher_model: str,
                     api_key: str, user_url: str | None, user_model: str | None, concurrency: int) -> Iterator[Outcome]:
    """Rollouts by a model behind an OpenAI-compatible endpoint, judged like the expert's (rejection sampling)."""
    import random

    import openai

    from .episode import run_episode
    from .family import families_for
    from .pipeline import draw_task
    from .rollout import judge
    from .user import ModelUser

    async def run_all() -> list[Outcome]:
        client = openai.AsyncOpenAI(base_url=teacher_url, api_key=api_key, max_retries=2)
        user_client = openai.AsyncOpenAI(base_url=user_url, api_key=api_key, max_retries=2) if user_url else None
        gate = asyncio.Semaphore(concurrency)
        families = families_for(split)

        async def one(index: int) -> Outcome:
            family = families[index % len(families)]
            language = languages[(index // len(families)) % len(languages)]
            rng = random.Random(f"task:{seed}:{split}:{index}")
            task, _, skipped = draw_task(family, split, language, rng, f"{split}-{seed}-{index:06d}")
            user = ModelUser(user_client, user_model or teacher_model, task.user_instructions) if user_client else None
            async with gate:
                try:
                    episode = await run_episode(task, client, teacher_model, user=user)
                except openai.APIConnectionError as e:
                    raise ValueError(f"cannot reach the teacher at {teacher_url}: {e.__cause__ or e}") from None
                except openai.APIStatusError as e:
                    raise ValueError(f"the teacher at {teacher_url} refused a request: {e.message}") from None
            grade = episode.grade if not episode.grade.passed else await judge(task, episode.messages)
            if grade.passed:
                task.solution = episode.messages
                return Outcome(task, family.name, language, grade, skipped, episode.tools)
            return Outcome(None, family.name, language, grade, skipped)

        return await asyncio.gather(*(one(i) for i in range(n)))

    yield from asyncio.run(run_all())


@user_errors
def synth(
    out: Annotated[Path, typer.Option(help="directory for tasks.jsonl, conversations.jsonl and summary.json")],
    n: Annotated[int, typer.Option(help="tasks to draw (each family and language in turn)")] = 1000,
    seed: Annotated[int, typer.Option(help="seed: the same seed gives byte-identical files")] = 0,
    split: Annotated[str, typer.Option(help="train, or heldout (new entities, phrasings and families, for evaluation)")] = "train",
    languages: Annotated[str, typer.Option(help="comma-separated: en, de, zh")] = "en,de,zh",
    workers: Annotated[int, typer.Option(help="processes (default: the CPU cores)")] = 0,
    teacher_url: Annotated[str | None, typer.Option(help="OpenAI-compatible endpoint whose model plays the agent instead of the expert")] = None,
    teacher_model: Annotated[str | None, typer.Option(help="model name at --teacher-url")] = None,
    user_url: Annotated[str | None, typer.Option(help="endpoint whose model plays the user (default: the scripted user)")] = None,
    user_model: Annotated[str | None, typer.Option(help="model name at --user-url (default: --teacher-model)")] = None,
    api_key: Annotated[str, typer.Option(help="API key for the endpoints", envvar="OPENAI_API_KEY")] = "none",
    concurrency: Annotated[int, typer.Option(help="teacher requests in flight")] = 8,
    tokenizer: Annotated[Path | None, typer.Option(help="tokenizer directory to count tokens exactly in the summary")] = None,
    progress: Annotated[bool, typer.Option(help="show a progress bar")] = True,
) -> None:
    """Synthesise verified agentic conversations: tasks over the calendar, e-mail and booking apps and synthetic tools,
    solved by an expert (or a teacher model), replayed in a fresh world and kept only when the task's checker passes."""
    if n <= 0:
        raise ValueError(f"--n must be positive, not {n}")
    check_split(split)
    langs = parse_languages(languages)
    if (teacher_url is None) != (teacher_model is None):
        raise ValueError("--teacher-url and --teacher-model go together")
    if user_url and not teacher_url:
        raise ValueError("--user-url needs --teacher-url (the scripted expert talks to the scripted user)")
    if concurrency < 1:
        raise ValueError(f"--concurrency must be at least 1, not {concurrency}")
    tok = None
    if tokenizer is not None:
        from openk2.tokenizer import Tokenizer

        tok = Tokenizer.from_dir(tokenizer)
    check_out_dir(out)
    workers = workers or len(os.sched_getaffinity(0))
    if teacher_url:
        outcomes = teacher_outcomes(n, seed, split, langs, teacher_url, teacher_model, api_key, user_url, user_model, concurrency)
    else:
        outcomes = expert_outcomes(n, seed, split, langs, workers)
    report = write_dataset(out, outcomes, n, split, seed, langs, tok, progress)
    print_summary(report, out)


def write_dataset(out: Path, outcomes: Iterator[Outcome], n: int, split: str, seed: int, languages: tuple[str, ...],
                  tokenizer=None, progress: bool = True) -> dict:
    """Write the kept outcomes to out/{tasks,conversations}.jsonl (renamed into place at the end) and
    out/summary.json; returns the summary."""
    summary, started = Summary(), time.monotonic()
    tokens = 0
    paths = {name: out / name for name in ("tasks.jsonl", "conversations.jsonl")}
    temps = {name: path.with_name(path.name + ".partial") for name, path in paths.items()}
    with temps["tasks.jsonl"].open("w", encoding="utf-8") as tasks_file, \
            temps["conversations.jsonl"].open("w", encoding="utf-8") as chats_file, \
            Progress(TextColumn("[bold]synth[/] {task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[rate]}"),
                     TimeElapsedColumn(), TimeRemainingColumn(), console=console, disable=not progress, transient=True) as bar:
        job = bar.add_task(f"{split} ({', '.join(languages)})", total=n, rate="")
        for outcome in outcomes:
            summary.add(outcome)
            if outcome.task is not None:
                task = outcome.task
                tasks_file.write(json.dumps(task.to_dict(), ensure_ascii=False, sort_keys=True) + "\n")
                chat = {"messages": task.solution, "tools": outcome.tools, "task_id": task.id, "family": task.family,
                        "language": task.language}
                chats_file.write(json.dumps(chat, ensure_ascii=False) + "\n")
                if tokenizer is not None:
                    from openk2.chat import encode_prompt

                    tokens += len(encode_prompt(tokenizer, task.solution, outcome.tools, add_generation_prompt=False))
            minutes = max(time.monotonic() - started, 1e-9) / 60
            bar.update(job, advance=1, rate=f"{summary.kept / minutes:,.0f} kept/min")
    for name in paths:
        os.replace(temps[name], paths[name])
    report = summary_report(summary, time.monotonic() - started, tokens if tokenizer is not None else None, split, seed, languages)
    (out / "summary.json").write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    return report


def summary_report(summary: Summary, seconds: float, tokens: int | None, split: str, seed: int, languages: tuple[str, ...]) -> dict:
    drawn = summary.kept + summary.rejected
    families = sorted(set(summary.families) | set(summary.rejected_by_family))
    return {
        "split": split, "seed": seed, "languages": list(languages), "drawn": drawn, "kept": summary.kept,
        "rejected": summary.rejected, "rejection_rate": summary.rejected / drawn if drawn else 0.0,
        "seconds": round(seconds, 1), "kept_per_minute": round(summary.kept / (seconds / 60), 1) if seconds else None,
        "families": {f: {"kept": summary.families[f], "rejected": summary.rejected_by_family[f],
                         "rejection_rate": summary.rejected_by_family[f] / max(1, summary.families[f] + summary.rejected_by_family[f])}
                     for f in families},
        "languages_kept": dict(sorted(summary.languages.items())),
        "tools_called": sorted(summary.tools), "synthetic_domains": sorted(summary.domains),
        "assistant_turns": summary.turns, "messages": summary.messages, "tokens": tokens,
    }


def print_summary(report: dict, out: Path) -> None:
    table = Table(title=f"openk2 synth: {report['split']} split, seed {report['seed']}", show_lines=False)
    table.add_column("family")
    table.add_column("kept", justify="right")
    table.add_column("rejected", justify="right")
    for name, row in report["families"].items():
        table.add_row(name, str(row["kept"]), f"{row['rejected']} ({row['rejection_rate']:.1%})")
    console.print(table)
    tokens = f"{report['tokens']:,} tokens" if report["tokens"] is not None else "tokens: pass --tokenizer to count"
    console.print(
        f"{report['kept']:,} verified conversations of {report['drawn']:,} drawn (rejection rate {report['rejection_rate']:.2%}), "
        f"{len(report['families'])} families, {len(report['tools_called'])} tools called, "
        f"{len(report['synthetic_domains'])} synthetic domains, languages {report['languages_kept']}, "
        f"{report['assistant_turns']:,} assistant turns, {tokens}; "
        f"{report['kept_per_minute']:,} verified conversations per minute. Wrote {out}/tasks.jsonl, conversations.jsonl, summary.json",
        soft_wrap=True, highlight=False)


if __name__ == "__main__":
    app = typer.Typer(add_completion=False)
    app.command()(synth)
    app()
