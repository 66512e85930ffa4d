"""Training data: token streams packed into fixed-length rows (pretraining), chats with assistant-only loss masks (SFT).

Pretraining files (a directory stands for every such file under it, sorted):
- `.txt`, `.md`, `.rst`, `.py`: one document per file, tokenised;
- `.jsonl`: one document per line, `{"text": "..."}` (tokenised) or `{"tokens": [ids]}` (pre-tokenised);
- `.bin`: pre-tokenised, a flat array of little-endian uint32 token ids, memory-mapped.
Tokenised documents end with the tokenizer's [EOS]; pre-tokenised ones are taken as they are.

SFT files are `.jsonl`, one chat per line: `{"messages": [...], "tools": [...]}` in the OpenAI format
that openk2.chat renders with K2's template. The loss covers exactly what the assistant writes:
its content, tool calls and closing <|im_end|>, not turn headers, prompts or tool results.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

from openk2.chat import encode_segments, render_segments
from openk2.tokenizer import Tokenizer

IGNORE = -100  # target id that cross_entropy skips (F.cross_entropy's default ignore_index)
TEXT_SUFFIXES = (".txt", ".md", ".rst", ".py")
DATA_SUFFIXES = (*TEXT_SUFFIXES, ".jsonl", ".bin")


def data_files(paths: list[str | Path], suffixes: tuple[str, ...] = DATA_SUFFIXES) -> list[Path]:
    """Expand files and directories into the data files to read, in a fixed order."""
    if not paths:
        raise ValueError("no data given: pass --data FILE_OR_DIR")
    files: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in suffixes)
            if not found:
                raise ValueError(f"{path} holds no data files ({', '.join(suffixes)})")
            files += found
        elif path.is_file():
            if path.suffix not in suffixes:
                raise ValueError(f"{path}: unsupported data file type {path.suffix or '(none)'!r}; use {', '.join(suffixes)}")
            files.append(path)
        else:
            raise FileNotFoundError(f"no data file or directory at {path}")
    return files


def read_jsonl(path: Path) -> Iterator[tuple[int, dict]]:
    """(line number, object) for each non-blank line; a bad line is a one-line error naming it."""
    with path.open(encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as e:
                raise ValueError(f"{path}:{number}: not valid JSON ({e.msg})") from None
            if not isinstance(record, dict):
                raise ValueError(f"{path}:{number}: expected a JSON object per line")
            yield number, record


class Batch(NamedTuple):
    """One micro-batch: inputs and targets [b, T] (long), valid [b, T] (bool: False on padding)."""

    inputs: torch.Tensor
    targets: torch.Tensor
    valid: torch.Tensor


# ---- pretraining: one long token stream, cut into rows ----------------------------------------


def load_token_stream(paths: list[str | Path], tokenizer: Tokenizer | None, vocab_size: int) -> np.ndarray:
    """Every document of every file, in order, tokenised and concatenated: [n_tokens] integers."""
    documents: list[np.ndarray | str] = []  # texts are tokenised together at the end: tiktoken encodes in threads

    def text(path: Path, body: str) -> str:
        if tokenizer is None:
            raise ValueError(f"{path} holds text, which needs a tokenizer: pass --tokenizer DIR (with tiktoken.model) "
                             "or pre-tokenised .bin / JSONL {\"tokens\": [...]} data")
        return body

    for path in data_files(paths):
        if path.suffix == ".bin":
            if path.stat().st_size % 4:
                raise ValueError(f"{path}: size is not a multiple of 4 bytes; .bin files hold uint32 token ids")
            documents.append(np.memmap(path, dtype="<u4", mode="r"))
        elif path.suffix == ".jsonl":
            for number, record in read_jsonl(path):
                if isinstance(record.get("tokens"), list):
                    documents.append(np.asarray(record["tokens"], dtype=np.int64))
                elif isinstance(record.get("text"), str):
                    documents.append(text(path, record["text"]) if record["text"] else np.zeros(0, dtype=np.int64))
                else:
                    raise ValueError(f"{path}:{number}: expected {{\"text\": str}} or {{\"tokens\": [int, ...]}}")
        else:
            body = path.read_text(encoding="utf-8", errors="replace")
            documents.append(text(path, body) if body else np.zeros(0, dtype=np.int64))  # no [EOS] for an empty file
    texts = [d for d in documents if isinstance(d, str)]
    if texts:
        encoded = iter(tokenizer.encode_batch(texts))
        documents = [np.asarray(next(encoded) + [tokenizer.eos_id], dtype=np.int64) if isinstance(d, str) else d for d in documents]
    # One .bin file stays memory-mapped (a corpus may exceed RAM); anything else is joined in memory.
    tokens = documents[0] if len(documents) == 1 else np.concatenate(documents) if documents else np.zeros(0, dtype=np.int64)
    if tokens.size == 0:
        raise ValueError(f"the data ({', '.join(map(str, paths))}) holds no tokens")
    if tokens.min() < 0 or tokens.max() >= vocab_size:
        bad = int(tokens.max() if tokens.max() >= vocab_size else tokens.min())
        raise ValueError(f"token id {bad} in the data is outside the model's vocabulary (0..{vocab_size - 1})")
    return tokens if isinstance(tokens, np.memmap) else tokens.astype(np.int32)


class PackedRows:
    """A token stream cut into rows of seq_len + 1 tokens: inputs row[:-1], targets row[1:].

    Consecutive rows share one token so that every token is predicted once; documents run on
    across rows (separated by [EOS]) instead of being padded, as in GPT-style pretraining.
    """

    def __init__(self, tokens: np.ndarray, seq_len: int):
        self.tokens, self.seq_len = tokens, seq_len
        self.n_rows = (len(tokens) - 1) // seq_len

    def __len__(self) -> int:
        return self.n_rows

    def batch(self, rows: np.ndarray) -> Batch:
        """rows [b] -> inputs, targets [b, seq_len]; nothing is padding."""
        T = self.seq_len
        block = torch.from_numpy(np.stack([np.asarray(self.tokens[r * T: r * T + T + 1], dtype=np.int64) for r in rows]))
        return Batch(block[:, :-1], block[:, 1:], torch.ones(len(rows), T, dtype=torch.bool))


# ---- SFT: one chat per row, loss on the assistant's tokens ------------------------------------


def chat_tokens(tokenizer: Tokenizer, messages: list[dict], tools: list[dict] | None = None) -> tuple[list[int], list[bool]]:
    """A conversation's token ids (K2's template, no generation prompt) and, per token, whether the assistant wrote it.

    Assistant segments are bounded by special tokens (<|im_middle|> before, <|im_end|> after), so
    encoding the trained and untrained runs separately gives the same ids as encoding the whole.
    """
    def written_by_assistant(segment) -> bool:
        return segment.message >= 0 and not segment.header and messages[segment.message]["role"] == "assistant"

    ids: list[int] = []
    trained: list[bool] = []
    for flag, run in itertools.groupby(render_segments(messages, tools, add_generation_prompt=False), key=written_by_assistant):
        run_ids = encode_segments(tokenizer, list(run))
        ids += run_ids
        trained += [flag] * len(run_ids)
    return ids, trained


@dataclass
class ChatRows:
    """Tokenised chats, each truncated to seq_len + 1 tokens; a batch pads to its longest row."""

    ids: list[np.ndarray]  # int32 [n_i]
    trained: list[np.ndarray]  # bool [n_i]
    pad_id: int
    seq_len: int

    def __len__(self) -> int:
        return len(self.ids)

    def batch(self, rows: np.ndarray) -> Batch:
        """rows [b] -> inputs, targets [b, T]: targets are IGNORE wherever the next token is not the assistant's."""
        T = max(len(self.ids[r]) for r in rows) - 1
        inputs = torch.full((len(rows), T), self.pad_id, dtype=torch.long)
        targets = torch.full((len(rows), T), IGNORE, dtype=torch.long)
        valid = torch.zeros(len(rows), T, dtype=torch.bool)
        for i, r in enumerate(rows):
            ids, trained = torch.from_numpy(self.ids[r].astype(np.int64)), torch.from_numpy(self.trained[r])
            n = len(ids) - 1
            inputs[i, :n], valid[i, :n] = ids[:-1], True
            targets[i, :n] = ids[1:].masked_fill(~trained[1:], IGNORE)
        return Batch(inputs, targets, valid)

    def subset(self, start: int, stop: int | None = None) -> ChatRows:
        return ChatRows(self.ids[start:stop], self.trained[start:stop], self.pad_id, self.seq_len)


def load_chats(paths: list[str | Path], tokenizer: Tokenizer, seq_len: int, vocab_size: int) -> ChatRows:
    """Read SFT JSONL files into ChatRows; chats with no assistant token left after truncation are dropped."""
    if tokenizer.vocab_size > vocab_size:
        raise ValueError(f"the tokenizer has {tokenizer.vocab_size} ids but the model's vocabulary is {vocab_size}")
    all_ids, all_trained = [], []
    for path in data_files(paths, suffixes=(".jsonl",)):
        for number, record in read_jsonl(path):
            if not isinstance(record.get("messages"), list):
                raise ValueError(f"{path}:{number}: expected {{\"messages\": [...], \"tools\": [...]}}")
            try:
                ids, trained = chat_tokens(tokenizer, record["messages"], record.get("tools"))
            except ValueError as e:
                raise ValueError(f"{path}:{number}: {e}") from None
            ids, trained = ids[: seq_len + 1], trained[: seq_len + 1]
            if any(trained[1:]):
                all_ids.append(np.asarray(ids, dtype=np.int32))
                all_trained.append(np.asarray(trained, dtype=bool))
    if not all_ids:
        raise ValueError(f"the data ({', '.join(map(str, paths))}) holds no chat with an assistant message to train on")
    return ChatRows(all_ids, all_trained, tokenizer.pad_id, seq_len)


# ---- which rows each rank trains on at each step ---------------------------------------------


def step_rows(n_rows: int, global_batch: int, step: int, seed: int) -> np.ndarray:
    """The global batch of step `step` (0-based): [global_batch] row indices.

    A pure function of (seed, step): each epoch is a fresh seeded permutation (the remainder that
    does not fill a batch is skipped), so a resumed run sees exactly the batches it would have seen.
    """
    steps_per_epoch = n_rows // global_batch
    if steps_per_epoch == 0:
        raise ValueError(f"the data makes {n_rows} rows but one optimizer step needs {global_batch} "
                         "(micro batch x grad accumulation x processes): add data or shrink the batch")
    epoch, index = divmod(step, steps_per_epoch)
    order = np.random.default_rng([seed, epoch]).permutation(n_rows)
    return order[index * global_batch: (index + 1) * global_batch]


def micro_batch_rows(rows: np.ndarray, micro_batch: int, micro_step: int, rank: int, world: int) -> np.ndarray:
    """This rank's share of a global batch for one micro-step; any split of the same global batch sees the same rows."""
    start = (micro_step * world + rank) * micro_batch
    return rows[start: start + micro_batch]
