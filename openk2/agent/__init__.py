"""The agent runtime: tool-calling loops against any OpenAI-compatible endpoint, with apps, a code sandbox and MCP tools."""

from .runtime import Agent, ApprovalPolicy, Budget, Event, ToolCall, Transcript, approve_all, deny_all
from .tools import Tool, ToolResult, function_tool, tool

__all__ = ["Agent", "ApprovalPolicy", "Budget", "Event", "Tool", "ToolCall", "ToolResult", "Transcript", "approve_all",
           "deny_all", "function_tool", "tool"]
