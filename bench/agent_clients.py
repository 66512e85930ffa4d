"""Claude Code and Codex CLI, headless, against `openk2 serve`: one turn each, with the log kept.

    .venv/bin/python bench/agent_clients.py [--model DIR] [--clients claude,codex] [--prompt TEXT]

Needs the two CLIs (`npm i -g @anthropic-ai/claude-code @openai/codex`); both run offline against a local base URL.
Without --model it serves models/nano-agent when the repository has it, else a random-weight nano checkpoint (written
once under bench/.cache), whose answers are gibberish: that run checks the protocol (every request served, each
session runs to its end), not the answer.

It starts `openk2 serve` on a free loopback port, answering to the names the clients ask for (`--served-model-name
'claude-*'` for Claude Code, which asks for Claude's own models; Codex is configured with the served name), points
each CLI at it with a throwaway HOME / CODEX_HOME (your own settings are neither read nor written), and prints for
each client its exit status, wall time and answer, then every request the server billed (endpoint, prompt / cached /
completion tokens, finish reason, seconds) from the server's ledger, with the load average. The same text goes to
bench/logs/agent_clients.log, kept in git as the latest run. Not part of CI: Node clients, and minutes of CPU prefill
(Claude Code's first prompt is ~20K tokens).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "models" / "nano-agent"
CACHE = ROOT / "bench" / ".cache" / "agent-clients-nano"
LOG = ROOT / "bench" / "logs" / "agent_clients.log"
NAME = "nano-agent"
# A silent stream while a long prompt prefills must not be taken for a dead one (Claude Code's defaults: 5 minutes
# without a stream event, 10 minutes per request).
CLAUDE_PATIENCE = {"CLAUDE_STREAM_IDLE_TIMEOUT_MS": "3600000", "API_TIMEOUT_MS": "3600000"}


def checkpoint(model: Path | None) -> tuple[Path, str]:
    if model is not None:
        return model, "given"
    if (SHIPPED / "config.json").is_file():
        return SHIPPED, "shipped"
    if not (CACHE / "config.json").is_file():
        subprocess.run([sys.executable, "-m", "openk2", "init", str(CACHE), "--preset", "nano", "--force"], check=True)
    return CACHE, "random weights"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def serve(model: Path, port: int, db: Path, log: Path, max_model_len: int | None) -> subprocess.Popen:
    command = [sys.executable, "-m", "openk2", "serve", "--model", str(model), "--port", str(port), "--db",
               f"sqlite:///{db}", "--served-model-name", NAME, "--served-model-name", "claude-*"]
    if max_model_len:
        command += ["--max-model-len", str(max_model_len)]
    server = subprocess.Popen(command, stdout=log.open("w"), stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"openk2 serve exited with {server.returncode}; see {log}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(1)
    server.terminate()
    raise SystemExit(f"openk2 serve did not become healthy in 10 minutes; see {log}")


def run_claude(url: str, prompt: str, work: Path, timeout: float) -> dict:
    home = work / "claude-home"
    home.mkdir()
    env = {**os.environ, "HOME": str(home), "ANTHROPIC_BASE_URL": url, "ANTHROPIC_API_KEY": "openk2",
           "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1", "DISABLE_AUTOUPDATER": "1", **CLAUDE_PATIENCE}
    command = ["claude", "-p", prompt, "--output-format", "json", "--max-turns", "2"]
    started = time.monotonic()
    done = subprocess.run(command, cwd=work, env=env, capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)
    out = {"client": "claude", "command": " ".join(command), "exit": done.returncode,
           "seconds": round(time.monotonic() - started, 1)}
    try:
        result = json.loads(done.stdout)
        out.update(answer=result.get("result"), is_error=result.get("is_error"), turns=result.get("num_turns"),
                   stop_reason=result.get("stop_reason"), model=",".join(result.get("modelUsage", {})))
    except ValueError:
        out.update(answer=done.stdout[-2000:], stderr=done.stderr[-2000:])
    return out


def run_codex(url: str, prompt: str, work: Path, timeout: float, context: int) -> dict:
    home = work / "codex-home"
    home.mkdir()
    (home / "config.toml").write_text(codex_config(url + "/v1", context))
    env = {**os.environ, "CODEX_HOME": str(home), "OPENK2_API_KEY": "openk2"}
    answer = work / "codex-answer.txt"
    command = ["codex", "exec", "--skip-git-repo-check", "--sandbox", "read-only", "-o", str(answer), prompt]
    started = time.monotonic()
    done = subprocess.run(command, cwd=work, env=env, capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)
    out = {"client": "codex", "command": " ".join(command), "exit": done.returncode,
           "seconds": round(time.monotonic() - started, 1),
           "answer": answer.read_text() if answer.is_file() else None}
    if done.returncode != 0:
        out["stderr"] = (done.stdout + done.stderr)[-2000:]
    return out


def codex_config(base_url: str, context: int) -> str:
    """The README's Codex configuration, with this run's URL."""
    return f"""model = "{NAME}"
model_provider = "openk2"
model_context_window = {context}
web_search = "disabled"  # a tool hosted by OpenAI: openk2 runs function tools only

[model_providers.openk2]
name = "openk2"
base_url = "{base_url}"
wire_api = "responses"
env_key = "OPENK2_API_KEY"
"""


def ledger(db: Path) -> list[tuple]:
    with sqlite3.connect(db) as connection:
        return connection.execute("SELECT endpoint, model, prompt_tokens, cached_tokens, completion_tokens, "
                                  "finish_reason, round(latency, 1) FROM usage ORDER BY id").fetchall()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, help="checkpoint (default: models/nano-agent, else a random nano)")
    parser.add_argument("--clients", default="claude,codex", help="comma-separated: claude, codex")
    parser.add_argument("--prompt", default="Reply with one short sentence: what is 2 + 3?")
    parser.add_argument("--max-model-len", type=int, help="passed to openk2 serve (default: the checkpoint's)")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds per client")
    parser.add_argument("--log", type=Path, default=LOG)
    args = parser.parse_args()
    clients = [c.strip() for c in args.clients.split(",") if c.strip()]
    missing = [c for c in clients if shutil.which(c) is None]
    if missing:
        raise SystemExit(f"not installed: {', '.join(missing)}; npm i -g @anthropic-ai/claude-code @openai/codex")
    model, kind = checkpoint(args.model)
    context = args.max_model_len or json.loads((model / "config.json").read_text())["max_position_embeddings"]
    lines = [f"# bench/agent_clients.py, {time.strftime('%Y-%m-%d %H:%M:%S')}", f"model: {model} ({kind}), context "
             f"{context} tokens", "versions: " + "; ".join(
                 subprocess.run([c, "--version"], capture_output=True, text=True).stdout.strip() for c in clients)]
    with tempfile.TemporaryDirectory(prefix="openk2-agents-") as tmp:
        work = Path(tmp)
        port = free_port()
        server = serve(model, port, work / "ledger.db", work / "serve.log", args.max_model_len)
        url = f"http://127.0.0.1:{port}"
        try:
            for client in clients:
                print(f"running {client} against {url} ...", file=sys.stderr, flush=True)
                folder = work / client
                folder.mkdir()
                try:
                    result = (run_claude(url, args.prompt, folder, args.timeout) if client == "claude"
                              else run_codex(url, args.prompt, folder, args.timeout, context))
                except subprocess.TimeoutExpired:
                    result = {"client": client, "exit": "timeout", "seconds": args.timeout}
                lines.append(json.dumps(result, ensure_ascii=False))
        finally:
            server.terminate()
            server.wait(timeout=60)
            lines.append(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
            lines.append("ledger (endpoint, model, prompt, cached, completion tokens, finish, seconds):")
            lines += [f"  {row}" for row in ledger(work / "ledger.db")]
            errors = [line for line in (work / "serve.log").read_text(errors="replace").splitlines()
                      if re.search(r'HTTP/1\.1" [45]\d\d|Traceback', line)]
            lines.append(f"server error responses: {len(errors)}")
            lines += [f"  {line}" for line in errors[:20]]
    text = "\n".join(lines) + "\n"
    print(text)
    args.log.parent.mkdir(parents=True, exist_ok=True)
    args.log.write_text(text)


if __name__ == "__main__":
    main()
