"""openk2 synth: the expert solves the tasks, every checker can fail, splits do not overlap, output is reproducible."""

from __future__ import annotations

import asyncio
import json
import random
import re
import subprocess
import sys
from collections import Counter
from datetime import datetime, timedelta

import pytest

import openk2.synth as synth
from openk2.synth.cast import FIRST_NAMES, LAST_NAMES, pool_entities
from openk2.synth.cli import expert_outcomes
from openk2.synth.family import FAMILIES, Context, families_for
from openk2.synth.language import LANGUAGES
from openk2.synth.pipeline import make_one
from openk2.synth.rollout import judge, replay

FREE_TEXT = {"title", "body", "subject", "description", "content", "location"}


def run(coro):
    return asyncio.run(coro)


@pytest.fixture(scope="module")
def sample() -> list[synth.Task]:
    """One task per family, language and split (families cycle fastest, then languages)."""
    tasks = []
    for split in ("train", "heldout"):
        n = len(families_for(split)) * len(LANGUAGES)
        tasks += [o.task for o in synth.generate(n, seed=7, split=split)]
    assert all(t is not None for t in tasks), "the expert failed a task"
    return tasks


# --- the expert and the judge ---------------------------------------------------------------------

@pytest.mark.slow
def test_the_expert_solves_2000_tasks_in_every_family_and_language():
    outcomes = list(expert_outcomes(2000, seed=11, split="train", languages=LANGUAGES, workers=2))
    failed = [o for o in outcomes if o.task is None]
    assert len(failed) <= 2, [(o.family, o.grade.reasons) for o in failed[:5]]  # >= 99.9%
    seen = Counter((o.family, o.language) for o in outcomes if o.task is not None)
    for family in families_for("train"):
        for language in LANGUAGES:
            assert seen[(family.name, language)] > 0, f"{family.name} has no {language} task"


def test_every_family_and_language_and_split_is_present(sample):
    train = {f.name for f in families_for("train")}
    heldout = {f.name for f in families_for("heldout")}
    assert len(train | heldout) >= 30 and len(heldout - train) >= 5
    for split, names in (("train", train), ("heldout", heldout)):
        made = {(t.family, t.language) for t in sample if t.split == split}
        assert made == {(f, lang) for f in names for lang in LANGUAGES}
    tags = Counter(tag for f in FAMILIES.values() for tag in f.tags)
    for kind in ("single", "sequential", "parallel", "cross_app", "clarify", "decline", "recover", "change_mind", "synthetic", "chat"):
        assert tags[kind] >= 1, f"no family covers {kind}"


def test_tasks_round_trip_through_jsonl_and_replay_to_a_pass(sample, tmp_path):
    path = tmp_path / "tasks.jsonl"
    path.write_text("".join(json.dumps(t.to_dict(), ensure_ascii=False) + "\n" for t in sample))
    loaded = synth.load_tasks(path)
    assert [t.to_dict() for t in loaded] == [t.to_dict() for t in sample]
    for task in loaded[:: max(1, len(loaded) // 25)]:
        grade = run(judge(task, task.solution))
        assert grade.passed, (task.family, grade.reasons)


def test_tool_call_ids_follow_k2(sample):
    for task in sample:
        calls = [c for m in task.solution for c in m.get("tool_calls") or []]
        assert [c["id"] for c in calls] == [f"functions.{c['function']['name']}:{i}" for i, c in enumerate(calls)]
        results = [m["tool_call_id"] for m in task.solution if m["role"] == "tool"]
        assert results == [c["id"] for c in calls]


# --- every checker can fail ------------------------------------------------------------------------

def regrade(task: synth.Task, messages: list[dict]) -> synth.Grade:
    """Grade a mutated conversation as if it had happened: its calls replayed, their real results in place."""
    env, replayed, _ = run(replay(task, messages))
    return task.grade(env, replayed)


def drop_last_call(messages: list[dict]) -> list[dict]:
    last = max(i for i, m in enumerate(messages) if m.get("tool_calls"))
    ids = {c["id"] for c in messages[last]["tool_calls"]}
    return [m for i, m in enumerate(messages) if i != last and m.get("tool_call_id") not in ids]


def shifted(value):
    """A different value of the same kind: a day later, the next id, someone else, the opposite."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}(T\d{2}:\d{2})?", value):
        fmt = "%Y-%m-%dT%H:%M" if "T" in value else "%Y-%m-%d"
        return (datetime.strptime(value, fmt) + timedelta(days=1)).strftime(fmt)
    if isinstance(value, str) and re.fullmatch(r"\d{2}:\d{2}", value):
        return f"{(int(value[:2]) + 1) % 24:02d}{value[2:]}"
    if isinstance(value, list) and value and isinstance(value[0], str):
        return [FIRST_NAMES["train"][0] if value[0] != FIRST_NAMES["train"][0] else FIRST_NAMES["train"][1], *value[1:]]
    if isinstance(value, str):
        return value + "x"
    return None


def changed_arguments(messages: list[dict]):
    """Each way to change one key argument of one call (free text such as titles and bodies is left alone)."""
    for i, m in enumerate(messages):
        for j, call in enumerate(m.get("tool_calls") or []):
            arguments = json.loads(call["function"]["arguments"])
            for key, value in arguments.items():
                new = shifted(value)
                if key in FREE_TEXT or new is None:
                    continue
                calls = [dict(c) for c in m["tool_calls"]]
                calls[j] = {**call, "function": {**call["function"], "arguments": json.dumps({**arguments, key: new})}}
                yield [*messages[:i], {**m, "tool_calls": calls}, *messages[i + 1:]]


def skip_clarification(messages: list[dict]) -> list[dict]:
    """Remove the agent's question and the user's answer; every action stays."""
    question = next(i for i, m in enumerate(messages) if m["role"] == "assistant" and not m.get("tool_calls")
                    and i + 1 < len(messages) and messages[i + 1]["role"] == "user")
    return messages[:question] + messages[question + 2:]


def test_every_checker_fails_a_dropped_call_a_changed_argument_and_a_skipped_question(sample):
    for task in sample:
        messages = task.solution
        assert regrade(task, messages).passed
        if not any(m.get("tool_calls") for m in messages):  # no tools wanted: calling one must fail
            call = {"role": "assistant", "content": None, "tool_calls": [{"id": "functions.x:0", "type": "function",
                                                                           "function": {"name": "current_time", "arguments": "{}"}}]}
            assert not regrade(task, [*messages[:-1], call, {"role": "tool", "tool_call_id": "functions.x:0",
                                                              "name": "current_time", "content": "{}"}, messages[-1]]).passed
            continue
        dropped = regrade(task, drop_last_call(messages))
        assert not dropped.passed, f"{task.family}: dropping the last call still passes"
        assert any(not regrade(task, m).passed for m in changed_arguments(messages)), \
            f"{task.family}: no changed argument fails"
        if "clarify" in task.tags:
            skipped = regrade(task, skip_clarification(messages))
            assert not skipped.passed and skipped.category == "missing_clarification", (task.family, skipped)


def test_failure_categories():
    tasks = synth.generate_tasks("train", n=len(families_for("train")), seed=3, languages=("en",))
    meet = next(t for t in tasks if t.family == "cal_meet_first_free")
    grade = regrade(meet, meet.solution[:2])  # the agent never answered
    assert grade.category == "unfinished"
    which = next(t for t in tasks if t.family == "cal_which_person")
    assert regrade(which, skip_clarification(which.solution)).category == "missing_clarification"
    create = next(t for t in tasks if t.family == "cal_create")
    call = next(m for m in create.solution if m.get("tool_calls"))
    arguments = json.loads(call["tool_calls"][0]["function"]["arguments"])
    arguments = {**arguments, "start": shifted(arguments["start"]), "end": shifted(arguments["end"])}  # the next day
    wrong_day = [{**m, "tool_calls": [{**m["tool_calls"][0], "function": {**m["tool_calls"][0]["function"],
                                                                         "arguments": json.dumps(arguments)}}]}
                 if m is call else m for m in create.solution]
    assert regrade(create, wrong_day).category == "wrong_argument"
    bogus = [*create.solution[:2], {"role": "assistant", "content": None, "tool_calls": [
        {"id": "functions.nope:0", "type": "function", "function": {"name": "nope", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "functions.nope:0", "name": "nope", "content": "x"}, create.solution[-1]]
    assert regrade(create, bogus).category == "invalid_call"


# --- splits, phrasing, determinism -------------------------------------------------------------------

def test_train_and_heldout_share_no_entities_templates_or_heldout_families(sample):
    assert not pool_entities("train") & pool_entities("heldout")
    train_names = {p["name"] for t in sample if t.split == "train" for p in t.to_dict()["cast"]["people"]}
    heldout_names = {p["name"] for t in sample if t.split == "heldout" for p in t.to_dict()["cast"]["people"]}
    assert not {n.split()[0] for n in train_names} & {n.split()[0] for n in heldout_names}
    assert all(n.split()[0] in FIRST_NAMES["heldout"] and n.split()[-1] in LAST_NAMES["heldout"] for n in heldout_names)
    heldout_only = {f.name for f in FAMILIES.values() if f.heldout_only}
    assert not heldout_only & {t.family for t in sample if t.split == "train"}
    # Templates: a held-out context only ever picks every third phrasing, a training one never does.
    options = {lang: [f"{lang}-{i}" for i in range(9)] for lang in LANGUAGES}
    for split, wanted in (("train", {0, 1, 3, 4, 6, 7}), ("heldout", {2, 5, 8})):
        ctx = Context(random.Random(0), "de", split, None, None)
        assert {int(ctx.pick(options).split("-")[1]) for _ in range(300)} == wanted


def test_same_seed_same_bytes_whatever_the_workers(tmp_path):
    from typer.testing import CliRunner

    from openk2.cli import app

    for workers, out in ((1, tmp_path / "a"), (2, tmp_path / "b")):
        result = CliRunner().invoke(app, ["synth", "--out", str(out), "--n", "60", "--seed", "5", "--split", "heldout",
                                          "--workers", str(workers), "--no-progress"])
        assert result.exit_code == 0, result.output
        assert "verified conversations per minute" in result.output
    for name in ("tasks.jsonl", "conversations.jsonl"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    summary = json.loads((tmp_path / "a" / "summary.json").read_text())
    assert summary["kept"] + summary["rejected"] == 60 and summary["split"] == "heldout"
    chats = [json.loads(line) for line in (tmp_path / "a" / "conversations.jsonl").read_text().splitlines()]
    assert all({"messages", "tools"} <= set(c) for c in chats)


def test_sft_reads_the_conversations_as_they_are(tmp_path, sample):
    from openk2.tokenizer import train_bpe
    from openk2.train.data import IGNORE, load_chats

    path = tmp_path / "conversations.jsonl"
    path.write_text("".join(json.dumps({"messages": t.solution, "tools": [s.spec() for s in t.environment().tools]},
                                       ensure_ascii=False) + "\n" for t in sample[:12]))
    tokenizer = train_bpe([m.get("content") or "" for t in sample for m in t.solution], 2048)
    rows = load_chats([path], tokenizer, seq_len=8192, vocab_size=tokenizer.vocab_size)
    batch = rows.batch(list(range(len(rows))))
    assert len(rows) == 12 and (batch.targets != IGNORE).any()


# --- the command's bad input -------------------------------------------------------------------------

@pytest.mark.parametrize("arguments, message", [
    (["--n", "0"], "--n must be positive"),
    (["--languages", "en,fr"], "unknown language 'fr'"),
    (["--split", "test"], "unknown split 'test'"),
    (["--teacher-url", "http://127.0.0.1:9/v1"], "--teacher-url and --teacher-model go together"),
])
def test_bad_arguments_are_one_line_and_exit_1(tmp_path, arguments, message):
    result = subprocess.run([sys.executable, "-m", "openk2", "synth", "--out", str(tmp_path / "o"), *arguments],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1 and message in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_an_unwritable_out_dir_is_one_line(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = subprocess.run([sys.executable, "-m", "openk2", "synth", "--out", str(blocker / "sub"), "--n", "3"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1 and "not writable" in result.stderr and "Traceback" not in result.stderr
