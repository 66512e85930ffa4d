"""The checker: grade a finished conversation by the world's end state and the final reply, as τ-bench does.

A task's rubric (`Task.expect`) says which changes the world must show and nothing else:

    {"changes": [{"kind": "event", "op": "insert", "fields": {"start": ..., "minutes": 60, "attendees": [...]},
                  "contains": {"title": [["Roadmap"]]}}, ...],
     "answer": [["14:00", "2pm"], ["Anna"]],   # every group must appear in the final reply (any alternative)
     "grounded": true,                          # ... and in some tool result (the facts were looked up)
     "says": [["sorry", "leider", "抱歉"]],      # groups the reply must contain that no tool states
     "calls": ["find_free_slots"],              # tools that must have run without error (look before declining)
     "ask_first": true,                         # nothing may be written before the user's second message
     "no_tools": true}                          # the reply must come without any tool call (small talk)

Records are normalised (an event with its attendees and length; an e-mail with parsed recipients), keyed by
kind and id. Fields that only follow from other changes (seats left, unread flags) are not compared. A
change the rubric does not list is a failure, so "do nothing" tasks (declines, infeasible requests) pass only
when the world is untouched and the reply says why.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from openk2.agent.apps.store import Store
from openk2.agent.apps.world import from_db

# In the order a failed grade reports them: the first that applies names the failure.
CATEGORIES = ("missing_clarification", "wrong_tool", "wrong_argument", "invalid_call", "unfinished", "wrong_answer")
INVALID_CALL_PREFIXES = ("Error: invalid arguments", "Error: unknown tool")


@dataclass
class Grade:
    passed: bool
    category: str | None = None
    reasons: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"passed": self.passed, "category": self.category, "reasons": self.reasons}


def normalized_state(store: Store, synthetic_tables: dict[str, str] | None = None) -> dict[str, dict]:
    """kind -> {id: record}: the parts of the world a task can change, in comparable form."""
    attendees: dict[int, list[str]] = {}
    for row in store.rows("SELECT event_id, email FROM attendees"):
        attendees.setdefault(row["event_id"], []).append(row["email"])
    events = {}
    for e in store.rows("SELECT * FROM events"):
        start, end = from_db(e["start_utc"]), from_db(e["end_utc"])
        events[e["id"]] = {"title": e["title"], "start": e["start_utc"], "minutes": int((end - start).total_seconds() // 60),
                           "attendees": sorted(attendees.get(e["id"], [])), "location": e["location"],
                           "description": e["description"]}
    emails = {m["id"]: {"folder": m["folder"], "sender": m["sender"], "to": sorted(json.loads(m["recipients"])),
                        "cc": sorted(json.loads(m["cc"])), "subject": m["subject"], "body": m["body"],
                        "in_reply_to": m["in_reply_to"]}
              for m in store.rows("SELECT * FROM emails")}
    bookings = {b["id"]: {k: b[k] for k in ("kind", "item_id", "starts", "ends", "quantity", "fare", "status")}
                for b in store.rows("SELECT * FROM bookings")}
    people = {p["email"]: p for p in store.rows("SELECT * FROM people")}
    state = {"event": events, "email": emails, "booking": bookings, "person": people}
    for kind, key in (synthetic_tables or {}).items():
        state[kind] = {row[key]: row for row in store.rows(f"SELECT * FROM {kind}")}
    return state


@dataclass
class Change:
    kind: str
    op: str  # insert | update | delete
    id: object
    before: dict | None
    after: dict | None


def state_changes(before: dict[str, dict], after: dict[str, dict]) -> list[Change]:
    changes = []
    for kind in sorted(set(before) | set(after)):
        old, new = before.get(kind, {}), after.get(kind, {})
        for key in sorted(set(old) | set(new), key=str):
            if key not in old:
                changes.append(Change(kind, "insert", key, None, new[key]))
            elif key not in new:
                changes.append(Change(kind, "delete", key, old[key], None))
            elif old[key] != new[key]:
                changes.append(Change(kind, "update", key, old[key], new[key]))
    return changes


def fold(text: str) -> str:
    """Case, runs of whitespace and a number's zero decimals (308.0, 36.00) do not matter."""
    return re.sub(r"(\d)[.,]0+(?!\d)", r"\1", " ".join(str(text).split()).casefold())


def contains(text: str, alternatives: list[str]) -> bool:
    """Whether text holds one of the alternatives (case- and whitespace-insensitive). An alternative that
    starts or ends with a digit must not touch further digits there: "8" is not in "18" or "41.89", while
    "308" is in a JSON result's 308.0."""
    folded = fold(text)
    for alternative in alternatives:
        a = fold(alternative)
        if not a:
            continue
        if not (a[0].isdigit() or a[-1].isdigit()):
            if a in folded:
                return True
            continue
        before = r"(?<!\d)(?<!\d[.,])" if a[0].isdigit() else ""
        after = r"(?![.,]?\d)" if a[-1].isdigit() else ""
        if re.search(before + re.escape(a) + after, folded):
            return True
    return False


def matches(spec: dict, change: Change) -> bool:
    """Whether a change is exactly the one the rubric asks for."""
    if change.kind != spec["kind"] or change.op != spec["op"]:
        return False
    if spec["op"] != "insert" and change.id != spec.get("id"):
        return False
    if spec["op"] == "delete":
        return True
    record = change.after
    if any(not field_matches(record.get(k), v) for k, v in spec.get("fields", {}).items()):
        return False
    if any(not all(contains(record.get(k, ""), group) for group in groups) for k, groups in spec.get("contains", {}).items()):
        return False
    if spec["op"] == "update":  # nothing else about the record may have changed
        changed = {k for k in record if record[k] != change.before.get(k)}
        if changed - set(spec.get("fields", {})) - set(spec.get("contains", {})) - set(spec.get("free", [])):
            return False
    return True


def field_matches(value: object, wanted: object) -> bool:
    """Equality, or membership where the rubric allows several right values: {"any_of": [...]}."""
    if isinstance(wanted, dict) and set(wanted) == {"any_of"}:
        return value in wanted["any_of"]
    return value == wanted


def similar(spec: dict, change: Change) -> bool:
    """The same kind of change on the same record (so a mismatch is a wrong argument, not a missing step)."""
    return change.kind == spec["kind"] and change.op == spec["op"] and (spec["op"] == "insert" or change.id == spec.get("id"))


def final_reply(messages: list[dict]) -> str | None:
    last = messages[-1] if messages else None
    if not last or last.get("role") != "assistant" or last.get("tool_calls"):
        return None
    return last.get("content") or ""


def tool_results(messages: list[dict]) -> list[str]:
    return [str(m.get("content") or "") for m in messages if m.get("role") == "tool"]


def grade_conversation(expect: dict, before: dict, after: dict, messages: list[dict], write_tools: frozenset[str] | set[str]) -> Grade:
    """Grade a conversation by its end state (`after` against `before`) and its messages. See the module docstring."""
    problems: dict[str, list[str]] = {c: [] for c in CATEGORIES}
    results = {m.get("tool_call_id"): str(m.get("content") or "") for m in messages if m.get("role") == "tool"}
    if expect.get("ask_first"):
        users = [i for i, m in enumerate(messages) if m.get("role") == "user"]
        second = users[1] if len(users) > 1 else len(messages)
        for m in messages[:second]:
            for call in m.get("tool_calls") or []:
                # A write the tool refused changed nothing: only a write that went through skipped the question.
                if call["function"]["name"] in write_tools and not results.get(call["id"], "").startswith("Error"):
                    problems["missing_clarification"].append(
                        f"called {call['function']['name']} before the user answered the agent's question")
        if len(users) < 2:
            problems["missing_clarification"].append("never asked the user")
    succeeded = {c["function"]["name"] for m in messages for c in m.get("tool_calls") or []
                 if not results.get(c["id"], "Error").startswith("Error")}
    for name in expect.get("calls", []):
        if name not in succeeded:
            problems["unfinished"].append(f"never looked it up with {name}")
    unmatched = state_changes(before, after)
    for spec in expect.get("changes", []):
        found = next((c for c in unmatched if matches(spec, c)), None)
        if found:
            unmatched.remove(found)
            continue
        near = next((c for c in unmatched if similar(spec, c)), None)
        if near:
            unmatched.remove(near)
            problems["wrong_argument"].append(f"{spec['kind']} {spec['op']} differs from the request: got {near.after}")
        else:
            problems["unfinished"].append(f"missing: {spec['kind']} {spec['op']} {spec.get('fields') or spec.get('id')}")
    for change in unmatched:
        problems["wrong_tool"].append(f"unexpected {change.kind} {change.op} ({change.id})")
    for result in tool_results(messages):
        if result.startswith(INVALID_CALL_PREFIXES) or ": arguments are not valid JSON" in result:
            problems["invalid_call"].append(result[:160])
    if expect.get("no_tools") and any(m.get("tool_calls") for m in messages):
        problems["wrong_tool"].append("called a tool where a plain answer was wanted")
    reply = final_reply(messages)
    if reply is None:
        problems["unfinished"].append("the conversation does not end with the agent's answer")
    else:
        texts = tool_results(messages)
        for group in expect.get("answer", []):
            if not contains(reply, group):
                problems["wrong_answer"].append(f"the answer does not mention {group[0]!r}")
            elif expect.get("grounded") and not any(contains(r, group) for r in texts):
                problems["wrong_answer"].append(f"{group[0]!r} was not looked up with a tool")
        for group in expect.get("says", []):
            if not contains(reply, group):
                problems["wrong_answer"].append(f"the answer does not say {group[0]!r}")
    failing = [c for c in CATEGORIES if problems[c] and c != "invalid_call"]
    if not failing:
        return Grade(True)
    # An invalid call explains a failure only when something was left undone or done wrong because of it.
    if problems["invalid_call"] and failing[0] in ("unfinished", "wrong_answer"):
        failing.insert(0, "invalid_call")
    return Grade(False, failing[0], [r for c in CATEGORIES for r in problems[c]])
