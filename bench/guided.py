"""Guided decoding's own costs, apart from the model: token masks per step, and compiling a tool grammar.

    .venv/bin/python bench/guided.py [--vocab 65536]

Trains a BPE vocabulary on Python's standard library (a few seconds), then prints, on one thread:
- per step, computing (llguidance) and applying (the sampler's `constrain`) the masks of 1, 16 and 64
  guided streams, each inside a free JSON string, where nearly every token is allowed;
- the time to check the schemas and build the grammar of 5, 20 and 60 random tools (`guide`, first time
  and cached), and to compile it into a matcher (first time and cached). A new agent turn compiles again,
  because the grammar spells out the next call index.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

import torch

from openk2.engine.grammar import Grammars, json_grammar
from openk2.engine.sampler import constrain
from openk2.server.answer_grammar import guide
from openk2.tokenizer import default_corpus, train_bpe

sys.path.insert(0, str(Path(__file__).parent.parent / "tests"))
from test_guided import random_object  # noqa: E402  -- the acceptance test's schema generator


def per_call(fn, repeats: int = 20) -> float:
    fn()
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - start) / repeats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vocab", type=int, default=65536, help="vocabulary size (the whole stdlib supports ~65K)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    tokenizer = train_bpe(default_corpus(0, 1), args.vocab)
    vocab = tokenizer.vocab_size
    grammars = Grammars(tokenizer, vocab, set(tokenizer.stop_ids))
    grammars.lltokenizer  # noqa: B018 -- built once, not timed

    note = json_grammar({"type": "object", "properties": {"note": {"type": "string"}}, "required": ["note"]})
    for streams in (1, 16, 64):
        matchers = [grammars.matcher(note) for _ in range(streams)]
        for matcher in matchers:
            matcher.consume_tokens(tokenizer.encode('{"note": "hello'))
        allowed = grammars.allowed(matchers, vocab)
        logits = torch.randn(streams, vocab)
        masks = per_call(lambda: grammars.allowed(matchers, vocab))
        apply = per_call(lambda: constrain(logits, list(range(streams)), allowed, in_place=True))
        print(f"{streams:2d} guided streams, vocab {vocab}: masks {masks * 1e3:6.2f} ms + apply {apply * 1e3:6.2f} ms "
              f"= {(masks + apply) * 1e3:6.2f} ms per step")

    rng = random.Random(0)
    for count in (5, 20, 60):
        tools = [{"type": "function", "function": {"name": f"tool_{i}", "parameters": random_object(rng)}}
                 for i in range(count)]
        start = time.perf_counter()
        grammar = guide(tools, "auto", True, None, 0).grammar
        first_guide = time.perf_counter() - start
        cached_guide = per_call(lambda: guide(tools, "auto", True, None, 0), repeats=3)
        start = time.perf_counter()
        grammars.matcher(grammar)
        compile_time = time.perf_counter() - start
        cached_compile = per_call(lambda: grammars.matcher(grammar), repeats=3)
        print(f"{count:2d} tools: guide {first_guide * 1e3:6.1f} ms (schemas checked before: {cached_guide * 1e3:5.1f} ms), "
              f"compile {compile_time * 1e3:6.1f} ms (same grammar again: {cached_compile * 1e3:5.2f} ms)")


if __name__ == "__main__":
    main()
