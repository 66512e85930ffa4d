"""Run an eval's trials concurrently with a progress bar, appending each result to a JSONL file as it lands.

The file is the run: its first line is a header naming the eval and every setting that changes results;
each further line is one finished trial, keyed. Rerunning the same command reads the file, skips the keys
it holds and runs only the rest, so an interrupted run (Ctrl-C, a crash, a lost connection) resumes where it
stopped. A trial that ends in an infrastructure error (endpoint down, 5xx, timeout) is written with its
`error` and run again on the next resume; the latest line of a key wins.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from .endpoint import describe_error, is_infrastructure_error

RESULTS = "results.jsonl"


class ResultsFile:
    """The append-only results of one run; `header` must match the one already on disk, if any."""

    def __init__(self, out: Path, header: dict[str, Any], fresh: bool = False):
        self.path = out / RESULTS
        self.header = json.loads(json.dumps(header))  # as it reads back from disk (tuples -> lists)
        self.records: dict[str, dict] = {}
        try:
            out.mkdir(parents=True, exist_ok=True)
            if fresh and self.path.exists():
                self.path.unlink()
            if self.path.exists():
                self.load()
            else:
                self.write_line(self.header)
        except OSError as error:
            raise ValueError(f"cannot write results to {out}: {error.strerror or error}; choose another --out") from None

    def load(self) -> None:
        lines = self.path.read_text(encoding="utf-8").splitlines(keepends=True)
        if lines and not lines[-1].endswith("\n"):
            # A run killed mid-write leaves half a line: drop it (that trial runs again), keep the rest.
            lines.pop()
            self.path.write_text("".join(lines), encoding="utf-8")
        if not lines:
            self.write_line(self.header)
            return
        try:
            header = json.loads(lines[0])
            records = [json.loads(line) for line in lines[1:] if line.strip()]
        except json.JSONDecodeError as error:
            raise ValueError(f"{self.path} is not a results file ({error.msg}); choose another --out or pass --fresh") from None
        if header != self.header:
            changed = sorted(k for k in set(header) | set(self.header) if header.get(k) != self.header.get(k))
            details = ", ".join(f"{k}: {header.get(k)!r} there, {self.header.get(k)!r} now" for k in changed[:3])
            raise ValueError(f"{self.path} holds a different run ({details}); pass --fresh to start over or another --out")
        for record in records:
            self.records[record["key"]] = record

    def write_line(self, record: dict) -> None:
        with self.path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(record, ensure_ascii=False) + "\n")
            f.flush()
            os.fsync(f.fileno())

    def finished(self, key: str) -> bool:
        record = self.records.get(key)
        return record is not None and not record.get("error")

    def add(self, record: dict) -> None:
        self.records[record["key"]] = record
        self.write_line(record)


@dataclass
class Outcome:
    """What a run produced: the records of every finished trial, in the order of `keys`, and what failed."""

    records: list[dict]
    errors: Counter = field(default_factory=Counter)  # infrastructure error line -> count (not finished)
    ran: int = 0        # trials run by this invocation
    resumed: int = 0    # trials read back from the results file
    seconds: float = 0.0


class Aborted(ValueError):
    """Every trial so far failed for the same outside reason (endpoint down, wrong key or model)."""


async def run_trials(
    trials: Iterable[tuple[str, Any]],
    work: Callable[[str, Any], Awaitable[dict]],
    results: ResultsFile,
    *,
    concurrency: int,
    description: str,
    status: Callable[[list[dict]], str] = lambda records: "",
    console: Console | None = None,
    abort_after: int = 3,
) -> Outcome:
    """Run `work(key, trial)` for each trial not yet finished, at most `concurrency` at once.

    `work` returns the trial's record (JSON-serialisable); `key` is added to it. An exception that is an
    infrastructure error is recorded as the trial's `error` (retried on resume); if the first `abort_after`
    trials of this invocation all end that way, the run stops with `Aborted` naming the reason. Any other
    exception is a bug in the eval and propagates.
    """
    trials = list(trials)
    # Trials that run synchronous code in threads (tau2's simulations, building worlds) get as many threads as trials.
    asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(max_workers=concurrency + 4))
    keys = [key for key, _ in trials]
    assert len(set(keys)) == len(keys), "trial keys must be unique"
    todo = [(key, trial) for key, trial in trials if not results.finished(key)]
    outcome = Outcome([], resumed=len(trials) - len(todo))
    semaphore = asyncio.Semaphore(concurrency)
    start = time.perf_counter()
    finished_here = 0

    async def one(key: str, trial: Any) -> dict:
        async with semaphore:
            began = time.perf_counter()
            try:
                record = await work(key, trial)
                return {"key": key, **record, "error": None, "seconds": round(time.perf_counter() - began, 3)}
            except Exception as error:  # noqa: BLE001 -- sorted below: outside failures are kept, bugs re-raised
                if not is_infrastructure_error(error):
                    raise
                return {"key": key, "error": describe_error(error), "seconds": round(time.perf_counter() - began, 3)}

    columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
               TextColumn("eta"), TimeRemainingColumn(), TextColumn("{task.fields[status]}")]
    console = console or Console(stderr=True)
    with Progress(*columns, console=console, transient=False) as progress:
        done_records = [r for r in (results.records.get(k) for k in keys) if r is not None and not r.get("error")]
        bar = progress.add_task(description, total=len(trials), completed=outcome.resumed, status=status(done_records))
        tasks = [asyncio.ensure_future(one(key, trial)) for key, trial in todo]
        try:
            for next_done in asyncio.as_completed(tasks):
                record = await next_done
                results.add(record)
                outcome.ran += 1
                if record["error"]:
                    outcome.errors[record["error"]] += 1
                    if finished_here == 0 and sum(outcome.errors.values()) >= min(abort_after, len(todo)):
                        reason = outcome.errors.most_common(1)[0][0]
                        raise Aborted(f"the first {sum(outcome.errors.values())} trials failed: {reason}")
                else:
                    finished_here += 1
                    done_records.append(record)
                progress.update(bar, advance=1, status=status(done_records))
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
    outcome.records = [results.records[k] for k in keys if results.finished(k)]
    outcome.seconds = time.perf_counter() - start
    return outcome
