"""Notes: search, create and append to the user's notes."""

from __future__ import annotations

import random

from openk2.agent.apps.store import Store

from ..synthetic import Call, Domain, Scenario, ToolDef, register
from .common import INTEGER, STRING, array, obj, param, say

NOW = "2025-06-02T09:00"
# title -> (tag, lines the seed draws from)
SEEDED = {
    "Gift ideas": ("personal", ["scarf for Mum", "cookbook for Leo", "board game", "concert tickets", "plant for Ana",
                                "fountain pen", "hiking socks"]),
    "Book list": ("reading", ["The Left Hand of Darkness", "Middlemarch", "Project Hail Mary", "The Overstory",
                              "Piranesi", "Educated", "Stoner"]),
    "Garden plan": ("home", ["tomatoes by the fence", "basil in pots", "move the rosemary", "new hose", "compost bin",
                             "lavender border"]),
    "Shopping list": ("home", ["oat milk", "coffee", "rice", "lemons", "dish soap", "eggs", "spinach"]),
    "Car service": ("admin", ["oil change due", "check tyre pressure", "winter tyres in storage", "MOT in October",
                              "wiper blades"]),
    "Meeting prep": ("work", ["budget slides", "hiring update", "Q3 roadmap", "customer feedback", "offsite dates"]),
    "Trip to Porto": ("travel", ["Livraria Lello tickets", "port wine tasting", "Ribeira walk", "train from Lisbon",
                                 "day trip to Douro"]),
    "Workout routine": ("health", ["5 km run on Tuesdays", "yoga on Thursdays", "30 push-ups", "stretch after runs",
                                   "swim on Sundays"]),
}
TITLES = list(SEEDED)

SCHEMA = """
CREATE TABLE IF NOT EXISTS syn_notes (note_id INTEGER PRIMARY KEY, title TEXT NOT NULL, body TEXT NOT NULL,
    tag TEXT NOT NULL, updated TEXT NOT NULL);
"""


def seed(store: Store, rng: random.Random) -> None:
    rows, ids = [], sorted(rng.sample(range(100, 400), len(TITLES)))
    for note_id, title in zip(ids, rng.sample(TITLES, len(TITLES))):
        tag, lines = SEEDED[title]
        body = "\n".join(f"- {line}" for line in rng.sample(lines, rng.randint(3, 4)))
        rows.append((note_id, title, body, tag, f"2025-05-{rng.randint(1, 31):02d}T{rng.randint(7, 22):02d}:00"))
    store.executemany("INSERT INTO syn_notes VALUES (?, ?, ?, ?, ?)", rows)


def record(row: dict) -> dict:
    return {"note_id": row["note_id"], "title": row["title"], "tag": row["tag"], "updated": row["updated"], "body": row["body"]}


def search(store: Store, args: dict) -> dict:
    query, tag = (args.get("query") or "").strip().casefold(), (args.get("tag") or "").strip().casefold()
    rows = [r for r in store.rows("SELECT * FROM syn_notes ORDER BY updated DESC, note_id")
            if (not query or query in r["title"].casefold() or query in r["body"].casefold())
            and (not tag or tag == r["tag"].casefold())]
    return {"count": len(rows), "notes": [record(r) for r in rows[: args.get("limit") or 10]]}


def create(store: Store, args: dict) -> dict:
    title, body = args["title"].strip(), args["body"]
    if not title:
        raise ValueError("a note needs a title")
    note_id = store.execute("INSERT INTO syn_notes (title, body, tag, updated) VALUES (?, ?, ?, ?)",
                            [title, body, (args.get("tag") or "").strip(), NOW])
    return record(store.row("SELECT * FROM syn_notes WHERE note_id = ?", [note_id]))


def append(store: Store, args: dict) -> dict:
    with store.transaction():
        row = store.row("SELECT * FROM syn_notes WHERE note_id = ?", [args["note_id"]])
        if row is None:
            raise ValueError(f"no note with id {args['note_id']}; search the notes to find its id")
        text = args["text"].strip()
        line = text if text.startswith("- ") or not row["body"].startswith("- ") else f"- {text}"
        store.execute("UPDATE syn_notes SET body = ?, updated = ? WHERE note_id = ?",
                      [f"{row['body']}\n{line}" if row["body"] else line, NOW, row["note_id"]])
    return record(store.row("SELECT * FROM syn_notes WHERE note_id = ?", [args["note_id"]]))


NOTE = obj({"note_id": INTEGER, "title": STRING, "tag": STRING, "updated": STRING, "body": STRING})
TOOLS = (
    ToolDef("search", ("search_notes", "find_notes", "query_notes", "lookup_notes"),
            ("Search notes by words in the title or text, newest first.", "Find the user's notes; empty query lists all."),
            (param("query", ("search", "keywords", "q", "search_text"), STRING, "Words to look for (optional).",
                   "Search terms.", required=False),
             param("tag", ("tag", "label", "category"), STRING, "Only notes with this tag.", "Tag filter.", required=False),
             param("limit", ("limit", "max_notes"), {"type": "integer", "minimum": 1, "maximum": 50},
                   "Most notes to return (default 10).", "How many.", required=False)),
            obj({"count": INTEGER, "notes": array(NOTE)}), search),
    ToolDef("create", ("create_note", "add_note", "new_note", "write_note"),
            ("Create a new note.", "Save a new note with a title and text."),
            (param("title", ("title", "heading", "name"), STRING, "The note's title.", "Title of the note."),
             param("body", ("body", "content", "note_text"), STRING, "The note's text.", "What the note says."),
             param("tag", ("tag", "label", "category"), STRING, "Optional tag.", "A tag for the note.", required=False)),
            NOTE, create, writes=True),
    ToolDef("append", ("append_to_note", "add_to_note", "extend_note", "update_note"),
            ("Add a line to the end of an existing note.", "Append text to a note, by id."),
            (param("note_id", ("note_id", "id", "note"), INTEGER, "The note's id from a search.", "Which note."),
             param("text", ("text", "line", "addition", "content"), STRING, "The line to add.", "What to append.")),
            NOTE, append, writes=True),
)

ADDITIONS = {"Shopping list": {"en": ["olive oil", "bananas", "bread"], "de": ["Olivenöl", "Bananen", "Brot"],
                               "zh": ["橄榄油", "香蕉", "面包"]},
             "Gift ideas": {"en": ["a photo book for Dad", "a wool hat"], "de": ["ein Fotobuch für Papa", "eine Wollmütze"],
                            "zh": ["给爸爸的相册", "一顶羊毛帽"]},
             "Book list": {"en": ["Klara and the Sun", "Circe"], "de": ["Klara und die Sonne", "Circe"],
                           "zh": ["《克拉拉与太阳》", "《喀耳刻》"]},
             "Trip to Porto": {"en": ["book a fado evening", "try francesinha"], "de": ["Fado-Abend buchen", "Francesinha probieren"],
                               "zh": ["订一场法朵演出", "尝尝francesinha"]}}


def note(store: Store, title: str) -> dict:
    return store.row("SELECT * FROM syn_notes WHERE title = ?", [title])


def read_scenario(ctx, store: Store) -> Scenario:
    language = ctx.language
    title = ctx.rng.choice(TITLES)
    lines = [line[2:] for line in note(store, title)["body"].splitlines()]
    request = ctx.pick({
        "en": [f"What's on my '{title}' note?", f"Read me my note '{title}'.", f"Can you pull up my '{title}' note?"],
        "de": [f"Was steht in meiner Notiz '{title}'?", f"Lies mir meine Notiz '{title}' vor.", f"Kannst du meine Notiz '{title}' aufrufen?"],
        "zh": [f"我的笔记“{title}”里写了什么？", f"把我的笔记“{title}”念给我听。", f"帮我调出“{title}”这条笔记。"],
    })

    def answer(results):
        n = next(x for x in results[0][0]["notes"] if x["title"] == title)
        items = [line[2:] for line in n["body"].splitlines()]
        return say(language, f"Your note '{title}' says: {'; '.join(items)}.",
                   f"In deiner Notiz '{title}' steht: {'; '.join(items)}.", f"你的笔记“{title}”内容：{'；'.join(items)}。")

    return Scenario(request, [[Call("search", {"query": title})]], answer, facts=[[lines[0]], [lines[-1]]])


def create_scenario(ctx, store: Store) -> Scenario:
    language = ctx.language
    tag = ["health", "car", "home"]
    options = {"en": [("Dentist", "Appointment on 12 June at 10:30, bring insurance card"),
                      ("Parking", "Car is on level 3, space C41"), ("Door code", "Building door code is 4821#")],
               "de": [("Zahnarzt", "Termin am 12. Juni um 10:30, Versicherungskarte mitbringen"),
                      ("Parken", "Auto steht auf Ebene 3, Platz C41"), ("Türcode", "Der Türcode im Haus ist 4821#")],
               "zh": [("牙医", "6月12日10:30预约，带上保险卡"), ("停车", "车停在3层C41车位"), ("门禁密码", "楼门密码是4821#")]}
    i = ctx.rng.randrange(3)
    title, body = options[language][i]
    t = tag[i]
    request = ctx.pick({
        "en": [f"Make a note titled '{title}', tagged {t}: {body}.", f"Please save a new note '{title}' (tag: {t}) saying: {body}.",
               f"Jot this down as a note called '{title}' with the tag {t}: {body}."],
        "de": [f"Leg eine Notiz '{title}' mit dem Tag {t} an: {body}.", f"Speichere bitte eine neue Notiz '{title}' (Tag: {t}) mit dem Text: {body}.",
               f"Notier dir unter '{title}', Tag {t}: {body}."],
        "zh": [f"新建一条笔记“{title}”，标签{t}：{body}。", f"请保存一条新笔记“{title}”（标签：{t}），内容是：{body}。",
               f"帮我记一下，标题“{title}”，标签{t}：{body}。"],
    })

    def answer(results):
        r = results[0][0]
        return say(language, f"Saved your note '{r['title']}'.", f"Notiz '{r['title']}' gespeichert.", f"已保存笔记“{r['title']}”。")

    key = {"en": ["10:30", "C41", "4821#"], "de": ["10:30", "C41", "4821#"], "zh": ["10:30", "C41", "4821#"]}[language][i]
    return Scenario(request, [[Call("create", {"title": title, "body": body, "tag": t})]], answer, facts=[[title]],
                    changes=[{"kind": "syn_notes", "op": "insert", "fields": {"title": title, "tag": t}, "contains": {"body": [[key]]}}])


def append_scenario(ctx, store: Store) -> Scenario:
    """Chain: find the note's id, then append a line to it."""
    language = ctx.language
    title = ctx.rng.choice(list(ADDITIONS))
    item = ctx.rng.choice(ADDITIONS[title][language])
    row = note(store, title)
    first = row["body"].splitlines()[0][2:]
    request = ctx.pick({
        "en": [f"Add '{item}' to my '{title}' note.", f"Put '{item}' on my note '{title}', please.",
               f"Can you append '{item}' to the note '{title}'?"],
        "de": [f"Füg '{item}' zu meiner Notiz '{title}' hinzu.", f"Schreib bitte '{item}' mit auf meine Notiz '{title}'.",
               f"Kannst du '{item}' an die Notiz '{title}' anhängen?"],
        "zh": [f"在我的笔记“{title}”里加上“{item}”。", f"请把“{item}”添加到笔记“{title}”里。", f"能在“{title}”这条笔记后面加上“{item}”吗？"],
    })

    def answer(results):
        return say(language, f"Added '{item}' to your note '{title}'.", f"'{item}' steht jetzt in deiner Notiz '{title}'.",
                   f"已把“{item}”加到笔记“{title}”里。")

    return Scenario(request, [[Call("search", {"query": title})], [Call("append", {"note_id": row["note_id"], "text": item})]],
                    answer, facts=[[title]],
                    changes=[{"kind": "syn_notes", "op": "update", "id": row["note_id"],
                              "contains": {"body": [[item], [first]]}, "free": ["updated"]}])


register(Domain("notes", "both", SCHEMA, {"syn_notes": "note_id"}, seed, TOOLS,
                (("single", read_scenario), ("write", create_scenario), ("chain", append_scenario))))
