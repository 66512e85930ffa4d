"""Tool-call schema accuracy of any OpenAI-compatible server, as the K2 Vendor Verifier measures it.

    .venv/bin/python bench/tool_schema_accuracy.py --base-url http://127.0.0.1:8000/v1
        [--requests bench/data/tool_requests.jsonl] [--model NAME] [--concurrency 8] [--limit N]
        [--stream | --no-stream] [--temperature T] [--max-tokens N] [--extra-body JSON] [--timeout S] [--retries N]
        [--output results.jsonl]

Sends every line of --requests (the verifier's format: one OpenAI chat completion request body per line,
with `tools`; blank lines skipped; a message with the verifier's role "_input" is sent as "system") to
POST {base-url}/chat/completions, with `model` replaced by --model (default: the first id that the server's
/v1/models lists), temperature, max_tokens and stream replaced only when those options are given, and
--extra-body merged in (the verifier's options). A streamed answer is reassembled into one message, its
tool calls joined by their index. The default --requests, 64 requests over 18 agentic tools, is written by
bench/data/make_tool_requests.py. Then, with the definitions of MoonshotAI/K2-Vendor-Verifier (README.md,
"ToolCall-Schema Accuracy"; tool_calls_eval.py, ToolCallsValidator.process_request, validate_tool_call and
compute_summary, where the counts are named finish_tool_calls and successful_tool_call_count):

- count_finish_reason_tool_calls: answers (one per request, its first choice) whose finish_reason is
  "tool_calls".
- count_successful_tool_call: of those, the answers whose every tool call is valid, counted once per
  answer however many calls it makes. A call is valid when it names a tool of that request's `tools`
  (first match by function name) whose `parameters` is a non-empty schema, and its arguments (a string is
  parsed with json.loads) validate against that schema with the validator class its "$schema" selects
  (jsonschema.validators.validator_for; Draft 2020-12 without one; "format" not checked). A call to an
  unknown tool, unparsable arguments, or finish_reason "tool_calls" with no tool calls at all: invalid.
- schema_accuracy = count_successful_tool_call / count_finish_reason_tool_calls.

A request that fails (HTTP error, timeout, broken stream) has no finish_reason and counts only as
failed; the client retries --retries times first (the openai client's backoff, on connection errors,
408/409/429 and 5xx), where the verifier also retries 429 and connection errors without limit. Prints
the three numbers under those names with the request, failure and finish_reason counts and the most
common reasons for invalid calls and failures, then everything as one JSON line (last line of stdout).
--output writes one JSON line per request (data_index = line number in --requests, request, response,
status, finish_reason, tool_calls_valid, ...), the fields the verifier's results.jsonl has, so its
f1_score.py can compare two runs.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import inspect
import json
import os
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from jsonschema.exceptions import best_match
from jsonschema.validators import validator_for
from openai import APIStatusError, AsyncOpenAI
from openai.resources.chat.completions import AsyncCompletions
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from openk2.train.data import read_jsonl

DEFAULT_REQUESTS = Path(__file__).parent / "data" / "tool_requests.jsonl"
# Keyword arguments of chat.completions.create; any other field of a request line goes in extra_body.
CREATE_PARAMS = set(inspect.signature(AsyncCompletions.create).parameters) - {
    "self", "extra_headers", "extra_query", "extra_body", "timeout"}


class InputError(Exception):
    """A problem with the command line or the requests file: printed as one line, exit status 1."""


@dataclass
class Result:
    data_index: int  # line number in the requests file, as the verifier's results.jsonl
    request: dict[str, Any]
    status: str = "success"  # or "failed"
    response: dict[str, Any] | None = None
    error: str | None = None
    finish_reason: str | None = None
    tool_calls_valid: bool | None = None  # None unless finish_reason == "tool_calls"
    invalid_reasons: list[str] = field(default_factory=list)
    duration_ms: int = 0


# ---- input ----------------------------------------------------------------------------------------


def api_base(url: str) -> str:
    """The openai client's base URL: `url` itself when its path ends in /v1, else `url` + /v1."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise InputError(f"--base-url {url!r} is not an http(s) URL like http://127.0.0.1:8000/v1")
    path = parts.path.rstrip("/")
    if not path.endswith("/v1"):
        path += "/v1"
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def load_requests(path: Path) -> list[tuple[int, dict[str, Any]]]:
    """(line number, request body) for each non-blank line."""
    requests = []
    try:
        for number, request in read_jsonl(path):
            if not isinstance(request.get("messages"), list) or not request["messages"]:
                raise InputError(f"{path}:{number}: the request has no 'messages' list")
            if not isinstance(request.get("tools", []), list):
                raise InputError(f"{path}:{number}: 'tools' is not a list")
            requests.append((number, request))
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise InputError(f"cannot read {path}: {error}" if isinstance(error, OSError) else str(error)) from None
    if not requests:
        raise InputError(f"{path} holds no requests")
    return requests


def prepare(request: dict[str, Any], model: str, temperature: float | None, max_tokens: int | None,
            stream: bool | None) -> dict[str, Any]:
    """The body to send: the line's request with the verifier's overrides."""
    body = copy.deepcopy(request)
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
        validator_class = validator_for(schema)
        validator_class.check_schema(schema)
        error = best_match(validator_class(schema).iter_errors(arguments))
    except Exception as problem:  # noqa: BLE001 -- an invalid schema fails the call, as in the verifier
        return f"{name}: cannot validate ({type(problem).__name__}: {str(problem).splitlines()[0][:100]})"
    if error is None:
        return None
    where = "/".join(str(p) for p in error.absolute_path) or "(root)"
    return f"{name}: {where}: {error.message[:160]}"


def judge(result: Result, tools: list[Any]) -> None:
    """Set finish_reason, tool_calls_valid and invalid_reasons from result.response."""
    choices = (result.response or {}).get("choices") or []
    if not choices:
        return
    choice = choices[0]
    result.finish_reason = choice.get("finish_reason")
    if result.finish_reason != "tool_calls":
        return
    calls = (choice.get("message") or {}).get("tool_calls") or []
    if not calls:
        result.tool_calls_valid = False
        result.invalid_reasons = ["finish_reason tool_calls without tool calls"]
        return
    result.invalid_reasons = [reason for reason in (check_call(call, tools) for call in calls) if reason]
    result.tool_calls_valid = not result.invalid_reasons


# ---- requests -------------------------------------------------------------------------------------


def create_kwargs(body: dict[str, Any]) -> dict[str, Any]:
    kwargs = {k: v for k, v in body.items() if k in CREATE_PARAMS}
    extra = {k: v for k, v in body.items() if k not in CREATE_PARAMS}
    return {**kwargs, "extra_body": extra} if extra else kwargs


async def streamed(client: AsyncOpenAI, body: dict[str, Any]) -> dict[str, Any]:
    """One chat.completion dict from a streamed answer (first choice); finish_reason "stop" if none came."""
    response: dict[str, Any] = {"id": None, "object": "chat.completion", "created": None, "model": body["model"]}
    content: list[str] = []
    reasoning: list[str] = []
    calls: dict[int, dict[str, Any]] = {}
    finish_reason = None
    usage = None
    stream = await client.chat.completions.create(**create_kwargs(body))
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


async def send(client: AsyncOpenAI, result: Result, tools: list[Any]) -> Result:
    start = time.perf_counter()
    try:
        if result.request.get("stream"):
            result.response = await streamed(client, result.request)
        else:
            answer = await client.chat.completions.create(**create_kwargs(result.request))
            result.response = answer.model_dump(mode="json", exclude_none=True)
        judge(result, tools)
    except Exception as error:  # noqa: BLE001 -- one failed request is counted, never fatal
        result.status = "failed"
        status = f" {error.status_code}" if isinstance(error, APIStatusError) else ""
        message = getattr(error, "message", None) or str(error) or repr(error)
        result.error = f"{type(error).__name__}{status}: {message.splitlines()[0][:200] if message else ''}"
    result.duration_ms = int(1000 * (time.perf_counter() - start))
    return result


async def served_model(client: AsyncOpenAI, base_url: str) -> str:
    try:
        models = await client.models.list()
    except Exception as error:  # noqa: BLE001 -- reported as one line, with what to do
        raise InputError(f"cannot list models at {base_url}/models ({type(error).__name__}: {error}); "
                         f"is the server running? Pass --model to skip this") from None
    if not models.data:
        raise InputError(f"{base_url}/models lists no model; pass --model")
    return models.data[0].id


async def run(args: argparse.Namespace, lines: list[tuple[int, dict[str, Any]]], console: Console
              ) -> tuple[str, list[Result], float]:
    base_url = api_base(args.base_url)
    client = AsyncOpenAI(base_url=base_url, api_key=args.api_key, timeout=args.timeout, max_retries=args.retries)
    async with client:
        model = args.model or await served_model(client, base_url)
        semaphore = asyncio.Semaphore(args.concurrency)
        results: list[Result] = []
        counts = Counter()

        async def one(number: int, request: dict[str, Any]) -> Result:
            body = prepare(request, model, args.temperature, args.max_tokens, args.stream)
            async with semaphore:
                return await send(client, Result(number, body), request.get("tools") or [])

        columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                   TextColumn("{task.fields[status]}")]
        start = time.perf_counter()
        with Progress(*columns, console=console) as progress:
            task = progress.add_task(f"{model} @ {base_url}", total=len(lines), status="")
            for done in asyncio.as_completed([one(number, request) for number, request in lines]):
                result = await done
                results.append(result)
                counts["tool_calls"] += result.finish_reason == "tool_calls"
                counts["valid"] += bool(result.tool_calls_valid)
                counts["failed"] += result.status == "failed"
                progress.update(task, advance=1, status=f"tool_calls {counts['tool_calls']}  valid {counts['valid']}"
                                                        f"  failed {counts['failed']}")
        return model, sorted(results, key=lambda r: r.data_index), time.perf_counter() - start


# ---- report ---------------------------------------------------------------------------------------


def summarize(model: str, results: list[Result], seconds: float) -> dict[str, Any]:
    tool_calls = [r for r in results if r.finish_reason == "tool_calls"]
    successful = sum(1 for r in tool_calls if r.tool_calls_valid)
    usage = Counter()
    for r in results:
        for key, value in ((r.response or {}).get("usage") or {}).items():
            if key in ("prompt_tokens", "completion_tokens", "total_tokens") and isinstance(value, int):
                usage[key] += value
    return {
        "count_finish_reason_tool_calls": len(tool_calls),
        "count_successful_tool_call": successful,
        "schema_accuracy": successful / len(tool_calls) if tool_calls else None,
        "schema_validation_error_count": len(tool_calls) - successful,
        "requests": len(results),
        "succeeded": sum(r.status == "success" for r in results),
        "failed": sum(r.status == "failed" for r in results),
        "finish_reasons": dict(Counter(r.finish_reason for r in results if r.finish_reason is not None).most_common()),
        "usage": dict(usage),
        "model": model,
        "seconds": round(seconds, 2),
    }


def print_report(summary: dict[str, Any], results: list[Result]) -> None:
    accuracy = summary["schema_accuracy"]
    finish = ", ".join(f"{k} {v}" for k, v in summary["finish_reasons"].items()) or "-"
    rows = [
        ("model", summary["model"]),
        ("requests", (f"{summary['requests']} ({summary['succeeded']} answered, {summary['failed']} failed) "
                      f"in {summary['seconds']:.1f} s")),
        ("finish_reason", finish),
        ("count_finish_reason_tool_calls", summary["count_finish_reason_tool_calls"]),
        ("count_successful_tool_call", summary["count_successful_tool_call"]),
        ("schema_accuracy", "n/a (no finish_reason tool_calls)" if accuracy is None else f"{100 * accuracy:.2f}%"),
    ]
    for name, value in rows:
        print(f"{name:<32}{value}")
    invalid = Counter(reason for r in results if r.tool_calls_valid is False for reason in r.invalid_reasons)
    failed = Counter(r.error for r in results if r.status == "failed")
    for title, reasons in (("invalid tool calls", invalid), ("failed requests", failed)):
        if reasons:
            print(f"\n{title} ({sum(reasons.values())}), most common:")
            for reason, count in reasons.most_common(8):
                print(f"  {count:4d}  {reason}")
    print()
    print(json.dumps(summary))


def json_object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise argparse.ArgumentTypeError(f"not JSON ({error})") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("not a JSON object")
    return value


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", required=True,
                        help="the server's OpenAI API root, e.g. http://127.0.0.1:8000/v1 (without /v1, /v1 is added)")
    parser.add_argument("--requests", type=Path, default=DEFAULT_REQUESTS,
                        help="JSONL, one chat completion request with tools per line (default: %(default)s)")
    parser.add_argument("--model", help="model name to send (default: the first one the server's /v1/models lists)")
    parser.add_argument("--api-key", default=os.environ.get("OPENAI_API_KEY") or "none",
                        help="bearer key (default: $OPENAI_API_KEY, else 'none')")
    parser.add_argument("--concurrency", type=int, default=8, help="requests in flight at once (default: 8)")
    parser.add_argument("--limit", type=int, help="send only the first N requests")
    parser.add_argument("--stream", action=argparse.BooleanOptionalAction, default=None,
                        help="stream every request, or none (default: as each request's 'stream' field says)")
    parser.add_argument("--temperature", type=float, help="override every request's temperature")
    parser.add_argument("--max-tokens", type=int, help="override every request's max_tokens")
    parser.add_argument("--extra-body", type=json_object, default=None,
                        help="a JSON object merged into every request body, e.g. '{\"top_k\": 1}'")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per request attempt (default: 600)")
    parser.add_argument("--retries", type=int, default=3, help="retries of a failed request (default: 3)")
    parser.add_argument("--output", type=Path, help="write one JSON line per request here (request, response, verdict)")
    args = parser.parse_args(argv)
    for name in ("concurrency", "limit", "max_tokens"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.retries < 0 or args.timeout <= 0:
        parser.error("--retries must be >= 0 and --timeout > 0")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    console = Console(stderr=True)
    try:
        api_base(args.base_url)
        lines = load_requests(args.requests)[: args.limit]
        if args.extra_body:
            lines = [(number, {**request, **args.extra_body}) for number, request in lines]
        model, results, seconds = asyncio.run(run(args, lines, console))
    except InputError as error:
        console.print(f"[red]error:[/red] {error}", highlight=False, soft_wrap=True)
        return 1
    except KeyboardInterrupt:
        console.print("interrupted")
        return 130
    if args.output:
        with args.output.open("w", encoding="utf-8") as out:
            for result in results:
                out.write(json.dumps(asdict(result), ensure_ascii=False) + "\n")
    summary = summarize(model, results, seconds)
    print_report(summary, results)
    return 0 if summary["succeeded"] else 1


if __name__ == "__main__":
    sys.exit(main())
