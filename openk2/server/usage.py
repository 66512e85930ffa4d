"""The usage ledger: one SQL row per finished or cancelled request (key, tokens, cost, latency), and the per-key, per-day report."""

from __future__ import annotations

import logging
import queue
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sqlalchemy import DateTime, Engine, Float, Integer, String, func, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from .db import Base

logger = logging.getLogger("openk2.server")
ANONYMOUS = "-"


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
    """Writes rows from a background thread, so a slow database never stalls the event loop."""

    def __init__(self, engine: Engine):
        self.engine = engine
        Base.metadata.create_all(engine, tables=[UsageRecord.__table__])
        self.pending: queue.Queue[dict | None] = queue.Queue()
        self.writer = threading.Thread(target=self._write_loop, name="openk2-ledger", daemon=True)
        self.writer.start()

    def record(self, key: str | None, **fields) -> None:
        self.pending.put({**fields, "key": key or ANONYMOUS, "created_at": datetime.now(timezone.utc).replace(tzinfo=None)})

    def flush(self) -> None:
        """Wait until every recorded row is in the database."""
        self.pending.join()

    def close(self) -> None:
        self.pending.put(None)
        self.writer.join(timeout=10)

    def _write_loop(self) -> None:
        while True:
            rows = [self.pending.get()]
            while not self.pending.empty() and len(rows) < 256:  # one transaction per burst
                rows.append(self.pending.get())
            try:
                with Session(self.engine) as session:
                    session.add_all(UsageRecord(**row) for row in rows if row is not None)
                    session.commit()
            except Exception:
                logger.exception("could not write %d usage rows", len(rows))
            for _ in rows:
                self.pending.task_done()
            if None in rows:
                return

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
