"""Fault injection: `openk2 serve` is killed with SIGKILL in the middle of streaming traffic. Every response a client
received, whole or in part, must have its ledger row with the right token counts, and the database must be intact.

Against SQLite by default. OPENK2_FAULT_DB=postgresql+psycopg://user@host/db runs the same test against PostgreSQL
(the database must exist and be empty; install a driver, e.g. `pip install "psycopg[binary]"`)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass

import httpx
import pytest
from sqlalchemy import create_engine, text

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("one_torch_thread")]
MODEL = "openk2-test"


@dataclass
class Seen:
    """One response as its client saw it."""

    id: str | None = None
    chunks: int = 0  # content chunks received (each carries at least one token)
    usage: dict | None = None  # the final usage, if the response arrived whole
    streamed: bool = True


def start_server(checkpoint, db_url: str, port: int) -> subprocess.Popen:
    process = subprocess.Popen(
        [sys.executable, "-m", "openk2.server.cli", "serve", "--model", str(checkpoint), "--port", str(port),
         "--dtype", "float32", "--db", db_url, "--served-model-name", MODEL],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    banner = ""
    while "Uvicorn running" not in banner:
        line = process.stdout.readline()
        assert line, banner
        banner += line
    return process


async def traffic(url: str, seen: list[Seen], stop: asyncio.Event, clients: int = 6) -> None:
    """Clients sending requests back to back (most streamed, some not) until the server goes away."""

    async def client(http: httpx.AsyncClient, index: int) -> None:
        k = 0
        while not stop.is_set():
            k += 1
            body = {"model": MODEL, "messages": [{"role": "user", "content": f"story {index}-{k}"}], "temperature": 0,
                    "max_tokens": 24 + 8 * (index % 3), "ignore_eos": True}
            entry = Seen(streamed=k % 4 != 0)
            seen.append(entry)
            try:
                if not entry.streamed:
                    reply = (await http.post(f"{url}/v1/chat/completions", json=body)).json()
                    entry.id, entry.usage, entry.chunks = reply["id"], reply["usage"], reply["usage"]["completion_tokens"]
                    continue
                body.update(stream=True, stream_options={"include_usage": True})
                async with http.stream("POST", f"{url}/v1/chat/completions", json=body) as response:
                    usage = None
                    async for line in response.aiter_lines():
                        if line == "data: [DONE]":
                            entry.usage = usage
                        elif line.startswith("data: "):
                            chunk = json.loads(line[6:])
                            entry.id = chunk["id"]
                            usage = chunk.get("usage") or usage
                            entry.chunks += any(c["delta"].get("content") for c in chunk["choices"])
            except (httpx.HTTPError, json.JSONDecodeError, KeyError):
                return  # the server died under us

    async with httpx.AsyncClient(timeout=httpx.Timeout(30, connect=5)) as http:
        await asyncio.gather(*(client(http, i) for i in range(clients)))


def test_sigkill_mid_stream_loses_no_row_and_keeps_the_database_intact(scripted_checkpoint, tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    db_path = tmp_path / "ledger.db"
    db_url = os.environ.get("OPENK2_FAULT_DB") or f"sqlite:///{db_path}"
    process = start_server(scripted_checkpoint.path, db_url, port)
    seen: list[Seen] = []

    async def run() -> None:
        stop = asyncio.Event()
        load = asyncio.ensure_future(traffic(f"http://127.0.0.1:{port}", seen, stop))
        deadline = time.monotonic() + 120
        # Kill once some responses are whole and several others are part-way through.
        while not (sum(e.usage is not None for e in seen) >= 12 and sum(e.usage is None and e.chunks >= 3 for e in seen) >= 3):
            assert time.monotonic() < deadline and not load.done(), "the traffic did not get going"
            await asyncio.sleep(0.005)
        os.kill(process.pid, signal.SIGKILL)
        stop.set()
        await load

    try:
        asyncio.run(run())
    finally:
        process.kill()
        process.wait(timeout=10)

    if db_url.startswith("sqlite"):
        with sqlite3.connect(db_path) as db:
            assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    with create_engine(db_url).connect() as db:
        rows = {r[0]: tuple(r[1:]) for r in db.execute(
            text("SELECT request_id, prompt_tokens, completion_tokens, finish_reason FROM usage"))}
    whole = [e for e in seen if e.usage is not None]
    partial = [e for e in seen if e.usage is None and e.chunks > 0]
    assert len(whole) >= 12 and len(partial) >= 3
    for e in whole:  # exactly what the client was told
        assert e.id in rows, f"response {e.id} was delivered but has no ledger row"
        assert rows[e.id] == (e.usage["prompt_tokens"], e.usage["completion_tokens"], "length"), e
    for e in partial:  # cut by the kill: at least every token the client received is billed
        assert e.id in rows, f"response {e.id} was part-delivered but has no ledger row"
        prompt_tokens, completion_tokens, finish_reason = rows[e.id]
        assert completion_tokens >= e.chunks and finish_reason in ("interrupted", "length"), (e, rows[e.id])
