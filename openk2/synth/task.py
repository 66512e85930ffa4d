"""A task: a world (seed, cast, set-up), a request, a simulated user and a checker; and the fresh environment of a trial.

A task is plain data (one JSON line), so the evaluation harness and the trainer read the same file the generator
wrote. `Task.environment()` rebuilds its world exactly; `Task.grade(env, messages)` grades a finished
conversation by the world's final state and the final reply (see grade.py).
"""

from __future__ import annotations

import functools
import json
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from openk2.agent.apps import APPS, World
from openk2.agent.apps.world import Cast, from_db, to_db
from openk2.agent.runtime import default_system_prompt
from openk2.agent.tools import Tool, ToolResult

from .cast import cast_from_dict, cast_to_dict
from .grade import Grade, grade_conversation, normalized_state
from .synthetic import SyntheticTools, build_synthetic_tools
from .user import ScriptedUser


@dataclass
class Task:
    """One task of the suite. `solution` is the expert's conversation (what an oracle endpoint replays)."""

    id: str
    family: str
    language: str
    split: str
    seed: int                      # the world's seed
    cast: Cast                     # who and what the world holds
    setup: list[dict]              # changes made to the fresh world before the trial (see apply_setup)
    apps: list[str]                # whose tools the agent gets
    synthetic: list[dict]          # synthetic tools the agent gets (see synthetic.py)
    request: str                   # the user's first message
    user_replies: list[str]        # what the scripted user says after each of the agent's answers, in order
    user_instructions: str         # the same, as hidden instructions for a model playing the user
    expect: dict                   # the checker's rubric (see grade.py)
    tags: list[str] = field(default_factory=list)   # what the family covers: single, parallel, clarify, ...
    solution: list[dict] = field(default_factory=list)
    code_tool: str | None = None   # also declare run_python as `openk2 agent` does in this sandbox mode (never needed)

    def environment(self) -> Environment:
        world = pristine_world(self.seed, self.cast).copy()
        apply_setup(world, self.setup)
        return Environment(self, world)

    def grade(self, env: Environment, messages: list[dict]) -> Grade:
        """Grade a finished conversation that ran in `env` (a fresh environment of this task)."""
        return grade_conversation(self.expect, env.before, env.state(), messages, env.write_tools)

    def to_dict(self) -> dict:
        return {**asdict(self), "cast": cast_to_dict(self.cast)}

    @classmethod
    def from_dict(cls, data: dict) -> Task:
        return cls(**{**data, "cast": cast_from_dict(data["cast"])})


@functools.lru_cache(maxsize=160)
def pristine_world(seed: int, cast: Cast) -> World:
    """The world a seed and cast make (built once per process; tasks work on copies)."""
    return World(apps=tuple(APPS), seed=seed, cast=cast)


class Environment:
    """One trial's world: the tools the agent gets, the opening messages and the simulated user.

    `before` is the normalised state right after set-up, which the checker compares the end state against.
    """

    def __init__(self, task: Task, world: World):
        self.task, self.world = task, world
        self.synthetic: SyntheticTools = build_synthetic_tools(task.synthetic, world.store)
        self.tools: list[Tool] = [t for name in task.apps for t in world.apps[name].tools()]
        if task.code_tool:
            self.tools.append(declared_code_tool(task.code_tool))
        self.tools += self.synthetic.tools
        self.write_tools = WRITE_TOOLS | self.synthetic.write_tools
        self.messages = [{"role": "system", "content": default_system_prompt(world.describe())},
                         {"role": "user", "content": task.request}]
        self.user = ScriptedUser(task.user_replies)
        self.before = self.state()

    def state(self) -> dict[str, dict]:
        return normalized_state(self.world.store, self.synthetic.tables)

    def tool(self, name: str) -> Tool | None:
        return next((t for t in self.tools if t.name == name), None)


def declared_code_tool(mode: str) -> Tool:
    """run_python declared exactly as `openk2 agent` declares it, so tasks match the agent's default tool set.
    No task needs code, so a call gets an error instead of a sandbox (and the checker sees no change)."""
    from openk2.agent.sandbox import SandboxLimits, run_python_declaration

    description, parameters = run_python_declaration(mode, SandboxLimits())

    async def refuse(arguments: dict) -> ToolResult:
        return ToolResult("Error: code execution is not available for this task; use the other tools", True)

    return Tool("run_python", description, parameters, refuse, side_effect=True)


# Tools that change the world: the checker's "ask before acting" rule looks for these.
WRITE_TOOLS = frozenset({"create_event", "update_event", "delete_event", "send_email", "reply_to_email", "save_draft",
                         "send_draft", "move_email", "book_flight", "book_hotel", "book_restaurant", "cancel_booking"})


def apply_setup(world: World, setup: list[dict]) -> None:
    """Make a task's changes to a fresh world: extra people, events, e-mails, sold-out capacity, existing bookings."""
    store, calendar, booking = world.store, world.apps["calendar"], world.apps["booking"]
    with store.transaction():
        for step in setup:
            op = step["op"]
            if op == "person":
                store.execute("INSERT INTO people VALUES (?, ?, ?, ?, ?)",
                              [step["email"], step["name"], step["timezone"], step["organisation"], step["role"]])
            elif op == "event":
                start = from_db(step["start"])
                calendar.insert(step["title"], start, timedelta(minutes=step["minutes"]), step["timezone"],
                                step["organizer"], step["attendees"], step.get("location", ""), step.get("description", ""))
            elif op == "email":
                sent = from_db(step["sent"]) if step.get("sent") else None
                store.execute("INSERT INTO emails (folder, sender, recipients, cc, subject, body, sent_at, unread) "
                              "VALUES (?, ?, ?, '[]', ?, ?, ?, ?)",
                              [step["folder"], step["sender"], json.dumps(step["to"]), step["subject"], step["body"],
                               sent and to_db(sent), int(step.get("unread", True))])
            elif op == "restaurant_seats":
                store.execute("UPDATE restaurant_slots SET seats_left = ? WHERE restaurant_id = ? AND day = ? AND time = ?",
                              [step["seats_left"], step["restaurant_id"], step["day"], step["time"]])
            elif op == "hotel_rooms":
                store.execute("UPDATE hotel_nights SET rooms_left = ? WHERE hotel_id = ? AND night = ?",
                              [step["rooms_left"], step["hotel_id"], step["night"]])
            elif op == "flight_seats":
                store.execute("UPDATE flights SET seats_left = ? WHERE id = ?", [step["seats_left"], step["flight_id"]])
            elif op == "book":
                getattr(booking, f"book_{step['kind']}")(**step["arguments"])
            else:
                raise ValueError(f"unknown set-up step {op!r}")


def moment(text: str) -> datetime:
    return from_db(text)


def load_tasks(path: str | Path) -> list[Task]:
    """Tasks from a JSONL file written by `openk2 synth` (tasks.jsonl); a bad line is a one-line error naming it."""
    from openk2.train.data import read_jsonl

    path = Path(path)
    if path.is_dir():
        path = path / "tasks.jsonl"
    if not path.is_file():
        raise FileNotFoundError(f"no task file at {path}; write one with `openk2 synth --out DIR`")
    tasks = []
    for number, record in read_jsonl(path):
        try:
            tasks.append(Task.from_dict(record))
        except (TypeError, KeyError) as e:
            raise ValueError(f"{path}:{number}: not a task ({e})") from None
    return tasks


def task_line(task: Task) -> str:
    return json.dumps(task.to_dict(), ensure_ascii=False, sort_keys=True) + "\n"


def jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))
