"""Tools from typed functions: JSON Schema from signatures and docstrings, argument validation, errors as results."""

from __future__ import annotations

import asyncio
import enum
from dataclasses import dataclass
from typing import Literal, Optional

import pydantic
import pytest

from openk2.agent.tools import function_tool, parse_arguments, parse_docstring, tool


class Priority(enum.Enum):
    LOW = "low"
    HIGH = "high"


class Address(pydantic.BaseModel):
    street: str
    city: str = pydantic.Field(description="the city")


@dataclass
class Window:
    start: str
    minutes: int = 30


def everything(text: str, count: int, ratio: float, flag: bool, priority: Priority, mode: Literal["fast", "slow"],
               maybe: Optional[int] = None, tags: list[str] | None = None, address: Address | None = None,
               window: Window | None = None, scores: dict[str, float] | None = None, pair: tuple[int, str] | None = None) -> dict:
    """Exercise every supported type.

    A second paragraph of description.

    Args:
        text: some text.
        count (int): how many,
            over two lines.
        priority: how urgent.
        window: when.

    Returns:
        what it got.
    """
    return {"text": text, "count": count, "priority": priority, "address": address, "window": window, "pair": pair}


def props(t):
    return t.parameters["properties"]


def test_schema_covers_the_supported_types():
    t = function_tool(everything)
    assert t.name == "everything" and t.description == "Exercise every supported type. A second paragraph of description."
    p = props(t)
    assert p["text"] == {"type": "string", "description": "some text."}
    assert p["count"] == {"type": "integer", "description": "how many, over two lines."}
    assert p["ratio"] == {"type": "number"} and p["flag"] == {"type": "boolean"}
    assert p["priority"] == {"enum": ["low", "high"], "type": "string", "description": "how urgent."}
    assert p["mode"] == {"enum": ["fast", "slow"], "type": "string"}
    assert p["maybe"] == {"type": "integer"}  # optional: not required, and no anyOf-null for the model to read
    assert p["tags"] == {"type": "array", "items": {"type": "string"}}
    address = p["address"]  # nested models are inlined: no $ref for the model to chase
    assert address["type"] == "object" and address["required"] == ["street", "city"]
    assert address["properties"]["city"] == {"type": "string", "description": "the city"}
    window = p["window"]
    assert window["properties"]["minutes"] == {"type": "integer", "default": 30} and window["required"] == ["start"]
    assert p["window"]["description"] == "when."
    assert p["scores"] == {"type": "object", "additionalProperties": {"type": "number"}}
    assert p["pair"]["prefixItems"] == [{"type": "integer"}, {"type": "string"}]
    assert t.parameters["required"] == ["text", "count", "ratio", "flag", "priority", "mode"]
    assert t.parameters["additionalProperties"] is False
    text = str(t.parameters)
    assert "$ref" not in text and "$defs" not in text and "'title'" not in text
    assert t.spec() == {"type": "function", "function": {"name": "everything", "description": t.description,
                                                         "parameters": t.parameters}}


def test_valid_arguments_are_converted_to_the_declared_types():
    t = function_tool(everything)
    result = asyncio.run(t.run({"text": "hi", "count": 2, "ratio": 0.5, "flag": True, "priority": "high", "mode": "fast",
                                "address": {"street": "1 Main St", "city": "Leeds"}, "window": {"start": "09:00"},
                                "pair": [1, "a"]}))
    assert not result.is_error
    assert result.content == ('{"text":"hi","count":2,"priority":"high","address":{"street":"1 Main St","city":"Leeds"},'
                              '"window":{"start":"09:00","minutes":30},"pair":[1,"a"]}')


def test_validation_errors_name_each_problem():
    result = asyncio.run(function_tool(everything).run({"text": 3, "count": "many", "priority": "urgent", "mode": "fast",
                                                        "flag": True, "ratio": 1, "address": {"city": "Leeds"}, "bogus": 1}))
    assert result.is_error
    assert result.content.startswith("Error: invalid arguments for everything: ")
    for problem in ["text: Input should be a valid string", "count: Input should be a valid integer",
                    "priority: Input should be 'low' or 'high'", "address.street: Field required",
                    "bogus: Extra inputs are not permitted"]:
        assert problem in result.content


def test_exceptions_become_error_results():
    def fails(x: int) -> int:
        raise KeyError("missing")

    def refuses(x: int) -> int:
        raise ValueError("x must be even")

    assert asyncio.run(function_tool(fails).run({"x": 1})).content == "Error: KeyError: 'missing'"
    refused = asyncio.run(function_tool(refuses).run({"x": 1}))
    assert refused.is_error and refused.content == "Error: x must be even"


def test_async_functions_methods_and_decorator():
    class Counter:
        def __init__(self):
            self.n = 0

        def bump(self, by: int = 1) -> int:
            """Add to the counter."""
            self.n += by
            return self.n

    @tool(side_effect=True)
    async def shout(word: str) -> str:
        """Shout a word.

        :param word: the word to shout.
        """
        return word.upper()

    counter = Counter()
    bump = function_tool(counter.bump)
    assert "self" not in props(bump) and bump.parameters.get("required") is None
    assert asyncio.run(bump.run({"by": 2})).content == "2" and counter.n == 2
    assert shout.side_effect and props(shout)["word"]["description"] == "the word to shout."
    assert asyncio.run(shout.run({"word": "hey"})).content == "HEY"


def test_functions_that_cannot_be_tools_are_refused():
    def untyped(x):
        return x

    def variadic(*args: int) -> int:
        return 0

    with pytest.raises(ValueError, match="needs a type hint"):
        function_tool(untyped)
    with pytest.raises(ValueError, match=r"\*args"):
        function_tool(variadic)
    with pytest.raises(ValueError, match="tool name"):
        function_tool(untyped, name="has space")


def test_docstring_parsing():
    description, args = parse_docstring("""Summary line.

    Args:
        a: first.
        b (list[int]): second,
            continued.
    Raises:
        ValueError: not an argument.
    """)
    assert description == "Summary line." and args == {"a": "first.", "b": "second, continued."}


def test_parse_arguments():
    assert parse_arguments('{"a": 1}') == {"a": 1} and parse_arguments("") == {} and parse_arguments(None) == {}
    with pytest.raises(ValueError, match="not valid JSON"):
        parse_arguments("{")
    with pytest.raises(ValueError, match="must be a JSON object"):
        parse_arguments("[1]")
