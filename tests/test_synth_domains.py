"""The synthetic tool domains: enough of them, with varied declarations; every tool's result validates against its
declared shape on random arguments and reads leave the state as it was; every scenario of every domain yields, in
every language, a conversation the judge passes and that fails when a call is dropped or an argument changed."""

from __future__ import annotations

import asyncio
import json
import random
from collections import Counter

import jsonschema
import pytest

from openk2.agent.apps.store import Store
from openk2.synth.cast import draw_cast
from openk2.synth.family import Act, Context, Say
from openk2.synth.language import LANGUAGES
from openk2.synth.rollout import expert_conversation, judge, replay
from openk2.synth.synthetic import (DOMAINS, SCENARIO_KINDS, build_synthetic_tools, declaration, domains_for, load_domains,
                                    simulator, variant)
from openk2.synth.task import WRITE_TOOLS, Task, pristine_world

load_domains()
APP_TOOLS = WRITE_TOOLS | {"current_time", "list_events", "search_events", "get_event", "find_free_slots", "list_folders",
                           "search_emails", "read_email", "search_contacts", "search_flights", "search_hotels",
                           "search_restaurants", "check_availability", "list_bookings"}


def run(coro):
    return asyncio.run(coro)


def base_world(split: str, number: int):
    rng = random.Random(f"test-world:{split}:{number}")
    seed = rng.randrange(2**31)
    return seed, pristine_world(seed, draw_cast(rng, split))


def draw(domain_name: str, index: int, language: str, split: str = "train", salt: int = 0):
    """Scenario `index` of a domain as families/synthetic.py draws it, next to a distractor domain:
    (task, expert, scenario)."""
    domain = DOMAINS[domain_name]
    kind, make = domain.scenarios[index]
    rng = random.Random(f"test:{domain_name}:{index}:{language}:{split}:{salt}")
    world_seed, base = base_world(split, salt % 2)
    ctx = Context(rng, language, split, base.cast, base.copy())
    others = sorted(d.name for d in domains_for(split) if d.name != domain_name and d.split == "both")
    ctx.synthetic = [{"domain": d, "seed": rng.randrange(10**6), "variant": rng.randrange(10**4)}
                     for d in [domain_name, rng.choice(others)]]
    tools = build_synthetic_tools(ctx.synthetic, ctx.world.store)
    scenario = make(ctx, ctx.world.store)
    if scenario.facts:
        ctx.mention(*scenario.facts)
    if scenario.says:
        ctx.says(*scenario.says)
    ctx.expect["changes"] += scenario.changes
    task = Task(id=f"t-{domain_name}-{index}", family=f"syn_{kind}", language=language, split=split, seed=world_seed,
                cast=base.cast, setup=[], apps=[], synthetic=ctx.synthetic, request=scenario.request, user_replies=[],
                user_instructions="", expect=ctx.expect)

    def expert():
        results = []
        for step in scenario.steps:
            results.append((yield Act([tools.call_for(domain_name, call) for call in step])))
        yield Say(scenario.answer(results))

    return task, expert, scenario


def regrade(task: Task, messages: list[dict]):
    env, replayed, _ = run(replay(task, messages))
    return task.grade(env, replayed)


def without_last_calls(messages: list[dict]) -> list[dict]:
    """The conversation without its last assistant turn of tool calls (and their results)."""
    last = max(i for i, m in enumerate(messages) if m.get("tool_calls"))
    ids = {c["id"] for c in messages[last]["tool_calls"]}
    return [m for i, m in enumerate(messages) if i != last and m.get("tool_call_id") not in ids]


def shifted(value):
    if isinstance(value, bool):
        return not value
    if isinstance(value, (int, float)):
        return value + 1
    if isinstance(value, str):
        return value + "x"
    return None


def changed_arguments(messages: list[dict]):
    """Each conversation with one argument of one call changed."""
    for i, m in enumerate(messages):
        for j, call in enumerate(m.get("tool_calls") or []):
            arguments = json.loads(call["function"]["arguments"])
            for key, value in arguments.items():
                new = shifted(value)
                if new is None:
                    continue
                calls = [dict(c) for c in m["tool_calls"]]
                calls[j] = {**call, "function": {**call["function"], "arguments": json.dumps({**arguments, key: new})}}
                yield [*messages[:i], {**m, "tool_calls": calls}, *messages[i + 1:]]


# --- the set of domains and their declarations ------------------------------------------------------------

def test_enough_domains_and_kinds():
    both = [d for d in DOMAINS.values() if d.split == "both"]
    heldout = [d for d in DOMAINS.values() if d.split == "heldout"]
    assert len(DOMAINS) >= 22 and len(both) >= 19 and len(heldout) >= 3, (len(both), len(heldout))
    assert all(len({k for k, _ in d.scenarios}) >= 2 for d in DOMAINS.values())
    per_kind = Counter(kind for d in DOMAINS.values() for kind in {k for k, _ in d.scenarios})
    assert all(per_kind[kind] >= 6 for kind in SCENARIO_KINDS), per_kind
    per_kind_train = Counter(kind for d in both for kind in {k for k, _ in d.scenarios})
    assert all(per_kind_train[kind] >= 6 for kind in SCENARIO_KINDS), per_kind_train
    # the held-out family draws these kinds from the held-out domains
    assert {"single", "parallel", "chain", "write"} <= {k for d in heldout for k, _ in d.scenarios}
    assert not {d.name for d in heldout} & {d.name for d in domains_for("train")}


def test_declarations_are_varied_short_and_distinct():
    owner: dict[str, str] = {}
    for d in DOMAINS.values():
        assert 1 <= len(d.tools) <= 4, d.name
        assert all(table.startswith(f"syn_{d.name}") for table in d.tables), d.name
        for t in d.tools:
            assert 3 <= len(t.names) <= 6 and 2 <= len(t.descriptions) <= 4, (d.name, t.key)
            assert all(len(text) <= 120 and text.endswith(".") for text in t.descriptions), (d.name, t.key)
            jsonschema.Draft202012Validator.check_schema(t.result)
            for n in range(2):  # the declarations a task shows (the simulator validates arguments against them)
                jsonschema.Draft202012Validator.check_schema(declaration(t, variant(d, n)))
            assert t.result["additionalProperties"] is False and t.result["required"], (d.name, t.key)
            for name in t.names:
                assert name.isidentifier() and name == name.lower() and name not in APP_TOOLS, name
                assert owner.setdefault(name, d.name) == d.name, f"{name} is declared by {owner[name]} and {d.name}"
            names = [n for p in t.params for n in p.names]
            assert len(names) == len(set(names)), (d.name, t.key)
            for p in t.params:
                assert 2 <= len(p.names) <= 4 and p.descriptions and all(len(x) <= 100 for x in p.descriptions), (d.name, p.key)
        # variants really differ: several spellings of the same tools
        spellings = {tuple(sorted(variant(d, n).names.values())) for n in range(20)}
        assert len(spellings) >= 3, d.name
    kinds = Counter(p.schema.get("type") for d in DOMAINS.values() for t in d.tools for p in t.params)
    assert {"string", "integer", "number", "boolean", "array"} <= set(kinds), kinds
    assert any(not p.required for d in DOMAINS.values() for t in d.tools for p in t.params)


# --- the simulators ---------------------------------------------------------------------------------------

def seeded(name: str, seed: int = 7, number: int = 0) -> tuple[Store, object]:
    store = Store()
    tools = build_synthetic_tools([{"domain": name, "seed": seed, "variant": number}], store)
    return store, tools


def harvest(store: Store, tables: dict[str, str]) -> list:
    """Values the state holds (ids, names, codes): random arguments drawn from them often hit real records."""
    values = set()
    for table in tables:
        for row in store.rows(f"SELECT * FROM {table}"):
            values.update(v for v in row.values() if isinstance(v, str) and len(v) < 40)
    return sorted(values)


def random_value(schema: dict, rng: random.Random, pool: list):
    kind = schema.get("type")
    if "enum" in schema:
        return rng.choice(schema["enum"])
    if kind == "boolean":
        return rng.random() < 0.5
    if kind == "integer":
        return rng.randint(schema.get("minimum", 0), schema.get("maximum", 50))
    if kind == "number":
        low = schema.get("minimum", schema.get("exclusiveMinimum", 0))
        return round(rng.uniform(low + 0.01, schema.get("maximum", low + 500)), 2)
    if kind == "array":
        return [random_value(schema["items"], rng, pool) for _ in range(rng.randint(0, 3))]
    if schema.get("format") == "date":
        return rng.choice(["2025-06-01", "2025-06-02", "2025-06-03", "2025-06-05", "2025-07-01", "tomorrow"])
    return rng.choice(pool + ["", "nonsense", "3pm", "Lissabon", "ZZZ", "15:00", "09:30", "fr", "zh"])


def scenario_tools(name: str) -> set[str]:
    """The tools a domain's scenarios call."""
    return {call.tool for index in range(len(DOMAINS[name].scenarios))
            for step in draw(name, index, "en")[2].steps for call in step}


@pytest.mark.parametrize("name", sorted(DOMAINS))
def test_tools_validate_on_random_arguments_and_reads_change_nothing(name):
    """Random arguments (values drawn from the state, junk, edge values) in two spellings of the declarations: every
    result validates against the tool's result shape (the simulator checks it and raises otherwise), every failure
    is a one-line error, and reads (and refused writes) leave the state as it was."""
    domain, rng = DOMAINS[name], random.Random(name)
    ok = Counter()
    for number in range(2):
        store, _ = seeded(name, seed=number, number=number)
        pool = harvest(store, domain.tables)
        v = variant(domain, number)
        for tool in domain.tools:
            run_tool = simulator(domain, tool, v, store)
            for _ in range(10):
                arguments = {v.params[(tool.key, p.key)][0]: random_value(p.schema, rng, pool)
                             for p in tool.params if p.required or rng.random() < 0.5}
                before = store.snapshot(domain.tables)
                result = run(run_tool(arguments))
                if result.is_error:
                    assert result.content.startswith("Error: ") and "\n" not in result.content, result.content
                else:
                    ok[tool.key] += 1
                if not tool.writes or result.is_error:
                    assert store.snapshot(domain.tables) == before, (name, tool.key, arguments, result.content)
    # every tool returned a real result to random arguments, or is one a scenario calls (with valid arguments)
    assert {t.key for t in domain.tools} <= set(ok) | scenario_tools(name), (name, ok)


@pytest.mark.parametrize("name", sorted(DOMAINS))
def test_same_seed_same_state(name):
    tables = DOMAINS[name].tables
    assert seeded(name, 11)[0].snapshot(tables) == seeded(name, 11)[0].snapshot(tables)


def test_seeds_make_different_worlds():
    differ = [n for n, d in DOMAINS.items() if seeded(n, 1)[0].snapshot(d.tables) != seeded(n, 2)[0].snapshot(d.tables)]
    assert len(differ) >= len(DOMAINS) - 3, sorted(set(DOMAINS) - set(differ))  # units, clock, dictionary hold fixed facts


# --- scenarios: the expert passes the judge, mutations fail ----------------------------------------------

@pytest.mark.parametrize("name", sorted(DOMAINS))
def test_every_scenario_passes_in_every_language_and_its_mutations_fail(name):
    domain = DOMAINS[name]
    for index, (kind, _) in enumerate(domain.scenarios):
        for n, language in enumerate(LANGUAGES):
            split = "heldout" if domain.split == "heldout" or n == 2 else "train"
            task, expert, _ = draw(name, index, language, split)
            messages = run(expert_conversation(task.environment(), expert()))
            grade = run(judge(task, messages))
            assert grade.passed, (name, kind, language, grade.reasons, messages[-1]["content"])
            assert task.request and messages[-1]["content"]
            if language == "zh":  # answers are in the user's language
                assert any("\u4e00" <= ch <= "\u9fff" for ch in messages[-1]["content"]), messages[-1]["content"]
            if n:
                continue
            # mutations, once per scenario: no tools at all, the last turn of calls dropped, one argument changed
            assert not regrade(task, [*messages[:2], messages[-1]]).passed, (name, kind, "answered without tools")
            assert not regrade(task, without_last_calls(messages)).passed, (name, kind, "dropped the last calls")
            assert any(not regrade(task, m).passed for m in changed_arguments(messages)), (name, kind, "no changed argument fails")
