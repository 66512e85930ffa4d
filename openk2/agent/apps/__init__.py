"""Apps with real state for the agent to act on: calendar, email and booking, sharing one seeded SQLite world."""

from __future__ import annotations

import random
from pathlib import Path

from ..tools import Tool
from .booking import Booking
from .calendar import Calendar
from .email import Email
from .store import Store
from .world import DEFAULT_CAST, SCHEMA, TABLES, Cast, describe, reset_world

APPS = {"calendar": Calendar, "email": Email, "booking": Booking}


class World:
    """The apps over one database: `reset(seed)` makes a fresh reproducible world, `snapshot()` reads its state.

    A new or empty database is seeded with `seed`; an existing one (a path used before) is reopened as it is.
    `cast` names the people and venues (openk2.synth draws other casts; the default is Sam Taylor's world).
    """

    def __init__(self, path: str | Path = ":memory:", apps: list[str] | tuple[str, ...] = tuple(APPS), seed: int = 0,
                 cast: Cast = DEFAULT_CAST):
        unknown = [name for name in apps if name not in APPS]
        if unknown:
            raise ValueError(f"unknown app {unknown[0]!r}; choose from {', '.join(APPS)}")
        self.store, self.cast = Store(path), cast
        self.store.script(SCHEMA)
        fresh = self.store.row("SELECT name FROM sqlite_master WHERE name = 'world'") is None or self.store.is_empty("world")
        self.apps = {name: APPS[name](self.store) for name in dict.fromkeys(apps)}
        if fresh:
            self.reset(seed)

    def reset(self, seed: int) -> None:
        with self.store.transaction():  # one transaction: thousands of rows, one write to disk
            reset_world(self.store, seed, self.cast)
            for name, app in self.apps.items():
                # One random stream per app, so adding an app to a world leaves the others' data unchanged.
                app.reset(random.Random(f"{seed}:{name}"), self.cast)

    def copy(self) -> World:
        """An independent copy of the world as it is now (SQLite's backup API: milliseconds, where reset takes 100+)."""
        clone = object.__new__(World)
        clone.store, clone.cast = self.store.copy(), self.cast
        clone.apps = {name: type(app)(clone.store) for name, app in self.apps.items()}
        return clone

    def snapshot(self) -> dict[str, list[dict]]:
        return self.store.snapshot(TABLES + tuple(t for app in self.apps.values() for t in app.tables))

    def tools(self) -> list[Tool]:
        return [t for app in self.apps.values() for t in app.tools()]

    def describe(self) -> str:
        """Who the user is and what time it is, for the system prompt."""
        return describe(self.store)
