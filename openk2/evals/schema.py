"""Tool-call schema accuracy of any OpenAI-compatible endpoint, as the K2 Vendor Verifier measures it (`openk2 eval schema`).

Sends each line of a requests file (the verifier's format: one chat completion request body per line, with
`tools`; a message with the verifier's role "_input" is sent as "system") with `model` replaced, temperature,
max_tokens and stream replaced only when given, and extra body fields merged in. A streamed answer is
reassembled into one message, its tool calls joined by their index. Then, with the definitions of
MoonshotAI/K2-Vendor-Verifier (README "ToolCall-Schema Accuracy"; tool_calls_eval.py, validate_tool_call and
compute_summary):

- count_finish_reason_tool_calls: answers (first choice) whose finish_reason is "tool_calls";
- count_successful_tool_call: of those, the answers whose every tool call is valid, once per answer. A call is
  valid when it names a tool of that request's `tools` (first match) with a non-empty `parameters` schema and
  its arguments (json.loads of a string) validate against it with the validator its "$schema" selects (Draft
  2020-12 without one; "format" unchecked). An unknown tool, unparsable arguments, or finish_reason
  "tool_calls" without calls: invalid;
- schema_accuracy = count_successful_tool_call / count_finish_reason_tool_calls.

A request the endpoint refuses (4xx) has no finish_reason and counts only as failed; connection errors, 429s
and 5xx are retried (--retries) and, if they persist, left for the next resume.
"""

from __future__ import annotations

import copy
import functools
import inspect
import json
from collections import Counter
from pathlib import Path
from typing import Any

import openai
from jsonschema.exceptions import best_match
from jsonschema.validators import validator_for
from openai.resources.chat.completions import AsyncCompletions

from ..train.data import read_jsonl
from .endpoint import describe_error, is_infrastructure_error
from .metrics import percent
from .report import Chart, Report, Table

DEFAULT_REQUESTS = Path(__file__).parent / "data" / "tool_requests.jsonl"
# Keyword arguments of chat.completions.create; any other field of a request line goes in extra_body.
CREATE_PARAMS = set(inspect.signature(AsyncCompletions.create).parameters) - {
    "self", "extra_headers", "extra_query", "extra_body", "timeout"}


# ---- input ----------------------------------------------------------------------------------------


def load_requests(path: Path) -> list[tuple[int, dict[str, Any]]]:
    """(line number, request body) for each non-blank line; one-line ValueError for a bad file."""
    requests = []
    try:
        for number, request in read_jsonl(path):
            if not isinstance(request.get("messages"), list) or not request["messages"]:
                raise ValueError(f"{path}:{number}: the request has no 'messages' list")
            if not isinstance(request.get("tools", []), list):
                raise ValueError(f"{path}:{number}: 'tools' is not a list")
            requests.append((number, request))
    except (OSError, UnicodeDecodeError) as error:
        raise ValueError(f"cannot read --requests {path}: {getattr(error, 'strerror', None) or error}") from None
    if not requests:
        raise ValueError(f"--requests {path} holds no requests")
    return requests


def prepare(request: dict[str, Any], model: str, temperature: float | None, max_tokens: int | None,
            stream: bool | None, extra_body: dict | None = None) -> dict[str, Any]:
    """The body to send: the line's request with the verifier's overrides."""
    body = {**copy.deepcopy(request), **copy.deepcopy(extra_body or {})}
    for message in body["messages"]:
        if isinstance(message, dict) and message.get("role") == "_input":
            message["role"] = "system"
    body["model"] = model
    if temperature is not None:
        body["temperature"] = temperature
    if max_tokens is not None:
        body["max_tokens"] = max_tokens
    if stream is not None:
        body["stream"] = stream
    if body.get("stream"):
        options = body.get("stream_options") if isinstance(body.get("stream_options"), dict) else {}
        body["stream_options"] = {**options, "include_usage": options.get("include_usage", True)}
    else:
        body.pop("stream_options", None)  # only allowed with stream: true
    return body


# ---- validation -----------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1024)
def schema_validator(schema_json: str) -> Any:
    """A checked validator for a schema (its JSON text as the cache key): checking a schema against its
    meta-schema costs far more than validating arguments, and a request set repeats its tools."""
    schema = json.loads(schema_json)
    validator_class = validator_for(schema)
    validator_class.check_schema(schema)
    return validator_class(schema)


def check_call(call: Any, tools: list[Any]) -> str | None:
    """Why this tool call is invalid, or None if it is valid (tool_calls_eval.py, validate_tool_call)."""
    try:
        name = call["function"]["name"]
        arguments = call["function"]["arguments"]
    except (KeyError, TypeError) as error:
        return f"tool call without function name/arguments ({error!r})"
    declared = [t["function"] for t in tools
                if isinstance(t, dict) and isinstance(t.get("function"), dict) and t["function"].get("name") == name]
    if not declared:
        return f"unknown tool {name!r}"
    schema = declared[0].get("parameters")
    if not schema:
        return f"{name}: no parameters schema"
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments)
        except json.JSONDecodeError as error:
            return f"{name}: arguments are not JSON ({error.msg})"
    try:
        validator = schema_validator(json.dumps(schema, sort_keys=True))
        error = best_match(validator.iter_errors(arguments))
    except Exception as problem:  # noqa: BLE001 -- an invalid schema fails the call, as in the verifier
        return f"{name}: cannot validate ({type(problem).__name__}: {str(problem).splitlines()[0][:100]})"
    if error is None:
        return None
    where = "/".join(str(p) for p in error.absolute_path) or "(root)"
    return f"{name}: {where}: {error.message[:160]}"


def judge(response: dict[str, Any], tools: list[Any]) -> dict[str, Any]:
    """finish_reason, tool_calls_valid (None unless finish_reason is "tool_calls") and invalid_reasons."""
    verdict: dict[str, Any] = {"finish_reason": None, "tool_calls_valid": None, "invalid_reasons": []}
    choices = response.get("choices") or []
    if not choices:
        return verdict
    choice = choices[0]
    verdict["finish_reason"] = choice.get("finish_reason")
    if verdict["finish_reason"] != "tool_calls":
        return verdict
    calls = (choice.get("message") or {}).get("tool_calls") or []
    if not calls:
        return {**verdict, "tool_calls_valid": False, "invalid_reasons": ["finish_reason tool_calls without tool calls"]}
    reasons = [reason for reason in (check_call(call, tools) for call in calls) if reason]
    return {**verdict, "tool_calls_valid": not reasons, "invalid_reasons": reasons}


# ---- requests -------------------------------------------------------------------------------------


def create_kwargs(body: dict[str, Any]) -> dict[str, Any]:
    kwargs = {k: v for k, v in body.items() if k in CREATE_PARAMS}
    extra = {k: v for k, v in body.items() if k not in CREATE_PARAMS}
    return {**kwargs, "extra_body": extra} if extra else kwargs


async def streamed(api: openai.AsyncOpenAI, body: dict[str, Any]) -> dict[str, Any]:
    """One chat.completion dict from a streamed answer (first choice); finish_reason "stop" if none came."""
    response: dict[str, Any] = {"id": None, "object": "chat.completion", "created": None, "model": body["model"]}
    content, reasoning, calls = [], [], {}
    finish_reason = usage = None
    stream = await api.chat.completions.create(**create_kwargs(body))
    async for chunk in stream:
        response["id"] = chunk.id or response["id"]
        response["created"] = chunk.created or response["created"]
        response["model"] = chunk.model or response["model"]
        if chunk.usage is not None:
            usage = chunk.usage.model_dump(mode="json", exclude_none=True)
        for choice in chunk.choices:
            if choice.index != 0:
                continue
            delta = choice.delta
            if delta is not None:
                if delta.content:
                    content.append(delta.content)
                if getattr(delta, "reasoning_content", None):
                    reasoning.append(delta.reasoning_content)
                for part in delta.tool_calls or []:
                    call = calls.setdefault(part.index if part.index is not None else 0,
                                            {"id": None, "type": "function", "function": {"name": "", "arguments": ""}})
                    call["id"] = part.id or call["id"]
                    if part.function is not None:
                        if part.function.name:
                            call["function"]["name"] = part.function.name
                        if part.function.arguments:
                            call["function"]["arguments"] += part.function.arguments
            if choice.finish_reason:
                finish_reason = choice.finish_reason
    message: dict[str, Any] = {"role": "assistant", "content": "".join(content)}
    if reasoning:
        message["reasoning_content"] = "".join(reasoning)
    if calls:
        message["tool_calls"] = [calls[i] for i in sorted(calls)]
    response["choices"] = [{"index": 0, "message": message, "finish_reason": finish_reason or "stop"}]
    response["usage"] = usage
    return response


async def send(api: openai.AsyncOpenAI, data_index: int, body: dict[str, Any]) -> dict[str, Any]:
    """One request's record, in the fields of the verifier's results.jsonl. Raises infrastructure errors (the
    runner retries them on resume); an answer the endpoint refuses is a finished, failed record."""
    record: dict[str, Any] = {"data_index": data_index, "request": body, "status": "success", "response": None,
                              "finish_reason": None, "tool_calls_valid": None, "invalid_reasons": [], "reason": None}
    try:
        if body.get("stream"):
            record["response"] = await streamed(api, body)
        else:
            answer = await api.chat.completions.create(**create_kwargs(body))
            record["response"] = answer.model_dump(mode="json", exclude_none=True)
    except openai.APIError as error:
        if is_infrastructure_error(error):
            raise
        return {**record, "status": "failed", "reason": describe_error(error)}
    return {**record, **judge(record["response"], body.get("tools") or [])}


# ---- report ---------------------------------------------------------------------------------------


def summarize(records: list[dict[str, Any]], model: str) -> dict[str, Any]:
    tool_calls = [r for r in records if r["finish_reason"] == "tool_calls"]
    successful = sum(1 for r in tool_calls if r["tool_calls_valid"])
    usage = Counter()
    for r in records:
        for key, value in ((r.get("response") or {}).get("usage") or {}).items():
            if key in ("prompt_tokens", "completion_tokens", "total_tokens") and isinstance(value, int):
                usage[key] += value
    return {
        "count_finish_reason_tool_calls": len(tool_calls),
        "count_successful_tool_call": successful,
        "schema_accuracy": successful / len(tool_calls) if tool_calls else None,
        "schema_validation_error_count": len(tool_calls) - successful,
        "requests": len(records),
        "succeeded": sum(r["status"] == "success" for r in records),
        "failed": sum(r["status"] == "failed" for r in records),
        "finish_reasons": dict(Counter(r["finish_reason"] for r in records if r["finish_reason"]).most_common()),
        "usage": dict(usage),
        "model": model,
    }


def report(records: list[dict[str, Any]], model: str, command: str, pending: int) -> Report:
    summary = summarize(records, model)
    accuracy = summary["schema_accuracy"]
    finish = ", ".join(f"{k} {v}" for k, v in summary["finish_reasons"].items()) or "–"
    rows = [
        ["schema_accuracy", percent(accuracy, 2) if accuracy is not None else "n/a (no finish_reason tool_calls)"],
        ["count_finish_reason_tool_calls", summary["count_finish_reason_tool_calls"]],
        ["count_successful_tool_call", summary["count_successful_tool_call"]],
        ["requests", f"{summary['requests']} ({summary['succeeded']} answered, {summary['failed']} failed"
                     + (f", {pending} not finished" if pending else "") + ")"],
        ["finish_reason", finish],
        ["tokens in / out", f"{summary['usage'].get('prompt_tokens', 0)} / {summary['usage'].get('completion_tokens', 0)}"],
    ]
    tables = [Table(f"Tool-call schema accuracy (K2 Vendor Verifier) · {model}", ["measure", "value"], rows)]
    invalid = Counter(reason for r in records if r["tool_calls_valid"] is False for reason in r["invalid_reasons"])
    failed = Counter(r["reason"] for r in records if r["status"] == "failed")
    for title, reasons in (("Invalid tool calls, most common", invalid), ("Failed requests, most common", failed)):
        if reasons:
            tables.append(Table(title, ["count", "reason"], [[n, reason] for reason, n in reasons.most_common(8)]))
    answered = summary["succeeded"] or None
    chart = Chart("tool calls", ["schema_accuracy", "finish_reason tool_calls"],
                  [accuracy, answered and summary["count_finish_reason_tool_calls"] / answered])
    return Report("schema", f"openk2 eval schema · {model}", command, summary, tables, [chart])


def verifier_results(records: list[dict[str, Any]]) -> str:
    """The records as the verifier's results.jsonl (no header, ordered by data_index), for its f1_score.py."""
    fields = ("data_index", "request", "response", "status", "finish_reason", "tool_calls_valid", "invalid_reasons")
    rows = sorted(records, key=lambda r: r["data_index"])
    return "".join(json.dumps({k: r[k] for k in fields}, ensure_ascii=False) + "\n" for r in rows)
