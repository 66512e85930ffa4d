"""World clock: the local time in a city now, and a time of day converted between two cities (read-only).

The world's clock is frozen (Monday 2 June 2025, 08:00 UTC); offsets come from the IANA time zone database.
"""

from __future__ import annotations

import random
import re
from datetime import datetime
from zoneinfo import ZoneInfo

from openk2.agent.apps.store import Store
from openk2.agent.apps.world import NOW

from ..synthetic import Call, Domain, Scenario, ToolDef, register
from .common import INTEGER, STRING, city_facts, city_name, obj, param, say, split_pool

ZONES = {"London": "Europe/London", "Paris": "Europe/Paris", "Berlin": "Europe/Berlin", "Madrid": "Europe/Madrid",
         "Athens": "Europe/Athens", "Moscow": "Europe/Moscow", "Istanbul": "Europe/Istanbul", "Dubai": "Asia/Dubai",
         "Mumbai": "Asia/Kolkata", "Bangkok": "Asia/Bangkok", "Singapore": "Asia/Singapore", "Shanghai": "Asia/Shanghai",
         "Hong Kong": "Asia/Hong_Kong", "Tokyo": "Asia/Tokyo", "Seoul": "Asia/Seoul", "Sydney": "Australia/Sydney",
         "Auckland": "Pacific/Auckland", "New York": "America/New_York", "Chicago": "America/Chicago",
         "Los Angeles": "America/Los_Angeles", "Toronto": "America/Toronto", "Mexico City": "America/Mexico_City",
         "Sao Paulo": "America/Sao_Paulo", "Cairo": "Africa/Cairo", "Nairobi": "Africa/Nairobi"}
CITIES = list(ZONES)
WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS syn_clock_cities (city TEXT PRIMARY KEY, timezone TEXT NOT NULL);
"""


def seed(store: Store, rng: random.Random) -> None:
    store.executemany("INSERT INTO syn_clock_cities VALUES (?, ?)", list(ZONES.items()))


def zone(store: Store, city: str) -> dict:
    row = store.row("SELECT * FROM syn_clock_cities WHERE lower(city) = lower(?)", [city.strip()])
    if row is None:
        raise ValueError(f"no time zone known for {city!r}; use a major city's English name, e.g. Tokyo or New York")
    return row


def offset(moment: datetime) -> str:
    minutes = int(moment.utcoffset().total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    return f"UTC{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def local_time(store: Store, args: dict) -> dict:
    row = zone(store, args["city"])
    moment = NOW.astimezone(ZoneInfo(row["timezone"]))
    return {"city": row["city"], "timezone": row["timezone"], "local_time": moment.strftime("%H:%M"),
            "date": moment.date().isoformat(), "weekday": WEEKDAYS[moment.weekday()], "utc_offset": offset(moment)}


def convert(store: Store, args: dict) -> dict:
    text = args["time"].strip()
    if not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", text):
        raise ValueError(f"time must be HH:MM on a 24-hour clock (such as 07:45), not {text!r}")
    source, target = zone(store, args["from_city"]), zone(store, args["to_city"])
    day = datetime.fromisoformat(args.get("date") or NOW.date().isoformat()).date()
    start = datetime.combine(day, datetime.strptime(text, "%H:%M").time(), ZoneInfo(source["timezone"]))
    end = start.astimezone(ZoneInfo(target["timezone"]))
    return {"from_city": source["city"], "from_time": text, "to_city": target["city"], "to_time": end.strftime("%H:%M"),
            "date": end.date().isoformat(), "day_offset": (end.date() - day).days}


TOOLS = (
    ToolDef("now", ("local_time", "time_in_city", "get_local_time", "world_clock", "current_time_at"),
            ("The current local time and date in a city.", "What time it is now somewhere in the world."),
            (param("city", ("city", "place", "city_name"), STRING, "City name in English, e.g. Tokyo.", "The city."),),
            obj({"city": STRING, "timezone": STRING, "local_time": STRING, "date": STRING, "weekday": STRING,
                 "utc_offset": STRING}), local_time),
    ToolDef("convert", ("convert_time", "time_zone_convert", "translate_time", "meeting_time_converter"),
            ("Convert a time of day from one city's time zone to another's.", "What a given local time is in another city."),
            (param("time", ("time", "local_time", "clock_time"), STRING, "Time as HH:MM, 24-hour.", "The time to convert."),
             param("from_city", ("from_city", "source_city", "origin"), STRING, "City the time is in.", "Where that time applies."),
             param("to_city", ("to_city", "target_city", "destination"), STRING, "City to convert to.", "Where you want the time."),
             param("date", ("date", "on_date", "day"), {"type": "string", "format": "date"},
                   "Date (YYYY-MM-DD); default today.", "Which day.", required=False)),
            obj({"from_city": STRING, "from_time": STRING, "to_city": STRING, "to_time": STRING, "date": STRING,
                 "day_offset": INTEGER}), convert),
)


def now_answer(r: dict, language: str) -> str:
    c = city_name(r["city"], language)
    return say(language, f"In {c} it is {r['local_time']} on {r['weekday']} ({r['utc_offset']}).",
               f"In {c} ist es jetzt {r['local_time']} Uhr ({r['utc_offset']}).",
               f"{c}现在是{r['local_time']}（{r['utc_offset']}）。")


def now_scenario(ctx, store: Store) -> Scenario:
    language = ctx.language
    city = ctx.rng.choice([c for c in split_pool(ctx, CITIES) if c != "London"])
    c = city_name(city, language)
    request = ctx.pick({
        "en": [f"What time is it in {c} right now?", f"Is it still night in {c}? What's the time there?", f"Current time in {c}?"],
        "de": [f"Wie spät ist es gerade in {c}?", f"Ist es in {c} noch Nacht? Wie spät ist es dort?", f"Uhrzeit in {c}?"],
        "zh": [f"{c}现在几点？", f"{c}现在还是晚上吗？那边几点了？", f"{c}当前时间？"],
    })
    expected = local_time(store, {"city": city})
    return Scenario(request, [[Call("now", {"city": city})]], lambda results: now_answer(results[0][0], language),
                    facts=[[expected["local_time"]]])


def two_clocks_scenario(ctx, store: Store) -> Scenario:
    language = ctx.language
    a, b = ctx.rng.sample([c for c in split_pool(ctx, CITIES) if c != "London"], 2)
    while local_time(store, {"city": a})["local_time"] == local_time(store, {"city": b})["local_time"]:
        b = ctx.rng.choice([c for c in split_pool(ctx, CITIES) if c not in ("London", a)])  # two different clocks
    ca, cb = city_name(a, language), city_name(b, language)
    request = ctx.pick({
        "en": [f"What time is it in {ca} and in {cb}?", f"I have colleagues in {ca} and {cb}. What's their local time now?",
               f"Tell me the current time in {ca} and {cb}."],
        "de": [f"Wie spät ist es in {ca} und in {cb}?", f"Ich habe Kollegen in {ca} und {cb}. Wie spät ist es bei ihnen?",
               f"Sag mir die aktuelle Uhrzeit in {ca} und {cb}."],
        "zh": [f"{ca}和{cb}现在几点？", f"我有同事在{ca}和{cb}，他们那边现在几点？", f"告诉我{ca}和{cb}现在的时间。"],
    })
    ea, eb = local_time(store, {"city": a}), local_time(store, {"city": b})
    return Scenario(request, [[Call("now", {"city": a}), Call("now", {"city": b})]],
                    lambda results: " ".join(now_answer(r, language) for r in results[0]),
                    facts=[[ea["local_time"]], [eb["local_time"]], city_facts(a), city_facts(b)])


def convert_request(ctx, spoken: str, c: str) -> str:
    return ctx.pick({
        "en": [f"If I call at {spoken} London time, what time is it in {c}?", f"A meeting at {spoken} here in London: what time is that in {c}?",
               f"Convert {spoken} London time to {c} time."],
        "de": [f"Wenn ich um {spoken} Londoner Zeit anrufe, wie spät ist es dann in {c}?",
               f"Ein Meeting um {spoken} hier in London: wie spät ist das in {c}?", f"Rechne {spoken} Londoner Zeit in die Zeit von {c} um."],
        "zh": [f"如果我在伦敦时间{spoken}打电话，{c}是几点？", f"伦敦这边{spoken}开会，{c}是几点？", f"把伦敦时间{spoken}换算成{c}时间。"],
    })


def convert_answer(r: dict, language: str) -> str:
    c = city_name(r["to_city"], language)
    day = {1: say(language, " (the next day)", " (am nächsten Tag)", "（次日）"),
           -1: say(language, " (the previous day)", " (am Vortag)", "（前一天）")}.get(r["day_offset"], "")
    return say(language, f"{r['from_time']} in London is {r['to_time']} in {c}{day}.",
               f"{r['from_time']} Uhr in London ist {r['to_time']} Uhr in {c}{day}.",
               f"伦敦时间{r['from_time']}是{c}时间{r['to_time']}{day}。")


def bad_time_scenario(ctx, store: Store) -> Scenario:
    """The first call passes the time as the user said it (3pm, 15 Uhr, 下午3点); the error asks for HH:MM."""
    language = ctx.language
    city = ctx.rng.choice([c for c in split_pool(ctx, CITIES) if c != "London"])
    hour = ctx.rng.choice([8, 10, 14, 15, 16, 17, 19])
    spoken = say(language, f"{hour % 12 or 12}{'am' if hour < 12 else 'pm'}", f"{hour} Uhr",
                 f"{'上午' if hour < 12 else '下午' if hour < 18 else '晚上'}{hour if hour <= 12 else hour - 12}点")
    call = {"time": f"{hour:02d}:00", "from_city": "London", "to_city": city}
    expected = convert(store, call)
    return Scenario(convert_request(ctx, spoken, city_name(city, language)),
                    [[Call("convert", {**call, "time": spoken})], [Call("convert", call)]],
                    lambda results: convert_answer(results[-1][0], language), facts=[[expected["to_time"]]])


register(Domain("clock", "both", SCHEMA, {"syn_clock_cities": "city"}, seed, TOOLS,
                (("single", now_scenario), ("parallel", two_clocks_scenario), ("error", bad_time_scenario))))
