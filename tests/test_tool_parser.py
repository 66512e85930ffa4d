"""Tool-call parser: K2's generated text -> content, reasoning and tool calls, whole and streaming.

Example outputs and their expected calls come from:
- MoonshotAI/Kimi-K2 docs/tool_call_guidance.md ("Manually Parsing Tool Calls": the section,
  call, argument markers and the `functions.{func_name}:{idx}` id, name parsed from the id);
- vllm-project/vllm tests/tool_use/test_kimi_k2_tool_parser.py (content before the section,
  several calls, concatenated calls, mixed spacing, `<`/`>` and newlines inside JSON, invalid JSON);
- the Kimi-K2-Instruct HF discussion #48 (a call whose id is `call_...` instead of K2's form).
"""

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openk2.tokenizer import default_corpus, train_bpe
from openk2.tool_parser import MARKERS, OutputDelta, ParsedOutput, StreamingParser, ToolCall, ToolCallDelta, parse_output

S, E = "<|tool_calls_section_begin|>", "<|tool_calls_section_end|>"
B, A, C = "<|tool_call_begin|>", "<|tool_call_argument_begin|>", "<|tool_call_end|>"


def call(name, index, arguments):
    return ToolCall(f"functions.{name}:{index}", name, arguments)


DOCUMENTED = [
    # docs/tool_call_guidance.md: one call, the form its extract_tool_call_info() parses.
    (f'{S}{B}functions.get_weather:0{A}{{"city": "Beijing"}}{C}{E}',
     ParsedOutput("", "", (call("get_weather", 0, '{"city": "Beijing"}'),))),
    # vLLM tool_call_with_content_before
    (f"I'll help you check the weather. {S} {B}\nfunctions.get_weather:0 {A} {{\"city\": \"Beijing\"}} {C} {E}",
     ParsedOutput("I'll help you check the weather. ", "", (call("get_weather", 0, '{"city": "Beijing"}'),))),
    # vLLM multi_tool_call_with_content_before
    (f"I'll help you check the weather. {S} {B}\nfunctions.get_weather:0 {A} {{\"city\": \"Beijing\"}} {C} {B}\n"
     f"functions.get_weather:1 {A} {{\"city\": \"Shanghai\"}} {C} {E}",
     ParsedOutput("I'll help you check the weather. ", "",
                  (call("get_weather", 0, '{"city": "Beijing"}'), call("get_weather", 1, '{"city": "Shanghai"}')))),
    # vLLM three_concatenated_tool_calls
    (f"I'll help you with multiple tasks. {S}{B}functions.get_weather:0{A}{{\"city\": \"New York\"}}{C}"
     f"{B}functions.get_news:1{A}{{\"topic\": \"technology\"}}{C}"
     f"{B}functions.send_email:2{A}{{\"to\": \"user@example.com\", \"subject\": \"Daily Update\"}}{C}{E}",
     ParsedOutput("I'll help you with multiple tasks. ", "", (
         call("get_weather", 0, '{"city": "New York"}'), call("get_news", 1, '{"topic": "technology"}'),
         call("send_email", 2, '{"to": "user@example.com", "subject": "Daily Update"}')))),
    # vLLM mixed_spacing_tool_calls
    (f"Mixed spacing test. {S} {B} functions.test:0 {A} {{}} {C}{B}functions.test2:1{A}{{}}{C} {E}",
     ParsedOutput("Mixed spacing test. ", "", (call("test", 0, "{}"), call("test2", 1, "{}")))),
    # vLLM angle_brackets_in_json
    (f'I need to process HTML content. {S}{B}functions.process_html:0{A}{{"html": "<div>content</div>", "text": "normal text"}}{C}{E}',
     ParsedOutput("I need to process HTML content. ", "",
                  (call("process_html", 0, '{"html": "<div>content</div>", "text": "normal text"}'),))),
    # vLLM newlines_in_json
    (f'I need to process formatted JSON. {S}{B}functions.process_data:0{A}{{\n  "name": "test",\n  "value": 123\n}}{C}{E}',
     ParsedOutput("I need to process formatted JSON. ", "", (call("process_data", 0, '{\n  "name": "test",\n  "value": 123\n}'),))),
]


@pytest.mark.parametrize("text, expected", DOCUMENTED)
def test_documented_outputs(text, expected):
    assert parse_output(text) == expected
    for c in expected.tool_calls:
        json.loads(c.arguments)


def test_plain_text_and_openai_shape():
    assert parse_output("This is a test") == ParsedOutput("This is a test")
    assert call("f", 3, "{}").to_openai() == {"id": "functions.f:3", "type": "function", "function": {"name": "f", "arguments": "{}"}}


def test_names_with_dashes_underscores_and_conversation_wide_ids():
    text = f"{S}{B}functions.fetch-page_v2:7{A}{{}}{C}{B}functions.a_b-c:8{A}{{\"x\": 1}}{C}{E}"
    assert parse_output(text).tool_calls == (call("fetch-page_v2", 7, "{}"), call("a_b-c", 8, '{"x": 1}'))


def test_malformed_ids_get_k2_ids_from_the_conversation_counter():
    # HF Kimi-K2-Instruct discussion #48: the model wrote an OpenAI-style id.
    text = f'Now the files:{S}{B}call_59adf5614cfe{A}{{"path": "a"}}{C}{B}get_weather:0{A}{{}}{C}{B}functions.x.0{A}{{}}{C}{E}'
    parsed = parse_output(text, first_index=5)
    assert [(c.id, c.name) for c in parsed.tool_calls] == [
        ("functions.call_59adf5614cfe:5", "call_59adf5614cfe"), ("functions.get_weather:6", "get_weather"),
        ("functions.x.0:7", "x.0")]


def test_invalid_json_and_unknown_functions_are_reported_raw():
    text = f'{S}{B}functions.no_such_tool:0{A}{{"city": "Beijing"{C}{B}functions.ok:1{A}{{}}{C}{E}'
    assert parse_output(text).tool_calls == (call("no_such_tool", 0, '{"city": "Beijing"'), call("ok", 1, "{}"))


def test_reasoning_before_calls():
    text = f"<think>The user wants weather; call the tool.</think>Let me check.{S}{B}functions.get_weather:0{A}{{}}{C}{E}"
    assert parse_output(text) == ParsedOutput("Let me check.", "The user wants weather; call the tool.", (call("get_weather", 0, "{}"),))
    assert parse_output("\n<think>still thinking") == ParsedOutput("", "still thinking")
    # A call inside an unclosed think block ends the reasoning (K2-Thinking may call tools mid-thought).
    assert parse_output(f"<think>hmm{S}{B}functions.f:0{A}{{}}{C}{E}") == ParsedOutput("", "hmm", (call("f", 0, "{}"),))


def test_unterminated_output_keeps_what_arrived():
    assert parse_output(f'Checking.{S}{B}functions.search:0{A}{{"q": "long argu') == ParsedOutput(
        "Checking.", "", (call("search", 0, '{"q": "long argu'),))
    assert parse_output(f"Checking.{S}{B}functions.sea") == ParsedOutput("Checking.")
    assert parse_output("ends with <|tool_c") == ParsedOutput("ends with <|tool_c")  # not a marker after all


def test_missing_markers_are_tolerated():
    # No section marker; no call-end marker before the next call.
    text = f"{B}functions.a:0{A}{{}}{B}functions.b:1{A}{{\"k\": 2}}{C}"
    assert parse_output(text).tool_calls == (call("a", 0, "{}"), call("b", 1, '{"k": 2}'))
    # A header that never got its argument marker is dropped, the next call survives.
    assert parse_output(f"{S}{B}functions.a:0{B}functions.b:1{A}{{}}{C}{E}").tool_calls == (call("b", 1, "{}"),)


def test_markers_never_leak_into_content():
    assert parse_output(f"a{C}b{E}c{A}d").content == "abcd"
    assert parse_output("answer<|im_end|><|im_user|>user<|im_middle|>more").content == "answer"
    assert parse_output(f"done{S}{B}functions.f:0{A}{{}}{C}{E}trailing").content == "done"


def test_stream_deltas_are_openai_shaped():
    parser = StreamingParser()
    deltas = [parser.feed(piece) for piece in ["Hi ", f"{S}{B}functions.get_we", f"ather:0{A}", '{"city"', ': "Oslo"}', f"{C}{E}"]]
    deltas.append(parser.finish())
    assert deltas == [
        OutputDelta(content="Hi "),
        OutputDelta(),
        OutputDelta(tool_calls=[ToolCallDelta(0, "functions.get_weather:0", "get_weather", "")]),
        OutputDelta(tool_calls=[ToolCallDelta(0, arguments='{"city"')]),
        OutputDelta(tool_calls=[ToolCallDelta(0, arguments=': "Oslo"}')]),
        OutputDelta(),
        OutputDelta(),
    ]
    assert not deltas[1]


def test_end_and_begin_markers_in_one_delta():
    parser = StreamingParser()
    deltas = [parser.feed(f"{S}{B}functions.a:0{A}{{\"x\": 1"), parser.feed(f"}}{C}{B}functions.b:1{A}{{\"y\""), parser.feed(f": 2}}{C}{E}")]
    assert deltas[1].tool_calls == [ToolCallDelta(0, arguments="}"), ToolCallDelta(1, "functions.b:1", "b", ""), ToolCallDelta(1, arguments='{"y"')]
    assert parser.result.tool_calls == (call("a", 0, '{"x": 1}'), call("b", 1, '{"y": 2}'))


def collect(parser: StreamingParser, pieces) -> ParsedOutput:
    """Concatenate a stream's deltas into one parse, checking the deltas' shape on the way."""
    content, reasoning, calls = "", "", []
    for delta in [*(parser.feed(p) for p in pieces), parser.finish()]:
        content += delta.content
        reasoning += delta.reasoning
        for d in delta.tool_calls:
            if d.id is not None:
                assert d.index == len(calls) and d.name and d.arguments == ""
                calls.append([d.id, d.name, ""])
            else:
                assert d.arguments and d.index < len(calls)
                calls[d.index][2] += d.arguments
    return ParsedOutput(content, reasoning, tuple(ToolCall(*c) for c in calls))


STREAM_CASES = [text for text, _ in DOCUMENTED] + [
    f"<think>plan: call two tools</think>Sure!{S}{B}functions.a-b_c:4{A}{{\"long\": \"{'x' * 300}\"}}{C}{B}functions.d:5{A}{{}}{C}{E}",
    f"Grüße 你好 😀{S}{B}functions.übersetze:0{A}{{\"text\": \"日本語 😀\"}}{C}{E}<|im_end|>",
    f"{B}functions.a:0{A}{{}}{B}functions.b:1{A}{{}}",
    "just text with < and <| and </ and <think> in the middle",
    "   \n",
    f"x{S}{B}call_1{A}  {{ }}  ",
]


@pytest.mark.parametrize("text", STREAM_CASES)
def test_streaming_one_character_at_a_time_equals_final_parse(text):
    assert collect(StreamingParser(2), list(text)) == parse_output(text, 2)


@pytest.fixture(scope="module")
def tok():
    return train_bpe(default_corpus()[:40], 1024)


@pytest.mark.parametrize("text", STREAM_CASES)
def test_streaming_one_token_at_a_time_equals_final_parse(tok, text):
    decoder = tok.stream_decoder()
    pieces = [decoder.add(i) for i in tok.encode_with_specials(text)] + [decoder.flush()]
    assert collect(StreamingParser(), pieces) == parse_output(text)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(STREAM_CASES), st.randoms(use_true_random=False))
def test_random_splits_equal_final_parse(text, rng):
    cuts = sorted(rng.sample(range(len(text) + 1), k=min(len(text), rng.randint(0, 12))))
    pieces = [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)])]
    assert collect(StreamingParser(), pieces) == parse_output(text)


JUNK = st.lists(st.one_of(st.sampled_from(MARKERS), st.sampled_from(["<", "|", ">", "<|", "functions.", ":0", "{", "}", " ", "\n", "\"", "a"]),
                          st.text(max_size=4)), max_size=30).map("".join)


@settings(max_examples=400, deadline=None)
@given(JUNK, st.randoms(use_true_random=False), st.integers(0, 100))
def test_junk_never_raises_and_streams_consistently(text, rng, first_index):
    final = parse_output(text, first_index)
    assert not any(m in final.content for m in MARKERS if m.startswith("<|"))
    cuts = sorted(rng.sample(range(len(text) + 1), k=min(len(text), rng.randint(0, 10))))
    pieces = [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)])]
    assert collect(StreamingParser(first_index), pieces) == final


def test_many_small_deltas_stay_fast():
    text = "word " * 2000 + f"{S}{B}functions.f:0{A}" + json.dumps({"k": "v" * 4000}) + f"{C}{E}"
    parser = StreamingParser()
    pieces = [text[i : i + 4] for i in range(0, len(text), 4)]
    assert collect(parser, pieces) == parse_output(text)


def test_literal_text_never_forms_a_marker():
    """Deltas fed as literal (ordinary tokens) cannot open, close or end anything, however they are split;
    the special tokens around them still frame the call."""
    parser = StreamingParser()
    pieces = [("Code: xs <", True), ("|> f <|im_end|> ok", True),
              ("<|tool_calls_section_begin|>", False), ("<|tool_call_begin|>", False), ("functions.f:0", True),
              ("<|tool_call_argument_begin|>", False), ('{"s": "<|tool_call_', True), ('end|> <", "b": "|"}', True),
              ("<|tool_call_end|>", False), ("<|tool_calls_section_end|>", False)]
    deltas = [parser.feed(text, literal=literal) for text, literal in pieces] + [parser.finish()]
    result = parser.result
    assert result.content == "Code: xs <|> f <|im_end|> ok"
    assert [(c.id, c.name) for c in result.tool_calls] == [("functions.f:0", "f")]
    assert result.tool_calls[0].arguments == '{"s": "<|tool_call_end|> <", "b": "|"}'
    assert "".join(d.content for d in deltas) == result.content
    assert "".join(c.arguments for d in deltas for c in d.tool_calls) == result.tool_calls[0].arguments
