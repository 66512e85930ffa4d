"""The usage ledger: one SQL row per request (key, tokens, cost, latency), written ahead and kept durable, and the
per-key, per-day report.

Nothing delivered goes unrecorded, whatever happens to the process or the database:
- a row is inserted when a request is admitted (finish_reason "interrupted", the prompt's tokens), and committed
  before the response's first byte;
- before a streamed chunk goes out, the row already counts its tokens (progress updates, committed first), so a
  server killed mid-stream leaves a row with at least the tokens the client received;
- the final counts and finish reason are committed before the response's last byte (the final chunk, `[DONE]`, or
  the whole body of a non-streamed answer);
- all writes go through one thread that commits them in groups (one transaction, one fsync, for every row that
  is waiting), so durability costs a few milliseconds per chunk, not per stream;
- a failed write is retried (a locked SQLite file, a PostgreSQL failover) and never dropped silently: retries and
  the rows that could not be written at all are logged and counted in /metrics.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from sqlalchemy import DateTime, Engine, Float, Integer, String, func, select, update
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Mapped, Session, mapped_column

from .db import Base

logger = logging.getLogger("openk2.server")
ANONYMOUS = "-"
UNFINISHED = "interrupted"  # a row's finish_reason until its request ends: what it stays if the server dies first
DURABLE_WAIT = 30.0  # seconds a response waits for its row to be written before it fails with 503
RETRY_DELAYS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0)  # seconds between attempts; the last one repeats


class UsageRecord(Base):
    __tablename__ = "usage"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, index=True)  # UTC
    request_id: Mapped[str] = mapped_column(String(64))
    key: Mapped[str] = mapped_column(String(200), index=True)  # the API key's name, or "-"
    model: Mapped[str] = mapped_column(String(200))
    endpoint: Mapped[str] = mapped_column(String(64))
    prompt_tokens: Mapped[int] = mapped_column(Integer)  # including the cached ones
    cached_tokens: Mapped[int] = mapped_column(Integer)
    completion_tokens: Mapped[int] = mapped_column(Integer)
    cost: Mapped[float] = mapped_column(Float)  # USD, at the prices in force when the request ran
    latency: Mapped[float] = mapped_column(Float)  # seconds
    finish_reason: Mapped[str] = mapped_column(String(64))


@dataclass(eq=False)
class Entry:
    """One request's row: the fields as last written, and its id once inserted."""

    fields: dict
    id: int | None = None
    durable: dict = field(default_factory=dict)  # the fields as last committed


@dataclass
class ReportRow:
    day: str
    key: str
    requests: int
    prompt_tokens: int
    cached_tokens: int
    completion_tokens: int
    cost: float


class Ledger:
    """Writes rows from a background thread, so a slow database never stalls the event loop.

    `begin`, `update` and `record` queue a write and return a Future that resolves once it is committed (async
    callers: `await asyncio.wrap_future(f)`); the HTTP layer awaits it before the bytes that depend on it.
    """

    def __init__(self, engine: Engine):
        self.engine = engine
        Base.metadata.create_all(engine, tables=[UsageRecord.__table__])
        self.lock = threading.Condition()
        self.queue: dict[Entry, list[Future]] = {}  # entries with unwritten fields, in arrival order
        self.busy = 0  # entries being written now
        self.closing = False
        self.retries = 0  # failed attempts that were retried
        self.lost = 0  # rows that could not be written at all (logged)
        self.writer = threading.Thread(target=self._write_loop, name="openk2-ledger", daemon=True)
        self.writer.start()

    @property
    def pending(self) -> int:
        """Rows waiting to be written (queued or being written)."""
        with self.lock:
            return len(self.queue) + self.busy

    def begin(self, key: str | None, **fields) -> tuple[Entry, Future]:
        """A new row, as the request is admitted; finish_reason stays "interrupted" until `update` says otherwise."""
        entry = Entry({"finish_reason": UNFINISHED, "completion_tokens": 0, "cost": 0.0, "latency": 0.0, **fields,
                       "key": key or ANONYMOUS, "created_at": datetime.now(timezone.utc).replace(tzinfo=None)})
        return entry, self._enqueue(entry)

    def update(self, entry: Entry, **fields) -> Future:
        """New values for a row (progress, or the final counts); writes for one row are merged while they wait."""
        return self._enqueue(entry, fields)

    def record(self, key: str | None, **fields) -> Future:
        """A finished request's row in one go."""
        return self.begin(key, **fields)[1]

    def _enqueue(self, entry: Entry, fields: dict | None = None) -> Future:
        future: Future = Future()
        with self.lock:
            if fields:
                entry.fields.update(fields)
            if self.closing and not self.writer.is_alive():
                future.set_exception(RuntimeError("the usage ledger is closed"))
                return future
            self.queue.setdefault(entry, []).append(future)
            self.lock.notify_all()
        return future

    def flush(self) -> None:
        """Wait until every queued row is in the database."""
        with self.lock:
            while self.queue or self.busy:
                self.lock.wait(0.1)

    def close(self, timeout: float = 30) -> None:
        """Write what is queued (retrying for up to `timeout` seconds), then stop."""
        with self.lock:
            self.closing = True
            self.lock.notify_all()
        self.writer.join(timeout)
        with self.lock:
            for entry, futures in self.queue.items():
                self._lose(entry, futures, RuntimeError("the server stopped before the row could be written"))
            self.queue.clear()

    def _write_loop(self) -> None:
        attempt = 0
        while True:
            with self.lock:
                while not self.queue and not self.closing:
                    self.lock.wait()
                if not self.queue:
                    return
                batch = dict(self.queue)  # one transaction for every row waiting now: one commit, one fsync
                self.queue.clear()
                self.busy = len(batch)
                snapshot = {entry: dict(entry.fields) for entry in batch}
            try:
                self._write(snapshot)
            except (OperationalError, DBAPIError) as e:
                transient = isinstance(e, OperationalError) or e.connection_invalidated
                if transient and not (self.closing and attempt >= 8):
                    self.retries += 1
                    delay = RETRY_DELAYS[min(attempt, len(RETRY_DELAYS) - 1)]
                    logger.warning("usage ledger: writing %d rows failed (%s); retrying in %.2f s", len(batch),
                                   str(e).splitlines()[0], delay)
                    attempt += 1
                    self._requeue(batch)
                    time.sleep(delay)
                    continue
                self._fail(batch, e)
            except Exception as e:  # noqa: BLE001  (a row the database refuses for good: say so, count it)
                self._fail(batch, e)
            else:
                attempt = 0
                with self.lock:
                    for entry, futures in batch.items():
                        entry.durable = snapshot[entry]
                        for future in futures:
                            future.set_result(None)
            with self.lock:
                self.busy = 0
                self.lock.notify_all()

    def _write(self, snapshot: dict[Entry, dict]) -> None:
        with Session(self.engine) as session:
            new = {entry: UsageRecord(**fields) for entry, fields in snapshot.items() if entry.id is None}
            session.add_all(new.values())
            for entry, fields in snapshot.items():
                if entry.id is not None:
                    session.execute(update(UsageRecord).where(UsageRecord.id == entry.id).values(**fields))
            session.commit()
            for entry, row in new.items():
                entry.id = row.id

    def _requeue(self, batch: dict[Entry, list[Future]]) -> None:
        """Put a failed batch back in front of what arrived meanwhile (later writes to a row already merged in)."""
        with self.lock:
            merged = dict(batch)
            for entry, futures in self.queue.items():
                merged.setdefault(entry, []).extend(futures)
            self.queue = merged
            self.busy = 0

    def _fail(self, batch: dict[Entry, list[Future]], error: Exception) -> None:
        if len(batch) > 1:  # one bad row must not take its neighbours down: write them one at a time
            for entry, futures in batch.items():
                try:
                    self._write({entry: dict(entry.fields)})
                except Exception as e:  # noqa: BLE001
                    self._lose(entry, futures, e)
                else:
                    entry.durable = dict(entry.fields)
                    for future in futures:
                        future.set_result(None)
            return
        for entry, futures in batch.items():
            self._lose(entry, futures, error)

    def _lose(self, entry: Entry, futures: list[Future], error: Exception) -> None:
        self.lost += 1
        logger.error("usage ledger: LOST the row of request %s (%s tokens): %s", entry.fields.get("request_id"),
                     entry.fields.get("completion_tokens"), str(error).splitlines()[0])
        for future in futures:
            if not future.done():
                future.set_exception(error)

    def rows(self) -> list[UsageRecord]:
        with Session(self.engine, expire_on_commit=False) as session:
            return list(session.scalars(select(UsageRecord).order_by(UsageRecord.id)))

    def requests(self, request_ids: list[str]) -> list[UsageRecord]:
        """The rows of these requests (those recorded so far included), in the order they were written."""
        self.flush()
        if not request_ids:
            return []
        with Session(self.engine, expire_on_commit=False) as session:
            return list(session.scalars(select(UsageRecord).where(UsageRecord.request_id.in_(request_ids))
                                        .order_by(UsageRecord.id)))

    def report(self, days: int | None = None, key: str | None = None) -> list[ReportRow]:
        """Per key and UTC day: requests, tokens and cost, newest day first."""
        day = func.date(UsageRecord.created_at)
        query = (select(day, UsageRecord.key, func.count(), func.sum(UsageRecord.prompt_tokens),
                        func.sum(UsageRecord.cached_tokens), func.sum(UsageRecord.completion_tokens),
                        func.sum(UsageRecord.cost))
                 .group_by(day, UsageRecord.key).order_by(day.desc(), UsageRecord.key))
        if days is not None:
            since = datetime.now(timezone.utc).replace(tzinfo=None) - timedelta(days=days)
            query = query.where(UsageRecord.created_at >= since)
        if key is not None:
            query = query.where(UsageRecord.key == key)
        with Session(self.engine) as session:
            return [ReportRow(str(d), k, n, int(p), int(c), int(o), float(cost))
                    for d, k, n, p, c, o, cost in session.execute(query)]
