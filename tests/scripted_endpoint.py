"""A scripted OpenAI-compatible endpoint on loopback: plays back model turns so agent tests drive a real HTTP loop."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def answer(text: str, **extra) -> dict:
    """A turn in which the model answers in text and calls nothing."""
    return {"content": text, **extra}


def calls(*pairs: tuple[str, dict | str], content: str = "", **extra) -> dict:
    """A turn with tool calls: (name, arguments) pairs; a str argument is sent as it is (to script broken JSON)."""
    return {"content": content, "tool_calls": [{"name": n, "arguments": a} for n, a in pairs], **extra}


class ScriptedEndpoint:
    """`/v1/chat/completions` answering each request with the next scripted turn (streamed or not).

    A turn is a dict: content, tool_calls [{name, arguments}], reasoning, finish_reason, usage (prompt, completion),
    delay (seconds before each streamed chunk). `script` may also be a function of the request. Every request body
    is kept in `requests`.
    """

    def __init__(self, script: list[dict] | Callable[[dict], dict]):
        self.script, self.requests, self.calls_made = script, [], 0
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                endpoint.requests.append(body)
                turn = endpoint.next_turn(body)
                if turn is None:
                    return self.send_json(400, {"error": {"message": "script exhausted", "type": "invalid_request_error"}})
                if body.get("stream"):
                    self.send_response(200)
                    self.send_header("Content-Type", "text/event-stream")
                    self.end_headers()
                    include_usage = (body.get("stream_options") or {}).get("include_usage")
                    try:
                        for chunk in stream_chunks(turn, body["model"], include_usage):
                            time.sleep(turn.get("delay", 0))
                            self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                            self.wfile.flush()
                        self.wfile.write(b"data: [DONE]\n\n")
                    except (BrokenPipeError, ConnectionResetError):
                        pass  # the client hung up mid-stream (a budget ran out): nothing left to do
                else:
                    self.send_json(200, completion(turn, body["model"]))

            def send_json(self, status: int, payload: dict) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self.server.server_port}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)

    def next_turn(self, request: dict) -> dict | None:
        self.calls_made += 1
        if callable(self.script):
            return self.script(request)
        return self.script[self.calls_made - 1] if self.calls_made <= len(self.script) else None

    def __enter__(self) -> ScriptedEndpoint:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


def tool_calls(turn: dict) -> list[dict]:
    def text(arguments: dict | str) -> str:
        return arguments if isinstance(arguments, str) else json.dumps(arguments)

    return [{"id": f"call_{i}_{c['name']}", "type": "function", "function": {"name": c["name"], "arguments": text(c["arguments"])}}
            for i, c in enumerate(turn.get("tool_calls", []))]


def usage(turn: dict) -> dict:
    prompt, completion_tokens = turn.get("usage", (10, 5))
    return {"prompt_tokens": prompt, "completion_tokens": completion_tokens, "total_tokens": prompt + completion_tokens}


def finish_reason(turn: dict) -> str:
    return turn.get("finish_reason") or ("tool_calls" if turn.get("tool_calls") else "stop")


def completion(turn: dict, model: str) -> dict:
    message = {"role": "assistant", "content": turn.get("content") or None}
    if turn.get("reasoning"):
        message["reasoning_content"] = turn["reasoning"]
    if turn.get("tool_calls"):
        message["tool_calls"] = tool_calls(turn)
    return {"id": "chatcmpl-scripted", "object": "chat.completion", "created": 0, "model": model,
            "choices": [{"index": 0, "message": message, "finish_reason": finish_reason(turn)}], "usage": usage(turn)}


def stream_chunks(turn: dict, model: str, include_usage: bool) -> list[dict]:
    """The turn cut as a real server would: role, reasoning, content in pieces, each call's name then its arguments in halves."""
    def chunk(delta: dict, finish: str | None = None) -> dict:
        return {"id": "chatcmpl-scripted", "object": "chat.completion.chunk", "created": 0, "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

    chunks = [chunk({"role": "assistant", "content": ""})]
    if turn.get("reasoning"):
        chunks.append(chunk({"reasoning_content": turn["reasoning"]}))
    text = turn.get("content") or ""
    chunks += [chunk({"content": text[i:i + 7]}) for i in range(0, len(text), 7)]
    for i, call in enumerate(tool_calls(turn)):
        arguments = call["function"]["arguments"]
        half = len(arguments) // 2
        chunks.append(chunk({"tool_calls": [{"index": i, "id": call["id"], "type": "function",
                                             "function": {"name": call["function"]["name"], "arguments": arguments[:half]}}]}))
        chunks.append(chunk({"tool_calls": [{"index": i, "function": {"arguments": arguments[half:]}}]}))
    chunks.append(chunk({}, finish_reason(turn)))
    if include_usage:
        chunks.append({"id": "chatcmpl-scripted", "object": "chat.completion.chunk", "created": 0, "model": model,
                       "choices": [], "usage": usage(turn)})
    return chunks
