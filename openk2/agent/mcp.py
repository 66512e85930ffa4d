"""MCP both ways: MCP servers' tools (stdio or streamable HTTP) as agent tools; our apps as MCP servers (`openk2 mcp serve calendar`)."""

from __future__ import annotations

import shlex
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from mcp import Client, StdioServerParameters, types
from mcp.server.lowlevel import Server

from .apps import World
from .tools import Tool, ToolResult


def server_target(target: str) -> str | StdioServerParameters:
    """A URL means streamable HTTP; anything else is a command line to start a stdio server."""
    if target.startswith(("http://", "https://")):
        return target
    argv = shlex.split(target)
    if not argv:
        raise ValueError("an MCP server is a URL or a command line, not an empty string")
    return StdioServerParameters(command=argv[0], args=argv[1:])


def content_text(blocks: list[Any]) -> str:
    """An MCP result's content as the text a chat model reads; non-text blocks are named, not inlined."""
    parts = []
    for block in blocks:
        if isinstance(block, types.TextContent):
            parts.append(block.text)
        else:
            parts.append(f"[{block.type} content]")
    return "\n".join(parts)


def is_side_effect(annotations: types.ToolAnnotations | None) -> bool:
    # MCP's defaults: a tool is not read-only and is destructive unless it says otherwise. Hints from a
    # server are claims, not guarantees, so only an explicit "harmless" skips the approval policy.
    if annotations is None:
        return True
    return not annotations.read_only_hint and annotations.destructive_hint is not False


def remote_tool(client: Client, spec: types.Tool) -> Tool:
    async def run(arguments: dict) -> ToolResult:
        result = await client.call_tool(spec.name, arguments)
        return ToolResult(content_text(result.content), bool(result.is_error))

    return Tool(spec.name, spec.description or "", spec.input_schema, run, is_side_effect(spec.annotations))


@asynccontextmanager
async def mcp_tools(target: str) -> AsyncIterator[list[Tool]]:
    """Connect to one MCP server (a URL, or a command line for stdio) and yield its tools while connected."""
    async with Client(server_target(target), cache=None) as client:
        listed, cursor = [], None
        while True:
            page = await client.list_tools(cursor=cursor)
            listed += page.tools
            cursor = page.next_cursor
            if cursor is None:
                break
        yield [remote_tool(client, spec) for spec in listed]


def app_server(tools: list[Tool], name: str) -> Server:
    """An MCP server offering these tools with exactly the schemas, descriptions and results the agent sees natively."""
    by_name = {t.name: t for t in tools}

    async def list_tools(ctx: Any, params: Any) -> types.ListToolsResult:
        return types.ListToolsResult(tools=[
            types.Tool(name=t.name, description=t.description, input_schema=t.parameters,
                       annotations=types.ToolAnnotations(read_only_hint=False, destructive_hint=t.side_effect))
            for t in tools])

    async def call_tool(ctx: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
        t = by_name.get(params.name)
        if t is None:
            result = ToolResult(f"Error: unknown tool {params.name!r}; the available tools are: {', '.join(by_name)}", True)
        else:
            result = await t.run(params.arguments or {})
        return types.CallToolResult(content=[types.TextContent(text=result.content)], is_error=result.is_error)

    return Server(name, on_list_tools=list_tools, on_call_tool=call_tool)


async def serve(world: World, name: str, transport: str = "stdio", host: str = "127.0.0.1", port: int = 8000) -> None:
    """Serve the world's app tools until the client hangs up (stdio) or the process is stopped (HTTP)."""
    server = app_server(world.tools(), name)
    if transport == "stdio":
        from mcp.server.stdio import stdio_server

        async with stdio_server() as (read_stream, write_stream):
            await server.run(read_stream, write_stream, server.create_initialization_options())
    elif transport == "http":
        import uvicorn

        app = server.streamable_http_app(host=host)
        await uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning")).serve()
    else:
        raise ValueError(f"unknown transport {transport!r}; choose stdio or http")
