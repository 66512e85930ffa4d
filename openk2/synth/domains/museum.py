"""Museum tickets (held out: training never shows it): exhibitions by city, timed-entry slots, and buying tickets."""

from __future__ import annotations

import random
from datetime import date, timedelta

from openk2.agent.apps.store import Store

from ..language import TODAY, day_phrase, show_day
from ..synthetic import Call, Domain, Scenario, ToolDef, register
from .common import INTEGER, NUMBER, STRING, array, city_name, obj, param, say, show_amount

EXHIBITIONS = {"Vienna": [("Albertina", "Klimt and the Vienna Secession"), ("Belvedere", "Baroque Gardens in Paint")],
               "Madrid": [("Prado", "Goya's Black Paintings"), ("Reina Sofia", "Guernica and After")],
               "Florence": [("Uffizi", "Botticelli Rediscovered"), ("Palazzo Strozzi", "Renaissance Machines")],
               "Amsterdam": [("Rijksmuseum", "Vermeer's Light"), ("Van Gogh Museum", "Sunflowers Up Close")],
               "Copenhagen": [("Louisiana", "Nordic Modernism"), ("SMK", "Golden Age Painters")]}
DAYS = [TODAY + timedelta(days=i) for i in range(1, 5)]
TIMES = ["10:00", "11:30", "13:00", "14:30", "16:00"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS syn_museum_exhibitions (exhibition_id TEXT PRIMARY KEY, museum TEXT NOT NULL, title TEXT NOT NULL,
    city TEXT NOT NULL, price REAL NOT NULL);
CREATE TABLE IF NOT EXISTS syn_museum_slots (slot_id TEXT PRIMARY KEY, exhibition_id TEXT NOT NULL, day TEXT NOT NULL,
    time TEXT NOT NULL, capacity INTEGER NOT NULL, sold INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS syn_museum_tickets (ticket_id INTEGER PRIMARY KEY, slot_id TEXT NOT NULL, quantity INTEGER NOT NULL,
    visitor TEXT NOT NULL);
"""


def seed(store: Store, rng: random.Random) -> None:
    exhibitions, slots = [], []
    ids = iter(rng.sample(range(100, 1000), 10))
    slot_ids = iter(rng.sample(range(1000, 10000), 10 * len(DAYS) * len(TIMES)))
    for city, shows in EXHIBITIONS.items():
        for museum, title in shows:
            eid = f"ex_{next(ids)}"
            exhibitions.append((eid, museum, title, city, rng.choice([12.0, 15.0, 18.0, 22.0, 25.0])))
            for day in DAYS:
                for time in TIMES:
                    capacity = rng.choice([20, 30, 40])
                    sold = capacity if rng.random() < 0.25 else rng.randint(0, capacity - 6)
                    slots.append((f"ts_{next(slot_ids)}", eid, day.isoformat(), time, capacity, sold))
    store.executemany("INSERT INTO syn_museum_exhibitions VALUES (?, ?, ?, ?, ?)", exhibitions)
    store.executemany("INSERT INTO syn_museum_slots VALUES (?, ?, ?, ?, ?, ?)", slots)


def left(store: Store, slot: dict) -> int:
    bought = store.row("SELECT coalesce(sum(quantity), 0) AS n FROM syn_museum_tickets WHERE slot_id = ?", [slot["slot_id"]])["n"]
    return slot["capacity"] - slot["sold"] - bought


def exhibitions(store: Store, args: dict) -> dict:
    rows = store.rows("SELECT * FROM syn_museum_exhibitions WHERE lower(city) = lower(?) ORDER BY museum", [args["city"].strip()])
    if not rows:
        raise ValueError(f"no exhibitions listed for {args['city']!r}; cities: {', '.join(EXHIBITIONS)}")
    return {"exhibitions": [{"exhibition_id": r["exhibition_id"], "museum": r["museum"], "title": r["title"], "price": r["price"]}
                            for r in rows]}


def slots(store: Store, args: dict) -> dict:
    ex = store.row("SELECT * FROM syn_museum_exhibitions WHERE exhibition_id = ?", [args["exhibition_id"].strip()])
    if ex is None:
        raise ValueError(f"unknown exhibition {args['exhibition_id']!r}; list the city's exhibitions first")
    rows = store.rows("SELECT * FROM syn_museum_slots WHERE exhibition_id = ? AND day = ? ORDER BY time", [ex["exhibition_id"], args["date"]])
    if not rows:
        raise ValueError(f"no timed entries on {args['date']}; tickets are sold for {DAYS[0]} to {DAYS[-1]}")
    return {"exhibition_id": ex["exhibition_id"], "date": args["date"],
            "slots": [{"slot_id": r["slot_id"], "time": r["time"], "tickets_left": left(store, r)} for r in rows]}


def buy(store: Store, args: dict) -> dict:
    with store.transaction():
        slot = store.row("SELECT * FROM syn_museum_slots WHERE slot_id = ?", [args["slot_id"].strip()])
        if slot is None:
            raise ValueError(f"unknown time slot {args['slot_id']!r}; look up the exhibition's slots first")
        n = left(store, slot)
        if args["quantity"] > n:
            raise ValueError(f"only {n} tickets left for {slot['time']} on {slot['day']}")
        ex = store.row("SELECT * FROM syn_museum_exhibitions WHERE exhibition_id = ?", [slot["exhibition_id"]])
        tid = store.execute("INSERT INTO syn_museum_tickets (slot_id, quantity, visitor) VALUES (?, ?, ?)",
                            [slot["slot_id"], args["quantity"], args["visitor"].strip()])
    return {"ticket_id": tid, "museum": ex["museum"], "exhibition": ex["title"], "date": slot["day"], "time": slot["time"],
            "quantity": args["quantity"], "total_eur": round(ex["price"] * args["quantity"], 2)}


TOOLS = (
    ToolDef("exhibitions", ("list_exhibitions", "museum_exhibitions", "whats_on_museums", "search_exhibitions"),
            ("Current museum exhibitions in a city, with ticket prices.", "What exhibitions are on in a city."),
            (param("city", ("city", "town", "city_name"), STRING, "City name in English.", "Where."),),
            obj({"exhibitions": array(obj({"exhibition_id": STRING, "museum": STRING, "title": STRING, "price": NUMBER}))}),
            exhibitions),
    ToolDef("slots", ("exhibition_slots", "timed_entry_slots", "museum_availability"),
            ("Timed-entry slots of an exhibition on a day, with tickets left.", "When you can enter an exhibition."),
            (param("exhibition_id", ("exhibition_id", "exhibition", "show_id"), STRING, "The exhibition's id.", "Which exhibition."),
             param("date", ("date", "day", "visit_date"), {"type": "string", "format": "date"}, "Visit day, YYYY-MM-DD.", "Which day.")),
            obj({"exhibition_id": STRING, "date": STRING, "slots": array(obj({"slot_id": STRING, "time": STRING,
                                                                               "tickets_left": INTEGER}))}), slots),
    ToolDef("buy", ("buy_museum_tickets", "purchase_entry", "book_museum_visit"),
            ("Buy timed-entry tickets for a slot.", "Purchase museum tickets for a time slot."),
            (param("slot_id", ("slot_id", "time_slot", "entry_slot"), STRING, "The slot's id.", "Which entry time."),
             param("quantity", ("quantity", "tickets", "persons"), {"type": "integer", "minimum": 1, "maximum": 8},
                   "Number of tickets (1-8).", "How many."),
             param("visitor", ("visitor", "name", "buyer"), STRING, "Name on the tickets.", "Who is visiting.")),
            obj({"ticket_id": INTEGER, "museum": STRING, "exhibition": STRING, "date": STRING, "time": STRING, "quantity": INTEGER,
                 "total_eur": NUMBER}), buy, writes=True),
)


def pick(ctx, store: Store) -> tuple[str, str, str, dict, date]:
    city = ctx.rng.choice(list(EXHIBITIONS))
    museum, title = ctx.rng.choice(EXHIBITIONS[city])
    ex = store.row("SELECT * FROM syn_museum_exhibitions WHERE title = ?", [title])
    return city, museum, title, ex, ctx.rng.choice(DAYS)


def open_slots(store: Store, ex: dict, day: date, quantity: int = 1) -> list[dict]:
    return [s for s in slots(store, {"exhibition_id": ex["exhibition_id"], "date": day.isoformat()})["slots"]
            if s["tickets_left"] >= quantity]


def times_scenario(ctx, store: Store) -> Scenario:
    """Chain: list the city's exhibitions for the id, then the day's slots."""
    language = ctx.language
    for _ in range(20):  # a day with some entry left (a whole day sold out is rare)
        city, museum, title, ex, day = pick(ctx, store)
        available = open_slots(store, ex, day)
        if available:
            break
    when, c = day_phrase(day, language, ctx.rng), city_name(city, language)
    request = ctx.pick({
        "en": [f"When can I see '{title}' at the {museum} in {c} {when}?", f"Which entry times are still available {when} for '{title}' ({museum}, {c})?",
               f"I'd like to visit '{title}' in {c} {when}. What times have tickets left?"],
        "de": [f"Wann kann ich {when} '{title}' im {museum} in {c} sehen?", f"Welche Einlasszeiten sind {when} für '{title}' ({museum}, {c}) noch frei?",
               f"Ich möchte {when} '{title}' in {c} besuchen. Für welche Zeiten gibt es noch Tickets?"],
        "zh": [f"{when}什么时候能去{c}{museum}看“{title}”？", f"{when}“{title}”（{c}{museum}）还有哪些入场时段？", f"我想{when}去{c}看“{title}”，哪些时段还有票？"],
    })

    def answer(results):
        free = [s for s in results[1][0]["slots"] if s["tickets_left"] > 0]
        times = ", ".join(f"{s['time']} ({s['tickets_left']})" for s in free)
        return say(language, f"'{title}' at the {museum} on {show_day(day, 'en')}: {times} (tickets left in brackets).",
                   f"'{title}' im {museum} am {show_day(day, 'de')}: {times} (freie Tickets in Klammern).",
                   f"“{title}”（{museum}）{show_day(day, 'zh')}可选时段：{times}（括号内为余票）。")

    return Scenario(request, [[Call("exhibitions", {"city": city})],
                              [Call("slots", {"exhibition_id": ex["exhibition_id"], "date": day.isoformat()})]], answer,
                    facts=[[s["time"]] for s in available])


def buy_scenario(ctx, store: Store) -> Scenario:
    """Exhibitions, then slots, then buy the first entry time with enough tickets: a write at the end of a chain."""
    language = ctx.language
    quantity = ctx.rng.choice([2, 2, 3, 4])
    for _ in range(20):
        city, museum, title, ex, day = pick(ctx, store)
        available = open_slots(store, ex, day, quantity)
        if available:
            break
    slot = available[0]
    name = ctx.cast.user.name
    when, c = day_phrase(day, language, ctx.rng), city_name(city, language)
    request = ctx.pick({
        "en": [f"Buy {quantity} tickets for '{title}' at the {museum} ({c}) {when}, earliest entry with space, name {name}.",
               f"Get me {quantity} tickets for '{title}' in {c} {when}: the first time slot that still has {quantity}. Name: {name}.",
               f"We're {quantity} people going to '{title}' ({museum}) {when}. Book the earliest possible entry under {name}."],
        "de": [f"Kauf {quantity} Tickets für '{title}' im {museum} ({c}) {when}, früheste Einlasszeit mit Platz, Name {name}.",
               f"Besorg mir {quantity} Karten für '{title}' in {c} {when}: die erste Einlasszeit, für die es noch {quantity} gibt. Name: {name}.",
               f"Wir sind {quantity} Personen und wollen {when} zu '{title}' ({museum}). Buch den frühesten möglichen Einlass auf {name}."],
        "zh": [f"买{quantity}张{when}{c}{museum}“{title}”的票，选最早还有位置的入场时段，姓名{name}。",
               f"帮我订{when}{c}“{title}”的{quantity}张票：第一个还有{quantity}张余票的时段。姓名：{name}。",
               f"我们{quantity}个人{when}要去看“{title}”（{museum}），按{name}的名字订最早能进的时段。"],
    })
    total = round(ex["price"] * quantity, 2)

    def answer(results):
        t = results[2][0]
        return say(language, f"Booked {quantity} tickets for '{title}' at the {museum}, {show_day(day, 'en')} at {t['time']} "
                             f"(ticket {t['ticket_id']}, {show_amount(t['total_eur'], 'en')} EUR).",
                   f"Gebucht: {quantity} Tickets für '{title}' im {museum}, {show_day(day, 'de')} um {t['time']} "
                   f"(Ticket {t['ticket_id']}, {show_amount(t['total_eur'], 'de')} EUR).",
                   f"已订{quantity}张“{title}”（{museum}）门票：{show_day(day, 'zh')}{t['time']}入场（票号{t['ticket_id']}，"
                   f"{show_amount(t['total_eur'], 'zh')}欧元）。")

    return Scenario(request, [[Call("exhibitions", {"city": city})],
                              [Call("slots", {"exhibition_id": ex["exhibition_id"], "date": day.isoformat()})],
                              [Call("buy", {"slot_id": slot["slot_id"], "quantity": quantity, "visitor": name})]], answer,
                    facts=[[slot["time"]], [f"{total:.2f}", f"{total:.2f}".replace(".", ","), str(total)]],
                    changes=[{"kind": "syn_museum_tickets", "op": "insert",
                              "fields": {"slot_id": slot["slot_id"], "quantity": quantity}, "contains": {"visitor": [[name.split()[0]]]}}])


register(Domain("museum", "heldout", SCHEMA, {"syn_museum_exhibitions": "exhibition_id", "syn_museum_slots": "slot_id",
                                              "syn_museum_tickets": "ticket_id"}, seed, TOOLS,
                (("chain", times_scenario), ("write", buy_scenario))))
