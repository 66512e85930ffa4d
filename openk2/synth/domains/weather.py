"""Weather: current conditions and a three-day forecast per city (read-only)."""

from __future__ import annotations

import random

from openk2.agent.apps.store import Store

from ..synthetic import Call, Domain, Param, Scenario, ToolDef, register
from .common import number_facts, split_pool

CITIES = ["Lisbon", "Madrid", "Rome", "Vienna", "Prague", "Oslo", "Dublin", "Amsterdam", "Zurich", "Warsaw", "Athens",
          "Tokyo", "Seoul", "Sydney", "Toronto", "Chicago", "Boston", "Cape Town", "Dubai", "Mumbai"]
CONDITIONS = ["sunny", "cloudy", "rain", "light rain", "thunderstorms", "fog", "windy", "snow"]
CONDITION_WORDS = {"de": {"sunny": "sonnig", "cloudy": "bewölkt", "rain": "Regen", "light rain": "leichter Regen",
                          "thunderstorms": "Gewitter", "fog": "Nebel", "windy": "windig", "snow": "Schnee"},
                   "zh": {"sunny": "晴", "cloudy": "多云", "rain": "雨", "light rain": "小雨", "thunderstorms": "雷阵雨",
                          "fog": "雾", "windy": "大风", "snow": "雪"}}
CITY_ZH = {"Lisbon": "里斯本", "Madrid": "马德里", "Rome": "罗马", "Vienna": "维也纳", "Prague": "布拉格", "Oslo": "奥斯陆",
           "Dublin": "都柏林", "Amsterdam": "阿姆斯特丹", "Zurich": "苏黎世", "Warsaw": "华沙", "Athens": "雅典",
           "Tokyo": "东京", "Seoul": "首尔", "Sydney": "悉尼", "Toronto": "多伦多", "Chicago": "芝加哥", "Boston": "波士顿",
           "Cape Town": "开普敦", "Dubai": "迪拜", "Mumbai": "孟买"}
CITY_DE = {"Lisbon": "Lissabon", "Rome": "Rom", "Vienna": "Wien", "Prague": "Prag", "Zurich": "Zürich",
           "Warsaw": "Warschau", "Athens": "Athen", "Cape Town": "Kapstadt"}

SCHEMA = """
CREATE TABLE IF NOT EXISTS syn_weather (city TEXT PRIMARY KEY, temp_c INTEGER NOT NULL, condition TEXT NOT NULL,
    humidity INTEGER NOT NULL, wind_kph INTEGER NOT NULL, forecast TEXT NOT NULL);
"""


def seed(store: Store, rng: random.Random) -> None:
    rows = []
    for city in CITIES:
        forecast = ",".join(f"{rng.randint(-2, 34)}:{rng.choice(CONDITIONS)}" for _ in range(3))
        rows.append((city, rng.randint(-5, 35), rng.choice(CONDITIONS), rng.randint(20, 95), rng.randint(0, 60), forecast))
    store.executemany("INSERT INTO syn_weather VALUES (?, ?, ?, ?, ?, ?)", rows)


def city_row(store: Store, city: str) -> dict:
    row = store.row("SELECT * FROM syn_weather WHERE lower(city) = lower(?)", [city.strip()])
    if row is None:
        raise ValueError(f"no weather data for {city!r}; give the city's English name alone, such as Lisbon or Tokyo")
    return row


def celsius(value: int, units: str | None) -> float | int:
    return round(value * 9 / 5 + 32) if units == "imperial" else value


def current(store: Store, args: dict) -> dict:
    row, units = city_row(store, args["city"]), args.get("units") or "metric"
    return {"city": row["city"], "temperature": celsius(row["temp_c"], units), "units": units,
            "condition": row["condition"], "humidity_percent": row["humidity"], "wind_kph": row["wind_kph"]}


def forecast(store: Store, args: dict) -> dict:
    row, units = city_row(store, args["city"]), args.get("units") or "metric"
    days = []
    for i, part in enumerate(row["forecast"].split(",")):
        temp, condition = part.split(":")
        days.append({"day": i + 1, "high": celsius(int(temp), units), "condition": condition})
    return {"city": row["city"], "units": units, "days": days[: args.get("days") or 3]}


CITY = Param("city", ("city", "place", "city_name", "town"), {"type": "string"},
             ("City name in English, e.g. Lisbon.", "The city to look up.", "Name of the place (English spelling)."))
UNITS = Param("units", ("units", "unit_system"), {"type": "string", "enum": ["metric", "imperial"]},
              ("metric (Celsius) or imperial (Fahrenheit); default metric.", "Unit system for temperatures."),
              required=False)
CURRENT_RESULT = {"type": "object", "required": ["city", "temperature", "units", "condition", "humidity_percent", "wind_kph"],
                  "properties": {"city": {"type": "string"}, "temperature": {"type": "number"},
                                 "units": {"enum": ["metric", "imperial"]}, "condition": {"type": "string"},
                                 "humidity_percent": {"type": "integer"}, "wind_kph": {"type": "integer"}},
                  "additionalProperties": False}
FORECAST_RESULT = {"type": "object", "required": ["city", "units", "days"], "additionalProperties": False,
                   "properties": {"city": {"type": "string"}, "units": {"enum": ["metric", "imperial"]},
                                  "days": {"type": "array", "items": {
                                      "type": "object", "required": ["day", "high", "condition"], "additionalProperties": False,
                                      "properties": {"day": {"type": "integer"}, "high": {"type": "number"},
                                                     "condition": {"type": "string"}}}}}}
TOOLS = (
    ToolDef("current", ("get_weather", "current_weather", "weather_now", "lookup_weather", "fetch_conditions"),
            ("Current weather conditions for a city.", "Look up the weather right now in a city.",
             "Returns temperature, conditions, humidity and wind for a city."),
            (CITY, UNITS), CURRENT_RESULT, current),
    ToolDef("forecast", ("get_forecast", "weather_forecast", "forecast_lookup", "three_day_forecast"),
            ("Daily forecast (highs and conditions) for the next days.", "Weather forecast for a city, day by day."),
            (CITY, UNITS, Param("days", ("days", "num_days"), {"type": "integer", "minimum": 1, "maximum": 3},
                                ("How many days (1-3).", "Number of days to forecast, at most 3."), required=False)),
            FORECAST_RESULT, forecast),
)


def local_city(city: str, language: str) -> str:
    return CITY_ZH.get(city, city) if language == "zh" else CITY_DE.get(city, city) if language == "de" else city


def city_facts(city: str) -> list[str]:
    """The city in any language the answer may use (results hold the English name)."""
    return list(dict.fromkeys([city, CITY_DE.get(city, city), CITY_ZH.get(city, city)]))


def condition_word(condition: str, language: str) -> str:
    return CONDITION_WORDS.get(language, {}).get(condition, condition)


def now_scenario(ctx, store: Store) -> Scenario:
    city, language = ctx.rng.choice(split_pool(ctx, CITIES)), ctx.language
    row = city_row(store, city)
    c = local_city(city, language)
    request = ctx.pick({
        "en": [f"What's the weather like in {c} right now?", f"How warm is it in {c} at the moment?",
               f"Can you check the current weather in {c}?", f"Is it raining in {c}?"],
        "de": [f"Wie ist das Wetter gerade in {c}?", f"Wie warm ist es im Moment in {c}?",
               f"Kannst du das aktuelle Wetter in {c} nachschauen?", f"Regnet es gerade in {c}?"],
        "zh": [f"{c}现在天气怎么样？", f"{c}现在多少度？", f"帮我查一下{c}的实时天气。", f"{c}现在在下雨吗？"],
    })

    def answer(results):
        r = results[0][0]
        cond = condition_word(r["condition"], language)
        return {"en": f"In {c} it is {r['temperature']}°C right now, {cond}, with {r['humidity_percent']}% humidity.",
                "de": f"In {c} sind es gerade {r['temperature']} °C, {cond}, bei {r['humidity_percent']} % Luftfeuchtigkeit.",
                "zh": f"{c}现在{r['temperature']}°C，{cond}，湿度{r['humidity_percent']}%。"}[language]

    return Scenario(request, [[Call("current", {"city": city})]], answer, facts=[[str(row["temp_c"])]])


def compare_scenario(ctx, store: Store) -> Scenario:
    a, b = ctx.rng.sample(split_pool(ctx, CITIES), 2)
    while city_row(store, a)["temp_c"] == city_row(store, b)["temp_c"]:  # different temperatures tell the calls apart
        b = ctx.rng.choice([c for c in split_pool(ctx, CITIES) if c != a])
    language = ctx.language
    ra, rb = city_row(store, a), city_row(store, b)
    la, lb = local_city(a, language), local_city(b, language)
    request = ctx.pick({
        "en": [f"Is it warmer in {la} or in {lb} right now?", f"Compare the current weather in {la} and {lb}.",
               f"Which is warmer at the moment, {la} or {lb}?"],
        "de": [f"Ist es gerade in {la} oder in {lb} wärmer?", f"Vergleiche das aktuelle Wetter in {la} und {lb}.",
               f"Wo ist es im Moment wärmer, in {la} oder in {lb}?"],
        "zh": [f"现在{la}和{lb}哪里更暖和？", f"比较一下{la}和{lb}现在的天气。", f"{la}和{lb}现在哪个更暖和？"],
    })

    def answer(results):
        x, y = results[0]
        warmer = la if x["temperature"] > y["temperature"] else lb if y["temperature"] > x["temperature"] else None
        if language == "en":
            verdict = f"{warmer} is warmer." if warmer else "Both are the same temperature."
            return f"{la}: {x['temperature']}°C, {lb}: {y['temperature']}°C. {verdict}"
        if language == "de":
            verdict = f"In {warmer} ist es wärmer." if warmer else "Beide sind gleich warm."
            return f"{la}: {x['temperature']} °C, {lb}: {y['temperature']} °C. {verdict}"
        verdict = f"{warmer}更暖和。" if warmer else "两地温度一样。"
        return f"{la}：{x['temperature']}°C，{lb}：{y['temperature']}°C。{verdict}"

    return Scenario(request, [[Call("current", {"city": a}), Call("current", {"city": b})]], answer,
                    facts=[[str(ra["temp_c"])], [str(rb["temp_c"])], city_facts(a), city_facts(b)])


COUNTRY = {"Lisbon": "Portugal", "Madrid": "Spain", "Rome": "Italy", "Vienna": "Austria", "Prague": "Czechia",
           "Oslo": "Norway", "Dublin": "Ireland", "Amsterdam": "Netherlands", "Zurich": "Switzerland", "Warsaw": "Poland",
           "Athens": "Greece", "Tokyo": "Japan", "Seoul": "South Korea", "Sydney": "Australia", "Toronto": "Canada",
           "Chicago": "USA", "Boston": "USA", "Cape Town": "South Africa", "Dubai": "UAE", "Mumbai": "India"}


def spelling_scenario(ctx, store: Store) -> Scenario:
    """The first call spells the city as the user did (or adds the country); the error asks for the English name."""
    city, language = ctx.rng.choice(split_pool(ctx, CITIES)), ctx.language
    c = local_city(city, language)
    first = c if c != city else f"{city}, {COUNTRY[city]}"
    days = ctx.rng.choice([2, 3])
    row = city_row(store, city)
    highs = [int(part.split(":")[0]) for part in row["forecast"].split(",")][:days]
    request = ctx.pick({
        "en": [f"What will the weather be like in {c} over the next {days} days?", f"Give me the {days}-day forecast for {c}.",
               f"I'm going to {c}. What's the forecast for the next {days} days?"],
        "de": [f"Wie wird das Wetter in {c} in den nächsten {days} Tagen?", f"Gib mir die Vorhersage für {c} für {days} Tage.",
               f"Ich fahre nach {c}. Wie ist die Wettervorhersage für die nächsten {days} Tage?"],
        "zh": [f"{c}未来{days}天天气怎么样？", f"给我{c}未来{days}天的天气预报。", f"我要去{c}，接下来{days}天天气如何？"],
    })

    def answer(results):
        r = results[1][0]
        if language == "en":
            days_text = "; ".join(f"day {d['day']}: {d['high']}°C, {d['condition']}" for d in r["days"])
            return f"Forecast for {c}: {days_text}."
        if language == "de":
            days_text = "; ".join(f"Tag {d['day']}: {d['high']} °C, {condition_word(d['condition'], 'de')}" for d in r["days"])
            return f"Vorhersage für {c}: {days_text}."
        days_text = "；".join(f"第{d['day']}天：最高{d['high']}°C，{condition_word(d['condition'], 'zh')}" for d in r["days"])
        return f"{c}的天气预报：{days_text}。"

    return Scenario(request, [[Call("forecast", {"city": first, "days": days})], [Call("forecast", {"city": city, "days": days})]],
                    answer, facts=[number_facts(h) for h in dict.fromkeys(highs)])


register(Domain("weather", "both", SCHEMA, {"syn_weather": "city"}, seed, TOOLS,
                (("single", now_scenario), ("parallel", compare_scenario), ("error", spelling_scenario))))
