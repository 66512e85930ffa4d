"""Restaurant guide: venues by city and cuisine with ratings, and their latest reviews (read-only)."""

from __future__ import annotations

import random

from openk2.agent.apps.store import Store

from ..synthetic import Call, Domain, Scenario, ToolDef, register
from .common import INTEGER, NUMBER, STRING, array, city_facts, city_name, enum, number_facts, obj, param, say, split_pool

CITIES = ["Lisbon", "Madrid", "Vienna", "Prague", "Copenhagen", "Dublin", "Amsterdam", "Hamburg", "Budapest"]
CUISINES = ("italian", "japanese", "indian", "mexican", "french", "chinese", "thai", "vegan")
# English; the German adjective's stem (endings follow the grammar: ein gutes / das beste italienische); Chinese
CUISINE_WORDS = {"italian": ("Italian", "italienisch", "意大利"), "japanese": ("Japanese", "japanisch", "日本"),
                 "indian": ("Indian", "indisch", "印度"), "mexican": ("Mexican", "mexikanisch", "墨西哥"),
                 "french": ("French", "französisch", "法国"), "chinese": ("Chinese", "chinesisch", "中国"),
                 "thai": ("Thai", "thailändisch", "泰国"), "vegan": ("vegan", "vegan", "素食")}
NAMES = {"italian": ["Trattoria Luna", "Osteria del Ponte", "Pasta e Basta", "Il Forno", "Casa Nonna"],
         "japanese": ["Sakura House", "Umami Bar", "Kumo Sushi", "Ramen Ichiban", "Hana Izakaya"],
         "indian": ["Spice Route", "Bombay Kitchen", "Masala Garden", "The Tandoor", "Saffron House"],
         "mexican": ["La Cantina", "Taqueria Sol", "El Nopal", "Casa Azul", "Mezcal Street"],
         "french": ["Le Petit Jardin", "Chez Margaux", "Bistro Lumiere", "La Brasserie", "Cafe de Flore Nord"],
         "chinese": ["Golden Dragon", "Jade Garden", "Dumpling Hall", "Red Lantern", "Sichuan House"],
         "thai": ["Bangkok Street", "Lotus Thai", "Baan Siam", "Thai Orchid", "Chili & Lime"],
         "vegan": ["Green Table", "Root & Leaf", "Plant Kitchen", "The Herbivore", "Sprout"]}
AUTHORS = ["Maria", "Jonas", "Wei", "Priya", "Tom", "Sofia", "Kenji", "Lea", "Omar", "Clara", "Hugo", "Mei", "Raj", "Nina"]
REVIEW_TEXTS = {5: ["Outstanding food and friendly staff.", "Best meal I've had in months.", "Perfect from start to finish."],
                4: ["Very good, a little noisy.", "Tasty dishes, service was slow.", "Great value for money."],
                3: ["Decent but nothing special.", "Good food, small portions.", "Long wait for a table."],
                2: ["Overpriced for what you get.", "The food arrived cold."]}

SCHEMA = """
CREATE TABLE IF NOT EXISTS syn_places_venues (venue_id TEXT PRIMARY KEY, name TEXT NOT NULL, city TEXT NOT NULL,
    cuisine TEXT NOT NULL, rating REAL NOT NULL, price_level INTEGER NOT NULL, review_count INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS syn_places_reviews (review_id INTEGER PRIMARY KEY, venue_id TEXT NOT NULL, author TEXT NOT NULL,
    stars INTEGER NOT NULL, text TEXT NOT NULL, date TEXT NOT NULL);
"""


def seed(store: Store, rng: random.Random) -> None:
    venues, reviews = [], []
    ids = iter(rng.sample(range(100, 1000), len(CITIES) * len(CUISINES) * 2))
    for city in CITIES:
        for cuisine in CUISINES:
            ratings = rng.sample(range(31, 50), 2)  # distinct, so "the best" is never a tie
            for name, rating in zip(rng.sample(NAMES[cuisine], 2), ratings):
                venue = f"v_{next(ids)}"
                venues.append((venue, name, city, cuisine, rating / 10, rng.randint(1, 4), rng.randint(12, 900)))
                for day in sorted(rng.sample(range(1, 31), 2), reverse=True):
                    stars = max(2, min(5, round(rating / 10 + rng.uniform(-1, 1))))
                    reviews.append((len(reviews) + 1, venue, rng.choice(AUTHORS), stars, rng.choice(REVIEW_TEXTS[stars]),
                                    f"2025-05-{day:02d}"))
    store.executemany("INSERT INTO syn_places_venues VALUES (?, ?, ?, ?, ?, ?, ?)", venues)
    store.executemany("INSERT INTO syn_places_reviews VALUES (?, ?, ?, ?, ?, ?)", reviews)


def search(store: Store, args: dict) -> dict:
    city = args["city"].strip()
    if store.row("SELECT 1 AS x FROM syn_places_venues WHERE lower(city) = lower(?)", [city]) is None:
        raise ValueError(f"no restaurants listed in {city!r}; covered cities: {', '.join(CITIES)} (English names)")
    sql, params = "SELECT * FROM syn_places_venues WHERE lower(city) = lower(?)", [city]
    if args.get("cuisine"):
        sql, params = sql + " AND cuisine = ?", params + [args["cuisine"]]
    if args.get("min_rating") is not None:
        sql, params = sql + " AND rating >= ?", params + [args["min_rating"]]
    rows = store.rows(sql + " ORDER BY rating DESC, venue_id LIMIT ?", params + [args.get("limit") or 5])
    return {"city": rows[0]["city"] if rows else city, "results": [
        {"venue_id": r["venue_id"], "name": r["name"], "cuisine": r["cuisine"], "rating": r["rating"],
         "price_level": "€" * r["price_level"], "review_count": r["review_count"]} for r in rows]}


def reviews(store: Store, args: dict) -> dict:
    venue = store.row("SELECT * FROM syn_places_venues WHERE venue_id = ?", [args["venue_id"].strip()])
    if venue is None:
        raise ValueError(f"unknown venue id {args['venue_id']!r}; search for the restaurant first (ids look like v_123)")
    rows = store.rows("SELECT * FROM syn_places_reviews WHERE venue_id = ? ORDER BY date DESC, review_id LIMIT ?",
                      [venue["venue_id"], args.get("limit") or 3])
    return {"venue_id": venue["venue_id"], "name": venue["name"], "rating": venue["rating"],
            "reviews": [{"author": r["author"], "stars": r["stars"], "date": r["date"], "text": r["text"]} for r in rows]}


VENUE = obj({"venue_id": STRING, "name": STRING, "cuisine": enum(CUISINES), "rating": NUMBER, "price_level": STRING,
             "review_count": INTEGER})
REVIEW = obj({"author": STRING, "stars": {"type": "integer", "minimum": 1, "maximum": 5}, "date": STRING, "text": STRING})
TOOLS = (
    ToolDef("search", ("find_restaurants", "search_eateries", "restaurant_finder", "lookup_dining", "top_restaurants"),
            ("Find restaurants in a city, best rated first.", "Search the restaurant guide by city and cuisine.",
             "Lists rated restaurants for a city, optionally one cuisine."),
            (param("city", ("city", "where", "city_name"), STRING, "City name in English.", "The city to search in."),
             param("cuisine", ("cuisine", "food_type", "kitchen"), enum(CUISINES), "Only this cuisine.",
                   "Type of food.", required=False),
             param("min_rating", ("min_rating", "rating_at_least", "min_stars"),
                   {"type": "number", "minimum": 0, "maximum": 5}, "Only places rated at least this (0-5).",
                   "Lowest acceptable rating.", required=False),
             param("limit", ("limit", "max_results"), {"type": "integer", "minimum": 1, "maximum": 10},
                   "At most this many results (default 5).", "How many to return.", required=False)),
            obj({"city": STRING, "results": array(VENUE)}), search),
    ToolDef("reviews", ("get_reviews", "read_reviews", "fetch_reviews", "restaurant_reviews", "list_reviews"),
            ("The latest reviews of a restaurant.", "Read what guests wrote about a restaurant, newest first."),
            (param("venue_id", ("venue_id", "restaurant_id", "place"), STRING, "The restaurant's id from a search.",
                   "Which restaurant (id)."),
             param("limit", ("limit", "count", "how_many"), {"type": "integer", "minimum": 1, "maximum": 10},
                   "How many reviews (default 3).", "Number of reviews to return.", required=False)),
            obj({"venue_id": STRING, "name": STRING, "rating": NUMBER, "reviews": array(REVIEW)}), reviews),
)


def cuisine_phrase(cuisine: str, language: str, ending: str = "e") -> str:
    """The cuisine as an adjective; `ending` is the German one (e after der/das/welches, es after ein, en in plural)."""
    en, de, zh = CUISINE_WORDS[cuisine]
    return {"en": en, "de": de + ending, "zh": zh}[language]


def best_scenario(ctx, store: Store) -> Scenario:
    language = ctx.language
    city, cuisine = ctx.rng.choice(split_pool(ctx, CITIES)), ctx.rng.choice(CUISINES)
    c, k, ks = city_name(city, language), cuisine_phrase(cuisine, language), cuisine_phrase(cuisine, language, "es")
    request = ctx.pick({
        "en": [f"What's the best-rated {k} restaurant in {c}?", f"I'm in {c} tonight. Where should I go for {k} food?",
               f"Find me a top {k} place to eat in {c}.", f"Which {k} restaurant in {c} has the best reviews?"],
        "de": [f"Welches {k} Restaurant in {c} ist am besten bewertet?", f"Ich bin heute Abend in {c}. Wo gibt es gutes {ks} Essen?",
               f"Such mir ein richtig gutes {ks} Restaurant in {c}.", f"Welches {k} Lokal in {c} hat die besten Bewertungen?"],
        "zh": [f"{c}评分最高的{k}餐厅是哪家？", f"我今晚在{c}，去哪家{k}餐厅好？", f"帮我找一家{c}最好的{k}餐厅。",
               f"{c}哪家{k}餐厅评价最好？"],
    })
    top = search(store, {"city": city, "cuisine": cuisine})["results"][0]

    def answer(results):
        best = results[0][0]["results"][0]
        return say(language, f"The best-rated {k} restaurant in {c} is {best['name']}, rated {best['rating']} "
                             f"from {best['review_count']} reviews (price {best['price_level']}).",
                   f"Am besten bewertet ist {best['name']} mit {str(best['rating']).replace('.', ',')} von 5 "
                   f"({best['review_count']} Bewertungen, Preisniveau {best['price_level']}).",
                   f"{c}评分最高的{k}餐厅是{best['name']}，{best['rating']}分（{best['review_count']}条评价，价位{best['price_level']}）。")

    return Scenario(request, [[Call("search", {"city": city, "cuisine": cuisine})]], answer,
                    facts=[[top["name"]], number_facts(top["rating"])])


def reviews_scenario(ctx, store: Store) -> Scenario:
    """Chain: search, then read the reviews of the best result by its id."""
    language = ctx.language
    city, cuisine = ctx.rng.choice(split_pool(ctx, CITIES)), ctx.rng.choice(CUISINES)
    c, k = city_name(city, language), cuisine_phrase(cuisine, language)
    request = ctx.pick({
        "en": [f"Find the top {k} restaurant in {c} and tell me what recent guests said about it.",
               f"What do people say about the best {k} place in {c}?",
               f"Look up the highest-rated {k} restaurant in {c} and summarise its latest reviews."],
        "de": [f"Finde das beste {k} Restaurant in {c} und sag mir, was die letzten Gäste darüber schreiben.",
               f"Was sagen die Leute über das beste {k} Restaurant in {c}?",
               f"Such das am besten bewertete {k} Restaurant in {c} und fasse die neuesten Bewertungen zusammen."],
        "zh": [f"找一下{c}最好的{k}餐厅，告诉我最近的顾客怎么评价。", f"大家对{c}最好的{k}餐厅评价如何？",
               f"查一下{c}评分最高的{k}餐厅，总结一下最新的评论。"],
    })
    top = search(store, {"city": city, "cuisine": cuisine})["results"][0]
    latest = reviews(store, {"venue_id": top["venue_id"]})["reviews"]

    def answer(results):
        r = results[1][0]
        lines = "; ".join(f"{x['author']} ({x['stars']}/5): \"{x['text']}\"" for x in r["reviews"])
        return say(language, f"{r['name']} (rated {r['rating']}) is the top {k} restaurant in {c}. Latest reviews: {lines}",
                   f"{r['name']} (Bewertung {str(r['rating']).replace('.', ',')}) ist das beste {k} Restaurant in {c}. "
                   f"Neueste Bewertungen: {lines}",
                   f"{c}最好的{k}餐厅是{r['name']}（{r['rating']}分）。最新评论：{lines}")

    return Scenario(request, [[Call("search", {"city": city, "cuisine": cuisine})],
                              [Call("reviews", {"venue_id": top["venue_id"]})]], answer,
                    facts=[[top["name"]], [latest[0]["text"]]])


def compare_scenario(ctx, store: Store) -> Scenario:
    """Parallel: the same cuisine in two cities."""
    language = ctx.language
    a, b = ctx.rng.sample(split_pool(ctx, CITIES), 2)
    cuisine = ctx.rng.choice(CUISINES)
    ca, cb, k = city_name(a, language), city_name(b, language), cuisine_phrase(cuisine, language)
    request = ctx.pick({
        "en": [f"What's the best {k} restaurant in {ca}, and in {cb}?", f"Compare the top-rated {k} places in {ca} and {cb}.",
               f"I'm visiting {ca} and then {cb}. Which {k} restaurant is best in each?"],
        "de": [f"Welches ist das beste {k} Restaurant in {ca} und welches in {cb}?",
               f"Vergleiche die bestbewerteten {cuisine_phrase(cuisine, language, 'en')} Restaurants in {ca} und {cb}.",
               f"Ich bin erst in {ca}, dann in {cb}. Welches {k} Restaurant ist jeweils das beste?"],
        "zh": [f"{ca}和{cb}最好的{k}餐厅分别是哪家？", f"比较一下{ca}和{cb}评分最高的{k}餐厅。",
               f"我先去{ca}再去{cb}，两地各自最好的{k}餐厅是哪家？"],
    })
    ta = search(store, {"city": a, "cuisine": cuisine})["results"][0]
    tb = search(store, {"city": b, "cuisine": cuisine})["results"][0]

    def answer(results):
        x, y = results[0][0]["results"][0], results[0][1]["results"][0]
        return say(language, f"In {ca}: {x['name']} (rated {x['rating']}). In {cb}: {y['name']} (rated {y['rating']}).",
                   f"In {ca}: {x['name']} ({str(x['rating']).replace('.', ',')}). In {cb}: {y['name']} "
                   f"({str(y['rating']).replace('.', ',')}).",
                   f"{ca}：{x['name']}（{x['rating']}分）；{cb}：{y['name']}（{y['rating']}分）。")

    return Scenario(request, [[Call("search", {"city": a, "cuisine": cuisine}), Call("search", {"city": b, "cuisine": cuisine})]],
                    answer, facts=[[ta["name"]], [tb["name"]], city_facts(a), city_facts(b)])


register(Domain("places", "both", SCHEMA, {"syn_places_venues": "venue_id", "syn_places_reviews": "review_id"}, seed, TOOLS,
                (("single", best_scenario), ("chain", reviews_scenario), ("parallel", compare_scenario))))
