"""Bad input: every malformed request gets its protocol's error body and the right status, and the server keeps serving."""

from __future__ import annotations

import httpx
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable

pytestmark = pytest.mark.usefixtures("one_torch_thread")
MODEL = "openk2-test"
HI = [{"role": "user", "content": "hi"}]
CHAT = "/v1/chat/completions"
MESSAGES = "/v1/messages"
TOOL = {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}

# (path, body (bytes: sent as is), status, the parameter the error names or None)
CASES = [
    (CHAT, b'{"model": "openk2-test", "messages": [', 400, None),  # malformed JSON
    (CHAT, b"[1, 2]", 400, None),  # JSON, but not an object
    (CHAT, {"messages": HI}, 400, "model"),
    (CHAT, {"model": MODEL}, 400, "messages"),
    (CHAT, {"model": MODEL, "messages": []}, 400, "messages"),
    (CHAT, {"model": MODEL, "messages": "hi"}, 400, "messages"),
    (CHAT, {"model": MODEL, "messages": [{"role": "wizard", "content": "hi"}]}, 400, "messages.0"),
    (CHAT, {"model": MODEL, "messages": [{"role": "user", "content": 42}]}, 400, "messages.0.content"),
    (CHAT, {"model": MODEL, "messages": [{"role": "tool", "content": "x"}]}, 400, "messages.0.tool_call_id"),
    (CHAT, {"model": MODEL, "messages": HI, "max_tokens": 0}, 400, "max_tokens"),  # a large one is capped instead
    (CHAT, {"model": MODEL, "messages": HI, "max_tokens": "many"}, 400, "max_tokens"),
    (CHAT, {"model": MODEL, "messages": HI, "temperature": 3}, 400, "temperature"),
    (CHAT, {"model": MODEL, "messages": HI, "top_p": 0}, 400, "top_p"),
    (CHAT, {"model": MODEL, "messages": HI, "n": 0}, 400, "n"),
    (CHAT, {"model": MODEL, "messages": HI, "seed": 2**70}, 400, "seed"),
    (CHAT, {"model": MODEL, "messages": HI, "top_logprobs": 50}, 400, "top_logprobs"),
    (CHAT, {"model": MODEL, "messages": HI, "stop": [""]}, 400, None),
    (CHAT, {"model": MODEL, "messages": HI, "stop": [f"s{i}" for i in range(20)]}, 400, None),
    (CHAT, {"model": MODEL, "messages": HI, "tools": [{"type": "function", "function": {
        "name": "f", "parameters": {"type": "string"}}}]}, 400, "tools.0.function.parameters"),
    (CHAT, {"model": MODEL, "messages": HI, "tools": [{"type": "function", "function": {
        "name": "bad name!", "parameters": {"type": "object"}}}]}, 400, "tools.0.function.name"),
    (CHAT, {"model": MODEL, "messages": HI, "tools": [{"type": "function"}]}, 400, "tools.0.function"),
    (CHAT, {"model": MODEL, "messages": HI, "tools": [TOOL],
            "tool_choice": {"type": "function", "function": {"name": "g"}}}, 400, "tool_choice"),
    (CHAT, {"model": MODEL, "messages": HI, "tool_choice": "required"}, 400, "tool_choice"),
    (CHAT, {"model": MODEL, "messages": HI, "response_format": {"type": "json_schema"}}, 400, "response_format"),
    (CHAT, {"model": MODEL, "messages": [{"role": "user", "content": "word " * 600}]}, 400, "messages"),
    (CHAT, {"model": "gpt-4o", "messages": HI}, 404, "model"),
    ("/v1/completions", {"model": MODEL, "prompt": [10**9]}, 400, "prompt"),
    ("/v1/completions", {"model": MODEL, "prompt": "x", "suffix": "y"}, 400, "suffix"),
    (MESSAGES, b"{", 400, None),
    (MESSAGES, {"model": MODEL, "messages": HI}, 400, "max_tokens"),
    (MESSAGES, {"model": MODEL, "max_tokens": 8, "messages": []}, 400, "messages"),
    (MESSAGES, {"model": MODEL, "max_tokens": 8, "messages": [{"role": "tool", "content": "x"}]}, 400, "messages.0.role"),
    (MESSAGES, {"model": MODEL, "max_tokens": 8, "messages": HI, "temperature": 1.5}, 400, "temperature"),
    (MESSAGES, {"model": MODEL, "max_tokens": 8, "messages": HI, "tools": [{"name": "f"}]}, 400, "tools.0.input_schema"),
    (MESSAGES, {"model": MODEL, "max_tokens": 8, "messages": HI, "tools": [
        {"name": "f", "input_schema": {"type": "object", "required": "city"}}]}, 400, "tools.0.input_schema"),
    (MESSAGES, {"model": MODEL, "max_tokens": 8, "messages": HI, "tool_choice": {"type": "tool"}}, 400, "tool_choice"),
    (MESSAGES, {"model": MODEL, "max_tokens": 8, "messages": [{"role": "user", "content": [
        {"type": "tool_use", "id": "x", "name": "f", "input": {}}]}]}, 400, "messages.0.content"),
    (MESSAGES, {"model": MODEL, "max_tokens": 8, "messages": HI, "stop_sequences": [""]}, 400, None),
    (MESSAGES, {"model": "claude-opus-4", "max_tokens": 8, "messages": HI}, 404, "model"),
]


def check_error(response: httpx.Response, path: str, status: int, param: str | None) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    if path.startswith(MESSAGES):  # Anthropic: {"type": "error", "error": {"type", "message"}}
        assert body["type"] == "error" and set(body["error"]) == {"type", "message"}
        assert body["error"]["type"] == {400: "invalid_request_error", 404: "not_found_error"}[status]
        assert param is None or param in body["error"]["message"]
    else:  # OpenAI: {"error": {"message", "type", "param", "code"}}
        assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "param", "code"}
        assert body["error"]["message"] and body["error"]["param"] == param


@pytest.mark.parametrize("path,body,status,param", CASES, ids=range(len(CASES)))
def test_bad_input_gets_the_protocols_error(server, path, body, status, param):
    if isinstance(body, bytes):
        response = httpx.post(server.url + path, content=body, headers={"content-type": "application/json"})
    else:
        response = httpx.post(server.url + path, json=body)
    check_error(response, path, status, param)


def test_the_server_keeps_serving_after_bad_input(server, scripted_checkpoint):
    for path, body, _, _ in CASES:
        httpx.post(server.url + path, **({"content": body} if isinstance(body, bytes) else {"json": body}))
    server.wait_idle()  # nothing left running, every cache block free
    reply = httpx.post(server.url + CHAT, json={"model": MODEL, "messages": scripted_checkpoint.hello, "temperature": 0})
    assert reply.json()["choices"][0]["message"]["content"] == scripted_checkpoint.hello_reply


def test_http_level_errors(server):
    check_error(httpx.get(server.url + "/v1/nowhere"), "/v1/nowhere", 404, None)
    response = httpx.get(server.url + CHAT)
    assert response.status_code == 405 and response.json()["error"]["type"] == "invalid_request_error"
    response = httpx.get(server.url + "/v1/nowhere", headers={"anthropic-version": "2023-06-01"})
    assert response.json()["error"]["type"] == "not_found_error"  # Anthropic's clients get Anthropic's format
    huge = {"model": MODEL, "messages": [{"role": "user", "content": "x" * (33 * 1024**2)}]}
    response = httpx.post(server.url + CHAT, json=huge)
    assert response.status_code == 413 and response.json()["error"]["type"] == "invalid_request_error"

    def chunked():
        yield b'{"model": "openk2-test", "messages": [{"role": "user", "content": "'
        for _ in range(33):
            yield b"x" * 1024**2
        yield b'"}]}'

    response = httpx.post(server.url + MESSAGES, content=chunked(), headers={"content-type": "application/json"})
    assert response.status_code == 413 and response.json()["error"]["type"] == "request_too_large"
    # The error says what is wrong, in one line, and echoes none of the body (it once sent the ASGI message back).
    assert response.json()["error"]["message"] == f"the request body is larger than {4 * 1024**2} bytes"


def test_schemathesis_against_the_openapi_schema(server):
    """Generated requests, valid and invalid by the schema: never a 5xx, statuses and bodies as documented,
    invalid ones refused. Bounded: a few examples per operation and mode."""
    import schemathesis
    from schemathesis import GenerationMode

    schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
    failures: list[str] = []
    for result in schema.get_all_operations():
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                fuzz(server.url, result.ok(), mode, failures)
            except Unsatisfiable:  # no invalid request exists for an operation without inputs (GET /health)
                assert mode is GenerationMode.NEGATIVE
    assert not failures, "\n\n".join(failures[:5])
    server.wait_idle()


def fuzz(url: str, operation, mode, failures: list[str]) -> None:
    from schemathesis import GenerationMode
    from schemathesis.checks import (
        content_type_conformance,
        negative_data_rejection,
        not_a_server_error,
        response_schema_conformance,
        status_code_conformance,
    )

    checks = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
    if mode is GenerationMode.NEGATIVE:
        checks.append(negative_data_rejection)

    @settings(max_examples=8, deadline=None, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case) -> None:
        if mode is GenerationMode.POSITIVE and isinstance(case.body, dict) and "model" in case.body:
            case.body["model"] = MODEL  # reach past the model check
        try:
            case.call_and_validate(base_url=url, timeout=30, checks=checks)
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as e:  # schemathesis raises its failures as a BaseExceptionGroup: collect them all
            failures.append(f"{operation.label} {mode.value}: {str(e)[:400]}")

    run()


def test_an_engine_failure_is_a_500_and_the_server_recovers(server, scripted_checkpoint, monkeypatch):
    """When a step fails the engine ends its batch with finish_reason "error": clients get a 500 error body,
    or an error event mid-stream, and the next request is served."""
    llm = server.serving.engine.llm
    step = llm.step

    def failing_step():
        if llm.scheduler.running:
            raise RuntimeError("simulated kernel failure")
        return step()

    monkeypatch.setattr(llm, "step", failing_step)
    response = httpx.post(server.url + CHAT, json={"model": MODEL, "messages": HI})
    assert response.status_code == 500 and response.json()["error"]["code"] == "engine_error"
    stream = httpx.post(server.url + MESSAGES, json={"model": MODEL, "max_tokens": 8, "messages": HI, "stream": True})
    assert stream.status_code == 200 and "event: error" in stream.text and "message_stop" not in stream.text
    monkeypatch.undo()
    server.wait_idle()
    reply = httpx.post(server.url + CHAT, json={"model": MODEL, "messages": scripted_checkpoint.hello, "temperature": 0})
    assert reply.json()["choices"][0]["message"]["content"] == scripted_checkpoint.hello_reply
    server.serving.ledger.flush()
    assert [r.finish_reason for r in server.serving.ledger.rows()[-3:]] == ["error", "error", "stop"]
