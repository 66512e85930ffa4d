"""Talk to a checkpoint in the terminal: `openk2 generate --model PATH "prompt"` and `openk2 chat --model PATH`."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from rich.console import Console

from .chat import encode_prompt, next_tool_call_index
from .engine import EngineConfig, LLMEngine, SamplingParams
from .tool_parser import OutputDelta, ParsedOutput, StreamingParser

HELP = "commands: /reset clears the conversation, /exit (or Ctrl-D) quits"


def load_engine(model: Path, dtype, cache_budget_bytes: int, quantize: str | None = None) -> LLMEngine:
    if not (Path(model) / "tiktoken.model").is_file():
        raise FileNotFoundError(f"{model} has no tokenizer (tiktoken.model): write one with `openk2 init`, "
                                "or copy K2's tiktoken.model and tokenizer_config.json next to the weights")
    config = EngineConfig(cache_budget_bytes=cache_budget_bytes, quantize=quantize)
    return LLMEngine.from_pretrained(model, dtype=dtype, config=config)


def stream_reply(engine: LLMEngine, prompt_ids: list[int], params: SamplingParams, out: Console, stats: Console,
                 first_tool_index: int = 0, raw: bool = False) -> ParsedOutput:
    """Generate and print as tokens arrive: content plainly, reasoning dimmed, tool calls as name(arguments)."""
    seq = engine.add_request(prompt_ids, params)
    parser = StreamingParser(first_tool_index)
    start, first_token_at = time.perf_counter(), None
    try:
        while not seq.is_finished:
            for event in engine.step():
                first_token_at = first_token_at or time.perf_counter()
                if raw:
                    write_text(out, event.text)
                else:
                    literal = event.token_id is not None and not engine.tokenizer.is_special(event.token_id)
                    print_delta(out, parser.feed(event.text, literal=literal))
    except KeyboardInterrupt:
        engine.cancel(seq.request_id)
        out.print()
        stats.print("[dim](interrupted)[/]")
    if not raw:
        print_delta(out, parser.finish())
    out.print()
    elapsed = time.perf_counter() - (first_token_at or start)
    n = seq.num_output_tokens
    rate = f", {(n - 1) / elapsed:.1f} tok/s" if n > 1 and elapsed > 0 else ""
    stats.print(f"[dim]{n} tokens{rate}, finish: {seq.finish_reason}[/]", highlight=False)
    return parser.result


def print_delta(out: Console, delta: OutputDelta) -> None:
    if delta.reasoning:
        out.print(delta.reasoning, style="dim italic", end="", markup=False, highlight=False, soft_wrap=True)
    if delta.content:
        write_text(out, delta.content)
    for call in delta.tool_calls:
        if call.name:
            out.print(f"\n[tool call {call.id}] {call.name}(", style="cyan", end="", markup=False, highlight=False)
        if call.arguments:
            out.print(call.arguments, style="cyan", end="", markup=False, highlight=False, soft_wrap=True)


def write_text(out: Console, text: str) -> None:
    """Model text goes out byte for byte (rich would drop control characters), so piping it works."""
    out.file.write(text)
    out.file.flush()


def generate_once(engine: LLMEngine, prompt: str, params: SamplingParams, system: str | None, raw: bool) -> None:
    out, stats = Console(), Console(stderr=True)
    if raw:
        prompt_ids = engine.tokenizer.encode(prompt)
    else:
        messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": prompt}]
        prompt_ids = encode_prompt(engine.tokenizer, messages)
    stream_reply(engine, prompt_ids, params, out, stats, raw=raw)


def chat_loop(engine: LLMEngine, params: SamplingParams, system: str | None) -> None:
    out, stats = Console(), Console(stderr=True)
    base = [{"role": "system", "content": system}] if system else []
    messages = list(base)
    stats.print(f"[dim]openk2 chat · {HELP}[/]")
    while True:
        try:
            line = out.input("[bold green]you>[/] ")
        except (EOFError, KeyboardInterrupt):
            out.print()
            return
        if not line.strip():
            continue
        if line.strip() in ("/exit", "/quit"):
            return
        if line.strip() == "/reset":
            messages = list(base)
            stats.print("[dim](conversation cleared)[/]")
            continue
        messages.append({"role": "user", "content": line})
        prompt_ids = encode_prompt(engine.tokenizer, messages)
        room = engine.max_context - len(prompt_ids)
        if room < 1:
            stats.print("[red]the conversation no longer fits the model's context: /reset to start over[/]")
            messages.pop()
            continue
        turn_params = SamplingParams(**{**params.__dict__, "max_tokens": min(params.max_tokens, room)})
        out.print("[bold blue]k2>[/] ", end="")
        reply = stream_reply(engine, prompt_ids, turn_params, out, stats, next_tool_call_index(messages))
        assistant: dict = {"role": "assistant", "content": reply.content}
        if reply.tool_calls:
            assistant["tool_calls"] = [call.to_openai() for call in reply.tool_calls]
        messages.append(assistant)
        sys.stdout.flush()
