"""Task families: how a family draws one task (world set-up, request, user, rubric) and its expert's plan.

A family is a function `make(ctx) -> Expert` registered with `@family(...)`. It reads and changes the world
through `ctx` (the oracle sees everything: the database, the clock, every free slot), writes the request and the
simulated user's lines in `ctx.language`, states the rubric, and returns the expert: a generator that yields
`Act` (tool calls made together) and `Say` (a reply to the user) and receives tool results and user replies.

Phrasings are split: `ctx.pick(templates)` draws a training template (every third one is held out) or, in the
held-out split, a held-out one, so the evaluation asks in words the training data never used.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any

from openk2.agent.apps import World
from openk2.agent.apps.world import Cast, find_person

from .language import LANGUAGES
from .task import apply_setup


@dataclass
class Act:
    """One assistant turn of tool calls, run together; the expert receives their results (parsed JSON, or the error text)."""

    calls: list[tuple[str, dict]]
    content: str = ""


@dataclass
class Say:
    """An assistant message without tool calls (an answer or a question); the expert receives the user's reply or None."""

    text: str


Expert = Generator[Act | Say, Any, None]


@dataclass(frozen=True)
class Family:
    name: str
    apps: tuple[str, ...]
    tags: tuple[str, ...]
    heldout_only: bool
    make: Callable[[Context], Callable[[], Expert]]

    def splits(self) -> tuple[str, ...]:
        return ("heldout",) if self.heldout_only else ("train", "heldout")


FAMILIES: dict[str, Family] = {}
TAGS = ("single", "sequential", "parallel", "cross_app", "clarify", "decline", "recover", "change_mind", "synthetic", "chat")


def family(name: str, apps: tuple[str, ...], tags: tuple[str, ...], heldout_only: bool = False):
    """Register a family: `@family("cal_create", ("calendar",), ("single",))`."""
    assert all(t in TAGS for t in tags), tags

    def register(make: Callable[[Context], Callable[[], Expert]]):
        assert name not in FAMILIES, f"two families are called {name}"
        FAMILIES[name] = Family(name, apps, tags, heldout_only, make)
        return make

    return register


def families_for(split: str) -> list[Family]:
    from . import families  # noqa: F401  (registers every family)

    return sorted((f for f in FAMILIES.values() if split in f.splits()), key=lambda f: f.name)


class Skip(Exception):
    """This world cannot host the task as drawn (say, no free slot where one is needed): draw again."""


@dataclass
class Context:
    """What a family works with while it draws a task. `world` already holds the set-up made so far."""

    rng: random.Random
    language: str
    split: str
    cast: Cast
    world: World
    setup: list[dict] = field(default_factory=list)
    apps: list[str] = field(default_factory=list)
    synthetic: list[dict] = field(default_factory=list)
    request: str = ""
    user_replies: list[str] = field(default_factory=list)
    user_instructions: str = ""
    expect: dict = field(default_factory=lambda: {"changes": []})

    def __post_init__(self):
        assert self.language in LANGUAGES

    # --- phrasing -------------------------------------------------------------------------------

    def pick(self, options: dict[str, list[str]] | list[str]) -> str:
        """One phrasing in this task's language: held-out tasks use every third template, training the rest."""
        templates = options[self.language] if isinstance(options, dict) else options
        assert len(templates) >= 3 or not isinstance(options, dict), "a family needs at least 3 phrasings per language"
        chosen = [t for i, t in enumerate(templates) if (i % 3 == 2) == (self.split == "heldout")] or templates
        return self.rng.choice(chosen)

    def say(self, options: dict[str, str]) -> str:
        """The expert's or user's own words in this task's language (not split: answers are not templates to hold out)."""
        return options[self.language]

    # --- the world ------------------------------------------------------------------------------

    def add(self, *steps: dict) -> None:
        """Change the world before the trial (see task.apply_setup); the oracle sees the change at once."""
        apply_setup(self.world, list(steps))
        self.setup += steps

    def person(self, who: str) -> dict:
        return find_person(self.world.store, who)

    def change(self, record: str, op: str, /, id: Any = None, free: list[str] | None = None, **fields: Any) -> None:
        """Expect a change to a record (event, email, booking, person, syn_...): `op` insert, update or delete; the
        keyword arguments are the record's exact fields; `contains_x=[[...]]` adds a text rule for field x (each
        group needs one of its alternatives); `free` lists fields an update may change as well."""
        spec: dict[str, Any] = {"kind": record, "op": op}
        if id is not None:
            spec["id"] = id
        exact = {k: v for k, v in fields.items() if not k.startswith("contains_")}
        texts = {k.removeprefix("contains_"): v for k, v in fields.items() if k.startswith("contains_")}
        if exact:
            spec["fields"] = exact
        if texts:
            spec["contains"] = texts
        if free:
            spec["free"] = free
        self.expect["changes"].append(spec)

    def mention(self, *groups: list[str]) -> None:
        """The final reply must mention each group (any of its alternatives), and a tool result must show it."""
        self.expect.setdefault("answer", []).extend(list(g) for g in groups)
        self.expect["grounded"] = True

    def says(self, *groups: list[str]) -> None:
        """The final reply must contain each group (any alternative): words no tool states, such as a refusal."""
        self.expect.setdefault("says", []).extend(list(g) for g in groups)

    def require_call(self, *names: str) -> None:
        """These tools must have run without error: a decline or a report has to rest on a real look-up."""
        self.expect.setdefault("calls", []).extend(names)

    def ask_first(self) -> None:
        self.expect["ask_first"] = True
