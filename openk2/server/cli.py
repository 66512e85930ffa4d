"""`openk2 serve`, `openk2 keys create|list|revoke`, `openk2 usage` (standalone: `python -m openk2.server.cli --help`)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from openk2.cli_support import user_errors

from .settings import DEFAULT_DB, ModelSettings, ServerConfig

server_app = typer.Typer(help="Serve a model over the OpenAI and Anthropic APIs; manage API keys and usage.",
                         no_args_is_help=True, add_completion=False)
keys_app = typer.Typer(help="API keys: create, list, revoke (stored hashed in the server's database).",
                       no_args_is_help=True)
server_app.add_typer(keys_app, name="keys")

console = Console()


DbOption = Annotated[str, typer.Option("--db", envvar="OPENK2_DB", help="SQLAlchemy URL of keys and usage ledger")]


@server_app.command()
@user_errors
def serve(
    model: Annotated[Path, typer.Option("--model", "-m", help="checkpoint directory (weights + tokenizer)")],
    host: Annotated[str, typer.Option(help="interface to listen on (0.0.0.0: all)")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8000,
    api_key_required: Annotated[bool, typer.Option(help="refuse requests without a valid key")] = ServerConfig.api_key_required,
    db: DbOption = DEFAULT_DB,
    served_model_name: Annotated[list[str] | None, typer.Option(
        help="a model name clients may send; repeat for more, shell patterns allowed ('claude-*', '*'); the first "
             "exact one names the model in /v1/models and the ledger [default: the folder's name]")] = None,
    dtype: Annotated[str, typer.Option(help="weights dtype: bfloat16, float32 or float16")] = "bfloat16",
    quantize: Annotated[str | None, typer.Option(help="int8 / int4: weight-only quantised weights (faster CPU decode)")] = None,
    deterministic: Annotated[bool, typer.Option(help="greedy output independent of batching and the prefix cache "
                                                     "(slower prefill of long prompts)")] = False,
    # These two default to EngineConfig's; reading them here would import torch for every `openk2` command.
    max_model_len: Annotated[int | None, typer.Option(help="context length per request, prompt + answer; past the "
                                                           "checkpoint's, YaRN stretches it [default: the checkpoint's]")]
    = None,
    cache_mib: Annotated[int | None, typer.Option(help="KV cache memory budget in MiB [default: the engine's]")] = None,
    max_queued: Annotated[int | None, typer.Option(help="requests waiting for a batch slot, beyond: 503 [default: the engine's]")]
    = None,
    requests_per_minute: Annotated[int, typer.Option(help="default per-key limit (0: none)")] = ServerConfig.requests_per_minute,
    tokens_per_minute: Annotated[int, typer.Option(help="default per-key limit (0: none)")] = ServerConfig.tokens_per_minute,
    public_docs: Annotated[bool, typer.Option(help="/docs and /openapi.json without a key when keys are required")] = ServerConfig.public_docs,
    public_metrics: Annotated[bool, typer.Option(help="/metrics without a key when keys are required")] = ServerConfig.public_metrics,
    max_body_bytes: Annotated[int, typer.Option(help="larger request bodies get 413")] = ServerConfig.max_body_bytes,
    price_input: Annotated[float, typer.Option(help="USD per million prompt tokens (cache miss)")] = ModelSettings.price_input,
    price_input_cache_hit: Annotated[float, typer.Option(help="USD per million cached prompt tokens")] = ModelSettings.price_input_cache_hit,
    price_output: Annotated[float, typer.Option(help="USD per million generated tokens")] = ModelSettings.price_output,
    anthropic_temperature_scale: Annotated[float, typer.Option(help="/v1/messages samples at temperature x this")]
    = ModelSettings.anthropic_temperature_scale,
    agent_base_url: Annotated[str | None, typer.Option(help="OpenAI-compatible endpoint of agent sessions' model "
                                                             "(default: this server, over loopback, with the caller's key)")] = None,
    agent_model: Annotated[str | None, typer.Option(help="model name at --agent-base-url [default: the served model]")] = None,
    agent_api_key: Annotated[str | None, typer.Option(envvar="OPENK2_AGENT_API_KEY", help="API key for --agent-base-url")] = None,
    cors_origin: Annotated[list[str] | None, typer.Option(
        help="a browser origin allowed to call the API (CORS), e.g. https://app.example.com or '*'; repeat for more "
             "[default: pages on this machine, http://localhost:ANY-PORT]")] = None,
) -> None:
    """Load a checkpoint and serve it: OpenAI at /v1/chat/completions, Anthropic at /v1/messages."""
    import uvicorn

    from ..agent.sessions import AgentSessions
    from ..cli_support import parse_dtype
    from ..engine import EngineConfig, LLMEngine
    from .app import create_app

    if not (model / "tiktoken.model").is_file():
        raise FileNotFoundError(f"{model} has no tokenizer (tiktoken.model): write one with `openk2 init`, "
                                "or copy K2's tiktoken.model and tokenizer_config.json next to the weights")
    names = served_model_name or []
    exact = [n for n in names if not any(c in n for c in "*?[")]
    name = exact[0] if exact else model.resolve().name  # a pattern alone ('*') keeps the folder's name as the first
    aliases = [n for n in names if n != name]
    settings = ModelSettings(name, tuple(aliases), price_input_cache_hit=price_input_cache_hit, price_input=price_input,
                             price_output=price_output, anthropic_temperature_scale=anthropic_temperature_scale)
    config = ServerConfig(api_key_required=api_key_required, db=db, requests_per_minute=requests_per_minute,
                          tokens_per_minute=tokens_per_minute, public_docs=public_docs, public_metrics=public_metrics,
                          max_body_bytes=max_body_bytes, cors_origins=tuple(cors_origin or ()))
    engine_config = EngineConfig(quantize=quantize, max_model_len=max_model_len, deterministic=deterministic)
    if cache_mib is not None:
        engine_config.cache_budget_bytes = cache_mib * 1024**2
    if max_queued is not None:
        engine_config.max_queued = max_queued
    llm = LLMEngine.from_pretrained(model, dtype=parse_dtype(dtype), config=engine_config)
    # The command line is where the server and the agent meet: the agent's sessions plug into the app.
    app = create_app(llm, settings, config, AgentSessions(agent_base_url, agent_api_key, agent_model))
    shown = "localhost" if host in ("0.0.0.0", "::") else host
    base = f"http://{shown}:{port}"
    key = "YOUR_KEY" if api_key_required else "EMPTY"
    console.print(f"openk2 serving [bold]{name}[/] at {base}/v1 (OpenAI) and {base} (Anthropic); "
                  f"playground: open {base}/ in a browser\n\n"
                  f"    from openai import OpenAI\n"
                  f"    client = OpenAI(base_url=\"{base}/v1\", api_key=\"{key}\")\n"
                  f"    reply = client.chat.completions.create(model=\"{name}\", messages=[{{\"role\": \"user\", \"content\": \"Hello\"}}])\n"
                  f"    print(reply.choices[0].message.content)\n", highlight=False, markup=True)
    uvicorn.run(app, host=host, port=port, log_level="info")


@keys_app.command("create")
@user_errors
def keys_create(
    name: Annotated[str, typer.Argument(help="a name for the key: who or what uses it")],
    requests_per_minute: Annotated[int | None, typer.Option(help="this key's limit (default: the server's)")] = None,
    tokens_per_minute: Annotated[int | None, typer.Option(help="this key's limit (default: the server's)")] = None,
    db: DbOption = DEFAULT_DB,
) -> None:
    """Create a key and print it (only its hash is stored: this is the one time it is shown)."""
    from .auth import KeyStore
    from .db import open_database

    key = KeyStore(open_database(db)).create(name, requests_per_minute, tokens_per_minute)
    console.print(key, highlight=False, soft_wrap=True)


@keys_app.command("list")
@user_errors
def keys_list(db: DbOption = DEFAULT_DB) -> None:
    """List keys: name, first characters, limits, created, revoked."""
    from .auth import KeyStore
    from .db import open_database

    table = Table("name", "key", "requests/min", "tokens/min", "created (UTC)", "revoked (UTC)", title_justify="left")
    for row in KeyStore(open_database(db)).list():
        table.add_row(row.name, row.hint + "…", _limit(row.requests_per_minute), _limit(row.tokens_per_minute),
                      f"{row.created_at:%Y-%m-%d %H:%M}", f"{row.revoked_at:%Y-%m-%d %H:%M}" if row.revoked_at else "")
    console.print(table)


@keys_app.command("revoke")
@user_errors
def keys_revoke(name: Annotated[str, typer.Argument(help="the key's name")], db: DbOption = DEFAULT_DB) -> None:
    """Revoke a key: requests with it get 401 from now on (its usage stays in the ledger)."""
    from .auth import KeyStore
    from .db import open_database

    KeyStore(open_database(db)).revoke(name)
    console.print(f"revoked {name}")


@server_app.command()
@user_errors
def usage(
    db: DbOption = DEFAULT_DB,
    days: Annotated[int | None, typer.Option(help="only the last N days")] = None,
    key: Annotated[str | None, typer.Option(help="only this key's name ('-': anonymous)")] = None,
) -> None:
    """Per-key, per-day usage from the ledger: requests, tokens, cost, and the totals."""
    from .db import open_database
    from .usage import Ledger

    ledger = Ledger(open_database(db))
    rows = ledger.report(days, key)
    ledger.close()
    table = Table("day (UTC)", "key", "requests", "prompt tokens", "cached", "completion tokens", "cost (USD)",
                  title="openk2 usage", title_justify="left", show_footer=bool(rows))
    for row in rows:
        table.add_row(row.day, row.key, str(row.requests), str(row.prompt_tokens), str(row.cached_tokens),
                      str(row.completion_tokens), f"{row.cost:.6f}")
    if rows:
        fields = ("requests", "prompt_tokens", "cached_tokens", "completion_tokens")
        totals = [sum(getattr(r, f) for r in rows) for f in fields]
        for column, value in zip(table.columns, ["total", "", *map(str, totals), f"{sum(r.cost for r in rows):.6f}"]):
            column.footer = value
    console.print(table)


def _limit(value: int | None) -> str:
    return "default" if value is None else str(value)


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    server_app()


if __name__ == "__main__":
    main()
