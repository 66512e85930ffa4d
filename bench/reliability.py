"""Load and faults against `openk2 serve` on loopback, then the code sandbox's escape attempts; stops by itself.

    .venv/bin/python bench/reliability.py [--clients 8] [--requests 240] [--seconds 300]

1. Load: a keys-required server on a loopback port; --clients clients send --requests requests between them:
   most are honest chat completions (streamed or not, from two keys), one in five is hostile (no key with a 3 MB
   body, a wrong or revoked key, malformed JSON, a schema nested 100 levels, 2000 prompts, a body over the limit,
   a key past its rate limit). Counts responses by status.
2. Fault: streaming traffic again, then SIGKILL mid-stream. Every response a client received (whole, or in part)
   must have its ledger row with the right token counts; the script counts those that do not ("rows lost") and
   runs PRAGMA integrity_check.
3. Sandbox: every escape attempt of openk2.agent.escapes in every mode this machine has.

Everything is bounded by --requests and --seconds; nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx

MODEL = "bench"
TINY = dict(vocab_size=768, hidden_size=64, intermediate_size=128, moe_intermediate_size=32, num_hidden_layers=2,
            first_k_dense_replace=1, n_routed_experts=4, num_experts_per_tok=2, n_group=1, topk_group=1,
            num_attention_heads=4, kv_lora_rank=32, q_lora_rank=None, qk_nope_head_dim=16, qk_rope_head_dim=8,
            v_head_dim=16, max_position_embeddings=512)


def make_checkpoint(folder: Path) -> Path:
    """A tiny random-weight model with its tokenizer, as `openk2 init` writes one (once per run)."""
    from openk2.config import ModelConfig

    config = folder / "tiny.json"
    config.write_text(json.dumps(ModelConfig(**TINY).to_hf()))
    out = folder / "model"
    subprocess.run([sys.executable, "-c", "from openk2.cli import main; main()", "init", str(out), "--config",
                    str(config), "--dtype", "float32"], check=True, capture_output=True, timeout=300)
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(model: Path, db: str, port: int) -> subprocess.Popen:
    process = subprocess.Popen([sys.executable, "-m", "openk2.server.cli", "serve", "--model", str(model), "--port",
                                str(port), "--dtype", "float32", "--db", db, "--served-model-name", MODEL,
                                "--api-key-required"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    banner = ""
    while "Uvicorn running" not in banner:
        line = process.stdout.readline()
        if not line:
            raise SystemExit(f"the server did not start:\n{banner}")
        banner += line
    return process


def key(db: str, name: str, *options: str) -> str:
    return subprocess.run([sys.executable, "-m", "openk2.server.cli", "keys", "create", name, "--db", db, *options],
                          check=True, capture_output=True, text=True).stdout.strip()


def hostile(url: str, good: str, revoked: str, limited: str, i: int) -> tuple[str, dict]:
    """The i-th hostile request: (name, httpx.request keyword arguments)."""
    chat = {"model": MODEL, "max_tokens": 4, "messages": [{"role": "user", "content": "hi"}]}
    deep: dict = {"type": "string"}
    for _ in range(100):
        deep = {"type": "object", "properties": {"a": deep}, "required": ["a"]}
    bearer = lambda k: {"authorization": f"Bearer {k}"}  # noqa: E731
    kinds = [
        ("no key, 3 MB body", dict(json={**chat, "messages": [{"role": "user", "content": "x" * (3 << 20)}]})),
        ("wrong key", dict(json=chat, headers=bearer("sk-openk2-" + "0" * 43))),
        ("revoked key", dict(json=chat, headers=bearer(revoked))),
        ("malformed JSON", dict(content=b"{nope", headers={**bearer(good), "content-type": "application/json"})),
        ("schema 100 levels deep", dict(json={**chat, "response_format": {"type": "json_schema", "json_schema": {
            "name": "x", "schema": deep}}}, headers=bearer(good))),
        ("2000 prompts", dict(url=f"{url}/v1/completions", json={"model": MODEL, "prompt": ["a"] * 2000, "max_tokens": 1},
                              headers=bearer(good))),
        ("body over the limit", dict(json={**chat, "messages": [{"role": "user", "content": "x" * (5 << 20)}]},
                                     headers=bearer(good))),
        ("past its rate limit", dict(json=chat, headers=bearer(limited))),
    ]
    return kinds[i % len(kinds)]


async def load(url: str, keys: dict, clients: int, requests: int, deadline: float) -> Counter:
    statuses: Counter = Counter()
    counter = iter(range(requests))

    async def client(http: httpx.AsyncClient, c: int) -> None:
        for i in counter:
            if time.monotonic() > deadline:
                return
            if i % 5 == 4:
                name, kwargs = hostile(url, keys["a"], keys["revoked"], keys["limited"], i // 5)
                kwargs = {"url": f"{url}/v1/chat/completions", **kwargs}
                response = await http.post(**kwargs)
                statuses[f"{response.status_code} ({name})"] += 1
                continue
            body = {"model": MODEL, "max_tokens": 16, "temperature": 0, "ignore_eos": True, "stream": i % 3 != 0,
                    "messages": [{"role": "user", "content": f"request {i}"}]}
            headers = {"authorization": f"Bearer {keys['a' if i % 2 else 'b']}"}
            async with http.stream("POST", f"{url}/v1/chat/completions", json=body, headers=headers) as response:
                await response.aread()
                statuses[f"{response.status_code} (honest)"] += 1

    async with httpx.AsyncClient(timeout=120) as http:
        await asyncio.gather(*(client(http, c) for c in range(clients)))
    return statuses


async def fault(url: str, process: subprocess.Popen, good: str, clients: int, deadline: float) -> list[dict]:
    """Streams until enough are whole and several are part-way, then SIGKILL; what each client received."""
    seen: list[dict] = []

    async def client(http: httpx.AsyncClient, c: int) -> None:
        k = 0
        while process.poll() is None and time.monotonic() < deadline:
            k += 1
            entry = {"id": None, "chunks": 0, "usage": None}
            seen.append(entry)
            body = {"model": MODEL, "max_tokens": 24 + 8 * (c % 3), "temperature": 0, "ignore_eos": True, "stream": True,
                    "stream_options": {"include_usage": True}, "messages": [{"role": "user", "content": f"{c}-{k}"}]}
            try:
                async with http.stream("POST", f"{url}/v1/chat/completions", json=body,
                                       headers={"authorization": f"Bearer {good}"}) as response:
                    usage = None
                    async for line in response.aiter_lines():
                        if line == "data: [DONE]":
                            entry["usage"] = usage
                        elif line.startswith("data: "):
                            chunk = json.loads(line[6:])
                            entry["id"], usage = chunk["id"], chunk.get("usage") or usage
                            entry["chunks"] += any(c["delta"].get("content") for c in chunk["choices"])
            except (httpx.HTTPError, json.JSONDecodeError, KeyError):
                return

    async def killer() -> None:
        while time.monotonic() < deadline:
            whole = sum(e["usage"] is not None for e in seen)
            part = sum(e["usage"] is None and e["chunks"] >= 3 for e in seen)
            if whole >= 2 * clients and part >= clients // 2:
                break
            await asyncio.sleep(0.005)
        os.kill(process.pid, signal.SIGKILL)

    async with httpx.AsyncClient(timeout=httpx.Timeout(60, connect=5)) as http:
        await asyncio.gather(killer(), *(client(http, c) for c in range(clients)))
    return seen


def lost_rows(db_path: Path, seen: list[dict]) -> tuple[int, int, int, str]:
    """(responses delivered whole, in part, whose row is missing or wrong, integrity_check)."""
    with sqlite3.connect(db_path) as db:
        integrity = db.execute("PRAGMA integrity_check").fetchone()[0]
        rows = {r[0]: r[1:] for r in db.execute("SELECT request_id, prompt_tokens, completion_tokens, finish_reason "
                                                "FROM usage")}
    whole = [e for e in seen if e["usage"] is not None]
    part = [e for e in seen if e["usage"] is None and e["chunks"] > 0]
    lost = sum(rows.get(e["id"]) != (e["usage"]["prompt_tokens"], e["usage"]["completion_tokens"], "length")
               for e in whole)
    lost += sum(e["id"] not in rows or rows[e["id"]][1] < e["chunks"] for e in part)
    return len(whole), len(part), lost, integrity


def sandbox_escapes() -> tuple[int, int, list[str]]:
    from openk2.agent.escapes import ATTACKS, Host, attempt
    from openk2.agent.sandbox import Sandbox, SandboxLimits, bwrap_works, landlock_works

    refused = total = 0
    modes = [m for m, problem in (("bwrap", bwrap_works()), ("landlock", landlock_works())) if problem is None]
    with tempfile.TemporaryDirectory() as tmp:
        host = Host(Path(tmp))
        try:
            for mode in modes:
                with Sandbox(SandboxLimits(timeout_s=2.0, memory_mb=512, max_processes=16), mode=mode) as box:
                    for name in ATTACKS:
                        total += 1
                        refused += not attempt(box, host, name).escaped
        finally:
            host.close()
    return refused, total, modes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--requests", type=int, default=240)
    parser.add_argument("--seconds", type=float, default=300, help="a bound on each phase")
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores", flush=True)
    with tempfile.TemporaryDirectory(prefix="openk2-reliability-") as tmp:
        tmp = Path(tmp)
        model = make_checkpoint(tmp)
        db_path = tmp / "ledger.db"
        db = f"sqlite:///{db_path}"
        keys = {"a": key(db, "a"), "b": key(db, "b"), "revoked": key(db, "revoked"),
                "limited": key(db, "limited", "--requests-per-minute", "2")}
        subprocess.run([sys.executable, "-m", "openk2.server.cli", "keys", "revoke", "revoked", "--db", db], check=True,
                       capture_output=True)
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        process = serve(model, db, port)
        try:
            start = time.monotonic()
            statuses = asyncio.run(load(url, keys, args.clients, args.requests, start + args.seconds))
            seconds = time.monotonic() - start
            seen = asyncio.run(fault(url, process, keys["a"], args.clients, time.monotonic() + args.seconds))
        finally:
            process.kill()
            process.wait()
        whole, part, lost, integrity = lost_rows(db_path, seen)
    refused, attempts, modes = sandbox_escapes()

    sent = sum(statuses.values())
    completed = sum(n for s, n in statuses.items() if s.startswith("200"))
    print(f"requests sent {sent}, completed {completed} in {seconds:.1f} s ({args.clients} clients)")
    print("errors by status: " + ", ".join(f"{s}: {n}" for s, n in sorted(statuses.items()) if not s.startswith("200")))
    print(f"SIGKILL mid-stream: {whole} responses whole, {part} in part; ledger rows lost {lost}; "
          f"integrity_check {integrity}")
    print(f"sandbox escapes refused {refused}/{attempts} (modes: {', '.join(modes) or 'none'})")


if __name__ == "__main__":
    main()
