"""Tokenizer benchmark: encode MB/s of our tiktoken Tokenizer vs the `tokenizers` library, and bytes/token.

    .venv/bin/python bench/tokenizer.py                 # vocab 4K, 8K, 16K; under a minute on 2 cores
    .venv/bin/python bench/tokenizer.py --vocab 16384 --repeat 5

Both tokenizers hold the same vocabulary: the `tokenizers` BPE is trained on the stdlib corpus
(every third file), ours is exported from it (openk2.tokenizer.tokenizer_from_hf_bpe). Throughput
is measured on the held-out files (the next third, about 4 MB), single-threaded on one long
string and multi-threaded over the files as a batch; best of --repeat runs.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable

from openk2.tokenizer import default_corpus, tokenizer_from_hf_bpe, train_hf_bpe


def best_seconds(run: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def bench_vocab(vocab_size: int, train: list[str], held_out: list[str], repeat: int, threads: int) -> None:
    start = time.perf_counter()
    hf = train_hf_bpe(train, vocab_size)
    ours = tokenizer_from_hf_bpe(hf)
    train_seconds = time.perf_counter() - start

    text = "\n".join(held_out)
    megabytes = len(text.encode()) / 1e6
    # Counted per file: on one long string K2 (and so we) cut every 400k characters.
    our_ids, hf_ids = ours.encode_batch(held_out), [e.ids for e in hf.encode_batch(held_out)]
    n_tokens = sum(map(len, our_ids))
    same = all(len(a) == len(b) for a, b in zip(our_ids, hf_ids))
    agreement = "same token counts as" if same else "token counts differ from"
    print(f"vocab {vocab_size:>6}: trained in {train_seconds:.1f}s; held-out {megabytes:.1f} MB -> {n_tokens:,} tokens, "
          f"{megabytes * 1e6 / n_tokens:.2f} bytes/token ({agreement} tokenizers in every file)")

    rows = [
        ("one string, 1 thread", lambda: ours.encode(text), lambda: hf.encode(text)),
        (f"batch of {len(held_out)} files, {threads} threads",
         lambda: ours.encode_batch(held_out, num_threads=threads), lambda: hf.encode_batch(held_out)),
    ]
    for label, run_ours, run_hf in rows:
        ours_mbs = megabytes / best_seconds(run_ours, repeat)
        hf_mbs = megabytes / best_seconds(run_hf, repeat)
        print(f"    {label:<32} ours {ours_mbs:7.2f} MB/s   tokenizers {hf_mbs:7.2f} MB/s"
              f"   ratio {ours_mbs / hf_mbs:5.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vocab", type=int, nargs="+", default=[4096, 8192, 16384],
                        help="vocabulary sizes, counting the 256 special slots")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per measurement; the best counts")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="threads for the batch encode")
    args = parser.parse_args()
    # `tokenizers` sizes its thread pool from this variable; give both libraries the same count.
    os.environ["RAYON_NUM_THREADS"] = str(args.threads)
    train, held_out = default_corpus(part=0), default_corpus(part=1)
    print(f"corpus: {len(train)} stdlib files for training, {len(held_out)} held out; {args.threads} threads")
    for vocab_size in args.vocab:
        bench_vocab(vocab_size, train, held_out, args.repeat, args.threads)


if __name__ == "__main__":
    main()
