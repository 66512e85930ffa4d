"""Public transport: find a stop and the lines serving it, and its next departures (read-only)."""

from __future__ import annotations

import random

from openk2.agent.apps.store import Store

from ..synthetic import Call, Domain, Scenario, ToolDef, register
from .common import INTEGER, STRING, array, city_name, obj, param, say, split_pool

# city -> stops; the seed draws which lines serve each stop and where they go
NETWORKS = {
    "Berlin": (["Alexanderplatz", "Zoologischer Garten", "Warschauer Strasse", "Potsdamer Platz", "Ostkreuz", "Hermannplatz"],
               ["U2", "U5", "U8", "S3", "S7", "M10", "Bus 100", "Bus 200"]),
    "Vienna": (["Karlsplatz", "Stephansplatz", "Westbahnhof", "Praterstern", "Schwedenplatz", "Landstrasse"],
               ["U1", "U2", "U3", "U4", "Tram 1", "Tram 2", "Bus 13A"]),
    "Zurich": (["Paradeplatz", "Bellevue", "Central", "Hardbruecke", "Stadelhofen", "Bahnhofstrasse"],
               ["Tram 4", "Tram 11", "Tram 13", "S8", "S12", "Bus 31"]),
    "Munich": (["Marienplatz", "Odeonsplatz", "Sendlinger Tor", "Stachus", "Ostbahnhof", "Muenchner Freiheit"],
               ["U3", "U6", "S1", "S8", "Tram 19", "Bus 58"]),
    "Amsterdam": (["Centraal", "Dam", "Leidseplein", "Museumplein", "Waterlooplein", "Rembrandtplein"],
                  ["Tram 2", "Tram 5", "Tram 14", "Metro 52", "Metro 53", "Bus 22"]),
    "Prague": (["Mustek", "Namesti Republiky", "Malostranska", "Florenc", "Andel", "Hradcanska"],
               ["Metro A", "Metro B", "Metro C", "Tram 9", "Tram 22", "Bus 119"]),
}

SCHEMA = """
CREATE TABLE IF NOT EXISTS syn_transit_stops (stop_id TEXT PRIMARY KEY, name TEXT NOT NULL, city TEXT NOT NULL,
    lines TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS syn_transit_departures (departure_id INTEGER PRIMARY KEY, stop_id TEXT NOT NULL,
    line TEXT NOT NULL, destination TEXT NOT NULL, in_minutes INTEGER NOT NULL, platform TEXT NOT NULL);
"""


def seed(store: Store, rng: random.Random) -> None:
    stops, departures = [], []
    ids = iter(rng.sample(range(100, 1000), sum(len(v[0]) for v in NETWORKS.values())))
    for city, (names, lines) in NETWORKS.items():
        for name in names:
            stop_id = f"{city[:3].upper()}{next(ids)}"
            served = sorted(rng.sample(lines, rng.randint(2, 3)))
            stops.append((stop_id, name, city, ",".join(served)))
            for line in served:
                ends = rng.sample([n for n in names if n != name], 2)
                platform = str(rng.randint(1, 4))
                for destination in ends:
                    minute = rng.randint(1, 6)
                    for _ in range(2):
                        departures.append((len(departures) + 1, stop_id, line, destination, minute, platform))
                        minute += rng.choice([5, 7, 10, 12, 15])
    store.executemany("INSERT INTO syn_transit_stops VALUES (?, ?, ?, ?)", stops)
    store.executemany("INSERT INTO syn_transit_departures VALUES (?, ?, ?, ?, ?, ?)", departures)


def find(store: Store, args: dict) -> dict:
    query = args["query"].strip().casefold()
    rows = [r for r in store.rows("SELECT * FROM syn_transit_stops ORDER BY stop_id")
            if query and query in r["name"].casefold()
            and (not args.get("city") or args["city"].strip().casefold() == r["city"].casefold())]
    if not rows:
        raise ValueError(f"no stop matches {args['query']!r}; try part of the stop's name without accents (e.g. Mustek)")
    return {"stops": [{"stop_id": r["stop_id"], "name": r["name"], "city": r["city"], "lines": r["lines"].split(",")}
                      for r in rows]}


def departures(store: Store, args: dict) -> dict:
    stop = store.row("SELECT * FROM syn_transit_stops WHERE stop_id = ?", [args["stop_id"].strip().upper()])
    if stop is None:
        raise ValueError(f"unknown stop id {args['stop_id']!r}; find the stop first to get its id")
    sql, params = "SELECT * FROM syn_transit_departures WHERE stop_id = ?", [stop["stop_id"]]
    if args.get("line"):
        line = next((x for x in stop["lines"].split(",") if x.casefold() == args["line"].strip().casefold()), None)
        if line is None:
            raise ValueError(f"line {args['line']!r} does not stop at {stop['name']}; lines here: {stop['lines'].replace(',', ', ')}")
        sql, params = sql + " AND line = ?", params + [line]
    rows = store.rows(sql + " ORDER BY in_minutes, departure_id LIMIT ?", params + [args.get("limit") or 5])
    return {"stop_id": stop["stop_id"], "stop": stop["name"], "departures": [
        {"line": r["line"], "destination": r["destination"], "in_minutes": r["in_minutes"],
         "due": f"in {r['in_minutes']} min", "platform": r["platform"]} for r in rows]}


TOOLS = (
    ToolDef("find", ("find_stop", "search_stops", "lookup_station", "stop_search"),
            ("Find a public transport stop by name; returns its id and lines.", "Search stations and stops."),
            (param("query", ("search", "stop_name", "name"), STRING, "Part of the stop's name.", "Stop to look for."),
             param("city", ("city", "town", "area"), STRING, "Only stops in this city (English name).", "City filter.",
                   required=False)),
            obj({"stops": array(obj({"stop_id": STRING, "name": STRING, "city": STRING, "lines": array(STRING)}))}), find),
    ToolDef("departures", ("next_departures", "stop_departures", "live_departures", "get_departures"),
            ("The next departures from a stop, soonest first.", "Live departures at a stop, by stop id."),
            (param("stop_id", ("stop_id", "station_id", "stop"), STRING, "The stop's id.", "Which stop (id)."),
             param("line", ("line", "route", "line_name"), STRING, "Only this line, e.g. U2.", "Line filter.", required=False),
             param("limit", ("limit", "count", "max_results"), {"type": "integer", "minimum": 1, "maximum": 10},
                   "How many departures (default 5).", "Number of departures.", required=False)),
            obj({"stop_id": STRING, "stop": STRING, "departures": array(obj({
                "line": STRING, "destination": STRING, "in_minutes": INTEGER, "due": STRING, "platform": STRING}))}),
            departures),
)


def pick_stop(ctx, store: Store) -> dict:
    city = ctx.rng.choice(split_pool(ctx, list(NETWORKS)))
    name = ctx.rng.choice(NETWORKS[city][0])
    return store.row("SELECT * FROM syn_transit_stops WHERE name = ?", [name])


def lines_scenario(ctx, store: Store) -> Scenario:
    language = ctx.language
    stop = pick_stop(ctx, store)
    n, c = stop["name"], city_name(stop["city"], language)
    request = ctx.pick({
        "en": [f"Which lines stop at {n} in {c}?", f"What can I catch from {n} ({c})?", f"Which trains, trams or buses serve {n} in {c}?"],
        "de": [f"Welche Linien halten an der Haltestelle {n} in {c}?", f"Was fährt an der Haltestelle {n} ({c}) ab?",
               f"Welche Bahnen oder Busse bedienen {n} in {c}?"],
        "zh": [f"{c}的{n}站有哪些线路停靠？", f"在{c}的{n}能坐什么车？", f"{c}{n}站有哪些地铁、电车或公交？"],
    })

    def answer(results):
        s = next(x for x in results[0][0]["stops"] if x["name"] == n)
        return say(language, f"{n} is served by: {', '.join(s['lines'])}.", f"An der Haltestelle {n} halten: {', '.join(s['lines'])}.",
                   f"{n}站停靠的线路有：{'、'.join(s['lines'])}。")

    return Scenario(request, [[Call("find", {"query": n, "city": stop["city"]})]], answer,
                    facts=[[line] for line in stop["lines"].split(",")])


def next_scenario(ctx, store: Store) -> Scenario:
    """Chain: find the stop's id, then the next departures of one line there."""
    language = ctx.language
    stop = pick_stop(ctx, store)
    line = ctx.rng.choice(stop["lines"].split(","))
    n = stop["name"]
    request = ctx.pick({
        "en": [f"When's the next {line} from {n}?", f"I'm at {n}. When does the {line} leave?", f"Next departures of the {line} at {n}?"],
        "de": [f"Wann fährt die Linie {line} als Nächstes ab {n}?", f"Ich bin an der Haltestelle {n}. Wann kommt die {line}?",
               f"Nächste Abfahrten der Linie {line} an der Haltestelle {n}?"],
        "zh": [f"{n}下一班{line}什么时候？", f"我在{n}，{line}几分钟后发车？", f"{n}站{line}接下来的班次？"],
    })
    expected = departures(store, {"stop_id": stop["stop_id"], "line": line, "limit": 3})["departures"]

    def answer(results):
        ds = results[1][0]["departures"]
        listed = "; ".join(say(language, f"to {d['destination']} in {d['in_minutes']} min (platform {d['platform']})",
                               f"Richtung {d['destination']} in {d['in_minutes']} Min. (Gleis/Steig {d['platform']})",
                               f"开往{d['destination']}，{d['in_minutes']}分钟后（{d['platform']}号站台）") for d in ds)
        return say(language, f"Next {line} from {n}: {listed}.", f"Nächste Abfahrten der Linie {line} ab {n}: {listed}.", f"{n}站{line}接下来的班次：{listed}。")

    first = expected[0]
    return Scenario(request, [[Call("find", {"query": n, "city": stop["city"]})],
                              [Call("departures", {"stop_id": stop["stop_id"], "line": line, "limit": 3})]], answer,
                    facts=[[first["destination"]], [f"{first['in_minutes']} min", f"{first['in_minutes']}分钟"]])


register(Domain("transit", "both", SCHEMA, {"syn_transit_stops": "stop_id", "syn_transit_departures": "departure_id"}, seed,
                TOOLS, (("single", lines_scenario), ("chain", next_scenario))))
