"""The MLA latent KV cache: fixed-size blocks from one pool, allocated per sequence, with prefix reuse.

Per token and layer the cache holds C + R numbers (the normalised latent and the rotated rope key),
576 for Kimi K2. Full blocks are content-addressed by a hash chained over all earlier blocks, so a
new request whose prompt starts with the same blocks (same system prompt and tools) reuses them.
Freed blocks keep their contents and hash until the pool hands them out again (LRU).
"""

from __future__ import annotations

from collections import OrderedDict

import torch

from ..config import ModelConfig
from .sequence import Sequence


class KVCache:
    def __init__(self, config: ModelConfig, num_blocks: int, block_size: int = 16, dtype: torch.dtype = torch.bfloat16,
                 device: str | torch.device = "cpu"):
        if num_blocks < 1:
            raise ValueError("the KV cache needs at least one block: raise the memory budget")
        self.block_size = block_size
        self.num_blocks = num_blocks
        width = config.kv_lora_rank + config.qk_rope_head_dim
        self.tensor = torch.zeros(config.num_hidden_layers, num_blocks * block_size, width, dtype=dtype, device=device)
        self.ref_count = [0] * num_blocks
        self.free_blocks: OrderedDict[int, None] = OrderedDict((b, None) for b in range(num_blocks))  # oldest first
        self.block_key: list[tuple | None] = [None] * num_blocks  # (parent hash, tokens) of a full, computed block
        self.block_of_hash: dict[int, int] = {}

    @classmethod
    def from_budget(cls, config: ModelConfig, budget_bytes: int, block_size: int = 16,
                    dtype: torch.dtype = torch.bfloat16, device: str | torch.device = "cpu") -> KVCache:
        bytes_per_block = config.kv_cache_bytes_per_token(torch.tensor([], dtype=dtype).element_size()) * block_size
        return cls(config, budget_bytes // bytes_per_block, block_size, dtype, device)

    @property
    def num_free_blocks(self) -> int:
        return len(self.free_blocks)

    @property
    def capacity_tokens(self) -> int:
        return self.num_blocks * self.block_size

    def blocks_needed(self, num_tokens: int) -> int:
        return -(-num_tokens // self.block_size)

    # ---- allocation -------------------------------------------------------------------------
    def _take_free_block(self) -> int:
        block, _ = self.free_blocks.popitem(last=False)
        key = self.block_key[block]
        if key is not None and self.block_of_hash.get(hash(key)) == block:
            del self.block_of_hash[hash(key)]  # its old contents are about to be overwritten
        self.block_key[block] = None
        self.ref_count[block] = 1
        return block

    def _reuse(self, block: int) -> None:
        if self.ref_count[block] == 0:
            del self.free_blocks[block]
        self.ref_count[block] += 1

    def admit(self, seq: Sequence) -> None:
        """Attach the longest cached prefix of seq's tokens (full blocks only; the last token is always computed)."""
        assert not seq.block_table and seq.num_computed == 0
        parent = None
        for start in range(0, len(seq) - 1 - self.block_size + 1, self.block_size):
            key = (parent, tuple(seq.token_ids[start:start + self.block_size]))
            block = self.block_of_hash.get(hash(key))
            if block is None or self.block_key[block] != key:
                break
            self._reuse(block)
            seq.block_table.append(block)
            parent = hash(key)
            seq.block_hashes.append(parent)
        seq.num_computed = seq.num_cached_prompt = len(seq.block_table) * self.block_size

    def can_grow(self, seq: Sequence, num_tokens: int) -> bool:
        return self.blocks_needed(num_tokens) - len(seq.block_table) <= self.num_free_blocks

    def grow(self, seq: Sequence, num_tokens: int) -> None:
        """Give seq enough blocks to hold its first num_tokens tokens."""
        assert self.can_grow(seq, num_tokens)
        while len(seq.block_table) < self.blocks_needed(num_tokens):
            seq.block_table.append(self._take_free_block())

    def register_full_blocks(self, seq: Sequence) -> None:
        """Make seq's newly completed blocks findable by later requests with the same prefix."""
        bs = self.block_size
        for i in range(len(seq.block_hashes), seq.num_computed // bs):
            parent = seq.block_hashes[-1] if seq.block_hashes else None
            key = (parent, tuple(seq.token_ids[i * bs:(i + 1) * bs]))
            block = seq.block_table[i]
            self.block_key[block] = key
            self.block_of_hash.setdefault(hash(key), block)
            seq.block_hashes.append(hash(key))

    def free(self, seq: Sequence) -> None:
        # Reverse order: a sequence's last blocks are the least likely to be shared, so evict them first.
        for block in reversed(seq.block_table):
            self.ref_count[block] -= 1
            if self.ref_count[block] == 0:
                self.free_blocks[block] = None
        seq.block_table, seq.block_hashes = [], []
        seq.num_computed = 0

    def slots(self, seq: Sequence, start: int, stop: int) -> torch.Tensor:
        """Flat cache slot indices of seq's token positions [start, stop)."""
        positions = torch.arange(start, stop)
        table = torch.tensor(seq.block_table, dtype=torch.long)
        return table[positions // self.block_size] * self.block_size + positions % self.block_size
