"""Shop: product search with prices and stock, and a shopping cart (adding items is a write)."""

from __future__ import annotations

import random

from openk2.agent.apps.store import Store

from ..synthetic import Call, Domain, Scenario, ToolDef, register
from .common import BOOLEAN, INTEGER, NUMBER, STRING, array, obj, param, say, show_amount, split_pool

# (name, category, typical price in EUR, words users search with in en / de / zh)
PRODUCTS = [
    ("USB-C cable 1 m", "electronics", 9, ("USB-C cable", "USB-C-Kabel", "USB-C数据线")),
    ("USB-C cable 2 m", "electronics", 12, ("USB-C cable", "USB-C-Kabel", "USB-C数据线")),
    ("Braided USB-C cable 2 m", "electronics", 16, ("USB-C cable", "USB-C-Kabel", "USB-C数据线")),
    ("Wireless mouse", "electronics", 25, ("wireless mouse", "kabellose Maus", "无线鼠标")),
    ("Silent wireless mouse", "electronics", 29, ("wireless mouse", "kabellose Maus", "无线鼠标")),
    ("Mechanical keyboard", "electronics", 89, ("mechanical keyboard", "mechanische Tastatur", "机械键盘")),
    ("Compact mechanical keyboard", "electronics", 75, ("mechanical keyboard", "mechanische Tastatur", "机械键盘")),
    ("Noise-cancelling headphones", "electronics", 199, ("noise-cancelling headphones", "Kopfhörer mit Geräuschunterdrückung", "降噪耳机")),
    ("Laptop stand", "office", 35, ("laptop stand", "Laptopständer", "笔记本支架")),
    ("Adjustable laptop stand", "office", 49, ("laptop stand", "Laptopständer", "笔记本支架")),
    ("Desk lamp LED", "office", 39, ("desk lamp", "Schreibtischlampe", "台灯")),
    ("Clamp desk lamp", "office", 45, ("desk lamp", "Schreibtischlampe", "台灯")),
    ("Notebook A5 dotted", "office", 7, ("A5 notebook", "A5-Notizbuch", "A5笔记本")),
    ("Water bottle 750 ml", "sports", 19, ("water bottle", "Trinkflasche", "水杯")),
    ("Insulated water bottle 1 l", "sports", 29, ("water bottle", "Trinkflasche", "水杯")),
    ("Yoga mat", "sports", 32, ("yoga mat", "Yogamatte", "瑜伽垫")),
    ("Thick yoga mat", "sports", 44, ("yoga mat", "Yogamatte", "瑜伽垫")),
    ("French press 1 l", "kitchen", 28, ("French press", "French Press", "法压壶")),
    ("Electric kettle", "kitchen", 35, ("kettle", "Wasserkocher", "电热水壶")),
    ("Glass kettle", "kitchen", 42, ("kettle", "Wasserkocher", "电热水壶")),
    ("Coffee beans 1 kg", "kitchen", 22, ("coffee beans", "Kaffeebohnen", "咖啡豆")),
    ("Backpack 20 l", "travel", 59, ("backpack", "Rucksack", "背包")),
    ("Compact umbrella", "travel", 18, ("umbrella", "Regenschirm", "雨伞")),
    ("Power bank 10000 mAh", "electronics", 29, ("power bank", "Powerbank", "充电宝")),
]
QUERIES = sorted({p[3] for p in PRODUCTS})

SCHEMA = """
CREATE TABLE IF NOT EXISTS syn_shopping_products (sku TEXT PRIMARY KEY, name TEXT NOT NULL, category TEXT NOT NULL,
    price REAL NOT NULL, stock INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS syn_shopping_cart (sku TEXT PRIMARY KEY, quantity INTEGER NOT NULL);
"""


def seed(store: Store, rng: random.Random) -> None:
    skus = rng.sample(range(10000, 99999), len(PRODUCTS))
    rows = [(f"SKU-{sku}", name, category, round(round(price * rng.uniform(0.85, 1.2)) - 0.01, 2), rng.choice([0, 3, 8, 15, 40]))
            for sku, (name, category, price, _) in zip(skus, PRODUCTS)]
    store.executemany("INSERT INTO syn_shopping_products VALUES (?, ?, ?, ?, ?)", rows)
    store.executemany("INSERT INTO syn_shopping_cart VALUES (?, ?)", [(rows[i][0], 1) for i in rng.sample(range(len(rows)), 2)])


def product(store: Store, sku: str) -> dict:
    row = store.row("SELECT * FROM syn_shopping_products WHERE sku = ?", [sku.strip().upper()])
    if row is None:
        raise ValueError(f"no product with code {sku!r}; search the shop to find a product's code (SKU-12345)")
    return row


def search(store: Store, args: dict) -> dict:
    words = args["query"].strip().casefold().split()
    rows = [r for r in store.rows("SELECT * FROM syn_shopping_products ORDER BY price, sku")
            if words and all(w in f"{r['name']} {r['category']}".casefold() for w in words)
            and (args.get("max_price") is None or r["price"] <= args["max_price"])
            and (not args.get("in_stock_only") or r["stock"] > 0)]
    return {"count": len(rows), "results": [{"sku": r["sku"], "name": r["name"], "price": r["price"], "currency": "EUR",
                                             "in_stock": r["stock"]} for r in rows[:10]]}


def cart_view(store: Store) -> dict:
    items = [{"sku": r["sku"], "name": r["name"], "quantity": r["quantity"], "subtotal": round(r["price"] * r["quantity"], 2)}
             for r in store.rows("SELECT c.sku, c.quantity, p.name, p.price FROM syn_shopping_cart c "
                                 "JOIN syn_shopping_products p ON p.sku = c.sku ORDER BY c.sku")]
    return {"items": items, "total": round(sum(i["subtotal"] for i in items), 2), "currency": "EUR"}


def add(store: Store, args: dict) -> dict:
    with store.transaction():
        p = product(store, args["sku"])
        current = store.row("SELECT quantity FROM syn_shopping_cart WHERE sku = ?", [p["sku"]])
        wanted = (current["quantity"] if current else 0) + args["quantity"]
        if wanted > p["stock"]:
            raise ValueError(f"only {p['stock']} of {p['name']} in stock" + (f" ({current['quantity']} already in the cart)" if current else ""))
        store.execute("INSERT INTO syn_shopping_cart VALUES (?, ?) ON CONFLICT(sku) DO UPDATE SET quantity = excluded.quantity",
                      [p["sku"], wanted])
    return cart_view(store)


CART = obj({"items": array(obj({"sku": STRING, "name": STRING, "quantity": INTEGER, "subtotal": NUMBER})), "total": NUMBER,
            "currency": STRING})
TOOLS = (
    ToolDef("search", ("search_products", "product_search", "find_products", "shop_search", "browse_catalog"),
            ("Search the shop's products, cheapest first.", "Find products by name with price and stock."),
            (param("query", ("search", "keywords", "search_terms"), STRING, "Words in the product name (English).", "What to look for."),
             param("max_price", ("max_price", "price_limit", "budget"), {"type": "number", "minimum": 0}, "Highest price in EUR.",
                   "Only products up to this price.", required=False),
             param("in_stock_only", ("in_stock_only", "available_only", "only_in_stock"), BOOLEAN, "Skip sold-out products.",
                   "Only products in stock.", required=False)),
            obj({"count": INTEGER, "results": array(obj({"sku": STRING, "name": STRING, "price": NUMBER, "currency": STRING,
                                                         "in_stock": INTEGER}))}), search),
    ToolDef("add", ("add_to_cart", "cart_add", "put_in_basket", "add_cart_item"),
            ("Add a product to the shopping cart by its code.", "Put some units of a product in the cart."),
            (param("sku", ("sku", "product_code", "item_id", "product_id"), STRING, "The product's code, e.g. SKU-12345.", "Which product."),
             param("quantity", ("quantity", "qty", "count"), {"type": "integer", "minimum": 1, "maximum": 10}, "How many (1-10).",
                   "Number of units.")),
            CART, add, writes=True),
    ToolDef("cart", ("view_cart", "get_cart", "show_basket"),
            ("The shopping cart's contents and total.", "What is in the cart right now."), (), CART,
            lambda store, args: cart_view(store)),
)


def query_words(q: tuple, language: str) -> str:
    return dict(zip(("en", "de", "zh"), q))[language]


def matches(store: Store, q: tuple) -> list[dict]:
    return search(store, {"query": q[0]})["results"]


def cheapest_in_stock(store: Store, q: tuple) -> dict | None:
    return next((r for r in matches(store, q) if r["in_stock"] > 0), None)


def euro(value: float, language: str) -> str:
    return f"{show_amount(value, language)} €" if language == "de" else f"€{show_amount(value, 'en')}" if language == "en" \
        else f"{show_amount(value, 'zh')}欧元"


def price_facts(value: float) -> list[str]:
    return [f"{value:.2f}", f"{value:.2f}".replace(".", ","), str(value)]


def cheapest_scenario(ctx, store: Store) -> Scenario:
    language = ctx.language
    q = ctx.rng.choice([q for q in split_pool(ctx, QUERIES) if cheapest_in_stock(store, q)] or QUERIES)
    w = query_words(q, language)
    request = ctx.pick({
        "en": [f"What's the cheapest {w} you have in stock?", f"Find me the cheapest {w} that's available.",
               f"I need a {w}. Which is the cheapest one in stock?"],
        "de": [f"Was ist das günstigste Angebot für '{w}', das vorrätig ist?", f"Such mir das billigste verfügbare Produkt: {w}.",
               f"Ich brauche: {w}. Was ist das günstigste auf Lager?"],
        "zh": [f"有货的{w}里最便宜的是哪个？", f"帮我找最便宜的有货{w}。", f"我需要{w}，有货的里面哪个最便宜？"],
    })
    best = cheapest_in_stock(store, q)

    def answer(results):
        r = next(x for x in results[0][0]["results"] if x["in_stock"] > 0)
        return say(language, f"The cheapest in stock is {r['name']} ({r['sku']}) at {euro(r['price'], 'en')}, {r['in_stock']} available.",
                   f"Am günstigsten und vorrätig: {r['name']} ({r['sku']}) für {euro(r['price'], 'de')}, {r['in_stock']} Stück verfügbar.",
                   f"有货中最便宜的是{r['name']}（{r['sku']}），{euro(r['price'], 'zh')}，库存{r['in_stock']}件。")

    return Scenario(request, [[Call("search", {"query": q[0], "in_stock_only": True})]], answer,
                    facts=[[best["name"]], price_facts(best["price"])])


def add_scenario(ctx, store: Store) -> Scenario:
    """Chain with a write: search, then add the cheapest product in stock to the cart."""
    language = ctx.language
    options = [q for q in split_pool(ctx, QUERIES) if (c := cheapest_in_stock(store, q)) and c["in_stock"] >= 3]
    q = ctx.rng.choice(options or QUERIES)
    best = cheapest_in_stock(store, q)
    current = store.row("SELECT quantity FROM syn_shopping_cart WHERE sku = ?", [best["sku"]])
    have = current["quantity"] if current else 0
    quantity = ctx.rng.choice([n for n in (1, 2) if have + n <= best["in_stock"]] or [1])
    w = query_words(q, language)
    count = say(language, {1: "one", 2: "two"}[quantity], {1: "ein", 2: "zwei"}[quantity], {1: "一", 2: "两"}[quantity])
    request = ctx.pick({
        "en": [f"Find the cheapest {w} and add {count} to my cart.", f"Put {count} of the cheapest {w} option in my basket, please.",
               f"I'd like {count} of whichever {w} is cheapest in stock. Add to cart."],
        "de": [f"Leg {count} Stück vom günstigsten Artikel '{w}' in meinen Warenkorb.",
               f"Bitte {count}mal den billigsten Artikel '{w}' in den Warenkorb.",
               f"Ich möchte {count} Stück vom günstigsten verfügbaren '{w}'. Ab in den Warenkorb."],
        "zh": [f"把最便宜的{w}加{count}个到购物车。", f"请把{count}个最便宜的{w}放进购物车。", f"我要{count}个有货的最便宜{w}，加入购物车。"],
    })

    def answer(results):
        cart = results[1][0]
        return say(language, f"Added {quantity} × {best['name']} ({euro(best['price'], 'en')} each). Cart total: {euro(cart['total'], 'en')}.",
                   f"{quantity} × {best['name']} ({euro(best['price'], 'de')} pro Stück) liegt im Warenkorb. Summe: {euro(cart['total'], 'de')}.",
                   f"已加入{quantity}件{best['name']}（单价{euro(best['price'], 'zh')}），购物车合计{euro(cart['total'], 'zh')}。")

    change = {"kind": "syn_shopping_cart", "op": "update", "id": best["sku"], "fields": {"quantity": have + quantity}} if have \
        else {"kind": "syn_shopping_cart", "op": "insert", "fields": {"sku": best["sku"], "quantity": quantity}}
    return Scenario(request, [[Call("search", {"query": q[0], "in_stock_only": True})],
                              [Call("add", {"sku": best["sku"], "quantity": quantity})]], answer,
                    facts=[[best["name"]]], changes=[change])


def old_code_scenario(ctx, store: Store) -> Scenario:
    """The user quotes an outdated product code: adding by it fails; the expert searches by name and adds the real one."""
    language = ctx.language
    options = [p for p in split_pool(ctx, [p[0] for p in PRODUCTS])
               if (r := store.row("SELECT * FROM syn_shopping_products WHERE name = ?", [p])) and r["stock"] >= 2
               and not store.row("SELECT 1 AS x FROM syn_shopping_cart WHERE sku = ?", [r["sku"]])]
    name = ctx.rng.choice(options)
    row = store.row("SELECT * FROM syn_shopping_products WHERE name = ?", [name])
    old = f"SKU-{ctx.rng.randint(100, 999)}"  # too short to be a real code
    request = ctx.pick({
        "en": [f"Add the {name} (product code {old}) to my cart.", f"Please put one {name}, code {old}, in my basket.",
               f"I want the {name} — I noted the code as {old}. Add one to the cart."],
        "de": [f"Leg den Artikel '{name}' (Artikelnummer {old}) in meinen Warenkorb.", f"Bitte einmal '{name}', Nummer {old}, in den Warenkorb.",
               f"Ich möchte '{name}' – notiert hatte ich die Nummer {old}. Einmal in den Warenkorb."],
        "zh": [f"把“{name}”（商品编号{old}）加入购物车。", f"请把一个“{name}”（编号{old}）放进购物车。", f"我要“{name}”，我记的编号是{old}，加一个到购物车。"],
    })

    def answer(results):
        cart = results[-1][0]
        return say(language, f"The code {old} doesn't exist, so I searched for the {name}: it is {row['sku']}. Added one to your cart "
                             f"({euro(row['price'], 'en')}); cart total {euro(cart['total'], 'en')}.",
                   f"Die Nummer {old} gibt es nicht; ich habe nach '{name}' gesucht: {row['sku']}. Einmal in den Warenkorb gelegt "
                   f"({euro(row['price'], 'de')}); Summe {euro(cart['total'], 'de')}.",
                   f"编号{old}不存在，我按名称搜索到“{name}”，编号为{row['sku']}，已加入购物车（{euro(row['price'], 'zh')}），"
                   f"购物车合计{euro(cart['total'], 'zh')}。")

    return Scenario(request, [[Call("add", {"sku": old, "quantity": 1})], [Call("search", {"query": name})],
                              [Call("add", {"sku": row["sku"], "quantity": 1})]], answer, facts=[[row["sku"]]],
                    changes=[{"kind": "syn_shopping_cart", "op": "insert", "fields": {"sku": row["sku"], "quantity": 1}}])


register(Domain("shopping", "both", SCHEMA, {"syn_shopping_products": "sku", "syn_shopping_cart": "sku"}, seed, TOOLS,
                (("single", cheapest_scenario), ("write", add_scenario), ("error", old_code_scenario))))
