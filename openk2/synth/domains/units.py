"""Unit conversion over a table of units (length, mass, volume, speed, temperature, area); read-only.

The seed decides nothing but the table's rows: units are facts, not draws. Results are rounded to the
requested number of decimals (default 2).
"""

from __future__ import annotations

import random

from openk2.agent.apps.store import Store

from ..synthetic import Call, Domain, Scenario, ToolDef, register
from .common import NUMBER, STRING, array, enum, number_facts, obj, param, say

# unit -> (dimension, factor to the base unit, offset; base = factor * value + offset)
UNITS = {
    "m": ("length", 1, 0), "km": ("length", 1000, 0), "cm": ("length", 0.01, 0), "mm": ("length", 0.001, 0),
    "mi": ("length", 1609.344, 0), "yd": ("length", 0.9144, 0), "ft": ("length", 0.3048, 0), "in": ("length", 0.0254, 0),
    "kg": ("mass", 1, 0), "g": ("mass", 0.001, 0), "lb": ("mass", 0.45359237, 0), "oz": ("mass", 0.028349523125, 0),
    "t": ("mass", 1000, 0), "l": ("volume", 1, 0), "ml": ("volume", 0.001, 0), "gal": ("volume", 3.785411784, 0),
    "cup": ("volume", 0.2365882365, 0), "km/h": ("speed", 1 / 3.6, 0), "mph": ("speed", 0.44704, 0), "m/s": ("speed", 1, 0),
    "kn": ("speed", 0.514444, 0), "C": ("temperature", 1, 273.15), "F": ("temperature", 5 / 9, 255.3722222222),
    "K": ("temperature", 1, 0), "m2": ("area", 1, 0), "ha": ("area", 10_000, 0), "acre": ("area", 4046.8564224, 0),
    "ft2": ("area", 0.09290304, 0), "km2": ("area", 1_000_000, 0),
}
DIMENSIONS = ("length", "mass", "volume", "speed", "temperature", "area")

SCHEMA = """
CREATE TABLE IF NOT EXISTS syn_units_units (unit TEXT PRIMARY KEY, dimension TEXT NOT NULL, factor REAL NOT NULL,
    offset REAL NOT NULL);
"""


def seed(store: Store, rng: random.Random) -> None:
    store.executemany("INSERT INTO syn_units_units VALUES (?, ?, ?, ?)", [(u, *v) for u, v in UNITS.items()])


def unit(store: Store, name: str) -> dict:
    row = store.row("SELECT * FROM syn_units_units WHERE unit = ?", [name.strip()]) or \
        store.row("SELECT * FROM syn_units_units WHERE lower(unit) = lower(?)", [name.strip()])
    if row is None:
        known = "; ".join(f"{d}: {', '.join(u for u, v in UNITS.items() if v[0] == d)}" for d in DIMENSIONS)
        raise ValueError(f"unknown unit {name!r}; use a unit symbol ({known})")
    return row


def convert(store: Store, args: dict) -> dict:
    a, b = unit(store, args["from_unit"]), unit(store, args["to_unit"])
    if a["dimension"] != b["dimension"]:
        raise ValueError(f"cannot convert {a['unit']} ({a['dimension']}) to {b['unit']} ({b['dimension']})")
    base = args["value"] * a["factor"] + a["offset"]
    decimals = args.get("decimals", 2)
    result = round((base - b["offset"]) / b["factor"], decimals)
    return {"value": args["value"], "from_unit": a["unit"], "to_unit": b["unit"], "dimension": a["dimension"],
            "result": int(result) if decimals == 0 else result}


def list_units(store: Store, args: dict) -> dict:
    rows = store.rows("SELECT unit, dimension FROM syn_units_units ORDER BY rowid")
    return {"units": [r for r in rows if not args.get("dimension") or r["dimension"] == args["dimension"]]}


TOOLS = (
    ToolDef("convert", ("convert_units", "unit_convert", "convert_measurement", "measure_convert"),
            ("Convert a value between units of the same kind.", "Unit converter for length, mass, volume, speed, "
             "temperature and area.", "Converts a measurement to another unit."),
            (param("value", ("value", "amount", "quantity"), NUMBER, "The number to convert.", "Value in the source unit."),
             param("from_unit", ("from_unit", "source_unit", "unit_in"), STRING, "Unit symbol to convert from, e.g. mi.",
                   "The value's unit (symbol)."),
             param("to_unit", ("to_unit", "target_unit", "unit_out"), STRING, "Unit symbol to convert to, e.g. km.",
                   "The wanted unit (symbol)."),
             param("decimals", ("decimals", "precision", "digits"), {"type": "integer", "minimum": 0, "maximum": 6},
                   "Decimal places in the result (default 2).", "How precisely to round.", required=False)),
            obj({"value": NUMBER, "from_unit": STRING, "to_unit": STRING, "dimension": enum(DIMENSIONS), "result": NUMBER}),
            convert),
    ToolDef("list", ("list_units", "supported_units", "unit_catalog"),
            ("The unit symbols the converter knows.", "List supported units, optionally of one kind."),
            (param("dimension", ("dimension", "kind", "quantity_type"), enum(DIMENSIONS), "Only units of this kind.",
                   "Which kind of unit.", required=False),),
            obj({"units": array(obj({"unit": STRING, "dimension": enum(DIMENSIONS)}))}), list_units),
)

# (value choices, from, to, how users say the units in en / de / zh)
CASES = [
    ([5, 10, 26.2, 42, 3.5], "mi", "km", ("miles", "kilometres"), ("Meilen", "Kilometer"), ("英里", "公里")),
    ([5, 10, 21.1, 42.2, 7.5], "km", "mi", ("kilometres", "miles"), ("Kilometer", "Meilen"), ("公里", "英里")),
    ([150, 180, 6, 72, 250], "lb", "kg", ("pounds", "kilograms"), ("Pfund (lb)", "Kilogramm"), ("磅", "公斤")),
    ([60, 75, 82.5, 3, 110], "kg", "lb", ("kilograms", "pounds"), ("Kilogramm", "Pfund (lb)"), ("公斤", "磅")),
    ([350, 180, 425, 220, 200], "F", "C", ("degrees Fahrenheit", "Celsius"), ("Grad Fahrenheit", "Celsius"), ("华氏度", "摄氏度")),
    ([21, 37, 100, -5, 30], "C", "F", ("degrees Celsius", "Fahrenheit"), ("Grad Celsius", "Fahrenheit"), ("摄氏度", "华氏度")),
    ([6, 5.5, 5.9, 12, 8], "ft", "cm", ("feet", "centimetres"), ("Fuß", "Zentimeter"), ("英尺", "厘米")),
    ([2, 3, 1.5, 10, 4], "cup", "ml", ("cups", "millilitres"), ("Cups", "Milliliter"), ("杯", "毫升")),
    ([10, 15, 20, 5, 12], "gal", "l", ("US gallons", "litres"), ("US-Gallonen", "Liter"), ("美制加仑", "升")),
    ([65, 70, 55, 80, 30], "mph", "km/h", ("miles per hour", "km/h"), ("Meilen pro Stunde", "km/h"), ("英里每小时", "公里每小时")),
    ([2, 5, 0.5, 40, 120], "acre", "m2", ("acres", "square metres"), ("Acres", "Quadratmeter"), ("英亩", "平方米")),
    ([12, 16, 8, 4, 32], "oz", "g", ("ounces", "grams"), ("Unzen", "Gramm"), ("盎司", "克")),
]


def words(case, language: str) -> tuple[str, str]:
    return {"en": case[3], "de": case[4], "zh": case[5]}[language]


def show(value: float, language: str) -> str:
    text = str(int(value)) if float(value).is_integer() else str(value)
    return text.replace(".", ",") if language == "de" else text


def ask(ctx, parts: list[tuple[str, str, str]]) -> str:
    """parts: (value, from words, to words) as the user says them."""
    if len(parts) == 1:
        v, a, b = parts[0]
        return ctx.pick({
            "en": [f"How many {b} is {v} {a}?", f"Convert {v} {a} to {b}.", f"What's {v} {a} in {b}?"],
            "de": [f"Wie viel sind {v} {a} in {b}?", f"Rechne {v} {a} in {b} um.", f"Was sind {v} {a} in {b}?"],
            "zh": [f"{v}{a}是多少{b}？", f"把{v}{a}换算成{b}。", f"{v}{a}等于多少{b}？"],
        })
    (v1, a1, b1), (v2, a2, b2) = parts
    return ctx.pick({
        "en": [f"Convert {v1} {a1} to {b1} and {v2} {a2} to {b2}.", f"Two quick ones: {v1} {a1} in {b1}, and {v2} {a2} in {b2}?",
               f"What is {v1} {a1} in {b1}, and {v2} {a2} in {b2}?"],
        "de": [f"Rechne {v1} {a1} in {b1} und {v2} {a2} in {b2} um.", f"Zwei schnelle Fragen: {v1} {a1} in {b1}, und {v2} {a2} in {b2}?",
               f"Was sind {v1} {a1} in {b1} und {v2} {a2} in {b2}?"],
        "zh": [f"把{v1}{a1}换算成{b1}，再把{v2}{a2}换算成{b2}。", f"两个问题：{v1}{a1}是多少{b1}？{v2}{a2}是多少{b2}？",
               f"{v1}{a1}等于多少{b1}，{v2}{a2}等于多少{b2}？"],
    })


def said(r: dict, case, language: str) -> str:
    a, b = words(case, language)
    return say(language, f"{show(r['value'], 'en')} {a} is {show(r['result'], 'en')} {r['to_unit']}",
               f"{show(r['value'], 'de')} {a} sind {show(r['result'], 'de')} {r['to_unit']}",
               f"{show(r['value'], 'zh')}{a}等于{show(r['result'], 'zh')} {r['to_unit']}")


def single_scenario(ctx, store: Store) -> Scenario:
    language = ctx.language
    case = ctx.rng.choice(CASES)
    value = ctx.rng.choice(case[0])
    a, b = words(case, language)
    call = {"value": value, "from_unit": case[1], "to_unit": case[2]}
    expected = convert(store, call)
    return Scenario(ask(ctx, [(show(value, language), a, b)]), [[Call("convert", call)]],
                    lambda results: said(results[0][0], case, language) + ("." if language != "zh" else "。"),
                    facts=[number_facts(expected["result"])])


def parallel_scenario(ctx, store: Store) -> Scenario:
    language = ctx.language
    c1, c2 = ctx.rng.sample(CASES, 2)
    v1, v2 = ctx.rng.choice(c1[0]), ctx.rng.choice(c2[0])
    calls = [{"value": v1, "from_unit": c1[1], "to_unit": c1[2]}, {"value": v2, "from_unit": c2[1], "to_unit": c2[2]}]
    e1, e2 = convert(store, calls[0]), convert(store, calls[1])
    request = ask(ctx, [(show(v1, language), *words(c1, language)), (show(v2, language), *words(c2, language))])
    return Scenario(request, [[Call("convert", calls[0]), Call("convert", calls[1])]],
                    lambda results: say(language, "; ", "; ", "；").join(said(r, c, language) for r, c in zip(results[0], (c1, c2)))
                    + ("." if language != "zh" else "。"),
                    facts=[number_facts(e1["result"]), number_facts(e2["result"])])


def word_unit_scenario(ctx, store: Store) -> Scenario:
    """The first call writes the unit as a word; the error lists the symbols and the retry uses them."""
    language = ctx.language
    case = ctx.rng.choice(CASES)
    value = ctx.rng.choice(case[0])
    a, b = words(case, language)
    call = {"value": value, "from_unit": case[1], "to_unit": case[2]}
    expected = convert(store, call)
    return Scenario(ask(ctx, [(show(value, language), a, b)]),
                    [[Call("convert", {"value": value, "from_unit": a, "to_unit": b})], [Call("convert", call)]],
                    lambda results: said(results[-1][0], case, language) + ("." if language != "zh" else "。"),
                    facts=[number_facts(expected["result"])])


register(Domain("units", "both", SCHEMA, {"syn_units_units": "unit"}, seed, TOOLS,
                (("single", single_scenario), ("parallel", parallel_scenario), ("error", word_unit_scenario))))
