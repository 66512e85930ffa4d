"""`openk2 agent "task"` and `openk2 mcp serve APP` (standalone: `python -m openk2.agent.cli --help`)."""

from __future__ import annotations

import asyncio
import json
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from openk2.cli_support import user_errors

from .runtime import Budget, Event, ToolCall, approve_all, default_system_prompt, deny_all

DEFAULT_BUDGET = Budget()
APP_NAMES = ("calendar", "email", "booking")

mcp_app = typer.Typer(help="Model Context Protocol: serve openk2's apps to other agents.", no_args_is_help=True,
                      add_completion=False)


def parse_apps(apps: str) -> list[str]:
    names = [a.strip() for a in apps.split(",") if a.strip() and a.strip() != "none"]
    for name in names:
        if name not in APP_NAMES:
            raise ValueError(f"unknown app {name!r}; choose from {', '.join(APP_NAMES)} (comma-separated) or none")
    return names


def ask_on_terminal(console: Console):
    """An approval policy that shows the call and asks y/N; no answer (EOF) means no."""
    from rich.prompt import Confirm

    async def ask(call: ToolCall) -> bool:
        try:
            arguments = json.dumps(json.loads(call.arguments), indent=2, ensure_ascii=False)
        except ValueError:
            arguments = call.arguments
        console.print(f"\n[bold yellow]approve[/] {escape(call.name)}\n{escape(arguments)}")
        try:
            return await asyncio.to_thread(Confirm.ask, "Allow this call?", default=False, console=console)
        except EOFError:
            return False

    return ask


def render(console: Console, event: Event) -> None:
    """One event on the terminal: streamed text as it comes, tool calls and results as compact lines."""
    if event.kind == "text":
        console.file.write(event.text)
        console.file.flush()
    elif event.kind == "reasoning":
        console.print(event.text, style="dim italic", end="", markup=False, highlight=False, soft_wrap=True)
    elif event.kind == "message":
        if event.message.get("content") or event.message.get("reasoning_content"):
            console.print()
    elif event.kind == "tool_call":
        console.print(f"[cyan]→ {escape(event.call.name)}[/]({escape(event.call.arguments)})", soft_wrap=True, highlight=False)
    elif event.kind == "tool_result":
        text = " ".join(event.result.content.split())
        text = text if len(text) <= 300 else text[:300] + " …"
        style = "red" if event.result.is_error else "dim"
        console.print(f"[{style}]← {escape(text)}[/]", soft_wrap=True, highlight=False)


def approving_code(policy):
    """`policy`, except that calls to run_python are approved (--approve-code: they still run in the sandbox)."""
    return lambda call: True if call.name == "run_python" else policy(call)


def open_sandbox(unsafe: bool, console: Console):
    """The strongest sandbox this machine has; with no OS-level boundary, refuse unless `unsafe` says otherwise."""
    from .sandbox import Sandbox

    try:
        box = Sandbox()
    except ValueError:
        if not unsafe:
            raise
        box = Sandbox(mode="unsafe")
    if box.mode != "bwrap":
        style = "bold red" if box.mode == "unsafe" else "yellow"
        console.print(f"[{style}]sandbox: {escape(box.isolation.note)}[/]")
    return box


async def run_agent(task: str, base_url: str, api_key: str, model: str, apps: list[str], db: Path | None, seed: int,
                    approve: str, sandbox: bool, mcp: list[str], budget: Budget, sampling: dict, stream: bool,
                    system: str | None, console: Console, approve_code: bool = False, unsafe: bool = False):
    import openai

    from .apps import World
    from .mcp import mcp_tools
    from .runtime import Agent

    policies = {"auto": approve_all, "deny": deny_all, "ask": ask_on_terminal(console)}
    if approve not in policies:
        raise ValueError(f"unknown approval policy {approve!r}; choose ask, auto or deny")
    policy = approving_code(policies[approve]) if approve_code else policies[approve]
    world = World(db or ":memory:", apps, seed) if apps else None
    tools = world.tools() if world else []
    async with AsyncExitStack() as stack:
        if sandbox:
            tools.append(stack.enter_context(open_sandbox(unsafe, console)).tool())
        for target in mcp:
            tools += await stack.enter_async_context(mcp_tools(target))
        client = openai.AsyncOpenAI(base_url=base_url, api_key=api_key, max_retries=1)
        agent = Agent(client, model, tools, approve=policy, budget=budget, stream=stream, sampling=sampling)
        prompt = system if system is not None else default_system_prompt(world.describe() if world else None)
        messages = ([{"role": "system", "content": prompt}] if prompt else []) + [{"role": "user", "content": task}]
        try:
            return await agent.run(messages, on_event=lambda event: render(console, event))
        except openai.APIConnectionError as e:
            raise ValueError(f"cannot reach {base_url}: {e.__cause__ or e}") from None
        except openai.APIStatusError as e:
            raise ValueError(f"{base_url} refused the request: {e.message}") from None


@user_errors
def agent(
    task: Annotated[str, typer.Argument(help="what the agent should do")],
    model: Annotated[str, typer.Option(help="model name at the endpoint")],
    base_url: Annotated[str, typer.Option(help="OpenAI-compatible endpoint", envvar="OPENAI_BASE_URL")] = "http://127.0.0.1:8000/v1",
    api_key: Annotated[str, typer.Option(help="API key for the endpoint", envvar="OPENAI_API_KEY")] = "none",
    apps: Annotated[str, typer.Option(help="apps for the agent: calendar,email,booking (any of them) or none")] = ",".join(APP_NAMES),
    db: Annotated[Path | None, typer.Option(help="SQLite file keeping the apps' state between runs (default: fresh, in memory)")] = None,
    seed: Annotated[int, typer.Option(help="seed of a fresh world")] = 0,
    approve: Annotated[str, typer.Option(help="side-effecting tools (send, book, delete, run code): ask, auto or deny")] = "ask",
    sandbox: Annotated[bool, typer.Option(help="give the agent a run_python tool in a sandbox")] = True,
    approve_code: Annotated[bool, typer.Option("--approve-code", help="run the model's code without asking (still sandboxed)")] = False,
    unsafe_code_execution: Annotated[bool, typer.Option(
        "--unsafe-code-execution", help="where no OS-level sandbox works (bubblewrap, Landlock), run model code "
        "anyway, with your permissions")] = False,
    mcp: Annotated[list[str] | None, typer.Option(help="MCP server: a URL or a command line (repeat for several)")] = None,
    max_turns: Annotated[int, typer.Option(help="most model calls")] = DEFAULT_BUDGET.max_turns,
    max_tokens: Annotated[int | None, typer.Option(help="most prompt + completion tokens over the run")] = DEFAULT_BUDGET.max_tokens,
    timeout: Annotated[float | None, typer.Option(help="most seconds for the whole run")] = DEFAULT_BUDGET.max_seconds,
    temperature: Annotated[float | None, typer.Option(help="sampling temperature (default: the endpoint's)")] = None,
    system: Annotated[str | None, typer.Option(help="system prompt (default: one describing the user and the time)")] = None,
    stream: Annotated[bool, typer.Option(help="stream the model's text")] = True,
    transcript: Annotated[Path | None, typer.Option(help="save the run (messages, tools, usage) as JSON here")] = None,
) -> None:
    """Run a tool-calling agent on a task against any OpenAI-compatible endpoint, showing each step."""
    console, status = Console(), Console(stderr=True)
    sampling = {} if temperature is None else {"temperature": temperature}
    budget = Budget(max_turns=max_turns, max_tokens=max_tokens, max_seconds=timeout)
    result = asyncio.run(run_agent(task, base_url, api_key, model, parse_apps(apps), db, seed, approve, sandbox,
                                   mcp or [], budget, sampling, stream, system, console, approve_code,
                                   unsafe_code_execution))
    if not stream and result.answer:
        console.print(result.answer, markup=False, highlight=False)
    if transcript:
        result.save(transcript)
    stopped = "" if result.stop_reason == "answer" else f"stopped ({result.stop_reason}), "
    status.print(f"[dim]{stopped}{result.turns} model calls, {result.usage.total_tokens} tokens, {result.seconds:.1f} s[/]")
    if result.stop_reason not in ("answer", "length"):
        raise typer.Exit(2)


@mcp_app.command()
@user_errors
def serve(
    app: Annotated[str, typer.Argument(help="calendar, email or booking (comma-separated for several)")],
    db: Annotated[Path | None, typer.Option(help="SQLite file holding the app's state (default: a fresh world in memory)")] = None,
    seed: Annotated[int, typer.Option(help="seed of a fresh world")] = 0,
    transport: Annotated[str, typer.Option(help="stdio, or http (streamable HTTP at /mcp)")] = "stdio",
    host: Annotated[str, typer.Option(help="http: address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="http: port")] = 8000,
) -> None:
    """Serve an app's tools over MCP, so that any MCP client (another agent, an IDE) can use them."""
    from .apps import World
    from .mcp import serve as serve_mcp

    names = parse_apps(app)
    if not names:
        raise ValueError("name at least one app to serve")
    world = World(db or ":memory:", names, seed)
    asyncio.run(serve_mcp(world, f"openk2-{'-'.join(names)}", transport, host, port))


# Standalone use; the main `openk2` command mounts `agent` and `mcp_app` the same way.
cli = typer.Typer(help="openk2 agents: tool-calling loops, apps, sandbox and MCP.", no_args_is_help=True, add_completion=False)
cli.command(name="agent")(agent)
cli.add_typer(mcp_app, name="mcp")

if __name__ == "__main__":
    cli()
