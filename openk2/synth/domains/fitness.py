"""Fitness log: workouts of the last weeks, totals per period and activity, and logging a new workout."""

from __future__ import annotations

import random
from datetime import date, timedelta

from openk2.agent.apps.store import Store

from ..language import TODAY, day_facts, show_day
from ..synthetic import Call, Domain, Scenario, ToolDef, register
from .common import INTEGER, NUMBER, STRING, array, enum, obj, param, say, show_number

ACTIVITIES = ("running", "cycling", "swimming", "walking", "yoga", "strength", "rowing")
KCAL_PER_MIN = {"running": 11, "cycling": 8, "swimming": 9, "walking": 4, "yoga": 3, "strength": 6, "rowing": 8}
WITH_DISTANCE = ("running", "cycling", "swimming", "walking", "rowing")
ACTIVITY_WORDS = {"running": ("running", "Laufen", "跑步"), "cycling": ("cycling", "Radfahren", "骑车"),
                  "swimming": ("swimming", "Schwimmen", "游泳"), "walking": ("walking", "Gehen", "走路"),
                  "yoga": ("yoga", "Yoga", "瑜伽"), "strength": ("strength training", "Krafttraining", "力量训练"),
                  "rowing": ("rowing", "Rudern", "划船")}

SCHEMA = """
CREATE TABLE IF NOT EXISTS syn_fitness_workouts (workout_id INTEGER PRIMARY KEY, day TEXT NOT NULL, activity TEXT NOT NULL,
    minutes INTEGER NOT NULL, distance_km REAL, calories INTEGER NOT NULL);
"""


def seed(store: Store, rng: random.Random) -> None:
    rows = []
    for back in range(20, 0, -1):
        if rng.random() < 0.6:
            activity = rng.choice(ACTIVITIES)
            minutes = rng.choice([20, 25, 30, 40, 45, 50, 60, 75])
            km = round(minutes * {"running": 0.18, "cycling": 0.4, "swimming": 0.04, "walking": 0.09, "rowing": 0.15}[activity]
                       * rng.uniform(0.85, 1.15), 1) if activity in WITH_DISTANCE else None
            rows.append((len(rows) + 1, (TODAY - timedelta(days=back)).isoformat(), activity, minutes, km,
                         minutes * KCAL_PER_MIN[activity]))
    store.executemany("INSERT INTO syn_fitness_workouts VALUES (?, ?, ?, ?, ?, ?)", rows)


def record(r: dict) -> dict:
    return {"workout_id": r["workout_id"], "date": r["day"], "activity": r["activity"], "minutes": r["minutes"],
            "distance_km": r["distance_km"], "calories": r["calories"]}


def summary(store: Store, args: dict) -> dict:
    days = args.get("days") or 7
    since = (TODAY - timedelta(days=days - 1)).isoformat()
    rows = store.rows("SELECT * FROM syn_fitness_workouts WHERE day >= ? ORDER BY day, workout_id", [since])
    rows = [r for r in rows if not args.get("activity") or r["activity"] == args["activity"]]
    return {"from": since, "to": TODAY.isoformat(), "activity": args.get("activity") or "all", "workouts": len(rows),
            "total_minutes": sum(r["minutes"] for r in rows),
            "total_km": round(sum(r["distance_km"] or 0 for r in rows), 1), "total_calories": sum(r["calories"] for r in rows),
            "entries": [record(r) for r in rows]}


def log(store: Store, args: dict) -> dict:
    day = args.get("date") or TODAY.isoformat()
    try:
        parsed = date.fromisoformat(day)
    except ValueError:
        raise ValueError(f"date must be YYYY-MM-DD, not {day!r}") from None
    if parsed > TODAY:
        raise ValueError(f"{day} is in the future; only past or today's workouts can be logged")
    km = args.get("distance_km")
    if km is not None and args["activity"] not in WITH_DISTANCE:
        raise ValueError(f"{args['activity']} has no distance; leave distance out")
    calories = args["minutes"] * KCAL_PER_MIN[args["activity"]]
    wid = store.execute("INSERT INTO syn_fitness_workouts (day, activity, minutes, distance_km, calories) VALUES (?, ?, ?, ?, ?)",
                        [day, args["activity"], args["minutes"], km, calories])
    return record(store.row("SELECT * FROM syn_fitness_workouts WHERE workout_id = ?", [wid]))


WORKOUT = obj({"workout_id": INTEGER, "date": STRING, "activity": enum(ACTIVITIES), "minutes": INTEGER,
               "distance_km": {"type": ["number", "null"]}, "calories": INTEGER})
ACTIVITY = param("activity", ("activity", "sport", "workout_type"), enum(ACTIVITIES), "Kind of workout.", "The activity.")
TOOLS = (
    ToolDef("summary", ("workout_summary", "get_workouts", "fitness_stats", "activity_report"),
            ("Workouts and totals over the last N days (today included).", "Summarise logged exercise for a period."),
            (param("days", ("days", "period_days", "last_n_days"), {"type": "integer", "minimum": 1, "maximum": 30},
                   "How many days back, today included (default 7).", "Length of the period.", required=False),
             param("activity", ("activity", "sport", "workout_type"), enum(ACTIVITIES), "Only this activity.",
                   "Activity filter.", required=False)),
            obj({"from": STRING, "to": STRING, "activity": STRING, "workouts": INTEGER, "total_minutes": INTEGER,
                 "total_km": NUMBER, "total_calories": INTEGER, "entries": array(WORKOUT)}), summary),
    ToolDef("log", ("log_workout", "add_workout", "record_exercise", "track_workout"),
            ("Log a workout (today unless a date is given).", "Record an exercise session."),
            (ACTIVITY, param("minutes", ("minutes", "duration_min", "duration"), {"type": "integer", "minimum": 1, "maximum": 600},
                             "How long, in minutes.", "Duration."),
             param("distance_km", ("distance_km", "km", "distance"), {"type": "number", "minimum": 0}, "Distance in km, if any.",
                   "How far.", required=False),
             param("date", ("date", "day", "when"), {"type": "string", "format": "date"}, "YYYY-MM-DD; default today.",
                   "Day of the workout.", required=False)),
            WORKOUT, log, writes=True),
)


def word(activity: str, language: str) -> str:
    return dict(zip(("en", "de", "zh"), ACTIVITY_WORDS[activity]))[language]


def week_scenario(ctx, store: Store) -> Scenario:
    language = ctx.language
    days = ctx.rng.choice([7, 14])
    request = ctx.pick({
        "en": [f"How much did I work out in the last {days} days?", f"Give me my exercise totals for the past {days} days.",
               f"How many minutes of exercise have I logged over the last {days} days?"],
        "de": [f"Wie viel habe ich in den letzten {days} Tagen trainiert?", f"Gib mir meine Trainingssummen der letzten {days} Tage.",
               f"Wie viele Trainingsminuten habe ich in den letzten {days} Tagen eingetragen?"],
        "zh": [f"我最近{days}天运动了多少？", f"给我过去{days}天的运动汇总。", f"最近{days}天我记录了多少分钟运动？"],
    })
    expected = summary(store, {"days": days})

    def answer(results):
        r = results[0][0]
        since = show_day(date.fromisoformat(r["from"]), language)
        return say(language, f"In the last {days} days (since {since}): {r['workouts']} workouts, {r['total_minutes']} minutes, "
                             f"{show_number(r['total_km'], 'en')} km and {r['total_calories']} kcal.",
                   f"In den letzten {days} Tagen (seit {since}): {r['workouts']} Einheiten, {r['total_minutes']} Minuten, "
                   f"{show_number(r['total_km'], 'de')} km und {r['total_calories']} kcal.",
                   f"最近{days}天（自{since}起）：共{r['workouts']}次运动，{r['total_minutes']}分钟，{show_number(r['total_km'], 'zh')}公里，"
                   f"{r['total_calories']}千卡。")

    return Scenario(request, [[Call("summary", {"days": days})]], answer,
                    facts=[[str(expected["total_minutes"])], [str(expected["total_calories"])],
                           # the period's start as the answer writes it, and as only this result's JSON has it
                           [f for f in day_facts(date.fromisoformat(expected["from"])) if f != expected["from"]]
                           + [f'"from":"{expected["from"]}"']])


def compare_scenario(ctx, store: Store) -> Scenario:
    language = ctx.language
    days = ctx.rng.choice([14, 30])
    done = [x for x in ACTIVITIES if summary(store, {"days": days, "activity": x})["workouts"]]
    if len(done) < 2:  # a quiet fortnight: look at the month
        days, done = 30, [x for x in ACTIVITIES if summary(store, {"days": 30, "activity": x})["workouts"]]
    pairs = [(x, y) for x in done for y in done if x < y and summary(store, {"days": days, "activity": x})["total_minutes"]
             != summary(store, {"days": days, "activity": y})["total_minutes"]]  # distinct totals tell the calls apart
    a, b = ctx.rng.choice(pairs) if pairs else ("running", "cycling")
    if ctx.rng.random() < 0.5:
        a, b = b, a
    wa, wb = word(a, language), word(b, language)
    request = ctx.pick({
        "en": [f"Over the last {days} days, how much {wa} and how much {wb} did I do?", f"Compare my {wa} and {wb} for the past {days} days.",
               f"Minutes of {wa} vs {wb} in the last {days} days?"],
        "de": [f"Wie viel {wa} und wie viel {wb} habe ich in den letzten {days} Tagen gemacht?",
               f"Vergleiche mein {wa} und {wb} der letzten {days} Tage.", f"Minuten {wa} gegen {wb} in den letzten {days} Tagen?"],
        "zh": [f"最近{days}天我{wa}和{wb}各做了多少？", f"比较一下我过去{days}天的{wa}和{wb}。", f"最近{days}天{wa}和{wb}各多少分钟？"],
    })
    ea, eb = summary(store, {"days": days, "activity": a}), summary(store, {"days": days, "activity": b})

    def answer(results):
        x, y = results[0]
        part = lambda r, w: say(language, f"{w}: {r['workouts']} session{'' if r['workouts'] == 1 else 's'}, {r['total_minutes']} minutes",  # noqa: E731
                                f"{w}: {r['workouts']} Einheiten, {r['total_minutes']} Minuten", f"{w}：{r['workouts']}次，{r['total_minutes']}分钟")
        return say(language, f"Last {days} days — ", f"Letzte {days} Tage — ", f"最近{days}天——") + \
            say(language, "; ", "; ", "；").join([part(x, wa), part(y, wb)]) + say(language, ".", ".", "。")

    return Scenario(request, [[Call("summary", {"days": days, "activity": a}), Call("summary", {"days": days, "activity": b})]],
                    answer, facts=[minutes_fact(ea), minutes_fact(eb), list(ACTIVITY_WORDS[a]) + [a], list(ACTIVITY_WORDS[b]) + [b]])


def minutes_fact(r: dict) -> list[str]:
    n = r["total_minutes"]
    return [f"{n} min", f"{n} Minuten", f"{n}分钟", f'"total_minutes":{n}']  # the last: as the result's JSON has it


def log_scenario(ctx, store: Store) -> Scenario:
    language = ctx.language
    activity = ctx.rng.choice(["running", "cycling", "swimming", "walking", "rowing", "yoga"])
    minutes = ctx.rng.choice([25, 30, 35, 40, 45, 60])
    km = round(minutes * {"running": 0.17, "cycling": 0.38, "swimming": 0.04, "walking": 0.09, "rowing": 0.15, "yoga": 0}[activity], 1) \
        if activity != "yoga" else None
    yesterday = ctx.rng.random() < 0.4
    day = TODAY - timedelta(days=1 if yesterday else 0)
    when = say(language, "yesterday" if yesterday else "today", "gestern" if yesterday else "heute", "昨天" if yesterday else "今天")
    w = word(activity, language)
    dist = "" if km is None else say(language, f", {show_number(km, 'en')} km", f", {show_number(km, 'de')} km", f"，{km}公里")
    request = ctx.pick({
        "en": [f"Log {minutes} minutes of {w} {when}{dist}.", f"Add a workout: {w}, {minutes} min{dist}, {when}.",
               f"I did {minutes} minutes of {w} {when}{dist}. Please record it."],
        "de": [f"Trag für {when} {minutes} Minuten {w}{dist} ein.", f"Neues Training: {w}, {minutes} Min.{dist}, {when}.",
               f"Ich habe {when} {minutes} Minuten {w} gemacht{dist}. Bitte eintragen."],
        "zh": [f"记录{when}{w}{minutes}分钟{dist}。", f"添加一次运动：{w}，{minutes}分钟{dist}，{when}。", f"我{when}{w}了{minutes}分钟{dist}，帮我记下来。"],
    })
    call = {"activity": activity, "minutes": minutes, "date": day.isoformat()}
    if km is not None:
        call["distance_km"] = km
    calories = minutes * KCAL_PER_MIN[activity]

    def answer(results):
        r = results[0][0]
        d = date.fromisoformat(r["date"])
        return say(language, f"Logged: {w}, {minutes} minutes{dist} on {show_day(d, 'en')} (about {r['calories']} kcal).",
                   f"Eingetragen: {w}, {minutes} Minuten{dist} am {show_day(d, 'de')} (etwa {r['calories']} kcal).",
                   f"已记录：{show_day(d, 'zh')}{w}{minutes}分钟{dist}（约{r['calories']}千卡）。")

    fields = {"activity": activity, "minutes": minutes, "day": day.isoformat()}
    if km is not None:
        fields["distance_km"] = km
    return Scenario(request, [[Call("log", call)]], answer, facts=[[str(calories)]],
                    changes=[{"kind": "syn_fitness_workouts", "op": "insert", "fields": fields}])


register(Domain("fitness", "both", SCHEMA, {"syn_fitness_workouts": "workout_id"}, seed, TOOLS,
                (("single", week_scenario), ("parallel", compare_scenario), ("write", log_scenario))))
