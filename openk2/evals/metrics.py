"""The numbers evals report: pass^k (τ-bench's definition), rates and cost at per-million-token prices."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from math import comb

# Kimi K2's published list prices, USD per million tokens (cache miss input, output).
K2_PRICE_INPUT = 0.15
K2_PRICE_OUTPUT = 2.50


def pass_hat_k(outcomes: Iterable[tuple[str, bool]], k: int) -> float | None:
    """pass^k: the chance that k trials of a task, drawn from its n >= k trials without replacement, all pass,
    averaged over tasks -- C(c, k) / C(n, k) with c passing trials of n, as τ-bench computes it. Tasks with
    fewer than k trials are left out; None when no task has k trials."""
    per_task: dict[str, list[bool]] = defaultdict(list)
    for task, passed in outcomes:
        per_task[task].append(passed)
    scores = [comb(sum(runs), k) / comb(len(runs), k) for runs in per_task.values() if len(runs) >= k]
    return sum(scores) / len(scores) if scores else None


def rate(hits: int, total: int) -> float | None:
    return hits / total if total else None


@dataclass(frozen=True)
class Prices:
    """USD per million tokens."""

    input: float = K2_PRICE_INPUT
    output: float = K2_PRICE_OUTPUT

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        return (prompt_tokens * self.input + completion_tokens * self.output) / 1e6


def percent(value: float | None, digits: int = 1) -> str:
    """A fraction as a percentage for tables; '–' for no value."""
    return "–" if value is None else f"{100 * value:.{digits}f}%"
