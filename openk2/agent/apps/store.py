"""One SQLite database holding the apps' state, safe to use from the agent's tool threads, with snapshots for grading."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


class Store:
    """A SQLite connection behind a lock: tools run in worker threads, and parallel calls must not interleave writes."""

    def __init__(self, path: str | Path = ":memory:"):
        # Autocommit, with explicit transactions where several statements must land together.
        self.db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA foreign_keys = ON")
        self.lock = threading.RLock()

    def copy(self) -> Store:
        """A new in-memory store holding this one's current contents."""
        clone = Store()
        with self.lock:
            self.db.backup(clone.db)
        return clone

    def script(self, sql: str) -> None:
        with self.lock:
            assert not self.db.in_transaction, "executescript would commit the open transaction"
            self.db.executescript(sql)

    def rows(self, sql: str, params: Iterable[Any] = ()) -> list[dict]:
        with self.lock:
            return [dict(row) for row in self.db.execute(sql, tuple(params))]

    def row(self, sql: str, params: Iterable[Any] = ()) -> dict | None:
        rows = self.rows(sql, params)
        return rows[0] if rows else None

    def execute(self, sql: str, params: Iterable[Any] = ()) -> int:
        """Run one statement; returns the new row's id for an INSERT."""
        with self.lock:
            return self.db.execute(sql, tuple(params)).lastrowid

    def executemany(self, sql: str, rows: Iterable[Iterable[Any]]) -> None:
        with self.lock:
            self.db.executemany(sql, rows)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """All or nothing: a check-then-write (capacity, conflicts) sees no other thread's writes in between.

        Nested uses join the outer transaction (the lock is held throughout, so no other thread's can be open).
        """
        with self.lock:
            if self.db.in_transaction:
                yield
                return
            self.db.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
            self.db.execute("COMMIT")

    def clear(self, tables: Iterable[str]) -> None:
        for table in tables:
            self.execute(f"DELETE FROM {table}")

    def snapshot(self, tables: Iterable[str]) -> dict[str, list[dict]]:
        """Every row of the given tables in a stable order: the world's state, to compare or grade."""
        return {table: self.rows(f"SELECT * FROM {table} ORDER BY rowid") for table in tables}

    def is_empty(self, table: str) -> bool:
        return self.row(f"SELECT 1 AS x FROM {table} LIMIT 1") is None
