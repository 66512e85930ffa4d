"""Currency exchange: today's rates between ISO currencies, and conversions (read-only)."""

from __future__ import annotations

import random

from openk2.agent.apps.store import Store

from ..synthetic import Call, Domain, Scenario, ToolDef, register
from .common import NUMBER, STRING, array, number_facts, obj, param, say, show_amount, show_number, split_pool

# code -> units per US dollar, roughly (the seed moves each by up to 3 %)
PER_USD = {"USD": 1.0, "EUR": 0.88, "GBP": 0.74, "JPY": 144.0, "CHF": 0.82, "CNY": 7.2, "CAD": 1.37, "AUD": 1.55,
           "SEK": 9.6, "NOK": 10.1, "DKK": 6.55, "PLN": 3.75, "CZK": 21.9, "INR": 85.5, "SGD": 1.29, "HKD": 7.85,
           "KRW": 1370.0, "MXN": 19.2, "BRL": 5.6, "ZAR": 17.9, "NZD": 1.66, "TRY": 39.0}
# How people name them: English; German (nominative/accusative plural, dative plural); Chinese.
NAMES = {
    "USD": ("US dollars", "US-Dollar", "US-Dollar", "美元"), "EUR": ("euros", "Euro", "Euro", "欧元"),
    "GBP": ("British pounds", "britische Pfund", "britischen Pfund", "英镑"), "JPY": ("Japanese yen", "Yen", "Yen", "日元"),
    "CHF": ("Swiss francs", "Schweizer Franken", "Schweizer Franken", "瑞士法郎"), "CNY": ("Chinese yuan", "Yuan", "Yuan", "人民币"),
    "CAD": ("Canadian dollars", "kanadische Dollar", "kanadischen Dollar", "加元"),
    "AUD": ("Australian dollars", "australische Dollar", "australischen Dollar", "澳元"),
    "SEK": ("Swedish kronor", "schwedische Kronen", "schwedischen Kronen", "瑞典克朗"),
    "NOK": ("Norwegian kroner", "norwegische Kronen", "norwegischen Kronen", "挪威克朗"),
    "DKK": ("Danish kroner", "dänische Kronen", "dänischen Kronen", "丹麦克朗"), "PLN": ("Polish zloty", "Złoty", "Złoty", "波兰兹罗提"),
    "CZK": ("Czech korunas", "tschechische Kronen", "tschechischen Kronen", "捷克克朗"),
    "INR": ("Indian rupees", "indische Rupien", "indischen Rupien", "印度卢比"),
    "SGD": ("Singapore dollars", "Singapur-Dollar", "Singapur-Dollar", "新加坡元"),
    "HKD": ("Hong Kong dollars", "Hongkong-Dollar", "Hongkong-Dollar", "港币"), "KRW": ("South Korean won", "Won", "Won", "韩元"),
    "MXN": ("Mexican pesos", "mexikanische Pesos", "mexikanischen Pesos", "墨西哥比索"),
    "BRL": ("Brazilian reais", "brasilianische Real", "brasilianischen Real", "巴西雷亚尔"),
    "ZAR": ("South African rand", "südafrikanische Rand", "südafrikanischen Rand", "南非兰特"),
    "NZD": ("New Zealand dollars", "Neuseeland-Dollar", "Neuseeland-Dollar", "新西兰元"),
    "TRY": ("Turkish lira", "türkische Lira", "türkischen Lira", "土耳其里拉"),
}
CODES = list(PER_USD)

SCHEMA = """
CREATE TABLE IF NOT EXISTS syn_currency_rates (code TEXT PRIMARY KEY, name TEXT NOT NULL, per_usd REAL NOT NULL);
"""


def seed(store: Store, rng: random.Random) -> None:
    store.executemany("INSERT INTO syn_currency_rates VALUES (?, ?, ?)",
                      [(code, NAMES[code][0], round(per_usd * rng.uniform(0.97, 1.03), 4) if code != "USD" else 1.0)
                       for code, per_usd in PER_USD.items()])


def currency(store: Store, code: str) -> dict:
    row = store.row("SELECT * FROM syn_currency_rates WHERE code = ?", [code.strip().upper()])
    if row is None:
        raise ValueError(f"unknown currency {code!r}; use a three-letter ISO code such as EUR, USD, GBP or JPY")
    return row


def rate(store: Store, source: str, target: str) -> float:
    return round(currency(store, target)["per_usd"] / currency(store, source)["per_usd"], 6)


def convert(store: Store, args: dict) -> dict:
    source, target = currency(store, args["source"])["code"], currency(store, args["target"])["code"]
    r = rate(store, source, target)
    return {"amount": args["amount"], "from": source, "to": target, "rate": r,
            "converted": round(args["amount"] * r, 2), "date": "2025-06-02"}


def rates(store: Store, args: dict) -> dict:
    base = currency(store, args["base"])["code"]
    wanted = [currency(store, c)["code"] for c in args.get("symbols") or []] or [c for c in CODES if c != base]
    return {"base": base, "date": "2025-06-02", "rates": [{"code": c, "rate": rate(store, base, c)} for c in wanted]}


AMOUNT = param("amount", ("amount", "value", "sum"), {"type": "number", "exclusiveMinimum": 0},
               "The amount of money to convert.", "How much of the source currency.")
SOURCE = param("source", ("from_currency", "source_currency", "base_currency", "from"), STRING,
               "ISO 4217 code of the currency you have, e.g. EUR.", "Three-letter code to convert from.")
TARGET = param("target", ("to_currency", "target_currency", "quote_currency", "to"), STRING,
               "ISO 4217 code of the currency you want, e.g. JPY.", "Three-letter code to convert into.")
CONVERT_RESULT = obj({"amount": NUMBER, "from": STRING, "to": STRING, "rate": NUMBER, "converted": NUMBER, "date": STRING})
RATES_RESULT = obj({"base": STRING, "date": STRING, "rates": array(obj({"code": STRING, "rate": NUMBER}))})

TOOLS = (
    ToolDef("convert", ("convert_currency", "currency_convert", "exchange_money", "fx_convert", "calculate_exchange"),
            ("Convert an amount between two currencies at today's rate.",
             "Currency converter using today's exchange rates.", "Returns how much an amount is worth in another currency."),
            (AMOUNT, SOURCE, TARGET), CONVERT_RESULT, convert),
    ToolDef("rates", ("get_exchange_rates", "fx_rates", "lookup_rates", "latest_rates"),
            ("Today's exchange rates from a base currency.", "List exchange rates for a base currency."),
            (param("base", ("base", "base_code", "currency"), STRING, "ISO code of the base currency, e.g. USD.",
                   "Currency the rates are quoted against."),
             param("symbols", ("symbols", "codes", "targets"), array(STRING),
                   "Only these ISO codes (default: all).", "Currencies to include; omit for all.", required=False)),
            RATES_RESULT, rates),
)

# The request names currencies as people do; the call uses the code.
WORDS = {code: {"en": v[0], "de": v[1], "zh": v[3]} for code, v in NAMES.items()}
DATIVE = {code: v[2] for code, v in NAMES.items()}
POPULAR = ["EUR", "USD", "GBP", "JPY", "CHF", "CNY", "CAD", "AUD", "SEK", "NOK", "PLN", "INR", "SGD", "HKD", "KRW",
           "MXN", "BRL", "ZAR", "NZD", "TRY", "DKK", "CZK"]


def amount_for(ctx, code: str) -> int:
    return ctx.rng.choice([20, 50, 75, 100, 120, 150, 200, 250, 300, 500, 800, 1000, 1200, 2500]) * (100 if code in ("JPY", "KRW") else 1)


def money(value: float, code: str, language: str) -> str:
    return say(language, f"{show_amount(value, 'en')} {code}", f"{show_amount(value, 'de')} {code}", f"{show_amount(value, 'en')} {code}")


def single_scenario(ctx, store: Store) -> Scenario:
    language = ctx.language
    source, target = ctx.rng.sample(split_pool(ctx, POPULAR), 2)
    amount = amount_for(ctx, source)
    s, t = WORDS[source][language], WORDS[target][language]
    request = ctx.pick({
        "en": [f"How much is {amount} {s} in {t}?", f"Convert {amount} {source} to {target}, please.",
               f"What would {amount} {s} get me in {t} today?", f"I need to know what {amount} {source} is in {t}."],
        "de": [f"Wie viel sind {amount} {s} in {DATIVE[target]}?", f"Rechne bitte {amount} {source} in {target} um.",
               f"Was bekomme ich heute für {amount} {s} in {DATIVE[target]}?", f"Wie viele {t} sind {amount} {source}?"],
        "zh": [f"{amount}{s}是多少{t}？", f"请把{amount} {source}换算成{target}。", f"今天{amount}{s}能换多少{t}？",
               f"帮我算一下{amount} {source}等于多少{t}。"],
    })
    expected = convert(store, {"amount": amount, "source": source, "target": target})

    def answer(results):
        r = results[-1][0]
        return say(language,
                   f"{amount} {source} is {money(r['converted'], target, 'en')} at today's rate of {r['rate']}.",
                   f"{amount} {source} sind {money(r['converted'], target, 'de')} (heutiger Kurs: {show_number(r['rate'], 'de')}).",
                   f"按今天的汇率{r['rate']}，{amount} {source}约合{money(r['converted'], target, 'zh')}。")

    return Scenario(request, [[Call("convert", {"amount": amount, "source": source, "target": target})]], answer,
                    facts=[number_facts(expected["converted"])])


def parallel_scenario(ctx, store: Store) -> Scenario:
    language = ctx.language
    source, a, b = ctx.rng.sample(split_pool(ctx, POPULAR), 3)
    amount = amount_for(ctx, source)
    s, wa, wb = WORDS[source][language], WORDS[a][language], WORDS[b][language]
    request = ctx.pick({
        "en": [f"How much is {amount} {s} in {wa} and in {wb}?", f"Convert {amount} {source} into both {a} and {b}.",
               f"I have {amount} {s}. What is that in {wa}, and what in {wb}?"],
        "de": [f"Wie viel sind {amount} {s} in {DATIVE[a]} und in {DATIVE[b]}?", f"Rechne {amount} {source} in {a} und in {b} um.",
               f"Ich habe {amount} {s}. Wie viel ist das in {DATIVE[a]} und wie viel in {DATIVE[b]}?"],
        "zh": [f"{amount}{s}分别是多少{wa}和{wb}？", f"把{amount} {source}分别换算成{a}和{b}。",
               f"我有{amount}{s}，换成{wa}和{wb}各是多少？"],
    })
    ea = convert(store, {"amount": amount, "source": source, "target": a})
    eb = convert(store, {"amount": amount, "source": source, "target": b})

    def answer(results):
        x, y = results[0]
        return say(language,
                   f"{amount} {source} is {money(x['converted'], a, 'en')} or {money(y['converted'], b, 'en')} at today's rates.",
                   f"{amount} {source} sind heute {money(x['converted'], a, 'de')} bzw. {money(y['converted'], b, 'de')}.",
                   f"按今天的汇率，{amount} {source}约合{money(x['converted'], a, 'zh')}，或{money(y['converted'], b, 'zh')}。")

    return Scenario(request, [[Call("convert", {"amount": amount, "source": source, "target": a}),
                               Call("convert", {"amount": amount, "source": source, "target": b})]], answer,
                    facts=[number_facts(ea["converted"]), number_facts(eb["converted"])])


def word_scenario(ctx, store: Store) -> Scenario:
    """The first call passes the currency as the user named it; the error asks for ISO codes and the retry uses them."""
    language = ctx.language
    source, target = ctx.rng.sample(split_pool(ctx, POPULAR), 2)
    amount = amount_for(ctx, source)
    s, t = WORDS[source][language], WORDS[target][language]
    request = ctx.pick({
        "en": [f"What's {amount} {s} in {t}?", f"Can you tell me how many {t} I get for {amount} {s}?",
               f"Please convert {amount} {s} into {t}."],
        "de": [f"Was sind {amount} {s} in {DATIVE[target]}?", f"Wie viele {t} bekomme ich für {amount} {s}?",
               f"Bitte rechne {amount} {s} in {t} um."],
        "zh": [f"{amount}{s}换成{t}是多少？", f"{amount}{s}能换多少{t}？", f"请把{amount}{s}换算成{t}。"],
    })
    expected = convert(store, {"amount": amount, "source": source, "target": target})

    def answer(results):
        r = results[-1][0]
        return say(language,
                   f"{amount} {s} ({source}) is {money(r['converted'], target, 'en')} at today's rate ({r['rate']}).",
                   f"{amount} {s} ({source}) sind zum heutigen Kurs {money(r['converted'], target, 'de')}.",
                   f"按今天的汇率（{r['rate']}），{amount}{s}约合{money(r['converted'], target, 'zh')}。")

    return Scenario(request, [[Call("convert", {"amount": amount, "source": s, "target": t})],
                              [Call("convert", {"amount": amount, "source": source, "target": target})]], answer,
                    facts=[number_facts(expected["converted"])])


register(Domain("currency", "both", SCHEMA, {"syn_currency_rates": "code"}, seed, TOOLS,
                (("single", single_scenario), ("parallel", parallel_scenario), ("error", word_scenario))))
