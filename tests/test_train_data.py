"""Training data: file formats, packing, the data order, and SFT loss masks that cover exactly the assistant's tokens."""

from __future__ import annotations

import json

import numpy as np
import pytest

from openk2.chat import encode_prompt
from openk2.tokenizer import default_corpus, train_bpe
from openk2.train.data import (
    IGNORE,
    PackedRows,
    chat_tokens,
    load_chats,
    load_token_stream,
    micro_batch_rows,
    step_rows,
)


@pytest.fixture(scope="module")
def tokenizer():
    return train_bpe(default_corpus()[:40], 1024)


def write_jsonl(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def test_token_stream_reads_text_jsonl_and_bin(tmp_path, tokenizer):
    (tmp_path / "a.txt").write_text("def f(x):\n    return x\n")
    write_jsonl(tmp_path / "b.jsonl", [{"text": "hello world"}, {"tokens": [5, 6, 7]}])
    np.array([9, 10, 11], dtype="<u4").tofile(tmp_path / "c.bin")
    (tmp_path / "ignored.pyc").write_bytes(b"\x00")
    tokens = load_token_stream([tmp_path], tokenizer, vocab_size=1024)
    eos = tokenizer.eos_id
    expected = tokenizer.encode("def f(x):\n    return x\n") + [eos] + tokenizer.encode("hello world") + [eos] + [5, 6, 7] + [9, 10, 11]
    assert tokens.tolist() == expected  # files in sorted order, documents in file order


def test_a_single_bin_file_stays_memory_mapped(tmp_path):
    np.arange(100, dtype="<u4").tofile(tmp_path / "corpus.bin")
    tokens = load_token_stream([tmp_path / "corpus.bin"], None, vocab_size=1024)
    assert isinstance(tokens, np.memmap) and tokens[-1] == 99


@pytest.mark.parametrize(
    "setup, message",
    [
        (lambda d: None, "no data file or directory"),
        (lambda d: (d / "x.txt").write_text(""), "holds no tokens"),
        (lambda d: write_jsonl(d / "x.jsonl", [{"tokens": [1, 5000]}]), "token id 5000"),
        (lambda d: (d / "x.jsonl").write_text('{"text": "ok"}\n{oops\n'), "x.jsonl:2: not valid JSON"),
        (lambda d: write_jsonl(d / "x.jsonl", [{"words": "no"}]), 'expected {"text": str}'),
        (lambda d: (d / "x.bin").write_bytes(b"\x01\x02\x03"), "multiple of 4 bytes"),
        (lambda d: (d / "x.csv").write_text("a,b"), "unsupported data file type"),
    ],
)
def test_bad_pretraining_data_is_a_one_line_error(tmp_path, tokenizer, setup, message):
    setup(tmp_path)
    path = next(iter(tmp_path.iterdir()), tmp_path / "missing.txt")
    with pytest.raises((ValueError, FileNotFoundError), match=message.replace("{", r"\{").replace("(", r"\(")):
        load_token_stream([path], tokenizer, vocab_size=1024)


def test_text_without_a_tokenizer_asks_for_one(tmp_path):
    (tmp_path / "x.txt").write_text("text")
    with pytest.raises(ValueError, match="--tokenizer"):
        load_token_stream([tmp_path / "x.txt"], None, vocab_size=1024)


def test_packed_rows_predict_every_token_once():
    rows = PackedRows(np.arange(23, dtype=np.int32), seq_len=5)
    assert len(rows) == 4  # 22 predictions make 4 full rows of 5
    batch = rows.batch(np.array([0, 3]))
    assert batch.inputs.tolist() == [[0, 1, 2, 3, 4], [15, 16, 17, 18, 19]]
    assert batch.targets.tolist() == [[1, 2, 3, 4, 5], [16, 17, 18, 19, 20]]
    assert batch.valid.all()


def test_data_order_is_a_pure_function_of_seed_and_step_and_any_split_sees_the_global_batch():
    a, b = step_rows(50, 8, step=7, seed=3), step_rows(50, 8, step=7, seed=3)
    assert np.array_equal(a, b) and len(set(a.tolist())) == 8
    epoch = np.concatenate([step_rows(50, 8, s, seed=3) for s in range(6)])  # 6 steps per epoch, 2 rows left out
    assert len(set(epoch.tolist())) == 48
    one_process = np.concatenate([micro_batch_rows(a, 4, i, 0, 1) for i in range(2)])
    two_processes = np.concatenate([micro_batch_rows(a, 4, 0, r, 2) for r in range(2)])
    assert np.array_equal(np.sort(one_process), np.sort(a)) and np.array_equal(np.sort(two_processes), np.sort(a))
    with pytest.raises(ValueError, match="one optimizer step needs 64"):
        step_rows(50, 64, 0, 0)


CHAT = {
    "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}],
    "messages": [
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": "Let me check.", "tool_calls": [
            {"id": "functions.get_weather:0", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}]},
        {"role": "tool", "tool_call_id": "functions.get_weather:0", "content": "sunny, 24C"},
        {"role": "assistant", "content": "It is sunny in Paris."},
    ],
}


def trained_runs(tokenizer, ids, trained) -> list[str]:
    runs, current = [], []
    for token, flag in zip(ids + [None], trained + [False]):
        if flag:
            current.append(token)
        elif current:
            runs.append(tokenizer.decode(current))
            current = []
    return runs


def test_sft_mask_covers_exactly_the_assistant_tokens(tokenizer):
    ids, trained = chat_tokens(tokenizer, CHAT["messages"], CHAT["tools"])
    assert ids == encode_prompt(tokenizer, CHAT["messages"], CHAT["tools"], add_generation_prompt=False)
    assert trained_runs(tokenizer, ids, trained) == [
        ('Let me check.<|tool_calls_section_begin|><|tool_call_begin|>functions.get_weather:0<|tool_call_argument_begin|>'
         '{"city": "Paris"}<|tool_call_end|><|tool_calls_section_end|><|im_end|>'),
        "It is sunny in Paris.<|im_end|>",
    ]


def test_sft_targets_ignore_everything_but_the_assistant_and_padding(tmp_path, tokenizer):
    short = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}
    no_answer = {"messages": [{"role": "user", "content": "anyone?"}]}
    path = write_jsonl(tmp_path / "chats.jsonl", [CHAT, short, no_answer])
    rows = load_chats([path], tokenizer, seq_len=512, vocab_size=1024)
    assert len(rows) == 2  # the chat without an assistant turn has nothing to train on
    batch = rows.batch(np.array([0, 1]))
    for row in range(2):
        ids, trained = rows.ids[row].tolist(), rows.trained[row].tolist()
        n = len(ids) - 1
        expected = [t if f else IGNORE for t, f in zip(ids[1:], trained[1:])]
        assert batch.targets[row, :n].tolist() == expected
        assert batch.inputs[row, :n].tolist() == ids[:-1] and batch.valid[row, :n].all()
        assert (batch.targets[row, n:] == IGNORE).all() and not batch.valid[row, n:].any()
        assert (batch.inputs[row, n:] == tokenizer.pad_id).all()


def test_bad_sft_data_is_a_one_line_error(tmp_path, tokenizer):
    write_jsonl(tmp_path / "a.jsonl", [{"prompt": "x"}])
    with pytest.raises(ValueError, match=r"a.jsonl:1: expected \{\"messages\""):
        load_chats([tmp_path / "a.jsonl"], tokenizer, 64, 1024)
    write_jsonl(tmp_path / "a.jsonl", [{"messages": [{"role": "robot", "content": "x"}]}])
    with pytest.raises(ValueError, match="a.jsonl:1: message 0: role must be"):
        load_chats([tmp_path / "a.jsonl"], tokenizer, 64, 1024)
    with pytest.raises(ValueError, match="vocabulary is 512"):
        load_chats([tmp_path / "a.jsonl"], tokenizer, 64, 512)
