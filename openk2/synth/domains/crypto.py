"""Crypto wallet (held out: training never shows it): holdings valued in USD, prices, and market orders paid from cash."""

from __future__ import annotations

import random

from openk2.agent.apps.store import Store

from ..synthetic import Call, Domain, Scenario, ToolDef, register
from .common import INTEGER, NUMBER, STRING, array, enum, obj, param, say, show_number

ASSETS = {"BTC": ("Bitcoin", 68000), "ETH": ("Ether", 3600), "SOL": ("Solana", 160), "ADA": ("Cardano", 0.45),
          "DOT": ("Polkadot", 6.8), "LTC": ("Litecoin", 82)}
SCHEMA = """
CREATE TABLE IF NOT EXISTS syn_crypto_prices (asset TEXT PRIMARY KEY, name TEXT NOT NULL, price_usd REAL NOT NULL);
CREATE TABLE IF NOT EXISTS syn_crypto_wallet (asset TEXT PRIMARY KEY, amount REAL NOT NULL);
CREATE TABLE IF NOT EXISTS syn_crypto_orders (order_id INTEGER PRIMARY KEY, side TEXT NOT NULL, asset TEXT NOT NULL,
    amount REAL NOT NULL, price_usd REAL NOT NULL, total_usd REAL NOT NULL);
"""


def seed(store: Store, rng: random.Random) -> None:
    store.executemany("INSERT INTO syn_crypto_prices VALUES (?, ?, ?)",
                      [(a, n, round(p * rng.uniform(0.9, 1.1), 2 if p > 1 else 4)) for a, (n, p) in ASSETS.items()])
    held = rng.sample([a for a in ASSETS], 3)
    amounts = {"BTC": [0.05, 0.12, 0.3], "ETH": [0.8, 1.5, 2.25], "SOL": [10.0, 25.0, 40.0], "ADA": [1500.0, 4000.0],
               "DOT": [120.0, 300.0], "LTC": [4.0, 12.5]}
    store.executemany("INSERT INTO syn_crypto_wallet VALUES (?, ?)",
                      [("USD", float(rng.choice([800, 1500, 2500, 4000])))] + [(a, rng.choice(amounts[a])) for a in held])


def price(store: Store, asset: str) -> dict:
    row = store.row("SELECT * FROM syn_crypto_prices WHERE asset = ?", [asset.strip().upper()])
    if row is None:
        raise ValueError(f"unknown asset {asset!r}; use a ticker: {', '.join(ASSETS)}")
    return row


def wallet(store: Store, args: dict) -> dict:
    holdings, total = [], 0.0
    only = price(store, args["asset"])["asset"] if args.get("asset") else None
    for r in store.rows("SELECT * FROM syn_crypto_wallet ORDER BY asset"):
        if only and r["asset"] != only:
            continue
        value = r["amount"] if r["asset"] == "USD" else round(r["amount"] * price(store, r["asset"])["price_usd"], 2)
        holdings.append({"asset": r["asset"], "amount": r["amount"], "value_usd": value})
        total += value
    return {"holdings": holdings, "total_usd": round(total, 2)}


def quote(store: Store, args: dict) -> dict:
    row = price(store, args["asset"])
    return {"asset": row["asset"], "name": row["name"], "price_usd": row["price_usd"]}


def order(store: Store, args: dict) -> dict:
    with store.transaction():
        row = price(store, args["asset"])
        amount = round(args["amount"], 8)
        total = round(amount * row["price_usd"], 2)
        cash = store.row("SELECT amount FROM syn_crypto_wallet WHERE asset = 'USD'")["amount"]
        held = (store.row("SELECT amount FROM syn_crypto_wallet WHERE asset = ?", [row["asset"]]) or {"amount": 0.0})["amount"]
        if args["side"] == "buy" and total > cash:
            raise ValueError(f"insufficient cash: buying {amount} {row['asset']} costs {total:.2f} USD, the wallet holds {cash:.2f} USD")
        if args["side"] == "sell" and amount > held:
            raise ValueError(f"cannot sell {amount} {row['asset']}: the wallet holds {held}")
        sign = 1 if args["side"] == "buy" else -1
        new = round(held + sign * amount, 8)
        if new == 0:
            store.execute("DELETE FROM syn_crypto_wallet WHERE asset = ?", [row["asset"]])
        else:
            store.execute("INSERT INTO syn_crypto_wallet VALUES (?, ?) ON CONFLICT(asset) DO UPDATE SET amount = excluded.amount",
                          [row["asset"], new])
        store.execute("UPDATE syn_crypto_wallet SET amount = ? WHERE asset = 'USD'", [round(cash - sign * total, 2)])
        oid = store.execute("INSERT INTO syn_crypto_orders (side, asset, amount, price_usd, total_usd) VALUES (?, ?, ?, ?, ?)",
                            [args["side"], row["asset"], amount, row["price_usd"], total])
    return {"order_id": oid, "side": args["side"], "asset": row["asset"], "amount": amount, "price_usd": row["price_usd"],
            "total_usd": total, "cash_usd": round(cash - sign * total, 2), "holding": new}


TOOLS = (
    ToolDef("wallet", ("wallet_balance", "crypto_portfolio", "get_wallet", "holdings_overview"),
            ("The wallet's holdings valued in USD at current prices.", "Show crypto holdings, cash and total value."),
            (param("asset", ("asset", "coin", "only_asset"), STRING, "Only this asset's holding (ticker); default all.",
                   "Restrict to one coin.", required=False),),
            obj({"holdings": array(obj({"asset": STRING, "amount": NUMBER, "value_usd": NUMBER})), "total_usd": NUMBER}), wallet),
    ToolDef("price", ("crypto_price", "coin_quote", "get_coin_price", "asset_price"),
            ("The current USD price of a crypto asset.", "Spot price of a coin by ticker."),
            (param("asset", ("asset", "coin", "symbol"), STRING, "Ticker such as BTC or ETH.", "Which asset."),),
            obj({"asset": STRING, "name": STRING, "price_usd": NUMBER}), quote),
    ToolDef("order", ("place_crypto_order", "trade_crypto", "market_order", "execute_trade"),
            ("Buy or sell at the current price, paid from or into the wallet's USD.", "Place a market order."),
            (param("side", ("side", "action", "direction"), enum(["buy", "sell"]), "buy or sell.", "Order side."),
             param("asset", ("asset", "coin", "symbol"), STRING, "Ticker such as BTC.", "What to trade."),
             param("amount", ("amount", "quantity", "units"), {"type": "number", "exclusiveMinimum": 0}, "Units of the asset.",
                   "How much of the coin.")),
            obj({"order_id": INTEGER, "side": enum(["buy", "sell"]), "asset": STRING, "amount": NUMBER, "price_usd": NUMBER,
                 "total_usd": NUMBER, "cash_usd": NUMBER, "holding": NUMBER}), order, writes=True),
)


def usd(value: float, language: str) -> str:
    text = f"{value:,.2f}"
    return say(language, f"${text}", text.replace(",", "X").replace(".", ",").replace("X", ".") + " $", f"{text}美元")


def usd_facts(value: float) -> list[str]:
    return [f"{value:,.2f}", f"{value:.2f}", f"{value:,.2f}".replace(",", "X").replace(".", ",").replace("X", "."), str(value)]


def holding_scenario(ctx, store: Store) -> Scenario:
    """How much one holding is worth: the wallet, filtered to that coin."""
    language = ctx.language
    coin = ctx.rng.choice(store.rows("SELECT * FROM syn_crypto_wallet WHERE asset != 'USD' ORDER BY asset"))
    a = coin["asset"]
    request = ctx.pick({
        "en": [f"How much is my {a} worth right now?", f"What's the current value of my {a} holding?", f"Value my {a} at today's price."],
        "de": [f"Wie viel sind meine {a} gerade wert?", f"Was ist mein {a}-Bestand aktuell wert?", f"Bewerte meine {a} zum heutigen Kurs."],
        "zh": [f"我的{a}现在值多少钱？", f"我持有的{a}当前价值多少？", f"按今天的价格算我的{a}值多少？"],
    })
    expected = wallet(store, {"asset": a})

    def answer(results):
        h = results[0][0]["holdings"][0]
        n = show_number(h["amount"], language)
        return say(language, f"Your {n} {a} are worth {usd(h['value_usd'], 'en')} at the current price.",
                   f"Deine {n} {a} sind zum aktuellen Kurs {usd(h['value_usd'], 'de')} wert.",
                   f"按当前价格，你的{n} {a}价值{usd(h['value_usd'], 'zh')}。")

    return Scenario(request, [[Call("wallet", {"asset": a})]], answer, facts=[usd_facts(expected["total_usd"])])


def sell_scenario(ctx, store: Store) -> Scenario:
    """Sell part of a holding: the wallet's coin and cash rows change and an order row appears."""
    language = ctx.language
    coins = [r for r in store.rows("SELECT * FROM syn_crypto_wallet WHERE asset != 'USD' ORDER BY asset")]
    coin = ctx.rng.choice(coins)
    amount = round(coin["amount"] / 2, 8)
    p = price(store, coin["asset"])["price_usd"]
    total = round(amount * p, 2)
    cash = store.row("SELECT amount FROM syn_crypto_wallet WHERE asset = 'USD'")["amount"]
    a = coin["asset"]
    q, h = show_number(amount, language), show_number(coin["amount"], language)
    request = ctx.pick({
        "en": [f"Sell half of my {h} {a}.", f"Please sell {q} {a} at the market price.", f"Cash out {q} of my {a}."],
        "de": [f"Verkauf die Hälfte meiner {h} {a}.", f"Bitte verkauf {q} {a} zum Marktpreis.", f"Mach {q} {a} zu Geld."],
        "zh": [f"卖掉我{h} {a}中的一半。", f"请按市价卖出{q} {a}。", f"把{q}个{a}换成现金。"],
    })

    def answer(results):
        o = results[0][0]
        left = show_number(o["holding"], language)
        return say(language, f"Sold {q} {a} at {usd(o['price_usd'], 'en')} for {usd(o['total_usd'], 'en')}; cash is now "
                             f"{usd(o['cash_usd'], 'en')} and you hold {left} {a}.",
                   f"{q} {a} zu {usd(o['price_usd'], 'de')} verkauft, Erlös {usd(o['total_usd'], 'de')}; Bargeld jetzt "
                   f"{usd(o['cash_usd'], 'de')}, Bestand {left} {a}.",
                   f"已按{usd(o['price_usd'], 'zh')}卖出{q} {a}，所得{usd(o['total_usd'], 'zh')}；现金现为"
                   f"{usd(o['cash_usd'], 'zh')}，持有{left} {a}。")

    return Scenario(request, [[Call("order", {"side": "sell", "asset": a, "amount": amount})]], answer,
                    facts=[usd_facts(total)],
                    changes=[{"kind": "syn_crypto_wallet", "op": "update", "id": a, "fields": {"amount": round(coin["amount"] - amount, 8)}},
                             {"kind": "syn_crypto_wallet", "op": "update", "id": "USD", "fields": {"amount": round(cash + total, 2)}},
                             {"kind": "syn_crypto_orders", "op": "insert", "fields": {"side": "sell", "asset": a, "amount": amount}}])


def too_expensive_scenario(ctx, store: Store) -> Scenario:
    """Buying more than the cash covers: the order fails and the expert explains (nothing changes)."""
    language = ctx.language
    cash = store.row("SELECT amount FROM syn_crypto_wallet WHERE asset = 'USD'")["amount"]
    a = ctx.rng.choice(["BTC", "ETH"])
    p = price(store, a)["price_usd"]
    amount = next(x for x in (0.05, 0.1, 0.25, 0.5, 1, 2, 5) if x * p > cash * 1.2)
    n = show_number(amount, language)
    request = ctx.pick({
        "en": [f"Buy {n} {a} for me.", f"Place an order for {n} {a}.", f"I want {n} {a}, buy it at market."],
        "de": [f"Kauf mir {n} {a}.", f"Gib eine Order über {n} {a} auf.", f"Ich möchte {n} {a}, kauf zum Marktpreis."],
        "zh": [f"帮我买{n} {a}。", f"下单买入{n} {a}。", f"我要{n} {a}，按市价买。"],
    })

    def answer(results):
        return say(language, f"Sorry, I couldn't buy it: {n} {a} costs about {usd(round(amount * p, 2), 'en')}, but the wallet only "
                             f"holds {usd(cash, 'en')} in cash. Nothing was bought.",
                   f"Das ging leider nicht: {n} {a} kosten etwa {usd(round(amount * p, 2), 'de')}, im Wallet sind aber nur "
                   f"{usd(cash, 'de')} Bargeld. Es wurde nichts gekauft.",
                   f"抱歉，无法买入：{n} {a}约需{usd(round(amount * p, 2), 'zh')}，但钱包里只有{usd(cash, 'zh')}现金，未做任何交易。")

    return Scenario(request, [[Call("order", {"side": "buy", "asset": a, "amount": amount})]], answer,
                    facts=[usd_facts(cash)], says=[["sorry", "couldn't", "leider", "抱歉", "无法"]])


register(Domain("crypto", "heldout", SCHEMA, {"syn_crypto_prices": "asset", "syn_crypto_wallet": "asset",
                                              "syn_crypto_orders": "order_id"}, seed, TOOLS,
                (("single", holding_scenario), ("write", sell_scenario), ("error", too_expensive_scenario))))
