"""Stock quotes: the latest price and day change by ticker, and a ticker search by company name (read-only)."""

from __future__ import annotations

import random

from openk2.agent.apps.store import Store

from ..synthetic import Call, Domain, Scenario, ToolDef, register
from .common import INTEGER, NUMBER, STRING, array, number_facts, obj, param, say, show_amount, split_pool

# symbol -> (company, exchange, currency, typical price)
COMPANIES = {
    "AAPL": ("Apple", "NASDAQ", "USD", 200), "MSFT": ("Microsoft", "NASDAQ", "USD", 460), "NVDA": ("Nvidia", "NASDAQ", "USD", 135),
    "AMZN": ("Amazon", "NASDAQ", "USD", 205), "GOOGL": ("Alphabet", "NASDAQ", "USD", 170), "TSLA": ("Tesla", "NASDAQ", "USD", 340),
    "SAP": ("SAP", "XETRA", "EUR", 260), "SIE": ("Siemens", "XETRA", "EUR", 215), "BMW": ("BMW", "XETRA", "EUR", 80),
    "ALV": ("Allianz", "XETRA", "EUR", 350), "ASML": ("ASML", "Euronext", "EUR", 640), "NESN": ("Nestle", "SIX", "CHF", 86),
    "NOVN": ("Novartis", "SIX", "CHF", 95), "SHEL": ("Shell", "LSE", "GBP", 26), "ULVR": ("Unilever", "LSE", "GBP", 47),
    "BABA": ("Alibaba", "NYSE", "USD", 118), "SONY": ("Sony", "NYSE", "USD", 25), "TM": ("Toyota", "NYSE", "USD", 175),
    "BIDU": ("Baidu", "NASDAQ", "USD", 85), "NKE": ("Nike", "NYSE", "USD", 61), "KO": ("Coca-Cola", "NYSE", "USD", 71),
}
SYMBOLS = list(COMPANIES)

SCHEMA = """
CREATE TABLE IF NOT EXISTS syn_stocks_quotes (symbol TEXT PRIMARY KEY, company TEXT NOT NULL, exchange TEXT NOT NULL,
    currency TEXT NOT NULL, price REAL NOT NULL, previous_close REAL NOT NULL, volume INTEGER NOT NULL);
"""


def seed(store: Store, rng: random.Random) -> None:
    rows = []
    for symbol, (company, exchange, currency, typical) in COMPANIES.items():
        previous = round(typical * rng.uniform(0.85, 1.15), 2)
        rows.append((symbol, company, exchange, currency, round(previous * rng.uniform(0.95, 1.05), 2), previous,
                     rng.randint(200_000, 60_000_000)))
    store.executemany("INSERT INTO syn_stocks_quotes VALUES (?, ?, ?, ?, ?, ?, ?)", rows)


def quote(store: Store, args: dict) -> dict:
    symbol = args["symbol"].strip().upper()
    row = store.row("SELECT * FROM syn_stocks_quotes WHERE symbol = ?", [symbol])
    if row is None:
        named = store.row("SELECT symbol FROM syn_stocks_quotes WHERE lower(company) = lower(?)", [args["symbol"].strip()])
        hint = f"; {args['symbol'].strip()} trades as {named['symbol']}" if named else "; search by company name to find it"
        raise ValueError(f"unknown ticker symbol {args['symbol']!r}{hint}")
    change = round(row["price"] - row["previous_close"], 2)
    return {"symbol": row["symbol"], "company": row["company"], "exchange": row["exchange"], "currency": row["currency"],
            "price": row["price"], "change": change, "change_percent": round(change / row["previous_close"] * 100, 2),
            "previous_close": row["previous_close"], "volume": row["volume"]}


def lookup(store: Store, args: dict) -> dict:
    query = args["query"].strip().casefold()
    rows = store.rows("SELECT symbol, company, exchange FROM syn_stocks_quotes ORDER BY symbol")
    return {"matches": [r for r in rows if query and (query in r["company"].casefold() or query == r["symbol"].casefold())]}


QUOTE = obj({"symbol": STRING, "company": STRING, "exchange": STRING, "currency": STRING, "price": NUMBER, "change": NUMBER,
             "change_percent": NUMBER, "previous_close": NUMBER, "volume": INTEGER})
TOOLS = (
    ToolDef("quote", ("get_stock_quote", "stock_price", "quote_lookup", "fetch_quote", "market_quote"),
            ("Latest price and day change for a ticker symbol.", "Look up a stock quote by its ticker.",
             "Returns the current share price of a listed company."),
            (param("symbol", ("symbol", "ticker", "stock", "ticker_symbol"), STRING, "Ticker symbol, e.g. AAPL.",
                   "The stock's ticker."),),
            QUOTE, quote),
    ToolDef("lookup", ("search_ticker", "find_symbol", "symbol_lookup", "company_to_ticker"),
            ("Find a company's ticker symbol by name.", "Search listed companies by name."),
            (param("query", ("search", "company", "company_name"), STRING, "Company name or part of it.", "Who to look for."),),
            obj({"matches": array(obj({"symbol": STRING, "company": STRING, "exchange": STRING}))}), lookup),
)


def move_text(q: dict, language: str) -> str:
    sign = "+" if q["change"] >= 0 else ""
    pct = f"{sign}{q['change_percent']}%"
    return say(language, f"{q['company']} ({q['symbol']}) is at {show_amount(q['price'], 'en')} {q['currency']}, {pct} on the day.",
               f"{q['company']} ({q['symbol']}) steht bei {show_amount(q['price'], 'de')} {q['currency']}, "
               f"{pct.replace('.', ',')} gegenüber gestern.",
               f"{q['company']}（{q['symbol']}）现价{show_amount(q['price'], 'zh')} {q['currency']}，今日{pct}。")


def single_scenario(ctx, store: Store) -> Scenario:
    language = ctx.language
    symbol = ctx.rng.choice(split_pool(ctx, SYMBOLS))
    name = COMPANIES[symbol][0]
    request = ctx.pick({
        "en": [f"What's {symbol} trading at?", f"How is {name} stock ({symbol}) doing today?", f"Get me a quote for {symbol}.",
               f"Current share price of {symbol}?"],
        "de": [f"Wo steht {symbol} gerade?", f"Wie läuft die {name}-Aktie ({symbol}) heute?", f"Hol mir den Kurs von {symbol}.",
               f"Aktueller Kurs von {symbol}?"],
        "zh": [f"{symbol}现在多少钱？", f"{name}（{symbol}）今天股价表现如何？", f"帮我查一下{symbol}的报价。", f"{symbol}现在的股价是多少？"],
    })
    expected = quote(store, {"symbol": symbol})
    return Scenario(request, [[Call("quote", {"symbol": symbol})]], lambda results: move_text(results[0][0], language),
                    facts=[number_facts(expected["price"]), number_facts(abs(expected["change_percent"]))])


def compare_scenario(ctx, store: Store) -> Scenario:
    language = ctx.language
    a, b = ctx.rng.sample(split_pool(ctx, SYMBOLS), 2)
    request = ctx.pick({
        "en": [f"Compare {a} and {b} today.", f"How are {a} and {b} doing right now?", f"Which did better today, {a} or {b}?"],
        "de": [f"Vergleiche {a} und {b} heute.", f"Wie stehen {a} und {b} gerade?", f"Wer lief heute besser, {a} oder {b}?"],
        "zh": [f"比较一下今天的{a}和{b}。", f"{a}和{b}现在走势如何？", f"今天{a}和{b}哪个涨得更好？"],
    })
    ea, eb = quote(store, {"symbol": a}), quote(store, {"symbol": b})

    def answer(results):
        x, y = results[0]
        better = x if x["change_percent"] > y["change_percent"] else y
        verdict = say(language, f"{better['symbol']} did better today.", f"{better['symbol']} lief heute besser.",
                      f"今天{better['symbol']}表现更好。") if x["change_percent"] != y["change_percent"] else ""
        return " ".join([move_text(x, language), move_text(y, language), verdict]).strip()

    return Scenario(request, [[Call("quote", {"symbol": a}), Call("quote", {"symbol": b})]], answer,
                    facts=[number_facts(ea["price"]), number_facts(eb["price"])])


def name_scenario(ctx, store: Store) -> Scenario:
    """The first call passes the company's name as the ticker; the error names the right one."""
    language = ctx.language
    symbol = ctx.rng.choice([s for s in split_pool(ctx, SYMBOLS) if COMPANIES[s][0].upper() != s])
    name = COMPANIES[symbol][0]
    request = ctx.pick({
        "en": [f"What's the {name} share price?", f"How is {name} stock doing today?", f"Check the price of {name} shares for me."],
        "de": [f"Wie steht die {name}-Aktie?", f"Wie läuft {name} heute an der Börse?", f"Schau mal nach dem Kurs der {name}-Aktie."],
        "zh": [f"{name}的股价是多少？", f"{name}今天股价怎么样？", f"帮我查一下{name}的股价。"],
    })
    expected = quote(store, {"symbol": symbol})
    return Scenario(request, [[Call("quote", {"symbol": name})], [Call("quote", {"symbol": symbol})]],
                    lambda results: move_text(results[-1][0], language),
                    facts=[number_facts(expected["price"]), [symbol]])


register(Domain("stocks", "both", SCHEMA, {"syn_stocks_quotes": "symbol"}, seed, TOOLS,
                (("single", single_scenario), ("parallel", compare_scenario), ("error", name_scenario))))
