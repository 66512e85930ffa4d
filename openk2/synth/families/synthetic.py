"""Families over the synthetic tools: one lookup, parallel lookups, chained calls, writes, recovering from an error,
and (held out) domains the training split never shows. Each task declares its domain's tools in a drawn variant
plus tools of other domains as distractors, sometimes next to an app's tools."""

from __future__ import annotations

from ..family import Act, Context, Say, Skip, family
from ..synthetic import Domain, build_synthetic_tools, domains_for

DISTRACTORS = (0, 1, 1, 2, 2, 3)  # how many other domains' tools a task also declares


def synthetic_task(ctx: Context, kind: str, heldout_domains: bool = False):
    domains = [d for d in domains_for(ctx.split) if (d.split == "heldout") == heldout_domains]
    candidates = [(d, make) for d in domains for k, make in d.scenarios if k == kind]
    if not candidates:
        raise Skip(f"no {kind} scenario in these domains")
    domain, make = ctx.rng.choice(candidates)
    others = [d for d in domains_for(ctx.split) if d.name != domain.name and d.split == "both"]
    chosen: list[Domain] = [domain] + ctx.rng.sample(others, min(len(others), ctx.rng.choice(DISTRACTORS)))
    ctx.rng.shuffle(chosen)
    ctx.synthetic = [{"domain": d.name, "seed": ctx.rng.randrange(10**6), "variant": ctx.rng.randrange(10**4)} for d in chosen]
    try:
        tools = build_synthetic_tools(ctx.synthetic, ctx.world.store)  # seeds the domains' state into the world
    except ValueError:  # two drawn variants share a tool name
        raise Skip("tool names clash") from None
    ctx.apps = ctx.rng.choice([[], [], ["calendar"], ["email"], ["booking"]])
    scenario = make(ctx, ctx.world.store)
    ctx.request = scenario.request
    if scenario.facts:
        ctx.mention(*scenario.facts)
    if scenario.says:
        ctx.says(*scenario.says)
    ctx.expect["changes"] += scenario.changes

    def expert():
        results = []
        for step in scenario.steps:
            results.append((yield Act([tools.call_for(domain.name, call) for call in step])))
        yield Say(scenario.answer(results))
    return expert


@family("syn_lookup", (), ("synthetic", "single"))
def syn_lookup(ctx: Context):
    return synthetic_task(ctx, "single")


@family("syn_parallel", (), ("synthetic", "parallel"))
def syn_parallel(ctx: Context):
    return synthetic_task(ctx, "parallel")


@family("syn_chain", (), ("synthetic", "sequential"))
def syn_chain(ctx: Context):
    return synthetic_task(ctx, "chain")


@family("syn_write", (), ("synthetic", "single"))
def syn_write(ctx: Context):
    return synthetic_task(ctx, "write")


@family("syn_recover", (), ("synthetic", "recover"))
def syn_recover(ctx: Context):
    return synthetic_task(ctx, "error")


@family("syn_new_domain", (), ("synthetic", "single"), heldout_only=True)
def syn_new_domain(ctx: Context):
    return synthetic_task(ctx, ctx.rng.choice(["single", "single", "parallel", "chain", "write"]), heldout_domains=True)
