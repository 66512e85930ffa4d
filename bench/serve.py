"""Serving throughput through the HTTP API at 1/8/32 concurrent clients, and the server's overhead vs the engine, in one run.

    .venv/bin/python bench/serve.py [--model PATH] [--max-tokens 32] [--requests-per-client 2] [--dtype bfloat16]

Without --model, writes (once, cached under bench/.cache) a random-weight `nano` checkpoint with its
tokenizer, as `openk2 init --preset nano` does. Starts `openk2 serve` in a subprocess on a loopback
port; at each concurrency, that many clients stream chat completions of exactly --max-tokens tokens
(ignore_eos) back to back. Then the same requests go straight to the async Engine in this process.
Prints requests/s, generated tokens/s and median time to first token for both, and the ratio of
server to engine wall time (1.00: the HTTP layer costs nothing).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import torch

from openk2.chat import encode_prompt
from openk2.cli_support import parse_dtype
from openk2.engine import Engine, EngineConfig, LLMEngine, SamplingParams

CACHE_DIR = Path(__file__).parent / ".cache" / "serve-bench-nano"
MODEL = "bench"


@dataclass
class Run:
    seconds: float
    requests: int
    tokens: int
    ttfts: list[float]

    def row(self) -> str:
        return (f"{self.requests / self.seconds:8.2f} req/s {self.tokens / self.seconds:9.1f} tok/s "
                f"TTFT p50 {1000 * statistics.median(self.ttfts):7.1f} ms")


def messages(i: int) -> list[dict]:
    return [{"role": "user", "content": f"Request {i}: tell me about mixtures of experts."}]


async def through_server(url: str, clients: int, per_client: int, max_tokens: int) -> Run:
    ttfts: list[float] = []
    tokens = 0

    async def client(http: httpx.AsyncClient, index: int) -> None:
        nonlocal tokens
        for k in range(per_client):
            body = {"model": MODEL, "messages": messages(index * per_client + k), "max_tokens": max_tokens,
                    "temperature": 0, "ignore_eos": True, "stream": True, "stream_options": {"include_usage": True}}
            start, first = time.perf_counter(), None
            async with http.stream("POST", f"{url}/v1/chat/completions", json=body) as response:
                assert response.status_code == 200, await response.aread()
                async for line in response.aiter_lines():
                    if not line.startswith("data: {"):
                        continue
                    chunk = json.loads(line[6:])
                    if first is None and chunk["choices"] and chunk["choices"][0]["delta"].get("content"):
                        first = time.perf_counter() - start
                    if chunk.get("usage"):
                        tokens += chunk["usage"]["completion_tokens"]
            ttfts.append(first if first is not None else time.perf_counter() - start)

    async with httpx.AsyncClient(timeout=600, limits=httpx.Limits(max_connections=clients)) as http:
        await client(http, -1)  # warm-up: connection, first-request costs
        ttfts.clear()
        tokens = 0
        start = time.perf_counter()
        await asyncio.gather(*(client(http, i) for i in range(clients)))
        return Run(time.perf_counter() - start, clients * per_client, tokens, ttfts)


async def through_engine(engine: Engine, clients: int, per_client: int, max_tokens: int) -> Run:
    ttfts: list[float] = []
    tokens = 0
    tokenizer = engine.llm.tokenizer

    async def client(index: int) -> None:
        nonlocal tokens
        for k in range(per_client):
            prompt = encode_prompt(tokenizer, messages(index * per_client + k))
            start, first = time.perf_counter(), None
            stream = await engine.submit(prompt, SamplingParams(max_tokens=max_tokens, temperature=0, ignore_eos=True))
            async for event in stream:
                if first is None and event.token_id is not None:
                    first = time.perf_counter() - start
                if event.finish_reason is not None:
                    tokens += event.completion_tokens
            ttfts.append(first)

    await client(-1)
    ttfts.clear()
    tokens = 0
    start = time.perf_counter()
    await asyncio.gather(*(client(i) for i in range(clients)))
    return Run(time.perf_counter() - start, clients * per_client, tokens, ttfts)


def nano_checkpoint() -> Path:
    if not (CACHE_DIR / "tiktoken.model").exists():
        subprocess.run([sys.executable, "-m", "openk2", "init", str(CACHE_DIR), "--preset", "nano", "--force"],
                       check=True, stdout=subprocess.DEVNULL)
    return CACHE_DIR


def start_server(model: Path, dtype: str, db: str) -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    process = subprocess.Popen([sys.executable, "-m", "openk2.server.cli", "serve", "--model", str(model), "--port",
                                str(port), "--dtype", dtype, "--db", db, "--served-model-name", MODEL],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output = ""
    while "Uvicorn running" not in output:
        line = process.stdout.readline()
        if not line:
            raise RuntimeError(f"the server did not start:\n{output}")
        output += line
    return process, f"http://127.0.0.1:{port}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="checkpoint directory (default: a cached random nano checkpoint)")
    parser.add_argument("--max-tokens", type=int, default=32, help="tokens generated per request")
    parser.add_argument("--requests-per-client", type=int, default=2)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--dtype", default="bfloat16")
    args = parser.parse_args()
    model = args.model or nano_checkpoint()
    work = (args.requests_per_client, args.max_tokens)

    with tempfile.TemporaryDirectory() as tmp:
        process, url = start_server(model, args.dtype, f"sqlite:///{tmp}/bench.db")
        try:
            served = {c: asyncio.run(through_server(url, c, *work)) for c in args.concurrency}
        finally:
            process.terminate()
            process.wait(timeout=30)

    # The same engine settings `openk2 serve` uses by default, now without HTTP in between.
    engine = Engine(LLMEngine.from_pretrained(model, dtype=parse_dtype(args.dtype), config=EngineConfig()))
    try:
        direct = {c: asyncio.run(through_engine(engine, c, *work)) for c in args.concurrency}
    finally:
        engine.close()

    print(f"openk2 serve: {model} ({args.dtype}), {args.max_tokens} tokens per request, "
          f"{args.requests_per_client} requests per client, torch {torch.__version__}, {torch.get_num_threads()} threads")
    for c in args.concurrency:
        print(f"{c:3d} clients  server {served[c].row()}  |  engine {direct[c].row()}  |  "
              f"server/engine time {served[c].seconds / direct[c].seconds:.2f}x")


if __name__ == "__main__":
    main()
