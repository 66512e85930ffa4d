"""Run one scheduled step: flatten the sequences' new tokens into one batch and call the model's cached forward."""

from __future__ import annotations

import torch

from ..model import CacheBatch, CausalLM
from .kv_cache import KVCache
from .sequence import Sequence


class ModelRunner:
    def __init__(self, model: CausalLM, cache: KVCache):
        self.model = model
        self.cache = cache

    def prepare(self, plan: list[tuple[Sequence, int]]) -> tuple[torch.Tensor, torch.Tensor, CacheBatch, list[Sequence]]:
        """-> input ids [N], positions [N], the CacheBatch, and the sequences that get a next token (in logits order)."""
        ids: list[int] = []
        positions: list[torch.Tensor] = []
        slot_mapping: list[torch.Tensor] = []
        decode_rows: list[int] = []
        decode_contexts: list[torch.Tensor] = []
        prefills: list[tuple[slice, torch.Tensor, torch.Tensor]] = []
        logits_rows: list[int] = []
        sampled: list[Sequence] = []
        contexts: list[torch.Tensor] = []
        firsts: list[torch.Tensor] = []
        lengths_of_rows: list[torch.Tensor] = []
        row = context_offset = 0
        for seq, n in plan:
            start, stop = seq.num_computed, seq.num_computed + n
            ids.extend(seq.token_ids[start:stop])
            positions.append(torch.arange(start, stop))
            context = self.cache.slots(seq, 0, stop)  # [L]: every cached slot this chunk attends to
            slot_mapping.append(context[start:])
            contexts.append(context)
            firsts.append(torch.full((n,), context_offset, dtype=torch.long))
            lengths_of_rows.append(torch.arange(start + 1, stop + 1))
            context_offset += stop
            if n == 1:
                decode_rows.append(row)
                decode_contexts.append(context)
            else:
                # Query i (at position start + i) sees keys 0 .. start + i.
                causal = torch.arange(stop)[None, :] <= torch.arange(start, stop)[:, None]  # [n, L]
                prefills.append((slice(row, row + n), context, causal.unsqueeze(1)))
            if stop == len(seq):
                logits_rows.append(row + n - 1)
                sampled.append(seq)
            row += n

        decode_slots = decode_mask = None
        if decode_rows:
            lengths = torch.tensor([len(c) for c in decode_contexts])
            decode_slots = torch.nn.utils.rnn.pad_sequence(decode_contexts, batch_first=True)  # [Sd, L], padded with slot 0
            decode_mask = (torch.arange(decode_slots.shape[1])[None, :] < lengths[:, None]).unsqueeze(1)  # [Sd, 1, L]
        batch = CacheBatch(
            slot_mapping=torch.cat(slot_mapping),
            decode_rows=torch.tensor(decode_rows) if decode_rows else None,
            decode_slots=decode_slots,
            decode_mask=decode_mask,
            prefills=prefills,
            logits_rows=torch.tensor(logits_rows, dtype=torch.long),
            all_decode=len(decode_rows) == row,
            token_context=(torch.cat(contexts), torch.cat(firsts), torch.cat(lengths_of_rows)),
        )
        return torch.tensor(ids, dtype=torch.long), torch.cat(positions), batch, sampled

    def run(self, plan: list[tuple[Sequence, int]]) -> tuple[torch.Tensor, list[Sequence]]:
        """Compute the plan's tokens into the cache; -> logits [S', V] for the sequences in the returned list."""
        input_ids, positions, batch, sampled = self.prepare(plan)
        device = self.cache.tensor.device
        logits = self.model.forward_cached(input_ids.to(device), positions.to(device), batch, self.cache.tensor)
        for seq, n in plan:
            seq.num_computed += n
            self.cache.register_full_blocks(seq)
        return logits, sampled
