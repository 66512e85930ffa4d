"""Library: catalogue search with copies on the shelf, and holds on books (one hold per book and reader)."""

from __future__ import annotations

import random

from openk2.agent.apps.store import Store

from ..synthetic import Call, Domain, Scenario, ToolDef, register
from .common import INTEGER, STRING, array, enum, obj, param, say, split_pool

# English title, author, German title, Chinese title
BOOKS = [
    ("Pride and Prejudice", "Jane Austen", "Stolz und Vorurteil", "傲慢与偏见"),
    ("Moby-Dick", "Herman Melville", "Moby Dick", "白鲸"),
    ("War and Peace", "Leo Tolstoy", "Krieg und Frieden", "战争与和平"),
    ("The Great Gatsby", "F. Scott Fitzgerald", "Der große Gatsby", "了不起的盖茨比"),
    ("Frankenstein", "Mary Shelley", "Frankenstein", "弗兰肯斯坦"),
    ("Dracula", "Bram Stoker", "Dracula", "德古拉"),
    ("Jane Eyre", "Charlotte Bronte", "Jane Eyre", "简·爱"),
    ("Wuthering Heights", "Emily Bronte", "Sturmhöhe", "呼啸山庄"),
    ("Anna Karenina", "Leo Tolstoy", "Anna Karenina", "安娜·卡列尼娜"),
    ("Don Quixote", "Miguel de Cervantes", "Don Quijote", "堂吉诃德"),
    ("Crime and Punishment", "Fyodor Dostoevsky", "Schuld und Sühne", "罪与罚"),
    ("Madame Bovary", "Gustave Flaubert", "Madame Bovary", "包法利夫人"),
    ("The Trial", "Franz Kafka", "Der Process", "审判"),
    ("Siddhartha", "Hermann Hesse", "Siddhartha", "悉达多"),
    ("Journey to the West", "Wu Cheng'en", "Die Reise nach Westen", "西游记"),
    ("Dream of the Red Chamber", "Cao Xueqin", "Der Traum der roten Kammer", "红楼梦"),
    ("The Little Prince", "Antoine de Saint-Exupery", "Der kleine Prinz", "小王子"),
    ("Alice's Adventures in Wonderland", "Lewis Carroll", "Alice im Wunderland", "爱丽丝梦游仙境"),
    ("Les Miserables", "Victor Hugo", "Die Elenden", "悲惨世界"),
    ("The Count of Monte Cristo", "Alexandre Dumas", "Der Graf von Monte Christo", "基督山伯爵"),
    ("Middlemarch", "George Eliot", "Middlemarch", "米德尔马契"),
    ("The Odyssey", "Homer", "Die Odyssee", "奥德赛"),
]
BRANCHES = ("Central", "Riverside", "Northgate", "Eastside")

SCHEMA = """
CREATE TABLE IF NOT EXISTS syn_library_books (book_id TEXT PRIMARY KEY, title TEXT NOT NULL, author TEXT NOT NULL,
    copies INTEGER NOT NULL, on_loan INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS syn_library_holds (hold_id INTEGER PRIMARY KEY, book_id TEXT NOT NULL, branch TEXT NOT NULL,
    status TEXT NOT NULL);
"""


def seed(store: Store, rng: random.Random) -> None:
    rows = []
    for i, (title, author, _, _) in zip(rng.sample(range(1000, 10000), len(BOOKS)), BOOKS):
        copies = rng.randint(1, 4)
        rows.append((f"bk_{i}", title, author, copies, rng.choice([copies, copies, rng.randint(0, copies)])))
    store.executemany("INSERT INTO syn_library_books VALUES (?, ?, ?, ?, ?)", rows)
    # The reader already waits for four books: two from each split's pool (see common.split_pool).
    held = rng.sample([r for i, r in enumerate(rows) if i % 3 != 2], 2) + rng.sample([r for i, r in enumerate(rows) if i % 3 == 2], 2)
    store.executemany("INSERT INTO syn_library_holds VALUES (?, ?, ?, ?)",
                      [(rng.randint(10, 99) * 10 + i, b[0], rng.choice(BRANCHES), "waiting") for i, b in enumerate(held)])


def record(r: dict) -> dict:
    return {"book_id": r["book_id"], "title": r["title"], "author": r["author"], "copies": r["copies"],
            "available": r["copies"] - r["on_loan"]}


def search(store: Store, args: dict) -> dict:
    query = args["query"].strip().casefold()
    rows = [r for r in store.rows("SELECT * FROM syn_library_books ORDER BY title")
            if query and (query in r["title"].casefold() or query in r["author"].casefold())]
    return {"count": len(rows), "results": [record(r) for r in rows]}


def place_hold(store: Store, args: dict) -> dict:
    with store.transaction():
        book = store.row("SELECT * FROM syn_library_books WHERE book_id = ?", [args["book_id"].strip()])
        if book is None:
            raise ValueError(f"unknown book id {args['book_id']!r}; search the catalogue for the book's id")
        mine = store.row("SELECT * FROM syn_library_holds WHERE book_id = ?", [book["book_id"]])
        if mine is not None:
            raise ValueError(f"you already have a hold on {book['title']} (hold {mine['hold_id']}, pickup at {mine['branch']}); "
                             "a reader can hold each book once")
        status = "ready" if book["copies"] > book["on_loan"] else "waiting"
        hid = store.execute("INSERT INTO syn_library_holds (book_id, branch, status) VALUES (?, ?, ?)",
                            [book["book_id"], args["branch"], status])
    return {"hold_id": hid, "book_id": book["book_id"], "title": book["title"], "branch": args["branch"], "status": status,
            "note": "ready for pickup within 2 days" if status == "ready" else "we will e-mail you when a copy is back"}


BOOK = obj({"book_id": STRING, "title": STRING, "author": STRING, "copies": INTEGER, "available": INTEGER})
TOOLS = (
    ToolDef("search", ("search_catalog", "library_search", "find_books", "catalogue_lookup"),
            ("Search the library catalogue (English titles) by title or author.", "Find books and how many copies are in."),
            (param("query", ("search", "title_or_author", "q"), STRING, "Words from the title or author.", "What to search."),),
            obj({"count": INTEGER, "results": array(BOOK)}), search),
    ToolDef("hold", ("place_hold", "reserve_book", "hold_book", "request_book"),
            ("Place a hold on a book for pickup at a branch.", "Reserve a library book by id."),
            (param("book_id", ("book_id", "item", "catalog_id"), STRING, "The book's id from the catalogue.", "Which book."),
             param("branch", ("branch", "pickup_branch", "library"), enum(BRANCHES), "Where to collect it.", "Pickup branch.")),
            obj({"hold_id": INTEGER, "book_id": STRING, "title": STRING, "branch": enum(BRANCHES),
                 "status": enum(["ready", "waiting"]), "note": STRING}), place_hold, writes=True),
)


def title_in(book: tuple, language: str) -> str:
    return {"en": book[0], "de": book[2], "zh": book[3]}[language]


def row_for(store: Store, title: str) -> dict:
    return store.row("SELECT * FROM syn_library_books WHERE title = ?", [title])


def named(book: tuple, language: str) -> str:
    """The book as an answer names it: the user's title, with the catalogue's English one where they differ."""
    local = title_in(book, language)
    return quote(local, language) + (f" ({book[0]})" if local != book[0] else "")


def quote(title: str, language: str) -> str:
    return f"《{title}》" if language == "zh" else f"'{title}'"


def available_scenario(ctx, store: Store) -> Scenario:
    language = ctx.language
    book = ctx.rng.choice(split_pool(ctx, BOOKS))
    t = quote(title_in(book, language), language)
    request = ctx.pick({
        "en": [f"Is {t} available at the library?", f"Do you have {t} on the shelf?", f"Can I borrow {t} right now?"],
        "de": [f"Ist {t} in der Bibliothek verfügbar?", f"Habt ihr {t} im Regal?", f"Kann ich {t} gerade ausleihen?"],
        "zh": [f"图书馆里有{t}可借吗？", f"{t}现在在架上吗？", f"我现在能借到{t}吗？"],
    })
    expected = record(row_for(store, book[0]))

    def answer(results):
        r = next(x for x in results[0][0]["results"] if x["title"] == book[0])
        n = named(book, language)
        if r["available"]:
            return say(language, f"Yes: {r['available']} of {r['copies']} copies of {n} by {r['author']} are on the shelf.",
                       f"Ja: {r['available']} von {r['copies']} Exemplaren von {n} ({r['author']}) sind verfügbar.",
                       f"有：{n}（{r['author']}）共{r['copies']}本，{r['available']}本在架。")
        if r["copies"] == 1:
            return say(language, f"Not right now: the only copy of {n} is on loan. I can place a hold for you.",
                       f"Im Moment nicht: das einzige Exemplar von {n} ist ausgeliehen. Ich kann es für dich vormerken.",
                       f"现在没有：{n}馆内仅有的1本已借出。我可以帮你预约。")
        return say(language, f"Not right now: all {r['copies']} copies of {n} are on loan. I can place a hold for you.",
                   f"Im Moment nicht: alle {r['copies']} Exemplare von {n} sind ausgeliehen. Ich kann es für dich vormerken.",
                   f"现在没有：{n}的{r['copies']}本都已借出。我可以帮你预约。")

    return Scenario(request, [[Call("search", {"query": book[0]})]], answer,
                    facts=[[book[0]], [f"{expected['available']} of {expected['copies']}", f"{expected['available']} von",
                                       f"{expected['available']}本在架", f"all {expected['copies']}", f"alle {expected['copies']}",
                                       f"{expected['copies']}本都", "only copy", "einzige Exemplar", "仅有的1本",
                                       f'"available":{expected["available"]}']])


def hold_scenario(ctx, store: Store) -> Scenario:
    """Chain with a write: find the book's id, then place a hold at the branch asked for."""
    language = ctx.language
    held = {r["book_id"] for r in store.rows("SELECT book_id FROM syn_library_holds")}
    book = ctx.rng.choice([b for b in split_pool(ctx, BOOKS) if row_for(store, b[0])["book_id"] not in held])
    branch = ctx.rng.choice(BRANCHES)
    row = row_for(store, book[0])
    t = quote(title_in(book, language), language)
    request = ctx.pick({
        "en": [f"Please reserve {t} for me, pickup at the {branch} branch.", f"Place a hold on {t}; I'll collect it at {branch}.",
               f"Can you put {t} on hold for me at {branch}?"],
        "de": [f"Bitte merk mir {t} vor, Abholung in der Zweigstelle {branch}.", f"Reservier mir {t}; ich hole es in {branch} ab.",
               f"Kannst du {t} für mich in {branch} vormerken?"],
        "zh": [f"请帮我预约{t}，在{branch}分馆取。", f"给{t}下个预约，我去{branch}取。", f"能帮我在{branch}预约{t}吗？"],
    })

    def answer(results):
        h = results[1][0]
        ready = h["status"] == "ready"
        n = named(book, language)
        return say(language, f"Hold placed on {n} at {branch} (hold {h['hold_id']}): "
                             + ("ready for pickup within 2 days." if ready else "you'll get an e-mail when a copy is back."),
                   f"{n} ist in {branch} für dich vorgemerkt (Nr. {h['hold_id']}): "
                   + ("innerhalb von 2 Tagen abholbereit." if ready else "du bekommst eine E-Mail, sobald ein Exemplar zurück ist."),
                   f"已在{branch}预约{n}（预约号{h['hold_id']}）：" + ("2天内可取。" if ready else "有书归还时会邮件通知你。"))

    return Scenario(request, [[Call("search", {"query": book[0]})], [Call("hold", {"book_id": row["book_id"], "branch": branch})]],
                    answer, facts=[[branch]],
                    changes=[{"kind": "syn_library_holds", "op": "insert", "fields": {"book_id": row["book_id"], "branch": branch}}])


def already_held_scenario(ctx, store: Store) -> Scenario:
    """The reader already holds the book: the hold fails and the expert says where the existing hold is."""
    language = ctx.language
    pool = {b[0] for b in split_pool(ctx, BOOKS)}
    holds = [(h, store.row("SELECT title FROM syn_library_books WHERE book_id = ?", [h["book_id"]])["title"])
             for h in store.rows("SELECT * FROM syn_library_holds ORDER BY hold_id")]
    hold, title = ctx.rng.choice([(h, t) for h, t in holds if t in pool])
    book = next(b for b in BOOKS if b[0] == title)
    branch = ctx.rng.choice([b for b in BRANCHES if b != hold["branch"]])
    t = quote(title_in(book, language), language)
    request = ctx.pick({
        "en": [f"Reserve {t} for me at {branch}.", f"Put a hold on {t}, pickup at {branch}.", f"I'd like to reserve {t} at the {branch} branch."],
        "de": [f"Merk mir {t} in {branch} vor.", f"Reservier {t}, Abholung in {branch}.", f"Ich möchte {t} in der Zweigstelle {branch} vormerken."],
        "zh": [f"帮我在{branch}预约{t}。", f"预约{t}，在{branch}取。", f"我想在{branch}分馆预约{t}。"],
    })

    def answer(results):
        n = named(book, language)
        return say(language, f"You already have a hold on {n} (hold {hold['hold_id']}, pickup at {hold['branch']}), so I "
                             "couldn't place another one. Nothing changed.",
                   f"Du hast {n} bereits vorgemerkt (Nr. {hold['hold_id']}, Abholung in {hold['branch']}), deshalb konnte ich "
                   "keine zweite Vormerkung anlegen. Es hat sich nichts geändert.",
                   f"你已经预约了{n}（预约号{hold['hold_id']}，在{hold['branch']}取），无法重复预约，未做任何更改。")

    return Scenario(request, [[Call("search", {"query": title})], [Call("hold", {"book_id": hold["book_id"], "branch": branch})]],
                    answer, facts=[[str(hold["hold_id"])], [hold["branch"]]],
                    says=[["already", "bereits", "已经"]])


register(Domain("library", "both", SCHEMA, {"syn_library_books": "book_id", "syn_library_holds": "hold_id"}, seed, TOOLS,
                (("single", available_scenario), ("write", hold_scenario), ("error", already_held_scenario))))
