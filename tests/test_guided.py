"""Guided decoding: with a random-weight model (the worst possible one), every tool call and every structured answer
matches its JSON Schema, streamed or not, through the real server and the official clients."""

from __future__ import annotations

import asyncio
import json
import random

import anthropic
import httpx
import jsonschema
import openai
import pytest
import torch
from conftest import live_server

from openk2.checkpoint import save_model
from openk2.config import ModelConfig
from openk2.engine import LLMEngine, SamplingParams
from openk2.engine.grammar import json_grammar
from openk2.model import CausalLM
from openk2.tokenizer import write_default_tokenizer

pytestmark = pytest.mark.usefixtures("one_torch_thread")
MODEL = "openk2-test"
USER = [{"role": "user", "content": "Plan my week."}]


@pytest.fixture(scope="module")
def random_checkpoint(tmp_path_factory):
    """An untrained 2-layer model: its next-token distribution is close to uniform over 4096 tokens."""
    path = tmp_path_factory.mktemp("random")
    write_default_tokenizer(path, 4096)
    config = ModelConfig(vocab_size=4096, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, kv_lora_rank=32, qk_nope_head_dim=16, qk_rope_head_dim=8,
                         v_head_dim=16, max_position_embeddings=4096)
    torch.manual_seed(0)
    save_model(CausalLM(config).eval(), path)
    return path


@pytest.fixture(scope="module")
def random_server(random_checkpoint, tmp_path_factory):
    with live_server(random_checkpoint, tmp_path_factory.mktemp("guided"),
                     engine={"cache_budget_bytes": 64 * 1024**2, "max_seqs": 32, "max_batch_tokens": 2048}) as live:
        yield live


# ---- schemas a tool might declare -----------------------------------------------------------------------------


def random_schema(rng: random.Random, depth: int = 0) -> dict:
    """A value schema: bounded numbers, enums, booleans, short strings, arrays with maxItems, nested objects."""
    kinds = ["integer", "number", "enum", "boolean", "string", "array"] + (["object"] * 2 if depth < 2 else [])
    kind = rng.choice(kinds)
    if kind == "integer":
        low = rng.randint(-100, 100)
        return {"type": "integer", "minimum": low, "maximum": low + rng.randint(0, 1000)}
    if kind == "number":
        low = rng.uniform(-50, 50)
        return {"type": "number", "minimum": round(low, 2), "maximum": round(low + rng.uniform(1, 100), 2)}
    if kind == "enum":
        return {"type": "string", "enum": rng.sample(["red", "green", "blue", "Paris", "Tokyo", "NYC", "high", "low"],
                                                     rng.randint(1, 4))}
    if kind == "boolean":
        return {"type": "boolean"}
    if kind == "string":
        return {"type": "string", "minLength": rng.randint(0, 2), "maxLength": rng.randint(3, 12)}
    if kind == "array":
        return {"type": "array", "items": random_schema(rng, depth + 1), "minItems": rng.randint(0, 1),
                "maxItems": rng.randint(1, 3)}
    return random_object(rng, depth + 1)


def random_object(rng: random.Random, depth: int = 0) -> dict:
    names = rng.sample(["city", "date", "guests", "nights", "budget", "tags", "room", "notify", "priority", "details"],
                       rng.randint(1, 4))
    properties = {name: random_schema(rng, depth) for name in names}
    return {"type": "object", "properties": properties, "required": rng.sample(names, rng.randint(0, len(names))),
            "additionalProperties": False}


def random_tools(rng: random.Random) -> list[dict]:
    names = rng.sample(["book_hotel", "send_email", "create_event", "search_flights", "add_to_cart"], rng.randint(1, 3))
    return [{"type": "function", "function": {"name": name, "description": f"{name} for the user",
                                              "parameters": random_object(rng)}} for name in names]


def validate_calls(tools: list[dict], calls) -> None:
    schemas = {t["function"]["name"]: t["function"]["parameters"] for t in tools}
    for call in calls:
        assert call.function.name in schemas
        jsonschema.validate(json.loads(call.function.arguments), schemas[call.function.name])


# ---- the acceptance runs -------------------------------------------------------------------------------------


def test_200_required_tool_calls_all_match_their_schemas(random_server):
    """200 sampled requests, each with its own random tools and tool_choice 'required': every call validates."""
    requests = []
    for i in range(200):
        rng = random.Random(i)
        requests.append(random_tools(rng))

    async def one(client, i, tools):
        return await client.chat.completions.create(model=MODEL, messages=USER, tools=tools, tool_choice="required",
                                                    temperature=1.0, seed=i, max_tokens=300)

    async def everyone():
        async with openai.AsyncOpenAI(base_url=f"{random_server.url}/v1", api_key="none", max_retries=0) as client:
            limit = asyncio.Semaphore(32)

            async def bounded(i, tools):
                async with limit:
                    return await one(client, i, tools)
            return await asyncio.gather(*(bounded(i, tools) for i, tools in enumerate(requests)))

    replies = asyncio.run(everyone())
    finished_with_calls = 0
    calls = 0
    for tools, reply in zip(requests, replies):
        choice = reply.choices[0]
        if choice.finish_reason == "length":
            continue  # cut short by max_tokens: not a finished call (the verifier does not count these either)
        assert choice.finish_reason == "tool_calls" and choice.message.tool_calls
        validate_calls(tools, choice.message.tool_calls)
        finished_with_calls += 1
        calls += len(choice.message.tool_calls)
    assert finished_with_calls >= 190, f"only {finished_with_calls} of 200 answers finished within max_tokens"
    assert calls > finished_with_calls  # parallel calls happen, and validate too
    random_server.wait_idle()


def test_streaming_and_non_streaming_agree(random_server):
    """Same seed, same answer: the streamed tool-call chunks reassemble to the non-streamed calls."""
    client = openai.OpenAI(base_url=f"{random_server.url}/v1", api_key="none", max_retries=0)
    for i in range(12):
        tools = random_tools(random.Random(1000 + i))
        choice = ["required", "auto", {"type": "function", "function": {"name": tools[-1]["function"]["name"]}}][i % 3]
        request = dict(model=MODEL, messages=USER, tools=tools, tool_choice=choice, temperature=1.0, seed=i,
                       max_tokens=300)
        whole = client.chat.completions.create(**request).choices[0]
        content, calls, finish = "", {}, None
        for chunk in client.chat.completions.create(**request, stream=True):
            for delta in chunk.choices:
                content += delta.delta.content or ""
                for call in delta.delta.tool_calls or []:
                    entry = calls.setdefault(call.index, {"id": "", "name": "", "arguments": ""})
                    entry["id"] += call.id or ""
                    entry["name"] += call.function.name or ""
                    entry["arguments"] += call.function.arguments or ""
                finish = delta.finish_reason or finish
        assert finish == whole.finish_reason and content == (whole.message.content or "")
        expected = [{"id": c.id, "name": c.function.name, "arguments": c.function.arguments}
                    for c in whole.message.tool_calls or []]
        assert [calls[k] for k in sorted(calls)] == expected
        if whole.finish_reason == "tool_calls":
            validate_calls(tools, whole.message.tool_calls)


def test_structured_outputs_match_json_schema(random_server):
    """response_format json_schema: 50 random object schemas, every finished answer parses and validates."""
    async def one(client, i):
        schema = random_object(random.Random(5000 + i))
        reply = await client.chat.completions.create(
            model=MODEL, messages=USER, temperature=1.0, seed=i, max_tokens=300,
            response_format={"type": "json_schema", "json_schema": {"name": "plan", "schema": schema, "strict": True}})
        return schema, reply.choices[0]

    async def everyone():
        async with openai.AsyncOpenAI(base_url=f"{random_server.url}/v1", api_key="none", max_retries=0) as client:
            return await asyncio.gather(*(one(client, i) for i in range(50)))

    finished = 0
    for schema, choice in asyncio.run(everyone()):
        if choice.finish_reason == "length":
            continue
        assert choice.finish_reason == "stop"
        jsonschema.validate(json.loads(choice.message.content), schema)
        finished += 1
    assert finished >= 45


def test_json_object_is_a_json_object(random_server):
    client = openai.OpenAI(base_url=f"{random_server.url}/v1", api_key="none", max_retries=0)
    for seed in range(5):
        reply = client.chat.completions.create(model=MODEL, messages=USER, response_format={"type": "json_object"},
                                               temperature=1.0, seed=seed, max_tokens=400).choices[0]
        if reply.finish_reason == "stop":
            assert isinstance(json.loads(reply.message.content), dict)


def test_tool_choice_modes(random_server):
    client = openai.OpenAI(base_url=f"{random_server.url}/v1", api_key="none", max_retries=0)
    tools = random_tools(random.Random(7)) + [{"type": "function", "function": {"name": "ping"}}]  # no parameters
    for seed in range(4):
        single = client.chat.completions.create(model=MODEL, messages=USER, tools=tools, tool_choice="required",
                                                parallel_tool_calls=False, temperature=1.0, seed=seed,
                                                max_tokens=300).choices[0]
        if single.finish_reason == "tool_calls":
            assert len(single.message.tool_calls) == 1
            validate_calls(tools[:-1], [c for c in single.message.tool_calls if c.function.name != "ping"])
            assert all(json.loads(c.function.arguments) == {} for c in single.message.tool_calls
                       if c.function.name == "ping")
        named = client.chat.completions.create(model=MODEL, messages=USER, tools=tools, temperature=1.0, seed=seed,
                                               tool_choice={"type": "function", "function": {"name": "ping"}},
                                               max_tokens=50).choices[0]
        assert named.finish_reason == "tool_calls" and [c.function.name for c in named.message.tool_calls] == ["ping"]
        assert named.message.tool_calls[0].function.arguments == "{}"
        assert named.message.tool_calls[0].id == "functions.ping:0"
        none = client.chat.completions.create(model=MODEL, messages=USER, tools=tools, tool_choice="none",
                                              temperature=1.0, seed=seed, max_tokens=60).choices[0]
        assert not none.message.tool_calls and "<|" not in (none.message.content or "")


def test_call_indices_continue_the_conversation(random_server):
    """A second-turn call gets the next running index (K2's functions.NAME:IDX), constrained, not repaired."""
    client = openai.OpenAI(base_url=f"{random_server.url}/v1", api_key="none", max_retries=0)
    tools = [{"type": "function", "function": {"name": "ping"}}]
    history = [*USER, {"role": "assistant", "content": "", "tool_calls": [
        {"id": "functions.ping:0", "type": "function", "function": {"name": "ping", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "functions.ping:0", "content": "pong"}]
    reply = client.chat.completions.create(model=MODEL, messages=history, tools=tools, tool_choice="required",
                                           parallel_tool_calls=False, seed=3, max_tokens=40).choices[0]
    assert [c.id for c in reply.message.tool_calls] == ["functions.ping:1"]


def test_anthropic_forced_tool_use_matches_input_schema(random_server):
    client = anthropic.Anthropic(base_url=random_server.url, api_key="none", max_retries=0)
    for seed in range(6):
        tools = random_tools(random.Random(9000 + seed))
        declared = [{"name": t["function"]["name"], "input_schema": t["function"]["parameters"]} for t in tools]
        choice = {"type": "any"} if seed % 2 else {"type": "tool", "name": declared[0]["name"]}
        reply = client.messages.create(model=MODEL, max_tokens=300, messages=USER, tools=declared, tool_choice=choice)
        if reply.stop_reason == "max_tokens":
            continue
        uses = [block for block in reply.content if block.type == "tool_use"]
        assert reply.stop_reason == "tool_use" and uses
        for use in uses:
            jsonschema.validate(use.input, next(d["input_schema"] for d in declared if d["name"] == use.name))


@pytest.mark.parametrize("schema, problem", [
    ({"type": "object", "properties": {"n": {"type": "integer", "minimum": "x"}}}, "'x' is not of type 'number'"),
    ({"type": "object", "properties": {"s": {"type": "string", "minLength": 5, "maxLength": 2}}, "required": ["s"]},
     "unsatisfiable"),
    ({"type": "object", "properties": {"r": {"$ref": "#/$defs/missing"}}}, "/$defs/missing"),
])
def test_unusable_schemas_are_a_400_naming_the_field(random_server, schema, problem):
    tools = [{"type": "function", "function": {"name": "ok", "parameters": {"type": "object"}}},
             {"type": "function", "function": {"name": "bad", "parameters": schema}}]
    random_server.wait_idle()
    rows_before = len(random_server.serving.ledger.rows())  # a generation that ran, even briefly, is billed
    with httpx.Client(base_url=random_server.url) as http:
        reply = http.post("/v1/chat/completions", json={"model": MODEL, "messages": USER, "tools": tools})
        assert reply.status_code == 400
        error = reply.json()["error"]
        assert error["param"] == "tools[1].function.parameters" and problem in error["message"]
        reply = http.post("/v1/chat/completions", json={"model": MODEL, "messages": USER, "response_format": {
            "type": "json_schema", "json_schema": {"name": "out", "schema": schema}}})
        assert reply.status_code == 400 and reply.json()["error"]["param"] == "response_format"
        assert problem in reply.json()["error"]["message"]
        reply = http.post("/v1/messages", json={"model": MODEL, "max_tokens": 10, "messages": USER, "tools": [
            {"name": "bad", "input_schema": schema}]})
        assert reply.status_code == 400 and problem in reply.json()["error"]["message"]
        assert "tools[0].input_schema" in reply.json()["error"]["message"]
    random_server.wait_idle()
    assert len(random_server.serving.ledger.rows()) == rows_before


# ---- the engine on its own -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def engine(random_checkpoint):
    return LLMEngine.from_pretrained(random_checkpoint, dtype=torch.float32)


def test_engine_grammar_limits_every_token(engine):
    grammar = 'start: ("yes" | "no" | "maybe") "!"\n'
    outputs = engine.generate([[1, 2, 3]] * 8, [SamplingParams(max_tokens=20, temperature=1.0, seed=s, grammar=grammar)
                                                for s in range(8)])
    assert {o.text for o in outputs} <= {"yes!", "no!", "maybe!"} and all(o.finish_reason == "stop" for o in outputs)
    assert len({o.text for o in outputs}) > 1  # sampled, not forced to one answer


def test_guided_and_free_requests_share_a_batch(engine):
    """A guided request next to unguided ones: the free ones are untouched (same tokens as alone)."""
    free = SamplingParams(max_tokens=12, temperature=0, ignore_eos=True)
    alone = engine.generate([[5, 6, 7]], free)[0].token_ids
    schema = {"type": "object", "properties": {"n": {"type": "integer", "minimum": 0, "maximum": 9}},
              "required": ["n"], "additionalProperties": False}
    guided = SamplingParams(max_tokens=30, temperature=1.0, seed=3, grammar=json_grammar(schema))
    guided_alone = engine.generate([[8, 9]], guided)[0]
    with_logprobs = SamplingParams(max_tokens=30, temperature=0, grammar=json_grammar(schema), logprobs=True,
                                   top_logprobs=3)
    mixed = engine.generate([[5, 6, 7], [8, 9], [5, 6, 7], [8, 9]], [free, guided, free, with_logprobs])
    assert mixed[0].token_ids == alone and mixed[2].token_ids == alone
    # A neighbour's logprobs do not change a guided request's jump-forward, so not its tokens either.
    assert mixed[1].token_ids == guided_alone.token_ids and json.loads(mixed[1].text)["n"] in range(10)
    assert json.loads(mixed[3].text)["n"] in range(10) and mixed[3].text.startswith('{"n": ')
    assert all(lp <= 0 and lp > float("-inf") for lp in mixed[3].logprobs)  # the model's own logprobs stay finite


def test_engine_refuses_bad_grammars_before_work(engine):
    with pytest.raises(ValueError, match="grammar"):
        engine.add_request([1, 2], SamplingParams(grammar="start: undefined_rule\n"))
    with pytest.raises(ValueError, match="grammar must be a non-empty string"):
        engine.add_request([1, 2], SamplingParams(grammar="  "))
    assert not engine.has_work


def test_vendor_verifier_measure_reports_100_percent(random_server, tmp_path):
    """`openk2 eval schema` (the K2 Vendor Verifier's measure), run as users run it, against the live server: every
    finished call validates."""
    import subprocess
    import sys

    out = tmp_path / "schema"
    result = subprocess.run([sys.executable, "-m", "openk2.evals.cli", "schema", "--base-url", random_server.url,
                             "--limit", "24", "--max-tokens", "160", "--temperature", "1.0", "--out", str(out)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    summary = json.loads((out / "report.json").read_text())["summary"]
    assert summary["failed"] == 0 and summary["count_finish_reason_tool_calls"] >= 8
    assert summary["count_successful_tool_call"] == summary["count_finish_reason_tool_calls"]
    assert summary["schema_accuracy"] == 1.0


def test_text_that_spells_a_marker_stays_text(random_server):
    """Markers are special tokens; ordinary tokens that spell one out (an argument holding `<|tool_call_end|>`, F#'s
    `<|`) are read as text, not as the end of a call or of the turn. The schemas force such text with `const`."""
    client = openai.OpenAI(base_url=f"{random_server.url}/v1", api_key="none", max_retries=0)
    tricky = {"end": "a <|tool_call_end|> b", "turn": "<|im_end|>", "code": "xs |> List.map f <| 3",
              "section": "<|tool_calls_section_begin|>"}
    schema = {"type": "object", "properties": {k: {"const": v} for k, v in tricky.items()},
              "required": list(tricky), "additionalProperties": False}
    tools = [{"type": "function", "function": {"name": "write", "parameters": schema}}]
    for stream in (False, True):
        request = dict(model=MODEL, messages=USER, tools=tools, tool_choice="required", max_tokens=200, seed=1)
        if stream:
            arguments = "".join(call.function.arguments or "" for chunk in client.chat.completions.create(
                **request, stream=True) for choice in chunk.choices for call in choice.delta.tool_calls or [])
        else:
            [call] = client.chat.completions.create(**request).choices[0].message.tool_calls
            arguments = call.function.arguments
        assert json.loads(arguments) == tricky
    answer = client.chat.completions.create(
        model=MODEL, messages=USER, tools=tools, tool_choice="none", max_tokens=200, seed=1,
        response_format={"type": "json_schema", "json_schema": {"name": "tricky", "schema": schema}}).choices[0]
    assert answer.finish_reason == "stop" and not answer.message.tool_calls
    assert json.loads(answer.message.content) == tricky


def test_forced_tokens_skip_sampling_steps(engine):
    """Jump-forward: what the grammar forces (keys of a closed object, quotes, separators) is appended without a
    decode step of its own, and the answer is the same JSON shape; with logprobs every token is sampled."""
    schema = {"type": "object", "properties": {"destination": {"enum": ["Paris", "Tokyo"]},
                                               "passengers": {"type": "integer", "minimum": 1, "maximum": 9},
                                               "window_seat": {"type": "boolean"}},
              "required": ["destination", "passengers", "window_seat"], "additionalProperties": False}

    def run(**extra):
        seq = engine.add_request([1, 2, 3], SamplingParams(max_tokens=80, temperature=1.0, seed=4,
                                                           grammar=json_grammar(schema), **extra))
        steps = 0
        while not seq.is_finished:
            engine.step()
            steps += 1
        jsonschema.validate(json.loads(seq.text), schema)
        return steps, seq.num_output_tokens

    steps, tokens = run()
    assert steps < tokens / 2, (steps, tokens)
    steps, tokens = run(logprobs=True)
    assert steps == tokens


def test_vllm_structured_outputs_in_chat_and_completions(random_server):
    """vLLM's extra parameter (extra_body={"structured_outputs": ...}): choice, regex, json and grammar, in both APIs."""
    import re

    client = openai.OpenAI(base_url=f"{random_server.url}/v1", api_key="none", max_retries=0)
    schema = {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"],
              "additionalProperties": False}
    cases = [({"choice": ["positive", "negative", "naïve \"quoted\""]},
              lambda text: text in ("positive", "negative", 'naïve "quoted"')),
             ({"regex": r"[A-Z]{2}-\d{3}"}, lambda text: re.fullmatch(r"[A-Z]{2}-\d{3}", text)),
             ({"json": schema}, lambda text: jsonschema.validate(json.loads(text), schema) is None),
             ({"json": json.dumps(schema)}, lambda text: jsonschema.validate(json.loads(text), schema) is None),
             ({"grammar": 'start: "v" DIGIT "." DIGIT\nDIGIT: /[0-9]/\n'}, lambda text: re.fullmatch(r"v\d\.\d", text))]
    for seed, (outputs, check) in enumerate(cases):
        extra = {"structured_outputs": outputs}
        chat = client.chat.completions.create(model=MODEL, messages=USER, seed=seed, max_tokens=60, extra_body=extra)
        assert chat.choices[0].finish_reason == "stop" and check(chat.choices[0].message.content)
        text = client.completions.create(model=MODEL, prompt="Answer:", seed=seed, max_tokens=60, extra_body=extra)
        assert text.choices[0].finish_reason == "stop" and check(text.choices[0].text)
        streamed = "".join(c.choices[0].text for c in client.completions.create(
            model=MODEL, prompt="Answer:", seed=seed, max_tokens=60, extra_body=extra, stream=True) if c.choices)
        assert streamed == text.choices[0].text


@pytest.mark.parametrize("extra, problem", [
    ({"structured_outputs": {"regex": "a", "choice": ["a"]}}, "exactly one of json, regex, choice, grammar"),
    ({"structured_outputs": {"regex": "(?=a)"}}, "look-around"),
    ({"structured_outputs": {"grammar": "start: missing"}}, "unknown name"),
    ({"structured_outputs": {"json": "{not json"}}, "structured_outputs.json is not JSON"),
    ({"structured_outputs": {"choice": []}}, "choice"),
    ({"structured_outputs": {"choice": ["a"]}, "response_format": {"type": "json_object"}}, "not both"),
    ({"structured_outputs": {"choice": ["a"]}, "tools": [{"type": "function", "function": {"name": "f"}}]},
     "cannot be combined with tools"),
])
def test_bad_structured_outputs_are_a_400(random_server, extra, problem):
    with httpx.Client(base_url=random_server.url) as http:
        reply = http.post("/v1/chat/completions", json={"model": MODEL, "messages": USER, **extra})
        assert reply.status_code == 400 and problem in reply.json()["error"]["message"], reply.text


def test_jump_forward_under_a_full_cache_keeps_going(random_checkpoint):
    """Forced tokens leave several tokens pending per sequence; with every block taken, the scheduler preempts
    instead of waiting forever, and both answers complete and match their grammar."""
    from openk2.engine import EngineConfig

    config = ModelConfig.from_json_file(random_checkpoint / "config.json")
    block_bytes = config.kv_cache_bytes_per_token(4) * 16  # float32
    small = LLMEngine.from_pretrained(random_checkpoint, dtype=torch.float32,
                                      config=EngineConfig(cache_budget_bytes=block_bytes * 4, block_size=16))
    assert small.cache.num_blocks == 4
    phrase = " and then a long forced phrase that goes on for many tokens"
    grammar = "start: " + " ".join(f'/[a-z]/ "{phrase}"' for _ in range(3)) + "\n"
    seqs = [small.add_request([1], SamplingParams(max_tokens=63, temperature=0, grammar=grammar)) for _ in range(2)]
    for _ in range(500):
        if not small.has_work:
            break
        small.step()
    assert all(s.finish_reason == "stop" for s in seqs), [(len(s), s.num_computed, s.status) for s in seqs]
    assert all(s.text.count(phrase) == 3 for s in seqs)


def test_keywords_the_grammar_cannot_enforce_refuse_nothing(random_server):
    """uniqueItems (common in MCP tools and pydantic set[...]) is loosened, not refused, in every tool_choice mode;
    tests/test_server_frontends.py checks that violations are reported."""
    odd = {"type": "function", "function": {"name": "tag", "parameters": {
        "type": "object", "properties": {"tags": {"type": "array", "items": {"type": "string"}, "uniqueItems": True}}}}}
    ping = {"type": "function", "function": {"name": "ping"}}
    with httpx.Client(base_url=random_server.url) as http:
        def chat(**extra):
            return http.post("/v1/chat/completions", json={"model": MODEL, "messages": USER, "max_tokens": 8,
                                                           "tools": [odd, ping], **extra})
        for choice in ("none", "auto", "required", {"type": "function", "function": {"name": "tag"}}):
            assert chat(tool_choice=choice).status_code == 200
        counted = http.post("/v1/messages/count_tokens", json={"model": MODEL, "messages": USER, "tools": [
            {"name": "tag", "input_schema": odd["function"]["parameters"]}]})
        assert counted.status_code == 200 and counted.json()["input_tokens"] > 0
        twice = http.post("/v1/chat/completions", json={"model": MODEL, "messages": USER, "tools": [ping, ping]})
        assert twice.status_code == 400 and "declared more than once: ping" in twice.json()["error"]["message"]


def test_a_broken_grammar_state_ends_the_request_with_an_error(engine):
    """Should a matcher ever reach an error state (a bug), its request ends with finish_reason 'error' at the next
    step instead of sampling from an empty mask; the engine goes on serving."""
    seq = engine.add_request([1, 2], SamplingParams(max_tokens=20, grammar='start: "yes" | "no"\n'))
    bad = next(t for t in range(engine.tokenizer.n_bpe) if engine.tokenizer.decode([t]) == "z")
    assert not seq.matcher.consume_token(bad) and seq.matcher.is_error()
    while not seq.is_finished:
        engine.step()
    assert seq.finish_reason == "error" and not engine.has_work
    assert engine.generate([[1, 2]], SamplingParams(max_tokens=5, grammar='start: "ok"\n'))[0].text == "ok"
