"""Cinema: showtimes by film and day, and holding seats for a show (seats left = capacity - sold - held)."""

from __future__ import annotations

import random
from datetime import date, timedelta

from openk2.agent.apps.store import Store

from ..language import TODAY, day_phrase, show_day
from ..synthetic import Call, Domain, Scenario, ToolDef, register
from .common import INTEGER, NUMBER, STRING, array, obj, param, say, show_amount, split_pool

FILMS = ["Starfall", "The Silent Harbor", "Paper Lanterns", "Copper Moon", "The Last Orchard", "Glass Mountains",
         "Neon Tide", "A Winter in Lyon", "Midnight Express Line"]
CINEMAS = ["Odeon Central", "Lumiere", "Riverside Cineplex", "Astor Filmhouse"]
TIMES = ["14:30", "17:00", "18:15", "19:45", "20:30", "21:15"]
DAYS = [TODAY + timedelta(days=i) for i in range(4)]

SCHEMA = """
CREATE TABLE IF NOT EXISTS syn_movies_shows (show_id TEXT PRIMARY KEY, film TEXT NOT NULL, cinema TEXT NOT NULL,
    day TEXT NOT NULL, time TEXT NOT NULL, capacity INTEGER NOT NULL, sold INTEGER NOT NULL, price REAL NOT NULL);
CREATE TABLE IF NOT EXISTS syn_movies_holds (hold_id INTEGER PRIMARY KEY, show_id TEXT NOT NULL, seats INTEGER NOT NULL,
    name TEXT NOT NULL);
"""


def seed(store: Store, rng: random.Random) -> None:
    rows, ids = [], iter(rng.sample(range(1000, 10000), len(FILMS) * len(DAYS) * 3))
    for film in FILMS:
        for day in DAYS:
            for i, (cinema, time) in enumerate(zip(rng.sample(CINEMAS, 3), sorted(rng.sample(TIMES, 3)))):
                capacity = rng.choice([60, 80, 120, 180])
                nearly_full = i == 2 or rng.random() < 0.2  # every film has a nearly full show each day
                sold = capacity - rng.randint(1, 4) if nearly_full else rng.randint(0, capacity - 20)
                rows.append((f"sh_{next(ids)}", film, cinema, day.isoformat(), time, capacity, sold,
                             rng.choice([9.5, 11.0, 12.5, 14.0])))
    store.executemany("INSERT INTO syn_movies_shows VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
    roomy = next(r for r in rows if r[5] - r[6] >= 10)  # someone else's hold, on a show with room for it
    store.execute("INSERT INTO syn_movies_holds VALUES (?, ?, ?, ?)", [rng.randint(100, 900), roomy[0], 2, "Alex"])


def seats_left(store: Store, show: dict) -> int:
    held = store.row("SELECT coalesce(sum(seats), 0) AS n FROM syn_movies_holds WHERE show_id = ?", [show["show_id"]])["n"]
    return show["capacity"] - show["sold"] - held


def record(store: Store, r: dict) -> dict:
    return {"show_id": r["show_id"], "film": r["film"], "cinema": r["cinema"], "date": r["day"], "time": r["time"],
            "seats_left": seats_left(store, r), "price": r["price"]}


def showtimes(store: Store, args: dict) -> dict:
    film = args["film"].strip()
    if store.row("SELECT 1 AS x FROM syn_movies_shows WHERE lower(film) = lower(?)", [film]) is None:
        raise ValueError(f"no film called {film!r} is showing; films now showing: {', '.join(FILMS)}")
    sql, params = "SELECT * FROM syn_movies_shows WHERE lower(film) = lower(?)", [film]
    if args.get("date"):
        sql, params = sql + " AND day = ?", params + [args["date"]]
    if args.get("cinema"):
        sql, params = sql + " AND lower(cinema) = lower(?)", params + [args["cinema"].strip()]
    return {"shows": [record(store, r) for r in store.rows(sql + " ORDER BY day, time, show_id", params)]}


def hold(store: Store, args: dict) -> dict:
    with store.transaction():
        show = store.row("SELECT * FROM syn_movies_shows WHERE show_id = ?", [args["show_id"].strip()])
        if show is None:
            raise ValueError(f"unknown show id {args['show_id']!r}; look up the showtimes first (ids look like sh_1234)")
        left = seats_left(store, show)
        if args["seats"] > left:
            raise ValueError(f"only {left} seat{'' if left == 1 else 's'} left for {show['film']} at {show['time']} on {show['day']}; "
                             f"cannot hold {args['seats']}")
        hold_id = store.execute("INSERT INTO syn_movies_holds (show_id, seats, name) VALUES (?, ?, ?)",
                                [show["show_id"], args["seats"], args["name"].strip()])
    return {"hold_id": hold_id, "show_id": show["show_id"], "film": show["film"], "cinema": show["cinema"],
            "date": show["day"], "time": show["time"], "seats": args["seats"],
            "total_price": round(show["price"] * args["seats"], 2), "pay_by": f"{show['day']} {show['time']} minus 30 minutes"}


SHOW = obj({"show_id": STRING, "film": STRING, "cinema": STRING, "date": STRING, "time": STRING, "seats_left": INTEGER,
            "price": NUMBER})
TOOLS = (
    ToolDef("showtimes", ("find_showtimes", "movie_showtimes", "search_screenings", "cinema_schedule", "when_is_it_showing"),
            ("Showtimes of a film, with seats left and prices.", "Find when and where a film is screening."),
            (param("film", ("film", "movie", "film_title"), STRING, "The film's title.", "Which film."),
             param("date", ("date", "day", "on"), {"type": "string", "format": "date"}, "Only this day (YYYY-MM-DD).",
                   "Screening date.", required=False),
             param("cinema", ("cinema", "theatre", "venue"), STRING, "Only this cinema.", "Cinema name.", required=False)),
            obj({"shows": array(SHOW)}), showtimes),
    ToolDef("hold", ("hold_seats", "reserve_tickets", "hold_tickets", "book_seats"),
            ("Hold seats for a show; pay at the box office.", "Reserve cinema seats for a screening by show id."),
            (param("show_id", ("show_id", "screening_id", "showing"), STRING, "The show's id.", "Which screening."),
             param("seats", ("seats", "tickets", "count"), {"type": "integer", "minimum": 1, "maximum": 10},
                   "How many seats (1-10).", "Number of seats."),
             param("name", ("name", "customer_name", "under_name"), STRING, "Name the hold is under.", "Who it is for.")),
            obj({"hold_id": INTEGER, "show_id": STRING, "film": STRING, "cinema": STRING, "date": STRING, "time": STRING,
                 "seats": INTEGER, "total_price": NUMBER, "pay_by": STRING}), hold, writes=True),
)


def shows(store: Store, film: str, day: date) -> list[dict]:
    return showtimes(store, {"film": film, "date": day.isoformat()})["shows"]


def when_scenario(ctx, store: Store) -> Scenario:
    language = ctx.language
    film, day = ctx.rng.choice(split_pool(ctx, FILMS)), ctx.rng.choice(DAYS[1:])
    when = day_phrase(day, language, ctx.rng)
    request = ctx.pick({
        "en": [f"When is {film} showing {when}?", f"Where can I see {film} {when}?", f"Showtimes for {film} {when}, please."],
        "de": [f"Wann läuft {film} {when}?", f"Wo kann ich {film} {when} sehen?", f"Spielzeiten für {film} {when}, bitte."],
        "zh": [f"{when}《{film}》几点放映？", f"{when}在哪儿能看《{film}》？", f"请告诉我{when}《{film}》的场次。"],
    })
    expected = shows(store, film, day)

    def answer(results):
        listed = "; ".join(f"{s['time']} {s['cinema']} ({s['seats_left']})" for s in results[0][0]["shows"])
        return say(language, f"{film} on {show_day(day, 'en')}: {listed} (seats left in brackets).",
                   f"{film} am {show_day(day, 'de')}: {listed} (freie Plätze in Klammern).",
                   f"《{film}》{show_day(day, 'zh')}的场次：{listed}（括号内为剩余座位）。")

    return Scenario(request, [[Call("showtimes", {"film": film, "date": day.isoformat()})]], answer,
                    facts=[[s["time"]] for s in expected] + [[s["cinema"]] for s in expected[:1]])


def hold_scenario(ctx, store: Store) -> Scenario:
    """Find the show (film, day, time), then hold seats for it: a write after a lookup."""
    language = ctx.language
    film, day = ctx.rng.choice(split_pool(ctx, FILMS)), ctx.rng.choice(DAYS[1:])
    seats = ctx.rng.choice([1, 2, 2, 3, 4])
    candidates = [s for s in shows(store, film, day) if s["seats_left"] >= seats]
    show = ctx.rng.choice(candidates or shows(store, film, day))
    seats = min(seats, show["seats_left"])
    name = ctx.cast.user.name.split()[0]
    when = day_phrase(day, language, ctx.rng)
    request = ctx.pick({
        "en": [f"Hold {seats} seats for {film} {when} at {show['time']} at {show['cinema']}, under {name}.",
               f"Please reserve {seats} tickets for the {show['time']} showing of {film} {when} ({show['cinema']}). Name: {name}.",
               f"Can you hold {seats} seats for {film} at {show['cinema']}, {when} at {show['time']}? Put them under {name}."],
        "de": [f"Reservier {seats} Plätze für {film} {when} um {show['time']} im {show['cinema']}, auf den Namen {name}.",
               f"Bitte halte {seats} Karten für {film} {when} um {show['time']} ({show['cinema']}) zurück. Name: {name}.",
               f"Kannst du {seats} Plätze für {film} im {show['cinema']} reservieren, {when} um {show['time']}? Auf {name}."],
        "zh": [f"帮我预留{seats}个座位：{when}{show['time']}在{show['cinema']}的《{film}》，名字写{name}。",
               f"请预订{when}{show['time']}《{film}》（{show['cinema']}）的{seats}张票，姓名：{name}。",
               f"能在{show['cinema']}给我留{seats}个{when}{show['time']}《{film}》的座位吗？用{name}的名字。"],
    })
    total = round(show["price"] * seats, 2)

    def answer(results):
        h = results[1][0]
        return say(language, f"Held {h['seats']} seats for {film} at {h['cinema']}, {show_day(day, 'en')} at {h['time']}, "
                             f"under {name} (hold {h['hold_id']}); {show_amount(h['total_price'], 'en')} to pay at the box office.",
                   f"{h['seats']} Plätze für {film} im {h['cinema']} reserviert, {show_day(day, 'de')} um {h['time']}, "
                   f"auf {name} (Nr. {h['hold_id']}); {show_amount(h['total_price'], 'de')} an der Kasse zu zahlen.",
                   f"已为{name}预留{h['seats']}个座位：{show_day(day, 'zh')}{h['time']}{h['cinema']}的《{film}》"
                   f"（预留号{h['hold_id']}），到售票处支付{show_amount(h['total_price'], 'zh')}。")

    return Scenario(request, [[Call("showtimes", {"film": film, "date": day.isoformat()})],
                              [Call("hold", {"show_id": show["show_id"], "seats": seats, "name": name})]], answer,
                    facts=[[f"{total:.2f}", f"{total:.2f}".replace(".", ","), str(total)]],
                    changes=[{"kind": "syn_movies_holds", "op": "insert",
                              "fields": {"show_id": show["show_id"], "seats": seats}, "contains": {"name": [[name]]}}])


def full_scenario(ctx, store: Store) -> Scenario:
    """The chosen show has fewer seats left than asked: the hold fails and the expert reports it, holding nothing."""
    language = ctx.language
    options = [(f, d, s) for f in split_pool(ctx, FILMS) for d in DAYS[1:] for s in shows(store, f, d) if s["seats_left"] <= 4]
    film, day, show = ctx.rng.choice(options)
    seats = show["seats_left"] + ctx.rng.randint(1, 3)
    when = day_phrase(day, language, ctx.rng)
    request = ctx.pick({
        "en": [f"Hold {seats} seats for {film} {when} at {show['time']} at {show['cinema']}.",
               f"We're {seats} people: reserve seats for {film} at {show['cinema']} {when}, {show['time']} showing.",
               f"Please hold {seats} tickets for the {show['time']} {film} screening {when} at {show['cinema']}."],
        "de": [f"Reservier {seats} Plätze für {film} {when} um {show['time']} im {show['cinema']}.",
               f"Wir sind {seats} Leute: reservier Plätze für {film} im {show['cinema']} {when}, Vorstellung um {show['time']}.",
               f"Bitte halte {seats} Karten für {film} um {show['time']} {when} im {show['cinema']} zurück."],
        "zh": [f"帮我预留{seats}个座位：{when}{show['time']}在{show['cinema']}的《{film}》。",
               f"我们{seats}个人，订{when}{show['cinema']}{show['time']}场的《{film}》。",
               f"请预留{when}{show['cinema']}{show['time']}《{film}》的{seats}张票。"],
    })
    name = ctx.cast.user.name.split()[0]
    left = show["seats_left"]

    def answer(results):
        return say(language, f"Sorry, I couldn't hold {seats} seats: only {left} seat{' is' if left == 1 else 's are'} left for {film} at {show['time']} "
                             f"at {show['cinema']}. Nothing was reserved. Shall I try another showing?",
                   f"Das ging leider nicht: für {film} um {show['time']} im {show['cinema']} "
                   f"{'ist nur noch 1 Platz' if left == 1 else f'sind nur noch {left} Plätze'} frei. "
                   f"Ich habe nichts reserviert. Soll ich eine andere Vorstellung versuchen?",
                   f"抱歉，无法预留{seats}个座位：{show['cinema']}{show['time']}场《{film}》只剩{left}个座位，未作任何预订。"
                   f"要不要试试别的场次？")

    return Scenario(request, [[Call("showtimes", {"film": film, "date": day.isoformat()})],
                              [Call("hold", {"show_id": show["show_id"], "seats": seats, "name": name})]], answer,
                    facts=[[f"only {left} seat", f"nur noch {left}", f"只剩{left}"]],
                    says=[["sorry", "couldn't", "leider", "抱歉", "无法"]])


register(Domain("movies", "both", SCHEMA, {"syn_movies_shows": "show_id", "syn_movies_holds": "hold_id"}, seed, TOOLS,
                (("single", when_scenario), ("write", hold_scenario), ("error", full_scenario))))
