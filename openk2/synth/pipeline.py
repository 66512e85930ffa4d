"""The pipeline: draw tasks round-robin over families and languages, roll the expert out, judge, keep what passes.

Task i of a run is a pure function of (seed, split, i): family i mod F, language (i div F) mod L, and a random
stream of its own, so the same arguments give byte-identical files and any slice can be made in parallel.
"""

from __future__ import annotations

import asyncio
import os
import random
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

from openk2.agent.apps import APPS

from .cast import check_split, draw_cast
from .family import Context, Family, Skip, families_for
from .grade import Grade
from .language import check_language
from .rollout import expert_conversation, judge
from .task import Environment, Task, pristine_world

ALL_APPS_SHARE = 0.35  # app tasks that declare every app's tools, as `openk2 agent` does by default
CODE_TOOL_SHARE = 0.6  # ... of those, the ones that also declare run_python
BASE_WORLDS = 128   # worlds (seed + cast) per split that tasks are built on; building one takes ~0.1 s, copying one ~1 ms
MAX_DRAWS = 20      # a family may skip a world that cannot host its task; it gets this many tries


@dataclass
class Outcome:
    """One task's result: the task with its expert conversation when the judge passed it."""

    task: Task | None
    family: str
    language: str
    grade: Grade | None = None
    skipped: int = 0   # worlds the family could not use before it found one
    tools: list[dict] = field(default_factory=list)  # the declarations the agent saw


def base_world(split: str, number: int) -> tuple[int, World]:
    rng = random.Random(f"world:{split}:{number}")
    seed = rng.randrange(2**31)
    return seed, pristine_world(seed, draw_cast(rng, split))


def draw_task(family: Family, split: str, language: str, rng: random.Random, task_id: str) -> tuple[Task, callable, int]:
    """Let the family draw a task on a base world; returns the task, its expert and how many worlds it skipped."""
    for skipped in range(MAX_DRAWS):
        world_seed, base = base_world(split, rng.randrange(BASE_WORLDS))
        ctx = Context(rng, language, split, base.cast, base.copy(), apps=list(family.apps))
        try:
            expert = family.make(ctx)
        except Skip:
            continue
        code_tool = None
        if family.apps and rng.random() < ALL_APPS_SHARE:  # the same task among more tools: read, don't memorise
            ctx.apps = list(APPS)
            if rng.random() < CODE_TOOL_SHARE:
                code_tool = rng.choice(["bwrap", "landlock"])
        task = Task(id=task_id, family=family.name, language=language, split=split, seed=world_seed, cast=base.cast,
                    setup=ctx.setup, apps=ctx.apps, synthetic=ctx.synthetic, request=ctx.request,
                    user_replies=ctx.user_replies, user_instructions=ctx.user_instructions, expect=ctx.expect,
                    tags=list(family.tags), code_tool=code_tool)
        return task, expert, skipped
    raise RuntimeError(f"family {family.name} found no usable world in {MAX_DRAWS} tries")


_runner: tuple[int, asyncio.Runner] | None = None


def runner() -> asyncio.Runner:
    """One event loop per process for all rollouts: a fresh loop per task would start a new thread pool for the
    apps' tools every time (a third of the cost of a task). Per process, because a forked worker inherits the
    parent's loop without the threads of its pool, and its tool calls would wait for them forever."""
    global _runner
    if _runner is None or _runner[0] != os.getpid():
        _runner = (os.getpid(), asyncio.Runner())
    return _runner[1]


def make_one(seed: int, split: str, languages: tuple[str, ...], index: int) -> Outcome:
    families = families_for(split)
    family = families[index % len(families)]
    language = languages[(index // len(families)) % len(languages)]
    rng = random.Random(f"task:{seed}:{split}:{index}")
    task, expert, skipped = draw_task(family, split, language, rng, f"{split}-{seed}-{index:06d}")
    env = task.environment()
    messages = runner().run(expert_conversation(env, expert()))
    grade = runner().run(judge(task, messages))
    if not grade.passed:
        return Outcome(None, family.name, language, grade, skipped)
    task.solution = messages
    return Outcome(task, family.name, language, grade, skipped, environment_tools(env))


def generate(n: int, seed: int = 0, split: str = "train", languages: tuple[str, ...] = ("en", "de", "zh"),
             start: int = 0) -> Iterator[Outcome]:
    """Outcomes for tasks start .. start+n-1 (see the module docstring)."""
    check_split(split)
    for language in languages:
        check_language(language)
    for index in range(start, start + n):
        yield make_one(seed, split, tuple(languages), index)


def generate_tasks(split: str = "heldout", n: int = 200, seed: int = 0,
                   languages: tuple[str, ...] = ("en", "de", "zh")) -> list[Task]:
    """The tasks `openk2 synth --split SPLIT --n N --seed S` writes, in memory (those the judge passed)."""
    return [o.task for o in generate(n, seed, split, tuple(languages)) if o.task is not None]


@dataclass
class Summary:
    """What a run made: counts by family and language, rejections, turns and tokens."""

    kept: int = 0
    rejected: int = 0
    families: Counter = field(default_factory=Counter)
    languages: Counter = field(default_factory=Counter)
    rejected_by_family: Counter = field(default_factory=Counter)
    tools: set = field(default_factory=set)
    domains: set = field(default_factory=set)
    turns: int = 0
    messages: int = 0

    def add(self, outcome: Outcome) -> None:
        if outcome.task is None:
            self.rejected += 1
            self.rejected_by_family[outcome.family] += 1
            return
        task = outcome.task
        self.kept += 1
        self.families[task.family] += 1
        self.languages[task.language] += 1
        self.domains.update(s["domain"] for s in task.synthetic)
        self.turns += sum(1 for m in task.solution if m["role"] == "assistant")
        self.messages += len(task.solution)
        self.tools.update(c["function"]["name"] for m in task.solution for c in m.get("tool_calls") or [])


def environment_tools(env: Environment) -> list[dict]:
    return [t.spec() for t in env.tools]
