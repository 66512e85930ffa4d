"""Parking: garages by city and area with free spaces and prices, and reserving a space for some hours."""

from __future__ import annotations

import random
import re

from openk2.agent.apps.store import Store

from ..synthetic import Call, Domain, Scenario, ToolDef, register
from .common import INTEGER, NUMBER, STRING, array, city_name, obj, param, say, show_amount, split_pool

GARAGES = {"Munich": ["Marienplatz Garage", "Stachus Underground", "Viktualienmarkt Park", "Hauptbahnhof P1", "Odeonsplatz Car Park"],
           "Hamburg": ["Jungfernstieg Garage", "Elbphilharmonie P+R", "Hauptbahnhof Nord", "Speicherstadt Car Park", "Alster Park"],
           "Vienna": ["Stephansplatz Garage", "Museumsquartier P", "Opera Car Park", "Westbahnhof P2", "Naschmarkt Garage"],
           "Zurich": ["Urania Parkhaus", "Central Park & Ride", "Hohe Promenade", "Sihlquai P", "Opera Garage Zurich"],
           "Lyon": ["Bellecour Parking", "Part-Dieu P0", "Terreaux Garage", "Perrache Car Park", "Confluence P"],
           "Milan": ["Duomo Garage", "Centrale P1", "Brera Parking", "Navigli Car Park", "Porta Garibaldi P"]}
CITIES = list(GARAGES)

SCHEMA = """
CREATE TABLE IF NOT EXISTS syn_parking_garages (garage_id TEXT PRIMARY KEY, name TEXT NOT NULL, city TEXT NOT NULL,
    free_spaces INTEGER NOT NULL, price_per_hour REAL NOT NULL, max_hours INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS syn_parking_reservations (reservation_id INTEGER PRIMARY KEY, garage_id TEXT NOT NULL,
    plate TEXT NOT NULL, start TEXT NOT NULL, hours INTEGER NOT NULL, total REAL NOT NULL);
"""


def seed(store: Store, rng: random.Random) -> None:
    rows, ids = [], iter(rng.sample(range(10, 100), sum(map(len, GARAGES.values()))))
    for city, names in GARAGES.items():
        prices = rng.sample([2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0], len(names))  # distinct, so "the cheapest" is one garage
        for name, price in zip(names, prices):
            rows.append((f"g_{next(ids)}", name, city, rng.choice([0, 4, 12, 25, 60, 140]), price, rng.choice([3, 4, 8, 24])))
        if not any(r[3] > 0 and r[5] >= 8 for r in rows[-len(names):]):  # every city has a roomy all-day garage
            g = rows[-1]
            rows[-1] = (*g[:3], 30, g[4], 24)
    store.executemany("INSERT INTO syn_parking_garages VALUES (?, ?, ?, ?, ?, ?)", rows)


def search(store: Store, args: dict) -> dict:
    city = args["city"].strip()
    rows = store.rows("SELECT * FROM syn_parking_garages WHERE lower(city) = lower(?) ORDER BY price_per_hour, garage_id", [city])
    if not rows:
        raise ValueError(f"no garages listed for {city!r}; covered cities: {', '.join(CITIES)}")
    if args.get("available_only"):
        rows = [r for r in rows if r["free_spaces"] > 0]
    return {"city": rows[0]["city"] if rows else city, "garages": [
        {"garage_id": r["garage_id"], "name": r["name"], "free_spaces": r["free_spaces"], "price_per_hour": r["price_per_hour"],
         "max_hours": r["max_hours"]} for r in rows]}


def reserve(store: Store, args: dict) -> dict:
    start = args.get("start") or "09:00"
    if not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", start):
        raise ValueError(f"start must be HH:MM, e.g. 09:30, not {start!r}")
    plate = re.sub(r"[\s-]", "", args["plate"]).upper()
    with store.transaction():
        g = store.row("SELECT * FROM syn_parking_garages WHERE garage_id = ?", [args["garage_id"].strip()])
        if g is None:
            raise ValueError(f"unknown garage id {args['garage_id']!r}; search the city's garages first")
        if g["free_spaces"] <= 0:
            raise ValueError(f"{g['name']} is full; choose another garage")
        if args["hours"] > g["max_hours"]:
            raise ValueError(f"{g['name']} allows at most {g['max_hours']} hours per stay; you asked for {args['hours']}")
        total = round(g["price_per_hour"] * args["hours"], 2)
        rid = store.execute("INSERT INTO syn_parking_reservations (garage_id, plate, start, hours, total) VALUES (?, ?, ?, ?, ?)",
                            [g["garage_id"], plate, start, args["hours"], total])
        store.execute("UPDATE syn_parking_garages SET free_spaces = free_spaces - 1 WHERE garage_id = ?", [g["garage_id"]])
    return {"reservation_id": rid, "garage": g["name"], "plate": plate, "start": start, "hours": args["hours"], "total_price": total,
            "currency": "CHF" if g["city"] == "Zurich" else "EUR"}


TOOLS = (
    ToolDef("search", ("find_parking", "search_garages", "parking_nearby", "lookup_parking"),
            ("Parking garages in a city, cheapest first, with free spaces.", "Find somewhere to park in a city."),
            (param("city", ("city", "town", "city_name"), STRING, "City name in English.", "Where to park."),
             param("available_only", ("available_only", "only_free", "has_space"), {"type": "boolean"},
                   "Skip full garages.", "Only garages with free spaces.", required=False)),
            obj({"city": STRING, "garages": array(obj({"garage_id": STRING, "name": STRING, "free_spaces": INTEGER,
                                                       "price_per_hour": NUMBER, "max_hours": INTEGER}))}), search),
    ToolDef("reserve", ("reserve_parking", "book_parking_space", "hold_parking", "prebook_garage"),
            ("Reserve a space in a garage for today.", "Pre-book parking for a number of hours."),
            (param("garage_id", ("garage_id", "garage", "car_park_id"), STRING, "The garage's id.", "Which garage."),
             param("plate", ("plate", "licence_plate", "registration"), STRING, "The car's number plate.", "Vehicle plate."),
             param("hours", ("hours", "duration_hours", "for_hours"), {"type": "integer", "minimum": 1, "maximum": 24},
                   "How many hours.", "Length of stay in hours."),
             param("start", ("start", "from_time", "arrival"), STRING, "Arrival time today, HH:MM (default 09:00).",
                   "When you arrive.", required=False)),
            obj({"reservation_id": INTEGER, "garage": STRING, "plate": STRING, "start": STRING, "hours": INTEGER,
                 "total_price": NUMBER, "currency": STRING}), reserve, writes=True),
)
PLATES = ["M-AB 1234", "HH-KL 482", "W-12345B", "ZH 48213", "LD21 XYZ", "B-MX 77", "EF-09 ZZ"]


def cheapest_free(store: Store, city: str, hours: int = 1) -> dict:
    return next(g for g in search(store, {"city": city})["garages"] if g["free_spaces"] > 0 and g["max_hours"] >= hours)


def cheapest_scenario(ctx, store: Store) -> Scenario:
    language = ctx.language
    city = ctx.rng.choice(split_pool(ctx, CITIES))
    c = city_name(city, language)
    request = ctx.pick({
        "en": [f"Where's the cheapest place to park in {c} that still has spaces?", f"I'm driving into {c}. Which garage is cheapest with free spots?",
               f"Find me affordable parking in {c} with free spaces."],
        "de": [f"Wo kann ich in {c} am günstigsten parken, wo noch Plätze frei sind?", f"Ich fahre nach {c}. Welches Parkhaus ist am billigsten und hat noch frei?",
               f"Such mir günstiges Parken in {c} mit freien Plätzen."],
        "zh": [f"{c}哪里停车最便宜还有空位？", f"我要开车去{c}，哪个停车场最便宜还有车位？", f"帮我找{c}有空位又便宜的停车场。"],
    })
    best = cheapest_free(store, city)
    cur = "CHF" if city == "Zurich" else "EUR"

    def answer(results):
        g = next(x for x in results[0][0]["garages"] if x["free_spaces"] > 0)
        return say(language, f"Cheapest with free spaces: {g['name']} at {show_amount(g['price_per_hour'], 'en')} {cur}/hour, "
                             f"{g['free_spaces']} spaces free (max {g['max_hours']} hours).",
                   f"Am günstigsten mit freien Plätzen: {g['name']}, {show_amount(g['price_per_hour'], 'de')} {cur} pro Stunde, "
                   f"{g['free_spaces']} Plätze frei (höchstens {g['max_hours']} Stunden).",
                   f"有空位且最便宜的是{g['name']}，每小时{show_amount(g['price_per_hour'], 'zh')} {cur}，"
                   f"剩余{g['free_spaces']}个车位（最多停{g['max_hours']}小时）。")

    price = best["price_per_hour"]
    return Scenario(request, [[Call("search", {"city": city})]], answer,
                    facts=[[best["name"]], [f"{price:.2f}", f"{price:.2f}".replace(".", ","), str(price)]])


def reserve_scenario(ctx, store: Store) -> Scenario:
    """Search, then reserve the cheapest garage with room for the stay."""
    language = ctx.language
    city = ctx.rng.choice(split_pool(ctx, CITIES))
    hours = ctx.rng.choice([2, 3, 4, 6, 8])
    plate = ctx.rng.choice(PLATES)
    start = ctx.rng.choice(["10:00", "11:30", "13:00", "14:15"])
    g = cheapest_free(store, city, hours)
    c = city_name(city, language)
    request = ctx.pick({
        "en": [f"Reserve me the cheapest parking in {c} for {hours} hours from {start}, car {plate}.",
               f"Book a parking space in {c} today, {start} for {hours} hours. Plate: {plate}. Cheapest option please.",
               f"I need parking in {c} from {start}, {hours} hours, for {plate}. Pick the cheapest garage that allows it."],
        "de": [f"Reservier mir den günstigsten Parkplatz in {c} für {hours} Stunden ab {start}, Kennzeichen {plate}.",
               f"Buch mir heute einen Parkplatz in {c}, ab {start} für {hours} Stunden. Kennzeichen: {plate}. Bitte die günstigste Option.",
               f"Ich brauche in {c} einen Parkplatz ab {start}, {hours} Stunden, für {plate}. Nimm das billigste Parkhaus, das das erlaubt."],
        "zh": [f"帮我在{c}订最便宜的车位，{start}起停{hours}小时，车牌{plate}。", f"今天在{c}订个车位，{start}开始停{hours}小时，车牌：{plate}，要最便宜的。",
               f"我需要在{c}从{start}停车{hours}小时，车牌{plate}，选允许停这么久的最便宜停车场。"],
    })
    total = round(g["price_per_hour"] * hours, 2)
    clean = re.sub(r"[\s-]", "", plate).upper()

    def answer(results):
        r = results[1][0]
        return say(language, f"Reserved at {r['garage']} from {r['start']} for {r['hours']} hours (car {plate}): "
                             f"{show_amount(r['total_price'], 'en')} {r['currency']}, reservation {r['reservation_id']}.",
                   f"Reserviert im {r['garage']} ab {r['start']} für {r['hours']} Stunden ({plate}): "
                   f"{show_amount(r['total_price'], 'de')} {r['currency']}, Reservierung {r['reservation_id']}.",
                   f"已预订{r['garage']}，{r['start']}起{r['hours']}小时（车牌{plate}），费用{show_amount(r['total_price'], 'zh')} "
                   f"{r['currency']}，预订号{r['reservation_id']}。")

    return Scenario(request, [[Call("search", {"city": city})],
                              [Call("reserve", {"garage_id": g["garage_id"], "plate": plate, "hours": hours, "start": start})]],
                    answer, facts=[[g["name"]], [f"{total:.2f}", f"{total:.2f}".replace(".", ","), str(total)]],
                    changes=[{"kind": "syn_parking_reservations", "op": "insert",
                              "fields": {"garage_id": g["garage_id"], "plate": clean, "hours": hours, "start": start}},
                             {"kind": "syn_parking_garages", "op": "update", "id": g["garage_id"],
                              "fields": {"free_spaces": g["free_spaces"] - 1}}])


def too_long_scenario(ctx, store: Store) -> Scenario:
    """The user names a garage whose limit is shorter than the stay: the reservation fails and is explained."""
    language = ctx.language
    options = [(city, g) for city in split_pool(ctx, CITIES) for g in search(store, {"city": city})["garages"]
               if g["free_spaces"] > 0 and g["max_hours"] < 24] or \
        [(city, g) for city in CITIES for g in search(store, {"city": city})["garages"] if g["free_spaces"] > 0 and g["max_hours"] < 24]
    city, g = ctx.rng.choice(options)
    hours = g["max_hours"] + ctx.rng.choice([1, 2, 4])
    plate = ctx.rng.choice(PLATES)
    n = g["name"]
    request = ctx.pick({
        "en": [f"Reserve a space at {n} for {hours} hours from 09:00, plate {plate}.", f"Book {n} for {hours} hours today, car {plate}.",
               f"Can you get me parking at {n} for {hours} hours? Plate {plate}."],
        "de": [f"Reservier einen Platz im {n} für {hours} Stunden ab 09:00, Kennzeichen {plate}.",
               f"Buch {n} heute für {hours} Stunden, Auto {plate}.", f"Kannst du mir im {n} für {hours} Stunden einen Platz besorgen? Kennzeichen {plate}."],
        "zh": [f"在{n}订个车位，09:00起{hours}小时，车牌{plate}。", f"今天订{n}停{hours}小时，车牌{plate}。", f"能帮我在{n}订{hours}小时的车位吗？车牌{plate}。"],
    })
    limit = g["max_hours"]

    def answer(results):
        return say(language, f"Sorry, I couldn't reserve it: {n} allows at most {limit} hours per stay, and you need {hours}. "
                             "Nothing was booked; shall I look for a garage that allows longer stays?",
                   f"Das ging leider nicht: im {n} darf man höchstens {limit} Stunden parken, du brauchst {hours}. "
                   "Ich habe nichts gebucht. Soll ich ein Parkhaus suchen, das länger erlaubt?",
                   f"抱歉，无法预订：{n}每次最多停{limit}小时，而你需要{hours}小时。未做任何预订，要我找一个允许停更久的停车场吗？")

    return Scenario(request, [[Call("search", {"city": city})],
                              [Call("reserve", {"garage_id": g["garage_id"], "plate": plate, "hours": hours, "start": "09:00"})]],
                    answer, facts=[[f"at most {limit} hours", f"höchstens {limit} Stunden", f"最多停{limit}小时"]],
                    says=[["sorry", "couldn't", "leider", "抱歉", "无法"]])


register(Domain("parking", "both", SCHEMA, {"syn_parking_garages": "garage_id", "syn_parking_reservations": "reservation_id"},
                seed, TOOLS, (("single", cheapest_scenario), ("write", reserve_scenario), ("error", too_long_scenario))))
