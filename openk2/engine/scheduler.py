"""Continuous batching: each step, decode every running sequence, fill the rest with prompt chunks, admit newcomers.

A step is a list of (sequence, n): compute the sequence's next n uncached tokens. Decodes (n = 1)
go first so streams keep flowing; prompts are prefilled in chunks from the leftover token budget,
so a long prompt never freezes the other streams. When the cache runs out of blocks, the newest
running sequence is preempted: its blocks are freed and it is recomputed later (mostly from the
prefix cache, which keeps freed blocks until they are reused). Newcomers are admitted fairly between owners
(SamplingParams.owner, an API key): the oldest waiting request of the owner with the fewest running ones goes
first, so a client that queues a thousand requests delays another client's next request by one slot, not a thousand.
"""

from __future__ import annotations

from collections import Counter, deque

from .kv_cache import KVCache
from .sequence import Sequence, Status


class Scheduler:
    def __init__(self, cache: KVCache, max_batch_tokens: int = 256, max_seqs: int = 64):
        self.cache = cache
        self.max_batch_tokens = max_batch_tokens
        self.max_seqs = max_seqs
        self.waiting: deque[Sequence] = deque()
        self.running: list[Sequence] = []  # in admission order

    def add(self, seq: Sequence) -> None:
        self.waiting.append(seq)

    @property
    def has_work(self) -> bool:
        return bool(self.waiting or self.running)

    def schedule(self) -> list[tuple[Sequence, int]]:
        plan = self._schedule()
        while not plan and self.running:
            # Every running sequence waits for blocks that only another one could free (several pending tokens
            # each, after guided decoding's jump-forward, or prompt chunks): preempt the newest until one moves.
            self.preempt(self.running[-1])
            plan = self._schedule()
        return plan

    def _schedule(self) -> list[tuple[Sequence, int]]:
        plan: list[tuple[Sequence, int]] = []
        budget = self.max_batch_tokens
        # 1. Decodes and running prefills, oldest first; preempt the newest when blocks run out.
        i = 0
        while i < len(self.running) and budget > 0:
            seq = self.running[i]
            n = min(len(seq) - seq.num_computed, budget)
            n = self._fit(seq, n)
            while n == 0 and len(seq) - seq.num_computed == 1 and self.running[-1] is not seq:
                self.preempt(self.running[-1])  # a decode must not starve: make room
                n = self._fit(seq, 1)
            if n == 0 and len(seq) - seq.num_computed == 1:
                self.preempt(seq)  # the only sequence left cannot even decode: retry later
                continue
            if n:
                plan.append((seq, n))
                budget -= n
            i += 1
        # 2. Admit waiting sequences while budget, sequence slots and blocks last.
        while self.waiting and budget > 0 and len(self.running) < self.max_seqs:
            seq = self.next_waiting()
            self.cache.admit(seq)
            n = self._fit(seq, min(len(seq) - seq.num_computed, budget))
            if n == 0:
                self.cache.free(seq)  # no room yet: keep waiting, in order
                break
            self.waiting.remove(seq)
            seq.status = Status.RUNNING
            self.running.append(seq)
            plan.append((seq, n))
            budget -= n
        return plan

    def next_waiting(self) -> Sequence:
        """The oldest waiting sequence of the owner with the fewest running ones (preempted ones wait in front)."""
        running = Counter(s.params.owner for s in self.running)
        return min(enumerate(self.waiting), key=lambda pair: (running[pair[1].params.owner], pair[0]))[1]

    def _fit(self, seq: Sequence, n: int) -> int:
        """Grow seq's blocks for n more tokens, or for as many as the free blocks allow."""
        while n > 0 and not self.cache.can_grow(seq, seq.num_computed + n):
            n = min(n - 1, (len(seq.block_table) + self.cache.num_free_blocks) * self.cache.block_size - seq.num_computed)
        if n > 0:
            self.cache.grow(seq, seq.num_computed + n)
        return max(n, 0)

    def preempt(self, seq: Sequence) -> None:
        self.running.remove(seq)
        self.cache.free(seq)
        seq.status = Status.WAITING
        self.waiting.appendleft(seq)

    def finish(self, seq: Sequence, reason: str) -> None:
        if seq.status is Status.RUNNING:
            self.running.remove(seq)
            self.cache.free(seq)
        elif seq.status is Status.WAITING:
            self.waiting.remove(seq)
        seq.status = Status.FINISHED
        seq.finish_reason = reason
