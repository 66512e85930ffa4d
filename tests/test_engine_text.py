"""The engine with a tokenizer: text deltas, stop strings, and the `openk2 generate` / `openk2 chat` commands."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from hf_reference import TINY

from openk2.engine import LLMEngine, SamplingParams


@pytest.fixture(scope="module")
def text_checkpoint(tmp_path_factory):
    """A tiny random model with a real trained tokenizer (768 BPE tokens + K2's 256 special slots)."""
    path = tmp_path_factory.mktemp("text_ckpt")
    config = {**TINY, "model_type": "kimi_k2", "vocab_size": 1024, "bos_token_id": 768, "eos_token_id": 769,
              "max_position_embeddings": 256}
    (path / "tiny.json").write_text(json.dumps(config))
    result = subprocess.run([sys.executable, "-m", "openk2", "init", str(path / "ckpt"), "--config",
                             str(path / "tiny.json"), "--dtype", "float32"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return path / "ckpt"


@pytest.fixture(scope="module")
def engine(text_checkpoint):
    return LLMEngine.from_pretrained(text_checkpoint)


def run_streaming(engine: LLMEngine, prompt: list[int], params: SamplingParams):
    seq = engine.add_request(prompt, params)
    events = []
    while not seq.is_finished:
        events += engine.step()
    return seq, events


def test_text_deltas_concatenate_to_the_decoded_output(engine):
    prompt = engine.tokenizer.encode("def parse(text):\n    return")
    seq, events = run_streaming(engine, prompt, SamplingParams(max_tokens=40, temperature=0, ignore_eos=True))
    streamed = "".join(e.text for e in events)
    assert streamed == seq.text == engine.tokenizer.decode(seq.output_ids, skip_special_tokens=True)
    assert events[-1].finish_reason == "length"


def test_stop_string_cuts_the_text_and_never_leaks(engine):
    prompt = engine.tokenizer.encode("import os\nimport sys\n")
    plain = engine.generate([prompt], SamplingParams(max_tokens=60, temperature=0, ignore_eos=True))[0].text
    stop = next(plain[i:i + 3] for i in range(8, len(plain) - 3) if plain[i:i + 3].strip() and "\ufffd" not in plain[i:i + 3])
    seq, events = run_streaming(engine, prompt, SamplingParams(max_tokens=60, temperature=0, ignore_eos=True, stop=[stop]))
    streamed = "".join(e.text for e in events)
    assert streamed == plain[:plain.index(stop)]
    assert events[-1].finish_reason == "stop" and events[-1].stop == stop  # which stop matched, without re-decoding
    assert all(e.stop is None for e in events[:-1])
    assert engine.cache.num_free_blocks == engine.cache.num_blocks


def test_events_name_the_stop_token_and_mark_special_tokens(engine):
    """A stop token is reported by id (and is not text); a special token is flagged, so the server can tell a
    marker the model emitted from text that merely spells one out."""
    tokenizer = engine.tokenizer
    prompt = tokenizer.encode("import os\nimport sys\n")
    plain = engine.generate([prompt], SamplingParams(max_tokens=12, temperature=0, ignore_eos=True))[0]
    stop_token = plain.token_ids[5]
    seq, events = run_streaming(engine, prompt, SamplingParams(max_tokens=12, temperature=0, ignore_eos=True,
                                                               stop_token_ids=[stop_token]))
    first = plain.token_ids.index(stop_token)
    assert seq.output_ids == plain.token_ids[:first + 1] and events[-1].stop == stop_token
    assert seq.text == tokenizer.decode(plain.token_ids[:first], skip_special_tokens=True)
    assert not any(e.special for e in events)  # ordinary BPE tokens
    marker = tokenizer.special_id("<|tool_call_begin|>")
    seq, events = run_streaming(engine, prompt, SamplingParams(max_tokens=3, temperature=0,
                                                               grammar="start: <|tool_call_begin|> \"ok\"\n"))
    assert events[0].token_id == marker and events[0].special and events[0].text == "<|tool_call_begin|>"
    assert not events[-1].special and events[-1].finish_reason == "stop" and events[-1].stop is None


def cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "openk2", *args], capture_output=True, text=True, input=stdin,
                          timeout=180)


def test_generate_command_streams_a_reply(text_checkpoint, engine):
    result = cli("generate", "-m", str(text_checkpoint), "hello", "--max-tokens", "12", "--temperature", "0",
                 "--dtype", "float32")
    assert result.returncode == 0, result.stderr
    assert "12 tokens" in result.stderr and "finish: length" in result.stderr
    from openk2.chat import encode_prompt

    expected = engine.generate([encode_prompt(engine.tokenizer, [{"role": "user", "content": "hello"}])],
                               SamplingParams(max_tokens=12, temperature=0))[0]
    assert result.stdout == expected.text + "\n"


def test_chat_command_keeps_a_conversation(text_checkpoint):
    result = cli("chat", "-m", str(text_checkpoint), "--max-tokens", "5", "--temperature", "0",
                 stdin="hi there\n/reset\nsecond question\n/exit\n")
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("5 tokens") == 2 and "conversation cleared" in result.stderr


def test_cli_refuses_a_checkpoint_without_tokenizer(tmp_path):
    from hf_reference import make_hf_model

    make_hf_model().save_pretrained(tmp_path)
    result = cli("generate", "-m", str(tmp_path), "hi")
    assert result.returncode == 1 and "has no tokenizer" in result.stderr and "Traceback" not in result.stderr


def test_generate_with_a_json_schema(text_checkpoint, tmp_path):
    """--json-schema: the random model's reply is JSON matching the schema; a schema that cannot guide is one line."""
    import jsonschema

    schema = {"type": "object", "properties": {"answer": {"enum": ["yes", "no"]},
                                               "confidence": {"type": "integer", "minimum": 0, "maximum": 100}},
              "required": ["answer", "confidence"], "additionalProperties": False}
    (tmp_path / "schema.json").write_text(json.dumps(schema))
    result = cli("generate", "-m", str(text_checkpoint), "Is it raining?", "--json-schema", str(tmp_path / "schema.json"),
                 "--seed", "1", "--max-tokens", "40", "--dtype", "float32")
    assert result.returncode == 0, result.stderr
    jsonschema.validate(json.loads(result.stdout), schema)
    (tmp_path / "bad.json").write_text(json.dumps({"type": "object", "properties": {"a": {"minLength": -1}}}))
    result = cli("generate", "-m", str(text_checkpoint), "hi", "--json-schema", str(tmp_path / "bad.json"))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [f"error: {tmp_path / 'bad.json'} cannot guide decoding: invalid "
                                                  "JSON Schema at properties/a/minLength: -1 is less than the minimum of 0"]
