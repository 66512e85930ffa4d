"""Maps: find a landmark (its id, district and coordinates) and the route between two of them (read-only)."""

from __future__ import annotations

import math
import random

from openk2.agent.apps.store import Store

from ..synthetic import Call, Domain, Scenario, ToolDef, register
from .common import NUMBER, STRING, array, city_name, enum, obj, param, say, split_pool

# city -> [(name, district, lat, lon, de name, zh name)]
LANDMARKS = {
    "London": [("British Museum", "Bloomsbury", 51.5194, -0.1270, "Britisches Museum", "大英博物馆"),
               ("Tower Bridge", "Southwark", 51.5055, -0.0754, "Tower Bridge", "伦敦塔桥"),
               ("King's Cross Station", "Camden", 51.5308, -0.1238, "Bahnhof King's Cross", "国王十字车站"),
               ("Hyde Park", "Westminster", 51.5073, -0.1657, "Hyde Park", "海德公园")],
    "Paris": [("Louvre", "1st arrondissement", 48.8606, 2.3376, "Louvre", "卢浮宫"),
              ("Eiffel Tower", "7th arrondissement", 48.8584, 2.2945, "Eiffelturm", "埃菲尔铁塔"),
              ("Gare du Nord", "10th arrondissement", 48.8809, 2.3553, "Gare du Nord", "巴黎北站"),
              ("Notre-Dame", "4th arrondissement", 48.8530, 2.3499, "Notre-Dame", "巴黎圣母院")],
    "Berlin": [("Brandenburg Gate", "Mitte", 52.5163, 13.3777, "Brandenburger Tor", "勃兰登堡门"),
               ("Museum Island", "Mitte", 52.5169, 13.4019, "Museumsinsel", "博物馆岛"),
               ("Berlin Central Station", "Moabit", 52.5251, 13.3694, "Berliner Hauptbahnhof", "柏林中央火车站"),
               ("Checkpoint Charlie", "Kreuzberg", 52.5075, 13.3904, "Checkpoint Charlie", "查理检查站")],
    "Rome": [("Colosseum", "Monti", 41.8902, 12.4922, "Kolosseum", "罗马斗兽场"),
             ("Trevi Fountain", "Trevi", 41.9009, 12.4833, "Trevi-Brunnen", "特雷维喷泉"),
             ("Pantheon", "Pigna", 41.8986, 12.4769, "Pantheon", "万神殿"),
             ("Termini Station", "Esquilino", 41.9010, 12.5018, "Bahnhof Termini", "罗马特米尼车站")],
    "Tokyo": [("Tokyo Tower", "Minato", 35.6586, 139.7454, "Tokyo Tower", "东京塔"),
              ("Senso-ji", "Asakusa", 35.7148, 139.7967, "Sensō-ji", "浅草寺"),
              ("Shibuya Crossing", "Shibuya", 35.6595, 139.7005, "Shibuya-Kreuzung", "涩谷十字路口"),
              ("Tokyo Station", "Marunouchi", 35.6812, 139.7671, "Bahnhof Tokio", "东京站")],
    "New York": [("Central Park", "Manhattan", 40.7829, -73.9654, "Central Park", "中央公园"),
                 ("Times Square", "Midtown", 40.7580, -73.9855, "Times Square", "时代广场"),
                 ("Brooklyn Bridge", "Lower Manhattan", 40.7061, -73.9969, "Brooklyn Bridge", "布鲁克林大桥"),
                 ("Grand Central Terminal", "Midtown East", 40.7527, -73.9772, "Grand Central Terminal", "中央车站")],
}
PLACES = [(city, p) for city, ps in LANDMARKS.items() for p in ps]
MODES = ("driving", "walking", "cycling", "transit")
SPEED_KMH = {"driving": 21.0, "walking": 4.8, "cycling": 15.0, "transit": 19.0}
WAIT_MIN = {"driving": 3, "walking": 0, "cycling": 1, "transit": 6}  # parking, unlocking, waiting for the train
MODE_WORDS = {"driving": ("drive", "mit dem Auto", "开车"), "walking": ("walk", "zu Fuß", "步行"),
              "cycling": ("cycle", "mit dem Fahrrad", "骑车"), "transit": ("take public transport", "mit den Öffis", "坐公共交通")}

SCHEMA = """
CREATE TABLE IF NOT EXISTS syn_maps_places (place_id TEXT PRIMARY KEY, name TEXT NOT NULL, city TEXT NOT NULL,
    district TEXT NOT NULL, lat REAL NOT NULL, lon REAL NOT NULL);
"""


def seed(store: Store, rng: random.Random) -> None:
    ids = rng.sample(range(1000, 10000), len(PLACES))
    # The seed moves each entrance a little (up to ~150 m), so distances differ between worlds.
    store.executemany("INSERT INTO syn_maps_places VALUES (?, ?, ?, ?, ?, ?)",
                      [(f"pl_{i}", p[0], city, p[1], round(p[2] + rng.uniform(-0.0013, 0.0013), 5),
                        round(p[3] + rng.uniform(-0.0013, 0.0013), 5)) for i, (city, p) in zip(ids, PLACES)])


def place_record(row: dict) -> dict:
    return {"place_id": row["place_id"], "name": row["name"], "city": row["city"], "district": row["district"],
            "lat": row["lat"], "lon": row["lon"]}


def find(store: Store, args: dict) -> dict:
    query = args["query"].strip().casefold()
    rows = [r for r in store.rows("SELECT * FROM syn_maps_places ORDER BY place_id")
            if query and (query in r["name"].casefold() or r["name"].casefold() in query)
            and (not args.get("city") or args["city"].strip().casefold() == r["city"].casefold())]
    if not rows:
        raise ValueError(f"no place matches {args['query']!r}; search by the landmark's English name, e.g. Louvre")
    return {"results": [place_record(r) for r in rows]}


def by_id(store: Store, place_id: str) -> dict:
    row = store.row("SELECT * FROM syn_maps_places WHERE place_id = ?", [place_id.strip()])
    if row is None:
        raise ValueError(f"unknown place id {place_id!r}; look the place up first to get its id (ids look like pl_1234)")
    return row


def route(store: Store, args: dict) -> dict:
    a, b = by_id(store, args["origin"]), by_id(store, args["destination"])
    if a["city"] != b["city"]:
        raise ValueError(f"{a['name']} ({a['city']}) and {b['name']} ({b['city']}) are in different cities; "
                         "routes are planned within one city")
    mode = args.get("mode") or "driving"
    lat = math.radians((a["lat"] + b["lat"]) / 2)
    straight = math.hypot((b["lat"] - a["lat"]) * 111.2, (b["lon"] - a["lon"]) * 111.2 * math.cos(lat))
    km = round(straight * 1.3, 1)  # streets are not straight lines
    minutes = round(km / SPEED_KMH[mode] * 60) + WAIT_MIN[mode]
    return {"origin": a["name"], "destination": b["name"], "mode": mode, "distance_km": km, "duration_min": minutes,
            "summary": f"{km} km, about {minutes} min by {mode}"}


PLACE = obj({"place_id": STRING, "name": STRING, "city": STRING, "district": STRING, "lat": NUMBER, "lon": NUMBER})
TOOLS = (
    ToolDef("find", ("find_place", "geocode", "search_places", "lookup_location", "locate_place"),
            ("Find a landmark or station by name; returns its place id and location.",
             "Geocode a place name to an id, district and coordinates.", "Search the map for a named place."),
            (param("query", ("search", "name", "place_name", "q"), STRING, "The place's name in English.",
                   "What to search for, e.g. Tower Bridge."),
             param("city", ("city", "in_city", "town"), STRING, "Only places in this city (English name).",
                   "Restrict the search to one city.", required=False)),
            obj({"results": array(PLACE)}), find),
    ToolDef("route", ("get_route", "travel_time", "plan_route", "directions", "route_between"),
            ("Distance and travel time between two places (by place id).",
             "Plan a route between two place ids and return how long it takes.", "Directions from one place id to another."),
            (param("origin", ("origin", "from_place", "start_id", "origin_id"), STRING, "Place id to start from.",
                   "Where the trip starts (a place id)."),
             param("destination", ("destination", "to_place", "end_id", "destination_id"), STRING, "Place id to go to.",
                   "Where the trip ends (a place id)."),
             param("mode", ("mode", "travel_mode", "by"), enum(MODES), "driving, walking, cycling or transit (default driving).",
                   "How to travel.", required=False)),
            obj({"origin": STRING, "destination": STRING, "mode": enum(MODES), "distance_km": NUMBER, "duration_min": {"type": "integer"},
                 "summary": STRING}),
            route),
)


def landmark(name_tuple: tuple, language: str) -> str:
    return {"en": name_tuple[0], "de": name_tuple[4], "zh": name_tuple[5]}[language]


def two_places(ctx) -> tuple[str, tuple, tuple]:
    city = ctx.rng.choice(split_pool(ctx, list(LANDMARKS)))
    a, b = ctx.rng.sample(LANDMARKS[city], 2)
    return city, a, b


def place_id(store: Store, name: str) -> str:
    return store.row("SELECT place_id FROM syn_maps_places WHERE name = ?", [name])["place_id"]


def where_scenario(ctx, store: Store) -> Scenario:
    language = ctx.language
    city = ctx.rng.choice(split_pool(ctx, list(LANDMARKS)))
    p = ctx.rng.choice(LANDMARKS[city])
    n, c = landmark(p, language), city_name(city, language)
    request = ctx.pick({
        "en": [f"Which part of {c} is {n} in?", f"Where exactly is {n} in {c}? I need the district and coordinates.",
               f"Can you look up {n} on the map for me?"],
        "de": [f"In welchem Stadtteil von {c} liegt {n}?", f"Wo genau ist {n} in {c}? Ich brauche Stadtteil und Koordinaten.",
               f"Kannst du {n} auf der Karte nachschlagen?"],
        "zh": [f"{n}在{c}的哪个区？", f"{c}的{n}具体在哪里？告诉我所在区和坐标。", f"帮我在地图上查一下{n}。"],
    })
    expected = find(store, {"query": p[0], "city": city})["results"][0]

    def answer(results):
        r = results[-1][0]["results"][0]
        return say(language, f"{n} is in {r['district']}, {c} (coordinates {r['lat']}, {r['lon']}).",
                   f"{n} liegt in {r['district']}, {c} (Koordinaten {r['lat']}, {r['lon']}).",
                   f"{n}位于{c}的{r['district']}，坐标为{r['lat']}, {r['lon']}。")

    return Scenario(request, [[Call("find", {"query": p[0], "city": city})]], answer,
                    facts=[[expected["district"]], [str(expected["lat"])]])


def route_request(ctx, a: str, b: str, mode: str) -> str:
    en, de, zh = MODE_WORDS[mode]
    return ctx.pick({
        "en": [f"How long does it take to {en} from {a} to {b}?", f"I want to {en} from {a} to {b}. How far is it and how long will it take?",
               f"Time to {en} from {a} to {b}?", f"If I {en} from {a} to {b}, how long is that?"],
        "de": [f"Wie lange brauche ich {de} von {a} zu {b}?", f"Ich will {de} von {a} nach {b}. Wie weit ist das und wie lange dauert es?",
               f"Wie lange dauert es {de} von {a} bis {b}?", f"Wie weit ist es von {a} bis {b}, wenn ich {de} fahre?"
               if mode != "walking" else f"Wie weit ist es von {a} bis {b}, wenn ich zu Fuß gehe?"],
        "zh": [f"从{a}{zh}到{b}要多久？", f"我想从{a}{zh}去{b}，有多远、要多长时间？", f"{zh}从{a}到{b}需要多长时间？",
               f"从{a}到{b}，{zh}大概要多久？"],
    })


def route_answer(language: str, a: str, b: str, r: dict) -> str:
    en, de, zh = MODE_WORDS[r["mode"]]
    return say(language, f"From {a} to {b} it is {r['distance_km']} km; to {en} takes about {r['duration_min']} minutes.",
               f"Von {a} nach {b} sind es {str(r['distance_km']).replace('.', ',')} km; {de} brauchst du etwa "
               f"{r['duration_min']} Minuten.",
               f"从{a}到{b}约{r['distance_km']}公里，{zh}大约需要{r['duration_min']}分钟。")


def route_facts(r: dict) -> list[list[str]]:
    km, minutes = r["distance_km"], r["duration_min"]
    return [[f"{minutes} min", f"{minutes}分钟"], [f"{km} km", f"{str(km).replace('.', ',')} km", f"{km}公里"]]


def route_scenario(ctx, store: Store) -> Scenario:
    """Chain: find both places (together), then the route between their ids."""
    language = ctx.language
    city, a, b = two_places(ctx)
    mode = ctx.rng.choice(MODES)
    la, lb = landmark(a, language), landmark(b, language)
    ia, ib = place_id(store, a[0]), place_id(store, b[0])
    expected = route(store, {"origin": ia, "destination": ib, "mode": mode})
    return Scenario(route_request(ctx, la, lb, mode),
                    [[Call("find", {"query": a[0], "city": city}), Call("find", {"query": b[0], "city": city})],
                     [Call("route", {"origin": ia, "destination": ib, "mode": mode})]],
                    lambda results: route_answer(language, la, lb, results[-1][0]),
                    facts=route_facts(expected))


def by_name_scenario(ctx, store: Store) -> Scenario:
    """The first call passes the names as route ends; the error says to look the ids up, and the expert does."""
    language = ctx.language
    city, a, b = two_places(ctx)
    mode = ctx.rng.choice(MODES)
    la, lb = landmark(a, language), landmark(b, language)
    ia, ib = place_id(store, a[0]), place_id(store, b[0])
    expected = route(store, {"origin": ia, "destination": ib, "mode": mode})
    return Scenario(route_request(ctx, la, lb, mode),
                    [[Call("route", {"origin": a[0], "destination": b[0], "mode": mode})],
                     [Call("find", {"query": a[0], "city": city}), Call("find", {"query": b[0], "city": city})],
                     [Call("route", {"origin": ia, "destination": ib, "mode": mode})]],
                    lambda results: route_answer(language, la, lb, results[-1][0]),
                    facts=route_facts(expected))


register(Domain("maps", "both", SCHEMA, {"syn_maps_places": "place_id"}, seed, TOOLS,
                (("single", where_scenario), ("chain", route_scenario), ("error", by_name_scenario))))
