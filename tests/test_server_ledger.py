"""The usage ledger loses nothing: a locked database is waited out, a bad row is counted and logged without taking
its neighbours along, rows are written ahead and merged, and the database file is private."""

from __future__ import annotations

import logging
import os
import sqlite3
import stat
import threading
import time

import pytest
from sqlalchemy import create_engine, event

from openk2.server.db import open_database
from openk2.server.usage import UNFINISHED, Ledger

ROW = dict(request_id="r", model="m", endpoint="chat.completions", prompt_tokens=10, cached_tokens=0,
           completion_tokens=5, cost=0.0, latency=0.1, finish_reason="stop")


def quick_sqlite(path) -> object:
    """The server's SQLite settings, but giving up on a lock after 0.2 s (the server waits 5 s), so that the ledger's
    own retries are what this test exercises, quickly."""
    engine = create_engine(f"sqlite:///{path}", connect_args={"timeout": 0.2})

    @event.listens_for(engine, "connect")
    def _pragmas(connection, _record) -> None:
        connection.execute("PRAGMA journal_mode=WAL")

    return engine


def test_rows_written_while_the_database_is_locked_are_not_lost(tmp_path, caplog):
    ledger = Ledger(quick_sqlite(tmp_path / "usage.db"))
    blocker = sqlite3.connect(tmp_path / "usage.db", isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")  # another process holding the write lock (a long `openk2 usage`, a backup)
    with caplog.at_level(logging.WARNING, "openk2.server"):
        futures = [ledger.record(f"key{i}", **{**ROW, "request_id": f"r{i}"}) for i in range(11)]
        time.sleep(1.5)
        assert not any(f.done() for f in futures)  # waiting, not dropped
        blocker.execute("COMMIT")
        for future in futures:
            future.result(timeout=10)
    assert sorted(r.request_id for r in ledger.rows()) == sorted(f"r{i}" for i in range(11))
    assert ledger.retries >= 1 and ledger.lost == 0 and "retrying" in caplog.text
    ledger.close()


def test_a_row_the_database_refuses_is_counted_and_logged_and_spares_its_neighbours(tmp_path, caplog):
    ledger = Ledger(open_database(f"sqlite:///{tmp_path / 'usage.db'}"))
    with caplog.at_level(logging.ERROR, "openk2.server"):
        good = ledger.record("a", **ROW)
        bad = ledger.record("b", **{**ROW, "request_id": "bad", "prompt_tokens": None})  # NOT NULL
        also_good = ledger.record("c", **ROW)
        good.result(timeout=10), also_good.result(timeout=10)
        with pytest.raises(Exception):
            bad.result(timeout=10)
    assert sorted(r.key for r in ledger.rows()) == ["a", "c"]
    assert ledger.lost == 1 and "LOST the row of request bad" in caplog.text
    ledger.close()


def test_rows_are_written_ahead_then_updated(tmp_path):
    ledger = Ledger(open_database(f"sqlite:///{tmp_path / 'usage.db'}"))
    entry, admitted = ledger.begin("k", request_id="r1", model="m", endpoint="chat.completions", prompt_tokens=7,
                                   cached_tokens=0)
    admitted.result(timeout=10)
    (row,) = ledger.rows()
    assert (row.finish_reason, row.prompt_tokens, row.completion_tokens) == (UNFINISHED, 7, 0)
    for n in range(1, 40):  # progress while streaming: merged while they wait, each future resolves
        last = ledger.update(entry, completion_tokens=n)
    last.result(timeout=10)
    assert ledger.rows()[0].completion_tokens == 39
    ledger.update(entry, completion_tokens=40, finish_reason="stop", latency=1.5).result(timeout=10)
    (row,) = ledger.rows()
    assert (row.finish_reason, row.completion_tokens, row.latency) == ("stop", 40, 1.5) and entry.durable["completion_tokens"] == 40
    ledger.close()


def test_concurrent_writers_share_commits(tmp_path):
    """Group commit: 8 threads x 50 updates take far fewer transactions than writes."""
    engine = open_database(f"sqlite:///{tmp_path / 'usage.db'}")
    commits = []
    event.listen(engine, "commit", lambda conn: commits.append(1))
    ledger = Ledger(engine)
    entries = [ledger.begin(f"k{i}", request_id=f"r{i}", model="m", endpoint="e", prompt_tokens=1, cached_tokens=0)[0]
               for i in range(8)]

    def stream(entry):
        for n in range(1, 51):
            ledger.update(entry, completion_tokens=n).result(timeout=30)  # as a stream waits before each chunk

    threads = [threading.Thread(target=stream, args=(e,)) for e in entries]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r.completion_tokens for r in ledger.rows()) == [50] * 8
    assert len(commits) < 8 * 50
    ledger.close()


def test_the_database_file_is_private(tmp_path):
    old = os.umask(0o022)
    try:
        open_database(f"sqlite:///{tmp_path / 'fresh' / 'openk2.db'}")
    finally:
        os.umask(old)
    path = tmp_path / "fresh" / "openk2.db"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
