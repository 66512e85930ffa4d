"""Tools for the agent: a typed Python function becomes a tool whose JSON Schema comes from its signature and docstring."""

from __future__ import annotations

import asyncio
import functools
import inspect
import json
import re
import typing
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pydantic
import pydantic_core

# Docstring section headers (Google style) that end the description or the argument list.
SECTION = re.compile(r"^(Args|Arguments|Parameters|Returns|Return|Raises|Yields|Examples?|Notes?):\s*$")
ARG_LINE = re.compile(r"^(\*{0,2}\w+)\s*(\([^)]*\))?\s*:\s*(.*)$")
SPHINX_PARAM = re.compile(r"^:param\s+(?:[\w\[\], |.]+\s+)?(\w+):\s*(.*)$")


@dataclass(frozen=True)
class ToolResult:
    """What a tool call gives back to the model: text, and whether it describes an error."""

    content: str
    is_error: bool = False


@dataclass(frozen=True)
class Tool:
    """A tool the model can call: its OpenAI declaration plus an async `run(arguments) -> ToolResult`.

    `run` never raises for the model's mistakes (bad arguments, a failing tool): those come back as
    error results the model can read and recover from. `side_effect` marks tools that change the
    world outside the conversation (send e-mail, book, delete): the runtime asks an approval policy
    before running them.
    """

    name: str
    description: str
    parameters: dict
    run: Callable[[dict], Awaitable[ToolResult]]
    side_effect: bool = False

    def spec(self) -> dict:
        """The tool as the OpenAI Chat Completions `tools` list wants it."""
        return {"type": "function", "function": {"name": self.name, "description": self.description, "parameters": self.parameters}}


def parse_docstring(doc: str | None) -> tuple[str, dict[str, str]]:
    """A docstring -> (description, {argument: description}); Google-style `Args:` or Sphinx `:param x:`."""
    description, args = [], {}
    section, current, arg_indent = "description", None, None
    for line in inspect.cleandoc(doc or "").splitlines():
        stripped, indent = line.strip(), len(line) - len(line.lstrip())
        if indent == 0 and SECTION.match(stripped):
            section, current, arg_indent = stripped.rstrip(":").lower(), None, None
        elif sphinx := SPHINX_PARAM.match(stripped):
            section, current = "sphinx", sphinx.group(1)
            args[current] = sphinx.group(2).strip()
        elif section == "description":
            description.append(stripped)
        elif section in ("args", "arguments", "parameters") and stripped:
            # An argument line sits at the section's first indent; deeper lines continue it.
            arg_indent = arg_indent if arg_indent is not None else indent
            match = ARG_LINE.match(stripped)
            if match and indent == arg_indent:
                current = match.group(1).lstrip("*")
                args[current] = match.group(3).strip()
            elif current:
                args[current] = f"{args[current]} {stripped}".strip()
        elif section == "sphinx" and current and stripped:
            args[current] = f"{args[current]} {stripped}"
    return " ".join(" ".join(description).split()), args


def arguments_model(fn: Callable, name: str, arg_docs: dict[str, str], bound: bool = False) -> type[pydantic.BaseModel]:
    """A pydantic model of `fn`'s parameters: it yields the JSON Schema and validates the model's arguments.

    `bound`: fn is the function of a bound method, whose first parameter (self) is not an argument.
    """
    hints = typing.get_type_hints(fn, include_extras=True)
    fields: dict[str, Any] = {}
    for param in list(inspect.signature(fn).parameters.values())[int(bound):]:
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise ValueError(f"tool {name}: *{param.name} cannot be described in a JSON Schema; name every parameter")
        if param.name not in hints:
            raise ValueError(f"tool {name}: parameter {param.name!r} needs a type hint")
        default = ... if param.default is param.empty else param.default
        fields[param.name] = (hints[param.name], pydantic.Field(default, description=arg_docs.get(param.name)))
    # Unknown arguments are an error the model should hear about, not something to drop silently.
    config = pydantic.ConfigDict(extra="forbid", arbitrary_types_allowed=False)
    return pydantic.create_model(f"{name}_arguments", __config__=config, **fields)


def clean_schema(schema: dict) -> dict:
    """Pydantic's JSON Schema made self-contained for a tool declaration: `$ref`s inlined, titles dropped.

    An optional argument (`x: T | None = None`) is declared as plain T and left out of `required`: leaving it
    out means None, so `anyOf [T, null]` and `"default": null` only make the declaration longer for the model
    to read (the tool still accepts an explicit null).
    """
    defs = schema.get("$defs", {})

    def walk(node: Any, seen: tuple[str, ...]) -> Any:
        if isinstance(node, list):
            return [walk(item, seen) for item in node]
        if not isinstance(node, dict):
            return node
        if "$ref" in node:
            ref = node["$ref"].rsplit("/", 1)[-1]
            if ref in seen:
                raise ValueError(f"recursive type {ref} cannot be inlined into a tool schema")
            siblings = {k: v for k, v in node.items() if k != "$ref"}
            return {**walk(defs[ref], seen + (ref,)), **walk(siblings, seen)}
        branches = node.get("anyOf")
        if "default" in node and node["default"] is None and isinstance(branches, list) and len(branches) == 2 \
                and {"type": "null"} in branches:
            rest = {k: v for k, v in node.items() if k not in ("anyOf", "default")}
            return walk({**next(b for b in branches if b != {"type": "null"}), **rest}, seen)
        out = {}
        for key, value in node.items():
            if key in ("title", "$defs"):
                continue
            if key == "properties":  # keys here are argument names, not schema keywords
                out[key] = {prop: walk(sub, seen) for prop, sub in value.items()}
            else:
                out[key] = walk(value, seen)
        return out

    return walk(schema, ())


def validation_message(error: pydantic.ValidationError) -> str:
    """One line per problem, `path: what is wrong`, short enough for the model to act on."""
    problems = []
    for e in error.errors(include_url=False):
        where = ".".join(str(part) for part in e["loc"]) or "arguments"
        problems.append(f"{where}: {e['msg']}")
    return "; ".join(problems)


def result_text(value: Any) -> str:
    """A tool's return value as the text the model reads: strings as they are, anything else as JSON."""
    if isinstance(value, str):
        return value
    return pydantic_core.to_json(value, fallback=str).decode()


def error_text(e: BaseException) -> str:
    # ValueError is how tools report the caller's mistakes, so its message is the whole story.
    return f"Error: {e}" if type(e) is ValueError else f"Error: {type(e).__name__}: {e}"


@functools.lru_cache(maxsize=1024)
def definition(fn: Callable, name: str, bound: bool) -> tuple[str, type[pydantic.BaseModel], str]:
    """(description, arguments model, JSON Schema) of a function: built once per function, since building them
    takes milliseconds and every new World makes its apps' tools again (bound methods share their function's)."""
    doc_description, arg_docs = parse_docstring(fn.__doc__)
    model = arguments_model(fn, name, arg_docs, bound)
    parameters = clean_schema(model.model_json_schema())
    parameters.setdefault("properties", {})
    return doc_description, model, json.dumps(parameters)  # as text: each tool gets its own copy (json.loads is cheap)


def function_tool(fn: Callable, *, name: str | None = None, description: str | None = None,
                  side_effect: bool = False) -> Tool:
    """A Tool from a typed function (sync or async, plain or bound method).

    Supported parameter types: str, int, float, bool, Enum, Literal, Optional, list/dict/tuple of
    those, nested pydantic models and dataclasses. Argument descriptions come from the docstring.
    Sync functions run in a worker thread, so parallel calls overlap.
    """
    name = name or fn.__name__
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", name):
        raise ValueError(f"tool name {name!r} must be 1-64 letters, digits, '_' or '-'")
    doc_description, model, schema_text = definition(getattr(fn, "__func__", fn), name, hasattr(fn, "__func__"))
    parameters = json.loads(schema_text)
    is_async = inspect.iscoroutinefunction(fn)

    async def run(arguments: dict) -> ToolResult:
        try:
            validated = model.model_validate(arguments)
        except pydantic.ValidationError as e:
            return ToolResult(f"Error: invalid arguments for {name}: {validation_message(e)}", is_error=True)
        kwargs = {field: getattr(validated, field) for field in model.model_fields}
        try:
            value = await fn(**kwargs) if is_async else await asyncio.to_thread(fn, **kwargs)
        except Exception as e:  # the model wrote the call, so the model hears about the failure
            return ToolResult(error_text(e), is_error=True)
        return ToolResult(result_text(value))

    return Tool(name=name, description=description or doc_description, parameters=parameters, run=run,
                side_effect=side_effect)


def tool(fn: Callable | None = None, *, name: str | None = None, side_effect: bool = False):
    """Decorator form of `function_tool`: `@tool` or `@tool(side_effect=True)`."""
    if fn is None:
        return lambda f: function_tool(f, name=name, side_effect=side_effect)
    return function_tool(fn, name=name, side_effect=side_effect)


def parse_arguments(arguments: str | dict | None) -> dict:
    """The model's argument string -> a dict; ValueError says what is wrong with it."""
    if isinstance(arguments, dict):
        return arguments
    if arguments is None or not arguments.strip():
        return {}
    try:
        value = json.loads(arguments)
    except json.JSONDecodeError as e:
        raise ValueError(f"arguments are not valid JSON ({e.msg} at position {e.pos})") from None
    if not isinstance(value, dict):
        raise ValueError(f"arguments must be a JSON object, not {type(value).__name__}")
    return value
