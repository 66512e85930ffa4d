"""API keys, rate limits, the usage ledger and its report, metrics, and the `serve` / `keys` / `usage` commands."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
from pathlib import Path

import anthropic
import httpx
import openai
import pytest
from conftest import live_server
from typer.testing import CliRunner

from openk2.server.cli import server_app

pytestmark = pytest.mark.usefixtures("one_torch_thread")
MODEL = "openk2-test"
LONG = {"model": MODEL, "messages": [{"role": "user", "content": "Write a long story."}], "max_tokens": 400,
        "ignore_eos": True, "temperature": 0, "stream": True}


def cli(*args: str):
    return CliRunner().invoke(server_app, list(args))


@pytest.fixture(scope="module")
def secured(scripted_checkpoint, tmp_path_factory):
    """A server that requires keys, with its own database."""
    tmp = tmp_path_factory.mktemp("secured")
    db = f"sqlite:///{tmp / 'keys.db'}"
    with live_server(scripted_checkpoint.path, tmp, api_key_required=True, db=db) as live:
        live.db = db
        yield live


def new_key(live, name: str, *options: str) -> str:
    result = cli("keys", "create", name, "--db", live.db, *options)
    assert result.exit_code == 0, result.output
    return result.stdout.strip()


def test_keys_and_authentication(secured, scripted_checkpoint):
    alice, bob = new_key(secured, "alice"), new_key(secured, "bob")
    assert alice.startswith("sk-openk2-") and alice != bob
    duplicate = cli("keys", "create", "alice", "--db", secured.db)
    assert duplicate.exit_code == 1 and "already exists" in duplicate.output and "Traceback" not in duplicate.output
    listing = cli("keys", "list", "--db", secured.db).stdout
    assert "alice" in listing and "bob" in listing and alice not in listing
    assert alice.encode() not in Path(secured.db.removeprefix("sqlite:///")).read_bytes()  # only its hash is kept

    hello = {"model": MODEL, "max_tokens": 4, "messages": scripted_checkpoint.hello}
    assert openai.OpenAI(base_url=f"{secured.url}/v1", api_key=alice, max_retries=0).chat.completions.create(
        **hello).choices[0].message.content
    assert anthropic.Anthropic(base_url=secured.url, api_key=bob, max_retries=0).messages.create(**hello).content
    for key in (None, "sk-openk2-wrong"):
        headers = {"authorization": f"Bearer {key}"} if key else {}
        response = httpx.post(f"{secured.url}/v1/chat/completions", json=hello, headers=headers)
        assert response.status_code == 401 and response.json()["error"]["code"] == "invalid_api_key"
        response = httpx.post(f"{secured.url}/v1/messages", json=hello, headers={"x-api-key": key} if key else {})
        assert response.status_code == 401 and response.json()["error"]["type"] == "authentication_error"

    assert cli("keys", "revoke", "bob", "--db", secured.db).exit_code == 0
    with pytest.raises(anthropic.AuthenticationError):
        anthropic.Anthropic(base_url=secured.url, api_key=bob, max_retries=0).messages.create(**hello)
    assert cli("keys", "revoke", "nobody", "--db", secured.db).exit_code == 1


def test_rate_limits_answer_429_with_retry_after(secured, scripted_checkpoint):
    fast = new_key(secured, "fast", "--requests-per-minute", "2")
    count = {"model": MODEL, "messages": scripted_checkpoint.hello}
    headers = {"x-api-key": fast}
    for _ in range(2):
        assert httpx.post(f"{secured.url}/v1/messages/count_tokens", json=count, headers=headers).status_code == 200
    refused = httpx.post(f"{secured.url}/v1/messages/count_tokens", json=count, headers=headers)
    assert refused.status_code == 429 and refused.json()["error"]["type"] == "rate_limit_error"
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    refused = httpx.post(f"{secured.url}/v1/chat/completions", json={**count, "max_tokens": 1},
                         headers={"authorization": f"Bearer {fast}"})
    assert refused.status_code == 429 and refused.json()["error"]["code"] == "rate_limit_exceeded"

    thrifty = new_key(secured, "thrifty", "--tokens-per-minute", "100")
    client = openai.OpenAI(base_url=f"{secured.url}/v1", api_key=thrifty, max_retries=0)
    client.chat.completions.create(model=MODEL, messages=scripted_checkpoint.hello, max_tokens=4)  # ~64 tokens
    secured.wait_idle()
    with pytest.raises(openai.RateLimitError) as refused:  # another ~64 + 4 reserved would pass 100
        client.chat.completions.create(model=MODEL, messages=scripted_checkpoint.hello, max_tokens=4)
    assert "100 tokens per minute" in refused.value.message


def test_ledger_matches_what_clients_were_told(secured, scripted_checkpoint):
    """Every request, cancelled streams included, is one ledger row with the usage the client saw, and its
    cost is the tokens times the configured prices."""
    key = new_key(secured, "carol")
    script = scripted_checkpoint
    oa = openai.OpenAI(base_url=f"{secured.url}/v1", api_key=key, max_retries=0)
    an = anthropic.Anthropic(base_url=secured.url, api_key=key, max_retries=0)
    told = []  # (prompt, cached, completion) per request, as each client got it

    def from_openai(usage) -> None:
        told.append((usage.prompt_tokens, usage.prompt_tokens_details.cached_tokens, usage.completion_tokens))

    def from_anthropic(usage) -> None:
        told.append((usage.input_tokens + usage.cache_read_input_tokens, usage.cache_read_input_tokens,
                     usage.output_tokens))

    from_openai(oa.chat.completions.create(model=MODEL, messages=script.hello, temperature=0).usage)
    *_, last = oa.chat.completions.create(model=MODEL, messages=script.question, tools=[script.tool], stream=True,
                                          stream_options={"include_usage": True}, temperature=0)
    from_openai(last.usage)
    from_openai(oa.completions.create(model=MODEL, prompt=["a", "b"], n=2, max_tokens=3, temperature=0).usage)
    from_anthropic(an.messages.create(model=MODEL, max_tokens=32, messages=script.hello).usage)
    with an.messages.stream(model=MODEL, max_tokens=32, messages=script.hello) as stream:
        from_anthropic(stream.get_final_message().usage)
    prompt_tokens = oa.chat.completions.create(model=MODEL, messages=LONG["messages"], max_tokens=1).usage.prompt_tokens
    told.append((prompt_tokens, None, None))
    with httpx.stream("POST", f"{secured.url}/v1/chat/completions", json=LONG,
                      headers={"authorization": f"Bearer {key}"}) as response:
        lines = response.iter_lines()
        received = sum(line.startswith("data: ") for line in (next(lines) for _ in range(20)))
    secured.wait_idle()

    rows = [r for r in secured.serving.ledger.rows() if r.key == "carol"]
    assert [r.endpoint for r in rows] == ["chat.completions", "chat.completions", "completions", "messages",
                                          "messages", "chat.completions", "chat.completions"]
    assert [r.finish_reason for r in rows] == ["stop", "tool_calls", "length", "stop", "stop", "length", "cancelled"]
    for row, (prompt, cached, completion) in zip(rows[:-1], told[:-1]):
        assert (row.prompt_tokens, row.cached_tokens, row.completion_tokens) == (prompt, cached, completion)
    cancelled = rows[-1]
    assert cancelled.prompt_tokens == told[-1][0] and received - 1 <= cancelled.completion_tokens < 400
    prices = secured.serving.model
    for row in rows:
        assert row.cost == pytest.approx((row.cached_tokens * prices.price_input_cache_hit + (
            row.prompt_tokens - row.cached_tokens) * prices.price_input + row.completion_tokens * prices.price_output) / 1e6)
        assert row.latency > 0 and row.model == MODEL

    report = cli("usage", "--db", secured.db, "--key", "carol").stdout
    totals = [cell for cell in report[report.rindex("total"):].split("\n")[0].split() if cell.strip("│")]
    assert totals == ["total", str(len(rows)), str(sum(r.prompt_tokens for r in rows)),
                      str(sum(r.cached_tokens for r in rows)), str(sum(r.completion_tokens for r in rows)),
                      f"{sum(r.cost for r in rows):.6f}"]


def test_metrics_and_health(secured):
    assert httpx.get(f"{secured.url}/health").json() == {"status": "ok"}
    assert httpx.get(f"{secured.url}/metrics").status_code == 401  # keys required: metrics too (--public-metrics)
    text = httpx.get(f"{secured.url}/metrics", headers={"x-api-key": new_key(secured, "scraper")}).text
    for needle in ('openk2_requests_total{endpoint="chat.completions",finish_reason="stop"}',
                   "openk2_ledger_rows_lost_total 0.0", "openk2_ledger_write_retries_total", "openk2_ledger_rows_pending",
                   "openk2_time_to_first_token_seconds_bucket", "openk2_request_latency_seconds_count",
                   "openk2_completion_tokens_total", "openk2_cached_prompt_tokens_total", "openk2_requests_waiting",
                   "openk2_requests_running", "openk2_kv_cache_usage", 'openk2_request_errors_total{status="401"}'):
        assert needle in text, needle
    assert "_created" not in text


def test_serve_command(scripted_checkpoint, tmp_path):
    """`python -m openk2.server.cli serve`: prints the base URL and a client snippet, then serves."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "openk2.server.cli", "serve", "--model", str(scripted_checkpoint.path), "--port",
         str(port), "--dtype", "float32", "--db", f"sqlite:///{tmp_path / 'db.sqlite'}", "--served-model-name", MODEL],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        banner = ""
        while "Uvicorn running" not in banner:
            line = process.stdout.readline()
            assert line, banner
            banner += line
        assert f"http://127.0.0.1:{port}/v1" in banner and "OpenAI(base_url=" in banner
        reply = httpx.post(f"http://127.0.0.1:{port}/v1/chat/completions", timeout=30, json={
            "model": MODEL, "messages": scripted_checkpoint.hello, "temperature": 0})
        assert reply.json()["choices"][0]["message"]["content"] == scripted_checkpoint.hello_reply
    finally:
        process.terminate()
        process.wait(timeout=10)
    missing = subprocess.run([sys.executable, "-m", "openk2.server.cli", "serve", "--model", str(tmp_path / "nope")],
                             capture_output=True, text=True, timeout=60)
    assert missing.returncode == 1 and "Traceback" not in missing.stderr
    assert re.fullmatch(r"error: .*has no tokenizer.*\n", missing.stderr)
