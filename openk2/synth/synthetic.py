"""Synthetic tools beyond the apps: many domains, each a deterministic stateful simulator behind varied declarations.

K2 learned tool use from thousands of synthesised tools. Here a domain (weather, currency, parcels, ...) holds
seeded state in the world's SQLite database and a few tool definitions. Each definition has several names,
descriptions and parameter names; a task draws one variant, so a model must read the declaration to know what
to call and how, instead of remembering one spelling. Every result is checked against the definition's result
shape (JSON Schema) before the model sees it. Domains marked `heldout` never appear in the training split.

A task stores its synthetic tools as `{"domain": NAME, "seed": S, "variant": V}`: the seed fills the domain's
state, the variant picks the names. `build_synthetic_tools` rebuilds them exactly.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import jsonschema

from openk2.agent.apps.store import Store
from openk2.agent.tools import Tool, ToolResult, error_text, result_text


@dataclass(frozen=True)
class Param:
    key: str                       # the simulator's own name for the argument
    names: tuple[str, ...]         # what a declaration may call it
    schema: dict                   # JSON Schema of the value (without description)
    descriptions: tuple[str, ...]  # one is drawn per variant
    required: bool = True


@dataclass(frozen=True)
class ToolDef:
    key: str
    names: tuple[str, ...]
    descriptions: tuple[str, ...]
    params: tuple[Param, ...]
    result: dict                                # JSON Schema every result validates against
    run: Callable[[Store, dict], Any]           # (state, arguments by key) -> result; ValueError for bad requests
    writes: bool = False


@dataclass(frozen=True)
class Call:
    """One call a scenario's expert makes: the tool's key and arguments by parameter key."""

    tool: str
    arguments: dict


@dataclass
class Scenario:
    """A request in one domain, the oracle's plan and what a correct answer and end state hold.

    steps: each step is a list of calls made together (parallel when there are several); later steps may
    depend on earlier results, which the oracle knows from the state. answer: results (one list per step;
    a result is the parsed JSON, or the error text) -> the expert's final reply. facts: rubric groups the
    reply must mention (and tool results must show). says: groups the reply must contain that no tool states
    (a refusal). changes: the state changes writes must leave (rubric `changes` entries, kind = table name,
    e.g. {"kind": "syn_todo", "op": "insert", "fields": {...}}; see openk2/synth/grade.py).
    """

    request: str
    steps: list[list[Call]]
    answer: Callable[[list[list[Any]]], str]
    facts: list[list[str]] = field(default_factory=list)
    says: list[list[str]] = field(default_factory=list)
    changes: list[dict] = field(default_factory=list)


# (the family's Context: rng, language, pick() for split phrasings, say(); the domain's seeded state) -> Scenario.
ScenarioMaker = Callable[[Any, Store], Scenario]
SCENARIO_KINDS = ("single", "parallel", "chain", "write", "error")


@dataclass(frozen=True)
class Domain:
    name: str
    split: str                      # "both", or "heldout" for a domain training never shows
    schema: str                     # CREATE TABLE statements; tables are named syn_<domain>[_...]
    tables: dict[str, str]          # table -> primary key column (the checker compares these rows)
    seed: Callable[[Store, random.Random], None]
    tools: tuple[ToolDef, ...]
    scenarios: tuple[tuple[str, ScenarioMaker], ...]  # (kind, maker): kind is one of SCENARIO_KINDS

    def tool(self, key: str) -> ToolDef:
        return next(t for t in self.tools if t.key == key)


DOMAINS: dict[str, Domain] = {}


def register(domain: Domain) -> Domain:
    assert domain.name not in DOMAINS, f"two domains are called {domain.name}"
    assert domain.split in ("both", "heldout")
    assert all(t.startswith("syn_") for t in domain.tables), "synthetic tables are named syn_..."
    assert all(kind in SCENARIO_KINDS for kind, _ in domain.scenarios), domain.name
    DOMAINS[domain.name] = domain
    return domain


def domains_for(split: str) -> list[Domain]:
    """The domains a split's tasks may use: training never sees the held-out ones."""
    load_domains()
    return [d for d in DOMAINS.values() if d.split == "both" or split == "heldout"]


def load_domains() -> None:
    from . import domains  # noqa: F401  (registers every domain)


@dataclass
class Variant:
    """One spelling of a domain's tools: tool key -> name and description; (tool key, param key) -> name, description."""

    names: dict[str, str]
    descriptions: dict[str, str]
    params: dict[tuple[str, str], tuple[str, str]]


def variant(domain: Domain, number: int) -> Variant:
    rng = random.Random(f"{domain.name}:{number}")
    names, descriptions, params = {}, {}, {}
    for t in domain.tools:
        names[t.key], descriptions[t.key] = rng.choice(t.names), rng.choice(t.descriptions)
        for p in t.params:
            params[(t.key, p.key)] = (rng.choice(p.names), rng.choice(p.descriptions))
    return Variant(names, descriptions, params)


@dataclass
class SyntheticTools:
    tools: list[Tool]
    write_tools: frozenset[str]
    tables: dict[str, str]
    # tool name -> (domain, definition, variant): how a declared call maps back to the simulator
    index: dict[str, tuple[Domain, ToolDef, Variant]]

    def call_for(self, domain: str, call: Call) -> tuple[str, dict]:
        """A scenario call spelled as this task's declarations spell it: (tool name, arguments)."""
        for name, (d, t, v) in self.index.items():
            if d.name == domain and t.key == call.tool:
                return name, {v.params[(t.key, k)][0]: value for k, value in call.arguments.items()}
        raise KeyError(f"{domain}.{call.tool} is not among this task's tools")


def declaration(tool: ToolDef, v: Variant) -> dict:
    properties = {}
    for p in tool.params:
        name, description = v.params[(tool.key, p.key)]
        properties[name] = {**p.schema, "description": description}
    required = [v.params[(tool.key, p.key)][0] for p in tool.params if p.required]
    return {"type": "object", "properties": properties, "required": required, "additionalProperties": False}


def simulator(domain: Domain, tool: ToolDef, v: Variant, store: Store) -> Callable[[dict], Any]:
    by_name = {v.params[(tool.key, p.key)][0]: p for p in tool.params}
    # Validators built once: jsonschema.validate re-checks the schema against the meta-schema on every call, which
    # made each call ~15x slower (the schemas themselves are checked by tests/test_synth_domains.py).
    arguments_check = jsonschema.Draft202012Validator(declaration(tool, v))
    result_check = jsonschema.Draft202012Validator(tool.result)

    async def run(arguments: dict) -> ToolResult:
        e = jsonschema.exceptions.best_match(arguments_check.iter_errors(arguments))
        if e is not None:
            where = ".".join(str(p) for p in e.absolute_path) or "arguments"
            return ToolResult(f"Error: invalid arguments for {v.names[tool.key]}: {where}: {e.message}", is_error=True)
        try:
            value = tool.run(store, {by_name[k].key: a for k, a in arguments.items()})
        except ValueError as e:
            return ToolResult(error_text(e), is_error=True)
        result_check.validate(value)  # a simulator that breaks its own contract is a bug, not a model error
        return ToolResult(result_text(value))

    return run


def build_synthetic_tools(specs: list[dict], store: Store) -> SyntheticTools:
    """The synthetic tools of a task (see the module docstring), with their domains' state seeded into `store`."""
    load_domains()
    tools, writes, tables, index = [], set(), {}, {}
    for spec in specs:
        domain = DOMAINS.get(spec["domain"])
        if domain is None:
            raise ValueError(f"unknown synthetic domain {spec['domain']!r}")
        if not set(domain.tables) <= set(tables):
            store.script(domain.schema)
            domain.seed(store, random.Random(f"{domain.name}:{spec['seed']}"))
            tables.update(domain.tables)
        v = variant(domain, spec["variant"])
        for t in domain.tools:
            name = v.names[t.key]
            if name in index:
                raise ValueError(f"two synthetic tools are called {name}; draw another variant")
            tools.append(Tool(name=name, description=v.descriptions[t.key], parameters=declaration(t, v),
                              run=simulator(domain, t, v, store), side_effect=t.writes))
            index[name] = (domain, t, v)
            if t.writes:
                writes.add(name)
    return SyntheticTools(tools, frozenset(writes), tables, index)
