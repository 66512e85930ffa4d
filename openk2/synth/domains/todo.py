"""To-do lists: open tasks per list, adding tasks with due dates, ticking them off."""

from __future__ import annotations

import random
from datetime import date, timedelta

from openk2.agent.apps.store import Store

from ..language import TODAY, day_phrase, show_day
from ..synthetic import Call, Domain, Scenario, ToolDef, register
from .common import BOOLEAN, INTEGER, STRING, array, obj, param, say

LISTS = {"personal": ["renew passport", "call grandma", "book dentist", "buy stamps", "return library books", "pay phone bill"],
         "work": ["send Q2 report", "review Ana's slides", "update the roadmap", "book team lunch", "submit expenses",
                  "prepare onboarding doc"],
         "groceries": ["milk", "apples", "pasta", "tomatoes", "yoghurt", "coffee beans", "bread"],
         "home": ["fix the tap", "water the plants", "clean the oven", "change bike tyre", "hang the mirror"]}
LIST_WORDS = {"work": ("work", "Arbeits", "工作"),
              "groceries": ("groceries", "Einkaufs", "购物"), "home": ("home", "Haushalts", "家务")}
LIST_WORDS["personal"] = ("personal", "Privat", "个人")  # German compounds: Privatliste, Arbeitsliste, ...

SCHEMA = """
CREATE TABLE IF NOT EXISTS syn_todo_items (item_id INTEGER PRIMARY KEY, list TEXT NOT NULL, text TEXT NOT NULL,
    done INTEGER NOT NULL, due TEXT);
"""


def seed(store: Store, rng: random.Random) -> None:
    rows, next_id = [], rng.randint(1, 80)
    for name, texts in LISTS.items():
        chosen = rng.sample(texts, 4)
        for i, text in enumerate(chosen):
            done = 1 if i == 3 else 0  # three open tasks and one done per list
            due = None if rng.random() < 0.4 else (TODAY + timedelta(days=rng.randint(-2, 12))).isoformat()
            rows.append((next_id, name, text, done, due))
            next_id += rng.randint(1, 3)
    store.executemany("INSERT INTO syn_todo_items VALUES (?, ?, ?, ?, ?)", rows)


def item(row: dict) -> dict:
    return {"item_id": row["item_id"], "list": row["list"], "text": row["text"], "done": bool(row["done"]), "due": row["due"]}


def check_list(name: str) -> str:
    name = name.strip().lower()
    if name not in LISTS:
        raise ValueError(f"no list called {name!r}; the lists are: {', '.join(LISTS)}")
    return name


def list_items(store: Store, args: dict) -> dict:
    name = check_list(args["list"])
    rows = store.rows("SELECT * FROM syn_todo_items WHERE list = ? ORDER BY item_id", [name])
    rows = [r for r in rows if args.get("include_done") or not r["done"]]
    return {"list": name, "items": [item(r) for r in rows]}


def add(store: Store, args: dict) -> dict:
    name = check_list(args["list"])
    due = args.get("due")
    if due is not None:
        try:
            date.fromisoformat(due)
        except ValueError:
            raise ValueError(f"due must be a date as YYYY-MM-DD, not {due!r}") from None
    item_id = store.execute("INSERT INTO syn_todo_items (list, text, done, due) VALUES (?, ?, 0, ?)",
                            [name, args["text"].strip(), due])
    return item(store.row("SELECT * FROM syn_todo_items WHERE item_id = ?", [item_id]))


def complete(store: Store, args: dict) -> dict:
    with store.transaction():
        row = store.row("SELECT * FROM syn_todo_items WHERE item_id = ?", [args["item_id"]])
        if row is None:
            raise ValueError(f"no task with id {args['item_id']}; list the tasks to find its id")
        if row["done"]:
            raise ValueError(f"task {row['item_id']} ({row['text']}) is already done")
        store.execute("UPDATE syn_todo_items SET done = 1 WHERE item_id = ?", [row["item_id"]])
    return item({**row, "done": 1})


ITEM = obj({"item_id": INTEGER, "list": STRING, "text": STRING, "done": BOOLEAN, "due": {"type": ["string", "null"]}})
LIST_PARAM = param("list", ("list", "list_name", "project"), STRING, "The list's name, e.g. work.", "Which to-do list.")
TOOLS = (
    ToolDef("list", ("list_todos", "get_tasks", "show_todo_list", "open_tasks"),
            ("The tasks on a to-do list (open ones unless asked).", "Show a to-do list."),
            (LIST_PARAM, param("include_done", ("include_done", "show_completed", "all"), BOOLEAN,
                               "Also show finished tasks (default false).", "Include completed tasks.", required=False)),
            obj({"list": STRING, "items": array(ITEM)}), list_items),
    ToolDef("add", ("add_todo", "create_task", "new_todo", "add_task"),
            ("Add a task to a to-do list.", "Create a to-do item, optionally with a due date."),
            (LIST_PARAM, param("text", ("text", "task", "title", "description"), STRING, "What needs doing.", "The task."),
             param("due", ("due", "due_date", "deadline"), {"type": "string", "format": "date"},
                   "Due date, YYYY-MM-DD (optional).", "When it is due.", required=False)),
            ITEM, add, writes=True),
    ToolDef("complete", ("complete_todo", "mark_done", "finish_task", "check_off_task"),
            ("Mark a task as done.", "Tick off a to-do item by id."),
            (param("item_id", ("item_id", "task_id", "id"), INTEGER, "The task's id from the list.", "Which task."),),
            ITEM, complete, writes=True),
)


def list_word(name: str, language: str) -> str:
    en, de, zh = LIST_WORDS[name]
    return {"en": f"{en} list", "de": f"{de}liste", "zh": f"{zh}清单"}[language]


def open_items(store: Store, name: str) -> list[dict]:
    return list_items(store, {"list": name})["items"]


def show_list_scenario(ctx, store: Store) -> Scenario:
    language = ctx.language
    name = ctx.rng.choice(list(LISTS))
    w = list_word(name, language)
    request = ctx.pick({
        "en": [f"What's still open on my {w}?", f"Read me my {w}.", f"What do I still have to do on the {w}?"],
        "de": [f"Was ist auf meiner {w} noch offen?", f"Lies mir meine {w} vor.", f"Was muss ich auf der {w} noch erledigen?"],
        "zh": [f"我的{w}上还有什么没做？", f"把我的{w}念给我听。", f"{w}上还有哪些待办？"],
    })
    items = open_items(store, name)

    def answer(results):
        texts = [x["text"] + (f" ({x['due']})" if x["due"] else "") for x in results[0][0]["items"]]
        return say(language, f"Open on your {w}: {'; '.join(texts)}.", f"Offen auf deiner {w}: {'; '.join(texts)}.",
                   f"你的{w}上还没完成的：{'；'.join(texts)}。")

    return Scenario(request, [[Call("list", {"list": name})]], answer, facts=[[x["text"]] for x in items])


NEW_TASKS = {"en": ["call the plumber", "buy a birthday card", "renew the car insurance", "book a haircut"],
             "de": ["den Klempner anrufen", "eine Geburtstagskarte kaufen", "die Kfz-Versicherung verlängern",
                    "einen Friseurtermin machen"],
             "zh": ["给水管工打电话", "买一张生日贺卡", "续保车险", "预约理发"]}


def add_request(ctx, text: str, w: str, when: str) -> str:
    return ctx.pick({
        "en": [f"Add '{text}' to my {w}, due {when}.", f"Put '{text}' on the {w}; it's due {when}.",
               f"Remind me via my {w}: '{text}', due {when}."],
        "de": [f"Setz '{text}' auf meine {w}, fällig {when}.", f"Trag '{text}' in die {w} ein, fällig {when}.",
               f"Nimm '{text}' in meine {w} auf, fällig {when}."],
        "zh": [f"把“{text}”加到我的{w}，{when}截止。", f"在{w}里添加“{text}”，期限{when}。", f"帮我在{w}上记一条：“{text}”，{when}前完成。"],
    })


def add_scenario(ctx, store: Store) -> Scenario:
    language = ctx.language
    name = ctx.rng.choice(["personal", "home"])
    text = ctx.rng.choice(NEW_TASKS[language])
    due = TODAY + timedelta(days=ctx.rng.randint(1, 11))
    w = list_word(name, language)
    request = add_request(ctx, text, w, day_phrase(due, language, ctx.rng)).replace("..", ".")

    def answer(results):
        r = results[-1][0]
        return say(language, f"Added '{r['text']}' to your {w}, due {show_day(due, language)}.",
                   f"'{r['text']}' steht jetzt auf deiner {w}, fällig am {show_day(due, language)}.",
                   f"已把“{r['text']}”加到你的{w}，截止{show_day(due, language)}。")

    return Scenario(request, [[Call("add", {"list": name, "text": text, "due": due.isoformat()})]], answer,
                    facts=[[text]], changes=[{"kind": "syn_todo_items", "op": "insert",
                                              "fields": {"list": name, "done": 0, "due": due.isoformat()},
                                              "contains": {"text": [[text]]}}])


def complete_scenario(ctx, store: Store) -> Scenario:
    """Chain: list the tasks to find the id, then tick the task off."""
    language = ctx.language
    name = ctx.rng.choice(list(LISTS))
    target = ctx.rng.choice(open_items(store, name))
    w = list_word(name, language)
    t = target["text"]
    request = ctx.pick({
        "en": [f"I've done '{t}'. Tick it off my {w}.", f"Mark '{t}' as done on the {w}.", f"Please check off '{t}' on my {w}."],
        "de": [f"'{t}' ist erledigt. Hak es auf meiner {w} ab.", f"Markier '{t}' auf der {w} als erledigt.",
               f"Bitte streich '{t}' von meiner {w}."],
        "zh": [f"“{t}”我已经做完了，在{w}上勾掉吧。", f"把{w}上的“{t}”标记为已完成。", f"请把我{w}上的“{t}”划掉。"],
    })

    def answer(results):
        return say(language, f"Done: '{t}' is ticked off your {w}.", f"Erledigt: '{t}' ist auf deiner {w} abgehakt.",
                   f"好的，已把{w}上的“{t}”标记为完成。")

    return Scenario(request, [[Call("list", {"list": name})], [Call("complete", {"item_id": target["item_id"]})]], answer,
                    facts=[[t]], changes=[{"kind": "syn_todo_items", "op": "update", "id": target["item_id"],
                                           "fields": {"done": 1}}])


def wrong_list_scenario(ctx, store: Store) -> Scenario:
    """The first call names the list as the user did ('shopping'); the error lists the real names; retry 'groceries'."""
    language = ctx.language
    thing = ctx.rng.choice({"en": ["oat milk", "batteries", "olive oil"], "de": ["Hafermilch", "Batterien", "Olivenöl"],
                            "zh": ["燕麦奶", "电池", "橄榄油"]}[language])
    guess = {"en": "shopping", "de": "Einkaufsliste", "zh": "购物清单"}[language]
    request = ctx.pick({
        "en": [f"Put {thing} on my shopping list.", f"Add {thing} to the shopping list, please.", f"We're out of {thing}; add it to my shopping list."],
        "de": [f"Schreib {thing} auf meine Einkaufsliste.", f"Setz bitte {thing} auf die Einkaufsliste.",
               f"Bitte {thing} auf meine Einkaufsliste setzen."],
        "zh": [f"把{thing}加到我的购物清单上。", f"请在购物清单里加上{thing}。", f"{thing}用完了，加到购物清单里吧。"],
    })

    def answer(results):
        return say(language, f"Added {thing} to your groceries list (that's what your shopping list is called).",
                   f"'{thing}' steht jetzt auf deiner Liste 'groceries' (so heißt deine Einkaufsliste).",
                   f"已把{thing}加到你的groceries（购物）清单里。")

    return Scenario(request, [[Call("add", {"list": guess, "text": thing})], [Call("add", {"list": "groceries", "text": thing})]],
                    answer, facts=[["groceries"], [thing]],
                    changes=[{"kind": "syn_todo_items", "op": "insert", "fields": {"list": "groceries", "done": 0},
                              "contains": {"text": [[thing]]}}])


register(Domain("todo", "both", SCHEMA, {"syn_todo_items": "item_id"}, seed, TOOLS,
                (("single", show_list_scenario), ("write", add_scenario), ("chain", complete_scenario),
                 ("error", wrong_list_scenario))))
