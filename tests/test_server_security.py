"""The server under a hostile client: keys are checked before anything else (a wrong, revoked or limited key is never
served as anonymous, a keyless body is never read), /docs and /metrics follow the server's key setting, and bad
input gets short, clear errors."""

from __future__ import annotations

import logging
import socket
import time

import httpx
import pytest
from conftest import live_server

from openk2.server.auth import KeyStore
from openk2.server.settings import ServerConfig

pytestmark = pytest.mark.usefixtures("one_torch_thread")
MODEL = "openk2-test"


@pytest.fixture(scope="module")
def guarded(scripted_checkpoint, tmp_path_factory):
    """Keys required; /metrics public (for a scraper), /docs not."""
    with live_server(scripted_checkpoint.path, tmp_path_factory.mktemp("guarded"), api_key_required=True,
                     public_metrics=True) as live:
        live.keys = KeyStore(live.serving.ledger.engine)
        yield live


def chat(live, key: str | None, **extra) -> httpx.Response:
    headers = {"authorization": f"Bearer {key}"} if key else {}
    body = {"model": MODEL, "max_tokens": 2, "messages": [{"role": "user", "content": "hi"}], **extra}
    return httpx.post(f"{live.url}/v1/chat/completions", json=body, headers=headers, timeout=30)


def test_a_presented_key_must_be_valid_even_when_keys_are_optional(server):
    keys = KeyStore(server.serving.ledger.engine)
    revoked = keys.create("revoked-in-open-mode")
    keys.revoke("revoked-in-open-mode")
    limited = keys.create("limited-in-open-mode", requests_per_minute=1)
    assert chat(server, None).status_code == 200  # no key: anonymous, as the server was started
    assert chat(server, "EMPTY").status_code == 200  # a client's placeholder is not a key
    for key, message in ((revoked, "revoked"), ("sk-openk2-" + "x" * 43, "invalid API key")):
        refused = chat(server, key)
        assert refused.status_code == 401 and message in refused.json()["error"]["message"]
        refused = httpx.post(f"{server.url}/v1/messages", headers={"x-api-key": key}, json={
            "model": MODEL, "max_tokens": 2, "messages": [{"role": "user", "content": "hi"}]})
        assert refused.status_code == 401 and refused.json()["error"]["type"] == "authentication_error"
    assert chat(server, limited).status_code == 200
    assert chat(server, limited).status_code == 429  # limited, not served as anonymous
    server.wait_idle()
    assert {r.key for r in server.serving.ledger.rows()} >= {"-", "limited-in-open-mode"}


def test_open_mode_says_so_at_start_up(scripted_checkpoint, tmp_path, caplog):
    with caplog.at_level(logging.WARNING, "openk2.server"):
        with live_server(scripted_checkpoint.path, tmp_path):
            pass
    assert "requests that present no key are served anonymously" in caplog.text


def test_the_key_is_checked_before_the_body_is_read(guarded):
    """A keyless request announcing 3 MB gets its 401 at once: the server does not wait for (or parse) the body."""
    host, port = guarded.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as s:
        s.sendall(f"POST /v1/chat/completions HTTP/1.1\r\nhost: {host}\r\ncontent-type: application/json\r\n"
                  f"content-length: {3 << 20}\r\n\r\n{{\"model\": ".encode())
        start = time.monotonic()
        reply = b""
        while b"\r\n\r\n" not in reply or len(reply.split(b"\r\n\r\n", 1)[1]) < int(
                reply.lower().split(b"content-length: ")[1].split(b"\r\n")[0]):
            reply += s.recv(65536)
        reply = reply.decode()
    assert reply.startswith("HTTP/1.1 401") and "missing API key" in reply and time.monotonic() - start < 5
    malformed = httpx.post(f"{guarded.url}/v1/chat/completions", content=b"{not json", headers={
        "content-type": "application/json"})
    assert malformed.status_code == 401  # not 400: who you are comes first


def test_docs_and_metrics_follow_the_key_setting(guarded, server):
    key = guarded.keys.create("docs-reader")
    for path in ("/docs", "/openapi.json"):
        assert httpx.get(f"{guarded.url}{path}").status_code == 401
        assert httpx.get(f"{guarded.url}{path}", headers={"authorization": f"Bearer {key}"}).status_code == 200
        assert httpx.get(f"{server.url}{path}").status_code == 200  # keys optional: open
    assert httpx.get(f"{guarded.url}/metrics").status_code == 200  # --public-metrics
    assert httpx.get(f"{guarded.url}/health").status_code == 200


def test_413_is_short_and_does_not_echo_the_body(server):
    limit = ServerConfig.max_body_bytes

    def chunks():  # no content-length: the limit is enforced while the body streams in
        for _ in range(limit // 65536 + 2):
            yield b"x" * 65536

    refused = httpx.post(f"{server.url}/v1/chat/completions", content=chunks(), headers={
        "content-type": "application/json"}, timeout=30)
    assert refused.status_code == 413 and len(refused.content) < 500 and b"xxxx" not in refused.content
    assert f"larger than {limit} bytes" in refused.json()["error"]["message"]


def test_token_limits_are_reserved_at_admission():
    """tokens_per_minute caps what requests may use before they run, not what they used after the fact."""
    from openk2.server.auth import Caller, RateLimiter

    limiter, caller = RateLimiter(), Caller("k", tokens_per_minute=1000)
    first = limiter.reserve(caller, 600, now=0.0)
    with pytest.raises(Exception) as refused:  # a second 600 could overrun the limit while the first runs
        limiter.reserve(caller, 600, now=1.0)
    assert refused.value.status == 429 and refused.value.headers["Retry-After"] == "59"
    limiter.settle(first, 150)  # the first used 150 of its 600: the rest is free again
    limiter.reserve(caller, 600, now=2.0)
    with pytest.raises(Exception) as never:
        limiter.reserve(caller, 64 * 16 * 16 + 10, now=3.0)  # 64 prompts x n=16 x max_tokens 16: can never fit
    assert never.value.status == 400 and "more than this key's limit of 1000 tokens per minute" in str(never.value)
    assert limiter.reserve(Caller(None), 10**9) is None  # anonymous: no per-key limit


def test_a_completions_request_with_many_prompts_and_choices_counts_as_what_it_is(guarded):
    key = guarded.keys.create("bulk", tokens_per_minute=2000)
    body = {"model": MODEL, "prompt": ["a b c"] * 64, "n": 16, "max_tokens": 4}
    refused = httpx.post(f"{guarded.url}/v1/completions", json=body, headers={"authorization": f"Bearer {key}"})
    assert refused.status_code == 400 and "more than this key's limit" in refused.json()["error"]["message"]
    small = {**body, "prompt": ["a b c"] * 2, "n": 2}
    assert httpx.post(f"{guarded.url}/v1/completions", json=small, headers={"authorization": f"Bearer {key}"},
                      timeout=60).status_code == 200


def nested(depth: int) -> dict:
    schema = {"type": "string"}
    for _ in range(depth):
        schema = {"type": "object", "properties": {"a": schema}, "required": ["a"]}
    return schema


SELF_REFERENCE = {"type": "object", "properties": {"a": {"$ref": "#"}}, "required": ["a"]}


@pytest.mark.parametrize("schema, message", [(nested(100), "nests 201 levels deep; at most 64"),
                                             (SELF_REFERENCE, "forces an endless output")])
def test_hostile_schemas_get_a_400_and_no_traceback(server, schema, message, caplog):
    hi = {"model": MODEL, "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]}
    with caplog.at_level(logging.INFO):
        as_tool = httpx.post(f"{server.url}/v1/chat/completions", timeout=60, json={
            **hi, "tool_choice": "required", "tools": [{"type": "function", "function": {"name": "f", "parameters": schema}}]})
        as_format = httpx.post(f"{server.url}/v1/chat/completions", timeout=60, json={
            **hi, "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": schema}}})
    for reply in (as_tool, as_format):
        assert reply.status_code == 400 and message in reply.json()["error"]["message"], reply.text
    assert "Traceback" not in caplog.text and len(caplog.text) < 2000


def test_a_request_that_can_never_fit_is_a_400_not_a_503(server):
    reply = httpx.post(f"{server.url}/v1/completions", timeout=60, json={
        "model": MODEL, "prompt": ["a"] * 2000, "max_tokens": 2})
    assert reply.status_code == 400 and "2000 answers" in reply.json()["error"]["message"]
    assert reply.json()["error"]["param"] == "prompt"


def test_logit_bias_is_honoured_or_refused(server):
    x = server.serving.tokenizer.encode("x")[0]
    body = {"model": MODEL, "prompt": "hello", "max_tokens": 4, "temperature": 0}
    forced = httpx.post(f"{server.url}/v1/completions", json={**body, "logit_bias": {str(x): 100}}, timeout=60)
    assert forced.json()["choices"][0]["text"] == "xxxx"
    for bias, message in (({"x": 1}, "logit_bias keys must be token ids"), ({str(x): 500}, "logit_bias values"),
                          ({"99999": 1}, "logit_bias keys must be token ids in")):
        refused = httpx.post(f"{server.url}/v1/completions", json={**body, "logit_bias": bias}, timeout=60)
        assert refused.status_code == 400 and message in refused.json()["error"]["message"], refused.text


def test_an_unhandled_error_logs_its_traceback_once(server, monkeypatch, caplog):
    def broken(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(server.serving.prompts, "text", broken)
    with caplog.at_level(logging.ERROR, "openk2.server"):
        for _ in range(3):
            reply = httpx.post(f"{server.url}/v1/completions", json={"model": MODEL, "prompt": "x", "max_tokens": 1})
            assert reply.status_code == 500 and reply.json()["error"]["message"] == "internal server error"
    assert sum(r.exc_info is not None for r in caplog.records) == 1 and caplog.text.count("traceback logged before") == 2
