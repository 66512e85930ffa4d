"""Recipes: search by dish, ingredient and time; a recipe's ingredients scaled to a number of servings (read-only)."""

from __future__ import annotations

import random

from openk2.agent.apps.store import Store

from ..synthetic import Call, Domain, Scenario, ToolDef, register
from .common import BOOLEAN, INTEGER, NUMBER, STRING, array, obj, param, say, show_number, split_pool

# dish -> (vegetarian, [(ingredient, quantity for 4, unit)], de name, zh name)
DISHES = {
    "Shakshuka": (True, [("eggs", 6, "pcs"), ("tomatoes", 800, "g"), ("onion", 1, "pcs"), ("paprika", 2, "tsp")], "Shakshuka", "北非蛋"),
    "Mushroom Risotto": (True, [("rice", 320, "g"), ("mushrooms", 400, "g"), ("parmesan", 60, "g"), ("stock", 1200, "ml")],
                         "Pilzrisotto", "蘑菇烩饭"),
    "Pad Thai": (False, [("rice noodles", 250, "g"), ("prawns", 300, "g"), ("eggs", 2, "pcs"), ("peanuts", 50, "g")], "Pad Thai", "泰式炒河粉"),
    "Chicken Curry": (False, [("chicken", 600, "g"), ("coconut milk", 400, "ml"), ("rice", 300, "g"), ("onion", 2, "pcs")],
                      "Hähnchen-Curry", "咖喱鸡"),
    "Ratatouille": (True, [("aubergine", 1, "pcs"), ("courgettes", 2, "pcs"), ("tomatoes", 500, "g"), ("peppers", 2, "pcs")],
                    "Ratatouille", "普罗旺斯炖菜"),
    "Goulash": (False, [("beef", 800, "g"), ("onion", 3, "pcs"), ("paprika", 3, "tbsp"), ("potatoes", 600, "g")], "Gulasch", "匈牙利牛肉汤"),
    "Pancakes": (True, [("flour", 200, "g"), ("milk", 300, "ml"), ("eggs", 2, "pcs"), ("butter", 30, "g")], "Pfannkuchen", "松饼"),
    "Paella": (False, [("rice", 400, "g"), ("prawns", 300, "g"), ("chicken", 400, "g"), ("saffron", 1, "pinch")], "Paella", "西班牙海鲜饭"),
    "Lasagne": (False, [("lasagne sheets", 250, "g"), ("beef", 500, "g"), ("tomatoes", 700, "g"), ("mozzarella", 250, "g")],
                "Lasagne", "千层面"),
    "Falafel": (True, [("chickpeas", 500, "g"), ("parsley", 1, "bunch"), ("garlic", 3, "cloves"), ("cumin", 2, "tsp")], "Falafel", "炸豆丸子"),
    "Mapo Tofu": (False, [("tofu", 500, "g"), ("pork mince", 200, "g"), ("chilli bean paste", 2, "tbsp"), ("rice", 300, "g")],
                  "Mapo Tofu", "麻婆豆腐"),
    "Tomato Soup": (True, [("tomatoes", 1000, "g"), ("onion", 1, "pcs"), ("cream", 100, "ml"), ("basil", 1, "bunch")],
                    "Tomatensuppe", "番茄汤"),
    "Spaghetti Carbonara": (False, [("spaghetti", 400, "g"), ("eggs", 4, "pcs"), ("pancetta", 150, "g"), ("pecorino", 80, "g")],
                            "Spaghetti Carbonara", "卡邦尼意面"),
    "Vegetable Stir-fry": (True, [("tofu", 300, "g"), ("broccoli", 1, "pcs"), ("peppers", 2, "pcs"), ("rice", 300, "g")],
                           "Gemüsepfanne", "炒时蔬"),
    "Lentil Soup": (True, [("lentils", 300, "g"), ("carrots", 3, "pcs"), ("onion", 1, "pcs"), ("cumin", 1, "tsp")], "Linsensuppe", "扁豆汤"),
    "Fried Rice": (False, [("rice", 400, "g"), ("eggs", 3, "pcs"), ("ham", 150, "g"), ("peas", 150, "g")], "Gebratener Reis", "炒饭"),
    "Greek Salad": (True, [("tomatoes", 500, "g"), ("cucumber", 1, "pcs"), ("feta", 200, "g"), ("olives", 100, "g")],
                    "Griechischer Salat", "希腊沙拉"),
    "Banana Bread": (True, [("bananas", 3, "pcs"), ("flour", 250, "g"), ("sugar", 100, "g"), ("butter", 100, "g")], "Bananenbrot", "香蕉面包"),
}
INGREDIENT_WORDS = {"eggs": ("Eiern", "鸡蛋"), "tomatoes": ("Tomaten", "番茄"), "rice": ("Reis", "米饭"), "tofu": ("Tofu", "豆腐"),
                    "chickpeas": ("Kichererbsen", "鹰嘴豆"), "mushrooms": ("Pilzen", "蘑菇"), "lentils": ("Linsen", "扁豆"),
                    "prawns": ("Garnelen", "虾"), "chicken": ("Hähnchen", "鸡肉"), "beef": ("Rindfleisch", "牛肉"),
                    "bananas": ("Bananen", "香蕉"), "feta": ("Feta", "羊奶酪")}
NAMES = list(DISHES)

SCHEMA = """
CREATE TABLE IF NOT EXISTS syn_recipes (recipe_id TEXT PRIMARY KEY, name TEXT NOT NULL, minutes INTEGER NOT NULL,
    vegetarian INTEGER NOT NULL, rating REAL NOT NULL);
"""


def seed(store: Store, rng: random.Random) -> None:
    ids = rng.sample(range(100, 1000), len(DISHES))
    store.executemany("INSERT INTO syn_recipes VALUES (?, ?, ?, ?, ?)",
                      [(f"rcp_{i}", name, rng.choice([15, 20, 25, 30, 35, 40, 45, 60, 75, 90]), int(d[0]),
                        round(rng.uniform(3.5, 4.9), 1)) for i, (name, d) in zip(ids, DISHES.items())])


def summary(row: dict) -> dict:
    return {"recipe_id": row["recipe_id"], "name": row["name"], "minutes": row["minutes"],
            "vegetarian": bool(row["vegetarian"]), "rating": row["rating"]}


def search(store: Store, args: dict) -> dict:
    query, ingredient = (args.get("query") or "").strip().casefold(), (args.get("ingredient") or "").strip().casefold()
    rows = []
    for r in store.rows("SELECT * FROM syn_recipes ORDER BY rating DESC, recipe_id"):
        items = [i[0] for i in DISHES[r["name"]][1]]
        if query and query not in r["name"].casefold():
            continue
        if ingredient and not any(ingredient in i for i in items):
            continue
        if args.get("max_minutes") and r["minutes"] > args["max_minutes"]:
            continue
        if args.get("vegetarian") and not r["vegetarian"]:
            continue
        rows.append(summary(r))
    return {"count": len(rows), "results": rows[:8]}


def recipe(store: Store, args: dict) -> dict:
    row = store.row("SELECT * FROM syn_recipes WHERE recipe_id = ?", [args["recipe_id"].strip()])
    if row is None:
        raise ValueError(f"unknown recipe id {args['recipe_id']!r}; search for the dish first (ids look like rcp_123)")
    servings = args.get("servings") or 4
    scaled = []
    for item, quantity, unit in DISHES[row["name"]][1]:
        amount = quantity * servings / 4
        amount = round(amount) if unit in ("g", "ml") else round(amount * 2) / 2  # half eggs are rounded to halves
        scaled.append({"item": item, "quantity": int(amount) if float(amount).is_integer() else amount, "unit": unit})
    return {**summary(row), "servings": servings, "ingredients": scaled}


SUMMARY = {"recipe_id": STRING, "name": STRING, "minutes": INTEGER, "vegetarian": BOOLEAN, "rating": NUMBER}
TOOLS = (
    ToolDef("search", ("search_recipes", "find_recipes", "recipe_search", "lookup_recipes"),
            ("Find recipes by dish name, ingredient, time or diet.", "Search the recipe collection, best rated first."),
            (param("query", ("search", "dish", "dish_name"), STRING, "Words in the dish's name (English).", "Dish to look for.",
                   required=False),
             param("ingredient", ("ingredient", "contains", "with_ingredient"), STRING, "An ingredient it must use (English).",
                   "Must include this ingredient.", required=False),
             param("max_minutes", ("max_minutes", "max_time", "time_limit"), {"type": "integer", "minimum": 5},
                   "Longest total cooking time in minutes.", "Time limit.", required=False),
             param("vegetarian", ("vegetarian", "veggie_only", "meat_free"), BOOLEAN, "Only vegetarian recipes.",
                   "Vegetarian filter.", required=False)),
            obj({"count": INTEGER, "results": array(obj(SUMMARY))}), search),
    ToolDef("get", ("get_recipe", "recipe_details", "fetch_recipe", "show_recipe"),
            ("A recipe's ingredients, scaled to the servings asked for.", "Full ingredient list of a recipe by id."),
            (param("recipe_id", ("recipe_id", "id", "recipe"), STRING, "The recipe's id from a search.", "Which recipe."),
             param("servings", ("servings", "portions", "people"), {"type": "integer", "minimum": 1, "maximum": 20},
                   "How many people (default 4).", "Number of servings.", required=False)),
            obj({**SUMMARY, "servings": INTEGER, "ingredients": array(obj({"item": STRING, "quantity": NUMBER, "unit": STRING}))}),
            recipe),
)


def ingredient_text(i: dict, language: str = "en") -> str:
    quantity = str(i["quantity"]).replace(".", ",") if language == "de" else str(i["quantity"])
    return f"{quantity} {i['item']}" if i["unit"] == "pcs" else f"{quantity} {i['unit']} {i['item']}"


def dish_name(name: str, language: str) -> str:
    return {"en": name, "de": DISHES[name][2], "zh": DISHES[name][3]}[language]


def ingredient_scenario(ctx, store: Store) -> Scenario:
    language = ctx.language
    ingredient = ctx.rng.choice(list(INGREDIENT_WORDS))
    quickest = min(r["minutes"] for r in search(store, {"ingredient": ingredient})["results"])
    limit = ctx.rng.choice([m for m in (30, 45, 60, 90, 120) if m >= quickest])  # at least one recipe fits
    w = {"en": ingredient, "de": INGREDIENT_WORDS[ingredient][0], "zh": INGREDIENT_WORDS[ingredient][1]}[language]
    request = ctx.pick({
        "en": [f"What can I cook with {w} in under {limit} minutes?", f"Find me a recipe with {w} that takes at most {limit} minutes.",
               f"I have {w}. Any recipe ideas that are ready within {limit} minutes?"],
        "de": [f"Was kann ich mit {w} in unter {limit} Minuten kochen?", f"Such mir ein Rezept mit {w}, das höchstens {limit} Minuten dauert.",
               f"Ich möchte etwas mit {w} kochen, das in {limit} Minuten fertig ist. Ideen?"],
        "zh": [f"用{w}在{limit}分钟内能做什么菜？", f"帮我找一个用{w}、不超过{limit}分钟的菜谱。", f"我有{w}，有没有{limit}分钟内能做好的菜？"],
    })
    expected = search(store, {"ingredient": ingredient, "max_minutes": limit})["results"]

    def answer(results):
        found = results[0][0]["results"]
        listed = "; ".join(f"{dish_name(r['name'], language)} ({r['minutes']} min, {show_number(r['rating'], language)})"
                           for r in found)
        return say(language, f"With {w} in under {limit} minutes: {listed}.", f"Mit {w} in höchstens {limit} Minuten: {listed}.",
                   f"用{w}、{limit}分钟内可以做：{listed}。")

    names = [[r["name"], dish_name(r["name"], "de"), dish_name(r["name"], "zh")] for r in expected]
    return Scenario(request, [[Call("search", {"ingredient": ingredient, "max_minutes": limit})]], answer, facts=names)


def scaled_scenario(ctx, store: Store) -> Scenario:
    """Chain: find the dish's id, then its ingredients for the number of people asked."""
    language = ctx.language
    name = ctx.rng.choice(split_pool(ctx, NAMES))
    people = ctx.rng.choice([2, 3, 6, 8, 10])
    item, _, unit = ctx.rng.choice(DISHES[name][1])
    d = dish_name(name, language)
    request = ctx.pick({
        "en": [f"I'm making {d} for {people} people. What do I need?", f"Give me the ingredients for {d} for {people}.",
               f"How much of everything do I need for {d} for {people} people?"],
        "de": [f"Ich koche {d} für {people} Personen. Was brauche ich?", f"Gib mir die Zutaten für {d} für {people} Personen.",
               f"Wie viel von allem brauche ich für {d} für {people} Leute?"],
        "zh": [f"我要做{people}人份的{d}，需要什么？", f"给我{people}人份{d}的配料。", f"做{people}人份的{d}，每样需要多少？"],
    })
    rid = store.row("SELECT recipe_id FROM syn_recipes WHERE name = ?", [name])["recipe_id"]
    expected = recipe(store, {"recipe_id": rid, "servings": people})
    wanted = next(i for i in expected["ingredients"] if i["item"] == item)
    amount = wanted["quantity"]

    def answer(results):
        r = results[1][0]
        listed = ", ".join(ingredient_text(i, language) for i in r["ingredients"])
        return say(language, f"For {d} for {people} people you need: {listed}.",
                   f"Für {d} für {people} Personen brauchst du: {listed}.",
                   f"{people}人份的{d}需要：{listed}。")

    return Scenario(request, [[Call("search", {"query": name})], [Call("get", {"recipe_id": rid, "servings": people})]],
                    answer, facts=[[ingredient_text(wanted), ingredient_text(wanted, "de"),
                                    f'"item":"{item}","quantity":{amount}']])  # the last: as the result's JSON has it


register(Domain("recipes", "both", SCHEMA, {"syn_recipes": "recipe_id"}, seed, TOOLS,
                (("single", ingredient_scenario), ("chain", scaled_scenario))))
