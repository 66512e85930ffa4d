"""The server's SQL database through SQLAlchemy: a SQLite file by default, any SQLAlchemy URL (PostgreSQL for a fleet)."""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    pass


def open_database(url: str) -> Engine:
    """Connect, creating a SQLite file (readable by its owner only: it holds key hashes and everyone's usage) and its
    folder. Each table's owner creates its table (checkfirst)."""
    if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
        path = Path(url.removeprefix("sqlite:///")).expanduser()
        path.parent.mkdir(parents=True, exist_ok=True)
        try:  # SQLite gives its -wal and -shm files the database file's mode
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
        except OSError as e:
            raise ValueError(f"cannot create the database file {path}: {e.strerror}") from None
    try:
        engine = create_engine(url)
        if engine.dialect.name == "sqlite":
            # WAL lets `openk2 keys` and `openk2 usage` run while the server writes the ledger.
            @event.listens_for(engine, "connect")
            def _sqlite_pragmas(connection, _record) -> None:
                connection.execute("PRAGMA journal_mode=WAL")
                connection.execute("PRAGMA busy_timeout=5000")
                # Each commit reaches the disk (WAL's default, NORMAL, may lose the last ones on power loss).
                connection.execute("PRAGMA synchronous=FULL")

        with engine.connect():
            pass
    except Exception as e:  # a malformed URL, a missing driver, an unreachable server: bad input to the CLI
        raise ValueError(f"cannot open the database {url!r}: {str(e).splitlines()[0]}") from None
    return engine
