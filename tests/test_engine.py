"""The inference engine: cached MLA vs the uncached model, greedy parity with transformers, batching, cache, sampling."""

from __future__ import annotations

import asyncio
import random

import pytest
import torch
from hf_reference import make_hf_model

from openk2.checkpoint import load_model
from openk2.engine import Engine, EngineConfig, LLMEngine, SamplingParams

VOCAB = 320
GREEDY = dict(temperature=0, ignore_eos=True)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A tiny random checkpoint with group-limited routing, q compression and YaRN past a 16-token context."""
    path = tmp_path_factory.mktemp("engine_ckpt")
    yarn = dict(rope_type="yarn", rope_theta=10000.0, factor=8.0, original_max_position_embeddings=16,
                beta_fast=32.0, beta_slow=1.0, mscale=1.0, mscale_all_dim=1.0)
    hf_model = make_hf_model(seed=21, n_routed_experts=16, n_group=4, topk_group=2, num_experts_per_tok=3,
                             rope_parameters=yarn, max_position_embeddings=128)
    hf_model.save_pretrained(path)
    return path, hf_model


@pytest.fixture(scope="module")
def model(checkpoint):
    return load_model(checkpoint[0])


def make_engine(model, **overrides) -> LLMEngine:
    config = dict(cache_budget_bytes=4 * 1024**2, block_size=4, max_batch_tokens=24, max_seqs=64)
    return LLMEngine(model, config=EngineConfig(**{**config, **overrides}))


def random_prompts(n: int, seed: int, low: int = 1, high: int = 40) -> list[list[int]]:
    rng = random.Random(seed)
    return [[rng.randrange(VOCAB) for _ in range(rng.randint(low, high))] for _ in range(n)]


def hf_greedy(hf_model, prompt: list[int], n: int) -> list[int]:
    out = hf_model.generate(torch.tensor([prompt]), max_new_tokens=n, min_new_tokens=n, do_sample=False,
                            eos_token_id=None, pad_token_id=0)
    return out[0, len(prompt):].tolist()


@pytest.fixture
def prefill_form(model, request):
    from openk2.model import MLA

    attention = [m for m in model.modules() if isinstance(m, MLA)]
    for m in attention:
        m.prefill_form = request.param
    yield request.param
    for m in attention:
        m.prefill_form = "auto"


@pytest.mark.parametrize("prefill_form", ["absorbed", "expanded"], indirect=True)
def test_cached_logits_equal_uncached_logits(model, prefill_form):
    """Chunked prefill (either attention form) and absorbed decode give the training forward's logits."""
    engine = make_engine(model, max_batch_tokens=7)  # 30-token prompt: 5 chunks, then decodes
    prompt = random_prompts(1, seed=1, low=30, high=30)[0]
    seq = engine.add_request(prompt, SamplingParams(max_tokens=12, **GREEDY))
    step_logits = []
    while not seq.is_finished:
        plan = engine.scheduler.schedule()
        logits, sampled = engine.runner.run(plan)
        if sampled:
            step_logits.append(logits[0])
            seq.token_ids.append(int(logits[0].argmax()))
            if seq.num_output_tokens == 12:
                engine.scheduler.finish(seq, "length")
    with torch.no_grad():
        full = model(torch.tensor([seq.token_ids[:-1]]))[0]
    reference = full[len(prompt) - 1:]
    assert len(step_logits) == len(reference) == 12
    diff = (torch.stack(step_logits) - reference).abs().max().item()
    assert diff < 1e-4, diff
    assert engine.cache.num_free_blocks == engine.cache.num_blocks


@pytest.mark.parametrize("batch", [1, 8])
def test_greedy_equals_transformers_generate(checkpoint, model, batch):
    _, hf_model = checkpoint
    prompts = random_prompts(batch, seed=batch)
    engine = make_engine(model)
    outputs = engine.generate(prompts, SamplingParams(max_tokens=64, **GREEDY))
    for prompt, out in zip(prompts, outputs):
        assert out.finish_reason == "length"
        assert out.token_ids == hf_greedy(hf_model, prompt, 64)
    assert engine.cache.num_free_blocks == engine.cache.num_blocks


def test_32_concurrent_streams_equal_their_solo_runs(model):
    prompts = random_prompts(32, seed=32)
    lengths = [random.Random(i).randint(1, 24) for i in range(32)]
    solo = [make_engine(model).generate([p], SamplingParams(max_tokens=n, **GREEDY))[0].token_ids
            for p, n in zip(prompts, lengths)]
    engine = Engine(make_engine(model, max_batch_tokens=32))

    async def consume(prompt, n):
        stream = await engine.submit(prompt, SamplingParams(max_tokens=n, **GREEDY))
        return [event.token_id async for event in stream]

    async def main():
        return await asyncio.gather(*(consume(p, n) for p, n in zip(prompts, lengths)))

    try:
        streamed = asyncio.run(main())
    finally:
        engine.close()
    assert streamed == solo
    assert engine.llm.cache.num_free_blocks == engine.llm.cache.num_blocks


def test_cancelling_a_stream_frees_its_blocks(model):
    engine = Engine(make_engine(model))

    async def main():
        stream = await engine.submit(random_prompts(1, seed=5, low=20, high=20)[0], SamplingParams(max_tokens=100, **GREEDY))
        got = 0
        async for event in stream:
            got += 1
            if got == 3:
                assert engine.llm.cache.num_free_blocks < engine.llm.cache.num_blocks
                break  # the client goes away: leaving the loop closes the stream
        await stream.aclose()
        for _ in range(200):
            if engine.llm.cache.num_free_blocks == engine.llm.cache.num_blocks and not engine.llm.has_work:
                return True
            await asyncio.sleep(0.01)
        return False

    try:
        assert asyncio.run(main())
    finally:
        engine.close()


def test_prefix_reuse_skips_cached_blocks_and_keeps_outputs(model):
    engine = make_engine(model)
    prefix = random_prompts(1, seed=7, low=20, high=20)[0]
    first = engine.generate([prefix + [1, 2, 3]], SamplingParams(max_tokens=8, **GREEDY))[0]
    second = engine.generate([prefix + [4, 5]], SamplingParams(max_tokens=8, **GREEDY))[0]
    assert first.cached_tokens == 0
    assert second.cached_tokens == 20  # five full 4-token blocks of the shared prefix
    fresh = make_engine(model).generate([prefix + [4, 5]], SamplingParams(max_tokens=8, **GREEDY))[0]
    assert second.token_ids == fresh.token_ids


def test_preemption_under_a_small_cache_keeps_outputs_correct(model):
    prompts = random_prompts(6, seed=11, low=10, high=20)
    solo = [make_engine(model).generate([p], SamplingParams(max_tokens=30, **GREEDY))[0].token_ids for p in prompts]
    # 16 blocks of 4 tokens: not enough for six 40-50-token sequences at once.
    bytes_per_token = model.config.kv_cache_bytes_per_token(4)
    engine = make_engine(model, cache_budget_bytes=16 * 4 * bytes_per_token)
    assert engine.cache.num_blocks == 16
    outputs = engine.generate(prompts, SamplingParams(max_tokens=30, **GREEDY))
    assert [o.token_ids for o in outputs] == solo
    assert engine.cache.num_free_blocks == 16


def test_seeded_sampling_is_reproducible_and_varies_with_the_seed(model):
    engine = make_engine(model)
    prompt = random_prompts(1, seed=3)[0]
    params = dict(max_tokens=20, temperature=1.5, top_p=0.95, ignore_eos=True)
    a = engine.generate([prompt], SamplingParams(seed=1, **params))[0].token_ids
    b = engine.generate([prompt], SamplingParams(seed=1, **params))[0].token_ids
    c = engine.generate([prompt], SamplingParams(seed=2, **params))[0].token_ids
    assert a == b and a != c
    # Batched with others, a seeded request still gives the same tokens.
    batch = engine.generate([prompt, prompt[:3]], [SamplingParams(seed=1, **params), SamplingParams(seed=9, **params)])
    assert batch[0].token_ids == a


def test_top_k_1_and_tiny_min_p_window_are_greedy(model):
    engine = make_engine(model)
    prompt = random_prompts(1, seed=4)[0]
    greedy = engine.generate([prompt], SamplingParams(max_tokens=16, **GREEDY))[0].token_ids
    assert engine.generate([prompt], SamplingParams(max_tokens=16, temperature=1.0, top_k=1, ignore_eos=True))[0].token_ids == greedy
    assert engine.generate([prompt], SamplingParams(max_tokens=16, temperature=1.0, min_p=1.0, ignore_eos=True))[0].token_ids == greedy


def test_logprobs_are_the_models_log_softmax(model):
    engine = make_engine(model)
    prompt = random_prompts(1, seed=6)[0]
    out = engine.generate([prompt], SamplingParams(max_tokens=5, logprobs=True, **GREEDY))[0]
    with torch.no_grad():
        logits = model(torch.tensor([prompt + out.token_ids[:-1]]))[0, len(prompt) - 1:]
    expected = logits.log_softmax(-1).gather(1, torch.tensor(out.token_ids)[:, None]).squeeze(1)
    assert torch.allclose(torch.tensor(out.logprobs), expected, atol=1e-4)


def test_top_logprobs_and_stop_token_ids(model):
    engine = make_engine(model)
    prompt = random_prompts(1, seed=8)[0]
    greedy = engine.generate([prompt], SamplingParams(max_tokens=10, **GREEDY))[0].token_ids
    seq = engine.add_request(prompt, SamplingParams(max_tokens=10, top_logprobs=3, stop_token_ids=[greedy[4]], **GREEDY))
    events = []
    while not seq.is_finished:
        events += engine.step()
    assert [e.token_id for e in events] == greedy[:greedy.index(greedy[4]) + 1]
    assert events[-1].finish_reason == "stop"
    assert all(len(e.top_logprobs) == 3 and e.top_logprobs[0][0] == e.token_id for e in events)


def test_repetition_penalties_change_greedy_output(model):
    engine = make_engine(model)
    prompt = random_prompts(1, seed=10)[0]
    plain = engine.generate([prompt], SamplingParams(max_tokens=30, **GREEDY))[0].token_ids
    penalised = engine.generate([prompt], SamplingParams(max_tokens=30, frequency_penalty=2.0, presence_penalty=2.0, **GREEDY))[0].token_ids
    assert penalised != plain
    assert len(set(penalised)) >= len(set(plain))


def test_logit_bias_forces_and_bans_tokens_greedy_and_sampled(model):
    engine = make_engine(model)
    prompt = random_prompts(1, seed=11)[0]
    plain = engine.generate([prompt], SamplingParams(max_tokens=12, **GREEDY))[0]
    forced = engine.generate([prompt], SamplingParams(max_tokens=12, logit_bias={7: 100}, **GREEDY))[0]
    assert forced.token_ids == [7] * 12
    banned = set(plain.token_ids)
    outs = engine.generate([prompt] * 2, [SamplingParams(max_tokens=12, logit_bias={t: -100 for t in banned}, **GREEDY),
                                          SamplingParams(max_tokens=12, logit_bias={t: -100 for t in banned}, seed=3,
                                                         temperature=1.0, ignore_eos=True, logprobs=True)])
    assert all(not banned & set(out.token_ids) for out in outs)
    # Logprobs stay the model's own distribution: the chosen token's logprob is its unbiased log-softmax.
    biased = engine.generate([prompt], SamplingParams(max_tokens=1, logprobs=True, logit_bias={plain.token_ids[0]: -100},
                                                      **GREEDY))[0]
    with torch.no_grad():
        expected = model(torch.tensor([prompt]))[0, -1].log_softmax(-1)[biased.token_ids[0]]
    assert biased.token_ids[0] != plain.token_ids[0] and abs(biased.logprobs[0] - float(expected)) < 1e-4


def test_a_burst_from_one_owner_does_not_hold_back_another(model):
    """40 requests from one key, then 2 from another, 4 slots: the second key's start as soon as slots free up."""
    engine = make_engine(model, max_seqs=4)
    burst = [engine.add_request(p, SamplingParams(max_tokens=6, owner="flood", **GREEDY)) for p in random_prompts(40, 1, 4, 8)]
    late = [engine.add_request(p, SamplingParams(max_tokens=6, owner="polite", **GREEDY)) for p in random_prompts(2, 2, 4, 8)]
    started: list[str] = []
    while engine.has_work:
        engine.step()
        started += [s.request_id for s in engine.scheduler.running if s.request_id not in started]
    flood_before = [started.index(s.request_id) for s in late]
    assert max(flood_before) <= 6, started  # admitted within the next slots, not after the 40
    assert all(s.finish_reason == "length" for s in burst + late)


@pytest.mark.parametrize("prompt, params, message", [
    ([], dict(), "prompt is empty"),
    ([1, 2], dict(max_tokens=0), "max_tokens must be a positive integer"),
    ([1, 2], dict(max_tokens=-5), "max_tokens must be a positive integer"),
    ([1, 2], dict(temperature=-0.1), "temperature must be >= 0"),
    ([1, 2], dict(top_p=0.0), r"top_p must be in \(0, 1\]"),
    ([1, 2], dict(top_p=1.5), r"top_p must be in \(0, 1\]"),
    ([1, 2], dict(stop=["x"] * 17), "stop may hold at most 16"),
    ([1, 2], dict(max_tokens=127), "exceeds the model's context of 128 tokens"),
    ([1] * 129, dict(max_tokens=1), "exceeds the model's context"),
    ([1, VOCAB], dict(), "prompt token ids must be integers"),
    ([1, 2], dict(top_logprobs=21), "top_logprobs must be in"),
    ([1, 2], dict(logit_bias={VOCAB: 1.0}), r"logit_bias keys must be token ids in \[0, 320\)"),
    ([1, 2], dict(logit_bias={5: 101}), r"logit_bias values must be numbers in \[-100, 100\]"),
    ([1, 2], dict(logit_bias={5: float("nan")}), "logit_bias values must be numbers"),
    ([1, 2], dict(logit_bias={i: 1 for i in range(301)}), "logit_bias may hold at most 300"),
])
def test_bad_requests_are_refused_before_any_work(model, prompt, params, message):
    engine = make_engine(model)
    params = {"max_tokens": 8, **params}
    with pytest.raises(ValueError, match=message):
        engine.add_request(prompt, SamplingParams(**params))
    assert not engine.has_work and engine.cache.num_free_blocks == engine.cache.num_blocks


def test_a_failing_step_ends_requests_with_an_error_and_the_engine_keeps_serving(model, monkeypatch):
    llm = make_engine(model)
    engine = Engine(llm)
    real_step, calls = llm.step, []

    def flaky_step():
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("injected fault")
        return real_step()

    monkeypatch.setattr(llm, "step", flaky_step)

    async def consume(prompt):
        stream = await engine.submit(prompt, SamplingParams(max_tokens=5, **GREEDY))
        return [e async for e in stream]

    try:
        first = asyncio.run(consume([1, 2, 3]))
        second = asyncio.run(consume([4, 5, 6]))
    finally:
        engine.close()
    assert first[-1].finish_reason == "error"
    assert second[-1].finish_reason == "length" and len(second) == 5
    assert llm.cache.num_free_blocks == llm.cache.num_blocks
