"""Tide tables (held out: training never shows it): high and low water per coastal station and day (read-only)."""

from __future__ import annotations

import random
from datetime import date, timedelta

from openk2.agent.apps.store import Store

from ..language import TODAY, day_phrase, show_day
from ..synthetic import Call, Domain, Scenario, ToolDef, register
from .common import NUMBER, STRING, array, enum, number_facts, obj, param, say

STATIONS = ["St Ives", "Brighton", "Dover", "Whitby", "Oban", "Galway", "Saint-Malo", "Cuxhaven", "Westerland", "Den Helder"]
DAYS = [TODAY + timedelta(days=i) for i in range(4)]

SCHEMA = """
CREATE TABLE IF NOT EXISTS syn_tides_events (event_id INTEGER PRIMARY KEY, station TEXT NOT NULL, day TEXT NOT NULL,
    time TEXT NOT NULL, kind TEXT NOT NULL, height_m REAL NOT NULL);
"""


def seed(store: Store, rng: random.Random) -> None:
    """Two highs and two lows a day, about 6 h 12 min apart, drifting 50 minutes later each day."""
    rows = []
    for station in STATIONS:
        start, spring = rng.randint(0, 359), rng.uniform(2.5, 7.5)
        for d, day in enumerate(DAYS):
            minute = start + 50 * d
            for k in range(4):
                m = (minute + k * 372) % (24 * 60)
                high = k % 2 == 0
                rows.append((len(rows) + 1, station, day.isoformat(), f"{m // 60:02d}:{m % 60:02d}", "high" if high else "low",
                             round(spring * rng.uniform(0.9, 1.05), 1) if high else round(rng.uniform(0.2, 1.2), 1)))
    store.executemany("INSERT INTO syn_tides_events VALUES (?, ?, ?, ?, ?, ?)", rows)


def tides(store: Store, args: dict) -> dict:
    station = next((s for s in STATIONS if s.casefold() == args["station"].strip().casefold()), None)
    if station is None:
        raise ValueError(f"no tide station {args['station']!r}; stations: {', '.join(STATIONS)}")
    day = args.get("date") or TODAY.isoformat()
    rows = store.rows("SELECT * FROM syn_tides_events WHERE station = ? AND day = ? ORDER BY time", [station, day])
    if not rows:
        raise ValueError(f"tide tables cover {DAYS[0].isoformat()} to {DAYS[-1].isoformat()} only")
    return {"station": station, "date": day, "tides": [{"time": r["time"], "type": r["kind"], "height_m": r["height_m"]} for r in rows]}


TOOLS = (
    ToolDef("tides", ("tide_times", "get_tides", "tide_table", "high_low_water"),
            ("High and low tide times and heights at a coastal station for a day.", "Tide table for one station and date."),
            (param("station", ("station", "port", "station_name"), STRING, "Tide station name, e.g. Dover.", "Where."),
             param("date", ("date", "day", "on"), {"type": "string", "format": "date"}, "YYYY-MM-DD; default today.",
                   "Which day.", required=False)),
            obj({"station": STRING, "date": STRING, "tides": array(obj({"time": STRING, "type": enum(["high", "low"]),
                                                                        "height_m": NUMBER}))}), tides),
)


def highs(store: Store, station: str, day: date) -> list[dict]:
    return [t for t in tides(store, {"station": station, "date": day.isoformat()})["tides"] if t["type"] == "high"]


def high_text(station: str, day: date, hs: list[dict], language: str) -> str:
    times = say(language, " and ", " und ", "和").join(f"{h['time']} ({show(h['height_m'], language)} m)" for h in hs)
    return say(language, f"High tide at {station} on {show_day(day, 'en')}: {times}.",
               f"Hochwasser in {station} am {show_day(day, 'de')}: {times}.", f"{station}{show_day(day, 'zh')}的高潮：{times}。")


def show(value: float, language: str) -> str:
    return str(value).replace(".", ",") if language == "de" else str(value)


def high_scenario(ctx, store: Store) -> Scenario:
    language = ctx.language
    station, day = ctx.rng.choice(STATIONS), ctx.rng.choice(DAYS[1:])
    when = day_phrase(day, language, ctx.rng)
    request = ctx.pick({
        "en": [f"When is high tide in {station} {when}?", f"I want to go surfing at {station} {when}. When's high water?",
               f"Tide times for {station} {when}, please: when is it high?"],
        "de": [f"Wann ist {when} Hochwasser in {station}?", f"Ich will {when} in {station} surfen. Wann ist Flut?",
               f"Gezeiten für {station} {when}, bitte: wann ist Hochwasser?"],
        "zh": [f"{station}{when}什么时候涨潮？", f"我{when}想去{station}冲浪，高潮是几点？", f"请查{station}{when}的潮汐：高潮在几点？"],
    })
    hs = highs(store, station, day)
    return Scenario(request, [[Call("tides", {"station": station, "date": day.isoformat()})]],
                    lambda results: high_text(station, day, [t for t in results[0][0]["tides"] if t["type"] == "high"], language),
                    facts=[[h["time"]] for h in hs] + [number_facts(hs[0]["height_m"])])


def two_stations_scenario(ctx, store: Store) -> Scenario:
    language = ctx.language
    a, b = ctx.rng.sample(STATIONS, 2)
    day = ctx.rng.choice(DAYS[1:])
    when = day_phrase(day, language, ctx.rng)
    request = ctx.pick({
        "en": [f"Compare high tide times in {a} and {b} {when}.", f"When is high water {when} in {a}, and in {b}?",
               f"I'm sailing from {a} to {b} {when}. What are the high tides at both?"],
        "de": [f"Vergleiche die Hochwasserzeiten in {a} und {b} {when}.", f"Wann ist {when} Hochwasser in {a} und wann in {b}?",
               f"Ich segle {when} von {a} nach {b}. Wann ist an beiden Orten Hochwasser?"],
        "zh": [f"比较{a}和{b}{when}的高潮时间。", f"{when}{a}和{b}分别几点高潮？", f"我{when}从{a}航行到{b}，两地的高潮时间是？"],
    })
    ha, hb = highs(store, a, day), highs(store, b, day)
    return Scenario(request, [[Call("tides", {"station": a, "date": day.isoformat()}),
                               Call("tides", {"station": b, "date": day.isoformat()})]],
                    lambda results: " ".join(high_text(r["station"], day, [t for t in r["tides"] if t["type"] == "high"], language)
                                             for r in results[0]),
                    facts=[[ha[0]["time"]], [hb[0]["time"]], [a], [b]])


register(Domain("tides", "heldout", SCHEMA, {"syn_tides_events": "event_id"}, seed, TOOLS,
                (("single", high_scenario), ("parallel", two_stations_scenario))))
